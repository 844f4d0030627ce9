//! What pulls of a `cmaf` endpoint read: an immutable [`CmafSnapshot`], built by the
//! [`super::packager::CmafPackager`] once per change of the channel's HLS output and shared by
//! `Arc`, like [`crate::hls::media::HlsSnapshot`]. Lookups are allocation-free.
//!
//! # URLs (relative to the endpoint)
//! - `<manifest>.mpd`: the DASH MPD; `<manifest>.m3u8`: the fMP4 HLS master playlist.
//! - `<rendition>/video.m3u8`, `<rendition>/audio.m3u8`: one media playlist per track.
//! - `<rendition>/<track>/init<k>.mp4`, `<rendition>/<track>/<n>.m4s`: CMAF init and media
//!   segments, `<n>` being the low 31 bits of the HLS endpoint's sequence number of the source
//!   segment ([`url_number`]): DASH `$Number$` is a 32-bit `xs:unsignedInt`, and ffmpeg's DASH
//!   reader formats it as a signed 32-bit `int`; one URL per fragment serves DASH and HLS
//!   players alike (one CDN cache entry). Playlists still carry the full number in `EXT-X-MEDIA-SEQUENCE`.

use crate::dash::mpd::MPD_CONTENT_TYPE;
use crate::hls::PLAYLIST_CONTENT_TYPE;
use crate::media::object::parse_number;
use crate::media::{
    InitEntry, Lookup, MediaObject, MediaOutput, Outline, PeriodView, Rendered, SegmentEntry,
    SegmentTiming, TrackView, Unavailable,
};

/// Folder and playlist stem of a rendition's video track.
pub const VIDEO_DIR: &str = "video";
/// Folder and playlist stem of a rendition's audio track.
pub const AUDIO_DIR: &str = "audio";
/// Folder and playlist stem of a subtitles rendition's text track (`wvtt` fragments, the
/// MPD's).
pub const TEXT_DIR: &str = "text";
/// Folder and playlist stem of a subtitles rendition's WebVTT files (the fMP4 HLS master's:
/// RFC 8216bis carries WebVTT in HLS as text, and HLS players read no `wvtt`).
pub const WEBVTT_DIR: &str = "webvtt";

/// Sequence numbers in URLs are taken modulo this.
const URL_NUMBER_MODULUS: u64 = 1 << 31;

/// The number in a media segment's URL (and DASH `$Number$`, and `mfhd`): the low 31 bits of
/// its sequence number.
pub fn url_number(seq: u64) -> u64 {
    seq % URL_NUMBER_MODULUS
}

/// Counters of the packager (cumulative since it was created).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackagerStats {
    /// Source segments repackaged (each exactly once).
    pub repackaged: u64,
    /// Source segments that failed to repackage (skipped, with a warning).
    pub failed: u64,
    /// Source segments found already repackaged when a new snapshot was built.
    pub cache_hits: u64,
    /// Cached segments dropped because their source left the window.
    pub evicted: u64,
}

/// A channel's CMAF output at one version of its HLS output.
#[derive(Debug)]
pub struct CmafSnapshot {
    /// [`crate::hls::media::HlsSnapshot::output_version`] it was built from.
    pub version: u64,
    /// The DASH MPD; `None` until some segment was repackaged (the daemon answers 503).
    pub mpd: Option<Rendered>,
    /// The fMP4 HLS master playlist; `None` like [`CmafSnapshot::mpd`].
    pub master: Option<Rendered>,
    /// Renditions with repackaged segments, in the HLS output's order.
    pub renditions: Vec<CmafRendition>,
    /// Why nothing can be served although the input delivered (e.g. fMP4 input), for the
    /// daemon's error answer.
    pub refused: Option<String>,
    /// Counters at the time of the build.
    pub stats: PackagerStats,
    /// Bytes of the init and media segments it serves (held in memory beside the TS).
    pub held_bytes: u64,
    /// The MPD's Periods as the time-shift archive keeps them.
    pub periods: Vec<PeriodView>,
    /// The MPD before rendering, for outputs derived from this one (an encrypted endpoint
    /// with key rotation splits its Periods at key changes).
    pub mpd_model: Option<crate::dash::mpd::Mpd>,
    /// [`super::manifests::mpd_clock`]: (program date from, ms to add), by program date.
    pub mpd_clock: Vec<(u64, i64)>,
}

