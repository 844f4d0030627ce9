//! CMAF media segments: `styp` + `moof` (`mfhd`, `traf` with `tfhd`, `tfdt`, `trun`) + `mdat`,
//! one track per segment, and a reader that takes one back apart (tests and tools).

use super::reader::{parse_boxes, BoxError};
use super::writer::BoxWriter;

/// `sample_flags` of a sync sample: depends on no other sample.
pub const SAMPLE_SYNC: u32 = 0x0200_0000;
/// `sample_flags` of a non-sync sample: depends on others, `sample_is_non_sync_sample`.
pub const SAMPLE_NON_SYNC: u32 = 0x0101_0000;

use super::fields::{
    be32, tfdt_time, TFHD_DEFAULT_BASE_IS_MOOF, TRUN_CTO, TRUN_DATA_OFFSET, TRUN_DURATION,
    TRUN_FIRST_FLAGS, TRUN_FLAGS, TRUN_SIZE,
};

/// One sample's `trun` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub duration: u32,
    pub size: u32,
    pub flags: u32,
    /// Presentation minus decode time (signed: `trun` version 1).
    pub composition_offset: i32,
}

/// What a media segment describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentParams<'a> {
    /// `mfhd` sequence_number.
    pub sequence: u32,
    pub track_id: u32,
    /// `tfdt` (version 1, 64 bits), in the track's timescale.
    pub base_decode_time: u64,
    pub samples: &'a [Sample],
    /// Whether `trun` carries composition offsets (video).
    pub composition_offsets: bool,
}

/// `styp` + `moof` + `mdat`; `mdat` holds the samples' bytes back to back, in `samples` order.
pub fn media_segment(p: &FragmentParams<'_>, mdat: &[u8]) -> Vec<u8> {
    let per_sample = if p.composition_offsets { 16 } else { 12 };
    let mut w = BoxWriter::with_capacity(200 + p.samples.len() * per_sample + mdat.len());
    w.bx(b"styp", |w| {
        w.bytes(b"cmfs");
        w.u32(0);
        w.bytes(b"cmfs");
        w.bytes(b"cmff");
        w.bytes(b"msdh");
    });
    let moof_start = w.position();
    let mut data_offset_at = 0usize;
    w.bx(b"moof", |w| {
        w.full(b"mfhd", 0, 0, |w| w.u32(p.sequence));
        w.bx(b"traf", |w| {
            w.full(b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF, |w| w.u32(p.track_id));
            w.full(b"tfdt", 1, 0, |w| w.u64(p.base_decode_time));
            let mut flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS;
            if p.composition_offsets {
                flags |= TRUN_CTO;
            }
            w.full(b"trun", 1, flags, |w| {
                w.u32(p.samples.len() as u32);
                data_offset_at = w.position();
                w.u32(0);
                for s in p.samples {
                    w.u32(s.duration);
                    w.u32(s.size);
                    w.u32(s.flags);
                    if p.composition_offsets {
                        w.i32(s.composition_offset);
                    }
                }
            });
        });
    });
    // The data offset is relative to the moof (default-base-is-moof): moof, then mdat's header.
    let data_offset = (w.position() - moof_start + 8) as u32;
    w.patch_u32(data_offset_at, data_offset);
    w.bx(b"mdat", |w| w.bytes(mdat));
    w.into_vec()
}

/// A media segment read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFragment {
    pub sequence: u32,
    pub track_id: u32,
    pub base_decode_time: u64,
    pub data_offset: i32,
    pub samples: Vec<Sample>,
    pub mdat: Vec<u8>,
}

