//! Configuration-time parsing: [`Origin::parse`] canonicalizes or explains (behaviour rules C3,
//! C4; RFC 6454 §6.2; URL Standard host parsing).

use std::hash::BuildHasher as _;

use cors_origin::{Origin, OriginPattern, ParseErrorKind};
use rstest::rstest;

use ParseErrorKind as K;

/// The start of a long input, for failure messages.
fn short(input: &str) -> String {
    input.chars().take(80).collect()
}

#[track_caller]
fn check(input: &str, expected: Result<&str, ParseErrorKind>) {
    let got = Origin::parse(input);
    let shown = short(input);
    match (&got, expected) {
        (Ok(origin), Ok(serialized)) => {
            assert_eq!(origin.as_str(), serialized, "input {shown:?}");
            assert_eq!(origin.to_string(), serialized);
        }
        (Err(error), Err(kind)) => {
            assert_eq!(error.kind(), kind, "input {shown:?}");
            assert_eq!(error.input(), input);
            assert!(error.offset() <= input.len(), "offset out of range for {shown:?}");
        }
        (Ok(origin), Err(kind)) => {
            panic!("input {shown:?}: expected {kind:?}, got {:?}", short(origin.as_str()))
        }
        (Err(error), Ok(_)) => panic!("input {shown:?}: expected success, got {:?}", error.kind()),
    }
}

