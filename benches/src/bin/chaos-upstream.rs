//! The misbehaving upstream of `cargo xtask soak --chaos`: an HTTP/1.1 server on loopback, on
//! one thread, that answers each request as its path asks ([`cors_benches::chaos::Path`]: a
//! normal answer, a late head, a reset before the head or mid-body, a stall, broken chunked
//! framing, a kept-alive connection closed after a short keep-alive timeout, a `103` first, `HEAD`, a large
//! body, a `101` echo tunnel), and counts its open connections and the most it ever had open.
//!
//! Usage: `chaos-upstream ADDR STATS_FILE`; prints `listening on http://ADDR` once bound, and
//! rewrites `STATS_FILE` every 50 ms with `open N`, `max N` and `accepted N` lines, so that the
//! soak reads them without opening a connection of its own.
//!
//! Hand-written over tokio's sockets, with `httparse` (hyper's parser) for the request heads,
//! rather than a hyper server: hyper sends no `1xx` but `100 Continue`, always frames its
//! responses correctly, and gives no hold of the socket to reset it at a chosen byte, which is
//! what this upstream is for.
//!
//! A connection is counted open from its accept (after the tasks already woken have run, so
//! that a connection the gateway closed just before it opened this one is counted closed
//! first) until this side sees it closed: every wait here also watches the socket, so that a
//! connection the gateway gave up on is counted closed at once. One the gateway closed while it
//! still waited in the listen queue (its request's client left as it connected) is never
//! counted: the gateway held it no longer when it opened the next, and counting it from its
//! late accept to its first read made one more than the gateway had open (a chaos soak saw 5 at
//! `--upstream-max-connections 4`, 140 µs after its start, a connection "reading a request head"
//! that never sent one among them).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cors_benches::chaos::{self, Path};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The connection counts.
#[derive(Default)]
struct Counts {
    open: AtomicUsize,
    max: AtomicUsize,
    accepted: AtomicU64,
    /// What each open connection is doing, and since when, by the order of its accept.
    doing: Mutex<BTreeMap<u64, (Instant, &'static str)>>,
}

/// One open connection in [`Counts::open`], until dropped, and what it is doing.
struct Open {
    counts: Arc<Counts>,
    id: u64,
}

impl Open {
    /// Counts the connection accepted as `id` open.
    fn new(counts: Arc<Counts>, id: u64) -> Self {
        let mut doing = counts.doing.lock().unwrap_or_else(PoisonError::into_inner);
        doing.insert(id, (Instant::now(), "reading a request head"));
        let open = counts.open.fetch_add(1, Ordering::SeqCst) + 1;
        if counts.max.fetch_max(open, Ordering::SeqCst) < open {
            // A new most: say what every open connection is doing, to tell which held it.
            let now = Instant::now();
            let what: Vec<String> = doing
                .iter()
                .map(|(id, (since, what))| format!("#{id} {what} for {:?}", now - *since))
                .collect();
            eprintln!("{open} connections open at once: {}", what.join("; "));
        }
        drop(doing);
        Self { counts, id }
    }

    /// Notes that the connection now does `what`.
    fn doing(&self, what: &'static str) {
        let mut doing = self.counts.doing.lock().unwrap_or_else(PoisonError::into_inner);
        doing.insert(self.id, (Instant::now(), what));
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.counts.open.fetch_sub(1, Ordering::SeqCst);
        let mut doing = self.counts.doing.lock().unwrap_or_else(PoisonError::into_inner);
        doing.remove(&self.id);
    }
}

/// A request head, as far as this upstream cares.
struct Head {
    method: String,
    path: Path,
    body: usize,
    upgrade: bool,
}

/// A connection and the bytes read from it but not used yet.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

/// The connection was closed, or failed: stop serving it.
struct Closed;

impl Connection {
    /// Reads more into the buffer; `Closed` at the end of the stream or on an error.
    async fn fill(&mut self) -> Result<(), Closed> {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => Err(Closed),
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        }
    }

