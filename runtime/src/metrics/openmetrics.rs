//! OpenMetrics, encoded from a snapshot by prometheus-client: the snapshot is a
//! prometheus-client [`Collector`] (the trait made for exporters whose metrics live
//! elsewhere), and its encoder writes the text.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, LabelSetEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::family::Kind;
use super::snapshot::{FamilyData, LabelSet};
use super::text::{as_integer, needs_escape, push_escaped};

#[derive(Debug)]
struct Families(Arc<[FamilyData]>);

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        for f in self.0.iter() {
            encode_family(f, &mut encoder)?;
        }
        Ok(())
    }
}

/// Encodes the families as OpenMetrics without the `# EOF` trailer (so snapshots
/// concatenate). An encoding error (none is known: the writer is a `String`) is logged and
/// leaves the snapshot out rather than half of it.
pub(crate) fn encode(families: Arc<[FamilyData]>) -> String {
    let capacity = families.iter().map(|f| 64 + f.len() * (f.exposed.len() + 16) + f.label_text_len()).sum();
    let mut reg = prometheus_client::registry::Registry::default();
    reg.register_collector(Box::new(Families(families)));
    let mut out = String::with_capacity(capacity);
    if let Err(e) = prometheus_client::encoding::text::encode_registry(&mut out, &reg) {
        tracing::error!(error = %e, "OpenMetrics encoding failed; this snapshot is left out of the scrape");
        out.clear();
    }
    out
}

fn encode_family(f: &FamilyData, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let ty = match f.kind {
        Kind::Gauge => MetricType::Gauge,
        Kind::Counter => MetricType::Counter,
        Kind::Histogram => MetricType::Histogram,
    };
    let help = escaped(f.help, true);
    let mut metric = encoder.encode_descriptor(f.name, &help, f.unit.as_ref(), ty)?;
    let mut bounds = Vec::new();
    for s in f.series() {
        if f.kind == Kind::Histogram {
            // prometheus-client writes `+Inf` for an upper bound of f64::MAX.
            bounds.clear();
            bounds.extend(f.buckets(s.index).iter().map(|&(le, n)| (if le.is_infinite() { f64::MAX } else { le }, n)));
            let count = bounds.iter().map(|b| b.1).sum();
            metric.encode_family(&Labels(s.labels))?.encode_histogram::<NoLabelSet>(s.value, count, &bounds, None)?;
        } else if s.labels.is_empty() {
            // A series without labels is written `name value`, not `name{} value`.
            encode_value(&mut metric, f.kind, s.value)?;
        } else {
            encode_value(&mut metric.encode_family(&Labels(s.labels))?, f.kind, s.value)?;
        }
    }
    Ok(())
}

/// Integers through prometheus-client's integer path (shorter and faster than as floats).
fn encode_value(e: &mut MetricEncoder<'_>, kind: Kind, v: f64) -> fmt::Result {
    match (kind, as_integer(v)) {
        (Kind::Counter, Some(i)) => e.encode_counter::<NoLabelSet, u64, f64>(&i.unsigned_abs(), None),
        (Kind::Counter, None) => e.encode_counter::<NoLabelSet, f64, f64>(&v, None),
        (_, Some(i)) => e.encode_gauge(&i),
        (_, None) => e.encode_gauge(&v),
    }
}

/// A snapshot's label set as prometheus-client encodes it, values escaped as OpenMetrics
/// requires (prometheus-client writes label values as given).
struct Labels<'a>(LabelSet<'a>);

impl EncodeLabelSet for Labels<'_> {
    fn encode(&self, mut encoder: LabelSetEncoder) -> fmt::Result {
        for (name, value) in self.0.iter() {
            let mut label = encoder.encode_label();
            let mut key = label.encode_label_key()?;
            key.write_str(name)?;
            let mut val = key.encode_label_value()?;
            val.write_str(&escaped(value, true))?;
            val.finish()?;
        }
        Ok(())
    }
}

fn escaped(s: &str, quote: bool) -> Cow<'_, str> {
    if needs_escape(s) {
        let mut out = String::with_capacity(s.len() + 8);
        push_escaped(&mut out, s, quote);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Unit;

    use crate::metrics::{Exposition, Family, Sample, Snapshot};

    #[test]
    fn what_prometheus_client_writes() {
        let c =
            Family::counter("node_cpu", "CPU \"time\".").with_unit(Unit::Seconds).with(vec![("cpu", "0".into())], 1.5);
        let g = Family::gauge("g", "G.").with(vec![("t", "a\"b\\c".into())], 5.0).with(vec![], -2.0);
        let mut h = Family::histogram("lat", "L.").with_unit(Unit::Seconds);
        h.samples.push(Sample::Histogram {
            labels: vec![("b", "x".into())],
            buckets: vec![(0.01, 3), (f64::INFINITY, 1)],
            sum: 0.04,
        });
        let s = Snapshot::new(vec![c, g, h]);
        assert_eq!(
            s.encoded(Exposition::OpenMetrics),
            "# HELP node_cpu_seconds CPU \\\"time\\\".\n# TYPE node_cpu_seconds counter\n# UNIT node_cpu_seconds seconds\n\
             node_cpu_seconds_total{cpu=\"0\"} 1.5\n\
             # HELP g G.\n# TYPE g gauge\ng{t=\"a\\\"b\\\\c\"} 5\ng -2\n\
             # HELP lat_seconds L.\n# TYPE lat_seconds histogram\n# UNIT lat_seconds seconds\n\
             lat_seconds_sum{b=\"x\"} 0.04\nlat_seconds_count{b=\"x\"} 4\n\
             lat_seconds_bucket{le=\"0.01\",b=\"x\"} 3\nlat_seconds_bucket{le=\"+Inf\",b=\"x\"} 4\n"
        );
    }
}
