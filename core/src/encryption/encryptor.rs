//! The [`Encryptor`]: builds what an encrypted endpoint serves ([`EncryptedOutput`]) from the
//! channel's clear output each time the channel publishes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::cenc::{
    encrypt_init, encrypt_segment as encrypt_cmaf_segment, Scheme, SegmentKey as CmafSegmentKey,
    TrackCrypto,
};
use super::cpix::SystemPssh;
use super::keys::{period_of, period_start_unix_ms, ContentKey, KeySource};
use super::mpd::add_content_protection;
use super::output::EncryptedOutput;
use super::playlist::{add_key_tags_with, drm_key_tags, up_from, KeyTag, SegmentKey};
use super::{aes128, sample_aes};
use crate::channel::config::Encryption;
use crate::media::object::EtagGen;
use crate::media::{
    Lookup, MediaObject, MediaOutput, Rendered, SegmentEntry, TrackView, Unavailable,
};
use crate::time::Now;
use bytes::Bytes;

/// Keys an encryptor keeps beyond those its window uses.
const KEEP_KEYS: usize = 16;

/// One object's encrypted copy, kept while its clear form is in the window.
#[derive(Debug)]
struct Encrypted {
    clear_etag: String,
    kid: [u8; 16],
    object: Arc<MediaObject>,
    /// An init segment's tracks, as its media segments' encryption needs them.
    tracks: Vec<TrackCrypto>,
}

/// Builds an encrypted endpoint's [`EncryptedOutput`] from each version of the clear output,
/// encrypting each segment once (kept across versions) with its rotation period's key.
#[derive(Debug)]
pub struct Encryptor {
    scheme: Encryption,
    rotation_secs: u32,
    objects: HashMap<String, Encrypted>,
    keys: BTreeMap<u64, ContentKey>,
    manifests: HashMap<String, Rendered>,
    /// Other DRM systems' `pssh` boxes of the keys it holds, asked of the source once per key.
    drm: HashMap<[u8; 16], Vec<SystemPssh>>,
    /// Where each key's Period starts (rotation in DASH: a Period per key).
    period_anchors: BTreeMap<String, super::periods::Anchor>,
    etags: EtagGen,
    /// The absolute URL of the endpoint's ClearKey licences, for MPDs (players send licence
    /// requests from the page's origin, so a relative URL would miss).
    license_url: Option<String>,
    /// Objects encrypted since it was made.
    pub encrypted: u64,
    /// Segments that could not be encrypted (not published), and why the last one.
    pub failed: u64,
    /// Why the last segment could not be encrypted.
    pub last_failure: Option<String>,
}

impl Encryptor {
    /// An encryptor for `scheme` with a key every `rotation_secs` (0: one key).
    pub fn new(scheme: Encryption, rotation_secs: u32, now: Now) -> Encryptor {
        Encryptor {
            scheme,
            rotation_secs,
            objects: HashMap::new(),
            keys: BTreeMap::new(),
            manifests: HashMap::new(),
            drm: HashMap::new(),
            period_anchors: BTreeMap::new(),
            etags: EtagGen::new("k", now),
            license_url: None,
            encrypted: 0,
            failed: 0,
            last_failure: None,
        }
    }

    /// Gives the encrypted objects pulls made hot a sending form of their own, as
    /// [`crate::media::Media::promote_hot`] does for clear ones (encrypted copies are served
    /// like any segment); the next build serves them. Returns how many moved.
    pub fn promote_hot(
        &mut self,
        promote: &mut dyn FnMut(&Bytes) -> Option<crate::media::Body>,
    ) -> usize {
        let mut moved = 0;
        for e in self.objects.values_mut() {
            if crate::media::object::promote_if_hot(&mut e.object, promote) {
                moved += 1;
            }
        }
        moved
    }

    /// The same encryptor naming `url` as the ClearKey licence URL in its MPDs.
    pub fn with_license_url(mut self, url: String) -> Encryptor {
        self.license_url = Some(url);
        self
    }

    /// The scheme it encrypts with.
    pub fn scheme(&self) -> Encryption {
        self.scheme
    }

    /// Seconds between keys (0: one key).
    pub fn rotation_secs(&self) -> u32 {
        self.rotation_secs
    }

    /// Whether it encrypts as `scheme` with `rotation_secs` (else the caller makes a new one).
    pub fn is_for(&self, scheme: Encryption, rotation_secs: u32) -> bool {
        self.scheme == scheme && self.rotation_secs == rotation_secs
    }

