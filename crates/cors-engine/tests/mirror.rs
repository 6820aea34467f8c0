//! P4, P5: building the mirrored `Access-Control-Allow-Headers` from each kind of header source;
//! O1, O2: when an echoed origin is the request's own value.

mod common;

use common::{ANY_HEADERS, CREDENTIALS, PUBLIC, SUBDOMAINS, engine};
use cors_engine::{Decision, Outcome, Request, RequestHeaders, Value};
use http::{HeaderMap, HeaderValue};
use rstest::rstest;

const ACRH: &str = "access-control-request-headers";

fn preflight_lines(acrh: &[&'static str]) -> Vec<(&'static str, &'static str)> {
    let mut lines =
        vec![("origin", "https://app.example.test"), ("access-control-request-method", "PUT")];
    lines.extend(acrh.iter().map(|v| (ACRH, *v)));
    lines
}

/// The mirrored value of an accepted preflight, or `None` if there is none.
fn mirrored<H: RequestHeaders + ?Sized>(profile: &'static str, headers: &H) -> Option<HeaderValue> {
    let decision = engine(profile).decide(&Request::new(b"OPTIONS", headers));
    let Decision::Preflight { accepted: true, headers, .. } = decision else {
        panic!("not accepted: {decision:?}");
    };
    match headers.allow_headers()? {
        Value::Mirrored(list) => {
            let value = list.to_header_value();
            assert_eq!(list.joined_len(), value.len());
            assert_eq!(list.to_string(), value.to_str().expect("ASCII"));
            Some(value)
        }
        other => panic!("not mirrored: {other:?}"),
    }
}

#[track_caller]
fn check(profile: &'static str, acrh: &[&'static str], expected: Option<&str>) {
    let lines = preflight_lines(acrh);
    let expected = expected.map(str::as_bytes);

    let strs: &[(&str, &str)] = &lines;
    assert_eq!(mirrored(profile, strs).as_ref().map(HeaderValue::as_bytes), expected, "str pairs");

    let bytes: Vec<(&[u8], &[u8])> =
        lines.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect();
    assert_eq!(mirrored(profile, bytes.as_slice()).as_ref().map(HeaderValue::as_bytes), expected);

    let owned: Vec<(String, String)> =
        lines.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    assert_eq!(mirrored(profile, &owned).as_ref().map(HeaderValue::as_bytes), expected, "Vec");

    let mut map = HeaderMap::new();
    for (n, v) in &lines {
        map.append(*n, HeaderValue::from_static(v));
    }
    let value = mirrored(profile, &map);
    assert_eq!(value.as_ref().map(HeaderValue::as_bytes), expected, "HeaderMap");
    // A single line already in the joined form is reused: a clone of the request's value.
    if let ([line], Some(value)) = (acrh, &value)
        && line.as_bytes() == value.as_bytes()
    {
        let original = map.get(ACRH).expect("one line");
        assert_eq!(original.as_bytes().as_ptr(), value.as_bytes().as_ptr(), "bytes reused");
    }
}

#[rstest]
#[case::p4_canonical_line_reused(ANY_HEADERS, &["x-a, X-B"], Some("x-a, X-B"))]
#[case::p4_single_name(ANY_HEADERS, &["authorization"], Some("authorization"))]
#[case::p4_untidy_line_rebuilt(ANY_HEADERS, &["\tx-a ,,X-B  ,"], Some("x-a, X-B"))]
#[case::p4_lines_joined(ANY_HEADERS, &["x-a", " x-b ,x-c", ""], Some("x-a, x-b, x-c"))]
#[case::p4_nothing_to_mirror(ANY_HEADERS, &[" , ,"], None)]
#[case::p4_no_acrh(ANY_HEADERS, &[], None)]
#[case::p5_public_lines_joined(PUBLIC, &["x-a,x-b", "x-c"], Some("x-a, x-b, x-c"))]
#[case::p5_public_canonical_line(PUBLIC, &["content-type, x-token"], Some("content-type, x-token"))]
fn mirrored_value_from_every_source(
    #[case] profile: &'static str,
    #[case] acrh: &[&'static str],
    #[case] expected: Option<&str>,
) {
    check(profile, acrh, expected);
}

