//! Sending side: a message's payload in, the RFC 7692 §7.2.1 compressed
//! payload out.

use core::fmt;

use bytes::BytesMut;

use super::config::{Config, ConfigError};
use super::engine::{Deflater, Flush};

/// The empty stored block that a sync flush ends with, removed from every
/// compressed message (RFC 7692 §7.2.1) and put back by the receiver.
pub const SYNC_MARKER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A message whose payload is empty compresses to this: with the marker
/// appended it is one empty stored block (`00 00 00 ff ff`). Emitted without
/// asking the backend, which after a sync flush may have nothing to add.
const EMPTY_MESSAGE: u8 = 0x00;

/// Compresses the messages of one direction of a connection.
///
/// The backend state is allocated by the first message that has a payload,
/// not by [`MessageCompressor::new`], so a connection that never sends a
/// compressed message costs only this struct. [`release`] gives it back
/// between messages.
///
/// [`release`]: MessageCompressor::release
///
/// ```
/// use bytes::BytesMut;
/// use ws_proto::deflate::{Config, MessageCompressor};
///
/// let mut c = MessageCompressor::new(Config::default()).unwrap();
/// let mut out = BytesMut::new();
/// c.compress(b"Hello", &mut out).unwrap();
/// assert_eq!(&out[..], &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]); // RFC 7692 §7.2.3.1
///
/// // Context takeover: the second "Hello" refers to the first.
/// out.clear();
/// c.compress(b"Hello", &mut out).unwrap();
/// assert_eq!(&out[..], &[0xf2, 0x00, 0x11, 0x00, 0x00]); // §7.2.3.2
/// ```
pub struct MessageCompressor {
    config: Config,
    engine: Option<Deflater>,
    /// A message sent in pieces is open: bytes of it went in.
    open: bool,
    /// Payload bytes of the open message.
    open_len: usize,
    min_spare: usize,
}

impl fmt::Debug for MessageCompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageCompressor")
            .field("config", &self.config)
            .field("allocated", &self.engine.is_some())
            .field("open", &self.open)
            .finish()
    }
}

