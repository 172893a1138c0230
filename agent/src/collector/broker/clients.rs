//! Consumer clients' own statistics and producer instances per group, under rocketmq-exporter's
//! names: `rocketmq_client_*` from GET_CONSUMER_RUNNING_INFO (307), which the broker relays to
//! one client and answers with the client's reply, and `rocketmq_producer_count` from
//! GET_ALL_PRODUCER_INFO (328, one request, answered by the broker alone).
//!
//! Off by default: each 307 makes the broker call a client and hold one of its admin threads
//! until the client answers (a Java broker waits up to 10 s). So at most `per_cycle` clients
//! are asked per cycle — in turn, continuing where the last cycle stopped — each for at most
//! `timeout`, [`CALLS_IN_FLIGHT`] at once, and none after the cycle's deadline. A client's
//! answer is shown until it is asked again; a client that fails, or leaves its group, has no
//! series.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt as _;
use rmq_protocol::RequestCode;
use rmq_protocol::body::{ConsumeStatus, ConsumerConnection, ConsumerRunningInfo, FromBody as _, ProducerTableInfo};
use rmq_protocol::request::{CommandHeader as _, GetConsumerRunningInfoRequestHeader};
use tokio::time::Instant;
use tracing::debug;

use super::fetch::Identity;
use crate::remoting::{Client, ClientError};
use rmq_runtime::metrics::{Family, Labels};

/// GET_CONSUMER_RUNNING_INFO requests in flight at once: few, because each holds a broker
/// admin thread while the client answers.
pub const CALLS_IN_FLIGHT: usize = 4;

/// Whether and how much to ask clients.
#[derive(Debug, Clone, Copy)]
pub struct ClientOptions {
    /// Ask at all (also fetches GET_ALL_PRODUCER_INFO).
    pub enabled: bool,
    /// Clients asked per cycle at most.
    pub per_cycle: usize,
    /// How long one client may take to answer.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self { enabled: false, per_cycle: 32, timeout: Duration::from_secs(3) }
    }
}

/// A client: (group, clientId).
type Key = (String, String);

/// A client's answer to GET_CONSUMER_RUNNING_INFO.
type Asked = Result<ConsumerRunningInfo, ClientError>;

#[derive(Debug, Clone, PartialEq)]
struct Answer {
    client_addr: String,
    status: BTreeMap<String, ConsumeStatus>,
}

/// The last answer of every online client that has answered, and whose turn is next.
#[derive(Debug)]
pub(super) struct ClientStats {
    opts: ClientOptions,
    answers: BTreeMap<Key, Answer>,
    last_asked: Option<Key>,
}

impl ClientStats {
    /// Nothing asked yet.
    pub(super) fn new(opts: ClientOptions) -> Self {
        Self { opts, answers: BTreeMap::new(), last_asked: None }
    }

    /// Drops every answer (the broker went away: its clients' figures are not kept).
    pub(super) fn forget(&mut self) {
        self.answers.clear();
    }

    /// Whether clients are asked at all.
    pub(super) fn enabled(&self) -> bool {
        self.opts.enabled
    }

