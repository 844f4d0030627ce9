//! Daemon configuration: one serde struct with embedded defaults, an optional TOML file, and
//! command-line flags that override both; `validate()` runs before anything starts.

use clap::Parser;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use streampack_core::admin::socket;

mod cluster;
mod sections;
mod validate;

pub use crate::metrics::settings::{AccessLogTarget, MetricsListen, Observability};
pub use cluster::ClusterSettings;
pub use sections::{Access, Cache, Failover, Limits, Listener, RevertMode, Storage, Tls};

/// Which io driver the executors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum IoDriver {
    /// io_uring, falling back to epoll when the ring cannot be created.
    Auto,
    /// io_uring only: fail to start without it.
    Uring,
    /// epoll only.
    Epoll,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything the daemon can be configured with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where channels, inputs and endpoints are persisted.
    pub state_dir: PathBuf,
    /// Where time-shifted media is kept on disk; default: `<state_dir>/media` (see
    /// [`Config::media_dir`]).
    pub media_dir: Option<PathBuf>,
    /// Admin socket path; default: `$RUNTIME_DIRECTORY/streampackd.sock` under systemd, else
    /// the per-user socket `streampackctl` looks for from any directory
    /// (`$XDG_RUNTIME_DIR/streampack/streampackd.sock`, or `/tmp/streampack-<uid>/…`).
    pub admin_socket: Option<PathBuf>,
    /// Group allowed to use the admin socket (mode 0660, owned by this group); unset: mode 0600,
    /// the daemon's user only.
    pub admin_socket_group: Option<String>,
    /// io driver choice.
    pub io_driver: IoDriver,
    /// Executor threads; 0 = one per available core.
    pub cores: usize,
    /// Log format.
    pub log_format: LogFormat,
    /// Where encoders push.
    pub ingest: Listener,
    /// Where players and CDNs pull.
    pub pull: Listener,
    /// Protocol limits and timeouts.
    pub limits: Limits,
    /// Cache lifetimes sent to players and CDNs.
    pub cache: Cache,
    /// Input failover policy of every channel (`docs/failover.md`).
    pub failover: Failover,
    /// Metrics listener and access log.
    pub observability: Observability,
    /// Endpoint access control: the AuthKey header and the proxies trusted for
    /// `X-Forwarded-For`.
    pub access: Access,
    /// Media kept on disk for time-shift.
    pub storage: Storage,
    /// Certificate and key of the TLS listeners (`ingest.tls_listen`, `pull.tls_listen`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// Cluster mode: the etcd the configuration lives in, this node's name.
    pub cluster: ClusterSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            state_dir: std::env::var_os("STATE_DIRECTORY")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("streampack-state")),
            media_dir: None,
            admin_socket: None,
            admin_socket_group: None,
            io_driver: IoDriver::Auto,
            cores: 0,
            log_format: LogFormat::Text,
            ingest: Listener {
                listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
                public_url: None,
                tls_listen: None,
            },
            pull: Listener {
                listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
                public_url: None,
                tls_listen: None,
            },
            limits: Limits::default(),
            cache: Cache::default(),
            failover: Failover::default(),
            observability: Observability::default(),
            access: Access::default(),
            storage: Storage::default(),
            tls: None,
            cluster: ClusterSettings::default(),
        }
    }
}

