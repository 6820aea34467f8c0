//! The upstream connections: HTTP/1.1 client connections of hyper (`hyper::client::conn::http1`),
//! kept alive between requests in a small pool per upstream.
//!
//! Hand-written over hyper's connections rather than hyper-util's pooled `legacy::Client`
//! because, measured under callgrind on the gateway (docs/performance.md, "Gateway under
//! load"), that client took about a fifth of the gateway's instructions per proxied request: a
//! `SipHash` of its pool key on checkout and return, a race of the checkout against a new
//! connection on every request, futures of several hundred bytes moved at each step, and a task
//! spawned per request to return its connection once the response body is read. None of that
//! is configurable. Here a request takes the most recently returned connection from its
//! upstream's list under an uncontended lock, and the response body puts it back when it ends.
//! The connectors stay hyper-util's and hyper-rustls's (DNS, `TCP_NODELAY`, the connect
//! timeout, TLS).
//!
//! What is kept of the pooled client's behaviour:
//! - a connection is reused only when both its request and its response are complete (a
//!   response body dropped before its end, or failed, closes the connection instead); the proxy
//!   also closes the connection of a response without a body whose head declares one (`HEAD`,
//!   `204`, `304`; `proxy.rs`, finding F-R);
//! - idle connections are closed after `--upstream-idle-timeout` (none is kept when it is
//!   zero), and at most `--upstream-max-connections` are open to all upstreams together (each
//!   worker thread of the server has pools of its own, [`UpstreamClients::for_worker`], and all
//!   share that limit's slots; a worker whose pool is empty opens a connection of its own while
//!   all workers together have fewer open than the limit, and only at the limit borrows
//!   another's idle one to the same upstream for a request, [`Workers`], or else closes an idle
//!   one to another upstream, [`Host::evict`], and waits for a connection to close before it
//!   opens its own, [`wait_for_room`]);
//! - a connection the upstream closed while idle is noticed and dropped before reuse;
//! - a request that failed on a reused connection before any of it was written (the upstream
//!   closed it just then) is sent once more, on a new connection.
//!
//! Added here: a request written on a reused connection that the upstream closed or reset
//! before any byte of its response is sent once more, on a new connection, when that is safe
//! and the close can be the upstream's keep-alive timeout (see [`Resend`]):
//! - its method is idempotent (RFC 9110 section 9.2.2: GET, HEAD, OPTIONS, TRACE, PUT,
//!   DELETE), so that the upstream acting on it twice has the effect of acting once;
//! - it has no body (known empty), since the body was streamed from the client and is gone;
//! - the connection had been idle for [`RESEND_AFTER_IDLE`] at least, so that requests on
//!   connections busy enough for the copy's cost to matter never pay for it;
//! - the connection closed (end of stream) or was reset, and no byte of a response came back
//!   ([`Heard`]); never after a response began, on a new connection, after a timeout, or a
//!   second time.
//!
//! RFC 9112 section 9.3.1 expects clients to meet connections closed at any time, and RFC 9110
//! section 9.2.2 lets them repeat an idempotent request automatically when the connection
//! failed before its response was read, never a non-idempotent one. nginx does the same with
//! `proxy_next_upstream error` (its default): `ngx_http_upstream_next` gives a request that
//! failed on a kept-alive connection one more try, except a POST, LOCK or PATCH already sent,
//! or a request already sent whose body was not buffered.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{HeaderMap, Method, Request, Response, Uri, Version};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::client::conn::TrySendError;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;
use tower_service::Service;

use crate::body::RequestBody;
use crate::connection::{read_noticing, write_through};
use crate::server::Limits;
use crate::telemetry::{self, UpstreamRetry};
use crate::tls::{self, UpstreamTrust};

/// How long a reused connection must have been idle for a request sent on it to keep the copy
/// of its head that [`Resend`] needs.
///
/// An upstream closes a kept-alive connection for idleness after whole seconds (gunicorn 2 s,
/// Node.js and Apache 5 s), so a connection returned to the pool less than this ago is not
/// being closed for it; and a connection reused that soon serves ten requests a second or
/// more, where copying every head would be a cost per request under load
/// (docs/performance.md, "Gateway under load").
const RESEND_AFTER_IDLE: Duration = Duration::from_millis(100);

/// The error of a connection attempt, from the connector or hyper's handshake.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why an upstream request failed.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be made (refused, unreachable, `--connect-timeout`, TLS handshake).
    Connect(BoxError),
    /// An `https://` upstream, and the gateway has no TLS client.
    NoTlsClient,
    /// The connection failed while the request was sent or the response head awaited; a
    /// request body refused on the way (`BodyError`) is among its sources.
    Request(hyper::Error),
}

impl SendError {
    /// Whether the upstream could not be reached at all.
    pub(crate) fn is_connect(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::NoTlsClient)
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(_) => f.write_str("cannot connect to the upstream"),
            Self::NoTlsClient => f.write_str("no TLS client for an https upstream"),
            Self::Request(_) => f.write_str("the upstream request failed"),
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect(error) => Some(&**error),
            Self::Request(error) => Some(error),
            Self::NoTlsClient => None,
        }
    }
}

/// The error of a TLS connection not established within `--connect-timeout`.
#[derive(Debug)]
struct ConnectTimedOut(Duration);

impl fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no TLS connection to the upstream within {:?}", self.0)
    }
}

impl std::error::Error for ConnectTimedOut {}

/// One upstream connection: hyper's handle to send on it, and whether its upstream sent
/// anything since the last request that may be resent.
#[derive(Debug)]
struct Connection {
    sender: SendRequest<RequestBody>,
    heard: Arc<AtomicBool>,
    /// The pool of the worker whose runtime drives the connection, and when the connection was
    /// returned to it, while another worker borrows it for a request ([`Workers`]); `None` in
    /// its home pool and on its home worker. Boxed: every request's future holds a connection,
    /// few borrow one, and the proxy's future must stay in a small block (`proxy.rs`).
    lent_by: Option<Box<(Arc<Host>, Instant)>>,
}

/// A connection that sent a request, on its way back to its upstream's pool.
#[derive(Debug)]
pub(crate) struct Pooled {
    connection: Connection,
    host: Arc<Host>,
}

impl Pooled {
    /// Puts the connection back in its pool, for a request whose request and response are both
    /// complete.
    ///
    /// A connection borrowed from another worker goes back to that worker's pool, whose runtime
    /// drives its I/O, never to the borrower's (finding F-DV).
    pub(crate) fn give_back(mut self) {
        match self.connection.lent_by.take().map(|lent| *lent) {
            Some((home, since)) => home.put_back(self.connection, since),
            None => self.host.put(self.connection),
        }
    }
}

/// The idle connections to one upstream (`scheme://authority`).
#[derive(Debug)]
struct Host {
    https: bool,
    authority: Authority,
    /// Most recently returned last; each with when it was returned.
    idle: Mutex<Vec<(Connection, Instant)>>,
    max_idle: usize,
    /// `--upstream-idle-timeout`; zero keeps no connection.
    idle_timeout: Duration,
    /// The connections open to every upstream, of all workers, tunnels included
    /// (`--upstream-max-connections` at most): the same count in every pool of the gateway
    /// (finding F-DX).
    open: Arc<Open>,
    /// The pools of every worker thread, this one's among them.
    workers: Arc<Workers>,
}