    /// Asks the next clients in turn (from the groups' connection lists), until `per_cycle`
    /// have been asked or `deadline` passes. Failed requests are added to `failures`.
    pub(super) async fn refresh(
        &mut self,
        c: &Client,
        connections: &BTreeMap<String, Option<ConsumerConnection>>,
        deadline: Instant,
        failures: &mut Vec<(RequestCode, &'static str)>,
    ) {
        let online: BTreeMap<Key, String> = connections
            .iter()
            .filter_map(|(g, conn)| Some((g, conn.as_ref()?)))
            .flat_map(|(g, conn)| {
                conn.connection_set.iter().map(move |x| ((g.clone(), x.client_id.clone()), x.client_addr.clone()))
            })
            .collect();
        self.answers.retain(|k, _| online.contains_key(k));
        let window = next_window(&online, self.last_asked.as_ref(), self.opts.per_cycle);
        let timeout = self.opts.timeout;
        // (place in the window, client, its address, the answer if it was asked in time)
        let results: Vec<(usize, Key, String, Option<Asked>)> =
            futures_util::stream::iter(window.into_iter().enumerate().map(|(i, (key, addr))| async move {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return (i, key, addr, None);
                }
                let h = GetConsumerRunningInfoRequestHeader {
                    consumer_group: key.0.clone(),
                    client_id: key.1.clone(),
                    jstack_enable: Some("false".into()),
                };
                let code = RequestCode::GET_CONSUMER_RUNNING_INFO;
                let r = c
                    .request(code, Some(h.to_ext_fields()), &[], Some(timeout.min(left)))
                    .await
                    .and_then(|resp| crate::remoting::success(code, resp))
                    .and_then(|resp| {
                        ConsumerRunningInfo::decode(&resp.body)
                            .map_err(|cause| ClientError::Body { request: code, cause })
                    });
                (i, key, addr, Some(r))
            }))
            .buffer_unordered(CALLS_IN_FLIGHT)
            .collect()
            .await;
        let mut asked: Option<(usize, Key)> = None;
        for (i, key, addr, r) in results {
            let Some(r) = r else { continue };
            if asked.as_ref().is_none_or(|(j, _)| i > *j) {
                asked = Some((i, key.clone()));
            }
            match r {
                Ok(info) => {
                    self.answers.insert(key, Answer { client_addr: addr, status: info.status_table });
                }
                Err(e) => {
                    debug!(group = %key.0, client = %key.1, error = %e, "client did not answer GET_CONSUMER_RUNNING_INFO");
                    failures.push((RequestCode::GET_CONSUMER_RUNNING_INFO, e.kind()));
                    self.answers.remove(&key);
                }
            }
        }
        if let Some((_, k)) = asked {
            self.last_asked = Some(k);
        }
    }

    /// `rocketmq_client_*` from the answers, and `rocketmq_producer_count` from `producers`.
    pub(super) fn families(&self, id: &Identity, producers: Option<&ProducerTableInfo>) -> Vec<Family> {
        let mut fail_count = Family::gauge(
            "rocketmq_client_consume_fail_msg_count",
            "Messages the client failed to consume in its last hour (GET_CONSUMER_RUNNING_INFO).",
        );
        let mut fail_tps =
            Family::gauge("rocketmq_client_consume_fail_msg_tps", "Messages the client failed to consume per second.");
        let mut ok_tps = Family::gauge(
            "rocketmq_client_consume_ok_msg_tps",
            "Messages the client consumed successfully per second.",
        );
        let mut rt = Family::gauge("rocketmq_client_consume_rt", "The client's mean consume time per message, ms.");
        let mut pull_rt = Family::gauge("rocketmq_client_consumer_pull_rt", "The client's mean pull round trip, ms.");
        let mut pull_tps = Family::gauge("rocketmq_client_consumer_pull_tps", "Messages the client pulled per second.");
        for ((group, client_id), a) in &self.answers {
            for (topic, s) in &a.status {
                let l: Labels = vec![
                    ("cluster", id.cluster.clone()),
                    ("broker", id.broker.clone()),
                    ("clientAddr", a.client_addr.clone()),
                    ("clientId", client_id.clone()),
                    ("group", group.clone()),
                    ("topic", topic.clone()),
                ];
                #[allow(clippy::cast_precision_loss)]
                fail_count.push(l.clone(), s.consume_failed_msgs as f64);
                for (f, v) in [
                    (&mut fail_tps, s.consume_failed_tps),
                    (&mut ok_tps, s.consume_ok_tps),
                    (&mut rt, s.consume_rt),
                    (&mut pull_rt, s.pull_rt),
                    (&mut pull_tps, s.pull_tps),
                ] {
                    if let Some(v) = v {
                        f.push(l.clone(), v);
                    }
                }
            }
        }
        let mut out = vec![fail_count, fail_tps, ok_tps, rt, pull_rt, pull_tps];
        if let Some(p) = producers {
            let mut count = Family::gauge(
                "rocketmq_producer_count",
                "Producer instances of the group connected to this broker (GET_ALL_PRODUCER_INFO).",
            );
            for (group, list) in &p.data {
                #[allow(clippy::cast_precision_loss)]
                count.push(
                    vec![("cluster", id.cluster.clone()), ("broker", id.broker.clone()), ("group", group.clone())],
                    list.len() as f64,
                );
            }
            out.push(count);
        }
        out
    }
}

