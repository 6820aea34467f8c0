//! The listeners: accept connections (HTTP/1.1 and HTTP/2, in clear or over TLS), serve each
//! through the CORS layer and the proxy, and shut down gracefully.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, Instant};

use cors_hyper::{CorsBody, CorsLayer, ListenerScheme};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tower_layer::Layer;
use tower_service::Service;

use crate::connection::{self, Activity, Closed, Deadline, InFlight, Protocol, Stage, Tracked};
use crate::per_client::{self, PerClient};
use crate::pool::UpstreamClients;
use crate::proxy::{self, Kept, Peer, Proxy, ProxyBody, ProxySettings, ToUpstream, Upstream};
use crate::proxy_protocol::{self, Client};
use crate::telemetry::{ConnectionGuard, Observed, Observing, Telemetry};
use crate::throttle::Throttle;
use crate::{checks, commands, folder};

/// Connection-level limits and timeouts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// How long a new connection may take to deliver its first complete request head (both
    /// protocols), and a request head on a kept-alive HTTP/1.1 connection.
    pub(crate) header_read_timeout: Duration,
    /// How long a connection may stay without a request in progress before it is closed.
    pub(crate) idle_timeout: Duration,
    /// How long a client may take up no frame of a response before its connection is closed
    /// (zero: no limit; finding F-AX).
    pub(crate) send_timeout: Duration,
    /// How often an HTTP/2 connection that sends nothing is sent a PING (zero: never).
    pub(crate) keep_alive_interval: Duration,
    /// How long the client has to acknowledge that PING before the connection is closed.
    pub(crate) keep_alive_timeout: Duration,
    /// Most bytes of a request's header section; past it the answer is 431.
    pub(crate) max_header_bytes: usize,
    /// Most header fields in a request (HTTP/1.1); past it the answer is 431.
    pub(crate) max_headers: usize,
    /// Most client connections served at once (finding F2 in docs/robustness.md).
    pub(crate) max_connections: usize,
    /// Most of those one client may hold while more than half are in use (zero: no cap;
    /// finding F-AW, `per_client.rs`).
    pub(crate) max_connections_per_client: usize,
    /// How long to wait for in-flight requests after a shutdown signal.
    pub(crate) shutdown_timeout: Duration,
    /// How long to wait for a TCP connection to the upstream.
    pub(crate) connect_timeout: Duration,
    /// Most streams an HTTP/2 client may have open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub(crate) max_concurrent_streams: u32,
    /// How long the upstream has to start answering; past it the answer is 504.
    pub(crate) upstream_timeout: Duration,
    /// How long the upstream may send nothing of a response body being waited for (zero: no
    /// limit; finding F-BK).
    pub(crate) upstream_read_timeout: Duration,
    /// Most requests in flight to all upstreams together, and so most upstream connections.
    pub(crate) upstream_max_connections: usize,
    /// Most of those one client connection may hold (fairness between clients).
    pub(crate) upstream_max_per_connection: usize,
    /// How long an upstream connection may wait idle in the pool (zero: none is kept).
    pub(crate) upstream_idle_timeout: Duration,
    /// How long a request may wait for a free upstream slot; past it the answer is 503.
    pub(crate) upstream_queue_timeout: Duration,
    /// Most bytes of a request body; past it the answer is 413.
    pub(crate) max_request_body: u64,
    /// Time to receive a whole request body; past it the answer is 408.
    pub(crate) body_read_timeout: Duration,
    /// How long a tunnel (an upgraded connection) may carry no byte before it is closed.
    pub(crate) tunnel_idle_timeout: Duration,
}

#[cfg(test)]
impl Limits {
    /// Limits for unit tests: `clients` connections, `upstream` upstream slots (and
    /// connections), `share` of them per client connection, one second for every timeout.
    pub(crate) fn for_tests(clients: usize, upstream: usize, share: usize) -> Self {
        let second = Duration::from_secs(1);
        Self {
            header_read_timeout: second,
            idle_timeout: second,
            send_timeout: second,
            keep_alive_interval: second,
            keep_alive_timeout: second,
            max_header_bytes: 8192,
            max_headers: 100,
            max_connections: clients,
            max_connections_per_client: 0,
            shutdown_timeout: second,
            connect_timeout: second,
            max_concurrent_streams: 100,
            upstream_timeout: second,
            upstream_read_timeout: second,
            upstream_max_connections: upstream,
            upstream_max_per_connection: share,
            upstream_idle_timeout: second,
            upstream_queue_timeout: second,
            max_request_body: 1024,
            body_read_timeout: second,
            tunnel_idle_timeout: second,
        }
    }
}

/// The smallest header buffer hyper accepts (the command line refuses less).
const MIN_HEADER_BYTES: usize = 8192;

/// hyper's own limit on the fields of an HTTP/1.1 request head (its private
/// `DEFAULT_MAX_HEADERS`), which applies while none is set. Setting a limit makes hyper size and
/// fill two vectors of that many entries for every request head it parses, where its default
/// parses into fixed arrays, so the limit is set only when it differs.
const HYPER_MAX_HEADERS: usize = 100;

/// HTTP/2 streams a client may reset before the gateway has taken them up, per connection, before
/// it gets a GOAWAY (the h2 crate's default).
const MAX_PENDING_ACCEPT_RESETS: usize = 20;

/// HTTP/2 streams the gateway may reset for a client's stream errors, per connection, before the
/// client gets a GOAWAY (hyper's default).
const MAX_LOCAL_ERROR_RESETS: usize = 1024;

/// The most bytes of a response an HTTP/2 stream queues in h2 before hyper waits to hand it the
/// next part (hyper's `max_send_buf_size`; its default is 400 KiB): one DATA frame of h2's
/// default size. A stream queues at most this and one part more (128 KiB, see
/// `connection.rs`, `MAX_CHUNK`), whatever windows its client grants, and a response whose
/// bytes but the last fit this ends there, its upstream read whole and its slot freed, held
/// only by the socket watch of `--send-timeout`. With 400 KiB, a client that granted the
/// largest windows and read nothing held up to `--max-concurrent-streams` such responses,
/// about 57 MiB a connection (finding F-DD in docs/robustness.md); and h2 counts the queue in
/// bytes, not frames, so behind an upstream of 1-byte chunks a stream queued a frame per byte,
/// hundreds of bytes of memory each: 66 MB a stream at 128 KiB, 13 MB at this size, until
/// `connection.rs` gathered small chunks into frames of this size while the client's socket is
/// full (finding F-DE, `Gathering`). A fast client
/// is not slowed: the part handed past the queue and the kernel's 128 KiB
/// ([`NOT_SENT_LOW_WATER`]) keep the socket fed; no difference was measured (docs/robustness.md,
/// F-DE).
pub(crate) const MAX_SEND_BUFFER: usize = 16 * 1024;

/// The two protocol servers, configured once.
struct Protocols {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Protocols {
    fn new(limits: &Limits) -> Self {
        let mut http1 = http1::Builder::new();
        // `--header-read-timeout` is the connection driver's (`connection::drive`), with one
        // timer per connection, where hyper's boxes and registers one for every request.
        http1.header_read_timeout(None).max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BYTES));
        if limits.max_headers != HYPER_MAX_HEADERS {
            http1.max_headers(limits.max_headers);
        }
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(limits.max_concurrent_streams)
            // Against floods of streams that end before they cost the client anything (hostile
            // tests `http2_floods_get_goaway_with_enhance_your_calm`): a GOAWAY with
            // ENHANCE_YOUR_CALM once a client has reset 20 streams the gateway had not yet taken
            // up ("rapid reset", CVE-2023-44487), or made it reset 1 024 with stream errors
            // ("MadeYouReset", CVE-2025-8671). These are h2's and hyper's defaults, named so that
            // a dependency update cannot loosen them unseen.
            .max_pending_accept_reset_streams(MAX_PENDING_ACCEPT_RESETS)
            .max_local_error_reset_streams(MAX_LOCAL_ERROR_RESETS)
            .max_send_buf_size(MAX_SEND_BUFFER);
        if !limits.keep_alive_interval.is_zero() {
            http2
                .keep_alive_interval(limits.keep_alive_interval)
                .keep_alive_timeout(limits.keep_alive_timeout);
        }
        Self { http1, http2 }
    }
}

