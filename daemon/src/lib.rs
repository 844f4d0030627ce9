//! `streampackd`: the thin I/O shell around `streampack-core`.
//!
//! # Layout
//! - [`config`]: defaults, TOML file, flags, validation.
//! - [`server`]: start-up (state, `SO_REUSEPORT` listeners, one monoio executor per core with
//!   io_uring or epoll, admin thread, readiness) and graceful shutdown.
//! - [`conn`]: one connection's reads and writes (head + shared body in one `writev`).
//! - [`ingest`] / [`pull`]: the two request handlers; [`dash`]: DASH pieces of pull (`/time`);
//!   [`cmaf`]: the CMAF endpoints' packager (run by the owner) and lookup (used by pull).
//! - [`limits`]: connections per shard and per client, rate-limited logging of limit hits.
//! - [`shard`]: the owner side of a shard: channels' media state, ingest applied, snapshots published;
//!   [`media`]: that state, HLS or DASH by the channel's protocol.
//! - [`registry`]: what every core reads lock-free.
//! - [`admin`]: the Unix-socket control plane; [`persist`]: the state file.
//! - [`clock`], [`notify`]: clocks for the core; systemd notification.
//! - [`metrics`]: Prometheus metrics, live rates and state-change logs; [`access_log`]: the
//!   optional per-request log.

pub mod access_log;
pub mod admin;
pub mod clock;
pub mod cmaf;
pub mod config;
pub mod conn;
pub mod dash;
pub mod ingest;
pub mod limits;
pub mod media;
pub mod metrics;
pub mod notify;
pub mod persist;
pub mod pull;
pub mod registry;
pub mod server;
pub mod shard;
