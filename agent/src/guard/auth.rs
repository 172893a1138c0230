//! The guard's decision for one request: is it administrative, and if so, is it signed by a
//! configured key under an accepted scheme.

use std::collections::{BTreeSet, HashMap};

use rmq_protocol::policy::{Role, default_admin_codes};
use rmq_protocol::sign::{AuthError, SigningKey, acl_v1, hmac_v1};
use rmq_protocol::{Header, RequestCode};

use super::replay::{NonceCache, NonceRejection};

/// A signature scheme a listener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// RocketMQ ACL 1.0.
    AclV1,
    /// rmq-sidecar's HMAC-SHA256 scheme.
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

/// Which codes need a signature, and which schemes and keys are accepted.
#[derive(Debug)]
pub struct Policy {
    admin: BTreeSet<i32>,
    schemes: Vec<Scheme>,
    keys: HashMap<String, SigningKey>,
    max_skew_ms: u64,
}

/// What the guard decided about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Administrative and validly signed.
    Allowed {
        /// The key that signed.
        key_id: String,
        /// Under which scheme.
        scheme: Scheme,
    },
    /// Administrative and not acceptable.
    Rejected {
        /// A stable reason: missing, malformed, unknown_key, bad_signature, expired,
        /// replayed, replay_cache_full.
        reason: &'static str,
        /// Detail for the remark and the audit line.
        detail: String,
    },
}

impl Policy {
    /// The default admin codes for `role`, plus `add`, minus `remove`.
    pub fn new(
        role: Role,
        add: &[i32],
        remove: &[i32],
        schemes: Vec<Scheme>,
        keys: HashMap<String, SigningKey>,
        max_skew_ms: u64,
    ) -> Self {
        let mut admin: BTreeSet<i32> = default_admin_codes(role).into_iter().map(RequestCode::get).collect();
        admin.extend(add);
        for c in remove {
            admin.remove(c);
        }
        Self { admin, schemes, keys, max_skew_ms }
    }

    /// Whether `code` needs a signature.
    pub fn is_admin(&self, code: i32) -> bool {
        self.admin.contains(&code)
    }

