//! Free loopback ports.
//!
//! Ports are picked *below* the kernel's ephemeral range. A port the OS hands out for
//! `bind(0)` comes from the same range as the local ports of outgoing connections, so between
//! "found free" and "bound by the server under test" a concurrent test's client connection
//! could take it (EADDRINUSE, an intermittent start failure). Below the range, only another
//! free-port caller can, and picks are random.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};

/// Lowest port handed out.
const LOWEST: u16 = 10_000;

/// The first ephemeral port (`net.ipv4.ip_local_port_range`), 32768 if unreadable.
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A pseudo-random number (differs per call and per process).
fn next_random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() ^ u64::from(d.subsec_nanos()))
        ^ (u64::from(std::process::id()) << 32);
    let mut x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ seed;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 33)
}

/// A port nothing listens on right now, below the ephemeral range when there is room.
pub fn free_port() -> anyhow::Result<u16> {
    let top = ephemeral_start();
    if top > LOWEST + 1000 {
        for _ in 0..1000 {
            let span = u64::from(top - LOWEST);
            let p = LOWEST + u16::try_from(next_random() % span).unwrap_or(0);
            if TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok() {
                return Ok(p);
            }
        }
    }
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// A port `p` such that `p - below ..= p + above` are all free: a broker needs its port,
/// `port - 2` (the VIP port) and `port + 1` (HA).
pub fn free_port_run(below: u16, above: u16) -> anyhow::Result<u16> {
    for _ in 0..200 {
        let p = free_port()?;
        if p < 1024 + below || p > u16::MAX - above {
            continue;
        }
        // Hold every port of the run at once while checking, then release them together.
        let held: Result<Vec<_>, _> =
            (p - below..=p + above).map(|q| TcpListener::bind((Ipv4Addr::LOCALHOST, q))).collect();
        if held.is_ok() {
            return Ok(p);
        }
    }
    anyhow::bail!("no run of {} free ports found", below + above + 1)
}
