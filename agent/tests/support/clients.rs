//! Real clients for the agent's integration tests: RocketMQ-Rust's `rocketmq-client-rust`
//! producers and push consumers that know only a name server, the way applications reach a
//! broker.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rocketmq_client_rust::{
    ClientResult, ClientRuntime, ClientRuntimeConfig, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus,
    DefaultMQProducer, DefaultMQPushConsumer, MQPushConsumer, MessageListenerConcurrently,
};
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message;

/// The client library's runtime; producers and consumers made from it stop working once it
/// is dropped.
pub struct Clients {
    rt: Arc<ClientRuntime>,
    _telemetry: rocketmq_observability::TelemetryRuntimeGuard,
    _owner: rocketmq_runtime::RuntimeOwner,
}

impl Clients {
    /// Starts the runtime, its threads named after `thread_name`.
    pub fn start(thread_name: &str) -> Clients {
        let owner = rocketmq_runtime::RuntimeOwner::plan(rocketmq_runtime::RuntimeConfig {
            thread_name: thread_name.into(),
            ..Default::default()
        })
        .unwrap()
        .build()
        .unwrap();
        let telemetry =
            rocketmq_observability::install_global(&rocketmq_observability::TelemetryBootstrapConfig::default())
                .unwrap();
        let rt = ClientRuntime::try_new(
            owner.root_context().component("client"),
            ClientRuntimeConfig::default(),
            telemetry.handle(),
        )
        .unwrap();
        Clients { rt, _telemetry: telemetry, _owner: owner }
    }

    /// A started producer in `group`; `vip` sends over the broker's VIP port (otherwise the
    /// library's default holds).
    pub async fn producer(&self, group: &str, ns: &str, vip: bool) -> DefaultMQProducer {
        let mut p = DefaultMQProducer::builder(Arc::clone(&self.rt))
            .producer_group(group.to_string())
            .name_server_addr(ns.to_string())
            .build();
        if vip {
            p.set_send_message_with_vip_channel(true);
        }
        p.start().await.unwrap();
        p
    }

    /// A started push consumer in `group` on every message of `topic`, and the number of
    /// messages it has consumed so far.
    pub async fn consumer(&self, group: &str, ns: &str, topic: &str) -> (DefaultMQPushConsumer, Arc<AtomicUsize>) {
        let consumed = Arc::new(AtomicUsize::new(0));
        let mut c = DefaultMQPushConsumer::builder(Arc::clone(&self.rt))
            .consumer_group(group.to_string())
            .name_server_addr(ns.to_string())
            .build();
        c.subscribe(topic, "*").await.unwrap();
        c.register_message_listener_concurrently(Counter(Arc::clone(&consumed)));
        c.start().await.unwrap();
        (c, consumed)
    }
}

/// Sends `n` messages (tag `T`, bodies `m0`, `m1`, …) to `topic`, each answered with a result.
pub async fn send(producer: &mut DefaultMQProducer, topic: &str, n: usize) {
    for i in 0..n {
        let m = Message::builder().topic(topic).tags("T").body_slice(format!("m{i}").as_bytes()).build_unchecked();
        assert!(producer.send_with_timeout(m, 10_000).await.unwrap().is_some(), "send returned no result");
    }
}

/// Counts what it consumes, and accepts it.
struct Counter(Arc<AtomicUsize>);

impl MessageListenerConcurrently for Counter {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        self.0.fetch_add(msgs.len(), Ordering::SeqCst);
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}
