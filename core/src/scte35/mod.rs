//! SCTE-35 (ANSI/SCTE 35 2023): the `splice_info_section` that carries ad markers, read from
//! what encoders send (HLS tags, TS sections, DASH events) and written for the cues the
//! operator inserts.
//!
//! [`parse`] checks everything a marker's meaning depends on (table id, lengths, CRC-32, the
//! command's fields, segmentation descriptors) and refuses the rest with a reason; the bytes
//! of a section that parsed are passed on as they came (SCTE35-OUT hex, `scte35:Binary`), so a
//! downstream ad server sees exactly what the encoder sent. [`Cue`] is what the origin itself
//! reads from one: the event id, out or in, the break's duration.
//!
//! Sans-io, no allocation beyond the parsed descriptors' UPIDs.

mod write;

pub use write::splice_insert_section;

use crate::ts::psi::crc32_mpeg2;

/// 90 kHz ticks of `pts_time` and `break_duration`.
pub const TICKS_PER_SECOND: u64 = 90_000;

/// A parsed `splice_info_section`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpliceInfo {
    /// `pts_adjustment`, 90 kHz (33 bits).
    pub pts_adjustment: u64,
    /// `tier` (12 bits; 0xFFF: all).
    pub tier: u16,
    /// The command.
    pub command: SpliceCommand,
    /// Its segmentation descriptors (other descriptors are skipped).
    pub segmentation: Vec<Segmentation>,
}

/// `splice_command_type` and its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpliceCommand {
    /// `splice_null` (0x00): a heartbeat.
    Null,
    /// `splice_schedule` (0x04): passed on, not read.
    Schedule,
    /// `splice_insert` (0x05).
    Insert(SpliceInsert),
    /// `time_signal` (0x06): its meaning is in the segmentation descriptors.
    TimeSignal {
        /// `pts_time` when `time_specified_flag`.
        pts: Option<u64>,
    },
    /// `bandwidth_reservation` (0x07).
    BandwidthReservation,
    /// `private_command` (0xFF) and its `identifier`.
    Private(u32),
}

/// A `splice_insert` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpliceInsert {
    /// `splice_event_id`.
    pub event_id: u32,
    /// `splice_event_cancel_indicator`: the event is withdrawn (no other field is present).
    pub cancel: bool,
    /// `out_of_network_indicator`: a break starts (else it ends: the return).
    pub out_of_network: bool,
    /// `splice_immediate_flag`.
    pub immediate: bool,
    /// The program's `pts_time`, when stated (program splice, not immediate).
    pub pts: Option<u64>,
    /// `break_duration` (90 kHz) when `duration_flag`.
    pub duration: Option<u64>,
    /// The break's `auto_return`.
    pub auto_return: bool,
    /// `unique_program_id`.
    pub unique_program_id: u16,
    /// `avail_num`.
    pub avail_num: u8,
    /// `avails_expected`.
    pub avails_expected: u8,
}

/// A `segmentation_descriptor` (tag 0x02, identifier `CUEI`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segmentation {
    /// `segmentation_event_id`.
    pub event_id: u32,
    /// `segmentation_event_cancel_indicator`.
    pub cancel: bool,
    /// `segmentation_type_id` (0x34: provider placement opportunity start, …).
    pub type_id: u8,
    /// `segmentation_duration` (90 kHz), when stated.
    pub duration: Option<u64>,
    /// `segmentation_upid_type`.
    pub upid_type: u8,
    /// `segmentation_upid`.
    pub upid: Vec<u8>,
}

impl Segmentation {
    /// Whether its type starts something a player leaves the program for (a break, an ad, a
    /// placement opportunity, …), ends one, or neither.
    pub fn signal(&self) -> Signal {
        match self.type_id {
            0x10 | 0x14 | 0x17 | 0x20 | 0x22 | 0x30 | 0x32 | 0x34 | 0x36 | 0x38 | 0x3A | 0x3C
            | 0x3E | 0x40 | 0x44 | 0x46 | 0x50 => Signal::Out,
            0x11 | 0x15 | 0x21 | 0x23 | 0x31 | 0x33 | 0x35 | 0x37 | 0x39 | 0x3B | 0x3D | 0x3F
            | 0x41 | 0x45 | 0x47 | 0x51 => Signal::In,
            _ => Signal::Other,
        }
    }
}

/// Which way a cue goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Signal {
    /// Leaves the network feed (a break starts): HLS `SCTE35-OUT`, `EXT-X-CUE-OUT`.
    Out,
    /// Returns to it: `SCTE35-IN`, `EXT-X-CUE-IN`.
    In,
    /// Anything else (`SCTE35-CMD`).
    Other,
}

/// What the origin reads from a section to place and signal it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cue {
    /// `splice_event_id`, or the first segmentation descriptor's `segmentation_event_id`.
    pub event_id: u32,
    /// Out, in or other.
    pub signal: Signal,
    /// The break's duration, 90 kHz, when stated.
    pub duration: Option<u64>,
    /// The splice point's PTS (`pts_time` + `pts_adjustment`, 33 bits), when stated.
    pub pts: Option<u64>,
    /// The event is withdrawn.
    pub cancel: bool,
}

