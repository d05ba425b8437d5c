//! Where the server may connect on a user's behalf (server-side request forgery).
//!
//! A git scan, a Jira or Confluence connection: each makes the server open a connection to a
//! URL a user typed. Only hosts whose every address is public are reached. Loopback, private,
//! link-local, unique-local, shared (CGNAT), multicast and unspecified addresses are refused
//! unless the operator's allow-list (`OUTBOUND_ALLOWED_HOSTS`, once `SCAN_ALLOWED_HOSTS`) names
//! the host, the host and port, or the address (or holds `*`).
//!
//! For HTTP, [`http_client`] builds a client whose resolver applies the rule to every answer at
//! connect time, so the addresses checked are the addresses connected to (a name that changes
//! its answer after a check, DNS rebinding, gains nothing), and which follows no redirect (a
//! redirect could lead elsewhere after the check).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

/// Why a connection was refused; the message says what the operator can allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Whether an address is one the server must not reach without the operator's say-so.
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

/// The operator's allow-list: host names, addresses, either with `:port`, `*` for any, and
/// `file` (meaningful to git scans only: `file://` repositories).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<String>,
}

impl AllowList {
    pub fn new(entries: &[String]) -> Self {
        AllowList { entries: entries.iter().map(|e| e.trim().to_ascii_lowercase()).collect() }
    }

    /// Whether `file://` URLs are allowed.
    pub fn allows_file(&self) -> bool {
        self.entries.iter().any(|e| e == "file")
    }

    /// Whether the operator allowed `host` (a name or an address, IPv6 with or without
    /// brackets) on `port`: by `*`, by the host alone, or by `host:port`.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let bare = host.trim_matches(['[', ']']).to_ascii_lowercase();
        self.entries.iter().any(|entry| {
            if entry == "*" {
                return true;
            }
            match split_port(entry) {
                Some((h, p)) => h == bare && p == port,
                None => entry.trim_matches(['[', ']']) == bare,
            }
        })
    }

    /// Checks one resolved address of `host`: public, or allowed by the operator.
    pub fn check_address(
        &self,
        what: &str,
        host: &str,
        ip: IpAddr,
        port: u16,
    ) -> Result<(), Refused> {
        if is_internal(ip) && !self.allows(&ip.to_string(), port) {
            return Err(Refused(format!(
                "{what} host {host} resolves to {ip}, an internal address; an operator can allow \
                 it with OUTBOUND_ALLOWED_HOSTS"
            )));
        }
        Ok(())
    }
}

/// `host:port` or `[v6]:port` → (host, port); `None` for a bare host or address.
fn split_port(entry: &str) -> Option<(&str, u16)> {
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return Some((host, after.strip_prefix(':')?.parse().ok()?));
    }
    // A bare IPv6 address has several colons and no port.
    let (host, port) = entry.rsplit_once(':')?;
    if host.contains(':') {
        return None;
    }
    Some((host, port.parse().ok()?))
}

/// Checks an HTTP(S) URL before any connection: the scheme, a host, and an address literal
/// against the rule (names are checked by [`http_client`]'s resolver when it connects).
pub fn check_http_url(what: &str, url: &str, allow: &AllowList) -> Result<Url, Refused> {
    let parsed =
        Url::parse(url.trim()).map_err(|e| Refused(format!("{what} is not a valid URL: {e}")))?;
    if parsed.scheme() != "https" && parsed.scheme() != "http" {
        return Err(Refused(format!("{what} must be an http:// or https:// URL")));
    }
    let host = parsed.host_str().filter(|h| !h.is_empty());
    let host = host.ok_or_else(|| Refused(format!("{what} has no host")))?;
    let port = parsed.port_or_known_default().unwrap_or(443);
    if allow.allows(host, port) {
        return Ok(parsed);
    }
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        allow.check_address(what, host, ip, port)?;
    }
    Ok(parsed)
}

