//! Origin patterns and sets: parsing (C4), single-pattern matching (M1, M4, M5) and
//! [`OriginSet::find`] precedence (M3, M4).

use cors_origin::{MatchKind, OriginPattern, OriginSet, ParseErrorKind, RequestOrigin};
use rstest::rstest;

use ParseErrorKind as K;

#[track_caller]
fn check_parse(input: &str, expected: Result<&str, ParseErrorKind>) {
    match (OriginPattern::parse(input), expected) {
        (Ok(pattern), Ok(display)) => {
            assert_eq!(pattern.to_string(), display);
            // Display is canonical: it parses back to the same pattern.
            assert_eq!(OriginPattern::parse(display).as_ref(), Ok(&pattern));
        }
        (Err(error), Err(kind)) => {
            assert_eq!(error.kind(), kind, "{error}");
            assert!(error.to_string().starts_with("invalid origin pattern "), "{error}");
        }
        (got, _) => panic!("input {input:?}: expected {expected:?}, got {got:?}"),
    }
}

#[rstest]
#[case::any("*", Ok("*"))]
#[case::null("null", Ok("null"))]
#[case::exact("https://app.example", Ok("https://app.example"))]
#[case::exact_is_canonicalized("HTTPS://App.Example:443/", Ok("https://app.example"))]
#[case::subdomains("https://*.example.com", Ok("https://*.example.com"))]
#[case::subdomains_canonicalized("HTTPS://*.Example.COM:443", Ok("https://*.example.com"))]
#[case::subdomains_with_port("http://*.example.com:8080", Ok("http://*.example.com:8080"))]
#[case::subdomains_idna("https://*.bücher.example", Ok("https://*.xn--bcher-kva.example"))]
#[case::subdomains_trailing_slash("https://*.example.com/", Ok("https://*.example.com"))]
#[case::subdomains_single_label_domain("https://*.localhost", Ok("https://*.localhost"))]
#[case::null_capitalized("Null", Err(K::NullNotLowercase))]
#[case::null_uppercase("NULL", Err(K::NullNotLowercase))]
#[case::null_with_space("null ", Err(K::Whitespace))]
#[case::missing_scheme("*.example.com", Err(K::MissingScheme))]
#[case::star_glued_to_label("https://*example.com", Err(K::InvalidWildcard))]
#[case::star_in_middle_label("https://a.*.example.com", Err(K::InvalidWildcard))]
#[case::star_in_second_label("https://*.*.example.com", Err(K::InvalidWildcard))]
#[case::double_star("https://**.example.com", Err(K::InvalidWildcard))]
#[case::star_alone("https://*", Err(K::InvalidWildcard))]
#[case::star_dot_nothing("https://*.", Err(K::EmptyHost))]
#[case::star_in_port("https://a.example:*", Err(K::InvalidPort))]
#[case::wildcard_on_ipv4("https://*.127.0.0.1", Err(K::WildcardOnIpAddress))]
#[case::wildcard_on_ipv4_short_form("https://*.0x7f.1", Err(K::WildcardOnIpAddress))]
#[case::wildcard_on_ipv6("https://*.[::1]", Err(K::WildcardOnIpAddress))]
// A non-special scheme's host is opaque: numbers are labels, not an IPv4 address.
#[case::custom_scheme_numbers_are_labels("x-app://*.1.2", Ok("x-app://*.1.2"))]
#[case::custom_scheme_keeps_case("X-App://*.Example", Ok("x-app://*.Example"))]
#[case::wildcard_with_path("https://*.example.com/x", Err(K::Path))]
#[case::wildcard_with_userinfo("https://u@*.example.com", Err(K::Userinfo))]
#[case::wildcard_with_trailing_dot("https://*.example.com.", Err(K::EmptyLabel))]
fn pattern_parse(#[case] input: &str, #[case] expected: Result<&str, ParseErrorKind>) {
    check_parse(input, expected);
}

