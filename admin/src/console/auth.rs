//! Who may use the console: a token printed at start, exchanged once for a session cookie;
//! scripts send it as a bearer token. Changes from another site are refused whatever the
//! credentials (a browser sends Origin and Sec-Fetch-Site with them).

use std::collections::HashSet;
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// Name of the session cookie.
pub const COOKIE: &str = "streampack_console";
/// Fewest characters a token given with `--token` may have.
pub const MIN_TOKEN_LEN: usize = 16;
/// Sessions kept at most; signing in past this forgets the older ones (they sign in again).
const MAX_SESSIONS: usize = 1024;

/// What the gate looks at in a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked<'a> {
    /// The request method.
    pub method: &'a str,
    /// `Authorization`.
    pub authorization: Option<&'a str>,
    /// `Cookie`.
    pub cookie: Option<&'a str>,
    /// `Origin`.
    pub origin: Option<&'a str>,
    /// `Sec-Fetch-Site`.
    pub sec_fetch_site: Option<&'a str>,
    /// `Host`.
    pub host: Option<&'a str>,
}

/// The token and the sessions signed in with it.
#[derive(Debug)]
pub struct Gate {
    token: String,
    sessions: Mutex<HashSet<String>>,
}

impl Gate {
    /// A gate for `token`.
    pub fn new(token: String) -> Gate {
        Gate {
            token,
            sessions: Mutex::new(HashSet::new()),
        }
    }

    /// Whether `given` is the token (in constant time).
    pub fn is_token(&self, given: &str) -> bool {
        bool::from(given.as_bytes().ct_eq(self.token.as_bytes()))
    }

    /// Exchanges the token for a new session id (`None`: not the token).
    pub fn sign_in(&self, given: &str) -> Option<String> {
        if !self.is_token(given) {
            return None;
        }
        let id = random_hex(32)?;
        let mut s = self.sessions.lock().ok()?;
        if s.len() >= MAX_SESSIONS {
            s.clear();
        }
        s.insert(id.clone());
        Some(id)
    }

    /// Forgets the session of this request, if any.
    pub fn sign_out(&self, a: &Asked<'_>) {
        if let (Some(id), Ok(mut s)) = (cookie_value(a.cookie, COOKIE), self.sessions.lock()) {
            s.remove(id);
        }
    }

    /// Whether the request carries the token (`Authorization: Bearer`) or a live session.
    pub fn signed_in(&self, a: &Asked<'_>) -> bool {
        if let Some(t) = a.authorization.and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        }) {
            return self.is_token(t.trim());
        }
        match (cookie_value(a.cookie, COOKIE), self.sessions.lock()) {
            (Some(id), Ok(s)) => s.contains(id),
            _ => false,
        }
    }
}

/// Whether `method` changes something (and so must come from the console's own pages).
pub fn is_change(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// Why a change must be refused as coming from another site, if it must.
pub fn cross_site(a: &Asked<'_>) -> Option<&'static str> {
    if !is_change(a.method) {
        return None;
    }
    if let Some(site) = a.sec_fetch_site {
        if site != "same-origin" && site != "none" {
            return Some("a change from another site is refused (Sec-Fetch-Site)");
        }
    }
    if let Some(origin) = a.origin {
        let own = a.host.map(|h| format!("http://{h}"));
        if own.as_deref() != Some(origin) {
            return Some("a change from another origin is refused (Origin)");
        }
    }
    None
}

/// `Set-Cookie` for session `id`: not readable by scripts, never sent by other sites.
pub fn session_cookie(id: &str) -> String {
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict")
}

/// `Set-Cookie` that ends the session in the browser.
pub fn expired_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The value of cookie `name` in a `Cookie` header.
fn cookie_value<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `bytes` random bytes as lowercase hex (`None`: the system has no randomness to give).
pub fn random_hex(bytes: usize) -> Option<String> {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).ok()?;
    Some(b.iter().map(|x| format!("{x:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "0123456789abcdef0123";

    #[test]
    fn the_token_signs_in_once_and_the_session_is_the_cookie() {
        let g = Gate::new(T.into());
        assert!(g.sign_in("wrong").is_none());
        let id = g.sign_in(T).unwrap();
        let cookie = format!("other=1; {COOKIE}={id}");
        let a = Asked {
            method: "GET",
            cookie: Some(&cookie),
            ..Asked::default()
        };
        assert!(g.signed_in(&a));
        let forged = format!("{COOKIE}={T}");
        assert!(!g.signed_in(&Asked {
            cookie: Some(&forged),
            ..a
        }));
        g.sign_out(&a);
        assert!(!g.signed_in(&a));
        assert_eq!(
            session_cookie("x"),
            "streampack_console=x; Path=/; HttpOnly; SameSite=Strict"
        );
    }

    #[test]
    fn bearer_tokens_are_checked_and_never_fall_back_to_the_cookie() {
        let g = Gate::new(T.into());
        let id = g.sign_in(T).unwrap();
        let cookie = format!("{COOKIE}={id}");
        let bearer = format!("Bearer {T}");
        for (authorization, cookie, want) in [
            (Some(bearer.as_str()), None, true),
            (Some("Bearer nope"), Some(cookie.as_str()), false),
            (Some("Basic abc"), None, false),
            (None, None, false),
            (None, Some("streampack_console="), false),
        ] {
            let a = Asked {
                method: "GET",
                authorization,
                cookie,
                ..Asked::default()
            };
            assert_eq!(g.signed_in(&a), want, "{authorization:?} {cookie:?}");
        }
    }

    #[test]
    fn changes_from_other_sites_are_refused() {
        let host = Some("127.0.0.1:8090");
        for (method, origin, site, refused) in [
            (
                "GET",
                Some("http://evil.example"),
                Some("cross-site"),
                false,
            ),
            ("POST", None, None, false),
            (
                "POST",
                Some("http://127.0.0.1:8090"),
                Some("same-origin"),
                false,
            ),
            ("DELETE", Some("http://127.0.0.1:8090"), None, false),
            ("PATCH", None, Some("none"), false),
            ("POST", Some("http://evil.example"), None, true),
            ("POST", Some("null"), None, true),
            ("DELETE", None, Some("cross-site"), true),
            (
                "PATCH",
                Some("http://127.0.0.1:8090"),
                Some("same-site"),
                true,
            ),
            ("POST", Some("https://127.0.0.1:8090"), None, true),
        ] {
            let a = Asked {
                method,
                origin,
                sec_fetch_site: site,
                host,
                ..Asked::default()
            };
            assert_eq!(
                cross_site(&a).is_some(),
                refused,
                "{method} {origin:?} {site:?}"
            );
        }
    }

    #[test]
    fn random_tokens_are_long_and_differ() {
        let a = random_hex(24).unwrap();
        assert_eq!(a.len(), 48);
        assert_ne!(a, random_hex(24).unwrap());
    }
}
