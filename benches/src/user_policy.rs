//! A user's own cors-flex policy as a benchmark (`cargo xtask bench --policy FILE`, which sets
//! [`POLICY_ENV`]): the engine and our layer measured on requests derived from the policy.
//!
//! The requests, four to seven, each checked against the engine before it is measured:
//! - `actual-allowed`: `GET` (or, for a group that does not allow `GET`, its first allowed
//!   method) from the first origin of the policy's groups that the engine allows. An exact
//!   origin is sent as written; a subdomain pattern `scheme://*.domain[:port]` as
//!   `scheme://bench.domain[:port]`; `*` (or a public resource) as `https://bench.example.com`;
//!   `null` as `null`. A policy that allows none of these is refused with the list tried.
//! - `actual-exact`, `actual-subdomain`, `actual-null`: the same, from the first entry of that
//!   kind the engine allows, for each kind the policy lists besides `actual-allowed`'s (each
//!   kind is matched its own way); at most one each. `*` needs none: `actual-unknown` reaches it.
//!
//!   Each origin is checked to be granted by the entry it was derived from, as the engine looks
//!   it up: one that the engine grants by another entry (an exact origin wins over a subdomain
//!   pattern, the longest pattern over a shorter one, any pattern over `*`) or as a public
//!   resource (which ignores its groups) is left out, the next entry being tried, and
//!   [`UserPolicy::left_out`] says so.
//! - `actual-unknown`: the same method from `https://unlisted.invalid` (`.invalid` is reserved, so
//!   no policy lists it): blocked, or allowed by a public resource or `*`; the outcome is reported.
//! - `preflight`: `OPTIONS` from that allowed origin, asking for the group's first allowed method
//!   that is not CORS-safelisted (else its first method, else `PUT`; never `CONNECT`, `TRACE` or
//!   `TRACK`, which browsers do not send) and for up to 3 of its
//!   allowed headers (`x-bench-a, x-bench-b` when it allows any header; none when it lists none).
//!   A policy that does not accept it is refused, saying why.
//! - `no-origin`: `GET` without `Origin`.
//!
//! A Flex Local Mode folder is read as `cors-gateway` reads it, and the policy of its first
//! `ApiInstance` with a `cors-flex` policy is measured, or of the one [`INSTANCE_ENV`] names
//! (`cargo xtask bench --instance NAME`).
//! The file's warnings are kept ([`UserPolicy::warnings`]) for the summary to show.
//!
//! Criterion ids: `engine-policy-<request>/decide`, and `layer-policy-<request>/bare-tower` and
//! `/cors-hyper`. The peers cannot read a cors-flex file: tower-http and actix-cors are each
//! configured as the policy where they can express it ([`UserPolicy::tower_http`],
//! [`UserPolicy::actix_cors`]) and measured (`/tower-http`; `/bare-actix` and `/actix-cors`) on
//! the requests they answer as ours does ([`DerivedRequest::tower_http`],
//! [`DerivedRequest::actix_cors`]); [`UserPolicy::visit_services`] hands out what to measure.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::time::Duration;

use cors_engine::{Engine, Outcome};
use cors_origin::OriginPattern;
use cors_policy::{AllowedHeaders, Group, LocalConfig, Policy};
use http::Method;
use http::header::{HeaderName, HeaderValue};
use tower::Layer as _;

use crate::actix_side::{actix_bare, actix_with};
use crate::engine_cases::{EngineCase, headers};
use crate::policies::HOST;
use crate::scenario::{Implementation, ResponseSummary, Subject};
use crate::tower_side::{Handler, TowerSubject, bare_tower};

/// The environment variable naming the policy file.
pub const POLICY_ENV: &str = "CORS_BENCH_POLICY";

/// The environment variable naming the `ApiInstance` of a Flex Local Mode folder to measure
/// (`namespace/name`, or `name` alone when no other namespace has one of that name).
pub const INSTANCE_ENV: &str = "CORS_BENCH_INSTANCE";

/// The origin every policy is assumed not to list.
const UNKNOWN_ORIGIN: &str = "https://unlisted.invalid";

/// The origin sent when the policy allows any origin.
const ANY_ORIGIN: &str = "https://bench.example.com";

/// The requests, with their engine and layer criterion groups.
const REQUESTS: [(&str, &str, &str); 7] = [
    ("actual-allowed", "engine-policy-actual-allowed", "layer-policy-actual-allowed"),
    ("actual-exact", "engine-policy-actual-exact", "layer-policy-actual-exact"),
    ("actual-subdomain", "engine-policy-actual-subdomain", "layer-policy-actual-subdomain"),
    ("actual-null", "engine-policy-actual-null", "layer-policy-actual-null"),
    ("actual-unknown", "engine-policy-actual-unknown", "layer-policy-actual-unknown"),
    ("preflight", "engine-policy-preflight", "layer-policy-preflight"),
    ("no-origin", "engine-policy-no-origin", "layer-policy-no-origin"),
];

/// The kinds of origin entry that get an actual request of their own (`actual-<kind>`) when
/// `actual-allowed` is of another kind: each is matched its own way (a hashed set, a suffix, a
/// flag). `*` needs none: `actual-unknown` reaches it.
const KINDS: [&str; 3] = ["exact", "subdomain", "null"];

/// One request derived from the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DerivedRequest {
    /// `actual-allowed`, `actual-exact`, `actual-subdomain`, `actual-null`, `actual-unknown`,
    /// `preflight` or `no-origin`.
    pub name: &'static str,
    /// The engine's criterion group (`engine-policy-<name>`).
    pub engine_group: &'static str,
    /// The layer's criterion group (`layer-policy-<name>`).
    pub layer_group: &'static str,
    /// The request method.
    pub method: &'static str,
    /// The header fields besides `Host`, lower-case names.
    pub fields: Vec<(&'static str, &'static str)>,
    /// What the engine decides.
    pub outcome: Outcome,
    /// How the request was derived from the policy, for the report.
    pub derivation: String,
    /// Whether tower-http, configured as the policy ([`UserPolicy::tower_http`]), answers the
    /// request as our layer does (status, the handler called or not, each `Access-Control-*`
    /// field present or absent alike, `Allow-Origin`, `Allow-Credentials` and `Max-Age`
    /// equal): then its figures compare with ours, and it is measured too.
    pub tower_http: bool,
    /// The same for actix-cors, configured as the policy ([`UserPolicy::actix_cors`]).
    pub actix_cors: bool,
}

/// The `ApiInstance` of a Flex Local Mode folder whose policy is measured.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Instance {
    /// `namespace/name`.
    pub name: String,
    /// How many of the folder's instances have a `cors-flex` policy.
    pub of: usize,
    /// Whether [`INSTANCE_ENV`] named it; else it is the first with a policy.
    pub named: bool,
}

