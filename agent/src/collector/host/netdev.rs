//! `netdev`: per-interface receive and transmit counters from /proc/net/dev (loopback left
//! out, as node_exporter's netlink reader does).

use prometheus_client::registry::Unit;
use rmq_runtime::metrics::Family;

use super::{HostSampler, labels};

/// /proc/net/dev columns: receive bytes packets errs drop fifo frame compressed multicast,
/// then transmit bytes packets errs drop fifo colls carrier compressed. Exported: (column,
/// name, help, counts bytes).
const COLUMNS: [(usize, &str, &str, bool); 8] = [
    (0, "node_network_receive", "Network device statistic receive_bytes.", true),
    (1, "node_network_receive_packets", "Network device statistic receive_packets.", false),
    (2, "node_network_receive_errs", "Network device statistic receive_errs.", false),
    (3, "node_network_receive_drop", "Network device statistic receive_drop.", false),
    (8, "node_network_transmit", "Network device statistic transmit_bytes.", true),
    (9, "node_network_transmit_packets", "Network device statistic transmit_packets.", false),
    (10, "node_network_transmit_errs", "Network device statistic transmit_errs.", false),
    (11, "node_network_transmit_drop", "Network device statistic transmit_drop.", false),
];

/// One line per device after the two header lines: the device and its 16 counters.
fn parse(text: &str) -> Vec<(String, [u64; 16])> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (dev, rest) = line.split_once(':')?;
            let mut v = [0u64; 16];
            for (slot, x) in v.iter_mut().zip(rest.split_ascii_whitespace()) {
                *slot = x.parse().unwrap_or(0);
            }
            Some((dev.trim().to_owned(), v))
        })
        .collect()
}

pub(super) fn collect(host: &HostSampler, out: &mut Vec<Family>) {
    let Some(text) = host.read("net/dev") else { return };
    let devs = parse(&text);
    for (col, name, help, bytes) in COLUMNS {
        let mut fam = Family::counter(name, help);
        if bytes {
            fam = fam.with_unit(Unit::Bytes);
        }
        for (dev, v) in devs.iter().filter(|(d, _)| d != "lo") {
            #[allow(clippy::cast_precision_loss)]
            fam.push(labels(&[("device", dev)]), v[col] as f64);
        }
        out.push(fam);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_columns() {
        let text = "Inter-|   Receive\n face |bytes\n  lo: 100 2 0 0 0 0 0 0 100 2 0 0 0 0 0 0\neth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n";
        let d = parse(text);
        assert_eq!(d[0].0, "lo");
        assert_eq!(d[1].0, "eth0");
        assert_eq!(d[1].1[8], 9);
        assert_eq!(d[1].1[15], 16);
    }
}
