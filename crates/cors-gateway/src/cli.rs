//! The command line: `serve`, `check`, `explain` and the demo.
#![expect(
    clippy::doc_markdown,
    reason = "the doc comments of clap arguments are the --help text, read in a terminal where backticks are noise"
)]
#![allow(
    rustdoc::bare_urls,
    reason = "the doc comments of clap arguments are the --help text, where URLs are typed as the user types them"
)]

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;

use crate::access_log::LogFormat;
use crate::commands::listen_address;
use crate::proxy::{Upstream, VIA_PSEUDONYM, parse_pseudonym, parse_trusted_proxy};
use crate::telemetry::TelemetryArgs;

/// Runs an HTTP gateway that applies a MuleSoft Flex `cors-flex` policy in front of your API.
#[derive(Debug, Parser)]
#[command(
    name = "cors-gateway",
    version,
    about = "Apply a MuleSoft Flex cors-flex CORS policy in front of any HTTP API",
    long_about = "Apply a MuleSoft Flex cors-flex CORS policy in front of any HTTP API.\n\n\
        cors-gateway is a small reverse proxy: browsers talk to it, it answers CORS preflights \
        itself, refuses cross-origin requests the policy does not allow, forwards everything \
        else to your API (the \"upstream\") and adds the right Access-Control-* headers to the \
        answers.\n\n\
        Run it without arguments for a self-contained demo on http://127.0.0.1:8787 (a free \
        port if that one is busy) with ready-to-paste curl commands.",
    after_help = "Examples:\n  \
        cors-gateway                                   start the demo\n  \
        cors-gateway check policy.yaml                 validate a policy file\n  \
        cors-gateway explain policy.yaml --origin https://app.example.com --request-method PUT\n  \
        cors-gateway serve --config policy.yaml --listen 127.0.0.1:8080 --upstream http://127.0.0.1:3000\n  \
        cors-gateway serve --config-dir /etc/flex --tls-cert cert.pem --tls-key key.pem"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// More logs on stderr: -v shows one line per request with its CORS decision, -vv everything.
    /// RUST_LOG, when set, wins.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Only warnings and errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the gateway: listen for clients and forward to the upstream, applying the policy.
    // Boxed: with the TLS, limit and telemetry groups it is many times the other variants.
    Serve(Box<ServeArgs>),
    /// Validate a policy file, or a Flex Local Mode folder: every error and warning with
    /// FILE:LINE:COLUMN, exit 1 on errors.
    Check(CheckArgs),
    /// Show what the policy decides for one request, and the rules behind the decision.
    Explain(ExplainArgs),
    /// Run the demo (the same as running cors-gateway without arguments).
    Demo(DemoArgs),
}

impl Cli {
    /// Parses the command line, exiting as clap does (code 2, usage on stderr) on a mistake,
    /// those between flags ([`Cli::try_parse_checked`]) included.
    pub(crate) fn parse_checked() -> Self {
        Self::try_parse_checked(std::env::args_os()).unwrap_or_else(|error| error.exit())
    }

    /// Parses `args`, then refuses what clap's rules between flags cannot say: a mistake on the
    /// command line is a usage error (exit 2) saying what to write, never a failure at start.
    pub(crate) fn try_parse_checked<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let cli = Self::try_parse_from(args)?;
        if let Some(Command::Serve(serve)) = &cli.command {
            let telemetry = &serve.telemetry;
            if telemetry.access_log == LogFormat::Off && telemetry.access_log_file.is_some() {
                let mut command = <Self as clap::CommandFactory>::command();
                return Err(command.error(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    "--access-log-file needs a format: add --access-log text or --access-log json",
                ));
            }
        }
        Ok(cli)
    }
}

