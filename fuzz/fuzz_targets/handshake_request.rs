//! Server side of the opening handshake on arbitrary bytes.
//!
//! Layout: byte 0 seeds the chunk sizes, byte 1 picks the limits (0: the
//! defaults) and what the accept adds, the rest is what the client sent.
//!
//! Invariants: `HeadScanner` fed the bytes in arbitrary chunks agrees with a
//! one-shot scan, and so does `ServerHandshake` (head and leftover);
//! `parse_request` never panics; an accepted request's `write_accept`
//! output parses with httparse as a complete `101` carrying the right
//! `Sec-WebSocket-Accept`, and nothing after it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ws_fuzz::handshake::{check_scanners, limits_from};
use ws_proto::handshake::{
    parse_request, write_accept, Accept, HeadScanner, Limits, ServerHandshake,
};

fuzz_target!(|data: &[u8]| {
    let [seed, flags, bytes @ ..] = data else {
        return;
    };
    let limits: Limits = limits_from(*flags);
    let scanned = check_scanners(*seed, limits, bytes);

    let mut hs = ServerHandshake::new(limits);
    let mut fed = 0;
    let mut done = Ok(false);
    for chunk in ws_fuzz::handshake::chunks(*seed, bytes) {
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
            let a = hs.request().map(|r| r.key().to_owned());
            let b = parse_request(&bytes[..n]).map(|r| r.key().to_owned());
            assert_eq!(a, b);
        }
        (Ok(None), Ok(false)) => assert!(hs.head().is_empty() && hs.leftover().is_empty()),
        (Err(e), Err(f)) => assert_eq!(e, f),
        (s, d) => panic!("HeadScanner says {s:?}, ServerHandshake {d:?}"),
    }
    if let Err(e) = done {
        assert!((400..600).contains(&e.status()), "{e:?}");
    }

    // The parser on its own, on the whole input and on the scanned head.
    let _ = parse_request(bytes);
    let Ok(Some(n)) = scanned else {
        return;
    };
    let request = match parse_request(&bytes[..n]) {
        Ok(r) => r,
        Err(e) => {
            assert!((400..600).contains(&e.status()), "{e:?}");
            return;
        }
    };
    // Exercise every accessor; the values come from the head.
    let _ = (request.path(), request.host(), request.origin());
    let subprotocols: Vec<&str> = request.subprotocols().collect();
    let extensions: Vec<_> = request.extensions().collect();
    let _ = (request.headers().count(), request.header("host"));

    let extra: &[(&str, &str)] = match flags & 3 {
        0 => &[],
        1 => &[("Set-Cookie", "a=b")],
        2 => &[("X-Bad\r\nInjected", "v"), ("Content-Length", "5")],
        _ => &[("X-Value", "line\r\nbreak"), ("Upgrade", "h2c")],
    };
    let ext_answer = extensions
        .first()
        .and_then(|o| o.as_ref().ok())
        .map(|o| o.name());
    let accept = Accept {
        subprotocol: subprotocols.first().copied(),
        extensions: if flags & 4 != 0 { ext_answer } else { None },
        extra_headers: extra,
    };
    let mut out = [0u8; 16384];
    let len = write_accept(&request, &accept, &mut out).expect("an accept fits 16 KiB");
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&out[..len]) {
        Ok(httparse::Status::Complete(end)) => assert_eq!(end, len, "bytes after the head"),
        other => panic!("write_accept wrote an invalid response: {other:?}"),
    }
    assert_eq!(response.code, Some(101));
    assert_eq!(response.version, Some(1));
    let get = |name: &str| {
        let mut it = response
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name));
        let first = it.next().map(|h| h.value);
        assert!(it.next().is_none(), "{name} written twice");
        first
    };
    assert_eq!(
        get("sec-websocket-accept"),
        Some(request.accept_key().as_str().as_bytes())
    );
    assert_eq!(get("upgrade"), Some(&b"websocket"[..]));
    assert_eq!(get("connection"), Some(&b"Upgrade"[..]));
    assert_eq!(get("content-length"), None);
    assert_eq!(get("transfer-encoding"), None);
    if let Some(p) = get("sec-websocket-protocol") {
        assert_eq!(Some(p), accept.subprotocol.map(str::as_bytes));
    }
    // The head must also end where a HeadScanner says it does.
    let mut scanner = HeadScanner::new(Limits::default());
    assert_eq!(scanner.scan(&out[..len]), Ok(Some(len)));
});
