//! The origin's own MPDs: a small model of what a live origin publishes and a hand-written
//! renderer (like [`crate::hls::render`]): the output must be exactly what we decide, byte for
//! byte, and is rendered once per change, never per request.
//!
//! What is rendered, and why:
//! - Namespace `urn:mpeg:dash:schema:mpd:2011`, profile `urn:mpeg:dash:profile:isoff-live:2011`
//!   (SegmentTemplate addressing, one init segment per Representation).
//! - Dynamic MPDs carry `availabilityStartTime`, `publishTime`, `minimumUpdatePeriod`,
//!   `timeShiftBufferDepth` and `suggestedPresentationDelay`; static ones carry
//!   `mediaPresentationDuration` instead (a dynamic-only attribute in a static MPD is an error
//!   for strict parsers).
//! - Durations are `xs:duration` in seconds (`PT2S`, `PT0.5S`), dates `xs:dateTime` in UTC with
//!   milliseconds (`2026-11-24T01:02:03.456Z`).
//! - `UTCTiming` goes last (the schema's order); its value is usually [`UTC_TIMING_PATH`],
//!   which players resolve against the MPD's URL.
//! - Every attribute value is XML-escaped.

pub use crate::time::format_datetime;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// Where the origin serves its clock (`GET /time`, ISO 8601 UTC with milliseconds).
pub const UTC_TIMING_PATH: &str = "/time";

/// `Content-Type` of every MPD the origin serves (DASH and CMAF endpoints).
pub const MPD_CONTENT_TYPE: &str = "application/dash+xml";

/// `UTCTiming@schemeIdUri` for an HTTP resource whose body is an ISO 8601 date.
pub const UTC_TIMING_HTTP_ISO: &str = "urn:mpeg:dash:utc:http-iso:2014";

/// `MPD@xmlns`.
pub const MPD_NAMESPACE: &str = "urn:mpeg:dash:schema:mpd:2011";

/// `MPD@profiles`.
pub const LIVE_PROFILE: &str = "urn:mpeg:dash:profile:isoff-live:2011";

/// A Media Presentation Description as the origin publishes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Mpd {
    /// `type="dynamic"` (live) or `"static"` (ended).
    pub dynamic: bool,
    /// `availabilityStartTime`: stable across updates of one stream.
    pub availability_start_unix_ms: u64,
    /// `publishTime`.
    pub publish_time_unix_ms: u64,
    /// `timeShiftBufferDepth` (the served window); dynamic only.
    pub time_shift_buffer_ms: u64,
    /// `minimumUpdatePeriod`; dynamic only.
    pub min_update_period_ms: u64,
    /// `suggestedPresentationDelay` (≥ 3 segment durations); dynamic only.
    pub suggested_presentation_delay_ms: u64,
    /// `minBufferTime`.
    pub min_buffer_time_ms: u64,
    /// `maxSegmentDuration`; not rendered when 0.
    pub max_segment_duration_ms: u64,
    /// `mediaPresentationDuration` (static MPDs).
    pub media_presentation_duration_ms: Option<u64>,
    /// Rendered as `<UTCTiming schemeIdUri value/>`.
    pub utc_timing: Vec<UtcTiming>,
    /// Low-latency DASH: segments announced before they are complete, and a latency target.
    pub low_latency: Option<LowLatency>,
    /// In order of `start_ms`.
    pub periods: Vec<Period>,
}

/// Low-latency DASH (DASH-IF IOP, low-latency modes): every `SegmentTemplate` says how long
/// before its end a segment can be requested (`availabilityTimeOffset`) and that it is then
/// still incomplete (`availabilityTimeComplete="false"`: the answer streams as chunks arrive);
/// a `ServiceDescription` gives players the latency to hold and how fast they may catch up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowLatency {
    /// `availabilityTimeOffset`, ms: the segment duration less one chunk.
    pub availability_time_offset_ms: u64,
    /// `Latency@target`, ms.
    pub target_latency_ms: u64,
    /// `Latency@min`, ms.
    pub min_latency_ms: u64,
    /// `Latency@max`, ms.
    pub max_latency_ms: u64,
    /// `PlaybackRate@min` and `@max`, per mille (960 = 0.96).
    pub playback_rate_permille: (u32, u32),
}