/// `cors-gateway serve`.
#[derive(Debug, Args)]
#[command(
    after_help = "The policy (or the folder) and the TLS certificate are reloaded on SIGHUP \
    and when their files change; invalid files keep what is in use (every error is logged). \
    SIGHUP also reopens --access-log-file. SIGTERM or Ctrl-C stops accepting connections, \
    turns /readyz to 503 and finishes the requests in flight. \
    docs/operations.md is the operator's guide."
)]
pub(crate) struct ServeArgs {
    /// The policy file: a cors-flex `config` block, a policyRef list, a PolicyBinding or a Flex
    /// Local Mode ApiInstance (which may also name the listener and the upstream).
    #[arg(long, short = 'c', value_name = "FILE", required_unless_present = "config_dir")]
    pub(crate) config: Option<PathBuf>,
    /// A Flex Local Mode configuration folder, served whole: every ApiInstance's listener, with
    /// its policy and routes (instead of --config, --listen and --upstream).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "listen", "upstream"])]
    pub(crate) config_dir: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080, 0.0.0.0:8080 or https://0.0.0.0:8443
    /// [default: the ApiInstance's spec.address, else 127.0.0.1:8080].
    #[arg(long, short = 'l', value_name = "ADDR", value_parser = parse_listen)]
    pub(crate) listen: Option<String>,
    /// Where to forward requests, e.g. http://127.0.0.1:3000 or https://api.internal (a path is
    /// used as a prefix) [default: the ApiInstance's first service's address].
    #[arg(long, short = 'u', value_name = "URL", value_parser = parse_upstream)]
    pub(crate) upstream: Option<String>,
    /// Send the upstream's host:port as the Host header (by default the authority the client
    /// addressed is kept: its Host, or the request target's authority when it has one).
    #[arg(long)]
    pub(crate) rewrite_host: bool,
    /// The scheme browsers use to reach this gateway, used to recognise same-origin requests
    /// [default: https on a TLS listener, else http; set https when a TLS terminator in front
    /// forwards to a plain listener].
    #[arg(long, value_enum, value_name = "SCHEME")]
    pub(crate) public_scheme: Option<SchemeArg>,
    /// The name the gateway gives itself in the Via field it appends to every forwarded request
    /// (e.g. "Via: 1.1 cors-gateway"); a token, such as a host name that reveals nothing.
    #[arg(long, default_value = VIA_PSEUDONYM, value_parser = parse_pseudonym, value_name = "NAME")]
    pub(crate) via_pseudonym: String,
    /// Peers whose forwarding fields are kept, such as a load balancer in front of the gateway:
    /// IP addresses or CIDR ranges, comma-separated (e.g. 10.0.0.0/8,fd00::/8). From any other
    /// peer, X-Forwarded-For, Forwarded, X-Forwarded-Proto, X-Forwarded-Host and X-Real-IP are
    /// replaced by the gateway's own, so that a client cannot forge them [default: none: every
    /// peer's are replaced].
    #[arg(long, value_delimiter = ',', value_parser = parse_trusted_proxy, value_name = "CIDR,...")]
    pub(crate) trusted_proxies: Vec<IpNet>,
    /// Every connection to the proxy listeners starts with a PROXY protocol header (v1 or v2,
    /// as HAProxy, AWS NLB and GCP TCP load balancers send it; before the TLS handshake on an
    /// https listener): its source address is taken as the client's, in X-Forwarded-For,
    /// Forwarded and X-Real-IP, in the access log, and to judge whether the client's own
    /// forwarding fields are kept. Needs --trusted-proxies, the balancer's addresses: a
    /// connection from a peer outside it, or without a valid header within
    /// --header-read-timeout, is closed unanswered (counted in /metrics, logged with -v). The
    /// admin listener never reads one.
    #[arg(long, requires = "trusted_proxies")]
    pub(crate) proxy_protocol: bool,
    /// How often to check the policy, folder and certificate files for changes; a change is read
    /// once it has held still for one more check (0 turns polling off; SIGHUP still works).
    #[arg(long, value_parser = parse_duration, default_value = "2s", value_name = "DURATION")]
    pub(crate) watch_interval: Duration,
    /// Worker threads serving the clients, each with its own listening socket on every address
    /// (SO_REUSEPORT on Linux: the kernel spreads new connections between them; elsewhere they
    /// share one) and serving every connection it accepts, with its upstream connections, to
    /// the end. At least 1 [default: the number of cores the gateway may run on].
    #[arg(long, value_parser = parse_workers, value_name = "COUNT")]
    pub(crate) workers: Option<NonZeroUsize>,
    #[command(flatten)]
    pub(crate) tls: TlsArgs,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
    #[command(flatten)]
    pub(crate) telemetry: TelemetryArgs,
}