/// One rendition's CMAF tracks.
#[derive(Debug)]
pub struct CmafRendition {
    /// The HLS output's rendition name (URI folder).
    pub name: String,
    /// Its tracks (video first, then audio).
    pub tracks: Vec<CmafTrack>,
    /// Sequence numbers its HLS source puts a discontinuity before.
    pub discontinuities: Vec<u64>,
}

/// One CMAF track of a rendition.
#[derive(Debug)]
pub struct CmafTrack {
    /// [`VIDEO_DIR`], [`AUDIO_DIR`], [`TEXT_DIR`] or [`WEBVTT_DIR`].
    pub dir: &'static str,
    /// Its media playlist (`<dir>.m3u8`).
    pub playlist: Rendered,
    /// Init segments referenced by the window, by increasing `k`.
    pub inits: Vec<InitEntry>,
    /// Media segments in the window, by increasing `seq`.
    pub segments: Vec<SegmentEntry>,
    /// Each segment's Period and timeline entry in the MPD, parallel to `segments`.
    pub timing: Vec<SegmentTiming>,
}

impl MediaOutput for CmafSnapshot {
    fn mpd_clock(&self, unix_ms: u64) -> u64 {
        let i = self.mpd_clock.partition_point(|(from, _)| *from <= unix_ms);
        let offset = self
            .mpd_clock
            .get(i.saturating_sub(1))
            .map_or(0, |(_, o)| *o);
        (unix_ms as i64).saturating_add(offset).max(0) as u64
    }

    /// 503 before media, 501 when the input cannot be repackaged (fMP4 HLS).
    fn lookup<'a>(&'a self, manifest: &str, rest: &str) -> Result<Lookup<'a>, Unavailable<'a>> {
        if self.mpd.is_none() {
            return Err(self
                .refused
                .as_deref()
                .map_or(Unavailable::NoMediaYet, Unavailable::Refused));
        }
        Ok(self.find(manifest, rest))
    }

    fn tracks(&self) -> Vec<TrackView<'_>> {
        self.renditions
            .iter()
            .flat_map(|r| {
                r.tracks.iter().map(|t| TrackView {
                    dir: format!("{}/{}", r.name, t.dir),
                    segments: &t.segments,
                    discontinuities: &r.discontinuities,
                    inits: &t.inits,
                    segment_file: |s| format!("{}.{}", url_number(s.seq), s.ext),
                    init_file: |i| format!("init{}.mp4", i.k),
                    timing: t.timing.clone(),
                    text: t.dir == TEXT_DIR || t.dir == WEBVTT_DIR,
                })
            })
            .collect()
    }

    fn periods(&self) -> Vec<PeriodView> {
        self.periods.clone()
    }

    fn mpd_model(&self) -> Option<&crate::dash::mpd::Mpd> {
        self.mpd_model.as_ref()
    }

    fn manifests(&self, manifest: &str) -> Vec<(String, &Rendered)> {
        let mut out = Vec::new();
        if let Some(m) = &self.mpd {
            out.push((format!("{manifest}.mpd"), m));
        }
        if let Some(m) = &self.master {
            out.push((format!("{manifest}.m3u8"), m));
        }
        for r in &self.renditions {
            for t in &r.tracks {
                out.push((format!("{}/{}.m3u8", r.name, t.dir), &t.playlist));
            }
        }
        out
    }

    fn outline(&self) -> Outline {
        Outline {
            master: self
                .master
                .as_ref()
                .and_then(|m| std::str::from_utf8(&m.body).ok())
                .map(str::to_string),
            independent: Vec::new(),
        }
    }
}

