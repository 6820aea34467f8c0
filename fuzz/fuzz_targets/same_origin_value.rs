//! Arbitrary bytes as an `Origin` value and a `Host` through R2's look at the value as sent
//! (`cors_origin::is_same_origin_value`, behaviour rule R2; findings F-CH, F-CO, F-DF): never a
//! panic, and whenever it says "the request's own origin":
//!
//! - the value is within the cap (R5), ASCII, and byte for byte the serialization of the
//!   listener's scheme and the authority, built here on its own: both lower-cased, `:port` only
//!   when the authority's port is not the scheme's default, without leading zeros;
//! - `url` (the URL Standard) parses the value and serializes its origin to the same bytes;
//! - unless its host is one of R2's documented forms that M1 refuses (an empty label, a trailing
//!   dot included, DNS's limits, a byte outside the configuration alphabet, an `xn--` label among
//!   more than 8), `RequestOrigin::parse` accepts it and `Origin::parse` maps it to itself.
//!
//! And on every value `RequestOrigin::parse` accepts as a tuple origin, the answer is the parsed
//! origin's (`OriginRef::is_same_origin_as`): R2 is one comparison.
//!
//! Input: the first byte picks the listener's scheme (low 3 bits) and whether the `Host` is
//! derived from the value (bit 3: the value's bytes after `scheme://`, their letters' case
//! flipped where the high bits say, then the input's tail); the next two the split point; the
//! rest is the value, then the `Host` (or the tail appended to the derived one).

#![no_main]

use cors_origin::{MAX_ORIGIN_LEN, Origin, RequestOrigin, is_same_origin_value};
use libfuzzer_sys::fuzz_target;

// What `url` makes of an origin, and M1's documented deviations from it, as cors-origin's
// `tests/url_differential.rs` has them.
#[path = "../../crates/cors-origin/tests/support/url_origin.rs"]
mod url_origin;

/// Listener schemes: special ones, a non-special one, and upper-case spellings (a listener's
/// scheme compares ignoring case).
const SCHEMES: [&str; 8] =
    ["http", "https", "ws", "wss", "HTTPS", "Http", "chrome-extension", "x-app"];

fuzz_target!(|bytes: &[u8]| {
    let [selector, low, high, rest @ ..] = bytes else { return };
    let scheme = SCHEMES[usize::from(selector & 7)];
    let split = usize::from(u16::from_le_bytes([*low, *high])) % (rest.len() + 1);
    let (origin, tail) = rest.split_at(split);
    let authority = if selector & 8 == 0 {
        tail.to_vec()
    } else {
        derived_authority(origin, scheme, selector >> 4, tail)
    };

    let same = is_same_origin_value(origin, scheme, &authority);
    if let Ok(RequestOrigin::Tuple(view)) = RequestOrigin::parse(origin) {
        assert_eq!(same, view.is_same_origin_as(scheme, &authority), "R2 is one comparison");
    }
    if same {
        check_own_origin(origin, scheme, &authority);
    }
});

/// The value's bytes after `scheme://`, each letter's case flipped where bit `index % 4` of
/// `flips` is set, then `tail` (a port, say): a `Host` that is often the value's own.
fn derived_authority(origin: &[u8], scheme: &str, flips: u8, tail: &[u8]) -> Vec<u8> {
    let after = origin.get(scheme.len() + 3..).unwrap_or_default();
    let mut authority: Vec<u8> = after
        .iter()
        .enumerate()
        .map(|(index, &b)| if flips >> (index % 4) & 1 == 1 { flip_case(b) } else { b })
        .collect();
    authority.extend_from_slice(tail);
    authority
}

fn flip_case(b: u8) -> u8 {
    if b.is_ascii_alphabetic() { b ^ 0x20 } else { b }
}

/// The invariants of a value R2 takes as the request's own origin.
fn check_own_origin(origin: &[u8], scheme: &str, authority: &[u8]) {
    assert!(origin.len() <= MAX_ORIGIN_LEN, "R5: a value over the cap is not looked at");
    let text = core::str::from_utf8(origin).expect("an own origin is UTF-8");
    assert!(text.is_ascii(), "an own origin is ASCII: {text:?}");
    assert!(authority.is_ascii(), "an own origin's authority is ASCII: {authority:?}");

    // The serialization of the listener's scheme and the authority, built independently.
    let scheme = scheme.to_ascii_lowercase();
    let (host, port) =
        split_authority(authority).expect("an own origin's authority is well formed");
    let host = core::str::from_utf8(host).expect("ASCII").to_ascii_lowercase();
    let expected = match port {
        Some(port) if Some(port) != default_port(&scheme) => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    };
    assert_eq!(text, expected, "R2: the value is the serialization of the request's address");

    // The URL Standard, through `url`: the value is the `Origin` a browser sends for itself.
    let url = url::Url::parse(text).expect("an own origin is a URL");
    let serialized = url_origin::origin_as_sent(&url);
    assert_eq!(serialized, text, "the URL Standard serializes the value as it is");

    // M1's parsers take it, unless its host is one of R2's documented forms they refuse.
    let refused_by_m1 = if url_origin::is_special(&scheme) {
        url_origin::deviates(&host)
    } else {
        url_origin::opaque_deviates(&host)
    };
    if !refused_by_m1 {
        let Ok(RequestOrigin::Tuple(view)) = RequestOrigin::parse(origin) else {
            panic!("an own origin of a host M1 takes is an Origin: {text:?}");
        };
        assert_eq!(view.as_bytes(), origin);
        let parsed = Origin::parse(text).expect("an own origin parses as configuration");
        assert_eq!(parsed.as_str(), text, "and is canonical");
    }
}

/// `authority` as a host and an optional port (1 to 5 digits, at most 65535, leading zeros
/// allowed, as `Host` has them); `None` when the port is empty or not one.
fn split_authority(authority: &[u8]) -> Option<(&[u8], Option<u16>)> {
    if authority.ends_with(b"]") {
        return Some((authority, None));
    }
    let Some(colon) = authority.iter().rposition(|&b| b == b':') else {
        return Some((authority, None));
    };
    let (host, digits) = (&authority[..colon], &authority[colon + 1..]);
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let port = core::str::from_utf8(digits).ok()?.parse::<u32>().ok()?;
    Some((host, Some(u16::try_from(port).ok()?)))
}

/// The URL Standard's default ports of its special schemes.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        "ftp" => Some(21),
        _ => None,
    }
}
