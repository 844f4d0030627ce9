//! Which renditions an HLS channel's output has: the active input's master lists them (variants
//! and alternative renditions), or, without a master, every current media playlist does; each
//! gets a URL-safe, unique name from its playlist's file name.

use super::store::InputStore;
use super::timeline::Rendition;

/// Makes the rendition list follow the active input's `store`: its master's variants and
/// renditions, or (no master) every current media playlist. Returns whether it changed.
pub(super) fn sync(
    renditions: &mut Vec<Rendition>,
    master_mode: &mut bool,
    store: &InputStore,
) -> bool {
    let sources: Vec<&str> = match &store.master {
        Some(m) => m
            .media
            .iter()
            .filter_map(|x| x.uri.as_deref())
            .chain(m.variants.iter().map(|v| v.uri.as_str()))
            .collect(),
        None => store
            .media
            .iter()
            .filter(|(_, e)| e.run == store.run)
            .map(|(p, _)| p.as_str())
            .collect(),
    };
    let mut changed = false;
    for src in &sources {
        match renditions.iter_mut().find(|r| r.source == *src) {
            Some(r) => {
                if !r.listed {
                    r.listed = true;
                    changed = true;
                }
            }
            None => {
                let name = unique_name(renditions, src);
                renditions.push(Rendition::new(name, (*src).to_string()));
                changed = true;
            }
        }
    }
    // With a master, what it does not list goes; without, a rendition whose playlist the
    // store forgot (not updated for a whole window) goes.
    let has_master = store.master.is_some();
    if !has_master && store.media.is_empty() {
        // The whole input went quiet (both inputs down): hold the window as it is rather
        // than empty it under the players' feet; it resumes when media comes back.
        return changed;
    }
    for r in renditions.iter_mut() {
        let gone = if has_master {
            !sources.contains(&r.source.as_str())
        } else {
            !store.media.contains_key(&r.source)
        };
        if r.listed && gone {
            r.listed = false;
            r.clear();
            changed = true;
        }
    }
    if store.master.is_some() || renditions.len() > 1 {
        *master_mode = true;
    }
    changed
}

/// A rendition name from its playlist's file stem, `[A-Za-z0-9_-]` only, unique.
fn unique_name(existing: &[Rendition], source: &str) -> String {
    let file = source.rsplit('/').next().unwrap_or(source);
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let mut base: String = stem
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if base.is_empty() {
        base.push('r');
    }
    let mut name = base.clone();
    let mut n = 2u32;
    while existing.iter().any(|r| r.name == name) {
        name = format!("{base}_{n}");
        n = n.saturating_add(1);
    }
    name
}
