//! Policies shared by the integration tests, written as cors-flex YAML and loaded via cors-policy.

#![allow(dead_code, reason = "each test file uses a different subset")]

pub(crate) mod invariants;

use std::collections::HashMap;
use std::sync::LazyLock;

use cors_engine::Engine;
use cors_policy::Policy;

/// M2: public resource without credentials; its groups are ignored.
pub(crate) const PUBLIC: &str = r#"
publicResource: true
originGroups:
  - name: ignored
    origins: ["https://app.example"]
    allowedMethods: [{ methodName: GET, isAllowed: true }]
    exposedHeaders: [x-ignored]
"#;

/// M2: public resource with credentials.
pub(crate) const PUBLIC_CREDENTIALS: &str = r"
publicResource: true
supportCredentials: true
";

/// One group, with credentials.
pub(crate) const CREDENTIALS: &str = r#"
publicResource: false
supportCredentials: true
originGroups:
  - name: partners
    origins: ["https://app.example", "http://localhost:8080"]
    allowedMethods:
      - { methodName: GET, isAllowed: true }
      - { methodName: POST, isAllowed: true }
      - { methodName: PUT, isAllowed: true }
      - { methodName: DELETE, isAllowed: false }
    headers: [X-Token, content-type]
    exposedHeaders: [x-request-id]
    accessControlMaxAge: 600
"#;

/// M3, O1: an explicit group beside a `*` group, and a group listing both.
pub(crate) const MIXED: &str = r#"
publicResource: false
originGroups:
  - name: partners
    origins: ["https://partner.example"]
    allowedMethods: [{ methodName: GET, isAllowed: true }, { methodName: POST, isAllowed: true }]
    headers: [x-token]
    exposedHeaders: [x-partner]
    accessControlMaxAge: 60
  - name: everyone
    origins: ["*"]
    allowedMethods: [{ methodName: GET, isAllowed: true }]
    accessControlMaxAge: 5
  - name: late
    origins: ["https://late.example", "*"]
    allowedMethods: [{ methodName: PATCH, isAllowed: true }]
"#;

/// M4, M5: subdomain patterns, an exact origin inside one, an explicit port, and `null`.
pub(crate) const SUBDOMAINS: &str = r#"
publicResource: false
originGroups:
  - name: wide
    origins: ["https://*.example.com"]
    allowedMethods: [{ methodName: GET, isAllowed: true }]
  - name: narrow
    origins: ["https://*.shop.example.com"]
    allowedMethods: [{ methodName: POST, isAllowed: true }]
  - name: exact
    origins: ["https://exact.shop.example.com"]
    allowedMethods: [{ methodName: PUT, isAllowed: true }]
  - name: ported
    origins: ["https://*.ported.example:8443"]
    allowedMethods: [{ methodName: GET, isAllowed: true }]
  - name: sandboxed
    origins: ["null"]
    allowedMethods: [{ methodName: GET, isAllowed: true }]
"#;

/// C1: an unnamed group with the default methods and max-age.
pub(crate) const DEFAULTS: &str = r#"
publicResource: false
originGroups:
  - origins: ["https://app.example"]
"#;

/// C3: `allowedMethods: []` allows no method.
pub(crate) const NO_METHODS: &str = r#"
publicResource: false
originGroups:
  - name: frozen
    origins: ["https://app.example"]
    allowedMethods: []
    headers: [x-token]
"#;

/// P4: `headers: ['*']` mirrors, with credentials.
pub(crate) const ANY_HEADERS: &str = r#"
publicResource: false
supportCredentials: true
originGroups:
  - name: open
    origins: ["https://app.example"]
    allowedMethods: [{ methodName: GET, isAllowed: true }, { methodName: PUT, isAllowed: true }]
    headers: ["*"]
    accessControlMaxAge: 100
"#;

/// Every policy above.
pub(crate) const ALL: [&str; 8] =
    [PUBLIC, PUBLIC_CREDENTIALS, CREDENTIALS, MIXED, SUBDOMAINS, DEFAULTS, NO_METHODS, ANY_HEADERS];

/// Loads a YAML policy.
pub(crate) fn policy(yaml: &str) -> Policy {
    Policy::from_yaml_str(yaml, "test.yaml").expect("test policy loads").policy
}

/// The engine of one of the policies above, built once per test binary.
pub(crate) fn engine(yaml: &'static str) -> &'static Engine {
    static ENGINES: LazyLock<HashMap<&'static str, Engine>> =
        LazyLock::new(|| ALL.iter().map(|yaml| (*yaml, Engine::new(policy(yaml)))).collect());
    ENGINES.get(yaml).expect("a policy of common::ALL")
}
