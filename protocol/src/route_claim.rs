//! What a route write ([`ROUTE_WRITES`](crate::policy::ROUTE_WRITES)) claims: every broker
//! name a name server would file something under, and the broker address it keys the
//! broker's liveness by. A guard that lets a key speak only for some brokers compares these
//! with the key's scope; what this module cannot read without doubt it refuses to judge.
//!
//! Where a Java name server (4.9.x and 5.x, `DefaultRequestProcessor` and
//! `RouteInfoManager`) finds the broker a request is about:
//!
//! | Code | Broker name | Broker address | Broker id |
//! |---|---|---|---|
//! | `REGISTER_BROKER` 103 | ext `brokerName`; 5.x also `bname` of every entry of the body's `topicConfigSerializeWrapper.topicQueueMappingInfoMap` (static topics) | ext `brokerAddr` (liveness and the HA address slaves are given are kept per cluster and address) | ext `brokerId`: the broker's addresses are kept by id, so a registration with id 0 replaces the master's address |
//! | `UNREGISTER_BROKER` 104 | ext `brokerName` | ext `brokerAddr` | ext `brokerId`: the address under that id is removed, whatever `brokerAddr` says |
//! | `QUERY_DATA_VERSION` 322, `BROKER_HEARTBEAT` 904 | ext `brokerName` (not used by the name server) | ext `brokerAddr`: its last-seen time is refreshed | ext `brokerId` (optional on 904, whose header had none before 5.x and whose id the name server does not read) |
//! | `REGISTER_TOPIC_IN_NAMESRV` 217 | `brokerName` of every entry of the body's `queueDatas` | none | none |
//!
//! Ext field names are matched exactly by Java (`decodeCommandCustomHeader`), so the header is
//! read by name. Bodies are read by fastjson, which matches bean properties loosely (case,
//! `_` and `-`, a hash of the name) and resolves `$ref`: on the objects that lead to a broker
//! name, every key must be one of the property names Java and RocketMQ-Rust write, spelled
//! exactly, once. A `$ref` key anywhere in a body is refused (it is not resolved first: a
//! reference could carry a broker name from a part of the body that is not checked). A
//! compressed registration body (`compressed=true`, a deflate stream) is not judged at all,
//! nor is a request that names more than [`MAX_BROKER_NAMES`] distinct brokers.

use std::collections::HashSet;
use std::fmt;

use crate::codes::RequestCode;
use crate::fastjson::{self, Value};
use crate::header::ExtFields;

/// What a route write says about which broker it speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteClaim {
    /// Every broker name the name server would file something under for this request, in
    /// request order, without repeats. Never empty.
    pub broker_names: Vec<String>,
    /// The broker address the name server keys liveness by (`brokerAddr`); `None` for 217,
    /// which names no address.
    pub broker_addr: Option<String>,
    /// `brokerId` (0 is the master) of 103, 104, 322 and 904; `None` for 217 and for a 904
    /// without one.
    pub broker_id: Option<i64>,
    /// `clusterName`, where the request has one (not pinned by a scope).
    pub cluster: Option<String>,
    /// `haServerAddr` of a registration.
    pub ha_addr: Option<String>,
    /// The topic of a 217.
    pub topic: Option<String>,
}

/// Why a route write's claim cannot be judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unjudgeable {
    /// The code is not one of [`crate::policy::ROUTE_WRITES`].
    NotARouteWrite(i32),
    /// A field the name server reads is absent or empty.
    Missing(&'static str),
    /// A compressed registration body (a deflate stream, `compressed=true`).
    Compressed,
    /// `brokerId` is not a decimal long.
    BadBrokerId(String),
    /// More than [`MAX_BROKER_NAMES`] distinct broker names.
    TooManyBrokers,
    /// A `$ref` key, which fastjson would resolve to another part of the body.
    Reference,
    /// The body is not JSON the reader accepts.
    Body(String),
    /// An object on the way to a broker name has a key that is not a property name spelled
    /// as Java and RocketMQ-Rust write it (fastjson could read it as one), or a `$ref`.
    UnexpectedKey {
        /// Which object.
        object: &'static str,
        /// The key (clipped).
        key: String,
    },
    /// A key appears twice in one object (fastjson keeps the first or the last).
    RepeatedKey {
        /// Which object.
        object: &'static str,
        /// The key.
        key: &'static str,
    },
    /// A value is not of the type Java reads there (`what`).
    NotA {
        /// Which value.
        field: &'static str,
        /// What it must be.
        what: &'static str,
    },
}

