use super::*;
use crate::close::CloseError;
use crate::frame::{FrameError, MAX_HEADER_LEN, RSV1};
use crate::mask::{apply_mask, MaskKeys};
use alloc::vec;
use alloc::vec::Vec;

/// Encodes one frame as a client would send it (masked) or a server (not).
fn frame(opcode: u8, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let op = OpCode::from_u8(opcode).expect("test uses valid opcodes");
    let mut h = FrameHeader::new(op, fin, payload.len() as u64);
    h.mask = mask;
    let mut buf = [0u8; MAX_HEADER_LEN];
    let n = h.encode(&mut buf);
    let mut out = buf[..n].to_vec();
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

const KEY: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

fn events(conn: &mut Connection) -> Vec<Event> {
    core::iter::from_fn(|| conn.poll_event()).collect()
}

fn server() -> Connection {
    Connection::server(Config::default())
}

/// Decodes every frame in `bytes` (as the peer of `role` would), returning
/// (opcode, fin, unmasked payload).
fn decode_frames(bytes: &[u8], sender: Role) -> Vec<(OpCode, bool, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let (h, n) = FrameHeader::decode(&bytes[pos..])
            .unwrap()
            .expect("complete frame");
        assert_eq!(
            h.mask.is_some(),
            sender == Role::Client,
            "masking follows the sender's role"
        );
        let start = pos + n;
        let end = start + h.payload_len as usize;
        let mut payload = bytes[start..end].to_vec();
        if let Some(key) = h.mask {
            apply_mask(&mut payload, key, 0);
        }
        out.push((h.opcode, h.fin, payload));
        pos = end;
    }
    out
}

fn assert_failed_with(conn: &mut Connection, error: Error) {
    let evs = events(conn);
    assert_eq!(evs.last(), Some(&Event::Error(error)), "events: {evs:?}");
    assert_eq!(conn.state(), State::Closed);
    let frames = decode_frames(conn.pending_output(), conn.role());
    let (op, _, payload) = frames.last().expect("a close frame was queued");
    assert_eq!(*op, OpCode::Close);
    assert_eq!(
        u16::from_be_bytes([payload[0], payload[1]]),
        error.close_code().as_u16()
    );
    assert!(core::str::from_utf8(&payload[2..]).is_ok());
}

