//! Ingest credentials of one input: a username and a password the daemon generated, checked
//! against HTTP Basic `Authorization` headers. Rotating replaces both; the old password may stay
//! valid for a grace window so encoders can be moved over without losing a segment.

use super::ct_eq;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Random bytes one credential pair is drawn from (the daemon fills them from the OS).
pub const RANDOM_BYTES: usize = 20;

/// Credentials of an input with authentication enabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputAuth {
    /// Generated username.
    pub username: String,
    /// Generated password (32 hex characters, 128 bits).
    pub password: String,
    /// The credentials before the last rotation, while their grace window lasts.
    #[serde(default)]
    pub previous: Option<PreviousPassword>,
}

/// Credentials replaced by a rotation, accepted until `valid_until_unix_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousPassword {
    /// Username before the rotation.
    pub username: String,
    /// Password before the rotation.
    pub password: String,
    /// Accepted strictly before this time.
    pub valid_until_unix_ms: u64,
}

impl InputAuth {
    /// Fresh credentials from `random`: username `enc-` + 8 hex, password 32 hex.
    pub fn generate(random: [u8; RANDOM_BYTES]) -> InputAuth {
        InputAuth {
            username: format!("enc-{}", crate::hex::encode(&random[..4])),
            password: crate::hex::encode(&random[4..]),
            previous: None,
        }
    }

    /// Replaces the credentials. With `grace_secs > 0` the current ones stay valid until
    /// `now_unix_ms + grace`; with 0 they fail from now on.
    pub fn rotate(&self, random: [u8; RANDOM_BYTES], now_unix_ms: u64, grace_secs: u32) -> Self {
        let mut next = InputAuth::generate(random);
        if grace_secs > 0 {
            next.previous = Some(PreviousPassword {
                username: self.username.clone(),
                password: self.password.clone(),
                valid_until_unix_ms: now_unix_ms.saturating_add(u64::from(grace_secs) * 1000),
            });
        }
        next
    }
}

/// What an `Authorization` header amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Current (or still-in-grace previous) credentials.
    Ok,
    /// No `Authorization` header, or not a Basic one.
    Missing,
    /// Credentials that do not match.
    Wrong,
    /// Right Digest credentials on an expired nonce: answer 401 with `stale=true`.
    Stale,
}

/// Splits `Basic base64(user:pass)`; `None` when it is not a well-formed Basic header.
pub fn parse_basic(header: &[u8]) -> Option<(String, String)> {
    let h = header.trim_ascii();
    let (scheme, rest) = match h.iter().position(|&b| b == b' ') {
        Some(i) => (&h[..i], h[i..].trim_ascii()),
        None => return None,
    };
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest)
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

/// Checks an `Authorization` header against `auth` at `now_unix_ms`. Both the current and the
/// previous credentials are always compared (in constant time), so timing tells nothing.
pub fn check_basic(auth: &InputAuth, header: Option<&[u8]>, now_unix_ms: u64) -> AuthOutcome {
    let Some((user, pass)) = header.and_then(parse_basic) else {
        return AuthOutcome::Missing;
    };
    let cur = ct_eq(user.as_bytes(), auth.username.as_bytes())
        & ct_eq(pass.as_bytes(), auth.password.as_bytes());
    let prev = auth.previous.as_ref().is_some_and(|p| {
        let m = ct_eq(user.as_bytes(), p.username.as_bytes())
            & ct_eq(pass.as_bytes(), p.password.as_bytes());
        m & (now_unix_ms < p.valid_until_unix_ms)
    });
    if cur | prev {
        AuthOutcome::Ok
    } else {
        AuthOutcome::Wrong
    }
}

