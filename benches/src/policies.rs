//! The reference policy of `performance.md` (2 credentialed origins, GET/POST/PUT, headers
//! content-type and x-token, exposed x-request-id, max-age 600) and its larger variants.

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

/// `examples/policies/strict.yaml`: the reference policy's one home, with a single origin.
const STRICT_YAML: &str = include_str!("../../examples/policies/strict.yaml");

/// A credentialed, non-public cors-flex policy listing `origins` and allowing `headers`, with
/// the reference methods, exposed header and max-age: `examples/policies/strict.yaml` with its
/// group's origins and headers replaced.
pub(crate) fn policy_yaml(origins: &[String], headers: &[&str]) -> String {
    let mut config = load(STRICT_YAML).to_config();
    let Some([group]) = config.origin_groups.as_deref_mut() else {
        panic!("invariant: strict.yaml has one origin group");
    };
    group.origins = origins.to_vec();
    group.headers = Some(headers.iter().map(|&header| header.to_owned()).collect());
    match Policy::from_config(&config) {
        Ok(policy) => policy.to_yaml(),
        Err(error) => panic!("invariant: the bench fixtures are valid policies:\n{error}"),
    }
}

/// Loads `yaml`, which the fixtures build and so know to be valid.
pub(crate) fn load(yaml: &str) -> Policy {
    match Policy::from_yaml_str(yaml, "bench.yaml") {
        Ok(loaded) => loaded.policy,
        Err(error) => panic!("invariant: the bench fixtures are valid policies:\n{error}\n{yaml}"),
    }
}

/// The reference policy with `total` origins ([`ALLOWED_ORIGIN`] last when `total > 2`) and the
/// reference headers content-type and x-token, or any header (`*`, mirrored) when
/// `mirror_headers`.
#[must_use]
pub fn reference_policy(total: usize, mirror_headers: bool) -> Policy {
    let headers: &[&str] = if mirror_headers { &["*"] } else { &["content-type", "x-token"] };
    load(&reference_policy_yaml(total, headers))
}

/// The reference policy's origins, for the peers' configurations.
pub(crate) fn reference_origins(total: usize) -> Vec<String> {
    origins_with_allowed_last(total)
}
