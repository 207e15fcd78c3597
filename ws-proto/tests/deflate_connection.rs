//! permessage-deflate through whole connections (RFC 7692 §6, §7.2): a
//! client and a server wired together, every parameter combination, with
//! fragments, control frames between them, and the inflation limit.
#![cfg(feature = "deflate")]

use ws_proto::close::CloseCode;
use ws_proto::connection::{Config, Connection, Error, Event, Message, MessageKind};
use ws_proto::negotiation::{DeflateParams, Negotiated};

fn pair(params: DeflateParams, config: Config) -> (Connection, Connection) {
    let n = Negotiated {
        permessage_deflate: Some(params),
    };
    (
        Connection::client_with(config.clone(), n, [3; 32]).unwrap(),
        Connection::server_with(config, n).unwrap(),
    )
}

/// Moves everything `from` wrote into `to`, in reads of `chunk` bytes.
fn pump(from: &mut Connection, to: &mut Connection, chunk: usize) {
    let mut wire = Vec::new();
    while !from.pending_output().is_empty() {
        let run = from.pending_output().to_vec();
        from.consume_output(run.len());
        wire.extend_from_slice(&run);
    }
    for piece in wire.chunks(chunk.max(1)) {
        let buf = to.recv_buffer(piece.len());
        buf[..piece.len()].copy_from_slice(piece);
        to.commit(piece.len());
    }
}

