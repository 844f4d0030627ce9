//! DASH as the origin sees it: the MPDs encoders push, parsed into plain data with expanded
//! templates and resolved paths ([`parse`]), and the origin's own MPDs ([`mpd`]: model and
//! renderer).
//!
//! Nothing here knows about channels, inputs or time beyond what callers pass in.

pub mod mpd;
pub mod parse;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod golden;
