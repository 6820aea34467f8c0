//! The HTTP target: sends each request to a gateway URL over HTTP/1.1, in clear or over TLS.
//!
//! TLS is rustls with the aws-lc-rs provider, the workspace's one provider. The server's certificate is checked against the
//! system's roots, or the CA certificates of a PEM file ([`Tls::CaFile`]), or not at all
//! ([`Tls::DangerouslyAcceptAnyCertificate`], for test gateways with self-signed certificates;
//! handshake signatures are still verified).
//!
//! Every exchange opens its own connection, so that a hostile case that makes the gateway close
//! or poison a connection cannot disturb the next case.

use std::cell::Cell;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::check::Observed;
use crate::error::{TargetError, TargetErrorKind};
use crate::target::{OutgoingRequest, Target};
use crate::upstream;

/// How long one exchange may take by default before the target reports an error.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Request headers the suite sets itself, per case, which `--header` may not set.
const RESERVED_HEADERS: [&str; 5] = [
    "origin",
    "access-control-request-method",
    "access-control-request-headers",
    upstream::MARKER,
    upstream::SET_HEADER,
];

/// Where the runner learns whether a request reached the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamLog {
    /// The response carries the upstream's [`upstream::STAMP`] header (the default: it works
    /// whenever the gateway passes upstream headers through).
    Stamp,
    /// Ask the upstream itself at this base URL (`http://HOST:PORT`) whether it saw the marker.
    Url(String),
    /// Read the JSON-lines file written by `cors-conformance upstream --log FILE`.
    File(PathBuf),
}

impl UpstreamLog {
    /// `http://…` is a URL to ask, anything else without `://` a log file path.
    ///
    /// # Errors
    ///
    /// Another scheme: the suite's upstream serves plain `http://` (an `https://` URL was read
    /// as a file name, and every case was an error that the file could not be read).
    pub fn parse(value: &str) -> Result<UpstreamLog, String> {
        if value.starts_with("http://") {
            Ok(UpstreamLog::Url(value.trim_end_matches('/').to_owned()))
        } else if value.contains("://") {
            Err(format!(
                "{value:?} is neither the upstream's http:// URL nor a log file \
                 (`cors-conformance upstream` serves plain http://)"
            ))
        } else {
            Ok(UpstreamLog::File(PathBuf::from(value)))
        }
    }
}

/// How an `https` target's certificate is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tls {
    /// Against the system's trusted roots.
    #[default]
    SystemRoots,
    /// Against the CA certificates of this PEM file (and only those).
    CaFile(PathBuf),
    /// Not at all: any certificate is accepted (handshake signatures are still verified).
    DangerouslyAcceptAnyCertificate,
}

/// Options of an [`HttpTarget`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Header lines added to every request (authentication, a virtual host's `Host`). A case
    /// that sends a header of the same name keeps its own.
    pub headers: Vec<(String, String)>,
    /// How long one exchange may take.
    pub timeout: Duration,
    /// How an `https` target's certificate is checked.
    pub tls: Tls,
}

impl Default for HttpOptions {
    fn default() -> HttpOptions {
        HttpOptions { headers: Vec::new(), timeout: DEFAULT_TIMEOUT, tls: Tls::SystemRoots }
    }
}

impl HttpOptions {
    /// Parses `NAME: VALUE` for [`HttpOptions::headers`].
    ///
    /// # Errors
    ///
    /// Not a valid header line, or a header the suite sets per case (`Origin`,
    /// `Access-Control-Request-*`, the suite's own `x-conformance-*`).
    pub fn parse_header(line: &str) -> Result<(String, String), String> {
        let (name, value) = crate::case::split_header_line(line)
            .map_err(|e| format!("{e}; hint: --header 'Authorization: Bearer TOKEN'"))?;
        if RESERVED_HEADERS.iter().any(|reserved| name.eq_ignore_ascii_case(reserved)) {
            return Err(format!("header {name:?} is set by the suite for each case"));
        }
        HeaderValue::from_str(&value).map_err(|_| format!("invalid value for header {name:?}"))?;
        Ok((name, value))
    }
}

/// The scheme of a target URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

/// Where requests go and how: a URL's parts, the options, the TLS configuration.
#[derive(Debug, Clone)]
struct Endpoint {
    url: String,
    scheme: Scheme,
    authority: String,
    host: String,
    base_path: String,
    options: HttpOptions,
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// A gateway reached over HTTP or HTTPS.
#[derive(Debug)]
pub struct HttpTarget {
    name: String,
    endpoint: Endpoint,
    log: UpstreamLog,
    /// The suite's upstream, when forwarding is learnt by asking it.
    upstream: Option<Endpoint>,
    runtime: tokio::runtime::Runtime,
}

impl HttpTarget {
    /// A target for `url` (`http://HOST:PORT[/PREFIX]`) with default options; case paths are
    /// appended to the prefix.
    ///
    /// # Errors
    ///
    /// As for [`HttpTarget::with_options`].
    pub fn new(url: &str, log: UpstreamLog) -> Result<HttpTarget, TargetError> {
        HttpTarget::with_options(url, log, HttpOptions::default())
    }

