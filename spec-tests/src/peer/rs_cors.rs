//! Go's rs/cors, as a whole small server: `cors.New(cors.Options{...}).Handler` around
//! `httputil.NewSingleHostReverseProxy`.
//!
//! The translation, option by option (rs/cors 1.7): `AllowedOrigins` lists exact origins and
//! subdomain patterns as its one-`*` wildcards (`https://*.example.test`), or `*`; a `*` origin
//! with credentials becomes `AllowOriginFunc` returning true (it reflects the origin: rs/cors would
//! send `*` with credentials otherwise), and a policy without origins `AllowOriginFunc` returning
//! false (an empty `AllowedOrigins` allows every origin); `AllowedMethods`, `AllowedHeaders` (`*` for mirroring),
//! `ExposedHeaders`, `MaxAge` and `AllowCredentials` as configured. rs/cors cannot mirror methods
//! (the standard methods are listed instead) and reads an empty method list as its defaults.

use std::fmt::Write as _;

use super::Endpoints;
use super::flat::{Flat, Requested};
use super::quoted;
use crate::error::DataError;

/// The methods listed when a policy mirrors any requested method.
const STANDARD_METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/// Renders `main.go` for `flat`.
pub(super) fn render(flat: &Flat, endpoints: &Endpoints) -> Result<String, DataError> {
    endpoints.listen_parts()?;
    endpoints.upstream_parts()?;
    let options = options(flat);
    Ok(format!(
        r#"
package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/rs/cors"
)

func main() {{
	upstream, err := url.Parse({upstream})
	if err != nil {{
		log.Fatal(err)
	}}
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	c := cors.New(cors.Options{{
{options}	}})
	listener, err := net.Listen("tcp", {listen})
	if err != nil {{
		log.Fatal(err)
	}}
	fmt.Printf("listening on http://%s\n", listener.Addr())
	log.Fatal(http.Serve(listener, c.Handler(proxy)))
}}
"#,
        upstream = quoted(&endpoints.upstream),
        listen = quoted(&endpoints.listen),
    ))
}

/// The fields of `cors.Options` for `flat`, one per line.
fn options(flat: &Flat) -> String {
    let list = |items: &mut dyn Iterator<Item = &str>| {
        format!("[]string{{{}}}", items.map(quoted).collect::<Vec<_>>().join(", "))
    };
    let mut options = String::new();
    let origins = &flat.origins;
    if origins.any && flat.credentials {
        let _ = writeln!(
            options,
            "\t\t// Any origin, reflected: with AllowedOrigins \"*\" rs/cors would send `*` next to\n\t\t// credentials."
        );
        let _ =
            writeln!(options, "\t\tAllowOriginFunc: func(origin string) bool {{ return true }},");
    } else if origins.any {
        let _ = writeln!(options, "\t\tAllowedOrigins: []string{{\"*\"}},");
    } else if origins.exact.is_empty() && origins.patterns.is_empty() {
        let _ = writeln!(
            options,
            "\t\t// No origin is allowed: an empty AllowedOrigins would mean every origin to rs/cors."
        );
        let _ =
            writeln!(options, "\t\tAllowOriginFunc: func(origin string) bool {{ return false }},");
    } else {
        let mut all: Vec<String> = origins.exact.clone();
        all.extend(origins.patterns.iter().map(|pattern| {
            let port = pattern.port().map(|port| format!(":{port}")).unwrap_or_default();
            format!("{}://*.{}{port}", pattern.scheme(), pattern.domain())
        }));
        let _ =
            writeln!(options, "\t\tAllowedOrigins: {},", list(&mut all.iter().map(String::as_str)));
    }
    match &flat.methods {
        Requested::Mirror => {
            let _ = writeln!(
                options,
                "\t\t// rs/cors cannot mirror the requested method: the standard methods."
            );
            let _ = writeln!(
                options,
                "\t\tAllowedMethods: {},",
                list(&mut STANDARD_METHODS.into_iter())
            );
        }
        Requested::List(methods) if methods.is_empty() => {
            let _ = writeln!(
                options,
                "\t\t// No method is allowed, which rs/cors cannot say: an empty list means GET, POST, HEAD."
            );
        }
        Requested::List(methods) => {
            let _ = writeln!(
                options,
                "\t\tAllowedMethods: {},",
                list(&mut methods.iter().map(String::as_str))
            );
        }
    }
    match &flat.headers {
        Requested::Mirror => {
            let _ = writeln!(options, "\t\tAllowedHeaders: []string{{\"*\"}},");
        }
        Requested::List(headers) => {
            let _ = writeln!(
                options,
                "\t\tAllowedHeaders: {},",
                list(&mut headers.iter().map(String::as_str))
            );
        }
    }
    if !flat.expose.is_empty() {
        let _ = writeln!(
            options,
            "\t\tExposedHeaders: {},",
            list(&mut flat.expose.iter().map(String::as_str))
        );
    }
    if let Some(seconds) = flat.max_age {
        let _ = writeln!(options, "\t\tMaxAge: {seconds},");
    }
    let _ = writeln!(options, "\t\tAllowCredentials: {},", flat.credentials);
    options
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::super::Peer;
    use super::super::tests::check_export;

    #[rstest]
    #[case::subdomains_become_wildcards("subdomains", &["\"https://*.example.test\", \"http://*.dev.example.test:8080\""], &[])]
    #[case::star_with_credentials_reflects("wildcard-credentials", &["AllowOriginFunc: func(origin string) bool { return true },", "AllowCredentials: true,"], &["AllowedOrigins: "])]
    #[case::strict("strict", &["AllowedMethods: []string{\"GET\", \"POST\", \"PUT\"},", "MaxAge: 600,", "net.Listen(\"tcp\", \"127.0.0.1:8080\")", "url.Parse(\"http://127.0.0.1:9000\")"], &[])]
    #[case::closed_refuses_every_origin("closed", &["AllowOriginFunc: func(origin string) bool { return false },"], &["AllowedOrigins: "])]
    #[case::public_lists_standard_methods("public", &["AllowedOrigins: []string{\"*\"},", "AllowedHeaders: []string{\"*\"},", "\"PATCH\""], &["MaxAge"])]
    fn go_servers_follow_the_profile(
        #[case] profile: &str,
        #[case] expected: &[&str],
        #[case] unexpected: &[&str],
    ) {
        check_export(Peer::RsCors, profile, expected, unexpected);
    }
}
