//! `ws-server`: the echo server. `GET /` serves a page to try it from a
//! browser; `/ws` echoes every message back.

use std::process::ExitCode;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use log::{error, info};
use ws_server::ws_proto::connection::CompressionConfig;
use ws_server::ws_proto::handshake::policy::{AcceptPolicy, PolicyError};
use ws_server::ws_proto::negotiation::DeflateConfig;
use ws_server::{echo, Options, OptionsError, Server};

/// A WebSocket echo server with a page to try it from a browser.
// `-h` and `--help` describe the binary with the same text: `about` only,
// and the rest after the options in both.
#[derive(Debug, Parser)]
#[command(
    version,
    long_about = None,
    after_help = "Open http://ADDR/ in a browser, or connect a WebSocket client to ws://ADDR/ws. \
                  Durations take a number of seconds (120) or a unit (500ms, 10s, 2m, 1h)."
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "WS_SERVER_BIND", default_value = "127.0.0.1:5000")]
    bind: String,

    /// An Origin allowed to open a WebSocket (repeatable, or comma-separated
    /// in the variable). Default: all. Requests without Origin are always
    /// allowed: Origin is not authentication.
    #[arg(
        long = "allowed-origin",
        env = "WS_SERVER_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,

    /// Send a ping this often; 0 disables.
    #[arg(long, env = "WS_SERVER_KEEP_ALIVE_INTERVAL", default_value = "2m", value_parser = parse_duration)]
    keep_alive_interval: Duration,

    /// Close (1011) a connection whose pong is this late; 0 disables.
    #[arg(long, env = "WS_SERVER_KEEP_ALIVE_TIMEOUT", default_value = "0", value_parser = parse_duration)]
    keep_alive_timeout: Duration,

    /// Bytes read from the socket at a time.
    #[arg(long, env = "WS_SERVER_RECEIVE_BUFFER_SIZE", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    receive_buffer_size: u32,

    /// Largest message accepted (bytes); larger ones close with 1009.
    #[arg(long, env = "WS_SERVER_MAX_MESSAGE_SIZE", default_value_t = 16 << 20)]
    max_message_size: usize,

    /// Largest frame payload accepted (bytes); larger ones close with 1009.
    #[arg(long, env = "WS_SERVER_MAX_FRAME_SIZE", default_value_t = 16 << 20)]
    max_frame_size: usize,

    /// Drop a client that has not completed its handshake within this time.
    #[arg(long, env = "WS_SERVER_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    handshake_timeout: Duration,

    /// Most connections at once; more get 503.
    #[arg(long, env = "WS_SERVER_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,

    /// A subprotocol the server speaks (repeatable, or comma-separated in the
    /// variable). The client's first offered one that is listed is chosen.
    #[arg(
        long = "subprotocol",
        env = "WS_SERVER_SUBPROTOCOLS",
        value_delimiter = ','
    )]
    subprotocols: Vec<String>,

    /// Give up on a peer that does not read a message within this time.
    #[arg(long, env = "WS_SERVER_WRITE_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    write_timeout: Duration,

    /// On Ctrl-C or SIGTERM, wait this long for close handshakes.
    #[arg(long, env = "WS_SERVER_SHUTDOWN_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    shutdown_timeout: Duration,

    /// Serve https:// and wss:// with this PEM certificate chain (needs
    /// --tls-key).
    #[cfg(feature = "tls")]
    #[arg(long, env = "WS_SERVER_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,

    /// The PEM private key of --tls-cert.
    #[cfg(feature = "tls")]
    #[arg(long, env = "WS_SERVER_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,

    /// Accept permessage-deflate (RFC 7692) when a client offers it. Off by
    /// default: compressing secrets next to attacker-chosen text leaks them
    /// (CRIME/BREACH; see docs/security.md).
    #[arg(long, env = "WS_SERVER_COMPRESSION")]
    compression: bool,

    /// zlib compression level, 0 (store) to 9 (smallest).
    #[arg(long, env = "WS_SERVER_COMPRESSION_LEVEL", default_value_t = 6)]
    compression_level: u8,

    /// Largest LZ77 window our compressor uses, as a power of two (8..=15);
    /// smaller windows use less memory per connection.
    #[arg(long, env = "WS_SERVER_SERVER_MAX_WINDOW_BITS", default_value_t = 12)]
    server_max_window_bits: u8,

    /// Start every message we send from an empty window, so that nothing is
    /// kept between messages (less memory, worse ratio).
    #[arg(long, env = "WS_SERVER_NO_SERVER_CONTEXT_TAKEOVER")]
    no_server_context_takeover: bool,

    /// Stack size of each connection thread (bytes).
    #[arg(long, env = "WS_SERVER_THREAD_STACK_SIZE", default_value_t = 128 << 10, value_parser = clap::value_parser!(u32).range(16384..))]
    thread_stack_size: u32,
}

