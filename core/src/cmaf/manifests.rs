//! The CMAF endpoint's manifests, built from the packager's view of each rendition's window:
//! the DASH MPD (on [`crate::dash::mpd`]) and the fMP4 HLS master and media playlists (on the
//! HLS endpoint's own renderer, [`crate::hls::render_media`] / [`crate::hls::render::render_av_master`]).
//!
//! # DASH timing
//! Each Period (one per discontinuity sequence number of the HLS output) is anchored once, when
//! first seen: its reference time is the earliest presentation time of the first rendition's
//! first fragment in it (`presentationTimeOffset` of every track, converted to the track's
//! timescale), and its start is chosen so that the newest segment ends, in MPD time, when it
//! was published (`availabilityStartTime + Period@start + media time = publish time`).
//! `availabilityStartTime` is fixed by the first Period and never moves; a later Period starts
//! no earlier than the previous one ends.

use super::output::{url_number, WEBVTT_DIR};
use super::window::{
    ms, rescale, Anchor, KeptSeg, PackagedTrack, RenditionView, AUDIO, TEXT, TRACK_SLOTS, VIDEO,
};
use crate::dash::mpd::{
    self, AdaptationSet, ContentType, Mpd, Period, Representation, SegmentTemplate, UtcTiming,
};
use crate::hls::render::hls_frame_rate;
use crate::hls::render::render_av_master;
use crate::hls::{render_media, MediaIn, MediaPlaylistOut};
use crate::hls::{SegmentOut, VariantIn};
use std::collections::BTreeMap;

/// `GROUP-ID` of the audio rendition in the HLS master.
const AUDIO_GROUP: &str = "audio";
/// `GROUP-ID` of the subtitles renditions in the HLS master.
const SUBTITLES_GROUP: &str = "subs";

/// The track timing reference of the first segment of `group` (video preferred).
fn reference<'a>(seg: &KeptSeg<'a>) -> Option<(usize, &'a PackagedTrack)> {
    [VIDEO, AUDIO]
        .into_iter()
        .find_map(|slot| seg.packaged.tracks[slot].as_ref().map(|t| (slot, t)))
}

/// The closed-captions rendition of video that carries CEA-608 (HLS `INSTREAM-ID`, DASH
/// `Accessibility` value).
const CAPTIONS_CHANNEL: &str = "CC1";
/// Its HLS group.
const CAPTIONS_GROUP: &str = "cc";

