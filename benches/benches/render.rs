//! `/metrics` cost for 100k series (the DESIGN §6 target is ≤ 100 ms): encoding a
//! snapshot when a collector publishes it, and serving a scrape in either format.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rmq_agent::metrics::{Exposition, Family, Registry, SnapshotSlot};

/// 100k series shaped like a big broker's: 100 families × 1,000 topic/group series.
fn families(series: usize) -> Vec<Family> {
    let mut fams = Vec::new();
    let per_family = 1000;
    for f in 0..series / per_family {
        let name: &'static str = Box::leak(format!("rocketmq_bench_family_{f}").into_boxed_str());
        let mut fam = Family::gauge(name, "A benchmark family.");
        for t in 0..per_family {
            #[allow(clippy::cast_precision_loss)]
            fam.push(
                vec![
                    ("cluster", "DefaultCluster".into()),
                    ("broker", "broker-a".into()),
                    ("topic", format!("topic-{t:04}")),
                    ("group", format!("group-{t:04}")),
                ],
                (t * 7) as f64,
            );
        }
        fams.push(fam);
    }
    fams
}

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
