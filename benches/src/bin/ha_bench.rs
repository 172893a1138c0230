//! Throughput of a replication-like stream through the HA guards.
//!
//! A "master" streams classic HA transfer blocks (12-byte header + 256 KiB of commitlog-like
//! bytes) after the first 8-byte report; a "slave" reads them and reports its offset every
//! 32 MiB, as a real slave does after appending. Paths: direct, HAProxy in TCP mode (one
//! hop), the accept-side guard alone (one hop, the bench speaks the first packet; inspection
//! on and off), and the full guard pair (two hops: plaintext, and TLS between the guards).
//! Prints GB/s and each guard's CPU seconds per GB.
//!
//! `cargo build --release -p rmq-ha-guard && cargo run --release -p rmq-benches --bin ha-bench -- [GB]`

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rmq_benches::procinfo;
use rmq_protocol::ha::{Parsed, TransferHeader};
use rmq_protocol::sign::{SigningKey, ha_v1};
use rmq_testkit::{ManagedProcess, free_port, http, wire};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const BLOCK: usize = 256 * 1024;
const REPORT_EVERY: u64 = 32 * 1024 * 1024;
const SECRET: &str = "ha-bench-secret";

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The master: after the first report, sends blocks until the slave closes.
async fn master(l: TcpListener) {
    loop {
        let Ok((mut s, _)) = l.accept().await else { continue };
        tokio::spawn(async move {
            let mut first = [0u8; 8];
            if s.read_exact(&mut first).await.is_err() {
                return;
            }
            let (mut r, mut w) = s.into_split();
            // Reports are read and dropped, as the master's read side would.
            tokio::spawn(async move {
                let mut sink = vec![0u8; 4096];
                while matches!(r.read(&mut sink).await, Ok(n) if n > 0) {}
            });
            let mut block = vec![0x5Au8; TransferHeader::LEN + BLOCK];
            let mut offset: i64 = 0;
            loop {
                let h = TransferHeader { phy_offset: offset, body_size: i32::try_from(BLOCK).unwrap_or(i32::MAX) };
                block[..TransferHeader::LEN].copy_from_slice(&h.encode());
                if w.write_all(&block).await.is_err() {
                    return;
                }
                offset += i64::try_from(BLOCK).unwrap_or(i64::MAX);
            }
        });
    }
}

/// The slave: reads `total` bytes of transfer stream, reporting as it goes. Returns seconds.
async fn slave(entry: SocketAddr, hello: Option<Vec<u8>>, total: u64) -> anyhow::Result<f64> {
    let mut s = TcpStream::connect(entry).await?;
    s.set_nodelay(true)?;
    if let Some(h) = hello {
        s.write_all(&h).await?;
        let mut answer = [0u8; ha_v1::ACCEPT_LEN];
        s.read_exact(&mut answer).await.context("no answer to the first packet")?;
        if !matches!(ha_v1::parse_accept(&answer), Ok(Parsed::Complete(..))) {
            bail!("bad answer");
        }
    }
    s.write_all(&0i64.to_be_bytes()).await?;
    let mut buf = vec![0u8; 1024 * 1024];
    let (mut got, mut next_report) = (0u64, REPORT_EVERY);
    let start = Instant::now();
    while got < total {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            bail!("closed after {got} bytes");
        }
        got += n as u64;
        if got >= next_report {
            // Offsets only grow, like a real slave's.
            s.write_all(&i64::try_from(got).unwrap_or(i64::MAX).to_be_bytes()).await?;
            next_report += REPORT_EVERY;
        }
    }
    Ok(start.elapsed().as_secs_f64())
}

fn hello() -> anyhow::Result<Vec<u8>> {
    let now = u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis())?;
    let mut nonce = [0u8; ha_v1::NONCE_LEN];
    nonce[..8].copy_from_slice(&now.to_be_bytes());
    nonce[8..].copy_from_slice(&std::process::id().to_be_bytes().repeat(2));
    Ok(ha_v1::encode_hello("bench", &SigningKey::new(SECRET.as_bytes()), now, nonce, "broker-a")?)
}

fn spawn(name: &str, program: &Path, args: &[&str], dir: &Path) -> anyhow::Result<ManagedProcess> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    ManagedProcess::spawn(name, program, &args, dir, &[], dir.join(format!("{name}.log")))
}

fn wait_http(port: u16) -> anyhow::Result<()> {
    wire::wait_for("ha-guard", Duration::from_secs(30), || Ok(http::get(addr(port), "/healthz", None).ok().map(drop)))
}

