//! Receiving side: a compressed payload in, as it arrives, the message out,
//! never more of it than the caller's budget allows (RFC 7692 §7.2.2, §8.1).

use core::fmt;

use bytes::BytesMut;

use super::compress::SYNC_MARKER;
use super::config::{Config, ConfigError};
use super::engine::Inflater;

/// Output room offered per backend call: small messages do not pay for
/// zero-filling a large buffer, large ones quickly reach the largest step.
const MIN_STEP: usize = 256;
const MAX_STEP: usize = 64 * 1024;

/// Decompresses the messages of one direction of a connection.
///
/// Feed each frame's payload as it arrives with [`feed`], then call
/// [`finish`] at the end of the message. Both take a `budget`: how many more
/// bytes this message may still inflate to (`max_message_size` minus what
/// it already produced). Inflation stops with [`DecompressError::TooLarge`]
/// as soon as the output would pass it, so a small input that inflates to
/// gigabytes costs at most the budget plus one byte of output.
///
/// The backend state is allocated by the first byte fed.
///
/// [`feed`]: MessageDecompressor::feed
/// [`finish`]: MessageDecompressor::finish
///
/// ```
/// use bytes::BytesMut;
/// use ws_proto::deflate::{Config, DecompressError, MessageDecompressor};
///
/// let mut d = MessageDecompressor::new(Config::default()).unwrap();
/// let mut out = BytesMut::new();
/// // RFC 7692 §7.2.3.1, fed in two frames.
/// let max_message_size = 100;
/// d.feed(&[0xf2, 0x48, 0xcd], &mut out, max_message_size).unwrap();
/// d.feed(&[0xc9, 0xc9, 0x07, 0x00], &mut out, max_message_size - d.message_len()).unwrap();
/// d.finish(&mut out, max_message_size - d.message_len()).unwrap();
/// assert_eq!(&out[..], b"Hello");
///
/// // The same message against a budget of 4 bytes.
/// let mut d = MessageDecompressor::new(Config::default()).unwrap();
/// out.clear();
/// let err = d.decompress(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 4);
/// assert_eq!(err, Err(DecompressError::TooLarge));
/// ```
pub struct MessageDecompressor {
    config: Config,
    engine: Option<Inflater>,
    /// A deflate stream ended with a final block and nothing of the next
    /// one has been fed yet.
    after_final_block: bool,
    /// Bytes of the current message have been fed.
    open: bool,
    /// Bytes the current message has inflated to so far.
    message_len: usize,
    failed: bool,
}

impl fmt::Debug for MessageDecompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageDecompressor")
            .field("config", &self.config)
            .field("allocated", &self.engine.is_some())
            .field("open", &self.open)
            .field("failed", &self.failed)
            .finish()
    }
}

