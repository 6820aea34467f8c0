//! The tower layer in process, without a network: each outcome class, the inner service called
//! only for forwarded requests, header replacement and `Vary` merging (A4, V1), shared policies,
//! axum, and the allocations the layer adds.
#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use cors_engine::{Engine, Outcome, Rule};
use cors_hyper::{CorsBody, CorsLayer, ListenerScheme, OriginGroup, Policy, SharedEngine};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::Body as _;
use http_body_util::{BodyExt, Full};
use rstest::rstest;
use tower::{Layer, Service, ServiceExt};

/// `examples/policies/strict.yaml`: one credentialed group for `https://app.example.com`, GET,
/// POST and PUT, the headers content-type and x-token, exposing x-request-id, max-age 600.
const STRICT: &str = "strict";

/// Any request header from `https://app.example.com`, without credentials, the default methods.
const ANY_HEADERS: &str = "any-headers";

/// The policy named by [`STRICT`] (read from its file at test time) or [`ANY_HEADERS`] (built).
fn policy(name: &str) -> Policy {
    if name == STRICT {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/policies/strict.yaml");
        return Policy::from_yaml_file(path).unwrap().policy;
    }
    assert_eq!(name, ANY_HEADERS);
    Policy::builder()
        .group(OriginGroup::new(["https://app.example.com"]).allow_any_header())
        .build()
        .unwrap()
}

fn engine(name: &str) -> Engine {
    Engine::new(policy(name))
}

/// An inner service that counts its calls and answers with upstream CORS fields and a `Vary`,
/// in a header map with room to spare (so that what the layer adds is measured alone).
#[derive(Clone)]
struct Spy {
    calls: Arc<AtomicUsize>,
    vary: Option<&'static str>,
}

impl Spy {
    fn new(vary: Option<&'static str>) -> Self {
        Self { calls: Arc::new(AtomicUsize::new(0)), vary }
    }
}

impl<B> Service<Request<B>> for Spy {
    type Response = Response<Full<bytes::Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut headers = HeaderMap::with_capacity(16);
        headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
        headers
            .insert("access-control-expose-headers", HeaderValue::from_static("x-upstream-secret"));
        if let Some(vary) = self.vary {
            headers.insert("vary", HeaderValue::from_static(vary));
        }
        let mut response = Response::new(Full::new(bytes::Bytes::from_static(b"upstream")));
        *response.headers_mut() = headers;
        ready(Ok(response))
    }
}

fn request(method: &str, headers: &[(&'static str, &'static str)]) -> Request<()> {
    let mut request =
        Request::builder().method(method).uri("http://api.test/x").header("host", "api.test");
    for (name, value) in headers {
        request = request.header(*name, HeaderValue::from_static(value));
    }
    request.body(()).unwrap()
}

struct Seen {
    forwarded: bool,
    fields: Vec<String>,
    vary: Vec<String>,
    body: bytes::Bytes,
}

async fn through(policy: &str, upstream_vary: Option<&'static str>, request: Request<()>) -> Seen {
    let spy = Spy::new(upstream_vary);
    let calls = Arc::clone(&spy.calls);
    let service = CorsLayer::from_engine(engine(policy)).layer(spy);
    let response = service.oneshot(request).await.unwrap();
    let mut fields: Vec<String> = response
        .headers()
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("access-control-"))
        .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
        .collect();
    fields.sort();
    let vary =
        response.headers().get_all("vary").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Seen { forwarded: calls.load(Ordering::Relaxed) == 1, fields, vary, body }
}

const UPSTREAM: &[&str] =
    &["access-control-allow-origin: *", "access-control-expose-headers: x-upstream-secret"];
const ALLOWED: &[&str] = &[
    "access-control-allow-credentials: true",
    "access-control-allow-origin: https://app.example.com",
    "access-control-expose-headers: x-request-id",
];

