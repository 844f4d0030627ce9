//! Writing the `splice_info_section` of a cue the origin makes itself (the operator's
//! splices, an `EXT-X-CUE-OUT` that came without binary).

use super::SpliceInsert;
use crate::ts::psi::crc32_mpeg2;

/// A whole `splice_info_section` (CRC included) carrying `insert` as a program splice, tier
/// 0xFFF, no descriptors.
pub fn splice_insert_section(insert: &SpliceInsert) -> Vec<u8> {
    let mut cmd = Vec::with_capacity(20);
    cmd.extend_from_slice(&insert.event_id.to_be_bytes());
    if insert.cancel {
        cmd.push(0xFF);
    } else {
        cmd.push(0x7F);
        let mut flags = 0x40 | 0x0F; // program_splice_flag, event_id_compliance + reserved
        if insert.out_of_network {
            flags |= 0x80;
        }
        if insert.duration.is_some() {
            flags |= 0x20;
        }
        if insert.immediate {
            flags |= 0x10;
        }
        cmd.push(flags);
        if !insert.immediate {
            match insert.pts {
                Some(pts) => push33(&mut cmd, 0xFE, pts),
                None => cmd.push(0x7F),
            }
        }
        if let Some(d) = insert.duration {
            push33(&mut cmd, if insert.auto_return { 0xFE } else { 0x7E }, d);
        }
        cmd.extend_from_slice(&insert.unique_program_id.to_be_bytes());
        cmd.push(insert.avail_num);
        cmd.push(insert.avails_expected);
    }
    // protocol_version .. splice_command_type (11), command, descriptor_loop_length (2), CRC (4).
    let section_length = 11 + cmd.len() + 2 + 4;
    let mut s = Vec::with_capacity(3 + section_length);
    s.push(0xFC);
    s.extend_from_slice(&(0x3000 | section_length as u16).to_be_bytes());
    s.push(0); // protocol_version
    s.extend_from_slice(&[0, 0, 0, 0, 0]); // not encrypted, pts_adjustment 0
    s.push(0xFF); // cw_index
    let tier_and_len = (0xFFFu32 << 12) | cmd.len() as u32;
    s.extend_from_slice(&tier_and_len.to_be_bytes()[1..]);
    s.push(0x05);
    s.extend_from_slice(&cmd);
    s.extend_from_slice(&[0, 0]);
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

/// A 33-bit value behind 7 bits that start with `high` (its low bit replaced by the value's
/// top bit).
fn push33(out: &mut Vec<u8>, high: u8, v: u64) {
    let v = v & ((1 << 33) - 1);
    out.push((high & 0xFE) | (v >> 32) as u8);
    out.extend_from_slice(&(v as u32).to_be_bytes());
}
