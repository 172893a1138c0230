//! Optional TLS between the two guards (rustls, ring). The HMAC first packet is still
//! required inside it: TLS hides the stream, the first packet decides who may replicate.

use std::path::Path;
use std::sync::Arc;

use rmq_runtime::tls::{certs, private_key, provider};
use rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub use rmq_runtime::tls::TlsError;

/// The accept side's TLS server.
pub fn acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, TlsError> {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs(cert_file)?, private_key(key_file)?)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The connect side's TLS client, trusting only the CAs in `ca_file`, and the name the
/// server's certificate must carry.
pub fn connector(ca_file: &Path, server_name: &str) -> Result<(TlsConnector, ServerName<'static>), TlsError> {
    let config = rmq_runtime::tls::client_config(Some(ca_file), None)?;
    let name = ServerName::try_from(server_name.to_owned()).map_err(|_| TlsError::ServerName(server_name.into()))?;
    Ok((TlsConnector::from(Arc::new(config)), name))
}
