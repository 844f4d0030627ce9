//! Ad markers written into an HLS media playlist the origin rendered (any form: TS,
//! repackaged CMAF, encrypted), in an endpoint's style:
//! - `daterange`: `EXT-X-DATERANGE` per RFC 8216bis §4.4.5.1: `ID`, `START-DATE` on the
//!   splice point, `PLANNED-DURATION`, `SCTE35-OUT` (the whole section in hex); the return as
//!   the same `ID` with `DURATION` and `SCTE35-IN`; other commands as `SCTE35-CMD`.
//! - `cue`: `EXT-OATCLS-SCTE35` + `EXT-X-CUE-OUT:DURATION=…` before the break's first segment,
//!   `EXT-X-CUE-OUT-CONT:ElapsedTime=…,Duration=…,SCTE35=…` on the segments inside it,
//!   `EXT-X-CUE-IN` on the first segment after it.
//! - `passthrough`: the encoder's own tag lines as they came; markers that came without
//!   (the operator's, a TS section's) as `daterange`.
//!
//! A segment's time is its `EXT-X-PROGRAM-DATE-TIME` (the origin writes one on every segment)
//! plus the durations since. A tag goes before the segment whose time span holds the splice
//! point: on its first frame when the splice point is a segment boundary.

use super::AdMarker;
use crate::channel::config::AdMarkerStyle;
use crate::scte35::Signal;
use base64::Engine;
use std::fmt::Write;

/// `text` with the tags of `markers` in `style`; `None` when nothing changes (no marker
/// concerns its segments, a master playlist, the style `none`).
pub fn mark(text: &str, markers: &[AdMarker], style: AdMarkerStyle) -> Option<String> {
    if markers.is_empty() || style == AdMarkerStyle::None || !text.contains("#EXTINF:") {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 512);
    let mut changed = false;
    // Where each break ends, once per playlist (the `cue` style asks on every segment).
    let ends: Vec<Option<u64>> = if style == AdMarkerStyle::Cue {
        markers.iter().map(|m| return_of(markers, m)).collect()
    } else {
        Vec::new()
    };
    let mut clock: Option<u64> = None;
    let mut first = true;
    let mut previous_start = None;
    // The segments' spans come from PDT + EXTINF: read each segment's before writing its tags.
    for line in text.split_inclusive('\n') {
        let t = line.trim_end();
        if let Some(v) = t.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            clock = crate::time::parse_rfc3339_ms(v.trim()).and_then(|v| u64::try_from(v).ok());
        } else if let Some(v) = t.strip_prefix("#EXTINF:") {
            let d = v.split(',').next().unwrap_or("").trim();
            let ms = d.parse::<f64>().map_or(0, |s| (s * 1000.0).round() as u64);
            if let Some(start) = clock {
                let span = Span {
                    start,
                    end: start + ms,
                    first,
                    previous_start,
                };
                changed |= write_tags(&mut out, markers, &ends, style, span);
                clock = Some(start + ms);
                previous_start = Some(start);
            }
            first = false;
        }
        out.push_str(line);
    }
    changed.then_some(out)
}

/// A segment's time span, Unix ms.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u64,
    end: u64,
    /// The playlist's first segment: breaks under way when it starts are signalled on it.
    first: bool,
    /// The segment before it starts, if it has one in the playlist.
    previous_start: Option<u64>,
}

impl Span {
    fn holds(&self, t: u64) -> bool {
        self.start <= t && t < self.end.max(self.start + 1)
    }
}

fn write_tags(
    out: &mut String,
    markers: &[AdMarker],
    ends: &[Option<u64>],
    style: AdMarkerStyle,
    s: Span,
) -> bool {
    let mut wrote = false;
    for (i, m) in markers.iter().enumerate() {
        let starts_here = s.holds(m.start_unix_ms);
        let under_way =
            s.first && m.start_unix_ms < s.start && m.end_unix_ms().is_some_and(|e| e > s.start);
        match style {
            AdMarkerStyle::Cue => wrote |= cue_tags(out, m, ends.get(i).copied().flatten(), s),
            AdMarkerStyle::Passthrough if m.tags.is_some() => {
                if starts_here {
                    let _ = writeln!(out, "{}", m.tags.as_deref().unwrap_or(""));
                    wrote = true;
                }
            }
            _ => {
                if starts_here || (under_way && m.signal == Signal::Out) {
                    date_range(out, markers, m);
                    wrote = true;
                }
            }
        }
    }
    wrote
}

