//! HTTP Digest authentication (RFC 7616) for ingest, with MD5 and SHA-256, `qop=auth`.
//!
//! Nonces are stateless: `<unix ms, 16 hex>-<HMAC-SHA-256(key, unix ms), 32 hex>`, where the
//! key is the input's password. The daemon verifies a nonce without remembering it, nonces
//! survive a restart, and rotating the password retires every nonce issued for the old one.
//! A nonce older than [`NONCE_LIFETIME_MS`] is answered with `stale=true`, so the client retries
//! with a fresh one without asking the user. Nonce counts are tracked by the caller
//! ([`super::nonce_counts`], fed by [`nonce_count`]): a request whose `nc` was used already is
//! a replay, answered as stale. A request without `qop` (RFC 2069 clients) has no count and
//! can be replayed on its URI until its nonce expires.

use super::ct_eq;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest as _, Sha256};

/// Realm of every challenge (Basic and Digest).
pub const REALM: &str = "streampack ingest";
/// How long a nonce is accepted. Long: an encoder that keeps one Digest state for hours
/// (ffmpeg) would otherwise lose the segment whose PUT meets the expiry.
pub const NONCE_LIFETIME_MS: u64 = 24 * 3600 * 1000;

/// Digest hash algorithms offered and accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `MD5` (what most clients, ffmpeg included, implement).
    Md5,
    /// `SHA-256` (RFC 7616's preferred one).
    Sha256,
}

impl Algorithm {
    /// Name in `algorithm=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Lowercase hex of the hash of `data`.
    pub fn hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => crate::hex::encode(&Md5::digest(data)),
            Algorithm::Sha256 => crate::hex::encode(&Sha256::digest(data)),
        }
    }
}

fn mac(key: &[u8], ts: u64) -> String {
    // HMAC accepts keys of any length; the error cannot happen.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(&ts.to_be_bytes());
            crate::hex::encode(&m.finalize().into_bytes()[..16])
        }
        Err(_) => String::new(),
    }
}

/// A nonce for `key` issued at `now_unix_ms`.
pub fn make_nonce(key: &[u8], now_unix_ms: u64) -> String {
    format!("{now_unix_ms:016x}-{}", mac(key, now_unix_ms))
}

/// What a nonce amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Issued by us for this key, within its lifetime.
    Valid,
    /// Issued by us for this key, expired.
    Stale,
    /// Not ours (or for another key).
    Invalid,
}

/// Checks a nonce against `key` at `now_unix_ms`.
pub fn check_nonce(key: &[u8], nonce: &str, now_unix_ms: u64) -> NonceCheck {
    let Some((ts, tag)) = nonce.split_once('-') else {
        return NonceCheck::Invalid;
    };
    let Ok(t) = u64::from_str_radix(ts, 16) else {
        return NonceCheck::Invalid;
    };
    if ts.len() != 16 || !ct_eq(tag.as_bytes(), mac(key, t).as_bytes()) {
        return NonceCheck::Invalid;
    }
    // Issued in the future (clock stepped back) counts as fresh: it is still ours.
    if now_unix_ms.saturating_sub(t) > NONCE_LIFETIME_MS {
        NonceCheck::Stale
    } else {
        NonceCheck::Valid
    }
}

/// `WWW-Authenticate` values for an input whose password is `key`: Digest SHA-256, Digest MD5,
/// then Basic (a client takes the first it supports; ffmpeg takes the last Digest one, MD5).
pub fn challenges(key: &[u8], now_unix_ms: u64, stale: bool) -> Vec<String> {
    let nonce = make_nonce(key, now_unix_ms);
    let stale = if stale { ", stale=true" } else { "" };
    let mut out: Vec<String> = [Algorithm::Sha256, Algorithm::Md5]
        .iter()
        .map(|a| {
            format!(
                "Digest realm=\"{REALM}\", qop=\"auth\", algorithm={}, nonce=\"{nonce}\"{stale}",
                a.as_str()
            )
        })
        .collect();
    out.push(format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""));
    out
}

/// The parameters of a Digest `Authorization` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestParams {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri`: must be the request-target.
    pub uri: String,
    /// `response`: the hash the client computed.
    pub response: String,
    /// `algorithm` (absent means MD5).
    pub algorithm: Option<String>,
    /// `qop`.
    pub qop: Option<String>,
    /// `nc`.
    pub nc: Option<String>,
    /// `cnonce`.
    pub cnonce: Option<String>,
}

