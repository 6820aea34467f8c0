//! `Engine::decide` allocates nothing, on every decision path (issue 4), proven with a counting
//! global allocator (`allocation-counter`, which counts the current thread's allocations).

mod common;

use common::{
    ANY_HEADERS, CREDENTIALS, DEFAULTS, GROUPS, NO_METHODS, PUBLIC, PUBLIC_CREDENTIALS, SUBDOMAINS,
    engine,
};
use cors_engine::{Decision, Engine, Outcome, Request, RequestHeaders};
use http::{HeaderMap, HeaderName, HeaderValue};
use rstest::rstest;

const ACRM: &str = "access-control-request-method";
const ACRH: &str = "access-control-request-headers";

/// Decides and reads every part of the decision the way an adapter would, except building the
/// mirrored value (the adapter's one allocation), counting allocations.
fn allocations_of<H: RequestHeaders + ?Sized>(
    profile: &'static str,
    request: &Request<'_, H>,
) -> (u64, Outcome) {
    let engine = engine(profile);
    let mut outcome = Outcome::NotCors;
    let info = allocation_counter::measure(|| {
        let decision: Decision<'_, '_, H> = engine.decide(request);
        outcome = decision.outcome();
        let vary = decision.vary();
        std::hint::black_box(vary.tokens().count());
        std::hint::black_box(vary.header_value());
        if let Some(headers) = decision.headers() {
            for (name, value) in headers.iter() {
                std::hint::black_box((name, value));
            }
        }
        std::hint::black_box(decision);
    });
    (info.count_total, outcome)
}

#[track_caller]
fn check(profile: &'static str, method: &str, lines: &[(&str, &str)], outcome: Outcome) {
    let slice: &[(&str, &str)] = lines;
    let request = Request::new(method.as_bytes(), slice).addressed_to("https", b"api.example");
    assert_eq!(allocations_of(profile, &request), (0, outcome), "slice input");

    let mut map = HeaderMap::new();
    for (name, value) in lines {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
            HeaderValue::from_bytes(value.as_bytes()).expect("test header value"),
        );
    }
    let request = Request::new(method.as_bytes(), &map).addressed_to("https", b"api.example");
    assert_eq!(allocations_of(profile, &request), (0, outcome), "HeaderMap input");
}

#[rstest]
#[case::r1_no_origin(CREDENTIALS, "GET", &[], Outcome::NotCors)]
#[case::r2_same_origin(CREDENTIALS, "POST", &[("origin", "https://api.example")], Outcome::NotCors)]
#[case::r5_two_origins(CREDENTIALS, "GET", &[("origin", "https://app.example.test"), ("origin", "https://app.example.test")], Outcome::Blocked)]
#[case::r5_malformed_origin(CREDENTIALS, "GET", &[("origin", "HTTPS://app.example.test")], Outcome::Blocked)]
#[case::r5_malformed_public_star(PUBLIC, "GET", &[("origin", "garbage")], Outcome::Allowed)]
#[case::m3_unmatched_origin(CREDENTIALS, "GET", &[("origin", "https://evil.example")], Outcome::Blocked)]
#[case::a2_method_not_allowed(CREDENTIALS, "DELETE", &[("origin", "https://app.example.test")], Outcome::Blocked)]
#[case::a1_exact_with_credentials(CREDENTIALS, "GET", &[("origin", "https://app.example.test")], Outcome::Allowed)]
#[case::a1_star_group(GROUPS, "GET", &[("origin", "https://other.example")], Outcome::Allowed)]
#[case::a1_subdomain(SUBDOMAINS, "GET", &[("origin", "https://a.b.example.test")], Outcome::Allowed)]
#[case::m4_null(GROUPS, "POST", &[("origin", "null")], Outcome::Allowed)]
#[case::a3_public(PUBLIC, "PURGE", &[("origin", "https://a.example")], Outcome::Allowed)]
#[case::a3_public_credentials(PUBLIC_CREDENTIALS, "GET", &[("origin", "https://a.example")], Outcome::Allowed)]
#[case::a2_no_methods(NO_METHODS, "GET", &[("origin", "https://app.example.test")], Outcome::Blocked)]
#[case::p1_accepted_listed_headers(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "PUT"), (ACRH, "x-custom, content-type")], Outcome::PreflightAccepted)]
#[case::p1_accepted_default_methods(DEFAULTS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "PATCH")], Outcome::PreflightAccepted)]
#[case::p4_mirror_canonical_line(ANY_HEADERS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "PUT"), (ACRH, "x-a, x-b")], Outcome::PreflightAccepted)]
#[case::p4_mirror_untidy_lines(ANY_HEADERS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "PUT"), (ACRH, " x-a,,x-b "), (ACRH, "x-c")], Outcome::PreflightAccepted)]
#[case::p5_public_mirror(PUBLIC, "OPTIONS", &[("origin", "https://a.example"), (ACRM, "PATCH"), (ACRH, "x-a,x-b")], Outcome::PreflightAccepted)]
#[case::p5_public_credentials_mirror(PUBLIC_CREDENTIALS, "OPTIONS", &[("origin", "https://a.example"), (ACRM, "PUT"), (ACRH, "x-a")], Outcome::PreflightAccepted)]
#[case::r3_no_acrm(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example.test")], Outcome::PreflightRejected)]
#[case::r5_two_acrm(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "PUT"), (ACRM, "PUT")], Outcome::PreflightRejected)]
#[case::p2_acrm_not_token(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "P UT")], Outcome::PreflightRejected)]
#[case::p2_method_not_allowed(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "PATCH")], Outcome::PreflightRejected)]
#[case::p2_header_not_allowed(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "PUT"), (ACRH, "x-other")], Outcome::PreflightRejected)]
#[case::p2_header_not_token(ANY_HEADERS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "PUT"), (ACRH, "x a")], Outcome::PreflightRejected)]
#[case::m3_unmatched_preflight(CREDENTIALS, "OPTIONS", &[("origin", "https://evil.example"), (ACRM, "PUT")], Outcome::PreflightRejected)]
fn decide_allocates_nothing(
    #[case] profile: &'static str,
    #[case] method: &str,
    #[case] lines: &[(&str, &str)],
    #[case] outcome: Outcome,
) {
    check(profile, method, lines, outcome);
}

