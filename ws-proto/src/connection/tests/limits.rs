//! The limits a peer cannot exceed (§10.4): frame and message sizes fail
//! with 1009 before anything is buffered, the send queue is bounded, and
//! the memory a connection holds stays small.

use super::*;
use crate::frame::FrameError;
use alloc::vec;

#[test]
fn frame_and_message_limits_fail_with_1009_before_buffering() {
    let config = Config {
        max_frame_size: 100,
        max_message_size: 150,
        ..Config::default()
    };
    let mut s = Connection::server(config.clone());
    // Only the header of a 101-byte frame arrives: the error comes before
    // any payload.
    s.feed(&[0x82, 0xE5, 0x37, 0xfa, 0x21, 0x3d]);
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
    // A 16 MiB binary frame's header (64-bit length form), then 10 bytes.
    s.feed(&[
        0x82, 0xFF, 0, 0, 0, 0, 0x01, 0, 0, 0, 0x37, 0xfa, 0x21, 0x3d,
    ]);
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
    s.feed(&[0x02, 0x80, 0x37, 0xfa, 0x21, 0x3d]);
    let empty = [0x00, 0x80, 0x37, 0xfa, 0x21, 0x3d];
    for _ in 0..10_000 {
        s.feed(&empty);
        assert_eq!(s.poll_event(), None);
    }
    assert!(
        s.recv.capacity() <= 16 << 10,
        "zero-byte fragments pin nothing; consumed input is released: {}",
        s.recv.capacity()
    );
    s.feed(&bytes(&[0x80, 0x83, 0, 0, 0, 0], b"end"));
    assert_eq!(
        events(&mut s),
        vec![Event::Message(Message::Binary(Bytes::from_static(b"end")))]
    );
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
fn the_send_queue_is_a_true_bound_and_an_empty_queue_takes_any_message() {
    let mut s = Connection::server(Config {
        max_send_queue: 10,
        ..Config::default()
    });
    s.send_binary(&[0; 100]).unwrap(); // larger than the limit: empty queue
    assert_eq!(s.output_len(), 102);
    assert_eq!(s.send_binary(b""), Err(SendError::QueueFull));
    s.consume_output(102);
    s.send_binary(&[0; 4]).unwrap(); // 6 bytes
    s.send_binary(&[0; 2]).unwrap(); // 4 more: exactly 10
    assert_eq!(s.send_binary(b""), Err(SendError::QueueFull), "would be 12");
    assert_eq!(s.output_len(), 10, "nothing was queued by the refusal");
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
