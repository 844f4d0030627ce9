//! streampack's sans-io core: everything that can be decided from bytes and a clock reading
//! passed in, with no sockets, files or system clock.
//!
//! # Layout
//! - [`access`]: ingest credentials (Basic, rotation), endpoint IP lists and AuthKey.
//! - [`http`]: HTTP/1.1 request heads (on `httparse`), `Content-Length` and chunked bodies,
//!   response heads, limits, the status codes a client sees, request-target routing, and the
//!   bridge that serves HTTP/2 streams through the same engine.
//! - [`media`]: the media core: the interface every protocol's live media offers its owner
//!   ([`media::Media`]) and its outputs offer pulls ([`media::MediaOutput`]), failover, the
//!   objects served, the live status.
//! - [`hls`]: parsing the playlists encoders push (on `m3u8-rs`), rendering the origin's own, and
//!   an HLS channel's media ([`hls::media::HlsMedia`]).
//! - [`dash`]: the MPDs encoders push (parsed) and the origin's own (rendered), and a DASH
//!   channel's media ([`dash::DashMedia`]).
//! - [`channel`]: the operator's model (channel, inputs, endpoints, validation).
//! - [`ts`]: MPEG-2 transport stream demuxing (PAT/PMT, PES, H.264/H.265/ADTS, 33-bit time).
//! - [`fmp4`]: fragmented MP4 boxes: a writer, a reader, CMAF init and media segments.
//! - [`cmaf`]: TS segments repackaged into CMAF tracks (one init + one fragment per track), and
//!   the `cmaf` endpoints' packager (DASH MPD and fMP4 HLS from those tracks).
//! - [`admin`]: the control-plane protocol spoken over the Unix socket (postcard frames).
//! - [`control`]: the control domain: channels, endpoints, input auth and CDN domains as
//!   persisted (what survives a restart), the commands that change them, why one is refused.
//! - [`parse_error`]: why a pushed playlist or MPD was refused (a kind and a detail).
//! - [`timeshift`]: the time-shift archive's index and log, the `start`/`end`/`delay` query,
//!   and manifests over archived media.
//! - [`webvtt`]: WebVTT files read into cues, and cues written as CMAF `wvtt` samples.
//! - [`x509`]: a TLS certificate's expiry (`notAfter`), for the expiry log line and metric.
//! - [`id`]: 28-hex-character ids.
//! - [`time`]: the `now` callers pass in.
//! - `fuzzing` (tests and the `fuzzing` feature only): the fuzz targets' entry points.

pub mod access;
pub mod ad_markers;
pub mod admin;
pub mod channel;
pub mod cluster;
pub mod cmaf;
pub mod control;
pub mod dash;
pub mod encryption;
pub mod fmp4;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
#[cfg(test)]
mod golden;
pub mod hex;
pub mod hls;
pub mod http;
pub mod id;
pub mod media;
pub mod parse_error;
pub mod scte35;
pub mod time;
pub mod timeshift;
pub mod ts;
pub mod webvtt;
pub mod x509;
