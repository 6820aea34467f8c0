//! nginx, configured the way its documentation and the usual recipes do it: a `map` turns the
//! request's Origin into the value to send (empty for refused origins; `add_header` skips empty
//! values), `add_header ... always` adds the headers to every status, and
//! `if ($request_method = OPTIONS) { ... return 204; }` answers preflights. `proxy_hide_header`
//! drops the upstream's own `Access-Control-*` fields (A4), which `add_header` would otherwise
//! send next to ours (two Access-Control-Allow-Origin lines, which browsers reject); a request
//! that is not a CORS request (no Origin, R1; or same-origin, R2) gets them back unchanged,
//! through one `map` per field that picks the upstream's value for those and ours otherwise.
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

/// The keys of the `map` from `"$http_origin|$scheme://$http_host"` to `$cors_not_cors`: `1` when
/// the request has no Origin (R1) or is same-origin (R2). The backreference compares the Origin
/// with the request's own origin (case-insensitively, for the Host), with or without the scheme's
/// default port in Host; `[^|]+` after the scheme keeps an empty Host from ever matching.
const NOT_CORS: [&str; 3] = [
    r#""~^\|" 1;"#,
    r#""~*^(http://[^|]+)\|\1(:80)?$" 1;"#,
    r#""~*^(https://[^|]+)\|\1(:443)?$" 1;"#,
];

