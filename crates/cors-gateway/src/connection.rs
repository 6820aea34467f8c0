//! One client connection, from its first byte to its close: protocol detection, the deadline for
//! the first request head, the idle timeout, and graceful shutdown (docs/robustness.md, F-A).
//!
//! The lifetime of a connection:
//! 1. accepted by the listener (`server.rs`), which starts the connection's deadline: it must
//!    deliver a complete request head within `--header-read-timeout`;
//! 2. on a TLS listener, the TLS handshake, under the same deadline (see [`Deadline`]);
//! 3. [`detect_protocol`]: the opening bytes tell the HTTP/2 preface from HTTP/1.1;
//! 4. served by hyper while [`drive`] watches it: it is closed when the deadline passes without
//!    a request head, when a later HTTP/1.1 request head is not complete within
//!    `--header-read-timeout` of its first byte, when it has been idle for `--idle-timeout`, or
//!    when the gateway shuts down.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncReadExt as _, ReadBuf};
use tokio::sync::{Notify, futures::OwnedNotified, watch};
use tokio::time::Instant;

use crate::body::UpstreamBodyError;

/// The client connection preface of HTTP/2 (RFC 9113 section 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long a connection closed by the gateway (deadline, idle) may take to finish its close:
/// the HTTP/2 GOAWAY exchange waits for the client's PING acknowledgement, which a hostile
/// client never sends.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The protocol a client speaks, as told by its opening bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// HTTP/1.0 or HTTP/1.1.
    Http1,
    /// HTTP/2 with prior knowledge (cleartext, the preface first).
    Http2,
}

/// The instant by which a new connection must have delivered its first complete request head,
/// with the budget it was given (`--header-read-timeout`), which each later request head on an
/// HTTP/1.1 connection gets too, from its first byte (see [`HeadWatch`]).
///
/// Everything that happens before hyper parses that head runs under it: the TLS handshake when
/// the listener terminates TLS, then protocol detection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    at: Instant,
    budget: Duration,
}

impl Deadline {
    /// The deadline `budget` from now.
    pub(crate) fn after(budget: Duration) -> Self {
        Self { at: Instant::now() + budget, budget }
    }

    /// Runs a stage before the connection's first request (the PROXY protocol header, the TLS
    /// handshake, protocol detection) until the deadline, or until `closing` says the gateway
    /// shuts down (finding F-AP): such a connection has no request in flight to finish, and
    /// waiting for it held every shutdown for up to `--header-read-timeout` whenever a client
    /// (a load balancer's pre-opened connection, a slow handshake) had connected and sent no
    /// complete head.
    pub(crate) async fn run_unless_closing<T>(
        self,
        closing: &mut watch::Receiver<bool>,
        work: impl Future<Output = T>,
    ) -> Stage<T> {
        let shutdown = async {
            // The sender lives as long as the server; were it gone, only the deadline ends
            // the stage.
            if closing.wait_for(|closing| *closing).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            done = tokio::time::timeout_at(self.at, work) => done.map_or(Stage::TimedOut, Stage::Done),
            () = shutdown => Stage::ShutDown,
        }
    }
}

/// How a stage before a connection's first request ended (see [`Deadline::run_unless_closing`]).
#[derive(Debug)]
pub(crate) enum Stage<T> {
    /// The stage finished in time, with this.
    Done(T),
    /// The connection's deadline passed first.
    TimedOut,
    /// The gateway began shutting down first.
    ShutDown,
}

