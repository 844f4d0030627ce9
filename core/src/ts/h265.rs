//! H.265 in Annex B form: NAL types, the SPS fields CMAF needs, `hvcC`
//! (HEVCDecoderConfigurationRecord) and the RFC 6381 / ISO 14496-15 codecs string.
//! NAL splitting is the same as H.264's ([`super::h264::nal_units`]).

use super::bits::{fraction, picture_size, rbsp, Bits};
use super::EsError;

/// `nal_unit_type`s the repackager takes out of samples: VPS/SPS/PPS go to `hvcC`, AUD is
/// dropped.
pub const NAL_VPS: u8 = 32;
pub const NAL_SPS: u8 = 33;
pub const NAL_PPS: u8 = 34;
pub const NAL_AUD: u8 = 35;

/// `nal_unit_type` of an H.265 NAL unit.
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| (b >> 1) & 0x3F)
}

/// IRAP pictures (BLA, IDR, CRA): where decoding can start.
pub fn is_irap(nal_type: u8) -> bool {
    (16..=23).contains(&nal_type)
}

/// The SPS fields streampack uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sps {
    pub profile_space: u8,
    pub tier: u8,
    pub profile_idc: u8,
    pub profile_compatibility: u32,
    /// 48 bits.
    pub constraint_flags: u64,
    pub level_idc: u8,
    pub max_sub_layers: u8,
    pub temporal_id_nested: bool,
    pub chroma_format_idc: u32,
    pub bit_depth_luma: u32,
    pub bit_depth_chroma: u32,
    pub width: u32,
    pub height: u32,
}

