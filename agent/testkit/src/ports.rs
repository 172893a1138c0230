//! Free loopback ports.

use std::net::{Ipv4Addr, TcpListener};

/// A port nothing listens on right now (the OS picks it).
pub fn free_port() -> anyhow::Result<u16> {
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