/// What one listener serves.
#[derive(Clone, Debug)]
pub(crate) enum Site {
    /// One policy in front of one upstream (`serve --config`, the demo); the layer knows the
    /// listener's scheme.
    Single { layer: CorsLayer, upstream: Arc<Upstream> },
    /// A listener of a Flex Local Mode folder (`serve --config-dir`): API instances by base
    /// path, each with its policy and routes.
    Folder(folder::Routes),
}

/// One listening address: its sockets, how it is reached and what it serves.
pub(crate) struct Endpoint {
    pub(crate) listeners: Listeners,
    /// The TLS configuration of an `https` listener.
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) site: Site,
    /// The scheme clients use to reach it (`https` behind a TLS terminator in front of a plain
    /// listener), for R2 and `Forwarded: proto=`.
    pub(crate) scheme: ListenerScheme,
    /// Whether each connection starts with a PROXY protocol header (`--proxy-protocol`).
    pub(crate) proxy_protocol: bool,
}

/// Whether the listening sockets of one address can be one per worker, the kernel spreading new
/// connections between them (`SO_REUSEPORT`). Linux only: other systems either hand every
/// connection to the last socket bound (macOS, the BSDs without `SO_REUSEPORT_LB`) or lack the
/// option, and their workers share one socket.
const SOCKET_PER_WORKER: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// The listening sockets of one address: one per worker (see [`SOCKET_PER_WORKER`]), or one
/// that every worker accepts from.
pub(crate) struct Listeners(Vec<std::net::TcpListener>);

impl Listeners {
    /// Binds `address` (`HOST:PORT`; the first of its resolved addresses that binds) for
    /// `workers` workers: the first socket, then, at the port it was given (so that port 0
    /// works), one more per worker.
    ///
    /// # Errors
    ///
    /// The address does not resolve or cannot be bound (see [`commands::cannot_listen`]).
    pub(crate) fn bind(address: &str, workers: NonZeroUsize) -> io::Result<Self> {
        let cannot = |error: io::Error| commands::cannot_listen(address, "", &error);
        let mut failed = None;
        for resolved in std::net::ToSocketAddrs::to_socket_addrs(address).map_err(cannot)? {
            match Self::bind_at(resolved, workers.get()) {
                Ok(listeners) => return Ok(listeners),
                Err(error) => failed = Some(error),
            }
        }
        Err(cannot(failed.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any address")
        })))
    }

    fn bind_at(address: SocketAddr, workers: usize) -> io::Result<Self> {
        if workers == 1 || !SOCKET_PER_WORKER {
            return Ok(Self(vec![listen(address, false)?]));
        }
        // Where any socket listens already, one bound without SO_REUSEPORT fails: without this
        // probe, a second gateway of the same user started on the port would join the first
        // one's sockets and take a share of its connections, where it is told the port is
        // taken.
        if address.port() != 0 {
            drop(socket(address, false)?);
        }
        let first = listen(address, true)?;
        let address = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..workers {
            listeners.push(listen(address, true)?);
        }
        Ok(Self(listeners))
    }

    /// The one listening socket of a listener bound elsewhere (the demo's).
    ///
    /// # Errors
    ///
    /// It cannot be taken out of its runtime.
    pub(crate) fn of(listener: TcpListener) -> io::Result<Self> {
        Ok(Self(vec![listener.into_std()?]))
    }

    /// The address the sockets listen on.
    ///
    /// # Errors
    ///
    /// The system cannot tell.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.first().ok_or_else(|| io::Error::other("no listening socket"))?.local_addr()
    }

    /// One socket for each of `workers` workers: its own, or a descriptor of the one socket.
    fn per_worker(self, workers: usize) -> io::Result<Vec<std::net::TcpListener>> {
        let Self(mut listeners) = self;
        while listeners.len() < workers {
            let shared =
                listeners.first().ok_or_else(|| io::Error::other("no listening socket"))?;
            let clone = shared.try_clone()?;
            listeners.push(clone);
        }
        Ok(listeners)
    }
}

/// A TCP socket for `address`, bound, with `SO_REUSEADDR` as tokio's `TcpListener::bind` sets it
/// (Unix), and `SO_REUSEPORT` when `reuse_port` (see [`SOCKET_PER_WORKER`]).
fn socket(address: SocketAddr, reuse_port: bool) -> io::Result<socket2::Socket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = reuse_port;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    Ok(socket)
}

/// A listening socket on `address` (see [`socket`]), with tokio's backlog of 1 024.
fn listen(address: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = socket(address, reuse_port)?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// What the connection tasks of one endpoint need.
struct EndpointShared {
    tls: Option<TlsAcceptor>,
    site: Site,
    scheme: ListenerScheme,
    proxy_protocol: bool,
}

/// Everything the connection tasks of one worker need: its own upstream pools, and what all
/// workers share.
struct Shared {
    protocols: Protocols,
    clients: UpstreamClients,
    settings: Arc<ProxySettings>,
    limits: Limits,
    telemetry: Telemetry,
    per_client: Arc<PerClient>,
}

/// How serving ends: on `signal` (SIGTERM, Ctrl-C), or on the failure of a worker (see
/// [`serve`]). `draining` is called once, when the gateway stops accepting, for either.
pub(crate) struct Ending<F, D> {
    /// Completes when the gateway is told to shut down.
    pub(crate) signal: F,
    /// Called when the gateway stops accepting (the admin listener's `/readyz` turns `503`).
    pub(crate) draining: D,
}

/// Serves every endpoint on `workers` threads until `ending`'s signal completes or a worker
/// fails, then stops accepting and waits (at most `limits.shutdown_timeout`) for the requests in
/// flight; returns once every worker's runtime is shut down, so that the connections the
/// timeout cut have written their access log lines. `--max-connections` bounds the client
/// connections of all endpoints and all workers together.
///
/// Each worker is an OS thread with a current-thread runtime and a listening socket of its own
/// for every endpoint (see [`Listeners`]); a connection is served, with its upstream
/// connections, on the thread that accepted it. What connections must share is shared across
/// threads: the connection slots, the per-client counts, the upstream slots of `settings`, the
/// telemetry, the policies and certificates reloads replace (held by `endpoints`' sites and TLS
/// configurations), and the shutdown. `serve` itself runs on the caller's runtime, which also
/// runs the signals, the reloaders and the admin listener.
///
/// A worker fails when one of its accept loops panics or ends before the shutdown, or when its
/// thread panics: a worker that no longer accepts must not leave a gateway that looks alive and
/// serves less, or nothing (see [`supervise`]). The gateway then shuts down as on the
/// signal, and `serve` returns the failure as its error, for a non-zero exit status.
///
/// # Errors
///
/// A worker's runtime, listener or thread cannot be made (the workers already started are
/// stopped), or a worker failed.
pub(crate) async fn serve(
    endpoints: Vec<Endpoint>,
    workers: NonZeroUsize,
    clients: &UpstreamClients,
    settings: Arc<ProxySettings>,
    limits: &Limits,
    telemetry: Telemetry,
    ending: Ending<impl Future<Output = ()>, impl FnOnce()>,
) -> io::Result<()> {
    let common = Common { settings, limits: *limits, telemetry };
    Serving::start(endpoints, workers, clients, common, accept_loop)?.until(ending).await
}

/// What every worker of [`serve`] shares, apart from the listeners and the upstream pools.
struct Common {
    settings: Arc<ProxySettings>,
    limits: Limits,
    telemetry: Telemetry,
}

/// Why a worker stopped accepting before the shutdown.
#[derive(Debug)]
struct Failure {
    worker: usize,
    /// The address of the listener whose accept loop ended; `None` when the worker's thread
    /// panicked, which ends all of them.
    listener: Option<SocketAddr>,
    what: &'static str,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self { worker, listener, what } = self;
        match listener {
            Some(listener) => write!(f, "worker {worker} stopped accepting on {listener}: {what}"),
            None => write!(f, "worker {worker} stopped accepting on every listener: {what}"),
        }
    }
}

