//! Reading and writing playlist text in tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// `EXT-X-MEDIA-SEQUENCE` of a media playlist (0 when absent, per RFC 8216).
pub fn media_sequence(playlist: &str) -> u64 {
    playlist
        .lines()
        .find_map(|l| l.trim().strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .map(|v| v.trim().parse().expect("numeric media sequence"))
        .unwrap_or(0)
}

/// URI lines (non-empty, not tags/comments) in order.
pub fn playlist_uris(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Whether a playlist is a master playlist.
pub fn is_master(playlist: &str) -> bool {
    playlist.contains("#EXT-X-STREAM-INF")
}

/// Sum of `EXTINF` durations, seconds.
pub fn total_duration(playlist: &str) -> f64 {
    playlist
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#EXTINF:"))
        .map(|v| {
            v.split(',')
                .next()
                .unwrap_or("0")
                .trim()
                .parse::<f64>()
                .unwrap_or(0.0)
        })
        .sum()
}

/// A media playlist as an encoder writes it: `segments` are (uri, duration seconds).
pub fn encoder_playlist(media_sequence: u64, segments: &[(String, f64)], ended: bool) -> String {
    let target = segments
        .iter()
        .map(|(_, d)| d.ceil() as u64)
        .max()
        .unwrap_or(2);
    let mut s = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{media_sequence}\n"
    );
    for (uri, d) in segments {
        s.push_str(&format!("#EXTINF:{d:.6},\n{uri}\n"));
    }
    if ended {
        s.push_str("#EXT-X-ENDLIST\n");
    }
    s
}

/// Bytes shaped like an MPEG-TS segment (188-byte null packets with a marker in the payload),
/// distinct per `tag`. Good enough for ingest, not for playback.
pub fn fake_ts(tag: u32, packets: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(packets * 188);
    for i in 0..packets {
        let mut p = [0xffu8; 188];
        p[0] = 0x47;
        p[1] = 0x1f;
        p[2] = 0xff;
        p[3] = 0x10 | (i as u8 & 0x0f);
        p[4..8].copy_from_slice(&tag.to_be_bytes());
        p[8..12].copy_from_slice(&(i as u32).to_be_bytes());
        v.extend_from_slice(&p);
    }
    v
}

/// One segment of a media playlist with its `EXT-X-PROGRAM-DATE-TIME`.
#[derive(Debug, Clone, PartialEq)]
pub struct DatedSegment {
    /// Its URI line.
    pub uri: String,
    /// `EXT-X-PROGRAM-DATE-TIME`, Unix milliseconds (`None`: the segment has none).
    pub start_unix_ms: Option<i64>,
    /// `EXTINF` duration, milliseconds.
    pub duration_ms: i64,
    /// An `EXT-X-DISCONTINUITY` comes before it.
    pub discontinuity: bool,
}

/// The segments of a media playlist with their dates (`YYYY-MM-DDTHH:MM:SS.sssZ` or with a
/// `+00:00` offset).
pub fn dated_segments(playlist: &str) -> Vec<DatedSegment> {
    let mut out = Vec::new();
    let (mut pdt, mut dur, mut disc) = (None, 0i64, false);
    for line in playlist.lines() {
        if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdt = parse_utc_ms(v.trim());
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            let secs: f64 = v.split(',').next().unwrap_or("0").parse().unwrap_or(0.0);
            dur = (secs * 1000.0).round() as i64;
        } else if line == "#EXT-X-DISCONTINUITY" {
            disc = true;
        } else if !line.starts_with('#') && !line.is_empty() {
            out.push(DatedSegment {
                uri: line.to_string(),
                start_unix_ms: pdt.take(),
                duration_ms: dur,
                discontinuity: std::mem::take(&mut disc),
            });
        }
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SS[.sss](Z|+00:00)` → Unix milliseconds.
pub fn parse_utc_ms(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|x| x.parse::<i64>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next()??);
    let ms: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec) * 1000) + ms)
}

/// What is wrong with a live media playlist's dates: a segment without one, dates that do not
/// follow the durations between segments with no discontinuity, dates that go back, or a live
/// edge (the newest segment's end) further than `max_skew_ms` from `now_unix_ms`.
pub fn date_problems(playlist: &str, now_unix_ms: i64, max_skew_ms: i64) -> Vec<String> {
    let segs = dated_segments(playlist);
    let mut problems = Vec::new();
    let mut prev: Option<(i64, i64)> = None;
    for s in &segs {
        let Some(start) = s.start_unix_ms else {
            problems.push(format!("{} has no EXT-X-PROGRAM-DATE-TIME", s.uri));
            continue;
        };
        if let Some((p_start, p_dur)) = prev {
            if start < p_start + p_dur - 1 {
                problems.push(format!(
                    "{}: starts at {start}, before the segment before it ended ({})",
                    s.uri,
                    p_start + p_dur
                ));
            } else if !s.discontinuity && start - (p_start + p_dur) > 1 {
                problems.push(format!(
                    "{}: starts at {start}, the segment before ended at {}",
                    s.uri,
                    p_start + p_dur
                ));
            }
        }
        prev = Some((start, s.duration_ms));
    }
    if let Some((start, dur)) = prev {
        let skew = (start + dur - now_unix_ms).abs();
        if skew > max_skew_ms {
            problems.push(format!("live edge {skew} ms away from the wall clock"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_and_problems_are_found() {
        assert_eq!(parse_utc_ms("1970-01-01T00:00:01.500Z"), Some(1_500));
        assert_eq!(
            parse_utc_ms("2026-01-01T00:00:02.000+00:00"),
            Some(1_767_225_602_000)
        );
        assert_eq!(
            parse_utc_ms("2026-01-01T00:00:02Z"),
            Some(1_767_225_602_000)
        );
        let good =
            "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n#EXTINF:2.000,\na.ts\n\
                    #EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.000Z\n#EXTINF:2.000,\nb.ts\n";
        assert!(date_problems(good, 1_767_225_604_000, 1_000).is_empty());
        assert_eq!(
            date_problems(good, 1_767_225_700_000, 1_000).len(),
            1,
            "live edge"
        );
        let gap = good.replace("00:00:02.000Z", "00:00:03.000Z");
        assert_eq!(
            date_problems(&gap, 1_767_225_605_000, 1_000).len(),
            1,
            "gap"
        );
        let missing = good.replace("#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.000Z\n", "");
        assert_eq!(date_problems(&missing, 1_767_225_604_000, 5_000).len(), 1);
    }
}
