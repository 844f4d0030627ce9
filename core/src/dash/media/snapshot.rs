//! What pull requests read: an immutable [`DashSnapshot`] of a DASH channel's output, rebuilt
//! once per change and shared by `Arc`. Lookups are allocation-free.

use super::archived::ArchiveView;
use super::hls_view;
use super::model;
use super::DashMedia;
use crate::channel::config::InputRole;
use crate::dash::mpd::{self, MPD_CONTENT_TYPE};
use crate::hls::directives::Position;
use crate::hls::PLAYLIST_CONTENT_TYPE;
use crate::media::growing::GrowingObject;
use crate::media::object::parse_number;
use crate::media::{Lookup, MediaObject, MediaOutput, MediaStatus, Rendered, Unavailable, Variant};
use crate::media::{PeriodView, TrackView};
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A DASH channel's published output at one version.
#[derive(Debug)]
pub struct DashSnapshot {
    /// [`DashMedia::version`] it was built at.
    pub version: u64,
    /// The endpoint's MPD: `None` until some segment is playable (the daemon answers 503).
    pub mpd: Option<Rendered>,
    /// The MPD of low-latency endpoints, when the channel has some: announced segments end
    /// its timelines.
    pub mpd_low_latency: Option<Rendered>,
    /// Live state for the admin `LiveView`.
    pub status: MediaStatus,
    /// Segments and init segments by path relative to the MPD (`v0/123.m4s`, `v0/init1.m4s`);
    /// shared with the next snapshot when only the status changed.
    pub(super) objects: Arc<HashMap<String, Arc<MediaObject>>>,
    /// Announced segments still arriving, by path, with their `Content-Type`.
    pub(super) growing: Arc<HashMap<String, (Arc<GrowingObject>, &'static str)>>,
    /// What the time-shift archive records, when the channel keeps a window.
    pub(super) archive: Option<Arc<ArchiveView>>,
    /// The fMP4 HLS playlists of `cmaf` endpoints, when the channel has some.
    pub(super) hls: Option<Arc<HlsPublished>>,
}

/// The HLS side of a DASH channel's output ([`super::hls_view`]), rendered.
#[derive(Debug)]
pub(super) struct HlsPublished {
    master: Rendered,
    /// By file name (`v0.m3u8`).
    media: HashMap<String, PublishedPlaylist>,
    /// Segments with Partial Segments, by `<rep>/<number>`, with their `Content-Type` (the
    /// same while only chunks arrive: shared by those versions).
    parts: Arc<PartsMap>,
}

/// Segments with Partial Segments, by `<rep>/<number>`, with their `Content-Type`.
type PartsMap = HashMap<String, (Arc<GrowingObject>, &'static str)>;

#[derive(Debug)]
struct PublishedPlaylist {
    regular: Rendered,
    /// The low-latency playlist, its Delta Update, and where it stands.
    low_latency: Option<(Rendered, Rendered, Position)>,
}

/// What `cmaf` endpoints of a DASH channel read: the same output, with its HLS playlists and
/// Partial Segments.
#[derive(Debug)]
pub struct CmafOfDash(pub Arc<DashSnapshot>);

impl MediaOutput for CmafOfDash {
    fn lookup<'a>(&'a self, manifest: &str, rest: &str) -> Result<Lookup<'a>, Unavailable<'a>> {
        self.0.find(manifest, rest, Variant::default(), true)
    }

    fn tracks(&self) -> Vec<TrackView<'_>> {
        self.0.tracks()
    }

    fn mpd_model(&self) -> Option<&mpd::Mpd> {
        self.0.mpd_model()
    }

    fn manifests(&self, manifest: &str) -> Vec<(String, &Rendered)> {
        let mut out = self.0.manifests(manifest);
        if let Some(h) = &self.0.hls {
            out.push((format!("{manifest}.m3u8"), &h.master));
            for (name, p) in &h.media {
                out.push((name.clone(), &p.regular));
            }
        }
        out
    }