/// A proxied answer: the maps that pick each Access-Control-* field, ours (from `actual`, or
/// none) when the request is a CORS request and the upstream's (hidden) when it is not (R1, R2),
/// and the fields to add, each from its map. `Vary: Origin` is added to every answer, or, when
/// every CORS request gets `*` (`star_for_all`), only to the others, which lack it (V1).
fn proxied(
    actual: &[(&'static str, String)],
    star_for_all: bool,
) -> (String, Vec<(&'static str, String)>) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Not a CORS request: no Origin (R1), or an Origin equal to the request's own scheme and\n\
         # Host, the Host's case and default port aside (R2). Such answers keep the upstream's fields."
    );
    let _ = writeln!(out, "map \"$http_origin|$scheme://$http_host\" $cors_not_cors {{");
    let _ = writeln!(out, "    default \"\";");
    for line in NOT_CORS {
        let _ = writeln!(out, "    {line}");
    }
    let _ = writeln!(out, "}}\n");
    for name in UPSTREAM_HIDDEN {
        let ours = actual.iter().find(|(field, _)| *field == name).map_or("", |(_, v)| v.as_str());
        let _ = writeln!(out, "map $cors_not_cors {} {{", answer_variable(name));
        let _ = writeln!(out, "    default \"{ours}\";");
        let _ = writeln!(out, "    1 \"{}\";", upstream_variable(name));
        let _ = writeln!(out, "}}");
    }
    let mut fields: Vec<_> =
        UPSTREAM_HIDDEN.into_iter().map(|name| (name, answer_variable(name))).collect();
    fields.extend(actual.iter().filter(|(field, _)| !UPSTREAM_HIDDEN.contains(field)).cloned());
    if star_for_all {
        let _ = writeln!(out, "map $cors_not_cors $cors_answer_vary {{");
        let _ = writeln!(out, "    default \"\";\n    1 \"Origin\";\n}}");
        fields.push(("Vary", "$cors_answer_vary".to_owned()));
    } else {
        fields.push(("Vary", "Origin".to_owned()));
    }
    (out, fields)
}

/// The variable a proxied answer's `name` field is sent from: ours, or the upstream's.
fn answer_variable(name: &str) -> String {
    format!("$cors_answer_{}", snake(name.trim_start_matches("Access-Control-")))
}

/// nginx's variable for the upstream's `name` response field.
fn upstream_variable(name: &str) -> String {
    format!("$upstream_http_{}", snake(name))
}

/// `Allow-Origin` as `allow_origin`: a field name as nginx spells it in variable names.
fn snake(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

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
    let star_for_all = origins.any && !flat.credentials && map.is_empty();
    if !star_for_all {
        preflight.push(("Vary", "Origin".to_owned()));
    }
    let (answer, actual) = proxied(&actual, star_for_all);
    let headers = |list: &[(&str, String)], indent: usize| {
        let mut out = String::new();
        for (name, value) in list {
            let _ = writeln!(out, "{:indent$}add_header {name} \"{value}\" always;", "");
        }
        out
    };
    let mut out = map_bucket_directive(&origins.exact);
    let _ = writeln!(
        out,
        "\n# The origin allowlist: the value of Access-Control-Allow-Origin per Origin."
    );
    let _ = writeln!(out, "map $http_origin $cors_origin {{");
    let _ = writeln!(out, "    default \"{default_origin}\";");
    out.push_str(&map);
    let _ = writeln!(out, "}}\n");
    out.push_str(&answer);
    out.push('\n');
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
        "        # The upstream's own CORS fields would reach the client next to ours: hide them\n\
         \x20       # (the maps above send them on to requests that are not CORS)."
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

/// The `map_hash_bucket_size` the exact keys of these lengths need, when nginx's default (64,
/// a cache line on x86-64) is too small: one hash element is a pointer and the key with two
/// bytes, aligned to a pointer, and a bucket ends with a pointer (`NGX_HASH_ELT_SIZE`); nginx
/// rounds the size to a cache line, so the next power of two is written. Keys of up to 46
/// bytes fit the default, and then nothing is written: a `map_hash_bucket_size` already in the
/// `http` block would be a duplicate.
fn map_bucket_size(lengths: impl Iterator<Item = usize>) -> Option<usize> {
    let pointer = 8;
    let needed =
        lengths.map(|len| pointer + (len + 2).next_multiple_of(pointer) + pointer).max()?;
    (needed > 64).then(|| needed.next_power_of_two())
}

/// The `map_hash_bucket_size` line, with why, when an exact origin needs it (else nothing).
fn map_bucket_directive(exact: &[String]) -> String {
    let Some(size) = map_bucket_size(exact.iter().map(String::len)) else { return String::new() };
    format!(
        "\n# A listed origin is too long for the default bucket of a `map`'s hash (64 bytes on\n\
         # x86-64): nginx would refuse to start (\"could not build map_hash\").\n\
         map_hash_bucket_size {size};\n"
    )
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

    /// nginx refused to start with a 60-byte listed origin (the strict profile's Safari
    /// extension) under the default bucket of 64 bytes: "could not build `map_hash`".
    #[test]
    fn long_origins_get_a_larger_map_bucket() {
        assert_eq!(map_bucket_size([24, 46].into_iter()), None);
        assert_eq!(map_bucket_size([47].into_iter()), Some(128));
        assert_eq!(map_bucket_size([60, 10].into_iter()), Some(128));
        assert_eq!(map_bucket_size([200].into_iter()), Some(256));
        assert_eq!(map_bucket_size(std::iter::empty()), None);
    }

    #[rstest]
    #[case::strict_lists_its_origins_and_lists(
        "strict",
        &["map_hash_bucket_size 128;", "\"https://app.example.test\" $http_origin;", "default \"\";", "Access-Control-Allow-Methods \"GET, POST, PUT\" always;", "Access-Control-Max-Age \"600\" always;", "return 204;", "listen 127.0.0.1:8080;", "proxy_pass http://127.0.0.1:9000;"],
        &["            add_header Access-Control-Allow-Credentials", "default \"true\";"]
    )]
    #[case::credentials_are_sent("strict-credentials", &["Access-Control-Allow-Credentials \"true\" always;"], &[])]
    #[case::public_mirrors_and_sends_star(
        "public",
        &["default \"*\";", "Access-Control-Allow-Methods \"$http_access_control_request_method\" always;"],
        &["            add_header Access-Control-Max-Age", "add_header Vary \"Origin\""]
    )]
    #[case::subdomains_become_regexes("subdomains", &["\"~^https://([a-z0-9-]+\\.)+example\\.test$\" $http_origin;"], &[])]
    #[case::star_with_credentials_reflects("wildcard-credentials", &["default \"$http_origin\";", "Vary \"Origin\""], &[])]
    #[case::limitations_are_stated("groups", &["# What nginx cannot express", "no origin groups", "wildcards-groups."], &[])]
    #[case::differences_are_stated(
        "public",
        &["# Where this nginx recipe answers otherwise than cors-flex (these cases fail too):", "nginx's `$http_origin` is empty both without Origin", "Checked by hostile.empty-origin-public"],
        &["upstream-replacement.single-acao", "upstream-replacement.no-origin-passthrough", "same-origin.upstream-cors-passed-through"]
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

    /// R1, R2, A4: an answer to a request without Origin, or to a same-origin one, carries the
    /// upstream's own Access-Control-* fields (hidden above) and none of ours; a CORS request's
    /// answer carries ours. Each field has one `add_header`, whose map picks the one or the other.
    #[rstest]
    #[case::strict("strict", &["default \"$cors_origin\";", "default \"x-request-id, x-total-count\";"])]
    #[case::credentials("strict-credentials", &["default \"true\";"])]
    #[case::public("public", &["default \"*\";"])]
    fn non_cors_answers_keep_the_upstream_fields(#[case] profile: &str, #[case] ours: &[&str]) {
        let not_cors = [
            "map \"$http_origin|$scheme://$http_host\" $cors_not_cors {\n    default \"\";\n",
            "\"~^\\|\" 1;",
            "\"~*^(http://[^|]+)\\|\\1(:80)?$\" 1;",
            "\"~*^(https://[^|]+)\\|\\1(:443)?$\" 1;",
        ];
        let fields = [
            ("Allow-Origin", "allow_origin"),
            ("Allow-Credentials", "allow_credentials"),
            ("Allow-Methods", "allow_methods"),
            ("Allow-Headers", "allow_headers"),
            ("Max-Age", "max_age"),
            ("Expose-Headers", "expose_headers"),
        ];
        let mut expected: Vec<String> = not_cors.map(str::to_owned).to_vec();
        for (field, var) in fields {
            expected.push(format!("map $cors_not_cors $cors_answer_{var} {{\n    default \""));
            expected.push(format!("\n    1 \"$upstream_http_access_control_{var}\";\n}}\n"));
            expected.push(format!(
                "        add_header Access-Control-{field} \"$cors_answer_{var}\" always;\n"
            ));
        }
        expected.extend(ours.iter().map(|line| (*line).to_owned()));
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        let rendered = check_export(Peer::Nginx, profile, &expected, &[]);
        // The location's own add_header lines (outside the preflight `if`) send nothing directly.
        let location = rendered.split("            return 204;\n        }\n").nth(1).unwrap();
        for line in location.lines().filter(|line| line.contains("add_header Access-Control-")) {
            assert!(line.contains("\"$cors_answer_"), "sent directly: {line}");
        }
    }

    /// V1: a public resource without credentials sends `*` to every CORS request, so its CORS
    /// answers do not vary; its other answers lack the `*` (the upstream's fields instead), so
    /// those vary on Origin. Every other profile's answers vary on Origin, whatever the request.
    #[rstest]
    #[case::public(
        "public",
        &["map $cors_not_cors $cors_answer_vary {\n    default \"\";\n    1 \"Origin\";\n}\n", "        add_header Vary \"$cors_answer_vary\" always;\n"],
        &["add_header Vary \"Origin\""]
    )]
    #[case::strict(
        "strict",
        &["            add_header Vary \"Origin\" always;\n", "        add_header Vary \"Origin\" always;\n"],
        &["$cors_answer_vary"]
    )]
    fn a_public_resource_varies_its_non_cors_answers_on_origin(
        #[case] profile: &str,
        #[case] expected: &[&str],
        #[case] unexpected: &[&str],
    ) {
        check_export(Peer::Nginx, profile, expected, unexpected);
    }

    #[test]
    fn a_dollar_sign_is_refused() {
        assert!(literal("x-$a").unwrap_err().to_string().contains("variable"));
    }
}
