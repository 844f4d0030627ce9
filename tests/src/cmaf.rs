//! CMAF endpoints in tests: a channel with an `hls` and a `cmaf` endpoint, the URLs a DASH or
//! fMP4 HLS player would fetch from them, and a top-level MP4 box walk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::*;
use std::path::Path;
use std::process::Child;

/// A channel with an `hls` endpoint and a `cmaf` endpoint.
#[derive(Debug, Clone)]
pub struct CmafFixture {
    /// The channel and its `cmaf` endpoint (`endpoint_url` is the MPD).
    pub f: Fixture,
    /// `cmaf endpoint/main.mpd`, path part.
    pub mpd_path: String,
    /// `cmaf endpoint/main.m3u8`, path part.
    pub m3u8_path: String,
    /// `cmaf endpoint/main.mpd`, full URL.
    pub mpd_url: String,
    /// `cmaf endpoint/main.m3u8`, full URL.
    pub m3u8_url: String,
    /// The `hls` endpoint's manifest, path part.
    pub hls_path: String,
}

impl Daemon {
    /// Creates an HLS channel (`extra` goes to `channel create`) with an `hls` endpoint `hls1`
    /// and a `cmaf` endpoint `cmaf1`, through the CLI.
    pub fn cmaf_channel(&self, name: &str, extra: &[&str]) -> CmafFixture {
        let hls = self.hls_channel(name, extra);
        let ep = self.ctl_json(&[
            "endpoint", "create", &hls.id, "--name", "cmaf1", "--type", "cmaf",
        ]);
        let f = Fixture::new(hls.channel.clone(), ep);
        let mpd_url = f.endpoint_url.clone();
        assert!(
            mpd_url.ends_with("/main.mpd"),
            "cmaf endpoint url: {mpd_url}"
        );
        let m3u8_url = format!("{}.m3u8", mpd_url.trim_end_matches(".mpd"));
        CmafFixture {
            mpd_path: split_url(&mpd_url).1,
            m3u8_path: split_url(&m3u8_url).1,
            mpd_url,
            m3u8_url,
            hls_path: hls.endpoint_path,
            f,
        }
    }
}

/// [`ffmpeg_push_hls`] of [`HlsPush::Master`] with a real bit rate ladder: `lo` (320x180) at
/// 300 kbit/s instead of the same 800 kbit/s as `hi`, so that players' ABR has a clear choice.
pub fn ffmpeg_push_hls_ladder(input_url: &str, seconds: u32, log: &Path) -> Child {
    let mut args = ffmpeg_push_hls_args(HlsPush::Master, input_url, seconds);
    let at = args
        .iter()
        .position(|a| a == "-b:v")
        .expect("the recipe sets -b:v")
        + 2;
    args.splice(at..at, ["-b:v:1".to_string(), "300k".to_string()]);
    spawn_ffmpeg(args, log)
}

/// Every URI of a playlist: URI lines and `URI="…"` attributes (`EXT-X-MAP`, `EXT-X-MEDIA`).
pub fn playlist_all_uris(playlist: &str) -> Vec<String> {
    let mut out = Vec::new();
    for l in playlist.lines().map(str::trim) {
        if l.is_empty() {
            continue;
        }
        if !l.starts_with('#') {
            out.push(l.to_string());
        } else if let Some(i) = l.find("URI=\"") {
            let rest = &l[i + 5..];
            if let Some(end) = rest.find('"') {
                out.push(rest[..end].to_string());
            }
        }
    }
    out
}

/// The value of attribute `name` in an XML start tag's text.
pub fn tag_attr(tag: &str, name: &str) -> Option<String> {
    let pat = format!(" {name}=\"");
    let i = tag.find(&pat)? + pat.len();
    let end = tag[i..].find('"')?;
    Some(tag[i..i + end].to_string())
}

/// One `SegmentTemplate` of an MPD, expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct MpdTrack {
    /// `Representation@id`.
    pub id: String,
    /// `Period@id`.
    pub period: String,
    /// Initialization URL, resolved against the MPD's path.
    pub init: String,
    /// Media segment URLs (`$Number$` or `$Time$` expanded), resolved.
    pub segments: Vec<String>,
    /// `(t, d)` of every segment, in the track's timescale.
    pub times: Vec<(u64, u64)>,
    /// `SegmentTemplate@timescale`.
    pub timescale: u64,
}

