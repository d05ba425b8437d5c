//! Embeds the dashboard's vendored htmx (installed from npm by `scripts/fetch-web-assets.sh`,
//! which `make run`, `make test` and `make build` call) when it is there. Without it the
//! binary still builds and the dashboard still works, as plain forms and full page loads.

use std::path::Path;

fn main() {
    // The directory, not the file: a missing file would rerun this script on every build.
    println!("cargo::rerun-if-changed=web");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let htmx = Path::new(&manifest).join("web/node_modules/htmx.org/dist/htmx.min.js");
    // Named from the crate being compiled rather than by this run's absolute path: checkouts
    // sharing one target directory reuse this script's output without running it again.
    let value = if htmx.is_file() {
        "Some(include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/web/node_modules/htmx.org/dist/htmx.min.js\")))".to_string()
    } else {
        println!(
            "cargo::warning=the dashboard is built without htmx: run scripts/fetch-web-assets.sh"
        );
        "None".to_string()
    };
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("vendor.rs");
    let code = format!(
        "/// htmx, minified, from `web/node_modules` at build time.\npub const HTMX: Option<&[u8]> = {value};\n"
    );
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
