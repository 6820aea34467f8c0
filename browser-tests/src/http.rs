//! Minimal HTTP/1.1 on loopback, shared by the WebDriver client, the tap and the small servers.
//!
//! Every exchange is one request on a fresh connection with the whole body collected, bounded
//! by a deadline: the suite sends a few hundred small messages, so simplicity beats pooling.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::error::Error;

/// Sends `request` on a new connection to `addr` and collects the whole response within `limit`.
///
/// The request is sent as given: no `Host` or other header is added, so a caller forwarding a
/// browser's request keeps the browser's header lines.
pub(crate) async fn send(
    addr: SocketAddr,
    request: Request<Full<Bytes>>,
    limit: Duration,
) -> Result<Response<Bytes>, Error> {
    let what = format!("{} {} via {addr}", request.method(), request.uri());
    let exchange = async {
        let stream = TcpStream::connect(addr).await.map_err(|e| Error::io(what.clone(), e))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| Error::Http { what: what.clone(), source })?;
        let driver = tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .map_err(|source| Error::Http { what: what.clone(), source })?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|source| Error::Http { what: what.clone(), source })?
            .to_bytes();
        driver.abort();
        Ok(Response::from_parts(parts, body))
    };
    tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| Error::Timeout { what: what.clone(), after: limit })?
}

/// Binds a loopback listener on an ephemeral port.
pub(crate) async fn bind_loopback(what: &str) -> Result<(TcpListener, SocketAddr), Error> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| Error::io(format!("bind {what} on 127.0.0.1:0"), e))?;
    let addr = listener.local_addr().map_err(|e| Error::io(format!("address of {what}"), e))?;
    Ok((listener, addr))
}

/// Serves `handler` on every connection `listener` accepts, until the returned task is aborted.
///
/// Request bodies are collected before `handler` runs; a body that fails to arrive is treated
/// as empty, since the handlers only record requests.
pub(crate) fn serve<F, Fut>(listener: TcpListener, handler: F) -> JoinHandle<()>
where
    F: Fn(Request<Bytes>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<_>| {
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let body: hyper::body::Incoming = body;
                        let bytes = body
                            .collect()
                            .await
                            .map(http_body_util::Collected::to_bytes)
                            .unwrap_or_default();
                        Ok::<_, Infallible>(handler(Request::from_parts(parts, bytes)).await)
                    }
                });
                // A browser closing a keep-alive connection mid-way is not worth reporting.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// Builds a response with a status, header lines and a body.
pub(crate) fn response(
    status: u16,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(body.into()))
        .expect("invariant: static status and header lines are valid")
}
