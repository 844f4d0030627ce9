//! The built-in key provider: random content keys, one per endpoint and rotation period,
//! kept in `<state_dir>/keys/<channel>.json` (directory 0700, files 0600, written atomically)
//! so that media encrypted before a restart stays playable after it. A key is handed out
//! only once it is on disk. On a cluster node the keys are not random but derived from the
//! cluster's key master in etcd ([`streampack_core::cluster::derive_content_key`]), so every
//! node encrypting a channel uses the same keys.

use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use streampack_core::channel::config::Encryption;
use streampack_core::encryption::cpix::{Answer, SystemPssh};
use streampack_core::encryption::ContentKey;
use streampack_core::hex::{encode, parse16};
use streampack_core::id::Id;

/// Keys older than this (by their period's start) are forgotten when a new one is made:
/// beyond the longest time-shift window, nothing they encrypted can still be served.
const KEEP_MS: u64 = 15 * 86_400_000;
/// At most this many keys per endpoint are kept (the newest).
const KEEP_KEYS: usize = 10_000;

/// One stored key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    kid: String,
    key: String,
    period: u64,
    rotation_secs: u32,
    scheme: Encryption,
    /// The key server it came from (`None`: made here).
    #[serde(default)]
    server: Option<String>,
    /// Other DRM systems' `pssh` boxes for it, as the key server gave them.
    #[serde(default)]
    pssh: Vec<StoredPssh>,
}

/// A DRM system's `pssh` box (base64), or its HLS key tag (FairPlay).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredPssh {
    system: String,
    pssh: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hls_key_tag: Option<String>,
}

impl Stored {
    fn content_key(&self) -> Option<ContentKey> {
        Some(ContentKey {
            kid: parse16(&self.kid)?,
            key: parse16(&self.key)?,
            period: self.period,
        })
    }
}

/// A channel's file: keys by endpoint id, oldest first.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ChannelKeys {
    endpoints: BTreeMap<String, Vec<Stored>>,
}

/// Every channel's keys, loaded from disk on first use.
#[derive(Debug)]
pub struct KeyStore {
    dir: PathBuf,
    channels: HashMap<Id, ChannelKeys>,
    /// Cluster mode: keys are derived from this (none made before it is known).
    cluster_master: Option<Option<[u8; 32]>>,
}

/// A key as listed for the operator.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The key.
    pub key: ContentKey,
    /// The rotation period it was made for (seconds; 0: one key).
    pub rotation_secs: u32,
}

impl KeyStore {
    /// The store under `state_dir` (nothing is read until a channel's keys are asked for).
    pub fn new(state_dir: &std::path::Path) -> KeyStore {
        KeyStore {
            dir: state_dir.join("keys"),
            channels: HashMap::new(),
            cluster_master: None,
        }
    }

    /// A cluster node's store: keys derived from the cluster's key master, given with
    /// [`KeyStore::set_master`] (until then none is made).
    pub fn for_cluster(mut self) -> KeyStore {
        self.cluster_master = Some(None);
        self
    }

    /// The cluster's key master, read from etcd.
    pub fn set_master(&mut self, master: [u8; 32]) {
        self.cluster_master = Some(Some(master));
    }

    fn file(&self, channel: &Id) -> String {
        format!("{channel}.json")
    }

