//! Ad-marker tags in the HLS playlists encoders push: `EXT-X-DATERANGE` with `SCTE35-OUT`,
//! `-IN` or `-CMD` (RFC 8216bis §4.4.5.1), and the de-facto `EXT-X-CUE-OUT:DURATION=…`,
//! `EXT-X-CUE-OUT-CONT`, `EXT-X-CUE-IN`, `EXT-X-OATCLS-SCTE35` / `EXT-OATCLS-SCTE35`.
//!
//! Each segment gets the tags written before it. A tag that cannot be used (bad hex or base64,
//! a section that fails its checks) is dropped with a warning; the playlist itself is never
//! refused for its markers, so a bad cue cannot stall a channel.

use base64::Engine;

/// Ad-marker tags read from one playlist at most (the newest: those of the segments still to
/// come); older ones are dropped with a warning.
pub const MAX_TAGS_PER_PLAYLIST: usize = 32;

/// What a tag says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CueKind {
    /// `EXT-X-DATERANGE` with a SCTE-35 attribute.
    DateRange {
        /// `ID`.
        id: String,
        /// `START-DATE`, Unix ms.
        start_unix_ms: i64,
        /// `DURATION`, ms: on a `SCTE35-IN`, the return is this long after `START-DATE`
        /// (the break's, as RFC 8216bis writes a return: same `ID` and `START-DATE`).
        duration_ms: Option<u64>,
    },
    /// `EXT-X-CUE-OUT`: a break starts at this segment.
    Out {
        /// Its `DURATION`, ms.
        duration_ms: Option<u64>,
    },
    /// `EXT-X-CUE-OUT-CONT`: this segment is inside a break.
    OutCont {
        /// `ElapsedTime`, ms.
        elapsed_ms: u64,
        /// `Duration`, ms.
        duration_ms: Option<u64>,
    },
    /// `EXT-X-CUE-IN`: the break ends at this segment.
    In,
}

/// One ad-marker tag (with the OATCLS line that went with a `CUE-OUT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CueTag {
    /// What it says.
    pub kind: CueKind,
    /// The binary `splice_info_section` it carries, if any.
    pub section: Option<Vec<u8>>,
    /// Its lines as written (for `passthrough` endpoints).
    pub lines: String,
}

/// Whether a line is an ad-marker tag this module reads (the playlist parser skips them).
pub fn is_cue_line(line: &str) -> bool {
    let l = line.trim_start();
    l.starts_with("#EXT-X-DATERANGE")
        || l.starts_with("#EXT-X-CUE-")
        || l.starts_with("#EXT-X-OATCLS-SCTE35")
        || l.starts_with("#EXT-OATCLS-SCTE35")
}

/// The cue tags before each segment of a media playlist (one list per segment URI line, in
/// order), and warnings for those dropped.
pub fn scan(text: &str) -> (Vec<Vec<CueTag>>, Vec<String>) {
    let mut per_segment = Vec::new();
    let mut current: Vec<CueTag> = Vec::new();
    let mut warnings = Vec::new();
    let mut oatcls: Option<(Vec<u8>, String)> = None;
    // The newest tags count: an encoder's long window must not hide its new breaks.
    let total = text.lines().filter(|l| is_cue_line(l.trim())).count();
    let dropped = total.saturating_sub(MAX_TAGS_PER_PLAYLIST);
    let mut seen = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if !line.starts_with('#') {
            per_segment.push(std::mem::take(&mut current));
            continue;
        }
        if !is_cue_line(line) {
            continue;
        }
        seen += 1;
        if seen <= dropped {
            continue;
        }
        match read_tag(line, &mut oatcls) {
            Ok(Some(tag)) => current.push(tag),
            Ok(None) => {}
            Err(why) => warnings.push(format!("line {}: ad marker dropped: {why}", i + 1)),
        }
    }
    if dropped > 0 {
        warnings.push(format!(
            "{dropped} ad-marker tags before the last {MAX_TAGS_PER_PLAYLIST} of the playlist dropped"
        ));
    }
    (per_segment, warnings)
}

