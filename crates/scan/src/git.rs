//! Git repositories as a scan source: checking the URL, then a shallow clone in process (gix).
//!
//! A scan request makes the server connect somewhere, so the URL is checked first (server-side
//! request forgery): only `https`, `http`, `ssh` (including `user@host:path`) and `git` URLs,
//! and only to hosts whose every address is public. Loopback, private, link-local, unique-local,
//! shared (CGNAT) and unspecified addresses are refused unless the operator's allow-list
//! (`SCAN_ALLOWED_HOSTS`) names the host (or `*`). `file://` URLs read the server's own disk, so
//! they are refused unless the allow-list contains `file`.
//!
//! The clone runs isolated from the server's git configuration and credentials, follows no
//! redirect (which could lead to an internal host after the check), and is bounded in time and
//! size ([`clone`]).
//!
//! The check resolves the name once; the clone resolves it again. A name that changes its
//! answer in between (DNS rebinding) is not caught here; the allow-list is the defence for
//! internal hosts, and a deployment that must be strict runs scans behind an egress proxy.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

/// A clone is stopped after this long.
pub const CLONE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// A clone is stopped once it has written this much.
pub const CLONE_MAX_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Configuration every clone runs with, whatever the server's user or system git configuration
/// says: redirects are not followed (a redirect could lead from an allowed host to an internal
/// one after the check), no credential helper is asked, and ssh runs without the user's
/// configuration, agent or keys, so a scan can only reach what anyone could.
const ISOLATED_CONFIG: &[&str] = &[
    "http.followRedirects=false",
    "credential.helper=",
    "core.askPass=",
    "core.sshCommand=ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none \
     -o IdentityFile=/dev/null -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no",
    "http.lowSpeedLimit=1000",
    "http.lowSpeedTime=60",
];

/// Clones the default branch (or `branch`) of `url` into `dest` with history depth 1 and checks
/// it out, with the [`ISOLATED_CONFIG`] and no configuration read from the environment, the
/// user or the system. `interrupt` stops it early; so do [`CLONE_TIMEOUT`] and
/// [`CLONE_MAX_BYTES`] written, each with its own error.
pub fn clone(
    url: &CheckedUrl,
    branch: Option<&str>,
    dest: &Path,
    interrupt: &AtomicBool,
) -> Result<(), ScanError> {
    let stop = AtomicBool::new(false);
    let limit: parking_lot::Mutex<Option<String>> = parking_lot::Mutex::new(None);
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        // The watchdog: the job's own stop flag, the time limit and the size limit all stop
        // the clone through one flag.
        scope.spawn(|| {
            let started = Instant::now();
            while !done.load(Ordering::Relaxed) {
                let why = if interrupt.load(Ordering::Relaxed) {
                    Some(String::new())
                } else if started.elapsed() > CLONE_TIMEOUT {
                    Some(format!(
                        "the clone took longer than {} minutes",
                        CLONE_TIMEOUT.as_secs() / 60
                    ))
                } else if dir_size(dest) > CLONE_MAX_BYTES {
                    Some(format!("the repository is larger than {} MiB", CLONE_MAX_BYTES >> 20))
                } else {
                    None
                };
                if let Some(why) = why {
                    *limit.lock() = Some(why);
                    stop.store(true, Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        let result = clone_inner(url, branch, dest, &stop);
        done.store(true, Ordering::Relaxed);
        result
    });
    match limit.into_inner() {
        Some(why) if !why.is_empty() => Err(ScanError::Clone(why)),
        _ => result,
    }
}

fn clone_inner(
    url: &CheckedUrl,
    branch: Option<&str>,
    dest: &Path,
    interrupt: &AtomicBool,
) -> Result<(), ScanError> {
    let fail = |e: &dyn std::fmt::Display| ScanError::Clone(e.to_string());
    let open = gix::open::Options::isolated().config_overrides(ISOLATED_CONFIG.iter().copied());
    let mut prepare = gix::clone::PrepareFetch::new(
        url.as_str(),
        dest,
        gix::create::Kind::WithWorktree,
        gix::create::Options::default(),
        open,
    )
    .map_err(|e| fail(&e))?
    .with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(
        std::num::NonZeroU32::new(1).expect("one is not zero"),
    ));
    if let Some(branch) = branch {
        prepare = prepare.with_ref_name(Some(branch)).map_err(|e| fail(&e))?;
    }
    let (mut checkout, _) =
        prepare.fetch_then_checkout(gix::progress::Discard, interrupt).map_err(|e| fail(&e))?;
    checkout.main_worktree(gix::progress::Discard, interrupt).map_err(|e| fail(&e))?;
    Ok(())
}

/// Bytes under `dir`, without following links.
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else { continue };
        for entry in entries.filter_map(Result::ok) {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(t) if t.is_file() => total += entry.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
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

    /// Hole 3 of the hardening issue: the clone followed a redirect to another host, so an
    /// allowed public host could send it to an internal one after the check.
    #[test]
    fn a_clone_does_not_follow_redirects() {
        use std::io::{Read, Write};
        use std::sync::atomic::AtomicUsize;
        let internal = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let internal_port = internal.local_addr().unwrap().port();
        internal.set_nonblocking(true).unwrap();
        let redirector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = redirector.local_addr().unwrap().port();
        let asked = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        std::thread::spawn(move || {
            for stream in redirector.incoming().take(4) {
                let Ok(mut stream) = stream else { continue };
                counter.fetch_add(1, Ordering::Relaxed);
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let answer = format!(
                    "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{internal_port}/secret.git/info/refs?service=git-upload-pack\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        let url =
            check_url(&format!("http://127.0.0.1:{port}/repo.git"), &["127.0.0.1".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = clone(&url, None, &dir.path().join("clone"), &AtomicBool::new(false));
        assert!(err.is_err(), "the clone cannot succeed");
        assert!(asked.load(Ordering::Relaxed) >= 1, "the allowed host was asked");
        assert!(internal.accept().is_err(), "the redirect's target was never contacted");
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