#[rstest]
#[case::p6_64_kib_of_commas(vec![",".repeat(64 * 1024)])]
#[case::p6_64_kib_of_names(vec!["x-a,".repeat(16 * 1024)])]
#[case::p6_10_000_names(vec![vec!["x-a"; 10_000].join(",")])]
#[case::p6_10_000_names_on_10_000_lines(vec!["x-a".to_owned(); 10_000])]
#[case::p6_10_000_empty_lines(vec![String::new(); 10_000])]
#[case::p6_257_names(vec![vec!["x-a"; 257].join(", ")])]
fn hostile_acrh_is_rejected_without_allocating(
    #[case] acrh: Vec<String>,
    #[values(PUBLIC, ANY_HEADERS, CREDENTIALS)] profile: &'static str,
) {
    let mut lines = vec![("origin", "https://app.example.test"), (ACRM, "PUT")];
    lines.extend(acrh.iter().map(|value| (ACRH, value.as_str())));
    check(profile, "OPTIONS", &lines, Outcome::PreflightRejected);
}

/// P6 at each of its limits is accepted and one past it rejected, by every kind of group (the
/// mirroring ones and one listing the name), without allocating either way. Each value names
/// the one listed header, `x-custom`, so that P6 alone decides.
#[rstest]
#[case::p6_256_names(vec![vec!["x-custom"; 256].join(",")], true)]
#[case::p6_257_names(vec![vec!["x-custom"; 257].join(",")], false)]
#[case::p6_8192_bytes(vec![format!("x-custom{}", " ".repeat(8192 - 8))], true)]
#[case::p6_8193_bytes(vec![format!("x-custom{}", " ".repeat(8193 - 8))], false)]
#[case::p6_8192_bytes_on_two_lines(vec!["x-custom".to_owned(), format!("x-custom{}", "\t".repeat(8192 - 17))], true)]
#[case::p6_8193_bytes_on_two_lines_joined(vec!["x-custom".to_owned(), format!("x-custom{}", "\t".repeat(8192 - 16))], false)]
#[case::p6_8193_bytes_on_two_lines(vec!["x-custom".to_owned(), format!("x-custom{}", "\t".repeat(8193 - 16))], false)]
#[case::p6_16_empty_elements(vec![format!("x-custom{}", ", ".repeat(16))], true)]
#[case::p6_17_empty_elements(vec![format!("x-custom{}", ", ".repeat(17))], false)]
#[case::p6_16_empty_lines(std::iter::once("x-custom".to_owned()).chain(vec![String::new(); 16]).collect(), true)]
#[case::p6_17_empty_lines(std::iter::once("x-custom".to_owned()).chain(vec![String::new(); 17]).collect(), false)]
#[case::p2_obs_text_in_a_name(vec!["x-custom, x-caf\u{e9}".to_owned()], false)]
fn acrh_at_the_p6_limits_decides_without_allocating(
    #[case] acrh: Vec<String>,
    #[case] accepted: bool,
    #[values(PUBLIC, ANY_HEADERS, CREDENTIALS)] profile: &'static str,
) {
    let mut lines = vec![("origin", "https://app.example.test"), (ACRM, "PUT")];
    lines.extend(acrh.iter().map(|value| (ACRH, value.as_str())));
    let outcome = if accepted { Outcome::PreflightAccepted } else { Outcome::PreflightRejected };
    check(profile, "OPTIONS", &lines, outcome);
}

#[test]
fn r5_origin_longer_than_the_limit_is_blocked_without_allocating() {
    let long = format!("https://{}.example", "a".repeat(cors_origin::MAX_ORIGIN_LEN));
    check(PUBLIC_CREDENTIALS, "GET", &[("origin", &long)], Outcome::Blocked);
    check(PUBLIC, "GET", &[("origin", &long)], Outcome::Allowed);
}

#[test]
fn explain_agrees_on_the_hostile_inputs() {
    let commas = ",".repeat(64 * 1024);
    let lines: &[(&str, &str)] =
        &[("origin", "https://app.example.test"), (ACRM, "PUT"), (ACRH, &commas)];
    let explanation = engine(ANY_HEADERS).explain(&Request::new(b"OPTIONS", lines));
    assert_eq!(explanation.outcome(), Outcome::PreflightRejected);
    assert!(
        explanation.to_string().contains("P6: access-control-request-headers is longer than 8192"),
        "{explanation}"
    );
}

#[test]
fn the_counter_sees_allocations_so_the_zeros_above_mean_something() {
    let lines: &[(&str, &str)] = &[("origin", "https://app.example.test")];
    let request = Request::new(b"GET", lines);
    let info = allocation_counter::measure(|| {
        std::hint::black_box(engine(CREDENTIALS).explain(&request));
    });
    assert!(info.count_total > 0);
}

/// Compiled once: the policy arrives with every header value built, so building an engine from
/// it allocates nothing (ARCHITECTURE.md, "Compiled once").
#[test]
fn engine_new_builds_no_value_of_its_own() {
    for yaml in common::ALL {
        let policy = common::policy(yaml);
        let mut engine = None;
        let info = allocation_counter::measure(|| engine = Some(Engine::new(policy)));
        assert_eq!(info.count_total, 0, "{yaml}");
        assert!(engine.is_some());
    }
}
