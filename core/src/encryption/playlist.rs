//! HLS media playlists of an encrypted endpoint: the clear playlist with an `EXT-X-KEY` tag
//! wherever the key changes (RFC 8216bis §4.4.4.4), written into the text the clear output
//! rendered, so every HLS playlist form (TS, repackaged, time-shifted) gets its keys one way.

use super::keys::KEY_DIR;
use crate::hex::encode;

/// A segment's key as its playlist line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentKey {
    /// Its Media Sequence Number (the IV, unless the playlist numbers it otherwise).
    pub seq: u64,
    /// The key id: the key URL's file name.
    pub kid: [u8; 16],
}

/// How a playlist names its segments' keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyTag {
    /// `METHOD` (`AES-128`, `SAMPLE-AES-CTR`, `SAMPLE-AES`).
    pub method: &'static str,
    /// `KEYFORMAT`, when not left to its default.
    pub keyformat: Option<&'static str>,
    /// Where players get the IV.
    pub iv: IvRule,
}

/// Where a key tag's IV comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IvRule {
    /// The segment's Media Sequence Number, stated only where the playlist numbers a segment
    /// otherwise (AES-128).
    Sequence,
    /// One per key, always stated ([`super::sample_aes::key_iv`]: SAMPLE-AES in TS, whose
    /// players take no IV from the sequence number).
    PerKey,
    /// In the segments (CMAF schemes).
    InSegments,
}

impl KeyTag {
    /// How playlists name the keys of an endpoint's encryption setting.
    pub fn of(e: crate::channel::config::Encryption) -> KeyTag {
        use crate::channel::config::Encryption;
        match e {
            Encryption::Cenc => KeyTag::CENC,
            Encryption::Cbcs => KeyTag::CBCS,
            Encryption::SampleAes => KeyTag::SAMPLE_AES_TS,
            _ => KeyTag::AES_128,
        }
    }

    /// Whole-segment AES-128.
    pub const AES_128: KeyTag = KeyTag {
        method: "AES-128",
        keyformat: None,
        iv: IvRule::Sequence,
    };
    /// Apple's SAMPLE-AES for TS.
    pub const SAMPLE_AES_TS: KeyTag = KeyTag {
        method: "SAMPLE-AES",
        keyformat: None,
        iv: IvRule::PerKey,
    };
    /// CMAF `cenc`, the key at its URL (what Shaka Player reads as ClearKey).
    pub const CENC: KeyTag = KeyTag {
        method: "SAMPLE-AES-CTR",
        keyformat: Some("identity"),
        iv: IvRule::InSegments,
    };
    /// CMAF `cbcs`, the key at its URL.
    pub const CBCS: KeyTag = KeyTag {
        method: "SAMPLE-AES",
        keyformat: Some("identity"),
        iv: IvRule::InSegments,
    };
}

/// [`add_key_tags`] for AES-128.
pub fn add_aes128_keys(
    text: &str,
    up: &str,
    key_of: impl FnMut(&str) -> Option<SegmentKey>,
) -> String {
    add_key_tags(text, up, KeyTag::AES_128, key_of)
}

/// `text` (a media playlist) with an `#EXT-X-KEY` (`tag`) before the first segment and
/// before each segment whose key differs from the one before it. Key URIs are
/// `<up>keys/<kid>.key`, `up` leading from the playlist's folder to the endpoint's (`../`).
/// `key_of` gives each segment URI's key; the playlist ends before the first segment that
/// has none (and is then not ended: later media is never announced clear). With AES-128, a
/// segment the playlist numbers differently from its sequence number (after a gap) states
/// its IV. Master playlists (no `EXTINF`) come back unchanged.
pub fn add_key_tags(
    text: &str,
    up: &str,
    tag: KeyTag,
    key_of: impl FnMut(&str) -> Option<SegmentKey>,
) -> String {
    add_key_tags_with(text, up, tag, key_of, |_| String::new())
}