    /// The next request head, its body read and dropped (`Content-Length` only: the soak's
    /// requests have no other).
    async fn request(&mut self) -> Result<Head, Closed> {
        loop {
            let mut fields = [httparse::EMPTY_HEADER; 64];
            let mut request = httparse::Request::new(&mut fields);
            match request.parse(&self.buffer) {
                Ok(httparse::Status::Complete(length)) => {
                    let field = |name: &str| {
                        request
                            .headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case(name))
                            .map(|h| String::from_utf8_lossy(h.value).into_owned())
                    };
                    let body = field("content-length").and_then(|v| v.trim().parse().ok());
                    if field("transfer-encoding").is_some() {
                        return Err(Closed);
                    }
                    let upgrade = field("upgrade")
                        .is_some_and(|v| v.eq_ignore_ascii_case(chaos::UPGRADE_PROTOCOL));
                    let head = Head {
                        method: request.method.unwrap_or("GET").to_owned(),
                        path: Path::of_target(request.path.unwrap_or("/")),
                        body: body.unwrap_or(0),
                        upgrade,
                    };
                    self.buffer.drain(..length);
                    while self.buffer.len() < head.body {
                        self.fill().await?;
                    }
                    self.buffer.drain(..head.body);
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) => self.fill().await?,
                Err(_) => return Err(Closed),
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), Closed> {
        self.stream.write_all(bytes).await.map_err(|_| Closed)
    }

    /// Waits `time`, watching the socket: `Closed` as soon as the peer closes it.
    async fn pause(&mut self, time: Duration) -> Result<(), Closed> {
        let deadline = Instant::now() + time;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return Ok(()),
                filled = self.fill() => filled?,
            }
        }
    }

    /// Resets the connection: `SO_LINGER` 0, then close.
    fn reset(self) {
        let _ = self.stream.set_zero_linger();
    }
}

/// A complete `200` with `body` (its bytes `x` past [`chaos::NORMAL_BODY`]).
fn complete(length: usize, with_body: bool) -> Vec<u8> {
    let mut answer =
        format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {length}\r\n\r\n")
            .into_bytes();
    if with_body {
        if length == chaos::NORMAL_BODY.len() {
            answer.extend_from_slice(chaos::NORMAL_BODY);
        } else {
            answer.resize(answer.len() + length, b'x');
        }
    }
    answer
}

