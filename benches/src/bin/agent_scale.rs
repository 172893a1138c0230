//! Load script for the agent on a big broker: creates 1,000 topics and 1,000 consumer
//! groups (each with committed offsets) on a real RocketMQ broker, runs the release
//! `rmq-agent` binary against it as a separate process, and prints a table: collection
//! cycle wall time, agent CPU per cycle, RSS, `/metrics` size and fetch time; then host
//! collection cost against node_exporter's on the same machine.
//!
//! `cargo run --release -p rmq-benches --bin agent-scale -- [TOPICS] [GROUPS]`
//! (needs `cargo build --release -p rmq-agent` and scripts/install-test-deps.sh first;
//! `RMQ_SCALE_AGENT_BIN=path` runs another agent binary instead).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures_util::StreamExt as _;
use rmq_agent::config::HostConfig;
use rmq_agent::remoting::{Client, ClientConfig};
use rmq_protocol::request::{
    CommandHeader as _, CreateTopicRequestHeader, UpdateConsumerOffsetRequestHeader, subscription_group_body,
};
use rmq_protocol::{RequestCode, ResponseCode};
use rmq_runtime::metrics::{Exposition, Registry, SnapshotSlot};
use rmq_testkit::expo::value;
use rmq_testkit::{BrokerOptions, Cluster, ManagedProcess, free_port, http, wire};

fn thread_cpu() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    #[allow(clippy::cast_precision_loss)]
    {
        t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
    }
}

/// The release agent, or the binary `RMQ_SCALE_AGENT_BIN` names (to compare two builds
/// run after run under the same conditions).
fn agent_binary() -> anyhow::Result<PathBuf> {
    let p = std::env::var_os("RMQ_SCALE_AGENT_BIN")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/rmq-agent"), PathBuf::from);
    if !p.is_file() {
        bail!("{} missing: run `cargo build --release -p rmq-agent` first", p.display());
    }
    Ok(p)
}

async fn populate(c: &Client, topics: usize, groups: usize) -> anyhow::Result<()> {
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter((0..topics).map(|i| async move {
        c.call(&CreateTopicRequestHeader::new(format!("scale-topic-{i:04}"), 4), &[]).await?;
        Ok(())
    }))
    .buffer_unordered(64)
    .collect()
    .await;
    results.into_iter().collect::<anyhow::Result<()>>()?;
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter((0..groups).map(|i| async move {
        let g = format!("scale-group-{i:04}");
        let r = c
            .request(RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, None, &subscription_group_body(&g), None)
            .await?;
        anyhow::ensure!(r.code() == ResponseCode::SUCCESS, "create group: {:?}", r.header.remark);
        // Offsets make the group appear in GET_BROKER_CONSUME_STATS, as a live group would.
        let h = UpdateConsumerOffsetRequestHeader {
            consumer_group: g,
            topic: format!("scale-topic-{:04}", i % topics.max(1)),
            queue_id: "0".into(),
            commit_offset: "0".into(),
        };
        c.request(RequestCode::UPDATE_CONSUMER_OFFSET, Some(h.to_ext_fields()), &[], None).await?;
        Ok(())
    }))
    .buffer_unordered(64)
    .collect()
    .await;
    results.into_iter().collect()
}

fn broker_runs(body: &str) -> f64 {
    value(body, "rmq_agent_collector_runs_total", &[("collector", "broker")]).unwrap_or(0.0)
}

/// Scrapes until the broker collector has run `n` times; returns that scrape.
async fn wait_runs(addr: SocketAddr, n: f64) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        wire::wait_for("agent cycles", Duration::from_secs(600), move || {
            let r = http::get(addr, "/metrics", None)?;
            Ok((broker_runs(&r.body) >= n).then_some(r.body))
        })
    })
    .await?
}

