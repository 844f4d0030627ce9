//! The time-shift query parameters of a manifest request (`start`, `end`, `delay`), checked
//! against the channel's window, and the [`Window`] of media they ask for.

/// What a manifest request with time-shift parameters asks for, in Unix ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// `start=T`: from T on, growing with the live edge (no end).
    Startover {
        /// T.
        start_ms: u64,
    },
    /// `start=T&end=U`: media overlapping `[start, end)`; complete once `end` has passed.
    Closed {
        /// T.
        start_ms: u64,
        /// U.
        end_ms: u64,
    },
    /// `delay=S`: the live window as it was S seconds ago.
    Delayed {
        /// S, in ms.
        delay_ms: u64,
    },
}

impl Window {
    /// The query that asks for this window, canonical (Unix seconds or ms, fixed order): what
    /// the master playlist's URIs carry on to the renditions.
    pub fn to_query(&self) -> String {
        let t = |ms: u64| {
            if ms.is_multiple_of(1000) {
                (ms / 1000).to_string()
            } else {
                format!("{}.{:03}", ms / 1000, ms % 1000)
            }
        };
        match *self {
            Window::Startover { start_ms } => format!("start={}", t(start_ms)),
            Window::Closed { start_ms, end_ms } => {
                format!("start={}&end={}", t(start_ms), t(end_ms))
            }
            Window::Delayed { delay_ms } => format!("delay={}", t(delay_ms)),
        }
    }

    /// A closed window whose end has passed at `now_ms`: its manifest is complete and never
    /// changes.
    pub fn is_complete(&self, now_ms: u64) -> bool {
        matches!(*self, Window::Closed { end_ms, .. } if end_ms <= now_ms)
    }
}

/// How long a request may reach back: a little more than the window, so that a player
/// asking for "start = window ago" a moment after computing it is still served.
const SLACK_MS: u64 = 30_000;

/// Reads the time-shift parameters of `query` (the request target after `?`, without the
/// `?`). `Ok(None)`: none was given (a live request). Other parameters are ignored (cache
/// busters, tokens). `window_ms` is the channel's time-shift window (0: off), `now_ms` the
/// wall clock. An `Err` is the reason of a 400.
pub fn parse(query: &str, window_ms: u64, now_ms: u64) -> Result<Option<Window>, String> {
    let mut start = None;
    let mut end = None;
    let mut delay = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "start" => &mut start,
            "end" => &mut end,
            "delay" => &mut delay,
            _ => continue,
        };
        if slot.is_some() {
            return Err(format!("{name} is given twice"));
        }
        *slot = Some(percent_decode(value).ok_or_else(|| format!("{name}: bad percent-encoding"))?);
    }
    if start.is_none() && end.is_none() && delay.is_none() {
        return Ok(None);
    }
    if window_ms == 0 {
        return Err("time-shift is off for this channel (channel edit --timeshift-window)".into());
    }
    let oldest = now_ms.saturating_sub(window_ms.saturating_add(SLACK_MS));
    if let Some(d) = delay {
        if start.is_some() || end.is_some() {
            return Err("delay cannot be combined with start or end".into());
        }
        let delay_ms =
            parse_seconds(&d).ok_or_else(|| format!("delay: {d:?} is not a number of seconds"))?;
        if delay_ms > window_ms {
            return Err(format!(
                "delay {} s is longer than the time-shift window ({} s)",
                delay_ms / 1000,
                window_ms / 1000
            ));
        }
        return Ok(Some(Window::Delayed { delay_ms }));
    }
    let Some(start) = start else {
        return Err("end needs a start".into());
    };
    let start_ms = parse_named_time("start", &start)?;
    if start_ms < oldest {
        return Err(format!(
            "start {} is before the time-shift window (the last {} s)",
            crate::time::format_datetime(start_ms),
            window_ms / 1000
        ));
    }
    if start_ms > now_ms {
        return Err(format!(
            "start {} is in the future",
            crate::time::format_datetime(start_ms)
        ));
    }
    let Some(end) = end else {
        return Ok(Some(Window::Startover { start_ms }));
    };
    let end_ms = parse_named_time("end", &end)?;
    if end_ms <= start_ms {
        return Err("end must be after start".into());
    }
    Ok(Some(Window::Closed { start_ms, end_ms }))
}

