//! Which request codes a client may send without a signature: the classification of every
//! known code, so the admin guard's default policy is a table that tests can read.
//!
//! The classes follow the protocol reference §2.4: admin mutating (`AdminWrite`), admin
//! read-only (`AdminRead`), the data path (`DataWrite`, `DataRead`, `DataSession`), server
//! callbacks to clients, cluster-internal traffic, and codes no server handles.
//!
//! The guard's policy is an allow-list. [`default_unsigned_codes`] is what a listener of a
//! role lets through unsigned unless configured otherwise: the data-path codes that role
//! serves (sends, pulls, heartbeats, offsets, routes, session codes), and, on a name-server
//! port, the two reads stock brokers make of it ([`NAMESRV_BROKER_READS`]). Every other code
//! needs a signature, including codes this table does not know: configuration and secret
//! reads (`GET_BROKER_CONFIG`, `GET_NAMESRV_CONFIG`, ACL reads), slave-sync reads,
//! cluster-internal writes that redirect replication or roles (`EXCHANGE_BROKER_HA_INFO`,
//! `NOTIFY_BROKER_ROLE_CHANGED`, controller codes), and the writes with which a broker
//! registers its routes ([`ROUTE_WRITES`]), which the agent on the broker's host signs for it
//! (its name-server egress). A deployment that routes a stock peer through a guard lists what
//! that peer sends in the listener's `allow_unsigned`.
//!
//! Four reads the reference files under admin reads are classified `DataRead` here because
//! stock clients send them on the data path (`MQAdmin.searchOffset`/`maxOffset`/`minOffset`/
//! `earliestMsgStoreTime`: a push consumer asks `GET_MAX_OFFSET` for every new queue), and
//! `SET_MESSAGE_REQUEST_MODE` is `AdminWrite`: only admin tools send it, and it switches a
//! whole group between pull and pop.

use crate::codes::RequestCode;

/// What a request code does, in the terms a guard cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeClass {
    /// Changes broker, name server or controller state beyond one client's session.
    AdminWrite,
    /// Reads cluster state; used by admin tools, exporters and slaves.
    AdminRead,
    /// Produces messages or commits consumer progress.
    DataWrite,
    /// Consumes or looks up messages and routes.
    DataRead,
    /// Client session management (heartbeat, unregister, ordered-queue locks).
    DataSession,
    /// Sent by a server to a client on the client's own connection.
    Callback,
    /// Cluster-internal state change (broker ↔ name server / controller / broker).
    InternalWrite,
    /// Cluster-internal read.
    InternalRead,
    /// Defined as a constant, but no upstream server handles it.
    Unhandled,
}

impl CodeClass {
    /// Whether the class is on the client data path (unsigned by default where served).
    pub const fn is_data_path(self) -> bool {
        matches!(self, Self::DataWrite | Self::DataRead | Self::DataSession)
    }

    /// A short, stable label for metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AdminWrite => "admin_write",
            Self::AdminRead => "admin_read",
            Self::DataWrite => "data_write",
            Self::DataRead => "data_read",
            Self::DataSession => "data_session",
            Self::Callback => "callback",
            Self::InternalWrite => "internal_write",
            Self::InternalRead => "internal_read",
            Self::Unhandled => "unhandled",
        }
    }
}

/// Which server answers a code (develop's handler where it differs from 4.9.7's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handler(u8);

impl Handler {
    /// The broker (`BrokerController.registerProcessor` or the default admin processor).
    pub const BROKER: Handler = Handler(1);
    /// The name server.
    pub const NAMESRV: Handler = Handler(2);
    /// The 5.x controller.
    pub const CONTROLLER: Handler = Handler(4);
    /// The 5.x broker container.
    pub const CONTAINER: Handler = Handler(8);
    /// A client (server-to-client callbacks).
    pub const CLIENT: Handler = Handler(16);
    /// Both the name server and the controller (`BROKER_HEARTBEAT`).
    pub const NAMESRV_CONTROLLER: Handler = Handler(2 | 4);
    /// No upstream handler.
    pub const NONE: Handler = Handler(0);

