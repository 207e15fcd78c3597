//! HTTP/1.1 field syntax (RFC 7230 §3.2, §7), the one place that knows it.
//!
//! Tokens, field values, quoted-strings and comma-separated lists are used
//! by the handshake (`Upgrade`, `Connection`, written fields), by the
//! extension grammar and by extension negotiation. This module depends on
//! nothing else in the crate, so none of them depends on another for
//! syntax.

/// Whether `b` may appear in a `token` (RFC 7230 §3.2.6 `tchar`).
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
        | b'^' | b'_' | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// Whether `s` is a non-empty `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// `qdtext` of RFC 7230 §3.2.6: anything visible but `"` and `\`, plus
/// whitespace and `obs-text` (bytes of non-ASCII characters).
fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5B | 0x5D..=0x7E | 0x80..=0xFF)
}

/// What may follow a backslash in a `quoted-pair` (RFC 7230 §3.2.6).
fn is_quoted_pair_char(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21..=0x7E | 0x80..=0xFF)
}

/// Why a quoted-string does not end well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuotedError {
    /// No closing quote, or a lone backslash at the end.
    Unterminated,
    /// The byte at this offset may not appear there.
    InvalidByte(usize),
}

/// The offset of the quote that closes the quoted-string opened by the
/// quote at `open`. Escapes are skipped, not interpreted.
pub(crate) fn quoted_string_end(s: &[u8], open: usize) -> Result<usize, QuotedError> {
    let mut i = open + 1;
    loop {
        match s.get(i) {
            None => return Err(QuotedError::Unterminated),
            Some(b'"') => return Ok(i),
            Some(b'\\') => match s.get(i + 1) {
                None => return Err(QuotedError::Unterminated),
                Some(&b) if is_quoted_pair_char(b) => i += 2,
                Some(_) => return Err(QuotedError::InvalidByte(i + 1)),
            },
            Some(&b) if is_qdtext(b) => i += 1,
            Some(_) => return Err(QuotedError::InvalidByte(i)),
        }
    }
}

/// Whether `v` may be written as a field value: no control characters but
/// HTAB (so no CR or LF), as RFC 7230 §3.2 `field-content` requires.
pub(crate) fn is_field_value(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Strips optional whitespace (SP, HTAB) from both ends.
pub(crate) fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Whether the comma-separated list `value` has an element equal to `token`,
/// ignoring ASCII case (`Connection: keep-alive, Upgrade`).
pub(crate) fn list_contains(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|element| trim_ows(element).eq_ignore_ascii_case(token.as_bytes()))
}

/// The values of the fields named `name` in a head whose line endings are
/// CRLF, read straight from the head so that they borrow it rather than a
/// header table. Lets a list spread over several fields be walked without
/// allocating.
#[derive(Debug, Clone)]
pub(crate) struct HeaderValues<'a> {
    /// The header lines not yet read.
    rest: &'a [u8],
    name: &'static str,
}

impl<'a> HeaderValues<'a> {
    /// Yields nothing.
    pub(crate) fn empty() -> Self {
        HeaderValues {
            rest: &[],
            name: "",
        }
    }

    /// The fields named `name` (compared ignoring ASCII case) in `head`,
    /// which starts with a start line.
    pub(crate) fn new(head: &'a [u8], name: &'static str) -> Self {
        let mut rest = head;
        // Like httparse, skip empty lines before the start line.
        while let Some(r) = rest.strip_prefix(b"\r\n") {
            rest = r;
        }
        let rest = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => &rest[i + 1..],
            None => &[],
        };
        HeaderValues { rest, name }
    }
}

impl<'a> Iterator for HeaderValues<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let Some(end) = self.rest.iter().position(|&b| b == b'\n') else {
                self.rest = &[];
                return None;
            };
            let line = &self.rest[..end];
            self.rest = &self.rest[end + 1..];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                // The end of the head: what follows is not headers.
                self.rest = &[];
                return None;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            if line[..colon].eq_ignore_ascii_case(self.name.as_bytes()) {
                return Some(trim_ows(&line[colon + 1..]));
            }
        }
    }
}

impl core::iter::FusedIterator for HeaderValues<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(is_token("permessage-deflate"));
        assert!(is_token("!#$%&'*+-.^_`|~09azAZ"));
        assert!(!is_token(""));
        for bad in ["a b", "a,b", "a;b", "a=b", "\"a\"", "é", "a\tb", "(a)"] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(quoted_string_end(br#""abc" x"#, 0), Ok(4));
        assert_eq!(quoted_string_end(br#"x="a\"b""#, 2), Ok(7));
        assert_eq!(quoted_string_end(br#""""#, 0), Ok(1));
        assert_eq!(quoted_string_end("\"é\"".as_bytes(), 0), Ok(3));
        assert_eq!(
            quoted_string_end(br#""abc"#, 0),
            Err(QuotedError::Unterminated)
        );
        assert_eq!(
            quoted_string_end(br#""abc\"#, 0),
            Err(QuotedError::Unterminated)
        );
        assert_eq!(
            quoted_string_end(b"\"a\x01\"", 0),
            Err(QuotedError::InvalidByte(2))
        );
        assert_eq!(
            quoted_string_end(b"\"\\\x7f\"", 0),
            Err(QuotedError::InvalidByte(2))
        );
    }

    #[test]
    fn field_values_and_lists() {
        assert_eq!(trim_ows(b" \t a b\t "), b"a b");
        assert_eq!(trim_ows(b"  "), b"");
        assert!(list_contains(b"keep-alive, Upgrade", "upgrade"));
        assert!(list_contains(b"UPGRADE", "upgrade"));
        assert!(!list_contains(b"upgrades, keep-alive", "upgrade"));
        assert!(!list_contains(b"", "upgrade"));
        assert!(is_field_value("a\tb é"));
        assert!(!is_field_value("a\r\nb"));
        assert!(!is_field_value("a\0"));
        assert!(!is_field_value("a\x7f"));
    }

    #[test]
    fn header_values_walk_the_head() {
        let head = b"\r\nGET / HTTP/1.1\r\nA: 1\r\nno colon\r\nb:2\r\na:  3 \r\n\r\nA: 4\r\n";
        let values: Vec<_> = HeaderValues::new(head, "a").collect();
        assert_eq!(values, [&b"1"[..], b"3"]);
        assert_eq!(HeaderValues::new(b"GET / HTTP/1.1", "a").count(), 0);
        assert_eq!(HeaderValues::new(b"GET / HTTP/1.1\r\nA: 1", "a").count(), 0);
        assert_eq!(HeaderValues::empty().count(), 0);
    }
}
