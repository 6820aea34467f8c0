//! The conformance suite in-process: every case, under its profile, against cors-engine (as an
//! adapter applies its decisions) and against cors-hyper's tower layer.
//!
//! Zero failures are allowed except those listed in `spec-tests/known-failures.toml`, each with
//! a reason; an entry that no longer fails makes the test fail too. Set `CONFORMANCE_FILTER` to
//! run only the cases whose id contains its value.

use cors_conformance::known::KnownFailures;
use cors_conformance::runner::{self, Selection};
use cors_conformance::{Corpus, EngineTarget, Target, TowerTarget, report};

#[track_caller]
fn check(target: &mut dyn Target) {
    let corpus = Corpus::builtin().unwrap_or_else(|e| panic!("case data:\n{e}"));
    let known = KnownFailures::builtin().unwrap_or_else(|e| panic!("known failures:\n{e}"));
    let filter = std::env::var("CONFORMANCE_FILTER").ok();
    let selection = Selection::all().filter(filter.as_deref());
    let report = runner::run(&corpus, &selection, target, &known, &mut |_, _| {});
    assert!(!report.results.is_empty(), "the filter selects no case");
    assert!(report.is_success(), "{}", report::text(&report));
}

#[test]
fn engine_passes_every_case() {
    let mut target = EngineTarget::new().unwrap_or_else(|e| panic!("profiles:\n{e}"));
    check(&mut target);
}

#[test]
fn tower_layer_passes_every_case() {
    let mut target = TowerTarget::new().unwrap_or_else(|e| panic!("profiles:\n{e}"));
    check(&mut target);
}

