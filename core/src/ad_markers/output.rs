//! What an endpoint that signals ad markers serves: [`MarkedOutput`], the output it would
//! serve anyway (clear or encrypted) with its manifests marked in the endpoint's style; built
//! on each publication by a channel's [`Marking`] while markers are in its window.

use super::emsg_out::{declare_inband, inband_segments, Inband};
use super::{hls_out, mpd_out, AdMarker};
use crate::channel::config::{AdMarkerStyle, ChannelConfig};
use crate::id::Id;
use crate::media::{Lookup, MediaOutput, Published, Rendered, Unavailable, Variant};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// An endpoint's output with its manifests marked. Lookups never allocate; segments, and
/// what low-latency requests ask for (parts, blocking reloads, delta updates), are the
/// underlying output's.
#[derive(Debug)]
pub struct MarkedOutput {
    base: Arc<dyn MediaOutput>,
    manifests: HashMap<String, (Rendered, &'static str)>,
    /// A low-latency endpoint's forms (its MPD, LL-HLS playlists), by path: every one the
    /// base has.
    low_latency: HashMap<String, (Rendered, &'static str)>,
    /// The LL-HLS playlists' Delta Updates, by path.
    deltas: HashMap<String, (Rendered, &'static str)>,
    /// `--inband-markers`: the segments that carry `emsg`s, by path.
    segments: HashMap<String, Inband>,
}

impl MediaOutput for MarkedOutput {
    /// The base output's answer (its refusals and waits included), with a manifest replaced
    /// by its marked form.
    fn lookup<'a>(&'a self, manifest: &str, rest: &str) -> Result<Lookup<'a>, Unavailable<'a>> {
        let answer = self.base.lookup(manifest, rest)?;
        Ok(self.replaced(answer, rest, self.manifests.get(rest)))
    }

    fn lookup_with<'a>(
        &'a self,
        manifest: &str,
        rest: &str,
        variant: Variant,
    ) -> Result<Lookup<'a>, Unavailable<'a>> {
        if !variant.low_latency {
            return self.lookup(manifest, rest);
        }
        let answer = self.base.lookup_with(manifest, rest, variant)?;
        let forms = if variant.delta {
            &self.deltas
        } else {
            &self.low_latency
        };
        let marked = forms.get(rest).or_else(|| self.manifests.get(rest));
        Ok(self.replaced(answer, rest, marked))
    }

    fn playlist_position(
        &self,
        manifest: &str,
        rest: &str,
    ) -> Option<crate::hls::directives::Position> {
        self.base.playlist_position(manifest, rest)
    }

    fn manifests(&self, _manifest: &str) -> Vec<(String, &Rendered)> {
        crate::media::object::listed_manifests(&self.manifests)
    }

    fn content_keys(&self) -> &[crate::encryption::ContentKey] {
        self.base.content_keys()
    }

    fn content_key(&self, rest: &str) -> Option<&crate::encryption::ContentKey> {
        self.base.content_key(rest)
    }

    fn mpd_clock(&self, unix_ms: u64) -> u64 {
        self.base.mpd_clock(unix_ms)
    }
}

impl MarkedOutput {
    /// The base output's `answer` at `rest` with a manifest replaced by its `marked` form and
    /// a segment by its in-band form.
    fn replaced<'a>(
        &'a self,
        answer: Lookup<'a>,
        rest: &str,
        marked: Option<&'a (Rendered, &'static str)>,
    ) -> Lookup<'a> {
        match (answer, marked) {
            (Lookup::Manifest(..), Some((r, content_type))) => Lookup::Manifest(r, content_type),
            (Lookup::Object(o), _) => {
                Lookup::Object(self.segments.get(rest).map_or(o, |s| &**s.object()))
            }
            (answer, _) => answer,
        }
    }
}

/// One endpoint that signals markers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Marked {
    endpoint: crate::channel::config::EndpointConfig,
    style: AdMarkerStyle,
}

/// A channel's endpoints that signal ad markers, and their last marked manifests (an
/// unchanged text keeps its `ETag`).
#[derive(Debug, Default)]
pub struct Marking {
    endpoints: Vec<Marked>,
    /// By endpoint, path and low-latency form (`Some(delta)`).
    renders: HashMap<(Id, String, Option<bool>), Rendered>,
    /// `--inband-markers`: the segments made with `emsg`s, by endpoint.
    inband: HashMap<Id, HashMap<String, Inband>>,
}

impl Marking {
    /// Follows the channel's endpoints; whether that changes what is published.
    pub fn follow(&mut self, c: &ChannelConfig) -> bool {
        let wanted: Vec<Marked> = c
            .endpoints
            .iter()
            .filter(|e| e.ad_markers != AdMarkerStyle::None || e.inband_markers)
            .map(|e| Marked {
                endpoint: e.clone(),
                style: e.ad_markers,
            })
            .collect();
        if wanted == self.endpoints {
            return false;
        }
        self.endpoints = wanted;
        self.renders.clear();
        true
    }

