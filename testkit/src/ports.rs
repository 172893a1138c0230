//! Free loopback ports.
//!
//! Ports are picked *below* the kernel's ephemeral range. A port the OS hands out for
//! `bind(0)` comes from the same range as the local ports of outgoing connections, so between
//! "found free" and "bound by the server under test" a concurrent test's client connection
//! could take it (EADDRINUSE, an intermittent start failure). Below the range, only another
//! free-port caller can, and picks are random.
//!
//! A port is handed out at most once per process. Tests in one binary run in parallel, and a
//! port is free not only before its server binds it but also while a test restarts that
//! server: without the ledger, a concurrent test could be given the same port in either
//! window and one of the two servers would fail to bind. (Test binaries run one after
//! another, so a per-process ledger covers every pick that can race.)

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// Lowest port handed out.
const LOWEST: u16 = 10_000;

/// Every port this process has handed out, so none is handed out twice.
static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

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

/// Claims `lo..=hi` if no port in it was handed out before and all are free now (held bound
/// together while checking).
fn claim(given: &mut HashSet<u16>, lo: u16, hi: u16) -> bool {
    if (lo..=hi).any(|q| given.contains(&q)) {
        return false;
    }
    let held: Result<Vec<_>, _> = (lo..=hi).map(|q| TcpListener::bind((Ipv4Addr::LOCALHOST, q))).collect();
    if held.is_err() {
        return false;
    }
    given.extend(lo..=hi);
    true
}

/// A port `p` such that `p - below ..= p + above` are all free and none was handed out
/// before in this process: a broker needs its port, `port - 2` (the VIP port) and
/// `port + 1` (HA).
pub fn free_port_run(below: u16, above: u16) -> anyhow::Result<u16> {
    let top = ephemeral_start().max(LOWEST + 1000);
    let mut guard = GIVEN.lock().unwrap_or_else(PoisonError::into_inner);
    let given = guard.get_or_insert_with(HashSet::new);
    let span = u64::from(top - LOWEST);
    for _ in 0..2000 {
        let p = LOWEST + u16::try_from(next_random() % span).unwrap_or(0);
        let (Some(lo), Some(hi)) = (p.checked_sub(below), p.checked_add(above)) else { continue };
        if lo >= LOWEST && hi < top && claim(given, lo, hi) {
            return Ok(p);
        }
    }
    anyhow::bail!("no run of {} free ports found between {LOWEST} and {top}", below + above + 1)
}

/// A port nothing listens on right now and that this process has not handed out before.
pub fn free_port() -> anyhow::Result<u16> {
    free_port_run(0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_port_is_handed_out_twice() {
        let mut seen = HashSet::new();
        for _ in 0..500 {
            assert!(seen.insert(free_port().unwrap()));
        }
        let p = free_port_run(2, 1).unwrap();
        for q in p - 2..=p + 1 {
            assert!(seen.insert(q), "{q} of the run {p} was handed out before");
        }
    }

    #[test]
    fn a_port_someone_listens_on_is_not_claimed() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let taken = l.local_addr().unwrap().port();
        let mut given = HashSet::new();
        assert!(!claim(&mut given, taken, taken));
        assert!(given.is_empty());
        drop(l);
        assert!(claim(&mut given, taken, taken));
        assert!(!claim(&mut given, taken, taken), "claimed twice");
    }
}
