//! §7 closing the connection (and §5.5.1 close frames): the close
//! handshake in both directions, invalid close payloads, end-of-file and
//! the close timeout.

use super::*;
use crate::close::CloseError;
use alloc::vec;

#[test]
fn close_handshake_server_echoes_code() {
    let mut s = server();
    // Code 4000 (0x0FA0), reason "custom".
    s.feed(&bytes(&[0x88, 0x88, 0, 0, 0, 0, 0x0f, 0xa0], b"custom"));
    assert_eq!(
        events(&mut s),
        vec![Event::Close {
            code: CloseCode::new(4000),
            reason: "custom".into()
        }]
    );
    assert_eq!(
        decode_frames(s.pending_output(), Role::Server),
        vec![(OpCode::Close, true, 4000u16.to_be_bytes().to_vec())]
    );
    assert_eq!(s.pending_output(), &[0x88, 0x02, 0x0f, 0xa0]);
    assert_eq!(s.state(), State::Closed);
    assert!(!s.should_close_transport(), "the reply is not written yet");
    let n = s.pending_output().len();
    s.consume_output(n);
    assert!(s.should_close_transport());
    // Nothing is read after the close frame.
    s.feed(&bytes(&[0x81, 0x84, 0, 0, 0, 0], b"late"));
    assert_eq!(s.poll_event(), None);
    assert_eq!(s.send_text("late"), Err(SendError::Closed));
}

#[test]
fn close_reply_echoes_the_reason_when_configured() {
    let mut s = Connection::server(Config {
        echo_close_reason: true,
        ..Config::default()
    });
    s.feed(&bytes(&[0x88, 0x88, 0, 0, 0, 0, 0x0f, 0xa0], b"custom"));
    assert_eq!(events(&mut s).len(), 1);
    assert_eq!(s.pending_output(), b"\x88\x08\x0f\xa0custom");
    assert_eq!(s.sent_close(), Some((CloseCode::new(4000), "custom")));
}

#[test]
fn empty_close_is_answered_empty_and_reported_as_1005() {
    let mut s = server();
    s.feed(&[0x88, 0x80, 0, 0, 0, 0]);
    assert_eq!(
        events(&mut s),
        vec![Event::Close {
            code: CloseCode::NO_STATUS_RECEIVED,
            reason: String::new()
        }]
    );
    assert_eq!(
        decode_frames(s.pending_output(), Role::Server),
        vec![(OpCode::Close, true, vec![])]
    );
    assert_eq!(s.pending_output(), &[0x88, 0x00]);
}

#[test]
fn invalid_close_payloads() {
    let cases: [(&[u8], Error); 3] = [
        (&[0x03], Error::Close(CloseError::OneBytePayload)),
        (
            &[0x03, 0xed],
            Error::Close(CloseError::InvalidCode(CloseCode::new(1005))),
        ),
        (b"\x03\xe8\xff\xfe", Error::Close(CloseError::InvalidReason)),
    ];
    for (payload, error) in cases {
        let mut s = server();
        s.feed(&frame(8, true, payload, KEY));
        assert_failed_with(&mut s, error);
    }
}

