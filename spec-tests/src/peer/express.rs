//! expressjs/cors, as a whole small server: express with the `cors` middleware in front of a
//! node `http` reverse proxy (`spec-tests/peers/express/server.js.in`).
//!
//! The translation, option by option (cors 2): `origin` is a list of strings and `RegExp`s, `'*'`
//! for `*` without credentials, or `true` (reflect the request's origin, the closest it comes to
//! O2) for `*` with credentials; `methods` and `allowedHeaders` are lists, left out to get the
//! middleware's own behaviour for mirroring policies (it reflects requested headers, and sends a
//! default method list); `exposedHeaders`, `maxAge` and `credentials` as configured.

use std::fmt::Write as _;

use super::Endpoints;
use super::flat::{Flat, Requested};
use super::quoted;
use crate::error::DataError;

const TEMPLATE: &str = include_str!("../../peers/express/server.js.in");

/// Renders the server of `flat`.
pub(super) fn render(flat: &Flat, endpoints: &Endpoints) -> Result<String, DataError> {
    let list = |items: &[String]| {
        format!("[{}]", items.iter().map(|item| quoted(item)).collect::<Vec<_>>().join(", "))
    };
    let mut options = String::new();
    let origins = &flat.origins;
    let origin = if origins.any {
        if flat.credentials { "true".to_owned() } else { "'*'".to_owned() }
    } else {
        let mut entries: Vec<String> = origins.exact.iter().map(|exact| quoted(exact)).collect();
        entries.extend(
            origins.pattern_regexes().iter().map(|regex| format!("new RegExp({})", quoted(regex))),
        );
        format!("[{}]", entries.join(", "))
    };
    let _ = writeln!(options, "  origin: {origin},");
    let _ = writeln!(options, "  credentials: {},", flat.credentials);
    if let Requested::List(methods) = &flat.methods {
        let _ = writeln!(options, "  methods: {},", list(methods));
    }
    if let Requested::List(headers) = &flat.headers {
        let _ = writeln!(options, "  allowedHeaders: {},", list(headers));
    }
    if !flat.expose.is_empty() {
        let _ = writeln!(options, "  exposedHeaders: {},", list(&flat.expose));
    }
    if let Some(seconds) = flat.max_age {
        let _ = writeln!(options, "  maxAge: {seconds},");
    }
    let (host, port) = endpoints.listen_parts()?;
    endpoints.upstream_parts()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(TEMPLATE
        .replace("{{OPTIONS}}\n", &options)
        .replace("{{UPSTREAM}}", &quoted(&endpoints.upstream))
        .replace("{{LISTEN_HOST}}", &quoted(host))
        .replace("{{LISTEN_PORT}}", &port.to_string()))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::super::Peer;
    use super::super::tests::check_export;

    #[rstest]
    #[case::star_with_credentials_reflects("wildcard-credentials", &["origin: true,", "credentials: true,"], &[])]
    #[case::star_without_credentials_sends_star("wildcard-origin", &["origin: '*',"], &[])]
    #[case::strict_lists_origins("strict", &["origin: [\"https://app.example.test\", ", "methods: [\"GET\", \"POST\", \"PUT\"],", "maxAge: 600,", "app.listen(8080, \"127.0.0.1\""], &[])]
    #[case::public_leaves_methods_to_the_middleware("public", &["origin: '*',"], &["methods:", "maxAge"])]
    #[case::subdomains_become_regexps("subdomains", &["new RegExp(\"^https://([a-z0-9-]+\\\\.)+example\\\\.test$\")"], &[])]
    fn express_servers_follow_the_profile(
        #[case] profile: &str,
        #[case] expected: &[&str],
        #[case] unexpected: &[&str],
    ) {
        check_export(Peer::Express, profile, expected, unexpected);
    }
}
