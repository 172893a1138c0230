//! The guard's decision for one request: does its code need a signature (default deny: every
//! code outside the listener's unsigned list does), and if so, is it signed by a configured
//! key under an accepted scheme, for a code that key may sign, for this listener's target —
//! and, for a key scoped to brokers ([`RouteScope`]), for a route write about those brokers.

use std::collections::{BTreeSet, HashMap};

use rmq_protocol::policy::{ROUTE_WRITES, Role, default_unsigned_codes, is_route_write};
use rmq_protocol::route_claim::{RouteClaim, route_claim};
use rmq_protocol::sign::{AuthError, SigningKey, acl_v1, hmac_v1};
use rmq_protocol::{ExtFields, Header, RequestCode};
use serde::Deserialize;

use rmq_runtime::replay::{NonceCache, NonceRejection};

/// A signature scheme a listener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub enum Scheme {
    /// RocketMQ ACL 1.0. Opt-in: it signs neither the request code nor a time.
    #[serde(rename = "acl-v1")]
    AclV1,
    /// rmq-sidecar's HMAC-SHA256 scheme.
    #[serde(rename = "rmq-hmac-v1")]
    RmqHmacV1,
}

impl Scheme {
    /// Parses a config name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "acl-v1" => Some(Self::AclV1),
            "rmq-hmac-v1" => Some(Self::RmqHmacV1),
            _ => None,
        }
    }

    /// The config / metric name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AclV1 => "acl-v1",
            Self::RmqHmacV1 => "rmq-hmac-v1",
        }
    }
}

/// Which codes need a signature, and which schemes, keys and targets are accepted.
#[derive(Debug)]
pub struct Policy {
    unsigned: BTreeSet<i32>,
    schemes: Vec<Scheme>,
    keys: HashMap<String, SigningKey>,
    /// Per key id: the only codes it may sign with `acl-v1` (absent: any code).
    acl_v1_codes: HashMap<String, BTreeSet<i32>>,
    /// `RmqTarget` values accepted; empty: no target required.
    targets: BTreeSet<String>,
    /// Per key id: the brokers it speaks for (absent: an unscoped key).
    route_scopes: HashMap<String, RouteScope>,
    max_skew_ms: u64,
}

/// What a key scoped to brokers (`brokers = ["broker-a@10.0.0.5:10911#0"]`) may sign: route
/// writes ([`ROUTE_WRITES`]) whose every broker name is one of its names and whose broker
/// address and broker id are ones its name registers with — nothing else, and with
/// `rmq-hmac-v1` only. The name server files routes under the broker name, keeps liveness and
/// the HA address slaves are given per broker address, and keeps a broker's addresses by id
/// (id 0 is the master: a slave's key must not register or unregister it), so all three are
/// pinned; `name@*` accepts any address for that name, `#*` any id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteScope {
    entries: Vec<ScopeEntry>,
}

/// One `name@addr#id` of a [`RouteScope`]; `None` is `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ScopeEntry {
    name: String,
    addr: Option<String>,
    id: Option<i64>,
}

