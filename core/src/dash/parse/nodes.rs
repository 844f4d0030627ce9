//! Reading an MPD's nodes: numeric and duration attributes, `SegmentTimeline` expansion, and
//! the paths `BaseURL`s and templates resolve to inside the input.

use super::MAX_SEGMENTS_PER_REPRESENTATION;
use crate::hls::resolve_uri;
use crate::parse_error::ParseError;
use roxmltree::Node;

/// `(t, d, S@n)` of every segment of a timeline. `span` (ticks) is the Period's length when
/// known, for a trailing `r="-1"`.
pub(super) fn expand_timeline(
    tl: Node<'_, '_>,
    pto: u64,
    span: Option<u64>,
) -> Result<Vec<(u64, u64, Option<u64>)>, ParseError> {
    let entries: Vec<Node> = children(tl, "S").collect();
    let mut out = Vec::new();
    let mut t = pto;
    for (i, s) in entries.iter().enumerate() {
        let d: u64 = num(*s, "d")?.ok_or_else(|| ParseError::missing("S without @d"))?;
        if d == 0 {
            return Err(ParseError::invalid("S@d is 0"));
        }
        if let Some(st) = num(*s, "t")? {
            t = st;
        }
        let mut n: Option<u64> = num(*s, "n")?;
        let r: i64 = match s.attribute("r") {
            None => 0,
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| ParseError::invalid(format!("S@r {v:?} is not a number")))?,
        };
        let count: u64 = match r {
            -1 => {
                let until = match entries.get(i + 1) {
                    Some(next) => num(*next, "t")?,
                    None => span.map(|sp| pto.saturating_add(sp)),
                };
                until.map_or(1, |u| u.saturating_sub(t).div_ceil(d).max(1))
            }
            r if r < -1 => return Err(ParseError::invalid(format!("S@r {r} is below -1"))),
            r => u64::try_from(r).unwrap_or(0).saturating_add(1),
        };
        for _ in 0..count {
            if out.len() >= MAX_SEGMENTS_PER_REPRESENTATION {
                return Err(ParseError::limit(format!(
                    "a SegmentTimeline lists more than {MAX_SEGMENTS_PER_REPRESENTATION} segments"
                )));
            }
            out.push((t, d, n));
            t = t
                .checked_add(d)
                .ok_or_else(|| ParseError::invalid("SegmentTimeline times overflow"))?;
            n = n.map(|x| x.saturating_add(1));
        }
    }
    Ok(out)
}

pub(super) fn children<'a, 'i>(
    n: Node<'a, 'i>,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

pub(super) fn first_child<'a, 'i>(n: Node<'a, 'i>, name: &'static str) -> Option<Node<'a, 'i>> {
    children(n, name).next()
}

pub(super) fn num<T: std::str::FromStr>(
    n: Node<'_, '_>,
    name: &str,
) -> Result<Option<T>, ParseError> {
    n.attribute(name)
        .map(|v| {
            v.trim().parse::<T>().map_err(|_| {
                ParseError::invalid(format!(
                    "{}@{name} {v:?} is not a valid number",
                    n.tag_name().name()
                ))
            })
        })
        .transpose()
}

pub(super) fn opt_duration(n: Node<'_, '_>, name: &str) -> Result<Option<u64>, ParseError> {
    n.attribute(name)
        .map(|v| {
            parse_duration_ms(v).ok_or_else(|| {
                ParseError::invalid(format!(
                    "{}@{name} {v:?} is not an xs:duration",
                    n.tag_name().name()
                ))
            })
        })
        .transpose()
}

/// Parses an `xs:duration` with days, hours, minutes and (fractional) seconds into ms
/// (`PT2S`, `PT0.5S`, `PT1H2M3.25S`, `P1DT0S`). Years and months have no fixed length: `None`.
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    let rest = s.trim().strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut ms = 0u64;
    let mut any = false;
    let mut num = String::new();
    for c in date.chars() {
        match c {
            '0'..='9' => num.push(c),
            'D' => {
                ms = ms.checked_add(num.parse::<u64>().ok()?.checked_mul(86_400_000)?)?;
                num.clear();
                any = true;
            }
            _ => return None,
        }
    }
    if !num.is_empty() {
        return None;
    }
    if let Some(time) = time {
        if time.is_empty() {
            return None;
        }
        for c in time.chars() {
            let unit: u64 = match c {
                '0'..='9' | '.' => {
                    num.push(c);
                    continue;
                }
                'H' => 3_600_000,
                'M' => 60_000,
                'S' => 1_000,
                _ => return None,
            };
            let (whole, frac) = num.split_once('.').unwrap_or((&num, ""));
            if (whole.is_empty() && frac.is_empty()) || (unit != 1_000 && !frac.is_empty()) {
                return None;
            }
            let whole: u64 = if whole.is_empty() {
                0
            } else {
                whole.parse().ok()?
            };
            let frac_ms: u64 = if frac.is_empty() {
                0
            } else {
                if !frac.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let digits: String = frac.chars().chain("000".chars()).take(3).collect();
                digits.parse().ok()?
            };
            ms = ms.checked_add(whole.checked_mul(unit)?.checked_add(frac_ms)?)?;
            num.clear();
            any = true;
        }
        if !num.is_empty() {
            return None;
        }
    }
    any.then_some(ms)
}

/// The directory of a path in the input: `""` or ending with `/`.
pub(super) fn parent_dir(path: &str) -> String {
    path.rfind('/')
        .map_or_else(String::new, |i| path[..=i].to_string())
}

/// Applies the first `BaseURL` child of `n` (relative only) to the directory `dir`.
pub(super) fn with_base_url(dir: &str, n: Node<'_, '_>) -> Result<String, ParseError> {
    let Some(b) = first_child(n, "BaseURL") else {
        return Ok(dir.to_string());
    };
    let text = b.text().unwrap_or("").trim();
    if text.is_empty() {
        return Ok(dir.to_string());
    }
    if text.ends_with('/') {
        let joined = join(dir, &format!("{text}_"))?;
        match joined.strip_suffix('_') {
            Some(d) => Ok(d.to_string()),
            // A query or fragment swallowed the placeholder: `sub?x/` is the file `sub`.
            None => Ok(parent_dir(&joined)),
        }
    } else {
        Ok(parent_dir(&join(dir, text)?))
    }
}

/// Resolves `rel` against the directory `dir` (`""` or ending with `/`).
pub(super) fn join(dir: &str, rel: &str) -> Result<String, ParseError> {
    resolve_uri(&format!("{dir}_"), rel)
}
