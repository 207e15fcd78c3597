//! Keep-alive: pings every `keep_alive_interval`, and a 1011 failure when
//! one is not answered within `keep_alive_timeout`.

use super::*;
use alloc::vec;

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
    // The first keep-alive ping carries the counter 1.
    assert_eq!(s.pending_output(), &[0x89, 0x08, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(s.poll_timeout(), Some(Duration::from_secs(113)));
    // An unrelated pong does not count; the matching one does.
    s.feed(&bytes(&[0x8A, 0x85, 0, 0, 0, 0], b"other"));
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

// Regressions from the review of the first version of the connection.

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
    // Pong with the counter 2.
    s.feed(&[0x8A, 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    assert_eq!(pings[1].2, [0, 0, 0, 0, 0, 0, 0, 2]);
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

#[test]
fn a_peer_that_answers_stays_connected_for_an_hour_of_virtual_time() {
    let keep_alive = Config {
        keep_alive_interval: Some(Duration::from_secs(20)),
        keep_alive_timeout: Some(Duration::from_secs(5)),
        ..Config::default()
    };
    let mut pair = Pair::new(keep_alive.clone(), keep_alive, [2; 32]);
    for _ in 0..180 {
        pair.advance(Duration::from_secs(20));
        // The pings cross, the pongs come back, within the timeout.
        pair.deliver(End::Client, usize::MAX, Delivery::Lend);
        pair.deliver(End::Server, usize::MAX, Delivery::Vectored);
        pair.deliver(End::Client, usize::MAX, Delivery::Feed);
        pair.advance(Duration::ZERO);
    }
    assert_eq!(pair.now(), Duration::from_secs(3600));
    assert!(pair.errors(End::Client).is_empty());
    assert!(pair.errors(End::Server).is_empty());
    assert_eq!(pair.connection(End::Server).state(), State::Open);
    pair.finish();
}

#[test]
fn a_peer_that_stops_reading_is_failed_after_the_timeout() {
    let server = Config {
        keep_alive_interval: Some(Duration::from_secs(20)),
        keep_alive_timeout: Some(Duration::from_secs(5)),
        max_send_queue: 64,
        ..Config::default()
    };
    let mut pair = Pair::new(Config::default(), server, [2; 32]);
    // The queue is full and the client never reads.
    pair.send(End::Server, MessageKind::Binary, &[0; 100], false)
        .unwrap();
    pair.advance(Duration::from_secs(20));
    pair.advance(Duration::from_secs(4));
    assert!(pair.errors(End::Server).is_empty());
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.errors(End::Server), &[Error::KeepAliveTimeout]);
    assert!(pair.connection(End::Server).should_close_transport());
    pair.finish();
}