/// The user's policy, its engine, and the requests derived from it.
#[derive(Debug)]
pub struct UserPolicy {
    /// The policy file, or the Flex Local Mode folder.
    pub file: PathBuf,
    /// In a folder, the `ApiInstance` whose policy is measured.
    pub instance: Option<Instance>,
    /// The compiled policy.
    pub policy: Policy,
    /// The engine built from it.
    pub engine: Arc<Engine>,
    /// The requests, in the order of the module documentation.
    pub requests: Vec<DerivedRequest>,
    /// The file's warnings, one `FILE:LINE:COLUMN: warning: ...` line each, as
    /// `cors-gateway check` prints them: what the policy ignores or risks is what is measured.
    pub warnings: Vec<String>,
    /// The requests left out, one sentence each: derived from an origin entry that the engine
    /// allows, but grants by another entry (or as a public resource, which ignores its groups),
    /// so that they would measure that entry under this one's name. The first of each kind.
    pub left_out: Vec<String>,
}

impl UserPolicy {
    /// The policy [`POLICY_ENV`] names, if it is set (in a folder, the instance
    /// [`INSTANCE_ENV`] names, if it is set).
    #[must_use]
    pub fn from_env() -> Option<Result<UserPolicy, String>> {
        let path = std::env::var_os(POLICY_ENV)?;
        let instance = std::env::var_os(INSTANCE_ENV);
        let instance = instance.as_ref().map(|name| name.to_string_lossy());
        Some(UserPolicy::load(Path::new(&path), instance.as_deref()))
    }

    /// The policy [`POLICY_ENV`] names, if it is set, for the bench binaries: a policy that
    /// cannot be benchmarked ends the process with its error (exit status 2), before anything
    /// is measured.
    #[must_use]
    pub fn from_env_or_exit() -> Option<UserPolicy> {
        match UserPolicy::from_env()? {
            Ok(user) => Some(user),
            Err(error) => {
                eprintln!("{POLICY_ENV}: {error}");
                std::process::exit(2);
            }
        }
    }

    /// Loads the policy at `path` and derives the requests. A folder is read as a Flex Local
    /// Mode folder, as `cors-gateway` reads one: the policy of the `ApiInstance` named
    /// `instance` (`namespace/name`, or `name` alone), else of its first `ApiInstance` (in the
    /// gateway's order) that has a `cors-flex` policy, is measured, and
    /// [`UserPolicy::instance`] says which.
    ///
    /// # Errors
    ///
    /// The file or folder does not load (every problem, with lines and columns), a folder has no
    /// instance with a `cors-flex` policy, `instance` names none of them (the error lists
    /// them) or is given with a file, or the policy allows no origin or accepts no preflight
    /// the derivation can build.
    pub fn load(path: &Path, instance: Option<&str>) -> Result<UserPolicy, String> {
        let (policy, warnings, instance) = if path.is_dir() {
            let config = LocalConfig::from_dir(path).map_err(|e| e.to_string())?;
            let with_policy: Vec<_> = config
                .instances()
                .filter_map(|instance| {
                    let name = format!("{}/{}", instance.namespace(), instance.name());
                    Some((name, instance.name(), instance.policy()?))
                })
                .collect();
            let names = || {
                let names: Vec<&str> = with_policy.iter().map(|(full, ..)| full.as_str()).collect();
                names.join(", ")
            };
            let chosen: Vec<_> = with_policy
                .iter()
                .filter(|(full, name, _)| {
                    instance.is_none_or(|wanted| wanted == full || wanted == *name)
                })
                .collect();
            if with_policy.is_empty() {
                return Err(format!(
                    "{}: no ApiInstance of the folder has a cors-flex policy",
                    path.display()
                ));
            }
            let wanted = instance.unwrap_or_default();
            let (name, policy) = match chosen.as_slice() {
                [(name, _, policy)] => (name.clone(), (*policy).clone()),
                [(name, _, policy), ..] if instance.is_none() => (name.clone(), (*policy).clone()),
                [] => {
                    return Err(format!(
                        "--instance {wanted}: {} has no ApiInstance {wanted} with a cors-flex \
                         policy; the instances with one: {}",
                        path.display(),
                        names()
                    ));
                }
                several => {
                    let all: Vec<&str> = several.iter().map(|(full, ..)| full.as_str()).collect();
                    return Err(format!(
                        "--instance {wanted}: {} has several ApiInstances of that name ({}); \
                         give its namespace too",
                        path.display(),
                        all.join(", ")
                    ));
                }
            };
            let of = with_policy.len();
            let instance = Instance { name, of, named: instance.is_some() };
            (policy, config.warnings().to_vec(), Some(instance))
        } else {
            if let Some(wanted) = instance {
                return Err(format!(
                    "--instance {wanted}: {} is a policy file; --instance picks an ApiInstance \
                     of a Flex Local Mode folder",
                    path.display()
                ));
            }
            let loaded = Policy::from_yaml_file(path).map_err(|e| e.to_string())?;
            (loaded.policy, loaded.warnings, None)
        };
        let engine = Arc::new(Engine::new(policy.clone()));
        let (requests, left_out) = derive(&policy, &engine)?;
        let warnings = warnings.iter().map(ToString::to_string).collect();
        let file = path.to_path_buf();
        let mut user = UserPolicy { file, instance, policy, engine, requests, warnings, left_out };
        let ours = user.layer();
        let (tower, actix) = (user.tower_http(), user.actix_cors());
        for derived in &mut user.requests {
            let answered = answer(&ours, derived);
            derived.tower_http =
                tower.as_ref().is_some_and(|peer| alike(&answered, &answer(peer, derived)));
            derived.actix_cors =
                actix.as_ref().is_some_and(|peer| alike(&answered, &answer(peer, derived)));
        }
        Ok(user)
    }

