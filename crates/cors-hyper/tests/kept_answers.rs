//! The layer answers a group's accepted preflight from the answer it kept for the group, its
//! origin and mirrored list replaced: every local answer must be the one `Decision::apply`
//! writes, field for field and in the same order, whatever the policy and whatever the layer
//! answered before.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use cors_engine::{Engine, Request as EngineRequest};
use cors_hyper::{CorsLayer, OriginGroup, Policy, SharedEngine};
use http::{HeaderMap, Request, Response, StatusCode};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use tower::{Layer, Service, service_fn};

const METHODS: &[&str] = &["GET", "PUT", "PATCH", "DELETE"];
const LISTED: &[&str] = &["x-a", "content-type", "x-b"];
const ACRM: &[&str] = &["GET", "PUT", "PATCH", "DELETE", "put"];
/// The `Access-Control-Request-Headers` lines of a preflight: none, one, or several (empty ones,
/// a name twice in any case, one name over many lines).
const ACRH: &[&[&str]] = &[
    &[],
    &["x-a"],
    &["X-A,content-type"],
    &["content-type, x-b"],
    &["x-c"],
    &[", ,"],
    &["x-a ,X-B"],
    &["x-a", "X-B"],
    &["", "x-a", ""],
    &["x-a, X-A", "x-a"],
    &["x-b", "x-b", "x-b", "x-b", "x-b", "x-b", "x-b", "x-b", "x-b", "x-b", "x-b", "x-b"],
    &["x-requested-with,content-type,x-a"],
];

/// A group's `headers`: none, some listed names, or `*`.
#[derive(Clone, Debug)]
enum Headers {
    Unset,
    Listed(Vec<&'static str>),
    Any,
}

#[derive(Clone, Debug)]
struct GroupShape {
    /// `*` among the group's origins, besides its own.
    any_origin: bool,
    /// `https://*.shared.test` among the group's origins: every group of the policy may list it.
    shared: bool,
    methods: Option<Vec<&'static str>>,
    headers: Headers,
    exposed: bool,
    max_age: Option<u64>,
}

#[derive(Clone, Debug)]
struct Shape {
    public: bool,
    credentials: bool,
    groups: Vec<GroupShape>,
}

fn group_shape() -> impl Strategy<Value = GroupShape> {
    let headers = prop_oneof![
        Just(Headers::Unset),
        subsequence(LISTED, 1..=LISTED.len()).prop_map(Headers::Listed),
        Just(Headers::Any),
    ];
    (
        (any::<bool>(), any::<bool>()),
        proptest::option::of(subsequence(METHODS, 0..=METHODS.len())),
        headers,
        any::<bool>(),
        proptest::option::of(0u64..1000),
    )
        .prop_map(|((any_origin, shared), methods, headers, exposed, max_age)| GroupShape {
            any_origin,
            shared,
            methods,
            headers,
            exposed,
            max_age,
        })
}

fn shape() -> impl Strategy<Value = Shape> {
    (any::<bool>(), any::<bool>(), vec(group_shape(), 1..4))
        .prop_map(|(public, credentials, groups)| Shape { public, credentials, groups })
}

/// Group `g` allows `https://g<g>.test` and `https://h<g>.test` (echoed as the policy's
/// prebuilt values: an answer kept for one is answered to the other with its own) and the
/// subdomains of `w<g>.test` (echoed as the request's own value), and may allow `*`, and the
/// subdomains of `shared.test` with `https://both.test` and `null` (exact origins that several
/// groups list, each group with its own prebuilt value).
fn policy(shape: &Shape) -> Policy {
    let groups = shape.groups.iter().enumerate().map(|(g, group)| {
        let mut origins = vec![
            format!("https://g{g}.test"),
            format!("https://h{g}.test"),
            format!("https://*.w{g}.test"),
        ];
        if group.any_origin {
            origins.push("*".to_owned());
        }
        if group.shared {
            origins.push("https://*.shared.test".to_owned());
            // Exact origins that every group may list, each with a prebuilt value of its own.
            origins.push("https://both.test".to_owned());
            origins.push("null".to_owned());
        }
        let mut built = OriginGroup::new(origins);
        if let Some(methods) = &group.methods {
            built = built.allow_methods(methods.iter().copied());
        }
        built = match &group.headers {
            Headers::Unset => built,
            Headers::Listed(names) => built.allow_headers(names.iter().copied()),
            Headers::Any => built.allow_any_header(),
        };
        if group.exposed {
            built = built.expose_headers(["x-request-id"]);
        }
        if let Some(seconds) = group.max_age {
            built = built.max_age(Duration::from_secs(seconds));
        }
        built
    });
    let builder = Policy::builder().public_resource(shape.public).credentials(shape.credentials);
    builder.groups(groups).build().expect("a valid policy")
}

/// Answers `request` with `service`, which must answer it at once (a local answer).
fn local<S>(service: &mut S, request: Request<()>) -> Response<cors_hyper::CorsBody<String>>
where
    S: Service<Request<()>, Response = Response<cors_hyper::CorsBody<String>>, Error = Infallible>,
{
    let mut context = Context::from_waker(Waker::noop());
    let future = pin!(service.call(request));
    let Poll::Ready(Ok(response)) = future.poll(&mut context) else {
        panic!("a local answer is ready at once");
    };
    response
}

/// A preflight (or, without a requested method, an actual `DELETE`) from one of the origins
/// of group `group` (or from one some groups may share, or from none of them).
fn request(group: usize, origin: usize, method: Option<&str>, headers: &[&str]) -> Request<()> {
    let origin = match origin {
        0 => format!("https://g{group}.test"),
        1 => format!("https://a.w{group}.test"),
        2 => format!("https://b{origin}.w{group}.test"),
        3 => format!("https://s{group}.shared.test"),
        4 => "null".to_owned(),
        5 => format!("https://h{group}.test"),
        6 => "https://both.test".to_owned(),
        _ => "https://elsewhere.test".to_owned(),
    };
    let mut builder = Request::builder()
        .method(if method.is_some() { "OPTIONS" } else { "DELETE" })
        .uri("http://api.test/x")
        .header("host", "api.test")
        .header("origin", origin);
    if let Some(method) = method {
        builder = builder.header("access-control-request-method", method);
    }
    for line in headers {
        builder = builder.header("access-control-request-headers", *line);
    }
    builder.body(()).expect("a valid request")
}

/// The fields in order, as text (bytes outside visible ASCII escaped).
fn fields(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(name, value)| {
            (name.as_str().to_owned(), value.as_bytes().escape_ascii().to_string())
        })
        .collect()
}

