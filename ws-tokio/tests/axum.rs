//! The axum extractor in a real router: a WebSocket route and a plain HTTP
//! route side by side, over loopback TCP.
#![cfg(feature = "axum")]
// `Message::Text` takes `Utf8Bytes` once ws-proto's data-path rewrite lands.
#![allow(clippy::useless_conversion)]

use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws_tokio::axum::WebSocketUpgrade;
use ws_tokio::proto::handshake::policy::AcceptPolicy;
use ws_tokio::proto::handshake::ClientHandshakeError;
use ws_tokio::{connect_with, ClientOptions, CloseCode, ConnectError, Message};

async fn echo(upgrade: WebSocketUpgrade) -> Response {
    let policy = AcceptPolicy {
        allowed_origins: vec!["https://app.example".into()],
        subprotocols: vec!["chat.v2".into(), "chat.v1".into()],
        ..AcceptPolicy::default()
    };
    upgrade.policy(policy).on_upgrade(|mut ws| async move {
        let greeting = format!("subprotocol {:?}", ws.subprotocol());
        if ws.send(Message::Text(greeting.into())).await.is_err() {
            return;
        }
        while let Some(Ok(message)) = ws.recv().await {
            if ws.send(message).await.is_err() {
                break;
            }
        }
    })
}

async fn start() -> std::net::SocketAddr {
    let app = Router::new()
        .route("/ws", get(echo))
        .route("/hello", get(|| async { "hello from axum" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn raw_get(addr: std::net::SocketAddr, head: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn websocket_and_http_routes_side_by_side() {
    let addr = start().await;

    let page = raw_get(
        addr,
        "GET /hello HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.ends_with("hello from axum"), "{page}");

    let options = ClientOptions {
        subprotocols: vec!["chat.v1".into(), "chat.v2".into()],
        origin: Some("https://app.example".into()),
        ..ClientOptions::default()
    };
    let mut ws = connect_with(&format!("ws://{addr}/ws"), &options)
        .await
        .unwrap();
    assert_eq!(ws.subprotocol(), Some("chat.v1"));
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Text("subprotocol Some(\"chat.v1\")".into())
    );
    for i in 0..10u8 {
        let message = Message::Binary(vec![i; 1000 * i as usize].into());
        ws.send(message.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), message);
    }
    ws.close(CloseCode::NORMAL, "done").await.unwrap();
    assert_eq!(ws.received_close(), Some((CloseCode::NORMAL, "")));
}

#[tokio::test]
async fn the_shared_policy_refuses_a_foreign_origin() {
    let addr = start().await;
    let options = ClientOptions {
        origin: Some("https://evil.example".into()),
        ..ClientOptions::default()
    };
    match connect_with(&format!("ws://{addr}/ws"), &options).await {
        Err(ConnectError::Handshake(ClientHandshakeError::Status(403))) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_plain_get_on_the_websocket_route_is_refused_by_ws_proto() {
    let addr = start().await;
    let answer = raw_get(
        addr,
        "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(answer.ends_with("missing Upgrade: websocket"), "{answer}");

    let old = raw_get(
        addr,
        "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
    )
    .await;
    assert!(
        old.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{old}"
    );
    assert!(
        old.to_ascii_lowercase()
            .contains("\r\nsec-websocket-version: 13\r\n"),
        "{old}"
    );
}