/// An HTTP client for `urls` (one service: its site, its API host, its token endpoint) that
/// follows no redirect and connects only to addresses the rule allows, checked on every
/// resolution. Fails when a URL is refused outright.
pub fn http_client(
    what: &str,
    builder: reqwest::ClientBuilder,
    urls: &[&str],
    allow: &AllowList,
) -> Result<reqwest::Client, Refused> {
    let mut trusted = HashSet::new();
    let mut ports = HashSet::new();
    for url in urls {
        let parsed = check_http_url(what, url, allow)?;
        let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = parsed.port_or_known_default().unwrap_or(443);
        if allow.allows(&host, port) {
            trusted.insert(host);
        }
        ports.insert(port);
    }
    let resolver = CheckingResolver {
        what: what.to_string(),
        allow: allow.clone(),
        trusted,
        ports: ports.into_iter().collect(),
    };
    builder
        .redirect(reqwest::redirect::Policy::none())
        // A proxy from the environment would connect on our behalf, past the resolver.
        .no_proxy()
        .dns_resolver(Arc::new(resolver))
        .build()
        .map_err(|e| Refused(format!("cannot build an HTTP client: {e}")))
}

/// Resolves with the system resolver, then refuses internal answers the operator did not allow.
struct CheckingResolver {
    what: String,
    allow: AllowList,
    /// Names the operator allowed for the client's URLs: any answer goes.
    trusted: HashSet<String>,
    /// The ports the client's URLs use (an allowed `address:port` must match one).
    ports: Vec<u16>,
}

impl Resolve for CheckingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let trusted = self.trusted.contains(&host);
        let (what, allow, ports) = (self.what.clone(), self.allow.clone(), self.ports.clone());
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), 0)).await
            {
                Ok(found) => found.collect(),
                Err(e) => return Err(Refused(format!("cannot resolve {host}: {e}")).into()),
            };
            if !trusted {
                for address in &addresses {
                    let ip = address.ip();
                    if !ports.iter().any(|p| allow.check_address(&what, &host, ip, *p).is_ok()) {
                        let port = ports.first().copied().unwrap_or(443);
                        if let Err(refused) = allow.check_address(&what, &host, ip, port) {
                            return Err(refused.into());
                        }
                    }
                }
            }
            let addrs: Addrs = Box::new(addresses.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::new(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn entries_match_a_host_a_host_and_port_or_everything() {
        let allow = list(&["jira.internal", "10.0.0.5:8443", "[::1]:9000", "fd00::1"]);
        assert!(allow.allows("JIRA.internal", 443));
        assert!(allow.allows("10.0.0.5", 8443));
        assert!(!allow.allows("10.0.0.5", 443));
        assert!(allow.allows("[::1]", 9000));
        assert!(!allow.allows("::1", 9001));
        assert!(allow.allows("fd00::1", 1));
        assert!(!allow.allows("other", 443));
        assert!(list(&["*"]).allows("anything", 1));
        assert!(list(&["file"]).allows_file());
    }

    #[test]
    fn internal_literals_are_refused_unless_allowed() {
        let none = AllowList::default();
        for url in [
            "http://127.0.0.1/",
            "https://10.1.2.3:8443/x",
            "http://[::1]:80/",
            "http://169.254.169.254/",
        ] {
            let err = check_http_url("base_url", url, &none).unwrap_err();
            assert!(err.0.contains("internal address"), "{url}: {err}");
        }
        assert!(check_http_url("base_url", "https://8.8.8.8/", &none).is_ok());
        assert!(
            check_http_url("base_url", "http://127.0.0.1:8080/", &list(&["127.0.0.1:8080"]))
                .is_ok()
        );
        assert!(
            check_http_url("base_url", "http://127.0.0.1:8081/", &list(&["127.0.0.1:8080"]))
                .is_err()
        );
        assert!(
            check_http_url("base_url", "ftp://example.com/", &none).unwrap_err().0.contains("http")
        );
        assert!(check_http_url("base_url", "not a url", &none).is_err());
    }

    #[tokio::test]
    async fn a_name_resolving_inside_is_refused_when_connecting() {
        let none = AllowList::default();
        let client =
            http_client("base_url", reqwest::Client::builder(), &["http://localhost:9/"], &none)
                .unwrap();
        let err = client.get("http://localhost:9/").send().await.unwrap_err();
        let chain = format!("{:?}", err);
        assert!(chain.contains("internal address"), "{chain}");

        // Allowed by name and port, it is reached (and here refused by the closed port).
        let allow = list(&["localhost:9"]);
        let client =
            http_client("base_url", reqwest::Client::builder(), &["http://localhost:9/"], &allow)
                .unwrap();
        let err = client.get("http://localhost:9/").send().await.unwrap_err();
        assert!(!format!("{err:?}").contains("internal address"), "{err:?}");
    }
}
