//! The `Sec-WebSocket-Extensions` header grammar (RFC 6455 §9.1).
//!
//! ```text
//! Sec-WebSocket-Extensions = extension-list
//! extension-list = 1#extension
//! extension = extension-token *( ";" extension-param )
//! extension-token = registered-token
//! registered-token = token
//! extension-param = token [ "=" (token | quoted-string) ]
//! ```
//!
//! Optional whitespace is allowed around `,`, `;` and `=`, and empty list
//! elements (`a, , b`) are skipped, as RFC 7230 §7 requires of recipients.
//! Commas and semicolons inside a quoted-string do not split anything.
//!
//! Everything borrows from the header value: no allocation, no copying.
//! [`Offers`] checks each offer completely before yielding it, so the
//! [`Params`] of an offer it yielded never fail. After the first error,
//! [`Offers`] stops: past a syntax error there is no reliable way to tell
//! where the next offer starts (an unterminated quote swallows the rest).
//!
//! Whether a quoted value is a token after unescaping, which §9.1 requires,
//! is left to the extension through [`ParamValue::is_token`]: the grammar is
//! the same for every extension, the meaning of a value is not.
//!
//! ```
//! use ws_proto::extension::{parse_offers, ParamValue};
//!
//! let value = "permessage-deflate; client_max_window_bits, x-foo; a=\"b\"";
//! let mut offers = parse_offers(value);
//!
//! let deflate = offers.next().unwrap().unwrap();
//! assert_eq!(deflate.name(), "permessage-deflate");
//! let mut params = deflate.params();
//! assert_eq!(params.next(), Some(Ok(("client_max_window_bits", None))));
//! assert_eq!(params.next(), None);
//!
//! let foo = offers.next().unwrap().unwrap();
//! assert_eq!(foo.name(), "x-foo");
//! let (name, value) = foo.params().next().unwrap().unwrap();
//! assert_eq!((name, value), ("a", Some(ParamValue::Quoted("b"))));
//! assert_eq!(value.unwrap().as_token(), Some("b"));
//!
//! assert!(offers.next().is_none());
//! ```

use core::fmt;

use crate::http::{is_tchar, is_token, quoted_string_end, HeaderValues, QuotedError};

/// Why an extension header value does not follow the §9.1 grammar.
///
/// ```
/// use ws_proto::extension::{parse_offers, ExtensionError};
///
/// let mut offers = parse_offers("; a=1");
/// assert_eq!(offers.next(), Some(Err(ExtensionError::EmptyName)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionError {
    /// An extension or parameter name is missing (`; a`, `x;`, `x; =1`).
    EmptyName,
    /// A character that the grammar does not allow where it appears: a
    /// non-token character in a name or unquoted value, a control character
    /// in a quoted-string, or something other than `;` or `,` after a
    /// parameter.
    InvalidChar(char),
    /// A parameter has `=` but no value (`x; a=`).
    EmptyValue,
    /// A quoted-string has no closing quote, or ends in a lone backslash.
    UnterminatedQuote,
    /// A header value is not UTF-8. The grammar is pure ASCII apart from
    /// `obs-text` inside quotes, which may not survive unescaping anyway.
    NotUtf8,
}

impl fmt::Display for ExtensionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtensionError::EmptyName => f.write_str("extension or parameter name missing"),
            ExtensionError::InvalidChar(c) => {
                write!(f, "unexpected character {c:?} in extension header")
            }
            ExtensionError::EmptyValue => f.write_str("extension parameter with `=` but no value"),
            ExtensionError::UnterminatedQuote => {
                f.write_str("unterminated quoted-string in extension header")
            }
            ExtensionError::NotUtf8 => f.write_str("extension header is not UTF-8"),
        }
    }
}

impl core::error::Error for ExtensionError {}

