//! The engine scenarios of issue 11: decisions, scale, hostile input; plus the inputs of the
//! parsing and loading benches.

use std::fmt::Write as _;
use std::sync::Arc;

use cors_engine::{Engine, Outcome, Request};
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

use crate::policies::{
    ALLOWED_ORIGIN, DISALLOWED_ORIGIN, HOST, filler_origins, load, policy_yaml,
    reference_policy_yaml,
};

/// The headers the engine's preflight scenarios ask for (3, all allowed).
const REQUESTED: &str = "content-type, x-token, x-requested-with";
/// The headers the engine scenarios' policy allows.
const ALLOWED_HEADERS: [&str; 3] = ["content-type", "x-token", "x-requested-with"];

/// One engine decision under measurement: criterion group `group`, function `function`.
#[derive(Debug)]
pub struct EngineCase {
    /// The criterion group: the scenario (`engine-actual-allowed`, `engine-scale-10000-exact`).
    pub group: &'static str,
    /// The criterion function: the variant (`decide`, `first`, `last`, `absent`).
    pub function: &'static str,
    /// The engine, shared by the cases of one policy.
    pub engine: Arc<Engine>,
    /// The request method.
    pub method: &'static [u8],
    /// The request's header fields (as the tower layer hands them over).
    pub headers: HeaderMap,
    /// What the decision must be; checked before measuring.
    pub expected: Outcome,
}

impl EngineCase {
    /// The request, addressed to `http://api.example.com`.
    #[must_use]
    pub fn request(&self) -> Request<'_, HeaderMap> {
        Request::new(self.method, &self.headers).addressed_to("http", HOST.as_bytes())
    }

    /// The criterion id, `group/function`.
    #[must_use]
    pub fn id(&self) -> String {
        format!("{}/{}", self.group, self.function)
    }

    /// Decides once and compares with [`expected`](Self::expected).
    ///
    /// # Errors
    /// The outcome, when it is not the expected one: the scenario would measure something else.
    pub fn check(&self) -> Result<(), String> {
        let outcome = self.engine.decide(&self.request()).outcome();
        if outcome == self.expected {
            Ok(())
        } else {
            Err(format!("{}: expected {:?}, got {outcome:?}", self.id(), self.expected))
        }
    }
}

pub(crate) fn headers(fields: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in fields {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("invariant: fixture names are tokens"),
            HeaderValue::from_str(value).expect("invariant: fixture values are visible ASCII"),
        );
    }
    map
}

fn origin(value: &str) -> (&'static str, &str) {
    ("origin", value)
}

fn preflight<'a>(
    origin: &'a str,
    method: &'a str,
    headers: &'a str,
) -> [(&'static str, &'a str); 3] {
    [
        ("origin", origin),
        ("access-control-request-method", method),
        ("access-control-request-headers", headers),
    ]
}

fn engine(yaml: &str) -> Arc<Engine> {
    Arc::new(Engine::new(load(yaml)))
}

struct Builder<'a> {
    cases: Vec<EngineCase>,
    /// Only this criterion group, when given (the expensive policies are not built otherwise).
    only: Option<&'a str>,
}

impl Builder<'_> {
    fn wants(&self, group: &str) -> bool {
        self.only.is_none_or(|only| only == group)
    }

    fn add(
        &mut self,
        group: &'static str,
        function: &'static str,
        engine: &Arc<Engine>,
        method: &'static [u8],
        fields: &[(&str, &str)],
        expected: Outcome,
    ) {
        if !self.wants(group) {
            return;
        }
        self.cases.push(EngineCase {
            group,
            function,
            engine: Arc::clone(engine),
            method,
            headers: headers(fields),
            expected,
        });
    }
}

/// Every engine scenario of issue 11. `quick` keeps one case per kind of work (CI).
#[must_use]
pub fn engine_cases(quick: bool) -> Vec<EngineCase> {
    engine_cases_in(quick, None)
}

