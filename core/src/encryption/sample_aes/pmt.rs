//! The PMT of a SAMPLE-AES stream (Apple's MPEG-2 Stream Encryption Format, §3): encrypted
//! H.264 as stream type 0xDB with a private data indicator `zavc`, encrypted ADTS AAC as 0xCF
//! with `aacd` and its setup information (`apad` registration descriptor).

use super::SampleAesError;
use crate::ts::adts::AdtsConfig;
use crate::ts::psi::crc32_mpeg2;
use std::collections::HashMap;

/// Encrypted H.264.
pub const STREAM_TYPE_H264: u8 = 0xDB;
/// Encrypted AAC in ADTS.
pub const STREAM_TYPE_AAC: u8 = 0xCF;

/// `section` (a whole PMT, CRC included) with its H.264 and AAC streams declared encrypted;
/// `audio` gives each AAC stream's configuration (by PID) for its setup information.
pub fn encrypted_pmt(
    section: &[u8],
    audio: &HashMap<u16, AdtsConfig>,
) -> Result<Vec<u8>, SampleAesError> {
    let bad = |why: &str| SampleAesError::Pmt(why.to_string());
    if section.len() < 16 || section[0] != 0x02 {
        return Err(bad("not a PMT section"));
    }
    let content = &section[..section.len() - 4];
    let info_len = usize::from(u16::from_be_bytes([content[10] & 0x0F, content[11]]));
    let head_end = 12 + info_len;
    let mut out = content.get(..head_end).ok_or(bad("truncated"))?.to_vec();
    let mut rest = &content[head_end..];
    while !rest.is_empty() {
        if rest.len() < 5 {
            return Err(bad("truncated stream entry"));
        }
        let stream_type = rest[0];
        let pid = u16::from_be_bytes([rest[1] & 0x1F, rest[2]]);
        let es_len = usize::from(u16::from_be_bytes([rest[3] & 0x0F, rest[4]]));
        let descriptors = rest
            .get(5..5 + es_len)
            .ok_or(bad("truncated descriptors"))?;
        let (new_type, added) = match stream_type {
            0x1B => (STREAM_TYPE_H264, private_data_indicator(b"zavc")),
            0x0F => {
                let mut d = private_data_indicator(b"aacd");
                if let Some(c) = audio.get(&pid) {
                    d.extend(aac_setup_descriptor(c));
                }
                (STREAM_TYPE_AAC, d)
            }
            t => (t, Vec::new()),
        };
        let len = es_len + added.len();
        out.push(new_type);
        out.extend_from_slice(&rest[1..3]);
        out.extend_from_slice(&(0xF000 | len as u16).to_be_bytes());
        out.extend_from_slice(descriptors);
        out.extend_from_slice(&added);
        rest = &rest[5 + es_len..];
    }
    let section_len = out.len() - 3 + 4;
    if section_len > 1021 {
        return Err(bad("too long once the encryption descriptors are added"));
    }
    out[1] = (out[1] & 0xF0) | ((section_len >> 8) as u8 & 0x0F);
    out[2] = section_len as u8;
    let crc = crc32_mpeg2(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    Ok(out)
}

/// ISO/IEC 13818-1 private_data_indicator_descriptor (tag 15).
fn private_data_indicator(value: &[u8; 4]) -> Vec<u8> {
    let mut d = vec![0x0F, 4];
    d.extend_from_slice(value);
    d
}

/// A registration descriptor (tag 5) `apad` with the stream's audio setup information:
/// `zaac`, priming 0, version 1, and the AudioSpecificConfig.
fn aac_setup_descriptor(c: &AdtsConfig) -> Vec<u8> {
    let asc = c.audio_specific_config();
    let mut info = b"zaac".to_vec();
    info.extend_from_slice(&[0, 0, 1, asc.len() as u8]);
    info.extend_from_slice(&asc);
    let mut d = vec![0x05, (4 + info.len()) as u8];
    d.extend_from_slice(b"apad");
    d.extend(info);
    d
}