/// Reads the opening bytes of `io` until they either diverge from the HTTP/2 preface (HTTP/1.1)
/// or complete it (HTTP/2), and returns the protocol with an I/O object that replays them and
/// tells `activity` of every later read (see [`Prefixed`]).
///
/// Unlike hyper-util's `auto::Builder`, which does the same with no time limit, the caller runs
/// this under the connection's [`Deadline`].
///
/// # Errors
///
/// Reading fails, or the client closes before sending a byte.
pub(crate) async fn detect_protocol<I>(
    mut io: I,
    activity: &Arc<Activity>,
) -> io::Result<(Protocol, Prefixed<I>)>
where
    I: AsyncRead + Unpin,
{
    let mut opening = [0u8; PREFACE.len()];
    let mut filled = 0;
    let protocol = loop {
        let n = io.read(&mut opening[filled..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        filled += n;
        if opening[..filled] != PREFACE[..filled] {
            break Protocol::Http1;
        }
        if filled == PREFACE.len() {
            break Protocol::Http2;
        }
    };
    Ok((protocol, Prefixed { opening, filled, replayed: 0, io, activity: Arc::clone(activity) }))
}

/// An I/O object that first replays the opening bytes [`detect_protocol`] read, and counts the
/// reads that bring bytes in its connection's [`Activity`] (so that [`HeadWatch`] knows when a
/// later request head starts).
///
/// Hand-written because hyper-util's equivalent (`Rewind`) is private; it is one branch and, for
/// a read that brings bytes, one count per read.
#[derive(Debug)]
pub(crate) struct Prefixed<I> {
    opening: [u8; PREFACE.len()],
    filled: usize,
    replayed: usize,
    io: I,
    activity: Arc<Activity>,
}

impl<I> Prefixed<I> {
    /// `io` with nothing to replay, for a listener that serves HTTP/1.1 only.
    pub(crate) fn new(io: I, activity: &Arc<Activity>) -> Self {
        Self {
            opening: [0; PREFACE.len()],
            filled: 0,
            replayed: 0,
            io,
            activity: Arc::clone(activity),
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.replayed < this.filled {
            let rest = &this.opening[this.replayed..this.filled];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.replayed += n;
            return Poll::Ready(Ok(()));
        }
        let activity = &this.activity;
        read_noticing(&mut this.io, cx, buf, |_| {
            activity.received.fetch_add(1, Ordering::Relaxed);
        })
    }
}

/// Writes pass through, and tell the connection's [`Activity`] whether the client takes them up
/// (see [`WriteWatch`]).
impl<I: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Prefixed<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        this.activity.wrote(taken(&written, |&n| n > 0));
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.activity.wrote(taken(&written, |&n| n > 0));
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.io).poll_flush(cx);
        // A flush done after a write that found the socket full was taken up (a TLS stream's
        // flush writes the records its writes left). Any other wrote nothing the client took:
        // hyper and h2 flush at each poll of the connection, the send watch's ticks included,
        // and a plain socket's flush is a no-op. Counted, such flushes made every connection
        // look moving at each tick; not counted, an idle connection is told from a stalled one
        // by `write_waits` (see [`WriteWatch`]).
        let waited = this.activity.write_waits.load(Ordering::Relaxed);
        this.activity.wrote(taken(&flushed, |()| waited));
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// What a write (or flush) to the client tells [`Activity::wrote`]: `Pending` when the socket
/// was full, else whether the client's socket took something (`took` of the result).
#[inline]
fn taken<T>(poll: &Poll<io::Result<T>>, took: impl FnOnce(&T) -> bool) -> Poll<bool> {
    match poll {
        Poll::Pending => Poll::Pending,
        Poll::Ready(result) => Poll::Ready(result.as_ref().is_ok_and(took)),
    }
}

/// Reads from `io` into `buf`, and calls `brought` with the count of bytes when the read
/// brought some: how [`Prefixed`] and the upstream connections (`pool.rs`, `Heard`) notice that
/// their peer sent something.
#[inline]
pub(crate) fn read_noticing<I: AsyncRead + Unpin>(
    io: &mut I,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
    brought: impl FnOnce(usize),
) -> Poll<io::Result<()>> {
    let before = buf.filled().len();
    let read = Pin::new(io).poll_read(cx, buf);
    let after = buf.filled().len();
    if after > before {
        brought(after - before);
    }
    read
}

/// Implements tokio's `AsyncWrite` for the I/O wrapper `$wrapper<I>` by passing each call on to
/// its field `io`: the wrappers here watch reads only.
macro_rules! write_through {
    ($wrapper:ident) => {
        impl<I: ::tokio::io::AsyncWrite + Unpin> ::tokio::io::AsyncWrite for $wrapper<I> {
            fn poll_write(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                ::std::pin::Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                ::std::pin::Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.io.is_write_vectored()
            }

            fn poll_flush(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::pin::Pin::new(&mut self.get_mut().io).poll_flush(cx)
            }

            fn poll_shutdown(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::pin::Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
            }
        }
    };
}
pub(crate) use write_through;

/// What one connection is doing, shared by its requests and its driver.
#[derive(Debug)]
pub(crate) struct Activity {
    /// Requests whose response has not been sent completely.
    active: AtomicUsize,
    /// Requests started plus requests finished: unchanged means nothing happened.
    events: AtomicU64,
    /// Reads from the client that brought bytes (after the opening bytes, see [`Prefixed`]).
    received: AtomicU64,
    /// The epoch a frame handed now is counted in (see [`Activity::waiting`]), below [`EPOCHS`]:
    /// the send watch begins the next one at each of its ticks (see [`drive`]).
    epoch: AtomicUsize,
    /// Response bodies that handed hyper a frame and have not been asked for the next one (the
    /// client has not taken up the last, see [`Tracked`] and `--send-timeout`), by the epoch
    /// they handed it in, modulo [`EPOCHS`]. Per response, not per connection (finding F-BW):
    /// on HTTP/2 one stream may wait on its window while the others move.
    waiting: [AtomicUsize; EPOCHS],
    /// Writes to the client that it took up (some bytes, or a flush after a write that found
    /// its socket full), counted by the connection's task alone (see [`Prefixed`] and
    /// [`WriteWatch`]).
    written: AtomicU64,
    /// Whether the last write to the client found its socket full.
    write_waits: AtomicBool,
    /// Told when a write to the client is taken up after one found its socket full: wakes the
    /// HTTP/2 response bodies that gather small chunks while it is full (finding F-DE, see
    /// [`Gathering`]).
    socket_moves: Arc<Notify>,
    /// Requests dropped before their response ended: the client reset the stream (HTTP/2) or
    /// went away (see [`InFlight`] and [`MAX_ABANDONED`]).
    abandoned: AtomicU64,
    /// Requests the gateway answered itself, without the upstream (see
    /// [`InFlight::answered_locally`]).
    local: AtomicU64,
}

/// The requests a client may abandon on one connection before the gateway closes it, when they
/// are more than half of the requests it made there (finding F-BY): each abandoned request that
/// went upstream ends its upstream connection (an HTTP/1.1 connection with a response under
/// way cannot be reused), so an HTTP/2 client that opens streams and resets each once it is
/// under way (rapid reset, paced so that h2's limit on streams reset before they are taken up
/// never counts them) made the gateway open an upstream connection per reset, without bound,
/// on one connection. Envoy's "premature reset" check (500 streams, half of them reset) and
/// nginx's `keepalive_requests` (1000) bound the same. A browser that cancels every request of
/// a page (at most `--max-concurrent-streams`, 100 by default) when the user leaves it stays
/// under it, or is asked to open a new connection.
pub(crate) const MAX_ABANDONED: u64 = 100;

/// The requests a client may abandon on a connection that is closing for abandoning (its
/// `GOAWAY` sent, its requests under way let finish) before it is dropped at once: an HTTP/2
/// client may open streams until it acknowledges the PING sent with the first `GOAWAY`
/// (finding F-CK).
const MAX_ABANDONED_WHILE_CLOSING: u64 = 2 * MAX_ABANDONED;

/// The samples per period of a watch (see [`Ticker`]).
const TICKS: u32 = 4;

/// The epochs [`Activity::waiting`] tells apart, counted round: a frame handed in epoch `e` has
/// waited at least [`TICKS`] ticks when epoch `e + TICKS + 1` begins, which checks it; only the
/// epoch after that counts in its place again.
const EPOCHS: usize = TICKS as usize + 2;

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            active: AtomicUsize::new(0),
            events: AtomicU64::new(0),
            received: AtomicU64::new(0),
            epoch: AtomicUsize::new(0),
            waiting: std::array::from_fn(|_| AtomicUsize::new(0)),
            written: AtomicU64::new(0),
            write_waits: AtomicBool::new(false),
            socket_moves: Arc::new(Notify::new()),
            abandoned: AtomicU64::new(0),
            local: AtomicU64::new(0),
        })
    }

    /// Counts a request in until the returned guard is dropped (with its response body).
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        self.active.fetch_add(1, Ordering::Relaxed);
        self.events.fetch_add(1, Ordering::Relaxed);
        InFlight {
            activity: Arc::clone(self),
            handed: None,
            ended: false,
            bodiless: false,
            ends_apart: false,
        }
    }

    fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    fn is_busy(&self) -> bool {
        self.active.load(Ordering::Relaxed) > 0
    }

    /// Whether the client abandoned more than [`MAX_ABANDONED`] requests, and more than half of
    /// those it made on the connection that the gateway did not answer itself: one load while it
    /// has not. Answers of the gateway's own (preflights, blocked requests, refusals) cost a
    /// client nothing to ask for, and counted, one of them beside each abandoned request kept
    /// the share at half, and the connection open, without end (finding F-CL).
    fn is_abandoning(&self) -> bool {
        let abandoned = self.abandoned.load(Ordering::Relaxed);
        if abandoned <= MAX_ABANDONED {
            return false;
        }
        // Each request counts one event when it begins and one when it ends: the events and
        // the requests still active make each begun request twice.
        let begun = u64::midpoint(self.events(), self.active.load(Ordering::Relaxed) as u64);
        abandoned * 2 > begun.saturating_sub(self.local.load(Ordering::Relaxed))
    }

    /// Whether the client abandoned more than [`MAX_ABANDONED_WHILE_CLOSING`] requests on the
    /// connection: past it, a connection closing for abandoning is dropped at once.
    fn goes_on_abandoning(&self) -> bool {
        self.abandoned.load(Ordering::Relaxed) > MAX_ABANDONED_WHILE_CLOSING
    }

    /// Notes a write (or flush) to the client: `Ready(true)` when the client's socket took it,
    /// `Pending` when it was full; one load, and a store or two. Called by the connection's task
    /// alone, so the count needs no atomic addition. The first write taken up after one that
    /// found the socket full wakes the bodies that gather while it is full (see [`Gathering`]).
    #[inline]
    fn wrote(&self, taken: Poll<bool>) {
        match taken {
            Poll::Ready(true) => {
                let written = self.written.load(Ordering::Relaxed);
                self.written.store(written.wrapping_add(1), Ordering::Relaxed);
                if self.write_waits.load(Ordering::Relaxed) {
                    self.write_waits.store(false, Ordering::Relaxed);
                    self.socket_moves.notify_waiters();
                }
            }
            Poll::Pending => self.write_waits.store(true, Ordering::Relaxed),
            Poll::Ready(false) => {}
        }
    }

    /// Whether the last write to the client found its socket full (see [`Gathering`]).
    fn socket_is_full(&self) -> bool {
        self.write_waits.load(Ordering::Relaxed)
    }

    /// For the send watch (see [`drive`]), at each of its ticks: begins the next epoch, and
    /// tells whether a response still waits for its client to take up a frame it handed
    /// [`TICKS`] ticks ago or more.
    /// Only the send watch calls this, so the epoch has one writer.
    fn next_epoch(&self) -> bool {
        let epoch = (self.epoch.load(Ordering::Relaxed) + 1) % EPOCHS;
        self.epoch.store(epoch, Ordering::Relaxed);
        // The epoch `TICKS + 1` before this one, counted round; before the watch's first
        // `TICKS + 1` ticks, a count no frame was handed in yet.
        let handed_in = (epoch + EPOCHS - (TICKS as usize + 1)) % EPOCHS;
        self.waiting[handed_in].load(Ordering::Relaxed) > 0
    }
}

/// One request in flight on a connection; see [`Activity::begin`].
#[derive(Debug)]
pub(crate) struct InFlight {
    activity: Arc<Activity>,
    /// Where [`Activity::waiting`] counts the frame its response body handed, while it was not
    /// asked for the next one yet.
    handed: Option<usize>,
    /// Whether its response ended: its body's last frame was handed, or it failed, or it is
    /// sent without its body. Dropped before, the request was abandoned (see
    /// [`Activity::abandoned`]).
    ended: bool,
    /// Whether its response is sent without its body, whatever the body holds (see
    /// [`InFlight::without_body`]).
    bodiless: bool,
    /// Whether its body's end is handed apart from its last frame (see
    /// [`InFlight::end_apart`]).
    ends_apart: bool,
}

impl InFlight {
    /// Its response is sent without its body (a response to `HEAD`, a `1xx`, `204` or `304`):
    /// hyper drops the body unread, which is no abandoning.
    pub(crate) fn without_body(&mut self) {
        self.bodiless = true;
    }

    /// Its response body hands each chunk's last byte apart (finding F-CP, see [`Tracked`]):
    /// HTTP/2, where hyper hands a frame on to h2 once the stream's window covers the frame
    /// before it, so that a frame after the last data tells the send watch it was taken up.
    pub(crate) fn end_apart(&mut self) {
        self.ends_apart = true;
    }

