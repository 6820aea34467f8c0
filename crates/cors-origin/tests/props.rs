//! Invariants over generated inputs: canonical round trips, the two parsers agreeing, the set
//! agreeing with a linear scan, R2's comparison on parsed values and on values as sent, and no
//! input panicking (behaviour rules C4, M1, M3, M4, M5, R2, R5).

use cors_origin::{
    MatchKind, Origin, OriginPattern, OriginSet, RequestOrigin, is_same_origin_value,
};
use proptest::prelude::*;

fn scheme() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["http", "https", "ws", "wss", "ftp", "chrome-extension"])
            .prop_map(str::to_owned),
        1 => "[a-z][a-z0-9+.-]{0,8}".prop_filter("tuple-origin scheme", |s| {
            !matches!(s.as_str(), "about" | "blob" | "data" | "file" | "filesystem" | "javascript")
        }),
    ]
}

fn domain() -> impl Strategy<Value = String> {
    // A label starting with `xn--` is an IDNA A-label and must hold valid Punycode (`xn--` alone
    // does not), so plain labels stay out of that space.
    let plain = |label: &String| !label.starts_with("xn--");
    (
        prop::collection::vec(
            "[a-z0-9_][a-z0-9_-]{0,6}".prop_filter("not an A-label", plain),
            0..4,
        ),
        "[a-z_][a-z0-9_-]{0,6}".prop_filter("not an A-label", plain),
    )
        .prop_map(|(mut labels, last)| {
            labels.push(last);
            labels.join(".")
        })
}

fn ipv6_pieces() -> impl Strategy<Value = [u16; 8]> {
    prop::array::uniform8(prop_oneof![3 => Just(0u16), 1 => 0..16u16, 1 => any::<u16>()])
}

/// A host as someone might configure it: any case, any IPv4 form, IPv6 uncompressed.
fn host_input() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => domain(),
        1 => any::<u32>().prop_map(|n| core::net::Ipv4Addr::from(n).to_string()),
        1 => any::<u32>().prop_map(|n| n.to_string()),
        1 => any::<u32>().prop_map(|n| format!("0x{n:x}")),
        1 => (any::<u8>(), any::<u32>().prop_map(|n| n & 0x00ff_ffff))
            .prop_map(|(a, rest)| format!("{a}.{rest}")),
        2 => ipv6_pieces().prop_map(|p| {
            let pieces: Vec<String> = p.iter().map(|x| format!("{x:X}")).collect();
            format!("[{}]", pieces.join(":"))
        }),
        1 => ipv6_pieces().prop_map(|p| format!("[{}]", core::net::Ipv6Addr::from(p))),
    ]
}

fn port() -> impl Strategy<Value = Option<u16>> {
    prop::option::of(prop_oneof![Just(80u16), Just(443), Just(21), any::<u16>()])
}

/// A configured origin with noise: mixed case, default ports, a trailing slash.
fn origin_input() -> BoxedStrategy<String> {
    // Sparse case bits: most inputs keep most of their lowercase.
    let case_bits = any::<u64>().prop_map(|b| b & (b >> 7) & (b >> 13) & (b >> 29));
    (scheme(), host_input(), port(), any::<bool>(), case_bits)
        .prop_map(|(scheme, host, port, slash, case_bits)| {
            let mut text = with_port(&format!("{scheme}://{host}"), port);
            if slash {
                text.push('/');
            }
            text.char_indices()
                .map(
                    |(i, c)| {
                        if case_bits >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c }
                    },
                )
                .collect()
        })
        .boxed()
}

/// Strings near the origin grammar, so that both parsers reach their deeper rules.
fn near_origin() -> BoxedStrategy<String> {
    prop_oneof![
        2 => origin_input(),
        2 => origin_input().prop_filter_map("valid", |s| Origin::parse(&s).ok().map(|o| o.to_string())),
        2 => (
            prop::sample::select(vec!["http://", "https://", "HTTP://", "ws://", "x-y://", "", "null"]),
            "[a-zA-Z0-9:/.\\[\\]_%@#?*, -]{0,24}",
        )
            .prop_map(|(a, b)| format!("{a}{b}")),
        1 => "\\PC{0,24}",
    ]
    .boxed()
}

