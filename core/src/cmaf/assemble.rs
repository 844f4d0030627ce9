//! Assembling a [`CmafSnapshot`] from the packager's state: each rendition's served window
//! ([`views`]), the manifests rendered with their etags kept while unchanged ([`Out`]), and the
//! tracks every pull resolves against ([`build`]).

use super::manifests;
use super::output::{CmafRendition, CmafSnapshot, CmafTrack, PackagerStats, WEBVTT_DIR};
use super::state::RenditionState;
use super::window::{self, Anchor, KeptSeg, RenditionView, TEXT, TRACK_SLOTS};
use crate::hls::media::snapshot::HlsSnapshot;
use crate::media::object::{EtagGen, InitEntry, Rendered, SegmentEntry};
use crate::media::{PeriodView, SegmentTiming};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Each rendition's window as served: the repackaged segments after its last failure.
/// Subtitles renditions come last (the first rendition is every Period's reference).
pub(super) fn views<'a>(
    states: &'a HashMap<String, RenditionState>,
    hls: &'a HlsSnapshot,
) -> Vec<RenditionView<'a>> {
    let mut views = Vec::new();
    for r in &hls.renditions {
        let Some(st) = states.get(&r.name) else {
            continue;
        };
        let mut dsn = r.discontinuity_sequence;
        let mut segs: Vec<KeptSeg<'a>> = Vec::with_capacity(r.segments.len());
        for s in &r.segments {
            let discontinuity = r.discontinuities.binary_search(&s.seq).is_ok();
            if discontinuity {
                dsn = dsn.saturating_add(1);
            }
            match st.cache.get(&s.seq) {
                Some(Some(p)) => segs.push(KeptSeg {
                    seq: s.seq,
                    dsn,
                    discontinuity,
                    source: s,
                    packaged: p,
                }),
                // Failed (or never fed): the window restarts after it.
                _ => segs.clear(),
            }
        }
        if segs.is_empty() {
            continue;
        }
        views.push(RenditionView {
            name: &r.name,
            segs,
            ended: r.ended,
            inits: &st.inits,
            targets: st.targets,
            peak_bps: st.peak_bps,
            subtitles: r.subtitles.as_ref(),
        });
    }
    views.sort_by_key(|v| v.subtitles.is_some());
    views
}

/// Renders with etags reused while a path's text is unchanged.
pub(super) struct Out<'a> {
    pub(super) etags: &'a mut EtagGen,
    pub(super) previous: &'a HashMap<String, Rendered>,
    pub(super) rendered: HashMap<String, Rendered>,
    pub(super) unix_ms: u64,
}

impl Out<'_> {
    pub(super) fn render(&mut self, path: String, text: String) -> Rendered {
        let r = match self.previous.get(&path) {
            Some(p) if p.body == text.as_bytes() => p.clone(),
            _ => Rendered::new(Bytes::from(text), self.etags.next(), self.unix_ms),
        };
        self.rendered.insert(path, r.clone());
        r
    }
}

pub(super) fn build(
    hls: &HlsSnapshot,
    views: &[RenditionView<'_>],
    periods: &BTreeMap<u64, Anchor>,
    availability_start_unix_ms: u64,
    out: &mut Out<'_>,
    refused: Option<String>,
    stats: PackagerStats,
) -> CmafSnapshot {
    out.unix_ms = hls
        .renditions
        .iter()
        .flat_map(|r| r.segments.last())
        .map(|s| s.object.last_modified_unix_ms)
        .max()
        .unwrap_or(0);
    let ended = !views.is_empty() && views.iter().all(|v| v.ended);
    let mut archived_periods = Vec::new();
    let mut mpd_model = None;
    let (mpd, master) = if views.is_empty() {
        (None, None)
    } else {
        let model = manifests::mpd(
            views,
            periods,
            availability_start_unix_ms,
            out.unix_ms,
            ended,
        );
        let mpd = crate::dash::mpd::render(&model);
        archived_periods = model
            .periods
            .iter()
            .map(|p| PeriodView::of(p.clone(), availability_start_unix_ms))
            .collect();
        mpd_model = Some(model);
        let master = manifests::master(views);
        (
            Some(out.render(".mpd".into(), mpd)),
            Some(out.render(".m3u8".into(), master)),
        )
    };
    let mut renditions = Vec::with_capacity(views.len());
    for v in views {
        let mut tracks = Vec::new();
        for (slot, (_, dir, _)) in TRACK_SLOTS.iter().enumerate() {
            let Some(text) = manifests::media_playlist(v, slot) else {
                continue;
            };
            let playlist = out.render(format!("{}/{dir}.m3u8", v.name), text);
            let (segments, timing) = v
                .segs
                .iter()
                .filter_map(|s| {
                    s.packaged.tracks[slot].as_ref().map(|t| {
                        let entry = SegmentEntry {
                            seq: s.seq,
                            ext: "m4s",
                            duration_ms: window::ms(t.duration, t.timescale),
                            start_unix_ms: s.source.start_unix_ms,
                            init: Some(t.init_k),
                            object: Arc::clone(&t.object),
                        };
                        let timing = SegmentTiming {
                            period: format!("p{}", s.dsn),
                            t: t.ept,
                            d: t.duration,
                        };
                        (entry, timing)
                    })
                })
                .unzip();
            let inits = v.inits[slot]
                .versions
                .iter()
                .map(|i| InitEntry {
                    k: i.k,
                    ext: "mp4",
                    object: Arc::clone(&i.object),
                })
                .collect();
            tracks.push(CmafTrack {
                dir,
                playlist,
                inits,
                segments,
                timing,
            });
        }
        if v.subtitles.is_some() {
            if let Some(text) = manifests::webvtt_playlist(v) {
                tracks.push(CmafTrack {
                    dir: WEBVTT_DIR,
                    playlist: out.render(format!("{}/{WEBVTT_DIR}.m3u8", v.name), text),
                    inits: Vec::new(),
                    segments: v.track(TEXT).map(|(s, _)| s.source.clone()).collect(),
                    timing: Vec::new(),
                });
            }
        }
        let discontinuities = hls
            .renditions
            .iter()
            .find(|r| r.name == v.name)
            .map(|r| r.discontinuities.clone())
            .unwrap_or_default();
        renditions.push(CmafRendition {
            name: v.name.to_string(),
            tracks,
            discontinuities,
        });
    }
    let mut snap = CmafSnapshot {
        version: hls.output_version,
        mpd,
        master,
        renditions,
        refused,
        stats,
        held_bytes: 0,
        periods: archived_periods,
        mpd_model,
        mpd_clock: Vec::new(),
    };
    snap.held_bytes = snap.objects().map(|o| o.body.len() as u64).sum();
    snap
}
