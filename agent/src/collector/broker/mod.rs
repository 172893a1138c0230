//! The broker collector: one cycle of requests to the local broker, then the work that builds
//! on them (the master's slaves, consumer clients, where groups read), mapped to families.

mod clients;
mod cold_reads;
mod families;
mod fetch;
mod latency;
mod schedule;
mod slaves;

pub use clients::{CALLS_IN_FLIGHT, ClientOptions};
pub use cold_reads::MAX_LOOKUPS;
pub use families::{FamilyOptions, families};
pub use fetch::{FetchOptions, Fetched, Identity, fetch_all};
pub use latency::PutLatency;
pub use slaves::{SlaveOffset, SlaveView};

use std::collections::BTreeMap;
use std::time::Duration;

use rmq_protocol::RequestCode;
use tokio::time::Instant;
use tracing::warn;

use crate::remoting::{Client, ClientError};
use rmq_runtime::metrics::Family;

/// The work after a cycle's own requests, and its limits.
#[derive(Debug, Clone)]
pub struct ExtraOptions {
    /// The name server to ask for the master's slaves when the broker names none itself.
    pub namesrv: Option<String>,
    /// Timeout of each request to a name server or a slave.
    pub peer_timeout: Duration,
    /// The cycle's time limit: that work stops at four fifths of it, counted from the cycle's
    /// start, so the cycle ends in time; what is not done waits for the next cycle.
    pub cycle_timeout: Duration,
    /// Requests in flight to the local broker at once.
    pub concurrency: usize,
    /// Consumer clients' statistics.
    pub clients: ClientOptions,
}

impl Default for ExtraOptions {
    fn default() -> Self {
        Self {
            namesrv: None,
            peer_timeout: Duration::from_secs(2),
            cycle_timeout: Duration::from_secs(10),
            concurrency: 8,
            clients: ClientOptions::default(),
        }
    }
}

/// Collector state kept across cycles.
#[derive(Debug)]
pub struct BrokerCollector {
    client: Client,
    fetch: FetchOptions,
    families: FamilyOptions,
    cluster_override: Option<String>,
    latency: PutLatency,
    /// The last identity seen, so `rocketmq_broker_up 0` keeps its labels while the broker is down.
    identity: Identity,
    /// Failed requests so far, by (code, kind): a counter.
    failures: BTreeMap<(RequestCode, &'static str), u64>,
    extras: ExtraOptions,
    slaves: slaves::Slaves,
    clients: clients::ClientStats,
    schedule: schedule::ScheduleProgress,
    reads: cold_reads::ReadDistance,
    /// The store directory the broker reported.
    pub store_dir: Option<String>,
}

impl BrokerCollector {
    /// A collector talking through `client`.
    pub fn new(client: Client, fetch: FetchOptions, families: FamilyOptions, cluster_override: Option<String>) -> Self {
        let identity = Identity { addr: client.addr().to_owned(), ..Identity::default() };
        let extras = ExtraOptions::default();
        Self {
            slaves: slaves::Slaves::new(client.config().clone(), None, extras.peer_timeout),
            clients: clients::ClientStats::new(extras.clients),
            schedule: schedule::ScheduleProgress::default(),
            reads: cold_reads::ReadDistance::default(),
            extras,
            client,
            fetch,
            families,
            cluster_override,
            latency: PutLatency::default(),
            identity,
            failures: BTreeMap::new(),
            store_dir: None,
        }
    }

    /// The work after each cycle's own requests: where to find the slaves, timeouts, and
    /// whether to ask consumer clients (and how many).
    pub fn with_extras(mut self, extras: ExtraOptions) -> Self {
        self.slaves = slaves::Slaves::new(self.client.config().clone(), extras.namesrv.clone(), extras.peer_timeout);
        self.clients = clients::ClientStats::new(extras.clients);
        self.fetch.clients = extras.clients.enabled;
        self.extras = extras;
        self
    }

