//! What the URL Standard (the `url` crate) makes of an origin, and the documented deviations of
//! this crate's parsers from it (docs/decisions.md, "Origins" and "Custom schemes"), for
//! `tests/url_differential.rs` and the `same_origin_value` fuzz target, which includes this file
//! by its path.

/// Whether `scheme` is one of the URL Standard's special schemes with a tuple origin.
pub(crate) fn is_special(scheme: &str) -> bool {
    matches!(scheme, "http" | "https" | "ws" | "wss" | "ftp")
}

/// The `Origin` a browser sends for `url`: the serialization of its origin for a special
/// scheme, `scheme://host[:port]` of its opaque host for another (`url` gives such URLs an
/// opaque origin; browsers send extension origins as tuples).
pub(crate) fn origin_as_sent(url: &url::Url) -> String {
    if is_special(url.scheme()) {
        return url.origin().ascii_serialization();
    }
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// The documented deviations (docs/decisions.md, "Origins") that make a host `url` serializes
/// one that neither parser accepts.
pub(crate) fn deviates(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    host.len() > 253
        || labels.iter().any(|label| label.is_empty() || label.len() > 63)
        || host
            .bytes()
            .any(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)))
            && !host.starts_with('[')
        || labels.iter().any(|label| label.starts_with("xn--")) && labels.len() > 8
}

/// The documented deviations for a non-special scheme's opaque host (docs/decisions.md,
/// "Custom schemes"): the host alphabet with upper case, empty labels and the DNS limits.
pub(crate) fn opaque_deviates(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    !host.starts_with('[')
        && (host.len() > 253
            || labels.iter().any(|label| label.is_empty() || label.len() > 63)
            || host.bytes().any(|b| !(b.is_ascii_alphanumeric() || b"-_.".contains(&b))))
}