/// Reports a worker's `failure`: logs it and tells [`Serving::until`].
fn report(failures: &mpsc::UnboundedSender<Failure>, failure: Failure) {
    tracing::error!(
        worker = failure.worker,
        listener = failure.listener.map(tracing::field::display),
        "{failure}; the gateway stops accepting, finishes the requests in flight and exits"
    );
    let _ = failures.send(failure);
}

/// Reports its worker's failure if its thread unwinds (a panic outside the accept loops, which
/// tokio does not catch), on the way out.
struct ThreadWatch {
    worker: usize,
    failures: mpsc::UnboundedSender<Failure>,
}

impl Drop for ThreadWatch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let failure =
                Failure { worker: self.worker, listener: None, what: "its thread panicked" };
            report(&self.failures, failure);
        }
    }
}

/// The workers of [`serve`], started, and what it holds to stop them.
struct Serving {
    limits: Limits,
    connection_slots: Arc<Semaphore>,
    /// Sending tells every connection task and tunnel to close.
    close_all: watch::Sender<bool>,
    stop_accepting: watch::Sender<bool>,
    /// Tells the workers to shut their runtimes down, cutting the connections left.
    cut: watch::Sender<bool>,
    /// Each worker holds a sender of `accepting` while it accepts, and one of `running` until
    /// its runtime is shut down: each receiver reads the end once every worker is past that
    /// point.
    accepting: mpsc::Receiver<Infallible>,
    running: mpsc::Receiver<Infallible>,
    failures: mpsc::UnboundedReceiver<Failure>,
}

impl Serving {
    /// Starts `workers` workers serving `endpoints`, each listener's connections accepted by
    /// `accept` ([`accept_loop`], or in a unit test one that fails).
    fn start<A, F>(
        endpoints: Vec<Endpoint>,
        workers: NonZeroUsize,
        clients: &UpstreamClients,
        common: Common,
        accept: A,
    ) -> io::Result<Self>
    where
        A: Fn(Listening) -> F + Clone + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let Common { settings, limits, telemetry } = common;
        let connection_slots = Arc::new(Semaphore::new(limits.max_connections));
        let per_client =
            Arc::new(PerClient::new(limits.max_connections_per_client, limits.max_connections));
        let (close_all, connections) = watch::channel(false);
        let (stop_accepting, stopped) = watch::channel(false);
        let (cut, cut_off) = watch::channel(false);
        let (accepting_held, accepting) = mpsc::channel::<Infallible>(1);
        let (running_held, running) = mpsc::channel::<Infallible>(1);
        let (failed, failures) = mpsc::unbounded_channel();
        let mut sockets = Vec::with_capacity(endpoints.len());
        for Endpoint { listeners, tls, site, scheme, proxy_protocol } in endpoints {
            let endpoint = Arc::new(EndpointShared { tls, site, scheme, proxy_protocol });
            sockets.push((listeners.per_worker(workers.get())?, endpoint));
        }
        let mut ready = Vec::with_capacity(workers.get());
        for worker in 0..workers.get() {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let mut acceptors = Vec::with_capacity(sockets.len());
            for (listeners, endpoint) in &mut sockets {
                let listener =
                    listeners.pop().ok_or_else(|| io::Error::other("no listener left"))?;
                // Registered with the worker's runtime, whose thread alone polls it.
                let listener = {
                    let _entered = runtime.enter();
                    TcpListener::from_std(listener)?
                };
                let acceptor = Acceptor::sharing(listener, Arc::clone(&connection_slots));
                acceptors.push((acceptor, Arc::clone(endpoint)));
            }
            let shared = Arc::new(Shared {
                protocols: Protocols::new(&limits),
                clients: clients.for_worker(),
                settings: Arc::clone(&settings),
                limits,
                telemetry,
                per_client: Arc::clone(&per_client),
            });
            let work = Worker {
                index: worker,
                acceptors,
                shared,
                connections: connections.clone(),
                stopped: stopped.clone(),
                accepting: accepting_held.clone(),
                cut: cut_off.clone(),
                failures: failed.clone(),
                accept: accept.clone(),
            };
            ready.push((runtime, work));
        }
        drop((connections, stopped, cut_off, accepting_held));
        for (runtime, work) in ready {
            let running = running_held.clone();
            let watch = ThreadWatch { worker: work.index, failures: failed.clone() };
            let thread =
                std::thread::Builder::new().name(format!("cors-gateway-worker-{}", work.index));
            // On an error, dropping the senders above stops the workers already started.
            thread.spawn(move || {
                let _watch = watch;
                runtime.block_on(work.run());
                // Drops the connections `--shutdown-timeout` left, on their own thread: each
                // writes its access log line as it is dropped.
                runtime.shutdown_timeout(Duration::from_secs(1));
                drop(running);
            })?;
        }
        Ok(Self {
            limits,
            connection_slots,
            close_all,
            stop_accepting,
            cut,
            accepting,
            running,
            failures,
        })
    }

    /// Serves until `ending`'s signal or a worker's failure, then shuts down: stops accepting,
    /// finishes the requests in flight for at most `--shutdown-timeout`, cuts the rest and waits
    /// for every worker's runtime to be shut down.
    async fn until(
        mut self,
        ending: Ending<impl Future<Output = ()>, impl FnOnce()>,
    ) -> io::Result<()> {
        let Ending { signal, draining } = ending;
        // A failure is sent before its worker's senders are dropped: `None` comes only once
        // every worker has ended, after the shutdown began.
        let failure = tokio::select! {
            () = signal => None,
            Some(failure) = self.failures.recv() => Some(failure),
        };
        draining();
        let _ = self.stop_accepting.send(true);
        while self.accepting.recv().await.is_some() {}
        let limits = self.limits;
        let open_connections = limits.max_connections - self.connection_slots.available_permits();
        tracing::info!(
            open_connections,
            "shutting down: no new connections, finishing requests in flight"
        );
        let _ = self.close_all.send(true);
        tokio::select! {
            () = self.close_all.closed() => tracing::info!("shut down cleanly"),
            () = tokio::time::sleep(limits.shutdown_timeout) => {
                tracing::warn!(timeout = ?limits.shutdown_timeout, "shutdown timed out; closing the remaining connections");
            }
        }
        let _ = self.cut.send(true);
        while self.running.recv().await.is_some() {}
        // A worker may also fail during the shutdown (a panic): the exit status says so too.
        match failure.or_else(|| self.failures.try_recv().ok()) {
            Some(failure) => Err(io::Error::other(failure.to_string())),
            None => Ok(()),
        }
    }
}

