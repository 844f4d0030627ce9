//! Parsing the MPDs encoders push (on `roxmltree`) into plain data: per Representation, its
//! init segment's path and its media segments with their times and paths, templates already
//! expanded and resolved against the MPD's own path.
//!
//! Supported: `SegmentTemplate` with `$Number$` (and `%0Nd` widths), `$Time$`,
//! `$RepresentationID$`, `$Bandwidth$`, `$$`; with a `SegmentTimeline` or with `@duration`;
//! at Period, AdaptationSet or Representation level (lower levels override attribute by
//! attribute); relative `BaseURL`s; several Periods, AdaptationSets and Representations.
//! Not supported (a clear error): `SegmentBase`/`SegmentList` addressing, absolute URLs (the
//! origin only serves what was pushed to the input), `$Time$` without a timeline.
//!
//! `S@r="-1"` repeats until the next `S@t`, or the end of the Period when known; as the last
//! entry of a live Period it counts once (an encoder lists what it wrote).

mod nodes;

use super::mpd::ContentType;
pub use super::template::Template;
use crate::parse_error::ParseError;
pub use nodes::parse_duration_ms;
use nodes::{
    children, expand_timeline, first_child, join, num, opt_duration, parent_dir, with_base_url,
};
use roxmltree::{Document, Node};

/// Most segments one Representation may list (a day of one-second segments): bounds the
/// expansion of `S@r`.
pub const MAX_SEGMENTS_PER_REPRESENTATION: usize = 86_400;

/// A parsed encoder MPD.
#[derive(Debug, Clone, PartialEq)]
pub struct MpdIn {
    /// `type="dynamic"`; `false` once the encoder ended the stream (`type="static"`).
    pub dynamic: bool,
    /// `availabilityStartTime` as written (identifies one run of the encoder).
    pub availability_start: Option<String>,
    /// `mediaPresentationDuration`.
    pub media_presentation_duration_ms: Option<u64>,
    /// The Periods, in document order.
    pub periods: Vec<PeriodIn>,
    /// SCTE-35 events that were dropped, and why.
    pub event_warnings: Vec<String>,
}

/// A Period of an encoder MPD.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodIn {
    /// `@id`, else its index.
    pub id: String,
    /// `@start` (0 when absent).
    pub start_ms: u64,
    /// The AdaptationSets.
    pub adaptation_sets: Vec<AdaptationSetIn>,
    /// Its SCTE-35 events (ad markers).
    pub events: Vec<crate::ad_markers::dash_in::DashEvent>,
}

/// An AdaptationSet of an encoder MPD.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptationSetIn {
    /// `@id`.
    pub id: Option<u32>,
    /// From `@contentType`, else the MIME type, else the codecs.
    pub content_type: ContentType,
    /// `@mimeType` of the set (or of its first Representation).
    pub mime_type: String,
    /// `@lang`.
    pub lang: Option<String>,
    /// The Representations.
    pub representations: Vec<RepresentationIn>,
}

/// A Representation of an encoder MPD, its segments expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct RepresentationIn {
    /// `@id`.
    pub id: String,
    /// `@bandwidth`.
    pub bandwidth: u64,
    /// `@codecs` (inherited from the AdaptationSet).
    pub codecs: String,
    /// `@width`.
    pub width: Option<u32>,
    /// `@height`.
    pub height: Option<u32>,
    /// `@frameRate`.
    pub frame_rate: Option<String>,
    /// `@audioSamplingRate`.
    pub audio_sampling_rate: Option<u32>,
    /// `AudioChannelConfiguration@value`.
    pub audio_channels: Option<u32>,
    /// `SegmentTemplate@timescale` (default 1).
    pub timescale: u32,
    /// `SegmentTemplate@presentationTimeOffset`.
    pub presentation_time_offset: u64,
    /// Path of the init segment in the input, if any.
    pub init: Option<String>,
    /// The media segments.
    pub segments: SegmentsIn,
    /// `@media` with the id and bandwidth filled in, and the directory its paths are relative
    /// to: where the segment after the listed ones will be pushed.
    pub media: (Template, String),
}

