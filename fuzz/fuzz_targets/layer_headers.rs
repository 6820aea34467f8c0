//! cors-hyper's tower layer over arbitrary requests: a method and header lines from arbitrary
//! bytes, under each of the conformance profiles (`spec-tests/profiles/*.yaml`), in front of a
//! trivial upstream that records whether it was called.
//!
//! Input format (so that seeds are readable and drawn from the conformance cases, see
//! `fuzz/seeds/from-conformance.py`):
//!
//! - byte 0: the profile, an index into [`PROFILES`] (modulo their number);
//! - byte 1: bit 0 set means the listener is `https` (R2);
//! - the rest: lines separated by `\n`; the first is the method, the others `name: value` header
//!   lines (the value trimmed of blanks as an HTTP parser would).
//!   Lines whose name or value is not a valid field are dropped, as a server would refuse them.
//!   A line `x-conformance-upstream-header: NAME: VALUE` makes the upstream add `NAME: VALUE`
//!   to its response, as the conformance suite's echo upstream does.
//!
//! Asserted for every input (rule ids of the behaviour contract):
//!
//! - no panic, and the response future is ready at once (the upstream answers at once);
//! - the upstream is called exactly when the engine's decision forwards the request: a preflight
//!   or blocked request is answered locally (R3, A2), with status 200 and an empty body (P1, P3);
//! - a rejected preflight or blocked request carries no `Access-Control-*` field (P3, A2);
//! - an accepted preflight or allowed request carries exactly the decided fields, every upstream
//!   `Access-Control-*` field removed (A4): so at most one `Access-Control-Allow-Origin` line (O3),
//!   never `*` together with credentials (O2), and `Access-Control-Allow-Credentials` only `true`;
//! - a request that is not CORS gets the upstream's `Access-Control-*` fields untouched (R1, A4);
//! - every `Vary` token of the decision is on the response, never added twice (V1).

#![no_main]

use std::cell::Cell;
use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::rc::Rc;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

use cors_engine::{Engine, Outcome};
use cors_hyper::{CorsLayer, ListenerScheme};
use cors_policy::Policy;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_ORIGIN, HOST, HeaderMap, HeaderName,
    HeaderValue, VARY,
};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use libfuzzer_sys::fuzz_target;
use tower_layer::Layer;
use tower_service::Service;

/// The conformance profiles, in file-name order (the seed generator uses the same order).
const PROFILES: [(&str, &str); 13] = [
    ("closed", include_str!("../../spec-tests/profiles/closed.yaml")),
    ("default-methods", include_str!("../../spec-tests/profiles/default-methods.yaml")),
    ("groups", include_str!("../../spec-tests/profiles/groups.yaml")),
    ("lowercase-methods", include_str!("../../spec-tests/profiles/lowercase-methods.yaml")),
    ("no-methods", include_str!("../../spec-tests/profiles/no-methods.yaml")),
    ("public-credentials", include_str!("../../spec-tests/profiles/public-credentials.yaml")),
    ("public", include_str!("../../spec-tests/profiles/public.yaml")),
    ("strict-credentials", include_str!("../../spec-tests/profiles/strict-credentials.yaml")),
    ("strict", include_str!("../../spec-tests/profiles/strict.yaml")),
    ("subdomains", include_str!("../../spec-tests/profiles/subdomains.yaml")),
    ("wildcard-credentials", include_str!("../../spec-tests/profiles/wildcard-credentials.yaml")),
    ("wildcard-headers", include_str!("../../spec-tests/profiles/wildcard-headers.yaml")),
    ("wildcard-origin", include_str!("../../spec-tests/profiles/wildcard-origin.yaml")),
];

/// One layer per profile, built once.
static LAYERS: LazyLock<Vec<CorsLayer>> = LazyLock::new(|| {
    PROFILES
        .iter()
        .map(|(name, yaml)| {
            let loaded = Policy::from_yaml_str(yaml, name)
                .unwrap_or_else(|e| panic!("profile {name} does not load:\n{e}"));
            CorsLayer::new(loaded.policy)
        })
        .collect()
});

/// The request header naming a field the upstream must add to its response.
const UPSTREAM_HEADER: &str = "x-conformance-upstream-header";
/// Set by the upstream on every response it makes.
const UPSTREAM_MARK: &str = "x-upstream";
const UPSTREAM_BODY: &str = "upstream";

/// A trivial upstream: counts its calls, answers at once with the fields asked for.
#[derive(Clone)]
struct Upstream {
    calls: Rc<Cell<usize>>,
}

impl Service<Request<()>> for Upstream {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        self.calls.set(self.calls.get() + 1);
        let mut response = Response::new(UPSTREAM_BODY.to_owned());
        *response.status_mut() = StatusCode::ACCEPTED;
        response.headers_mut().insert(UPSTREAM_MARK, HeaderValue::from_static("1"));
        for line in request.headers().get_all(UPSTREAM_HEADER) {
            if let Some((name, value)) = field(line.as_bytes()) {
                response.headers_mut().append(name, value);
            }
        }
        ready(Ok(response))
    }
}

