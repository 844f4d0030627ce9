//! What pull requests read: an immutable [`HlsSnapshot`] of a channel's output, rebuilt once per
//! change and shared by `Arc`. Lookups are allocation-free.

use crate::hls::PLAYLIST_CONTENT_TYPE;
use crate::media::object::parse_number;
use crate::media::{
    InitEntry, Lookup, MediaOutput, MediaStatus, Rendered, SegmentEntry, Unavailable,
};
use crate::media::{Outline, TrackView};

/// A channel's published output at one version.
#[derive(Debug)]
pub struct HlsSnapshot {
    /// [`crate::media::Media::version`] of its [`super::HlsMedia`] it was built at.
    pub version: u64,
    /// The version at which its playlists and objects were last rendered: snapshots that
    /// differ only in `status` share it (what follows the output, like the CMAF packager,
    /// has nothing to redo for them).
    pub output_version: u64,
    /// The endpoint's manifest: `None` until some segment is playable (the daemon answers 503).
    pub main: Option<Rendered>,
    /// Renditions that have segments, in master order.
    pub renditions: Vec<RenditionSnapshot>,
    /// Live state for the admin `LiveView`.
    pub status: MediaStatus,
}

/// One rendition's output.
#[derive(Debug, Clone)]
pub struct RenditionSnapshot {
    /// URI folder of the rendition (`hi` → `hi/index.m3u8`).
    pub name: String,
    /// `index.m3u8`.
    pub playlist: Rendered,
    /// Sequence number of the first segment.
    pub first_seq: u64,
    /// Segments in the window, by increasing `seq`.
    pub segments: Vec<SegmentEntry>,
    /// Init segments still referenced, by increasing `k`.
    pub inits: Vec<InitEntry>,
    /// `EXT-X-DISCONTINUITY-SEQUENCE` of its playlist.
    pub discontinuity_sequence: u64,
    /// Sequence numbers of the segments its playlist puts an `EXT-X-DISCONTINUITY` before,
    /// increasing (derived outputs such as CMAF break their timelines at the same places).
    pub discontinuities: Vec<u64>,
    /// Its playlist ends with `EXT-X-ENDLIST`.
    pub ended: bool,
    /// WebVTT subtitles: how the input's multivariant playlist presents them.
    pub subtitles: Option<SubtitlesInfo>,
}

/// A WebVTT subtitles rendition's `EXT-X-MEDIA` attributes (what derived outputs announce).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubtitlesInfo {
    /// `NAME` (the rendition's folder when no master names it).
    pub name: String,
    /// `LANGUAGE` (RFC 5646).
    pub language: Option<String>,
    pub default: bool,
    pub autoselect: bool,
    pub forced: bool,
}

impl MediaOutput for HlsSnapshot {
    fn lookup<'a>(&'a self, manifest: &str, rest: &str) -> Result<Lookup<'a>, Unavailable<'a>> {
        let Some(main) = &self.main else {
            return Err(Unavailable::NoMediaYet);
        };
        if rest.strip_prefix(manifest) == Some(".m3u8") {
            return Ok(Lookup::Manifest(main, PLAYLIST_CONTENT_TYPE));
        }
        Ok(self.find(rest))
    }

    fn tracks(&self) -> Vec<TrackView<'_>> {
        self.renditions
            .iter()
            .map(|r| TrackView {
                dir: r.name.clone(),
                segments: &r.segments,
                discontinuities: &r.discontinuities,
                inits: &r.inits,
                segment_file: |s| format!("{}.{}", s.seq, s.ext),
                init_file: |i| format!("init{}.{}", i.k, i.ext),
                timing: Vec::new(),
                text: r.subtitles.is_some(),
            })
            .collect()
    }

    fn manifests(&self, manifest: &str) -> Vec<(String, &Rendered)> {
        let main = self.main.iter().map(|m| (format!("{manifest}.m3u8"), m));
        let media = self
            .renditions
            .iter()
            .map(|r| (format!("{}/index.m3u8", r.name), &r.playlist));
        main.chain(media).collect()
    }

    fn outline(&self) -> Outline {
        let master = self
            .main
            .as_ref()
            .and_then(|m| std::str::from_utf8(&m.body).ok())
            .filter(|t| t.contains("#EXT-X-STREAM-INF"))
            .map(str::to_string);
        let independent = self
            .renditions
            .iter()
            .filter(|r| memchr_str(&r.playlist.body, "#EXT-X-INDEPENDENT-SEGMENTS"))
            .map(|r| r.name.clone())
            .collect();
        Outline {
            master,
            independent,
        }
    }
}

fn memchr_str(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

impl HlsSnapshot {
    /// A rendition's playlist or object (`R/index.m3u8`, `R/<seq>.<ext>`, `R/init<k>.<ext>`).
    fn find(&self, rest: &str) -> Lookup<'_> {
        let Some((name, file)) = rest.split_once('/') else {
            return Lookup::NotFound;
        };
        let Some(r) = self.renditions.iter().find(|r| r.name == name) else {
            return Lookup::NotFound;
        };
        if file == "index.m3u8" {
            return Lookup::Manifest(&r.playlist, PLAYLIST_CONTENT_TYPE);
        }
        let Some((stem, ext)) = file.split_once('.') else {
            return Lookup::NotFound;
        };
        if let Some(k) = stem.strip_prefix("init") {
            let Some(k) = parse_number(k) else {
                return Lookup::NotFound;
            };
            return match r.inits.binary_search_by_key(&k, |i| i.k) {
                Ok(i) if r.inits[i].ext == ext => Lookup::Object(&r.inits[i].object),
                _ => Lookup::NotFound,
            };
        }
        let Some(seq) = parse_number(stem) else {
            return Lookup::NotFound;
        };
        match r.segments.binary_search_by_key(&seq, |s| s.seq) {
            Ok(i) if r.segments[i].ext == ext => Lookup::Object(&r.segments[i].object),
            _ => Lookup::NotFound,
        }
    }
}