#[test]
fn rfc_examples_unmasked_and_masked_hello() {
    let mut client = Connection::client(Config::default(), [1; 32]);
    client.feed(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(
        events(&mut client),
        vec![Event::Message(Message::Text("Hello".into()))]
    );

    let mut s = server();
    s.feed(&[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    assert_eq!(
        events(&mut s),
        vec![Event::Message(Message::Text("Hello".into()))]
    );
}

#[test]
fn rfc_fragmented_hello_with_ping_between_fragments() {
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
fn large_lengths_roundtrip() {
    for len in [0usize, 125, 126, 256, 65535, 65536, 1 << 20] {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut client = Connection::client(Config::default(), [3; 32]);
        client.send_binary(&data).unwrap();
        let mut s = server();
        s.feed(client.pending_output());
        assert_eq!(
            events(&mut s),
            vec![Event::Message(Message::Binary(data.into()))],
            "len {len}"
        );
    }
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
fn unmasked_client_frame_fails_with_1002() {
    let mut s = server();
    s.feed(&frame(1, true, b"hi", None));
    assert_failed_with(&mut s, Error::Frame(FrameError::UnmaskedFrame));
}

#[test]
fn masked_server_frame_fails_client() {
    let mut c = Connection::client(Config::default(), [1; 32]);
    c.feed(&frame(2, true, b"hi", KEY));
    assert_failed_with(&mut c, Error::Frame(FrameError::MaskedFrame));
}

#[test]
fn rsv_bits_without_extension_fail() {
    let mut s = server();
    let mut bytes = frame(1, true, b"hi", KEY);
    bytes[0] |= RSV1 << 4;
    s.feed(&bytes);
    assert_failed_with(&mut s, Error::Frame(FrameError::ReservedBitsSet(RSV1)));
}

#[test]
fn reserved_opcode_fails() {
    let mut s = server();
    s.feed(&[0x83, 0x80, 0, 0, 0, 0]);
    assert_failed_with(&mut s, Error::Frame(FrameError::ReservedOpcode(3)));
}

#[test]
fn fragmentation_rule_violations() {
    let mut s = server();
    s.feed(&frame(0, true, b"x", KEY));
    assert_failed_with(&mut s, Error::UnexpectedContinuation);

    let mut s = server();
    s.feed(&frame(1, false, b"x", KEY));
    s.feed(&frame(2, true, b"y", KEY));
    assert_failed_with(&mut s, Error::ExpectedContinuation);
}

#[test]
fn frame_and_message_limits_fail_with_1009_before_buffering() {
    let config = Config {
        max_frame_size: 100,
        max_message_size: 150,
        ..Config::default()
    };
    let mut s = Connection::server(config.clone());
    // Only the header arrives: the error comes before any payload.
    let mut h = FrameHeader::new(OpCode::Binary, true, 101);
    h.mask = KEY;
    let mut buf = [0; MAX_HEADER_LEN];
    let n = h.encode(&mut buf);
    s.feed(&buf[..n]);
    assert_failed_with(
        &mut s,
        Error::Frame(FrameError::PayloadTooLarge { len: 101, max: 100 }),
    );

    let mut s = Connection::server(config);
    s.feed(&frame(2, false, &[0; 100], KEY));
    s.feed(&frame(0, false, &[0; 51], KEY));
    assert_failed_with(
        &mut s,
        Error::MessageTooBig {
            size: 151,
            max: 150,
        },
    );
}

#[test]
fn announced_length_is_not_allocated_up_front() {
    let mut s = server();
    let mut h = FrameHeader::new(OpCode::Binary, true, 16 << 20);
    h.mask = KEY;
    let mut buf = [0; MAX_HEADER_LEN];
    let n = h.encode(&mut buf);
    s.feed(&buf[..n]);
    s.feed(&[0; 10]);
    assert_eq!(s.poll_event(), None);
    assert!(
        s.recv.capacity() <= 16 << 10,
        "capacity {}",
        s.recv.capacity()
    );
}

#[test]
fn endless_empty_continuations_pin_no_memory() {
    let mut s = server();
    s.feed(&frame(2, false, b"", KEY));
    let empty = frame(0, false, b"", KEY);
    for _ in 0..10_000 {
        s.feed(&empty);
        assert_eq!(s.poll_event(), None);
    }
    assert!(
        s.recv.capacity() <= 16 << 10,
        "zero-byte fragments pin nothing; consumed input is released: {}",
        s.recv.capacity()
    );
    s.feed(&frame(0, true, b"end", KEY));
    assert_eq!(
        events(&mut s),
        vec![Event::Message(Message::Binary(Bytes::from_static(b"end")))]
    );
}

#[test]
fn invalid_utf8_fails_fast_mid_frame() {
    // Autobahn 6.4.3: the bad byte arrives in the middle of a frame whose
    // payload is not complete; we fail at once with 1007.
    let payload = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited";
    let bytes = frame(1, true, payload, KEY);
    let mut s = server();
    s.feed(&bytes[..6 + 11]); // header + everything before F4 90
    assert_eq!(events(&mut s), vec![]);
    s.feed(&bytes[6 + 11..6 + 13]); // F4 90: can never be valid
    assert_failed_with(&mut s, Error::InvalidUtf8);
}

#[test]
fn invalid_utf8_across_fragments_and_truncated_at_end() {
    let mut s = server();
    s.feed(&frame(1, false, b"\xe2\x82", KEY));
    s.feed(&frame(0, true, b"\xac", KEY));
    assert_eq!(
        events(&mut s),
        vec![Event::Message(Message::Text("€".into()))]
    );

    let mut s = server();
    s.feed(&frame(1, false, b"ok\xe2\x82", KEY));
    s.feed(&frame(0, true, b"", KEY));
    assert_failed_with(&mut s, Error::InvalidUtf8);
}

#[test]
fn close_handshake_server_echoes_code() {
    let mut s = server();
    let mut payload = 4000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"custom");
    s.feed(&frame(8, true, &payload, KEY));
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
    assert_eq!(s.state(), State::Closed);
    assert!(!s.should_close_transport(), "the reply is not written yet");
    let n = s.pending_output().len();
    s.consume_output(n);
    assert!(s.should_close_transport());
    // Nothing is read after the close frame.
    s.feed(&frame(1, true, b"late", KEY));
    assert_eq!(s.poll_event(), None);
    assert_eq!(s.send_text("late"), Err(SendError::Closed));
}

#[test]
fn empty_close_is_answered_empty_and_reported_as_1005() {
    let mut s = server();
    s.feed(&frame(8, true, b"", KEY));
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
    c.feed(&frame(1, true, b"in flight", None));
    c.feed(&frame(8, true, &1000u16.to_be_bytes(), None));
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
fn keepalive_pings_and_matching_pong_clears_deadline() {
    let config = Config {
        keep_alive_interval: Some(Duration::from_secs(10)),
        keep_alive_timeout: Some(Duration::from_secs(3)),
        ..Config::default()
    };
    let mut s = Connection::server(config);
    assert_eq!(
        s.poll_timeout(),
        Some(Duration::ZERO),
        "asks for the time to arm keep-alive"
    );
    s.handle_timeout(Duration::from_secs(100));
    assert_eq!(s.poll_timeout(), Some(Duration::from_secs(110)));
    s.handle_timeout(Duration::from_secs(110));
    let frames = decode_frames(s.pending_output(), Role::Server);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].0, OpCode::Ping);
    assert_eq!(s.poll_timeout(), Some(Duration::from_secs(113)));
    // An unrelated pong does not count; the matching one does.
    s.feed(&frame(0xA, true, b"other", KEY));
    s.feed(&frame(0xA, true, &frames[0].2, KEY));
    assert_eq!(events(&mut s).len(), 2);
    assert_eq!(s.poll_timeout(), Some(Duration::from_secs(120)));
    s.handle_timeout(Duration::from_secs(115));
    assert_eq!(s.state(), State::Open);
}

#[test]
fn keep_alive_timeout_fails_with_1011() {
    let config = Config {
        keep_alive_interval: Some(Duration::from_secs(10)),
        keep_alive_timeout: Some(Duration::from_secs(3)),
        ..Config::default()
    };
    let mut s = Connection::server(config);
    s.handle_timeout(Duration::ZERO);
    s.handle_timeout(Duration::from_secs(10));
    s.handle_timeout(Duration::from_secs(13));
    assert_failed_with(&mut s, Error::KeepAliveTimeout);
    assert_eq!(s.poll_timeout(), None);
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
    // Only the latest ping is answered.
    assert_eq!(
        decode_frames(s.pending_output(), Role::Server),
        vec![(OpCode::Pong, true, 999u32.to_be_bytes().to_vec())]
    );
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
    s.feed(&frame(8, true, b"", KEY));
    events(&mut s);
    s.handle_eof();
    assert_eq!(s.poll_event(), None);
}

#[test]
fn streaming_delivers_chunks_as_they_arrive() {
    let config = Config {
        stream_messages: true,
        ..Config::default()
    };
    let mut s = Connection::server(config);
    let bytes = frame(1, false, b"hello ", KEY);
    s.feed(&bytes[..8]);
    assert_eq!(
        events(&mut s),
        vec![Event::MessageChunk {
            kind: MessageKind::Text,
            data: Bytes::from_static(b"he"),
            fin: false
        }]
    );
    s.feed(&bytes[8..]);
    s.feed(&frame(0, true, b"world", KEY));
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

/// Found while writing the fuzz targets' heap bound: a transport that writes
/// only part of the queue while sends keep coming kept every written byte
/// in `output`, growing it without bound.
#[test]
fn partial_writes_do_not_grow_the_output_buffer() {
    let mut conn = server();
    for _ in 0..10_000 {
        conn.send_binary(&[0xAB; 100]).unwrap();
        let n = conn.pending_output().len();
        conn.consume_output(n - 1);
    }
    assert_eq!(conn.pending_output().len(), 1);
    assert!(
        conn.out.capacity() <= 2 * 4096 + 200,
        "{}",
        conn.out.capacity()
    );
}

#[test]
fn mask_keys_vary() {
    let mut rng = MaskKeys::new([0; 32]);
    let keys: Vec<[u8; 4]> = (0..64).map(|_| rng.next_key()).collect();
    let mut dedup = keys.clone();
    dedup.sort_unstable();
    dedup.dedup();
    assert_eq!(dedup.len(), keys.len());
}

#[cfg(not(miri))]
mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Text(String),
        Binary(Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            any::<String>().prop_map(Op::Text),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(Op::Binary),
            proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Op::Ping),
            proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Op::Pong),
        ]
    }

    fn run(bytes: &[u8], cuts: &[usize], stream: bool) -> (Vec<Event>, Vec<u8>) {
        let mut s = Connection::server(Config {
            stream_messages: stream,
            ..Config::default()
        });
        let mut evs = Vec::new();
        let mut start = 0;
        for &c in cuts.iter().chain(core::iter::once(&bytes.len())) {
            s.feed(&bytes[start..c]);
            evs.extend(core::iter::from_fn(|| s.poll_event()));
            start = c;
        }
        (evs, s.pending_output().to_vec())
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_events(ops in proptest::collection::vec(arb_op(), 0..8),
                                           frag in 1usize..50,
                                           tail in proptest::collection::vec(any::<u8>(), 0..20),
                                           cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..10)) {
            let mut client = Connection::client(Config { fragment_size: Some(frag), ..Config::default() }, [7; 32]);
            for op in &ops {
                match op {
                    Op::Text(t) => client.send_text(t).unwrap(),
                    Op::Binary(b) => client.send_binary(b).unwrap(),
                    Op::Ping(p) => client.send_ping(p).unwrap(),
                    Op::Pong(p) => client.send_pong(p).unwrap(),
                }
            }
            let mut bytes = client.pending_output().to_vec();
            bytes.extend_from_slice(&tail); // arbitrary garbage may follow
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            points.sort_unstable();
            let whole = run(&bytes, &[], false);
            let split = run(&bytes, &points, false);
            prop_assert_eq!(&whole, &split);
            // The valid prefix is delivered exactly.
            let messages: Vec<Event> = ops.iter().map(|op| match op {
                Op::Text(t) => Event::Message(Message::Text(t.clone().into())),
                Op::Binary(b) => Event::Message(Message::Binary(b.clone().into())),
                Op::Ping(p) => Event::Ping(p.clone().into()),
                Op::Pong(p) => Event::Pong(p.clone().into()),
            }).collect();
            prop_assert_eq!(&whole.0[..messages.len()], &messages[..]);
            // Streaming delivers the same bytes.
            let streamed = run(&bytes, &points, true).0;
            let mut joined: Vec<u8> = Vec::new();
            let mut expected: Vec<u8> = Vec::new();
            for e in &streamed { if let Event::MessageChunk { data, .. } = e { joined.extend_from_slice(data); } }
            for op in &ops { match op { Op::Text(t) => expected.extend_from_slice(t.as_bytes()), Op::Binary(b) => expected.extend_from_slice(b), _ => {} } }
            prop_assert!(joined.starts_with(&expected));
        }

        #[test]
        fn arbitrary_input_never_panics_and_errors_close_validly(bytes in proptest::collection::vec(any::<u8>(), 0..200),
                                                               cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6)) {
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            points.sort_unstable();
            for role in [Role::Server, Role::Client] {
                let mut conn = Connection::new(role, Config { max_message_size: 64, max_frame_size: 64, ..Config::default() }, (role == Role::Client).then(|| MaskKeys::new([1; 32])));
                let mut start = 0;
                let mut evs = Vec::new();
                for &c in points.iter().chain(core::iter::once(&bytes.len())) {
                    conn.feed(&bytes[start..c]);
                    evs.extend(core::iter::from_fn(|| conn.poll_event()));
                    start = c;
                }
                let sent_by = role;
                for (op, _, payload) in decode_frames(conn.pending_output(), sent_by) {
                    if op == OpCode::Close && !payload.is_empty() {
                        prop_assert!(crate::close::parse_close_payload(&payload).is_ok());
                    }
                }
                if evs.iter().any(|e| matches!(e, Event::Error(_))) {
                    prop_assert_eq!(conn.state(), State::Closed);
                }
            }
        }
    }
}

