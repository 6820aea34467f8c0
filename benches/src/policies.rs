//! The reference policy of `performance.md` (2 credentialed origins, GET/POST/PUT, headers
//! content-type and x-token, exposed x-request-id, max-age 600) and its larger variants.

use std::fmt::Write as _;

use cors_policy::Policy;

/// The allowed origin every "allowed" scenario sends.
pub const ALLOWED_ORIGIN: &str = "https://app.example.com";
/// The reference policy's second origin.
pub const SECOND_ORIGIN: &str = "https://admin.example.com";
/// An origin no policy lists.
pub const DISALLOWED_ORIGIN: &str = "https://evil.example.net";
/// The `Host` every request is addressed to (never the origin's host, so never same-origin).
pub const HOST: &str = "api.example.com";

/// `count` origins that no request sends: `https://site0.example.org`, `https://site1...`.
#[must_use]
pub fn filler_origins(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("https://site{i}.example.org")).collect()
}

/// The origins of the reference policy grown to `total` entries with [`ALLOWED_ORIGIN`] last;
/// `total == 2` is the reference policy itself ([`ALLOWED_ORIGIN`] then [`SECOND_ORIGIN`]).
fn origins_with_allowed_last(total: usize) -> Vec<String> {
    if total <= 2 {
        return vec![ALLOWED_ORIGIN.to_owned(), SECOND_ORIGIN.to_owned()];
    }
    let mut origins = filler_origins(total - 1);
    origins.push(ALLOWED_ORIGIN.to_owned());
    origins
}

/// The reference policy as cors-flex YAML, with `total` origins (at least the 2 of
/// `performance.md`; more are fillers, [`ALLOWED_ORIGIN`] last) and `headers` allowed.
#[must_use]
pub fn reference_policy_yaml(total: usize, headers: &[&str]) -> String {
    policy_yaml(&origins_with_allowed_last(total), headers)
}

/// A credentialed, non-public cors-flex policy listing `origins`, with the reference methods,
/// exposed header and max-age.
pub(crate) fn policy_yaml(origins: &[String], headers: &[&str]) -> String {
    let mut yaml = String::from(
        "publicResource: false\nsupportCredentials: true\noriginGroups:\n  - name: bench\n    origins:\n",
    );
    for origin in origins {
        let _ = writeln!(yaml, "      - {origin}");
    }
    yaml.push_str(
        "    allowedMethods:\n\
         \x20     - { methodName: GET, isAllowed: true }\n\
         \x20     - { methodName: POST, isAllowed: true }\n\
         \x20     - { methodName: PUT, isAllowed: true }\n",
    );
    let _ = writeln!(yaml, "    headers: [{}]", headers.join(", "));
    yaml.push_str("    exposedHeaders: [x-request-id]\n    accessControlMaxAge: 600\n");
    yaml
}

/// Loads `yaml`, which the fixtures build and so know to be valid.
pub(crate) fn load(yaml: &str) -> Policy {
    match Policy::from_yaml_str(yaml, "bench.yaml") {
        Ok(loaded) => loaded.policy,
        Err(error) => panic!("invariant: the bench fixtures are valid policies:\n{error}\n{yaml}"),
    }
}

/// The reference policy with `total` origins ([`ALLOWED_ORIGIN`] last when `total > 2`) and the
/// reference headers content-type and x-token.
#[must_use]
pub fn reference_policy(total: usize) -> Policy {
    load(&reference_policy_yaml(total, &["content-type", "x-token"]))
}

/// The reference policy's origins, for the peers' configurations.
pub(crate) fn reference_origins(total: usize) -> Vec<String> {
    origins_with_allowed_last(total)
}
