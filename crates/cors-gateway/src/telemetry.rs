//! What the gateway observes of its traffic, for the metrics (`metrics.rs`, served by the admin
//! listener of `admin.rs`) and the access log (`access_log.rs`), and the hooks the request path
//! calls: [`Telemetry::exchange`] per request, [`Telemetry::connection_opened`] per connection,
//! [`upstream_started`] and [`upstream_done`] in the proxy, and the reload hooks.
//!
//! With neither the admin listener nor the access log on, [`Telemetry`] is empty and every hook
//! returns at its first branch: the request path reads no clock and touches no shared memory.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Buf as _;
use clap::Args;
use cors_engine::{Outcome, Rule};
use cors_hyper::CorsBody;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::access_log::{AccessLog, LogFormat, RequestSide, ResponseSide};
use crate::cli::parse_duration;
use crate::connection::Closed;
use crate::metrics::{DroppedLines, InForce, Metrics, closed_index};

/// `cors-gateway serve` flags for the admin listener and the access log.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Admin listener and access log")]
pub(crate) struct TelemetryArgs {
    /// Serve GET /healthz, /readyz and /metrics (Prometheus) on this address, e.g.
    /// 127.0.0.1:9901; off by default. Keep it private: it is not the API. It may not share the
    /// --listen address.
    #[arg(long, value_name = "ADDR", value_parser = crate::cli::parse_listen)]
    pub(crate) admin_listen: Option<String>,
    /// How long a /readyz check of the upstream (one TCP connect, bounded by --connect-timeout)
    /// is reused, so that probes never hammer the upstream (0: check on every /readyz).
    #[arg(long, value_parser = parse_duration, default_value = "2s", value_name = "DURATION")]
    pub(crate) ready_probe_interval: Duration,
    /// One line per request: off, text (key=value pairs) or json (one object per line).
    /// Client values are escaped; Cookie, Authorization and bodies are never logged.
    #[arg(long, value_enum, default_value_t = LogFormat::Off, value_name = "FORMAT")]
    pub(crate) access_log: LogFormat,
    /// Append the access log to FILE instead of writing it to stdout; the file is reopened on
    /// SIGHUP, so logrotate can move it away and signal.
    #[arg(long, value_name = "FILE")]
    pub(crate) access_log_file: Option<PathBuf>,
    /// Log the query string with the path (left out by default: queries often carry tokens).
    #[arg(long)]
    pub(crate) access_log_query: bool,
}

/// The sinks of the running gateway, if any is on. `Copy`: a connection or request takes it
/// without touching a reference count.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Telemetry(Option<&'static Sinks>);

/// The metrics (with the admin listener) and the access log, each when enabled.
#[derive(Debug)]
pub(crate) struct Sinks {
    metrics: Option<Metrics>,
    log: Option<AccessLog>,
}

impl Telemetry {
    /// Nothing observed (the demo, and `serve` without `--admin-listen` or `--access-log`).
    pub(crate) const fn off() -> Self {
        Self(None)
    }