/// A header type of someone else's: its own value type, one method.
struct Opaque(Vec<(&'static str, Vec<u8>)>);

impl RequestHeaders for Opaque {
    type Value = Vec<u8>;

    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a Vec<u8>> + 'a {
        self.0.iter().filter(move |(n, _)| *n == name).map(|(_, v)| v)
    }
}

#[rstest]
#[case::p4_one_line(&["x-a,x-b"])]
#[case::p4_several_lines(&["x-a", "x-b"])]
#[case::p4_canonical_line(&["x-a, x-b"])]
fn any_header_type_mirrors_every_shape(#[case] acrh: &[&'static str]) {
    let lines = preflight_lines(acrh).into_iter().map(|(n, v)| (n, v.as_bytes().to_vec()));
    let headers = Opaque(lines.collect());
    assert_eq!(
        mirrored(ANY_HEADERS, &headers).as_ref().map(HeaderValue::as_bytes),
        Some(&b"x-a, x-b"[..])
    );
    let request = Request::new(b"OPTIONS", &headers);
    let explanation = engine(ANY_HEADERS).explain(&request);
    assert_eq!(explanation.outcome(), Outcome::PreflightAccepted);
    let allow_headers =
        explanation.headers().iter().find(|(n, _)| n == "access-control-allow-headers");
    assert_eq!(allow_headers.map(|(_, v)| v.as_bytes()), Some(&b"x-a, x-b"[..]));
}

/// The public preflight's `Access-Control-Allow-Methods` (P5) for the request `map`: whether it
/// is the request's own value, and the value built.
fn mirrored_method(map: &HeaderMap) -> (bool, HeaderValue) {
    let decision = engine(PUBLIC).decide(&Request::new(b"OPTIONS", map));
    let Decision::Preflight { accepted: true, headers, .. } = decision else {
        panic!("not accepted: {decision:?}");
    };
    let value = headers.allow_methods().expect("P5 mirrors the method");
    (matches!(value, Value::Request(_)), value.to_header_value())
}

#[rstest]
#[case::p5_trimmed_line_is_the_request_value("PATCH", true)]
#[case::p5_untrimmed_line_is_built_from_the_trimmed_bytes("\tPATCH ", false)]
fn p5_method_mirror_reuses_the_request_value_only_when_already_trimmed(
    #[case] acrm: &'static str,
    #[case] reused: bool,
) {
    let mut map = HeaderMap::new();
    map.append("origin", HeaderValue::from_static("https://a.example"));
    map.append("access-control-request-method", HeaderValue::from_static(acrm));
    let (is_request_value, value) = mirrored_method(&map);
    assert_eq!(value, "PATCH");
    assert_eq!(is_request_value, reused);
    let original = map.get("access-control-request-method").expect("one line");
    assert_eq!(value.as_bytes().as_ptr() == original.as_bytes().as_ptr(), reused, "bytes shared");
}

/// O1, O2: an origin equal to a configured exact origin is echoed as the policy's own value, so
/// that the answer shares nothing with the request (an adapter's read buffer is then free once
/// the request is dropped); one matched by a subdomain pattern (M5) is the request's own value.
#[rstest]
#[case::o2_exact_origin_is_the_policys_value(CREDENTIALS, "https://app.example.test", false)]
#[case::o1_subdomain_origin_is_the_requests_value(SUBDOMAINS, "https://a.example.test", true)]
fn an_echoed_origin_is_the_request_value_only_without_an_exact_match(
    #[case] profile: &'static str,
    #[case] origin: &'static str,
    #[case] shared: bool,
) {
    let mut map = HeaderMap::new();
    map.append("origin", HeaderValue::from_static(origin));
    let decision = engine(profile).decide(&Request::new(b"GET", &map));
    let Decision::Allowed { headers, .. } = decision else {
        panic!("not allowed: {decision:?}");
    };
    let value = headers.allow_origin().expect("O1, O2 echo the origin");
    assert_eq!(matches!(value, Value::Request(_)), shared);
    let built = value.to_header_value();
    assert_eq!(built, origin);
    let original = map.get("origin").expect("one line");
    assert_eq!(built.as_bytes().as_ptr() == original.as_bytes().as_ptr(), shared, "bytes shared");
}

/// Headers breaking [`RequestHeaders`]'s contract: `Access-Control-Request-Headers` reads as
/// `before` until `changed` is set, then as `after`.
struct Unstable {
    before: &'static [&'static str],
    after: &'static [&'static str],
    changed: std::cell::Cell<bool>,
}

impl RequestHeaders for Unstable {
    type Value = str;

    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a str> + 'a {
        let lines: &[&str] = match name {
            "origin" => &["https://app.example.test"],
            "access-control-request-method" => &["PUT"],
            ACRH if self.changed.get() => self.after,
            ACRH => self.before,
            _ => &[],
        };
        lines.iter().copied()
    }
}

/// P4, P5: lines that change between the decision and the answer (a custom adapter's bug) never
/// make `Decision::apply` panic nor write an invalid value: the mirrored value is built from the
/// lines as they are then, keeping only the names that are tokens when another byte would make
/// it invalid. `apply` panicked on `invariant: mirrored names are tokens` before.
#[rstest]
#[case::p4_canonical_line_gains_a_control_character(&["x-a, x-b"], &["x-a, x-b\u{1}"], "x-a")]
#[case::p4_lines_gain_a_control_character(&["x-a", "x-b"], &["x-a", "x-\u{7f}c, x-d"], "x-a, x-d")]
#[case::p4_every_name_invalid(&["x-a"], &["x-a\n"], "")]
#[case::p4_other_tokens_are_written_as_read(&["x-a, x-b"], &["x-c"], "x-c")]
fn lines_changed_after_the_decision_are_written_without_a_panic(
    #[case] before: &'static [&'static str],
    #[case] after: &'static [&'static str],
    #[case] expected: &str,
) {
    for profile in [ANY_HEADERS, PUBLIC] {
        let headers = Unstable { before, after, changed: std::cell::Cell::new(false) };
        let engine = engine(profile);
        let decision = engine.decide(&Request::new(b"OPTIONS", &headers));
        assert_eq!(decision.outcome(), Outcome::PreflightAccepted, "{profile}");
        headers.changed.set(true);
        let mut response = HeaderMap::new();
        decision.apply(&mut response);
        assert_eq!(response["access-control-allow-headers"], expected, "{profile}: apply");
        let mut owned = HeaderMap::new();
        decision.into_owned().apply(&mut owned);
        assert_eq!(owned["access-control-allow-headers"], expected, "{profile}: into_owned");
    }
}