/// Parses `Digest k=v, k="v", …`; `None` when it is not a well-formed Digest header.
pub fn parse_digest(header: &[u8]) -> Option<DigestParams> {
    let h = std::str::from_utf8(header).ok()?.trim();
    let (scheme, mut rest) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let mut p = DigestParams::default();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let value;
        if let Some(q) = after.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => v.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            rest = &q[end?..];
        } else {
            let end = after.find(',').unwrap_or(after.len());
            value = after[..end].trim().to_string();
            rest = &after[end..];
        }
        match key.as_str() {
            "username" => p.username = value,
            "realm" => p.realm = value,
            "nonce" => p.nonce = value,
            "uri" => p.uri = value,
            "response" => p.response = value.to_ascii_lowercase(),
            "algorithm" => p.algorithm = Some(value),
            "qop" => p.qop = Some(value),
            "nc" => p.nc = Some(value),
            "cnonce" => p.cnonce = Some(value),
            _ => {}
        }
    }
    if p.username.is_empty() || p.nonce.is_empty() || p.uri.is_empty() || p.response.is_empty() {
        return None;
    }
    Some(p)
}

/// The nonce and count (`nc`, hex) of a Digest `Authorization` with `qop`; `None` for another
/// scheme or a Digest without a count.
pub fn nonce_count(header: &[u8]) -> Option<(String, u64)> {
    let p = parse_digest(header)?;
    let nc = u64::from_str_radix(p.nc.as_deref()?, 16).ok()?;
    Some((p.nonce, nc))
}

