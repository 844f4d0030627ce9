//! The command line: clap definitions and their mapping onto admin [`Request`]s.
//!
//! Only shapes are checked here (a number is a `u32`, a protocol is `hls` or `dash`); every
//! rule about values lives in the daemon, whose refusals already say what to fix.

pub use crate::args::EndpointTypeArg;
use crate::args::{parse_ad_markers, parse_encryption, parse_on_off, replace_list};
pub use crate::channel_args::{ChannelCreateArgs, ChannelEditArgs, ChannelSpliceArgs};
use clap::{ArgGroup, Args, Parser, Subcommand};
use std::path::PathBuf;
use streampack_core::admin::proto::{
    ChannelCreate, ChannelPatch, EndpointCreate, EndpointPatch, InputAuthAction, Request,
    SpliceSpec,
};
use streampack_core::channel::config::{AdMarkerStyle, Encryption};

/// Manage a running streampackd over its admin socket.
#[derive(Debug, Parser)]
#[command(name = "streampackctl", version)]
pub struct Cli {
    /// Admin socket of streampackd [default: $STREAMPACK_SOCKET, else
    /// /run/streampack/streampackd.sock if it exists, else the per-user socket of a daemon
    /// started without a config file: $XDG_RUNTIME_DIR/streampack/streampackd.sock, or
    /// /tmp/streampack-UID/streampackd.sock without XDG_RUNTIME_DIR]
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Print machine-readable JSON instead of text
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Channels: an ingest protocol, two inputs, and the endpoints players pull from
    #[command(subcommand)]
    Channel(ChannelCmd),
    /// Endpoints of a channel: the URLs players and CDNs pull from
    #[command(subcommand)]
    Endpoint(EndpointCmd),
    /// CDN playback domains of a channel
    #[command(subcommand)]
    Cdn(CdnCmd),
    /// Inputs of a channel: ingest credentials
    #[command(subcommand)]
    Input(InputCmd),
    /// Daemon version, uptime, URLs and totals
    Status,
    /// Cluster mode: the nodes, their URLs, liveness, the channel inputs each receives
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Write a closed window of an endpoint as a standalone VOD (needs a time-shift window)
    Harvest(crate::harvest::HarvestArgs),
    /// Serve the web console (channels, inputs, endpoints, CDN) over HTTP, talking to the
    /// daemon over the admin socket
    Console(crate::console::ConsoleArgs),
}

#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// Every node that joined: URLs, alive or not (its etcd lease), the inputs it receives
    Status,
}

#[derive(Debug, Subcommand)]
pub enum CdnCmd {
    /// Bind a playback domain: requests whose Host is DOMAIN are served this channel's endpoints
    Bind(CdnArgs),
    /// Unbind a playback domain
    Unbind(CdnArgs),
    /// List a channel's playback domains and the CDN URLs of its endpoints
    List {
        /// Channel id or name
        #[arg(value_name = "CH")]
        channel: String,
    },
}

#[derive(Debug, Args)]
pub struct CdnArgs {
    /// Channel id or name
    #[arg(value_name = "CH")]
    pub channel: String,
    /// Bare host name, e.g. live.example.com (a domain belongs to one channel at most)
    #[arg(value_name = "DOMAIN")]
    pub domain: String,
}

#[derive(Debug, Subcommand)]
pub enum InputCmd {
    /// Ingest authentication of an input: generated credentials, checked as HTTP Basic or Digest
    #[command(subcommand)]
    Auth(InputAuthCmd),
}

#[derive(Debug, Subcommand)]
pub enum InputAuthCmd {
    /// Require credentials; generates a username and a random password (shown by `channel show`)
    Enable(InputRef),
    /// Stop requiring credentials
    Disable(InputRef),
    /// Replace the credentials; the old ones fail at once unless --grace is given
    Rotate {
        #[command(flatten)]
        input: InputRef,
        /// Keep the old credentials valid this many seconds [default: 0]
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        grace: u32,
    },
}

#[derive(Debug, Args)]
pub struct InputRef {
    /// Channel id or name
    #[arg(value_name = "CH")]
    pub channel: String,
    /// 1 (primary), 2 (backup), or the input id
    #[arg(value_name = "INPUT")]
    pub input: String,
}

