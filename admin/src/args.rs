//! Values of the command line: the parsers of flag values and the enums clap offers, mapped
//! to the core's types (which know nothing of clap).

use clap::ValueEnum;
use streampack_core::channel::config::{AdMarkerStyle, Encryption};
use streampack_core::channel::{EndpointType, Protocol};

/// `on`/`off` (also `true`/`false`, `yes`/`no`).
pub(crate) fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(format!("{s:?}: say on or off")),
    }
}

/// `edit` semantics of a repeatable list flag: given → replace, `--clear-…` → empty, else keep.
pub(crate) fn replace_list(given: Vec<String>, clear: bool) -> Option<Vec<String>> {
    if clear {
        Some(Vec::new())
    } else if given.is_empty() {
        None
    } else {
        Some(given)
    }
}

/// `--protocol` values (core's [`Protocol`] knows nothing of clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    Hls,
    Dash,
}

impl From<ProtocolArg> for Protocol {
    fn from(p: ProtocolArg) -> Protocol {
        match p {
            ProtocolArg::Hls => Protocol::Hls,
            ProtocolArg::Dash => Protocol::Dash,
        }
    }
}

/// `--type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EndpointTypeArg {
    Hls,
    Dash,
    Cmaf,
}

impl From<EndpointTypeArg> for EndpointType {
    fn from(t: EndpointTypeArg) -> EndpointType {
        match t {
            EndpointTypeArg::Hls => EndpointType::Hls,
            EndpointTypeArg::Dash => EndpointType::Dash,
            EndpointTypeArg::Cmaf => EndpointType::Cmaf,
        }
    }
}

/// `--encryption` values, as the daemon names them.
pub(crate) fn parse_encryption(s: &str) -> Result<Encryption, String> {
    Encryption::parse(s).ok_or_else(|| {
        let all: Vec<_> = Encryption::ALL.iter().map(|e| e.as_str()).collect();
        format!("{s:?}: say one of {}", all.join(", "))
    })
}

/// `--ad-markers`: a style the daemon knows, or the list of them.
pub(crate) fn parse_ad_markers(s: &str) -> Result<AdMarkerStyle, String> {
    AdMarkerStyle::parse(s).ok_or_else(|| {
        let all: Vec<_> = AdMarkerStyle::ALL.iter().map(|e| e.as_str()).collect();
        format!("{s:?}: say one of {}", all.join(", "))
    })
}

/// `--duration` of a splice: seconds (decimals allowed) as ms.
pub(crate) fn parse_seconds_ms(s: &str) -> Result<u64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(v.is_finite() && v > 0.0 && v <= 86_400.0) {
        return Err(format!("{s}: say more than 0 and at most 86400 seconds"));
    }
    Ok((v * 1000.0).round() as u64)
}
