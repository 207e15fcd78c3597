//! The send side: frames queued as segments, ready for one vectored write.
//!
//! Output is a queue of [`Bytes`] segments followed by a `tail` being
//! filled. Frame headers, small payloads and (for a client) masked copies of
//! payloads are appended to the tail; a large payload that a server sends
//! from a [`Bytes`] is queued as its own segment, so it is never copied: the
//! tail is cut off as a segment before it, and the driver writes header and
//! payload with one vectored write. Once written, segments are dropped and
//! the tail's memory is reclaimed in place, so a warm connection sends
//! without allocating.

use alloc::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::mask::{apply_mask, MaskKeys};

/// Payloads at least this long are queued by reference; shorter ones are
/// copied next to their header, where one more iovec would cost more than
/// the copy.
const SHARE_THRESHOLD: usize = 512;

/// Bytes waiting to be written, in order: every segment, then the tail.
#[derive(Debug, Default)]
pub(super) struct OutQueue {
    segments: VecDeque<Bytes>,
    tail: BytesMut,
    len: usize,
    /// Bytes ever queued and ever written (or dropped): positions in the
    /// output stream, to tell whether a given frame has gone out yet.
    queued: u64,
    written: u64,
}

impl OutQueue {
    /// Total bytes pending.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Stream position just after the last byte queued so far.
    pub(super) fn queued(&self) -> u64 {
        self.queued
    }

    /// Stream position just after the last byte written (or dropped).
    pub(super) fn written(&self) -> u64 {
        self.written
    }

    /// Memory held, in bytes (pending segments and the tail's capacity).
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.segments.iter().map(Bytes::len).sum::<usize>() + self.tail.capacity()
    }

    /// The first contiguous run of pending bytes (empty when nothing is).
    pub(super) fn front(&self) -> &[u8] {
        match self.segments.front() {
            Some(segment) => segment,
            None => &self.tail,
        }
    }

    /// Fills `out` with the pending runs, in order; returns how many.
    pub(super) fn chunks<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
        let runs = self
            .segments
            .iter()
            .map(|s| &s[..])
            .chain((!self.tail.is_empty()).then_some(&self.tail[..]));
        let mut n = 0;
        for (slot, run) in out.iter_mut().zip(runs) {
            *slot = run;
            n += 1;
        }
        n
    }

    /// Marks `n` bytes as written (more than pending counts as all).
    pub(super) fn consume(&mut self, mut n: usize) {
        n = n.min(self.len);
        self.len -= n;
        self.written += n as u64;
        while n > 0 {
            match self.segments.front_mut() {
                Some(segment) if n >= segment.len() => {
                    n -= segment.len();
                    self.segments.pop_front();
                }
                Some(segment) => {
                    segment.advance(n);
                    return;
                }
                None => {
                    self.tail.advance(n);
                    break;
                }
            }
        }
        if self.tail.is_empty() {
            // Lets the next append reuse the allocation from its start.
            self.tail.clear();
        }
    }

    /// Drops everything pending (the transport is gone).
    pub(super) fn clear(&mut self) {
        self.segments.clear();
        self.tail.clear();
        self.written += self.len as u64;
        self.len = 0;
    }

    /// Queues one frame. A client masks into its own copy: the caller's
    /// bytes are never touched. A server queues a shared `payload` of any
    /// real size without copying it.
    pub(super) fn push_frame(
        &mut self,
        mut header: FrameHeader,
        payload: Payload<'_>,
        keys: Option<&mut MaskKeys>,
    ) {
        let len = payload.len();
        header.payload_len = len as u64;
        header.mask = keys.map(MaskKeys::next_key);
        let mut head = [0u8; MAX_HEADER_LEN];
        let head_len = header.encode(&mut head);
        self.len += head_len + len;
        self.queued += (head_len + len) as u64;
        match payload {
            Payload::Shared(shared) if header.mask.is_none() && len >= SHARE_THRESHOLD => {
                self.tail.extend_from_slice(&head[..head_len]);
                self.segments.push_back(self.tail.split().freeze());
                self.segments.push_back(shared);
            }
            payload => {
                self.tail.reserve(head_len + len);
                self.tail.extend_from_slice(&head[..head_len]);
                let start = self.tail.len();
                self.tail.extend_from_slice(payload.as_slice());
                if let Some(key) = header.mask {
                    apply_mask(&mut self.tail[start..], key, 0);
                }
            }
        }
    }
}

