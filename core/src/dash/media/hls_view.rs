//! A DASH channel's output as fMP4 HLS, for its `cmaf` endpoints: the same init and media
//! segments (same URLs, so a CDN caches each once) listed in a multivariant playlist and one
//! media playlist per Representation (`v0.m3u8`, `a0.m3u8` beside the MPD).
//!
//! - Media Sequence Numbers are consecutive per Representation across Periods (a segment's
//!   `msn`, not its DASH number); a Period boundary is an `EXT-X-DISCONTINUITY`, the Period's
//!   place in the stream its discontinuity sequence; `EXT-X-PROGRAM-DATE-TIME` on every
//!   segment, on the MPD's clock.
//! - **Low latency** (LL-HLS): the CMAF chunks a segment was uploaded in are its Partial
//!   Segments (`<rep>/<n>.<i>.m4s`, `INDEPENDENT=YES` on those starting with a sync sample),
//!   listed for the segments of the last three target durations and for the segment still
//!   arriving, followed by an `EXT-X-PRELOAD-HINT` for its next part. `PART-TARGET` is the
//!   longest part listed (never lower than before), `PART-HOLD-BACK` three times it,
//!   `CAN-SKIP-UNTIL` six target durations, with a Playlist Delta Update rendered beside
//!   each playlist; `EXT-X-RENDITION-REPORT` for every other Representation. A segment whose
//!   upload gave no part timing lists no parts.

use super::output::Output;
use super::period::{OutPeriod, OutRep, OutSeg, Pending};
use crate::dash::mpd::ContentType;
use crate::hls::directives::Position;
use crate::hls::parse::{MediaIn, VariantIn};
use crate::hls::render::{hls_frame_rate, render_av_master};
use crate::hls::render_ll::{render_ll, LlPlaylistOut, LlSegmentOut, PartOut, ServerControl};
use crate::media::growing::{GrowingObject, Progress};
use std::sync::Arc;

/// `GROUP-ID` of the audio renditions.
const AUDIO_GROUP: &str = "audio";

/// What the playlists announced so far and must not lower: `EXT-X-TARGETDURATION` (s) and
/// `PART-TARGET` (ms).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Targets {
    pub target_s: u64,
    pub part_target_ms: u64,
}

/// The HLS playlists of the output at one version.
#[derive(Debug, Clone)]
pub(crate) struct HlsText {
    /// The multivariant playlist.
    pub master: String,
    /// One per Representation name, in order.
    pub media: Vec<MediaText>,
}

/// The renders of one media playlist.
#[derive(Debug, Clone)]
pub(crate) struct MediaText {
    /// Its file name beside the MPD (`v0.m3u8`).
    pub file: String,
    /// Without low-latency tags.
    pub regular: String,
    /// With them: the whole playlist, its Playlist Delta Update, and where it stands.
    pub low_latency: Option<(String, String, Position)>,
}

/// One Representation name across the window.
struct Track<'a> {
    name: &'a str,
    content_type: ContentType,
    segs: Vec<(&'a OutPeriod, &'a OutRep, &'a OutSeg)>,
    pending: Option<(&'a OutPeriod, &'a OutRep, &'a Pending)>,
}

/// A Partial Segment: duration (ms) and `INDEPENDENT`.
type Part = (u64, bool);

/// The timed parts of `g` (of a track with `timescale`), in order, up to the first one
/// without timing; `all` asks for every part or none.
fn parts_of(g: &GrowingObject, timescale: u32, all: bool) -> Vec<Part> {
    let infos = g.parts();
    let timed: Vec<Part> = infos
        .iter()
        .map_while(|p| *p)
        .map(|p| (ms(p.duration, timescale), p.independent))
        .collect();
    if all && timed.len() != infos.len() {
        return Vec::new();
    }
    timed
}

/// `ticks` in ms, rounded to the nearest.
fn ms(ticks: u64, timescale: u32) -> u64 {
    let ts = u128::from(timescale.max(1));
    u64::try_from((u128::from(ticks) * 1000 + ts / 2) / ts).unwrap_or(u64::MAX)
}

/// Wall-clock start of a segment at media time `t` of `r` in `p`.
fn start_unix_ms(ast: u64, p: &OutPeriod, r: &OutRep, t: u64) -> u64 {
    let rel = t.saturating_sub(r.pto);
    let ts = u128::from(r.info.timescale.max(1));
    let rel_ms = u64::try_from(u128::from(rel) * 1000 / ts).unwrap_or(u64::MAX);
    ast.saturating_add(p.start_ms).saturating_add(rel_ms)
}

fn tracks(out: &Output) -> Vec<Track<'_>> {
    let mut tracks: Vec<Track<'_>> = Vec::new();
    let last = out.periods.len().saturating_sub(1);
    for (i, p) in out.periods.iter().enumerate() {
        for set in &p.sets {
            for r in set.reps.iter().filter(|r| r.init.is_some()) {
                let at = match tracks.iter().position(|t| t.name == r.name) {
                    Some(at) => at,
                    None => {
                        tracks.push(Track {
                            name: &r.name,
                            content_type: set.content_type,
                            segs: Vec::new(),
                            pending: None,
                        });
                        tracks.len() - 1
                    }
                };
                let t = &mut tracks[at];
                t.segs.extend(r.segments.iter().map(|s| (p, r, s)));
                if i == last {
                    t.pending = r.pending.as_ref().map(|x| (p, r, x));
                }
            }
        }
    }
    tracks.retain(|t| !t.segs.is_empty() && t.content_type != ContentType::Text);
    tracks
}

