//! tower-http 0.7 `CorsLayer` in front of a hyper reverse proxy, configured as the cors-flex
//! policy "groups" as closely as it can express it.
//! Exported by cors-conformance 0.1.0: `cors-conformance export --profile groups --to
//! tower-http`.
//!
//! What tower-http cannot express of this policy (the conformance cases that check it fail):
//! - no origin groups: one configuration for every origin, so the profile's groups are merged
//!   (union of origins, methods and headers; the first group's max-age) and per-group answers
//!   cannot be given
//!   Checked by wildcards-groups.explicit-beats-wildcard,
//!   wildcards-groups.explicit-beats-wildcard-fetch,
//!   wildcards-groups.explicit-no-wildcard-headers, wildcards-groups.explicit-gets-own-origin,
//!   wildcards-groups.fallback-star, wildcards-groups.fallback-fetch and 39 more.
//! - the allowed methods only feed preflight answers: an actual request from an allowed origin
//!   is never refused for its method (cors-flex blocks it, A1/A2)
//! - a preflight is never rejected for its method or headers: the configured lists are sent as
//!   they are and the browser compares (P2/P3 rejection cannot be configured)
//!
//! Depends on tower-http 0.7 (feature `cors`) and http 1; wrap your service with
//! `cors_layer()`.

use std::time::Duration;

use http::{HeaderName, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// `Access-Control-Max-Age`, in seconds.
const MAX_AGE_SECONDS: u64 = 5;

/// The `CorsLayer` closest to the policy.
pub fn cors_layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::PATCH, Method::PUT])
        .allow_headers([
            HeaderName::from_static("x-any"),
            HeaderName::from_static("x-partner"),
            HeaderName::from_static("x-corp"),
            HeaderName::from_static("x-eu"),
            HeaderName::from_static("x-again"),
        ])
        .expose_headers([
            HeaderName::from_static("x-public"),
            HeaderName::from_static("x-partner-id"),
            HeaderName::from_static("x-corp-id"),
        ])
        .max_age(Duration::from_secs(MAX_AGE_SECONDS))
        .allow_credentials(false)
}
