//! DASH key rotation as one Period per key: each Period's `cenc:default_KID` names the key of
//! its segments, so players ask for a licence as each new Period appears in the MPD. Shaka
//! takes key ids from the MPD only once it has any there (it never follows the `pssh` boxes
//! segments announce), and dash.js needs `default_KID` to ask at all: Periods are what both
//! follow (DASH-IF IOP §7.7: key rotation by Periods).
//!
//! The clear MPD's Periods are split where the key of their segments changes. A key's Period
//! is anchored once, when first seen (its `start` and each Representation's
//! `presentationTimeOffset`, the media time of its first segment in it), and keeps its id and
//! anchor while any of its segments is in the window: players identify Periods by id and
//! expect one never to move.
//!
//! Every track keeps its exact place against the lead (its `presentationTimeOffset` moves by
//! the Period's distance from the clear Period's start), and lists every segment that
//! overlaps its Period: audio, cut at its own frame boundaries, covers the Period from start
//! to end instead of starting a few ms late or ending a few ms short (a gap dash.js stalls
//! at); a segment across a key change is in both Periods, each player trimming it to each.

use std::collections::{BTreeMap, HashMap};

use super::cenc::Scheme;
use super::cpix::SystemPssh;
use super::mpd::add_content_protection_by_period;
use crate::dash::mpd::{self, Mpd, Period, Representation};
use crate::time::rescale;

/// The MPD of a rotating CMAF endpoint: `model` split into a Period per key
/// ([`split_by_key`]), each with the `ContentProtection` of its key (and that key's other
/// systems' boxes from `drm`), the ClearKey licence at `license_url`.
pub fn protected_mpd(
    model: &Mpd,
    kid_of: impl Fn(&str, u64) -> Option<[u8; 16]>,
    anchors: &mut BTreeMap<String, Anchor>,
    scheme: Scheme,
    license_url: &str,
    drm: &HashMap<[u8; 16], Vec<SystemPssh>>,
) -> String {
    let (split, kids) = split_by_key(model, kid_of, anchors);
    let kids: HashMap<String, [u8; 16]> = kids.into_iter().collect();
    add_content_protection_by_period(&mpd::render(&split), scheme, license_url, |id| {
        let kid = kids.get(id).copied();
        let boxes = kid.and_then(|k| drm.get(&k).cloned()).unwrap_or_default();
        (kid, boxes)
    })
}

/// A segment of a Representation: `($Number$, t, d)`.
type Seg = (u64, u64, u64);
/// A segment of a Representation with its key: `($Number$, t, d, kid)`.
type Keyed = (u64, u64, u64, [u8; 16]);

/// Where the Period of one key starts, fixed when first seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// `Period@start`, ms after `availabilityStartTime`.
    pub start_ms: u64,
    /// `presentationTimeOffset` by Representation id.
    pub ptos: BTreeMap<String, u64>,
}