    /// Its response was made by the gateway itself, without the upstream (see
    /// [`Activity::is_abandoning`]).
    pub(crate) fn answered_locally(&self) {
        self.activity.local.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether its response is sent without its body (see [`InFlight::without_body`]).
    pub(crate) fn is_bodiless(&self) -> bool {
        self.bodiless
    }

    /// The response body is asked for its next frame: the previous one was taken up.
    fn asked(&mut self) {
        if let Some(index) = self.handed.take() {
            self.activity.waiting[index].fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The response body handed a frame.
    fn handed(&mut self) {
        let index = self.activity.epoch.load(Ordering::Relaxed);
        self.activity.waiting[index].fetch_add(1, Ordering::Relaxed);
        self.handed = Some(index);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.ended {
            self.activity.abandoned.fetch_add(1, Ordering::Relaxed);
        }
        self.asked();
        self.activity.active.fetch_sub(1, Ordering::Relaxed);
        self.activity.events.fetch_add(1, Ordering::Relaxed);
    }
}

pin_project! {
    /// A response body that keeps its request counted in (see [`Activity`]) until it is sent or
    /// dropped, and tells the send watch when it hands a frame and when it is asked for the
    /// next: hyper asks only once the client has taken up enough of what it was handed (its
    /// write buffer on HTTP/1.1, the stream's flow-control window on HTTP/2).
    ///
    /// A response sent without its body ([`InFlight::without_body`]) is empty, whatever the
    /// wrapped body holds: hyper's HTTP/1.1 server leaves out the body of a response to `HEAD`
    /// (and of a `1xx`, `204` or `304`) itself, but its HTTP/2 server sends whatever body it is
    /// handed, as DATA frames after a `HEAD`'s response head, which the client takes for a
    /// protocol error and resets the stream (finding F-CE).
    ///
    /// A chunk of the body larger than [`MAX_CHUNK`] is handed in parts of that size (finding
    /// F-CJ): hyper's HTTP/2 server asks for the next chunk only once the client has taken up
    /// the whole chunk before it, so the chunk is the step in which the send watch sees an
    /// HTTP/2 client move, and a chunk is what one read of the upstream brought, up to 408 KiB.
    ///
    /// On HTTP/2 ([`InFlight::end_apart`]) each chunk's last byte is handed as a frame of its
    /// own (finding F-CP). hyper (1.12) asks the body for its next frame as soon as it has handed
    /// the previous one to h2, and hands a frame to h2 only once the stream's window covers the
    /// frame before it: the send watch sees a frame taken up when the frame after it is handed
    /// on. The last data frame had none after it: handed on to h2, it waited there for the
    /// stream's window while the body was dropped (at its end, or after its trailers, which
    /// follow at once), out of the watch's sight, and a client that gave no window held it (up
    /// to [`MAX_CHUNK`] per stream) and its stream until `--idle-timeout`, or for good while it
    /// made a request now and then. A body does not always know a chunk is its last (an
    /// upstream's chunked body learns it when asked once more), so every chunk's last byte,
    /// split off without a copy, follows it, and is handed on once the window covers the rest:
    /// all a client that takes up nothing more can hold past the watch is that byte.
    ///
    /// On HTTP/2 too, small chunks are gathered while the client's socket is full (finding
    /// F-DE, see [`Gathering`]).
    pub(crate) struct Tracked<B> {
        #[pin]
        body: B,
        in_flight: InFlight,
        // What is left of a chunk the body gave, to hand before asking it for more.
        rest: Bytes,
        // On HTTP/2, the small chunks gathered while the client's socket is full: boxed once a
        // response first gathers, so that other responses carry a pointer, not the state.
        gathering: Option<Box<Gathering>>,
    }
}

/// The size to which [`Gathering`] gathers small chunks: one DATA frame of h2's default size,
/// what h2 queues of a stream (`server::MAX_SEND_BUFFER`).
const GATHER: usize = crate::server::MAX_SEND_BUFFER;

/// An HTTP/2 response body's small chunks, gathered into one frame while the client's socket is
/// full (finding F-DE). h2 bounds what a stream queues in bytes, not frames, and hyper hands it
/// each chunk as a frame: behind an upstream that streams tiny chunks (server-sent events,
/// token streaming), a client that granted the largest windows and read nothing made the
/// gateway queue a frame per byte, about 13 MB a stream, until `--send-timeout`. A chunk under
/// [`GATHER`] that the body gives while the last write to the client found its socket full
/// (`Activity::write_waits`, the socket watch's state, finding F-CP) is copied into one buffer,
/// and the body is asked for more; the buffer is handed on as one chunk when it reaches
/// [`GATHER`], when the body ends or gives trailers or a larger chunk (handed after it), or
/// when the socket takes bytes again ([`Activity::socket_moves`]). While the socket is full its
/// bytes could not go out anyway, so holding them costs no latency; a client whose socket is
/// not full gets each chunk handed on at once, uncopied, as before (a server-sent event is
/// never held for the next).
///
/// Hand-written: no crate gathers a body's frames on a condition outside it.
#[derive(Debug, Default)]
struct Gathering {
    /// The chunks gathered, not handed yet.
    buffer: BytesMut,
    /// A frame the body gave after the gathered chunks, handed after them.
    after: Option<Frame<Bytes>>,
    /// Whether the body ended after the gathered chunks.
    finished: bool,
    /// Registered for the socket's next move while chunks are gathered.
    socket_moves: Option<Pin<Box<OwnedNotified>>>,
}

impl Gathering {
    /// The next frame to hand, for a response whose gathering is `state`: the body's, unless it
    /// is a small chunk while the client's socket is full, which starts gathering (see
    /// [`Gathering::poll_gathered`]).
    fn poll_next<B: Body<Data = Bytes>>(
        state: &mut Option<Box<Self>>,
        mut body: Pin<&mut B>,
        activity: &Activity,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        if let Some(gathering) = state {
            return gathering.poll_gathered(body, activity, cx);
        }
        match ready!(body.as_mut().poll_frame(cx)) {
            Some(Ok(frame))
                if frame.data_ref().is_some_and(|data| data.len() < GATHER)
                    && activity.socket_is_full() =>
            {
                let gathering = state.insert(Box::default());
                if let Some(data) = frame.data_ref() {
                    gathering.push(data);
                }
                gathering.poll_gathered(body, activity, cx)
            }
            other => Poll::Ready(other),
        }
    }

    /// The next frame to hand: the gathered chunks once they are due, else from `body`,
    /// gathering its small chunks while the client's socket is full.
    fn poll_gathered<B: Body<Data = Bytes>>(
        &mut self,
        mut body: Pin<&mut B>,
        activity: &Activity,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        if let Some(frame) = self.after.take() {
            return Poll::Ready(Some(Ok(frame)));
        }
        if self.finished {
            return Poll::Ready(None);
        }
        // Each round gathers a chunk or returns, so at most this many (empty chunks included)
        // before the buffer is handed.
        for _ in 0..GATHER {
            let frame = match body.as_mut().poll_frame(cx) {
                Poll::Pending => return self.poll_socket_moves(activity, cx),
                Poll::Ready(None) if self.buffer.is_empty() => return Poll::Ready(None),
                Poll::Ready(None) => {
                    self.finished = true;
                    return Poll::Ready(Some(Ok(self.take())));
                }
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            let frame = match frame.into_data() {
                Ok(data)
                    if data.len() < GATHER
                        && (!self.buffer.is_empty() || activity.socket_is_full()) =>
                {
                    self.push(&data);
                    if self.buffer.len() < GATHER {
                        continue;
                    }
                    return Poll::Ready(Some(Ok(self.take())));
                }
                Ok(data) => Frame::data(data),
                Err(frame) => frame,
            };
            if self.buffer.is_empty() {
                return Poll::Ready(Some(Ok(frame)));
            }
            self.after = Some(frame);
            return Poll::Ready(Some(Ok(self.take())));
        }
        Poll::Ready(Some(Ok(self.take())))
    }

    /// Gathers `data`, reserving room for [`GATHER`] bytes at the first chunk of a frame.
    fn push(&mut self, data: &[u8]) {
        if self.buffer.is_empty() {
            self.buffer.reserve(GATHER);
        }
        self.buffer.extend_from_slice(data);
    }

    /// With the body waiting: the gathered chunks once the client's socket takes bytes again,
    /// else `Pending`, woken by the body or by the socket's next move. Registered for that move
    /// before looking at the socket, so that none is missed.
    fn poll_socket_moves<E>(
        &mut self,
        activity: &Activity,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, E>>> {
        if self.buffer.is_empty() {
            return Poll::Pending;
        }
        let moves = self
            .socket_moves
            .get_or_insert_with(|| Box::pin(Arc::clone(&activity.socket_moves).notified_owned()));
        if moves.as_mut().poll(cx).is_pending() && activity.socket_is_full() {
            return Poll::Pending;
        }
        Poll::Ready(Some(Ok(self.take())))
    }

    /// The gathered chunks, as one frame.
    fn take(&mut self) -> Frame<Bytes> {
        self.socket_moves = None;
        Frame::data(self.buffer.split().freeze())
    }

    /// The bytes held by `state`: gathered, and of a data frame after them.
    fn held(state: Option<&Self>) -> u64 {
        state.map_or(0, |gathering| {
            let after = gathering.after.as_ref().and_then(Frame::data_ref).map_or(0, Bytes::len);
            (gathering.buffer.len() + after) as u64
        })
    }

    /// Whether `state` holds nothing, and `body` ended (or ended after what it held).
    fn is_done<B: Body>(state: Option<&Self>, body: &B) -> bool {
        state.map_or_else(
            || body.is_end_stream(),
            |gathering| {
                gathering.buffer.is_empty()
                    && gathering.after.is_none()
                    && (gathering.finished || body.is_end_stream())
            },
        )
    }
}

/// The most of a response body [`Tracked`] hands hyper at once: the step in which the gateway
/// sees a client take up a response, on HTTP/2 as on HTTP/1.1, where the kernel queues at most
/// as much (`server::NOT_SENT_LOW_WATER`, finding F-BB). Splitting a chunk shares its bytes
/// (`Bytes::split_to`), and h2 sends DATA frames of 16 KiB whatever it is handed.
const MAX_CHUNK: usize = crate::server::NOT_SENT_LOW_WATER as usize;

/// The next part of `rest` to hand: at most [`MAX_CHUNK`] bytes, and when `hold_last` (HTTP/2,
/// see [`Tracked`]) never its last byte with others. Splits without a copy.
fn next_part(rest: &mut Bytes, hold_last: bool) -> Bytes {
    let mut take = rest.len().min(MAX_CHUNK);
    if hold_last && take == rest.len() && take > 1 {
        take -= 1;
    }
    rest.split_to(take)
}

impl<B: Body> Tracked<B> {
    pub(crate) fn new(body: B, mut in_flight: InFlight) -> Self {
        // An empty body, or one not sent, is never polled: its response ends with its head.
        in_flight.ended = in_flight.bodiless || body.is_end_stream();
        Self { body, in_flight, rest: Bytes::new(), gathering: None }
    }
}

impl<B: Body<Data = Bytes>> Body for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        if this.in_flight.bodiless {
            return Poll::Ready(None);
        }
        this.in_flight.asked();
        let mut body = this.body;
        let hold_last = this.in_flight.ends_apart;
        let polled = if this.rest.is_empty() {
            let next = if hold_last {
                Gathering::poll_next(this.gathering, body.as_mut(), &this.in_flight.activity, cx)
            } else {
                body.as_mut().poll_frame(cx)
            };
            next.map_ok(|frame| match frame.into_data() {
                Ok(data) => {
                    *this.rest = data;
                    Frame::data(next_part(this.rest, hold_last))
                }
                Err(frame) => frame,
            })
        } else {
            let part = next_part(this.rest, hold_last);
            Poll::Ready(Some(Ok(Frame::data(part))))
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                this.in_flight.handed();
                // hyper does not ask for more once the body says it has ended, nor after
                // trailers, which end a body whatever it says (on HTTP/2, finding F-CK).
                this.in_flight.ended = frame.is_trailers()
                    || (this.rest.is_empty()
                        && Gathering::is_done(this.gathering.as_deref(), &*body));
            }
            Poll::Ready(None | Some(Err(_))) => this.in_flight.ended = true,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.in_flight.bodiless
            || (self.rest.is_empty() && Gathering::is_done(self.gathering.as_deref(), &self.body))
    }

    fn size_hint(&self) -> SizeHint {
        if self.in_flight.bodiless {
            return SizeHint::with_exact(0);
        }
        let hint = self.body.size_hint();
        let rest = self.rest.len() as u64 + Gathering::held(self.gathering.as_deref());
        let mut sum = SizeHint::new();
        sum.set_lower(hint.lower().saturating_add(rest));
        if let Some(upper) = hint.upper() {
            sum.set_upper(upper.saturating_add(rest));
        }
        sum
    }
}

/// A served connection the driver can ask to close gracefully.
pub(crate) trait Graceful: Future<Output = Result<(), hyper::Error>> {
    /// Whether every request head must be complete within `--header-read-timeout` of its first
    /// byte, not only the first head within the connection's [`Deadline`]: HTTP/1.1, whose
    /// requests come one after the other (HTTP/2 sends its heads as frames, under its keep-alive
    /// PINGs).
    const EVERY_HEAD: bool;

    /// Whether a graceful close waits for the client even when no request is in progress:
    /// HTTP/2, whose closing `GOAWAY` exchange ends only once the client acknowledges a PING
    /// (hyper sends the last `GOAWAY` then), which a client that went away or ignores PINGs
    /// never does.
    const CLOSE_WAITS_FOR_THE_CLIENT: bool;

    /// Stops taking requests: HTTP/1.1 closes after the response in progress, HTTP/2 sends
    /// GOAWAY and closes once the streams in progress are done.
    fn close_gracefully(self: Pin<&mut Self>);
}

impl<I, S, B> Graceful for hyper::server::conn::http1::UpgradeableConnection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    const EVERY_HEAD: bool = true;
    const CLOSE_WAITS_FOR_THE_CLIENT: bool = false;

    fn close_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B, E> Graceful for hyper::server::conn::http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    const EVERY_HEAD: bool = false;
    const CLOSE_WAITS_FOR_THE_CLIENT: bool = true;

    fn close_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Why the driver closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closed {
    /// The client closed it, or it failed.
    ByClient,
    /// No complete request head before the deadline.
    NoRequestHead,
    /// Refused by `--proxy-protocol`: a peer outside `--trusted-proxies`, or no valid PROXY
    /// protocol header.
    ProxyProtocol,
    /// No request for `--idle-timeout`.
    Idle,
    /// The gateway is shutting down.
    Shutdown,
    /// Refused at once: its client held `--max-connections-per-client` while more than half of
    /// `--max-connections` was in use (see `per_client.rs`).
    ClientLimit,
    /// Its client took up no frame of a response for `--send-timeout`.
    Stalled,
    /// Its client abandoned more than [`MAX_ABANDONED`] requests before their responses
    /// ended, more than half of those the gateway did not answer itself (findings F-BY, F-CL).
    Abandoning,
    /// An HTTP/1.1 response was cut because its upstream sent nothing of the body for
    /// `--upstream-read-timeout`: hyper ends the connection with the body's error, which is no
    /// doing of the client's.
    UpstreamReadTimeout,
    /// An HTTP/1.1 response was cut because its upstream closed or reset its connection, or
    /// broke its framing, before the end of the body: hyper ends the connection with the body's
    /// error, which is no doing of the client's either.
    UpstreamBodyFailed,
    /// It had become a tunnel (an HTTP/1.1 upgrade), which closed: either side closed its end
    /// or failed, or the switch did not complete (finding F-CF).
    TunnelEnded,
    /// It had become a tunnel, which carried no byte for `--tunnel-idle-timeout`.
    TunnelIdle,
}

impl Closed {
    /// Why a connection hyper ended with `result` closed: the client's doing, or a failure,
    /// unless its error is a response body cut by `--upstream-read-timeout` or by its
    /// upstream's failure.
    fn ended(result: &Result<(), hyper::Error>) -> Self {
        let Err(error) = result else { return Self::ByClient };
        match UpstreamBodyError::find(error) {
            Some(UpstreamBodyError::Stalled { .. }) => Self::UpstreamReadTimeout,
            Some(UpstreamBodyError::Upstream(_)) => Self::UpstreamBodyFailed,
            Some(UpstreamBodyError::Request(_)) | None => Self::ByClient,
        }
    }
}

/// The send watch's view of the client's socket (finding F-CP): fires once the last write to
/// the client found its socket full and none was taken up since, at [`TICKS`] ticks in a row
/// after the one that last saw a write taken up, that is for between `--send-timeout` and 1.25
/// times it, as [`Activity::next_epoch`] times a response. A response body ends when the last of it is handed to hyper, and on
/// HTTP/2, whose windows a client grants as it likes, that can be long before it is written:
/// a client that grants large windows and reads nothing of its connection had every response
/// that fit h2's send buffers (400 KiB a stream then, see `server.rs`, `MAX_SEND_BUFFER`) end in
/// them, out of the per-response watch, and held them, its upstream responses read whole, until
/// `--idle-timeout`. A client that takes up anything between two ticks is not stalled.
#[derive(Debug, Default)]
struct WriteWatch {
    /// [`Activity::written`] at the last tick.
    written: u64,
    /// The ticks in a row at which the last write waited and none was taken up since.
    stalled_ticks: u32,
}

impl WriteWatch {
    /// At a tick of the send watch: whether the client's socket has taken up nothing for
    /// [`TICKS`] ticks while the gateway had something to write.
    fn is_stalled(&mut self, activity: &Activity) -> bool {
        let written = activity.written.load(Ordering::Relaxed);
        if written == self.written && activity.write_waits.load(Ordering::Relaxed) {
            self.stalled_ticks += 1;
        } else {
            (self.written, self.stalled_ticks) = (written, 0);
        }
        self.stalled_ticks >= TICKS
    }
}

/// A timer that samples something [`TICKS`] times per period: reset after each sample rather
/// than a `tokio::time::Interval`, so that [`drive`] can tell whether it is due without polling
/// it (see [`Ticker::is_due`]). Never fires when the period is zero.
#[derive(Debug)]
struct Ticker {
    /// The next sample; `None` when the period is zero.
    check: Option<Pin<Box<tokio::time::Sleep>>>,
    tick: Duration,
}

impl Ticker {
    fn new(period: Duration) -> Self {
        let tick = (period / TICKS).max(Duration::from_millis(10));
        let check =
            (!period.is_zero()).then(|| Box::pin(tokio::time::sleep_until(Instant::now() + tick)));
        Self { check, tick }
    }

    /// Whether the next sample is due: a poll would do more than register the waker.
    fn is_due(&self) -> bool {
        self.check.as_ref().is_some_and(|check| check.is_elapsed())
    }

    /// Takes the samples that are due; ready once one of them returns `true`.
    fn poll_sample(&mut self, cx: &mut Context<'_>, mut sample: impl FnMut() -> bool) -> Poll<()> {
        let Some(check) = &mut self.check else { return Poll::Pending };
        while check.as_mut().poll(cx).is_ready() {
            if sample() {
                return Poll::Ready(());
            }
            check.as_mut().reset(Instant::now() + self.tick);
        }
        Poll::Pending
    }
}

/// Watches for `idle` without activity: a sampler returns whether something is in progress
/// and a count of events, and activity is either. It samples [`TICKS`] times per period, so it
/// fires between `idle` and 1.25 times `idle` after the last activity. Never fires when `idle`
/// is zero.
#[derive(Debug)]
struct IdleWatch {
    ticker: Ticker,
    last: u64,
    quiet_ticks: u32,
}

impl IdleWatch {
    fn new(idle: Duration, first: u64) -> Self {
        Self { ticker: Ticker::new(idle), last: first, quiet_ticks: 0 }
    }

    /// Whether the next sample is due: a poll would do more than register the waker.
    fn is_due(&self) -> bool {
        self.ticker.is_due()
    }

    /// Ready once [`TICKS`] samples in a row showed no activity.
    fn poll_idle(
        &mut self,
        cx: &mut Context<'_>,
        sample: &mut impl FnMut() -> (bool, u64),
    ) -> Poll<()> {
        let Self { ticker, last, quiet_ticks } = self;
        ticker.poll_sample(cx, || {
            let (busy, events) = sample();
            if busy || events != *last {
                (*last, *quiet_ticks) = (events, 0);
                false
            } else {
                *quiet_ticks += 1;
                *quiet_ticks >= TICKS
            }
        })
    }
}

/// Completes once `sample` has shown no activity for `idle` (see [`IdleWatch`]); never when
/// `idle` is zero.
pub(crate) async fn until_idle(idle: Duration, mut sample: impl FnMut() -> (bool, u64)) {
    let mut watch = IdleWatch::new(idle, sample().1);
    std::future::poll_fn(|cx| watch.poll_idle(cx, &mut sample)).await;
}

/// Times a connection's request heads with one timer, reset rather than replaced: hyper's own
/// HTTP/1.1 header timer boxes and registers a new one for every request, which cost about 2 %
/// of the instructions of a forwarded request.
///
/// The first head is due at the connection's [`Deadline`]. On HTTP/1.1 (see
/// [`Graceful::EVERY_HEAD`]) each later head is due `budget` after the first read that follows
/// the end of the previous request (its response sent or dropped); on HTTP/2 only the first is
/// timed. No head is timed while a request is in progress, nor between the end of a request and
/// the next byte: that wait is `--idle-timeout`'s (see [`IdleWatch`]), because the server cannot
/// tell when the client has read the response. Its tail can sit in the socket buffers of both
/// ends (megabytes) long after hyper handed it over, and hyper's timer, which starts then, closed
/// the kept-alive connections of clients that read a large response slowly. Bytes read while a
/// request is in progress (its body, or a pipelined head) start no timer: a head pipelined
/// behind a request is bounded by `--idle-timeout`, as a connection that sends nothing more is.
///
/// The timer is set for the earliest instant a head can be due, and only moved when it fires:
/// then a head is overdue, or the timer is set for the instant it is due.
struct HeadWatch<'t> {
    timer: Pin<&'t mut tokio::time::Sleep>,
    /// When the head being read is due; `None` while no head is timed.
    due: Option<Instant>,
    /// Whether `due` was set since the timer was last polled: the timer may never have been
    /// polled (so it is not registered and never fires) when a request began in the connection's
    /// first poll.
    unpolled: bool,
    budget: Duration,
    every_head: bool,
    /// The activity's event count when it was last looked at.
    seen: u64,
    /// The activity's count of reads when it was last looked at.
    received: u64,
}

impl<'t> HeadWatch<'t> {
    fn new(timer: Pin<&'t mut tokio::time::Sleep>, deadline: Deadline, every_head: bool) -> Self {
        let due = Some(deadline.at);
        let budget = deadline.budget;
        Self { timer, due, unpolled: true, budget, every_head, seen: 0, received: 0 }
    }

    /// Takes note of requests begun or finished, and of reads, since the last call: two loads
    /// when there were none. Called after each poll of the connection, in which requests begin
    /// and end.
    fn observe(&mut self, activity: &Activity) {
        if self.due.is_none() && !self.every_head {
            return;
        }
        let events = activity.events();
        if events != self.seen {
            // A request began or ended (the read that brought its head is part of it).
            self.seen = events;
            self.received = activity.received();
            self.due = None;
            return;
        }
        if self.due.is_some() {
            return;
        }
        let received = activity.received();
        if received != self.received {
            self.received = received;
            if !activity.is_busy() {
                // The first bytes of the next head.
                self.due = Some(Instant::now() + self.budget);
                self.unpolled = true;
            }
        }
    }

    /// Whether the timer fired, or must be polled for a new `due`: a poll would do more than
    /// register the waker.
    fn is_due(&self) -> bool {
        self.due.is_some() && (self.unpolled || self.timer.is_elapsed())
    }

    /// Ready once a request head is overdue.
    fn poll_overdue(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(due) = self.due else { return Poll::Pending };
        self.unpolled = false;
        while self.timer.as_mut().poll(cx).is_ready() {
            if due <= Instant::now() {
                return Poll::Ready(());
            }
            self.timer.as_mut().reset(due);
        }
        Poll::Pending
    }
}

/// Serves `connection` until it ends, closing it when a request head has not arrived in time
/// (see [`HeadWatch`]) or when the client has taken up no frame of a response for `send`
/// (`--send-timeout`, finding F-AX: a response waits on the client while one of its frames
/// has not been taken up, and not while the upstream sends nothing; zero turns this off), each
/// response timed on its own (finding F-BW: on HTTP/2 the others may move meanwhile, and hyper
/// cannot reset the one stream, whose data waits for its window, so the connection goes), and
/// closing it gracefully when it has been idle for `idle` (see [`IdleWatch`]; zero turns this
/// off) or when `shutdown` changes. A close the gateway starts is
/// bounded by [`CLOSE_GRACE`], except on shutdown, which lets the requests in progress finish
/// (the listener bounds that with `--shutdown-timeout`).
///
/// Hand-written rather than a `tokio::select!`, which polls every branch on every wake of the
/// connection's task, that is several times per request: here the timers and the shutdown watch
/// are polled only when one of them is due, the task's waker changed or the last poll spent the
/// task's coop budget (finding F-DS), and otherwise checked with a load each (they hold the
/// waker of their last poll, which wakes this same task).
pub(crate) async fn drive<C: Graceful>(
    connection: C,
    activity: &Activity,
    deadline: Deadline,
    idle: Duration,
    send: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> (Closed, Result<(), hyper::Error>) {
    let mut connection = std::pin::pin!(connection);
    let mut sample = || (activity.is_busy(), activity.events());
    let mut idle_watch = IdleWatch::new(idle, activity.events());
    // Each tick begins an epoch, and fires once a frame handed `TICKS` ticks before is still
    // waiting on the client: between `send` and 1.25 times `send` after it was handed.
    let mut send_watch = Ticker::new(send);
    let mut write_watch = WriteWatch::default();
    let head_timer = std::pin::pin!(tokio::time::sleep_until(deadline.at));
    let mut heads = HeadWatch::new(head_timer, deadline, C::EVERY_HEAD);
    // `changed` borrows `shutdown`; the probe, a clone that never marks a value seen, tells
    // whether it is due.
    let probe = shutdown.clone();
    let mut changed = std::pin::pin!(shutdown.changed());
    let mut registered: Option<Waker> = None;
    // Whether the connection is closing because its client abandons its requests: it takes no
    // new ones, and those in progress finish under the watches (finding F-CK).
    let mut abandoning = false;
    let ended = std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = connection.as_mut().poll(cx) {
            return Poll::Ready(Err(result));
        }
        heads.observe(activity);
        if !abandoning && activity.is_abandoning() {
            abandoning = true;
            connection.as_mut().close_gracefully();
            // hyper sends its `GOAWAY` when polled next.
            cx.waker().wake_by_ref();
        }
        // Once nothing is in progress the close is bounded as any other; and so it is at once
        // for a client that goes on abandoning requests meanwhile (an HTTP/2 client may open
        // streams until it acknowledges the PING sent with the first `GOAWAY`).
        if abandoning && (!activity.is_busy() || activity.goes_on_abandoning()) {
            return Poll::Ready(Ok(Closed::Abandoning));
        }
        let due = heads.is_due()
            || idle_watch.is_due()
            || send_watch.is_due()
            // An error means the listener is gone: shut down as well.
            || probe.has_changed().unwrap_or(true);
        if !due && registered.as_ref().is_some_and(|waker| waker.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        registered = Some(cx.waker().clone());
        if heads.poll_overdue(cx).is_ready() {
            return Poll::Ready(Ok(Closed::NoRequestHead));
        }
        if idle_watch.poll_idle(cx, &mut sample).is_ready() {
            return Poll::Ready(Ok(Closed::Idle));
        }
        if send_watch
            .poll_sample(cx, || activity.next_epoch() | write_watch.is_stalled(activity))
            .is_ready()
        {
            return Poll::Ready(Ok(Closed::Stalled));
        }
        if changed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok(Closed::Shutdown));
        }
        // With the task's coop budget spent, a tokio timer returns `Pending` before it registers
        // the waker (and has the task polled again): the next poll polls them all again, rather
        // than take them for armed (finding F-DS). A connection task run from a worker's LIFO
        // slot inherits what the accept loop left of the budget: a connection accepted last of
        // a burst, its bytes already in, never had its head timer armed and stayed open.
        if !tokio::task::coop::has_budget_remaining() {
            registered = None;
        }
        Poll::Pending
    })
    .await;
    let reason = match ended {
        Ok(reason) => reason,
        Err(result) if abandoning => return (Closed::Abandoning, result),
        Err(result) => return (Closed::ended(&result), result),
    };
    if reason == Closed::NoRequestHead && C::EVERY_HEAD {
        // No request is in progress: the connection is dropped at once, as hyper's own header
        // timer would end it (its graceful shutdown would keep reading a head begun on a new
        // connection).
        return (reason, Ok(()));
    }
    if reason == Closed::Abandoning && activity.goes_on_abandoning() {
        // Its client went on abandoning requests while the connection closed: dropped at once.
        return (reason, Ok(()));
    }
    if reason == Closed::Stalled {
        // A graceful close would wait for the response the client does not take: dropped at
        // once, with the upstream connection and slots the response held.
        return (reason, Ok(()));
    }
    connection.as_mut().close_gracefully();
    if reason != Closed::Shutdown {
        return (reason, tokio::time::timeout(CLOSE_GRACE, connection).await.unwrap_or(Ok(())));
    }
    // The requests in progress finish (the listener bounds that with `--shutdown-timeout`), but
    // a request head still being read keeps its deadline (finding F-AP): hyper's graceful
    // shutdown keeps reading a head begun before it, and an HTTP/2 client that never sent a
    // request keeps its connection through the GOAWAY exchange, so a client that sent part of a
    // head, or a preface and nothing more, held every shutdown until `--shutdown-timeout`.
    // Whatever its requests before, an HTTP/2 connection is dropped once it has had none in
    // progress for `CLOSE_GRACE` (finding F-BA): its GOAWAY exchange waits for a PING's
    // acknowledgement, and a client that went away (a laptop closed, a phone off the network)
    // or ignores PINGs held every shutdown until the keep-alive timeout, 40 s by default, past
    // `--shutdown-timeout`. Sampled as the idle watch samples, during the shutdown only.
    let quiet = if C::CLOSE_WAITS_FOR_THE_CLIENT { CLOSE_GRACE } else { Duration::ZERO };
    let mut quiet_watch = IdleWatch::new(quiet, activity.events());
    std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = connection.as_mut().poll(cx) {
            return Poll::Ready((Closed::Shutdown, result));
        }
        heads.observe(activity);
        if heads.poll_overdue(cx).is_ready() {
            return Poll::Ready((Closed::NoRequestHead, Ok(())));
        }
        if quiet_watch.poll_idle(cx, &mut sample).is_ready() {
            return Poll::Ready((Closed::Shutdown, Ok(())));
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[track_caller]
    fn check(opening: &[u8], expected: Option<Protocol>) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let got = runtime.block_on(async {
            let (protocol, mut replay) = detect_protocol(opening, &Activity::new()).await.ok()?;
            let mut all = Vec::new();
            replay.read_to_end(&mut all).await.unwrap();
            assert_eq!(all, opening, "the opening bytes are replayed unchanged");
            Some(protocol)
        });
        assert_eq!(got, expected);
    }

