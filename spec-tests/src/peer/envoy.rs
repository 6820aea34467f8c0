//! Envoy's native CORS filter (`envoy.filters.http.cors`), as a whole bootstrap: one listener
//! whose virtual host carries the `CorsPolicy`, forwarding to one upstream cluster
//! (`spec-tests/peers/envoy/envoy.yaml.in`).
//!
//! Origins become `allow_origin_string_match` entries (`exact`, or `safe_regex` for subdomain
//! patterns and `*`); lists become comma-joined strings; `forward_not_matching_preflights: false`
//! answers every preflight locally, as cors-flex does.

use super::Endpoints;
use super::flat::{Flat, Requested};
use super::quoted;
use crate::error::DataError;

const TEMPLATE: &str = include_str!("../../peers/envoy/envoy.yaml.in");

/// The indentation of the `CorsPolicy` fields in the template.
const INDENT: &str = "                          ";

/// Renders the bootstrap of `flat`.
pub(super) fn render(flat: &Flat, endpoints: &Endpoints) -> Result<String, DataError> {
    let mut policy = Vec::new();
    let mut field = |text: String| policy.push(format!("{INDENT}{text}"));
    field("allow_origin_string_match:".to_owned());
    if flat.origins.any {
        field("  - safe_regex: { regex: \".*\" }".to_owned());
    }
    for exact in &flat.origins.exact {
        field(format!("  - exact: {}", quoted(exact)));
    }
    for regex in flat.origins.pattern_regexes() {
        field(format!("  - safe_regex: {{ regex: {} }}", quoted(&regex)));
    }
    match &flat.methods {
        // Envoy cannot mirror; `*` is what its documentation offers for "any method".
        Requested::Mirror => field("allow_methods: \"*\"".to_owned()),
        Requested::List(list) if !list.is_empty() => {
            field(format!("allow_methods: {}", quoted(&list.join(", "))));
        }
        Requested::List(_) => {}
    }
    match &flat.headers {
        Requested::Mirror => field("allow_headers: \"*\"".to_owned()),
        Requested::List(list) if !list.is_empty() => {
            field(format!("allow_headers: {}", quoted(&list.join(", "))));
        }
        Requested::List(_) => {}
    }
    if !flat.expose.is_empty() {
        field(format!("expose_headers: {}", quoted(&flat.expose.join(", "))));
    }
    if let Some(seconds) = flat.max_age {
        field(format!("max_age: \"{seconds}\""));
    }
    field(format!("allow_credentials: {}", flat.credentials));
    field("# Like cors-flex, answer every preflight locally.".to_owned());
    field("forward_not_matching_preflights: false".to_owned());
    let (listen_host, listen_port) = endpoints.listen_parts()?;
    let (upstream_host, upstream_port) = endpoints.upstream_parts()?;
    let unbracket = |host: &str| host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let upstream_host = unbracket(upstream_host);
    let upstream_type =
        if upstream_host.parse::<std::net::IpAddr>().is_ok() { "STATIC" } else { "STRICT_DNS" };
    Ok(TEMPLATE
        .replace("{{CORS_POLICY}}", &policy.join("\n"))
        .replace("{{LISTEN_HOST}}", &unbracket(listen_host))
        .replace("{{LISTEN_PORT}}", &listen_port.to_string())
        .replace("{{UPSTREAM_TYPE}}", upstream_type)
        .replace("{{UPSTREAM_HOST}}", &upstream_host)
        .replace("{{UPSTREAM_PORT}}", &upstream_port.to_string()))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::super::tests::check_export;
    use super::super::{Peer, Subject};
    use super::*;

    #[track_caller]
    fn check(profile: &str, expected: &[&str], unexpected: &[&str]) {
        let rendered = check_export(Peer::Envoy, profile, expected, unexpected);
        assert_eq!(rendered.matches("allow_origin_string_match").count(), 1, "{rendered}");
    }

    #[rstest]
    #[case::strict_lists_its_origins(
        "strict",
        &["- exact: \"https://app.example.test\"", "allow_methods: \"GET, POST, PUT\"", "max_age: \"600\"", "allow_credentials: false", "port_value: 8080", "port_value: 9000", "type: STATIC"],
        &["safe_regex"]
    )]
    #[case::public_allows_every_origin("public", &["safe_regex: { regex: \".*\" }", "allow_methods: \"*\""], &["max_age"])]
    #[case::subdomains_escape_their_regexes("subdomains", &["regex: \"^https://([a-z0-9-]+\\\\.)+example\\\\.test$\""], &[])]
    #[case::no_methods_sends_no_method_list("no-methods", &["allow_headers: \"x-custom\""], &["allow_methods"])]
    fn envoy_configs_follow_the_profile(
        #[case] profile: &str,
        #[case] expected: &[&str],
        #[case] unexpected: &[&str],
    ) {
        check(profile, expected, unexpected);
    }

    #[test]
    fn a_named_upstream_is_resolved_by_dns() {
        let subject = Subject::load("strict").unwrap();
        let endpoints = Endpoints::new("[::1]:8080", "http://upstream.internal:80").unwrap();
        let rendered = Peer::Envoy.export(&subject, &endpoints).unwrap();
        assert!(rendered.contains("type: STRICT_DNS"), "{rendered}");
        assert!(rendered.contains("address: \"::1\", port_value: 8080"), "{rendered}");
    }
}
