//! Shared test fixtures: the gateway process, a spy upstream, a client, policy files.
//! Everything listens on 127.0.0.1 only; every wait is bounded.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different part of this module"
)]

pub mod tls;
pub mod upstream;
pub mod websocket;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The longest any single wait in these tests may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The longest a defence timed by `timeout` may take to act: four times it and a second more,
/// room for a busy 2-core machine, and still short of ten times it. A test that only waits for
/// "closed" within [`PATIENCE`] also passes when the bound is off by a factor, or when another,
/// longer timeout does the closing.
pub const fn due_within(timeout: Duration) -> Duration {
    timeout.saturating_mul(4).saturating_add(Duration::from_secs(1))
}

/// Asserts that `what` took no longer than [`due_within`] `timeout`.
#[track_caller]
pub fn assert_due(took: Duration, timeout: Duration, what: &str) {
    let bound = due_within(timeout);
    assert!(took < bound, "{what} after {took:?}: past {bound:?}, the bound for {timeout:?}");
}

pub const GATEWAY: &str = env!("CARGO_BIN_EXE_cors-gateway");

/// The repository's example policies.
pub fn example_policy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies").join(name)
}

/// A scratch directory removed on drop.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cors-gateway-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    /// Writes `text` to `name` atomically (write then rename), so a reader never sees half a file.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        let temporary = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(&temporary, &path).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `cors-gateway`, killed on drop.
pub struct Gateway {
    child: Child,
    /// The first listener.
    pub address: SocketAddr,
    /// Every listener announced, in order, with its scheme (`http` or `https`).
    pub listeners: Vec<(String, SocketAddr)>,
    /// Everything printed on stdout before the `listening on` line, that line included.
    pub banner: String,
    stderr: Stderr,
    /// Everything printed on stdout after the banner (the access log, when it goes there).
    stdout: Arc<Mutex<String>>,
}

impl Gateway {
    /// Starts `cors-gateway ARGS` and waits for `listening on http[s]://ADDR`.
    pub fn start(args: &[&str]) -> Self {
        Self::start_listeners(args, 1)
    }

    /// Starts `cors-gateway ARGS` and waits for `count` `listening on` lines.
    pub fn start_listeners(args: &[&str], count: usize) -> Self {
        let mut child = Command::new(GATEWAY)
            .args(args)
            .env("RUST_LOG", "info,cors_hyper=debug,cors_gateway=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Stderr::read(child.stderr.take().unwrap(), usize::MAX);
        let stdout = child.stdout.take().unwrap();
        let (lines, receive) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + PATIENCE;
        let mut banner = String::new();
        let mut listeners = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = receive.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "cors-gateway {args:?} did not announce its listener; stdout:\n{banner}\nstderr:\n{}",
                    stderr.text()
                );
            };
            banner.push_str(&line);
            banner.push('\n');
            if let Some(url) = line.strip_prefix("listening on ") {
                let (scheme, address) = url.split_once("://").unwrap();
                listeners.push((scheme.to_owned(), address.parse().unwrap()));
            }
            if listeners.len() == count {
                let address = listeners[0].1;
                let stdout = Arc::new(Mutex::new(String::new()));
                let sink = Arc::clone(&stdout);
                std::thread::spawn(move || {
                    for line in receive {
                        let mut stdout = sink.lock().unwrap();
                        stdout.push_str(&line);
                        stdout.push('\n');
                    }
                });
                return Self { child, address, listeners, banner, stderr, stdout };
            }
        }
    }

    /// `SCHEME://ADDRESS/PATH` of the first listener.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.listeners[0].0, self.address)
    }

    pub fn stderr(&self) -> String {
        self.stderr.text().clone()
    }

    /// What the gateway printed on stdout after its banner, line by line.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// The admin listener's address, from its `admin listening on http://ADDR` line.
    pub fn admin_address(&self) -> SocketAddr {
        let line = self.banner.lines().find_map(|l| l.strip_prefix("admin listening on http://"));
        line.unwrap_or_else(|| panic!("no admin listener in the banner:\n{}", self.banner))
            .parse()
            .unwrap()
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits (bounded) until the log holds `count` `accepted a connection` debug lines: a line
    /// the gateway wrote may not have been read from its pipe yet when the request it accepted
    /// has reached the upstream, or been answered.
    pub fn wait_for_accepts(&self, count: usize) {
        self.wait_for_log_lines("accepted a connection", count);
    }

    /// The workers named by the gateway's `accepted a connection` debug lines, sorted, each once,
    /// once it has logged `count` of them (see [`Gateway::wait_for_accepts`]).
    pub fn workers_that_accepted(&self, count: usize) -> Vec<String> {
        self.wait_for_accepts(count);
        let mut workers: Vec<String> = self
            .stderr()
            .lines()
            .filter(|line| line.contains("accepted a connection"))
            .filter_map(|line| line.split(" worker=").nth(1))
            .map(|worker| worker.split_whitespace().next().unwrap_or_default().to_owned())
            .collect();
        workers.sort();
        workers.dedup();
        workers
    }

    /// Waits (bounded) until stderr contains `needle`.
    pub fn wait_for_log(&self, needle: &str) {
        self.wait_for_log_lines(needle, 1);
    }

    /// Waits (bounded) until stderr contains `needle` `count` times: the `count`th reload
    /// logged, say, whose metrics a test can then read once (a reload is counted before it is
    /// logged).
    pub fn wait_for_log_lines(&self, needle: &str, count: usize) {
        self.stderr.wait_for(needle, count);
    }

    /// Waits (bounded, off the runtime's threads) until the gateway logged a connection closed
    /// by `--send-timeout`, and asserts that it came within that timeout's bound of `started`.
    pub async fn wait_for_a_stall(self, started: Instant, timeout: Duration) -> Self {
        let gateway = tokio::task::spawn_blocking(move || {
            self.wait_for_log("took up no response for --send-timeout");
            self
        })
        .await
        .unwrap();
        assert_due(started.elapsed(), timeout, "cut");
        gateway
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_exit(&mut self.child, &self.stderr)
    }
}

