//! The owner's side of encrypted endpoints: one [`Encryptor`] per encrypted endpoint of a
//! channel, run on each publication of the channel's clear outputs, with the built-in key
//! store as their key source.

use std::sync::{Arc, Mutex};
use streampack_core::channel::config::{ChannelConfig, Encryption};
use streampack_core::encryption::{ContentKey, Encryptor, KeySource};
use streampack_core::id::Id;
use streampack_core::media::{MediaOutput, Published};
use streampack_core::time::Now;

use crate::keys::KeyStore;

/// An encrypted endpoint's encryptor and what it needs to know of the endpoint.
#[derive(Debug)]
pub(super) struct EndpointEncryptor {
    endpoint: Id,
    manifest: String,
    kind: streampack_core::channel::EndpointType,
    encryptor: Encryptor,
    /// Failures already logged.
    logged_failures: u64,
}

/// Brings `list` in line with the channel's encrypted endpoints; whether anything changed.
pub(super) fn follow(list: &mut Vec<EndpointEncryptor>, c: &ChannelConfig, now: Now) -> bool {
    let wanted = c.endpoints.iter().filter(|e| e.encryption.is_on());
    let same = list.len() == wanted.clone().count()
        && wanted.clone().zip(list.iter()).all(|(e, x)| {
            x.endpoint == e.id
                && x.manifest == e.manifest_name
                && x.encryptor.is_for(e.encryption, e.key_rotation_secs)
        });
    if same {
        return false;
    }
    let mut old = std::mem::take(list);
    for e in wanted {
        let keep = old.iter().position(|x| {
            x.endpoint == e.id && x.encryptor.is_for(e.encryption, e.key_rotation_secs)
        });
        let encryptor = match keep {
            Some(i) => old.swap_remove(i).encryptor,
            None => Encryptor::new(e.encryption, e.key_rotation_secs, now),
        };
        list.push(EndpointEncryptor {
            endpoint: e.id,
            manifest: e.manifest_name.clone(),
            kind: e.kind,
            encryptor,
            logged_failures: 0,
        });
    }
    true
}

/// `published` with each encrypted endpoint's own output.
pub(super) fn outputs(
    list: &mut [EndpointEncryptor],
    published: &Published,
    channel: &Id,
    keys: &Mutex<KeyStore>,
    now: Now,
) -> Arc<Published> {
    let mut outs: Vec<(Id, Arc<dyn MediaOutput>)> = Vec::with_capacity(list.len());
    for x in list.iter_mut() {
        let Some(clear) = published.output(x.kind) else {
            continue;
        };
        let mut source = StoreSource {
            keys,
            channel,
            endpoint: &x.endpoint,
            scheme: x.encryptor.scheme(),
            rotation_secs: x.encryptor.rotation_secs(),
            now,
        };
        let out = x.encryptor.build(clear, &x.manifest, &mut source, now);
        if x.encryptor.failed > x.logged_failures {
            x.logged_failures = x.encryptor.failed;
            tracing::warn!(
                channel = %channel,
                endpoint = %x.endpoint,
                "a segment could not be encrypted and is not published on this endpoint: {}",
                x.encryptor.last_failure.as_deref().unwrap_or("unknown")
            );
        }
        outs.push((x.endpoint, Arc::new(out)));
    }
    Arc::new(published.with_endpoint_outputs(outs))
}

/// The key store as one endpoint's key source.
struct StoreSource<'a> {
    keys: &'a Mutex<KeyStore>,
    channel: &'a Id,
    endpoint: &'a Id,
    scheme: Encryption,
    rotation_secs: u32,
    now: Now,
}

impl KeySource for StoreSource<'_> {
    fn key(&mut self, period: u64, _from_unix_ms: u64) -> Option<ContentKey> {
        let mut store = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let made = store.key(
            self.channel,
            self.endpoint,
            self.scheme,
            self.rotation_secs,
            period,
            self.now.unix_ms,
        );
        match made {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::error!(
                    channel = %self.channel,
                    endpoint = %self.endpoint,
                    "no content key for period {period}: {e}; new segments are not published on this endpoint until a key is stored"
                );
                None
            }
        }
    }
}
