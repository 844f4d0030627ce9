//! CMAF chunks of a media segment that is still arriving. Low-latency encoders upload a
//! segment as one growing body, a chunk at a time (ffmpeg `-streaming 1 -ldash 1`: one chunked
//! PUT per segment, flushed after every fragment). [`ChunkCutter`] is fed the body as it grows
//! and says which chunks are complete, with their timing, so that each one can be published the
//! moment its last byte arrives (LL-DASH) and become an LL-HLS part.
//!
//! A chunk is a `moof` and the `mdat` after it, with the boxes that come before the `moof`
//! (`styp`, `prft`, `emsg`, `sidx`, `free`): chunks tile the segment from its first byte.

use super::FourCc;
use std::ops::Range;

/// `sample_is_non_sync_sample` in `sample_flags` (ISO/IEC 14496-12 8.8.3.1).
const NON_SYNC: u32 = 0x0001_0000;

use super::fields::{
    be32, be64, tfdt_time, TFHD_BASE_DATA_OFFSET, TFHD_DEFAULT_DURATION, TFHD_DEFAULT_FLAGS,
    TFHD_DEFAULT_SIZE, TFHD_SAMPLE_DESCRIPTION, TRUN_CTO, TRUN_DATA_OFFSET, TRUN_DURATION,
    TRUN_FIRST_FLAGS, TRUN_FLAGS, TRUN_SIZE,
};

/// Largest `moof` accepted (a chunk's sample table: a few KB at most).
const MAX_MOOF: usize = 1 << 20;

/// A track's `trex` defaults (from its init segment), for fragments that leave them out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackDefaults {
    /// `default_sample_duration`.
    pub sample_duration: u32,
    /// `default_sample_flags`.
    pub sample_flags: u32,
}

/// One complete chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The bytes of the segment it spans.
    pub range: Range<usize>,
    /// `tfdt` of its first track fragment, in the track's timescale.
    pub decode_time: u64,
    /// Its samples' durations summed, in the track's timescale.
    pub duration: u64,
    /// The first sample of every track fragment is a sync sample: playback can start here
    /// (an LL-HLS part with `INDEPENDENT=YES`).
    pub independent: bool,
}

/// Why a body cannot be cut into chunks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// A box is malformed.
    #[error("box '{typ}' at offset {at}: {why}")]
    Box {
        /// Its type.
        typ: String,
        /// Its offset in the segment.
        at: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// The body ended inside a chunk (an upload that broke off).
    #[error("the segment ends inside a chunk ({complete} of {len} bytes are whole chunks)")]
    Incomplete {
        /// Bytes of whole chunks.
        complete: usize,
        /// Bytes received.
        len: usize,
    },
}

/// Cuts a growing segment into chunks. Feed it the whole body received so far each time more
/// has arrived; it remembers where it stopped.
#[derive(Debug, Clone, Default)]
pub struct ChunkCutter {
    defaults: TrackDefaults,
    /// Start of the chunk being received.
    chunk_start: usize,
    /// Start of the next box not yet looked at.
    next_box: usize,
    /// The `moof` of the chunk being received, read: its timing.
    moof: Option<MoofTiming>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MoofTiming {
    decode_time: u64,
    duration: u64,
    independent: bool,
}

impl ChunkCutter {
    /// A cutter for a track with these `trex` defaults.
    pub fn new(defaults: TrackDefaults) -> ChunkCutter {
        ChunkCutter {
            defaults,
            ..ChunkCutter::default()
        }
    }

    /// Bytes of the body that are whole chunks.
    pub fn complete_len(&self) -> usize {
        self.chunk_start
    }

    /// The chunks completed by what `body` (everything received so far: it only grows) added
    /// since the last call. Chunks completed before a malformed box are returned first; the
    /// error comes with the next call (and every one after: the cutter stays at that box).
    pub fn feed(&mut self, body: &[u8]) -> Result<Vec<Chunk>, ChunkError> {
        let mut out = Vec::new();
        match self.cut(body, &mut out) {
            Err(e) if out.is_empty() => Err(e),
            _ => Ok(out),
        }
    }

