//! Request-time parsing: [`RequestOrigin::parse`] accepts `null` and canonical serializations
//! only, and [`OriginRef::is_same_origin_as`] and [`is_same_origin_value`] implement R2
//! (behaviour rules M1, R2, R5).

use cors_origin::{HeaderError, MAX_ORIGIN_LEN, Origin, RequestOrigin, is_same_origin_value};
use rstest::rstest;

use HeaderError as E;

/// The start of a long input, for failure messages.
fn short(input: &[u8]) -> String {
    String::from_utf8_lossy(input).chars().take(80).collect()
}

#[track_caller]
fn check(input: &[u8], expected: Result<(), HeaderError>) {
    let shown = short(input);
    match (RequestOrigin::parse(input), expected) {
        (Ok(origin), Ok(())) => {
            assert_eq!(origin.as_bytes(), input, "input {shown:?}");
            assert_eq!(origin.to_string().as_bytes(), input, "input {shown:?}");
            // Accepted means canonical: the configuration-time parser agrees byte for byte.
            if let RequestOrigin::Tuple(tuple) = origin {
                assert_eq!(origin.tuple(), Some(tuple));
                let text = core::str::from_utf8(input).expect("accepted input is ASCII");
                let config = Origin::parse(text).expect("accepted input parses as configuration");
                assert_eq!(config.as_str(), text);
                assert_eq!(config, tuple);
            } else {
                assert_eq!(origin.tuple(), None);
            }
        }
        (Err(error), Err(kind)) => assert_eq!(error, kind, "input {shown:?}"),
        (got, _) => panic!("input {shown:?}: expected {expected:?}, got {got:?}"),
    }
}

