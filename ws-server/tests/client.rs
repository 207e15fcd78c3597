//! The blocking client against the bundled server and against fake
//! servers that answer wrongly.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;

use common::*;
use ws_server::{connect, ClientBuilder, CloseCode, ConnectError, Message};

#[test]
fn connects_echoes_and_closes() {
    let server = start(|b| b.subprotocol("chat.v2"));
    let url = format!("ws://{}/ws?x=1", server.local_addr());
    let mut ws = connect(&url).unwrap();
    assert_eq!(ws.request().path, "/ws?x=1");
    ws.send_text("hello").unwrap();
    assert_eq!(ws.recv().unwrap(), Some(Message::Text("hello".into())));
    ws.send_binary(&[1, 2, 3]).unwrap();
    assert_eq!(
        ws.recv().unwrap(),
        Some(Message::Binary(vec![1, 2, 3].into()))
    );
    ws.close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(ws.received_close().map(|(c, _)| c), Some(CloseCode::NORMAL));

    let ws = ClientBuilder::new(url.as_str())
        .subprotocol("chat.v1")
        .subprotocol("chat.v2")
        .connect()
        .unwrap();
    assert_eq!(ws.subprotocol(), Some("chat.v2"));
}

#[test]
fn refusals_carry_the_status_and_the_bodys_first_line() {
    let server = start(|b| b.allowed_origin("https://app.example"));
    let addr = server.local_addr();
    let err = ClientBuilder::new(format!("ws://{addr}/ws"))
        .origin("https://evil.example")
        .connect()
        .unwrap_err();
    match &err {
        ConnectError::Status { status: 403, body } => assert_eq!(body, "origin not allowed"),
        other => panic!("expected 403, got {other}"),
    }
    assert!(err.to_string().contains("403"), "{err}");
    let ok = ClientBuilder::new(format!("ws://{addr}/ws"))
        .origin("https://app.example")
        .connect();
    assert!(ok.is_ok());
    match connect(&format!("ws://{addr}/nowhere")).unwrap_err() {
        ConnectError::Status { status: 404, body } => assert_eq!(body, "not found"),
        other => panic!("expected 404, got {other}"),
    }
}

#[test]
fn a_closed_port_is_a_tcp_error_naming_the_address() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // The listener is gone: nothing listens there now.
    match connect(&format!("ws://{addr}/")).unwrap_err() {
        ConnectError::Tcp { addr: tried, .. } => assert_eq!(tried, addr),
        other => panic!("expected a TCP error, got {other}"),
    }
    assert!(matches!(
        connect("http://127.0.0.1/").unwrap_err(),
        ConnectError::Url(_)
    ));
}

/// A fake server: reads one request head, returns it, answers `answer`.
fn fake_server(answer: &'static str) -> (String, thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(GENEROUS)).unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0);
            head.extend_from_slice(&buf[..n]);
        }
        stream.write_all(answer.as_bytes()).unwrap();
        String::from_utf8(head).unwrap()
    });
    (addr, handle)
}

#[test]
fn a_wrong_accept_key_is_refused() {
    let (addr, server) = fake_server(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    );
    let err = connect(&format!("ws://{addr}/")).unwrap_err();
    assert!(
        matches!(
            err,
            ConnectError::Handshake(ws_proto::handshake::ClientHandshakeError::AcceptMismatch)
        ),
        "{err}"
    );
    server.join().unwrap();
}

#[test]
fn the_request_has_host_target_origin_headers_and_a_random_key() {
    let mut keys = Vec::new();
    for _ in 0..2 {
        let (addr, server) = fake_server("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        let err = ClientBuilder::new(format!("ws://{addr}/a/b?c=d"))
            .origin("http://page.example")
            .header("Authorization", "Bearer t")
            .subprotocol("p1")
            .connect()
            .unwrap_err();
        assert!(
            matches!(err, ConnectError::Status { status: 400, .. }),
            "{err}"
        );
        let head = server.join().unwrap();
        assert!(head.starts_with("GET /a/b?c=d HTTP/1.1\r\n"), "{head}");
        for line in [
            format!("Host: {addr}\r\n"),
            "Origin: http://page.example\r\n".to_owned(),
            "Authorization: Bearer t\r\n".to_owned(),
            "Sec-WebSocket-Protocol: p1\r\n".to_owned(),
        ] {
            assert!(head.contains(&line), "lacks {line:?}: {head}");
        }
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap()
            .to_owned();
        assert_eq!(key.len(), 24);
        keys.push(key);
    }
    assert_ne!(keys[0], keys[1], "a new nonce per connection");
}

#[test]
fn ipv6_literals_work() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    };
    drop(listener);
    let server = ws_server::echo::routes(ws_server::Server::builder().bind("[::1]:0"))
        .build()
        .unwrap()
        .spawn()
        .unwrap();
    let port = server.local_addr().port();
    let mut ws = connect(&format!("ws://[::1]:{port}/ws")).unwrap();
    assert_eq!(ws.request().host, format!("[::1]:{port}"));
    ws.send_text("v6").unwrap();
    assert_eq!(ws.recv().unwrap(), Some(Message::Text("v6".into())));
}