    fn load(&mut self, channel: &Id) -> std::io::Result<&mut ChannelKeys> {
        if !self.channels.contains_key(channel) {
            let path = self.dir.join(self.file(channel));
            let keys = match std::fs::read(&path) {
                Ok(b) => serde_json::from_slice(&b)
                    .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => ChannelKeys::default(),
                Err(e) => {
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("{}: {e}", path.display()),
                    ))
                }
            };
            self.channels.insert(*channel, keys);
        }
        self.channels
            .get_mut(channel)
            .ok_or_else(|| std::io::Error::other("key store"))
    }

    /// An endpoint's stored keys, oldest first.
    fn stored(&mut self, channel: &Id, endpoint: &Id) -> std::io::Result<&[Stored]> {
        let keys = self.load(channel)?;
        Ok(keys
            .endpoints
            .get(&endpoint.to_string())
            .map_or(&[], Vec::as_slice))
    }

    /// The endpoint's key for `period`, made (random) and written to disk when it has none.
    pub fn key(
        &mut self,
        channel: &Id,
        endpoint: &Id,
        scheme: Encryption,
        rotation_secs: u32,
        period: u64,
        now_unix_ms: u64,
    ) -> std::io::Result<ContentKey> {
        let stored = self.stored(channel, endpoint)?;
        let found = find(stored, (scheme, rotation_secs), period, None);
        if let Some(k) = found.and_then(Stored::content_key) {
            return Ok(k);
        }
        let key = self.new_key(channel, endpoint, (scheme, rotation_secs), period)?;
        let made = Stored {
            kid: encode(&key.kid),
            key: encode(&key.key),
            period,
            rotation_secs,
            scheme,
            server: None,
            pssh: Vec::new(),
        };
        let keys = self.load(channel)?;
        let list = keys.endpoints.entry(endpoint.to_string()).or_default();
        let before = list.clone();
        list.push(made);
        Self::prune(list, now_unix_ms);
        self.save_or_restore(channel, endpoint, before)?;
        Ok(key)
    }

    /// A key for `period` not stored yet: random, or on a cluster node derived from the
    /// cluster's key master (none before it is known).
    fn new_key(
        &self,
        channel: &Id,
        endpoint: &Id,
        (scheme, rotation_secs): (Encryption, u32),
        period: u64,
    ) -> std::io::Result<ContentKey> {
        match self.cluster_master {
            None => {
                let mut random = [0u8; 32];
                getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
                let (kid, key) = random.split_at(16);
                Ok(ContentKey {
                    kid: kid.try_into().map_err(|_| std::io::Error::other("key"))?,
                    key: key.try_into().map_err(|_| std::io::Error::other("key"))?,
                    period,
                })
            }
            Some(None) => Err(std::io::Error::other(
                "the cluster's key master is not known yet (etcd not reached since start)",
            )),
            Some(Some(master)) => Ok(streampack_core::cluster::derive_content_key(
                &master,
                channel,
                endpoint,
                &scheme.to_string(),
                rotation_secs,
                period,
            )),
        }
    }

    /// Writes the channel's file; when that fails, the endpoint's keys go back to `before`:
    /// a key is handed out only once it is on disk.
    fn save_or_restore(
        &mut self,
        channel: &Id,
        endpoint: &Id,
        before: Vec<Stored>,
    ) -> std::io::Result<()> {
        let saved = self.save(channel);
        if saved.is_err() {
            if let Some(list) = self
                .channels
                .get_mut(channel)
                .and_then(|c| c.endpoints.get_mut(&endpoint.to_string()))
            {
                *list = before;
            }
        }
        saved
    }

    /// The endpoint's key for `period` from key server `server`, when it was fetched.
    pub fn fetched(
        &mut self,
        channel: &Id,
        endpoint: &Id,
        (scheme, rotation_secs): (Encryption, u32),
        period: u64,
        server: &str,
    ) -> std::io::Result<Option<ContentKey>> {
        let list = self.stored(channel, endpoint)?;
        Ok(find(list, (scheme, rotation_secs), period, Some(server)).and_then(Stored::content_key))
    }

    /// Keeps keys fetched from key server `server`, on disk before this returns.
    pub fn insert_fetched(
        &mut self,
        channel: &Id,
        endpoint: &Id,
        (scheme, rotation_secs): (Encryption, u32),
        fetched: &Answer,
        server: &str,
        now_unix_ms: u64,
    ) -> std::io::Result<()> {
        let keys = self.load(channel)?;
        let list = keys.endpoints.entry(endpoint.to_string()).or_default();
        let before = list.clone();
        for k in &fetched.keys {
            let b64 = base64::engine::general_purpose::STANDARD;
            list.push(Stored {
                kid: encode(&k.kid),
                key: encode(&k.key),
                period: k.period,
                rotation_secs,
                scheme,
                server: Some(server.to_string()),
                pssh: fetched
                    .pssh
                    .iter()
                    .filter(|p| p.kid == k.kid)
                    .map(|p| StoredPssh {
                        system: p.system_id.clone(),
                        pssh: b64.encode(&p.pssh),
                        hls_key_tag: p.hls_key_tag.clone(),
                    })
                    .collect(),
            });
        }
        Self::prune(list, now_unix_ms);
        self.save_or_restore(channel, endpoint, before)
    }

    /// Deletes an endpoint's keys (`None`: the whole channel's file).
    pub fn forget(&mut self, channel: &Id, endpoint: Option<&Id>) -> std::io::Result<()> {
        let path = self.dir.join(self.file(channel));
        if let Some(endpoint) = endpoint {
            let keys = self.load(channel)?;
            if keys.endpoints.remove(&endpoint.to_string()).is_none() {
                return Ok(());
            }
            if !keys.endpoints.is_empty() {
                return self.save(channel);
            }
        }
        self.channels.remove(channel);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Other DRM systems' `pssh` boxes stored with key `kid` of the endpoint.
    pub fn drm_pssh(&mut self, channel: &Id, endpoint: &Id, kid: &[u8; 16]) -> Vec<SystemPssh> {
        let Ok(list) = self.stored(channel, endpoint) else {
            return Vec::new();
        };
        let want = encode(kid);
        let b64 = base64::engine::general_purpose::STANDARD;
        list.iter()
            .filter(|k| k.kid == want)
            .flat_map(|k| &k.pssh)
            .filter_map(|p| {
                Some(SystemPssh {
                    kid: *kid,
                    system_id: p.system.clone(),
                    pssh: b64.decode(&p.pssh).ok()?,
                    hls_key_tag: p.hls_key_tag.clone(),
                })
            })
            .collect()
    }

    /// Forgets keys older than any window, and the oldest beyond [`KEEP_KEYS`].
    fn prune(list: &mut Vec<Stored>, now_unix_ms: u64) {
        let cutoff = now_unix_ms.saturating_sub(KEEP_MS);
        list.retain(|k| {
            k.rotation_secs == 0
                || k.period.saturating_mul(u64::from(k.rotation_secs) * 1000) >= cutoff
        });
        let excess = list.len().saturating_sub(KEEP_KEYS);
        list.drain(..excess);
    }

    fn save(&mut self, channel: &Id) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&self.dir)?;
        let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
        let name = self.file(channel);
        let keys = self
            .channels
            .get(channel)
            .ok_or_else(|| std::io::Error::other("key store"))?;
        let json = serde_json::to_vec_pretty(keys).map_err(std::io::Error::other)?;
        crate::persist::write_private(&self.dir, &name, &json)
    }

    /// The endpoint's keys, oldest first.
    pub fn list(&mut self, channel: &Id, endpoint: &Id) -> std::io::Result<Vec<Listed>> {
        Ok(self
            .stored(channel, endpoint)?
            .iter()
            .filter_map(|k| {
                Some(Listed {
                    key: k.content_key()?,
                    rotation_secs: k.rotation_secs,
                })
            })
            .collect())
    }
}