    /// A target for `url` (`http://` or `https://HOST[:PORT][/PREFIX]`).
    ///
    /// # Errors
    ///
    /// The URL is not an `http://` or `https://` URL with a host, the CA file cannot be read or
    /// holds no certificate, or the runtime cannot start.
    pub fn with_options(
        url: &str,
        log: UpstreamLog,
        options: HttpOptions,
    ) -> Result<HttpTarget, TargetError> {
        // The upstream log is asked within the same timeout as the target, and without the
        // target's headers and TLS settings, which are the gateway's. It was asked with the
        // default 10 s whatever `--timeout` said, so a log URL that never ended its answers made
        // each case take 10 s more.
        let log_options = HttpOptions { timeout: options.timeout, ..HttpOptions::default() };
        let endpoint = Endpoint::new(url, options)?;
        let upstream = match &log {
            UpstreamLog::Url(base) => Some(Endpoint::new(base, log_options)?),
            _ => None,
        };
        Ok(HttpTarget { name: "http".to_owned(), endpoint, log, upstream, runtime: runtime()? })
    }
}

impl Endpoint {
    fn new(url: &str, options: HttpOptions) -> Result<Endpoint, TargetError> {
        let invalid = |why: &str| {
            TargetError::of(TargetErrorKind::Request, format!("invalid target URL {url:?}: {why}"))
        };
        let uri: Uri = url.parse().map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            _ => return Err(invalid("the scheme must be http:// or https://")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        // Neither would be sent: a URL's credentials are not a header (they went into `Host` and
        // the name looked up), and each case's path, with its own query, replaces the query.
        if authority.as_str().contains('@') {
            return Err(invalid(
                "credentials in the URL are not sent; hint: --header 'Authorization: Basic …'",
            ));
        }
        if uri.query().is_some() {
            return Err(invalid(
                "a query is not sent: each case's path and query follow the URL's path; \
                 hint: --header for an API key",
            ));
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        let authority_text = authority.as_str().to_owned();
        let tls = match scheme {
            Scheme::Http => None,
            Scheme::Https => Some(Arc::new(client_config(&options.tls)?)),
        };
        let base_path = uri.path().trim_end_matches('/').to_owned();
        Ok(Endpoint {
            url: url.to_owned(),
            scheme,
            authority: authority_text,
            host,
            base_path,
            options,
            tls,
        })
    }
}

impl HttpTarget {
    /// Another target for the same URL with the same options and name (its own runtime), for
    /// sending cases concurrently.
    ///
    /// # Errors
    ///
    /// The runtime cannot start.
    pub fn try_clone(&self) -> Result<HttpTarget, TargetError> {
        Ok(HttpTarget {
            name: self.name.clone(),
            endpoint: self.endpoint.clone(),
            log: self.log.clone(),
            upstream: self.upstream.clone(),
            runtime: runtime()?,
        })
    }

    /// Renames the target (the name `known-failures.toml` entries match).
    #[must_use]
    pub fn with_name(mut self, name: &str) -> HttpTarget {
        name.clone_into(&mut self.name);
        self
    }

    /// The `HOST[:PORT]` requests go to, as the URL gives it.
    #[must_use]
    pub fn authority(&self) -> &str {
        &self.endpoint.authority
    }

    /// The `HOST:PORT` requests connect to: the URL's port, or its scheme's default.
    #[must_use]
    pub fn address(&self) -> String {
        self.endpoint.socket_address()
    }

    /// The URL the target was made for.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.endpoint.url
    }

    /// Checks that the target answers at all: one `HEAD` of the URL's path, without `Origin`.
    /// Any HTTP answer will do, whatever its status. `HEAD`, so that a path whose `GET` streams
    /// a body longer than the timeout (an event stream, a large download) still shows the
    /// target up, rather than as unreachable.
    ///
    /// # Errors
    ///
    /// No answer: the error's kind says whether the target is unreachable (refused, no such
    /// host, TLS failure, no answer in time) or answered something that is not HTTP.
    pub fn probe(&mut self) -> Result<(), TargetError> {
        let request = OutgoingRequest::new("HEAD", "/", Vec::new(), "probe");
        match self.exchange(&request) {
            Err(error) if error.kind == TargetErrorKind::Timeout => {
                Err(TargetError::of(TargetErrorKind::Unreachable, error.message))
            }
            other => other.map(|_| ()),
        }
    }

    /// One exchange, without learning whether the upstream saw it.
    fn exchange(&self, request: &OutgoingRequest) -> Result<Observed, TargetError> {
        let endpoint = &self.endpoint;
        let path = endpoint.request_target(&request.path);
        let headers = endpoint.headers_for(request);
        let (parts, answer) =
            self.runtime.block_on(endpoint.round_trip(&path, request, &headers))?;
        Ok(Observed {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
                .collect(),
            body_len: answer.len,
            forwarded: false,
        })
    }
}

impl Endpoint {
    /// The request target sent for a case's `path`: the path, under the URL's path.
    fn request_target(&self, path: &str) -> String {
        format!("{}{path}", self.base_path)
    }

    /// The request's header lines followed by the `--header` lines it does not send itself.
    fn headers_for(&self, request: &OutgoingRequest) -> Vec<(String, String)> {
        let mut lines = request.headers.clone();
        for (name, value) in &self.options.headers {
            if !request.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                lines.push((name.clone(), value.clone()));
            }
        }
        lines
    }

    async fn round_trip(
        &self,
        path: &str,
        request: &OutgoingRequest,
        headers: &[(String, String)],
    ) -> Result<(http::response::Parts, Body), TargetError> {
        let authority = &self.authority;
        let fail = |kind: TargetErrorKind, what: &str, e: &dyn std::fmt::Display| {
            TargetError::of(
                kind,
                format!("{} {path} to {}: {what}: {e}", request.method, self.url_base()),
            )
        };
        let request_error =
            |what: &str, e: &dyn std::fmt::Display| fail(TargetErrorKind::Request, what, e);
        let method = Method::from_bytes(request.method.as_bytes())
            .map_err(|e| request_error("invalid method", &e))?;
        let mut builder = Request::builder().method(method).uri(path);
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
            builder = builder.header(http::header::HOST, authority.as_str());
        }
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| request_error("invalid header name", &e))?;
            let value = HeaderValue::from_bytes(value.as_bytes())
                .map_err(|e| request_error("invalid header value", &e))?;
            builder = builder.header(name, value);
        }
        let outgoing = builder
            .body(Empty::<Bytes>::new())
            .map_err(|e| request_error("invalid request", &e))?;
        let address = self.socket_address();
        let timeout = self.options.timeout;
        let deadline = Instant::now() + timeout;
        // How far the exchange got before the deadline, which tells a wrong address from a
        // target that takes the request and never answers (a gateway waiting on its own
        // upstream, for one), from a plain port that never finishes a TLS handshake, and from
        // a target sending a body without end.
        let progress = Progress::new();
        let stage = &progress.stage;
        let work = async {
            let stream = TcpStream::connect(&address)
                .await
                .map_err(|e| fail(TargetErrorKind::Unreachable, "cannot connect", &e))?;
            match &self.tls {
                None => {
                    stage.set(Stage::Head);
                    send(stream, deadline, outgoing, &fail, &progress).await
                }
                Some(config) => {
                    stage.set(Stage::Handshake);
                    let name = ServerName::try_from(self.host.clone()).map_err(|e| {
                        fail(TargetErrorKind::Request, "invalid TLS server name", &e)
                    })?;
                    let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
                    let stream = connector.connect(name, stream).await.map_err(|e| {
                        let why = handshake_failure(&e, &self.options.tls);
                        fail(TargetErrorKind::Unreachable, "TLS handshake failed", &why)
                    })?;
                    stage.set(Stage::Head);
                    send(stream, deadline, outgoing, &fail, &progress).await
                }
            }
        };
        let timed_out = || {
            let why = progress.timed_out(timeout);
            fail(TargetErrorKind::Timeout, "timed out", &why)
        };
        match tokio::time::timeout_at(deadline, work).await {
            // The connection's reads failed at the deadline (see `Deadline`).
            Ok(Err(_)) if Instant::now() >= deadline => Err(timed_out()),
            Ok(answer) => answer,
            Err(_) => Err(timed_out()),
        }
    }

    /// `HOST:PORT` to connect to (the URL's port, or the scheme's default).
    fn socket_address(&self) -> String {
        let has_port =
            self.authority.rsplit_once(':').is_some_and(|(_, port)| {
                !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
            }) && !self.authority.ends_with(']');
        if has_port {
            self.authority.clone()
        } else if self.scheme == Scheme::Https {
            format!("{}:443", self.authority)
        } else {
            format!("{}:80", self.authority)
        }
    }

    fn url_base(&self) -> String {
        let scheme = if self.scheme == Scheme::Https { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }
}