    /// Starts the sinks `args` ask for; `policies` are the policies loaded at start.
    ///
    /// # Errors
    ///
    /// `--access-log-file` without `--access-log`, or the log file cannot be opened.
    pub(crate) fn start(
        args: &TelemetryArgs,
        in_force: impl FnOnce() -> InForce,
    ) -> io::Result<Self> {
        let metrics = args.admin_listen.is_some().then(|| Metrics::new(in_force()));
        let log = match (args.access_log, &args.access_log_file) {
            (LogFormat::Off, None) => None,
            (LogFormat::Off, Some(_)) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "--access-log-file needs --access-log text or --access-log json",
                ));
            }
            (format, file) => {
                let dropped =
                    metrics.as_ref().map_or_else(DroppedLines::default, Metrics::dropped_lines);
                Some(AccessLog::start(format, args.access_log_query, file.as_deref(), dropped)?)
            }
        };
        if metrics.is_none() && log.is_none() {
            return Ok(Self::off());
        }
        // Leaked once per process: every connection and request holds it without counting.
        Ok(Self(Some(Box::leak(Box::new(Sinks { metrics, log })))))
    }

    /// The metrics alone, on from `in_force`, for the unit tests.
    #[cfg(test)]
    pub(crate) fn with_metrics(in_force: InForce) -> Self {
        let metrics = Some(Metrics::new(in_force));
        Self(Some(Box::leak(Box::new(Sinks { metrics, log: None }))))
    }

    /// The metrics, when the admin listener is on.
    pub(crate) fn metrics(self) -> Option<&'static Metrics> {
        self.0.and_then(|sinks| sinks.metrics.as_ref())
    }

    /// The access log, when on.
    pub(crate) fn access_log(self) -> Option<&'static AccessLog> {
        self.0.and_then(|sinks| sinks.log.as_ref())
    }

    /// Begins observing one request: call when its head arrives, then [`Exchange::observe`].
    // Inlined, with the work out of line, so that with telemetry off the request path pays a
    // branch, not a call.
    #[inline]
    pub(crate) fn exchange<B>(self, request: &Request<B>, client: SocketAddr) -> Exchange {
        match self.0 {
            None => Exchange(None),
            Some(sinks) => Exchange(Some(Box::new(Record::begin(sinks, Some(request), client)))),
        }
    }

    /// Begins observing an answer the gateway writes itself, on a connection no HTTP server
    /// serves (plain HTTP on a TLS listener): `request` is what could be read of the client's
    /// head. Without one (no valid request line came) the answer is counted in the metrics but
    /// gets no access log line, which could not say what was asked. Then
    /// [`Exchange::answered`].
    pub(crate) fn unserved_exchange(
        self,
        request: Option<&Request<()>>,
        client: SocketAddr,
    ) -> Exchange {
        Exchange(self.0.map(|sinks| Box::new(Record::begin(sinks, request, client))))
    }

    /// Counts a client connection in; the guard counts it out.
    pub(crate) fn connection_opened(self) -> ConnectionGuard {
        let metrics = self.metrics();
        if let Some(metrics) = metrics {
            metrics.connection_opened();
        }
        ConnectionGuard { metrics, reason: AtomicUsize::new(closed_index(Closed::ByClient)) }
    }

    /// Counts a tunnel in (a client connection that became one); the guard counts it out.
    pub(crate) fn tunnel_opened(self) -> TunnelGuard {
        let metrics = self.metrics();
        if let Some(metrics) = metrics {
            metrics.tunnel_open(true);
        }
        TunnelGuard { metrics }
    }

    /// Records that a reload swapped in `in_force` (hashed only when the metrics are on),
    /// counted when it is not the configuration in force already (see [`Metrics::reloaded`]).
    pub(crate) fn reloaded(self, in_force: impl FnOnce() -> InForce) {
        if let Some(metrics) = self.metrics() {
            metrics.reloaded(in_force());
        }
    }

    /// Records that a reload was refused for errors.
    pub(crate) fn reload_failed(self) {
        if let Some(metrics) = self.metrics() {
            metrics.reload_failed();
        }
    }

    /// Records that a certificate reload was refused for errors.
    pub(crate) fn certificate_reload_failed(self) {
        if let Some(metrics) = self.metrics() {
            metrics.certificate_reload_failed();
        }
    }

    /// Records that the certificate of `file` now served expires at `not_after` (Unix seconds),
    /// at start and on each reload that took.
    pub(crate) fn certificate_served(self, file: &Path, not_after: Option<i64>) {
        if let Some(metrics) = self.metrics() {
            metrics.certificate_served(file, not_after);
        }
    }

    /// Reopens the access log file on every SIGHUP (logrotate), when the log goes to a file.
    /// The handler is installed now, before the listener is announced.
    ///
    /// # Errors
    ///
    /// The signal handler cannot be installed.
    pub(crate) fn reopen_log_on_hangup(self) -> io::Result<()> {
        #[cfg(unix)]
        if let Some(log) = self.access_log().filter(|log| log.is_file()) {
            use tokio::signal::unix::{SignalKind, signal};
            let mut hangup = signal(SignalKind::hangup())?;
            tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    log.reopen();
                }
            });
        }
        Ok(())
    }

    /// Writes the queued access log lines and stops the writer (at shutdown).
    pub(crate) fn close(self) {
        if let Some(log) = self.access_log() {
            log.close(Duration::from_secs(5));
        }
    }

    /// Replaces Rust's panic hook, which writes to stderr outside the log's format, with one
    /// that logs each panic at error level (the thread's name, the location and the message,
    /// the message escaped so that the line stays one line; a backtrace when
    /// `RUST_BACKTRACE` or `RUST_LIB_BACKTRACE` asks for one, as Rust's hook does) and counts it
    /// in `cors_gateway_panics_total`. Replaced, not chained: the panic is written once. The
    /// hook holds this `Telemetry`, so the counter needs no global of its own. Called once by
    /// `serve`, before the workers start.
    pub(crate) fn report_panics(self) {
        std::panic::set_hook(Box::new(move |panic| {
            if let Some(metrics) = self.metrics() {
                metrics.panicked();
            }
            let thread = std::thread::current();
            let thread = thread.name().unwrap_or("<unnamed>");
            let location = panic.location().map(ToString::to_string).unwrap_or_default();
            let location = location.as_str();
            // A `&str` field is written quoted and escaped, as `{:?}` does.
            let message = panic.payload_as_str().unwrap_or("a panic without a message");
            let backtrace = std::backtrace::Backtrace::capture();
            if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
                tracing::error!(thread, location, panic = message, %backtrace, "panicked");
            } else {
                tracing::error!(thread, location, panic = message, "panicked");
            }
        }));
    }
}

