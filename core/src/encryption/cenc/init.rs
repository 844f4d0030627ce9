//! A CMAF init segment declared protected: each track's sample entry renamed (`encv`,
//! `enca`) with a `sinf` naming its original format, the scheme and the key (`tenc`), and a
//! Common PSSH box listing the key id in `moov`.

use super::{constant_iv, CencError, Scheme, COMMON_SYSTEM_ID};
use crate::fmp4::fields::be32;
use crate::fmp4::{parse_boxes, BoxNode, BoxWriter, FourCc};

/// What the encryption of a track's media segments needs from its init segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackCrypto {
    /// `tkhd` track id.
    pub track_id: u32,
    /// Video: the size of NAL unit lengths (1, 2 or 4) and whether the codec is HEVC; audio:
    /// `None` (whole samples encrypted).
    pub video: Option<(usize, bool)>,
    /// `trex` default sample size (0: none).
    pub default_sample_size: u32,
}

/// `init` with its tracks protected by `scheme` under key id `kid`, and what each track's
/// media segments need.
pub fn encrypt_init(
    init: &[u8],
    scheme: Scheme,
    kid: &[u8; 16],
    drm_pssh: &[&[u8]],
) -> Result<(Vec<u8>, Vec<TrackCrypto>), CencError> {
    let mut top = parse_boxes(init)?;
    let moov = top
        .iter_mut()
        .find(|b| &b.typ == b"moov")
        .ok_or_else(|| unsupported("an init segment without 'moov'"))?;
    let trex: Vec<(u32, u32)> = moov
        .child(b"mvex")
        .map(|m| {
            m.children
                .iter()
                .filter(|t| &t.typ == b"trex")
                .filter_map(|t| Some((be32(&t.prefix, 4)?, be32(&t.prefix, 16)?)))
                .collect()
        })
        .unwrap_or_default();
    let mut tracks = Vec::new();
    for trak in moov.children.iter_mut().filter(|b| &b.typ == b"trak") {
        let track_id = track_id(trak).ok_or_else(|| unsupported("a track without 'tkhd'"))?;
        let stsd = trak
            .children
            .iter_mut()
            .find(|b| &b.typ == b"mdia")
            .and_then(|m| m.children.iter_mut().find(|b| &b.typ == b"minf"))
            .and_then(|m| m.children.iter_mut().find(|b| &b.typ == b"stbl"))
            .and_then(|s| s.children.iter_mut().find(|b| &b.typ == b"stsd"))
            .ok_or_else(|| unsupported("a track without 'stsd'"))?;
        let entry = stsd
            .children
            .first_mut()
            .ok_or_else(|| unsupported("a track without a sample entry"))?;
        let original = entry.typ;
        let (renamed, video) = match &original {
            b"avc1" | b"avc3" => (*b"encv", Some((nal_length_size(entry, b"avcC", 4)?, false))),
            b"hvc1" | b"hev1" => (*b"encv", Some((nal_length_size(entry, b"hvcC", 21)?, true))),
            b"mp4a" => (*b"enca", None),
            other => {
                return Err(unsupported(&format!(
                    "a '{}' track cannot be encrypted (H.264, HEVC and AAC can)",
                    String::from_utf8_lossy(other)
                )))
            }
        };
        entry.typ = renamed;
        entry
            .children
            .push(sinf(original, scheme, kid, video.is_some()));
        tracks.push(TrackCrypto {
            track_id,
            video,
            default_sample_size: trex
                .iter()
                .find(|(id, _)| *id == track_id)
                .map_or(0, |(_, s)| *s),
        });
    }
    if tracks.is_empty() {
        return Err(unsupported("an init segment without tracks"));
    }
    moov.children.push(pssh(&[*kid]));
    // Other DRM systems' boxes as their key server made them.
    for b in drm_pssh {
        moov.children.extend(parse_boxes(b)?);
    }
    let mut w = BoxWriter::with_capacity(init.len() + 256);
    for b in &top {
        b.write(&mut w);
    }
    Ok((w.into_vec(), tracks))
}

fn unsupported(what: &str) -> CencError {
    CencError::Unsupported(what.to_string())
}

fn track_id(trak: &BoxNode) -> Option<u32> {
    let tkhd = trak.child(b"tkhd")?;
    match tkhd.prefix.first()? {
        1 => be32(&tkhd.prefix, 20),
        _ => be32(&tkhd.prefix, 12),
    }
}

/// The NAL unit length size from a decoder configuration box (`avcC` byte 4, `hvcC` byte 21).
fn nal_length_size(entry: &BoxNode, config: &FourCc, at: usize) -> Result<usize, CencError> {
    let c = entry
        .child(config)
        .and_then(|c| c.prefix.get(at))
        .ok_or_else(|| unsupported("a video track without its decoder configuration"))?;
    Ok(usize::from(c & 3) + 1)
}

/// `sinf`: `frma` (the original format), `schm` (the scheme, version 1.0), `schi`/`tenc`.
fn sinf(original: FourCc, scheme: Scheme, kid: &[u8; 16], video: bool) -> BoxNode {
    let leaf = |typ: &FourCc, prefix: Vec<u8>| BoxNode {
        typ: *typ,
        prefix,
        children: Vec::new(),
    };
    let mut schm = vec![0, 0, 0, 0];
    schm.extend_from_slice(&scheme.fourcc());
    schm.extend_from_slice(&0x0001_0000u32.to_be_bytes());
    let tenc = match scheme {
        Scheme::Cenc => {
            let mut t = vec![0, 0, 0, 0, 0, 0, 1, 8];
            t.extend_from_slice(kid);
            t
        }
        Scheme::Cbcs => {
            // Version 1: the pattern (video 1:9, audio none: every block), no per-sample IV,
            // the constant IV.
            let pattern = if video { 0x19 } else { 0x00 };
            let mut t = vec![1, 0, 0, 0, 0, pattern, 1, 0];
            t.extend_from_slice(kid);
            t.push(16);
            t.extend_from_slice(&constant_iv(kid));
            t
        }
    };
    BoxNode {
        typ: *b"sinf",
        prefix: Vec::new(),
        children: vec![
            leaf(b"frma", original.to_vec()),
            leaf(b"schm", schm),
            BoxNode {
                typ: *b"schi",
                prefix: Vec::new(),
                children: vec![leaf(b"tenc", tenc)],
            },
        ],
    }
}

/// A version 1 `pssh` of the Common system listing `kids`, no data.
pub(super) fn pssh(kids: &[[u8; 16]]) -> BoxNode {
    let mut p = vec![1, 0, 0, 0];
    p.extend_from_slice(&COMMON_SYSTEM_ID);
    p.extend_from_slice(&(kids.len() as u32).to_be_bytes());
    for kid in kids {
        p.extend_from_slice(kid);
    }
    p.extend_from_slice(&0u32.to_be_bytes());
    BoxNode {
        typ: *b"pssh",
        prefix: p,
        children: Vec::new(),
    }
}
