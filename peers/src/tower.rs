//! tower-http's `CorsLayer` in front of a hyper reverse proxy.
//!
//! The translation, setting by setting (tower-http 0.7):
//! - origins: `AllowOrigin::list` of the exact origins; a predicate (cors-origin's matchers)
//!   when the profile has subdomain patterns; `AllowOrigin::any()` for `*`, or
//!   `AllowOrigin::mirror_request()` with credentials (tower-http panics on `*` with credentials);
//! - methods and headers: `list`, or `mirror_request()` for public resources and `headers: ['*']`;
//! - exposed headers, max-age and credentials as configured; `Vary` left at its default.
//!
//! What it cannot express: it answers every `OPTIONS` itself and never rejects a preflight (it
//! checks neither the method nor the headers), it forwards actual requests from refused origins,
//! and it has one configuration, not groups.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer, ExposeHeaders};

use crate::error::PeerError;
use crate::flat::{Flat, Requested};
use crate::proxy::Upstream;

/// The `CorsLayer` closest to `flat`.
///
/// # Errors
///
/// A configured value is not a valid header value or method (never for a loaded policy).
pub fn layer(flat: &Flat) -> Result<CorsLayer, PeerError> {
    let config = |message: String| PeerError::Config { peer: "tower-http", message };
    let origins = &flat.origins;
    let allow_origin = if origins.any {
        if flat.credentials { AllowOrigin::mirror_request() } else { AllowOrigin::any() }
    } else if origins.patterns.is_empty() {
        let list: Result<Vec<HeaderValue>, _> =
            origins.exact.iter().map(|origin| HeaderValue::from_str(origin)).collect();
        AllowOrigin::list(list.map_err(|e| config(e.to_string()))?)
    } else {
        let origins = Arc::new(origins.clone());
        AllowOrigin::predicate(move |value: &HeaderValue, _| origins.allows(value.as_bytes()))
    };
    let mut layer = CorsLayer::new().allow_origin(allow_origin);
    layer = match &flat.methods {
        Requested::Mirror => layer.allow_methods(AllowMethods::mirror_request()),
        Requested::List(methods) => {
            let list: Result<Vec<Method>, _> =
                methods.iter().map(|m| Method::from_bytes(m.as_bytes())).collect();
            layer.allow_methods(list.map_err(|e| config(e.to_string()))?)
        }
    };
    layer = match &flat.headers {
        Requested::Mirror => layer.allow_headers(AllowHeaders::mirror_request()),
        Requested::List(headers) => layer.allow_headers(names(headers).map_err(config)?),
    };
    if !flat.expose.is_empty() {
        layer = layer.expose_headers(ExposeHeaders::list(names(&flat.expose).map_err(config)?));
    }
    if let Some(seconds) = flat.max_age {
        layer = layer.max_age(Duration::from_secs(seconds));
    }
    Ok(layer.allow_credentials(flat.credentials))
}

fn names(list: &[String]) -> Result<Vec<HeaderName>, String> {
    list.iter()
        .map(|name| HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string()))
        .collect()
}

/// Serves `flat` with tower-http on `listener`, forwarding to `upstream`, until the process ends.
///
/// # Errors
///
/// The configuration is refused, or accepting a connection fails.
pub async fn serve(
    flat: &Flat,
    listener: TcpListener,
    upstream: Upstream,
) -> Result<(), PeerError> {
    let service = ServiceBuilder::new().layer(layer(flat)?).service_fn(move |request| {
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
