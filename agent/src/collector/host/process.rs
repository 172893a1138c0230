//! The agent's own process (`process_*`, as Prometheus client libraries name them): CPU,
//! memory, start time and open file descriptors, from /proc/self.

use std::path::Path;

use prometheus_client::registry::Unit;
use rmq_runtime::metrics::Family;

/// From /proc/self/stat: (utime + stime ticks, start time ticks after boot, virtual bytes, rss pages).
fn parse_self_stat(text: &str) -> Option<(u64, u64, u64, u64)> {
    // The command name is in parentheses and may contain spaces; fields follow the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // After ')': state is field 3 in proc(5) numbering, so index = field - 3.
    let n = |field: usize| f.get(field - 3).and_then(|v| v.parse::<u64>().ok());
    Some((n(14)? + n(15)?, n(22)?, n(23)?, n(24)?))
}

/// The agent's own process: CPU, memory, file descriptors, start time.
pub fn process_families(proc_root: &Path, ticks_per_second: f64, boot_time: Option<f64>) -> Vec<Family> {
    let mut out = Vec::new();
    let read = |rel: &str| std::fs::read_to_string(proc_root.join(rel)).ok();
    if let Some((cpu, start, vsize, rss_pages)) = read("self/stat").as_deref().and_then(parse_self_stat) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_stat_fields_after_the_command_name() {
        let stat = "1234 (rmq agent) S 1 1234 1234 0 -1 4194304 100 0 0 0 30 20 0 0 20 0 4 0 500 123456789 2000 18446744073709551615";
        assert_eq!(parse_self_stat(stat), Some((50, 500, 123_456_789, 2000)));
        assert_eq!(parse_self_stat("1234 (x) S 1"), None);
    }
}