#[derive(Debug, Subcommand)]
pub enum ChannelCmd {
    /// Create a channel (its primary and backup inputs come with it)
    Create(ChannelCreateArgs),
    /// List all channels
    List,
    /// Show a channel: settings, input URLs, endpoints, live state
    Show {
        /// Channel id or name
        #[arg(value_name = "CH")]
        channel: String,
    },
    /// Change a channel's name, durations or description (the protocol is fixed)
    Edit(ChannelEditArgs),
    /// Delete a channel (delete its endpoints first)
    Delete {
        /// Channel id or name
        #[arg(value_name = "CH")]
        channel: String,
    },
    /// Insert a SCTE-35 ad break (splice_insert) at the next segment boundary, signalled on
    /// every endpoint as if the encoder had sent it
    Splice(ChannelSpliceArgs),
}

#[derive(Debug, Subcommand)]
pub enum EndpointCmd {
    /// Create an endpoint on a channel
    Create(EndpointCreateArgs),
    /// List a channel's endpoints
    List {
        /// Channel id or name
        #[arg(value_name = "CH")]
        channel: String,
    },
    /// Show one endpoint
    Show {
        /// Channel id or name
        #[arg(value_name = "CH")]
        channel: String,
        /// Endpoint id or name
        #[arg(value_name = "EP")]
        endpoint: String,
    },
    /// Change an endpoint's name or manifest name
    Edit(EndpointEditArgs),
    /// Delete an endpoint
    Delete {
        /// Channel id or name
        #[arg(value_name = "CH")]
        channel: String,
        /// Endpoint id or name
        #[arg(value_name = "EP")]
        endpoint: String,
    },
    /// List an encrypted endpoint's content keys (key id, key, from when)
    Keys {
        /// Channel id or name
        #[arg(value_name = "CH")]
        channel: String,
        /// Endpoint id or name
        #[arg(value_name = "EP")]
        endpoint: String,
    },
}

