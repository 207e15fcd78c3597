//! [`Stream`]: the socket of a server connection or of a client from
//! [`connect`](crate::connect), plain TCP or TLS.

use std::io::{self, IoSlice};
use std::net::TcpStream;
use std::time::Duration;

#[cfg(feature = "tls")]
use crate::tls::TlsStream;
use crate::websocket::Transport;

/// A TCP connection, with TLS on it or not.
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use ws_server::Stream;
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let stream = Stream::Plain(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
/// assert!(!stream.is_tls());
/// ```
#[derive(Debug)]
pub enum Stream {
    /// `ws://` and `http://`.
    Plain(TcpStream),
    /// `wss://` and `https://`.
    #[cfg(feature = "tls")]
    Tls(Box<TlsStream>),
}

impl Stream {
    /// The TCP connection underneath (for its addresses and socket
    /// options).
    ///
    /// ```
    /// # use std::net::{TcpListener, TcpStream};
    /// # use ws_server::Stream;
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = Stream::Plain(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
    /// assert_eq!(stream.tcp().peer_addr().unwrap(), listener.local_addr().unwrap());
    /// ```
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.tcp(),
        }
    }

    /// Whether TLS runs on it.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }
}

impl Transport for Stream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => Transport::read(s, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => Transport::write(s, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => Transport::write_vectored(s, bufs),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write_vectored(bufs),
        }
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_write_timeout(timeout)
    }
    fn shutdown_transport(&self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => Transport::shutdown_transport(s),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.shutdown_transport(),
        }
    }
}
