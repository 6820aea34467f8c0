//! The one configuration every peer is given: a cors-flex [`Policy`] flattened to the settings a
//! single, global CORS configuration can hold (one origin list, one method list, ...).
//!
//! Peers have no origin groups, so the groups of a profile are merged: the union of their
//! origins, methods, headers and exposed headers, and the first group's max-age.
//! The cases that depend on per-group settings are listed as unsupported in each peer's
//! `unsupported.toml`; the merge itself only makes sure nothing the policy allows is refused.

use cors_origin::{OriginPattern, RequestOrigin, SubdomainPattern};
use cors_policy::{AllowedHeaders, Policy};

/// Which origins a flattened configuration allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origins {
    /// Some group lists `*` (or the resource is public): every origin is allowed.
    pub any: bool,
    /// Exact origins, canonical serializations, in file order (`null` included when listed).
    pub exact: Vec<String>,
    /// Subdomain patterns, in file order.
    pub patterns: Vec<SubdomainPattern>,
}

impl Origins {
    /// Whether the request's `Origin` value is allowed, using cors-origin's matchers (the
    /// predicate a Rust user of a peer would write with this toolkit).
    #[must_use]
    pub fn allows(&self, value: &[u8]) -> bool {
        if self.any {
            return true;
        }
        let Ok(origin) = RequestOrigin::parse(value) else { return false };
        self.exact.iter().any(|exact| exact.as_bytes() == value)
            || self.patterns.iter().any(|pattern| pattern.matches(&origin))
    }

    /// One anchored regular expression per subdomain pattern, in the common syntax of Envoy's
    /// RE2, nginx's PCRE and JavaScript: `^https://([a-z0-9-]+\.)+example\.test$`.
    #[must_use]
    pub fn pattern_regexes(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|pattern| {
                let port = pattern.port().map(|port| format!(":{port}")).unwrap_or_default();
                format!(
                    "^{}://([a-z0-9-]+\\.)+{}{}$",
                    pattern.scheme(),
                    pattern.domain().replace('.', "\\."),
                    port
                )
            })
            .collect()
    }
}

/// What a request may ask for in a preflight: a fixed list, or whatever it asks (mirrored).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requested {
    /// Mirror the request's `Access-Control-Request-*` value (public resources, `headers: ['*']`).
    Mirror,
    /// This list, in file order.
    List(Vec<String>),
}

/// A policy flattened to one global CORS configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flat {
    /// Allowed origins.
    pub origins: Origins,
    /// `supportCredentials`.
    pub credentials: bool,
    /// `publicResource`.
    pub public: bool,
    /// Allowed methods.
    pub methods: Requested,
    /// Allowed request headers (lower-case).
    pub headers: Requested,
    /// Exposed headers (lower-case).
    pub expose: Vec<String>,
    /// The max-age to send; `None` for public resources (P5 sends none).
    pub max_age: Option<u64>,
    /// How many origin groups were merged.
    pub groups: usize,
}

impl Flat {
    /// Flattens `policy` (see the module documentation).
    #[must_use]
    pub fn from_policy(policy: &Policy) -> Flat {
        if policy.is_public_resource() {
            return Flat {
                origins: Origins { any: true, exact: Vec::new(), patterns: Vec::new() },
                credentials: policy.supports_credentials(),
                public: true,
                methods: Requested::Mirror,
                headers: Requested::Mirror,
                expose: Vec::new(),
                max_age: None,
                groups: 0,
            };
        }
        let mut origins = Origins { any: false, exact: Vec::new(), patterns: Vec::new() };
        let mut methods = Vec::new();
        let mut headers = Vec::new();
        let mut any_header = false;
        let mut expose = Vec::new();
        for group in policy.groups() {
            for pattern in group.origins() {
                match pattern {
                    OriginPattern::Any => origins.any = true,
                    OriginPattern::Null => push_unique(&mut origins.exact, "null"),
                    OriginPattern::Exact(origin) => {
                        push_unique(&mut origins.exact, origin.as_str());
                    }
                    OriginPattern::Subdomains(pattern) if !origins.patterns.contains(pattern) => {
                        origins.patterns.push(pattern.clone());
                    }
                    _ => {}
                }
            }
            for method in group.methods() {
                push_unique(&mut methods, method);
            }
            match group.headers() {
                AllowedHeaders::List(list) => {
                    for header in list {
                        push_unique(&mut headers, &header.to_ascii_lowercase());
                    }
                }
                _ => any_header = true,
            }
            for header in group.exposed_headers() {
                push_unique(&mut expose, header);
            }
        }
        Flat {
            origins,
            credentials: policy.supports_credentials(),
            public: false,
            methods: Requested::List(methods),
            headers: if any_header { Requested::Mirror } else { Requested::List(headers) },
            expose,
            max_age: Some(policy.groups().first().map_or(30, cors_policy::Group::max_age)),
            groups: policy.groups().len(),
        }
    }
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|existing| existing == item) {
        list.push(item.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn flat(profile: &str) -> Flat {
        let yaml = crate::profile::get(profile).expect("the profile exists").yaml;
        let loaded = Policy::from_yaml_str(yaml, profile).expect("the profile loads");
        Flat::from_policy(&loaded.policy)
    }

    #[track_caller]
    fn check(profile: &str, origin: &str, allowed: bool) {
        assert_eq!(flat(profile).origins.allows(origin.as_bytes()), allowed, "{profile} {origin}");
    }

    #[rstest]
    #[case::exact_origin_is_allowed("strict", "https://app.example.test", true)]
    #[case::other_origin_is_refused("strict", "https://evil.example.test", false)]
    #[case::upper_case_request_origin_is_refused("strict", "HTTPS://APP.EXAMPLE.TEST", false)]
    #[case::subdomain_is_allowed("subdomains", "https://a.b.example.test", true)]
    #[case::bare_domain_is_refused("subdomains", "https://example.test", false)]
    #[case::null_listed_in_a_group_is_allowed("groups", "null", true)]
    #[case::public_allows_anything("public", "whatever", true)]
    fn origins_are_matched_as_the_policy_says(
        #[case] profile: &str,
        #[case] origin: &str,
        #[case] allowed: bool,
    ) {
        check(profile, origin, allowed);
    }

    #[test]
    fn groups_are_merged_into_one_union() {
        let flat = flat("groups");
        assert!(flat.origins.any);
        assert_eq!(flat.groups, 7);
        assert_eq!(
            flat.methods,
            Requested::List(["GET", "POST", "DELETE", "PATCH", "PUT"].map(str::to_owned).to_vec())
        );
        assert_eq!(flat.max_age, Some(5));
    }

    #[test]
    fn public_resources_mirror_and_send_no_max_age() {
        let flat = flat("public");
        assert_eq!(
            (flat.methods, flat.headers, flat.max_age),
            (Requested::Mirror, Requested::Mirror, None)
        );
    }

    #[test]
    fn subdomain_patterns_become_anchored_regexes() {
        assert_eq!(
            flat("subdomains").origins.pattern_regexes(),
            [
                "^https://([a-z0-9-]+\\.)+example\\.test$",
                "^http://([a-z0-9-]+\\.)+dev\\.example\\.test:8080$"
            ]
        );
    }
}
