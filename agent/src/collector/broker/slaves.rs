//! How far each slave of the local master is behind it: `rocketmq_broker_commitlog_diff`,
//! labelled with the slave's broker address (`brokerIP`) as rocketmq-exporter does. The slaves
//! are the local broker name's non-zero ids in the name server's cluster data
//! (GET_BROKER_CLUSTER_INFO). A slave the master's own GET_BROKER_HA_STATUS (5.x) reports is
//! taken from there; every other slave (all of them on 4.x) is asked for its
//! GET_BROKER_RUNTIME_INFO, next to a fresh read of the master's, and the difference of the two
//! `commitLogMaxOffset`s is the value. One request per such slave per cycle, each under a
//! timeout; a slave that does not answer is counted and has no series that cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::future::join_all;
use rmq_protocol::RequestCode;
use rmq_protocol::body::{BrokerRuntimeInfo, ClusterInfo, FromBody as _, HaConnectionInfo, HaRuntimeInfo};
use rmq_protocol::error::BodyError;
use tracing::warn;

use super::fetch::Identity;
use crate::remoting::{Client, ClientConfig, ClientError};
use rmq_runtime::metrics::Family;

/// A slave of the local broker name, as this cycle saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaveOffset {
    /// Its broker address as registered (`brokerIP1:listenPort`).
    pub addr: String,
    /// `commitLogMaxOffset` from its own runtime info, when it was asked and answered.
    pub max_offset: Option<i64>,
}

/// What one cycle learned about the local master's slaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlaveView {
    /// The slaves (empty when the broker is not a master or no name server answered).
    pub slaves: Vec<SlaveOffset>,
    /// The master's `commitLogMaxOffset`, read together with the slaves' (when any was asked).
    pub master_max_offset: Option<i64>,
    /// Why that read failed, if it did (the cycle's own runtime info is used instead).
    pub master_error: Option<&'static str>,
}

