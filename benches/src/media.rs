//! Channel media fixtures for the criterion benches: an encoder's sliding playlist and a
//! [`HlsMedia`] fed like the daemon's owner shard feeds it.

use bytes::Bytes;
use streampack_core::channel::InputRole;
use streampack_core::hls::media::HlsMedia;
pub use streampack_core::media::Media;
use streampack_core::media::{IngestError, MediaParams};
use streampack_core::time::Now;

/// Segment duration of the fixtures, ms.
pub const SEGMENT_MS: u64 = 2_000;
/// Segments an encoder's playlist lists (ffmpeg `-hls_list_size 6`).
pub const LIST_SIZE: u64 = 6;

/// The default channel settings (15 s segments, 600 s window).
pub fn params() -> MediaParams {
    MediaParams::new(15_000, 600_000)
}

/// The clock `ms` after the fixture's start.
pub fn at(ms: u64) -> Now {
    Now {
        mono_ms: 1_000_000 + ms,
        unix_ms: 1_700_000_000_000 + ms,
    }
}

/// Segment file name of encoder segment `n` in rendition `r`.
pub fn segment_name(r: &str, n: u64) -> String {
    format!("{r}seg_{n:05}.ts")
}

/// The encoder's media playlist after segment `last` of rendition `r`: the newest
/// [`LIST_SIZE`] segments, as ffmpeg writes it.
pub fn encoder_playlist(r: &str, last: u64) -> Bytes {
    let first = last.saturating_sub(LIST_SIZE - 1);
    let mut s = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{first}\n"
    );
    for n in first..=last {
        s.push_str("#EXTINF:2.000000,\n");
        s.push_str(&segment_name(r, n));
        s.push('\n');
    }
    Bytes::from(s)
}

/// A master playlist naming renditions `renditions` (`hi_`, `lo_` …: playlist `<r>main.m3u8`).
pub fn master(renditions: &[&str]) -> Bytes {
    let mut s = String::from("#EXTM3U\n#EXT-X-VERSION:3\n");
    for (i, r) in renditions.iter().enumerate() {
        let bw = 800_000 / (i as u64 + 1);
        s.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={bw},RESOLUTION=640x360,CODECS=\"avc1.64001e,mp4a.40.2\"\n{r}main.m3u8\n"
        ));
    }
    Bytes::from(s)
}

/// A live channel fed by one encoder: segment then playlist, per rendition, one segment every
/// [`SEGMENT_MS`]. Every segment shares `body` (a `Bytes` clone, as ingest hands it over).
pub struct Feeder {
    /// The channel's media.
    pub media: HlsMedia,
    /// Rendition prefixes (`""` for a single rendition without master).
    pub renditions: Vec<String>,
    /// Next encoder segment number.
    pub next: u64,
    body: Bytes,
}

impl Feeder {
    /// A channel with `renditions` renditions (a master playlist when more than one).
    pub fn new(renditions: usize, body: Bytes) -> Result<Feeder, IngestError> {
        let mut media = HlsMedia::new(params(), at(0));
        let names: Vec<String> = if renditions <= 1 {
            vec![String::new()]
        } else {
            (0..renditions).map(|i| format!("r{i}_")).collect()
        };
        if renditions > 1 {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            media.put(InputRole::Primary, "main.m3u8", master(&refs), at(0))?;
        }
        Ok(Feeder {
            media,
            renditions: names,
            next: 0,
            body,
        })
    }

    /// Pushes the next segment and playlist of every rendition, as an encoder does.
    pub fn push_next(&mut self) -> Result<(), IngestError> {
        let n = self.next;
        let now = at(n * SEGMENT_MS);
        for r in &self.renditions {
            self.media.put(
                InputRole::Primary,
                &segment_name(r, n),
                self.body.clone(),
                now,
            )?;
            let pl = encoder_playlist(r, n);
            self.media
                .put(InputRole::Primary, &format!("{r}main.m3u8"), pl, now)?;
        }
        self.next += 1;
        Ok(())
    }

    /// Pushes `n` segments per rendition.
    pub fn fill(&mut self, n: u64) -> Result<(), IngestError> {
        for _ in 0..n {
            self.push_next()?;
        }
        Ok(())
    }
}
