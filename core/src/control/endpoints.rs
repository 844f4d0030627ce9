//! Endpoint rules: names unique in a channel, the type the channel's protocol allows, access
//! lists and AuthKeys validated.

use super::commands::{EndpointCreate, EndpointPatch};
use super::{ControlError, ControlState};
use crate::access::parse_cidr;
use crate::channel::config::AdMarkerStyle;
use crate::channel::config::{
    validate_auth_key, validate_endpoint_type, validate_manifest_name, validate_name,
    ChannelConfig, EndpointConfig, DEFAULT_MANIFEST_NAME,
};
use crate::channel::{Encryption, EndpointType, Protocol, MAX_KEY_ROTATION_SECS};
use crate::id::Id;

impl ControlState {
    /// Finds an endpoint of a channel by id or name.
    pub fn endpoint(
        &self,
        channel: &str,
        key: &str,
    ) -> Result<(&ChannelConfig, &EndpointConfig), ControlError> {
        let ci = self.channel_index(channel)?;
        let ei = self.endpoint_index(ci, key)?;
        Ok((&self.channels[ci], &self.channels[ci].endpoints[ei]))
    }

    /// Creates an endpoint on a channel.
    pub fn create_endpoint(
        &mut self,
        channel: &str,
        req: &EndpointCreate,
        new_id: &mut dyn FnMut() -> Id,
    ) -> Result<(&ChannelConfig, &EndpointConfig), ControlError> {
        let ci = self.channel_index(channel)?;
        validate_name("endpoint name", &req.name)?;
        let c = &self.channels[ci];
        let kind = req
            .kind
            .unwrap_or_else(|| c.protocol.default_endpoint_type());
        validate_endpoint_type(c.protocol, kind)?;
        let manifest_name = req
            .manifest_name
            .clone()
            .unwrap_or_else(|| DEFAULT_MANIFEST_NAME.into());
        validate_manifest_name(&manifest_name)?;
        if c.endpoints.iter().any(|e| e.name == req.name) {
            return Err(ControlError::Conflict(format!(
                "channel {:?} already has an endpoint named {:?}",
                c.name, req.name
            )));
        }
        if c.endpoints.len() >= self.limits.max_endpoints_per_channel {
            return Err(ControlError::Limit(format!(
                "at most {} endpoints per channel (limits.max_endpoints_per_channel)",
                self.limits.max_endpoints_per_channel
            )));
        }
        let allow = parse_cidrs("--allow", &req.allow)?;
        let block = parse_cidrs("--block", &req.block)?;
        let auth_keys = check_auth_keys(&req.auth_keys)?;
        if req.low_latency {
            check_low_latency(c.protocol, kind)?;
        }
        validate_encryption(
            (c.protocol, c.max_segment_duration),
            kind,
            req.encryption,
            req.key_rotation_secs,
            req.low_latency,
        )?;
        check_ad_markers(kind, req.ad_markers)?;
        check_inband_markers(c.protocol, kind, req.inband_markers, req.low_latency)?;
        let id = self.fresh_id(new_id, &[]);
        self.channels[ci].endpoints.push(EndpointConfig {
            id,
            name: req.name.clone(),
            kind,
            manifest_name,
            allow,
            block,
            auth_keys,
            low_latency: req.low_latency,
            encryption: req.encryption,
            key_rotation_secs: req.key_rotation_secs,
            key_server: check_key_server(req.encryption, req.key_server.as_deref())?,
            ad_markers: req.ad_markers,
            inband_markers: req.inband_markers,
        });
        let c = &self.channels[ci];
        Ok((c, &c.endpoints[c.endpoints.len() - 1]))
    }

