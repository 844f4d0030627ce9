//! The archive's index log: an append-only sequence of framed records, each
//! `[payload length: u32 LE][CRC-32 of the payload: u32 LE][payload: postcard]`.
//!
//! A segment's record is appended only after its bytes are written, so every record names a
//! readable object. A process killed mid-append leaves a torn last frame: [`decode`] stops at
//! the first frame that is short or fails its CRC, and says how many bytes were good, so the
//! caller truncates the tail and goes on appending.

use crate::ad_markers::AdMarker;
use crate::channel::config::EndpointType;
use crate::dash::mpd;
use crate::media::{Outline, PeriodView, SegmentTiming};
use crate::scte35::Signal;
use serde::{Deserialize, Serialize};

/// A frame's header: length and CRC.
pub const FRAME_HEADER: usize = 8;

/// Largest payload accepted when reading (a record is a few hundred bytes).
pub const MAX_PAYLOAD: usize = 64 * 1024;

/// One output track: the endpoint type whose output it belongs to and its folder in the
/// endpoint's URLs (`hi`, `v0`, `hi/video`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackKey {
    /// The output.
    pub kind: EndpointType,
    /// The folder of its segments.
    pub dir: String,
}

impl Ord for TrackKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.kind.index(), &self.dir).cmp(&(other.kind.index(), &other.dir))
    }
}

impl PartialOrd for TrackKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl TrackKey {
    /// The path of one of its objects below the channel's archive folder:
    /// `<kind>/<dir>/<file>`.
    pub fn path_of(&self, file: &str) -> String {
        format!("{}/{}/{}", self.kind.as_str(), self.dir, file)
    }
}

/// One archived init segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitRec {
    /// Its number (`init<k>`).
    pub k: u64,
    /// URL file name.
    pub file: String,
    /// Bytes.
    pub len: u64,
    /// Quoted strong `ETag`, as it was served live.
    pub etag: String,
    /// `Content-Type`.
    pub content_type: String,
}

/// One archived media segment, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentRecord {
    /// Output sequence number.
    pub seq: u64,
    /// URL file name (`123.ts`, `45.m4s`).
    pub file: String,
    /// Duration, ms.
    pub duration_ms: u64,
    /// Wall-clock start of its media, Unix ms.
    pub start_unix_ms: u64,
    /// The output put a discontinuity before it.
    pub discontinuity: bool,
    /// The init segment it needs (`init<k>`), if its track has them.
    pub init: Option<u64>,
    /// Bytes.
    pub len: u64,
    /// Quoted strong `ETag`, as served live.
    pub etag: String,
    /// `Content-Type`.
    pub content_type: String,
    /// DASH: its Period and timeline entry.
    pub timing: Option<SegmentTiming>,
}

/// One change to a channel's archive.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// An init segment was written.
    Init {
        /// Its track.
        key: TrackKey,
        /// It.
        init: InitRec,
    },
    /// A media segment was written.
    Segment {
        /// Its track.
        key: TrackKey,
        /// It.
        seg: SegmentRecord,
    },
    /// A DASH Period the output's segments belong to (recorded again when it changes).
    Period {
        /// The output.
        kind: EndpointType,
        /// It.
        view: PeriodView,
    },
    /// What the output's time-shifted manifests take from it besides the segments (recorded
    /// again when it changes).
    Outline {
        /// The output.
        kind: EndpointType,
        /// It.
        outline: Outline,
    },
    /// The track's segments up to `through_seq` are gone, with the init segments no later
    /// segment needs.
    Expired {
        /// The track.
        key: TrackKey,
        /// Last sequence number removed.
        through_seq: u64,
    },
    /// An ad marker the channel signalled (time-shifted manifests carry it).
    Marker(AdMarker),
    /// A marker the channel no longer signals although its media is still live: its break
    /// was cancelled.
    MarkerGone(AdMarker),
}

impl Record {
    /// The file it names below the channel's archive folder, and that file's length: an
    /// init or media segment; `None` for records without bytes.
    pub fn object(&self) -> Option<(String, u64)> {
        match self {
            Record::Init { key, init } => Some((key.path_of(&init.file), init.len)),
            Record::Segment { key, seg } => Some((key.path_of(&seg.file), seg.len)),
            Record::Period { .. }
            | Record::Outline { .. }
            | Record::Expired { .. }
            | Record::Marker(_)
            | Record::MarkerGone(_) => None,
        }
    }
}

/// `record` framed for appending.
pub fn encode(record: &Record) -> Vec<u8> {
    let payload = postcard::to_stdvec(&Wire::from(record)).unwrap_or_default();
    let mut out = Vec::with_capacity(FRAME_HEADER + payload.len());
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// The records of a log, up to the first torn or corrupt frame, and the length of that good
/// prefix. A whole frame (its checksum right) this build cannot read is a record a later
/// build wrote: it is passed over, so the records after it are kept.
pub fn decode(bytes: &[u8]) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + FRAME_HEADER) {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let start = at + FRAME_HEADER;
        let Some(payload) = bytes.get(start..start + len).filter(|_| len <= MAX_PAYLOAD) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        if let Ok(wire) = postcard::from_bytes::<Wire>(payload) {
            records.push(wire.into());
        }
        at = start + len;
    }
    (records, at)
}

