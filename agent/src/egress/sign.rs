//! What the egress does with one frame from the broker, with no I/O: a route write
//! ([`ROUTE_WRITES`](rmq_protocol::policy::ROUTE_WRITES)) is read with the guard's reader
//! (which refuses headers a Java name server could read differently), signed with
//! `rmq-hmac-v1`, and re-encoded in the broker's own serialize type — the signature adds ext
//! fields, so the header cannot be forwarded as it came; the body goes as it came, and the
//! signature covers its digest. Every other frame passes byte for byte.

use bytes::Bytes;
use rmq_protocol::frame::{self, RawFrame};
use rmq_protocol::header::DecodeLimits;
use rmq_protocol::policy::is_route_write;
use rmq_protocol::sign::{acl_v1, hmac_v1};
use rmq_protocol::{ExtFields, RequestCode};

use crate::commands::admin::{Signer, sign};

/// Ext fields a broker never sends and a signer adds: a route write that already carries one
/// is refused, so nothing but this host's signature reaches the name server.
const SIGNING_FIELDS: [&str; 8] = [
    hmac_v1::KEY_ID,
    hmac_v1::TIMESTAMP,
    hmac_v1::NONCE,
    hmac_v1::SIGNATURE,
    hmac_v1::TARGET,
    acl_v1::ACCESS_KEY,
    acl_v1::SIGNATURE,
    acl_v1::SECURITY_TOKEN,
];

/// What to send the name server for a broker frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Outbound {
    /// The frame as it came (not a route write, or a response).
    Pass,
    /// The signed re-encoding of a route write with this code; `oneway` if no answer comes.
    Signed {
        /// The frame to send.
        bytes: Bytes,
        /// Its request code.
        code: i32,
        /// Its opaque, to match the name server's answer.
        opaque: i32,
        /// Whether the broker expects no answer.
        oneway: bool,
    },
    /// Not forwarded: the connection is closed for this reason (counted) with this detail
    /// (logged).
    Refuse(&'static str, String),
}

/// How one route signs.
#[derive(Debug, Clone)]
pub struct FrameSigner {
    /// Key, key id and `RmqTarget`.
    pub signer: Signer,
    /// The header reader's limits.
    pub limits: DecodeLimits,
    /// Largest body signed.
    pub max_signed_body_bytes: usize,
}