/// Unix seconds (`1733500000`, `1733500000.5`) or RFC 3339 UTC (`2026-12-06T17:00:00Z`), in
/// Unix ms.
pub fn parse_time(v: &str) -> Option<u64> {
    if v.bytes().next().is_some_and(|b| b.is_ascii_digit()) && !v.contains('-') {
        parse_seconds(v)
    } else {
        crate::time::parse_rfc3339_ms(v).and_then(|ms| u64::try_from(ms).ok())
    }
}

/// [`parse_time`] of parameter `name`, with the reason of a 400.
fn parse_named_time(name: &str, v: &str) -> Result<u64, String> {
    parse_time(v).ok_or_else(|| {
        format!(
            "{name}: {v:?} is not a time (Unix seconds or RFC 3339 UTC, e.g. 2026-12-06T17:00:00Z)"
        )
    })
}

/// Decimal seconds, up to millisecond precision, into ms.
fn parse_seconds(v: &str) -> Option<u64> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if int.is_empty()
        || int.len() > 12
        || !int.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 9
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (v.contains('.') && frac.is_empty())
    {
        return None;
    }
    let ms: u64 = format!("{frac:0<3}")[..3].parse().ok()?;
    int.parse::<u64>().ok()?.checked_mul(1000)?.checked_add(ms)
}

/// `%XX` and `+` decoded; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(v: &str) -> Option<String> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = v.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_765_000_000_000;
    const HOUR: u64 = 3_600_000;

    #[test]
    fn requests_and_their_windows() {
        let table: [(&str, Option<Window>); 8] = [
            ("", None),
            ("v=3&token=x", None),
            (
                "start=1764999000",
                Some(Window::Startover {
                    start_ms: 1_764_999_000_000,
                }),
            ),
            (
                "start=1764999000.25&end=1764999600",
                Some(Window::Closed {
                    start_ms: 1_764_999_000_250,
                    end_ms: 1_764_999_600_000,
                }),
            ),
            (
                "start=2025-12-06T05:30:00Z",
                Some(Window::Startover {
                    start_ms: 1_764_999_000_000,
                }),
            ),
            (
                "start=2025-12-06T05%3A30%3A00Z&end=2025-12-06T06:30:00Z",
                Some(Window::Closed {
                    start_ms: 1_764_999_000_000,
                    end_ms: 1_765_002_600_000,
                }),
            ),
            ("delay=60", Some(Window::Delayed { delay_ms: 60_000 })),
            ("delay=0.5&x=1", Some(Window::Delayed { delay_ms: 500 })),
        ];
        for (q, want) in table {
            assert_eq!(parse(q, HOUR, NOW), Ok(want), "{q}");
        }
    }

    #[test]
    fn bad_requests_say_why() {
        let table: [(&str, u64, &str); 12] = [
            (
                "start=yesterday",
                HOUR,
                "start: \"yesterday\" is not a time",
            ),
            (
                "start=1764999000&end=1764999000",
                HOUR,
                "end must be after start",
            ),
            (
                "start=1764999000&end=1764998000",
                HOUR,
                "end must be after start",
            ),
            (
                "start=1700000000",
                HOUR,
                "is before the time-shift window (the last 3600 s)",
            ),
            ("start=1865000000", HOUR, "is in the future"),
            (
                "delay=7200",
                HOUR,
                "delay 7200 s is longer than the time-shift window (3600 s)",
            ),
            ("delay=-5", HOUR, "delay: \"-5\" is not a number of seconds"),
            (
                "delay=60&start=1764999000",
                HOUR,
                "delay cannot be combined",
            ),
            ("end=1764999000", HOUR, "end needs a start"),
            (
                "start=1764999000&start=1764999001",
                HOUR,
                "start is given twice",
            ),
            ("start=%ZZ", HOUR, "bad percent-encoding"),
            ("delay=10", 0, "time-shift is off for this channel"),
        ];
        for (q, window, want) in table {
            let err = parse(q, window, NOW).expect_err(q);
            assert!(err.contains(want), "{q}: {err}");
        }
    }

    #[test]
    fn canonical_queries_read_back_the_same() {
        for w in [
            Window::Startover {
                start_ms: 1_764_999_000_000,
            },
            Window::Closed {
                start_ms: 1_764_999_000_250,
                end_ms: 1_764_999_600_000,
            },
            Window::Delayed { delay_ms: 1_500 },
        ] {
            assert_eq!(parse(&w.to_query(), HOUR, NOW), Ok(Some(w)));
        }
        assert!(Window::Closed {
            start_ms: 1,
            end_ms: NOW
        }
        .is_complete(NOW));
        assert!(!Window::Startover { start_ms: 1 }.is_complete(NOW));
    }
}