#[rstest]
#[case::r1_no_origin_passes_through(STRICT, None, "GET", &[], true, UPSTREAM, &["Origin"])]
#[case::r2_same_origin_passes_through(STRICT, Some("Accept"), "POST", &[("origin", "http://api.test")], true, UPSTREAM, &["Accept", "Origin"])]
#[case::a1_a4_allowed_replaces_upstream_fields(STRICT, Some("Accept-Encoding"), "GET", &[("origin", "https://app.example.com")], true, ALLOWED, &["Accept-Encoding", "Origin"])]
#[case::v1_vary_origin_not_duplicated(STRICT, Some("accept, origin"), "GET", &[("origin", "https://app.example.com")], true, ALLOWED, &["accept, origin"])]
#[case::v1_vary_star_stays(STRICT, Some("*"), "GET", &[("origin", "https://app.example.com")], true, ALLOWED, &["*"])]
#[case::a2_blocked_not_forwarded(STRICT, None, "GET", &[("origin", "https://evil.example")], false, &[], &["Origin"])]
#[case::p1_preflight_answered_locally(STRICT, None, "OPTIONS",
    &[("origin", "https://app.example.com"), ("access-control-request-method", "PUT")], false,
    &["access-control-allow-credentials: true", "access-control-allow-headers: content-type, x-token",
      "access-control-allow-methods: GET, POST, PUT", "access-control-allow-origin: https://app.example.com",
      "access-control-max-age: 600"], &["Origin"])]
#[case::p3_rejected_preflight_has_no_cors_field(STRICT, None, "OPTIONS",
    &[("origin", "https://app.example.com"), ("access-control-request-method", "PATCH")], false, &[], &["Origin"])]
#[case::p4_mirrored_request_headers(ANY_HEADERS, None, "OPTIONS",
    &[("origin", "https://app.example.com"), ("access-control-request-method", "GET"), ("access-control-request-headers", "X-One,x-two")], false,
    &["access-control-allow-headers: X-One, x-two", "access-control-allow-methods: CONNECT, DELETE, GET, OPTIONS, PATCH, POST, PUT, TRACE",
      "access-control-allow-origin: https://app.example.com", "access-control-max-age: 30"],
    &["Origin, Access-Control-Request-Headers"])]
#[tokio::test]
async fn outcome(
    #[case] policy: &str,
    #[case] upstream_vary: Option<&'static str>,
    #[case] method: &str,
    #[case] headers: &[(&'static str, &'static str)],
    #[case] forwarded: bool,
    #[case] fields: &[&str],
    #[case] vary: &[&str],
) {
    let seen = through(policy, upstream_vary, request(method, headers)).await;
    assert_eq!(seen.forwarded, forwarded, "inner service called");
    assert_eq!(seen.fields, fields);
    assert_eq!(seen.vary, vary);
    assert_eq!(seen.body.is_empty(), !forwarded, "local answers have an empty body");
}

#[test]
fn cloned_services_share_one_engine() {
    let engine = Arc::new(engine(STRICT));
    let service = CorsLayer::from_engine(Arc::clone(&engine)).layer(Spy::new(None));
    let clones: Vec<_> = (0..100).map(|_| service.clone()).collect();
    // The layer holds the engine once, with the answers it keeps for it; each clone holds a
    // reference to that, not a copy.
    assert_eq!(Arc::strong_count(&engine), 2, "the clones share the layer's one reference");
    assert_eq!(clones.len(), 100);
}

#[tokio::test]
async fn a_shared_engine_decides_each_request_with_the_current_policy() {
    let shared = SharedEngine::new(engine(STRICT));
    let layer = CorsLayer::from_shared(shared.clone());
    let ask = || request("GET", &[("origin", "https://app.example.com")]);
    let before = layer.layer(Spy::new(None)).oneshot(ask()).await.unwrap();
    assert_eq!(before.headers()["access-control-allow-credentials"], "true");
    let previous = shared.replace(engine(ANY_HEADERS));
    assert!(previous.policy().supports_credentials());
    let after = layer.layer(Spy::new(None)).oneshot(ask()).await.unwrap();
    assert!(!after.headers().contains_key("access-control-allow-credentials"));
    assert!(!layer.engine().policy().supports_credentials());
}