#[rstest]
// Already canonical.
#[case::canonical_https("https://app.example", Ok("https://app.example"))]
#[case::canonical_with_port("https://app.example:8443", Ok("https://app.example:8443"))]
// Case (C4).
#[case::uppercase_scheme_and_host_are_lowered("HTTPS://App.EXAMPLE", Ok("https://app.example"))]
// A non-special scheme's host is the URL Standard's opaque host, kept as written: no lower case,
// no IPv4, no IDNA (each case was rewritten, or refused, before).
#[case::mixed_case_custom_scheme_keeps_its_host(
    "Chrome-Extension://ABC",
    Ok("chrome-extension://ABC")
)]
#[case::safari_extension_uuid_stays_upper_case(
    "safari-web-extension://140BB581-A2C0-422A-9DD3-6982A5ABEE5E",
    Ok("safari-web-extension://140BB581-A2C0-422A-9DD3-6982A5ABEE5E")
)]
#[case::custom_scheme_hex_number_is_no_ipv4("x-app://0x7f.1", Ok("x-app://0x7f.1"))]
#[case::custom_scheme_three_numbers_are_no_ipv4("x-app://1.2.3", Ok("x-app://1.2.3"))]
#[case::custom_scheme_integer_is_no_ipv4("x-app://2130706433", Ok("x-app://2130706433"))]
#[case::custom_scheme_number_past_ipv4_is_a_host("x-app://1.2.3.256", Ok("x-app://1.2.3.256"))]
#[case::custom_scheme_ace_label_is_no_idna("x-app://xn--a", Ok("x-app://xn--a"))]
#[case::custom_scheme_upper_ace_label("x-app://XN--ZCA", Ok("x-app://XN--ZCA"))]
#[case::custom_scheme_percent_is_refused("x-app://a%41", Err(K::InvalidHost))]
// Default ports (RFC 6454 §6.2: omitted when default).
#[case::default_port_https_is_elided("https://a.example:443", Ok("https://a.example"))]
#[case::default_port_http_is_elided("http://a.example:80", Ok("http://a.example"))]
#[case::default_port_ws_is_elided("ws://a.example:80", Ok("ws://a.example"))]
#[case::default_port_wss_is_elided("wss://a.example:443", Ok("wss://a.example"))]
#[case::default_port_ftp_is_elided("ftp://a.example:21", Ok("ftp://a.example"))]
#[case::port_80_on_https_is_kept("https://a.example:80", Ok("https://a.example:80"))]
#[case::custom_scheme_has_no_default_port("myapp://abc:80", Ok("myapp://abc:80"))]
// Ports.
#[case::port_0_is_kept("https://a.example:0", Ok("https://a.example:0"))]
#[case::port_65535_is_kept("https://a.example:65535", Ok("https://a.example:65535"))]
#[case::port_65536_is_refused("https://a.example:65536", Err(K::InvalidPort))]
#[case::port_080_on_http_is_default("http://a.example:080", Ok("http://a.example"))]
#[case::port_080_on_https_is_80("https://a.example:080", Ok("https://a.example:80"))]
#[case::port_0_with_more_zeros_than_a_port_has_digits(
    "http://a.example:000000",
    Ok("http://a.example:0")
)]
#[case::port_many_leading_zeros("https://a.example:0000008443", Ok("https://a.example:8443"))]
#[case::port_all_zeros_is_0("https://a.example:000", Ok("https://a.example:0"))]
#[case::empty_port_is_refused("https://a.example:", Err(K::InvalidPort))]
#[case::port_with_letter_is_refused("https://a.example:8o", Err(K::InvalidPort))]
#[case::negative_port_is_refused("https://a.example:-1", Err(K::InvalidPort))]
#[case::two_ports_are_refused("https://a.example:80:90", Err(K::InvalidPort))]
// IDNA (UTS 46 via the url crate).
#[case::idna_unicode_to_punycode("https://bücher.example", Ok("https://xn--bcher-kva.example"))]
#[case::idna_uppercase_unicode("https://BÜCHER.example", Ok("https://xn--bcher-kva.example"))]
#[case::idna_punycode_is_kept("https://xn--bcher-kva.example", Ok("https://xn--bcher-kva.example"))]
#[case::idna_uppercase_punycode_is_lowered(
    "https://XN--BCHER-KVA.example",
    Ok("https://xn--bcher-kva.example")
)]
#[case::idna_ideographic_full_stop("https://a\u{3002}example", Ok("https://a.example"))]
#[case::idna_soft_hyphen_is_ignored("https://a\u{ad}b.example", Ok("https://ab.example"))]
#[case::idna_invalid_punycode_is_refused("https://xn--a-.example", Err(K::InvalidHost))]
#[case::idna_custom_scheme_needs_ascii("chrome-extension://bücher", Err(K::InvalidHost))]
// IPv4: every WHATWG form becomes dotted decimal.
#[case::ipv4_dotted_is_kept("http://127.0.0.1:8080", Ok("http://127.0.0.1:8080"))]
#[case::ipv4_hex_and_short("http://0x7f.1", Ok("http://127.0.0.1"))]
#[case::ipv4_single_integer("http://2130706433", Ok("http://127.0.0.1"))]
#[case::ipv4_two_parts("http://127.1", Ok("http://127.0.0.1"))]
#[case::ipv4_octal("http://0177.0.0.1", Ok("http://127.0.0.1"))]
#[case::ipv4_fullwidth_digits("http://\u{ff11}\u{ff12}\u{ff17}.0.0.1", Ok("http://127.0.0.1"))]
#[case::ipv4_octet_out_of_range("http://256.0.0.1", Err(K::InvalidIpAddress))]
#[case::ipv4_five_parts("http://1.2.3.4.5", Err(K::InvalidIpAddress))]
#[case::ipv4_bad_octal_digit("http://08.0.0.1", Err(K::InvalidIpAddress))]
#[case::numeric_label_not_last_is_a_domain("http://1.2.3.a", Ok("http://1.2.3.a"))]
// IPv6: the URL Standard serializer.
#[case::ipv6_loopback("http://[::1]", Ok("http://[::1]"))]
#[case::ipv6_uncompressed("http://[0:0:0:0:0:0:0:1]", Ok("http://[::1]"))]
#[case::ipv6_uppercase_and_leading_zeros(
    "http://[2001:0DB8:0000:0000:0000:0000:0000:0001]",
    Ok("http://[2001:db8::1]")
)]
#[case::ipv6_ipv4_mapped_becomes_hex("http://[::ffff:127.0.0.1]", Ok("http://[::ffff:7f00:1]"))]
#[case::ipv6_first_longest_run_wins_tie("http://[1:0:0:2:0:0:3:4]", Ok("http://[1::2:0:0:3:4]"))]
#[case::ipv6_longer_second_run_wins("http://[1:0:0:2:0:0:0:4]", Ok("http://[1:0:0:2::4]"))]
#[case::ipv6_single_zero_is_not_compressed(
    "http://[1:0:2:3:4:5:6:7]",
    Ok("http://[1:0:2:3:4:5:6:7]")
)]
#[case::ipv6_with_port("http://[::1]:8080", Ok("http://[::1]:8080"))]
#[case::ipv6_default_port("https://[::1]:443", Ok("https://[::1]"))]
#[case::ipv6_zone_id_is_refused("http://[fe80::1%25eth0]", Err(K::ZoneId))]
#[case::ipv6_unclosed_is_refused("http://[::1", Err(K::InvalidIpAddress))]
#[case::ipv6_bad_digit_is_refused("http://[::g]", Err(K::InvalidIpAddress))]
#[case::ipv6_junk_after_bracket("http://[::1]x", Err(K::InvalidHost))]
// Userinfo, path, query, fragment (C3).
#[case::userinfo_is_refused("https://user@a.example", Err(K::Userinfo))]
#[case::userinfo_with_password_is_refused("https://user:pw@a.example", Err(K::Userinfo))]
#[case::path_is_refused("https://a.example/x", Err(K::Path))]
#[case::trailing_slash_is_tolerated("https://a.example/", Ok("https://a.example"))]
#[case::two_slashes_are_a_path("https://a.example//", Err(K::Path))]
#[case::backslash_is_a_path("https://a.example\\x", Err(K::Path))]
#[case::query_is_refused("https://a.example?x=1", Err(K::Query))]
#[case::slash_then_query_is_a_query("https://a.example/?x", Err(K::Query))]
#[case::fragment_is_refused("https://a.example#top", Err(K::Fragment))]
// Whitespace and control characters.
#[case::leading_space_is_refused(" https://a.example", Err(K::Whitespace))]
#[case::trailing_space_is_refused("https://a.example ", Err(K::Whitespace))]
#[case::trailing_newline_is_refused("https://a.example\n", Err(K::Whitespace))]
#[case::tab_is_refused("https://a.\texample", Err(K::Whitespace))]
#[case::nul_is_refused("https://a.exa\0mple", Err(K::ControlCharacter))]
#[case::space_separated_list_is_refused("https://a.example https://b.example", Err(K::Whitespace))]
#[case::comma_separated_list_is_refused("https://a.example,https://b.example", Err(K::Path))]
#[case::comma_in_host_is_refused("https://a.example,b.example", Err(K::InvalidHost))]
// Host alphabet and labels.
#[case::underscore_is_accepted("https://my_host.example", Ok("https://my_host.example"))]
#[case::underscore_uppercase_is_lowered("https://My_Host.example", Ok("https://my_host.example"))]
#[case::hyphen_edges_are_accepted("https://-a-.example", Ok("https://-a-.example"))]
#[case::trailing_dot_is_refused("https://a.example.", Err(K::EmptyLabel))]
#[case::leading_dot_is_refused("https://.a.example", Err(K::EmptyLabel))]
#[case::double_dot_is_refused("https://a..example", Err(K::EmptyLabel))]
#[case::percent_encoding_is_refused("https://a%2Eexample", Err(K::InvalidHost))]
#[case::bang_is_refused("https://a!.example", Err(K::InvalidHost))]
#[case::wildcard_in_origin_is_refused("https://*.example", Err(K::InvalidWildcard))]
#[case::empty_host_is_refused("https://", Err(K::EmptyHost))]
#[case::empty_host_with_port_is_refused("https://:8443", Err(K::EmptyHost))]
#[case::label_of_63_is_accepted(&format!("https://{}.example", "a".repeat(63)), Ok(&*format!("https://{}.example", "a".repeat(63))))]
#[case::label_of_64_is_refused(&format!("https://{}.example", "a".repeat(64)), Err(K::LabelTooLong))]
#[case::host_of_253_is_accepted(&format!("https://{}", ["a"; 127].join(".")), Ok(&*format!("https://{}", ["a"; 127].join("."))))]
#[case::host_of_255_is_refused(&format!("https://{}", vec!["a".repeat(63); 4].join(".")), Err(K::HostTooLong))]
#[case::idn_with_8_labels_is_accepted(
    "https://a.b.c.d.e.f.bücher.example",
    Ok("https://a.b.c.d.e.f.xn--bcher-kva.example")
)]
#[case::idn_with_9_labels_is_refused(
    "https://a.b.c.d.e.f.g.bücher.example",
    Err(K::TooManyIdnLabels)
)]
#[case::value_of_10_kib_is_refused(&format!("https://{}", "a".repeat(10 * 1024)), Err(K::TooLong))]
#[case::scheme_over_2048_bytes_is_refused(&format!("{}://a", "s".repeat(2048)), Err(K::TooLong))]
// Schemes.
#[case::empty_is_refused("", Err(K::Empty))]
#[case::missing_scheme_is_refused("a.example", Err(K::MissingScheme))]
#[case::host_and_port_without_scheme("localhost:8080", Err(K::MissingScheme))]
#[case::missing_slashes_is_refused("https:a.example", Err(K::MissingSlashes))]
#[case::single_slash_is_refused("https:/a.example", Err(K::MissingSlashes))]
#[case::wildcard_host_and_port_without_scheme("*.a.example:8080", Err(K::MissingScheme))]
#[case::invalid_scheme_is_refused("h%tp://a.example", Err(K::InvalidScheme))]
#[case::file_scheme_is_refused("file:///etc/passwd", Err(K::UnsupportedScheme))]
#[case::data_scheme_is_refused("data:text/plain,x", Err(K::UnsupportedScheme))]
#[case::blob_scheme_is_refused("blob:https://a.example/1", Err(K::UnsupportedScheme))]
#[case::javascript_scheme_is_refused("javascript:alert(1)", Err(K::UnsupportedScheme))]
#[case::about_scheme_is_refused("about:blank", Err(K::UnsupportedScheme))]
#[case::mailto_has_no_authority("mailto:a@b.example", Err(K::MissingSlashes))]
#[case::chrome_extension_is_a_tuple_origin("chrome-extension://abc", Ok("chrome-extension://abc"))]
#[case::null_is_not_an_origin("null", Err(K::MissingScheme))]
fn config_origin(#[case] input: &str, #[case] expected: Result<&str, ParseErrorKind>) {
    check(input, expected);
}

