//! `netstat`: TCP counters from /proc/net/snmp and /proc/net/netstat
//! (`node_netstat_Tcp_*`, `node_netstat_TcpExt_*`), the subset a broker host needs.

use std::collections::BTreeMap;

use rmq_runtime::metrics::Family;

use super::HostSampler;

/// (`Proto_Name` key, family name, help).
const EXPORTED: &[(&str, &str, &str)] = &[
    ("Tcp_CurrEstab", "node_netstat_Tcp_CurrEstab", "Statistic TcpCurrEstab."),
    ("Tcp_ActiveOpens", "node_netstat_Tcp_ActiveOpens", "Statistic TcpActiveOpens."),
    ("Tcp_PassiveOpens", "node_netstat_Tcp_PassiveOpens", "Statistic TcpPassiveOpens."),
    ("Tcp_RetransSegs", "node_netstat_Tcp_RetransSegs", "Statistic TcpRetransSegs."),
    ("Tcp_InErrs", "node_netstat_Tcp_InErrs", "Statistic TcpInErrs."),
    ("TcpExt_ListenOverflows", "node_netstat_TcpExt_ListenOverflows", "Statistic TcpExtListenOverflows."),
    ("TcpExt_ListenDrops", "node_netstat_TcpExt_ListenDrops", "Statistic TcpExtListenDrops."),
];

/// /proc/net/snmp or /proc/net/netstat: `Proto: names…` then `Proto: values…`, as
/// `Proto_Name` → value.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        let (Some((proto, names)), Some((_, values))) = (names.split_once(':'), values.split_once(':')) else {
            continue;
        };
        for (n, v) in names.split_ascii_whitespace().zip(values.split_ascii_whitespace()) {
            if let Ok(v) = v.parse::<f64>() {
                out.insert(format!("{proto}_{n}"), v);
            }
        }
    }
    out
}

pub(super) fn collect(host: &HostSampler, out: &mut Vec<Family>) {
    let mut stats = BTreeMap::new();
    for f in ["net/snmp", "net/netstat"] {
        if let Some(t) = host.read(f) {
            stats.extend(parse(&t));
        }
    }
    for (key, name, help) in EXPORTED {
        if let Some(v) = stats.get(*key) {
            out.push(Family::gauge(name, help).with(Vec::new(), *v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_line_then_value_line() {
        let s = parse("Tcp: RtoAlgorithm CurrEstab\nTcp: 1 7\nUdp: InDatagrams\nUdp: 3\n");
        assert_eq!(s["Tcp_CurrEstab"], 7.0);
        assert_eq!(s["Udp_InDatagrams"], 3.0);
        let e = parse("TcpExt: SyncookiesSent ListenOverflows\nTcpExt: 0 4\n");
        assert_eq!(e["TcpExt_ListenOverflows"], 4.0);
    }
}