    /// Finding F-BW: a frame one response handed and its client never took up is found
    /// [`TICKS`] + 1 ticks later (after at least `TICKS` whole ticks), however many frames
    /// another response of the connection hands and has taken up meanwhile; and only then.
    #[test]
    fn a_stalled_response_is_found_while_another_moves() {
        let activity = Activity::new();
        let mut moving = activity.begin();
        for _ in 0..3 {
            assert!(!activity.next_epoch(), "nothing was handed");
        }
        let mut stalled = activity.begin();
        stalled.handed();
        for tick in 1..=TICKS {
            moving.asked();
            moving.handed();
            assert!(!activity.next_epoch(), "found after {tick} ticks");
        }
        moving.asked();
        moving.handed();
        assert!(activity.next_epoch(), "not found after {} ticks", TICKS + 1);
        stalled.asked();
        for tick in 1..=3 * EPOCHS {
            moving.asked();
            assert!(!activity.next_epoch(), "found after it was taken up, at tick {tick}");
            moving.handed();
        }
        drop(moving);
        drop(stalled);
        assert!(activity.waiting.iter().all(|count| count.load(Ordering::Relaxed) == 0));
    }

    /// Finding F-CP: a client's socket that took up nothing while the gateway had something to
    /// write is found [`TICKS`] ticks after the tick that saw its last write, and only then; a socket that takes up
    /// something between ticks, or with nothing waiting to be written, is never found.
    #[test]
    fn a_socket_that_takes_up_nothing_is_found_and_one_that_moves_is_not() {
        let activity = Activity::new();
        let mut watch = WriteWatch::default();
        activity.wrote(Poll::Ready(true));
        activity.wrote(Poll::Pending);
        for tick in 1..=TICKS {
            assert!(!watch.is_stalled(&activity), "found after {tick} ticks");
        }
        assert!(watch.is_stalled(&activity), "not found after {} ticks", TICKS + 1);
        let mut watch = WriteWatch::default();
        for tick in 1..=3 * TICKS {
            activity.wrote(Poll::Ready(true));
            activity.wrote(Poll::Pending);
            assert!(!watch.is_stalled(&activity), "a moving socket found at tick {tick}");
        }
        activity.wrote(Poll::Ready(true));
        activity.wrote(Poll::Ready(false));
        for tick in 1..=3 * TICKS {
            assert!(!watch.is_stalled(&activity), "an idle socket found at tick {tick}");
        }
    }

