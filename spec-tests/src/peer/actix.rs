//! actix-cors, as the Rust function that builds its middleware.
//!
//! The translation, setting by setting (actix-cors 0.7):
//! - origins: `allowed_origin` for each exact origin, `allowed_origin_fn` for `null` and
//!   subdomain patterns, `allow_any_origin()` for `*` (with `send_wildcard()` when there are no
//!   credentials, so `*` is sent as O1 asks);
//! - methods: `allowed_methods`, or `allow_any_method()` for public resources; headers:
//!   `allowed_headers`, or `allow_any_header()` for public resources and `headers: ['*']`;
//! - exposed headers, max-age and credentials as configured;
//! - `block_on_origin_mismatch(true)`, so requests from refused origins are not forwarded
//!   (Flex answers them itself; actix-cors answers `400`).

use std::fmt::Write as _;

use super::flat::{Flat, Origins, Requested};
use super::rust;

/// Renders the Rust module of `flat`.
pub(super) fn render(flat: &Flat) -> String {
    let origins = &flat.origins;
    let mut body = String::new();
    let _ = writeln!(body, "    Cors::default()");
    let _ = writeln!(body, "        .block_on_origin_mismatch(true)");
    if origins.any {
        let _ = writeln!(body, "        .allow_any_origin()");
        if !flat.credentials {
            let _ = writeln!(body, "        .send_wildcard()");
        }
    } else {
        for origin in origins.exact.iter().filter(|origin| *origin != "null") {
            let _ = writeln!(body, "        .allowed_origin({origin:?})");
        }
        let null = origins.exact.iter().any(|origin| origin == "null");
        if !origins.patterns.is_empty() || null {
            // actix-cors refuses `null` in `allowed_origin`, so it goes to the predicate too.
            let predicate = Origins {
                any: false,
                exact: if null { vec!["null".to_owned()] } else { Vec::new() },
                patterns: origins.patterns.clone(),
            };
            let _ = writeln!(
                body,
                "        .allowed_origin_fn(|origin, _request| {{\n            {}\n        }})",
                rust::origin_predicate(&predicate)
            );
        }
    }
    match &flat.methods {
        Requested::Mirror => {
            let _ = writeln!(body, "        .allow_any_method()");
        }
        Requested::List(methods) => {
            let _ = writeln!(body, "        .allowed_methods({})", list(methods, 25));
        }
    }
    match &flat.headers {
        Requested::Mirror => {
            let _ = writeln!(body, "        .allow_any_header()");
        }
        Requested::List(headers) => {
            let _ = writeln!(body, "        .allowed_headers({})", list(headers, 25));
        }
    }
    if !flat.expose.is_empty() {
        let _ = writeln!(body, "        .expose_headers({})", list(&flat.expose, 24));
    }
    match flat.max_age {
        Some(seconds) => {
            let _ = writeln!(body, "        .max_age({seconds})");
        }
        None => {
            let _ = writeln!(body, "        .max_age(None)");
        }
    }
    if flat.credentials {
        let _ = writeln!(body, "        .supports_credentials()");
    }
    let mut out = String::from("\nuse actix_cors::Cors;\n");
    let _ = writeln!(out, "\n/// The actix-cors middleware closest to the policy.");
    let _ = writeln!(out, "pub fn cors() -> Cors {{");
    out.push_str(&body);
    let _ = writeln!(out, "}}");
    if !origins.any && !origins.patterns.is_empty() {
        out.push_str(rust::SUBDOMAIN_HELPER);
    }
    out
}

fn list(items: &[String], column: usize) -> String {
    if items.is_empty() {
        return "Vec::<&str>::new()".to_owned();
    }
    let quoted: Vec<String> = items.iter().map(|item| format!("{item:?}")).collect();
    rust::array(&quoted, column, 8)
}
