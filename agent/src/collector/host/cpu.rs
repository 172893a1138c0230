//! `cpu`: seconds each CPU spent in each mode, from the `cpuN` lines of /proc/stat
//! (`node_cpu_seconds_total`, `node_cpu_guest_seconds_total`).

use prometheus_client::registry::Unit;
use rmq_runtime::metrics::Family;

use super::{HostSampler, labels};

/// The modes of a `cpuN` line, in column order (guest and guest_nice follow).
const MODES: [&str; 8] = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];

/// CPU time per mode, in ticks, for one `cpuN` line of /proc/stat.
#[derive(Debug, Clone, PartialEq, Default)]
struct CpuTicks {
    cpu: String,
    /// user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice
    ticks: [u64; 10],
}

/// The per-CPU lines of /proc/stat. The aggregate `cpu` line is not exported (node_exporter
/// neither).
fn parse(text: &str) -> Vec<CpuTicks> {
    let mut cpus = Vec::new();
    for line in text.lines() {
        let mut it = line.split_ascii_whitespace();
        let Some(key) = it.next() else { continue };
        if let Some(cpu) = key.strip_prefix("cpu").filter(|n| !n.is_empty()) {
            let mut ticks = [0u64; 10];
            for (slot, v) in ticks.iter_mut().zip(it) {
                *slot = v.parse().unwrap_or(0);
            }
            cpus.push(CpuTicks { cpu: cpu.to_owned(), ticks });
        }
    }
    cpus
}

pub(super) fn collect(host: &HostSampler, out: &mut Vec<Family>) {
    let Some(text) = host.read("stat") else { return };
    let tps = host.ticks_per_second;
    #[allow(clippy::cast_precision_loss)]
    let secs = |t: u64| t as f64 / tps;
    let mut cpu = Family::counter("node_cpu", "Seconds the CPUs spent in each mode.").with_unit(Unit::Seconds);
    let mut guest = Family::counter("node_cpu_guest", "Seconds the CPUs spent in guests (VMs) for each mode.")
        .with_unit(Unit::Seconds);
    for c in parse(&text) {
        for (i, mode) in MODES.iter().enumerate() {
            cpu.push(labels(&[("cpu", &c.cpu), ("mode", mode)]), secs(c.ticks[i]));
        }
        guest.push(labels(&[("cpu", &c.cpu), ("mode", "user")]), secs(c.ticks[8]));
        guest.push(labels(&[("cpu", &c.cpu), ("mode", "nice")]), secs(c.ticks[9]));
    }
    out.push(cpu);
    out.push(guest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_cpu_lines_only() {
        let cpus = parse(
            "cpu  10 0 5 100 1 0 0 0 0 0\ncpu0 4 1 2 50 1 0 3 0 2 0\ncpu1 6 0 3 50 0 0 0 1 0 0\n\
             intr 12345 0 1\nctxt 999\nbtime 1700000000\n",
        );
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[0].cpu, "0");
        assert_eq!(cpus[0].ticks[6], 3);
        assert_eq!(cpus[0].ticks[8], 2);
        assert_eq!(cpus[1].ticks, [6, 0, 3, 50, 0, 0, 0, 1, 0, 0]);
    }
}
