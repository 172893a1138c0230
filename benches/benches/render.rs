//! `/metrics` cost for 100k series (the DESIGN §6 target is ≤ 100 ms): encoding a
//! snapshot when a collector publishes it, and serving a scrape in either format.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rmq_benches::big_families as families;
use rmq_runtime::metrics::{Exposition, Registry, SnapshotSlot};

fn render(c: &mut Criterion) {
    let fams = families(100_000);
    let slot = SnapshotSlot::new();
    let mut g = c.benchmark_group("metrics_100k_series");
    g.sample_size(10);
    g.bench_function("encode_on_publish", |b| {
        b.iter_batched(|| fams.clone(), |f| slot.publish(f), BatchSize::LargeInput)
    });
    let reg = Registry::new(vec![slot.clone()]);
    g.bench_function("scrape_openmetrics", |b| b.iter(|| reg.render(Exposition::OpenMetrics).len()));
    g.bench_function("scrape_text", |b| b.iter(|| reg.render(Exposition::Text).len()));
    g.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
