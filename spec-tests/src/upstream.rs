//! The echo upstream: what a gateway under test forwards to.
//!
//! It answers every request with status `200` and a non-empty body, stamps the response with
//! [`STAMP`], adds `Vary: Accept-Encoding` (so cases can check that a gateway appends to `Vary`
//! rather than replacing it), and adds any header the request asks for through
//! [`SET_HEADER`] lines (so cases can check that a gateway replaces upstream `Access-Control-*`
//! headers, A4). It records the [`MARKER`] of every request it receives, so the runner can tell
//! forwarded requests from answered ones; `GET /__conformance/seen/MARKER` (sent to the upstream
//! directly, not through the gateway) returns how many requests carried that marker.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// The request header carrying the runner's per-request marker (`CASE-ID~NONCE`).
pub const MARKER: &str = "x-conformance-case";
/// The response header every upstream answer carries, value `1`.
pub const STAMP: &str = "x-conformance-upstream";
/// A request header `x-conformance-upstream-header: NAME: VALUE` asks the upstream to add the
/// response header line `NAME: VALUE`. It may repeat.
pub const SET_HEADER: &str = "x-conformance-upstream-header";
/// The `Vary` value every upstream answer carries.
pub const VARY: &str = "Accept-Encoding";
/// The body of every upstream answer.
pub const BODY: &[u8] = b"forwarded to the conformance upstream\n";
/// The path prefix of the upstream's own record endpoint.
pub const SEEN_PATH: &str = "/__conformance/seen/";

/// The upstream's answer to a request with these header lines.
#[must_use]
pub fn respond<'a>(
    request_headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(BODY));
    let headers = response.headers_mut();
    headers.insert(STAMP, HeaderValue::from_static("1"));
    headers.insert(http::header::VARY, HeaderValue::from_static(VARY));
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    for (name, value) in request_headers {
        if name.eq_ignore_ascii_case(SET_HEADER) {
            if let Some((n, v)) = parse_set_header(value) {
                headers.append(n, v);
            }
        } else if name.eq_ignore_ascii_case(MARKER)
            && let Ok(v) = HeaderValue::from_bytes(value)
        {
            headers.insert(MARKER, v);
        }
    }
    response
}

fn parse_set_header(value: &[u8]) -> Option<(HeaderName, HeaderValue)> {
    let colon = value.iter().position(|b| *b == b':')?;
    let name = HeaderName::from_bytes(value[..colon].trim_ascii()).ok()?;
    let value = HeaderValue::from_bytes(value[colon + 1..].trim_ascii()).ok()?;
    Some((name, value))
}

/// The upstream's record of the markers it has seen.
#[derive(Debug, Default)]
struct Record {
    seen: Mutex<HashMap<String, u32>>,
    log: Option<Mutex<std::fs::File>>,
}

/// Runs the echo upstream on `listener` until the process ends.
///
/// When `log` is given, each recorded request is appended to that file as one JSON line
/// `{"marker": ..., "method": ..., "path": ..., "headers": [[name, value], ...]}`.
///
/// # Errors
///
/// The log file cannot be created, or accepting connections fails.
pub async fn serve(listener: TcpListener, log: Option<PathBuf>) -> std::io::Result<()> {
    let log = match log {
        Some(path) => Some(Mutex::new(std::fs::File::create(path)?)),
        None => None,
    };
    let record = Arc::new(Record { seen: Mutex::default(), log });
    loop {
        let (stream, _) = listener.accept().await?;
        let record = Arc::clone(&record);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let record = Arc::clone(&record);
                async move { Ok::<_, std::convert::Infallible>(handle(&record, request).await) }
            });
            // A client that hangs up or speaks garbage only ends its own connection.
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Binds `addr` and returns the listener with its actual address (port `0` picks one).
///
/// # Errors
///
/// The address cannot be bound.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

async fn handle(record: &Record, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, mut body) = request.into_parts();
    // The body is not used; read it to its end so the connection stays usable, frame by frame
    // and keeping none of it, so that a large or endless body costs no memory.
    while let Some(Ok(_)) = body.frame().await {}
    if let Some(marker) = parts.uri.path().strip_prefix(SEEN_PATH) {
        let count = lock(&record.seen).get(marker).copied().unwrap_or(0);
        let mut response = Response::new(Full::new(Bytes::from(format!("{{\"seen\":{count}}}"))));
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return response;
    }
    if let Some(marker) = parts.headers.get(MARKER).and_then(|v| v.to_str().ok()) {
        *lock(&record.seen).entry(marker.to_owned()).or_insert(0) += 1;
        if let Some(log) = &record.log {
            let headers: Vec<(String, String)> = parts
                .headers
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().escape_ascii().to_string()))
                .collect();
            let line = serde_json::json!({
                "marker": marker,
                "method": parts.method.as_str(),
                "path": parts.uri.to_string(),
                "headers": headers,
            });
            let _ = writeln!(lock(log), "{line}");
        }
    }
    let lines = parts.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
    respond(lines).map(Full::new)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the map or file inconsistent for our use.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
