//! Key delivery: `GET /v1/<channel>/<endpoint>/keys/<kid>.key` answers an encrypted
//! endpoint's content key (HLS AES-128) to whoever passed the endpoint's IP rules and AuthKey,
//! never cached by anyone on the way (`private, no-store`).

use streampack_core::http::{write_head, HttpError, Method, RequestHead, Status};
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