/// R2 and RFC 9112 section 3.2.2: the request target's authority wins over `Host`, so the same
/// authority decides same-origin and is the one a proxy forwards the request with (issue 16).
#[rstest]
#[case::origin_of_the_target_is_same_origin("http://api.test", true, UPSTREAM)]
#[case::origin_of_the_host_field_is_cross_origin("http://other.test", false, &[])]
#[tokio::test]
async fn r2_takes_the_request_targets_authority_over_host(
    #[case] origin: &'static str,
    #[case] forwarded: bool,
    #[case] fields: &[&str],
) {
    let request = Request::builder()
        .method("POST")
        .uri("http://api.test/x")
        .header("host", "other.test")
        .header("origin", origin)
        .body(())
        .unwrap();
    let seen = through(STRICT, None, request).await;
    assert_eq!(seen.forwarded, forwarded, "inner service called");
    assert_eq!(seen.fields, fields);
}

/// R2 with no authority in the request target: the `Host` field decides, found by the walk of a
/// small map as by the hash of a large one, and two `Host` lines are never same-origin.
#[rstest]
#[case::one_host_line_small_map(&["api.test"], 0, true, UPSTREAM)]
#[case::one_host_line_large_map(&["api.test"], 8, true, UPSTREAM)]
#[case::two_host_lines_small_map(&["api.test", "api.test"], 0, false, &[])]
#[case::two_host_lines_large_map(&["api.test", "api.test"], 8, false, &[])]
#[tokio::test]
async fn r2_reads_every_host_line_of_an_origin_form_request(
    #[case] hosts: &[&'static str],
    #[case] others: usize,
    #[case] forwarded: bool,
    #[case] fields: &[&str],
) {
    const OTHERS: [&str; 8] = ["a-0", "a-1", "a-2", "a-3", "a-4", "a-5", "a-6", "a-7"];
    let mut request = Request::builder().method("POST").uri("/x");
    for other in &OTHERS[..others] {
        request = request.header(*other, "x");
    }
    for host in hosts {
        request = request.header("host", *host);
    }
    let request = request.header("origin", "http://api.test").body(()).unwrap();
    let seen = through(STRICT, None, request).await;
    assert_eq!(seen.forwarded, forwarded, "inner service called");
    assert_eq!(seen.fields, fields);
}

#[tokio::test]
async fn r2_uses_the_configured_listener_scheme() {
    let layer = CorsLayer::from_engine(engine(STRICT)).listener_scheme(ListenerScheme::Https);
    let spy = Spy::new(None);
    let calls = Arc::clone(&spy.calls);
    let response =
        layer.layer(spy).oneshot(request("POST", &[("origin", "https://api.test")])).await.unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 1, "a same-origin POST over https is forwarded");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "*",
        "and passed through untouched"
    );
}

/// F-CT: a Local Mode `ApiInstance` whose listener is `https://...` sets the listener scheme
/// of a layer loaded from it, as it does for the Envoy filter and cors-gateway: a site's own
/// `POST` from `https://api.test` is same-origin (R2) and reaches the service, where with
/// `http` it was refused (A2: 200, empty, never forwarded). An `http://` listener keeps `http`.
#[rstest]
#[case::r2_https_listener("https://0.0.0.0:8443", true)]
#[case::r2_https_listener_any_case("HTTPS://0.0.0.0:8443", true)]
#[case::r2_http_listener("http://0.0.0.0:8081", false)]
#[tokio::test]
async fn r2_takes_the_listener_scheme_of_an_api_instance_file(
    #[case] address: &str,
    #[case] forwarded: bool,
) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/policies/api-instance.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let listener = "\n  address: http://0.0.0.0:8081\n";
    assert!(text.contains(listener), "api-instance.yaml moved its listener:\n{text}");
    let text = text.replace(listener, &format!("\n  address: {address}\n"));
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let name = address.replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    let file = dir.join(format!("api-instance-{name}.yaml"));
    std::fs::write(&file, text).unwrap();
    let layer = CorsLayer::from_yaml_file(&file).unwrap();
    let _ = std::fs::remove_file(&file);

    let spy = Spy::new(None);
    let calls = Arc::clone(&spy.calls);
    let own_post = request("POST", &[("origin", "https://api.test")]);
    let response = layer.layer(spy).oneshot(own_post).await.unwrap();
    assert_eq!(calls.load(Ordering::Relaxed) == 1, forwarded, "inner service called");
    let rule = response.body().rule();
    assert_eq!(rule == Some(Rule::R2), forwarded, "{rule:?} with the listener {address}");
}

