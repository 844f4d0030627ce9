//! Conditional and partial GETs (RFC 9110 §13–14): [`parse_range`] interprets a `Range`
//! header against a representation's length, [`if_none_match_matches`] decides a 304.
//!
//! Anything the origin does not understand in `Range` is ignored (the whole representation is
//! served, which RFC 9110 §14.2 allows); only a well-formed range that misses the
//! representation is a 416.

use super::head::{parse_decimal, trim_ows};

/// What to answer to a `Range` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOutcome {
    /// Serve the whole representation (200).
    Full,
    /// Serve these bytes (206 with `Content-Range: bytes start-end/len`).
    Partial {
        /// First byte.
        start: u64,
        /// Last byte, inclusive, always below the length.
        end_inclusive: u64,
    },
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Interprets a `Range` header value against a representation of `len` bytes:
/// `bytes=a-b`, `bytes=a-`, `bytes=-suffix` (unit case-insensitive). Several ranges, other
/// units and invalid syntax give [`RangeOutcome::Full`]; a start at or beyond `len`, a zero
/// suffix, or any range of an empty representation give [`RangeOutcome::Unsatisfiable`]; an
/// end beyond the representation is clamped to `len - 1`.
pub fn parse_range(value: &[u8], len: u64) -> RangeOutcome {
    let value = trim_ows(value);
    let Some(eq) = value.iter().position(|&b| b == b'=') else {
        return RangeOutcome::Full;
    };
    if !trim_ows(&value[..eq]).eq_ignore_ascii_case(b"bytes") {
        return RangeOutcome::Full;
    }
    let mut ranges = value[eq + 1..]
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|r| !r.is_empty());
    let (Some(range), None) = (ranges.next(), ranges.next()) else {
        return RangeOutcome::Full;
    };
    let Some(dash) = range.iter().position(|&b| b == b'-') else {
        return RangeOutcome::Full;
    };
    let (first, last) = (&range[..dash], &range[dash + 1..]);
    match (first.is_empty(), last.is_empty()) {
        (true, true) => RangeOutcome::Full,
        (true, false) => {
            let Some(suffix) = parse_position(last) else {
                return RangeOutcome::Full;
            };
            if suffix == 0 || len == 0 {
                return RangeOutcome::Unsatisfiable;
            }
            RangeOutcome::Partial {
                start: len.saturating_sub(suffix),
                end_inclusive: len - 1,
            }
        }
        (false, open) => {
            let Some(start) = parse_position(first) else {
                return RangeOutcome::Full;
            };
            let end = if open {
                u64::MAX
            } else {
                match parse_position(last) {
                    Some(end) if end >= start => end,
                    _ => return RangeOutcome::Full,
                }
            };
            if start >= len {
                return RangeOutcome::Unsatisfiable;
            }
            RangeOutcome::Partial {
                start,
                end_inclusive: end.min(len - 1),
            }
        }
    }
}

/// A byte position: digits only; a value too large for `u64` saturates (it is beyond any
/// representation, which is what it means).
fn parse_position(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(parse_decimal(digits).unwrap_or(u64::MAX))
}

/// Whether an `If-None-Match` value matches `etag` (given quoted, e.g. `"abc"`, possibly
/// `W/"abc"`) under weak comparison: `*`, or a comma-separated list of `"tag"` / `W/"tag"`
/// containing the same opaque tag. A malformed list matches nothing after the fault.
pub fn if_none_match_matches(value: &[u8], etag: &str) -> bool {
    let value = trim_ows(value);
    if value == b"*" {
        return true;
    }
    let Some(wanted) = opaque_tag(etag.as_bytes()) else {
        return false;
    };
    let mut rest = value;
    loop {
        rest = skip_list_separators(rest);
        if rest.is_empty() {
            return false;
        }
        let tag_start = if rest.starts_with(b"W/") { 2 } else { 0 };
        let Some(after_quote) = rest.get(tag_start..).and_then(|r| r.strip_prefix(b"\"")) else {
            return false;
        };
        // Commas are legal inside a tag, so the list is split at closing quotes.
        let Some(close) = after_quote.iter().position(|&b| b == b'"') else {
            return false;
        };
        if &after_quote[..close] == wanted {
            return true;
        }
        rest = &after_quote[close + 1..];
        let next = skip_ows(rest);
        if !(next.is_empty() || next.starts_with(b",")) {
            return false;
        }
    }
}

