//! The samples of Apple's SAMPLE-AES (the MPEG-2 Stream Encryption Format for HTTP Live
//! Streaming, §2): which bytes of an H.264 NAL unit or an ADTS frame are encrypted, in
//! AES-128-CBC restarted from the playlist's IV at each NAL unit and each frame.
//!
//! - H.264: slices (NAL types 1 and 5) longer than 48 bytes: 32 bytes clear (the NAL header
//!   and 31 more), then one 16-byte block encrypted and up to 144 bytes clear, repeated while
//!   more than 16 bytes remain (a last block of 16 bytes or less stays clear). The encryption
//!   runs over the NAL unit as it is in the stream, emulation prevention bytes included; then
//!   emulation prevention is applied again over the whole result, so no start code appears in
//!   it. Players take those bytes out, decrypt, and have the NAL unit back.
//! - AAC in ADTS: the header and 16 bytes clear, then every whole 16-byte block encrypted,
//!   the remainder (0–15 bytes) clear. The frame keeps its size.

use crate::encryption::cipher::cbcs_ranges;
use crate::ts::adts::{self, Adts, AdtsConfig};
use crate::ts::h264::nal_ranges;

/// Slices this long or shorter are left clear.
const MIN_ENCRYPTED_NAL: usize = 48;
/// Clear bytes at the start of an encrypted NAL unit.
const NAL_CLEAR_LEADER: usize = 32;
/// Clear bytes after an ADTS header.
const AUDIO_CLEAR_LEADER: usize = 16;

/// The H.264 elementary stream bytes `es` (Annex B) with their slices encrypted.
pub fn encrypt_h264(es: &[u8], key: &[u8; 16], iv: &[u8; 16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(es.len() + es.len() / 1024 + 16);
    let mut copied = 0;
    let mut nal = Vec::new();
    for (start, end) in nal_ranges(es) {
        let unit = &es[start..end];
        let slice = matches!(unit[0] & 0x1F, 1 | 5);
        if !slice || unit.len() <= MIN_ENCRYPTED_NAL {
            continue;
        }
        out.extend_from_slice(&es[copied..start]);
        nal.clear();
        nal.extend_from_slice(unit);
        // Blocks at 32 + 160·k while more than 16 bytes remain: one block, then nine
        // skipped, over the range that stops a byte short (a last whole block stays clear).
        let len = nal.len();
        cbcs_ranges(key, iv, &mut nal, &[(NAL_CLEAR_LEADER, len - 1)], 1, 9);
        add_emulation_prevention(&nal, &mut out);
        copied = end;
    }
    out.extend_from_slice(&es[copied..]);
    out
}

/// Encrypts the ADTS frames of `es` in place; returns the first frame's configuration. Bytes
/// that are not whole frames (a frame cut at the end of the PES, a header this cannot read)
/// are refused with the reason: they would stay clear.
pub fn encrypt_adts(es: &mut [u8], key: &[u8; 16], iv: &[u8; 16]) -> Result<AdtsConfig, String> {
    let mut config = None;
    let mut at = 0;
    while at < es.len() {
        let f = match adts::parse_frame(&es[at..]) {
            Ok(Adts::Frame(f)) => f,
            Ok(Adts::Incomplete) => {
                return Err("an ADTS frame cut at the end of its PES (SAMPLE-AES needs whole frames in each PES)".into())
            }
            Err(e) => return Err(format!("ADTS: {e}")),
        };
        config.get_or_insert(f.config);
        let frame = &mut es[at..at + f.frame_len];
        cbcs_ranges(
            key,
            iv,
            frame,
            &[(f.header_len + AUDIO_CLEAR_LEADER, f.frame_len)],
            0,
            0,
        );
        at += f.frame_len;
    }
    config.ok_or_else(|| "an audio PES without an ADTS frame".into())
}

/// Appends `nal` to `out` with an emulation prevention byte (0x03) after every two zero
/// bytes that a byte of 0x03 or less follows (ISO/IEC 14496-10 §7.4.1).
pub fn add_emulation_prevention(nal: &[u8], out: &mut Vec<u8>) {
    let mut copied = 0;
    let mut i = 0;
    while i + 2 < nal.len() {
        if nal[i + 2] > 3 {
            // No two zeros and a small byte can start at i, i + 1 or i + 2.
            i += 3;
        } else if nal[i] == 0 && nal[i + 1] == 0 {
            out.extend_from_slice(&nal[copied..i + 2]);
            out.push(3);
            copied = i + 2;
            i += 2;
        } else {
            i += 1;
        }
    }
    out.extend_from_slice(&nal[copied..]);
}