    /// Whether a listener of `role` may receive codes with this handler. A broker listener
    /// also covers the 5.x broker container (which hosts brokers behind one port), and a
    /// name-server listener the 5.x controller (which can run embedded in the name server).
    pub const fn served_by(self, role: Role) -> bool {
        let bits = match role {
            Role::Broker => Self::BROKER.0 | Self::CONTAINER.0,
            Role::Namesrv => Self::NAMESRV.0 | Self::CONTROLLER.0,
        };
        self.0 & bits != 0
    }
}

/// The kind of server a guard listener stands in front of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A broker's remoting port (listenPort) or its VIP port (listenPort − 2).
    Broker,
    /// A name server.
    Namesrv,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 2] = [Role::Broker, Role::Namesrv];

    /// The configuration name: `broker` or `namesrv`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Broker => "broker",
            Self::Namesrv => "namesrv",
        }
    }

    /// Parses a configuration name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// One row of the classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    /// The request code.
    pub code: RequestCode,
    /// What it does.
    pub class: CodeClass,
    /// Who answers it.
    pub handler: Handler,
}

/// What a broker sends a name server that changes its routes or keeps them alive: signed by
/// default on a name-server listener, and signed for a stock broker by the agent on its host
/// (the name-server egress), so that only the holder of a broker host's key can register,
/// unregister or re-route that broker.
///
/// - `REGISTER_BROKER` 103: the broker's address, HA address and topics (every 30 s).
/// - `UNREGISTER_BROKER` 104: at shutdown.
/// - `REGISTER_TOPIC_IN_NAMESRV` 217 (5.x): one topic's queues, when a topic is created.
/// - `QUERY_DATA_VERSION` 322: asked before re-registering when `forceRegister=false`, and
///   5.x's heartbeat when `compatibleWithOldNameSrv`; the name server refreshes the broker's
///   last-seen time on every one, so it keeps a dead broker's routes alive.
/// - `BROKER_HEARTBEAT` 904 (5.x, `enableSlaveActingMaster`): refreshes the last-seen time.
pub const ROUTE_WRITES: &[RequestCode] = &[
    RequestCode::REGISTER_BROKER,
    RequestCode::UNREGISTER_BROKER,
    RequestCode::REGISTER_TOPIC_IN_NAMESRV,
    RequestCode::QUERY_DATA_VERSION,
    RequestCode::BROKER_HEARTBEAT,
];

/// Whether `code` is one of [`ROUTE_WRITES`].
pub fn is_route_write(code: i32) -> bool {
    ROUTE_WRITES.iter().any(|c| c.get() == code)
}

/// What stock brokers read from a name server, unsigned by default on a name-server listener
/// (the egress passes them as they are): the member-group lookup of 5.x pre-online, and the
/// cluster-info read every 5.x broker makes every 5 s (`BrokerOuterAPI.refreshMetadata`).
pub const NAMESRV_BROKER_READS: &[RequestCode] =
    &[RequestCode::GET_BROKER_CLUSTER_INFO, RequestCode::GET_BROKER_MEMBER_GROUP];

/// What a 4.x/5.x slave reads from its master to mirror metadata (`SlaveSynchronize`): signed
/// by default; a master's listeners list these in `allow_unsigned` when stock slaves sync
/// through them. `GET_ALL_TOPIC_CONFIG` and the timer codes go to the VIP port (listenPort −
/// 2), the others to the main port.
pub const SLAVE_SYNC_READS: &[RequestCode] = &[
    RequestCode::GET_ALL_TOPIC_CONFIG,
    RequestCode::GET_ALL_CONSUMER_OFFSET,
    RequestCode::GET_ALL_DELAY_OFFSET,
    RequestCode::GET_TIMER_CHECK_POINT,
    RequestCode::GET_TIMER_METRICS,
    RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
    RequestCode::GET_ALL_MESSAGE_REQUEST_MODE,
];

