//! MPDs of an encrypted endpoint: the clear MPD with `ContentProtection` in every
//! AdaptationSet (DASH-IF IOP §7): the MPEG Common Encryption descriptor naming the scheme
//! and the default key id, and the ClearKey system's (players given the key, e.g. from
//! `streampackctl endpoint keys`, decrypt with the browser's ClearKey CDM).

use super::cenc::{kid_uuid, Scheme, CLEARKEY_SYSTEM_ID};
use super::cpix::SystemPssh;
use base64::Engine;

/// The cenc namespace declared on the `MPD` element.
const CENC_NAMESPACE: &str = "urn:mpeg:cenc:2013";
/// DASH-IF's namespace of the ClearKey licence URL element.
const DASHIF_NAMESPACE: &str = "https://dashif.org/CPS";

/// `mpd` with the protection descriptors of content encrypted by `scheme` under `kid`, the
/// ClearKey licence at `license_url` (relative to the MPD).
/// `kid` `None` leaves `cenc:default_KID` out (dash.js's ClearKey needs it to make its first
/// licence request; with it, Shaka ignores the key ids segments announce later).
pub fn add_content_protection(
    mpd: &str,
    scheme: Scheme,
    kid: Option<&[u8; 16]>,
    license_url: &str,
    drm_pssh: &[SystemPssh],
) -> String {
    add_content_protection_by_period(mpd, scheme, license_url, |_| {
        (kid.copied(), drm_pssh.to_vec())
    })
}

/// [`add_content_protection`] with each Period's key id and other systems' `pssh` boxes from
/// `of_period` (by `Period@id`): key rotation by Periods.
pub fn add_content_protection_by_period(
    mpd: &str,
    scheme: Scheme,
    license_url: &str,
    of_period: impl Fn(&str) -> (Option<[u8; 16]>, Vec<SystemPssh>),
) -> String {
    let value = String::from_utf8_lossy(&scheme.fourcc()).into_owned();
    let protection = |kid: Option<[u8; 16]>, drm_pssh: &[SystemPssh]| {
        let default_kid = kid
            .map(|k| format!(" cenc:default_KID=\"{}\"", kid_uuid(&k)))
            .unwrap_or_default();
        let mut p = format!(
            "      <ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" value=\"{value}\"{default_kid}/>\n\
             \x20     <ContentProtection schemeIdUri=\"urn:uuid:{CLEARKEY_SYSTEM_ID}\" value=\"ClearKey1.0\">\n\
             \x20       <dashif:Laurl Lic_type=\"EME-1.0\">{license_url}</dashif:Laurl>\n\
             \x20     </ContentProtection>\n"
        );
        for d in drm_pssh.iter().filter(|d| !d.pssh.is_empty()) {
            p.push_str(&format!(
                "      <ContentProtection schemeIdUri=\"urn:uuid:{}\">\n        <cenc:pssh>{}</cenc:pssh>\n      </ContentProtection>\n",
                d.system_id,
                base64::engine::general_purpose::STANDARD.encode(&d.pssh)
            ));
        }
        p
    };
    let mut out = String::with_capacity(mpd.len() + 512);
    let mut rest = mpd;
    if let Some(at) = rest.find("<MPD ") {
        out.push_str(&rest[..at + 4]);
        out.push_str(&format!(
            " xmlns:cenc=\"{CENC_NAMESPACE}\" xmlns:dashif=\"{DASHIF_NAMESPACE}\""
        ));
        rest = &rest[at + 4..];
    }
    let mut current = String::new();
    loop {
        let period = rest.find("<Period");
        let Some(set) = rest.find("<AdaptationSet") else {
            break;
        };
        if let Some(p) = period.filter(|&p| p < set) {
            // A new Period: the one its AdaptationSets belong to.
            let head = &rest[p..];
            let id = head
                .split_once(" id=\"")
                .and_then(|(_, v)| v.split_once('"'))
                .map(|(v, _)| v)
                .filter(|_| head.find(" id=\"") < head.find('>'))
                .unwrap_or("");
            current = id.to_string();
        }
        let Some(end) = rest[set..].find(">\n").map(|e| set + e + 2) else {
            break;
        };
        out.push_str(&rest[..end]);
        // Text (subtitles) is served clear.
        if !rest[set..end].contains("contentType=\"text\"") {
            let (kid, drm) = of_period(&current);
            out.push_str(&protection(kid, &drm));
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_adaptation_set_says_how_it_is_protected() {
        let mpd = "<?xml version=\"1.0\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"dynamic\">\n  <Period id=\"p0\">\n    <AdaptationSet id=\"0\" contentType=\"video\">\n      <Representation id=\"v\"/>\n    </AdaptationSet>\n    <AdaptationSet id=\"1\" contentType=\"audio\">\n      <Representation id=\"a\"/>\n    </AdaptationSet>\n    <AdaptationSet id=\"2\" contentType=\"text\">\n      <Representation id=\"t\"/>\n    </AdaptationSet>\n  </Period>\n</MPD>\n";
        let out =
            add_content_protection(mpd, Scheme::Cbcs, Some(&[0xab; 16]), "keys/clearkey", &[]);
        let doc = roxmltree::Document::parse(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
        let root = doc.root_element();
        assert_eq!(
            root.lookup_namespace_uri(Some("cenc")),
            Some(CENC_NAMESPACE)
        );
        let sets: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("AdaptationSet"))
            .collect();
        assert_eq!(sets.len(), 3);
        let (text, sets) = sets.split_last().unwrap();
        assert!(
            !text.children().any(|n| n.has_tag_name("ContentProtection")),
            "subtitles are clear: {out}"
        );
        for set in sets {
            let cps: Vec<_> = set
                .children()
                .filter(|n| n.has_tag_name("ContentProtection"))
                .collect();
            assert_eq!(cps.len(), 2, "{out}");
            assert_eq!(cps[0].attribute("value"), Some("cbcs"));
            assert_eq!(
                cps[0].attribute((CENC_NAMESPACE, "default_KID")),
                Some("abababab-abab-abab-abab-abababababab")
            );
            assert_eq!(
                cps[1].attribute("schemeIdUri"),
                Some("urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e")
            );
            let laurl = cps[1]
                .children()
                .find(|n| n.has_tag_name((DASHIF_NAMESPACE, "Laurl")))
                .unwrap();
            assert_eq!(laurl.text(), Some("keys/clearkey"));
            // Before the Representations, as the schema orders them.
            let first = set.children().find(|n| n.is_element()).unwrap();
            assert!(first.has_tag_name("ContentProtection"));
        }
    }
}
