//! The bodies of a forwarded request and its response, the upstream capacity they hold
//! (docs/robustness.md, F-B), the request body's limits (F3), and the wait for the response
//! body's parts (`--upstream-read-timeout`, F-BK).

use std::fmt;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tokio::sync::Notify;

use crate::pool::Pooled;
use crate::proxy::{ReadTimer, find_cause};
use crate::telemetry::{Telemetry, UpstreamFailure};
use tokio::time::{Instant, Sleep};

/// A fixed number of slots that requests take and give back, waiting in line when none is free.
///
/// Hand-written over `tokio::sync::Semaphore`, whose every release locks its wait list: on the
/// request path that is a lock per request on a mutex shared by every connection. Here taking
/// and giving back a free slot are one atomic operation each, and a release touches the wait
/// list (`Notify`) only while someone waits. Waiters are woken in the order they started to
/// wait, but a request arriving just as a slot is freed may take it first; a waiter that loses
/// such a race waits again, bounded by its deadline.
#[derive(Debug)]
pub(crate) struct SlotPool {
    free: AtomicUsize,
    waiting: AtomicUsize,
    freed: Notify,
}

impl SlotPool {
    pub(crate) fn new(slots: usize) -> Arc<Self> {
        Arc::new(Self {
            free: AtomicUsize::new(slots),
            waiting: AtomicUsize::new(0),
            freed: Notify::new(),
        })
    }

    /// Takes a free slot, if there is one.
    fn try_take(self: &Arc<Self>) -> Option<Slot> {
        // SeqCst here and in `give_back` orders these with `waiting`: a waiter that saw no free
        // slot is always seen waiting by the release that frees one.
        self.free
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |free| free.checked_sub(1))
            .ok()
            .map(|_| Slot(Arc::clone(self)))
    }

    /// Takes a slot, waiting for one until `deadline`; `None` when it passed.
    async fn take(self: &Arc<Self>, deadline: Instant) -> Option<Slot> {
        if let Some(slot) = self.try_take() {
            return Some(slot);
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let taken = tokio::time::timeout_at(deadline, async {
            loop {
                let freed = self.freed.notified();
                let mut freed = std::pin::pin!(freed);
                // Registered before the check, so a release between the two wakes it.
                freed.as_mut().enable();
                if let Some(slot) = self.try_take() {
                    return slot;
                }
                freed.await;
            }
        })
        .await
        .ok();
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        if taken.is_none() && self.free.load(Ordering::SeqCst) > 0 {
            // This waiter may have been woken for a slot it no longer takes: pass it on.
            self.freed.notify_one();
        }
        taken
    }

    fn give_back(&self) {
        self.free.fetch_add(1, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.freed.notify_one();
        }
    }
}

/// One slot of a [`SlotPool`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot(Arc<SlotPool>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.give_back();
    }
}

/// The upstream capacity one forwarded request holds until both its bodies are done: a slot of
/// the upstream pool (`--upstream-max-connections`) and one of its client connection's share
/// (`--upstream-max-per-connection`).
#[derive(Debug)]
pub(crate) struct Slots {
    _share: Slot,
    _pool: Slot,
}

impl Slots {
    /// Takes a slot of the connection's `share`, then one of the `pool`, waiting at most `wait`
    /// for both; `None` when the wait ran out.
    ///
    /// The fast path, with both free, takes no lock and starts no timer.
    pub(crate) async fn acquire(
        pool: &Arc<SlotPool>,
        share: &Arc<SlotPool>,
        wait: Duration,
    ) -> Option<Self> {
        if let Some(share) = share.try_take()
            && let Some(pool) = pool.try_take()
        {
            return Some(Self { _share: share, _pool: pool });
        }
        let deadline = Instant::now() + wait;
        let share = share.take(deadline).await?;
        let pool = pool.take(deadline).await?;
        Some(Self { _share: share, _pool: pool })
    }
}

