//! The access log (`--access-log text|json`): one line per request, written by a thread of its
//! own so that a slow disk or a stalled stdout never holds a request up.
//!
//! A line is written in two steps into one buffer, its only allocation: the request's side
//! ([`AccessLog::begin`]: time, client, method, path, protocol, origin) when its head arrives,
//! and the response's side ([`AccessLog::finish`]: status, decision, rule, times, bytes) when
//! its body is done.
//! The finished line goes into a bounded queue; when the queue is full the line is dropped and
//! counted (`cors_gateway_access_log_dropped_total{reason="queue_full"}`), never waited for.
//!
//! # Escaping
//!
//! Everything a client chose (method, path, query, origin) is written as
//! [`<[u8]>::escape_ascii`](slice::escape_ascii) writes it: printable ASCII as is except `\`, `'`
//! and `"`, which get a backslash, and `\t`, `\r`, `\n` or `\xHH` for every other byte. A line
//! therefore holds printable ASCII only and ends at its one newline: a client cannot split it
//! or forge a field. JSON lines carry the same escaped text as JSON strings. Cookie,
//! Authorization, other header fields and bodies are never read.

use std::fs::File;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime};
use std::{fmt, thread};

use clap::ValueEnum;
use cors_engine::{Outcome, Rule};
use cors_origin::RequestOrigin;
use http::{Request, StatusCode, Version, header};
use serde::{Serialize, Serializer};

use crate::metrics::DroppedLines;
use crate::proxy::client_address;

/// The format of access log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// No access log (the default).
    Off,
    /// `key=value` pairs (logfmt), client values quoted and escaped.
    Text,
    /// One JSON object per line.
    Json,
}

/// Lines waiting for the writer at most; past it new lines are dropped and counted.
const QUEUE_LINES: usize = 8192;

/// The most bytes of a path (with its query, if logged) written; longer ones end with `\...`,
/// which escaped text cannot otherwise contain.
const MAX_PATH_BYTES: usize = 2048;

/// The room a line starts with, enough for a typical request without growing.
const LINE_CAPACITY: usize = 384;

/// The most bytes the writer gathers before one write.
const BATCH_BYTES: usize = 64 * 1024;

/// How long the writer lets lines gather while they keep coming (see [`write_lines`]).
const GATHER_PAUSE: Duration = Duration::from_millis(10);

/// How often the writer reports dropped lines, at most.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// What a request's line needs from its head.
pub(crate) struct RequestSide<'a, B> {
    pub(crate) request: &'a Request<B>,
    pub(crate) client: SocketAddr,
    pub(crate) time: SystemTime,
}

/// What a request's line needs from its answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResponseSide {
    pub(crate) status: StatusCode,
    pub(crate) decided: Option<(Outcome, Rule)>,
    pub(crate) upstream: Option<Duration>,
    pub(crate) total: Duration,
    pub(crate) bytes: u64,
}

/// How lines are written: the format, and whether paths keep their query.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lines {
    format: LogFormat,
    query: bool,
}

/// The access log: the line format, and the queue to the writer thread.
#[derive(Debug)]
pub(crate) struct AccessLog {
    format: Lines,
    to_file: bool,
    lines: SyncSender<Vec<u8>>,
    state: Arc<WriterState>,
    writer: thread::JoinHandle<()>,
}

/// What the request path and the writer thread share.
#[derive(Debug)]
struct WriterState {
    reopen: AtomicBool,
    closing: AtomicBool,
    dropped: DroppedLines,
}

