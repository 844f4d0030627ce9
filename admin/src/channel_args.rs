//! The arguments of the `channel` commands that take more than a channel name.

use crate::args::{parse_seconds_ms, ProtocolArg};
use clap::{ArgGroup, Args};

#[derive(Debug, Args)]
pub struct ChannelCreateArgs {
    /// 1-32 letters, digits, '_' or '-', unique
    #[arg(long)]
    pub name: String,
    /// What encoders push; fixed once created
    #[arg(long, value_enum)]
    pub protocol: ProtocolArg,
    /// Longest segment accepted, seconds [daemon default: 15]
    #[arg(long, value_name = "S")]
    pub max_segment_duration: Option<u32>,
    /// Length of the served window, seconds [daemon default: 600]
    #[arg(long, value_name = "S")]
    pub max_playlist_duration: Option<u32>,
    /// Free text
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Playlist Cache-Control max-age, seconds, 1-60 [daemon default: cache.manifest_max_age_secs]
    #[arg(long, value_name = "S")]
    pub manifest_ttl: Option<u32>,
    /// Segment Cache-Control max-age, seconds, 10-1800 [daemon default: cache.segment_max_age_secs]
    #[arg(long, value_name = "S")]
    pub segment_ttl: Option<u32>,
    /// An encoder's end of stream (EXT-X-ENDLIST, a static MPD) ends the presentation on the
    /// endpoints [default: the endpoints stay live and continue, behind a discontinuity, when
    /// the encoder starts again]
    #[arg(long)]
    pub end_on_endlist: bool,
    /// How far back players may seek, seconds, up to 1209600 (14 days); media that old is
    /// kept on disk [default: 0, off]
    #[arg(long, value_name = "SECONDS")]
    pub timeshift_window: Option<u64>,
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("changes")
        .required(true)
        .multiple(true)
        .args([
            "name",
            "max_segment_duration",
            "max_playlist_duration",
            "description",
            "manifest_ttl",
            "segment_ttl",
            "end_on_endlist",
            "timeshift_window",
        ])
))]
pub struct ChannelEditArgs {
    /// Channel id or name
    #[arg(value_name = "CH")]
    pub channel: String,
    /// New name
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// New longest segment, seconds
    #[arg(long, value_name = "S")]
    pub max_segment_duration: Option<u32>,
    /// New window length, seconds
    #[arg(long, value_name = "S")]
    pub max_playlist_duration: Option<u32>,
    /// New description ("" clears it)
    #[arg(long, value_name = "T")]
    pub description: Option<String>,
    /// New playlist Cache-Control max-age, seconds (1-60)
    #[arg(long, value_name = "S")]
    pub manifest_ttl: Option<u32>,
    /// New segment Cache-Control max-age, seconds (10-1800)
    #[arg(long, value_name = "S")]
    pub segment_ttl: Option<u32>,
    /// Whether an encoder's end of stream ends the presentation (true) or the endpoints stay
    /// live through an encoder restart (false)
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub end_on_endlist: Option<bool>,
    /// New time-shift window, seconds, up to 1209600 (14 days); 0 turns time-shift off
    #[arg(long, value_name = "SECONDS")]
    pub timeshift_window: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ChannelSpliceArgs {
    /// Channel id or name
    #[arg(value_name = "CH")]
    pub channel: String,
    /// The break's duration, seconds (required unless --return)
    #[arg(long, value_name = "S", value_parser = parse_seconds_ms, required_unless_present = "return_to_network")]
    pub duration: Option<u64>,
    /// When, as an RFC 3339 date (2026-12-07T18:00:00Z) [default: the next segment boundary]
    #[arg(long, value_name = "T")]
    pub at: Option<String>,
    /// splice_event_id [default: one the channel has not used]
    #[arg(long, value_name = "N")]
    pub id: Option<u32>,
    /// Return to the network early, ending the break in progress (or --id's)
    #[arg(long = "return", conflicts_with = "duration")]
    pub return_to_network: bool,
}
