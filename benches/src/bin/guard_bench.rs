//! Load benchmark for the admin guard: closed-loop request/response load, one request in
//! flight per connection, bounded in time. Two upstreams:
//!
//! - a minimal fast responder (answers every request at once: isolates proxy cost);
//! - a real RocketMQ-Rust broker (SEND_MESSAGE_V2 to TBW102).
//!
//! Each is reached directly, through the guard (release `rmq-agent`, one thread), and through
//! HAProxy in TCP mode (Debian, `nbthread 1`). Prints throughput and p50/p99/p999, then the
//! guard's resident memory per idle connection.
//!
//! `cargo build --release -p rmq-agent && cargo run --release -p rmq-benches --bin guard-bench -- [CONNS] [SECONDS] [BODY] [IDLE]`
//!
//! `GUARD_BENCH_HEADER=json` sends JSON headers (Java clients' default; the guard re-encodes
//! them) instead of binary ones; `GUARD_BENCH_AGENT=PATH` benchmarks another agent build.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::{Bytes, BytesMut};
use rmq_protocol::frame::{self, RawFrame};
use rmq_protocol::request::{CommandHeader as _, SendMessageRequestHeaderV2};
use rmq_protocol::{ResponseCode, SerializeType};
use rmq_testkit::{BrokerOptions, Cluster, ManagedProcess, free_port, http, wire};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// The fast responder: answers each request frame with a header-only SUCCESS.
async fn responder(l: TcpListener) {
    loop {
        let Ok((mut s, _)) = l.accept().await else { continue };
        let _ = s.set_nodelay(true);
        tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(64 * 1024);
            let mut out = BytesMut::with_capacity(64 * 1024);
            loop {
                while let Ok(Some(f)) = RawFrame::split_from(&mut buf) {
                    let Ok(p) = f.peek() else { return };
                    if p.is_response() || p.is_oneway() {
                        continue;
                    }
                    let h = rmq_protocol::Header { opaque: p.opaque, ..rmq_protocol::Header::default() }
                        .response_to(ResponseCode::SUCCESS, None);
                    if frame::encode(&h, SerializeType::ROCKETMQ, &[], &mut out).is_err() {
                        return;
                    }
                }
                if !out.is_empty() {
                    if s.write_all(&out).await.is_err() {
                        return;
                    }
                    out.clear();
                }
                match s.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        });
    }
}

/// The request each connection sends: a SEND_MESSAGE_V2 in the header type under test
/// (`GUARD_BENCH_HEADER=json` for JSON, Java's default; binary otherwise).
#[derive(Clone)]
enum Template {
    Binary(Bytes),
    Json(rmq_protocol::Header, Bytes),
}

fn request(body: usize) -> Template {
    let h = SendMessageRequestHeaderV2 {
        producer_group: "bench-producer".into(),
        topic: "TBW102".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        born_timestamp: 1_700_000_000_000,
        ..Default::default()
    };
    let header = h.to_header(0);
    let body = Bytes::from(vec![b'x'; body]);
    if std::env::var("GUARD_BENCH_HEADER").is_ok_and(|v| v == "json") {
        return Template::Json(header, body);
    }
    match frame::encode_to_bytes(&header, SerializeType::ROCKETMQ, &body) {
        Ok(b) => Template::Binary(b),
        Err(e) => panic!("bench request does not encode: {e}"),
    }
}

/// The request with `opaque`: patched in place in a binary header (bytes 13..17: 8 bytes of
/// lengths + 5 of header), re-encoded for JSON (a client's cost, the same on every path).
fn with_opaque(template: &Template, opaque: i32) -> Vec<u8> {
    match template {
        Template::Binary(b) => {
            let mut v = b.to_vec();
            v[13..17].copy_from_slice(&opaque.to_be_bytes());
            v
        }
        Template::Json(h, body) => {
            let h = rmq_protocol::Header { opaque, ..h.clone() };
            match frame::encode_to_bytes(&h, SerializeType::JSON, body) {
                Ok(b) => b.to_vec(),
                Err(e) => panic!("bench request does not encode: {e}"),
            }
        }
    }
}

struct LoadResult {
    requests: u64,
    errors: u64,
    secs: f64,
    latencies_us: Vec<u32>,
}

async fn one_connection(addr: SocketAddr, template: Template, until: Instant) -> anyhow::Result<(Vec<u32>, u64)> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut lat = Vec::with_capacity(100_000);
    let mut errors = 0;
    let mut opaque = 0i32;
    while Instant::now() < until {
        opaque = opaque.wrapping_add(1);
        let t = Instant::now();
        s.write_all(&with_opaque(&template, opaque)).await?;
        let f = loop {
            if let Some(f) = RawFrame::split_from(&mut buf)? {
                break f;
            }
            if s.read_buf(&mut buf).await? == 0 {
                bail!("closed by peer");
            }
        };
        lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
        if f.header()?.response_code() != ResponseCode::SUCCESS {
            errors += 1;
        }
    }
    Ok((lat, errors))
}

