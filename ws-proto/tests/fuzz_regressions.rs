//! Bugs found by the fuzz targets in `fuzz/`, each replayed as a plain test
//! through the public API. (Those only visible from inside a module are
//! tested in that module.)
#![cfg(feature = "alloc")]

use core::time::Duration;

use ws_proto::connection::{Config, Connection, Error, Event, State};
use ws_proto::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use ws_proto::mask::apply_mask;

/// A masked frame, as a client sends it.
fn client_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let key = [1, 2, 3, 4];
    let mut h = FrameHeader::new(opcode, true, payload.len() as u64);
    h.mask = Some(key);
    let mut buf = [0u8; MAX_HEADER_LEN];
    let n = h.encode(&mut buf);
    let mut out = buf[..n].to_vec();
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key, 0);
    out
}

fn drain(conn: &mut Connection) -> Vec<Event> {
    core::iter::from_fn(|| conn.poll_event()).collect()
}

/// connection_server, crash-e740ccd3: a ping answered while the queue was
/// full leaves a deferred pong; after `handle_eof` the next
/// `consume_output` queued it, so bytes appeared for a transport that was
/// gone and `should_close_transport` stayed false.
#[test]
fn no_deferred_pong_after_eof() {
    let mut conn = Connection::server(Config {
        max_send_queue: 4,
        ..Config::default()
    });
    conn.send_binary(b"fills the queue").unwrap();
    conn.feed(&client_frame(OpCode::Ping, b"p"));
    assert!(matches!(drain(&mut conn)[..], [Event::Ping(_)]));
    conn.handle_eof();
    assert_eq!(drain(&mut conn), [Event::Error(Error::AbnormalClosure)]);
    conn.consume_output(0);
    assert_eq!(conn.pending_output(), b"");
    assert!(conn.should_close_transport());
}

/// connection_client, crash-7c16e7a7: with a keep-alive interval and no
/// pong timeout, every tick queued another ping behind a full queue, so a
/// peer that never reads grew our memory without bound.
#[test]
fn keepalive_pings_do_not_pile_up_behind_a_full_queue() {
    let mut conn = Connection::client(
        Config {
            max_send_queue: 8,
            keep_alive_interval: Some(Duration::from_millis(1)),
            ..Config::default()
        },
        [9; 32],
    );
    conn.handle_timeout(Duration::ZERO);
    conn.send_binary(&[0; 32]).unwrap();
    let queued = conn.pending_output().len();
    for ms in 1..=1000 {
        conn.handle_timeout(Duration::from_millis(ms));
    }
    assert_eq!(conn.pending_output().len(), queued);
    assert_eq!(conn.state(), State::Open);
    // Once the peer reads, keep-alive resumes.
    conn.consume_output(queued);
    conn.handle_timeout(Duration::from_millis(1001));
    assert_eq!(conn.pending_output()[0], 0x89, "a ping");
}

/// The same, with a pong timeout: the first ping still goes out over the
/// limit, because its deadline is what detects the peer that stopped
/// reading; later ones do not.
#[test]
fn keepalive_over_a_full_queue_still_detects_a_dead_peer() {
    let mut conn = Connection::client(
        Config {
            max_send_queue: 8,
            keep_alive_interval: Some(Duration::from_millis(10)),
            keep_alive_timeout: Some(Duration::from_millis(100)),
            ..Config::default()
        },
        [9; 32],
    );
    conn.handle_timeout(Duration::ZERO);
    conn.send_binary(&[0; 32]).unwrap();
    let queued = conn.pending_output().len();
    for ms in 1..100 {
        conn.handle_timeout(Duration::from_millis(ms));
    }
    // One masked ping: 2 + 4 + 8 bytes.
    assert_eq!(conn.pending_output().len(), queued + 14);
    assert_eq!(drain(&mut conn), []);
    conn.handle_timeout(Duration::from_millis(110));
    assert_eq!(drain(&mut conn), [Event::Error(Error::KeepAliveTimeout)]);
    assert_eq!(conn.state(), State::Closed);
}

/// connection_server, corpus replay after the pong invariant was added: with
/// `max_send_queue: 0` the queue counted as full even when empty, so a ping
/// was never answered (the pong stayed deferred for ever) and no message
/// could be sent. The limit is "more than this many bytes waiting".
#[test]
fn zero_send_queue_still_answers_pings_and_sends() {
    let mut conn = Connection::server(Config {
        max_send_queue: 0,
        ..Config::default()
    });
    conn.feed(&client_frame(OpCode::Ping, b""));
    assert!(matches!(drain(&mut conn)[..], [Event::Ping(_)]));
    assert_eq!(conn.pending_output(), [0x8A, 0x00]);
    assert_eq!(
        conn.send_text("x"),
        Err(ws_proto::connection::SendError::QueueFull)
    );
    conn.consume_output(2);
    conn.send_text("x").unwrap();
    assert_eq!(conn.pending_output(), [0x81, 0x01, b'x']);
}

/// Found reading the keep-alive code while updating the fuzz bounds: a
/// keep-alive ping may go over the queue limit to arm the pong deadline,
/// and ping ids count up from 1, so a peer that never reads could answer
/// every ping it never received and make each tick queue another ping past
/// the limit, without bound. Only one such ping may wait unwritten.
#[test]
fn forged_pongs_do_not_let_keep_alive_pings_pile_up() {
    let mut conn = Connection::server(Config {
        max_send_queue: 8,
        keep_alive_interval: Some(Duration::from_millis(1)),
        keep_alive_timeout: Some(Duration::from_millis(100)),
        ..Config::default()
    });
    conn.handle_timeout(Duration::ZERO);
    conn.send_binary(&[0; 32]).unwrap(); // the peer never reads this
    let queued = conn.output_len();
    let mut events = Vec::new();
    for id in 1..=1000u64 {
        conn.handle_timeout(Duration::from_millis(id));
        conn.feed(&client_frame(OpCode::Pong, &id.to_be_bytes()));
        events.extend(drain(&mut conn));
    }
    // At most one keep-alive ping (10 bytes) and the 1011 close frame.
    assert!(
        conn.output_len() <= queued + 10 + 2 + 125,
        "{} bytes queued",
        conn.output_len()
    );
    assert!(events.contains(&Event::Error(Error::KeepAliveTimeout)));
}