    /// Finding F-BY: a request counts as abandoned when it is dropped before its response
    /// ended, and not when its body was sent whole, is empty, failed, or is not sent.
    #[test]
    fn requests_dropped_before_their_response_ended_are_abandoned() {
        use http_body_util::{BodyExt as _, Empty, Full};
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let activity = Activity::new();
        let abandoned = || activity.abandoned.load(Ordering::Relaxed);
        let mut whole = Tracked::new(Full::new(Bytes::from_static(b"ok")), activity.begin());
        runtime.block_on(async { while whole.frame().await.is_some() {} });
        drop(whole);
        drop(Tracked::new(Empty::<Bytes>::new(), activity.begin()));
        let mut head = activity.begin();
        head.without_body();
        drop(Tracked::new(Full::new(Bytes::from_static(b"not sent")), head));
        assert_eq!(abandoned(), 0);
        drop(activity.begin());
        drop(Tracked::new(Full::new(Bytes::from_static(b"never sent")), activity.begin()));
        assert_eq!(abandoned(), 2);
    }

    /// A body of `chunks` then trailers, telling its end only when asked once more, as an
    /// upstream's chunked body with trailers does, counted by `in_flight`.
    fn with_trailers(
        chunks: impl IntoIterator<Item = &'static [u8]>,
        in_flight: InFlight,
    ) -> Tracked<impl Body<Data = Bytes, Error = std::convert::Infallible>> {
        let data = chunks.into_iter().map(|chunk| Frame::data(Bytes::from_static(chunk)));
        let frames: Vec<Result<_, std::convert::Infallible>> =
            data.chain([Frame::trailers(http::HeaderMap::new())]).map(Ok).collect();
        Tracked::new(http_body_util::StreamBody::new(futures_util::stream::iter(frames)), in_flight)
    }

