//! Host metrics under node_exporter's names and units, read natively from /proc and statvfs,
//! one collector per file as node_exporter lays them out; plus the agent's own process metrics.
//!
//! To add a collector for X: write `x.rs` here with a `//!` line naming the /proc file it
//! reads and the families it makes, a pure parser of that file's text (unit-tested on a
//! sample of the text), and `pub(super) fn collect(host: &HostSampler, out: &mut Vec<Family>)`
//! that reads the file with `HostSampler::read` (relative to the configured /proc root),
//! leaves its families out when the file cannot be read, and pushes families named and
//! scaled as node_exporter's collector of the same name does (check with a real
//! node_exporter: agent/tests/exposition.rs compares the two). Then add `mod x;` and a
//! `("x", x::collect)` line to `COLLECTORS` below; nothing else changes.

mod cpu;
mod diskstats;
mod filefd;
mod filesystem;
mod loadavg;
mod meminfo;
mod netdev;
mod netstat;
mod process;
mod sockstat;
mod stat;
mod tcpstat;
mod time;

use std::path::PathBuf;

use crate::config::HostConfig;
use rmq_runtime::metrics::{Family, Labels};

pub use process::process_families;

/// A collector: reads its files through the sampler and appends its families.
type Collect = fn(&HostSampler, &mut Vec<Family>);

/// Every host collector, by node_exporter's collector name, in exposition order.
const COLLECTORS: &[(&str, Collect)] = &[
    ("cpu", cpu::collect),
    ("stat", stat::collect),
    ("meminfo", meminfo::collect),
    ("loadavg", loadavg::collect),
    ("filesystem", filesystem::collect),
    ("diskstats", diskstats::collect),
    ("netdev", netdev::collect),
    ("netstat", netstat::collect),
    ("sockstat", sockstat::collect),
    ("tcpstat", tcpstat::collect),
    ("filefd", filefd::collect),
    ("time", time::collect),
];

/// Reads /proc (under `proc_root`) and statvfs into families.
#[derive(Debug, Clone)]
pub struct HostSampler {
    proc_root: PathBuf,
    exclude_fstypes: Vec<String>,
    store_dir: Option<PathBuf>,
    ticks_per_second: f64,
}

impl HostSampler {
    /// A sampler for `cfg`, reporting the filesystem of `store_dir` whatever its type.
    pub fn new(cfg: &HostConfig, store_dir: Option<PathBuf>) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let ticks_per_second = rustix::param::clock_ticks_per_second() as f64;
        Self {
            proc_root: cfg.proc_root.clone(),
            exclude_fstypes: cfg.filesystem_exclude_types.clone(),
            store_dir,
            ticks_per_second: if ticks_per_second > 0.0 { ticks_per_second } else { 100.0 },
        }
    }

    /// The text of a file under the /proc root (`"net/dev"`), or `None` if it cannot be read.
    pub(super) fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.proc_root.join(rel)).ok()
    }

    /// Runs every collector. Files that cannot be read leave their families out (containers
    /// hide some); the caller counts a sample with no CPU data as a failure.
    pub fn sample(&self) -> Vec<Family> {
        let mut out = Vec::with_capacity(64);
        for (_, collect) in COLLECTORS {
            collect(self, &mut out);
        }
        out
    }

    /// The agent's own process metrics.
    pub fn process(&self) -> Vec<Family> {
        let boot = self.read("stat").and_then(|t| stat::parse(&t).boot_time);
        #[allow(clippy::cast_precision_loss)]
        process_families(&self.proc_root, self.ticks_per_second, boot.map(|b| b as f64))
    }
}

/// Labels from static names and borrowed values.
fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_machine() {
        let s = HostSampler::new(&HostConfig::default(), Some(std::env::temp_dir()));
        let fams = s.sample();
        let names: Vec<String> = fams.iter().filter(|f| !f.samples.is_empty()).map(Family::exposed_name).collect();
        for want in [
            "node_cpu_seconds_total",
            "node_memory_MemTotal_bytes",
            "node_memory_MemAvailable_bytes",
            "node_load1",
            "node_filesystem_size_bytes",
            "node_context_switches_total",
            "node_boot_time_seconds",
            "node_filefd_allocated",
            "node_tcp_connection_states",
            "rmq_agent_store_filesystem_info",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
        }
        let proc_names: Vec<String> = s.process().iter().map(Family::exposed_name).collect();
        assert!(proc_names.contains(&"process_resident_memory_bytes".to_owned()), "{proc_names:?}");
        assert!(proc_names.contains(&"process_cpu_seconds_total".to_owned()));
    }

    #[test]
    fn missing_proc_root_yields_no_host_families() {
        let cfg = HostConfig { proc_root: PathBuf::from("/nonexistent-proc"), ..HostConfig::default() };
        let fams = HostSampler::new(&cfg, None).sample();
        // Only the clock is left.
        assert_eq!(fams.iter().map(Family::exposed_name).collect::<Vec<_>>(), vec!["node_time_seconds"]);
    }

    #[test]
    fn collector_names_are_unique() {
        let mut names: Vec<&str> = COLLECTORS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COLLECTORS.len());
    }
}