    /// One cycle. On error the broker is down: only `rocketmq_broker_up 0` (and the failure
    /// counter) is published, so no stale values linger.
    pub async fn collect(&mut self) -> Result<Vec<Family>, ClientError> {
        let deadline = Instant::now() + self.extras.cycle_timeout * 4 / 5;
        let mut d = match fetch_all(&self.client, self.fetch).await {
            Ok(d) => d,
            Err(e) => {
                *self.failures.entry((RequestCode::GET_BROKER_RUNTIME_INFO, e.kind())).or_default() += 1;
                self.clients.forget();
                return Err(e);
            }
        };
        if let Some(c) = &self.cluster_override {
            d.identity.cluster.clone_from(c);
        }
        if d.identity.broker.is_empty() {
            // GET_BROKER_CONFIG failed; keep what we knew.
            d.identity = Identity { addr: d.identity.addr.clone(), ..self.identity.clone() };
        }
        let master =
            !d.identity.broker.is_empty() && d.identity.broker_id == 0 && d.ha.as_ref().is_none_or(|h| h.master);
        let (mut read_failures, mut client_failures) = (Vec::new(), Vec::new());
        let namesrv = d.properties.get_ignore_case("namesrvAddr");
        let (slaves, reads, ()) = tokio::join!(
            async {
                if !master {
                    return SlaveView::default();
                }
                let fetch = self.slaves.fetch(&self.client, &d.identity.broker, namesrv, d.ha.as_ref());
                tokio::time::timeout_at(deadline, fetch).await.unwrap_or_else(|_| {
                    warn!("finding the slaves and their offsets took the whole cycle budget; abandoned");
                    SlaveView::default()
                })
            },
            self.reads.collect(&self.client, &d, self.extras.concurrency, deadline, &mut read_failures),
            async {
                if self.clients.enabled() {
                    self.clients.refresh(&self.client, &d.connections, deadline, &mut client_failures).await;
                }
            },
        );
        if let Some(kind) = slaves.master_error {
            d.failures.push((RequestCode::GET_BROKER_RUNTIME_INFO, kind));
        }
        d.slaves = slaves;
        d.failures.extend(read_failures);
        d.failures.extend(client_failures);
        for (code, kind) in &d.failures {
            *self.failures.entry((*code, kind)).or_default() += 1;
        }
        if !d.failures.is_empty() {
            warn!(failures = d.failures.len(), first = ?d.failures.first(), "some broker requests failed this cycle");
        }
        self.identity = d.identity.clone();
        self.store_dir.clone_from(&d.identity.store_dir);
        let mut fams = families(&d, &mut self.latency, self.families);
        fams.extend(reads);
        fams.extend(self.schedule.families(&d));
        if self.clients.enabled() {
            fams.extend(self.clients.families(&d.identity, d.producers.as_ref()));
        }
        fams.extend(self.slaves.failure_families());
        fams.push(self.failure_family());
        Ok(fams)
    }

    /// The families to publish when the broker is down.
    pub fn down_families(&self) -> Vec<Family> {
        let l = vec![
            ("cluster", self.cluster_override.clone().unwrap_or_else(|| self.identity.cluster.clone())),
            ("broker", self.identity.broker.clone()),
            ("brokerIP", self.identity.addr.clone()),
        ];
        vec![
            Family::gauge("rocketmq_broker_up", "1 if the local broker answered this cycle.").with(l, 0.0),
            self.failure_family(),
        ]
    }

    fn failure_family(&self) -> Family {
        let mut f = Family::counter(
            "rmq_agent_broker_request_failures",
            "Requests to the local broker that failed, by code and reason.",
        );
        for ((code, kind), n) in &self.failures {
            #[allow(clippy::cast_precision_loss)]
            f.push(vec![("code", code.to_string()), ("reason", (*kind).to_owned())], *n as f64);
        }
        f
    }
}