#[allow(clippy::print_stdout, clippy::cast_precision_loss)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let gb: f64 = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(4.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let total = (gb * 1e9) as u64;
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/rmq-ha-guard");
    if !bin.is_file() {
        bail!("{} missing: cargo build --release -p rmq-ha-guard", bin.display());
    }
    let master_port = free_port()?;
    let l = std::net::TcpListener::bind(addr(master_port))?;
    l.set_nonblocking(true)?;
    std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
            rt.block_on(async move {
                if let Ok(l) = TcpListener::from_std(l) {
                    master(l).await;
                }
            });
        }
    });

    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let key = d.join("key");
    std::fs::write(&key, SECRET)?;
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    std::fs::write(d.join("cert.pem"), ck.cert.pem())?;
    std::fs::write(d.join("tls.key"), ck.key_pair.serialize_pem())?;
    std::fs::set_permissions(d.join("tls.key"), std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let [acc_on, acc_off, acc_tls, con_plain, con_tls, hap, http_a, http_c] = [(); 8].map(|()| free_port());
    let (acc_on, acc_off, acc_tls, con_plain, con_tls, hap, http_a, http_c) =
        (acc_on?, acc_off?, acc_tls?, con_plain?, con_tls?, hap?, http_a?, http_c?);
    let keys = format!("[[keys]]\nid = \"bench\"\nsecret_file = \"{}\"\n", key.display());
    let m = addr(master_port);
    std::fs::write(
        d.join("accept.toml"),
        format!(
            "[http]\nlisten = \"{}\"\n[log]\nlevel = \"warn\"\n{keys}\
             [[accept]]\nname = \"on\"\nlisten = \"{}\"\nupstream = \"{m}\"\nbroker_name = \"broker-a\"\n\
             [[accept]]\nname = \"off\"\nlisten = \"{}\"\nupstream = \"{m}\"\nbroker_name = \"broker-a\"\ninspect = false\n\
             [[accept]]\nname = \"tls\"\nlisten = \"{}\"\nupstream = \"{m}\"\nbroker_name = \"broker-a\"\n\
             tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
            addr(http_a),
            addr(acc_on),
            addr(acc_off),
            addr(acc_tls),
            d.join("cert.pem").display(),
            d.join("tls.key").display()
        ),
    )?;
    std::fs::write(
        d.join("connect.toml"),
        format!(
            "[http]\nlisten = \"{}\"\n[log]\nlevel = \"warn\"\n{keys}\
             [[connect]]\nname = \"plain\"\nlisten = \"{}\"\nremote = \"{}\"\nbroker_name = \"broker-a\"\nkey_id = \"bench\"\n\
             [[connect]]\nname = \"tls\"\nlisten = \"{}\"\nremote = \"{}\"\nbroker_name = \"broker-a\"\nkey_id = \"bench\"\n\
             tls_ca_file = \"{}\"\ntls_server_name = \"localhost\"\n",
            addr(http_c),
            addr(con_plain),
            addr(acc_on),
            addr(con_tls),
            addr(acc_tls),
            d.join("cert.pem").display()
        ),
    )?;
    std::fs::write(
        d.join("haproxy.cfg"),
        format!(
            "global\n  nbthread 1\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 5m\n  timeout server 5m\n\
             listen ha\n  bind {}\n  server s {m}\n",
            addr(hap)
        ),
    )?;
    let accept_cfg = d.join("accept.toml").display().to_string();
    let connect_cfg = d.join("connect.toml").display().to_string();
    let _a = spawn("accept", &bin, &["run", "--config", &accept_cfg], d)?;
    let _c = spawn("connect", &bin, &["run", "--config", &connect_cfg], d)?;
    let haproxy_cfg = d.join("haproxy.cfg").display().to_string();
    let _h = spawn("haproxy", Path::new("/usr/sbin/haproxy"), &["-db", "-f", &haproxy_cfg], d)?;
    tokio::task::spawn_blocking(move || wait_http(http_a).and_then(|()| wait_http(http_c))).await??;
    tokio::task::spawn_blocking(move || {
        wire::wait_for("haproxy", Duration::from_secs(30), || Ok(std::net::TcpStream::connect(addr(hap)).ok()))
    })
    .await??;
    let accept_pid = procinfo::pid_listening(acc_on).context("accept guard pid")?;
    let connect_pid = procinfo::pid_listening(con_plain).context("connect guard pid")?;
    let haproxy_pid = procinfo::pid_listening(hap).context("haproxy pid")?;

    println!("{gb} GB per row, 256 KiB transfer blocks, a report every 32 MiB; all on this machine's 2 cores");
    println!();
    println!("| path | GB/s | vs direct | CPU s/GB, accept guard (or HAProxy) | CPU s/GB, connect guard |");
    println!("|---|---:|---:|---:|---:|");
    // (path, entry port, bench sends the first packet, accept-side pid, connect-side pid)
    type Row<'a> = (&'a str, u16, bool, Option<u32>, Option<u32>);
    let rows: [Row<'_>; 6] = [
        ("direct", master_port, false, None, None),
        ("HAProxy 2.6 (tcp, one hop)", hap, false, Some(haproxy_pid), None),
        ("accept guard alone, inspection on", acc_on, true, Some(accept_pid), None),
        ("accept guard alone, inspection off", acc_off, true, Some(accept_pid), None),
        ("guard pair, plaintext, inspection on", con_plain, false, Some(accept_pid), Some(connect_pid)),
        ("guard pair, TLS, inspection on", con_tls, false, Some(accept_pid), Some(connect_pid)),
    ];
    let mut base = 0.0;
    for (name, port, with_hello, a, c) in rows {
        let cpu = |p: Option<u32>| p.and_then(procinfo::cpu_seconds).unwrap_or(0.0);
        let (a0, c0) = (cpu(a), cpu(c));
        let secs = slave(addr(port), if with_hello { Some(hello()?) } else { None }, total).await?;
        let (a1, c1) = (cpu(a), cpu(c));
        let gbps = total as f64 / 1e9 / secs;
        if base == 0.0 {
            base = gbps;
        }
        let per_gb = |d: f64, p: Option<u32>| if p.is_some() { format!("{:.2}", d / gb) } else { "–".into() };
        println!("| {name} | {gbps:.2} | {:.2}x | {} | {} |", gbps / base, per_gb(a1 - a0, a), per_gb(c1 - c0, c));
    }
    Ok(())
}
