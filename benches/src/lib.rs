//! Benchmarks of streampack.
//!
//! - `benches/*.rs`: criterion benches of the core's hot paths (`cargo bench -p streampack-benches`):
//!   request heads, chunked bodies, playlist rendering (snapshot rebuilds), segment indexing on
//!   ingest.
//! - `streampack-load` (`src/bin/`): a load generator on monoio, the daemon's runtime: hammer one
//!   URL, simulate live players (HLS, and LL-HLS parked on blocking reloads), simulate encoders
//!   (HLS, and low-latency DASH replayed from a capture into many channels). See [`load`].
//! - `side-by-side.sh`: streampack against nginx on the same media, printing ratios.
//! - `ll-wakeup.sh`: LL-HLS blocking playlist reloads parked by the ten thousand on one live
//!   low-latency channel, or spread over many (`streampack-load ll-players`, fed by ffmpeg or
//!   by `streampack-load ll-encoders`): the wake-up spread, and what waiting costs the daemon.
//!
//! [`media`] builds the channel state the criterion benches start from.

pub mod load;
pub mod media;
