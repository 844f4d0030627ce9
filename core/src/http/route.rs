//! Request-target → origin route: `/v1/<channelId>/<inputOrEndpointId>/<file path>`.
//!
//! The file path becomes a key in the channel's store (and a name in playlists), so it is
//! decoded once here and held to a safe relative-path shape: nothing that could climb out of
//! its folder, hide a separator, or carry control bytes gets past this function.

use super::status::{HttpError, Status};
use crate::id::Id;

/// Longest decoded file path, bytes.
pub const MAX_REST_LEN: usize = 1024;

/// A request under `/v1/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Path {
    /// The channel.
    pub channel: Id,
    /// The input (ingest) or endpoint (playback) id.
    pub second: Id,
    /// The percent-decoded relative file path, e.g. `hi/seg_00001.ts`.
    pub rest: String,
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
pub fn parse_v1_path(path: &[u8]) -> Result<V1Path, HttpError> {
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

/// `http://host:port/x` → `/x` (scheme case-insensitive); other targets unchanged.
fn strip_scheme_and_authority(target: &[u8]) -> &[u8] {
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
fn decode_rest(raw: &[u8]) -> Result<String, HttpError> {
    if raw.is_empty() {
        return Err(bad("empty file path"));
    }
    // Each decoded byte takes at most three raw ones: a cheap bound before any work.
    if raw.len() > MAX_REST_LEN.saturating_mul(3) {
        return Err(too_long());
    }
    let mut decoded = Vec::with_capacity(raw.len());
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
            decoded.push(b);
            i += 1;
        }
    }
    if decoded.len() > MAX_REST_LEN {
        return Err(too_long());
    }
    // Every '/' left is a real separator: encoded ones were refused above.
    for segment in decoded.split(|&b| b == b'/') {
        match segment {
            b"" => return Err(bad("empty segment in path")),
            b"." | b".." => return Err(bad("'.' or '..' segment in path")),
            _ => {}
        }
    }
    String::from_utf8(decoded).map_err(|_| bad("path is not valid UTF-8"))
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
