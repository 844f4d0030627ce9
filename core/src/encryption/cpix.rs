//! SPEKE v2 (CPIX 2.3) documents: the request an encryptor POSTs to a key server for the keys
//! of some rotation periods, and the reading of its answer. The key ids are the encryptor's
//! (random, made by the caller); the server fills in each key.

use super::cenc::kid_uuid;
use super::keys::ContentKey;
use base64::Engine;

const CPIX_NS: &str = "urn:dashif:org:cpix";
const PSKC_NS: &str = "urn:ietf:params:xml:ns:keyprov:pskc";

/// The SPEKE version sent in `X-Speke-Version`.
pub const SPEKE_VERSION: &str = "2.0";

/// One key asked for: its id and its rotation period (`None` without rotation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// The key id the encryptor chose.
    pub kid: [u8; 16],
    /// Its rotation period's index.
    pub period: Option<u64>,
}

/// Widevine's system id.
pub const WIDEVINE: &str = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed";
/// PlayReady's system id.
pub const PLAYREADY: &str = "9a04f079-9840-4286-ab92-e65be0885f95";
/// FairPlay's system id (HLS only: a key tag with an `skd://` URI, no `pssh` box).
pub const FAIRPLAY: &str = "94ce86fb-07ff-4f43-adb8-93d2fa968ca2";
/// The Common (W3C ClearKey) system id.
pub const COMMON: &str = "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b";

/// The DRM systems a request asks signalling for: the Common one always, Widevine and
/// PlayReady for CMAF schemes, FairPlay for `cbcs`.
pub fn systems_for(scheme: &str) -> &'static [&'static str] {
    match scheme {
        "cenc" => &[COMMON, WIDEVINE, PLAYREADY],
        "cbcs" => &[COMMON, WIDEVINE, PLAYREADY, FAIRPLAY],
        _ => &[COMMON],
    }
}

pub use super::keys::SystemPssh;

/// The CPIX request for `wanted` keys of content `content_id` (the channel id), to be used
/// with `scheme` (`cenc`, `cbcs`; AES-128 HLS asks as `cbcs`, as SPEKE v2 does).
pub fn request(content_id: &str, scheme: &str, wanted: &[Wanted]) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<cpix:CPIX contentId=\"{}\" version=\"2.3\" xmlns:cpix=\"{CPIX_NS}\" xmlns:pskc=\"{PSKC_NS}\">\n  <cpix:ContentKeyList>\n",
        escape(content_id)
    );
    for w in wanted {
        s.push_str(&format!(
            "    <cpix:ContentKey kid=\"{}\" commonEncryptionScheme=\"{scheme}\"/>\n",
            kid_uuid(&w.kid)
        ));
    }
    s.push_str("  </cpix:ContentKeyList>\n  <cpix:DRMSystemList>\n");
    for w in wanted {
        for system in systems_for(scheme) {
            // FairPlay has no pssh box: its HLS key tag is asked for instead (SPEKE v2's
            // HLSSignalingData; URIExtXKey for servers that answer the older way).
            let wanted = if *system == FAIRPLAY {
                "<cpix:URIExtXKey/>\n      <cpix:HLSSignalingData playlist=\"media\"/>"
            } else {
                "<cpix:PSSH/>"
            };
            s.push_str(&format!(
                "    <cpix:DRMSystem kid=\"{}\" systemId=\"{system}\">\n      {wanted}\n    </cpix:DRMSystem>\n",
                kid_uuid(&w.kid)
            ));
        }
    }
    s.push_str("  </cpix:DRMSystemList>\n");
    if wanted.iter().any(|w| w.period.is_some()) {
        s.push_str("  <cpix:ContentKeyPeriodList>\n");
        for p in wanted.iter().filter_map(|w| w.period) {
            s.push_str(&format!(
                "    <cpix:ContentKeyPeriod id=\"keyPeriod_{p}\" index=\"{p}\"/>\n"
            ));
        }
        s.push_str("  </cpix:ContentKeyPeriodList>\n");
    }
    s.push_str("  <cpix:ContentKeyUsageRuleList>\n");
    for w in wanted {
        s.push_str(&format!(
            "    <cpix:ContentKeyUsageRule kid=\"{}\" intendedTrackType=\"ALL\">\n",
            kid_uuid(&w.kid)
        ));
        if let Some(p) = w.period {
            s.push_str(&format!(
                "      <cpix:KeyPeriodFilter periodId=\"keyPeriod_{p}\"/>\n"
            ));
        }
        s.push_str("    </cpix:ContentKeyUsageRule>\n");
    }
    s.push_str("  </cpix:ContentKeyUsageRuleList>\n</cpix:CPIX>\n");
    s
}