    /// Edits an endpoint (name, manifest name; the type is fixed).
    pub fn edit_endpoint(
        &mut self,
        channel: &str,
        key: &str,
        patch: &EndpointPatch,
    ) -> Result<(&ChannelConfig, &EndpointConfig), ControlError> {
        let ci = self.channel_index(channel)?;
        let ei = self.endpoint_index(ci, key)?;
        let mut next = self.channels[ci].endpoints[ei].clone();
        if let Some(name) = &patch.name {
            validate_name("endpoint name", name)?;
            if self.channels[ci]
                .endpoints
                .iter()
                .any(|e| e.id != next.id && &e.name == name)
            {
                return Err(ControlError::Conflict(format!(
                    "channel {:?} already has an endpoint named {name:?}",
                    self.channels[ci].name
                )));
            }
            next.name = name.clone();
        }
        if let Some(m) = &patch.manifest_name {
            validate_manifest_name(m)?;
            next.manifest_name = m.clone();
        }
        if let Some(a) = &patch.allow {
            next.allow = parse_cidrs("--allow", a)?;
        }
        if let Some(b) = &patch.block {
            next.block = parse_cidrs("--block", b)?;
        }
        if let Some(k) = &patch.auth_keys {
            next.auth_keys = check_auth_keys(k)?;
        }
        if let Some(on) = patch.low_latency {
            if on {
                check_low_latency(self.channels[ci].protocol, next.kind)?;
            }
            next.low_latency = on;
        }
        if let Some(e) = patch.encryption {
            next.encryption = e;
            if !e.is_on() && patch.key_rotation_secs.is_none() {
                next.key_rotation_secs = 0;
            }
        }
        if let Some(r) = patch.key_rotation_secs {
            next.key_rotation_secs = r;
        }
        if let Some(url) = &patch.key_server {
            next.key_server = (!url.is_empty()).then(|| url.clone());
        }
        if !next.encryption.is_on() && patch.key_server.is_none() {
            next.key_server = None;
        }
        next.key_server = check_key_server(next.encryption, next.key_server.as_deref())?;
        if let Some(style) = patch.ad_markers {
            check_ad_markers(next.kind, style)?;
            next.ad_markers = style;
        }
        if let Some(on) = patch.inband_markers {
            next.inband_markers = on;
        }
        check_inband_markers(
            self.channels[ci].protocol,
            next.kind,
            next.inband_markers,
            next.low_latency,
        )?;
        validate_encryption(
            (
                self.channels[ci].protocol,
                self.channels[ci].max_segment_duration,
            ),
            next.kind,
            next.encryption,
            next.key_rotation_secs,
            next.low_latency,
        )?;
        self.channels[ci].endpoints[ei] = next;
        let c = &self.channels[ci];
        Ok((c, &c.endpoints[ei]))
    }

    /// Deletes an endpoint.
    pub fn delete_endpoint(
        &mut self,
        channel: &str,
        key: &str,
    ) -> Result<EndpointConfig, ControlError> {
        let ci = self.channel_index(channel)?;
        let ei = self.endpoint_index(ci, key)?;
        Ok(self.channels[ci].endpoints.remove(ei))
    }
}

/// Checks an endpoint's encryption settings against its type, its channel's protocol and its
/// other settings.
pub fn validate_encryption(
    (protocol, max_segment_secs): (Protocol, u32),
    kind: EndpointType,
    encryption: Encryption,
    key_rotation_secs: u32,
    low_latency: bool,
) -> Result<(), ControlError> {
    let invalid = |m: String| Err(ControlError::Invalid(m));
    match (encryption, kind) {
        (Encryption::None, _) if key_rotation_secs > 0 => {
            return invalid(
                "--key-rotation needs an encrypted endpoint: set --encryption too".into(),
            )
        }
        (Encryption::None, _) => return Ok(()),
        (Encryption::Aes128 | Encryption::SampleAes, EndpointType::Hls) => {}
        (Encryption::Cenc | Encryption::Cbcs, EndpointType::Cmaf) => {}
        (Encryption::Cenc | Encryption::Cbcs, EndpointType::Dash) if protocol == Protocol::Dash => {}
        (Encryption::Aes128 | Encryption::SampleAes, _) => {
            return invalid(format!(
                "--encryption {encryption} encrypts TS segments: it is for hls endpoints, not {kind} ones (cmaf endpoints take cenc or cbcs)"
            ))
        }
        (Encryption::Cenc | Encryption::Cbcs, _) => {
            return invalid(format!(
                "--encryption {encryption} encrypts CMAF tracks: it is for cmaf endpoints (and the dash endpoints of dash channels), not {kind} ones (hls endpoints take aes-128 or sample-aes)"
            ))
        }
    }
    if low_latency {
        return invalid(
            "an encrypted endpoint cannot be low-latency yet: turn one of --encryption and --low-latency off".into(),
        );
    }
    if key_rotation_secs > 0 && key_rotation_secs < max_segment_secs {
        return invalid(format!(
            "--key-rotation {key_rotation_secs}: keys change on segment boundaries, so a period shorter than the channel's longest segment ({max_segment_secs} s) would make one key per segment; give 0 or at least {max_segment_secs}"
        ));
    }
    if key_rotation_secs > MAX_KEY_ROTATION_SECS {
        return invalid(format!(
            "--key-rotation must be 0 (one key) to {MAX_KEY_ROTATION_SECS} seconds, got {key_rotation_secs}"
        ));
    }
    Ok(())
}

