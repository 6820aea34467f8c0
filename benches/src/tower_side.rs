//! The tower services: the bare handler, ours (`cors_hyper::CorsLayer`) and tower-http's
//! `CorsLayer`, all over the same handler and driven the way hyper-util and axum drive them
//! (the service is cloned for every request, then `oneshot`).

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, Request, Response};
use http_body_util::Full;
use tower::{Layer, Service, ServiceExt};

use crate::policies::{reference_origins, reference_policy};
use crate::scenario::{LayerScenario, ResponseSummary, Subject, block_on};

/// The trivial handler: `200 OK`, `content-type: text/plain`, body `ok`, whatever the request.
///
/// The response carries one header field, as real responses do, so that its header map exists
/// before a middleware adds to it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Handler;

impl Service<Request<()>> for Handler {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        ready(Ok(response))
    }
}

/// A tower service under measurement.
#[derive(Clone, Debug)]
pub struct TowerSubject<S> {
    service: S,
}

impl<S, B> Subject for TowerSubject<S>
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible> + Clone,
{
    type Request = Request<()>;
    type Response = Response<B>;

    fn request(&self, scenario: LayerScenario) -> Request<()> {
        request(scenario.method(), &scenario.headers())
    }

    fn call(&self, request: Request<()>) -> Response<B> {
        match block_on(self.service.clone().oneshot(request)) {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    fn summary(response: &Response<B>) -> ResponseSummary {
        let headers = response.headers().iter();
        ResponseSummary::new(
            response.status().as_u16(),
            headers.map(|(name, value)| (name.as_str(), value.as_bytes())),
        )
    }
}

/// A request to `/` of `HOST` with `method` and the header `fields`.
///
/// Values come from static bytes: cloning one costs no allocation, as with the shared buffer
/// hyper parses requests from (a `Vec`-backed value would allocate when first cloned).
///
/// # Panics
/// When `method` or a field is not valid HTTP: the scenarios and derived requests are.
#[must_use]
pub fn request(method: &'static str, fields: &[(&'static str, &'static str)]) -> Request<()> {
    let mut builder = Request::builder()
        .method(method)
        .uri("/")
        .header(http::header::HOST, HeaderValue::from_static(crate::policies::HOST));
    for &(name, value) in fields {
        builder = builder.header(name, HeaderValue::from_static(value));
    }
    builder.body(()).expect("invariant: the scenarios' headers are valid")
}

impl<S> TowerSubject<S> {
    /// `service`, under measurement.
    pub(crate) fn new(service: S) -> TowerSubject<S> {
        TowerSubject { service }
    }
}

/// The handler alone.
#[must_use]
pub fn bare_tower() -> TowerSubject<Handler> {
    TowerSubject { service: Handler }
}

/// The handler behind our layer, with the reference policy sized for `scenario`.
#[must_use]
pub fn cors_hyper(scenario: LayerScenario) -> TowerSubject<cors_hyper::Cors<Handler>> {
    let layer = cors_hyper::CorsLayer::new(reference_policy(scenario.policy_origins()));
    TowerSubject { service: layer.layer(Handler) }
}

/// The handler behind tower-http's `CorsLayer`, configured as the reference policy sized for
/// `scenario` (tower-http expresses all of it).
///
/// # Panics
/// Never: the fixture origins are ASCII.
#[must_use]
pub fn tower_http(scenario: LayerScenario) -> TowerSubject<tower_http::cors::Cors<Handler>> {
    let origins = reference_origins(scenario.policy_origins())
        .iter()
        .map(|origin| HeaderValue::from_str(origin).expect("invariant: fixture origins are ASCII"))
        .collect::<Vec<_>>();
    let layer = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT])
        .allow_headers([CONTENT_TYPE, HeaderName::from_static("x-token")])
        .expose_headers([HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_mins(10));
    TowerSubject { service: layer.layer(Handler) }
}