/// Why a key server's answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpixError {
    /// Not XML, or not a CPIX document.
    #[error("malformed CPIX document: {0}")]
    Malformed(String),
    /// The answer is for other content.
    #[error("the answer is for content {got:?}, not {want:?}")]
    WrongContentId {
        /// What the document says.
        got: String,
        /// What was asked.
        want: String,
    },
    /// A key asked for is missing or unusable.
    #[error("key {kid}: {why}")]
    BadKey {
        /// Its id (UUID form).
        kid: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// What a key server answered: the keys, and the `pssh` boxes of the DRM systems it signals
/// (those that are not well-formed `pssh` boxes of the system they claim are left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The keys of the request, in its order.
    pub keys: Vec<ContentKey>,
    /// DRM systems' `pssh` boxes for them.
    pub pssh: Vec<SystemPssh>,
}

/// The keys of `wanted` from a key server's answer to content `content_id`.
pub fn parse_response(xml: &str, content_id: &str, wanted: &[Wanted]) -> Result<Answer, CpixError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| CpixError::Malformed(e.to_string()))?;
    let root = doc.root_element();
    if !root.has_tag_name((CPIX_NS, "CPIX")) {
        return Err(CpixError::Malformed(format!(
            "the root element is <{}>, not <cpix:CPIX>",
            root.tag_name().name()
        )));
    }
    let got = root.attribute("contentId").unwrap_or("");
    if got != content_id {
        return Err(CpixError::WrongContentId {
            got: got.to_string(),
            want: content_id.to_string(),
        });
    }
    let mut out = Vec::with_capacity(wanted.len());
    for w in wanted {
        let uuid = kid_uuid(&w.kid);
        let bad = |why| CpixError::BadKey {
            kid: uuid.clone(),
            why,
        };
        let key = root
            .descendants()
            .filter(|n| n.has_tag_name((CPIX_NS, "ContentKey")))
            .find(|n| {
                n.attribute("kid")
                    .is_some_and(|k| k.eq_ignore_ascii_case(&uuid))
            })
            .ok_or_else(|| bad("not in the answer"))?;
        if key
            .descendants()
            .any(|n| n.has_tag_name((PSKC_NS, "EncryptedValue")))
        {
            return Err(bad(
                "encrypted (CPIX document keys are not supported: have the key server answer PlainValue over HTTPS)",
            ));
        }
        let plain = key
            .descendants()
            .find(|n| n.has_tag_name((PSKC_NS, "PlainValue")))
            .and_then(|n| n.text())
            .ok_or_else(|| bad("no pskc:PlainValue"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(plain.trim())
            .map_err(|_| bad("its value is not base64"))?;
        let key: [u8; 16] = bytes
            .try_into()
            .map_err(|_| bad("its value is not 16 bytes (AES-128)"))?;
        out.push(ContentKey {
            kid: w.kid,
            key,
            period: w.period.unwrap_or(0),
        });
    }
    let mut pssh = Vec::new();
    for sys in root
        .descendants()
        .filter(|n| n.has_tag_name((CPIX_NS, "DRMSystem")))
    {
        let (Some(kid), Some(system)) = (sys.attribute("kid"), sys.attribute("systemId")) else {
            continue;
        };
        let Some(w) = wanted
            .iter()
            .find(|w| kid_uuid(&w.kid).eq_ignore_ascii_case(kid))
        else {
            continue;
        };
        let system = system.to_ascii_lowercase();
        if system == COMMON {
            continue; // the origin writes its own Common PSSH
        }
        if system == FAIRPLAY {
            if let Some(tag) = fairplay_tag(&sys) {
                pssh.push(SystemPssh {
                    kid: w.kid,
                    system_id: system,
                    pssh: Vec::new(),
                    hls_key_tag: Some(tag),
                });
            }
            continue;
        }
        let Some(text) = sys
            .children()
            .find(|n| n.has_tag_name((CPIX_NS, "PSSH")))
            .and_then(|n| n.text())
        else {
            continue;
        };
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text.trim()) else {
            continue;
        };
        if is_pssh_of(&bytes, &system) {
            pssh.push(SystemPssh {
                kid: w.kid,
                system_id: system,
                pssh: bytes,
                hls_key_tag: None,
            });
        }
    }
    Ok(Answer { keys: out, pssh })
}

