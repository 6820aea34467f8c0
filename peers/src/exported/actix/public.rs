//! actix-cors 0.7 in front of an actix-web 4 reverse proxy, configured as the cors-flex policy
//! "public" as closely as it can express it.
//! Exported by cors-conformance 0.1.0: `cors-conformance export --profile public --to actix`.
//!
//! What actix cannot express of this policy (the conformance cases that check it fail):
//! - the allowed methods only feed preflight answers: an actual request from an allowed origin
//!   is never refused for its method (cors-flex blocks it, A1/A2)
//! - no way to mirror Access-Control-Request-Method: `allow_any_method()` sends a fixed list of
//!   standard methods (P5 mirrors)
//!   Checked by public.preflight-mirrors-method, public.preflight-extension-method-mirrored,
//!   public.groups-ignored-method.
//!
//! Where this actix recipe answers otherwise than cors-flex (these cases fail too):
//! - Varies on Origin, Access-Control-Request-Method and -Headers on every answer, public `*`
//!   answers included, but not on a refused preflight.
//!   Checked by vary.public-no-origin-token.
//!
//! Depends on actix-cors 0.7 and actix-web 4; `App::new().wrap(cors())`.

use actix_cors::Cors;

/// The actix-cors middleware closest to the policy.
pub fn cors() -> Cors {
    Cors::default()
        .block_on_origin_mismatch(true)
        .allow_any_origin()
        .send_wildcard()
        .allow_any_method()
        .allow_any_header()
        .max_age(None)
}
