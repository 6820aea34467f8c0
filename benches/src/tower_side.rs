//! The tower services: the bare handler, ours (`cors_hyper::CorsLayer`) and tower-http's
//! `CorsLayer`, all over the same handler and driven the way hyper-util and axum drive them
//! (the service is cloned for every request, then `oneshot`).

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, Uri};
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

    fn request_for(
        &self,
        method: &'static str,
        fields: &[(&'static str, &'static str)],
    ) -> Request<()> {
        request(method, fields)
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

/// The least room hyper's HTTP/1 connection keeps in its read buffer before a read
/// (`INIT_BUFFER_SIZE` in hyper's `proto/h1/io.rs`), and so its buffer's first capacity.
const READ_BUFFER_SIZE: usize = 8192;

thread_local! {
    /// The read buffer of the one connection a thread's requests arrive on: hyper keeps one per
    /// HTTP/1 connection and splits each request head off its front.
    static READ_BUFFER: RefCell<BytesMut> =
        RefCell::new(BytesMut::with_capacity(READ_BUFFER_SIZE));
}

/// What follows the method on a request line: the path `/` (at offset 1) and the version.
const AFTER_METHOD: &[u8] = b" / HTTP/1.1\r\n";
/// What separates a field's name from its value.
const COLON: &[u8] = b": ";
/// What ends a line, and the head after its last field.
const CRLF: &[u8] = b"\r\n";

/// A request to `/` of `HOST` with `method` and the header `fields`, built as hyper's HTTP/1
/// server builds the request it hands a service: the one fixture of every tower subject (the
/// bare handler, ours and tower-http's), so that a middleware's own cost, its count minus the
/// bare handler's, subtracts requests built alike.
///
/// The head is written, as a client sends it, into a read buffer kept per thread as hyper keeps
/// one per connection, split off it and frozen into one [`Bytes`]; the method is parsed from it,
/// the path and every field value are slices of it ([`HeaderValue::from_maybe_shared`]), and
/// the names are parsed from its bytes, as `parse_headers` in hyper's `proto/h1/role.rs` does.
/// That is what a middleware meets under a server: cloning a request's value (to echo its
/// `Origin`) adds a reference to the shared buffer, an atomic increment, and dropping the clone
/// an atomic decrement; and while any value is held, hyper cannot reuse the buffer for its
/// next read. Values built from static bytes, as this fixture built them before, clone for
/// nothing through `Bytes`' static vtable, and so hid what a clone costs under a server.
///
/// The head is laid out here, so its offsets are known and nothing is parsed back
/// (hyper uses httparse, which would only add the same instructions to every subject). Unlike
/// hyper, which reserves 8 KiB before every read, the buffer grows only when a head no longer
/// fits: criterion's batches then share one buffer, as pipelined requests do, and no call in a
/// timed batch frees one. hyper also reuses the last response's header map for the next
/// request; here the request's map is new each time, for every subject alike.
///
/// # Panics
/// When `method` or a field is not valid HTTP: the scenarios and derived requests are.
#[must_use]
pub fn request(method: &'static str, fields: &[(&'static str, &'static str)]) -> Request<()> {
    let lines = || std::iter::once(("host", crate::policies::HOST)).chain(fields.iter().copied());
    let head: Bytes = READ_BUFFER.with_borrow_mut(|buffer| {
        buffer.extend_from_slice(method.as_bytes());
        buffer.extend_from_slice(AFTER_METHOD);
        for (name, value) in lines() {
            for piece in [name.as_bytes(), COLON, value.as_bytes(), CRLF] {
                buffer.extend_from_slice(piece);
            }
        }
        buffer.extend_from_slice(CRLF);
        buffer.split().freeze()
    });
    let invalid = "invariant: the scenarios' requests are valid HTTP";
    let mut headers = HeaderMap::with_capacity(fields.len() + 1);
    let mut at = method.len() + AFTER_METHOD.len();
    for (name, value) in lines() {
        let name = at..at + name.len();
        let value = name.end + COLON.len()..name.end + COLON.len() + value.len();
        at = value.end + CRLF.len();
        headers.append(
            HeaderName::from_bytes(&head[name]).expect(invalid),
            HeaderValue::from_maybe_shared(head.slice(value)).expect(invalid),
        );
    }
    let mut request = Request::new(());
    *request.method_mut() = Method::from_bytes(&head[..method.len()]).expect(invalid);
    let path = method.len() + 1..method.len() + 2;
    *request.uri_mut() = Uri::from_maybe_shared(head.slice(path)).expect(invalid);
    *request.headers_mut() = headers;
    request
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

/// The handler behind our layer, with the reference policy sized for `scenario` (any header
/// allowed when it [mirrors headers](LayerScenario::mirrors_headers)).
#[must_use]
pub fn cors_hyper(scenario: LayerScenario) -> TowerSubject<cors_hyper::Cors<Handler>> {
    let policy = reference_policy(scenario.policy_origins(), scenario.mirrors_headers());
    let layer = cors_hyper::CorsLayer::new(policy);
    TowerSubject { service: layer.layer(Handler) }
}

/// The handler behind tower-http's `CorsLayer`, configured as the reference policy sized for
/// `scenario` (tower-http expresses all of it; a mirrored one as `AllowHeaders::mirror_request`).
///
/// # Panics
/// Never: the fixture origins are ASCII.
#[must_use]
pub fn tower_http(scenario: LayerScenario) -> TowerSubject<tower_http::cors::Cors<Handler>> {
    let origins = reference_origins(scenario.policy_origins())
        .iter()
        .map(|origin| HeaderValue::from_str(origin).expect("invariant: fixture origins are ASCII"))
        .collect::<Vec<_>>();
    let headers = if scenario.mirrors_headers() {
        tower_http::cors::AllowHeaders::mirror_request()
    } else {
        tower_http::cors::AllowHeaders::list([CONTENT_TYPE, HeaderName::from_static("x-token")])
    };
    let layer = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT])
        .allow_headers(headers)
        .expose_headers([HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_mins(10));
    TowerSubject { service: layer.layer(Handler) }
}