/// Who holds a request's [`Slots`].
///
/// The upstream connection stays busy until the request body is sent and the response body is
/// read, in whichever order they finish (an upstream may answer before it has read the body), so
/// a request with a body shares its slots between both bodies; a request without one leaves them
/// to the response body alone, without the shared allocation.
#[derive(Debug)]
pub(crate) enum Held {
    /// The response body holds the slots alone.
    Alone { _slots: Slots },
    /// The request body holds them too.
    Shared { shared: Arc<BothBodies> },
}

/// What a request's two bodies share: its [`Slots`], whether the request body failed, and how
/// its sending goes (see [`Sending`]).
#[derive(Debug)]
pub(crate) struct BothBodies {
    _slots: Slots,
    /// Set when the gateway stopped sending the request body (see [`BodyError`]): hyper then
    /// ends the upstream connection, and the response body with an error that is no failure of
    /// the upstream's (see [`UpstreamBodyError::Request`]).
    request_failed: AtomicBool,
    /// Frames of the request body passed on so far.
    request_moved: AtomicU64,
    /// Whether the request body's last read found that its client had sent nothing more.
    request_waits_on_client: AtomicBool,
}

/// Where the sending of a request body stands, for the response body's read timer (see
/// `ReadTimer::poll_waited`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sending {
    /// Frames of it passed on so far.
    pub(crate) moved: u64,
    /// Whether it waits for its client to send more: `--body-read-timeout` bounds that wait.
    pub(crate) waits_on_client: bool,
}

impl Held {
    /// Whether only the response body holds the slots: the request had no body, or hyper has
    /// sent all of it (and dropped it).
    fn is_alone(&self) -> bool {
        match self {
            Self::Alone { .. } => true,
            Self::Shared { shared } => Arc::strong_count(shared) == 1,
        }
    }

    /// Where the request body's sending stands; `None` when it is all sent (or there was none).
    fn sending(&self) -> Option<Sending> {
        match self {
            Self::Shared { shared } if Arc::strong_count(shared) > 1 => Some(Sending {
                moved: shared.request_moved.load(Ordering::Relaxed),
                waits_on_client: shared.request_waits_on_client.load(Ordering::Relaxed),
            }),
            Self::Alone { .. } | Self::Shared { .. } => None,
        }
    }

    /// Whether the request body failed: too large, too slow, or its client's side failed.
    fn request_failed(&self) -> bool {
        match self {
            Self::Alone { .. } => false,
            Self::Shared { shared } => shared.request_failed.load(Ordering::Acquire),
        }
    }
}

/// The limits on a request body (finding F3).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyLimits {
    /// Most bytes (`--max-request-body`); past it the answer is 413.
    pub(crate) max_bytes: u64,
    /// Time to receive the whole body once forwarding starts (`--body-read-timeout`); past it
    /// the answer is 408.
    pub(crate) timeout: Duration,
}

/// Why the gateway stopped reading a request body.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// More than [`BodyLimits::max_bytes`].
    TooLarge { limit: u64 },
    /// Not complete within [`BodyLimits::timeout`].
    TimedOut { timeout: Duration },
    /// The client's side failed (reset stream, closed connection, bad chunk framing).
    Client(hyper::Error),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { limit } => write!(f, "request body over the limit of {limit} bytes"),
            Self::TimedOut { timeout } => {
                write!(f, "request body not received within {timeout:?}")
            }
            Self::Client(_) => f.write_str("reading the request body failed"),
        }
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Client(error) => Some(error),
            Self::TooLarge { .. } | Self::TimedOut { .. } => None,
        }
    }
}

impl BodyError {
    /// The `BodyError` in `error`'s source chain, if the upstream request failed because of one.
    pub(crate) fn find<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e Self> {
        find_cause(error)
    }
}

/// The request body sent upstream: the client's, cut off past its limits, and holding its share
/// of the request's slots.
#[derive(Debug)]
pub(crate) struct RequestBody {
    /// `None` for the empty body of a request the gateway sends once more (see
    /// [`RequestBody::empty`]).
    body: Option<Incoming>,
    /// Armed when the body is first read, so a bodiless request never starts a timer. Boxed
    /// because the upstream client needs an `Unpin` body; only requests with a body pay for it.
    timer: Option<Pin<Box<Sleep>>>,
    /// When the whole body must have arrived; `None` for a bodiless request.
    deadline: Option<Instant>,
    limits: BodyLimits,
    received: u64,
    failed: bool,
    /// `None` for a bodiless request, and for [`RequestBody::empty`].
    shared: Option<Arc<BothBodies>>,
}