/// Neither configuration parser panics, and a pattern's display parses back to it.
fn check_config_parsers(input: &str) -> Result<(), TestCaseError> {
    let _ = Origin::parse(input);
    if let Ok(pattern) = OriginPattern::parse(input) {
        let again = OriginPattern::parse(&pattern.to_string());
        prop_assert_eq!(again.as_ref(), Ok(&pattern));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// RFC 6454 §6.2: parsing a serialization gives back the same origin and the same bytes,
    /// and the request-time parser accepts it with the same parts.
    #[test]
    fn serialize_then_parse_is_identity(input in origin_input()) {
        // Every generated input is a valid origin, so refusing one is a failure too.
        let origin = Origin::parse(&input)
            .map_err(|e| TestCaseError::fail(format!("valid input refused: {e}")))?;
        let again = Origin::parse(origin.as_str()).expect("a serialization parses");
        prop_assert_eq!(again.as_str(), origin.as_str());
        prop_assert_eq!(&again, &origin);
        let Ok(RequestOrigin::Tuple(view)) = RequestOrigin::parse(origin.as_str().as_bytes()) else {
            return Err(TestCaseError::fail(format!("request parser refused {origin}")));
        };
        prop_assert_eq!(
            (view.scheme(), view.host(), view.port()),
            (origin.scheme(), origin.host(), origin.port())
        );
        prop_assert_eq!(view.scheme_len(), origin.scheme().len());
    }

    /// The canonical form is what the inputs said, minus the default port.
    #[test]
    fn canonical_parts_follow_the_input(scheme in scheme(), host in domain(), port in port()) {
        let input = match port {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        };
        let origin = Origin::parse(&input).expect("generated origins are valid");
        let default = match scheme.as_str() {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            "ftp" => Some(21),
            _ => None,
        };
        prop_assert_eq!(origin.scheme(), scheme.as_str());
        prop_assert_eq!(origin.host(), host.as_str());
        prop_assert_eq!(origin.port(), port.filter(|&p| Some(p) != default));
    }

    /// M1: the request-time parser accepts a string exactly when the configuration-time parser
    /// maps it to itself.
    #[test]
    fn request_parser_accepts_exactly_canonical_serializations(input in near_origin()) {
        let request = RequestOrigin::parse(input.as_bytes());
        let config = Origin::parse(&input);
        let canonical = config.as_ref().is_ok_and(|o| o.as_str() == input);
        prop_assert!(!input.is_empty() || request.is_err());
        match request {
            Ok(RequestOrigin::Tuple(_)) => prop_assert!(canonical, "accepted non-canonical {:?}", input),
            Ok(_) => prop_assert_eq!(input.as_str(), "null"),
            Err(error) => prop_assert!(!canonical, "refused canonical {:?}: {}", input, error),
        }
        if let Ok(origin) = config {
            prop_assert!(RequestOrigin::parse(origin.as_str().as_bytes()).is_ok());
        }
    }

    /// R2: one comparison. On every value the request parser accepts as a tuple origin, the
    /// check of the value as sent answers as the parsed origin's, against authorities near it
    /// (its own host in another case, with a default or another port, a trailing dot).
    #[test]
    fn same_origin_value_is_the_parsed_origins_answer(
        input in near_origin(),
        listener in prop::sample::select(vec!["http", "https", "HTTPS", "ws", "chrome-extension"]),
        upper in any::<bool>(),
        suffix in prop::sample::select(vec!["", ":80", ":443", ":8080", ".", ":", ":0443"]),
    ) {
        if let Ok(RequestOrigin::Tuple(origin)) = RequestOrigin::parse(input.as_bytes()) {
            let host = if upper { origin.host().to_ascii_uppercase() } else { origin.host().to_owned() };
            let authority = match origin.port() {
                Some(port) if suffix.is_empty() => format!("{host}:{port}"),
                _ => format!("{host}{suffix}"),
            };
            prop_assert_eq!(
                is_same_origin_value(input.as_bytes(), listener, authority.as_bytes()),
                origin.is_same_origin_as(listener, authority.as_bytes()),
                "{} against {}://{}", input, listener, authority
            );
        }
    }

    /// R2 on values as sent: a value is the request's own origin exactly when it is the
    /// serialization of the listener's scheme and the authority (both lowered, `:port` only when
    /// not the scheme's default), trailing dots and empty labels included.
    #[test]
    fn same_origin_value_is_the_serialization_of_the_address(
        value_scheme in prop::sample::select(vec!["http", "https", "HTTPS", "Http"]),
        value_host in "[a-cA.]{1,6}",
        value_port in prop::sample::select(vec!["", ":80", ":443", ":8080", ":08080", ":"]),
        listener in prop::sample::select(vec!["http", "https", "HTTPS"]),
        host in "[a-cA.]{1,6}",
        port in prop::sample::select(vec!["", ":80", ":443", ":8080", ":08080", ":"]),
    ) {
        let value = format!("{value_scheme}://{value_host}{value_port}");
        let authority = format!("{host}{port}");
        let scheme = listener.to_ascii_lowercase();
        let default = if scheme == "https" { ":443" } else { ":80" };
        let expected = match port {
            ":" => None,
            p if p == default => Some(""),
            ":08080" => Some(":8080"),
            p => Some(p),
        }
        .map(|port| format!("{scheme}://{}{port}", host.to_ascii_lowercase()));
        prop_assert_eq!(
            is_same_origin_value(value.as_bytes(), listener, authority.as_bytes()),
            expected.as_deref() == Some(value.as_str()),
            "{} against {}://{}", value, listener, authority
        );
    }

    /// R5: no input panics either parser (or the pattern parser).
    #[test]
    fn no_bytes_panic_the_request_parser(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let _ = RequestOrigin::parse(&bytes);
    }

    #[test]
    fn no_string_panics_the_config_parsers(input in any::<String>()) {
        check_config_parsers(&input)?;
    }

    #[test]
    fn no_near_origin_panics_the_config_parsers(input in near_origin()) {
        check_config_parsers(&input)?;
    }
}

// The set against a linear scan, over small pools so that patterns and origins collide often.

const LABELS: [&str; 4] = ["a", "b", "c", "test"];

fn pool_host() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(LABELS.to_vec()), 1..5).prop_map(|l| l.join("."))
}

