//! `MuleSoft` Flex Gateway `cors-flex` policies: read every real policy file, refuse broken ones
//! precisely, warn about risky ones, and compile the rest into an immutable [`Policy`].
//!
//! ```
//! # #[cfg(not(feature = "yaml"))]
//! # fn main() {}
//! # #[cfg(feature = "yaml")]
//! # fn main() -> Result<(), cors_policy::LoadError> {
//! use cors_policy::{Code, Policy};
//!
//! let yaml = r#"
//! publicResource: false
//! supportCredentials: true
//! originGroups:
//!   - origins: ["https://app.example.com"]
//!     accessControlMaxAge: 600
//!     allowedMethods:
//!       - {methodName: GET, isAllowed: true}
//!       - {methodName: post, isAllowed: true}
//!       - {methodName: DELETE, isAllowed: false}
//!     headers: [Content-Type, X-Token]
//!     exposedHeaders: [x-request-id]
//! "#;
//! let loaded = Policy::from_yaml_str(yaml, "cors.yaml")?;
//! let group = &loaded.policy.groups()[0];
//! assert_eq!(group.allow_methods_value().unwrap(), "GET, POST");
//! assert_eq!(group.allow_headers_value().unwrap(), "content-type, x-token");
//! assert_eq!(group.max_age_value(), "600");
//! assert!(loaded.warnings.is_empty());
//!
//! // Every problem at once, each with its line, column and key path.
//! let broken = "publicResource: false
//! originGroups:
//!   - origins: [\"https://a.test/x\"]
//!     exposeHeaders: []
//! ";
//! let error = Policy::from_yaml_str(broken, "cors.yaml").unwrap_err();
//! assert_eq!(error.diagnostics().len(), 2);
//! assert_eq!(error.diagnostics()[1].code(), Code::UnknownKey);
//! assert_eq!(
//!     error.diagnostics()[1].to_string(),
//!     "cors.yaml:4:5: error: originGroups[0].exposeHeaders: unknown key \"exposeHeaders\", \
//!      did you mean \"exposedHeaders\"?",
//! );
//! # Ok(())
//! # }
//! ```
//!
//! Policies can be written in code too, with the same validation as files; each error names the
//! builder method and the value it was given:
//!
//! ```
//! use std::time::Duration;
//!
//! use cors_policy::{OriginGroup, Policy};
//!
//! let policy = Policy::builder()
//!     .credentials(true)
//!     .group(
//!         OriginGroup::new(["https://app.example.com", "https://*.app.example.com"])
//!             .allow_methods(["GET", "POST"])
//!             .allow_headers(["content-type"])
//!             .expose_headers(["x-request-id"])
//!             .max_age(Duration::from_secs(600)),
//!     )
//!     .build()?;
//! assert_eq!(policy.groups()[0].allow_headers_value().unwrap(), "content-type");
//! assert!(policy.lint().is_empty());
//!
//! let error = Policy::builder()
//!     .group(OriginGroup::new(["https://a.example/path"]).allow_methods(["GE T"]))
//!     .build()
//!     .unwrap_err();
//! assert_eq!(error.problems().len(), 2);
//! assert_eq!(
//!     error.problems()[0].to_string().split("; hint").next(),
//!     Some("allow_origins: \"https://a.example/path\": path is not allowed in an origin (byte 17)"),
//! );
//!
//! // A public resource without credentials: `*` for every origin.
//! assert!(Policy::public().is_public_resource());
//! # Ok::<(), cors_policy::BuildError>(())
//! ```
//!
//! Files are loaded with [`Policy::from_yaml_file`], which caps their size before reading:
//!
//! ```
//! # #[cfg(not(feature = "yaml"))]
//! # fn main() {}
//! # #[cfg(feature = "yaml")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use cors_policy::Policy;
//! # let path = std::env::temp_dir().join(format!("cors-policy-doc-{}.yaml", std::process::id()));
//! # std::fs::write(&path, "publicResource: false\nsupportCredentials: true\noriginGroups:\n  \
//! #     - {origins: [https://app.example.com], allowedMethods: [{methodName: GET, isAllowed: true}, \
//! #        {methodName: POST, isAllowed: true}, {methodName: PUT, isAllowed: true}]}\n")?;
//! let loaded = Policy::from_yaml_file(&path)?;
//! assert!(loaded.policy.supports_credentials());
//! assert_eq!(loaded.policy.groups()[0].allow_methods_value().unwrap(), "GET, POST, PUT");
//! # std::fs::remove_file(&path)?;
//! # Ok(())
//! # }
//! ```
//!
//! # Spec conformance
//!
//! Implements section 1 of the project's behaviour rules (`docs/behaviour.md` in the repository):
//! - **C1** keys and defaults: `publicResource` true, `supportCredentials` false, max-age 30,
//!   the eight default methods (CONNECT, DELETE, GET, OPTIONS, PATCH, POST, PUT, TRACE) when
//!   `allowedMethods` is absent, `isAllowed: false` entries dropped, `name` optional. Group keys
//!   are siblings inside each group, as in every real Flex example (the documentation's prose
//!   nests them wrongly).
//! - **C2** shapes ([`FileShape`]): the bare `config:` body or a top-level `config:` key; a
//!   `- policyRef: {name: cors-flex}` list entry with `config:` next to `policyRef` (settings
//!   written under `policyRef`, as the Flex documentation's broken example does, are refused with
//!   a hint); an `ApiInstance` (`spec.address` is [`LoadedPolicy::listen`], whose `https`
//!   scheme [`LoadedPolicy::listens_on_https`] tells the adapters for R2, the first
//!   `spec.services.<name>.address` is [`LoadedPolicy::upstream`], other policies are listed in
//!   [`LoadedPolicy::ignored_policies`] with a warning); a `PolicyBinding`
//!   (`spec.policyRef`, `spec.config`). A file with several `---` documents may pair an
//!   `ApiInstance` with `PolicyBinding`s; exactly one `cors-flex` policy is required.
//! - **C3** errors, all at once, `FILE:LINE:COLUMN: error: KEY.PATH: message` ([`Diagnostic`]).
//!   Scalars are typed by our rules, not YAML's: plain `true`/`false` are booleans, plain digits
//!   are integers (a leading `+` allowed: `+5` is 5, as in YAML's core schema; `-0` is 0), a
//!   leading zero (`010`, `-00`) is a wrong-type error, since YAML readers disagree on what it
//!   means, and a quoted `"true"` or `"30"` is a string and a wrong-type error where a boolean
//!   or integer is expected. A key whose value is empty or `null` counts as absent (its default applies), as
//!   serde does for optional fields. Only the first YAML syntax error is reported (the parser
//!   cannot continue past it).
//! - **Tags.** Only the YAML 1.2 core schema's tags are read, in any spelling that resolves to
//!   them (`!!str`, `!<tag:yaml.org,2002:str>`, a `%TAG` handle for `tag:yaml.org,2002:`), and
//!   never change what a value means without a word. `!!str` makes a scalar a string, as quotes
//!   do (so `publicResource: !!str false` is the same wrong-type error as `"false"`); `!!bool`,
//!   `!!int`, `!!float`, `!!null`, `!!seq` and `!!map` are accepted on a value the core schema
//!   already reads as their type, quoted or not (`!!int "600"` is 600), and change nothing else.
//!   Any other tag (`!foo`, the non-specific `!`, YAML 1.1's `!!binary` or `!!timestamp`, a
//!   `!!` handle redefined elsewhere), and a core tag on a value of another type (`!!int true`,
//!   `!!float 30`, `!!map [a]`), is a [`Code::Tag`] error at the tag, naming it. Every such
//!   error is reported with the file's other problems: the tagged value is read as written,
//!   without its tag, so `supportCredentials: !str x` is a tag error and a wrong type.
//! - **C4** origins canonicalized by `cors-origin` (a trailing `/` is tolerated and linted);
//!   method names equal ignoring case to DELETE, GET, HEAD, OPTIONS, POST or PUT upper-cased,
//!   others kept byte-exact; header names lower-cased; duplicates dropped (first kept); `*`
//!   anywhere in `headers` allows any header ([`AllowedHeaders::Any`]).
//! - **C5** lints ([`Policy::lint`]), one [`Code`] each. CONNECT and TRACE are linted only when
//!   written explicitly, not when they come from the C1 defaults, so that every file relying on
//!   the defaults does not warn. The public-suffix lint uses a small built-in list
//!   ([`PUBLIC_SUFFIXES`]), documented as partial. While `publicResource` is true only the
//!   policy-level lints run, since groups are ignored.
//!
//! The compiled [`Policy`] is the only compiled form: each [`Group`] holds the response header
//! values the engine sends (`Access-Control-Allow-Methods`, `-Allow-Headers`, `-Expose-Headers`,
//! `-Max-Age`) as [`http::HeaderValue`]s, joined once here ([`Group::allow_methods_value`] and its
//! siblings), so an answer only clones reference counts.
//!
//! [`Policy::to_config`] and [`Policy::to_yaml`] write the normalized configuration back (every
//! key explicit, except `allowedMethods` where the defaults applied).
//!
//! # Flex Local Mode folders
//!
//! With the `local-mode` feature (off by default; `cors-gateway` turns it on):
//! `LocalConfig` reads a whole Flex Gateway Local Mode configuration, as Flex reads its
//! configuration folder: every YAML document of every `.yaml`/`.yml` file, in name order, per
//! the Declarative Configuration Reference Guide
//! (<https://docs.mulesoft.com/gateway/latest/flex-local-configuration-reference-guide>).
//! `ApiInstance`s become `Listener`s (instances on one address are told apart by base path),
//! each `ApiInstance` with its `cors-flex` `Policy` (inline or through a `PolicyBinding`)
//! and its `Route`s: inline `spec.services.<name>` with their `routes`, and `Service`
//! resources reached through the `route` policy ("Traffic Management for Multiple Upstream
//! Services",
//! <https://docs.mulesoft.com/gateway/latest/policies-included-traffic-management-route>).
//! `ApiInstance::route` chooses a route for a request and computes the upstream path.
//! `Configuration` and other kinds we do not implement are ignored with a warning that names
//! them. Every problem of every file is reported at once, each with `FILE:LINE:COLUMN`.
//! What we chose where the guide is silent is stated in the `local` module's sources and in
//! `docs/decisions.md`.
//!
//! # Untrusted input
//!
//! Policy files may come from anywhere; loading one is bounded and never panics:
//! - at most [`MAX_FILE_SIZE`] (1 MiB), checked before reading a file;
//! - invalid UTF-8 is reported at the line and column of the first bad byte, and a file in
//!   UTF-16 or UTF-32 with its encoding named;
//! - a control character other than tab and line breaks (a NUL would end the text for the
//!   parser), nesting deeper than 64 levels (aliases' expansions included), more than 100 000
//!   nodes or more text than four times the file's size (at least 1 MiB), counting alias
//!   expansions and the copies anchors keep (so "billion laughs" fails fast, of many nodes or
//!   of long texts), and more than 16 documents are errors;
//! - positions count lines and characters (not bytes) from 1.
//!
//! A Local Mode folder (`local-mode` feature) is bounded too: at most `MAX_FILES` files and `MAX_FOLDER_SIZE`
//! (16 MiB) in all, and at most `MAX_PATTERNS` route expressions of at most
//! `MAX_PATTERN_LEN` bytes each, compiled by the `regex` crate (linear-time matching) with a
//! size limit.
//!
//! # Crate features
//!
//! - `serde` (default): `Serialize`/`Deserialize` for [`CorsConfig`] and friends, with Flex's
//!   camelCase names and unknown keys refused.
//! - `yaml` (default, implies `serde`): [`Policy::from_yaml_str`], [`Policy::from_yaml_file`],
//!   [`Policy::to_yaml`], [`LoadedPolicy`], [`FileShape`]. Reading uses `yaml-rust2`'s event
//!   parser (for positions), writing uses `serde_yaml`; both stay inside one private module.
//! - `local-mode` (implies `yaml`): Flex Local Mode folders, `LocalConfig` and its listeners,
//!   instances and routes, with `url` for addresses and `regex` for route rules. `cors-gateway`
//!   enables it; the tower layer does not need it.
//!
//! With neither feature, the raw model, [`Policy::from_config`], the builder
//! ([`Policy::builder`], [`Policy::public`]), the compiled [`Policy`] and its accessors, and
//! [`Policy::lint`] remain: that is what `cors-engine` uses.
//!
// Without `yaml` the items above that it brings do not exist (a program that depends on
// `cors-engine` alone builds these docs so): their names link to "Crate features" instead.
#![cfg_attr(not(feature = "yaml"), doc = "[`FileShape`]: #crate-features")]
#![cfg_attr(not(feature = "yaml"), doc = "[`LoadedPolicy`]: #crate-features")]
#![cfg_attr(not(feature = "yaml"), doc = "[`LoadedPolicy::ignored_policies`]: #crate-features")]
#![cfg_attr(not(feature = "yaml"), doc = "[`LoadedPolicy::listen`]: #crate-features")]
#![cfg_attr(not(feature = "yaml"), doc = "[`LoadedPolicy::listens_on_https`]: #crate-features")]
#![cfg_attr(not(feature = "yaml"), doc = "[`LoadedPolicy::upstream`]: #crate-features")]
#![cfg_attr(not(feature = "yaml"), doc = "[`MAX_FILE_SIZE`]: #crate-features")]
#![cfg_attr(not(feature = "yaml"), doc = "[`Policy::from_yaml_file`]: #crate-features")]
#![cfg_attr(not(feature = "yaml"), doc = "[`Policy::from_yaml_str`]: #crate-features")]
#![cfg_attr(not(feature = "yaml"), doc = "[`Policy::to_yaml`]: #crate-features")]

