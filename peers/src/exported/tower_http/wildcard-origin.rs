//! tower-http 0.7 `CorsLayer` in front of a hyper reverse proxy, configured as the cors-flex
//! policy "wildcard-origin" as closely as it can express it.
//! Exported by cors-conformance 0.1.0: `cors-conformance export --profile wildcard-origin --to
//! tower-http`.
//!
//! What tower-http cannot express of this policy (the conformance cases that check it fail):
//! - the allowed methods only feed preflight answers: an actual request from an allowed origin
//!   is never refused for its method (cors-flex blocks it, A1/A2)
//! - a preflight is never rejected for its method or headers: the configured lists are sent as
//!   they are and the browser compares (P2/P3 rejection cannot be configured)
//!   Checked by wildcards-groups.star-origin-method-refused.
//!
//! Where this tower-http recipe answers otherwise than cors-flex (these cases fail too):
//! - Appends `Vary: origin` even when the upstream already varies on Origin (a repeated token),
//!   and sends no `Vary: Origin` for a `*` origin group (this project varies on Origin under
//!   every policy that is not public, V1).
//!   Checked by vary.wildcard-origin.
//!
//! Depends on tower-http 0.7 (feature `cors`) and http 1; wrap your service with
//! `cors_layer()`.

use std::time::Duration;

use http::{HeaderName, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// `Access-Control-Max-Age`, in seconds.
const MAX_AGE_SECONDS: u64 = 120;

/// The `CorsLayer` closest to the policy.
pub fn cors_layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::GET, Method::POST, Method::PUT])
        .allow_headers([HeaderName::from_static("x-custom")])
        .expose_headers([HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(MAX_AGE_SECONDS))
        .allow_credentials(false)
}
