//! §5.2 base framing, §5.3 client-to-server masking, §5.7 examples.

use super::*;
use crate::frame::{FrameError, RSV1};
use crate::mask::MaskKeys;
use alloc::vec;

#[test]
fn rfc_examples_unmasked_and_masked_hello() {
    // §5.7: a single-frame unmasked text message, as a client receives it.
    let mut client = Connection::client(Config::default(), [1; 32]);
    client.feed(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(
        events(&mut client),
        vec![Event::Message(Message::Text("Hello".into()))]
    );

    // §5.7: the same message masked, as a server receives it.
    let mut s = server();
    s.feed(&[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    assert_eq!(
        events(&mut s),
        vec![Event::Message(Message::Text("Hello".into()))]
    );
}

#[test]
fn large_lengths_roundtrip() {
    // Every length form of §5.2: 7-bit, 16-bit (126) and 64-bit (127).
    for len in [0usize, 125, 126, 256, 65535, 65536, 1 << 20] {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut client = Connection::client(Config::default(), [3; 32]);
        client.send_binary(&data).unwrap();
        let mut s = server();
        s.feed(client.pending_output());
        assert_eq!(
            events(&mut s),
            vec![Event::Message(Message::Binary(data.into()))],
            "len {len}"
        );
    }
}

#[test]
fn length_forms_on_the_wire() {
    // §5.2 / §5.7: 256 bytes take the 16-bit form, 65536 the 64-bit form.
    let mut s = server();
    s.send_binary(&[0; 256]).unwrap();
    assert_eq!(&s.pending_output()[..4], &[0x82, 0x7E, 0x01, 0x00]);
    let mut s = server();
    s.send_binary(&[0; 65536]).unwrap();
    assert_eq!(
        &s.pending_output()[..10],
        &[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]
    );
}

#[test]
fn unmasked_client_frame_fails_with_1002() {
    let mut s = server();
    s.feed(&bytes(&[0x81, 0x02], b"hi"));
    assert_failed_with(&mut s, Error::Frame(FrameError::UnmaskedFrame));
}

#[test]
fn masked_server_frame_fails_client() {
    let mut c = Connection::client(Config::default(), [1; 32]);
    c.feed(&bytes(&[0x82, 0x82, 0, 0, 0, 0], b"hi"));
    assert_failed_with(&mut c, Error::Frame(FrameError::MaskedFrame));
}

#[test]
fn rsv_bits_without_extension_fail() {
    let mut s = server();
    // 0xC1: FIN, RSV1, text.
    s.feed(&bytes(&[0xC1, 0x82, 0, 0, 0, 0], b"hi"));
    assert_failed_with(&mut s, Error::Frame(FrameError::ReservedBitsSet(RSV1)));
}

#[test]
fn reserved_opcode_fails() {
    let mut s = server();
    s.feed(&[0x83, 0x80, 0, 0, 0, 0]);
    assert_failed_with(&mut s, Error::Frame(FrameError::ReservedOpcode(3)));
}

#[test]
fn client_frames_are_masked_with_fresh_keys() {
    let mut c = Connection::client(Config::default(), [5; 32]);
    c.send_binary(b"ab").unwrap();
    c.send_binary(b"ab").unwrap();
    let out = c.pending_output();
    assert_eq!(out.len(), 16);
    assert_eq!(&out[..2], &[0x82, 0x82]);
    assert_eq!(&out[8..10], &[0x82, 0x82]);
    assert_ne!(&out[2..6], &out[10..14], "a new key per frame (§5.3)");
    let frames = decode_frames(out, Role::Client);
    assert!(frames.iter().all(|f| f.2 == b"ab"));
}

#[test]
fn mask_keys_vary() {
    let mut rng = MaskKeys::new([0; 32]);
    let keys: Vec<[u8; 4]> = (0..64).map(|_| rng.next_key()).collect();
    let mut dedup = keys.clone();
    dedup.sort_unstable();
    dedup.dedup();
    assert_eq!(dedup.len(), keys.len());
}

#[test]
fn a_pair_exchanges_every_length_form_by_every_delivery() {
    let mut pair = Pair::new(Config::default(), Config::default(), [9; 32]);
    for (i, len) in [0usize, 125, 126, 65535, 65536, 70_000]
        .into_iter()
        .enumerate()
    {
        let data: Vec<u8> = (0..len).map(|b| (b * 7) as u8).collect();
        let how = [Delivery::Feed, Delivery::Lend, Delivery::Vectored][i % 3];
        pair.send(End::Client, MessageKind::Binary, &data, i % 2 == 0)
            .unwrap();
        pair.send(End::Server, MessageKind::Binary, &data, i % 2 == 1)
            .unwrap();
        // Odd-sized writes, so frames arrive cut anywhere.
        while pair.connection(End::Client).output_len() > 0
            || pair.connection(End::Server).output_len() > 0
        {
            pair.deliver(End::Client, 1000 + i, how);
            pair.deliver(End::Server, 999 + i, how);
        }
        assert_eq!(pair.received(End::Server), i + 1);
        assert_eq!(pair.received(End::Client), i + 1);
    }
    pair.finish();
}

/// Issue 8: a message whose frame is complete in the receive buffer is
/// unmasked in place and handed out as a slice of that buffer, and echoing
/// it queues the same bytes by reference.
#[test]
fn a_single_frame_message_is_delivered_and_echoed_without_a_copy() {
    let payload = vec![0x5Au8; 1000];
    let wire = frame(2, true, &payload, Some([1, 2, 3, 4]));
    let mut s = server();
    let buf = s.recv_buffer(wire.len());
    let range = buf.as_ptr_range();
    buf[..wire.len()].copy_from_slice(&wire);
    s.commit(wire.len());
    let message = match s.poll_event() {
        Some(Event::Message(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(message.as_bytes(), &payload[..]);
    assert!(
        range.contains(&message.as_bytes().as_ptr()),
        "the payload is where the driver read it"
    );
    s.send(&message).unwrap();
    let mut runs = [&[][..]; 4];
    let n = s.output_chunks(&mut runs);
    assert_eq!(n, 2, "header, then the payload by reference");
    assert_eq!(runs[1].as_ptr(), message.as_bytes().as_ptr());
}

/// Fragments are copied once into the reassembly buffer; text is checked as
/// it arrives and delivered as `Utf8Bytes`.
#[test]
fn fragmented_text_is_reassembled_and_checked_once() {
    let text = "κόσμε ".repeat(40);
    let (a, b) = text.as_bytes().split_at(101); // inside a character
    let mut s = server();
    s.feed(&frame(1, false, a, Some([9, 8, 7, 6])));
    s.feed(&frame(0, true, b, Some([1, 1, 1, 1])));
    assert_eq!(
        events(&mut s),
        vec![Event::Message(Message::Text(text.as_str().into()))]
    );
}
