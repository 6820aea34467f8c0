//! `cors-peer`: runs third-party CORS implementations under the conformance profiles.
//!
//! - `cors-peer list`: the peers, one per line: `NAME rust|external DESCRIPTION`.
//! - `cors-peer serve tower-http|actix --profile P --listen ADDR --upstream URL`: runs a Rust
//!   peer, configured by its exported code, in the foreground and prints
//!   `listening on http://ADDR`.
//! - `cors-peer launch PEER --profile P --upstream URL --dir DIR`: renders the peer's
//!   configuration under DIR and prints, as JSON, the command that starts it and its URL; exits
//!   with status 3 when the peer is not installed.
//! - `cors-peer classify PEER REPORT.json...`: classifies `cors-conformance` JSON reports as
//!   passed, failed or unsupported and prints the result as JSON.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cors_conformance::Corpus;
use cors_conformance::peer::classify::{self, PeerData};
use cors_conformance::runner::Report;
use cors_peers::proxy::Upstream;
use cors_peers::{Peer, PeerError, exported, launch};

/// Runs third-party CORS implementations under the conformance profiles.
#[derive(Debug, Parser)]
#[command(name = "cors-peer", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Lists the peers.
    List,
    /// Runs a Rust peer (tower-http, actix) in the foreground.
    Serve {
        /// `tower-http` or `actix`.
        peer: String,
        /// A built-in profile name.
        #[arg(long, value_name = "P")]
        profile: String,
        /// Where to listen (`127.0.0.1:0` picks a free port).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// The upstream, `http://HOST:PORT`.
        #[arg(long, value_name = "URL")]
        upstream: String,
    },
    /// Prepares a peer under a profile and prints how to start it (JSON).
    Launch {
        /// The peer's name.
        peer: String,
        /// A built-in profile name.
        #[arg(long, value_name = "P")]
        profile: String,
        /// The upstream, `http://HOST:PORT`.
        #[arg(long, value_name = "URL")]
        upstream: String,
        /// Where to write the peer's configuration files.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Classifies cors-conformance JSON reports of a peer (or `cors-gateway`).
    Classify {
        /// The peer's name, or `cors-gateway` (no unsupported entries).
        peer: String,
        /// JSON reports written by `cors-conformance run --json-report`.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    match execute(Cli::parse().command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("cors-peer: {error}");
            if error.is_unavailable() { ExitCode::from(3) } else { ExitCode::FAILURE }
        }
    }
}

fn peer(name: &str) -> Result<Peer, PeerError> {
    Peer::from_name(name)
        .map_err(|e| PeerError::Unavailable { peer: name.to_owned(), message: e.to_string() })
}

fn unknown_profile(profile: &str) -> PeerError {
    PeerError::Profile {
        profile: profile.to_owned(),
        message: format!(
            "not a built-in profile; hint: one of {}",
            cors_conformance::profile::names().join(", ")
        ),
    }
}

fn out(text: &str) -> Result<(), PeerError> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).map_err(|e| PeerError::Io {
        context: "cannot write to standard output".to_owned(),
        source: e,
    })
}

fn execute(command: Command) -> Result<ExitCode, PeerError> {
    match command {
        Command::List => {
            let mut text = String::new();
            for peer in Peer::ALL {
                let kind = if peer.is_rust() { "rust" } else { "external" };
                let _ = writeln!(text, "{} {kind} {}", peer.name(), peer.description());
            }
            out(&text)?;
        }
        Command::Serve { peer: name, profile, listen, upstream } => {
            let peer = peer(&name)?;
            let upstream = Upstream::new(&upstream)?;
            let listener = std::net::TcpListener::bind(listen).map_err(|e| PeerError::Io {
                context: format!("cannot listen on {listen}"),
                source: e,
            })?;
            match peer {
                Peer::TowerHttp => {
                    let layer = exported::tower_http_layer(&profile)
                        .ok_or_else(|| unknown_profile(&profile))?;
                    serve_tower(layer, listener, upstream)?;
                }
                Peer::Actix => {
                    let cors =
                        exported::actix_cors(&profile).ok_or_else(|| unknown_profile(&profile))?;
                    cors_peers::actix::serve(cors, listener, upstream)?;
                }
                other => {
                    return Err(PeerError::Unavailable {
                        peer: other.name().to_owned(),
                        message: "not a Rust peer; use `cors-peer launch`".to_owned(),
                    });
                }
            }
        }
        Command::Launch { peer: name, profile, upstream, dir } => {
            let launch = launch::prepare(peer(&name)?, &profile, &upstream, &dir)?;
            out(&(serde_json::to_string(&launch).unwrap_or_default() + "\n"))?;
        }
        Command::Classify { peer: name, reports } => {
            let data = if name == "cors-gateway" {
                PeerData::default()
            } else {
                peer(&name)?.data().map_err(|e| PeerError::Data {
                    file: format!("spec-tests/peers/{name}"),
                    message: e.to_string(),
                })?
            };
            let mut merged = Report::empty(&name);
            for path in &reports {
                let text = cors_conformance::input::read_text(path).map_err(|e| {
                    PeerError::Data { file: e.path.display().to_string(), message: e.reason }
                })?;
                let report = cors_conformance::report::from_json(&text).map_err(|message| {
                    PeerError::Data { file: path.display().to_string(), message }
                })?;
                merged.merge(report);
            }
            let corpus = Corpus::builtin().map_err(|e| PeerError::Data {
                file: "spec-tests cases".to_owned(),
                message: e.to_string(),
            })?;
            let found = classify::classify(&name, &merged, &data, &corpus);
            out(&(serde_json::to_string_pretty(&found).unwrap_or_default() + "\n"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn serve_tower(
    layer: tower_http::cors::CorsLayer,
    listener: std::net::TcpListener,
    upstream: Upstream,
) -> Result<(), PeerError> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
            PeerError::Io { context: "cannot start the tokio runtime".to_owned(), source: e }
        })?;
    runtime.block_on(async move {
        listener.set_nonblocking(true).map_err(|e| PeerError::Io {
            context: "cannot configure the listener".to_owned(),
            source: e,
        })?;
        let addr = listener.local_addr().map_err(|e| PeerError::Io {
            context: "cannot read the local address".to_owned(),
            source: e,
        })?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| PeerError::Io {
            context: "cannot use the listener".to_owned(),
            source: e,
        })?;
        cors_peers::announce(addr);
        cors_peers::tower::serve(layer, listener, upstream).await
    })
}