    /// Finding F-CK: a response whose body ends with trailers ends with them, though the body
    /// does not say it has ended (an HTTP/1.1 upstream's chunked body says so only when asked
    /// once more, which hyper's HTTP/2 server never does after trailers).
    #[test]
    fn a_response_ends_with_its_trailers() {
        use http_body_util::BodyExt as _;
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let activity = Activity::new();
        let mut body = with_trailers([&b"hello"[..]], activity.begin());
        runtime.block_on(async {
            assert!(body.frame().await.unwrap().unwrap().is_data());
            assert!(body.frame().await.unwrap().unwrap().is_trailers());
        });
        // Dropped as hyper's HTTP/2 server drops it, without asking for more.
        drop(body);
        assert_eq!(activity.abandoned.load(Ordering::Relaxed), 0);
    }

    /// Finding F-CJ: a chunk over [`MAX_CHUNK`] is handed in parts of at most that size, each
    /// counted by the send watch as handed, the bytes and their order kept, and the response
    /// ends with the last part, not before.
    #[test]
    fn a_large_chunk_is_handed_in_parts() {
        let activity = Activity::new();
        let whole: Vec<u8> = (0..=250u8).cycle().take(MAX_CHUNK * 3 + 100).collect();
        assert_eq!(hand(&whole, activity.begin()), [MAX_CHUNK, MAX_CHUNK, MAX_CHUNK, 100]);
        assert_eq!(activity.abandoned.load(Ordering::Relaxed), 0);
    }