/// TLS on the listener and to the upstreams.
#[derive(Debug, Args)]
#[command(next_help_heading = "TLS")]
pub(crate) struct TlsArgs {
    /// Serve TLS with this certificate chain (PEM: the certificate, then its intermediates);
    /// offers h2, http/1.1 and http/1.0 by ALPN. With --config-dir, for every https:// listener.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS #8, PKCS #1 RSA or SEC1 EC), not encrypted:
    /// decrypt an ENCRYPTED PRIVATE KEY first (openssl pkey -in KEY -out PLAIN).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Verify https upstreams against the CA certificates of this PEM file instead of the
    /// system's roots.
    #[arg(long, value_name = "FILE")]
    pub(crate) upstream_ca: Option<PathBuf>,
    /// Do not verify the certificates of https upstreams (the traffic is still encrypted, to
    /// whoever answers). Logs a warning at start.
    #[arg(long, conflicts_with = "upstream_ca")]
    pub(crate) upstream_insecure: bool,
}

/// Timeouts and limits, shared by `serve` and the demo.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Limits")]
pub(crate) struct LimitArgs {
    /// Time a client has to send a request's headers (e.g. 10s, 500ms). A new connection must
    /// finish its TLS handshake and deliver its first complete request head (HTTP/2: the
    /// preface, SETTINGS and the first HEADERS) within this time from being accepted, or it is
    /// closed; each later HTTP/1.1 request head within this time from its first byte. Above 0.
    #[arg(long, value_parser = parse_header_read_timeout, default_value = "10s", value_name = "DURATION")]
    pub(crate) header_read_timeout: Duration,
    /// Time a connection may stay open with no request in progress before it is closed (HTTP/2
    /// with GOAWAY; 0 turns this off). It is also the time a kept-alive HTTP/1.1 client has to
    /// start its next request.
    #[arg(long, value_parser = parse_duration, default_value = "60s", value_name = "DURATION")]
    pub(crate) idle_timeout: Duration,
    /// Time a client may take up no part of a response while the gateway has some to send (its
    /// TCP window, or on HTTP/2 the stream's window, stays full; each response on its own,
    /// whatever the connection's other streams do); past it the connection is closed, and the
    /// upstream connection and slots its responses held are freed. A response
    /// the upstream sends nothing of (a server-sent events stream between events) is not
    /// waiting on the client. 0 turns this off.
    #[arg(long, value_parser = parse_duration, default_value = "60s", value_name = "DURATION")]
    pub(crate) send_timeout: Duration,
    /// Time an HTTP/2 client may send nothing before it is sent a keep-alive PING (0 turns
    /// pings off).
    #[arg(long, value_parser = parse_duration, default_value = "20s", value_name = "DURATION")]
    pub(crate) http2_keep_alive_interval: Duration,
    /// Time an HTTP/2 client has to acknowledge a PING; past it the connection is closed. Above
    /// 0 (--http2-keep-alive-interval 0 turns pings off).
    #[arg(long, value_parser = parse_keep_alive_timeout, default_value = "20s", value_name = "DURATION")]
    pub(crate) http2_keep_alive_timeout: Duration,
    /// Time to establish a connection to the upstream (TCP and TLS together); past it the answer
    /// is 502. Above 0.
    #[arg(long, value_parser = parse_connect_timeout, default_value = "5s", value_name = "DURATION")]
    pub(crate) connect_timeout: Duration,
    /// Time the upstream has to start answering; past it the answer is 504. Above 0.
    #[arg(long, value_parser = parse_upstream_timeout, default_value = "60s", value_name = "DURATION")]
    pub(crate) upstream_timeout: Duration,
    /// Time the upstream may send nothing more of a response body the gateway is waiting for,
    /// once the response head has arrived (as nginx's proxy_read_timeout, between two reads);
    /// past it the response is cut (HTTP/1.1: the client connection closed mid-body; HTTP/2:
    /// the stream reset) and the upstream connection and slots are freed. Server-sent events
    /// that send an event or a comment more often keep streaming, and a response whose
    /// upstream waits for the rest of a request body being uploaded is not cut while the upload
    /// moves (--body-read-timeout bounds it). 0 turns this off.
    #[arg(long, value_parser = parse_duration, default_value = "60s", value_name = "DURATION")]
    pub(crate) upstream_read_timeout: Duration,
    /// Most bytes in a request body; past it the answer is 413 (before the upstream is contacted
    /// when Content-Length says so, otherwise as soon as the body goes over). Smaller bodies
    /// stream through unchanged.
    #[arg(long, default_value_t = 10 * 1024 * 1024, value_name = "BYTES")]
    pub(crate) max_request_body: u64,
    /// Time a client has to send a whole request body, from when the gateway starts forwarding
    /// it; past it the answer is 408, or the connection is closed if the response has started.
    /// Above 0.
    #[arg(long, value_parser = parse_body_read_timeout, default_value = "60s", value_name = "DURATION")]
    pub(crate) body_read_timeout: Duration,
    /// Most bytes in a request's header section (at least 8192); past it the answer is 431.
    #[arg(long, default_value_t = 32 * 1024, value_parser = parse_header_bytes, value_name = "BYTES")]
    pub(crate) max_header_bytes: usize,
    /// Most header fields in a request; past it the answer is 431.
    #[arg(long, default_value_t = 100, value_name = "COUNT")]
    pub(crate) max_headers: usize,
    /// Most client connections served at once; further ones wait in the listen backlog until one
    /// closes, so descriptors stay available for the upstream. This and --upstream-max-connections
    /// are lowered, with a warning, when together they do not fit in the open-file limit
    /// (ulimit -n, raised to its hard limit at start; 32 descriptors are kept for the gateway
    /// itself, 6 more for each worker after the first, and 2 more on every worker for each
    /// listener of a folder after the first); below 64 open files (with one worker and one
    /// listener) the gateway refuses to start.
    #[arg(long, default_value = "10000", value_name = "COUNT")]
    pub(crate) max_connections: NonZeroUsize,
    /// Most connections one client (an IPv4 address, an IPv6 /64) may hold while more than half
    /// of --max-connections is in use; past it a new connection of that client is closed at
    /// once, so that no client can take the slots all clients share. A peer in
    /// --trusted-proxies is not counted; behind --proxy-protocol the client is the one the
    /// header names (the clients it cannot name count as one, the balancer). 0 turns this off.
    #[arg(long, default_value_t = 1000, value_name = "COUNT")]
    pub(crate) max_connections_per_client: usize,
    /// Most streams one HTTP/2 client connection may have open at once, announced to it as
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    #[arg(long, default_value = "100", value_name = "COUNT")]
    pub(crate) max_concurrent_streams: NonZeroU32,
    /// Most requests in flight to the upstreams at once, and so most connections open to them,
    /// idle ones included (one count for all the upstreams of a folder, and for all workers);
    /// further requests wait in line for a free one.
    #[arg(long, default_value = "1000", value_name = "COUNT")]
    pub(crate) upstream_max_connections: NonZeroUsize,
    /// Most of those one client connection may hold, so that no client can take every upstream
    /// connection (lowered to half of --upstream-max-connections if it is more); its further
    /// requests wait in the same queue.
    #[arg(long, default_value = "32", value_name = "COUNT")]
    pub(crate) upstream_max_per_connection: NonZeroUsize,
    /// Time an upstream connection may wait in the gateway's pool for its next request before
    /// the gateway closes it (0 keeps none: a connection per request). Set it below the
    /// upstream's own keep-alive timeout (Node.js and Apache 5 s, gunicorn 2 s): a request sent
    /// just as the upstream closes an idle connection is sent again on a new connection only
    /// when that is safe (nothing of it written yet, or an idempotent request without a body),
    /// and otherwise gets 502.
    #[arg(long, value_parser = parse_duration, default_value = "60s", value_name = "DURATION")]
    pub(crate) upstream_idle_timeout: Duration,
    /// Time a request may wait in the queue for the upstream; past it the answer is 503 (0: no
    /// waiting, a request that finds every upstream slot taken gets 503 at once).
    #[arg(long, value_parser = parse_duration, default_value = "5s", value_name = "DURATION")]
    pub(crate) upstream_queue_timeout: Duration,
    /// Time a tunnel (a WebSocket or other upgraded connection) may carry no byte either way
    /// before it is closed (0 turns this off). Tunnels also count against --max-connections and
    /// hold an upstream connection of --upstream-max-connections until they close.
    #[arg(long, value_parser = parse_duration, default_value = "5m", value_name = "DURATION")]
    pub(crate) tunnel_idle_timeout: Duration,
    /// Time to let requests in flight finish after SIGTERM or Ctrl-C (tunnels are closed at
    /// once; 0 closes every connection at once, requests in flight included).
    #[arg(long, value_parser = parse_duration, default_value = "30s", value_name = "DURATION")]
    pub(crate) shutdown_timeout: Duration,
}