    fn cut(&mut self, body: &[u8], out: &mut Vec<Chunk>) -> Result<(), ChunkError> {
        while let Some((typ, header, size)) = box_at(body, self.next_box)? {
            let at = self.next_box;
            let end = at
                .checked_add(size)
                .ok_or_else(|| bad(&typ, at, "too large"))?;
            match (&typ, self.moof) {
                (b"moof", None) => {
                    if size > MAX_MOOF {
                        return Err(bad(&typ, at, "larger than 1 MiB"));
                    }
                    let Some(whole) = body.get(at + header..end) else {
                        break; // the moof is still arriving
                    };
                    self.moof = Some(read_moof(whole, at, &self.defaults)?);
                }
                (b"moof", Some(_)) => return Err(bad(&typ, at, "a second moof before an mdat")),
                (b"mdat", None) => return Err(bad(&typ, at, "an mdat without a moof before it")),
                (b"mdat", Some(m)) => {
                    if body.len() < end {
                        break; // the chunk's last bytes are still arriving
                    }
                    out.push(Chunk {
                        range: self.chunk_start..end,
                        decode_time: m.decode_time,
                        duration: m.duration,
                        independent: m.independent,
                    });
                    self.chunk_start = end;
                    self.moof = None;
                }
                (_, Some(_)) => return Err(bad(&typ, at, "between a moof and its mdat")),
                (_, None) => {
                    if body.len() < end {
                        break;
                    }
                }
            }
            self.next_box = end;
        }
        Ok(())
    }

    /// At the end of the body (`len` bytes, all fed): whether it ended on a chunk boundary (a
    /// `styp` or `prft` after the last chunk is the start of a chunk that never came).
    pub fn finish(&self, len: usize) -> Result<(), ChunkError> {
        if self.chunk_start == len {
            Ok(())
        } else {
            Err(ChunkError::Incomplete {
                complete: self.chunk_start,
                len,
            })
        }
    }
}

fn bad(typ: &FourCc, at: usize, why: &'static str) -> ChunkError {
    ChunkError::Box {
        typ: String::from_utf8_lossy(typ).into_owned(),
        at,
        why,
    }
}

/// The box header at `at`: type, header length, size; `None` while the header is incomplete.
fn box_at(body: &[u8], at: usize) -> Result<Option<(FourCc, usize, usize)>, ChunkError> {
    let Some(h) = body.get(at..at + 8) else {
        return Ok(None);
    };
    let typ = [h[4], h[5], h[6], h[7]];
    let (size, header) = match be32(h, 0).unwrap_or(0) {
        0 => {
            return Err(bad(
                &typ,
                at,
                "size 0 (to the end of the file) has no end while it grows",
            ))
        }
        1 => {
            let Some(large) = body.get(at + 8..at + 16) else {
                return Ok(None);
            };
            (be64(large, 0).unwrap_or(0), 16)
        }
        s => (u64::from(s), 8),
    };
    if size < header as u64 {
        return Err(bad(&typ, at, "smaller than its header"));
    }
    let size = usize::try_from(size).map_err(|_| bad(&typ, at, "too large"))?;
    Ok(Some((typ, header, size)))
}

/// The children of a container body: `(type, body)` each.
fn children(body: &[u8]) -> impl Iterator<Item = (FourCc, &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let size = be32(body, at)? as usize;
        let typ = body.get(at + 4..at + 8)?;
        let typ = [typ[0], typ[1], typ[2], typ[3]];
        let inner = body.get(at + 8..at.checked_add(size)?)?;
        at += size.max(8);
        Some((typ, inner))
    })
}