/// Renders the playlists, `None` before any segment. `part_target_ms` is the part target
/// announced so far (raised here when a longer part appears).
pub(crate) fn render(
    out: &Output,
    low_latency: bool,
    ended: bool,
    targets: &mut Targets,
) -> Option<HlsText> {
    let ast = out.ast?;
    let tracks = tracks(out);
    if tracks.is_empty() {
        return None;
    }
    // Every EXTINF rounded to the nearest second is at most the target (RFC 8216bis 4.4.3.1);
    // the target never goes down (6.2.2: it must not change).
    let target_s = tracks
        .iter()
        .flat_map(|t| t.segs.iter())
        .map(|(_, r, s)| (ms(s.d, r.info.timescale) + 500).div_euclid(1000).max(1))
        .max()
        .unwrap_or(1)
        .max(targets.target_s);
    targets.target_s = target_s;
    let part_target_ms = &mut targets.part_target_ms;
    let views: Vec<View> = tracks
        .iter()
        .map(|t| view(t, ast, target_s, low_latency && !ended))
        .collect();
    // Parts are never longer than their segments' target.
    *part_target_ms = (*part_target_ms).max(
        views
            .iter()
            .flat_map(|v| v.segments.iter().flat_map(|s| s.parts.iter()))
            .map(|p| p.duration_ms)
            .max()
            .unwrap_or(0)
            .min(target_s * 1000),
    );
    let media = tracks
        .iter()
        .zip(&views)
        .map(|(t, v)| {
            let file = format!("{}.m3u8", t.name);
            let mut p = LlPlaylistOut {
                target_duration_s: target_s,
                media_sequence: v.first_msn,
                discontinuity_sequence: v.discontinuity_sequence,
                end_list: ended,
                segments: v
                    .segments
                    .iter()
                    .filter(|s| !s.arriving)
                    .map(|s| LlSegmentOut {
                        parts: Vec::new(),
                        ..s.clone()
                    })
                    .collect(),
                ..LlPlaylistOut::default()
            };
            let regular = render_ll(&p);
            let ll = low_latency.then(|| {
                let has_parts = *part_target_ms > 0;
                p.segments.clone_from(&v.segments);
                p.server_control = Some(ServerControl {
                    can_skip_until_ms: target_s * 6_000,
                    part_hold_back_ms: has_parts.then_some(part_target_ms.saturating_mul(3)),
                });
                p.part_target_ms = has_parts.then_some(*part_target_ms);
                p.preload_hint = v.hint.clone().filter(|_| has_parts);
                p.rendition_reports = tracks
                    .iter()
                    .zip(&views)
                    .filter(|(o, _)| o.name != t.name)
                    .map(|(o, ov)| (format!("{}.m3u8", o.name), ov.last.0, ov.last.1))
                    .collect();
                let full = render_ll(&p);
                p.skipped = v.skippable;
                let delta = render_ll(&p);
                let position = Position {
                    last_segment: Some(v.last_complete),
                    last_part: v.last_part,
                    ended,
                    part_target_ms: *part_target_ms,
                    target_duration_ms: target_s * 1000,
                    wake_key: crate::media::wake::wake_key(t.name),
                };
                (full, delta, position)
            });
            MediaText {
                file,
                regular,
                low_latency: ll,
            }
        })
        .collect();
    Some(HlsText {
        master: master(&tracks),
        media,
    })
}

