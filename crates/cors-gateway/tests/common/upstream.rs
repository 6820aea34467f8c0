//! A spy upstream on 127.0.0.1: records every request and answers by path.
//!
//! - `/cors`: sets its own Access-Control-* fields and `Vary: Accept-Encoding`;
//! - `/vary-origin`: `Vary: accept-encoding, ORIGIN`; `/vary-star`: `Vary: *`;
//! - `/echo`: streams the request body back as it arrives;
//! - `/count`: reads the request body frame by frame and answers with its length;
//! - `/download?bytes=N`: streams N bytes in 64 KiB frames, byte `i` being [`download_byte`]`(i)`;
//! - `/slow?ms=N`: waits N milliseconds, then answers;
//! - `/hop`: sets hop-by-hop fields that must not reach the client;
//! - anything else: `ok`.
#![allow(clippy::unwrap_used, reason = "test fixture: a failed unwrap is a failed test")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// What the upstream received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    /// The query, if any.
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// The server name the client sent by SNI, for a TLS upstream.
    pub sni: Option<String>,
}

pub struct Upstream {
    pub address: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// An upstream serving TLS with `config` (and recording the SNI name of each request).
    pub async fn start_tls(config: Arc<rustls::ServerConfig>) -> Self {
        Self::start_with(Some(tokio_rustls::TlsAcceptor::from(config))).await
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let log = Arc::clone(&log);
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => serve(stream, None, log).await,
                        Some(acceptor) => {
                            let Ok(stream) = acceptor.accept(stream).await else { return };
                            let sni = stream.get_ref().1.server_name().map(str::to_owned);
                            serve(stream, sni, log).await;
                        }
                    }
                });
            }
        });
        Self { address, seen, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits (bounded) until a request has reached this upstream: one sent to be in flight
    /// (`/slow`) is then, however busy the machine.
    pub async fn wait_for_a_request(&self) {
        let deadline = Instant::now() + super::PATIENCE;
        while self.seen().is_empty() {
            assert!(Instant::now() < deadline, "no request reached the upstream");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The request carrying `x-test-id: ID`, if it was forwarded.
    pub fn seen_with_id(&self, id: &str) -> Option<Seen> {
        self.seen().into_iter().find(|s| s.headers.get("x-test-id").is_some_and(|v| v == id))
    }
}

/// Serves one connection, recording each request in `log`.
async fn serve<I>(io: I, sni: Option<String>, log: Arc<Mutex<Vec<Seen>>>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        log.lock().unwrap().push(Seen {
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
            query: request.uri().query().map(str::to_owned),
            headers: request.headers().clone(),
            sni: sni.clone(),
        });
        answer(request)
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let _ = builder.serve_connection(TokioIo::new(io), service).await;
}

type UpBody = Either<Either<Full<Bytes>, Incoming>, Pattern>;

fn text(body: &'static str) -> Response<UpBody> {
    Response::new(Either::Left(Either::Left(Full::new(Bytes::from_static(body.as_bytes())))))
}

fn query_number(request: &Request<Incoming>, key: &str) -> u64 {
    request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn answer(request: Request<Incoming>) -> Result<Response<UpBody>, Infallible> {
    let path = request.uri().path().to_owned();
    let mut response = match path.as_str() {
        "/cors" => {
            let mut response = text("cors");
            let headers = response.headers_mut();
            headers.insert(
                "access-control-allow-origin",
                HeaderValue::from_static("https://evil.example"),
            );
            headers.append("access-control-allow-origin", HeaderValue::from_static("*"));
            headers.insert("access-control-allow-credentials", HeaderValue::from_static("false"));
            headers.insert("access-control-expose-headers", HeaderValue::from_static("x-secret"));
            headers.insert("access-control-max-age", HeaderValue::from_static("99999"));
            headers
                .insert("access-control-allow-private-network", HeaderValue::from_static("true"));
            headers.insert("vary", HeaderValue::from_static("Accept-Encoding"));
            response
        }
        "/vary-origin" => {
            let mut response = text("vary");
            response
                .headers_mut()
                .insert("vary", HeaderValue::from_static("accept-encoding, ORIGIN"));
            response
        }
        "/vary-star" => {
            let mut response = text("vary");
            response.headers_mut().insert("vary", HeaderValue::from_static("*"));
            response
        }
        "/echo" => Response::new(Either::Left(Either::Right(request.into_body()))),
        "/count" => {
            let mut body = request.into_body();
            let mut total: u64 = 0;
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { break };
                if let Some(data) = frame.data_ref() {
                    total += data.len() as u64;
                }
            }
            Response::new(Either::Left(Either::Left(Full::new(Bytes::from(total.to_string())))))
        }
        "/download" => {
            let bytes = query_number(&request, "bytes");
            Response::new(Either::Right(Pattern { remaining: bytes, sent: 0 }))
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(query_number(&request, "ms"))).await;
            text("slow")
        }
        "/hop" => {
            let mut response = text("hop");
            let headers = response.headers_mut();
            headers.insert("connection", HeaderValue::from_static("x-hop-secret"));
            headers.insert("x-hop-secret", HeaderValue::from_static("1"));
            headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
            headers.insert("proxy-authenticate", HeaderValue::from_static("Basic"));
            response
        }
        _ => text("ok"),
    };
    response.headers_mut().insert("x-upstream", HeaderValue::from_static("yes"));
    Ok(response)
}

/// The period of a download's bytes: a prime, so that a frame lost, repeated or moved by a
/// multiple of any power-of-two size shows in the bytes.
const PERIOD: usize = 251;
const FRAME: usize = 64 * 1024;

/// Byte `offset` of every `/download` body.
pub fn download_byte(offset: usize) -> u8 {
    u8::try_from(offset % PERIOD).unwrap()
}

/// One frame and a period of download bytes: every frame is a slice of it.
static FRAMES: std::sync::LazyLock<Bytes> =
    std::sync::LazyLock::new(|| (0..FRAME + PERIOD).map(download_byte).collect());

/// A body of `remaining` bytes ([`download_byte`]), produced 64 KiB at a time, never held whole.
pub struct Pattern {
    pub remaining: u64,
    /// How many bytes were produced so far.
    sent: usize,
}

impl Body for Pattern {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(FRAME);
        let start = self.sent % PERIOD;
        self.remaining -= n as u64;
        self.sent += n;
        Poll::Ready(Some(Ok(Frame::data(FRAMES.slice(start..start + n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