/// Where the MPD's clock stands against the segments' `EXT-X-PROGRAM-DATE-TIME` (the MPD
/// anchors each Period on the segments' arrival): per Period of the lead rendition, from the
/// program date of its first segment on, the ms to add to a program date to get the MPD's
/// wall clock (`availabilityStartTime` + `Period@start` + media time).
pub(crate) fn mpd_clock(
    views: &[RenditionView<'_>],
    periods: &BTreeMap<u64, Anchor>,
    ast: u64,
) -> Vec<(u64, i64)> {
    let Some(lead) = views.first() else {
        return Vec::new();
    };
    let mut out: Vec<(u64, i64)> = Vec::new();
    let mut dsn = None;
    for seg in &lead.segs {
        if dsn == Some(seg.dsn) {
            continue;
        }
        dsn = Some(seg.dsn);
        let (Some(anchor), Some((_, t))) = (periods.get(&seg.dsn), reference(seg)) else {
            continue;
        };
        if t.timescale != anchor.ref_timescale {
            continue;
        }
        let media_ms = ms(t.ept.saturating_sub(anchor.ref_ticks), t.timescale);
        let mpd_ms = ast.saturating_add(anchor.start_ms).saturating_add(media_ms);
        let pdt = seg.source.start_unix_ms;
        out.push((pdt, mpd_ms as i64 - pdt as i64));
    }
    out
}

/// Anchors the Periods of the first rendition that are new, updates the end of the others and
/// forgets those that left the window.
pub(crate) fn anchor_periods(
    views: &[RenditionView<'_>],
    periods: &mut BTreeMap<u64, Anchor>,
    availability_start_unix_ms: &mut Option<u64>,
) {
    let Some(lead) = views.first() else {
        return;
    };
    let mut i = 0;
    while i < lead.segs.len() {
        let dsn = lead.segs[i].dsn;
        let n = lead.segs[i..].iter().take_while(|s| s.dsn == dsn).count();
        let group = &lead.segs[i..i + n];
        i += n;
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let anchor = match periods.get(&dsn) {
            Some(a) => *a,
            None => {
                let Some((slot, t)) = reference(first) else {
                    continue;
                };
                let start_ms = match *availability_start_unix_ms {
                    None => 0,
                    Some(ast) => {
                        let media_ms = period_end_media_ms(slot, t.ept, t.timescale, last);
                        let prev_end = periods
                            .range(..dsn)
                            .next_back()
                            .map_or(0, |(_, a)| a.end_ms);
                        last.source
                            .object
                            .last_modified_unix_ms
                            .saturating_sub(ast)
                            .saturating_sub(media_ms)
                            .max(prev_end)
                    }
                };
                Anchor {
                    start_ms,
                    ref_ticks: t.ept,
                    ref_timescale: t.timescale,
                    ref_slot: slot,
                    end_ms: start_ms,
                }
            }
        };
        let media_ms = period_end_media_ms(
            anchor.ref_slot,
            anchor.ref_ticks,
            anchor.ref_timescale,
            last,
        );
        if availability_start_unix_ms.is_none() {
            *availability_start_unix_ms = Some(
                last.source
                    .object
                    .last_modified_unix_ms
                    .saturating_sub(media_ms),
            );
        }
        periods.insert(
            dsn,
            Anchor {
                end_ms: anchor.start_ms.saturating_add(media_ms).max(anchor.end_ms),
                ..anchor
            },
        );
    }
    if let Some(first) = lead.segs.first() {
        periods.retain(|d, _| *d >= first.dsn);
    }
}

/// Media time from a Period's reference to the end of `last`, ms.
fn period_end_media_ms(slot: usize, ref_ticks: u64, timescale: u32, last: &KeptSeg<'_>) -> u64 {
    match last.packaged.tracks[slot].as_ref() {
        Some(t) => ms(
            t.ept.saturating_add(t.duration).saturating_sub(rescale(
                ref_ticks,
                timescale,
                t.timescale,
            )),
            t.timescale,
        ),
        None => 0,
    }
}

/// The rendition whose audio is served: the first one that has audio.
fn audio_view<'a, 'b>(views: &'a [RenditionView<'b>]) -> Option<&'a RenditionView<'b>> {
    views.iter().find(|v| v.has(AUDIO))
}

/// The MPD's model.
pub(crate) fn mpd(
    views: &[RenditionView<'_>],
    periods: &BTreeMap<u64, Anchor>,
    availability_start_unix_ms: u64,
    publish_time_unix_ms: u64,
    ended: bool,
) -> Mpd {
    let lead = &views[..views.len().min(1)];
    let max_segment_ms = lead
        .iter()
        .flat_map(|v| v.segs.iter())
        .map(|s| s.source.duration_ms)
        .max()
        .unwrap_or(0)
        .max(1);
    let window_ms: u64 = lead
        .iter()
        .flat_map(|v| v.segs.iter())
        .map(|s| s.source.duration_ms)
        .sum();
    let audio = audio_view(views);
    let mut out = Vec::with_capacity(periods.len());
    for (&dsn, anchor) in periods {
        let mut sets = Vec::with_capacity(2);
        let video: Vec<Representation> = views
            .iter()
            .filter_map(|v| representation(v, VIDEO, dsn, anchor))
            .collect();
        if !video.is_empty() {
            let captions = views.iter().any(|v| v.captions());
            sets.push(AdaptationSet {
                id: 0,
                content_type: ContentType::Video,
                mime_type: "video/mp4".into(),
                lang: None,
                segment_alignment: true,
                cea608: captions.then(|| CAPTIONS_CHANNEL.to_string()),
                representations: video,
            });
        }
        if let Some(r) = audio.and_then(|v| representation(v, AUDIO, dsn, anchor)) {
            sets.push(AdaptationSet {
                id: 1,
                content_type: ContentType::Audio,
                mime_type: "audio/mp4".into(),
                lang: None,
                segment_alignment: true,
                cea608: None,
                representations: vec![r],
            });
        }
        // Each subtitles rendition: a text AdaptationSet of its own (its language).
        for (i, v) in views.iter().filter(|v| v.subtitles.is_some()).enumerate() {
            let Some(r) = representation(v, TEXT, dsn, anchor) else {
                continue;
            };
            sets.push(AdaptationSet {
                id: 2 + i as u32,
                content_type: ContentType::Text,
                mime_type: "application/mp4".into(),
                lang: v.subtitles.and_then(|s| s.language.clone()),
                segment_alignment: true,
                cea608: None,
                representations: vec![r],
            });
        }
        if sets.iter().any(|s| s.content_type != ContentType::Text) {
            out.push(Period {
                id: format!("p{dsn}"),
                start_ms: anchor.start_ms,
                adaptation_sets: sets,
            });
        }
    }
    let end_ms = periods.values().map(|a| a.end_ms).max().unwrap_or(0);
    Mpd {
        dynamic: !ended,
        availability_start_unix_ms,
        publish_time_unix_ms,
        time_shift_buffer_ms: window_ms,
        min_update_period_ms: max_segment_ms,
        // Players stall at every segment with less (docs/testing.md).
        suggested_presentation_delay_ms: max_segment_ms.saturating_mul(3),
        min_buffer_time_ms: max_segment_ms,
        max_segment_duration_ms: max_segment_ms,
        media_presentation_duration_ms: ended.then_some(end_ms),
        utc_timing: vec![UtcTiming::origin()],
        low_latency: None,
        periods: out,
    }
}

/// The Representation of track `slot` of `v` in Period `dsn`, if it has segments there.
fn representation(
    v: &RenditionView<'_>,
    slot: usize,
    dsn: u64,
    anchor: &Anchor,
) -> Option<Representation> {
    let segs: Vec<(&KeptSeg<'_>, &PackagedTrack)> =
        v.track(slot).filter(|(s, _)| s.dsn == dsn).collect();
    let (first, _) = segs.first()?;
    let (_, last) = segs.last()?;
    let info = &v.inits[slot].get(last.init_k)?.info;
    let dir = TRACK_SLOTS[slot].1;
    let (video, audio) = (slot == VIDEO, slot == AUDIO);
    Some(Representation {
        id: format!("{}-{dir}", v.name),
        bandwidth: v.peak_bps(slot),
        codecs: info.codecs.clone(),
        width: video.then_some(info.width),
        height: video.then_some(info.height),
        frame_rate: info.frame_rate.map(dash_frame_rate),
        audio_sampling_rate: audio.then_some(info.sample_rate),
        audio_channels: audio.then_some(u32::from(info.channels)),
        template: SegmentTemplate {
            timescale: info.timescale,
            presentation_time_offset: anchor.pto(info.timescale),
            initialization: format!("{}/{dir}/init{}.mp4", v.name, last.init_k),
            media: format!("{}/{dir}/$Number$.m4s", v.name),
            start_number: url_number(first.seq),
            timeline: mpd::timeline_from(segs.iter().map(|(_, t)| (t.ept, t.duration))),
        },
    })
}

/// DASH `@frameRate`: `25`, or `30000/1001`.
fn dash_frame_rate((num, den): (u32, u32)) -> String {
    if den == 1 {
        num.to_string()
    } else {
        format!("{num}/{den}")
    }
}

/// Renders the fMP4 HLS master: one variant per rendition with video, all sharing the audio
/// rendition of the first rendition that has audio.
pub(crate) fn master(views: &[RenditionView<'_>]) -> String {
    let audio = audio_view(views);
    let audio_info = audio.and_then(|v| v.info(AUDIO));
    let media = match (audio, audio_info) {
        (Some(v), Some(info)) => vec![MediaIn {
            media_type: "AUDIO".into(),
            group_id: AUDIO_GROUP.into(),
            name: "audio".into(),
            default: true,
            autoselect: true,
            channels: Some(info.channels.to_string()),
            uri: Some(format!("{}/{}.m3u8", v.name, TRACK_SLOTS[AUDIO].1)),
            ..MediaIn::default()
        }],
        _ => Vec::new(),
    };
    let audio_bps = audio.map_or(0, |v| v.peak_bps(AUDIO));
    // CEA-608 captions in the video: one closed-captions rendition, named by its channel.
    let mut media = media;
    if views.iter().any(|v| v.captions()) {
        media.push(MediaIn {
            media_type: "CLOSED-CAPTIONS".into(),
            group_id: CAPTIONS_GROUP.into(),
            name: CAPTIONS_CHANNEL.into(),
            default: true,
            autoselect: true,
            instream_id: Some(CAPTIONS_CHANNEL.into()),
            ..MediaIn::default()
        });
    }
    // WebVTT subtitles: one rendition each in one group.
    let subtitles: Vec<&RenditionView<'_>> = views
        .iter()
        .filter(|v| v.subtitles.is_some() && v.has(TEXT))
        .collect();
    for v in &subtitles {
        let Some(s) = v.subtitles else { continue };
        media.push(MediaIn {
            media_type: "SUBTITLES".into(),
            group_id: SUBTITLES_GROUP.into(),
            name: s.name.clone(),
            language: s.language.clone(),
            default: s.default,
            autoselect: s.autoselect,
            forced: s.forced,
            uri: Some(format!("{}/{WEBVTT_DIR}.m3u8", v.name)),
            ..MediaIn::default()
        });
    }
    let with_subtitles = !subtitles.is_empty();
    let video: Vec<VariantIn> = views
        .iter()
        .filter_map(|v| {
            let info = v.info(VIDEO)?;
            let codecs = match audio_info {
                Some(a) => format!("{},{}", info.codecs, a.codecs),
                None => info.codecs.clone(),
            };
            Some(VariantIn {
                uri: format!("{}/{}.m3u8", v.name, TRACK_SLOTS[VIDEO].1),
                bandwidth: v.peak_bps(VIDEO).saturating_add(audio_bps),
                codecs: Some(codecs),
                resolution: Some((u64::from(info.width), u64::from(info.height))),
                frame_rate: info.frame_rate.map(hls_frame_rate),
                audio: audio_info.map(|_| AUDIO_GROUP.to_string()),
                closed_captions: v.captions().then(|| Some(CAPTIONS_GROUP.to_string())),
                subtitles: with_subtitles.then(|| SUBTITLES_GROUP.to_string()),
                ..VariantIn::default()
            })
        })
        .collect();
    // Audio only: the audio playlist is the variant.
    render_av_master(video, media, || match (audio, audio_info) {
        (Some(v), Some(info)) => vec![VariantIn {
            uri: format!("{}/{}.m3u8", v.name, TRACK_SLOTS[AUDIO].1),
            bandwidth: audio_bps,
            codecs: Some(info.codecs.clone()),
            ..VariantIn::default()
        }],
        _ => Vec::new(),
    })
}

/// Renders the media playlist of track `slot` of `v`, if it has segments.
pub(crate) fn media_playlist(v: &RenditionView<'_>, slot: usize) -> Option<String> {
    let segs: Vec<(&KeptSeg<'_>, &PackagedTrack)> = v.track(slot).collect();
    let (first, _) = segs.first()?;
    let prefix = format!("{}/", TRACK_SLOTS[slot].1);
    let out = MediaPlaylistOut {
        target_duration_s: v.targets[slot].max(1),
        media_sequence: first.seq,
        discontinuity_sequence: first.dsn.saturating_sub(u64::from(first.discontinuity)),
        independent_segments: true,
        end_list: v.ended,
        uri_prefix: &prefix,
        segments: segs
            .iter()
            .map(|(s, t)| SegmentOut {
                seq: url_number(s.seq),
                ext: "m4s",
                duration_ms: ms(t.duration, t.timescale),
                discontinuity: s.discontinuity,
                program_date_time: None,
                start_unix_ms: Some(s.source.start_unix_ms),
                init: Some((t.init_k, "mp4")),
            })
            .collect(),
    };
    Some(render_media(&out))
}

/// The WebVTT playlist of a subtitles rendition: its WebVTT files as pushed (with the
/// `X-TIMESTAMP-MAP` that puts them on the same 90 kHz clock as the fMP4 decode times), for
/// the segments its `wvtt` track has.
pub(crate) fn webvtt_playlist(v: &RenditionView<'_>) -> Option<String> {
    let segs: Vec<&KeptSeg<'_>> = v.track(TEXT).map(|(s, _)| s).collect();
    let first = segs.first()?;
    let prefix = format!("{WEBVTT_DIR}/");
    let out = MediaPlaylistOut {
        target_duration_s: v.targets[TEXT].max(1),
        media_sequence: first.seq,
        discontinuity_sequence: first.dsn.saturating_sub(u64::from(first.discontinuity)),
        independent_segments: false,
        end_list: v.ended,
        uri_prefix: &prefix,
        segments: segs
            .iter()
            .map(|s| SegmentOut {
                seq: url_number(s.seq),
                ext: s.source.ext,
                duration_ms: s.source.duration_ms,
                discontinuity: s.discontinuity,
                program_date_time: None,
                start_unix_ms: Some(s.source.start_unix_ms),
                init: None,
            })
            .collect(),
    };
    Some(render_media(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rates() {
        let table = [
            ((25, 1), "25", "25.000"),
            ((30000, 1001), "30000/1001", "29.970"),
            ((60000, 1001), "60000/1001", "59.940"),
            ((24, 0), "24/0", "24.000"),
        ];
        for (rate, dash, hls) in table {
            assert_eq!(dash_frame_rate(rate), dash);
            assert_eq!(hls_frame_rate(rate), hls);
        }
    }

    #[test]
    fn ms_rounds_and_rescale_saturates() {
        assert_eq!(ms(180_000, 90_000), 2000);
        assert_eq!(ms(97_280, 48_000), 2027);
        assert_eq!(ms(1, 0), 1000);
        assert_eq!(rescale(127_920, 90_000, 48_000), 68_224);
        assert_eq!(rescale(u64::MAX, 1, 90_000), u64::MAX);
    }
}
