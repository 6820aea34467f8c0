//! How to start each peer under a profile: the program, its arguments, and the URL it will
//! listen on.
//!
//! The configuration a peer runs is exactly what `cors-conformance export` writes for it
//! ([`Peer::export`]): the nginx and Apache files are included from a minimal main
//! configuration of their own (pid, logs and temporary files under the run's directory), the
//! Envoy bootstrap, express server, Go program and Flask app run as exported. The Rust peers
//! run the exported Rust code, compiled into this crate ([`crate::exported`]).
//!
//! The caller (`cargo xtask conformance --peers`) starts the program itself, so it owns the
//! process and can kill it; the Rust peers are started as `cors-peer serve PEER ...`.

use std::path::{Path, PathBuf};
use std::process::Command;

use cors_conformance::peer::{Endpoints, Peer, Subject};
use serde::Serialize;

use crate::error::PeerError;

/// The main nginx configuration the exported `http { }`-level file is included from.
const NGINX_MAIN: &str = include_str!("../nginx/nginx.conf.in");

/// The main Apache configuration the exported site is included from.
const APACHE_MAIN: &str = include_str!("../apache/httpd.conf.in");

/// A peer ready to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Launch {
    /// The peer's name.
    pub peer: String,
    /// The peer's name and version, for the matrix's column heading (`rs-cors 1.7.0`).
    pub label: String,
    /// The program to run.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Where it will accept requests once started, `http://127.0.0.1:PORT`.
    pub url: String,
    /// Whether it prints `listening on URL` itself (otherwise wait until the port accepts).
    pub announces: bool,
}

/// Prepares `peer` under `profile` (a built-in name), forwarding to `upstream`, writing its
/// configuration files under `dir`.
///
/// # Errors
///
/// The peer is not installed ([`PeerError::is_unavailable`]), the profile does not load, or a
/// file cannot be written.
pub fn prepare(peer: Peer, profile: &str, upstream: &str, dir: &Path) -> Result<Launch, PeerError> {
    let subject = Subject::load(profile)
        .map_err(|e| PeerError::Profile { profile: profile.to_owned(), message: e.to_string() })?;
    std::fs::create_dir_all(dir)
        .map_err(|e| PeerError::io(format!("cannot create {}", dir.display()), e))?;
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let endpoints = Endpoints::new(&format!("127.0.0.1:{port}"), upstream)
        .map_err(|e| PeerError::Upstream { url: upstream.to_owned(), message: e.to_string() })?;
    let export = || {
        peer.export(&subject, &endpoints).map_err(|e| PeerError::Data {
            file: format!("the {} export of {profile}", peer.name()),
            message: e.to_string(),
        })
    };
    let launch = |program: PathBuf, args: Vec<String>, announces: bool| Launch {
        peer: peer.name().to_owned(),
        label: peer.name().to_owned(),
        program,
        args,
        url: url.clone(),
        announces,
    };
    let shown = |path: &Path| path.display().to_string();
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
            let program = find(peer, "nginx", &["/usr/sbin/nginx"])?;
            write(&dir.join("cors.conf"), &export()?)?;
            let config = dir.join("nginx.conf");
            write(
                &config,
                &render("peers/nginx/nginx.conf.in", NGINX_MAIN, &[("DIR", &shown(dir))])?,
            )?;
            let args =
                ["-p", &shown(dir), "-c", &shown(&config), "-e", &shown(&dir.join("error.log"))]
                    .map(str::to_owned)
                    .to_vec();
            Ok(launch(program, args, false))
        }
        Peer::Apache => {
            let program = find(peer, "apache2", &["/usr/sbin/apache2", "/usr/sbin/httpd"])?;
            let modules = apache_modules()?;
            write(&dir.join("cors-apache.conf"), &export()?)?;
            let config = dir.join("httpd.conf");
            let values = [("DIR", &*shown(dir)), ("MODULES", &*shown(&modules))];
            write(&config, &render("peers/apache/httpd.conf.in", APACHE_MAIN, &values)?)?;
            let args = ["-X", "-f", &shown(&config), "-d", &shown(dir)].map(str::to_owned).to_vec();
            Ok(launch(program, args, false))
        }
        Peer::Envoy => {
            let program = find_envoy()?;
            let config = dir.join("envoy.yaml");
            write(&config, &export()?)?;
            let args = ["--config-path", &shown(&config), "--concurrency", "1"]
                .into_iter()
                .chain(["--log-level", "warn", "--base-id", &port.to_string()])
                .map(str::to_owned)
                .collect();
            Ok(launch(program, args, false))
        }
        Peer::Express => {
            let modules = express_modules()?;
            let program = find(peer, "node", &[])?;
            // Next to node_modules, so that `require` finds express and cors.
            let server = modules.join(format!("server-{port}.js"));
            write(&server, &export()?)?;
            Ok(launch(program, vec![shown(&server)], true))
        }
        Peer::RsCors => {
            let (program, version) = build_go(&export()?, dir)?;
            let mut launch = launch(program, Vec::new(), true);
            launch.label = format!("rs-cors {version}");
            Ok(launch)
        }
        Peer::FlaskCors => {
            let python = python_venv()?;
            let app = dir.join("app.py");
            write(&app, &export()?)?;
            Ok(launch(python, vec![shown(&app)], true))
        }
        other => Err(unavailable(other, "no launcher for this peer")),
    }
}

