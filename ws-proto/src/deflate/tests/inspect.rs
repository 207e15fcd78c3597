//! An independent raw-deflate decoder (after zlib's `puff.c`) for tests: it
//! shares no code with either backend and records the farthest distance a
//! stream refers to, so a compressor's window limit can be checked exactly.

use alloc::vec::Vec;

/// Decodes the messages of one direction in order, keeping all output as
/// the window (context takeover is the general case; a stream that does not
/// refer back decodes the same).
#[derive(Default)]
pub(crate) struct Inspector {
    history: Vec<u8>,
    /// Where the current message's output starts in `history`.
    message_start: usize,
    /// The farthest back any match referred, over all messages.
    pub(crate) max_distance: usize,
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    bit: u32,
    nbits: u32,
}

impl Bits<'_> {
    fn need(&mut self, n: u32) -> Result<u32, &'static str> {
        let mut val = self.bit;
        while self.nbits < n {
            let byte = *self.data.get(self.pos).ok_or("input ends inside a block")?;
            self.pos += 1;
            val |= u32::from(byte) << self.nbits;
            self.nbits += 8;
        }
        self.bit = val >> n;
        self.nbits -= n;
        Ok(val & ((1u32 << n) - 1))
    }

    fn align(&mut self) {
        self.bit = 0;
        self.nbits = 0;
    }

    fn at_end(&self) -> bool {
        self.pos == self.data.len()
    }
}

struct Huffman {
    count: [u16; 16],
    symbol: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Result<Self, &'static str> {
        let mut count = [0u16; 16];
        for &l in lengths {
            count[usize::from(l)] += 1;
        }
        let mut left: i32 = 1;
        for &n in &count[1..] {
            left <<= 1;
            left -= i32::from(n);
            if left < 0 {
                return Err("over-subscribed code");
            }
        }
        let mut offs = [0u16; 16];
        for len in 1..15 {
            offs[len + 1] = offs[len] + count[len];
        }
        let mut symbol = alloc::vec![0u16; lengths.len()];
        for (sym, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbol[usize::from(offs[usize::from(l)])] = sym as u16;
                offs[usize::from(l)] += 1;
            }
        }
        Ok(Huffman { count, symbol })
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Result<u16, &'static str> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= bits.need(1)? as i32;
            let count = i32::from(self.count[len]);
            if code - count < first {
                return Ok(self.symbol[(index + (code - first)) as usize]);
            }
            index += count;
            first += count;
            first <<= 1;
            code <<= 1;
        }
        Err("incomplete code")
    }
}

const LBASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEXT: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DBASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DEXT: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

impl Inspector {
    /// Decodes one message's compressed payload (the `00 00 ff ff` tail is
    /// appended here) and returns its bytes. Fails on anything invalid,
    /// including a distance past the start of all data.
    pub(crate) fn message(&mut self, payload: &[u8]) -> Result<Vec<u8>, &'static str> {
        let mut data = payload.to_vec();
        data.extend_from_slice(&super::super::SYNC_MARKER);
        self.message_start = self.history.len();
        let mut bits = Bits {
            data: &data,
            pos: 0,
            bit: 0,
            nbits: 0,
        };
        loop {
            let _last = bits.need(1)?;
            match bits.need(2)? {
                0 => self.stored(&mut bits)?,
                1 => {
                    let mut lengths = [0u8; 288];
                    lengths[..144].fill(8);
                    lengths[144..256].fill(9);
                    lengths[256..280].fill(7);
                    lengths[280..].fill(8);
                    let lit = Huffman::new(&lengths)?;
                    let dist = Huffman::new(&[5u8; 30])?;
                    self.codes(&mut bits, &lit, &dist)?;
                }
                2 => {
                    let (lit, dist) = Self::dynamic_tables(&mut bits)?;
                    self.codes(&mut bits, &lit, &dist)?;
                }
                _ => return Err("invalid block type"),
            }
            // A sync flush ends byte-aligned on the data's last byte; a final
            // block ends a stream and the next bytes start another one.
            if bits.at_end() && bits.nbits < 8 && bits.bit == 0 {
                break;
            }
        }
        Ok(self.history[self.message_start..].to_vec())
    }

    fn stored(&mut self, bits: &mut Bits<'_>) -> Result<(), &'static str> {
        bits.align();
        let d = bits.data;
        if bits.pos + 4 > d.len() {
            return Err("stored header cut");
        }
        let len = usize::from(u16::from_le_bytes([d[bits.pos], d[bits.pos + 1]]));
        let nlen = u16::from_le_bytes([d[bits.pos + 2], d[bits.pos + 3]]);
        if nlen != !(len as u16) {
            return Err("stored length mismatch");
        }
        bits.pos += 4;
        let body = d.get(bits.pos..bits.pos + len).ok_or("stored body cut")?;
        self.history.extend_from_slice(body);
        bits.pos += len;
        Ok(())
    }

    fn dynamic_tables(bits: &mut Bits<'_>) -> Result<(Huffman, Huffman), &'static str> {
        const ORDER: [usize; 19] = [
            16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
        ];
        let nlen = bits.need(5)? as usize + 257;
        let ndist = bits.need(5)? as usize + 1;
        let ncode = bits.need(4)? as usize + 4;
        let mut lengths = [0u8; 320];
        for &i in ORDER.iter().take(ncode) {
            lengths[i] = bits.need(3)? as u8;
        }
        let lencode = Huffman::new(&lengths[..19])?;
        let mut lengths = [0u8; 320];
        let mut index = 0;
        while index < nlen + ndist {
            let sym = lencode.decode(bits)?;
            if sym < 16 {
                lengths[index] = sym as u8;
                index += 1;
                continue;
            }
            let (value, repeat) = match sym {
                16 => {
                    if index == 0 {
                        return Err("repeat with no first length");
                    }
                    (lengths[index - 1], 3 + bits.need(2)?)
                }
                17 => (0, 3 + bits.need(3)?),
                _ => (0, 11 + bits.need(7)?),
            };
            for _ in 0..repeat {
                if index >= nlen + ndist {
                    return Err("too many lengths");
                }
                lengths[index] = value;
                index += 1;
            }
        }
        if lengths[256] == 0 {
            return Err("no end-of-block code");
        }
        Ok((
            Huffman::new(&lengths[..nlen])?,
            Huffman::new(&lengths[nlen..nlen + ndist])?,
        ))
    }

    fn codes(
        &mut self,
        bits: &mut Bits<'_>,
        lit: &Huffman,
        dist: &Huffman,
    ) -> Result<(), &'static str> {
        loop {
            let sym = lit.decode(bits)?;
            if sym < 256 {
                self.history.push(sym as u8);
                continue;
            }
            if sym == 256 {
                return Ok(());
            }
            let sym = usize::from(sym - 257);
            if sym >= 29 {
                return Err("invalid length symbol");
            }
            let len = usize::from(LBASE[sym]) + bits.need(u32::from(LEXT[sym]))? as usize;
            let dsym = usize::from(dist.decode(bits)?);
            if dsym >= 30 {
                return Err("invalid distance symbol");
            }
            let d = usize::from(DBASE[dsym]) + bits.need(u32::from(DEXT[dsym]))? as usize;
            if d > self.history.len() {
                return Err("distance before the start of the data");
            }
            self.max_distance = self.max_distance.max(d);
            for _ in 0..len {
                let b = self.history[self.history.len() - d];
                self.history.push(b);
            }
        }
    }
}
