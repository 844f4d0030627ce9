//! SCTE-35 carried inside MPEG-TS segments: the `splice_info_section`s on a PID the PMT lists
//! with stream type 0x86, each timed by its `pts_time` (plus `pts_adjustment`) against the
//! segment's first presentation time, so it lands on the wall clock where its frame is.

use crate::ts::packet;
use crate::ts::psi::{complete_section, parse_pat, parse_pmt, StreamType};
use crate::ts::PACKET_SIZE;

/// SCTE-35's stream type in a PMT.
pub const SCTE35_STREAM_TYPE: u8 = 0x86;
/// Sections read from one segment at most; more are dropped with a warning.
pub const MAX_SECTIONS_PER_SEGMENT: usize = 16;

/// What a segment carries.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TsCues {
    /// Each section with its offset from the segment's start, ms (0: at the start: the
    /// cue is immediate, or its time is before the segment or unknown).
    pub sections: Vec<(Vec<u8>, u64)>,
    /// Why sections were dropped.
    pub warnings: Vec<String>,
}

/// The SCTE-35 sections of a TS segment (nothing, cheaply, when its PMT lists none).
pub fn scan(ts: &[u8]) -> TsCues {
    let mut out = TsCues::default();
    let mut pmt_pid = None;
    let mut scte_pid = None;
    let mut pending: Option<Vec<u8>> = None;
    let mut raw: Vec<Vec<u8>> = Vec::new();
    for chunk in ts.chunks_exact(PACKET_SIZE) {
        let Ok(p) = packet::parse(chunk) else { break };
        if p.pid == 0 && pmt_pid.is_none() && p.unit_start {
            pmt_pid = psi_section(p.payload)
                .and_then(|s| parse_pat(s).ok())
                .and_then(|progs| progs.first().map(|&(_, pid)| pid));
        } else if Some(p.pid) == pmt_pid && scte_pid.is_none() && p.unit_start {
            let Some(program) = psi_section(p.payload).and_then(|s| parse_pmt(s, p.pid).ok())
            else {
                continue;
            };
            scte_pid = program
                .streams
                .iter()
                .find(|s| s.stream_type == StreamType::Other(SCTE35_STREAM_TYPE))
                .map(|s| s.pid);
            if scte_pid.is_none() {
                return out;
            }
        } else if Some(p.pid) == scte_pid {
            if p.unit_start {
                let pointer = usize::from(*p.payload.first().unwrap_or(&0));
                if let Some(prev) = pending.as_mut() {
                    prev.extend_from_slice(p.payload.get(1..1 + pointer).unwrap_or(&[]));
                }
                finish(&mut pending, &mut raw);
                pending = Some(p.payload.get(1 + pointer..).unwrap_or(&[]).to_vec());
            } else if let Some(buf) = pending.as_mut() {
                buf.extend_from_slice(p.payload);
            }
            finish(&mut pending, &mut raw);
        }
        if raw.len() > MAX_SECTIONS_PER_SEGMENT {
            out.warnings.push(format!(
                "more than {MAX_SECTIONS_PER_SEGMENT} SCTE-35 sections in one segment: the rest dropped"
            ));
            raw.truncate(MAX_SECTIONS_PER_SEGMENT);
            break;
        }
    }
    let first_pts = first_pts(ts);
    for s in raw {
        match crate::scte35::parse(&s) {
            Ok(info) => {
                let offset = match (info.cue().and_then(|c| c.pts), first_pts) {
                    (Some(at), Some(first)) => {
                        // 33-bit wrap: the cue is at most ~13 h after the segment's start.
                        let d = at.wrapping_sub(first) & ((1 << 33) - 1);
                        match d / 90 {
                            ms if d < (1 << 32) && ms <= crate::ad_markers::MAX_LEAD_MS => ms,
                            ms if d < (1 << 32) => {
                                out.warnings.push(format!(
                                    "SCTE-35 section in TS dropped: its pts_time is {ms} ms after the segment"
                                ));
                                continue;
                            }
                            _ => 0,
                        }
                    }
                    _ => 0,
                };
                out.sections.push((s, offset));
            }
            Err(e) => out
                .warnings
                .push(format!("SCTE-35 section in TS dropped: {e}")),
        }
    }
    out
}

/// The first presentation time of a TS segment: its video's first PES (its first audio's
/// without video), 90 kHz.
pub fn first_pts(ts: &[u8]) -> Option<u64> {
    let mut pmt_pid = None;
    let mut clock_pid = None;
    for chunk in ts.chunks_exact(PACKET_SIZE) {
        let p = packet::parse(chunk).ok()?;
        if !p.unit_start {
            continue;
        }
        if p.pid == 0 && pmt_pid.is_none() {
            pmt_pid = psi_section(p.payload)
                .and_then(|s| parse_pat(s).ok())
                .and_then(|progs| progs.first().map(|&(_, pid)| pid));
        } else if Some(p.pid) == pmt_pid && clock_pid.is_none() {
            let program = psi_section(p.payload).and_then(|s| parse_pmt(s, p.pid).ok())?;
            clock_pid = program
                .streams
                .iter()
                .find(|s| matches!(s.stream_type, StreamType::H264 | StreamType::H265))
                .or_else(|| program.streams.iter().find(|s| s.stream_type.supported()))
                .map(|s| s.pid);
        } else if Some(p.pid) == clock_pid {
            return crate::ts::demux::parse_pes(p.payload, false).and_then(|h| h.1);
        }
    }
    None
}

/// The section starting a PSI payload (after its pointer field).
fn psi_section(payload: &[u8]) -> Option<&[u8]> {
    let pointer = usize::from(*payload.first()?);
    complete_section(payload.get(1 + pointer..)?)
}

/// Moves a whole section out of `pending` (stuffing after it is dropped).
fn finish(pending: &mut Option<Vec<u8>>, raw: &mut Vec<Vec<u8>>) {
    let Some(buf) = pending.as_ref() else { return };
    if buf.first() == Some(&0xFF) {
        *pending = None;
        return;
    }
    if let Some(s) = complete_section(buf) {
        raw.push(s.to_vec());
        *pending = None;
    }
}
