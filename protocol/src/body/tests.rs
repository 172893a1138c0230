//! Body readers against the reference's executed examples (fastjson output of the Java classes).

use super::*;

#[test]
fn cluster_info_with_bare_numeric_keys() {
    let body = br#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#;
    let ci = ClusterInfo::decode(body).unwrap();
    let b = &ci.broker_addr_table["broker-a"];
    assert_eq!(b.master_addr(), Some("10.0.0.1:10911"));
    assert_eq!(b.broker_addrs[&1], "10.0.0.2:10911");
    assert_eq!(b.cluster, "DefaultCluster");
    assert_eq!(ci.cluster_addr_table["DefaultCluster"], vec!["broker-a".to_owned()]);
}

#[test]
fn route_data_standard_and_default_forms_agree() {
    let standard = br#"{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;
    let default = br#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;
    let a = TopicRouteData::decode(standard).unwrap();
    assert_eq!(a, TopicRouteData::decode(default).unwrap());
    assert_eq!(a.queue_datas[0].write_queue_nums, 4);
    assert_eq!(a.broker_datas[0].master_addr(), Some("10.0.0.1:10911"));
}

#[test]
fn topic_config_wrapper() {
    let body = br#"{"dataVersion":{"counter":0,"timestamp":1795264854737},"topicConfigTable":{"T1":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"T1","topicSysFlag":0,"writeQueueNums":4}}}"#;
    let w = TopicConfigWrapper::decode(body).unwrap();
    let t = &w.topic_config_table["T1"];
    assert_eq!((t.read_queue_nums, t.write_queue_nums, t.perm), (4, 4, 6));
    assert_eq!(t.topic_filter_type, "SINGLE_TAG");
    assert_eq!(w.data_version_timestamp, 1_795_264_854_737);
}

#[test]
fn topic_stats_with_object_keys() {
    let body = br#"{"offsetTable":{{"brokerName":"broker-a","queueId":1,"topic":"T1"}:{"lastUpdateTimestamp":1700000000001,"maxOffset":101,"minOffset":0},{"brokerName":"broker-a","queueId":0,"topic":"T1"}:{"lastUpdateTimestamp":1700000000000,"maxOffset":100,"minOffset":0}}}"#;
    let s = TopicStatsTable::decode(body).unwrap();
    let offsets: Vec<_> = s.offset_table.iter().map(|(q, o)| (q.queue_id, o.max_offset)).collect();
    assert_eq!(offsets, vec![(0, 100), (1, 101)]);
    assert_eq!(s.topic_put_tps, None);
}

#[test]
fn topic_stats_with_string_encoded_object_keys() {
    // RocketMQ-Rust 1.0.0's broker, captured: the MessageQueue key is a JSON string.
    let body = br#"{"topicPutTps":0.0,"offsetTable":{"{\"topic\":\"PYT\",\"brokerName\":\"broker-a\",\"queueId\":0}":{"minOffset":0,"maxOffset":3,"lastUpdateTimestamp":0},"{\"topic\":\"PYT\",\"brokerName\":\"broker-a\",\"queueId\":1}":{"minOffset":0,"maxOffset":0,"lastUpdateTimestamp":0}}}"#;
    let s = TopicStatsTable::decode(body).unwrap();
    let offsets: Vec<_> = s.offset_table.iter().map(|(q, o)| (q.topic.as_str(), q.queue_id, o.max_offset)).collect();
    assert_eq!(offsets, vec![("PYT", 0, 3), ("PYT", 1, 0)]);
    assert_eq!(s.topic_put_tps, Some(0.0));
}

