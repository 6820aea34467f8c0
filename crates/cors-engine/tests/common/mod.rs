//! The policies the integration tests decide under: profiles of the conformance suite
//! (`spec-tests/profiles/*.yaml`, their one home), read from their files at test time.

#![allow(dead_code, reason = "each test file uses a different subset")]

pub(crate) mod invariants;

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

use cors_engine::Engine;
use cors_policy::Policy;

/// M2: a public resource without credentials; its one group is ignored.
pub(crate) const PUBLIC: &str = "public";

/// M2: a public resource with credentials.
pub(crate) const PUBLIC_CREDENTIALS: &str = "public-credentials";

/// One credentialed group `app` listing `https://app.example.test` (among others): GET, POST and
/// PUT (DELETE with `isAllowed: false`), headers x-custom and content-type, max-age 600.
pub(crate) const CREDENTIALS: &str = "strict-credentials";

/// M3, M4, M5: the `*` group `fallback` first (GET), explicit partners, subdomain patterns,
/// an origin in two groups, `null` in the group `sandbox` (POST).
pub(crate) const GROUPS: &str = "groups";

/// M5: the group `subdomains` (GET, POST) of `https://*.example.test` and
/// `http://*.dev.example.test:8080`.
pub(crate) const SUBDOMAINS: &str = "subdomains";

/// C1: a group `app` for `https://app.example.test` without `allowedMethods` or max-age.
pub(crate) const DEFAULTS: &str = "default-methods";

/// C3: `allowedMethods: []` allows no method.
pub(crate) const NO_METHODS: &str = "no-methods";

/// P4: `headers: ['*']` mirrors, with credentials: the group `app` for
/// `https://app.example.test`, GET, POST and PUT, max-age 60.
pub(crate) const ANY_HEADERS: &str = "wildcard-headers";

/// Every profile above.
pub(crate) const ALL: [&str; 8] = [
    PUBLIC,
    PUBLIC_CREDENTIALS,
    CREDENTIALS,
    GROUPS,
    SUBDOMAINS,
    DEFAULTS,
    NO_METHODS,
    ANY_HEADERS,
];

/// Loads the profile `name` from `spec-tests/profiles/`.
pub(crate) fn policy(name: &str) -> Policy {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../spec-tests/profiles")
        .join(format!("{name}.yaml"));
    Policy::from_yaml_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).policy
}

/// The engine of one of the profiles above, built once per test binary.
pub(crate) fn engine(name: &'static str) -> &'static Engine {
    static ENGINES: LazyLock<HashMap<&'static str, Engine>> =
        LazyLock::new(|| ALL.iter().map(|name| (*name, Engine::new(policy(name)))).collect());
    ENGINES.get(name).expect("a profile of common::ALL")
}
