//! In-process targets: cors-engine's [`Engine::decide`] applied as an adapter would
//! ([`EngineTarget`], which also checks that [`Engine::explain`] agrees with it on every request),
//! and cors-hyper's tower layer over the echo upstream ([`TowerTarget`]).
//!
//! Both put [`upstream::respond`] behind the code under test, so "forwarded" means what it means
//! over HTTP: the upstream's answer came back.

use std::collections::BTreeMap;
use std::convert::Infallible;

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
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| DataError { problems: vec![format!("cannot start the runtime: {e}")] })?;
        Ok(TowerTarget { layers, runtime })
    }
}

impl Target for TowerTarget {
    fn name(&self) -> &'static str {
        "tower"
    }

    fn send(&mut self, profile: &str, request: &OutgoingRequest) -> Result<Observed, TargetError> {
        let layer = self.layers.get(profile).ok_or_else(|| unknown(profile))?;
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
        let inner = tower::service_fn(|req: http::Request<Full<Bytes>>| async move {
            let lines = req.headers().iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
            Ok::<_, Infallible>(upstream::respond(lines).map(Full::new))
        });
        let service = layer.layer(inner);
        self.runtime.block_on(async {
            let response =
                service.oneshot(outgoing).await.map_err(|e| fail("the layer failed", &e))?;
            let (parts, body) = response.into_parts();
            let body =
                body.collect().await.map_err(|e| fail("reading the body failed", &e))?.to_bytes();
            let forwarded = parts.headers.contains_key(upstream::STAMP);
            Ok(observed(parts.status, &parts.headers, body.len(), forwarded))
        })
    }
}

#[cfg(test)]
mod tests {
    use cors_policy::FileShape;

    use super::*;

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
