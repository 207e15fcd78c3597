//! Routing, HTTP refusals, origins, timers, limits, hostile clients and
//! shutdown.

mod common;

use std::io::{Read, Write};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use ws_proto::connection::Config;
use ws_server::{CloseCode, Error, Message};

#[test]
fn page_is_served_with_its_controls() {
    let server = start(|b| b);
    let addr = server.local_addr();
    let answer = exchange(
        addr,
        format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    );
    assert_eq!(status_of(&answer), 200);
    let text = String::from_utf8(answer).unwrap();
    assert!(text.contains("Content-Type: text/html; charset=utf-8\r\n"));
    for needle in [
        "Ready to connect",
        "Connect",
        "Close Socket",
        "Communication Log",
        "/ws",
    ] {
        assert!(text.contains(needle), "page lacks {needle:?}");
    }
    // No external assets: nothing is loaded from elsewhere.
    assert!(!text.contains("src=\"http") && !text.contains("href=\"http"));

    let head = exchange(
        addr,
        format!("HEAD / HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    );
    assert_eq!(status_of(&head), 200);
    assert!(head.ends_with(b"\r\n\r\n"), "HEAD has no body");

    let post = exchange(
        addr,
        format!("POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n").as_bytes(),
    );
    assert_eq!(status_of(&post), 405);
}

#[test]
fn http_refusals_400_404_426_431() {
    let server = start(|b| b);
    let addr = server.local_addr();
    let plain = exchange(
        addr,
        format!("GET /ws HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    );
    assert_eq!(status_of(&plain), 400, "plain HTTP to /ws");

    let garbage = exchange(addr, b"\x16\x03\x01 definitely not HTTP\r\n\r\n");
    assert_eq!(status_of(&garbage), 400, "garbage");

    let bare_lf = exchange(addr, b"GET /ws HTTP/1.1\nHost: x\n\n");
    assert_eq!(status_of(&bare_lf), 400, "bare LF");

    let missing = exchange(addr, upgrade_request(addr, "/nowhere", "").as_bytes());
    assert_eq!(status_of(&missing), 404);

    let version = upgrade_request(addr, "/ws", "")
        .replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8");
    let answer = exchange(addr, version.as_bytes());
    assert_eq!(status_of(&answer), 426);
    assert!(String::from_utf8_lossy(&answer).contains("Sec-WebSocket-Version: 13\r\n"));

    let huge = upgrade_request(addr, "/ws", &format!("X-Big: {}\r\n", "a".repeat(10_000)));
    assert_eq!(status_of(&exchange(addr, huge.as_bytes())), 431);

    // The server is still fine.
    let mut ws = tungstenite_client(addr, "/ws");
    ws.send(tungstenite::Message::text("ok")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("ok"));
}

#[test]
fn origins_are_filtered() {
    let server = start(|b| b.allowed_origin("https://Good.example"));
    let addr = server.local_addr();
    let with_origin = |origin: &str| {
        let mut stream = tcp(addr);
        let request = upgrade_request(addr, "/ws", &format!("Origin: {origin}\r\n"));
        stream.write_all(request.as_bytes()).unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).unwrap();
        status_of(&head)
    };
    assert_eq!(with_origin("https://good.example"), 101);
    assert_eq!(with_origin("HTTPS://GOOD.EXAMPLE"), 101);
    assert_eq!(with_origin("https://evil.example"), 403);
    assert_eq!(with_origin("https://good.example.evil.example"), 403);
    assert_eq!(with_origin("null"), 403);
    let denied = exchange(
        addr,
        upgrade_request(addr, "/ws", "Origin: http://evil.example\r\n").as_bytes(),
    );
    let denied = String::from_utf8_lossy(&denied);
    assert!(denied.starts_with("HTTP/1.1 403 "), "{denied}");
    assert!(!denied.contains("101"), "no upgrade after a 403: {denied}");
    // No Origin: a non-browser client, allowed.
    let mut ws = tungstenite_client(addr, "/ws");
    ws.send(tungstenite::Message::text("no origin")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("no origin"));
}

#[test]
fn keep_alive_pings_arrive_at_the_interval() {
    let server = start(|b| b.keep_alive_interval(Duration::from_millis(100)));
    // Taken before the handshake: the server's timer starts after it, so
    // the third ping cannot come before 300 ms have passed.
    let start = Instant::now();
    let mut ws = tungstenite_client(server.local_addr(), "/ws");
    let mut pings = 0;
    while pings < 3 {
        match ws.read().unwrap() {
            tungstenite::Message::Ping(payload) => {
                assert_eq!(payload.len(), 8, "keep-alive pings carry a counter");
                pings += 1;
            }
            other => panic!("expected pings, got {other:?}"),
        }
    }
    // The upper bound only says they came on their own.
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < GENEROUS, "{elapsed:?}");
    // tungstenite answered them; the connection is alive.
    ws.send(tungstenite::Message::text("alive")).unwrap();
    loop {
        match ws.read().unwrap() {
            tungstenite::Message::Ping(_) => {}
            m => break assert_eq!(m, tungstenite::Message::text("alive")),
        }
    }
}

#[test]
fn keep_alive_is_off_at_zero() {
    let server = start(|b| b.keep_alive_interval(Duration::ZERO));
    let ws = proto_client(server.local_addr(), "/ws", Config::default());
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    // Nothing at all arrives: a read times out.
    let mut byte = [0u8; 1];
    let err = std::io::Read::read(&mut ws.get_ref(), &mut byte).unwrap_err();
    assert!(matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
}

#[test]
fn client_that_never_pongs_is_dropped_after_keep_alive_timeout() {
    let server = start(|b| {
        b.keep_alive_interval(Duration::from_millis(100))
            .keep_alive_timeout(Some(Duration::from_millis(200)))
    });
    let addr = server.local_addr();
    let mut stream = tcp(addr);
    stream
        .write_all(upgrade_request(addr, "/ws", "").as_bytes())
        .unwrap();
    let start = Instant::now();
    let mut rest = read_upgrade(&mut stream);
    // Read, but never answer: the server pings, waits, then closes 1011.
    rest.extend(read_to_close(&mut stream));
    assert!(start.elapsed() < GENEROUS);
    assert_eq!(rest[0], 0x89, "a ping first: {rest:?}");
    let close = rest
        .windows(4)
        .rposition(|w| w[0] == 0x88)
        .expect("a close frame");
    assert_eq!(u16::from_be_bytes([rest[close + 2], rest[close + 3]]), 1011);
}

#[test]
fn silent_and_slow_clients_are_dropped_after_the_handshake_timeout() {
    let server = start(|b| b.handshake_timeout(Duration::from_millis(200)));
    let addr = server.local_addr();
    // Connects and says nothing.
    let start = Instant::now();
    let mut silent = tcp(addr);
    assert_eq!(read_to_close(&mut silent), b"", "dropped without an answer");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(150) && elapsed < GENEROUS,
        "{elapsed:?}"
    );
    // Sends half a request, then stalls.
    let mut slow = tcp(addr);
    slow.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n").unwrap();
    assert_eq!(read_to_close(&mut slow), b"");
}

#[test]
fn connection_limit_refuses_with_503_and_frees_slots() {
    let server = start(|b| b.max_connections(1));
    let addr = server.local_addr();
    let mut first = tungstenite_client(addr, "/ws");
    match tungstenite::client(format!("ws://{addr}/ws"), tcp(addr)) {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            assert_eq!(response.status(), 503)
        }
        Err(e) => panic!("expected 503, got {e}"),
        Ok(_) => panic!("expected 503, got an upgrade"),
    }
    first.close(None).unwrap();
    while first.read().is_ok() {}
    // The slot frees once the first connection's thread ends.
    let mut again = eventually(|| {
        tungstenite::client(format!("ws://{addr}/ws"), tcp(addr))
            .ok()
            .map(|(ws, _)| ws)
    });
    again.send(tungstenite::Message::text("in")).unwrap();
    assert_eq!(again.read().unwrap(), tungstenite::Message::text("in"));
}

#[test]
fn shutdown_sends_1001_and_waits_for_the_close_handshake() {
    let server = start(|b| b.keep_alive_interval(Duration::ZERO));
    let addr = server.local_addr();
    let mut tung = tungstenite_client(addr, "/ws");
    let mut proto = proto_client(addr, "/ws", Config::default());
    proto.send_text("hello").unwrap();
    assert_eq!(proto.recv().unwrap(), Some(Message::Text("hello".into())));

    let start = Instant::now();
    let stopper = thread::spawn(move || server.shutdown());
    match tung.read() {
        Ok(tungstenite::Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected close 1001, got {other:?}"),
    }
    // The ws-proto client answers inside recv, which then reports the end.
    assert_eq!(proto.recv().unwrap(), None);
    assert_eq!(
        proto.received_close(),
        Some((CloseCode::GOING_AWAY, "server shutting down".into()))
    );
    // tungstenite queued its reply; flush it.
    while tung.read().is_ok() {}
    stopper.join().unwrap().unwrap();
    assert!(start.elapsed() < GENEROUS);
    // Not accepting any more.
    assert!(
        std::net::TcpStream::connect(addr).is_err() || {
            let mut s = tcp(addr);
            read_to_close(&mut s).is_empty()
        }
    );
}

#[test]
fn shutdown_cuts_connections_that_do_not_answer() {
    let server = start(|b| {
        b.keep_alive_interval(Duration::ZERO)
            .shutdown_timeout(Duration::from_millis(300))
            .close_timeout(Duration::from_secs(60))
    });
    let addr = server.local_addr();
    let mut stream = tcp(addr);
    stream
        .write_all(upgrade_request(addr, "/ws", "").as_bytes())
        .unwrap();
    read_upgrade(&mut stream);
    let start = Instant::now();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || done_tx.send(server.shutdown()).unwrap());
    // We never reply to the 1001; the server cuts us after its timeout.
    let rest = read_to_close(&mut stream);
    assert_eq!(&rest[..4], &[0x88, 22, 0x03, 0xE9]);
    done_rx.recv_timeout(GENEROUS).unwrap().unwrap();
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < GENEROUS,
        "{elapsed:?}"
    );
}

