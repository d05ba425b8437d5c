//! Git repositories as a scan source: checking the URL, then a shallow clone in process (gix).
//!
//! A scan request makes the server connect somewhere, so the URL is checked first (server-side
//! request forgery): only `https`, `http`, `ssh` (including `user@host:path`) and `git` URLs,
//! and only to hosts whose every address is public. Loopback, private, link-local, unique-local,
//! shared (CGNAT) and unspecified addresses are refused unless the operator's allow-list
//! (`OUTBOUND_ALLOWED_HOSTS`, the rule of `tc_outbound`) names the host (or `*`). `file://`
//! URLs read the server's own disk, so they are refused unless the allow-list contains `file`.
//!
//! The clone runs isolated from the server's git configuration and credentials, follows no
//! redirect (which could lead to an internal host after the check), and is bounded in time and
//! size ([`clone`]).
//!
//! The check resolves the name once and the clone connects to the addresses it checked, never
//! to a second answer: a name that changes its answer after the check (DNS rebinding) cannot
//! lead the clone inside. HTTP(S) clones pin the name to those addresses in the HTTP client, so
//! TLS still verifies the certificate for the name; `ssh` and `git` clones connect to the
//! address itself.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tc_outbound::AllowList;

use crate::ScanError;

/// A repository URL that passed the checks, with the addresses its host resolved to then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUrl {
    url: String,
    /// The checked host and its addresses; `None` when nothing was resolved (an address
    /// literal, a host the operator allowed by name, or `file://`).
    pin: Option<Pin>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pin {
    scheme: String,
    host: String,
    addresses: Vec<IpAddr>,
}

