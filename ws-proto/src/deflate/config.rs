//! The settings of one direction of a permessage-deflate stream, kept apart
//! from the handshake's parameter syntax so the codec can be built and tested
//! on its own.

use core::fmt;

/// Which deflate implementation does the work.
///
/// The variants that exist depend on the crate features, so matches on it
/// need a wildcard arm.
///
/// ```
/// use ws_proto::deflate::Backend;
/// // The default is the fastest backend this build has.
/// let b = Backend::default();
/// # #[cfg(feature = "deflate-zlib-rs")]
/// assert_eq!(b, Backend::ZlibRs);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// `miniz_oxide`: pure Rust, `no_std` + `alloc`, no `unsafe`. Its
    /// compressor always searches a 32 KiB window, so below 15 window bits
    /// it is restarted every `2^N` bytes (12–14 bits) or run with its RLE
    /// strategy (8–11 bits), which compresses text poorly (see the module
    /// documentation). Its inflater always keeps 32 KiB.
    MinizOxide,
    /// `zlib-rs`: a Rust port of zlib-ng. Honours window bits 9–15 (8 is
    /// compressed with 9, which is safe: see the module documentation) and
    /// memory levels 1–9 when compressing; inflates faster than miniz_oxide.
    #[cfg(feature = "deflate-zlib-rs")]
    ZlibRs,
}

impl Backend {
    /// zlib-rs when the `deflate-zlib-rs` feature is on, else miniz_oxide.
    ///
    /// ```
    /// assert_eq!(ws_proto::deflate::Backend::preferred(), ws_proto::deflate::Backend::default());
    /// ```
    pub const fn preferred() -> Self {
        #[cfg(feature = "deflate-zlib-rs")]
        {
            Backend::ZlibRs
        }
        #[cfg(not(feature = "deflate-zlib-rs"))]
        {
            Backend::MinizOxide
        }
    }
}

impl Default for Backend {
    /// [`Backend::preferred`].
    fn default() -> Self {
        Backend::preferred()
    }
}

/// The settings of one direction: what a [`MessageCompressor`] produces or a
/// [`MessageDecompressor`] accepts.
///
/// `window_bits` and `no_context_takeover` come from the negotiation (for our
/// compressor: the peer's `*_max_window_bits` and `*_no_context_takeover` for
/// our role; for our decompressor: the ones we asked of the peer). `level`
/// and `mem_level` only affect a compressor.
///
/// [`MessageCompressor`]: super::MessageCompressor
/// [`MessageDecompressor`]: super::MessageDecompressor
///
/// ```
/// use ws_proto::deflate::Config;
/// let c = Config::default().with_window_bits(10).with_no_context_takeover(true);
/// assert!(c.validate().is_ok());
/// assert!(Config::default().with_window_bits(16).validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Config {
    /// Base-2 logarithm of the LZ77 window, 8..=15 (RFC 7692 §7.1.2). A
    /// compressor never refers further back than `2^window_bits` bytes.
    pub window_bits: u8,
    /// Start every message from an empty window (RFC 7692 §7.1.1): the
    /// compressor resets after each message; the decompressor may then
    /// drop its state between messages ([`MessageDecompressor::release`]).
    ///
    /// [`MessageDecompressor::release`]: super::MessageDecompressor::release
    pub no_context_takeover: bool,
    /// zlib compression level 0..=9 (0 = stored blocks only).
    pub level: u8,
    /// zlib memory level 1..=9: hash table and symbol buffer sizes (zlib-rs
    /// only; miniz_oxide's buffers are fixed).
    pub mem_level: u8,
    /// The implementation.
    pub backend: Backend,
}

impl Config {
    /// Window 15, context takeover, level 6, memory level 8: zlib's own
    /// defaults, the best ratio for the memory.
    pub const fn new() -> Self {
        Config {
            window_bits: 15,
            no_context_takeover: false,
            level: 6,
            mem_level: 8,
            backend: Backend::preferred(),
        }
    }

