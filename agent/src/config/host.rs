//! `[host]`: the host metrics the agent samples.

use std::path::PathBuf;
use std::time::Duration;

use rmq_runtime::config::Problems;
use rmq_runtime::config::duration::secs;
use serde::Deserialize;

/// `[host]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HostConfig {
    /// Collect host metrics.
    pub enabled: bool,
    /// Between samples. Key: `interval_seconds`.
    #[serde(rename = "interval_seconds", deserialize_with = "secs")]
    pub interval: Duration,
    /// Filesystem types not reported (pseudo filesystems).
    pub filesystem_exclude_types: Vec<String>,
    /// Where /proc is (tests point this elsewhere).
    pub proc_root: PathBuf,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(15),
            // node_exporter's default exclusion list, so the same filesystems are reported.
            filesystem_exclude_types: [
                "autofs",
                "binfmt_misc",
                "bpf",
                "cgroup",
                "cgroup2",
                "configfs",
                "debugfs",
                "devpts",
                "devtmpfs",
                "fusectl",
                "hugetlbfs",
                "iso9660",
                "mqueue",
                "nsfs",
                "overlay",
                "proc",
                "procfs",
                "pstore",
                "rpc_pipefs",
                "securityfs",
                "selinuxfs",
                "squashfs",
                "erofs",
                "sysfs",
                "tracefs",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            proc_root: PathBuf::from("/proc"),
        }
    }
}

impl HostConfig {
    /// Problems with the section at `at` (`host`).
    pub fn check(&self, at: &str, p: &mut Problems) {
        p.nonzero(at, "interval_seconds", self.interval);
    }
}
