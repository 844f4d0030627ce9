//! Key delivery: `GET /v1/<channel>/<endpoint>/keys/<kid>.key` answers an encrypted
//! endpoint's content key (HLS AES-128, Shaka's `identity` key format), and `POST
//! …/keys/clearkey` a W3C ClearKey licence, to whoever passed the endpoint's IP rules and
//! AuthKey, never cached by anyone on the way (`private, no-store`).

use std::time::Duration;
use streampack_core::encryption::clearkey::{self, LICENSE_PATH, MAX_REQUEST_BYTES};
use streampack_core::http::{write_head, BodyDecoder, HttpError, Method, RequestHead, Status};
use streampack_core::media::MediaOutput;

use super::send_error;
use crate::conn::{Conn, Outcome};

/// Answers the key at `rest` of the endpoint's encrypted `output` (404 when it names none of
/// the keys its playlists name, 503 before it has any).
pub async fn serve(
    conn: &mut Conn,
    head: &RequestHead,
    output: Option<&dyn MediaOutput>,
    rest: &str,
) -> Outcome {
    let (keep, head_only) = (head.keep_alive, head.method == Method::Head);
    let Some(output) = output else {
        let e = HttpError::new(
            Status::SERVICE_UNAVAILABLE,
            "this endpoint has no content key yet: no media was encrypted",
        );
        return send_error(conn, &e, keep, head_only).await;
    };
    let Some(key) = output.content_key(rest) else {
        let e = HttpError::new(
            Status::NOT_FOUND,
            "no such key on this endpoint (keys leave with the last segment they encrypt)",
        );
        return send_error(conn, &e, keep, head_only).await;
    };
    let mut out = crate::send_buf::head_buf();
    write_head(
        &mut out,
        Status::OK,
        &[
            ("Content-Type", b"application/octet-stream"),
            ("Cache-Control", b"private, no-store"),
            ("Access-Control-Allow-Origin", b"*"),
        ],
        Some(key.key.len() as u64),
        keep,
    );
    if !head_only {
        out.extend_from_slice(&key.key);
    }
    conn.answer(Status::OK, out, keep).await
}

/// Whether a request path ends in an endpoint's ClearKey licence path.
pub fn is_license_path(path: &[u8]) -> bool {
    path.strip_suffix(LICENSE_PATH.as_bytes())
        .is_some_and(|p| p.ends_with(b"/"))
}

/// Reads a licence request's body (at most [`MAX_REQUEST_BYTES`], within 5 s).
pub async fn read_license_request(
    conn: &mut Conn,
    head: &RequestHead,
) -> Result<Vec<u8>, HttpError> {
    let dec = BodyDecoder::new(head.body, MAX_REQUEST_BYTES as u64)?;
    Ok(conn
        .read_body(dec, Duration::from_secs(5), MAX_REQUEST_BYTES)
        .await?
        .to_vec())
}

/// Answers a ClearKey licence request with the keys of the endpoint's encrypted `output`
/// that it names.
pub async fn license(
    conn: &mut Conn,
    head: &RequestHead,
    output: Option<&dyn MediaOutput>,
    request: &[u8],
) -> Outcome {
    let keep = head.keep_alive;
    let Some(output) = output else {
        let e = HttpError::new(
            Status::NOT_FOUND,
            "this endpoint has no ClearKey licences (it is not encrypted, or has no key yet)",
        );
        return send_error(conn, &e, keep, false).await;
    };
    let body = match clearkey::license(request, output.content_keys()) {
        Ok(b) => b,
        Err((status, why)) => {
            let status = if status == 404 {
                Status::NOT_FOUND
            } else {
                Status::BAD_REQUEST
            };
            return send_error(conn, &HttpError::new(status, why), keep, false).await;
        }
    };
    let mut out = crate::send_buf::head_buf();
    write_head(
        &mut out,
        Status::OK,
        &[
            ("Content-Type", b"application/json"),
            ("Cache-Control", b"private, no-store"),
            ("Access-Control-Allow-Origin", b"*"),
        ],
        Some(body.len() as u64),
        keep,
    );
    out.extend_from_slice(body.as_bytes());
    conn.answer(Status::OK, out, keep).await
}
