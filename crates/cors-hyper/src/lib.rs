//! CORS for hyper and axum: a tower layer applying cors-flex policies.
//!
//! [`CorsLayer`] wraps any tower service over [`http::Request`] and [`http::Response`].
//! For every request it asks [`cors_engine::Engine::decide`] what to do, then:
//!
//! - not a CORS request (R1, R2): forwards it, and only appends the `Vary` tokens the policy needs;
//! - a preflight (R3, P1-P6) or a blocked actual request (A2): answers it itself with status 200
//!   and an empty body, never calling the inner service;
//! - an allowed actual request (A1): forwards it, removes every `Access-Control-*` field the
//!   inner service set, sets the decided ones, and appends `Vary` without duplicating tokens (A4, V1).
//!
//! The layer writes nothing of its own: local answers get [`cors_engine::Decision::apply`], and a
//! forwarded request keeps [`cors_engine::OwnedDecision`] (the decision with its values cloned, an
//! echoed `Origin` by reference count) until the inner service's response comes back, then
//! applies it. That is the same procedure the proxy-wasm filter and the conformance suite's
//! in-process runner use.
//!
//! The response body is [`CorsBody<B>`]: the inner body untouched, or empty for local answers.
//! That keeps the layer usable over any body type, hyper's `Incoming` included, and axum takes it
//! as it is. It also says what was decided ([`CorsBody::outcome`], [`CorsBody::rule`]), for an
//! access log or a metric, at no cost.
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! use cors_hyper::{CorsLayer, OriginGroup, Policy};
//! use http::{Method, Request, Response};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = Policy::builder()
//!     .credentials(true)
//!     .group(
//!         OriginGroup::new(["https://app.example.com"])
//!             .allow_methods([Method::GET, Method::POST])
//!             .allow_headers(["content-type"])
//!             .expose_headers(["x-request-id"])
//!             .max_age(Duration::from_secs(600)),
//!     )
//!     .build()?;
//! let app = ServiceBuilder::new()
//!     .layer(CorsLayer::new(policy))
//!     .service_fn(|_: Request<String>| async { Ok::<_, Infallible>(Response::new("hi".to_owned())) });
//!
//! let request = Request::get("/").header("origin", "https://app.example.com").body(String::new())?;
//! let response = tokio::runtime::Builder::new_current_thread().build()?.block_on(app.oneshot(request))?;
//! assert_eq!(response.headers()["access-control-allow-origin"], "https://app.example.com");
//! assert_eq!(response.headers()["access-control-allow-credentials"], "true");
//! # Ok(()) }
//! ```
//!
//! [`Policy`], [`OriginGroup`] and their errors are re-exported from `cors-policy`, and the
//! [`Engine`] a [`SharedEngine`] swaps and the [`Outcome`] and [`Rule`] a [`CorsBody`] reports
//! from `cors-engine`, so this crate is the only CORS dependency a service needs. [`Policy::public`] allows every origin with `*`;
//! a policy file loads with [`CorsLayer::from_yaml_file`] or [`Policy::from_yaml_str`], and every
//! error names its value (a builder method, or a file's line and column).
//!
//! With axum, `Router::new().route(..).layer(CorsLayer::from_yaml_file("cors.yaml")?)`; with
//! hyper, wrap the layered service in `hyper_util::service::TowerToHyperService`. Both are shown
//! in the repository's `crates/cors-hyper/examples/` (`cargo run -p cors-hyper --example axum`,
//! `--example hyper`); the published package carries the hyper one, since the axum one reads
//! the repository's example policy.
//!
//! To replace the policy while serving, build the layer with [`CorsLayer::from_shared`] and call
//! [`SharedEngine::replace`]: each request is decided by exactly one policy.
//!
//! # Spec conformance
//!
//! The decisions are cors-engine's, following the project's behaviour contract (rule ids C*, R*,
//! M*, P*, A*, O*, V*); this crate applies them to HTTP messages:
//!
//! - A4: on an allowed request every upstream field whose name starts with `access-control-` is
//!   removed before the decided ones are set, so there is never a second `Access-Control-Allow-Origin`
//!   nor an upstream grant the policy did not make. Responses to non-CORS requests pass through.
//! - V1: `Vary` tokens are appended to the inner service's `Vary`, compared case-insensitively
//!   across all its lines; `Vary: *` already covers everything and is left alone.
//! - P1, P3, A2: local answers are `200` with an empty body.
//! - R2: the same-origin check uses the listener's scheme ([`CorsLayer::listener_scheme`], `http`
//!   by default, never the request line) and the authority the request is addressed to: the
//!   request target's (`:authority` in HTTP/2, an absolute-form target in HTTP/1.1, which wins
//!   over `Host` as RFC 9112 section 3.2.2 says), else the `Host` field.
//!   A request with two `Host` lines and no authority in its target is never same-origin.
//!
//! # Untrusted input
//!
//! Request fields are only read, through the engine, whose work is bounded (R5, P6) and which
//! never panics on what a client sends. The layer reflects an `Origin` by cloning the policy's
//! value of that exact origin, or else the request's own field value (a reference count either
//! way), and allocates nothing per request beyond the mirrored `Access-Control-Allow-Headers` of
//! a preflight that needs one and the response's own header entries. The response future is not
//! boxed.
//!
//! # Crate features
//!
//! None. The crate needs only `http`, `http-body`, `pin-project-lite`, `tower-layer`,
//! `tower-service` and `tracing` (plus `cors-engine` and `cors-policy`): no async runtime, no
//! server, no command-line parser.
//! The `cors-gateway` reverse proxy, built on this layer, is a package of its own.

mod body;
mod layer;
mod shared;

pub use body::CorsBody;
pub use cors_engine::{Engine, Outcome, Rule};
pub use cors_policy::{BuildError, LoadError, OriginGroup, Policy};
pub use layer::{Cors, CorsLayer, ListenerScheme, ResponseFuture};
pub use shared::SharedEngine;

/// The README's examples, compiled and run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
