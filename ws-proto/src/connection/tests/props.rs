//! Property tests: any split of a stream gives the same events, and
//! arbitrary input never panics and always closes with a valid code.
#![cfg(not(miri))]

use super::*;
use crate::mask::MaskKeys;
use alloc::string::String;
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
