//! The codec interface: one deflater and one inflater type, each an enum over
//! the backends, so the message layer above is written once and a build
//! without `deflate-zlib-rs` carries no trace of zlib-rs. An enum rather than
//! a trait object keeps every call statically dispatched and lets a message
//! layer own its engine without a `Box<dyn …>`.

use alloc::boxed::Box;
#[cfg(feature = "deflate-zlib-rs")]
use alloc::vec::Vec;

use bytes::BytesMut;
use miniz_oxide::deflate::core::{
    compress_to_output, create_comp_flags_from_zip_params, CompressionStrategy, CompressorOxide,
    TDEFLFlush, TDEFLStatus,
};
use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

use super::compress::CompressError;
use super::config::{Backend, Config};
use super::decompress::DecompressError;

/// How much a [`Deflater::compress`] call must push out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flush {
    /// Keep what the matcher still holds; emit only finished blocks.
    None,
    /// Emit everything and end with an empty stored block (`00 00 ff ff`).
    Sync,
}

/// A raw-deflate compressor (no zlib header or checksum).
pub(crate) enum Deflater {
    Miniz {
        c: Box<CompressorOxide>,
        /// Set when the window is bounded by restarting (see [`Segment`]).
        segment: Option<Segment>,
    },
    #[cfg(feature = "deflate-zlib-rs")]
    Zlib(zlib_rs::Deflate),
}

/// Smallest window for which miniz_oxide restarts every `2^N` bytes rather
/// than falling back to RLE: a restart clears about 250 KiB of tables, which
/// costs too much per 256 to 1024 bytes.
const MIN_SEGMENTED_WINDOW_BITS: u8 = 12;

/// miniz_oxide bounded to `2^N` bytes by restarting: a match never reaches
/// before the compressor's last reset, so after every `2^N` input bytes the
/// output is sync-flushed and the compressor reset. The peer sees ordinary
/// blocks; each segment just never refers to the one before.
pub(crate) struct Segment {
    cap: usize,
    /// Input bytes since the last reset.
    used: usize,
    /// Input compressed since the last sync flush.
    dirty: bool,
}

/// miniz_oxide's matcher always searches 32 KiB back, whatever window the
/// peer asked for. Below 15 bits the window is bounded by restarting (12–14
/// bits, see [`Segment`]) or, below that, by a strategy that cannot reach
/// further than the window: RLE, whose matches all have distance 1, or
/// stored blocks (level 0). RLE needs a level of at least 2: at level 1
/// miniz_oxide takes its fast path, which ignores the RLE flag.
fn miniz_flags(config: &Config) -> u32 {
    let level = i32::from(config.level);
    if config.window_bits >= MIN_SEGMENTED_WINDOW_BITS || level == 0 {
        create_comp_flags_from_zip_params(level, -15, CompressionStrategy::Default as i32)
    } else {
        create_comp_flags_from_zip_params(level.max(2), -15, CompressionStrategy::RLE as i32)
    }
}

fn miniz_segment(config: &Config) -> Option<Segment> {
    let bounded = (MIN_SEGMENTED_WINDOW_BITS..15).contains(&config.window_bits);
    (bounded && config.level > 0).then(|| Segment {
        cap: 1 << config.window_bits,
        used: 0,
        dirty: false,
    })
}

/// zlib (and so zlib-rs) cannot make an 8-bit raw stream: its matcher keeps
/// `MIN_LOOKAHEAD` (262) bytes of the window free, so with 9 bits it never
/// refers further back than 512 − 262 = 250 bytes, which a peer keeping a
/// 256-byte window can follow. Any other width is used as asked.
#[cfg(feature = "deflate-zlib-rs")]
pub(crate) fn zlib_compress_window_bits(window_bits: u8) -> u8 {
    window_bits.max(9)
}

impl Deflater {
    /// Allocates the backend's state (the large allocation of this module).
    pub(crate) fn new(config: &Config) -> Self {
        match config.backend {
            Backend::MinizOxide => Deflater::Miniz {
                c: Box::new(CompressorOxide::new(miniz_flags(config))),
                segment: miniz_segment(config),
            },
            #[cfg(feature = "deflate-zlib-rs")]
            Backend::ZlibRs => {
                Deflater::Zlib(zlib_rs::Deflate::new_with_config(zlib_rs::DeflateConfig {
                    level: i32::from(config.level),
                    method: zlib_rs::Method::Deflated,
                    window_bits: -i32::from(zlib_compress_window_bits(config.window_bits)),
                    mem_level: i32::from(config.mem_level),
                    strategy: zlib_rs::Strategy::Default,
                }))
            }
        }
    }

    /// Forgets the window: the next byte compressed refers to nothing before it.
    pub(crate) fn reset(&mut self) {
        match self {
            Deflater::Miniz { c, segment } => {
                c.reset();
                if let Some(seg) = segment {
                    seg.used = 0;
                    seg.dirty = false;
                }
            }
            #[cfg(feature = "deflate-zlib-rs")]
            Deflater::Zlib(d) => d.reset(),
        }
    }

