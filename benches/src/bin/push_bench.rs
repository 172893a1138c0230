//! Remote-write throughput: 100k-series snapshots (a big broker's shape) labelled, encoded
//! (protobuf + snappy) from the typed snapshot, spooled and sent to a real
//! VictoriaMetrics (Debian) by the agent's own sender. Prints samples/s and this process's
//! CPU per 100k samples for each phase.
//!
//! `cargo run --release -p rmq-benches --bin push-bench -- [ROUNDS]`

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use rmq_agent::config::RemoteWriteEndpoint;
use rmq_agent::push::{Batcher, Endpoint, bodies};
use rmq_benches::procinfo;
use rmq_runtime::metrics::{Registry, SnapshotSlot};
use rmq_testkit::{ManagedProcess, free_port, http, wire};

const SERIES: usize = 100_000;

#[allow(clippy::print_stdout, clippy::cast_precision_loss)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let rounds: u64 = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(10);
    let dir = tempfile::tempdir()?;
    let vm = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let _vm = ManagedProcess::spawn(
        "victoria-metrics",
        Path::new("/usr/bin/victoria-metrics"),
        &[format!("-httpListenAddr={vm}"), format!("-storageDataPath={}", dir.path().join("vm").display())],
        dir.path(),
        &[],
        dir.path().join("vm.log"),
    )?;
    wire::wait_for("victoria-metrics", Duration::from_secs(30), || Ok(http::get(vm, "/health", None).ok().map(drop)))?;

    let slot = SnapshotSlot::new();
    slot.publish(rmq_benches::big_families(SERIES));
    let registry = Registry::new(vec![slot]);
    let me = std::process::id();
    let cpu = || procinfo::cpu_seconds(me).unwrap_or(0.0);
    let now = u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;

    // Phase 1: label → encode → compress, as the producer does.
    let mut batcher = Batcher::new(&BTreeMap::from([("host".into(), "bench".into())]));
    let (c0, t0) = (cpu(), Instant::now());
    let mut encoded = Vec::new();
    for r in 0..rounds {
        let ts = now - (rounds - r) * 15_000;
        let series = batcher.snapshot(registry.snapshots(), i64::try_from(ts)?);
        encoded.push((ts, bodies(&series, 10_000)));
    }
    let (enc_cpu, enc_wall) = (cpu() - c0, t0.elapsed().as_secs_f64());
    let samples = (SERIES as u64 * rounds) as f64;
    let bytes: usize = encoded.iter().flat_map(|(_, b)| b.iter().map(|x| x.0.len())).sum();

    // Phase 2: spool and send with the agent's sender.
    let ep = Arc::new(Endpoint::open(&RemoteWriteEndpoint {
        max_spool_bytes: 4 << 30,
        max_spool_age: Duration::from_secs(86_400),
        max_backoff: Duration::from_secs(1),
        ..RemoteWriteEndpoint::new("vm", format!("http://{vm}/api/v1/write"), dir.path().join("spool"))
    })?);
    let (c1, t1) = (cpu(), Instant::now());
    for (ts, b) in &encoded {
        ep.enqueue(b, *ts);
    }
    let spool_cpu = cpu() - c1;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sender = tokio::spawn(Arc::clone(&ep).send_loop(stop_rx));
    while ep.stats.queue_requests.load(Ordering::Relaxed) > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (send_cpu, send_wall) = (cpu() - c1 - spool_cpu, t1.elapsed().as_secs_f64());
    let _ = stop_tx.send(true);
    let _ = sender.await;
    let sent = ep.stats.sent.load(Ordering::Relaxed) as f64;
    anyhow::ensure!(sent >= samples, "sent {sent} of {samples}");
    let vm_pid = procinfo::pid_listening(vm.port()).context("vm pid")?;

    println!(
        "{rounds} snapshots of {SERIES} series ({samples:.0} samples), 10,000 per request, {:.1} MiB compressed",
        bytes as f64 / 1048576.0
    );
    println!();
    println!("| phase | samples/s | agent CPU s per 100k samples |");
    println!("|---|---:|---:|");
    let per100k = |c: f64| c / samples * 100_000.0;
    println!("| label + protobuf + snappy | {:.0} | {:.4} |", samples / enc_wall, per100k(enc_cpu));
    println!("| write to the spool | – | {:.4} |", per100k(spool_cpu));
    println!("| send to VictoriaMetrics (spool read + HTTP) | {:.0} | {:.4} |", samples / send_wall, per100k(send_cpu));
    println!("| total | | {:.4} |", per100k(enc_cpu + spool_cpu + send_cpu));
    println!();
    println!("(VictoriaMetrics pid {vm_pid} ingests on the same 2 cores.)");
    Ok(())
}