const ROWS: &[(RequestCode, CodeClass, Handler)] = &[
    (RequestCode::SEND_MESSAGE, CodeClass::DataWrite, Handler::BROKER),
    (RequestCode::PULL_MESSAGE, CodeClass::DataRead, Handler::BROKER),
    (RequestCode::QUERY_MESSAGE, CodeClass::DataRead, Handler::BROKER),
    (RequestCode::QUERY_BROKER_OFFSET, CodeClass::Unhandled, Handler::NONE),
    (RequestCode::QUERY_CONSUMER_OFFSET, CodeClass::DataRead, Handler::BROKER),
    (RequestCode::UPDATE_CONSUMER_OFFSET, CodeClass::DataWrite, Handler::BROKER),
    (RequestCode::UPDATE_AND_CREATE_TOPIC, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::UPDATE_AND_CREATE_TOPIC_LIST, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::GET_ALL_TOPIC_CONFIG, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::GET_TOPIC_CONFIG_LIST, CodeClass::Unhandled, Handler::NONE),
    (RequestCode::GET_TOPIC_NAME_LIST, CodeClass::Unhandled, Handler::NONE),
    (RequestCode::UPDATE_BROKER_CONFIG, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::GET_BROKER_CONFIG, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::TRIGGER_DELETE_FILES, CodeClass::Unhandled, Handler::NONE),
    (RequestCode::GET_BROKER_RUNTIME_INFO, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::SEARCH_OFFSET_BY_TIMESTAMP, CodeClass::DataRead, Handler::BROKER),
    (RequestCode::GET_MAX_OFFSET, CodeClass::DataRead, Handler::BROKER),
    (RequestCode::GET_MIN_OFFSET, CodeClass::DataRead, Handler::BROKER),
    (RequestCode::GET_EARLIEST_MSG_STORETIME, CodeClass::DataRead, Handler::BROKER),
    (RequestCode::VIEW_MESSAGE_BY_ID, CodeClass::DataRead, Handler::BROKER),
    (RequestCode::HEART_BEAT, CodeClass::DataSession, Handler::BROKER),
    (RequestCode::UNREGISTER_CLIENT, CodeClass::DataSession, Handler::BROKER),
    (RequestCode::CONSUMER_SEND_MSG_BACK, CodeClass::DataWrite, Handler::BROKER),
    (RequestCode::END_TRANSACTION, CodeClass::DataWrite, Handler::BROKER),
    (RequestCode::GET_CONSUMER_LIST_BY_GROUP, CodeClass::DataRead, Handler::BROKER),
    (RequestCode::CHECK_TRANSACTION_STATE, CodeClass::Callback, Handler::CLIENT),
    (RequestCode::NOTIFY_CONSUMER_IDS_CHANGED, CodeClass::Callback, Handler::CLIENT),
    (RequestCode::LOCK_BATCH_MQ, CodeClass::DataSession, Handler::BROKER),
    (RequestCode::UNLOCK_BATCH_MQ, CodeClass::DataSession, Handler::BROKER),
    (RequestCode::GET_ALL_CONSUMER_OFFSET, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::GET_ALL_DELAY_OFFSET, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::CHECK_CLIENT_CONFIG, CodeClass::DataRead, Handler::BROKER),
    (RequestCode::GET_CLIENT_CONFIG, CodeClass::Unhandled, Handler::NONE),
    (RequestCode::UPDATE_AND_CREATE_ACL_CONFIG, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::DELETE_ACL_CONFIG, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::GET_BROKER_CLUSTER_ACL_INFO, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::GET_BROKER_CLUSTER_ACL_CONFIG, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::GET_TIMER_CHECK_POINT, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::GET_TIMER_METRICS, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::PUT_KV_CONFIG, CodeClass::AdminWrite, Handler::NAMESRV),
    (RequestCode::GET_KV_CONFIG, CodeClass::AdminRead, Handler::NAMESRV),
    (RequestCode::DELETE_KV_CONFIG, CodeClass::AdminWrite, Handler::NAMESRV),
    (RequestCode::REGISTER_BROKER, CodeClass::InternalWrite, Handler::NAMESRV),
    (RequestCode::UNREGISTER_BROKER, CodeClass::InternalWrite, Handler::NAMESRV),
    (RequestCode::GET_ROUTEINFO_BY_TOPIC, CodeClass::DataRead, Handler::NAMESRV),
    (RequestCode::GET_BROKER_CLUSTER_INFO, CodeClass::AdminRead, Handler::NAMESRV),
    (RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::GET_TOPIC_STATS_INFO, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::GET_CONSUMER_CONNECTION_LIST, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::GET_PRODUCER_CONNECTION_LIST, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::WIPE_WRITE_PERM_OF_BROKER, CodeClass::AdminWrite, Handler::NAMESRV),
    (RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER, CodeClass::AdminRead, Handler::NAMESRV),
    (RequestCode::DELETE_SUBSCRIPTIONGROUP, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::GET_CONSUME_STATS, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::SUSPEND_CONSUMER, CodeClass::Unhandled, Handler::NONE),
    (RequestCode::RESUME_CONSUMER, CodeClass::Unhandled, Handler::NONE),
    (RequestCode::RESET_CONSUMER_OFFSET_IN_CONSUMER, CodeClass::Unhandled, Handler::NONE),
    (RequestCode::RESET_CONSUMER_OFFSET_IN_BROKER, CodeClass::Unhandled, Handler::NONE),
    (RequestCode::ADJUST_CONSUMER_THREAD_POOL, CodeClass::Unhandled, Handler::NONE),
    (RequestCode::WHO_CONSUME_THE_MESSAGE, CodeClass::Unhandled, Handler::NONE),
    (RequestCode::DELETE_TOPIC_IN_BROKER, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::DELETE_TOPIC_IN_NAMESRV, CodeClass::AdminWrite, Handler::NAMESRV),
    (RequestCode::REGISTER_TOPIC_IN_NAMESRV, CodeClass::InternalWrite, Handler::NAMESRV),
    (RequestCode::GET_KVLIST_BY_NAMESPACE, CodeClass::AdminRead, Handler::NAMESRV),
    (RequestCode::RESET_CONSUMER_CLIENT_OFFSET, CodeClass::Callback, Handler::CLIENT),
    (RequestCode::GET_CONSUMER_STATUS_FROM_CLIENT, CodeClass::Callback, Handler::CLIENT),
    (RequestCode::INVOKE_BROKER_TO_RESET_OFFSET, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::INVOKE_BROKER_TO_GET_CONSUMER_STATUS, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::GET_TOPICS_BY_CLUSTER, CodeClass::AdminRead, Handler::NAMESRV),
    (RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP_LIST, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::QUERY_TOPIC_CONSUME_BY_WHO, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::REGISTER_FILTER_SERVER, CodeClass::Unhandled, Handler::NONE),
    (RequestCode::REGISTER_MESSAGE_FILTER_CLASS, CodeClass::Unhandled, Handler::NONE),
    (RequestCode::QUERY_CONSUME_TIME_SPAN, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::GET_SYSTEM_TOPIC_LIST_FROM_NS, CodeClass::AdminRead, Handler::NAMESRV),
    (RequestCode::GET_SYSTEM_TOPIC_LIST_FROM_BROKER, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::CLEAN_EXPIRED_CONSUMEQUEUE, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::GET_CONSUMER_RUNNING_INFO, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::QUERY_CORRECTION_OFFSET, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::CONSUME_MESSAGE_DIRECTLY, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::SEND_MESSAGE_V2, CodeClass::DataWrite, Handler::BROKER),
    (RequestCode::GET_UNIT_TOPIC_LIST, CodeClass::AdminRead, Handler::NAMESRV),
    (RequestCode::GET_HAS_UNIT_SUB_TOPIC_LIST, CodeClass::AdminRead, Handler::NAMESRV),
    (RequestCode::GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST, CodeClass::AdminRead, Handler::NAMESRV),
    (RequestCode::CLONE_GROUP_OFFSET, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::VIEW_BROKER_STATS_DATA, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::CLEAN_UNUSED_TOPIC, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::GET_BROKER_CONSUME_STATS, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::UPDATE_NAMESRV_CONFIG, CodeClass::AdminWrite, Handler::NAMESRV),
    (RequestCode::GET_NAMESRV_CONFIG, CodeClass::AdminRead, Handler::NAMESRV),
    (RequestCode::SEND_BATCH_MESSAGE, CodeClass::DataWrite, Handler::BROKER),
    (RequestCode::QUERY_CONSUME_QUEUE, CodeClass::AdminRead, Handler::BROKER),
    // A read by its name, but the name server refreshes the broker's last-seen time on it.
    (RequestCode::QUERY_DATA_VERSION, CodeClass::InternalWrite, Handler::NAMESRV),
    (RequestCode::RESUME_CHECK_HALF_MESSAGE, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::SEND_REPLY_MESSAGE, CodeClass::DataWrite, Handler::BROKER),
    (RequestCode::SEND_REPLY_MESSAGE_V2, CodeClass::DataWrite, Handler::BROKER),
    (RequestCode::PUSH_REPLY_MESSAGE_TO_CLIENT, CodeClass::Callback, Handler::CLIENT),
    (RequestCode::ADD_WRITE_PERM_OF_BROKER, CodeClass::AdminWrite, Handler::NAMESRV),
    (RequestCode::GET_ALL_PRODUCER_INFO, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::DELETE_EXPIRED_COMMITLOG, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::QUERY_TOPICS_BY_CONSUMER, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::QUERY_SUBSCRIPTION_BY_CONSUMER, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::GET_TOPIC_CONFIG, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::GET_SUBSCRIPTIONGROUP_CONFIG, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::UPDATE_AND_GET_GROUP_FORBIDDEN, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::CHECK_ROCKSDB_CQ_WRITE_PROGRESS, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::EXPORT_ROCKSDB_CONFIG_TO_JSON, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::LITE_PULL_MESSAGE, CodeClass::DataRead, Handler::BROKER),
    (RequestCode::RECALL_MESSAGE, CodeClass::DataWrite, Handler::BROKER),
    (RequestCode::QUERY_ASSIGNMENT, CodeClass::DataRead, Handler::BROKER),
    (RequestCode::SET_MESSAGE_REQUEST_MODE, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::GET_ALL_MESSAGE_REQUEST_MODE, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::UPDATE_AND_CREATE_STATIC_TOPIC, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::GET_BROKER_MEMBER_GROUP, CodeClass::InternalRead, Handler::NAMESRV),
    (RequestCode::ADD_BROKER, CodeClass::AdminWrite, Handler::CONTAINER),
    (RequestCode::REMOVE_BROKER, CodeClass::AdminWrite, Handler::CONTAINER),
    (RequestCode::BROKER_HEARTBEAT, CodeClass::InternalWrite, Handler::NAMESRV_CONTROLLER),
    (RequestCode::NOTIFY_MIN_BROKER_ID_CHANGE, CodeClass::InternalWrite, Handler::BROKER),
    (RequestCode::EXCHANGE_BROKER_HA_INFO, CodeClass::InternalWrite, Handler::BROKER),
    (RequestCode::GET_BROKER_HA_STATUS, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::RESET_MASTER_FLUSH_OFFSET, CodeClass::InternalWrite, Handler::BROKER),
    (RequestCode::CONTROLLER_ALTER_SYNC_STATE_SET, CodeClass::InternalWrite, Handler::CONTROLLER),
    (RequestCode::CONTROLLER_ELECT_MASTER, CodeClass::InternalWrite, Handler::CONTROLLER),
    (RequestCode::CONTROLLER_REGISTER_BROKER, CodeClass::InternalWrite, Handler::CONTROLLER),
    (RequestCode::CONTROLLER_GET_REPLICA_INFO, CodeClass::InternalRead, Handler::CONTROLLER),
    (RequestCode::CONTROLLER_GET_METADATA_INFO, CodeClass::InternalRead, Handler::CONTROLLER),
    (RequestCode::CONTROLLER_GET_SYNC_STATE_DATA, CodeClass::InternalRead, Handler::CONTROLLER),
    (RequestCode::GET_BROKER_EPOCH_CACHE, CodeClass::InternalRead, Handler::BROKER),
    (RequestCode::NOTIFY_BROKER_ROLE_CHANGED, CodeClass::InternalWrite, Handler::BROKER),
    (RequestCode::UPDATE_CONTROLLER_CONFIG, CodeClass::AdminWrite, Handler::CONTROLLER),
    (RequestCode::GET_CONTROLLER_CONFIG, CodeClass::AdminRead, Handler::CONTROLLER),
    (RequestCode::CLEAN_BROKER_DATA, CodeClass::AdminWrite, Handler::CONTROLLER),
    (RequestCode::CONTROLLER_GET_NEXT_BROKER_ID, CodeClass::InternalRead, Handler::CONTROLLER),
    (RequestCode::CONTROLLER_APPLY_BROKER_ID, CodeClass::InternalWrite, Handler::CONTROLLER),
    (RequestCode::BROKER_CLOSE_CHANNEL_REQUEST, CodeClass::InternalWrite, Handler::NONE),
    (RequestCode::CHECK_NOT_ACTIVE_BROKER_REQUEST, CodeClass::InternalWrite, Handler::NONE),
    (RequestCode::GET_BROKER_LIVE_INFO_REQUEST, CodeClass::InternalRead, Handler::NONE),
    (RequestCode::GET_SYNC_STATE_DATA_REQUEST, CodeClass::InternalRead, Handler::NONE),
    (RequestCode::RAFT_BROKER_HEART_BEAT_EVENT_REQUEST, CodeClass::InternalWrite, Handler::NONE),
    (RequestCode::UPDATE_COLD_DATA_FLOW_CTR_CONFIG, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::REMOVE_COLD_DATA_FLOW_CTR_CONFIG, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::GET_COLD_DATA_FLOW_CTR_INFO, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::SET_COMMITLOG_READ_MODE, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::AUTH_CREATE_USER, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::AUTH_UPDATE_USER, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::AUTH_DELETE_USER, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::AUTH_GET_USER, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::AUTH_LIST_USER, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::AUTH_CREATE_ACL, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::AUTH_UPDATE_ACL, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::AUTH_DELETE_ACL, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::AUTH_GET_ACL, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::AUTH_LIST_ACL, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::POP_MESSAGE, CodeClass::DataWrite, Handler::BROKER),
    (RequestCode::ACK_MESSAGE, CodeClass::DataWrite, Handler::BROKER),
    (RequestCode::PEEK_MESSAGE, CodeClass::DataRead, Handler::BROKER),
    (RequestCode::CHANGE_MESSAGE_INVISIBLETIME, CodeClass::DataWrite, Handler::BROKER),
    (RequestCode::NOTIFICATION, CodeClass::DataRead, Handler::BROKER),
    (RequestCode::POLLING_INFO, CodeClass::DataRead, Handler::BROKER),
    (RequestCode::POP_ROLLBACK, CodeClass::AdminWrite, Handler::BROKER),
    (RequestCode::BATCH_ACK_MESSAGE, CodeClass::DataWrite, Handler::BROKER),
];

