//! Each middleware answers every layer scenario as the scenario is named (so the benches compare
//! equal work), and each engine case decides as its name says.

use cors_benches::{
    ALLOWED_ORIGIN, HOST, LayerScenario, ResponseSummary, Subject, actix_bare, actix_cors,
    bare_tower, cors_hyper, engine_cases, tower_http,
};
use rstest::rstest;

fn answer<M: Subject>(subject: &M, scenario: LayerScenario) -> ResponseSummary {
    M::summary(&subject.call(subject.request(scenario)))
}

/// What a CORS middleware must answer on `scenario`: status 200 from the handler or a local
/// answer; an `Access-Control-Allow-Origin` echoing the allowed origin exactly when allowed.
#[track_caller]
fn check(name: &str, scenario: LayerScenario, response: &ResponseSummary) {
    let acao = response.get("access-control-allow-origin");
    match scenario {
        LayerScenario::ActualAllowed | LayerScenario::LastOf1000 | LayerScenario::LastOf10000 => {
            assert_eq!(response.status, 200, "{name}");
            assert_eq!(acao, Some(ALLOWED_ORIGIN), "{name}");
            assert_eq!(response.get("access-control-allow-credentials"), Some("true"), "{name}");
            assert_eq!(
                response.get("access-control-expose-headers"),
                Some("x-request-id"),
                "{name}"
            );
        }
        LayerScenario::Preflight => {
            assert_eq!(response.status, 200, "{name}");
            assert_eq!(acao, Some(ALLOWED_ORIGIN), "{name}");
            assert_eq!(response.get("access-control-max-age"), Some("600"), "{name}");
            assert!(
                response.get("access-control-allow-methods").is_some_and(|v| v.contains("PUT")),
                "{name}"
            );
        }
        LayerScenario::PreflightMirrored => {
            assert_eq!(response.status, 200, "{name}");
            assert_eq!(acao, Some(ALLOWED_ORIGIN), "{name}");
            // Each names the requested headers in its own form: as sent, or joined with `, `.
            let names = response.get("access-control-allow-headers").map(|v| v.replace(' ', ""));
            assert_eq!(names.as_deref(), Some("content-type,x-token"), "{name}");
        }
        LayerScenario::ActualDisallowed | LayerScenario::NoOrigin => {
            assert_eq!(acao, None, "{name}");
        }
        _ => unreachable!("a new scenario needs its expectations here"),
    }
}

#[rstest]
#[case::actual_allowed(LayerScenario::ActualAllowed)]
#[case::actual_disallowed(LayerScenario::ActualDisallowed)]
#[case::preflight(LayerScenario::Preflight)]
#[case::preflight_mirrored(LayerScenario::PreflightMirrored)]
#[case::no_origin(LayerScenario::NoOrigin)]
#[case::last_of_1000(LayerScenario::LastOf1000)]
#[case::last_of_10000(LayerScenario::LastOf10000)]
fn every_middleware_answers_the_scenario_as_named(#[case] scenario: LayerScenario) {
    check("cors-hyper", scenario, &answer(&cors_hyper(scenario), scenario));
    check("tower-http", scenario, &answer(&tower_http(scenario), scenario));
    check("actix-cors", scenario, &answer(&actix_cors(scenario), scenario));
}

#[rstest]
#[case::actual_allowed(LayerScenario::ActualAllowed)]
#[case::preflight(LayerScenario::Preflight)]
fn bare_handlers_answer_200_without_cors_headers(#[case] scenario: LayerScenario) {
    for response in [answer(&bare_tower(), scenario), answer(&actix_bare(), scenario)] {
        assert_eq!(response.status, 200);
        assert_eq!(response.get("access-control-allow-origin"), None);
    }
}

/// The tower subjects' requests carry their fields as hyper's HTTP/1 parser hands them over:
/// every value a slice of one buffer that holds the head as the client sent it, `Host` first,
/// rather than a value of its own.
#[rstest]
#[case::actual_allowed(LayerScenario::ActualAllowed)]
#[case::preflight(LayerScenario::Preflight)]
fn tower_requests_slice_every_field_value_out_of_one_head(#[case] scenario: LayerScenario) {
    let request = bare_tower().request(scenario);
    let fields: Vec<(&str, &[u8])> =
        request.headers().iter().map(|(name, value)| (name.as_str(), value.as_bytes())).collect();
    let expected: Vec<(&str, &[u8])> = std::iter::once(("host", HOST))
        .chain(scenario.headers())
        .map(|(name, value)| (name, value.as_bytes()))
        .collect();
    assert_eq!(fields, expected);
    for pair in fields.windows(2) {
        let [(_, before), (name, after)] = pair else { unreachable!("windows of two") };
        let gap = "\r\n".len() + name.len() + ": ".len();
        assert_eq!(
            after.as_ptr().addr(),
            before.as_ptr().addr() + before.len() + gap,
            "{name} is not where the head puts it"
        );
    }
}

#[test]
fn every_engine_case_decides_as_named() {
    let failures: Vec<String> =
        engine_cases(false).iter().filter_map(|case| case.check().err()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
}
