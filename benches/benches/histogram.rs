//! Cost of recording one latency: the put probe's segmented histogram (lock-free atomics)
//! against the hdrhistogram crate, on one thread and on two threads at once (hdrhistogram is
//! single-writer, so sharing it takes a mutex).

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rmq_runtime::metrics::segmented::SegmentedHistogram;

/// Latencies spread over the segments (1 ms .. 4 s, microsecond resolution).
fn latencies() -> Vec<Duration> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_micros(500 + x % 4_000_000)
        })
        .collect()
}

/// Runs `record` over the latencies on `threads` threads at once; total time per record.
fn on_threads(threads: usize, iters: u64, record: Arc<dyn Fn(Duration) + Send + Sync>) -> Duration {
    let lat = Arc::new(latencies());
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (lat, record) = (Arc::clone(&lat), Arc::clone(&record));
            std::thread::spawn(move || {
                for i in 0..iters {
                    #[allow(clippy::cast_possible_truncation)]
                    record(lat[i as usize % lat.len()]);
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    // Per record across all threads: what a record costs when several tasks record at once.
    start.elapsed() / u32::try_from(threads).unwrap_or(1)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram_record");
    let lat = latencies();
    let seg = SegmentedHistogram::default();
    g.bench_function("segmented_1_thread", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % lat.len();
            seg.record(black_box(lat[i]));
        });
    });
    let mut hdr = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|e| panic!("{e}"));
    g.bench_function("hdrhistogram_1_thread", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % lat.len();
            let us = u64::try_from(black_box(lat[i]).as_micros()).unwrap_or(u64::MAX);
            hdr.saturating_record(us);
        });
    });
    let seg = Arc::new(SegmentedHistogram::default());
    g.bench_function("segmented_2_threads", |b| {
        b.iter_custom(|iters| {
            let seg = Arc::clone(&seg);
            on_threads(2, iters, Arc::new(move |d| seg.record(d)))
        });
    });
    let hdr = Arc::new(Mutex::new(
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|e| panic!("{e}")),
    ));
    g.bench_function("hdrhistogram_mutex_2_threads", |b| {
        b.iter_custom(|iters| {
            let hdr = Arc::clone(&hdr);
            on_threads(
                2,
                iters,
                Arc::new(move |d: Duration| {
                    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
                    hdr.lock().unwrap_or_else(std::sync::PoisonError::into_inner).saturating_record(us);
                }),
            )
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
