//! Metric families as collectors build them: plain data, turned into a compact
//! [`Snapshot`](super::Snapshot) when published.

use prometheus_client::registry::Unit;

/// Label pairs, in output order.
pub type Labels = Vec<(&'static str, String)>;

/// What kind of metric a family is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A monotonic total; its name is rendered with `_total`.
    Counter,
    /// A cumulative histogram.
    Histogram,
}

/// One series of a family.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    /// A gauge or counter value.
    Value(Labels, f64),
    /// A histogram: per-bucket (not cumulative) counts with upper bounds, the last being
    /// `f64::INFINITY`; sum and count.
    Histogram {
        /// Labels.
        labels: Labels,
        /// (upper bound, count in this bucket).
        buckets: Vec<(f64, u64)>,
        /// Sum of observations.
        sum: f64,
    },
}

/// A metric family with all its series.
#[derive(Debug, Clone)]
pub struct Family {
    /// Name without unit or `_total` suffix (prometheus-client adds them).
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Unit, appended to the name.
    pub unit: Option<Unit>,
    /// Kind.
    pub kind: Kind,
    /// Series.
    pub samples: Vec<Sample>,
}

impl Family {
    /// An empty gauge family.
    pub fn gauge(name: &'static str, help: &'static str) -> Self {
        Self { name, help, unit: None, kind: Kind::Gauge, samples: Vec::new() }
    }

    /// An empty counter family.
    pub fn counter(name: &'static str, help: &'static str) -> Self {
        Self { name, help, unit: None, kind: Kind::Counter, samples: Vec::new() }
    }

    /// An empty histogram family.
    pub fn histogram(name: &'static str, help: &'static str) -> Self {
        Self { name, help, unit: None, kind: Kind::Histogram, samples: Vec::new() }
    }

    /// Sets the unit.
    pub fn with_unit(mut self, unit: Unit) -> Self {
        self.unit = Some(unit);
        self
    }

    /// Adds a series.
    pub fn push(&mut self, labels: Labels, value: f64) {
        self.samples.push(Sample::Value(labels, value));
    }

    /// Adds a series and returns self (for one-sample families).
    pub fn with(mut self, labels: Labels, value: f64) -> Self {
        self.push(labels, value);
        self
    }

    /// The full name as exposed (unit and `_total` added), for tests and docs.
    pub fn exposed_name(&self) -> String {
        super::snapshot::exposed_name(self.name, self.unit.as_ref(), self.kind)
    }
}
