//! The decision table: policy x request -> outcome, headers and Vary, each case citing its rule.
//!
//! Every case runs through one `check()`, which also feeds the same request as an
//! `http::HeaderMap` and through `explain`, and requires all three to agree.

mod common;

use common::{
    ANY_HEADERS, CLOSED, CREDENTIALS, DEFAULTS, DUPLICATE, MIXED, NO_METHODS, PUBLIC,
    PUBLIC_CREDENTIALS, SUBDOMAINS, engine,
};
use cors_engine::{Decision, Outcome, Request, RequestHeaders};
use http::{HeaderMap, HeaderName, HeaderValue};
use rstest::rstest;

/// The address every request is sent to, unless a case gives a `host` line.
const SCHEME: &str = "https";
const HOST: &str = "api.example";

const ACRM: &str = "access-control-request-method";
const ACRH: &str = "access-control-request-headers";

/// Header values as lines the test understands: short names for the Access-Control-* headers.
struct Expected {
    outcome: Outcome,
    headers: &'static [(&'static str, &'static str)],
    vary: &'static str,
}

fn not_cors(vary: &'static str) -> Expected {
    Expected { outcome: Outcome::NotCors, headers: &[], vary }
}

fn blocked(vary: &'static str) -> Expected {
    Expected { outcome: Outcome::Blocked, headers: &[], vary }
}

fn rejected(vary: &'static str) -> Expected {
    Expected { outcome: Outcome::PreflightRejected, headers: &[], vary }
}

fn accepted(headers: &'static [(&'static str, &'static str)], vary: &'static str) -> Expected {
    Expected { outcome: Outcome::PreflightAccepted, headers, vary }
}

fn allowed(headers: &'static [(&'static str, &'static str)], vary: &'static str) -> Expected {
    Expected { outcome: Outcome::Allowed, headers, vary }
}

fn long_name(short: &str) -> &'static str {
    match short {
        "acao" => "access-control-allow-origin",
        "acac" => "access-control-allow-credentials",
        "acam" => "access-control-allow-methods",
        "acah" => "access-control-allow-headers",
        "aceh" => "access-control-expose-headers",
        "acma" => "access-control-max-age",
        other => panic!("unknown short header name {other}"),
    }
}

const ORIGIN_VARY: &str = "Origin";
const NO_VARY: &str = "";
const PUBLIC_PREFLIGHT_VARY: &str = "Access-Control-Request-Method, Access-Control-Request-Headers";
const PUBLIC_CREDENTIALS_PREFLIGHT_VARY: &str =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
const MIRROR_VARY: &str = "Origin, Access-Control-Request-Headers";

