//! The extension stage of both pipelines: between unmask and UTF-8 on
//! receive, before fragmentation on send. The negotiated extensions decide
//! which RSV bits a frame may carry and transform message payloads.
//!
//! With nothing negotiated the stage is empty: no RSV bit is allowed, and
//! payloads pass through untouched, at the cost of one branch per message.
//! permessage-deflate (RFC 7692, the `deflate` feature) is the one extension:
//! RSV1 marks the first frame of a compressed message, never a control or
//! continuation frame (§6.1).

use bytes::{Bytes, BytesMut};

use super::Error;
use crate::negotiation::Negotiated;
use crate::Role;

/// Compression settings that are ours to choose, not negotiated: how hard
/// to compress and how much memory the compressor may use.
///
/// ```
/// use ws_proto::connection::CompressionConfig;
/// let c = CompressionConfig::default();
/// assert_eq!((c.level, c.mem_level), (6, 8));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressionConfig {
    /// zlib level 0..=9 (0: stored blocks only). Default 6.
    pub level: u8,
    /// zlib memory level 1..=9 (hash table and buffer sizes of the
    /// compressor; the zlib-rs backend only). Default 8.
    pub mem_level: u8,
    /// Messages shorter than this are sent uncompressed (RSV1 clear), which
    /// RFC 7692 §6 allows for any message: a few bytes only grow when
    /// compressed. Default 0: every message is compressed.
    pub min_size: usize,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        CompressionConfig {
            level: 6,
            mem_level: 8,
            min_size: 0,
        }
    }
}

/// The extensions in force on a connection.
#[derive(Debug, Default)]
pub(super) struct Extensions {
    #[cfg(feature = "deflate")]
    deflate: Option<Deflate>,
}

#[cfg(feature = "deflate")]
#[derive(Debug)]
struct Deflate {
    tx: crate::deflate::MessageCompressor,
    rx: crate::deflate::MessageDecompressor,
    /// Bytes inflated so far for the message being received.
    inflated: usize,
    /// Compressed output, reused from message to message.
    scratch: BytesMut,
    min_size: usize,
    /// A fragmented message being sent compressed (`send_fragment`).
    sending_compressed: bool,
}

/// What the send stage made of a message: the payload to frame and the
/// RSV bits of its first frame.
pub(super) struct Encoded {
    pub rsv: u8,
    pub payload: Bytes,
}

impl Extensions {
    /// The stage for what the handshake agreed on. Without the `deflate`
    /// feature a negotiated permessage-deflate cannot be honoured: building
    /// the connection fails rather than corrupting every message.
    pub(super) fn new(
        negotiated: Negotiated,
        role: Role,
        compression: CompressionConfig,
    ) -> Result<Self, ExtensionError> {
        let Some(params) = negotiated.permessage_deflate else {
            return Ok(Extensions::default());
        };
        #[cfg(feature = "deflate")]
        {
            use crate::deflate::{Config, MessageCompressor, MessageDecompressor};
            let ours = params.compress_params(role);
            let theirs = params.decompress_params(role);
            let tx = Config::default()
                .with_window_bits(ours.max_window_bits)
                .with_no_context_takeover(ours.no_context_takeover)
                .with_level(compression.level)
                .with_mem_level(compression.mem_level);
            let rx = Config::default()
                .with_window_bits(theirs.max_window_bits)
                .with_no_context_takeover(theirs.no_context_takeover);
            Ok(Extensions {
                deflate: Some(Deflate {
                    tx: MessageCompressor::new(tx).map_err(|_| ExtensionError::InvalidSettings)?,
                    rx: MessageDecompressor::new(rx)
                        .map_err(|_| ExtensionError::InvalidSettings)?,
                    inflated: 0,
                    scratch: BytesMut::new(),
                    min_size: compression.min_size,
                    sending_compressed: false,
                }),
            })
        }
        #[cfg(not(feature = "deflate"))]
        {
            let _ = (params, role, compression);
            Err(ExtensionError::DeflateNotBuilt)
        }
    }

    /// RSV bits the first frame of a data message may carry.
    pub(super) fn data_rsv(&self) -> u8 {
        #[cfg(feature = "deflate")]
        if self.deflate.is_some() {
            return crate::frame::RSV1;
        }
        0
    }