/// Names the flag, or the environment variable, a refused setting came
/// from.
fn origin_of(matches: &ArgMatches, id: &str) -> String {
    let arg = Cli::command()
        .get_arguments()
        .find(|a| a.get_id() == id)
        .map(|a| {
            (
                format!("--{}", a.get_long().unwrap_or(id)),
                a.get_env().map(|e| e.to_string_lossy().into_owned()),
            )
        });
    let Some((flag, env)) = arg else {
        return id.to_owned();
    };
    match (matches.value_source(id), env) {
        (Some(ValueSource::EnvVariable), Some(env)) => env,
        (Some(ValueSource::DefaultValue), _) => format!("{flag} (default)"),
        _ => flag,
    }
}

/// The refusal of [`Options::validate`], worded with the setting's flag or
/// environment variable.
fn explain(error: &OptionsError, matches: &ArgMatches) -> String {
    match error {
        OptionsError::Zero(field) => {
            format!("{} must be at least 1", origin_of(matches, field))
        }
        OptionsError::KeepAliveTimeoutWithoutInterval => format!(
            "{} is set but {} is 0: no ping would be sent for the timeout to wait on",
            origin_of(matches, "keep_alive_timeout"),
            origin_of(matches, "keep_alive_interval")
        ),
        OptionsError::Policy(PolicyError::InvalidOrigin(o)) => format!(
            "{}: {o:?} is not an origin of the form scheme://host[:port]",
            origin_of(matches, "allowed_origins")
        ),
        OptionsError::Policy(PolicyError::InvalidSubprotocol(p)) => format!(
            "{}: {p:?} is not an HTTP token",
            origin_of(matches, "subprotocols")
        ),
        OptionsError::Policy(PolicyError::InvalidWindowBits(e)) => {
            format!("{}: {e}", origin_of(matches, "server_max_window_bits"))
        }
        OptionsError::CompressionLevel(l) => format!(
            "{}: {l} is not a level in 0..=9",
            origin_of(matches, "compression_level")
        ),
        OptionsError::CompressionMemLevel(l) => {
            format!("compression memory level {l} is not in 1..=9")
        }
    }
}

/// `120` (seconds), `500ms`, `10s`, `2m`, `1h`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 120, 500ms, 10s or 2m"))?;
    let seconds = |factor: u64| {
        number
            .checked_mul(factor)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("`{text}` is too long"))
    };
    match unit.trim() {
        "" | "s" => seconds(1),
        "ms" => Ok(Duration::from_millis(number)),
        "m" | "min" => seconds(60),
        "h" => seconds(3600),
        other => Err(format!(
            "unknown unit `{other}` in `{text}` (use ms, s, m or h)"
        )),
    }
}

fn builder_has_tls(cli: &Cli) -> bool {
    #[cfg(feature = "tls")]
    return cli.tls_cert.is_some();
    #[cfg(not(feature = "tls"))]
    {
        let _ = cli;
        false
    }
}

