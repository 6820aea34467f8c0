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
//! The layer writes nothing of its own: local answers get [`cors_engine::Decision::apply`] (a
//! group's accepted preflight gets a clone of the first answer it wrote for that group, the same
//! fields in the same order, with the request's own origin and mirrored names written in), and a
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
//! The example drives the layer by hand, so besides this crate it needs `http`, `tower` with its
//! `util` feature (`ServiceBuilder::service_fn`, `ServiceExt::oneshot`) and `tokio` with `rt`
//! (the runtime it runs the request on; a server brings its own):
//!
//! ```toml
//! [dependencies]
//! cors-hyper = "0.1"
//! http = "1"
//! tower = { version = "0.5", features = ["util"] }
//! tokio = { version = "1", features = ["rt"] }
//! ```
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
//! hyper, wrap the layered service in `hyper_util::service::TowerToHyperService` (hyper-util's
//! `service` feature). Both are shown in the repository's `crates/cors-hyper/examples/`
//! (`cargo run -p cors-hyper --example axum`, `--example hyper`); the published package carries
//! the hyper one, since the axum one reads the repository's example policy.
//!
//! To replace the policy while serving, build the layer with [`CorsLayer::from_shared`] and call
//! [`SharedEngine::replace`]: each request is decided by exactly one policy.
//!
//! # Where the layer goes
//!
//! Outside every layer that may answer by itself: authentication, rate limits, timeouts, body
//! size limits, error handlers. A preflight carries no credentials, so an authentication layer
//! in front of this one refuses it and the browser never sends the real request; and an answer
//! made in front of this layer (a `401`, `408` or `429`) has no `Access-Control-*` field, so the
//! page sees a CORS error where the status was meant for it. With axum the last `.layer(..)`
//! is the outermost; with `tower::ServiceBuilder` the first.
//! The layer's `poll_ready` is the inner service's (tower's contract gives it no other way to
//! know whether the next request will be forwarded): behind a concurrency limit inside it, a
//! preflight waits for a free slot like any request, and once answered holds none.
//!
//! axum's `Router::layer` wraps every route and the fallback, so the layer sees every request,
//! paths no route matches included; `Router::route_layer` does not, and a path no route matches
//! gets axum's `404` without `Vary: Origin` or any CORS field, its preflights too. axum adds
//! `Allow` to the layer's local answers for a method a route does not serve; browsers ignore it.
//! To run the layer before routing, wrap the router and turn the answers back into axum's
//! response type, as `axum::serve` wants it. Besides the dependencies above, this example needs
//! `axum = "0.8"` and tokio's `macros` feature (`#[tokio::main]`):
//!
//! ```toml
//! [dependencies]
//! axum = "0.8"
//! tokio = { version = "1", features = ["macros", "rt"] }
//! ```
//!
//! ```
//! use axum::{Router, body::Body, extract::Request, middleware::{self, Next}, routing::get};
//! use axum::response::{IntoResponse, Response};
//! use cors_hyper::{CorsLayer, OriginGroup, Policy};
//! use http::StatusCode;
//! use tower::{ServiceBuilder, ServiceExt as _};
//!
//! async fn authenticate(request: Request, next: Next) -> Response {
//!     if request.headers().contains_key("authorization") {
//!         next.run(request).await
//!     } else {
//!         StatusCode::UNAUTHORIZED.into_response()
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let group = OriginGroup::new(["https://app.example.com"]).allow_headers(["authorization"]);
//! let cors = CorsLayer::new(Policy::builder().credentials(true).group(group).build()?);
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(middleware::from_fn(authenticate))
//!     .layer(cors.clone()); // last: the outermost
//!
//! // The preflight is answered before authentication, and the refusal can be read by the page.
//! let preflight = Request::options("/")
//!     .header("origin", "https://app.example.com")
//!     .header("access-control-request-method", "GET")
//!     .header("access-control-request-headers", "authorization")
//!     .body(Body::empty())?;
//! assert_eq!(app.clone().oneshot(preflight).await?.status(), StatusCode::OK);
//! let anonymous =
//!     Request::get("/").header("origin", "https://app.example.com").body(Body::empty())?;
//! let refused = app.oneshot(anonymous).await?;
//! assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(refused.headers()["access-control-allow-origin"], "https://app.example.com");
//!
//! // Before routing, served by `axum::serve(listener, make_service)`.
//! let router = Router::new().route("/", get(|| async { "hello" }));
//! let app = ServiceBuilder::new()
//!     .map_response(IntoResponse::into_response)
//!     .layer(cors)
//!     .service(router);
//! let make_service = axum::ServiceExt::<Request>::into_make_service(app);
//! # drop(make_service);
//! # Ok(()) }
//! ```
//!
//! Behind TLS, terminated by the service or by a proxy in front of it, set
//! [`CorsLayer::listener_scheme`] to [`ListenerScheme::Https`] (a layer that
//! [`CorsLayer::from_yaml_file`] loads from a Local Mode `ApiInstance` whose `spec.address` is
//! `https://...` has it already, as the Envoy filter does). With the default `http`, a page
//! of the site itself, sending `Origin: https://` and its own host, is not recognised as
//! same-origin (R2): it is a CORS request, and refused (A2) unless the policy lists the site.
//! For the same reason a proxy in front must pass on the `Host` the browser sent (nginx sends
//! its upstream's own unless told `proxy_set_header Host $host;`); the layer never reads
//! `X-Forwarded-Host`, which a client can write.
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
//!   by default or an `ApiInstance` file's `https` listener, never the request line) and the
//!   authority the request is addressed to: the request target's (`:authority` in HTTP/2, an
//!   absolute-form target in HTTP/1.1, which wins over `Host` as RFC 9112 section 3.2.2 says),
//!   else the `Host` field.
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
//! - `yaml` (default): [`CorsLayer::from_yaml_file`], and the YAML loaders of the re-exported
//!   [`Policy`] (cors-policy's `yaml` feature: serde and a YAML parser). A service that builds its
//!   policy with [`Policy::builder`] can leave it out (`default-features = false`).
//!
//! Beyond those, the crate needs only `http`, `http-body`, `pin-project-lite`, `tower-layer`,
//! `tower-service` and `tracing` (plus `cors-engine` and `cors-policy`): no async runtime, no
//! server, no command-line parser.
//! The `cors-gateway` reverse proxy, built on this layer, is a package of its own.
//!
// Without `yaml` the loaders above do not exist: their names link to "Crate features" instead.
#![cfg_attr(not(feature = "yaml"), doc = "[`CorsLayer::from_yaml_file`]: #crate-features")]
#![cfg_attr(not(feature = "yaml"), doc = "[`Policy::from_yaml_str`]: #crate-features")]

mod answers;
mod body;
mod layer;
mod shared;
mod walked;

pub use body::CorsBody;
pub use cors_engine::{Engine, Outcome, Rule};
pub use cors_policy::{BuildError, LoadError, OriginGroup, Policy};
pub use layer::{Cors, CorsLayer, ListenerScheme, ResponseFuture};
pub use shared::SharedEngine;

/// The README's examples, compiled and run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