/// How far an exchange got: what its timeout's message says did not come in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The TCP connection.
    Connecting,
    /// The TLS handshake, for an `https://` target.
    Handshake,
    /// The answer's head (past any `1xx` heads).
    Head,
    /// The end of the answer's body, of which `read` bytes came.
    Body { read: usize },
}

/// How far an exchange got: its stage, and how many bytes the target sent (of the TLS records'
/// contents, for an `https://` target), counted by its [`Deadline`] connection.
#[derive(Debug)]
struct Progress {
    stage: Cell<Stage>,
    received: Arc<AtomicUsize>,
}

impl Progress {
    fn new() -> Progress {
        Progress { stage: Cell::new(Stage::Connecting), received: Arc::default() }
    }

    /// Why an exchange that got this far timed out, with the likely cause. Every timeout read
    /// "connected, but no complete answer (is the target's own upstream answering?)" once
    /// connected, which sent a user whose target streamed without end, sent its answer byte by
    /// byte, or whose `https://` target was a plain port that waited for a request, to look at
    /// the wrong thing.
    fn timed_out(&self, timeout: Duration) -> String {
        let within = humantime::format_duration(timeout);
        match self.stage.get() {
            Stage::Connecting => {
                format!("no connection within {within} (is the URL's host right?)")
            }
            Stage::Handshake => format!(
                "connected, but the TLS handshake did not finish within {within} (does the port \
                 speak TLS? write a plain one's URL as http://)"
            ),
            Stage::Head => match self.received.load(Ordering::Relaxed) {
                0 => format!(
                    "connected, but no complete answer within {within} (is the target's own \
                     upstream answering? a target that is only slow needs a longer --timeout)"
                ),
                received => format!(
                    "connected, and {received} bytes came, but no complete answer's head within \
                     {within} (does the target send its answer slowly, or `1xx` answers without \
                     end?)"
                ),
            },
            Stage::Body { read } => format!(
                "the answer's head came, but its body did not end within {within} ({read} bytes \
                 of it came; does the target send a body without end?)"
            ),
        }
    }
}

/// The most bytes of an answer's body kept in memory: the cases look at the body's length only,
/// and the echo upstream's `seen` answers are a few bytes; the rest of a larger body is counted
/// and dropped, so that a target answering with an endless body costs no memory (only the
/// exchange's `--timeout`).
const KEPT_BODY_BYTES: usize = 64 * 1024;

/// The most field lines an answer's head may have. hyper's client stops at 100, which made every
/// case an error against a gateway answering with, say, 120 `Set-Cookie` lines, although browsers
/// take any number of lines in a head of up to 256 KiB (Chromium). The head's bytes stay bounded
/// by hyper's read buffer (about 400 KB).
const MAX_ANSWER_FIELDS: usize = 4096;

/// An answer's body: its first [`KEPT_BODY_BYTES`], and its whole length.
#[derive(Debug)]
struct Body {
    kept: Bytes,
    len: usize,
}

/// The most bytes handed to hyper by one read of a [`Deadline`] connection.
const READ_CHUNK: usize = 8 * 1024;

/// A connection whose reads fail once the exchange's deadline has passed.
///
/// `tokio::time::timeout` alone did not bound an exchange: a target flooding `100 Continue` held
/// one with a 2 s timeout for 24 to 43 s of CPU, nearly all of it in hyper's client skipping the
/// `1xx` heads (each parsed with room for [`MAX_ANSWER_FIELDS`] lines) while the expired timer
/// was not acted on. Checking the clock at every read, and reading at most [`READ_CHUNK`] bytes at
/// a time, bounds the work past the deadline to one chunk's parse. No crate does this: timeout
/// wrappers for streams rely on the same timers.
struct Deadline<S> {
    inner: S,
    at: Instant,
    /// The bytes read, for [`Progress`].
    received: Arc<AtomicUsize>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Deadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if Instant::now() >= this.at {
            let why = "the exchange's time is up";
            return Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::TimedOut, why)));
        }
        let room = buf.remaining().min(READ_CHUNK);
        let mut chunk = ReadBuf::new(buf.initialize_unfilled_to(room));
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut chunk))?;
        let read = chunk.filled().len();
        this.received.fetch_add(read, Ordering::Relaxed);
        buf.advance(read);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Sends one request on a fresh connection and reads the whole answer, keeping at most