    /// The policy, its instance, warnings, requests and those left out as JSON: what the
    /// `allocations` bench writes to `policy-requests.json`, which `cargo xtask bench` puts in
    /// `target/bench/summary.json` as `run.policy` (docs/bench-summary-schema.md). Each request
    /// has `name`, `method`, `fields` (`[name, value]` pairs), `outcome` (the engine's decision),
    /// `derivation` and `peers` (those measured on it: `tower-http`, `actix-cors`).
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        let requests: Vec<_> = self
            .requests
            .iter()
            .map(|r| {
                let peers: Vec<&str> = [(r.tower_http, "tower-http"), (r.actix_cors, "actix-cors")]
                    .into_iter()
                    .filter_map(|(measured, peer)| measured.then_some(peer))
                    .collect();
                serde_json::json!({
                    "name": r.name, "method": r.method, "fields": r.fields,
                    "outcome": format!("{:?}", r.outcome), "derivation": r.derivation,
                    "peers": peers,
                })
            })
            .collect();
        serde_json::json!({
            "file": self.file.display().to_string(),
            "instance": self.instance.as_ref().map(|instance| {
                serde_json::json!({ "name": instance.name, "of": instance.of, "named": instance.named })
            }),
            "warnings": self.warnings,
            "requests": requests,
            "left_out": self.left_out,
        })
    }

    /// tower-http's `CorsLayer` over the handler, configured as the policy where it can express
    /// it: one origin group of exact origins (no public resource, subdomain pattern, `null` or
    /// `*`, which it would match otherwise), its methods, headers (`*` as mirroring the
    /// request's), exposed headers, max age and credentials. `None` for any other policy.
    /// Whether it answers a derived request as ours does is [`DerivedRequest::tower_http`].
    #[must_use]
    pub fn tower_http(&self) -> Option<TowerSubject<tower_http::cors::Cors<Handler>>> {
        use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
        let [group] = self.policy.groups() else { return None };
        if self.policy.is_public_resource() {
            return None;
        }
        let mut origins = Vec::new();
        for pattern in group.origins() {
            let OriginPattern::Exact(origin) = pattern else { return None };
            origins.push(HeaderValue::from_str(&origin.to_string()).ok()?);
        }
        let names = |list: &[String]| -> Option<Vec<HeaderName>> {
            list.iter().map(|name| HeaderName::from_bytes(name.as_bytes()).ok()).collect()
        };
        let methods: Option<Vec<Method>> =
            group.methods().iter().map(|m| Method::from_bytes(m.as_bytes()).ok()).collect();
        let headers = match group.headers() {
            AllowedHeaders::List(list) => AllowHeaders::list(names(list)?),
            _ => AllowHeaders::mirror_request(),
        };
        let layer = CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(self.policy.supports_credentials())
            .allow_methods(methods?)
            .allow_headers(headers)
            .expose_headers(names(group.exposed_headers())?)
            .max_age(Duration::from_secs(group.max_age()));
        Some(TowerSubject::new(layer.layer(Handler)))
    }

    /// actix-cors's `Cors` over the handler in an actix-web `App`, configured as the policy
    /// where it can express it: as [`UserPolicy::tower_http`] (one group of exact origins, no
    /// public resource), `*` headers as `allow_any_header` (which mirrors the request's list).
    /// `None` for any other policy. Whether it answers a derived request as ours does is
    /// [`DerivedRequest::actix_cors`].
    #[must_use]
    pub fn actix_cors(&self) -> Option<impl Subject + use<>> {
        let [group] = self.policy.groups() else { return None };
        if self.policy.is_public_resource() {
            return None;
        }
        // actix-web's own `http` types are not ours: names and methods go as text, each checked
        // here first, since one actix-cors refuses fails the app's start.
        let is_method: fn(&[u8]) -> bool = |m| Method::from_bytes(m).is_ok();
        let is_name: fn(&[u8]) -> bool = |n| HeaderName::from_bytes(n).is_ok();
        let mut cors = actix_cors::Cors::default();
        for pattern in group.origins() {
            let OriginPattern::Exact(origin) = pattern else { return None };
            let origin = origin.to_string();
            // A serialized origin is always a URI, as actix-cors wants.
            actix_web::http::Uri::try_from(origin.as_str()).ok()?;
            cors = cors.allowed_origin(&origin);
        }
        let methods = checked(group.methods(), is_method)?;
        cors = match group.headers() {
            AllowedHeaders::List(list) => cors.allowed_headers(checked(list, is_name)?),
            _ => cors.allow_any_header(),
        };
        if self.policy.supports_credentials() {
            cors = cors.supports_credentials();
        }
        let max_age = usize::try_from(group.max_age()).ok()?;
        let cors = cors
            .allowed_methods(methods)
            .expose_headers(checked(group.exposed_headers(), is_name)?)
            .max_age(max_age);
        Some(actix_with(cors))
    }

    /// The engine cases: one `decide` per request.
    #[must_use]
    pub fn engine_cases(&self) -> Vec<EngineCase> {
        self.requests
            .iter()
            .map(|request| EngineCase {
                group: request.engine_group,
                function: "decide",
                engine: Arc::clone(&self.engine),
                method: request.method.as_bytes(),
                headers: headers(&request.fields),
                expected: request.outcome,
            })
            .collect()
    }

    /// The handler behind our layer configured with the policy.
    #[must_use]
    pub fn layer(&self) -> TowerSubject<cors_hyper::Cors<Handler>> {
        TowerSubject::new(cors_hyper::CorsLayer::new(self.policy.clone()).layer(Handler))
    }

    /// Hands `visitor` every service measured on each derived request, in the order of
    /// [`Implementation::ALL`]: the bare tower handler and ours always; tower-http where it
    /// answers alike ([`DerivedRequest::tower_http`]); the bare actix-web `App` and actix-cors
    /// where actix-cors does ([`DerivedRequest::actix_cors`]). Each service is built once.
    /// The benches, the allocation counts and the `profile` example all measure what this
    /// hands them, so they measure the same things.
    pub fn visit_services(&self, visitor: &mut impl Visit) {
        let (bare, ours) = (bare_tower(), self.layer());
        let (tower, actix) = (self.tower_http(), self.actix_cors());
        let bare_actix = actix.is_some().then(actix_bare);
        for derived in &self.requests {
            visitor.visit(derived, Implementation::BareTower, &bare);
            visitor.visit(derived, Implementation::CorsHyper, &ours);
            if let Some(peer) = tower.as_ref().filter(|_| derived.tower_http) {
                visitor.visit(derived, Implementation::TowerHttp, peer);
            }
            if let (Some(bare), Some(peer)) = (&bare_actix, actix.as_ref())
                && derived.actix_cors
            {
                visitor.visit(derived, Implementation::BareActix, bare);
                visitor.visit(derived, Implementation::ActixCors, peer);
            }
        }
    }
}

/// What measures the services of a user's policy ([`UserPolicy::visit_services`]).
pub trait Visit {
    /// Measures `subject`, the service of `implementation`, on `derived`
    /// (`subject.request_for(derived.method, &derived.fields)` builds its request).
    fn visit<M: Subject>(
        &mut self,
        derived: &DerivedRequest,
        implementation: Implementation,
        subject: &M,
    );
}

/// `list` as text, if `valid` holds for every item; else none.
fn checked(list: &[String], valid: fn(&[u8]) -> bool) -> Option<Vec<&str>> {
    list.iter().map(|item| valid(item.as_bytes()).then_some(item.as_str())).collect()
}