/// A `UTCTiming` element.
#[derive(Debug, Clone, PartialEq)]
pub struct UtcTiming {
    /// E.g. [`UTC_TIMING_HTTP_ISO`].
    pub scheme_id_uri: String,
    /// E.g. [`UTC_TIMING_PATH`].
    pub value: String,
}

impl UtcTiming {
    /// The origin's own clock: `http-iso` at [`UTC_TIMING_PATH`].
    pub fn origin() -> UtcTiming {
        UtcTiming {
            scheme_id_uri: UTC_TIMING_HTTP_ISO.to_string(),
            value: UTC_TIMING_PATH.to_string(),
        }
    }
}

/// A `Period`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Period {
    /// `id`: unique within the stream, never reused.
    pub id: String,
    /// `start`, relative to `availabilityStartTime`.
    pub start_ms: u64,
    /// The AdaptationSets.
    pub adaptation_sets: Vec<AdaptationSet>,
}

/// `AdaptationSet@contentType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContentType {
    /// `video`
    Video,
    /// `audio`
    Audio,
    /// `text`
    Text,
}

impl ContentType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Video => "video",
            ContentType::Audio => "audio",
            ContentType::Text => "text",
        }
    }
}

/// An `AdaptationSet`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptationSet {
    /// `id`.
    pub id: u32,
    /// `contentType`.
    pub content_type: ContentType,
    /// `mimeType`: `video/mp4`, `audio/mp4`.
    pub mime_type: String,
    /// `lang`.
    pub lang: Option<String>,
    /// `segmentAlignment="true"` (rendered only when true).
    pub segment_alignment: bool,
    /// CEA-608 captions in the video: the `Accessibility` value of
    /// `urn:scte:dash:cc:cea-608:2015` (`CC1`). Not kept by the time-shift archive (whose
    /// records keep their shape across versions).
    #[serde(skip)]
    pub cea608: Option<String>,
    /// The Representations.
    pub representations: Vec<Representation>,
}

/// The `Accessibility` scheme of CEA-608 captions carried in the video (SCTE 214-1).
pub const CEA608_SCHEME: &str = "urn:scte:dash:cc:cea-608:2015";

/// A `Representation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Representation {
    /// `id`.
    pub id: String,
    /// `bandwidth`, bits per second.
    pub bandwidth: u64,
    /// `codecs` (RFC 6381); not rendered when empty.
    pub codecs: String,
    /// `width`.
    pub width: Option<u32>,
    /// `height`.
    pub height: Option<u32>,
    /// `frameRate`: `"25"`, `"30000/1001"`.
    pub frame_rate: Option<String>,
    /// `audioSamplingRate`.
    pub audio_sampling_rate: Option<u32>,
    /// `AudioChannelConfiguration` (scheme `urn:mpeg:dash:23003:3:audio_channel_configuration:2011`).
    pub audio_channels: Option<u32>,
    /// Its segments.
    pub template: SegmentTemplate,
}

/// A `SegmentTemplate` with a `SegmentTimeline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentTemplate {
    /// `timescale`, ticks per second.
    pub timescale: u32,
    /// `presentationTimeOffset`, ticks: the media time at the Period's start.
    pub presentation_time_offset: u64,
    /// `initialization`, relative to the MPD (`v0/init1.m4s`).
    pub initialization: String,
    /// `media`, relative to the MPD (`v0/$Number$.m4s`).
    pub media: String,
    /// `startNumber`: `$Number$` of the timeline's first segment.
    pub start_number: u64,
    /// `SegmentTimeline`; not rendered when empty.
    pub timeline: Vec<S>,
}

/// A `SegmentTimeline` entry: `r + 1` segments of duration `d` from time `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct S {
    /// `t`, ticks.
    pub t: u64,
    /// `d`, ticks.
    pub d: u64,
    /// `r`: extra repeats (0 = once).
    pub r: u32,
}

