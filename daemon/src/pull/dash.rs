//! DASH-specific pieces of the pull listener: the MPD's media type and the `/time` clock that origin MPDs name in their
//! `UTCTiming` element, so players sync to the origin without reaching a public time server.

use streampack_core::dash::mpd::{format_datetime, UTC_TIMING_PATH};
use streampack_core::http::{write_head, RequestHead, Status};

use crate::clock;
use crate::conn::{Conn, Outcome};

/// Path of the clock (the value of the MPDs' `UTCTiming`, `urn:mpeg:dash:utc:http-iso:2014`).
pub const TIME_PATH: &[u8] = UTC_TIMING_PATH.as_bytes();

/// Answers `GET|HEAD /time` with the current UTC time, ISO 8601 with milliseconds.
/// Never cached: a clock read through a cache is wrong by the cache's age.
pub async fn serve_time(conn: &mut Conn, head: &RequestHead, head_only: bool) -> Outcome {
    let keep = head.keep_alive;
    let body = format_datetime(clock::now().unix_ms);
    let mut out = crate::send_buf::head_buf();
    write_head(
        &mut out,
        Status::OK,
        &[
            ("Content-Type", b"text/plain"),
            ("Cache-Control", b"no-store"),
            ("Access-Control-Allow-Origin", b"*"),
        ],
        Some(body.len() as u64),
        keep,
    );
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    conn.answer(Status::OK, out, keep).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_path_is_the_one_mpds_name() {
        assert_eq!(TIME_PATH, UTC_TIMING_PATH.as_bytes());
        assert_eq!(
            format_datetime(1_795_482_123_456),
            "2026-11-24T01:02:03.456Z"
        );
    }
}
