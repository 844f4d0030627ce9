//! The owner's side of encrypted endpoints: one [`Encryptor`] per encrypted endpoint of a
//! channel, run on each publication of the channel's clear outputs, with the built-in key
//! store as their key source.

use std::sync::{Arc, Mutex};
use streampack_core::channel::config::{ChannelConfig, Encryption};
use streampack_core::encryption::{ContentKey, Encryptor, KeySource};
use streampack_core::id::Id;
use streampack_core::media::{MediaOutput, Published};
use streampack_core::time::Now;

use crate::key_server::{Fetch, KeyServers};
use crate::keys::KeyStore;

/// An encrypted endpoint's encryptor and what it needs to know of the endpoint.
#[derive(Debug)]
pub(super) struct EndpointEncryptor {
    endpoint: Id,
    manifest: String,
    kind: streampack_core::channel::EndpointType,
    encryptor: Encryptor,
    /// The SPEKE key server its keys come from (`None`: the key store makes them).
    key_server: Option<String>,
    /// Failures already logged.
    logged_failures: u64,
}

/// Brings `list` in line with the channel's encrypted endpoints; whether anything changed.
pub(super) fn follow(
    list: &mut Vec<EndpointEncryptor>,
    c: &ChannelConfig,
    pull_base: &str,
    now: Now,
) -> bool {
    let wanted = c.endpoints.iter().filter(|e| e.encryption.is_on());
    let same = list.len() == wanted.clone().count()
        && wanted.clone().zip(list.iter()).all(|(e, x)| {
            x.endpoint == e.id
                && x.manifest == e.manifest_name
                && x.key_server == e.key_server
                && x.encryptor.is_for(e.encryption, e.key_rotation_secs)
        });
    if same {
        return false;
    }
    let mut old = std::mem::take(list);
    for e in wanted {
        let keep = old.iter().position(|x| {
            x.endpoint == e.id
                && x.key_server == e.key_server
                && x.encryptor.is_for(e.encryption, e.key_rotation_secs)
        });
        let encryptor = match keep {
            Some(i) => old.swap_remove(i).encryptor,
            None => {
                Encryptor::new(e.encryption, e.key_rotation_secs, now).with_license_url(format!(
                    "{pull_base}/v1/{}/{}/{}",
                    c.id,
                    e.id,
                    streampack_core::encryption::clearkey::LICENSE_PATH
                ))
            }
        };
        list.push(EndpointEncryptor {
            endpoint: e.id,
            manifest: e.manifest_name.clone(),
            kind: e.kind,
            encryptor,
            key_server: e.key_server.clone(),
            logged_failures: 0,
        });
    }
    true
}

/// Moves the encrypted objects pulls made hot into pages of their own; how many moved.
pub(super) fn promote_hot(list: &mut [EndpointEncryptor]) -> usize {
    list.iter_mut()
        .map(|x| x.encryptor.promote_hot(&mut crate::pages::promote))
        .sum()
}

/// `published` with each encrypted endpoint's own output.
pub(super) fn outputs(
    list: &mut [EndpointEncryptor],
    published: &Published,
    channel: &Id,
    (keys, servers): (&Mutex<KeyStore>, &KeyServers),
    now: Now,
) -> Arc<Published> {
    let mut outs: Vec<(Id, Arc<dyn MediaOutput>)> = Vec::with_capacity(list.len());
    for x in list.iter_mut() {
        let Some(clear) = published.output(x.kind) else {
            continue;
        };
        let mut source = StoreSource {
            keys,
            servers,
            key_server: x.key_server.as_deref(),
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

/// The key store as one endpoint's key source: keys it makes, or keys its key server gave.
struct StoreSource<'a> {
    keys: &'a Mutex<KeyStore>,
    servers: &'a KeyServers,
    key_server: Option<&'a str>,
    channel: &'a Id,
    endpoint: &'a Id,
    scheme: Encryption,
    rotation_secs: u32,
    now: Now,
}

impl KeySource for StoreSource<'_> {
    fn key(&mut self, period: u64, _from_unix_ms: u64) -> Option<ContentKey> {
        if let Some(url) = self.key_server {
            return self.fetched(url, period);
        }
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

    fn drm_pssh(&mut self, kid: &[u8; 16]) -> Vec<streampack_core::encryption::cpix::SystemPssh> {
        if self.key_server.is_none() {
            return Vec::new();
        }
        let mut store = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        store.drm_pssh(self.channel, self.endpoint, kid)
    }

    fn why_missing(&self) -> String {
        match self.key_server {
            Some(url) => self.servers.why_missing(self.channel, self.endpoint, url),
            None => "this endpoint's content key cannot be stored: see the daemon's log".into(),
        }
    }
}

impl StoreSource<'_> {
    /// The key of `period` from the key server, asked for when it is not stored yet; the next
    /// period's is asked for ahead of use.
    fn fetched(&mut self, url: &str, period: u64) -> Option<ContentKey> {
        let setting = (self.scheme, self.rotation_secs);
        let (found, next_missing) = {
            let mut store = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            let found = store
                .fetched(self.channel, self.endpoint, setting, period, url)
                .unwrap_or(None);
            let next_missing = self.rotation_secs > 0
                && store
                    .fetched(self.channel, self.endpoint, setting, period + 1, url)
                    .unwrap_or(None)
                    .is_none();
            (found, next_missing)
        };
        let mut periods = Vec::new();
        if found.is_none() {
            periods.push(period);
        }
        if next_missing {
            periods.push(period + 1);
        }
        if !periods.is_empty() {
            self.servers.want(Fetch {
                channel: *self.channel,
                endpoint: *self.endpoint,
                url: url.to_string(),
                setting,
                periods,
            });
        }
        found
    }
}
