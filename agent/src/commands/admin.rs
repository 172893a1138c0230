//! `rmq-agent admin`: signed administrative requests for operators and automation, through
//! the admin guard (or to any broker that checks ACL 1.0).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rmq_protocol::request::{
    CommandHeader as _, CreateTopicRequestHeader, DeleteSubscriptionGroupRequestHeader, DeleteTopicRequestHeader,
    subscription_group_body,
};
use rmq_protocol::sign::{SigningKey, acl_v1, hmac_v1};
use rmq_protocol::{ExtFields, RequestCode, ResponseCode};

use crate::remoting::{Client, ClientError, Response};

/// How to sign.
#[derive(Debug, Clone)]
pub struct Signer {
    /// `acl-v1` or `rmq-hmac-v1`.
    pub scheme: crate::guard::Scheme,
    /// Key id (ACL 1.0: the AccessKey).
    pub key_id: String,
    /// The secret.
    pub key: SigningKey,
    /// The broker or cluster the request is for (`RmqTarget`, signed with the request), for
    /// guards configured with `targets`.
    pub target: Option<String>,
}

/// One administrative operation; also the `rmq-agent admin` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Operation {
    /// Create or update a topic (UPDATE_AND_CREATE_TOPIC).
    CreateTopic {
        /// Topic.
        topic: String,
        /// Read and write queues.
        #[arg(long, default_value_t = 8)]
        queues: i32,
        /// Permission bits (6 = read + write).
        #[arg(long, default_value_t = 6)]
        perm: i32,
        /// Ordered topic.
        #[arg(long)]
        order: bool,
    },
    /// Delete a topic on the broker (DELETE_TOPIC_IN_BROKER).
    DeleteTopic {
        /// Topic.
        topic: String,
    },
    /// Create or update a subscription group with Java's defaults.
    CreateGroup {
        /// Group.
        group: String,
    },
    /// Delete a subscription group (DELETE_SUBSCRIPTIONGROUP).
    DeleteGroup {
        /// Group.
        group: String,
    },
    /// Print the broker's configuration (GET_BROKER_CONFIG).
    GetBrokerConfig,
    /// Change broker configuration (UPDATE_BROKER_CONFIG): KEY=VALUE …
    UpdateBrokerConfig {
        /// KEY=VALUE pairs.
        #[arg(required = true)]
        pairs: Vec<String>,
    },
    /// Any request: a code, extFields and a body.
    Raw {
        /// Request code (number).
        #[arg(long)]
        code: i32,
        /// extField KEY=VALUE (repeatable).
        #[arg(long = "ext")]
        ext: Vec<String>,
        /// File whose bytes are the body.
        #[arg(long)]
        body_file: Option<std::path::PathBuf>,
    },
}

fn pair(s: &str) -> Result<(&str, &str), String> {
    s.split_once('=').ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

impl Operation {
    /// The request this operation sends: code, extFields, body. Fails on a malformed
    /// KEY=VALUE or an unreadable body file.
    pub fn request(&self) -> Result<(RequestCode, ExtFields, Vec<u8>), String> {
        Ok(match self {
            Self::CreateTopic { topic, queues, perm, order } => {
                let mut h = CreateTopicRequestHeader::new(topic.clone(), *queues);
                h.perm = *perm;
                h.order = *order;
                (RequestCode::UPDATE_AND_CREATE_TOPIC, h.to_ext_fields(), Vec::new())
            }
            Self::DeleteTopic { topic } => (
                RequestCode::DELETE_TOPIC_IN_BROKER,
                DeleteTopicRequestHeader { topic: topic.clone() }.to_ext_fields(),
                Vec::new(),
            ),
            Self::CreateGroup { group } => {
                (RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, ExtFields::new(), subscription_group_body(group))
            }
            Self::DeleteGroup { group } => {
                let h = DeleteSubscriptionGroupRequestHeader { group_name: group.clone(), clean_offset: None };
                (RequestCode::DELETE_SUBSCRIPTIONGROUP, h.to_ext_fields(), Vec::new())
            }
            Self::GetBrokerConfig => (RequestCode::GET_BROKER_CONFIG, ExtFields::new(), Vec::new()),
            Self::UpdateBrokerConfig { pairs } => {
                let mut body = String::new();
                for p in pairs {
                    let (k, v) = pair(p)?;
                    body.push_str(&format!("{k}={v}\n"));
                }
                (RequestCode::UPDATE_BROKER_CONFIG, ExtFields::new(), body.into_bytes())
            }
            Self::Raw { code, ext, body_file } => {
                let ext = ext.iter().map(|p| pair(p)).collect::<Result<ExtFields, _>>()?;
                let body = match body_file {
                    Some(f) => std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?,
                    None => Vec::new(),
                };
                (RequestCode(*code), ext, body)
            }
        })
    }
}

/// A random 128-bit nonce in hex.
fn nonce() -> Result<String, ring::error::Unspecified> {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Signs `ext` for `code` and `body` (adding the signer's `RmqTarget` first, if any).
pub fn sign(signer: &Signer, code: RequestCode, ext: &mut ExtFields, body: &[u8]) -> Result<(), String> {
    if let Some(t) = &signer.target {
        if !hmac_v1::valid_target(t) {
            return Err(format!("target {t:?}: 1-127 of A-Z a-z 0-9 . _ - :"));
        }
        ext.insert(hmac_v1::TARGET, t.as_str());
    }
    match signer.scheme {
        crate::guard::Scheme::RmqHmacV1 => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?;
            let ts = u64::try_from(now.as_millis()).map_err(|e| e.to_string())?;
            let nonce = nonce().map_err(|_| "no randomness available for a nonce".to_owned())?;
            hmac_v1::sign(ext, code.get(), body, &signer.key_id, &signer.key, ts, &nonce);
        }
        crate::guard::Scheme::AclV1 => acl_v1::sign(ext, body, &signer.key_id, &signer.key, None),
    }
    Ok(())
}

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request could not be signed.
    #[error("cannot sign: {0}")]
    Sign(String),
    /// The operation's arguments are malformed (KEY=VALUE, body file).
    #[error("{0}")]
    Arguments(String),
    /// The request did not get an answer.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The server (or the guard) refused it.
    #[error("{request} refused with {code}: {remark}")]
    Refused {
        /// The request.
        request: RequestCode,
        /// The response code.
        code: ResponseCode,
        /// The remark.
        remark: String,
    },
}

/// Sends `op` signed by `signer` (or unsigned) and returns the successful response.
pub async fn run(
    client: &Client,
    op: &Operation,
    signer: Option<&Signer>,
    timeout: Duration,
) -> Result<Response, AdminError> {
    let (code, mut ext, body) = op.request().map_err(AdminError::Arguments)?;
    if let Some(s) = signer {
        sign(s, code, &mut ext, &body).map_err(AdminError::Sign)?;
    }
    let ext = if ext.is_empty() { None } else { Some(ext) };
    let resp = client.request(code, ext, &body, Some(timeout)).await?;
    if resp.code() == ResponseCode::SUCCESS {
        Ok(resp)
    } else {
        Err(AdminError::Refused {
            request: code,
            code: resp.code(),
            remark: resp.header.remark.clone().unwrap_or_default(),
        })
    }
}
