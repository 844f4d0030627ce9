//! How an HLS input's failover evidence is read: its *leader* playlist, when it ended, its new
//! deliveries, and whether the two inputs are aligned. The decision itself is protocol-neutral
//! ([`crate::media::failover`]).

use super::store::InputStore;
use crate::channel::config::InputRole;
use crate::media::failover::{logs_aligned, InputTrack, Tracker};
use crate::time::parse_rfc3339_ms;

/// The path whose deliveries stand for the input: its master's first variant, else its first
/// current media playlist.
pub(crate) fn leader_path(store: &InputStore) -> Option<&str> {
    match &store.master {
        Some(m) => m
            .variants
            .iter()
            .map(|v| v.uri.as_str())
            .find(|u| store.current_media(u).is_some()),
        None => store
            .media
            .iter()
            .find(|(_, e)| e.run == store.run)
            .map(|(p, _)| p.as_str()),
    }
}

/// Whether the input's leader playlist ended (`EXT-X-ENDLIST`).
pub(crate) fn ended(store: &InputStore) -> bool {
    leader_path(store)
        .and_then(|p| store.current_media(p))
        .is_some_and(|pl| pl.end_list)
}

/// Records new deliveries of each input's leader playlist.
pub(crate) fn observe(
    tracker: &mut Tracker,
    stores: &[InputStore; 2],
    now_mono: u64,
    max_ok_ms: u64,
) {
    for role in InputRole::ALL {
        let store = &stores[role.index()];
        let Some(path) = leader_path(store) else {
            continue;
        };
        let Some(pl) = store.current_media(path) else {
            continue;
        };
        let mut pdt: Option<i64> = None;
        let mut fresh = Vec::new();
        for (i, seg) in pl.segments.iter().enumerate() {
            let seq = pl.media_sequence.saturating_add(i as u64);
            pdt = match seg.program_date_time.as_deref().and_then(parse_rfc3339_ms) {
                Some(p) => Some(p),
                None => pdt,
            };
            let this_pdt = pdt;
            pdt = pdt.map(|p| p.saturating_add(i64::try_from(seg.duration_ms).unwrap_or(0)));
            let t = &tracker.inputs[role.index()];
            // Newer: a higher number, or bytes pushed after the last delivery (an encoder
            // that restarted after its old playlist was forgotten numbers from 0 again).
            let newer = !t.log.contains(path, seq)
                && (match &t.last {
                    Some((p, s)) if p == path => seq > *s,
                    _ => true,
                } || store
                    .objects
                    .get(&seg.uri)
                    .is_some_and(|o| t.last_at.is_some_and(|l| o.arrived_mono_ms > l)));
            // A listed segment still missing is not waited for: if a later one is here,
            // the gap breaks the streak; arriving late, it is older than the last and ignored.
            if newer && store.has_segment(&seg.uri, seg.map_uri.as_deref()) {
                fresh.push((seq, seg.duration_ms, this_pdt));
            }
        }
        for (seq, duration_ms, pdt_ms) in fresh {
            tracker.deliver(role, path, seq, duration_ms, pdt_ms, now_mono, max_ok_ms);
        }
    }
}

/// Whether `a` and `b` number the same moments alike, so that the output can go on from `a`'s
/// segment `n` to `b`'s segment `n + 1` without a discontinuity.
///
/// Evidence: the leader playlist is the same path on both inputs, `renditions` are all present
/// on `b`, and its deliveries agree ([`logs_aligned`]).
pub(crate) fn aligned(
    tracks: &[InputTrack; 2],
    stores: &[InputStore; 2],
    a: InputRole,
    renditions: &[&str],
) -> bool {
    let b = a.other();
    let (sa, sb) = (&stores[a.index()], &stores[b.index()]);
    let Some(path) = leader_path(sa) else {
        return false;
    };
    if leader_path(sb) != Some(path)
        || sa.master.is_some() != sb.master.is_some()
        || renditions.iter().any(|r| sb.current_media(r).is_none())
    {
        return false;
    }
    logs_aligned(tracks, a, path)
}
