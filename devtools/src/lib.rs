//! What the project's own tooling shares: `cargo xtask`, the peer drivers (`cors-peers`) and
//! the browser suite start servers on loopback, look for installed programs (nginx, Envoy,
//! valgrind, Chromium), find the cargo target directory and fill configuration templates; the
//! iteration harnesses (cors-engine's `hotpath`, cors-hyper's `layer_cost`) read the same
//! command line ([`harness`]); the tests of the command-line programs close a child's stderr
//! ([`closed_pipe`]). Each of those is written once, here.
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
/// port (nginx, Envoy, `chromedriver`, a gateway's Flex Local Mode listener) rather than report
/// the one they bound, and for addresses where nothing should listen.
///
/// The port is chosen below the range the kernel hands out by itself (Linux's
/// `/proc/sys/net/ipv4/ip_local_port_range`, 32768 to 60999 by default), at a random place:
/// a port of that range, released, could be taken at once as the local port of any outgoing
/// connection of another process (a test's client, say), and a program then told to listen on
/// it fails to bind (`EADDRINUSE`: the connection's socket holds the port without
/// `SO_REUSEADDR`), or a client told that nothing listens there reaches someone. Below the
/// range, only a program given this very port binds it. Where the range cannot be read, or
/// nothing below it is free, the kernel picks (port 0), as before.
///
/// Another program told a port outside the range may still take it first; callers that can
/// should instead bind port 0 themselves and read the address back.
///
/// # Errors
///
/// Binding `127.0.0.1:0` fails (no loopback interface, or no free port).
pub fn free_loopback_port() -> std::io::Result<SocketAddr> {
    let below = ephemeral_ports().map_or(0, |(low, _)| low);
    // At least 4 096 ports to choose from, above the well-known and common service ports.
    if below >= 16_384 {
        let span = u64::from(below - 8_192);
        let mut pick = random_seed();
        for _ in 0..64 {
            let offset = u16::try_from(pick % span).unwrap_or(0);
            if let Ok(listener) = TcpListener::bind(("127.0.0.1", 8_192 + offset)) {
                return listener.local_addr();
            }
            pick = pick.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        }
    }
    TcpListener::bind(("127.0.0.1", 0))?.local_addr()
}

/// The first and last port the kernel picks for an outgoing connection or a bind of port 0
/// (Linux); `None` where that cannot be read.
fn ephemeral_ports() -> Option<(u16, u16)> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut bounds = range.split_whitespace().map(str::parse::<u16>);
    Some((bounds.next()?.ok()?, bounds.next()?.ok()?))
}

/// A seed that differs between processes and calls (std's per-process random hash keys, the
/// process id and the clock): enough to spread concurrent test processes over the ports.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    hasher.write_u128(now.map_or(0, |now| now.as_nanos()));
    hasher.finish()
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

/// A pipe whose reader is gone, for a child's stdout or stderr: each write the child makes to
/// it fails (`EPIPE`), from its first, with no race against a test closing it later. It stands
/// for `command 2>&1 | head -1` or a log shipper that died.
///
/// # Errors
///
/// The pipe cannot be made (no file descriptors left).
pub fn closed_pipe() -> std::io::Result<std::process::Stdio> {
    let (reader, writer) = std::io::pipe()?;
    drop(reader);
    Ok(writer.into())
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
    fn a_closed_pipe_refuses_every_write() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "echo one; echo two; echo three"])
            .stdout(closed_pipe().unwrap())
            .spawn()
            .unwrap();
        // The shell's first write fails; `echo`'s failure makes its status non-zero.
        assert!(!child.wait().unwrap().success());
    }

    #[test]
    fn a_free_port_is_on_loopback_and_can_be_bound() {
        let addr = free_loopback_port().unwrap();
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
        TcpListener::bind(addr).unwrap();
    }

    /// Where the kernel says which ports it picks by itself, the port is outside that range (no
    /// connection of another process can take it meanwhile), and calls spread over the ports.
    #[test]
    fn a_free_port_is_below_the_ports_the_kernel_picks() {
        let Some((low, high)) = ephemeral_ports() else { return };
        assert!(low <= high, "{low} {high}");
        let ports: std::collections::BTreeSet<u16> =
            (0..20).map(|_| free_loopback_port().unwrap().port()).collect();
        assert!(ports.iter().all(|&port| (8_192..low).contains(&port)), "{ports:?} {low}");
        assert!(ports.len() >= 15, "{ports:?}");
    }

    #[test]
    fn the_workspace_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"), "{manifest}");
    }
}
