//! A CMAF media segment encrypted in place: every sample of every track fragment, with the
//! `senc` (IVs, subsamples), `saiz` and `saio` boxes a player needs added to its `traf`, and
//! the `trun` data offsets moved by what `moof` grew.

use super::{constant_iv, CencError, Scheme, TrackCrypto};
use crate::encryption::cipher::{cbcs_ranges, ctr_ranges};
use crate::fmp4::{parse_boxes, top_level, BoxNode, BoxWriter};

use crate::fmp4::fields::{
    be32, TFHD_BASE_DATA_OFFSET, TFHD_DEFAULT_DURATION, TFHD_DEFAULT_SIZE, TFHD_SAMPLE_DESCRIPTION,
    TRUN_CTO, TRUN_DATA_OFFSET, TRUN_DURATION, TRUN_FIRST_FLAGS, TRUN_FLAGS, TRUN_SIZE,
};
/// Clear bytes kept at the start of each video NAL unit's payload (its header and, usually,
/// its slice header), beyond the length field.
const VIDEO_CLEAR_LEAD: usize = 32;

/// The key a segment is encrypted with, and the key ids its fragments announce.
#[derive(Debug, Clone, Copy)]
pub struct SegmentKey<'a> {
    /// Its key id: each fragment names it in a `seig` sample group, so the key may differ
    /// from the init segment's default (key rotation).
    pub kid: &'a [u8; 16],
    /// The key.
    pub key: &'a [u8; 16],
    /// Key ids a Common PSSH box in each `moof` lists (this one and the next period's):
    /// how a player's CDM learns of keys before it needs them. Empty: no `pssh`.
    pub announce: &'a [[u8; 16]],
}

/// `segment` encrypted with `key` under `scheme`, its tracks described by `tracks` (from
/// [`super::encrypt_init`]); `iv_seed` makes `cenc` IVs unique to this segment: it must
/// differ between every two segments encrypted with one key (the caller hashes the segment's
/// URL path: renditions share sequence numbers and track ids), and is added the track id
/// (high half) and the sample's index.
pub fn encrypt_segment(
    segment: &[u8],
    scheme: Scheme,
    key: &SegmentKey<'_>,
    tracks: &[TrackCrypto],
    iv_seed: u64,
) -> Result<Vec<u8>, CencError> {
    let tops = top_level(segment)?;
    let mut out = BoxWriter::with_capacity(segment.len() + 4096);
    let mut i = 0;
    while i < tops.len() {
        let (typ, at, size) = tops[i];
        if &typ != b"moof" {
            out.bytes(&segment[at..at + size]);
            i += 1;
            continue;
        }
        let (mdat_typ, mdat_at, mdat_size) = *tops
            .get(i + 1)
            .ok_or_else(|| unsupported("a 'moof' without the 'mdat' after it"))?;
        if &mdat_typ != b"mdat" {
            return Err(unsupported("a 'moof' not followed by its 'mdat'"));
        }
        let mut mdat = segment[mdat_at..mdat_at + mdat_size].to_vec();
        let moof = fragment(
            &segment[at..at + size],
            &mut mdat,
            mdat_at - at,
            scheme,
            key,
            tracks,
            iv_seed,
        )?;
        out.bytes(&moof);
        out.bytes(&mdat);
        i += 2;
    }
    Ok(out.into_vec())
}

fn unsupported(what: &str) -> CencError {
    CencError::Unsupported(what.to_string())
}

/// One sample's encryption: its IV and subsamples `(clear, protected)`.
struct SampleAux {
    iv: [u8; 8],
    subsamples: Vec<(u16, u32)>,
}