/// One client connection, counted in the metrics until dropped: when the connection, and the
/// tunnel it may have become, are both closed (finding F-CF).
#[derive(Debug)]
pub(crate) struct ConnectionGuard {
    metrics: Option<&'static Metrics>,
    /// Why it closed, by its index among the reasons (see [`closed_index`]): said by the
    /// connection when hyper is done with it, then by its tunnel, if it became one. Atomic, for
    /// the tunnel's task.
    reason: AtomicUsize,
}

impl ConnectionGuard {
    /// Says why the connection is closing (the default is [`Closed::ByClient`]), unless the
    /// tunnel it became said why that closed already: a tunnel whose switch failed may end
    /// before hyper is done with the connection.
    pub(crate) fn closed(&self, reason: Closed) {
        let default = closed_index(Closed::ByClient);
        let reason = closed_index(reason);
        let _ = self.reason.compare_exchange(default, reason, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Says why the tunnel the connection became closed, which is why the connection closed.
    pub(crate) fn tunnel_closed(&self, reason: Closed) {
        self.reason.store(closed_index(reason), Ordering::Relaxed);
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if let Some(metrics) = self.metrics {
            metrics.connection_closed(*self.reason.get_mut());
        }
    }
}

/// One tunnel, counted in the metrics until dropped.
#[derive(Debug)]
pub(crate) struct TunnelGuard {
    metrics: Option<&'static Metrics>,
}

impl Drop for TunnelGuard {
    fn drop(&mut self) {
        if let Some(metrics) = self.metrics {
            metrics.tunnel_open(false);
        }
    }
}

/// Why the upstream did not answer a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UpstreamFailure {
    /// Connecting failed (502).
    Connect = 0,
    /// The upstream failed before its response head (502).
    Response = 1,
    /// No response head within `--upstream-timeout` (504).
    Timeout = 2,
    /// No upstream slot within `--upstream-queue-timeout` (503).
    QueueTimeout = 3,
    /// The upstream sent nothing of a response body for `--upstream-read-timeout`: the
    /// response was cut (finding F-BK).
    ReadTimeout = 4,
    /// The upstream closed or reset its connection, or broke its framing, before the end of a
    /// response body: the response was cut.
    BodyFailed = 5,
}

/// Why a request was sent upstream a second time, on a new connection, after a reused
/// connection failed (`pool.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UpstreamRetry {
    /// The connection closed before any of the request was written.
    Unsent = 0,
    /// An idempotent request without a body was written, and the connection closed before any
    /// byte of the response.
    Unanswered = 1,
}

/// What the proxy reports about the upstream, through [`UPSTREAM`].
#[derive(Clone, Copy, Debug, Default)]
struct UpstreamReport {
    elapsed: Option<Duration>,
    failure: Option<UpstreamFailure>,
    retry: Option<UpstreamRetry>,
}

tokio::task_local! {
    /// The upstream report of the request being served: set by the proxy, deep inside the
    /// service, and read by [`Observing`] around it. Only observed requests have one.
    static UPSTREAM: Cell<UpstreamReport>;
}

/// Call just before sending a request upstream; `None` when the request is not observed.
pub(crate) fn upstream_started() -> Option<Instant> {
    UPSTREAM.try_with(|_| Instant::now()).ok()
}

/// Call when the upstream answered (`failure` is `None`) or failed, with what
/// [`upstream_started`] returned.
pub(crate) fn upstream_done(started: Option<Instant>, failure: Option<UpstreamFailure>) {
    if let Some(started) = started {
        let _ = UPSTREAM.try_with(|cell| {
            let retry = cell.get().retry;
            cell.set(UpstreamReport { elapsed: Some(started.elapsed()), failure, retry });
        });
    }
}

/// Call when a request is sent upstream once more, for `reason`.
pub(crate) fn upstream_retried(reason: UpstreamRetry) {
    let _ = UPSTREAM.try_with(|cell| {
        let mut report = cell.get();
        report.retry = Some(reason);
        cell.set(report);
    });
}

