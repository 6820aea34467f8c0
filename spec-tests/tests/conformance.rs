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
