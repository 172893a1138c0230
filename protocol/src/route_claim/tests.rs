//! The claims of route writes as stock brokers send them, and the bodies the reader refuses
//! to judge.

use super::*;

fn ext(fields: &[(&str, &str)]) -> ExtFields {
    fields.iter().copied().collect()
}

/// A registration's header as a broker writes it.
fn register_ext(name: &str, addr: &str) -> ExtFields {
    ext(&[
        ("brokerName", name),
        ("brokerAddr", addr),
        ("clusterName", "DefaultCluster"),
        ("haServerAddr", "10.0.0.5:10912"),
        ("brokerId", "0"),
        ("compressed", "false"),
        ("bodyCrc32", "0"),
    ])
}

/// A 5.x registration body (RocketMQ-Rust's key order), with `mapping` as the
/// `topicQueueMappingInfoMap` value.
fn register_body(mapping: &str) -> Vec<u8> {
    format!(
        r#"{{"topicConfigSerializeWrapper":{{"topicQueueMappingInfoMap":{mapping},"topicQueueMappingDetailMap":{{}},"mappingDataVersion":{{"stateVersion":0,"timestamp":1,"counter":0}},"topicConfigTable":{{"T1":{{"topicName":"T1","readQueueNums":8,"writeQueueNums":8,"perm":6}},"bname":{{"topicName":"bname","perm":6}}}},"dataVersion":{{"stateVersion":0,"timestamp":1,"counter":3}}}},"filterServerList":[]}}"#
    )
    .into_bytes()
}

fn claim(code: RequestCode, e: &ExtFields, body: &[u8]) -> Result<RouteClaim, Unjudgeable> {
    route_claim(code.get(), e, body)
}

#[test]
fn registration_names_the_header_broker_and_its_address() {
    let c =
        claim(RequestCode::REGISTER_BROKER, &register_ext("broker-a", "10.0.0.5:10911"), &register_body("{}")).unwrap();
    assert_eq!(
        c,
        RouteClaim {
            broker_names: vec!["broker-a".into()],
            broker_addr: Some("10.0.0.5:10911".into()),
            cluster: Some("DefaultCluster".into()),
            ha_addr: Some("10.0.0.5:10912".into()),
            broker_id: Some(0),
            topic: None,
        }
    );
    // A 4.9 body (no mapping), an empty body and a null mapping name no one else.
    let v49 = br#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":1,"timestamp":1},"topicConfigTable":{}}}"#;
    for body in [&v49[..], b"", b"{}", br#"{"topicConfigSerializeWrapper":null}"#] {
        let c = claim(RequestCode::REGISTER_BROKER, &register_ext("broker-a", "a:1"), body).unwrap();
        assert_eq!(c.broker_names, ["broker-a"], "{}", String::from_utf8_lossy(body));
    }
}

#[test]
fn static_topic_mappings_name_their_brokers_too() {
    let mapping = r#"{"ST":{"topic":"ST","scope":"__global__","totalQueues":8,"bname":"broker-b","epoch":1,"dirty":false,"currIdMap":{"0":0}},"ST2":{"topic":"ST2","bname":"broker-a"}}"#;
    let c = claim(RequestCode::REGISTER_BROKER, &register_ext("broker-a", "a:1"), &register_body(mapping)).unwrap();
    assert_eq!(c.broker_names, ["broker-a", "broker-b"]);
}