    fn lookup_with<'a>(
        &'a self,
        manifest: &str,
        rest: &str,
        variant: Variant,
    ) -> Result<Lookup<'a>, Unavailable<'a>> {
        self.0.find(manifest, rest, variant, true)
    }

    fn low_latency_manifests(&self, manifest: &str) -> Vec<(String, bool, &Rendered)> {
        let mut out = self.0.low_latency_manifests(manifest);
        if let Some(h) = &self.0.hls {
            for (name, p) in &h.media {
                if let Some((full, delta, _)) = &p.low_latency {
                    out.push((name.clone(), false, full));
                    out.push((name.clone(), true, delta));
                }
            }
        }
        out
    }

    fn playlist_position(&self, _manifest: &str, rest: &str) -> Option<Position> {
        let hls = self.0.hls.as_ref()?;
        hls.media
            .get(rest)?
            .low_latency
            .as_ref()
            .map(|(_, _, p)| *p)
    }
}

impl MediaOutput for DashSnapshot {
    fn lookup<'a>(&'a self, manifest: &str, rest: &str) -> Result<Lookup<'a>, Unavailable<'a>> {
        self.find(manifest, rest, Variant::default(), false)
    }

    fn lookup_with<'a>(
        &'a self,
        manifest: &str,
        rest: &str,
        variant: Variant,
    ) -> Result<Lookup<'a>, Unavailable<'a>> {
        self.find(manifest, rest, variant, false)
    }

    fn low_latency_manifests(&self, manifest: &str) -> Vec<(String, bool, &Rendered)> {
        self.mpd_low_latency
            .iter()
            .map(|m| (format!("{manifest}.mpd"), false, m))
            .collect()
    }

    fn tracks(&self) -> Vec<TrackView<'_>> {
        self.archive.as_ref().map_or_else(Vec::new, |a| a.tracks())
    }

    fn periods(&self) -> Vec<PeriodView> {
        self.archive.as_ref().map_or_else(Vec::new, |a| a.periods())
    }

    fn mpd_model(&self) -> Option<&mpd::Mpd> {
        self.archive.as_ref().map(|a| &a.model)
    }

    fn manifests(&self, manifest: &str) -> Vec<(String, &Rendered)> {
        self.mpd
            .iter()
            .map(|m| (format!("{manifest}.mpd"), m))
            .collect()
    }
}