impl AccessLog {
    /// Opens `file` (stdout when `None`) and starts the writer thread.
    ///
    /// # Errors
    ///
    /// The file cannot be opened for appending, or the thread cannot start.
    pub(crate) fn start(
        format: LogFormat,
        query: bool,
        file: Option<&Path>,
        dropped: DroppedLines,
    ) -> io::Result<Self> {
        let to_file = file.is_some();
        let output = match file {
            Some(path) => Output::File { file: open(path)?, path: path.to_owned() },
            None => Output::Stdout,
        };
        let (lines, queue) = std::sync::mpsc::sync_channel(QUEUE_LINES);
        let state = Arc::new(WriterState {
            reopen: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            dropped,
        });
        let shared = Arc::clone(&state);
        let writer = thread::Builder::new()
            .name("access-log".to_owned())
            .spawn(move || write_lines(&queue, output, &shared))?;
        Ok(Self { format: Lines { format, query }, to_file, lines, state, writer })
    }

    /// Whether the log goes to a file (rather than stdout).
    pub(crate) fn is_file(&self) -> bool {
        self.to_file
    }

    /// Starts a request's line with its request side.
    pub(crate) fn begin<B>(&self, side: &RequestSide<'_, B>) -> Vec<u8> {
        self.format.begin(side)
    }

    /// Completes `line` with the response side and queues it for the writer.
    pub(crate) fn finish(&self, mut line: Vec<u8>, side: &ResponseSide) {
        if self.format.complete(&mut line, side) {
            self.send(line);
        }
    }

    fn send(&self, line: Vec<u8>) {
        match self.lines.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.state.dropped.queue_full.inc();
            }
        }
    }

    /// Asks the writer to reopen its file (after logrotate moved it), before its next write.
    pub(crate) fn reopen(&self) {
        self.state.reopen.store(true, Ordering::Relaxed);
        // A wake-up; when the queue is full the writer is busy and sees the flag soon anyway.
        let _ = self.lines.try_send(Vec::new());
    }

    /// Writes every queued line and stops the writer, waiting for it at most `patience`.
    pub(crate) fn close(&self, patience: Duration) {
        self.state.closing.store(true, Ordering::Relaxed);
        let _ = self.lines.try_send(Vec::new());
        let deadline = Instant::now() + patience;
        while !self.writer.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Lines {
    fn begin<B>(self, side: &RequestSide<'_, B>) -> Vec<u8> {
        let mut line = Vec::with_capacity(LINE_CAPACITY);
        let uri = side.request.uri();
        let target = match (self.query, uri.path_and_query()) {
            (true, Some(path_and_query)) => path_and_query.as_str(),
            _ => uri.path(),
        };
        let fields = RequestFields {
            time: humantime::format_rfc3339_millis(side.time),
            // A dual-stack listener's IPv4 client as its IPv4 address, as the forwarding fields
            // name it (finding F-DO), not `[::ffff:203.0.113.7]`.
            client: client_address(side.client),
            method: Escaped::all(side.request.method().as_str().as_bytes()),
            path: Escaped::bounded(target.as_bytes(), MAX_PATH_BYTES),
            proto: Proto(side.request.version()),
            origin: origin_of(side.request),
        };
        match self.format {
            LogFormat::Json => {
                // Serialized as an object, then reopened: `finish` appends the response's side.
                if serde_json::to_writer(&mut line, &fields).is_ok() {
                    line.pop();
                } else {
                    line.clear();
                }
            }
            LogFormat::Text | LogFormat::Off => {
                let _ = write!(line, "{fields}");
            }
        }
        line
    }

    /// Completes `line` with the response side and its newline; `false` when there is no line
    /// to write (its beginning failed).
    fn complete(self, line: &mut Vec<u8>, side: &ResponseSide) -> bool {
        if line.is_empty() {
            return false;
        }
        let fields = ResponseFields {
            status: side.status.as_u16(),
            decision: side.decided.map(|(outcome, _)| outcome.as_str()),
            rule: side.decided.map(|(_, rule)| RuleName(rule)),
            upstream_ms: side.upstream.map(Millis),
            total_ms: Millis(side.total),
            bytes: side.bytes,
        };
        match self.format {
            LogFormat::Json => {
                let start = line.len();
                if serde_json::to_writer(&mut *line, &fields).is_err() {
                    return false;
                }
                // The response's object continues the request's: its `{` becomes a `,`.
                line[start] = b',';
            }
            LogFormat::Text | LogFormat::Off => {
                let _ = write!(line, "{fields}");
            }
        }
        line.push(b'\n');
        true
    }
}

/// Opens the log file for appending, creating it readable by its owner and group only (an
/// access log holds client addresses).
fn open(path: &Path) -> io::Result<File> {
    let mut options = File::options();
    options.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
    options.open(path).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot open the access log {}: {error}", path.display()),
        )
    })
}

