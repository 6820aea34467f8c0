//! actix-cors 0.7 in front of an actix-web 4 reverse proxy, configured as the cors-flex policy
//! "groups" as closely as it can express it.
//! Exported by cors-conformance 0.1.0: `cors-conformance export --profile groups --to actix`.
//!
//! What actix cannot express of this policy (the conformance cases that check it fail):
//! - no origin groups: one configuration for every origin, so the profile's groups are merged
//!   (union of origins, methods and headers; the first group's max-age) and per-group answers
//!   cannot be given
//!   Checked by wildcards-groups.explicit-beats-wildcard,
//!   wildcards-groups.explicit-beats-wildcard-fetch,
//!   wildcards-groups.explicit-no-wildcard-headers, wildcards-groups.explicit-gets-own-origin,
//!   wildcards-groups.fallback-star, wildcards-groups.fallback-fetch and 39 more.
//! - the allowed methods only feed preflight answers: an actual request from an allowed origin
//!   is never refused for its method (cors-flex blocks it, A1/A2)
//!
//! Depends on actix-cors 0.7 and actix-web 4; `App::new().wrap(cors())`.

use actix_cors::Cors;

/// The actix-cors middleware closest to the policy.
pub fn cors() -> Cors {
    Cors::default()
        .block_on_origin_mismatch(true)
        .allow_any_origin()
        .send_wildcard()
        .allowed_methods(["GET", "POST", "DELETE", "PATCH", "PUT"])
        .allowed_headers(["x-any", "x-partner", "x-corp", "x-eu", "x-again"])
        .expose_headers(["x-public", "x-partner-id", "x-corp-id"])
        .max_age(5)
}