/// Finds the slaves and asks those GET_BROKER_HA_STATUS does not cover. Keeps one connection
/// per name server and per slave.
#[derive(Debug)]
pub(super) struct Slaves {
    template: ClientConfig,
    timeout: Duration,
    configured_namesrv: Option<String>,
    namesrv_clients: BTreeMap<String, Client>,
    slave_clients: BTreeMap<String, Client>,
    slave_requests: BTreeMap<String, u64>,
    slave_failures: BTreeMap<(String, &'static str), u64>,
    namesrv_failures: BTreeMap<(String, &'static str), u64>,
    warned_no_namesrv: bool,
}

impl Slaves {
    /// Peers are dialled like the local broker (`template`: header type, ACL account) with
    /// `timeout` for connecting and for each request. `configured_namesrv` is asked when the
    /// broker does not name its own name servers.
    pub(super) fn new(template: ClientConfig, configured_namesrv: Option<String>, timeout: Duration) -> Self {
        Self {
            template,
            timeout,
            configured_namesrv,
            namesrv_clients: BTreeMap::new(),
            slave_clients: BTreeMap::new(),
            slave_requests: BTreeMap::new(),
            slave_failures: BTreeMap::new(),
            namesrv_failures: BTreeMap::new(),
            warned_no_namesrv: false,
        }
    }

    /// A peer client from `map` (one of ours), made on first use.
    fn peer(template: &ClientConfig, timeout: Duration, map: &mut BTreeMap<String, Client>, addr: &str) -> Client {
        map.entry(addr.to_owned())
            .or_insert_with(|| {
                let mut cfg = template.clone();
                cfg.addr = addr.to_owned();
                cfg.connect_timeout = timeout;
                cfg.request_timeout = timeout;
                Client::new(cfg)
            })
            .clone()
    }

    /// One cycle for the master `broker_name` (reached through `master`). `broker_namesrv` is
    /// the broker's own `namesrvAddr` (`;`-separated); `ha` is this cycle's 907 answer.
    pub(super) async fn fetch(
        &mut self,
        master: &Client,
        broker_name: &str,
        broker_namesrv: Option<&str>,
        ha: Option<&HaRuntimeInfo>,
    ) -> SlaveView {
        let Some(cluster) = self.cluster_info(broker_namesrv).await else { return SlaveView::default() };
        let addrs: Vec<String> = cluster
            .broker_addr_table
            .get(broker_name)
            .map(|b| b.broker_addrs.iter().filter(|(id, _)| **id != 0).map(|(_, a)| a.clone()).collect())
            .unwrap_or_default();
        let listed: BTreeSet<&String> = addrs.iter().collect();
        self.slave_failures.retain(|(a, _), _| listed.contains(a));
        self.slave_requests.retain(|a, _| listed.contains(a));
        self.slave_clients.retain(|a, _| listed.contains(a));
        let covered = ha.filter(|h| h.master).map(|h| match_ha(&addrs, h)).unwrap_or_default();
        let ask: Vec<String> = addrs.iter().filter(|a| !covered.contains_key(*a)).cloned().collect();
        let mut view = SlaveView {
            slaves: addrs.iter().map(|a| SlaveOffset { addr: a.clone(), max_offset: None }).collect(),
            ..SlaveView::default()
        };
        if ask.is_empty() {
            return view;
        }
        for a in &ask {
            *self.slave_requests.entry(a.clone()).or_default() += 1;
        }
        let timeout = self.timeout;
        let slave_clients: Vec<(String, Client)> =
            ask.iter().map(|a| (a.clone(), Self::peer(&self.template, timeout, &mut self.slave_clients, a))).collect();
        let (master_max, answers) = tokio::join!(
            max_offset(master, timeout),
            join_all(slave_clients.iter().map(|(a, c)| async move { (a, max_offset(c, timeout).await) }))
        );
        match master_max {
            Ok(m) => view.master_max_offset = Some(m),
            Err(e) => {
                warn!(error = %e, "the master's runtime info for the slaves' diff failed; using the cycle's");
                view.master_error = Some(e.kind());
            }
        }
        for (addr, r) in answers {
            match r {
                Ok(max) => {
                    if let Some(s) = view.slaves.iter_mut().find(|s| &s.addr == addr) {
                        s.max_offset = Some(max);
                    }
                }
                Err(e) => {
                    warn!(slave = %addr, error = %e, "slave did not answer GET_BROKER_RUNTIME_INFO; no commitlog diff for it this cycle");
                    *self.slave_failures.entry((addr.clone(), e.kind())).or_default() += 1;
                }
            }
        }
        view
    }

    /// The cluster data from the first name server that answers: the broker's own list, then
    /// the configured one.
    async fn cluster_info(&mut self, broker_namesrv: Option<&str>) -> Option<ClusterInfo> {
        let mut list: Vec<String> = Vec::new();
        for a in broker_namesrv.unwrap_or_default().split(';').map(str::trim).chain(self.configured_namesrv.as_deref())
        {
            if !a.is_empty() && !list.iter().any(|x| x == a) {
                list.push(a.to_owned());
            }
        }
        if list.is_empty() {
            if !self.warned_no_namesrv {
                warn!("the broker names no name server and [namesrv] addr is unset: no rocketmq_broker_commitlog_diff");
                self.warned_no_namesrv = true;
            }
            return None;
        }
        for ns in list {
            let c = Self::peer(&self.template, self.timeout, &mut self.namesrv_clients, &ns);
            match c.fetch::<ClusterInfo>(RequestCode::GET_BROKER_CLUSTER_INFO, None).await {
                Ok(ci) => return Some(ci),
                Err(e) => {
                    warn!(namesrv = %ns, error = %e, "name server did not answer GET_BROKER_CLUSTER_INFO");
                    *self.namesrv_failures.entry((ns, e.kind())).or_default() += 1;
                }
            }
        }
        None
    }

    /// `rmq_agent_slave_requests_total{slave}`, `rmq_agent_slave_request_failures_total{slave,reason}`
    /// and `rmq_agent_namesrv_request_failures_total{namesrv,reason}`.
    pub(super) fn failure_families(&self) -> Vec<Family> {
        let mut requests = Family::counter(
            "rmq_agent_slave_requests",
            "Runtime-info requests sent to a slave of the local master (slaves its HA status names are not asked).",
        );
        for (addr, n) in &self.slave_requests {
            #[allow(clippy::cast_precision_loss)]
            requests.push(vec![("slave", addr.clone())], *n as f64);
        }
        let mut slave = Family::counter(
            "rmq_agent_slave_request_failures",
            "Runtime-info requests to a slave of the local master that failed, by slave and reason.",
        );
        for ((addr, kind), n) in &self.slave_failures {
            #[allow(clippy::cast_precision_loss)]
            slave.push(vec![("slave", addr.clone()), ("reason", (*kind).to_owned())], *n as f64);
        }
        let mut ns = Family::counter(
            "rmq_agent_namesrv_request_failures",
            "Cluster-data requests to a name server (to find the local master's slaves) that failed.",
        );
        for ((addr, kind), n) in &self.namesrv_failures {
            #[allow(clippy::cast_precision_loss)]
            ns.push(vec![("namesrv", addr.clone()), ("reason", (*kind).to_owned())], *n as f64);
        }
        vec![requests, slave, ns]
    }
}

/// A broker's `commitLogMaxOffset`, asked with `timeout`.
async fn max_offset(c: &Client, timeout: Duration) -> Result<i64, ClientError> {
    let code = RequestCode::GET_BROKER_RUNTIME_INFO;
    let resp = crate::remoting::success(code, c.request(code, None, &[], Some(timeout)).await?)?;
    let info = BrokerRuntimeInfo::decode(&resp.body).map_err(|cause| ClientError::Body { request: code, cause })?;
    info.i64("commitLogMaxOffset")
        .ok_or(ClientError::Body { request: code, cause: BodyError::Field("commitLogMaxOffset") })
}

/// The host part of an address as Java prints socket addresses: `"/10.0.0.2:40000"`,
/// `"name/10.0.0.2:40000"`, `"10.0.0.2:10911"`, `"[::1]:10911"`.
fn host_of(addr: &str) -> &str {
    let a = addr.rsplit('/').next().unwrap_or(addr);
    let host = a.rsplit_once(':').map_or(a, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// How many of `addrs` are on each host.
fn count_hosts<'a>(addrs: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut m = BTreeMap::new();
    for a in addrs {
        *m.entry(host_of(a)).or_default() += 1;
    }
    m
}

/// The HA connections of `ha` that name a slave in `slaves`: the master sees each slave by its
/// HA connection's peer address (the slave's IP, an ephemeral port), so a connection is matched
/// to the one slave whose broker address has that IP — only where the IP is unambiguous on
/// both sides (one slave, one connection). Slaves left unmatched (several on one IP, a NAT or
/// proxy in between) are asked directly.
fn match_ha<'h>(slaves: &[String], ha: &'h HaRuntimeInfo) -> BTreeMap<String, &'h HaConnectionInfo> {
    let slave_hosts = count_hosts(slaves.iter().map(String::as_str));
    let conn_hosts = count_hosts(ha.ha_connection_info.iter().map(|c| c.addr.as_str()));
    slaves
        .iter()
        .filter_map(|s| {
            let h = host_of(s);
            if slave_hosts.get(h) != Some(&1) || conn_hosts.get(h) != Some(&1) {
                return None;
            }
            let c = ha.ha_connection_info.iter().find(|c| host_of(&c.addr) == h)?;
            Some((s.clone(), c))
        })
        .collect()
}

/// `rocketmq_broker_commitlog_diff{cluster,brokerIP,broker}`: one series per slave whose lag is
/// known this cycle, from GET_BROKER_HA_STATUS where it names the slave, else the master's
/// `commitLogMaxOffset` (`runtime_max` when no fresh read) minus the slave's.
pub(crate) fn commitlog_diff(
    id: &Identity,
    runtime_max: Option<i64>,
    view: &SlaveView,
    ha: Option<&HaRuntimeInfo>,
) -> Family {
    let mut f = Family::gauge(
        "rocketmq_broker_commitlog_diff",
        "rocketmq-exporter compatible: the master's commitlog max offset minus the slave's (brokerIP), bytes.",
    );
    let addrs: Vec<String> = view.slaves.iter().map(|s| s.addr.clone()).collect();
    let matched = ha.filter(|h| h.master).map(|h| match_ha(&addrs, h)).unwrap_or_default();
    let master = view.master_max_offset.or(runtime_max);
    for s in &view.slaves {
        let diff = match (matched.get(&s.addr), master, s.max_offset) {
            (Some(c), _, _) => Some(c.diff),
            (None, Some(m), Some(x)) => Some(m - x),
            _ => None,
        };
        if let Some(v) = diff {
            #[allow(clippy::cast_precision_loss)]
            f.push(
                vec![("cluster", id.cluster.clone()), ("brokerIP", s.addr.clone()), ("broker", id.broker.clone())],
                v as f64,
            );
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmq_runtime::metrics::Sample;

    fn conn(addr: &str, diff: i64) -> HaConnectionInfo {
        HaConnectionInfo { addr: addr.into(), diff, ..HaConnectionInfo::default() }
    }

    fn values(f: &Family) -> Vec<(String, f64)> {
        f.samples
            .iter()
            .filter_map(|s| match s {
                Sample::Value(l, v) => Some((l.iter().find(|(k, _)| *k == "brokerIP")?.1.clone(), *v)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn hosts_as_java_prints_them() {
        assert_eq!(host_of("/10.0.0.2:40000"), "10.0.0.2");
        assert_eq!(host_of("slave-1/10.0.0.2:40000"), "10.0.0.2");
        assert_eq!(host_of("10.0.0.2:10911"), "10.0.0.2");
        assert_eq!(host_of("[::1]:10911"), "::1");
        assert_eq!(host_of("/[fe80::1]:1"), "fe80::1");
    }

    #[test]
    fn ha_connections_match_slaves_only_where_the_ip_is_unambiguous() {
        let slaves: Vec<String> =
            ["10.0.0.2:10911", "10.0.0.3:10911", "10.0.0.3:20911", "10.0.0.4:10911"].map(String::from).into();
        let ha = HaRuntimeInfo {
            master: true,
            ha_connection_info: vec![
                conn("/10.0.0.2:40000", 5),
                conn("/10.0.0.3:40001", 6),
                conn("/10.0.0.3:40002", 7),
                conn("/192.168.0.9:40003", 8),
            ],
            ..HaRuntimeInfo::default()
        };
        let m = match_ha(&slaves, &ha);
        assert_eq!(m.keys().collect::<Vec<_>>(), ["10.0.0.2:10911"]);
        assert_eq!(m["10.0.0.2:10911"].diff, 5);
    }

    #[test]
    fn diff_from_ha_status_where_it_names_the_slave_else_from_offsets() {
        let id = Identity { cluster: "C".into(), broker: "broker-a".into(), ..Identity::default() };
        let view = SlaveView {
            slaves: vec![
                SlaveOffset { addr: "10.0.0.2:10911".into(), max_offset: None },
                SlaveOffset { addr: "10.0.0.5:10911".into(), max_offset: Some(900) },
                SlaveOffset { addr: "10.0.0.6:10911".into(), max_offset: None },
            ],
            master_max_offset: Some(1000),
            master_error: None,
        };
        let ha =
            HaRuntimeInfo { master: true, ha_connection_info: vec![conn("/10.0.0.2:1", 64)], ..Default::default() };
        let f = commitlog_diff(&id, Some(999), &view, Some(&ha));
        // 10.0.0.6 did not answer: no series, not a stale one.
        assert_eq!(values(&f), [("10.0.0.2:10911".to_owned(), 64.0), ("10.0.0.5:10911".to_owned(), 100.0)]);
        // 4.x: no HA status; without a fresh master read the cycle's runtime info is used.
        let view = SlaveView { master_max_offset: None, ..view };
        assert_eq!(values(&commitlog_diff(&id, Some(999), &view, None)), [("10.0.0.5:10911".to_owned(), 99.0)]);
        // A slave's HA status (master: false) matches nothing.
        let slave_view = HaRuntimeInfo { master: false, ..ha };
        assert_eq!(values(&commitlog_diff(&id, Some(999), &view, Some(&slave_view))).len(), 1);
    }
}