/// Where the writer writes.
enum Output {
    Stdout,
    File { path: PathBuf, file: File },
}

impl Output {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            // One write for the batch: stdout's line buffering writes every whole line at once.
            Self::Stdout => {
                let mut stdout = io::stdout().lock();
                stdout.write_all(bytes)?;
                stdout.flush()
            }
            Self::File { file, .. } => file.write_all(bytes),
        }
    }

    /// Opens the file's path again; on failure keeps the current file and says why.
    fn reopen(&mut self) {
        if let Self::File { path, file } = self {
            match open(path) {
                Ok(reopened) => {
                    *file = reopened;
                    tracing::info!(file = %path.display(), "access log reopened");
                }
                Err(error) => tracing::warn!(%error, "keeping the current access log file"),
            }
        }
    }
}

/// The writer thread: gathers queued lines into batches and writes each at once.
///
/// While lines keep coming it drains the queue every [`GATHER_PAUSE`] instead of waiting on it:
/// a writer blocked on the queue must be woken by each new line, a system call on the request
/// path, while one that sleeps is woken by its timer alone. After a pause that found nothing
/// it waits on the queue again, so an idle gateway does not wake up.
fn write_lines(queue: &Receiver<Vec<u8>>, mut output: Output, state: &WriterState) {
    let mut batch = Batch::default();
    let mut report = DropReport::default();
    let mut busy = false;
    loop {
        let gathered = batch.gathered;
        if busy {
            thread::sleep(GATHER_PAUSE);
        } else {
            match queue.recv_timeout(Duration::from_secs(1)) {
                Ok(line) => batch.push(&line),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    state.closing.store(true, Ordering::Relaxed);
                }
            }
        }
        if state.reopen.swap(false, Ordering::Relaxed) {
            output.reopen();
        }
        while let Ok(line) = queue.try_recv() {
            batch.push(&line);
            if batch.bytes.len() >= BATCH_BYTES {
                batch.write_to(&mut output, state, &mut report);
            }
        }
        batch.write_to(&mut output, state, &mut report);
        busy = batch.gathered != gathered;
        report.dropped(state.dropped.queue_full.get());
        if state.closing.load(Ordering::Relaxed) && !busy {
            break;
        }
    }
}

/// Lines gathered for one write.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    /// Lines in `bytes`.
    lines: u64,
    /// Lines gathered since the writer started.
    gathered: u64,
}

impl Batch {
    fn push(&mut self, line: &[u8]) {
        // Empty messages only wake the writer up (`reopen`, `close`).
        let count = u64::from(!line.is_empty());
        self.lines += count;
        self.gathered += count;
        self.bytes.extend_from_slice(line);
    }

    /// Writes the batch, if any, and empties it; lines that fail are counted.
    fn write_to(&mut self, output: &mut Output, state: &WriterState, report: &mut DropReport) {
        if self.bytes.is_empty() {
            return;
        }
        if let Err(error) = output.write_all(&self.bytes) {
            state.dropped.write_error.inc_by(self.lines);
            report.write_failed(&error);
        }
        self.bytes.clear();
        self.lines = 0;
    }
}

/// Rate-limited warnings about lines that were not written.
#[derive(Default)]
struct DropReport {
    reported_full: u64,
    last: Option<Instant>,
}