/// The local answer `Decision::apply` writes for `request`, or `None` when it is forwarded.
fn applied(engine: &Engine, request: &Request<()>) -> Option<Vec<(String, String)>> {
    let decision = engine.decide(&EngineRequest::from_http(request, "http"));
    if decision.outcome().is_forwarded() {
        return None;
    }
    let mut answer = HeaderMap::new();
    decision.apply(&mut answer);
    Some(fields(&answer))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn p1_every_local_answer_is_the_one_decision_apply_writes(
        shape in shape(),
        requests in vec(
            (0usize..4, 0usize..8, proptest::option::of(select(ACRM)), select(ACRH)),
            1..16,
        ),
    ) {
        let engine = Arc::new(Engine::new(policy(&shape)));
        let inner = service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        });
        let mut layered = CorsLayer::from_engine(Arc::clone(&engine)).layer(inner);
        // Each request twice: the first may be kept, the second is answered from what was kept.
        for (group, origin, method, headers) in requests.iter().flat_map(|r| [r, r]) {
            let request = request(*group, *origin, *method, headers);
            let Some(expected) = applied(&engine, &request) else { continue };
            let response = local(&mut layered, request);
            prop_assert_eq!(response.status(), StatusCode::OK);
            prop_assert_eq!(fields(response.headers()), expected);
        }
    }
}

/// The answers kept for a policy go with it: once a shared engine is replaced, a group's
/// preflight is answered as the new policy says, not from what the old one's answer kept.
#[test]
fn p1_a_replaced_policys_kept_answers_go_with_it() {
    let of = |methods: &[&'static str]| {
        let group = OriginGroup::new(["https://g0.test"]).allow_methods(methods.iter().copied());
        Engine::new(Policy::builder().group(group).build().expect("a valid policy"))
    };
    let shared = SharedEngine::new(of(&["GET", "PUT"]));
    let inner =
        service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(String::new())) });
    let mut layered = CorsLayer::from_shared(shared.clone()).layer(inner);
    let ask = || request(0, 0, Some("GET"), &[]);
    for _ in 0..2 {
        assert_eq!(
            local(&mut layered, ask()).headers()["access-control-allow-methods"],
            "GET, PUT"
        );
    }
    let _previous = shared.replace(of(&["GET", "DELETE"]));
    for _ in 0..2 {
        let answer = local(&mut layered, ask());
        assert_eq!(answer.headers()["access-control-allow-methods"], "GET, DELETE");
    }
}