/// Call when a request got no upstream slot in time (it never reached the upstream).
pub(crate) fn upstream_queue_timed_out() {
    let report =
        UpstreamReport { elapsed: None, failure: Some(UpstreamFailure::QueueTimeout), retry: None };
    let _ = UPSTREAM.try_with(|cell| cell.set(report));
}

/// One request being observed, from [`Telemetry::exchange`].
///
/// The record is boxed: the request's future and its response, which hyper moves several times
/// per request, carry one pointer for it rather than the record's 88 bytes, with telemetry off
/// too (measured: about 100 instructions less per request, for one allocation per request when
/// telemetry is on).
#[derive(Debug)]
pub(crate) struct Exchange(Option<Box<Record>>);

impl Exchange {
    /// Observes `work` (the service's handling of the request) and its response: the head when
    /// `work` completes, then, once the caller gave the response's body what
    /// [`Observing::seen`] returns ([`Observed::new`]), the body as it is sent; the record is
    /// written when the body is done or dropped.
    pub(crate) fn observe<F>(self, work: F) -> Observing<F> {
        Observing { work, record: self.0 }
    }

    /// Records that `status`, with `bytes` of body, was sent for an exchange begun by
    /// [`Telemetry::unserved_exchange`], and writes it out. An exchange dropped without this is
    /// recorded as the client's going away (`499`).
    pub(crate) fn answered(self, status: StatusCode, bytes: u64) {
        let Some(mut record) = self.0 else { return };
        record.status = Some(status);
        record.bytes = bytes;
        if let Some(metrics) = &record.sinks.metrics {
            metrics.responded(status, None, None, None, None);
        }
    }
}

pin_project! {
    /// The future of [`Exchange::observe`].
    ///
    /// Hand-written rather than an `async fn` around tokio's `LocalKey::scope`: the request
    /// future hyper keeps for each request holds this, and an `async fn` held `work` twice (as
    /// its argument and inside the scope's future), which made every move of it copy twice the
    /// bytes. Each poll of an observed request sets [`UPSTREAM`] around the poll of `work`, as
    /// `scope` does. The response passes through as `work` gave it (see [`Seen`]).
    #[derive(Debug)]
    pub(crate) struct Observing<F> {
        #[pin]
        work: F,
        record: Option<Box<Record>>,
    }
}

impl<F> Observing<F> {
    /// What was seen of the request, once this future completed: its record, for the response's
    /// body to carry ([`Observed::new`]).
    pub(crate) fn seen(self: Pin<&mut Self>) -> Seen {
        Seen(self.project().record.take())
    }
}

impl<F, B, E> Future for Observing<F>
where
    F: Future<Output = Result<Response<CorsBody<B>>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(observed) = this.record else {
            return this.work.poll(cx);
        };
        let mut work = this.work;
        // The poll's output is put in `ready` rather than returned through the scope: returned,
        // the output (the response, a few hundred bytes, or room for it while pending) was
        // copied out of tokio's scope, then out of a tuple, on every poll (measured: about 700
        // instructions per forwarded request, its four polls, with the admin listener on).
        let mut ready = None;
        let upstream = UPSTREAM.sync_scope(Cell::new(observed.upstream), || {
            if let Poll::Ready(output) = work.as_mut().poll(cx) {
                ready = Some(output);
            }
            UPSTREAM.with(Cell::get)
        });
        observed.upstream = upstream;
        let Some(response) = ready else { return Poll::Pending };
        let response = response?;
        let status = response.status();
        observed.status = Some(status);
        observed.decided = response.body().outcome().zip(response.body().rule());
        if let Some(metrics) = &observed.sinks.metrics {
            metrics.responded(
                status,
                observed.decided,
                upstream.elapsed,
                upstream.failure,
                upstream.retry,
            );
        }
        Poll::Ready(Ok(response))
    }
}

/// What is known of a request until its response body is done; written out when dropped.
#[derive(Debug)]
struct Record {
    sinks: &'static Sinks,
    started: Instant,
    /// The access log line, its request side written.
    line: Option<Vec<u8>>,
    /// The status sent; `None` while the response is not ready, and for good when the client
    /// went away (closed its connection, reset its stream) before it was.
    status: Option<StatusCode>,
    decided: Option<(Outcome, Rule)>,
    /// What the proxy has reported about the upstream so far (see [`UPSTREAM`]).
    upstream: UpstreamReport,
    /// Response body bytes sent so far.
    bytes: u64,
}