    /// Hands a body of `whole`, counted by `in_flight`, to its end as hyper asks for it, and
    /// returns the lengths of its parts. Checks after each part that the size hint counts the
    /// parts not yet handed, that the body and its response end with the last, not before, and
    /// that the send watch counts the one part handed; and at the end, the bytes and their order.
    fn hand(whole: &[u8], in_flight: InFlight) -> Vec<usize> {
        use http_body_util::{BodyExt as _, Full};
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let activity = Arc::clone(&in_flight.activity);
        let mut body = Tracked::new(Full::new(Bytes::copy_from_slice(whole)), in_flight);
        assert_eq!(body.size_hint().exact(), Some(whole.len() as u64));
        let (mut parts, mut sent) = (Vec::new(), Vec::new());
        runtime.block_on(async {
            while let Some(frame) = body.frame().await {
                let data = frame.unwrap().into_data().unwrap();
                parts.push(data.len());
                sent.extend_from_slice(&data);
                let left = whole.len() - sent.len();
                assert_eq!(body.size_hint().exact(), Some(left as u64));
                assert_eq!(body.is_end_stream(), left == 0);
                assert_eq!(body.in_flight.ended, left == 0);
                assert_eq!(
                    activity.waiting.iter().map(|c| c.load(Ordering::Relaxed)).sum::<usize>(),
                    1
                );
            }
        });
        assert!(sent == whole, "the bytes or their order changed");
        parts
    }

    /// Finding F-CP: on HTTP/2 a body's last byte is handed as a part of its own, after the
    /// rest, also when the rest comes in parts of [`MAX_CHUNK`]; the bytes are unchanged, and the
    /// response ends with the last byte. On HTTP/1.1 the last part is handed whole.
    #[rstest]
    #[case::one_chunk(5, &[4, 1])]
    #[case::in_parts(MAX_CHUNK * 2, &[MAX_CHUNK, MAX_CHUNK - 1, 1])]
    #[case::one_byte(1, &[1])]
    fn on_http2_the_last_byte_is_handed_apart(#[case] length: usize, #[case] expected: &[usize]) {
        let activity = Activity::new();
        let whole: Vec<u8> = (0..=250u8).cycle().take(length).collect();
        let mut http2 = activity.begin();
        http2.end_apart();
        assert_eq!(hand(&whole, http2), expected);
        let http1: Vec<usize> = whole.chunks(MAX_CHUNK).map(<[u8]>::len).collect();
        assert_eq!(hand(&whole, activity.begin()), http1);
        assert_eq!(activity.abandoned.load(Ordering::Relaxed), 0);
    }

    /// Finding F-CP: a body that tells its end only when asked once more (an upstream's chunked
    /// body), or ends in trailers, has each chunk's last byte handed apart on HTTP/2 too, so
    /// that its last data is followed by a frame whichever way it ends.
    #[test]
    fn on_http2_each_chunks_last_byte_is_handed_apart() {
        use http_body_util::BodyExt as _;
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let activity = Activity::new();
        let mut in_flight = activity.begin();
        in_flight.end_apart();
        let mut body = with_trailers([&b"abc"[..], b"de"], in_flight);
        let mut handed = Vec::new();
        runtime.block_on(async {
            while let Some(frame) = body.frame().await {
                handed.push(frame.unwrap().into_data().map_or(Bytes::from_static(b"|"), |d| d));
            }
        });
        assert_eq!(handed, ["ab", "c", "d", "e", "|"]);
        drop(body);
        assert_eq!(activity.abandoned.load(Ordering::Relaxed), 0);
    }

    /// The lengths of the data frames a body hands, and `usize::MAX` for its trailers, to its
    /// end.
    fn handed_lengths<B: Body<Data = Bytes> + Unpin>(mut body: Tracked<B>) -> Vec<usize>
    where
        B::Error: std::fmt::Debug,
    {
        use http_body_util::BodyExt as _;
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut handed = Vec::new();
        runtime.block_on(async {
            while let Some(frame) = body.frame().await {
                handed.push(frame.unwrap().into_data().map_or(usize::MAX, |data| data.len()));
            }
        });
        handed
    }

    /// A body of `count` chunks of one byte, then trailers, counted by `in_flight`.
    fn one_byte_chunks(
        count: usize,
        in_flight: InFlight,
    ) -> Tracked<impl Body<Data = Bytes, Error = std::convert::Infallible>> {
        with_trailers(std::iter::repeat_n(&b"a"[..], count), in_flight)
    }

