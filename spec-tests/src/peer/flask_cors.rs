//! flask-cors, as a whole small server: a Flask app with `CORS(app, ...)`, whose one view
//! forwards every request to the upstream with `http.client`, served by werkzeug.
//!
//! The translation, option by option: `origins` is a list of strings and compiled regexes, or
//! `"*"` (with `send_wildcard=True` when there are no credentials, so `*` is sent; with
//! credentials flask-cors reflects the origin); `methods` and `allow_headers` are lists, left
//! out to get the extension's own behaviour for mirroring policies (`allow_headers` defaults to
//! reflecting the requested headers, `methods` to a fixed list); `expose_headers`, `max_age` and
//! `supports_credentials` as configured. OPTIONS requests get Flask's automatic answer, as for
//! any route that does not handle OPTIONS itself.

use std::fmt::Write as _;

use super::Endpoints;
use super::flat::{Flat, Requested};
use super::{quoted, regex_escape};
use crate::error::DataError;

/// Renders `app.py` for `flat`.
pub(super) fn render(flat: &Flat, endpoints: &Endpoints) -> Result<String, DataError> {
    let (host, port) = endpoints.listen_parts()?;
    endpoints.upstream_parts()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let options = options(flat);
    Ok(format!(
        r#"
import http.client
import re
from urllib.parse import urlsplit

from flask import Flask, Response, request
from flask_cors import CORS
from werkzeug.routing import Rule
from werkzeug.serving import make_server

UPSTREAM = urlsplit({upstream})
LISTEN = ({host}, {port})
HOP_BY_HOP = {{
    "connection",
    "content-length",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}}

app = Flask(__name__)
CORS(
    app,
{options})


def proxy(path=""):
    """Forwards the request to the upstream and returns its answer."""
    if request.method == "OPTIONS":
        # Flask's automatic OPTIONS answer, as for any route that does not handle OPTIONS.
        return app.make_default_options_response()
    connection = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=30)
    target = request.environ.get("RAW_URI") or request.full_path
    connection.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
    for name, value in request.headers.items():
        if name.lower() not in HOP_BY_HOP:
            connection.putheader(name, value)
    connection.endheaders(request.get_data() or None)
    answer = connection.getresponse()
    body = answer.read()
    headers = [(n, v) for n, v in answer.getheaders() if n.lower() not in HOP_BY_HOP]
    connection.close()
    return Response(body, status=answer.status, headers=headers)


# Every method reaches the proxy (a Rule without `methods` allows them all).
app.url_map.add(Rule("/", endpoint="proxy"))
app.url_map.add(Rule("/<path:path>", endpoint="proxy"))
app.view_functions["proxy"] = proxy

if __name__ == "__main__":
    server = make_server(LISTEN[0], LISTEN[1], app, threaded=True)
    print(f"listening on http://{{server.host}}:{{server.port}}", flush=True)
    server.serve_forever()
"#,
        upstream = quoted(&endpoints.upstream),
        host = quoted(host),
    ))
}

/// The keyword arguments of `CORS(app, ...)` for `flat`, one per line.
fn options(flat: &Flat) -> String {
    let list = |items: &[String]| {
        format!("[{}]", items.iter().map(|item| quoted(item)).collect::<Vec<_>>().join(", "))
    };
    let mut options = String::new();
    let origins = &flat.origins;
    if origins.any {
        let _ = writeln!(options, "    origins=\"*\",");
        if !flat.credentials {
            let _ = writeln!(options, "    send_wildcard=True,");
        }
    } else {
        // flask-cors reads a string holding `[`, `(`, `*`... as a regular expression, so such
        // origins (IPv6 literals) go in as anchored, escaped regexes.
        let mut entries: Vec<String> = origins
            .exact
            .iter()
            .map(|exact| {
                if exact.contains(['[', ']', '(', ')', '*', '?', '$', '^', '\\']) {
                    format!("re.compile({})", quoted(&format!("^{}$", regex_escape(exact))))
                } else {
                    quoted(exact)
                }
            })
            .collect();
        entries.extend(
            origins.pattern_regexes().iter().map(|regex| format!("re.compile({})", quoted(regex))),
        );
        let _ = writeln!(options, "    origins=[{}],", entries.join(", "));
    }
    if let Requested::List(methods) = &flat.methods {
        let _ = writeln!(options, "    methods={},", list(methods));
    }
    if let Requested::List(headers) = &flat.headers {
        let _ = writeln!(options, "    allow_headers={},", list(headers));
    }
    if !flat.expose.is_empty() {
        let _ = writeln!(options, "    expose_headers={},", list(&flat.expose));
    }
    if let Some(seconds) = flat.max_age {
        let _ = writeln!(options, "    max_age={seconds},");
    }
    let _ = writeln!(
        options,
        "    supports_credentials={},",
        if flat.credentials { "True" } else { "False" }
    );
    options
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::super::Peer;
    use super::super::tests::check_export;

    #[rstest]
    #[case::star_sends_star("wildcard-origin", &["origins=\"*\",", "send_wildcard=True,"], &[])]
    #[case::star_with_credentials_reflects("wildcard-credentials", &["origins=\"*\",", "supports_credentials=True,"], &["send_wildcard"])]
    #[case::subdomains_become_regexes("subdomains", &["re.compile(\"^https://([a-z0-9-]+\\\\.)+example\\\\.test$\")"], &[])]
    #[case::strict("strict", &["methods=[\"GET\", \"POST\", \"PUT\"],", "max_age=600,", "LISTEN = (\"127.0.0.1\", 8080)", "re.compile(\"^http://\\\\[::1\\\\]:3000$\")"], &[])]
    fn flask_apps_follow_the_profile(
        #[case] profile: &str,
        #[case] expected: &[&str],
        #[case] unexpected: &[&str],
    ) {
        check_export(Peer::FlaskCors, profile, expected, unexpected);
    }
}
