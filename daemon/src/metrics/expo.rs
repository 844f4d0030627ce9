//! The Prometheus text exposition format, version 0.0.4: `# HELP` and `# TYPE` once per
//! family, then its samples; label values escaped; histograms as cumulative `_bucket` series
//! ending with `le="+Inf"`, plus `_sum` and `_count`.

use std::fmt::Write as _;

/// `Content-Type` of a scrape answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Metric family types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets on restart).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Buckets, sum and count.
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A sample value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// An integer.
    Int(u64),
    /// A float (`NaN`, `+Inf`, `-Inf` spelled as the format wants).
    Float(f64),
}

/// Builds one exposition text.
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
}

/// Escapes a label value: backslash, double quote and line feed.
pub fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn write_value(v: Value, out: &mut String) {
    match v {
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float(f) if f.is_nan() => out.push_str("NaN"),
        Value::Float(f) if f.is_infinite() => out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" }),
        Value::Float(f) => {
            let _ = write!(out, "{f}");
        }
    }
}

impl Writer {
    /// An empty exposition.
    pub fn new() -> Writer {
        Writer::default()
    }

    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = write!(self.out, "# HELP {name} ");
        escape_help(help, &mut self.out);
        let _ = writeln!(self.out, "\n# TYPE {name} {}", kind.name());
    }

    /// One sample line.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: Value) {
        self.out.push_str(name);
        self.labels(labels, None);
        self.out.push(' ');
        write_value(value, &mut self.out);
        self.out.push('\n');
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let all = labels.iter().copied().chain(le.map(|v| ("le", v)));
        for (i, (k, v)) in all.enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_label(v, &mut self.out);
            self.out.push('"');
        }
        self.out.push('}');
    }

    /// A histogram's series. `counts` holds per-bucket counts (not cumulative), one per bound
    /// in `le` plus a last one above every bound; `sum` is in the bounds' unit.
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        le: &[&str],
        counts: &[u64],
        sum: f64,
    ) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (bound, n) in le.iter().zip(counts) {
            cumulative = cumulative.wrapping_add(*n);
            self.out.push_str(&bucket);
            self.labels(labels, Some(bound));
            let _ = writeln!(self.out, " {cumulative}");
        }
        let total = counts.iter().fold(0u64, |a, n| a.wrapping_add(*n));
        self.out.push_str(&bucket);
        self.labels(labels, Some("+Inf"));
        let _ = writeln!(self.out, " {total}");
        self.sample(&format!("{name}_sum"), labels, Value::Float(sum));
        self.sample(&format!("{name}_count"), labels, Value::Int(total));
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut w = Writer::new();
        w.family("x_total", Kind::Counter, "a \\ help\nline");
        w.sample(
            "x_total",
            &[("a", "q\"uo\\te\nnl"), ("b", "plain")],
            Value::Int(3),
        );
        assert_eq!(
            w.finish(),
            "# HELP x_total a \\\\ help\\nline\n# TYPE x_total counter\n\
             x_total{a=\"q\\\"uo\\\\te\\nnl\",b=\"plain\"} 3\n"
        );
    }

    #[test]
    fn samples_without_labels_and_special_floats() {
        let mut w = Writer::new();
        w.sample("g", &[], Value::Float(0.25));
        w.sample("g", &[], Value::Float(f64::NAN));
        w.sample("g", &[], Value::Float(f64::INFINITY));
        w.sample("g", &[], Value::Float(f64::NEG_INFINITY));
        w.sample("g", &[], Value::Float(1e21));
        assert_eq!(
            w.finish(),
            "g 0.25\ng NaN\ng +Inf\ng -Inf\ng 1000000000000000000000\n"
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_inf() {
        let mut w = Writer::new();
        w.family("h_seconds", Kind::Histogram, "h");
        w.histogram("h_seconds", &[("e", "1")], &["0.1", "1"], &[2, 3, 4], 7.5);
        assert_eq!(
            w.finish(),
            "# HELP h_seconds h\n# TYPE h_seconds histogram\n\
             h_seconds_bucket{e=\"1\",le=\"0.1\"} 2\n\
             h_seconds_bucket{e=\"1\",le=\"1\"} 5\n\
             h_seconds_bucket{e=\"1\",le=\"+Inf\"} 9\n\
             h_seconds_sum{e=\"1\"} 7.5\n\
             h_seconds_count{e=\"1\"} 9\n"
        );
    }

    #[test]
    fn empty_histogram_still_has_inf_bucket() {
        let mut w = Writer::new();
        w.histogram("h", &[], &["1"], &[0, 0], 0.0);
        assert_eq!(
            w.finish(),
            "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n"
        );
    }
}