/// Encrypts the samples one `moof` describes inside `mdat` (the whole box, `mdat_from_moof`
/// bytes after the moof's start); returns the new `moof`.
fn fragment(
    moof_bytes: &[u8],
    mdat: &mut [u8],
    mdat_from_moof: usize,
    scheme: Scheme,
    sk: &SegmentKey<'_>,
    tracks: &[TrackCrypto],
    iv_seed: u64,
) -> Result<Vec<u8>, CencError> {
    let (kid, key) = (sk.kid, sk.key);
    let mut moof = parse_boxes(moof_bytes)?
        .into_iter()
        .next()
        .ok_or_else(|| unsupported("an empty 'moof'"))?;
    let mut added = 0usize;
    if !sk.announce.is_empty() {
        let pssh = super::init::pssh(sk.announce);
        added += pssh.prefix.len() + 8;
        let at = moof
            .children
            .iter()
            .position(|b| &b.typ == b"traf")
            .unwrap_or(moof.children.len());
        moof.children.insert(at, pssh);
    }
    let mut auxes: Vec<Vec<SampleAux>> = Vec::new();
    for traf in moof.children.iter_mut().filter(|b| &b.typ == b"traf") {
        let tfhd = traf
            .child(b"tfhd")
            .ok_or_else(|| unsupported("a 'traf' without 'tfhd'"))?;
        let flags = be32(&tfhd.prefix, 0).unwrap_or(0) & 0x00FF_FFFF;
        let track_id = be32(&tfhd.prefix, 4).ok_or_else(|| unsupported("a short 'tfhd'"))?;
        if flags & TFHD_BASE_DATA_OFFSET != 0 {
            return Err(unsupported("a 'tfhd' with an explicit base data offset"));
        }
        let mut at = 8;
        if flags & TFHD_SAMPLE_DESCRIPTION != 0 {
            at += 4;
        }
        if flags & TFHD_DEFAULT_DURATION != 0 {
            at += 4;
        }
        let track = tracks
            .iter()
            .find(|t| t.track_id == track_id)
            .ok_or_else(|| unsupported("a fragment of a track its init segment does not have"))?;
        let default_size = if flags & TFHD_DEFAULT_SIZE != 0 {
            be32(&tfhd.prefix, at).unwrap_or(0)
        } else {
            track.default_sample_size
        };
        let mut samples = Vec::new();
        for trun in traf.children.iter().filter(|b| &b.typ == b"trun") {
            samples.extend(trun_samples(&trun.prefix, default_size)?);
        }
        let mut aux = Vec::with_capacity(samples.len());
        for (n, (offset, size)) in samples.iter().enumerate() {
            let start = offset
                .checked_sub(mdat_from_moof)
                .filter(|s| *s >= 8 && s + size <= mdat.len())
                .ok_or_else(|| unsupported("a sample outside its 'mdat'"))?;
            let sample = &mut mdat[start..start + size];
            let seed = iv_seed
                .wrapping_add(u64::from(track_id) << 32)
                .wrapping_add(n as u64);
            aux.push(encrypt_sample(sample, scheme, kid, key, track, seed)?);
        }
        let info = |a: &SampleAux| scheme.per_sample_iv_size() + 2 + 6 * a.subsamples.len();
        if aux.iter().any(|a| info(a) > usize::from(u8::MAX)) {
            return Err(unsupported(
                "a video frame of more than 40 slices (its encryption information does not fit saiz)",
            ));
        }
        let mut boxes = aux_boxes(scheme, &aux, track.video.is_some());
        boxes.extend(seig_boxes(scheme, kid, aux.len(), track.video.is_some()));
        added += boxes.iter().map(|b| b.prefix.len() + 8).sum::<usize>();
        traf.children.extend(boxes);
        auxes.push(aux);
    }
    // moof grew by `added`: every sample moved as far.
    for traf in moof.children.iter_mut().filter(|b| &b.typ == b"traf") {
        for trun in traf.children.iter_mut().filter(|b| &b.typ == b"trun") {
            let d = be32(&trun.prefix, 8).unwrap_or(0) as i64 + added as i64;
            let d = u32::try_from(d).map_err(|_| unsupported("a data offset out of range"))?;
            trun.prefix[8..12].copy_from_slice(&d.to_be_bytes());
        }
    }
    let mut w = BoxWriter::with_capacity(moof_bytes.len() + added);
    moof.write(&mut w);
    let mut bytes = w.into_vec();
    patch_saio(&mut bytes)?;
    Ok(bytes)
}