#[track_caller]
fn check_error(input: &str, kind: ParseErrorKind, offset: usize, display: &str) {
    let error = Origin::parse(input).expect_err("input is invalid");
    assert_eq!((error.kind(), error.offset()), (kind, offset), "{error}");
    assert_eq!(error.to_string(), display);
    // The hint is the kind's, and only there: `Display` never repeats it.
    assert_eq!(error.hint(), kind.hint());
    if let Some(hint) = error.hint() {
        assert!(!error.to_string().contains(hint), "{error}");
    }
}

#[rstest]
#[case::path_offset_and_message(
    "https://a.test/x",
    K::Path,
    14,
    "invalid origin \"https://a.test/x\": path is not allowed in an origin (byte 14)"
)]
#[case::query_offset(
    "https://a.test?q",
    K::Query,
    14,
    "invalid origin \"https://a.test?q\": query is not allowed in an origin (byte 14)"
)]
#[case::query_after_slash_offset(
    "https://a.test/?q",
    K::Query,
    15,
    "invalid origin \"https://a.test/?q\": query is not allowed in an origin (byte 15)"
)]
#[case::fragment_after_slash_offset(
    "https://a.test/#f",
    K::Fragment,
    15,
    "invalid origin \"https://a.test/#f\": fragment is not allowed in an origin (byte 15)"
)]
#[case::zone_id_offset_points_at_percent(
    "https://[fe80::1%eth0]",
    K::ZoneId,
    16,
    "invalid origin \"https://[fe80::1%eth0]\": IPv6 zone identifier is not allowed in an origin (byte 16)"
)]
#[case::port_offset_points_at_digits(
    "https://a.test:99999",
    K::InvalidPort,
    15,
    "invalid origin \"https://a.test:99999\": invalid port (byte 15)"
)]
#[case::empty_port_offset_points_at_colon(
    "https://a.test:",
    K::InvalidPort,
    14,
    "invalid origin \"https://a.test:\": invalid port (byte 14)"
)]
#[case::whitespace_offset(
    "https://a .test",
    K::Whitespace,
    9,
    "invalid origin \"https://a .test\": whitespace is not allowed in an origin (byte 9)"
)]
#[case::invalid_host_char_offset(
    "https://a.te$t",
    K::InvalidHost,
    12,
    "invalid origin \"https://a.te$t\": invalid host (byte 12)"
)]
#[case::empty_label_offset(
    "https://a..test",
    K::EmptyLabel,
    10,
    "invalid origin \"https://a..test\": empty label in host (byte 10)"
)]
#[case::host_of_255_says_the_limit(
    &format!("https://{}", vec!["a".repeat(63); 4].join(".")),
    K::HostTooLong,
    8,
    // 263 bytes: quoted cut short, with its length.
    &format!("invalid origin \"https://{}\"… (263 bytes): host is longer than 253 bytes (byte 8)", &vec!["a".repeat(63); 4].join(".")[..190])
)]
#[case::label_of_64_says_the_limit(
    &format!("https://{}.example", "a".repeat(64)),
    K::LabelTooLong,
    8,
    &format!("invalid origin \"https://{}.example\": host has a label longer than 63 bytes (byte 8)", "a".repeat(64))
)]
// 29 bytes of host: what is refused is the number of labels, not the length.
#[case::idn_with_9_labels_says_the_limit(
    "https://xn--bcher-kva.a.b.c.d.e.f.g.h",
    K::TooManyIdnLabels,
    8,
    "invalid origin \"https://xn--bcher-kva.a.b.c.d.e.f.g.h\": host has a Punycode label and more than 8 labels (byte 8)"
)]
#[case::control_character_is_escaped(
    "https://a\u{7}",
    K::ControlCharacter,
    9,
    "invalid origin \"https://a\\u{7}\": control characters are not allowed in an origin (byte 9)"
)]
fn config_error_report(
    #[case] input: &str,
    #[case] kind: ParseErrorKind,
    #[case] offset: usize,
    #[case] display: &str,
) {
    check_error(input, kind, offset, display);
}