impl CmafSnapshot {
    /// Resolves a pull path. `manifest_stem` is the endpoint's manifest name (`main`), `rest`
    /// the path after `/v1/<channel>/<endpoint>/`.
    pub fn find(&self, manifest_stem: &str, rest: &str) -> Lookup<'_> {
        if let Some(ext) = rest
            .strip_prefix(manifest_stem)
            .and_then(|r| r.strip_prefix('.'))
        {
            let r = match ext {
                "mpd" => self.mpd.as_ref().map(|r| (r, MPD_CONTENT_TYPE)),
                "m3u8" => self.master.as_ref().map(|r| (r, PLAYLIST_CONTENT_TYPE)),
                _ => None,
            };
            return r.map_or(Lookup::NotFound, |(r, t)| Lookup::Manifest(r, t));
        }
        let Some((name, file)) = rest.split_once('/') else {
            return Lookup::NotFound;
        };
        let Some(r) = self.renditions.iter().find(|r| r.name == name) else {
            return Lookup::NotFound;
        };
        if let Some(dir) = file.strip_suffix(".m3u8") {
            return r
                .tracks
                .iter()
                .find(|t| t.dir == dir)
                .map_or(Lookup::NotFound, |t| {
                    Lookup::Manifest(&t.playlist, PLAYLIST_CONTENT_TYPE)
                });
        }
        let Some((dir, file)) = file.split_once('/') else {
            return Lookup::NotFound;
        };
        let Some(t) = r.tracks.iter().find(|t| t.dir == dir) else {
            return Lookup::NotFound;
        };
        if let Some(k) = file
            .strip_prefix("init")
            .and_then(|f| f.strip_suffix(".mp4"))
        {
            let Some(k) = parse_number(k) else {
                return Lookup::NotFound;
            };
            return match t.inits.binary_search_by_key(&k, |i| i.k) {
                Ok(i) => Lookup::Object(&t.inits[i].object),
                Err(_) => Lookup::NotFound,
            };
        }
        let Some((n, ext)) = file.rsplit_once('.') else {
            return Lookup::NotFound;
        };
        let Some(n) = parse_number(n).filter(|n| *n < URL_NUMBER_MODULUS) else {
            return Lookup::NotFound;
        };
        if t.segments.first().is_none_or(|s| s.ext != ext) {
            return Lookup::NotFound;
        }
        // The window spans far less than 2^31 segments: one sequence number fits.
        let Some(first) = t.segments.first().map(|s| s.seq) else {
            return Lookup::NotFound;
        };
        let mut seq = first - url_number(first) + n;
        if seq < first {
            seq = seq.saturating_add(URL_NUMBER_MODULUS);
        }
        match t.segments.binary_search_by_key(&seq, |s| s.seq) {
            Ok(i) => Lookup::Object(&t.segments[i].object),
            Err(_) => Lookup::NotFound,
        }
    }

    /// Every object of the snapshot (for tests and metrics).
    pub fn objects(&self) -> impl Iterator<Item = &MediaObject> {
        self.renditions.iter().flat_map(|r| {
            r.tracks.iter().flat_map(|t| {
                t.inits
                    .iter()
                    .map(|i| &*i.object)
                    .chain(t.segments.iter().map(|s| &*s.object))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::sync::Arc;

    fn object(tag: &'static str) -> Arc<MediaObject> {
        Arc::new(MediaObject::new(
            Bytes::from_static(tag.as_bytes()).into(),
            "video/mp4",
            "\"x\"".into(),
            0,
        ))
    }

    #[test]
    fn url_numbers_wrap_with_the_window() {
        let base = 7 * URL_NUMBER_MODULUS;
        let seqs = [base - 2, base - 1, base, base + 1];
        let snap = CmafSnapshot {
            version: 1,
            mpd: None,
            master: None,
            renditions: vec![CmafRendition {
                name: "hi".into(),
                tracks: vec![CmafTrack {
                    dir: VIDEO_DIR,
                    playlist: Rendered::new(Bytes::new(), String::new(), 0),
                    inits: vec![],
                    timing: vec![],
                    segments: seqs
                        .iter()
                        .zip(["a", "b", "c", "d"])
                        .map(|(&seq, tag)| SegmentEntry {
                            seq,
                            ext: "m4s",
                            duration_ms: 2000,
                            start_unix_ms: 0,
                            init: None,
                            object: object(tag),
                        })
                        .collect(),
                }],
                discontinuities: vec![],
            }],
            refused: None,
            stats: PackagerStats::default(),
            held_bytes: 0,
            periods: vec![],
            mpd_model: None,
            mpd_clock: Vec::new(),
        };
        let table = [
            ("2147483646", Some("a")),
            ("2147483647", Some("b")),
            ("0", Some("c")),
            ("1", Some("d")),
            ("2", None),
            ("2147483645", None),
            ("2147483648", None),
        ];
        for (n, want) in table {
            let got = match snap.find("main", &format!("hi/video/{n}.m4s")) {
                Lookup::Object(o) => Some(std::str::from_utf8(&o.body).unwrap().to_string()),
                _ => None,
            };
            assert_eq!(got.as_deref(), want, "{n}");
        }
        assert_eq!(url_number(base + 5), 5);
    }
}