/// [`KEPT_BODY_BYTES`] of its body; the connection's reads fail from `deadline` on. `progress`
/// follows the answer: the bytes read, and [`Stage::Body`] once its head came, with the body's.
async fn send<S>(
    stream: S,
    deadline: Instant,
    outgoing: Request<Empty<Bytes>>,
    fail: &dyn Fn(TargetErrorKind, &str, &dyn std::fmt::Display) -> TargetError,
    progress: &Progress,
) -> Result<(http::response::Parts, Body), TargetError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let answer = |what: &str, e: &dyn std::fmt::Display| fail(TargetErrorKind::Answer, what, e);
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .max_headers(MAX_ANSWER_FIELDS)
        // A folded field line (obs-fold) is unfolded, as RFC 9112 section 5.2 tells user agents
        // and as browsers read it; refused, it made every case an error.
        .allow_obsolete_multiline_headers_in_responses(true)
        .handshake(TokioIo::new(Deadline {
            inner: stream,
            at: deadline,
            received: Arc::clone(&progress.received),
        }))
        .await
        .map_err(|e| answer("handshake failed", &with_causes(&e)))?;
    let driver = tokio::spawn(connection);
    let response = sender.send_request(outgoing).await.map_err(|e| {
        if e.is_parse_too_large() {
            let why = format!(
                "{e}: more than {MAX_ANSWER_FIELDS} field lines, or more than about 400 KB"
            );
            answer("no valid HTTP answer", &why)
        } else if let Some(why) = refused_after_the_handshake(&e) {
            answer("no valid HTTP answer", &why)
        } else if e.is_parse() || e.is_incomplete_message() {
            fail(TargetErrorKind::NotHttp, "no valid HTTP answer", &with_causes(&e))
        } else {
            answer("no valid HTTP answer", &with_causes(&e))
        }
    })?;
    let (parts, mut body) = response.into_parts();
    let (mut kept, mut len) = (Vec::new(), 0usize);
    progress.stage.set(Stage::Body { read: 0 });
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| answer("reading the body failed", &with_causes(&e)))?;
        if let Ok(data) = frame.into_data() {
            len = len.saturating_add(data.len());
            progress.stage.set(Stage::Body { read: len });
            let room = KEPT_BODY_BYTES.saturating_sub(kept.len()).min(data.len());
            kept.extend_from_slice(&data[..room]);
        }
    }
    driver.abort();
    Ok((parts, Body { kept: Bytes::from(kept), len }))
}

/// `error: cause: cause...`. hyper's errors name the stage alone ("connection error", "error
/// reading a body from connection") and keep what happened ("Connection reset by peer") in their
/// sources, which reports showed without.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text.push_str(": ");
        text.push_str(&error.to_string());
        cause = error.source();
    }
    text
}

fn runtime() -> Result<tokio::runtime::Runtime, TargetError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TargetError::new(format!("cannot start the runtime: {e}")))
}

/// Why a TLS handshake with a target failed, in words, and what to do about it under the trust
/// `tls` the run chose: rustls names some certificate problems by their variant alone
/// (`Other(OtherError(CaUsedAsEndEntity))`), and the one hint for all (`--ca FILE`) misled a run
/// that had given `--ca`, or whose target did not speak TLS at all.
fn handshake_failure(error: &std::io::Error, tls: &Tls) -> String {
    use rustls::{CertificateError, Error as TlsError};
    let trusted = match tls {
        Tls::CaFile(path) => format!("a CA certificate of --ca {}", path.display()),
        _ => "a CA the system trusts".to_owned(),
    };
    let tls_error = error.get_ref().and_then(|e| e.downcast_ref::<TlsError>());
    if let Some(why) = tls_error.and_then(refused_by_the_target) {
        return why;
    }
    let certificate = match tls_error {
        Some(TlsError::InvalidCertificate(certificate)) => certificate,
        Some(TlsError::InvalidMessage(_)) => {
            return format!(
                "{error}; hint: the target does not answer with TLS: for a plain HTTP port, \
                 write the target as http://"
            );
        }
        // The target accepted the connection and closed or reset it before the handshake was
        // done: no certificate was seen, so `--ca` is no hint (finding F-BP).
        None if matches!(
            error.kind(),
            std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
        ) =>
        {
            return format!(
                "the target closed the connection during the TLS handshake ({error}); hint: is \
                 it serving TLS on that port? A TCP proxy in front of it with no backend, or a \
                 server that refuses the target's host name (sent by SNI), closes so too"
            );
        }
        _ => return format!("{error}; hint: --ca FILE, or --insecure for a test gateway"),
    };
    let served_a_ca = matches!(certificate, CertificateError::Other(other)
        if matches!(other.0.downcast_ref::<webpki::Error>(), Some(webpki::Error::CaUsedAsEndEntity)));
    if served_a_ca {
        return "the target's certificate is a CA certificate (basic constraints CA:TRUE), \
                which a TLS client refuses as a server's own; hint: serve a certificate that \
                CA signed (`openssl req -x509` makes a CA certificate unless given \
                `-addext basicConstraints=critical,CA:FALSE`), or --insecure for a test gateway"
            .to_owned();
    }
    if matches!(
        certificate,
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
    ) {
        return format!(
            "the target's certificate is not for the target URL's host ({certificate}); hint: \
             write the target with a name the certificate is for, or serve one for that host \
             (`openssl req -x509` gives a certificate the names of \
             `-addext subjectAltName=DNS:localhost,IP:127.0.0.1`), or --insecure for a test \
             gateway"
        );
    }
    // A CA of the issuer's name whose key did not sign it (a test CA made again under the same
    // name) fails as a bad signature rather than as an unknown issuer.
    let not_signed =
        matches!(certificate, CertificateError::UnknownIssuer | CertificateError::BadSignature);
    match (not_signed, tls) {
        (true, _) => format!(
            "the target's certificate is not signed by {trusted}; hint: --ca FILE with the CA \
             certificate that signed it, or --insecure for a test gateway"
        ),
        (_, Tls::CaFile(path)) => format!(
            "{error}; hint: --ca {} must hold the CA certificate that signed the target's, or \
             --insecure for a test gateway",
            path.display()
        ),
        _ => format!("{error}; hint: --ca FILE, or --insecure for a test gateway"),
    }
}

