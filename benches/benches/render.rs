//! `/metrics` cost for 100k series (the DESIGN §6 target is ≤ 100 ms): publishing a
//! collector's families as a snapshot, encoding a snapshot in either format (once, by the
//! first scrape after a publish), and serving a scrape from the kept encodings.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rmq_benches::big_families as families;
use rmq_runtime::metrics::{Exposition, Registry, Snapshot, SnapshotSlot};

fn render(c: &mut Criterion) {
    let fams = families(100_000);
    let slot = SnapshotSlot::new();
    let mut g = c.benchmark_group("metrics_100k_series");
    g.sample_size(10);
    g.bench_function("publish", |b| b.iter_batched(|| fams.clone(), |f| slot.publish(f), BatchSize::LargeInput));
    for (name, format) in [("encode_openmetrics", Exposition::OpenMetrics), ("encode_text", Exposition::Text)] {
        g.bench_function(name, |b| {
            b.iter_batched_ref(|| Snapshot::new(fams.clone()), |s| s.encoded(format).len(), BatchSize::LargeInput)
        });
    }
    let reg = Registry::new(vec![slot.clone()]);
    g.bench_function("scrape_openmetrics", |b| b.iter(|| reg.render(Exposition::OpenMetrics).len()));
    g.bench_function("scrape_text", |b| b.iter(|| reg.render(Exposition::Text).len()));
    g.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