/// Compacts `(t, d)` pairs into `S` entries: consecutive equal durations with contiguous times
/// share one entry with `r`; a gap or overlap starts a new entry with its own `t`.
pub fn timeline_from(segments: impl IntoIterator<Item = (u64, u64)>) -> Vec<S> {
    let mut out: Vec<S> = Vec::new();
    for (t, d) in segments {
        if let Some(last) = out.last_mut() {
            let end = u64::from(last.r)
                .saturating_add(1)
                .saturating_mul(last.d)
                .saturating_add(last.t);
            if last.d == d && end == t && last.r < u32::MAX {
                last.r += 1;
                continue;
            }
        }
        out.push(S { t, d, r: 0 });
    }
    out
}

/// Renders the MPD as XML text (escaping attribute values). Deterministic: same model, same
/// bytes.
pub fn render(mpd: &Mpd) -> String {
    let mut s = String::with_capacity(1024);
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(
        s,
        "<MPD xmlns=\"{MPD_NAMESPACE}\" profiles=\"{LIVE_PROFILE}\" type=\"{}\"",
        if mpd.dynamic { "dynamic" } else { "static" }
    );
    attr(
        &mut s,
        "availabilityStartTime",
        &format_datetime(mpd.availability_start_unix_ms),
    );
    attr(
        &mut s,
        "publishTime",
        &format_datetime(mpd.publish_time_unix_ms),
    );
    if mpd.dynamic {
        attr(
            &mut s,
            "minimumUpdatePeriod",
            &format_duration(mpd.min_update_period_ms),
        );
        attr(
            &mut s,
            "timeShiftBufferDepth",
            &format_duration(mpd.time_shift_buffer_ms),
        );
        attr(
            &mut s,
            "suggestedPresentationDelay",
            &format_duration(mpd.suggested_presentation_delay_ms),
        );
    } else if let Some(d) = mpd.media_presentation_duration_ms {
        attr(&mut s, "mediaPresentationDuration", &format_duration(d));
    }
    attr(
        &mut s,
        "minBufferTime",
        &format_duration(mpd.min_buffer_time_ms),
    );
    if mpd.max_segment_duration_ms > 0 {
        attr(
            &mut s,
            "maxSegmentDuration",
            &format_duration(mpd.max_segment_duration_ms),
        );
    }
    s.push_str(">\n");
    if let Some(ll) = &mpd.low_latency {
        render_service_description(&mut s, ll);
    }
    for p in &mpd.periods {
        render_period(&mut s, p, mpd.low_latency.as_ref());
    }
    for u in &mpd.utc_timing {
        s.push_str("  <UTCTiming");
        attr(&mut s, "schemeIdUri", &u.scheme_id_uri);
        attr(&mut s, "value", &u.value);
        s.push_str("/>\n");
    }
    s.push_str("</MPD>\n");
    s
}

fn render_service_description(s: &mut String, ll: &LowLatency) {
    s.push_str("  <ServiceDescription id=\"0\">\n    <Latency");
    attr(s, "target", &ll.target_latency_ms.to_string());
    attr(s, "min", &ll.min_latency_ms.to_string());
    attr(s, "max", &ll.max_latency_ms.to_string());
    s.push_str("/>\n    <PlaybackRate");
    let (min, max) = ll.playback_rate_permille;
    attr(s, "min", &decimal_seconds(u64::from(min)));
    attr(s, "max", &decimal_seconds(u64::from(max)));
    s.push_str("/>\n  </ServiceDescription>\n");
}

fn render_period(s: &mut String, p: &Period, ll: Option<&LowLatency>) {
    s.push_str("  <Period");
    attr(s, "id", &p.id);
    attr(s, "start", &format_duration(p.start_ms));
    s.push_str(">\n");
    for a in &p.adaptation_sets {
        s.push_str("    <AdaptationSet");
        attr(s, "id", &a.id.to_string());
        attr(s, "contentType", a.content_type.as_str());
        attr(s, "mimeType", &a.mime_type);
        if let Some(lang) = &a.lang {
            attr(s, "lang", lang);
        }
        if a.segment_alignment {
            attr(s, "segmentAlignment", "true");
        }
        s.push_str(">\n");
        if let Some(cc) = &a.cea608 {
            s.push_str("      <Accessibility");
            attr(s, "schemeIdUri", CEA608_SCHEME);
            attr(s, "value", cc);
            s.push_str("/>\n");
        }
        if a.content_type == ContentType::Text {
            // DASH-IF IOP §6.4.2: a text AdaptationSet says what it is for.
            s.push_str(
                "      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"subtitle\"/>\n",
            );
        }
        for r in &a.representations {
            render_representation(s, r, ll);
        }
        s.push_str("    </AdaptationSet>\n");
    }
    s.push_str("  </Period>\n");
}