/// A track's playlist content.
struct View {
    first_msn: u64,
    discontinuity_sequence: u64,
    segments: Vec<LlSegmentOut>,
    hint: Option<String>,
    /// Segments a Delta Update skips.
    skippable: usize,
    last_complete: u64,
    /// The last part listed: MSN of its segment and its index.
    last_part: Option<(u64, u64)>,
    /// For rendition reports: `LAST-MSN` and `LAST-PART`.
    last: (u64, Option<u64>),
}

fn view(t: &Track<'_>, ast: u64, target_s: u64, low_latency: bool) -> View {
    let (p0, _, s0) = t.segs[0];
    let mut segments = Vec::with_capacity(t.segs.len() + 1);
    let mut prev_period: Option<&str> = None;
    // The init segment's URI, made once per init segment rather than per segment.
    let mut map: Option<(u64, Arc<str>)> = None;
    let mut map_of = |k: u64| -> Arc<str> {
        match &map {
            Some((at, uri)) if *at == k => Arc::clone(uri),
            _ => {
                let uri: Arc<str> = format!("{}/init{k}.m4s", t.name).into();
                map = Some((k, Arc::clone(&uri)));
                uri
            }
        }
    };
    for (p, r, s) in &t.segs {
        let k = r.init.as_ref().map_or(0, |(k, _)| *k);
        segments.push(LlSegmentOut {
            uri: Arc::clone(&s.uri),
            duration_ms: ms(s.d, r.info.timescale),
            discontinuity: prev_period.is_some_and(|id| id != p.id),
            start_unix_ms: start_unix_ms(ast, p, r, s.t),
            map: map_of(k),
            parts: Vec::new(),
            arriving: false,
        });
        prev_period = Some(&p.id);
    }
    let (_, _, last_seg) = t.segs[t.segs.len() - 1];
    let mut last_part = None;
    let mut hint = None;
    if low_latency {
        // Parts of the segments of the last three target durations.
        let edge = segments
            .last()
            .map_or(0, |s| s.start_unix_ms.saturating_add(s.duration_ms));
        let from = edge.saturating_sub(target_s * 3_000);
        for ((_, r, s), out) in t.segs.iter().zip(segments.iter_mut()) {
            let Some(g) = s.chunked.as_ref() else {
                continue;
            };
            if out.start_unix_ms.saturating_add(out.duration_ms) <= from {
                continue;
            }
            out.parts = part_list(t.name, s.number, &parts_of(g, r.info.timescale, true));
            if !out.parts.is_empty() {
                last_part = Some((s.msn, out.parts.len() as u64 - 1));
            }
        }
        if let Some((p, r, pend)) = t.pending {
            let parts = parts_of(&pend.object, r.info.timescale, false);
            let msn = last_seg.msn.saturating_add(1);
            // No hint past its last part: once whole, or once its parts make up about the
            // duration segments have (its listing as a whole segment follows with the encoder's
            // manifest, and the next segment's parts are hinted then).
            let have_ms: u64 = parts.iter().map(|(d, _)| d).sum();
            let last_in = parts.iter().map(|(d, _)| d / 2).max().unwrap_or(0);
            let expected_ms = ms(pend.d, r.info.timescale);
            if pend.object.progress() == Progress::Arriving
                && have_ms.saturating_add(last_in) < expected_ms
            {
                hint = Some(format!("{}/{}.{}.m4s", t.name, pend.number, parts.len()));
            }
            if !parts.is_empty() {
                last_part = Some((msn, parts.len() as u64 - 1));
            }
            let k = r.init.as_ref().map_or(0, |(k, _)| *k);
            // Listed from its first part on.
            if !parts.is_empty() {
                segments.push(LlSegmentOut {
                    uri: format!("{}/{}.m4s", t.name, pend.number).into(),
                    duration_ms: ms(pend.d, r.info.timescale),
                    discontinuity: false,
                    start_unix_ms: start_unix_ms(ast, p, r, pend.t),
                    map: map_of(k),
                    parts: part_list(t.name, pend.number, &parts),
                    arriving: true,
                });
            }
        }
    }
    let complete = segments.iter().filter(|s| !s.arriving);
    let edge = segments
        .iter()
        .rfind(|s| !s.arriving)
        .map_or(0, |s| s.start_unix_ms.saturating_add(s.duration_ms));
    let skip_until = edge.saturating_sub(target_s * 6_000);
    let skippable = complete
        .take_while(|s| s.start_unix_ms.saturating_add(s.duration_ms) <= skip_until)
        .count();
    let last = last_part
        .filter(|(m, _)| *m >= last_seg.msn)
        .map_or((last_seg.msn, None), |(m, i)| (m, Some(i)));
    View {
        first_msn: s0.msn,
        discontinuity_sequence: p0.seq,
        segments,
        hint,
        skippable,
        last_complete: last_seg.msn,
        last_part,
        last,
    }
}

