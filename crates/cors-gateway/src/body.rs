//! The bodies of a forwarded request and its response, the upstream capacity they hold
//! (docs/robustness.md, F-B), and the request body's limits (F3).

use std::fmt;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// The upstream capacity one forwarded request holds until both its bodies are done: a slot of
/// the upstream pool (`--upstream-max-connections`) and one of its client connection's share
/// (`--upstream-max-per-connection`).
#[derive(Debug)]
pub(crate) struct Slots {
    _pool: OwnedSemaphorePermit,
    _share: OwnedSemaphorePermit,
}

impl Slots {
    /// Takes a slot of the connection's `share`, then one of the `pool`, waiting at most `wait`
    /// for both (in FIFO order); `None` when the wait ran out.
    ///
    /// The fast path, with both free, takes no lock and starts no timer.
    pub(crate) async fn acquire(
        pool: &Arc<Semaphore>,
        share: &Arc<Semaphore>,
        wait: Duration,
    ) -> Option<Self> {
        if let Ok(share) = Arc::clone(share).try_acquire_owned() {
            let pool = match Arc::clone(pool).try_acquire_owned() {
                Ok(pool) => pool,
                Err(_) => {
                    tokio::time::timeout(wait, Arc::clone(pool).acquire_owned()).await.ok()?.ok()?
                }
            };
            return Some(Self { _pool: pool, _share: share });
        }
        tokio::time::timeout(wait, async {
            let share = Arc::clone(share).acquire_owned().await.ok()?;
            let pool = Arc::clone(pool).acquire_owned().await.ok()?;
            Some(Self { _pool: pool, _share: share })
        })
        .await
        .ok()
        .flatten()
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
    Shared { _slots: Arc<Slots> },
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
        let mut cause = Some(error);
        while let Some(error) = cause {
            if let Some(found) = error.downcast_ref::<Self>() {
                return Some(found);
            }
            cause = error.source();
        }
        None
    }
}

/// The request body sent upstream: the client's, cut off past its limits, and holding its share
/// of the request's slots.
#[derive(Debug)]
pub(crate) struct RequestBody {
    body: Incoming,
    /// Armed when the body is first read, so a bodiless request never starts a timer. Boxed
    /// because the upstream client needs an `Unpin` body; only requests with a body pay for it.
    timer: Option<Pin<Box<Sleep>>>,
    /// When the whole body must have arrived; `None` for a bodiless request.
    deadline: Option<Instant>,
    limits: BodyLimits,
    received: u64,
    failed: bool,
    _slots: Option<Arc<Slots>>,
}

impl RequestBody {
    /// Wraps the client's `body`, and returns it with the response body's share of `slots`.
    pub(crate) fn new(body: Incoming, limits: BodyLimits, slots: Slots) -> (Self, Held) {
        let (shared, held) = if body.is_end_stream() {
            (None, Held::Alone { _slots: slots })
        } else {
            let slots = Arc::new(slots);
            (Some(Arc::clone(&slots)), Held::Shared { _slots: slots })
        };
        let deadline = shared.is_some().then(|| Instant::now() + limits.timeout);
        let body = Self {
            body,
            timer: None,
            deadline,
            limits,
            received: 0,
            failed: false,
            _slots: shared,
        };
        (body, held)
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
            this.failed = true;
            return Poll::Ready(Some(Err(BodyError::TimedOut { timeout: this.limits.timeout })));
        }
        let frame = match std::task::ready!(Pin::new(&mut this.body).poll_frame(cx)) {
            None => return Poll::Ready(None),
            Some(Err(error)) => {
                this.failed = true;
                return Poll::Ready(Some(Err(BodyError::Client(error))));
            }
            Some(Ok(frame)) => frame,
        };
        if let Some(data) = frame.data_ref() {
            this.received = this.received.saturating_add(data.len() as u64);
            if this.received > this.limits.max_bytes {
                this.failed = true;
                return Poll::Ready(Some(Err(BodyError::TooLarge {
                    limit: this.limits.max_bytes,
                })));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The upstream's response body, holding the request's slots until it is read or dropped.
#[derive(Debug)]
pub(crate) struct UpstreamBody {
    body: Incoming,
    _slots: Held,
}

impl UpstreamBody {
    pub(crate) fn new(body: Incoming, slots: Held) -> Self {
        Self { body, _slots: slots }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
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

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    #[test]
    fn a_request_waits_for_its_share_and_the_pool_then_gives_up() {
        runtime().block_on(async {
            let pool = Arc::new(Semaphore::new(3));
            let share = Arc::new(Semaphore::new(2));
            let wait = Duration::from_millis(10);
            let first = Slots::acquire(&pool, &share, wait).await.unwrap();
            let _second = Slots::acquire(&pool, &share, wait).await.unwrap();
            // The connection's share is used up: the third waits, then gives up.
            assert!(Slots::acquire(&pool, &share, wait).await.is_none());
            assert_eq!(pool.available_permits(), 1, "a request over its share takes no pool slot");
            // Another connection still gets the pool's last slot...
            let other = Arc::new(Semaphore::new(2));
            let third = Slots::acquire(&pool, &other, wait).await.unwrap();
            // ...and then the pool is full for everyone.
            assert!(Slots::acquire(&pool, &other, wait).await.is_none());
            drop(first);
            drop(third);
            assert!(Slots::acquire(&pool, &share, wait).await.is_some());
        });
    }
}