#[allow(clippy::print_stdout)]
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let topics: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let groups: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let agent_bin = agent_binary()?;

    let cluster = tokio::task::spawn_blocking(|| Cluster::start(BrokerOptions::default())).await??;
    let client = Client::new(ClientConfig::new(cluster.broker.addr().to_string()));
    let t = Instant::now();
    populate(&client, topics, groups).await?;
    println!("created {topics} topics and {groups} groups in {:.1} s", t.elapsed().as_secs_f64());

    // The agent as its own process, so /proc numbers are the agent's alone.
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let interval = 5u64;
    std::fs::write(
        dir.path().join("agent.toml"),
        format!(
            "[http]\nlisten = \"127.0.0.1:{port}\"\n[log]\nlevel = \"warn\"\n[broker]\naddr = \"{}\"\ninterval_seconds = {interval}\ntimeout_seconds = {interval}\n{}\n[host]\ninterval_seconds = {interval}\n",
            cluster.broker.addr(),
            // Extra [broker] settings, e.g. "collect_stats = false", to measure their cost.
            std::env::var("RMQ_SCALE_BROKER_TOML").unwrap_or_default(),
        ),
    )?;
    // RMQ_SCALE_ARENA_MAX=N runs the agent with glibc's MALLOC_ARENA_MAX=N.
    let arena = std::env::var("RMQ_SCALE_ARENA_MAX").ok().map(PathBuf::from);
    let arena_env: Vec<(&str, &Path)> = arena.as_deref().map(|a| vec![("MALLOC_ARENA_MAX", a)]).unwrap_or_default();
    let agent = ManagedProcess::spawn(
        "rmq-agent",
        &agent_bin,
        &["run".into(), "--config".into(), dir.path().join("agent.toml").display().to_string()],
        dir.path(),
        &arena_env,
        dir.path().join("agent.log"),
    )?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let first = wait_runs(addr, 2.0).await?;
    let agent_pid = rmq_benches::procinfo::pid_listening(port).context("agent pid")?;
    let switches = || rmq_benches::procinfo::voluntary_switches(agent_pid).context("agent context switches");
    let sw0 = switches()?;
    let us = || rmq_benches::procinfo::cpu_user_system(agent_pid).context("agent cpu");
    let us0 = us()?;
    let cpu0 = value(&first, "process_cpu_seconds_total", &[]).context("process cpu")?;
    let runs0 = broker_runs(&first);
    let cycles = 6.0;
    // Leave the agent alone for the window: polling it would add scrape cost to the cycles.
    tokio::time::sleep(Duration::from_secs(interval) * 6).await;
    let later = wait_runs(addr, runs0 + cycles).await?;
    let cpu1 = value(&later, "process_cpu_seconds_total", &[]).context("process cpu")?;
    let sw1 = switches()?;
    let us1 = us()?;
    let runs1 = broker_runs(&later);
    let durations: Vec<f64> =
        vec![value(&later, "rmq_agent_collector_duration_seconds", &[("collector", "broker")]).unwrap_or(f64::NAN)];
    let rss = value(&later, "process_resident_memory_bytes", &[]).unwrap_or(f64::NAN);
    // RSS moves by a few MiB with the moment it is read (a cycle's answers in memory or not, a
    // scrape's encoding kept or not); the peak since start does not depend on it.
    #[allow(clippy::cast_precision_loss)]
    let peak_rss = rmq_benches::procinfo::peak_rss_kib(agent_pid).map_or(f64::NAN, |k| k as f64 / 1024.0);
    let series = later.lines().filter(|l| !l.starts_with('#')).count();
    let mut fetch_ms = Vec::new();
    let mut size = 0;
    for _ in 0..10 {
        let t = Instant::now();
        let r = tokio::task::spawn_blocking(move || http::get(addr, "/metrics", None)).await??;
        fetch_ms.push(t.elapsed().as_secs_f64() * 1e3);
        size = r.body.len();
    }
    fetch_ms.sort_by(f64::total_cmp);
    let cpu_per_cycle = (cpu1 - cpu0) / (runs1 - runs0);
    drop(agent);

    println!();
    println!("| agent on a broker with {topics} topics and {groups} groups | value |");
    println!("|---|---|");
    println!("| collection cycle wall time (last cycle) | {:.0} ms |", durations[0] * 1e3);
    println!(
        "| agent CPU per cycle (broker + host + serving, over {:.0} cycles) | {:.1} ms |",
        runs1 - runs0,
        cpu_per_cycle * 1e3
    );
    // How often the agent slept and was woken during the window: the count moves with what
    // else runs on the machine (fewer when it is busy), and the CPU figure moves with it.
    #[allow(clippy::cast_precision_loss)]
    let wakeups = (sw1 - sw0) as f64 / (runs1 - runs0);
    println!(
        "| of which user / kernel (ticks of the whole process, not only the cycles) | {:.1} / {:.1} ms |",
        (us1.0 - us0.0) / (runs1 - runs0) * 1e3,
        (us1.1 - us0.1) / (runs1 - runs0) * 1e3
    );
    println!("| agent wakeups per cycle (runtime thread's voluntary context switches) | {wakeups:.0} |");
    println!("| agent CPU at a 15 s interval | {:.2} % of one core |", cpu_per_cycle / 15.0 * 100.0);
    println!("| agent RSS | {:.1} MiB |", rss / 1048576.0);
    println!("| agent peak RSS since start | {peak_rss:.1} MiB |");
    println!("| /metrics series | {series} |");
    println!("| /metrics size (text format) | {:.0} KiB |", size as f64 / 1024.0);
    println!("| /metrics fetch time, median of 10 | {:.1} ms |", fetch_ms[5]);

    // Host collection: our sampler + rendering, in-process CPU, vs node_exporter's CPU per scrape.
    let sampler = rmq_agent::collector::host::HostSampler::new(&HostConfig::default(), Some(PathBuf::from("/")));
    let slot = SnapshotSlot::new();
    let reg = Registry::new(vec![slot.clone()]);
    let n = 200;
    let t0 = thread_cpu();
    for _ in 0..n {
        slot.publish(sampler.sample());
        std::hint::black_box(reg.render(Exposition::Text));
    }
    let ours = (thread_cpu() - t0) / f64::from(n);
    let ne_port = free_port()?;
    let ne_addr: SocketAddr = format!("127.0.0.1:{ne_port}").parse()?;
    let ne = ManagedProcess::spawn(
        "node_exporter",
        Path::new("/usr/bin/prometheus-node-exporter"),
        &[format!("--web.listen-address={ne_addr}")],
        dir.path(),
        &[],
        dir.path().join("ne.log"),
    )?;
    tokio::task::spawn_blocking(move || {
        wire::wait_for("node_exporter", Duration::from_secs(30), || {
            Ok(http::get(ne_addr, "/metrics", None).ok().map(drop))
        })
    })
    .await??;
    let pid = rmq_benches::procinfo::pid_listening(ne_port).context("node_exporter pid")?;
    let cpu_seconds = |pid| rmq_benches::procinfo::cpu_seconds(pid).context("node_exporter cpu");
    let c0 = cpu_seconds(pid)?;
    let scrapes = 100;
    for _ in 0..scrapes {
        tokio::task::spawn_blocking(move || http::get(ne_addr, "/metrics", None)).await??;
    }
    let theirs = (cpu_seconds(pid)? - c0) / f64::from(scrapes);
    drop(ne);
    println!();
    println!("| host collection, CPU per scrape | value |");
    println!("|---|---|");
    println!("| rmq-agent host sampler + render ({n} runs) | {:.2} ms |", ours * 1e3);
    println!("| node_exporter 1.5 (Debian), default collectors ({scrapes} scrapes) | {:.2} ms |", theirs * 1e3);
    Ok(())
}
