//! What a data message is once it has been received: its kind and its
//! payload, shared with the receive buffer rather than copied out of it.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Deref;

use bytes::Bytes;

/// The kind of a data message.
///
/// ```
/// use ws_proto::connection::MessageKind;
/// assert_ne!(MessageKind::Text, MessageKind::Binary);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

/// UTF-8 text held in [`Bytes`]: a received text message, validated once as
/// it arrived and shared with the connection's receive buffer instead of
/// copied into a `String`. It derefs to `&str`; cloning it is a reference
/// count increment.
///
/// ```
/// use ws_proto::connection::Utf8Bytes;
///
/// let text = Utf8Bytes::from("héllo");
/// assert_eq!(&*text, "héllo");
/// assert_eq!(text.len(), 6);
/// assert!(text.starts_with("hé")); // any `str` method
/// assert!(Utf8Bytes::try_from(bytes::Bytes::from_static(b"\xff")).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Wraps bytes that the caller has already proved to be UTF-8 (the
    /// connection's incremental validator). Crate-private: outside callers
    /// go through `TryFrom`, which checks.
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(core::str::from_utf8(&bytes).is_ok());
        Utf8Bytes(bytes)
    }

    /// An empty text.
    ///
    /// ```
    /// # use ws_proto::connection::Utf8Bytes;
    /// assert!(Utf8Bytes::new().is_empty());
    /// ```
    pub const fn new() -> Self {
        Utf8Bytes(Bytes::new())
    }

    /// Text from a `'static` string, without copying.
    ///
    /// ```
    /// # use ws_proto::connection::Utf8Bytes;
    /// assert_eq!(Utf8Bytes::from_static("hi").as_str(), "hi");
    /// ```
    pub const fn from_static(s: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(s.as_bytes()))
    }

    /// The text.
    ///
    /// ```
    /// # use ws_proto::connection::Utf8Bytes;
    /// assert_eq!(Utf8Bytes::from("abc").as_str(), "abc");
    /// ```
    pub fn as_str(&self) -> &str {
        str_of(&self.0)
    }

    /// The UTF-8 bytes, shared.
    ///
    /// ```
    /// # use ws_proto::connection::Utf8Bytes;
    /// let bytes = Utf8Bytes::from("abc").into_bytes();
    /// assert_eq!(&bytes[..], b"abc");
    /// ```
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The UTF-8 bytes, borrowed.
    ///
    /// ```
    /// # use ws_proto::connection::Utf8Bytes;
    /// assert_eq!(Utf8Bytes::from("abc").as_bytes(), b"abc");
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Converts bytes known to be UTF-8 to `&str` without checking them again:
/// the one `unsafe` block of the crate. Checking again would cost as much as
/// the validation the receive path already did, on every access.
#[allow(unsafe_code)]
fn str_of(bytes: &Bytes) -> &str {
    // SAFETY: a `Utf8Bytes` is only ever built from bytes proved to be
    // UTF-8: by `from_validated` (the connection's incremental validator,
    // which saw every byte of the message and its end), by `From<&str>` /
    // `From<String>` / `from_static` (already `str`), or by `TryFrom<Bytes>`
    // (checked with `core::str::from_utf8`). `Bytes` is immutable, so the
    // bytes cannot change after the check.
    unsafe { core::str::from_utf8_unchecked(bytes) }
}

impl Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl core::borrow::Borrow<str> for Utf8Bytes {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Utf8Bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Utf8Bytes(Bytes::from(s.into_bytes()))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(s: Utf8Bytes) -> Self {
        s.0
    }
}

impl From<Utf8Bytes> for String {
    fn from(s: Utf8Bytes) -> Self {
        String::from(s.as_str())
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = core::str::Utf8Error;
    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        core::str::from_utf8(&bytes)?;
        Ok(Utf8Bytes(bytes))
    }
}

impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = alloc::string::FromUtf8Error;
    fn try_from(bytes: Vec<u8>) -> Result<Self, Self::Error> {
        Ok(String::from_utf8(bytes)?.into())
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Utf8Bytes {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

/// A complete data message.
///
/// ```
/// use ws_proto::connection::Message;
/// let m = Message::Text("hi".into());
/// assert_eq!(m.as_bytes(), b"hi");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message, validated as UTF-8 exactly once, as it arrived.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// The payload bytes.
    ///
    /// ```
    /// # use ws_proto::connection::Message;
    /// assert_eq!(Message::Binary(vec![1, 2].into()).as_bytes(), &[1, 2]);
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(s) => s.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// Text or binary.
    ///
    /// ```
    /// # use ws_proto::connection::{Message, MessageKind};
    /// assert_eq!(Message::Text("".into()).kind(), MessageKind::Text);
    /// ```
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Text(_) => MessageKind::Text,
            Message::Binary(_) => MessageKind::Binary,
        }
    }

    /// The payload, shared (a reference count, not a copy).
    ///
    /// ```
    /// # use ws_proto::connection::Message;
    /// assert_eq!(&Message::Text("hi".into()).into_payload()[..], b"hi");
    /// ```
    pub fn into_payload(self) -> Bytes {
        match self {
            Message::Text(s) => s.into_bytes(),
            Message::Binary(b) => b,
        }
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(s.into())
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(s.into())
    }
}

impl From<Utf8Bytes> for Message {
    fn from(s: Utf8Bytes) -> Self {
        Message::Text(s)
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::Binary(b)
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(b.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // These run under miri (`cargo +nightly miri test -p ws-proto utf8_bytes`):
    // every way of building a `Utf8Bytes`, then reading it through the
    // unchecked conversion.
    #[test]
    fn utf8_bytes_every_constructor_reads_back() {
        let texts = ["", "a", "héllo", "€𝄞", "日本語のテキスト"];
        for t in texts {
            assert_eq!(Utf8Bytes::from(t).as_str(), t);
            assert_eq!(Utf8Bytes::from(String::from(t)).as_str(), t);
            assert_eq!(
                Utf8Bytes::try_from(Bytes::copy_from_slice(t.as_bytes())).unwrap(),
                t
            );
            assert_eq!(Utf8Bytes::try_from(t.as_bytes().to_vec()).unwrap(), t);
            assert_eq!(
                Utf8Bytes::from_validated(Bytes::copy_from_slice(t.as_bytes())),
                t
            );
        }
        assert_eq!(Utf8Bytes::from_static("static").len(), 6);
    }

    #[test]
    fn utf8_bytes_from_the_receive_path_reads_back() {
        use crate::connection::{Config, Connection, Event};
        let text = "κόσμε, 𝄞 and ascii";
        let mut client = Connection::client(Config::default(), [5; 32]);
        let mut server = Connection::server(Config::default());
        client.send_text(text).unwrap();
        server.feed(client.pending_output());
        match server.poll_event() {
            Some(Event::Message(Message::Text(t))) => {
                assert_eq!(&*t, text);
                assert_eq!(t.chars().count(), text.chars().count());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn utf8_bytes_rejects_what_is_not_utf8() {
        for bad in [&b"\xff"[..], b"\xc3", b"a\xed\xa0\x80", b"\xf4\x90\x80\x80"] {
            assert!(Utf8Bytes::try_from(Bytes::copy_from_slice(bad)).is_err());
            assert!(Utf8Bytes::try_from(bad.to_vec()).is_err());
        }
    }

    #[test]
    fn utf8_bytes_slices_share_the_buffer() {
        let whole = Bytes::from_static("ab€".as_bytes());
        let text = Utf8Bytes::try_from(whole.slice(2..)).unwrap();
        assert_eq!(text.as_str(), "€");
        assert_eq!(text.as_bytes().as_ptr(), whole[2..].as_ptr());
    }
}