#[derive(Debug, Args)]
pub struct EndpointCreateArgs {
    /// Channel id or name
    #[arg(value_name = "CH")]
    pub channel: String,
    /// 1-32 letters, digits, '_' or '-', unique in the channel
    #[arg(long)]
    pub name: String,
    /// What it serves [daemon default: the channel's protocol]
    #[arg(long = "type", value_enum)]
    pub kind: Option<EndpointTypeArg>,
    /// Manifest file stem [daemon default: main]
    #[arg(long, value_name = "M")]
    pub manifest_name: Option<String>,
    /// Admit only clients in this IPv4/IPv6 CIDR (repeatable; none: everyone)
    #[arg(long, value_name = "CIDR")]
    pub allow: Vec<String>,
    /// Refuse clients in this CIDR (repeatable; wins over --allow)
    #[arg(long, value_name = "CIDR")]
    pub block: Vec<String>,
    /// Require this AuthKey in the request header X-TENCENT-PACKAGE (the daemon's
    /// `access.auth_key_header`); repeatable: any one is accepted
    #[arg(long = "auth-key", value_name = "KEY")]
    pub auth_keys: Vec<String>,
    /// Low latency: LL-DASH on a dash endpoint (segments announced before they are whole and
    /// streamed as their chunks arrive; needs an encoder that uploads chunked, e.g. ffmpeg
    /// `-streaming 1 -ldash 1`)
    #[arg(long)]
    pub low_latency: bool,
    /// Encrypt what it serves: aes-128 (hls endpoints: whole TS segments), sample-aes (hls
    /// endpoints: H.264/AAC samples in TS), cenc or cbcs (cmaf endpoints); keys served under
    /// the endpoint at keys/<kid>.key [default: none]
    #[arg(long, value_name = "SCHEME", value_parser = parse_encryption)]
    pub encryption: Option<Encryption>,
    /// A new content key every SECONDS, on a segment boundary (0: one key) [default: 0]
    #[arg(long, value_name = "SECONDS")]
    pub key_rotation: Option<u32>,
    /// Take the keys from this SPEKE v2 key server (CPIX over HTTP POST) instead of making
    /// them [default: the daemon makes and keeps them]
    #[arg(long, value_name = "URL")]
    pub key_server: Option<String>,
    /// How its manifests signal SCTE-35 ad markers: daterange (HLS EXT-X-DATERANGE), cue
    /// (HLS EXT-X-CUE-OUT/IN), passthrough (HLS: the encoder's tags as sent), none; DASH and
    /// CMAF MPDs carry an EventStream unless none [default: daterange]
    #[arg(long, value_name = "STYLE", value_parser = parse_ad_markers)]
    pub ad_markers: Option<AdMarkerStyle>,
    /// cmaf endpoints: SCTE-35 in-band too, an emsg box in the video segment that holds each
    /// splice point (InbandEventStream in the MPD)
    #[arg(long)]
    pub inband_markers: bool,
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("changes")
        .required(true)
        .multiple(true)
        .args([
            "name",
            "manifest_name",
            "allow",
            "block",
            "auth_keys",
            "clear_allow",
            "clear_block",
            "clear_auth_keys",
            "low_latency",
            "encryption",
            "key_rotation",
            "key_server",
            "ad_markers",
            "inband_markers",
        ])
))]
pub struct EndpointEditArgs {
    /// Channel id or name
    #[arg(value_name = "CH")]
    pub channel: String,
    /// Endpoint id or name
    #[arg(value_name = "EP")]
    pub endpoint: String,
    /// New name
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// New manifest file stem
    #[arg(long, value_name = "M")]
    pub manifest_name: Option<String>,
    /// Replace the allowlist with these CIDRs (repeatable)
    #[arg(long, value_name = "CIDR", conflicts_with = "clear_allow")]
    pub allow: Vec<String>,
    /// Replace the blocklist with these CIDRs (repeatable)
    #[arg(long, value_name = "CIDR", conflicts_with = "clear_block")]
    pub block: Vec<String>,
    /// Replace the AuthKeys (sent in the X-TENCENT-PACKAGE header) with these (repeatable)
    #[arg(
        long = "auth-key",
        value_name = "KEY",
        conflicts_with = "clear_auth_keys"
    )]
    pub auth_keys: Vec<String>,
    /// Empty the allowlist (everyone admitted unless blocked)
    #[arg(long)]
    pub clear_allow: bool,
    /// Empty the blocklist
    #[arg(long)]
    pub clear_block: bool,
    /// Require no AuthKey any more
    #[arg(long)]
    pub clear_auth_keys: bool,
    /// Turn low latency (LL-DASH) on or off
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    pub low_latency: Option<bool>,
    /// Change the encryption (none|aes-128|sample-aes|cenc|cbcs); new keys from the next
    /// segment on
    #[arg(long, value_name = "SCHEME", value_parser = parse_encryption)]
    pub encryption: Option<Encryption>,
    /// Change the key rotation period, seconds (0: one key)
    #[arg(long, value_name = "SECONDS")]
    pub key_rotation: Option<u32>,
    /// Take the keys from this SPEKE v2 key server ("" : the daemon's own keys again)
    #[arg(long, value_name = "URL")]
    pub key_server: Option<String>,
    /// Change how its manifests signal ad markers (daterange|cue|passthrough|none)
    #[arg(long, value_name = "STYLE", value_parser = parse_ad_markers)]
    pub ad_markers: Option<AdMarkerStyle>,
    /// Turn in-band SCTE-35 (emsg in a cmaf endpoint's segments) on or off
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    pub inband_markers: Option<bool>,
}