impl CheckedUrl {
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The URL the clone opens: for `ssh` and `git`, the host is replaced by the first checked
    /// address (those transports resolve on their own otherwise); HTTP(S) keeps the name, pinned
    /// in the client ([`clone`]), because TLS verifies the certificate against it.
    fn connect_url(&self) -> String {
        let Some(pin) = &self.pin else { return self.url.clone() };
        if pin.scheme == "https" || pin.scheme == "http" {
            return self.url.clone();
        }
        let literal = match pin.addresses[0] {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        if self.url.contains("://") {
            let mut parsed = url::Url::parse(&self.url).expect("checked URLs parse");
            parsed.set_host(Some(&literal)).expect("an address is a valid host");
            parsed.to_string()
        } else {
            // scp-like `user@host:path`: the host sits between the last `@` before the first
            // `:` and that `:`.
            let (user_host, path) = self.url.split_once(':').expect("checked scp-like URLs");
            match user_host.rsplit_once('@') {
                Some((user, _)) => format!("{user}@{literal}:{path}"),
                None => format!("{literal}:{path}"),
            }
        }
    }

    /// The host name and addresses an HTTP(S) clone must connect to.
    fn http_pin(&self) -> Option<(String, Vec<SocketAddr>)> {
        let pin = self.pin.as_ref().filter(|p| p.scheme == "https" || p.scheme == "http")?;
        // The port is taken from the URL; the one given here is ignored by the client.
        let addresses = pin.addresses.iter().map(|ip| SocketAddr::new(*ip, 0)).collect();
        Some((pin.host.clone(), addresses))
    }
}

fn refused(message: impl Into<String>) -> ScanError {
    ScanError::RefusedUrl(message.into())
}

/// Checks `url` against the rules above; `allowed` is the operator's list of host names or
/// addresses (`*` for any, `file` for `file://`). Resolves the host with the system resolver,
/// so it blocks: call it off the async threads.
pub fn check_url(url: &str, allowed: &[String]) -> Result<CheckedUrl, ScanError> {
    check_url_with(url, allowed, |host, port| {
        Ok((host, port).to_socket_addrs()?.map(|a| a.ip()).collect())
    })
}

/// [`check_url`] with the resolver given: `resolve(host, port)` answers the host's addresses.
pub fn check_url_with(
    url: &str,
    allowed: &[String],
    resolve: impl Fn(&str, u16) -> std::io::Result<Vec<IpAddr>>,
) -> Result<CheckedUrl, ScanError> {
    let unpinned = |url: &str| Ok(CheckedUrl { url: url.to_string(), pin: None });
    let url = url.trim();
    let allow = AllowList::new(allowed);
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
            return if allow.allows_file() {
                unpinned(url)
            } else {
                Err(refused(
                    "file:// repositories are refused unless OUTBOUND_ALLOWED_HOSTS contains `file`",
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
    if allow.allows(&host, port) {
        return unpinned(url);
    }
    let bare = host.trim_matches(['[', ']']);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        allow.check_address(&scheme, bare, ip, port).map_err(|e| refused(e.0))?;
        return unpinned(url);
    }
    let addresses =
        resolve(bare, port).map_err(|e| refused(format!("cannot resolve {bare}: {e}")))?;
    if addresses.is_empty() {
        return Err(refused(format!("{bare} has no address")));
    }
    // An internal address passes when the operator allowed that address.
    for ip in &addresses {
        allow.check_address(&scheme, bare, *ip, port).map_err(|e| refused(e.0))?;
    }
    Ok(CheckedUrl {
        url: url.to_string(),
        pin: Some(Pin { scheme, host: bare.to_string(), addresses }),
    })
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
        url.connect_url().as_str(),
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
    if let Some((host, addresses)) = url.http_pin() {
        prepare = prepare
            .configure_connection(move |connection| pin_http_client(connection, &host, &addresses));
    }
    let (mut checkout, _) =
        prepare.fetch_then_checkout(gix::progress::Discard, interrupt).map_err(|e| fail(&e))?;
    checkout.main_worktree(gix::progress::Discard, interrupt).map_err(|e| fail(&e))?;
    Ok(())
}

/// Makes the connection's HTTP client connect `host` to `addresses` only, whatever the name
/// resolves to by then, keeping every other transport option the isolated configuration gave.
fn pin_http_client(
    connection: &mut gix::remote::Connection<
        '_,
        '_,
        '_,
        Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
    >,
    host: &str,
    addresses: &[SocketAddr],
) -> gix::Result {
    use gix::protocol::transport::client::blocking_io::http;
    let remote = connection.remote();
    let url = remote.url(gix::remote::Direction::Fetch).map(|u| u.to_bstring()).unwrap_or_default();
    let mut options = remote
        .repo()
        .transport_options(url.as_slice(), None)?
        .and_then(|o| o.downcast::<http::Options>().ok())
        .map(|o| *o)
        .unwrap_or_default();
    let (host, addresses) = (host.to_string(), addresses.to_vec());
    let backend = http::reqwest::Options {
        configure_client: Some(Box::new(move |builder| {
            Ok(builder.resolve_to_addrs(&host, &addresses))
        })),
        configure_request: None,
    };
    options.backend = Some(std::sync::Arc::new(std::sync::Mutex::new(backend)));
    connection.set_transport_options(Box::new(options));
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

    /// Hole 3: the check resolved the name and the clone resolved it again, so a name that
    /// answered a public address to the check and an internal one to the clone (DNS rebinding)
    /// led inside. Now the clone connects to what was checked: `rebind.invalid` has no address
    /// for the system resolver, so a request reaching the listener came by the pinned address.
    #[test]
    fn a_clone_connects_to_the_checked_address_not_a_second_answer() {
        use std::io::{Read, Write};
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        server.set_nonblocking(true).unwrap();
        // Waits for one request, and gives up once the clone has failed without sending one.
        let seen = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok((mut stream, _)) = server.accept() {
                    stream.set_nonblocking(false).unwrap();
                    let mut buf = [0u8; 4096];
                    let n = stream.read(&mut buf).unwrap();
                    let _ =
                        stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    return String::from_utf8_lossy(&buf[..n]).into_owned();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            String::new()
        });
        let loopback = |_: &str, _: u16| Ok(vec![IpAddr::from([127, 0, 0, 1])]);
        let url = format!("http://rebind.invalid:{port}/repo.git");
        let checked = check_url_with(&url, &["127.0.0.1".into()], loopback).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let result = clone(&checked, None, &dir.path().join("clone"), &AtomicBool::new(false));
        assert!(result.is_err(), "the listener is no git server");
        let request = seen.join().unwrap();
        assert!(!request.is_empty(), "the clone never reached the checked address: {result:?}");
        assert!(request.starts_with("GET /repo.git/info/refs"), "{request}");
        assert!(
            request.to_ascii_lowercase().contains(&format!("host: rebind.invalid:{port}")),
            "the name is kept for the Host header (and TLS): {request}"
        );
    }

    #[test]
    fn every_answer_of_a_name_is_checked_and_ssh_and_git_connect_to_it() {
        let answers = |_: &str, _: u16| {
            Ok(vec![IpAddr::from([93, 184, 215, 14]), IpAddr::from([10, 0, 0, 7])])
        };
        let err = check_url_with("https://mixed.example/r.git", &[], answers).unwrap_err();
        assert!(err.to_string().contains("10.0.0.7"), "{err}");
        let allowed = check_url_with("https://mixed.example/r.git", &["10.0.0.7".into()], answers);
        assert!(allowed.is_ok(), "an operator can allow an internal address");

        let public = |_: &str, _: u16| Ok(vec![IpAddr::from([93, 184, 215, 14])]);
        for (url, connect) in [
            ("git://example.org/team/repo", "git://93.184.215.14/team/repo"),
            (
                "ssh://git@example.org:2222/team/repo.git",
                "ssh://git@93.184.215.14:2222/team/repo.git",
            ),
            ("git@example.org:team/repo.git", "git@93.184.215.14:team/repo.git"),
            ("https://example.org/team/repo.git", "https://example.org/team/repo.git"),
        ] {
            let checked = check_url_with(url, &[], public).unwrap();
            assert_eq!(checked.connect_url(), connect);
            assert_eq!(checked.as_str(), url, "the URL shown stays the one asked for");
        }
        let v6 = |_: &str, _: u16| Ok(vec!["2606:2800:220:1::1".parse().unwrap()]);
        let checked = check_url_with("git@example.org:team/repo.git", &[], v6).unwrap();
        assert_eq!(checked.connect_url(), "git@[2606:2800:220:1::1]:team/repo.git");
        let none = |_: &str, _: u16| Ok(vec![]);
        assert!(check_url_with("https://void.example/r.git", &[], none).is_err());
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