    /// Finding F-DE: on HTTP/2, while the client's socket is full, a body's small chunks are
    /// gathered into frames of [`GATHER`] (each with its last byte apart, F-CP), so that what
    /// h2 queues is bounded in frames as in bytes; gathered bytes are handed before the
    /// trailers. With the socket not full, or on HTTP/1.1, each chunk is handed as it comes.
    #[test]
    fn on_http2_small_chunks_are_gathered_while_the_socket_is_full() {
        let count = 2 * GATHER + 100;
        let activity = Activity::new();
        let mut http2 = activity.begin();
        http2.end_apart();
        activity.wrote(Poll::Pending);
        let trailers = usize::MAX;
        let gathered = [GATHER - 1, 1, GATHER - 1, 1, 99, 1, trailers];
        let handed = handed_lengths(one_byte_chunks(count, http2));
        let first = &handed[..handed.len().min(8)];
        assert!(handed == gathered, "{} frames handed, the first {first:?}", handed.len());
        let http1 = activity.begin();
        let each: Vec<usize> = [1].repeat(count).into_iter().chain([trailers]).collect();
        assert_eq!(handed_lengths(one_byte_chunks(count, http1)), each);
        activity.wrote(Poll::Ready(true));
        let mut http2 = activity.begin();
        http2.end_apart();
        assert_eq!(handed_lengths(one_byte_chunks(3, http2)), [1, 1, 1, trailers]);
        assert_eq!(activity.abandoned.load(Ordering::Relaxed), 0);
    }

    /// Counts its wakes.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Finding F-DE: chunks gathered while the client's socket is full, the upstream waiting,
    /// are held until the socket takes bytes again, which wakes the body; then they are handed
    /// at once, as one frame and its last byte, and the body ends with its upstream's end.
    #[test]
    fn gathered_chunks_go_on_when_the_socket_takes_bytes_again() {
        let activity = Activity::new();
        let mut in_flight = activity.begin();
        in_flight.end_apart();
        let (mut sender, channel) = http_body_util::channel::Channel::<Bytes>::new(8);
        let mut body = Tracked::new(channel, in_flight);
        let woken = Arc::new(Wakes::default());
        let waker = Waker::from(Arc::clone(&woken));
        let mut cx = Context::from_waker(&waker);
        let mut poll = |body: &mut Tracked<_>| {
            Pin::new(body)
                .poll_frame(&mut cx)
                .map(|frame| frame.map(|frame| frame.unwrap().into_data().unwrap()))
        };
        activity.wrote(Poll::Pending);
        for chunk in ["ab", "c"] {
            sender.try_send(Frame::data(Bytes::from(chunk))).unwrap();
        }
        assert!(poll(&mut body).is_pending(), "handed while the socket is full");
        activity.wrote(Poll::Pending);
        assert!(poll(&mut body).is_pending(), "handed while the socket is full");
        let before = woken.0.load(Ordering::Relaxed);
        activity.wrote(Poll::Ready(true));
        assert!(woken.0.load(Ordering::Relaxed) > before, "not woken when the socket moved");
        assert_eq!(poll(&mut body), Poll::Ready(Some(Bytes::from("ab"))));
        assert_eq!(poll(&mut body), Poll::Ready(Some(Bytes::from("c"))));
        activity.wrote(Poll::Pending);
        sender.try_send(Frame::data(Bytes::from("de"))).unwrap();
        assert!(poll(&mut body).is_pending(), "handed while the socket is full");
        drop(sender);
        assert_eq!(poll(&mut body), Poll::Ready(Some(Bytes::from("d"))));
        assert!(!body.is_end_stream());
        assert_eq!(poll(&mut body), Poll::Ready(Some(Bytes::from("e"))));
        assert!(body.is_end_stream(), "the body ended with the upstream's");
        assert!(body.in_flight.ended);
        drop(body);
        assert_eq!(activity.abandoned.load(Ordering::Relaxed), 0);
    }

    /// Finding F-BY: a connection is abandoned over [`MAX_ABANDONED`] requests abandoned, when
    /// they are more than half of its requests.
    #[test]
    fn a_connection_is_abandoned_past_the_limit_and_half_its_requests() {
        let activity = Activity::new();
        for _ in 0..MAX_ABANDONED {
            drop(activity.begin());
        }
        assert!(!activity.is_abandoning(), "at the limit");
        let kept = activity.begin();
        drop(activity.begin());
        assert!(activity.is_abandoning(), "past the limit, 101 of 102 requests");
        let ended: Vec<InFlight> = (0..100)
            .map(|_| {
                let mut in_flight = activity.begin();
                in_flight.ended = true;
                in_flight
            })
            .collect();
        assert!(!activity.is_abandoning(), "101 of 202 requests");
        drop((kept, ended));
    }

    /// Finding F-CL: requests the gateway answered itself do not count among those abandoned
    /// requests are more than half of.
    #[test]
    fn answers_of_the_gateways_own_do_not_dilute_the_abandoned_requests() {
        let activity = Activity::new();
        for _ in 0..=MAX_ABANDONED {
            drop(activity.begin());
            for _ in 0..2 {
                let mut in_flight = activity.begin();
                in_flight.ended = true;
                in_flight.answered_locally();
            }
        }
        assert!(activity.is_abandoning(), "101 abandoned, 202 answered by the gateway");
    }

    /// A served connection that never ends: hyper's, while its client's head is half sent.
    struct Silent;

    impl Future for Silent {
        type Output = Result<(), hyper::Error>;

        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            Poll::Pending
        }
    }

    impl Graceful for Silent {
        const EVERY_HEAD: bool = true;
        const CLOSE_WAITS_FOR_THE_CLIENT: bool = false;

        fn close_gracefully(self: Pin<&mut Self>) {}
    }

    /// Finding F-DS: the driver's timers are armed even when its first poll finds the task's
    /// coop budget spent, as a connection task run from a worker's LIFO slot after the accept
    /// loop took a burst of connections does; then tokio's timers return `Pending` unarmed, and
    /// a connection that had sent half a head stayed open past `--header-read-timeout` (and
    /// `--idle-timeout`) for good.
    #[rstest]
    #[case::the_first_head(Duration::from_secs(1), Duration::ZERO, Closed::NoRequestHead)]
    #[case::idle(Duration::from_mins(10), Duration::from_secs(1), Closed::Idle)]
    #[tokio::test(start_paused = true)]
    async fn timers_are_armed_when_the_first_poll_has_no_budget(
        #[case] head: Duration,
        #[case] idle: Duration,
        #[case] expected: Closed,
    ) {
        let activity = Activity::new();
        let (_shutdown, mut closing) = watch::channel(false);
        let deadline = Deadline::after(head);
        let driven = drive(Silent, &activity, deadline, idle, Duration::ZERO, &mut closing);
        let mut driven = std::pin::pin!(driven);
        poll_once_without_budget(driven.as_mut()).await;
        let closed = tokio::time::timeout(Duration::from_mins(5), driven).await;
        assert_eq!(closed.map(|(closed, _)| closed).ok(), Some(expected), "closed by its timer");
    }

    /// Polls `future` once, pending, with the task's coop budget spent, as the accept loop
    /// leaves it to a connection task run from a worker's LIFO slot after a burst (finding F-DS):
    /// tokio's timers and channels then return `Pending` without registering the task's waker.
    async fn poll_once_without_budget<F: Future>(mut future: Pin<&mut F>) {
        std::future::poll_fn(|cx| {
            while std::pin::pin!(tokio::task::coop::consume_budget()).poll(cx).is_ready() {}
            assert!(future.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
    }

    /// The idle watch of a tunnel (`--tunnel-idle-timeout`, `tunnel.rs`) fires even when its
    /// first poll finds the task's coop budget spent: it polls its timer at each poll, so the
    /// poll coop asks for arms it. Kept against F-DS's class of bug (a timer polled once and
    /// then taken for armed), which an idle watch that polled only when due would have.
    #[tokio::test(start_paused = true)]
    async fn the_idle_watch_is_armed_when_its_first_poll_has_no_budget() {
        let idle = Duration::from_secs(1);
        let started = Instant::now();
        let mut watch = std::pin::pin!(until_idle(idle, || (false, 0)));
        poll_once_without_budget(watch.as_mut()).await;
        let fired = tokio::time::timeout(Duration::from_mins(5), watch).await;
        assert!(fired.is_ok(), "the idle watch never fired");
        let after = started.elapsed();
        assert!((idle..=idle + idle / TICKS).contains(&after), "fired after {after:?}");
    }

    #[rstest]
    #[case::http1_request_line(b"GET / HTTP/1.1\r\n\r\n", Some(Protocol::Http1))]
    #[case::one_byte_that_differs(b"G", Some(Protocol::Http1))]
    #[case::pri_but_not_the_preface(b"PRI * HTTP/1.1\r\n", Some(Protocol::Http1))]
    #[case::the_preface(PREFACE, Some(Protocol::Http2))]
    #[case::the_preface_and_a_frame(
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0",
        Some(Protocol::Http2)
    )]
    #[case::a_preface_cut_short(&PREFACE[..23], None)]
    #[case::nothing(b"", None)]
    fn protocols(#[case] opening: &[u8], #[case] expected: Option<Protocol>) {
        check(opening, expected);
    }
}
