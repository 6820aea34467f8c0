//! Field values handed to the engine with blanks around them.
//!
//! An HTTP parser trims the blanks around a field value, so the conformance suite (which states
//! every other decision, in `spec-tests/cases`) cannot send these requests: over HTTP they arrive
//! exactly like requests it already sends. A caller that is not an HTTP parser can hand them over,
//! and the engine must still answer as the contract says.

use cors_engine::{Engine, Outcome, Request};
use cors_policy::Policy;
use rstest::rstest;

/// The suite's `strict-credentials` profile, read from its one home at test time.
fn engine() -> Engine {
    let path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec-tests/profiles/strict-credentials.yaml");
    let loaded = Policy::from_yaml_file(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Engine::new(loaded.policy)
}

#[rstest]
// M1: the Origin is compared byte-exact, so a leading blank matches nothing.
#[case::m1_origin_with_leading_blank_matches_nothing(
    "GET",
    &[("origin", " https://app.example.test")],
    Outcome::Blocked,
)]
// P2: `Access-Control-Request-Method` is `OWS method OWS`; the blanks are not part of the method.
#[case::p2_acrm_blanks_are_trimmed(
    "OPTIONS",
    &[("origin", "https://app.example.test"), ("access-control-request-method", " PUT ")],
    Outcome::PreflightAccepted,
)]
// P2: trimmed, a method the group does not allow is refused as it is without blanks.
#[case::p2_acrm_blanks_around_a_refused_method(
    "OPTIONS",
    &[("origin", "https://app.example.test"), ("access-control-request-method", "\tDELETE ")],
    Outcome::PreflightRejected,
)]
fn untrimmed_value_is_decided_as_the_contract_says(
    #[case] method: &str,
    #[case] lines: &[(&str, &str)],
    #[case] expected: Outcome,
) {
    let engine = engine();
    let request = Request::new(method.as_bytes(), lines).addressed_to("http", b"api.example.test");
    let decision = engine.decide(&request);
    assert_eq!(decision.outcome(), expected, "{}", engine.explain(&request));
    // Every answer depends on the Origin here, whatever the outcome (V1).
    assert_eq!(decision.vary().to_string(), "Origin");
    if expected == Outcome::PreflightAccepted {
        let headers = decision.headers().expect("an accepted preflight sets headers");
        let methods = headers.allow_methods().expect("ACAM").to_header_value();
        assert_eq!(methods, "GET, POST, PUT");
    }
}