fn unavailable(peer: Peer, message: &str) -> PeerError {
    PeerError::Unavailable { peer: peer.name().to_owned(), message: message.to_owned() }
}

fn write(path: &Path, text: &str) -> Result<(), PeerError> {
    std::fs::write(path, text)
        .map_err(|e| PeerError::io(format!("cannot write {}", path.display()), e))
}

/// Fills `template` (the file `file`) with `values` ([`cors_devtools::render`]).
fn render(file: &str, template: &str, values: &[(&str, &str)]) -> Result<String, PeerError> {
    cors_devtools::render(template, values)
        .map_err(|e| PeerError::Data { file: file.to_owned(), message: e.to_string() })
}

/// A port that was free a moment ago (the peer binds it right after).
fn free_port() -> Result<u16, PeerError> {
    cors_devtools::free_loopback_port()
        .map(|addr| addr.port())
        .map_err(|e| PeerError::io("cannot find a free port", e))
}

/// `program` on `PATH` or in an sbin directory, else the first of `fallbacks` that exists
/// ([`cors_devtools::find_program`]).
fn find(peer: Peer, program: &str, fallbacks: &[&str]) -> Result<PathBuf, PeerError> {
    let names: Vec<&str> = std::iter::once(program).chain(fallbacks.iter().copied()).collect();
    cors_devtools::find_program(None, &names).map_err(|e| unavailable(peer, &e.to_string()))
}

/// Where Debian keeps Apache's modules.
fn apache_modules() -> Result<PathBuf, PeerError> {
    let dir = PathBuf::from("/usr/lib/apache2/modules");
    if dir.join("mod_headers.so").is_file() {
        Ok(dir)
    } else {
        Err(unavailable(Peer::Apache, "no mod_headers.so in /usr/lib/apache2/modules"))
    }
}

/// Envoy, found as `scripts/install-envoy.sh` finds it ([`cors_devtools::find_envoy`]).
fn find_envoy() -> Result<PathBuf, PeerError> {
    cors_devtools::find_envoy().map_err(|e| unavailable(Peer::Envoy, &e.to_string()))
}

/// The directory the install script puts a peer's packages in: `target/peers/NAME/`.
fn install_dir(name: &str) -> PathBuf {
    cors_devtools::target_dir().join("peers").join(name)
}

/// `node_modules` with express and cors: `target/peers/express/` (where the install script
/// puts them), or `$CORS_PEERS_EXPRESS_DIR`.
fn express_modules() -> Result<PathBuf, PeerError> {
    let root = std::env::var_os("CORS_PEERS_EXPRESS_DIR")
        .map_or_else(|| install_dir("express"), PathBuf::from);
    for package in ["express", "cors"] {
        if !root.join("node_modules").join(package).join("package.json").is_file() {
            return Err(unavailable(
                Peer::Express,
                &format!("{package} is not installed in {}", root.display()),
            ));
        }
    }
    Ok(root)
}

/// The virtual environment's python with Flask and flask-cors: `target/peers/python/venv/`.
fn python_venv() -> Result<PathBuf, PeerError> {
    let python = install_dir("python").join("venv").join("bin").join("python");
    let ok = Command::new(&python)
        .args(["-c", "import flask, flask_cors"])
        .output()
        .is_ok_and(|output| output.status.success());
    if ok {
        Ok(python)
    } else {
        Err(unavailable(
            Peer::FlaskCors,
            &format!("no Flask and flask-cors in {}", python.display()),
        ))
    }
}

/// Debian's rs/cors sources, built in GOPATH mode without the network.
const GOPATH: &str = "/usr/share/gocode";

/// Builds the exported Go program under `dir`; returns the binary and rs/cors's version (the
/// Debian package's, without its revision).
fn build_go(main: &str, dir: &Path) -> Result<(PathBuf, String), PeerError> {
    let go = find(Peer::RsCors, "go", &["/usr/lib/go/bin/go", "/usr/bin/go"])?;
    if !Path::new(GOPATH).join("src/github.com/rs/cors/cors.go").is_file() {
        return Err(unavailable(
            Peer::RsCors,
            "no rs/cors in /usr/share/gocode (golang-github-rs-cors-dev)",
        ));
    }
    let source = dir.join("main.go");
    write(&source, main)?;
    let binary = dir.join("rs-cors-peer");
    let output = Command::new(go)
        .arg("build")
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .env("GOPATH", GOPATH)
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("GOCACHE", install_dir("go-cache"))
        .output()
        .map_err(|e| PeerError::io("cannot run go build", e))?;
    if !output.status.success() {
        return Err(PeerError::Config {
            peer: "rs-cors",
            message: format!("go build failed: {}", String::from_utf8_lossy(&output.stderr).trim()),
        });
    }
    let version = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "golang-github-rs-cors-dev"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map_or_else(
            || "(unknown version)".to_owned(),
            |output| {
                let text = String::from_utf8_lossy(&output.stdout).into_owned();
                text.split('-').next().unwrap_or_default().to_owned()
            },
        );
    Ok((binary, version))
}
