//! A real low-latency DASH capture, replayed as a live stream that never ends.
//!
//! The capture is what ffmpeg writes to a directory with `-f dash -streaming 1 -ldash 1
//! -use_template 1 -use_timeline 1 -frag_type duration`: `main.mpd`, one init segment per
//! Representation and its media segments, each segment a run of CMAF chunks (`moof` + `mdat`,
//! the first after `styp`/`prft`). It is read once ([`Capture::load`]): every segment cut into
//! its chunks with the daemon's own [`ChunkCutter`], and in each chunk the offsets of the fields
//! that carry time or order found once.
//!
//! Replayed, the segments loop with increasing numbers and times ([`CapturedRep::segment_at`]):
//! pass `k` of the loop adds `k` × the loop's span to every `tfdt` (and `prft` media time), and
//! `mfhd` sequence numbers keep counting, so that the stream a receiver sees only ever moves
//! forward, as a live encoder's does. The live MPD ([`Capture::live_mpd`]) lists the last few
//! replayed segments with their real durations; it is rendered with the core's own MPD model.
//!
//! The capture's last segment of each Representation is left out of the loop (ffmpeg's `-t`
//! cuts it wherever the input ends), and every Representation loops as many segments.

use bytes::Bytes;
use std::time::Duration;
use streampack_core::dash::mpd::{self, AdaptationSet, ContentType, LowLatency, Mpd};
use streampack_core::dash::parse::{parse_mpd, RepresentationIn, SegmentsIn};
use streampack_core::fmp4::chunks::{ChunkCutter, TrackDefaults};
use streampack_core::fmp4::{parse_boxes, top_level};

/// `@media` of the live MPD, and the names the replay uploads segments under.
pub const MEDIA_TEMPLATE: &str = "chunk-stream$RepresentationID$-$Number%05d$.m4s";
/// `@initialization` of the live MPD.
pub const INIT_TEMPLATE: &str = "init-stream$RepresentationID$.m4s";

/// The file name of segment `number` of Representation `rep` ([`MEDIA_TEMPLATE`]).
pub fn segment_name(rep: &str, number: u64) -> String {
    format!("chunk-stream{rep}-{number:05}.m4s")
}

/// The file name of the init segment of Representation `rep` ([`INIT_TEMPLATE`]).
pub fn init_name(rep: &str) -> String {
    format!("init-stream{rep}.m4s")
}

/// A capture, ready to replay.
#[derive(Debug, Clone)]
pub struct Capture {
    /// The AdaptationSets of its (only) Period.
    pub sets: Vec<CapturedSet>,
    /// Segments of each Representation one pass of the loop replays.
    pub segments_per_loop: usize,
}

/// An AdaptationSet of the capture.
#[derive(Debug, Clone)]
pub struct CapturedSet {
    /// `@id`.
    pub id: u32,
    /// `@contentType`.
    pub content_type: ContentType,
    /// `@mimeType`.
    pub mime_type: String,
    /// `@lang`.
    pub lang: Option<String>,
    /// Its Representations.
    pub reps: Vec<CapturedRep>,
}

/// A Representation of the capture: its init segment and its media segments, cut into chunks.
#[derive(Debug, Clone)]
pub struct CapturedRep {
    /// What the capture's MPD says of it (id, codecs, bandwidth, sizes, timescale…).
    pub info: RepresentationIn,
    /// The init segment, uploaded as is.
    pub init: Bytes,
    /// The segments one pass of the loop replays.
    pub segments: Vec<CapturedSegment>,
}

/// A media segment of the capture.
#[derive(Debug, Clone)]
pub struct CapturedSegment {
    /// Start (its first `tfdt`), ticks.
    pub t: u64,
    /// Duration (to the next segment's start), ticks.
    pub d: u64,
    /// Its chunks, in order; they tile the segment.
    pub chunks: Vec<CapturedChunk>,
}

/// One CMAF chunk: the boxes before a `moof`, the `moof` and its `mdat`.
#[derive(Debug, Clone)]
pub struct CapturedChunk {
    /// Its bytes as captured.
    pub bytes: Bytes,
    /// When its last sample ends, ticks as captured: an encoder has it then.
    pub end: u64,
    fields: Vec<Field>,
}

/// A field to rewrite in a replayed chunk, by offset in the chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// `mfhd` sequence_number (32 bits).
    Sequence(usize),
    /// A media time of 32 bits (`tfdt`/`prft` version 0).
    Time32(usize),
    /// A media time of 64 bits (version 1).
    Time64(usize),
}

