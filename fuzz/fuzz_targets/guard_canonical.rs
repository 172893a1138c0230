//! Fuzz target `guard_canonical`: the guard reader's decisions, re-encoded canonically, read
//! back by serde_json — a strict reader that shares no code with rmq-protocol — as exactly the
//! canonical keys, each once, with the decided values. The invariants checked inside the
//! crate are listed at `rmq_protocol::fuzzing::guard_canonical`.
#![no_main]

use std::collections::HashSet;
use std::fmt;

use rmq_protocol::Header;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value that keeps every object member in order, repeated keys included (a
/// `serde_json::Value` map would silently keep one).
#[derive(Debug, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut members = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Node>()? {
            members.push((k, v));
        }
        Ok(Node::Object(members))
    }
}

fn int(n: &Node, what: &str) -> i128 {
    match n {
        Node::Int(i) => *i,
        other => panic!("{what} is not an integer: {other:?}"),
    }
}

fn text<'a>(n: &'a Node, what: &str) -> &'a str {
    match n {
        Node::Str(s) => s,
        other => panic!("{what} is not a string: {other:?}"),
    }
}

/// The independent check: serde_json reads the canonical bytes as the decided header.
fn check(h: &Header, canonical: &[u8]) {
    let doc: Node = serde_json::from_slice(canonical)
        .unwrap_or_else(|e| panic!("serde_json refuses {:?}: {e}", String::from_utf8_lossy(canonical)));
    let Node::Object(members) = doc else { panic!("not an object") };
    // Exactly the canonical keys, each once, in fastjson's bean order.
    let mut want = vec!["code"];
    if h.ext_fields.is_some() {
        want.push("extFields");
    }
    want.extend(["flag", "language", "opaque"]);
    if h.remark.is_some() {
        want.push("remark");
    }
    want.extend(["serializeTypeCurrentRPC", "version"]);
    let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, want);
    for (k, v) in &members {
        match k.as_str() {
            "code" => assert_eq!(int(v, k), i128::from(h.code)),
            "flag" => assert_eq!(int(v, k), i128::from(h.flag)),
            "opaque" => assert_eq!(int(v, k), i128::from(h.opaque)),
            "version" => assert_eq!(int(v, k), i128::from(h.version)),
            "language" => match h.language.name() {
                Some(name) => assert_eq!(text(v, k), name),
                None => assert_eq!(int(v, k), i128::from(h.language.get())),
            },
            "remark" => assert_eq!(Some(text(v, k)), h.remark.as_deref()),
            "serializeTypeCurrentRPC" => assert_eq!(text(v, k), "JSON"),
            "extFields" => {
                let Node::Object(ext) = v else { panic!("extFields is not an object: {v:?}") };
                let mut seen = HashSet::new();
                for (ek, _) in ext {
                    assert!(seen.insert(ek.as_str()), "ext key {ek:?} twice");
                }
                let got: Vec<(&str, &str)> = ext.iter().map(|(ek, ev)| (ek.as_str(), text(ev, ek))).collect();
                let decided: Vec<(&str, &str)> = h.ext_fields.iter().flat_map(|e| e.iter()).collect();
                assert_eq!(got, decided);
            }
            other => panic!("unexpected key {other:?}"),
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| rmq_protocol::fuzzing::guard_canonical(data, check));
