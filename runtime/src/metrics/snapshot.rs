//! The published form of a collector's families: one typed, compact snapshot (series name,
//! labels, value, kind) that every output is encoded from — OpenMetrics, the classic text
//! format and remote-write — and that none of them reads back from another's text.
//!
//! Compact because it lives until the collector's next cycle: label names are the
//! collectors' `&'static str`s, kept once per family for all its series; label values sit
//! back to back in one string per family, found through end offsets; values are `f64`.
//! A scrape's encodings are made lazily, once per snapshot and format, and kept with it.

use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use prometheus_client::registry::Unit;

use super::family::{Family, Kind, Sample};
use super::render::Exposition;

/// One family, compact.
#[derive(Debug)]
pub(crate) struct FamilyData {
    pub(crate) name: &'static str,
    pub(crate) help: &'static str,
    pub(crate) unit: Option<Unit>,
    pub(crate) kind: Kind,
    /// The name every series is exposed under: unit added, and `_total` for a counter
    /// (a histogram's series add `_bucket`, `_sum` and `_count` to it).
    pub(crate) exposed: Box<str>,
    /// The label-name lists the series use (almost always one).
    schemas: Vec<Box<[&'static str]>>,
    /// Per series, its index in `schemas`; empty when every series uses the first.
    schema_of: Vec<u16>,
    /// Per series: the value (a counter's clamped at 0, as exposed); a histogram's sum.
    values: Vec<f64>,
    /// Per label value of every series, in order: its end offset in `arena`.
    ends: Vec<u32>,
    /// Label values back to back.
    arena: String,
    /// A histogram family's buckets per series: (upper bound, count in this bucket), the
    /// last bound `+Inf`.
    buckets: Vec<Box<[(f64, u64)]>>,
    /// Per histogram series, its bounds as `le` values (shared with the series before it
    /// when the bounds are the same).
    les: Vec<Arc<[Box<str>]>>,
    /// A histogram family's sample names: `_bucket`, `_sum`, `_count` added.
    histogram_names: Box<[Box<str>]>,
}

/// The labels of one series, borrowed from its snapshot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LabelSet<'a> {
    names: &'a [&'static str],
    ends: &'a [u32],
    start: u32,
    arena: &'a str,
}

impl<'a> LabelSet<'a> {
    /// (name, value) pairs in the order the collector gave them.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        let mut start = self.start as usize;
        self.names.iter().zip(self.ends).map(move |(n, &end)| {
            let v = &self.arena[start..end as usize];
            start = end as usize;
            (*n as &str, v)
        })
    }

    /// No labels at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// One series of a family: its labels, value (a histogram's sum) and index in the family.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeriesRef<'a> {
    pub(crate) index: usize,
    pub(crate) labels: LabelSet<'a>,
    pub(crate) value: f64,
}

