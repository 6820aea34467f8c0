//! The cors-flex policy engine as a [proxy-wasm](https://github.com/proxy-wasm/spec) HTTP filter,
//! so that Envoy (and what is built on it: Istio, Envoy Gateway) applies a Flex Gateway
//! `cors-flex` policy exactly as `cors-gateway` does.
//!
//! Build the module with `cargo xtask wasm` (the workspace's `wasm-release` profile for
//! `wasm32-wasip1`, then binaryen's `wasm-opt` and `wasm-metadce` when it is installed), which
//! prints its path, and load it with Envoy's `envoy.filters.http.wasm` filter; the plugin
//! configuration is the policy file's text (any shape cors-policy reads).
//! `cargo xtask envoy --config POLICY --upstream URL` does both and runs Envoy on loopback;
//! `docs/envoy.md` shows the Envoy, Istio and Envoy Gateway configuration.
//!
//! The filter counts its decisions in proxy-wasm counters, which Envoy shows with its own stats:
//! `cors_requests_total{decision="actual-allowed",rule="A1"}` and so on in `/stats/prometheus`
//! (the bootstrap's `stats_tags` rules make the decision and the rule labels), the names
//! cors-gateway's `/metrics` uses.
//!
//! The crate is also an `rlib` that builds natively: [`Plugin`] (the loaded configuration) and
//! [`Exchange`] (one request and its response, over a [`Host`] trait standing for proxy-wasm's
//! header calls) hold all the glue, so it is tested without a proxy.
//!
//! # Example
//!
//! ```
//! use cors_proxy_wasm::{Plugin, RequestLines};
//! use cors_engine::{Decision, Request};
//!
//! let policy = b"
//! - policyRef:
//!     name: cors-flex
//!   config:
//!     publicResource: false
//!     originGroups:
//!       - origins: [https://app.example.com]
//!         exposedHeaders: [x-request-id]
//! ";
//! let plugin = Plugin::from_configuration(policy, "cors-flex")?;
//!
//! // What Envoy hands the filter for `GET /` from a page on https://app.example.com.
//! let pairs = [
//!     (":method", "GET"),
//!     (":authority", "api.example.com"),
//!     ("origin", "https://app.example.com"),
//! ];
//! let lines = RequestLines::new(
//!     pairs.map(|(name, value)| (name.to_owned(), value.as_bytes().to_vec())).to_vec(),
//! );
//! let mut request = Request::new(b"GET", &lines);
//! request.scheme = plugin.scheme();
//! request.host = lines.first(":authority");
//! let Decision::Allowed { headers, .. } = plugin.engine().decide(&request) else { panic!() };
//! assert_eq!(headers.allow_origin().unwrap().to_header_value(), "https://app.example.com");
//! assert_eq!(headers.expose_headers().unwrap().to_header_value(), "x-request-id");
//! # Ok::<(), cors_policy::LoadError>(())
//! ```
//!
//! # Spec conformance
//!
//! Every decision comes from [`cors_engine::Engine::decide`]; this crate only applies it to
//! Envoy's header maps, as the tower layer of `cors-hyper` does to `http` types:
//!
//! - R3, P1 to P6, A2: preflights and blocked actual requests are answered with Envoy's local
//!   reply (`proxy_send_local_response`), status 200, empty body, never forwarded.
//! - A1, A4: for an allowed actual request every `Access-Control-*` line of the upstream's
//!   response is removed and the decided ones are set.
//! - R1, R2, V1: other responses pass through untouched, except for the decided `Vary` tokens,
//!   appended when no `Vary` line lists them yet (`*` covers all).
//! - R2: the request is addressed to `:authority` on the listener's scheme, `http` unless the
//!   configuration is an `ApiInstance` whose `spec.address` is `https://...`; behind TLS the
//!   configuration must be such a file, or the site's own `POST`s are refused
//!   (`docs/envoy.md`, "The Envoy configuration").
//!
//! One difference comes from the host (the conformance suite against real Envoy,
//! `tests/envoy.rs`, checks that it changes no case's decision): Envoy joins repeated lines of
//! `Origin`, `Access-Control-Request-Method` and `Access-Control-Request-Headers` into one value
//! with `,` before any filter runs. A joined `Origin` or method is malformed (R5) exactly as two
//! lines are, and a joined header list is the same list, of the same length (P6 counts lines as
//! joined with `,`). The one exception: Envoy drops an empty line when it joins, so an empty
//! line beside a valid one is decided on the valid one alone here and refused by cors-gateway
//! (docs/envoy.md, "What differs from cors-gateway, and what does not"). The filter relies on
//! the join: it looks `Origin` up alone on every request but an `OPTIONS`, and the one value
//! Envoy answers is every line.
//!
//! # Untrusted input
//!
//! Request header values are read as bytes (`proxy_get_header_map_value` for `Origin`, the
//! method and the address, and `proxy_get_header_map_pairs` for an `OPTIONS`), never converted
//! to UTF-8 text, so an `Origin` with invalid bytes reaches the
//! engine and is refused there (R5). The engine decides on every line of each name, as the
//! request carried them.
//! The engine bounds its work on every header and never panics; values sent back are the
//! engine's validated ASCII. The filter unwraps no host call's answer, but the proxy-wasm SDK
//! under it panics, trapping the module, on a status it does not expect (for the calls the
//! filter makes, any but a lookup's "not found") and on a header name that is not UTF-8 (in
//! `proxy_get_header_map_pairs`' answer). Envoy gives neither here: the filter reads each map
//! in its own callback, and Envoy's HTTP/1 and HTTP/2 codecs refuse such a name before any
//! filter runs (probed with Envoy 1.40: `400` in HTTP/1.1, the connection closed in HTTP/2).
//! Should a trap happen, the bootstrap's `failure_policy: FAIL_RELOAD` refuses that request and
//! gives the next one a new VM (`docs/envoy.md`).
//!
//! # Crate features
//!
//! None. On `wasm32` targets the crate exports the proxy-wasm ABI (`_initialize`, `proxy_on_*`);
//! on other targets it is a plain library for tests.

mod exchange;
mod filter;
mod headers;
mod metrics;
mod plugin;

pub use exchange::{Exchange, Host, Step};
pub use filter::register;
pub use headers::RequestLines;
pub use plugin::Plugin;

/// The policy files the tests share with the rest of the workspace, read at test time (the
/// published crate packages only its own folder).
#[cfg(test)]
mod fixtures {
    /// The bytes of `examples/policies/NAME` in the workspace.
    pub(crate) fn example_policy(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/policies")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }
}

/// The module's entry point: proxy-wasm's `_initialize` export, which Envoy calls once per VM.
#[cfg(target_arch = "wasm32")]
mod entry {
    proxy_wasm::main! {{
        crate::register();
    }}
}