impl DashSnapshot {
    /// Resolves a path of a `dash` endpoint, or with `hls` of a `cmaf` one.
    fn find<'a>(
        &'a self,
        manifest: &str,
        rest: &str,
        variant: Variant,
        hls: bool,
    ) -> Result<Lookup<'a>, Unavailable<'a>> {
        let mpd = match (variant.low_latency, &self.mpd_low_latency) {
            (true, Some(ll)) => Some(ll),
            _ => self.mpd.as_ref(),
        };
        let Some(mpd) = mpd else {
            return Err(Unavailable::NoMediaYet);
        };
        if rest.strip_prefix(manifest) == Some(".mpd") {
            return Ok(Lookup::Manifest(mpd, MPD_CONTENT_TYPE));
        }
        if let Some(o) = self.objects.get(rest) {
            return Ok(Lookup::Object(o));
        }
        if let Some((g, ct)) = self.growing.get(rest) {
            return Ok(Lookup::Growing(g, ct));
        }
        match self.hls.as_ref().filter(|_| hls) {
            Some(h) => Ok(h.find(manifest, rest, variant)),
            None => Ok(Lookup::NotFound),
        }
    }

    /// Paths of every object served (for tests and diagnostics), sorted.
    pub fn object_paths(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.objects.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

/// Builds the snapshot for the current version: renders the MPD (reusing the previous
/// render, etag included, when the text is unchanged), collects the objects, computes the
/// status.
pub(crate) fn build(dm: &mut DashMedia) -> DashSnapshot {
    let ended = dm.output.presentation_ended(dm.params.end_on_endlist);
    let (window_ms, changed) = (dm.params.window_ms, dm.changed_unix_ms);
    let model = model::mpd_of(&dm.output, window_ms, ended, changed, None);
    let archive = model
        .as_ref()
        .filter(|_| dm.params.timeshift || dm.params.encrypted)
        .map(|m| Arc::new(ArchiveView::of(&dm.output, m)));
    let text = model.map(|m| mpd::render(&m));
    let unix_ms = dm.last_now.unix_ms;
    let rendered = text.map(|t| dm.etag.reuse_or_render(dm.rendered.as_ref(), t, unix_ms));
    dm.rendered.clone_from(&rendered);
    let form = dm.params.low_latency.then(|| model::LowLatencyForm {
        chunks_per_segment: dm
            .active
            .map_or(0, |a| dm.inputs[a.index()].chunks_per_segment),
    });
    let ll_text = form
        .and_then(|f| model::mpd_of(&dm.output, window_ms, ended, changed, Some(f)))
        .map(|m| mpd::render(&m));
    let rendered_ll = ll_text.map(|t| {
        dm.etag
            .reuse_or_render(dm.rendered_low_latency.as_ref(), t, unix_ms)
    });
    dm.rendered_low_latency.clone_from(&rendered_ll);
    let hls = build_hls(dm, ended, None);
    let mut growing = HashMap::new();
    let mut objects = HashMap::new();
    let mut window_segments = 0u64;
    for p in &dm.output.periods {
        for set in &p.sets {
            for r in &set.reps {
                if let Some((k, o)) = &r.init {
                    objects.insert(format!("{}/init{k}.m4s", r.name), o.clone());
                }
                window_segments = window_segments.saturating_add(r.segments.len() as u64);
                for s in &r.segments {
                    objects.insert(format!("{}/{}.m4s", r.name, s.number), s.object.clone());
                }
                if let Some(p) = r.pending.as_ref().filter(|_| form.is_some()) {
                    let path = format!("{}/{}.m4s", r.name, p.number);
                    growing.insert(path, (Arc::clone(&p.object), set.segment_mime));
                }
            }
        }
    }
    let status = status(dm, window_segments);
    DashSnapshot {
        version: dm.versions.current,
        mpd: rendered,
        mpd_low_latency: rendered_ll,
        status,
        objects: Arc::new(objects),
        growing: Arc::new(growing),
        archive,
        hls,
    }
}

/// The previous snapshot's MPD and objects with the current status: what an object stored or
/// deleted that the output does not serve (yet) changes. Nothing is rendered.
pub(crate) fn refresh_status(dm: &DashMedia, prev: &DashSnapshot) -> DashSnapshot {
    DashSnapshot {
        status: status(dm, prev.status.window_segments),
        ..reused(dm, prev)
    }
}

/// The previous snapshot with the LL-HLS playlists listed again: a chunk arrived, nothing
/// else moved (the MPDs, the objects and the status stay as they are).
pub(crate) fn refresh_parts(dm: &mut DashMedia, prev: &DashSnapshot) -> DashSnapshot {
    let ended = dm.output.presentation_ended(dm.params.end_on_endlist);
    let parts = prev.hls.as_ref().map(|h| Arc::clone(&h.parts));
    DashSnapshot {
        version: dm.versions.current,
        hls: build_hls(dm, ended, parts),
        ..reused(dm, prev)
    }
}

/// The previous snapshot as it is, at the current version.
fn reused(dm: &DashMedia, prev: &DashSnapshot) -> DashSnapshot {
    DashSnapshot {
        version: dm.versions.current,
        mpd: prev.mpd.clone(),
        mpd_low_latency: prev.mpd_low_latency.clone(),
        status: prev.status.clone(),
        objects: Arc::clone(&prev.objects),
        growing: Arc::clone(&prev.growing),
        hls: prev.hls.clone(),
        archive: prev.archive.clone(),
    }
}

fn status(dm: &DashMedia, window_segments: u64) -> MediaStatus {
    let mut seen: HashSet<(usize, usize)> = HashSet::new();
    let mut held = 0u64;
    let mut count = |b: &Bytes| {
        if !b.is_empty() && seen.insert((b.as_ptr() as usize, b.len())) {
            held = held.saturating_add(b.len() as u64);
        }
    };
    for s in &dm.inputs {
        s.objects.values().for_each(|o| count(&o.body.bytes));
    }
    for p in &dm.output.periods {
        for set in &p.sets {
            for r in &set.reps {
                r.segments.iter().for_each(|s| count(&s.object.body));
                if let Some((_, o)) = &r.init {
                    count(&o.body);
                }
            }
        }
    }
    let mut inputs = [dm.inputs[0].status, dm.inputs[1].status];
    for (role, i) in InputRole::ALL.into_iter().zip(inputs.iter_mut()) {
        let ended = dm.inputs[role.index()].ended();
        i.health = dm.tracker.health(role, &dm.params.failover).reported(ended);
        i.good_streak = dm.tracker.inputs[role.index()].streak;
    }
    MediaStatus {
        active: dm.active,
        inputs,
        aligned: dm
            .active
            .is_some_and(|a| dm.output.aligned_with(&dm.inputs[a.other().index()])),
        window_segments,
        held_bytes: held,
        failovers: dm.failovers,
        ended: dm.output.presentation_ended(dm.params.end_on_endlist),
        refused_segments: dm.refused,
    }
}

impl HlsPublished {
    /// A path of a `cmaf` endpoint that is not the MPD or a whole segment.
    fn find<'a>(&'a self, manifest: &str, rest: &str, variant: Variant) -> Lookup<'a> {
        if rest.strip_prefix(manifest) == Some(".m3u8") {
            return Lookup::Manifest(&self.master, PLAYLIST_CONTENT_TYPE);
        }
        if let Some(p) = self.media.get(rest) {
            let r = match (&p.low_latency, variant.low_latency) {
                (Some((_, delta, _)), true) if variant.delta => delta,
                (Some((full, _, _)), true) => full,
                _ => &p.regular,
            };
            return Lookup::Manifest(r, PLAYLIST_CONTENT_TYPE);
        }
        // `<rep>/<number>.<i>.m4s`
        let part = rest
            .strip_suffix(".m4s")
            .and_then(|s| s.rsplit_once('.'))
            .and_then(|(key, i)| Some((self.parts.get(key)?, parse_number(i)?)));
        match part {
            Some(((g, ct), i)) => Lookup::Part(g, usize::try_from(i).unwrap_or(usize::MAX), ct),
            None => Lookup::NotFound,
        }
    }
}

