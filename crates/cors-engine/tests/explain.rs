//! `Engine::explain`: the decision with its reasons, each naming its rule.

mod common;

use common::{ANY_HEADERS, CREDENTIALS, GROUPS, PUBLIC, SUBDOMAINS, engine};
use cors_engine::{Engine, Outcome, Request, Rule};
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
#[case::r5_several_origins_public(PUBLIC, "GET", &[("origin", "https://a.example"), ("origin", "https://b.example")], "R5: more than one Origin field line: malformed, answered * all the same (M2)")]
#[case::m3_star_group(GROUPS, "GET", &[("origin", "https://x.example")], r#"M3: Origin "https://x.example" is listed in no group and matches no subdomain pattern; the first group with "*" is group "fallback""#)]
#[case::m5_subdomain(GROUPS, "GET", &[("origin", "https://a.eu.corp.example.test")], r#"M5: Origin "https://a.eu.corp.example.test" matches the pattern "https://*.eu.corp.example.test" of group "corp-eu""#)]
#[case::m4_null(GROUPS, "POST", &[("origin", "null")], r#"M4: Origin "null" is listed in group "sandbox""#)]
#[case::a2_method_blocked(SUBDOMAINS, "DELETE", &[("origin", "https://a.example.test")], r#"A2: method "DELETE" is not in group "subdomains" methods [GET, POST]: blocked"#)]
#[case::a1_unnamed_group(UNNAMED, "GET", &[("origin", "https://app.example.test")], r#"A1: method "GET" is allowed in group originGroups[0]"#)]
#[case::p4_mirror(ANY_HEADERS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "PUT"), (ACRH, "x-a, x-b")], r#"P4: group "app" allows headers *: the 2 requested names are mirrored"#)]
#[case::p6_budget(ANY_HEADERS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "PUT"), (ACRH, ",,,,,,,,,,,,,,,,")], "P6: access-control-request-headers has more than 16 empty elements: rejected")]
#[case::v1_public(PUBLIC, "GET", &[("origin", "https://a.example")], "V1: public resource without credentials: the answer is the same for every origin, no Vary")]
#[case::v1_mirror(ANY_HEADERS, "OPTIONS", &[("origin", "https://app.example.test"), (ACRM, "PUT"), (ACRH, "x-a")], "V1: Vary: Origin, Access-Control-Request-Headers")]
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
