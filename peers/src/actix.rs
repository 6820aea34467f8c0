//! actix-cors, configured by the exported code ([`crate::exported`]), in front of an actix-web
//! reverse proxy (forwarding with the hyper client of [`crate::proxy`]).

use actix_cors::Cors;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::error::PeerError;
use crate::proxy::Upstream;

/// Serves actix-web with the middleware `cors` builds on `listener` (one worker), forwarding
/// to `upstream`, until the process ends. Prints `listening on http://ADDR` once bound.
///
/// # Errors
///
/// Binding or running the server fails.
pub fn serve(
    cors: fn() -> Cors,
    listener: std::net::TcpListener,
    upstream: Upstream,
) -> Result<(), PeerError> {
    let addr =
        listener.local_addr().map_err(|e| PeerError::io("cannot read the local address", e))?;
    let data = web::Data::new(upstream);
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).wrap(cors()).default_service(web::to(forward))
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
