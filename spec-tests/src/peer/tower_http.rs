//! tower-http's `CorsLayer`, as the Rust function that builds it.
//!
//! The translation, setting by setting (tower-http 0.7):
//! - origins: `AllowOrigin::list` of the exact origins; a predicate when the policy has subdomain
//!   patterns; `AllowOrigin::any()` for `*`, or `AllowOrigin::mirror_request()` with credentials
//!   (tower-http panics on `*` with credentials);
//! - methods and headers: lists, or `mirror_request()` for public resources and `headers: ['*']`;
//! - exposed headers, max-age and credentials as configured; `Vary` left at its default.

use std::fmt::Write as _;

use super::flat::{Flat, Requested};
use super::rust;

/// Renders the Rust module of `flat`.
pub(super) fn render(flat: &Flat) -> String {
    let mut uses = vec!["CorsLayer"];
    let mut http_uses = Vec::new();
    let mut body = String::new();
    let origins = &flat.origins;
    let origin = if origins.any {
        uses.push("AllowOrigin");
        if flat.credentials {
            "AllowOrigin::mirror_request()".to_owned()
        } else {
            "AllowOrigin::any()".to_owned()
        }
    } else if origins.patterns.is_empty() {
        uses.push("AllowOrigin");
        http_uses.push("HeaderValue");
        let values: Vec<String> = origins
            .exact
            .iter()
            .map(|origin| format!("HeaderValue::from_static({origin:?})"))
            .collect();
        if values.is_empty() {
            "AllowOrigin::list(Vec::<HeaderValue>::new())".to_owned()
        } else {
            format!("AllowOrigin::list({})", rust::array(&values, 39, 8))
        }
    } else {
        uses.push("AllowOrigin");
        http_uses.push("HeaderValue");
        format!(
            "AllowOrigin::predicate(|origin: &HeaderValue, _| {{\n            {}\n        }})",
            rust::origin_predicate(origins)
        )
    };
    let _ = writeln!(body, "    CorsLayer::new()");
    let _ = writeln!(body, "        .allow_origin({origin})");
    match &flat.methods {
        Requested::Mirror => {
            uses.push("AllowMethods");
            let _ = writeln!(body, "        .allow_methods(AllowMethods::mirror_request())");
        }
        Requested::List(methods) => {
            http_uses.push("Method");
            if methods.is_empty() {
                let _ = writeln!(body, "        .allow_methods(Vec::<Method>::new())");
            } else {
                let list: Vec<String> = methods.iter().map(|m| method(m)).collect();
                let _ = writeln!(body, "        .allow_methods({})", rust::array(&list, 23, 8));
            }
        }
    }
    match &flat.headers {
        Requested::Mirror => {
            uses.push("AllowHeaders");
            let _ = writeln!(body, "        .allow_headers(AllowHeaders::mirror_request())");
        }
        Requested::List(headers) => {
            http_uses.push("HeaderName");
            let _ = writeln!(body, "        .allow_headers({})", names(headers, 23));
        }
    }
    if !flat.expose.is_empty() {
        http_uses.push("HeaderName");
        let _ = writeln!(body, "        .expose_headers({})", names(&flat.expose, 24));
    }
    let mut std_uses = String::new();
    let mut constants = String::new();
    if let Some(seconds) = flat.max_age {
        std_uses.push_str("use std::time::Duration;\n\n");
        let _ = writeln!(constants, "\n/// `Access-Control-Max-Age`, in seconds.");
        let _ = writeln!(constants, "const MAX_AGE_SECONDS: u64 = {seconds};");
        let _ = writeln!(body, "        .max_age(Duration::from_secs(MAX_AGE_SECONDS))");
    }
    let _ = writeln!(body, "        .allow_credentials({})", flat.credentials);
    http_uses.sort_unstable();
    http_uses.dedup();
    uses.sort_unstable();
    let http_line = match http_uses.as_slice() {
        [] => String::new(),
        [one] => format!("use http::{one};\n"),
        many => format!("use http::{{{}}};\n", many.join(", ")),
    };
    let cors_line = match uses.as_slice() {
        [one] => format!("use tower_http::cors::{one};\n"),
        many => format!("use tower_http::cors::{{{}}};\n", many.join(", ")),
    };
    let mut out = format!("\n{std_uses}{http_line}{cors_line}{constants}");
    let _ = writeln!(out, "\n/// The `CorsLayer` closest to the policy.");
    if body.contains(".expect(") {
        let _ = writeln!(
            out,
            "///\n/// # Panics\n///\n/// Never: every method name above is a valid token."
        );
    }
    let _ = writeln!(out, "pub fn cors_layer() -> CorsLayer {{");
    out.push_str(&body);
    let _ = writeln!(out, "}}");
    if !origins.any && !origins.patterns.is_empty() {
        out.push_str(rust::SUBDOMAIN_HELPER);
    }
    out
}

/// A `Method` constant, or a parsed method for names that are not one.
fn method(name: &str) -> String {
    const CONSTANTS: [&str; 9] =
        ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "CONNECT", "PATCH", "TRACE"];
    if CONSTANTS.contains(&name) {
        format!("Method::{name}")
    } else {
        format!("Method::from_bytes({}).expect(\"a method token\")", rust::byte_string(name))
    }
}

fn names(list: &[String], column: usize) -> String {
    if list.is_empty() {
        return "Vec::<HeaderName>::new()".to_owned();
    }
    let names: Vec<String> = list
        .iter()
        .map(|name| format!("HeaderName::from_static({:?})", name.to_ascii_lowercase()))
        .collect();
    rust::array(&names, column, 8)
}
