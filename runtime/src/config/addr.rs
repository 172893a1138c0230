//! Address values: `host:port` for what a daemon dials ([`HostPort`]) and `IP:port` for what
//! it binds ([`socket`]), checked when the file is read.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// `host:port` with a non-empty host (a name or an IP) and a port in 1..=65535.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct HostPort(String);

/// Why a text is not `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not host:port (a host, then a port 1-65535)")]
pub struct NotHostPort(String);

impl HostPort {
    /// The text, as dialled.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host part, without IPv6 brackets.
    pub fn host(&self) -> &str {
        self.0.rsplit_once(':').map_or(self.0.as_str(), |(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
    }
}

impl TryFrom<String> for HostPort {
    type Error = NotHostPort;

    fn try_from(s: String) -> Result<Self, NotHostPort> {
        let ok = match s.rsplit_once(':') {
            Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
            None => false,
        };
        if ok { Ok(Self(s)) } else { Err(NotHostPort(s)) }
    }
}

impl FromStr for HostPort {
    type Err = NotHostPort;

    fn from_str(s: &str) -> Result<Self, NotHostPort> {
        Self::try_from(s.to_owned())
    }
}

impl From<SocketAddr> for HostPort {
    fn from(a: SocketAddr) -> Self {
        Self(a.to_string())
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads an `IP:port` address to bind, saying which text was refused (serde's own message
/// does not, which matters in tables read through `#[serde(flatten)]`).
pub fn socket<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(|_| serde::de::Error::custom(format!("{s:?} is not an IP:port address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_needs_a_host_and_a_real_port() {
        for ok in ["127.0.0.1:10911", "broker-a.example:10911", "[::1]:9876"] {
            assert_eq!(ok.parse::<HostPort>().unwrap().as_str(), ok);
        }
        for bad in ["", "no-port", ":9876", "h:0", "h:65536", "h:x"] {
            assert!(bad.parse::<HostPort>().is_err(), "{bad}");
        }
        assert_eq!("[::1]:9876".parse::<HostPort>().unwrap().host(), "::1");
    }
}