/// A position in a header value; every method leaves `i` on a character
/// boundary because it only ever steps over ASCII bytes, or over whole
/// quoted-strings which end in an ASCII quote.
#[derive(Debug, Clone)]
struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor { s, i: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    /// The character at byte `at`, for error reports. Never panics, even if
    /// `at` were not a boundary.
    fn char_at(&self, at: usize) -> char {
        self.s
            .get(at..)
            .and_then(|rest| rest.chars().next())
            .unwrap_or(char::REPLACEMENT_CHARACTER)
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> &'a str {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    /// The error for a missing name: a separator (or the end) where the name
    /// should start means it is empty, anything else is a bad character.
    fn missing_name(&self) -> ExtensionError {
        match self.peek() {
            None | Some(b';' | b',' | b'=') => ExtensionError::EmptyName,
            Some(_) => ExtensionError::InvalidChar(self.char_at(self.i)),
        }
    }

    /// Reads a quoted-string with the cursor on its opening quote, returning
    /// the content between the quotes, escapes intact.
    fn quoted(&mut self) -> Result<&'a str, ExtensionError> {
        let close = quoted_string_end(self.s.as_bytes(), self.i).map_err(|e| match e {
            QuotedError::Unterminated => ExtensionError::UnterminatedQuote,
            QuotedError::InvalidByte(at) => ExtensionError::InvalidChar(self.char_at(at)),
        })?;
        let content = &self.s[self.i + 1..close];
        self.i = close + 1;
        Ok(content)
    }

    /// Reads `token [ "=" (token | quoted-string) ]`, the cursor just past
    /// the `;`.
    fn param(&mut self) -> Result<(&'a str, Option<ParamValue<'a>>), ExtensionError> {
        self.skip_ows();
        let name = self.token();
        if name.is_empty() {
            return Err(self.missing_name());
        }
        self.skip_ows();
        if self.peek() != Some(b'=') {
            return Ok((name, None));
        }
        self.i += 1;
        self.skip_ows();
        let value = if self.peek() == Some(b'"') {
            ParamValue::Quoted(self.quoted()?)
        } else {
            let token = self.token();
            if token.is_empty() {
                return Err(match self.peek() {
                    None | Some(b';' | b',') => ExtensionError::EmptyValue,
                    Some(_) => ExtensionError::InvalidChar(self.char_at(self.i)),
                });
            }
            ParamValue::Token(token)
        };
        Ok((name, Some(value)))
    }

    /// Reads one extension, up to (not including) the `,` that ends it.
    fn extension(&mut self) -> Result<ExtensionOffer<'a>, ExtensionError> {
        let name = self.token();
        if name.is_empty() {
            return Err(self.missing_name());
        }
        let start = self.i;
        loop {
            self.skip_ows();
            match self.peek() {
                None | Some(b',') => break,
                Some(b';') => {
                    self.i += 1;
                    self.param()?;
                }
                Some(_) => return Err(ExtensionError::InvalidChar(self.char_at(self.i))),
            }
        }
        let params = self.s[start..self.i].trim_matches([' ', '\t']);
        Ok(ExtensionOffer { name, params })
    }
}

/// A parameter value: a token, or the raw content of a quoted-string.
///
/// ```
/// use ws_proto::extension::ParamValue;
///
/// let v = ParamValue::Quoted(r"1\5");
/// assert_eq!(v.raw(), r"1\5");
/// assert!(v.unescaped().eq("15".chars()));
/// assert!(v.is_token());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamValue<'a> {
    /// An unquoted token, as in `client_max_window_bits=10`.
    Token(&'a str),
    /// The text between the quotes of a quoted-string, backslash escapes
    /// still in place, as in `a="b"` (here `b`).
    Quoted(&'a str),
}

impl<'a> ParamValue<'a> {
    /// The value as written, without the surrounding quotes and without
    /// unescaping.
    ///
    /// ```
    /// # use ws_proto::extension::ParamValue;
    /// assert_eq!(ParamValue::Quoted(r#"a\"b"#).raw(), r#"a\"b"#);
    /// ```
    pub fn raw(&self) -> &'a str {
        match self {
            ParamValue::Token(s) | ParamValue::Quoted(s) => s,
        }
    }

    /// The characters of the value after quoted-string unescaping (a
    /// backslash stands for the character after it).
    ///
    /// ```
    /// # use ws_proto::extension::ParamValue;
    /// let v = ParamValue::Quoted(r#"say \"hi\""#);
    /// assert!(v.unescaped().eq(r#"say "hi""#.chars()));
    /// ```
    pub fn unescaped(&self) -> Unescaped<'a> {
        Unescaped {
            chars: self.raw().chars(),
            escapes: matches!(self, ParamValue::Quoted(_)),
        }
    }

    /// Whether the unescaped value is a token, as RFC 6455 §9.1 requires of
    /// every extension parameter value. An extension should refuse an offer
    /// whose values fail this.
    ///
    /// ```
    /// # use ws_proto::extension::ParamValue;
    /// assert!(ParamValue::Quoted("15").is_token());
    /// assert!(!ParamValue::Quoted("a,b").is_token());
    /// assert!(!ParamValue::Quoted("").is_token());
    /// ```
    pub fn is_token(&self) -> bool {
        let mut any = false;
        for c in self.unescaped() {
            if !(c.is_ascii() && is_tchar(c as u8)) {
                return false;
            }
            any = true;
        }
        any
    }

    /// The value as a borrowed token when unescaping changes nothing: always
    /// for [`Token`](ParamValue::Token), and for a quoted token without
    /// backslashes (`"10"`). `None` when the value is not a token, or when it
    /// uses escapes (then read [`unescaped`](Self::unescaped)).
    ///
    /// ```
    /// # use ws_proto::extension::ParamValue;
    /// assert_eq!(ParamValue::Token("10").as_token(), Some("10"));
    /// assert_eq!(ParamValue::Quoted("10").as_token(), Some("10"));
    /// assert_eq!(ParamValue::Quoted(r"1\0").as_token(), None);
    /// assert_eq!(ParamValue::Quoted("1 0").as_token(), None);
    /// ```
    pub fn as_token(&self) -> Option<&'a str> {
        let raw = self.raw();
        is_token(raw).then_some(raw)
    }
}

