//! The real `teamcontext` binary as a child process ([`serve`]), and private Redis servers
//! ([`TestRedis`]) that a test may stop and start again.

use std::path::Path;
use std::process::{Command, Stdio};

/// The binary with a clean environment, a data directory and the test model.
pub fn teamcontext(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_teamcontext"));
    cmd.env_clear()
        .env("TEAMCONTEXT_DATA_DIR", data_dir)
        .env("EMBEDDING_MODEL_DIR", super::model_dir())
        .env("LOG_FORMAT", "json")
        .env("LOG_LEVEL", "warn");
    cmd
}

/// A `teamcontext serve` on a free loopback port: the process, the API base URL, and the log
/// lines printed before the banner. Everything printed after the banner is read as it comes by
/// two threads, so a chatty server never blocks on a full pipe however long the test runs.
pub struct Served {
    child: std::process::Child,
    pub base: String,
    pub early_lines: Vec<String>,
    stdout: Option<std::thread::JoinHandle<String>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

pub fn serve(dir: &Path, log_level: &str) -> Served {
    serve_with(dir, log_level, &[])
}

pub fn serve_with(dir: &Path, log_level: &str, env: &[(&str, &str)]) -> Served {
    use std::io::BufRead;
    let mut child = teamcontext(dir)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("LOG_LEVEL", log_level)
        .envs(env.iter().copied())
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let stderr = child.stderr.take().unwrap();
    let mut early_lines = Vec::new();
    // Log lines and the banner share stdout; read until the banner names the address.
    let base = loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let err = drain(stderr).join().unwrap();
            panic!("server exited before listening: {}{err}", early_lines.concat());
        }
        if let Some(url) = line.strip_prefix("TeamContext is listening on ") {
            break format!("{}/api/v1", url.trim());
        }
        early_lines.push(line);
    };
    Served { child, base, early_lines, stdout: Some(drain(stdout)), stderr: Some(drain(stderr)) }
}

/// Reads `from` to its end on a thread of its own; the text is the thread's result.
fn drain(mut from: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

impl Served {
    /// Sends SIGTERM and returns everything the process printed after the banner (stdout, then
    /// stderr) and whether it exited successfully.
    pub fn stop(mut self) -> (String, bool) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        assert!(status.unwrap().success());
        let ok = self.child.wait().unwrap().success();
        let mut out = self.stdout.take().unwrap().join().unwrap();
        out.push_str(&self.stderr.take().unwrap().join().unwrap());
        (out, ok)
    }

    /// Ends the process at once (SIGKILL), as a crashed machine would.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// A server the test did not end itself (the test failed, or it kept a replica to the end) must
/// not outlive the test: a dropped `Child` keeps running.
impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A Redis server of the test's own on a free loopback port, with nothing persisted; stopped
/// when dropped. The binary is Debian's `redis-server` (`scripts/redis-server.sh` installs it).
pub struct TestRedis {
    port: u16,
    child: Option<std::process::Child>,
    /// With TLS only: the certificate and key it serves.
    tls: Option<tc_store_postgres::testing::Issued>,
}

impl TestRedis {
    pub fn start() -> TestRedis {
        Self::start_with(None)
    }

    /// A Redis that speaks TLS only, with a certificate for `localhost` from `authority`.
    pub fn start_tls(authority: &tc_store_postgres::testing::TestAuthority) -> TestRedis {
        Self::start_with(Some(authority.issue(&["localhost"])))
    }

    fn start_with(tls: Option<tc_store_postgres::testing::Issued>) -> TestRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = TestRedis { port, child: None, tls };
        redis.resume();
        redis
    }

    pub fn url(&self) -> String {
        match self.tls {
            None => format!("redis://127.0.0.1:{}", self.port),
            Some(_) => format!("rediss://localhost:{}", self.port),
        }
    }

    /// Stops the server, as an outage would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty, as a restarted cache is).
    pub fn resume(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/redis-server.sh");
        let found = Command::new(script).output().expect("scripts/redis-server.sh runs");
        assert!(found.status.success(), "{}", String::from_utf8_lossy(&found.stderr));
        let binary = String::from_utf8(found.stdout).unwrap().trim().to_string();
        let mut command = Command::new(binary);
        let port = self.port.to_string();
        match &self.tls {
            None => command.args(["--port", &port]),
            Some(issued) => command
                .args(["--port", "0", "--tls-port", &port, "--tls-auth-clients", "no"])
                .arg("--tls-cert-file")
                .arg(&issued.cert_file)
                .arg("--tls-key-file")
                .arg(&issued.key_file),
        };
        let child = command
            .args(["--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("redis-server did not listen on port {}", self.port);
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