fn pool_scheme_port() -> impl Strategy<Value = (&'static str, Option<u16>)> {
    (prop::sample::select(vec!["http", "https"]), prop::option::of(Just(8080u16)))
}

fn pool_pattern() -> impl Strategy<Value = OriginPattern> {
    let text = prop_oneof![
        1 => Just("*".to_owned()),
        1 => Just("null".to_owned()),
        3 => (pool_scheme_port(), pool_host()).prop_map(|((s, p), h)| with_port(&format!("{s}://{h}"), p)),
        4 => (pool_scheme_port(), pool_host()).prop_map(|((s, p), h)| with_port(&format!("{s}://*.{h}"), p)),
    ];
    text.prop_map(|t| OriginPattern::parse(&t).expect("pool patterns are valid"))
}

fn pool_origin() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("null".to_owned()),
        1 => Just("https://[::1]".to_owned()),
        8 => (pool_scheme_port(), pool_host()).prop_map(|((s, p), h)| with_port(&format!("{s}://{h}"), p)),
    ]
}

fn with_port(base: &str, port: Option<u16>) -> String {
    port.map_or_else(|| base.to_owned(), |p| format!("{base}:{p}"))
}

/// The precedence rule of M3/M4 written as a scan over [`OriginPattern::matches`].
fn naive_find(
    patterns: &[OriginPattern],
    origin: &RequestOrigin<'_>,
) -> Option<(usize, MatchKind)> {
    let matching = || patterns.iter().enumerate().filter(|(_, p)| p.matches(origin));
    let first =
        |want: fn(&OriginPattern) -> bool| matching().find(|(_, p)| want(p)).map(|(i, _)| i);
    if let Some(i) = first(|p| matches!(p, OriginPattern::Exact(_))) {
        return Some((i, MatchKind::Exact));
    }
    if let Some(i) = first(|p| matches!(p, OriginPattern::Null)) {
        return Some((i, MatchKind::Null));
    }
    let best = matching()
        .filter_map(|(i, p)| match p {
            OriginPattern::Subdomains(s) => Some((i, s.domain().len())),
            _ => None,
        })
        .fold(None, |best: Option<(usize, usize)>, (i, len)| match best {
            Some((_, best_len)) if best_len >= len => best,
            _ => Some((i, len)),
        });
    if let Some((i, _)) = best {
        return Some((i, MatchKind::Subdomain));
    }
    first(|p| matches!(p, OriginPattern::Any)).map(|i| (i, MatchKind::Any))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn set_agrees_with_linear_scan(
        patterns in prop::collection::vec(pool_pattern(), 0..12),
        origins in prop::collection::vec(pool_origin(), 1..8),
    ) {
        let set = OriginSet::new(patterns.clone());
        for origin in &origins {
            let origin = RequestOrigin::parse(origin.as_bytes()).expect("pool origins are canonical");
            let found = set.find(&origin).map(|m| (m.index(), m.kind()));
            prop_assert_eq!(found, naive_find(&patterns, &origin), "origin {}", origin);
        }
    }
}