impl FrameSigner {
    /// Decides on frame `f` from the broker.
    pub fn outbound(&self, f: &RawFrame) -> Outbound {
        let p = match f.peek() {
            Ok(p) => p,
            Err(e) => return Outbound::Refuse("malformed_frame", e.to_string()),
        };
        if p.is_response() || !is_route_write(p.code) {
            return Outbound::Pass;
        }
        let code = RequestCode(p.code);
        let body = f.body();
        if body.len() > self.max_signed_body_bytes {
            return Outbound::Refuse(
                "body_too_large",
                format!(
                    "{code} body of {} bytes is over max_signed_body_bytes ({}); raise it here and on the name server's guard listener",
                    body.len(),
                    self.max_signed_body_bytes
                ),
            );
        }
        let mut h = match f.header_guarded(&self.limits) {
            Ok(h) => h,
            Err(r) => return Outbound::Refuse(r.reason(), format!("{code}: {r}")),
        };
        let ext = h.ext_fields.get_or_insert_with(ExtFields::new);
        if let Some(field) = SIGNING_FIELDS.iter().find(|k| ext.contains_key(k)) {
            return Outbound::Refuse("already_signed", format!("{code} already carries {field}"));
        }
        if let Err(e) = sign(&self.signer, code, ext, &body) {
            return Outbound::Refuse("sign_failed", e);
        }
        match frame::encode_to_bytes(&h, f.serialize_type(), &body) {
            Ok(bytes) => Outbound::Signed { bytes, code: p.code, opaque: p.opaque, oneway: p.is_oneway() },
            Err(e) => Outbound::Refuse("unencodable_header", format!("{code}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmq_protocol::sign::SigningKey;
    use rmq_protocol::{Header, SerializeType};
    use rmq_runtime::replay::NonceCache;

    use crate::guard::{Decision, Policy, Scheme};

    const KEY: &[u8] = b"host-a-secret";

    fn signer(target: Option<&str>) -> FrameSigner {
        FrameSigner {
            signer: Signer {
                scheme: Scheme::RmqHmacV1,
                key_id: "host-a".into(),
                key: SigningKey::new(KEY),
                target: target.map(str::to_owned),
            },
            limits: DecodeLimits { max_header_bytes: 64 * 1024, max_ext_fields: 256 },
            max_signed_body_bytes: 1024,
        }
    }

    /// A name server guard's policy with `host-a` scoped to broker-a.
    fn namesrv_policy(targets: &[&str]) -> Policy {
        let keys = [("host-a".to_owned(), SigningKey::new(KEY))].into_iter().collect();
        Policy::new(rmq_protocol::policy::Role::Namesrv, &[], &[], vec![Scheme::RmqHmacV1], keys, 300_000)
            .with_route_scope(
                "host-a",
                crate::guard::auth::RouteScope::parse(&["broker-a@10.0.0.5:10911#0"]).expect("scope"),
            )
            .with_targets(targets)
    }

    fn broker_frame(code: RequestCode, ty: SerializeType, ext: &[(&str, &str)], body: &[u8], flag: i32) -> RawFrame {
        let mut h = Header::request(code, 42);
        h.flag = flag;
        h.version = 475;
        h.ext_fields = Some(ext.iter().copied().collect());
        RawFrame::parse(frame::encode_to_bytes(&h, ty, body).expect("encode")).expect("frame")
    }

    fn now_ms() -> u64 {
        u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis())
            .expect("ms")
    }

    const BROKER_A: [(&str, &str); 5] = [
        ("brokerName", "broker-a"),
        ("brokerAddr", "10.0.0.5:10911"),
        ("clusterName", "DefaultCluster"),
        ("brokerId", "0"),
        ("haServerAddr", "10.0.0.5:10912"),
    ];

    #[test]
    fn every_route_write_is_signed_in_its_own_serialize_type_and_passes_the_name_server_guard() {
        let topic_body = br#"{"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}]}"#;
        let register_body = br#"{"topicConfigSerializeWrapper":{"topicConfigTable":{},"dataVersion":{"counter":1,"timestamp":1}},"filterServerList":[]}"#;
        type Case<'a> = (RequestCode, &'a [(&'a str, &'a str)], &'a [u8], i32);
        let cases: [Case<'_>; 5] = [
            (RequestCode::REGISTER_BROKER, &BROKER_A, register_body, 0),
            (RequestCode::UNREGISTER_BROKER, &BROKER_A[..4], b"", 0),
            (RequestCode::REGISTER_TOPIC_IN_NAMESRV, &[("topic", "T1")], topic_body, 0),
            // 5.x sends its heartbeats oneway.
            (RequestCode::QUERY_DATA_VERSION, &BROKER_A[..4], br#"{"counter":1,"timestamp":1}"#, 2),
            (RequestCode::BROKER_HEARTBEAT, &BROKER_A[..3], b"", 2),
        ];
        let s = signer(Some("ns-1"));
        let policy = namesrv_policy(&["ns-1"]);
        let mut nonces = NonceCache::new(600_000, 100);
        for ty in [SerializeType::JSON, SerializeType::ROCKETMQ] {
            for (code, ext, body, flag) in cases {
                let f = broker_frame(code, ty, ext, body, flag);
                let Outbound::Signed { bytes, code: c, opaque, oneway } = s.outbound(&f) else {
                    panic!("{code} {ty:?} not signed")
                };
                assert_eq!((c, opaque, oneway), (code.get(), 42, flag == 2));
                let out = RawFrame::parse(bytes).expect("frame");
                assert_eq!(out.serialize_type(), ty, "{code}: the broker's own serialize type");
                assert_eq!(out.body(), f.body(), "{code}: the body is untouched");
                let h = out.header().expect("header");
                let before = f.header().expect("header");
                assert_eq!(
                    (h.code, h.flag, h.opaque, h.version),
                    (before.code, before.flag, before.opaque, before.version)
                );
                for (k, v) in ext {
                    assert_eq!(h.ext(k), Some(*v), "{code}: {k} kept");
                }
                assert_eq!(h.ext(hmac_v1::KEY_ID), Some("host-a"));
                assert_eq!(h.ext(hmac_v1::TARGET), Some("ns-1"));
                // What the name server's guard makes of it.
                let d = policy.check(&h, &out.body(), now_ms(), &mut nonces);
                assert_eq!(
                    d,
                    Decision::Allowed { key_id: "host-a".into(), scheme: Scheme::RmqHmacV1 },
                    "{code} {ty:?}"
                );
                // The signature covers the body: another body does not verify.
                let mut h2 = h.clone();
                h2.set_ext(hmac_v1::NONCE, "another-nonce-000000");
                assert!(matches!(
                    policy.check(&h2, b"{}", now_ms(), &mut nonces),
                    Decision::Rejected { reason: "bad_signature", .. }
                ));
            }
        }
    }

    #[test]
    fn everything_else_passes_as_it_came() {
        let s = signer(None);
        for (code, flag) in [
            (RequestCode::GET_ROUTEINFO_BY_TOPIC, 0),
            (RequestCode::GET_BROKER_CLUSTER_INFO, 0),
            (RequestCode::GET_BROKER_MEMBER_GROUP, 0),
            (RequestCode(9999), 0),
            // A response with a route write's code (there is none, but a response is never signed).
            (RequestCode::REGISTER_BROKER, 1),
        ] {
            let f = broker_frame(code, SerializeType::JSON, &[("topic", "T")], b"body", flag);
            assert_eq!(s.outbound(&f), Outbound::Pass, "{code}");
        }
    }

    #[test]
    fn refusals() {
        let s = signer(None);
        let reason = |f: &RawFrame| match s.outbound(f) {
            Outbound::Refuse(r, d) => (r, d),
            other => panic!("not refused: {other:?}"),
        };
        // A pre-signed request: only this host's signature may reach the name server.
        for field in [hmac_v1::TARGET, hmac_v1::SIGNATURE, acl_v1::ACCESS_KEY] {
            let f = broker_frame(
                RequestCode::REGISTER_BROKER,
                SerializeType::JSON,
                &[("brokerName", "b"), (field, "x")],
                b"",
                0,
            );
            let (r, d) = reason(&f);
            assert!(r == "already_signed" && d.contains(field), "{r}: {d}");
        }
        let f = broker_frame(RequestCode::REGISTER_BROKER, SerializeType::JSON, &BROKER_A, &[b'x'; 1025], 0);
        let (r, d) = reason(&f);
        assert!(r == "body_too_large" && d.contains("max_signed_body_bytes") && d.contains("1025"), "{r}: {d}");
        // A header a Java name server could read differently is not signed.
        let json = br#"{"code":103,"CODE":104,"extFields":{"brokerName":"b"},"flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":1}"#;
        let mut raw = Vec::new();
        raw.extend_from_slice(&u32::try_from(json.len() + 4).expect("len").to_be_bytes());
        raw.extend_from_slice(&u32::try_from(json.len()).expect("len").to_be_bytes());
        raw.extend_from_slice(json);
        let f = RawFrame::parse(Bytes::from(raw)).expect("frame");
        let (r, _) = reason(&f);
        assert_ne!(r, "already_signed");
        // An unsigned request keeps none of a route write's guarantees: the same frame, passed
        // unsigned, is what the name server's guard refuses.
        let policy = namesrv_policy(&[]);
        let f = broker_frame(RequestCode::UNREGISTER_BROKER, SerializeType::JSON, &BROKER_A[..4], b"", 0);
        let d = policy.check(&f.header().expect("header"), b"", now_ms(), &mut NonceCache::new(1, 1));
        assert!(matches!(d, Decision::Rejected { reason: "missing", .. }), "{d:?}");
    }
}
