//! The listener: accepts connections (HTTP/1.1 and cleartext HTTP/2), serves each through the
//! CORS layer and the proxy, and shuts down gracefully.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use cors_hyper::{CorsBody, CorsLayer};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_layer::Layer;
use tower_service::Service;

use crate::proxy::{self, Proxy, ProxyBody, ProxySettings};

/// Connection-level limits and timeouts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// How long a client may take to send a request's header section (HTTP/1.1).
    pub(crate) header_read_timeout: Duration,
    /// Most bytes of a request's header section; past it the answer is 431.
    pub(crate) max_header_bytes: usize,
    /// Most header fields in a request (HTTP/1.1); past it the answer is 431.
    pub(crate) max_headers: usize,
    /// Most client connections served at once (finding F2 in docs/robustness.md).
    pub(crate) max_connections: usize,
    /// How long to wait for in-flight requests after a shutdown signal.
    pub(crate) shutdown_timeout: Duration,
    /// How long to wait for a TCP connection to the upstream.
    pub(crate) connect_timeout: Duration,
}

/// The smallest header buffer hyper accepts (the command line refuses less).
const MIN_HEADER_BYTES: usize = 8192;

fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BYTES));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// Serves `listener` until `shutdown` completes, then stops accepting and waits (at most
/// `limits.shutdown_timeout`) for the requests in flight.
pub(crate) async fn serve(
    listener: TcpListener,
    layer: CorsLayer,
    settings: Arc<ProxySettings>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let builder = builder(&limits);
    let client = proxy::client(limits.connect_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let connection_slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        // Accept only with a free slot: past the limit, new connections wait in the kernel's
        // listen backlog instead of taking descriptors and memory here.
        let slot = tokio::select! {
            slot = Arc::clone(&connection_slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Typically out of file descriptors: back off instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = layer.layer(Proxy::new(client.clone(), Arc::clone(&settings), peer));
                let service = limit_header_count(service, limits.max_headers);
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let first_byte_timeout = limits.header_read_timeout;
                tokio::spawn(async move {
                    let _slot = slot;
                    // The auto builder reads the first bytes (to tell HTTP/1.1 from HTTP/2) before
                    // hyper's header-read timer starts, so a client that never sends a byte would
                    // hold its connection, and a file descriptor, forever. The same limit applies
                    // to that silence (docs/robustness.md, finding F1).
                    // `peek` (unlike `readable`, which may wake spuriously) returns only once a
                    // byte is there, or 0 at end of stream.
                    let mut first = [0u8; 1];
                    if !matches!(
                        tokio::time::timeout(first_byte_timeout, stream.peek(&mut first)).await,
                        Ok(Ok(1..))
                    ) {
                        tracing::debug!(%peer, "closed a connection that sent nothing in time");
                        return;
                    }
                    let connection =
                        builder.serve_connection(TokioIo::new(stream), service).into_owned();
                    if let Err(error) = watcher.watch(connection).await {
                        tracing::debug!(%peer, error = %error, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let open = graceful.count();
    tracing::info!(
        open_connections = open,
        "shutting down: no new connections, finishing requests in flight"
    );
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("shut down cleanly"),
        () = tokio::time::sleep(limits.shutdown_timeout) => {
            tracing::warn!(timeout = ?limits.shutdown_timeout, "shutdown timed out; closing the remaining connections");
        }
    }
}

/// Answers 431 to a request with more than `max_headers` field lines, before the CORS layer.
///
/// hyper enforces the limit itself for HTTP/1.1; this covers HTTP/2, where only the header
/// list's size is bounded by the protocol settings.
fn limit_header_count<S>(
    service: S,
    max_headers: usize,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<CorsBody<ProxyBody>>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<CorsBody<ProxyBody>>, Infallible>> + Send,
> + Clone
where
    S: Service<Request<Incoming>, Response = Response<CorsBody<ProxyBody>>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut service = service.clone();
        async move {
            if request.headers().len() > max_headers {
                let answer = proxy::short(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "request header fields too large: too many fields\n",
                );
                return Ok(answer.map(CorsBody::new));
            }
            std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
            service.call(request).await
        }
    })
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
