//! Ad markers written into an MPD the origin rendered ([`crate::dash::mpd::render`]): an
//! `EventStream` (`urn:scte:scte35:2014:xml+bin`, SCTE 214-1 / DASH-IF IOP) at the top of the
//! Period that holds each marker's splice point, one `Event` per marker with its
//! `presentationTime` on the Period's timeline (90 kHz: `availabilityStartTime` + `Period@start`
//! is the Period's start on the wall clock), the break's `duration`, and the whole
//! `splice_info_section` in `<scte35:Signal><scte35:Binary>`.

use super::AdMarker;
use base64::Engine;
use std::fmt::Write;

/// The `EventStream` scheme of binary SCTE-35 in an MPD.
pub const SCHEME: &str = "urn:scte:scte35:2014:xml+bin";
/// The SCTE-35 XML namespace of `scte35:Signal`.
pub const SCTE35_NS: &str = "http://www.scte.org/schemas/35/2016";

/// `text` with each Period's markers; `None` when no marker falls in any Period.
pub fn mark(text: &str, markers: &[AdMarker]) -> Option<String> {
    if markers.is_empty() {
        return None;
    }
    let ast = attr_value(text, "availabilityStartTime")
        .and_then(crate::time::parse_rfc3339_ms)
        .and_then(|v| u64::try_from(v).ok())?;
    // Each Period's opening tag: where it ends in the text and its start on the wall clock.
    let mut periods: Vec<(usize, u64)> = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("<Period") {
        let open = from + at;
        let close = open + text[open..].find('>')? + 1;
        let start_ms = attr_value(&text[open..close], "start")
            .and_then(crate::dash::parse::parse_duration_ms)
            .unwrap_or(0);
        periods.push((close, ast.saturating_add(start_ms)));
        from = close;
    }
    let mut out = String::with_capacity(text.len() + 512 * markers.len().min(8));
    let mut copied = 0;
    let mut changed = false;
    for (i, &(close, start)) in periods.iter().enumerate() {
        let end = periods.get(i + 1).map_or(u64::MAX, |p| p.1);
        let mine: Vec<&AdMarker> = markers
            .iter()
            .filter(|m| start <= m.start_unix_ms && m.start_unix_ms < end)
            .collect();
        if mine.is_empty() {
            continue;
        }
        out.push_str(&text[copied..close]);
        copied = close;
        let _ = write!(
            out,
            "\n    <EventStream schemeIdUri=\"{SCHEME}\" timescale=\"90000\">"
        );
        for m in mine {
            let _ = write!(
                out,
                "\n      <Event presentationTime=\"{}\"",
                (m.start_unix_ms - start).saturating_mul(90)
            );
            if let Some(d) = m
                .duration_ms
                .filter(|_| m.signal == crate::scte35::Signal::Out)
            {
                let _ = write!(out, " duration=\"{}\"", d.saturating_mul(90));
            }
            let _ = write!(
                out,
                " id=\"{}\"><scte35:Signal xmlns:scte35=\"{SCTE35_NS}\"><scte35:Binary>{}</scte35:Binary></scte35:Signal></Event>",
                event_number(m),
                base64::engine::general_purpose::STANDARD.encode(&m.section)
            );
        }
        out.push_str("\n    </EventStream>");
        changed = true;
    }
    out.push_str(&text[copied..]);
    changed.then_some(out)
}

/// `Event@id`: unique in its stream (players drop events whose id they saw), the same for
/// the same marker on every publication: the event id, and which way it goes.
pub(crate) fn event_number(m: &AdMarker) -> u64 {
    let way = match m.signal {
        crate::scte35::Signal::Out => 0,
        crate::scte35::Signal::In => 1,
        crate::scte35::Signal::Other => 2,
    };
    u64::from(m.event_id) * 4 + way
}

/// The value of the first `name="…"` attribute in `text`.
fn attr_value<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = text.find(&key)? + key.len();
    let len = text[at..].find('"')?;
    Some(&text[at..at + len])
}