/// The `response` a client with `password` must send (RFC 7616 §3.4.1, `qop=auth` or none).
pub fn expected_response(
    alg: Algorithm,
    p: &DigestParams,
    password: &str,
    method: &str,
) -> Option<String> {
    let ha1 = alg.hex(format!("{}:{}:{password}", p.username, p.realm).as_bytes());
    let ha2 = alg.hex(format!("{method}:{}", p.uri).as_bytes());
    match p.qop.as_deref() {
        Some("auth") => {
            let (nc, cnonce) = (p.nc.as_deref()?, p.cnonce.as_deref()?);
            Some(alg.hex(format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", p.nonce).as_bytes()))
        }
        None => Some(alg.hex(format!("{ha1}:{}:{ha2}", p.nonce).as_bytes())),
        Some(_) => None,
    }
}

/// Which algorithm a header asked for; `None` for one we do not offer (`-sess`, SHA-512-256).
pub fn algorithm_of(p: &DigestParams) -> Option<Algorithm> {
    match p
        .algorithm
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("MD5") => Some(Algorithm::Md5),
        Some("SHA-256") => Some(Algorithm::Sha256),
        _ => None,
    }
}

/// Checks Digest credentials for `(username, password)`: `Some(Valid)` when they match and the
/// nonce is fresh, `Some(Stale)` when they match with an expired nonce, `None` otherwise.
/// `target` is the request-target the request was sent to: the `uri` must name it.
pub fn check(
    p: &DigestParams,
    username: &str,
    password: &str,
    method: &str,
    target: &[u8],
    now_unix_ms: u64,
) -> Option<NonceCheck> {
    let alg = algorithm_of(p)?;
    let user_ok = ct_eq(p.username.as_bytes(), username.as_bytes());
    let uri_ok = p.uri.as_bytes() == target;
    let realm_ok = p.realm == REALM;
    let want = expected_response(alg, p, password, method)?;
    let resp_ok = ct_eq(p.response.as_bytes(), want.as_bytes());
    if !(user_ok & uri_ok & realm_ok & resp_ok) {
        return None;
    }
    match check_nonce(password.as_bytes(), &p.nonce, now_unix_ms) {
        NonceCheck::Invalid => None,
        ok => Some(ok),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc7616_example_md5_and_sha256() {
        // RFC 7616 §3.9.1: Mufasa / Circle of Life.
        let mut p = DigestParams {
            username: "Mufasa".into(),
            realm: "http-auth@example.org".into(),
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
            uri: "/dir/index.html".into(),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ".into()),
            ..Default::default()
        };
        assert_eq!(
            expected_response(Algorithm::Md5, &p, "Circle of Life", "GET").unwrap(),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        p.algorithm = Some("SHA-256".into());
        assert_eq!(
            expected_response(Algorithm::Sha256, &p, "Circle of Life", "GET").unwrap(),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn nonces() {
        let n = make_nonce(b"pw", 1_000);
        assert_eq!(check_nonce(b"pw", &n, 1_000), NonceCheck::Valid);
        assert_eq!(
            check_nonce(b"pw", &n, 1_000 + NONCE_LIFETIME_MS),
            NonceCheck::Valid
        );
        assert_eq!(
            check_nonce(b"pw", &n, 1_001 + NONCE_LIFETIME_MS),
            NonceCheck::Stale
        );
        assert_eq!(check_nonce(b"other", &n, 1_000), NonceCheck::Invalid);
        let forged = format!("{:016x}-{}", 2_000u64, &n[17..]);
        assert_eq!(check_nonce(b"pw", &forged, 2_000), NonceCheck::Invalid);
        for bad in ["", "-", "zz-aa", "00000000000003e8", "3e8-00"] {
            assert_eq!(check_nonce(b"pw", bad, 1_000), NonceCheck::Invalid, "{bad}");
        }
    }

    #[test]
    fn parse_curl_and_ffmpeg_headers() {
        let curl = br#"Digest username="enc-1", realm="streampack ingest", nonce="n-1", uri="/v1/a/b/seg.ts", cnonce="Yzk3", nc=00000001, qop=auth, response="ABCDEF", algorithm=SHA-256"#;
        let p = parse_digest(curl).unwrap();
        assert_eq!(p.username, "enc-1");
        assert_eq!(p.uri, "/v1/a/b/seg.ts");
        assert_eq!(p.response, "abcdef");
        assert_eq!(p.nc.as_deref(), Some("00000001"));
        assert_eq!(p.algorithm.as_deref(), Some("SHA-256"));
        let esc = br#"digest username="a\"b", nonce="n", uri="/", response="r""#;
        assert_eq!(parse_digest(esc).unwrap().username, "a\"b");
        for bad in [
            &b"Basic abc"[..],
            b"Digest",
            b"Digest username=\"x",
            b"Digest nonce=\"n\"",
        ] {
            assert_eq!(parse_digest(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    fn signed(alg: Algorithm, user: &str, pw: &str, uri: &str, now: u64) -> DigestParams {
        let mut p = DigestParams {
            username: user.into(),
            realm: REALM.into(),
            nonce: make_nonce(pw.as_bytes(), now),
            uri: uri.into(),
            algorithm: Some(alg.as_str().into()),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("c".into()),
            ..Default::default()
        };
        p.response = expected_response(alg, &p, pw, "PUT").unwrap();
        p
    }

    #[test]
    fn check_table() {
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let p = signed(alg, "u", "pw", "/x", 5);
            assert_eq!(
                check(&p, "u", "pw", "PUT", b"/x", 5),
                Some(NonceCheck::Valid)
            );
            assert_eq!(
                check(&p, "u", "pw", "PUT", b"/x", 6 + NONCE_LIFETIME_MS),
                Some(NonceCheck::Stale)
            );
            assert!(
                check(&p, "u", "other", "PUT", b"/x", 5).is_none(),
                "password"
            );
            assert!(check(&p, "v", "pw", "PUT", b"/x", 5).is_none(), "user");
            assert!(
                check(&p, "u", "pw", "PUT", b"/y", 5).is_none(),
                "uri of another request"
            );
            assert!(check(&p, "u", "pw", "POST", b"/x", 5).is_none(), "method");
            let mut md5_sess = p.clone();
            md5_sess.algorithm = Some("MD5-sess".into());
            assert!(check(&md5_sess, "u", "pw", "PUT", b"/x", 5).is_none());
        }
    }

    proptest! {
        #[test]
        fn only_the_password_signs(pw in "[a-f0-9]{8,32}", other in "[a-f0-9]{8,32}", now in 0u64..1u64 << 50) {
            let p = signed(Algorithm::Sha256, "u", &pw, "/v1/x", now);
            prop_assert_eq!(check(&p, "u", &pw, "PUT", b"/v1/x", now), Some(NonceCheck::Valid));
            if other != pw {
                prop_assert!(check(&p, "u", &other, "PUT", b"/v1/x", now).is_none());
            }
        }
    }
}
