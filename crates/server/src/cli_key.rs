//! The API key of the client commands (`teamcontext mcp`, `teamcontext scan`): from the
//! environment (`TEAMCONTEXT_API_KEY`), a file (`--api-key-file`), or, discouraged, the command
//! line (`--api-key`), where every user of the machine can read it in the process list. Also
//! warns before a key is sent over plain http to another machine.

use std::path::PathBuf;

use anyhow::Context;

#[derive(Debug, Clone, clap::Args)]
pub struct KeyArgs {
    /// An API key (tc_…). Prefer TEAMCONTEXT_API_KEY or --api-key-file: a key on the command
    /// line is visible to every user of this machine in the process list.
    #[arg(long, env = "TEAMCONTEXT_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// A file whose first line is the API key (keep it mode 0600).
    #[arg(long, conflicts_with = "api_key")]
    pub api_key_file: Option<PathBuf>,
}

impl KeyArgs {
    /// The key to send to `server`, with warnings on standard error for the risky ways of
    /// giving or sending it.
    pub fn resolve(&self, server: &str) -> anyhow::Result<String> {
        let key = match (&self.api_key_file, &self.api_key) {
            (Some(file), _) => std::fs::read_to_string(file)
                .with_context(|| format!("reading the API key from {}", file.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
            (None, Some(key)) => {
                if given_on_command_line() {
                    eprintln!(
                        "warning: --api-key is visible to other users in the process list; \
                         set TEAMCONTEXT_API_KEY or use --api-key-file instead"
                    );
                }
                key.trim().to_string()
            }
            (None, None) => anyhow::bail!(
                "no API key: set TEAMCONTEXT_API_KEY, or pass --api-key-file FILE (create a key \
                 with POST /api/v1/users/me/api-keys)"
            ),
        };
        anyhow::ensure!(!key.is_empty(), "the API key is empty");
        if let Some(host) = plain_http_elsewhere(server) {
            eprintln!(
                "warning: {server} is plain http to {host}: the API key crosses the network \
                 unencrypted; use https (a TLS-terminating proxy in front of the server)"
            );
        }
        Ok(key)
    }
}

fn given_on_command_line() -> bool {
    std::env::args().any(|a| a == "--api-key" || a.starts_with("--api-key="))
}

/// The host of an `http://` URL that is not this machine.
fn plain_http_elsewhere(server: &str) -> Option<String> {
    let url = url::Url::parse(server).ok()?;
    if url.scheme() != "http" {
        return None;
    }
    let local = match url.host()? {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    (!local).then(|| url.host_str().unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_flagged_only_off_this_machine() {
        for local in ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"] {
            assert_eq!(plain_http_elsewhere(local), None, "{local}");
        }
        assert_eq!(plain_http_elsewhere("https://tc.example.com"), None);
        assert_eq!(
            plain_http_elsewhere("http://tc.example.com").as_deref(),
            Some("tc.example.com")
        );
        assert_eq!(plain_http_elsewhere("http://10.0.0.5:8080").as_deref(), Some("10.0.0.5"));
    }

    #[test]
    fn a_key_file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "tc_abc\nignored\n").unwrap();
        let args = KeyArgs { api_key: None, api_key_file: Some(file) };
        assert_eq!(args.resolve("http://127.0.0.1:8080").unwrap(), "tc_abc");
        let none = KeyArgs { api_key: None, api_key_file: None };
        assert!(
            none.resolve("http://127.0.0.1:8080")
                .unwrap_err()
                .to_string()
                .contains("TEAMCONTEXT_API_KEY")
        );
    }
}