/// The listener scheme as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SchemeArg {
    /// Browsers reach the gateway over plain http.
    Http,
    /// Browsers reach the gateway over https (TLS here, or a terminator in front).
    Https,
}

/// `cors-gateway check`.
#[derive(Debug, Args)]
#[command(
    after_help = "One FILE is checked as `serve --config FILE` reads it: any cors-flex file \
    shape. A folder, or several files, is checked as a Flex Local Mode configuration: every \
    YAML document of every .yaml/.yml file, linked into listeners, API instances and routes."
)]
pub(crate) struct CheckArgs {
    /// The policy file to validate, or a Flex Local Mode folder, or several files of one.
    #[arg(value_name = "PATH", required = true, num_args = 1..)]
    pub(crate) files: Vec<PathBuf>,
    /// Fail (exit 1) on warnings too, e.g. in CI.
    #[arg(long)]
    pub(crate) deny_warnings: bool,
    /// Print the normalized policy (the cors-flex `config` block) on stdout; for a folder, each
    /// API instance's, after a `# ApiInstance NAME at ADDRESS` line.
    #[arg(long)]
    pub(crate) print: bool,
}

/// `cors-gateway explain`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    explain policy.yaml --origin https://app.example.com                      an actual GET\n  \
    explain policy.yaml --origin https://app.example.com --request-method PUT --request-headers content-type   a preflight")]
