//! CMAF init segments: `ftyp` + `moov` describing exactly one track.

use super::writer::BoxWriter;
use super::FourCc;

/// The sample entry inside `stsd`, with its decoder configuration record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleEntry {
    /// `avc1` + `avcC` (parameter sets live here, not in the samples).
    Avc {
        width: u16,
        height: u16,
        avcc: Vec<u8>,
    },
    /// `hvc1` + `hvcC`.
    Hevc {
        width: u16,
        height: u16,
        hvcc: Vec<u8>,
    },
    /// `mp4a` + `esds` carrying the AudioSpecificConfig.
    Aac {
        sample_rate: u32,
        channels: u16,
        audio_specific_config: Vec<u8>,
    },
    /// `wvtt` + `vttC` (ISO/IEC 14496-30): WebVTT cues, in a `text` track.
    WebVtt {
        /// The `vttC` text (`WEBVTT`).
        config: String,
    },
}

/// What an init segment describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitParams {
    pub track_id: u32,
    pub timescale: u32,
    pub entry: SampleEntry,
    /// The CMAF media profile brand, if the track meets one (`cfhd`, `chhd`, `caac`).
    pub profile_brand: Option<FourCc>,
    /// `mdhd` language, ISO 639-2/T (`eng`); `und` when unknown.
    pub language: [u8; 3],
}

/// What a track's handler and media header say it is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Handler {
    Video,
    Sound,
    Text,
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// `ftyp` + `moov` for one track. Deterministic: the same parameters give the same bytes.
pub fn init_segment(p: &InitParams) -> Vec<u8> {
    let mut w = BoxWriter::with_capacity(1024);
    w.bx(b"ftyp", |w| {
        w.bytes(b"cmfc");
        w.u32(0);
        w.bytes(b"iso6");
        w.bytes(b"cmfc");
        if let Some(b) = &p.profile_brand {
            w.bytes(b);
        }
    });
    let (handler, width, height) = match &p.entry {
        SampleEntry::Avc { width, height, .. } | SampleEntry::Hevc { width, height, .. } => {
            (Handler::Video, *width, *height)
        }
        SampleEntry::Aac { .. } => (Handler::Sound, 0, 0),
        SampleEntry::WebVtt { .. } => (Handler::Text, 0, 0),
    };
    w.bx(b"moov", |w| {
        w.full(b"mvhd", 0, 0, |w| {
            w.u32(0); // creation_time
            w.u32(0); // modification_time
            w.u32(p.timescale);
            w.u32(0); // duration: unknown (fragmented)
            w.u32(0x0001_0000); // rate 1.0
            w.u16(0x0100); // volume 1.0
            w.zeros(10);
            MATRIX.iter().for_each(|&m| w.u32(m));
            w.zeros(24);
            w.u32(p.track_id.saturating_add(1)); // next_track_ID
        });
        w.bx(b"trak", |w| {
            // flags: enabled | in_movie | in_preview
            w.full(b"tkhd", 0, 0x7, |w| {
                w.u32(0);
                w.u32(0);
                w.u32(p.track_id);
                w.u32(0);
                w.u32(0); // duration
                w.zeros(8);
                w.u16(0); // layer
                w.u16(0); // alternate_group
                w.u16(if handler == Handler::Sound { 0x0100 } else { 0 });
                w.u16(0);
                MATRIX.iter().for_each(|&m| w.u32(m));
                w.u32(u32::from(width) << 16);
                w.u32(u32::from(height) << 16);
            });
            w.bx(b"mdia", |w| {
                w.full(b"mdhd", 0, 0, |w| {
                    w.u32(0);
                    w.u32(0);
                    w.u32(p.timescale);
                    w.u32(0);
                    w.u16(packed_language(p.language));
                    w.u16(0);
                });
                w.full(b"hdlr", 0, 0, |w| {
                    w.u32(0);
                    let (typ, name): (&[u8], &[u8]) = match handler {
                        Handler::Video => (b"vide", b"VideoHandler\0"),
                        Handler::Sound => (b"soun", b"SoundHandler\0"),
                        Handler::Text => (b"text", b"TextHandler\0"),
                    };
                    w.bytes(typ);
                    w.zeros(12);
                    w.bytes(name);
                });
                w.bx(b"minf", |w| {
                    match handler {
                        Handler::Video => w.full(b"vmhd", 0, 1, |w| w.zeros(8)),
                        Handler::Sound => w.full(b"smhd", 0, 0, |w| w.zeros(4)),
                        // ISO/IEC 14496-30 §7.4: text tracks use the null media header.
                        Handler::Text => w.full(b"nmhd", 0, 0, |_| {}),
                    }
                    w.bx(b"dinf", |w| {
                        w.full(b"dref", 0, 0, |w| {
                            w.u32(1);
                            w.full(b"url ", 0, 1, |_| {});
                        })
                    });
                    w.bx(b"stbl", |w| {
                        w.full(b"stsd", 0, 0, |w| {
                            w.u32(1);
                            sample_entry(w, &p.entry, p.track_id);
                        });
                        w.full(b"stts", 0, 0, |w| w.u32(0));
                        w.full(b"stsc", 0, 0, |w| w.u32(0));
                        w.full(b"stsz", 0, 0, |w| w.zeros(8));
                        w.full(b"stco", 0, 0, |w| w.u32(0));
                    });
                });
            });
        });
        w.bx(b"mvex", |w| {
            w.full(b"trex", 0, 0, |w| {
                w.u32(p.track_id);
                w.u32(1); // default_sample_description_index
                w.zeros(12);
            });
        });
    });
    w.into_vec()
}