/// Waits, at most [`PATIENCE`], for the gateway `child` to exit and for all it wrote on its
/// `stderr` to be read; fails with that.
///
/// The exit alone is not enough: the last lines (`shutdown timed out`, `shut down cleanly`) are
/// written just before it, and the thread that reads the pipe may not have been scheduled since
/// on a busy machine, so that a test reading the log then would miss them.
pub fn wait_exit(child: &mut Child, stderr: &Stderr) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().unwrap()
            && stderr.is_complete()
        {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "cors-gateway did not exit, or its stderr stayed open; stderr:\n{}",
            stderr.text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a child process writes on its stderr, read as it comes on a thread of its own (so that
/// the child never blocks on a full pipe).
pub struct Stderr {
    text: Arc<Mutex<String>>,
    /// Ends once the pipe is closed (the child exited): then `text` holds all it wrote.
    reader: std::thread::JoinHandle<()>,
}

impl Stderr {
    /// Reads `pipe` until it is closed, keeping about the last `keep` bytes (half of them once
    /// past `keep`).
    pub fn read(mut pipe: std::process::ChildStderr, keep: usize) -> Self {
        let text = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&text);
        let reader = std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                let mut text = sink.lock().unwrap();
                text.push_str(&String::from_utf8_lossy(&buffer[..n]));
                if text.len() > keep {
                    let cut = text.len() - keep / 2;
                    let cut = (cut..text.len()).find(|&i| text.is_char_boundary(i)).unwrap();
                    text.drain(..cut);
                }
            }
        });
        Self { text, reader }
    }

    /// What was read so far.
    pub fn text(&self) -> std::sync::MutexGuard<'_, String> {
        self.text.lock().unwrap()
    }

    /// Whether the pipe was read to its end.
    pub fn is_complete(&self) -> bool {
        self.reader.is_finished()
    }

    /// Waits (bounded) until what was read holds `needle` `count` times.
    pub fn wait_for(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.text().matches(needle).count() < count {
            let log = self.text().clone();
            assert!(Instant::now() < deadline, "fewer than {count} {needle:?} in the log:\n{log}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gateway's command, run through `sh` with `ulimit -n open_files` when it is given (both
/// the soft and the hard limit, so the gateway cannot raise it).
pub fn gateway_command(open_files: Option<u32>) -> Command {
    match open_files {
        None => Command::new(GATEWAY),
        Some(open_files) => {
            let mut command = Command::new("sh");
            command
                .arg("-c")
                .arg(format!("ulimit -n {open_files} && exec \"$0\" \"$@\""))
                .arg(GATEWAY);
            command
        }
    }
}

/// Runs `cors-gateway ARGS` to completion (bounded) and returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    run_with_open_files(None, args)
}

/// [`run`], with `ulimit -n open_files` when it is given.
pub fn run_with_open_files(open_files: Option<u32>, args: &[&str]) -> (i32, String, String) {
    let mut child = gateway_command(open_files)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cors-gateway {args:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

pub type Body = UnsyncBoxBody<Bytes, std::convert::Infallible>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

/// An HTTP/1.1 client (or HTTP/2 with prior knowledge).
pub fn client(http2: bool) -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).http2_only(http2).build_http()
}

/// Builds a request from (name, value) pairs.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Body) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body).unwrap()
}

/// Status, headers and the whole (small) body of a response.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn all(&self, name: &str) -> Vec<String> {
        self.headers.get_all(name).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    pub fn one(&self, name: &str) -> Option<String> {
        let all = self.all(name);
        assert!(all.len() <= 1, "{name} appears {} times: {all:?}", all.len());
        all.into_iter().next()
    }

    /// The names of all `access-control-*` fields, sorted.
    pub fn access_control(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .headers
            .keys()
            .map(|n| n.as_str().to_owned())
            .filter(|n| n.starts_with("access-control-"))
            .collect();
        names.sort();
        names
    }
}