/// One worker thread's part of [`serve`]: its acceptors, one per endpoint, and what its
/// connections share; `accept` runs each acceptor's loop.
struct Worker<A> {
    /// Its number, from 0, named in the debug log of each connection it accepts.
    index: usize,
    acceptors: Vec<(Acceptor, Arc<EndpointShared>)>,
    shared: Arc<Shared>,
    connections: watch::Receiver<bool>,
    stopped: watch::Receiver<bool>,
    /// Dropped once the worker no longer accepts.
    accepting: mpsc::Sender<Infallible>,
    cut: watch::Receiver<bool>,
    failures: mpsc::UnboundedSender<Failure>,
    accept: A,
}

impl<A, F> Worker<A>
where
    A: Fn(Listening) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    /// Accepts on every endpoint until told to stop, then waits until told to cut the
    /// connections left (or until `serve` is gone).
    async fn run(self) {
        let Self {
            index,
            acceptors,
            shared,
            connections,
            stopped,
            accepting,
            mut cut,
            failures,
            accept,
        } = self;
        let mut accept_loops = tokio::task::JoinSet::new();
        let mut listeners = Vec::with_capacity(acceptors.len());
        for (acceptor, endpoint) in acceptors {
            let address = acceptor.listener.local_addr().ok();
            let listening = Listening {
                acceptor,
                endpoint,
                shared: Arc::clone(&shared),
                connections: connections.clone(),
                stop: stopped.clone(),
                worker: index,
            };
            let task = accept_loops.spawn(accept(listening));
            listeners.push((task.id(), address));
        }
        drop(connections);
        supervise(index, accept_loops, &listeners, &stopped, &failures).await;
        drop(accepting);
        let _ = cut.wait_for(|cut| *cut).await;
    }
}

/// Waits for the accept loops of worker `worker` to end, each known by its task's id in
/// `listeners` with its listener's address, and reports to `failures` each that panics or
/// ends before `stopped` turns true (or its sender, `serve`, is gone): tokio catches a task's
/// panic, and would otherwise leave the listener dropped and the gateway running without it.
async fn supervise(
    worker: usize,
    mut accept_loops: tokio::task::JoinSet<()>,
    listeners: &[(tokio::task::Id, Option<SocketAddr>)],
    stopped: &watch::Receiver<bool>,
    failures: &mpsc::UnboundedSender<Failure>,
) {
    while let Some(ended) = accept_loops.join_next_with_id().await {
        let (task, what) = match ended {
            Ok(_) if *stopped.borrow() || stopped.has_changed().is_err() => continue,
            Ok((task, ())) => (task, "its accept loop ended before the shutdown"),
            Err(error) if error.is_panic() => (error.id(), "its accept loop panicked"),
            Err(error) => (error.id(), "its accept loop was cancelled"),
        };
        let listener =
            listeners.iter().find(|(id, _)| *id == task).and_then(|(_, address)| *address);
        report(failures, Failure { worker, listener, what });
    }
}

/// One listener of one worker, as its accept loop takes it.
struct Listening {
    acceptor: Acceptor,
    endpoint: Arc<EndpointShared>,
    shared: Arc<Shared>,
    connections: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
    worker: usize,
}

/// Accepts the connections of one listener of worker `worker` until `stop` changes.
async fn accept_loop(listening: Listening) {
    let Listening { mut acceptor, endpoint, shared, connections, mut stop, worker } = listening;
    let stopped = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    let mut stopped = std::pin::pin!(stopped);
    while let Some((stream, peer, slot)) = acceptor.next(stopped.as_mut()).await {
        let mut connection = Accepted::new(
            &stream,
            peer,
            Arc::clone(&shared),
            Arc::clone(&endpoint),
            slot,
            connections.clone(),
        );
        tracing::debug!(peer = %connection.peer, worker, "accepted a connection");
        // Behind `--proxy-protocol`, the client is known once the header is read.
        if !connection.endpoint.proxy_protocol && !connection.admit() {
            continue;
        }
        // A plain connection's task is its `serve` future itself: one state machine fewer to
        // enter on each wake of the connection (measured: about 40 instructions per request).
        match (connection.endpoint.proxy_protocol, connection.endpoint.tls.clone()) {
            (false, None) => tokio::spawn(connection.serve(stream)),
            (false, Some(tls)) => tokio::spawn(connection.serve_tls(tls, stream)),
            (true, tls) => tokio::spawn(connection.serve_proxied(tls, stream)),
        };
    }
}

/// The most bytes a client connection keeps queued in the kernel and not yet sent
/// (`TCP_NOTSENT_LOWAT`; Linux): 128 KiB, the value Cloudflare and others run with.
pub(crate) const NOT_SENT_LOW_WATER: u32 = 128 * 1024;

/// Sets an accepted client socket's options: no Nagle delay, and at most
/// [`NOT_SENT_LOW_WATER`] bytes queued and not sent, so that the gateway writes a response in
/// steps of that size as the client takes it up. Without the cap, Linux wakes a writer whose
/// send buffer was full only once a third of it is free, and the buffer is autotuned up to
/// `net.ipv4.tcp_wmem`'s maximum (4 MiB by default): a slow but steady reader could then be
/// seen moving only every megabyte or so, and taken for a stalled one by `--send-timeout`
/// (finding F-BB). Failures are ignored: both are tuning, and the connection works without them.
fn tune(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = socket2::SockRef::from(stream).set_tcp_notsent_lowat(NOT_SENT_LOW_WATER);
}

/// An accepted connection, before its protocol is known.
struct Accepted {
    peer: SocketAddr,
    shared: Arc<Shared>,
    endpoint: Arc<EndpointShared>,
    /// Its slot of `--max-connections`, and its count against its client's
    /// `--max-connections-per-client` once [`Accepted::admit`] counted it.
    slot: per_client::Slot,
    /// Whether its client is a peer in `--trusted-proxies`: one that carries many clients, is
    /// not counted against its own share, and has its forwarding fields kept.
    trusted: bool,
    closing: watch::Receiver<bool>,
    deadline: Deadline,
    /// Counts the connection in the metrics until it closes.
    counted: ConnectionGuard,
}

impl Accepted {
    /// A connection just accepted from `peer` on `stream`; see `connection.rs` for its
    /// lifetime.
    fn new(
        stream: &TcpStream,
        peer: SocketAddr,
        shared: Arc<Shared>,
        endpoint: Arc<EndpointShared>,
        slot: OwnedSemaphorePermit,
        closing: watch::Receiver<bool>,
    ) -> Self {
        let counted = shared.telemetry.connection_opened();
        tune(stream);
        // The whole connection's budget for its first request head starts now (finding F-A):
        // the TLS handshake, the protocol detection and hyper's parsing of the head all run
        // under it.
        let deadline = Deadline::after(shared.limits.header_read_timeout);
        let slot = shared.per_client.slot(slot);
        let (peer, trusted) = (proxy::client_address(peer), shared.settings.trusts(peer.ip()));
        Self { peer, shared, endpoint, slot, trusted, closing, deadline, counted }
    }

    /// Counts the connection against its client's `--max-connections-per-client` (finding F-AW),
    /// or closes it: `false` when the client already holds its share while the gateway is more
    /// than half full. A peer in `--trusted-proxies` carries many clients and is not counted.
    fn admit(&mut self) -> bool {
        if self.trusted {
            return true;
        }
        if self.shared.per_client.admit(&mut self.slot, self.peer.ip()) {
            return true;
        }
        tracing::debug!(peer = %self.peer, "closed a connection past --max-connections-per-client");
        self.counted.closed(Closed::ClientLimit);
        false
    }