/// The characters of a [`ParamValue`] after unescaping, from
/// [`ParamValue::unescaped`].
///
/// ```
/// # use ws_proto::extension::ParamValue;
/// let n: u32 = ParamValue::Quoted(r"1\2")
///     .unescaped()
///     .fold(0, |n, c| n * 10 + c.to_digit(10).unwrap());
/// assert_eq!(n, 12);
/// ```
#[derive(Debug, Clone)]
pub struct Unescaped<'a> {
    chars: core::str::Chars<'a>,
    escapes: bool,
}

impl Iterator for Unescaped<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        match self.chars.next()? {
            '\\' if self.escapes => self.chars.next(),
            c => Some(c),
        }
    }
}

/// One extension from an offer list: its name and its raw parameters.
///
/// ```
/// use ws_proto::extension::parse_offers;
///
/// let offer = parse_offers("x-foo; a; b=2").next().unwrap().unwrap();
/// assert_eq!(offer.name(), "x-foo");
/// assert_eq!(offer.raw_params(), "; a; b=2");
/// assert_eq!(offer.params().count(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionOffer<'a> {
    name: &'a str,
    /// From the first `;` to the end of the offer, trailing whitespace
    /// excluded; empty without parameters. Checked when the offer was read.
    params: &'a str,
}

impl<'a> ExtensionOffer<'a> {
    /// The extension's name (a token), as written.
    ///
    /// ```
    /// # use ws_proto::extension::parse_offers;
    /// let offer = parse_offers("permessage-deflate").next().unwrap().unwrap();
    /// assert_eq!(offer.name(), "permessage-deflate");
    /// ```
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The parameters in order, as `(name, value)` pairs.
    ///
    /// ```
    /// use ws_proto::extension::{parse_offers, ParamValue};
    ///
    /// let offer = parse_offers("permessage-deflate; server_max_window_bits=10")
    ///     .next().unwrap().unwrap();
    /// let params: Vec<_> = offer.params().map(Result::unwrap).collect();
    /// assert_eq!(params, [("server_max_window_bits", Some(ParamValue::Token("10")))]);
    /// ```
    pub fn params(&self) -> Params<'a> {
        Params {
            cur: Cursor::new(self.params),
            done: false,
        }
    }

    /// The parameters exactly as received, from the first `;` on (empty when
    /// there are none): handy to echo an offer back.
    ///
    /// ```
    /// # use ws_proto::extension::parse_offers;
    /// let offer = parse_offers("x ;a=\"1\" , y").next().unwrap().unwrap();
    /// assert_eq!(offer.raw_params(), ";a=\"1\"");
    /// ```
    pub fn raw_params(&self) -> &'a str {
        self.params
    }
}