/// The engine scenarios of criterion group `only` (all of them when `None`), building only the
/// policies they need.
#[must_use]
pub fn engine_cases_in(quick: bool, only: Option<&str>) -> Vec<EngineCase> {
    use Outcome::{Allowed, Blocked, NotCors, PreflightAccepted, PreflightRejected};

    let mut b = Builder { cases: Vec::new(), only };
    let reference = engine(&reference_policy_yaml(2, &ALLOWED_HEADERS));

    b.add("engine-not-cors", "decide", &reference, b"GET", &[], NotCors);
    b.add(
        "engine-actual-allowed",
        "decide",
        &reference,
        b"GET",
        &[origin(ALLOWED_ORIGIN)],
        Allowed,
    );
    b.add(
        "engine-actual-blocked",
        "decide",
        &reference,
        b"GET",
        &[origin(DISALLOWED_ORIGIN)],
        Blocked,
    );
    b.add(
        "engine-preflight-accepted",
        "decide",
        &reference,
        b"OPTIONS",
        &preflight(ALLOWED_ORIGIN, "PUT", REQUESTED),
        PreflightAccepted,
    );
    let mirroring = engine(&reference_policy_yaml(2, &["*"]));
    b.add(
        "engine-preflight-mirrored",
        "decide",
        &mirroring,
        b"OPTIONS",
        &preflight(ALLOWED_ORIGIN, "PUT", REQUESTED),
        PreflightAccepted,
    );
    b.add(
        "engine-preflight-rejected-origin",
        "decide",
        &reference,
        b"OPTIONS",
        &preflight(DISALLOWED_ORIGIN, "PUT", REQUESTED),
        PreflightRejected,
    );
    b.add(
        "engine-preflight-rejected-method",
        "decide",
        &reference,
        b"OPTIONS",
        &preflight(ALLOWED_ORIGIN, "DELETE", REQUESTED),
        PreflightRejected,
    );
    b.add(
        "engine-preflight-rejected-header",
        "decide",
        &reference,
        b"OPTIONS",
        &preflight(ALLOWED_ORIGIN, "PUT", "content-type, x-token, x-forbidden"),
        PreflightRejected,
    );
    let public = engine(include_str!("../../examples/policies/public.yaml"));
    b.add("engine-public", "decide", &public, b"GET", &[origin(ALLOWED_ORIGIN)], Allowed);
    let public_credentials =
        engine(include_str!("../../examples/policies/public-credentials.yaml"));
    b.add(
        "engine-public-credentials",
        "decide",
        &public_credentials,
        b"GET",
        &[origin(ALLOWED_ORIGIN)],
        Allowed,
    );
    b.add(
        "engine-same-origin",
        "decide",
        &reference,
        b"GET",
        &[origin("http://api.example.com")],
        NotCors,
    );

    scale_cases(&mut b, quick);
    hostile_cases(&mut b, &reference);
    b.cases
}

/// Scale: exact origins `https://site{i}.example.org`, subdomain patterns
/// `https://*.tenant{i}.example.com`; the request's origin first, last, absent.
fn scale_cases(b: &mut Builder<'_>, quick: bool) {
    use Outcome::{Allowed, Blocked};

    let sizes: &[(&'static str, usize)] = if quick {
        &[("engine-scale-1-exact", 1), ("engine-scale-10000-exact", 10_000)]
    } else {
        &[
            ("engine-scale-1-exact", 1),
            ("engine-scale-100-exact", 100),
            ("engine-scale-10000-exact", 10_000),
        ]
    };
    for &(group, size) in sizes {
        if !b.wants(group) {
            continue;
        }
        let origins = filler_origins(size);
        let engine = engine(&policy_yaml(&origins, &ALLOWED_HEADERS));
        let first = origins[0].clone();
        let last = origins[size - 1].clone();
        b.add(group, "first", &engine, b"GET", &[origin(&first)], Allowed);
        if size > 1 {
            b.add(group, "last", &engine, b"GET", &[origin(&last)], Allowed);
        }
        b.add(group, "absent", &engine, b"GET", &[origin(DISALLOWED_ORIGIN)], Blocked);
    }
    if !quick && b.wants("engine-scale-1000-subdomains") {
        let patterns: Vec<String> =
            (0..1_000).map(|i| format!("https://*.tenant{i}.example.com")).collect();
        let engine = engine(&policy_yaml(&patterns, &ALLOWED_HEADERS));
        let group = "engine-scale-1000-subdomains";
        let first = "https://app.tenant0.example.com";
        let last = "https://app.tenant999.example.com";
        b.add(group, "first", &engine, b"GET", &[origin(first)], Allowed);
        b.add(group, "last", &engine, b"GET", &[origin(last)], Allowed);
        b.add(group, "absent", &engine, b"GET", &[origin(DISALLOWED_ORIGIN)], Blocked);
    }
}

/// Hostile input, against the reference policy.
fn hostile_cases(b: &mut Builder<'_>, reference: &Arc<Engine>) {
    use Outcome::{Blocked, PreflightRejected};

    let commas = ",".repeat(64 * 1024);
    b.add(
        "engine-hostile-acrh-64k-commas",
        "decide",
        reference,
        b"OPTIONS",
        &preflight(ALLOWED_ORIGIN, "PUT", &commas),
        PreflightRejected,
    );
    let mut names = String::new();
    for i in 0..1_000 {
        let _ = write!(names, "{}x-h{i}", if i == 0 { "" } else { "," });
    }
    b.add(
        "engine-hostile-acrh-1000-names",
        "decide",
        reference,
        b"OPTIONS",
        &preflight(ALLOWED_ORIGIN, "PUT", &names),
        PreflightRejected,
    );
    let long_origin = format!("https://{}.example.com", "a".repeat(8 * 1024 - 20));
    b.add(
        "engine-hostile-origin-8k",
        "decide",
        reference,
        b"GET",
        &[origin(&long_origin)],
        Blocked,
    );
}

/// The `Origin` values of the request-time parsing bench (function id, bytes).
///
/// Config-time parsing uses the same list (with `null` skipped) plus an IDNA host.
#[must_use]
pub fn origin_inputs() -> [(&'static str, &'static str); 5] {
    [
        ("tuple", ALLOWED_ORIGIN),
        ("with-port", "https://app.example.com:8443"),
        ("ipv4", "http://127.0.0.1:8080"),
        ("null", "null"),
        ("idna", "https://b\u{fc}cher.example"),
    ]
}

/// A cors-flex policy file of 1 000 origins in one group (the policy-loading bench).
#[must_use]
pub fn policy_file_1000_origins() -> String {
    reference_policy_yaml(1_000, &["content-type", "x-token"])
}