impl RouteScope {
    /// Parses `name@host:port#id` entries; `*` for the address or the id accepts any. The id
    /// is required (`#*` must be written out): a key without one could register as the master.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        if entries.is_empty() {
            return Err("empty: list the brokers this key registers, as name@brokerIP1:listenPort#brokerId".into());
        }
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let e = e.as_ref();
            let Some((rest, id)) = e.rsplit_once('#') else {
                return Err(format!(
                    "{e:?}: give the broker's brokerId too, {e}#<brokerId> (0 for the master; #* for any id, which lets this key register as the master)"
                ));
            };
            let id = match id {
                "*" => None,
                i if !i.is_empty() && i.len() <= 19 && i.bytes().all(|b| b.is_ascii_digit()) => match i.parse() {
                    Ok(n) => Some(n),
                    Err(_) => return Err(format!("{e:?}: brokerId {i:?} is not a number")),
                },
                i => return Err(format!("{e:?}: brokerId {i:?} is neither a number nor *")),
            };
            let Some((name, addr)) = rest.rsplit_once('@') else {
                return Err(format!(
                    "{e:?}: give the address the broker registers, {rest}@<brokerIP1>:<listenPort>#<brokerId> (or {rest}@*#<brokerId> for any address)"
                ));
            };
            if name.is_empty() || name.len() > 255 || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("{e:?}: the broker name must be 1-255 characters without spaces"));
            }
            let addr = match addr {
                "*" => None,
                a if a.parse::<rmq_runtime::config::HostPort>().is_ok() => Some(a.to_owned()),
                a => return Err(format!("{e:?}: {a:?} is neither host:port nor *")),
            };
            out.push(ScopeEntry { name: name.to_owned(), addr, id });
        }
        Ok(Self { entries: out })
    }

    /// A scope that allows nothing (what an entry list that does not parse amounts to).
    pub fn nothing() -> Self {
        Self { entries: Vec::new() }
    }

    /// Whether `claim` speaks only for this scope's brokers; the refusal's detail if not.
    pub fn allows(&self, claim: &RouteClaim) -> Result<(), String> {
        for name in &claim.broker_names {
            if !self.entries.iter().any(|e| &e.name == name) {
                return Err(format!("broker {name:?} is not one this key registers ({})", self.describe()));
            }
        }
        // The address and id are the header's, paired with the header's broker name (the
        // first). Every claim with an address has an id but a heartbeat without one, which the
        // name server files by address alone.
        if let (Some(addr), Some(name)) = (&claim.broker_addr, claim.broker_names.first()) {
            let pinned = self.entries.iter().any(|e| {
                &e.name == name
                    && e.addr.as_ref().is_none_or(|a| a == addr)
                    && e.id.zip(claim.broker_id).is_none_or(|(id, claimed)| id == claimed)
            });
            if !pinned {
                let id = claim.broker_id.map_or_else(|| "?".to_owned(), |i| i.to_string());
                return Err(format!(
                    "{name}@{addr}#{id} is not an address and broker id this key registers ({})",
                    self.describe()
                ));
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let shown: Vec<String> = self
            .entries
            .iter()
            .map(|e| {
                let id = e.id.map_or_else(|| "*".to_owned(), |i| i.to_string());
                format!("{}@{}#{id}", e.name, e.addr.as_deref().unwrap_or("*"))
            })
            .collect();
        shown.join(", ")
    }
}

/// What the guard decided about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Validly signed.
    Allowed {
        /// The key that signed.
        key_id: String,
        /// Under which scheme.
        scheme: Scheme,
    },
    /// Not acceptable.
    Rejected {
        /// A stable reason: missing, scheme_not_accepted, malformed, unknown_key,
        /// bad_signature, expired, replayed, replay_cache_full, code_not_allowed,
        /// wrong_target, out_of_scope, unjudgeable.
        reason: &'static str,
        /// Detail for the remark and the audit line.
        detail: String,
    },
}

impl Policy {
    /// The default unsigned codes for `role`, plus `allow_unsigned`, minus `require_signed`;
    /// every other code needs a signature by one of `keys` under one of `schemes`.
    pub fn new(
        role: Role,
        allow_unsigned: &[i32],
        require_signed: &[i32],
        schemes: Vec<Scheme>,
        keys: HashMap<String, SigningKey>,
        max_skew_ms: u64,
    ) -> Self {
        let mut unsigned: BTreeSet<i32> = default_unsigned_codes(role).into_iter().map(RequestCode::get).collect();
        unsigned.extend(allow_unsigned);
        for c in require_signed {
            unsigned.remove(c);
        }
        Self {
            unsigned,
            schemes,
            keys,
            acl_v1_codes: HashMap::new(),
            targets: BTreeSet::new(),
            route_scopes: HashMap::new(),
            max_skew_ms,
        }
    }

    /// Scopes `key_id` to route writes for the brokers of `scope` (see [`RouteScope`]).
    #[must_use]
    pub fn with_route_scope(mut self, key_id: &str, scope: RouteScope) -> Self {
        self.route_scopes.insert(key_id.to_owned(), scope);
        self
    }

    /// Restricts the codes `key_id` may sign with `acl-v1` to `codes`.
    #[must_use]
    pub fn with_acl_v1_codes(mut self, key_id: &str, codes: &[i32]) -> Self {
        self.acl_v1_codes.insert(key_id.to_owned(), codes.iter().copied().collect());
        self
    }

    /// Requires every `rmq-hmac-v1` request to carry a signed `RmqTarget` naming one of
    /// `targets` (no effect when empty).
    #[must_use]
    pub fn with_targets<S: AsRef<str>>(mut self, targets: &[S]) -> Self {
        self.targets = targets.iter().map(|t| t.as_ref().to_owned()).collect();
        self
    }

    /// Whether `code` needs a signature: every code outside the unsigned list does.
    pub fn needs_signature(&self, code: i32) -> bool {
        !self.unsigned.contains(&code)
    }

