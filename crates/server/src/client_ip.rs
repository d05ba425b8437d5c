//! Who the client is, by address: the TCP peer, unless the peer is one of the operator's
//! reverse proxies (`TRUSTED_PROXIES`), in which case the forwarding headers they add name the
//! client. Headers from anyone else are ignored, since any client can send them.
//!
//! The forwarding chain is read from the right (the entry the nearest proxy added) leftwards,
//! skipping trusted proxies; the first address that is not one is the client. `Forwarded`
//! (RFC 7239) is read when present, `X-Forwarded-For` otherwise. An entry that cannot be read
//! stops the walk at the last trusted hop, so a garbled header never lets a client choose its
//! address.

use std::net::{IpAddr, Ipv6Addr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client address a request is attributed to (set by the per-IP limit middleware).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The client behind `peer`, given the request's headers and the trusted proxies.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip));
    if !is_trusted(peer) {
        return peer;
    }
    let chain = forwarded_for(headers).or_else(|| x_forwarded_for(headers)).unwrap_or_default();
    let mut client = peer;
    for entry in chain.iter().rev() {
        let Some(ip) = entry else { break };
        client = canonical(*ip);
        if !is_trusted(client) {
            break;
        }
    }
    client
}

/// The key an address is rate-limited under: an IPv4 address itself, an IPv6 address by its
/// /64 (a subscriber's usual allocation, so rotating within it gains nothing).
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// IPv4-mapped IPv6 addresses (a dual-stack listener's view of IPv4 clients) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The `for=` addresses of every `Forwarded` header, in order; `None` for one that is not an
/// address (`unknown`, an obfuscated name, garbage).
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut out = Vec::new();
    for value in headers.get_all("forwarded") {
        let Ok(text) = value.to_str() else {
            out.push(None);
            continue;
        };
        for element in text.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| v.trim().trim_matches('"'))
            });
            out.push(node.and_then(parse_node));
        }
    }
    (!out.is_empty()).then_some(out)
}

fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut out = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            out.push(None);
            continue;
        };
        out.extend(text.split(',').map(|e| parse_node(e.trim())));
    }
    (!out.is_empty()).then_some(out)
}

/// An address as forwarding headers write it: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711` or a bare IPv6 address.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.rsplit_once(':')
        .and_then(|(host, _port)| host.parse::<std::net::Ipv4Addr>().ok())
        .map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_count_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let spoof = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(client_ip(ip("203.0.113.9"), &spoof, &trusted), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("10.0.0.2"), &spoof, &[]), ip("10.0.0.2"), "nothing trusted");
        assert_eq!(client_ip(ip("10.0.0.2"), &spoof, &trusted), ip("1.2.3.4"));
        // A client's own X-Forwarded-For is to the left of what the proxy appended.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.1.1")]);
        assert_eq!(client_ip(ip("10.0.0.2"), &chain, &trusted), ip("198.51.100.7"));
        // Repeated headers are one list.
        let split = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(client_ip(ip("10.0.0.2"), &split, &trusted), ip("198.51.100.7"));
        // Garbage stops the walk at the last trusted hop.
        let garbled = headers(&[("x-forwarded-for", "6.6.6.6, not-an-ip, 10.3.3.3")]);
        assert_eq!(client_ip(ip("10.0.0.2"), &garbled, &trusted), ip("10.3.3.3"));
        assert_eq!(client_ip(ip("10.0.0.2"), &headers(&[]), &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn forwarded_is_read_before_x_forwarded_for() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let h = headers(&[
            ("forwarded", "for=\"[2001:db8:cafe::17]:4711\";proto=https, for=192.0.2.60:80"),
            ("x-forwarded-for", "9.9.9.9"),
        ]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("192.0.2.60"));
        let v6 = headers(&[("forwarded", "For=\"[2001:db8:cafe::17]\"")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &v6, &trusted), ip("2001:db8:cafe::17"));
        let unknown = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &unknown, &trusted), ip("127.0.0.1"));
        let mapped = ip("::ffff:127.0.0.1");
        assert_eq!(
            client_ip(mapped, &headers(&[("x-forwarded-for", "8.8.8.8")]), &trusted),
            ip("8.8.8.8")
        );
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("2001:db8:1:2:ffff:1:2:3")), ip("2001:db8:1:2::"));
        assert_ne!(limit_key(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(limit_key(ip("::ffff:198.51.100.7")), ip("198.51.100.7"));
    }
}
