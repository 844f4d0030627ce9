//! Program-specific information: the PAT (programs → PMT PIDs) and PMTs (program →
//! elementary streams), with the sections' CRC-32 checked.

/// Elementary stream types streampack repackages (ISO/IEC 13818-1 table 2-34).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamType {
    H264,
    H265,
    /// AAC in ADTS frames.
    AacAdts,
    /// Anything else (kept so errors can say what was found).
    Other(u8),
}

impl StreamType {
    /// The PMT's `stream_type` byte.
    pub fn from_byte(b: u8) -> StreamType {
        match b {
            0x1B => StreamType::H264,
            0x24 => StreamType::H265,
            0x0F => StreamType::AacAdts,
            other => StreamType::Other(other),
        }
    }

    /// Whether the repackager can carry this stream into CMAF.
    pub fn supported(self) -> bool {
        !matches!(self, StreamType::Other(_))
    }
}

/// One elementary stream of a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElementaryStream {
    pub pid: u16,
    pub stream_type: StreamType,
}

/// A program as its PMT describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub number: u16,
    pub pmt_pid: u16,
    pub pcr_pid: u16,
    pub streams: Vec<ElementaryStream>,
}

/// Why a section was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PsiError {
    #[error("PSI section truncated")]
    Truncated,
    #[error("PSI section CRC-32 mismatch")]
    Crc,
    #[error("unexpected table id {0:#04x}")]
    TableId(u8),
}

/// CRC-32/MPEG-2 (polynomial 0x04C11DB7, no reflection, initial value all ones).
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The complete section at the start of `data` (`table_id` … CRC), if all of it is there.
/// `data` starts at the table id (after the pointer field).
pub fn complete_section(data: &[u8]) -> Option<&[u8]> {
    if data.len() < 3 {
        return None;
    }
    let len = (usize::from(data[1] & 0x0F) << 8) | usize::from(data[2]);
    data.get(..3 + len)
}

/// The body of a long-form section (after the 8-byte header, before the CRC), checked.
fn body(section: &[u8], table_id: u8) -> Result<&[u8], PsiError> {
    if section.len() < 12 {
        return Err(PsiError::Truncated);
    }
    if section[0] != table_id {
        return Err(PsiError::TableId(section[0]));
    }
    let (content, crc) = section.split_at(section.len() - 4);
    let want = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32_mpeg2(content) != want {
        return Err(PsiError::Crc);
    }
    Ok(&content[8..])
}

/// PAT → `(program_number, pmt_pid)` in table order, without the network PID (program 0).
pub fn parse_pat(section: &[u8]) -> Result<Vec<(u16, u16)>, PsiError> {
    let b = body(section, 0x00)?;
    Ok(b.chunks_exact(4)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u16::from_be_bytes([c[2] & 0x1F, c[3]]),
            )
        })
        .filter(|&(n, _)| n != 0)
        .collect())
}

/// PMT → the program's PCR PID and elementary streams.
pub fn parse_pmt(section: &[u8], pmt_pid: u16) -> Result<Program, PsiError> {
    let b = body(section, 0x02)?;
    let number = u16::from_be_bytes([section[3], section[4]]);
    if b.len() < 4 {
        return Err(PsiError::Truncated);
    }
    let pcr_pid = u16::from_be_bytes([b[0] & 0x1F, b[1]]);
    let info_len = usize::from(u16::from_be_bytes([b[2] & 0x0F, b[3]]));
    let mut rest = b.get(4 + info_len..).ok_or(PsiError::Truncated)?;
    let mut streams = Vec::new();
    while rest.len() >= 5 {
        let stream_type = StreamType::from_byte(rest[0]);
        let pid = u16::from_be_bytes([rest[1] & 0x1F, rest[2]]);
        let es_len = usize::from(u16::from_be_bytes([rest[3] & 0x0F, rest[4]]));
        rest = rest.get(5 + es_len..).ok_or(PsiError::Truncated)?;
        streams.push(ElementaryStream { pid, stream_type });
    }
    Ok(Program {
        number,
        pmt_pid,
        pcr_pid,
        streams,
    })
}

/// Writes a section with its header and CRC (tests and fuzzing).
#[cfg(any(test, feature = "fuzzing"))]
pub fn build_section(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
    let len = 5 + body.len() + 4;
    let mut s = vec![table_id, 0xB0 | ((len >> 8) as u8 & 0x0F), len as u8];
    s.extend_from_slice(&id.to_be_bytes());
    s.extend_from_slice(&[0xC1, 0, 0]);
    s.extend_from_slice(body);
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

/// A PAT listing `(program_number, pmt_pid)`.
#[cfg(any(test, feature = "fuzzing"))]
pub fn build_pat(programs: &[(u16, u16)]) -> Vec<u8> {
    let mut b = Vec::new();
    for &(n, pid) in programs {
        b.extend_from_slice(&n.to_be_bytes());
        b.extend_from_slice(&(0xE000 | pid).to_be_bytes());
    }
    build_section(0x00, 1, &b)
}

/// A PMT with `(stream_type, pid)` entries.
#[cfg(any(test, feature = "fuzzing"))]
pub fn build_pmt(number: u16, pcr_pid: u16, streams: &[(u8, u16)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(0xE000 | pcr_pid).to_be_bytes());
    b.extend_from_slice(&[0xF0, 0]);
    for &(t, pid) in streams {
        b.push(t);
        b.extend_from_slice(&(0xE000 | pid).to_be_bytes());
        b.extend_from_slice(&[0xF0, 0]);
    }
    build_section(0x02, number, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_known_value() {
        // The CRC catalogue's check value for CRC-32/MPEG-2.
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
    }

    #[test]
    fn pat_and_pmt_round_trip() {
        let pat = build_pat(&[(0, 0x10), (1, 0x1000), (2, 0x1001)]);
        assert_eq!(complete_section(&pat), Some(&pat[..]));
        assert_eq!(parse_pat(&pat).unwrap(), vec![(1, 0x1000), (2, 0x1001)]);
        let pmt = build_pmt(1, 0x100, &[(0x1B, 0x100), (0x0F, 0x101), (0x15, 0x102)]);
        let p = parse_pmt(&pmt, 0x1000).unwrap();
        assert_eq!(p.pcr_pid, 0x100);
        assert_eq!(
            p.streams.iter().map(|s| s.stream_type).collect::<Vec<_>>(),
            vec![
                StreamType::H264,
                StreamType::AacAdts,
                StreamType::Other(0x15)
            ]
        );
    }

    #[test]
    fn corrupt_sections_are_rejected() {
        let mut pat = build_pat(&[(1, 0x1000)]);
        pat[9] ^= 1;
        assert_eq!(parse_pat(&pat), Err(PsiError::Crc));
        assert_eq!(parse_pat(&pat[..5]), Err(PsiError::Truncated));
        assert_eq!(
            parse_pmt(&build_pat(&[(1, 2)]), 0),
            Err(PsiError::TableId(0))
        );
    }
}
