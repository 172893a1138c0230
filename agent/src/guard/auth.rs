//! The guard's decision for one request: does its code need a signature (default deny: every
//! code outside the listener's unsigned list does), and if so, is it signed by a configured
//! key under an accepted scheme, for a code that key may sign, for this listener's target.

use std::collections::{BTreeSet, HashMap};

use rmq_protocol::policy::{Role, default_unsigned_codes};
use rmq_protocol::sign::{AuthError, SigningKey, acl_v1, hmac_v1};
use rmq_protocol::{Header, RequestCode};
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
    max_skew_ms: u64,
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
        /// wrong_target.
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
        Self { unsigned, schemes, keys, acl_v1_codes: HashMap::new(), targets: BTreeSet::new(), max_skew_ms }
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
        let empty = rmq_protocol::ExtFields::new();
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
            return match nonces.check_and_insert(v.key_id, v.nonce, now_ms) {
                Ok(()) => Decision::Allowed { key_id: v.key_id.to_owned(), scheme: Scheme::RmqHmacV1 },
                Err(NonceRejection::Replayed) => reject(AuthError::Replayed, Scheme::RmqHmacV1),
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
        assert!(!n.needs_signature(105) && !n.needs_signature(103) && n.needs_signature(319));
        assert_eq!(n.unsigned_codes().collect::<Vec<_>>(), [103, 104, 105, 106, 217, 322, 901, 904]);
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
}