#[tokio::test]
async fn axum_router_takes_the_layer_as_is() {
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "hello" }))
        .layer(CorsLayer::new(policy(STRICT)));
    let allowed = app
        .clone()
        .oneshot(
            Request::get("/")
                .header("origin", "https://app.example.com")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(allowed.into_body().collect().await.unwrap().to_bytes(), "hello");
    // The router has no OPTIONS route: a 200 proves the layer answered the preflight itself.
    let preflight = app
        .oneshot(
            Request::options("/")
                .header("origin", "https://app.example.com")
                .header("access-control-request-method", "PUT")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.headers()["access-control-allow-methods"], "GET, POST, PUT");
}

/// What the crate docs ("Where the layer goes") say of axum: `Router::layer` sees every request,
/// paths no route matches included, and axum adds `Allow` to the layer's answer for a method a
/// route does not serve; `Router::route_layer` leaves an unmatched path to axum's `404`, without
/// `Vary: Origin` or any CORS field. An app's own `OPTIONS` route gets only the `OPTIONS`
/// requests that are not CORS (R3), and `HEAD` is allowed where `GET` is (A1).
#[tokio::test]
async fn axum_layer_route_layer_and_the_apps_own_routes() {
    use axum::body::Body;
    use axum::routing::{get, options};
    let preflight = |path: &str| {
        Request::options(path)
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "PUT")
            .body(Body::empty())
            .unwrap()
    };
    let routes = || {
        axum::Router::new()
            .route("/", get(|| async { "hello" }))
            .route("/own", options(|| async { "the app's own answer" }))
    };
    let ask = |app: axum::Router, request: Request<Body>| async move {
        let response = app.oneshot(request).await.unwrap();
        let (head, body) = response.into_parts();
        (head, body.collect().await.unwrap().to_bytes())
    };

    let layered = routes().layer(CorsLayer::new(policy(STRICT)));
    let (head, body) = ask(layered.clone(), preflight("/nowhere")).await;
    assert_eq!(head.status, 200, "an unmatched path's preflight is the layer's");
    assert_eq!(head.headers["access-control-allow-origin"], "https://app.example.com");
    assert!(body.is_empty());
    let (head, _) = ask(layered.clone(), preflight("/")).await;
    assert_eq!(head.headers["access-control-allow-methods"], "GET, POST, PUT");
    assert_eq!(head.headers["allow"], "GET,HEAD", "axum's, on the layer's answer");
    let (head, body) = ask(layered.clone(), preflight("/own")).await;
    assert_eq!(
        (head.status.as_u16(), body.is_empty()),
        (200, true),
        "R3: the app's route never runs"
    );
    let no_origin = Request::options("/own").body(Body::empty()).unwrap();
    let (_, body) = ask(layered.clone(), no_origin).await;
    assert_eq!(body, "the app's own answer");
    let head_request =
        Request::head("/").header("origin", "https://app.example.com").body(Body::empty());
    let (head, body) = ask(layered, head_request.unwrap()).await;
    assert_eq!(head.headers["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(
        (head.status.as_u16(), body.is_empty()),
        (200, true),
        "forwarded; axum strips the body"
    );

    let route_layered = routes().route_layer(CorsLayer::new(policy(STRICT)));
    let (head, _) = ask(route_layered.clone(), preflight("/nowhere")).await;
    assert_eq!(head.status, 404);
    assert!(!head.headers.contains_key("vary"), "{:?}", head.headers);
    assert!(!head.headers.keys().any(|name| name.as_str().starts_with("access-control-")));
    let (head, _) = ask(route_layered, preflight("/")).await;
    assert_eq!(head.headers["access-control-allow-origin"], "https://app.example.com");
}

/// Polls `future` once, with the test task's waker.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
}