fn read_tag(line: &str, oatcls: &mut Option<(Vec<u8>, String)>) -> Result<Option<CueTag>, String> {
    let (name, value) = line.split_once(':').unwrap_or((line, ""));
    let tag = |kind, section| CueTag {
        kind,
        section,
        lines: line.to_string(),
    };
    match name {
        "#EXT-X-OATCLS-SCTE35" | "#EXT-OATCLS-SCTE35" => {
            let section = checked(base64(value.trim())?)?;
            *oatcls = Some((section, line.to_string()));
            Ok(None)
        }
        "#EXT-X-CUE-OUT" => {
            let v = value.trim();
            let d = v.strip_prefix("DURATION=").unwrap_or(v);
            let duration_ms = if d.is_empty() {
                None
            } else {
                Some(seconds_ms(d.split(',').next().unwrap_or(d))?)
            };
            let (section, lines) = match oatcls.take() {
                Some((s, l)) => (Some(s), format!("{l}\n{line}")),
                None => (None, line.to_string()),
            };
            Ok(Some(CueTag {
                kind: CueKind::Out { duration_ms },
                section,
                lines,
            }))
        }
        "#EXT-X-CUE-OUT-CONT" => {
            let attrs = attributes(value);
            let get = |k: &str| attrs.iter().find(|(n, _)| n.eq_ignore_ascii_case(k));
            // `ElapsedTime=4,Duration=30` or the older `4/30`.
            let (elapsed, duration) = match (get("ElapsedTime"), value.split_once('/')) {
                (Some((_, e)), _) => (e.clone(), get("Duration").map(|(_, d)| d.clone())),
                (None, Some((e, d))) => (e.trim().to_string(), Some(d.trim().to_string())),
                (None, None) => return Err("EXT-X-CUE-OUT-CONT without ElapsedTime".into()),
            };
            let section = match get("SCTE35") {
                Some((_, b)) => Some(checked(base64(b)?)?),
                None => None,
            };
            Ok(Some(tag(
                CueKind::OutCont {
                    elapsed_ms: seconds_ms(&elapsed)?,
                    duration_ms: duration.as_deref().map(seconds_ms).transpose()?,
                },
                section,
            )))
        }
        "#EXT-X-CUE-IN" => Ok(Some(tag(CueKind::In, None))),
        "#EXT-X-DATERANGE" => {
            date_range(value).map(|t| t.map(|(kind, section)| tag(kind, Some(section))))
        }
        _ => Ok(None),
    }
}

/// An `EXT-X-DATERANGE` that carries SCTE-35 (others are not ad markers: `None`).
fn date_range(value: &str) -> Result<Option<(CueKind, Vec<u8>)>, String> {
    let attrs = attributes(value);
    let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(hex) = get("SCTE35-OUT")
        .or_else(|| get("SCTE35-IN"))
        .or_else(|| get("SCTE35-CMD"))
    else {
        return Ok(None);
    };
    let id = get("ID").ok_or("EXT-X-DATERANGE without ID")?;
    if id.is_empty() || id.len() > 256 || id.chars().any(|c| c == '"' || c.is_control()) {
        return Err(
            "EXT-X-DATERANGE ID must be a quoted string of 1 to 256 characters without quotes or control characters"
                .into(),
        );
    }
    let start = get("START-DATE").ok_or("EXT-X-DATERANGE without START-DATE")?;
    let start_unix_ms = crate::time::parse_rfc3339_ms(start)
        .ok_or_else(|| format!("EXT-X-DATERANGE START-DATE {start:?} is not a date"))?;
    let digits = hex
        .strip_prefix("0x")
        .or_else(|| hex.strip_prefix("0X"))
        .ok_or("SCTE35 attribute must be hexadecimal (0x…)")?;
    let section = crate::hex::decode(digits).ok_or("SCTE35 attribute is not hexadecimal")?;
    Ok(Some((
        CueKind::DateRange {
            id: id.to_string(),
            start_unix_ms,
            duration_ms: get("DURATION").map(seconds_ms).transpose()?,
        },
        checked(section)?,
    )))
}

/// `section` if it reads as a `splice_info_section`.
fn checked(section: Vec<u8>) -> Result<Vec<u8>, String> {
    crate::scte35::parse(&section).map_err(|e| e.to_string())?;
    Ok(section)
}

fn base64(v: &str) -> Result<Vec<u8>, String> {
    if v.len() > crate::scte35::MAX_SECTION * 2 {
        return Err("SCTE-35 base64 longer than any section".into());
    }
    base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .map_err(|e| format!("SCTE-35 base64: {e}"))
}

