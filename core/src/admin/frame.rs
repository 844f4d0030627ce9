//! Frames on the admin socket: `u32` big-endian length of what follows, `u16` big-endian
//! protocol version, then one postcard-encoded message. Decoding is sans-io: "need more bytes"
//! is `Ok(None)`, not an error.

use serde::{de::DeserializeOwned, Serialize};

/// Version of the admin protocol. Bumped on any incompatible change of [`super::proto`].
pub const PROTOCOL_VERSION: u16 = 11;
/// Largest frame accepted (a full channel list stays far below this).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The peer speaks another protocol version.
    #[error("admin protocol version mismatch: peer speaks {peer}, this build speaks {PROTOCOL_VERSION}; use a streampackctl from the same release as streampackd")]
    Version {
        /// Version the peer sent.
        peer: u16,
    },
    /// Declared length over [`MAX_FRAME`] or under the version field.
    #[error("admin frame length {0} is invalid")]
    Length(usize),
    /// The payload is not a valid message.
    #[error("admin message is malformed: {0}")]
    Malformed(String),
}

/// Encodes one message as a frame.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let body = postcard::to_allocvec(msg).map_err(|e| FrameError::Malformed(e.to_string()))?;
    let len = body.len() + 2;
    if len > MAX_FRAME {
        return Err(FrameError::Length(len));
    }
    let mut out = Vec::with_capacity(4 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes one frame from the front of `buf`: `Ok(Some((msg, consumed)))`, or `Ok(None)` when
/// more bytes are needed.
pub fn decode<T: DeserializeOwned>(buf: &[u8]) -> Result<Option<(T, usize)>, FrameError> {
    let Some(head) = buf.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if !(2..=MAX_FRAME).contains(&len) {
        return Err(FrameError::Length(len));
    }
    let Some(frame) = buf.get(4..4 + len) else {
        return Ok(None);
    };
    let peer = u16::from_be_bytes([frame[0], frame[1]]);
    if peer != PROTOCOL_VERSION {
        return Err(FrameError::Version { peer });
    }
    let msg =
        postcard::from_bytes(&frame[2..]).map_err(|e| FrameError::Malformed(e.to_string()))?;
    Ok(Some((msg, 4 + len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::proto::{ChannelCreate, Request};
    use crate::channel::Protocol;
    use proptest::prelude::*;

    #[test]
    fn round_trip_split_at_every_byte() {
        let req = Request::ChannelCreate(ChannelCreate {
            name: "news".into(),
            protocol: Protocol::Hls,
            max_segment_duration: Some(4),
            max_playlist_duration: None,
            description: Some("d".into()),
            manifest_ttl: Some(2),
            segment_ttl: None,
            end_on_endlist: Some(true),
            timeshift_window_secs: Some(3600),
        });
        let bytes = encode(&req).unwrap();
        for cut in 0..bytes.len() {
            assert_eq!(decode::<Request>(&bytes[..cut]).unwrap(), None, "cut {cut}");
        }
        let (back, used) = decode::<Request>(&bytes).unwrap().unwrap();
        assert_eq!((back, used), (req, bytes.len()));
    }

    #[test]
    fn bad_frames_are_errors() {
        assert_eq!(
            decode::<Request>(&[0, 0, 0, 1, 0]),
            Err(FrameError::Length(1))
        );
        assert_eq!(
            decode::<Request>(&[0xff, 0xff, 0xff, 0xff]),
            Err(FrameError::Length(0xffff_ffff))
        );
        assert_eq!(
            decode::<Request>(&[0, 0, 0, 3, 0, 2, 0]),
            Err(FrameError::Version { peer: 2 })
        );
        let [v0, v1] = PROTOCOL_VERSION.to_be_bytes();
        assert!(matches!(
            decode::<Request>(&[0, 0, 0, 3, v0, v1, 0xee]),
            Err(FrameError::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode::<Request>(&bytes);
        }
    }
}
