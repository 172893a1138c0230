//! Broker state tests set up often, made with plain protocol calls ([`crate::wire`]).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::ensure;
use rmq_protocol::request::{
    CommandHeader as _, CreateTopicRequestHeader, SendMessageRequestHeaderV2, UpdateConsumerOffsetRequestHeader,
    subscription_group_body,
};
use rmq_protocol::{Header, RequestCode, ResponseCode, SerializeType};

use crate::wire;

const TIMEOUT: Duration = Duration::from_secs(10);

fn ok(broker: SocketAddr, header: &Header, body: &[u8]) -> anyhow::Result<()> {
    let (r, _) = wire::call(broker, header, SerializeType::JSON, body, TIMEOUT)?;
    ensure!(r.response_code() == ResponseCode::SUCCESS, "{:?} refused: {:?}", RequestCode(header.code), r.remark);
    Ok(())
}

/// A one-queue `topic` with `sent` messages and a subscription `group` that has committed
/// offset `consumed`: its lag is `sent - consumed`.
pub fn lagging_group(broker: SocketAddr, topic: &str, group: &str, sent: usize, consumed: usize) -> anyhow::Result<()> {
    ok(broker, &CreateTopicRequestHeader::new(topic, 1).to_header(1), &[])?;
    ok(broker, &Header::request(RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 2), &subscription_group_body(group))?;
    for i in 0..sent {
        let h = SendMessageRequestHeaderV2 {
            producer_group: "itest-producer".into(),
            topic: topic.into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 1,
            born_timestamp: 1_700_000_000_000,
            ..Default::default()
        };
        ok(broker, &h.to_header(3), format!("message {i}").as_bytes())?;
    }
    let commit = UpdateConsumerOffsetRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id: "0".into(),
        commit_offset: consumed.to_string(),
    };
    ok(broker, &commit.to_header(4), &[])
}