impl RequestBody {
    /// Wraps the client's `body`, which holds no slot until [`RequestBody::hold`].
    ///
    /// Made as the proxy prepares the request, before its future is built, so that the request
    /// goes into the future with its body wrapped, rather than being taken apart and put back
    /// together inside it (each a copy of the request).
    pub(crate) fn new(body: Incoming, limits: BodyLimits) -> Self {
        Self {
            body: Some(body),
            timer: None,
            deadline: None,
            limits,
            received: 0,
            failed: false,
            shared: None,
        }
    }

    /// Gives the body its share of `slots` as the request is forwarded (its `--body-read-timeout`
    /// runs from now), and returns the response body's: all of them for a bodiless request.
    pub(crate) fn hold(&mut self, slots: Slots) -> Held {
        if self.body.as_ref().is_none_or(Incoming::is_end_stream) {
            return Held::Alone { _slots: slots };
        }
        let shared = Arc::new(BothBodies {
            _slots: slots,
            request_failed: AtomicBool::new(false),
            request_moved: AtomicU64::new(0),
            request_waits_on_client: AtomicBool::new(false),
        });
        self.shared = Some(Arc::clone(&shared));
        self.deadline = Some(Instant::now() + self.limits.timeout);
        Held::Shared { shared }
    }

    /// No body, for a bodiless request sent once more on a new connection: the client's body
    /// went with the first attempt, and holds no slot.
    pub(crate) fn empty() -> Self {
        Self {
            body: None,
            timer: None,
            deadline: None,
            limits: BodyLimits { max_bytes: 0, timeout: Duration::ZERO },
            received: 0,
            failed: false,
            shared: None,
        }
    }

    /// Stops the body with `error`, and tells the response body so.
    fn fail(&mut self, error: BodyError) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.failed = true;
        if let Some(shared) = &self.shared {
            shared.request_failed.store(true, Ordering::Release);
        }
        Poll::Ready(Some(Err(error)))
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        if this.timer.is_none()
            && let Some(deadline) = this.deadline
        {
            this.timer = Some(Box::pin(tokio::time::sleep_until(deadline)));
        }
        if let Some(timer) = &mut this.timer
            && timer.as_mut().poll(cx).is_ready()
        {
            let timeout = this.limits.timeout;
            return this.fail(BodyError::TimedOut { timeout });
        }
        let Some(body) = &mut this.body else { return Poll::Ready(None) };
        let polled = Pin::new(body).poll_frame(cx);
        if let Some(shared) = &this.shared {
            shared.request_waits_on_client.store(polled.is_pending(), Ordering::Relaxed);
        }
        let frame = match std::task::ready!(polled) {
            None => return Poll::Ready(None),
            Some(Err(error)) => return this.fail(BodyError::Client(error)),
            Some(Ok(frame)) => frame,
        };
        if let Some(shared) = &this.shared {
            shared.request_moved.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(data) = frame.data_ref() {
            this.received = this.received.saturating_add(data.len() as u64);
            if this.received > this.limits.max_bytes {
                let limit = this.limits.max_bytes;
                return this.fail(BodyError::TooLarge { limit });
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.body.as_ref().is_none_or(Incoming::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body.as_ref().map_or_else(|| SizeHint::with_exact(0), Incoming::size_hint)
    }
}

/// Why a response body the gateway forwards ended before its end.
#[derive(Debug)]
pub(crate) enum UpstreamBodyError {
    /// The upstream's side failed (closed or reset mid-body, bad chunk framing).
    Upstream(hyper::Error),
    /// The gateway stopped sending the request body (too large, too slow, or its client's side
    /// failed) after the response had started: hyper ended the upstream connection for it, and
    /// the response body with this (`connection error`), no failure of the upstream's.
    Request(hyper::Error),
    /// The upstream sent nothing of it for `--upstream-read-timeout` (finding F-BK).
    Stalled { timeout: Duration },
}

impl fmt::Display for UpstreamBodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Upstream(_) => f.write_str("reading the upstream's response body failed"),
            Self::Request(_) => f.write_str(
                "the upstream connection was ended for its request body, before the response body",
            ),
            Self::Stalled { timeout } => write!(
                f,
                "the upstream sent nothing of its response body for {timeout:?} \
                 (--upstream-read-timeout)"
            ),
        }
    }
}

