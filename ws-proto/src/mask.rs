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

/// A generator of masking keys that an observer cannot predict (RFC 6455
/// §5.3: "the masking key MUST NOT be predictable from earlier ones"; §10.3:
/// a script in a browser must not be able to choose the bytes an
/// intermediary sees).
///
/// Keys are drawn from the ChaCha20 stream (RFC 8439) keyed with 32 bytes
/// of the caller's entropy: sixteen keys per block. Unlike a plain PRNG,
/// whose state can be recovered from its outputs (and the keys are on the
/// wire for everyone to read), ChaCha20 is a stream cipher: recovering its
/// key from its output is as hard as breaking the cipher. The core has no
/// source of entropy of its own, so the seed must come from the operating
/// system's CSPRNG (the drivers use `getrandom`); a fixed seed gives fixed
/// keys, which is only right in tests.
///
/// ```
/// use ws_proto::mask::MaskKeys;
///
/// let mut a = MaskKeys::new([7; 32]);
/// let mut b = MaskKeys::new([7; 32]);
/// assert_eq!(a.next_key(), b.next_key(), "deterministic for a given seed");
/// assert_ne!(a.next_key(), MaskKeys::new([8; 32]).next_key());
/// ```
#[derive(Clone)]
pub struct MaskKeys {
    key: [u32; 8],
    counter: u64,
    block: [u8; 64],
    used: usize,
}

impl core::fmt::Debug for MaskKeys {
    // The key stays out of logs: with it, every future mask is known.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MaskKeys").finish_non_exhaustive()
    }
}

impl MaskKeys {
    /// A generator keyed with 32 random bytes.
    ///
    /// ```
    /// # use ws_proto::mask::MaskKeys;
    /// let keys = MaskKeys::new([0x42; 32]);
    /// # drop(keys);
    /// ```
    pub fn new(seed: [u8; 32]) -> Self {
        let mut key = [0u32; 8];
        for (i, w) in key.iter_mut().enumerate() {
            *w = u32::from_le_bytes([
                seed[4 * i],
                seed[4 * i + 1],
                seed[4 * i + 2],
                seed[4 * i + 3],
            ]);
        }
        MaskKeys {
            key,
            counter: 0,
            block: [0; 64],
            used: 64,
        }
    }

    /// The next masking key.
    ///
    /// ```
    /// # use ws_proto::mask::MaskKeys;
    /// let mut keys = MaskKeys::new([1; 32]);
    /// let first = keys.next_key();
    /// assert_ne!(first, keys.next_key());
    /// ```
    pub fn next_key(&mut self) -> [u8; 4] {
        if self.used == 64 {
            // A 64-bit block counter with a zero nonce: 2^64 blocks of 16
            // keys each can never be exhausted by one connection.
            let counter = self.counter;
            self.counter = self.counter.wrapping_add(1);
            let nonce = [0, 0];
            let words = chacha20_block(&self.key, counter, nonce);
            for (chunk, w) in self.block.chunks_exact_mut(4).zip(words) {
                chunk.copy_from_slice(&w.to_le_bytes());
            }
            self.used = 0;
        }
        let k = [
            self.block[self.used],
            self.block[self.used + 1],
            self.block[self.used + 2],
            self.block[self.used + 3],
        ];
        self.used += 4;
        k
    }
}

/// One ChaCha20 block (RFC 8439 §2.3) with the original 64-bit counter and
/// 64-bit nonce layout.
fn chacha20_block(key: &[u32; 8], counter: u64, nonce: [u32; 2]) -> [u32; 16] {
    const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];
    let mut init = [0u32; 16];
    init[..4].copy_from_slice(&SIGMA);
    init[4..12].copy_from_slice(key);
    init[12] = counter as u32;
    init[13] = (counter >> 32) as u32;
    init[14] = nonce[0];
    init[15] = nonce[1];
    let mut s = init;
    #[inline(always)]
    fn qr(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
        s[a] = s[a].wrapping_add(s[b]);
        s[d] = (s[d] ^ s[a]).rotate_left(16);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_left(12);
        s[a] = s[a].wrapping_add(s[b]);
        s[d] = (s[d] ^ s[a]).rotate_left(8);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_left(7);
    }
    for _ in 0..10 {
        qr(&mut s, 0, 4, 8, 12);
        qr(&mut s, 1, 5, 9, 13);
        qr(&mut s, 2, 6, 10, 14);
        qr(&mut s, 3, 7, 11, 15);
        qr(&mut s, 0, 5, 10, 15);
        qr(&mut s, 1, 6, 11, 12);
        qr(&mut s, 2, 7, 8, 13);
        qr(&mut s, 3, 4, 9, 14);
    }
    for (w, i) in s.iter_mut().zip(init) {
        *w = w.wrapping_add(i);
    }
    s
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
    fn chacha20_block_matches_rfc8439_2_3_2() {
        let key: [u32; 8] = core::array::from_fn(|i| {
            let b = (4 * i) as u8;
            u32::from_le_bytes([b, b + 1, b + 2, b + 3])
        });
        // RFC 8439's 32-bit counter 1 and 96-bit nonce 00:00:00:09:00:00:00:4a:00:00:00:00,
        // laid out in this function's 64-bit counter / 64-bit nonce words.
        let out = chacha20_block(&key, 1 | (0x0900_0000u64 << 32), [0x4a00_0000, 0]);
        assert_eq!(
            &out[..4],
            &[0xe4e7_f110, 0x1559_3bd1, 0x1fdd_0f50, 0xc471_20a3]
        );
        assert_eq!(out[15], 0x4e3c_50a2);
    }

    #[test]
    fn mask_keys_are_the_keystream_in_order() {
        let mut keys = MaskKeys::new([0; 32]);
        let block0 = chacha20_block(&[0; 8], 0, [0, 0]);
        let block1 = chacha20_block(&[0; 8], 1, [0, 0]);
        for w in block0.iter().chain(block1.iter()) {
            assert_eq!(keys.next_key(), w.to_le_bytes());
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