impl Command {
    /// The request this command sends.
    pub fn into_request(self) -> Request {
        match self {
            // main runs a harvest and the console itself (many requests); status is a
            // harvest's first.
            Command::Status | Command::Harvest(_) | Command::Console(_) => Request::Status,
            Command::Cluster(ClusterCmd::Status) => Request::ClusterStatus,
            Command::Cdn(c) => match c {
                CdnCmd::Bind(a) => Request::CdnBind {
                    channel: a.channel,
                    domain: a.domain,
                },
                CdnCmd::Unbind(a) => Request::CdnUnbind {
                    channel: a.channel,
                    domain: a.domain,
                },
                CdnCmd::List { channel } => Request::CdnList { channel },
            },
            Command::Input(InputCmd::Auth(a)) => {
                let (r, action) = match a {
                    InputAuthCmd::Enable(r) => (r, InputAuthAction::Enable),
                    InputAuthCmd::Disable(r) => (r, InputAuthAction::Disable),
                    InputAuthCmd::Rotate { input, grace } => {
                        (input, InputAuthAction::Rotate { grace_secs: grace })
                    }
                };
                Request::InputAuth {
                    channel: r.channel,
                    input: r.input,
                    action,
                }
            }
            Command::Channel(c) => match c {
                ChannelCmd::Create(a) => Request::ChannelCreate(ChannelCreate {
                    name: a.name,
                    protocol: a.protocol.into(),
                    max_segment_duration: a.max_segment_duration,
                    max_playlist_duration: a.max_playlist_duration,
                    description: a.description,
                    manifest_ttl: a.manifest_ttl,
                    segment_ttl: a.segment_ttl,
                    end_on_endlist: a.end_on_endlist.then_some(true),
                    timeshift_window_secs: a.timeshift_window,
                }),
                ChannelCmd::List => Request::ChannelList,
                ChannelCmd::Show { channel } => Request::ChannelShow { channel },
                ChannelCmd::Edit(a) => Request::ChannelEdit {
                    channel: a.channel,
                    patch: ChannelPatch {
                        name: a.name,
                        max_segment_duration: a.max_segment_duration,
                        max_playlist_duration: a.max_playlist_duration,
                        description: a.description,
                        manifest_ttl: a.manifest_ttl,
                        segment_ttl: a.segment_ttl,
                        end_on_endlist: a.end_on_endlist,
                        timeshift_window_secs: a.timeshift_window,
                    },
                },
                ChannelCmd::Delete { channel } => Request::ChannelDelete { channel },
                ChannelCmd::Splice(a) => Request::ChannelSplice {
                    channel: a.channel,
                    splice: SpliceSpec {
                        duration_ms: a.duration,
                        at: a.at,
                        event_id: a.id,
                        return_to_network: a.return_to_network,
                    },
                },
            },
            Command::Endpoint(e) => match e {
                EndpointCmd::Create(a) => Request::EndpointCreate {
                    channel: a.channel,
                    spec: EndpointCreate {
                        name: a.name,
                        kind: a.kind.map(Into::into),
                        manifest_name: a.manifest_name,
                        allow: a.allow,
                        block: a.block,
                        auth_keys: a.auth_keys,
                        low_latency: a.low_latency,
                        encryption: a.encryption.unwrap_or_default(),
                        key_rotation_secs: a.key_rotation.unwrap_or(0),
                        key_server: a.key_server,
                        ad_markers: a.ad_markers.unwrap_or_default(),
                        inband_markers: a.inband_markers,
                    },
                },
                EndpointCmd::List { channel } => Request::EndpointList { channel },
                EndpointCmd::Show { channel, endpoint } => {
                    Request::EndpointShow { channel, endpoint }
                }
                EndpointCmd::Edit(a) => Request::EndpointEdit {
                    channel: a.channel,
                    endpoint: a.endpoint,
                    patch: EndpointPatch {
                        name: a.name,
                        manifest_name: a.manifest_name,
                        allow: replace_list(a.allow, a.clear_allow),
                        block: replace_list(a.block, a.clear_block),
                        auth_keys: replace_list(a.auth_keys, a.clear_auth_keys),
                        low_latency: a.low_latency,
                        encryption: a.encryption,
                        key_rotation_secs: a.key_rotation,
                        key_server: a.key_server,
                        ad_markers: a.ad_markers,
                        inband_markers: a.inband_markers,
                    },
                },
                EndpointCmd::Delete { channel, endpoint } => {
                    Request::EndpointDelete { channel, endpoint }
                }
                EndpointCmd::Keys { channel, endpoint } => {
                    Request::EndpointKeys { channel, endpoint }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use streampack_core::channel::{EndpointType, Protocol};

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("streampackctl").chain(args.iter().copied()))
    }

    fn s(v: &str) -> String {
        v.to_string()
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_maps_to_its_request() -> Result<(), clap::Error> {
        let table: Vec<(&[&str], Request)> = vec![
            (&["status"], Request::Status),
            (&["cluster", "status"], Request::ClusterStatus),
            (
                &["channel", "create", "--name", "news", "--protocol", "hls"],
                Request::ChannelCreate(ChannelCreate {
                    name: s("news"),
                    protocol: Protocol::Hls,
                    ..ChannelCreate::default()
                }),
            ),
            (
                &[
                    "channel",
                    "create",
                    "--name",
                    "sport",
                    "--protocol",
                    "dash",
                    "--max-segment-duration",
                    "4",
                    "--max-playlist-duration",
                    "120",
                    "--description",
                    "Studio B",
                    "--manifest-ttl",
                    "2",
                    "--end-on-endlist",
                    "--timeshift-window",
                    "3600",
                ],
                Request::ChannelCreate(ChannelCreate {
                    name: s("sport"),
                    protocol: Protocol::Dash,
                    max_segment_duration: Some(4),
                    max_playlist_duration: Some(120),
                    description: Some(s("Studio B")),
                    manifest_ttl: Some(2),
                    segment_ttl: None,
                    end_on_endlist: Some(true),
                    timeshift_window_secs: Some(3600),
                }),
            ),
            (
                &["channel", "edit", "news", "--end-on-endlist", "false"],
                Request::ChannelEdit {
                    channel: s("news"),
                    patch: ChannelPatch {
                        end_on_endlist: Some(false),
                        ..ChannelPatch::default()
                    },
                },
            ),
            (
                &["channel", "edit", "news", "--timeshift-window", "0"],
                Request::ChannelEdit {
                    channel: s("news"),
                    patch: ChannelPatch {
                        timeshift_window_secs: Some(0),
                        ..ChannelPatch::default()
                    },
                },
            ),
            (&["channel", "list"], Request::ChannelList),
            (
                &["channel", "show", "news"],
                Request::ChannelShow { channel: s("news") },
            ),
            (
                &["channel", "edit", "news", "--name", "news2"],
                Request::ChannelEdit {
                    channel: s("news"),
                    patch: ChannelPatch {
                        name: Some(s("news2")),
                        ..ChannelPatch::default()
                    },
                },
            ),
            (
                &[
                    "channel",
                    "edit",
                    "news",
                    "--max-segment-duration",
                    "6",
                    "--max-playlist-duration",
                    "60",
                    "--description",
                    "",
                ],
                Request::ChannelEdit {
                    channel: s("news"),
                    patch: ChannelPatch {
                        name: None,
                        max_segment_duration: Some(6),
                        max_playlist_duration: Some(60),
                        description: Some(s("")),
                        ..Default::default()
                    },
                },
            ),
            (
                &["cdn", "bind", "news", "live.example.com"],
                Request::CdnBind {
                    channel: s("news"),
                    domain: s("live.example.com"),
                },
            ),
            (
                &["cdn", "unbind", "news", "live.example.com"],
                Request::CdnUnbind {
                    channel: s("news"),
                    domain: s("live.example.com"),
                },
            ),
            (
                &["cdn", "list", "news"],
                Request::CdnList { channel: s("news") },
            ),
            (
                &[
                    "channel",
                    "edit",
                    "news",
                    "--manifest-ttl",
                    "2",
                    "--segment-ttl",
                    "900",
                ],
                Request::ChannelEdit {
                    channel: s("news"),
                    patch: ChannelPatch {
                        manifest_ttl: Some(2),
                        segment_ttl: Some(900),
                        ..Default::default()
                    },
                },
            ),
            (
                &["input", "auth", "enable", "news", "1"],
                Request::InputAuth {
                    channel: s("news"),
                    input: s("1"),
                    action: InputAuthAction::Enable,
                },
            ),
            (
                &["input", "auth", "rotate", "news", "backup", "--grace", "30"],
                Request::InputAuth {
                    channel: s("news"),
                    input: s("backup"),
                    action: InputAuthAction::Rotate { grace_secs: 30 },
                },
            ),
            (
                &["input", "auth", "disable", "news", "2"],
                Request::InputAuth {
                    channel: s("news"),
                    input: s("2"),
                    action: InputAuthAction::Disable,
                },
            ),
            (
                &[
                    "endpoint",
                    "create",
                    "news",
                    "--name",
                    "sec",
                    "--allow",
                    "10.0.0.0/8",
                    "--allow",
                    "::1",
                    "--block",
                    "10.9.0.0/16",
                    "--auth-key",
                    "k1-aaaaaa",
                ],
                Request::EndpointCreate {
                    channel: s("news"),
                    spec: EndpointCreate {
                        name: s("sec"),
                        allow: vec![s("10.0.0.0/8"), s("::1")],
                        block: vec![s("10.9.0.0/16")],
                        auth_keys: vec![s("k1-aaaaaa")],
                        ..Default::default()
                    },
                },
            ),
            (
                &[
                    "endpoint",
                    "edit",
                    "news",
                    "sec",
                    "--clear-allow",
                    "--auth-key",
                    "a-key-111",
                    "--auth-key",
                    "b-key-222",
                ],
                Request::EndpointEdit {
                    channel: s("news"),
                    endpoint: s("sec"),
                    patch: EndpointPatch {
                        allow: Some(vec![]),
                        auth_keys: Some(vec![s("a-key-111"), s("b-key-222")]),
                        ..Default::default()
                    },
                },
            ),
            (
                &["channel", "delete", "news"],
                Request::ChannelDelete { channel: s("news") },
            ),
            (
                &["endpoint", "create", "news", "--name", "web"],
                Request::EndpointCreate {
                    channel: s("news"),
                    spec: EndpointCreate {
                        name: s("web"),
                        kind: None,
                        manifest_name: None,
                        ..Default::default()
                    },
                },
            ),
            (
                &[
                    "endpoint",
                    "create",
                    "news",
                    "--name",
                    "cmaf1",
                    "--type",
                    "cmaf",
                    "--manifest-name",
                    "index",
                ],
                Request::EndpointCreate {
                    channel: s("news"),
                    spec: EndpointCreate {
                        name: s("cmaf1"),
                        kind: Some(EndpointType::Cmaf),
                        manifest_name: Some(s("index")),
                        ..Default::default()
                    },
                },
            ),
            (
                &["endpoint", "list", "news"],
                Request::EndpointList { channel: s("news") },
            ),
            (
                &["endpoint", "show", "news", "web"],
                Request::EndpointShow {
                    channel: s("news"),
                    endpoint: s("web"),
                },
            ),
            (
                &["endpoint", "edit", "news", "web", "--manifest-name", "live"],
                Request::EndpointEdit {
                    channel: s("news"),
                    endpoint: s("web"),
                    patch: EndpointPatch {
                        name: None,
                        manifest_name: Some(s("live")),
                        ..Default::default()
                    },
                },
            ),
            (
                &["endpoint", "edit", "news", "web", "--name", "web2"],
                Request::EndpointEdit {
                    channel: s("news"),
                    endpoint: s("web"),
                    patch: EndpointPatch {
                        name: Some(s("web2")),
                        manifest_name: None,
                        ..Default::default()
                    },
                },
            ),
            (
                &["endpoint", "delete", "news", "web"],
                Request::EndpointDelete {
                    channel: s("news"),
                    endpoint: s("web"),
                },
            ),
        ];
        for (args, want) in table {
            assert_eq!(parse(args)?.command.into_request(), want, "{args:?}");
        }
        Ok(())
    }

    #[test]
    fn global_flags_go_before_or_after_the_subcommand() -> Result<(), clap::Error> {
        for args in [
            &["--socket", "/tmp/s", "--json", "channel", "list"][..],
            &["channel", "list", "--socket", "/tmp/s", "--json"][..],
            &["channel", "--json", "list", "--socket=/tmp/s"][..],
        ] {
            let cli = parse(args)?;
            assert!(cli.json, "{args:?}");
            assert_eq!(cli.socket, Some(PathBuf::from("/tmp/s")), "{args:?}");
            assert_eq!(cli.command.into_request(), Request::ChannelList);
        }
        let cli = parse(&["status"])?;
        assert!(!cli.json);
        assert_eq!(cli.socket, None);
        Ok(())
    }

    #[test]
    fn shapes_are_usage_errors() {
        use clap::error::ErrorKind;
        let table: &[(&[&str], ErrorKind)] = &[
            (&[], ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand),
            (
                &["channel", "create", "--name", "x"],
                ErrorKind::MissingRequiredArgument,
            ),
            (
                &["channel", "create", "--name", "x", "--protocol", "rtmp"],
                ErrorKind::InvalidValue,
            ),
            (
                &[
                    "channel",
                    "create",
                    "--name",
                    "x",
                    "--protocol",
                    "hls",
                    "--max-segment-duration",
                    "-1",
                ],
                ErrorKind::UnknownArgument,
            ),
            (
                &[
                    "channel",
                    "create",
                    "--name",
                    "x",
                    "--protocol",
                    "hls",
                    "--max-segment-duration",
                    "ten",
                ],
                ErrorKind::ValueValidation,
            ),
            (
                &[
                    "channel",
                    "create",
                    "--name",
                    "x",
                    "--protocol",
                    "hls",
                    "--max-playlist-duration",
                    "4294967296",
                ],
                ErrorKind::ValueValidation,
            ),
            (
                &["channel", "edit", "news", "--timeshift-window", "1h"],
                ErrorKind::ValueValidation,
            ),
            (
                &["channel", "edit", "news"],
                ErrorKind::MissingRequiredArgument,
            ),
            (
                &["endpoint", "edit", "news", "web"],
                ErrorKind::MissingRequiredArgument,
            ),
            (
                &[
                    "endpoint", "create", "news", "--name", "w", "--type", "rtmp",
                ],
                ErrorKind::InvalidValue,
            ),
            (
                &["endpoint", "show", "news"],
                ErrorKind::MissingRequiredArgument,
            ),
        ];
        for (args, kind) in table {
            assert_eq!(parse(args).err().map(|e| e.kind()), Some(*kind), "{args:?}");
        }
    }
}
