//! `sockstat`: socket counts from /proc/net/sockstat (`node_sockstat_*`).

use std::collections::BTreeMap;

use rmq_runtime::metrics::Family;

use super::HostSampler;

/// (`Proto_field` key, family name, help).
const EXPORTED: &[(&str, &str, &str)] = &[
    ("sockets_used", "node_sockstat_sockets_used", "Number of IPv4 sockets in use."),
    ("TCP_inuse", "node_sockstat_TCP_inuse", "Number of TCP sockets in state inuse."),
    ("TCP_orphan", "node_sockstat_TCP_orphan", "Number of TCP sockets in state orphan."),
    ("TCP_tw", "node_sockstat_TCP_tw", "Number of TCP sockets in state tw."),
    ("TCP_alloc", "node_sockstat_TCP_alloc", "Number of TCP sockets in state alloc."),
];

/// `TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1` → `TCP_inuse` … and `sockets: used N` →
/// `sockets_used`.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((proto, rest)) = line.split_once(':') else { continue };
        let f: Vec<&str> = rest.split_ascii_whitespace().collect();
        for kv in f.chunks(2) {
            if let [k, v] = kv
                && let Ok(v) = v.parse::<f64>()
            {
                out.insert(format!("{proto}_{k}"), v);
            }
        }
    }
    out
}

pub(super) fn collect(host: &HostSampler, out: &mut Vec<Family>) {
    let Some(text) = host.read("net/sockstat") else { return };
    let s = parse(&text);
    for (key, name, help) in EXPORTED {
        if let Some(v) = s.get(*key) {
            out.push(Family::gauge(name, help).with(Vec::new(), *v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_pairs() {
        let s = parse("sockets: used 10\nTCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1\n");
        assert_eq!((s["sockets_used"], s["TCP_tw"], s["TCP_mem"]), (10.0, 2.0, 1.0));
    }
}