#[test]
fn we_close_first_and_peer_answers() {
    let mut c = Connection::client(Config::default(), [5; 32]);
    c.handle_timeout(Duration::from_secs(1));
    c.close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(c.state(), State::Closing);
    assert_eq!(c.poll_timeout(), Some(Duration::from_secs(11)));
    // Data still arriving before the server's close is delivered.
    c.feed(&bytes(&[0x81, 0x09], b"in flight"));
    c.feed(&[0x88, 0x02, 0x03, 0xe8]);
    assert_eq!(
        events(&mut c),
        vec![
            Event::Message(Message::Text("in flight".into())),
            Event::Close {
                code: CloseCode::NORMAL,
                reason: String::new()
            },
        ]
    );
    assert_eq!(c.state(), State::Closed);
    // Only our close frame went out: no echo of the reply.
    assert_eq!(decode_frames(c.pending_output(), Role::Client).len(), 1);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn close_timeout_ends_the_connection() {
    let mut s = server();
    s.close(CloseCode::NORMAL, "").unwrap();
    // The time was not known when the close was sent: the timer asks to be armed.
    assert_eq!(s.poll_timeout(), Some(Duration::ZERO));
    s.handle_timeout(Duration::from_secs(3));
    assert_eq!(s.poll_timeout(), Some(Duration::from_secs(13)));
    s.handle_timeout(Duration::from_secs(12));
    assert_eq!(s.state(), State::Closing);
    s.handle_timeout(Duration::from_secs(13));
    assert_eq!(events(&mut s), vec![Event::Error(Error::CloseTimeout)]);
    assert_eq!(s.state(), State::Closed);
}

#[test]
fn eof_before_close_is_abnormal() {
    let mut s = server();
    s.send_text("unsent").unwrap();
    s.handle_eof();
    assert_eq!(events(&mut s), vec![Event::Error(Error::AbnormalClosure)]);
    assert!(s.should_close_transport());
    // After a clean close, EOF is expected and reports nothing.
    let mut s = server();
    s.feed(&[0x88, 0x80, 0, 0, 0, 0]);
    events(&mut s);
    s.handle_eof();
    assert_eq!(s.poll_event(), None);
}

#[test]
fn eof_after_feed_still_delivers_what_was_fed() {
    let mut s = server();
    let mut wire = bytes(&[0x81, 0x82, 0, 0, 0, 0], b"hi");
    wire.extend_from_slice(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
    s.feed(&wire);
    s.handle_eof();
    assert_eq!(
        events(&mut s),
        vec![
            Event::Message(Message::Text("hi".into())),
            Event::Close {
                code: CloseCode::NORMAL,
                reason: String::new()
            },
        ],
        "a clean close before EOF is not abnormal"
    );
    // Half a frame before EOF: the whole messages come first, then 1006.
    let mut s = server();
    let mut wire = bytes(&[0x82, 0x82, 0, 0, 0, 0], b"ok");
    wire.extend_from_slice(&[0x82, 0x89, 0, 0, 0]); // "cut short", cut in its key
    s.feed(&wire);
    s.handle_eof();
    s.feed(&bytes(&[0x81, 0x89, 0, 0, 0, 0], b"after eof"));
    assert_eq!(
        events(&mut s),
        vec![
            Event::Message(Message::Binary(Bytes::from_static(b"ok"))),
            Event::Error(Error::AbnormalClosure)
        ]
    );
    assert!(s.should_close_transport());
}

#[test]
fn timeouts_release_the_transport_even_with_unread_output() {
    // A peer that stopped reading never drains our queue; after the close
    // timeout the transport may go anyway.
    let mut s = server();
    s.handle_timeout(Duration::ZERO);
    s.send_binary(&[0; 1000]).unwrap();
    s.close(CloseCode::NORMAL, "").unwrap();
    s.handle_timeout(Duration::from_secs(10));
    assert_eq!(events(&mut s), vec![Event::Error(Error::CloseTimeout)]);
    assert!(!s.pending_output().is_empty());
    assert!(s.should_close_transport());
    // Likewise after a keep-alive timeout: the 1011 close is queued, best effort.
    let mut s = Connection::server(Config {
        keep_alive_interval: Some(Duration::from_secs(1)),
        keep_alive_timeout: Some(Duration::from_secs(1)),
        ..Config::default()
    });
    s.handle_timeout(Duration::ZERO);
    s.handle_timeout(Duration::from_secs(1));
    s.handle_timeout(Duration::from_secs(2));
    assert_failed_with(&mut s, Error::KeepAliveTimeout);
    assert!(s.should_close_transport());
}

#[test]
fn both_ends_close_at_once_over_a_byte_at_a_time_transport() {
    // §7.1.3: each end sent a close frame before receiving the other's.
    let mut pair = Pair::new(Config::default(), Config::default(), [8; 32]);
    pair.send(End::Server, MessageKind::Text, b"before", true)
        .unwrap();
    pair.close(End::Client, CloseCode::GOING_AWAY, "client")
        .unwrap();
    pair.close(End::Server, CloseCode::NORMAL, "server")
        .unwrap();
    for _ in 0..64 {
        pair.deliver(End::Client, 1, Delivery::Lend);
        pair.deliver(End::Server, 1, Delivery::Feed);
    }
    assert_eq!(pair.received(End::Client), 1);
    assert_eq!(
        pair.close_received(End::Server),
        Some((CloseCode::GOING_AWAY, "client"))
    );
    assert_eq!(
        pair.close_received(End::Client),
        Some((CloseCode::NORMAL, "server"))
    );
    pair.finish();
}

#[test]
fn a_close_that_is_never_answered_times_out_on_virtual_time() {
    let mut pair = Pair::new(
        Config {
            close_timeout: Duration::from_secs(3),
            ..Config::default()
        },
        Config::default(),
        [8; 32],
    );
    pair.close(End::Client, CloseCode::NORMAL, "").unwrap();
    pair.advance(Duration::from_millis(2999));
    assert!(pair.errors(End::Client).is_empty());
    pair.advance(Duration::from_millis(1));
    assert_eq!(pair.errors(End::Client), &[Error::CloseTimeout]);
    pair.finish();
}
