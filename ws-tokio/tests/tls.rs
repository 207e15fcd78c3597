//! `wss://` through tokio-rustls: a TLS echo server with the test CA's
//! certificate (tests/data), a client trusting that CA.
#![cfg(feature = "tls")]

use std::sync::Arc;

use tokio::net::TcpListener;
use ws_tokio::tls::rustls::pki_types::pem::PemObject;
use ws_tokio::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use ws_tokio::tls::rustls::{self, RootCertStore};
use ws_tokio::tls::{client_config, tokio_rustls};
use ws_tokio::{
    accept, connect_with, AcceptOptions, ClientOptions, CloseCode, ConnectError, Message,
};

const CA: &[u8] = include_bytes!("data/ca.pem");
const CERT: &[u8] = include_bytes!("data/server.pem");
const KEY: &[u8] = include_bytes!("data/server.key.pem");

/// A TLS echo server for one connection.
async fn tls_echo_server() -> u16 {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(CERT)
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(KEY).unwrap();
    #[allow(deprecated)] // ring, as the client side uses
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let Ok(tls) = acceptor.accept(tcp).await else {
            return;
        };
        let mut ws = accept(tls, &AcceptOptions::default()).await.unwrap();
        while let Some(Ok(message)) = ws.recv().await {
            if ws.send(message).await.is_err() {
                break;
            }
        }
    });
    port
}

#[tokio::test]
async fn wss_echo_through_tls() {
    let port = tls_echo_server().await;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(CA) {
        roots.add(cert.unwrap()).unwrap();
    }
    let options = ClientOptions {
        tls: Some(Arc::new(client_config(roots).unwrap())),
        ..ClientOptions::default()
    };
    let mut ws = connect_with(&format!("wss://localhost:{port}/ws"), &options)
        .await
        .unwrap();
    assert!(matches!(ws.get_ref(), ws_tokio::MaybeTlsStream::Tls(_)));
    let big = Message::Binary(vec![5; 200_000].into());
    ws.send(big.clone()).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), big);
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}

/// The default root store (webpki-roots) does not know the test CA.
#[tokio::test]
async fn the_default_roots_refuse_an_unknown_ca() {
    let port = tls_echo_server().await;
    match connect_with(
        &format!("wss://localhost:{port}/ws"),
        &ClientOptions::default(),
    )
    .await
    {
        Err(ConnectError::Io(e)) => assert!(e.to_string().contains("certificate"), "{e}"),
        other => panic!("{other:?}"),
    }
}
