//! `SegmentTemplate` `@media`/`@initialization` templates (ISO/IEC 23009-1 §5.3.9.4.4):
//! `$RepresentationID$`, `$Bandwidth$`, `$Number$`, `$Time$` with optional `%0Nd` widths, and
//! `$$`. The Representation's id and bandwidth are filled in when parsing; numbers and times
//! per segment.

use crate::parse_error::ParseError;

/// A parsed `@media`/`@initialization` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Number(usize),
    Time(usize),
}

impl Template {
    /// Parses a template, filling in `$RepresentationID$` and `$Bandwidth$`.
    pub fn parse(s: &str, rep_id: &str, bandwidth: u64) -> Result<Template, ParseError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            lit.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let Some(j) = after.find('$') else {
                return Err(ParseError::syntax(format!(
                    "unterminated '$' in template {s:?}"
                )));
            };
            let ident = &after[..j];
            rest = &after[j + 1..];
            let (name, width) = match ident.split_once('%') {
                Some((n, f)) => (n, Some(width_of(f, s)?)),
                None => (ident, None),
            };
            match name {
                "" => lit.push('$'),
                "RepresentationID" if width.is_none() => lit.push_str(rep_id),
                "Bandwidth" => lit.push_str(&pad(bandwidth, width.unwrap_or(0))),
                "Number" | "Time" => {
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    let w = width.unwrap_or(0);
                    parts.push(if name == "Number" {
                        Part::Number(w)
                    } else {
                        Part::Time(w)
                    });
                }
                _ => {
                    return Err(ParseError::unsupported(format!(
                        "unsupported identifier ${ident}$ in template {s:?}"
                    )))
                }
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template(parts))
    }

    /// Whether it has neither `$Number$` nor `$Time$` (an `@initialization`).
    pub fn is_constant(&self) -> bool {
        self.0.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// Whether `$Time$` appears.
    pub fn uses_time(&self) -> bool {
        self.0.iter().any(|p| matches!(p, Part::Time(_)))
    }

    /// The `$Number$` of `text` if this template (with one `$Number$` and no `$Time$`) could
    /// have produced it.
    pub fn match_number(&self, text: &str) -> Option<u64> {
        let mut rest = text;
        let mut number = None;
        for p in &self.0 {
            match p {
                Part::Lit(l) => rest = rest.strip_prefix(l.as_str())?,
                Part::Number(_) if number.is_none() => {
                    let end = rest
                        .bytes()
                        .position(|b| !b.is_ascii_digit())
                        .unwrap_or(rest.len());
                    number = Some(rest[..end].parse().ok()?);
                    rest = &rest[end..];
                }
                _ => return None,
            }
        }
        if rest.is_empty() {
            number
        } else {
            None
        }
    }

    /// The text for segment `number` starting at `time`.
    pub fn expand(&self, number: u64, time: u64) -> String {
        let mut s = String::new();
        for p in &self.0 {
            match p {
                Part::Lit(l) => s.push_str(l),
                Part::Number(w) => s.push_str(&pad(number, *w)),
                Part::Time(w) => s.push_str(&pad(time, *w)),
            }
        }
        s
    }
}

/// `%0Nd` → N (`%d` → 0).
fn width_of(f: &str, template: &str) -> Result<usize, ParseError> {
    let digits = f
        .strip_suffix('d')
        .map(|d| d.strip_prefix('0').unwrap_or(d))
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()) && d.len() <= 2);
    match digits {
        Some("") => Ok(0),
        Some(d) => d
            .parse()
            .map_err(|_| ParseError::invalid(format!("bad width in {template:?}"))),
        None => Err(ParseError::invalid(format!(
            "bad format %{f} in template {template:?}"
        ))),
    }
}

fn pad(v: u64, width: usize) -> String {
    format!("{v:0width$}")
}
