//! The demuxer: transport stream bytes in, whole PES packets per elementary stream out.
//!
//! Sans-io: [`Demuxer::push`] takes bytes as they come (a whole segment or pieces of one),
//! [`Demuxer::finish`] flushes what is pending and returns everything. Damage is counted in
//! [`DemuxStats`] and never stops the demuxer: lost sync is found again, continuity gaps mark the
//! PES they hit, a torn or padded tail is skipped.

use std::collections::HashMap;

use super::packet::{self, NULL_PID};
use super::psi::{self, Program, StreamType};
use super::{PACKET_SIZE, SYNC_BYTE};

/// Largest PES the demuxer assembles; a bigger one is dropped (a 2 s segment's largest video
/// access unit is well under 1 MiB).
pub const MAX_PES: usize = 16 << 20;

/// One whole PES packet of a stream the repackager supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pes {
    pub pid: u16,
    pub stream_type: StreamType,
    pub stream_id: u8,
    /// Raw 33-bit values, as in the header.
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    /// The adaptation field's random_access_indicator on the PES's first packet.
    pub random_access: bool,
    /// A continuity gap or transport error hit this PES: some of its bytes may be missing.
    pub damaged: bool,
    /// The elementary stream bytes (after the PES header).
    pub data: Vec<u8>,
}

/// What went wrong on the way, for logs and metrics; none of it is fatal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemuxStats {
    /// Packets parsed.
    pub packets: u64,
    /// Bytes outside any packet: lost sync, a torn last packet, padding after the last one.
    pub skipped_bytes: u64,
    /// Continuity counter gaps (lost packets).
    pub continuity_errors: u64,
    /// Packets with the transport_error_indicator set, or an impossible adaptation field.
    pub bad_packets: u64,
    /// PES packets dropped: no start code, truncated, too big, or scrambled.
    pub dropped_pes: u64,
    /// PAT/PMT sections with a bad CRC or layout.
    pub psi_errors: u64,
    /// The first and last PCR seen (27 MHz, raw), if any.
    pub first_pcr: Option<u64>,
    pub last_pcr: Option<u64>,
}

/// Everything [`Demuxer::finish`] found.
#[derive(Debug, Clone, Default)]
pub struct Demuxed {
    /// Programs whose PMT was seen, in PAT order.
    pub programs: Vec<Program>,
    /// PES packets of supported streams, in the order they completed.
    pub pes: Vec<Pes>,
    pub stats: DemuxStats,
    /// Whether any packet with a sync byte was found at all.
    pub saw_packets: bool,
}

#[derive(Debug, Default)]
struct EsState {
    stream_type: Option<StreamType>,
    buf: Vec<u8>,
    started: bool,
    random_access: bool,
    damaged: bool,
}

/// The demuxer's state; see the module docs.
#[derive(Debug, Default)]
pub struct Demuxer {
    pending: Vec<u8>,
    pat: Vec<(u16, u16)>,
    programs: HashMap<u16, Program>,
    psi: HashMap<u16, Vec<u8>>,
    es: HashMap<u16, EsState>,
    cc: HashMap<u16, u8>,
    out: Vec<Pes>,
    stats: DemuxStats,
}

impl Demuxer {
    /// A demuxer that has seen nothing yet (no PAT, no PMT).
    pub fn new() -> Demuxer {
        Demuxer::default()
    }