/// Checks an `Authorization` header, Basic or Digest (RFC 7616, MD5 or SHA-256), against
/// `auth` for a request `method target` at `now_unix_ms`. Credentials in their grace window
/// count like the current ones.
pub fn check_request(
    auth: &InputAuth,
    header: Option<&[u8]>,
    method: &str,
    target: &[u8],
    now_unix_ms: u64,
) -> AuthOutcome {
    let Some(h) = header else {
        return AuthOutcome::Missing;
    };
    if let Some(p) = super::digest::parse_digest(h) {
        use super::digest::{check, NonceCheck};
        let mut pairs = vec![(auth.username.as_str(), auth.password.as_str())];
        if let Some(prev) = auth
            .previous
            .as_ref()
            .filter(|p| now_unix_ms < p.valid_until_unix_ms)
        {
            pairs.push((prev.username.as_str(), prev.password.as_str()));
        }
        let mut out = AuthOutcome::Wrong;
        for (u, pw) in pairs {
            match check(&p, u, pw, method, target, now_unix_ms) {
                Some(NonceCheck::Valid) => return AuthOutcome::Ok,
                Some(_) => out = AuthOutcome::Stale,
                None => {}
            }
        }
        return out;
    }
    check_basic(auth, Some(h), now_unix_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn basic(u: &str, p: &str) -> Vec<u8> {
        let enc = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        format!("Basic {enc}").into_bytes()
    }

    type Row<'a> = (&'a [u8], Option<(&'a str, &'a str)>);

    #[test]
    fn parse_table() {
        let table: &[Row<'_>] = &[
            (b"Basic dXNlcjpwYXNz", Some(("user", "pass"))),
            (b"basic   dXNlcjpwYXNz ", Some(("user", "pass"))),
            (b"Basic dXNlcjpwYTpzcw==", Some(("user", "pa:ss"))),
            (b"Basic dXNlcg==", None),
            (b"Basic !!!", None),
            (b"Bearer dXNlcjpwYXNz", None),
            (b"Basic", None),
            (b"", None),
        ];
        for (h, want) in table {
            let got = parse_basic(h);
            let want = want.map(|(u, p)| (u.to_string(), p.to_string()));
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(h));
        }
    }

    #[test]
    fn generated_credentials_look_right() {
        let a = InputAuth::generate([7; RANDOM_BYTES]);
        assert_eq!(a.username, "enc-07070707");
        assert_eq!(a.password.len(), 32);
        assert!(a.password.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn rotation_without_grace_refuses_old_at_once() {
        let a = InputAuth::generate([1; RANDOM_BYTES]);
        let b = a.rotate([2; RANDOM_BYTES], 1_000, 0);
        let old = basic(&a.username, &a.password);
        let new = basic(&b.username, &b.password);
        assert_eq!(check_basic(&b, Some(&old), 1_000), AuthOutcome::Wrong);
        assert_eq!(check_basic(&b, Some(&new), 1_000), AuthOutcome::Ok);
        assert_eq!(check_basic(&b, None, 1_000), AuthOutcome::Missing);
    }

    #[test]
    fn rotation_with_grace_accepts_both_until_it_ends() {
        let a = InputAuth::generate([1; RANDOM_BYTES]);
        let b = a.rotate([2; RANDOM_BYTES], 10_000, 30);
        let old = basic(&a.username, &a.password);
        let new = basic(&b.username, &b.password);
        assert_eq!(check_basic(&b, Some(&old), 39_999), AuthOutcome::Ok);
        assert_eq!(check_basic(&b, Some(&new), 39_999), AuthOutcome::Ok);
        assert_eq!(check_basic(&b, Some(&old), 40_000), AuthOutcome::Wrong);
        assert_eq!(check_basic(&b, Some(&new), 40_000), AuthOutcome::Ok);
        // A second rotation drops the first credentials entirely.
        let c = b.rotate([3; RANDOM_BYTES], 20_000, 0);
        assert_eq!(check_basic(&c, Some(&old), 20_000), AuthOutcome::Wrong);
        assert_eq!(check_basic(&c, Some(&new), 20_000), AuthOutcome::Wrong);
    }

    #[test]
    fn mixed_old_user_new_password_is_wrong() {
        let a = InputAuth::generate([1; RANDOM_BYTES]);
        let b = a.rotate([2; RANDOM_BYTES], 0, 60);
        let mixed = basic(&a.username, &b.password);
        assert_eq!(check_basic(&b, Some(&mixed), 1), AuthOutcome::Wrong);
    }

    #[test]
    fn digest_with_rotation_and_grace() {
        use crate::access::digest::{
            expected_response, make_nonce, Algorithm, DigestParams, REALM,
        };
        let header = |u: &str, pw: &str, nonce_key: &str, now: u64| {
            let mut p = DigestParams {
                username: u.into(),
                realm: REALM.into(),
                nonce: make_nonce(nonce_key.as_bytes(), now),
                uri: "/v1/c/i/seg.ts".into(),
                algorithm: Some("SHA-256".into()),
                qop: Some("auth".into()),
                nc: Some("00000001".into()),
                cnonce: Some("abc".into()),
                ..Default::default()
            };
            p.response = expected_response(Algorithm::Sha256, &p, pw, "PUT").unwrap();
            format!(
                r#"Digest username="{}", realm="{REALM}", nonce="{}", uri="{}", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="abc", response="{}""#,
                p.username, p.nonce, p.uri, p.response
            )
        };
        let a = InputAuth::generate([1; RANDOM_BYTES]);
        let t = b"/v1/c/i/seg.ts";
        let h = header(&a.username, &a.password, &a.password, 0);
        assert_eq!(
            check_request(&a, Some(h.as_bytes()), "PUT", t, 0),
            AuthOutcome::Ok
        );
        assert_eq!(
            check_request(&a, Some(h.as_bytes()), "PUT", b"/v1/c/i/other.ts", 0),
            AuthOutcome::Wrong
        );
        let late = crate::access::digest::NONCE_LIFETIME_MS + 1;
        assert_eq!(
            check_request(&a, Some(h.as_bytes()), "PUT", t, late),
            AuthOutcome::Stale
        );
        let b = a.rotate([2; RANDOM_BYTES], 0, 10);
        assert_eq!(
            check_request(&b, Some(h.as_bytes()), "PUT", t, 5_000),
            AuthOutcome::Ok
        );
        assert_eq!(
            check_request(&b, Some(h.as_bytes()), "PUT", t, 10_000),
            AuthOutcome::Wrong
        );
        let c = a.rotate([3; RANDOM_BYTES], 0, 0);
        assert_eq!(
            check_request(&c, Some(h.as_bytes()), "PUT", t, 0),
            AuthOutcome::Wrong
        );
        let basic = basic(&c.username, &c.password);
        assert_eq!(
            check_request(&c, Some(&basic), "PUT", t, 0),
            AuthOutcome::Ok
        );
    }

    proptest! {
        #[test]
        fn only_the_exact_pair_passes(seed in any::<[u8; RANDOM_BYTES]>(), u in "[ -~]{0,20}", p in "[ -~]{0,40}") {
            let a = InputAuth::generate(seed);
            let h = basic(&u, &p);
            let want = if u == a.username && p == a.password { AuthOutcome::Ok } else { AuthOutcome::Wrong };
            prop_assert_eq!(check_basic(&a, Some(&h), 0), want);
            prop_assert_eq!(check_basic(&a, Some(&basic(&a.username, &a.password)), 0), AuthOutcome::Ok);
        }

        #[test]
        fn parse_basic_round_trips(u in "[^:]{0,20}", p in ".{0,40}") {
            prop_assert_eq!(parse_basic(&basic(&u, &p)), Some((u, p)));
        }
    }
}