#[rstest]
// Accepted: exactly what browsers send.
#[case::null_exact(b"null", Ok(()))]
#[case::https(b"https://app.example", Ok(()))]
#[case::http_with_port(b"http://app.example:8080", Ok(()))]
#[case::ipv4_dotted(b"http://127.0.0.1:8080", Ok(()))]
#[case::ipv6_compressed(b"https://[::1]", Ok(()))]
#[case::ipv6_full_width_pieces(b"https://[2001:db8:1:2:3:4:5:6]", Ok(()))]
#[case::ipv6_ipv4_mapped_in_hex(b"https://[::ffff:7f00:1]", Ok(()))]
#[case::ipv6_with_port(b"https://[::1]:8443", Ok(()))]
#[case::punycode(b"https://xn--bcher-kva.example", Ok(()))]
#[case::chrome_extension(b"chrome-extension://abcdefghijklmnop", Ok(()))]
#[case::moz_extension(b"moz-extension://0b8c3a4e-5f1d-4c2b-9a7e-1d2c3b4a5f6e", Ok(()))]
// A non-special scheme's host is opaque, as written (each was refused before).
#[case::safari_extension_upper_case_uuid(
    b"safari-web-extension://140BB581-A2C0-422A-9DD3-6982A5ABEE5E",
    Ok(())
)]
#[case::custom_scheme_hex_number(b"x-app://0x7f.1", Ok(()))]
#[case::custom_scheme_three_numbers(b"x-app://1.2.3", Ok(()))]
#[case::custom_scheme_ace_label(b"x-app://xn--a", Ok(()))]
#[case::custom_scheme_upper_case_scheme(b"X-App://a", Err(E::Uppercase))]
#[case::custom_scheme_percent(b"x-app://a%41", Err(E::InvalidHost))]
#[case::underscore(b"https://my_host.example", Ok(()))]
#[case::port_0(b"https://a.example:0", Ok(()))]
#[case::port_65535(b"https://a.example:65535", Ok(()))]
#[case::port_80_on_https(b"https://a.example:80", Ok(()))]
// Null spellings (M4: `null` is exact).
#[case::null_capitalized(b"Null", Err(E::Uppercase))]
#[case::null_uppercase(b"NULL", Err(E::Uppercase))]
#[case::null_trailing_space(b"null ", Err(E::Whitespace))]
#[case::null_leading_space(b" null", Err(E::Whitespace))]
#[case::null_truncated(b"nul", Err(E::Malformed))]
// Case (M1).
#[case::uppercase_scheme(b"HTTPS://app.example", Err(E::Uppercase))]
#[case::uppercase_host(b"https://App.example", Err(E::Uppercase))]
#[case::uppercase_punycode_prefix(b"https://XN--bcher-kva.example", Err(E::Uppercase))]
// Ports.
#[case::default_port_https(b"https://app.example:443", Err(E::DefaultPort))]
#[case::default_port_http(b"http://app.example:80", Err(E::DefaultPort))]
#[case::default_port_wss(b"wss://app.example:443", Err(E::DefaultPort))]
#[case::default_port_ipv6(b"https://[::1]:443", Err(E::DefaultPort))]
#[case::port_leading_zero(b"https://app.example:080", Err(E::NonCanonicalPort))]
#[case::port_leading_zero_default(b"https://app.example:0443", Err(E::NonCanonicalPort))]
#[case::port_65536(b"https://app.example:65536", Err(E::InvalidPort))]
#[case::port_empty(b"https://app.example:", Err(E::InvalidPort))]
#[case::port_six_digits(b"https://app.example:000080", Err(E::InvalidPort))]
#[case::port_sign(b"https://app.example:+80", Err(E::InvalidPort))]
// After the authority.
#[case::trailing_slash(b"https://app.example/", Err(E::TrailingSlash))]
#[case::path(b"https://app.example/x", Err(E::Path))]
#[case::query(b"https://app.example?x", Err(E::Path))]
#[case::fragment(b"https://app.example#x", Err(E::Path))]
#[case::backslash(b"https://app.example\\", Err(E::Path))]
#[case::userinfo(b"https://user@app.example", Err(E::Userinfo))]
// IPv4 forms browsers never send (M1).
#[case::ipv4_hex_short(b"http://0x7f.1", Err(E::NonCanonicalHost))]
#[case::ipv4_integer(b"http://2130706433", Err(E::NonCanonicalHost))]
#[case::ipv4_two_parts(b"http://127.1", Err(E::NonCanonicalHost))]
#[case::ipv4_leading_zero(b"http://127.000.0.1", Err(E::NonCanonicalHost))]
#[case::ipv4_out_of_range(b"http://256.0.0.1", Err(E::NonCanonicalHost))]
// IPv6 forms browsers never send.
#[case::ipv6_uncompressed(b"https://[0:0:0:0:0:0:0:1]", Err(E::NonCanonicalHost))]
#[case::ipv6_leading_zeros(b"https://[0000::1]", Err(E::NonCanonicalHost))]
#[case::ipv6_uppercase_hex(b"https://[::FFFF:7f00:1]", Err(E::NonCanonicalHost))]
#[case::ipv6_embedded_ipv4(b"https://[::ffff:127.0.0.1]", Err(E::NonCanonicalHost))]
#[case::ipv6_second_run_compressed(b"https://[1:0:0:2::3:4]", Err(E::NonCanonicalHost))]
#[case::ipv6_single_zero_compressed(b"https://[1::2:3:4:5:6:7]", Err(E::NonCanonicalHost))]
#[case::ipv6_zone_id(b"https://[fe80::1%25eth0]", Err(E::InvalidHost))]
#[case::ipv6_unclosed(b"https://[::1", Err(E::InvalidHost))]
#[case::ipv6_junk_after_bracket(b"https://[::1]x", Err(E::InvalidHost))]
#[case::ipv6_unbracketed(b"https://::1", Err(E::EmptyHost))]
// Host alphabet and labels.
#[case::non_ascii_host("https://bücher.example".as_bytes(), Err(E::NotAscii))]
#[case::invalid_utf8(b"https://\xff.example", Err(E::NotAscii))]
#[case::trailing_dot(b"https://app.example.", Err(E::InvalidHost))]
#[case::empty_label(b"https://app..example", Err(E::InvalidHost))]
#[case::percent_encoded(b"https://app%2eexample", Err(E::InvalidHost))]
#[case::comma_in_host(b"https://a.example,b.example", Err(E::InvalidHost))]
#[case::invalid_punycode(b"https://xn--a-.example", Err(E::InvalidHost))]
#[case::punycode_of_uppercase(b"https://xn--BCHER-kva.example", Err(E::Uppercase))]
#[case::label_of_64(format!("https://{}.example", "a".repeat(64)).leak().as_bytes(), Err(E::LabelTooLong))]
#[case::idn_with_9_labels(b"https://a.b.c.d.e.f.g.xn--bcher-kva.example", Err(E::TooManyIdnLabels))]
#[case::empty_host(b"https://", Err(E::EmptyHost))]
#[case::empty_host_with_port(b"https://:8080", Err(E::EmptyHost))]
// Shapes that are not one origin (R5).
#[case::empty(b"", Err(E::Empty))]
#[case::space_separated_list(b"https://a.example https://b.example", Err(E::Whitespace))]
#[case::comma_separated_list(b"https://a.example,https://b.example", Err(E::Path))]
#[case::tab(b"https://a.example\t", Err(E::Whitespace))]
#[case::crlf(b"https://a.example\r\n", Err(E::Whitespace))]
#[case::nul(b"https://a.example\0", Err(E::Whitespace))]
#[case::missing_scheme(b"app.example", Err(E::Malformed))]
#[case::missing_slashes(b"https:app.example", Err(E::Malformed))]
#[case::empty_scheme(b"://app.example", Err(E::Malformed))]
#[case::file_scheme(b"file:///etc/passwd", Err(E::UnsupportedScheme))]
#[case::data_scheme(b"data:text/plain,x", Err(E::UnsupportedScheme))]
#[case::value_of_10_kib(format!("https://{}", "a".repeat(10 * 1024)).leak().as_bytes(), Err(E::TooLong))]
#[case::at_the_cap(format!("{}://a", "s".repeat(MAX_ORIGIN_LEN - 4)).leak().as_bytes(), Ok(()))]
#[case::one_byte_over_the_cap(format!("https://{}", "a".repeat(MAX_ORIGIN_LEN - 7)).leak().as_bytes(), Err(E::TooLong))]
fn request_origin(#[case] input: &[u8], #[case] expected: Result<(), HeaderError>) {
    check(input, expected);
}