/// The pools of every worker thread's [`UpstreamClients`] (finding F-DV), so that all workers
/// together hold no more upstream connections than `--upstream-max-connections` lets requests
/// be in flight, as one shared pool did.
///
/// A connection's I/O runs on the runtime of the worker that opened it (its home), and it goes
/// back to that worker's pool only: a request on another worker would cross threads (a channel
/// send and a wake of the home runtime each way), which cost about 4 000 instructions per
/// request when borrowed connections stayed with their borrowers (docs/robustness.md). So a
/// worker whose pool is empty opens a connection of its own while all workers together have
/// fewer than the limit open ([`Host::open`]), and only at the limit looks here, under this
/// lock, for a sibling's idle connection to borrow for that one request.
///
/// Borrowing rather than closing the sibling's idle connection to open one of its own: a new
/// connection costs the request a round trip to the upstream (and a TLS handshake to an https
/// one) and the upstream an accept, and the closed one's socket ends later on its own thread,
/// so the upstream would briefly see one more than the limit; a borrowed one costs the thread
/// crossing for one request. A borrowed connection goes back with the time it was last
/// returned home, so that one only borrowers use still expires after `--upstream-idle-timeout`
/// and leaves room for the busy worker's own.
#[derive(Debug, Default)]
struct Workers(Mutex<Vec<Weak<Host>>>);

/// One connection counted in its upstream's open connections ([`Host::open`]), uncounted when
/// dropped: with the connection's socket ([`Heard`]), when its task ends or, after an upgrade,
/// when the tunnel that took the socket over closes; or with a connection that failed to open.
///
/// Held by the socket rather than by the connection's task: hyper ends the task when it hands
/// the socket of an upgrade over, and a tunnel then kept a connection open to the upstream that
/// no worker counted, so that workers opened past `--upstream-max-connections` while tunnels
/// were open (finding F-DW).
#[derive(Debug)]
struct Counted(Arc<Open>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
        self.0.made_room();
    }
}

/// The connections open to every upstream, of all workers, tunnels included, and the requests
/// waiting for one of them to close or go back to a pool ([`wait_for_room`]).
///
/// A request holds a slot of `--upstream-max-connections` before it looks for a connection, so
/// it finds fewer open than the limit, or one idle, but for a connection that gave its slot up
/// and is still closing: one the gateway stopped waiting for (`--upstream-timeout`, a client
/// that left, a cut response), whose task closes its socket on its worker's next turn, or an
/// idle one closed to make room ([`Host::evict`]), or the connection a resent request leaves.
/// Such a request opened one all the same, and the gateway had more connections open to its
/// upstreams than the limit (finding F-DZ); it now waits for that one to close.
#[derive(Debug, Default)]
struct Open {
    /// How many connections are open.
    count: AtomicUsize,
    /// How many requests wait in [`wait_for_room`].
    waiting: AtomicUsize,
    /// Wakes them when a connection closed or went back to a pool.
    room: Notify,
}

impl Open {
    /// Wakes the requests waiting for room, if any: a connection closed or went back to a pool.
    /// Costs a load when none waits.
    fn made_room(&self) {
        // SeqCst here and in `wait_for_room` orders this load with the waiter's count: a waiter
        // that found no room is always seen by the close or return that makes some.
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.room.notify_waiters();
        }
    }
}

/// One request in [`Open::waiting`], until dropped.
struct Waiting(Arc<Open>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How a request gets a connection to its upstream ([`Host::checkout`]).
enum Checkout {
    /// An idle connection, and how long it was idle.
    Idle(Connection, Duration),
    /// None: a new one, already counted.
    Open(Counted),
    /// None, and as many open as the limit: the request waits ([`wait_for_room`]).
    Full,
}

/// Waits until `host` has room for a request that found it [`Checkout::Full`] (a new connection,
/// only, when `fresh_only`): looks again each time a connection closes or goes back to a pool,
/// and returns the checkout that found some. Bounded by `--upstream-timeout`, which the proxy
/// sets around the whole send.
async fn wait_for_room(host: Arc<Host>, fresh_only: bool) -> (Arc<Host>, Checkout) {
    let open = Arc::clone(&host.open);
    open.waiting.fetch_add(1, Ordering::SeqCst);
    let _waiting = Waiting(Arc::clone(&open));
    loop {
        let room = open.room.notified();
        let mut room = std::pin::pin!(room);
        // Registered before the look, so that room made between the two wakes it.
        room.as_mut().enable();
        match host.try_checkout(Instant::now(), fresh_only) {
            Checkout::Full => room.await,
            checkout => return (host, checkout),
        }
    }
}

impl Host {
    /// [`Host::checkout`], or [`Host::fresh`] when `fresh_only`.
    fn try_checkout(&self, now: Instant, fresh_only: bool) -> Checkout {
        if fresh_only { self.fresh() } else { self.checkout(now) }
    }

    /// This worker's most recently returned connection that is still open and not idle for too
    /// long; else, while fewer than the limit are open to all upstreams, a new one; else another
    /// worker's idle connection, lent for one request; else (the open ones all busy, tunnels or
    /// closing) [`Checkout::Full`].
    ///
    /// The limit counts the connections to every upstream: at the limit, an idle connection to
    /// another upstream is closed to make room, when a worker has one ([`Host::evict`]).
    fn checkout(&self, now: Instant) -> Checkout {
        if let Some((connection, since)) = self.checkout_own(now) {
            return Checkout::Idle(connection, now.saturating_duration_since(since));
        }
        if let Some(counted) = self.count_new() {
            return Checkout::Open(counted);
        }
        if let Some((connection, since)) = self.borrow(now) {
            return Checkout::Idle(connection, now.saturating_duration_since(since));
        }
        self.evict();
        Checkout::Full
    }

    /// A new connection, for a request sent once more: while fewer than the limit are open,
    /// else [`Checkout::Full`] (the connection it failed on is still closing).
    fn fresh(&self) -> Checkout {
        if let Some(counted) = self.count_new() {
            return Checkout::Open(counted);
        }
        self.evict();
        Checkout::Full
    }

    /// A new connection counted, while fewer than the limit are open.
    fn count_new(&self) -> Option<Counted> {
        // Lazily: a count at `usize::MAX` (only another bug could leave one) is at the limit,
        // where `open + 1` computed first would panic in a debug build.
        let under_limit = |open: usize| (open < self.max_idle).then(|| open + 1);
        let counted = self.open.count.fetch_update(Ordering::SeqCst, Ordering::SeqCst, under_limit);
        counted.is_ok().then(|| Counted(Arc::clone(&self.open)))
    }

    /// Closes the least recently returned idle connection to another upstream, of any worker,
    /// to make room for one to this upstream at `--upstream-max-connections` (finding F-DX).
    ///
    /// The limit bounds the requests in flight to all upstreams together, and the open-file
    /// budget counts that many upstream descriptors (F-B, F-DT); each upstream kept up to the
    /// limit idle, so that a folder of several upstreams held several times the limit. The
    /// connection closes on its home worker's next turn, where its count goes down.
    #[cold]
    fn evict(&self) {
        let workers = self.workers.0.lock().unwrap_or_else(PoisonError::into_inner);
        let closed = workers
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|other| !other.is_for(self.https, &self.authority))
            .find_map(|other| {
                let mut idle = other.idle.lock().unwrap_or_else(PoisonError::into_inner);
                // One the upstream closed is no longer counted: closing it makes no room.
                idle.retain(|(connection, _)| !connection.sender.is_closed());
                (!idle.is_empty()).then(|| idle.remove(0))
            });
        drop(workers);
        drop(closed);
    }

    /// Another worker's most recently returned idle connection to the same upstream, lent for
    /// one request, with when it was returned.
    #[cold]
    fn borrow(&self, now: Instant) -> Option<(Connection, Instant)> {
        let workers = self.workers.0.lock().unwrap_or_else(PoisonError::into_inner);
        workers.iter().filter_map(Weak::upgrade).filter(|other| self.is_sibling(other)).find_map(
            |other| {
                let (mut connection, since) = other.checkout_own(now)?;
                connection.lent_by = Some(Box::new((other, since)));
                Some((connection, since))
            },
        )
    }

    /// Whether `other` is another worker's pool for the same upstream.
    fn is_sibling(&self, other: &Arc<Self>) -> bool {
        !std::ptr::eq(Arc::as_ptr(other), self) && other.is_for(self.https, &self.authority)
    }

    /// Whether this is a pool of `scheme://authority` (`https` or not).
    ///
    /// The authority of a configured upstream is a clone of the same bytes for every request:
    /// comparing the pointers first skips the case-insensitive comparison.
    #[inline]
    fn is_for(&self, https: bool, authority: &Authority) -> bool {
        self.https == https
            && (std::ptr::eq(self.authority.as_str(), authority.as_str())
                || self.authority == *authority)
    }

    /// This pool's most recently returned connection that is still open and not idle for too
    /// long at `now`, with when it was returned.
    fn checkout_own(&self, now: Instant) -> Option<(Connection, Instant)> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some((connection, since)) = idle.pop() {
            if !connection.sender.is_closed()
                && now.saturating_duration_since(since) < self.idle_timeout
            {
                return Some((connection, since));
            }
        }
        None
    }

    /// Takes back a connection of this pool that another worker borrowed, returned here `since`:
    /// at the least recently used end, with that time, so that it expires as if not lent.
    fn put_back(&self, connection: Connection, since: Instant) {
        if connection.sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.max_idle {
            idle.insert(0, (connection, since));
            drop(idle);
            self.open.made_room();
        }
    }

    /// Keeps `connection` for the next request, unless it is closed, the pool is full, or no
    /// connection is kept.
    fn put(&self, connection: Connection) {
        if connection.sender.is_closed() || self.idle_timeout.is_zero() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.max_idle {
            idle.push((connection, Instant::now()));
            drop(idle);
            self.open.made_room();
        }
    }

    /// Closes the connections idle for `--upstream-idle-timeout` (dropping a `SendRequest` ends
    /// its connection) and forgets those the upstream closed.
    fn expire(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.retain(|(connection, since)| {
            !connection.sender.is_closed() && since.elapsed() < self.idle_timeout
        });
    }

    /// Starts the task that calls [`Host::expire`] every `--upstream-idle-timeout` while the
    /// pool lives (none when no connection is kept).
    fn start_reaper(host: &Arc<Self>) {
        let period = host.idle_timeout;
        if period.is_zero() {
            return;
        }
        let host: Weak<Self> = Arc::downgrade(host);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(host) = host.upgrade() else { return };
                host.expire();
            }
        });
    }
}