/// `mpd` with each Period split where its segments' key changes, and the key id of each
/// Period. `kid_of(media, number)` is the key of segment `number` of the Representation whose
/// `SegmentTemplate@media` is `media`; a segment without one ends the timeline (nothing after
/// it is announced). `anchors` keeps each key's Period across calls, by Period id.
pub fn split_by_key(
    model: &Mpd,
    kid_of: impl Fn(&str, u64) -> Option<[u8; 16]>,
    anchors: &mut BTreeMap<String, Anchor>,
) -> (Mpd, Vec<(String, [u8; 16])>) {
    let mut periods = Vec::new();
    let mut kids = Vec::new();
    for p in &model.periods {
        let Some(lead) = p
            .adaptation_sets
            .first()
            .and_then(|s| s.representations.first())
        else {
            continue;
        };
        // Each Representation's segments with their keys, up to the first without one;
        // subtitles are clear (all listed, each key's Period takes them by time).
        let keyed: HashMap<&str, Vec<Keyed>> = p
            .adaptation_sets
            .iter()
            .flat_map(|s| {
                let clear = s.content_type == mpd::ContentType::Text;
                s.representations.iter().map(move |r| (clear, r))
            })
            .map(|(clear, rep)| {
                let kid = |n| match clear {
                    true => Some([0; 16]),
                    false => kid_of(&rep.template.media, n),
                };
                let list = segments(rep)
                    .map_while(|(n, t, d)| Some((n, t, d, kid(n)?)))
                    .collect();
                (rep.id.as_str(), list)
            })
            .collect();
        let of = |rep: &Representation| keyed.get(rep.id.as_str()).map_or(&[][..], Vec::as_slice);
        // The keys of the lead Representation's segments, in order, with the media time at
        // which each starts.
        let mut runs: Vec<([u8; 16], u64)> = Vec::new();
        for &(_, t, _, kid) in of(lead) {
            if runs.last().is_none_or(|run| run.0 != kid) {
                runs.push((kid, t));
            }
        }
        // Where each key's Period begins on the clear Period's presentation time line (ms).
        let lt = &lead.template;
        let at_ms = |t: u64, tmpl: &mpd::SegmentTemplate| {
            rescale(
                t.saturating_sub(tmpl.presentation_time_offset),
                tmpl.timescale,
                1000,
            )
        };
        let bounds: Vec<u64> = runs.iter().map(|r| at_ms(r.1, lt)).collect();
        for (k, (kid, lead_t)) in runs.into_iter().enumerate() {
            // Each Representation's segments that overlap this key's Period: the lead's are
            // exactly those under the key; others (audio, cut at its own frame boundaries,
            // perhaps numbered otherwise) go by time, so every track covers its Period whole
            // (a segment across a key change is listed in both Periods; players trim to each
            // Period, and licences carry every key the endpoint has).
            let (from, to) = (bounds[k], bounds.get(k + 1).copied().unwrap_or(u64::MAX));
            let mine = |rep: &Representation| -> Vec<Seg> {
                let tmpl = &rep.template;
                of(rep)
                    .iter()
                    .filter(|&&(_, t, d, _)| at_ms(t, tmpl) < to && at_ms(t + d, tmpl) > from)
                    .map(|&(n, t, d, _)| (n, t, d))
                    .collect()
            };
            let id = format!("{}k{}", p.id, &crate::hex::encode(&kid)[..8]);
            let anchor = anchors
                .entry(id.clone())
                .or_insert_with(|| anchor(p, lead, lead_t));
            let mut sub = Period {
                id: id.clone(),
                start_ms: anchor.start_ms,
                adaptation_sets: Vec::new(),
            };
            for set in &p.adaptation_sets {
                let mut set = set.clone();
                set.representations.retain_mut(|rep| {
                    let mine = mine(rep);
                    let Some(&(n0, t0, _)) = mine.first() else {
                        return false;
                    };
                    rep.template.start_number = n0;
                    rep.template.presentation_time_offset =
                        anchor.ptos.get(&rep.id).copied().unwrap_or(t0);
                    rep.template.timeline = mpd::timeline_from(mine.iter().map(|s| (s.1, s.2)));
                    true
                });
                if !set.representations.is_empty() {
                    sub.adaptation_sets.push(set);
                }
            }
            if !sub.adaptation_sets.is_empty() {
                periods.push(sub);
                kids.push((id, kid));
            }
        }
    }
    anchors.retain(|id, _| kids.iter().any(|(k, _)| k == id));
    (
        Mpd {
            periods,
            ..model.clone()
        },
        kids,
    )
}

/// The anchor of the key whose segments start (on the lead Representation) at media time
/// `lead_t` in Period `p`; `mine` gives each Representation's segments under the key.
fn anchor(p: &Period, lead: &Representation, lead_t: u64) -> Anchor {
    let lt = &lead.template;
    let into = lead_t.saturating_sub(lt.presentation_time_offset);
    let into_ms = rescale(into, lt.timescale, 1000);
    // Every track keeps its place against the lead: its offset moves by the same time.
    let ptos = p
        .adaptation_sets
        .iter()
        .flat_map(|s| &s.representations)
        .map(|rep| {
            let t = &rep.template;
            let moved = rescale(into, lt.timescale, t.timescale);
            (
                rep.id.clone(),
                t.presentation_time_offset.saturating_add(moved),
            )
        })
        .collect();
    Anchor {
        start_ms: p.start_ms.saturating_add(into_ms),
        ptos,
    }
}