/// The hint says how to fix what each kind refuses (cors-policy shows it as the diagnostic's
/// hint); a kind without a cheap fix has none. Each case's hint is given by a phrase of it.
#[rstest]
#[case::whitespace("https://a .test", K::Whitespace, Some("as separate entries"))]
#[case::missing_scheme("a.test", K::MissingScheme, Some("scheme://host[:port]"))]
#[case::missing_slashes("https:a.test", K::MissingSlashes, Some("scheme://host[:port]"))]
#[case::unsupported_scheme("file:///x", K::UnsupportedScheme, Some("use \"null\""))]
#[case::userinfo("https://u@a.test", K::Userinfo, Some("remove the `user@` part"))]
#[case::path("https://a.test/x", K::Path, Some("remove everything after the host"))]
#[case::query("https://a.test?q", K::Query, Some("remove everything after the host"))]
#[case::fragment("https://a.test#f", K::Fragment, Some("remove everything after the host"))]
#[case::empty_label("https://a..test", K::EmptyLabel, Some("remove the empty label"))]
#[case::zone_id("https://[fe80::1%eth0]", K::ZoneId, Some("remove the `%...` part"))]
#[case::invalid_port("https://a.test:x", K::InvalidPort, Some("from 0 to 65535"))]
#[case::invalid_wildcard("https://a.*.test", K::InvalidWildcard, Some("`*` as the whole first"))]
#[case::wildcard_on_ip("https://*.127.0.0.1", K::WildcardOnIpAddress, Some("need a domain name"))]
#[case::null_not_lowercase("NULL", K::NullNotLowercase, Some("write \"null\" in lowercase"))]
#[case::invalid_host("https://a.te$t", K::InvalidHost, Some("letters, digits, `-`, `_` and `.`"))]
#[case::too_many_idn_labels(
    "https://xn--bcher-kva.a.b.c.d.e.f.g.h",
    K::TooManyIdnLabels,
    Some("at most 8 labels")
)]
#[case::empty("", K::Empty, None)]
#[case::control_character("https://a\u{7}", K::ControlCharacter, None)]
#[case::too_long(&format!("https://{}", "a".repeat(3000)), K::TooLong, None)]
#[case::invalid_scheme("h%tp://a.test", K::InvalidScheme, None)]
#[case::empty_host("https://", K::EmptyHost, None)]
#[case::host_too_long(&format!("https://{}", vec!["a".repeat(63); 4].join(".")), K::HostTooLong, None)]
#[case::label_too_long(&format!("https://{}.test", "a".repeat(64)), K::LabelTooLong, None)]
#[case::invalid_ip_address("http://256.0.0.1", K::InvalidIpAddress, None)]
fn the_hint_says_how_to_fix_the_input(
    #[case] input: &str,
    #[case] kind: ParseErrorKind,
    #[case] phrase: Option<&str>,
) {
    let error = OriginPattern::parse(input).expect_err("input is invalid");
    assert_eq!(error.kind(), kind, "{error}");
    assert_eq!(error.hint(), kind.hint());
    match (error.hint(), phrase) {
        (Some(hint), Some(phrase)) => assert!(hint.contains(phrase), "{kind:?}: {hint}"),
        (None, None) => {}
        (hint, _) => panic!("{kind:?}: expected a hint with {phrase:?}, got {hint:?}"),
    }
}