    /// Compresses all of `input`, appending to `out`. With [`Flush::Sync`]
    /// the appended bytes end with exactly one `00 00 ff ff` marker.
    ///
    /// `min_spare` is the least output room offered per backend call (tests
    /// set it to 1 to drive the output-full paths).
    pub(crate) fn compress(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        flush: Flush,
        min_spare: usize,
    ) -> Result<(), CompressError> {
        #[cfg(not(feature = "deflate-zlib-rs"))]
        let _ = min_spare;
        match self {
            Deflater::Miniz { c, segment: None } => miniz_compress(c, input, out, flush),
            Deflater::Miniz {
                c,
                segment: Some(seg),
            } => miniz_compress_segmented(c, seg, input, out, flush),
            #[cfg(feature = "deflate-zlib-rs")]
            Deflater::Zlib(d) => zlib_compress(d, input, out, flush, min_spare),
        }
    }
}

/// miniz_oxide's trap: when a sync-flush call fills the output buffer, the
/// next call only drains what is pending and returns without flushing, and a
/// sync-flush call with nothing pending emits another empty block. Whether a
/// call flushed cannot be told from outside, so no output buffer is used:
/// the callback form hands over every byte as it is produced, and one call
/// consumes all the input and flushes exactly once.
fn miniz_compress(
    c: &mut CompressorOxide,
    input: &[u8],
    out: &mut BytesMut,
    flush: Flush,
) -> Result<(), CompressError> {
    let mode = match flush {
        Flush::None => TDEFLFlush::None,
        Flush::Sync => TDEFLFlush::Sync,
    };
    let (status, consumed) = compress_to_output(c, input, mode, |bytes| {
        out.extend_from_slice(bytes);
        true
    });
    if status != TDEFLStatus::Okay {
        return Err(CompressError::Backend);
    }
    if consumed != input.len() {
        return Err(CompressError::Stalled);
    }
    Ok(())
}

/// [`miniz_compress`] within [`Segment`]s.
fn miniz_compress_segmented(
    c: &mut CompressorOxide,
    seg: &mut Segment,
    mut input: &[u8],
    out: &mut BytesMut,
    flush: Flush,
) -> Result<(), CompressError> {
    loop {
        if !input.is_empty() && seg.used == seg.cap {
            if seg.dirty {
                miniz_compress(c, &[], out, Flush::Sync)?;
            }
            c.reset();
            seg.used = 0;
            seg.dirty = false;
        }
        let take = input.len().min(seg.cap - seg.used);
        let last = take == input.len();
        let piece_flush = if last { flush } else { Flush::None };
        if take > 0 || piece_flush == Flush::Sync {
            miniz_compress(c, &input[..take], out, piece_flush)?;
        }
        seg.used += take;
        seg.dirty = piece_flush == Flush::None && (seg.dirty || take > 0);
        input = &input[take..];
        if last {
            return Ok(());
        }
    }
}

/// zlib's contract: call again with the same flush while the output fills
/// up. When the marker exactly fills the output, zlib answers the repeated
/// flush with one more empty block (5 bytes, still a valid stream), so the
/// room doubles on every full call: the repeat then ends with room to spare.
/// Room for the worst case is offered up front, which makes the repeat
/// practically unreachable.
#[cfg(feature = "deflate-zlib-rs")]
fn zlib_compress(
    d: &mut zlib_rs::Deflate,
    mut input: &[u8],
    out: &mut BytesMut,
    flush: Flush,
    min_spare: usize,
) -> Result<(), CompressError> {
    let mode = match flush {
        Flush::None => zlib_rs::DeflateFlush::NoFlush,
        Flush::Sync => zlib_rs::DeflateFlush::SyncFlush,
    };
    let mut spare = if min_spare > 1 {
        // Block headers, the pending bit buffer and the marker on top of the
        // stored-block worst case.
        zlib_rs::compress_bound(input.len())
            .saturating_add(64)
            .max(min_spare)
    } else {
        1
    };
    loop {
        let at = out.len();
        out.resize(at + spare, 0);
        let (in0, out0) = (d.total_in(), d.total_out());
        let status = d.compress(input, &mut out[at..], mode);
        let consumed = (d.total_in() - in0) as usize;
        let written = (d.total_out() - out0) as usize;
        out.truncate(at + written);
        status.map_err(|_| CompressError::Backend)?;
        input = &input[consumed..];
        if input.is_empty() && written < spare {
            return Ok(());
        }
        if consumed == 0 && written == 0 {
            // Input left and room offered, yet no progress.
            return Err(CompressError::Stalled);
        }
        if written == spare {
            spare = spare.saturating_mul(2);
        }
    }
}

/// One backend call's progress.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    pub(crate) consumed: usize,
    pub(crate) written: usize,
    /// The stream ended with a final (BFINAL = 1) block.
    pub(crate) ended: bool,
}

