//! The admin listener (`--admin-listen`): `GET /healthz`, `GET /readyz` and `GET /metrics`, on
//! an address of its own so that no path of the API is taken.
//!
//! It is bounded like the proxy listener, with its own small cap: at most
//! [`MAX_CONNECTIONS`] connections (further ones wait in the listen backlog), the proxy's
//! `--header-read-timeout` from accept to the request head and `--idle-timeout` between
//! requests, small header limits, HTTP/1.1 only. Every other path is `404`, every other method
//! `405`; what hyper cannot parse gets its `400` or a closed connection.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, OwnedSemaphorePermit, watch};

use crate::connection::{self, Activity, Deadline, Prefixed, Tracked};
use crate::metrics::{Metrics, OPENMETRICS_TEXT, PROMETHEUS_TEXT};
use crate::server::{Acceptor, Limits};

/// Most admin connections served at once: a scraper, a health checker and an operator's curl,
/// with room to spare, and never a share of the proxy's connections.
pub(crate) const MAX_CONNECTIONS: usize = 16;

/// The header limits of admin requests: scrapers and probes send a few short fields.
const MAX_HEADERS: usize = 32;
const MAX_HEADER_BYTES: usize = 8192;

/// What the admin listener serves.
#[derive(Debug)]
pub(crate) struct Admin {
    metrics: &'static Metrics,
    readiness: Readiness,
}

impl Admin {
    pub(crate) fn new(metrics: &'static Metrics, readiness: Readiness) -> Arc<Self> {
        Arc::new(Self { metrics, readiness })
    }

    /// From now on `/readyz` answers 503: the gateway is shutting down, load balancers should
    /// send new clients elsewhere while the requests in flight finish.
    pub(crate) fn drain(&self) {
        self.readiness.draining.store(true, Ordering::Relaxed);
    }
}

/// Whether the upstream can be reached, checked with one TCP connect at most once per interval.
///
/// A connect, rather than the proxy's recent successes, so that `/readyz` turns ready as soon
/// as the upstream comes up, before any client request has gone through, and turns unready
/// within one interval after it goes down even when no client is sending.
#[derive(Debug)]
pub(crate) struct Readiness {
    /// `host:port` of each upstream, as the proxy connects to it.
    targets: Vec<String>,
    timeout: Duration,
    interval: Duration,
    /// The last check and when it was made; the lock makes concurrent probes wait for one
    /// connect instead of each making their own.
    last: Mutex<Option<(Instant, Result<(), String>)>>,
    draining: AtomicBool,
}

impl Readiness {
    /// Checks every one of `targets` (`host:port`) with connects bounded by `timeout`, at most
    /// once per `interval`.
    pub(crate) fn new(targets: Vec<String>, timeout: Duration, interval: Duration) -> Self {
        let last = Mutex::new(None);
        Self { targets, timeout, interval, last, draining: AtomicBool::new(false) }
    }

    /// `Ok` when ready, else why not.
    async fn check(&self) -> Result<(), String> {
        if self.draining.load(Ordering::Relaxed) {
            return Err("shutting down".to_owned());
        }
        let mut last = self.last.lock().await;
        if let Some((at, result)) = &*last
            && at.elapsed() < self.interval
        {
            return result.clone();
        }
        let mut result = Ok(());
        for target in &self.targets {
            result = self.connect(target).await;
            if result.is_err() {
                break;
            }
        }
        *last = Some((Instant::now(), result.clone()));
        result
    }

    async fn connect(&self, target: &str) -> Result<(), String> {
        connect(target, self.timeout).await
    }
}

/// Whether one TCP connection to `target` opens within `timeout`: the check of `/readyz`, and
/// of [`warn_of_unreachable_upstreams`] at start.
async fn connect(target: &str, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, TcpStream::connect(target)).await {
        Ok(Ok(_connected)) => Ok(()),
        Ok(Err(error)) => Err(format!("upstream {target} unreachable: {error}")),
        Err(_) => Err(format!("upstream {target} unreachable: no connection within {timeout:?}")),
    }
}

/// Checks each of `targets` once, as `/readyz` does, and logs a warning for each that does not
/// accept a connection: the gateway starts all the same (an upstream may come up later), but
/// the operator learns at start, not at the first `502`. Run beside the gateway, so that a
/// silent upstream does not hold up the start for `--connect-timeout`. `readyz` tells whether
/// there is a `/readyz` to mention (`--admin-listen`).
pub(crate) fn warn_of_unreachable_upstreams(targets: Vec<String>, limits: &Limits, readyz: bool) {
    let timeout = limits.connect_timeout;
    let meanwhile = if readyz { " (/readyz says 503 meanwhile)" } else { "" };
    for target in targets {
        tokio::spawn(async move {
            if let Err(message) = connect(&target, timeout).await {
                tracing::warn!(
                    "{message}; requests to it get 502 until it accepts connections{meanwhile}"
                );
            }
        });
    }
}

/// The error when `admin` would share `proxy`'s address: the same port on the same address,
/// or on every address (`0.0.0.0`, `[::]`) on either side.
pub(crate) fn shares_address(admin: SocketAddr, proxy: SocketAddr) -> Option<String> {
    let same_port = admin.port() == proxy.port() && admin.port() != 0;
    let overlapping =
        admin.ip() == proxy.ip() || admin.ip().is_unspecified() || proxy.ip().is_unspecified();
    (same_port && overlapping).then(|| {
        format!(
            "the admin listener ({admin}) may not share the proxy listener's address ({proxy}): \
             its paths would take the API's (hint: another port, e.g. --admin-listen \
             127.0.0.1:9901)"
        )
    })
}