/// A long input is quoted cut short, with its length (`cors_origin::Quoted`): a 100 KB origin
/// gave an error line of 100 KB, and a policy file aliasing it a log of megabytes (F-DM).
/// The error still holds the input whole.
#[rstest]
#[case::too_long(format!("https://{}.test", "a".repeat(100_000)), K::TooLong)]
#[case::scheme_too_long(format!("{}://a.test", "s".repeat(100_000)), K::TooLong)]
#[case::host_too_long(format!("https://{}.test", "a".repeat(1_000)), K::HostTooLong)]
#[case::control_characters(format!("https://a.test/{}", "\u{1}é".repeat(1_000)), K::ControlCharacter)]
fn a_long_input_is_quoted_cut_short_with_its_length(
    #[case] input: String,
    #[case] kind: ParseErrorKind,
) {
    for error in [Origin::parse(&input).unwrap_err(), OriginPattern::parse(&input).unwrap_err()] {
        assert_eq!(error.kind(), kind, "{error}");
        let shown = error.to_string();
        assert!(shown.len() < 400, "{} bytes: {shown}", shown.len());
        let start = format!("{:?}", &input[..12]);
        let start = start.trim_end_matches('"');
        assert!(shown.contains(start), "{shown}");
        assert!(shown.contains(&format!("\"… ({} bytes): {kind} (byte ", input.len())), "{shown}");
        assert_eq!(error.input(), input);
    }
}