/// Iterator over an offer's parameters, from [`ExtensionOffer::params`].
///
/// Items are `Result`s so that the type can report errors, but the
/// parameters of an offer that [`Offers`] yielded were already checked and
/// never fail.
///
/// ```
/// use ws_proto::extension::parse_offers;
///
/// let offer = parse_offers("x; a; b=c").next().unwrap().unwrap();
/// let names: Vec<&str> = offer.params().map(|p| p.unwrap().0).collect();
/// assert_eq!(names, ["a", "b"]);
/// ```
#[derive(Debug, Clone)]
pub struct Params<'a> {
    cur: Cursor<'a>,
    done: bool,
}

impl<'a> Iterator for Params<'a> {
    type Item = Result<(&'a str, Option<ParamValue<'a>>), ExtensionError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.cur.skip_ows();
        let result = match self.cur.peek() {
            None => {
                self.done = true;
                return None;
            }
            Some(b';') => {
                self.cur.i += 1;
                self.cur.param()
            }
            Some(_) => Err(ExtensionError::InvalidChar(self.cur.char_at(self.cur.i))),
        };
        self.done = result.is_err();
        Some(result)
    }
}

/// Iterator over the extensions offered in one or more
/// `Sec-WebSocket-Extensions` header values, from [`parse_offers`],
/// [`Request::extensions`](crate::handshake::Request::extensions) or
/// [`Response::extensions`](crate::handshake::Response::extensions).
///
/// Yields each extension in order, or the first syntax error and then
/// nothing more.
///
/// ```
/// use ws_proto::extension::{parse_offers, ExtensionError};
///
/// let mut offers = parse_offers("a, b; x=\"unterminated, c");
/// assert_eq!(offers.next().unwrap().unwrap().name(), "a");
/// assert_eq!(offers.next(), Some(Err(ExtensionError::UnterminatedQuote)));
/// assert_eq!(offers.next(), None);
/// ```
#[derive(Debug, Clone)]
pub struct Offers<'a> {
    cur: Cursor<'a>,
    /// Header values still to read after `cur`.
    more: HeaderValues<'a>,
    done: bool,
}

/// Reads the extensions offered in one `Sec-WebSocket-Extensions` header
/// value (a client's offer, or the server's answer).
///
/// ```
/// use ws_proto::extension::parse_offers;
///
/// let names: Vec<&str> = parse_offers("a, , b; q=\"1,2\", c")
///     .map(|o| o.unwrap().name())
///     .collect();
/// assert_eq!(names, ["a", "b", "c"]);
/// ```
pub fn parse_offers(value: &str) -> Offers<'_> {
    Offers {
        cur: Cursor::new(value),
        more: HeaderValues::empty(),
        done: false,
    }
}

impl<'a> Offers<'a> {
    /// The offers across every value `values` yields, in order.
    pub(crate) fn from_values(values: HeaderValues<'a>) -> Self {
        Offers {
            cur: Cursor::new(""),
            more: values,
            done: false,
        }
    }
}

impl<'a> Iterator for Offers<'a> {
    type Item = Result<ExtensionOffer<'a>, ExtensionError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            // Empty list elements are allowed (RFC 7230 §7).
            while matches!(self.cur.peek(), Some(b' ' | b'\t' | b',')) {
                self.cur.i += 1;
            }
            if !self.cur.at_end() {
                break;
            }
            match self.more.next() {
                None => {
                    self.done = true;
                    return None;
                }
                Some(value) => match core::str::from_utf8(value) {
                    Ok(value) => self.cur = Cursor::new(value),
                    Err(_) => {
                        self.done = true;
                        return Some(Err(ExtensionError::NotUtf8));
                    }
                },
            }
        }
        let result = self.cur.extension();
        self.done = result.is_err();
        Some(result)
    }
}