/// FairPlay's HLS key tag from a DRM system's answer: its `HLSSignalingData` for media
/// playlists (base64 of the whole `EXT-X-KEY` line), else a tag around its `URIExtXKey`
/// (base64 of the `skd://` URI). Only a single `#EXT-X-KEY:METHOD=SAMPLE-AES` line naming
/// FairPlay's key format is taken (nothing else reaches a playlist).
fn fairplay_tag(sys: &roxmltree::Node<'_, '_>) -> Option<String> {
    let decoded = |name: &str| -> Option<String> {
        let node = sys.children().find(|n| {
            n.has_tag_name((CPIX_NS, name)) && n.attribute("playlist").is_none_or(|p| p == "media")
        })?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(node.text()?.trim())
            .ok()?;
        String::from_utf8(bytes).ok()
    };
    let plain = |s: &str| s.len() <= 2048 && s.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    let signalled = decoded("HLSSignalingData")
        .map(|t| t.trim().to_string())
        .filter(|t| {
            plain(t)
                && t.starts_with("#EXT-X-KEY:METHOD=SAMPLE-AES,")
                && t.contains("KEYFORMAT=\"com.apple.streamingkeydelivery\"")
                && t.matches('"').count() % 2 == 0
        });
    signalled.or_else(|| {
        let uri = decoded("URIExtXKey")?;
        (uri.starts_with("skd://") && plain(&uri) && !uri.contains(['"', ' '])).then(|| {
            format!(
                "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"{uri}\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\""
            )
        })
    })
}

/// Whether `b` is one whole `pssh` box of DRM system `system` (UUID text).
fn is_pssh_of(b: &[u8], system: &str) -> bool {
    let hex: String = system.chars().filter(|c| *c != '-').collect();
    b.len() >= 32
        && u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize == b.len()
        && &b[4..8] == b"pssh"
        && crate::hex::parse16(&hex).is_some_and(|id| b[12..28] == id)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted() -> Vec<Wanted> {
        vec![
            Wanted {
                kid: [1; 16],
                period: Some(7),
            },
            Wanted {
                kid: [2; 16],
                period: Some(8),
            },
        ]
    }

    /// A key server's answer: the request with each key's PlainValue filled in.
    fn answer(content_id: &str, value: &str) -> String {
        request(content_id, "cenc", &wanted()).replace(
            "commonEncryptionScheme=\"cenc\"/>",
            &format!("commonEncryptionScheme=\"cenc\"><cpix:Data><pskc:Secret><pskc:PlainValue>{value}</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>"),
        )
    }

    #[test]
    fn the_request_is_cpix_with_periods_and_usage_rules() {
        let r = request("chan", "cbcs", &wanted());
        let doc = roxmltree::Document::parse(&r).unwrap_or_else(|e| panic!("{e}\n{r}"));
        let root = doc.root_element();
        assert_eq!(root.attribute("contentId"), Some("chan"));
        assert_eq!(root.attribute("version"), Some("2.3"));
        let count = |name| {
            doc.descendants()
                .filter(|n| n.has_tag_name((CPIX_NS, name)))
                .count()
        };
        assert_eq!(
            (
                count("ContentKey"),
                count("ContentKeyPeriod"),
                count("KeyPeriodFilter"),
                count("DRMSystem")
            ),
            (2, 2, 2, 8),
            "two keys × Common, Widevine, PlayReady, FairPlay"
        );
        assert!(r.contains(
            "kid=\"01010101-0101-0101-0101-010101010101\" commonEncryptionScheme=\"cbcs\""
        ));
        let single = request(
            "chan",
            "cenc",
            &[Wanted {
                kid: [3; 16],
                period: None,
            }],
        );
        assert!(!single.contains("ContentKeyPeriod"));
    }

    #[test]
    fn answers_give_keys_or_say_what_is_wrong() {
        let key16 = base64::engine::general_purpose::STANDARD.encode([9u8; 16]);
        let keys = parse_response(&answer("chan", &key16), "chan", &wanted())
            .unwrap()
            .keys;
        assert_eq!(keys.len(), 2);
        assert_eq!(
            (keys[0].kid, keys[0].key, keys[0].period),
            ([1; 16], [9; 16], 7)
        );
        let table: &[(String, &str)] = &[
            ("<not xml".into(), "malformed"),
            ("<?xml version=\"1.0\"?><other/>".into(), "not <cpix:CPIX>"),
            (answer("other", &key16), "for content \"other\""),
            (answer("chan", "***"), "not base64"),
            (
                answer(
                    "chan",
                    &base64::engine::general_purpose::STANDARD.encode([9u8; 8]),
                ),
                "not 16 bytes",
            ),
            (request("chan", "cenc", &wanted()), "no pskc:PlainValue"),
            (
                answer("chan", &key16).replace("pskc:PlainValue", "pskc:EncryptedValue"),
                "encrypted",
            ),
        ];
        for (xml, why) in table {
            let e = parse_response(xml, "chan", &wanted())
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{why}: {e}");
        }
        let missing = parse_response(
            &answer("chan", &key16),
            "chan",
            &[Wanted {
                kid: [5; 16],
                period: None,
            }],
        )
        .unwrap_err();
        assert!(missing.to_string().contains("not in the answer"));
    }
}

