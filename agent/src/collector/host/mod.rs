//! Host metrics under node_exporter's names and units, read natively from /proc and
//! statvfs: CPU, memory, load, filesystems (the broker store's always included), disk I/O,
//! network, TCP, file descriptors, boot time; plus the agent's own process metrics.

mod procfs;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::registry::Unit;

use crate::config::HostConfig;
use procfs as pf;
use rmq_runtime::metrics::{Family, Labels};

/// Reads /proc (under `proc_root`) and statvfs into families.
#[derive(Debug, Clone)]
pub struct HostSampler {
    proc_root: PathBuf,
    exclude_fstypes: Vec<String>,
    store_dir: Option<PathBuf>,
    ticks_per_second: f64,
}

const CPU_MODES: [&str; 8] = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];

fn l(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

/// node_exporter's default mount-point exclusion.
fn mountpoint_ignored(m: &str) -> bool {
    let under = |p: &str| m == p || m.strip_prefix(p).is_some_and(|r| r.starts_with('/'));
    under("/dev")
        || under("/proc")
        || under("/sys")
        || m.starts_with("/run/credentials/")
        || m.starts_with("/var/lib/docker/")
        || m.starts_with("/var/lib/containers/storage/")
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

    fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.proc_root.join(rel)).ok()
    }

    /// Samples everything. Files that cannot be read leave their families out (containers
    /// hide some); the caller counts a sample with no CPU data as a failure.
    pub fn sample(&self) -> Vec<Family> {
        let mut out = Vec::with_capacity(64);
        if let Some(text) = self.read("stat") {
            self.stat(&pf::parse_stat(&text), &mut out);
        }
        if let Some(text) = self.read("meminfo") {
            for (name, v, bytes) in pf::parse_meminfo(&text) {
                // Names are built at runtime; leak-free static names are not possible, so
                // memory families use a small interning table (see `meminfo_family`).
                out.push(meminfo_family(&name, bytes).with(Vec::new(), v));
            }
        }
        if let Some([a, b, c]) = self.read("loadavg").as_deref().and_then(pf::parse_loadavg) {
            out.push(Family::gauge("node_load1", "1m load average.").with(Vec::new(), a));
            out.push(Family::gauge("node_load5", "5m load average.").with(Vec::new(), b));
            out.push(Family::gauge("node_load15", "15m load average.").with(Vec::new(), c));
        }
        self.filesystems(&mut out);
        if let Some(text) = self.read("diskstats") {
            disks(&pf::parse_diskstats(&text), &mut out);
        }
        if let Some(text) = self.read("net/dev") {
            network(&pf::parse_net_dev(&text), &mut out);
        }
        self.tcp(&mut out);
        if let Some((alloc, max)) = self.read("sys/fs/file-nr").as_deref().and_then(pf::parse_file_nr) {
            out.push(
                Family::gauge("node_filefd_allocated", "File descriptor statistics: allocated.")
                    .with(Vec::new(), alloc),
            );
            out.push(
                Family::gauge("node_filefd_maximum", "File descriptor statistics: maximum.").with(Vec::new(), max),
            );
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        out.push(
            Family::gauge("node_time", "System time in seconds since epoch (1970).")
                .with_unit(Unit::Seconds)
                .with(Vec::new(), now),
        );
        out
    }

    fn stat(&self, s: &pf::Stat, out: &mut Vec<Family>) {
        let tps = self.ticks_per_second;
        #[allow(clippy::cast_precision_loss)]
        let secs = |t: u64| t as f64 / tps;
        let mut cpu = Family::counter("node_cpu", "Seconds the CPUs spent in each mode.").with_unit(Unit::Seconds);
        let mut guest = Family::counter("node_cpu_guest", "Seconds the CPUs spent in guests (VMs) for each mode.")
            .with_unit(Unit::Seconds);
        for c in &s.cpus {
            for (i, mode) in CPU_MODES.iter().enumerate() {
                cpu.push(l(&[("cpu", &c.cpu), ("mode", mode)]), secs(c.ticks[i]));
            }
            guest.push(l(&[("cpu", &c.cpu), ("mode", "user")]), secs(c.ticks[8]));
            guest.push(l(&[("cpu", &c.cpu), ("mode", "nice")]), secs(c.ticks[9]));
        }
        out.push(cpu);
        out.push(guest);
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

    fn filesystems(&self, out: &mut Vec<Family>) {
        let Some(text) = self.read("self/mounts").or_else(|| self.read("mounts")) else { return };
        let mounts = pf::parse_mounts(&text);
        let store_mount = self.store_dir.as_deref().and_then(|d| containing_mount(&mounts, d));
        let mut fams = [
            Family::gauge("node_filesystem_size", "Filesystem size in bytes.").with_unit(Unit::Bytes),
            Family::gauge("node_filesystem_free", "Filesystem free space in bytes.").with_unit(Unit::Bytes),
            Family::gauge("node_filesystem_avail", "Filesystem space available to non-root users in bytes.")
                .with_unit(Unit::Bytes),
            Family::gauge("node_filesystem_files", "Filesystem total file nodes."),
            Family::gauge("node_filesystem_files_free", "Filesystem total free file nodes."),
            Family::gauge("node_filesystem_readonly", "Filesystem read-only status."),
        ];
        let mut seen = std::collections::HashSet::new();
        for (i, m) in mounts.iter().enumerate() {
            let is_store = store_mount == Some(i);
            if !is_store && (self.exclude_fstypes.contains(&m.fstype) || mountpoint_ignored(&m.mountpoint)) {
                continue;
            }
            // One series per mount point (bind mounts repeat), as node_exporter does.
            if !seen.insert((m.device.clone(), m.mountpoint.clone())) {
                continue;
            }
            let Ok(st) = rustix::fs::statvfs(Path::new(&m.mountpoint)) else { continue };
            let labels = l(&[("device", &m.device), ("fstype", &m.fstype), ("mountpoint", &m.mountpoint)]);
            #[allow(clippy::cast_precision_loss)]
            let vals = [
                (st.f_blocks * st.f_bsize) as f64,
                (st.f_bfree * st.f_bsize) as f64,
                (st.f_bavail * st.f_bsize) as f64,
                st.f_files as f64,
                st.f_ffree as f64,
                if m.read_only { 1.0 } else { 0.0 },
            ];
            for (f, v) in fams.iter_mut().zip(vals) {
                f.push(labels.clone(), v);
            }
        }
        out.extend(fams);
        if let (Some(dir), Some(i)) = (&self.store_dir, store_mount) {
            let m = &mounts[i];
            out.push(
                Family::gauge("rmq_agent_store_filesystem_info", "The filesystem holding the broker store directory.")
                    .with(
                        l(&[
                            ("store_dir", &dir.display().to_string()),
                            ("device", &m.device),
                            ("mountpoint", &m.mountpoint),
                        ]),
                        1.0,
                    ),
            );
        }
    }

    fn tcp(&self, out: &mut Vec<Family>) {
        let mut netstat = std::collections::BTreeMap::new();
        for f in ["net/snmp", "net/netstat"] {
            if let Some(t) = self.read(f) {
                netstat.extend(pf::parse_netstat(&t));
            }
        }
        for (key, name, help) in NETSTAT {
            if let Some(v) = netstat.get(*key) {
                out.push(Family::gauge(name, help).with(Vec::new(), *v));
            }
        }
        if let Some(t) = self.read("net/sockstat") {
            let s = pf::parse_sockstat(&t);
            for (key, name, help) in SOCKSTAT {
                if let Some(v) = s.get(*key) {
                    out.push(Family::gauge(name, help).with(Vec::new(), *v));
                }
            }
        }
        let mut counts = [0u64; 12];
        let mut any = false;
        for f in ["net/tcp", "net/tcp6"] {
            if let Some(t) = self.read(f) {
                pf::count_tcp_states(&t, &mut counts);
                any = true;
            }
        }
        if any {
            let mut fam = Family::gauge("node_tcp_connection_states", "Number of connection states.");
            for (state, n) in pf::TCP_STATES.iter().zip(counts) {
                #[allow(clippy::cast_precision_loss)]
                fam.push(l(&[("state", state)]), n as f64);
            }
            out.push(fam);
        }
    }
}

const NETSTAT: &[(&str, &str, &str)] = &[
    ("Tcp_CurrEstab", "node_netstat_Tcp_CurrEstab", "Statistic TcpCurrEstab."),
    ("Tcp_ActiveOpens", "node_netstat_Tcp_ActiveOpens", "Statistic TcpActiveOpens."),
    ("Tcp_PassiveOpens", "node_netstat_Tcp_PassiveOpens", "Statistic TcpPassiveOpens."),
    ("Tcp_RetransSegs", "node_netstat_Tcp_RetransSegs", "Statistic TcpRetransSegs."),
    ("Tcp_InErrs", "node_netstat_Tcp_InErrs", "Statistic TcpInErrs."),
    ("TcpExt_ListenOverflows", "node_netstat_TcpExt_ListenOverflows", "Statistic TcpExtListenOverflows."),
    ("TcpExt_ListenDrops", "node_netstat_TcpExt_ListenDrops", "Statistic TcpExtListenDrops."),
];

const SOCKSTAT: &[(&str, &str, &str)] = &[
    ("sockets_used", "node_sockstat_sockets_used", "Number of IPv4 sockets in use."),
    ("TCP_inuse", "node_sockstat_TCP_inuse", "Number of TCP sockets in state inuse."),
    ("TCP_orphan", "node_sockstat_TCP_orphan", "Number of TCP sockets in state orphan."),
    ("TCP_tw", "node_sockstat_TCP_tw", "Number of TCP sockets in state tw."),
    ("TCP_alloc", "node_sockstat_TCP_alloc", "Number of TCP sockets in state alloc."),
];

/// The mount whose mount point is the longest prefix of `dir`.
fn containing_mount(mounts: &[pf::Mount], dir: &Path) -> Option<usize> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| dir.starts_with(&m.mountpoint))
        .max_by_key(|(_, m)| m.mountpoint.len())
        .map(|(i, _)| i)
}

