//! `wss://` for [`connect`](crate::connect): tokio-rustls with the ring
//! provider, verifying servers against the webpki-roots (Mozilla) root
//! store, the same choice as `ws-server`.

use std::io;
use std::sync::{Arc, OnceLock};

/// The rustls this crate is built with, for building configurations.
pub use rustls;
use rustls::{ClientConfig, RootCertStore};
/// The tokio-rustls this crate is built with (a server's `TlsAcceptor`).
pub use tokio_rustls;

/// The client TLS settings used when [`ClientOptions::tls`] is `None`:
/// ring, the safe default protocol versions, webpki-roots, no client
/// certificate, ALPN `http/1.1`. Built once per process.
///
/// [`ClientOptions::tls`]: crate::ClientOptions::tls
///
/// ```
/// let config = ws_tokio::tls::default_client_config().unwrap();
/// assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
/// ```
pub fn default_client_config() -> io::Result<Arc<ClientConfig>> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return Ok(config.clone());
    }
    let config = Arc::new(client_config(RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })?);
    Ok(CONFIG.get_or_init(|| config).clone())
}

/// Client TLS settings (ring provider, ALPN `http/1.1`) trusting `roots`:
/// for a private CA or a test certificate.
///
/// ```
/// use ws_tokio::tls::client_config;
/// let config = client_config(rustls::RootCertStore::empty()).unwrap();
/// assert!(config.alpn_protocols.contains(&b"http/1.1".to_vec()));
/// ```
pub fn client_config(roots: RootCertStore) -> io::Result<ClientConfig> {
    // rustls 0.23.48 deprecates ring's provider because it lacks
    // post-quantum key exchange (aws-lc-rs has it). ring is kept: it builds
    // without cmake or a C++ toolchain, as the ws-server TLS work assumes too.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
