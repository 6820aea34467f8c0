//! Pieces of the Rust exports (tower-http, actix-cors): origin predicates and literals.

use std::fmt::Write as _;

use super::flat::Origins;

/// The subdomain matcher the Rust exports define when a policy has subdomain patterns. Written
/// out rather than a regex so the export needs no crate beyond the peer's own.
pub(super) const SUBDOMAIN_HELPER: &str = r"
/// Whether `origin` is `prefix`, one or more dot-separated labels of `a-z`, `0-9` and `-`, then
/// `suffix`: the origins a cors-flex subdomain pattern such as `https://*.example.test` allows.
fn is_subdomain(origin: &[u8], prefix: &str, suffix: &str) -> bool {
    origin
        .strip_prefix(prefix.as_bytes())
        .and_then(|rest| rest.strip_suffix(suffix.as_bytes()))
        .is_some_and(|labels| {
            labels.split(|b| *b == b'.').all(|label| {
                !label.is_empty()
                    && label
                        .iter()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            })
        })
}
";

/// A byte-string literal.
pub(super) fn byte_string(text: &str) -> String {
    format!("b{text:?}")
}

/// The body of a predicate over `origin` (a `&HeaderValue`) that allows `origins`' exact origins
/// and subdomain patterns, indented for a closure two levels deep.
pub(super) fn origin_predicate(origins: &Origins) -> String {
    let mut tests = Vec::new();
    if !origins.exact.is_empty() {
        let exact: Vec<String> = origins.exact.iter().map(|o| byte_string(o)).collect();
        tests.push(format!("matches!(origin, {})", exact.join(" | ")));
    }
    for pattern in &origins.patterns {
        let port = pattern.port().map(|port| format!(":{port}")).unwrap_or_default();
        tests.push(format!(
            "is_subdomain(origin, {:?}, {:?})",
            format!("{}://", pattern.scheme()),
            format!(".{}{port}", pattern.domain())
        ));
    }
    format!("let origin = origin.as_bytes();\n            {}", tests.join("\n                || "))
}

/// An array expression of `items` as rustfmt lays it out at `column` (where the `[` is): on one
/// line when it fits in 100 columns, else one item per line.
pub(super) fn array(items: &[String], column: usize, indent: usize) -> String {
    let one_line = format!("[{}]", items.join(", "));
    if column + one_line.len() + 2 <= 100 {
        return one_line;
    }
    let mut out = String::from("[\n");
    for item in items {
        let _ = writeln!(out, "{:indent$}{item},", "", indent = indent + 4);
    }
    let _ = write!(out, "{:indent$}]", "");
    out
}