/// Up to `n` clients of `online` (in key order, with their addresses), starting after `last`
/// and wrapping around, so successive cycles ask every client in turn.
fn next_window(online: &BTreeMap<Key, String>, last: Option<&Key>, n: usize) -> Vec<(Key, String)> {
    let after =
        last.map_or(0, |k| online.range::<Key, _>((std::ops::Bound::Excluded(k), std::ops::Bound::Unbounded)).count());
    let skip = online.len() - after;
    online.iter().cycle().skip(skip).take(n.min(online.len())).map(|(k, a)| (k.clone(), a.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmq_protocol::body::ProducerInfo;
    use rmq_runtime::metrics::Sample;

    fn key(g: &str, c: &str) -> Key {
        (g.to_owned(), c.to_owned())
    }

    #[test]
    fn windows_take_every_client_in_turn() {
        let online: BTreeMap<Key, String> =
            ["a", "b", "c", "d", "e"].iter().map(|c| (key("G", c), format!("{c}-addr"))).collect();
        let ids = |w: Vec<(Key, String)>| w.into_iter().map(|(k, _)| k.1).collect::<Vec<_>>();
        assert_eq!(ids(next_window(&online, None, 2)), ["a", "b"]);
        assert_eq!(ids(next_window(&online, Some(&key("G", "b")), 2)), ["c", "d"]);
        assert_eq!(ids(next_window(&online, Some(&key("G", "d")), 2)), ["e", "a"]);
        // The last one asked has left: continue after where it was.
        assert_eq!(ids(next_window(&online, Some(&key("G", "bb")), 2)), ["c", "d"]);
        assert_eq!(ids(next_window(&online, Some(&key("G", "e")), 9)), ["a", "b", "c", "d", "e"]);
        assert!(next_window(&BTreeMap::new(), None, 3).is_empty());
    }

    #[test]
    fn families_carry_the_exporter_labels_and_skip_unknown_rates() {
        let mut s = ClientStats::new(ClientOptions { enabled: true, ..ClientOptions::default() });
        let status = ConsumeStatus {
            pull_rt: Some(1.5),
            pull_tps: Some(10.0),
            consume_rt: None,
            consume_ok_tps: Some(9.0),
            consume_failed_tps: Some(0.5),
            consume_failed_msgs: 7,
        };
        s.answers.insert(
            key("G1", "10.0.0.9@1"),
            Answer { client_addr: "10.0.0.9:5000".into(), status: [("T1".to_owned(), status)].into_iter().collect() },
        );
        let producers = ProducerTableInfo {
            data: [("PG".to_owned(), vec![ProducerInfo::default(), ProducerInfo::default()])].into_iter().collect(),
        };
        let id = Identity { cluster: "C".into(), broker: "broker-a".into(), ..Identity::default() };
        let fams = s.families(&id, Some(&producers));
        let one = |name: &str| {
            let f = fams.iter().find(|f| f.name == name).unwrap();
            f.samples
                .iter()
                .map(|x| match x {
                    Sample::Value(l, v) => (l.clone(), *v),
                    _ => panic!(),
                })
                .collect::<Vec<_>>()
        };
        let ok = one("rocketmq_client_consume_ok_msg_tps");
        let keys: Vec<&str> = ok[0].0.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["cluster", "broker", "clientAddr", "clientId", "group", "topic"]);
        assert_eq!(ok[0].1, 9.0);
        assert_eq!(one("rocketmq_client_consume_fail_msg_count")[0].1, 7.0);
        assert!(one("rocketmq_client_consume_rt").is_empty(), "an unknown (NaN) rate has no sample");
        assert_eq!(one("rocketmq_producer_count")[0].1, 2.0);
    }
}