/// Renders the HLS side for `cmaf` endpoints (when the channel has some), reusing the
/// previous renders whose text is unchanged (same etag).
/// The HLS side rendered; `parts` reused when only chunks arrived since it was made (the
/// segments with parts are the same objects, growing).
pub(crate) fn build_hls(
    dm: &mut DashMedia,
    ended: bool,
    parts: Option<Arc<PartsMap>>,
) -> Option<Arc<HlsPublished>> {
    if !dm.params.cmaf {
        dm.prev_hls.clear();
        return None;
    }
    let low_latency = dm.params.low_latency;
    let text = hls_view::render(&dm.output, low_latency, ended, &mut dm.hls_targets)?;
    let unix_ms = dm.last_now.unix_ms;
    let prev = std::mem::take(&mut dm.prev_hls);
    let mut rendered = |key: String, text: String| {
        let r = dm.etag.reuse_or_render(prev.get(&key), text, unix_ms);
        dm.prev_hls.insert(key, r.clone());
        r
    };
    let master = rendered("master".into(), text.master);
    let media = text
        .media
        .into_iter()
        .map(|m| {
            let regular = rendered(format!("regular {}", m.file), m.regular);
            let low_latency = m.low_latency.map(|(full, delta, position)| {
                let full = rendered(format!("ll {}", m.file), full);
                let delta = rendered(format!("delta {}", m.file), delta);
                (full, delta, position)
            });
            (
                m.file,
                PublishedPlaylist {
                    regular,
                    low_latency,
                },
            )
        })
        .collect();
    if let Some(parts) = parts {
        return Some(Arc::new(HlsPublished {
            master,
            media,
            parts,
        }));
    }
    let mut parts = HashMap::new();
    if low_latency {
        for p in &dm.output.periods {
            for set in &p.sets {
                for r in &set.reps {
                    let chunked = r
                        .segments
                        .iter()
                        .filter_map(|s| Some((s.number, s.chunked.as_ref()?)));
                    let pending = r.pending.iter().map(|x| (x.number, &x.object));
                    for (n, g) in chunked.chain(pending) {
                        let key = format!("{}/{n}", r.name);
                        parts.insert(key, (Arc::clone(g), set.segment_mime));
                    }
                }
            }
        }
    }
    Some(Arc::new(HlsPublished {
        master,
        media,
        parts: Arc::new(parts),
    }))
}
