//! Git repositories as a scan source: checking the URL, then a shallow clone in process (gix).
//!
//! A scan request makes the server connect somewhere, so the URL is checked first (server-side
//! request forgery): only `https`, `http`, `ssh` (including `user@host:path`) and `git` URLs,
//! and only to hosts whose every address is public. Loopback, private, link-local, unique-local,
//! shared (CGNAT) and unspecified addresses are refused unless the operator's allow-list
//! (`SCAN_ALLOWED_HOSTS`) names the host (or `*`). `file://` URLs read the server's own disk, so
//! they are refused unless the allow-list contains `file`.
//!
//! The check resolves the name once; the clone resolves it again. A name that changes its
//! answer in between (DNS rebinding) is not caught here; the allow-list is the defence for
//! internal hosts, and a deployment that must be strict runs scans behind an egress proxy.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::ScanError;

/// A repository URL that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUrl(String);

impl CheckedUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn refused(message: impl Into<String>) -> ScanError {
    ScanError::RefusedUrl(message.into())
}

/// Whether an address is one a scan must not reach without the operator's say-so.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || a == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
        }
    }
}

/// Checks `url` against the rules above; `allowed` is the operator's list of host names or
/// addresses (`*` for any, `file` for `file://`).
pub fn check_url(url: &str, allowed: &[String]) -> Result<CheckedUrl, ScanError> {
    let url = url.trim();
    let allow_all = allowed.iter().any(|h| h == "*");
    let allowed_host = |host: &str| {
        allow_all || allowed.iter().any(|h| h.eq_ignore_ascii_case(host.trim_matches(['[', ']'])))
    };
    // scp-like `user@host:path/repo.git`.
    let (scheme, host, port) = if !url.contains("://") {
        let Some((user_host, _path)) = url.split_once(':') else {
            return Err(refused(
                "`git_url` is not a URL (https://, ssh://, git:// or user@host:path)",
            ));
        };
        let host = user_host.rsplit('@').next().unwrap_or(user_host).to_string();
        ("ssh".to_string(), host, 22)
    } else {
        let parsed = url::Url::parse(url)
            .map_err(|e| refused(format!("`git_url` is not a valid URL: {e}")))?;
        let scheme = parsed.scheme().to_string();
        if scheme == "file" {
            return if allowed.iter().any(|h| h == "file") {
                Ok(CheckedUrl(url.to_string()))
            } else {
                Err(refused(
                    "file:// repositories are refused unless SCAN_ALLOWED_HOSTS contains `file`",
                ))
            };
        }
        let port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            "ssh" => 22,
            "git" => 9418,
            other => {
                return Err(refused(format!("`{other}://` is not a git transport we clone from")));
            }
        };
        let host = parsed.host_str().ok_or_else(|| refused("`git_url` has no host"))?.to_string();
        (scheme, host, parsed.port().unwrap_or(port))
    };
    if host.is_empty() {
        return Err(refused("`git_url` has no host"));
    }
    if allowed_host(&host) {
        return Ok(CheckedUrl(url.to_string()));
    }
    let bare = host.trim_matches(['[', ']']);
    let addresses: Vec<IpAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => (bare, port)
            .to_socket_addrs()
            .map_err(|e| refused(format!("cannot resolve {bare}: {e}")))?
            .map(|a| a.ip())
            .collect(),
    };
    if addresses.is_empty() {
        return Err(refused(format!("{bare} has no address")));
    }
    if let Some(ip) = addresses.iter().find(|ip| is_internal(**ip)) {
        return Err(refused(format!(
            "{scheme} host {bare} resolves to {ip}, an internal address; an operator can allow it \
             with SCAN_ALLOWED_HOSTS"
        )));
    }
    Ok(CheckedUrl(url.to_string()))
}

/// Clones the default branch (or `branch`) of `url` into `dest` with history depth 1 and checks
/// it out. `interrupt` stops it early.
pub fn clone(
    url: &CheckedUrl,
    branch: Option<&str>,
    dest: &Path,
    interrupt: &AtomicBool,
) -> Result<(), ScanError> {
    let fail = |e: &dyn std::fmt::Display| ScanError::Clone(e.to_string());
    let mut prepare = gix::prepare_clone(url.as_str(), dest).map_err(|e| fail(&e))?.with_shallow(
        gix::remote::fetch::Shallow::DepthAtRemote(
            std::num::NonZeroU32::new(1).expect("one is not zero"),
        ),
    );
    if let Some(branch) = branch {
        prepare = prepare.with_ref_name(Some(branch)).map_err(|e| fail(&e))?;
    }
    let (mut checkout, _) =
        prepare.fetch_then_checkout(gix::progress::Discard, interrupt).map_err(|e| fail(&e))?;
    checkout.main_worktree(gix::progress::Discard, interrupt).map_err(|e| fail(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1/repo.git",
            "https://localhost/repo.git",
            "git://10.1.2.3/repo",
            "https://192.168.0.10/r.git",
            "https://169.254.169.254/latest/meta-data",
            "ssh://[::1]/repo",
            "git@127.0.0.1:team/repo.git",
            "https://[fd00::1]/r.git",
            "https://100.64.0.1/r.git",
            "http://0.0.0.0/r.git",
        ] {
            let err = check_url(url, &[]).unwrap_err().to_string();
            assert!(err.contains("internal address"), "{url}: {err}");
        }
        assert!(check_url("http://127.0.0.1:9418/repo.git", &["127.0.0.1".into()]).is_ok());
        assert!(check_url("git://localhost/repo", &["localhost".into()]).is_ok());
        assert!(check_url("https://10.0.0.5/r.git", &["*".into()]).is_ok());
        assert!(check_url("https://93.184.215.14/r.git", &[]).is_ok(), "public address");
    }

    #[test]
    fn other_schemes_and_local_files_are_refused() {
        let err = check_url("file:///srv/git/repo", &[]).unwrap_err().to_string();
        assert!(err.contains("file://"), "{err}");
        assert!(check_url("file:///srv/git/repo", &["file".into()]).is_ok());
        assert!(check_url("ftp://example.com/r.git", &[]).unwrap_err().to_string().contains("ftp"));
        assert!(check_url("not a url", &[]).is_err());
    }
}
