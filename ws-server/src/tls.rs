//! TLS (`wss://`, `https://`) with rustls on the ring provider: a
//! [`Transport`] that a reader and writers share, and the configurations.
//!
//! rustls needs `&mut` to read or write, so its state sits behind a lock
//! taken only to decrypt what arrived or to encrypt and send: the reader
//! waits for ciphertext on the socket *without* the lock, so a reader
//! blocked in `read` never holds up a writer, as for plain TCP.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig};

use crate::websocket::Transport;

/// Why a TLS configuration could not be built.
///
/// ```
/// use ws_server::tls::{server_config_from_pem, TlsError};
/// let err = server_config_from_pem(b"", b"").unwrap_err();
/// assert!(matches!(err, TlsError::Pem { what: "certificate", .. }));
/// ```
#[derive(Debug)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    Pem {
        /// What the file was for ("certificate", "private key", "CA").
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// rustls refused the certificate and key (a key that does not match
    /// the certificate, an unsupported algorithm).
    Config(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Pem { what, reason } => write!(f, "cannot read the {what}: {reason}"),
            TlsError::Config(e) => write!(f, "TLS configuration refused: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// The ring provider, as issue 12 asks: it builds with only a C compiler
/// (aws-lc-rs also needs cmake). rustls 0.23.48 deprecates it for lacking
/// post-quantum key exchange, which is a known trade-off of this choice.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pem_error(what: &'static str) -> impl Fn(rustls::pki_types::pem::Error) -> TlsError {
    move |e| TlsError::Pem {
        what,
        reason: e.to_string(),
    }
}

/// A server configuration from a PEM certificate chain and a PEM private
/// key (PKCS#8, PKCS#1 or SEC1), read with `rustls-pki-types`.
///
/// ```no_run
/// let config = ws_server::tls::server_config_from_pem_files("cert.pem".as_ref(), "key.pem".as_ref())?;
/// let server = ws_server::Server::builder().tls(config).build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn server_config_from_pem_files(
    cert: &Path,
    key: &Path,
) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(pem_error("certificate"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error("certificate"))?;
    let certs = non_empty(certs)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(pem_error("private key"))?;
    server_config(certs, key)
}

/// A server configuration from PEM text (certificate chain, private key).
///
/// ```
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let config = ws_server::tls::server_config_from_pem(
///     cert.cert.pem().as_bytes(),
///     cert.key_pair.serialize_pem().as_bytes(),
/// );
/// assert!(config.is_ok());
/// ```
pub fn server_config_from_pem(cert: &[u8], key: &[u8]) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error("certificate"))?;
    let certs = non_empty(certs)?;
    let key = PrivateKeyDer::from_pem_slice(key).map_err(pem_error("private key"))?;
    server_config(certs, key)
}

fn non_empty(
    certs: Vec<CertificateDer<'static>>,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what: "certificate",
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(TlsError::Config)?;
    Ok(Arc::new(config))
}