/// Seconds (`30`, `29.97`) as ms.
fn seconds_ms(v: &str) -> Result<u64, String> {
    let s: f64 = v
        .trim()
        .parse()
        .map_err(|_| format!("{v:?} is not a number of seconds"))?;
    if !(0.0..=86_400.0).contains(&s) {
        return Err(format!("{v} s is out of range"));
    }
    Ok((s * 1000.0).round() as u64)
}

/// An attribute list (`A=1,B="x,y"`), names as written, quotes removed.
fn attributes(v: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = v.trim();
    while !rest.is_empty() {
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.split_once('"') {
                Some((val, n)) => (val, n),
                None => (q, ""),
            }
        } else {
            match after.split_once(',') {
                Some((val, n)) => (val, n),
                None => (after, ""),
            }
        };
        out.push((name.trim().to_string(), value.trim().to_string()));
        rest = next.trim_start_matches(',').trim_start();
    }
    out
}

impl super::AdMarkers {
    /// Keeps the marker `tag` signals for a segment published at `segment_start_unix_ms`
    /// (`encoder_clock`: the segment had the encoder's `EXT-X-PROGRAM-DATE-TIME`, so a
    /// DATERANGE's `START-DATE` is on the same clock; else the tag goes on the segment's
    /// start). Tags that cannot be placed are dropped with a warning. The new marker's id
    /// and start, if it is one.
    pub fn take_hls_tag(
        &mut self,
        tag: &CueTag,
        segment_start_unix_ms: u64,
        encoder_clock: bool,
        warnings: &mut Vec<String>,
    ) -> Option<(String, u64)> {
        use super::AdMarker;
        use crate::scte35::{splice_insert_section, Signal, SpliceInsert};
        let at = segment_start_unix_ms;
        let synthesized = |event_id: u32, out: bool, duration_ms: Option<u64>| {
            bytes::Bytes::from(splice_insert_section(&SpliceInsert {
                event_id,
                out_of_network: out,
                immediate: true,
                duration: duration_ms.map(|d| d * 90),
                auto_return: duration_ms.is_some(),
                ..SpliceInsert::default()
            }))
        };
        let made = match &tag.kind {
            CueKind::DateRange {
                id,
                start_unix_ms,
                duration_ms,
            } => {
                let start = match u64::try_from(*start_unix_ms) {
                    Ok(s) if encoder_clock => s,
                    _ => at,
                };
                if start.abs_diff(at) > super::MAX_LEAD_MS {
                    warnings.push(format!(
                        "ad marker {id:?} dropped: its START-DATE is more than an hour from its segment's program date"
                    ));
                    return None;
                }
                let section = tag.section.clone().unwrap_or_default().into();
                AdMarker::from_section(section, start, Some(id.clone())).map(|mut m| {
                    if let (Signal::In, Some(d), true) = (m.signal, duration_ms, encoder_clock) {
                        m.start_unix_ms = m.start_unix_ms.saturating_add(*d);
                    }
                    m
                })
            }
            CueKind::Out { duration_ms } => {
                let section = match &tag.section {
                    Some(s) => s.clone().into(),
                    None => synthesized((at / 100) as u32, true, *duration_ms),
                };
                AdMarker::from_section(section, at, None).map(|mut m| {
                    m.duration_ms = duration_ms.or(m.duration_ms);
                    m
                })
            }
            CueKind::OutCont {
                elapsed_ms,
                duration_ms,
            } => {
                // Joined inside a break: it started `elapsed` before this segment.
                if self.open_at(at).is_some() {
                    return None;
                }
                let start = at.saturating_sub(*elapsed_ms);
                let section = match &tag.section {
                    Some(s) => s.clone().into(),
                    None => synthesized((start / 100) as u32, true, *duration_ms),
                };
                AdMarker::from_section(section, start, None).map(|mut m| {
                    m.duration_ms = duration_ms.or(m.duration_ms);
                    m
                })
            }
            CueKind::In => {
                // At or a frame after the planned end too: the usual place of a CUE-IN.
                let open = self.open_within(at, super::ON_BOUNDARY_MS + 1)?;
                let event_id = open.event_id;
                AdMarker::from_section(synthesized(event_id, false, None), at, None)
            }
        };
        match made {
            Ok(mut m) => {
                if m.signal == Signal::Out && matches!(tag.kind, CueKind::In) {
                    return None;
                }
                m.tags = Some(tag.lines.as_str().into());
                self.add_new(m, warnings)
            }
            Err(why) => {
                warnings.push(format!("ad marker dropped: {why}"));
                None
            }
        }
    }
}
