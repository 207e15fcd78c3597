//! Client side of the opening handshake on arbitrary bytes.
//!
//! Layout as in `handshake_request`: chunk seed, limits byte, then what the
//! server sent. The request offered subprotocols `chat` and `superchat` and
//! two extensions, with the RFC's sample nonce (so the accept key is
//! `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`).
//!
//! Invariants: chunked scanning agrees with a one-shot scan, and so does
//! `ClientHandshake`; `parse_response` never panics; an accepted response
//! is a 101 with the right accept key, a subprotocol that was offered and
//! only offered extensions, each named once, with permessage-deflate
//! negotiated exactly when named and its window bits in 8..=15.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ws_fuzz::handshake::{check_scanners, chunks, limits_from};
use ws_proto::extension::parse_offers;
use ws_proto::handshake::{parse_response, ClientHandshake, ClientRequest};

const PROTOCOLS: &[&str] = &["chat", "superchat", "not a token"];
const EXTENSIONS: &str = "permessage-deflate; client_max_window_bits, x-foo";

fuzz_target!(|data: &[u8]| {
    let [seed, flags, bytes @ ..] = data else {
        return;
    };
    let limits = limits_from(*flags);
    let scanned = check_scanners(*seed, limits, bytes);
    let request = ClientRequest {
        subprotocols: PROTOCOLS,
        extensions: Some(EXTENSIONS),
        ..ClientRequest::new("server.example.com", "/chat", *b"the sample nonce")
    };

    let mut hs = ClientHandshake::new(limits);
    let mut fed = 0;
    let mut done = Ok(false);
    for chunk in chunks(*seed, bytes) {
        fed += chunk.len();
        done = hs.feed(chunk);
        if done != Ok(false) {
            break;
        }
    }
    match (scanned, done) {
        (Ok(Some(n)), Ok(true)) => {
            assert_eq!(hs.head(), &bytes[..n]);
            assert_eq!(hs.leftover(), &bytes[n..fed]);
            let a = hs.response(&request).map(|r| r.subprotocol());
            let b = parse_response(&bytes[..n], &request).map(|r| r.subprotocol());
            assert_eq!(a, b);
        }
        (Ok(None), Ok(false)) => assert!(hs.head().is_empty()),
        (Err(e), Err(f)) => assert_eq!(e, f),
        (s, d) => panic!("HeadScanner says {s:?}, ClientHandshake {d:?}"),
    }

    let _ = parse_response(bytes, &request);
    let Ok(Some(n)) = scanned else {
        return;
    };
    let Ok(response) = parse_response(&bytes[..n], &request) else {
        return;
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    assert!(matches!(
        parsed.parse(&bytes[..n]),
        Ok(httparse::Status::Complete(_))
    ));
    assert_eq!(parsed.code, Some(101));
    assert_eq!(
        response.header("sec-websocket-accept"),
        Some(&b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="[..])
    );
    if let Some(p) = response.subprotocol() {
        assert!(
            p == "chat" || p == "superchat",
            "unoffered subprotocol {p:?}"
        );
    }
    let mut names = Vec::new();
    for offer in response.extensions() {
        let offer = offer.expect("an accepted response has well-formed extensions");
        assert!(
            parse_offers(EXTENSIONS).any(|o| o.unwrap().name() == offer.name()),
            "unoffered extension {:?}",
            offer.name()
        );
        assert!(
            !names.contains(&offer.name()),
            "{:?} named twice",
            offer.name()
        );
        names.push(offer.name());
    }
    // Typed negotiation agrees with the names, within RFC 7692's ranges.
    let deflate = response.negotiated().permessage_deflate;
    assert_eq!(deflate.is_some(), names.contains(&"permessage-deflate"));
    if let Some(p) = deflate {
        assert!((8..=15).contains(&p.server_max_window_bits));
        assert!((8..=15).contains(&p.client_max_window_bits));
    }
    let _ = response.headers().count();
});