/// Timing of a `moof` (its body, without the header): the first `traf`'s `tfdt`, the first
/// `traf`'s sample durations summed, and whether every `traf` starts on a sync sample.
fn read_moof(moof: &[u8], at: usize, trex: &TrackDefaults) -> Result<MoofTiming, ChunkError> {
    let mut timing: Option<MoofTiming> = None;
    for (typ, traf) in children(moof).filter(|(t, _)| t == b"traf") {
        let t =
            read_traf(traf).ok_or_else(|| bad(&typ, at, "a track fragment that cannot be read"))?;
        let duration_of = |default: Option<u32>| default.unwrap_or(trex.sample_duration);
        let duration = u64::from(duration_of(t.default_duration))
            .checked_mul(t.defaulted)
            .and_then(|d| d.checked_add(t.durations_sum))
            .ok_or_else(|| bad(&typ, at, "sample durations overflow"))?;
        let first_flags = t
            .first_flags
            .or(t.default_flags)
            .unwrap_or(trex.sample_flags);
        let sync = first_flags & NON_SYNC == 0;
        timing = Some(match timing {
            None => MoofTiming {
                decode_time: t.decode_time,
                duration,
                independent: sync,
            },
            Some(m) => MoofTiming {
                independent: m.independent && sync,
                ..m
            },
        });
    }
    timing.ok_or_else(|| bad(b"moof", at, "no track fragment"))
}

struct TrafTiming {
    decode_time: u64,
    /// Durations written in `trun`.
    durations_sum: u64,
    /// Samples whose duration is a default.
    defaulted: u64,
    default_duration: Option<u32>,
    default_flags: Option<u32>,
    /// The first sample's own flags (`first_sample_flags` or its `trun` entry).
    first_flags: Option<u32>,
}

fn read_traf(traf: &[u8]) -> Option<TrafTiming> {
    let mut t = TrafTiming {
        decode_time: 0,
        durations_sum: 0,
        defaulted: 0,
        default_duration: None,
        default_flags: None,
        first_flags: None,
    };
    let mut first_trun = true;
    for (typ, b) in children(traf) {
        match &typ {
            b"tfhd" => {
                let flags = be32(b, 0)? & 0x00FF_FFFF;
                let mut at = 8;
                if flags & TFHD_BASE_DATA_OFFSET != 0 {
                    at += 8;
                }
                if flags & TFHD_SAMPLE_DESCRIPTION != 0 {
                    at += 4;
                }
                if flags & TFHD_DEFAULT_DURATION != 0 {
                    t.default_duration = Some(be32(b, at)?);
                    at += 4;
                }
                if flags & TFHD_DEFAULT_SIZE != 0 {
                    at += 4;
                }
                if flags & TFHD_DEFAULT_FLAGS != 0 {
                    t.default_flags = Some(be32(b, at)?);
                }
            }
            b"tfdt" => t.decode_time = tfdt_time(b)?,
            b"trun" => {
                let flags = be32(b, 0)? & 0x00FF_FFFF;
                let count = be32(b, 4)?;
                let mut at = 8;
                if flags & TRUN_DATA_OFFSET != 0 {
                    at += 4;
                }
                if flags & TRUN_FIRST_FLAGS != 0 {
                    if first_trun {
                        t.first_flags = Some(be32(b, at)?);
                    }
                    at += 4;
                }
                let per_sample = [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTO]
                    .iter()
                    .filter(|f| flags & **f != 0)
                    .count()
                    * 4;
                let count = count as usize;
                if b.len() < at.checked_add(per_sample.checked_mul(count)?)? {
                    return None;
                }
                if flags & TRUN_DURATION == 0 {
                    t.defaulted = t.defaulted.checked_add(count as u64)?;
                }
                if first_trun && flags & TRUN_FLAGS != 0 && t.first_flags.is_none() && count > 0 {
                    let size = usize::from(flags & TRUN_SIZE != 0) * 4;
                    let duration = usize::from(flags & TRUN_DURATION != 0) * 4;
                    t.first_flags = Some(be32(b, at + duration + size)?);
                }
                if flags & TRUN_DURATION != 0 {
                    for i in 0..count {
                        let d = u64::from(be32(b, at + i * per_sample)?);
                        t.durations_sum = t.durations_sum.checked_add(d)?;
                    }
                }
                first_trun = false;
            }
            _ => {}
        }
    }
    Some(t)
}

#[cfg(test)]
mod tests;
