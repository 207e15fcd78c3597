//! `FrameHeader::decode` on arbitrary bytes.
//!
//! Invariants: never panics; the answer is prefix-stable (once a prefix
//! decides — a header or an error — every longer buffer gives the same
//! answer, and 14 bytes always decide); a decoded header re-encodes to
//! exactly the bytes it came from (decode only accepts the minimal length
//! form, so there is no other valid spelling); `check` agrees with its rules;
//! and any encodable header round-trips through `encode` then `decode`.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use ws_proto::frame::{FrameHeader, FrameRules, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use ws_proto::Role;

fuzz_target!(|data: &[u8]| {
    let full = FrameHeader::decode(data);

    // Prefix stability.
    let mut decided_at = None;
    for k in 0..=data.len().min(MAX_HEADER_LEN + 1) {
        let r = FrameHeader::decode(&data[..k]);
        match (&r, decided_at) {
            (Ok(None), None) => {}
            (Ok(None), Some(at)) => panic!("prefix {at} decided but prefix {k} is undecided"),
            (_, None) => {
                assert_eq!(r, full, "prefix {k} disagrees with the whole buffer");
                decided_at = Some(k);
            }
            (_, Some(_)) => assert_eq!(r, full, "longer prefix {k} changed its answer"),
        }
        if let Ok(Some((_, n))) = r {
            assert!(
                n <= k && n <= MAX_HEADER_LEN,
                "header length {n} from {k} bytes"
            );
        }
    }
    if data.len() >= MAX_HEADER_LEN {
        assert!(
            full != Ok(None),
            "{} bytes left the header undecided",
            data.len()
        );
    }

    match full {
        Ok(Some((header, n))) => {
            let mut buf = [0u8; MAX_HEADER_LEN];
            let m = header.encode(&mut buf);
            assert_eq!(m, n, "re-encoded length");
            assert_eq!(header.encoded_len(), n);
            assert_eq!(&buf[..m], &data[..n], "re-encoding changed the bytes");
            assert!(header.payload_len < 1 << 63);
            if header.opcode.is_control() {
                assert!(header.fin && header.payload_len <= MAX_CONTROL_PAYLOAD as u64);
            }
            check_rules(&header, data);
        }
        Ok(None) => {}
        Err(e) => assert!(e.close_code().is_valid_on_wire(), "{e:?}"),
    }

    // Structured: any valid header round-trips.
    let mut u = Unstructured::new(data);
    if let Ok(h) = ArbHeader::arbitrary(&mut u) {
        let header = h.into_header();
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut buf);
        assert_eq!(FrameHeader::decode(&buf[..n]), Ok(Some((header, n))));
        for k in 0..n {
            assert_eq!(
                FrameHeader::decode(&buf[..k]),
                Ok(None),
                "{header:?} at {k}"
            );
        }
    }
});

fn check_rules(header: &FrameHeader, data: &[u8]) {
    let mut u = Unstructured::new(data);
    let allowed_rsv = u.arbitrary::<u8>().unwrap_or(0) & 0b111;
    let max_payload = u.arbitrary::<u64>().unwrap_or(0);
    for role in [Role::Server, Role::Client] {
        let rules = FrameRules {
            role,
            allowed_rsv,
            max_payload,
        };
        let expect_ok = header.rsv & !allowed_rsv == 0
            && header.mask.is_some() == (role == Role::Server)
            && header.payload_len <= max_payload;
        let got = header.check(&rules);
        assert_eq!(got.is_ok(), expect_ok, "{header:?} {rules:?} {got:?}");
        if let Err(e) = got {
            assert!(e.close_code().is_valid_on_wire());
        }
    }
}

#[derive(Arbitrary, Debug)]
struct ArbHeader {
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len: u64,
}

impl ArbHeader {
    fn into_header(self) -> FrameHeader {
        let opcode = [
            OpCode::Continuation,
            OpCode::Text,
            OpCode::Binary,
            OpCode::Close,
            OpCode::Ping,
            OpCode::Pong,
        ][self.opcode as usize % 6];
        let (fin, payload_len) = if opcode.is_control() {
            (true, self.len % (MAX_CONTROL_PAYLOAD as u64 + 1))
        } else {
            // Small lengths matter most: spread them over the three forms.
            let len = match self.len % 4 {
                0 => (self.len >> 2) % 126,
                1 => 126 + (self.len >> 2) % (0x1_0000 - 126),
                _ => self.len >> 1,
            };
            (self.fin, len)
        };
        FrameHeader {
            fin,
            rsv: self.rsv & 0b111,
            opcode,
            mask: self.mask,
            payload_len,
        }
    }
}
