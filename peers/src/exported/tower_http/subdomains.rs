//! tower-http 0.7 `CorsLayer` in front of a hyper reverse proxy, configured as the cors-flex
//! policy "subdomains" as closely as it can express it.
//! Exported by cors-conformance 0.1.0: `cors-conformance export --profile subdomains --to
//! tower-http`.
//!
//! What tower-http cannot express of this policy (the conformance cases that check it fail):
//! - the allowed methods only feed preflight answers: an actual request from an allowed origin
//!   is never refused for its method (cors-flex blocks it, A1/A2)
//! - a preflight is never rejected for its method or headers: the configured lists are sent as
//!   they are and the browser compares (P2/P3 rejection cannot be configured)
//!
//! Depends on tower-http 0.7 (feature `cors`) and http 1; wrap your service with
//! `cors_layer()`.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// `Access-Control-Max-Age`, in seconds.
const MAX_AGE_SECONDS: u64 = 60;

/// The `CorsLayer` closest to the policy.
pub fn cors_layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(|origin: &HeaderValue, _| {
            let origin = origin.as_bytes();
            is_subdomain(origin, "https://", ".example.test")
                || is_subdomain(origin, "http://", ".dev.example.test:8080")
        }))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([HeaderName::from_static("x-sub")])
        .expose_headers([HeaderName::from_static("x-sub-id")])
        .max_age(Duration::from_secs(MAX_AGE_SECONDS))
        .allow_credentials(false)
}

/// Whether `origin` is `prefix`, one or more dot-separated labels of `a-z`, `0-9` and `-`, then
/// `suffix`: the origins a cors-flex subdomain pattern such as `https://*.example.test` allows.
fn is_subdomain(origin: &[u8], prefix: &str, suffix: &str) -> bool {
    origin
        .strip_prefix(prefix.as_bytes())
        .and_then(|rest| rest.strip_suffix(suffix.as_bytes()))
        .is_some_and(|labels| {
            labels.split(|b| *b == b'.').all(|label| {
                !label.is_empty()
                    && label
                        .iter()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            })
        })
}
