//! The data path allocates nothing per message once warm (issue 8): a
//! counting global allocator, in its own test binary, counts every
//! allocation made by the thread that runs each test.
//!
//! "Warm" means the connection has already handled a few messages of the
//! same size, so its buffers have reached their working capacity.
#![cfg(feature = "alloc")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use ws_proto::connection::{Config, Connection, Event, Message};
use ws_proto::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use ws_proto::mask::apply_mask;

thread_local! {
    // Per thread, so that tests running in parallel do not see each other's
    // allocations. A `const` initializer with no destructor: reading it
    // never allocates.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: every call is forwarded unchanged to `System`; only a
// thread-local counter is updated on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn count() {
    // `try_with`: the thread-local may already be gone while a thread exits.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Messages handled before counting, and messages counted.
const WARM: usize = 64;
const COUNTED: usize = 1000;

/// Runs `step` `WARM` times, then `COUNTED` times, and returns the
/// allocations made by the counted steps.
fn allocations_once_warm(mut step: impl FnMut()) -> u64 {
    for _ in 0..WARM {
        step();
    }
    let before = allocations();
    for _ in 0..COUNTED {
        step();
    }
    allocations() - before
}

/// The counter sees this thread's allocations, so a zero below means none
/// happened (and not a counter that never counts).
#[test]
fn the_counter_counts() {
    let before = allocations();
    let boxed = std::hint::black_box(Box::new([0u8; 64]));
    assert_eq!(allocations() - before, 1);
    drop(boxed);
    // Holding received messages keeps the receive buffer shared, so it must
    // be replaced: the zero of the receive test depends on dropping them.
    let wire = client_stream(OpCode::Binary, &[1; 1024], 64);
    let mut conn = Connection::server(Config::default());
    let mut held = Vec::with_capacity(64);
    let before = allocations();
    for chunk in wire.chunks(4096) {
        conn.feed(chunk);
        held.extend(std::iter::from_fn(|| conn.poll_event()));
    }
    assert_eq!(held.len(), 64);
    assert!(allocations() > before);
}

/// Writes everything `conn` has queued into `sink` (cleared first, its
/// capacity kept), as one vectored write would, and marks it written.
fn take_output(conn: &mut Connection, sink: &mut Vec<u8>) {
    sink.clear();
    while conn.output_len() > 0 {
        let mut runs: [&[u8]; 8] = [&[]; 8];
        let n = conn.output_chunks(&mut runs);
        let mut written = 0;
        for run in &runs[..n] {
            sink.extend_from_slice(run);
            written += run.len();
        }
        conn.consume_output(written);
    }
}

const SIZES: [usize; 3] = [16, 1024, 64 * 1024];

fn text_of(len: usize) -> String {
    "héllo wörld ".chars().cycle().take(len).collect::<String>()
}

#[test]
fn server_send_text_and_binary_allocate_nothing_per_message() {
    for len in SIZES {
        let text = text_of(len);
        let data = vec![0xA5u8; len];
        let mut sink = Vec::with_capacity(2 * len + 64);

        let mut conn = Connection::server(Config::default());
        let n = allocations_once_warm(|| {
            conn.send_text(&text).unwrap();
            take_output(&mut conn, &mut sink);
            assert_eq!(sink.len(), text.len() + header_len(text.len()));
        });
        assert_eq!(
            n, 0,
            "send_text of {len} bytes: {n} allocations in {COUNTED} messages"
        );

        let mut conn = Connection::server(Config::default());
        let n = allocations_once_warm(|| {
            conn.send_binary(&data).unwrap();
            take_output(&mut conn, &mut sink);
            assert_eq!(sink.len(), len + header_len(len));
        });
        assert_eq!(
            n, 0,
            "send_binary of {len} bytes: {n} allocations in {COUNTED} messages"
        );
    }
}

#[test]
fn server_send_of_a_shared_message_allocates_nothing_per_message() {
    for len in SIZES {
        let messages = [
            Message::Text(text_of(len).into()),
            Message::Binary(Bytes::from(vec![0x5Au8; len])),
        ];
        for message in &messages {
            let mut sink = Vec::with_capacity(2 * len + 64);
            let mut conn = Connection::server(Config::default());
            let n = allocations_once_warm(|| {
                conn.send(message).unwrap();
                take_output(&mut conn, &mut sink);
                assert_eq!(&sink[header_len(len)..], message.as_bytes());
            });
            assert_eq!(
                n,
                0,
                "send(&Message::{:?}) of {len} bytes: {n} allocations in {COUNTED} messages",
                message.kind()
            );
        }
    }
}

/// Header bytes of an unmasked frame of `len` payload bytes.
fn header_len(len: usize) -> usize {
    FrameHeader::new(OpCode::Binary, true, len as u64).encoded_len()
}

/// `count` masked single-frame messages of `len` bytes, as a client sends
/// them.
fn client_stream(opcode: OpCode, payload: &[u8], count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..count {
        let key = (i as u32).wrapping_mul(0x9E37_79B9).to_be_bytes();
        let mut h = FrameHeader::new(opcode, true, payload.len() as u64);
        h.mask = Some(key);
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut head);
        out.extend_from_slice(&head[..n]);
        let start = out.len();
        out.extend_from_slice(payload);
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

#[test]
fn server_receive_in_place_allocates_nothing_per_message() {
    for len in [16, 1024] {
        let text = text_of(len);
        let cases = [
            (OpCode::Text, text.as_bytes()),
            (OpCode::Binary, &[0x3Cu8; 1024][..len]),
        ];
        for (opcode, payload) in cases {
            let wire = client_stream(opcode, payload, WARM + COUNTED);
            let mut conn = Connection::server(Config::default());
            let mut offset = 0;
            let mut received = 0;
            let mut warm_allocations = None;
            // Reads of at most 4 KiB from a socket that holds the whole
            // stream, straight into the connection's buffer.
            while offset < wire.len() {
                let buf = conn.recv_buffer(1024);
                let n = buf.len().min(4096).min(wire.len() - offset);
                buf[..n].copy_from_slice(&wire[offset..offset + n]);
                conn.commit(n);
                offset += n;
                while let Some(event) = conn.poll_event() {
                    let Event::Message(message) = event else {
                        panic!("unexpected {event:?}");
                    };
                    assert_eq!(message.as_bytes(), payload);
                    drop(message); // promptly, as the test's premise says
                    received += 1;
                    if received == WARM {
                        warm_allocations = Some(allocations());
                    }
                }
            }
            assert_eq!(received, WARM + COUNTED);
            let n = allocations() - warm_allocations.expect("warmed up");
            assert_eq!(
                n, 0,
                "receiving {opcode:?} messages of {len} bytes: {n} allocations in {COUNTED} messages"
            );
        }
    }
}
