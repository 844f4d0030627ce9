//! Request-target → origin route: `/v1/<channelId>/<inputOrEndpointId>/<file path>`.
//!
//! The file path becomes a key in the channel's store (and a name in playlists), so it is
//! decoded once here and held to a safe relative-path shape: nothing that could climb out of
//! its folder, hide a separator, or carry control bytes gets past this function.

use super::status::{HttpError, Status};
use crate::id::Id;
use std::borrow::Cow;

/// Longest decoded file path, bytes.
pub const MAX_REST_LEN: usize = 1024;

/// A request under `/v1/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Path<'a> {
    /// The channel.
    pub channel: Id,
    /// The input (ingest) or endpoint (playback) id.
    pub second: Id,
    /// The percent-decoded relative file path, e.g. `hi/seg_00001.ts` (borrowed from the
    /// target unless it had to be decoded).
    pub rest: Cow<'a, str>,
}

/// Splits `/v1/<channelId>/<inputOrEndpointId>/<rest>`; pass the target without its query
/// ([`crate::http::RequestHead::path`]). An absolute-form target (`http://host/v1/...`) is
/// accepted by dropping scheme and authority.
///
/// `rest` is percent-decoded and must be a safe relative path: non-empty, at most
/// [`MAX_REST_LEN`] bytes, segments separated by single `/`, no empty, `.` or `..` segment
/// (however encoded), no control byte, no backslash, no encoded `/`, valid UTF-8; otherwise
/// 400. A malformed id cannot exist, so it is a 404 like an unknown one; anything not under
/// `/v1/` is 404 "no such path".
pub fn parse_v1_path(path: &[u8]) -> Result<V1Path<'_>, HttpError> {
    let path = strip_scheme_and_authority(path);
    let Some(after) = path.strip_prefix(b"/v1/") else {
        return Err(not_found("no such path"));
    };
    let (channel, after) = split_segment(after);
    let channel = parse_id(channel).ok_or_else(|| not_found("unknown channel"))?;
    let Some(after) = after else {
        return Err(not_found("no such path"));
    };
    let (second, rest) = split_segment(after);
    let second = parse_id(second).ok_or_else(|| not_found("unknown input or endpoint"))?;
    let rest = decode_rest(rest.unwrap_or_default())?;
    Ok(V1Path {
        channel,
        second,
        rest,
    })
}

/// `http://host:port/x?q` → `/x?q` (scheme case-insensitive); other targets unchanged: the
/// origin-form of a request target, as sent on to another server.
pub fn strip_scheme_and_authority(target: &[u8]) -> &[u8] {
    for scheme in [&b"http://"[..], b"https://"] {
        if target.len() >= scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let authority_and_path = &target[scheme.len()..];
            let slash = authority_and_path
                .iter()
                .position(|&b| b == b'/')
                .unwrap_or(authority_and_path.len());
            return &authority_and_path[slash..];
        }
    }
    target
}

/// The segment before the next `/`, and what follows that `/` (`None` if there is none).
fn split_segment(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    match s.iter().position(|&b| b == b'/') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

fn parse_id(segment: &[u8]) -> Option<Id> {
    std::str::from_utf8(segment).ok().and_then(Id::parse)
}

/// Percent-decodes the file path and checks its shape.
fn decode_rest(raw: &[u8]) -> Result<Cow<'_, str>, HttpError> {
    if raw.is_empty() {
        return Err(bad("empty file path"));
    }
    // Each decoded byte takes at most three raw ones: a cheap bound before any work.
    if raw.len() > MAX_REST_LEN.saturating_mul(3) {
        return Err(too_long());
    }
    // Without a '%' the path is its own decoding: checked in place, not copied.
    let encoded = raw.contains(&b'%');
    let mut decoded = Vec::with_capacity(if encoded { raw.len() } else { 0 });
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b == b'%' {
            let byte = raw
                .get(i + 1..i + 3)
                .and_then(hex_pair)
                .ok_or_else(|| bad("invalid percent-encoding in path"))?;
            match byte {
                b'/' => return Err(bad("encoded '/' in path")),
                b'\\' => return Err(bad("backslash in path")),
                _ => check_byte(byte)?,
            }
            decoded.push(byte);
            i += 3;
        } else {
            if b == b'\\' {
                return Err(bad("backslash in path"));
            }
            check_byte(b)?;
            if encoded {
                decoded.push(b);
            }
            i += 1;
        }
    }
    let bytes = if encoded { &decoded[..] } else { raw };
    if bytes.len() > MAX_REST_LEN {
        return Err(too_long());
    }
    // Every '/' left is a real separator: encoded ones were refused above.
    for segment in bytes.split(|&b| b == b'/') {
        match segment {
            b"" => return Err(bad("empty segment in path")),
            b"." | b".." => return Err(bad("'.' or '..' segment in path")),
            _ => {}
        }
    }
    let text = if encoded {
        String::from_utf8(decoded).map(Cow::Owned).ok()
    } else {
        std::str::from_utf8(raw).map(Cow::Borrowed).ok()
    };
    text.ok_or_else(|| bad("path is not valid UTF-8"))
}

