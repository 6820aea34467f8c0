//! The floor of `cargo xtask bench --load`: the least a reverse proxy built on hyper and tokio
//! (the gateway's stack) can do for the load test's traffic, to measure what that stack costs on
//! its own, as the no-op module does for Envoy.
//!
//! It does what the nginx baseline does (`xtask/templates/nginx-bench.conf.in`) and nothing
//! more: it answers `OPTIONS` itself with the same six static headers, and forwards every other
//! request unchanged to the upstream over one HTTP/1.1 connection per client connection (no
//! pool to look up, no timer, no limit, no log, no CORS decision), adding the same four static
//! headers to the response. None of the gateway's protections is here: it is a yardstick for
//! loopback benchmarks, never a server to run.
//!
//! Usage: `bench-hyper-proxy [--per-core | --workers N] UPSTREAM [ADDR]` (`ADDR` defaults to
//! `127.0.0.1:0`); prints `listening on http://ADDR` once bound (the convention `cargo xtask`
//! waits for). By default, like the gateway, one multi-threaded tokio runtime with a worker per
//! core; `--workers N` gives that runtime `N` workers instead. `--per-core` (issue 19's "a
//! current-thread runtime per core", `cargo xtask bench --load-only --floor-per-core`) runs one
//! OS thread per available core instead, each with a current-thread runtime and a listener of
//! its own bound to the same address with `SO_REUSEPORT`, so that the kernel spreads the
//! connections over the threads and each connection is served, with its upstream connection,
//! on the thread that accepted it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, HeaderMap,
    HeaderName, HeaderValue, VARY,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{Either, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Mutex;

/// The nginx baseline's headers on an allowed actual request's response.
static ACTUAL: [(HeaderName, HeaderValue); 4] = [
    field(ACCESS_CONTROL_ALLOW_ORIGIN, "https://app.example.com"),
    field(ACCESS_CONTROL_ALLOW_CREDENTIALS, "true"),
    field(ACCESS_CONTROL_EXPOSE_HEADERS, "x-request-id"),
    field(VARY, "Origin"),
];

/// The nginx baseline's headers on a preflight's answer.
static PREFLIGHT: [(HeaderName, HeaderValue); 6] = [
    field(ACCESS_CONTROL_ALLOW_ORIGIN, "https://app.example.com"),
    field(ACCESS_CONTROL_ALLOW_CREDENTIALS, "true"),
    field(ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, PUT"),
    field(ACCESS_CONTROL_ALLOW_HEADERS, "content-type, x-token"),
    field(ACCESS_CONTROL_MAX_AGE, "600"),
    field(VARY, "Origin"),
];

/// A static header field, built (and checked) at compile time, so that adding it to a response
/// only clones it, as nginx copies its configured bytes.
const fn field(name: HeaderName, value: &'static str) -> (HeaderName, HeaderValue) {
    (name, HeaderValue::from_static(value))
}

type Body = Either<Incoming, Empty<Bytes>>;
type Upstream = Arc<Mutex<SendRequest<Incoming>>>;

fn append_static(headers: &mut HeaderMap, fields: &[(HeaderName, HeaderValue)]) {
    for (name, value) in fields {
        headers.append(name.clone(), value.clone());
    }
}

/// Answers a preflight (no `upstream`), or forwards `request` over `upstream`.
async fn respond(
    upstream: Option<Upstream>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let Some(upstream) = upstream else {
        let mut response = Response::new(Either::Right(Empty::new()));
        append_static(response.headers_mut(), &PREFLIGHT);
        return Ok(response);
    };
    // One request at a time per client connection (HTTP/1.1), so the lock is never contended.
    let sent = {
        let mut sender = upstream.lock().await;
        match sender.ready().await {
            Ok(()) => Some(sender.send_request(request)),
            Err(_) => None,
        }
    };
    let response = match sent {
        Some(sent) => sent.await.ok(),
        None => None,
    };
    let Some(response) = response else {
        let mut response = Response::new(Either::Right(Empty::new()));
        *response.status_mut() = StatusCode::BAD_GATEWAY;
        return Ok(response);
    };
    let mut response = response.map(Either::Left);
    append_static(response.headers_mut(), &ACTUAL);
    Ok(response)
}

async fn serve(stream: TcpStream, upstream: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let Ok(to_upstream) = TcpStream::connect(upstream).await else { return };
    let _ = to_upstream.set_nodelay(true);
    let Ok((sender, connection)) =
        hyper::client::conn::http1::handshake::<_, Incoming>(TokioIo::new(to_upstream)).await
    else {
        return;
    };
    tokio::spawn(connection);
    let sender: Upstream = Arc::new(Mutex::new(sender));
    let service = service_fn(move |request: Request<Incoming>| {
        let upstream = (request.method() != Method::OPTIONS).then(|| Arc::clone(&sender));
        respond(upstream, request)
    });
    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
}

/// How the floor runs its connections.
enum Mode {
    /// One multi-threaded runtime, with `Some(N)` workers or one per core.
    Shared(Option<usize>),
    /// A current-thread runtime and a `SO_REUSEPORT` listener per core.
    PerCore,
}

const USAGE: &str = "usage: bench-hyper-proxy [--per-core | --workers N] UPSTREAM [ADDR]";

/// The mode, the upstream and the address to listen on, from the command line.
fn arguments() -> Result<(Mode, SocketAddr, String), Box<dyn std::error::Error>> {
    let mut mode = Mode::Shared(None);
    let mut positional = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--per-core" => mode = Mode::PerCore,
            "--workers" => {
                let workers: usize = args.next().ok_or(USAGE)?.parse()?;
                if workers == 0 {
                    return Err("--workers: at least 1".into());
                }
                mode = Mode::Shared(Some(workers));
            }
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    let upstream = positional.next().ok_or(USAGE)?.parse()?;
    let addr = positional.next().unwrap_or_else(|| "127.0.0.1:0".to_owned());
    if positional.next().is_some() {
        return Err(USAGE.into());
    }
    Ok((mode, upstream, addr))
}

/// Accepts connections on `listener` for ever, each served on a task of the current runtime.
async fn accept(listener: TcpListener, upstream: SocketAddr) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(serve(stream, upstream));
    }
}

/// A `SO_REUSEPORT` listener on `addr`, registered with the runtime entered.
fn reuseport_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    // tokio's own `TcpListener::bind` backlog.
    socket.listen(1024)
}

/// `--per-core`: a thread per available core, each with a current-thread runtime and its own
/// `SO_REUSEPORT` listener on the same address (the first one's, when `addr`'s port is 0).
fn per_core(upstream: SocketAddr, addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut addr: SocketAddr = addr.parse()?;
    let mut bound = Vec::with_capacity(cores);
    for _ in 0..cores {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let listener = {
            let _entered = runtime.enter();
            reuseport_listener(addr)?
        };
        addr = listener.local_addr()?;
        bound.push((runtime, listener));
    }
    // Announced once every listener is bound, so that no connection waits for a thread.
    cors_benches::announce(addr)?;
    let threads: Vec<_> = bound
        .into_iter()
        .map(|(runtime, listener)| {
            std::thread::spawn(move || runtime.block_on(accept(listener, upstream)))
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| "a per-core thread panicked")??;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mode, upstream, addr) = arguments()?;
    let workers = match mode {
        Mode::PerCore => return per_core(upstream, &addr),
        Mode::Shared(workers) => workers,
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        builder.worker_threads(workers);
    }
    let runtime = builder.enable_all().build()?;
    runtime.block_on(async {
        let listener = cors_benches::listen_announced(&addr).await?;
        accept(listener, upstream).await?;
        Ok(())
    })
}