impl RepresentationIn {
    /// The path of the segment numbered `number` starting at `time` (ticks).
    pub fn media_path(&self, number: u64, time: u64) -> Option<String> {
        join(&self.media.1, &self.media.0.expand(number, time)).ok()
    }

    /// The number of a `Numbered` Representation's segment at `path`, if it is one.
    pub fn numbered_match(&self, path: &str) -> Option<u64> {
        let SegmentsIn::Numbered { start_number, .. } = self.segments else {
            return None;
        };
        let (media, base) = &self.media;
        path.strip_prefix(base.as_str())
            .and_then(|rest| media.match_number(rest))
            .filter(|n| *n >= start_number)
    }

    /// The path of segment `number` of a `Numbered` Representation.
    pub fn numbered_path(&self, number: u64) -> Option<String> {
        let SegmentsIn::Numbered {
            start_number,
            duration,
        } = self.segments
        else {
            return None;
        };
        let time = number.checked_sub(start_number)?.checked_mul(duration)?;
        self.media_path(number, time)
    }
}

/// How a Representation's media segments are known.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentsIn {
    /// Listed one by one (`SegmentTimeline`).
    Listed(Vec<SegmentIn>),
    /// `@duration` addressing: segment `n` (from `start_number`) starts at
    /// `presentation_time_offset + (n - start_number) × duration`, at the path the
    /// Representation's `@media` gives ([`RepresentationIn::numbered_path`]); which exist is
    /// known from what was pushed.
    Numbered {
        /// `@startNumber`.
        start_number: u64,
        /// `@duration`, ticks.
        duration: u64,
    },
}

/// One listed media segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentIn {
    /// Its `$Number$`.
    pub number: u64,
    /// Start, ticks (media time: `presentationTimeOffset` not subtracted).
    pub t: u64,
    /// Duration, ticks.
    pub d: u64,
    /// Path in the input.
    pub path: String,
}