/// What `subject` answers to `derived`.
fn answer<M: Subject>(subject: &M, derived: &DerivedRequest) -> ResponseSummary {
    M::summary(&subject.call(subject.request_for(derived.method, &derived.fields)))
}

/// Whether two answers to one request are alike for a comparison of costs: the same status,
/// the handler called by both or neither, the same `Access-Control-*` fields present, and the
/// same `Allow-Origin`, `Allow-Credentials` and `Max-Age` values (a list's spacing may differ).
fn alike(ours: &ResponseSummary, theirs: &ResponseSummary) -> bool {
    fn fields(answer: &ResponseSummary) -> Vec<&str> {
        let mut names: Vec<&str> = answer
            .headers
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| name.starts_with("access-control-"))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
    let same = |name: &str| ours.get(name) == theirs.get(name);
    ours.status == theirs.status
        && fields(ours) == fields(theirs)
        && [
            "access-control-allow-origin",
            "access-control-allow-credentials",
            "access-control-max-age",
            // The handler's mark: both called it, or neither did.
            "content-type",
        ]
        .into_iter()
        .all(same)
}

/// Decides `method` with `fields` as the benches send it.
fn decide(engine: &Engine, method: &str, fields: &[(&str, &str)]) -> Outcome {
    let map = headers(fields);
    let request =
        cors_engine::Request::new(method.as_bytes(), &map).addressed_to("http", HOST.as_bytes());
    engine.decide(&request).outcome()
}

/// A string that lives as long as the bench binary, so that a derived request's fields are
/// `&'static str` pairs as the reference scenarios' are ([`crate::LayerScenario::headers`]),
/// which [`crate::request`] writes into a request head. A few short strings per process.
fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// An origin `pattern` matches, for a request, and the kind of entry it is (`exact`,
/// `subdomain`, `null` or `any`).
fn example_origin(pattern: &OriginPattern) -> (String, &'static str) {
    match pattern {
        OriginPattern::Exact(origin) => (origin.to_string(), "exact"),
        OriginPattern::Subdomains(pattern) => {
            let port = pattern.port().map(|port| format!(":{port}")).unwrap_or_default();
            (format!("{}://bench.{}{port}", pattern.scheme(), pattern.domain()), "subdomain")
        }
        OriginPattern::Null => ("null".to_owned(), "null"),
        _ => (ANY_ORIGIN.to_owned(), "any"),
    }
}

/// Whether browsers never send `method` (Fetch's forbidden methods): no request is derived with
/// one, although a group without `allowedMethods` allows `CONNECT` and `TRACE`.
fn forbidden(method: &str) -> bool {
    ["CONNECT", "TRACE", "TRACK"].contains(&method)
}

/// The actual request's method: `GET` where the group allows it (and for a public resource),
/// else the group's first allowed method that browsers send, so that a group of `POST` and `PUT`
/// alone is measured on a request it allows rather than refused as allowing no origin.
fn actual_method(group: Option<&Group>) -> &str {
    match group {
        Some(group) if !group.allows_method(b"GET") => {
            group.methods().iter().find(|m| !forbidden(m)).map_or("GET", String::as_str)
        }
        _ => "GET",
    }
}

/// An origin the engine allows, from an entry of the policy.
struct Allowed<'p> {
    origin: &'static str,
    /// The entry's kind ([`example_origin`]); `any` for a public resource without groups.
    kind: &'static str,
    /// The entry's group; none for a public resource without groups.
    group: Option<&'p Group>,
    /// The actual request's method ([`actual_method`]).
    method: &'static str,
}

/// Every origin entry of the policy with its group, in the order of [`Policy::origins`] (every
/// group's patterns, in file order), so that an entry's index there is its index here.
fn entries(policy: &Policy) -> Vec<(&OriginPattern, &Group)> {
    let groups = policy.groups().iter();
    groups.flat_map(|group| group.origins().iter().map(move |pattern| (pattern, group))).collect()
}

/// The entry the engine grants `origin` by: its index in [`Policy::origins`], found by the
/// lookup [`Engine::decide`] makes (`parse_and_find`; the engine's grant is that match's
/// group, [`Policy::group_of`]), or none for a public resource, which ignores its groups (M2).
/// Looked up here as the engine does because a decision does not name its entry, and an
/// explanation names it in words alone.
fn granting_entry(policy: &Policy, origin: &str) -> Option<usize> {
    if policy.is_public_resource() {
        return None;
    }
    let (_, found) = policy.origins().parse_and_find(origin.as_bytes()).ok()?;
    Some(found?.index())
}

/// An entry for a message (``the subdomain entry `https://*.a.test` of group sites``, ``the `*`
/// entry of group #1``), or a public resource when none.
fn entry_name(entry: Option<(&OriginPattern, &Group)>) -> String {
    match entry {
        Some((OriginPattern::Any, group)) => {
            format!("the `*` entry of {}", group_name(Some(group)))
        }
        Some((pattern, group)) => {
            let (_, kind) = example_origin(pattern);
            format!("the {kind} entry `{pattern}` of {}", group_name(Some(group)))
        }
        None => "a public resource".to_owned(),
    }
}