    /// Decodes a run of a compressed message's payload into `out`; the
    /// message (all of its runs) may inflate to at most `max_len` bytes,
    /// checked while inflating, so a small bomb fails early, holding at most
    /// the limit plus one step of output. Only reached for a frame whose
    /// RSV1 `data_rsv` allowed.
    pub(super) fn decode(
        &mut self,
        run: &[u8],
        fin: bool,
        out: &mut BytesMut,
        max_len: usize,
    ) -> Result<(), Error> {
        #[cfg(feature = "deflate")]
        if let Some(d) = self.deflate.as_mut() {
            use crate::deflate::DecompressError;
            let too_big = |d: &Deflate| Error::MessageTooBig {
                size: d.inflated as u64 + 1,
                max: max_len,
            };
            let budget = max_len.saturating_sub(d.inflated);
            match d.rx.feed(run, out, budget) {
                Ok(n) => d.inflated += n,
                Err(DecompressError::TooLarge) => return Err(too_big(d)),
                Err(e) => return Err(Error::Compression(e)),
            }
            if fin {
                let budget = max_len.saturating_sub(d.inflated);
                match d.rx.finish(out, budget) {
                    Ok(_) => {}
                    Err(DecompressError::TooLarge) => return Err(too_big(d)),
                    Err(e) => return Err(Error::Compression(e)),
                }
                d.inflated = 0;
            }
            return Ok(());
        }
        let _ = (run, fin, out, max_len);
        Err(Error::Frame(crate::frame::FrameError::ReservedBitsSet(
            crate::frame::RSV1,
        )))
    }

    /// Whether the send stage transforms messages at all.
    pub(super) fn active(&self) -> bool {
        self.data_rsv() != 0
    }

    /// Most bytes a `len`-byte message can take after encoding, for the
    /// queue limit, which must be checked before the compressor's window
    /// moves.
    pub(super) fn encoded_bound(&self, len: usize) -> usize {
        if self.active() {
            // Stored blocks cost 5 bytes per 16 KiB plus the flush.
            len + len / 16_000 * 5 + 16
        } else {
            len
        }
    }

    /// Encodes a whole message, or `None` to send it as it is.
    pub(super) fn encode(&mut self, payload: &[u8]) -> Result<Option<Encoded>, Error> {
        #[cfg(feature = "deflate")]
        if let Some(d) = self.deflate.as_mut() {
            if payload.len() < d.min_size {
                return Ok(None);
            }
            d.tx.compress(payload, &mut d.scratch)
                .map_err(|_| Error::CompressionFailed)?;
            return Ok(Some(Encoded {
                rsv: crate::frame::RSV1,
                payload: d.scratch.split().freeze(),
            }));
        }
        let _ = payload;
        Ok(None)
    }

    /// Encodes one fragment of a message sent in pieces; the first fragment
    /// decides (as for whole messages, by size) whether the message is
    /// compressed.
    pub(super) fn encode_fragment(
        &mut self,
        data: &[u8],
        first: bool,
        fin: bool,
    ) -> Result<Option<Encoded>, Error> {
        #[cfg(feature = "deflate")]
        if let Some(d) = self.deflate.as_mut() {
            if first {
                d.sending_compressed = !(fin && data.len() < d.min_size);
            }
            if !d.sending_compressed {
                return Ok(None);
            }
            d.tx.compress_fragment(data, fin, &mut d.scratch)
                .map_err(|_| Error::CompressionFailed)?;
            return Ok(Some(Encoded {
                rsv: if first { crate::frame::RSV1 } else { 0 },
                payload: d.scratch.split().freeze(),
            }));
        }
        let _ = (data, first, fin);
        Ok(None)
    }
}

/// Why the negotiated extensions could not be set up.
///
/// ```
/// use ws_proto::connection::ExtensionError;
/// assert!(!ExtensionError::InvalidSettings.to_string().is_empty());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionError {
    /// permessage-deflate was negotiated but this build has no codec (the
    /// `deflate` feature is off).
    DeflateNotBuilt,
    /// The negotiated or configured compression settings are out of range.
    InvalidSettings,
}

impl core::fmt::Display for ExtensionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ExtensionError::DeflateNotBuilt => {
                "permessage-deflate was negotiated but the deflate feature is off"
            }
            ExtensionError::InvalidSettings => "compression settings out of range",
        })
    }
}

impl core::error::Error for ExtensionError {}
