//! Hot-path harness: runs `Engine::decide` for one scenario N times, for profiling and for
//! instruction counts that hold on a loaded machine.
//!
//! Usage:
//!
//! ```text
//! cargo build --release -p cors-engine --example hotpath
//! target/release/examples/hotpath list                     # the scenario names
//! target/release/examples/hotpath actual-allowed 1000000   # wall clock: ns per decision
//! target/release/examples/hotpath all 200000               # every scenario, wall clock
//!
//! # Instructions per decision: callgrind counts only `measure` (the decide loop), so the
//! # total Ir divided by N is the cost of one decision, without policy loading or set-up.
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='hotpath::measure*' \
//!     --callgrind-out-file=/tmp/cg.out target/release/examples/hotpath actual-allowed 2000
//! grep '^summary:' /tmp/cg.out                             # total Ir; divide by 2000
//! callgrind_annotate --inclusive=yes /tmp/cg.out           # per-function breakdown
//! callgrind_annotate --auto=yes /tmp/cg.out                # per-line breakdown
//!
//! # Every scenario:
//! for s in $(target/release/examples/hotpath list); do
//!   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='hotpath::measure*' \
//!     --callgrind-out-file=/tmp/cg.$s target/release/examples/hotpath $s 2000 >/dev/null 2>&1
//!   echo "$s $(awk '/^summary:/ {print $2 / 2000}' /tmp/cg.$s) Ir/decision"
//! done
//! ```
//!
//! Instruction counts repeat exactly from run to run (up to a few instructions from the
//! per-process hash seeds), which wall-clock times on a shared machine do not: compare
//! changes by Ir, and take wall-clock figures as the minimum of several short runs.
//!
//! Scenarios use `http::HeaderMap` requests (what the tower layer passes) carrying ordinary
//! headers besides the CORS ones (4 of a browser's 12, or `HOTPATH_FIELDS=N` of them, so that
//! the cost can be read against the size of the request), addressed to `https://api.example.com`.
//! Policies: `examples/policies/strict.yaml` (credentials, one group for
//! `https://app.example.com`, GET/POST/PUT, headers content-type and x-token), the same with a
//! third allowed header (`x-requested-with`) for the 3-header preflight,
//! `examples/policies/public.yaml`, and a 10 000-origin variant of strict whose allowed origin
//! is the last one. Every scenario checks its outcome once before timing, so a harness that
//! measures the wrong path fails loudly.

use std::hint::black_box;
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use cors_devtools::harness::{self, Selection, nanos_per};
use cors_engine::{Engine, Outcome, Request};
use cors_policy::Policy;
use http::{HeaderMap, HeaderName, HeaderValue};

