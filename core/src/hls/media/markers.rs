//! Ad markers of an HLS channel: the cue tags and TS sections of the lead rendition's
//! segments as they are published, the operator's splices, and the lead rendition whose
//! segments place them.

use super::timeline::{PublishedCues, Rendition};
use super::HlsMedia;
use crate::time::Now;

impl HlsMedia {
    /// Keeps the markers of the segments just published; whether any cue came.
    pub(super) fn take_cues(
        &mut self,
        cues: Vec<PublishedCues>,
        warnings: &mut Vec<String>,
    ) -> bool {
        let any = !cues.is_empty();
        for c in cues {
            let mut placed = Vec::new();
            for tag in &c.tags {
                placed.extend(self.markers.take_hls_tag(
                    tag,
                    c.start_unix_ms,
                    c.encoder_clock,
                    warnings,
                ));
            }
            for (section, offset_ms) in c.sections.sections {
                let at = c.start_unix_ms.saturating_add(offset_ms);
                placed.extend(self.markers.take_section(section.into(), at, warnings));
            }
            warnings.extend(c.sections.warnings);
            for (id, at) in placed {
                let segment = (c.start_unix_ms, c.duration_ms);
                warnings.extend(crate::ad_markers::inside_segment(&id, at, segment));
            }
        }
        any
    }

    /// The operator's splice ([`crate::media::Media::splice`]).
    pub(super) fn operator_splice(
        &mut self,
        req: &crate::ad_markers::SpliceRequest,
        now: Now,
    ) -> Result<crate::ad_markers::AdMarker, String> {
        self.last_now = now;
        let live = self.lead_with_media().and_then(|r| {
            let (first, last) = (r.segments.front()?, r.segments.back()?);
            Some((
                first.entry.start_unix_ms,
                last.entry.start_unix_ms + last.entry.duration_ms,
            ))
        });
        let at = crate::ad_markers::splice_time(req, live)?;
        let m = self.markers.splice(req, at)?;
        self.versions.output_changed();
        Ok(m)
    }

    /// The rendition that leads (ad markers, the stream's first frame, the window's clock): the
    /// active input's first variant (its master lists alternative renditions first), else the
    /// first listed.
    pub(super) fn lead(&self) -> Option<usize> {
        let store = &self.inputs[self.active?.index()];
        store
            .master
            .as_ref()
            .and_then(|m| m.variants.first())
            .and_then(|v| {
                self.renditions
                    .iter()
                    .position(|r| r.listed && r.source == v.uri)
            })
            .or_else(|| self.renditions.iter().position(|r| r.listed))
    }

    /// [`HlsMedia::lead`] when it has segments, else the first listed rendition with some.
    pub(super) fn lead_with_media(&self) -> Option<&Rendition> {
        self.lead()
            .map(|i| &self.renditions[i])
            .filter(|r| !r.segments.is_empty())
            .or_else(|| {
                self.renditions
                    .iter()
                    .find(|r| r.listed && !r.segments.is_empty())
            })
    }
}
