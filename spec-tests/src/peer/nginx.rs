//! nginx, configured the way its documentation and the usual recipes do it: a `map` turns the
//! request's Origin into the value to send (empty for refused origins; `add_header` skips empty
//! values), `add_header ... always` adds the headers to every status, and
//! `if ($request_method = OPTIONS) { ... return 204; }` answers preflights. `proxy_hide_header`
//! drops the upstream's own `Access-Control-*` fields (A4), which `add_header` would otherwise
//! send next to ours (two Access-Control-Allow-Origin lines, which browsers reject).
//!
//! The export is an `http { }`-level file (a `map` and a `server`), the shape of
//! `/etc/nginx/conf.d/*.conf`.

use std::fmt::Write as _;

use super::Endpoints;
use super::flat::{Flat, Requested};
use crate::error::DataError;

/// The `Access-Control-*` response fields a CORS answer may carry: the upstream's are hidden so
/// that only the recipe's reach the client. `Vary` is not among them: the upstream's `Vary` is
/// kept and the recipe's `Vary: Origin` is added as another line, which caches combine.
const UPSTREAM_HIDDEN: [&str; 6] = [
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Max-Age",
    "Access-Control-Expose-Headers",
];

/// Renders the `map` and `server` blocks of `flat`.
pub(super) fn render(flat: &Flat, endpoints: &Endpoints) -> Result<String, DataError> {
    let origins = &flat.origins;
    let default_origin = match (origins.any, flat.credentials) {
        (true, false) => "*",
        (true, true) => "$http_origin",
        (false, _) => "",
    };
    // Listed origins are echoed even when `*` is the default (as O1 wants for explicit matches).
    let mut map = String::new();
    for exact in &origins.exact {
        let _ = writeln!(map, "    {} $http_origin;", key(exact));
    }
    for regex in origins.pattern_regexes() {
        let _ = writeln!(map, "    {} $http_origin;", key(&format!("~{regex}")));
    }
    let mut preflight = Vec::new();
    let mut actual = Vec::new();
    for out in [&mut preflight, &mut actual] {
        out.push(("Access-Control-Allow-Origin", "$cors_origin".to_owned()));
        if flat.credentials {
            out.push(("Access-Control-Allow-Credentials", "true".to_owned()));
        }
    }
    match &flat.methods {
        Requested::Mirror => preflight.push((
            "Access-Control-Allow-Methods",
            "$http_access_control_request_method".to_owned(),
        )),
        Requested::List(list) if !list.is_empty() => {
            preflight.push(("Access-Control-Allow-Methods", literal(&list.join(", "))?));
        }
        Requested::List(_) => {}
    }
    match &flat.headers {
        Requested::Mirror => preflight.push((
            "Access-Control-Allow-Headers",
            "$http_access_control_request_headers".to_owned(),
        )),
        Requested::List(list) if !list.is_empty() => {
            preflight.push(("Access-Control-Allow-Headers", literal(&list.join(", "))?));
        }
        Requested::List(_) => {}
    }
    if let Some(seconds) = flat.max_age {
        preflight.push(("Access-Control-Max-Age", seconds.to_string()));
    }
    if !flat.expose.is_empty() {
        actual.push(("Access-Control-Expose-Headers", literal(&flat.expose.join(", "))?));
    }
    // The answer depends on the origin unless every origin gets the same `*`.
    if !(origins.any && !flat.credentials && map.is_empty()) {
        preflight.push(("Vary", "Origin".to_owned()));
        actual.push(("Vary", "Origin".to_owned()));
    }
    let headers = |list: &[(&str, String)], indent: usize| {
        let mut out = String::new();
        for (name, value) in list {
            let _ = writeln!(out, "{:indent$}add_header {name} \"{value}\" always;", "");
        }
        out
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n# The origin allowlist: the value of Access-Control-Allow-Origin per Origin."
    );
    let _ = writeln!(out, "map $http_origin $cors_origin {{");
    let _ = writeln!(out, "    default \"{default_origin}\";");
    out.push_str(&map);
    let _ = writeln!(out, "}}\n");
    let _ = writeln!(out, "server {{");
    let _ = writeln!(out, "    listen {};\n", endpoints.listen);
    let _ = writeln!(out, "    location / {{");
    let _ =
        writeln!(out, "        # Preflights (and every other OPTIONS request) are answered here.");
    let _ = writeln!(out, "        if ($request_method = OPTIONS) {{");
    out.push_str(&headers(&preflight, 12));
    let _ = writeln!(out, "            return 204;");
    let _ = writeln!(out, "        }}");
    out.push_str(&headers(&actual, 8));
    let _ = writeln!(
        out,
        "        # The upstream's own CORS fields would reach the client next to ours: drop them."
    );
    for name in UPSTREAM_HIDDEN {
        let _ = writeln!(out, "        proxy_hide_header {name};");
    }
    endpoints.upstream_parts()?;
    let _ = writeln!(out, "        proxy_pass {};", endpoints.upstream.trim_end_matches('/'));
    let _ = writeln!(out, "        proxy_http_version 1.1;");
    let _ = writeln!(out, "        proxy_set_header Host $http_host;");
    let _ = writeln!(out, "    }}");
    let _ = writeln!(out, "}}");
    Ok(out)
}