/// A Representation's segments: `($Number$, t, d)`.
fn segments(rep: &Representation) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
    let start = rep.template.start_number;
    rep.template
        .timeline
        .iter()
        .flat_map(|s| (0..=u64::from(s.r)).map(move |i| (s.t + i * s.d, s.d)))
        .enumerate()
        .map(move |(i, (t, d))| (start + i as u64, t, d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dash::mpd::{AdaptationSet, ContentType, SegmentTemplate, S};

    fn rep(
        id: &str,
        timescale: u32,
        pto: u64,
        start: u64,
        t0: u64,
        d: u64,
        n: u32,
    ) -> Representation {
        Representation {
            id: id.into(),
            bandwidth: 1,
            codecs: String::new(),
            width: None,
            height: None,
            frame_rate: None,
            audio_sampling_rate: None,
            audio_channels: None,
            template: SegmentTemplate {
                timescale,
                presentation_time_offset: pto,
                initialization: format!("{id}/init0.mp4"),
                media: format!("{id}/$Number$.m4s"),
                start_number: start,
                timeline: vec![S { t: t0, d, r: n - 1 }],
            },
        }
    }

    fn model(start: u64, n: u32) -> Mpd {
        // Video at 90 kHz, audio at 48 kHz starting 10 ms later; 2 s segments numbered from
        // `start`, the Period's reference at number 100.
        let skip = start - 100;
        let set = |id: u32, ct, r: Representation| AdaptationSet {
            id,
            content_type: ct,
            mime_type: String::new(),
            lang: None,
            segment_alignment: true,
            cea608: None,
            representations: vec![r],
        };
        Mpd {
            dynamic: true,
            availability_start_unix_ms: 0,
            publish_time_unix_ms: 0,
            time_shift_buffer_ms: 0,
            min_update_period_ms: 2000,
            suggested_presentation_delay_ms: 6000,
            min_buffer_time_ms: 2000,
            max_segment_duration_ms: 2000,
            media_presentation_duration_ms: None,
            utc_timing: vec![],
            low_latency: None,
            periods: vec![Period {
                id: "p0".into(),
                start_ms: 5_000,
                adaptation_sets: vec![
                    set(
                        0,
                        ContentType::Video,
                        rep(
                            "v",
                            90_000,
                            900_000,
                            start,
                            900_000 + skip * 180_000,
                            180_000,
                            n,
                        ),
                    ),
                    set(
                        1,
                        ContentType::Audio,
                        rep(
                            "a",
                            48_000,
                            480_480,
                            start,
                            480_480 + skip * 96_000,
                            96_000,
                            n,
                        ),
                    ),
                ],
            }],
        }
    }

    /// Keys change every two segments (numbers 100-101 key 0, 102-103 key 1, ...).
    fn kid(_media: &str, n: u64) -> Option<[u8; 16]> {
        Some([((n - 100) / 2) as u8 + 1; 16])
    }

    #[test]
    fn a_period_per_key_anchored_once() {
        let mut anchors = BTreeMap::new();
        let (m, kids) = split_by_key(&model(100, 5), kid, &mut anchors);
        assert_eq!(m.periods.len(), 3);
        assert_eq!(
            kids.iter().map(|k| k.1[0]).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        let starts: Vec<u64> = m.periods.iter().map(|p| p.start_ms).collect();
        assert_eq!(starts, vec![5_000, 9_000, 13_000]);
        let second = &m.periods[1];
        let v = &second.adaptation_sets[0].representations[0].template;
        let a = &second.adaptation_sets[1].representations[0].template;
        assert_eq!(
            (v.start_number, v.presentation_time_offset),
            (102, 900_000 + 2 * 180_000)
        );
        assert_eq!(
            v.timeline,
            vec![S {
                t: 900_000 + 2 * 180_000,
                d: 180_000,
                r: 1
            }]
        );
        // Audio's offset is its own first segment's time: it starts with the Period.
        assert_eq!(
            (a.start_number, a.presentation_time_offset),
            (102, 480_480 + 2 * 96_000)
        );
        assert_eq!(
            m.periods[2].adaptation_sets[0].representations[0]
                .template
                .timeline
                .len(),
            1
        );
        // Later: the window slid by three segments; the Periods that remain keep their ids,
        // starts and offsets, and the new key's Period is anchored where it begins.
        let (later, _) = split_by_key(&model(103, 5), kid, &mut anchors);
        let ids: Vec<&str> = later.periods.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                m.periods[1].id.as_str(),
                m.periods[2].id.as_str(),
                &later.periods[2].id
            ]
        );
        assert_eq!(later.periods[0].start_ms, 9_000);
        let v = &later.periods[0].adaptation_sets[0].representations[0].template;
        assert_eq!(
            (v.start_number, v.presentation_time_offset),
            (103, 900_000 + 2 * 180_000)
        );
        assert_eq!(later.periods[2].start_ms, 17_000);
        assert_eq!(anchors.len(), 3, "anchors of Periods that left are let go");
    }

    #[test]
    fn a_segment_without_its_key_ends_the_timeline() {
        let held = |_: &str, n: u64| (n < 103).then(|| [((n - 100) / 2) as u8 + 1; 16]);
        let (m, kids) = split_by_key(&model(100, 5), held, &mut BTreeMap::new());
        assert_eq!(kids.len(), 2);
        let last = &m.periods[1].adaptation_sets[0].representations[0].template;
        assert_eq!(
            (last.start_number, last.timeline[0].r),
            (102, 0),
            "103 and 104 are not announced"
        );
    }
}