    /// Takes the client of a connection from a load balancer (`--proxy-protocol`, finding F-AI)
    /// from the PROXY protocol header it starts with, then serves it as [`Accepted::serve`] or
    /// [`Accepted::serve_tls`] would: the header's source address is the connection's client for
    /// everything that names it (the forwarding fields and whether they are kept, the access log,
    /// the logs). The header is read under the connection's deadline, before the TLS handshake.
    /// A client the header does not name (v1 `UNKNOWN`, v2 `AF_UNSPEC` or `AF_UNIX`) keeps the
    /// balancer's address, untrusted: its forwarding fields are replaced, and all such clients
    /// share one count against `--max-connections-per-client` (finding F-DB).
    /// A peer outside `--trusted-proxies`, and a header missing, malformed or over 4 KiB, get the
    /// connection closed without an answer: anything but a header from the balancer would be a
    /// client choosing the address it is taken for.
    async fn serve_proxied(mut self, tls: Option<TlsAcceptor>, stream: TcpStream) {
        let peer = self.peer;
        if !self.trusted {
            proxy_protocol::refused(peer, &"a peer outside --trusted-proxies");
            self.counted.closed(Closed::ProxyProtocol);
            return;
        }
        let deadline = self.deadline;
        let header = proxy_protocol::read_header(&stream);
        match deadline.run_unless_closing(&mut self.closing, header).await {
            Stage::Done(Ok(Client::At(client))) => {
                self.peer = proxy::client_address(client);
                self.trusted = self.shared.settings.trusts(client.ip());
            }
            Stage::Done(Ok(Client::Peer)) => {}
            // The balancer's address, for want of the client's, but not its trust (finding F-DB).
            Stage::Done(Ok(Client::Unnamed)) => self.trusted = false,
            Stage::Done(Err(error)) => {
                proxy_protocol::refused(peer, &error);
                self.counted.closed(Closed::ProxyProtocol);
                return;
            }
            Stage::TimedOut => {
                tracing::debug!(%peer, "closed a connection whose PROXY protocol header did not arrive in time");
                self.counted.closed(Closed::NoRequestHead);
                return;
            }
            Stage::ShutDown => {
                self.counted.closed(Closed::Shutdown);
                return;
            }
        }
        if !self.admit() {
            return;
        }
        match tls {
            None => self.serve(stream).await,
            Some(tls) => self.serve_tls(tls, stream).await,
        }
    }

    /// Completes the TLS handshake of `stream` under the connection's deadline, then serves it.
    /// A client that speaks plain HTTP instead gets `400` saying so (see [`refuse_plain_http`]).
    async fn serve_tls(mut self, tls: TlsAcceptor, mut stream: TcpStream) {
        let peer = self.peer;
        let telemetry = self.shared.telemetry;
        let handshake = async move {
            if sends_plain_http(&stream).await {
                refuse_plain_http(&mut stream, telemetry, peer).await;
                return None;
            }
            Some(tls.accept(stream).await)
        };
        let deadline = self.deadline;
        match deadline.run_unless_closing(&mut self.closing, handshake).await {
            Stage::Done(Some(Ok(stream))) => self.serve(stream).await,
            Stage::Done(Some(Err(error))) => tracing::debug!(%peer, %error, "TLS handshake failed"),
            Stage::Done(None) => {
                tracing::debug!(%peer, "answered 400 to plain HTTP on a TLS listener");
            }
            Stage::TimedOut => {
                tracing::debug!(%peer, "closed a connection whose TLS handshake did not finish in time");
                self.counted.closed(Closed::NoRequestHead);
            }
            Stage::ShutDown => self.counted.closed(Closed::Shutdown),
        }
    }

    /// Detects the protocol and serves the connection with its site's service.
    ///
    /// Generic over the stream, so that a plain connection's reads and writes go straight to
    /// its `TcpStream`, without a TLS-or-not branch.
    async fn serve<I>(self, stream: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Self { peer, shared, endpoint, slot, trusted, mut closing, deadline, counted } = self;
        let activity = Activity::new();
        let detection = connection::detect_protocol(stream, &activity);
        let (protocol, io) = match deadline.run_unless_closing(&mut closing, detection).await {
            Stage::Done(Ok(detected)) => detected,
            Stage::Done(Err(_)) | Stage::TimedOut => {
                tracing::debug!(%peer, "closed a connection that sent no request in time");
                counted.closed(Closed::NoRequestHead);
                return;
            }
            Stage::ShutDown => {
                counted.closed(Closed::Shutdown);
                return;
            }
        };
        let io = TokioIo::new(io);
        let limits = &shared.limits;
        let scheme = endpoint.scheme.as_str();
        let proxy = Proxy::new(
            shared.clients.clone(),
            Arc::clone(&shared.settings),
            Peer { address: peer, trusted },
            scheme,
            Kept { _slot: slot, counted },
            closing.clone(),
            shared.telemetry,
        );
        let served = Served {
            protocols: &shared.protocols,
            protocol,
            activity: &activity,
            deadline,
            max_headers: limits.max_headers,
            telemetry: shared.telemetry,
            peer,
        };
        let quiet = (limits.idle_timeout, limits.send_timeout);
        // Kept to say why the connection closed: `proxy` holds its count in the metrics.
        let connection = proxy.clone();
        let (closed, result) = match &endpoint.site {
            Site::Single { layer, upstream } => {
                let service = layer.layer(ToUpstream::new(proxy, Arc::clone(upstream)));
                served.run(io, service, quiet, &mut closing).await
            }
            Site::Folder(routes) => {
                let service = routes.service(proxy, endpoint.scheme);
                served.run(io, service, quiet, &mut closing).await
            }
        };
        match closed {
            Closed::NoRequestHead => {
                tracing::debug!(%peer, ?protocol, "closed a connection that sent no request in time");
            }
            Closed::Idle => tracing::debug!(%peer, ?protocol, "closed an idle connection"),
            Closed::Stalled => {
                tracing::debug!(%peer, ?protocol, "closed a connection whose client took up no response for --send-timeout");
            }
            Closed::Abandoning => {
                tracing::debug!(%peer, ?protocol, "closed a connection whose client abandoned most of its requests under way");
            }
            // The cut is logged where it happens (`ReadTimer`, `UpstreamBody`).
            Closed::UpstreamReadTimeout
            | Closed::UpstreamBodyFailed
            | Closed::ByClient
            | Closed::Shutdown
            | Closed::ProxyProtocol
            | Closed::ClientLimit
            | Closed::TunnelEnded
            | Closed::TunnelIdle => {}
        }
        connection.closed(closed);
        // Counted out with `connection`'s last clone: now, or once the tunnel it became closes.
        drop(connection);
        if let Err(error) = result {
            tracing::debug!(%peer, error = %error, "connection ended with an error");
        }
    }
}

/// Whether a client of a TLS listener opened with what looks like a plain HTTP request: a
/// letter, where a TLS record starts with its content type (22 for the `ClientHello`'s
/// handshake record) and an SSL 2 hello with a byte over 127. Peeked, so that the TLS handshake
/// reads the byte again.
async fn sends_plain_http(stream: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first).await, Ok(1) if first[0].is_ascii_alphabetic())
}

