#![no_std]

use core::panic::PanicInfo;

use ws_proto::frame::FrameHeader;
use ws_proto::handshake::{parse_request, AcceptKey};
use ws_proto::mask::apply_mask;
use ws_proto::negotiation::DeflateConfig;
use ws_proto::utf8::Utf8Validator;

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}

/// Exercises every alloc-free layer so each is compiled and linked here.
#[no_mangle]
pub extern "C" fn ws_nostd_check(buf: *mut u8, len: usize) -> usize {
    if buf.is_null() {
        return 0;
    }
    // SAFETY: the caller passes a valid, exclusive buffer of `len` bytes.
    let buf = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    let mut score = 0;
    if let Ok(Some((header, used))) = FrameHeader::decode(buf) {
        score += used + header.payload_len as usize;
        if let Some(key) = header.mask {
            apply_mask(&mut buf[used..], key, 0);
        }
    }
    let mut v = Utf8Validator::new();
    if v.feed(buf).is_ok() {
        score += 1;
    }
    if let Ok(request) = parse_request(buf) {
        score += 1;
        let agreement = DeflateConfig::default().negotiate(request.extensions());
        score += agreement.response.as_str().len();
        score += usize::from(agreement.negotiated.rsv_mask());
    }
    score
        + AcceptKey::from_key(b"dGhlIHNhbXBsZSBub25jZQ==")
            .as_str()
            .len()
}
