//! The loopback servers around the gateway: the upstream it forwards to, the tap in front of it,
//! and the server of the page the browser runs the cases from.
//!
//! ```text
//! page (http://localhost:P or http://127.0.0.1:P)
//!   --fetch()--> tap (http://localhost:T) --> cors-gateway (127.0.0.1:G) --> upstream (127.0.0.1:U)
//! ```
//! The gateway answers preflights itself (R3), so the upstream never sees them. The tap records
//! every request the browser sent, preflights included, and forwards it unchanged; the upstream
//! records what the gateway forwarded.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::Full;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::http::{bind_loopback, response, send, serve};

/// The page every case runs from; it defines `window.corsCase(spec)`.
pub const PAGE_HTML: &str = include_str!("page.html");

/// The path on the gateway's origin whose response sets the suite's cookie.
pub const SET_COOKIE_PATH: &str = "/set-cookie";
/// The cookie the upstream sets on a top-level navigation to [`SET_COOKIE_PATH`].
///
/// No `SameSite` attribute, so Chromium treats it as `SameSite=Lax`: it goes with credentialed
/// requests between `http://localhost` ports (same site: same scheme and host, ports ignored),
/// and never to `http://localhost` from `http://127.0.0.1` (another site). Checked by hand on
/// Chromium 156: `SameSite=None` without `Secure` is not stored at all; `SameSite=None; Secure`
/// is stored from `http://localhost` (a potentially trustworthy origin) but was not sent
/// cross-site from `http://127.0.0.1` either, so the default (Lax) cookie is the simplest one
/// whose behaviour is certain.
pub const COOKIE: &str = "bt_session=1";

/// The headers the upstream puts on every answer, as `(name, value)`; cases say which ones
/// JavaScript may read.
pub const UPSTREAM_HEADERS: &[(&str, &str)] = &[
    ("content-type", "text/plain; charset=utf-8"),
    ("cache-control", "no-store"),
    ("x-request-id", "rid-42"),
    ("x-total-count", "42"),
    ("x-public", "pub-1"),
    ("x-partner-id", "partner-7"),
    ("x-secret", "s3cret"),
];

/// Access-Control-* headers the upstream adds when the query asks for `upstream-cors`: the
/// gateway must replace them with its own decision (A4).
pub const UPSTREAM_CORS_HEADERS: &[(&str, &str)] = &[
    ("access-control-allow-origin", "http://upstream.invalid"),
    ("access-control-allow-credentials", "true"),
    ("access-control-expose-headers", "x-secret"),
];

/// The body the upstream answers a forwarded request with.
#[must_use]
pub fn upstream_body(method: &str, path: &str) -> String {
    format!("upstream saw {method} {path}")
}

/// One request as a server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The method, byte for byte (`patch` stays `patch`).
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The `Origin` header, if any.
    pub origin: Option<String>,
    /// The `Cookie` header, if any.
    pub cookie: Option<String>,
    /// The `Access-Control-Request-Method` header, if any.
    pub request_method: Option<String>,
    /// The `Access-Control-Request-Headers` header, if any.
    pub request_headers: Option<String>,
}

impl Seen {
    fn of(request: &Request<Bytes>) -> Seen {
        let header = |name: &str| header_text(request.headers(), name);
        Seen {
            method: request.method().as_str().to_owned(),
            path: request.uri().path().to_owned(),
            origin: header("origin"),
            cookie: header("cookie"),
            request_method: header("access-control-request-method"),
            request_headers: header("access-control-request-headers"),
        }
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    if values.is_empty() { None } else { Some(values.join(", ")) }
}

/// A shared, append-only record of requests.
#[derive(Debug, Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Seen>>>);

impl Log {
    fn push(&self, seen: Seen) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(seen);
    }

    /// Every recorded request for `path`, in arrival order.
    #[must_use]
    pub fn for_path(&self, path: &str) -> Vec<Seen> {
        let all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all.iter().filter(|seen| seen.path == path).cloned().collect()
    }
}

/// A running loopback server, stopped when dropped.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    log: Log,
    task: JoinHandle<()>,
}

impl Server {
    /// The address it listens on (always `127.0.0.1`).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The requests it received.
    #[must_use]
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// Serves `handler` on a fresh loopback port; `what` names the server in errors. Every
    /// request is recorded in the server's [`Log`] before `handler` answers it.
    async fn recording<F, Fut>(what: &str, handler: F) -> Result<Server, Error>
    where
        F: Fn(Request<Bytes>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let (listener, addr) = bind_loopback(what).await?;
        let log = Log::default();
        let record = log.clone();
        let task = serve(listener, move |request: Request<Bytes>| {
            record.push(Seen::of(&request));
            handler(request)
        });
        Ok(Server { addr, log, task })
    }

    /// The upstream: records each request and answers it with [`UPSTREAM_HEADERS`] and
    /// [`upstream_body`]; [`SET_COOKIE_PATH`] also sets [`COOKIE`].
    pub async fn upstream() -> Result<Server, Error> {
        Server::recording("the upstream", |request: Request<Bytes>| async move {
            let path = request.uri().path();
            if path == SET_COOKIE_PATH {
                let cookie = format!("{COOKIE}; Path=/");
                let headers = [("content-type", "text/html"), ("set-cookie", cookie.as_str())];
                return response(200, &headers, "<!doctype html><title>cookie set</title>");
            }
            let mut headers = UPSTREAM_HEADERS.to_vec();
            if request.uri().query().is_some_and(|q| q.contains("upstream-cors")) {
                headers.extend_from_slice(UPSTREAM_CORS_HEADERS);
            }
            response(200, &headers, upstream_body(request.method().as_str(), path))
        })
        .await
    }

    /// The tap: records each request and forwards it unchanged (same method, target and header
    /// lines, `Host` included) to `target`, answering with the target's response.
    pub async fn tap(target: SocketAddr) -> Result<Server, Error> {
        Server::recording("the tap", move |request| forward(target, request)).await
    }

    /// The page server: answers every path with [`PAGE_HTML`] (and the favicon with 204, so
    /// the browser logs no 404).
    pub async fn page() -> Result<Server, Error> {
        Server::recording("the page server", |request: Request<Bytes>| async move {
            if request.uri().path() == "/favicon.ico" {
                return response(204, &[], Bytes::new());
            }
            let headers =
                [("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store")];
            response(200, &headers, PAGE_HTML)
        })
        .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Hop-by-hop header names (RFC 9110 section 7.6.1) the tap does not copy: it re-frames bodies.
const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"];

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

async fn forward(target: SocketAddr, request: Request<Bytes>) -> Response<Full<Bytes>> {
    let (mut parts, body) = request.into_parts();
    remove_hop_by_hop(&mut parts.headers);
    let outgoing = Request::from_parts(parts, Full::new(body));
    match send(target, outgoing, Duration::from_secs(20)).await {
        Ok(answer) => {
            let (mut parts, body) = answer.into_parts();
            remove_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Full::new(body))
        }
        Err(error) => response(
            502,
            &[("content-type", "text/plain")],
            format!("browser-tests tap: {}", crate::error::chain(&error)),
        ),
    }
}
