//! Counters of each tunnel end and per-slave replication state, rendered as metric families.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rmq_runtime::metrics::Family;

/// Which role a tunnel end plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Master host: verifies first packets.
    Accept,
    /// Slave host: sends first packets.
    Connect,
}

impl Side {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Connect => "connect",
        }
    }
}

/// Counters of one configured tunnel end.
#[derive(Debug)]
pub struct EndStats {
    /// Its label.
    pub name: String,
    /// Its role.
    pub side: Side,
    /// Tunnels established (authenticated and relaying).
    pub established: AtomicU64,
    /// Tunnels relaying now.
    pub active: AtomicU64,
    /// Connections refused or closed, by reason.
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// Replication state by slave (the slave's IP on the accept side).
    slaves: Mutex<HashMap<String, Arc<SlaveStats>>>,
}

/// What the inspector saw of one slave's replication. Offsets are -1 until seen.
#[derive(Debug)]
pub struct SlaveStats {
    /// Tunnels open for this slave now.
    pub tunnels: AtomicU64,
    /// The slave's last acknowledged commitlog offset (its offset report).
    pub ack_offset: AtomicI64,
    /// The end of the last block the master sent (`phyOffset + bodySize`).
    pub master_offset: AtomicI64,
    /// Commitlog bytes sent to the slave (transfer bodies).
    pub transfer_bytes: AtomicU64,
    /// Offset reports from the slave.
    pub reports: AtomicU64,
    /// The epoch of the last block the master sent (auto-switch HA).
    pub epoch: AtomicI64,
    /// The confirm offset the master last sent (auto-switch HA).
    pub confirm_offset: AtomicI64,
}

impl Default for SlaveStats {
    fn default() -> Self {
        Self {
            tunnels: AtomicU64::new(0),
            ack_offset: AtomicI64::new(-1),
            master_offset: AtomicI64::new(-1),
            transfer_bytes: AtomicU64::new(0),
            reports: AtomicU64::new(0),
            epoch: AtomicI64::new(-1),
            confirm_offset: AtomicI64::new(-1),
        }
    }
}

impl EndStats {
    /// Fresh counters.
    pub fn new(name: &str, side: Side) -> Self {
        Self {
            name: name.to_owned(),
            side,
            established: AtomicU64::new(0),
            active: AtomicU64::new(0),
            rejected: Mutex::new(BTreeMap::new()),
            slaves: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a refusal or abnormal close.
    pub fn reject(&self, reason: &'static str) {
        *self.rejected.lock().unwrap_or_else(PoisonError::into_inner).entry(reason).or_default() += 1;
    }

    /// Refusals so far for `reason`.
    pub fn rejected(&self, reason: &str) -> u64 {
        self.rejected.lock().unwrap_or_else(PoisonError::into_inner).get(reason).copied().unwrap_or(0)
    }

    /// The state of `slave`, created on first use. Only authenticated tunnels get here, so
    /// the table is bounded by the peers holding a key.
    pub fn slave(&self, slave: &str) -> Arc<SlaveStats> {
        let mut m = self.slaves.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(m.entry(slave.to_owned()).or_default())
    }
}

/// Families for every tunnel end.
pub fn families(ends: &[Arc<EndStats>]) -> Vec<Family> {
    let mut established =
        Family::counter("rmq_ha_guard_tunnels", "Tunnels established (first packet verified, relaying started).");
    let mut active = Family::gauge("rmq_ha_guard_tunnels_active", "Tunnels relaying now.");
    let mut rejected = Family::counter(
        "rmq_ha_guard_rejected",
        "Connections refused before relaying or closed by the guard, by reason (security events on the accept side).",
    );
    let mut connected = Family::gauge("rmq_ha_guard_slave_connected", "Tunnels open for this slave now.");
    let mut ack = Family::gauge("rmq_ha_guard_slave_ack_offset", "The slave's last reported commitlog offset.");
    let mut master = Family::gauge(
        "rmq_ha_guard_master_offset",
        "End of the last block the master sent this slave (phyOffset + bodySize).",
    );
    let mut lag = Family::gauge(
        "rmq_ha_guard_slave_lag_bytes",
        "Bytes the master has sent this slave that it has not acknowledged yet (0 when caught up).",
    );
    let mut transfer = Family::counter(
        "rmq_ha_guard_transfer_bytes",
        "Commitlog bytes sent to this slave; rate() is the replication rate.",
    );
    let mut reports = Family::counter("rmq_ha_guard_slave_reports", "Offset reports from this slave.");
    let mut epoch = Family::gauge(
        "rmq_ha_guard_master_epoch",
        "Epoch of the last block the master sent this slave (auto-switch HA; rises when a new master is elected).",
    );
    let mut confirm = Family::gauge(
        "rmq_ha_guard_confirm_offset",
        "Confirm offset the master last sent this slave (auto-switch HA): commitlog bytes every in-sync replica holds.",
    );
    #[allow(clippy::cast_precision_loss)]
    for e in ends {
        let end = || vec![("guard", e.name.clone()), ("side", e.side.as_str().to_owned())];
        established.push(end(), e.established.load(Ordering::Relaxed) as f64);
        active.push(end(), e.active.load(Ordering::Relaxed) as f64);
        for (reason, n) in e.rejected.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let mut l = end();
            l.push(("reason", (*reason).to_owned()));
            rejected.push(l, *n as f64);
        }
        let slaves = e.slaves.lock().unwrap_or_else(PoisonError::into_inner);
        for (slave, s) in slaves.iter() {
            let l = || {
                let mut l = end();
                l.push(("slave", slave.clone()));
                l
            };
            connected.push(l(), s.tunnels.load(Ordering::Relaxed) as f64);
            transfer.push(l(), s.transfer_bytes.load(Ordering::Relaxed) as f64);
            reports.push(l(), s.reports.load(Ordering::Relaxed) as f64);
            let (a, m) = (s.ack_offset.load(Ordering::Relaxed), s.master_offset.load(Ordering::Relaxed));
            if a >= 0 {
                ack.push(l(), a as f64);
            }
            if m >= 0 {
                master.push(l(), m as f64);
            }
            if a >= 0 && m >= 0 {
                lag.push(l(), (m - a).max(0) as f64);
            }
            let (ep, c) = (s.epoch.load(Ordering::Relaxed), s.confirm_offset.load(Ordering::Relaxed));
            if ep >= 0 {
                epoch.push(l(), ep as f64);
            }
            if c >= 0 {
                confirm.push(l(), c as f64);
            }
        }
    }
    vec![established, active, rejected, connected, ack, master, lag, transfer, reports, epoch, confirm]
}