#[cfg(test)]
mod pssh_tests {
    use super::*;

    /// A `pssh` box of `system` with `data`.
    fn pssh_box(system: &str, data: &[u8]) -> Vec<u8> {
        let hex: String = system.chars().filter(|c| *c != '-').collect();
        let id = crate::hex::parse16(&hex).unwrap();
        let mut b = ((32 + data.len()) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(b"pssh");
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(&id);
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn drm_systems_pssh_boxes_come_back_with_their_keys() {
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let w = [Wanted {
            kid: [1; 16],
            period: None,
        }];
        let widevine = pssh_box(WIDEVINE, b"wv-data");
        let key = b64(&[9u8; 16]);
        let xml = request("c", "cenc", &w)
            .replace(
                "commonEncryptionScheme=\"cenc\"/>",
                &format!("commonEncryptionScheme=\"cenc\"><cpix:Data><pskc:Secret><pskc:PlainValue>{key}</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>"),
            )
            .replacen("<cpix:PSSH/>", "<cpix:PSSH>AAAA</cpix:PSSH>", 1)
            .replacen("<cpix:PSSH/>", &format!("<cpix:PSSH>{}</cpix:PSSH>", b64(&widevine)), 1)
            .replacen("<cpix:PSSH/>", &format!("<cpix:PSSH>{}</cpix:PSSH>", b64(&widevine)), 1);
        let a = parse_response(&xml, "c", &w).unwrap();
        assert_eq!(a.keys.len(), 1);
        // Common: the origin's own; Widevine: kept; a Widevine box under PlayReady's id: dropped.
        assert_eq!(
            a.pssh,
            vec![SystemPssh {
                kid: [1; 16],
                system_id: WIDEVINE.into(),
                pssh: widevine,
                hls_key_tag: None,
            }]
        );
    }

    #[test]
    fn fairplay_comes_back_as_its_key_tag() {
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let w = [Wanted {
            kid: [2; 16],
            period: None,
        }];
        let asked = request("c", "cbcs", &w);
        assert!(asked.contains(&format!(
            "systemId=\"{FAIRPLAY}\">\n      <cpix:URIExtXKey/>\n      <cpix:HLSSignalingData playlist=\"media\"/>"
        )));
        assert!(
            !request("c", "cenc", &w).contains(FAIRPLAY),
            "FairPlay is cbcs only"
        );
        let key = b64(&[9u8; 16]);
        // An answer with `uri` as URIExtXKey and `tag` as the media HLSSignalingData.
        let answer = |uri: Option<&str>, tag: Option<&str>| {
            let filled = |name: &str, v: Option<&str>| {
                v.map_or(String::new(), |v| {
                    format!("<cpix:{name}>{}</cpix:{name}>", b64(v.as_bytes()))
                })
            };
            let xml = asked
                .replace(
                    "commonEncryptionScheme=\"cbcs\"/>",
                    &format!("commonEncryptionScheme=\"cbcs\"><cpix:Data><pskc:Secret><pskc:PlainValue>{key}</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>"),
                )
                .replace("<cpix:URIExtXKey/>", &filled("URIExtXKey", uri))
                .replace(
                    "<cpix:HLSSignalingData playlist=\"media\"/>",
                    &filled("HLSSignalingData", tag).replace("<cpix:HLSSignalingData>", "<cpix:HLSSignalingData playlist=\"media\">"),
                );
            parse_response(&xml, "c", &w).unwrap().pssh
        };
        let tag_of = |uri: &str| {
            format!("#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"{uri}\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"")
        };
        assert_eq!(
            answer(Some("skd://keys.example/abc"), None),
            vec![SystemPssh {
                kid: [2; 16],
                system_id: FAIRPLAY.into(),
                pssh: Vec::new(),
                hls_key_tag: Some(tag_of("skd://keys.example/abc")),
            }]
        );
        // SPEKE v2's HLSSignalingData (the whole tag) wins over URIExtXKey.
        let v2 = tag_of("skd://v2/k");
        assert_eq!(
            answer(Some("skd://v1/k"), Some(&v2))[0].hls_key_tag,
            Some(v2.clone())
        );
        // What is not one FairPlay SAMPLE-AES key tag, or a URI a playlist cannot quote, is
        // left out.
        for (uri, tag) in [
            (Some("https://x/y"), None),
            (Some("skd://a\"b"), None),
            (Some("skd://a b"), None),
            (None, Some(format!("{v2}\n#EXT-X-ENDLIST"))),
            (None, Some(v2.replace("SAMPLE-AES", "AES-128"))),
            (None, Some("#EXT-X-ENDLIST".to_string())),
        ] {
            assert!(answer(uri, tag.as_deref()).is_empty(), "{uri:?} {tag:?}");
        }
    }
}