/// Expands the `SegmentTemplate`/`SegmentTimeline` of every Representation of an MPD written
/// the way streampack writes them (one Representation element per template).
pub fn mpd_tracks(mpd: &str, mpd_path: &str) -> Vec<MpdTrack> {
    let mut out = Vec::new();
    let mut period = String::new();
    let mut rep: Option<MpdTrack> = None;
    let (mut number, mut t) = (0u64, 0u64);
    let mut media = String::new();
    for tag in mpd.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        let name = tag.split(' ').next().unwrap_or("").trim_end_matches('/');
        match name {
            "Period" => period = tag_attr(tag, "id").unwrap_or_default(),
            "Representation" => {
                rep = Some(MpdTrack {
                    id: tag_attr(tag, "id").expect("Representation@id"),
                    period: period.clone(),
                    init: String::new(),
                    segments: Vec::new(),
                    times: Vec::new(),
                    timescale: 1,
                })
            }
            "SegmentTemplate" => {
                let r = rep
                    .as_mut()
                    .expect("SegmentTemplate inside a Representation");
                let init = tag_attr(tag, "initialization").expect("initialization");
                r.init = resolve(mpd_path, &init);
                r.timescale = tag_attr(tag, "timescale").map_or(1, |v| v.parse().unwrap());
                media = tag_attr(tag, "media").expect("media");
                number = tag_attr(tag, "startNumber").map_or(1, |v| v.parse().unwrap());
            }
            "S" => {
                let r = rep.as_mut().expect("S inside a Representation");
                if let Some(v) = tag_attr(tag, "t") {
                    t = v.parse().unwrap();
                }
                let d: u64 = tag_attr(tag, "d").expect("S@d").parse().unwrap();
                let repeat: u64 = tag_attr(tag, "r").map_or(0, |v| v.parse().unwrap());
                for _ in 0..=repeat {
                    let uri = media
                        .replace("$Number$", &number.to_string())
                        .replace("$Time$", &t.to_string());
                    r.segments.push(resolve(mpd_path, &uri));
                    r.times.push((t, d));
                    number += 1;
                    t += d;
                }
            }
            "/Representation" => out.extend(rep.take()),
            _ => {}
        }
    }
    out
}

/// The top-level box types of an MP4 file; an error unless the box sizes tile it exactly.
pub fn mp4_top_boxes(b: &[u8]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < b.len() {
        if b.len() - at < 8 {
            return Err(format!("{} stray bytes at {at}", b.len() - at));
        }
        let mut size = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as u64;
        let kind = String::from_utf8_lossy(&b[at + 4..at + 8]).to_string();
        if size == 1 {
            if b.len() - at < 16 {
                return Err(format!("truncated largesize of {kind} at {at}"));
            }
            size = u64::from_be_bytes(b[at + 8..at + 16].try_into().unwrap());
        }
        if size < 8 || size > (b.len() - at) as u64 {
            return Err(format!(
                "box {kind:?} at {at} has size {size}, {} bytes left",
                b.len() - at
            ));
        }
        out.push(kind);
        at += size as usize;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpd_tracks_expand_number_templates() {
        let mpd = r#"<MPD><Period id="p0" start="PT0S"><AdaptationSet id="0">
<Representation id="hi-video" bandwidth="1"><SegmentTemplate timescale="90000" initialization="hi/video/init0.mp4" media="hi/video/$Number$.m4s" startNumber="7"><SegmentTimeline><S t="10" d="5" r="1"/><S d="4"/></SegmentTimeline></SegmentTemplate></Representation>
</AdaptationSet></Period></MPD>"#;
        let t = mpd_tracks(mpd, "/v1/c/e/main.mpd");
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].init, "/v1/c/e/hi/video/init0.mp4");
        assert_eq!(
            t[0].segments,
            ["7", "8", "9"].map(|n| format!("/v1/c/e/hi/video/{n}.m4s"))
        );
        assert_eq!(t[0].times, [(10, 5), (15, 5), (20, 4)]);
        assert_eq!(t[0].period, "p0");
    }

    #[test]
    fn box_walk_tiles_or_fails() {
        let mut b = vec![0, 0, 0, 8, b'f', b't', b'y', b'p'];
        b.extend([0, 0, 0, 9, b'm', b'd', b'a', b't', 1]);
        assert_eq!(mp4_top_boxes(&b).unwrap(), ["ftyp", "mdat"]);
        b.push(0);
        assert!(mp4_top_boxes(&b).is_err());
        assert!(mp4_top_boxes(&[0, 0, 0, 20, b'm', b'o', b'o', b'f']).is_err());
    }

    #[test]
    fn uris_of_tags_and_lines() {
        let pl = "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"hi/audio.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhi/video.m3u8\n#EXT-X-MAP:URI=\"video/init0.mp4\"\n";
        assert_eq!(
            playlist_all_uris(pl),
            ["hi/audio.m3u8", "hi/video.m3u8", "video/init0.mp4"]
        );
    }
}
