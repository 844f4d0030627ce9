//! Who may use the console: a token printed at start, exchanged once for a session cookie;
//! scripts send it as a bearer token. A change (POST, PATCH, DELETE) must come from the
//! console's own page — its `Origin` is the console's, or its `Sec-Fetch-Site` says
//! same-origin — unless it carries the bearer token, which no other site can send.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Name of the session cookie.
pub const COOKIE: &str = "streampack_console";
/// Fewest characters a token given with `--token` may have.
pub const MIN_TOKEN_LEN: usize = 16;
/// Sessions kept at most; signing in past this forgets the older ones (they sign in again).
const MAX_SESSIONS: usize = 1024;
/// How long a session lasts.
pub const SESSION_LIFE: Duration = Duration::from_secs(12 * 3600);

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
    /// Session id → when it began.
    sessions: Mutex<HashMap<String, Instant>>,
    /// The origin browsers reach the console at through a proxy (`https://console.example`),
    /// besides `http://` + the `Host` they ask for.
    public_origin: Option<String>,
}

impl Gate {
    /// A gate for `token`; `public_origin` as [`Gate::public_origin`] says.
    pub fn new(token: String, public_origin: Option<String>) -> Gate {
        Gate {
            token,
            sessions: Mutex::new(HashMap::new()),
            public_origin,
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
        s.retain(|_, began| began.elapsed() < SESSION_LIFE);
        if s.len() >= MAX_SESSIONS {
            s.clear();
        }
        s.insert(id.clone(), Instant::now());
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
        if let Some(t) = bearer(a) {
            return self.is_token(t);
        }
        match (cookie_value(a.cookie, COOKIE), self.sessions.lock()) {
            (Some(id), Ok(s)) => s.get(id).is_some_and(|b| b.elapsed() < SESSION_LIFE),
            _ => false,
        }
    }

    /// Why a change must be refused as not coming from the console's own page, if it must.
    pub fn cross_site(&self, a: &Asked<'_>) -> Option<&'static str> {
        if !is_change(a.method) {
            return None;
        }
        if let Some(site) = a.sec_fetch_site {
            if site != "same-origin" && site != "none" {
                return Some("a change from another site is refused (Sec-Fetch-Site)");
            }
        }
        if let Some(origin) = a.origin {
            let own = a
                .host
                .is_some_and(|h| origin.strip_prefix("http://") == Some(h))
                || self.public_origin.as_deref() == Some(origin);
            if !own {
                return Some(
                    "a change from another origin is refused (Origin; behind a proxy, start the \
                     console with --public-origin)",
                );
            }
            return None;
        }
        if a.sec_fetch_site.is_none() && bearer(a).is_none() {
            return Some(
                "a change must come from the console's page (Origin) or carry the bearer token",
            );
        }
        None
    }

    /// `Set-Cookie` for session `id`: not readable by scripts, never sent by other sites,
    /// only over TLS when the console is reached over https.
    pub fn session_cookie(&self, id: &str) -> String {
        format!(
            "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
            SESSION_LIFE.as_secs(),
            self.secure()
        )
    }

    /// `Set-Cookie` that ends the session in the browser.
    pub fn expired_cookie(&self) -> String {
        format!(
            "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
            self.secure()
        )
    }

    fn secure(&self) -> &'static str {
        if self
            .public_origin
            .as_deref()
            .is_some_and(|o| o.starts_with("https://"))
        {
            "; Secure"
        } else {
            ""
        }
    }
}

/// The bearer token of a request.
fn bearer<'a>(a: &Asked<'a>) -> Option<&'a str> {
    a.authorization
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// Whether `token` may be a console token: at least [`MIN_TOKEN_LEN`] characters a URL carries
/// as they are (letters, digits, `-._~`).
pub fn token_ok(token: &str) -> bool {
    token.len() >= MIN_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Whether `method` changes something (and so must come from the console's own pages).
pub fn is_change(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
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
        let g = Gate::new(T.into(), None);
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
            g.session_cookie("x"),
            "streampack_console=x; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200"
        );
        let behind_tls = Gate::new(T.into(), Some("https://console.example".into()));
        assert!(behind_tls.session_cookie("x").ends_with("; Secure"));
        assert!(behind_tls.expired_cookie().contains("Max-Age=0; Secure"));
    }

    #[test]
    fn bearer_tokens_are_checked_and_never_fall_back_to_the_cookie() {
        let g = Gate::new(T.into(), None);
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
    fn changes_come_from_the_consoles_page_or_carry_the_token() {
        let g = Gate::new(T.into(), Some("https://console.example".into()));
        let host = Some("127.0.0.1:8090");
        let bearer = format!("Bearer {T}");
        let b = Some(bearer.as_str());
        for (method, origin, site, auth, refused) in [
            (
                "GET",
                Some("http://evil.example"),
                Some("cross-site"),
                None,
                false,
            ),
            (
                "POST",
                Some("http://127.0.0.1:8090"),
                Some("same-origin"),
                None,
                false,
            ),
            ("DELETE", Some("http://127.0.0.1:8090"), None, None, false),
            ("PATCH", None, Some("same-origin"), None, false),
            (
                "POST",
                Some("https://console.example"),
                Some("same-origin"),
                None,
                false,
            ),
            // A script with the token sends neither header.
            ("POST", None, None, b, false),
            // A cookie alone, with neither header: not provably the console's page.
            ("POST", None, None, None, true),
            ("POST", Some("http://evil.example"), None, None, true),
            ("POST", Some("http://evil.example"), None, b, true),
            ("POST", Some("null"), None, None, true),
            ("DELETE", None, Some("cross-site"), None, true),
            (
                "PATCH",
                Some("http://127.0.0.1:8090"),
                Some("same-site"),
                None,
                true,
            ),
            ("POST", Some("https://127.0.0.1:8090"), None, None, true),
            ("POST", Some("http://127.0.0.1:8091"), None, None, true),
        ] {
            let a = Asked {
                method,
                origin,
                sec_fetch_site: site,
                host,
                authorization: auth,
                ..Asked::default()
            };
            assert_eq!(
                g.cross_site(&a).is_some(),
                refused,
                "{method} {origin:?} {site:?} {auth:?}"
            );
        }
    }

    #[test]
    fn tokens_are_long_and_url_safe() {
        let a = random_hex(24).unwrap();
        assert_eq!(a.len(), 48);
        assert!(token_ok(&a));
        assert_ne!(a, random_hex(24).unwrap());
        assert!(!token_ok("short-token"));
        assert!(!token_ok("has spaces in it, a long one"));
        assert!(!token_ok("ampersand&and#hash-0123456"));
        assert!(token_ok("console-test-token_0123.~"));
    }
}