mod builder;
mod config;
mod diagnostic;
mod lint;
#[cfg(feature = "yaml")]
mod load;
#[cfg(feature = "local-mode")]
mod local;
pub mod path;
mod policy;
mod site;
mod token;
#[cfg(feature = "yaml")]
mod yaml;

pub use builder::{BuildError, BuildProblem, OriginGroup, PolicyBuilder};
pub use config::{CorsConfig, MethodConfig, OriginGroupConfig};
pub use diagnostic::{Code, Diagnostic, LoadError, Severity};
pub use lint::{PUBLIC_SUFFIXES, is_public_suffix};
#[cfg(feature = "yaml")]
pub use load::{API_VERSION, FileShape, LoadedPolicy, MAX_FILE_SIZE, POLICY_NAME, WrittenAddress};
#[cfg(feature = "local-mode")]
pub use local::{
    ApiInstance, HttpAddress, Listener, LocalConfig, MAX_FILES, MAX_FOLDER_SIZE, MAX_PATTERN_LEN,
    MAX_PATTERNS, Route, RouteHeaders, RouteMatch, RouteRequest, RouteRule, Scheme, Upstream,
};
pub use policy::{AllowedHeaders, DEFAULT_MAX_AGE, Group, Policy};
pub use token::{is_tchar, is_token};

/// The README's examples, compiled and run as doc tests so that they stay true (they read YAML).
#[cfg(all(doctest, feature = "yaml"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
