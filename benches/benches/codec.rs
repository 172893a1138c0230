//! Codec throughput: frame split + header decode, encode, and signature verification.
//! With `--features compare-rocketmq-rust` (and/or `compare-remoting-0-9`) the same frames
//! are also decoded by RocketMQ-Rust's codec, in the same run.

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, black_box, criterion_group, criterion_main};
use rmq_benches::{samples, send_header, small_header};
use rmq_protocol::frame::{self, RawFrame};
use rmq_protocol::sign::{SigningKey, acl_v1, ha_v1, hmac_v1};
use rmq_protocol::{ExtFields, SerializeType};

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    for s in samples() {
        // Each iteration gets its own buffer, as a socket read would; the copy is setup and
        // is not timed (iter_batched).
        g.bench_function(format!("rmq/{}", s.name), |b| {
            b.iter_batched(
                || BytesMut::from(&s.frame[..]),
                |mut buf| {
                    let f = RawFrame::split_from(&mut buf).ok().flatten().expect("frame");
                    black_box(f.header().expect("header"));
                    f
                },
                BatchSize::SmallInput,
            )
        });
        #[cfg(feature = "compare-rocketmq-rust")]
        g.bench_function(format!("rocketmq-rust-1.0/{}", s.name), |b| {
            b.iter_batched(
                || BytesMut::from(&s.frame[..]),
                |mut buf| {
                    rocketmq_protocol::protocol::remoting_command::RemotingCommand::decode(&mut buf)
                        .expect("decodes")
                        .expect("complete")
                },
                BatchSize::SmallInput,
            )
        });
        #[cfg(feature = "compare-remoting-0-9")]
        g.bench_function(format!("rocketmq-remoting-0.9/{}", s.name), |b| {
            b.iter_batched(
                || BytesMut::from(&s.frame[..]),
                |mut buf| {
                    rocketmq_remoting::protocol::remoting_command::RemotingCommand::decode(&mut buf)
                        .expect("decodes")
                        .expect("complete")
                },
                BatchSize::SmallInput,
            )
        });
    }
    // The proxy's fast path: the code alone, straight from a binary header.
    let binary = samples().into_iter().find(|s| s.name == "binary_send_4k").expect("sample");
    g.bench_function("rmq/peek_code_binary", |b| {
        b.iter_batched(
            || BytesMut::from(&binary.frame[..]),
            |mut buf| {
                let f = RawFrame::split_from(&mut buf).ok().flatten().expect("frame");
                black_box(f.peek_code().expect("code"));
                f
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    let body = vec![b'x'; 4096];
    for (name, h, body) in [("small", small_header(), &[][..]), ("send_4k", send_header(), &body[..])] {
        for (tyname, ty) in [("json", SerializeType::JSON), ("binary", SerializeType::ROCKETMQ)] {
            let mut dst = BytesMut::with_capacity(8192);
            g.bench_function(format!("rmq/{tyname}_{name}"), |b| {
                b.iter(|| {
                    dst.clear();
                    frame::encode(black_box(&h), ty, body, &mut dst).expect("encodes");
                })
            });
        }
    }
    g.finish();
}

fn sign(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(1));
    let key = SigningKey::new(b"a-32-byte-secret-for-benchmarks!");
    let body = br#"{"a":1}"#;
    let base: ExtFields = [
        ("topic", "TopicTest"),
        ("defaultTopic", "TBW102"),
        ("readQueueNums", "8"),
        ("writeQueueNums", "8"),
        ("perm", "6"),
        ("topicFilterType", "SINGLE_TAG"),
        ("order", "false"),
    ]
    .into_iter()
    .collect();

    let mut acl = base.clone();
    acl_v1::sign(&mut acl, body, "ops", &key, None);
    g.bench_function("acl_v1", |b| b.iter(|| acl_v1::verify(black_box(&acl), body, |_| Some(&key)).expect("valid")));

    let now = 1_700_000_000_000;
    let mut hm = base.clone();
    hmac_v1::sign(&mut hm, 17, body, "ops", &key, now, "00112233445566778899aabbccddeeff");
    g.bench_function("rmq_hmac_v1", |b| {
        b.iter(|| hmac_v1::verify(17, black_box(&hm), body, |_| Some(&key), now, 300_000).expect("valid"))
    });

    let hello = ha_v1::encode_hello("ha-1", &key, now, [7; 16], "broker-a").expect("hello");
    g.bench_function("rmq_ha_v1_hello", |b| {
        b.iter(|| {
            let ha_v1_parsed = ha_v1::parse_hello(black_box(&hello)).expect("parses");
            let rmq_protocol::ha::Parsed::Complete(h, _) = ha_v1_parsed else { panic!("complete") };
            h.verify(&key, now, 30_000, "broker-a").expect("valid");
        })
    });
    g.finish();
}

criterion_group!(benches, decode, encode, sign);
criterion_main!(benches);