/// What the target's refusal `tls` (an alert it sent, or a TLS version of its that rustls does
/// not take) means, and what to do about it, for the alerts whose name alone does not say: a
/// client certificate asked for (mutual TLS), which the suite never sends; no TLS version in
/// common; a handshake refused outright. `None` for the others.
///
/// The gateway words the same alerts for its operator (`tls::refused_by_the_upstream` in
/// cors-gateway); two texts, as for the certificate errors (see `handshake_failure`), each
/// naming its own side.
fn refused_by_the_target(tls: &rustls::Error) -> Option<String> {
    use rustls::{AlertDescription, Error as TlsError, PeerIncompatible};
    let (why, hint) = match tls {
        TlsError::AlertReceived(AlertDescription::CertificateRequired) => (
            "the target asks for a client certificate (mutual TLS), which cors-conformance \
             does not send",
            "run the suite against an address of the target that asks for none (behind the \
             proxy that holds the certificate, or from inside)",
        ),
        TlsError::AlertReceived(AlertDescription::ProtocolVersion)
        | TlsError::PeerIncompatible(PeerIncompatible::ServerDoesNotSupportTls12Or13) => (
            "the target and cors-conformance have no TLS version in common",
            "cors-conformance speaks TLS 1.2 and 1.3 only: the target must accept one of them",
        ),
        TlsError::AlertReceived(AlertDescription::NoApplicationProtocol) => (
            "the target speaks none of the application protocols cors-conformance offers by \
             ALPN",
            "cors-conformance speaks HTTP/1.1 (`http/1.1`) and the target most likely speaks \
             HTTP/2 only: let it accept `http/1.1` too, or point the suite at an address of the \
             gateway that does",
        ),
        TlsError::AlertReceived(
            AlertDescription::HandshakeFailure | AlertDescription::InsufficientSecurity,
        ) => (
            "the target refused the TLS handshake",
            "it found no cipher suite, key exchange or signature scheme in common with the \
             suite's (TLS 1.2 and 1.3, AES-GCM and ChaCha20-Poly1305, ECDHE), or it asks for a \
             client certificate (mutual TLS), which the suite does not send (TLS 1.2 servers \
             say so); the target's TLS settings and log tell which",
        ),
        _ => return None,
    };
    Some(format!("{why} ({tls}); hint: {hint}"))
}

/// [`refused_by_the_target`] for an exchange that `error` ended after the handshake: in TLS 1.3
/// the client's side of the handshake is done before the server has checked the client's
/// certificate, and a target that requires one sends `certificate_required` then.
fn refused_after_the_handshake(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    // An `io::Error`'s `source` skips the error it wraps: looked into with `get_ref`.
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return refused_by_the_target(tls);
        }
        cause = match error.downcast_ref::<std::io::Error>() {
            Some(wrapper) => {
                wrapper.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static))
            }
            None => error.source(),
        };
    }
    None
}

