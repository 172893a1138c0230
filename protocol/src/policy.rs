//! Which request codes are administrative: the classification of every known code as data,
//! so the admin guard's default policy is a table that tests can read.
//!
//! The classes follow the protocol reference §2.4: admin mutating (`AdminWrite`), admin
//! read-only (`AdminRead`), the data path (`DataWrite`, `DataRead`, `DataSession`), server
//! callbacks to clients, cluster-internal traffic, and codes no server handles.
//!
//! [`default_admin_codes`] is the list a guard enforces unless configured otherwise:
//! every `AdminWrite` code a listener of that role can receive (broker: broker and broker
//! container codes; name server: name-server and embedded-controller codes), plus, on
//! brokers, the few read-only codes that return secrets. Cluster-internal writes (`REGISTER_BROKER`, controller traffic, …) are
//! *not* in it: stock brokers and controllers send them unsigned, so enforcing them would
//! break a cluster. Operators who route no peer traffic through the guard can add them.

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
    /// Whether the class is on the client data path (never guarded by default).
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

/// Read-only codes that return credentials; guarded by default although they change nothing.
pub const SECRET_READS: &[RequestCode] = &[
    // ACL 1.0: every account with its secretKey (4.9.x, 5.0–5.3.1).
    RequestCode::GET_BROKER_CLUSTER_ACL_CONFIG,
    // ACL 2.0 user records.
    RequestCode::AUTH_GET_USER,
    RequestCode::AUTH_LIST_USER,
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
    (RequestCode::SEARCH_OFFSET_BY_TIMESTAMP, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::GET_MAX_OFFSET, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::GET_MIN_OFFSET, CodeClass::AdminRead, Handler::BROKER),
    (RequestCode::GET_EARLIEST_MSG_STORETIME, CodeClass::AdminRead, Handler::BROKER),
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
    (RequestCode::QUERY_DATA_VERSION, CodeClass::InternalRead, Handler::NAMESRV),
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
    (RequestCode::SET_MESSAGE_REQUEST_MODE, CodeClass::DataWrite, Handler::BROKER),
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

/// The admin codes a guard in front of `role` enforces by default, sorted and unique.
pub fn default_admin_codes(role: Role) -> Vec<RequestCode> {
    let mut codes: Vec<RequestCode> = classifications()
        .filter(|c| c.class == CodeClass::AdminWrite && c.handler.served_by(role))
        .map(|c| c.code)
        .collect();
    if role == Role::Broker {
        codes.extend_from_slice(SECRET_READS);
    }
    codes.sort();
    codes.dedup();
    codes
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
            (R::REGISTER_BROKER, Some(CodeClass::InternalWrite)),
            (R::CHECK_TRANSACTION_STATE, Some(CodeClass::Callback)),
            (R::QUERY_BROKER_OFFSET, Some(CodeClass::Unhandled)),
            (RequestCode(9003), None),
        ];
        for &(code, want) in cases {
            assert_eq!(classify(code), want, "{code}");
        }
    }

    #[test]
    fn default_broker_list() {
        let got = default_admin_codes(Role::Broker);
        // MQCloud's broker list (17, 25, 200, 207, 215) is the floor.
        for c in [
            R::UPDATE_AND_CREATE_TOPIC,
            R::UPDATE_BROKER_CONFIG,
            R::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
            R::DELETE_SUBSCRIPTIONGROUP,
            R::DELETE_TOPIC_IN_BROKER,
            R::UPDATE_AND_CREATE_TOPIC_LIST,
            R::CLONE_GROUP_OFFSET,
            R::INVOKE_BROKER_TO_RESET_OFFSET,
            R::CONSUME_MESSAGE_DIRECTLY,
            R::UPDATE_AND_CREATE_ACL_CONFIG,
            R::AUTH_CREATE_USER,
            R::GET_BROKER_CLUSTER_ACL_CONFIG,
            R::SET_COMMITLOG_READ_MODE,
            R::POP_ROLLBACK,
            R::ADD_BROKER,
            R::REMOVE_BROKER,
        ] {
            assert!(got.contains(&c), "{c} should be guarded on a broker");
        }
        // Never the data path, nor what slaves and exporters read, nor name-server codes.
        for c in [
            R::SEND_MESSAGE,
            R::SEND_MESSAGE_V2,
            R::PULL_MESSAGE,
            R::HEART_BEAT,
            R::UPDATE_CONSUMER_OFFSET,
            R::GET_ALL_TOPIC_CONFIG,
            R::GET_ALL_CONSUMER_OFFSET,
            R::GET_BROKER_RUNTIME_INFO,
            R::PUT_KV_CONFIG,
            R::REGISTER_BROKER,
            R::EXCHANGE_BROKER_HA_INFO,
        ] {
            assert!(!got.contains(&c), "{c} must not be guarded by default on a broker");
        }
        assert!(got.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(got.len(), 35, "30 broker + 2 container admin writes + 3 secret reads");
    }

    #[test]
    fn default_namesrv_list() {
        let got = default_admin_codes(Role::Namesrv);
        let want = [
            R::PUT_KV_CONFIG,
            R::DELETE_KV_CONFIG,
            R::WIPE_WRITE_PERM_OF_BROKER,
            R::DELETE_TOPIC_IN_NAMESRV,
            R::UPDATE_NAMESRV_CONFIG,
            R::ADD_WRITE_PERM_OF_BROKER,
            R::UPDATE_CONTROLLER_CONFIG,
            R::CLEAN_BROKER_DATA,
        ];
        assert_eq!(got, want);
        assert!(!got.contains(&R::REGISTER_BROKER), "stock brokers register unsigned");
    }

    #[test]
    fn data_path_predicate() {
        assert!(CodeClass::DataWrite.is_data_path());
        assert!(CodeClass::DataSession.is_data_path());
        assert!(!CodeClass::AdminRead.is_data_path());
        assert_eq!(CodeClass::AdminWrite.as_str(), "admin_write");
    }
}
