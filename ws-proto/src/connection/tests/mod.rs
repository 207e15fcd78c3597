//! The connection's tests, grouped by the RFC 6455 section they check, with
//! the bytes on the wire written out literally where they are short (as
//! python-websockets' test suite does). A masked frame with the key
//! `00 00 00 00` carries its payload in clear, so it stays readable.
//!
//! - `framing`: §5.2 base framing, §5.3 masking, §5.7 examples
//! - `rfc5_4`: fragmentation, and streaming in and out
//! - `rfc5_5`: control frames (ping, pong)
//! - `rfc7`: closing the connection, EOF and the close timeout
//! - `rfc8_1`: UTF-8 in text messages
//! - `limits`: frame, message and queue limits, memory held
//! - `keep_alive`: keep-alive pings and their deadline
//! - `props`: property tests over arbitrary streams
//!
//! Tests of two ends talking use [`Pair`](crate::testing::Pair), the same
//! wired pair with virtual time that the fuzz targets drive.

use super::*;
use crate::mask::apply_mask;
use crate::testing::{Delivery, End, Pair};
use alloc::vec::Vec;

mod framing;
mod keep_alive;
mod limits;
mod props;
mod rfc5_4;
mod rfc5_5;
mod rfc7;
mod rfc8_1;

/// Encodes one frame as a client would send it (masked) or a server (not),
/// for payloads too long or too computed to write out.
fn frame(opcode: u8, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let op = OpCode::from_u8(opcode).expect("test uses valid opcodes");
    let mut h = FrameHeader::new(op, fin, payload.len() as u64);
    h.mask = mask;
    let mut buf = [0u8; crate::frame::MAX_HEADER_LEN];
    let n = h.encode(&mut buf);
    let mut out = buf[..n].to_vec();
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

/// The masking key of the RFC's examples (§5.7).
const KEY: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

/// A frame header written out, then its payload in clear.
fn bytes(head: &[u8], payload: &[u8]) -> Vec<u8> {
    [head, payload].concat()
}

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
