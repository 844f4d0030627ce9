//! Building a [`HlsSnapshot`] from the channel's state: render every playlist (reusing the
//! previous render, etag included, when the text is unchanged), collect the objects, and
//! compute the status; and the [`Published`] view of it, with the CMAF repackaging of `cmaf`
//! endpoints.

use super::leader;
use super::snapshot::{HlsSnapshot, RenditionSnapshot, SubtitlesInfo};
use super::timeline::Rendition;
use super::HlsMedia;
use crate::channel::config::{EndpointType, InputRole};
use crate::cmaf::packager::CmafPackager;
use crate::hls::{render_master, render_media, MasterPlaylistIn, VariantIn};
use crate::media::{MediaEvent, MediaStatus, Published, Rendered, RepackageStats};
use crate::time::Now;
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Last render of each playlist.
#[derive(Debug, Default)]
pub(crate) struct RenderCache {
    main: Option<Rendered>,
    renditions: HashMap<String, Rendered>,
}

/// Builds the snapshot for the current version.
pub(crate) fn build(cm: &mut HlsMedia) -> HlsSnapshot {
    let unix_ms = cm.last_now.unix_ms;
    let live: Vec<&Rendition> = cm
        .renditions
        .iter()
        .filter(|r| r.listed && !r.segments.is_empty())
        .collect();
    let mut renditions = Vec::with_capacity(live.len());
    let mut new_cache = HashMap::with_capacity(live.len());
    let end_on_endlist = cm.params.end_on_endlist;
    let master = cm.active.and_then(|a| cm.inputs[a.index()].master.as_ref());
    for r in &live {
        let text = render_media(&r.playlist("", end_on_endlist));
        let prev = cm.rendered.renditions.get(&r.name);
        let rendered = cm.etag.reuse_or_render(prev, text, unix_ms);
        new_cache.insert(r.name.clone(), rendered.clone());
        renditions.push(RenditionSnapshot {
            name: r.name.clone(),
            playlist: rendered,
            first_seq: r.segments.front().map_or(0, |s| s.entry.seq),
            segments: r.segments.iter().map(|s| s.entry.clone()).collect(),
            inits: r.inits.iter().cloned().collect(),
            discontinuity_sequence: r.disc_seq,
            discontinuities: r
                .segments
                .iter()
                .filter(|s| s.discontinuity)
                .map(|s| s.entry.seq)
                .collect(),
            ended: r.output_ended(end_on_endlist),
            subtitles: subtitles_info(r, master),
        });
    }
    let main_text = if live.is_empty() {
        None
    } else if cm.master_mode {
        let out = match master {
            Some(m) => rewrite_master(m, &live),
            None => synthesize_master(&live),
        };
        let version = if live.iter().any(|r| !r.inits.is_empty()) {
            6
        } else {
            3
        };
        (!out.variants.is_empty()).then(|| render_master(&out, version))
    } else {
        live.first().map(|r| {
            let prefix = format!("{}/", r.name);
            render_media(&r.playlist(&prefix, end_on_endlist))
        })
    };
    let main = main_text.map(|t| {
        cm.etag
            .reuse_or_render(cm.rendered.main.as_ref(), t, unix_ms)
    });
    let status = status(cm, &live);
    cm.rendered = RenderCache {
        main: main.clone(),
        renditions: new_cache,
    };
    HlsSnapshot {
        version: cm.versions.current,
        output_version: cm.versions.output,
        main,
        renditions,
        status,
    }
}

/// The published view at the current version: the HLS output, and while the channel has
/// `cmaf` endpoints their repackaged output (the packager repackages each new segment once;
/// without `cmaf` endpoints it and its cache are dropped).
pub(crate) fn published(hm: &mut HlsMedia, now: Now) -> Published {
    let hls = hm.snapshot();
    let mut p = Published::new(hm.versions.current, hls.status.clone())
        .with_output(EndpointType::Hls, Arc::clone(&hls) as _)
        .with_markers(hm.markers.published());
    if !hm.params.cmaf {
        hm.cmaf = None;
        return p;
    }
    let packager = hm.cmaf.get_or_insert_with(|| CmafPackager::new(now));
    let was_refused = packager.refused().is_some();
    let cmaf = packager.update(&hls, now);
    for message in packager.drain_warnings() {
        hm.tracker.push(MediaEvent::OutputWarning { message });
    }
    if let (Some(why), false) = (&cmaf.refused, was_refused) {
        let message = format!("cmaf endpoints answer 501: {why}");
        hm.tracker.push(MediaEvent::OutputWarning { message });
    }
    p.repackaging = Some(RepackageStats {
        repackaged: cmaf.stats.repackaged,
        failed: cmaf.stats.failed,
        held_bytes: cmaf.held_bytes,
    });
    p.with_output(EndpointType::Cmaf, cmaf as _)
}

