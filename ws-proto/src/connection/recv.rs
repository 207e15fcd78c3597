//! The receive side: one buffer the driver reads into, frames decoded and
//! unmasked in place, messages delivered as slices of that buffer.
//!
//! The pipeline, per frame: **header** (decode, check against the role, the
//! limits and the extensions' RSV bits) → **unmask** (in place) →
//! **extension** (a compressed message is inflated into the reassembly
//! buffer) → **UTF-8** (incremental: fails on the first bad byte, even
//! mid-frame) → **deliver**.
//!
//! Delivery avoids copies where the bytes allow it:
//! - a message that is one frame (the common case) stays where it was read
//!   and is split off the buffer as [`Bytes`] once complete;
//! - control payloads and streamed chunks are split off the same way;
//! - only a fragmented (or compressed) message is copied, into a
//!   reassembly buffer whose memory is reused from message to message.

use bytes::{Buf, Bytes, BytesMut};

use super::extension::Extensions;
use super::{Error, Message, MessageKind, Utf8Bytes};
use crate::frame::{FrameError, FrameHeader, FrameRules, OpCode, RSV1};
use crate::mask::apply_mask;
use crate::utf8::Utf8Validator;
use crate::Role;

/// A single-frame message up to this size is assembled in place in the
/// receive buffer. A larger one is moved to the reassembly buffer as it
/// arrives, so the receive buffer itself stays small.
pub(super) const IN_PLACE_MAX: usize = 256 << 10;

/// Receive buffer growth kept between messages.
const KEEP_GROWN: usize = 64 << 10;

/// What the receive side produced.
#[derive(Debug)]
pub(super) enum Received {
    Message(Message),
    Chunk {
        kind: MessageKind,
        data: Bytes,
        fin: bool,
    },
    Control(OpCode, Bytes),
}

/// The limits and switches the receive side applies.
#[derive(Debug, Clone, Copy)]
pub(super) struct RecvRules {
    pub role: Role,
    pub max_frame_size: usize,
    pub max_message_size: usize,
    pub stream: bool,
}

#[derive(Debug, Clone, Copy)]
enum Frame {
    /// Waiting for a header at the front of the buffer.
    Header,
    /// Inside a data frame: `done` of its payload bytes are processed; when
    /// `in_place`, they are still at the front of the buffer.
    Data {
        header: FrameHeader,
        done: u64,
        in_place: bool,
    },
}

#[derive(Debug, Clone, Copy)]
struct InProgress {
    kind: MessageKind,
    /// Payload bytes received so far (compressed bytes when compressed).
    wire_len: u64,
    compressed: bool,
}

#[derive(Debug)]
pub(super) struct Receiver {
    /// `buf[..filled]` is received input not yet consumed, starting at the
    /// parse position; `buf[filled..]` is zeroed space lent to the driver.
    buf: BytesMut,
    filled: usize,
    initial: usize,
    /// The buffer grew past its initial size for a large frame.
    grown: bool,
    frame: Frame,
    message: Option<InProgress>,
    reassembly: BytesMut,
    utf8: Utf8Validator,
    eof: bool,
}

enum Step {
    Got(Received),
    Continue,
    NeedInput,
}

impl Receiver {
    pub(super) fn new(initial: usize) -> Self {
        Receiver {
            buf: BytesMut::new(),
            filled: 0,
            initial: initial.max(64),
            grown: false,
            frame: Frame::Header,
            message: None,
            reassembly: BytesMut::new(),
            utf8: Utf8Validator::new(),
            eof: false,
        }
    }

    pub(super) fn eof(&self) -> bool {
        self.eof
    }

    pub(super) fn set_eof(&mut self) {
        self.eof = true;
    }

    /// Memory held by the receive side, in bytes (capacity, not length).
    pub(super) fn capacity(&self) -> usize {
        self.buf.capacity() + self.reassembly.capacity()
    }

    /// At least `min_len` bytes of zeroed space after the pending input.
    pub(super) fn spare(&mut self, min_len: usize) -> &mut [u8] {
        let want = min_len.max(1);
        if self.buf.len() - self.filled < want {
            self.buf.truncate(self.filled);
            let target = self.initial.max(self.filled + want);
            // BytesMut reuses the allocation when every message split off it
            // has been dropped, and grows it geometrically otherwise.
            self.buf.reserve(target - self.filled);
            // Up to 64 KiB is kept for the next large message (giving it
            // back after every 16 KiB message cost an allocation and a
            // refill per message); more is released once the frame is out.
            if self.buf.capacity() > (2 * self.initial).max(KEEP_GROWN) {
                self.grown = true;
            }
            // Zeroing is the price of lending `&mut [u8]` without `unsafe`:
            // paid once per refill of the buffer, not per read.
            let cap = self.buf.capacity();
            self.buf.resize(cap, 0);
        }
        &mut self.buf[self.filled..]
    }

