//! actix-cors 0.7 in front of an actix-web 4 reverse proxy, configured as the cors-flex policy
//! "wildcard-headers" as closely as it can express it.
//! Exported by cors-conformance 0.1.0: `cors-conformance export --profile wildcard-headers --to
//! actix`.
//!
//! What actix cannot express of this policy (the conformance cases that check it fail):
//! - the allowed methods only feed preflight answers: an actual request from an allowed origin
//!   is never refused for its method (cors-flex blocks it, A1/A2)
//!
//! Where this actix recipe answers otherwise than cors-flex (these cases fail too):
//! - Lists methods and headers in hash order, not file order, and that order changes from one
//!   process to the next (a `HashSet` per list). Where the case says the order is free
//!   (`acrh-syntax.spaces-around-names`, from Fetch's header-list split), another order is
//!   *order only* and counted as passed; where a rule fixes it (P4: the group's file order),
//!   the case passes or fails by chance, so actix's `flex` and `ours` counts still move by a
//!   few of those cases from one run to the next.
//!   Checked by acrh-syntax.wildcard-mirror-normalized.
//!
//! Depends on actix-cors 0.7 and actix-web 4; `App::new().wrap(cors())`.

use actix_cors::Cors;

/// The actix-cors middleware closest to the policy.
pub fn cors() -> Cors {
    Cors::default()
        .block_on_origin_mismatch(true)
        .allowed_origin("https://app.example.test")
        .allowed_methods(["GET", "POST", "PUT"])
        .allow_any_header()
        .max_age(60)
        .supports_credentials()
}