impl MessageCompressor {
    /// Checks `config`; allocates nothing.
    ///
    /// ```
    /// use ws_proto::deflate::{Config, ConfigError, MessageCompressor};
    /// assert!(MessageCompressor::new(Config::default().with_window_bits(7)).is_err());
    /// ```
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(MessageCompressor {
            config,
            engine: None,
            open: false,
            open_len: 0,
            min_spare: 256,
        })
    }

    /// The settings this compressor was built with.
    ///
    /// ```
    /// use ws_proto::deflate::{Config, MessageCompressor};
    /// let c = MessageCompressor::new(Config::server_default()).unwrap();
    /// assert_eq!(c.config().window_bits, 12);
    /// ```
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the backend state is allocated.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use ws_proto::deflate::{Config, MessageCompressor};
    /// let mut c = MessageCompressor::new(Config::default()).unwrap();
    /// assert!(!c.is_allocated());
    /// c.compress(b"x", &mut BytesMut::new()).unwrap();
    /// assert!(c.is_allocated());
    /// ```
    pub fn is_allocated(&self) -> bool {
        self.engine.is_some()
    }

    /// Compresses one whole message, appending its compressed payload
    /// (without the `00 00 ff ff` tail) to `out`. Returns how many bytes
    /// were appended. Once `out` has grown to fit, no call allocates.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use ws_proto::deflate::{Config, MessageCompressor};
    /// let mut c = MessageCompressor::new(Config::default()).unwrap();
    /// let mut out = BytesMut::new();
    /// let n = c.compress(&[b'a'; 1000], &mut out).unwrap();
    /// assert_eq!(n, out.len());
    /// assert!(n < 20);
    /// ```
    pub fn compress(&mut self, payload: &[u8], out: &mut BytesMut) -> Result<usize, CompressError> {
        if self.open {
            return Err(CompressError::MessageOpen);
        }
        self.compress_fragment(payload, true, out)
    }

    /// Compresses a message given in pieces: each call appends what the
    /// backend has finished so far (possibly nothing: an empty fragment is
    /// allowed on the wire), and the call with `fin` flushes and strips the
    /// tail. The compressed bytes of one message are the concatenation of
    /// what every call appended, whatever buffers they went to.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use ws_proto::deflate::{Config, MessageCompressor, MessageDecompressor};
    /// let mut c = MessageCompressor::new(Config::default()).unwrap();
    /// let mut wire = BytesMut::new();
    /// c.compress_fragment(b"Hel", false, &mut wire).unwrap();
    /// c.compress_fragment(b"lo", true, &mut wire).unwrap();
    ///
    /// let mut d = MessageDecompressor::new(Config::default()).unwrap();
    /// let mut text = BytesMut::new();
    /// d.decompress(&wire, &mut text, 1 << 20).unwrap();
    /// assert_eq!(&text[..], b"Hello");
    /// ```
    pub fn compress_fragment(
        &mut self,
        chunk: &[u8],
        fin: bool,
        out: &mut BytesMut,
    ) -> Result<usize, CompressError> {
        let start = out.len();
        if !fin {
            if !chunk.is_empty() {
                let min_spare = self.min_spare;
                let engine = self.engine();
                engine.compress(chunk, out, Flush::None, min_spare)?;
                self.open = true;
                self.open_len += chunk.len();
            }
            return Ok(out.len() - start);
        }
        let total = self.open_len + chunk.len();
        self.open = false;
        self.open_len = 0;
        if total == 0 {
            out.extend_from_slice(&[EMPTY_MESSAGE]);
            return Ok(1);
        }
        let min_spare = self.min_spare;
        let reset = self.config.no_context_takeover;
        let engine = self.engine();
        engine.compress(chunk, out, Flush::Sync, min_spare)?;
        if !out[start..].ends_with(&SYNC_MARKER) {
            // The flush's marker is produced by this call, so it is in `out`.
            return Err(CompressError::MissingSyncMarker);
        }
        out.truncate(out.len() - SYNC_MARKER.len());
        if reset {
            engine.reset();
        }
        Ok(out.len() - start)
    }

    /// Frees the backend state between messages; the next message allocates
    /// it again and starts from an empty window. Always safe for the peer:
    /// a sender may stop referring to its window at any message boundary.
    /// Returns `false` (and keeps the state) while a message is open.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use ws_proto::deflate::{Config, MessageCompressor};
    /// let mut c = MessageCompressor::new(Config::default()).unwrap();
    /// c.compress(b"x", &mut BytesMut::new()).unwrap();
    /// assert!(c.release());
    /// assert!(!c.is_allocated());
    /// ```
    pub fn release(&mut self) -> bool {
        if self.open {
            return false;
        }
        self.engine = None;
        true
    }

    fn engine(&mut self) -> &mut Deflater {
        let config = &self.config;
        self.engine.get_or_insert_with(|| Deflater::new(config))
    }

    /// Least output room per backend call; 1 drives the output-full paths.
    #[cfg(test)]
    pub(crate) fn set_min_spare(&mut self, n: usize) {
        self.min_spare = n;
    }
}

/// Why a message could not be compressed. Any of these leaves the
/// compressor unusable: the connection should be failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressError {
    /// [`MessageCompressor::compress`] was called while a message sent with
    /// [`MessageCompressor::compress_fragment`] was still open.
    MessageOpen,
    /// The backend reported an internal error.
    Backend,
    /// The backend returned without consuming all of its input.
    Stalled,
    /// The sync flush did not end with `00 00 ff ff`.
    MissingSyncMarker,
}

impl fmt::Display for CompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompressError::MessageOpen => "a fragmented compressed message is still open",
            CompressError::Backend => "the deflate backend reported an error",
            CompressError::Stalled => "the deflate backend did not consume its input",
            CompressError::MissingSyncMarker => "the sync flush did not end with 00 00 ff ff",
        })
    }
}

impl core::error::Error for CompressError {}
