//! W3C ClearKey licences (Encrypted Media Extensions, "Clear Key" §9.1): a browser's ClearKey
//! CDM POSTs `{"kids": ["<base64url>"…], "type": "temporary"}` to the licence URL the MPD
//! names (`dashif:Laurl`), and gets the keys it asked for as a JSON Web Key set. The origin
//! answers for its encrypted endpoints, after the endpoint's access rules.

use super::keys::ContentKey;
use base64::Engine;

/// Where an endpoint's ClearKey licences are asked for, under the endpoint.
pub const LICENSE_PATH: &str = "keys/clearkey";

/// Largest licence request read.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

#[derive(serde::Deserialize)]
struct Request {
    kids: Vec<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

/// The licence for `request` from `keys` (the endpoint's), or why there is none (400 for a
/// request that is not one, 404 when it names none of the endpoint's keys).
pub fn license(request: &[u8], keys: &[ContentKey]) -> Result<String, (u16, &'static str)> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let req: Request = serde_json::from_slice(request).map_err(|_| {
        (
            400,
            "a ClearKey licence request is JSON: {\"kids\": [...], \"type\": \"temporary\"}",
        )
    })?;
    let mut out = Vec::new();
    for kid in &req.kids {
        let Ok(bytes) = b64.decode(kid.trim_end_matches('=')) else {
            return Err((400, "a key id of the request is not base64url"));
        };
        if let Some(k) = keys.iter().find(|k| k.kid[..] == bytes[..]) {
            out.push(
                serde_json::json!({"kty": "oct", "kid": b64.encode(k.kid), "k": b64.encode(k.key)}),
            );
        }
    }
    if out.is_empty() {
        return Err((
            404,
            "none of the requested key ids is a key of this endpoint",
        ));
    }
    // With key rotation, a CDM asks for the keys its init data names, and its session then
    // needs the next ones too: the endpoint's other current keys come along (a ClearKey CDM
    // takes every key of the set).
    for k in keys {
        let kid = b64.encode(k.kid);
        if !out.iter().any(|o| o["kid"] == kid.as_str()) {
            out.push(serde_json::json!({"kty": "oct", "kid": kid, "k": b64.encode(k.key)}));
        }
    }
    let kind = req.kind.unwrap_or_else(|| "temporary".into());
    Ok(serde_json::json!({"keys": out, "type": kind}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licences_hold_the_keys_asked_for_and_only_those() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let keys = [
            ContentKey {
                kid: [1; 16],
                key: [2; 16],
                period: 0,
            },
            ContentKey {
                kid: [3; 16],
                key: [4; 16],
                period: 1,
            },
        ];
        let req = format!(
            "{{\"kids\":[\"{}\",\"{}\"],\"type\":\"temporary\"}}",
            b64.encode([3u8; 16]),
            b64.encode([9u8; 16])
        );
        let out: serde_json::Value =
            serde_json::from_str(&license(req.as_bytes(), &keys).unwrap()).unwrap();
        assert_eq!(out["type"], "temporary");
        let got = out["keys"].as_array().unwrap();
        assert_eq!(
            got.len(),
            2,
            "the one asked for first, then the other current one: {out}"
        );
        assert_eq!(got[0]["kty"], "oct");
        assert_eq!(got[0]["kid"], b64.encode([3u8; 16]).as_str());
        assert_eq!(got[0]["k"], b64.encode([4u8; 16]).as_str());
        for (bad, status) in [
            ("not json", 400),
            ("{\"kids\":[\"***\"]}", 400),
            (
                &format!("{{\"kids\":[\"{}\"]}}", b64.encode([9u8; 16])) as &str,
                404,
            ),
        ] {
            assert_eq!(
                license(bad.as_bytes(), &keys).unwrap_err().0,
                status,
                "{bad}"
            );
        }
    }
}
