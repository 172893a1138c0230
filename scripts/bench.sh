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
cargo bench -p rmq-benches --locked --features "$features" --bench codec --bench render -- \
    --warm-up-time 2 --measurement-time "${BENCH_TIME:-5}" --noplot >&2
python3 - <<'PY'
import json, pathlib
rows = {}
for est in pathlib.Path("target/criterion").glob("*/**/new/estimates.json"):
    bench = json.loads((est.parent / "benchmark.json").read_text())
    rows[bench["full_id"]] = json.loads(est.read_text())["median"]["point_estimate"]
refs = [r for r in ("rocketmq-remoting-0.9", "rocketmq-rust-1.0") if any(f"/{r}/" in k for k in rows)]
print(f"{'benchmark':40} {'median':>11} {'rate':>10}" + "".join(f"  {'speed vs ' + r:>32}" for r in refs))
for k in sorted(rows):
    if any(f"/{r}/" in k for r in refs):
        continue
    ns = rows[k]
    cols = ""
    for r in refs:
        ref = rows.get(k.replace("/rmq/", f"/{r}/"))
        cols += f"  {(f'{ref / ns:.2f}x (theirs {ref:.0f} ns)') if ref else '':>32}"
    print(f"{k:40} {ns:8.1f} ns {1e9 / ns / 1e6:6.2f} M/s{cols}")
PY
