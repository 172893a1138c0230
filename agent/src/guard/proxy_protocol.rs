//! The PROXY protocol header (version 2, binary) the guard can write at the start of each
//! broker connection, so a broker that reads it records the client's address instead of the
//! guard's. Only the encoder lives here: the guard never reads a PROXY header from a client
//! (one a client sends is refused like any other oversized frame length).
//!
//! Layout (HAProxy's PROXY protocol specification, section 2.2), all integers big-endian:
//!
//! ```text
//!  0                  12        13        14          16
//!  +------------------+---------+---------+-----------+------------------------------+
//!  | signature (12)   | ver/cmd | fam/prot| length u16| addresses (12 or 36 bytes)   |
//!  +------------------+---------+---------+-----------+------------------------------+
//!   signature = 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A
//!   ver/cmd   = 0x21 (version 2, command PROXY)
//!   fam/prot  = 0x11 (TCP over IPv4) or 0x21 (TCP over IPv6)
//!   addresses = source address, destination address, source port, destination port
//! ```

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

/// `[[guard.listeners]] proxy_protocol`: what the guard writes first on each broker connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyProtocol {
    /// Nothing: the broker sees the guard's address (the default; brokers before 5.1.4 close
    /// a connection that starts with a PROXY header).
    #[default]
    Off,
    /// A PROXY protocol version 2 header carrying the client's address and the address it
    /// connected to.
    V2,
}

/// The 12 bytes every version 2 header starts with.
pub const SIGNATURE: [u8; 12] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

/// Version 2, command PROXY.
const VERSION_PROXY: u8 = 0x21;
/// TCP over IPv4.
const TCP4: u8 = 0x11;
/// TCP over IPv6.
const TCP6: u8 = 0x21;

/// Largest header this encoder writes (TCP over IPv6, no TLVs).
pub const MAX_LEN: usize = 16 + 36;

/// One encoded header: 28 bytes for IPv4, 52 for IPv6.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Header {
    bytes: [u8; MAX_LEN],
    len: usize,
}

impl Header {
    /// The header's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "proxy_protocol::Header({:02x?})", self.as_bytes())
    }
}

/// The v2 header for a TCP connection from `source` (the client) to `destination` (the
/// address the client connected to: the guard's side of the client's socket).
///
/// Both addresses of one socket have the same family. An IPv4 client on an IPv6 (dual-stack)
/// listener appears as an IPv4-mapped address; such a pair is sent as TCP over IPv4, so the
/// broker records `10.0.0.5`, not `::ffff:10.0.0.5`.
pub fn v2(source: SocketAddr, destination: SocketAddr) -> Header {
    let mut bytes = [0u8; MAX_LEN];
    bytes[..12].copy_from_slice(&SIGNATURE);
    bytes[12] = VERSION_PROXY;
    let (src, dst) = (unmap(source.ip()), unmap(destination.ip()));
    let addresses = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            bytes[13] = TCP4;
            bytes[16..20].copy_from_slice(&s.octets());
            bytes[20..24].copy_from_slice(&d.octets());
            8
        }
        (s, d) => {
            bytes[13] = TCP6;
            bytes[16..32].copy_from_slice(&to_v6(s).octets());
            bytes[32..48].copy_from_slice(&to_v6(d).octets());
            32
        }
    };
    let ports = 16 + addresses;
    bytes[ports..ports + 2].copy_from_slice(&source.port().to_be_bytes());
    bytes[ports + 2..ports + 4].copy_from_slice(&destination.port().to_be_bytes());
    let body = u16::try_from(addresses + 4).unwrap_or(u16::MAX);
    bytes[14..16].copy_from_slice(&body.to_be_bytes());
    Header { bytes, len: ports + 4 }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it stands for.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn to_v6(ip: IpAddr) -> std::net::Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    #[test]
    fn tcp4_header_matches_the_specification_layout() {
        // 192.0.2.1:56324 → 198.51.100.7:10911, written out field by field from the layout
        // in the module docs (not produced by this encoder).
        let recorded: [u8; 28] = [
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, // signature
            0x21, // version 2, PROXY
            0x11, // TCP over IPv4
            0x00, 0x0C, // 12 address bytes follow
            192, 0, 2, 1, // source address
            198, 51, 100, 7, // destination address
            0xDC, 0x04, // source port 56324
            0x2A, 0x9F, // destination port 10911
        ];
        assert_eq!(v2(addr("192.0.2.1:56324"), addr("198.51.100.7:10911")).as_bytes(), recorded);
    }

    #[test]
    fn tcp6_header_matches_the_specification_layout() {
        let mut recorded = vec![0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x21];
        recorded.extend_from_slice(&[0x00, 0x24]); // 36 address bytes follow
        recorded.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05]); // 2001:db8::5
        recorded.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01]); // 2001:db8::1
        recorded.extend_from_slice(&[0x9C, 0x40, 0x27, 0x11]); // ports 40000, 10001
        assert_eq!(v2(addr("[2001:db8::5]:40000"), addr("[2001:db8::1]:10001")).as_bytes(), recorded.as_slice());
    }

    #[test]
    fn ipv4_mapped_pairs_are_sent_as_tcp4() {
        let mapped = v2(addr("[::ffff:10.0.0.5]:40000"), addr("[::ffff:10.0.0.1]:10911"));
        assert_eq!(mapped, v2(addr("10.0.0.5:40000"), addr("10.0.0.1:10911")));
        assert_eq!(mapped.as_bytes().len(), 28);
        // A mapped address beside a real IPv6 one (not produced by one socket) stays IPv6.
        let mixed = v2(addr("[::ffff:10.0.0.5]:40000"), addr("[2001:db8::1]:10911"));
        assert_eq!(&mixed.as_bytes()[13..16], &[0x21, 0x00, 0x24]);
        assert_eq!(&mixed.as_bytes()[16..32], &"::ffff:10.0.0.5".parse::<std::net::Ipv6Addr>().unwrap().octets());
    }

    #[test]
    fn the_setting_reads_off_and_v2_only() {
        #[derive(Deserialize)]
        struct T {
            p: ProxyProtocol,
        }
        let p = |s: &str| toml::from_str::<T>(&format!("p = \"{s}\"")).map(|t| t.p);
        assert_eq!(p("off").unwrap(), ProxyProtocol::Off);
        assert_eq!(p("v2").unwrap(), ProxyProtocol::V2);
        for bad in ["v1", "V2", "on", ""] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert_eq!(ProxyProtocol::default(), ProxyProtocol::Off);
    }
}
