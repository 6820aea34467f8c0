//! P4, P5: building the mirrored `Access-Control-Allow-Headers` from each kind of header source;
//! O1, O2: when an echoed origin is the request's own value.

mod common;

use common::{ANY_HEADERS, CREDENTIALS, PUBLIC, PUBLIC_CREDENTIALS, SUBDOMAINS, engine};
use cors_engine::{Decision, FieldValue, Outcome, Request, RequestHeaders, Value};
use http::header::InvalidHeaderValue;
use http::{HeaderMap, HeaderValue};
use rstest::rstest;

const ACRH: &str = "access-control-request-headers";
const ORIGIN: &str = "origin";
const ACRM: &str = "access-control-request-method";

fn preflight_lines<'a>(acrh: &[&'a str]) -> Vec<(&'static str, &'a str)> {
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
#[case::p4_bare_commas_spaced(ANY_HEADERS, &["content-type,x-token"], Some("content-type, x-token"))]
#[case::p4_bare_commas_across_words(
    ANY_HEADERS,
    &["x-requested-with,content-type,x-a"],
    Some("x-requested-with, content-type, x-a")
)]
#[case::p4_bare_commas_at_word_ends(ANY_HEADERS, &["abcdefg,abcdefgh,x"], Some("abcdefg, abcdefgh, x"))]
#[case::p4_bare_commas_in_one_word(ANY_HEADERS, &["a,b,c,d,e,f,g,h,i"], Some("a, b, c, d, e, f, g, h, i"))]
#[case::p4_bare_commas_space_at_the_end(ANY_HEADERS, &["x-requested-with,x-a "], Some("x-requested-with, x-a"))]
#[case::p4_bare_commas_empty_element(ANY_HEADERS, &["x-a,,x-b"], Some("x-a, x-b"))]
#[case::p4_bare_commas_leading_comma(ANY_HEADERS, &[",x-a,x-b"], Some("x-a, x-b"))]
#[case::p4_bare_commas_trailing_comma(ANY_HEADERS, &["x-a,x-b,"], Some("x-a, x-b"))]
#[case::p4_bare_commas_space_before(ANY_HEADERS, &["x-a ,x-b"], Some("x-a, x-b"))]
#[case::p4_bare_commas_tab_after(ANY_HEADERS, &["x-a,\tx-b"], Some("x-a, x-b"))]
#[case::p4_bare_commas_tab_before_every_name(ANY_HEADERS, &["\tx-a,\tx-b"], Some("x-a, x-b"))]
#[case::p4_bare_commas_tab_after_every_name(ANY_HEADERS, &["x-a\t,x-b\t"], Some("x-a, x-b"))]
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