/// A payload to frame: borrowed (copied into the queue) or shared (queued
/// by reference where that pays).
#[derive(Debug)]
pub(super) enum Payload<'a> {
    Borrowed(&'a [u8]),
    Shared(Bytes),
}

impl Payload<'_> {
    pub(super) fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Borrowed(b) => b,
            Payload::Shared(b) => b,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// The part `range` of the payload, still shared if it was.
    pub(super) fn slice(&self, range: core::ops::Range<usize>) -> Payload<'_> {
        match self {
            Payload::Borrowed(b) => Payload::Borrowed(&b[range]),
            Payload::Shared(b) => Payload::Shared(b.slice(range)),
        }
    }
}

/// Bytes a message of `len` payload bytes takes on the wire when cut into
/// frames of at most `fragment` bytes (for the queue limit, computed before
/// anything is queued).
pub(super) fn wire_len(len: usize, fragment: usize, masked: bool) -> usize {
    let header = |n: usize| {
        FrameHeader {
            mask: masked.then_some([0; 4]),
            ..FrameHeader::new(OpCode::Binary, true, n as u64)
        }
        .encoded_len()
    };
    if len <= fragment {
        return header(len) + len;
    }
    let frames = len / fragment + usize::from(len % fragment != 0);
    let full = frames - 1;
    let last = len - full * fragment;
    full.saturating_mul(header(fragment) + fragment)
        .saturating_add(header(last) + last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn drain(q: &mut OutQueue) -> Vec<u8> {
        let mut all = Vec::new();
        while !q.front().is_empty() {
            let run = q.front().to_vec();
            q.consume(run.len());
            all.extend_from_slice(&run);
        }
        assert_eq!(q.len(), 0);
        all
    }

    #[test]
    fn a_large_shared_payload_is_queued_by_reference() {
        let mut q = OutQueue::default();
        let payload = Bytes::from(alloc::vec![7u8; 4096]);
        q.push_frame(
            FrameHeader::new(OpCode::Binary, true, 0),
            Payload::Shared(payload.clone()),
            None,
        );
        let mut runs = [&[][..]; 4];
        assert_eq!(q.chunks(&mut runs), 2);
        assert_eq!(runs[0], &[0x82, 0x7E, 0x10, 0x00]);
        assert_eq!(runs[1].as_ptr(), payload.as_ptr(), "not copied");
        assert_eq!(q.len(), 4 + 4096);
    }

    #[test]
    fn partial_consumption_crosses_segments_in_order() {
        let mut q = OutQueue::default();
        let big = Bytes::from((0..1000u32).map(|i| i as u8).collect::<Vec<_>>());
        q.push_frame(
            FrameHeader::new(OpCode::Text, true, 0),
            Payload::Borrowed(b"ab"),
            None,
        );
        q.push_frame(
            FrameHeader::new(OpCode::Binary, true, 0),
            Payload::Shared(big.clone()),
            None,
        );
        q.push_frame(
            FrameHeader::new(OpCode::Ping, true, 0),
            Payload::Borrowed(b""),
            None,
        );
        let mut expected = alloc::vec![0x81, 2, b'a', b'b', 0x82, 0x7E, 0x03, 0xE8];
        expected.extend_from_slice(&big);
        expected.extend_from_slice(&[0x89, 0]);
        // Consume in odd steps through the first run.
        q.consume(3);
        let rest = drain(&mut q);
        assert_eq!(rest, expected[3..]);
    }

    #[test]
    fn wire_len_matches_encoding() {
        for (len, frag, masked) in [
            (0, 10, false),
            (5, 10, true),
            (125, 125, false),
            (126, 125, false),
            (70_000, 65_536, true),
            (70_000, usize::MAX, false),
        ] {
            let mut q = OutQueue::default();
            let data = alloc::vec![0u8; len];
            let mut keys = MaskKeys::new([1; 32]);
            let mut start = 0;
            loop {
                let end = start + (len - start).min(frag);
                let keys = masked.then_some(&mut keys);
                q.push_frame(
                    FrameHeader::new(OpCode::Binary, end == len, 0),
                    Payload::Borrowed(&data[start..end]),
                    keys,
                );
                start = end;
                if start == len {
                    break;
                }
            }
            assert_eq!(
                q.len(),
                wire_len(len, frag, masked),
                "{len} {frag} {masked}"
            );
        }
    }
}