/// One scenario: a name, the policy, the request, and the outcome it must produce.
struct Scenario {
    name: &'static str,
    engine: fn(&Policies) -> &Engine,
    method: &'static [u8],
    headers: Vec<(&'static str, String)>,
    outcome: Outcome,
}

/// The engines the scenarios decide with, built once.
struct Policies {
    strict: Engine,
    strict3: Engine,
    public: Engine,
    many: Engine,
}

const ALLOWED: &str = "https://app.example.com";
const LAST_OF_MANY: &str = "https://o9999.example.com";

fn load(file: &str) -> Policy {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies").join(file);
    match Policy::from_yaml_file(&path) {
        Ok(loaded) => loaded.policy,
        Err(error) => panic!("{}: {error}", path.display()),
    }
}

fn policies() -> Policies {
    let strict = load("strict.yaml");
    let mut config = strict.to_config();
    let groups = config.origin_groups.as_mut().expect("strict.yaml has originGroups");
    groups[0].headers.get_or_insert_with(Vec::new).push("x-requested-with".to_owned());
    let strict3 = Policy::from_config(&config).expect("strict + one header is valid");
    let mut config = strict.to_config();
    let groups = config.origin_groups.as_mut().expect("strict.yaml has originGroups");
    groups[0].origins = (0..10_000).map(|i| format!("https://o{i}.example.com")).collect();
    let many = Policy::from_config(&config).expect("10 000 origins are valid");
    Policies {
        strict: Engine::new(strict),
        strict3: Engine::new(strict3),
        public: Engine::new(load("public.yaml")),
        many: Engine::new(many),
    }
}

fn scenarios() -> Vec<Scenario> {
    let s = |name, engine, method, headers: &[(&'static str, &str)], outcome| Scenario {
        name,
        engine,
        method,
        headers: headers.iter().map(|&(n, v)| (n, v.to_owned())).collect(),
        outcome,
    };
    let strict: fn(&Policies) -> &Engine = |p| &p.strict;
    let strict3: fn(&Policies) -> &Engine = |p| &p.strict3;
    let public: fn(&Policies) -> &Engine = |p| &p.public;
    let many: fn(&Policies) -> &Engine = |p| &p.many;
    let request_method = "access-control-request-method";
    let request_headers = "access-control-request-headers";
    let commas = ",".repeat(64 * 1024);
    vec![
        s("not-cors", strict, b"GET", &[], Outcome::NotCors),
        s(
            "same-origin",
            strict,
            b"GET",
            &[("origin", "https://api.example.com")],
            Outcome::NotCors,
        ),
        s("actual-allowed", strict, b"GET", &[("origin", ALLOWED)], Outcome::Allowed),
        s(
            "actual-blocked",
            strict,
            b"GET",
            &[("origin", "https://evil.example")],
            Outcome::Blocked,
        ),
        s(
            "preflight-accepted",
            strict3,
            b"OPTIONS",
            &[
                ("origin", ALLOWED),
                (request_method, "PUT"),
                (request_headers, "content-type, x-token, x-requested-with"),
            ],
            Outcome::PreflightAccepted,
        ),
        s(
            "preflight-rejected-origin",
            strict,
            b"OPTIONS",
            &[
                ("origin", "https://evil.example"),
                (request_method, "PUT"),
                (request_headers, "x-token"),
            ],
            Outcome::PreflightRejected,
        ),
        s(
            "preflight-rejected-method",
            strict,
            b"OPTIONS",
            &[("origin", ALLOWED), (request_method, "DELETE"), (request_headers, "x-token")],
            Outcome::PreflightRejected,
        ),
        s(
            "preflight-rejected-header",
            strict,
            b"OPTIONS",
            &[("origin", ALLOWED), (request_method, "PUT"), (request_headers, "x-token, x-other")],
            Outcome::PreflightRejected,
        ),
        s("public", public, b"GET", &[("origin", "https://anyone.example")], Outcome::Allowed),
        s(
            "public-preflight",
            public,
            b"OPTIONS",
            &[
                ("origin", "https://anyone.example"),
                (request_method, "PATCH"),
                (request_headers, "x-a, x-b"),
            ],
            Outcome::PreflightAccepted,
        ),
        s("origins-10000-last", many, b"GET", &[("origin", LAST_OF_MANY)], Outcome::Allowed),
        s(
            "acrh-64k-commas",
            strict,
            b"OPTIONS",
            &[("origin", ALLOWED), (request_method, "PUT"), (request_headers, &commas)],
            Outcome::PreflightRejected,
        ),
    ]
}

/// The ordinary fields a browser sends besides the CORS ones (Chromium, a cross-origin `fetch`).
const ORDINARY: [(&str, &str); 12] = [
    ("host", "api.example.com"),
    ("user-agent", "hotpath/1.0"),
    ("accept", "*/*"),
    ("accept-encoding", "gzip, br"),
    ("accept-language", "en-US,en;q=0.9"),
    ("connection", "keep-alive"),
    ("referer", "https://app.example.com/"),
    ("sec-fetch-mode", "cors"),
    ("sec-fetch-site", "same-site"),
    ("sec-fetch-dest", "empty"),
    ("cache-control", "no-cache"),
    ("pragma", "no-cache"),
];

/// How many [`ORDINARY`] fields a request carries: `HOTPATH_FIELDS` (0 to 12), 4 by default.
fn ordinary_fields() -> usize {
    std::env::var("HOTPATH_FIELDS")
        .ok()
        .map_or(4, |n| n.parse().expect("HOTPATH_FIELDS is a number"))
        .min(ORDINARY.len())
}

/// The request's headers: ordinary ones first, then the scenario's.
fn header_map(scenario: &Scenario) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in ORDINARY[..ordinary_fields()]
        .iter()
        .map(|&(n, v)| (n, v))
        .chain(scenario.headers.iter().map(|(n, v)| (*n, v.as_str())))
    {
        map.append(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("scenario header values are valid"),
        );
    }
    map
}

/// The measured loop (the only code callgrind counts with `--toggle-collect`).
#[inline(never)]
fn measure(engine: &Engine, request: &Request<'_, HeaderMap>, iterations: u64) -> u64 {
    let mut sink = 0u64;
    for _ in 0..iterations {
        let decision = engine.decide(black_box(request));
        sink = sink.wrapping_add(decision.outcome() as u64);
        black_box(&decision);
    }
    sink
}

fn run(policies: &Policies, scenario: &Scenario, iterations: u64) -> f64 {
    let engine = (scenario.engine)(policies);
    let map = header_map(scenario);
    let request = Request::new(scenario.method, &map).addressed_to("https", b"api.example.com");
    let got = engine.decide(&request).outcome();
    assert_eq!(got, scenario.outcome, "scenario {} decided {got:?}", scenario.name);
    let start = Instant::now();
    black_box(measure(engine, &request, iterations));
    nanos_per(start.elapsed(), iterations)
}

fn main() {
    let scenarios = scenarios();
    let selection = harness::select(&scenarios, |s| s.name, 1_000_000);
    let Selection::Run { scenarios: selected, iterations } =
        selection.unwrap_or_else(|error| panic!("{error}"))
    else {
        return;
    };
    let mut out = std::io::stdout().lock();
    let policies = policies();
    let size = size_of::<cors_engine::Decision<'_, '_, HeaderMap>>();
    writeln!(out, "size_of::<Decision>() = {size} bytes").expect("stdout");
    for scenario in selected {
        let per = run(&policies, scenario, iterations);
        writeln!(out, "{:<28} {per:>9.1} ns/decision ({iterations} iterations)", scenario.name)
            .expect("stdout");
    }
}
