//! TLS material from PEM files (rustls with ring), shared by remote-write and `rmq-ha-guard`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// rustls refused the material.
    #[error("TLS configuration: {0}")]
    Rustls(rustls::Error),
    /// The server name is not a DNS name or IP address.
    #[error("{0:?} is not a valid TLS server name")]
    ServerName(String),
    /// No CA file was given and this build does not read the system's store.
    #[error("a CA file is required (this binary does not read the system's CA store)")]
    NoRoots,
}

// Not `#[from]`: that would also return the rustls error from `source()`, and the message
// already carries it.
impl From<rustls::Error> for TlsError {
    fn from(e: rustls::Error) -> Self {
        Self::Rustls(e)
    }
}

fn file_err(path: &Path, message: impl std::fmt::Display) -> TlsError {
    TlsError::File { path: path.into(), message: message.to_string() }
}

/// The crypto provider (ring).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file (at least one).
pub fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(path, e))?;
    if certs.is_empty() {
        return Err(file_err(path, "no CERTIFICATE in the file"));
    }
    Ok(certs)
}

/// A private key from a PEM file that only its owner may read.
pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    crate::secret::check_file(path).map_err(|e| file_err(path, e))?;
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_err(path, e))
}

/// Trust anchors: the CAs in `ca_file`, else the system's store (with the `native-roots`
/// feature; without it a CA file is required).
pub fn roots(ca_file: Option<&Path>) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(f) => {
            for c in certs(f)? {
                roots.add(c)?;
            }
        }
        #[cfg(feature = "native-roots")]
        None => {
            for c in rustls_native_certs::load_native_certs().certs {
                // A system store may hold certificates rustls cannot use; skip those.
                let _ = roots.add(c);
            }
        }
        // Only the agent (remote-write to public endpoints) trusts the system store; the HA
        // guard always names its CA, so it does not link the system-store reader.
        #[cfg(not(feature = "native-roots"))]
        None => return Err(TlsError::NoRoots),
    }
    Ok(roots)
}

/// A client configuration: trusting `ca_file` (else the system), presenting `client` (chain
/// and key files) when given.
pub fn client_config(ca_file: Option<&Path>, client: Option<(&Path, &Path)>) -> Result<rustls::ClientConfig, TlsError> {
    let b = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_file)?);
    Ok(match client {
        Some((chain, key)) => b.with_client_auth_cert(certs(chain)?, private_key(key)?)?,
        None => b.with_no_client_auth(),
    })
}