/// Parses an encoder MPD pushed at `path` (in the input).
pub fn parse_mpd(path: &str, body: &[u8]) -> Result<MpdIn, ParseError> {
    let text = std::str::from_utf8(body).map_err(|_| ParseError::encoding("MPD is not UTF-8"))?;
    let doc = Document::parse(text)
        .map_err(|e| ParseError::syntax(format!("MPD is not well-formed XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "MPD" {
        return Err(ParseError::syntax(format!(
            "root element is <{}>, not <MPD>",
            root.tag_name().name()
        )));
    }
    let dynamic = match root.attribute("type").unwrap_or("static") {
        "dynamic" => true,
        "static" => false,
        other => {
            return Err(ParseError::invalid(format!(
                "MPD@type {other:?} is neither dynamic nor static"
            )))
        }
    };
    let media_presentation_duration_ms = opt_duration(root, "mediaPresentationDuration")?;
    let dir = parent_dir(path);
    let dir = with_base_url(&dir, root)?;
    let period_nodes: Vec<Node> = children(root, "Period").collect();
    if period_nodes.is_empty() {
        return Err(ParseError::missing("MPD has no Period"));
    }
    let mut periods = Vec::with_capacity(period_nodes.len());
    let mut event_warnings = Vec::new();
    let mut next_start = 0u64;
    for (i, p) in period_nodes.iter().enumerate() {
        if p.attribute(("http://www.w3.org/1999/xlink", "href"))
            .is_some()
        {
            return Err(ParseError::unsupported(
                "remote (xlink) Periods are not supported",
            ));
        }
        let start_ms = opt_duration(*p, "start")?.unwrap_or(next_start);
        let end_ms = match period_nodes.get(i + 1) {
            Some(n) => opt_duration(*n, "start")?,
            None => media_presentation_duration_ms,
        }
        .or(opt_duration(*p, "duration")?.map(|d| start_ms.saturating_add(d)));
        next_start = end_ms.unwrap_or(start_ms);
        let ctx = PeriodCtx {
            node: *p,
            dir: with_base_url(&dir, *p)?,
            span_ms: end_ms.map(|e| e.saturating_sub(start_ms)),
        };
        let mut adaptation_sets = Vec::new();
        for a in children(*p, "AdaptationSet") {
            adaptation_sets.push(parse_adaptation_set(&ctx, a)?);
        }
        let (events, warnings) = crate::ad_markers::dash_in::period_events(*p);
        event_warnings.extend(warnings);
        periods.push(PeriodIn {
            id: p
                .attribute("id")
                .map_or_else(|| i.to_string(), str::to_string),
            start_ms,
            adaptation_sets,
            events,
        });
    }
    Ok(MpdIn {
        dynamic,
        availability_start: root.attribute("availabilityStartTime").map(str::to_string),
        media_presentation_duration_ms,
        periods,
        event_warnings,
    })
}

struct PeriodCtx<'a, 'i> {
    node: Node<'a, 'i>,
    dir: String,
    span_ms: Option<u64>,
}

fn parse_adaptation_set(
    ctx: &PeriodCtx<'_, '_>,
    a: Node<'_, '_>,
) -> Result<AdaptationSetIn, ParseError> {
    let dir = with_base_url(&ctx.dir, a)?;
    let reps: Vec<Node> = children(a, "Representation").collect();
    if reps.is_empty() {
        return Err(ParseError::missing(
            "an AdaptationSet has no Representation",
        ));
    }
    let first = reps[0];
    let mime_type = a
        .attribute("mimeType")
        .or(first.attribute("mimeType"))
        .unwrap_or("")
        .to_string();
    let codecs = a
        .attribute("codecs")
        .or(first.attribute("codecs"))
        .unwrap_or("");
    let content_type = content_type(a.attribute("contentType"), &mime_type, codecs)?;
    let mut representations = Vec::with_capacity(reps.len());
    for r in reps {
        representations.push(parse_representation(ctx, a, r, &dir)?);
    }
    Ok(AdaptationSetIn {
        id: a.attribute("id").and_then(|v| v.parse().ok()),
        content_type,
        mime_type,
        lang: a.attribute("lang").map(str::to_string),
        representations,
    })
}

fn content_type(
    declared: Option<&str>,
    mime: &str,
    codecs: &str,
) -> Result<ContentType, ParseError> {
    let from = |s: &str| match s {
        "video" => Some(ContentType::Video),
        "audio" => Some(ContentType::Audio),
        "text" => Some(ContentType::Text),
        _ => None,
    };
    if let Some(t) = declared.and_then(from) {
        return Ok(t);
    }
    if let Some(t) = from(mime.split('/').next().unwrap_or("")) {
        return Ok(t);
    }
    if mime == "application/mp4" || codecs.starts_with("stpp") || codecs.starts_with("wvtt") {
        return Ok(ContentType::Text);
    }
    let c = codecs.get(..4).unwrap_or(codecs);
    match c {
        "avc1" | "avc3" | "hvc1" | "hev1" | "av01" | "vp09" | "vp08" => Ok(ContentType::Video),
        "mp4a" | "opus" | "ac-3" | "ec-3" | "fLaC" => Ok(ContentType::Audio),
        _ => Err(ParseError::invalid(format!(
            "cannot tell the content type of an AdaptationSet (contentType {declared:?}, mimeType {mime:?}, codecs {codecs:?})"
        ))),
    }
}

fn parse_representation(
    ctx: &PeriodCtx<'_, '_>,
    a: Node<'_, '_>,
    r: Node<'_, '_>,
    dir: &str,
) -> Result<RepresentationIn, ParseError> {
    let id = r
        .attribute("id")
        .ok_or_else(|| ParseError::missing("a Representation has no id"))?
        .to_string();
    let dir = with_base_url(dir, r)?;
    let inherited = |name: &str| r.attribute(name).or(a.attribute(name));
    let bandwidth: u64 = num(r, "bandwidth")?.unwrap_or(0);
    for level in [ctx.node, a, r] {
        if first_child(level, "SegmentList").is_some()
            || first_child(level, "SegmentBase").is_some()
        {
            return Err(ParseError::unsupported(format!(
                "Representation {id:?}: only SegmentTemplate addressing is supported (not SegmentList/SegmentBase)"
            )));
        }
    }
    // Nearest first: Representation, AdaptationSet, Period.
    let templates: Vec<Node> = [r, a, ctx.node]
        .into_iter()
        .filter_map(|n| first_child(n, "SegmentTemplate"))
        .collect();
    if templates.is_empty() {
        return Err(ParseError::missing(format!(
            "Representation {id:?} has no SegmentTemplate"
        )));
    }
    let tattr = |name: &str| templates.iter().find_map(|t| t.attribute(name));
    let tnum = |name: &str| -> Result<Option<u64>, ParseError> {
        tattr(name)
            .map(|v| {
                v.trim().parse::<u64>().map_err(|_| {
                    ParseError::invalid(format!("SegmentTemplate@{name} {v:?} is not a number"))
                })
            })
            .transpose()
    };
    let timescale = tnum("timescale")?.unwrap_or(1);
    let timescale = u32::try_from(timescale)
        .ok()
        .filter(|t| *t > 0)
        .ok_or_else(|| {
            ParseError::invalid(format!("Representation {id:?}: bad timescale {timescale}"))
        })?;
    let presentation_time_offset = tnum("presentationTimeOffset")?.unwrap_or(0);
    let start_number = tnum("startNumber")?.unwrap_or(1);
    let media_text = tattr("media").ok_or_else(|| {
        ParseError::missing(format!(
            "Representation {id:?}: SegmentTemplate has no @media"
        ))
    })?;
    let media = Template::parse(media_text, &id, bandwidth)?;
    // The isoff-live profile the origin serves needs an init segment per Representation.
    let init_text = tattr("initialization").ok_or_else(|| {
        ParseError::unsupported(format!(
            "Representation {id:?}: SegmentTemplate has no @initialization (self-initializing segments are not supported)"
        ))
    })?;
    let init_template = Template::parse(init_text, &id, bandwidth)?;
    if !init_template.is_constant() {
        return Err(ParseError::invalid(format!(
            "Representation {id:?}: $Number$/$Time$ in @initialization"
        )));
    }
    let init = Some(join(&dir, &init_template.expand(0, 0))?);
    let timeline = templates
        .iter()
        .find_map(|t| first_child(*t, "SegmentTimeline"));
    let segments = match timeline {
        Some(tl) => {
            let span = ctx
                .span_ms
                .map(|ms| ms.saturating_mul(u64::from(timescale)) / 1000);
            let entries = expand_timeline(tl, presentation_time_offset, span)?;
            let mut segs = Vec::with_capacity(entries.len());
            for (i, (t, d, n)) in entries.into_iter().enumerate() {
                let number = n.unwrap_or_else(|| start_number.saturating_add(i as u64));
                segs.push(SegmentIn {
                    number,
                    t,
                    d,
                    path: join(&dir, &media.expand(number, t))?,
                });
            }
            SegmentsIn::Listed(segs)
        }
        None => {
            if media.uses_time() {
                return Err(ParseError::missing(format!(
                    "Representation {id:?}: $Time$ needs a SegmentTimeline"
                )));
            }
            let duration = tnum("duration")?.filter(|d| *d > 0).ok_or_else(|| {
                ParseError::missing(format!("Representation {id:?}: SegmentTemplate has neither SegmentTimeline nor @duration"))
            })?;
            // Fails early on an absolute or escaping template.
            join(&dir, &media.expand(start_number, 0))?;
            SegmentsIn::Numbered {
                start_number,
                duration,
            }
        }
    };
    let audio_channels = [r, a]
        .into_iter()
        .find_map(|n| first_child(n, "AudioChannelConfiguration"))
        .and_then(|c| c.attribute("value"))
        .and_then(|v| v.trim().parse().ok());
    Ok(RepresentationIn {
        codecs: inherited("codecs").unwrap_or("").to_string(),
        width: inherited("width").and_then(|v| v.trim().parse().ok()),
        height: inherited("height").and_then(|v| v.trim().parse().ok()),
        frame_rate: inherited("frameRate").map(str::to_string),
        audio_sampling_rate: inherited("audioSamplingRate").and_then(|v| v.trim().parse().ok()),
        audio_channels,
        id,
        bandwidth,
        timescale,
        presentation_time_offset,
        init,
        segments,
        media: (media, dir),
    })
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
