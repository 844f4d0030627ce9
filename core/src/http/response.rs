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

#[cfg(test)]
mod tests {
    use super::*;

    fn head(
        status: Status,
        headers: &[(&str, &[u8])],
        len: Option<u64>,
        keep_alive: bool,
    ) -> String {
        let mut out = Vec::new();
        write_head(&mut out, status, headers, len, keep_alive);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn heads_on_the_wire() {
        assert_eq!(
            head(
                Status::OK,
                &[("Content-Type", b"video/mp2t")],
                Some(1316),
                true
            ),
            "HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nContent-Length: 1316\r\n\r\n"
        );
        assert_eq!(
            head(Status::NO_CONTENT, &[], None, false),
            "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            head(Status::CREATED, &[], Some(0), true),
            "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(
            head(Status::OK, &[], Some(u64::MAX), true),
            "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n"
        );
        assert_eq!(
            head(Status(299), &[], None, true),
            "HTTP/1.1 299 Unknown\r\n\r\n"
        );
    }

    #[test]
    fn header_values_cannot_break_the_head() {
        assert_eq!(
            head(Status::OK, &[("X", b"a\r\nSet-Cookie: b\n")], None, true),
            "HTTP/1.1 200 OK\r\nX: a  Set-Cookie: b \r\n\r\n"
        );
    }

    #[test]
    fn decimal_digits() {
        for n in [0u64, 7, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            write_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn error_responses() {
        let err = HttpError::new(Status::METHOD_NOT_ALLOWED, "method not allowed");
        let full = error_response(&err, &[("Allow", b"GET, HEAD, OPTIONS")], true, false);
        assert_eq!(
            String::from_utf8(full).unwrap(),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Allow: GET, HEAD, OPTIONS\r\nContent-Length: 19\r\n\r\nmethod not allowed\n"
        );
        let head_only = error_response(&err, &[], false, true);
        assert_eq!(
            String::from_utf8(head_only).unwrap(),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 19\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn continue_line() {
        assert_eq!(CONTINUE_100, b"HTTP/1.1 100 Continue\r\n\r\n");
    }
}
