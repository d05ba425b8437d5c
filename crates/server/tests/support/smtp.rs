//! A real SMTP server for tests: aiosmtpd (installed by `scripts/fetch-mcp-clients.sh`) on a
//! loopback port, writing what it receives to a maildir the test reads.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// aiosmtpd on a loopback port, delivering into a maildir; stopped when dropped.
pub struct SmtpSink {
    port: u16,
    maildir: tempfile::TempDir,
    child: Child,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let python =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_clients/venv/bin/python");
        assert!(python.exists(), "run scripts/fetch-mcp-clients.sh (make test does)");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let maildir = tempfile::tempdir().unwrap();
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpSink { port, maildir, child }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<Received> {
        let dir = self.maildir.path().join("mail/new");
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries.filter_map(Result::ok).map(|e| e.path()).collect(),
            Err(_) => Vec::new(),
        };
        // Maildir names start with the delivery time: seconds, then `.M` and microseconds.
        files.sort_by_key(|f| {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            let mut parts = name.split('.');
            let secs: u64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            let micros: u64 = parts
                .next()
                .and_then(|m| m.trim_start_matches('M').split('P').next()?.parse().ok())
                .unwrap_or(0);
            (secs, micros)
        });
        files.iter().map(|f| Received::parse(f)).collect()
    }

    /// Waits until `count` messages have arrived, then returns them all.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{count} message(s) expected, {} arrived",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Received {
    pub headers: String,
    pub body: String,
}

impl Received {
    pub fn parse(path: &Path) -> Received {
        let raw = std::fs::read_to_string(path).unwrap().replace("\r\n", "\n");
        let (headers, body) = raw.split_once("\n\n").expect("headers, then a body");
        let body = if headers.to_ascii_lowercase().contains("quoted-printable") {
            let decoded =
                quoted_printable::decode(body, quoted_printable::ParseMode::Robust).unwrap();
            String::from_utf8(decoded).unwrap()
        } else {
            body.to_string()
        };
        Received { headers: headers.to_string(), body }
    }

    pub fn header(&self, name: &str) -> String {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
            .unwrap_or_default()
    }

    /// The token of the link to `base/page` in the body.
    pub fn token(&self, base: &str, page: &str) -> String {
        let start = format!("{base}/{page}?token=");
        let at =
            self.body.find(&start).unwrap_or_else(|| panic!("no {page} link in {}", self.body));
        self.body[at + start.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}