/// ISO 639-2/T code packed in 15 bits (`mdhd`); anything not three lowercase letters is `und`.
fn packed_language(code: [u8; 3]) -> u16 {
    let code = if code.iter().all(u8::is_ascii_lowercase) {
        code
    } else {
        *b"und"
    };
    code.iter()
        .fold(0u16, |acc, &c| (acc << 5) | u16::from(c - 0x60))
}

fn visual_entry(
    w: &mut BoxWriter,
    typ: &FourCc,
    width: u16,
    height: u16,
    config_box: &FourCc,
    config: &[u8],
) {
    w.bx(typ, |w| {
        w.zeros(6);
        w.u16(1); // data_reference_index
        w.zeros(16); // pre_defined, reserved
        w.u16(width);
        w.u16(height);
        w.u32(0x0048_0000); // 72 dpi
        w.u32(0x0048_0000);
        w.u32(0);
        w.u16(1); // frame_count
        w.zeros(32); // compressorname
        w.u16(0x0018); // depth
        w.u16(0xFFFF); // pre_defined = -1
        w.bx(config_box, |w| w.bytes(config));
    });
}

fn sample_entry(w: &mut BoxWriter, entry: &SampleEntry, track_id: u32) {
    match entry {
        SampleEntry::Avc {
            width,
            height,
            avcc,
        } => visual_entry(w, b"avc1", *width, *height, b"avcC", avcc),
        SampleEntry::Hevc {
            width,
            height,
            hvcc,
        } => visual_entry(w, b"hvc1", *width, *height, b"hvcC", hvcc),
        SampleEntry::Aac {
            sample_rate,
            channels,
            audio_specific_config,
        } => {
            w.bx(b"mp4a", |w| {
                w.zeros(6);
                w.u16(1);
                w.zeros(8);
                w.u16(*channels);
                w.u16(16); // samplesize
                w.zeros(4);
                // 16.16 fixed point; rates above 65535 Hz do not fit (the esds says the truth).
                w.u32(sample_rate.min(&0xFFFF) << 16);
                w.full(b"esds", 0, 0, |w| esds(w, audio_specific_config, track_id));
            });
        }
        SampleEntry::WebVtt { config } => {
            w.bx(b"wvtt", |w| {
                w.zeros(6);
                w.u16(1); // data_reference_index
                w.bx(b"vttC", |w| w.bytes(config.as_bytes()));
            });
        }
    }
}

