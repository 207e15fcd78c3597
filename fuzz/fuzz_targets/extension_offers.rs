//! `parse_offers` on arbitrary text.
//!
//! Invariants: never panics or loops; stops after the first error (fused);
//! every yielded offer has a token name and parameters that never fail,
//! with token names and well-formed values; and writing the parsed offers
//! back out (as received, and in a canonical form) parses to the same
//! offers.
//!
//! Negotiation (RFC 7692) on the same text, under a few server configs:
//! never panics; either nothing is accepted and the answer is empty, or
//! the agreed window bits are in 8..=15, the answer is one well-formed
//! permessage-deflate element, and a client that offered the text accepts
//! that answer with parameters the server's are safe against.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ws_fuzz::handshake::{canonical_offers, collect_offers};
use ws_proto::extension::parse_offers;
use ws_proto::handshake::{parse_response, ClientRequest};
use ws_proto::negotiation::{DeflateConfig, PERMESSAGE_DEFLATE};
use ws_proto::Role;

const CONFIGS: [DeflateConfig; 3] = [
    DeflateConfig {
        server_max_window_bits: 15,
        client_max_window_bits: 15,
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        require_client_max_window_bits: false,
    },
    DeflateConfig {
        server_max_window_bits: 12,
        client_max_window_bits: 12,
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        require_client_max_window_bits: false,
    },
    DeflateConfig {
        server_max_window_bits: 8,
        client_max_window_bits: 9,
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        require_client_max_window_bits: true,
    },
];

fn check_negotiation(config: &DeflateConfig, text: &str) {
    let agreement = config.negotiate(parse_offers(text));
    let Some(server) = agreement.negotiated.permessage_deflate else {
        assert!(agreement.response.is_empty(), "an answer for nothing");
        return;
    };
    for bits in [server.server_max_window_bits, server.client_max_window_bits] {
        assert!((8..=15).contains(&bits), "window bits {bits}");
    }
    assert!(server.server_max_window_bits <= config.server_max_window_bits);
    assert!(server.client_max_window_bits <= 15);
    let mut answer = parse_offers(agreement.response.as_str());
    let element = answer.next().unwrap().expect("the answer is well-formed");
    assert!(answer.next().is_none(), "one element");
    assert_eq!(element.name(), PERMESSAGE_DEFLATE);

    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
         Sec-WebSocket-Extensions: {}\r\n\r\n",
        agreement.response
    );
    let request = ClientRequest {
        extensions: Some(text),
        ..ClientRequest::new("h", "/", *b"the sample nonce")
    };
    // A text with control characters is never written, so never offered.
    let Ok(response) = parse_response(head.as_bytes(), &request) else {
        assert!(text.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f));
        return;
    };
    let client = response
        .negotiated()
        .permessage_deflate
        .expect("the client agrees on permessage-deflate");
    assert_eq!(
        client.compress_params(Role::Server),
        server.compress_params(Role::Server)
    );
    assert!(client.client_max_window_bits <= server.client_max_window_bits);
    assert!(client.client_no_context_takeover >= server.client_no_context_takeover);
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (offers, error) = collect_offers(&text);
    assert!(offers.len() <= text.len(), "more offers than bytes");

    // As received: name then raw parameters, joined by commas.
    let raw: Vec<String> = offers.iter().map(|o| format!("{}{}", o.0, o.1)).collect();
    let again = collect_offers(&raw.join(", "));
    assert_eq!(again.1, None, "re-reading {raw:?}");
    assert_eq!(again.0, offers);

    // Canonical form.
    let canon = canonical_offers(&offers);
    let again = collect_offers(&canon);
    assert_eq!(again.1, None, "re-reading {canon:?}");
    let strip = |v: &[ws_fuzz::handshake::Offer]| -> Vec<_> {
        v.iter().map(|(n, _, p)| (n.clone(), p.clone())).collect()
    };
    assert_eq!(strip(&again.0), strip(&offers));

    for config in &CONFIGS {
        check_negotiation(config, &text);
    }

    // Empty list elements around a valid list change nothing.
    if error.is_none() {
        let padded = format!(" ,{text}, ,");
        assert_eq!(collect_offers(&padded), (offers, None));
    }
});