// Regressions from the review of the first version of this module.

#[test]
fn pong_for_the_latest_keepalive_ping_clears_the_deadline() {
    // With the timeout longer than the interval, several pings are
    // outstanding; a peer may answer only the latest (§5.5.3), as this very
    // connection does when its queue is full.
    let config = Config {
        keep_alive_interval: Some(Duration::from_secs(10)),
        keep_alive_timeout: Some(Duration::from_secs(30)),
        ..Config::default()
    };
    let mut s = Connection::server(config);
    s.handle_timeout(Duration::ZERO);
    s.handle_timeout(Duration::from_secs(10));
    s.handle_timeout(Duration::from_secs(20));
    let pings = decode_frames(s.pending_output(), Role::Server);
    assert_eq!(pings.len(), 2);
    s.feed(&frame(0xA, true, &pings[1].2, KEY));
    events(&mut s);
    s.handle_timeout(Duration::from_secs(40));
    assert_eq!(events(&mut s), vec![]);
    assert_eq!(s.state(), State::Open);
    // A pong naming a ping that was never sent does not count.
    let mut s = Connection::server(Config {
        keep_alive_interval: Some(Duration::from_secs(10)),
        keep_alive_timeout: Some(Duration::from_secs(30)),
        ..Config::default()
    });
    s.handle_timeout(Duration::ZERO);
    s.handle_timeout(Duration::from_secs(10));
    s.feed(&frame(0xA, true, &99u64.to_be_bytes(), KEY));
    events(&mut s);
    s.handle_timeout(Duration::from_secs(40));
    assert_eq!(events(&mut s), vec![Event::Error(Error::KeepAliveTimeout)]);
}

