//! The test certificate authority (`testkit/certs/`, see its README) and a TLS client that
//! trusts it, for the TLS tests and benchmarks.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;

/// The folder with `ca.pem`, `server.pem` and `server.key`.
pub fn certs() -> PathBuf {
    crate::paths::repo().join("testkit/certs")
}

/// A TLS client that trusts the test CA (`trust_test_ca`) or nothing at all.
pub fn client(trust_test_ca: bool) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    if trust_test_ca {
        for c in CertificateDer::pem_file_iter(certs().join("ca.pem")).expect("the test CA") {
            roots.add(c.expect("a certificate")).expect("a usable CA");
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}