/// `name: value` as a field line, if both parts are valid.
fn field(line: &[u8]) -> Option<(HeaderName, HeaderValue)> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = HeaderName::from_bytes(&line[..colon]).ok()?;
    let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).ok()?;
    Some((name, value))
}

/// The `Access-Control-*` fields of `headers`, in order.
fn access_control(headers: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("access-control-"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// How many `Vary` elements of `headers` are `token` (case-insensitive), and whether one is `*`.
fn vary_count(headers: &HeaderMap, token: &str) -> (usize, bool) {
    let elements = || {
        headers
            .get_all(VARY)
            .iter()
            .flat_map(|line| line.as_bytes().split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
    };
    let count = elements().filter(|e| e.eq_ignore_ascii_case(token.as_bytes())).count();
    (count, elements().any(|e| e == b"*"))
}

fn sorted(mut fields: Vec<(HeaderName, HeaderValue)>) -> Vec<(HeaderName, HeaderValue)> {
    fields.sort_by(|a, b| (a.0.as_str(), a.1.as_bytes()).cmp(&(b.0.as_str(), b.1.as_bytes())));
    fields
}

fuzz_target!(|bytes: &[u8]| {
    let [profile, flags, rest @ ..] = bytes else { return };
    let layer = &LAYERS[usize::from(*profile) % LAYERS.len()];
    let https = flags & 1 == 1;
    let layer =
        if https { layer.clone().listener_scheme(ListenerScheme::Https) } else { layer.clone() };

    let mut lines = rest.split(|&b| b == b'\n');
    let method = lines.next().unwrap_or_default();
    let Ok(method) = Method::from_bytes(if method.is_empty() { b"GET" } else { method }) else {
        return;
    };
    let mut request = Request::builder().method(method).uri("/").body(()).expect("valid parts");
    for (name, value) in lines.filter_map(field) {
        request.headers_mut().append(name, value);
    }

    // The oracle: the engine's own decision on the same request.
    let engine: std::sync::Arc<Engine> = layer.engine();
    let request_headers = request.headers().clone();
    let mut hosts = request_headers.get_all(HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => Some(host.as_bytes()),
        _ => None,
    };
    let view = cors_engine::Request {
        method: request.method().as_str().as_bytes(),
        headers: &request_headers,
        scheme: if https { "https" } else { "http" },
        host,
    };
    let decision = engine.decide(&view);
    let outcome = decision.outcome();
    let decided: Vec<(HeaderName, HeaderValue)> = decision
        .headers()
        .map(|granted| granted.iter().map(|(n, v)| (n, v.to_header_value())).collect())
        .unwrap_or_default();
    let vary = decision.vary();

    // What the upstream would add, computed from the request (it answers the same every time).
    let mut upstream_headers = HeaderMap::new();
    for line in request_headers.get_all(UPSTREAM_HEADER) {
        if let Some((name, value)) = field(line.as_bytes()) {
            upstream_headers.append(name, value);
        }
    }

    let calls = Rc::new(Cell::new(0));
    let mut service = layer.layer(Upstream { calls: Rc::clone(&calls) });
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let future = pin!(service.call(request));
    let Poll::Ready(Ok(response)) = future.poll(&mut cx) else {
        panic!("the layer's future is not ready although its upstream answered at once");
    };
    let headers = response.headers();
    let forwarded = calls.get() == 1;

    // Local answers (R3, A2) never reach the upstream; forwarded ones reach it exactly once.
    assert!(calls.get() <= 1);
    assert_eq!(forwarded, outcome.is_forwarded(), "{outcome:?}");
    assert_eq!(forwarded, headers.contains_key(UPSTREAM_MARK));
    if forwarded {
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(response.body().size_hint().exact(), Some(UPSTREAM_BODY.len() as u64));
    } else {
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.body().is_end_stream());
    }

    let granted = access_control(headers);
    match outcome {
        Outcome::Blocked | Outcome::PreflightRejected => assert!(granted.is_empty(), "{granted:?}"),
        Outcome::NotCors => {
            assert_eq!(sorted(granted), sorted(access_control(&upstream_headers)));
        }
        _ => {
            assert_eq!(sorted(granted), sorted(decided));
            assert!(headers.get_all(ACCESS_CONTROL_ALLOW_ORIGIN).iter().count() <= 1);
            if let Some(credentials) = headers.get(ACCESS_CONTROL_ALLOW_CREDENTIALS) {
                assert_eq!(credentials, "true");
                assert_ne!(
                    headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).map(HeaderValue::as_bytes),
                    Some(&b"*"[..])
                );
            }
        }
    }

    // V1: every token of the decision is there, added once at most.
    let upstream_vary = if forwarded { upstream_headers } else { HeaderMap::new() };
    for token in vary.tokens() {
        let (before, star) = vary_count(&upstream_vary, token);
        let (after, _) = vary_count(headers, token);
        if star || before > 0 {
            assert_eq!(after, before, "{token} added although the upstream covered it");
        } else {
            assert_eq!(after, 1, "{token} missing or added twice");
        }
    }
});
