//! Plain HTTP answers for the routes that are not WebSockets (the echo page,
//! 404s). Only what a static page needs: a status, a content type, a body.

use std::io::{self, Write};

/// A plain HTTP request, as seen by an HTTP route's handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET` or `HEAD` (other methods get `405` before reaching a handler).
    pub method: String,
    /// The request target, query included.
    pub path: String,
    /// The `Host` field, if any.
    pub host: Option<String>,
}

/// The answer of an HTTP route. It is sent with `Content-Length` and
/// `Connection: close`: one request per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code, such as 200.
    pub status: u16,
    /// The `Content-Type` value.
    pub content_type: String,
    /// More fields. Names that are not tokens and values holding control
    /// characters are left out, so no string can split the response.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A `200 OK` HTML page, not cached (a new build serves a new page).
    pub fn html(body: impl Into<Vec<u8>>) -> Self {
        HttpResponse {
            status: 200,
            content_type: "text/html; charset=utf-8".into(),
            headers: vec![("Cache-Control".into(), "no-cache".into())],
            body: body.into(),
        }
    }

    /// A plain-text answer with the given status.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        HttpResponse {
            status,
            content_type: "text/plain; charset=utf-8".into(),
            headers: Vec::new(),
            body: body.into().into_bytes(),
        }
    }

    /// Writes the response; without the body for a `HEAD` request.
    pub(crate) fn write_to(&self, out: &mut impl Write, head_only: bool) -> io::Result<()> {
        let status = if (100..=999).contains(&self.status) {
            self.status
        } else {
            500
        };
        let mut text = format!(
            "HTTP/1.1 {status} {}\r\n",
            ws_proto::handshake::reason_phrase(status)
        );
        let content_type = if is_value(&self.content_type) {
            self.content_type.as_str()
        } else {
            "application/octet-stream"
        };
        text.push_str(&format!("Content-Type: {content_type}\r\n"));
        text.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        text.push_str("Connection: close\r\n");
        text.push_str("X-Content-Type-Options: nosniff\r\n");
        for (name, value) in &self.headers {
            let reserved = [
                "content-type",
                "content-length",
                "connection",
                "transfer-encoding",
            ]
            .iter()
            .any(|r| name.eq_ignore_ascii_case(r));
            if is_token(name) && is_value(value) && !reserved {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        text.push_str("\r\n");
        let mut bytes = text.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        out.write_all(&bytes)?;
        out.flush()
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_header_is_left_out() {
        let mut r = HttpResponse::text(200, "hi");
        r.headers.push(("X-Ok".into(), "1".into()));
        r.headers
            .push(("X-Bad".into(), "1\r\nSet-Cookie: a=b".into()));
        r.headers.push(("Bad Name".into(), "1".into()));
        r.headers.push(("content-length".into(), "99".into()));
        let mut out = Vec::new();
        r.write_to(&mut out, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\
             Connection: close\r\nX-Content-Type-Options: nosniff\r\nX-Ok: 1\r\n\r\nhi"
        );
    }

    #[test]
    fn head_has_no_body() {
        let mut out = Vec::new();
        HttpResponse::html("<p>x</p>")
            .write_to(&mut out, true)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("\r\n\r\n"), "{text}");
        assert!(text.contains("Content-Length: 8\r\n"));
    }
}