/// The crate docs, "Where the layer goes": the layer is ready when its inner service is, so a
/// preflight behind a full concurrency limit waits; once answered it holds no slot.
#[tokio::test]
async fn p1_a_preflight_waits_for_the_inner_service_and_holds_no_slot() {
    let (release, held) = tokio::sync::oneshot::channel::<()>();
    let held = Arc::new(std::sync::Mutex::new(Some(held)));
    let inner = tower::service_fn(move |_: Request<()>| {
        let held = held.lock().unwrap().take();
        async move {
            if let Some(held) = held {
                let _ = held.await;
            }
            Ok::<_, Infallible>(Response::new(Full::new(bytes::Bytes::from_static(b"inner"))))
        }
    });
    let service = tower::ServiceBuilder::new()
        .layer(CorsLayer::new(policy(STRICT)))
        .concurrency_limit(1)
        .service(inner);
    // The first request takes the only slot and waits inside the service.
    let mut slow = Box::pin(service.clone().oneshot(request("GET", &[])));
    assert!(poll_once(&mut slow).await.is_pending());
    let preflight =
        [("origin", "https://app.example.com"), ("access-control-request-method", "PUT")];
    let mut waiting = Box::pin(service.clone().oneshot(request("OPTIONS", &preflight)));
    assert!(poll_once(&mut waiting).await.is_pending(), "answered while the only slot is taken");

    release.send(()).unwrap();
    let slow = slow.await.unwrap();
    assert_eq!(slow.into_body().collect().await.unwrap().to_bytes(), "inner");
    let answered = waiting.await.unwrap();
    assert_eq!(answered.headers()["access-control-allow-methods"], "GET, POST, PUT");
    // The preflight's slot went with it: the next request is served at once.
    let mut after = Box::pin(service.oneshot(request("GET", &[])));
    let Poll::Ready(after) = poll_once(&mut after).await else {
        panic!("the preflight kept the only slot");
    };
    assert_eq!(after.unwrap().into_body().collect().await.unwrap().to_bytes(), "inner");
}

/// A local answer's body is empty and ends at once; a forwarded one is the inner service's body,
/// which ends when it does (a body said to end before its data would be cut short) and is handed
/// back whole by `into_inner`.
#[test]
fn a_local_answer_body_is_empty_and_ends_at_once() {
    let body: CorsBody<Full<bytes::Bytes>> = CorsBody::empty();
    assert!(body.is_end_stream() && body.is_local());
    assert_eq!(body.size_hint().exact(), Some(0));
    assert!(body.into_inner().is_none());
    let forwarded = CorsBody::new(Full::new(bytes::Bytes::from_static(b"abc")));
    assert_eq!(forwarded.size_hint().exact(), Some(3));
    assert!(!forwarded.is_local());
    assert!(!forwarded.is_end_stream(), "three bytes still to come");
    let inner = forwarded.into_inner().expect("the inner service's body");
    assert_eq!(inner.size_hint().exact(), Some(3));
    assert!(CorsBody::new(Full::new(bytes::Bytes::new())).is_end_stream());
}

/// Allocations of one `call` and the first poll of its future.
fn allocations<S>(service: &mut S, request: Request<()>) -> u64
where
    S: Service<Request<()>>,
{
    let mut context = Context::from_waker(Waker::noop());
    let info = allocation_counter::measure(|| {
        let future = service.call(request);
        let mut future = pin!(future);
        let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut context) else {
            panic!("the spy answers at once");
        };
        std::hint::black_box(response);
    });
    info.count_total
}

/// The layer adds no allocation to a forwarded request when the response's header map has
/// room, except the map's own slot for a second `Vary` line; a local answer costs what building
/// its header map costs.
#[rstest]
#[case::r1_no_origin("GET", &[], None, true, 0)]
#[case::a1_allowed("GET", &[("origin", "https://app.example.com")], None, true, 0)]
#[case::v1_second_vary_line_takes_one_map_slot("GET", &[("origin", "https://app.example.com")], Some("Accept"), true, 1)]
#[case::a2_blocked("GET", &[("origin", "https://evil.example")], None, false, 2)]
#[case::p1_preflight("OPTIONS", &[("origin", "https://app.example.com"), ("access-control-request-method", "PUT")], None, false, 2)]
fn allocations_added_by_the_layer(
    #[case] method: &str,
    #[case] headers: &[(&'static str, &'static str)],
    #[case] upstream_vary: Option<&'static str>,
    #[case] forwarded: bool,
    #[case] most: u64,
) {
    let spy = Spy::new(upstream_vary);
    let mut bare = spy.clone();
    let mut layered = CorsLayer::from_engine(engine(STRICT)).layer(spy);
    // Warm up lazily initialized state (tracing's callsite registration) outside the count.
    let _ = allocations(&mut layered, request(method, headers));
    let inner = allocations(&mut bare, request(method, headers));
    let with_layer = allocations(&mut layered, request(method, headers));
    let added = if forwarded { with_layer.saturating_sub(inner) } else { with_layer };
    assert!(
        added <= most,
        "the layer allocated {added} times (inner alone: {inner}), at most {most} expected"
    );
}

