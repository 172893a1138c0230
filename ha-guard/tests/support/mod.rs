//! Test support: the `rmq-ha-guard` binary as a real process and keys on disk. (What reaches
//! the master is counted by `rmq_testkit::tap::Tap`.)
#![allow(dead_code, unreachable_pub)] // shared by several test binaries, each using a part

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rmq_testkit::{ManagedProcess, free_port, http, wire};

/// The secret every test key uses unless a test says otherwise.
pub const SECRET: &str = "ha-test-secret-0123456789";

/// Writes a private key file.
pub fn key_file(dir: &Path, id: &str, secret: &str) -> PathBuf {
    let p = dir.join(format!("key-{id}"));
    std::fs::write(&p, secret).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// A free loopback address.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()))
}

/// A running `rmq-ha-guard`.
#[derive(Debug)]
pub struct Guard {
    /// Its `/metrics` address.
    pub http: SocketAddr,
    name: String,
    dir: PathBuf,
    process: Option<ManagedProcess>,
}

impl Guard {
    /// Writes `body` (TOML without `[http]`) to `dir/<name>.toml` and starts the guard on it,
    /// returning once it serves `/healthz` (every tunnel listener is bound before that).
    pub fn start(dir: &Path, name: &str, body: &str) -> Self {
        let http = free_addr();
        let cfg = format!("[http]\nlisten = \"{http}\"\n[log]\nlevel = \"info\"\n{body}");
        std::fs::write(dir.join(format!("{name}.toml")), cfg).unwrap();
        let mut g = Self { http, name: name.into(), dir: dir.into(), process: None };
        g.boot();
        g
    }

    fn boot(&mut self) {
        let config = self.dir.join(format!("{}.toml", self.name));
        let mut p = ManagedProcess::spawn(
            &self.name,
            Path::new(env!("CARGO_BIN_EXE_rmq-ha-guard")),
            &["run".into(), "--config".into(), config.display().to_string()],
            &self.dir,
            &[],
            self.dir.join(format!("{}.log", self.name)),
        )
        .unwrap();
        let http = self.http;
        let started = wire::wait_for(&self.name, Duration::from_secs(30), || {
            if !p.is_running() {
                anyhow::bail!("rmq-ha-guard exited:\n{}", p.log_tail(20));
            }
            Ok(http::get(http, "/healthz", None).ok().map(drop))
        });
        if let Err(e) = started {
            panic!("{e:#}\n{}", p.log_tail(20));
        }
        self.process = Some(p);
    }

    /// Stops it (SIGTERM).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }

    /// Stops and starts it again with the same configuration.
    pub fn restart(&mut self) {
        self.stop();
        self.boot();
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.process.as_ref().map(|p| p.log_tail(200)).unwrap_or_default()
    }

    /// The value of one series (0 if absent).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let body = http::get(self.http, "/metrics", None).unwrap().body;
        rmq_testkit::expo::value(&body, name, labels).unwrap_or(0.0)
    }

    /// The sum of every series named `name` with `labels` (0 if none).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let body = http::get(self.http, "/metrics", None).unwrap().body;
        rmq_testkit::expo::all(&body, name, labels).iter().map(|l| l.value).sum()
    }

    /// Waits until `pred` holds for the series' value.
    pub fn wait_value(&self, what: &str, name: &str, labels: &[(&str, &str)], pred: impl Fn(f64) -> bool) {
        let r = wire::wait_for(what, Duration::from_secs(60), || {
            let body = http::get(self.http, "/metrics", None)?.body;
            let v = rmq_testkit::expo::value(&body, name, labels).unwrap_or(0.0);
            Ok(pred(v).then_some(()))
        });
        if let Err(e) = r {
            panic!("{e:#}\n--- {} log ---\n{}", self.name, self.log());
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}
