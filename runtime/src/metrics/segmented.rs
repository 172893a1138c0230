//! A fixed-memory latency histogram with MQCloud's segments: 1 ms steps to 10 ms, 5 ms steps
//! to 100 ms, 50 ms steps to 3.5 s, and one overflow bucket — 97 counters, recorded with one
//! relaxed atomic add each, safe from any number of tasks and threads at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Number of buckets, the overflow included.
pub const BUCKETS: usize = 97;

/// Upper bound (ms) of bucket `i`; `None` for the overflow bucket.
pub const fn upper_ms(i: usize) -> Option<u64> {
    match i {
        0..=9 => Some(i as u64 + 1),
        10..=27 => Some(10 + 5 * (i as u64 - 9)),
        28..=95 => Some(100 + 50 * (i as u64 - 27)),
        _ => None,
    }
}

/// The bucket of a latency.
pub fn index(d: Duration) -> usize {
    // Whole milliseconds, rounded up: 1.2 ms is above the 1 ms bound.
    let us = d.as_micros();
    let ms = us.div_ceil(1000);
    match ms {
        0..=10 => usize::try_from(ms.max(1) - 1).unwrap_or(0),
        11..=100 => 9 + usize::try_from((ms - 10).div_ceil(5)).unwrap_or(0),
        101..=3500 => 27 + usize::try_from((ms - 100).div_ceil(50)).unwrap_or(0),
        _ => BUCKETS - 1,
    }
}

/// The histogram.
#[derive(Debug)]
pub struct SegmentedHistogram {
    counts: [AtomicU64; BUCKETS],
    sum_us: AtomicU64,
}

impl Default for SegmentedHistogram {
    fn default() -> Self {
        Self { counts: std::array::from_fn(|_| AtomicU64::new(0)), sum_us: AtomicU64::new(0) }
    }
}

/// A consistent-enough copy of the counters (each read atomically).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Per-bucket counts (not cumulative).
    pub counts: [u64; BUCKETS],
    /// Sum of observations, seconds.
    pub sum_seconds: f64,
}

impl SegmentedHistogram {
    /// Records one latency.
    pub fn record(&self, d: Duration) {
        self.counts[index(d)].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Reads the counters.
    pub fn snapshot(&self) -> Snapshot {
        #[allow(clippy::cast_precision_loss)]
        Snapshot {
            counts: std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed)),
            sum_seconds: self.sum_us.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

impl Snapshot {
    /// Observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The upper bound (seconds) of the bucket holding quantile `q`; `None` when empty.
    /// In the overflow bucket the answer is +Inf.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                #[allow(clippy::cast_precision_loss)]
                return Some(upper_ms(i).map_or(f64::INFINITY, |ms| ms as f64 / 1000.0));
            }
        }
        Some(f64::INFINITY)
    }

    /// Buckets as (upper bound in seconds, count), the last +Inf: what a Prometheus histogram
    /// family takes.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        #[allow(clippy::cast_precision_loss)]
        self.counts
            .iter()
            .enumerate()
            .map(|(i, c)| (upper_ms(i).map_or(f64::INFINITY, |ms| ms as f64 / 1000.0), *c))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_mqclouds() {
        let bounds: Vec<u64> = (0..BUCKETS).filter_map(upper_ms).collect();
        assert_eq!(bounds.len(), 96);
        assert_eq!(&bounds[..11], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15]);
        assert_eq!(bounds[27], 100);
        assert_eq!(bounds[28], 150);
        assert_eq!(*bounds.last().unwrap(), 3500);
        assert!(bounds.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn each_latency_lands_in_the_first_bucket_that_holds_it() {
        let ms = |x: u64| Duration::from_micros(x);
        for (d, bound) in [
            (ms(0), Some(1)),
            (ms(1000), Some(1)),
            (ms(1001), Some(2)),
            (ms(10_000), Some(10)),
            (ms(10_001), Some(15)),
            (ms(100_000), Some(100)),
            (ms(100_001), Some(150)),
            (ms(3_500_000), Some(3500)),
            (ms(3_500_001), None),
            (Duration::from_secs(3600), None),
        ] {
            assert_eq!(upper_ms(index(d)), bound, "{d:?}");
        }
    }

    #[test]
    fn quantiles_and_counts_from_concurrent_recording() {
        let h = std::sync::Arc::new(SegmentedHistogram::default());
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let h = std::sync::Arc::clone(&h);
                std::thread::spawn(move || {
                    for i in 0..1000u64 {
                        h.record(Duration::from_millis(if i < 900 { 3 } else { 200 }));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 2000);
        assert_eq!(s.quantile(0.5), Some(0.003));
        assert_eq!(s.quantile(0.9), Some(0.003));
        assert_eq!(s.quantile(0.99), Some(0.2));
        assert!((s.sum_seconds - (1800.0 * 0.003 + 200.0 * 0.2)).abs() < 1e-9);
        assert_eq!(SegmentedHistogram::default().snapshot().quantile(0.5), None);
    }
}
