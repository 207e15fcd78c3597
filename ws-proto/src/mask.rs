//! Masking and unmasking of frame payloads (RFC 6455 §5.3).
//!
//! Masking is an XOR with a repeating 4-byte key, so the same function masks
//! and unmasks. The `offset` argument is the number of payload bytes that were
//! already processed with this key, which lets a payload be unmasked piece by
//! piece as it arrives from the network: unmasking `a` at offset 0 and then `b`
//! at offset `a.len()` gives the same bytes as unmasking `a ++ b` at once.

/// Bytes processed per step of the wide loop. A multiple of 4, so the key
/// pattern lines up at every step; 64 lets the compiler use full vector
/// registers on every common target without any `unsafe`.
const WIDE: usize = 64;

/// XORs `buf` in place with the mask `key`, starting `offset` bytes into the
/// payload.
///
/// # Example
///
/// ```
/// use ws_proto::mask::apply_mask;
///
/// // RFC 6455 §5.7: a masked "Hello".
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut payload = *b"Hello";
/// apply_mask(&mut payload, key, 0);
/// assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
///
/// // Piecewise unmasking gives back the original bytes.
/// let (head, tail) = payload.split_at_mut(2);
/// apply_mask(head, key, 0);
/// apply_mask(tail, key, 2);
/// assert_eq!(&payload, b"Hello");
/// ```
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // Rotate the key so that index 0 of `buf` uses the right key byte; from
    // then on the pattern is aligned to the start of `buf`.
    let r = offset & 3;
    let key = [key[r], key[(r + 1) & 3], key[(r + 2) & 3], key[(r + 3) & 3]];
    if buf.len() < WIDE {
        // Short payloads (most control frames, chat messages): building the
        // wide pattern would cost more than it saves.
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[i & 3];
        }
        return;
    }
    let mut pattern = [0u8; WIDE];
    for (i, b) in pattern.iter_mut().enumerate() {
        *b = key[i & 3];
    }
    let mut chunks = buf.chunks_exact_mut(WIDE);
    for chunk in &mut chunks {
        for (b, m) in chunk.iter_mut().zip(pattern.iter()) {
            *b ^= *m;
        }
    }
    // The remainder starts at a multiple of WIDE, hence of 4.
    for (b, m) in chunks.into_remainder().iter_mut().zip(pattern.iter()) {
        *b ^= *m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious byte-at-a-time definition, to check the fast path against.
    fn reference(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    #[test]
    fn matches_reference_for_every_length_and_offset() {
        let key = [0x01, 0x23, 0x45, 0x67];
        for len in 0..200 {
            for offset in 0..8 {
                let orig: [u8; 200] = core::array::from_fn(|i| (i * 7) as u8);
                let mut fast = orig;
                let mut slow = orig;
                apply_mask(&mut fast[..len], key, offset);
                reference(&mut slow[..len], key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn rfc_example() {
        let mut buf = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut buf, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&buf, b"Hello");
    }

    #[cfg(not(miri))]
    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn masking_twice_is_identity(data in proptest::collection::vec(any::<u8>(), 0..2000),
                                         key in any::<[u8; 4]>(), offset in 0usize..16) {
                let mut buf = data.clone();
                apply_mask(&mut buf, key, offset);
                apply_mask(&mut buf, key, offset);
                prop_assert_eq!(buf, data);
            }

            #[test]
            fn piecewise_equals_whole(data in proptest::collection::vec(any::<u8>(), 0..2000),
                                      key in any::<[u8; 4]>(),
                                      cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8)) {
                let mut whole = data.clone();
                apply_mask(&mut whole, key, 0);
                let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
                points.push(0);
                points.push(data.len());
                points.sort_unstable();
                let mut piecewise = data.clone();
                for w in points.windows(2) {
                    apply_mask(&mut piecewise[w[0]..w[1]], key, w[0]);
                }
                prop_assert_eq!(piecewise, whole);
            }
        }
    }
}
