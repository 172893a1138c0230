//! Shared inputs for the benchmarks: the frames the codec benches decode, built from the
//! same protocol-reference examples the unit tests use.

use bytes::Bytes;
use rmq_protocol::frame::encode_to_bytes;
use rmq_protocol::request::{CommandHeader as _, SendMessageRequestHeaderV2, encode_properties};
use rmq_protocol::{Header, LanguageCode, SerializeType};

/// A named frame.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Short name used in benchmark ids.
    pub name: &'static str,
    /// The frame's bytes, length prefix included.
    pub frame: Bytes,
}

fn topic_stats_request() -> Header {
    // The reference's GET_TOPIC_STATS_INFO example, as a 4.9.7 Java client sends it.
    let mut h = Header { code: 202, opaque: 7, version: 407, language: LanguageCode::JAVA, ..Header::default() };
    h.set_ext("topic", "T1");
    h
}

fn send_v2_request() -> Header {
    let h = SendMessageRequestHeaderV2 {
        producer_group: "please_rename_unique_group_name".into(),
        topic: "TopicTest".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 3,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        flag: 0,
        properties: Some(encode_properties([
            ("UNIQ_KEY", "7F0000010B6A18B4AAC2174A3B2F0000"),
            ("WAIT", "true"),
            ("TAGS", "TagA"),
        ])),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        max_reconsume_times: None,
        batch: Some(false),
        broker_name: Some("broker-a".into()),
    };
    let mut header = h.to_header(42);
    header.version = 407;
    header.language = LanguageCode::JAVA;
    header
}

fn frame(h: &Header, ty: SerializeType, body: &[u8]) -> Bytes {
    match encode_to_bytes(h, ty, body) {
        Ok(b) => b,
        Err(e) => panic!("bench input does not encode: {e}"),
    }
}

/// The frames decoded by the codec benches: small request headers (the data a guard reads
/// on every request) with no body and with a 4 KiB body, in both serialize types.
pub fn samples() -> Vec<Sample> {
    let body = vec![b'x'; 4096];
    let small = topic_stats_request();
    let send = send_v2_request();
    vec![
        Sample { name: "json_small", frame: frame(&small, SerializeType::JSON, &[]) },
        Sample { name: "binary_small", frame: frame(&small, SerializeType::ROCKETMQ, &[]) },
        Sample { name: "json_send_4k", frame: frame(&send, SerializeType::JSON, &body) },
        Sample { name: "binary_send_4k", frame: frame(&send, SerializeType::ROCKETMQ, &body) },
    ]
}

/// The small request header, for encode benches.
pub fn small_header() -> Header {
    topic_stats_request()
}

/// The SEND_MESSAGE_V2 header, for encode benches.
pub fn send_header() -> Header {
    send_v2_request()
}

/// `series` series shaped like a big broker's: families of 1,000 topic/group series each.
pub fn big_families(series: usize) -> Vec<rmq_runtime::metrics::Family> {
    let mut fams = Vec::new();
    let per_family = 1000;
    for f in 0..series / per_family {
        let name: &'static str = Box::leak(format!("rocketmq_bench_family_{f}").into_boxed_str());
        let mut fam = rmq_runtime::metrics::Family::gauge(name, "A benchmark family.");
        for t in 0..per_family {
            #[allow(clippy::cast_precision_loss)]
            fam.push(
                vec![
                    ("cluster", "DefaultCluster".into()),
                    ("broker", "broker-a".into()),
                    ("topic", format!("topic-{t:04}")),
                    ("group", format!("group-{t:04}")),
                ],
                (t * 7) as f64,
            );
        }
        fams.push(fam);
    }
    fams
}

/// Process facts from /proc, for load scripts that measure another process.
pub mod procinfo {
    /// The pid of the process listening on loopback TCP `port` (found through the socket's
    /// inode in /proc/net/tcp and each process's fd table).
    pub fn pid_listening(port: u16) -> Option<u32> {
        let hex = format!(":{port:04X}");
        let tcp = std::fs::read_to_string("/proc/net/tcp").ok()?;
        let inode = tcp
            .lines()
            .find(|l| {
                l.split_whitespace().nth(1).is_some_and(|a| a.ends_with(&hex))
                    && l.split_whitespace().nth(3) == Some("0A")
            })?
            .split_whitespace()
            .nth(9)?
            .to_owned();
        let target = format!("socket:[{inode}]");
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|p| {
            let pid: u32 = p.file_name().to_string_lossy().parse().ok()?;
            std::fs::read_dir(p.path().join("fd"))
                .ok()?
                .flatten()
                .any(|fd| std::fs::read_link(fd.path()).ok().is_some_and(|l| l.to_string_lossy() == target))
                .then_some(pid)
        })
    }

    /// CPU time (user + system) a process has used, in seconds.
    pub fn cpu_seconds(pid: u32) -> Option<f64> {
        cpu_user_system(pid).map(|(u, s)| u + s)
    }

    /// CPU time a process has used in user space and in the kernel, in seconds.
    pub fn cpu_user_system(pid: u32) -> Option<(f64, f64)> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        #[allow(clippy::cast_precision_loss)]
        let secs =
            |i: usize| Some(f.get(i)?.parse::<u64>().ok()? as f64 / rustix::param::clock_ticks_per_second() as f64);
        Some((secs(11)?, secs(12)?))
    }

    /// Times a process's main thread gave up the CPU to wait (`voluntary_ctxt_switches`): for
    /// a one-thread event loop, how often it went to sleep and was woken again.
    pub fn voluntary_switches(pid: u32) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status.lines().find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))?.trim().parse().ok()
    }

    /// Resident memory of a process, KiB.
    pub fn rss_kib(pid: u32) -> Option<u64> {
        status_kib(pid, "VmRSS:")
    }

    /// The most resident memory a process has had since it started, KiB.
    pub fn peak_rss_kib(pid: u32) -> Option<u64> {
        status_kib(pid, "VmHWM:")
    }

    fn status_kib(pid: u32, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
    }
}
