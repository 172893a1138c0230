//! `tcpstat`: TCP connections by state, counted from /proc/net/tcp and /proc/net/tcp6
//! (`node_tcp_connection_states`).

use rmq_runtime::metrics::Family;

use super::{HostSampler, labels};

/// The states, in the kernel's numbering (1..=12), by node_exporter's names.
const STATES: [&str; 12] = [
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
    "new_syn_recv",
];

/// Counts /proc/net/tcp{,6} lines by state (column `st`, hex 01..0C).
fn count_states(text: &str, counts: &mut [u64; 12]) {
    for line in text.lines().skip(1) {
        let Some(st) = line.split_ascii_whitespace().nth(3) else { continue };
        if let Ok(n) = u8::from_str_radix(st, 16)
            && (1..=12).contains(&n)
        {
            counts[usize::from(n - 1)] += 1;
        }
    }
}

pub(super) fn collect(host: &HostSampler, out: &mut Vec<Family>) {
    let mut counts = [0u64; 12];
    let mut any = false;
    for f in ["net/tcp", "net/tcp6"] {
        if let Some(t) = host.read(f) {
            count_states(&t, &mut counts);
            any = true;
        }
    }
    if any {
        let mut fam = Family::gauge("node_tcp_connection_states", "Number of connection states.");
        for (state, n) in STATES.iter().zip(counts) {
            #[allow(clippy::cast_precision_loss)]
            fam.push(labels(&[("state", state)]), n as f64);
        }
        out.push(fam);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_state_column() {
        let mut counts = [0u64; 12];
        count_states(
            "  sl  local_address rem_address   st\n   0: 0100007F:2A6B 00000000:0000 0A 0\n   1: 0100007F:2A6B 0100007F:9C40 01 0\n   2: 0100007F:2A6B 0100007F:9C41 0D 0\n",
            &mut counts,
        );
        assert_eq!((counts[9], counts[0]), (1, 1));
        assert_eq!(counts.iter().sum::<u64>(), 2, "state 0x0D is not a TCP state");
    }
}