/// The upstream connections of the gateway: a connector for `http://` upstreams, one for
/// `https://` upstreams when the gateway has any, and a pool of idle connections per upstream.
///
/// Two connectors rather than one that does both, so that plain upstream connections are plain
/// `TcpStream`s, without a TLS-or-not branch on every read and write.
#[derive(Clone, Debug)]
pub(crate) struct UpstreamClients(Arc<Clients>);

#[derive(Debug)]
struct Clients {
    plain: HttpConnector,
    /// The TLS connector, and the trust its certificate checks were built for (named in the
    /// explanation of a failed handshake, see [`tls::explain_handshake`]).
    tls: Option<(HttpsConnector<HttpConnector>, Arc<UpstreamTrust>)>,
    /// `--connect-timeout`, for the TCP connection and the TLS handshake together.
    connect_timeout: Duration,
    /// One entry per upstream seen so far, found by a linear scan: a gateway has a handful of
    /// upstreams, and comparing a few short authorities costs less than hashing one.
    hosts: RwLock<Vec<Arc<Host>>>,
    /// The pools of every worker, shared by [`UpstreamClients::for_worker`]'s copies.
    workers: Arc<Workers>,
    /// The connections open to every upstream ([`Host::open`]), shared likewise.
    open: Arc<Open>,
    max_idle: usize,
    /// `--upstream-idle-timeout`.
    idle_timeout: Duration,
}