fn part_list(name: &str, number: u64, parts: &[Part]) -> Vec<PartOut> {
    parts
        .iter()
        .enumerate()
        .map(|(i, (duration_ms, independent))| PartOut {
            uri: format!("{name}/{number}.{i}.m4s"),
            duration_ms: *duration_ms,
            independent: *independent,
        })
        .collect()
}

/// The multivariant playlist: a variant per video Representation, the audio ones in one
/// group (an audio-only output has a variant per audio Representation).
fn master(tracks: &[Track<'_>]) -> String {
    fn info<'a>(t: &Track<'a>) -> &'a crate::dash::parse::RepresentationIn {
        &t.segs[t.segs.len() - 1].1.info
    }
    let audio: Vec<&Track<'_>> = tracks
        .iter()
        .filter(|t| t.content_type == ContentType::Audio)
        .collect();
    let audio_bps = audio.first().map_or(0, |t| info(t).bandwidth);
    let audio_codecs = audio.first().map(|t| info(t).codecs.clone());
    let media: Vec<MediaIn> = audio
        .iter()
        .enumerate()
        .map(|(i, t)| MediaIn {
            media_type: "AUDIO".into(),
            group_id: AUDIO_GROUP.into(),
            name: t.name.to_string(),
            default: i == 0,
            autoselect: true,
            channels: info(t).audio_channels.map(|c| c.to_string()),
            uri: Some(format!("{}.m3u8", t.name)),
            ..MediaIn::default()
        })
        .collect();
    let video: Vec<VariantIn> = tracks
        .iter()
        .filter(|t| t.content_type == ContentType::Video)
        .map(|t| {
            let i = info(t);
            let codecs = match &audio_codecs {
                Some(a) if !a.is_empty() => format!("{},{a}", i.codecs),
                _ => i.codecs.clone(),
            };
            VariantIn {
                uri: format!("{}.m3u8", t.name),
                bandwidth: i.bandwidth.saturating_add(audio_bps).max(1),
                codecs: Some(codecs),
                resolution: i
                    .width
                    .zip(i.height)
                    .map(|(w, h)| (u64::from(w), u64::from(h))),
                frame_rate: i.frame_rate.as_deref().and_then(frame_rate),
                audio: (!media.is_empty()).then(|| AUDIO_GROUP.to_string()),
                ..VariantIn::default()
            }
        })
        .collect();
    render_av_master(video, media, || {
        audio
            .iter()
            .map(|t| VariantIn {
                uri: format!("{}.m3u8", t.name),
                bandwidth: info(t).bandwidth.max(1),
                codecs: Some(info(t).codecs.clone()),
                ..VariantIn::default()
            })
            .collect()
    })
}

/// DASH `@frameRate` (`25`, `30000/1001`) as HLS `FRAME-RATE` (`25.000`, `29.970`).
fn frame_rate(dash: &str) -> Option<String> {
    let (num, den) = match dash.split_once('/') {
        Some((n, d)) => (n.trim().parse().ok()?, d.trim().parse().ok()?),
        None => (dash.trim().parse().ok()?, 1),
    };
    Some(hls_frame_rate((num, den)))
}