/// The flaw of the nginx snippet copied everywhere (`add_header Access-Control-Allow-Origin
/// $http_origin always;` with `Access-Control-Allow-Credentials true`), alone: cors-hyper's
/// layer configured as the profile, with every answer to a request with `Origin` that grants
/// nothing given that origin and credentials anyway. Any site can then read the API with its
/// visitors' cookies, and the level browsers need must say so: it passed
/// `--profile strict-credentials --level fetch` (finding F-DH).
#[test]
fn a_gateway_reflecting_every_origin_with_credentials_fails_the_fetch_level() {
    use bytes::Bytes;
    use cors_conformance::{Level, ServiceTarget, in_process, profile};
    use http::HeaderValue;
    use http_body_util::Full;
    use tower::{Layer as _, ServiceExt as _};

    let policy = in_process::load_profile(profile::get("strict-credentials").unwrap()).unwrap();
    let layer = cors_hyper::CorsLayer::new(policy);
    let mut target = ServiceTarget::new("reflects every origin", |_profile: &str, upstream| {
        let inner = layer.layer(upstream);
        Some(tower::service_fn(move |request: http::Request<Full<Bytes>>| {
            let origin = request.headers().get(http::header::ORIGIN).cloned();
            let inner = inner.clone();
            async move {
                let mut response = inner.oneshot(request).await?;
                let headers = response.headers_mut();
                if let Some(origin) = origin
                    && !headers.contains_key(http::header::ACCESS_CONTROL_ALLOW_ORIGIN)
                {
                    headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                    headers.insert(
                        http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                        HeaderValue::from_static("true"),
                    );
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        }))
    })
    .unwrap();
    let corpus = Corpus::builtin().unwrap();
    let selection = Selection::all().profile("strict-credentials").levels(vec![Level::Fetch]);
    let report =
        runner::run(&corpus, &selection, &mut target, &KnownFailures::default(), &mut |_, _| {});
    let failed: Vec<&str> =
        report.results.iter().filter(|r| r.is_failure()).map(|r| r.id.as_str()).collect();
    for id in [
        "credentials.unlisted-not-granted",
        "credentials.unlisted-preflight-not-granted",
        "credentials.null-not-granted",
    ] {
        assert!(
            failed.contains(&id),
            "{id} did not fail (failed: {failed:?})\n{}",
            report::text(&report)
        );
    }
}

/// A gateway that grants everything, whatever the profile: every request with `Origin` gets
/// that origin in `Access-Control-Allow-Origin` (with `Access-Control-Allow-Credentials: true`
/// when `credentials`), and every preflight is answered `204` by the gateway itself with the
/// requested method and header lines, whatever they are; every other request reaches the upstream.
/// It is the nginx snippet copied everywhere (`add_header Access-Control-Allow-Origin
/// $http_origin always;`, with or without `Access-Control-Allow-Credentials true`, ACAM and
/// ACAH from the request's ACRM and ACRH).
fn grants_everything(credentials: bool) -> impl Target {
    use bytes::Bytes;
    use cors_conformance::{EchoUpstream, ServiceTarget};
    use http::header::{
        ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS,
        ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_HEADERS,
        ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
    };
    use http::{HeaderValue, Method, Response, StatusCode};
    use http_body_util::Full;
    use tower::ServiceExt as _;

    let name = if credentials { "grants everything with credentials" } else { "grants everything" };
    ServiceTarget::new(name, move |_profile: &str, upstream: EchoUpstream| {
        Some(tower::service_fn(move |request: http::Request<Full<Bytes>>| async move {
            let headers = request.headers();
            let origin = headers.get(ORIGIN).cloned();
            let method = headers.get(ACCESS_CONTROL_REQUEST_METHOD).cloned();
            let requested: Vec<HeaderValue> =
                headers.get_all(ACCESS_CONTROL_REQUEST_HEADERS).iter().cloned().collect();
            let mut response = match (&origin, method) {
                (Some(_), Some(method)) if request.method() == Method::OPTIONS => {
                    let mut preflight = Response::new(Full::new(Bytes::new()));
                    *preflight.status_mut() = StatusCode::NO_CONTENT;
                    preflight.headers_mut().insert(ACCESS_CONTROL_ALLOW_METHODS, method);
                    for line in requested {
                        preflight.headers_mut().append(ACCESS_CONTROL_ALLOW_HEADERS, line);
                    }
                    preflight
                }
                _ => upstream.oneshot(request).await?,
            };
            if let Some(origin) = origin {
                response.headers_mut().insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                if credentials {
                    response
                        .headers_mut()
                        .insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
                }
            }
            Ok::<_, std::convert::Infallible>(response)
        }))
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The level browsers need must catch a gateway that grants everything, under every profile
/// (finding F-DN): `--level fetch` did not. `closed`, `no-methods` and `public-credentials` had
/// no `fetch` case (under `closed` the run selected nothing and exited 2); under
/// `default-methods`, `groups`, `wildcard-origin` and others, every `fetch` case checked a grant
/// the gateway also makes, none a refusal. Each profile's `fetch` cases now fail it, with and without credentials, except
/// where that grant is the profile's own policy as browsers see it: `public` without credentials
/// (any origin, method and header; a reflected origin without credentials reads as `*` to a
/// browser) and `public-credentials` with them (any origin reflected with credentials). Those
/// two runs must pass, as every answer browsers accept must.
#[test]
fn a_gateway_granting_everything_fails_the_fetch_level_of_every_profile() {
    use cors_conformance::{Level, profile};

    let corpus = Corpus::builtin().unwrap();
    let mut caught = Vec::new();
    let mut missed = Vec::new();
    let mut refused = Vec::new();
    for credentials in [false, true] {
        let mut target = grants_everything(credentials);
        for name in profile::names() {
            let selection = Selection::all().profile(name).levels(vec![Level::Fetch]);
            let report = runner::run(
                &corpus,
                &selection,
                &mut target,
                &KnownFailures::default(),
                &mut |_, _| {},
            );
            let failed: Vec<&str> = report.failures().map(|r| r.id.as_str()).collect();
            let its_policy =
                matches!((name, credentials), ("public", false) | ("public-credentials", true));
            if its_policy {
                if report.results.is_empty() || !report.is_success() {
                    refused.push(format!("{name}:\n{}", report::text(&report)));
                }
            } else if failed.is_empty() {
                missed.push(format!("{name} (credentials: {credentials})"));
            } else {
                caught.push(format!("{name} (credentials: {credentials}): {failed:?}"));
            }
        }
    }
    assert!(missed.is_empty(), "not caught under {missed:?}\ncaught:\n{}", caught.join("\n"));
    assert!(refused.is_empty(), "its own policy, refused or untested:\n{}", refused.join("\n"));
}