fn messages(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

fn text(seed: usize, len: usize) -> String {
    let words = [
        "alpha ",
        "βeta ",
        "gamma ",
        "δέλτα ",
        "{\"id\":",
        "€ ",
        "𝄞 ",
    ];
    let mut s = String::new();
    let mut i = seed;
    while s.len() < len {
        s.push_str(words[i % words.len()]);
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    s
}

#[test]
fn every_parameter_combination_round_trips_both_ways() {
    for bits in 8..=15u8 {
        for takeover in [false, true] {
            for frag in [None, Some(1), Some(7), Some(1000)] {
                let params = DeflateParams {
                    server_no_context_takeover: !takeover,
                    client_no_context_takeover: takeover,
                    server_max_window_bits: bits,
                    client_max_window_bits: 23 - bits,
                };
                let config = Config {
                    fragment_size: frag,
                    ..Config::default()
                };
                let (mut c, mut s) = pair(params, config);
                for i in 0..6 {
                    let t = text(i, 10 + i * 300);
                    c.send_text(&t).unwrap();
                    c.send_ping(b"between").unwrap();
                    pump(&mut c, &mut s, 5 + i);
                    let got = messages(&mut s);
                    assert_eq!(
                        got[0],
                        Event::Message(Message::Text(t.clone().into())),
                        "bits {bits} takeover {takeover} frag {frag:?}"
                    );
                    assert_eq!(got[1], Event::Ping(b"between"[..].into()));
                    // Echo back, compressed by the server's own direction.
                    s.send(&Message::Text(t.clone().into())).unwrap();
                    pump(&mut s, &mut c, 3);
                    let pong_and_echo = messages(&mut c);
                    assert!(pong_and_echo.contains(&Event::Message(Message::Text(t.into()))));
                }
            }
        }
    }
}

#[test]
fn only_the_first_frame_of_a_compressed_message_has_rsv1() {
    let config = Config {
        fragment_size: Some(4),
        ..Config::default()
    };
    let (_, mut s) = pair(DeflateParams::default(), config);
    s.send_text(&"abc".repeat(50)).unwrap();
    s.send_ping(b"").unwrap();
    let mut out = Vec::new();
    while !s.pending_output().is_empty() {
        let run = s.pending_output().to_vec();
        s.consume_output(run.len());
        out.extend_from_slice(&run);
    }
    let mut i = 0;
    let mut first = true;
    while i < out.len() {
        let b0 = out[i];
        let len = out[i + 1] as usize;
        let rsv1 = b0 & 0x40 != 0;
        let opcode = b0 & 0x0f;
        if opcode == 0x9 {
            assert!(!rsv1, "control frames are never compressed");
        } else {
            assert_eq!(rsv1, first, "RSV1 exactly on the first frame");
            first = false;
        }
        i += 2 + len;
    }
}

#[test]
fn streamed_fragments_are_compressed_as_one_message() {
    let (mut c, mut s) = pair(DeflateParams::default(), Config::default());
    c.send_fragment(MessageKind::Binary, &[1; 3000], false)
        .unwrap();
    c.send_pong(b"hb").unwrap();
    c.send_fragment(MessageKind::Binary, &[2; 3000], true)
        .unwrap();
    pump(&mut c, &mut s, 100);
    let got = messages(&mut s);
    let mut expected = vec![1u8; 3000];
    expected.extend_from_slice(&[2; 3000]);
    assert_eq!(got[0], Event::Pong(b"hb"[..].into()));
    assert_eq!(got[1], Event::Message(Message::Binary(expected.into())));
}

#[test]
fn small_messages_may_go_uncompressed_without_desynchronizing_the_window() {
    let config = Config {
        compression: ws_proto::connection::CompressionConfig {
            min_size: 64,
            ..Default::default()
        },
        ..Config::default()
    };
    let (mut c, mut s) = pair(DeflateParams::default(), config);
    for i in 0..20 {
        let t = text(i, if i % 2 == 0 { 10 } else { 500 });
        c.send_text(&t).unwrap();
        pump(&mut c, &mut s, 64);
        assert_eq!(
            messages(&mut s),
            vec![Event::Message(Message::Text(t.into()))]
        );
    }
}

/// python-websockets CVE-2018-1000518: a small message that inflates past
/// the limit must fail while inflating, not after.
#[test]
fn a_deflate_bomb_fails_with_1009_while_inflating() {
    let limit = 1 << 20;
    let config = Config {
        max_message_size: limit,
        max_send_queue: usize::MAX,
        ..Config::default()
    };
    // The sender has no limit of its own on what it compresses.
    let (mut c, _) = pair(DeflateParams::default(), config.clone());
    let mut s = Connection::server_with(
        config,
        Negotiated {
            permessage_deflate: Some(DeflateParams::default()),
        },
    )
    .unwrap();
    c.send_binary(&vec![0u8; 64 << 20]).unwrap();
    let wire_len = c.output_len();
    assert!(
        wire_len < 128 << 10,
        "64 MiB of zeros compress to {wire_len} bytes"
    );
    pump(&mut c, &mut s, 16 << 10);
    let events = messages(&mut s);
    assert!(
        matches!(
            events.last(),
            Some(Event::Error(Error::MessageTooBig { .. }))
        ),
        "{events:?}"
    );
    assert_eq!(s.sent_close().unwrap().0, CloseCode::MESSAGE_TOO_BIG);
    assert!(
        s.buffered_bytes() < 3 * limit,
        "held {} bytes for a {limit}-byte limit",
        s.buffered_bytes()
    );
}

#[test]
fn corrupt_deflate_data_fails_with_1007() {
    let (_, mut s) = pair(DeflateParams::default(), Config::default());
    // A masked text frame with RSV1 whose payload is not deflate (block
    // type 3 is reserved).
    let payload = [0xff, 0xff, 0xff];
    let mut frame = vec![0xC1, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(&payload);
    s.feed(&frame);
    let events = messages(&mut s);
    assert!(
        matches!(events.last(), Some(Event::Error(Error::Compression(_)))),
        "{events:?}"
    );
    assert_eq!(s.sent_close().unwrap().0, CloseCode::INVALID_PAYLOAD);
}

#[test]
fn rsv1_on_a_continuation_or_control_frame_fails_with_1002() {
    for frame in [
        // Text start, then a continuation with RSV1.
        vec![0x01, 0x80, 0, 0, 0, 0, 0xC0, 0x80, 0, 0, 0, 0],
        // A ping with RSV1.
        vec![0xC9, 0x80, 0, 0, 0, 0],
    ] {
        let (_, mut s) = pair(DeflateParams::default(), Config::default());
        s.feed(&frame);
        let events = messages(&mut s);
        assert!(
            matches!(events.last(), Some(Event::Error(Error::Frame(_)))),
            "{events:?}"
        );
        assert_eq!(s.sent_close().unwrap().0, CloseCode::PROTOCOL_ERROR);
    }
}

#[test]
fn without_negotiation_rsv1_is_still_refused() {
    let mut s = Connection::server(Config::default());
    s.feed(&[0xC1, 0x80, 0, 0, 0, 0]);
    let events = messages(&mut s);
    assert!(matches!(events.last(), Some(Event::Error(Error::Frame(_)))));
}