// Large sets: more exact origins than the set compares one by one (it hashes them then), with
// repeats and near misses, and serializations on both sides of each 16-byte step of the hash.

/// Hosts of the pool's labels behind a run of `p`s, so that serializations are from 9 to about
/// 60 bytes long.
fn long_host() -> impl Strategy<Value = String> {
    (pool_host(), prop::sample::select(vec![0_usize, 1, 6, 7, 8, 9, 22, 23, 24, 25, 40]))
        .prop_map(|(host, pad)| if pad == 0 { host } else { format!("{}.{host}", "p".repeat(pad)) })
}

fn long_pattern() -> impl Strategy<Value = OriginPattern> {
    let text = prop_oneof![
        6 => (pool_scheme_port(), long_host()).prop_map(|((s, p), h)| with_port(&format!("{s}://{h}"), p)),
        2 => (pool_scheme_port(), long_host()).prop_map(|((s, p), h)| with_port(&format!("{s}://*.{h}"), p)),
        1 => Just("*".to_owned()),
    ];
    text.prop_map(|t| OriginPattern::parse(&t).expect("pool patterns are valid"))
}

/// Nine distinct exact origins, then `patterns`, in any order: always past the eight exact
/// origins compared one by one.
fn large_set() -> impl Strategy<Value = Vec<OriginPattern>> {
    prop::collection::vec(long_pattern(), 0..40).prop_flat_map(|mut patterns| {
        patterns.extend(
            (0..9).map(|i| {
                OriginPattern::parse(&format!("https://f{i}.p.test")).expect("valid filler")
            }),
        );
        Just(patterns).prop_shuffle()
    })
}

/// A near miss of `text`: the byte at `at` (after the scheme) swapped for its neighbour in the
/// pool (same length, one byte apart), a prefix, or one byte more.
fn near_miss(text: &str, how: u8, at: prop::sample::Index) -> String {
    let host_start = text.find("://").map_or(0, |i| i + 3);
    let mut bytes = text.as_bytes().to_vec();
    match how % 3 {
        0 => {
            let at = host_start + at.index(bytes.len() - host_start);
            bytes[at] = match bytes[at] {
                b'a' => b'b',
                b'b' => b'a',
                b'p' => b'q',
                b't' => b'u',
                other => other,
            };
        }
        1 => bytes.truncate(at.index(bytes.len())),
        _ => bytes.push(b'a'),
    }
    String::from_utf8(bytes).expect("ASCII")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// M1, M3 to M5 with many patterns: an exact origin, configured or a near miss, resolves to
    /// what a linear scan finds (the lowest index among repeats), through both lookups.
    #[test]
    fn large_set_agrees_with_linear_scan(
        patterns in large_set(),
        asked in prop::collection::vec((any::<prop::sample::Index>(), 0_u8..4, any::<prop::sample::Index>()), 1..8),
        other in prop::collection::vec(long_host(), 0..4),
    ) {
        let set = OriginSet::new(patterns.clone());
        let texts: Vec<String> = patterns.iter().map(ToString::to_string).collect();
        let mut inputs: Vec<String> = other.iter().map(|host| format!("https://{host}")).collect();
        for (which, how, at) in asked {
            let text = which.get(&texts);
            inputs.push(if how == 3 { text.clone() } else { near_miss(text, how, at) });
        }
        for input in &inputs {
            check_lookups(&set, &patterns, input)?;
        }
    }
}