pub(crate) struct ExplainArgs {
    /// The policy file.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// The request's Origin header, e.g. https://app.example.com.
    #[arg(long, value_name = "ORIGIN")]
    pub(crate) origin: String,
    /// The request's method [default: OPTIONS when --request-method is given, else GET].
    #[arg(long, value_name = "METHOD")]
    pub(crate) method: Option<String>,
    /// The Access-Control-Request-Method header (makes the request a preflight).
    #[arg(long, value_name = "METHOD")]
    pub(crate) request_method: Option<String>,
    /// The Access-Control-Request-Headers header, e.g. "content-type, x-token".
    #[arg(long, value_name = "HEADERS")]
    pub(crate) request_headers: Option<String>,
    /// The Host header, to see the same-origin rule (R2) at work.
    #[arg(long, value_name = "HOST")]
    pub(crate) host: Option<String>,
    /// The scheme the request arrived on (with --host).
    #[arg(long, value_enum, default_value_t = SchemeArg::Http, value_name = "SCHEME")]
    pub(crate) scheme: SchemeArg,
}

/// `cors-gateway demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Address of the demo gateway [default: 127.0.0.1:8787, or a free port if that one is busy].
    #[arg(long, short = 'l', value_name = "ADDR", value_parser = parse_listen)]
    pub(crate) listen: Option<String>,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
}