proptest::proptest! {
    /// P4, P5: a single line of names, whatever separates them (bare commas as browsers send
    /// them, `, `, whitespace around a comma, empty elements, a comma at either end), is mirrored
    /// as its names joined with `, `, from a `HeaderMap` and from `str` pairs alike.
    #[test]
    fn p4_one_line_is_mirrored_as_its_names_joined(
        parts in proptest::collection::vec(
            (
                proptest::sample::select(
                    &["x-a", "Content-Type", "x-token", "a", "abcdefg", "x-requested-with"][..],
                ),
                proptest::sample::select(&[",", ", ", ",,", " ,", ",\t", " , "][..]),
            ),
            1..6,
        ),
        lead in proptest::sample::select(&["", ",", " ", ", "][..]),
        trail in proptest::sample::select(&["", ",", " ", " ,"][..]),
    ) {
        let mut line = String::from(lead);
        for (i, (name, separator)) in parts.iter().enumerate() {
            if i > 0 {
                line.push_str(separator);
            }
            line.push_str(name);
        }
        line.push_str(trail);
        let expected = parts.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
        let mut lines = preflight_lines(&[]);
        lines.push((ACRH, &line));
        for profile in [ANY_HEADERS, PUBLIC] {
            let strs: &[(&str, &str)] = &lines;
            let from_strs = mirrored(profile, strs).expect("names to mirror");
            proptest::prop_assert_eq!(from_strs.as_bytes(), expected.as_bytes(), "{:?}", line);
            let mut map = HeaderMap::new();
            for (n, v) in &lines {
                map.append(*n, HeaderValue::from_str(v).expect("visible ASCII"));
            }
            let from_map = mirrored(profile, &map).expect("names to mirror");
            proptest::prop_assert_eq!(from_map.as_bytes(), expected.as_bytes(), "{:?}", line);
        }
    }
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
    let built = value.to_header_value();
    assert!(value.eq_bytes(built.as_bytes()) && !value.eq_bytes(b"PUT"), "{value:?}");
    (matches!(value, Value::Request(_)), built)
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

/// A field value breaking [`FieldValue`]'s contract: `to_header_value` fails (when `refuses`)
/// on bytes the engine validated, and `as_ref` yields `after` once `changed` is set.
struct Fickle {
    before: &'static str,
    after: &'static str,
    refuses: bool,
    changed: std::cell::Cell<bool>,
}

impl AsRef<[u8]> for Fickle {
    fn as_ref(&self) -> &[u8] {
        if self.changed.get() { self.after } else { self.before }.as_bytes()
    }
}

impl FieldValue for Fickle {
    fn to_header_value(&self) -> Result<HeaderValue, InvalidHeaderValue> {
        if self.refuses {
            HeaderValue::from_bytes(b"\0")
        } else {
            HeaderValue::from_bytes(self.as_ref())
        }
    }
}

/// Request headers of [`Fickle`] values, by name.
struct FickleHeaders(Vec<(&'static str, Fickle)>);

impl RequestHeaders for FickleHeaders {
    type Value = Fickle;

    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a Fickle> + 'a {
        self.0.iter().filter(move |(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// O1, O2, P5: a request's own value sent back (an origin a subdomain pattern or a public
/// resource with credentials echoes, a public preflight's method) whose [`FieldValue`] breaks its
/// contract never makes `Decision::apply` panic nor write an invalid value: a value that
/// `to_header_value` refuses is copied from its bytes, and one whose bytes turned invalid after
/// the decision is left out. `apply` panicked on `invariant: the engine reflects only canonical
/// origins and method tokens` before.
#[rstest]
#[case::o1_refused_origin_is_copied(SUBDOMAINS, ORIGIN, "https://a.example.test", true, true)]
#[case::o1_origin_turned_invalid_is_left_out(
    SUBDOMAINS,
    ORIGIN,
    "https://a.example.test\n",
    true,
    false
)]
#[case::o2_refused_origin_is_copied(
    PUBLIC_CREDENTIALS,
    ORIGIN,
    "https://app.example.test",
    true,
    true
)]
#[case::o2_origin_turned_invalid_is_left_out(
    PUBLIC_CREDENTIALS,
    ORIGIN,
    "https://app.example.test\u{1}",
    false,
    false
)]
#[case::p5_refused_method_is_copied(PUBLIC, ACRM, "PATCH", true, true)]
#[case::p5_method_turned_invalid_is_left_out(PUBLIC, ACRM, "PATCH\u{7f}", true, false)]
fn a_request_value_breaking_its_contract_is_copied_or_left_out(
    #[case] profile: &'static str,
    #[case] field: &'static str,
    #[case] after: &'static str,
    #[case] refuses: bool,
    #[case] written: bool,
) {
    // The value as decided on: `after` without the byte that makes it invalid; the other field
    // is stable.
    let before = after.trim_end_matches(|c: char| c.is_ascii_control());
    let line = |name: &'static str, stable: &'static str| {
        let (before, after) = if name == field { (before, after) } else { (stable, stable) };
        (name, Fickle { before, after, refuses, changed: std::cell::Cell::new(false) })
    };
    let headers =
        FickleHeaders(vec![line(ORIGIN, "https://app.example.test"), line(ACRM, "PATCH")]);
    let (method, outcome, granted): (&[u8], _, _) = if field == ORIGIN {
        (b"GET", Outcome::Allowed, "access-control-allow-origin")
    } else {
        (b"OPTIONS", Outcome::PreflightAccepted, "access-control-allow-methods")
    };
    let engine = engine(profile);
    let request = Request::new(method, &headers);
    let explanation = engine.explain(&request);
    let explained = explanation.headers().iter().find(|(name, _)| name == granted);
    assert_eq!(explained.map(|(_, value)| value.as_bytes()), Some(before.as_bytes()), "explain");

    let decision = engine.decide(&request);
    assert_eq!(decision.outcome(), outcome);
    for (_, value) in &headers.0 {
        value.changed.set(true);
    }
    let expected = written.then_some(before.as_bytes());
    let sent = decision.headers().and_then(|h| h.iter().find(|(name, _)| name == granted));
    let built = sent.map(|(_, value)| value.to_header_value());
    assert_eq!(built.as_ref().map(HeaderValue::as_bytes), Some(expected.unwrap_or_default()));
    let mut response = HeaderMap::new();
    decision.apply(&mut response);
    assert_eq!(response.get(granted).map(HeaderValue::as_bytes), expected, "apply");
    let mut owned = HeaderMap::new();
    decision.into_owned().apply(&mut owned);
    assert_eq!(owned.get(granted).map(HeaderValue::as_bytes), expected, "into_owned");
}
