//! `stat`: the kernel counters of /proc/stat besides CPU time (boot time, context switches,
//! interrupts, forks, runnable and blocked processes).

use prometheus_client::registry::Unit;
use rmq_runtime::metrics::Family;

use super::HostSampler;

/// What /proc/stat holds besides the `cpu` lines.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Stat {
    pub(super) boot_time: Option<u64>,
    context_switches: Option<u64>,
    interrupts: Option<u64>,
    forks: Option<u64>,
    procs_running: Option<u64>,
    procs_blocked: Option<u64>,
}

pub(super) fn parse(text: &str) -> Stat {
    let mut s = Stat::default();
    for line in text.lines() {
        let mut it = line.split_ascii_whitespace();
        let Some(key) = it.next() else { continue };
        let slot = match key {
            "btime" => &mut s.boot_time,
            "ctxt" => &mut s.context_switches,
            // The first number is the total; per-interrupt counts follow.
            "intr" => &mut s.interrupts,
            "processes" => &mut s.forks,
            "procs_running" => &mut s.procs_running,
            "procs_blocked" => &mut s.procs_blocked,
            _ => continue,
        };
        *slot = it.next().and_then(|v| v.parse().ok());
    }
    s
}

pub(super) fn collect(host: &HostSampler, out: &mut Vec<Family>) {
    let Some(text) = host.read("stat") else { return };
    let s = parse(&text);
    #[allow(clippy::cast_precision_loss)]
    let f = |v: Option<u64>| v.map(|x| x as f64);
    if let Some(v) = f(s.boot_time) {
        out.push(
            Family::gauge("node_boot_time", "Node boot time, in unixtime.")
                .with_unit(Unit::Seconds)
                .with(Vec::new(), v),
        );
    }
    if let Some(v) = f(s.context_switches) {
        out.push(Family::counter("node_context_switches", "Total number of context switches.").with(Vec::new(), v));
    }
    if let Some(v) = f(s.interrupts) {
        out.push(Family::counter("node_intr", "Total number of interrupts serviced.").with(Vec::new(), v));
    }
    if let Some(v) = f(s.forks) {
        out.push(Family::counter("node_forks", "Total number of forks.").with(Vec::new(), v));
    }
    if let Some(v) = f(s.procs_running) {
        out.push(Family::gauge("node_procs_running", "Number of processes in runnable state.").with(Vec::new(), v));
    }
    if let Some(v) = f(s.procs_blocked) {
        out.push(
            Family::gauge("node_procs_blocked", "Number of processes blocked waiting for I/O to complete.")
                .with(Vec::new(), v),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters() {
        let s = parse(
            "cpu  10 0 5 100 1 0 0 0 0 0\ncpu0 4 1 2 50 1 0 3 0 2 0\n\
             intr 12345 0 1\nctxt 999\nbtime 1700000000\nprocesses 42\nprocs_running 3\nprocs_blocked 1\n",
        );
        assert_eq!((s.boot_time, s.context_switches, s.interrupts), (Some(1_700_000_000), Some(999), Some(12345)));
        assert_eq!((s.forks, s.procs_running, s.procs_blocked), (Some(42), Some(3), Some(1)));
        assert_eq!(parse("ctxt x\n").context_switches, None);
    }
}
