//! The guard reader's cost: per frame on typical headers (strict decode + canonical
//! re-encode vs the plain decode), at the worst case [`DecodeLimits::default`] admits, just
//! over it (refused), and the plain decoder on a 6 MB, 600k-field header (linear since the
//! ExtFields index).

use bytes::BytesMut;
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use rmq_benches::send_header;
use rmq_protocol::SerializeType;
use rmq_protocol::header::{DecodeLimits, Header};

const JSON: SerializeType = SerializeType::JSON;
const BINARY: SerializeType = SerializeType::ROCKETMQ;

fn encoded(h: &Header, ty: SerializeType) -> Vec<u8> {
    let mut b = BytesMut::new();
    h.encode(ty, &mut b).expect("bench header encodes");
    b.to_vec()
}

/// A JSON header of exactly `len` bytes with `fields` ext fields, each value padded with
/// `unit` (a literal character or an escape) to fill the space.
fn json_filled(len: usize, fields: usize, unit: &str) -> Vec<u8> {
    let head = br#"{"code":310,"extFields":{"#.to_vec();
    let tail = br#"},"flag":0,"language":"JAVA","opaque":42,"serializeTypeCurrentRPC":"JSON","version":407}"#;
    let mut per_field: Vec<Vec<u8>> = (0..fields).map(|i| format!(r#""k{i:05}":"""#).into_bytes()).collect();
    let fixed: usize = head.len() + tail.len() + per_field.iter().map(Vec::len).sum::<usize>() + fields - 1;
    let mut room = len.checked_sub(fixed).expect("room for the fields");
    'fill: loop {
        for f in per_field.iter_mut() {
            if room < unit.len() {
                break 'fill;
            }
            f.splice(f.len() - 1..f.len() - 1, unit.bytes());
            room -= unit.len();
        }
    }
    // Whatever is left (under one unit) goes into the first value as plain bytes.
    let first = &mut per_field[0];
    first.splice(first.len() - 1..first.len() - 1, std::iter::repeat_n(b'x', room));
    let mut out = head;
    out.extend_from_slice(&per_field.join(&b","[..]));
    out.extend_from_slice(tail);
    assert_eq!(out.len(), len);
    out
}

/// A JSON header of about `len` bytes made of unknown top-level keys written with escapes
/// (each goes through the slow key path and the loose-match check), then `code`.
fn json_unknown_keys(len: usize) -> Vec<u8> {
    let mut out = b"{".to_vec();
    let mut i = 0u32;
    let last = br#""code":17}"#;
    loop {
        let key = format!(r#""\u0078_{i:06}_\u00e9\u00e9\u00e9":0,"#);
        if out.len() + key.len() + last.len() > len {
            break;
        }
        out.extend_from_slice(key.as_bytes());
        i += 1;
    }
    out.extend_from_slice(last);
    out
}

fn binary_filled(fields: usize, value_len: usize) -> Vec<u8> {
    let mut h = Header { code: 310, opaque: 42, ..Header::default() };
    let v = "x".repeat(value_len);
    for i in 0..fields {
        h.set_ext(format!("k{i:05}"), &v);
    }
    encoded(&h, BINARY)
}

fn per_frame(c: &mut Criterion) {
    let mut g = c.benchmark_group("guard_per_frame");
    g.throughput(Throughput::Elements(1));
    let limits = DecodeLimits::default();
    for (name, ty) in [("json_send_v2", JSON), ("binary_send_v2", BINARY)] {
        let bytes = encoded(&send_header(), ty);
        g.bench_function(format!("{name}/decode"), |b| b.iter(|| Header::decode(ty, black_box(&bytes)).expect("ok")));
        g.bench_function(format!("{name}/decode_guarded"), |b| {
            b.iter(|| Header::decode_guarded(ty, black_box(&bytes), &limits).expect("ok"))
        });
        let mut dst = BytesMut::with_capacity(1024);
        g.bench_function(format!("{name}/decode_guarded+encode_json"), |b| {
            b.iter(|| {
                let h = Header::decode_guarded(ty, black_box(&bytes), &limits).expect("ok");
                dst.clear();
                h.encode(JSON, &mut dst).expect("ok");
            })
        });
    }
    g.finish();
}

fn worst_case(c: &mut Criterion) {
    let mut g = c.benchmark_group("guard_worst");
    let limits = DecodeLimits::default();
    let max = limits.max_header_bytes;
    let n = limits.max_ext_fields;
    let cases = [
        ("json_64k_256_fields", JSON, json_filled(max, n, "v")),
        ("json_64k_256_fields_escaped", JSON, json_filled(max, n, r"\u00e9")),
        ("json_64k_unknown_escaped_keys", JSON, json_unknown_keys(max)),
        ("binary_64k_256_fields", BINARY, binary_filled(n, (max - 30) / n - 12)),
    ];
    for (name, ty, bytes) in &cases {
        assert!(bytes.len() <= max, "{name}: {}", bytes.len());
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(format!("{name}/decode_guarded"), |b| {
            b.iter(|| Header::decode_guarded(*ty, black_box(bytes), &limits).expect("within limits"))
        });
        let mut dst = BytesMut::with_capacity(8 * max);
        g.bench_function(format!("{name}/decode_guarded+encode_json"), |b| {
            b.iter(|| {
                let h = Header::decode_guarded(*ty, black_box(bytes), &limits).expect("within limits");
                dst.clear();
                h.encode(JSON, &mut dst).expect("ok");
            })
        });
    }
    // Refused: one byte over, and one field over (refused when the 257th field is read).
    let over_bytes = json_filled(max + 1, n, "v");
    let over_fields = json_filled(max, n + 1, "v");
    g.throughput(Throughput::Bytes(over_bytes.len() as u64));
    g.bench_function("json_64k_plus_1/refused", |b| {
        b.iter(|| Header::decode_guarded(JSON, black_box(&over_bytes), &limits).expect_err("over"))
    });
    g.throughput(Throughput::Bytes(over_fields.len() as u64));
    g.bench_function("json_64k_257_fields/refused", |b| {
        b.iter(|| Header::decode_guarded(JSON, black_box(&over_fields), &limits).expect_err("over"))
    });
    g.finish();
}

fn unlimited_plain_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("plain_decode_huge");
    g.sample_size(10);
    // 600k fields in about 6 MB: quadratic before the ExtFields index (1.8e11 comparisons).
    let fields = 600_000;
    let mut json = String::from(r#"{"code":17,"extFields":{"#);
    for i in 0..fields {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!(r#""{i:x}":"""#));
    }
    json.push_str("}}");
    let json = json.into_bytes();
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function(format!("json_{}mb_600k_fields", json.len() >> 20), |b| {
        b.iter(|| Header::decode(JSON, black_box(&json)).expect("decodes"))
    });
    g.finish();
}

criterion_group!(benches, per_frame, worst_case, unlimited_plain_decode);
criterion_main!(benches);