/// Both lookups of `input` in `set` (made of `patterns`) answer as parsing, then
/// [`naive_find`].
fn check_lookups(
    set: &OriginSet,
    patterns: &[OriginPattern],
    input: &str,
) -> Result<(), TestCaseError> {
    let bytes = input.as_bytes();
    let expected =
        RequestOrigin::parse(bytes).map(|origin| (origin, naive_find(patterns, &origin)));
    let found = set
        .parse_and_find(bytes)
        .map(|(origin, found)| (origin, found.map(|m| (m.index(), m.kind()))));
    prop_assert_eq!(&found, &expected, "input {}", input);
    if let Ok((origin, _)) = &found {
        let found = set.find(origin).map(|m| (m.index(), m.kind()));
        prop_assert_eq!(found, naive_find(patterns, origin), "input {}", input);
    }
    Ok(())
}

// Subdomain patterns with labels of 1 to 9 bytes and IDNA A-labels: the dots of hosts of 1 to
// 40 bytes fall at every position of, and across, the eight-byte words the set's dot search
// reads (M3, M4).

/// Valid IDNA A-labels (bücher, café, münchen).
const A_LABELS: [&str; 3] = ["xn--bcher-kva", "xn--caf-dma", "xn--mnchen-3ya"];

/// One to nine `a`s or `b`s (few labels, so that patterns and origins share them), or an
/// A-label.
fn varied_label() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (prop::sample::select(vec!["a", "b"]), 1..=9_usize).prop_map(|(c, n)| c.repeat(n)),
        1 => prop::sample::select(A_LABELS.to_vec()).prop_map(str::to_owned),
    ]
}

/// The labels of a host of 1 to 40 bytes: as many of up to seven labels as fit.
fn varied_labels() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(varied_label(), 1..=7).prop_map(|labels| {
        let mut len = 0;
        // The first label (at most 14 bytes) always fits.
        labels
            .into_iter()
            .take_while(|label| {
                len += label.len() + 1;
                len <= 41
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// M3, M4: with subdomain patterns for suffixes of a host and for hosts like it, the host
    /// and each of its suffixes resolve to what a linear scan finds, through both lookups.
    #[test]
    fn subdomain_lookup_agrees_with_linear_scan_at_every_dot_position(
        host in varied_labels(),
        configured in prop::collection::vec(
            (any::<prop::sample::Index>(), varied_labels(), any::<bool>(), any::<bool>()),
            1..6,
        ),
    ) {
        let patterns: Vec<OriginPattern> = configured
            .iter()
            .map(|(from, other, suffix, http)| {
                let labels = if *suffix { &host[from.index(host.len())..] } else { &other[..] };
                let scheme = if *http { "http" } else { "https" };
                let text = format!("{scheme}://*.{}", labels.join("."));
                OriginPattern::parse(&text).expect("varied patterns are valid")
            })
            .collect();
        let set = OriginSet::new(patterns.clone());
        for from in 0..host.len() {
            let input = format!("https://{}", host[from..].join("."));
            prop_assert!(RequestOrigin::parse(input.as_bytes()).is_ok(), "canonical: {}", input);
            check_lookups(&set, &patterns, &input)?;
        }
    }
}