impl UpstreamClients {
    /// Builds the connectors; the TLS one only when `trust` is given (the gateway has, or may
    /// load, an `https://` upstream).
    ///
    /// Every request holds a slot of `--upstream-max-connections` until both its bodies are
    /// done, and an upstream connection serves one request at a time, so the pools never open
    /// more connections than there are slots; idle ones are kept up to the same number.
    ///
    /// # Errors
    ///
    /// The TLS configuration cannot be built (see [`tls::upstream_config`]).
    pub(crate) fn new(limits: &Limits, trust: Option<&UpstreamTrust>) -> Result<Self, String> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let tls = match trust {
            None => None,
            Some(trust) => {
                if matches!(trust, UpstreamTrust::DangerouslyAcceptAny) {
                    tracing::warn!(
                        "--upstream-insecure: the certificates of https upstreams are not \
                         verified; anyone on the path to them can read and change the traffic"
                    );
                }
                let config = tls::upstream_config(trust)?;
                let mut inner = connector.clone();
                // The scheme is checked by the connector above it; `connect_timeout` covers the
                // TCP connection and the TLS handshake together.
                inner.enforce_http(false);
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(config)
                    .https_only()
                    .enable_http1()
                    .wrap_connector(inner);
                Some((https, Arc::new(trust.clone())))
            }
        };
        connector.set_connect_timeout(Some(limits.connect_timeout));
        connector.enforce_http(true);
        Ok(Self(Arc::new(Clients {
            plain: connector,
            tls,
            connect_timeout: limits.connect_timeout,
            hosts: RwLock::new(Vec::new()),
            workers: Arc::default(),
            open: Arc::default(),
            max_idle: limits.upstream_max_connections,
            idle_timeout: limits.upstream_idle_timeout,
        })))
    }

    /// The same connectors, with pools of their own, for one worker thread of the server: an
    /// upstream connection is made, driven and reused on the thread of the requests it serves,
    /// and each worker reaps its own idle connections. The requests of all workers still share
    /// the slots of `--upstream-max-connections`, and a worker whose pool is empty takes
    /// another's idle connection only when all workers together have as many open as that
    /// ([`Workers`]), so all pools together never hold more connections than that.
    pub(crate) fn for_worker(&self) -> Self {
        let Clients { plain, tls, connect_timeout, workers, open, max_idle, idle_timeout, .. } =
            &*self.0;
        Self(Arc::new(Clients {
            plain: plain.clone(),
            tls: tls.clone(),
            connect_timeout: *connect_timeout,
            hosts: RwLock::new(Vec::new()),
            workers: Arc::clone(workers),
            open: Arc::clone(open),
            max_idle: *max_idle,
            idle_timeout: *idle_timeout,
        }))
    }

    /// Sends `request`, whose URI is absolute (`scheme://authority/path`), on an idle
    /// connection to its upstream or a new one; returns the response head with the connection,
    /// to be given back when the response body ends.
    ///
    /// The request goes out in origin form (the path and query), with a `Host` field of the
    /// upstream's authority when it has none; `has_host` says it has one, which spares a look-up
    /// (the proxy knows from its own walk over the request's fields).
    ///
    /// `now` is a reading of the clock taken as the request is sent, to tell how long the
    /// connection it takes was idle: the proxy reads it anyway for the response's deadline.
    ///
    /// # Errors
    ///
    /// See [`SendError`].
    ///
    /// The future is part of the proxy's, boxed for every forwarded request, and written by hand
    /// ([`Outgoing`]) so that it is small: the request's URI and its upstream's pool are settled
    /// before it is made ([`UpstreamClients::pool_of`]), and so is the send on an idle connection
    /// that is ready, the common case.
    pub(crate) fn send(
        &self,
        mut request: Request<RequestBody>,
        has_host: bool,
        now: Instant,
    ) -> impl Future<Output = Result<(Response<Incoming>, Pooled), SendError>> + Send + '_ {
        let step = match self.pool_of(&mut request, has_host) {
            Ok(host) => self.start(host, now, request, false, SendRequest::try_send_request),
            Err(error) => Step::Failed { error },
        };
        Outgoing { clients: self, now, try_send: SendRequest::try_send_request, step }
    }

    /// The first step of sending `request` to `host`: on the most recently returned idle
    /// connection unless `fresh_only`, else on a new one.
    fn start<S, F>(
        &self,
        host: Arc<Host>,
        now: Instant,
        request: Request<RequestBody>,
        fresh_only: bool,
        try_send: S,
    ) -> Step<F>
    where
        S: FnOnce(&mut SendRequest<RequestBody>, Request<RequestBody>) -> F,
    {
        let checkout = host.try_checkout(now, fresh_only);
        self.proceed(host, checkout, request, fresh_only, try_send)
    }

    /// The step after `checkout` found `host` a connection for `request`, or none.
    fn proceed<S, F>(
        &self,
        host: Arc<Host>,
        checkout: Checkout,
        request: Request<RequestBody>,
        fresh_only: bool,
        try_send: S,
    ) -> Step<F>
    where
        S: FnOnce(&mut SendRequest<RequestBody>, Request<RequestBody>) -> F,
    {
        match checkout {
            Checkout::Idle(connection, idle_for) => {
                send_on(host, connection, Some(idle_for), request, try_send)
            }
            Checkout::Open(counted) => {
                Step::Connecting { connecting: self.connect(&host, counted), host, request }
            }
            Checkout::Full => {
                Step::Waiting { room: Box::pin(wait_for_room(host, fresh_only)), request }
            }
        }
    }

    /// The pool of `request`'s upstream, its URI made the origin form it goes out in (RFC
    /// 9112 section 3.2.1), and its `Host` the upstream's authority when it has none (looked
    /// for unless `has_host`).
    fn pool_of(
        &self,
        request: &mut Request<RequestBody>,
        has_host: bool,
    ) -> Result<Arc<Host>, SendError> {
        let uri = std::mem::take(request.uri_mut());
        let https = uri.scheme() == Some(&Scheme::HTTPS);
        if https && self.0.tls.is_none() {
            return Err(SendError::NoTlsClient);
        }
        let Some(authority) = uri.authority() else {
            return Err(SendError::Connect("the upstream URI has no authority".into()));
        };
        let host = self.host(https, authority);
        if !has_host
            && !request.headers().contains_key(http::header::HOST)
            && let Ok(value) = http::HeaderValue::from_str(authority.as_str())
        {
            request.headers_mut().insert(http::header::HOST, value);
        }
        *request.uri_mut() = origin_form(&uri);
        Ok(host)
    }

    /// The pool of `scheme://authority`, made on first use.
    fn host(&self, https: bool, authority: &Authority) -> Arc<Host> {
        let same = |host: &&Arc<Host>| host.is_for(https, authority);
        if let Some(host) =
            self.0.hosts.read().unwrap_or_else(PoisonError::into_inner).iter().find(same)
        {
            return Arc::clone(host);
        }
        let mut hosts = self.0.hosts.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(host) = hosts.iter().find(same) {
            return Arc::clone(host);
        }
        let mut workers = self.0.workers.0.lock().unwrap_or_else(PoisonError::into_inner);
        workers.retain(|pool| pool.strong_count() > 0);
        let host = Arc::new(Host {
            https,
            authority: authority.clone(),
            idle: Mutex::new(Vec::new()),
            max_idle: self.0.max_idle,
            idle_timeout: self.0.idle_timeout,
            open: Arc::clone(&self.0.open),
            workers: Arc::clone(&self.0.workers),
        });
        Host::start_reaper(&host);
        workers.push(Arc::downgrade(&host));
        drop(workers);
        hosts.push(Arc::clone(&host));
        host
    }

    /// A new connection to `host`, its connection task spawned, `counted` until it ends.
    ///
    /// Boxed: the connectors' futures (DNS, TCP, the TLS handshake) take some kilobytes, which
    /// every request's future would otherwise carry, and move, though few requests connect.
    /// The connectors read the scheme and authority of the URI they are given, made here so
    /// that the send's future does not carry the request's.
    fn connect(&self, host: &Host, counted: Counted) -> Connecting {
        let scheme = if host.https { Scheme::HTTPS } else { Scheme::HTTP };
        let uri = Uri::builder()
            .scheme(scheme)
            .authority(host.authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|error| SendError::Connect(error.into()));
        let uri = match uri {
            Ok(uri) => uri,
            Err(error) => return Box::pin(std::future::ready(Err(error))),
        };
        if host.https {
            let Some((tls, trust)) = &self.0.tls else {
                return Box::pin(std::future::ready(Err(SendError::NoTlsClient)));
            };
            let (connecting, timeout) =
                (handshake(tls.clone(), uri, TokioIo::new, counted), self.0.connect_timeout);
            let trust = Arc::clone(trust);
            Box::pin(async move {
                match tokio::time::timeout(timeout, connecting).await {
                    Ok(Err(SendError::Connect(error))) => {
                        // The handshake's error in words, when rustls's alone does not say.
                        let why = tls::explain_handshake(&*error, &trust);
                        Err(SendError::Connect(why.map_or(error, BoxError::from)))
                    }
                    Ok(connected) => connected,
                    Err(_) => Err(SendError::Connect(Box::new(ConnectTimedOut(timeout)))),
                }
            })
        } else {
            Box::pin(handshake(self.0.plain.clone(), uri, TokioIo::into_inner, counted))
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`UpstreamClients::send`].
    ///
    /// Written by hand, because an `async` block keeps what it captures for as long as it runs:
    /// as one, it held the request (336 bytes) beside hyper's send (352 bytes, which holds room
    /// for the request should the connection not take it), 856 bytes in all. Here the request
    /// waits for its connection in the same place as the send that takes it.
    struct Outgoing<'c, S, F> {
        clients: &'c UpstreamClients,
        // A reading of the clock as the request was sent (see [`UpstreamClients::send`]).
        now: Instant,
        // hyper's `SendRequest::try_send_request`, whose future has no name to write here.
        try_send: S,
        #[pin]
        step: Step<F>,
    }
}

pin_project_lite::pin_project! {
    /// Where an [`Outgoing`] request is; `F` is hyper's send.
    #[project = StepProjection]
    #[project_replace = StepTaken]
    enum Step<F> {
        // `request` waiting for room at `--upstream-max-connections` (finding F-DZ).
        Waiting { request: Request<RequestBody>, room: Room },
        // A new connection being made for `request`.
        Connecting { host: Arc<Host>, request: Request<RequestBody>, connecting: Connecting },
        // `request` waiting for `connection` to be ready, `idle_for` as long as it was idle
        // when reused (none when new).
        Readying {
            host: Arc<Host>,
            request: Request<RequestBody>,
            connection: Connection,
            idle_for: Option<Duration>,
        },
        // The request sent on `connection`, `resend` its copy if it may be sent once more.
        Sent {
            host: Arc<Host>,
            #[pin]
            response: F,
            connection: Connection,
            reused: bool,
            resend: Option<Box<Resend>>,
        },
        // Failed before any connection was taken.
        Failed { error: SendError },
        // Done: the answer was given.
        Done,
    }
}

/// Sends `request` on `connection` if it is ready (`SendRequest::is_ready`, as a connection
/// back in the pool is once hyper has seen the end of its last exchange), else waits for it.
fn send_on<S, F>(
    host: Arc<Host>,
    mut connection: Connection,
    idle_for: Option<Duration>,
    request: Request<RequestBody>,
    try_send: S,
) -> Step<F>
where
    S: FnOnce(&mut SendRequest<RequestBody>, Request<RequestBody>) -> F,
{
    if !connection.sender.is_ready() {
        return Step::Readying { host, request, connection, idle_for };
    }
    let resend = match idle_for {
        Some(idle_for) if idle_for >= RESEND_AFTER_IDLE => Resend::of(&request),
        _ => None,
    };
    if resend.is_some() {
        connection.heard.store(false, Ordering::Relaxed);
    }
    let response = try_send(&mut connection.sender, request);
    Step::Sent { host, response, connection, reused: idle_for.is_some(), resend }
}

