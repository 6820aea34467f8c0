//! tower-http 0.7 `CorsLayer` in front of a hyper reverse proxy, configured as the cors-flex
//! policy "strict" as closely as it can express it.
//! Exported by cors-conformance 0.1.0: `cors-conformance export --profile strict --to
//! tower-http`.
//!
//! What tower-http cannot express of this policy (the conformance cases that check it fail):
//! - the allowed methods only feed preflight answers: an actual request from an allowed origin
//!   is never refused for its method (cors-flex blocks it, A1/A2)
//!   Checked by simple.delete-not-allowed, simple.patch-not-listed,
//!   simple.unknown-method-not-allowed, simple.lowercase-method-not-allowed,
//!   hostile.unknown-method-actual.
//! - a preflight is never rejected for its method or headers: the configured lists are sent as
//!   they are and the browser compares (P2/P3 rejection cannot be configured)
//!   Checked by preflight.delete-refused-flex-shape, preflight.extension-method-refused,
//!   preflight.lowercase-acrm-refused, preflight.header-refused-flex-shape,
//!   preflight.one-header-of-several-refused, preflight.options-acrm-refused and 3 more.
//!
//! Where this tower-http recipe answers otherwise than cors-flex (these cases fail too):
//! - Answers every OPTIONS request itself, without Origin or Access-Control-Request-Method too
//!   (tower-http #497), so an API's own OPTIONS handler is never reached.
//!   Checked by simple.no-origin-options-forwarded, same-origin.options-forwarded.
//! - Forwards actual requests from refused origins to the upstream (without CORS headers): the
//!   browser blocks the read, but the request and its side effects happen.
//!   Checked by origins.unlisted-blocked, upstream-replacement.blocked-not-forwarded.
//! - Adds `Access-Control-Allow-Credentials` and `Access-Control-Expose-Headers` to every
//!   response, those without Origin included, and leaves upstream Access-Control-* headers it
//!   does not set itself.
//!   Checked by simple.no-origin-forwarded, upstream-replacement.acac-removed,
//!   upstream-replacement.preflight-headers-removed.
//! - Appends `Vary: origin` even when the upstream already varies on Origin (a repeated token),
//!   and sends no `Vary: Origin` for a `*` origin group (this project varies on Origin under
//!   every policy that is not public, V1).
//!   Checked by vary.upstream-origin-not-repeated.
//!
//! Depends on tower-http 0.7 (feature `cors`) and http 1; wrap your service with
//! `cors_layer()`.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// `Access-Control-Max-Age`, in seconds.
const MAX_AGE_SECONDS: u64 = 600;

/// The `CorsLayer` closest to the policy.
pub fn cors_layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list([
            HeaderValue::from_static("https://app.example.test"),
            HeaderValue::from_static("http://localhost:8080"),
            HeaderValue::from_static("https://xn--bcher-kva.example.test"),
            HeaderValue::from_static("http://127.0.0.1:3000"),
            HeaderValue::from_static("http://[::1]:3000"),
            HeaderValue::from_static("https://upper.example.test"),
            HeaderValue::from_static("safari-web-extension://140BB581-A2C0-422A-9DD3-6982A5ABEE5E"),
        ]))
        .allow_methods([Method::GET, Method::POST, Method::PUT])
        .allow_headers([
            HeaderName::from_static("x-custom"),
            HeaderName::from_static("content-type"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("x-total-count"),
        ])
        .max_age(Duration::from_secs(MAX_AGE_SECONDS))
        .allow_credentials(false)
}
