//! A CORS conformance suite derived from the Fetch standard and the web-platform-tests, runnable
//! against any gateway.
//!
//! The cases are data (`cases/*.toml`, documented in `cases/SCHEMA.md`), compiled into the crate.
//! Each names the `cors-flex` profile it needs (`profiles/*.yaml`), the request to send, and what
//! the answer must look like. One runner ([`runner::run`]) sends them to a [`Target`], used three
//! ways: cors-engine in-process ([`EngineTarget`], its decisions applied as an adapter applies
//! them), cors-hyper's tower layer in-process ([`TowerTarget`]), and any gateway over HTTP
//! ([`HttpTarget`]) in front of the suite's echo upstream ([`upstream`]). It reports every failure
//! with the case id, the expectation and what came back, and applies `known-failures.toml` with
//! stale detection. [`differential`] compares a gateway with the engine on random requests.
//!
//! ```
//! use cors_conformance::{Corpus, Level, Selection};
//!
//! let corpus = Corpus::builtin()?;
//! let selection = Selection::all().profile("strict").levels(vec![Level::Fetch]);
//! let count = corpus.cases().iter().filter(|case| selection.selects(case)).count();
//! assert!(count > 0);
//! # Ok::<(), cors_conformance::DataError>(())
//! ```
//!
//! # Spec conformance
//!
//! Cases cite the Fetch standard sections they derive from (the CORS protocol, the CORS check,
//! the CORS-preflight fetch, "CORS protocol and HTTP caches"), the WPT `fetch/api/cors/` file
//! they transcribe where one exists, and the rule ids of the project's behaviour contract. Each
//! case has a level: `fetch` (what browsers need for the policy to work as intended), `flex`
//! (the documented behaviour of Flex Gateway's `cors-flex` policy) or `ours` (this project's choices). WPT tests
//! observe browsers; the cases here observe the server side of the same exchanges, so they
//! transcribe the server answers a WPT test needs, not its browser-side assertions.
//!
//! # Untrusted input
//!
//! The suite sends hostile requests on purpose; it reads answers from the target with a timeout
//! per exchange and never panics on what comes back. Case data is trusted (compiled in) but still
//! validated on load, reporting every problem at once.
//!
//! # Crate features
//!
//! None.

pub mod case;
pub mod check;
pub mod differential;
pub mod error;
mod explain_check;
pub mod http_target;
pub mod in_process;
pub mod input;
pub mod known;
pub mod peer;
pub mod profile;
pub mod report;
pub mod runner;
pub mod settle;
pub mod setup;
pub mod target;
pub mod upstream;

pub use case::{Case, Corpus, Level};
pub use check::{Mismatch, Observed};
pub use error::{DataError, TargetError, TargetErrorKind};
pub use http_target::{HttpOptions, HttpTarget, Tls, UpstreamLog};
pub use in_process::{EchoUpstream, EngineTarget, ServiceTarget, TowerTarget};
pub use known::KnownFailures;
pub use runner::{Report, Selection};
pub use target::{OutgoingRequest, Target};