impl<S, F> Future for Outgoing<'_, S, F>
where
    S: FnMut(&mut SendRequest<RequestBody>, Request<RequestBody>) -> F,
    F: Future<Output = Result<Response<Incoming>, TrySendError<Request<RequestBody>>>>,
{
    type Output = Result<(Response<Incoming>, Pooled), SendError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // A reused connection may have been closed by the upstream just as the request went
        // out; such a request, not written at all, is sent once more on a new connection, and
        // so is one written that may be sent twice (`Resend`).
        loop {
            // Each step is taken out (`project_replace`) once it is done with, to move its parts
            // on; the `else` arms, a step other than the one just matched, never run.
            let next = match this.step.as_mut().project() {
                StepProjection::Waiting { room, .. } => {
                    let (host, checkout) = std::task::ready!(room.as_mut().poll(cx));
                    let StepTaken::Waiting { request, .. } =
                        this.step.as_mut().project_replace(Step::Done)
                    else {
                        return Poll::Pending;
                    };
                    // Never `Full`: `fresh_only` (which only a `Full` checkout passes on) is moot.
                    this.clients.proceed(host, checkout, request, false, &mut *this.try_send)
                }
                StepProjection::Connecting { connecting, .. } => {
                    let connected = std::task::ready!(connecting.as_mut().poll(cx));
                    let StepTaken::Connecting { host, request, .. } =
                        this.step.as_mut().project_replace(Step::Done)
                    else {
                        return Poll::Pending;
                    };
                    match connected {
                        Ok(connection) => {
                            Step::Readying { host, request, connection, idle_for: None }
                        }
                        Err(error) => return Poll::Ready(Err(error)),
                    }
                }
                StepProjection::Readying { connection, .. } => {
                    let ready = std::task::ready!(connection.sender.poll_ready(cx));
                    let StepTaken::Readying { host, request, connection, idle_for } =
                        this.step.as_mut().project_replace(Step::Done)
                    else {
                        return Poll::Pending;
                    };
                    match (ready, idle_for) {
                        (Ok(()), _) => {
                            send_on(host, connection, idle_for, request, &mut *this.try_send)
                        }
                        // A returned connection that closed meanwhile is dropped for the next.
                        (Err(_), Some(_)) => {
                            this.clients.start(host, *this.now, request, false, &mut *this.try_send)
                        }
                        (Err(_), None) => {
                            return Poll::Ready(Err(SendError::Connect(
                                "the new upstream connection closed".into(),
                            )));
                        }
                    }
                }
                StepProjection::Sent { response, .. } => {
                    let response = std::task::ready!(response.poll(cx));
                    let StepTaken::Sent { host, connection, reused, resend, .. } =
                        this.step.as_mut().project_replace(Step::Done)
                    else {
                        return Poll::Pending;
                    };
                    match response {
                        Ok(response) => {
                            return Poll::Ready(Ok((response, Pooled { connection, host })));
                        }
                        Err(error) => match again(error, reused, resend, &connection.heard) {
                            Ok(request) => this.clients.start(
                                host,
                                *this.now,
                                request,
                                true,
                                &mut *this.try_send,
                            ),
                            Err(error) => return Poll::Ready(Err(error)),
                        },
                    }
                }
                StepProjection::Failed { .. } => {
                    let StepTaken::Failed { error } =
                        this.step.as_mut().project_replace(Step::Done)
                    else {
                        return Poll::Pending;
                    };
                    return Poll::Ready(Err(error));
                }
                // Polled again after its answer.
                StepProjection::Done => return Poll::Pending,
            };
            this.step.set(next);
        }
    }
}

/// The request to send once more, on a new connection, after it failed with `error` on a
/// connection (`reused` or new; `heard` from its I/O), or the error to answer with: a request not
/// written at all, or one written that may be sent twice (`resend`) and got no byte of a
/// response; never on a new connection. Out of line: few requests fail.
#[cold]
fn again(
    mut error: TrySendError<Request<RequestBody>>,
    reused: bool,
    resend: Option<Box<Resend>>,
    heard: &AtomicBool,
) -> Result<Request<RequestBody>, SendError> {
    match (error.take_message(), resend) {
        (Some(unsent), _) if reused => {
            tracing::debug!(
                error = %error.error(),
                "a reused upstream connection closed before the request was sent; sending it on \
                 a new connection"
            );
            telemetry::upstream_retried(UpstreamRetry::Unsent);
            Ok(unsent)
        }
        // The connection task reported the error after its last read: `heard` is up to date
        // (the report's channel orders the two).
        (None, Some(resend)) if closed_under(error.error()) && !heard.load(Ordering::Relaxed) => {
            tracing::debug!(
                error = %error.error(),
                "a reused upstream connection closed before any response to an idempotent \
                 request; sending it on a new connection"
            );
            telemetry::upstream_retried(UpstreamRetry::Unanswered);
            Ok(resend.into_request())
        }
        _ => Err(SendError::Request(error.into_error())),
    }
}

/// A request's wait for room at the limit ([`wait_for_room`]), which gives back the request's
/// upstream with the checkout that found room; boxed, as few requests wait.
type Room = Pin<Box<dyn Future<Output = (Arc<Host>, Checkout)> + Send>>;

/// A connection being made.
type Connecting = Pin<Box<dyn Future<Output = Result<Connection, SendError>> + Send>>;

/// Connects with `connector` to `uri`'s upstream and starts an HTTP/1.1 connection on it, whose
/// task runs until the connection closes (upgrades allowed, for tunnels); its socket holds
/// `counted` until it closes, after the task for a tunnel.
///
/// `tokio` turns the connector's stream into tokio's I/O for [`Heard`]: a TCP stream is taken
/// out of hyper-util's adapter (`TokioIo::into_inner`), so that plain connections go through
/// no more adapters than before; a TLS stream is put in one (`TokioIo::new`).
async fn handshake<C, T>(
    mut connector: C,
    uri: Uri,
    tokio: fn(C::Response) -> T,
    counted: Counted,
) -> Result<Connection, SendError>
where
    C: Service<Uri>,
    C::Error: Into<BoxError>,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = connector.call(uri).await.map_err(|error| SendError::Connect(error.into()))?;
    let heard = Arc::new(AtomicBool::new(false));
    let io = Heard { io: tokio(io), answered: Arc::clone(&heard), unyielded: 0, _counted: counted };
    let io = TokioIo::new(io);
    let (sender, connection) = http1::Builder::new()
        .handshake(io)
        .await
        .map_err(|error| SendError::Connect(Box::new(error)))?;
    let answered = Arc::clone(&heard);
    tokio::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            if let Some(why) = refusal(&error, answered.load(Ordering::Relaxed)) {
                tracing::warn!("the upstream closed the connection: {why}");
            } else {
                tracing::debug!(%error, "upstream connection closed");
            }
        }
    });
    Ok(Connection { sender, heard, lent_by: None })
}