/// The answer to plain HTTP on a TLS listener: `400` with a text that says what happened, where
/// the TLS handshake's alert reads to an HTTP client as a broken answer (curl: "Received
/// HTTP/0.9 when not allowed"; finding F-Z in docs/robustness.md). nginx answers `400` "The
/// plain HTTP request was sent to HTTPS port" and Go's `net/http` `400` "Client sent an HTTP
/// request to an HTTPS server". The request's head is read first, for its access log line and
/// its count in the metrics as every other answer has (see [`read_plain_head`]). Then the write
/// side is closed and what the client sent is read and dropped until it closes too, for
/// [`connection::CLOSE_GRACE`] at most: closing a socket with unread bytes resets the
/// connection, and the client could lose the answer.
async fn refuse_plain_http(stream: &mut TcpStream, telemetry: Telemetry, peer: SocketAddr) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    const TEXT: &str = "bad request: this listener speaks TLS; use an https:// URL\n";
    let request = read_plain_head(stream).await;
    let exchange = telemetry.unserved_exchange(request.as_ref(), peer);
    // The answer to a `HEAD` has the text's length and not the text (finding F-CE).
    let head = request.as_ref().is_some_and(|request| request.method() == http::Method::HEAD);
    let text = if head { "" } else { TEXT };
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{text}",
        TEXT.len()
    );
    if stream.write_all(answer.as_bytes()).await.is_err() {
        return;
    }
    exchange.answered(http::StatusCode::BAD_REQUEST, text.len() as u64);
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut discarded = [0u8; 4096];
    let drain = async { while matches!(stream.read(&mut discarded).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(connection::CLOSE_GRACE, drain).await;
}

/// The most bytes of a plain HTTP request's head read before it is answered (see
/// [`read_plain_head`]): a request line and its fields as clients send them, far less than
/// hyper's limit for a head.
const PLAIN_HEAD_BYTES: usize = 8 * 1024;

/// Reads the head of a plain HTTP request on a TLS listener, until it is complete or invalid,
/// the client stops sending, or [`PLAIN_HEAD_BYTES`] came (under the connection's deadline for
/// its first head, as on a plain listener). What the access log line needs of it: its method,
/// target and version, and its `Origin` fields when the head is complete; `None` when it has no
/// valid request line. The rest of the head is not kept.
async fn read_plain_head(stream: &mut TcpStream) -> Option<Request<()>> {
    use tokio::io::AsyncReadExt as _;
    let mut head = vec![0u8; PLAIN_HEAD_BYTES];
    let mut filled = 0;
    while filled < head.len() {
        match stream.read(&mut head[filled..]).await {
            Ok(0) | Err(_) => break,
            Ok(read) => filled += read,
        }
        let mut fields = [httparse::EMPTY_HEADER; 64];
        if !matches!(httparse::Request::new(&mut fields).parse(&head[..filled]), Ok(s) if s.is_partial())
        {
            break;
        }
    }
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut fields);
    // The request line's parts stay set when its fields are incomplete or invalid.
    let complete = matches!(parsed.parse(&head[..filled]), Ok(s) if s.is_complete());
    let method = http::Method::from_bytes(parsed.method?.as_bytes()).ok()?;
    let version =
        if parsed.version? == 0 { http::Version::HTTP_10 } else { http::Version::HTTP_11 };
    let mut request = Request::builder().method(method).uri(parsed.path?).version(version);
    let origins =
        parsed.headers.iter().filter(|field| complete && field.name.eq_ignore_ascii_case("origin"));
    for origin in origins {
        if let Ok(value) = http::HeaderValue::from_bytes(origin.value) {
            request = request.header(http::header::ORIGIN, value);
        }
    }
    request.body(()).ok()
}

/// How a connection is served, once its protocol is known.
struct Served<'c> {
    protocols: &'c Protocols,
    protocol: Protocol,
    activity: &'c Arc<Activity>,
    deadline: Deadline,
    max_headers: usize,
    telemetry: Telemetry,
    peer: SocketAddr,
}

impl Served<'_> {
    /// Serves `io` with `service` behind the connection's [`Gate`], under the connection's
    /// driver (see [`connection::drive`]).
    async fn run<I, S>(
        self,
        io: TokioIo<I>,
        service: S,
        (idle, send): (Duration, Duration),
        closing: &mut watch::Receiver<bool>,
    ) -> (Closed, Result<(), hyper::Error>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        S: Service<Request<Incoming>, Response = Response<CorsBody<ProxyBody>>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let Self { protocols, protocol, activity, deadline, max_headers, telemetry, peer } = self;
        let service = Gate {
            service: RefCell::new(service),
            activity: Arc::clone(activity),
            max_headers,
            telemetry,
            peer,
        };
        match protocol {
            Protocol::Http1 => {
                let connection = protocols.http1.serve_connection(io, service).with_upgrades();
                connection::drive(connection, activity, deadline, idle, send, closing).await
            }
            Protocol::Http2 => {
                let connection = protocols.http2.serve_connection(io, service);
                connection::drive(connection, activity, deadline, idle, send, closing).await
            }
        }
    }
}

/// Accepts a listener's connections, each with a slot of a fixed number (finding F2 in
/// docs/robustness.md), backing off after failures (F-B).
pub(crate) struct Acceptor {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    backoff: AcceptBackoff,
}

impl Acceptor {
    /// Accepts from `listener`, at most `max_connections` held at once.
    pub(crate) fn new(listener: TcpListener, max_connections: usize) -> Self {
        Self::sharing(listener, Arc::new(Semaphore::new(max_connections)))
    }

    /// Accepts from `listener`, taking each connection's slot from `slots`, which other
    /// listeners may share (`--max-connections` bounds all the proxy listeners together).
    pub(crate) fn sharing(listener: TcpListener, slots: Arc<Semaphore>) -> Self {
        Self { listener, slots, backoff: AcceptBackoff::default() }
    }

    /// The next connection, with its slot (freed when dropped); `None` once `shutdown`
    /// completes.
    pub(crate) async fn next(
        &mut self,
        mut shutdown: Pin<&mut impl Future<Output = ()>>,
    ) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => {
                        self.backoff.succeeded();
                        accepted
                    }
                    Err(error) => {
                        // Typically out of file descriptors (EMFILE, ENFILE): the pending
                        // connection stays in the backlog, so retrying at once would spin.
                        let (pause, report) = self.backoff.failed(Instant::now());
                        if let Some(failures) = report {
                            tracing::warn!(
                                %error,
                                failures,
                                retry_in = ?pause,
                                listener = ?self.listener.local_addr().ok(),
                                "accept failed (out of file descriptors? see ulimit -n); \
                                 backing off, next report in 5 s at the earliest"
                            );
                        }
                        tokio::time::sleep(pause).await;
                        continue;
                    }
                },
                () = &mut shutdown => return None,
            };
            // Past the limit, the connection waits here, unserved, for a slot, and the next ones
            // in the kernel's listen backlog, not taking descriptors and memory here. Accepted
            // before its slot is taken, so that a slot freed goes to a listener with a
            // connection waiting: each worker has a listening socket, and a backlog, of its own
            // (`Listeners`), and a worker holding a slot while it waited for a connection of its
            // own would keep it from another's waiting in its backlog.
            let slot = match Arc::clone(&self.slots).try_acquire_owned() {
                Ok(slot) => slot,
                Err(TryAcquireError::Closed) => return None,
                Err(TryAcquireError::NoPermits) => tokio::select! {
                    slot = Arc::clone(&self.slots).acquire_owned() => slot.ok()?,
                    () = &mut shutdown => return None,
                },
            };
            return Some((stream, peer, slot));
        }
    }
}

/// How the accept loop backs off after failures: 10 ms, doubling up to 1 s while they last, and
/// one log line per 5 s at most, counting the failures since the previous line.
#[derive(Debug)]
struct AcceptBackoff {
    pause: Duration,
    reports: Throttle,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        Self { pause: Duration::ZERO, reports: Throttle::new(Self::REPORT_EVERY) }
    }
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const LONGEST: Duration = Duration::from_secs(1);
    const REPORT_EVERY: Duration = Duration::from_secs(5);

    /// Records a failure at `now`: how long to pause, and the failures to report, if it is time.
    fn failed(&mut self, now: Instant) -> (Duration, Option<u64>) {
        self.pause = (self.pause * 2).clamp(Self::FIRST, Self::LONGEST);
        (self.pause, self.reports.count(now))
    }

    /// Records a success: the next failure starts from the shortest pause.
    fn succeeded(&mut self) {
        self.pause = Duration::ZERO;
    }
}

