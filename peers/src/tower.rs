//! tower-http's `CorsLayer`, configured by the exported code ([`crate::exported`]), in front of
//! a hyper reverse proxy.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::cors::CorsLayer;

use crate::error::PeerError;
use crate::proxy::Upstream;

/// Serves `layer` on `listener`, forwarding to `upstream`, until the process ends.
///
/// # Errors
///
/// Accepting a connection fails.
pub async fn serve(
    layer: CorsLayer,
    listener: TcpListener,
    upstream: Upstream,
) -> Result<(), PeerError> {
    let service = ServiceBuilder::new().layer(layer).service_fn(move |request| {
        let upstream = upstream.clone();
        async move { Ok::<_, Infallible>(forward(&upstream, request).await) }
    });
    loop {
        let (stream, _) =
            listener.accept().await.map_err(|e| PeerError::io("cannot accept a connection", e))?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn forward(upstream: &Upstream, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(http_body_util::Collected::to_bytes).unwrap_or_default();
    let path = parts.uri.path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
    let answer = upstream.forward(parts.method, path, parts.headers, body).await;
    let mut response = Response::new(Full::new(answer.body));
    *response.status_mut() = answer.status;
    *response.headers_mut() = answer.headers;
    response
}
