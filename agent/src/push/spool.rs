//! The durable queue of one remote-write endpoint: every request body is a file in the
//! endpoint's spool directory until the receiver accepts it. Files are written whole (temp
//! file, then rename) and named so that directory order is send order:
//! `<seq 16 hex>-<unix ms>-<samples>.rw`. Bounded by total bytes and by age; the oldest go
//! first, and what is dropped is counted. Only the file list is held in memory.

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Why the spool cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The directory cannot be created, listed or written.
    #[error("spool directory {dir}: {cause}")]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
}

/// One queued request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Order.
    pub seq: u64,
    /// When its samples were taken (Unix ms).
    pub ts_ms: u64,
    /// Samples in it.
    pub samples: u64,
    /// File size.
    pub bytes: u64,
}

impl Entry {
    fn file_name(&self) -> String {
        format!("{:016x}-{}-{}.rw", self.seq, self.ts_ms, self.samples)
    }

    fn from_file_name(name: &str) -> Option<(u64, u64, u64)> {
        let stem = name.strip_suffix(".rw")?;
        let mut parts = stem.split('-');
        let seq = u64::from_str_radix(parts.next()?, 16).ok()?;
        let ts = parts.next()?.parse().ok()?;
        let samples = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some((seq, ts, samples))
    }
}

/// What a size or age limit removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Requests removed.
    pub requests: u64,
    /// Samples in them.
    pub samples: u64,
}

/// A spool directory and its queue.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    max_age_ms: u64,
    next_seq: u64,
    queue: VecDeque<Entry>,
    bytes: u64,
}

fn dir_err(dir: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |cause| SpoolError::Dir { dir: dir.to_owned(), cause }
}

impl Spool {
    /// Opens (creating) `dir`, checks it is writable, removes half-written files and queues
    /// what an earlier run left, oldest first.
    pub fn open(dir: &Path, max_bytes: u64, max_age_ms: u64) -> Result<Self, SpoolError> {
        std::fs::create_dir_all(dir).map_err(dir_err(dir))?;
        let probe = dir.join(".write-test");
        std::fs::write(&probe, b"ok").and_then(|()| std::fs::remove_file(&probe)).map_err(dir_err(dir))?;
        let mut queue = Vec::new();
        for e in std::fs::read_dir(dir).map_err(dir_err(dir))? {
            let e = e.map_err(dir_err(dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") {
                // A write interrupted by a crash: never renamed, never complete.
                let _ = std::fs::remove_file(e.path());
                continue;
            }
            if let Some((seq, ts_ms, samples)) = Entry::from_file_name(&name) {
                let bytes = e.metadata().map(|m| m.len()).unwrap_or(0);
                queue.push(Entry { seq, ts_ms, samples, bytes });
            }
        }
        queue.sort_by_key(|e| e.seq);
        let bytes = queue.iter().map(|e| e.bytes).sum();
        let next_seq = queue.last().map_or(0, |e| e.seq + 1);
        Ok(Self { dir: dir.to_owned(), max_bytes, max_age_ms, next_seq, queue: queue.into(), bytes })
    }

    fn path(&self, e: &Entry) -> PathBuf {
        self.dir.join(e.file_name())
    }

    /// Queues a request body; then drops the oldest requests while over the size limit.
    pub fn push(&mut self, body: &[u8], ts_ms: u64, samples: u64) -> Result<Dropped, SpoolError> {
        let e = Entry { seq: self.next_seq, ts_ms, samples, bytes: body.len() as u64 };
        self.next_seq += 1;
        let tmp = self.dir.join(format!(".tmp-{:016x}", e.seq));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(body)?;
            std::fs::rename(&tmp, self.path(&e))
        };
        if let Err(cause) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(SpoolError::Dir { dir: self.dir.clone(), cause });
        }
        self.bytes += e.bytes;
        self.queue.push_back(e);
        let mut dropped = Dropped::default();
        while self.bytes > self.max_bytes {
            let Some(old) = self.pop_front() else { break };
            dropped.requests += 1;
            dropped.samples += old.samples;
        }
        Ok(dropped)
    }

    /// Drops requests whose samples are older than the age limit.
    pub fn expire(&mut self, now_ms: u64) -> Dropped {
        let mut dropped = Dropped::default();
        while self.queue.front().is_some_and(|e| now_ms.saturating_sub(e.ts_ms) > self.max_age_ms) {
            if let Some(old) = self.pop_front() {
                dropped.requests += 1;
                dropped.samples += old.samples;
            }
        }
        dropped
    }

    /// The oldest request and its body.
    pub fn peek(&self) -> Option<(Entry, std::io::Result<Vec<u8>>)> {
        let e = self.queue.front()?;
        Some((e.clone(), std::fs::read(self.path(e))))
    }

    /// The oldest request's sequence number (no file read).
    pub fn front_seq(&self) -> Option<u64> {
        self.queue.front().map(|e| e.seq)
    }

    /// Removes the oldest request (sent, or refused for good).
    pub fn pop_front(&mut self) -> Option<Entry> {
        let e = self.queue.pop_front()?;
        let _ = std::fs::remove_file(self.path(&e));
        self.bytes = self.bytes.saturating_sub(e.bytes);
        Some(e)
    }

    /// Bytes queued.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Requests queued.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// When the oldest queued samples were taken (Unix ms).
    pub fn oldest_ts_ms(&self) -> Option<u64> {
        self.queue.front().map(|e| e.ts_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reopening_in_order_and_cleans_half_writes() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Spool::open(d.path(), 1 << 20, 60_000).unwrap();
        for i in 0..3u8 {
            s.push(&[i; 10], 1000 + u64::from(i), 5).unwrap();
        }
        std::fs::write(d.path().join(".tmp-00000000000000ff"), b"half").unwrap();
        drop(s);
        let mut s = Spool::open(d.path(), 1 << 20, 60_000).unwrap();
        assert_eq!((s.len(), s.bytes()), (3, 30));
        assert!(!d.path().join(".tmp-00000000000000ff").exists());
        let (e, body) = s.peek().unwrap();
        assert_eq!((e.seq, e.ts_ms, body.unwrap()), (0, 1000, vec![0u8; 10]));
        s.pop_front();
        s.push(&[9; 10], 2000, 5).unwrap();
        let order: Vec<u64> = std::iter::from_fn(|| s.pop_front().map(|e| e.ts_ms)).collect();
        assert_eq!(order, [1001, 1002, 2000]);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[test]
    fn size_and_age_limits_drop_the_oldest_and_count_them() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Spool::open(d.path(), 25, 1_000).unwrap();
        assert_eq!(s.push(&[0; 10], 100, 7).unwrap(), Dropped::default());
        assert_eq!(s.push(&[1; 10], 200, 7).unwrap(), Dropped::default());
        assert_eq!(s.push(&[2; 10], 300, 7).unwrap(), Dropped { requests: 1, samples: 7 });
        assert_eq!(s.oldest_ts_ms(), Some(200));
        assert_eq!(s.expire(1_250), Dropped { requests: 1, samples: 7 });
        assert_eq!((s.len(), s.bytes()), (1, 10));
    }

    #[test]
    fn an_unusable_directory_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let e = Spool::open(&file.join("spool"), 1, 1).unwrap_err().to_string();
        assert!(e.contains("plain-file/spool"), "{e}");
    }
}