/// A raw-deflate decompressor.
pub(crate) enum Inflater {
    /// Always a 32 KiB ring, which is also its window.
    Miniz(Box<InflateState>),
    #[cfg(feature = "deflate-zlib-rs")]
    Zlib {
        inflate: zlib_rs::Inflate,
        window_bits: u8,
        /// The last `2^window_bits` bytes produced, kept only with context
        /// takeover: zlib-rs cannot restart after a final block while keeping
        /// its window, so the window is handed back as a dictionary.
        history: Option<History>,
    },
}

impl Inflater {
    /// Allocates the backend's state.
    pub(crate) fn new(config: &Config) -> Self {
        match config.backend {
            Backend::MinizOxide => Inflater::Miniz(InflateState::new_boxed(DataFormat::Raw)),
            #[cfg(feature = "deflate-zlib-rs")]
            Backend::ZlibRs => Inflater::Zlib {
                inflate: zlib_rs::Inflate::new(false, config.window_bits),
                window_bits: config.window_bits,
                history: (!config.no_context_takeover).then(|| History::new(config.window_bits)),
            },
        }
    }

    /// Decompresses from `input` into `output` until one of them runs out or
    /// the stream ends.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        output: &mut [u8],
    ) -> Result<Step, DecompressError> {
        match self {
            Inflater::Miniz(state) => {
                let r = inflate(state, input, output, MZFlush::None);
                let ended = match r.status {
                    Ok(MZStatus::StreamEnd) => true,
                    Ok(_) => false,
                    // No progress possible: the input is used up.
                    Err(MZError::Buf) => false,
                    Err(MZError::Data) => return Err(DecompressError::Corrupt),
                    Err(_) => return Err(DecompressError::Backend),
                };
                Ok(Step {
                    consumed: r.bytes_consumed,
                    written: r.bytes_written,
                    ended,
                })
            }
            #[cfg(feature = "deflate-zlib-rs")]
            Inflater::Zlib {
                inflate, history, ..
            } => {
                let (in0, out0) = (inflate.total_in(), inflate.total_out());
                let status = inflate.decompress(input, output, zlib_rs::InflateFlush::NoFlush);
                let consumed = (inflate.total_in() - in0) as usize;
                let written = (inflate.total_out() - out0) as usize;
                if let Some(h) = history {
                    h.push(&output[..written]);
                }
                let ended = match status {
                    Ok(zlib_rs::Status::StreamEnd) => true,
                    Ok(_) => false,
                    Err(zlib_rs::InflateError::MemError) => return Err(DecompressError::Backend),
                    Err(_) => return Err(DecompressError::Corrupt),
                };
                Ok(Step {
                    consumed,
                    written,
                    ended,
                })
            }
        }
    }

    /// After a final block: ready for a new deflate stream that may still
    /// refer to the window (RFC 7692 §7.2.3.4 with context takeover).
    pub(crate) fn restart_keeping_window(&mut self) -> Result<(), DecompressError> {
        match self {
            // The ring holds the window and its write position survives a
            // re-initialised block decoder.
            Inflater::Miniz(state) => state.decompressor().init(),
            #[cfg(feature = "deflate-zlib-rs")]
            Inflater::Zlib {
                inflate,
                window_bits,
                history,
            } => {
                *inflate = zlib_rs::Inflate::new(false, *window_bits);
                if let Some(h) = history {
                    inflate
                        .set_dictionary(h.contiguous())
                        .map_err(|_| DecompressError::Backend)?;
                }
            }
        }
        Ok(())
    }
}

/// A ring of the most recent output bytes.
#[cfg(feature = "deflate-zlib-rs")]
pub(crate) struct History {
    buf: Vec<u8>,
    cap: usize,
    /// Next write position once `buf` is full.
    pos: usize,
}

#[cfg(feature = "deflate-zlib-rs")]
impl History {
    fn new(window_bits: u8) -> Self {
        History {
            buf: Vec::new(),
            cap: 1 << window_bits,
            pos: 0,
        }
    }

    fn push(&mut self, mut data: &[u8]) {
        if data.len() >= self.cap {
            data = &data[data.len() - self.cap..];
        }
        let room = self.cap - self.buf.len();
        if room > 0 {
            let n = room.min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        while !data.is_empty() {
            let n = (self.cap - self.pos).min(data.len());
            self.buf[self.pos..self.pos + n].copy_from_slice(&data[..n]);
            self.pos = (self.pos + n) % self.cap;
            data = &data[n..];
        }
    }

    fn contiguous(&mut self) -> &[u8] {
        self.buf.rotate_left(self.pos);
        self.pos = 0;
        &self.buf
    }
}

#[cfg(all(test, feature = "deflate-zlib-rs"))]
mod tests {
    use super::History;

    #[test]
    fn history_keeps_the_last_window_in_order() {
        let mut h = History::new(8);
        let data: alloc::vec::Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        for piece in data.chunks(7) {
            h.push(piece);
        }
        assert_eq!(h.contiguous(), &data[1000 - 256..]);
        h.push(&data[..3]);
        let mut want = data[1000 - 253..].to_vec();
        want.extend_from_slice(&data[..3]);
        assert_eq!(h.contiguous(), &want[..]);
    }
}