/// Serves the admin listener until `shutdown` completes.
pub(crate) async fn serve(
    listener: TcpListener,
    admin: Arc<Admin>,
    limits: Arc<Limits>,
    shutdown: impl Future<Output = ()>,
) {
    let mut http1 = http1::Builder::new();
    http1
        // `--header-read-timeout` is `connection::drive`'s, as on the proxy listener.
        .header_read_timeout(None)
        .max_headers(MAX_HEADERS)
        .max_buf_size(MAX_HEADER_BYTES);
    let http1 = Arc::new(http1);
    let (close_all, connections) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut acceptor = Acceptor::new(listener, MAX_CONNECTIONS);
    while let Some((stream, _peer, slot)) = acceptor.next(shutdown.as_mut()).await {
        let admin = Arc::clone(&admin);
        let http1 = Arc::clone(&http1);
        let limits = Arc::clone(&limits);
        tokio::spawn(connection_task(stream, admin, http1, limits, slot, connections.clone()));
    }
    let _ = close_all.send(true);
}

/// Serves one admin connection under the same deadline and idle rules as the proxy's.
async fn connection_task(
    stream: TcpStream,
    admin: Arc<Admin>,
    http1: Arc<http1::Builder>,
    limits: Arc<Limits>,
    slot: OwnedSemaphorePermit,
    mut closing: watch::Receiver<bool>,
) {
    let _slot = slot;
    let deadline = Deadline::after(limits.header_read_timeout);
    let activity = Activity::new();
    let tracked = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let in_flight = tracked.begin();
        let admin = Arc::clone(&admin);
        async move {
            let response = route(&admin, &request).await;
            Ok::<_, Infallible>(response.map(|body| Tracked::new(body, in_flight)))
        }
    });
    // Never upgraded (no answer is 101): `with_upgrades` only gives it the connection type
    // `connection::drive` knows, the proxy listener's.
    let io = TokioIo::new(Prefixed::new(stream, &activity));
    let connection = http1.serve_connection(io, service).with_upgrades();
    let (closed, result) = connection::drive(
        connection,
        &activity,
        deadline,
        limits.idle_timeout,
        limits.send_timeout,
        &mut closing,
    )
    .await;
    tracing::debug!(?closed, error = ?result.err(), "admin connection closed");
}

/// The answer to one admin request.
async fn route(admin: &Admin, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if !matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return text(
            StatusCode::NOT_FOUND,
            "not found: try /healthz, /readyz or /metrics\n".into(),
        );
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let mut response =
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed: use GET or HEAD\n".into());
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match path {
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => match admin.readiness.check().await {
            Ok(()) => {
                let policies = admin.metrics.policies();
                text(StatusCode::OK, format!("ready: {policies} loaded, upstream reachable\n"))
            }
            Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
        },
        _ => {
            let openmetrics = request.headers().get_all(header::ACCEPT).iter().any(|accept| {
                accept.to_str().is_ok_and(|a| a.contains("application/openmetrics-text"))
            });
            let body = admin.metrics.encode(openmetrics);
            let mut response = Response::new(Full::new(Bytes::from(body)));
            let kind = if openmetrics { OPENMETRICS_TEXT } else { PROMETHEUS_TEXT };
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            response
        }
    }
}

/// A plain-text answer that no cache keeps.
fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Binds the admin listener at `address`, refusing an address one of the proxy listeners
/// (`proxies`) is on.
///
/// # Errors
///
/// The address does not resolve, overlaps the proxy's, or cannot be bound.
pub(crate) async fn bind(address: &str, proxies: &[SocketAddr]) -> io::Result<TcpListener> {
    let resolved = tokio::net::lookup_host(address).await.map_err(|error| {
        io::Error::new(error.kind(), format!("cannot listen on {address} (admin): {error}"))
    })?;
    for candidate in resolved {
        if let Some(message) = proxies.iter().find_map(|&proxy| shares_address(candidate, proxy)) {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, message));
        }
    }
    TcpListener::bind(address)
        .await
        .map_err(|error| crate::commands::cannot_listen(address, " (admin)", &error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::same_address("127.0.0.1:8080", "127.0.0.1:8080", true)]
    #[case::admin_on_every_address("0.0.0.0:8080", "127.0.0.1:8080", true)]
    #[case::proxy_on_every_address("127.0.0.1:8080", "0.0.0.0:8080", true)]
    #[case::ipv6_every_address("[::]:8080", "127.0.0.1:8080", true)]
    #[case::other_port("127.0.0.1:9901", "127.0.0.1:8080", false)]
    #[case::other_address("127.0.0.2:8080", "127.0.0.1:8080", false)]
    #[case::any_free_port("127.0.0.1:0", "127.0.0.1:0", false)]
    fn the_admin_listener_never_shares_the_proxy_address(
        #[case] admin: &str,
        #[case] proxy: &str,
        #[case] refused: bool,
    ) {
        assert_eq!(
            shares_address(admin.parse().unwrap(), proxy.parse().unwrap()).is_some(),
            refused
        );
    }
}
