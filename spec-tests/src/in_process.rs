//! In-process targets: cors-engine's [`Engine::decide`] applied as an adapter would
//! ([`EngineTarget`], which also checks that [`Engine::explain`] agrees with it on every request),
//! cors-hyper's tower layer over the echo upstream ([`TowerTarget`]), and any tower service in
//! front of the echo upstream ([`ServiceTarget`]: your own CORS layer or router, in a test).
//!
//! All put [`upstream::respond`] behind the code under test, so "forwarded" means what it means
//! over HTTP: the upstream's answer came back.
//!
//! ```
//! use cors_conformance::in_process::ServiceTarget;
//! use cors_conformance::{Corpus, KnownFailures, Level, Selection, runner};
//! use cors_hyper::{CorsLayer, OriginGroup, Policy};
//! use tower::Layer as _;
//!
//! // Your service, configured as the `strict` profile says (`cors-conformance profiles --show
//! // strict`) as far as the cases selected below check it: here cors-hyper's layer.
//! let policy = Policy::builder()
//!     .group(
//!         OriginGroup::new(["https://app.example.test"])
//!             .allow_methods(["GET", "POST", "PUT"])
//!             .allow_headers(["x-custom", "content-type"])
//!             .max_age(std::time::Duration::from_secs(600)),
//!     )
//!     .build()?;
//! let layer = CorsLayer::new(policy);
//! let mut target = ServiceTarget::new("my-service", move |profile, upstream| {
//!     (profile == "strict").then(|| layer.layer(upstream))
//! })?;
//! let corpus = Corpus::builtin()?;
//! let selection =
//!     Selection::all().profile("strict").filter(Some("preflight.")).levels(vec![Level::Fetch]);
//! let report = runner::run(&corpus, &selection, &mut target, &KnownFailures::none(), &mut |_, _| {});
//! assert!(report.results.len() > 5);
//! assert!(report.is_success(), "{}", cors_conformance::report::text(&report));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::task::Poll;

use bytes::Bytes;
use cors_engine::{Engine, Request};
use cors_hyper::CorsLayer;
use cors_policy::Policy;
use http::{HeaderMap, Response};
use http_body_util::{BodyExt as _, Full};
use tower::{Layer as _, ServiceExt as _};

use crate::check::Observed;
use crate::error::{DataError, TargetError};
use crate::explain_check::explain_agrees;
use crate::profile::{self, Profile};
use crate::target::{OutgoingRequest, Target};
use crate::upstream;

/// The `Host` in-process targets assume when a case gives none (the suite's listener is `http`).
pub const DEFAULT_HOST: &str = "gateway.conformance.test";

/// Loads a profile with cors-policy.
///
/// # Errors
///
/// The profile does not load (every diagnostic, with line and column).
pub fn load_profile(profile: &Profile) -> Result<Policy, DataError> {
    let file = format!("spec-tests/profiles/{}.yaml", profile.name);
    Policy::from_yaml_str(profile.yaml, &file)
        .map(|loaded| loaded.policy)
        .map_err(|e| DataError { problems: vec![e.to_string()] })
}

/// Loads every compiled-in profile, reporting all that fail.
fn load_all() -> Result<BTreeMap<&'static str, Policy>, DataError> {
    let mut policies = BTreeMap::new();
    let mut problems = Vec::new();
    for profile in profile::PROFILES {
        match load_profile(profile) {
            Ok(policy) => {
                policies.insert(profile.name, policy);
            }
            Err(e) => problems.extend(e.problems),
        }
    }
    if problems.is_empty() { Ok(policies) } else { Err(DataError { problems }) }
}

fn unknown(profile: &str) -> TargetError {
    TargetError::new(format!("unknown profile {profile:?}"))
}

/// cors-engine, in-process: decides each request and builds the response the contract says an
/// adapter builds (local `200` answers for preflights and blocked requests; for allowed ones the
/// upstream's answer with its `Access-Control-*` fields replaced; `Vary` appended).
#[derive(Debug)]
pub struct EngineTarget {
    engines: BTreeMap<&'static str, Engine>,
}

impl EngineTarget {
    /// An engine per compiled-in profile.
    ///
    /// # Errors
    ///
    /// A profile does not load.
    pub fn new() -> Result<EngineTarget, DataError> {
        Ok(EngineTarget {
            engines: load_all()?.into_iter().map(|(n, p)| (n, Engine::new(p))).collect(),
        })
    }
}

