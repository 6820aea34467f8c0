//! `Engine::explain`: the decision with its reasons, each naming its rule.

mod common;

use common::{ANY_HEADERS, CREDENTIALS, GROUPS, PUBLIC, SUBDOMAINS, engine};
use cors_engine::{Engine, Outcome, Request, RequestMethod, Rule};
use cors_policy::{OriginGroup, Policy};
use rstest::rstest;

const ACRM: &str = "access-control-request-method";
const ACRH: &str = "access-control-request-headers";

/// A group named `partners` allowing GET and the header x-token from `https://app.example.test`.
const PARTNERS: &str = "partners";

/// A group without a name, with the C1 defaults, for `https://app.example.test`.
const UNNAMED: &str = "unnamed";

/// The engine of a profile, or of one of the two policies above, built in code.
fn engine_of(name: &'static str) -> Engine {
    let group = OriginGroup::new(["https://app.example.test"]);
    let built = match name {
        PARTNERS => group.name("partners").allow_methods(["GET"]).allow_headers(["x-token"]),
        UNNAMED => group,
        _ => return engine(name).clone(),
    };
    Engine::new(Policy::builder().group(built).build().expect("a valid test policy"))
}

#[track_caller]
fn check(profile: &'static str, method: &str, lines: &[(&str, &str)], expected_line: &str) {
    let engine = engine_of(profile);
    let request = Request::new(method.as_bytes(), lines).addressed_to("https", b"api.example");
    let explanation = engine.explain(&request);
    let text = explanation.to_string();
    assert!(
        text.lines().any(|line| line.starts_with(expected_line)),
        "no line starting {expected_line:?} in\n{text}"
    );
    // First line: the decision; indented lines: headers; then one reason per line, each `ID: `.
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(explanation.outcome().to_string().as_str()));
    let reasons: Vec<&str> = lines.filter(|l| !l.starts_with("  ")).collect();
    assert_eq!(reasons.len(), explanation.reasons().len());
    for (line, reason) in reasons.iter().zip(explanation.reasons()) {
        assert_eq!(*line, format!("{}: {}", reason.rule(), reason.message()));
    }
    assert_eq!(explanation.reasons().last().map(cors_engine::Reason::rule), Some(Rule::V1));
    assert_eq!(explanation.outcome(), engine.decide(&request).outcome());
}

#[rstest]
#[case::p2_header_not_in_group(PARTNERS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "GET"), (ACRH, "x-foo")], r#"P2: header "x-foo" is not in group "partners" headers [x-token]"#)]
#[case::p2_method_not_in_group(PARTNERS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "PUT")], r#"P2: method "PUT" is not in group "partners" methods [GET]"#)]
#[case::p3_rejection_named(PARTNERS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "PUT")], "P3: rejected: answered 200 with an empty body and no Access-Control-* header")]
#[case::r1_no_origin(CREDENTIALS, "GET", &[], "R1: no Origin header: not a CORS request, forwarded")]
#[case::r2_same_origin(CREDENTIALS, "POST", &[("origin", "https://api.example")], r#"R2: Origin "https://api.example" is the origin the request was addressed to (https://api.example): same-origin, not a CORS request, forwarded"#)]
#[case::r3_missing_acrm(CREDENTIALS, "OPTIONS", &[("origin", "https://app.example.test")], "R3: no Access-Control-Request-Method: rejected")]
// The reason in parentheses is cors-origin's `HeaderError`.
#[case::r5_malformed_origin(CREDENTIALS, "GET", &[("origin", "https://app.example.test:443")], r#"R5: Origin "https://app.example.test:443" is malformed ("#)]
// `decide` skips parsing a public resource's `Origin` that cannot be the request's own (its host
// starts with another byte than `api.example`); `explain` parses it, to say what is wrong.
#[case::r5_malformed_origin_public(PUBLIC, "GET", &[("origin", "https://x.example/")], r#"R5: Origin "https://x.example/" is malformed (origin ends with a slash): answered * all the same (M2)"#)]
#[case::r5_malformed_origin_without_credentials(GROUPS, "GET", &[("origin", "https://x.example/")], r#"R5: Origin "https://x.example/" is malformed (origin ends with a slash): matches nothing, never echoed"#)]
#[case::r5_several_origins_public(PUBLIC, "GET", &[("origin", "https://a.example"), ("origin", "https://b.example")], "R5: more than one Origin field line: malformed, answered * all the same (M2)")]
#[case::m3_listed(PARTNERS, "GET", &[("origin", "https://app.example.test")], r#"M3: Origin "https://app.example.test" is listed in group "partners""#)]
#[case::m3_star_group(GROUPS, "GET", &[("origin", "https://x.example")], r#"M3: Origin "https://x.example" is listed in no group and matches no subdomain pattern; the first group with "*" is group "fallback""#)]
#[case::m5_subdomain(GROUPS, "GET", &[("origin", "https://a.eu.corp.example.test")], r#"M5: Origin "https://a.eu.corp.example.test" matches the pattern "https://*.eu.corp.example.test" of group "corp-eu""#)]
#[case::m4_null(GROUPS, "POST", &[("origin", "null")], r#"M4: Origin "null" is listed in group "sandbox""#)]
#[case::a2_method_blocked(SUBDOMAINS, "DELETE", &[("origin", "https://a.example.test")], r#"A2: method "DELETE" is not in group "subdomains" methods [GET, POST]: blocked"#)]
#[case::a1_unnamed_group(UNNAMED, "GET", &[("origin", "https://app.example.test")], r#"A1: method "GET" is allowed in group originGroups[0]"#)]
#[case::p4_mirror(ANY_HEADERS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "PUT"), (ACRH, "x-a, x-b")], r#"P4: group "app" allows headers *: the 2 requested names are mirrored"#)]
#[case::p6_budget(ANY_HEADERS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "PUT"), (ACRH, ",,,,,,,,,,,,,,,,")], "P6: access-control-request-headers has more than 16 empty elements: rejected")]
#[case::v1_public(PUBLIC, "GET", &[("origin", "https://a.example")], "V1: public resource without credentials: the answer is the same for every origin, no Vary")]
#[case::v1_mirror(ANY_HEADERS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "PUT"), (ACRH, "x-a")], "V1: Vary: Origin, Access-Control-Request-Headers")]
#[case::vary_listed(CREDENTIALS, "GET", &[("origin", "https://app.example.test")], "  vary: Origin")]
#[case::headers_listed(ANY_HEADERS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "PUT"), (ACRH, "x-a")], "  access-control-allow-headers: x-a")]
fn explain_names_the_rule(
    #[case] profile: &'static str,
    #[case] method: &str,
    #[case] lines: &[(&str, &str)],
    #[case] expected_line: &str,
) {
    check(profile, method, lines, expected_line);
}