    /// Settings for a server holding many connections, as python-websockets
    /// chose them: window 12 (4 KiB), memory level 5, level 6. With zlib-rs
    /// the compressor holds 161 KiB instead of 371 KiB at 15/8, for a
    /// ratio 4% lower on 1 KiB JSON messages (measured; see the module
    /// documentation).
    ///
    /// `window_bits` is per direction: for a decompressor it must be what the
    /// peer agreed to (15 unless the client offered `client_max_window_bits`
    /// and the server answered with a value). A decompressor's memory hardly
    /// depends on it: both backends keep a 32 KiB window.
    ///
    /// ```
    /// let c = ws_proto::deflate::Config::server_default();
    /// assert_eq!((c.window_bits, c.mem_level), (12, 5));
    /// ```
    pub fn server_default() -> Self {
        Config {
            window_bits: 12,
            mem_level: 5,
            ..Config::default()
        }
    }

    /// Returns the config with `window_bits` replaced.
    ///
    /// ```
    /// assert_eq!(ws_proto::deflate::Config::default().with_window_bits(9).window_bits, 9);
    /// ```
    pub const fn with_window_bits(mut self, window_bits: u8) -> Self {
        self.window_bits = window_bits;
        self
    }

    /// Returns the config with `no_context_takeover` replaced.
    ///
    /// ```
    /// assert!(ws_proto::deflate::Config::default().with_no_context_takeover(true).no_context_takeover);
    /// ```
    pub const fn with_no_context_takeover(mut self, on: bool) -> Self {
        self.no_context_takeover = on;
        self
    }

    /// Returns the config with `level` replaced.
    ///
    /// ```
    /// assert_eq!(ws_proto::deflate::Config::default().with_level(1).level, 1);
    /// ```
    pub const fn with_level(mut self, level: u8) -> Self {
        self.level = level;
        self
    }

    /// Returns the config with `mem_level` replaced.
    ///
    /// ```
    /// assert_eq!(ws_proto::deflate::Config::default().with_mem_level(5).mem_level, 5);
    /// ```
    pub const fn with_mem_level(mut self, mem_level: u8) -> Self {
        self.mem_level = mem_level;
        self
    }

    /// Returns the config with `backend` replaced.
    ///
    /// ```
    /// use ws_proto::deflate::{Backend, Config};
    /// assert_eq!(Config::default().with_backend(Backend::MinizOxide).backend, Backend::MinizOxide);
    /// ```
    pub const fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Checks every field's range.
    ///
    /// ```
    /// use ws_proto::deflate::{Config, ConfigError};
    /// assert_eq!(Config::default().with_level(10).validate(), Err(ConfigError::Level(10)));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&self.window_bits) {
            return Err(ConfigError::WindowBits(self.window_bits));
        }
        if self.level > 9 {
            return Err(ConfigError::Level(self.level));
        }
        if !(1..=9).contains(&self.mem_level) {
            return Err(ConfigError::MemLevel(self.mem_level));
        }
        Ok(())
    }
}

impl Default for Config {
    /// [`Config::new`].
    fn default() -> Self {
        Config::new()
    }
}

/// Smallest window RFC 7692 allows a peer to ask for.
pub const MIN_WINDOW_BITS: u8 = 8;
/// Largest window, and the one assumed when nothing was negotiated.
pub const MAX_WINDOW_BITS: u8 = 15;

/// A [`Config`] field out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// `window_bits` is not in 8..=15.
    WindowBits(u8),
    /// `level` is not in 0..=9.
    Level(u8),
    /// `mem_level` is not in 1..=9.
    MemLevel(u8),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::WindowBits(v) => write!(f, "window bits {v} not in 8..=15"),
            ConfigError::Level(v) => write!(f, "compression level {v} not in 0..=9"),
            ConfigError::MemLevel(v) => write!(f, "memory level {v} not in 1..=9"),
        }
    }
}

impl core::error::Error for ConfigError {}