impl Target for EngineTarget {
    fn name(&self) -> &'static str {
        "engine"
    }

    fn send(&mut self, profile: &str, request: &OutgoingRequest) -> Result<Observed, TargetError> {
        let engine = self.engines.get(profile).ok_or_else(|| unknown(profile))?;
        explain_agrees(engine, request)?;
        Ok(engine_answer(engine, request))
    }
}

/// `request` as the engine sees it: addressed to the suite's `http` listener and its `Host`.
pub(crate) fn engine_request(request: &OutgoingRequest) -> Request<'_, Vec<(String, String)>> {
    let host = request.host().unwrap_or(DEFAULT_HOST);
    Request::new(request.method.as_bytes(), &request.headers).addressed_to("http", host.as_bytes())
}

/// What an adapter following the contract answers to `request` under `engine`: the upstream's
/// answer when the decision forwards the request, else a local `200` with an empty body, and the
/// decision written into it ([`Decision::apply`](cors_engine::Decision::apply), as the tower
/// layer and the proxy-wasm filter write it).
#[must_use]
pub fn engine_answer(engine: &Engine, request: &OutgoingRequest) -> Observed {
    let decision = engine.decide(&engine_request(request));
    let mut response = if decision.outcome().is_forwarded() {
        upstream::respond(request.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())))
    } else {
        Response::new(Bytes::new())
    };
    decision.apply(response.headers_mut());
    let forwarded = response.headers().contains_key(upstream::STAMP);
    let (parts, body) = response.into_parts();
    observed(parts.status, &parts.headers, body.len(), forwarded)
}

fn observed(
    status: http::StatusCode,
    headers: &HeaderMap,
    body_len: usize,
    forwarded: bool,
) -> Observed {
    Observed {
        status: status.as_u16(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
        body_len,
        forwarded,
    }
}

/// The suite's echo upstream as a tower service, to put behind the service under test in a
/// [`ServiceTarget`]: it answers every request with [`upstream::respond`] (the answer a gateway
/// forwarding to `cors-conformance upstream` gets back), at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoUpstream;

impl<B> tower::Service<http::Request<B>> for EchoUpstream {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let lines = request.headers().iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
        std::future::ready(Ok(upstream::respond(lines).map(Full::new)))
    }
}

/// Any tower service, in-process, in front of the echo upstream: `make(profile, EchoUpstream)`
/// gives the service configured as `profile` (`cors-conformance profiles --show P` prints its
/// cors-flex policy), or `None` for a profile it is not configured for, whose cases are then
/// errors (select the profiles it has with [`Selection::profile`](crate::Selection::profile)).
///
/// Each request is sent as `http::Request<Full<Bytes>>` with a `Host` (the case's, else
/// [`DEFAULT_HOST`]), on a current-thread tokio runtime of the target's own.
pub struct ServiceTarget<F> {
    name: String,
    make: F,
    runtime: tokio::runtime::Runtime,
}

impl<F> std::fmt::Debug for ServiceTarget<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceTarget").field("name", &self.name).finish_non_exhaustive()
    }
}

impl<F> ServiceTarget<F> {
    /// A target named `name` in reports (and in known-failure entries), whose service for each
    /// profile `make` builds around the echo upstream.
    ///
    /// # Errors
    ///
    /// The runtime cannot start.
    pub fn new<S>(name: &str, make: F) -> Result<ServiceTarget<F>, DataError>
    where
        F: FnMut(&str, EchoUpstream) -> Option<S>,
    {
        Ok(ServiceTarget { name: name.to_owned(), make, runtime: current_thread()? })
    }
}

impl<F, S, B> Target for ServiceTarget<F>
where
    F: FnMut(&str, EchoUpstream) -> Option<S>,
    S: tower::Service<http::Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Display,
    B: hyper::body::Body,
    B::Error: std::fmt::Display,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, profile: &str, request: &OutgoingRequest) -> Result<Observed, TargetError> {
        let service = (self.make)(profile, EchoUpstream).ok_or_else(|| {
            TargetError::new(format!("{} has no service for profile {profile:?}", self.name))
        })?;
        send_through(&self.runtime, service, request)
    }
}

/// cors-hyper's [`CorsLayer`], in-process, in front of the echo upstream as a tower service.
#[derive(Debug)]
pub struct TowerTarget {
    layers: BTreeMap<&'static str, CorsLayer>,
    runtime: tokio::runtime::Runtime,
}