#[test]
fn explain_reports_every_failed_check_while_decide_stops_at_the_first() {
    let lines: &[(&str, &str)] =
        &[("origin", "https://app.example.test"), (ACRM, "DELETE"), (ACRH, "x-a, x-b")];
    let explanation = engine(CREDENTIALS).explain(&Request::new(b"OPTIONS", lines));
    assert_eq!(explanation.outcome(), Outcome::PreflightRejected);
    let p2: Vec<&str> = explanation
        .reasons()
        .iter()
        .filter(|r| r.rule() == Rule::P2)
        .map(cors_engine::Reason::message)
        .collect();
    assert_eq!(
        p2,
        [
            r#"method "DELETE" is not in group "app" methods [GET, POST, PUT]"#,
            r#"header "x-a" is not in group "app" headers [x-custom, content-type]"#,
            r#"header "x-b" is not in group "app" headers [x-custom, content-type]"#,
        ]
    );
}

/// R3, R4, A1, A2: a method given as an array of bytes or as an `http::Method`
/// (`cors_engine::RequestMethod`) is decided and explained as the same bytes given as a slice.
#[test]
fn a_method_is_decided_as_its_bytes_whatever_its_type() {
    fn explained<M: RequestMethod>(method: M, lines: &[(&str, &str)]) -> String {
        engine(CREDENTIALS)
            .explain(&Request { method, headers: lines, scheme: "https", host: None })
            .to_string()
    }
    let actual: &[(&str, &str)] = &[("origin", "https://app.example.test")];
    let preflight: &[(&str, &str)] = &[("origin", "https://app.example.test"), (ACRM, "PUT")];
    for (bytes, lines, outcome) in [
        (&b"PUT"[..], actual, Outcome::Allowed),
        (b"DELETE", actual, Outcome::Blocked),
        (b"OPTIONS", preflight, Outcome::PreflightAccepted),
    ] {
        let by_slice = explained(bytes, lines);
        assert!(by_slice.starts_with(&outcome.to_string()), "{by_slice}");
        let by_variant = explained(&http::Method::from_bytes(bytes).expect("a method"), lines);
        assert_eq!(by_variant, by_slice);
    }
    assert_eq!(explained(b"PUT", actual), explained(&b"PUT"[..], actual));
    assert_eq!(explained(b"DELETE", actual), explained(&b"DELETE"[..], actual));
    assert_eq!(explained(b"OPTIONS", preflight), explained(&b"OPTIONS"[..], preflight));
}

/// Request bytes in a reason are quoted whole up to 96 bytes, and cut after them, with their
/// length: a hostile value never makes an explanation as long as itself.
#[rstest]
#[case::whole_at_96_bytes(96)]
#[case::cut_at_97_bytes(97)]
#[case::cut_at_200_bytes(200)]
fn a_long_request_value_is_quoted_cut_after_96_bytes(#[case] len: usize) {
    let method = "X".repeat(len);
    let lines: &[(&str, &str)] = &[("origin", "https://app.example.test")];
    let text = engine(CREDENTIALS).explain(&Request::new(method.as_bytes(), lines)).to_string();
    let quoted = if len > 96 {
        format!("\"{}\"... ({len} bytes)", &method[..96])
    } else {
        format!("\"{method}\"")
    };
    let expected = format!("R4: {quoted} with an Origin is an actual CORS request");
    assert!(text.lines().any(|line| line == expected), "no line {expected:?} in\n{text}");
}