#[test]
fn handler_panic_is_contained() {
    let server = start(|b| {
        b.websocket("/panic", |ws| {
            let _ = ws.recv();
            panic!("handler bug");
        })
    });
    let addr = server.local_addr();
    let mut ws = tungstenite_client(addr, "/panic");
    ws.send(tungstenite::Message::text("trigger")).unwrap();
    match ws.read() {
        Ok(tungstenite::Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1011),
        other => panic!("expected close 1011, got {other:?}"),
    }
    let mut ok = tungstenite_client(addr, "/ws");
    ok.send(tungstenite::Message::text("still serving"))
        .unwrap();
    assert_eq!(
        ok.read().unwrap(),
        tungstenite::Message::text("still serving")
    );
}

#[test]
fn client_that_never_reads_frees_its_thread() {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = start(move |b| {
        b.write_timeout(Duration::from_millis(300))
            .websocket("/flood", move |ws| {
                let chunk = vec![0u8; 64 << 10];
                // Bounded: ends with the write timeout long before 64 GiB.
                let result = (0..1_000_000)
                    .try_for_each(|_| ws.send_binary(&chunk))
                    .map_err(|e| matches!(e, Error::WriteTimeout));
                tx.lock().unwrap().send(result).unwrap();
            })
    });
    let addr = server.local_addr();
    let mut stream = tcp(addr);
    stream
        .write_all(upgrade_request(addr, "/flood", "").as_bytes())
        .unwrap();
    read_upgrade(&mut stream);
    // Never read again.
    let result = rx.recv_timeout(GENEROUS).expect("the handler gave up");
    assert_eq!(result, Err(true), "the send failed with a write timeout");
    drop(stream);
}