/// Command-line flags; each one overrides the config file.
#[derive(Debug, Parser)]
#[command(
    name = "streampackd",
    version,
    about = "streampack live packaging and origin daemon"
)]
pub struct Args {
    /// TOML config file (optional: embedded defaults otherwise).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// State directory (channels, inputs, endpoints).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Directory for time-shifted media (default: <state dir>/media).
    #[arg(long, value_name = "PATH")]
    pub media_dir: Option<PathBuf>,
    /// Most bytes of time-shifted media on disk (0 = no cap but the disk).
    #[arg(long, value_name = "BYTES")]
    pub storage_max_bytes: Option<u64>,
    /// Admin socket path.
    #[arg(long)]
    pub admin_socket: Option<PathBuf>,
    /// Ingest listen address (encoders push here).
    #[arg(long)]
    pub ingest_listen: Option<SocketAddr>,
    /// Pull listen address (players pull here).
    #[arg(long)]
    pub pull_listen: Option<SocketAddr>,
    /// Ingest listen address over TLS (HTTPS push; needs --tls-cert and --tls-key).
    #[arg(long, value_name = "ADDR:PORT")]
    pub ingest_tls_listen: Option<SocketAddr>,
    /// Pull listen address over TLS (HTTPS, HTTP/2 by ALPN; needs --tls-cert and --tls-key).
    #[arg(long, value_name = "ADDR:PORT")]
    pub pull_tls_listen: Option<SocketAddr>,
    /// PEM certificate chain of the TLS listeners (SIGHUP reloads it).
    #[arg(long, value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the TLS listeners (SIGHUP reloads it).
    #[arg(long, value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Base URL shown for inputs (e.g. behind NAT).
    #[arg(long)]
    pub public_ingest_url: Option<String>,
    /// Base URL shown for endpoints.
    #[arg(long)]
    pub public_pull_url: Option<String>,
    /// io driver.
    #[arg(long, value_enum)]
    pub io_driver: Option<IoDriver>,
    /// Executor threads (0 = one per core).
    #[arg(long)]
    pub cores: Option<usize>,
    /// Log format.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Prometheus `/metrics` listen address, or `off` (default 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR:PORT|off")]
    pub metrics_listen: Option<MetricsListen>,
    /// Access log: `off` (default), `-` for standard output, or a file to append to.
    #[arg(long, value_name = "PATH|-|off")]
    pub access_log: Option<AccessLogTarget>,
    /// Cluster mode: etcd client URLs, comma-separated (http://HOST:2379,…).
    #[arg(long, value_name = "URL[,URL…]", value_delimiter = ',')]
    pub cluster_etcd: Vec<String>,
    /// This node's name in the cluster (with --cluster-etcd).
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads the file (if any) and applies the flags.
    pub fn load(args: &Args) -> Result<Config, ConfigError> {
        let mut cfg = match &args.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(v) = &args.state_dir {
            cfg.state_dir = v.clone();
        }
        if let Some(v) = &args.media_dir {
            cfg.media_dir = Some(v.clone());
        }
        if let Some(v) = args.storage_max_bytes {
            cfg.storage.max_bytes = v;
        }
        if let Some(v) = &args.admin_socket {
            cfg.admin_socket = Some(v.clone());
        }
        if let Some(v) = args.ingest_listen {
            cfg.ingest.listen = v;
        }
        if let Some(v) = args.pull_listen {
            cfg.pull.listen = v;
        }
        if let Some(v) = args.ingest_tls_listen {
            cfg.ingest.tls_listen = Some(v);
        }
        if let Some(v) = args.pull_tls_listen {
            cfg.pull.tls_listen = Some(v);
        }
        match (&args.tls_cert, &args.tls_key, &mut cfg.tls) {
            (None, None, _) => {}
            (Some(c), Some(k), t) => {
                *t = Some(Tls {
                    cert: c.clone(),
                    key: k.clone(),
                })
            }
            (c, k, Some(t)) => {
                if let Some(c) = c {
                    t.cert = c.clone();
                }
                if let Some(k) = k {
                    t.key = k.clone();
                }
            }
            (_, _, None) => {
                return Err(ConfigError::Invalid(
                    "--tls-cert and --tls-key go together: give both".into(),
                ))
            }
        }
        if let Some(v) = &args.public_ingest_url {
            cfg.ingest.public_url = Some(v.clone());
        }
        if let Some(v) = &args.public_pull_url {
            cfg.pull.public_url = Some(v.clone());
        }
        if let Some(v) = args.io_driver {
            cfg.io_driver = v;
        }
        if let Some(v) = args.cores {
            cfg.cores = v;
        }
        if let Some(v) = args.log_format {
            cfg.log_format = v;
        }
        if let Some(v) = args.metrics_listen {
            cfg.observability.metrics_listen = v;
        }
        if let Some(v) = &args.access_log {
            cfg.observability.access_log = v.clone();
        }
        if !args.cluster_etcd.is_empty() {
            cfg.cluster.etcd = args.cluster_etcd.clone();
        }
        if let Some(v) = &args.node_name {
            cfg.cluster.node_name = Some(v.clone());
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// The admin socket path in effect.
    pub fn admin_socket_path(&self) -> PathBuf {
        if let Some(p) = &self.admin_socket {
            return p.clone();
        }
        match std::env::var_os("RUNTIME_DIRECTORY") {
            Some(dir) => PathBuf::from(dir).join(socket::SOCKET_NAME),
            None => socket::user_socket(
                std::env::var_os("XDG_RUNTIME_DIR").as_deref(),
                nix::unistd::geteuid().as_raw(),
            ),
        }
    }

    /// The media directory in effect: `media_dir`, else `media` under the state directory
    /// (so a `--state-dir` flag moves it along).
    pub fn media_dir(&self) -> PathBuf {
        self.media_dir
            .clone()
            .unwrap_or_else(|| self.state_dir.join("media"))
    }

    /// Executor threads in effect.
    pub fn shard_count(&self) -> usize {
        if self.cores > 0 {
            return self.cores;
        }
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use streampack_core::channel::InputRole;
    use streampack_core::media::{FailoverPolicy, Revert};

    #[test]
    fn defaults_are_valid_and_loopback() {
        let c = Config::default();
        c.validate().unwrap();
        assert!(c.ingest.listen.ip().is_loopback() && c.pull.listen.ip().is_loopback());
        assert_eq!(c.pull.base_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn file_and_flags_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "cores = 3\n[pull]\nlisten = \"127.0.0.1:9000\"\npublic_url = \"https://cdn.example/\"\n[limits]\nmax_object_bytes = 2048\n").unwrap();
        let args = Args::parse_from([
            "streampackd",
            "--config",
            f.to_str().unwrap(),
            "--cores",
            "2",
        ]);
        let c = Config::load(&args).unwrap();
        assert_eq!(c.cores, 2);
        assert_eq!(c.pull.listen.port(), 9000);
        assert_eq!(c.pull.base_url(), "https://cdn.example");
        assert_eq!(c.limits.max_object_bytes, 2048);
        assert_eq!(c.limits.max_headers, 64, "unset keys keep defaults");
    }

    #[test]
    fn media_dir_follows_the_state_dir_unless_set() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        let state = dir.path().join("st");
        let args = Args::parse_from(["streampackd", "--state-dir", state.to_str().unwrap()]);
        let c = Config::load(&args).unwrap();
        assert_eq!(c.media_dir(), state.join("media"));
        assert_eq!(c.storage, Storage::default());
        assert_eq!(c.storage.max_bytes, 0, "no cap by default");

        std::fs::write(
            &f,
            "media_dir = \"/srv/media\"\n[storage]\nmax_bytes = 1000000\n",
        )
        .unwrap();
        let c = Config::from_file(&f).unwrap();
        assert_eq!(c.media_dir(), PathBuf::from("/srv/media"));
        assert_eq!(c.storage.max_bytes, 1_000_000);
        let back: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!((back.media_dir(), back.storage), (c.media_dir(), c.storage));

        let args = Args::parse_from([
            "streampackd",
            "--config",
            f.to_str().unwrap(),
            "--media-dir",
            "/mnt/ts",
            "--storage-max-bytes",
            "5",
        ]);
        let c = Config::load(&args).unwrap();
        assert_eq!(c.media_dir(), PathBuf::from("/mnt/ts"));
        assert_eq!(c.storage.max_bytes, 5);

        std::fs::write(&f, "[storage]\nmax_byte = 1\n").unwrap();
        let e = Config::from_file(&f).unwrap_err().to_string();
        assert!(e.contains("max_byte"), "{e}");
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "colors = 3\n").unwrap();
        let e = Config::from_file(&f).unwrap_err().to_string();
        assert!(e.contains("colors"), "{e}");
        let mut c = Config::default();
        c.pull.listen = c.ingest.listen;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("same address"));
        let mut c = Config::default();
        c.cache.manifest_max_age_secs = 0;
        assert!(c.validate().is_err());
        for bad in [
            "[limits]\nmax_connections_per_ip = 0\n",
            "[limits]\nmax_connections = 0\n",
            "[limits]\nsend_timeout_secs = 0\n",
            "[limits]\nmax_channels = 0\n",
            "[limits]\nmax_endpoints_per_channel = 5000\n",
        ] {
            std::fs::write(&f, bad).unwrap();
            let c = Config::from_file(&f).unwrap();
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("limits."), "{bad}: {e}");
        }
        let mut c = Config::default();
        c.failover.timeout_pct = 50;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("failover.timeout_pct"));
    }

    #[test]
    fn access_section_is_validated() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "[access]\nauth_key_header = \"X-Edge-Key\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n",
        )
        .unwrap();
        let c = Config::from_file(&f).unwrap();
        c.validate().unwrap();
        assert_eq!(c.access.trusted_nets().unwrap().len(), 2);
        assert_eq!(
            Config::default().access.auth_key_header,
            "X-TENCENT-PACKAGE"
        );
        for (bad, why) in [
            ("[access]\nauth_key_header = \"X Key\"\n", "auth_key_header"),
            ("[access]\nauth_key_header = \"\"\n", "auth_key_header"),
            (
                "[access]\ntrusted_proxies = [\"10.0.0.1/8\"]\n",
                "did you mean 10.0.0.0/8",
            ),
            ("[access]\ntrusted_proxies = [\"cdn\"]\n", "trusted_proxies"),
        ] {
            std::fs::write(&f, bad).unwrap();
            let e = Config::from_file(&f)
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn failover_section_maps_to_the_core_policy() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "[failover]\ntimeout_pct = 150\npreferred = \"backup\"\nrevert = \"always\"\n",
        )
        .unwrap();
        let c = Config::from_file(&f).unwrap();
        let p = c.failover.policy();
        assert_eq!(p.timeout_pct, 150);
        assert_eq!(p.preferred, InputRole::Backup);
        assert_eq!(p.revert, Revert::Always);
        assert_eq!(p.healthy_segments, 3, "unset keys keep defaults");
        assert_eq!(
            Config::default().failover.policy(),
            FailoverPolicy::default()
        );
    }
}
