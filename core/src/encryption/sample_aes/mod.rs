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
pub use samples::{add_emulation_prevention, encrypt_adts, encrypt_h264};

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
    /// Bytes of an encrypted stream that cannot be read as whole PES packets and frames:
    /// the segment is not published rather than served partly clear.
    #[error("PID {0}: {1}")]
    Stream(u16, String),
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

/// Stream types passed through clear: private sections, DSM-CC, ID3 timed metadata, SCTE-35
/// (not PES private data, 0x06, which can be AC-3 or Opus audio).
fn passes_clear(t: u8) -> bool {
    matches!(t, 0x05 | 0x0D | 0x15 | 0x86)
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
    let pes = group_pes(&packets, &psi.kinds)?;
    let mut audio = HashMap::new();
    let encrypted = pes
        .iter()
        .map(|p| {
            let kind = psi.kinds[&p.pid];
            let mut bytes = Vec::with_capacity(p.packets.len() * (PACKET_SIZE - 4));
            for &i in &p.packets {
                bytes.extend_from_slice(packets[i].payload);
            }
            let (new, config) = encrypt_pes(bytes, kind, key, iv)
                .map_err(|why| SampleAesError::Stream(p.pid, why))?;
            if let Some(c) = config {
                audio.entry(p.pid).or_insert(c);
            }
            Ok(new)
        })
        .collect::<Result<Vec<Vec<u8>>, SampleAesError>>()?;
    let pmts = psi
        .sections
        .iter()
        .map(|(pid, s)| Ok((*pid, pmt::encrypted_pmt(s, &audio)?)))
        .collect::<Result<HashMap<u16, Vec<u8>>, SampleAesError>>()?;

    let mut slot: Vec<Option<(usize, usize)>> = vec![None; packets.len()];
    let mut last_pes: HashMap<u16, usize> = HashMap::new();
    for (k, p) in pes.iter().enumerate() {
        for (j, &i) in p.packets.iter().enumerate() {
            slot[i] = Some((k, j));
        }
        last_pes.insert(p.pid, k);
    }
    let mut out = Vec::with_capacity(ts.len() + 4 * PACKET_SIZE);
    // By how much each PID's continuity counters move (packets its PES gained or lost); a
    // PID's last PES takes what brings that back to a multiple of 16, so the next segment's
    // counters (which the encoder numbered on from this one's) still follow on.
    let pids = usize::from(packet::NULL_PID) + 1;
    let mut shift = vec![0i32; pids];
    // The counter of each PID's last packet written with a payload (a packet without one
    // repeats it).
    let mut last_cc: Vec<Option<u8>> = vec![None; pids];
    let mut pmt_of: Vec<Option<&[u8]>> = vec![None; pids];
    for (pid, section) in &pmts {
        pmt_of[usize::from(*pid)] = Some(section);
    }
    // The packets of the PES being written on each PID, not yet placed.
    let mut pending: HashMap<u16, std::collections::VecDeque<[u8; PACKET_SIZE]>> = HashMap::new();
    for (i, (raw, p)) in ts.chunks_exact(PACKET_SIZE).zip(&packets).enumerate() {
        let pid = usize::from(p.pid);
        if let Some(section) = pmt_of[pid] {
            out.extend_from_slice(&pmt_packet(raw, p, section)?);
            continue;
        }
        let Some((k, j)) = slot[i] else {
            let mut copy = [0u8; PACKET_SIZE];
            copy.copy_from_slice(raw);
            let cc = match (p.has_payload, last_cc[pid]) {
                (false, Some(cc)) => cc,
                _ => shifted(p.continuity_counter, shift[pid]),
            };
            copy[3] = (copy[3] & 0xF0) | cc;
            if p.has_payload {
                last_cc[pid] = Some(cc);
            }
            out.extend_from_slice(&copy);
            continue;
        };
        let at = &pes[k].packets;
        let queue = pending.entry(p.pid).or_default();
        if j == 0 {
            let by = shift[pid];
            let mut built = repacketize(ts, at, &encrypted[k], by, 0);
            if last_pes.get(&p.pid) == Some(&k) {
                let total = by + built.len() as i32 - at.len() as i32;
                let pad = (16 - total.rem_euclid(16)) % 16;
                if pad > 0 {
                    built = repacketize(ts, at, &encrypted[k], by, pad as usize);
                }
            }
            shift[pid] += built.len() as i32 - at.len() as i32;
            queue.clear();
            queue.extend(built);
        }
        let take = if j + 1 < at.len() { 1 } else { queue.len() };
        for q in queue.drain(..take.min(queue.len())) {
            last_cc[pid] = Some(q[3] & 0x0F);
            out.extend_from_slice(&q);
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

/// The PES packets of the streams in `kinds`. A segment that starts inside a PES of one of
/// them (its first bytes the tail of a PES begun in an earlier segment) is refused: those
/// bytes could not be encrypted.
fn group_pes(
    packets: &[Packet<'_>],
    kinds: &HashMap<u16, Kind>,
) -> Result<Vec<PesPackets>, SampleAesError> {
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
        } else {
            return Err(SampleAesError::Stream(
                p.pid,
                "the segment starts inside a PES (each segment must start its streams with a \
                 new PES)"
                    .into(),
            ));
        }
    }
    Ok(out)
}

/// A PES with its samples encrypted, and an audio stream's configuration; why not, when it
/// is not a whole PES of whole samples.
fn encrypt_pes(
    mut bytes: Vec<u8>,
    kind: Kind,
    key: &[u8; 16],
    iv: &[u8; 16],
) -> Result<(Vec<u8>, Option<crate::ts::adts::AdtsConfig>), String> {
    if bytes.len() < 9 || bytes[..3] != [0, 0, 1] {
        return Err("a PES without its start code".into());
    }
    let header = 9 + usize::from(bytes[8]);
    let declared = usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
    if header > bytes.len() || (declared > 0 && 6 + declared > bytes.len()) {
        return Err("a PES cut short (it goes on past the end of the segment)".into());
    }
    let (mut out, config) = match kind {
        Kind::Video => {
            let mut out = bytes[..header].to_vec();
            out.extend(encrypt_h264(&bytes[header..], key, iv));
            (out, None)
        }
        Kind::Audio => {
            let c = encrypt_adts(&mut bytes[header..], key, iv)?;
            (bytes, Some(c))
        }
    };
    // Every PES that fits says its length, video too: a demuxer can hand the last one of a
    // segment on when its bytes are in, without waiting for the next segment's first PES
    // (ffmpeg decrypts a packet with the key of the segment it is reading when the packet
    // comes out: at a key change, an open-ended last PES would get the next key).
    let len = u16::try_from(out.len() - 6).unwrap_or(0);
    out[4..6].copy_from_slice(&len.to_be_bytes());
    Ok((out, config))
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
/// adaptation field: PCR, random access), then as many more as it needs, and `extra` more
/// (one byte each, taken from the end of the ones before); the last one stuffed. Continuity
/// counters run on from the first one's, moved by `by`.
fn repacketize(
    ts: &[u8],
    at: &[usize],
    bytes: &[u8],
    by: i32,
    extra: usize,
) -> Vec<[u8; PACKET_SIZE]> {
    let raw = |j: usize| at.get(j).map(|&i| &ts[i * PACKET_SIZE..][..PACKET_SIZE]);
    let core = |j: usize| raw(j).map_or(&[][..], af_core);
    // How much of `bytes` each packet carries.
    let mut sizes = Vec::new();
    let mut left = bytes.len();
    while left > 0 {
        let c = core(sizes.len()).len();
        let room = PACKET_SIZE - 4 - if c > 0 { 1 + c } else { 0 };
        let take = left.min(room);
        sizes.push(take);
        left -= take;
    }
    let mut moved = 0;
    for size in sizes.iter_mut().rev() {
        let give = (*size - 1).min(extra - moved);
        *size -= give;
        moved += give;
        if moved == extra {
            break;
        }
    }
    sizes.extend(std::iter::repeat_n(1, moved));
    let last = raw(at.len() - 1).unwrap_or(&ts[..PACKET_SIZE]);
    let first_cc = raw(0).map_or(0, |r| r[3] & 0x0F);
    let mut cc = shifted(first_cc, by);
    let mut out = Vec::with_capacity(sizes.len());
    let mut rest = bytes;
    for (j, size) in sizes.into_iter().enumerate() {
        let (p, took) = build_packet(raw(j).unwrap_or(last), j == 0, cc, core(j), &rest[..size]);
        debug_assert_eq!(took, size);
        out.push(p);
        rest = &rest[size..];
        cc = (cc + 1) & 0x0F;
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