/// The newest key of `list` for `period` of an endpoint encrypting as `setting`, from key
/// server `server` (`None`: made here).
fn find<'a>(
    list: &'a [Stored],
    (scheme, rotation_secs): (Encryption, u32),
    period: u64,
    server: Option<&str>,
) -> Option<&'a Stored> {
    list.iter().rev().find(|k| {
        k.period == period
            && k.rotation_secs == rotation_secs
            && k.scheme == scheme
            && k.server.as_deref() == server
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keys_are_made_once_kept_private_and_found_again_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (c, e) = (Id::from_random([1; 14]), Id::from_random([2; 14]));
        let mut store = KeyStore::new(dir.path());
        let now = 1_800_000_000_000;
        let p = now / 10_000;
        let k1 = store.key(&c, &e, Encryption::Aes128, 10, p, now).unwrap();
        assert_eq!(
            store.key(&c, &e, Encryption::Aes128, 10, p, now).unwrap(),
            k1
        );
        let k2 = store
            .key(&c, &e, Encryption::Aes128, 10, p + 1, now)
            .unwrap();
        assert_ne!(k1.kid, k2.kid);
        assert_ne!(k1.key, k2.key);
        let file = dir.path().join("keys").join(format!("{c}.json"));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(dir.path().join("keys"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dmode & 0o777, 0o700);
        let mut again = KeyStore::new(dir.path());
        assert_eq!(
            again.key(&c, &e, Encryption::Aes128, 10, p, now).unwrap(),
            k1
        );
        let listed: Vec<_> = again
            .list(&c, &e)
            .unwrap()
            .into_iter()
            .map(|l| l.key)
            .collect();
        assert_eq!(listed, vec![k1, k2]);
        // Another rotation or scheme is another key.
        assert_ne!(
            again
                .key(&c, &e, Encryption::Aes128, 20, p / 2, now)
                .unwrap(),
            k1
        );
    }

    #[test]
    fn keys_older_than_any_window_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let (c, e) = (Id::from_random([1; 14]), Id::from_random([2; 14]));
        let mut store = KeyStore::new(dir.path());
        let day = 86_400_000;
        store
            .key(&c, &e, Encryption::Aes128, 86_400, 100, 100 * day)
            .unwrap();
        store
            .key(&c, &e, Encryption::Aes128, 86_400, 110, 110 * day)
            .unwrap();
        assert_eq!(store.list(&c, &e).unwrap().len(), 2, "10 days: both kept");
        store
            .key(&c, &e, Encryption::Aes128, 86_400, 120, 120 * day)
            .unwrap();
        let left: Vec<u64> = store
            .list(&c, &e)
            .unwrap()
            .iter()
            .map(|l| l.key.period)
            .collect();
        assert_eq!(left, [110, 120], "20 days on, the first is gone");
    }

    #[test]
    fn a_key_that_cannot_be_written_is_not_handed_out() {
        let dir = tempfile::tempdir().unwrap();
        let (c, e) = (Id::from_random([1; 14]), Id::from_random([2; 14]));
        // The temporary file's place is taken by a folder: the write fails (even as root).
        std::fs::create_dir_all(dir.path().join("keys").join(format!(".{c}.json.tmp"))).unwrap();
        let mut store = KeyStore::new(dir.path());
        let now = 1_800_000_000_000;
        assert!(store.key(&c, &e, Encryption::Aes128, 0, 0, now).is_err());
        assert!(
            store.key(&c, &e, Encryption::Aes128, 0, 0, now).is_err(),
            "not kept in memory either"
        );
        assert!(store.list(&c, &e).unwrap().is_empty());
    }

    #[test]
    fn deleted_endpoints_and_channels_take_their_keys_along() {
        let dir = tempfile::tempdir().unwrap();
        let c = Id::from_random([1; 14]);
        let (e1, e2) = (Id::from_random([2; 14]), Id::from_random([3; 14]));
        let mut store = KeyStore::new(dir.path());
        store.key(&c, &e1, Encryption::Aes128, 0, 0, 0).unwrap();
        store.key(&c, &e2, Encryption::Aes128, 0, 0, 0).unwrap();
        store.forget(&c, Some(&e1)).unwrap();
        let mut again = KeyStore::new(dir.path());
        assert!(again.list(&c, &e1).unwrap().is_empty());
        assert_eq!(again.list(&c, &e2).unwrap().len(), 1);
        again.forget(&c, None).unwrap();
        assert!(!dir.path().join("keys").join(format!("{c}.json")).exists());
        again.forget(&c, None).unwrap();
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_new_keys() {
        let dir = tempfile::tempdir().unwrap();
        let c = Id::from_random([1; 14]);
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        let file = dir.path().join("keys").join(format!("{c}.json"));
        std::fs::write(&file, b"{not json").unwrap();
        let mut store = KeyStore::new(dir.path());
        let err = store
            .key(&c, &Id::from_random([2; 14]), Encryption::Aes128, 0, 0, 0)
            .unwrap_err();
        assert!(err.to_string().contains(&c.to_string()), "{err}");
        assert_eq!(
            std::fs::read(&file).unwrap(),
            b"{not json",
            "left untouched"
        );
    }
}