impl MessageDecompressor {
    /// Checks `config`; allocates nothing. `config.window_bits` is the
    /// window the peer was allowed; a stream that refers further back (up
    /// to 32 KiB) may still be accepted, see the module documentation.
    ///
    /// ```
    /// use ws_proto::deflate::{Config, MessageDecompressor};
    /// assert!(MessageDecompressor::new(Config::default().with_window_bits(8)).is_ok());
    /// ```
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(MessageDecompressor {
            config,
            engine: None,
            after_final_block: false,
            open: false,
            message_len: 0,
            failed: false,
        })
    }

    /// The settings this decompressor was built with.
    ///
    /// ```
    /// use ws_proto::deflate::{Config, MessageDecompressor};
    /// let d = MessageDecompressor::new(Config::default()).unwrap();
    /// assert_eq!(d.config().window_bits, 15);
    /// ```
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the backend state is allocated.
    ///
    /// ```
    /// use ws_proto::deflate::{Config, MessageDecompressor};
    /// assert!(!MessageDecompressor::new(Config::default()).unwrap().is_allocated());
    /// ```
    pub fn is_allocated(&self) -> bool {
        self.engine.is_some()
    }

    /// How many bytes the current message has inflated to so far (0 after
    /// [`finish`](Self::finish)): the part of `max_message_size` used up.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use ws_proto::deflate::{Config, MessageDecompressor};
    /// let mut d = MessageDecompressor::new(Config::default()).unwrap();
    /// let mut out = BytesMut::new();
    /// d.feed(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 64).unwrap();
    /// let so_far = d.message_len();
    /// assert_eq!(so_far, out.len());
    /// d.finish(&mut out, 64 - so_far).unwrap();
    /// assert_eq!(d.message_len(), 0);
    /// ```
    pub fn message_len(&self) -> usize {
        self.message_len
    }

    /// Inflates the next piece of the current message's compressed payload,
    /// appending to `out` at most `budget` bytes. Returns how many bytes
    /// were appended.
    ///
    /// On [`DecompressError::TooLarge`] what this call appended is removed
    /// and the decompressor refuses further use (fail the connection with
    /// 1009); so do other errors (1007 for [`DecompressError::Corrupt`]).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use ws_proto::deflate::{Config, MessageDecompressor};
    /// let mut d = MessageDecompressor::new(Config::default()).unwrap();
    /// let mut out = BytesMut::new();
    /// // A stored block: "Hello" uncompressed (RFC 7692 §7.2.3.3).
    /// let n = d.feed(&[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00], &mut out, 64).unwrap();
    /// assert_eq!((n, &out[..]), (5, &b"Hello"[..]));
    /// ```
    pub fn feed(
        &mut self,
        chunk: &[u8],
        out: &mut BytesMut,
        budget: usize,
    ) -> Result<usize, DecompressError> {
        if self.failed {
            return Err(DecompressError::Failed);
        }
        if chunk.is_empty() {
            return Ok(0);
        }
        self.open = true;
        self.run(chunk, out, budget)
    }

    /// Ends the current message: appends the `00 00 ff ff` tail the sender
    /// removed and inflates what it releases. Returns how many bytes were
    /// appended. A message whose data ends exactly after a final (BFINAL)
    /// block needs no tail and gets none; neither does an empty payload,
    /// which is an empty message.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use ws_proto::deflate::{Config, MessageDecompressor};
    /// let mut d = MessageDecompressor::new(Config::default()).unwrap();
    /// let mut out = BytesMut::new();
    /// // RFC 7692 §7.2.3.4: "Hello" in a final block, then one 0x00.
    /// d.feed(&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00], &mut out, 64).unwrap();
    /// d.finish(&mut out, 64 - d.message_len()).unwrap();
    /// assert_eq!(&out[..], b"Hello");
    /// ```
    pub fn finish(&mut self, out: &mut BytesMut, budget: usize) -> Result<usize, DecompressError> {
        if self.failed {
            return Err(DecompressError::Failed);
        }
        // An empty payload is an empty message. zlib-based senders produce
        // one (a sync flush with no new input emits nothing), and feeding
        // the tail alone would leave the inflater inside a stored-block
        // header, reading the next message as its length.
        let n = if self.after_final_block || !self.open {
            0
        } else {
            self.run(&SYNC_MARKER, out, budget)?
        };
        self.open = false;
        self.after_final_block = false;
        self.message_len = 0;
        Ok(n)
    }

    /// [`feed`](Self::feed) then [`finish`](Self::finish): one whole message,
    /// at most `budget` bytes of output.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use ws_proto::deflate::{Config, MessageDecompressor};
    /// let mut d = MessageDecompressor::new(Config::default()).unwrap();
    /// let mut out = BytesMut::new();
    /// d.decompress(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 1024).unwrap();
    /// d.decompress(&[0xf2, 0x00, 0x11, 0x00, 0x00], &mut out, 1024).unwrap(); // §7.2.3.2
    /// assert_eq!(&out[..], b"HelloHello");
    /// ```
    pub fn decompress(
        &mut self,
        payload: &[u8],
        out: &mut BytesMut,
        budget: usize,
    ) -> Result<usize, DecompressError> {
        let n = self.feed(payload, out, budget)?;
        Ok(n + self.finish(out, budget - n)?)
    }

    /// Frees the backend state between messages when the peer starts every
    /// message from an empty window (`no_context_takeover`); otherwise the
    /// window is needed and the state is kept. Returns whether it was freed.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use ws_proto::deflate::{Config, MessageDecompressor};
    /// let mut d = MessageDecompressor::new(Config::default().with_no_context_takeover(true)).unwrap();
    /// d.decompress(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut BytesMut::new(), 64).unwrap();
    /// assert!(d.release());
    /// assert!(!d.is_allocated());
    /// ```
    pub fn release(&mut self) -> bool {
        if self.open || !self.config.no_context_takeover {
            return false;
        }
        self.engine = None;
        true
    }

    fn run(
        &mut self,
        mut input: &[u8],
        out: &mut BytesMut,
        budget: usize,
    ) -> Result<usize, DecompressError> {
        let result = self.inflate_bounded(&mut input, out, budget);
        match result {
            Ok(n) => self.message_len += n,
            Err(_) => self.failed = true,
        }
        result
    }

    fn inflate_bounded(
        &mut self,
        input: &mut &[u8],
        out: &mut BytesMut,
        budget: usize,
    ) -> Result<usize, DecompressError> {
        let config = &self.config;
        let engine = self.engine.get_or_insert_with(|| Inflater::new(config));
        let start = out.len();
        let mut step = (input.len().saturating_mul(4)).clamp(MIN_STEP, MAX_STEP);
        loop {
            let produced = out.len() - start;
            // One byte past the budget is enough to tell that it was passed.
            let room = step.min(budget.saturating_sub(produced).saturating_add(1));
            let at = out.len();
            out.resize(at + room, 0);
            let r = engine.inflate(input, &mut out[at..]);
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    out.truncate(start);
                    return Err(e);
                }
            };
            out.truncate(at + r.written);
            *input = &input[r.consumed..];
            if r.consumed > 0 {
                self.after_final_block = false;
            }
            if out.len() - start > budget {
                out.truncate(start);
                return Err(DecompressError::TooLarge);
            }
            if r.ended {
                engine.restart_keeping_window()?;
                self.after_final_block = true;
                continue;
            }
            if r.written < room && input.is_empty() {
                return Ok(out.len() - start);
            }
            if r.written == 0 && r.consumed == 0 {
                return Err(DecompressError::Corrupt);
            }
            if r.written == room {
                step = (step * 2).min(MAX_STEP);
            }
        }
    }
}

/// Why a compressed message was refused. After any of these the
/// decompressor answers [`DecompressError::Failed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecompressError {
    /// The message inflates to more than the budget (close code 1009).
    TooLarge,
    /// The payload is not a valid deflate stream, or refers back past the
    /// data the decompressor holds (close code 1007).
    Corrupt,
    /// The backend reported an internal error (close code 1011).
    Backend,
    /// An earlier call failed; the stream cannot be resumed.
    Failed,
}

impl fmt::Display for DecompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecompressError::TooLarge => "the message inflates past the size limit",
            DecompressError::Corrupt => "invalid deflate data",
            DecompressError::Backend => "the deflate backend reported an error",
            DecompressError::Failed => "the decompressor failed earlier",
        })
    }
}

impl core::error::Error for DecompressError {}
