//! HLS `METHOD=SAMPLE-AES` for MPEG-2 transport streams (Apple's MPEG-2 Stream Encryption
//! Format for HTTP Live Streaming): the samples of the H.264 and AAC streams encrypted
//! ([`samples`]), everything else of the segment left as it was: PSI, PES headers,
//! timestamps, PCRs, packet layout. The PMT declares the streams encrypted ([`pmt`]).
//!
//! A video PES can grow by the emulation prevention bytes its encrypted slices need; its bytes
//! then take one more packet (or a few), placed right after its last one, and the PID's
//! continuity counters move on by as many. Audio frames keep their size.

mod pmt;
mod samples;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::{HashMap, HashSet};

use crate::ts::packet::{self, Packet};
use crate::ts::psi::{self, StreamType};
use crate::ts::PACKET_SIZE;
pub use samples::{add_emulation_prevention, encrypt_adts, encrypt_h264, nal_ranges};

/// Why a segment could not be encrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SampleAesError {
    #[error("not a transport stream: {0}")]
    NotTs(String),
    #[error("the segment has no PMT (SAMPLE-AES declares its streams there)")]
    NoPmt,
    #[error("PMT: {0}")]
    Pmt(String),
    #[error(
        "stream type {0:#04x} (PID {1}) cannot be encrypted with SAMPLE-AES in TS, which covers \
         H.264 video and AAC audio (H.265 and other codecs: use a cmaf endpoint with cbcs)"
    )]
    Unsupported(u8, u16),
}

/// The IV a playlist states for key `kid` (SAMPLE-AES restarts the IV at every NAL unit and
/// audio frame, so one per key is all the scheme uses).
pub fn key_iv(kid: &[u8; 16]) -> [u8; 16] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"streampack sample-aes iv");
    h.update(kid);
    let d = h.finalize();
    core::array::from_fn(|i| d[i])
}

/// What an elementary stream's samples get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Video,
    Audio,
}

/// Stream types passed through clear: metadata and private data, not audio or video.
fn passes_clear(t: u8) -> bool {
    matches!(t, 0x05 | 0x06 | 0x0D | 0x15 | 0x86)
}