fn render_representation(s: &mut String, r: &Representation, ll: Option<&LowLatency>) {
    s.push_str("      <Representation");
    attr(s, "id", &r.id);
    attr(s, "bandwidth", &r.bandwidth.to_string());
    if !r.codecs.is_empty() {
        attr(s, "codecs", &r.codecs);
    }
    if let Some(w) = r.width {
        attr(s, "width", &w.to_string());
    }
    if let Some(h) = r.height {
        attr(s, "height", &h.to_string());
    }
    if let Some(f) = &r.frame_rate {
        attr(s, "frameRate", f);
    }
    if let Some(a) = r.audio_sampling_rate {
        attr(s, "audioSamplingRate", &a.to_string());
    }
    s.push_str(">\n");
    if let Some(c) = r.audio_channels {
        s.push_str("        <AudioChannelConfiguration");
        attr(
            s,
            "schemeIdUri",
            "urn:mpeg:dash:23003:3:audio_channel_configuration:2011",
        );
        attr(s, "value", &c.to_string());
        s.push_str("/>\n");
    }
    let t = &r.template;
    s.push_str("        <SegmentTemplate");
    attr(s, "timescale", &t.timescale.to_string());
    attr(
        s,
        "presentationTimeOffset",
        &t.presentation_time_offset.to_string(),
    );
    attr(s, "initialization", &t.initialization);
    attr(s, "media", &t.media);
    attr(s, "startNumber", &t.start_number.to_string());
    if let Some(ll) = ll {
        attr(
            s,
            "availabilityTimeOffset",
            &decimal_seconds(ll.availability_time_offset_ms),
        );
        attr(s, "availabilityTimeComplete", "false");
    }
    if t.timeline.is_empty() {
        s.push_str("/>\n");
    } else {
        s.push_str(">\n          <SegmentTimeline>\n");
        for e in &t.timeline {
            let _ = write!(s, "            <S t=\"{}\" d=\"{}\"", e.t, e.d);
            if e.r > 0 {
                let _ = write!(s, " r=\"{}\"", e.r);
            }
            s.push_str("/>\n");
        }
        s.push_str("          </SegmentTimeline>\n        </SegmentTemplate>\n");
    }
    s.push_str("      </Representation>\n");
}

/// Appends ` name="value"` with the value escaped.
fn attr(s: &mut String, name: &str, value: &str) {
    s.push(' ');
    s.push_str(name);
    s.push_str("=\"");
    escape_into(s, value);
    s.push('"');
}

/// XML attribute escaping; control characters XML 1.0 cannot carry are dropped.
fn escape_into(s: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&apos;"),
            '\t' => s.push_str("&#9;"),
            '\n' => s.push_str("&#10;"),
            '\r' => s.push_str("&#13;"),
            c if (c as u32) < 0x20 => {}
            c => s.push(c),
        }
    }
}

/// Thousandths as a decimal: `1.5`, `0.96`, `3`.
fn decimal_seconds(thousandths: u64) -> String {
    let (whole, frac) = (thousandths / 1000, thousandths % 1000);
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:03}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// `xs:duration` in seconds with up to millisecond precision: `PT2S`, `PT0.5S`, `PT600.04S`.
pub fn format_duration(ms: u64) -> String {
    let (secs, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        return format!("PT{secs}S");
    }
    let digits = format!("{frac:03}");
    format!("PT{secs}.{}S", digits.trim_end_matches('0'))
}

#[cfg(test)]
#[path = "mpd_tests.rs"]
mod tests;