/// What to tell at warn level of an upstream connection that `error` ended: an https upstream
/// that refused the gateway after the handshake (TLS 1.3's `certificate_required`), whose
/// request then fails as a closed connection, so the reason is told here. `None` when the
/// upstream had `answered` on the connection (see [`Heard`]): it did not refuse the gateway, and
/// an upstream that ends each connection with such an alert after its response must not log a
/// warning, and a wrong hint, for every request (finding F-BV).
fn refusal(error: &(dyn std::error::Error + 'static), answered: bool) -> Option<String> {
    if answered {
        return None;
    }
    tls::explain_closed_connection(error)
}

/// The copy of a request's head kept to send it once more, on a new connection, should the
/// reused connection it went out on close before any byte of the response.
///
/// Kept only for a request that may be sent twice: an idempotent method (RFC 9110 section
/// 9.2.2), so that the upstream acting twice on it, should it have acted on the first, has the
/// effect of once; and no body, since a body is streamed from the client to the upstream and
/// not kept (nginx likewise resends a request it sent only when its body was buffered: see
/// `ngx_http_upstream_next`, which also refuses POST, LOCK and PATCH once sent). The request's
/// extensions are not copied: hyper's HTTP/1.1 client reads none of them.
#[derive(Debug)]
struct Resend {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
}

impl Resend {
    /// The copy of `request`'s head, when it may be sent twice.
    ///
    /// Boxed: the send's future holds it across the send, and every request's future would
    /// otherwise carry its couple of hundred bytes, though few requests keep a copy; out of
    /// line for the same reason.
    #[cold]
    fn of(request: &Request<RequestBody>) -> Option<Box<Self>> {
        (is_idempotent(request.method()) && request.body().is_end_stream()).then(|| {
            Box::new(Self {
                method: request.method().clone(),
                uri: request.uri().clone(),
                version: request.version(),
                headers: request.headers().clone(),
            })
        })
    }

    /// The request again, without a body.
    fn into_request(self: Box<Self>) -> Request<RequestBody> {
        let mut request = Request::new(RequestBody::empty());
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers;
        request
    }
}

/// Whether `method` is idempotent: those RFC 9110 defines as such (section 9.2.2), the safe
/// ones and PUT and DELETE. An extension method is not, as nothing says what it does.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Whether a request failed because its connection was closed under it: the upstream closed it
/// (hyper read the end of the stream where a response was due) or reset it (when the upstream
/// closed with the request unread, or the write found the connection gone). Not a timeout, a
/// malformed response, or a refused request body.
fn closed_under(error: &hyper::Error) -> bool {
    if error.is_incomplete_message() {
        return true;
    }
    crate::proxy::find_cause::<io::Error>(error).is_some_and(|io| {
        matches!(
            io.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
        )
    })
}

/// How many bytes an upstream connection's task reads before it goes back to the runtime
/// (finding F-DU): once a run of reads without a `Pending` brought this much, the next read of
/// [`Heard`] returns `Pending` (and has the task polled again).
///
/// hyper's client parses every head a read brought before it reads again, and skips `100`
/// heads without end; tokio lets a task make 128 reads a poll. An upstream that sends `100`
/// heads without end then kept one poll of its connection's task, which hyper offers up to
/// about 400 KiB a read, running for hundreds of milliseconds, and every other connection of
/// the worker (a current-thread runtime) waited. A poll now reads this much and at most one
/// read more (what hyper offers, up to its ~400 KiB): a few milliseconds of such heads.
/// Reads are not cut to the allowance: a cut read's buffer must be zeroed first without
/// `unsafe` (hyper's never is), which cost a large download a tenth to a half more of the
/// gateway's CPU (measured at 256 KiB and 64 KiB, F-DU in docs/robustness.md).
const READ_ALLOWANCE: usize = 64 * 1024;

/// An upstream connection's I/O, which notes in `answered` that its upstream sent something: a
/// request is resent only when no byte of its response came back ([`Resend`]), which hyper's
/// errors do not tell (a connection closed after part of a response head fails as one closed
/// before any). It also bounds what the connection's task reads before it goes back to the
/// runtime: once reads brought [`READ_ALLOWANCE`] since the last `Pending`, the next read wakes
/// the task and returns `Pending`; a `Pending` of the stream itself starts the count again.
///
/// Hand-written, as no crate observes reads; at tokio's level, inside hyper-util's adapter,
/// because tokio's `ReadBuf` tells how much a read filled without `unsafe`, which hyper's
/// `ReadBufCursor` does not. Above TLS, so that the TLS records of a connection's close
/// (`close_notify`) do not count. Per read, two comparisons and, when bytes came, one store
/// and one addition.
#[derive(Debug)]
struct Heard<I> {
    io: I,
    answered: Arc<AtomicBool>,
    /// Bytes read since a read last returned `Pending`.
    unyielded: usize,
    /// The socket's place in its upstream's open connections, given up when it closes.
    _counted: Counted,
}

impl<I: AsyncRead + Unpin> AsyncRead for Heard<I> {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.unyielded >= READ_ALLOWANCE {
            this.unyielded = 0;
            return yield_to_runtime(cx);
        }
        let (answered, unyielded) = (&this.answered, &mut this.unyielded);
        let read = read_noticing(&mut this.io, cx, buf, |n| {
            answered.store(true, Ordering::Relaxed);
            *unyielded = unyielded.saturating_add(n);
        });
        if read.is_pending() {
            this.unyielded = 0;
        }
        read
    }
}

/// `Pending`, with the task to be woken once the runtime has polled its I/O driver:
/// `tokio::task::yield_now`'s first poll (outside a runtime, the task is woken at once).
///
/// Not `cx.waker().wake_by_ref()`: a task woken so goes back to the run queue, and a
/// current-thread runtime (a worker's) polls its I/O driver only when the queue is empty or
/// every 61 tasks: an upstream flooding `100` heads, always ready, then had the worker's other
/// connections wait for 61 of its polls (14 ms a request measured, against 0.3 ms).
#[cold]
fn yield_to_runtime(cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    // The first poll of `yield_now` hands the waker to the runtime and is always `Pending`;
    // the future may go then, as the runtime holds the waker.
    let _first = std::pin::pin!(tokio::task::yield_now()).poll(cx);
    Poll::Pending
}

write_through!(Heard);

