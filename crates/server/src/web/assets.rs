//! The dashboard's static files, embedded in the binary: our style sheet, script and icon
//! (written here) and htmx (from npm, embedded by the build script when installed). Each is served
//! under a name carrying a hash of its content, so it can be cached for a year and a new build
//! is never hidden behind an old copy.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

mod vendor {
    include!(concat!(env!("OUT_DIR"), "/vendor.rs"));
}

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// `/assets/<stem>-<hash>.<ext>`
    pub url: String,
    bytes: &'static [u8],
    content_type: &'static str,
}

impl Asset {
    fn new(stem: &str, ext: &str, bytes: &'static [u8], content_type: &'static str) -> Self {
        let digest = tc_domain::secrets::sha256_hex(&String::from_utf8_lossy(bytes));
        Asset { url: format!("/assets/{stem}-{}.{ext}", &digest[..12]), bytes, content_type }
    }
}

pub struct Assets {
    pub css: Asset,
    pub js: Asset,
    pub icon: Asset,
    /// Absent when the binary was built without the vendored files.
    pub htmx: Option<Asset>,
}

pub static ASSETS: LazyLock<Assets> = LazyLock::new(|| Assets {
    css: Asset::new("app", "css", include_bytes!("static/app.css"), "text/css; charset=utf-8"),
    js: Asset::new("app", "js", include_bytes!("static/app.js"), "text/javascript; charset=utf-8"),
    icon: Asset::new("icon", "svg", include_bytes!("static/icon.svg"), "image/svg+xml"),
    htmx: vendor::HTMX.map(|b| Asset::new("htmx", "js", b, "text/javascript; charset=utf-8")),
});

/// `GET /assets/{name}`: an embedded file by its hashed name.
pub async fn serve(Path(name): Path<String>) -> Response {
    let assets = &*ASSETS;
    let wanted = format!("/assets/{name}");
    let found = [Some(&assets.css), Some(&assets.js), Some(&assets.icon), assets.htmx.as_ref()]
        .into_iter()
        .flatten()
        .find(|a| a.url == wanted);
    let Some(asset) = found else {
        return (StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, "no-store")], "no such file")
            .into_response();
    };
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_content_hash() {
        let css = &ASSETS.css;
        assert!(css.url.starts_with("/assets/app-") && css.url.ends_with(".css"), "{}", css.url);
        assert_ne!(ASSETS.css.url, ASSETS.js.url);
    }
}
