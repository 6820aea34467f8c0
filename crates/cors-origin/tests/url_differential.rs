//! Both parsers against the `url` crate (the WHATWG URL Standard) on generated origins full of
//! the forms where parsers disagree: IDNA mappings and Punycode, IPv4 shorthand, hex and octal,
//! IPv6 (with zone-like text, and an IP-future literal `[v1.x]`), percent-encoding, default
//! ports written out, ports 0 and 65535 and past it, userinfo, an empty host, upper case,
//! trailing and empty labels, and the extension schemes and other non-special ones (behaviour
//! rules C4, M1, R2, R5).
//!
//! For special schemes: a configured origin canonicalizes to exactly what `url` serializes as
//! the URL's origin, and a request `Origin` is accepted only if it is that serialization. The
//! only canonical serializations refused are the deliberate deviations of docs/decisions.md
//! ("Origins"): the host alphabet, empty labels, the DNS limits and the Punycode label count.

use cors_origin::{Origin, RequestOrigin, is_same_origin_value};
use proptest::prelude::*;

// Shared with the `same_origin_value` fuzz target, which includes the file by its path.
#[path = "support/url_origin.rs"]
mod url_origin;
use url_origin::{deviates, is_special, opaque_deviates, origin_as_sent};

/// Pieces of hosts, each a form some parser reads differently from another.
const PIECES: &[&str] = &[
    "a",
    "example",
    "xn--bcher-kva",
    "xn--",
    "xn--a",
    "xn--zca",
    "xn--ls8h",
    "XN--ZCA",
    "ü",
    "ß",
    "ς",
    "Ａ",
    "。",
    "．",
    "\u{ad}",
    "\u{200c}",
    "\u{212a}",
    "ǅ",
    "ﬀ",
    "ⓐ",
    "①",
    "İ",
    "ẞ",
    "\u{2126}",
    "٣",
    "\u{fe0f}",
    "ｘｎ－－",
    "0x7f",
    "0X7F",
    "0",
    "00",
    "09",
    "010",
    "1",
    "255",
    "256",
    "4294967295",
    "0x",
    "-",
    "_",
    "a-",
    "-a",
    "ab--c",
    "%41",
    "%2e",
    "a.b.c.d",
    "%c3%bc",
    "%zz",
    "A",
    "Example",
    "!",
    "$",
    "*",
    "~",
    "'",
];

fn host() -> impl Strategy<Value = String> {
    // Mostly a dot; sometimes nothing, which runs two pieces into one label.
    let separator = prop::sample::select(&[".", ".", ".", ""][..]);
    prop::collection::vec((prop::sample::select(PIECES), separator), 1..6).prop_map(|parts| {
        let mut host = String::new();
        for (i, (piece, separator)) in parts.into_iter().enumerate() {
            if i > 0 {
                host.push_str(separator);
            }
            host.push_str(piece);
        }
        host
    })
}

fn input() -> impl Strategy<Value = String> {
    let schemes = &[
        "http",
        "https",
        "HTTPS",
        "ws",
        "wss",
        "ftp",
        "x-app",
        "X-App",
        "chrome-extension",
        "moz-extension",
        "safari-web-extension",
        "web+app",
        "a.b-c",
    ][..];
    let ports =
        &["", "", "", ":", ":0", ":00", ":80", ":443", ":0443", ":21", ":8080", ":65535", ":65536"]
            [..];
    let userinfo = &["", "", "", "", "", "", "u@", "u:p@", "@", ":@"][..];
    (
        prop::sample::select(schemes),
        prop::sample::select(userinfo),
        prop_oneof![
            12 => host(),
            1 => Just(String::new()),
            1 => Just("[::1]".to_owned()),
            1 => Just("[::FFFF:1.2.3.4]".to_owned()),
            1 => Just("[0:0::1%25eth0]".to_owned()),
            1 => Just("[fe80::1%eth0]".to_owned()),
            1 => Just("[fe80::1%25]".to_owned()),
            1 => Just("[v1.x]".to_owned()),
            1 => Just("[0::1]".to_owned()),
        ],
        prop::sample::select(ports),
        prop::sample::select(&["", "", "", "/", "."][..]),
    )
        .prop_map(|(scheme, userinfo, host, port, end)| {
            format!("{scheme}://{userinfo}{host}{port}{end}")
        })
}

