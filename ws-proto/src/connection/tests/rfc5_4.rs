//! §5.4 fragmentation: receiving and sending fragmented messages, control
//! frames between fragments, and streaming in and out.

use super::*;
use alloc::vec;

#[test]
fn rfc_fragmented_hello_with_ping_between_fragments() {
    // §5.7: "Hel" then "lo", with a ping in between (§5.4: control frames
    // may be injected in the middle of a fragmented message).
    let mut client = Connection::client(Config::default(), [1; 32]);
    client.feed(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
    client.feed(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    client.feed(&[0x80, 0x02, 0x6c, 0x6f]);
    assert_eq!(
        events(&mut client),
        vec![
            Event::Ping(Bytes::from_static(b"Hello")),
            Event::Message(Message::Text("Hello".into())),
        ]
    );
    // The pong echoes the ping's payload, masked as a client must.
    assert_eq!(
        decode_frames(client.pending_output(), Role::Client),
        vec![(OpCode::Pong, true, b"Hello".to_vec())]
    );
}

#[test]
fn fragmented_send_reassembles() {
    let config = Config {
        fragment_size: Some(7),
        ..Config::default()
    };
    let mut client = Connection::client(config, [9; 32]);
    let text = "fragmented text with ünïcödé split inside code points";
    client.send_text(text).unwrap();
    let frames = decode_frames(client.pending_output(), Role::Client);
    assert!(frames.len() > 5);
    assert_eq!(frames[0].0, OpCode::Text);
    assert!(frames[1..].iter().all(|f| f.0 == OpCode::Continuation));
    assert!(frames.iter().rev().skip(1).all(|f| !f.1) && frames.last().unwrap().1);
    let mut s = server();
    s.feed(client.pending_output());
    assert_eq!(
        events(&mut s),
        vec![Event::Message(Message::Text(text.into()))]
    );
}

#[test]
fn fragment_size_on_the_wire() {
    // §5.7's fragmented "Hello", as a server writes it.
    let mut s = Connection::server(Config {
        fragment_size: Some(3),
        ..Config::default()
    });
    s.send_text("Hello").unwrap();
    assert_eq!(
        s.pending_output(),
        &[0x01, 0x03, b'H', b'e', b'l', 0x80, 0x02, b'l', b'o']
    );
}

#[test]
fn fragmentation_rule_violations() {
    // A continuation with no message in progress.
    let mut s = server();
    s.feed(&bytes(&[0x80, 0x81, 0, 0, 0, 0], b"x"));
    assert_failed_with(&mut s, Error::UnexpectedContinuation);

    // A new data frame inside a fragmented message.
    let mut s = server();
    s.feed(&bytes(&[0x01, 0x81, 0, 0, 0, 0], b"x"));
    s.feed(&bytes(&[0x82, 0x81, 0, 0, 0, 0], b"y"));
    assert_failed_with(&mut s, Error::ExpectedContinuation);
}

#[test]
fn streaming_delivers_chunks_as_they_arrive() {
    let config = Config {
        stream_messages: true,
        ..Config::default()
    };
    let mut s = Connection::server(config);
    let first = bytes(&[0x01, 0x86, 0, 0, 0, 0], b"hello ");
    s.feed(&first[..8]);
    assert_eq!(
        events(&mut s),
        vec![Event::MessageChunk {
            kind: MessageKind::Text,
            data: Bytes::from_static(b"he"),
            fin: false
        }]
    );
    s.feed(&first[8..]);
    s.feed(&bytes(&[0x80, 0x85, 0, 0, 0, 0], b"world"));
    assert_eq!(
        events(&mut s),
        vec![
            Event::MessageChunk {
                kind: MessageKind::Text,
                data: Bytes::from_static(b"llo "),
                fin: false
            },
            Event::MessageChunk {
                kind: MessageKind::Text,
                data: Bytes::from_static(b"world"),
                fin: true
            },
        ]
    );
}

#[test]
fn send_fragment_interleaves_only_control_frames() {
    let mut conn = server();
    conn.send_fragment(MessageKind::Text, b"Hel", false)
        .unwrap();
    assert_eq!(conn.send_text("other"), Err(SendError::MessageInProgress));
    assert_eq!(
        conn.send_fragment(MessageKind::Binary, b"x", true),
        Err(SendError::KindMismatch)
    );
    conn.send_ping(b"").unwrap();
    conn.send_fragment(MessageKind::Text, b"lo", true).unwrap();
    assert_eq!(
        conn.pending_output(),
        &[0x01, 0x03, b'H', b'e', b'l', 0x89, 0x00, 0x80, 0x02, b'l', b'o']
    );
    conn.send_text("next").unwrap();
}

/// Found while updating the fuzz targets to `send_fragment`: a piece went
/// out as one frame whatever `fragment_size` said.
#[test]
fn send_fragment_pieces_respect_fragment_size() {
    let mut s = Connection::server(Config {
        fragment_size: Some(2),
        ..Config::default()
    });
    s.send_fragment(MessageKind::Binary, b"abcde", false)
        .unwrap();
    s.send_fragment(MessageKind::Binary, b"f", true).unwrap();
    assert_eq!(
        s.pending_output(),
        &[0x02, 2, b'a', b'b', 0x00, 2, b'c', b'd', 0x00, 1, b'e', 0x80, 1, b'f']
    );
}

#[test]
fn a_message_sent_in_pieces_arrives_whole_with_pings_between() {
    // Pieces cut inside characters, small frames, pings between pieces,
    // and a receiver that streams: the pair checks every byte.
    for stream in [false, true] {
        let client = Config {
            fragment_size: Some(5),
            ..Config::default()
        };
        let server = Config {
            stream_messages: stream,
            ..Config::default()
        };
        let mut pair = Pair::new(client, server, [4; 32]);
        let text = "€uro, ünïcödé and 😀";
        pair.send_pieces(End::Client, MessageKind::Text, text.as_bytes(), 4, false)
            .unwrap();
        pair.ping(End::Client, b"between").unwrap();
        pair.deliver(End::Client, 17, Delivery::Lend);
        pair.send_pieces(End::Client, MessageKind::Text, " end".as_bytes(), 2, true)
            .unwrap();
        pair.deliver(End::Client, usize::MAX, Delivery::Vectored);
        assert_eq!(pair.received(End::Server), 1, "stream: {stream}");
        pair.finish();
    }
}