/// The previous snapshot's playlists and objects with the current status: what an object
/// stored or deleted before any playlist lists it changes (no playlist rendered).
pub(crate) fn refresh_status(cm: &HlsMedia, prev: &HlsSnapshot) -> HlsSnapshot {
    let live: Vec<&Rendition> = cm
        .renditions
        .iter()
        .filter(|r| r.listed && !r.segments.is_empty())
        .collect();
    HlsSnapshot {
        version: cm.versions.current,
        output_version: prev.output_version,
        main: prev.main.clone(),
        renditions: prev.renditions.clone(),
        status: status(cm, &live),
    }
}

/// A WebVTT rendition's attributes: its `EXT-X-MEDIA:TYPE=SUBTITLES` in the input's master.
fn subtitles_info(r: &Rendition, master: Option<&MasterPlaylistIn>) -> Option<SubtitlesInfo> {
    if !r
        .segments
        .iter()
        .all(|s| crate::hls::webvtt::is_webvtt(s.entry.ext))
    {
        return None;
    }
    let media = master.and_then(|m| {
        m.media
            .iter()
            .find(|x| x.media_type == "SUBTITLES" && x.uri.as_deref() == Some(&r.source))
    });
    Some(match media {
        Some(x) => SubtitlesInfo {
            name: x.name.clone(),
            language: x.language.clone(),
            default: x.default,
            autoselect: x.autoselect,
            forced: x.forced,
        },
        None => SubtitlesInfo {
            name: r.name.clone(),
            autoselect: true,
            ..SubtitlesInfo::default()
        },
    })
}

fn rendition_uri(r: &Rendition) -> String {
    format!("{}/index.m3u8", r.name)
}

/// The encoder's master with URIs pointing at our renditions; entries whose rendition has no
/// segment yet are left out (a player would fail on them).
fn rewrite_master(m: &MasterPlaylistIn, live: &[&Rendition]) -> MasterPlaylistIn {
    let find = |src: &str| live.iter().find(|r| r.source == src);
    MasterPlaylistIn {
        independent_segments: m.independent_segments,
        variants: m
            .variants
            .iter()
            .filter_map(|v| {
                find(&v.uri).map(|r| VariantIn {
                    uri: rendition_uri(r),
                    ..v.clone()
                })
            })
            .collect(),
        media: m
            .media
            .iter()
            .filter_map(|x| match &x.uri {
                None => Some(x.clone()),
                Some(u) => find(u).map(|r| crate::hls::MediaIn {
                    uri: Some(rendition_uri(r)),
                    ..x.clone()
                }),
            })
            .collect(),
    }
}

/// Several media playlists and no master: one variant each, `BANDWIDTH` the peak segment
/// bit rate in the window (RFC 8216 §4.3.4.2).
fn synthesize_master(live: &[&Rendition]) -> MasterPlaylistIn {
    MasterPlaylistIn {
        independent_segments: live.iter().all(|r| r.independent),
        variants: live
            .iter()
            .map(|r| VariantIn {
                uri: rendition_uri(r),
                bandwidth: peak_bps(r),
                ..VariantIn::default()
            })
            .collect(),
        media: Vec::new(),
    }
}

fn peak_bps(r: &Rendition) -> u64 {
    r.segments
        .iter()
        .filter(|s| s.entry.duration_ms > 0)
        .map(|s| {
            (s.entry.object.body.len() as u64)
                .saturating_mul(8_000)
                .checked_div(s.entry.duration_ms)
                .unwrap_or(0)
        })
        .max()
        .unwrap_or(0)
        .max(1)
}

fn status(cm: &HlsMedia, live: &[&Rendition]) -> MediaStatus {
    let mut seen: HashSet<(usize, usize)> = HashSet::new();
    let mut held = 0u64;
    let mut count = |b: &Bytes| {
        if !b.is_empty() && seen.insert((b.as_ptr() as usize, b.len())) {
            held = held.saturating_add(b.len() as u64);
        }
    };
    for s in &cm.inputs {
        s.objects.values().for_each(|o| count(&o.body.bytes));
    }
    for r in &cm.renditions {
        r.segments.iter().for_each(|s| count(&s.entry.object.body));
        r.inits.iter().for_each(|i| count(&i.object.body));
    }
    let mut inputs = [cm.inputs[0].status, cm.inputs[1].status];
    for (role, i) in InputRole::ALL.into_iter().zip(inputs.iter_mut()) {
        let ended = leader::ended(&cm.inputs[role.index()]);
        i.health = cm.tracker.health(role, &cm.params.failover).reported(ended);
        i.good_streak = cm.tracker.inputs[role.index()].streak;
    }
    MediaStatus {
        active: cm.active,
        inputs,
        aligned: cm
            .active
            .is_some_and(|a| super::aligned(&cm.tracker, &cm.inputs, &cm.renditions, a)),
        window_segments: live.iter().map(|r| r.segments.len() as u64).sum(),
        held_bytes: held,
        failovers: cm.failovers,
        ended: !live.is_empty()
            && live
                .iter()
                .all(|r| r.output_ended(cm.params.end_on_endlist)),
        refused_segments: cm.refused,
    }
}
