//! `filesystem`: size, free space and inodes of each mounted filesystem (statvfs on the
//! mount points of /proc/self/mounts), with node_exporter's default exclusions; the
//! filesystem holding the broker store is always reported, and named by
//! `rmq_agent_store_filesystem_info`.

use std::collections::HashSet;
use std::path::Path;

use prometheus_client::registry::Unit;
use rmq_runtime::metrics::Family;

use super::{HostSampler, labels};

/// One /proc/mounts entry.
#[derive(Debug, Clone, PartialEq)]
struct Mount {
    device: String,
    mountpoint: String,
    fstype: String,
    read_only: bool,
}

/// Undoes /proc/mounts' octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
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

fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_ascii_whitespace();
            let device = unescape(f.next()?);
            let mountpoint = unescape(f.next()?);
            let fstype = f.next()?.to_owned();
            let opts = f.next().unwrap_or("");
            Some(Mount { device, mountpoint, fstype, read_only: opts.split(',').any(|o| o == "ro") })
        })
        .collect()
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

/// The mount whose mount point is the longest prefix of `dir`.
fn containing_mount(mounts: &[Mount], dir: &Path) -> Option<usize> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| dir.starts_with(&m.mountpoint))
        .max_by_key(|(_, m)| m.mountpoint.len())
        .map(|(i, _)| i)
}

pub(super) fn collect(host: &HostSampler, out: &mut Vec<Family>) {
    let Some(text) = host.read("self/mounts").or_else(|| host.read("mounts")) else { return };
    let mounts = parse(&text);
    let store_mount = host.store_dir.as_deref().and_then(|d| containing_mount(&mounts, d));
    let mut fams = [
        Family::gauge("node_filesystem_size", "Filesystem size in bytes.").with_unit(Unit::Bytes),
        Family::gauge("node_filesystem_free", "Filesystem free space in bytes.").with_unit(Unit::Bytes),
        Family::gauge("node_filesystem_avail", "Filesystem space available to non-root users in bytes.")
            .with_unit(Unit::Bytes),
        Family::gauge("node_filesystem_files", "Filesystem total file nodes."),
        Family::gauge("node_filesystem_files_free", "Filesystem total free file nodes."),
        Family::gauge("node_filesystem_readonly", "Filesystem read-only status."),
    ];
    let mut seen = HashSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let is_store = store_mount == Some(i);
        if !is_store && (host.exclude_fstypes.contains(&m.fstype) || mountpoint_ignored(&m.mountpoint)) {
            continue;
        }
        // One series per mount point (bind mounts repeat), as node_exporter does.
        if !seen.insert((m.device.clone(), m.mountpoint.clone())) {
            continue;
        }
        let Ok(st) = rustix::fs::statvfs(Path::new(&m.mountpoint)) else { continue };
        let l = labels(&[("device", &m.device), ("fstype", &m.fstype), ("mountpoint", &m.mountpoint)]);
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
            f.push(l.clone(), v);
        }
    }
    out.extend(fams);
    if let (Some(dir), Some(i)) = (&host.store_dir, store_mount) {
        let m = &mounts[i];
        out.push(
            Family::gauge("rmq_agent_store_filesystem_info", "The filesystem holding the broker store directory.")
                .with(
                    labels(&[
                        ("store_dir", &dir.display().to_string()),
                        ("device", &m.device),
                        ("mountpoint", &m.mountpoint),
                    ]),
                    1.0,
                ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_unescaped_with_read_only_flag() {
        let m = parse("/dev/vda / ext4 rw,relatime 0 0\n/dev/sdb1 /data\\040x xfs ro 0 0\n");
        assert_eq!(m[1].mountpoint, "/data x");
        assert!(m[1].read_only && !m[0].read_only);
        assert_eq!(containing_mount(&m, Path::new("/data x/store")), Some(1));
        assert_eq!(containing_mount(&m, Path::new("/var/lib")), Some(0));
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