    /// The codes this policy lets through unsigned, ascending.
    pub fn unsigned_codes(&self) -> impl Iterator<Item = i32> + '_ {
        self.unsigned.iter().copied()
    }

    /// Decides on a request whose code needs a signature (see [`Policy::needs_signature`]).
    /// `body` is the frame's body; `nonces` is the process-wide replay cache.
    pub fn check(&self, header: &Header, body: &[u8], now_ms: u64, nonces: &mut NonceCache) -> Decision {
        let empty = ExtFields::new();
        let ext = header.ext_fields.as_ref().unwrap_or(&empty);
        let reject = |e: AuthError, scheme: Scheme| Decision::Rejected {
            reason: e.reason(),
            detail: format!("{}: {e}", scheme.as_str()),
        };
        let hmac_enabled = self.schemes.contains(&Scheme::RmqHmacV1);
        let acl_enabled = self.schemes.contains(&Scheme::AclV1);
        // The scheme is chosen by the fields present: rmq-hmac-v1 first, it is the stronger.
        if hmac_enabled && hmac_v1::is_present(ext) {
            let v = match hmac_v1::verify(header.code, ext, body, |id| self.keys.get(id), now_ms, self.max_skew_ms) {
                Ok(v) => v,
                Err(e) => return reject(e, Scheme::RmqHmacV1),
            };
            if !self.targets.is_empty() && !v.target.is_some_and(|t| self.targets.contains(t)) {
                let expected: Vec<&str> = self.targets.iter().map(String::as_str).collect();
                return Decision::Rejected {
                    reason: "wrong_target",
                    detail: format!(
                        "rmq-hmac-v1: signed for {}, this listener serves {}",
                        v.target.map_or_else(|| format!("no {}", hmac_v1::TARGET), |t| format!("{t:?}")),
                        expected.join(", ")
                    ),
                };
            }
            if let Some(scope) = self.route_scopes.get(v.key_id)
                && let Some(refusal) = scope_refusal(v.key_id, scope, header.code, ext, body)
            {
                return refusal;
            }
            return match nonces.check_and_insert(v.key_id, v.nonce, now_ms) {
                Ok(()) => Decision::Allowed { key_id: v.key_id.to_owned(), scheme: Scheme::RmqHmacV1 },
                Err(NonceRejection::Replayed) => reject(AuthError::Replayed, Scheme::RmqHmacV1),
                Err(NonceRejection::Full) if nonces.held_by(v.key_id) >= nonces.key_share() => Decision::Rejected {
                    reason: "replay_cache_full",
                    detail: format!(
                        "rmq-hmac-v1: key {:?} holds its share of the replay cache ({} recent requests; nonce_cache_size / keys)",
                        v.key_id,
                        nonces.key_share()
                    ),
                },
                Err(NonceRejection::Full) => Decision::Rejected {
                    reason: "replay_cache_full",
                    detail: "rmq-hmac-v1: too many recent requests to remember".into(),
                },
            };
        }
        if acl_enabled && ext.contains_key(acl_v1::ACCESS_KEY) {
            // A 4.9 broker leaves `_UNIQUE_KEY_QUERY` out of what ACL 1.0 signs, so anyone may
            // add it to a signed request. Stock clients send it only on QUERY_MESSAGE; anywhere
            // else it is an unsigned field the broker would read, so it is refused.
            if header.code != RequestCode::QUERY_MESSAGE.get() && ext.contains_key("_UNIQUE_KEY_QUERY") {
                return Decision::Rejected {
                    reason: "malformed",
                    detail: "acl-v1: _UNIQUE_KEY_QUERY is not signed and belongs only on QUERY_MESSAGE (12)".into(),
                };
            }
            let ak = match acl_v1::verify(ext, body, |ak| self.keys.get(ak)) {
                Ok(ak) => ak,
                Err(e) => return reject(e, Scheme::AclV1),
            };
            // ACL 1.0 signs neither the code nor a time: a captured registration would replay
            // as an unregistration, for ever.
            if self.route_scopes.contains_key(ak) {
                return Decision::Rejected {
                    reason: "code_not_allowed",
                    detail: format!("acl-v1: key {ak:?} is scoped to brokers and signs with rmq-hmac-v1 only"),
                };
            }
            if let Some(allowed) = self.acl_v1_codes.get(ak)
                && !allowed.contains(&header.code)
            {
                return Decision::Rejected {
                    reason: "code_not_allowed",
                    detail: format!(
                        "acl-v1: key {ak:?} may sign only {} with acl-v1 (acl_v1_codes); use rmq-hmac-v1",
                        allowed.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")
                    ),
                };
            }
            return Decision::Allowed { key_id: ak.to_owned(), scheme: Scheme::AclV1 };
        }
        let accepted: Vec<&str> = self.schemes.iter().map(|s| s.as_str()).collect();
        let offered = if hmac_v1::is_present(ext) {
            Some(Scheme::RmqHmacV1)
        } else if ext.contains_key(acl_v1::ACCESS_KEY) {
            Some(Scheme::AclV1)
        } else {
            None
        };
        match offered {
            Some(s) => Decision::Rejected {
                reason: "scheme_not_accepted",
                detail: format!("{} is not accepted on this listener (accepted: {})", s.as_str(), accepted.join(", ")),
            },
            None => Decision::Rejected {
                reason: "missing",
                detail: format!("no signature (accepted: {})", accepted.join(", ")),
            },
        }
    }
}