pub async fn collect(response: Response<Incoming>) -> Answer {
    let (parts, body) = response.into_parts();
    let body = tokio::time::timeout(PATIENCE, body.collect()).await.unwrap().unwrap().to_bytes();
    Answer { status: parts.status, headers: parts.headers, body }
}

/// Sends one request and reads the whole answer, bounded by [`PATIENCE`].
pub async fn send(client: &Client<HttpConnector, Body>, request: Request<Body>) -> Answer {
    let response = tokio::time::timeout(PATIENCE, client.request(request)).await.unwrap().unwrap();
    collect(response).await
}

/// What came back on a raw connection.
pub struct Raw {
    pub text: String,
    /// Whether the gateway closed the connection (rather than the wait running out).
    pub closed: bool,
}

/// The `/metrics` of the admin listener at `admin`, whole: the Prometheus text exposition, once
/// its answer is checked (`200`, format 0.0.4, the whole body).
pub fn metrics_text(admin: SocketAddr) -> String {
    let request = b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let answer = raw_exchange(admin, request, PATIENCE);
    assert!(answer.closed, "/metrics did not end: {}", answer.text);
    let (head, body) = answer.text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    let field = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(": ")?;
            key.eq_ignore_ascii_case(name).then_some(value)
        })
    };
    assert_eq!(field("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"), "{head}");
    assert_eq!(field("content-length"), Some(body.len().to_string().as_str()), "{head}");
    body.to_owned()
}

/// The value of the sample `series` (its name, with its labels if any: `name{label="value"}`) in
/// the `/metrics` of the admin listener at `admin`.
pub fn metric(admin: SocketAddr, series: &str) -> i64 {
    let text = metrics_text(admin);
    let value = text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' '));
    value.unwrap_or_else(|| panic!("no {series} in:\n{text}")).trim().parse().unwrap()
}