#[test]
fn consume_stats_and_diff() {
    let body = br#"{"consumeTps":1.5,"offsetTable":{{"brokerName":"broker-a","queueId":1,"topic":"T1"}:{"brokerOffset":101,"consumerOffset":91,"lastTimestamp":1700000000001},{"brokerName":"broker-a","queueId":0,"topic":"T1"}:{"brokerOffset":100,"consumerOffset":90,"lastTimestamp":1700000000000}}}"#;
    let s = ConsumeStats::decode(body).unwrap();
    assert_eq!(s.total_diff(), 20);
    assert_eq!(s.consume_tps, Some(1.5));
    let nan = ConsumeStats::decode(br#"{"consumeTps":null,"offsetTable":{}}"#).unwrap();
    assert_eq!(nan.consume_tps, None);
}

#[test]
fn broker_consume_stats_list() {
    let body = br#"{"brokerAddr":"10.0.0.1:10911","consumeStatsList":[{"G1":[{"consumeTps":1.5,"offsetTable":{{"brokerName":"broker-a","queueId":1,"topic":"T1"}:{"brokerOffset":101,"consumerOffset":91,"lastTimestamp":1700000000001}}}]},{"G2":[]}],"totalDiff":20}"#;
    let l = ConsumeStatsList::decode(body).unwrap();
    assert_eq!(l.broker_addr, "10.0.0.1:10911");
    assert_eq!(l.total_diff, 20);
    assert_eq!(l.groups["G1"][0].total_diff(), 10);
    assert!(l.groups["G2"].is_empty());
}

#[test]
fn subscription_groups() {
    let body = br#"{"dataVersion":{"counter":0,"timestamp":1},"subscriptionGroupTable":{"G1":{"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,"consumeFromMinEnable":true,"groupName":"G1","notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}},"forbiddenTable":{}}"#;
    let w = SubscriptionGroupWrapper::decode(body).unwrap();
    let g = &w.subscription_group_table["G1"];
    assert_eq!((g.retry_max_times, g.retry_queue_nums), (16, 1));
    assert!(g.consume_enable);
}

#[test]
fn consumer_connection() {
    let body = br#"{"connectionSet":[{"clientAddr":"10.0.0.9:53210","clientId":"10.0.0.9@12345","language":"JAVA","version":407}],"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","subscriptionTable":{"T1":{"classFilterMode":false,"codeSet":[2598919,2598920],"expressionType":"TAG","subString":"TagA || TagB","subVersion":1700000000123,"tagsSet":["TagA","TagB"],"topic":"T1"}}}"#;
    let c = ConsumerConnection::decode(body).unwrap();
    assert_eq!(c.connection_set[0].client_addr, "10.0.0.9:53210");
    assert_eq!(c.connection_set[0].language, Some(crate::codes::LanguageCode::JAVA));
    assert_eq!(c.connection_set[0].version, 407);
    assert_eq!(c.subscription_table["T1"].sub_string, "TagA || TagB");
    assert_eq!(c.message_model, "CLUSTERING");
    let p = ProducerConnection::decode(br#"{"connectionSet":[{"clientId":"x","version":1}]}"#).unwrap();
    assert_eq!(p.connection_set.len(), 1);
    assert_eq!(p.connection_set[0].language, None);
}

#[test]
fn broker_stats_data_with_refs_and_nan() {
    let body = br#"{"statsDay":{"avgpt":2.0,"sum":10,"tps":null},"statsHour":{"$ref":"$.statsDay"},"statsMinute":{"avgpt":1.0,"sum":3,"tps":0.05}}"#;
    let s = BrokerStatsData::decode(body).unwrap();
    assert_eq!(s.stats_minute.sum, 3);
    assert_eq!(s.stats_minute.tps, Some(0.05));
    assert_eq!(s.stats_day.tps, None);
    assert_eq!(s.stats_hour, s.stats_day);
}

#[test]
fn runtime_info_table() {
    let body = br#"{"table":{"brokerVersionDesc":"V4_9_7","putTps":"5.0 4.0 3.0","msgPutTotalTodayNow":"42","putMessageDistributeTime":"null"}}"#;
    let r = BrokerRuntimeInfo::decode(body).unwrap();
    assert_eq!(r.get("brokerVersionDesc"), Some("V4_9_7"));
    assert_eq!(r.i64("msgPutTotalTodayNow"), Some(42));
    assert_eq!(r.put_distribution(), Some(PutDistribution::NotYetAvailable));
    assert!(BrokerRuntimeInfo::decode(b"[1]").is_err());
    assert!(BrokerRuntimeInfo::decode(br#"{"table":[1]}"#).is_err());
}

#[test]
fn ha_runtime_info() {
    let body = br#"{"haClientRuntimeInfo":null,"haConnectionInfo":[{"addr":"127.0.0.1:50000","diff":0,"inSync":true,"slaveAckOffset":1024,"transferFromWhere":1024,"transferredByteInSecond":0}],"inSyncSlaveNums":1,"master":true,"masterCommitLogMaxOffset":1024}"#;
    let h = HaRuntimeInfo::decode(body).unwrap();
    assert!(h.master);
    assert_eq!(h.ha_connection_info[0].slave_ack_offset, 1024);
    assert!(h.ha_connection_info[0].in_sync);
    assert!(h.ha_client_runtime_info.is_none());
}

#[test]
fn topic_list() {
    let l = TopicList::decode(br#"{"topicList":["TBW102","T1"]}"#).unwrap();
    assert_eq!(l.topic_list, vec!["TBW102", "T1"]);
    assert_eq!(l.broker_addr, None);
}

#[test]
fn wrong_top_level_shape_is_an_error() {
    assert_eq!(TopicList::decode(b"\"x\""), Err(crate::error::BodyError::Shape("TopicList")));
    assert!(matches!(ConsumeStats::decode(b"{"), Err(crate::error::BodyError::Json(_))));
}

#[test]
fn consumer_running_info_from_a_java_client() {
    // The reference's executed ConsumerRunningInfo (Java classes): mqTable keyed by MessageQueue
    // objects, which the reader skips; NaN rates arrive as null.
    let body = br#"{"mqTable":{{"brokerName":"broker-a","queueId":0,"topic":"T1"}:{"cachedMsgCount":0,"commitOffset":90,"droped":false}},"properties":{"PROP_CONSUME_TYPE":"CONSUME_PASSIVELY","PROP_THREADPOOL_CORE_SIZE":20},"statusTable":{"T1":{"consumeFailedMsgs":3,"consumeFailedTPS":0.0,"consumeOKTPS":12.5,"consumeRT":1.0E-4,"pullRT":1.2,"pullTPS":3.4},"T2":{"consumeOKTPS":null}},"subscriptionSet":[{"topic":"T1"}]}"#;
    let r = ConsumerRunningInfo::decode(body).unwrap();
    let t1 = r.status_table["T1"];
    assert_eq!(t1.consume_failed_msgs, 3);
    assert_eq!(
        (t1.consume_ok_tps, t1.consume_rt, t1.pull_rt, t1.pull_tps),
        (Some(12.5), Some(1.0e-4), Some(1.2), Some(3.4))
    );
    assert_eq!(r.status_table["T2"].consume_ok_tps, None);
    assert_eq!(r.properties["PROP_THREADPOOL_CORE_SIZE"], "20");
}

#[test]
fn producer_table_info() {
    let body = br#"{"data":{"PG1":[{"clientId":"10.0.0.9@1","language":"JAVA","lastUpdateTimestamp":1700000000000,"remoteIP":"10.0.0.9:50000","version":407},{"clientId":"10.0.0.8@2"}],"PG2":[]}}"#;
    let p = ProducerTableInfo::decode(body).unwrap();
    assert_eq!(p.data["PG1"].len(), 2);
    assert_eq!(p.data["PG1"][0].remote_ip, "10.0.0.9:50000");
    assert_eq!(p.data["PG1"][0].version, 407);
    assert!(p.data["PG2"].is_empty());
    assert!(ProducerTableInfo::decode(br#"{"data":{}}"#).unwrap().data.is_empty());
}

#[test]
fn query_consume_queue() {
    // RocketMQ-Rust 1.0.0's broker, captured.
    let body = br#"{"subscriptionData":null,"filterData":null,"queueData":[{"physicOffset":420,"physicSize":210,"tagsCode":0,"extendDataJson":null,"bitMap":null,"eval":false,"msg":null}],"maxQueueIndex":5,"minQueueIndex":0}"#;
    let q = QueryConsumeQueueResponse::decode(body).unwrap();
    assert_eq!(q.queue_data, vec![ConsumeQueueUnit { physic_offset: 420, physic_size: 210 }]);
    assert_eq!((q.min_queue_index, q.max_queue_index), (0, 5));
}

#[test]
fn schedule_offsets_in_runtime_info() {
    let body = br#"{"table":{"scheduleMessageOffset_1":"12,15","scheduleMessageOffset_18":"0,3","scheduleMessageOffset_x":"1,2","scheduleMessageOffset_2":"bad","putTps":"1 2 3"}}"#;
    let r = BrokerRuntimeInfo::decode(body).unwrap();
    let s = r.schedule_offsets();
    assert_eq!(s.into_iter().collect::<Vec<_>>(), vec![(1, (12, 15)), (18, (0, 3))]);
}

#[test]
fn broker_consume_stats_list_streamed_as_whole() {
    // `decode` reads the list one entry at a time; it must read what the whole tree gives.
    for body in [
        r#"{"brokerAddr":"10.0.0.1:10911","consumeStatsList":[{"G1":[{"consumeTps":1.5,"offsetTable":{{"brokerName":"broker-a","queueId":1,"topic":"T1"}:{"brokerOffset":101,"consumerOffset":91,"lastTimestamp":1700000000001}}}]},{"G2":[]}],"totalDiff":20}"#,
        // RocketMQ-Rust's string-encoded queue keys, 5.x fields, a group in two entries.
        r#"{"totalInflightDiff":3,"consumeStatsList":[{"G1":[{"offsetTable":{"{\"topic\":\"T\",\"brokerName\":\"b\",\"queueId\":0}":{"brokerOffset":5,"consumerOffset":1,"pullOffset":4}}}]},{"G1":[{"offsetTable":{}}],7:[]}],"brokerAddr":"x","totalDiff":"4"}"#,
        // Repeated members: the first counts; odd shapes read as empty.
        r#"{"consumeStatsList":[{"G1":[]}],"consumeStatsList":[{"G2":[]}],"brokerAddr":"a","brokerAddr":"b"}"#,
        r#"{"consumeStatsList":{"G1":[]},"totalDiff":1.0}"#,
        r#"{"consumeStatsList":[1,"x",{"G1":"y"}]}"#,
        r#"{}"#,
        // Errors on both sides.
        r#"{"consumeStatsList":[{"G1":[1]}]}"#,
        r#"{"consumeStatsList":[{"G1":[]}]"#,
        "[]",
        // Back-references, resolved by reading the document whole.
        r#"{"consumeStatsList":[{"G1":[{"offsetTable":{}}]},{"G2":{"$ref":"$.consumeStatsList[0].G1"}}]}"#,
        r#"{"a":"addr","brokerAddr":{"$ref":"$.a"},"consumeStatsList":[]}"#,
    ] {
        let whole = crate::fastjson::parse(body.as_bytes()).and_then(|v| ConsumeStatsList::from_value(&v));
        let streamed = ConsumeStatsList::decode(body.as_bytes());
        assert_eq!(streamed.as_ref().ok(), whole.as_ref().ok(), "{body}");
        assert_eq!(streamed.is_ok(), whole.is_ok(), "{body}");
    }
    let l = ConsumeStatsList::decode(
        br#"{"consumeStatsList":[{"G1":[{"offsetTable":{}}]},{"G2":{"$ref":"$.consumeStatsList[0].G1"}}]}"#,
    )
    .unwrap();
    assert_eq!(l.groups["G2"].len(), 1, "a back-referenced entry is resolved");
}