#[track_caller]
fn check_matches(pattern: &str, origin: &str, expected: bool) {
    let pattern = OriginPattern::parse(pattern).expect("valid pattern");
    let origin = RequestOrigin::parse(origin.as_bytes()).expect("canonical origin");
    assert_eq!(pattern.matches(&origin), expected, "{pattern} vs {origin}");
    // The set agrees with the single pattern.
    let set = OriginSet::new([pattern]);
    assert_eq!(set.find(&origin).is_some(), expected, "set of one");
}

#[rstest]
// M5: whole labels, never the domain itself, same scheme and port.
#[case::one_label_in_front("https://*.example.com", "https://a.example.com", true)]
#[case::two_labels_in_front("https://*.example.com", "https://a.b.example.com", true)]
#[case::underscore_label("https://*.example.com", "https://_a.example.com", true)]
#[case::never_the_domain_itself("https://*.example.com", "https://example.com", false)]
#[case::not_a_label_suffix("https://*.example.com", "https://evilexample.com", false)]
#[case::domain_in_the_middle("https://*.example.com", "https://a.example.com.evil.net", false)]
#[case::other_scheme("https://*.example.com", "http://a.example.com", false)]
#[case::non_default_port("https://*.example.com", "https://a.example.com:8443", false)]
#[case::hyphen_not_dot("https://*.example.com", "https://a-example.com", false)]
#[case::null_is_not_a_subdomain("https://*.example.com", "null", false)]
#[case::pattern_port_matches("http://*.example.com:8080", "http://a.example.com:8080", true)]
#[case::pattern_port_needs_port("http://*.example.com:8080", "http://a.example.com", false)]
#[case::pattern_port_other_port("http://*.example.com:8080", "http://a.example.com:8081", false)]
#[case::punycode_subdomain("https://*.bücher.example", "https://a.xn--bcher-kva.example", true)]
#[case::custom_scheme_numbers("x-app://*.1.2", "x-app://0x7f.1.2", true)]
#[case::custom_scheme_case_is_exact("x-app://*.Example", "x-app://a.Example", true)]
#[case::custom_scheme_other_case("x-app://*.Example", "x-app://a.example", false)]
// M1: exact means byte-equal.
#[case::exact_equal("https://foo.com", "https://foo.com", true)]
#[case::exact_prefix_trap("https://foo.com", "https://barfoo.com", false)]
#[case::exact_suffix_trap("https://foo.com", "https://foobar.com", false)]
#[case::exact_other_port("https://foo.com", "https://foo.com:8443", false)]
#[case::exact_subdomain("https://foo.com", "https://a.foo.com", false)]
// M4: null only for null (and `*`).
#[case::null_matches_null("null", "null", true)]
#[case::null_does_not_match_tuple("null", "https://foo.com", false)]
#[case::any_matches_null("*", "null", true)]
#[case::any_matches_tuple("*", "https://foo.com", true)]
#[case::exact_does_not_match_null("https://foo.com", "null", false)]
fn pattern_matches(#[case] pattern: &str, #[case] origin: &str, #[case] expected: bool) {
    check_matches(pattern, origin, expected);
}

#[track_caller]
fn check_find(patterns: &[&str], origin: &str, expected: Option<(usize, MatchKind)>) {
    let set: OriginSet =
        patterns.iter().map(|p| OriginPattern::parse(p).expect("valid pattern")).collect();
    let origin = RequestOrigin::parse(origin.as_bytes()).expect("canonical origin");
    let found = set.find(&origin).map(|m| (m.index(), m.kind()));
    assert_eq!(found, expected, "{patterns:?} vs {origin}");
}

