//! Scraping the daemon's `/metrics` and reading values out of the text exposition.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::*;
use std::collections::BTreeMap;

/// One sample line: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (with `_bucket`/`_sum`/`_count` for histogram series).
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

/// A parsed scrape.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The exposition text as served.
    pub text: String,
    /// Its samples.
    pub samples: Vec<Sample>,
}

/// `GET /metrics` (asserting 200 and the 0.0.4 content type) and parse it.
pub fn scrape(addr: impl std::fmt::Display) -> Scrape {
    let r = get(addr, "/metrics");
    assert_eq!(
        r.status,
        200,
        "/metrics answered {}: {}",
        r.status,
        r.text()
    );
    let ct = r.header("content-type").unwrap_or_default().to_string();
    assert!(
        ct.starts_with("text/plain") && ct.contains("version=0.0.4"),
        "Content-Type: {ct}"
    );
    Scrape::parse(&r.text())
}

fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Scrape {
    /// Parses exposition text (the subset the daemon writes: no timestamps).
    pub fn parse(text: &str) -> Scrape {
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample has a value");
            let value = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), BTreeMap::new()),
                Some((n, rest)) => {
                    let body = rest.strip_suffix('}').expect("closing brace");
                    let mut labels = BTreeMap::new();
                    let mut rest = body;
                    while !rest.is_empty() {
                        let (k, after) = rest.split_once("=\"").expect("label =\"");
                        // Find the closing quote that is not escaped.
                        let mut end = None;
                        let mut esc = false;
                        for (i, c) in after.char_indices() {
                            if esc {
                                esc = false;
                            } else if c == '\\' {
                                esc = true;
                            } else if c == '"' {
                                end = Some(i);
                                break;
                            }
                        }
                        let end = end.expect("closing quote");
                        labels.insert(k.to_string(), unescape(&after[..end]));
                        rest = after[end + 1..].trim_start_matches(',');
                    }
                    (n.to_string(), labels)
                }
            };
            samples.push(Sample {
                name,
                labels,
                value,
            });
        }
        Scrape {
            text: text.to_string(),
            samples,
        }
    }

    /// Samples of `name` whose labels include all of `labels`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// Sum of the matching samples; `None` when there is none.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let v: Vec<f64> = self.matching(name, labels).map(|s| s.value).collect();
        (!v.is_empty()).then(|| v.iter().sum())
    }

    /// [`Scrape::sum`], panicking with the exposition when there is no such series.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.sum(name, labels)
            .unwrap_or_else(|| panic!("no series {name} with {labels:?} in:\n{}", self.text))
    }

    /// Whether any sample carries `label="value"`.
    pub fn mentions(&self, label: &str, value: &str) -> bool {
        self.samples
            .iter()
            .any(|s| s.labels.get(label).map(String::as_str) == Some(value))
    }
}
