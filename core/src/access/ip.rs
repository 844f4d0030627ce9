//! Endpoint IP rules: allow and block lists of IPv4/IPv6 CIDRs (block wins, an empty allowlist
//! admits everyone), and the client address of a request that came through trusted proxies.

use crate::channel::Invalid;
use ipnet::IpNet;
use std::net::IpAddr;

/// Parses a CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a bare address (a /32 or /128). The error
/// says which value and why.
pub fn parse_cidr(s: &str) -> Result<IpNet, Invalid> {
    let t = s.trim();
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok(IpNet::from(normalize(ip)));
    }
    let Some((addr, len)) = t.split_once('/') else {
        return Err(Invalid(format!(
            "{s:?} is not an IP address or CIDR (expected e.g. 192.0.2.0/24 or 2001:db8::/32)"
        )));
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return Err(Invalid(format!(
            "{s:?} is not a CIDR: {addr:?} is not an IPv4 or IPv6 address"
        )));
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u8 = match len.parse() {
        Ok(n) if n <= max => n,
        _ => {
            return Err(Invalid(format!(
                "{s:?} is not a CIDR: the prefix length must be 0-{max} for an {} address",
                if ip.is_ipv4() { "IPv4" } else { "IPv6" }
            )))
        }
    };
    let net = IpNet::new(ip, len).map_err(|e| Invalid(format!("{s:?}: {e}")))?;
    if net.trunc() != net {
        return Err(Invalid(format!(
            "{s:?} has host bits set after the /{len} prefix; did you mean {}?",
            net.trunc()
        )));
    }
    Ok(net)
}

/// IPv4-mapped IPv6 (`::ffff:192.0.2.1`, what a dual-stack socket reports) as IPv4.
fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Why a client was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpDenied {
    /// The address is in the blocklist.
    #[error("client address {0} is blocked on this endpoint")]
    Blocked(IpAddr),
    /// The allowlist is not empty and the address is not in it.
    #[error("client address {0} is not in this endpoint's allowlist")]
    NotAllowed(IpAddr),
}

/// Applies an endpoint's lists to a client address: blocklist first, then the allowlist.
pub fn ip_allowed(allow: &[IpNet], block: &[IpNet], ip: IpAddr) -> Result<(), IpDenied> {
    let ip = normalize(ip);
    if block.iter().any(|n| n.contains(&ip)) {
        return Err(IpDenied::Blocked(ip));
    }
    if !allow.is_empty() && !allow.iter().any(|n| n.contains(&ip)) {
        return Err(IpDenied::NotAllowed(ip));
    }
    Ok(())
}

