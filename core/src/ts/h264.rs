//! H.264 in Annex B form: NAL unit splitting, the SPS fields CMAF needs (profile, level,
//! picture size), `avcC` (AVCDecoderConfigurationRecord) and the RFC 6381 codecs string.

use super::bits::{fraction, picture_size, rbsp, Bits};
use super::EsError;

/// `nal_unit_type`s the repackager acts on: IDR marks sync samples; SPS/PPS go to `avcC`;
/// AUD is dropped.
pub const NAL_IDR: u8 = 5;
pub const NAL_SEI: u8 = 6;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;
pub const NAL_AUD: u8 = 9;
/// SPS extension (alpha planes): not part of `avcC`'s main arrays; dropped.
pub const NAL_SPS_EXT: u8 = 13;

/// Whether an SEI NAL unit (H.264 type 6, H.265 prefix SEI) carries ATSC A/53 closed
/// captions (CEA-608/708 `cc_data`): a `user_data_registered_itu_t_t35` message with the
/// `GA94` identifier and user data type 3.
pub fn carries_a53_captions(sei: &[u8]) -> bool {
    memchr::memmem::find(sei, b"GA94\x03").is_some()
}

/// The NAL units of an Annex B byte stream (start codes `00 00 01` / `00 00 00 01` removed,
/// trailing zero bytes of each unit dropped).
pub fn nal_units(data: &[u8]) -> Vec<&[u8]> {
    nal_ranges(data)
        .into_iter()
        .filter_map(|(s, e)| {
            let unit = &data[s..e];
            let end = unit.iter().rposition(|&b| b != 0)? + 1;
            Some(&unit[..end])
        })
        .collect()
}

/// Where the NAL units of an Annex B stream are: from after each start code to the next
/// start code (a 4-byte start code's leading zero is not part of the unit before it; other
/// trailing zeros are, as players that decrypt SAMPLE-AES split units). Start codes are found
/// with memchr's SIMD search.
pub fn nal_ranges(es: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for code in memchr::memmem::find_iter(es, &[0, 0, 1]) {
        if let Some(s) = start {
            let end = if code > s && es[code - 1] == 0 {
                code - 1
            } else {
                code
            };
            if end > s {
                out.push((s, end));
            }
        }
        start = Some(code + 3);
    }
    if let Some(s) = start.filter(|&s| s < es.len()) {
        out.push((s, es.len()));
    }
    out
}

/// `nal_unit_type` of an H.264 NAL unit.
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1F)
}

/// The SPS fields streampack uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sps {
    pub profile_idc: u8,
    pub constraint_flags: u8,
    pub level_idc: u8,
    pub chroma_format_idc: u32,
    pub bit_depth_luma: u32,
    pub bit_depth_chroma: u32,
    pub width: u32,
    pub height: u32,
    /// Frames per second as a fraction, from the VUI's timing info (absent: `None`).
    pub frame_rate: Option<(u32, u32)>,
}