impl FamilyData {
    fn new(f: Family) -> Self {
        let Family { name, help, unit, kind, samples } = f;
        let exposed = exposed_name(name, unit.as_ref(), kind).into_boxed_str();
        // Sized from the first series (a family's label values are alike), trimmed to fit at
        // the end: a snapshot lives a whole cycle, and doubling growth would leave up to half
        // of a buffer unused. (Trimming shrinks in place; an exact first pass over every
        // label cost more than it saved.)
        let n_series = samples.len();
        let n_hist = if kind == Kind::Histogram { n_series } else { 0 };
        let first = samples.first().map_or(&[][..], |s| match s {
            Sample::Value(l, _) => l,
            Sample::Histogram { labels, .. } => labels,
        });
        let n_labels = first.len() * n_series;
        let bytes = first.iter().map(|(_, v)| v.len()).sum::<usize>().saturating_mul(n_series);
        let mut d = Self {
            name,
            help,
            unit,
            kind,
            exposed,
            schemas: Vec::new(),
            schema_of: Vec::new(),
            values: Vec::with_capacity(n_series),
            ends: Vec::with_capacity(n_labels),
            arena: String::with_capacity(bytes.saturating_add(bytes / 4)),
            buckets: Vec::with_capacity(n_hist),
            les: Vec::with_capacity(n_hist),
            histogram_names: Box::default(),
        };
        if kind == Kind::Histogram {
            d.histogram_names =
                ["_bucket", "_sum", "_count"].iter().map(|s| format!("{}{s}", d.exposed).into()).collect();
        }
        for s in samples {
            let pushed = match (s, kind) {
                (Sample::Value(labels, v), Kind::Gauge) => d.push(&labels, v),
                // A counter never goes below 0 on the outside.
                (Sample::Value(labels, v), Kind::Counter) => d.push(&labels, v.max(0.0)),
                (Sample::Histogram { labels, buckets, sum }, Kind::Histogram) => {
                    let pushed = d.push(&labels, sum);
                    if pushed {
                        d.push_buckets(buckets);
                    }
                    pushed
                }
                // A sample of the wrong kind has no valid exposition; the family builder
                // cannot prevent it, so it is left out here, once for every output.
                (s, _) => {
                    tracing::debug!(family = name, sample = ?s, "sample of another kind left out");
                    true
                }
            };
            if !pushed {
                tracing::error!(
                    family = name,
                    series = d.len(),
                    "label values over 4 GiB; the family's other series are left out"
                );
                break;
            }
        }
        d.values.shrink_to_fit();
        d.ends.shrink_to_fit();
        d.arena.shrink_to_fit();
        d
    }

