//! The clock reading callers pass into the core. The core never reads a clock itself, so
//! time-based behaviour (window sliding, timeouts, failover) is tested deterministically.

/// A reading of both clocks, taken once by the caller.
///
/// `mono_ms` drives durations and timeouts (it never jumps); `unix_ms` is only used for what a
/// client sees as wall-clock time (`Last-Modified`, sequence-number seeding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Now {
    /// Milliseconds on a monotonic clock with an arbitrary origin.
    pub mono_ms: u64,
    /// Milliseconds since the Unix epoch.
    pub unix_ms: u64,
}

impl Now {
    /// A reading `ms` milliseconds later on both clocks (handy in tests).
    pub fn plus_ms(self, ms: u64) -> Now {
        Now {
            mono_ms: self.mono_ms.saturating_add(ms),
            unix_ms: self.unix_ms.saturating_add(ms),
        }
    }
}

/// Parses an RFC 3339 / ISO 8601 date-time (`2023-11-14T22:13:20.5Z`, `+01:00`, `+0100`, `-01`;
/// no zone reads as UTC) into Unix milliseconds (HLS `EXT-X-PROGRAM-DATE-TIME`).
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = s.get(start..i)?;
        let digits: String = frac.chars().chain("000".chars()).take(3).collect();
        ms = digits.parse().ok()?;
    }
    let offset_min = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let rest = s.get(i + 1..)?.replace(':', "");
            let oh: i64 = rest.get(0..2)?.parse().ok()?;
            let om: i64 = rest.get(2..4).map_or(Some(0), |m| m.parse().ok())?;
            let m = oh * 60 + om;
            if sign == b'-' {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs * 1000 + ms)
}

/// UTC date and time with milliseconds, `2026-11-24T01:02:03.456Z`: RFC 3339, the DASH
/// `xs:dateTime` of MPDs and HLS `EXT-X-PROGRAM-DATE-TIME`. The body of `GET /time` uses the
/// same format.
pub fn format_datetime(unix_ms: u64) -> String {
    let mut s = String::with_capacity(24);
    write_datetime(&mut s, unix_ms);
    s
}

/// [`format_datetime`] appended to `out` (no allocation of its own: playlists write one per
/// segment).
pub fn write_datetime(out: &mut String, unix_ms: u64) {
    use std::fmt::Write;
    let secs = unix_ms / 1000;
    let ms = unix_ms % 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
}

/// (year, month, day) → days since 1970-01-01, proleptic Gregorian (Howard Hinnant's
/// algorithm; negative before 1970): the inverse of [`civil_from_days`].
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's
/// algorithm, for non-negative days).
pub fn civil_from_days(days: u64) -> (u64, u64, u64) {
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

/// Media `ticks` of timescale `from` in timescale `to`, rounded down (saturating).
pub fn rescale(ticks: u64, from: u32, to: u32) -> u64 {
    let v = u128::from(ticks) * u128::from(to) / u128::from(from.max(1));
    u64::try_from(v).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parses_with_zones_and_fractions() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            parse_rfc3339_ms("2023-11-14T22:13:20.000+0000"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2023-11-14T23:13:20.123+01:00"),
            Some(1_700_000_000_123)
        );
        assert_eq!(
            parse_rfc3339_ms("2023-11-14T21:13:20.123456-01"),
            Some(1_700_000_000_123)
        );
        assert_eq!(parse_rfc3339_ms("2023-13-14T21:13:20Z"), None);
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
        assert_eq!(parse_rfc3339_ms("2023-11-14T21:13:20?"), None);
    }
}
