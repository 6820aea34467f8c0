//! What the project's own tooling shares: `cargo xtask`, the peer drivers (`cors-peers`) and
//! the browser suite start servers on loopback, look for installed programs (nginx, Envoy,
//! valgrind, Chromium), find the cargo target directory and fill configuration templates; the
//! iteration harnesses (cors-engine's `hotpath`, cors-hyper's `layer_cost`) read the same
//! command line ([`harness`]). Each of those is written once, here.
//!
//! ```
//! use cors_devtools::{free_loopback_port, render};
//!
//! let addr = free_loopback_port()?;
//! let conf = render("listen {{LISTEN}};\n", &[("LISTEN", &addr.to_string())])?;
//! assert_eq!(conf, format!("listen {addr};\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Spec conformance
//!
//! Not applicable: nothing here reads a request or a policy.
//!
//! # Untrusted input
//!
//! None: the inputs are the project's own templates and the machine's environment
//! (`PATH`, `$ENVOY`, `$CARGO_TARGET_DIR`).
//!
//! # Crate features
//!
//! None, and no dependencies: `xtask` links this crate, and tidy keeps `xtask` free of product
//! code so that `cargo xtask ci` still builds and reports when a product crate is broken.

pub mod harness;
mod program;
mod template;

pub use program::{NotFound, find_envoy, find_program};
pub use template::{TemplateError, render};

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

/// A loopback address whose port was free a moment ago, for programs that must be told their
/// port (nginx, Envoy, `chromedriver`) rather than report the one they bound.
///
/// Another process may take the port before the program binds it; callers that can should
/// instead bind port 0 themselves and read the address back.
///
/// # Errors
///
/// Binding `127.0.0.1:0` fails (no loopback interface, or no free port).
pub fn free_loopback_port() -> std::io::Result<SocketAddr> {
    TcpListener::bind(("127.0.0.1", 0))?.local_addr()
}

/// The workspace root: the parent of this crate's directory.
#[must_use]
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// The cargo target directory: `$CARGO_TARGET_DIR` (relative to the workspace root when
/// relative), else `target/` in the workspace root.
#[must_use]
pub fn target_dir() -> PathBuf {
    let root = workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// `name` with the platform's executable suffix (`cors-gateway`, `cors-gateway.exe`).
#[must_use]
pub fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_is_on_loopback_and_can_be_bound() {
        let addr = free_loopback_port().unwrap();
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
        TcpListener::bind(addr).unwrap();
    }

    #[test]
    fn the_workspace_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"), "{manifest}");
    }
}