/// Longest key server URL.
const MAX_URL_LEN: usize = 2048;

/// Checks a SPEKE key server URL: `http(s)://…`, printable, only with encryption on.
fn check_key_server(
    encryption: Encryption,
    url: Option<&str>,
) -> Result<Option<String>, ControlError> {
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    if !encryption.is_on() {
        return Err(ControlError::Invalid(
            "--key-server needs an encrypted endpoint: set --encryption too".into(),
        ));
    }
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    let host_ok = url
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
    if !scheme_ok
        || !host_ok
        || url.len() > MAX_URL_LEN
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ControlError::Invalid(format!(
            "--key-server {url:?}: give the key server's http:// or https:// URL (at most {MAX_URL_LEN} characters, no spaces)"
        )));
    }
    Ok(Some(url.to_string()))
}

/// Parses a list of CIDRs; the error names the flag and the value.
fn parse_cidrs(flag: &str, list: &[String]) -> Result<Vec<ipnet::IpNet>, ControlError> {
    let mut out: Vec<ipnet::IpNet> = Vec::with_capacity(list.len());
    for s in list {
        let net = parse_cidr(s).map_err(|e| ControlError::Invalid(format!("{flag}: {}", e.0)))?;
        if !out.contains(&net) {
            out.push(net);
        }
    }
    Ok(out)
}

/// Low latency is offered where the channel's media comes in chunks: on the dash (LL-DASH)
/// and cmaf (LL-HLS and LL-DASH) endpoints of a dash channel.
fn check_low_latency(protocol: Protocol, kind: EndpointType) -> Result<(), ControlError> {
    if protocol == Protocol::Dash && matches!(kind, EndpointType::Dash | EndpointType::Cmaf) {
        return Ok(());
    }
    Err(ControlError::Invalid(format!(
        "--low-latency: a {kind} endpoint of a {protocol} channel has no low-latency form; low latency is offered on the dash and cmaf endpoints of dash channels (LL-DASH, LL-HLS), fed by a chunked CMAF push"
    )))
}

fn check_auth_keys(keys: &[String]) -> Result<Vec<String>, ControlError> {
    let mut out: Vec<String> = Vec::with_capacity(keys.len());
    for k in keys {
        validate_auth_key(k).map_err(|e| ControlError::Invalid(format!("--auth-key: {}", e.0)))?;
        if !out.contains(k) {
            out.push(k.clone());
        }
    }
    Ok(out)
}

/// In-band `emsg`s go into the CMAF segments the origin packages: a `cmaf` endpoint's of an
/// HLS channel, served whole (a low-latency endpoint's segments are read while they grow).
fn check_inband_markers(
    protocol: Protocol,
    kind: EndpointType,
    on: bool,
    low_latency: bool,
) -> Result<(), ControlError> {
    if !on {
        return Ok(());
    }
    let why = if kind != EndpointType::Cmaf {
        format!("it is a cmaf endpoint setting, and this is a {kind} endpoint")
    } else if protocol == Protocol::Dash {
        "a DASH channel's segments are its encoder's: signal the markers in its MPD (the default), or have the encoder write emsg".to_string()
    } else if low_latency {
        "low-latency segments are read while they grow, before an emsg could go in".to_string()
    } else {
        return Ok(());
    };
    Err(ControlError::Invalid(format!(
        "--inband-markers writes emsg boxes into the CMAF segments the origin packages: {why}"
    )))
}

/// `cue` and `passthrough` are HLS forms: a `dash` endpoint signals markers in its MPD only.
fn check_ad_markers(kind: EndpointType, style: AdMarkerStyle) -> Result<(), ControlError> {
    if kind == EndpointType::Dash
        && matches!(style, AdMarkerStyle::Cue | AdMarkerStyle::Passthrough)
    {
        return Err(ControlError::Invalid(format!(
            "--ad-markers {style} is an HLS playlist style: a dash endpoint takes daterange (an MPD EventStream, the default) or none"
        )));
    }
    Ok(())
}
