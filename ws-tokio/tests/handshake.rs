//! Client against server over loopback TCP: the opening handshake, the
//! shared acceptance policy, limits and the handshake timeout.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use ws_tokio::proto::handshake::policy::AcceptPolicy;
use ws_tokio::proto::handshake::ClientHandshakeError;
use ws_tokio::{
    accept, connect, connect_with, AcceptError, AcceptOptions, ClientOptions, CloseCode,
    ConnectError, Message,
};

/// Serves one connection with `options`; returns what `accept` gave.
async fn serve_once(
    options: AcceptOptions,
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<Result<Option<String>, AcceptError>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = accept(tcp, &options).await?;
        let subprotocol = ws.subprotocol().map(str::to_owned);
        while let Some(Ok(message)) = ws.recv().await {
            if ws.send(message).await.is_err() {
                break;
            }
        }
        Ok(subprotocol)
    });
    (addr, task)
}

#[tokio::test]
async fn client_and_server_over_loopback() {
    let (addr, server) = serve_once(AcceptOptions::default()).await;
    let mut ws = connect(&format!("ws://{addr}/echo?x=1")).await.unwrap();
    for size in [0usize, 1, 125, 126, 65535, 65536, 1 << 20] {
        let payload = vec![(size % 251) as u8; size];
        ws.send(Message::Binary(payload.clone().into()))
            .await
            .unwrap();
        assert_eq!(
            ws.recv().await.unwrap().unwrap(),
            Message::Binary(payload.into())
        );
    }
    ws.send(Message::Text("héllo".into())).await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Text("héllo".into())
    );
    ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    assert_eq!(ws.received_close(), Some((CloseCode::NORMAL, "")));
    assert_eq!(server.await.unwrap().unwrap(), None);
}

#[tokio::test]
async fn the_policy_chooses_the_clients_first_spoken_subprotocol() {
    let options = AcceptOptions {
        policy: AcceptPolicy {
            subprotocols: vec!["v2".into(), "v1".into()],
            ..AcceptPolicy::default()
        },
        ..AcceptOptions::default()
    };
    let (addr, server) = serve_once(options).await;
    let client_options = ClientOptions {
        subprotocols: vec!["v1".into(), "v2".into()],
        ..ClientOptions::default()
    };
    let mut ws = connect_with(&format!("ws://{addr}/"), &client_options)
        .await
        .unwrap();
    assert_eq!(ws.subprotocol(), Some("v1"));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(server.await.unwrap().unwrap().as_deref(), Some("v1"));
}

#[tokio::test]
async fn a_disallowed_origin_gets_403_and_no_upgrade() {
    let options = AcceptOptions {
        policy: AcceptPolicy {
            allowed_origins: vec!["https://app.example".into()],
            ..AcceptPolicy::default()
        },
        ..AcceptOptions::default()
    };
    let (addr, server) = serve_once(options).await;
    let client_options = ClientOptions {
        origin: Some("https://evil.example".into()),
        ..ClientOptions::default()
    };
    match connect_with(&format!("ws://{addr}/"), &client_options).await {
        Err(ConnectError::Handshake(ClientHandshakeError::Status(403))) => {}
        other => panic!("{other:?}"),
    }
    match server.await.unwrap() {
        Err(AcceptError::Rejected { status: 403, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_oversized_head_gets_431() {
    let options = AcceptOptions {
        limits: ws_tokio::proto::handshake::Limits {
            max_head_bytes: 1024,
            ..Default::default()
        },
        ..AcceptOptions::default()
    };
    let (addr, server) = serve_once(options).await;
    let big = "x".repeat(2000);
    let client_options = ClientOptions {
        extra_headers: vec![("X-Big".into(), big)],
        ..ClientOptions::default()
    };
    match connect_with(&format!("ws://{addr}/"), &client_options).await {
        Err(ConnectError::Handshake(ClientHandshakeError::Status(431)))
        | Err(ConnectError::Io(_)) => {}
        other => panic!("{other:?}"),
    }
    match server.await.unwrap() {
        Err(AcceptError::Rejected { status: 431, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_plain_http_request_is_refused_by_accept() {
    let (addr, server) = serve_once(AcceptOptions::default()).await;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(matches!(
        server.await.unwrap(),
        Err(AcceptError::Rejected { status: 400, .. })
    ));
}

/// A client that connects and says nothing is dropped after the handshake
/// timeout, without an answer.
#[tokio::test(start_paused = true)]
async fn a_silent_client_hits_the_handshake_timeout() {
    let (a, mut b) = tokio::io::duplex(1024);
    let options = Arc::new(AcceptOptions {
        handshake_timeout: Duration::from_secs(3),
        ..AcceptOptions::default()
    });
    let start = tokio::time::Instant::now();
    let result = accept(a, &options).await;
    assert!(matches!(result, Err(AcceptError::Timeout)), "{result:?}");
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    let mut rest = Vec::new();
    b.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "no answer is sent on a timeout");
}

#[tokio::test]
async fn wss_without_the_tls_feature_or_bad_urls_fail_early() {
    if !cfg!(feature = "tls") {
        assert!(matches!(
            connect("wss://127.0.0.1:1/").await,
            Err(ConnectError::TlsNotEnabled)
        ));
    }
    assert!(matches!(
        connect("http://127.0.0.1/").await,
        Err(ConnectError::InvalidUrl(_))
    ));
}
