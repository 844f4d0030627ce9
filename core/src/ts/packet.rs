//! One 188-byte transport stream packet: header, adaptation field (with PCR) and payload.

use super::{PACKET_SIZE, SYNC_BYTE};

/// A parsed packet; `payload` borrows from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    pub transport_error: bool,
    /// payload_unit_start_indicator: a PES packet or a PSI section starts in this payload.
    pub unit_start: bool,
    pub pid: u16,
    pub scrambled: bool,
    pub continuity_counter: u8,
    /// Whether the header says a payload follows (continuity counters only count these).
    pub has_payload: bool,
    pub adaptation: Option<Adaptation>,
    pub payload: &'a [u8],
}

/// The adaptation field's flags this demuxer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Adaptation {
    pub discontinuity: bool,
    pub random_access: bool,
    /// Program clock reference in 27 MHz ticks (base × 300 + extension).
    pub pcr: Option<u64>,
}

/// Why a packet was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("packet shorter than 188 bytes")]
    Short,
    #[error("packet does not start with the sync byte 0x47")]
    NoSync,
    #[error("adaptation field longer than the packet")]
    BadAdaptationLength,
}

/// The null packet's PID (stuffing at the transport level).
pub const NULL_PID: u16 = 0x1FFF;

/// Parses one packet from the first 188 bytes of `p`.
pub fn parse(p: &[u8]) -> Result<Packet<'_>, PacketError> {
    let p = p.get(..PACKET_SIZE).ok_or(PacketError::Short)?;
    if p[0] != SYNC_BYTE {
        return Err(PacketError::NoSync);
    }
    let transport_error = p[1] & 0x80 != 0;
    let unit_start = p[1] & 0x40 != 0;
    let pid = (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2]);
    let scrambled = p[3] & 0xC0 != 0;
    let afc = (p[3] >> 4) & 0x03;
    let continuity_counter = p[3] & 0x0F;
    let mut pos = 4usize;
    let mut adaptation = None;
    if afc & 0x02 != 0 {
        let len = usize::from(p[4]);
        pos = 5 + len;
        if pos > PACKET_SIZE {
            return Err(PacketError::BadAdaptationLength);
        }
        if len > 0 {
            let flags = p[5];
            let mut a = Adaptation {
                discontinuity: flags & 0x80 != 0,
                random_access: flags & 0x40 != 0,
                pcr: None,
            };
            if flags & 0x10 != 0 && len >= 7 {
                let b = &p[6..12];
                let base = (u64::from(b[0]) << 25)
                    | (u64::from(b[1]) << 17)
                    | (u64::from(b[2]) << 9)
                    | (u64::from(b[3]) << 1)
                    | (u64::from(b[4]) >> 7);
                let ext = (u64::from(b[4] & 0x01) << 8) | u64::from(b[5]);
                a.pcr = Some(base * 300 + ext);
            }
            adaptation = Some(a);
        } else {
            adaptation = Some(Adaptation::default());
        }
    }
    let has_payload = afc & 0x01 != 0;
    let payload = if has_payload { &p[pos..] } else { &[][..] };
    Ok(Packet {
        transport_error,
        unit_start,
        pid,
        scrambled,
        continuity_counter,
        has_payload,
        adaptation,
        payload,
    })
}

/// Where the next packet starts at or after `from`: a sync byte followed by another one
/// 188 bytes later, so a stray 0x47 inside a payload is not taken for a packet start. Near the
/// end of the data (less than a packet and a byte left) a lone sync byte is taken as a
/// candidate: the caller sees whether a whole packet follows.
pub fn resync(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < data.len() {
        if data[i] == SYNC_BYTE {
            match data.get(i + PACKET_SIZE) {
                Some(&b) if b == SYNC_BYTE => return Some(i),
                None => return Some(i),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// Builds a packet carrying as much of `payload` as fits; returns it and how many payload bytes
/// it took (tests, benches and fuzzing; the daemon never writes TS).
#[cfg(any(test, feature = "fuzzing"))]
pub fn build(
    pid: u16,
    unit_start: bool,
    cc: u8,
    adaptation: Option<Adaptation>,
    payload: &[u8],
) -> (Vec<u8>, usize) {
    let room = PACKET_SIZE - 4;
    let mut p = vec![
        SYNC_BYTE,
        ((pid >> 8) as u8 & 0x1F) | if unit_start { 0x40 } else { 0 },
        pid as u8,
        0x10 | (cc & 0x0F),
    ];
    if adaptation.is_none() && payload.len() >= room {
        p.extend_from_slice(&payload[..room]);
        return (p, room);
    }
    let a = adaptation.unwrap_or_default();
    let mut af = vec![
        (if a.discontinuity { 0x80 } else { 0 })
            | (if a.random_access { 0x40 } else { 0 })
            | (if a.pcr.is_some() { 0x10 } else { 0 }),
    ];
    if let Some(pcr) = a.pcr {
        let base = pcr / 300;
        let ext = pcr % 300;
        af.extend_from_slice(&[
            (base >> 25) as u8,
            (base >> 17) as u8,
            (base >> 9) as u8,
            (base >> 1) as u8,
            ((base & 1) << 7) as u8 | 0x7E | (ext >> 8) as u8,
            ext as u8,
        ]);
    }
    let take = payload.len().min(room - 1 - af.len());
    af.resize(room - 1 - take, 0xFF);
    p[3] |= 0x20;
    p.push(af.len() as u8);
    p.extend_from_slice(&af);
    p.extend_from_slice(&payload[..take]);
    (p, take)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_adaptation_and_pcr() {
        let a = Adaptation {
            discontinuity: false,
            random_access: true,
            pcr: Some(27_000_000 * 5 + 17),
        };
        let (p, _) = build(0x100, true, 7, Some(a), &[1, 2, 3]);
        let got = parse(&p).unwrap();
        assert!(got.unit_start);
        assert_eq!(got.pid, 0x100);
        assert_eq!(got.continuity_counter, 7);
        assert_eq!(got.adaptation, Some(a));
        assert_eq!(got.payload, &[1, 2, 3]);
    }

    #[test]
    fn full_payload_without_adaptation() {
        let payload = [9u8; 184];
        let (p, _) = build(0x11, false, 15, None, &payload);
        let got = parse(&p).unwrap();
        assert_eq!(got.adaptation, None);
        assert_eq!(got.payload, &payload[..]);
    }

    #[test]
    fn rejects() {
        assert_eq!(parse(&[0x47; 10]), Err(PacketError::Short));
        assert_eq!(parse(&[0u8; 188]), Err(PacketError::NoSync));
        let (mut p, _) = build(1, false, 0, None, &[0; 184]);
        p[3] = 0x30;
        p[4] = 190;
        assert_eq!(parse(&p), Err(PacketError::BadAdaptationLength));
    }

    #[test]
    fn resync_skips_stray_sync_bytes() {
        let mut data = vec![0x00, 0x47, 0x01];
        data.extend(build(1, false, 0, None, &[0; 184]).0);
        data.extend(build(1, false, 1, None, &[0; 184]).0);
        assert_eq!(resync(&data, 0), Some(3));
        assert_eq!(resync(&[0, 0x47, 0, 0], 0), Some(1));
        assert_eq!(resync(&[0, 0x46, 0, 0], 0), None);
    }
}