/// Serves one connection until it closes or a behaviour ends it.
async fn serve(mut connection: Connection, open: &Open) -> Result<(), Closed> {
    // How long the next request may take to come: for ever, but after [`Path::Stale`].
    let mut keep_alive = None;
    loop {
        open.doing("reading a request head");
        let head = match keep_alive.take() {
            None => connection.request().await?,
            Some(time) => match tokio::time::timeout(time, connection.request()).await {
                Ok(head) => head?,
                // A keep-alive timeout: closed, as the gateway may be sending a request.
                Err(_) => return Ok(()),
            },
        };
        open.doing(head.path.target());
        match head.path {
            Path::Normal | Path::Stale if head.method == "HEAD" => {
                connection.send(&complete(chaos::NORMAL_BODY.len(), false)).await?;
            }
            Path::Normal => connection.send(&complete(chaos::NORMAL_BODY.len(), true)).await?,
            Path::Head => {
                connection.send(&complete(chaos::HEAD_LENGTH, head.method != "HEAD")).await?;
            }
            Path::Big => connection.send(&complete(chaos::BIG_BODY, true)).await?,
            Path::Late => {
                connection.pause(chaos::LATE_BY).await?;
                connection.send(&complete(chaos::NORMAL_BODY.len(), true)).await?;
            }
            Path::Reset => {
                connection.reset();
                return Ok(());
            }
            Path::Cut => {
                let mut answer =
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 65536\r\n\r\n"
                        .to_vec();
                answer.resize(answer.len() + 1000, b'x');
                connection.send(&answer).await?;
                connection.pause(Duration::from_millis(20)).await?;
                connection.reset();
                return Ok(());
            }
            Path::Stall => {
                let length = chaos::TRICKLE_PIECES * chaos::TRICKLE_PIECE * 10;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {length}\r\n\r\n"
                );
                connection.send(head.as_bytes()).await?;
                for _ in 0..chaos::TRICKLE_PIECES {
                    connection.pause(chaos::TRICKLE_EVERY).await?;
                    connection.send(&[b'x'; chaos::TRICKLE_PIECE]).await?;
                }
                connection.pause(chaos::STALL_FOR).await?;
                connection.reset();
                return Ok(());
            }
            Path::Chunked => {
                connection
                    .send(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\
                          transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n",
                    )
                    .await?;
                connection.pause(Duration::from_millis(20)).await?;
                connection.send(b"zz;not a size\r\nworld\r\n0\r\n\r\n").await?;
                connection.pause(Duration::from_millis(20)).await?;
                return Ok(());
            }
            Path::Stale => {
                connection.send(&complete(chaos::NORMAL_BODY.len(), true)).await?;
                keep_alive = Some(chaos::STALE_AFTER);
            }
            Path::Informational => {
                connection
                    .send(b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n")
                    .await?;
                connection.pause(Duration::from_millis(10)).await?;
                connection.send(&complete(chaos::NORMAL_BODY.len(), true)).await?;
            }
            Path::Upgrade if head.upgrade => {
                let switch = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: {}\r\n\r\n",
                    chaos::UPGRADE_PROTOCOL
                );
                connection.send(switch.as_bytes()).await?;
                loop {
                    if !connection.buffer.is_empty() {
                        let echo = std::mem::take(&mut connection.buffer);
                        connection.send(&echo).await?;
                    }
                    connection.fill().await?;
                }
            }
            Path::Upgrade => {
                connection
                    .send(b"HTTP/1.1 426 Upgrade Required\r\ncontent-length: 0\r\n\r\n")
                    .await?;
            }
        }
    }
}

/// Rewrites `file` with the counts every 50 ms, on a thread of its own: a write held up by a
/// busy disk must not hold up the answers (a stall of the upstream's one thread past
/// `--upstream-read-timeout` would cut a trickling answer before its first piece).
fn report(counts: &Counts, file: &std::path::Path) {
    let partial = file.with_extension("partial");
    loop {
        let text = format!(
            "open {}\nmax {}\naccepted {}\n",
            counts.open.load(Ordering::SeqCst),
            counts.max.load(Ordering::SeqCst),
            counts.accepted.load(Ordering::Relaxed),
        );
        if std::fs::write(&partial, text).is_ok() {
            let _ = std::fs::rename(&partial, file);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the gateway closed `stream` before it was taken from the listen queue: its end
/// (`EPOLLRDHUP`, read by the runtime once the stream was registered at its accept, as the
/// yield before this let it poll) is already there, whether or not a request came before it.
async fn closed_before_taken(stream: &TcpStream) -> bool {
    let ready = tokio::time::timeout(Duration::ZERO, stream.ready(tokio::io::Interest::READABLE));
    matches!(ready.await, Ok(Ok(ready)) if ready.is_read_closed())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: chaos-upstream ADDR STATS_FILE";
    let addr = args.next().ok_or(usage)?;
    let stats: std::path::PathBuf = args.next().ok_or(usage)?.into();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = cors_benches::listen_announced(&addr).await?;
        let counts = Arc::new(Counts::default());
        let reported = Arc::clone(&counts);
        std::thread::spawn(move || report(&reported, &stats));
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let id = counts.accepted.fetch_add(1, Ordering::Relaxed);
            let counts = Arc::clone(&counts);
            tokio::spawn(async move {
                // Behind the tasks already woken: a close the gateway made before this connect
                // is seen (and counted) first.
                tokio::task::yield_now().await;
                if closed_before_taken(&stream).await {
                    return;
                }
                let open = Open::new(counts, id);
                let _ = serve(Connection { stream, buffer: Vec::new() }, &open).await;
            });
        }
    })
}