/// Why a key scoped to brokers may not sign this request, if it may not: a code other than a
/// route write, a claim the guard cannot read without doubt, or a broker outside the scope.
fn scope_refusal(key_id: &str, scope: &RouteScope, code: i32, ext: &ExtFields, body: &[u8]) -> Option<Decision> {
    if !is_route_write(code) {
        let codes: Vec<String> = ROUTE_WRITES.iter().map(|c| c.get().to_string()).collect();
        return Some(Decision::Rejected {
            reason: "code_not_allowed",
            detail: format!("key {key_id:?} is scoped to brokers: it signs only route writes ({})", codes.join(", ")),
        });
    }
    let refused = match route_claim(code, ext, body) {
        Ok(claim) => scope.allows(&claim).err().map(|detail| ("out_of_scope", detail)),
        Err(e) => Some(("unjudgeable", e.to_string())),
    };
    refused.map(|(reason, detail)| Decision::Rejected { reason, detail: format!("key {key_id:?}: {detail}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn keys() -> HashMap<String, SigningKey> {
        [("ops-1".to_owned(), SigningKey::new(b"secret")), ("dash".to_owned(), SigningKey::new(b"dash-secret"))]
            .into_iter()
            .collect()
    }

    fn policy() -> Policy {
        Policy::new(Role::Broker, &[21, 9003], &[15], vec![Scheme::AclV1, Scheme::RmqHmacV1], keys(), 300_000)
    }

    fn request(code: RequestCode, fields: &[(&str, &str)]) -> Header {
        let mut h = Header::request(code, 1);
        h.ext_fields = Some(fields.iter().copied().collect());
        h
    }

    fn hmac_signed(mut h: Header, nonce: &str) -> Header {
        let code = h.code;
        hmac_v1::sign(
            h.ext_fields.get_or_insert_with(Default::default),
            code,
            b"",
            "ops-1",
            &SigningKey::new(b"secret"),
            NOW,
            nonce,
        );
        h
    }

    fn acl_signed(mut h: Header, ak: &str, secret: &[u8]) -> Header {
        acl_v1::sign(h.ext_fields.get_or_insert_with(Default::default), b"", ak, &SigningKey::new(secret), None);
        h
    }

    fn reason(d: &Decision) -> &'static str {
        match d {
            Decision::Allowed { .. } => "allowed",
            Decision::Rejected { reason, .. } => reason,
        }
    }

    #[test]
    fn default_deny_with_allow_and_require_lists() {
        let p = policy();
        let cases: &[(i32, bool, &str)] = &[
            (310, false, "send: data path"),
            (11, false, "pull"),
            (34, false, "heartbeat"),
            (21, false, "allow_unsigned adds it"),
            (9003, false, "allow_unsigned adds an unknown code too"),
            (15, true, "require_signed removes it from the data path"),
            (17, true, "admin write"),
            (26, true, "GET_BROKER_CONFIG"),
            (28, true, "GET_BROKER_RUNTIME_INFO"),
            (906, true, "EXCHANGE_BROKER_HA_INFO"),
            (9999, true, "unknown code"),
            (105, true, "name-server code on a broker listener"),
        ];
        for &(code, signed, why) in cases {
            assert_eq!(p.needs_signature(code), signed, "{code}: {why}");
        }
        let n = Policy::new(Role::Namesrv, &[], &[], vec![Scheme::RmqHmacV1], keys(), 1);
        assert!(!n.needs_signature(105) && n.needs_signature(103) && n.needs_signature(319));
        assert_eq!(n.unsigned_codes().collect::<Vec<_>>(), [105, 106, 901]);
        // The migration opt-out: stock brokers' route writes unsigned again.
        let open = Policy::new(Role::Namesrv, &[103, 104, 217, 322, 904], &[], vec![Scheme::RmqHmacV1], keys(), 1);
        assert!(!open.needs_signature(103) && !open.needs_signature(904));
    }

    #[test]
    fn decisions() {
        let p = policy();
        let mut nonces = NonceCache::new(600_000, 100);
        let h = request(RequestCode::UPDATE_AND_CREATE_TOPIC, &[("topic", "T")]);
        assert_eq!(reason(&p.check(&h, b"", NOW, &mut nonces)), "missing");

        let signed = hmac_signed(h.clone(), "0123456789abcdef0123");
        assert_eq!(
            p.check(&signed, b"", NOW, &mut nonces),
            Decision::Allowed { key_id: "ops-1".into(), scheme: Scheme::RmqHmacV1 }
        );
        assert_eq!(reason(&p.check(&signed, b"", NOW, &mut nonces)), "replayed");
        assert_eq!(reason(&p.check(&signed, b"x", NOW, &mut nonces)), "bad_signature");

        let acl = acl_signed(h.clone(), "ops-1", b"secret");
        assert_eq!(
            p.check(&acl, b"", NOW, &mut nonces),
            Decision::Allowed { key_id: "ops-1".into(), scheme: Scheme::AclV1 }
        );
        assert_eq!(reason(&p.check(&acl_signed(h.clone(), "ops-1", b"nope"), b"", NOW, &mut nonces)), "bad_signature");
        assert_eq!(reason(&p.check(&acl_signed(h, "someone", b"secret"), b"", NOW, &mut nonces)), "unknown_key");
    }

    #[test]
    fn acl_v1_is_refused_where_not_accepted() {
        let p = Policy::new(Role::Broker, &[], &[], vec![Scheme::RmqHmacV1], keys(), 300_000);
        let h = acl_signed(request(RequestCode::UPDATE_AND_CREATE_TOPIC, &[]), "ops-1", b"secret");
        let d = p.check(&h, b"", 0, &mut NonceCache::new(1, 1));
        assert!(
            matches!(&d, Decision::Rejected { reason: "scheme_not_accepted", detail } if detail.contains("acl-v1 is not accepted") && detail.contains("rmq-hmac-v1")),
            "{d:?}"
        );
    }

    #[test]
    fn acl_v1_codes_restrict_what_a_key_may_sign() {
        let p = policy().with_acl_v1_codes("dash", &[28, 202]);
        let mut nonces = NonceCache::new(1, 1);
        // The captured-signature attack: ACL 1.0 does not sign the code, so a signature over
        // a field-less GET_BROKER_RUNTIME_INFO is just as valid on GET_BROKER_CONFIG.
        let runtime = acl_signed(request(RequestCode::GET_BROKER_RUNTIME_INFO, &[]), "dash", b"dash-secret");
        assert_eq!(reason(&p.check(&runtime, b"", NOW, &mut nonces)), "allowed");
        let mut replayed_as_config = runtime.clone();
        replayed_as_config.code = RequestCode::GET_BROKER_CONFIG.get();
        let d = p.check(&replayed_as_config, b"", NOW, &mut nonces);
        assert!(
            matches!(&d, Decision::Rejected { reason: "code_not_allowed", detail } if detail.contains("\"dash\"") && detail.contains("28, 202")),
            "{d:?}"
        );
        // An unrestricted key still signs anything with acl-v1.
        let config = acl_signed(request(RequestCode::GET_BROKER_CONFIG, &[]), "ops-1", b"secret");
        assert_eq!(reason(&p.check(&config, b"", NOW, &mut nonces)), "allowed");
        // The restriction is about acl-v1 only: the same key signs other codes with rmq-hmac-v1.
        let mut h = request(RequestCode::GET_BROKER_CONFIG, &[]);
        hmac_v1::sign(
            h.ext_fields.get_or_insert_with(Default::default),
            26,
            b"",
            "dash",
            &SigningKey::new(b"dash-secret"),
            NOW,
            "abcdefabcdefabcdef00",
        );
        assert_eq!(reason(&p.check(&h, b"", NOW, &mut NonceCache::new(600_000, 10))), "allowed");
    }

    #[test]
    fn acl_v1_refuses_the_unsigned_unique_key_field_outside_query_message() {
        let p = policy();
        let mut nonces = NonceCache::new(1, 1);
        // Signed, then the field the 4.9 broker leaves out of the signature added on top.
        let mut h = acl_signed(request(RequestCode::GET_BROKER_CONFIG, &[]), "ops-1", b"secret");
        h.set_ext("_UNIQUE_KEY_QUERY", "true");
        let d = p.check(&h, b"", NOW, &mut nonces);
        assert!(
            matches!(&d, Decision::Rejected { reason: "malformed", detail } if detail.contains("QUERY_MESSAGE")),
            "{d:?}"
        );
        let mut q = acl_signed(request(RequestCode::QUERY_MESSAGE, &[("topic", "T")]), "ops-1", b"secret");
        q.set_ext("_UNIQUE_KEY_QUERY", "true");
        assert_eq!(reason(&p.check(&q, b"", NOW, &mut nonces)), "allowed");
    }

    #[test]
    fn targets_bind_rmq_hmac_v1_signatures() {
        let p = policy().with_targets(&["broker-a", "DefaultCluster"]);
        let mut nonces = NonceCache::new(600_000, 100);
        let with = |target: Option<&str>, nonce: &str| {
            let mut h = request(RequestCode::GET_BROKER_CONFIG, &[]);
            if let Some(t) = target {
                h.set_ext(hmac_v1::TARGET, t);
            }
            hmac_signed(h, nonce)
        };
        assert_eq!(reason(&p.check(&with(Some("broker-a"), "n-000000000000001"), b"", NOW, &mut nonces)), "allowed");
        assert_eq!(
            reason(&p.check(&with(Some("DefaultCluster"), "n-000000000000002"), b"", NOW, &mut nonces)),
            "allowed"
        );
        let d = p.check(&with(Some("broker-b"), "n-000000000000003"), b"", NOW, &mut nonces);
        assert!(
            matches!(&d, Decision::Rejected { reason: "wrong_target", detail } if detail.contains("\"broker-b\"") && detail.contains("DefaultCluster, broker-a")),
            "{d:?}"
        );
        let d = p.check(&with(None, "n-000000000000004"), b"", NOW, &mut nonces);
        assert!(
            matches!(&d, Decision::Rejected { reason: "wrong_target", detail } if detail.contains("no RmqTarget")),
            "{d:?}"
        );
        // A refused target does not use up the nonce.
        assert_eq!(reason(&p.check(&with(Some("broker-a"), "n-000000000000003"), b"", NOW, &mut nonces)), "allowed");
        // Moving a signed target breaks the signature, it does not pass as another target.
        let mut moved = with(Some("broker-b"), "n-000000000000005");
        moved.set_ext(hmac_v1::TARGET, "broker-a");
        assert_eq!(reason(&p.check(&moved, b"", NOW, &mut nonces)), "bad_signature");
        // Without configured targets, a named target is accepted as signed.
        assert_eq!(
            reason(&policy().check(&with(Some("broker-b"), "n-000000000000006"), b"", NOW, &mut nonces)),
            "allowed"
        );
    }

    fn namesrv_policy() -> Policy {
        let scope = |e: &[&str]| RouteScope::parse(e).expect("scope");
        let keys: HashMap<String, SigningKey> = ["ops-1", "host-a", "host-b", "host-any"]
            .iter()
            .map(|k| ((*k).to_owned(), SigningKey::new(k.as_bytes())))
            .collect();
        Policy::new(Role::Namesrv, &[], &[], vec![Scheme::AclV1, Scheme::RmqHmacV1], keys, 300_000)
            .with_route_scope("host-a", scope(&["broker-a@10.0.0.5:10911#0", "broker-a@10.0.0.6:10911#1"]))
            .with_route_scope("host-b", scope(&["broker-b@10.0.0.7:10911#0", "broker-b@10.0.0.8:10911#*"]))
            .with_route_scope("host-any", scope(&["broker-c@*#*"]))
    }

    /// A route write signed by `key` (whose secret is its name), with a fresh nonce.
    fn route_write(code: RequestCode, key: &str, fields: &[(&str, &str)], body: &[u8]) -> Header {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let mut h = request(code, fields);
        let nonce = format!("route-nonce-{:08}", N.fetch_add(1, Ordering::Relaxed));
        hmac_v1::sign(
            h.ext_fields.get_or_insert_with(Default::default),
            code.get(),
            body,
            key,
            &SigningKey::new(key.as_bytes()),
            NOW,
            &nonce,
        );
        h
    }

    fn broker(name: &'static str, addr: &'static str) -> [(&'static str, &'static str); 4] {
        broker_as(name, addr, "0")
    }

    fn broker_as(name: &'static str, addr: &'static str, id: &'static str) -> [(&'static str, &'static str); 4] {
        [("brokerName", name), ("brokerAddr", addr), ("clusterName", "DefaultCluster"), ("brokerId", id)]
    }

    #[test]
    fn scoped_keys_sign_route_writes_for_their_brokers_only() {
        let p = namesrv_policy();
        let mut nonces = NonceCache::new(600_000, 1000);
        let mut judge = |h: &Header, body: &[u8]| {
            let d = p.check(h, body, NOW, &mut nonces);
            match &d {
                Decision::Allowed { .. } => ("allowed", String::new()),
                Decision::Rejected { reason, detail } => (*reason, detail.clone()),
            }
        };
        let a5 = broker("broker-a", "10.0.0.5:10911");
        let topic_body = |name: &str| {
            format!(
                r#"{{"queueDatas":[{{"brokerName":"{name}","perm":6,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}}]}}"#
            )
        };
        let mapping_body =
            br#"{"topicConfigSerializeWrapper":{"topicQueueMappingInfoMap":{"ST":{"topic":"ST","bname":"broker-b"}}}}"#;
        type Case<'a> = (RequestCode, &'a str, Vec<(&'a str, &'a str)>, Vec<u8>, &'a str, &'a str);
        let cases: Vec<Case<'_>> = vec![
            (RequestCode::REGISTER_BROKER, "host-a", a5.to_vec(), b"{}".to_vec(), "allowed", ""),
            (
                RequestCode::REGISTER_BROKER,
                "host-a",
                broker_as("broker-a", "10.0.0.6:10911", "1").to_vec(),
                vec![],
                "allowed",
                "",
            ), // the slave's address and id
            // The slave's address as the master (id 0): the name server would replace the
            // master's address; and an unregistration of id 0 removes the master whatever the
            // address says.
            (
                RequestCode::REGISTER_BROKER,
                "host-a",
                broker("broker-a", "10.0.0.6:10911").to_vec(),
                vec![],
                "out_of_scope",
                "broker-a@10.0.0.6:10911#0 is not an address and broker id",
            ),
            (
                RequestCode::UNREGISTER_BROKER,
                "host-a",
                broker("broker-a", "10.0.0.6:10911").to_vec(),
                vec![],
                "out_of_scope",
                "#0 is not",
            ),
            (
                RequestCode::REGISTER_BROKER,
                "host-a",
                broker_as("broker-a", "10.0.0.5:10911", "1").to_vec(),
                vec![],
                "out_of_scope",
                "#1 is not",
            ),
            (
                RequestCode::REGISTER_BROKER,
                "host-a",
                broker_as("broker-a", "10.0.0.6:10911", "+1").to_vec(),
                vec![],
                "unjudgeable",
                "brokerId",
            ),
            (
                RequestCode::UNREGISTER_BROKER,
                "host-a",
                vec![("brokerName", "broker-a"), ("brokerAddr", "10.0.0.6:10911")],
                vec![],
                "unjudgeable",
                "brokerId",
            ),
            // `#*`: any id at that address.
            (
                RequestCode::REGISTER_BROKER,
                "host-b",
                broker_as("broker-b", "10.0.0.8:10911", "3").to_vec(),
                vec![],
                "allowed",
                "",
            ),
            (RequestCode::UNREGISTER_BROKER, "host-a", a5.to_vec(), vec![], "allowed", ""),
            (RequestCode::QUERY_DATA_VERSION, "host-a", a5.to_vec(), b"{}".to_vec(), "allowed", ""),
            (RequestCode::BROKER_HEARTBEAT, "host-a", a5.to_vec(), vec![], "allowed", ""),
            (
                RequestCode::REGISTER_TOPIC_IN_NAMESRV,
                "host-a",
                vec![("topic", "T")],
                topic_body("broker-a").into_bytes(),
                "allowed",
                "",
            ),
            // Another broker's name, at its own address or at ours.
            (RequestCode::REGISTER_BROKER, "host-b", a5.to_vec(), vec![], "out_of_scope", "\"broker-a\" is not one"),
            (RequestCode::UNREGISTER_BROKER, "host-b", a5.to_vec(), vec![], "out_of_scope", "broker-a"),
            // Our name at an address that is not ours: the name server keys liveness and the
            // HA address by address.
            (
                RequestCode::REGISTER_BROKER,
                "host-b",
                broker("broker-b", "10.0.0.5:10911").to_vec(),
                vec![],
                "out_of_scope",
                "broker-b@10.0.0.5:10911#0 is not an address",
            ),
            (
                RequestCode::REGISTER_BROKER,
                "host-a",
                broker("broker-a", "10.0.0.5:010911").to_vec(),
                vec![],
                "out_of_scope",
                "not an address",
            ),
            (
                RequestCode::BROKER_HEARTBEAT,
                "host-b",
                broker("broker-b", "10.0.0.5:10911").to_vec(),
                vec![],
                "out_of_scope",
                "not an address",
            ),
            (
                RequestCode::QUERY_DATA_VERSION,
                "host-b",
                broker("broker-b", "10.0.0.5:10911").to_vec(),
                vec![],
                "out_of_scope",
                "not an address",
            ),
            // Names in the body.
            (
                RequestCode::REGISTER_TOPIC_IN_NAMESRV,
                "host-b",
                vec![("topic", "T")],
                topic_body("broker-a").into_bytes(),
                "out_of_scope",
                "broker-a",
            ),
            (
                RequestCode::REGISTER_BROKER,
                "host-a",
                a5.to_vec(),
                mapping_body.to_vec(),
                "out_of_scope",
                "\"broker-b\"",
            ),
            // What cannot be read without doubt.
            (
                RequestCode::REGISTER_BROKER,
                "host-a",
                [&a5[..], &[("compressed", "true")]].concat(),
                b"x".to_vec(),
                "unjudgeable",
                "compressed",
            ),
            (
                RequestCode::REGISTER_TOPIC_IN_NAMESRV,
                "host-a",
                vec![("topic", "T")],
                br#"{"QueueDatas":[{"brokerName":"broker-a"}]}"#.to_vec(),
                "unjudgeable",
                "QueueDatas",
            ),
            (
                RequestCode::UNREGISTER_BROKER,
                "host-a",
                vec![("brokerName", "broker-a")],
                vec![],
                "unjudgeable",
                "brokerAddr",
            ),
            // Many names (a large body the reader stops at the 65th distinct one), a reference.
            (
                RequestCode::REGISTER_TOPIC_IN_NAMESRV,
                "host-a",
                vec![("topic", "T")],
                format!(
                    r#"{{"queueDatas":[{}]}}"#,
                    (0..40_000).map(|i| format!(r#"{{"brokerName":"b{i}"}}"#)).collect::<Vec<_>>().join(",")
                )
                .into_bytes(),
                "unjudgeable",
                "more than 64 distinct broker names",
            ),
            (
                RequestCode::REGISTER_BROKER,
                "host-a",
                a5.to_vec(),
                br#"{"topicConfigSerializeWrapper":{"topicQueueMappingDetailMap":{"D":{"topic":"ST","bname":"broker-a"}},"topicQueueMappingInfoMap":{"ST":{"$ref":"$.topicConfigSerializeWrapper.topicQueueMappingDetailMap.D"}}}}"#.to_vec(),
                "unjudgeable",
                "$ref",
            ),
            // Nothing but route writes.
            (
                RequestCode::UPDATE_NAMESRV_CONFIG,
                "host-a",
                vec![],
                vec![],
                "code_not_allowed",
                "only route writes (103, 104, 217, 322, 904)",
            ),
            (
                RequestCode::WIPE_WRITE_PERM_OF_BROKER,
                "host-a",
                vec![("brokerName", "broker-b")],
                vec![],
                "code_not_allowed",
                "scoped",
            ),
            // A wildcard address, and an unscoped key (any broker, any code).
            (
                RequestCode::REGISTER_BROKER,
                "host-any",
                broker("broker-c", "192.0.2.1:1").to_vec(),
                vec![],
                "allowed",
                "",
            ),
            (RequestCode::REGISTER_BROKER, "host-any", a5.to_vec(), vec![], "out_of_scope", "broker-a"),
            (
                RequestCode::REGISTER_BROKER,
                "ops-1",
                broker("anything", "192.0.2.1:1").to_vec(),
                mapping_body.to_vec(),
                "allowed",
                "",
            ),
            (RequestCode::UPDATE_NAMESRV_CONFIG, "ops-1", vec![], vec![], "allowed", ""),
        ];
        for (code, key, fields, body, want, detail) in cases {
            let h = route_write(code, key, &fields, &body);
            let (got, d) = judge(&h, &body);
            assert_eq!(got, want, "{code} by {key} {fields:?}: {d}");
            assert!(d.contains(detail), "{code} by {key}: {d:?} lacks {detail:?}");
        }
        // Scoped keys sign with rmq-hmac-v1 only: ACL 1.0 signs neither the code nor a time.
        let mut h = request(RequestCode::REGISTER_BROKER, &a5);
        acl_v1::sign(
            h.ext_fields.get_or_insert_with(Default::default),
            b"",
            "host-a",
            &SigningKey::new(b"host-a"),
            None,
        );
        let (got, d) = judge(&h, b"");
        assert!(got == "code_not_allowed" && d.contains("rmq-hmac-v1 only"), "{got}: {d}");
    }

    #[test]
    fn a_key_past_its_share_of_the_replay_cache_does_not_lock_out_the_others() {
        let p = namesrv_policy();
        let mut nonces = NonceCache::new(600_000, 8);
        nonces.set_keys(4);
        let a5 = broker("broker-a", "10.0.0.5:10911");
        let b7 = broker("broker-b", "10.0.0.7:10911");
        let mut judge = |key: &str, fields: &[(&str, &str)]| {
            let h = route_write(RequestCode::BROKER_HEARTBEAT, key, fields, b"");
            match p.check(&h, b"", NOW, &mut nonces) {
                Decision::Allowed { .. } => ("allowed", String::new()),
                Decision::Rejected { reason, detail } => (reason, detail),
            }
        };
        assert_eq!(judge("host-a", &a5).0, "allowed");
        assert_eq!(judge("host-a", &a5).0, "allowed");
        let (reason, detail) = judge("host-a", &a5);
        assert_eq!(reason, "replay_cache_full");
        assert!(detail.contains("\"host-a\" holds its share") && detail.contains("(2 recent"), "{detail}");
        // Another key is unaffected.
        assert_eq!(judge("host-b", &b7).0, "allowed");
        assert_eq!(judge("host-b", &b7).0, "allowed");
        assert_eq!(judge("host-b", &b7).0, "replay_cache_full");
    }

    #[test]
    fn route_scopes_parse() {
        let ok = RouteScope::parse(&["broker-a@10.0.0.5:10911#0", "broker-b@*#*", "we@ird@host:1#12"]).expect("valid");
        assert_eq!(ok.describe(), "broker-a@10.0.0.5:10911#0, broker-b@*#*, we@ird@host:1#12");
        for (bad, why) in [
            // No id: default deny, a slave's key would otherwise register as the master.
            (&["broker-a@10.0.0.5:10911"][..], "give the broker's brokerId too, broker-a@10.0.0.5:10911#<brokerId>"),
            (&["broker-a@*"][..], "#* for any id"),
            (&["broker-a#0"][..], "broker-a@<brokerIP1>:<listenPort>#<brokerId>"),
            (&["broker-a@10.0.0.5:10911#"][..], "neither a number nor *"),
            (&["broker-a@10.0.0.5:10911#-1"][..], "neither a number nor *"),
            (&["broker-a@10.0.0.5:10911#x"][..], "neither a number nor *"),
            (&["@10.0.0.5:10911#0"][..], "broker name"),
            (&["a b@1.2.3.4:5#0"][..], "without spaces"),
            (&["broker-a@10.0.0.5#0"][..], "neither host:port nor *"),
            (&[][..], "empty"),
        ] {
            let e = RouteScope::parse(bad).expect_err("invalid");
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }
}
