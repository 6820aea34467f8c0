//! `ResponseHeaders::preflight_group`: the group that accepted a preflight, for an adapter that
//! keeps one answer per group (the tower layer of `cors-hyper`).

use cors_engine::{Decision, Engine, Outcome, Request, ResponseHeaders};
use cors_policy::{OriginGroup, Policy};
use http::{HeaderMap, HeaderValue, Method};
use rstest::rstest;

/// Two groups: `https://a.test` (GET, listed `x-a`) and `https://b.test` (PUT, any header).
fn engine() -> Engine {
    let policy = Policy::builder()
        .group(
            OriginGroup::new(["https://a.test"])
                .allow_methods([Method::GET])
                .allow_headers(["x-a"]),
        )
        .group(OriginGroup::new(["https://b.test"]).allow_methods([Method::PUT]).allow_any_header())
        .build()
        .expect("a valid policy");
    Engine::new(policy)
}

fn headers(lines: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for &(name, value) in lines {
        headers.append(name, HeaderValue::from_static(value));
    }
    headers
}

#[rstest]
#[case::first_group("OPTIONS", &[("origin", "https://a.test"), ("access-control-request-method", "GET")], Outcome::PreflightAccepted, Some(0))]
#[case::second_group_mirrored("OPTIONS", &[("origin", "https://b.test"), ("access-control-request-method", "PUT"), ("access-control-request-headers", "x-b")], Outcome::PreflightAccepted, Some(1))]
#[case::rejected("OPTIONS", &[("origin", "https://a.test"), ("access-control-request-method", "PUT")], Outcome::PreflightRejected, None)]
#[case::actual("GET", &[("origin", "https://a.test")], Outcome::Allowed, None)]
fn p1_an_accepted_preflight_names_its_group(
    #[case] method: &str,
    #[case] lines: &[(&'static str, &'static str)],
    #[case] outcome: Outcome,
    #[case] group: Option<usize>,
) {
    let engine = engine();
    let request = headers(lines);
    let decision = engine.decide(&Request::new(method.as_bytes(), &request));
    assert_eq!(decision.outcome(), outcome);
    let named = decision.headers().and_then(ResponseHeaders::preflight_group);
    assert_eq!(named.map(cors_policy::Group::index), group);
    // P1: the accepted preflight carries its group's max-age (C1's default here), and no other
    // answer does.
    let max_age = decision.headers().and_then(ResponseHeaders::max_age);
    let expected = group.map(|_| cors_policy::DEFAULT_MAX_AGE.to_string());
    assert_eq!(max_age.map(|value| value.to_string()), expected);
}

#[test]
fn p5_a_public_resources_preflight_names_no_group() {
    let engine = Engine::new(Policy::public());
    let request =
        headers(&[("origin", "https://a.test"), ("access-control-request-method", "PUT")]);
    let decision = engine.decide(&Request::new(b"OPTIONS", &request));
    let Decision::Preflight { accepted: true, headers, .. } = decision else {
        panic!("the public resource accepts the preflight: {decision:?}");
    };
    assert!(headers.preflight_group().is_none());
}