fn disks(stats: &[pf::DiskStats], out: &mut Vec<Family>) {
    let mut f = [
        Family::counter("node_disk_reads_completed", "The total number of reads completed successfully."),
        Family::counter("node_disk_reads_merged", "The total number of reads merged."),
        Family::counter("node_disk_read", "The total number of bytes read successfully.").with_unit(Unit::Bytes),
        Family::counter("node_disk_read_time", "The total number of seconds spent by all reads.")
            .with_unit(Unit::Seconds),
        Family::counter("node_disk_writes_completed", "The total number of writes completed successfully."),
        Family::counter("node_disk_writes_merged", "The number of writes merged."),
        Family::counter("node_disk_written", "The total number of bytes written successfully.").with_unit(Unit::Bytes),
        Family::counter("node_disk_write_time", "This is the total number of seconds spent by all writes.")
            .with_unit(Unit::Seconds),
        Family::gauge("node_disk_io_now", "The number of I/Os currently in progress."),
        Family::counter("node_disk_io_time", "Total seconds spent doing I/Os.").with_unit(Unit::Seconds),
        Family::counter("node_disk_io_time_weighted", "The weighted # of seconds spent doing I/Os.")
            .with_unit(Unit::Seconds),
    ];
    for d in stats.iter().filter(|d| !pf::disk_ignored(&d.device)) {
        let labels = l(&[("device", &d.device)]);
        #[allow(clippy::cast_precision_loss)]
        let vals = [
            d.reads_completed as f64,
            d.reads_merged as f64,
            d.sectors_read as f64 * 512.0,
            d.read_ms as f64 / 1000.0,
            d.writes_completed as f64,
            d.writes_merged as f64,
            d.sectors_written as f64 * 512.0,
            d.write_ms as f64 / 1000.0,
            d.io_now as f64,
            d.io_ms as f64 / 1000.0,
            d.io_weighted_ms as f64 / 1000.0,
        ];
        for (fam, v) in f.iter_mut().zip(vals) {
            fam.push(labels.clone(), v);
        }
    }
    out.extend(f);
}