/// The decided headers, as (name, value) strings, sorted.
fn rendered(decision: &Decision<'_, '_>) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = decision
        .headers()
        .map(|h| {
            h.iter()
                .map(|(name, value)| {
                    let built = value.to_header_value();
                    assert!(value.eq_bytes(built.as_bytes()), "eq_bytes agrees with the value");
                    (name.to_string(), String::from_utf8_lossy(built.as_bytes()).into_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    headers.sort();
    headers
}

#[track_caller]
fn decide_and_compare<H: RequestHeaders + ?Sized>(
    yaml: &'static str,
    request: &Request<'_, H>,
    expected: &Expected,
) {
    let engine = engine(yaml);
    let decision = engine.decide(request);
    let mut want: Vec<(String, String)> = expected
        .headers
        .iter()
        .map(|(short, value)| (long_name(short).to_owned(), (*value).to_owned()))
        .collect();
    want.sort();
    let explanation = engine.explain(request);
    assert_eq!(decision.outcome(), expected.outcome, "outcome\n{explanation}");
    assert_eq!(rendered(&decision), want, "headers\n{explanation}");
    assert_eq!(decision.vary().to_string(), expected.vary, "vary\n{explanation}");

    // explain agrees with decide, and every reason names its rule.
    assert_eq!(explanation.outcome(), decision.outcome());
    assert_eq!(explanation.vary(), decision.vary());
    let mut explained: Vec<(String, String)> = explanation
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    explained.sort();
    assert_eq!(explained, want);
    assert!(!explanation.reasons().is_empty());
    for reason in explanation.reasons() {
        let text = reason.to_string();
        assert!(text.starts_with(&format!("{}: ", reason.rule())), "{text}");
    }
}

/// The request, sent to `https://{host}` (unknown address if `host` is empty).
fn addressed<'r, H: ?Sized>(request: Request<'r, H>, host: &'r str) -> Request<'r, H> {
    if host.is_empty() { request } else { request.addressed_to(SCHEME, host.as_bytes()) }
}

/// Runs one case through `decide` on a slice, on an `http::HeaderMap`, and through `explain`.
///
/// A `host` line sets the address the request was sent to (empty: unknown, R2 off).
#[track_caller]
fn check(yaml: &'static str, method: &str, lines: &[(&str, &str)], expected: &Expected) {
    let host = lines.iter().find(|(n, _)| *n == "host").map_or(HOST, |(_, v)| *v);
    let lines: Vec<(&str, &str)> = lines.iter().copied().filter(|(n, _)| *n != "host").collect();

    let slice: &[(&str, &str)] = &lines;
    decide_and_compare(yaml, &addressed(Request::new(method.as_bytes(), slice), host), expected);

    let mut map = HeaderMap::new();
    for (name, value) in &lines {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
            HeaderValue::from_bytes(value.as_bytes()).expect("test header value"),
        );
    }
    decide_and_compare(yaml, &addressed(Request::new(method.as_bytes(), &map), host), expected);
}

#[rstest]
// R1: no Origin.
#[case::r1_no_origin_public_still_varies(PUBLIC, "GET", &[], not_cors(ORIGIN_VARY))] // docs/decisions.md: V1 amended
#[case::r1_no_origin_credentials_varies(CREDENTIALS, "GET", &[], not_cors(ORIGIN_VARY))]
#[case::r1_no_origin_public_credentials_varies(PUBLIC_CREDENTIALS, "GET", &[], not_cors(ORIGIN_VARY))]
#[case::r1_no_origin_options_is_forwarded(CREDENTIALS, "OPTIONS", &[(ACRM, "PUT")], not_cors(ORIGIN_VARY))]
#[case::r1_closed_policy_no_origin_varies(CLOSED, "GET", &[], not_cors(ORIGIN_VARY))]
// R2: same-origin, checked before R3.
#[case::r2_same_origin_post_is_forwarded(CREDENTIALS, "POST", &[("origin", "https://api.example")], not_cors(ORIGIN_VARY))]
#[case::r2_same_origin_options_is_forwarded(CREDENTIALS, "OPTIONS", &[("origin", "https://api.example"), (ACRM, "PUT")], not_cors(ORIGIN_VARY))]
#[case::r2_default_port_in_host_is_same_origin(CREDENTIALS, "POST", &[("origin", "https://api.example"), ("host", "api.example:443")], not_cors(ORIGIN_VARY))]
#[case::r2_host_case_is_ignored(CREDENTIALS, "GET", &[("origin", "https://api.example"), ("host", "API.Example")], not_cors(ORIGIN_VARY))]
#[case::r2_other_port_is_cross_origin(CREDENTIALS, "POST", &[("origin", "https://api.example"), ("host", "api.example:8443")], blocked(ORIGIN_VARY))]
#[case::r2_other_scheme_is_cross_origin(CREDENTIALS, "POST", &[("origin", "http://api.example")], blocked(ORIGIN_VARY))]
#[case::r2_public_same_origin_still_varies(PUBLIC, "GET", &[("origin", "https://api.example")], not_cors(ORIGIN_VARY))]
#[case::r2_unknown_host_turns_the_check_off(PUBLIC, "GET", &[("origin", "https://api.example"), ("host", "")], allowed(&[("acao", "*")], NO_VARY))]
#[case::r2_null_is_never_same_origin(PUBLIC_CREDENTIALS, "GET", &[("origin", "null")], allowed(&[("acao", "null"), ("acac", "true")], ORIGIN_VARY))]
// R3: OPTIONS with an Origin is a preflight.
#[case::r3_options_without_acrm_is_rejected(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example")], rejected(ORIGIN_VARY))]
#[case::r3_public_options_without_acrm_is_rejected(PUBLIC, "OPTIONS", &[("origin", "https://app.example")], rejected(PUBLIC_PREFLIGHT_VARY))]
#[case::r3_lowercase_options_is_an_actual_request(CREDENTIALS, "options", &[("origin", "https://app.example"), (ACRM, "GET")], blocked(ORIGIN_VARY))]
// R4: any other method is an actual request.
#[case::r4_post_is_actual(CREDENTIALS, "POST", &[("origin", "https://app.example")], allowed(&[("acao", "https://app.example"), ("acac", "true"), ("aceh", "x-request-id")], ORIGIN_VARY))]
#[case::r4_acrm_on_get_is_ignored(CREDENTIALS, "GET", &[("origin", "https://app.example"), (ACRM, "DELETE")], allowed(&[("acao", "https://app.example"), ("acac", "true"), ("aceh", "x-request-id")], ORIGIN_VARY))]
// R5: malformed Origin matches nothing, except public without credentials.
#[case::r5_two_origin_lines_are_blocked(CREDENTIALS, "GET", &[("origin", "https://app.example"), ("origin", "https://app.example")], blocked(ORIGIN_VARY))]
#[case::r5_two_origin_lines_public_get_star(PUBLIC, "GET", &[("origin", "https://a.example"), ("origin", "https://b.example")], allowed(&[("acao", "*")], NO_VARY))]
#[case::r5_two_origin_lines_public_credentials_blocked(PUBLIC_CREDENTIALS, "GET", &[("origin", "https://a.example"), ("origin", "https://b.example")], blocked(ORIGIN_VARY))]
#[case::r5_two_origin_lines_reject_the_preflight(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example"), ("origin", "https://app.example"), (ACRM, "GET")], rejected(ORIGIN_VARY))]
#[case::r5_empty_origin_is_blocked(CREDENTIALS, "GET", &[("origin", "")], blocked(ORIGIN_VARY))]
#[case::r5_empty_origin_public_gets_star(PUBLIC, "GET", &[("origin", "")], allowed(&[("acao", "*")], NO_VARY))]
#[case::r5_non_ascii_origin_is_blocked(PUBLIC_CREDENTIALS, "GET", &[("origin", "https://b\u{fc}cher.example")], blocked(ORIGIN_VARY))]
#[case::r5_non_ascii_origin_public_gets_star(PUBLIC, "GET", &[("origin", "https://b\u{fc}cher.example")], allowed(&[("acao", "*")], NO_VARY))]
#[case::r5_garbage_origin_public_gets_star(PUBLIC, "GET", &[("origin", "not an origin")], allowed(&[("acao", "*")], NO_VARY))]
#[case::r5_malformed_origin_never_echoed(PUBLIC_CREDENTIALS, "GET", &[("origin", "https://App.example")], blocked(ORIGIN_VARY))]
#[case::r5_two_acrm_lines_reject(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "PUT"), (ACRM, "PUT")], rejected(ORIGIN_VARY))]
#[case::r5_two_acrm_lines_reject_public(PUBLIC, "OPTIONS", &[("origin", "https://a.example"), (ACRM, "GET"), (ACRM, "GET")], rejected(PUBLIC_PREFLIGHT_VARY))]
#[case::r5_malformed_origin_rejects_public_credentials_preflight(PUBLIC_CREDENTIALS, "OPTIONS", &[("origin", "https://any.example:443"), (ACRM, "PUT")], rejected(PUBLIC_CREDENTIALS_PREFLIGHT_VARY))]
// M1: bytes equal to the canonical serialization, never normalized.
#[case::m1_uppercase_scheme_matches_nothing(CREDENTIALS, "GET", &[("origin", "HTTPS://app.example")], blocked(ORIGIN_VARY))]
#[case::m1_uppercase_host_matches_nothing(CREDENTIALS, "GET", &[("origin", "https://APP.example")], blocked(ORIGIN_VARY))]
#[case::m1_default_port_matches_nothing(CREDENTIALS, "GET", &[("origin", "https://app.example:443")], blocked(ORIGIN_VARY))]
#[case::m1_trailing_slash_matches_nothing(CREDENTIALS, "GET", &[("origin", "https://app.example/")], blocked(ORIGIN_VARY))]
#[case::m1_hex_ipv4_matches_not_even_star(MIXED, "GET", &[("origin", "http://0x7f.1")], blocked(ORIGIN_VARY))]
#[case::m1_whitespace_matches_nothing(CREDENTIALS, "GET", &[("origin", " https://app.example")], blocked(ORIGIN_VARY))]
#[case::m1_explicit_port_matches(CREDENTIALS, "GET", &[("origin", "http://localhost:8080")], allowed(&[("acao", "http://localhost:8080"), ("acac", "true"), ("aceh", "x-request-id")], ORIGIN_VARY))]
#[case::m1_other_port_matches_nothing(CREDENTIALS, "GET", &[("origin", "http://localhost:8081")], blocked(ORIGIN_VARY))]
// M2: public resources.
#[case::m2_public_any_origin_gets_star(PUBLIC, "GET", &[("origin", "https://anything.example")], allowed(&[("acao", "*")], NO_VARY))]
#[case::m2_public_null_gets_star(PUBLIC, "GET", &[("origin", "null")], allowed(&[("acao", "*")], NO_VARY))]
#[case::m2_public_credentials_echo(PUBLIC_CREDENTIALS, "GET", &[("origin", "https://anything.example")], allowed(&[("acao", "https://anything.example"), ("acac", "true")], ORIGIN_VARY))]
#[case::m2_public_credentials_echo_null(PUBLIC_CREDENTIALS, "POST", &[("origin", "null")], allowed(&[("acao", "null"), ("acac", "true")], ORIGIN_VARY))]
// M3: explicit first, then subdomain, then the first `*` group.
#[case::m3_explicit_group_beats_star(MIXED, "POST", &[("origin", "https://partner.example")], allowed(&[("acao", "https://partner.example"), ("aceh", "x-partner")], ORIGIN_VARY))]
#[case::m3_star_group_for_the_rest(MIXED, "GET", &[("origin", "https://other.example")], allowed(&[("acao", "*")], ORIGIN_VARY))]
#[case::m3_star_group_methods_apply(MIXED, "POST", &[("origin", "https://other.example")], blocked(ORIGIN_VARY))]
#[case::m3_first_star_group_wins(MIXED, "PATCH", &[("origin", "https://other.example")], blocked(ORIGIN_VARY))]
#[case::m3_explicit_partner_not_given_star_group_methods(MIXED, "PUT", &[("origin", "https://partner.example")], blocked(ORIGIN_VARY))]
#[case::m3_star_group_preflight(MIXED, "OPTIONS", &[("origin", "https://other.example"), (ACRM, "GET")], accepted(&[("acao", "*"), ("acam", "GET"), ("acma", "5")], ORIGIN_VARY))]
#[case::m3_partner_preflight(MIXED, "OPTIONS", &[("origin", "https://partner.example"), (ACRM, "POST"), (ACRH, "X-Token")], accepted(&[("acao", "https://partner.example"), ("acam", "GET, POST"), ("acah", "x-token"), ("acma", "60")], ORIGIN_VARY))]
#[case::m3_star_group_header_not_allowed(MIXED, "OPTIONS", &[("origin", "https://other.example"), (ACRM, "GET"), (ACRH, "x-token")], rejected(ORIGIN_VARY))]
#[case::m3_duplicate_first_group_wins(DUPLICATE, "GET", &[("origin", "https://dup.example")], allowed(&[("acao", "https://dup.example")], ORIGIN_VARY))]
#[case::m3_duplicate_second_group_ignored(DUPLICATE, "DELETE", &[("origin", "https://dup.example")], blocked(ORIGIN_VARY))]
#[case::m3_second_group_own_origin(DUPLICATE, "DELETE", &[("origin", "https://two.example")], allowed(&[("acao", "https://two.example")], ORIGIN_VARY))]
#[case::m3_duplicate_preflight_uses_first_group(DUPLICATE, "OPTIONS", &[("origin", "https://dup.example"), (ACRM, "GET"), (ACRH, "x-first")], accepted(&[("acao", "https://dup.example"), ("acam", "GET"), ("acah", "x-first"), ("acma", "10")], ORIGIN_VARY))]
#[case::m3_duplicate_preflight_second_group_headers_rejected(DUPLICATE, "OPTIONS", &[("origin", "https://dup.example"), (ACRM, "GET"), (ACRH, "x-second")], rejected(ORIGIN_VARY))]
#[case::m3_second_group_preflight(DUPLICATE, "OPTIONS", &[("origin", "https://two.example"), (ACRM, "DELETE"), (ACRH, "x-second")], accepted(&[("acao", "https://two.example"), ("acam", "DELETE"), ("acah", "x-second"), ("acma", "20")], ORIGIN_VARY))]
#[case::m3_unknown_origin_rejected(CREDENTIALS, "OPTIONS", &[("origin", "https://evil.example"), (ACRM, "GET")], rejected(ORIGIN_VARY))]
#[case::m3_closed_policy_blocks(CLOSED, "GET", &[("origin", "https://app.example")], blocked(ORIGIN_VARY))]
#[case::m3_closed_policy_rejects_preflight(CLOSED, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "GET")], rejected(ORIGIN_VARY))]
// M4: null only by "null" or `*`.
#[case::m4_null_matches_no_exact_group(CREDENTIALS, "GET", &[("origin", "null")], blocked(ORIGIN_VARY))]
#[case::m4_null_matches_star_group_gets_star(MIXED, "GET", &[("origin", "null")], allowed(&[("acao", "*")], ORIGIN_VARY))]
#[case::m4_null_listed_is_echoed(SUBDOMAINS, "GET", &[("origin", "null")], allowed(&[("acao", "null")], ORIGIN_VARY))]
#[case::m4_null_listed_preflight(SUBDOMAINS, "OPTIONS", &[("origin", "null"), (ACRM, "GET")], accepted(&[("acao", "null"), ("acam", "GET"), ("acma", "30")], ORIGIN_VARY))]
#[case::m4_capital_null_is_malformed(SUBDOMAINS, "GET", &[("origin", "Null")], blocked(ORIGIN_VARY))]
// M5: whole labels, scheme and port.
#[case::m5_one_label_matches(SUBDOMAINS, "GET", &[("origin", "https://a.example.com")], allowed(&[("acao", "https://a.example.com")], ORIGIN_VARY))]
#[case::m5_two_labels_match(SUBDOMAINS, "GET", &[("origin", "https://a.b.example.com")], allowed(&[("acao", "https://a.b.example.com")], ORIGIN_VARY))]
#[case::m5_bare_domain_matches_nothing(SUBDOMAINS, "GET", &[("origin", "https://example.com")], blocked(ORIGIN_VARY))]
#[case::m5_suffix_confusion_matches_nothing(SUBDOMAINS, "GET", &[("origin", "https://evilexample.com")], blocked(ORIGIN_VARY))]
#[case::m5_other_scheme_matches_nothing(SUBDOMAINS, "GET", &[("origin", "http://a.example.com")], blocked(ORIGIN_VARY))]
#[case::m5_other_port_matches_nothing(SUBDOMAINS, "GET", &[("origin", "https://a.example.com:8443")], blocked(ORIGIN_VARY))]
#[case::m5_longest_domain_wins(SUBDOMAINS, "POST", &[("origin", "https://a.shop.example.com")], allowed(&[("acao", "https://a.shop.example.com")], ORIGIN_VARY))]
#[case::m5_longest_domain_does_not_fall_back(SUBDOMAINS, "GET", &[("origin", "https://a.shop.example.com")], blocked(ORIGIN_VARY))]
#[case::m5_exact_beats_pattern(SUBDOMAINS, "PUT", &[("origin", "https://exact.shop.example.com")], allowed(&[("acao", "https://exact.shop.example.com")], ORIGIN_VARY))]
#[case::m5_exact_does_not_fall_back(SUBDOMAINS, "POST", &[("origin", "https://exact.shop.example.com")], blocked(ORIGIN_VARY))]
#[case::m5_explicit_port_matches(SUBDOMAINS, "GET", &[("origin", "https://a.ported.example:8443")], allowed(&[("acao", "https://a.ported.example:8443")], ORIGIN_VARY))]
#[case::m5_explicit_port_is_required(SUBDOMAINS, "GET", &[("origin", "https://a.ported.example")], blocked(ORIGIN_VARY))]
#[case::m5_subdomain_preflight(SUBDOMAINS, "OPTIONS", &[("origin", "https://a.b.example.com"), (ACRM, "GET")], accepted(&[("acao", "https://a.b.example.com"), ("acam", "GET"), ("acma", "30")], ORIGIN_VARY))]
// P1, P2, P4: preflights of a group with credentials.
#[case::p1_accepted_preflight_headers(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "PUT"), (ACRH, "x-token")], accepted(&[("acao", "https://app.example"), ("acac", "true"), ("acam", "GET, POST, PUT"), ("acah", "x-token, content-type"), ("acma", "600")], ORIGIN_VARY))]
#[case::p2_method_is_case_sensitive(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "put")], rejected(ORIGIN_VARY))]
#[case::p2_is_allowed_false_is_dropped(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "DELETE")], rejected(ORIGIN_VARY))]
#[case::p2_head_allowed_where_get_is(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "HEAD")], accepted(&[("acao", "https://app.example"), ("acac", "true"), ("acam", "GET, POST, PUT"), ("acah", "x-token, content-type"), ("acma", "600")], ORIGIN_VARY))]
#[case::p2_headers_compared_ignoring_case(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "PUT"), (ACRH, "X-TOKEN, Content-Type")], accepted(&[("acao", "https://app.example"), ("acac", "true"), ("acam", "GET, POST, PUT"), ("acah", "x-token, content-type"), ("acma", "600")], ORIGIN_VARY))]
#[case::p2_header_not_allowed(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "PUT"), (ACRH, "x-token, x-other")], rejected(ORIGIN_VARY))]
#[case::p2_header_not_a_token(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "PUT"), (ACRH, "x token")], rejected(ORIGIN_VARY))]
#[case::p2_acrm_not_a_token(PUBLIC, "OPTIONS", &[("origin", "https://a.example"), (ACRM, "GET POST")], rejected(PUBLIC_PREFLIGHT_VARY))]
#[case::p2_empty_acrm(PUBLIC, "OPTIONS", &[("origin", "https://a.example"), (ACRM, "")], rejected(PUBLIC_PREFLIGHT_VARY))]
#[case::p2_acrm_whitespace_trimmed(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, " PUT ")], accepted(&[("acao", "https://app.example"), ("acac", "true"), ("acam", "GET, POST, PUT"), ("acah", "x-token, content-type"), ("acma", "600")], ORIGIN_VARY))]
#[case::p3_wrong_origin_and_method_rejected(CREDENTIALS, "OPTIONS", &[("origin", "https://evil.example"), (ACRM, "PATCH"), (ACRH, "x-evil")], rejected(ORIGIN_VARY))]
#[case::p4_no_acrh_still_lists_group_headers(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "GET")], accepted(&[("acao", "https://app.example"), ("acac", "true"), ("acam", "GET, POST, PUT"), ("acah", "x-token, content-type"), ("acma", "600")], ORIGIN_VARY))]
#[case::p6_acrh_over_two_lines(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "PUT"), (ACRH, "x-token"), (ACRH, "content-type")], accepted(&[("acao", "https://app.example"), ("acac", "true"), ("acam", "GET, POST, PUT"), ("acah", "x-token, content-type"), ("acma", "600")], ORIGIN_VARY))]
#[case::p6_empty_elements_and_whitespace_tolerated(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "PUT"), (ACRH, ", x-token,, content-type ,")], accepted(&[("acao", "https://app.example"), ("acac", "true"), ("acam", "GET, POST, PUT"), ("acah", "x-token, content-type"), ("acma", "600")], ORIGIN_VARY))]
#[case::p6_not_allowed_header_on_second_line(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "PUT"), (ACRH, "x-token"), (ACRH, "x-other")], rejected(ORIGIN_VARY))]
// P4 with the C1 default methods; C3 `allowedMethods: []`.
#[case::p4_default_methods_in_c1_order(DEFAULTS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "PATCH")], accepted(&[("acao", "https://app.example"), ("acam", "CONNECT, DELETE, GET, OPTIONS, PATCH, POST, PUT, TRACE"), ("acma", "30")], ORIGIN_VARY))]
#[case::p2_default_headers_are_none(DEFAULTS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "GET"), (ACRH, "x-token")], rejected(ORIGIN_VARY))]
#[case::p2_default_methods_lowercase_patch_rejected(DEFAULTS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "patch")], rejected(ORIGIN_VARY))]
#[case::a1_default_methods_allow_trace(DEFAULTS, "TRACE", &[("origin", "https://app.example")], allowed(&[("acao", "https://app.example")], ORIGIN_VARY))]
#[case::a1_default_methods_allow_head(DEFAULTS, "HEAD", &[("origin", "https://app.example")], allowed(&[("acao", "https://app.example")], ORIGIN_VARY))]
#[case::a2_default_methods_refuse_purge(DEFAULTS, "PURGE", &[("origin", "https://app.example")], blocked(ORIGIN_VARY))]
#[case::p2_no_methods_rejects_preflight(NO_METHODS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "GET")], rejected(ORIGIN_VARY))]
#[case::a2_no_methods_blocks_get(NO_METHODS, "GET", &[("origin", "https://app.example")], blocked(ORIGIN_VARY))]
#[case::a2_no_methods_blocks_head(NO_METHODS, "HEAD", &[("origin", "https://app.example")], blocked(ORIGIN_VARY))]
// P4, V1: `headers: ['*']` mirrors and varies on ACRH.
#[case::p4_star_mirrors_acrh_as_sent(ANY_HEADERS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "PUT"), (ACRH, "X-Foo, authorization")], accepted(&[("acao", "https://app.example"), ("acac", "true"), ("acam", "GET, PUT"), ("acah", "X-Foo, authorization"), ("acma", "100")], MIRROR_VARY))]
#[case::p4_star_mirror_trims_and_drops_empty(ANY_HEADERS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "PUT"), (ACRH, " x-a ,,x-b")], accepted(&[("acao", "https://app.example"), ("acac", "true"), ("acam", "GET, PUT"), ("acah", "x-a, x-b"), ("acma", "100")], MIRROR_VARY))]
#[case::p4_star_mirror_joins_lines(ANY_HEADERS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "PUT"), (ACRH, "x-a"), (ACRH, "x-b, x-c")], accepted(&[("acao", "https://app.example"), ("acac", "true"), ("acam", "GET, PUT"), ("acah", "x-a, x-b, x-c"), ("acma", "100")], MIRROR_VARY))]
#[case::p4_star_without_acrh_omits_acah(ANY_HEADERS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "GET")], accepted(&[("acao", "https://app.example"), ("acac", "true"), ("acam", "GET, PUT"), ("acma", "100")], MIRROR_VARY))]
#[case::p4_star_only_empty_elements_omits_acah(ANY_HEADERS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "GET"), (ACRH, " , ")], accepted(&[("acao", "https://app.example"), ("acac", "true"), ("acam", "GET, PUT"), ("acma", "100")], MIRROR_VARY))]
#[case::p2_star_invalid_token_not_mirrored(ANY_HEADERS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "PUT"), (ACRH, "x-a, b@c")], rejected(ORIGIN_VARY))]
#[case::p2_star_method_still_checked(ANY_HEADERS, "OPTIONS", &[("origin", "https://app.example"), (ACRM, "POST"), (ACRH, "x-a")], rejected(ORIGIN_VARY))]
#[case::v1_star_actual_request_varies_on_origin_only(ANY_HEADERS, "GET", &[("origin", "https://app.example")], allowed(&[("acao", "https://app.example"), ("acac", "true")], ORIGIN_VARY))]
// P5: public preflights mirror ACRM and ACRH.
#[case::p5_public_mirrors_method_and_headers(PUBLIC, "OPTIONS", &[("origin", "https://any.example"), (ACRM, "PATCH"), (ACRH, "x-a, X-B")], accepted(&[("acao", "*"), ("acam", "PATCH"), ("acah", "x-a, X-B")], PUBLIC_PREFLIGHT_VARY))]
#[case::p5_public_without_acrh(PUBLIC, "OPTIONS", &[("origin", "https://any.example"), (ACRM, "GET")], accepted(&[("acao", "*"), ("acam", "GET")], PUBLIC_PREFLIGHT_VARY))]
#[case::p5_public_malformed_origin_still_star(PUBLIC, "OPTIONS", &[("origin", "garbage"), (ACRM, "GET")], accepted(&[("acao", "*"), ("acam", "GET")], PUBLIC_PREFLIGHT_VARY))]
#[case::p5_public_custom_method_mirrored(PUBLIC, "OPTIONS", &[("origin", "https://any.example"), (ACRM, "PURGE")], accepted(&[("acao", "*"), ("acam", "PURGE")], PUBLIC_PREFLIGHT_VARY))]
#[case::p5_public_credentials_echo_and_mirror(PUBLIC_CREDENTIALS, "OPTIONS", &[("origin", "https://any.example"), (ACRM, "PUT"), (ACRH, "x-a")], accepted(&[("acao", "https://any.example"), ("acac", "true"), ("acam", "PUT"), ("acah", "x-a")], PUBLIC_CREDENTIALS_PREFLIGHT_VARY))]
#[case::p5_public_invalid_header_rejected(PUBLIC, "OPTIONS", &[("origin", "https://any.example"), (ACRM, "GET"), (ACRH, "x(a)")], rejected(PUBLIC_PREFLIGHT_VARY))]
#[case::p6_public_seventeen_empty_elements_rejected(PUBLIC, "OPTIONS", &[("origin", "https://any.example"), (ACRM, "GET"), (ACRH, ",,,,,,,,,,,,,,,,")], rejected(PUBLIC_PREFLIGHT_VARY))]
#[case::p6_public_sixteen_empty_elements_accepted(PUBLIC, "OPTIONS", &[("origin", "https://any.example"), (ACRM, "GET"), (ACRH, ",,,,,,,,,,,,,,,,x-a")], accepted(&[("acao", "*"), ("acam", "GET"), ("acah", "x-a")], PUBLIC_PREFLIGHT_VARY))]
// A1 to A3: actual requests.
#[case::a1_allowed_get(CREDENTIALS, "GET", &[("origin", "https://app.example")], allowed(&[("acao", "https://app.example"), ("acac", "true"), ("aceh", "x-request-id")], ORIGIN_VARY))]
#[case::a1_head_allowed_where_get_is(CREDENTIALS, "HEAD", &[("origin", "https://app.example")], allowed(&[("acao", "https://app.example"), ("acac", "true"), ("aceh", "x-request-id")], ORIGIN_VARY))]
#[case::a1_acrh_ignored_on_actual_request(CREDENTIALS, "PUT", &[("origin", "https://app.example"), (ACRH, "x bad")], allowed(&[("acao", "https://app.example"), ("acac", "true"), ("aceh", "x-request-id")], ORIGIN_VARY))]
#[case::a2_method_not_allowed(CREDENTIALS, "DELETE", &[("origin", "https://app.example")], blocked(ORIGIN_VARY))]
#[case::a2_method_is_case_sensitive(CREDENTIALS, "get", &[("origin", "https://app.example")], blocked(ORIGIN_VARY))]
#[case::a2_unknown_origin(CREDENTIALS, "GET", &[("origin", "https://evil.example")], blocked(ORIGIN_VARY))]
#[case::a3_public_allows_any_method(PUBLIC, "PURGE", &[("origin", "https://any.example")], allowed(&[("acao", "*")], NO_VARY))]
#[case::a3_public_ignores_group_exposed_headers(PUBLIC, "GET", &[("origin", "https://app.example")], allowed(&[("acao", "*")], NO_VARY))]
#[case::a3_public_credentials_any_method(PUBLIC_CREDENTIALS, "DELETE", &[("origin", "https://any.example")], allowed(&[("acao", "https://any.example"), ("acac", "true")], ORIGIN_VARY))]
// O1, O2: the value of Access-Control-Allow-Origin.
#[case::o1_explicit_origin_in_star_group_is_echoed(MIXED, "PATCH", &[("origin", "https://late.example")], allowed(&[("acao", "https://late.example")], ORIGIN_VARY))]
#[case::o1_star_match_without_credentials_is_star(MIXED, "GET", &[("origin", "https://late.example.org")], allowed(&[("acao", "*")], ORIGIN_VARY))]
#[case::o2_credentials_echo_never_star(PUBLIC_CREDENTIALS, "GET", &[("origin", "http://127.0.0.1:3000")], allowed(&[("acao", "http://127.0.0.1:3000"), ("acac", "true")], ORIGIN_VARY))]
#[case::o2_credentials_echo_ipv6(PUBLIC_CREDENTIALS, "GET", &[("origin", "https://[::1]:8443")], allowed(&[("acao", "https://[::1]:8443"), ("acac", "true")], ORIGIN_VARY))]
fn decision_table(
    #[case] yaml: &'static str,
    #[case] method: &str,
    #[case] lines: &[(&str, &str)],
    #[case] expected: Expected,
) {
    check(yaml, method, lines, &expected);
}
