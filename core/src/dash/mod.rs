//! DASH as the origin sees it: the origin's own MPDs ([`mpd`]: model and renderer).
//!
//! Nothing here knows about channels, inputs or time beyond what callers pass in.

pub mod mpd;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod golden;
