//! The echo endpoint, seen by two independent clients: the ws-proto client
//! role (through `ws_server::WebSocket`) and tungstenite.

mod common;

use std::io::Write;

use common::*;
use tungstenite::protocol::frame::coding::CloseCode as TCloseCode;
use tungstenite::protocol::CloseFrame;
use ws_proto::connection::Config;
use ws_server::{CloseCode, Message};

const SIZES: [usize; 6] = [0, 125, 126, 65535, 65536, 1 << 20];

fn text_of(len: usize) -> String {
    // Multi-byte characters at every position, so UTF-8 checks run across
    // frame and read boundaries; cut to exactly `len` bytes.
    let mut s: String = "aé€😀".chars().cycle().take(len).collect();
    while s.len() > len {
        s.pop();
    }
    while s.len() < len {
        s.push('x');
    }
    s
}

fn binary_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn proto_client_echoes_text_and_binary_at_boundary_sizes() {
    let server = start(|b| b);
    let mut ws = proto_client(server.local_addr(), "/ws", Config::default());
    for len in SIZES {
        let text = text_of(len);
        ws.send_text(&text).unwrap();
        assert_eq!(
            ws.recv().unwrap(),
            Some(Message::Text(text.into())),
            "text of {len} bytes"
        );
        let data = binary_of(len);
        ws.send_binary(&data).unwrap();
        assert_eq!(
            ws.recv().unwrap(),
            Some(Message::Binary(data.into())),
            "binary of {len} bytes"
        );
    }
    ws.close(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(
        ws.received_close(),
        Some((CloseCode::NORMAL, String::new()))
    );
    assert_eq!(ws.stats().messages_sent, 12);
    assert_eq!(ws.stats().messages_received, 12);
}

#[test]
fn tungstenite_echoes_text_and_binary_at_boundary_sizes() {
    let server = start(|b| b);
    let mut ws = tungstenite_client(server.local_addr(), "/ws");
    for len in SIZES {
        let text = text_of(len);
        ws.send(tungstenite::Message::text(text.clone())).unwrap();
        match ws.read().unwrap() {
            tungstenite::Message::Text(got) => assert_eq!(got.as_str(), text, "{len}"),
            other => panic!("expected text of {len} bytes, got {other:?}"),
        }
        let data = binary_of(len);
        ws.send(tungstenite::Message::binary(data.clone())).unwrap();
        match ws.read().unwrap() {
            tungstenite::Message::Binary(got) => assert_eq!(&got[..], &data[..], "{len}"),
            other => panic!("expected binary of {len} bytes, got {other:?}"),
        }
    }
}

#[test]
fn fragmented_messages_are_reassembled() {
    let server = start(|b| b);
    // ws-proto splits outgoing messages into frames of 1000 bytes.
    let config = Config {
        fragment_size: Some(1000),
        ..Config::default()
    };
    let mut ws = proto_client(server.local_addr(), "/ws", config);
    let text = text_of(10_000);
    ws.send_text(&text).unwrap();
    assert_eq!(ws.recv().unwrap(), Some(Message::Text(text.into())));

    // By hand: a text message in three frames with a ping in the middle, a
    // UTF-8 character split across frames, and the first frames sent in
    // the same write as the handshake.
    let addr = server.local_addr();
    let mut stream = tcp(addr);
    let mut bytes = upgrade_request(addr, "/ws", "").into_bytes();
    let euro = "€".as_bytes();
    bytes.extend(client_frame(false, 0x1, &[b'a', euro[0]]));
    bytes.extend(client_frame(true, 0x9, b"mid"));
    bytes.extend(client_frame(false, 0x0, &euro[1..]));
    bytes.extend(client_frame(true, 0x0, b"b"));
    bytes.extend(client_frame(true, 0x8, &1000u16.to_be_bytes()));
    stream.write_all(&bytes).unwrap();
    let mut rest = read_upgrade(&mut stream);
    rest.extend(read_to_close(&mut stream));
    let mut expected = vec![0x8A, 3];
    expected.extend_from_slice(b"mid");
    expected.extend_from_slice(&[0x81, 5, b'a']);
    expected.extend_from_slice(euro);
    expected.push(b'b');
    expected.extend_from_slice(&[0x88, 2, 0x03, 0xE8]);
    assert_eq!(rest, expected);
}

#[test]
fn ping_gets_pong_with_same_payload() {
    let server = start(|b| b);
    let mut ws = tungstenite_client(server.local_addr(), "/ws");
    ws.send(tungstenite::Message::Ping(b"are you there"[..].into()))
        .unwrap();
    match ws.read().unwrap() {
        tungstenite::Message::Pong(payload) => assert_eq!(&payload[..], b"are you there"),
        other => panic!("expected a pong, got {other:?}"),
    }
    // The connection still echoes afterwards.
    ws.send(tungstenite::Message::text("after")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("after"));
}

#[test]
fn close_handshake_echoes_the_code() {
    let server = start(|b| b);
    // tungstenite, with an application code and a reason.
    let mut ws = tungstenite_client(server.local_addr(), "/ws");
    ws.close(Some(CloseFrame {
        code: TCloseCode::from(4321),
        reason: "bye now".into(),
    }))
    .unwrap();
    let reply = match ws.read() {
        Ok(tungstenite::Message::Close(frame)) => frame,
        other => panic!("expected the close reply, got {other:?}"),
    };
    assert_eq!(reply.map(|f| u16::from(f.code)), Some(4321));

    // The ws-proto client role, with 1000.
    let mut ws = proto_client(server.local_addr(), "/ws", Config::default());
    ws.send_text("last").unwrap();
    ws.close(CloseCode::NORMAL, "").unwrap();
    // The echo of "last" arrived after our close: discarded, not an error.
    assert_eq!(
        ws.received_close(),
        Some((CloseCode::NORMAL, String::new()))
    );
    assert_eq!(ws.recv().unwrap(), None);
}

#[test]
fn the_echo_server_echoes_the_close_reason_too() {
    let server = start(|b| b.echo_close_reason(true));
    let mut ws = tungstenite_client(server.local_addr(), "/ws");
    ws.close(Some(CloseFrame {
        code: TCloseCode::from(1000),
        reason: "Closing from client".into(),
    }))
    .unwrap();
    let reply = match ws.read() {
        Ok(tungstenite::Message::Close(frame)) => frame.expect("a code"),
        other => panic!("expected the close reply, got {other:?}"),
    };
    assert_eq!(u16::from(reply.code), 1000);
    assert_eq!(reply.reason.as_str(), "Closing from client");
}

#[test]
fn protocol_errors_close_with_their_codes() {
    let server = start(|b| b.max_message_size(1000));
    let addr = server.local_addr();
    let cases: [(&str, Vec<u8>, u16); 4] = [
        // Unmasked frame from a client: protocol error.
        ("unmasked", vec![0x81, 0x02, b'h', b'i'], 1002),
        // Invalid UTF-8 in a text message.
        ("bad utf-8", client_frame(true, 0x1, &[0xC3, 0x28]), 1007),
        // Over max_message_size.
        ("too big", client_frame(true, 0x2, &[0u8; 1001]), 1009),
        // A reserved opcode.
        ("opcode 3", client_frame(true, 0x3, b""), 1002),
    ];
    for (what, frame, code) in cases {
        let mut stream = tcp(addr);
        let mut bytes = upgrade_request(addr, "/ws", "").into_bytes();
        bytes.extend(frame);
        stream.write_all(&bytes).unwrap();
        let mut rest = read_upgrade(&mut stream);
        rest.extend(read_to_close(&mut stream));
        assert!(rest.len() >= 4 && rest[0] == 0x88, "{what}: {rest:?}");
        assert_eq!(u16::from_be_bytes([rest[2], rest[3]]), code, "{what}");
    }
}

#[test]
fn subprotocol_is_the_clients_first_supported_offer() {
    let server = start(|b| b.subprotocol("v2.echo").subprotocol("v1.echo"));
    let addr = server.local_addr();
    let (_, chosen) = try_proto_client(
        addr,
        "/ws",
        &["v0.echo", "v1.echo", "v2.echo"],
        Config::default(),
    )
    .unwrap();
    assert_eq!(chosen.as_deref(), Some("v1.echo"));
    let (mut ws, chosen) = try_proto_client(addr, "/ws", &["v9.echo"], Config::default()).unwrap();
    assert_eq!(chosen, None);
    ws.send_text("still works").unwrap();
    assert_eq!(
        ws.recv().unwrap(),
        Some(Message::Text("still works".into()))
    );
}