/// The bytes between the quotes of `"tag"` or `W/"tag"`.
fn opaque_tag(etag: &[u8]) -> Option<&[u8]> {
    let etag = trim_ows(etag);
    let etag = etag.strip_prefix(b"W/").unwrap_or(etag);
    etag.strip_prefix(b"\"")?.strip_suffix(b"\"")
}

fn skip_ows(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &s[n..]
}

fn skip_list_separators(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t' || b == b',')
        .count();
    &s[n..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeOutcome::{Full, Partial, Unsatisfiable};

    fn part(start: u64, end_inclusive: u64) -> RangeOutcome {
        Partial {
            start,
            end_inclusive,
        }
    }

    #[test]
    fn ranges() {
        let table: &[(&str, u64, RangeOutcome)] = &[
            ("bytes=0-99", 1000, part(0, 99)),
            ("bytes=0-0", 1000, part(0, 0)),
            ("bytes=100-", 1000, part(100, 999)),
            ("bytes=0-", 1000, part(0, 999)),
            ("bytes=-100", 1000, part(900, 999)),
            ("bytes=-5000", 1000, part(0, 999)),
            ("bytes=500-5000", 1000, part(500, 999)),
            ("bytes=999-999", 1000, part(999, 999)),
            ("Bytes=1-2", 1000, part(1, 2)),
            ("BYTES = 1-2", 1000, part(1, 2)),
            (" bytes=1-2 ", 1000, part(1, 2)),
            ("bytes= 1-2 ,", 1000, part(1, 2)),
            ("bytes=0-99999999999999999999999", 10, part(0, 9)),
            ("bytes=-99999999999999999999999", 10, part(0, 9)),
            // Unsatisfiable: start at or past the end, a zero suffix, nothing to serve.
            ("bytes=1000-", 1000, Unsatisfiable),
            ("bytes=1000-2000", 1000, Unsatisfiable),
            ("bytes=99999999999999999999999-", 10, Unsatisfiable),
            ("bytes=-0", 1000, Unsatisfiable),
            ("bytes=0-", 0, Unsatisfiable),
            ("bytes=-5", 0, Unsatisfiable),
            // Ignored: whole representation.
            ("bytes=0-1,5-6", 1000, Full),
            ("bytes=0-1, -5", 1000, Full),
            ("items=0-1", 1000, Full),
            ("bytes 0-1", 1000, Full),
            ("bytes=", 1000, Full),
            ("bytes=-", 1000, Full),
            ("bytes=5", 1000, Full),
            ("bytes=5-1", 1000, Full),
            ("bytes=a-b", 1000, Full),
            ("bytes=1-2x", 1000, Full),
            ("bytes=+1-2", 1000, Full),
            ("bytes=1--2", 1000, Full),
            ("bytes=- 5", 1000, Full),
            ("", 1000, Full),
            ("bytes=5-1", 0, Full),
        ];
        for (value, len, want) in table {
            assert_eq!(
                parse_range(value.as_bytes(), *len),
                *want,
                "{value:?} of {len}"
            );
        }
    }

    #[test]
    fn if_none_match() {
        let table: &[(&str, &str, bool)] = &[
            ("\"abc\"", "\"abc\"", true),
            ("*", "\"abc\"", true),
            (" * ", "\"abc\"", true),
            ("W/\"abc\"", "\"abc\"", true),
            ("\"abc\"", "W/\"abc\"", true),
            ("\"x\", \"abc\"", "\"abc\"", true),
            ("\"x\",W/\"abc\" , \"y\"", "\"abc\"", true),
            (",, \"abc\"", "\"abc\"", true),
            ("\"a,b\"", "\"a,b\"", true),
            ("\"a,b\"", "\"a\"", false),
            ("\"abc\"", "\"abcd\"", false),
            ("\"ABC\"", "\"abc\"", false),
            ("\"x\", \"y\"", "\"abc\"", false),
            ("abc", "\"abc\"", false),
            ("w/\"abc\"", "\"abc\"", false),
            ("\"abc", "\"abc\"", false),
            ("\"x\"junk, \"abc\"", "\"abc\"", false),
            ("", "\"abc\"", false),
            ("\"abc\"", "abc", false),
            ("\"\"", "\"\"", true),
        ];
        for (value, etag, want) in table {
            assert_eq!(
                if_none_match_matches(value.as_bytes(), etag),
                *want,
                "{value:?} vs {etag:?}"
            );
        }
    }
}
