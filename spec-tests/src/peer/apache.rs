//! Apache httpd, configured the way its users usually do it: `SetEnvIf Origin` copies an allowed
//! Origin into an environment variable, `Header always set ... env=CORS_ORIGIN` sends the CORS
//! headers when it is set, `Header always merge Vary Origin` varies, and a rewrite answers every
//! OPTIONS request with 204 (`RewriteRule ^ - [R=204,L]`) before `ProxyPass` forwards the rest.
//!
//! The export is a site file with its own `Listen` and `<VirtualHost>`.

use std::fmt::Write as _;

use super::flat::{Flat, Requested};
use super::{Endpoints, origin_alternatives};
use crate::error::DataError;

/// Renders the site file of `flat`.
pub(super) fn render(flat: &Flat, endpoints: &Endpoints) -> Result<String, DataError> {
    endpoints.upstream_parts()?;
    let listen = &endpoints.listen;
    let mut out = String::new();
    let _ = writeln!(out, "\nListen {listen}\n");
    let _ = writeln!(out, "<VirtualHost {listen}>");
    let _ = writeln!(out, "    ServerName localhost");
    let _ = writeln!(
        out,
        "    # The origin allowlist: CORS_ORIGIN holds the value of Access-Control-Allow-Origin."
    );
    if flat.origins.any {
        let value = if flat.credentials { "$0" } else { "*" };
        let _ = writeln!(out, "    SetEnvIf Origin \"^.+$\" CORS_ORIGIN={value}");
    }
    let alternatives = origin_alternatives(flat);
    if !alternatives.is_empty() {
        let _ = writeln!(
            out,
            "    SetEnvIf Origin \"^({})$\" CORS_ORIGIN=$0",
            alternatives.join("|").replace('"', "\\\"")
        );
    }
    let set = |out: &mut String, name: &str, value: &str| {
        let _ = writeln!(out, "    Header always set {name} \"{value}\" env=CORS_ORIGIN");
    };
    set(&mut out, "Access-Control-Allow-Origin", "%{CORS_ORIGIN}e");
    if flat.credentials {
        set(&mut out, "Access-Control-Allow-Credentials", "true");
    }
    match &flat.methods {
        Requested::Mirror => {
            set(
                &mut out,
                "Access-Control-Allow-Methods",
                "expr=%{req:Access-Control-Request-Method}",
            );
        }
        Requested::List(list) if !list.is_empty() => {
            set(&mut out, "Access-Control-Allow-Methods", &value(&list.join(", ")));
        }
        Requested::List(_) => {}
    }
    match &flat.headers {
        Requested::Mirror => {
            set(
                &mut out,
                "Access-Control-Allow-Headers",
                "expr=%{req:Access-Control-Request-Headers}",
            );
        }
        Requested::List(list) if !list.is_empty() => {
            set(&mut out, "Access-Control-Allow-Headers", &value(&list.join(", ")));
        }
        Requested::List(_) => {}
    }
    if let Some(seconds) = flat.max_age {
        set(&mut out, "Access-Control-Max-Age", &seconds.to_string());
    }
    if !flat.expose.is_empty() {
        set(&mut out, "Access-Control-Expose-Headers", &value(&flat.expose.join(", ")));
    }
    if !(flat.origins.any && !flat.credentials && alternatives.is_empty()) {
        let _ = writeln!(out, "    Header always merge Vary Origin");
    }
    let _ = writeln!(
        out,
        "\n    # Preflights (and every other OPTIONS request) are answered here with 204."
    );
    let _ = writeln!(out, "    RewriteEngine On");
    let _ = writeln!(out, "    RewriteCond %{{REQUEST_METHOD}} =OPTIONS");
    let _ = writeln!(out, "    RewriteRule ^ - [R=204,L]\n");
    let upstream = endpoints.upstream.trim_end_matches('/');
    let _ = writeln!(out, "    ProxyPreserveHost On");
    let _ = writeln!(out, "    ProxyPass / {upstream}/");
    let _ = writeln!(out, "    ProxyPassReverse / {upstream}/");
    let _ = writeln!(out, "</VirtualHost>");
    Ok(out)
}

/// A literal `Header` value: `%` starts a format specifier, so it is doubled; quotes escaped.
fn value(text: &str) -> String {
    text.replace('%', "%%").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::super::Peer;
    use super::super::tests::check_export;
    use super::*;

    #[rstest]
    #[case::strict_lists_escaped_origins(
        "strict",
        &["SetEnvIf Origin \"^(https://app\\.example\\.test|http://localhost:8080|", "http://\\[::1\\]:3000", "Header always set Access-Control-Allow-Methods \"GET, POST, PUT\" env=CORS_ORIGIN", "RewriteRule ^ - [R=204,L]", "ProxyPass / http://127.0.0.1:9000/", "Listen 127.0.0.1:8080"],
        &["Access-Control-Allow-Credentials"]
    )]
    #[case::public_answers_star("public", &["SetEnvIf Origin \"^.+$\" CORS_ORIGIN=*", "expr=%{req:Access-Control-Request-Method}"], &["Vary"])]
    #[case::star_with_credentials_reflects("wildcard-credentials", &["CORS_ORIGIN=$0", "Access-Control-Allow-Credentials \"true\"", "Header always merge Vary Origin"], &["CORS_ORIGIN=*"])]
    #[case::subdomains_become_regexes("subdomains", &["https://([a-z0-9-]+\\.)+example\\.test"], &[])]
    fn apache_configs_follow_the_profile(
        #[case] profile: &str,
        #[case] expected: &[&str],
        #[case] unexpected: &[&str],
    ) {
        check_export(Peer::Apache, profile, expected, unexpected);
    }

    #[test]
    fn percent_signs_are_doubled() {
        assert_eq!(value("x-%a"), "x-%%a");
    }
}