    /// `published` with the markers in its window written into each marking endpoint's
    /// manifests; `None` when no manifest changes.
    pub fn apply(&mut self, published: &Published, now_unix_ms: u64) -> Option<Published> {
        let markers = published.markers.clone();
        if markers.is_empty() || self.endpoints.is_empty() {
            self.renders.clear();
            self.inband.clear();
            return None;
        }
        let mut inband = HashMap::new();
        let mut outs: Vec<(Id, Arc<dyn MediaOutput>)> = Vec::new();
        let mut renders = HashMap::new();
        for m in &self.endpoints {
            let e = &m.endpoint;
            let Some(base) = published.output_arc_for(e) else {
                continue;
            };
            let mut manifests = HashMap::new();
            let mut low_latency = HashMap::new();
            let mut deltas = HashMap::new();
            let mut changed = false;
            // The MPD's clock is the clear output's (an encrypted one renders the same MPD).
            let clock: &dyn MediaOutput = published.output(e.kind).unwrap_or(&*base);
            let segments = if e.inband_markers {
                let previous = self.inband.remove(&e.id).unwrap_or_default();
                inband_segments(clock, &*base, &e.manifest_name, &markers, &previous)
            } else {
                HashMap::new()
            };
            let regular = base
                .manifests(&e.manifest_name)
                .into_iter()
                .map(|(path, r)| (path, None, r));
            let ll = base
                .low_latency_manifests(&e.manifest_name)
                .into_iter()
                .filter(|_| e.low_latency)
                .map(|(path, delta, r)| (path, Some(delta), r));
            for (path, form, r) in regular.chain(ll) {
                let text = std::str::from_utf8(&r.body).unwrap_or("");
                let mut marked =
                    mark_manifest(&path, text, &markers, m.style, &|t| clock.mpd_clock(t));
                if e.inband_markers && !segments.is_empty() && path.ends_with(".mpd") {
                    marked = Some(declare_inband(marked.as_deref().unwrap_or(text)));
                }
                let content_type = manifest_content_type(&path);
                let rendered = match marked {
                    Some(text) => {
                        changed = true;
                        let key = (e.id, path.clone(), form);
                        let r = self
                            .renders
                            .get(&key)
                            .filter(|prev| prev.body == text.as_bytes())
                            .cloned()
                            .unwrap_or_else(|| {
                                let etag = etag_of(&text);
                                Rendered::new(text.into(), etag, now_unix_ms)
                            });
                        renders.insert(key, r.clone());
                        r
                    }
                    None => r.clone(),
                };
                let forms = match form {
                    None => &mut manifests,
                    Some(false) => &mut low_latency,
                    Some(true) => &mut deltas,
                };
                forms.insert(path, (rendered, content_type));
            }
            if changed || !segments.is_empty() {
                inband.insert(e.id, segments.clone());
                let marked = MarkedOutput {
                    base,
                    manifests,
                    low_latency,
                    deltas,
                    segments,
                };
                outs.push((e.id, Arc::new(marked)));
            }
        }
        self.inband = inband;
        self.renders = renders;
        (!outs.is_empty()).then(|| published.with_endpoint_output_overrides(outs))
    }
}

/// The manifest at `path` (an MPD or an HLS playlist) marked for an endpoint in `style`
/// (`None`: unchanged). `mpd_clock` maps a wall-clock time onto the MPD's clock.
pub fn mark_manifest(
    path: &str,
    text: &str,
    markers: &[AdMarker],
    style: AdMarkerStyle,
    mpd_clock: &dyn Fn(u64) -> u64,
) -> Option<String> {
    if style == AdMarkerStyle::None {
        return None;
    }
    if path.ends_with(".mpd") {
        // On the MPD's own clock.
        let on_mpd: Vec<AdMarker> = markers
            .iter()
            .map(|m| AdMarker {
                start_unix_ms: mpd_clock(m.start_unix_ms),
                ..m.clone()
            })
            .collect();
        mpd_out::mark(text, &on_mpd)
    } else {
        hls_out::mark(text, markers, style)
    }
}

fn manifest_content_type(path: &str) -> &'static str {
    if path.ends_with(".mpd") {
        crate::dash::mpd::MPD_CONTENT_TYPE
    } else {
        crate::hls::PLAYLIST_CONTENT_TYPE
    }
}

/// A strong `ETag` of a marked manifest: changes whenever its text does.
fn etag_of(text: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    format!("\"m{:016x}{:x}\"", h.finish(), text.len())
}