/// The first candidate origin the engine allows, then the first of each other kind of
/// [`KINDS`] the policy lists that the engine allows: at most four. A candidate the engine
/// allows by another entry than its own (or as a public resource) is left out, as it would
/// measure that entry under this one's name: the sentences saying so come second, the first
/// of each kind.
fn allowed_origins<'p>(
    policy: &'p Policy,
    engine: &Engine,
) -> Result<(Vec<Allowed<'p>>, Vec<String>), String> {
    let entries = entries(policy);
    let entry_of = |index: Option<usize>| index.and_then(|index| entries.get(index).copied());
    let mut candidates: Vec<(String, &'static str, Option<&Group>, Option<usize>)> = entries
        .iter()
        .enumerate()
        .map(|(index, &(pattern, group))| {
            let (origin, kind) = example_origin(pattern);
            (origin, kind, Some(group), Some(index))
        })
        .collect();
    candidates.push((ANY_ORIGIN.to_owned(), "any", None, None));
    let mut allowed: Vec<Allowed<'p>> = Vec::new();
    let mut left_out: Vec<(&'static str, String)> = Vec::new();
    let mut tried: Vec<String> = Vec::new();
    for (origin, kind, group, entry) in candidates {
        let wanted = allowed.is_empty() || KINDS.contains(&kind);
        if !wanted || allowed.iter().any(|a| a.kind == kind) {
            continue;
        }
        let method = actual_method(group);
        if decide(engine, method, &[("origin", &origin)]) != Outcome::Allowed {
            let attempt = format!("{method} from {origin}");
            if allowed.is_empty() && !tried.contains(&attempt) {
                tried.push(attempt);
            }
            continue;
        }
        let granting = granting_entry(policy, &origin);
        if granting != entry {
            if !left_out.iter().any(|(other, _)| *other == kind) {
                let by = match granting {
                    Some(_) => format!("matches it with {}", entry_name(entry_of(granting))),
                    None => "allows it as a public resource, which ignores its groups".to_owned(),
                };
                let from = entry_name(entry_of(entry));
                let sentence =
                    format!("{method} from {origin}, derived from {from}: the engine {by}");
                left_out.push((kind, sentence));
            }
            continue;
        }
        let (origin, method) = (leak(origin), leak(method.to_owned()));
        allowed.push(Allowed { origin, kind, group, method });
    }
    if allowed.is_empty() {
        return Err(format!(
            "the policy allows none of the requests derived from it ({}); the bench needs one",
            tried.join(", ")
        ));
    }
    Ok((allowed, left_out.into_iter().map(|(_, sentence)| sentence).collect()))
}

/// How a request names the group `group` (a public resource without groups when none).
fn group_name(group: Option<&Group>) -> String {
    match group {
        Some(group) => match group.name() {
            Some(name) => format!("group {name}"),
            None => format!("group #{}", group.index() + 1),
        },
        None => "a public resource".to_owned(),
    }
}

/// The preflight's method: the group's first allowed method that is not CORS-safelisted, else
/// its first, else `PUT`; never one browsers do not send ([`forbidden`]).
fn preflight_method(group: Option<&Group>) -> &'static str {
    let methods = group.map(Group::methods).unwrap_or_default();
    let sent = || methods.iter().filter(|m| !forbidden(m));
    let safelisted = |m: &&String| ["GET", "HEAD", "POST"].contains(&m.as_str());
    match sent().find(|m| !safelisted(m)).or(sent().next()) {
        Some(method) => leak(method.clone()),
        None => "PUT",
    }
}

/// The preflight's requested headers: up to 3 the group allows.
fn preflight_headers(group: Option<&Group>) -> Option<&'static str> {
    match group.map(Group::headers) {
        Some(AllowedHeaders::List(list)) if list.is_empty() => None,
        Some(AllowedHeaders::List(list)) => {
            Some(leak(list.iter().take(3).map(String::as_str).collect::<Vec<_>>().join(", ")))
        }
        _ => Some("x-bench-a, x-bench-b"),
    }
}