/// A `map` key: a double-quoted string that nginx compares (or matches, after `~`) as it is,
/// without reading variables.
fn key(text: &str) -> String {
    // Backslashes stay as they are: nginx keeps `\.` in a quoted string, which regexes need.
    format!("\"{}\"", text.replace('"', "\\\""))
}

/// Text for inside an nginx double-quoted `add_header` value; nginx has no escape for `$`, so a
/// value holding one is refused.
fn literal(text: &str) -> Result<String, DataError> {
    if text.contains('$') {
        return Err(DataError {
            problems: vec![format!(
                "{text:?} cannot be written in an nginx string: nginx reads `$` as a variable"
            )],
        });
    }
    Ok(text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::super::Peer;
    use super::super::tests::check_export;
    use super::*;

    #[rstest]
    #[case::strict_lists_its_origins_and_lists(
        "strict",
        &["\"https://app.example.test\" $http_origin;", "default \"\";", "Access-Control-Allow-Methods \"GET, POST, PUT\" always;", "Access-Control-Max-Age \"600\" always;", "return 204;", "listen 127.0.0.1:8080;", "proxy_pass http://127.0.0.1:9000;"],
        &["add_header Access-Control-Allow-Credentials"]
    )]
    #[case::credentials_are_sent("strict-credentials", &["Access-Control-Allow-Credentials \"true\" always;"], &[])]
    #[case::public_mirrors_and_sends_star(
        "public",
        &["default \"*\";", "Access-Control-Allow-Methods \"$http_access_control_request_method\" always;"],
        &["add_header Access-Control-Max-Age", "add_header Vary"]
    )]
    #[case::subdomains_become_regexes("subdomains", &["\"~^https://([a-z0-9-]+\\.)+example\\.test$\" $http_origin;"], &[])]
    #[case::star_with_credentials_reflects("wildcard-credentials", &["default \"$http_origin\";", "Vary \"Origin\""], &[])]
    #[case::limitations_are_stated("groups", &["# What nginx cannot express", "no origin groups", "wildcards-groups."], &[])]
    #[case::differences_are_stated(
        "strict",
        &["# Where this nginx recipe answers otherwise than cors-flex (these cases fail too):", "`proxy_hide_header` drops the upstream's", "Checked by same-origin.upstream-cors-passed-through"],
        &["upstream-replacement.single-acao", "upstream-replacement.star-with-credentials"]
    )]
    fn nginx_configs_follow_the_profile(
        #[case] profile: &str,
        #[case] expected: &[&str],
        #[case] unexpected: &[&str],
    ) {
        check_export(Peer::Nginx, profile, expected, unexpected);
    }

    /// A4: `add_header` adds beside what the upstream sent, so every `Access-Control-*` field
    /// the recipe may write is hidden from the upstream's answer, before it is proxied; `Vary`
    /// is not (the upstream's stays, ours is added).
    #[rstest]
    #[case::strict("strict")]
    #[case::credentials("strict-credentials")]
    #[case::public("public")]
    fn upstream_cors_fields_are_hidden(#[case] profile: &str) {
        let hidden = UPSTREAM_HIDDEN.map(|name| format!("        proxy_hide_header {name};\n"));
        let mut expected: Vec<&str> = hidden.iter().map(String::as_str).collect();
        expected.push("proxy_pass ");
        check_export(Peer::Nginx, profile, &expected, &["proxy_hide_header Vary"]);
    }

    #[test]
    fn a_dollar_sign_is_refused() {
        assert!(literal("x-$a").unwrap_err().to_string().contains("variable"));
    }
}
