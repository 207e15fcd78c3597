//! The permessage-deflate codec (RFC 7692 §7.2): compressing and inflating
//! message payloads, independent of frames and of the handshake.
//!
//! One [`MessageCompressor`] and one [`MessageDecompressor`] per connection,
//! each built from a [`Config`] that the negotiation fills in (window bits
//! and context takeover for that direction, plus our level and memory level).
//!
//! ```
//! use bytes::BytesMut;
//! use ws_proto::deflate::{Config, MessageCompressor, MessageDecompressor};
//!
//! let config = Config::server_default();
//! let mut tx = MessageCompressor::new(config).unwrap();
//! let mut rx = MessageDecompressor::new(config).unwrap();
//!
//! let mut wire = BytesMut::new();
//! tx.compress(br#"{"op":"chat","text":"hi"}"#, &mut wire).unwrap();
//!
//! let max_message_size = 1 << 20;
//! let mut message = BytesMut::new();
//! rx.feed(&wire, &mut message, max_message_size).unwrap();
//! rx.finish(&mut message, max_message_size - rx.message_len()).unwrap();
//! assert_eq!(&message[..], br#"{"op":"chat","text":"hi"}"#);
//! ```
//!
//! # Design
//!
//! * **Backends** ([`Backend`]): the `deflate` feature brings miniz_oxide
//!   (pure Rust, `no_std` + `alloc`); `deflate-zlib-rs` adds zlib-rs and
//!   makes it the default. Both sit behind one internal deflater/inflater
//!   enum, so the message layer is written once.
//! * **Window bits.** A compressor configured for `N` bits never refers
//!   more than `2^N` bytes back (tested for every `N` and backend by
//!   decoding the output with an independent decoder that records every
//!   distance):
//!   - zlib-rs is given `N` for 9–15. For `N = 8` it is given 9, because
//!     zlib cannot make 8-bit raw streams (RFC 7692 §7.1.2.1 notes this);
//!     zlib's matcher keeps 262 bytes of lookahead out of the window, so at
//!     9 bits its farthest distance is 512 − 262 = 250 ≤ 256, which a peer
//!     that keeps only 256 bytes can follow.
//!   - miniz_oxide always searches 32 KiB whatever it is told. At 12–14
//!     bits it is reset after every `2^N` input bytes (after a sync flush
//!     when that falls inside a message): a match never reaches before the
//!     last reset, and the peer just sees blocks that stop referring back.
//!     Below 12 bits, where a reset (~250 KiB of tables cleared) every 256
//!     to 1024 bytes would cost too much, it uses its RLE strategy (every
//!     match has distance 1). Level 0 (stored blocks) is safe anywhere.
//!     Measured on JSON-like text: 12 bits gives a ratio of 3.77 (1 KiB
//!     messages, takeover) and 3.92 (64 KiB), RLE 1.60 and 1.69, against
//!     4.19 and 4.89 for zlib-rs at 12 bits; use zlib-rs where peers ask for
//!     small windows.
//!
//!   A decompressor is not a conformance checker for the window: both
//!   backends keep a 32 KiB window whatever `N` is (zlib-rs allocates its
//!   inflate window at full size), so a stream that refers further back
//!   than `2^N` may be accepted. zlib-rs is still told `N`.
//! * **Sync flush** (§7.2.1): every message ends with a sync flush and
//!   exactly one `00 00 ff ff` marker is removed. miniz_oxide emits a second
//!   marker, or none, when a flush meets a full output buffer and is
//!   retried; its callback form, which has no output buffer, flushes exactly
//!   once. zlib-rs is given room for the worst case up front. An empty
//!   message compresses to the single byte `00`.
//! * **Context takeover**: with `no_context_takeover` the compressor resets
//!   after each message. The decompressor never needs to reset (the peer's
//!   stream simply does not refer back), so it does not, and it can be
//!   [released](MessageDecompressor::release) between messages.
//! * **Final blocks** (§7.2.3.4): a peer may end a message's data with a
//!   BFINAL = 1 block. The next bytes (the rest of this message, or the
//!   next message) start a new deflate stream which, with context takeover,
//!   may still refer to the window. miniz_oxide's window is its output
//!   ring, which outlives a re-initialised block decoder; zlib-rs cannot
//!   restart while keeping its window, so with takeover the decompressor
//!   keeps its own copy of the last `2^N` output bytes and hands it to the
//!   new stream as a dictionary. A message that ends exactly after a final
//!   block is complete without the appended tail.
//! * **Bounded inflation**: every call takes a budget; output is produced in
//!   steps of at most 64 KiB and never more than one byte past the budget
//!   before [`DecompressError::TooLarge`], whatever the input's ratio. The
//!   output buffer is asked for at most budget + 1 + one step; `BytesMut`
//!   grows by doubling, so it may allocate up to twice that. Measured in
//!   `tests/deflate_memory.rs`: a 1,035 KiB message that inflates to 1 GiB,
//!   against a 16 MiB limit, fails after its first 64 KiB frame with a heap
//!   peak of 32 MiB (the doubled message buffer), in about 80 ms (debug
//!   build, optimised backends).
//! * **Memory**: state is allocated by the first message, not at
//!   construction, and [`MessageCompressor::release`] (any time between
//!   messages) or [`MessageDecompressor::release`] (with
//!   `no_context_takeover`) gives it back. Heap per state, measured with a
//!   counting allocator by `tests/deflate_memory.rs` (run with
//!   `--nocapture` for the full table; decompressor after an 8 KiB message):
//!
//!   | backend | window, mem level | compressor | decompressor |
//!   |---|---|---|---|
//!   | zlib-rs | 15, 8 (zlib's default) | 371 KiB | 46 KiB + window copy ≤ 32 KiB |
//!   | zlib-rs | 15, 9 | 483 KiB | same |
//!   | zlib-rs | 12, 5 ([`Config::server_default`]) | 161 KiB | 46 KiB + ≤ 4 KiB |
//!   | zlib-rs | 9, 1 | 134 KiB | 46 KiB + ≤ 0.5 KiB |
//!   | miniz_oxide | any | 312 KiB | 42 KiB |
//!
//!   zlib-rs's hash table has a fixed 64 Ki entries (128 KiB), so its
//!   compressor never drops below ~130 KiB; its inflater allocates a 32 KiB
//!   window whatever the window bits. The window copy exists only with
//!   context takeover (see *Final blocks*). For many idle connections the
//!   compressor dominates: negotiate `server_no_context_takeover` and
//!   release the compressor after each message, or share one
//!   no-context-takeover compressor per thread (it resets after every
//!   message, so it can serve any connection with the same window bits).
//! * **Not checked**: a message whose data stops inside a block (a
//!   truncated stream) is not detected at [`MessageDecompressor::finish`]:
//!   neither backend reports whether it rests on a block boundary. Its
//!   remaining bits are read as the start of the next message, which then
//!   fails or decodes to bytes the UTF-8 check sees.

mod compress;
mod config;
mod decompress;
mod engine;
#[cfg(test)]
mod tests;

pub use compress::{CompressError, MessageCompressor, SYNC_MARKER};
pub use config::{Backend, Config, ConfigError, MAX_WINDOW_BITS, MIN_WINDOW_BITS};
pub use decompress::{DecompressError, MessageDecompressor};