/// A client configuration that trusts the Mozilla roots of
/// `webpki-roots`, plus the CA certificates in `extra_ca_pem` (PEM text,
/// possibly empty).
///
/// ```
/// let config = ws_server::tls::client_config(b"").unwrap();
/// assert!(config.alpn_protocols.is_empty());
/// ```
pub fn client_config(extra_ca_pem: &[u8]) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in CertificateDer::pem_slice_iter(extra_ca_pem) {
        let cert = cert.map_err(pem_error("CA"))?;
        roots.add(cert).map_err(TlsError::Config)?;
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A TLS connection over a `TcpStream`, usable through `&self` by a reader
/// and writers at once.
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use std::time::Duration;
/// use ws_server::tls::{client_config, server_config_from_pem, TlsStream};
/// use ws_server::Transport;
///
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
/// let server_config = server_config_from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = std::thread::spawn(move || {
///     let tls = TlsStream::accept(listener.accept().unwrap().0, server_config, Duration::from_secs(10)).unwrap();
///     let mut buf = [0u8; 5];
///     let n = tls.read(&mut buf).unwrap();
///     tls.write(&buf[..n]).unwrap();
/// });
/// let config = client_config(cert_pem.as_bytes()).unwrap();
/// let tls = TlsStream::connect(TcpStream::connect(addr).unwrap(), config, "localhost", Duration::from_secs(10)).unwrap();
/// tls.write(b"hello").unwrap();
/// let mut buf = [0u8; 5];
/// assert_eq!(tls.read(&mut buf).unwrap(), 5);
/// assert_eq!(&buf, b"hello");
/// server.join().unwrap();
/// ```
pub struct TlsStream {
    tcp: TcpStream,
    tls: Mutex<Connection>,
    /// The reader's ciphertext (only the reader takes this lock).
    incoming: Mutex<Incoming>,
}

/// Ciphertext read from the socket; `buf[start..end]` is not yet taken by
/// rustls.
struct Incoming {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("tcp", &self.tcp)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TlsStream {
    /// Runs the server side of the TLS handshake on `tcp`, within `timeout`.
    pub fn accept(
        tcp: TcpStream,
        config: Arc<ServerConfig>,
        timeout: Duration,
    ) -> io::Result<TlsStream> {
        let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        Self::handshake(tcp, Connection::Server(conn), timeout)
    }

    /// Runs the client side of the TLS handshake with `server_name` (the
    /// host the certificate must name), within `timeout`.
    pub fn connect(
        tcp: TcpStream,
        config: Arc<ClientConfig>,
        server_name: &str,
        timeout: Duration,
    ) -> io::Result<TlsStream> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
        Self::handshake(tcp, Connection::Client(conn), timeout)
    }

    fn handshake(tcp: TcpStream, mut conn: Connection, timeout: Duration) -> io::Result<Self> {
        // One deadline for the whole handshake, so a peer trickling bytes
        // cannot stretch it.
        let deadline = Instant::now() + timeout;
        let arm = |tcp: &TcpStream| -> io::Result<()> {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS handshake timed out",
                ));
            }
            let left = Some(left.max(Duration::from_millis(1)));
            tcp.set_read_timeout(left)?;
            tcp.set_write_timeout(left)
        };
        // rustls' `complete_io` would loop inside one call; this loop sets
        // the timeout to what is left before every read and write.
        while conn.is_handshaking() || conn.wants_write() {
            arm(&tcp)?;
            if conn.wants_write() {
                conn.write_tls(&mut &tcp)?;
                continue;
            }
            if conn.read_tls(&mut &tcp)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if let Err(e) = conn.process_new_packets() {
                // Best effort: the alert tells the peer why.
                let _ = conn.write_tls(&mut &tcp);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
        Ok(TlsStream {
            tcp,
            tls: Mutex::new(conn),
            incoming: Mutex::new(Incoming {
                buf: vec![0; 18 << 10],
                start: 0,
                end: 0,
                eof: false,
            }),
        })
    }

    /// The TCP connection underneath.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// Decrypts what was fed, and sends what that produced (an alert, a key
    /// update's answer).
    fn process(&self, tls: &mut Connection) -> io::Result<()> {
        let processed = tls.process_new_packets();
        let sent = self.send_pending(tls);
        processed.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        sent
    }

    fn send_pending(&self, tls: &mut Connection) -> io::Result<()> {
        while tls.wants_write() {
            tls.write_tls(&mut &self.tcp)?;
        }
        Ok(())
    }
}

impl Transport for TlsStream {
    fn read(&self, out: &mut [u8]) -> io::Result<usize> {
        let mut incoming = lock(&self.incoming);
        let Incoming {
            buf,
            start,
            end,
            eof,
        } = &mut *incoming;
        loop {
            {
                let mut tls = lock(&self.tls);
                loop {
                    match tls.reader().read(out) {
                        Ok(n) => return Ok(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                    // rustls takes ciphertext only while its plaintext
                    // buffer has room, so what it does not take waits here.
                    if *start == *end || !tls.wants_read() {
                        break;
                    }
                    let taken = tls.read_tls(&mut &buf[*start..*end])?;
                    *start += taken;
                    self.process(&mut tls)?;
                    if taken == 0 {
                        break;
                    }
                }
                if *eof && *start == *end {
                    // An empty read tells rustls the stream ended: a clean
                    // end after close_notify, or an error.
                    tls.read_tls(&mut &[][..])?;
                    self.process(&mut tls)?;
                    return match tls.reader().read(out) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                        other => other,
                    };
                }
            }
            if *start == *end {
                (*start, *end) = (0, 0);
            } else if *end == buf.len() {
                buf.copy_within(*start..*end, 0);
                (*start, *end) = (0, *end - *start);
            }
            if *end == buf.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "TLS input stalled with a full buffer",
                ));
            }
            // Wait for ciphertext without the TLS lock: writers go on.
            match Read::read(&mut &self.tcp, &mut buf[*end..])? {
                0 => *eof = true,
                n => *end += n,
            }
        }
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut tls = lock(&self.tls);
        let n = tls.writer().write(buf)?;
        self.send_pending(&mut tls)?;
        Ok(n)
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp.set_write_timeout(timeout)
    }

    fn shutdown_transport(&self) -> io::Result<()> {
        // No close_notify: the WebSocket close handshake already ended the
        // conversation, and writing it could block on a peer that stopped
        // reading (this is also how a stalled connection is cut).
        self.tcp.shutdown(Shutdown::Both)
    }
}