impl DemoArgs {
    /// The demo's settings when `cors-gateway` runs without arguments.
    pub(crate) fn defaults() -> Self {
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            args: DemoArgs,
        }
        Defaults::parse_from(["cors-gateway"]).args
    }
}

/// Checks a listener address as `serve` reads it ([`listen_address`]), so that a mistake is a
/// command-line error (exit 2) saying what to write, before anything is loaded.
pub(crate) fn parse_listen(text: &str) -> Result<String, String> {
    listen_address(text).map(|_| text.to_owned())
}

/// Checks `--upstream` as `serve` reads it ([`Upstream::parse`]), so that a mistake is a
/// command-line error (exit 2) saying what to write.
pub(crate) fn parse_upstream(text: &str) -> Result<String, String> {
    Upstream::parse(text).map(|_| text.to_owned())
}

/// `--workers`: a count of 1 or more.
pub(crate) fn parse_workers(text: &str) -> Result<NonZeroUsize, String> {
    let count: usize =
        text.parse().map_err(|_| "expected a whole number of worker threads, e.g. 4".to_owned())?;
    NonZeroUsize::new(count).ok_or_else(|| {
        "0 worker threads would serve no client: give 1 or more, or leave --workers out for \
         one per core"
            .to_owned()
    })
}

/// Parses a header-section size limit; hyper needs room for at least 8192 bytes.
pub(crate) fn parse_header_bytes(text: &str) -> Result<usize, String> {
    let bytes: usize = text.trim().parse().map_err(|_| format!("invalid byte count \"{text}\""))?;
    if bytes < 8192 {
        return Err(format!("{bytes} is below the smallest supported limit, 8192 bytes"));
    }
    Ok(bytes)
}

/// The longest duration a flag takes: a year, longer than any wait the gateway could mean, and
/// far below what overflows a deadline computed from now (`Instant + Duration` panics past the
/// clock's range, finding F-BL).
const MAX_DURATION: Duration = Duration::from_hours(365 * 24);

/// Parses `10s`, `500ms`, `2m`, or a plain number of seconds, up to [`MAX_DURATION`].
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration \"{text}\" (expected e.g. 10s, 500ms or 2m)"))?;
    let duration = match unit.trim() {
        "" | "s" => Duration::from_secs(number),
        "ms" => Duration::from_millis(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        other => {
            return Err(format!(
                "invalid duration unit \"{other}\" in \"{text}\" (use ms, s or m)"
            ));
        }
    };
    if duration > MAX_DURATION {
        return Err(format!(
            "duration \"{text}\" is too long: at most {}s (a year)",
            MAX_DURATION.as_secs()
        ));
    }
    Ok(duration)
}

/// [`parse_duration`], for a limit that 0 cannot turn off: 0 would make it expire at once, and
/// `zero_would` says what every client or request would then get. The flags whose 0 means "off"
/// or "do not wait" say so in their help instead.
fn parse_nonzero_duration(text: &str, zero_would: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err(format!("\"{text}\" would {zero_would}: give a duration above 0"));
    }
    Ok(duration)
}

/// `--upstream-timeout`: 0 answered every forwarded request `504` before its upstream could
/// answer (finding F-BM).
pub(crate) fn parse_upstream_timeout(text: &str) -> Result<Duration, String> {
    parse_nonzero_duration(text, "answer every forwarded request 504 before the upstream could")
}

/// `--connect-timeout`: 0 fails every new upstream connection not made within the timer's tick
/// (about a millisecond), so all but a few on loopback.
pub(crate) fn parse_connect_timeout(text: &str) -> Result<Duration, String> {
    parse_nonzero_duration(
        text,
        "answer 502 to every request that needs a new upstream connection, before it could be made",
    )
}

/// `--header-read-timeout`: 0 closes every connection before its client could send a request.
pub(crate) fn parse_header_read_timeout(text: &str) -> Result<Duration, String> {
    parse_nonzero_duration(text, "close every connection before its client could send a request")
}

