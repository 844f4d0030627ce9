//! Response heads as bytes: [`write_head`] for any response, [`error_response`] for a complete
//! plain-text error, [`CONTINUE_100`] for clients waiting on `Expect: 100-continue`.

use super::status::{HttpError, Status};

/// The interim response that tells a client to send the body it announced.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Writes `HTTP/1.1 <code> <phrase>\r\n`, then each header, then `Content-Length` when given,
/// then `Connection: close` when `!keep_alive`, then the blank line. Values are raw bytes; a CR
/// or LF in a value is written as a space so no value can inject a header or end the head.
pub fn write_head(
    out: &mut Vec<u8>,
    status: Status,
    headers: &[(&str, &[u8])],
    content_length: Option<u64>,
    keep_alive: bool,
) {
    write_head_groups(out, status, &[headers], content_length, keep_alive);
}

/// [`write_head`] over several header lists in turn, so callers need not concatenate them.
fn write_head_groups(
    out: &mut Vec<u8>,
    status: Status,
    groups: &[&[(&str, &[u8])]],
    content_length: Option<u64>,
    keep_alive: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    write_decimal(out, u64::from(status.code()));
    out.push(b' ');
    out.extend_from_slice(status.reason_phrase().as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in groups.iter().flat_map(|g| g.iter()) {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        if value.iter().any(|&b| b == b'\r' || b == b'\n') {
            out.extend(
                value
                    .iter()
                    .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
        } else {
            out.extend_from_slice(value);
        }
        out.extend_from_slice(b"\r\n");
    }
    if let Some(len) = content_length {
        out.extend_from_slice(b"Content-Length: ");
        write_decimal(out, len);
        out.extend_from_slice(b"\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A complete plain-text error response: the body is `reason` and a newline, typed
/// `text/plain; charset=utf-8`, with `extra` headers (e.g. `("Allow", b"GET, HEAD, OPTIONS")`).
/// With `head_only` (answering a HEAD request) `Content-Length` still gives the body's length
/// but the body is left out.
pub fn error_response(
    err: &HttpError,
    extra: &[(&str, &[u8])],
    keep_alive: bool,
    head_only: bool,
) -> Vec<u8> {
    let reason = err.reason.as_bytes();
    let body_len = reason.len().saturating_add(1);
    let mut out = Vec::with_capacity(128usize.saturating_add(body_len));
    let content_type: &[(&str, &[u8])] = &[("Content-Type", b"text/plain; charset=utf-8")];
    write_head_groups(
        &mut out,
        err.status,
        &[content_type, extra],
        Some(body_len as u64),
        keep_alive,
    );
    if !head_only {
        out.extend_from_slice(reason);
        out.push(b'\n');
    }
    out
}

/// Appends `n` in decimal without allocating.
fn write_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}