impl TowerTarget {
    /// A layer per compiled-in profile.
    ///
    /// # Errors
    ///
    /// A profile does not load, or the runtime cannot start.
    pub fn new() -> Result<TowerTarget, DataError> {
        let layers = load_all()?.into_iter().map(|(n, p)| (n, CorsLayer::new(p))).collect();
        Ok(TowerTarget { layers, runtime: current_thread()? })
    }
}

impl Target for TowerTarget {
    fn name(&self) -> &'static str {
        "tower"
    }

    fn send(&mut self, profile: &str, request: &OutgoingRequest) -> Result<Observed, TargetError> {
        let layer = self.layers.get(profile).ok_or_else(|| unknown(profile))?;
        send_through(&self.runtime, layer.layer(EchoUpstream), request)
    }
}

fn current_thread() -> Result<tokio::runtime::Runtime, DataError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| DataError { problems: vec![format!("cannot start the runtime: {e}")] })
}

/// Sends `request` to `service` on `runtime` and reads its whole answer.
fn send_through<S, B>(
    runtime: &tokio::runtime::Runtime,
    service: S,
    request: &OutgoingRequest,
) -> Result<Observed, TargetError>
where
    S: tower::Service<http::Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Display,
    B: hyper::body::Body,
    B::Error: std::fmt::Display,
{
    let fail = |what: &str, e: &dyn std::fmt::Display| TargetError::new(format!("{what}: {e}"));
    let method = http::Method::from_bytes(request.method.as_bytes())
        .map_err(|e| fail("invalid method", &e))?;
    let mut builder = http::Request::builder().method(method).uri(request.path.as_str());
    if request.host().is_none() {
        builder = builder.header(http::header::HOST, DEFAULT_HOST);
    }
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let outgoing =
        builder.body(Full::new(Bytes::new())).map_err(|e| fail("invalid request", &e))?;
    runtime.block_on(async {
        let response =
            service.oneshot(outgoing).await.map_err(|e| fail("the service failed", &e))?;
        let (parts, body) = response.into_parts();
        let body =
            body.collect().await.map_err(|e| fail("reading the body failed", &e))?.to_bytes();
        let forwarded = parts.headers.contains_key(upstream::STAMP);
        Ok(observed(parts.status, &parts.headers, body.len(), forwarded))
    })
}

#[cfg(test)]
mod tests {
    use cors_policy::FileShape;

    use super::*;

    #[test]
    fn a_service_target_answers_as_the_tower_target_around_the_same_layer() {
        let layers: BTreeMap<&str, CorsLayer> =
            load_all().unwrap().into_iter().map(|(n, p)| (n, CorsLayer::new(p))).collect();
        let mut service = ServiceTarget::new("service", |profile, upstream| {
            layers.get(profile).map(|layer| layer.layer(upstream))
        })
        .unwrap();
        let mut tower = TowerTarget::new().unwrap();
        let corpus = crate::Corpus::builtin().unwrap();
        for case in corpus.cases() {
            let request = OutgoingRequest::from_case(case, "m").unwrap();
            let theirs = tower.send(&case.profile, &request);
            assert_eq!(service.send(&case.profile, &request), theirs, "{}", case.id);
        }
        assert_eq!(service.name(), "service");
    }

    #[test]
    fn a_profile_without_a_service_is_an_error_naming_it() {
        let mut target = ServiceTarget::new("mine", |_, upstream| Some(upstream)).unwrap();
        let request = OutgoingRequest::new("GET", "/", Vec::new(), "m");
        assert!(target.send("strict", &request).unwrap().forwarded);
        let mut none = ServiceTarget::new("mine", |_, _| None::<EchoUpstream>).unwrap();
        let error = none.send("strict", &request).unwrap_err();
        assert!(
            error.to_string().contains("mine has no service for profile \"strict\""),
            "{error}"
        );
    }

    #[test]
    fn every_profile_loads_as_a_flex_policy_list_item() {
        for profile in profile::PROFILES {
            let file = format!("{}.yaml", profile.name);
            let loaded =
                Policy::from_yaml_str(profile.yaml, &file).unwrap_or_else(|e| panic!("{e}"));
            assert!(matches!(loaded.shape, FileShape::PolicyRefList), "{file}: {:?}", loaded.shape);
        }
    }
}
