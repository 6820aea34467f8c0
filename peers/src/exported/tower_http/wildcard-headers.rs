//! tower-http 0.7 `CorsLayer` in front of a hyper reverse proxy, configured as the cors-flex
//! policy "wildcard-headers" as closely as it can express it.
//! Exported by cors-conformance 0.1.0: `cors-conformance export --profile wildcard-headers --to
//! tower-http`.
//!
//! What tower-http cannot express of this policy (the conformance cases that check it fail):
//! - the allowed methods only feed preflight answers: an actual request from an allowed origin
//!   is never refused for its method (cors-flex blocks it, A1/A2)
//! - a preflight is never rejected for its method or headers: the configured lists are sent as
//!   they are and the browser compares (P2/P3 rejection cannot be configured)
//!
//! Where this tower-http recipe answers otherwise than cors-flex (these cases fail too):
//! - Mirrors Access-Control-Request-Headers and -Method byte for byte, invalid tokens and
//!   unbounded lists included, and reads only the first Access-Control-Request-Headers line.
//!   Checked by acrh-syntax.wildcard-mirror-several-lines,
//!   acrh-syntax.wildcard-invalid-not-mirrored.
//!
//! Depends on tower-http 0.7 (feature `cors`) and http 1; wrap your service with
//! `cors_layer()`.

use std::time::Duration;

use http::{HeaderValue, Method};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// `Access-Control-Max-Age`, in seconds.
const MAX_AGE_SECONDS: u64 = 60;

/// The `CorsLayer` closest to the policy.
pub fn cors_layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list([HeaderValue::from_static("https://app.example.test")]))
        .allow_methods([Method::GET, Method::POST, Method::PUT])
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(Duration::from_secs(MAX_AGE_SECONDS))
        .allow_credentials(true)
}
