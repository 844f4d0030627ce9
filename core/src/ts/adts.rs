//! AAC in ADTS frames: header parsing, the AudioSpecificConfig for `esds`, raw frames.

use super::EsError;

/// Samples per AAC frame (AAC-LC, HE-AAC's core).
pub const FRAME_SAMPLES: u32 = 1024;

const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// What an ADTS header says about the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsConfig {
    /// MPEG-4 audio object type (profile + 1): 2 = AAC-LC.
    pub object_type: u8,
    pub sample_rate_index: u8,
    pub channel_config: u8,
}

impl AdtsConfig {
    /// Sampling frequency in Hz (0 for an index the table does not have).
    pub fn sample_rate(&self) -> u32 {
        SAMPLE_RATES
            .get(usize::from(self.sample_rate_index))
            .copied()
            .unwrap_or(0)
    }

    /// Channels; configuration 7 is 7.1 (8 channels).
    pub fn channels(&self) -> u16 {
        match self.channel_config {
            7 => 8,
            c => u16::from(c),
        }
    }

    /// AudioSpecificConfig (ISO 14496-3 1.6.2.1), two bytes.
    pub fn audio_specific_config(&self) -> [u8; 2] {
        [
            (self.object_type << 3) | (self.sample_rate_index >> 1),
            ((self.sample_rate_index & 1) << 7) | (self.channel_config << 3),
        ]
    }

    /// `mp4a.40.<object type>`.
    pub fn codecs(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }
}

/// One ADTS frame: its configuration and where its raw AAC payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsFrame {
    pub config: AdtsConfig,
    /// Header length (7, or 9 with CRC).
    pub header_len: usize,
    /// Whole frame length, header included.
    pub frame_len: usize,
}

/// The outcome of reading at the start of some bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adts {
    Frame(AdtsFrame),
    /// A frame header, but the frame is longer than the bytes given.
    Incomplete,
}

/// Reads the ADTS frame at the start of `data`.
pub fn parse_frame(data: &[u8]) -> Result<Adts, EsError> {
    if data.len() < 7 {
        return Ok(Adts::Incomplete);
    }
    if data[0] != 0xFF || data[1] & 0xF6 != 0xF0 {
        return Err(EsError::Invalid {
            what: "ADTS header",
            why: "no syncword".into(),
        });
    }
    let protection_absent = data[1] & 0x01 == 1;
    let profile = data[2] >> 6;
    let sample_rate_index = (data[2] >> 2) & 0x0F;
    let channel_config = ((data[2] & 0x01) << 2) | (data[3] >> 6);
    let frame_len = (usize::from(data[3] & 0x03) << 11)
        | (usize::from(data[4]) << 3)
        | usize::from(data[5] >> 5);
    let raw_blocks = data[6] & 0x03;
    let header_len = if protection_absent { 7 } else { 9 };
    if usize::from(sample_rate_index) >= SAMPLE_RATES.len() {
        return Err(EsError::Invalid {
            what: "ADTS header",
            why: format!("sampling frequency index {sample_rate_index}"),
        });
    }
    if channel_config == 0 {
        return Err(EsError::Invalid {
            what: "ADTS header",
            why: "channel configuration 0 (in-band PCE) is not supported".into(),
        });
    }
    if raw_blocks != 0 {
        return Err(EsError::Invalid {
            what: "ADTS header",
            why: "several raw data blocks per frame are not supported".into(),
        });
    }
    if frame_len <= header_len {
        return Err(EsError::Invalid {
            what: "ADTS header",
            why: format!("frame length {frame_len}"),
        });
    }
    if frame_len > data.len() {
        return Ok(Adts::Incomplete);
    }
    Ok(Adts::Frame(AdtsFrame {
        config: AdtsConfig {
            object_type: profile + 1,
            sample_rate_index,
            channel_config,
        },
        header_len,
        frame_len,
    }))
}

/// An ADTS header for a raw frame of `raw_len` bytes (tests and fuzzing).
#[cfg(any(test, feature = "fuzzing"))]
pub fn build_header(c: AdtsConfig, raw_len: usize) -> [u8; 7] {
    let len = raw_len + 7;
    [
        0xFF,
        0xF1,
        ((c.object_type - 1) << 6) | (c.sample_rate_index << 2) | (c.channel_config >> 2),
        ((c.channel_config & 3) << 6) | ((len >> 11) as u8 & 0x03),
        (len >> 3) as u8,
        ((len as u8 & 0x07) << 5) | 0x1F,
        0xFC,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const LC_48K_STEREO: AdtsConfig = AdtsConfig {
        object_type: 2,
        sample_rate_index: 3,
        channel_config: 2,
    };

    #[test]
    fn header_round_trip_and_asc() {
        let mut f = build_header(LC_48K_STEREO, 10).to_vec();
        f.extend_from_slice(&[0; 10]);
        let Adts::Frame(got) = parse_frame(&f).unwrap() else {
            panic!("incomplete")
        };
        assert_eq!(
            got,
            AdtsFrame {
                config: LC_48K_STEREO,
                header_len: 7,
                frame_len: 17
            }
        );
        assert_eq!(got.config.audio_specific_config(), [0x11, 0x90]);
        assert_eq!(got.config.codecs(), "mp4a.40.2");
        assert_eq!(
            (got.config.sample_rate(), got.config.channels()),
            (48000, 2)
        );
        assert_eq!(parse_frame(&f[..12]).unwrap(), Adts::Incomplete);
    }

    #[test]
    fn bad_headers() {
        assert!(parse_frame(&[0; 9]).is_err());
        let mut h = build_header(LC_48K_STEREO, 10);
        h[2] |= 0x3C; // sampling index 15
        assert!(parse_frame(&h).is_err());
    }
}