/// [`add_key_tags`] with more key tags (other DRM systems', whole lines) after each one,
/// from `more` by key id.
pub fn add_key_tags_with(
    text: &str,
    up: &str,
    tag: KeyTag,
    mut key_of: impl FnMut(&str) -> Option<SegmentKey>,
    more: impl Fn(&[u8; 16]) -> String,
) -> String {
    if !text.contains("#EXTINF:") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 128);
    let mut media_sequence = 0u64;
    let mut index = 0u64;
    // Where this segment's tags begin in `out` (its EXTINF), once seen.
    let mut extinf_at: Option<usize> = None;
    // The key tag in effect: key id, and the IV when it is stated.
    let mut current: Option<([u8; 16], Option<u128>)> = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            media_sequence = n.trim().parse().unwrap_or(0);
        }
        if line.starts_with('#') || line.trim().is_empty() {
            if line.starts_with("#EXTINF:") {
                extinf_at = Some(out.len());
            }
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let implied = media_sequence.saturating_add(index);
        index += 1;
        let at = extinf_at.take().unwrap_or(out.len());
        let Some(k) = key_of(line) else {
            out.truncate(at);
            return out;
        };
        let iv = match tag.iv {
            IvRule::Sequence => (k.seq != implied).then_some(u128::from(k.seq)),
            IvRule::PerKey => Some(u128::from_be_bytes(super::sample_aes::key_iv(&k.kid))),
            IvRule::InSegments => None,
        };
        if current != Some((k.kid, iv)) {
            let mut line = format!(
                "#EXT-X-KEY:METHOD={},URI=\"{up}{KEY_DIR}/{}.key\"",
                tag.method,
                encode(&k.kid)
            );
            if let Some(f) = tag.keyformat {
                line.push_str(&format!(",KEYFORMAT=\"{f}\""));
            }
            if let Some(iv) = iv {
                line.push_str(&format!(",IV=0x{iv:032x}"));
            }
            line.push('\n');
            line.push_str(&more(&k.kid));
            out.insert_str(at, &line);
            current = Some((k.kid, iv));
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The key tags other DRM systems' players read for a CMAF `method` segment under `kid`,
/// from what the key server gave for it (`systems`): Widevine's (its `pssh` in a data URI)
/// and, for `SAMPLE-AES` (`cbcs`), FairPlay's (the key server's tag).
pub fn drm_key_tags(method: &str, kid: &[u8; 16], systems: &[super::cpix::SystemPssh]) -> String {
    use super::cpix::{FAIRPLAY, WIDEVINE};
    let mut out = String::new();
    if let Some(p) = systems.iter().find(|p| p.system_id == WIDEVINE) {
        out.push_str(&widevine_tag(method, kid, &p.pssh));
    }
    let fairplay = systems.iter().find(|p| p.system_id == FAIRPLAY);
    if let Some(tag) = fairplay
        .and_then(|p| p.hls_key_tag.as_deref())
        .filter(|_| method == "SAMPLE-AES")
    {
        out.push_str(tag);
        out.push('\n');
    }
    out
}

/// The Widevine key tag of a CMAF `method` segment (`SAMPLE-AES-CTR`, `SAMPLE-AES`) whose
/// key `kid` has Widevine `pssh` box `pssh`: the box in a data URI, as Widevine HLS reads it.
pub fn widevine_tag(method: &str, kid: &[u8; 16], pssh: &[u8]) -> String {
    use base64::Engine;
    format!(
        "#EXT-X-KEY:METHOD={method},URI=\"data:text/plain;base64,{}\",KEYID=0x{},KEYFORMAT=\"urn:uuid:{}\",KEYFORMATVERSIONS=\"1\"\n",
        base64::engine::general_purpose::STANDARD.encode(pssh),
        encode(kid),
        super::cpix::WIDEVINE
    )
}

/// `../` once per folder of `path` (a playlist's path under the endpoint): how its URIs
/// reach the endpoint's own folder.
pub fn up_from(path: &str) -> String {
    "../".repeat(path.matches('/').count())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAR: &str =
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n\
#EXT-X-PROGRAM-DATE-TIME:2027-01-15T08:00:00.000Z\n#EXTINF:2.000,\n7.ts\n\
#EXTINF:2.000,\n8.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\n9.ts\n#EXTINF:2.000,\n11.ts\n";

    fn kid(n: u8) -> [u8; 16] {
        [n; 16]
    }

    fn seq_of(uri: &str) -> u64 {
        uri.trim_end_matches(".ts").parse().unwrap_or(0)
    }

    #[test]
    fn a_key_tag_where_the_key_changes_and_an_iv_where_numbering_skips() {
        let out = add_aes128_keys(CLEAR, "../", |uri| {
            let seq = seq_of(uri);
            Some(SegmentKey {
                seq,
                kid: kid(if seq < 9 { 1 } else { 2 }),
            })
        });
        let k1 = format!(
            "#EXT-X-KEY:METHOD=AES-128,URI=\"../keys/{}.key\"\n",
            "01".repeat(16)
        );
        let k2 = format!(
            "#EXT-X-KEY:METHOD=AES-128,URI=\"../keys/{}.key\"\n",
            "02".repeat(16)
        );
        let k2_iv = format!(
            "#EXT-X-KEY:METHOD=AES-128,URI=\"../keys/{}.key\",IV=0x{:032x}\n",
            "02".repeat(16),
            11
        );
        let want = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n\
#EXT-X-PROGRAM-DATE-TIME:2027-01-15T08:00:00.000Z\n{k1}#EXTINF:2.000,\n7.ts\n\
#EXTINF:2.000,\n8.ts\n#EXT-X-DISCONTINUITY\n{k2}#EXTINF:2.000,\n9.ts\n{k2_iv}#EXTINF:2.000,\n11.ts\n"
        );
        assert_eq!(out, want);
    }

    #[test]
    fn the_playlist_stops_before_a_segment_without_key() {
        let ended = format!("{CLEAR}#EXT-X-ENDLIST\n");
        let out = add_aes128_keys(&ended, "", |uri| {
            let seq = seq_of(uri);
            (seq < 9).then_some(SegmentKey { seq, kid: kid(1) })
        });
        assert!(
            out.ends_with("#EXTINF:2.000,\n8.ts\n#EXT-X-DISCONTINUITY\n"),
            "{out}"
        );
        assert!(!out.contains("9.ts") && !out.contains("ENDLIST"));
        let none = add_aes128_keys(CLEAR, "", |_| None);
        assert!(
            !none.contains("#EXTINF") && none.starts_with("#EXTM3U\n"),
            "{none}"
        );
    }

    #[test]
    fn master_playlists_pass_unchanged() {
        let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhi/index.m3u8\n";
        // A master's URIs are playlists, never segments: not taken for segments without key.
        assert_eq!(add_aes128_keys(master, "", |_| None), master);
    }

    #[test]
    fn cmaf_schemes_name_the_key_once_without_iv() {
        let out = add_key_tags(CLEAR, "../", KeyTag::CENC, |uri| {
            Some(SegmentKey {
                seq: seq_of(uri),
                kid: kid(3),
            })
        });
        let tags: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("#EXT-X-KEY"))
            .collect();
        assert_eq!(
            tags,
            [format!(
                "#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"../keys/{}.key\",KEYFORMAT=\"identity\"",
                "03".repeat(16)
            )],
            "one tag, no IV even where the numbering skips"
        );
        let cbcs = add_key_tags(CLEAR, "", KeyTag::CBCS, |uri| {
            Some(SegmentKey {
                seq: seq_of(uri),
                kid: kid(3),
            })
        });
        assert!(cbcs.contains("#EXT-X-KEY:METHOD=SAMPLE-AES,URI="));
    }

    #[test]
    fn up_leads_to_the_endpoint_folder() {
        assert_eq!(up_from("main.m3u8"), "");
        assert_eq!(up_from("hi/index.m3u8"), "../");
        assert_eq!(up_from("hi/video/x.m3u8"), "../../");
    }
}
