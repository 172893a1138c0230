//! `[http]`: where `/metrics` and `/healthz` are served, and the endpoint's limits. The
//! keys are the same in both daemons; the default address is each binary's own (`L`).

use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::Problems;
use super::addr::socket;
use super::duration::secs;

/// The address a binary serves on when `[http] listen` is not set.
pub trait DefaultListen {
    /// That address.
    const LISTEN: SocketAddr;
}

/// `[http]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, bound = "")]
pub struct HttpConfig<L: DefaultListen> {
    /// `IP:port` to serve on.
    #[serde(deserialize_with = "socket")]
    pub listen: SocketAddr,
    /// Connections served at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// A request head must arrive whole within this of the connection opening (or of the
    /// previous response), and a blocked response write must make progress within it;
    /// otherwise the connection is closed. Key: `header_timeout_seconds`.
    #[serde(rename = "header_timeout_seconds", deserialize_with = "secs")]
    pub header_timeout: Duration,
    #[serde(skip)]
    default_listen: PhantomData<fn() -> L>,
}

impl<L: DefaultListen> Default for HttpConfig<L> {
    fn default() -> Self {
        Self {
            listen: L::LISTEN,
            max_connections: 64,
            header_timeout: Duration::from_secs(10),
            default_listen: PhantomData,
        }
    }
}

impl<L: DefaultListen> HttpConfig<L> {
    /// Problems with the section at `at` (normally `http`).
    pub fn check(&self, at: &str, p: &mut Problems) {
        p.nonzero(at, "max_connections", self.max_connections);
        p.nonzero(at, "header_timeout_seconds", self.header_timeout);
    }
}

impl<L: DefaultListen> fmt::Debug for HttpConfig<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConfig")
            .field("listen", &self.listen)
            .field("max_connections", &self.max_connections)
            .field("header_timeout", &self.header_timeout)
            .finish()
    }
}

impl<L: DefaultListen> Clone for HttpConfig<L> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<L: DefaultListen> Copy for HttpConfig<L> {}

impl<L: DefaultListen> PartialEq for HttpConfig<L> {
    fn eq(&self, o: &Self) -> bool {
        (self.listen, self.max_connections, self.header_timeout) == (o.listen, o.max_connections, o.header_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    struct Here;
    impl DefaultListen for Here {
        const LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1234);
    }

    #[derive(Debug, Deserialize)]
    struct Doc {
        #[serde(default)]
        http: HttpConfig<Here>,
    }

    #[test]
    fn a_table_that_sets_only_a_limit_keeps_the_binarys_address() {
        let d: Doc = toml::from_str("[http]\nmax_connections = 8\n").unwrap();
        assert_eq!((d.http.listen, d.http.max_connections), (Here::LISTEN, 8));
        let d: Doc = toml::from_str("").unwrap();
        assert_eq!(d.http, HttpConfig::default());
    }

    #[test]
    fn limits_must_be_positive() {
        let d: Doc = toml::from_str("[http]\nmax_connections = 0\nheader_timeout_seconds = 0\n").unwrap();
        let mut p = Problems::default();
        d.http.check("http", &mut p);
        let paths: Vec<&str> = p.list().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["http.max_connections", "http.header_timeout_seconds"]);
    }
}