/// The body carries the decision's kind and rule (issue 17: access logs and metrics read them
/// without deciding again), for local answers and forwarded ones alike.
#[rstest]
#[case::r1_no_origin("GET", &[], Outcome::NotCors, Rule::R1)]
#[case::r2_same_origin("GET", &[("origin", "http://api.test")], Outcome::NotCors, Rule::R2)]
#[case::a1_allowed("GET", &[("origin", "https://app.example.com")], Outcome::Allowed, Rule::A1)]
#[case::m3_unlisted_origin_is_blocked("GET", &[("origin", "https://evil.example")], Outcome::Blocked, Rule::M3)]
#[case::p1_preflight("OPTIONS", &[("origin", "https://app.example.com"), ("access-control-request-method", "PUT")], Outcome::PreflightAccepted, Rule::P1)]
#[case::p2_method_not_allowed("OPTIONS", &[("origin", "https://app.example.com"), ("access-control-request-method", "PATCH")], Outcome::PreflightRejected, Rule::P2)]
#[tokio::test]
async fn the_body_tells_what_was_decided(
    #[case] method: &str,
    #[case] headers: &[(&'static str, &'static str)],
    #[case] outcome: Outcome,
    #[case] rule: Rule,
) {
    let service = CorsLayer::from_engine(engine(STRICT)).layer(Spy::new(None));
    let response = service.oneshot(request(method, headers)).await.unwrap();
    assert_eq!((response.body().outcome(), response.body().rule()), (Some(outcome), Some(rule)));
}

/// What a `tracing` subscriber at `level` is given while the layer decides `request`.
#[derive(Clone, Default)]
struct Logged(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logged {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged(level: tracing::Level, request: Request<()>) -> String {
    let out = Logged::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .without_time()
        .finish();
    let mut service = CorsLayer::from_engine(engine(STRICT)).layer(Spy::new(None));
    // The decision is made in `call`; its future is not needed.
    tracing::subscriber::with_default(subscriber, || drop(service.call(request)));
    String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
}

/// Each request's decision is one debug event with its outcome and rule (what `cors-gateway -v`
/// shows per request, docs/operations.md), and nothing is logged above debug level.
#[rstest]
#[case::r1_no_origin("GET", &[], "not-cors", "R1")]
#[case::a1_allowed("GET", &[("origin", "https://app.example.com")], "actual-allowed", "A1")]
#[case::m3_blocked("GET", &[("origin", "https://evil.example")], "actual-blocked", "M3")]
#[case::p1_preflight("OPTIONS", &[("origin", "https://app.example.com"), ("access-control-request-method", "PUT")], "preflight-accepted", "P1")]
fn each_decision_is_logged_once_at_debug_level(
    #[case] method: &str,
    #[case] headers: &[(&'static str, &'static str)],
    #[case] outcome: &str,
    #[case] rule: &str,
) {
    let debug = logged(tracing::Level::DEBUG, request(method, headers));
    let lines: Vec<&str> = debug.lines().filter(|line| line.contains("cors decision")).collect();
    assert_eq!(lines.len(), 1, "{debug}");
    assert!(lines[0].contains(&format!("outcome=\"{outcome}\"")), "{debug}");
    assert!(lines[0].contains(&format!("rule={rule}")), "{debug}");
    assert!(lines[0].contains(&format!("method={method}")), "{debug}");
    assert_eq!(logged(tracing::Level::INFO, request(method, headers)), "");
}

#[test]
fn bodies_built_outside_the_layer_tell_nothing() {
    let body = CorsBody::new(Full::new(bytes::Bytes::new()));
    assert_eq!((body.outcome(), body.rule()), (None, None));
    assert_eq!(CorsBody::<()>::empty().outcome(), None);
}