#[test]
fn registration_refusals() {
    let e = register_ext("broker-a", "a:1");
    let cases: &[(&str, &str)] = &[
        // fastjson would read these as the property they resemble.
        (r#"{"TopicConfigSerializeWrapper":{}}"#, "unexpected key \"TopicConfigSerializeWrapper\""),
        (r#"{"topicConfigSerializeWrapper":{"topic_queue_mapping_info_map":{}}}"#, "topic_queue_mapping_info_map"),
        (r#"{"topicConfigSerializeWrapper":{"topicQueueMappingInfoMap":{"T":{"BNAME":"broker-b"}}}}"#, "BNAME"),
        (r#"{"topicConfigSerializeWrapper":{"topicQueueMappingInfoMap":{"T":{"b_name":"broker-b"}}}}"#, "b_name"),
        // Keys fastjson keeps the first or the last of.
        (
            r#"{"topicConfigSerializeWrapper":{"topicQueueMappingInfoMap":{},"topicQueueMappingInfoMap":{"T":{"bname":"x"}}}}"#,
            "topicQueueMappingInfoMap appears twice",
        ),
        (
            r#"{"topicConfigSerializeWrapper":{"topicQueueMappingInfoMap":{"T":{"bname":"a","bname":"b"}}}}"#,
            "bname appears twice",
        ),
        // A reference fastjson resolves and this reader does not.
        (r#"{"topicConfigSerializeWrapper":{"topicQueueMappingInfoMap":{"T":{"$ref":".."}}}}"#, "$ref"),
        (r#"{"topicConfigSerializeWrapper":{"topicQueueMappingInfoMap":{"T":{"bname":7}}}}"#, "bname is not"),
        (r#"{"topicConfigSerializeWrapper":{"topicQueueMappingInfoMap":{"T":{"bname":""}}}}"#, "bname is not"),
        (r#"{"topicConfigSerializeWrapper":{"topicQueueMappingInfoMap":{"T":{"topic":"T"}}}}"#, "missing"),
        (r#"{"topicConfigSerializeWrapper":{"topicQueueMappingInfoMap":[]}}"#, "not an object"),
        (r#"["topicConfigSerializeWrapper"]"#, "RegisterBrokerBody is not an object"),
        (r#"{"topicConfigSerializeWrapper":{"#, "body:"),
        ("\u{feff}{}", "body:"),
    ];
    for (body, want) in cases {
        let e = claim(RequestCode::REGISTER_BROKER, &e, body.as_bytes()).unwrap_err();
        assert!(e.to_string().contains(want), "{body}: {e}");
    }
    // The header fields the name server files the broker under.
    let mut no_name = register_ext("", "a:1");
    assert_eq!(claim(RequestCode::REGISTER_BROKER, &no_name, b""), Err(Unjudgeable::Missing("brokerName")));
    no_name.remove("brokerName");
    assert_eq!(claim(RequestCode::REGISTER_BROKER, &no_name, b""), Err(Unjudgeable::Missing("brokerName")));
    let mut no_addr = register_ext("broker-a", "a:1");
    no_addr.remove("brokerAddr");
    assert_eq!(claim(RequestCode::REGISTER_BROKER, &no_addr, b""), Err(Unjudgeable::Missing("brokerAddr")));
    // Compressed bodies are a deflate stream: not judged (Java's Boolean.parseBoolean).
    for v in ["true", "TRUE", "True"] {
        let mut c = register_ext("broker-a", "a:1");
        c.insert("compressed", v);
        assert_eq!(claim(RequestCode::REGISTER_BROKER, &c, b"x"), Err(Unjudgeable::Compressed));
    }
}

#[test]
fn header_only_route_writes() {
    let e =
        ext(&[("brokerName", "broker-a"), ("brokerAddr", "10.0.0.5:10911"), ("clusterName", "C"), ("brokerId", "0")]);
    for code in [RequestCode::UNREGISTER_BROKER, RequestCode::QUERY_DATA_VERSION, RequestCode::BROKER_HEARTBEAT] {
        let c = claim(code, &e, br#"{"counter":1}"#).unwrap();
        assert_eq!(c.broker_names, ["broker-a"], "{code}");
        assert_eq!(c.broker_addr.as_deref(), Some("10.0.0.5:10911"));
        assert_eq!(c.cluster.as_deref(), Some("C"));
        let mut no_addr = e.clone();
        no_addr.remove("brokerAddr");
        assert_eq!(claim(code, &no_addr, b""), Err(Unjudgeable::Missing("brokerAddr")), "{code}");
    }
}

#[test]
fn the_broker_id_is_read_and_must_be_a_decimal_long() {
    let codes = [
        RequestCode::REGISTER_BROKER,
        RequestCode::UNREGISTER_BROKER,
        RequestCode::QUERY_DATA_VERSION,
        RequestCode::BROKER_HEARTBEAT,
    ];
    for code in codes {
        for (id, want) in [("0", 0), ("1", 1), ("-1", -1), ("007", 7), ("9223372036854775807", i64::MAX)] {
            let mut e = register_ext("broker-a", "a:1");
            e.insert("brokerId", id);
            assert_eq!(claim(code, &e, b"").map(|c| c.broker_id), Ok(Some(want)), "{code} {id}");
        }
        let mut e = register_ext("broker-a", "a:1");
        e.remove("brokerId");
        // A heartbeat had no id before 5.x, and the name server reads only its address.
        let want = if code == RequestCode::BROKER_HEARTBEAT { Ok(None) } else { Err(Unjudgeable::Missing("brokerId")) };
        assert_eq!(claim(code, &e, b"").map(|c| c.broker_id), want, "{code}");
        // Long.parseLong would read some of these (a `+`, other scripts' digits); none is judged.
        for bad in ["", "+0", " 0", "0 ", "x", "1.0", "0x1", "\u{0660}", "-", "9223372036854775808"] {
            e.insert("brokerId", bad);
            assert!(matches!(claim(code, &e, b""), Err(Unjudgeable::BadBrokerId(_))), "{code} {bad:?}");
        }
    }
}

#[test]
fn references_anywhere_in_a_body_are_refused() {
    // The reviewer's body: the reference would resolve to a mapping naming broker-a.
    let body = br#"{"topicConfigSerializeWrapper":{"topicQueueMappingDetailMap":{"D":{"topic":"ST","bname":"broker-a"}},"topicQueueMappingInfoMap":{"ST":{"$ref":"$.topicConfigSerializeWrapper.topicQueueMappingDetailMap.D"}}}}"#;
    let e = register_ext("broker-b", "a:1");
    assert_eq!(claim(RequestCode::REGISTER_BROKER, &e, body), Err(Unjudgeable::Reference));
    // Also where no broker name is read, and in a 217.
    let elsewhere = br#"{"topicConfigSerializeWrapper":{"topicConfigTable":{"T":{"$ref":"$"}}}}"#;
    assert_eq!(claim(RequestCode::REGISTER_BROKER, &e, elsewhere), Err(Unjudgeable::Reference));
    let queues = br#"{"queueDatas":[{"brokerName":"broker-a"}],"brokerDatas":[{"$ref":"$.queueDatas[0]"}]}"#;
    assert_eq!(
        claim(RequestCode::REGISTER_TOPIC_IN_NAMESRV, &ext(&[("topic", "T")]), queues),
        Err(Unjudgeable::Reference)
    );
}

#[test]
fn too_many_distinct_brokers_are_not_judged() {
    let e = ext(&[("topic", "T")]);
    let body = |n: usize| {
        let items: Vec<String> = (0..n).map(|i| format!(r#"{{"brokerName":"b{i}"}}"#)).collect();
        format!(r#"{{"queueDatas":[{}]}}"#, items.join(",")).into_bytes()
    };
    let c = claim(RequestCode::REGISTER_TOPIC_IN_NAMESRV, &e, &body(MAX_BROKER_NAMES)).unwrap();
    assert_eq!(c.broker_names.len(), MAX_BROKER_NAMES);
    assert_eq!(
        claim(RequestCode::REGISTER_TOPIC_IN_NAMESRV, &e, &body(MAX_BROKER_NAMES + 1)),
        Err(Unjudgeable::TooManyBrokers)
    );
    // A large body of many names (the reviewer's 43k): refused, not read to the end name by name.
    assert_eq!(claim(RequestCode::REGISTER_TOPIC_IN_NAMESRV, &e, &body(43_000)), Err(Unjudgeable::TooManyBrokers));
    // Repeats count once.
    let repeated: Vec<&str> = vec![r#"{"brokerName":"b"}"#; 1000];
    let c = claim(
        RequestCode::REGISTER_TOPIC_IN_NAMESRV,
        &e,
        format!(r#"{{"queueDatas":[{}]}}"#, repeated.join(",")).as_bytes(),
    )
    .unwrap();
    assert_eq!(c.broker_names, ["b"]);
    // The same cap on a registration's static-topic mappings.
    let mapping: Vec<String> = (0..MAX_BROKER_NAMES).map(|i| format!(r#""T{i}":{{"bname":"m{i}"}}"#)).collect();
    let reg = register_body(&format!("{{{}}}", mapping.join(",")));
    assert_eq!(
        claim(RequestCode::REGISTER_BROKER, &register_ext("broker-a", "a:1"), &reg),
        Err(Unjudgeable::TooManyBrokers)
    );
}

#[test]
fn topic_registration_names_the_brokers_of_its_queues() {
    let e = ext(&[("topic", "T1")]);
    // Java 5.x (fastjson, empty lists written) and RocketMQ-Rust (its own property names).
    let java = br#"{"brokerDatas":[],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}]}"#;
    let rust = br#"{"orderTopicConf":null,"queueDatas":[{"brokerName":"broker-a","readQueueNums":8,"writeQueueNums":8,"perm":6,"topicSysFlag":0},{"brokerName":"broker-b","readQueueNums":1,"writeQueueNums":1,"perm":6,"topicSysFlag":0}],"brokerDatas":[],"filterServerTable":{},"topicQueueMappingInfo":null}"#;
    let c = claim(RequestCode::REGISTER_TOPIC_IN_NAMESRV, &e, java).unwrap();
    assert_eq!(
        (c.broker_names.as_slice(), c.topic.as_deref(), c.broker_addr),
        (&["broker-a".to_owned()][..], Some("T1"), None)
    );
    let c = claim(RequestCode::REGISTER_TOPIC_IN_NAMESRV, &e, rust).unwrap();
    assert_eq!(c.broker_names, ["broker-a", "broker-b"]);
    let cases: &[(&[u8], &str)] = &[
        (br#"{"QueueDatas":[{"brokerName":"broker-b"}]}"#, "QueueDatas"),
        (br#"{"queueDatas":[{"broker_name":"broker-b"}]}"#, "broker_name"),
        (br#"{"queueDatas":[{"brokerName":"a","brokerName":"b"}]}"#, "twice"),
        (br#"{"queueDatas":{"brokerName":"b"}}"#, "not an array"),
        (br#"{"queueDatas":[]}"#, "missing"),
        (br#"{"queueDatas":[{"perm":6}]}"#, "missing"),
        (br#"{"queueDatas":[{"brokerName":null}]}"#, "not a non-empty string"),
        (b"", "missing"),
        (b"nope", "body:"),
    ];
    for (body, want) in cases {
        let err = claim(RequestCode::REGISTER_TOPIC_IN_NAMESRV, &e, body).unwrap_err();
        assert!(err.to_string().contains(want), "{}: {err}", String::from_utf8_lossy(body));
    }
    assert_eq!(claim(RequestCode::REGISTER_TOPIC_IN_NAMESRV, &ext(&[]), java), Err(Unjudgeable::Missing("topic")));
}

#[test]
fn other_codes_are_not_judged_and_long_keys_are_clipped() {
    assert_eq!(claim(RequestCode::GET_ROUTEINFO_BY_TOPIC, &ext(&[]), b""), Err(Unjudgeable::NotARouteWrite(105)));
    let long = format!(r#"{{"{}":1}}"#, "k".repeat(500));
    let e = claim(RequestCode::REGISTER_BROKER, &register_ext("a", "a:1"), long.as_bytes()).unwrap_err();
    assert!(e.to_string().len() < 200, "{e}");
}
