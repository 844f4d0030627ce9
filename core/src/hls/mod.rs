//! HLS as the origin sees it: the playlists encoders push, parsed into plain data with
//! resolved URIs ([`parse`]), the origin's own playlists written by hand ([`render`]), the
//! object kinds an HLS input accepts ([`object`]), and an HLS channel's live media ([`media`]:
//! ingest store, output timeline, failover evidence, published snapshots), and the LL-HLS
//! delivery directives of playlist requests ([`directives`]: blocking reload, delta updates).
//!
//! The parsers and renderers know nothing about channels, inputs or time: [`media`] drives
//! them.

pub mod directives;
pub mod media;
pub mod object;
pub mod parse;
pub mod render;
pub mod render_ll;
pub mod webvtt;

pub use object::{classify, ObjectKind, PLAYLIST_CONTENT_TYPE};
pub use parse::{
    parse_playlist, resolve_uri, MasterPlaylistIn, MediaIn, MediaPlaylistIn, PlaylistIn, SegmentIn,
    VariantIn,
};
pub use render::{render_master, render_media, MediaPlaylistOut, SegmentOut};