#[rstest]
#[case::empty_set(&[], "https://a.example", None)]
#[case::exact_beats_subdomain_and_any(&["*", "https://*.example.com", "https://a.example.com"], "https://a.example.com", Some((2, MatchKind::Exact)))]
#[case::subdomain_beats_any(&["*", "https://*.example.com"], "https://a.example.com", Some((1, MatchKind::Subdomain)))]
#[case::any_when_nothing_else(&["https://*.example.com", "*"], "https://a.other.com", Some((1, MatchKind::Any)))]
#[case::lowest_any(&["*", "*"], "https://a.example", Some((0, MatchKind::Any)))]
#[case::duplicate_exact_lowest_index(&["https://a.example", "https://A.example:443"], "https://a.example", Some((0, MatchKind::Exact)))]
#[case::longest_domain_wins(&["https://*.example.com", "https://*.b.example.com"], "https://a.b.example.com", Some((1, MatchKind::Subdomain)))]
#[case::longest_domain_wins_any_order(&["https://*.b.example.com", "https://*.example.com"], "https://a.b.example.com", Some((0, MatchKind::Subdomain)))]
#[case::duplicate_subdomain_lowest_index(&["https://*.example.com", "https://*.example.com"], "https://a.example.com", Some((0, MatchKind::Subdomain)))]
#[case::subdomain_port_selects(&["https://*.example.com", "https://*.example.com:8443"], "https://a.example.com:8443", Some((1, MatchKind::Subdomain)))]
#[case::subdomain_scheme_selects(&["http://*.example.com", "https://*.example.com"], "https://a.example.com", Some((1, MatchKind::Subdomain)))]
#[case::deeper_pattern_than_host(&["https://*.a.b.c.example.com"], "https://x.example.com", None)]
#[case::null_pattern_for_null(&["*", "null"], "null", Some((1, MatchKind::Null)))]
#[case::any_for_null_without_null_pattern(&["https://a.example", "*"], "null", Some((1, MatchKind::Any)))]
#[case::null_matches_nothing_else(&["https://a.example", "https://*.example.com"], "null", None)]
#[case::null_pattern_not_for_tuples(&["null"], "https://a.example", None)]
#[case::suffix_trap_barfoo(&["https://foo.com", "https://bar.com"], "https://barfoo.com", None)]
#[case::suffix_trap_foobar(&["https://foo.com", "https://bar.com"], "https://foobar.com", None)]
#[case::subdomain_trap_bare_domain(&["https://*.example.com"], "https://example.com", None)]
#[case::subdomain_trap_glued(&["https://*.example.com"], "https://evilexample.com", None)]
#[case::subdomain_trap_embedded(&["https://*.example.com"], "https://a.example.com.evil.net", None)]
#[case::subdomain_trap_scheme(&["https://*.example.com"], "http://a.example.com", None)]
#[case::ipv6_origin_with_subdomains(&["https://*.example.com"], "https://[::1]", None)]
fn set_find(
    #[case] patterns: &[&str],
    #[case] origin: &str,
    #[case] expected: Option<(usize, MatchKind)>,
) {
    check_find(patterns, origin, expected);
}

#[test]
fn subdomain_pattern_accessors() {
    let OriginPattern::Subdomains(pattern) =
        OriginPattern::parse("HTTP://*.A.Example:8080").expect("valid")
    else {
        panic!("a subdomain pattern");
    };
    assert_eq!(
        (pattern.scheme(), pattern.domain(), pattern.port()),
        ("http", "a.example", Some(8080))
    );
    assert_eq!(pattern.domain_labels(), 2);
    assert_eq!(format!("{pattern:?}"), "SubdomainPattern(http://*.a.example:8080)");
}

/// A subdomain pattern on an IP address is refused at its domain, the byte after `*.`.
#[rstest]
#[case::ipv4("https://*.127.0.0.1", 10)]
#[case::ipv6("http://*.[::1]", 9)]
fn wildcard_on_an_ip_address_points_at_the_address(#[case] input: &str, #[case] offset: usize) {
    let error = OriginPattern::parse(input).expect_err("refused");
    assert_eq!((error.kind(), error.offset()), (ParseErrorKind::WildcardOnIpAddress, offset));
}

#[test]
fn set_keeps_patterns_in_order() {
    let patterns: Vec<OriginPattern> =
        ["null", "*", "https://a.example"].iter().map(|p| p.parse().expect("valid")).collect();
    let set = OriginSet::new(patterns.clone());
    assert_eq!(set.patterns(), &patterns[..]);
    assert_eq!(set.len(), 3);
    assert!(!set.is_empty());
    assert_eq!(
        format!("{set:?}"),
        "OriginSet { patterns: [Null, Any, Exact(Origin(\"https://a.example\"))], .. }"
    );
    let empty = OriginSet::default();
    assert_eq!((empty.len(), empty.is_empty()), (0, true));
}
