//! A cumulative Prometheus histogram of broker put latency, built from the broker's
//! `putMessageDistributeTime`: counts of the *previous minute* in 13 buckets. Each new
//! minute's counts are added once to running totals; the broker rotates the window every
//! 60 s and we look more often, so a window is recognised by its counts changing.
//! Two consecutive minutes with identical non-zero counts are counted once (rare, and an
//! undercount, never a double count).

use rmq_protocol::body::{PUT_DISTRIBUTION_BOUNDS_MS, PutDistribution};

/// Bucket midpoints in seconds, for the histogram's `_sum` estimate (the broker reports no
/// sum). The open last bucket counts as its lower bound, 10 s.
const MIDPOINTS_S: [f64; 13] = [0.0, 0.005, 0.03, 0.075, 0.15, 0.35, 0.75, 1.5, 2.5, 3.5, 4.5, 7.5, 10.0];

/// Running totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PutLatency {
    last_window: Option<[u64; 13]>,
    totals: [u64; 13],
    sum_seconds: f64,
}

impl PutLatency {
    /// Adds a new window's counts, if this is a new window.
    pub fn observe(&mut self, d: PutDistribution) {
        let PutDistribution::Buckets(b) = d else { return };
        if self.last_window == Some(b) {
            return;
        }
        self.last_window = Some(b);
        for (i, n) in b.iter().enumerate() {
            self.totals[i] += n;
            #[allow(clippy::cast_precision_loss)]
            {
                self.sum_seconds += *n as f64 * MIDPOINTS_S[i];
            }
        }
    }

    /// Buckets as (upper bound in seconds, count in bucket), and the estimated sum.
    pub fn buckets(&self) -> (Vec<(f64, u64)>, f64) {
        let b = PUT_DISTRIBUTION_BOUNDS_MS.iter().zip(self.totals).map(|(ms, n)| (ms / 1000.0, n)).collect();
        (b, self.sum_seconds)
    }

    /// Whether any window has been seen.
    pub fn has_data(&self) -> bool {
        self.last_window.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(fast: u64, slow: u64) -> PutDistribution {
        let mut b = [0u64; 13];
        b[1] = fast;
        b[12] = slow;
        PutDistribution::Buckets(b)
    }

    #[test]
    fn windows_accumulate_once_each() {
        let mut p = PutLatency::default();
        p.observe(PutDistribution::NotYetAvailable);
        assert!(!p.has_data());
        p.observe(win(10, 0));
        p.observe(win(10, 0)); // same minute seen again
        p.observe(win(5, 1)); // next minute
        let (b, sum) = p.buckets();
        assert_eq!(b[1], (0.01, 15));
        assert_eq!(b[12].1, 1);
        assert!(b[12].0.is_infinite());
        assert!((sum - (15.0 * 0.005 + 10.0)).abs() < 1e-9);
    }
}
