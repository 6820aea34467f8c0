//! actix-cors 0.7 in front of an actix-web 4 reverse proxy, configured as the cors-flex policy
//! "closed" as closely as it can express it.
//! Exported by cors-conformance 0.1.0: `cors-conformance export --profile closed --to actix`.
//!
//! What actix cannot express of this policy (the conformance cases that check it fail):
//! - the allowed methods only feed preflight answers: an actual request from an allowed origin
//!   is never refused for its method (cors-flex blocks it, A1/A2)
//!
//! Depends on actix-cors 0.7 and actix-web 4; `App::new().wrap(cors())`.

use actix_cors::Cors;

/// The actix-cors middleware closest to the policy.
pub fn cors() -> Cors {
    Cors::default()
        .block_on_origin_mismatch(true)
        .allowed_methods(Vec::<&str>::new())
        .allowed_headers(Vec::<&str>::new())
        .max_age(30)
}