    /// The encrypted form of `clear` (the output of the endpoint's type), whose main manifest
    /// is `manifest` (`main`).
    pub fn build(
        &mut self,
        clear: &dyn MediaOutput,
        manifest: &str,
        source: &mut dyn KeySource,
        now: Now,
    ) -> EncryptedOutput {
        let mut out = EncryptedOutput::default();
        if let Err(Unavailable::Refused(why)) = clear.lookup(manifest, "") {
            out.refused = Some(why.to_string());
            return out;
        }
        let mut cache = HashMap::new();
        let mut segment_keys: HashMap<String, SegmentKey> = HashMap::new();
        let mut used: BTreeMap<u64, ContentKey> = BTreeMap::new();
        // Subtitles are served clear (players decrypt audio and video only); their playlists
        // get no key tags.
        let mut clear_dirs: HashSet<String> = HashSet::new();
        for track in clear.tracks() {
            if track.text {
                for i in track.inits {
                    let path = join(&track.dir, &(track.init_file)(i));
                    out.objects.insert(path, Arc::clone(&i.object));
                }
                for s in track.segments {
                    let path = join(&track.dir, &(track.segment_file)(s));
                    out.objects.insert(path, Arc::clone(&s.object));
                }
                clear_dirs.insert(track.dir);
                continue;
            }
            if let Err(why) = self.fits(&track) {
                out.refused = Some(why);
                return out;
            }
            // CMAF: each init segment declared protected, and what its segments need.
            let mut crypto: HashMap<u64, Vec<TrackCrypto>> = HashMap::new();
            for i in track.inits {
                // An init segment names the key of the newest segment that needs it (with
                // rotation, it is re-encrypted once per period; older keys are in the
                // segments' own `seig` groups).
                // (The newest period that has a key: a late one holds back its segments only.)
                let mut periods: Vec<u64> = track
                    .segments
                    .iter()
                    .rev()
                    .filter(|s| s.init == Some(i.k))
                    .map(|s| period_of(s.start_unix_ms, self.rotation_secs))
                    .collect();
                periods.dedup();
                if periods.is_empty() {
                    periods.push(0);
                }
                let Some(key) = periods.iter().find_map(|p| self.key(*p, source)) else {
                    out.waiting.get_or_insert_with(|| source.why_missing());
                    continue;
                };
                let path = join(&track.dir, &(track.init_file)(i));
                let found = match self.objects.remove(&path) {
                    Some(e) if e.clear_etag == i.object.etag && e.kid == key.kid => Ok(e),
                    _ => {
                        let drm = self.drm(&key.kid, source);
                        self.encrypt_init(&i.object, &key, &drm)
                    }
                };
                match found {
                    Ok(e) => {
                        out.default_kid = Some(e.kid);
                        crypto.insert(i.k, e.tracks.clone());
                        out.objects.insert(path.clone(), Arc::clone(&e.object));
                        cache.insert(path, e);
                    }
                    Err(why) => {
                        out.refused = Some(format!("{path}: {why}"));
                        return out;
                    }
                }
            }
            for s in track.segments {
                let period = period_of(s.start_unix_ms, self.rotation_secs);
                let path = join(&track.dir, &(track.segment_file)(s));
                let Some(key) = self.key(period, source) else {
                    out.waiting.get_or_insert_with(|| source.why_missing());
                    out.held.insert(path);
                    continue;
                };
                let found = match self.objects.remove(&path) {
                    Some(e) if e.clear_etag == s.object.etag && e.kid == key.kid => Ok(e),
                    _ => {
                        let next = (self.rotation_secs > 0)
                            .then(|| self.key(period + 1, source))
                            .flatten();
                        self.encrypt_segment(&path, s, &key, next, &crypto)
                    }
                };
                let e = match found {
                    Ok(e) => e,
                    Err(why) => {
                        self.failed += 1;
                        self.last_failure = Some(format!("{path}: {why}"));
                        continue;
                    }
                };
                used.insert(period, key);
                segment_keys.insert(
                    path.clone(),
                    SegmentKey {
                        seq: s.seq,
                        kid: key.kid,
                    },
                );
                out.objects.insert(path.clone(), Arc::clone(&e.object));
                cache.insert(path, e);
            }
        }
        self.objects = cache;
        // The keys of the window and the next period's, and a few before (a player holding an
        // older init or playlist still gets its key); older ones are let go.
        let oldest_used = used.keys().next().copied().unwrap_or(0);
        while self.keys.len() > KEEP_KEYS
            && self
                .keys
                .first_key_value()
                .is_some_and(|(p, _)| *p < oldest_used)
        {
            self.keys.pop_first();
        }
        out.keys = self.keys.values().copied().collect();
        let kept: Vec<[u8; 16]> = out.keys.iter().map(|k| k.kid).collect();
        self.drm.retain(|kid, _| kept.contains(kid));
        // Other systems' signalling of each key a CMAF manifest names (a key server's):
        // Widevine's and FairPlay's for the HLS tags, the pssh boxes for the MPD.
        let mut drm_all: HashMap<[u8; 16], Vec<SystemPssh>> = HashMap::new();
        if Scheme::of(self.scheme).is_some() {
            for kid in &kept {
                drm_all.insert(*kid, self.drm(kid, source));
            }
        }
        let mut manifests = HashMap::new();
        for (path, rendered) in clear.manifests(manifest) {
            let Ok(text) = std::str::from_utf8(&rendered.body) else {
                continue;
            };
            let content_type = match clear.lookup(manifest, &path) {
                Ok(Lookup::Manifest(_, ct)) => ct,
                _ => continue,
            };
            let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
            let stem = path.strip_suffix(".m3u8").unwrap_or("");
            let text = match (Scheme::of(self.scheme), out.default_kid) {
                (Some(scheme), Some(kid)) if path.ends_with(".mpd") => {
                    let license = self.license_url.clone().unwrap_or_else(|| {
                        format!("{}{}", up_from(&path), super::clearkey::LICENSE_PATH)
                    });
                    match clear.mpd_model().filter(|_| self.rotation_secs > 0) {
                        // Rotation: a Period per key, each naming its own.
                        Some(model) => super::periods::protected_mpd(
                            model,
                            |media, n| {
                                let path = media.replace("$Number$", &n.to_string());
                                segment_keys.get(&path).map(|k| k.kid)
                            },
                            &mut self.period_anchors,
                            scheme,
                            &license,
                            &drm_all,
                        ),
                        None => {
                            let drm = self.drm(&kid, source);
                            add_content_protection(text, scheme, Some(&kid), &license, &drm)
                        }
                    }
                }
                (_, None) if path.ends_with(".mpd") => continue,
                // A subtitles playlist (`<rendition>/index.m3u8` of HLS, `<rendition>/text.m3u8`
                // of CMAF) lists clear segments.
                _ if clear_dirs.contains(dir) || clear_dirs.contains(stem) => text.to_string(),
                _ => {
                    let tag = KeyTag::of(self.scheme);
                    let others = |kid: &[u8; 16]| {
                        let systems = drm_all.get(kid).map_or(&[][..], Vec::as_slice);
                        drm_key_tags(tag.method, kid, systems)
                    };
                    add_key_tags_with(
                        text,
                        &up_from(&path),
                        tag,
                        |uri| segment_keys.get(&join(dir, uri)).copied(),
                        others,
                    )
                }
            };
            let prev = self.manifests.get(&path);
            let r = self.etags.reuse_or_render(
                prev,
                text,
                now.unix_ms.max(rendered.last_modified_unix_ms),
            );
            out.manifests
                .insert(path.clone(), (r.clone(), content_type));
            manifests.insert(path, r);
        }
        self.manifests = manifests;
        out
    }