impl std::error::Error for UpstreamBodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Upstream(error) | Self::Request(error) => Some(error),
            Self::Stalled { .. } => None,
        }
    }
}

impl UpstreamBodyError {
    /// The `UpstreamBodyError` in `error`'s source chain, if a response body ended with one
    /// (hyper ends an HTTP/1.1 connection with its response body's error).
    pub(crate) fn find<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e Self> {
        find_cause(error)
    }
}

/// The upstream's response body, holding the request's slots until it is read or dropped, and
/// its upstream connection until it ends.
#[derive(Debug)]
pub(crate) struct UpstreamBody {
    body: Incoming,
    /// Given back to its pool when the body ends and the request body is sent; dropped (and so
    /// closed) with a body that fails or is not read to its end.
    connection: Option<Pooled>,
    slots: Held,
    /// `--upstream-read-timeout` while the body is not over; `None` when it is zero.
    read: Option<ReadTimer>,
    /// Whether the body was cut for `--upstream-read-timeout`: it ends there.
    cut: bool,
    /// The upstream's failure mid-body, given on the poll after the one that found it (see
    /// [`UpstreamBody::poll_frame`]).
    failure: Option<UpstreamBodyError>,
    /// Where a body the upstream fails mid-way is counted.
    telemetry: Telemetry,
}

impl UpstreamBody {
    /// `connection` is `None` for a connection that must not be reused (closed once `body` ends);
    /// `read` times the waits for the body's parts (`None`: not timed).
    pub(crate) fn new(
        body: Incoming,
        slots: Held,
        connection: Option<Pooled>,
        read: Option<ReadTimer>,
        telemetry: Telemetry,
    ) -> Self {
        let mut this = Self { body, connection, slots, read, cut: false, failure: None, telemetry };
        // A body that is empty from the start (`HEAD`, `204`, `Content-Length: 0`) may never
        // be polled.
        if this.body.is_end_stream() {
            this.ended();
        }
        this
    }

    /// The response is complete: the connection goes back to its pool if the request body is
    /// complete too (no one else holds the slots), or is dropped.
    ///
    /// hyper drops a request body once it has sent all of it; an upstream that answers before
    /// reading the whole body leaves its connection busy, and a connection is only pooled idle.
    fn ended(&mut self) {
        // Its timer goes back to the connection for the next request.
        self.read = None;
        if let Some(connection) = self.connection.take()
            && self.slots.is_alone()
        {
            connection.give_back();
        }
    }