/// Every known code with its class and handler, in code order.
pub fn classifications() -> impl Iterator<Item = Classification> {
    ROWS.iter().map(|&(code, class, handler)| Classification { code, class, handler })
}

/// The class of `code`, or `None` for a code no release defines.
pub fn classify(code: RequestCode) -> Option<CodeClass> {
    // The table is sorted by code (a test checks it), so a binary search is exact.
    ROWS.binary_search_by_key(&code.get(), |r| r.0.get()).ok().map(|i| ROWS[i].1)
}

/// The codes a guard in front of `role` lets through unsigned by default, sorted and unique:
/// the data-path codes (`DataWrite`, `DataRead`, `DataSession`) a server of that role
/// handles, plus [`NAMESRV_BROKER_READS`] on a name server. Every other code — including
/// codes no release defines — needs a signature.
pub fn default_unsigned_codes(role: Role) -> Vec<RequestCode> {
    let mut codes: Vec<RequestCode> =
        classifications().filter(|c| c.class.is_data_path() && c.handler.served_by(role)).map(|c| c.code).collect();
    if role == Role::Namesrv {
        codes.extend_from_slice(NAMESRV_BROKER_READS);
    }
    codes.sort();
    codes.dedup();
    codes
}

/// Whether a guard in front of `role` needs a signature on `code` by default.
pub fn signed_by_default(role: Role, code: RequestCode) -> bool {
    !default_unsigned_codes(role).contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestCode as R;

    #[test]
    fn table_is_sorted_and_covers_every_named_code() {
        assert!(ROWS.windows(2).all(|w| w[0].0 < w[1].0));
        let in_table: Vec<RequestCode> = ROWS.iter().map(|r| r.0).collect();
        assert_eq!(in_table.as_slice(), RequestCode::ALL);
    }

    #[test]
    fn classification_table() {
        let cases: &[(RequestCode, Option<CodeClass>)] = &[
            (R::SEND_MESSAGE, Some(CodeClass::DataWrite)),
            (R::SEND_MESSAGE_V2, Some(CodeClass::DataWrite)),
            (R::SEND_BATCH_MESSAGE, Some(CodeClass::DataWrite)),
            (R::PULL_MESSAGE, Some(CodeClass::DataRead)),
            (R::HEART_BEAT, Some(CodeClass::DataSession)),
            (R::UPDATE_CONSUMER_OFFSET, Some(CodeClass::DataWrite)),
            (R::GET_ROUTEINFO_BY_TOPIC, Some(CodeClass::DataRead)),
            (R::UPDATE_AND_CREATE_TOPIC, Some(CodeClass::AdminWrite)),
            (R::DELETE_TOPIC_IN_BROKER, Some(CodeClass::AdminWrite)),
            (R::UPDATE_BROKER_CONFIG, Some(CodeClass::AdminWrite)),
            (R::INVOKE_BROKER_TO_RESET_OFFSET, Some(CodeClass::AdminWrite)),
            (R::GET_BROKER_RUNTIME_INFO, Some(CodeClass::AdminRead)),
            (R::GET_ALL_TOPIC_CONFIG, Some(CodeClass::AdminRead)),
            (R::GET_BROKER_CONSUME_STATS, Some(CodeClass::AdminRead)),
            (R::GET_MAX_OFFSET, Some(CodeClass::DataRead)),
            (R::SEARCH_OFFSET_BY_TIMESTAMP, Some(CodeClass::DataRead)),
            (R::SET_MESSAGE_REQUEST_MODE, Some(CodeClass::AdminWrite)),
            (R::REGISTER_BROKER, Some(CodeClass::InternalWrite)),
            (R::CHECK_TRANSACTION_STATE, Some(CodeClass::Callback)),
            (R::QUERY_BROKER_OFFSET, Some(CodeClass::Unhandled)),
            (RequestCode(9003), None),
        ];
        for &(code, want) in cases {
            assert_eq!(classify(code), want, "{code}");
        }
    }

    fn codes(list: &[i32]) -> Vec<RequestCode> {
        list.iter().map(|&c| RequestCode(c)).collect()
    }

    #[test]
    fn default_broker_unsigned_list() {
        // Sends, pulls and pops, offsets, heartbeats and locks, transactions, message lookups.
        let want = codes(&[
            10, 11, 12, 14, 15, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 41, 42, 46, 310, 320, 324, 325, 361, 370, 400,
            200_050, 200_051, 200_052, 200_053, 200_054, 200_055, 200_151,
        ]);
        assert_eq!(default_unsigned_codes(Role::Broker), want);
    }

    #[test]
    fn default_namesrv_unsigned_list() {
        // Routes for clients and the two reads stock brokers make; their route writes are signed
        // (by the egress on the broker's host).
        let want = codes(&[105, 106, 901]);
        assert_eq!(default_unsigned_codes(Role::Namesrv), want);
    }

    #[test]
    fn signed_by_default_table() {
        let b = Role::Broker;
        let n = Role::Namesrv;
        let cases: &[(Role, i32, bool, &str)] = &[
            (b, 10, false, "SEND_MESSAGE"),
            (b, 310, false, "SEND_MESSAGE_V2"),
            (b, 11, false, "PULL_MESSAGE"),
            (b, 34, false, "HEART_BEAT"),
            (b, 15, false, "UPDATE_CONSUMER_OFFSET: data path, even for another's group"),
            (b, 30, false, "GET_MAX_OFFSET: push consumers ask it for new queues"),
            (b, 17, true, "UPDATE_AND_CREATE_TOPIC"),
            (b, 25, true, "UPDATE_BROKER_CONFIG"),
            (b, 26, true, "GET_BROKER_CONFIG returns broker.conf, ACL 2.0 credentials included"),
            (b, 28, true, "GET_BROKER_RUNTIME_INFO"),
            (b, 21, true, "GET_ALL_TOPIC_CONFIG: slave sync, listed per deployment"),
            (b, 43, true, "GET_ALL_CONSUMER_OFFSET"),
            (b, 54, true, "GET_BROKER_CLUSTER_ACL_CONFIG returns secret keys"),
            (b, 3004, true, "AUTH_GET_USER"),
            (b, 3009, true, "AUTH_GET_ACL"),
            (b, 401, true, "SET_MESSAGE_REQUEST_MODE"),
            (b, 906, true, "EXCHANGE_BROKER_HA_INFO redirects a slave's replication"),
            (b, 908, true, "RESET_MASTER_FLUSH_OFFSET"),
            (b, 1007, true, "GET_BROKER_EPOCH_CACHE"),
            (b, 1008, true, "NOTIFY_BROKER_ROLE_CHANGED"),
            (b, 105, true, "a name-server code on a broker port"),
            (b, 13, true, "QUERY_BROKER_OFFSET: no handler"),
            (b, 39, true, "CHECK_TRANSACTION_STATE: a callback, never sent to a broker"),
            (b, 9999, true, "unknown"),
            (b, -1, true, "unknown"),
            (n, 105, false, "GET_ROUTEINFO_BY_TOPIC"),
            (n, 103, true, "REGISTER_BROKER: signed by the broker host's egress"),
            (n, 104, true, "UNREGISTER_BROKER"),
            (n, 217, true, "REGISTER_TOPIC_IN_NAMESRV"),
            (n, 322, true, "QUERY_DATA_VERSION keeps a broker's routes alive"),
            (n, 904, true, "BROKER_HEARTBEAT"),
            (n, 106, false, "GET_BROKER_CLUSTER_INFO: every 5.x broker reads it every 5 s"),
            (n, 901, false, "GET_BROKER_MEMBER_GROUP"),
            (n, 319, true, "GET_NAMESRV_CONFIG"),
            (n, 318, true, "UPDATE_NAMESRV_CONFIG"),
            (n, 100, true, "PUT_KV_CONFIG"),
            (n, 101, true, "GET_KV_CONFIG"),
            (n, 205, true, "WIPE_WRITE_PERM_OF_BROKER"),
            (n, 206, true, "GET_ALL_TOPIC_LIST_FROM_NAMESERVER"),
            (n, 1002, true, "CONTROLLER_ELECT_MASTER"),
            (n, 1010, true, "GET_CONTROLLER_CONFIG"),
            (n, 10, true, "a broker code on a name-server port"),
            (n, 9999, true, "unknown"),
        ];
        for &(role, code, signed, why) in cases {
            assert_eq!(signed_by_default(role, RequestCode(code)), signed, "{} {code}: {why}", role.as_str());
        }
    }

    #[test]
    fn peer_lists_are_not_data_path() {
        // Both lists exist because their codes are not unsigned by their class.
        for c in SLAVE_SYNC_READS {
            assert!(signed_by_default(Role::Broker, *c), "{c}");
            assert_eq!(classify(*c), Some(CodeClass::AdminRead), "{c}");
        }
        for c in NAMESRV_BROKER_READS {
            assert!(!classify(*c).is_some_and(CodeClass::is_data_path), "{c}");
        }
        for c in ROUTE_WRITES {
            assert!(signed_by_default(Role::Namesrv, *c), "{c}");
            assert_eq!(classify(*c), Some(CodeClass::InternalWrite), "{c}");
            assert!(is_route_write(c.get()));
        }
        assert!(!is_route_write(RequestCode::GET_ROUTEINFO_BY_TOPIC.get()));
    }

    #[test]
    fn roles_parse() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("controller"), None);
    }

    #[test]
    fn data_path_predicate() {
        assert!(CodeClass::DataWrite.is_data_path());
        assert!(CodeClass::DataSession.is_data_path());
        assert!(!CodeClass::AdminRead.is_data_path());
        assert_eq!(CodeClass::AdminWrite.as_str(), "admin_write");
    }
}
