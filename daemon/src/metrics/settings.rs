//! The `[observability]` config section: where `/metrics` is served and where the access log
//! goes. Values are strings in TOML and on the command line (`off`, `ADDR:PORT`, `-`, a path).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

/// Observability settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Observability {
    /// Prometheus `/metrics` listener: `ADDR:PORT` or `off`. Loopback by default.
    pub metrics_listen: MetricsListen,
    /// Access log: `off` (default), `-` (standard output) or a file path (appended to).
    pub access_log: AccessLogTarget,
}

impl Default for Observability {
    fn default() -> Self {
        Observability {
            metrics_listen: MetricsListen::At(SocketAddr::from(([127, 0, 0, 1], 9464))),
            access_log: AccessLogTarget::Off,
        }
    }
}

/// Where `/metrics` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsListen {
    /// Not served.
    Off,
    /// Served on this address.
    At(SocketAddr),
}

impl FromStr for MetricsListen {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(MetricsListen::Off);
        }
        s.parse()
            .map(MetricsListen::At)
            .map_err(|_| format!("{s:?} is neither ADDR:PORT nor off"))
    }
}

impl fmt::Display for MetricsListen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsListen::Off => f.write_str("off"),
            MetricsListen::At(a) => write!(f, "{a}"),
        }
    }
}

/// Where access log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    /// Nowhere (default): no per-request work at all.
    Off,
    /// Standard output.
    Stdout,
    /// Appended to a file.
    File(PathBuf),
}

impl FromStr for AccessLogTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "" => return Err("empty access log path (use off, - or a path)".into()),
            "off" => AccessLogTarget::Off,
            "-" => AccessLogTarget::Stdout,
            p => AccessLogTarget::File(PathBuf::from(p)),
        })
    }
}

impl fmt::Display for AccessLogTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccessLogTarget::Off => f.write_str("off"),
            AccessLogTarget::Stdout => f.write_str("-"),
            AccessLogTarget::File(p) => write!(f, "{}", p.display()),
        }
    }
}

macro_rules! serde_as_string {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_as_string!(MetricsListen);
serde_as_string!(AccessLogTarget);

impl Observability {
    /// Refuses a metrics address that another listener already uses.
    pub fn validate(&self, ingest: SocketAddr, pull: SocketAddr) -> Result<(), String> {
        if let MetricsListen::At(a) = self.metrics_listen {
            if a == ingest || a == pull {
                return Err(format!(
                    "observability.metrics_listen {a} is also the ingest or pull address"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_and_prints_back() {
        for s in ["off", "127.0.0.1:9464", "[::1]:9000"] {
            assert_eq!(s.parse::<MetricsListen>().unwrap().to_string(), s);
        }
        assert!("nonsense".parse::<MetricsListen>().is_err());
        for s in ["off", "-", "/var/log/streampack/access.log"] {
            assert_eq!(s.parse::<AccessLogTarget>().unwrap().to_string(), s);
        }
        let o: Observability =
            toml::from_str("metrics_listen = \"off\"\naccess_log = \"-\"\n").unwrap();
        assert_eq!(o.metrics_listen, MetricsListen::Off);
        assert_eq!(o.access_log, AccessLogTarget::Stdout);
        let d = Observability::default();
        assert!(matches!(d.metrics_listen, MetricsListen::At(a) if a.ip().is_loopback()));
        assert_eq!(d.access_log, AccessLogTarget::Off);
    }
}