/// The requests derived from `policy` (in the order of the module documentation), and those
/// left out ([`UserPolicy::left_out`]).
fn derive(policy: &Policy, engine: &Engine) -> Result<(Vec<DerivedRequest>, Vec<String>), String> {
    let (allowed, left_out) = allowed_origins(policy, engine)?;
    let Allowed { origin, group, method: actual, .. } = allowed[0];
    let from = group_name(group);
    let method = preflight_method(group);
    let requested = preflight_headers(group);
    let mut preflight = vec![("origin", origin), ("access-control-request-method", method)];
    preflight.extend(requested.map(|headers| ("access-control-request-headers", headers)));
    let asked = requested.map_or_else(|| "no headers".to_owned(), |h| format!("headers {h}"));
    let mut requests = Vec::new();
    let mut add = |request: &str,
                   method: &'static str,
                   fields: Vec<(&'static str, &'static str)>,
                   derivation: String,
                   expected: Option<Outcome>| {
        let Some(&(name, engine_group, layer_group)) =
            REQUESTS.iter().find(|(name, _, _)| *name == request)
        else {
            return Err(format!("no request named {request}"));
        };
        let outcome = decide(engine, method, &fields);
        if expected.is_some_and(|expected| outcome != expected) {
            return Err(format!(
                "{derivation}: the engine decides {outcome:?}; the bench needs a policy that \
                 accepts it"
            ));
        }
        requests.push(DerivedRequest {
            name,
            engine_group,
            layer_group,
            method,
            fields,
            outcome,
            derivation,
            tower_http: false,
            actix_cors: false,
        });
        Ok(())
    };
    let first = format!("{actual} from {origin}, allowed by {from}");
    add("actual-allowed", actual, vec![("origin", origin)], first, Some(Outcome::Allowed))?;
    for other in &allowed[1..] {
        let request = format!("actual-{}", other.kind);
        // `KINDS` are `exact`, `subdomain` and `null`: "an exact entry", "a subdomain entry".
        let article = if other.kind.starts_with('e') { "an" } else { "a" };
        let derivation = format!(
            "{} from {}, allowed by {article} {} entry of {}",
            other.method,
            other.origin,
            other.kind,
            group_name(other.group)
        );
        let fields = vec![("origin", other.origin)];
        add(&request, other.method, fields, derivation, Some(Outcome::Allowed))?;
    }
    // The same method as `actual-allowed`: the origin is the one difference.
    let unknown = format!("{actual} from {UNKNOWN_ORIGIN}, an origin no policy lists");
    add("actual-unknown", actual, vec![("origin", UNKNOWN_ORIGIN)], unknown, None)?;
    let asking = format!("preflight from {origin} for {method} with {asked}");
    add("preflight", "OPTIONS", preflight, asking, Some(Outcome::PreflightAccepted))?;
    let none = "GET without Origin".to_owned();
    add("no-origin", "GET", Vec::new(), none, Some(Outcome::NotCors))?;
    Ok((requests, left_out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requests(yaml: &str) -> Result<Vec<DerivedRequest>, String> {
        derived(yaml).map(|(requests, _)| requests)
    }

    /// The requests derived from `yaml`, and those left out ([`UserPolicy::left_out`]).
    fn derived(yaml: &str) -> Result<(Vec<DerivedRequest>, Vec<String>), String> {
        let policy = Policy::from_yaml_str(yaml, "t.yaml").map_err(|e| e.to_string())?.policy;
        derive(&policy, &Engine::new(policy.clone()))
    }

    fn field(request: &DerivedRequest, name: &str) -> Option<&'static str> {
        request.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    #[test]
    fn a_strict_policy_gives_its_origin_method_and_headers() {
        let yaml = "publicResource: false\noriginGroups:\n  - origins: [https://a.test, https://b.test]\n    \
                    allowedMethods: [{methodName: GET, isAllowed: true}, {methodName: PATCH, isAllowed: true}]\n    \
                    headers: [x-one, x-two, x-three, x-four]\n";
        let requests = requests(yaml).unwrap();
        let names: Vec<_> = requests.iter().map(|r| r.name).collect();
        assert_eq!(names, ["actual-allowed", "actual-unknown", "preflight", "no-origin"]);
        assert_eq!(field(&requests[0], "origin"), Some("https://a.test"));
        assert_eq!(requests[1].outcome, Outcome::Blocked);
        assert_eq!(field(&requests[2], "access-control-request-method"), Some("PATCH"));
        assert_eq!(
            field(&requests[2], "access-control-request-headers"),
            Some("x-one, x-two, x-three")
        );
        assert_eq!(requests[2].outcome, Outcome::PreflightAccepted);
        assert!(requests[3].fields.is_empty());
    }

    #[test]
    fn a_subdomain_pattern_gives_a_subdomain() {
        let yaml =
            "publicResource: false\noriginGroups:\n  - origins: ['https://*.example.test:8443']\n";
        let requests = requests(yaml).unwrap();
        assert_eq!(field(&requests[0], "origin"), Some("https://bench.example.test:8443"));
    }

    fn names(requests: &[DerivedRequest]) -> Vec<&'static str> {
        requests.iter().map(|r| r.name).collect()
    }

    #[test]
    fn a_subdomain_pattern_after_an_exact_origin_gets_a_request_of_its_own() {
        let yaml = "publicResource: false\noriginGroups:\n  - name: sites\n    \
                    origins: [https://a.test, 'https://*.a.test', https://b.test]\n";
        let requests = requests(yaml).unwrap();
        assert_eq!(
            names(&requests),
            ["actual-allowed", "actual-subdomain", "actual-unknown", "preflight", "no-origin"]
        );
        assert_eq!(field(&requests[0], "origin"), Some("https://a.test"));
        assert_eq!(field(&requests[1], "origin"), Some("https://bench.a.test"));
        assert_eq!(requests[1].outcome, Outcome::Allowed);
        assert_eq!(
            requests[1].derivation,
            "GET from https://bench.a.test, allowed by a subdomain entry of group sites"
        );
        assert_eq!(requests[1].engine_group, "engine-policy-actual-subdomain");
    }

    #[test]
    fn each_kind_of_origin_entry_is_measured_once() {
        let yaml = "publicResource: false\noriginGroups:\n  \
                    - origins: ['https://*.a.test', 'https://*.b.test']\n  \
                    - origins: [https://c.test, https://d.test, 'null']\n  \
                    - origins: ['*']\n";
        let requests = requests(yaml).unwrap();
        assert_eq!(
            names(&requests),
            [
                "actual-allowed",
                "actual-exact",
                "actual-null",
                "actual-unknown",
                "preflight",
                "no-origin"
            ]
        );
        let origins: Vec<_> = requests[..3].iter().map(|r| field(r, "origin")).collect();
        assert_eq!(origins, [Some("https://bench.a.test"), Some("https://c.test"), Some("null")]);
        assert_eq!(
            requests[1].derivation,
            "GET from https://c.test, allowed by an exact entry of group #2"
        );
        assert_eq!(requests[2].derivation, "GET from null, allowed by a null entry of group #2");
        assert!(requests[..3].iter().all(|r| r.outcome == Outcome::Allowed));
        // `*` is reached by the origin no policy lists.
        assert_eq!(requests[3].outcome, Outcome::Allowed);
    }

    /// The `origin` each derived request sends, by name.
    fn origins(requests: &[DerivedRequest]) -> Vec<(&'static str, Option<&'static str>)> {
        requests.iter().map(|r| (r.name, field(r, "origin"))).collect()
    }

    #[test]
    fn a_star_listed_first_is_not_measured_on_an_origin_another_entry_matches() {
        // `https://bench.example.com`, sent for `*`, is matched by the subdomain pattern of the
        // later group (a pattern beats `*`), which allows no PATCH: the preflight derived from
        // `anyone` was refused, and the policy with it.
        let yaml = "publicResource: false\noriginGroups:\n  - name: anyone\n    origins: ['*']\n    \
                    allowedMethods: [{methodName: GET, isAllowed: true}, {methodName: PATCH, isAllowed: true}]\n  \
                    - name: sites\n    origins: ['https://*.example.com']\n    \
                    allowedMethods: [{methodName: GET, isAllowed: true}]\n";
        let (requests, left_out) = derived(yaml).unwrap();
        assert_eq!(
            origins(&requests),
            [
                ("actual-allowed", Some("https://bench.example.com")),
                ("actual-unknown", Some(UNKNOWN_ORIGIN)),
                ("preflight", Some("https://bench.example.com")),
                ("no-origin", None),
            ]
        );
        assert_eq!(
            requests[0].derivation,
            "GET from https://bench.example.com, allowed by group sites"
        );
        assert_eq!(field(&requests[2], "access-control-request-method"), Some("GET"));
        assert_eq!(requests[2].outcome, Outcome::PreflightAccepted);
        assert_eq!(
            left_out,
            ["GET from https://bench.example.com, derived from the `*` entry of group anyone: \
                 the engine matches it with the subdomain entry `https://*.example.com` of group \
                 sites"]
        );
    }

    #[test]
    fn the_longest_subdomain_pattern_names_the_entry_a_request_measures() {
        // The `*`'s origin, `https://bench.example.com`, is matched by the longest pattern,
        // `https://*.example.com`, and not by `https://*.com` listed before it.
        let yaml = "publicResource: false\noriginGroups:\n  - name: anyone\n    origins: ['*']\n  \
                    - name: com\n    origins: ['https://*.com']\n  \
                    - name: example\n    origins: ['https://*.example.com']\n";
        let (requests, left_out) = derived(yaml).unwrap();
        assert_eq!(
            origins(&requests)[..2],
            [
                ("actual-allowed", Some("https://bench.com")),
                ("actual-unknown", Some(UNKNOWN_ORIGIN))
            ]
        );
        assert_eq!(requests[0].derivation, "GET from https://bench.com, allowed by group com");
        assert_eq!(
            left_out,
            ["GET from https://bench.example.com, derived from the `*` entry of group anyone: \
                 the engine matches it with the subdomain entry `https://*.example.com` of group \
                 example"]
        );
        // A pattern's own origin, one label under its domain, is never under a longer pattern.
        let yaml = "publicResource: false\noriginGroups:\n  - name: example\n    \
                    origins: [https://a.test, 'https://*.example.com']\n  \
                    - name: bench\n    origins: ['https://*.bench.example.com']\n";
        let (requests, left_out) = derived(yaml).unwrap();
        assert_eq!(origins(&requests)[1], ("actual-subdomain", Some("https://bench.example.com")));
        assert_eq!(
            requests[1].derivation,
            "GET from https://bench.example.com, allowed by a subdomain entry of group example"
        );
        assert!(left_out.is_empty(), "{left_out:?}");
    }

    #[test]
    fn an_exact_origin_takes_the_origin_derived_from_a_subdomain_pattern() {
        let yaml = "publicResource: false\noriginGroups:\n  - name: sites\n    \
                    origins: ['https://*.example.com']\n  \
                    - name: bench\n    origins: ['https://bench.example.com']\n";
        let (requests, left_out) = derived(yaml).unwrap();
        // No `actual-subdomain`: the pattern's one origin is the exact entry's.
        let first = "GET from https://bench.example.com, allowed by group bench";
        assert_eq!((names(&requests).len(), requests[0].derivation.as_str()), (4, first));
        assert_eq!(
            left_out,
            ["GET from https://bench.example.com, derived from the subdomain entry \
                 `https://*.example.com` of group sites: the engine matches it with the exact \
                 entry `https://bench.example.com` of group bench"]
        );
    }

    #[test]
    fn a_public_resources_groups_are_not_measured_as_entries() {
        // M2: a public resource ignores its groups; every origin is allowed as the resource's.
        let yaml = "publicResource: true\noriginGroups:\n  - name: sites\n    \
                    origins: [https://a.test, 'https://*.a.test']\n";
        let (requests, left_out) = derived(yaml).unwrap();
        let measured: Vec<_> = requests.iter().map(|r| (r.name, r.derivation.as_str())).collect();
        let first = format!("GET from {ANY_ORIGIN}, allowed by a public resource");
        assert_eq!(
            measured[..2],
            [("actual-allowed", first.as_str()), ("actual-unknown", measured[1].1)]
        );
        assert_eq!(measured.len(), 4);
        assert_eq!(
            left_out,
            [
                "GET from https://a.test, derived from the exact entry `https://a.test` of group \
                 sites: the engine allows it as a public resource, which ignores its groups",
                "GET from https://bench.a.test, derived from the subdomain entry \
                 `https://*.a.test` of group sites: the engine allows it as a public resource, \
                 which ignores its groups",
            ]
        );
    }

    fn example(file: &str) -> UserPolicy {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies").join(file);
        UserPolicy::load(&path, None).unwrap()
    }

    #[test]
    fn each_peer_is_measured_on_the_requests_it_answers_as_ours_does() {
        let user = example("policy-binding.yaml");
        assert!(user.tower_http().is_some() && user.actix_cors().is_some());
        let alike: Vec<_> =
            user.requests.iter().map(|r| (r.name, r.tower_http, r.actix_cors)).collect();
        assert_eq!(
            alike,
            [
                ("actual-allowed", true, true),
                // Ours answers a refused origin itself; both peers call the handler.
                ("actual-unknown", false, false),
                ("preflight", true, true),
                ("no-origin", true, true),
            ]
        );
        // Both peers add fields to requests without `Origin` where credentials are allowed
        // (tower-http `Allow-Credentials`, actix-cors that and `Expose-Headers`).
        let user = example("strict.yaml");
        let no_origin = user.requests.iter().find(|r| r.name == "no-origin").unwrap();
        assert!(user.tower_http().is_some() && user.actix_cors().is_some());
        assert!(!no_origin.tower_http && !no_origin.actix_cors);
    }

    /// The criterion ids [`UserPolicy::visit_services`] hands out for `user`.
    fn visited(user: &UserPolicy) -> Vec<String> {
        struct Ids(Vec<String>);
        impl Visit for Ids {
            fn visit<M: Subject>(&mut self, derived: &DerivedRequest, i: Implementation, _: &M) {
                self.0.push(format!("{}/{}", derived.layer_group, i.id()));
            }
        }
        let mut ids = Ids(Vec::new());
        user.visit_services(&mut ids);
        ids.0
    }

    #[test]
    fn the_services_measured_are_ours_and_each_peer_that_answers_alike() {
        let ids = visited(&example("policy-binding.yaml"));
        let with_peers = |group: &str| {
            ["bare-tower", "cors-hyper", "tower-http", "bare-actix", "actix-cors"]
                .map(|function| format!("layer-policy-{group}/{function}"))
        };
        let mut expected = with_peers("actual-allowed").to_vec();
        expected.extend(with_peers("actual-unknown").into_iter().take(2));
        expected.extend(with_peers("preflight"));
        expected.extend(with_peers("no-origin"));
        assert_eq!(ids, expected);
        let ids = visited(&example("subdomains.yaml"));
        assert!(ids.iter().all(|id| id.ends_with("/bare-tower") || id.ends_with("/cors-hyper")));
    }

    #[test]
    fn the_peers_are_configured_only_as_a_policy_they_can_express() {
        for file in ["subdomains.yaml", "public.yaml", "groups-with-wildcard-fallback.yaml"] {
            let user = example(file);
            assert!(user.tower_http().is_none() && user.actix_cors().is_none(), "{file}");
            assert!(user.requests.iter().all(|r| !r.tower_http && !r.actix_cors), "{file}");
        }
    }

    #[test]
    fn a_public_resource_allows_the_unknown_origin_too() {
        let requests = requests("publicResource: true\n").unwrap();
        assert_eq!(field(&requests[0], "origin"), Some(ANY_ORIGIN));
        assert_eq!(requests[1].outcome, Outcome::Allowed);
        assert_eq!(requests[2].outcome, Outcome::PreflightAccepted);
    }

    #[test]
    fn a_policys_warnings_are_kept_with_their_places() {
        let path = std::env::temp_dir().join(format!("bench-warnings-{}.yaml", std::process::id()));
        std::fs::write(&path, "config:\n  publicResource: true\n  supportCredentials: true\n")
            .unwrap();
        let user = UserPolicy::load(&path, None);
        std::fs::remove_file(&path).unwrap();
        let warnings = user.unwrap().warnings;
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let expected = format!("{}:3:23: warning: supportCredentials: ", path.display());
        assert!(warnings[0].starts_with(&expected), "{warnings:?}");
    }

    fn requests_outcomes(user: &UserPolicy) -> Vec<Outcome> {
        user.requests.iter().map(|r| r.outcome).collect()
    }

    fn inline_folder() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/local-mode/inline")
    }

    #[test]
    fn an_instance_of_a_local_mode_folder_is_picked_by_name() {
        for name in ["default/orders-api", "orders-api"] {
            let user = UserPolicy::load(&inline_folder(), Some(name)).unwrap();
            let instance = Instance { name: "default/orders-api".to_owned(), of: 2, named: true };
            assert_eq!(user.instance, Some(instance), "{name}");
        }
    }

    #[test]
    fn an_unknown_instance_is_refused_with_the_instances_there_are() {
        let folder = inline_folder();
        let error = UserPolicy::load(&folder, Some("billing-api")).unwrap_err();
        assert_eq!(
            error,
            format!(
                "--instance billing-api: {} has no ApiInstance billing-api with a cors-flex \
                 policy; the instances with one: default/catalog-api, default/orders-api",
                folder.display()
            )
        );
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies/public.yaml");
        let error = UserPolicy::load(&file, Some("orders-api")).unwrap_err();
        assert!(
            error.ends_with(
                "is a policy file; --instance picks an ApiInstance of a Flex Local Mode folder"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_local_mode_folder_measures_its_first_instance_with_a_policy() {
        let user = UserPolicy::load(&inline_folder(), None).unwrap();
        // The gateway's order: catalog-api's `/catalog` is tried before orders-api's `/`.
        let instance = Instance { name: "default/catalog-api".to_owned(), of: 2, named: false };
        assert_eq!(user.instance, Some(instance));
        assert_eq!(field(&user.requests[0], "origin"), Some(ANY_ORIGIN));
        assert_eq!(
            requests_outcomes(&user),
            [Outcome::Allowed, Outcome::Allowed, Outcome::PreflightAccepted, Outcome::NotCors]
        );
    }

    #[test]
    fn a_local_mode_folders_warnings_are_kept() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/local-mode/resources");
        let user = UserPolicy::load(&folder, None).unwrap();
        let instance = Instance { name: "default/shop-api".to_owned(), of: 1, named: false };
        assert_eq!(user.instance, Some(instance));
        assert!(
            user.warnings.iter().any(|w| w.contains("logging.yaml:5:7: warning: ")),
            "{:?}",
            user.warnings
        );
    }

    /// `run.policy` of `summary.json` as written, against docs/bench-summary-schema.md: every
    /// key, with its type, is there, none else, and the schema's `policy` row names each. The
    /// schema's own test (xtask `a_written_summary_has_every_field_the_schema_documents_with_its_type`)
    /// gives `run.policy` as an object it writes itself, so nothing checked what the benches
    /// write there.
    #[test]
    fn the_policy_json_has_the_fields_the_bench_summary_schema_documents() {
        use serde_json::Value;
        /// A documented key and the test of its type.
        type Field<'a> = (&'a str, fn(&Value) -> bool);
        let schema = include_str!("../../docs/bench-summary-schema.md");
        let row = schema
            .lines()
            .find(|line| line.starts_with("| `policy` |"))
            .expect("the schema documents `run.policy`");
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/local-mode/resources");
        let json = UserPolicy::load(&folder, None).unwrap().to_json();
        // A policy file (no instance) that the peers can express (requests with `peers`).
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies/strict.yaml");
        let file_json = UserPolicy::load(&file, None).unwrap().to_json();
        let is_strings =
            |value: &Value| value.as_array().is_some_and(|a| a.iter().all(Value::is_string));
        let check = |what: &str, object: &Value, fields: &[Field<'_>]| {
            let object = object.as_object().unwrap_or_else(|| panic!("{what}: {object}"));
            for (name, of_type) in fields {
                let value = object.get(*name).unwrap_or_else(|| panic!("{what}: no `{name}`"));
                assert!(of_type(value), "{what}: `{name}` is {value}");
                assert!(row.contains(&format!("`{name}`")), "{what}: `{name}` undocumented");
            }
            let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
            for name in object.keys() {
                assert!(names.contains(&name.as_str()), "{what}: `{name}` undocumented");
            }
        };
        for (what, json) in [("folder", &json), ("file", &file_json)] {
            check(
                what,
                json,
                &[
                    ("file", Value::is_string),
                    ("instance", |v| v.is_null() || v.is_object()),
                    ("warnings", is_strings),
                    ("requests", |v| v.as_array().is_some_and(|a| !a.is_empty())),
                    ("left_out", is_strings),
                ],
            );
            for request in json["requests"].as_array().into_iter().flatten() {
                let pairs = |v: &Value| {
                    v.as_array().is_some_and(|a| {
                        a.iter().all(|pair| {
                            pair.as_array()
                                .is_some_and(|p| p.len() == 2 && p.iter().all(Value::is_string))
                        })
                    })
                };
                check(
                    &format!("{what} request {}", request["name"]),
                    request,
                    &[
                        ("name", Value::is_string),
                        ("method", Value::is_string),
                        ("fields", pairs),
                        ("outcome", Value::is_string),
                        ("derivation", Value::is_string),
                        ("peers", is_strings),
                    ],
                );
            }
        }
        check(
            "instance",
            &json["instance"],
            &[("name", Value::is_string), ("of", Value::is_u64), ("named", Value::is_boolean)],
        );
        assert!(file_json["instance"].is_null(), "{file_json}");
        let peers = &file_json["requests"][0]["peers"];
        assert!(peers.as_array().is_some_and(|p| !p.is_empty()), "{file_json}");
    }

    #[test]
    fn a_group_without_get_is_measured_on_a_method_it_allows() {
        let yaml = "publicResource: false\noriginGroups:\n  - origins: [https://a.test]\n    \
                    allowedMethods: [{methodName: POST, isAllowed: true}, {methodName: PUT, isAllowed: true}]\n";
        let requests = requests(yaml).unwrap();
        assert_eq!((requests[0].method, requests[0].outcome), ("POST", Outcome::Allowed));
        assert_eq!(requests[0].derivation, "POST from https://a.test, allowed by group #1");
        assert_eq!((requests[1].method, requests[1].outcome), ("POST", Outcome::Blocked));
        assert_eq!(field(&requests[2], "access-control-request-method"), Some("PUT"));
    }

    #[test]
    fn any_origin_allows_the_unlisted_one_on_the_groups_method() {
        let yaml = "publicResource: false\noriginGroups:\n  - origins: ['*']\n    \
                    allowedMethods: [{methodName: DELETE, isAllowed: true}]\n";
        let requests = requests(yaml).unwrap();
        assert_eq!((requests[1].method, requests[1].outcome), ("DELETE", Outcome::Allowed));
    }

    #[test]
    fn no_request_asks_for_a_method_browsers_never_send() {
        // Without allowedMethods a group allows every method, CONNECT first.
        let yaml = "publicResource: false\noriginGroups:\n  - origins: [https://a.test]\n";
        let requests = requests(yaml).unwrap();
        assert_eq!(field(&requests[2], "access-control-request-method"), Some("DELETE"));
        assert_eq!(requests[2].outcome, Outcome::PreflightAccepted);
    }

    #[test]
    fn a_policy_that_allows_nothing_is_refused_with_what_was_tried() {
        let error = requests("publicResource: false\noriginGroups: []\n").unwrap_err();
        assert!(error.contains(ANY_ORIGIN), "{error}");
    }
}
