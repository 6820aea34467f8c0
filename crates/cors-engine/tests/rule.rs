//! `Decision::rule`: the rule that decided, as an access log records it. Each case names the
//! decision path it takes; refusals name the first check that failed, in the order `decide`
//! runs them (the origin, then `Access-Control-Request-Method`, then the method, then
//! `Access-Control-Request-Headers`).

mod common;

use common::{CREDENTIALS, NO_METHODS, PUBLIC, PUBLIC_CREDENTIALS, engine};
use cors_engine::{Outcome, Request, Rule};
use rstest::rstest;

#[track_caller]
fn check(profile: &'static str, method: &str, lines: &[(&str, &str)], expected: (Outcome, Rule)) {
    let request = Request::new(method.as_bytes(), lines).addressed_to("https", b"api.example.test");
    let engine = engine(profile);
    let decision = engine.decide(&request);
    assert_eq!((decision.outcome(), decision.rule()), expected, "{}", engine.explain(&request));
    assert_eq!(decision.into_owned().rule(), expected.1, "the owned decision keeps the rule");
    assert_eq!(engine.explain(&request).rule(), expected.1, "explain names the same rule");
}

const APP: (&str, &str) = ("origin", "https://app.example.test");

#[rstest]
#[case::r1_no_origin(CREDENTIALS, "GET", &[], (Outcome::NotCors, Rule::R1))]
#[case::r2_same_origin(CREDENTIALS, "POST", &[("origin", "https://api.example.test")], (Outcome::NotCors, Rule::R2))]
#[case::a1_group_allows(CREDENTIALS, "GET", &[APP], (Outcome::Allowed, Rule::A1))]
#[case::a3_public(PUBLIC, "DELETE", &[APP], (Outcome::Allowed, Rule::A3))]
#[case::m3_unknown_origin(CREDENTIALS, "GET", &[("origin", "https://evil.example")], (Outcome::Blocked, Rule::M3))]
#[case::m4_null_unlisted(CREDENTIALS, "GET", &[("origin", "null")], (Outcome::Blocked, Rule::M4))]
#[case::r5_malformed_origin(CREDENTIALS, "GET", &[("origin", "https://app.example.test/")], (Outcome::Blocked, Rule::R5))]
#[case::r5_two_origins(CREDENTIALS, "GET", &[APP, APP], (Outcome::Blocked, Rule::R5))]
#[case::r5_malformed_origin_public_credentials(PUBLIC_CREDENTIALS, "GET", &[("origin", "HTTPS://a")], (Outcome::Blocked, Rule::R5))]
#[case::a2_method_not_allowed(CREDENTIALS, "DELETE", &[APP], (Outcome::Blocked, Rule::A2))]
#[case::a2_no_method_allowed(NO_METHODS, "GET", &[APP], (Outcome::Blocked, Rule::A2))]
// R3: only `OPTIONS`, byte for byte, is a preflight; a method of its length or its ending is not.
#[case::r4_a_method_ending_as_options(CREDENTIALS, "ACTIONS", &[APP, ACRM_PUT], (Outcome::Blocked, Rule::A2))]
#[case::r4_a_method_of_the_length_of_options(CREDENTIALS, "CONNECT", &[APP, ACRM_PUT], (Outcome::Blocked, Rule::A2))]
fn actual_requests_name_their_rule(
    #[case] profile: &'static str,
    #[case] method: &str,
    #[case] lines: &[(&str, &str)],
    #[case] expected: (Outcome, Rule),
) {
    check(profile, method, lines, expected);
}

const ACRM_PUT: (&str, &str) = ("access-control-request-method", "PUT");

#[rstest]
#[case::p1_accepted(&[APP, ACRM_PUT, ("access-control-request-headers", "x-custom")], (Outcome::PreflightAccepted, Rule::P1))]
#[case::m3_origin_first(&[("origin", "https://evil.example"), ("access-control-request-method", "PURGE")], (Outcome::PreflightRejected, Rule::M3))]
#[case::r3_no_request_method(&[APP], (Outcome::PreflightRejected, Rule::R3))]
#[case::r5_two_request_methods(&[APP, ACRM_PUT, ACRM_PUT], (Outcome::PreflightRejected, Rule::R5))]
#[case::p2_request_method_not_a_token(&[APP, ("access-control-request-method", "P T")], (Outcome::PreflightRejected, Rule::P2))]
#[case::p2_method_not_allowed(&[APP, ("access-control-request-method", "DELETE")], (Outcome::PreflightRejected, Rule::P2))]
#[case::p2_method_before_headers(&[APP, ("access-control-request-method", "DELETE"), ("access-control-request-headers", "x-other")], (Outcome::PreflightRejected, Rule::P2))]
#[case::p2_header_not_allowed(&[APP, ACRM_PUT, ("access-control-request-headers", "x-other")], (Outcome::PreflightRejected, Rule::P2))]
#[case::p2_header_not_a_token(&[APP, ACRM_PUT, ("access-control-request-headers", "x a")], (Outcome::PreflightRejected, Rule::P2))]
#[case::p2_unlisted_header_before_a_budget(&[APP, ACRM_PUT, ("access-control-request-headers", "x-other,,,,,,,,,,,,,,,,,")], (Outcome::PreflightRejected, Rule::P2))]
#[case::p6_budget_before_an_unlisted_header(&[APP, ACRM_PUT, ("access-control-request-headers", ",,,,,,,,,,,,,,,,,x-other")], (Outcome::PreflightRejected, Rule::P6))]
#[case::p6_too_many_empty_elements(&[APP, ACRM_PUT, ("access-control-request-headers", ",,,,,,,,,,,,,,,,,")], (Outcome::PreflightRejected, Rule::P6))]
fn preflights_name_their_rule(#[case] lines: &[(&str, &str)], #[case] expected: (Outcome, Rule)) {
    check(CREDENTIALS, "OPTIONS", lines, expected);
}

#[test]
fn p5_a_public_preflight_is_accepted_under_p5() {
    let lines = [APP, ("access-control-request-method", "PATCH")];
    check(PUBLIC, "OPTIONS", &lines, (Outcome::PreflightAccepted, Rule::P5));
}

/// R1, R2, A1 forward the request; a preflight (R3, P1, P3) and a blocked request (A2) are
/// answered without it.
#[test]
fn only_not_cors_and_allowed_requests_are_forwarded() {
    let forwarded: Vec<Outcome> =
        Outcome::ALL.into_iter().filter(|outcome| outcome.is_forwarded()).collect();
    assert_eq!(forwarded, [Outcome::NotCors, Outcome::Allowed]);
}

/// `Outcome::ALL` has every kind once, and `as_str` gives each the label metrics and access
/// logs use.
#[test]
fn every_outcome_has_one_label() {
    let labels: Vec<&str> = Outcome::ALL.iter().map(|outcome| outcome.as_str()).collect();
    assert_eq!(
        labels,
        [
            "not-cors",
            "preflight-accepted",
            "preflight-rejected",
            "actual-allowed",
            "actual-blocked"
        ]
    );
}
