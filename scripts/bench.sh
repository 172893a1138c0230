#!/usr/bin/env bash
#! Runs the codec benchmarks, including the same frames decoded by RocketMQ-Rust's codec,
#! and prints a table (ns per operation, operations per second, ratio to RocketMQ-Rust).
#!
#! Options (environment):
#!   BENCH_TIME=5          criterion measurement seconds per benchmark
#!   COMPARE_0_9=1         also build rocketmq-remoting 0.9.0 (needs RUSTC_BOOTSTRAP=1,
#!                         set only for that build; it uses nightly features)
set -euo pipefail
cd "$(dirname "$0")/.."
features=compare-rocketmq-rust
if [[ ${COMPARE_0_9:-0} == 1 ]]; then
    features+=",compare-remoting-0-9"
    export RUSTC_BOOTSTRAP=1
fi
cargo bench -p rmq-benches --locked --features "$features" --bench codec -- \
    --warm-up-time 2 --measurement-time "${BENCH_TIME:-5}" --noplot >&2
python3 - <<'PY'
import json, pathlib
root = pathlib.Path("target/criterion")
rows = {}
for est in root.glob("*/**/new/estimates.json"):
    bench = json.loads((est.parent / "benchmark.json").read_text())
    rows[bench["full_id"]] = json.loads(est.read_text())["median"]["point_estimate"]
def ops(ns): return f"{1e9/ns/1e6:6.2f} M/s"
print(f"{'benchmark':48} {'median':>10} {'rate':>11}  vs RocketMQ-Rust 1.0")
for k in sorted(rows):
    if "rocketmq-" in k: continue
    ns = rows[k]
    ref = rows.get(k.replace("/rmq/", "/rocketmq-rust-1.0/"))
    ratio = f"{ref/ns:5.2f}x as fast" if ref and ref != ns else ""
    print(f"{k:48} {ns:8.1f} ns {ops(ns)}  {ratio}")
for k in sorted(rows):
    if "rocketmq-" in k:
        print(f"{k:48} {rows[k]:8.1f} ns {ops(rows[k])}")
PY