#[track_caller]
fn check_parts(input: &str, scheme: &str, host: &str, port: Option<u16>) {
    let RequestOrigin::Tuple(origin) = RequestOrigin::parse(input.as_bytes()).expect("valid")
    else {
        panic!("{input:?} is a tuple origin");
    };
    assert_eq!((origin.scheme(), origin.host(), origin.port()), (scheme, host, port));
    assert_eq!((origin.as_str(), origin.to_string()), (input, input.to_owned()));
    assert_eq!(format!("{origin:?}"), format!("OriginRef({input:?})"));
}

#[rstest]
#[case::domain("https://a.example", "https", "a.example", None)]
#[case::domain_and_port("http://a.example:8080", "http", "a.example", Some(8080))]
#[case::ipv6_keeps_brackets("https://[::1]:8443", "https", "[::1]", Some(8443))]
#[case::custom_scheme("chrome-extension://abc", "chrome-extension", "abc", None)]
fn request_parts(
    #[case] input: &str,
    #[case] scheme: &str,
    #[case] host: &str,
    #[case] port: Option<u16>,
) {
    check_parts(input, scheme, host, port);
}

#[track_caller]
fn check_same_origin(origin: &str, scheme: &str, authority: &[u8], expected: bool) {
    let Ok(RequestOrigin::Tuple(origin)) = RequestOrigin::parse(origin.as_bytes()) else {
        panic!("{origin:?} is a canonical tuple origin");
    };
    assert_eq!(origin.is_same_origin_as(scheme, authority), expected);
    // One comparison: the value's bytes as sent answer as the parsed origin does.
    assert_eq!(is_same_origin_value(origin.as_bytes(), scheme, authority), expected);
}

#[rstest]
#[case::same_host("https://a.example", "https", b"a.example", true)]
#[case::host_case_is_ignored("https://a.example", "https", b"A.Example", true)]
#[case::scheme_case_is_ignored("https://a.example", "HTTPS", b"a.example", true)]
#[case::default_port_equals_absent("https://a.example", "https", b"a.example:443", true)]
#[case::explicit_port_equal("http://a.example:8080", "http", b"a.example:8080", true)]
#[case::ipv6_host("https://[::1]", "https", b"[::1]", true)]
#[case::other_scheme("https://a.example", "http", b"a.example", false)]
#[case::other_port("https://a.example", "https", b"a.example:8443", false)]
#[case::port_missing_on_host("http://a.example:8080", "http", b"a.example", false)]
#[case::default_port_is_not_another_port("http://a.example:8080", "http", b"a.example:80", false)]
#[case::other_host("https://a.example", "https", b"b.example", false)]
#[case::host_suffix("https://a.example", "https", b"xa.example", false)]
#[case::trailing_dot_host("https://a.example", "https", b"a.example.", false)]
#[case::userinfo_in_host("https://a.example", "https", b"u@a.example", false)]
#[case::empty_authority("https://a.example", "https", b"", false)]
#[case::bad_port("https://a.example", "https", b"a.example:99999", false)]
#[case::empty_port("https://a.example", "https", b"a.example:", false)]
fn same_origin(
    #[case] origin: &str,
    #[case] scheme: &str,
    #[case] authority: &[u8],
    #[case] expected: bool,
) {
    check_same_origin(origin, scheme, authority, expected);
}

