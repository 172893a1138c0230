//! Prometheus remote-write 1.0 on the wire: the protobuf `WriteRequest` (the fields 1.0
//! senders fill), snappy block compression, and the required headers.

use prost::Message as _;

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// Series with their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: labels sorted by name, `__name__` among them.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Prometheus' staleness marker: a NaN with this exact bit pattern ends a series.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// The headers every remote-write 1.0 request carries.
pub const HEADERS: [(&str, &str); 3] = [
    ("Content-Encoding", "snappy"),
    ("Content-Type", "application/x-protobuf"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

fn varint_len(v: u64) -> usize {
    prost::encoding::encoded_len_varint(v)
}

fn put_bytes(buf: &mut Vec<u8>, key: u8, bytes: &[u8]) {
    buf.push(key);
    prost::encoding::encode_varint(bytes.len() as u64, buf);
    buf.extend_from_slice(bytes);
}

/// Appends one `TimeSeries` with one sample to `buf`, framed as field 1 of a `WriteRequest`
/// — so a request body is just a run of these, whatever the batch boundaries. Byte-for-byte
/// what prost encodes for the same message (tested); written directly from borrowed labels to
/// avoid building owned messages for every series.
pub fn put_series(buf: &mut Vec<u8>, labels: &[(&str, &str)], value: f64, ts_ms: i64) {
    let label_len = |n: &str, v: &str| {
        let f = |s: &str| if s.is_empty() { 0 } else { 1 + varint_len(s.len() as u64) + s.len() };
        f(n) + f(v)
    };
    // Prost omits default (zero) scalars; so do we, to stay byte-identical.
    #[allow(clippy::cast_sign_loss)]
    let ts_u = ts_ms as u64;
    let has_value = value != 0.0;
    let sample_len = if has_value { 9 } else { 0 } + if ts_ms == 0 { 0 } else { 1 + varint_len(ts_u) };
    let series_len: usize = labels
        .iter()
        .map(|(n, v)| {
            let l = label_len(n, v);
            1 + varint_len(l as u64) + l
        })
        .sum::<usize>()
        + 1
        + varint_len(sample_len as u64)
        + sample_len;
    buf.push(0x0a);
    prost::encoding::encode_varint(series_len as u64, buf);
    for (n, v) in labels {
        buf.push(0x0a);
        prost::encoding::encode_varint(label_len(n, v) as u64, buf);
        if !n.is_empty() {
            put_bytes(buf, 0x0a, n.as_bytes());
        }
        if !v.is_empty() {
            put_bytes(buf, 0x12, v.as_bytes());
        }
    }
    buf.push(0x12);
    prost::encoding::encode_varint(sample_len as u64, buf);
    if has_value {
        buf.push(0x09);
        buf.extend_from_slice(&value.to_le_bytes());
    }
    if ts_ms != 0 {
        buf.push(0x10);
        prost::encoding::encode_varint(ts_u, buf);
    }
}

/// Snappy-compresses an encoded `WriteRequest` (the HTTP body).
pub fn compress(raw: &[u8]) -> Result<Vec<u8>, snap::Error> {
    snap::raw::Encoder::new().compress_vec(raw)
}

/// Encodes and snappy-compresses a request (the HTTP body).
pub fn encode(req: &WriteRequest) -> Result<Vec<u8>, snap::Error> {
    snap::raw::Encoder::new().compress_vec(&req.encode_to_vec())
}

/// Decompresses and decodes a body (tests, and the spool's sanity check).
pub fn decode(body: &[u8]) -> Result<WriteRequest, String> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| e.to_string())?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_round_trips_through_snappy_and_protobuf() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label { name: "__name__".into(), value: "up".into() },
                    Label { name: "host".into(), value: "b1".into() },
                ],
                samples: vec![Sample { value: 1.0, timestamp: 1_700_000_000_000 }],
            }],
        };
        let body = encode(&req).unwrap();
        assert_eq!(decode(&body).unwrap(), req);
        // Field 1 (timeseries), length-delimited: the protobuf starts 0x0a.
        assert_eq!(req.encode_to_vec()[0], 0x0a);
    }

    #[test]
    fn put_series_writes_what_prost_writes() {
        for (labels, value, ts) in [
            (vec![("__name__", "up"), ("host", "b1")], 1.0, 1_700_000_000_000i64),
            (vec![("__name__", "x"), ("empty", "")], 0.0, 5),
            (vec![("__name__", "x")], -0.0, 5),
            (vec![("__name__", "y")], f64::from_bits(STALE_NAN), 0),
            (vec![("__name__", "z"), ("l", &"v".repeat(300))], -2.5, -1),
        ] {
            let mut ours = Vec::new();
            put_series(&mut ours, &labels, value, ts);
            put_series(&mut ours, &labels, value, ts);
            let ts_msg = TimeSeries {
                labels: labels.iter().map(|(n, v)| Label { name: (*n).into(), value: (*v).into() }).collect(),
                samples: vec![Sample { value, timestamp: ts }],
            };
            let theirs = WriteRequest { timeseries: vec![ts_msg.clone(), ts_msg] }.encode_to_vec();
            assert_eq!(ours, theirs, "{labels:?} {value} {ts}");
        }
    }
}
