//! What each connection sends: a per-connection random pattern of exactly
//! the requested size, with the message's sequence number stamped over its
//! first bytes so that a dropped, repeated or reordered echo differs from
//! the one expected even when all messages have the same size.

use std::hash::{BuildHasher, Hasher};

/// A small, fast generator (SplitMix64) for payload bytes and masking keys.
/// Keys only need to differ per frame here; the load generator is no
/// security boundary.
pub struct Rng(u64);

impl Rng {
    /// Seeded from std's randomly keyed hasher (keys drawn from the OS).
    pub fn from_os(salt: u64) -> Rng {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        Rng(h.finish())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn mask(&mut self) -> [u8; 4] {
        (self.next_u64() as u32).to_ne_bytes()
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next_u64() % u64::from(n)) as u32
    }
}

/// How many leading bytes carry the sequence number.
const STAMP_LEN: usize = 8;

/// The message every connection sends, apart from its stamp.
pub struct Pattern {
    text: bool,
    base: Vec<u8>,
    stamp_len: usize,
}

impl Pattern {
    /// A binary pattern of random bytes, or a text pattern of random
    /// characters of 1, 2, 3 and 4 UTF-8 bytes, `size` bytes in all.
    pub fn new(size: usize, text: bool, rng: &mut Rng) -> Pattern {
        let stamp_len = size.min(STAMP_LEN);
        let mut base = vec![b'0'; stamp_len];
        if text {
            let mut left = size - stamp_len;
            let mut utf8 = [0u8; 4];
            while left > 0 {
                let width = 1 + rng.below(left.min(4) as u32);
                let c = random_char(width, rng);
                let bytes = c.encode_utf8(&mut utf8).as_bytes();
                debug_assert_eq!(bytes.len(), width as usize);
                base.extend_from_slice(bytes);
                left -= bytes.len();
            }
        } else {
            base.extend((stamp_len..size).map(|_| rng.next_u64() as u8));
        }
        debug_assert_eq!(base.len(), size);
        Pattern {
            text,
            base,
            stamp_len,
        }
    }

    pub fn is_text(&self) -> bool {
        self.text
    }

    pub fn len(&self) -> usize {
        self.base.len()
    }

    /// The bytes after the stamp, the same in every message.
    pub fn tail(&self) -> &[u8] {
        &self.base[self.stamp_len..]
    }

    /// The first bytes of message `seq`: hex digits for text (so the
    /// message stays valid UTF-8), little-endian bytes for binary.
    pub fn stamp(&self, seq: u64) -> [u8; STAMP_LEN] {
        if self.text {
            let mut out = [0u8; STAMP_LEN];
            for (i, b) in out.iter_mut().enumerate() {
                let nibble = (seq >> (4 * (STAMP_LEN - 1 - i))) & 0xF;
                *b = b"0123456789abcdef"[nibble as usize];
            }
            out
        } else {
            seq.to_le_bytes()
        }
    }

    /// Whether `got` equals bytes `offset..offset + got.len()` of message `seq`.
    pub fn matches_at(&self, seq: u64, offset: usize, got: &[u8]) -> bool {
        let Some(end) = offset.checked_add(got.len()) else {
            return false;
        };
        if end > self.base.len() {
            return false;
        }
        let stamp = self.stamp(seq);
        let stamp = &stamp[..self.stamp_len];
        let split = self.stamp_len.clamp(offset, end);
        let stamp_ok = split == offset || got[..split - offset] == stamp[offset..split];
        stamp_ok && got[split - offset..] == self.base[split..end]
    }
}

/// A random character of `width` UTF-8 bytes, from ranges with no
/// surrogates or noncharacters.
fn random_char(width: u32, rng: &mut Rng) -> char {
    let code = match width {
        1 => 0x20 + rng.below(0x5F),      // printable ASCII
        2 => 0x00A0 + rng.below(0x0760),  // Latin-1 supplement .. Arabic and beyond
        3 => 0x3040 + rng.below(0x0FC0),  // kana, CJK symbols
        _ => 0x1F300 + rng.below(0x0300), // pictographs, emoji
    };
    char::from_u32(code).expect("ranges hold only scalar values")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(p: &Pattern, seq: u64) -> Vec<u8> {
        let mut m = p.stamp(seq)[..p.len().min(STAMP_LEN)].to_vec();
        m.extend_from_slice(p.tail());
        m
    }

    #[test]
    fn text_is_valid_utf8_of_the_exact_size_with_every_width() {
        let mut rng = Rng(1);
        for size in [0, 1, 5, 8, 9, 20, 1000, 16384] {
            let p = Pattern::new(size, true, &mut rng);
            let m = message(&p, 0xdead_beef);
            assert_eq!(m.len(), size);
            let s = std::str::from_utf8(&m).expect("valid UTF-8");
            if size >= 1000 {
                for width in 1..=4 {
                    assert!(s.chars().any(|c| c.len_utf8() == width), "width {width}");
                }
            }
        }
    }

    #[test]
    fn matches_only_the_right_message_at_the_right_offset() {
        let mut rng = Rng(2);
        for text in [false, true] {
            let p = Pattern::new(40, text, &mut rng);
            let m = message(&p, 7);
            assert!(p.matches_at(7, 0, &m));
            assert!(!p.matches_at(8, 0, &m), "another sequence number");
            for split in 0..m.len() {
                assert!(p.matches_at(7, 0, &m[..split]));
                assert!(p.matches_at(7, split, &m[split..]));
            }
            let mut flipped = m.clone();
            flipped[30] ^= 1;
            assert!(!p.matches_at(7, 0, &flipped));
            assert!(!p.matches_at(7, 1, &m[..40]), "past the end");
        }
    }

    #[test]
    fn short_binary_messages_still_carry_part_of_the_stamp() {
        let mut rng = Rng(3);
        let p = Pattern::new(2, false, &mut rng);
        assert!(p.matches_at(0x0102, 0, &[2, 1]));
        assert!(!p.matches_at(0x0103, 0, &[2, 1]));
    }
}
