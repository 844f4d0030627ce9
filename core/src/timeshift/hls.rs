//! HLS playlists over archived media: a rendition's media playlist for a window, and the
//! master playlist whose URIs carry the window on to the renditions.

use super::archive::Track;
use super::ShiftRequest;

/// The media playlist of `track` for `request`, its URIs prefixed with `uri_prefix` (`""`
/// for a rendition's own playlist, `"hi/"` for a main playlist that is a media playlist).
/// `None` when the window holds no segment of the track.
///
/// The same text [`crate::hls::render_media`] writes for these segments, written straight
/// into bytes: a startover playlist of hours lists thousands of segments and is rendered per
/// request, so each costs a few dozen nanoseconds (dates from a per-day cache, numbers by
/// hand), not a `format!`.
pub fn media_playlist(
    track: &Track,
    request: &ShiftRequest,
    uri_prefix: &str,
    independent_segments: bool,
) -> Option<String> {
    let range = track.select(&request.window, request.live_ms, request.now_ms);
    let entries = track.entries.range(range);
    let first = entries.clone().next()?;
    let target_s = entries
        .clone()
        .map(|e| e.rec.duration_ms.div_ceil(1000))
        .max()
        .unwrap_or(1)
        .max(1);
    let has_init = entries.clone().any(|e| e.rec.init.is_some());
    let mut out = Vec::with_capacity(256 + entries.len() * (100 + uri_prefix.len()));
    out.extend_from_slice(b"#EXTM3U\n#EXT-X-VERSION:");
    out.extend_from_slice(if has_init { b"6" } else { b"3" });
    out.extend_from_slice(b"\n#EXT-X-TARGETDURATION:");
    push_u64(&mut out, target_s);
    out.extend_from_slice(b"\n#EXT-X-MEDIA-SEQUENCE:");
    push_u64(&mut out, first.rec.seq);
    out.extend_from_slice(b"\n#EXT-X-DISCONTINUITY-SEQUENCE:");
    push_u64(&mut out, first.dsn);
    out.push(b'\n');
    if independent_segments {
        out.extend_from_slice(b"#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    let mut dates = DateCache::default();
    let mut current_init = None;
    for (i, e) in entries.enumerate() {
        // The first segment's break is counted by the discontinuity sequence.
        if i > 0 && e.discontinuity {
            out.extend_from_slice(b"#EXT-X-DISCONTINUITY\n");
        }
        if let Some(k) = e.rec.init {
            if current_init != Some(k) {
                let ext = track
                    .init(k)
                    .and_then(|i| i.file.rsplit_once('.'))
                    .map_or("mp4", |(_, ext)| ext);
                out.extend_from_slice(b"#EXT-X-MAP:URI=\"");
                out.extend_from_slice(uri_prefix.as_bytes());
                out.extend_from_slice(b"init");
                push_u64(&mut out, k);
                out.push(b'.');
                out.extend_from_slice(ext.as_bytes());
                out.extend_from_slice(b"\"\n");
            }
        }
        current_init = e.rec.init;
        out.extend_from_slice(b"#EXT-X-PROGRAM-DATE-TIME:");
        dates.push(&mut out, e.rec.start_unix_ms);
        out.extend_from_slice(b"\n#EXTINF:");
        push_u64(&mut out, e.rec.duration_ms / 1000);
        out.push(b'.');
        push_padded(&mut out, e.rec.duration_ms % 1000, 3);
        out.extend_from_slice(b",\n");
        out.extend_from_slice(uri_prefix.as_bytes());
        out.extend_from_slice(e.rec.file.as_bytes());
        out.push(b'\n');
    }
    if request.ended() {
        out.extend_from_slice(b"#EXT-X-ENDLIST\n");
    }
    String::from_utf8(out).ok()
}

/// `YYYY-MM-DDT` of the last day seen, so that consecutive segments of one day compute the
/// calendar once.
#[derive(Default)]
struct DateCache {
    day: Option<u64>,
    text: [u8; 11],
}

impl DateCache {
    /// Writes `unix_ms` as [`crate::time::format_datetime`] does.
    fn push(&mut self, out: &mut Vec<u8>, unix_ms: u64) {
        let secs = unix_ms / 1000;
        let (day, rem) = (secs / 86_400, secs % 86_400);
        if self.day != Some(day) {
            let (y, m, d) = crate::time::civil_from_days(day);
            let mut t = Vec::with_capacity(11);
            push_padded(&mut t, y, 4);
            t.push(b'-');
            push_padded(&mut t, m, 2);
            t.push(b'-');
            push_padded(&mut t, d, 2);
            t.push(b'T');
            if t.len() != 11 {
                // A year past 9999: not worth a cache.
                out.extend_from_slice(crate::time::format_datetime(unix_ms).as_bytes());
                return;
            }
            self.text.copy_from_slice(&t);
            self.day = Some(day);
        }
        out.extend_from_slice(&self.text);
        push_padded(out, rem / 3600, 2);
        out.push(b':');
        push_padded(out, rem % 3600 / 60, 2);
        out.push(b':');
        push_padded(out, rem % 60, 2);
        out.push(b'.');
        push_padded(out, unix_ms % 1000, 3);
        out.push(b'Z');
    }
}

/// `n` in decimal.
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// `n` in decimal, zero-padded to at least `width` digits.
fn push_padded(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    while n > 0 || buf.len() - i < width {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&buf[i..]);
}

/// `master` (a master playlist) with `?query` added to every URI: variant streams' and
/// renditions' `URI="…"`.
pub fn master_with_query(master: &str, query: &str) -> String {
    let mut out = String::with_capacity(master.len() + 64);
    for line in master.lines().filter(|l| !l.is_empty()) {
        if !line.starts_with('#') {
            out.push_str(line);
            out.push(if line.contains('?') { '&' } else { '?' });
            out.push_str(query);
        } else if let Some(at) = line.find("URI=\"") {
            let value = at + 5;
            let end = line[value..].find('"').map_or(line.len(), |e| value + e);
            out.push_str(&line[..end]);
            out.push(if line[value..end].contains('?') {
                '&'
            } else {
                '?'
            });
            out.push_str(query);
            out.push_str(&line[end..]);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}
