//! The CORS decision engine: a request's method and header lines in, the decision and the exact
//! response headers out.
//!
//! [`Engine::new`] takes a validated [`cors_policy::Policy`] (a Flex Gateway `cors-flex`
//! configuration), compiled once with every header value it sends already built.
//! [`Engine::decide`] then classifies each request as not CORS, preflight (accepted or rejected),
//! blocked or allowed, and hands back the headers to send, as prebuilt [`http::HeaderValue`]s or
//! the request's own values.
//! It allocates nothing, does bounded work on any input, and never panics.
//! [`Engine::explain`] runs the same procedure and also returns the reasons, each naming the rule
//! of the behaviour contract it applies.
//!
//! The input side is the [`RequestHeaders`] trait, one method: the field lines of a name, in the
//! adapter's own value type ([`RequestHeaders::Value`]). It is implemented for [`http::HeaderMap`]
//! and for plain slices of pairs, so the engine serves the tower layer, the gateway, the
//! conformance suite and a proxy-wasm filter alike. A decision borrows those values and hands
//! back the ones it reflects as they are ([`Value::Request`]): the tower layer clones the
//! request's own `Origin` [`http::HeaderValue`], a reference count. An `Origin` equal to a
//! configured exact origin is echoed as the policy's own value instead ([`Value::Static`]), so an
//! answer to it holds nothing of the request.
//!
//! The output side is one procedure for every adapter: [`Decision::apply`] writes a decision into
//! any response that implements [`ResponseFields`] (read `Vary`, remove fields by prefix, append a
//! field; implemented for [`http::HeaderMap`]). An adapter that forwards the request before the
//! response arrives keeps [`Decision::into_owned`], an [`OwnedDecision`] that writes the same.
//!
//! So an adapter has two paths. When the decision is not [forwarded](Outcome::is_forwarded) (a
//! preflight, accepted or rejected, and a refused actual request, A2), it answers locally:
//! status 200, an empty body, [`Decision::apply`]. Otherwise (not CORS, or allowed) it keeps
//! [`Decision::into_owned`], forwards the request, and applies that to the response, which then
//! carries the `Vary` tokens of every answer (V1). [`Request::scheme`] is the scheme the client
//! used (`https` also when TLS ends in a proxy in front). `docs/using-the-crates.md` in the
//! repository, "Writing your own adapter", has one for actix-web and one for a hyper
//! `service_fn`, and says how to reload a policy while requests run (see also [`Engine`]).
//!
//! # Example
//!
//! The example reads the policy from YAML with cors-policy (its default `yaml` feature) and
//! writes the answer into an `http` header map:
//!
//! ```toml
//! [dependencies]
//! cors-engine = "0.1"
//! cors-policy = "0.1"
//! http = "1"
//! ```
//!
//! ```
//! use cors_engine::{Decision, Engine, Request};
//! use cors_policy::Policy;
//!
//! let yaml = r#"
//! publicResource: false
//! supportCredentials: true
//! originGroups:
//!   - name: partners
//!     origins: ["https://app.example.com"]
//!     allowedMethods:
//!       - { methodName: GET, isAllowed: true }
//!       - { methodName: PUT, isAllowed: true }
//!     headers: [x-token, content-type]
//!     accessControlMaxAge: 600
//! "#;
//! let policy = Policy::from_yaml_str(yaml, "cors.yaml")?.policy;
//! let engine = Engine::new(policy);
//!
//! let headers: &[(&str, &str)] = &[
//!     ("origin", "https://app.example.com"),
//!     ("access-control-request-method", "PUT"),
//!     ("access-control-request-headers", "x-token"),
//! ];
//! let request = Request::new(b"OPTIONS", headers).addressed_to("https", b"api.example.com");
//! let decision = engine.decide(&request);
//!
//! let Decision::Preflight { accepted: true, headers, .. } = decision else {
//!     panic!("expected an accepted preflight, got {decision:?}");
//! };
//! for (name, value) in headers.iter() {
//!     println!("{name}: {value}");
//! }
//! println!("vary: {}", headers.vary());
//! assert_eq!(headers.allow_origin().unwrap().to_header_value(), "https://app.example.com");
//! assert_eq!(headers.allow_methods().unwrap().to_header_value(), "GET, PUT");
//! assert_eq!(headers.max_age().unwrap().to_header_value(), "600");
//!
//! // The answer an adapter sends: status 200, an empty body, the decision written into it.
//! let mut answer = http::HeaderMap::new();
//! decision.apply(&mut answer);
//! assert_eq!(answer["access-control-allow-headers"], "x-token, content-type");
//! assert_eq!(answer["vary"], "Origin");
//!
//! // The same request, explained.
//! let explanation = engine.explain(&request);
//! assert!(explanation.to_string().contains("P2: method \"PUT\" is allowed in group \"partners\""));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Spec conformance
//!
//! Implements sections 2 to 7 of the project's behaviour rules (`docs/behaviour.md` in the repository), which build
//! on the [Fetch standard's CORS protocol](https://fetch.spec.whatwg.org/#http-cors-protocol)
//! and the Flex `cors-flex` policy:
//!
//! - R1 to R5: classification. No `Origin`: not CORS (R1). Same-origin (the listener's scheme
//!   and the authority the request was addressed to, checked with
//!   [`cors_origin::OriginRef::is_same_origin_as`], and on a value the parse refused with
//!   [`cors_origin::is_same_origin_value`] on its bytes as sent, before R3 and R5): not CORS
//!   (R2). `OPTIONS` + `Origin`: a preflight, never forwarded (R3); any other method: an actual
//!   request (R4). Several `Origin` lines, an empty, non-ASCII, over-long or non-canonical value
//!   (other than the request's own origin, R2) match nothing and are never echoed; two
//!   `Access-Control-Request-Method` lines reject (R5).
//! - M1 to M5: matching through [`cors_origin::OriginSet::parse_and_find`] (byte-exact canonical
//!   serializations, exact before subdomain before `*`, `null` only by `"null"` or `*`). Public
//!   resources ignore the groups (M2).
//! - P1 to P6: preflights ([Fetch CORS-preflight fetch](https://fetch.spec.whatwg.org/#cors-preflight-fetch)),
//!   methods byte-exact with `HEAD` wherever `GET` is, header names as RFC 9110 tokens compared
//!   ignoring case, mirrors for public resources and `headers: ['*']`, a bounded
//!   `Access-Control-Request-Headers` parser ([`parse_acrh`]).
//! - A1 to A4: actual requests; [`Decision::Allowed`] tells the adapter to replace every upstream
//!   Access-Control-* header.
//! - O1 to O3: `*` only for a public resource without credentials and for a match through a `*`
//!   entry without credentials ([Fetch CORS check](https://fetch.spec.whatwg.org/#cors-check)).
//! - V1: `Vary` ([Fetch "CORS protocol and HTTP caches"](https://fetch.spec.whatwg.org/#cors-protocol-and-http-caches)).
//!
//! Choices where the contract is silent, made here:
//!
//! - Only the byte-exact method `OPTIONS` is a preflight (methods are case-sensitive,
//!   RFC 9110 section 9.1); `options` with an `Origin` is an actual request.
//! - `Access-Control-Request-Method` is trimmed of optional whitespace before the token check
//!   (a field value never includes it, RFC 9110 section 5.5); the `Origin` value is not trimmed (M1).
//! - `Vary` on preflights: every preflight answer of a public resource, accepted or rejected,
//!   varies on `Access-Control-Request-Method` and `Access-Control-Request-Headers` (V1 "public
//!   preflights"), so a cache never serves a stored rejection to a different preflight; a
//!   group with `headers: ['*']` adds `Access-Control-Request-Headers` to its accepted answers;
//!   other rejected preflights carry only `Origin`. (`OPTIONS` responses are not stored by HTTP
//!   caches anyway, RFC 9110 section 9.3.7; this is defence in depth.)
//! - A field line of `Access-Control-Request-Headers` with an empty value counts as one empty
//!   element (so the P6 budget also bounds the number of lines).
//! - An accepted preflight lists the group's `Access-Control-Allow-Headers` even when the request
//!   asked for no header (P4 lists "the group's allowed headers").
//! - Every response that is not CORS (R1, R2) carries `Vary: Origin`, a public resource without
//!   credentials included, where V1 would add none. Such a response lacks the `*` the resource's
//!   CORS answers carry, so a shared cache that stored it without `Vary` could serve it to a
//!   cross-origin request, which would then fail in the browser. Fetch's caching advice would
//!   send `*` on every response instead, which R1 forbids; varying is the smaller deviation.
//! - [`Request::new`] leaves the address unknown (`host: None`), which turns R2 off; adapters set
//!   it with [`Request::addressed_to`], or build the whole request from an [`http::Request`]
//!   with [`Request::from_http`], which finds the authority where HTTP/1.1 and HTTP/2 put it.
//!
//! # Untrusted input
//!
//! Everything in a [`Request`] is untrusted. [`Engine::decide`] never allocates, never panics,
//! and bounds its work:
//!
//! - `Origin`: at most two field lines are looked at; a value over
//!   [`cors_origin::MAX_ORIGIN_LEN`] (2048) bytes is refused before it is parsed.
//! - `Access-Control-Request-Method`: at most two lines; one token check.
//! - `Access-Control-Request-Headers` (P6): at most [`MAX_ACRH_BYTES`] (8192) bytes over all
//!   lines, [`MAX_ACRH_NAMES`] (256) names and [`MAX_ACRH_EMPTY`] (16) empty elements; the
//!   byte budget is checked per line before the line is scanned, so a 64 KiB line of commas is
//!   rejected without being read.
//! - Origin lookup costs the same for 1 or 10 000 configured origins ([`cors_origin::OriginSet`]).
//!
//! Values sent back are prebuilt or the request's own bytes after validation (a canonical origin,
//! a method token, header-name tokens); a malformed value is never echoed.
//!
//! # Crate features
//!
//! None. The crate depends on `cors-policy` without its default features (no YAML, no serde);
//! the example above enables `yaml` as a dev-dependency.

mod acrh;
mod apply;
mod engine;
mod explain;
mod headers;
mod response;
mod vary;

pub use acrh::{
    AcrhError, AcrhNames, AcrhSummary, MAX_ACRH_BYTES, MAX_ACRH_EMPTY, MAX_ACRH_NAMES, is_token,
    parse_acrh,
};
pub use apply::{OwnedDecision, ResponseFields};
pub use engine::{Authority, Engine, Request, RequestMethod};
pub use explain::{Explanation, Reason, Rule};
pub use headers::{FieldValue, FirstLines, PreflightLines, RequestHeaders};
pub use response::{Decision, MirroredList, Outcome, ResponseHeaders, Value};
pub use vary::Vary;

/// The request header names the engine reads, lower-case.
const ORIGIN: &str = "origin";
const ACRM: &str = "access-control-request-method";
const ACRH: &str = "access-control-request-headers";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Engine>();
    }
}

/// The README's examples, compiled and run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