impl SpliceInfo {
    /// The cue this section signals, if any (`splice_null`, bandwidth reservations and
    /// private commands signal none).
    pub fn cue(&self) -> Option<Cue> {
        let adjusted = |pts: Option<u64>| pts.map(|p| (p + self.pts_adjustment) & PTS_MASK);
        match &self.command {
            SpliceCommand::Insert(i) => Some(Cue {
                event_id: i.event_id,
                signal: if i.out_of_network {
                    Signal::Out
                } else {
                    Signal::In
                },
                duration: i.duration,
                pts: adjusted(i.pts),
                cancel: i.cancel,
            }),
            SpliceCommand::TimeSignal { pts } => {
                let seg = self.segmentation.first()?;
                Some(Cue {
                    event_id: seg.event_id,
                    signal: seg.signal(),
                    duration: seg.duration,
                    pts: adjusted(*pts),
                    cancel: seg.cancel,
                })
            }
            _ => None,
        }
    }
}

const PTS_MASK: u64 = (1 << 33) - 1;

/// Why a section was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Scte35Error {
    /// Shorter than its lengths say.
    #[error("SCTE-35 section truncated ({0})")]
    Truncated(&'static str),
    /// `table_id` is not 0xFC.
    #[error("not a splice_info_section (table_id {0:#04x}, want 0xfc)")]
    TableId(u8),
    /// CRC-32 does not match.
    #[error("SCTE-35 section CRC-32 mismatch")]
    Crc,
    /// An encrypted section (its command cannot be read without the key).
    #[error("encrypted SCTE-35 section (not supported)")]
    Encrypted,
    /// A command type this origin does not know.
    #[error("unknown splice_command_type {0:#04x}")]
    UnknownCommand(u8),
    /// A field that contradicts the others.
    #[error("SCTE-35 section invalid: {0}")]
    Invalid(&'static str),
}

/// Longest section accepted (`section_length` is 12 bits: 4096 bytes at most).
pub const MAX_SECTION: usize = 4096;

/// Parses one whole `splice_info_section` (nothing after it).
pub fn parse(data: &[u8]) -> Result<SpliceInfo, Scte35Error> {
    if data.len() < 3 {
        return Err(Scte35Error::Truncated("header"));
    }
    if data[0] != 0xFC {
        return Err(Scte35Error::TableId(data[0]));
    }
    let section_length = usize::from(u16::from_be_bytes([data[1], data[2]]) & 0x0FFF);
    let total = 3 + section_length;
    if data.len() < total {
        return Err(Scte35Error::Truncated("section_length"));
    }
    if data.len() > total {
        return Err(Scte35Error::Invalid("bytes after the section's CRC"));
    }
    // 3 header + 11 fixed + 2 descriptor loop length + 4 CRC.
    if total < 20 {
        return Err(Scte35Error::Truncated("fixed fields"));
    }
    let crc = u32::from_be_bytes([
        data[total - 4],
        data[total - 3],
        data[total - 2],
        data[total - 1],
    ]);
    if crc32_mpeg2(&data[..total - 4]) != crc {
        return Err(Scte35Error::Crc);
    }
    if data[4] & 0x80 != 0 {
        return Err(Scte35Error::Encrypted);
    }
    let pts_adjustment = (u64::from(data[4] & 1) << 32)
        | u64::from(u32::from_be_bytes([data[5], data[6], data[7], data[8]]));
    let tier = (u16::from(data[10]) << 4) | u16::from(data[11] >> 4);
    let command_length = usize::from(u16::from_be_bytes([data[11], data[12]]) & 0x0FFF);
    let command_type = data[13];
    let body = &data[14..total - 4];
    let stated = (command_length != 0xFFF).then_some(command_length);
    let (command, used) = parse_command(command_type, body, stated)?;
    // 0xFFF: a legacy "unknown" length; the parsed command says how long it was.
    if command_length != 0xFFF && command_length != used {
        return Err(Scte35Error::Invalid(
            "splice_command_length disagrees with the command",
        ));
    }
    let rest = &body[used..];
    if rest.len() < 2 {
        return Err(Scte35Error::Truncated("descriptor_loop_length"));
    }
    let loop_len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
    let descriptors = rest
        .get(2..2 + loop_len)
        .ok_or(Scte35Error::Truncated("descriptors"))?;
    Ok(SpliceInfo {
        pts_adjustment,
        tier,
        command,
        segmentation: parse_descriptors(descriptors)?,
    })
}

/// A reader over a command's bytes that says what was cut short.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Scte35Error> {
        let s = self
            .data
            .get(self.at..self.at + n)
            .ok_or(Scte35Error::Truncated(self.what))?;
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Scte35Error> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, Scte35Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, Scte35Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A 33-bit value after 7 bits of flags/reserved: 5 bytes.
    fn bits33(&mut self) -> Result<(u8, u64), Scte35Error> {
        let b = self.take(5)?;
        let v =
            (u64::from(b[0] & 1) << 32) | u64::from(u32::from_be_bytes([b[1], b[2], b[3], b[4]]));
        Ok((b[0], v))
    }
    /// `splice_time()`: the PTS when `time_specified_flag`.
    fn splice_time(&mut self) -> Result<Option<u64>, Scte35Error> {
        let first = *self
            .data
            .get(self.at)
            .ok_or(Scte35Error::Truncated(self.what))?;
        if first & 0x80 != 0 {
            Ok(Some(self.bits33()?.1))
        } else {
            self.take(1)?;
            Ok(None)
        }
    }
}

