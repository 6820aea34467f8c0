//! actix-cors in front of an actix-web reverse proxy (forwarding with the hyper client of
//! [`crate::proxy`]).
//!
//! The translation, setting by setting (actix-cors 0.7):
//! - origins: `allowed_origin` for each exact origin, `allowed_origin_fn` (cors-origin's
//!   matchers) for `null` and subdomain patterns, `allow_any_origin()` for `*` (with
//!   `send_wildcard()` when there are no credentials, so `*` is sent as O1 asks);
//! - methods: `allowed_methods`, or `allow_any_method()` for public resources; headers:
//!   `allowed_headers`, or `allow_any_header()` for public resources and `headers: ['*']`;
//! - exposed headers, max-age and credentials as configured;
//! - `block_on_origin_mismatch(true)`, so requests from refused origins are not forwarded
//!   (Flex answers them itself; actix-cors answers `400`).
//!
//! What it cannot express: it has one configuration, not groups, and it answers refusals with
//! `400 Bad Request` where Flex answers `200` without CORS headers.

use std::sync::Arc;

use actix_cors::Cors;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::error::PeerError;
use crate::flat::{Flat, Requested};
use crate::proxy::Upstream;

/// The actix-cors middleware closest to `flat`.
pub fn cors(flat: &Flat) -> Cors {
    let origins = &flat.origins;
    let mut cors = Cors::default().block_on_origin_mismatch(true);
    if origins.any {
        cors = cors.allow_any_origin();
        if !flat.credentials {
            cors = cors.send_wildcard();
        }
    } else {
        for origin in origins.exact.iter().filter(|origin| *origin != "null") {
            cors = cors.allowed_origin(origin);
        }
        if !origins.patterns.is_empty() || origins.exact.iter().any(|origin| origin == "null") {
            let origins = Arc::new(origins.clone());
            cors = cors.allowed_origin_fn(move |value, _| origins.allows(value.as_bytes()));
        }
    }
    cors = match &flat.methods {
        Requested::Mirror => cors.allow_any_method(),
        Requested::List(methods) => cors.allowed_methods(methods.iter().map(String::as_str)),
    };
    cors = match &flat.headers {
        Requested::Mirror => cors.allow_any_header(),
        Requested::List(headers) => cors.allowed_headers(headers.iter().map(String::as_str)),
    };
    if !flat.expose.is_empty() {
        cors = cors.expose_headers(flat.expose.iter().map(String::as_str));
    }
    cors = cors.max_age(flat.max_age.and_then(|seconds| usize::try_from(seconds).ok()));
    if flat.credentials {
        cors = cors.supports_credentials();
    }
    cors
}

/// Serves `flat` with actix-web and actix-cors on `listener` (one worker), forwarding to
/// `upstream`, until the process ends. Prints `listening on http://ADDR` once bound.
///
/// # Errors
///
/// Binding or running the server fails.
pub fn serve(
    flat: Flat,
    listener: std::net::TcpListener,
    upstream: Upstream,
) -> Result<(), PeerError> {
    let addr =
        listener.local_addr().map_err(|e| PeerError::io("cannot read the local address", e))?;
    let flat = Arc::new(flat);
    let data = web::Data::new(upstream);
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).wrap(cors(&flat)).default_service(web::to(forward))
        })
        .workers(1)
        .listen(listener)
        .map_err(|e| PeerError::io("cannot listen", e))?;
        crate::announce(addr);
        server.run().await.map_err(|e| PeerError::io("the actix-web server failed", e))
    })
}

async fn forward(request: HttpRequest, body: Bytes, upstream: web::Data<Upstream>) -> HttpResponse {
    let method = Method::from_bytes(request.method().as_str().as_bytes()).unwrap_or(Method::GET);
    let mut headers = HeaderMap::new();
    for (name, value) in request.headers() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let answer = upstream.forward(method, &path, headers, body).await;
    let status = actix_web::http::StatusCode::from_u16(answer.status.as_u16())
        .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
    let mut response = HttpResponse::build(status);
    for (name, value) in &answer.headers {
        if let (Ok(name), Ok(value)) = (
            actix_web::http::header::HeaderName::from_bytes(name.as_str().as_bytes()),
            actix_web::http::header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            response.append_header((name, value));
        }
    }
    response.body(answer.body.to_vec())
}