/// `ts` (a whole TS segment) with its H.264 and AAC samples encrypted with `key` from `iv`.
pub fn encrypt_segment(
    ts: &[u8],
    key: &[u8; 16],
    iv: &[u8; 16],
) -> Result<Vec<u8>, SampleAesError> {
    if ts.is_empty() || !ts.len().is_multiple_of(PACKET_SIZE) {
        return Err(SampleAesError::NotTs(format!(
            "{} bytes is not a whole number of 188-byte packets",
            ts.len()
        )));
    }
    let packets = ts
        .chunks_exact(PACKET_SIZE)
        .enumerate()
        .map(|(i, p)| {
            packet::parse(p).map_err(|e| SampleAesError::NotTs(format!("packet {i}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let psi = Psi::read(&packets)?;
    let pes = group_pes(&packets, &psi.kinds);
    let mut audio = HashMap::new();
    let encrypted: Vec<Option<Vec<u8>>> = pes
        .iter()
        .map(|p| {
            let kind = psi.kinds[&p.pid];
            let mut bytes = Vec::with_capacity(p.packets.len() * (PACKET_SIZE - 4));
            for &i in &p.packets {
                bytes.extend_from_slice(packets[i].payload);
            }
            let (new, config) = encrypt_pes(bytes, kind, key, iv)?;
            if let Some(c) = config {
                audio.entry(p.pid).or_insert(c);
            }
            Some(new)
        })
        .collect();
    let pmts = psi
        .sections
        .iter()
        .map(|(pid, s)| Ok((*pid, pmt::encrypted_pmt(s, &audio)?)))
        .collect::<Result<HashMap<u16, Vec<u8>>, SampleAesError>>()?;

    let mut slot: Vec<Option<(usize, usize)>> = vec![None; packets.len()];
    for (k, p) in pes.iter().enumerate() {
        for (j, &i) in p.packets.iter().enumerate() {
            slot[i] = Some((k, j));
        }
    }
    let mut out = Vec::with_capacity(ts.len() + 4 * PACKET_SIZE);
    // By how much each PID's continuity counters move (packets its PES gained or lost).
    let pids = usize::from(packet::NULL_PID) + 1;
    let mut shift = vec![0i32; pids];
    let mut pmt_of: Vec<Option<&[u8]>> = vec![None; pids];
    for (pid, section) in &pmts {
        pmt_of[usize::from(*pid)] = Some(section);
    }
    // The packets of the PES being written on each PID, not yet placed.
    let mut pending: HashMap<u16, std::collections::VecDeque<[u8; PACKET_SIZE]>> = HashMap::new();
    for (i, (raw, p)) in ts.chunks_exact(PACKET_SIZE).zip(&packets).enumerate() {
        if let Some(section) = pmt_of[usize::from(p.pid)] {
            out.extend_from_slice(&pmt_packet(raw, p, section)?);
            continue;
        }
        let by = shift[usize::from(p.pid)];
        let Some((k, j, bytes)) =
            slot[i].and_then(|(k, j)| encrypted[k].as_deref().map(|b| (k, j, b)))
        else {
            let mut copy = [0u8; PACKET_SIZE];
            copy.copy_from_slice(raw);
            copy[3] = (copy[3] & 0xF0) | shifted(p.continuity_counter, by);
            out.extend_from_slice(&copy);
            continue;
        };
        let at = &pes[k].packets;
        let queue = pending.entry(p.pid).or_default();
        if j == 0 {
            let built = repacketize(ts, &packets, at, bytes, by);
            shift[usize::from(p.pid)] += built.len() as i32 - at.len() as i32;
            queue.clear();
            queue.extend(built);
        }
        if j + 1 < at.len() {
            if let Some(q) = queue.pop_front() {
                out.extend_from_slice(&q);
            }
        } else {
            for q in queue.drain(..) {
                out.extend_from_slice(&q);
            }
        }
    }
    Ok(out)
}

/// A continuity counter moved on by `by` packets (mod 16).
fn shifted(cc: u8, by: i32) -> u8 {
    (i32::from(cc) + by).rem_euclid(16) as u8
}

/// The PSI of a segment: its PMTs (by PID) and what each elementary stream gets.
struct Psi {
    sections: HashMap<u16, Vec<u8>>,
    kinds: HashMap<u16, Kind>,
}

impl Psi {
    fn read(packets: &[Packet<'_>]) -> Result<Psi, SampleAesError> {
        let mut pmt_pids = HashSet::new();
        for p in packets.iter().filter(|p| p.pid == 0 && p.unit_start) {
            if let Some(Ok(programs)) = section_of(p).map(psi::parse_pat) {
                pmt_pids.extend(programs.into_iter().map(|(_, pid)| pid));
            }
        }
        let mut sections = HashMap::new();
        let mut kinds = HashMap::new();
        for p in packets.iter().filter(|p| pmt_pids.contains(&p.pid)) {
            if !p.unit_start {
                return Err(SampleAesError::Pmt(
                    "it spans packets (SAMPLE-AES needs it in one)".into(),
                ));
            }
            let Some(section) = section_of(p) else {
                return Err(SampleAesError::Pmt("incomplete in its packet".into()));
            };
            let program =
                psi::parse_pmt(section, p.pid).map_err(|e| SampleAesError::Pmt(e.to_string()))?;
            for s in &program.streams {
                let kind = match s.stream_type {
                    StreamType::H264 => Kind::Video,
                    StreamType::AacAdts => Kind::Audio,
                    StreamType::H265 => return Err(SampleAesError::Unsupported(0x24, s.pid)),
                    StreamType::Other(t) if passes_clear(t) => continue,
                    StreamType::Other(t) => return Err(SampleAesError::Unsupported(t, s.pid)),
                };
                kinds.insert(s.pid, kind);
            }
            sections.entry(p.pid).or_insert_with(|| section.to_vec());
        }
        if sections.is_empty() {
            return Err(SampleAesError::NoPmt);
        }
        Ok(Psi { sections, kinds })
    }
}

/// The section a PSI packet starts (pointer field 0), when all of it is in the packet.
fn section_of<'a>(p: &Packet<'a>) -> Option<&'a [u8]> {
    let (&pointer, rest) = p.payload.split_first()?;
    if pointer != 0 {
        return None;
    }
    psi::complete_section(rest)
}

/// One PES of an encrypted stream: the packets that carry its bytes, in order.
struct PesPackets {
    pid: u16,
    packets: Vec<usize>,
}

/// The PES packets of the streams in `kinds`. Payload before a stream's first PES start
/// (the tail of one that began in an earlier segment) belongs to none and stays as it is.
fn group_pes(packets: &[Packet<'_>], kinds: &HashMap<u16, Kind>) -> Vec<PesPackets> {
    let mut out: Vec<PesPackets> = Vec::new();
    let mut open: HashMap<u16, usize> = HashMap::new();
    for (i, p) in packets.iter().enumerate() {
        if !kinds.contains_key(&p.pid) || p.payload.is_empty() {
            continue;
        }
        if p.unit_start {
            open.insert(p.pid, out.len());
            out.push(PesPackets {
                pid: p.pid,
                packets: vec![i],
            });
        } else if let Some(&k) = open.get(&p.pid) {
            out[k].packets.push(i);
        }
    }
    out
}

/// A PES with its samples encrypted, and an audio stream's configuration; `None` when it is
/// not a PES this can read (left as it is).
fn encrypt_pes(
    mut bytes: Vec<u8>,
    kind: Kind,
    key: &[u8; 16],
    iv: &[u8; 16],
) -> Option<(Vec<u8>, Option<crate::ts::adts::AdtsConfig>)> {
    if bytes.len() < 9 || bytes[..3] != [0, 0, 1] {
        return None;
    }
    let header = 9 + usize::from(bytes[8]);
    if header > bytes.len() {
        return None;
    }
    let (mut out, config) = match kind {
        Kind::Video => {
            let mut out = bytes[..header].to_vec();
            out.extend(encrypt_h264(&bytes[header..], key, iv));
            (out, None)
        }
        Kind::Audio => {
            let c = encrypt_adts(&mut bytes[header..], key, iv);
            (bytes, c)
        }
    };
    // Every PES that fits says its length, video too: a demuxer can hand the last one of a
    // segment on when its bytes are in, without waiting for the next segment's first PES
    // (ffmpeg decrypts a packet with the key of the segment it is reading when the packet
    // comes out: at a key change, an open-ended last PES would get the next key).
    let len = u16::try_from(out.len() - 6).unwrap_or(0);
    out[4..6].copy_from_slice(&len.to_be_bytes());
    Some((out, config))
}

/// The adaptation field fields of a packet without its stuffing (flags byte first); empty
/// when it has none or only stuffing.
fn af_core(raw: &[u8]) -> &[u8] {
    if raw[3] & 0x20 == 0 || raw[4] == 0 {
        return &[];
    }
    let af = &raw[5..5 + usize::from(raw[4]).min(PACKET_SIZE - 5)];
    let flags = af[0];
    if flags == 0 {
        return &[];
    }
    let mut n = 1;
    if flags & 0x10 != 0 {
        n += 6;
    }
    if flags & 0x08 != 0 {
        n += 6;
    }
    if flags & 0x04 != 0 {
        n += 1;
    }
    for bit in [0x02, 0x01] {
        if flags & bit != 0 {
            n += 1 + usize::from(af.get(n).copied().unwrap_or(0));
        }
    }
    &af[..n.min(af.len())]
}

/// `bytes` (a PES) in packets laid out as its old packets `at` were (each keeps its
/// adaptation field: PCR, random access), then as many more as it needs; the last one
/// stuffed. Continuity counters run on from the first one's, moved by `by`.
fn repacketize(
    ts: &[u8],
    packets: &[Packet<'_>],
    at: &[usize],
    bytes: &[u8],
    by: i32,
) -> Vec<[u8; PACKET_SIZE]> {
    let first = at[0];
    let last = &ts[at[at.len() - 1] * PACKET_SIZE..][..PACKET_SIZE];
    let mut cc = shifted(packets[first].continuity_counter, by);
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut j = 0;
    while !rest.is_empty() {
        let (raw, core): (&[u8], &[u8]) = match at.get(j) {
            Some(&i) => {
                let raw = &ts[i * PACKET_SIZE..][..PACKET_SIZE];
                (raw, af_core(raw))
            }
            None => (last, &[]),
        };
        let (p, took) = build_packet(raw, j == 0, cc, core, rest);
        out.push(p);
        rest = &rest[took..];
        cc = (cc + 1) & 0x0F;
        j += 1;
    }
    out
}

/// A packet with `like`'s PID and priority, `cc`, adaptation field `core` (when not empty)
/// and as much of `data` as fits; stuffed when that is all of it. Returns it and how much
/// it took.
fn build_packet(
    like: &[u8],
    unit_start: bool,
    cc: u8,
    core: &[u8],
    data: &[u8],
) -> ([u8; PACKET_SIZE], usize) {
    let mut p = [0xFFu8; PACKET_SIZE];
    p[0] = crate::ts::SYNC_BYTE;
    p[1] = (like[1] & !0x40) | if unit_start { 0x40 } else { 0 };
    p[2] = like[2];
    let room = PACKET_SIZE - 4;
    let af_min = if core.is_empty() { 0 } else { 1 + core.len() };
    let take = data.len().min(room - af_min);
    let af = room - take;
    if af == 0 {
        p[3] = (like[3] & 0xC0) | 0x10 | cc;
    } else {
        p[3] = (like[3] & 0xC0) | 0x30 | cc;
        p[4] = (af - 1) as u8;
        if af >= 2 {
            if core.is_empty() {
                p[5] = 0;
            } else {
                p[5..5 + core.len()].copy_from_slice(core);
            }
        }
    }
    p[4 + af..].copy_from_slice(&data[..take]);
    (p, take)
}

/// A PMT packet with `section` in place of its own (same header and adaptation field).
fn pmt_packet(
    raw: &[u8],
    p: &Packet<'_>,
    section: &[u8],
) -> Result<[u8; PACKET_SIZE], SampleAesError> {
    let mut payload = Vec::with_capacity(section.len() + 1);
    payload.push(0);
    payload.extend_from_slice(section);
    let (out, took) = build_packet(raw, true, p.continuity_counter, af_core(raw), &payload);
    if took < payload.len() {
        return Err(SampleAesError::Pmt(
            "does not fit its packet once the encryption descriptors are added".into(),
        ));
    }
    Ok(out)
}
