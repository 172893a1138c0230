//! Rendering snapshots through prometheus-client's OpenMetrics encoder.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::family::{Family, Kind, Sample, SnapshotSlot};

/// Every slot whose families `/metrics` shows.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    slots: Vec<Arc<SnapshotSlot>>,
}

/// The exposition formats `/metrics` can answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposition {
    /// `application/openmetrics-text; version=1.0.0`
    OpenMetrics,
    /// `text/plain; version=0.0.4` (the classic Prometheus text format)
    Text,
}

impl Exposition {
    /// Picks the format from an `Accept` header: OpenMetrics when asked for, else text.
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::Text,
        }
    }

    /// The `Content-Type` to answer with.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

#[derive(Debug)]
struct FamiliesCollector(Vec<Family>);

impl Collector for FamiliesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.0 {
            encode_family(f, &mut encoder)?;
        }
        Ok(())
    }
}

/// Encodes families as OpenMetrics text without the `# EOF` trailer (so slots concatenate).
pub(crate) fn encode_families(families: Vec<Family>) -> String {
    let capacity = families.iter().map(|f| 64 + f.samples.len() * 96).sum();
    let mut reg = prometheus_client::registry::Registry::default();
    reg.register_collector(Box::new(FamiliesCollector(families)));
    let mut out = String::with_capacity(capacity);
    // Writing into a String cannot fail; an Err would be a bug in a family: publish nothing
    // rather than half a family.
    if prometheus_client::encoding::text::encode(&mut out, &reg).is_err() {
        out.clear();
    }
    if out.ends_with("# EOF\n") {
        out.truncate(out.len() - "# EOF\n".len());
    }
    out
}

fn encode_family(f: &Family, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    if f.samples.is_empty() {
        return Ok(());
    }
    let ty = match f.kind {
        Kind::Gauge => MetricType::Gauge,
        Kind::Counter => MetricType::Counter,
        Kind::Histogram => MetricType::Histogram,
    };
    let mut metric = encoder.encode_descriptor(f.name, f.help, f.unit.as_ref(), ty)?;
    for s in &f.samples {
        match s {
            // A series without labels is written as `name value`, not `name{} value`.
            Sample::Value(labels, v) if labels.is_empty() => encode_value(&mut metric, f.kind, *v)?,
            Sample::Value(labels, v) => encode_value(&mut metric.encode_family(labels)?, f.kind, *v)?,
            Sample::Histogram { labels, buckets, sum } => {
                let count = buckets.iter().map(|b| b.1).sum();
                // prometheus-client writes `+Inf` for an upper bound of f64::MAX.
                let b: Vec<(f64, u64)> =
                    buckets.iter().map(|&(le, n)| (if le.is_infinite() { f64::MAX } else { le }, n)).collect();
                metric.encode_family(labels)?.encode_histogram::<NoLabelSet>(*sum, count, &b, None)?;
            }
        }
    }
    Ok(())
}

fn encode_value(e: &mut MetricEncoder<'_>, kind: Kind, v: f64) -> Result<(), std::fmt::Error> {
    match kind {
        Kind::Counter => e.encode_counter::<NoLabelSet, f64, f64>(&v.max(0.0), None),
        _ => e.encode_gauge(&v),
    }
}

impl Registry {
    /// A registry showing `slots`, in order.
    pub fn new(slots: Vec<Arc<SnapshotSlot>>) -> Self {
        Self { slots }
    }

    /// Renders every current family.
    pub fn render(&self, format: Exposition) -> String {
        let parts: Vec<Arc<str>> = self.slots.iter().map(|s| s.current()).collect();
        let len: usize = parts.iter().map(|p| p.len()).sum::<usize>() + 8;
        match format {
            Exposition::OpenMetrics => {
                let mut out = String::with_capacity(len);
                for p in &parts {
                    out.push_str(p);
                }
                out.push_str("# EOF\n");
                out
            }
            Exposition::Text => {
                let mut w = super::text_format::TextWriter::with_capacity(len);
                for p in &parts {
                    // Writing into a String-backed writer cannot fail.
                    let _ = std::fmt::Write::write_str(&mut w, p);
                }
                w.finish()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Unit;

    use super::*;

    fn registry(f: Vec<Family>) -> Registry {
        let slot = SnapshotSlot::new();
        slot.publish(f);
        Registry::new(vec![slot])
    }

    #[test]
    fn renders_gauges_counters_and_histograms() {
        let g = Family::gauge("rocketmq_producer_offset", "offset").with(vec![("topic", "T".into())], 5.0);
        let c = Family::counter("node_cpu", "cpu").with_unit(Unit::Seconds).with(vec![("cpu", "0".into())], 1.5);
        let mut h = Family::histogram("rocketmq_broker_put_latency", "put").with_unit(Unit::Seconds);
        h.samples.push(Sample::Histogram {
            labels: vec![("broker", "b".into())],
            buckets: vec![(0.01, 3), (0.05, 1), (f64::INFINITY, 0)],
            sum: 0.04,
        });
        let r = registry(vec![g, c, h, Family::gauge("empty", "no samples")]);
        let om = r.render(Exposition::OpenMetrics);
        assert!(om.contains("rocketmq_producer_offset{topic=\"T\"} 5"), "{om}");
        assert!(om.contains("node_cpu_seconds_total{cpu=\"0\"} 1.5"), "{om}");
        assert!(om.contains("rocketmq_broker_put_latency_seconds_bucket{le=\"0.05\",broker=\"b\"} 4"), "{om}");
        assert!(om.contains("le=\"+Inf\",broker=\"b\"} 4"), "{om}");
        assert!(!om.contains("empty"), "{om}");
        assert!(om.ends_with("# EOF\n"));
        let text = r.render(Exposition::Text);
        assert!(text.contains("# TYPE node_cpu_seconds_total counter"), "{text}");
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
    }

    #[test]
    fn accept_header_negotiation() {
        assert_eq!(
            Exposition::from_accept(Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5")),
            Exposition::OpenMetrics
        );
        assert_eq!(Exposition::from_accept(Some("text/plain")), Exposition::Text);
        assert_eq!(Exposition::from_accept(None), Exposition::Text);
    }
}
