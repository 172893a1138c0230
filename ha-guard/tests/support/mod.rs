//! Test support: the `rmq-ha-guard` binary as a real process, keys on disk, and a peer's
//! side of the `rmq-ha-v1` first-packet exchange. (What reaches the master is counted by
//! `rmq_testkit::tap::Tap`.)
#![allow(dead_code, unreachable_pub)] // shared by several test binaries, each using a part

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rmq_protocol::ha::Parsed;
use rmq_protocol::sign::{SigningKey, ha_v1};
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

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// An `rmq-ha-v1` first packet; `nonce` makes it unique within a test.
pub fn hello(key_id: &str, secret: &str, ts: u64, nonce: u8, broker: &str) -> Vec<u8> {
    let mut n = [0u8; ha_v1::NONCE_LEN];
    n[0] = nonce;
    n[1..9].copy_from_slice(&now_ms().to_be_bytes());
    ha_v1::encode_hello(key_id, &SigningKey::new(secret.as_bytes()), ts, n, broker).unwrap()
}

/// Reads until the guard closes the tunnel. The master's heartbeats (every 5 s) would keep a
/// plain read_to_end going forever on a tunnel left open; a minute of them fails the test.
pub fn until_closed(t: &mut TcpStream) {
    let give_up = std::time::Instant::now() + Duration::from_secs(60);
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = t.read(&mut buf)
        && n > 0
    {
        assert!(std::time::Instant::now() < give_up, "the guard left the tunnel open");
    }
}

/// Sends a valid first packet and checks the guard's answer; returns the open tunnel.
pub fn accepted(addr: SocketAddr, hello: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(hello).unwrap();
    let mut answer = [0u8; ha_v1::ACCEPT_LEN];
    s.read_exact(&mut answer).unwrap();
    let Ok(Parsed::Complete(mac, _)) = ha_v1::parse_accept(&answer) else { panic!("not an answer: {answer:?}") };
    let Ok(Parsed::Complete(h, _)) = ha_v1::parse_hello(hello) else { panic!("bad test hello") };
    ha_v1::verify_accept(&SigningKey::new(SECRET.as_bytes()), &h.mac, &mac).unwrap();
    s
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
