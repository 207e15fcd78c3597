//! §5.5 control frames: ping and pong (close is in `rfc7`).

use super::*;
use alloc::vec;

#[test]
fn a_ping_is_answered_with_its_payload() {
    // §5.5.2 / §5.5.3; §5.7's unmasked ping "Hello", as a client receives it.
    let mut c = Connection::client(Config::default(), [2; 32]);
    c.feed(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(
        events(&mut c),
        vec![Event::Ping(Bytes::from_static(b"Hello"))]
    );
    assert_eq!(
        decode_frames(c.pending_output(), Role::Client),
        vec![(OpCode::Pong, true, b"Hello".to_vec())]
    );
    // A server's pong is unmasked: §5.7's pong bytes exactly.
    let mut s = server();
    s.feed(&bytes(&[0x89, 0x85, 0, 0, 0, 0], b"Hello"));
    assert_eq!(
        events(&mut s),
        vec![Event::Ping(Bytes::from_static(b"Hello"))]
    );
    assert_eq!(
        s.pending_output(),
        &[0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
    );
}

#[test]
fn an_unsolicited_pong_is_reported_and_not_answered() {
    let mut s = server();
    s.feed(&bytes(&[0x8A, 0x82, 0, 0, 0, 0], b"hb"));
    assert_eq!(events(&mut s), vec![Event::Pong(Bytes::from_static(b"hb"))]);
    assert_eq!(s.output_len(), 0);
}

#[test]
fn control_payload_limits_on_send() {
    let mut s = server();
    assert_eq!(s.send_pong(&[0; 126]), Err(SendError::ControlTooLong));
    s.send_ping(&[0; 125]).unwrap();
    assert_eq!(
        s.close(CloseCode::new(999), ""),
        Err(SendError::InvalidCloseCode(CloseCode::new(999)))
    );
    s.close(CloseCode::NORMAL, &"x".repeat(500)).unwrap();
    let frames = decode_frames(s.pending_output(), Role::Server);
    assert_eq!(frames[1].2.len(), 125, "reason cut to fit a control frame");
    assert_eq!(s.close(CloseCode::NORMAL, ""), Err(SendError::Closed));
}

#[test]
fn control_frames_over_125_bytes_or_fragmented_fail() {
    // §5.5: a control frame's payload is at most 125 bytes, and it is never
    // fragmented.
    let mut s = server();
    s.feed(&[0x89, 0xFE, 0x00, 0x7E, 0, 0, 0, 0]);
    assert!(matches!(
        events(&mut s).last(),
        Some(Event::Error(Error::Frame(_)))
    ));
    let mut s = server();
    s.feed(&bytes(&[0x09, 0x81, 0, 0, 0, 0], b"x"));
    assert!(matches!(
        events(&mut s).last(),
        Some(Event::Error(Error::Frame(_)))
    ));
    assert_eq!(s.sent_close().map(|c| c.0), Some(CloseCode::PROTOCOL_ERROR));
}

#[test]
fn full_queue_refuses_sends_and_coalesces_pongs() {
    let config = Config {
        max_send_queue: 100,
        ..Config::default()
    };
    let mut s = Connection::server(config);
    s.send_binary(&[0; 100]).unwrap();
    assert_eq!(s.send_text("more"), Err(SendError::QueueFull));
    for i in 0..1000u32 {
        s.feed(&frame(9, true, &i.to_be_bytes(), KEY));
    }
    assert_eq!(events(&mut s).len(), 1000);
    assert_eq!(s.pending_output().len(), 102, "no pong queued while full");
    s.consume_output(102);
    // Only the latest ping is answered (§5.5.3).
    assert_eq!(
        decode_frames(s.pending_output(), Role::Server),
        vec![(OpCode::Pong, true, 999u32.to_be_bytes().to_vec())]
    );
}

#[test]
fn application_pings_arrive_in_order_between_two_ends() {
    let mut pair = Pair::new(Config::default(), Config::default(), [6; 32]);
    for i in 0..20u8 {
        let from = if i % 2 == 0 { End::Client } else { End::Server };
        pair.ping(from, &[i; 3]).unwrap();
        pair.deliver(from, 4, Delivery::Feed);
    }
    // The pair checks each ping against the ones sent, in order.
    pair.finish();
}