#[test]
fn eof_after_feed_still_delivers_what_was_fed() {
    let mut s = server();
    let mut wire = frame(1, true, b"hi", KEY);
    wire.extend(frame(8, true, &1000u16.to_be_bytes(), KEY));
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
    let mut wire = frame(2, true, b"ok", KEY);
    wire.extend_from_slice(&frame(2, true, b"cut short", KEY)[..5]);
    s.feed(&wire);
    s.handle_eof();
    s.feed(&frame(1, true, b"after eof", KEY));
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
fn zero_keepalive_durations_mean_off() {
    let mut s = Connection::server(Config {
        keep_alive_interval: Some(Duration::ZERO),
        keep_alive_timeout: Some(Duration::ZERO),
        ..Config::default()
    });
    s.handle_timeout(Duration::from_secs(1));
    assert_eq!(s.poll_timeout(), None, "no busy wake-ups");
    for _ in 0..100 {
        s.handle_timeout(Duration::from_secs(1));
    }
    assert!(s.pending_output().is_empty(), "no pings");
    assert_eq!(s.state(), State::Open);
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

/// Found by the exact queue check of the fuzz targets: control frames were
/// counted as 6 bytes of header whatever the role, so a server refused a
/// ping that fit exactly.
#[test]
fn queue_limit_is_exact_for_control_frames() {
    let mut s = Connection::server(Config {
        max_send_queue: 16,
        ..Config::default()
    });
    s.send_binary(&[0; 2]).unwrap();
    s.send_ping(&[0; 10]).unwrap();
    assert_eq!(s.output_len(), 16, "4 + 12 bytes: exactly the limit");
    assert_eq!(s.send_pong(b""), Err(SendError::QueueFull));
}