#[test]
fn client_vanishing_mid_frame_frees_its_slot() {
    let server = start(|b| b.max_connections(1));
    let addr = server.local_addr();
    {
        let mut stream = tcp(addr);
        let mut bytes = upgrade_request(addr, "/ws", "").into_bytes();
        let frame = client_frame(true, 0x2, &[7u8; 1000]);
        bytes.extend_from_slice(&frame[..100]);
        stream.write_all(&bytes).unwrap();
        read_upgrade(&mut stream);
    } // dropped mid-frame
    let mut ws = eventually(|| try_proto_client(addr, "/ws", &[], Config::default()).ok()).0;
    ws.send_text("next").unwrap();
    assert_eq!(ws.recv().unwrap(), Some(Message::Text("next".into())));
}

#[test]
fn standalone_accept_over_a_unix_stream() {
    use std::os::unix::net::UnixStream;
    let (mut client, server_side) = UnixStream::pair().unwrap();
    let acceptor = thread::spawn(move || {
        let options = ws_server::Options {
            policy: ws_server::ws_proto::handshake::policy::AcceptPolicy {
                subprotocols: vec!["chat".into()],
                ..Default::default()
            },
            ..ws_server::Options::default()
        };
        let mut ws = ws_server::accept(server_side, &options).unwrap();
        assert_eq!(ws.subprotocol(), Some("chat"));
        ws_server::echo::echo(&mut ws);
        ws.received_close().map(|(c, _)| c)
    });
    let request =
        "GET /any HTTP/1.1\r\nHost: local\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
        Sec-WebSocket-Protocol: chat\r\n\r\n";
    let mut bytes = request.as_bytes().to_vec();
    bytes.extend(client_frame(true, 0x1, b"over unix"));
    bytes.extend(client_frame(true, 0x8, &1000u16.to_be_bytes()));
    client.write_all(&bytes).unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 101 "), "{text}");
    assert!(text.contains("Sec-WebSocket-Protocol: chat\r\n"));
    assert!(got.ends_with(b"\x81\x09over unix\x88\x02\x03\xe8"));
    assert_eq!(acceptor.join().unwrap(), Some(CloseCode::NORMAL));
}

