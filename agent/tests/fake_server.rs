//! Client behaviour that no real server here produces on demand, against a small in-process
//! fake: binary-header responses (4.9.4+ Java brokers mirror the request's type; the
//! RocketMQ-Rust broker never does), responses out of order, server-initiated requests, and
//! a server that sends garbage.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use bytes::BytesMut;
use rmq_agent::remoting::{Client, ClientConfig, ClientError};
use rmq_protocol::body::BrokerRuntimeInfo;
use rmq_protocol::frame::{self, RawFrame};
use rmq_protocol::{Header, RequestCode, ResponseCode, SerializeType};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Reads `n` request frames from one connection.
async fn read_requests(s: &mut TcpStream, n: usize) -> Vec<(Header, SerializeType)> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    while out.len() < n {
        while let Some(f) = RawFrame::split_from(&mut buf).expect("valid frames") {
            out.push((f.header().expect("header"), f.serialize_type()));
        }
        if out.len() < n && s.read_buf(&mut buf).await.expect("read") == 0 {
            panic!("client closed early");
        }
    }
    out
}

async fn listen() -> (TcpListener, Client) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut cfg = ClientConfig::new(l.local_addr().unwrap().to_string());
    cfg.serialize_type = SerializeType::ROCKETMQ;
    cfg.request_timeout = Duration::from_secs(5);
    (l, Client::new(cfg))
}

#[tokio::test]
async fn binary_response_from_server() {
    let (l, client) = listen().await;
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let reqs = read_requests(&mut s, 1).await;
        let (req, ty) = &reqs[0];
        assert_eq!(*ty, SerializeType::ROCKETMQ);
        let resp = req.response_to(ResponseCode::SUCCESS, None);
        let body = br#"{"table":{"brokerVersionDesc":"V4_9_7","putTps":"1.0 2.0 3.0"}}"#;
        s.write_all(&frame::encode_to_bytes(&resp, SerializeType::ROCKETMQ, body).unwrap()).await.unwrap();
    });
    let resp = client.request(RequestCode::GET_BROKER_RUNTIME_INFO, None, &[], None).await.unwrap();
    assert_eq!(resp.serialize_type, SerializeType::ROCKETMQ);
    let info: BrokerRuntimeInfo = rmq_protocol::body::FromBody::decode(&resp.body).unwrap();
    assert_eq!(info.get("brokerVersionDesc"), Some("V4_9_7"));
    server.await.unwrap();
}

#[tokio::test]
async fn out_of_order_responses_and_server_requests() {
    let (l, client) = listen().await;
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let reqs = read_requests(&mut s, 2).await;
        // A request from the server first (the broker does this to clients), then the two
        // answers in reverse order, each carrying its request's code in the remark.
        let mut out = BytesMut::new();
        let notify =
            Header { code: RequestCode::NOTIFY_CONSUMER_IDS_CHANGED.get(), flag: 2, opaque: 7, ..Header::default() };
        frame::encode(&notify, SerializeType::JSON, &[], &mut out).unwrap();
        for (req, _) in reqs.iter().rev() {
            let resp = req.response_to(ResponseCode::SUCCESS, Some(req.code.to_string()));
            frame::encode(&resp, SerializeType::JSON, &[], &mut out).unwrap();
        }
        s.write_all(&out).await.unwrap();
        // Keep the connection open until the client is done.
        let _ = s.read(&mut [0u8; 1]).await;
    });
    let a = client.request(RequestCode::GET_BROKER_RUNTIME_INFO, None, &[], None);
    let b = client.request(RequestCode::GET_ALL_TOPIC_CONFIG, None, &[], None);
    let (a, b) = tokio::join!(a, b);
    assert_eq!(a.unwrap().header.remark.as_deref(), Some("28"));
    assert_eq!(b.unwrap().header.remark.as_deref(), Some("21"));
    drop(client);
    server.abort();
}

#[tokio::test]
async fn garbage_from_server_fails_pending_requests_and_reconnects() {
    let (l, client) = listen().await;
    let server = tokio::spawn(async move {
        // First connection: answer with bytes that are not a frame (a 2 GiB length).
        let (mut s, _) = l.accept().await.unwrap();
        read_requests(&mut s, 1).await;
        s.write_all(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]).await.unwrap();
        // Second connection: a proper answer.
        let (mut s, _) = l.accept().await.unwrap();
        let reqs = read_requests(&mut s, 1).await;
        let resp = reqs[0].0.response_to(ResponseCode::SUCCESS, None);
        s.write_all(&frame::encode_to_bytes(&resp, SerializeType::JSON, &[]).unwrap()).await.unwrap();
        let _ = s.read(&mut [0u8; 1]).await;
    });
    let err = client.request(RequestCode::GET_BROKER_RUNTIME_INFO, None, &[], None).await.unwrap_err();
    assert!(matches!(err, ClientError::Disconnected { .. }), "{err}");
    let ok = client.request(RequestCode::GET_BROKER_RUNTIME_INFO, None, &[], None).await.unwrap();
    assert_eq!(ok.code(), ResponseCode::SUCCESS);
    drop(client);
    server.abort();
}