impl core::iter::FusedIterator for Offers<'_> {}
impl core::iter::FusedIterator for Params<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(value: &str) -> Vec<Result<&str, ExtensionError>> {
        parse_offers(value).map(|o| o.map(|o| o.name())).collect()
    }

    fn params(value: &str) -> Vec<(&str, Option<ParamValue<'_>>)> {
        let offer = parse_offers(value).next().unwrap().unwrap();
        offer.params().map(Result::unwrap).collect()
    }

    #[test]
    fn rfc_7692_style_offer() {
        let value = "permessage-deflate; client_max_window_bits, x-foo; a=\"b\"";
        let offers: Vec<_> = parse_offers(value).map(Result::unwrap).collect();
        assert_eq!(offers.len(), 2);
        assert_eq!(offers[0].name(), "permessage-deflate");
        assert_eq!(offers[0].raw_params(), "; client_max_window_bits");
        assert_eq!(
            offers[0].params().collect::<Vec<_>>(),
            [Ok(("client_max_window_bits", None))]
        );
        assert_eq!(offers[1].name(), "x-foo");
        assert_eq!(
            offers[1].params().collect::<Vec<_>>(),
            [Ok(("a", Some(ParamValue::Quoted("b"))))]
        );
    }

    #[test]
    fn whitespace_and_empty_elements() {
        assert_eq!(names(""), []);
        assert_eq!(names(" , ,\t"), []);
        assert_eq!(names(",a,,b ,\tc,"), [Ok("a"), Ok("b"), Ok("c")]);
        assert_eq!(
            params("x ; a = 1 ;\tb= \"2\" ;c"),
            [
                ("a", Some(ParamValue::Token("1"))),
                ("b", Some(ParamValue::Quoted("2"))),
                ("c", None),
            ]
        );
        let offer = parse_offers("x ; a = 1  , y").next().unwrap().unwrap();
        assert_eq!(offer.raw_params(), "; a = 1");
    }

    #[test]
    fn quotes_protect_separators() {
        assert_eq!(names("x; a=\"1,2\", y"), [Ok("x"), Ok("y")]);
        assert_eq!(params("x; a=\"p;q, r\"; b"), {
            [("a", Some(ParamValue::Quoted("p;q, r"))), ("b", None)]
        });
        // An escaped quote does not end the string.
        assert_eq!(
            params(r#"x; a="\",\"", b"#),
            [("a", Some(ParamValue::Quoted(r#"\",\""#)))]
        );
        assert_eq!(names(r#"x; a="\",\"", b"#), [Ok("x"), Ok("b")]);
    }

    #[test]
    fn quoted_values_must_be_tokens_after_unescaping() {
        let v = ParamValue::Quoted(r"\1\0");
        assert!(v.is_token());
        assert_eq!(v.as_token(), None);
        assert_eq!(v.unescaped().collect::<String>(), "10");
        assert!(!ParamValue::Quoted("1,2").is_token());
        assert!(!ParamValue::Quoted(r"a\ b").is_token());
        assert!(!ParamValue::Quoted("é").is_token());
        assert!(!ParamValue::Quoted("").is_token());
        assert!(ParamValue::Token("x").is_token());
        // A token never contains escapes: a backslash stays literal (and the
        // grammar would not have produced it).
        assert_eq!(
            ParamValue::Token(r"a\b").unescaped().collect::<String>(),
            r"a\b"
        );
        // Non-ASCII text is allowed by the grammar inside quotes.
        assert_eq!(
            params("x; a=\"é\\é\""),
            [("a", Some(ParamValue::Quoted("é\\é")))]
        );
    }

    #[test]
    fn malformed() {
        use ExtensionError::*;
        let first_err = |v: &str| parse_offers(v).find_map(Result::err);
        assert_eq!(first_err(";a"), Some(EmptyName));
        assert_eq!(first_err("x;"), Some(EmptyName));
        assert_eq!(first_err("x; ;a"), Some(EmptyName));
        assert_eq!(first_err("x;=1"), Some(EmptyName));
        assert_eq!(first_err("x;a,;"), Some(EmptyName));
        assert_eq!(first_err("=x"), Some(EmptyName));
        assert_eq!(first_err("x y"), Some(InvalidChar('y')));
        assert_eq!(first_err("x; a b"), Some(InvalidChar('b')));
        assert_eq!(first_err("x; a=b c"), Some(InvalidChar('c')));
        assert_eq!(first_err("x; a=@"), Some(InvalidChar('@')));
        assert_eq!(first_err("x; (a)"), Some(InvalidChar('(')));
        assert_eq!(first_err("é"), Some(InvalidChar('é')));
        assert_eq!(first_err("x; a=\"\u{1}\""), Some(InvalidChar('\u{1}')));
        assert_eq!(first_err("x; a=\"\\\u{7f}\""), Some(InvalidChar('\u{7f}')));
        assert_eq!(first_err("x; a="), Some(EmptyValue));
        assert_eq!(first_err("x; a= ;b"), Some(EmptyValue));
        assert_eq!(first_err("x; a=, y"), Some(EmptyValue));
        assert_eq!(first_err("x; a=\"b"), Some(UnterminatedQuote));
        assert_eq!(first_err("x; a=\"b\\"), Some(UnterminatedQuote));
        assert_eq!(first_err("x; a=\"b\\\""), Some(UnterminatedQuote));
        assert_eq!(first_err("x; a=\"b\"c"), Some(InvalidChar('c')));
    }

    #[test]
    fn stops_after_the_first_error() {
        let mut offers = parse_offers("a, b c, d");
        assert_eq!(offers.next().unwrap().unwrap().name(), "a");
        assert_eq!(offers.next(), Some(Err(ExtensionError::InvalidChar('c'))));
        assert_eq!(offers.next(), None);
        assert_eq!(offers.next(), None);
    }

    #[test]
    fn params_report_errors_on_their_own() {
        // Offers never yield such an offer, but Params stands on its own.
        let offer = ExtensionOffer {
            name: "x",
            params: "; a=1 junk; b",
        };
        let mut params = offer.params();
        assert_eq!(params.next(), Some(Ok(("a", Some(ParamValue::Token("1"))))));
        assert_eq!(params.next(), Some(Err(ExtensionError::InvalidChar('j'))));
        assert_eq!(params.next(), None);
        let offer = ExtensionOffer {
            name: "x",
            params: "a",
        };
        assert_eq!(
            offer.params().next(),
            Some(Err(ExtensionError::InvalidChar('a')))
        );
    }

    #[test]
    fn several_header_values() {
        let head = b"GET / HTTP/1.1\r\nSec-WebSocket-Extensions: a; x=1\r\nHost: h\r\n\
            sec-websocket-extensions:b,\r\nSec-WebSocket-Extensions:\r\n\
            SEC-WEBSOCKET-EXTENSIONS: c\r\n\r\nSec-WebSocket-Extensions: not-in-head\r\n";
        let names: Vec<_> =
            Offers::from_values(HeaderValues::new(head, "sec-websocket-extensions"))
                .map(|o| o.unwrap().name())
                .collect();
        assert_eq!(names, ["a", "b", "c"]);

        let head = b"GET / HTTP/1.1\r\nSec-WebSocket-Extensions: a\r\n\
            Sec-WebSocket-Extensions: \xff\r\nSec-WebSocket-Extensions: c\r\n\r\n";
        let all: Vec<_> =
            Offers::from_values(HeaderValues::new(head, "sec-websocket-extensions")).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1], Err(ExtensionError::NotUtf8));
    }

    #[test]
    fn errors_display() {
        for e in [
            ExtensionError::EmptyName,
            ExtensionError::InvalidChar('x'),
            ExtensionError::EmptyValue,
            ExtensionError::UnterminatedQuote,
            ExtensionError::NotUtf8,
        ] {
            assert!(!e.to_string().is_empty());
        }
    }

    #[cfg(not(miri))]
    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics_and_offers_params_never_fail(value in "\\PC{0,40}") {
                for offer in parse_offers(&value) {
                    let Ok(offer) = offer else { break };
                    prop_assert!(is_token(offer.name()));
                    for param in offer.params() {
                        let (name, v) = param.expect("checked when the offer was read");
                        prop_assert!(is_token(name));
                        if let Some(v) = v {
                            let _ = (v.is_token(), v.as_token(), v.unescaped().count());
                        }
                    }
                }
            }

            #[test]
            fn grammar_alphabet_never_panics(value in "[a-z;=,\" \t\\\\é\u{1}]{0,30}") {
                let n = parse_offers(&value).count();
                prop_assert!(n <= value.len());
            }

            #[test]
            fn arbitrary_header_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
                let mut head = b"GET / HTTP/1.1\r\nSec-WebSocket-Extensions: ".to_vec();
                head.extend_from_slice(&bytes);
                head.extend_from_slice(b"\r\n\r\n");
                let _ = Offers::from_values(HeaderValues::new(&head, "sec-websocket-extensions")).count();
            }
        }
    }
}
