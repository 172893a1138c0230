//! Which local user opened a loopback connection: the owner of the peer's socket, read from
//! `/proc/net/tcp` (or `tcp6`) of the agent's own network namespace — the row whose local
//! address is the peer's and whose remote address is the egress port. With `allowed_uids`,
//! the egress signs only for the broker's user, not for every process on the host.
//!
//! The tables print addresses as the kernel stores them: each 32-bit word of the address in
//! hex as a native-endian integer, the port as a plain hex number.

use std::io::{BufRead as _, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

/// Longest table line read (real lines are ~150 bytes).
const MAX_LINE: usize = 512;

/// The uid owning the socket at `peer` connected to `local`, from the tables under
/// `proc_net` (normally `/proc/net`); `None` if no row matches (the peer has gone).
pub fn peer_uid(proc_net: &Path, peer: SocketAddr, local: SocketAddr) -> std::io::Result<Option<u32>> {
    let file = if peer.is_ipv4() { "tcp" } else { "tcp6" };
    let mut reader = BufReader::new(std::fs::File::open(proc_net.join(file))?);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        // Bounded: a line longer than MAX_LINE is read in pieces and its pieces never match.
        let n = std::io::Read::take(&mut reader, MAX_LINE as u64).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(uid) = std::str::from_utf8(&line).ok().and_then(|l| row_uid(l, peer, local)) {
            return Ok(Some(uid));
        }
    }
}

/// The uid of one table row if it is the socket `local_address == peer`, `rem_address == local`.
fn row_uid(row: &str, peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    let mut fields = row.split_whitespace();
    let _slot = fields.next()?;
    let here = parse_addr(fields.next()?)?;
    let there = parse_addr(fields.next()?)?;
    if here != peer || there != local {
        return None;
    }
    // st, tx_queue:rx_queue, tr:tm->when, retrnsmt, then uid.
    fields.nth(4)?.parse().ok()
}

/// `0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6).
fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| ip.get(i * 8..i * 8 + 8).and_then(|w| u32::from_str_radix(w, 16).ok()).map(u32::to_ne_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex4(ip: Ipv4Addr) -> String {
        format!("{:08X}", u32::from_ne_bytes(ip.octets()))
    }

    #[test]
    fn finds_the_peer_row_and_its_uid() {
        let dir = tempfile::tempdir().expect("dir");
        let lo = Ipv4Addr::LOCALHOST;
        let (egress, broker) = (SocketAddr::from((lo, 19876)), SocketAddr::from((lo, 40000)));
        let l = hex4(lo);
        let table = format!(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
             0: {l}:4DA4 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n\
             1: {l}:4DA4 {l}:9C40 01 00000000:00000000 00:00000000 00000000   998        0 2 1\n\
             2: {l}:9C40 {l}:4DA4 01 00000000:00000000 00:00000000 00000000  1001        0 3 1\n"
        );
        std::fs::write(dir.path().join("tcp"), table).expect("write");
        // The broker's side of the connection (not the egress's accepted socket, owned by 998).
        assert_eq!(peer_uid(dir.path(), broker, egress).expect("read"), Some(1001));
        assert_eq!(peer_uid(dir.path(), SocketAddr::from((lo, 40001)), egress).expect("read"), None);
        let v6 = "  sl  local_address remote_address st tx_queue rx_queue tr tm->when retrnsmt uid\n   0: \
                  00000000000000000000000001000000:9C40 00000000000000000000000001000000:4DA4 01 00000000:00000000 \
                  00:00000000 00000000  1002 0 4 1\n";
        std::fs::write(dir.path().join("tcp6"), v6).expect("write");
        let ip6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let found = peer_uid(dir.path(), SocketAddr::new(ip6, 40000), SocketAddr::new(ip6, 19876)).expect("read");
        assert_eq!(found, Some(1002), "[::1] as the kernel prints it on a little-endian host");
        // Garbage and over-long lines are skipped, not misread.
        std::fs::write(dir.path().join("tcp"), format!("{}\nnot a row\n0: zz:zz\n", "x".repeat(5000))).expect("w");
        assert_eq!(peer_uid(dir.path(), broker, egress).expect("read"), None);
        assert!(peer_uid(Path::new("/nonexistent"), broker, egress).is_err());
    }

    #[test]
    fn our_own_connection_in_the_real_table() {
        // A real loopback connection made by this process: its uid is ours.
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let local = l.local_addr().expect("addr");
        let c = std::net::TcpStream::connect(local).expect("connect");
        let peer = c.local_addr().expect("addr");
        let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").expect("proc"));
        assert_eq!(peer_uid(Path::new("/proc/net"), peer, local).expect("read"), Some(uid));
    }
}
