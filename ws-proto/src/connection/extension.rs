//! The extension stage of both pipelines: between unmask and UTF-8 on
//! receive, before fragmentation on send. The negotiated extensions decide
//! which RSV bits a frame may carry and transform message payloads.
//!
//! With nothing negotiated the stage is empty: no RSV bit is allowed, and
//! payloads pass through untouched, at no cost beyond one branch per frame.

use bytes::BytesMut;

use super::Error;

/// The extensions in force on a connection.
#[derive(Debug, Default)]
pub(super) struct Extensions {
    _private: (),
}

impl Extensions {
    /// No extension: the plain RFC 6455 data path.
    pub(super) fn none() -> Self {
        Extensions::default()
    }

    /// RSV bits the first frame of a data message may carry.
    pub(super) fn data_rsv(&self) -> u8 {
        0
    }

    /// Decodes a run of a transformed message's payload into `out`, which
    /// must stay within `max_len` bytes. Only reached for a frame whose RSV
    /// bits `data_rsv` allowed, so never without an extension.
    pub(super) fn decode(
        &mut self,
        _run: &[u8],
        _fin: bool,
        _out: &mut BytesMut,
        _max_len: usize,
    ) -> Result<(), Error> {
        Err(Error::Frame(crate::frame::FrameError::ReservedBitsSet(
            crate::frame::RSV1,
        )))
    }
}
