//! §8.1 UTF-8 in text messages: checked as bytes arrive, across fragments,
//! failing with 1007.

use super::*;
use alloc::vec;

#[test]
fn invalid_utf8_fails_fast_mid_frame() {
    // Autobahn 6.4.3: the bad byte arrives in the middle of a frame whose
    // payload is not complete; we fail at once with 1007.
    let payload = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited";
    let wire = bytes(&[0x81, 0x95, 0, 0, 0, 0], payload);
    let mut s = server();
    s.feed(&wire[..6 + 11]); // header + everything before F4 90
    assert_eq!(events(&mut s), vec![]);
    s.feed(&wire[6 + 11..6 + 13]); // F4 90: can never be valid
    assert_failed_with(&mut s, Error::InvalidUtf8);
}

#[test]
fn invalid_utf8_across_fragments_and_truncated_at_end() {
    // "€" (E2 82 AC) split across two fragments is fine.
    let mut s = server();
    s.feed(&[0x01, 0x82, 0, 0, 0, 0, 0xe2, 0x82]);
    s.feed(&[0x80, 0x81, 0, 0, 0, 0, 0xac]);
    assert_eq!(
        events(&mut s),
        vec![Event::Message(Message::Text("€".into()))]
    );

    // A message that ends inside a character is not.
    let mut s = server();
    s.feed(&[0x01, 0x84, 0, 0, 0, 0, b'o', b'k', 0xe2, 0x82]);
    s.feed(&[0x80, 0x80, 0, 0, 0, 0]);
    assert_failed_with(&mut s, Error::InvalidUtf8);
}

#[test]
fn binary_messages_are_not_checked() {
    let mut s = server();
    s.feed(&[0x82, 0x82, 0, 0, 0, 0, 0xff, 0xfe]);
    assert_eq!(
        events(&mut s),
        vec![Event::Message(Message::Binary(Bytes::from_static(
            b"\xff\xfe"
        )))]
    );
}

#[test]
fn invalid_utf8_in_a_streamed_chunk_fails_before_it_is_delivered() {
    let mut s = Connection::server(Config {
        stream_messages: true,
        ..Config::default()
    });
    s.feed(&[0x81, 0x83, 0, 0, 0, 0, b'a', 0xc0, b'b']);
    assert_failed_with(&mut s, Error::InvalidUtf8);
}