fn network(devs: &[(String, [u64; 16])], out: &mut Vec<Family>) {
    // /proc/net/dev columns: receive bytes packets errs drop fifo frame compressed multicast,
    // then transmit bytes packets errs drop fifo colls carrier compressed.
    let cols: [(usize, &'static str, &'static str, bool); 8] = [
        (0, "node_network_receive", "Network device statistic receive_bytes.", true),
        (1, "node_network_receive_packets", "Network device statistic receive_packets.", false),
        (2, "node_network_receive_errs", "Network device statistic receive_errs.", false),
        (3, "node_network_receive_drop", "Network device statistic receive_drop.", false),
        (8, "node_network_transmit", "Network device statistic transmit_bytes.", true),
        (9, "node_network_transmit_packets", "Network device statistic transmit_packets.", false),
        (10, "node_network_transmit_errs", "Network device statistic transmit_errs.", false),
        (11, "node_network_transmit_drop", "Network device statistic transmit_drop.", false),
    ];
    for (col, name, help, bytes) in cols {
        let mut fam = Family::counter(name, help);
        if bytes {
            fam = fam.with_unit(Unit::Bytes);
        }
        // node_exporter (netlink) leaves out the loopback device; so do we.
        for (dev, v) in devs.iter().filter(|(d, _)| d != "lo") {
            #[allow(clippy::cast_precision_loss)]
            fam.push(l(&[("device", dev)]), v[col] as f64);
        }
        out.push(fam);
    }
}

