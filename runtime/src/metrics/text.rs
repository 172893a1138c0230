//! The classic Prometheus text format (0.0.4), encoded from a snapshot, for scrapers that do
//! not ask for OpenMetrics (prometheus-client writes only OpenMetrics). Where it differs from
//! our OpenMetrics: no `# UNIT` and no `# EOF` lines, and a counter's HELP and TYPE lines name
//! the series (`x_total`), not the family.

use super::family::Kind;
use super::snapshot::{FamilyData, LabelSet};

/// Encodes the families (empty ones are already left out).
pub(crate) fn encode(families: &[FamilyData]) -> String {
    let mut out = String::with_capacity(families.iter().map(estimate).sum());
    let mut num = Numbers::default();
    for f in families {
        out.push_str("# HELP ");
        out.push_str(&f.exposed);
        out.push(' ');
        push_escaped(&mut out, f.help, false);
        out.push_str("\n# TYPE ");
        out.push_str(&f.exposed);
        out.push_str(match f.kind {
            Kind::Gauge => " gauge\n",
            Kind::Counter => " counter\n",
            Kind::Histogram => " histogram\n",
        });
        if f.kind == Kind::Histogram {
            for s in f.series() {
                let mut cumulative = 0u64;
                for (&(_, n), le) in f.buckets(s.index).iter().zip(f.les(s.index)) {
                    cumulative += n;
                    line(&mut out, &f.exposed, "_bucket", s.labels, Some(le));
                    out.push_str(num.itoa.format(cumulative));
                    out.push('\n');
                }
                line(&mut out, &f.exposed, "_sum", s.labels, None);
                num.value(&mut out, s.value);
                line(&mut out, &f.exposed, "_count", s.labels, None);
                out.push_str(num.itoa.format(cumulative));
                out.push('\n');
            }
        } else {
            for s in f.series() {
                line(&mut out, &f.exposed, "", s.labels, None);
                num.value(&mut out, s.value);
            }
        }
    }
    out
}

/// Bytes a family will take, values guessed at 12 characters (the result is shrunk to fit).
fn estimate(f: &FamilyData) -> usize {
    let per_series = f.exposed.len() + 16;
    let buckets: usize = (0..f.len()).map(|i| f.buckets(i).len() * (f.exposed.len() + 40)).sum();
    64 + f.help.len() + 2 * f.exposed.len() + f.len() * per_series + f.label_text_len() + buckets
}

/// Writes `name` `suffix` `{labels,le="…"} ` (the braces only when there are labels).
fn line(out: &mut String, name: &str, suffix: &str, labels: LabelSet<'_>, le: Option<&str>) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        for (n, v) in labels.iter().chain(le.map(|le| ("le", le))) {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(n);
            out.push_str("=\"");
            push_escaped(out, v, true);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
}

/// Appends `s` escaped as the text formats want: `\` and newline always, `"` in label values.
pub(crate) fn push_escaped(out: &mut String, s: &str, quote: bool) {
    if !needs_escape(s) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Whether `s` holds a byte that some text format escapes (a byte scan: label values are
/// short and almost never need it).
pub(crate) fn needs_escape(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b'\\' | b'\n' | b'"'))
}

/// Number formatting buffers.
#[derive(Default)]
struct Numbers {
    itoa: itoa::Buffer,
    dtoa: dtoa::Buffer,
}

impl Numbers {
    /// Appends a sample value and the newline: integers as integers (most of ours are counts
    /// and offsets), others in the shortest form that reads back exactly.
    fn value(&mut self, out: &mut String, v: f64) {
        if let Some(i) = as_integer(v) {
            out.push_str(self.itoa.format(i));
        } else if v.is_nan() {
            out.push_str("NaN");
        } else if v.is_infinite() {
            out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        } else {
            out.push_str(self.dtoa.format(v));
        }
        out.push('\n');
    }
}

/// `v` as an integer when it is one that `f64` holds exactly.
pub(crate) fn as_integer(v: f64) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    #[allow(clippy::cast_possible_truncation)]
    (v.fract() == 0.0 && v.abs() <= EXACT).then_some(v as i64)
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Unit;

    use crate::metrics::{Family, Sample, Snapshot};

    fn text(f: Vec<Family>) -> String {
        Snapshot::new(f).encoded(crate::metrics::Exposition::Text).to_owned()
    }

    #[test]
    fn counters_gauges_histograms() {
        let c = Family::counter("a", "CPU.").with_unit(Unit::Seconds).with(vec![], 1.0);
        let g = Family::gauge("g", "Gauge \\ with\nnewline.").with(vec![("x", "q\"\\\nz".into())], 0.25);
        let mut h = Family::histogram("h", "H.");
        h.samples.push(Sample::Histogram {
            labels: vec![("t", "x".into())],
            buckets: vec![(0.5, 1), (f64::INFINITY, 2)],
            sum: 7.5,
        });
        assert_eq!(
            text(vec![c, g, h]),
            "# HELP a_seconds_total CPU.\n# TYPE a_seconds_total counter\na_seconds_total 1\n\
             # HELP g Gauge \\\\ with\\nnewline.\n# TYPE g gauge\ng{x=\"q\\\"\\\\\\nz\"} 0.25\n\
             # HELP h H.\n# TYPE h histogram\nh_bucket{t=\"x\",le=\"0.5\"} 1\nh_bucket{t=\"x\",le=\"+Inf\"} 3\n\
             h_sum{t=\"x\"} 7.5\nh_count{t=\"x\"} 3\n"
        );
    }

    #[test]
    fn values_read_back_exactly() {
        let vals =
            [0.0, -0.0, 1.0, -7.0, 1e15, 9_007_199_254_740_993.0, 1e300, 0.1, -2.5e-8, f64::MAX, f64::MIN_POSITIVE];
        let mut f = Family::gauge("v", "V.");
        for (i, v) in vals.iter().enumerate() {
            f.push(vec![("i", i.to_string())], *v);
        }
        f.push(vec![("i", "nan".into())], f64::NAN);
        f.push(vec![("i", "inf".into())], f64::INFINITY);
        f.push(vec![("i", "-inf".into())], f64::NEG_INFINITY);
        let t = text(vec![f]);
        let read: Vec<&str> =
            t.lines().filter(|l| !l.starts_with('#')).map(|l| l.rsplit_once(' ').unwrap().1).collect();
        for (v, r) in vals.iter().zip(&read) {
            assert_eq!(r.parse::<f64>().unwrap(), *v, "{r}");
        }
        assert_eq!(&read[vals.len()..], ["NaN", "+Inf", "-Inf"]);
        assert_eq!(read[0], "0");
        assert_eq!(read[4], "1000000000000000");
    }
}