#[test]
fn a_request_may_start_with_an_empty_line() {
    // RFC 9112 §2.2: a server should ignore at least one empty line before
    // the request line.
    let server = start(|b| b);
    let addr = server.local_addr();
    let answer = exchange(
        addr,
        format!("\r\nGET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    );
    assert_eq!(status_of(&answer), 200);
    let head = exchange(
        addr,
        format!("\r\nHEAD / HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    );
    assert_eq!(status_of(&head), 200);
    assert!(head.ends_with(b"\r\n\r\n"), "HEAD has no body");
    let post = exchange(
        addr,
        format!("\r\nPOST / HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n").as_bytes(),
    );
    assert_eq!(status_of(&post), 405);
    assert!(String::from_utf8_lossy(&post).contains("Allow: GET, HEAD\r\n"));
}

#[test]
fn an_address_in_use_is_named_and_bad_settings_are_refused() {
    let server = start(|b| b);
    let addr = server.local_addr().to_string();
    let err = ws_server::Server::builder()
        .bind(addr.as_str())
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot listen on {addr}: ")),
        "{err}"
    );
    let err = ws_server::Server::builder()
        .bind("127.0.0.1:0")
        .max_message_size(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("max_message_size"), "{err}");
    let err = ws_server::Server::builder()
        .bind("127.0.0.1:0")
        .allowed_origin("example.com")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("scheme://host[:port]"), "{err}");
}
