//! Debian's Chromium, headless, driven through ChromeDriver (WebDriver) with fantoccini: the
//! dashboard's browser tests. [`Chrome::start`] launches a ChromeDriver of its own on a free
//! port; [`Chrome::audit`] runs axe-core (vendored from npm for the test) in the page and
//! [`Chrome::shoot`] writes screenshots at desktop and phone width.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

pub const DESKTOP: (u32, u32) = (1280, 900);
pub const PHONE: (u32, u32) = (390, 844);

pub struct Chrome {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    pub base: String,
}

fn binary(env: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default));
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-browser.sh (make test does), or set {env}",
        path.display()
    );
    path
}

/// Where the tests write their screenshots: `TEAMCONTEXT_SCREENSHOTS`, else `screenshots/` in
/// the cargo target directory's temporary folder.
pub fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("TEAMCONTEXT_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

impl Chrome {
    pub async fn start(base: &str) -> Chrome {
        let chromium = binary("CHROMIUM", "/usr/bin/chromium");
        let chromedriver = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        // The flags keep a headless Chromium off the network it would otherwise call home to.
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--hide-scrollbars".into(),
            format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({ "goog:chromeOptions": { "binary": chromium, "args": args } });
        let Value::Object(caps) = caps else { unreachable!() };
        let client = ClientBuilder::rustls()
            .expect("TLS roots")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Chrome { client, driver, _profile: profile, base: base.to_string() }
    }

    pub async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.expect("navigates");
        self.loaded().await;
    }

    /// Waits until the current document has loaded completely.
    pub async fn loaded(&self) {
        for _ in 0..200 {
            if self.script("return document.readyState").await == "complete" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{} never finished loading", self.path().await);
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self
            .client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks and waits for the next page to load.
    pub async fn click(&self, css: &str) {
        let element =
            self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        element.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    pub async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    pub async fn html(&self) -> String {
        self.loaded().await;
        self.client.source().await.unwrap()
    }

    pub async fn script(&self, js: &str) -> Value {
        self.client.execute(js, vec![]).await.unwrap_or_else(|e| panic!("{js}: {e}"))
    }

    /// Runs axe-core on the page; fails on any serious or critical violation.
    pub async fn audit(&self, name: &str) {
        static AXE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let axe = AXE.get_or_init(|| {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("web/node_modules/axe-core/axe.min.js");
            std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!("{}: {e}; run scripts/fetch-web-assets.sh (make test does)", path.display())
            })
        });
        // Injected through WebDriver, which the page's Content-Security-Policy does not govern.
        self.client.execute(axe, vec![]).await.expect("axe loads");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document).then(r => done({ passes: r.passes.length, violations: r.violations
                   .filter(v => v.impact === 'serious' || v.impact === 'critical')
                   .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5) })) }),
                   e => done({ error: String(e) }));",
                vec![],
            )
            .await
            .expect("axe runs");
        assert!(found["passes"].as_u64().unwrap_or(0) > 0, "axe did not run on {name}: {found}");
        let violations = found["violations"].as_array().cloned().expect("axe's violations");
        assert!(
            violations.is_empty(),
            "accessibility violations on {name}: {}",
            serde_json::to_string_pretty(&violations).unwrap()
        );
    }

    /// Writes `<name>-desktop.png` and `<name>-phone.png`, each as tall as the page.
    pub async fn shoot(&self, name: &str) {
        let dir = screenshot_dir();
        for (label, (width, height)) in [("desktop", DESKTOP), ("phone", PHONE)] {
            self.client.set_window_size(width, height).await.unwrap();
            let full = self
                .script("return document.documentElement.scrollHeight")
                .await
                .as_u64()
                .unwrap_or(height as u64);
            let tall = (full as u32).clamp(height, 4000);
            if tall > height {
                self.client.set_window_size(width, tall + 100).await.unwrap();
            }
            // At phone width nothing may stick out sideways.
            if label == "phone" {
                let wide = self
                    .script("return document.documentElement.scrollWidth")
                    .await
                    .as_u64()
                    .unwrap();
                let view = self
                    .script("return document.documentElement.clientWidth")
                    .await
                    .as_u64()
                    .unwrap();
                assert!(wide <= view + 1, "{name} is {wide}px wide at phone width ({view}px)");
            }
            let png = self.client.screenshot().await.expect("screenshot");
            std::fs::write(dir.join(format!("{name}-{label}.png")), png).unwrap();
        }
        self.client.set_window_size(DESKTOP.0, DESKTOP.1).await.unwrap();
    }

    /// Audits the page and photographs it.
    pub async fn check(&self, name: &str) {
        self.audit(name).await;
        self.shoot(name).await;
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