/// Parses an SPS NAL unit (with its two-byte header).
pub fn parse_sps(nal: &[u8]) -> Result<Sps, EsError> {
    let data = rbsp(nal);
    let mut b = Bits::new(&data, "H.265 SPS");
    b.skip(16)?;
    b.bits(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = b.bits(3)?;
    let temporal_id_nested = b.bit()? == 1;
    let profile_space = b.bits(2)? as u8;
    let tier = b.bit()? as u8;
    let profile_idc = b.bits(5)? as u8;
    let profile_compatibility = b.bits(32)?;
    let constraint_flags = b.bits64(48)?;
    let level_idc = b.bits(8)? as u8;
    skip_sub_layers(&mut b, max_sub_layers_minus1)?;
    b.ue()?; // sps_seq_parameter_set_id
    let chroma_format_idc = b.ue()?;
    if chroma_format_idc == 3 {
        b.bit()?; // separate_colour_plane_flag
    }
    let mut width = u64::from(b.ue()?);
    let mut height = u64::from(b.ue()?);
    if b.bit()? == 1 {
        let (sub_w, sub_h) = match chroma_format_idc {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let (l, r, t, bo) = (b.ue()?, b.ue()?, b.ue()?, b.ue()?);
        width = width.saturating_sub(sub_w * (u64::from(l) + u64::from(r)));
        height = height.saturating_sub(sub_h * (u64::from(t) + u64::from(bo)));
    }
    let bit_depth_luma = b.ue()?.saturating_add(8);
    let bit_depth_chroma = b.ue()?.saturating_add(8);
    let (width, height) = picture_size("H.265 SPS", width, height)?;
    Ok(Sps {
        profile_space,
        tier,
        profile_idc,
        profile_compatibility,
        constraint_flags,
        level_idc,
        max_sub_layers: max_sub_layers_minus1 as u8 + 1,
        temporal_id_nested,
        chroma_format_idc,
        bit_depth_luma,
        bit_depth_chroma,
        width,
        height,
    })
}

/// The sub-layer part of profile_tier_level(), after the general fields.
fn skip_sub_layers(b: &mut Bits<'_>, max_sub_layers_minus1: u32) -> Result<(), EsError> {
    let mut sub_profile = [false; 8];
    let mut sub_level = [false; 8];
    for i in 0..max_sub_layers_minus1 as usize {
        sub_profile[i] = b.bit()? == 1;
        sub_level[i] = b.bit()? == 1;
    }
    if max_sub_layers_minus1 > 0 {
        for _ in max_sub_layers_minus1..8 {
            b.bits(2)?;
        }
    }
    for i in 0..max_sub_layers_minus1 as usize {
        if sub_profile[i] {
            b.skip(88)?;
        }
        if sub_level[i] {
            b.skip(8)?;
        }
    }
    Ok(())
}

/// Frames per second from a VPS's timing info (`vps_time_scale / vps_num_units_in_tick`),
/// `None` when the VPS has none or cannot be read.
pub fn vps_frame_rate(nal: &[u8]) -> Option<(u32, u32)> {
    let data = rbsp(nal);
    let mut b = Bits::new(&data, "H.265 VPS");
    let mut read = || -> Result<Option<(u32, u32)>, EsError> {
        b.skip(16 + 4 + 2 + 6)?; // header, vps id, base layer flags, max_layers_minus1
        let max_sub_layers_minus1 = b.bits(3)?;
        b.skip(1 + 16)?; // temporal_id_nesting, reserved 0xffff
        b.skip(2 + 1 + 5 + 32 + 48 + 8)?; // general profile_tier_level
        skip_sub_layers(&mut b, max_sub_layers_minus1)?;
        let ordering_all = b.bit()? == 1;
        let first = if ordering_all {
            0
        } else {
            max_sub_layers_minus1
        };
        for _ in first..=max_sub_layers_minus1 {
            b.ue()?;
            b.ue()?;
            b.ue()?;
        }
        let max_layer_id = b.bits(6)?;
        let layer_sets = b.ue()?;
        if layer_sets > 1023 {
            return Ok(None);
        }
        b.skip(layer_sets as usize * (max_layer_id as usize + 1))?;
        if b.bit()? == 0 {
            return Ok(None); // vps_timing_info_present_flag
        }
        let units = u64::from(b.bits(32)?);
        let scale = u64::from(b.bits(32)?);
        Ok(fraction(scale, units))
    };
    read().ok().flatten()
}

/// `hvc1.<space><profile>.<compat, bit-reversed hex>.<L|H><level>[.<constraint bytes>]`.
pub fn codecs(sps: &Sps) -> String {
    let space = match sps.profile_space {
        1 => "A",
        2 => "B",
        3 => "C",
        _ => "",
    };
    let mut s = format!(
        "hvc1.{space}{}.{:X}.{}{}",
        sps.profile_idc,
        sps.profile_compatibility.reverse_bits(),
        if sps.tier == 1 { 'H' } else { 'L' },
        sps.level_idc
    );
    let bytes = sps.constraint_flags.to_be_bytes();
    let bytes = &bytes[2..];
    let keep = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    for b in &bytes[..keep] {
        s.push_str(&format!(".{b:X}"));
    }
    s
}

/// The HEVCDecoderConfigurationRecord (the body of `hvcC`), 4-byte NAL lengths, with one
/// array each for VPS, SPS and PPS.
pub fn hevc_config(vps: &[&[u8]], sps_nals: &[&[u8]], pps: &[&[u8]], sps: &Sps) -> Vec<u8> {
    let mut out = vec![
        1,
        (sps.profile_space << 6) | (sps.tier << 5) | (sps.profile_idc & 0x1F),
    ];
    out.extend_from_slice(&sps.profile_compatibility.to_be_bytes());
    out.extend_from_slice(&sps.constraint_flags.to_be_bytes()[2..]);
    out.push(sps.level_idc);
    out.extend_from_slice(&[0xF0, 0x00, 0xFC]);
    out.push(0xFC | (sps.chroma_format_idc as u8 & 0x03));
    out.push(0xF8 | (sps.bit_depth_luma.saturating_sub(8) as u8 & 0x07));
    out.push(0xF8 | (sps.bit_depth_chroma.saturating_sub(8) as u8 & 0x07));
    out.extend_from_slice(&[0, 0]); // avgFrameRate: unspecified
    out.push(((sps.max_sub_layers & 0x07) << 3) | (u8::from(sps.temporal_id_nested) << 2) | 0x03);
    out.push(3);
    for (nal_type, nals) in [(NAL_VPS, vps), (NAL_SPS, sps_nals), (NAL_PPS, pps)] {
        out.push(0x80 | nal_type);
        out.extend_from_slice(&(nals.len() as u16).to_be_bytes());
        for n in nals.iter() {
            out.extend_from_slice(&(n.len() as u16).to_be_bytes());
            out.extend_from_slice(n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // libx265's parameter sets for 320x180 Main@L3 (from the h265_aac fixture).
    const SPS: &[u8] = &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x08, 0x0b, 0x9f, 0x79, 0x65, 0x65, 0x92, 0x4c, 0xaf, 0x01,
        0x68, 0x08, 0x00, 0x00, 0x03, 0x00, 0x08, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x40,
    ];

    #[test]
    fn parses_x265_sps() {
        let sps = parse_sps(SPS).unwrap();
        assert_eq!((sps.width, sps.height), (320, 180));
        assert_eq!(sps.profile_idc, 1);
        assert_eq!(codecs(&sps), "hvc1.1.6.L60.90");
        let cfg = hevc_config(&[&[0x40, 1]], &[SPS], &[&[0x44, 1]], &sps);
        assert_eq!(cfg[0], 1);
        assert_eq!(cfg[22], 3);
    }

    #[test]
    fn frame_rate_from_vps_timing() {
        // libx265's VPS from the same fixture.
        let vps = [
            0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00,
            0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x95, 0x94, 0x09,
        ];
        // x265 writes no VPS timing info: nothing to read, no error.
        assert_eq!(vps_frame_rate(&vps), None);
        assert_eq!(vps_frame_rate(&vps[..20]), None);
    }

    #[test]
    fn truncated_sps_is_an_error() {
        for n in 0..20 {
            assert!(parse_sps(&SPS[..n]).is_err(), "{n}");
        }
    }
}