    /// Whether a track's objects are of the kind the scheme encrypts.
    fn fits(&self, track: &TrackView<'_>) -> Result<(), String> {
        let ts = track.inits.is_empty() && track.segments.iter().all(|s| s.ext == "ts");
        match (self.scheme, ts) {
            (Encryption::Aes128 | Encryption::SampleAes, true)
            | (Encryption::Cenc | Encryption::Cbcs, false) => Ok(()),
            (Encryption::Aes128 | Encryption::SampleAes, false) => Err(format!(
                "--encryption {} encrypts TS segments, and this channel's input pushes fMP4: \
                 push TS to encrypt this endpoint",
                self.scheme
            )),
            (Encryption::Cenc | Encryption::Cbcs, true) => Err(format!(
                "--encryption {} encrypts CMAF (fMP4) tracks, and this output is TS",
                self.scheme
            )),
            (scheme, _) => Err(format!("--encryption {scheme} is not available yet")),
        }
    }

    fn encrypt_init(
        &mut self,
        clear: &MediaObject,
        key: &ContentKey,
        drm: &[SystemPssh],
    ) -> Result<Encrypted, String> {
        let scheme = Scheme::of(self.scheme).ok_or("not a CMAF scheme")?;
        let boxes: Vec<&[u8]> = drm
            .iter()
            .filter(|p| !p.pssh.is_empty())
            .map(|p| &p.pssh[..])
            .collect();
        let (body, tracks) =
            encrypt_init(&clear.body, scheme, &key.kid, &boxes).map_err(|e| e.to_string())?;
        self.encrypted += 1;
        Ok(Encrypted {
            clear_etag: clear.etag.clone(),
            kid: key.kid,
            object: Arc::new(encrypted_object(clear, body, &key.kid)),
            tracks,
        })
    }