impl fmt::Display for Unjudgeable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotARouteWrite(c) => write!(f, "code {c} is not a route write"),
            Self::Missing(field) => write!(f, "missing or empty {field}"),
            Self::Compressed => f.write_str(
                "a compressed registration body cannot be judged (set compressedRegister=false on the broker)",
            ),
            Self::BadBrokerId(v) => write!(f, "brokerId {v:?} is not a decimal long"),
            Self::TooManyBrokers => write!(f, "more than {MAX_BROKER_NAMES} distinct broker names"),
            Self::Reference => f.write_str("a $ref key in the body (references are not judged)"),
            Self::Body(e) => write!(f, "body: {e}"),
            Self::UnexpectedKey { object, key } => write!(f, "unexpected key {key:?} in {object}"),
            Self::RepeatedKey { object, key } => write!(f, "{key} appears twice in {object}"),
            Self::NotA { field, what } => write!(f, "{field} is not {what}"),
        }
    }
}

impl std::error::Error for Unjudgeable {}

/// Properties of Java's `RegisterBrokerBody` (RocketMQ-Rust writes the same names).
const REGISTER_BODY: &[&str] = &["topicConfigSerializeWrapper", "filterServerList"];
/// Properties of `TopicConfigAndMappingSerializeWrapper` and its parent (4.9 has the last two).
const TOPIC_CONFIG_WRAPPER: &[&str] = &[
    "topicQueueMappingInfoMap",
    "topicQueueMappingDetailMap",
    "mappingDataVersion",
    "topicConfigTable",
    "dataVersion",
];
/// Properties of `TopicQueueMappingInfo` (and `hostedQueues` of its subclass).
const MAPPING_INFO: &[&str] =
    &["topic", "scope", "totalQueues", "bname", "epoch", "dirty", "currIdMap", "hostedQueues"];
/// Properties of `TopicRouteData` (`topicQueueMappingInfo` is RocketMQ-Rust's name for the last).
const TOPIC_ROUTE_DATA: &[&str] = &[
    "orderTopicConf",
    "queueDatas",
    "brokerDatas",
    "filterServerTable",
    "topicQueueMappingByBroker",
    "topicQueueMappingInfo",
];
/// Properties of `QueueData`.
const QUEUE_DATA: &[&str] = &["brokerName", "readQueueNums", "writeQueueNums", "perm", "topicSysFlag"];

/// Most distinct broker names one route write may name and still be judged (a stock broker
/// names one; a 217 of an operator's tool a few).
pub const MAX_BROKER_NAMES: usize = 64;

/// Longest key quoted back in an [`Unjudgeable::UnexpectedKey`].
const KEY_CLIP: usize = 64;

/// The claim of route write `code` with ext fields `ext` and body `body`.
pub fn route_claim(code: i32, ext: &ExtFields, body: &[u8]) -> Result<RouteClaim, Unjudgeable> {
    let field = |k: &'static str| ext.get(k).filter(|v| !v.is_empty()).map(str::to_owned);
    let required = |k: &'static str| field(k).ok_or(Unjudgeable::Missing(k));
    let mut claim = RouteClaim { cluster: field("clusterName"), ..RouteClaim::default() };
    match RequestCode(code) {
        RequestCode::REGISTER_BROKER => {
            let name = required("brokerName")?;
            claim.broker_addr = Some(required("brokerAddr")?);
            claim.broker_id = Some(broker_id(ext)?);
            claim.ha_addr = field("haServerAddr");
            // Java reads it with Boolean.parseBoolean.
            if ext.get("compressed").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
                return Err(Unjudgeable::Compressed);
            }
            let mut names = Names::default();
            names.push(name)?;
            mapping_broker_names(body, &mut names)?;
            claim.broker_names = names.list;
        }
        RequestCode::UNREGISTER_BROKER | RequestCode::QUERY_DATA_VERSION => {
            claim.broker_names.push(required("brokerName")?);
            claim.broker_addr = Some(required("brokerAddr")?);
            claim.broker_id = Some(broker_id(ext)?);
        }
        RequestCode::BROKER_HEARTBEAT => {
            claim.broker_names.push(required("brokerName")?);
            claim.broker_addr = Some(required("brokerAddr")?);
            claim.broker_id = if ext.contains_key("brokerId") { Some(broker_id(ext)?) } else { None };
        }
        RequestCode::REGISTER_TOPIC_IN_NAMESRV => {
            claim.topic = Some(required("topic")?);
            let mut names = Names::default();
            queue_broker_names(body, &mut names)?;
            claim.broker_names = names.list;
            if claim.broker_names.is_empty() {
                return Err(Unjudgeable::Missing("queueDatas[].brokerName"));
            }
        }
        _ => return Err(Unjudgeable::NotARouteWrite(code)),
    }
    Ok(claim)
}

/// `brokerId` as Java's `Long.parseLong` reads it, limited to ASCII: an optional `-` and
/// decimal digits.
fn broker_id(ext: &ExtFields) -> Result<i64, Unjudgeable> {
    let v = ext.get("brokerId").ok_or(Unjudgeable::Missing("brokerId"))?;
    let digits = v.strip_prefix('-').unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Unjudgeable::BadBrokerId(clip(v)));
    }
    v.parse().map_err(|_| Unjudgeable::BadBrokerId(clip(v)))
}

