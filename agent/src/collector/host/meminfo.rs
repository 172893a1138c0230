//! `meminfo`: every field of /proc/meminfo as `node_memory_<field>[_bytes]`.

use prometheus_client::registry::Unit;
use rmq_runtime::metrics::Family;

use super::HostSampler;

/// /proc/meminfo as (node_exporter field name, bytes or count, has unit bytes).
fn parse(text: &str) -> Vec<(String, f64, bool)> {
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let mut parts = rest.split_ascii_whitespace();
            let v: f64 = parts.next()?.parse().ok()?;
            let kb = parts.next() == Some("kB");
            // node_exporter: "Active(anon)" -> "Active_anon".
            let name: String = name.trim().replace('(', "_").replace(')', "");
            Some(if kb { (name, v * 1024.0, true) } else { (name, v, false) })
        })
        .collect()
}

pub(super) fn collect(host: &HostSampler, out: &mut Vec<Family>) {
    let Some(text) = host.read("meminfo") else { return };
    for (name, v, bytes) in parse(&text) {
        out.push(family(&name, bytes).with(Vec::new(), v));
    }
}

/// Memory families are named after /proc/meminfo's fields, known only at runtime; names
/// are interned once per distinct field so families can keep `&'static str` names.
fn family(field: &str, bytes: bool) -> Family {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let base = format!("node_memory_{field}");
    let name = {
        let mut map = match NAMES.get_or_init(Default::default).lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        // Bounded: /proc/meminfo has a fixed set of fields (about 50).
        *map.entry(base.clone()).or_insert_with(|| Box::leak(base.into_boxed_str()))
    };
    let f = Family::gauge(name, "Memory information field from /proc/meminfo.");
    if bytes { f.with_unit(Unit::Bytes) } else { f }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_units() {
        let m = parse("MemTotal:       16384 kB\nActive(anon):   10 kB\nHugePages_Total:       0\n");
        assert_eq!(m[0], ("MemTotal".into(), 16384.0 * 1024.0, true));
        assert_eq!(m[1].0, "Active_anon");
        assert_eq!(m[2], ("HugePages_Total".into(), 0.0, false));
        assert_eq!(family("Active_anon", true).exposed_name(), "node_memory_Active_anon_bytes");
        assert_eq!(family("HugePages_Total", false).exposed_name(), "node_memory_HugePages_Total");
    }
}
