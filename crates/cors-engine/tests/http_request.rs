//! `Request::from_http`: an adapter holding an `http::Request` gets R2 from the authority the
//! request was addressed to, in each place a request can name it (finding F-AS).

mod common;

use common::{CREDENTIALS, engine};
use cors_engine::{Outcome, Request, Rule};
use rstest::rstest;

/// The API's own origin, which the `strict-credentials` profile does not list.
const OWN: &str = "https://api.example.test";

/// An `http::Request` with `method`, `target` and these header lines.
fn request(method: &str, target: &str, lines: &[(&str, &str)]) -> http::Request<()> {
    let mut builder = http::Request::builder().method(method).uri(target);
    for &(name, value) in lines {
        builder = builder.header(name, value);
    }
    builder.body(()).expect("a valid request")
}

#[rstest]
// HTTP/1.1, origin form: the `Host` field.
#[case::host_field("POST", "/orders", &[("host", "api.example.test"), ("origin", OWN)], (Outcome::NotCors, Rule::R2))]
// HTTP/2: `:authority` is the URI's authority, and there is no `Host` field.
#[case::http2_authority("POST", "https://api.example.test/orders", &[("origin", OWN)], (Outcome::NotCors, Rule::R2))]
// R2 comes before R3: a same-origin `OPTIONS` is forwarded.
#[case::http2_authority_options("OPTIONS", "https://api.example.test/orders", &[("origin", OWN), ("access-control-request-method", "PUT")], (Outcome::NotCors, Rule::R2))]
// An absolute-form target wins over `Host` (RFC 9112 section 3.2.2), both ways.
#[case::target_wins_over_host("POST", "https://api.example.test/orders", &[("host", "other.example.test"), ("origin", OWN)], (Outcome::NotCors, Rule::R2))]
#[case::host_loses_to_target("POST", "https://other.example.test/orders", &[("host", "api.example.test"), ("origin", OWN)], (Outcome::Blocked, Rule::M3))]
// The default port is no port; another port is another origin.
#[case::default_port("POST", "https://api.example.test:443/orders", &[("origin", OWN)], (Outcome::NotCors, Rule::R2))]
#[case::other_port("POST", "https://api.example.test:8443/orders", &[("origin", OWN)], (Outcome::Blocked, Rule::M3))]
// No authority known: two `Host` lines, or none at all.
#[case::two_host_lines("POST", "/orders", &[("host", "api.example.test"), ("host", "api.example.test"), ("origin", OWN)], (Outcome::Blocked, Rule::M3))]
#[case::no_authority("POST", "/orders", &[("origin", OWN)], (Outcome::Blocked, Rule::M3))]
// Other origins are decided as before.
#[case::listed_origin("POST", "https://api.example.test/orders", &[("origin", "https://app.example.test")], (Outcome::Allowed, Rule::A1))]
#[case::no_origin("POST", "https://api.example.test/orders", &[], (Outcome::NotCors, Rule::R1))]
fn r2_reads_the_authority_the_request_was_addressed_to(
    #[case] method: &str,
    #[case] target: &str,
    #[case] lines: &[(&str, &str)],
    #[case] expected: (Outcome, Rule),
) {
    let engine = engine(CREDENTIALS);
    let request = request(method, target, lines);
    let view = Request::from_http(&request, "https");
    let decision = engine.decide(&view);
    assert_eq!((decision.outcome(), decision.rule()), expected, "{}", engine.explain(&view));
}

/// The listener's scheme is part of the origin: an `https` origin is not same-origin with a
/// request received on an `http` listener.
#[test]
fn r2_compares_the_listeners_scheme() {
    let engine = engine(CREDENTIALS);
    let request = request("POST", "/orders", &[("host", "api.example.test"), ("origin", OWN)]);
    let decision = engine.decide(&Request::from_http(&request, "http"));
    assert_eq!((decision.outcome(), decision.rule()), (Outcome::Blocked, Rule::M3));
}
