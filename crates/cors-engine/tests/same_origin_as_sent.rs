//! R2 before R5: an `Origin` value the parser refuses (a trailing dot, a label past DNS's limit)
//! is still the request's own origin when it is, byte for byte, the serialization of the origin
//! the request was addressed to, as a browser sends it for a site at its trailing-dot name
//! (`Host: api.example.test.`, `Origin: https://api.example.test.`). Such a request is not CORS:
//! forwarded, `Vary: Origin` (V1), no grant and nothing copied. Everything else stays malformed.

mod common;

use common::{CREDENTIALS, PUBLIC, PUBLIC_CREDENTIALS, engine};
use cors_engine::{Outcome, Request, Rule};
use rstest::rstest;

const OWN: &str = "https://api.example.test.";
const HOST: &[u8] = b"api.example.test.";
const ACRM_PUT: (&str, &str) = ("access-control-request-method", "PUT");

#[track_caller]
fn check(
    profile: &'static str,
    method: &str,
    lines: &[(&str, &str)],
    (scheme, host): (&str, &[u8]),
    expected: (Outcome, Rule),
) {
    let engine = engine(profile);
    let request = Request::new(method.as_bytes(), lines).addressed_to(scheme, host);
    let decision = engine.decide(&request);
    let explanation = engine.explain(&request);
    assert_eq!((decision.outcome(), decision.rule()), expected, "{explanation}");
    assert_eq!((explanation.outcome(), explanation.rule()), expected, "explain decides alike");
    let mut answer = http::HeaderMap::new();
    decision.apply(&mut answer);
    if expected.1 == Rule::R2 {
        // Not CORS: nothing granted, nothing of the request copied, and the answer varies.
        assert!(
            answer.keys().all(|name| !name.as_str().starts_with("access-control-")),
            "{answer:?}"
        );
        let vary: Vec<_> = answer.get_all(http::header::VARY).iter().collect();
        assert_eq!(vary, ["Origin"], "V1");
        // The same reason, in the same words, as for an origin the parser accepts.
        let origin = lines.iter().find(|(name, _)| *name == "origin").map(|(_, v)| *v);
        let reason = format!(
            "R2: Origin \"{}\" is the origin the request was addressed to ({scheme}://{}): \
             same-origin, not a CORS request, forwarded",
            origin.unwrap_or_default(),
            host.escape_ascii()
        );
        let text = explanation.to_string();
        assert!(text.lines().any(|line| line == reason), "no line {reason:?} in\n{text}");
    }
}