/// The status an access log line shows for a request whose client went away before its
/// response was ready, as nginx logs it ("client closed request"); no response was sent.
fn client_closed_request() -> StatusCode {
    StatusCode::from_u16(499).expect("invariant: 499 is within 100..=999")
}

impl Record {
    /// The record of a request whose head just arrived, its access log line begun (none
    /// without a `request` to describe).
    fn begin<B>(sinks: &'static Sinks, request: Option<&Request<B>>, client: SocketAddr) -> Self {
        let started = Instant::now();
        let line = sinks.log.as_ref().zip(request).map(|(log, request)| {
            log.begin(&RequestSide { request, client, time: SystemTime::now() })
        });
        Self {
            sinks,
            started,
            line,
            status: None,
            decided: None,
            upstream: UpstreamReport::default(),
            bytes: 0,
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        let total = self.started.elapsed();
        if let Some(metrics) = self.sinks.metrics.as_ref().filter(|_| self.status.is_some()) {
            metrics.finished(total);
        }
        if let (Some(log), Some(line)) = (&self.sinks.log, self.line.take()) {
            let side = ResponseSide {
                status: self.status.unwrap_or_else(client_closed_request),
                decided: self.decided,
                upstream: self.upstream.elapsed,
                total,
                bytes: self.bytes,
            };
            log.finish(line, &side);
        }
    }
}

/// What [`Observing::seen`] hands over once the response is ready: the request's record, for
/// the response's body to carry ([`Observed::new`]).
///
/// Taken apart from the response rather than wrapped into its body by [`Observing`]: the
/// response passes through [`Observing::poll`] as the inner future gave it, and the caller
/// wraps its body once, for this and for its own needs, so that the response, over 100 bytes,
/// is not moved twice more.
#[derive(Debug)]
pub(crate) struct Seen(Option<Box<Record>>);

pin_project! {
    /// A response body that counts the bytes it sends for its request's [`Record`], and drops
    /// the record, writing it out, when the body ends or is dropped.
    #[derive(Debug)]
    pub(crate) struct Observed<B> {
        #[pin]
        body: B,
        record: Option<Box<Record>>,
    }
}

impl<B> Observed<B> {
    /// `body`, carrying what [`Observing`] saw of its request.
    pub(crate) fn new(body: B, seen: Seen) -> Self {
        Self { body, record: seen.0 }
    }
}

impl<B: Body> Body for Observed<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let polled = this.body.poll_frame(cx);
        if let Some(record) = this.record.as_mut() {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        record.bytes += u64::try_from(data.remaining()).unwrap_or(u64::MAX);
                    }
                }
                Poll::Ready(None | Some(Err(_))) => *this.record = None,
                Poll::Pending => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LogBuffer;

    /// A panic on a named thread is logged at error level with the thread's name, the location
    /// and the message, escaped to one line, and counted in `cors_gateway_panics_total`.
    ///
    /// The hook is process-global: nextest runs each test in a process of its own, and the
    /// previous hook is put back at once for a run that shares one (`cargo test`). The log is
    /// the panicking thread's own subscriber, so no other test's line can mix in.
    #[test]
    fn a_panic_is_logged_and_counted() {
        let policy = crate::demo::demo_policy().unwrap();
        let telemetry = Telemetry::with_metrics(InForce::single(&policy));
        let log = LogBuffer::default();
        let writer = log.clone();
        let subscriber =
            tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let previous = std::panic::take_hook();
        telemetry.report_panics();
        let thread = std::thread::Builder::new().name("cors-gateway-worker-7".to_owned());
        let panicked = thread
            .spawn(|| {
                tracing::subscriber::with_default(subscriber, || {
                    panic!("an accept loop broke\nnext line");
                });
            })
            .unwrap()
            .join();
        std::panic::set_hook(previous);
        assert!(panicked.is_err());
        let log = log.text();
        // The first line; a backtrace follows when `RUST_BACKTRACE` asks for one.
        let log = log.lines().next().unwrap_or_default();
        assert!(log.contains("ERROR"), "{log}");
        assert!(log.contains("thread=\"cors-gateway-worker-7\""), "{log}");
        assert!(log.contains("location=\"crates/cors-gateway/src/telemetry.rs:"), "{log}");
        assert!(log.contains("panic=\"an accept loop broke\\nnext line\""), "{log}");
        let metrics = telemetry.metrics().unwrap().encode(false);
        assert!(metrics.contains("\ncors_gateway_panics_total 1\n"), "{metrics}");
    }
}