impl DropReport {
    fn due(&mut self) -> bool {
        let now = Instant::now();
        let due = self.last.is_none_or(|last| now.duration_since(last) >= REPORT_EVERY);
        if due {
            self.last = Some(now);
        }
        due
    }

    fn dropped(&mut self, total: u64) {
        if total > self.reported_full && self.due() {
            tracing::warn!(
                dropped = total - self.reported_full,
                "access log lines dropped: the log cannot be written as fast as requests arrive"
            );
            self.reported_full = total;
        }
    }

    fn write_failed(&mut self, error: &io::Error) {
        if self.due() {
            tracing::warn!(%error, "writing the access log failed; lines were lost");
        }
    }
}

/// The request side of a line.
#[derive(Serialize)]
struct RequestFields<'a> {
    #[serde(serialize_with = "display")]
    time: humantime::Rfc3339Timestamp,
    #[serde(serialize_with = "display")]
    client: SocketAddr,
    method: Escaped<'a>,
    path: Escaped<'a>,
    proto: Proto,
    origin: LoggedOrigin<'a>,
}

impl fmt::Display for RequestFields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { time, client, method, path, proto, origin } = self;
        write!(
            f,
            "time={time} client={client} method=\"{method}\" path=\"{path}\" proto={proto} \
             origin={origin}"
        )
    }
}

/// The response side of a line.
#[derive(Serialize)]
struct ResponseFields {
    status: u16,
    decision: Option<&'static str>,
    rule: Option<RuleName>,
    upstream_ms: Option<Millis>,
    total_ms: Millis,
    bytes: u64,
}

impl fmt::Display for ResponseFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { status, decision, rule, upstream_ms, total_ms, bytes } = self;
        write!(
            f,
            " status={status} decision={} rule={} upstream_ms={} total_ms={total_ms} bytes={bytes}",
            Dash(decision.as_ref()),
            Dash(rule.as_ref()),
            Dash(upstream_ms.as_ref()),
        )
    }
}

fn display<T: fmt::Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// A value, or `-` when there is none.
struct Dash<'a, T>(Option<&'a T>);

impl<T: fmt::Display> fmt::Display for Dash<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(value) => value.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// Client bytes, escaped (see the module's documentation), at most `limit` of them.
#[derive(Clone, Copy)]
struct Escaped<'a> {
    bytes: &'a [u8],
    truncated: bool,
}

impl<'a> Escaped<'a> {
    fn all(bytes: &'a [u8]) -> Self {
        Self { bytes, truncated: false }
    }

    fn bounded(bytes: &'a [u8], limit: usize) -> Self {
        match bytes.get(..limit) {
            Some(head) if bytes.len() > limit => Self { bytes: head, truncated: true },
            _ => Self::all(bytes),
        }
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.bytes.escape_ascii())?;
        if self.truncated {
            f.write_str("\\...")?;
        }
        Ok(())
    }
}

impl Serialize for Escaped<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The request's `Origin`: absent, malformed (or on several lines), or a well-formed origin as
/// `RequestOrigin::parse` accepts it, which bounds its length (`MAX_ORIGIN_LEN`).
#[derive(Clone, Copy)]
enum LoggedOrigin<'a> {
    Absent,
    Malformed,
    Origin(Escaped<'a>),
}

fn origin_of<B>(request: &Request<B>) -> LoggedOrigin<'_> {
    let mut lines = request.headers().get_all(header::ORIGIN).iter();
    match (lines.next(), lines.next()) {
        (None, _) => LoggedOrigin::Absent,
        (Some(value), None) => match RequestOrigin::parse(value.as_bytes()) {
            Ok(origin) => LoggedOrigin::Origin(Escaped::all(origin.as_bytes())),
            Err(_) => LoggedOrigin::Malformed,
        },
        (Some(_), Some(_)) => LoggedOrigin::Malformed,
    }
}

