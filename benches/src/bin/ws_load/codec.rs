//! A tiny client-side frame codec, written apart from ws-proto on purpose:
//! the generator must not share code with the stack it checks.

/// Opcodes (RFC 6455 §5.2).
pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// The largest frame payload accepted from a server; matches the 64 MiB
/// message limit every server under test is configured with.
pub const MAX_PAYLOAD: u64 = 64 << 20;

/// A decoded server frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub fin: bool,
    pub opcode: u8,
    pub len: usize,
    pub header_len: usize,
}

/// What makes a server frame unacceptable to this client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecError {
    /// RSV bits set although no extension was negotiated.
    Reserved,
    /// Servers must not mask (§5.1).
    Masked,
    /// An opcode RFC 6455 leaves reserved.
    UnknownOpcode(u8),
    /// A control frame that is fragmented or longer than 125 bytes (§5.5).
    BadControl,
    /// A payload longer than [`MAX_PAYLOAD`].
    TooLong(u64),
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodecError::Reserved => write!(f, "server frame has RSV bits set"),
            CodecError::Masked => write!(f, "server frame is masked"),
            CodecError::UnknownOpcode(op) => write!(f, "server frame has reserved opcode {op:#x}"),
            CodecError::BadControl => {
                write!(f, "server control frame fragmented or over 125 bytes")
            }
            CodecError::TooLong(n) => {
                write!(f, "server frame payload of {n} bytes is over the limit")
            }
        }
    }
}

/// Decodes a server frame header from the start of `buf`; `Ok(None)` when
/// more bytes are needed to know its length.
pub fn decode(buf: &[u8]) -> Result<Option<Header>, CodecError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(CodecError::Reserved);
    }
    if b1 & 0x80 != 0 {
        return Err(CodecError::Masked);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    if !matches!(opcode, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG) {
        return Err(CodecError::UnknownOpcode(opcode));
    }
    let (len, header_len) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            None => return Ok(None),
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
        },
        127 => match buf.get(2..10) {
            None => return Ok(None),
            Some(b) => (u64::from_be_bytes(b.try_into().expect("8 bytes")), 10),
        },
        n => (u64::from(n), 2),
    };
    if opcode >= CLOSE && (!fin || len > 125) {
        return Err(CodecError::BadControl);
    }
    if len > MAX_PAYLOAD {
        return Err(CodecError::TooLong(len));
    }
    Ok(Some(Header {
        fin,
        opcode,
        len: len as usize,
        header_len,
    }))
}

/// Appends one masked client frame with FIN set to `out`; its payload is the
/// concatenation of `parts`, masked with `mask` (the caller's bytes are not
/// touched).
pub fn encode_masked(out: &mut Vec<u8>, opcode: u8, parts: &[&[u8]], mask: [u8; 4]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    for part in parts {
        out.extend_from_slice(part);
    }
    apply_mask(&mut out[start..], mask);
}

/// XORs `buf` with the repeating 4-byte `mask`, eight bytes at a time.
fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let v = u64::from_ne_bytes((&*chunk).try_into().expect("8 bytes")) ^ wide;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    // The tail starts at a multiple of 8, so the key phase is back at 0.
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unmask(frame: &[u8], header_len: usize) -> Vec<u8> {
        let mask: [u8; 4] = frame[header_len - 4..header_len].try_into().unwrap();
        frame[header_len..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect()
    }

    #[test]
    fn encodes_the_three_length_forms_with_a_masked_payload() {
        for (len, header_len) in [(0, 6), (125, 6), (126, 8), (65535, 8), (65536, 14)] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut out = Vec::new();
            encode_masked(
                &mut out,
                BINARY,
                &[&payload[..len / 3], &payload[len / 3..]],
                [1, 2, 3, 250],
            );
            assert_eq!(out[0], 0x82);
            assert_eq!(out.len(), header_len + len, "len {len}");
            assert_eq!(unmask(&out, header_len), payload, "len {len}");
        }
    }

    #[test]
    fn decodes_server_headers_and_waits_for_more_bytes() {
        assert_eq!(decode(&[0x81]), Ok(None));
        assert_eq!(decode(&[0x82, 126, 1]), Ok(None));
        assert_eq!(
            decode(&[0x02, 126, 1, 0]),
            Ok(Some(Header {
                fin: false,
                opcode: BINARY,
                len: 256,
                header_len: 4
            }))
        );
        assert_eq!(
            decode(&[0x89, 3]),
            Ok(Some(Header {
                fin: true,
                opcode: PING,
                len: 3,
                header_len: 2
            }))
        );
    }

    #[test]
    fn refuses_what_a_server_must_not_send() {
        assert_eq!(decode(&[0x81, 0x81]), Err(CodecError::Masked));
        assert_eq!(decode(&[0xC1, 1]), Err(CodecError::Reserved));
        assert_eq!(decode(&[0x83, 1]), Err(CodecError::UnknownOpcode(3)));
        assert_eq!(decode(&[0x09, 1]), Err(CodecError::BadControl));
        assert_eq!(decode(&[0x89, 126, 0, 126]), Err(CodecError::BadControl));
        let mut huge = vec![0x82, 127];
        huge.extend_from_slice(&(MAX_PAYLOAD + 1).to_be_bytes());
        assert_eq!(decode(&huge), Err(CodecError::TooLong(MAX_PAYLOAD + 1)));
    }
}