/// The documented deviation of R2 on a value as sent (docs/decisions.md, "Origins"; F-DF): a
/// host with an `xn--` label whose part from its first label that is not plain (lower-case
/// letters, digits and hyphens, starting with a letter, ending with no hyphen) is past the
/// bounds within which IDNA is checked without allocating is no site's own origin.
fn idna_unchecked(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    let plain = |label: &&str| {
        label.is_empty()
            || label.starts_with(|c: char| c.is_ascii_lowercase())
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && label.get(2..4) != Some("--")
    };
    let rest: Vec<&str> = labels.iter().copied().skip_while(plain).collect();
    labels.iter().any(|label| label.starts_with("xn--"))
        && (rest.join(".").len() > 253
            || rest.len() > 8
            || rest.iter().any(|label| label.len() > 63))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// A non-special scheme's host is the URL Standard's opaque host
    /// (<https://url.spec.whatwg.org/#concept-opaque-host-parser>): a configured origin keeps
    /// the host `url` keeps, neither lower-cased nor read as IPv4 nor put through IDNA, and the
    /// request parser accepts `scheme://host[:port]` with that host unless a documented
    /// deviation refuses it. (`url` gives such URLs an opaque origin; browsers send extension
    /// origins as tuples, so `scheme://host[:port]` is what they send.)
    #[test]
    fn custom_schemes_keep_the_url_standards_opaque_host(input in input()) {
        let Ok(url) = url::Url::parse(&input) else { return Ok(()) };
        if is_special(url.scheme()) {
            return Ok(());
        }
        let Some(host) = url.host_str() else { return Ok(()) };
        let expected = match url.port() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        };
        if let Ok(origin) = Origin::parse(&input) {
            prop_assert_eq!(origin.as_str(), expected.as_str(), "configured {:?}", input);
        }
        let request = RequestOrigin::parse(expected.as_bytes());
        prop_assert_eq!(request.is_ok(), !opaque_deviates(host), "{:?}: {:?}", expected, request);
    }

    #[test]
    fn both_parsers_agree_with_the_url_standard(input in input()) {
        let url = url::Url::parse(&input).ok();
        let serialized = url.as_ref().map(|url| url.origin().ascii_serialization());
        let config = Origin::parse(&input);
        if let Ok(origin) = &config
            && is_special(origin.scheme())
        {
            prop_assert_eq!(serialized.as_deref(), Some(origin.as_str()), "configured {:?}", input);
        }
        let request = RequestOrigin::parse(input.as_bytes());
        if let Ok(RequestOrigin::Tuple(origin)) = request {
            prop_assert_eq!(config.as_ref().ok().map(Origin::as_str), Some(input.as_str()));
            if is_special(origin.scheme()) {
                prop_assert_eq!(serialized.as_deref(), Some(input.as_str()), "request {:?}", input);
            }
        }
        if serialized.as_deref() == Some(input.as_str()) && request.is_err() {
            let host = url.as_ref().and_then(url::Url::host_str).unwrap_or_default();
            prop_assert!(deviates(host), "a canonical origin refused: {:?} ({:?})", input, request);
        }
    }

    /// R2 as browsers apply it: a request to a URL carries the `Origin` `url` serializes for
    /// it and the `Host` of its host and non-default port; that `Origin` is the request's own,
    /// as sent, whatever the parsers' deviations (a trailing dot, an empty label, a label past
    /// 63 bytes) make of it.
    ///
    /// A non-special scheme is never a listener's (R2 takes the listener's scheme, `http` or
    /// `https`); its opaque host, as `url` keeps it, is the request's own as sent unless it has
    /// what R2's serialization never has: an upper-case letter (R2 compares the host as lower
    /// case) or a `%` (a forbidden domain code point, which an opaque host may keep).
    #[test]
    fn a_urls_own_origin_is_same_origin_as_sent(input in input()) {
        let Ok(url) = url::Url::parse(&input) else { return Ok(()) };
        if !is_special(url.scheme()) {
            let Some(host) = url.host_str().filter(|host| !host.is_empty()) else { return Ok(()) };
            let origin = match url.port() {
                Some(port) => format!("{}://{host}:{port}", url.scheme()),
                None => format!("{}://{host}", url.scheme()),
            };
            let authority = &origin[url.scheme().len() + 3..];
            let expected = !host.bytes().any(|b| b.is_ascii_uppercase() || b == b'%');
            prop_assert_eq!(
                is_same_origin_value(origin.as_bytes(), url.scheme(), authority.as_bytes()),
                expected,
                "{} (from {:?})", origin, input
            );
            return Ok(());
        }
        let Some(host) = url.host_str() else { return Ok(()) };
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let origin = url.origin().ascii_serialization();
        let expected = !idna_unchecked(host);
        prop_assert_eq!(
            is_same_origin_value(origin.as_bytes(), url.scheme(), authority.as_bytes()),
            expected,
            "{} against {}://{} (from {:?})", origin, url.scheme(), authority, input
        );
        // The same authority in upper case.
        let upper = authority.to_ascii_uppercase();
        prop_assert_eq!(
            is_same_origin_value(origin.as_bytes(), url.scheme(), upper.as_bytes()),
            expected
        );
    }

    /// R2 the other way (finding F-DF): a value that is the request's own origin as sent, for
    /// a request to the very address it names, is what `url` serializes for that value parsed
    /// as a URL: the origin for a special scheme, `scheme://host[:port]` of the opaque host
    /// for another. An `xn--` label that is not valid IDNA, an IP address in another form, a
    /// percent-escape or userinfo is no URL's origin, and never the request's own.
    #[test]
    fn a_value_same_origin_as_sent_is_a_urls_origin(input in input()) {
        let Some((scheme, authority)) = input.split_once("://") else { return Ok(()) };
        if !is_same_origin_value(input.as_bytes(), scheme, authority.as_bytes()) {
            return Ok(());
        }
        let url = url::Url::parse(&input);
        let serialized = url.as_ref().ok().map(origin_as_sent);
        prop_assert_eq!(serialized.as_deref(), Some(input.as_str()), "{:?}", url);
    }
}
