//! The broker collector: one cycle of requests to the local broker, mapped to families.

mod families;
mod fetch;
mod latency;

pub use families::{FamilyOptions, families};
pub use fetch::{FetchOptions, Fetched, Identity, fetch_all};
pub use latency::PutLatency;

use std::collections::BTreeMap;

use rmq_protocol::RequestCode;
use tracing::warn;

use crate::remoting::{Client, ClientError};
use rmq_runtime::metrics::Family;

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
    /// The store directory the broker reported.
    pub store_dir: Option<String>,
}

impl BrokerCollector {
    /// A collector talking through `client`.
    pub fn new(client: Client, fetch: FetchOptions, families: FamilyOptions, cluster_override: Option<String>) -> Self {
        let identity = Identity { addr: client.addr().to_owned(), ..Identity::default() };
        Self {
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

    /// One cycle. On error the broker is down: only `rocketmq_broker_up 0` (and the failure
    /// counter) is published, so no stale values linger.
    pub async fn collect(&mut self) -> Result<Vec<Family>, ClientError> {
        match fetch_all(&self.client, self.fetch).await {
            Ok(mut d) => {
                if let Some(c) = &self.cluster_override {
                    d.identity.cluster.clone_from(c);
                }
                if d.identity.broker.is_empty() {
                    // GET_BROKER_CONFIG failed; keep what we knew.
                    d.identity = Identity { addr: d.identity.addr.clone(), ..self.identity.clone() };
                }
                for (code, kind) in &d.failures {
                    *self.failures.entry((*code, kind)).or_default() += 1;
                }
                if !d.failures.is_empty() {
                    warn!(failures = d.failures.len(), first = ?d.failures.first(), "some broker requests failed this cycle");
                }
                self.identity = d.identity.clone();
                self.store_dir.clone_from(&d.identity.store_dir);
                let mut fams = families(&d, &mut self.latency, self.families);
                fams.push(self.failure_family());
                Ok(fams)
            }
            Err(e) => {
                *self.failures.entry((RequestCode::GET_BROKER_RUNTIME_INFO, e.kind())).or_default() += 1;
                Err(e)
            }
        }
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