/// `uri` in origin form, as an HTTP/1.1 request line to an origin server carries it: its path
/// and query only (RFC 9112 section 3.2.1).
fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(path) if path.as_str() != "/" => {
            let mut parts = http::uri::Parts::default();
            parts.path_and_query = Some(path.clone());
            Uri::from_parts(parts).unwrap_or_default()
        }
        _ => Uri::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Limits;
    use http_body_util::BodyExt as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Reads a request head from `stream` (a GET's: nothing follows it); `false` when the
    /// stream ended or failed first.
    async fn read_head(stream: &mut tokio::net::TcpStream) -> bool {
        let mut head = Vec::new();
        let mut buffer = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
        true
    }

    /// An upstream that answers every request at once, keeping its connections alive; returns
    /// its authority and the count of connections it accepted.
    async fn counting_upstream() -> (Authority, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    while read_head(&mut stream).await {
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (authority, accepted)
    }

    /// A GET to `upstream` through `clients`, its connection given back once its body is read.
    async fn get(clients: &UpstreamClients, upstream: &Authority) {
        let request =
            Request::get(format!("http://{upstream}/")).body(RequestBody::empty()).unwrap();
        let (response, pooled) = clients.send(request, false, Instant::now()).await.unwrap();
        assert_eq!(response.into_body().collect().await.unwrap().to_bytes().as_ref(), b"ok");
        pooled.give_back();
    }

    /// How many idle connections to `upstream` the pool of `clients` holds.
    fn idle(clients: &UpstreamClients, upstream: &Authority) -> usize {
        clients.host(false, upstream).idle.lock().unwrap().len()
    }

    /// One request by worker A, then `on_b` by worker B, one at a time, to one upstream with
    /// `--upstream-max-connections` at `limit`: the connections the upstream accepted, and the
    /// idle ones in A's pool and in B's.
    async fn a_then_b(limit: usize, on_b: usize) -> (usize, usize, usize) {
        let (upstream, accepted) = counting_upstream().await;
        let clients = UpstreamClients::new(&Limits::for_tests(10, limit, limit), None).unwrap();
        let (a, b) = (clients.for_worker(), clients.for_worker());
        get(&a, &upstream).await;
        for _ in 0..on_b {
            get(&b, &upstream).await;
        }
        (accepted.load(Ordering::SeqCst), idle(&a, &upstream), idle(&b, &upstream))
    }

    /// A count of open connections at its type's largest value is taken for the limit, not
    /// overflowed: only another counting bug could leave one there, and the checkout must still
    /// answer rather than panic (a debug build's overflow check did).
    #[tokio::test]
    async fn a_count_at_its_largest_is_at_the_limit() {
        let clients = UpstreamClients::new(&Limits::for_tests(10, 2, 2), None).unwrap();
        let host = clients.host(false, &"127.0.0.1:9".parse().unwrap());
        host.open.count.store(usize::MAX, Ordering::Relaxed);
        let checkout = host.checkout(Instant::now());
        assert!(matches!(checkout, Checkout::Full), "no idle connection to take, no room");
        drop(checkout);
        assert_eq!(host.open.count.load(Ordering::Relaxed), usize::MAX, "not counted");
    }

    /// Two GETs at once to `upstream` through `clients`: each takes its connection as it is
    /// sent, in the first poll of both, before either answer came back.
    async fn two_at_once(clients: &UpstreamClients, upstream: &Authority) {
        tokio::join!(get(clients, upstream), get(clients, upstream));
    }

    /// Finding F-DX: `--upstream-max-connections` bounds the connections to all upstreams
    /// together, as it bounds the requests in flight to all of them and as the open-file
    /// budget counts them: two requests at once to one upstream on worker A, then two to
    /// another on worker B, left four connections open with a limit of two (each upstream kept
    /// its two idle). At the limit, a worker that must open one closes an idle connection to
    /// another upstream first, another worker's among them.
    #[tokio::test]
    async fn the_limit_bounds_the_connections_to_all_upstreams_together() {
        let ((first, _), (second, _)) = (counting_upstream().await, counting_upstream().await);
        let clients = UpstreamClients::new(&Limits::for_tests(10, 2, 2), None).unwrap();
        let (a, b) = (clients.for_worker(), clients.for_worker());
        two_at_once(&a, &first).await;
        assert_eq!(idle(&a, &first), 2);
        two_at_once(&b, &second).await;
        assert_eq!((idle(&a, &first), idle(&b, &second)), (0, 2), "idle to each upstream");
        // The closed connections' tasks end on their next turn.
        let open = Arc::clone(&b.host(false, &second).open);
        tokio::time::timeout(Duration::from_secs(5), async {
            while open.count.load(Ordering::Relaxed) > 2 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
        assert_eq!(open.count.load(Ordering::Relaxed), 2, "connections open to both upstreams");
    }

    /// A connection that could not be made, or whose request was dropped while it was made,
    /// is no longer counted among the open ones: an upstream that refuses connections (down),
    /// then one that accepts them and never answers the TLS handshake, whose requests' clients
    /// leave once the upstream has their connections; each on two workers. A count left up
    /// would have the workers borrow, or open past the limit, for good.
    #[tokio::test]
    async fn a_connection_refused_or_abandoned_while_made_is_uncounted() {
        let trust = UpstreamTrust::DangerouslyAcceptAny;
        let clients = UpstreamClients::new(&Limits::for_tests(10, 2, 2), Some(&trust)).unwrap();
        let workers = [clients.for_worker(), clients.for_worker()];
        let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_address = silent.local_addr().unwrap();
        let (accepted, mut accepts) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = silent.accept().await {
                let _held = accepted.send(stream);
            }
        });
        let request = |url: String| Request::get(url).body(RequestBody::empty()).unwrap();
        for worker in &workers {
            for _ in 0..3 {
                let sent = worker.send(request(format!("http://{down}/")), false, Instant::now());
                assert!(sent.await.unwrap_err().is_connect());
            }
            let url = format!("https://{silent_address}/");
            let sent = worker.send(request(url.clone()), false, Instant::now());
            let also = worker.send(request(url), false, Instant::now());
            tokio::select! {
                _ = async { tokio::join!(sent, also) } => panic!("the silent upstream answered"),
                _ = async { (accepts.recv().await, accepts.recv().await) } => {}
            }
        }
        let open = &clients.host(false, &down.to_string().parse().unwrap()).open;
        assert_eq!(open.count.load(Ordering::Relaxed), 0, "connections counted open");
    }

    /// Finding F-DV: a worker whose pool is empty, while fewer connections than
    /// `--upstream-max-connections` are open to the upstream, opens one of its own, driven on
    /// its thread, rather than borrowing another worker's (whose every request would then cross
    /// threads).
    #[tokio::test]
    async fn a_worker_under_the_limit_opens_its_own_upstream_connection() {
        assert_eq!(a_then_b(2, 2).await, (2, 1, 1));
    }

    /// Finding F-DV: at the limit, a worker whose pool is empty borrows another worker's idle
    /// connection for one request, and gives it back to that worker's pool, whose runtime drives
    /// it, not to its own.
    #[tokio::test]
    async fn a_borrowed_upstream_connection_goes_back_to_its_home_pool() {
        assert_eq!(a_then_b(1, 1).await, (1, 1, 0));
    }

    /// An upstream that switches every request to the protocol `echo` (`101`) and then sends
    /// back what it reads until the gateway closes; returns its authority.
    async fn upgrading_upstream() -> Authority {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if !read_head(&mut stream).await {
                        return;
                    }
                    let switch = b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\n\
                                   upgrade: echo\r\n\r\n";
                    if stream.write_all(switch).await.is_err() {
                        return;
                    }
                    let (mut reads, mut writes) = stream.split();
                    let _ended = tokio::io::copy(&mut reads, &mut writes).await;
                });
            }
        });
        authority
    }

    /// Finding F-DW: an upstream connection that became a tunnel (an HTTP/1.1 upgrade) is still
    /// open to the upstream, and counted in its open connections until the tunnel closes; it
    /// was uncounted as soon as hyper handed it over, so workers opened past
    /// `--upstream-max-connections` while tunnels were open.
    #[tokio::test]
    async fn a_tunnel_is_counted_as_open_until_it_closes() {
        let upstream = upgrading_upstream().await;
        let clients = UpstreamClients::new(&Limits::for_tests(10, 2, 2), None).unwrap();
        let request = Request::get(format!("http://{upstream}/"))
            .header(http::header::CONNECTION, "upgrade")
            .header(http::header::UPGRADE, "echo")
            .body(RequestBody::empty())
            .unwrap();
        let (mut response, pooled) = clients.send(request, false, Instant::now()).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
        let mut tunnel = TokioIo::new(hyper::upgrade::on(&mut response).await.unwrap());
        drop((response, pooled));
        // A round trip through the tunnel, which lets the connection's task end meanwhile.
        tunnel.write_all(b"ping").await.unwrap();
        let mut echoed = [0u8; 4];
        tunnel.read_exact(&mut echoed).await.unwrap();
        assert_eq!(&echoed, b"ping");
        let open = &clients.host(false, &upstream).open;
        assert_eq!(open.count.load(Ordering::Relaxed), 1, "the tunnel's connection is open");
        drop(tunnel);
        assert_eq!(open.count.load(Ordering::Relaxed), 0, "the tunnel closed");
    }

    /// Finding F-DZ: a request that finds as many connections open as
    /// `--upstream-max-connections`, one of them still closing (its request dropped, as at
    /// `--upstream-timeout`), waits for that one to close rather than open one past the limit;
    /// it opened one at once, and the upstream saw more connections than the limit (the chaos
    /// soak, `cargo xtask soak --chaos`). Then its answer comes on the new connection.
    #[tokio::test]
    async fn a_request_at_the_limit_waits_for_a_closing_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        let (heard, mut heads) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            // The first connection's request is never answered; the others' are.
            for answers in 0.. {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let heard = heard.clone();
                tokio::spawn(async move {
                    while read_head(&mut stream).await {
                        let _sent = heard.send(());
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if answers > 0 && stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let clients = UpstreamClients::new(&Limits::for_tests(10, 1, 1), None).unwrap();
        let get = || Request::get(format!("http://{upstream}/")).body(RequestBody::empty());
        let mut unanswered = Box::pin(clients.send(get().unwrap(), false, Instant::now()));
        tokio::select! {
            _ = &mut unanswered => panic!("the first request was answered"),
            _ = heads.recv() => {}
        }
        drop(unanswered);
        let open = Arc::clone(&clients.host(false, &upstream).open);
        assert_eq!(open.count.load(Ordering::SeqCst), 1, "the dropped one is still closing");
        let mut next = Box::pin(clients.send(get().unwrap(), false, Instant::now()));
        // Its first poll, before the closing connection's task has had a turn.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(next.as_mut().poll(&mut cx).is_pending());
        assert_eq!(open.count.load(Ordering::SeqCst), 1, "no connection opened past the limit");
        let (response, _pooled) =
            tokio::time::timeout(Duration::from_secs(5), next).await.unwrap().unwrap();
        assert_eq!(response.into_body().collect().await.unwrap().to_bytes().as_ref(), b"ok");
        assert_eq!(open.count.load(Ordering::SeqCst), 1, "the new connection, alone");
    }

    /// Finding F-BV: an alert that ends a connection on which the upstream answered is no
    /// refusal of the gateway, and is not told at warn level; one before any answer is.
    #[test]
    fn an_alert_after_an_answer_is_no_refusal() {
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        let error = io::Error::other(io::Error::new(io::ErrorKind::InvalidData, alert));
        assert_eq!(refusal(&error, true), None);
        let why = refusal(&error, false).unwrap();
        assert!(why.starts_with("the upstream refused the TLS handshake"), "{why}");
    }

    /// A stream that fills every read with all it is offered, without end, but returns
    /// `Pending` (without waking: it would when ready) when told to; notes what each read was
    /// offered.
    #[derive(Default)]
    struct Endless {
        pending_next: bool,
        offered: Vec<usize>,
    }

    impl AsyncRead for Endless {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            if std::mem::take(&mut this.pending_next) {
                return Poll::Pending;
            }
            this.offered.push(buf.remaining());
            buf.put_slice(&vec![b'1'; buf.remaining()]);
            Poll::Ready(Ok(()))
        }
    }

    /// Counts its wakes.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reads through [`Heard`], each into a buffer of its own of `size` bytes: how many bytes
    /// it brought, or `None` for `Pending`.
    fn read(heard: &mut Heard<Endless>, wakes: &Arc<Wakes>, size: usize) -> Option<usize> {
        let task = std::task::Waker::from(Arc::clone(wakes));
        let mut storage = vec![0; size];
        let mut buf = ReadBuf::new(&mut storage);
        match Pin::new(heard).poll_read(&mut Context::from_waker(&task), &mut buf) {
            Poll::Ready(result) => {
                result.unwrap();
                Some(buf.filled().len())
            }
            Poll::Pending => None,
        }
    }

    fn heard() -> (Heard<Endless>, Arc<Wakes>) {
        let counted = Counted(Arc::new(Open { count: AtomicUsize::new(1), ..Open::default() }));
        let heard = Heard {
            io: Endless::default(),
            answered: Arc::default(),
            unyielded: 0,
            _counted: counted,
        };
        (heard, Arc::default())
    }

    /// Finding F-DU: past [`READ_ALLOWANCE`] bytes, a read returns `Pending` having woken the
    /// task, so that the task goes back to the runtime and is polled again; the next poll
    /// reads on.
    #[test]
    fn reads_past_the_allowance_yield_to_the_runtime() {
        let (mut heard, wakes) = heard();
        let quarter = READ_ALLOWANCE / 4;
        for _ in 0..4 {
            assert_eq!(read(&mut heard, &wakes, quarter), Some(quarter));
        }
        assert!(heard.answered.load(Ordering::Relaxed));
        assert_eq!(wakes.0.load(Ordering::Relaxed), 0);
        assert_eq!(read(&mut heard, &wakes, quarter), None);
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1, "woken to be polled again");
        assert_eq!(heard.io.offered.len(), 4, "the stream was not read");
        for _ in 0..4 {
            assert_eq!(read(&mut heard, &wakes, quarter), Some(quarter));
        }
        assert_eq!(read(&mut heard, &wakes, quarter), None);
        assert_eq!(wakes.0.load(Ordering::Relaxed), 2);
    }

    /// Finding F-DU: a read is offered all that hyper offers (it is not cut to the allowance,
    /// which would zero the buffer first), and the read after it yields.
    #[test]
    fn a_read_past_the_allowance_is_whole_and_the_next_yields() {
        let (mut heard, wakes) = heard();
        assert_eq!(read(&mut heard, &wakes, 1000), Some(1000));
        assert_eq!(read(&mut heard, &wakes, 4 * READ_ALLOWANCE), Some(4 * READ_ALLOWANCE));
        assert_eq!(read(&mut heard, &wakes, 4 * READ_ALLOWANCE), None);
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1, "woken to be polled again");
        assert_eq!(heard.io.offered, [1000, 4 * READ_ALLOWANCE]);
    }

    /// Finding F-DU: the task that spent its allowance runs again only once the worker's
    /// runtime has polled its I/O driver, so that the worker's other connections are heard
    /// after one poll of it, not after the 61 a current-thread runtime makes between two
    /// polls of its driver when tasks are always ready. Counted in polls, not time.
    #[test]
    fn a_yield_lets_the_runtime_hear_other_connections_first() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
        let yields = runtime.block_on(async {
            let (other, peer) = tokio::net::UnixStream::pair().unwrap();
            peer.try_write(b"x").unwrap();
            let yields = Arc::new(AtomicUsize::new(0));
            let flood = tokio::spawn({
                let yields = Arc::clone(&yields);
                let (mut heard, _) = heard();
                let mut storage = vec![0; READ_ALLOWANCE];
                std::future::poll_fn(move |cx| {
                    loop {
                        let mut buf = ReadBuf::new(&mut storage);
                        if Pin::new(&mut heard).poll_read(cx, &mut buf).is_pending() {
                            yields.fetch_add(1, Ordering::Relaxed);
                            return Poll::<()>::Pending;
                        }
                    }
                })
            });
            tokio::spawn(async move { other.readable().await.unwrap() }).await.unwrap();
            flood.abort();
            yields.load(Ordering::Relaxed)
        });
        assert!(yields <= 3, "the other connection was heard after {yields} polls of the flood");
    }

    /// A `Pending` of the stream itself is a return to the runtime: the allowance starts
    /// again, and the read that comes next is not made to yield once more.
    #[test]
    fn a_pending_read_of_the_stream_starts_the_allowance_again() {
        let (mut heard, wakes) = heard();
        assert_eq!(read(&mut heard, &wakes, READ_ALLOWANCE - 1), Some(READ_ALLOWANCE - 1));
        heard.io.pending_next = true;
        assert_eq!(read(&mut heard, &wakes, 100), None);
        assert_eq!(wakes.0.load(Ordering::Relaxed), 0, "the stream wakes the task, not Heard");
        assert_eq!(read(&mut heard, &wakes, READ_ALLOWANCE), Some(READ_ALLOWANCE));
        assert_eq!(wakes.0.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn requests_go_upstream_in_origin_form() {
        for (absolute, expected) in [
            ("http://a.test:8080/api/x?y=1", "/api/x?y=1"),
            ("https://a.test/", "/"),
            ("http://a.test", "/"),
        ] {
            let uri: Uri = absolute.parse().unwrap();
            assert_eq!(origin_form(&uri).to_string(), expected, "{absolute}");
        }
    }
}
