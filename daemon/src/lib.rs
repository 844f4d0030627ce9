//! `streampackd`: the thin I/O shell around `streampack-core`.
//!
//! # Layout
//! - [`config`]: defaults, TOML file, flags, validation.
//! - [`accept`]: a shard's listeners: accept, TLS handshake, HTTP/2 or HTTP/1.1, serve.
//! - [`server`]: start-up (state, listeners, one monoio executor per core, admin thread,
//!   readiness) and graceful shutdown; [`runtime`]: the io driver (io_uring or epoll) and the
//!   `SO_REUSEPORT` listeners.
//! - [`conn`]: one connection's reads and writes (head + shared body in one `writev`);
//!   [`send_buf`]: the per-shard pool of head buffers and iovec arrays those writes use.
//! - [`context`]: what every thread shares, built once by [`server`].
//! - [`ingest`] / [`pull`]: the two request handlers (pull's DASH `/time` and its 503 in its
//!   submodules); what a pull is answered with is decided by `streampack_core::http::answer`;
//!   [`ingest_auth`]: an ingest request's credentials (failed-login blocks, Digest replays).
//! - [`tls`]: the certificate and key, their rustls configurations, SIGHUP reload, expiry;
//!   [`conn::h2`]: HTTP/2 connections (by ALPN, or h2c with prior knowledge on plain pull).
//! - [`limits`]: connections per shard and per client, rate-limited logging of limit hits.
//! - [`shard`]: the owner side of a shard: the messages it takes, each owned channel's media
//!   (a `streampack_core::media::Media`, whatever the protocol), ingest applied, outputs
//!   published.
//! - [`registry`]: what every core reads lock-free.
//! - [`storage`]: the time-shift media store (a writer thread, the archives' indexes pulls
//!   read, retention by window and disk cap).
//! - [`admin`]: the Unix-socket control plane; [`persist`]: the state file.
//! - [`clock`], [`notify`]: clocks for the core; systemd notification.
//! - [`metrics`]: Prometheus metrics, live rates and state-change logs; [`access_log`]: the
//!   optional per-request log.

pub mod accept;
pub mod access_log;
pub mod admin;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod context;
pub mod ingest;
pub mod ingest_auth;
pub mod key_server;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod notify;
pub mod pages;
pub mod persist;
pub mod pull;
pub mod registry;
pub mod runtime;
pub mod send_buf;
pub mod server;
pub mod shard;
pub mod splice;
pub mod storage;
pub mod tls;
