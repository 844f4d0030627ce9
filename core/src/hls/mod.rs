//! HLS as the origin sees it: the playlists encoders push, parsed into plain data with
//! resolved URIs ([`parse`]), the origin's own playlists written by hand ([`render`]), and the
//! object kinds an HLS input accepts ([`object`]).
//!
//! Nothing here knows about channels, inputs or time: [`crate::channel::media`] drives it.

pub mod object;
pub mod parse;
pub mod render;

pub use object::{classify, ObjectKind, PLAYLIST_CONTENT_TYPE};
pub use parse::{
    parse_playlist, resolve_uri, MasterPlaylistIn, MediaIn, MediaPlaylistIn, PlaylistIn, SegmentIn,
    VariantIn,
};
pub use render::{render_master, render_media, MediaPlaylistOut, SegmentOut};