/// Waits (bounded) until [`metric`] of `series` is `value`: a count can come a moment after
/// what the test saw (a log line, a closed connection).
pub fn wait_for_metric(admin: SocketAddr, series: &str, value: i64) {
    let deadline = Instant::now() + PATIENCE;
    while metric(admin, series) != value {
        assert!(Instant::now() < deadline, "{series} is {}, not {value}", metric(admin, series));
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends raw bytes on a new connection and returns what comes back until the peer closes or
/// `wait` passes.
pub fn raw_exchange(address: SocketAddr, bytes: &[u8], wait: Duration) -> Raw {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    stream.write_all(bytes).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + wait;
    let mut closed = false;
    while Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    Raw { text: String::from_utf8_lossy(&received).into_owned(), closed }
}

/// A PROXY protocol version 1 header, as a load balancer sends it first on the connection it
/// opens for `client` (to `10.0.0.1:443`, or `[fd00::1]:443` for an IPv6 client).
pub fn proxy_v1(client: SocketAddr) -> Vec<u8> {
    let (family, to) = if client.is_ipv4() { ("TCP4", "10.0.0.1") } else { ("TCP6", "fd00::1") };
    format!("PROXY {family} {} {to} {} 443\r\n", client.ip(), client.port()).into_bytes()
}

/// A PROXY protocol version 2 header: `PROXY` over TCP for `client` (to `10.0.0.1:443` or
/// `[fd00::1]:443`), or `LOCAL`, as a balancer's health check sends it, when there is none.
pub fn proxy_v2(client: Option<SocketAddr>) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    let Some(client) = client else {
        header.extend([0x20, 0x00, 0, 0]);
        return header;
    };
    // The family (IPv4 or IPv6, over TCP) and the addresses, then the ports.
    let ip = client.ip().to_string();
    let (family, mut block) = if let Ok(source) = ip.parse::<std::net::Ipv4Addr>() {
        (0x11, [&source.octets()[..], &[10, 0, 0, 1]].concat())
    } else {
        let source: std::net::Ipv6Addr = ip.parse().unwrap();
        let to: std::net::Ipv6Addr = "fd00::1".parse().unwrap();
        (0x21, [source.octets(), to.octets()].concat())
    };
    block.extend(client.port().to_be_bytes());
    block.extend(443_u16.to_be_bytes());
    header.extend([0x21, family]);
    header.extend(u16::try_from(block.len()).unwrap().to_be_bytes());
    header.extend(block);
    header
}

/// A loopback port nothing listens on, held by a socket bound to `127.0.0.1` that never
/// listens, for as long as this lives: a connection to it is refused (`ECONNREFUSED`), and no
/// other program takes it meanwhile, since the kernel hands a bound port to no other bind of
/// port 0 nor to any outgoing connection. The socket has `SO_REUSEADDR`, as the gateway's
/// listeners have: a gateway told to listen on the port (a Flex Local Mode folder names its
/// listeners' ports) binds it over this one, which is not listening. Before, the port was
/// bound, then released, and another test could bind it before the gateway did (`EADDRINUSE`).
///
/// Shown by `{}` as its number; keep it (not just its number) as long as the test needs it.
#[must_use = "the port is held only while this lives"]
pub struct ClosedPort(socket2::Socket, u16);

impl ClosedPort {
    pub fn port(&self) -> u16 {
        self.1
    }
}

impl std::fmt::Display for ClosedPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.1.fmt(f)
    }
}

/// See [`ClosedPort`].
pub fn closed_port() -> ClosedPort {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    ClosedPort(socket, port)
}

/// The HTTP/2 client connection preface (RFC 9113 section 3.4).
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// One HTTP/2 frame: its 9-byte header (RFC 9113 section 4.1) and `payload`.
pub fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut frame = vec![length[1], length[2], length[3], kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// The opening of an HTTP/2 client that grants the largest windows (findings F-CP and F-DD):
/// the preface, `SETTINGS_INITIAL_WINDOW_SIZE` and the connection's window at 2^31 - 1, then
/// `requests` `GET`s of `path` on streams 1, 3, 5 and on.
pub fn h2_opening_with_the_largest_windows(path: &str, requests: usize) -> Vec<u8> {
    let mut opening = H2_PREFACE.to_vec();
    let largest = 0x7fff_ffff_u32;
    opening.extend(h2_frame(0x4, 0, 0, &[&[0, 4][..], &largest.to_be_bytes()].concat()));
    opening.extend(h2_frame(0x8, 0, 0, &(largest - 65_535).to_be_bytes()));
    for stream_id in (1..).step_by(2).take(requests) {
        // END_STREAM | END_HEADERS.
        opening.extend(h2_frame(0x1, 0x5, stream_id, &h2_get_block(path)));
    }
    opening
}

/// The header block of a `GET path`, its fields encoded as HPACK literals without Huffman coding
/// (RFC 7541): `:method GET` and `:scheme http` from the static table, `:path` and `:authority`
/// as literals with indexed names.
pub fn h2_get_block(path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x86, 0x04, u8::try_from(path.len()).unwrap()];
    block.extend_from_slice(path.as_bytes());
    block.extend_from_slice(&[0x01, 12]);
    block.extend_from_slice(b"gateway.test");
    block
}

/// A blocking connection to `to` from the local address `source` (any of 127.0.0.0/8 on
/// Linux), so that the gateway sees another client.
pub fn connect_from(source: &str, to: SocketAddr) -> std::net::TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let source = SocketAddr::new(source.parse().unwrap(), 0);
    socket.bind(&source.into()).unwrap();
    socket.connect(&to.into()).unwrap();
    socket.into()
}