#[track_caller]
fn check_parts(
    input: &str,
    scheme: &str,
    host: &str,
    port: Option<u16>,
    slash: bool,
    rewritten: bool,
) {
    let (origin, notes) = Origin::parse_with_notes(input).expect("input is valid");
    assert_eq!((origin.scheme(), origin.host(), origin.port()), (scheme, host, port));
    let view = origin.as_ref();
    assert_eq!(
        (view.scheme(), view.host(), view.port(), view.as_str()),
        (scheme, host, port, origin.as_str())
    );
    assert_eq!((notes.had_trailing_slash(), notes.was_rewritten()), (slash, rewritten));
}

#[rstest]
#[case::plain_https("https://a.example", "https", "a.example", None, false, false)]
#[case::explicit_port("http://a.example:8080", "http", "a.example", Some(8080), false, false)]
#[case::default_port_is_none("https://a.example:443", "https", "a.example", None, false, true)]
#[case::ipv6_host_keeps_brackets("https://[::1]:8443", "https", "[::1]", Some(8443), false, false)]
#[case::trailing_slash_is_noted("https://a.example/", "https", "a.example", None, true, true)]
#[case::uppercase_is_noted_as_rewritten(
    "https://A.example",
    "https",
    "a.example",
    None,
    false,
    true
)]
#[case::custom_scheme_parts(
    "chrome-extension://abc",
    "chrome-extension",
    "abc",
    None,
    false,
    false
)]
fn config_parts(
    #[case] input: &str,
    #[case] scheme: &str,
    #[case] host: &str,
    #[case] port: Option<u16>,
    #[case] slash: bool,
    #[case] rewritten: bool,
) {
    check_parts(input, scheme, host, port, slash, rewritten);
}

#[test]
fn origins_compare_by_serialization() {
    let a: Origin = "HTTPS://A.example:443/".parse().expect("valid");
    let b = Origin::parse("https://a.example").expect("valid");
    assert_eq!(a, b);
    assert_eq!(a.cmp(&b), core::cmp::Ordering::Equal);
    assert_eq!(a.partial_cmp(&b), Some(core::cmp::Ordering::Equal));
    let http = Origin::parse("http://a.example").expect("valid");
    assert_ne!(a, http);
    assert!(http < a, "ordered as their serializations");
    assert_eq!(format!("{a:?}"), "Origin(\"https://a.example\")");
    // A borrowed view compares as the serialization too.
    assert!(a == b.as_ref());
    assert!(a != http.as_ref());
    // `Hash` agrees with `Eq`, and is the serialization's.
    let state = std::hash::RandomState::new();
    assert_eq!(state.hash_one(&a), state.hash_one(&b));
    assert_eq!(state.hash_one(&a), state.hash_one("https://a.example"));
}
