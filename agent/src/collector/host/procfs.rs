//! Pure parsers for the /proc files node_exporter reads, so the agent reports the same
//! values under the same names. Each takes the file's text; none does I/O.

use std::collections::BTreeMap;

/// CPU time per mode, in ticks, for one `cpuN` line of /proc/stat.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct CpuTicks {
    pub(crate) cpu: String,
    /// user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice
    pub(crate) ticks: [u64; 10],
}

/// What /proc/stat holds that we export.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Stat {
    pub(crate) cpus: Vec<CpuTicks>,
    pub(crate) boot_time: Option<u64>,
    pub(crate) context_switches: Option<u64>,
    pub(crate) interrupts: Option<u64>,
    pub(crate) forks: Option<u64>,
    pub(crate) procs_running: Option<u64>,
    pub(crate) procs_blocked: Option<u64>,
}

pub(crate) fn parse_stat(text: &str) -> Stat {
    let mut s = Stat::default();
    for line in text.lines() {
        let mut it = line.split_ascii_whitespace();
        let Some(key) = it.next() else { continue };
        let first = || line.split_ascii_whitespace().nth(1).and_then(|v| v.parse().ok());
        match key {
            // The aggregate "cpu" line is not exported (node_exporter neither).
            k if k.starts_with("cpu") && k.len() > 3 => {
                let mut ticks = [0u64; 10];
                for (slot, v) in ticks.iter_mut().zip(it) {
                    *slot = v.parse().unwrap_or(0);
                }
                s.cpus.push(CpuTicks { cpu: k[3..].to_owned(), ticks });
            }
            "btime" => s.boot_time = first(),
            "ctxt" => s.context_switches = first(),
            "intr" => s.interrupts = first(),
            "processes" => s.forks = first(),
            "procs_running" => s.procs_running = first(),
            "procs_blocked" => s.procs_blocked = first(),
            _ => {}
        }
    }
    s
}

/// /proc/meminfo as (node_exporter field name, bytes or count, has unit bytes).
pub(crate) fn parse_meminfo(text: &str) -> Vec<(String, f64, bool)> {
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

/// /proc/loadavg: 1, 5 and 15 minute load.
pub(crate) fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_ascii_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// One /proc/mounts entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mount {
    pub(crate) device: String,
    pub(crate) mountpoint: String,
    pub(crate) fstype: String,
    pub(crate) read_only: bool,
}

/// Undoes /proc/mounts' octal escapes (`\040` for a space).
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_ascii_whitespace();
            let device = unescape_mount(f.next()?);
            let mountpoint = unescape_mount(f.next()?);
            let fstype = f.next()?.to_owned();
            let opts = f.next().unwrap_or("");
            Some(Mount { device, mountpoint, fstype, read_only: opts.split(',').any(|o| o == "ro") })
        })
        .collect()
}

/// One /proc/diskstats line.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct DiskStats {
    pub(crate) device: String,
    pub(crate) reads_completed: u64,
    pub(crate) reads_merged: u64,
    pub(crate) sectors_read: u64,
    pub(crate) read_ms: u64,
    pub(crate) writes_completed: u64,
    pub(crate) writes_merged: u64,
    pub(crate) sectors_written: u64,
    pub(crate) write_ms: u64,
    pub(crate) io_now: u64,
    pub(crate) io_ms: u64,
    pub(crate) io_weighted_ms: u64,
}

pub(crate) fn parse_diskstats(text: &str) -> Vec<DiskStats> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            if f.len() < 14 {
                return None;
            }
            let n = |i: usize| f.get(i).and_then(|v| v.parse().ok()).unwrap_or(0);
            Some(DiskStats {
                device: f[2].to_owned(),
                reads_completed: n(3),
                reads_merged: n(4),
                sectors_read: n(5),
                read_ms: n(6),
                writes_completed: n(7),
                writes_merged: n(8),
                sectors_written: n(9),
                write_ms: n(10),
                io_now: n(11),
                io_ms: n(12),
                io_weighted_ms: n(13),
            })
        })
        .collect()
}

