//! actix-cors 0.7 in front of an actix-web 4 reverse proxy, configured as the cors-flex policy
//! "subdomains" as closely as it can express it.
//! Exported by cors-conformance 0.1.0: `cors-conformance export --profile subdomains --to
//! actix`.
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
        .allowed_origin_fn(|origin, _request| {
            let origin = origin.as_bytes();
            is_subdomain(origin, "https://", ".example.test")
                || is_subdomain(origin, "http://", ".dev.example.test:8080")
        })
        .allowed_methods(["GET", "POST"])
        .allowed_headers(["x-sub"])
        .expose_headers(["x-sub-id"])
        .max_age(60)
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