/// Broker names in request order without repeats, at most [`MAX_BROKER_NAMES`].
#[derive(Default)]
struct Names {
    list: Vec<String>,
    seen: HashSet<String>,
}

impl Names {
    fn push(&mut self, name: String) -> Result<(), Unjudgeable> {
        if self.seen.contains(&name) {
            return Ok(());
        }
        if self.list.len() >= MAX_BROKER_NAMES {
            return Err(Unjudgeable::TooManyBrokers);
        }
        self.seen.insert(name.clone());
        self.list.push(name);
        Ok(())
    }
}

/// Adds `bname` of every entry of a registration body's `topicQueueMappingInfoMap`.
fn mapping_broker_names(body: &[u8], names: &mut Names) -> Result<(), Unjudgeable> {
    if body.is_empty() {
        return Ok(());
    }
    let root = parse(body)?;
    let Some(wrapper) = property(&root, "RegisterBrokerBody", REGISTER_BODY, "topicConfigSerializeWrapper")? else {
        return Ok(());
    };
    let Some(map) = property(wrapper, "topicConfigSerializeWrapper", TOPIC_CONFIG_WRAPPER, "topicQueueMappingInfoMap")?
    else {
        return Ok(());
    };
    // A map from topic to mapping: its keys are data, its values beans.
    let entries = match map {
        Value::Null => return Ok(()),
        Value::Object(entries) => entries,
        _ => return Err(Unjudgeable::NotA { field: "topicQueueMappingInfoMap", what: "an object" }),
    };
    for (_, info) in entries {
        match property(info, "topicQueueMappingInfoMap entry", MAPPING_INFO, "bname")? {
            Some(Value::Str(s)) if !s.is_empty() => names.push(s.clone())?,
            Some(_) => return Err(Unjudgeable::NotA { field: "bname", what: "a non-empty string" }),
            None => return Err(Unjudgeable::Missing("topicQueueMappingInfoMap entry bname")),
        }
    }
    Ok(())
}

/// Adds `brokerName` of every entry of a 217 body's `queueDatas`.
fn queue_broker_names(body: &[u8], names: &mut Names) -> Result<(), Unjudgeable> {
    if body.is_empty() {
        return Ok(());
    }
    let root = parse(body)?;
    let items = match property(&root, "TopicRouteData", TOPIC_ROUTE_DATA, "queueDatas")? {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Unjudgeable::NotA { field: "queueDatas", what: "an array" }),
    };
    for item in items {
        match property(item, "QueueData", QUEUE_DATA, "brokerName")? {
            Some(Value::Str(s)) if !s.is_empty() => names.push(s.clone())?,
            Some(_) => return Err(Unjudgeable::NotA { field: "queueDatas[].brokerName", what: "a non-empty string" }),
            None => return Err(Unjudgeable::Missing("queueDatas[].brokerName")),
        }
    }
    Ok(())
}

/// The body as written, references left unresolved; one with a `$ref` key anywhere is refused.
fn parse(body: &[u8]) -> Result<Value, Unjudgeable> {
    let root = fastjson::parse_unresolved(body).map_err(|e| Unjudgeable::Body(e.to_string()))?;
    let mut stack = vec![&root];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(members) => {
                for (k, val) in members {
                    if matches!(k, Value::Str(s) if s == "$ref") {
                        return Err(Unjudgeable::Reference);
                    }
                    stack.push(k);
                    stack.push(val);
                }
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    Ok(root)
}

/// The property `want` of bean `object`, if present: `v` must be an object (or `null`, read as
/// absent), whose every key is one of `allowed` spelled exactly, each at most once.
fn property<'v>(
    v: &'v Value,
    object: &'static str,
    allowed: &'static [&'static str],
    want: &'static str,
) -> Result<Option<&'v Value>, Unjudgeable> {
    let members = match v {
        Value::Null => return Ok(None),
        Value::Object(m) => m,
        _ => return Err(Unjudgeable::NotA { field: object, what: "an object" }),
    };
    let mut seen = vec![false; allowed.len()];
    let mut found = None;
    for (k, value) in members {
        let key = match k {
            Value::Str(s) => s.as_str(),
            other => {
                return Err(Unjudgeable::UnexpectedKey { object, key: clip(&format!("{other:?}")) });
            }
        };
        let Some(i) = allowed.iter().position(|a| *a == key) else {
            return Err(Unjudgeable::UnexpectedKey { object, key: clip(key) });
        };
        if std::mem::replace(&mut seen[i], true) {
            return Err(Unjudgeable::RepeatedKey { object, key: allowed[i] });
        }
        if allowed[i] == want {
            found = Some(value);
        }
    }
    Ok(found)
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(KEY_CLIP) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests;
