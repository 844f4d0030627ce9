//! DASH as the origin sees it: the MPDs encoders push, parsed into plain data with expanded
//! templates and resolved paths ([`parse`]), and the origin's own MPDs ([`mpd`]: model and
//! renderer), and a DASH channel's media state ([`media`]: ingest store, output Periods,
//! failover, published snapshots).
//!
//! Sans-io like the rest of the core: callers pass bytes and `now` in.

pub mod media;
pub mod mpd;
pub mod parse;
pub mod template;

pub use media::{first_number, is_fmp4_segment_path, DashMedia, DashSnapshot};

#[cfg(test)]
mod golden;
