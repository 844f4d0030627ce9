//! SCTE-35 in the MPDs encoders push: a Period's `EventStream` with
//! `urn:scte:scte35:2014:xml+bin` (the section in `<scte35:Signal><scte35:Binary>`) or
//! `urn:scte:scte35:2013:xml` (a `<scte35:SpliceInfoSection>` whose `SpliceInsert` is written
//! again as binary), each event timed on its Period's timeline.
//!
//! Events that cannot be used are dropped with a warning; the MPD itself is never refused for
//! them.

use base64::Engine;
use roxmltree::Node;

/// Events read from one Period at most (the last ones); earlier ones are dropped with a
/// warning.
pub const MAX_EVENTS_PER_PERIOD: usize = 32;

/// The binary-in-XML SCTE-35 scheme.
pub const SCHEME_XML_BIN: &str = "urn:scte:scte35:2014:xml+bin";
/// The XML SCTE-35 scheme.
pub const SCHEME_XML: &str = "urn:scte:scte35:2013:xml";

/// One SCTE-35 event of a Period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashEvent {
    /// `presentationTime` minus the stream's `presentationTimeOffset`, ticks of `timescale`:
    /// from the Period's start.
    pub period_ticks: u64,
    /// `EventStream@timescale`.
    pub timescale: u32,
    /// The `splice_info_section`.
    pub section: Vec<u8>,
}

/// The SCTE-35 events of Period `p`, and warnings for those dropped.
pub fn period_events(p: Node<'_, '_>) -> (Vec<DashEvent>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut dropped = 0usize;
    for stream in p
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "EventStream")
    {
        let scheme = stream.attribute("schemeIdUri").unwrap_or("");
        if scheme != SCHEME_XML_BIN && scheme != SCHEME_XML {
            continue;
        }
        let timescale = stream
            .attribute("timescale")
            .and_then(|t| t.parse::<u32>().ok())
            .filter(|&t| t > 0)
            .unwrap_or(1);
        let pto = stream
            .attribute("presentationTimeOffset")
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(0);
        for ev in stream
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "Event")
        {
            let pt = ev
                .attribute("presentationTime")
                .map_or(Ok(0), str::parse::<u64>);
            let section = if scheme == SCHEME_XML_BIN {
                binary(ev)
            } else {
                xml_splice_insert(ev)
            };
            match (pt, section) {
                (Ok(pt), Ok(section)) => out.push(DashEvent {
                    period_ticks: pt.saturating_sub(pto),
                    timescale,
                    section,
                }),
                (Err(_), _) => warnings
                    .push("SCTE-35 Event@presentationTime is not a number: event dropped".into()),
                (_, Err(why)) => warnings.push(format!("SCTE-35 event dropped: {why}")),
            }
        }
    }
    if out.len() > MAX_EVENTS_PER_PERIOD {
        dropped = out.len() - MAX_EVENTS_PER_PERIOD;
        out.drain(..dropped);
    }
    if dropped > 0 {
        warnings.push(format!(
            "{dropped} SCTE-35 events before the last {MAX_EVENTS_PER_PERIOD} of a Period dropped"
        ));
    }
    (out, warnings)
}

/// An element below `n` by local name (any namespace prefix).
fn descendant<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.descendants()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// `<scte35:Signal><scte35:Binary>base64</scte35:Binary></scte35:Signal>`.
fn binary(ev: Node<'_, '_>) -> Result<Vec<u8>, String> {
    let text = descendant(ev, "Binary")
        .and_then(|b| b.text())
        .ok_or("no scte35:Binary in the Event")?;
    let text: String = text.split_whitespace().collect();
    if text.len() > crate::scte35::MAX_SECTION * 2 {
        return Err("scte35:Binary longer than any section".into());
    }
    let section = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("scte35:Binary is not base64: {e}"))?;
    crate::scte35::parse(&section).map_err(|e| e.to_string())?;
    Ok(section)
}

/// A `<scte35:SpliceInfoSection>` with a `SpliceInsert`, written as binary.
fn xml_splice_insert(ev: Node<'_, '_>) -> Result<Vec<u8>, String> {
    let info = descendant(ev, "SpliceInfoSection").ok_or("no scte35:SpliceInfoSection")?;
    let insert = descendant(info, "SpliceInsert")
        .ok_or("only SpliceInsert is read from SCTE-35 XML (use the xml+bin scheme for others)")?;
    let flag = |n: Node<'_, '_>, a: &str| matches!(n.attribute(a), Some("true" | "1"));
    let event_id = insert
        .attribute("spliceEventId")
        .and_then(|v| v.parse::<u32>().ok())
        .ok_or("SpliceInsert@spliceEventId missing or not a number")?;
    let pts = descendant(insert, "SpliceTime")
        .and_then(|t| t.attribute("ptsTime"))
        .and_then(|v| v.parse::<u64>().ok());
    let brk = descendant(insert, "BreakDuration");
    let duration = brk
        .and_then(|b| b.attribute("duration"))
        .and_then(|v| v.parse::<u64>().ok());
    let insert = crate::scte35::SpliceInsert {
        event_id,
        cancel: flag(insert, "spliceEventCancelIndicator"),
        out_of_network: flag(insert, "outOfNetworkIndicator"),
        immediate: flag(insert, "spliceImmediateFlag") || pts.is_none(),
        pts,
        duration,
        auto_return: brk.is_some_and(|b| flag(b, "autoReturn")),
        unique_program_id: insert
            .attribute("uniqueProgramId")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        avail_num: 0,
        avails_expected: 0,
    };
    Ok(crate::scte35::splice_insert_section(&insert))
}