async fn load(addr: SocketAddr, conns: usize, secs: u64, body: usize) -> anyhow::Result<LoadResult> {
    let template = request(body);
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..conns).map(|_| tokio::spawn(one_connection(addr, template.clone(), until))).collect();
    let mut r = LoadResult { requests: 0, errors: 0, secs: 0.0, latencies_us: Vec::new() };
    for t in tasks {
        let (lat, errors) = t.await??;
        r.requests += lat.len() as u64;
        r.errors += errors;
        r.latencies_us.extend(lat);
    }
    r.secs = start.elapsed().as_secs_f64();
    r.latencies_us.sort_unstable();
    Ok(r)
}

fn pct(v: &[u32], p: f64) -> u32 {
    if v.is_empty() {
        return 0;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let i = ((v.len() as f64 * p) as usize).min(v.len() - 1);
    v[i]
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    rmq_benches::procinfo::rss_kib(pid).context("VmRSS")
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[allow(clippy::print_stdout)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let conns = usize::try_from(args.next().transpose()?.unwrap_or(32))?;
    let secs = args.next().transpose()?.unwrap_or(10);
    let body = usize::try_from(args.next().transpose()?.unwrap_or(256))?;
    let idle = usize::try_from(args.next().transpose()?.unwrap_or(9_000))?;
    // GUARD_BENCH_AGENT: another build of the agent (say, the previous commit's) to compare.
    let agent_bin = std::env::var_os("GUARD_BENCH_AGENT")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/rmq-agent"), Into::into);
    if !agent_bin.is_file() {
        bail!("{} missing: cargo build --release -p rmq-agent", agent_bin.display());
    }

    // The fast responder on its own thread and runtime.
    let resp_port = free_port()?;
    let l = std::net::TcpListener::bind(addr(resp_port))?;
    l.set_nonblocking(true)?;
    std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
            rt.block_on(async move {
                if let Ok(l) = TcpListener::from_std(l) {
                    responder(l).await;
                }
            });
        }
    });
    let cluster = tokio::task::spawn_blocking(|| Cluster::start(BrokerOptions::default())).await??;
    let broker = cluster.broker.addr();

    let dir = tempfile::tempdir()?;
    let key = dir.path().join("key");
    std::fs::write(&key, "bench-secret")?;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
    let (g_resp, g_broker, h_resp, h_broker, http_port) =
        (free_port()?, free_port()?, free_port()?, free_port()?, free_port()?);
    let max_conns = idle + conns + 100;
    // Every bench connection comes from 127.0.0.1. (Left out with IDLE=0, so that builds
    // older than the per-source limit can be compared.)
    let per_source = if idle > 0 { format!("max_connections_per_source = {max_conns}\n") } else { String::new() };
    std::fs::write(
        dir.path().join("agent.toml"),
        format!(
            "[http]\nlisten = \"127.0.0.1:{http_port}\"\n[log]\nlevel = \"warn\"\n[broker]\nenabled = false\n[host]\nenabled = false\n\
             [[guard.keys]]\nid = \"bench\"\nsecret_file = \"{}\"\n\
             [[guard.listeners]]\nname = \"responder\"\nlisten = \"{}\"\nupstream = \"{}\"\nmax_connections = {max_conns}\n{per_source}\
             [[guard.listeners]]\nname = \"broker\"\nlisten = \"{}\"\nupstream = \"{}\"\nmax_connections = {max_conns}\n{per_source}",
            key.display(),
            addr(g_resp),
            addr(resp_port),
            addr(g_broker),
            broker
        ),
    )?;
    let guard = ManagedProcess::spawn(
        "rmq-agent",
        &agent_bin,
        &["run".into(), "--config".into(), dir.path().join("agent.toml").display().to_string()],
        dir.path(),
        &[],
        dir.path().join("agent.log"),
    )?;
    std::fs::write(
        dir.path().join("haproxy.cfg"),
        format!(
            "global\n  nbthread 1\n  maxconn {max_conns}\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 5m\n  timeout server 5m\n\
             listen responder\n  bind {}\n  server s {}\nlisten broker\n  bind {}\n  server s {}\n",
            addr(h_resp),
            addr(resp_port),
            addr(h_broker),
            broker
        ),
    )?;
    let _haproxy = ManagedProcess::spawn(
        "haproxy",
        Path::new("/usr/sbin/haproxy"),
        &["-db".into(), "-f".into(), dir.path().join("haproxy.cfg").display().to_string()],
        dir.path(),
        &[],
        dir.path().join("haproxy.log"),
    )?;
    let http_addr = addr(http_port);
    tokio::task::spawn_blocking(move || {
        wire::wait_for("guard", Duration::from_secs(30), || Ok(http::get(http_addr, "/healthz", None).ok().map(drop)))
    })
    .await??;
    for p in [h_resp, h_broker] {
        tokio::task::spawn_blocking(move || {
            wire::wait_for("haproxy", Duration::from_secs(30), || Ok(std::net::TcpStream::connect(addr(p)).ok()))
        })
        .await??;
    }

    let header_kind = if matches!(request(0), Template::Json(..)) { "JSON" } else { "binary" };
    println!(
        "closed loop, {conns} connections, {secs} s each, SEND_MESSAGE_V2 with a {body}-byte body, {header_kind} header"
    );
    println!();
    println!(
        "| upstream | path | requests/s | vs direct | p50 µs | p99 µs | p999 µs | errors | proxy CPU µs/request |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    // The proxies' own CPU time per request (utime + stime from /proc): unlike throughput, it
    // does not depend on what else wants the machine's cores during the row.
    let guard_pid = rmq_benches::procinfo::pid_listening(g_resp).context("guard pid")?;
    let haproxy_pid = rmq_benches::procinfo::pid_listening(h_resp).context("haproxy pid")?;
    for (name, direct, via_guard, via_haproxy) in [
        ("fast responder", addr(resp_port), addr(g_resp), addr(h_resp)),
        ("RocketMQ-Rust broker", broker, addr(g_broker), addr(h_broker)),
    ] {
        let mut base = 0.0;
        for (path, a, pid) in [
            ("direct", direct, None),
            ("rmq-agent guard", via_guard, Some(guard_pid)),
            ("HAProxy 2.6 (tcp)", via_haproxy, Some(haproxy_pid)),
        ] {
            let cpu_before = pid.and_then(rmq_benches::procinfo::cpu_seconds);
            let r = load(a, conns, secs, body).await?;
            let cpu_after = pid.and_then(rmq_benches::procinfo::cpu_seconds);
            #[allow(clippy::cast_precision_loss)]
            let rps = r.requests as f64 / r.secs;
            if path == "direct" {
                base = rps;
            }
            #[allow(clippy::cast_precision_loss)]
            let cpu_per_req = match (cpu_before, cpu_after) {
                (Some(b), Some(a)) if r.requests > 0 => format!("{:.2}", (a - b) * 1e6 / r.requests as f64),
                _ => "–".to_owned(),
            };
            let l = &r.latencies_us;
            println!(
                "| {name} | {path} | {rps:.0} | {:.2}x | {} | {} | {} | {} | {cpu_per_req} |",
                rps / base,
                pct(l, 0.5),
                pct(l, 0.99),
                pct(l, 0.999),
                r.errors
            );
        }
    }

    if idle == 0 {
        return Ok(());
    }
    // Memory per idle connection through the guard (to the responder).
    let pid = rmq_benches::procinfo::pid_listening(g_resp).context("guard pid")?;
    let before = rss_kib(pid)?;
    let mut idle_conns = Vec::with_capacity(idle);
    // The guard dials its upstream only after a client's first whole frame: each connection
    // makes one round trip, then stays idle.
    let template = request(0);
    for _ in 0..idle {
        let mut c = TcpStream::connect(addr(g_resp)).await?;
        c.write_all(&with_opaque(&template, 1)).await?;
        let mut buf = BytesMut::with_capacity(256);
        while RawFrame::split_from(&mut buf)?.is_none() {
            if c.read_buf(&mut buf).await? == 0 {
                bail!("idle connection closed by the guard");
            }
        }
        idle_conns.push(c);
    }
    let http_addr2 = http_addr;
    let want = idle;
    tokio::task::spawn_blocking(move || {
        wire::wait_for("idle connections established", Duration::from_secs(120), move || {
            let body = http::get(http_addr2, "/metrics", None)?.body;
            #[allow(clippy::cast_precision_loss)]
            let n = rmq_testkit::expo::value(&body, "rmq_guard_connections_active", &[("listener", "responder")])
                .unwrap_or(0.0);
            Ok((n >= want as f64).then_some(()))
        })
    })
    .await??;
    let after = rss_kib(pid)?;
    #[allow(clippy::cast_precision_loss)]
    let per = (after.saturating_sub(before)) as f64 * 1024.0 / idle as f64;
    println!();
    println!("| guard RSS, {idle} idle connections | value |");
    println!("|---|---:|");
    println!("| before | {:.1} MiB |", before as f64 / 1024.0);
    println!("| after | {:.1} MiB |", after as f64 / 1024.0);
    println!("| per idle connection (client + upstream socket) | {:.1} KiB |", per / 1024.0);
    drop(idle_conns);
    drop(guard);
    Ok(())
}
