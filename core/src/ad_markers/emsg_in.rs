//! SCTE-35 in-band in fMP4 segments: `emsg` boxes (ISO/IEC 23009-1 §5.10.3.3) ahead of the
//! `moof` with the scheme `urn:scte:scte35:2013:bin`, whose message is the
//! `splice_info_section`. Version 0 times the event from the segment's earliest presentation
//! time, version 1 on the track's media timeline.

/// The scheme of binary SCTE-35 in `emsg`.
pub const SCHEME_BIN: &str = "urn:scte:scte35:2013:bin";
/// `emsg` boxes read from one segment at most.
pub const MAX_PER_SEGMENT: usize = 8;

/// When an `emsg` event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmsgTime {
    /// Version 0: this many ticks after the segment's earliest presentation time.
    AfterSegmentStart(u64),
    /// Version 1: this media time, ticks.
    MediaTime(u64),
}

/// One SCTE-35 `emsg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmsgCue {
    /// When.
    pub time: EmsgTime,
    /// Its `timescale`.
    pub timescale: u32,
    /// The `splice_info_section`.
    pub section: Vec<u8>,
}

/// The SCTE-35 `emsg` boxes before the first `moof`/`mdat` of `segment` (others, and boxes
/// that do not parse, are skipped).
pub fn scan(segment: &[u8]) -> Vec<EmsgCue> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(h) = segment.get(at..at + 8) {
        let size = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let typ = &h[4..8];
        if typ == b"moof" || typ == b"mdat" || size < 8 {
            break;
        }
        let Some(body) = segment.get(at + 8..at + size) else {
            break;
        };
        if typ == b"emsg" && out.len() < MAX_PER_SEGMENT {
            if let Some(cue) = emsg(body) {
                out.push(cue);
            }
        }
        at += size;
    }
    out
}

fn emsg(b: &[u8]) -> Option<EmsgCue> {
    let version = *b.first()?;
    let mut rest = b.get(4..)?;
    let u32_at = |r: &[u8], i: usize| -> Option<u32> {
        r.get(i..i + 4)
            .map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
    };
    let cstr = |r: &mut &[u8]| -> Option<String> {
        let end = r.iter().position(|&c| c == 0)?;
        let s = std::str::from_utf8(&r[..end]).ok()?.to_string();
        *r = &r[end + 1..];
        Some(s)
    };
    let (scheme, timescale, time, message);
    if version == 0 {
        scheme = cstr(&mut rest)?;
        let _value = cstr(&mut rest)?;
        timescale = u32_at(rest, 0)?;
        time = EmsgTime::AfterSegmentStart(u64::from(u32_at(rest, 4)?));
        message = rest.get(16..)?;
    } else if version == 1 {
        timescale = u32_at(rest, 0)?;
        let hi = u64::from(u32_at(rest, 4)?);
        let lo = u64::from(u32_at(rest, 8)?);
        time = EmsgTime::MediaTime((hi << 32) | lo);
        rest = rest.get(20..)?;
        scheme = cstr(&mut rest)?;
        let _value = cstr(&mut rest)?;
        message = rest;
    } else {
        return None;
    }
    (scheme == SCHEME_BIN && timescale > 0).then(|| EmsgCue {
        time,
        timescale,
        section: message.to_vec(),
    })
}