fn check_byte(b: u8) -> Result<(), HttpError> {
    if b < 0x20 || b == 0x7f {
        return Err(bad("control byte in path"));
    }
    Ok(())
}

fn hex_pair(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| char::from(c).to_digit(16);
    match pair {
        [hi, lo] => Some((digit(*hi)? * 16 + digit(*lo)?) as u8),
        _ => None,
    }
}

fn bad(reason: &'static str) -> HttpError {
    HttpError::new(Status::BAD_REQUEST, reason)
}

fn too_long() -> HttpError {
    HttpError::new(
        Status::BAD_REQUEST,
        format!("file path longer than {MAX_REST_LEN} bytes"),
    )
}

fn not_found(reason: &'static str) -> HttpError {
    HttpError::new(Status::NOT_FOUND, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "0123456789abcdef0123456789ab";
    const I: &str = "ba9876543210fedcba9876543210";

    fn route(rest: &str) -> Result<V1Path<'static>, HttpError> {
        let path = format!("/v1/{C}/{I}/{rest}");
        parse_v1_path(path.as_bytes()).map(|r| V1Path {
            rest: Cow::Owned(r.rest.into_owned()),
            ..r
        })
    }

    #[test]
    fn a_path_without_percent_is_borrowed_not_copied() {
        let path = format!("/v1/{C}/{I}/hi/seg_00001.ts");
        let r = parse_v1_path(path.as_bytes()).unwrap();
        assert!(matches!(r.rest, Cow::Borrowed("hi/seg_00001.ts")), "{r:?}");
        let path = format!("/v1/{C}/{I}/with%20space.ts");
        let r = parse_v1_path(path.as_bytes()).unwrap();
        assert!(
            matches!(r.rest, Cow::Owned(ref s) if s == "with space.ts"),
            "{r:?}"
        );
    }

    #[test]
    fn good_paths() {
        let table: &[(&str, &str)] = &[
            ("main.m3u8", "main.m3u8"),
            ("seg_00001.ts", "seg_00001.ts"),
            ("hi/seg_00001.m4s", "hi/seg_00001.m4s"),
            ("a/b/c/init.mp4", "a/b/c/init.mp4"),
            ("chunk-stream0-00001.m4s", "chunk-stream0-00001.m4s"),
            ("with%20space.ts", "with space.ts"),
            ("caf%C3%A9.ts", "café.ts"),
            ("café.ts", "café.ts"),
            ("%41%62c", "Abc"),
            ("...", "..."),
            ("..a/.b/c..", "..a/.b/c.."),
            ("a%25b", "a%b"),
            ("a+b", "a+b"),
        ];
        for (rest, want) in table {
            let r = route(rest).unwrap_or_else(|e| panic!("{rest:?}: {e}"));
            assert_eq!(r.rest, *want, "{rest:?}");
            assert_eq!(r.channel.as_str(), C);
            assert_eq!(r.second.as_str(), I);
        }
        let longest = "a".repeat(MAX_REST_LEN);
        assert_eq!(route(&longest).unwrap().rest, longest);
        let longest_encoded = "%61".repeat(MAX_REST_LEN);
        assert_eq!(route(&longest_encoded).unwrap().rest, longest);
    }

    #[test]
    fn unsafe_paths_are_400() {
        let long = "a".repeat(MAX_REST_LEN + 1);
        let long_encoded = "%61".repeat(MAX_REST_LEN + 1);
        let table: &[(&str, &str)] = &[
            ("", "empty file path"),
            ("/", "empty segment"),
            ("/etc/passwd", "empty segment"),
            ("a//b", "empty segment"),
            ("a/", "empty segment"),
            (".", "'..' segment"),
            ("..", "'..' segment"),
            ("../x", "'..' segment"),
            ("a/../../x", "'..' segment"),
            ("a/./b", "'..' segment"),
            ("%2e%2e/x", "'..' segment"),
            ("%2E%2E/x", "'..' segment"),
            ("%2E./x", "'..' segment"),
            (".%2e/x", "'..' segment"),
            ("a/%2e", "'..' segment"),
            ("a%2Fb", "encoded '/'"),
            ("a%2fb", "encoded '/'"),
            ("..%2F..%2Fetc", "encoded '/'"),
            ("a\\b", "backslash"),
            ("..\\x", "backslash"),
            ("a%5Cb", "backslash"),
            ("a%5cb", "backslash"),
            ("a%00b", "control byte"),
            ("a\u{0}b", "control byte"),
            ("a%0Ab", "control byte"),
            ("a%0d%0ab", "control byte"),
            ("a\tb", "control byte"),
            ("a%7Fb", "control byte"),
            ("a%1", "percent-encoding"),
            ("a%", "percent-encoding"),
            ("a%zz", "percent-encoding"),
            ("a%%41", "percent-encoding"),
            ("%ff%fe", "UTF-8"),
            ("%C3", "UTF-8"),
            (&long, "longer than 1024"),
            (&long_encoded, "longer than 1024"),
        ];
        for (rest, reason) in table {
            let err = route(rest).expect_err(rest);
            assert_eq!(err.status, Status::BAD_REQUEST, "{rest:?}: {err}");
            assert!(err.reason.contains(reason), "{rest:?}: {err}");
        }
        let raw_invalid = [format!("/v1/{C}/{I}/").into_bytes(), b"\xff.ts".to_vec()].concat();
        assert!(parse_v1_path(&raw_invalid)
            .unwrap_err()
            .reason
            .contains("UTF-8"));
        let missing_rest = format!("/v1/{C}/{I}");
        assert_eq!(
            parse_v1_path(missing_rest.as_bytes()).unwrap_err().status,
            Status::BAD_REQUEST
        );
    }

    #[test]
    fn unknown_routes_are_404() {
        let table: Vec<(String, &str)> = vec![
            ("/".into(), "no such path"),
            ("".into(), "no such path"),
            ("/v1".into(), "no such path"),
            ("/v2/x".into(), "no such path"),
            ("/V1/x".into(), "no such path"),
            ("//v1/x".into(), "no such path"),
            ("v1/x".into(), "no such path"),
            ("/favicon.ico".into(), "no such path"),
            (format!("/v1/{C}"), "no such path"),
            (format!("/v1/{C}/"), "unknown input or endpoint"),
            ("/v1/".into(), "unknown channel"),
            ("/v1//x/y".into(), "unknown channel"),
            ("/v1/nothex/x/y".into(), "unknown channel"),
            (format!("/v1/{}/{I}/a", C.to_uppercase()), "unknown channel"),
            (format!("/v1/{C}0/{I}/a"), "unknown channel"),
            (format!("/v1/%30{}/{I}/a", &C[1..]), "unknown channel"),
            (format!("/v1/{C}/short/a"), "unknown input or endpoint"),
            (format!("/v1/{C}//a"), "unknown input or endpoint"),
            ("http://host".into(), "no such path"),
            ("http://host/v2/x".into(), "no such path"),
        ];
        for (path, reason) in &table {
            let err = parse_v1_path(path.as_bytes()).expect_err(path);
            assert_eq!(err.status, Status::NOT_FOUND, "{path:?}: {err}");
            assert_eq!(err.reason, *reason, "{path:?}");
        }
    }

    #[test]
    fn absolute_form() {
        for prefix in [
            "http://origin",
            "HTTP://origin:8080",
            "https://a.b.c",
            "http://[::1]:80",
        ] {
            let target = format!("{prefix}/v1/{C}/{I}/main.m3u8");
            let r = parse_v1_path(target.as_bytes()).unwrap_or_else(|e| panic!("{target}: {e}"));
            assert_eq!(r.rest, "main.m3u8");
        }
    }
}