/// Memory families are named after /proc/meminfo's fields, known only at runtime; names
/// are interned once per distinct field so families can keep `&'static str` names.
fn meminfo_family(field: &str, bytes: bool) -> Family {
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

/// The agent's own process: CPU, memory, file descriptors, start time.
pub fn process_families(proc_root: &Path, ticks_per_second: f64, boot_time: Option<f64>) -> Vec<Family> {
    let mut out = Vec::new();
    let read = |rel: &str| std::fs::read_to_string(proc_root.join(rel)).ok();
    if let Some((cpu, start, vsize, rss_pages)) = read("self/stat").as_deref().and_then(pf::parse_self_stat) {
        #[allow(clippy::cast_precision_loss)]
        {
            out.push(
                Family::counter("process_cpu", "Total user and system CPU time spent in seconds.")
                    .with_unit(Unit::Seconds)
                    .with(Vec::new(), cpu as f64 / ticks_per_second),
            );
            if let Some(bt) = boot_time {
                out.push(
                    Family::gauge("process_start_time", "Start time of the process since unix epoch in seconds.")
                        .with_unit(Unit::Seconds)
                        .with(Vec::new(), bt + start as f64 / ticks_per_second),
                );
            }
            out.push(
                Family::gauge("process_virtual_memory", "Virtual memory size in bytes.")
                    .with_unit(Unit::Bytes)
                    .with(Vec::new(), vsize as f64),
            );
            let page = rustix::param::page_size() as f64;
            out.push(
                Family::gauge("process_resident_memory", "Resident memory size in bytes.")
                    .with_unit(Unit::Bytes)
                    .with(Vec::new(), rss_pages as f64 * page),
            );
        }
    }
    if let Ok(dir) = std::fs::read_dir(proc_root.join("self/fd")) {
        #[allow(clippy::cast_precision_loss)]
        out.push(
            Family::gauge("process_open_fds", "Number of open file descriptors.").with(Vec::new(), dir.count() as f64),
        );
    }
    out
}

impl HostSampler {
    /// The agent's own process metrics.
    pub fn process(&self) -> Vec<Family> {
        let boot = self.read("stat").and_then(|t| pf::parse_stat(&t).boot_time);
        #[allow(clippy::cast_precision_loss)]
        process_families(&self.proc_root, self.ticks_per_second, boot.map(|b| b as f64))
    }
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
    fn mountpoint_filter() {
        for (m, ignored) in
            [("/", false), ("/dev", true), ("/dev/shm", true), ("/devices", false), ("/sys/fs/cgroup", true)]
        {
            assert_eq!(mountpoint_ignored(m), ignored, "{m}");
        }
    }
}