#[rstest]
#[case::trailing_dot_post(CREDENTIALS, "POST", &[("origin", OWN)], ("https", HOST), (Outcome::NotCors, Rule::R2))]
#[case::trailing_dot_get(CREDENTIALS, "GET", &[("origin", OWN)], ("https", HOST), (Outcome::NotCors, Rule::R2))]
// R2 before R3: a same-origin OPTIONS is forwarded, however its Origin is spelled.
#[case::trailing_dot_options(CREDENTIALS, "OPTIONS", &[("origin", OWN), ACRM_PUT], ("https", HOST), (Outcome::NotCors, Rule::R2))]
#[case::trailing_dot_host_case(CREDENTIALS, "POST", &[("origin", OWN)], ("https", &b"API.Example.Test."[..]), (Outcome::NotCors, Rule::R2))]
#[case::trailing_dot_default_port_in_host(CREDENTIALS, "POST", &[("origin", OWN)], ("https", &b"api.example.test.:443"[..]), (Outcome::NotCors, Rule::R2))]
#[case::trailing_dot_http(CREDENTIALS, "POST", &[("origin", "http://api.example.test.:8080")], ("http", &b"api.example.test.:8080"[..]), (Outcome::NotCors, Rule::R2))]
#[case::label_of_64(CREDENTIALS, "POST", &[("origin", "https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.test")], ("https", &b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.test"[..]), (Outcome::NotCors, Rule::R2))]
#[case::public_credentials(PUBLIC_CREDENTIALS, "POST", &[("origin", OWN)], ("https", HOST), (Outcome::NotCors, Rule::R2))]
// A public resource without credentials does not parse values that cannot be the request's own
// origin (`Malformed::Unread`); this one can, and R2 applies as for a well-formed own origin.
#[case::public(PUBLIC, "POST", &[("origin", OWN)], ("https", HOST), (Outcome::NotCors, Rule::R2))]
// `HTTPS://API.example.test.` is not what a browser sends: the URL Standard lowers scheme and
// host when it parses the URL the origin comes from, so its serialization never has a capital.
#[case::uppercase_as_sent(CREDENTIALS, "POST", &[("origin", "HTTPS://API.example.test.")], ("https", HOST), (Outcome::Blocked, Rule::R5))]
#[case::uppercase_scheme(CREDENTIALS, "POST", &[("origin", "HTTPS://api.example.test.")], ("https", HOST), (Outcome::Blocked, Rule::R5))]
// The serialization elides the scheme's default port.
#[case::default_port_in_value(CREDENTIALS, "POST", &[("origin", "https://api.example.test.:443")], ("https", HOST), (Outcome::Blocked, Rule::R5))]
#[case::default_port_in_both(CREDENTIALS, "POST", &[("origin", "https://api.example.test.:443")], ("https", &b"api.example.test.:443"[..]), (Outcome::Blocked, Rule::R5))]
#[case::other_host_with_dot(CREDENTIALS, "POST", &[("origin", "https://app.example.test.")], ("https", HOST), (Outcome::Blocked, Rule::R5))]
// `https://api.example.test.` and `https://api.example.test` are two origins (URL Standard).
#[case::dot_in_origin_only(CREDENTIALS, "POST", &[("origin", OWN)], ("https", &b"api.example.test"[..]), (Outcome::Blocked, Rule::R5))]
#[case::other_scheme(CREDENTIALS, "POST", &[("origin", "http://api.example.test.")], ("https", HOST), (Outcome::Blocked, Rule::R5))]
#[case::path(CREDENTIALS, "POST", &[("origin", "https://api.example.test./")], ("https", &b"api.example.test./"[..]), (Outcome::Blocked, Rule::R5))]
#[case::two_lines(CREDENTIALS, "POST", &[("origin", OWN), ("origin", OWN)], ("https", HOST), (Outcome::Blocked, Rule::R5))]
#[case::two_lines_options(CREDENTIALS, "OPTIONS", &[("origin", OWN), ("origin", OWN), ACRM_PUT], ("https", HOST), (Outcome::PreflightRejected, Rule::R5))]
// An `xn--` label must be valid IDNA, as the URL Standard's host parser checks it (F-DF):
// `xn--a` is no URL's host, whatever `Host` says; valid Punycode stays the site's own.
#[case::invalid_punycode(CREDENTIALS, "POST", &[("origin", "https://xn--a.example.test.")], ("https", &b"xn--a.example.test."[..]), (Outcome::Blocked, Rule::R5))]
#[case::punycode(CREDENTIALS, "POST", &[("origin", "https://xn--bcher-kva.example.test.")], ("https", &b"xn--bcher-kva.example.test."[..]), (Outcome::NotCors, Rule::R2))]
// M2 unchanged: a public resource answers `*` to every other value, malformed or not.
#[case::public_other_host(PUBLIC, "POST", &[("origin", "https://app.example.test.")], ("https", HOST), (Outcome::Allowed, Rule::A3))]
#[case::public_two_lines(PUBLIC, "POST", &[("origin", OWN), ("origin", OWN)], ("https", HOST), (Outcome::Allowed, Rule::A3))]
fn own_origin_as_sent(
    #[case] profile: &'static str,
    #[case] method: &str,
    #[case] lines: &[(&str, &str)],
    #[case] address: (&str, &[u8]),
    #[case] expected: (Outcome, Rule),
) {
    check(profile, method, lines, address, expected);
}

/// Without a known authority R2 never applies, to a refused value either.
#[test]
fn no_authority_no_r2() {
    let lines = [("origin", OWN)];
    let decision = engine(CREDENTIALS).decide(&Request::new(b"POST", &lines[..]));
    assert_eq!((decision.outcome(), decision.rule()), (Outcome::Blocked, Rule::R5));
}