/// R2 on values the request parser refuses (R5): the serialization of the origin the request was
/// addressed to, byte for byte, is the request's own origin; nothing else is.
#[rstest]
#[case::trailing_dot(b"https://api.example.", "https", b"api.example.", true)]
#[case::trailing_dot_host_case(b"https://api.example.", "https", b"API.Example.", true)]
#[case::trailing_dot_listener_scheme_case(b"https://api.example.", "HTTPS", b"api.example.", true)]
#[case::trailing_dot_default_port_in_host(
    b"https://api.example.",
    "https",
    b"api.example.:443",
    true
)]
#[case::trailing_dot_port(b"http://api.example.:8080", "http", b"api.example.:8080", true)]
#[case::label_of_64(format!("https://{}.example", "a".repeat(64)).leak().as_bytes(), "https", format!("{}.example", "a".repeat(64)).leak().as_bytes(), true)]
#[case::symbol_in_host(b"https://a!b.example", "https", b"a!b.example", true)]
#[case::port_0(b"https://api.example.:0", "https", b"api.example.:0", true)]
#[case::uppercase_scheme(b"HTTPS://api.example.", "https", b"api.example.", false)]
#[case::uppercase_host(b"https://API.example.", "https", b"API.example.", false)]
#[case::uppercase_both(b"HTTPS://API.example.", "https", b"api.example.", false)]
#[case::default_port_in_value(b"https://api.example.:443", "https", b"api.example.", false)]
#[case::default_port_in_both(b"https://api.example.:443", "https", b"api.example.:443", false)]
#[case::leading_zero_port(b"http://api.example.:08080", "http", b"api.example.:8080", false)]
#[case::other_port(b"https://api.example.:8443", "https", b"api.example.", false)]
#[case::dot_only_in_value(b"https://api.example.", "https", b"api.example", false)]
#[case::dot_only_in_host(b"https://api.example", "https", b"api.example.", false)]
#[case::other_host_with_dot(b"https://app.example.", "https", b"api.example.", false)]
#[case::other_scheme(b"http://api.example.", "https", b"api.example.", false)]
#[case::path(b"https://api.example./", "https", b"api.example./", false)]
#[case::userinfo(b"https://u@api.example.", "https", b"u@api.example.", false)]
#[case::space(b"https://api .example", "https", b"api .example", false)]
#[case::non_ascii(b"https://b\xc3\xbccher.example", "https", b"b\xc3\xbccher.example", false)]
#[case::empty_host(b"https://", "https", b"", false)]
#[case::empty_port(b"https://api.example.:", "https", b"api.example.:", false)]
#[case::unclosed_ipv6(b"https://[::1", "https", b"[::1", false)]
#[case::null(b"null", "https", b"null", false)]
// IP addresses: the URL Standard serializes an IPv4 host in dotted decimal, without a trailing
// dot, and an IPv6 one compressed; a browser sends that `Origin` and that `Host` whatever the
// address was written as, so another form is never a site's own origin (M1, R5; finding F-CO:
// each of these was same-origin, and forwarded, before).
#[case::ipv4(b"http://127.0.0.1:8080", "http", b"127.0.0.1:8080", true)]
#[case::ipv4_hex_short(b"http://0x7f.1", "http", b"0x7f.1", false)]
#[case::ipv4_short(b"http://127.1", "http", b"127.1", false)]
#[case::ipv4_integer(b"http://2130706433", "http", b"2130706433", false)]
#[case::ipv4_octal(b"http://010.0.0.1", "http", b"010.0.0.1", false)]
#[case::ipv4_trailing_dot(b"http://127.0.0.1.", "http", b"127.0.0.1.", false)]
#[case::ipv4_out_of_range(b"http://1.2.3.256", "http", b"1.2.3.256", false)]
#[case::not_an_ipv4(b"http://a.1", "http", b"a.1", false)]
#[case::ipv6(b"https://[::1]:8443", "https", b"[::1]:8443", true)]
#[case::ipv6_not_compressed(b"https://[0:0:0:0:0:0:0:1]", "https", b"[0:0:0:0:0:0:0:1]", false)]
#[case::ipv6_leading_zeros(b"https://[0::1]", "https", b"[0::1]", false)]
#[case::ipv6_dotted(b"https://[::ffff:1.2.3.4]", "https", b"[::ffff:1.2.3.4]", false)]
#[case::number_label_not_last(b"https://1.example.", "https", b"1.example.", true)]
#[case::custom_scheme_host_is_opaque(b"x-app://0x7f.1", "x-app", b"0x7f.1", true)]
// An `xn--` label must be valid IDNA, as the URL Standard's host parser checks it (F-DF): each
// refusal here was same-origin before, and `url::Url::parse` refuses every one of them.
#[case::punycode_invalid(b"http://xn--a.example", "http", b"xn--a.example", false)]
#[case::punycode_empty(b"http://xn--", "http", b"xn--", false)]
#[case::punycode_empty_label(b"https://xn--.example.", "https", b"xn--.example.", false)]
#[case::punycode_decodes_to_ascii(b"http://xn--abc-.example", "http", b"xn--abc-.example", false)]
#[case::punycode_not_nfc(b"http://xn--u-ccb.com", "http", b"xn--u-ccb.com", false)]
#[case::punycode_bidi_across_labels(b"http://1abc.xn--mgbh0fb", "http", b"1abc.xn--mgbh0fb", false)]
#[case::punycode_past_the_idna_bounds(
    b"https://xn--bcher-kva.a.b.c.d.e.f.g.h.",
    "https",
    b"xn--bcher-kva.a.b.c.d.e.f.g.h.",
    false
)]
// Plain labels before the first `xn--` one are not counted against those bounds.
#[case::punycode_after_many_plain_labels(
    b"https://a.b.c.d.e.f.g.h.xn--bcher-kva.example.",
    "https",
    b"a.b.c.d.e.f.g.h.xn--bcher-kva.example.",
    true
)]
#[case::punycode_after_plain_labels_with_digits_and_hyphens(
    b"https://a-1.b2.c.d.e.f.g.h.xn--bcher-kva.example.",
    "https",
    b"a-1.b2.c.d.e.f.g.h.xn--bcher-kva.example.",
    true
)]
#[case::punycode_bidi_after_many_plain_labels(
    b"http://a.b.c.d.e.f.g.h.1abc.xn--mgbh0fb",
    "http",
    b"a.b.c.d.e.f.g.h.1abc.xn--mgbh0fb",
    false
)]
// Valid Punycode stays the request's own origin, trailing dot and empty label included.
#[case::punycode_trailing_dot(
    b"https://xn--bcher-kva.example.",
    "https",
    b"xn--bcher-kva.example.",
    true
)]
#[case::punycode_empty_label_elsewhere(
    b"http://a..xn--bcher-kva.example",
    "http",
    b"a..xn--bcher-kva.example",
    true
)]
#[case::punycode_rtl(b"https://xn--mgbh0fb.example.", "https", b"XN--MGBH0FB.example.", true)]
#[case::custom_scheme_punycode_is_opaque(b"x-app://xn--a", "x-app", b"xn--a", true)]
#[case::at_the_cap(format!("https://{}", "a".repeat(MAX_ORIGIN_LEN - 8)).leak().as_bytes(), "https", "a".repeat(MAX_ORIGIN_LEN - 8).leak().as_bytes(), true)]
#[case::over_the_cap(format!("https://{}", "a".repeat(MAX_ORIGIN_LEN - 7)).leak().as_bytes(), "https", "a".repeat(MAX_ORIGIN_LEN - 7).leak().as_bytes(), false)]
fn same_origin_value_as_sent(
    #[case] origin: &[u8],
    #[case] scheme: &str,
    #[case] authority: &[u8],
    #[case] expected: bool,
) {
    assert_eq!(
        is_same_origin_value(origin, scheme, authority),
        expected,
        "{}",
        origin.escape_ascii()
    );
}

#[test]
fn header_errors_display_lowercase_without_period() {
    for error in
        [E::Empty, E::TooLong, E::NotAscii, E::Uppercase, E::DefaultPort, E::NonCanonicalHost]
    {
        let text = error.to_string();
        assert!(text.chars().next().is_some_and(|c| c.is_ascii_lowercase()), "{text}");
        assert!(!text.ends_with('.'), "{text}");
    }
}