/// The serialized form: [`Record`] with the endpoint type as a tag byte, so that the log's
/// format does not move with the config's serde names.
#[derive(Serialize, Deserialize)]
enum Wire {
    Init(u8, String, InitWire),
    Segment(u8, String, SegmentRecord),
    Expired(u8, String, u64),
    Period(u8, u64, mpd::Period),
    Outline(u8, Option<String>, Vec<String>),
    Marker(MarkerWire),
    MarkerGone(MarkerWire),
}

/// An [`AdMarker`] as the log keeps it.
#[derive(Serialize, Deserialize)]
struct MarkerWire {
    id: String,
    event_id: u32,
    /// 0 out, 1 in, 2 other.
    signal: u8,
    start_unix_ms: u64,
    duration_ms: Option<u64>,
    section: Vec<u8>,
    tags: Option<String>,
    operator: bool,
}

impl From<&AdMarker> for MarkerWire {
    fn from(m: &AdMarker) -> MarkerWire {
        MarkerWire {
            id: m.id.clone(),
            event_id: m.event_id,
            signal: match m.signal {
                Signal::Out => 0,
                Signal::In => 1,
                Signal::Other => 2,
            },
            start_unix_ms: m.start_unix_ms,
            duration_ms: m.duration_ms,
            section: m.section.to_vec(),
            tags: m.tags.as_deref().map(str::to_string),
            operator: m.operator,
        }
    }
}

impl From<MarkerWire> for AdMarker {
    fn from(w: MarkerWire) -> AdMarker {
        AdMarker {
            id: w.id,
            event_id: w.event_id,
            signal: match w.signal {
                0 => Signal::Out,
                1 => Signal::In,
                _ => Signal::Other,
            },
            start_unix_ms: w.start_unix_ms,
            duration_ms: w.duration_ms,
            section: w.section.into(),
            tags: w.tags.map(Into::into),
            operator: w.operator,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct InitWire {
    k: u64,
    file: String,
    len: u64,
    etag: String,
    content_type: String,
}

fn kind_tag(kind: EndpointType) -> u8 {
    kind.index() as u8
}

fn kind_of(tag: u8) -> EndpointType {
    EndpointType::ALL
        .get(usize::from(tag))
        .copied()
        .unwrap_or(EndpointType::Hls)
}

impl From<&Record> for Wire {
    fn from(r: &Record) -> Wire {
        match r {
            Record::Init { key, init } => Wire::Init(
                kind_tag(key.kind),
                key.dir.clone(),
                InitWire {
                    k: init.k,
                    file: init.file.clone(),
                    len: init.len,
                    etag: init.etag.clone(),
                    content_type: init.content_type.clone(),
                },
            ),
            Record::Segment { key, seg } => {
                Wire::Segment(kind_tag(key.kind), key.dir.clone(), seg.clone())
            }
            Record::Expired { key, through_seq } => {
                Wire::Expired(kind_tag(key.kind), key.dir.clone(), *through_seq)
            }
            Record::Period { kind, view } => {
                Wire::Period(kind_tag(*kind), view.start_unix_ms, view.period.clone())
            }
            Record::Outline { kind, outline } => Wire::Outline(
                kind_tag(*kind),
                outline.master.clone(),
                outline.independent.clone(),
            ),
            Record::Marker(m) => Wire::Marker(MarkerWire::from(m)),
            Record::MarkerGone(m) => Wire::MarkerGone(MarkerWire::from(m)),
        }
    }
}

impl From<Wire> for Record {
    fn from(w: Wire) -> Record {
        let key = |tag, dir| TrackKey {
            kind: kind_of(tag),
            dir,
        };
        match w {
            Wire::Init(t, dir, i) => Record::Init {
                key: key(t, dir),
                init: InitRec {
                    k: i.k,
                    file: i.file,
                    len: i.len,
                    etag: i.etag,
                    content_type: i.content_type,
                },
            },
            Wire::Segment(t, dir, seg) => Record::Segment {
                key: key(t, dir),
                seg,
            },
            Wire::Expired(t, dir, through_seq) => Record::Expired {
                key: key(t, dir),
                through_seq,
            },
            Wire::Period(t, start_unix_ms, period) => Record::Period {
                kind: kind_of(t),
                view: PeriodView {
                    period,
                    start_unix_ms,
                },
            },
            Wire::Outline(t, master, independent) => Record::Outline {
                kind: kind_of(t),
                outline: Outline {
                    master,
                    independent,
                },
            },
            Wire::Marker(m) => Record::Marker(m.into()),
            Wire::MarkerGone(m) => Record::MarkerGone(m.into()),
        }
    }
}