/// `(offset from the moof's start, size)` of each sample a `trun` lists.
fn trun_samples(t: &[u8], default_size: u32) -> Result<Vec<(usize, usize)>, CencError> {
    let short = || unsupported("a short 'trun'");
    let flags = be32(t, 0).ok_or_else(short)? & 0x00FF_FFFF;
    let count = be32(t, 4).ok_or_else(short)?;
    if flags & TRUN_DATA_OFFSET == 0 {
        return Err(unsupported("a 'trun' without a data offset"));
    }
    let mut offset = be32(t, 8).ok_or_else(short)? as i32;
    let mut at = 12;
    if flags & TRUN_FIRST_FLAGS != 0 {
        at += 4;
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        if flags & TRUN_DURATION != 0 {
            at += 4;
        }
        let size = if flags & TRUN_SIZE != 0 {
            let s = be32(t, at).ok_or_else(short)?;
            at += 4;
            s
        } else {
            default_size
        };
        if flags & TRUN_FLAGS != 0 {
            at += 4;
        }
        if flags & TRUN_CTO != 0 {
            at += 4;
        }
        if size == 0 || offset < 0 {
            return Err(unsupported("a sample without a size"));
        }
        out.push((offset as usize, size as usize));
        offset = offset.saturating_add(size as i32);
    }
    Ok(out)
}

fn encrypt_sample(
    sample: &mut [u8],
    scheme: Scheme,
    kid: &[u8; 16],
    key: &[u8; 16],
    track: &TrackCrypto,
    seed: u64,
) -> Result<SampleAux, CencError> {
    let iv = seed.to_be_bytes();
    let (ranges, subsamples) = match track.video {
        Some((len_size, hevc)) => video_subsamples(sample, len_size, hevc)?,
        None => (vec![(0, sample.len())], Vec::new()),
    };
    match scheme {
        Scheme::Cenc => ctr_ranges(key, &iv, sample, &ranges),
        Scheme::Cbcs => {
            let (crypt, skip) = if track.video.is_some() {
                (1, 9)
            } else {
                (0, 0)
            };
            cbcs_ranges(key, &constant_iv(kid), sample, &ranges, crypt, skip);
        }
    }
    Ok(SampleAux { iv, subsamples })
}

type Ranges = (Vec<(usize, usize)>, Vec<(u16, u32)>);

/// A video sample's NAL units as subsamples: each slice NAL unit's length field and first
/// bytes clear, then whole blocks protected; other NAL units (parameter sets, SEI) clear.
fn video_subsamples(sample: &[u8], len_size: usize, hevc: bool) -> Result<Ranges, CencError> {
    let mut ranges = Vec::new();
    let mut subs = Vec::new();
    let mut clear = 0usize;
    let mut at = 0usize;
    while at < sample.len() {
        let len = sample
            .get(at..at + len_size)
            .ok_or_else(|| unsupported("a NAL unit length cut short"))?
            .iter()
            .fold(0usize, |n, b| n << 8 | usize::from(*b));
        let total = len_size + len;
        if at + total > sample.len() || len == 0 {
            return Err(unsupported("a NAL unit longer than its sample"));
        }
        let header = sample[at + len_size];
        let vcl = if hevc {
            (header >> 1) & 0x3f < 32
        } else {
            matches!(header & 0x1f, 1..=5)
        };
        let lead = len_size + len.min(VIDEO_CLEAR_LEAD);
        let protected = if vcl { (total - lead) / 16 * 16 } else { 0 };
        clear += total - protected;
        if protected > 0 {
            while clear > usize::from(u16::MAX) {
                subs.push((u16::MAX, 0));
                clear -= usize::from(u16::MAX);
            }
            subs.push((clear as u16, protected as u32));
            ranges.push((at + total - protected, at + total));
            clear = 0;
        }
        at += total;
    }
    while clear > 0 {
        let c = clear.min(usize::from(u16::MAX));
        subs.push((c as u16, 0));
        clear -= c;
    }
    Ok((ranges, subs))
}