/// The client's address. `X-Forwarded-For` counts only when the connecting `peer` is a trusted
/// proxy; then the list is read right to left, skipping trusted proxies, and the first address
/// that is not one is the client (addresses further left were written by the client itself and
/// prove nothing). An unparseable entry stops the walk at the last address known good.
pub fn client_ip(peer: IpAddr, xff: Option<&[u8]>, trusted: &[IpNet]) -> IpAddr {
    let peer = normalize(peer);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(xff) = xff.and_then(|v| std::str::from_utf8(v).ok()) else {
        return peer;
    };
    let mut client = peer;
    for part in xff.rsplit(',') {
        let Ok(ip) = part.trim().parse::<IpAddr>() else {
            return client;
        };
        client = normalize(ip);
        if !is_trusted(&client) {
            return client;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn nets(v: &[&str]) -> Vec<IpNet> {
        v.iter().map(|s| parse_cidr(s).unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_table() {
        let ok = [
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("127.0.0.1", "127.0.0.1/32"),
            ("::1", "::1/128"),
            (" 2001:db8::/32 ", "2001:db8::/32"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("::/0", "::/0"),
        ];
        for (s, want) in ok {
            assert_eq!(parse_cidr(s).unwrap().to_string(), want, "{s}");
        }
        let bad = [
            ("10.0.0.0/33", "0-32 for an IPv4"),
            ("::/129", "0-128 for an IPv6"),
            ("10.0.0.1/8", "did you mean 10.0.0.0/8"),
            ("example.com", "not an IP address or CIDR"),
            ("300.1.1.1/8", "not an IPv4 or IPv6 address"),
            ("10.0.0.0/x", "prefix length"),
            ("", "not an IP address"),
        ];
        for (s, why) in bad {
            let e = parse_cidr(s).unwrap_err();
            assert!(e.0.contains(why), "{s}: {e}");
            assert!(e.0.contains(&format!("{s:?}")), "names the value: {e}");
        }
    }

    #[test]
    fn lists_table() {
        let table: &[(&[&str], &[&str], &str, bool)] = &[
            (&[], &[], "203.0.113.9", true),
            (&["127.0.0.0/8"], &[], "127.0.0.1", true),
            (&["127.0.0.0/8"], &[], "10.1.1.1", false),
            (&["127.0.0.0/8"], &["127.0.0.1"], "127.0.0.1", false),
            (&[], &["127.0.0.1"], "127.0.0.2", true),
            (&["::1"], &[], "::1", true),
            (&["::1"], &[], "127.0.0.1", false),
            (&["127.0.0.1"], &[], "::ffff:127.0.0.1", true),
            (&[], &["::/0"], "::1", false),
            (&[], &["::/0"], "127.0.0.1", true),
        ];
        for (allow, block, addr, ok) in table {
            let got = ip_allowed(&nets(allow), &nets(block), ip(addr));
            assert_eq!(got.is_ok(), *ok, "{allow:?} {block:?} {addr}: {got:?}");
        }
        assert!(matches!(
            ip_allowed(
                &nets(&["10.0.0.0/8"]),
                &nets(&["10.0.0.0/8"]),
                ip("10.0.0.1")
            ),
            Err(IpDenied::Blocked(_))
        ));
    }

    #[test]
    fn forwarded_for_table() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        let table: &[(&str, Option<&str>, &str)] = &[
            // Untrusted peers are never believed.
            ("203.0.113.5", Some("198.51.100.1"), "203.0.113.5"),
            ("::1", Some("198.51.100.1"), "::1"),
            // A trusted proxy's header counts.
            ("127.0.0.1", Some("198.51.100.1"), "198.51.100.1"),
            ("127.0.0.1", None, "127.0.0.1"),
            // Rightmost untrusted wins; what the client wrote to the left is ignored.
            (
                "127.0.0.1",
                Some("1.2.3.4, 198.51.100.1, 10.0.0.7"),
                "198.51.100.1",
            ),
            // Every hop trusted: the leftmost.
            ("127.0.0.1", Some("10.0.0.2, 10.0.0.3"), "10.0.0.2"),
            // Garbage stops the walk at the last good address.
            ("127.0.0.1", Some("junk, 10.0.0.3"), "10.0.0.3"),
            ("127.0.0.1", Some("junk"), "127.0.0.1"),
            ("127.0.0.1", Some("2001:db8::1"), "2001:db8::1"),
        ];
        for (peer, xff, want) in table {
            let got = client_ip(ip(peer), xff.map(str::as_bytes), &trusted);
            assert_eq!(got, ip(want), "{peer} {xff:?}");
        }
        assert_eq!(
            client_ip(ip("127.0.0.1"), Some(b"198.51.100.1"), &[]),
            ip("127.0.0.1")
        );
    }

    proptest! {
        #[test]
        fn v4_prefix_contains_exactly_its_range(a in any::<u32>(), len in 0u8..=32, probe in any::<u32>()) {
            let net = IpNet::new(IpAddr::V4(Ipv4Addr::from(a)), len).unwrap().trunc();
            let parsed = parse_cidr(&net.to_string()).unwrap();
            prop_assert_eq!(parsed, net);
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            let inside = (probe & mask) == (a & mask);
            let r = ip_allowed(&[parsed], &[], IpAddr::V4(Ipv4Addr::from(probe)));
            prop_assert_eq!(r.is_ok(), inside);
            let r = ip_allowed(&[], &[parsed], IpAddr::V4(Ipv4Addr::from(probe)));
            prop_assert_eq!(r.is_ok(), !inside);
        }

        #[test]
        fn v6_round_trip(a in any::<u128>(), len in 0u8..=128) {
            let net = IpNet::new(IpAddr::V6(Ipv6Addr::from(a)), len).unwrap().trunc();
            prop_assert_eq!(parse_cidr(&net.to_string()).unwrap(), net);
        }

        #[test]
        fn untrusted_peer_is_always_the_client(peer in any::<u32>(), xff in ".{0,60}") {
            let peer = IpAddr::V4(Ipv4Addr::from(peer));
            let trusted = nets(&["127.0.0.1"]);
            prop_assume!(peer != ip("127.0.0.1"));
            prop_assert_eq!(client_ip(peer, Some(xff.as_bytes()), &trusted), peer);
        }
    }
}
