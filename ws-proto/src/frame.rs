//! The frame header codec (RFC 6455 §5.2).
//!
//! [`FrameHeader::decode`] reads a header from the front of a buffer that may
//! hold only part of it, and checks every rule that the header alone decides
//! (reserved opcodes, control frame size and fragmentation, minimal length
//! encoding, the 64-bit length's top bit). [`FrameHeader::check`] adds the
//! rules that depend on the connection: which side masks, which RSV bits an
//! extension negotiated, and the size limit. The payload never passes through
//! this module: it stays in the caller's buffer, to be unmasked in place.

use core::fmt;

use crate::close::CloseCode;
use crate::Role;

/// The longest possible header: 2 bytes, an 8-byte length and a 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;

/// Largest payload of a control frame (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame's opcode (§5.2, §11.8).
///
/// ```
/// use ws_proto::frame::OpCode;
///
/// assert_eq!(OpCode::from_u8(0x9), Some(OpCode::Ping));
/// assert_eq!(OpCode::from_u8(0x3), None); // reserved
/// assert!(OpCode::Close.is_control());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// Parses the 4-bit opcode; reserved values give `None`.
    ///
    /// ```
    /// # use ws_proto::frame::OpCode;
    /// assert_eq!(OpCode::from_u8(0xA), Some(OpCode::Pong));
    /// ```
    pub const fn from_u8(v: u8) -> Option<OpCode> {
        Some(match v {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    ///
    /// ```
    /// # use ws_proto::frame::OpCode;
    /// assert_eq!(OpCode::Binary.as_u8(), 2);
    /// ```
    pub const fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Close, ping and pong are control frames.
    ///
    /// ```
    /// # use ws_proto::frame::OpCode;
    /// assert!(!OpCode::Text.is_control());
    /// ```
    pub const fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A decoded frame header.
///
/// ```
/// use ws_proto::frame::{FrameHeader, OpCode};
///
/// let header = FrameHeader::new(OpCode::Text, true, 5);
/// let mut buf = [0u8; 14];
/// let n = header.encode(&mut buf);
/// assert_eq!(&buf[..n], &[0x81, 0x05]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Last frame of a message.
    pub fin: bool,
    /// The three RSV bits, as bits 2 (RSV1), 1 (RSV2) and 0 (RSV3).
    pub rsv: u8,
    /// What the frame carries.
    pub opcode: OpCode,
    /// The masking key, present exactly on frames sent by a client.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

/// RSV1, as a bit of [`FrameHeader::rsv`] (used by permessage-deflate).
pub const RSV1: u8 = 0b100;
/// RSV2, as a bit of [`FrameHeader::rsv`].
pub const RSV2: u8 = 0b010;
/// RSV3, as a bit of [`FrameHeader::rsv`].
pub const RSV3: u8 = 0b001;

/// A header that breaks RFC 6455. Every variant fails the connection with the
/// code from [`close_code`](FrameError::close_code).
///
/// ```
/// use ws_proto::frame::{FrameHeader, FrameError};
///
/// // Opcode 0x3 is reserved.
/// assert_eq!(FrameHeader::decode(&[0x83, 0x00]), Err(FrameError::ReservedOpcode(3)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Opcodes 0x3-0x7 and 0xB-0xF are reserved (§5.2).
    ReservedOpcode(u8),
    /// A control frame without FIN (§5.5).
    FragmentedControlFrame,
    /// A control frame with more than 125 bytes of payload (§5.5).
    ControlFrameTooLong(u64),
    /// The length was not written in the shortest form (§5.2: "the minimal
    /// number of bytes MUST be used").
    NonMinimalLength,
    /// A 64-bit length with its most significant bit set (§5.2).
    LengthTopBitSet,
    /// RSV bits set that no negotiated extension defines (§5.2).
    ReservedBitsSet(u8),
    /// A client sent an unmasked frame (§5.1).
    UnmaskedFrame,
    /// A server sent a masked frame (§5.1).
    MaskedFrame,
    /// The payload is longer than the configured maximum.
    PayloadTooLarge {
        /// The announced length.
        len: u64,
        /// The limit it exceeds.
        max: u64,
    },
}

impl FrameError {
    /// The close code to fail the connection with: 1009 for a payload over
    /// the limit, 1002 for everything else.
    ///
    /// ```
    /// # use ws_proto::frame::FrameError;
    /// # use ws_proto::close::CloseCode;
    /// assert_eq!(FrameError::UnmaskedFrame.close_code(), CloseCode::PROTOCOL_ERROR);
    /// ```
    pub fn close_code(&self) -> CloseCode {
        match self {
            FrameError::PayloadTooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            FrameError::FragmentedControlFrame => f.write_str("fragmented control frame"),
            FrameError::ControlFrameTooLong(n) => {
                write!(f, "control frame with {n} bytes of payload (max 125)")
            }
            FrameError::NonMinimalLength => f.write_str("payload length not minimally encoded"),
            FrameError::LengthTopBitSet => {
                f.write_str("64-bit payload length with the top bit set")
            }
            FrameError::ReservedBitsSet(bits) => {
                write!(f, "reserved bits {bits:#05b} set without an extension")
            }
            FrameError::UnmaskedFrame => f.write_str("unmasked frame from a client"),
            FrameError::MaskedFrame => f.write_str("masked frame from a server"),
            FrameError::PayloadTooLarge { len, max } => {
                write!(f, "frame payload of {len} bytes exceeds the limit of {max}")
            }
        }
    }
}

impl core::error::Error for FrameError {}

/// The connection-dependent rules for [`FrameHeader::check`].
///
/// ```
/// use ws_proto::frame::{FrameHeader, FrameRules, OpCode};
/// use ws_proto::Role;
///
/// let rules = FrameRules { role: Role::Server, allowed_rsv: 0, max_payload: 1 << 20 };
/// // A masked 10-byte text frame from a client passes; 2 MiB does not.
/// let mut header = FrameHeader::new(OpCode::Text, true, 10);
/// header.mask = Some([1, 2, 3, 4]);
/// assert_eq!(header.check(&rules), Ok(()));
/// header.payload_len = 2 << 20;
/// assert!(header.check(&rules).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRules {
    /// Our role: a server requires masked frames, a client unmasked ones.
    pub role: Role,
    /// The RSV bits negotiated extensions may set (0 without extensions).
    pub allowed_rsv: u8,
    /// Largest payload accepted in one frame.
    pub max_payload: u64,
}

impl FrameHeader {
    /// A header with no RSV bits and no mask.
    ///
    /// ```
    /// # use ws_proto::frame::{FrameHeader, OpCode};
    /// let h = FrameHeader::new(OpCode::Ping, true, 0);
    /// assert_eq!(h.encoded_len(), 2);
    /// ```
    pub const fn new(opcode: OpCode, fin: bool, payload_len: u64) -> Self {
        FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask: None,
            payload_len,
        }
    }

    /// Decodes a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` ends before the header does (at most 14
    /// bytes are ever needed), or the header and its length in bytes. Errors
    /// are reported as soon as the bytes that prove them have arrived.
    ///
    /// ```
    /// use ws_proto::frame::{FrameHeader, OpCode};
    ///
    /// // RFC 6455 §5.7: a masked "Hello" from a client.
    /// let bytes = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let (header, len) = FrameHeader::decode(&bytes).unwrap().unwrap();
    /// assert_eq!(len, 6);
    /// assert_eq!(header.opcode, OpCode::Text);
    /// assert_eq!(header.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
    /// assert_eq!(header.payload_len, 5);
    /// assert_eq!(FrameHeader::decode(&bytes[..3]), Ok(None));
    /// ```
    pub fn decode(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, FrameError> {
        let Some(&b0) = buf.first() else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0b111;
        let opcode = OpCode::from_u8(b0 & 0x0F).ok_or(FrameError::ReservedOpcode(b0 & 0x0F))?;
        if opcode.is_control() && !fin {
            return Err(FrameError::FragmentedControlFrame);
        }
        let Some(&b1) = buf.get(1) else {
            return Ok(None);
        };
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7F;
        let (payload_len, mut pos) = match len7 {
            126 => {
                let Some(b) = buf.get(2..4) else {
                    return Ok(None);
                };
                let len = u16::from_be_bytes([b[0], b[1]]) as u64;
                if len < 126 {
                    return Err(FrameError::NonMinimalLength);
                }
                (len, 4)
            }
            127 => {
                if buf.len() > 2 && buf[2] & 0x80 != 0 {
                    return Err(FrameError::LengthTopBitSet);
                }
                let Some(b) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut arr = [0u8; 8];
                arr.copy_from_slice(b);
                let len = u64::from_be_bytes(arr);
                if len <= 0xFFFF {
                    return Err(FrameError::NonMinimalLength);
                }
                (len, 10)
            }
            n => (n as u64, 2),
        };
        if opcode.is_control() && payload_len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(FrameError::ControlFrameTooLong(payload_len));
        }
        let mask = if masked {
            let Some(b) = buf.get(pos..pos + 4) else {
                return Ok(None);
            };
            pos += 4;
            Some([b[0], b[1], b[2], b[3]])
        } else {
            None
        };
        Ok(Some((
            FrameHeader {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            },
            pos,
        )))
    }

    /// Checks the rules that depend on the connection: masking direction,
    /// RSV bits and the payload limit.
    ///
    /// ```
    /// use ws_proto::frame::{FrameError, FrameHeader, FrameRules, OpCode};
    /// use ws_proto::Role;
    ///
    /// let rules = FrameRules { role: Role::Server, allowed_rsv: 0, max_payload: 1024 };
    /// let unmasked = FrameHeader::new(OpCode::Text, true, 5);
    /// assert_eq!(unmasked.check(&rules), Err(FrameError::UnmaskedFrame));
    /// ```
    pub fn check(&self, rules: &FrameRules) -> Result<(), FrameError> {
        let extra_rsv = self.rsv & !rules.allowed_rsv;
        if extra_rsv != 0 {
            return Err(FrameError::ReservedBitsSet(extra_rsv));
        }
        match (rules.role, self.mask.is_some()) {
            (Role::Server, false) => return Err(FrameError::UnmaskedFrame),
            (Role::Client, true) => return Err(FrameError::MaskedFrame),
            _ => {}
        }
        if self.payload_len > rules.max_payload {
            return Err(FrameError::PayloadTooLarge {
                len: self.payload_len,
                max: rules.max_payload,
            });
        }
        Ok(())
    }

    /// Bytes [`encode`](Self::encode) writes.
    ///
    /// ```
    /// # use ws_proto::frame::{FrameHeader, OpCode};
    /// let mut h = FrameHeader::new(OpCode::Binary, true, 65536);
    /// h.mask = Some([1, 2, 3, 4]);
    /// assert_eq!(h.encoded_len(), 14);
    /// ```
    pub const fn encoded_len(&self) -> usize {
        let len = if self.payload_len < 126 {
            2
        } else if self.payload_len <= 0xFFFF {
            4
        } else {
            10
        };
        if self.mask.is_some() {
            len + 4
        } else {
            len
        }
    }

    /// Writes the header in its shortest form, returning the bytes written.
    ///
    /// Only the low 3 bits of `rsv` and the low 63 bits of the length are
    /// encodable; the length's top bit is cleared so the output is always a
    /// valid header.
    ///
    /// ```
    /// use ws_proto::frame::{FrameHeader, OpCode};
    ///
    /// // RFC 6455 §5.7: a 256-byte binary message in a single unmasked frame.
    /// let mut buf = [0u8; 14];
    /// let n = FrameHeader::new(OpCode::Binary, true, 256).encode(&mut buf);
    /// assert_eq!(&buf[..n], &[0x82, 0x7E, 0x01, 0x00]);
    /// ```
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0b111) << 4) | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let len = self.payload_len & (u64::MAX >> 1);
        let mut pos = if len < 126 {
            out[1] = mask_bit | len as u8;
            2
        } else if len <= 0xFFFF {
            out[1] = mask_bit | 126;
            out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        } else {
            out[1] = mask_bit | 127;
            out[2..10].copy_from_slice(&len.to_be_bytes());
            10
        };
        if let Some(key) = self.mask {
            out[pos..pos + 4].copy_from_slice(&key);
            pos += 4;
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> (FrameHeader, usize) {
        FrameHeader::decode(bytes).unwrap().unwrap()
    }

    #[test]
    fn rfc_5_7_examples() {
        // A single-frame unmasked text message "Hello".
        let (h, n) = decode_all(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(
            (h.fin, h.opcode, h.mask, h.payload_len, n),
            (true, OpCode::Text, None, 5, 2)
        );
        // A fragmented unmasked text message: "Hel" then "lo".
        let (h, _) = decode_all(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
        assert_eq!((h.fin, h.opcode, h.payload_len), (false, OpCode::Text, 3));
        let (h, _) = decode_all(&[0x80, 0x02, 0x6c, 0x6f]);
        assert_eq!(
            (h.fin, h.opcode, h.payload_len),
            (true, OpCode::Continuation, 2)
        );
        // Unmasked ping "Hello", masked pong "Hello".
        let (h, _) = decode_all(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!((h.opcode, h.payload_len), (OpCode::Ping, 5));
        let (h, n) = decode_all(&[
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ]);
        assert_eq!(
            (h.opcode, h.mask, n),
            (OpCode::Pong, Some([0x37, 0xfa, 0x21, 0x3d]), 6)
        );
        // 256 bytes and 64 KiB binary messages in a single unmasked frame.
        let (h, n) = decode_all(&[0x82, 0x7E, 0x01, 0x00]);
        assert_eq!((h.payload_len, n), (256, 4));
        let (h, n) = decode_all(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
        assert_eq!((h.payload_len, n), (65536, 10));
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let mut h = FrameHeader::new(OpCode::Binary, false, 1 << 40);
        h.mask = Some([9, 8, 7, 6]);
        let mut buf = [0; 14];
        let n = h.encode(&mut buf);
        assert_eq!(n, 14);
        for i in 0..n {
            assert_eq!(FrameHeader::decode(&buf[..i]), Ok(None), "prefix {i}");
        }
        assert_eq!(FrameHeader::decode(&buf), Ok(Some((h, 14))));
    }

    #[test]
    fn header_errors() {
        assert_eq!(
            FrameHeader::decode(&[0x8B]),
            Err(FrameError::ReservedOpcode(0xB))
        );
        assert_eq!(
            FrameHeader::decode(&[0x09]),
            Err(FrameError::FragmentedControlFrame)
        );
        assert_eq!(
            FrameHeader::decode(&[0x89, 126, 0, 126]),
            Err(FrameError::ControlFrameTooLong(126))
        );
        assert_eq!(
            FrameHeader::decode(&[0x82, 126, 0, 125]),
            Err(FrameError::NonMinimalLength)
        );
        assert_eq!(
            FrameHeader::decode(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]),
            Err(FrameError::NonMinimalLength)
        );
        // The top bit is reported as soon as its byte arrives.
        assert_eq!(
            FrameHeader::decode(&[0x82, 127, 0x80]),
            Err(FrameError::LengthTopBitSet)
        );
    }

    #[test]
    fn connection_rules() {
        let server = FrameRules {
            role: Role::Server,
            allowed_rsv: 0,
            max_payload: 100,
        };
        let client = FrameRules {
            role: Role::Client,
            ..server
        };
        let mut h = FrameHeader::new(OpCode::Text, true, 10);
        assert_eq!(h.check(&server), Err(FrameError::UnmaskedFrame));
        assert_eq!(h.check(&client), Ok(()));
        h.mask = Some([0; 4]);
        assert_eq!(h.check(&server), Ok(()));
        assert_eq!(h.check(&client), Err(FrameError::MaskedFrame));
        h.rsv = RSV1 | RSV3;
        assert_eq!(
            h.check(&server),
            Err(FrameError::ReservedBitsSet(RSV1 | RSV3))
        );
        assert_eq!(
            h.check(&FrameRules {
                allowed_rsv: RSV1,
                ..server
            }),
            Err(FrameError::ReservedBitsSet(RSV3))
        );
        h.rsv = 0;
        h.payload_len = 101;
        let err = h.check(&server).unwrap_err();
        assert_eq!(err, FrameError::PayloadTooLarge { len: 101, max: 100 });
        assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
    }

    #[cfg(not(miri))]
    mod props {
        use super::*;
        use proptest::prelude::*;

        fn arb_header() -> impl Strategy<Value = FrameHeader> {
            let op = prop_oneof![
                Just(OpCode::Continuation),
                Just(OpCode::Text),
                Just(OpCode::Binary),
                Just(OpCode::Close),
                Just(OpCode::Ping),
                Just(OpCode::Pong),
            ];
            let len = prop_oneof![0u64..=200, 100u64..=70000, 0u64..=(u64::MAX >> 1)];
            (
                op,
                any::<bool>(),
                0u8..8,
                proptest::option::of(any::<[u8; 4]>()),
                len,
            )
                .prop_map(|(opcode, fin, rsv, mask, len)| {
                    let control = opcode.is_control();
                    FrameHeader {
                        fin: fin || control,
                        rsv,
                        opcode,
                        mask,
                        payload_len: if control { len % 126 } else { len },
                    }
                })
        }

        proptest! {
            #[test]
            fn encode_then_decode_roundtrips(h in arb_header(), trailing in proptest::collection::vec(any::<u8>(), 0..4)) {
                let mut buf = [0u8; MAX_HEADER_LEN];
                let n = h.encode(&mut buf);
                prop_assert_eq!(n, h.encoded_len());
                let mut bytes = buf[..n].to_vec();
                bytes.extend_from_slice(&trailing);
                prop_assert_eq!(FrameHeader::decode(&bytes), Ok(Some((h, n))));
                for i in 0..n {
                    prop_assert_eq!(FrameHeader::decode(&bytes[..i]), Ok(None));
                }
            }

            #[test]
            fn decode_never_panics_and_is_prefix_stable(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
                // Once a prefix decides (header or error), longer input decides the same.
                let full = FrameHeader::decode(&bytes);
                for i in 0..=bytes.len() {
                    match FrameHeader::decode(&bytes[..i]) {
                        Ok(None) => {}
                        decided => { prop_assert_eq!(decided, full); break; }
                    }
                }
            }
        }
    }
}