fn split_digits(s: &str) -> (&str, &str) {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    s.split_at(n)
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// node_exporter's default device exclusion, `^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`:
/// whole disks are reported, partitions and loop/ram devices are not.
pub(crate) fn disk_ignored(device: &str) -> bool {
    for p in ["ram", "loop", "fd"] {
        if device.strip_prefix(p).is_some_and(all_digits) {
            return true;
        }
    }
    for p in ["hd", "sd", "vd", "xvd"] {
        if let Some(r) = device.strip_prefix(p) {
            let mut chars = r.chars();
            if chars.next().is_some_and(|c| c.is_ascii_lowercase()) && all_digits(chars.as_str()) {
                return true;
            }
        }
    }
    if let Some(r) = device.strip_prefix("nvme") {
        let (ctrl, r) = split_digits(r);
        if let Some(r) = r.strip_prefix('n') {
            let (ns, r) = split_digits(r);
            return !ctrl.is_empty() && !ns.is_empty() && r.strip_prefix('p').is_some_and(all_digits);
        }
    }
    false
}

/// One /proc/net/dev line: device and the 16 counters.
pub(crate) fn parse_net_dev(text: &str) -> Vec<(String, [u64; 16])> {
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

/// /proc/net/snmp or /proc/net/netstat: `Proto: names…` then `Proto: values…`, as
/// `Proto_Name` → value.
pub(crate) fn parse_netstat(text: &str) -> BTreeMap<String, f64> {
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

/// /proc/net/sockstat: `TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1` → `TCP_inuse` … and
/// `sockets: used N` → `sockets_used`.
pub(crate) fn parse_sockstat(text: &str) -> BTreeMap<String, f64> {
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

/// TCP connection states, node_exporter's tcpstat names.
pub(crate) const TCP_STATES: [&str; 12] = [
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
pub(crate) fn count_tcp_states(text: &str, counts: &mut [u64; 12]) {
    for line in text.lines().skip(1) {
        let Some(st) = line.split_ascii_whitespace().nth(3) else { continue };
        if let Ok(n) = u8::from_str_radix(st, 16)
            && (1..=12).contains(&n)
        {
            counts[usize::from(n - 1)] += 1;
        }
    }
}

/// /proc/sys/fs/file-nr: allocated and maximum file handles.
pub(crate) fn parse_file_nr(text: &str) -> Option<(f64, f64)> {
    let f: Vec<f64> = text.split_ascii_whitespace().filter_map(|v| v.parse().ok()).collect();
    Some((*f.first()?, *f.get(2)?))
}

/// From /proc/self/stat: (utime + stime ticks, start time ticks after boot, virtual bytes, rss pages).
pub(crate) fn parse_self_stat(text: &str) -> Option<(u64, u64, u64, u64)> {
    // The command name is in parentheses and may contain spaces; fields follow the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // After ')': state is field 3 in proc(5) numbering, so index = field - 3.
    let n = |field: usize| f.get(field - 3).and_then(|v| v.parse::<u64>().ok());
    Some((n(14)? + n(15)?, n(22)?, n(23)?, n(24)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat() {
        let s = parse_stat(
            "cpu  10 0 5 100 1 0 0 0 0 0\ncpu0 4 1 2 50 1 0 3 0 2 0\ncpu1 6 0 3 50 0 0 0 1 0 0\n\
             intr 12345 0 1\nctxt 999\nbtime 1700000000\nprocesses 42\nprocs_running 3\nprocs_blocked 1\n",
        );
        assert_eq!(s.cpus.len(), 2);
        assert_eq!(s.cpus[0].cpu, "0");
        assert_eq!(s.cpus[0].ticks[6], 3);
        assert_eq!(s.cpus[0].ticks[8], 2);
        assert_eq!((s.boot_time, s.context_switches, s.interrupts), (Some(1_700_000_000), Some(999), Some(12345)));
        assert_eq!((s.forks, s.procs_running, s.procs_blocked), (Some(42), Some(3), Some(1)));
    }

    #[test]
    fn meminfo_names_and_units() {
        let m = parse_meminfo("MemTotal:       16384 kB\nActive(anon):   10 kB\nHugePages_Total:       0\n");
        assert_eq!(m[0], ("MemTotal".into(), 16384.0 * 1024.0, true));
        assert_eq!(m[1].0, "Active_anon");
        assert_eq!(m[2], ("HugePages_Total".into(), 0.0, false));
    }

    #[test]
    fn loadavg_mounts_diskstats() {
        assert_eq!(parse_loadavg("0.50 1.00 1.50 2/300 1234\n"), Some([0.5, 1.0, 1.5]));
        let m = parse_mounts("/dev/vda / ext4 rw,relatime 0 0\n/dev/sdb1 /data\\040x xfs ro 0 0\n");
        assert_eq!(m[1].mountpoint, "/data x");
        assert!(m[1].read_only && !m[0].read_only);
        let d = parse_diskstats("   8       0 sda 10 2 300 4 20 5 600 8 1 12 16 0 0 0 0\n");
        assert_eq!((d[0].device.as_str(), d[0].sectors_read, d[0].io_weighted_ms), ("sda", 300, 16));
        for (dev, ignored) in [
            ("sda", false),
            ("sda1", true),
            ("vda", false),
            ("vda2", true),
            ("nvme0n1", false),
            ("nvme0n1p1", true),
            ("loop0", true),
            ("ram1", true),
            ("dm-0", false),
            ("md0", false),
        ] {
            assert_eq!(disk_ignored(dev), ignored, "{dev}");
        }
    }

    #[test]
    fn network() {
        let text = "Inter-|   Receive\n face |bytes\n  lo: 100 2 0 0 0 0 0 0 100 2 0 0 0 0 0 0\neth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n";
        let d = parse_net_dev(text);
        assert_eq!(d[1].0, "eth0");
        assert_eq!(d[1].1[8], 9);
        let s = parse_netstat("Tcp: RtoAlgorithm CurrEstab\nTcp: 1 7\nUdp: InDatagrams\nUdp: 3\n");
        assert_eq!(s["Tcp_CurrEstab"], 7.0);
        assert_eq!(s["Udp_InDatagrams"], 3.0);
        let ss = parse_sockstat("sockets: used 10\nTCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1\n");
        assert_eq!((ss["sockets_used"], ss["TCP_tw"]), (10.0, 2.0));
        let mut counts = [0u64; 12];
        count_tcp_states(
            "  sl  local_address rem_address   st\n   0: 0100007F:2A6B 00000000:0000 0A 0\n   1: 0100007F:2A6B 0100007F:9C40 01 0\n",
            &mut counts,
        );
        assert_eq!((counts[9], counts[0]), (1, 1));
    }

    #[test]
    fn file_nr_and_self_stat() {
        assert_eq!(parse_file_nr("1024\t0\t9223372036854775807\n"), Some((1024.0, 9.223_372_036_854_776e18)));
        let stat = "1234 (rmq agent) S 1 1234 1234 0 -1 4194304 100 0 0 0 30 20 0 0 20 0 4 0 500 123456789 2000 18446744073709551615";
        assert_eq!(parse_self_stat(stat), Some((50, 500, 123_456_789, 2000)));
    }
}