    /// Decides on a request whose code is administrative (see [`Policy::is_admin`]). `body`
    /// is the frame's body.
    pub fn check(&self, header: &Header, body: &[u8], now_ms: u64, nonces: &mut NonceCache) -> Decision {
        let empty = rmq_protocol::ExtFields::new();
        let ext = header.ext_fields.as_ref().unwrap_or(&empty);
        let reject = |e: AuthError, scheme: Scheme| Decision::Rejected {
            reason: e.reason(),
            detail: format!("{}: {e}", scheme.as_str()),
        };
        // The scheme is chosen by the fields present: rmq-hmac-v1 first, it is the stronger.
        if self.schemes.contains(&Scheme::RmqHmacV1) && hmac_v1::is_present(ext) {
            return match hmac_v1::verify(header.code, ext, body, |id| self.keys.get(id), now_ms, self.max_skew_ms) {
                Ok(v) => match nonces.check_and_insert(v.key_id, v.nonce, now_ms) {
                    Ok(()) => Decision::Allowed { key_id: v.key_id.to_owned(), scheme: Scheme::RmqHmacV1 },
                    Err(NonceRejection::Replayed) => reject(AuthError::Replayed, Scheme::RmqHmacV1),
                    Err(NonceRejection::Full) => Decision::Rejected {
                        reason: "replay_cache_full",
                        detail: "rmq-hmac-v1: too many recent requests to remember".into(),
                    },
                },
                Err(e) => reject(e, Scheme::RmqHmacV1),
            };
        }
        if self.schemes.contains(&Scheme::AclV1) && ext.contains_key(acl_v1::ACCESS_KEY) {
            return match acl_v1::verify(ext, body, |ak| self.keys.get(ak)) {
                Ok(ak) => Decision::Allowed { key_id: ak.to_owned(), scheme: Scheme::AclV1 },
                Err(e) => reject(e, Scheme::AclV1),
            };
        }
        let accepted: Vec<&str> = self.schemes.iter().map(|s| s.as_str()).collect();
        Decision::Rejected { reason: "missing", detail: format!("no signature (accepted: {})", accepted.join(", ")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        let keys = [("ops-1".to_owned(), SigningKey::new(b"secret"))].into_iter().collect();
        Policy::new(Role::Broker, &[9003], &[207], vec![Scheme::AclV1, Scheme::RmqHmacV1], keys, 300_000)
    }

    #[test]
    fn admin_set_follows_defaults_plus_minus() {
        let p = policy();
        assert!(p.is_admin(17));
        assert!(p.is_admin(9003), "added");
        assert!(!p.is_admin(207), "removed");
        assert!(!p.is_admin(310), "data path");
    }

    #[test]
    fn decisions() {
        let p = policy();
        let mut nonces = NonceCache::new(600_000, 100);
        let now = 1_700_000_000_000;
        let mut h = Header::request(RequestCode::UPDATE_AND_CREATE_TOPIC, 1);
        h.set_ext("topic", "T");
        assert!(matches!(p.check(&h, b"", now, &mut nonces), Decision::Rejected { reason: "missing", .. }));

        let mut signed = h.clone();
        let ext = signed.ext_fields.as_mut().unwrap();
        hmac_v1::sign(ext, 17, b"", "ops-1", &SigningKey::new(b"secret"), now, "0123456789abcdef0123");
        assert_eq!(
            p.check(&signed, b"", now, &mut nonces),
            Decision::Allowed { key_id: "ops-1".into(), scheme: Scheme::RmqHmacV1 }
        );
        assert!(matches!(p.check(&signed, b"", now, &mut nonces), Decision::Rejected { reason: "replayed", .. }));
        assert!(matches!(p.check(&signed, b"x", now, &mut nonces), Decision::Rejected { reason: "bad_signature", .. }));

        let mut acl = h.clone();
        acl_v1::sign(acl.ext_fields.as_mut().unwrap(), b"", "ops-1", &SigningKey::new(b"secret"), None);
        assert_eq!(
            p.check(&acl, b"", now, &mut nonces),
            Decision::Allowed { key_id: "ops-1".into(), scheme: Scheme::AclV1 }
        );
        let mut wrong = h.clone();
        acl_v1::sign(wrong.ext_fields.as_mut().unwrap(), b"", "ops-1", &SigningKey::new(b"nope"), None);
        assert!(matches!(p.check(&wrong, b"", now, &mut nonces), Decision::Rejected { reason: "bad_signature", .. }));
        let mut unknown = h.clone();
        acl_v1::sign(unknown.ext_fields.as_mut().unwrap(), b"", "someone", &SigningKey::new(b"secret"), None);
        assert!(matches!(p.check(&unknown, b"", now, &mut nonces), Decision::Rejected { reason: "unknown_key", .. }));
    }

    #[test]
    fn scheme_not_accepted_reads_as_missing() {
        let keys = [("ops-1".to_owned(), SigningKey::new(b"secret"))].into_iter().collect();
        let p = Policy::new(Role::Broker, &[], &[], vec![Scheme::RmqHmacV1], keys, 300_000);
        let mut h = Header::request(RequestCode::UPDATE_AND_CREATE_TOPIC, 1);
        acl_v1::sign(
            h.ext_fields.get_or_insert_with(Default::default),
            b"",
            "ops-1",
            &SigningKey::new(b"secret"),
            None,
        );
        let d = p.check(&h, b"", 0, &mut NonceCache::new(1, 1));
        assert!(
            matches!(d, Decision::Rejected { reason: "missing", ref detail } if detail.contains("rmq-hmac-v1")),
            "{d:?}"
        );
    }
}
