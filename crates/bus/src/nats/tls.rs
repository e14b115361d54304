//! TLS to NATS: one client configuration for both of the node's connections, trusting the system's roots
//! plus, when the servers' certificates come from a private CA, that CA's PEM file; and presenting the
//! node's own certificate to servers that verify their clients' (`verify` in their `tls` block).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsConnector;

use super::NatsError;

/// The certificate a node presents to NATS servers that ask for one, and its private key: PEM files.
#[derive(Clone, Debug)]
pub struct ClientCertificate {
    /// The certificate, followed by the chain up to the CA the servers trust when there is one between.
    pub certificate: PathBuf,
    pub key: PathBuf,
}

/// The configuration that trusts the system's roots and the certificates in `ca_file`, and presents
/// `identity` when given.
pub(crate) fn client_config(
    ca_file: Option<&Path>,
    identity: Option<&ClientCertificate>,
) -> Result<rustls::ClientConfig, NatsError> {
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
    // The provider named, not the process's default, so that another crate's choice cannot change it.
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|_| NatsError::Settings("no TLS version to offer"))?
    .with_root_certificates(roots);
    let Some(identity) = identity else {
        return Ok(config.with_no_client_auth());
    };
    let chain = CertificateDer::pem_file_iter(&identity.certificate)
        .map_err(|_| NatsError::Settings("cannot read the NATS client certificate file"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            NatsError::Settings("the NATS client certificate file is not PEM certificates")
        })?;
    if chain.is_empty() {
        return Err(NatsError::Settings(
            "the NATS client certificate file holds no certificate",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&identity.key)
        .map_err(|_| NatsError::Settings("cannot read a PEM private key from the NATS key file"))?;
    config
        .with_client_auth_cert(chain, key)
        .map_err(|_| NatsError::Settings("the NATS client key does not fit its certificate"))
}

/// When and how the feed secures its connection.
pub(crate) struct FeedTls {
    /// Made at start when TLS was asked for there (a `tls://` server, a CA file); else the first time a
    /// server's `INFO` asks, with the system's roots.
    connector: OnceLock<TlsConnector>,
    /// A CA file was given: every server is reached over TLS.
    required: bool,
}

impl FeedTls {
    pub(crate) fn new(config: Option<rustls::ClientConfig>, required: bool) -> FeedTls {
        let connector = OnceLock::new();
        if let Some(config) = config {
            let _ = connector.set(TlsConnector::from(Arc::new(config)));
        }
        FeedTls {
            connector,
            required,
        }
    }

    /// Whether the connection to a server must be TLS: given as `tls://`, asking in its `INFO`, or any
    /// server once a CA file was given.
    pub(crate) fn wanted(&self, given_as_tls: bool, info_asks: bool) -> bool {
        self.required || given_as_tls || info_asks
    }

    pub(crate) fn connector(&self) -> Result<&TlsConnector, NatsError> {
        if let Some(connector) = self.connector.get() {
            return Ok(connector);
        }
        let made = TlsConnector::from(Arc::new(client_config(None, None)?));
        Ok(self.connector.get_or_init(|| made))
    }
}