/// The response body of the gateway: the CORS layer's over the proxy's, observed for the
/// telemetry and tracked per connection.
pub(crate) type GatewayBody = Tracked<Observed<CorsBody<ProxyBody>>>;

/// The service of one connection: counts each request in (see [`Activity`]) until its response
/// is sent, and refuses a request that breaks the rules of `checks.rs` before the CORS layer (for
/// example with 431 past `max_headers` fields: hyper enforces that limit itself for HTTP/1.1, and
/// this covers HTTP/2, where only the header list's size is bounded by the protocol settings).
/// `telemetry` observes each request from `peer` (metrics, access log).
///
/// A service and a future of its own rather than `service_fn` and an `async` block: hyper moves
/// each request's future into its place, and the `async` block's, which held the request, the
/// service and every future it awaited side by side, came to about 2 KB. Here the checks and the
/// call of the inner service happen in `call`, and the future holds only the inner future.
///
/// The inner service sits in a `RefCell` rather than being cloned for each request: tower's
/// `call` takes `&mut self` and hyper's `&self`, and a borrow that ends within `call` costs a
/// flag where a clone and its drop touched three reference counts (measured: about 40
/// instructions per request). Only a service that is not ready is cloned, to wait in the future.
struct Gate<S> {
    service: RefCell<S>,
    activity: Arc<Activity>,
    max_headers: usize,
    telemetry: Telemetry,
    peer: SocketAddr,
}

impl<S> hyper::service::Service<Request<Incoming>> for Gate<S>
where
    S: Service<Request<Incoming>, Response = Response<CorsBody<ProxyBody>>, Error = Infallible>
        + Clone,
{
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = Gated<S, S::Future>;

    // Each arm builds the whole future where it returns it: built around a `Work` chosen
    // first, the future, a few hundred bytes, was copied once more (measured: 39 instructions
    // per request).
    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let mut in_flight = self.activity.begin();
        if request.method() == http::Method::HEAD {
            in_flight.without_body();
        }
        if request.version() == http::Version::HTTP_2 {
            in_flight.end_apart();
        }
        let in_flight = Some(in_flight);
        let exchange = self.telemetry.exchange(&request, self.peer);
        if let Some(refusal) = checks::refusal(&request, self.max_headers) {
            return Gated { observing: exchange.observe(Work::Refused { refusal }), in_flight };
        }
        // No borrow outlives this call, and nothing in it calls back into the gate: the
        // borrow cannot fail.
        let mut service = self.service.borrow_mut();
        // The gateway's services are always ready: they are asked once here, without a
        // waker, and a service that is not is asked again by the future, with a clone of
        // its own and a waker.
        match service.poll_ready(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(())) => Gated {
                observing: exchange.observe(Work::Called { future: service.call(request) }),
                in_flight,
            },
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => {
                let waiting = Box::new((service.clone(), Some(request)));
                Gated { observing: exchange.observe(Work::Waiting { waiting }), in_flight }
            }
        }
    }
}

pin_project! {
    /// The handling of one request by the inner service `S`, whose future is `F`.
    #[project = WorkProj]
    enum Work<S, F> {
        /// Refused by `checks.rs`.
        Refused { refusal: checks::Refusal },
        /// Waiting for the inner service to be ready, with the request: boxed, so that the
        /// request's future, which hyper moves, is no larger than the inner future (the
        /// gateway's services are always ready).
        Waiting { waiting: Box<(S, Option<Request<Incoming>>)> },
        /// Handled by the inner service.
        Called { #[pin] future: F },
    }
}

impl<S> Future for Work<S, S::Future>
where
    S: Service<Request<Incoming>, Response = Response<CorsBody<ProxyBody>>, Error = Infallible>,
{
    type Output = Result<Response<CorsBody<ProxyBody>>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let future = match self.as_mut().project() {
                WorkProj::Called { future } => return future.poll(cx),
                WorkProj::Refused { refusal: (status, text) } => {
                    return Poll::Ready(Ok(proxy::short(*status, text).map(CorsBody::new)));
                }
                WorkProj::Waiting { waiting } => {
                    let (service, request) = &mut **waiting;
                    ready!(service.poll_ready(cx))?;
                    let request =
                        request.take().expect("invariant: a request is handed over only once");
                    service.call(request)
                }
            };
            self.set(Work::Called { future });
        }
    }
}

pin_project! {
    /// The future of [`Gate`]: the observed handling of one request, counted in until its
    /// response is sent. The response's body is wrapped once, for both (measured: 58
    /// instructions less per preflight than wrapping it in [`Observing`] and again here).
    struct Gated<S, F> {
        #[pin]
        observing: Observing<Work<S, F>>,
        in_flight: Option<InFlight>,
    }
}

impl<S> Future for Gated<S, S::Future>
where
    S: Service<Request<Incoming>, Response = Response<CorsBody<ProxyBody>>, Error = Infallible>,
{
    type Output = Result<Response<GatewayBody>, Infallible>;

    // Inlined into hyper's dispatcher, as it was before the checks of findings F-CE and F-CL
    // made it larger, and the response taken apart once rather than moved whole: called apart,
    // and the response moved three times, this cost about 250 instructions per preflight
    // (docs/performance.md, "What the gateway's defences cost").
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let (mut parts, body) = ready!(this.observing.as_mut().poll(cx))?.into_parts();
        let seen = this.observing.seen();
        let mut in_flight =
            this.in_flight.take().expect("invariant: a future is not polled after it completed");
        if body.is_local() || parts.extensions.get::<proxy::Local>().is_some() {
            in_flight.answered_locally();
        }
        if matches!(parts.status.as_u16(), 100..=199 | 204 | 304) {
            in_flight.without_body();
        } else if in_flight.is_bodiless() {
            // A response to `HEAD`.
            keep_the_length_of_a_head(&mut parts.headers, &body);
        }
        let body = Tracked::new(Observed::new(body, seen), in_flight);
        Poll::Ready(Ok(Response::from_parts(parts, body)))
    }
}