    /// The driver wrote `n` bytes into the space from [`spare`](Self::spare).
    pub(super) fn commit(&mut self, n: usize) {
        self.filled += n.min(self.buf.len() - self.filled);
    }

    pub(super) fn feed(&mut self, data: &[u8]) {
        self.spare(data.len())[..data.len()].copy_from_slice(data);
        self.commit(data.len());
    }

    /// Processes input until something is produced or more input is needed.
    pub(super) fn poll(
        &mut self,
        rules: &RecvRules,
        ext: &mut Extensions,
    ) -> Result<Option<Received>, Error> {
        loop {
            let step = match self.frame {
                Frame::Header => self.read_header(rules, ext)?,
                Frame::Data {
                    header,
                    done,
                    in_place,
                } => self.read_data(rules, ext, header, done, in_place)?,
            };
            match step {
                Step::Got(received) => return Ok(Some(received)),
                Step::Continue => {}
                Step::NeedInput => {
                    self.release_growth();
                    return Ok(None);
                }
            }
        }
    }

    fn consume(&mut self, n: usize) {
        self.buf.advance(n);
        self.filled -= n;
    }

    fn split(&mut self, n: usize) -> Bytes {
        self.filled -= n;
        self.buf.split_to(n).freeze()
    }

    /// Stage 1: the header, checked against the connection's rules.
    fn read_header(&mut self, rules: &RecvRules, ext: &mut Extensions) -> Result<Step, Error> {
        let Some((header, header_len)) =
            FrameHeader::decode(&self.buf[..self.filled]).map_err(Error::Frame)?
        else {
            return Ok(Step::NeedInput);
        };
        // RSV bits belong to the extensions, and only on the first frame of
        // a data message (RFC 7692 §6.1); never on control or continuation
        // frames.
        let starts_message = matches!(header.opcode, OpCode::Text | OpCode::Binary);
        let allowed_rsv = if starts_message { ext.data_rsv() } else { 0 };
        header
            .check(&FrameRules {
                role: rules.role,
                allowed_rsv,
                max_payload: rules.max_frame_size as u64,
            })
            .map_err(Error::Frame)?;
        if header.opcode.is_control() {
            // Control frames (at most 125 bytes) are handled whole.
            let len = header.payload_len as usize;
            if self.filled < header_len + len {
                return Ok(Step::NeedInput);
            }
            self.consume(header_len);
            if let Some(key) = header.mask {
                apply_mask(&mut self.buf[..len], key, 0);
            }
            let payload = self.split(len);
            return Ok(Step::Got(Received::Control(header.opcode, payload)));
        }
        // Data frames: the fragmentation rules and the limits are checked
        // before a single payload byte is kept.
        let kind = match (header.opcode, self.message) {
            (OpCode::Continuation, Some(m)) => m.kind,
            (OpCode::Continuation, None) => return Err(Error::UnexpectedContinuation),
            (_, Some(_)) => return Err(Error::ExpectedContinuation),
            (OpCode::Text, None) => MessageKind::Text,
            (_, None) => MessageKind::Binary,
        };
        let so_far = self.message.map_or(0, |m| m.wire_len);
        let size = so_far.saturating_add(header.payload_len);
        if size > rules.max_message_size as u64 {
            return Err(Error::MessageTooBig {
                size,
                max: rules.max_message_size,
            });
        }
        let first = self.message.is_none();
        let len = header.payload_len as usize;
        if first
            && header.fin
            && !rules.stream
            && header.rsv & RSV1 == 0
            && len <= IN_PLACE_MAX
            && self.filled >= header_len + len
        {
            // The common case, a whole one-frame message already here:
            // unmask, check and split it off in one go.
            return self.whole_message(kind, header, header_len).map(Step::Got);
        }
        if first {
            self.message = Some(InProgress {
                kind,
                wire_len: 0,
                compressed: header.rsv & RSV1 != 0,
            });
            self.utf8.reset();
        }
        let compressed = self.message.is_some_and(|m| m.compressed);
        let in_place = first
            && header.fin
            && !rules.stream
            && !compressed
            && header.payload_len <= IN_PLACE_MAX as u64;
        self.consume(header_len);
        self.frame = Frame::Data {
            header,
            done: 0,
            in_place,
        };
        Ok(Step::Continue)
    }

    /// Stages 2 to 5 at once for an unfragmented, uncompressed message whose
    /// frame is complete in the buffer.
    fn whole_message(
        &mut self,
        kind: MessageKind,
        header: FrameHeader,
        header_len: usize,
    ) -> Result<Received, Error> {
        let total = header_len + header.payload_len as usize;
        let payload = &mut self.buf[header_len..total];
        if let Some(key) = header.mask {
            apply_mask(payload, key, 0);
        }
        if kind == MessageKind::Text {
            crate::utf8::validate(payload).map_err(|_| Error::InvalidUtf8)?;
        }
        let mut frame = self.split(total);
        frame.advance(header_len);
        Ok(Received::Message(match kind {
            MessageKind::Text => Message::Text(Utf8Bytes::from_validated(frame)),
            MessageKind::Binary => Message::Binary(frame),
        }))
    }