/// The server options the command line asks for.
fn options_from(cli: &Cli) -> Options {
    Options {
        bind: cli.bind.clone(),
        keep_alive_interval: cli.keep_alive_interval,
        keep_alive_timeout: (!cli.keep_alive_timeout.is_zero()).then_some(cli.keep_alive_timeout),
        receive_buffer_size: cli.receive_buffer_size as usize,
        policy: AcceptPolicy {
            allowed_origins: cli
                .allowed_origins
                .iter()
                .filter(|o| !o.is_empty())
                .cloned()
                .collect(),
            subprotocols: cli
                .subprotocols
                .iter()
                .filter(|p| !p.is_empty())
                .cloned()
                .collect(),
            deflate: cli.compression.then(|| DeflateConfig {
                server_max_window_bits: cli.server_max_window_bits,
                server_no_context_takeover: cli.no_server_context_takeover,
                ..DeflateConfig::default()
            }),
        },
        compression: CompressionConfig {
            level: cli.compression_level,
            ..Options::default().compression
        },
        max_message_size: cli.max_message_size,
        max_frame_size: cli.max_frame_size,
        handshake_timeout: cli.handshake_timeout,
        max_connections: cli.max_connections as usize,
        write_timeout: cli.write_timeout,
        shutdown_timeout: cli.shutdown_timeout,
        thread_stack_size: cli.thread_stack_size as usize,
        // The echo server echoes the close reason too, as ASP.NET Core's
        // sample does (the page shows it).
        echo_close_reason: true,
        ..Options::default()
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let tls = builder_has_tls(&cli);
    let options = options_from(&cli);
    if let Err(e) = options.validate() {
        error!("{}", explain(&e, &matches));
        return ExitCode::FAILURE;
    }
    let mut builder = Server::builder().options(options);
    #[cfg(feature = "tls")]
    if let (Some(cert), Some(key)) = (&cli.tls_cert, &cli.tls_key) {
        match ws_server::tls::server_config_from_pem_files(cert, key) {
            Ok(config) => builder = builder.tls(config),
            Err(e) => {
                error!(
                    "{} / {}: {e}",
                    origin_of(&matches, "tls_cert"),
                    origin_of(&matches, "tls_key")
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let server = match echo::routes(builder).build() {
        Ok(server) => server,
        // The message names the address.
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = server.local_addr();
    let (http, ws) = if tls {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    info!("echo page: {http}://{addr}/   WebSocket endpoint: {ws}://{addr}/ws");
    let handle = server.handle();
    if let Err(e) = ctrlc::set_handler(move || {
        if handle.is_shutting_down() {
            // A second Ctrl-C: the operator does not want to wait.
            error!("second signal: exiting without waiting for connections");
            std::process::exit(130);
        }
        info!("signal received: shutting down (again to force)");
        handle.shutdown();
    }) {
        error!("cannot install the signal handler: {e}");
        return ExitCode::FAILURE;
    }
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("server failed: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("120"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    fn refusal(args: &[&str]) -> String {
        let matches = Cli::command()
            .try_get_matches_from(std::iter::once("ws-server").chain(args.iter().copied()))
            .unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        let options = options_from(&cli);
        explain(&options.validate().unwrap_err(), &matches)
    }

    #[test]
    fn refusals_name_the_flag() {
        let text = refusal(&["--max-message-size", "0"]);
        assert!(text.starts_with("--max-message-size must be"), "{text}");
        let text = refusal(&["--keep-alive-interval", "0", "--keep-alive-timeout", "5s"]);
        assert!(
            text.contains("--keep-alive-timeout") && text.contains("--keep-alive-interval"),
            "{text}"
        );
        let text = refusal(&["--allowed-origin", "example.com"]);
        assert!(
            text.starts_with("--allowed-origin: \"example.com\""),
            "{text}"
        );
        let text = refusal(&["--subprotocol", "a b"]);
        assert!(text.starts_with("--subprotocol: \"a b\""), "{text}");
    }
}
