//! What `/metrics` shows — every slot's current snapshot — and the formats it answers in.

use std::sync::Arc;

use super::snapshot::{Snapshot, SnapshotSlot};

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

    /// A whole exposition of `snapshots` in this format: each snapshot's encoding (made once
    /// per snapshot, then kept), back to back, and OpenMetrics' `# EOF`.
    pub fn render(self, snapshots: &[Arc<Snapshot>]) -> String {
        let parts: Vec<&str> = snapshots.iter().map(|s| s.encoded(self)).collect();
        let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + 8);
        for p in parts {
            out.push_str(p);
        }
        if self == Self::OpenMetrics {
            out.push_str("# EOF\n");
        }
        out
    }
}

impl Registry {
    /// A registry showing `slots`, in order.
    pub fn new(slots: Vec<Arc<SnapshotSlot>>) -> Self {
        Self { slots }
    }

    /// Every slot's current snapshot, in order: what a scrape shows and the pusher sends.
    pub fn snapshots(&self) -> Vec<Arc<Snapshot>> {
        self.slots.iter().map(|s| s.current()).collect()
    }

    /// Renders every current family.
    pub fn render(&self, format: Exposition) -> String {
        format.render(&self.snapshots())
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Unit;

    use super::*;
    use crate::metrics::{Family, Sample};

    fn registry(f: Vec<Family>) -> Registry {
        let slot = SnapshotSlot::new();
        slot.publish(f);
        Registry::new(vec![slot, SnapshotSlot::new()])
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
        assert!(om.contains("rocketmq_producer_offset{topic=\"T\"} 5\n"), "{om}");
        assert!(om.contains("node_cpu_seconds_total{cpu=\"0\"} 1.5"), "{om}");
        assert!(om.contains("rocketmq_broker_put_latency_seconds_bucket{le=\"0.05\",broker=\"b\"} 4"), "{om}");
        assert!(om.contains("le=\"+Inf\",broker=\"b\"} 4"), "{om}");
        assert!(!om.contains("empty"), "{om}");
        assert!(om.ends_with("# EOF\n") && om.matches("# EOF").count() == 1);
        let text = r.render(Exposition::Text);
        assert!(text.contains("# TYPE node_cpu_seconds_total counter"), "{text}");
        assert!(text.contains("rocketmq_broker_put_latency_seconds_bucket{broker=\"b\",le=\"0.05\"} 4"), "{text}");
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
    }

    #[test]
    fn both_formats_and_the_pusher_show_the_same_series() {
        let mut h = Family::histogram("lat", "L.").with_unit(Unit::Seconds);
        h.samples.push(Sample::Histogram {
            labels: vec![("t", "x".into())],
            buckets: vec![(0.001, 1), (2.5, 0), (f64::INFINITY, 2)],
            sum: 9.125,
        });
        let mut g = Family::gauge("g", "G.");
        g.push(vec![("a", "1".into()), ("b", "two".into())], 0.1);
        g.push(vec![], 1e21);
        let c = Family::counter("c", "C.").with(vec![("k", "v".into())], 12.0);
        let r = registry(vec![h, g, c]);
        // The pusher's view, as lines.
        let mut pushed: Vec<String> = Vec::new();
        for s in r.snapshots() {
            s.for_each_sample(|name, labels, v| {
                let mut l: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v}")).collect();
                l.sort();
                pushed.push(format!("{name}{{{}}} {v}", l.join(",")));
            });
        }
        pushed.sort();
        for format in [Exposition::OpenMetrics, Exposition::Text] {
            let mut scraped: Vec<String> = r
                .render(format)
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(|line| {
                    let (series, v) = line.rsplit_once(' ').unwrap();
                    let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
                    let mut l: Vec<String> = labels
                        .trim_end_matches('}')
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(|p| p.replace('"', ""))
                        .collect();
                    l.sort();
                    format!("{name}{{{}}} {}", l.join(","), v.parse::<f64>().unwrap())
                })
                .collect();
            scraped.sort();
            assert_eq!(scraped, pushed, "{format:?}");
        }
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