/// ES_Descriptor → DecoderConfigDescriptor (AAC, audio) → DecoderSpecificInfo (the ASC),
/// SLConfigDescriptor. Descriptor lengths use one byte: the ASC is a few bytes long.
fn esds(w: &mut BoxWriter, asc: &[u8], track_id: u32) {
    let asc = &asc[..asc.len().min(100)];
    let dsi_len = asc.len() as u8;
    let dcd_len = 13 + 2 + dsi_len;
    let es_len = 3 + 2 + dcd_len + 3;
    w.u8(0x03);
    w.u8(es_len);
    w.u16(track_id as u16);
    w.u8(0); // flags
    w.u8(0x04);
    w.u8(dcd_len);
    w.u8(0x40); // objectTypeIndication: MPEG-4 audio
    w.u8(0x15); // streamType audio (5) << 2 | reserved 1
    w.bytes(&[0, 0, 0]); // bufferSizeDB
    w.u32(0); // maxBitrate
    w.u32(0); // avgBitrate
    w.u8(0x05);
    w.u8(dsi_len);
    w.bytes(asc);
    w.u8(0x06);
    w.u8(1);
    w.u8(0x02);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::reader::{parse_boxes, top_level};

    fn aac() -> InitParams {
        InitParams {
            track_id: 2,
            timescale: 48000,
            entry: SampleEntry::Aac {
                sample_rate: 48000,
                channels: 2,
                audio_specific_config: vec![0x11, 0x90],
            },
            profile_brand: Some(*b"caac"),
            language: *b"und",
        }
    }

    #[test]
    fn audio_init_layout() {
        let b = init_segment(&aac());
        let tops: Vec<_> = top_level(&b).unwrap().into_iter().map(|t| t.0).collect();
        assert_eq!(tops, vec![*b"ftyp", *b"moov"]);
        let tree = parse_boxes(&b).unwrap();
        assert_eq!(tree[0].prefix, b"cmfc\0\0\0\0iso6cmfccaac");
        let stbl = tree[1].at(&[b"trak", b"mdia", b"minf", b"stbl"]).unwrap();
        let kids: Vec<_> = stbl.children.iter().map(|c| c.typ).collect();
        assert_eq!(kids, vec![*b"stsd", *b"stts", *b"stsc", *b"stsz", *b"stco"]);
        let esds = stbl.at(&[b"stsd", b"mp4a", b"esds"]).unwrap();
        assert!(esds.prefix.windows(4).any(|w| w == [0x05, 2, 0x11, 0x90]));
        let trex = tree[1].at(&[b"mvex", b"trex"]).unwrap();
        assert_eq!(&trex.prefix[4..8], &2u32.to_be_bytes());
        assert_eq!(init_segment(&aac()), b, "deterministic");
    }

    #[test]
    fn video_init_has_avcc() {
        let p = InitParams {
            track_id: 1,
            timescale: 90000,
            entry: SampleEntry::Avc {
                width: 640,
                height: 360,
                avcc: vec![1, 0x64, 0, 0x1e, 0xFF, 0xE0, 0],
            },
            profile_brand: None,
            language: *b"und",
        };
        let tree = parse_boxes(&init_segment(&p)).unwrap();
        let avc1 = tree[1]
            .at(&[b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"avc1"])
            .unwrap();
        assert_eq!(&avc1.prefix[24..28], &[2, 0x80, 1, 0x68]);
        assert_eq!(
            avc1.child(b"avcC").unwrap().prefix,
            vec![1, 0x64, 0, 0x1e, 0xFF, 0xE0, 0]
        );
        let tkhd = tree[1].at(&[b"trak", b"tkhd"]).unwrap();
        assert_eq!(
            &tkhd.prefix[tkhd.prefix.len() - 8..],
            &[2, 0x80, 0, 0, 1, 0x68, 0, 0]
        );
    }

    #[test]
    fn text_init_is_a_wvtt_track_with_the_null_media_header() {
        let p = InitParams {
            track_id: 3,
            timescale: 1000,
            entry: SampleEntry::WebVtt {
                config: "WEBVTT".into(),
            },
            profile_brand: None,
            language: *b"eng",
        };
        let tree = parse_boxes(&init_segment(&p)).unwrap();
        let mdia = tree[1].at(&[b"trak", b"mdia"]).unwrap();
        let hdlr = mdia.child(b"hdlr").unwrap();
        assert_eq!(&hdlr.prefix[8..12], b"text");
        let mdhd = mdia.child(b"mdhd").unwrap();
        // 'e' 'n' 'g' in 5 bits each.
        assert_eq!(&mdhd.prefix[20..22], &[0x15, 0xC7]);
        assert!(mdia.at(&[b"minf", b"nmhd"]).is_some());
        let wvtt = mdia.at(&[b"minf", b"stbl", b"stsd", b"wvtt"]).unwrap();
        assert_eq!(wvtt.child(b"vttC").unwrap().prefix, b"WEBVTT");
        assert_eq!(packed_language(*b"EN1"), 0x55C4, "und");
    }
}