    /// Stages 2 to 5 for the payload bytes of a data frame that are here.
    fn read_data(
        &mut self,
        rules: &RecvRules,
        ext: &mut Extensions,
        header: FrameHeader,
        done: u64,
        in_place: bool,
    ) -> Result<Step, Error> {
        let Some(message) = self.message else {
            // Unreachable by construction: a data frame always has a message.
            return Err(Error::Frame(FrameError::ReservedOpcode(
                header.opcode.as_u8(),
            )));
        };
        let kept = if in_place { done as usize } else { 0 };
        let want = header.payload_len - done;
        let avail = (self.filled - kept) as u64;
        if avail == 0 && want > 0 {
            return Ok(Step::NeedInput);
        }
        let take = want.min(avail) as usize;
        let frame_complete = take as u64 == want;
        let message_complete = frame_complete && header.fin;
        // Stage 2: unmask in place, continuing the key where the last run of
        // this frame stopped.
        let run = &mut self.buf[kept..kept + take];
        if let Some(key) = header.mask {
            apply_mask(run, key, (done & 3) as usize);
        }
        if let Some(m) = self.message.as_mut() {
            m.wire_len += take as u64;
        }
        let received = if message.compressed {
            // Stage 3: the extension inflates into the reassembly buffer,
            // counting inflated bytes against the message limit as it goes.
            let start = self.reassembly.len();
            ext.decode(
                &self.buf[..take],
                message_complete,
                &mut self.reassembly,
                rules.max_message_size,
            )?;
            // Stage 4 on what the extension produced.
            if message.kind == MessageKind::Text {
                self.utf8
                    .feed(&self.reassembly[start..])
                    .map_err(|_| Error::InvalidUtf8)?;
            }
            self.consume(take);
            if rules.stream {
                let data = self.reassembly.split().freeze();
                (!data.is_empty() || message_complete).then_some(Received::Chunk {
                    kind: message.kind,
                    data,
                    fin: message_complete,
                })
            } else {
                None
            }
        } else {
            // Stage 4: UTF-8, failing on the first bad byte even mid-frame.
            if message.kind == MessageKind::Text {
                self.utf8.feed(run).map_err(|_| Error::InvalidUtf8)?;
            }
            if rules.stream {
                let data = self.split(take);
                (take > 0 || message_complete).then_some(Received::Chunk {
                    kind: message.kind,
                    data,
                    fin: message_complete,
                })
            } else if !in_place {
                self.reassembly.extend_from_slice(&self.buf[..take]);
                self.consume(take);
                None
            } else {
                None
            }
        };
        if message_complete && message.kind == MessageKind::Text {
            self.utf8.finish().map_err(|_| Error::InvalidUtf8)?;
        }
        // Stage 5: deliver.
        let received = match received {
            Some(chunk) => Some(chunk),
            None if message_complete && !rules.stream => {
                let payload = if in_place {
                    self.split(kept + take)
                } else {
                    self.take_reassembled()
                };
                Some(Received::Message(match message.kind {
                    MessageKind::Text => Message::Text(Utf8Bytes::from_validated(payload)),
                    MessageKind::Binary => Message::Binary(payload),
                }))
            }
            None => None,
        };
        self.frame = if frame_complete {
            Frame::Header
        } else {
            Frame::Data {
                header,
                done: done + take as u64,
                in_place,
            }
        };
        if message_complete {
            self.message = None;
        }
        Ok(received.map_or(Step::Continue, Step::Got))
    }

    fn take_reassembled(&mut self) -> Bytes {
        let payload = self.reassembly.split().freeze();
        if payload.len() > self.initial.max(64 << 10) {
            // Let go of a large allocation with the message instead of
            // keeping it for the next one.
            self.reassembly = BytesMut::new();
        }
        payload
    }

    /// After a large frame made the buffer grow, move what is left to a
    /// buffer of the initial size, so that an idle connection does not keep
    /// the peak.
    fn release_growth(&mut self) {
        let in_large_frame = matches!(self.frame, Frame::Data { in_place: true, header, .. }
            if header.payload_len as usize > self.initial);
        if self.grown && !in_large_frame && self.filled <= self.initial / 2 {
            let mut fresh = BytesMut::with_capacity(self.initial);
            fresh.extend_from_slice(&self.buf[..self.filled]);
            self.buf = fresh;
            self.grown = false;
        }
    }
}
