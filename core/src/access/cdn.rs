//! CDN binding: playback domains bound to a channel, and which `Host` may reach a channel.
//!
//! The rule: a `Host` bound to a channel reaches only that channel. An unbound `Host` reaches
//! a channel only if the channel has no bound domains, or if it is the origin's own pull host
//! (or an IP literal): once a channel is bound, a CDN configured with some other name gets a
//! 404, so a misconfigured edge is noticed instead of caching under the wrong name.

use crate::channel::Invalid;
use crate::id::Id;
use std::borrow::Cow;
use std::net::IpAddr;

/// Longest domain name (RFC 1035).
pub const MAX_DOMAIN_LEN: usize = 253;

/// Checks and normalizes a playback domain (lowercase, no trailing dot, no port or scheme).
pub fn normalize_domain(s: &str) -> Result<String, Invalid> {
    let d = s.trim().trim_end_matches('.').to_ascii_lowercase();
    let bad = |why: &str| Err(Invalid(format!("{s:?} is not a domain name: {why}")));
    if d.is_empty() {
        return bad("it is empty");
    }
    if d.contains("://") || d.contains('/') {
        return bad("give the bare host name, without scheme or path (e.g. live.example.com)");
    }
    if d.contains(':') {
        return bad("give the host name without a port");
    }
    if d.len() > MAX_DOMAIN_LEN {
        return bad("longer than 253 characters");
    }
    if d.parse::<IpAddr>().is_ok() {
        return bad("an IP address cannot be a CDN domain");
    }
    for label in d.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("every dot-separated label must be 1-63 characters");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label cannot start or end with '-'");
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return bad(&format!(
                "{c:?} is not allowed (letters, digits, '-' and '.')"
            ));
        }
    }
    Ok(d)
}

/// The host part of a `Host` header value, lowercase, without port or trailing dot
/// (`[::1]:8080` → `::1`). Borrowed from `value` when it is lowercase already (the usual
/// case: no allocation per request).
pub fn host_of(value: &[u8]) -> Option<Cow<'_, str>> {
    let v = std::str::from_utf8(value).ok()?.trim();
    let host = if let Some(rest) = v.strip_prefix('[') {
        rest.split(']').next()?
    } else {
        v.rsplit_once(':').map_or(v, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                v
            }
        })
    };
    let host = host.trim_end_matches('.');
    if host.is_empty() {
        None
    } else if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(Cow::Owned(host.to_ascii_lowercase()))
    } else {
        Some(Cow::Borrowed(host))
    }
}

/// Whether a request with `host` may reach `channel`. `bound_to` says which channel a domain
/// is bound to; `origin_host` is the host of the daemon's own pull URL.
pub fn host_may_reach(
    host: Option<&str>,
    channel: &Id,
    channel_has_domains: bool,
    bound_to: impl Fn(&str) -> Option<Id>,
    origin_host: &str,
) -> Result<(), String> {
    let Some(h) = host else {
        return if channel_has_domains {
            Err("this channel is served through its CDN domains; the request has no Host".into())
        } else {
            Ok(())
        };
    };
    match bound_to(h) {
        Some(owner) if owner == *channel => Ok(()),
        Some(_) => Err(format!("{h} is bound to another channel")),
        None if !channel_has_domains => Ok(()),
        None if h == origin_host || h.parse::<IpAddr>().is_ok() => Ok(()),
        None => Err(format!("{h} is not a CDN domain of this channel")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn domains() {
        let ok = [
            ("live.example.com", "live.example.com"),
            ("LIVE.Example.COM.", "live.example.com"),
            ("cdn-1.example", "cdn-1.example"),
            ("localhost", "localhost"),
        ];
        for (s, want) in ok {
            assert_eq!(normalize_domain(s).unwrap(), want);
        }
        let bad = [
            ("", "empty"),
            ("http://x.com", "without scheme"),
            ("x.com:8080", "without a port"),
            ("127.0.0.1", "IP address"),
            ("a..b", "1-63"),
            ("-a.com", "start or end"),
            ("a_b.com", "'_'"),
            ("x.com/path", "without scheme or path"),
        ];
        for (s, why) in bad {
            let e = normalize_domain(s).unwrap_err();
            assert!(e.0.contains(why), "{s}: {e}");
        }
    }

    #[test]
    fn hosts() {
        let table: &[(&[u8], Option<&str>)] = &[
            (b"cdn.example.com", Some("cdn.example.com")),
            (b"CDN.example.com:8080", Some("cdn.example.com")),
            (b"cdn.example.com.", Some("cdn.example.com")),
            (b"127.0.0.1:80", Some("127.0.0.1")),
            (b"[::1]:8080", Some("::1")),
            (b"[::1]", Some("::1")),
            (b"", None),
            (b":80", None),
        ];
        // Already lowercase: borrowed, no allocation on the request path.
        assert!(matches!(
            host_of(b"cdn.example.com:80"),
            Some(Cow::Borrowed("cdn.example.com"))
        ));
        assert!(matches!(host_of(b"CDN.example.com"), Some(Cow::Owned(_))));
        for (v, want) in table {
            assert_eq!(
                host_of(v).as_deref(),
                *want,
                "{:?}",
                String::from_utf8_lossy(v)
            );
        }
    }

    #[test]
    fn reach_table() {
        let a = Id::from_random([1; 14]);
        let b = Id::from_random([2; 14]);
        let bound = |h: &str| match h {
            "a.cdn.example" => Some(a),
            "b.cdn.example" => Some(b),
            _ => None,
        };
        let origin = "origin.example";
        let table: &[(Option<&str>, bool, bool)] = &[
            // (host, channel a has domains, may reach a)
            (Some("a.cdn.example"), true, true),
            (Some("b.cdn.example"), true, false),
            (Some("b.cdn.example"), false, false),
            (Some("other.example"), true, false),
            (Some("other.example"), false, true),
            (Some("origin.example"), true, true),
            (Some("127.0.0.1"), true, true),
            (Some("::1"), true, true),
            (None, true, false),
            (None, false, true),
        ];
        for (host, has, ok) in table {
            let got = host_may_reach(*host, &a, *has, bound, origin);
            assert_eq!(got.is_ok(), *ok, "{host:?} {has}: {got:?}");
        }
    }

    proptest! {
        #[test]
        fn normalized_domains_are_stable(s in "[a-zA-Z0-9]{1,10}(\\.[a-zA-Z0-9-]{0,8}[a-zA-Z0-9]){0,3}") {
            if let Ok(d) = normalize_domain(&s) {
                prop_assert_eq!(normalize_domain(&d).unwrap(), d.clone());
                let with_port = format!("{d}:443");
                let host = host_of(with_port.as_bytes());
                prop_assert_eq!(host.as_deref(), Some(d.as_str()));
            }
        }
    }
}