    /// Feeds bytes; a packet split across calls is kept until the rest arrives.
    pub fn push(&mut self, data: &[u8]) {
        if self.pending.is_empty() {
            let used = self.packets(data);
            self.pending.extend_from_slice(&data[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.pending);
            buf.extend_from_slice(data);
            let used = self.packets(&buf);
            buf.drain(..used);
            self.pending = buf;
        }
    }

    /// Flushes pending PES packets and returns everything found. A partial packet left at the
    /// end (torn or padded tail) is skipped and counted.
    pub fn finish(mut self) -> Demuxed {
        self.stats.skipped_bytes += self.pending.len() as u64;
        let mut pids: Vec<u16> = self.es.keys().copied().collect();
        pids.sort_unstable();
        for pid in pids {
            self.flush_pes(pid, true);
        }
        let programs = self
            .pat
            .iter()
            .filter_map(|(_, pmt_pid)| self.programs.get(pmt_pid).cloned())
            .collect();
        Demuxed {
            programs,
            pes: self.out,
            saw_packets: self.stats.packets > 0,
            stats: self.stats,
        }
    }

    /// Parses the whole packets in `data`; returns how many bytes were consumed (the rest is a
    /// possible partial packet).
    fn packets(&mut self, data: &[u8]) -> usize {
        let mut i = 0usize;
        while i < data.len() {
            // A sync byte not followed by another one a packet later, while a confirmed packet
            // start lies inside its 188 bytes, is a stray: sync was lost. (Not followed by one
            // and nothing better inside: the last packet before garbage or padding.)
            let lost = data[i] != SYNC_BYTE
                || (data.get(i + PACKET_SIZE).is_some_and(|&b| b != SYNC_BYTE)
                    // Bounded look-ahead: garbage full of 0x47 must not make this quadratic.
                    && packet::resync(&data[..data.len().min(i + 2 * PACKET_SIZE)], i + 1)
                        .is_some_and(|j| {
                            j < i + PACKET_SIZE && data.get(j + PACKET_SIZE) == Some(&SYNC_BYTE)
                        }));
            if lost {
                match packet::resync(data, i + 1) {
                    Some(j) => {
                        self.stats.skipped_bytes += (j - i) as u64;
                        i = j;
                    }
                    None => {
                        self.stats.skipped_bytes += (data.len() - i) as u64;
                        return data.len();
                    }
                }
            }
            let Some(p) = data.get(i..i + PACKET_SIZE) else {
                return i;
            };
            self.packet(p);
            i += PACKET_SIZE;
        }
        i
    }

    fn packet(&mut self, raw: &[u8]) {
        let p = match packet::parse(raw) {
            Ok(p) => p,
            Err(_) => {
                self.stats.bad_packets += 1;
                return;
            }
        };
        self.stats.packets += 1;
        if p.pid == NULL_PID {
            return;
        }
        if p.transport_error {
            self.stats.bad_packets += 1;
            if let Some(es) = self.es.get_mut(&p.pid) {
                es.damaged = true;
            }
            return;
        }
        let adaptation = p.adaptation.unwrap_or_default();
        if let Some(pcr) = adaptation.pcr {
            self.stats.first_pcr.get_or_insert(pcr);
            self.stats.last_pcr = Some(pcr);
        }
        if p.has_payload {
            let cc = p.continuity_counter;
            if let Some(last) = self.cc.insert(p.pid, cc) {
                if !adaptation.discontinuity {
                    if cc == last {
                        // A duplicate packet (allowed once): its payload was already taken.
                        return;
                    }
                    if cc != (last + 1) & 0x0F {
                        self.stats.continuity_errors += 1;
                        if let Some(es) = self.es.get_mut(&p.pid) {
                            es.damaged = true;
                        }
                    }
                }
            }
        }
        if p.payload.is_empty() {
            return;
        }
        if p.pid == 0 || self.pat.iter().any(|&(_, pmt)| pmt == p.pid) {
            self.psi_payload(p.pid, p.unit_start, p.payload);
        } else if self.es.contains_key(&p.pid) {
            if p.scrambled {
                self.stats.dropped_pes += u64::from(p.unit_start);
                return;
            }
            self.pes_payload(p.pid, p.unit_start, adaptation.random_access, p.payload);
        }
    }

    fn psi_payload(&mut self, pid: u16, unit_start: bool, payload: &[u8]) {
        let buf = self.psi.entry(pid).or_default();
        if unit_start {
            let pointer = usize::from(payload[0]);
            buf.clear();
            match payload.get(1 + pointer..) {
                Some(s) => buf.extend_from_slice(s),
                None => {
                    self.stats.psi_errors += 1;
                    return;
                }
            }
        } else if !buf.is_empty() {
            buf.extend_from_slice(payload);
        } else {
            return;
        }
        let Some(section) = psi::complete_section(buf) else {
            if buf.len() > 4096 {
                buf.clear();
                self.stats.psi_errors += 1;
            }
            return;
        };
        let section = section.to_vec();
        buf.clear();
        if section[0] == 0xFF {
            return; // stuffing
        }
        if pid == 0 {
            match psi::parse_pat(&section) {
                Ok(pat) => self.pat = pat,
                Err(_) => self.stats.psi_errors += 1,
            }
            return;
        }
        match psi::parse_pmt(&section, pid) {
            Ok(program) => {
                for s in &program.streams {
                    if s.stream_type.supported() {
                        let es = self.es.entry(s.pid).or_default();
                        es.stream_type = Some(s.stream_type);
                    }
                }
                self.programs.insert(pid, program);
            }
            Err(_) => self.stats.psi_errors += 1,
        }
    }

    fn pes_payload(&mut self, pid: u16, unit_start: bool, random_access: bool, payload: &[u8]) {
        if unit_start {
            self.flush_pes(pid, false);
        }
        let Some(es) = self.es.get_mut(&pid) else {
            return;
        };
        if unit_start {
            es.started = true;
            es.random_access = random_access;
            es.damaged = false;
            es.buf.clear();
        } else if !es.started {
            return; // the tail of a PES that began before this data
        }
        if es.buf.len() + payload.len() > MAX_PES {
            es.started = false;
            es.buf.clear();
            self.stats.dropped_pes += 1;
            return;
        }
        es.buf.extend_from_slice(payload);
        if es.buf.len() >= 6 {
            let declared = usize::from(u16::from_be_bytes([es.buf[4], es.buf[5]]));
            if declared != 0 && es.buf.len() >= 6 + declared {
                es.buf.truncate(6 + declared);
                self.flush_pes(pid, false);
            }
        }
    }

    /// Emits the PES being assembled on `pid`. At the end of the data (`at_end`), a PES
    /// shorter than its declared length is torn: dropped.
    fn flush_pes(&mut self, pid: u16, at_end: bool) {
        let Some(es) = self.es.get_mut(&pid) else {
            return;
        };
        if !es.started {
            return;
        }
        es.started = false;
        let buf = std::mem::take(&mut es.buf);
        let Some(stream_type) = es.stream_type else {
            return;
        };
        match parse_pes(&buf, at_end) {
            Some((stream_id, pts, dts, start)) => self.out.push(Pes {
                pid,
                stream_type,
                stream_id,
                pts,
                dts,
                random_access: es.random_access,
                damaged: es.damaged,
                data: buf[start..].to_vec(),
            }),
            None => self.stats.dropped_pes += 1,
        }
        es.damaged = false;
    }
}

/// `(stream_id, pts, dts, payload start)` of a whole PES packet, or `None` when it is not one.
pub(crate) fn parse_pes(buf: &[u8], at_end: bool) -> Option<(u8, Option<u64>, Option<u64>, usize)> {
    if buf.len() < 9 || buf[..3] != [0, 0, 1] {
        return None;
    }
    let stream_id = buf[3];
    let declared = usize::from(u16::from_be_bytes([buf[4], buf[5]]));
    if at_end && declared != 0 && buf.len() < 6 + declared {
        return None;
    }
    // Streams without the optional header (padding, private_stream_2, ECM, …) carry no media.
    if matches!(
        stream_id,
        0xBC | 0xBE | 0xBF | 0xF0 | 0xF1 | 0xF2 | 0xF8 | 0xFF
    ) {
        return None;
    }
    let flags = buf[7];
    let start = 9 + usize::from(buf[8]);
    if start > buf.len() {
        return None;
    }
    let ts = |at: usize| -> Option<u64> {
        let b = buf.get(at..at + 5)?;
        Some(
            (u64::from(b[0] >> 1 & 0x07) << 30)
                | (u64::from(b[1]) << 22)
                | (u64::from(b[2] >> 1) << 15)
                | (u64::from(b[3]) << 7)
                | u64::from(b[4] >> 1),
        )
    };
    let (pts, dts) = match flags >> 6 {
        0b10 => (Some(ts(9)?), None),
        0b11 => (Some(ts(9)?), Some(ts(14)?)),
        _ => (None, None),
    };
    Some((stream_id, pts, dts, start))
}

/// Encodes a PES header + payload (tests, benches and fuzzing). `bounded` writes the length.
#[cfg(any(test, feature = "fuzzing"))]
pub fn build_pes(
    stream_id: u8,
    pts: Option<u64>,
    dts: Option<u64>,
    payload: &[u8],
    bounded: bool,
) -> Vec<u8> {
    let enc = |marker: u8, t: u64| -> [u8; 5] {
        [
            (marker << 4) | (((t >> 30) as u8 & 0x07) << 1) | 1,
            (t >> 22) as u8,
            (((t >> 15) as u8) << 1) | 1,
            (t >> 7) as u8,
            ((t as u8) << 1) | 1,
        ]
    };
    let mut h = Vec::new();
    let flags = match (pts, dts) {
        (Some(p), Some(d)) => {
            h.extend_from_slice(&enc(3, p));
            h.extend_from_slice(&enc(1, d));
            0xC0
        }
        (Some(p), None) => {
            h.extend_from_slice(&enc(2, p));
            0x80
        }
        _ => 0,
    };
    let len = 3 + h.len() + payload.len();
    let len = if bounded && len <= 0xFFFF {
        len as u16
    } else {
        0
    };
    let mut out = vec![0, 0, 1, stream_id];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0x80, flags, h.len() as u8]);
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    out
}

/// Splits `pes` into packets on `pid`, continuity counters from `*cc` (tests and fuzzing).
#[cfg(any(test, feature = "fuzzing"))]
pub fn packetize(pid: u16, pes: &[u8], cc: &mut u8, random_access: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = pes;
    let mut first = true;
    while first || !rest.is_empty() {
        let a = (first && random_access).then_some(packet::Adaptation {
            random_access: true,
            ..Default::default()
        });
        let (p, took) = packet::build(pid, first, *cc, a, rest);
        *cc = (*cc + 1) & 0x0F;
        out.extend_from_slice(&p);
        rest = &rest[took..];
        first = false;
    }
    out
}

#[cfg(test)]
mod tests;