    /// Adds a series; false (and nothing added) if its label values would not fit the
    /// 32-bit offsets.
    fn push(&mut self, labels: &[(&'static str, String)], value: f64) -> bool {
        let bytes: usize = labels.iter().map(|(_, v)| v.len()).sum();
        if u32::try_from(self.arena.len() + bytes).is_err() {
            return false;
        }
        let schema = self.schema(labels);
        if schema != 0 && self.schema_of.is_empty() {
            self.schema_of = vec![0; self.values.len()];
        }
        if !self.schema_of.is_empty() {
            self.schema_of.push(schema);
        }
        for (_, v) in labels {
            self.arena.push_str(v);
            // Fits: checked above.
            self.ends.push(u32::try_from(self.arena.len()).unwrap_or(u32::MAX));
        }
        self.values.push(value);
        true
    }

    fn push_buckets(&mut self, buckets: Vec<(f64, u64)>) {
        let same =
            |prev: &[(f64, u64)]| prev.len() == buckets.len() && prev.iter().zip(&buckets).all(|(a, b)| a.0 == b.0);
        let les = match (self.buckets.last(), self.les.last()) {
            (Some(prev), Some(les)) if same(prev) => Arc::clone(les),
            _ => {
                let mut buf = dtoa::Buffer::new();
                buckets.iter().map(|&(b, _)| le_value(b, &mut buf).into()).collect()
            }
        };
        self.les.push(les);
        self.buckets.push(buckets.into_boxed_slice());
    }

    fn schema(&mut self, labels: &[(&'static str, String)]) -> u16 {
        // Names are the collectors' literals: the same pointer almost always.
        let eq = |a: &str, b: &str| std::ptr::eq(a, b) || a == b;
        let same = |s: &[&'static str]| s.len() == labels.len() && s.iter().zip(labels).all(|(a, b)| eq(a, b.0));
        if let Some(i) = self.schemas.iter().position(|s| same(s)) {
            return u16::try_from(i).unwrap_or(u16::MAX);
        }
        self.schemas.push(labels.iter().map(|l| l.0).collect());
        u16::try_from(self.schemas.len() - 1).unwrap_or(u16::MAX)
    }

    /// Number of series.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// Bytes of `name="value"` text for every label of every series, escapes aside.
    pub(crate) fn label_text_len(&self) -> usize {
        let names = |s: &[&'static str]| s.iter().map(|n| n.len() + 4).sum::<usize>();
        let all_names: usize = if self.schema_of.is_empty() {
            self.schemas.first().map_or(0, |s| names(s)) * self.len()
        } else {
            self.schema_of.iter().map(|&i| self.schemas.get(usize::from(i)).map_or(0, |s| names(s))).sum()
        };
        self.arena.len() + all_names
    }

    /// A histogram series' buckets.
    pub(crate) fn buckets(&self, index: usize) -> &[(f64, u64)] {
        self.buckets.get(index).map_or(&[], |b| b)
    }

    /// A histogram series' bounds as `le` label values, one per bucket.
    pub(crate) fn les(&self, index: usize) -> &[Box<str>] {
        self.les.get(index).map_or(&[], |b| b)
    }

    /// Every series, in order.
    pub(crate) fn series(&self) -> impl Iterator<Item = SeriesRef<'_>> {
        let mut at = 0;
        let mut start = 0;
        self.values.iter().enumerate().map(move |(index, &value)| {
            let schema = self.schema_of.get(index).map_or(0, |&s| usize::from(s));
            let names: &[&'static str] = self.schemas.get(schema).map_or(&[], |s| s);
            let ends = &self.ends[at..at + names.len()];
            let labels = LabelSet { names, ends, start, arena: &self.arena };
            at += names.len();
            start = ends.last().copied().unwrap_or(start);
            SeriesRef { index, labels, value }
        })
    }
}

/// The name a family's series are exposed under (before a histogram's suffixes).
pub(crate) fn exposed_name(name: &str, unit: Option<&Unit>, kind: Kind) -> String {
    let mut n = String::with_capacity(name.len() + 16);
    n.push_str(name);
    if let Some(u) = unit {
        n.push('_');
        n.push_str(u.as_str());
    }
    if kind == Kind::Counter {
        n.push_str("_total");
    }
    n
}

/// A histogram bucket's `le` value, the same in every output.
fn le_value(bound: f64, buf: &mut dtoa::Buffer) -> &str {
    if bound == f64::INFINITY { "+Inf" } else { buf.format(bound) }
}

/// One collector's families, as published: immutable, shared by scrapes and the pusher.
#[derive(Debug)]
pub struct Snapshot {
    families: Arc<[FamilyData]>,
    series: usize,
    openmetrics: OnceLock<Box<str>>,
    text: OnceLock<Box<str>>,
}

impl Snapshot {
    /// Takes `families` apart into the compact form (each family's builder freed as soon as
    /// it is copied, so the two are never both whole in memory). Empty families are left out:
    /// nothing is exposed for them.
    pub fn new(families: Vec<Family>) -> Self {
        let mut out = Vec::with_capacity(families.len());
        for f in families {
            if !f.samples.is_empty() {
                let d = FamilyData::new(f);
                if d.len() > 0 {
                    out.push(d);
                }
            }
        }
        let series = out.iter().map(FamilyData::len).sum();
        Self { families: out.into(), series, openmetrics: OnceLock::new(), text: OnceLock::new() }
    }

    /// An empty snapshot.
    pub fn empty() -> Self {
        Self::new(Vec::new())
    }

    /// Number of series (a histogram counts once).
    pub fn len(&self) -> usize {
        self.series
    }

    /// No series.
    pub fn is_empty(&self) -> bool {
        self.series == 0
    }

    /// The snapshot in `format`, without OpenMetrics' `# EOF` (so snapshots concatenate).
    /// Encoded on first use and kept for the snapshot's life: every scrape until the
    /// collector publishes again only copies it.
    pub fn encoded(&self, format: Exposition) -> &str {
        match format {
            Exposition::OpenMetrics => {
                self.openmetrics.get_or_init(|| super::openmetrics::encode(Arc::clone(&self.families)).into())
            }
            Exposition::Text => self.text.get_or_init(|| super::text::encode(&self.families).into()),
        }
    }

    /// Calls `each` with every sample as remote-write sees it: the exposed name (a histogram
    /// as its `_bucket` (with `le`), `_sum` and `_count` series), labels in the collector's
    /// order, and the value — the same series and values as both text formats.
    pub fn for_each_sample<'a>(&'a self, mut each: impl FnMut(&'a str, &[(&'a str, &'a str)], f64)) {
        let mut labels: Vec<(&'a str, &'a str)> = Vec::with_capacity(16);
        for f in self.families.iter() {
            if let [bucket, sum, count] = &*f.histogram_names {
                for s in f.series() {
                    labels.clear();
                    labels.extend(s.labels.iter());
                    let mut cumulative = 0u64;
                    for (&(_, n), le) in f.buckets(s.index).iter().zip(f.les(s.index)) {
                        cumulative += n;
                        labels.push(("le", le));
                        #[allow(clippy::cast_precision_loss)]
                        each(bucket, &labels, cumulative as f64);
                        labels.pop();
                    }
                    each(sum, &labels, s.value);
                    #[allow(clippy::cast_precision_loss)]
                    each(count, &labels, cumulative as f64);
                }
            } else {
                for s in f.series() {
                    labels.clear();
                    labels.extend(s.labels.iter());
                    each(&f.exposed, &labels, s.value);
                }
            }
        }
    }
}

/// The current snapshot of one collector, replaced whole each cycle.
#[derive(Debug)]
pub struct SnapshotSlot {
    current: RwLock<Arc<Snapshot>>,
}

impl Default for SnapshotSlot {
    fn default() -> Self {
        Self { current: RwLock::new(Arc::new(Snapshot::empty())) }
    }
}

impl SnapshotSlot {
    /// A new, empty slot.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Replaces the families.
    pub fn publish(&self, families: Vec<Family>) {
        let next = Arc::new(Snapshot::new(families));
        let old = std::mem::replace(&mut *self.current.write().unwrap_or_else(PoisonError::into_inner), next);
        // Freed outside the lock.
        drop(old);
    }

    /// The current snapshot.
    pub fn current(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_values_survive_the_compact_form() {
        let mut g = Family::gauge("g", "G.");
        g.push(vec![("a", "1".into()), ("b", String::new())], 1.5);
        g.push(vec![], 2.0);
        g.push(vec![("a", "ü\"x".into()), ("b", "y".into())], -3.0);
        g.push(vec![("c", "z".into())], 4.0);
        let c = Family::counter("c", "C.").with(vec![("k", "v".into())], -1.0);
        let s = Snapshot::new(vec![g, c, Family::gauge("empty", "E.")]);
        assert_eq!(s.len(), 5);
        let mut seen = Vec::new();
        s.for_each_sample(|n, l, v| {
            seen.push((n.to_owned(), l.iter().map(|(a, b)| format!("{a}={b}")).collect::<Vec<_>>().join(","), v))
        });
        let want = [
            ("g", "a=1,b=", 1.5),
            ("g", "", 2.0),
            ("g", "a=ü\"x,b=y", -3.0),
            ("g", "c=z", 4.0),
            // Clamped: a counter is never negative.
            ("c_total", "k=v", 0.0),
        ];
        assert_eq!(seen, want.map(|(a, b, c)| (a.to_owned(), b.to_owned(), c)));
    }

    #[test]
    fn histograms_become_cumulative_buckets_sum_and_count() {
        let mut h = Family::histogram("lat", "L.").with_unit(Unit::Seconds);
        h.samples.push(Sample::Histogram {
            labels: vec![("t", "x".into())],
            buckets: vec![(0.5, 2), (1.0, 1), (f64::INFINITY, 1)],
            sum: 3.25,
        });
        // Of the wrong kind: left out.
        h.push(vec![], 1.0);
        let mut seen = Vec::new();
        Snapshot::new(vec![h]).for_each_sample(|n, l, v| seen.push(format!("{n}{l:?} {v}")));
        assert_eq!(
            seen,
            [
                "lat_seconds_bucket[(\"t\", \"x\"), (\"le\", \"0.5\")] 2",
                "lat_seconds_bucket[(\"t\", \"x\"), (\"le\", \"1.0\")] 3",
                "lat_seconds_bucket[(\"t\", \"x\"), (\"le\", \"+Inf\")] 4",
                "lat_seconds_sum[(\"t\", \"x\")] 3.25",
                "lat_seconds_count[(\"t\", \"x\")] 4",
            ]
        );
    }
}
