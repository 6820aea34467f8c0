//! Fixtures of the CORS toolkit's benchmarks: the policies, the requests of every scenario, and
//! the middlewares measured side by side (ours, tower-http's and actix-cors) over one trivial
//! handler.
//!
//! The criterion benches (`benches/engine.rs`, `benches/layer.rs`), the allocation counts
//! (`benches/allocations.rs`, `tests/allocations.rs`) and `cargo xtask bench` all take their
//! scenarios from here, so a scenario means the same request everywhere.
//!
//! ```
//! use cors_benches::{LayerScenario, Subject, cors_hyper};
//!
//! let mut ours = cors_hyper(LayerScenario::Preflight);
//! let request = ours.request(LayerScenario::Preflight);
//! let response = ours.call(request);
//! assert_eq!(response.headers()["access-control-max-age"], "600");
//! ```
//!
//! # Spec conformance
//!
//! Not applicable: this package measures, it decides nothing.
//! So that a fast wrong answer is never reported as a win, every engine case checks its outcome
//! before it is measured ([`EngineCase::check`]), and `tests/scenarios.rs` asserts that each
//! middleware answers every layer scenario as the scenario is named.
//!
//! # Untrusted input
//!
//! The hostile scenarios ([`EngineCase`] groups `engine-hostile-*`) feed the engine what an
//! attacker would send: 64 KiB of commas in `Access-Control-Request-Headers`, 1 000 header
//! names, an 8 KiB `Origin`.
//!
//! # Crate features
//!
//! None. The peers (tower-http, actix-web, actix-cors) are dependencies of this package only.

mod actix_side;
mod allocations;
pub mod chaos;
mod engine_cases;
mod listen;
mod policies;
mod scenario;
pub mod soak;
mod tower_side;
mod user_policy;

pub use actix_side::ActixSubject;
pub use actix_side::{actix_bare, actix_cors, actix_with};
pub use allocations::{
    AllocationRow, Measure, count_engine_allocations, count_layer_allocations,
    count_user_allocations,
};
pub use engine_cases::{
    EngineCase, engine_cases, engine_cases_in, origin_inputs, policy_file_1000_origins,
};
pub use listen::{announce, listen_announced};
pub use policies::{
    ALLOWED_ORIGIN, DISALLOWED_ORIGIN, HOST, SECOND_ORIGIN, filler_origins, reference_policy,
    reference_policy_yaml,
};
pub use scenario::{Implementation, LayerScenario, ResponseSummary, Subject};
pub use tower_side::{Handler, TowerSubject, bare_tower, cors_hyper, request, tower_http};
pub use user_policy::{DerivedRequest, INSTANCE_ENV, Instance, POLICY_ENV, UserPolicy, Visit};

/// `docs/using-the-crates.md`'s Rust examples, compiled and run as doc tests here (a package that
/// is never published, and depends on every crate the guide shows) so the guide stays true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/using-the-crates.md")]
struct UsingTheCrates;

/// The repository README's Rust examples, compiled as doc tests here for the same reason (the
/// one that loads `examples/policies/strict.yaml` is compiled only: it names the file from the
/// repository's root).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct Readme;