/// `saiz`, `saio` (offset patched once `moof` is written) and `senc` for a track fragment.
fn aux_boxes(scheme: Scheme, aux: &[SampleAux], subsamples: bool) -> Vec<BoxNode> {
    let iv_size = scheme.per_sample_iv_size();
    let info_size = |a: &SampleAux| {
        iv_size
            + if subsamples {
                2 + 6 * a.subsamples.len()
            } else {
                0
            }
    };
    let mut saiz = vec![0, 0, 0, 0];
    // A default size of 0 means "a size per sample follows": samples without information
    // (cbcs audio: constant IV, no subsamples) list their zeros.
    let uniform = aux
        .first()
        .map(info_size)
        .filter(|s| *s > 0 && aux.iter().all(|a| info_size(a) == *s));
    saiz.push(uniform.map_or(0, |s| s as u8));
    saiz.extend_from_slice(&(aux.len() as u32).to_be_bytes());
    if uniform.is_none() {
        saiz.extend(aux.iter().map(|a| info_size(a).min(255) as u8));
    }
    let saio = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    let mut senc = vec![0, 0, 0, if subsamples { 2 } else { 0 }];
    senc.extend_from_slice(&(aux.len() as u32).to_be_bytes());
    for a in aux {
        senc.extend_from_slice(&a.iv[..iv_size]);
        if subsamples {
            senc.extend_from_slice(&(a.subsamples.len() as u16).to_be_bytes());
            for (c, p) in &a.subsamples {
                senc.extend_from_slice(&c.to_be_bytes());
                senc.extend_from_slice(&p.to_be_bytes());
            }
        }
    }
    let leaf = |typ: &[u8; 4], prefix: Vec<u8>| BoxNode {
        typ: *typ,
        prefix,
        children: Vec::new(),
    };
    vec![
        leaf(b"saiz", saiz),
        leaf(b"saio", saio),
        leaf(b"senc", senc),
    ]
}

/// `sbgp` and `sgpd` putting every sample of a track fragment in one `seig` group naming
/// `kid` (and, for `cbcs`, its pattern and constant IV): the key may change per fragment.
fn seig_boxes(scheme: Scheme, kid: &[u8; 16], samples: usize, video: bool) -> Vec<BoxNode> {
    let mut entry = vec![0u8];
    entry.push(if scheme == Scheme::Cbcs && video {
        0x19
    } else {
        0
    });
    entry.push(1);
    entry.push(scheme.per_sample_iv_size() as u8);
    entry.extend_from_slice(kid);
    if scheme == Scheme::Cbcs {
        entry.push(16);
        entry.extend_from_slice(&constant_iv(kid));
    }
    let mut sbgp = vec![0, 0, 0, 0];
    sbgp.extend_from_slice(b"seig");
    sbgp.extend_from_slice(&1u32.to_be_bytes());
    sbgp.extend_from_slice(&(samples as u32).to_be_bytes());
    // Fragment-local group descriptions are numbered from 0x10001.
    sbgp.extend_from_slice(&0x0001_0001u32.to_be_bytes());
    let mut sgpd = vec![1, 0, 0, 0];
    sgpd.extend_from_slice(b"seig");
    sgpd.extend_from_slice(&(entry.len() as u32).to_be_bytes());
    sgpd.extend_from_slice(&1u32.to_be_bytes());
    sgpd.extend_from_slice(&entry);
    let leaf = |typ: &[u8; 4], prefix: Vec<u8>| BoxNode {
        typ: *typ,
        prefix,
        children: Vec::new(),
    };
    vec![leaf(b"sbgp", sbgp), leaf(b"sgpd", sgpd)]
}

/// Points each `saio` of a written `moof` at the first sample's information in the `senc`
/// that follows it (offsets from the moof's start).
fn patch_saio(moof: &mut [u8]) -> Result<(), CencError> {
    let header = 8;
    let trafs: Vec<(usize, usize)> = top_level(&moof[header..])?
        .into_iter()
        .filter(|(t, _, _)| t == b"traf")
        .map(|(_, at, size)| (header + at, size))
        .collect();
    for (traf_at, traf_size) in trafs {
        let children = top_level(&moof[traf_at + 8..traf_at + traf_size])?;
        let find = |typ: &[u8; 4]| {
            children
                .iter()
                .find(|(t, _, _)| t == typ)
                .map(|(_, at, _)| traf_at + 8 + at)
        };
        let (Some(saio), Some(senc)) = (find(b"saio"), find(b"senc")) else {
            continue;
        };
        // senc: header, version and flags, sample count; then the first sample's IV.
        let first = u32::try_from(senc + 16).map_err(|_| unsupported("a huge 'moof'"))?;
        moof[saio + 16..saio + 20].copy_from_slice(&first.to_be_bytes());
    }
    Ok(())
}

/// What the tests reach inside.
#[cfg(test)]
pub(super) mod tests_support {
    pub(in crate::encryption::cenc) fn video_subsamples(
        sample: &[u8],
        len_size: usize,
        hevc: bool,
    ) -> Result<super::Ranges, super::CencError> {
        super::video_subsamples(sample, len_size, hevc)
    }
}