    /// The body's error when the upstream's side failed with `error`: the upstream's failure
    /// (logged and counted: it closed or reset the connection mid-body, or broke its framing),
    /// unless the gateway ended the connection for the request body first.
    #[cold]
    fn failed(&self, error: hyper::Error) -> UpstreamBodyError {
        if self.slots.request_failed() {
            return UpstreamBodyError::Request(error);
        }
        tracing::warn!(
            error = %crate::proxy::error_chain(&error),
            "cut a response whose upstream failed before the end of its body"
        );
        if let Some(metrics) = self.telemetry.metrics() {
            metrics.upstream_failed(UpstreamFailure::BodyFailed);
        }
        UpstreamBodyError::Upstream(error)
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = UpstreamBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, UpstreamBodyError>>> {
        let this = self.get_mut();
        if let Some(failure) = this.failure.take() {
            return Poll::Ready(Some(Err(failure)));
        }
        if this.cut {
            return Poll::Ready(None);
        }
        let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) else {
            if let Some(read) = &mut this.read
                && read.poll_waited(cx, this.slots.sending()).is_ready()
            {
                // Cut: the upstream connection is closed, not pooled, and the slots go with
                // the body, which hyper drops on this error (HTTP/1.1: the client connection
                // is closed mid-body; HTTP/2: the stream is reset).
                let timeout = read.timeout();
                (this.read, this.connection, this.cut) = (None, None, true);
                return Poll::Ready(Some(Err(UpstreamBodyError::Stalled { timeout })));
            }
            return Poll::Pending;
        };
        if let Some(read) = &mut this.read {
            read.brought();
        }
        let mut frame = frame.map(|frame| frame.map_err(|error| this.failed(error)));
        if let Some(Ok(frame)) = &mut frame
            && let Some(trailers) = frame.trailers_mut()
        {
            crate::proxy::trailer_fields(trailers);
        }
        match &frame {
            None => this.ended(),
            Some(Ok(_)) if this.body.is_end_stream() => this.ended(),
            Some(Err(_)) => this.connection = None,
            Some(Ok(_)) => {}
        }
        // An error ends hyper's HTTP/1.1 connection without writing what it holds: the response
        // head and the body's first bytes, when the upstream failed within one poll of the
        // client's connection (finding F-DY). Pending once first, woken at once, has hyper
        // write them out; the error comes on the next poll. Cold: only a failing body.
        if let Some(Err(failure)) = frame {
            this.failure = Some(failure);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.cut || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    #[test]
    fn a_request_waits_for_its_share_and_the_pool_then_gives_up() {
        runtime().block_on(async {
            let pool = SlotPool::new(3);
            let share = SlotPool::new(2);
            let wait = Duration::from_millis(10);
            let first = Slots::acquire(&pool, &share, wait).await.unwrap();
            let _second = Slots::acquire(&pool, &share, wait).await.unwrap();
            // The connection's share is used up: the third waits, then gives up.
            assert!(Slots::acquire(&pool, &share, wait).await.is_none());
            assert_eq!(
                pool.free.load(Ordering::SeqCst),
                1,
                "a request over its share takes no pool slot"
            );
            // Another connection still gets the pool's last slot...
            let other = SlotPool::new(2);
            let third = Slots::acquire(&pool, &other, wait).await.unwrap();
            // ...and then the pool is full for everyone.
            assert!(Slots::acquire(&pool, &other, wait).await.is_none());
            assert_eq!(
                other.free.load(Ordering::SeqCst),
                1,
                "a share slot is given back on failure"
            );
            drop(first);
            drop(third);
            assert!(Slots::acquire(&pool, &share, wait).await.is_some());
        });
    }

    /// `--upstream-queue-timeout 0`: a request takes a free slot, and gets none at once when
    /// every slot is taken, instead of waiting.
    #[test]
    fn with_no_wait_a_free_slot_is_taken_and_a_full_pool_is_refused() {
        runtime().block_on(async {
            let pool = SlotPool::new(1);
            let share = SlotPool::new(2);
            let held = Slots::acquire(&pool, &share, Duration::ZERO).await;
            assert!(held.is_some(), "a free slot is taken without waiting");
            assert!(Slots::acquire(&pool, &share, Duration::ZERO).await.is_none());
            assert_eq!(pool.waiting.load(Ordering::SeqCst), 0, "no waiter is left behind");
            drop(held);
            assert!(Slots::acquire(&pool, &share, Duration::ZERO).await.is_some());
        });
    }

    #[test]
    fn a_freed_slot_goes_to_a_waiter() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let pool = SlotPool::new(1);
            let held = pool.try_take().unwrap();
            let waiters: Vec<_> = (0..8)
                .map(|_| {
                    let pool = Arc::clone(&pool);
                    tokio::spawn(async move {
                        let slot = pool.take(Instant::now() + Duration::from_secs(20)).await;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        slot.is_some()
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(held);
            // Each waiter gets the slot in turn, as the one before gives it back.
            for waiter in waiters {
                assert!(waiter.await.unwrap());
            }
            assert_eq!(pool.free.load(Ordering::SeqCst), 1);
            assert_eq!(pool.waiting.load(Ordering::SeqCst), 0);
        });
    }
}