#[tokio::test]
async fn silent_server_times_out_with_the_request_code() {
    let (l, client) = listen().await;
    let _server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let _ = read_requests(&mut s, 1).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let err = client
        .request(RequestCode::GET_BROKER_CLUSTER_INFO, None, &[], Some(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "timeout");
    assert!(err.to_string().contains("GET_BROKER_CLUSTER_INFO"), "{err}");
}

#[tokio::test]
async fn reconnects_with_backoff_after_refusals() {
    // Nothing listens on the port at first: an attempt within the backoff fails at once
    // without dialling, naming the backoff. The first backoff is 100 ms, which a loaded
    // machine can let pass between two requests (that request dials, is refused, and doubles
    // the backoff): ask until one lands inside it.
    let port = rmq_testkit::free_port().unwrap();
    let addr = format!("127.0.0.1:{port}");
    let client = Client::new(ClientConfig::new(addr.clone()));
    let first = client.request(RequestCode::GET_BROKER_RUNTIME_INFO, None, &[], None).await.unwrap_err();
    assert_eq!(first.kind(), "connect");
    let mut within = None;
    for _ in 0..8 {
        let e = client.request(RequestCode::GET_BROKER_RUNTIME_INFO, None, &[], None).await.unwrap_err();
        assert_eq!(e.kind(), "connect", "{e}");
        if e.to_string().contains("next attempt in") {
            within = Some(e);
            break;
        }
    }
    assert!(within.is_some(), "no request within the backoff was refused without dialling");
    // Once the server is there and the backoff has passed, requests go through.
    let l = TcpListener::bind(&addr).await.unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let reqs = read_requests(&mut s, 1).await;
        let resp = reqs[0].0.response_to(ResponseCode::SUCCESS, None);
        s.write_all(&frame::encode_to_bytes(&resp, SerializeType::JSON, &[]).unwrap()).await.unwrap();
        let _ = s.read(&mut [0u8; 1]).await;
    });
    let deadline = tokio::time::Instant::now() + rmq_agent::remoting::MAX_BACKOFF * 3;
    loop {
        match client.request(RequestCode::GET_BROKER_RUNTIME_INFO, None, &[], None).await {
            Ok(r) => {
                assert_eq!(r.code(), ResponseCode::SUCCESS);
                break;
            }
            Err(e) if tokio::time::Instant::now() < deadline => {
                assert_eq!(e.kind(), "connect");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("never reconnected: {e}"),
        }
    }
}

#[tokio::test]
async fn acl_credentials_sign_every_request() {
    // A broker with aclEnable=true would verify these; here the fake verifies them the same way.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut cfg = ClientConfig::new(l.local_addr().unwrap().to_string());
    cfg.credentials = Some(rmq_agent::remoting::Credentials {
        access_key: "rmq-agent".into(),
        secret: rmq_protocol::sign::SigningKey::new(b"12345678"),
    });
    let client = Client::new(cfg);
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let reqs = read_requests(&mut s, 1).await;
        let ext = reqs[0].0.ext_fields.clone().expect("signed requests carry extFields");
        let key = rmq_protocol::sign::SigningKey::new(b"12345678");
        let who =
            rmq_protocol::sign::acl_v1::verify(&ext, &[], |ak| (ak == "rmq-agent").then_some(&key)).map(str::to_owned);
        assert_eq!(who, Ok("rmq-agent".to_owned()));
        assert_eq!(ext.get("topic"), Some("T1"));
        let resp = reqs[0].0.response_to(ResponseCode::SUCCESS, None);
        s.write_all(&frame::encode_to_bytes(&resp, SerializeType::JSON, &[]).unwrap()).await.unwrap();
        let _ = s.read(&mut [0u8; 1]).await;
    });
    let ext: rmq_protocol::ExtFields = [("topic", "T1")].into_iter().collect();
    let r = client.request(RequestCode::GET_TOPIC_STATS_INFO, Some(ext), &[], None).await.unwrap();
    assert_eq!(r.code(), ResponseCode::SUCCESS);
    drop(client);
    server.abort();
}