/// Segment `k` of a Representation's endless replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// `$Number$` (from 1, as ffmpeg numbers).
    pub number: u64,
    /// Start, ticks.
    pub t: u64,
    /// Duration, ticks.
    pub d: u64,
    /// Added to every media time of the captured segment.
    pub offset: u64,
    /// `mfhd` sequence number of its first chunk.
    pub first_sequence: u64,
    /// Which captured segment it replays.
    pub index: usize,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Header length of the box at `at` (16 with a 64-bit size).
fn header_len(b: &[u8], at: usize) -> usize {
    if be32(b, at) == Some(1) {
        16
    } else {
        8
    }
}

/// The fields of `chunk` to rewrite: `mfhd` of its `moof`, `tfdt` of every `traf`, the media
/// time of any `prft` before it.
fn find_fields(chunk: &[u8]) -> Result<Vec<Field>, String> {
    let mut out = Vec::new();
    let time = |version: Option<u8>, at: usize| match version {
        Some(1) => Field::Time64(at),
        _ => Field::Time32(at),
    };
    for (typ, at, size) in top_level(chunk).map_err(|e| e.to_string())? {
        let body = at + header_len(chunk, at);
        match &typ {
            // version/flags, reference_track_ID, ntp_timestamp (64), media_time.
            b"prft" => out.push(time(chunk.get(body).copied(), body + 16)),
            b"moof" => {
                let moof = &chunk[body..at + size];
                for (typ, cat, csize) in top_level(moof).map_err(|e| e.to_string())? {
                    let cbody = cat + header_len(moof, cat);
                    match &typ {
                        b"mfhd" => out.push(Field::Sequence(body + cbody + 4)),
                        b"traf" => {
                            let traf = &moof[cbody..cat + csize];
                            for (typ, tat, _) in top_level(traf).map_err(|e| e.to_string())? {
                                if &typ == b"tfdt" {
                                    let tbody = tat + header_len(traf, tat);
                                    out.push(time(
                                        traf.get(tbody).copied(),
                                        body + cbody + tbody + 4,
                                    ));
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    for f in &out {
        let (at, len) = match *f {
            Field::Sequence(at) | Field::Time32(at) => (at, 4),
            Field::Time64(at) => (at, 8),
        };
        if at + len > chunk.len() {
            return Err(format!("a field at {at} is past the chunk's end"));
        }
    }
    if !out.iter().any(|f| matches!(f, Field::Sequence(_))) {
        return Err("a chunk without mfhd".into());
    }
    Ok(out)
}

impl CapturedChunk {
    /// Appends the chunk to `out` as replayed: every media time plus `offset`, the `mfhd`
    /// sequence number `sequence`. An error when a 32-bit field cannot hold the new value.
    pub fn render_into(&self, offset: u64, sequence: u64, out: &mut Vec<u8>) -> Result<(), String> {
        let base = out.len();
        out.extend_from_slice(&self.bytes);
        let b = &mut out[base..];
        for f in &self.fields {
            match *f {
                Field::Sequence(at) => {
                    let v = u32::try_from(sequence).map_err(|_| "mfhd sequence overflows")?;
                    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
                }
                Field::Time32(at) => {
                    let t = u64::from(be32(b, at).unwrap_or(0)).saturating_add(offset);
                    let v = u32::try_from(t).map_err(|_| "a 32-bit media time overflows")?;
                    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
                }
                Field::Time64(at) => {
                    let mut s = [0u8; 8];
                    s.copy_from_slice(&b[at..at + 8]);
                    let t = u64::from_be_bytes(s).saturating_add(offset);
                    b[at..at + 8].copy_from_slice(&t.to_be_bytes());
                }
            }
        }
        Ok(())
    }
}

/// The `trex` defaults of an init segment's (first) track; none when it has no `trex`.
fn trex_defaults(init: &[u8]) -> TrackDefaults {
    let trex = parse_boxes(init).ok().and_then(|boxes| {
        boxes
            .iter()
            .find(|b| &b.typ == b"moov")
            .and_then(|m| m.at(&[b"mvex", b"trex"]))
            .map(|t| t.prefix.clone())
    });
    // version/flags, track_ID, sample_description_index, duration, size, flags.
    trex.map_or_else(TrackDefaults::default, |p| TrackDefaults {
        sample_duration: be32(&p, 12).unwrap_or(0),
        sample_flags: be32(&p, 20).unwrap_or(0),
    })
}

/// Cuts a whole segment into its chunks.
fn cut(body: &Bytes, defaults: TrackDefaults) -> Result<Vec<(CapturedChunk, u64)>, String> {
    let mut cutter = ChunkCutter::new(defaults);
    let chunks = cutter.feed(body).map_err(|e| e.to_string())?;
    cutter.finish(body.len()).map_err(|e| e.to_string())?;
    chunks
        .into_iter()
        .map(|c| {
            let bytes = body.slice(c.range);
            let fields = find_fields(&bytes)?;
            Ok((
                CapturedChunk {
                    bytes,
                    end: c.decode_time.saturating_add(c.duration),
                    fields,
                },
                c.decode_time,
            ))
        })
        .collect()
}

impl Capture {
    /// Reads a capture: `main.mpd` at `mpd_path` and the files it names (relative to it).
    pub fn load(mpd_path: &std::path::Path) -> Result<Capture, String> {
        let dir = mpd_path.parent().unwrap_or(std::path::Path::new("."));
        let mpd = std::fs::read(mpd_path).map_err(|e| format!("{}: {e}", mpd_path.display()))?;
        Capture::from_files(&mpd, |path| {
            let p = dir.join(path);
            std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))
        })
    }

    /// A capture from its MPD and a way to read the files it names.
    pub fn from_files(
        mpd: &[u8],
        mut read: impl FnMut(&str) -> Result<Vec<u8>, String>,
    ) -> Result<Capture, String> {
        let parsed = parse_mpd("main.mpd", mpd).map_err(|e| format!("main.mpd: {e}"))?;
        let period = parsed.periods.last().ok_or("main.mpd: no Period")?;
        let mut sets = Vec::new();
        for (i, a) in period.adaptation_sets.iter().enumerate() {
            let mut reps = Vec::new();
            for r in &a.representations {
                let SegmentsIn::Listed(listed) = &r.segments else {
                    return Err(format!(
                        "Representation {}: segments not listed (capture with -use_timeline 1)",
                        r.id
                    ));
                };
                let init_path = r.init.as_deref().ok_or("no init segment")?;
                let init = Bytes::from(read(init_path)?);
                let defaults = trex_defaults(&init);
                let mut segments: Vec<CapturedSegment> = Vec::new();
                for s in listed {
                    let body = Bytes::from(read(&s.path)?);
                    let cut = cut(&body, defaults).map_err(|e| format!("{}: {e}", s.path))?;
                    let Some(&(_, t)) = cut.first() else {
                        return Err(format!("{}: no chunk", s.path));
                    };
                    if let Some(prev) = segments.last_mut() {
                        prev.d = t.checked_sub(prev.t).ok_or("segment times go back")?;
                    }
                    let end = cut.last().map_or(t, |(c, _)| c.end);
                    segments.push(CapturedSegment {
                        t,
                        d: end.saturating_sub(t),
                        chunks: cut.into_iter().map(|(c, _)| c).collect(),
                    });
                }
                reps.push(CapturedRep {
                    info: r.clone(),
                    init,
                    segments,
                });
            }
            sets.push(CapturedSet {
                id: a.id.unwrap_or(u32::try_from(i).unwrap_or(0)),
                content_type: a.content_type,
                mime_type: a.mime_type.clone(),
                lang: a.lang.clone(),
                reps,
            });
        }
        // The last segment may be cut short: each Representation loops as many whole ones.
        let n = sets
            .iter()
            .flat_map(|s| s.reps.iter())
            .map(|r| r.segments.len())
            .min()
            .ok_or("main.mpd: no Representation")?;
        let n = if n > 1 { n - 1 } else { n };
        if n == 0 {
            return Err("main.mpd lists no segment".into());
        }
        for r in sets.iter_mut().flat_map(|s| s.reps.iter_mut()) {
            r.segments.truncate(n);
            if r.segments.iter().any(|s| s.d == 0) {
                return Err(format!("Representation {}: a segment lasts 0", r.info.id));
            }
        }
        Ok(Capture {
            sets,
            segments_per_loop: n,
        })
    }

    /// The Representations, in MPD order.
    pub fn reps(&self) -> impl Iterator<Item = &CapturedRep> {
        self.sets.iter().flat_map(|s| s.reps.iter())
    }

    /// The live MPD of a replay that began at `ast_unix_ms`, listing for each Representation (in
    /// [`Capture::reps`] order) the replayed segments in `listed`.
    pub fn live_mpd(
        &self,
        ast_unix_ms: u64,
        publish_unix_ms: u64,
        listed: &[Vec<Replayed>],
    ) -> String {
        let mut lists = listed.iter();
        let mut max_d_ms = 0u64;
        let mut chunk_ms = u64::MAX;
        let mut window_ms = 0u64;
        let sets = self
            .sets
            .iter()
            .map(|s| AdaptationSet {
                id: s.id,
                content_type: s.content_type,
                mime_type: s.mime_type.clone(),
                lang: s.lang.clone(),
                segment_alignment: true,
                cea608: None,
                representations: s
                    .reps
                    .iter()
                    .map(|r| {
                        let segs = lists.next().map_or(&[][..], Vec::as_slice);
                        let ms = |ticks: u64| ticks_ms(ticks, r.info.timescale);
                        for s in segs {
                            max_d_ms = max_d_ms.max(ms(s.d));
                        }
                        window_ms = window_ms.max(segs.iter().map(|s| ms(s.d)).sum());
                        if let Some(c) = r
                            .segments
                            .first()
                            .and_then(|s| s.chunks.first().map(|c| c.end.saturating_sub(s.t)))
                        {
                            chunk_ms = chunk_ms.min(ms(c).max(1));
                        }
                        mpd::Representation {
                            id: r.info.id.clone(),
                            bandwidth: r.info.bandwidth,
                            codecs: r.info.codecs.clone(),
                            width: r.info.width,
                            height: r.info.height,
                            frame_rate: r.info.frame_rate.clone(),
                            audio_sampling_rate: r.info.audio_sampling_rate,
                            audio_channels: r.info.audio_channels,
                            template: mpd::SegmentTemplate {
                                timescale: r.info.timescale,
                                presentation_time_offset: r.info.presentation_time_offset,
                                initialization: INIT_TEMPLATE.to_string(),
                                media: MEDIA_TEMPLATE.to_string(),
                                start_number: segs.first().map_or(1, |s| s.number),
                                timeline: mpd::timeline_from(segs.iter().map(|s| (s.t, s.d))),
                            },
                        }
                    })
                    .collect(),
            })
            .collect();
        let seg_ms = max_d_ms.max(1);
        let chunk_ms = chunk_ms.min(seg_ms);
        mpd::render(&Mpd {
            dynamic: true,
            availability_start_unix_ms: ast_unix_ms,
            publish_time_unix_ms: publish_unix_ms,
            time_shift_buffer_ms: window_ms.max(seg_ms),
            min_update_period_ms: seg_ms,
            suggested_presentation_delay_ms: seg_ms,
            min_buffer_time_ms: seg_ms,
            max_segment_duration_ms: seg_ms,
            media_presentation_duration_ms: None,
            utc_timing: Vec::new(),
            // As ffmpeg `-ldash 1`: segments requestable a chunk after they begin.
            low_latency: Some(LowLatency {
                availability_time_offset_ms: seg_ms - chunk_ms,
                target_latency_ms: seg_ms,
                min_latency_ms: chunk_ms,
                max_latency_ms: seg_ms.saturating_mul(3),
                playback_rate_permille: (960, 1040),
            }),
            periods: vec![mpd::Period {
                id: "0".into(),
                start_ms: 0,
                adaptation_sets: sets,
            }],
        })
    }
}

/// Ticks in ms, rounded.
fn ticks_ms(ticks: u64, timescale: u32) -> u64 {
    let ts = u128::from(timescale.max(1));
    u64::try_from((u128::from(ticks) * 1000 + ts / 2) / ts).unwrap_or(u64::MAX)
}

/// Ticks as a duration.
pub fn ticks_duration(ticks: u64, timescale: u32) -> Duration {
    let ns = u128::from(ticks) * 1_000_000_000 / u128::from(timescale.max(1));
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

impl CapturedRep {
    /// Chunks of one pass of the loop.
    fn chunks_per_loop(&self) -> u64 {
        self.segments.iter().map(|s| s.chunks.len() as u64).sum()
    }

    /// Ticks of one pass of the loop.
    pub fn span(&self) -> u64 {
        self.segments.iter().map(|s| s.d).sum()
    }

    /// Start of the captured stream, ticks: the replay's time zero.
    pub fn origin(&self) -> u64 {
        self.segments.first().map_or(0, |s| s.t)
    }

    /// Segment `k` (from 0) of the endless replay.
    pub fn segment_at(&self, k: u64) -> Replayed {
        let n = self.segments.len().max(1) as u64;
        let (pass, i) = (k / n, k % n);
        let index = usize::try_from(i).unwrap_or(0);
        let offset = pass.saturating_mul(self.span());
        let before: u64 = self.segments[..index]
            .iter()
            .map(|s| s.chunks.len() as u64)
            .sum();
        let (t, d) = self.segments.get(index).map_or((0, 0), |s| (s.t, s.d));
        Replayed {
            number: k + 1,
            t: t.saturating_add(offset),
            d,
            offset,
            first_sequence: pass
                .saturating_mul(self.chunks_per_loop())
                .saturating_add(before)
                .saturating_add(1),
            index,
        }
    }
}

#[cfg(test)]
#[path = "dash_capture_tests.rs"]
mod tests;
