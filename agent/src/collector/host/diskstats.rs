//! `diskstats`: I/O counters of whole disks from /proc/diskstats (partitions, loop and ram
//! devices left out, as node_exporter's default does), in bytes and seconds.

use prometheus_client::registry::Unit;
use rmq_runtime::metrics::Family;

use super::{HostSampler, labels};

/// One /proc/diskstats line.
#[derive(Debug, Clone, PartialEq, Default)]
struct DiskStats {
    device: String,
    reads_completed: u64,
    reads_merged: u64,
    sectors_read: u64,
    read_ms: u64,
    writes_completed: u64,
    writes_merged: u64,
    sectors_written: u64,
    write_ms: u64,
    io_now: u64,
    io_ms: u64,
    io_weighted_ms: u64,
}

fn parse(text: &str) -> Vec<DiskStats> {
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
fn disk_ignored(device: &str) -> bool {
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

pub(super) fn collect(host: &HostSampler, out: &mut Vec<Family>) {
    let Some(text) = host.read("diskstats") else { return };
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
    for d in parse(&text).iter().filter(|d| !disk_ignored(&d.device)) {
        let l = labels(&[("device", &d.device)]);
        // Sectors are 512 bytes whatever the device's block size; times are milliseconds.
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
            fam.push(l.clone(), v);
        }
    }
    out.extend(f);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_fields() {
        let d = parse("   8       0 sda 10 2 300 4 20 5 600 8 1 12 16 0 0 0 0\n   8 1 sda1 1 2\n");
        assert_eq!(d.len(), 1, "short lines are skipped");
        assert_eq!((d[0].device.as_str(), d[0].sectors_read, d[0].io_weighted_ms), ("sda", 300, 16));
        assert_eq!((d[0].writes_completed, d[0].write_ms, d[0].io_now), (20, 8, 1));
    }

    #[test]
    fn whole_disks_only() {
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
}