/// The rustls client configuration for `tls` (HTTP/1.1 by ALPN).
///
/// The provider is passed explicitly rather than installed as the process default: a library
/// leaves that choice to the program that links it.
fn client_config(tls: &Tls) -> Result<rustls::ClientConfig, TargetError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let setup = |e: rustls::Error| TargetError::new(format!("cannot set up TLS: {e}"));
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(setup)?;
    let mut config = match tls {
        Tls::DangerouslyAcceptAnyCertificate => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth(),
        Tls::SystemRoots => {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Tls::CaFile(path) => {
            let unreadable = |e: &dyn std::fmt::Display| {
                TargetError::of(
                    TargetErrorKind::Request,
                    format!("cannot read CA file {}: {e}", path.display()),
                )
            };
            let mut roots = rustls::RootCertStore::empty();
            let certificates = CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))?;
            for certificate in certificates {
                let certificate = certificate.map_err(|e| unreadable(&e))?;
                roots.add(certificate).map_err(|e| unreadable(&e))?;
            }
            if roots.is_empty() {
                return Err(unreadable(&"no CERTIFICATE block"));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts any server certificate, for `--insecure`; handshake signatures are still checked
/// with the provider's algorithms, so the connection is encrypted to whoever holds the key.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl Target for HttpTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn listener_scheme(&self) -> &'static str {
        if self.endpoint.scheme == Scheme::Https { "https" } else { "http" }
    }

    fn request_target(&self, path: &str) -> String {
        self.endpoint.request_target(path)
    }

    fn send(&mut self, _profile: &str, request: &OutgoingRequest) -> Result<Observed, TargetError> {
        let mut observed = self.exchange(request)?;
        observed.forwarded = match &self.log {
            UpstreamLog::Stamp => observed.values(upstream::STAMP).next().is_some(),
            UpstreamLog::Url(base) => {
                let upstream = self
                    .upstream
                    .as_ref()
                    .ok_or_else(|| TargetError::new(format!("invalid upstream URL {base:?}")))?;
                let seen_path =
                    format!("{}{}{}", upstream.base_path, upstream::SEEN_PATH, request.marker);
                let probe = OutgoingRequest::new("GET", &seen_path, Vec::new(), "probe");
                let (_, body) = self
                    .runtime
                    .block_on(upstream.round_trip(&seen_path, &probe, &probe.headers))
                    .map_err(|e| {
                        let message = format!("asking the upstream log {base}: {}", e.message);
                        TargetError::of(e.kind, message)
                    })?;
                !String::from_utf8_lossy(&body.kept).contains("\"seen\":0")
            }
            UpstreamLog::File(path) => {
                let text = crate::input::read_text(path)
                    .map_err(|e| TargetError::new(format!("the upstream log: {e}")))?;
                let needle = format!("\"marker\":\"{}\"", request.marker);
                text.lines().any(|line| line.contains(&needle))
            }
        };
        Ok(observed)
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::authorization("Authorization: Bearer x", true)]
    #[case::virtual_host("Host: api.example.test", true)]
    #[case::origin_is_the_suites("Origin: https://a.test", false)]
    #[case::acrm_is_the_suites("access-control-request-method: GET", false)]
    #[case::marker_is_the_suites("X-Conformance-Case: x", false)]
    #[case::no_colon("Authorization", false)]
    #[case::bad_name("Bad Name: x", false)]
    fn header_options_are_checked(#[case] line: &str, #[case] accepted: bool) {
        assert_eq!(HttpOptions::parse_header(line).is_ok(), accepted, "{line}");
    }

    #[rstest]
    #[case::ftp("ftp://example.test", "http://")]
    #[case::no_host("http:///path", "")]
    #[case::garbage("not a url", "")]
    // The credentials went into `Host` and into the name looked up ("failed to lookup address").
    #[case::credentials("http://user:secret@127.0.0.1:8080/", "--header 'Authorization")]
    // The query was dropped silently: an API key in it never reached the gateway.
    #[case::query("https://api.example.test/v1?key=abc", "--header")]
    fn bad_urls_are_refused(#[case] url: &str, #[case] hint: &str) {
        let error = HttpTarget::new(url, UpstreamLog::Stamp).unwrap_err();
        assert_eq!(error.kind, TargetErrorKind::Request, "{error}");
        assert!(error.message.contains(hint), "{error}");
    }

    /// A refusal of the target (an alert whose name alone does not say what to do) is
    /// explained with a hint, in a failed handshake and in an exchange ended after it (TLS
    /// 1.3's `certificate_required`).
    #[rstest]
    #[case::certificate_required(
        rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
        "the target asks for a client certificate (mutual TLS)"
    )]
    #[case::protocol_version(
        rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion),
        "the target and cors-conformance have no TLS version in common"
    )]
    #[case::handshake_failure(
        rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
        "the target refused the TLS handshake"
    )]
    #[case::no_application_protocol(
        rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol),
        "the target speaks none of the application protocols cors-conformance offers"
    )]
    fn a_refusal_of_the_target_is_explained(#[case] refusal: rustls::Error, #[case] says: &str) {
        let error = std::io::Error::new(std::io::ErrorKind::InvalidData, refusal);
        let why = handshake_failure(&error, &Tls::SystemRoots);
        assert!(why.starts_with(says) && why.contains("; hint: "), "{why}");
        assert!(!why.contains("--ca"), "{why}");
        let wrapped = std::io::Error::other(error);
        assert_eq!(refused_after_the_handshake(&wrapped), Some(why));
    }

    #[test]
    fn the_default_port_follows_the_scheme() {
        let target = HttpTarget::new("http://example.test/api/", UpstreamLog::Stamp).unwrap();
        assert_eq!(target.endpoint.socket_address(), "example.test:80");
        assert_eq!(target.endpoint.base_path, "/api");
        let target = HttpTarget::with_options(
            "https://[::1]",
            UpstreamLog::Stamp,
            HttpOptions { tls: Tls::DangerouslyAcceptAnyCertificate, ..HttpOptions::default() },
        )
        .unwrap();
        assert_eq!(target.endpoint.socket_address(), "[::1]:443");
        assert_eq!(target.endpoint.host, "::1");
    }

    /// A target answering with a body far larger than the runner keeps: its length is counted
    /// in full and only its first [`KEPT_BODY_BYTES`] are held, so that an endless body costs no
    /// memory (before, the whole body was collected: 3.4 GB of resident memory after 2 s of a
    /// target streaming one).
    #[test]
    fn a_large_answer_body_is_counted_not_kept() {
        use std::io::{Read as _, Write as _};
        const SIZE: usize = 4 * 1024 * 1024;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut head = [0u8; 4096];
            let _ = stream.read(&mut head);
            let chunk = vec![b'x'; 64 * 1024];
            let _ = write!(stream, "HTTP/1.1 200 OK\r\ncontent-length: {SIZE}\r\n\r\n");
            for _ in 0..SIZE / chunk.len() {
                if stream.write_all(&chunk).is_err() {
                    return;
                }
            }
        });
        let target = HttpTarget::new(&format!("http://{address}"), UpstreamLog::Stamp).unwrap();
        let request = OutgoingRequest::new("GET", "/", Vec::new(), "large");
        let (_, body) =
            target.runtime.block_on(target.endpoint.round_trip("/", &request, &[])).unwrap();
        assert_eq!((body.len, body.kept.len()), (SIZE, KEPT_BODY_BYTES));
        server.join().unwrap();
    }

    /// A target flooding `100 Continue` heads gets a timeout error at its timeout, over TCP and
    /// through the whole exchange. This flood alone does not show the cost the bound prevents
    /// (see [`past_the_deadline_no_more_is_read_of_an_endless_flood`]).
    /// A target that takes the connection and never answers is told apart from one that
    /// cannot be reached: a new user pointing the suite at a gateway whose upstream was down
    /// was told to check the URL, and one whose gateway was only slow was not told of
    /// `--timeout`.
    #[test]
    fn a_silent_target_is_said_to_have_connected() {
        let (address, holder) = serve_once(holding);
        let options = HttpOptions { timeout: Duration::from_millis(300), ..HttpOptions::default() };
        let mut target =
            HttpTarget::with_options(&format!("http://{address}"), UpstreamLog::Stamp, options)
                .unwrap();
        let error = target.probe().unwrap_err();
        assert_eq!(error.kind, TargetErrorKind::Unreachable, "{error}");
        assert!(error.message.contains("connected, but no complete answer within"), "{error}");
        assert!(error.message.contains("upstream"), "{error}");
        assert!(!error.message.contains("URL"), "{error}");
        // A slow target is the other cause, and the one option that lets it answer is named.
        assert!(error.message.contains("a longer --timeout"), "{error}");
        holder.join().unwrap();
    }

    #[test]
    fn an_informational_flood_ends_at_the_timeout() {
        use std::io::{Read as _, Write as _};
        let (address, _) = serve_once(|mut stream| {
            let _ = stream.read(&mut [0u8; 4096]);
            let flood = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(1024);
            while stream.write_all(&flood).is_ok() {}
        });
        let timeout = Duration::from_secs(2);
        let options = HttpOptions { timeout, ..HttpOptions::default() };
        let target =
            HttpTarget::with_options(&format!("http://{address}"), UpstreamLog::Stamp, options)
                .unwrap();
        let request = OutgoingRequest::new("GET", "/", Vec::new(), "flood");
        let started = std::time::Instant::now();
        let answer = target.runtime.block_on(target.endpoint.round_trip("/", &request, &[]));
        let error = answer.unwrap_err();
        assert_eq!(error.kind, TargetErrorKind::Timeout, "{error}");
        assert!(
            started.elapsed() < timeout * 10,
            "{:?} for a {timeout:?} timeout",
            started.elapsed()
        );
    }

    /// A connection whose every read is filled with `100 Continue` heads, as a socket is when
    /// the target writes faster than the client parses and the client's receive window holds
    /// more than hyper asks for (up to about 400 KB a read). It counts the bytes it hands out
    /// from `at` on, and ends with an error once they pass [`Flood::PAST_LIMIT`], so that an
    /// exchange that does not stop at its deadline ends anyway, soon.
    ///
    /// It answers only once the request is written, and its reads use the task's budget as
    /// tokio's sockets do: without it the flood would never let the runtime run its timers.
    struct Flood {
        at: Instant,
        asked: bool,
        reader: Option<std::task::Waker>,
        sent: usize,
        past: Arc<AtomicUsize>,
    }

    impl Flood {
        const HEAD: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
        const PAST_LIMIT: usize = 1024 * 1024;
    }

    impl AsyncRead for Flood {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let budget = ready!(tokio::task::coop::poll_proceed(cx));
            let this = self.get_mut();
            if !this.asked {
                this.reader = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let room = buf.remaining();
            if Instant::now() >= this.at {
                let past = this.past.fetch_add(room, Ordering::Relaxed) + room;
                if past > Self::PAST_LIMIT {
                    return Poll::Ready(Err(std::io::Error::other("the flood ends")));
                }
            }
            for _ in 0..room {
                buf.put_slice(&[Self::HEAD[this.sent % Self::HEAD.len()]]);
                this.sent += 1;
            }
            budget.made_progress();
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Flood {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let this = self.get_mut();
            this.asked = true;
            if let Some(reader) = this.reader.take() {
                reader.wake();
            }
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Past its deadline an exchange reads nothing more of a target flooding `1xx` heads that
    /// fill every read. Without [`Deadline`], the exchange read on until the flood's 1 MiB past
    /// the deadline ran out (about 42 000 heads skipped after the timeout); an endless flood
    /// held it for a whole task budget of reads, 128 of up to 400 KB, which took 24 to 43 s of
    /// CPU in the release build. A TCP flood in a test shows none of it (see
    /// [`an_informational_flood_ends_at_the_timeout`]): tokio takes a read shorter than asked
    /// for as a drained socket and waits for the next readiness event, the runtime runs its
    /// expired timers meanwhile, and the loopback's receive window held less than hyper asked
    /// for (at most 330 KB a read in 2 s of flood).
    #[test]
    fn past_the_deadline_no_more_is_read_of_an_endless_flood() {
        let past = Arc::new(AtomicUsize::new(0));
        let runtime = runtime().unwrap();
        let fail = |kind: TargetErrorKind, what: &str, e: &dyn std::fmt::Display| {
            TargetError::of(kind, format!("{what}: {e}"))
        };
        let timeout = Duration::from_millis(300);
        let started = std::time::Instant::now();
        let error = runtime.block_on(async {
            let deadline = Instant::now() + timeout;
            let flood = Flood {
                at: deadline,
                asked: false,
                reader: None,
                sent: 0,
                past: Arc::clone(&past),
            };
            let request = Request::get("/").body(Empty::<Bytes>::new()).unwrap();
            let progress = Progress::new();
            let exchange = send(flood, deadline, request, &fail, &progress);
            tokio::time::timeout_at(deadline, exchange).await.map(|answer| answer.unwrap_err())
        });
        let past = past.load(Ordering::Relaxed);
        assert!(started.elapsed() >= timeout, "ended early: {error:?}");
        assert!(past <= READ_CHUNK, "{past} bytes read past the deadline ({error:?})");
    }

    /// A target whose `GET` streams a body without end is up: the probe asks with `HEAD`, which
    /// the target answers with its head alone. Probed with `GET`, it was reported unreachable
    /// once the timeout ran out in the body.
    #[test]
    fn a_target_whose_get_streams_without_end_is_up() {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = [0u8; 4096];
                let read = stream.read(&mut request).unwrap_or(0);
                let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
                let _ = stream.write_all(head);
                if !request[..read].starts_with(b"HEAD ") {
                    while stream.write_all(b"5\r\nevent\r\n").is_ok() {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            }
        });
        let options = HttpOptions { timeout: Duration::from_secs(1), ..HttpOptions::default() };
        let mut target =
            HttpTarget::with_options(&format!("http://{address}"), UpstreamLog::Stamp, options)
                .unwrap();
        target.probe().unwrap();
    }

    /// A listener on loopback whose first connection `serve` is given, on a thread of its own.
    fn serve_once(
        serve: impl FnOnce(std::net::TcpStream) + Send + 'static,
    ) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || serve(listener.accept().unwrap().0));
        (address, server)
    }

    /// The timeout error of a `GET` with a 300 ms timeout to `address`.
    #[track_caller]
    fn timed_out_get(address: std::net::SocketAddr) -> TargetError {
        let options = HttpOptions { timeout: Duration::from_millis(300), ..HttpOptions::default() };
        let target =
            HttpTarget::with_options(&format!("http://{address}"), UpstreamLog::Stamp, options)
                .unwrap();
        let request = OutgoingRequest::new("GET", "/", Vec::new(), "timed-out");
        let error = target.exchange(&request).unwrap_err();
        assert_eq!(error.kind, TargetErrorKind::Timeout, "{error}");
        error
    }

    /// Holds a connection open without a word, longer than the tests' timeouts.
    fn holding(stream: std::net::TcpStream) {
        std::thread::sleep(Duration::from_secs(2));
        drop(stream);
    }

    /// A target that answers every connection with `head` and closes it.
    fn answering(head: Vec<u8>) -> HttpTarget {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.read(&mut [0u8; 4096]);
                let _ = stream.write_all(&head);
            }
        });
        HttpTarget::new(&format!("http://{address}"), UpstreamLog::Stamp).unwrap()
    }

    /// An answer with `cookies` `Set-Cookie` lines besides its CORS field.
    fn with_cookies(cookies: usize) -> Vec<u8> {
        let mut head = b"HTTP/1.1 200 OK\r\naccess-control-allow-origin: *\r\n".to_vec();
        for n in 0..cookies {
            head.extend_from_slice(format!("set-cookie: c{n}=1\r\n").as_bytes());
        }
        head.extend_from_slice(b"content-length: 0\r\n\r\n");
        head
    }

    /// hyper's client refuses a head of more than 100 lines, which made every case an error
    /// against a gateway setting many cookies; browsers read such answers.
    #[rstest]
    #[case::more_lines_than_hypers_default(150, true)]
    #[case::up_to_the_limit(MAX_ANSWER_FIELDS - 3, true)]
    #[case::past_the_limit(MAX_ANSWER_FIELDS, false)]
    fn answers_with_many_field_lines_are_read(#[case] cookies: usize, #[case] read: bool) {
        let target = answering(with_cookies(cookies));
        let request = OutgoingRequest::new("GET", "/", Vec::new(), "cookies");
        let answer = target.runtime.block_on(target.endpoint.round_trip("/", &request, &[]));
        match answer {
            Ok((parts, _)) => {
                assert!(read, "{cookies} lines were read");
                assert_eq!(parts.headers.get_all("set-cookie").iter().count(), cookies);
                assert_eq!(parts.headers["access-control-allow-origin"], "*");
            }
            Err(error) => {
                assert!(!read, "{cookies} lines: {error}");
                assert!(error.to_string().contains("field lines"), "{error}");
            }
        }
    }

    /// An answer cut short says why, not only at which stage: it read "reading the body failed:
    /// error reading a body from connection", and a reset "no valid HTTP answer: connection
    /// error".
    #[test]
    fn a_broken_answer_says_what_happened() {
        let target = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc".to_vec());
        let request = OutgoingRequest::new("GET", "/", Vec::new(), "cut");
        let answer = target.runtime.block_on(target.endpoint.round_trip("/", &request, &[]));
        let error = answer.unwrap_err();
        assert_eq!(error.kind, TargetErrorKind::Answer, "{error}");
        assert!(error.message.ends_with(": end of file before message length reached"), "{error}");
    }

    /// A target that sends its head and then a body without end times out saying so, with the
    /// bytes that came; it read "connected, but no complete answer (is the target's own upstream
    /// answering?)", as if nothing had come (F-CS).
    #[test]
    fn a_body_without_end_is_said_to_have_come_in_part() {
        use std::io::{Read as _, Write as _};
        let (address, _) = serve_once(|mut stream| {
            let _ = stream.read(&mut [0u8; 4096]);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
            while stream.write_all(b"5\r\nevent\r\n").is_ok() {
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let error = timed_out_get(address);
        assert!(
            error.message.contains("the answer's head came, but its body did not end"),
            "{error}"
        );
        assert!(error.message.contains(" bytes of it came;"), "{error}");
        assert!(!error.message.contains("upstream"), "{error}");
    }

    /// A target that sends its answer a byte at a time, too slowly to end within the timeout,
    /// is said to have sent some: it read "connected, but no complete answer (is the target's
    /// own upstream answering?)", as a silent one does (F-CS).
    #[test]
    fn a_slow_answer_is_said_to_have_come_in_part() {
        use std::io::{Read as _, Write as _};
        let (address, _) = serve_once(|mut stream| {
            let _ = stream.read(&mut [0u8; 4096]);
            for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n" {
                if stream.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let error = timed_out_get(address);
        assert!(error.message.contains("connected, and "), "{error}");
        assert!(error.message.contains(" bytes came, but no complete answer's head"), "{error}");
        assert!(!error.message.contains("upstream"), "{error}");
    }

    /// The upstream log is asked within the target's timeout: it was asked within the default
    /// 10 s whatever the target's was, so a log URL that answered without end added 10 s to
    /// every case run with `--timeout 2s` (F-CS).
    #[test]
    fn the_upstream_log_is_asked_within_the_targets_timeout() {
        let (log, _) = serve_once(holding);
        let (target, _) = serve_once(|stream| {
            use std::io::{Read as _, Write as _};
            let mut stream = stream;
            let _ = stream.read(&mut [0u8; 4096]);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        });
        let options = HttpOptions { timeout: Duration::from_millis(300), ..HttpOptions::default() };
        let log = UpstreamLog::Url(format!("http://{log}"));
        let mut target =
            HttpTarget::with_options(&format!("http://{target}"), log, options).unwrap();
        let request = OutgoingRequest::new("GET", "/", Vec::new(), "logged");
        let error = target.send("strict", &request).unwrap_err();
        assert!(error.message.starts_with("asking the upstream log "), "{error}");
        assert!(error.message.contains("within 300ms"), "{error}");
    }

    /// An `https://` URL naming a plain HTTP port, whose server waits for the end of a request
    /// head that a `ClientHello` never brings, times out in the handshake and says so (F-CS).
    #[test]
    fn a_handshake_that_never_ends_is_said_to_be_the_tls_one() {
        let (address, holder) = serve_once(holding);
        let options = HttpOptions {
            timeout: Duration::from_millis(300),
            tls: Tls::DangerouslyAcceptAnyCertificate,
            ..HttpOptions::default()
        };
        let mut target =
            HttpTarget::with_options(&format!("https://{address}"), UpstreamLog::Stamp, options)
                .unwrap();
        let error = target.probe().unwrap_err();
        assert_eq!(error.kind, TargetErrorKind::Unreachable, "{error}");
        assert!(error.message.contains("the TLS handshake did not finish within"), "{error}");
        assert!(error.message.contains("write a plain one's URL as http://"), "{error}");
        holder.join().unwrap();
    }

    /// A folded field line (obs-fold) is read as browsers read it, unfolded into one value;
    /// refused, it made every case an error (F-CS).
    #[test]
    fn a_folded_field_line_is_unfolded() {
        let head = b"HTTP/1.1 200 OK\r\naccess-control-allow-origin: https://a.test\r\n \t, x\r\n\
                     vary: Origin\r\ncontent-length: 0\r\n\r\n";
        let target = answering(head.to_vec());
        let request = OutgoingRequest::new("GET", "/", Vec::new(), "folded");
        let answer = target.exchange(&request).unwrap();
        let value = answer.headers.iter().find(|(n, _)| n == "access-control-allow-origin");
        assert_eq!(value.map(|(_, v)| v.as_slice()), Some(&b"https://a.test , x"[..]));
    }

    /// What is not an HTTP/1.x head (HTTP/2 frames, a banner) is told from an HTTP answer the
    /// suite cannot read (a head past its limit), which is no sign of another protocol (F-CS).
    #[rstest]
    #[case::http2_settings(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00".to_vec(), TargetErrorKind::NotHttp)]
    #[case::banner(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec(), TargetErrorKind::NotHttp)]
    #[case::cut_in_the_head(b"HTTP/1.1 200 OK\r\nvary: Ori".to_vec(), TargetErrorKind::NotHttp)]
    #[case::head_too_large(with_cookies(MAX_ANSWER_FIELDS), TargetErrorKind::Answer)]
    fn what_is_not_http_is_told_from_an_unreadable_answer(
        #[case] head: Vec<u8>,
        #[case] kind: TargetErrorKind,
    ) {
        let target = answering(head);
        let request = OutgoingRequest::new("GET", "/", Vec::new(), "kind");
        let error = target.exchange(&request).unwrap_err();
        assert_eq!(error.kind, kind, "{error}");
    }

    #[test]
    fn a_missing_ca_file_is_reported() {
        let options = HttpOptions {
            tls: Tls::CaFile(PathBuf::from("/nonexistent/ca.pem")),
            ..HttpOptions::default()
        };
        let error = HttpTarget::with_options("https://127.0.0.1:1", UpstreamLog::Stamp, options)
            .unwrap_err();
        assert!(error.message.contains("/nonexistent/ca.pem"), "{error}");
    }
}