/// `--body-read-timeout`: 0 answers `408` to every request whose body has not all arrived yet.
pub(crate) fn parse_body_read_timeout(text: &str) -> Result<Duration, String> {
    parse_nonzero_duration(
        text,
        "answer 408 to every request whose body has not all arrived with its head",
    )
}

/// `--http2-keep-alive-timeout`: 0 closes every HTTP/2 connection at its first PING.
pub(crate) fn parse_keep_alive_timeout(text: &str) -> Result<Duration, String> {
    parse_nonzero_duration(
        text,
        "close every HTTP/2 connection at its first PING, before the client could answer \
         (--http2-keep-alive-interval 0 turns pings off)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[track_caller]
    fn check(text: &str, expected: Option<Duration>) {
        assert_eq!(parse_duration(text).ok(), expected);
    }

    #[rstest]
    #[case::plain_number_is_seconds("10", Some(Duration::from_secs(10)))]
    #[case::seconds("3s", Some(Duration::from_secs(3)))]
    #[case::milliseconds("250ms", Some(Duration::from_millis(250)))]
    #[case::minutes("2m", Some(Duration::from_mins(2)))]
    #[case::zero_is_allowed("0", Some(Duration::ZERO))]
    #[case::unknown_unit_is_rejected("5h", None)]
    #[case::empty_is_rejected("", None)]
    #[case::negative_is_rejected("-1s", None)]
    #[case::a_year_is_allowed("31536000", Some(MAX_DURATION))]
    #[case::past_a_year_is_rejected("31536001", None)]
    #[case::largest_seconds_are_rejected("18446744073709551615", None)]
    #[case::largest_minutes_are_rejected("18446744073709551615m", None)]
    #[case::largest_milliseconds_are_rejected("18446744073709551615ms", None)]
    fn durations(#[case] text: &str, #[case] expected: Option<Duration>) {
        check(text, expected);
    }

    #[rstest]
    #[case::seconds("3s", Some(Duration::from_secs(3)))]
    #[case::a_millisecond("1ms", Some(Duration::from_millis(1)))]
    #[case::zero_is_rejected("0", None)]
    #[case::zero_milliseconds_are_rejected("0ms", None)]
    #[case::past_a_year_is_rejected("31536001", None)]
    fn nonzero_durations(#[case] text: &str, #[case] expected: Option<Duration>) {
        assert_eq!(parse_nonzero_duration(text, "fail").ok(), expected);
    }

    fn serve(flag: &str, value: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from([
            "cors-gateway",
            "serve",
            "--config",
            "policy.yaml",
            "--upstream",
            "http://127.0.0.1:1",
            flag,
            value,
        ])
    }

    /// The limits that 0 would make expire at once: refused, with what 0 would have done.
    #[rstest]
    #[case::upstream_timeout("--upstream-timeout", "504")]
    #[case::connect_timeout("--connect-timeout", "502")]
    #[case::header_read_timeout("--header-read-timeout", "before its client could send")]
    #[case::body_read_timeout("--body-read-timeout", "408")]
    #[case::keep_alive_timeout("--http2-keep-alive-timeout", "--http2-keep-alive-interval 0")]
    fn a_limit_that_0_would_expire_at_once_refuses_0(#[case] flag: &str, #[case] says: &str) {
        let error = serve(flag, "0").expect_err("0 is refused").to_string();
        assert!(error.contains(flag) && error.contains(says), "{error}");
        assert!(error.contains("give a duration above 0"), "{error}");
        assert!(serve(flag, "1ms").is_ok(), "{flag} takes any duration above 0");
    }

    /// The limits whose 0 is a documented setting: off, no waiting, or no caching.
    #[rstest]
    #[case::idle_timeout_off("--idle-timeout")]
    #[case::send_timeout_off("--send-timeout")]
    #[case::upstream_read_timeout_off("--upstream-read-timeout")]
    #[case::tunnel_idle_timeout_off("--tunnel-idle-timeout")]
    #[case::keep_alive_pings_off("--http2-keep-alive-interval")]
    #[case::upstream_pool_keeps_none("--upstream-idle-timeout")]
    #[case::upstream_queue_does_not_wait("--upstream-queue-timeout")]
    #[case::shutdown_does_not_wait("--shutdown-timeout")]
    #[case::file_polling_off("--watch-interval")]
    #[case::readiness_checked_on_every_probe("--ready-probe-interval")]
    fn a_limit_whose_0_is_a_setting_takes_0(#[case] flag: &str) {
        if let Err(error) = serve(flag, "0") {
            panic!("{flag} 0 is refused: {error}");
        }
        let help = <Cli as clap::CommandFactory>::command()
            .find_subcommand_mut("serve")
            .expect("serve")
            .render_long_help()
            .to_string();
        let (_, from_flag) = help.split_once(&format!("{flag} <DURATION>")).expect("flag");
        let text = from_flag.split("[default:").next().unwrap_or_default();
        let says_0 = text.split_whitespace().any(|word| word.trim_matches(['(', ':']) == "0");
        assert!(says_0, "{flag}'s help says what 0 means: {text}");
    }

    #[rstest]
    #[case::default_size("32768", Some(32768))]
    #[case::smallest("8192", Some(8192))]
    #[case::too_small_is_rejected("4096", None)]
    #[case::garbage_is_rejected("lots", None)]
    fn header_bytes(#[case] text: &str, #[case] expected: Option<usize>) {
        assert_eq!(parse_header_bytes(text).ok(), expected);
    }

    /// `--access-log-file` without a format is a usage error, as every other mistake of the
    /// command line is (it was a failure at start, exit 1), saying what to add.
    #[rstest]
    #[case::no_format(&[])]
    #[case::format_off(&["--access-log", "off"])]
    fn an_access_log_file_without_a_format_is_a_usage_error(#[case] format: &[&str]) {
        let args = ["cors-gateway", "serve", "--config", "p.yaml", "--access-log-file", "a.log"];
        let error = Cli::try_parse_checked(args.iter().chain(format)).expect_err("refused");
        assert_eq!(error.exit_code(), 2);
        assert!(
            error.to_string().contains("add --access-log text or --access-log json"),
            "{error}"
        );
        let with_format = args.iter().chain(&["--access-log", "json"]);
        assert!(Cli::try_parse_checked(with_format).is_ok());
    }

    /// `--upstream` takes what a Local Mode folder's service address takes: an `http` or
    /// `https` URL, without user information, query or fragment. Without a scheme it was read
    /// as `http://`, and a fragment was dropped, both silently.
    #[rstest]
    #[case::host_and_port("127.0.0.1:3000", Some("write http://127.0.0.1:3000"))]
    #[case::host_alone("api.internal", Some("write http://api.internal"))]
    #[case::other_scheme("ftp://api.internal", Some("http:// and https://"))]
    #[case::fragment("http://api.internal/v1#top", Some("a fragment"))]
    #[case::empty_fragment("http://api.internal#", Some("a fragment"))]
    #[case::query("http://api.internal/?a=1", Some("a query"))]
    #[case::userinfo("http://user:pw@api.internal", Some("user information"))]
    #[case::http("http://127.0.0.1:3000", None)]
    #[case::https_with_a_prefix("https://api.internal/v1/", None)]
    #[case::upper_case_scheme("HTTP://api.internal", None)]
    fn an_upstream_needs_an_http_or_https_url(#[case] text: &str, #[case] says: Option<&str>) {
        let parsed = Cli::try_parse_from([
            "cors-gateway",
            "serve",
            "--config",
            "p.yaml",
            "--upstream",
            text,
        ]);
        match (parsed, says) {
            (Ok(_), None) => {}
            (Err(error), Some(says)) => {
                assert_eq!(error.exit_code(), 2);
                assert!(error.to_string().contains(says), "{error}");
            }
            (parsed, says) => panic!("{text}: {parsed:?}, expected {says:?}"),
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }
}
