//! DASH-specific pieces of the pull listener: the `/time` clock that origin MPDs name in their
//! `UTCTiming` element, so players sync to the origin without reaching a public time server.

use streampack_core::http::{write_head, RequestHead, Status};

use crate::clock;
use crate::conn::Conn;

/// Path of the clock (the value of the MPDs' `UTCTiming`, `urn:mpeg:dash:utc:http-iso:2014`).
pub const TIME_PATH: &[u8] = b"/time";

/// Answers `GET|HEAD /time` with the current UTC time, ISO 8601 with milliseconds.
/// Never cached: a clock read through a cache is wrong by the cache's age.
pub async fn serve_time(conn: &mut Conn, head: &RequestHead, head_only: bool) -> bool {
    let keep = head.keep_alive;
    let body = iso8601_ms(clock::now().unix_ms);
    let mut out = Vec::with_capacity(256);
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
    conn.write(out).await && keep
}

/// `unix_ms` as `YYYY-MM-DDThh:mm:ss.mmmZ`.
pub fn iso8601_ms(unix_ms: u64) -> String {
    let ms = unix_ms % 1000;
    let secs = unix_ms / 1000;
    let (days, sod) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_table() {
        let table: &[(u64, &str)] = &[
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
            (1_795_482_123_456, "2026-11-24T01:02:03.456Z"),
            (4_102_444_800_001, "2100-01-01T00:00:00.001Z"),
        ];
        for (ms, want) in table {
            assert_eq!(iso8601_ms(*ms), *want, "{ms}");
        }
    }

    #[test]
    fn agrees_with_httpdate_on_whole_seconds() {
        for secs in (0..5_000_000_000u64).step_by(86_399_917) {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            let parsed = httpdate::parse_http_date(&httpdate::fmt_http_date(t)).unwrap();
            assert_eq!(parsed, t);
            let iso = iso8601_ms(secs * 1000);
            let http = httpdate::fmt_http_date(t);
            // "Tue, 24 Nov 2026 01:02:03 GMT": day and time must match.
            let day: u64 = http[5..7].parse().unwrap();
            assert_eq!(iso[8..10].parse::<u64>().unwrap(), day, "{iso} vs {http}");
            assert_eq!(&iso[11..19], &http[17..25], "{iso} vs {http}");
            assert_eq!(&iso[0..4], &http[12..16], "{iso} vs {http}");
        }
    }
}
