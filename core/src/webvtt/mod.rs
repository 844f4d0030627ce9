//! WebVTT (W3C WebVTT, as HLS carries it in RFC 8216 §3.5) read into cues, and those cues
//! written as ISO/IEC 14496-30 `wvtt` samples for CMAF text tracks ([`wvtt`]).
//!
//! Reading is lenient where encoders differ (hours optional, a `\r\n` or a BOM, fewer than three
//! fraction digits, a byte that is not UTF-8) and bounded: at most [`MAX_CUES`] cues per file, blocks that are not cues
//! (`NOTE`, `STYLE`, `REGION`, garbage) skipped.

pub mod wvtt;

/// Cues kept from one file; more are dropped (a segment holds a few seconds of text).
pub const MAX_CUES: usize = 1000;

/// `X-TIMESTAMP-MAP=MPEGTS:<ticks>,LOCAL:<time>`: cue time `local_ms` is MPEG-TS time `mpegts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampMap {
    /// 90 kHz ticks (33-bit).
    pub mpegts: u64,
    pub local_ms: u64,
}

/// One cue: its times in the file's own (local) time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// The cue identifier line, if any.
    pub id: String,
    pub start_ms: u64,
    pub end_ms: u64,
    /// Cue settings after the timing (`line:0 align:start`), as written.
    pub settings: String,
    /// The cue text, lines joined with `\n`.
    pub payload: String,
}

/// A WebVTT file read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebVtt {
    pub map: Option<TimestampMap>,
    pub cues: Vec<Cue>,
    /// Cues dropped: beyond [`MAX_CUES`], or ending before they start.
    pub dropped: usize,
}

/// Why a file is not WebVTT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebVttError {
    #[error("not WebVTT: the file does not start with \"WEBVTT\"")]
    NoSignature,
}

/// Reads a WebVTT file.
pub fn parse(bytes: &[u8]) -> Result<WebVtt, WebVttError> {
    // Bytes that are not UTF-8 become U+FFFD: a cue with one bad byte still shows.
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if !text.starts_with("WEBVTT") {
        return Err(WebVttError::NoSignature);
    }
    let mut out = WebVtt::default();
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r')).peekable();
    // The header block: the signature line and header lines up to the first blank line.
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
        if let Some(map) = line.strip_prefix("X-TIMESTAMP-MAP=") {
            out.map = timestamp_map(map);
        }
    }
    loop {
        while lines.peek().is_some_and(|l| l.trim().is_empty()) {
            lines.next();
        }
        let block: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.trim().is_empty())
            .collect();
        if block.is_empty() {
            break;
        }
        let (id, timing, payload) = match block.iter().position(|l| l.contains("-->")) {
            Some(0) => ("", block[0], &block[1..]),
            Some(1) => (block[0], block[1], &block[2..]),
            _ => continue, // NOTE, STYLE, REGION or not a cue
        };
        let Some((start_ms, end_ms, settings)) = cue_timing(timing) else {
            out.dropped += 1;
            continue;
        };
        if end_ms <= start_ms || out.cues.len() >= MAX_CUES {
            out.dropped += 1;
            continue;
        }
        out.cues.push(Cue {
            id: id.to_string(),
            start_ms,
            end_ms,
            settings: settings.to_string(),
            payload: payload.join("\n"),
        });
    }
    Ok(out)
}

/// `MPEGTS:900000,LOCAL:00:00:00.000` (either order).
fn timestamp_map(v: &str) -> Option<TimestampMap> {
    let mut mpegts = None;
    let mut local_ms = None;
    for part in v.split(',') {
        let (k, val) = part.trim().split_once(':')?;
        match k {
            "MPEGTS" => mpegts = val.trim().parse().ok(),
            "LOCAL" => local_ms = timestamp(val.trim()),
            _ => {}
        }
    }
    Some(TimestampMap {
        mpegts: mpegts?,
        local_ms: local_ms?,
    })
}

/// `00:01.000 --> 00:02.500 align:start` → (1000, 2500, "align:start").
fn cue_timing(line: &str) -> Option<(u64, u64, &str)> {
    let (start, rest) = line.split_once("-->")?;
    let rest = rest.trim_start();
    let (end, settings) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
    Some((timestamp(start.trim())?, timestamp(end)?, settings.trim()))
}

/// `hh:mm:ss.ttt` or `mm:ss.ttt` in milliseconds.
pub fn timestamp(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.')?;
    if frac.is_empty() || frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms: u64 = format!("{frac:0<3}").parse().ok()?;
    let parts: Vec<&str> = whole.split(':').collect();
    let num = |p: &str| -> Option<u64> {
        (!p.is_empty() && p.len() <= 10 && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse().ok())
            .flatten()
    };
    let (h, m, sec) = match parts.as_slice() {
        [m, s] => (0, num(m)?, num(s)?),
        [h, m, s] => (num(h)?, num(m)?, num(s)?),
        _ => return None,
    };
    if m > 59 || sec > 59 {
        return None;
    }
    h.checked_mul(3_600_000)?
        .checked_add(m * 60_000 + sec * 1000 + ms)
}

/// Where a cue time of a file with `map` lands on a 90 kHz MPEG-TS timeline, unwrapped near
/// `reference` (the 33-bit PTS wraps every 26.5 hours). Without a map, cue time 0 is PTS 0.
pub fn to_pts(local_ms: u64, map: Option<TimestampMap>, reference: u64) -> u64 {
    const WRAP: i128 = 1 << 33;
    let (mpegts, local) = map.map_or((0, 0), |m| (m.mpegts, m.local_ms));
    let pts = i128::from(mpegts) + (i128::from(local_ms) - i128::from(local)) * 90;
    let pts = pts.rem_euclid(WRAP);
    let reference = i128::from(reference);
    // The candidate pts + k·2^33 nearest the reference.
    let k = (reference - pts + WRAP / 2).div_euclid(WRAP);
    u64::try_from((pts + k * WRAP).max(0)).unwrap_or(0)
}

#[cfg(test)]
mod tests;