impl fmt::Display for LoggedOrigin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Absent => f.write_str("-"),
            Self::Malformed => f.write_str("invalid"),
            Self::Origin(origin) => write!(f, "\"{origin}\""),
        }
    }
}

impl Serialize for LoggedOrigin<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Absent => serializer.serialize_none(),
            Self::Malformed => serializer.serialize_str("invalid"),
            Self::Origin(origin) => origin.serialize(serializer),
        }
    }
}

/// The protocol version as the request line writes it: `HTTP/1.1`, `HTTP/2.0`.
#[derive(Clone, Copy)]
struct Proto(Version);

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for Proto {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A rule id, `A1`.
#[derive(Clone, Copy)]
struct RuleName(Rule);

impl fmt::Display for RuleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for RuleName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A duration in milliseconds with microsecond precision: `12.345`.
#[derive(Clone, Copy)]
struct Millis(Duration);

impl Millis {
    fn micros(self) -> u64 {
        u64::try_from(self.0.as_micros()).unwrap_or(u64::MAX)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.micros();
        write!(f, "{}.{:03}", micros / 1000, micros % 1000)
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[expect(
            clippy::cast_precision_loss,
            reason = "exact below 2^53 microseconds, about 285 years"
        )]
        let micros = self.micros() as f64;
        serializer.serialize_f64(micros / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// The complete line for `request`, answered 200 after an A1 decision.
    fn line(format: LogFormat, query: bool, request: &Request<()>) -> String {
        line_of(format, query, request, "192.0.2.7:5000")
    }

    /// [`line`], for a request from `client`.
    fn line_of(format: LogFormat, query: bool, request: &Request<()>, client: &str) -> String {
        let lines = Lines { format, query };
        let side = RequestSide {
            request,
            client: client.parse().unwrap(),
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_765_000_000_123),
        };
        let mut line = lines.begin(&side);
        let response = ResponseSide {
            status: StatusCode::OK,
            decided: Some((Outcome::Allowed, Rule::A1)),
            upstream: Some(Duration::from_micros(12_345)),
            total: Duration::from_millis(13),
            bytes: 42,
        };
        assert!(lines.complete(&mut line, &response));
        let line = String::from_utf8(line).unwrap();
        assert_eq!(line.find('\n'), Some(line.len() - 1), "one line, ended by its newline");
        line.trim_end().to_owned()
    }

    fn request(method: &str, target: &str, origin: Option<&[u8]>) -> Request<()> {
        let mut builder = Request::builder().method(method).uri(target);
        if let Some(origin) = origin {
            builder = builder.header("origin", http::HeaderValue::from_bytes(origin).unwrap());
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn a_text_line_has_every_field() {
        let request = request("GET", "/items?token=secret", Some(b"https://app.example.com"));
        assert_eq!(
            line(LogFormat::Text, false, &request),
            "time=2025-12-06T05:46:40.123Z client=192.0.2.7:5000 method=\"GET\" path=\"/items\" \
             proto=HTTP/1.1 origin=\"https://app.example.com\" status=200 decision=actual-allowed \
             rule=A1 upstream_ms=12.345 total_ms=13.000 bytes=42"
        );
    }

    #[test]
    fn a_json_line_is_one_object_with_every_field() {
        let request = request("GET", "/items?token=secret", Some(b"https://app.example.com"));
        let line = line(LogFormat::Json, true, &request);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "time": "2025-12-06T05:46:40.123Z", "client": "192.0.2.7:5000", "method": "GET",
                "path": "/items?token=secret", "proto": "HTTP/1.1",
                "origin": "https://app.example.com", "status": 200, "decision": "actual-allowed",
                "rule": "A1", "upstream_ms": 12.345, "total_ms": 13.0, "bytes": 42
            })
        );
    }

    /// An IPv4 client of a dual-stack listener (`[::]:PORT`) is logged as the IPv4 address the
    /// upstream is told in `X-Forwarded-For`; it was logged as `[::ffff:203.0.113.7]:5000`
    /// (finding F-DO). An IPv6 client stays as it is.
    #[rstest]
    #[case::ipv4_mapped("[::ffff:203.0.113.7]:5000", "203.0.113.7:5000")]
    #[case::ipv4("203.0.113.7:5000", "203.0.113.7:5000")]
    #[case::ipv6("[2001:db8::7]:5000", "[2001:db8::7]:5000")]
    #[case::nat64_stays_ipv6("[64:ff9b::cb00:7107]:5000", "[64:ff9b::cb00:7107]:5000")]
    fn the_client_is_logged_as_the_forwarding_fields_name_it(
        #[case] client: &str,
        #[case] logged: &str,
    ) {
        let request = request("GET", "/", None);
        let text = line_of(LogFormat::Text, false, &request, client);
        assert!(text.contains(&format!(" client={logged} ")), "{text}");
        let json = line_of(LogFormat::Json, false, &request, client);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["client"], logged, "{json}");
    }

    #[rstest]
    #[case::absent(None, "origin=-", serde_json::Value::Null)]
    #[case::well_formed(Some(&b"http://127.0.0.1:8080"[..]), "origin=\"http://127.0.0.1:8080\"", "http://127.0.0.1:8080".into())]
    #[case::null(Some(&b"null"[..]), "origin=\"null\"", "null".into())]
    #[case::not_canonical(Some(&b"HTTPS://app.example.com"[..]), "origin=invalid", "invalid".into())]
    #[case::quotes_and_spaces(Some(&b"https://a\" b=\"c"[..]), "origin=invalid", "invalid".into())]
    #[case::obs_text(Some(&b"https://\xe9.example"[..]), "origin=invalid", "invalid".into())]
    #[case::over_the_length_cap(Some(&[b'a'; 3000][..]), "origin=invalid", "invalid".into())]
    fn origins_are_logged_only_when_well_formed(
        #[case] origin: Option<&[u8]>,
        #[case] text: &str,
        #[case] json: serde_json::Value,
    ) {
        let request = request("GET", "/", origin);
        assert!(line(LogFormat::Text, false, &request).contains(&format!(" {text} ")));
        let value: serde_json::Value =
            serde_json::from_str(&line(LogFormat::Json, false, &request)).unwrap();
        assert_eq!(value["origin"], json);
    }

    #[test]
    fn two_origin_lines_are_invalid() {
        let mut request = request("GET", "/", Some(b"https://a.example"));
        request.headers_mut().append("origin", http::HeaderValue::from_static("https://b.example"));
        assert!(line(LogFormat::Text, false, &request).contains(" origin=invalid "));
    }

    #[rstest]
    #[case::quote_and_backslash(b"/a\"b\\c", "/a\\\"b\\\\c")]
    #[case::non_ascii(b"/caf\xc3\xa9", "/caf\\xc3\\xa9")]
    #[case::braces_and_pipes(b"/{x}|y^", "/{x}|y^")]
    #[case::truncated(&[b'a'; MAX_PATH_BYTES + 1], "…")]
    fn paths_are_escaped(#[case] raw: &[u8], #[case] escaped: &str) {
        let expected = if escaped == "…" {
            format!("{}\\...", "a".repeat(MAX_PATH_BYTES))
        } else {
            escaped.to_owned()
        };
        assert_eq!(Escaped::bounded(raw, MAX_PATH_BYTES).to_string(), expected);
    }

    #[test]
    fn escaped_bytes_never_end_a_line_or_a_field() {
        let every_byte: Vec<u8> = (0..=255).collect();
        let escaped = Escaped::all(&every_byte).to_string();
        assert!(escaped.bytes().all(|byte| (0x20..0x7f).contains(&byte)), "printable ASCII only");
        assert!(!escaped.replace("\\\"", "").contains('"'), "every quote is escaped");
        let json = serde_json::to_string(&Escaped::all(&every_byte)).unwrap();
        assert_eq!(serde_json::from_str::<String>(&json).unwrap(), escaped);
    }

    #[test]
    fn the_query_is_left_out_unless_asked_for() {
        let request = request("GET", "/p?q=1", None);
        assert!(line(LogFormat::Text, false, &request).contains(" path=\"/p\" "));
        assert!(line(LogFormat::Text, true, &request).contains(" path=\"/p?q=1\" "));
    }

    /// A log file under the temporary directory, for the test `name`.
    fn temporary_file(name: &str) -> PathBuf {
        std::env::temp_dir()
            .join(format!("cors-gateway-access-log-{name}-{}.log", std::process::id()))
    }

    /// A request's two sides, `/path` from `[::1]:1` answered 404 without a decision.
    fn queue(log: &AccessLog, path: &str) {
        let request = request("GET", path, None);
        let side = RequestSide {
            request: &request,
            client: "[::1]:1".parse().unwrap(),
            time: SystemTime::now(),
        };
        let response = ResponseSide {
            status: StatusCode::NOT_FOUND,
            decided: None,
            upstream: None,
            total: Duration::ZERO,
            bytes: 0,
        };
        log.finish(log.begin(&side), &response);
    }

    #[test]
    fn lines_reach_the_file_and_the_file_is_reopened() {
        let path = temporary_file("reopen");
        let moved = path.with_extension("log.1");
        let log =
            AccessLog::start(LogFormat::Text, false, Some(&path), DroppedLines::default()).unwrap();
        queue(&log, "/first");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&path).unwrap_or_default().is_empty() {
            assert!(Instant::now() < deadline, "the line was never written");
            thread::sleep(Duration::from_millis(10));
        }
        std::fs::rename(&path, &moved).unwrap();
        log.reopen();
        queue(&log, "/second");
        log.close(Duration::from_secs(10));
        let first = std::fs::read_to_string(&moved).unwrap();
        let second = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&moved);
        let _ = std::fs::remove_file(&path);
        assert!(first.contains("path=\"/first\"") && !first.contains("/second"), "{first}");
        assert!(second.contains("path=\"/second\" proto=HTTP/1.1 origin=- status=404 decision=- rule=- upstream_ms=-"), "{second}");
    }

    /// Closing (at shutdown) writes every queued line and stops the writer, and returns once it
    /// has stopped, not at the end of its patience.
    #[test]
    fn closing_writes_every_queued_line_and_waits_for_the_writer_alone() {
        let path = temporary_file("close");
        let log =
            AccessLog::start(LogFormat::Text, false, Some(&path), DroppedLines::default()).unwrap();
        for _ in 0..1000 {
            queue(&log, "/queued");
        }
        let patience = Duration::from_secs(20);
        let started = Instant::now();
        log.close(patience);
        let waited = started.elapsed();
        let stopped = log.writer.is_finished();
        let written = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(stopped, "close returned before the writer stopped");
        assert_eq!(written.lines().filter(|line| line.contains("path=\"/queued\"")).count(), 1000);
        assert!(
            waited < patience,
            "close waited {waited:?}, all its patience, for a stopped writer"
        );
    }

    /// Lines that cannot be written (the disk is full) are counted, each once
    /// (`cors_gateway_access_log_dropped_total{reason="write_error"}`, docs/operations.md).
    #[cfg(target_os = "linux")]
    #[test]
    fn lines_that_cannot_be_written_are_counted() {
        let dropped = DroppedLines::default();
        let full = Path::new("/dev/full");
        let log = AccessLog::start(LogFormat::Text, false, Some(full), dropped.clone()).unwrap();
        for _ in 0..3 {
            queue(&log, "/lost");
        }
        log.close(Duration::from_secs(10));
        assert!(log.writer.is_finished());
        assert_eq!(dropped.write_error.get(), 3);
        assert_eq!(dropped.queue_full.get(), 0);
    }
}