fn high_profile(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

/// Parses an SPS NAL unit (with its one-byte header).
pub fn parse_sps(nal: &[u8]) -> Result<Sps, EsError> {
    let data = rbsp(nal);
    let mut b = Bits::new(&data, "H.264 SPS");
    b.skip(8)?;
    let profile_idc = b.bits(8)? as u8;
    let constraint_flags = b.bits(8)? as u8;
    let level_idc = b.bits(8)? as u8;
    b.ue()?; // seq_parameter_set_id
    let (mut chroma_format_idc, mut bit_depth_luma, mut bit_depth_chroma) = (1, 8, 8);
    let mut separate_colour_plane = false;
    if high_profile(profile_idc) {
        chroma_format_idc = b.ue()?;
        if chroma_format_idc == 3 {
            separate_colour_plane = b.bit()? == 1;
        }
        bit_depth_luma = b.ue()?.saturating_add(8);
        bit_depth_chroma = b.ue()?.saturating_add(8);
        b.bit()?; // qpprime_y_zero_transform_bypass_flag
        if b.bit()? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if b.bit()? == 1 {
                    skip_scaling_list(&mut b, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    b.ue()?; // log2_max_frame_num_minus4
    match b.ue()? {
        0 => {
            b.ue()?;
        }
        1 => {
            b.bit()?;
            b.se()?;
            b.se()?;
            let n = b.ue()?;
            if n > 255 {
                return Err(EsError::Invalid {
                    what: "H.264 SPS",
                    why: format!("{n} POC cycle entries"),
                });
            }
            for _ in 0..n {
                b.se()?;
            }
        }
        _ => {}
    }
    b.ue()?; // max_num_ref_frames
    b.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(b.ue()?) + 1;
    let height_units = u64::from(b.ue()?) + 1;
    let frame_mbs_only = u64::from(b.bit()?);
    if frame_mbs_only == 0 {
        b.bit()?;
    }
    b.bit()?; // direct_8x8_inference_flag
    let (mut cl, mut cr, mut ct, mut cb) = (0u64, 0u64, 0u64, 0u64);
    if b.bit()? == 1 {
        cl = b.ue()?.into();
        cr = b.ue()?.into();
        ct = b.ue()?.into();
        cb = b.ue()?.into();
    }
    // The VUI is optional information: a damaged one does not make the SPS unusable.
    let frame_rate = vui_frame_rate(&mut b).ok().flatten();
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (sub_w, sub_h) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let (crop_x, crop_y) = if chroma_array_type == 0 {
        (1, 2 - frame_mbs_only)
    } else {
        (sub_w, sub_h * (2 - frame_mbs_only))
    };
    let width = (width_mbs * 16).saturating_sub(crop_x * (cl + cr));
    let height = ((2 - frame_mbs_only) * height_units * 16).saturating_sub(crop_y * (ct + cb));
    let (width, height) = picture_size("H.264 SPS", width, height)?;
    Ok(Sps {
        profile_idc,
        constraint_flags,
        level_idc,
        chroma_format_idc,
        bit_depth_luma,
        bit_depth_chroma,
        width,
        height,
        frame_rate,
    })
}

/// `time_scale / (2 · num_units_in_tick)` from the VUI, skipping the fields before it.
fn vui_frame_rate(b: &mut Bits<'_>) -> Result<Option<(u32, u32)>, EsError> {
    if b.bit()? == 0 {
        return Ok(None); // vui_parameters_present_flag
    }
    if b.bit()? == 1 && b.bits(8)? == 255 {
        b.skip(32)?; // extended SAR
    }
    if b.bit()? == 1 {
        b.bit()?; // overscan_appropriate_flag
    }
    if b.bit()? == 1 {
        b.skip(4)?; // video_format, video_full_range_flag
        if b.bit()? == 1 {
            b.skip(24)?; // colour description
        }
    }
    if b.bit()? == 1 {
        b.ue()?; // chroma sample locations
        b.ue()?;
    }
    if b.bit()? == 0 {
        return Ok(None); // timing_info_present_flag
    }
    let units = u64::from(b.bits(32)?);
    let scale = u64::from(b.bits(32)?);
    Ok(fraction(scale, 2 * units))
}

fn skip_scaling_list(b: &mut Bits<'_>, size: usize) -> Result<(), EsError> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            let delta = b.se()?;
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// `avc1.PPCCLL`.
pub fn codecs(sps: &Sps) -> String {
    format!(
        "avc1.{:02x}{:02x}{:02x}",
        sps.profile_idc, sps.constraint_flags, sps.level_idc
    )
}

/// The AVCDecoderConfigurationRecord (the body of `avcC`), 4-byte NAL lengths.
pub fn avc_config(sps_nal: &[u8], pps: &[&[u8]], sps: &Sps) -> Vec<u8> {
    let mut out = vec![
        1,
        sps.profile_idc,
        sps.constraint_flags,
        sps.level_idc,
        0xFF,
        0xE1,
    ];
    out.extend_from_slice(&(sps_nal.len() as u16).to_be_bytes());
    out.extend_from_slice(sps_nal);
    out.push(pps.len().min(255) as u8);
    for p in pps.iter().take(255) {
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        out.extend_from_slice(p);
    }
    if matches!(sps.profile_idc, 100 | 110 | 122 | 144) {
        out.push(0xFC | (sps.chroma_format_idc as u8 & 0x03));
        out.push(0xF8 | (sps.bit_depth_luma.saturating_sub(8) as u8 & 0x07));
        out.push(0xF8 | (sps.bit_depth_chroma.saturating_sub(8) as u8 & 0x07));
        out.push(0);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // x264's SPS for 640x360 High@3.0 (from the h264_aac fixture).
    pub(crate) const SPS_640X360: &[u8] = &[
        0x67, 0x64, 0x00, 0x1e, 0xac, 0xb4, 0x05, 0x01, 0x7f, 0xcb, 0x80, 0x88, 0x00, 0x00, 0x03,
        0x00, 0x08, 0x00, 0x00, 0x03, 0x01, 0x94, 0x78, 0xb1, 0x75,
    ];

    #[test]
    fn splits_annex_b() {
        let data = [
            0, 0, 0, 1, 9, 0xF0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 0, 1, 0x65, 0, 0, 3, 1,
        ];
        let nals = nal_units(&data);
        assert_eq!(
            nals,
            vec![&[9, 0xF0][..], &[0x67, 1, 2], &[0x65, 0, 0, 3, 1]]
        );
        assert!(nal_units(&[1, 2, 3]).is_empty());
    }

    #[test]
    fn parses_x264_sps() {
        let sps = parse_sps(SPS_640X360).unwrap();
        assert_eq!((sps.width, sps.height), (640, 360));
        assert_eq!(codecs(&sps), "avc1.64001e");
        assert_eq!(sps.frame_rate, Some((25, 1)));
        let cfg = avc_config(SPS_640X360, &[&[0x68, 0xef, 0x3c, 0xb0]], &sps);
        assert_eq!(&cfg[..6], &[1, 0x64, 0, 0x1e, 0xFF, 0xE1]);
        assert_eq!(&cfg[cfg.len() - 4..], &[0xFD, 0xF8, 0xF8, 0]);
    }

    #[test]
    fn truncated_sps_is_an_error() {
        // The fields before the VUI end in the 8th byte.
        for n in 0..8 {
            assert!(parse_sps(&SPS_640X360[..n]).is_err(), "{n}");
        }
    }
}