/// Gives the response to a `HEAD` (its `headers` and `body`) the `Content-Length` its body
/// would have had, when it has none: the field hyper's HTTP/1.1 server writes from the body's
/// size, and only from the body it is handed, where [`Tracked`] hands an empty one (finding
/// F-CE). `HEAD` answers on HTTP/2 so carry the field as on HTTP/1.1 (RFC 9110 section 9.3.2:
/// the fields a `GET` would have). Called apart, as `HEAD` is rare, to keep [`Gated`]'s poll
/// small.
#[inline(never)]
fn keep_the_length_of_a_head<B: http_body::Body>(headers: &mut http::HeaderMap, body: &B) {
    if headers.contains_key(http::header::CONTENT_LENGTH)
        || headers.contains_key(http::header::TRANSFER_ENCODING)
        || body.is_end_stream()
    {
        return;
    }
    if let Some(length) = body.size_hint().exact().filter(|&length| length > 0) {
        headers.insert(http::header::CONTENT_LENGTH, length.into());
    }
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when this is called,
/// before the listener is announced, so that a signal sent right after the announcement is
/// never missed.
#[cfg(unix)]
pub(crate) fn shutdown_signal() -> io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("received Ctrl-C"),
            _ = terminate.recv() => tracing::info!("received SIGTERM"),
        }
    })
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
pub(crate) fn shutdown_signal() -> io::Result<impl Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("received Ctrl-C");
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::sync::{Notify, oneshot};

    /// An upstream that takes one request, says so on the first channel, and answers `200 ok`
    /// once told on the second.
    async fn held_upstream() -> (SocketAddr, oneshot::Receiver<()>, oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (arrived, arrival) = oneshot::channel();
        let (answer, answering) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte).await.unwrap();
                head.push(byte[0]);
            }
            arrived.send(()).unwrap();
            answering.await.unwrap();
            stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.unwrap();
            // Held open, as an upstream keeps its connection.
            let _ = stream.read(&mut [0u8; 1]).await;
        });
        (address, arrival, answer)
    }

    /// A gateway's plain listener in front of `upstream`, for one worker.
    fn endpoint(upstream: SocketAddr) -> Endpoint {
        let policy = crate::demo::demo_policy().unwrap();
        let upstream = Arc::new(Upstream::parse(&format!("http://{upstream}")).unwrap());
        Endpoint {
            listeners: Listeners::bind("127.0.0.1:0", NonZeroUsize::MIN).unwrap(),
            tls: None,
            site: Site::Single { layer: CorsLayer::new(policy), upstream },
            scheme: ListenerScheme::Http,
            proxy_protocol: false,
        }
    }

    /// An accept loop that ends before the shutdown (it panics, or returns) makes the gateway
    /// fail, with one worker and two listeners: `/readyz` is told at once, the other listener
    /// stops accepting too, the request in flight there is answered, and `serve` returns the
    /// error naming the worker and the listener (`serve --workers 1` exits 1). Before, the
    /// failure was ignored and the gateway went on serving one listener and nothing on the
    /// other, until a signal.
    #[rstest::rstest]
    #[case::panics(true)]
    #[case::returns(false)]
    #[tokio::test]
    async fn an_accept_loop_that_ends_before_the_shutdown_shuts_the_gateway_down(
        #[case] panics: bool,
    ) {
        let (upstream, arrival, answer) = held_upstream().await;
        let mut limits = Limits::for_tests(10, 10, 10);
        // None of them is reached: the test waits for the events themselves.
        let long = Duration::from_mins(1);
        limits.header_read_timeout = long;
        limits.idle_timeout = long;
        limits.upstream_timeout = long;
        limits.shutdown_timeout = long;
        let clients = UpstreamClients::new(&limits, None).unwrap();
        let settings = ProxySettings::new(
            false,
            proxy::VIA_PSEUDONYM,
            proxy::TrustedProxies::default(),
            &limits,
        )
        .unwrap();
        let common = Common { settings: Arc::new(settings), limits, telemetry: Telemetry::off() };
        let (serving, failing) = (endpoint(upstream), endpoint(upstream));
        let serving_address = serving.listeners.local_addr().unwrap();
        let failing_address = failing.listeners.local_addr().unwrap();
        let fail = Arc::new(Notify::new());
        let failure = Arc::clone(&fail);
        let accept = move |listening: Listening| -> Pin<Box<dyn Future<Output = ()> + Send>> {
            if listening.acceptor.listener.local_addr().ok() != Some(failing_address) {
                return Box::pin(accept_loop(listening));
            }
            let failure = Arc::clone(&failure);
            Box::pin(async move {
                let _listening = listening;
                failure.notified().await;
                assert!(!panics, "an accept loop broke");
            })
        };
        let (drained, draining_seen) = oneshot::channel();
        let draining = move || drained.send(()).unwrap();
        let ending = Ending { signal: std::future::pending(), draining };
        let serving =
            Serving::start(vec![serving, failing], NonZeroUsize::MIN, &clients, common, accept);
        let mut served = std::pin::pin!(serving.unwrap().until(ending));
        let scenario = async {
            let mut client = TcpStream::connect(serving_address).await.unwrap();
            client.write_all(b"GET /x HTTP/1.1\r\nhost: api.example\r\n\r\n").await.unwrap();
            arrival.await.unwrap();
            fail.notify_one();
            // Bounded, so that a failure never seen fails the test rather than hang it.
            let seen = tokio::time::timeout(Duration::from_secs(10), draining_seen).await;
            seen.expect("the failure was not seen within 10 s").unwrap();
            answer.send(()).unwrap();
            let mut response = Vec::new();
            while !response.ends_with(b"\r\n\r\nok") {
                let mut part = [0u8; 1024];
                let read = client.read(&mut part).await.unwrap();
                assert!(read > 0, "{}", String::from_utf8_lossy(&response));
                response.extend_from_slice(&part[..read]);
            }
            String::from_utf8(response).unwrap()
        };
        let response = tokio::select! {
            result = &mut served => panic!("serve returned before the request in flight was answered: {result:?}"),
            response = scenario => response,
        };
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        let error = served.await.expect_err("a failure").to_string();
        let what = if panics { "panicked" } else { "ended before the shutdown" };
        assert_eq!(
            error,
            format!("worker 0 stopped accepting on {failing_address}: its accept loop {what}")
        );
        for address in [serving_address, failing_address] {
            assert!(TcpStream::connect(address).await.is_err(), "{address} still accepts");
        }
    }

    /// A worker's thread that panics (outside its accept loops, which tokio catches) is
    /// reported as it unwinds; one that ends is not.
    #[rstest::rstest]
    #[case::panics(true)]
    #[case::ends(false)]
    fn a_worker_thread_that_panics_is_reported(#[case] panics: bool) {
        let (failures, mut failed) = mpsc::unbounded_channel();
        let watch = ThreadWatch { worker: 3, failures };
        let thread = std::thread::spawn(move || {
            let _watch = watch;
            assert!(!panics, "a worker broke");
        });
        assert_eq!(thread.join().is_err(), panics);
        let reported = failed.try_recv().ok().map(|failure| failure.to_string());
        let expected = "worker 3 stopped accepting on every listener: its thread panicked";
        assert_eq!(reported.as_deref(), panics.then_some(expected));
    }

    /// Finding F-BB: an accepted client socket keeps at most 128 KiB queued and not sent, and
    /// sends without Nagle's delay.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[tokio::test]
    async fn accepted_sockets_are_tuned() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let (_client, (accepted, _)) = (client.unwrap(), accepted.unwrap());
        tune(&accepted);
        let socket = socket2::SockRef::from(&accepted);
        assert_eq!(socket.tcp_notsent_lowat().unwrap(), NOT_SENT_LOW_WATER);
        assert!(accepted.nodelay().unwrap());
    }

    #[test]
    fn failed_accepts_back_off_and_are_reported_once_per_period() {
        let mut backoff = AcceptBackoff::default();
        let start = Instant::now();
        let mut now = start;
        let mut pauses = Vec::new();
        let mut reports = Vec::new();
        // Seven seconds of failures, each retried after the pause it was given.
        while now.duration_since(start) < Duration::from_secs(7) {
            let (pause, report) = backoff.failed(now);
            pauses.push(pause);
            reports.extend(report.map(|failures| (now.duration_since(start), failures)));
            now += pause;
        }
        let ms = |n| Duration::from_millis(n);
        assert_eq!(pauses[..8], [10, 20, 40, 80, 160, 320, 640, 1000].map(ms));
        assert!(pauses[8..].iter().all(|&pause| pause == ms(1000)));
        // The first failure is reported at once, the next ones together after 5 s.
        assert_eq!(reports, [(Duration::ZERO, 1), (ms(5270), 11)]);
        // A success starts over from the shortest pause.
        backoff.succeeded();
        assert_eq!(backoff.failed(now).0, ms(10));
    }
}
