//! actix-cors 0.7 in front of an actix-web 4 reverse proxy, configured as the cors-flex policy
//! "strict" as closely as it can express it.
//! Exported by cors-conformance 0.1.0: `cors-conformance export --profile strict --to actix`.
//!
//! What actix cannot express of this policy (the conformance cases that check it fail):
//! - the allowed methods only feed preflight answers: an actual request from an allowed origin
//!   is never refused for its method (cors-flex blocks it, A1/A2)
//!   Checked by simple.delete-not-allowed, simple.patch-not-listed,
//!   simple.unknown-method-not-allowed, simple.lowercase-method-not-allowed,
//!   hostile.unknown-method-actual.
//!
//! Where this actix recipe answers otherwise than cors-flex (these cases fail too):
//! - The only middleware here that refuses: refused origins, methods and headers get `400 Bad
//!   Request` (with `block_on_origin_mismatch(true)`) where cors-flex answers `200` with no
//!   CORS header; nothing refused is forwarded.
//!   Checked by origins.unlisted-blocked, origins.unlisted-preflight-rejected,
//!   preflight.delete-refused-flex-shape.
//! - Same-origin requests are CORS requests to it: a site's own GET and form POST, which carry
//!   the site's own Origin, are refused with 400 unless the site lists itself (actix-cors #286,
//!   #378).
//!   Checked by same-origin.post-forwarded, same-origin.get-forwarded.
//! - Reads only the first Access-Control-Request-Headers line, so a disallowed header on a
//!   second line is granted, and refuses (400) empty list elements and an empty value that
//!   browsers and Fetch tolerate.
//!   Checked by acrh-syntax.empty-elements, acrh-syntax.empty-value,
//!   acrh-syntax.several-lines-one-refused.
//! - A preflight for HEAD is refused where GET is allowed (this project treats HEAD as allowed
//!   wherever GET is).
//!   Checked by preflight.head-acrm.
//! - Lists methods and headers in hash order, not file order, and that order changes from one
//!   process to the next (a `HashSet` per list). Where the case says the order is free
//!   (`acrh-syntax.spaces-around-names`, from Fetch's header-list split), another order is
//!   *order only* and counted as passed; where a rule fixes it (P4: the group's file order),
//!   the case passes or fails by chance, so actix's `flex` and `ours` counts still move by a
//!   few of those cases from one run to the next.
//!   Checked by preflight.put-allowed-flex-shape, preflight.post-acrm,
//!   acrh-syntax.spaces-around-names.
//! - Varies on Origin, Access-Control-Request-Method and -Headers on every answer, public `*`
//!   answers included, but not on a refused preflight.
//!   Checked by vary.rejected-preflight.
//!
//! Depends on actix-cors 0.7 and actix-web 4; `App::new().wrap(cors())`.

use actix_cors::Cors;

/// The actix-cors middleware closest to the policy.
pub fn cors() -> Cors {
    Cors::default()
        .block_on_origin_mismatch(true)
        .allowed_origin("https://app.example.test")
        .allowed_origin("http://localhost:8080")
        .allowed_origin("https://xn--bcher-kva.example.test")
        .allowed_origin("http://127.0.0.1:3000")
        .allowed_origin("http://[::1]:3000")
        .allowed_origin("https://upper.example.test")
        .allowed_origin("safari-web-extension://140BB581-A2C0-422A-9DD3-6982A5ABEE5E")
        .allowed_methods(["GET", "POST", "PUT"])
        .allowed_headers(["x-custom", "content-type"])
        .expose_headers(["x-request-id", "x-total-count"])
        .max_age(600)
}
