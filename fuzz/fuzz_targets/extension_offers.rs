//! `parse_offers` on arbitrary text.
//!
//! Invariants: never panics or loops; stops after the first error (fused);
//! every yielded offer has a token name and parameters that never fail,
//! with token names and well-formed values; and writing the parsed offers
//! back out (as received, and in a canonical form) parses to the same
//! offers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ws_fuzz::handshake::{canonical_offers, collect_offers};

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

    // Empty list elements around a valid list change nothing.
    if error.is_none() {
        let padded = format!(" ,{text}, ,");
        assert_eq!(collect_offers(&padded), (offers, None));
    }
});
