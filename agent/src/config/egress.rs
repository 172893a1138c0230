//! `[namesrv_egress]`: the loopback ports through which the local broker reaches its name
//! servers, its route writes signed on the way (docs/namesrv-egress.md). Off unless `routes`
//! lists at least one name server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rmq_runtime::config::addr::socket;
use rmq_runtime::config::duration::{millis, secs};
use rmq_runtime::config::{HostPort, Problems};
use serde::Deserialize;

use crate::guard::Limits;

/// `[namesrv_egress]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EgressConfig {
    /// The key id that signs: one the name servers' guards scope to this host's brokers
    /// (`brokers = ["broker-a@10.0.0.5:10911#0"]` on their `[[guard.keys]]`).
    pub key_id: String,
    /// Its secret (not world-readable).
    pub key_file: Option<PathBuf>,
    /// One local port per name server.
    pub routes: Vec<EgressRoute>,
    /// The broker's configuration file (`broker.conf`, or RocketMQ-Rust's TOML): when set, the
    /// agent refuses to start unless its `namesrvAddr` lists only egress ports.
    pub broker_config: Option<PathBuf>,
    /// Only processes of these users (the broker's) may connect: any other local connection
    /// is closed unanswered. Required unless `allow_any_local_user` is set.
    pub allowed_uids: Option<Vec<u32>>,
    /// Sign the route writes of any local process (no `allowed_uids`): an explicit opt-out,
    /// for hosts where the broker's user is not fixed.
    pub allow_any_local_user: bool,
    /// Connections at once per route (one broker opens one per name server).
    pub max_connections: usize,
    /// How long dialling a name server may take. Key: `connect_timeout_ms`.
    #[serde(rename = "connect_timeout_ms", deserialize_with = "millis")]
    pub connect_timeout: Duration,
    /// How long a started frame from the broker may take to arrive whole. Key:
    /// `frame_timeout_ms`.
    #[serde(rename = "frame_timeout_ms", deserialize_with = "millis")]
    pub frame_timeout: Duration,
    /// Without a frame from the broker for this long, its connection is closed (brokers
    /// register every 30 s). Key: `idle_timeout_seconds`.
    #[serde(rename = "idle_timeout_seconds", deserialize_with = "secs")]
    pub idle_timeout: Duration,
    /// How long a write toward either side may take. Key: `write_timeout_ms`.
    #[serde(rename = "write_timeout_ms", deserialize_with = "millis")]
    pub write_timeout: Duration,
    /// Largest frame either side may send, in bytes (a registration carries every topic).
    pub max_frame_bytes: usize,
    /// Largest body of a route write the egress signs; keep it at or below the name server
    /// guard's `max_signed_body_bytes`, which refuses larger ones.
    pub max_signed_body_bytes: usize,
}

impl Default for EgressConfig {
    fn default() -> Self {
        Self {
            key_id: String::new(),
            key_file: None,
            routes: Vec::new(),
            broker_config: None,
            allowed_uids: None,
            allow_any_local_user: false,
            max_connections: 64,
            connect_timeout: Duration::from_millis(3_000),
            frame_timeout: Duration::from_millis(10_000),
            idle_timeout: Duration::from_secs(150),
            write_timeout: Duration::from_millis(30_000),
            max_frame_bytes: rmq_protocol::frame::MAX_FRAME_LEN as usize + 4,
            max_signed_body_bytes: Limits::DEFAULT.max_signed_body_bytes,
        }
    }
}

/// `[[namesrv_egress.routes]]`: one name server.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EgressRoute {
    /// The local address the broker's `namesrvAddr` lists (loopback only).
    #[serde(deserialize_with = "socket")]
    pub listen: SocketAddr,
    /// The name server's guard (or the name server).
    pub upstream: HostPort,
    /// `RmqTarget` to sign into every route write, for a guard configured with `targets`.
    #[serde(default)]
    pub target: Option<String>,
}

impl EgressConfig {
    /// Whether the egress is on.
    pub fn enabled(&self) -> bool {
        !self.routes.is_empty()
    }

    /// The listen addresses, in route order.
    pub fn listens(&self) -> Vec<SocketAddr> {
        self.routes.iter().map(|r| r.listen).collect()
    }

    /// Problems with the section at `at`; reads the broker's configuration file when one is
    /// given and the section is otherwise sound.
    pub fn check(&self, at: &str, p: &mut Problems) {
        if !self.enabled() {
            return;
        }
        let before = p.list().len();
        if !rmq_protocol::sign::hmac_v1::valid_key_id(&self.key_id) {
            p.at(at, "key_id", format!("{:?}: 1-64 of A-Z a-z 0-9 . _ -", self.key_id));
        }
        match &self.key_file {
            None => p.at(at, "key_file", "required: the secret of key_id"),
            Some(f) => {
                if let Err(e) = rmq_runtime::secret::check_file(f) {
                    p.at(at, "key_file", e.to_string());
                }
            }
        }
        let mut listens = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            let field = format!("routes[{i}].listen");
            if !r.listen.ip().is_loopback() {
                p.at(
                    at,
                    &field,
                    format!(
                        "{} is not a loopback address: anything that reaches it gets its route writes signed",
                        r.listen
                    ),
                );
            } else if listens.contains(&r.listen) {
                p.at(at, &field, format!("{} appears twice", r.listen));
            }
            listens.push(r.listen);
            if let Some(t) = &r.target
                && !rmq_protocol::sign::hmac_v1::valid_target(t)
            {
                p.at(at, &format!("routes[{i}].target"), format!("{t:?}: 1-127 of A-Z a-z 0-9 . _ - :"));
            }
        }
        p.nonzero(at, "max_connections", self.max_connections);
        p.nonzero(at, "connect_timeout_ms", self.connect_timeout);
        p.nonzero(at, "frame_timeout_ms", self.frame_timeout);
        p.nonzero(at, "idle_timeout_seconds", self.idle_timeout);
        p.nonzero(at, "write_timeout_ms", self.write_timeout);
        let max_frame = rmq_protocol::frame::MAX_FRAME_LEN as usize + 4;
        if !(4096..=max_frame).contains(&self.max_frame_bytes) {
            p.at(at, "max_frame_bytes", format!("{} is outside 4096..={max_frame}", self.max_frame_bytes));
        }
        if self.max_signed_body_bytes >= self.max_frame_bytes {
            p.at(at, "max_signed_body_bytes", "must be below max_frame_bytes");
        }
        if p.list().len() == before
            && let Some(path) = &self.broker_config
            && let Err(e) = crate::egress::broker_conf::check(path, &listens)
        {
            p.at(at, "broker_config", e);
        }
        if let Some(problem) = self.uid_problem() {
            p.at(at, "allowed_uids", problem);
        }
    }

    /// Why the section's `allowed_uids` (with `allow_any_local_user`) is refused, if it is.
    pub fn uid_problem(&self) -> Option<&'static str> {
        match (&self.allowed_uids, self.allow_any_local_user) {
            (Some(u), _) if u.is_empty() => Some("empty: list the broker's user id"),
            (Some(_), true) => Some("set with allow_any_local_user = true: choose one"),
            (None, false) => Some(
                "required: list the broker's user id, so that no other local process gets its route writes signed (or set allow_any_local_user = true)",
            ),
            _ => None,
        }
    }
}
