//! The keys every listening table has, in the admin guard (`[[guard.listeners]]`) and the HA
//! guard (`[[accept]]`, `[[connect]]`): a name for logs and metrics, and the address to bind.
//! Such tables flatten [`ListenerConfig`] in and check their addresses with [`Listens`].

use std::net::SocketAddr;

use serde::Deserialize;

use super::Problems;
use super::addr::socket;

/// `name` and `listen`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Metric label and log field; each table says what stands in when it is empty.
    #[serde(default)]
    pub name: String,
    /// `IP:port` to bind.
    #[serde(deserialize_with = "socket")]
    pub listen: SocketAddr,
}

impl ListenerConfig {
    /// A listener named `name` on `listen`.
    pub fn new(name: impl Into<String>, listen: SocketAddr) -> Self {
        Self { name: name.into(), listen }
    }

    /// The name, or `fallback` when none is set.
    pub fn name_or<'a>(&'a self, fallback: &'a str) -> &'a str {
        if self.name.is_empty() { fallback } else { &self.name }
    }
}

/// The addresses of a process's listening tables, so that one bound twice is reported at
/// the second (the bind would fail at start otherwise).
#[derive(Debug, Default)]
pub struct Listens(Vec<SocketAddr>);

impl Listens {
    /// Records `l`, the listener of the table at `at`.
    pub fn check(&mut self, at: &str, l: &ListenerConfig, p: &mut Problems) {
        if l.listen.port() != 0 && self.0.contains(&l.listen) {
            p.at(at, "listen", format!("{} is used twice", l.listen));
        }
        self.0.push(l.listen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_bound_twice_is_reported_at_the_second() {
        let a = ListenerConfig::new("a", "127.0.0.1:1".parse().unwrap());
        let any = ListenerConfig::new("", "127.0.0.1:0".parse().unwrap());
        let mut seen = Listens::default();
        let mut p = Problems::default();
        for (i, l) in [&a, &any, &any, &a].into_iter().enumerate() {
            seen.check(&format!("l[{i}]"), l, &mut p);
        }
        let got: Vec<String> = p.list().iter().map(ToString::to_string).collect();
        assert_eq!(got, ["l[3].listen: 127.0.0.1:1 is used twice"]);
        assert_eq!((a.name_or("x"), any.name_or("x")), ("a", "x"));
    }
}
