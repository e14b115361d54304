//! TLS to NATS for the feed: the system's roots, plus a CA file when the servers' certificates come from a
//! private CA. async-nats, the node's other connection, is given the same file.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_rustls::TlsConnector;

use super::NatsError;

/// A connector that trusts the system's roots and the certificates in `ca_file`.
pub(crate) fn connector(ca_file: Option<&Path>) -> Result<TlsConnector, NatsError> {
    let mut roots = RootCertStore::empty();
    // A system root the parser refuses is skipped, as every TLS client does.
    let (_added, _skipped) =
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = ca_file {
        let certificates = CertificateDer::pem_file_iter(path)
            .map_err(|_| NatsError::Settings("cannot read the NATS CA file"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| NatsError::Settings("the NATS CA file is not PEM certificates"))?;
        if certificates.is_empty() {
            return Err(NatsError::Settings("the NATS CA file holds no certificate"));
        }
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|_| NatsError::Settings("a certificate of the NATS CA file is invalid"))?;
        }
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}
