//! What an encrypted endpoint serves: [`EncryptedOutput`], built by its
//! [`super::Encryptor`].

use std::collections::HashMap;
use std::sync::Arc;

use super::keys::{ContentKey, KEY_DIR};
use crate::media::{Lookup, MediaObject, MediaOutput, Rendered, Unavailable};

/// An encrypted endpoint's view of the channel's media at one version: encrypted copies of
/// the segments, the manifests with their key tags, and the keys they name. Lookups never
/// allocate and never reach the clear output: what has no encrypted form is not found.
#[derive(Debug, Default)]
pub struct EncryptedOutput {
    pub(super) manifests: HashMap<String, (Rendered, &'static str)>,
    pub(super) objects: HashMap<String, Arc<MediaObject>>,
    pub(super) keys: Vec<ContentKey>,
    /// The key id the init segments name (CMAF): the MPD's `cenc:default_KID`.
    pub(super) default_kid: Option<[u8; 16]>,
    pub(super) refused: Option<String>,
    /// Why segments are held back (no key for them), and which.
    pub(super) waiting: Option<String>,
    pub(super) held: std::collections::HashSet<String>,
}

impl EncryptedOutput {
    /// The keys its manifests name, oldest first.
    pub fn keys(&self) -> &[ContentKey] {
        &self.keys
    }
}

impl MediaOutput for EncryptedOutput {
    fn lookup<'a>(&'a self, _manifest: &str, rest: &str) -> Result<Lookup<'a>, Unavailable<'a>> {
        if let Some(why) = &self.refused {
            return Err(Unavailable::Refused(why));
        }
        if self.objects.is_empty() {
            return Err(self
                .waiting
                .as_deref()
                .map_or(Unavailable::NoMediaYet, Unavailable::Waiting));
        }
        if let Some((r, content_type)) = self.manifests.get(rest) {
            return Ok(Lookup::Manifest(r, content_type));
        }
        if let Some(why) = self.waiting.as_deref().filter(|_| self.held.contains(rest)) {
            return Err(Unavailable::Waiting(why));
        }
        Ok(self
            .objects
            .get(rest)
            .map_or(Lookup::NotFound, |o| Lookup::Object(o)))
    }

    fn content_keys(&self) -> &[ContentKey] {
        &self.keys
    }

    /// Its manifests with their key tags (an endpoint's ad markers are written into them).
    fn manifests(&self, _manifest: &str) -> Vec<(String, &Rendered)> {
        crate::media::object::listed_manifests(&self.manifests)
    }

    fn content_key(&self, rest: &str) -> Option<&ContentKey> {
        let kid = rest
            .strip_prefix(KEY_DIR)?
            .strip_prefix('/')?
            .strip_suffix(".key")?;
        let kid = crate::hex::parse16(kid)?;
        self.keys.iter().find(|k| k.kid == kid)
    }
}
