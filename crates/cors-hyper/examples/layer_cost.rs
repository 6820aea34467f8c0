//! The tower layer's own cost: one request through `ServiceExt::oneshot` over a trivial
//! `service_fn`, with and without [`CorsLayer`], N times; the difference is what the layer adds.
//!
//! Usage:
//!
//! ```text
//! cargo build --release -p cors-hyper --example layer_cost
//! target/release/examples/layer_cost list                       # the scenario names
//! target/release/examples/layer_cost all 200000                 # wall clock, ns per request
//!
//! # Instructions per request: callgrind counts only `measure_bare` or `measure_layer`, so the
//! # total Ir divided by N is the cost of one request; layer-only = layer minus bare.
//! for which in bare layer; do
//!   valgrind --tool=callgrind --collect-atstart=no --toggle-collect="layer_cost::measure_$which*" \
//!     --callgrind-out-file=/tmp/lc.$which target/release/examples/layer_cost actual-allowed 2000
//!   echo "$which $(awk '/^summary:/ {print $2 / 2000}' /tmp/lc.$which) Ir/request"
//! done
//! ```
//!
//! Both loops build the same `http::Request` each iteration (a clone of a prepared one: the
//! header map's allocation is part of both), so the difference is the layer alone: deciding,
//! turning the decision into owned header values, and writing them onto the response (or
//! answering locally). The policy is `examples/policies/strict.yaml`, the one of the performance
//! anchors (docs/performance.md), with a second origin; the 10 000-origin variant
//! allows the last one.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::io::Write as _;
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use cors_devtools::harness::{self, Selection, nanos_per};
use cors_hyper::CorsLayer;
use cors_policy::Policy;
use http::{Request, Response};
use tower::{Layer as _, ServiceExt as _, service_fn};

/// One scenario: a name, the request, and whether the 10 000-origin policy applies.
struct Scenario {
    name: &'static str,
    method: &'static str,
    headers: &'static [(&'static str, &'static str)],
    many: bool,
}

const SCENARIOS: [Scenario; 6] = [
    Scenario {
        name: "actual-allowed",
        method: "GET",
        headers: &[("origin", "https://app.example.com")],
        many: false,
    },
    Scenario {
        name: "actual-disallowed",
        method: "GET",
        headers: &[("origin", "https://evil.example")],
        many: false,
    },
    Scenario {
        name: "preflight",
        method: "OPTIONS",
        headers: &[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "content-type, x-token"),
        ],
        many: false,
    },
    Scenario {
        name: "preflight-rejected",
        method: "OPTIONS",
        headers: &[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "x-token"),
        ],
        many: false,
    },
    Scenario { name: "no-origin", method: "GET", headers: &[], many: false },
    Scenario {
        name: "origins-10000-last",
        method: "GET",
        headers: &[("origin", "https://o9999.example.com")],
        many: true,
    },
];

/// The first origin group of `config`.
fn group(config: &mut cors_policy::CorsConfig) -> &mut cors_policy::OriginGroupConfig {
    let groups = config.origin_groups.as_mut().expect("strict.yaml has originGroups");
    &mut groups[0]
}

fn policies() -> (Policy, Policy) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies/strict.yaml");
    let strict = match Policy::from_yaml_file(&path) {
        Ok(loaded) => loaded.policy,
        Err(error) => panic!("{}: {error}", path.display()),
    };
    let mut config = strict.to_config();
    group(&mut config).origins.push("https://admin.example.com".to_owned());
    let two = Policy::from_config(&config).expect("strict + one origin is valid");
    group(&mut config).origins = (0..10_000).map(|i| format!("https://o{i}.example.com")).collect();
    let many = Policy::from_config(&config).expect("10 000 origins are valid");
    (two, many)
}

fn request(scenario: &Scenario) -> Request<()> {
    let mut builder = Request::builder()
        .method(scenario.method)
        .uri("/items")
        .header("host", "api.example.com")
        .header("user-agent", "layer_cost/1.0")
        .header("accept", "*/*")
        .header("accept-encoding", "gzip, br");
    for &(name, value) in scenario.headers {
        builder = builder.header(name, value);
    }
    builder.body(()).expect("scenario requests are valid")
}

/// Polls a future that is ready at once (every future here is).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the trivial service and the layer never wait"),
    }
}

async fn handler(_request: Request<()>) -> Result<Response<&'static str>, Infallible> {
    Ok(Response::new("ok"))
}

/// The bare handler (callgrind counts this function with `--toggle-collect`).
#[inline(never)]
fn measure_bare(template: &Request<()>, iterations: u64) -> usize {
    let mut sink = 0usize;
    for _ in 0..iterations {
        let request = black_box(template.clone());
        let response = ready(service_fn(handler).oneshot(request)).expect("infallible");
        sink = sink.wrapping_add(response.headers().len());
        black_box(response);
    }
    sink
}

/// The same handler behind the layer.
#[inline(never)]
fn measure_layer(layer: &CorsLayer, template: &Request<()>, iterations: u64) -> usize {
    let mut sink = 0usize;
    for _ in 0..iterations {
        let request = black_box(template.clone());
        let service = layer.layer(service_fn(handler));
        let response = ready(service.oneshot(request)).expect("infallible");
        sink = sink.wrapping_add(response.headers().len());
        black_box(response);
    }
    sink
}

fn main() {
    let selection = harness::select(&SCENARIOS, |s| s.name, 200_000);
    let Selection::Run { scenarios: selected, iterations } =
        selection.unwrap_or_else(|error| panic!("{error}"))
    else {
        return;
    };
    let mut out = std::io::stdout().lock();
    let (two, many) = policies();
    let (two, many) = (CorsLayer::new(two), CorsLayer::new(many));
    for scenario in selected {
        let layer = if scenario.many { &many } else { &two };
        let template = request(scenario);
        let start = Instant::now();
        black_box(measure_bare(&template, iterations));
        let bare = nanos_per(start.elapsed(), iterations);
        let start = Instant::now();
        black_box(measure_layer(layer, &template, iterations));
        let layered = nanos_per(start.elapsed(), iterations);
        writeln!(
            out,
            "{:<20} bare {bare:>8.1} ns  layer {layered:>8.1} ns  layer-only {:>8.1} ns",
            scenario.name,
            layered - bare
        )
        .expect("stdout");
    }
}