/// The RFC 8216bis form; a return names the break it ends (same `ID` and `START-DATE`).
fn date_range(out: &mut String, markers: &[AdMarker], m: &AdMarker) {
    let hex = crate::hex::encode(&m.section);
    let opened = (m.signal == Signal::In)
        .then(|| opening(markers, m))
        .flatten();
    let (id, start) = opened.map_or((&m.id, m.start_unix_ms), |o| (&o.id, o.start_unix_ms));
    let _ = write!(
        out,
        "#EXT-X-DATERANGE:ID=\"{}\",START-DATE=\"{}\"",
        id,
        crate::time::format_datetime(start)
    );
    match m.signal {
        Signal::Out => {
            if let Some(d) = m.duration_ms {
                let _ = write!(out, ",PLANNED-DURATION={}", seconds(d));
            }
            let _ = writeln!(out, ",SCTE35-OUT=0x{hex}");
        }
        Signal::In => {
            if opened.is_some() {
                let _ = write!(
                    out,
                    ",DURATION={}",
                    seconds(m.start_unix_ms.saturating_sub(start))
                );
            }
            let _ = writeln!(out, ",SCTE35-IN=0x{hex}");
        }
        Signal::Other => {
            let _ = writeln!(out, ",SCTE35-CMD=0x{hex}");
        }
    }
}

/// The break a return ends: the latest start of its event before it.
fn opening<'a>(markers: &'a [AdMarker], ret: &AdMarker) -> Option<&'a AdMarker> {
    markers
        .iter()
        .filter(|o| {
            o.signal == Signal::Out
                && o.event_id == ret.event_id
                && o.start_unix_ms <= ret.start_unix_ms
        })
        .last()
}

/// When the break `out` ends: its event's return, else its planned end.
fn return_of(markers: &[AdMarker], out: &AdMarker) -> Option<u64> {
    markers
        .iter()
        .find(|r| {
            r.signal == Signal::In
                && r.event_id == out.event_id
                && r.start_unix_ms >= out.start_unix_ms
        })
        .map(|r| r.start_unix_ms)
        .or_else(|| out.end_unix_ms())
}

/// The `cue` style for break `m`, which ends at `end`, on segment `s`.
fn cue_tags(out: &mut String, m: &AdMarker, end: Option<u64>, s: Span) -> bool {
    if m.signal != Signal::Out {
        return false;
    }
    let b64 = || base64::engine::general_purpose::STANDARD.encode(&m.section);
    if s.holds(m.start_unix_ms) {
        let _ = writeln!(out, "#EXT-OATCLS-SCTE35:{}", b64());
        match m.duration_ms {
            Some(d) => {
                let _ = writeln!(out, "#EXT-X-CUE-OUT:DURATION={}", seconds(d));
            }
            None => out.push_str("#EXT-X-CUE-OUT\n"),
        }
        return true;
    }
    if m.start_unix_ms < s.start && end.is_none_or(|e| s.start < e) {
        let _ = write!(
            out,
            "#EXT-X-CUE-OUT-CONT:ElapsedTime={}",
            seconds(s.start - m.start_unix_ms)
        );
        if let Some(d) = m.duration_ms {
            let _ = write!(out, ",Duration={}", seconds(d));
        }
        let _ = writeln!(out, ",SCTE35={}", b64());
        return true;
    }
    // Back on the network with the first segment that starts at or after the return.
    let returned_since_previous = |e: u64| s.previous_start.is_some_and(|p| p < e) && e <= s.start;
    if end.is_some_and(|e| m.start_unix_ms < s.start && returned_since_previous(e)) {
        out.push_str("#EXT-X-CUE-IN\n");
        return true;
    }
    false
}

/// Milliseconds as seconds with three decimals.
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}