/// Why a media segment could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    #[error(transparent)]
    Boxes(#[from] BoxError),
    #[error("missing or short '{0}'")]
    Missing(&'static str),
}

/// Reads a segment written by [`media_segment`] (one `moof`, one `traf`, one `trun`).
pub fn parse_media_segment(data: &[u8]) -> Result<ParsedFragment, FragmentError> {
    let boxes = parse_boxes(data)?;
    let moof = boxes
        .iter()
        .find(|b| &b.typ == b"moof")
        .ok_or(FragmentError::Missing("moof"))?;
    let mdat = boxes
        .iter()
        .find(|b| &b.typ == b"mdat")
        .ok_or(FragmentError::Missing("mdat"))?;
    let mfhd = moof.child(b"mfhd").ok_or(FragmentError::Missing("mfhd"))?;
    let sequence = be32(&mfhd.prefix, 4).ok_or(FragmentError::Missing("mfhd"))?;
    let tfhd = moof
        .at(&[b"traf", b"tfhd"])
        .ok_or(FragmentError::Missing("tfhd"))?;
    let track_id = be32(&tfhd.prefix, 4).ok_or(FragmentError::Missing("tfhd"))?;
    let tfdt = moof
        .at(&[b"traf", b"tfdt"])
        .ok_or(FragmentError::Missing("tfdt"))?;
    let base_decode_time = tfdt_time(&tfdt.prefix).ok_or(FragmentError::Missing("tfdt"))?;
    let trun = moof
        .at(&[b"traf", b"trun"])
        .ok_or(FragmentError::Missing("trun"))?;
    let t = &trun.prefix;
    let flags = be32(t, 0).ok_or(FragmentError::Missing("trun"))? & 0x00FF_FFFF;
    let count = be32(t, 4).ok_or(FragmentError::Missing("trun"))?;
    let mut at = 8;
    let mut data_offset = 0i32;
    if flags & TRUN_DATA_OFFSET != 0 {
        data_offset = be32(t, at).ok_or(FragmentError::Missing("trun"))? as i32;
        at += 4;
    }
    if flags & TRUN_FIRST_FLAGS != 0 {
        at += 4; // first_sample_flags
    }
    let mut samples = Vec::new();
    for _ in 0..count {
        let mut field = |bit: u32| -> Result<u32, FragmentError> {
            if flags & bit == 0 {
                return Ok(0);
            }
            let v = be32(t, at).ok_or(FragmentError::Missing("trun"))?;
            at += 4;
            Ok(v)
        };
        samples.push(Sample {
            duration: field(TRUN_DURATION)?,
            size: field(TRUN_SIZE)?,
            flags: field(TRUN_FLAGS)?,
            composition_offset: field(TRUN_CTO)? as i32,
        });
    }
    Ok(ParsedFragment {
        sequence,
        track_id,
        base_decode_time,
        data_offset,
        samples,
        mdat: mdat.prefix.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::reader::top_level;
    use proptest::prelude::*;

    fn sample() -> impl Strategy<Value = Sample> {
        (
            any::<u32>(),
            0u32..64,
            prop_oneof![Just(SAMPLE_SYNC), Just(SAMPLE_NON_SYNC)],
            any::<i32>(),
        )
            .prop_map(|(duration, size, flags, composition_offset)| Sample {
                duration,
                size,
                flags,
                composition_offset,
            })
    }

    proptest! {
        /// write → parse → equal, for any samples, with and without composition offsets.
        #[test]
        fn round_trip(seq in any::<u32>(), track in 1u32..10, tfdt in any::<u64>(),
                      mut samples in proptest::collection::vec(sample(), 1..50), cto in any::<bool>()) {
            if !cto {
                samples.iter_mut().for_each(|s| s.composition_offset = 0);
            }
            let mdat: Vec<u8> = samples.iter().flat_map(|s| std::iter::repeat_n(s.size as u8, s.size as usize)).collect();
            let p = FragmentParams { sequence: seq, track_id: track, base_decode_time: tfdt, samples: &samples, composition_offsets: cto };
            let bytes = media_segment(&p, &mdat);
            let got = parse_media_segment(&bytes).unwrap();
            prop_assert_eq!(got.sequence, seq);
            prop_assert_eq!(got.track_id, track);
            prop_assert_eq!(got.base_decode_time, tfdt);
            prop_assert_eq!(&got.samples, &samples);
            prop_assert_eq!(&got.mdat, &mdat);
            // The data offset points at the first byte of mdat's payload.
            let tops = top_level(&bytes).unwrap();
            prop_assert_eq!(tops.iter().map(|t| t.0).collect::<Vec<_>>(), vec![*b"styp", *b"moof", *b"mdat"]);
            prop_assert_eq!(tops[1].1 + got.data_offset as usize, tops[2].1 + 8);
        }
    }
}