    fn encrypt_segment(
        &mut self,
        path: &str,
        s: &SegmentEntry,
        key: &ContentKey,
        next: Option<ContentKey>,
        crypto: &HashMap<u64, Vec<TrackCrypto>>,
    ) -> Result<Encrypted, String> {
        let body = match Scheme::of(self.scheme) {
            None if self.scheme == Encryption::SampleAes => {
                sample_aes::encrypt_segment(&s.object.body, &key.key, &sample_aes::key_iv(&key.kid))
                    .map_err(|e| e.to_string())?
            }
            None => aes128::encrypt(&key.key, &aes128::sequence_iv(s.seq), &s.object.body),
            Some(scheme) => {
                let tracks = s
                    .init
                    .and_then(|k| crypto.get(&k))
                    .ok_or("its init segment could not be encrypted")?;
                let announce: Vec<[u8; 16]> = std::iter::once(key.kid)
                    .chain(next.map(|n| n.kid))
                    .collect();
                let sk = CmafSegmentKey {
                    kid: &key.kid,
                    key: &key.key,
                    announce: &announce,
                };
                encrypt_cmaf_segment(&s.object.body, scheme, &sk, tracks, iv_seed(path))
                    .map_err(|e| e.to_string())?
            }
        };
        self.encrypted += 1;
        Ok(Encrypted {
            clear_etag: s.object.etag.clone(),
            kid: key.kid,
            object: Arc::new(encrypted_object(&s.object, body, &key.kid)),
            tracks: Vec::new(),
        })
    }

    /// Other DRM systems' `pssh` boxes of key `kid` (they come with the key and never change).
    fn drm(&mut self, kid: &[u8; 16], source: &mut dyn KeySource) -> Vec<SystemPssh> {
        self.drm
            .entry(*kid)
            .or_insert_with(|| source.drm_pssh(kid))
            .clone()
    }

    fn key(&mut self, period: u64, source: &mut dyn KeySource) -> Option<ContentKey> {
        if let Some(k) = self.keys.get(&period) {
            return Some(*k);
        }
        let k = source.key(period, period_start_unix_ms(period, self.rotation_secs))?;
        self.keys.insert(period, k);
        Some(k)
    }
}

/// `body`, the encrypted form of `clear`: same type and time, its own etag.
fn encrypted_object(clear: &MediaObject, body: Vec<u8>, kid: &[u8; 16]) -> MediaObject {
    MediaObject::new(
        Bytes::from(body).into(),
        clear.content_type,
        keyed_etag(&clear.etag, kid),
        clear.last_modified_unix_ms,
    )
}

/// A `cenc` IV seed unique to a segment's URL path (rendition, track, number): no two
/// segments of an endpoint share counter blocks under one key.
fn iv_seed(path: &str) -> u64 {
    use sha2::Digest;
    let h = sha2::Sha256::digest(path.as_bytes());
    u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
}

/// `dir/file`, or `file` at the endpoint's top.
fn join(dir: &str, file: &str) -> String {
    if dir.is_empty() {
        file.to_string()
    } else {
        format!("{dir}/{file}")
    }
}

/// The clear object's etag marked with the key: an encrypted copy never shares an etag with
/// its clear form or with a copy under another key.
fn keyed_etag(clear: &str, kid: &[u8; 16]) -> String {
    let stem = clear.strip_suffix('"').unwrap_or(clear);
    format!("{stem}-{}\"", &crate::hex::encode(kid)[..8])
}