fn parse_command(
    kind: u8,
    body: &[u8],
    stated: Option<usize>,
) -> Result<(SpliceCommand, usize), Scte35Error> {
    let mut r = Reader {
        data: body,
        at: 0,
        what: "splice command",
    };
    let command = match kind {
        0x00 => SpliceCommand::Null,
        0x05 => SpliceCommand::Insert(parse_insert(&mut r)?),
        0x06 => SpliceCommand::TimeSignal {
            pts: r.splice_time()?,
        },
        0x07 => SpliceCommand::BandwidthReservation,
        // Passed on unread: they run to the stated length.
        0x04 | 0xFF => {
            let n = stated.ok_or(Scte35Error::Invalid(
                "splice_schedule or private_command without a splice_command_length",
            ))?;
            if n > body.len() || (kind == 0xFF && n < 4) {
                return Err(Scte35Error::Truncated("splice command"));
            }
            let command = if kind == 0x04 {
                SpliceCommand::Schedule
            } else {
                SpliceCommand::Private(r.u32()?)
            };
            return Ok((command, n));
        }
        other => return Err(Scte35Error::UnknownCommand(other)),
    };
    Ok((command, r.at))
}

fn parse_insert(r: &mut Reader<'_>) -> Result<SpliceInsert, Scte35Error> {
    let mut s = SpliceInsert {
        event_id: r.u32()?,
        ..SpliceInsert::default()
    };
    s.cancel = r.u8()? & 0x80 != 0;
    if s.cancel {
        return Ok(s);
    }
    let flags = r.u8()?;
    s.out_of_network = flags & 0x80 != 0;
    let program_splice = flags & 0x40 != 0;
    let duration_flag = flags & 0x20 != 0;
    s.immediate = flags & 0x10 != 0;
    if program_splice && !s.immediate {
        s.pts = r.splice_time()?;
    }
    if !program_splice {
        let count = r.u8()?;
        for _ in 0..count {
            r.u8()?;
            if !s.immediate {
                r.splice_time()?;
            }
        }
    }
    if duration_flag {
        let (flags, d) = r.bits33()?;
        s.auto_return = flags & 0x80 != 0;
        s.duration = Some(d);
    }
    s.unique_program_id = r.u16()?;
    s.avail_num = r.u8()?;
    s.avails_expected = r.u8()?;
    Ok(s)
}

fn parse_descriptors(mut data: &[u8]) -> Result<Vec<Segmentation>, Scte35Error> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < 2 {
            return Err(Scte35Error::Truncated("descriptor header"));
        }
        let (tag, len) = (data[0], usize::from(data[1]));
        let body = data
            .get(2..2 + len)
            .ok_or(Scte35Error::Truncated("descriptor"))?;
        data = &data[2 + len..];
        if tag != 0x02 || len < 4 || &body[..4] != b"CUEI" {
            continue;
        }
        out.push(parse_segmentation(&body[4..])?);
    }
    Ok(out)
}

fn parse_segmentation(data: &[u8]) -> Result<Segmentation, Scte35Error> {
    let mut r = Reader {
        data,
        at: 0,
        what: "segmentation_descriptor",
    };
    let mut s = Segmentation {
        event_id: r.u32()?,
        cancel: r.u8()? & 0x80 != 0,
        type_id: 0,
        duration: None,
        upid_type: 0,
        upid: Vec::new(),
    };
    if s.cancel {
        return Ok(s);
    }
    let flags = r.u8()?;
    let program = flags & 0x80 != 0;
    let has_duration = flags & 0x40 != 0;
    if !program {
        let count = r.u8()?;
        r.take(usize::from(count) * 6)?;
    }
    if has_duration {
        let b = r.take(5)?;
        s.duration = Some(b.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x)));
    }
    s.upid_type = r.u8()?;
    let upid_len = r.u8()?;
    s.upid = r.take(usize::from(upid_len))?.to_vec();
    s.type_id = r.u8()?;
    // segment_num, segments_expected (and sub-segments): not needed to place the cue.
    Ok(s)
}

#[cfg(test)]
mod tests;
