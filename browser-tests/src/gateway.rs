//! Builds and runs `cors-gateway serve`, the program under test, as a child process.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::error::Error;

/// How long the gateway may take to print its `listening on` line.
const READY_LIMIT: Duration = Duration::from_secs(30);
/// The line `cors-gateway serve` prints on stdout once it accepts connections.
const READY_PREFIX: &str = "listening on http://";

/// Returns the `cors-gateway` binary: `$CORS_GATEWAY_BIN` when set, else the workspace's debug
/// build, built first with `cargo build -p cors-gateway --bin cors-gateway` (a no-op when fresh).
///
/// `workspace` is the workspace root; the binary is looked for in
/// [`cors_devtools::target_dir`].
pub fn gateway_binary(workspace: &Path) -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os("CORS_GATEWAY_BIN") {
        return Ok(PathBuf::from(path));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let what = "cargo build -p cors-gateway --bin cors-gateway";
    let output = Command::new(cargo)
        .args(["build", "-p", "cors-gateway", "--bin", "cors-gateway"])
        .current_dir(workspace)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::io(what, e))?;
    if !output.status.success() {
        return Err(Error::process(
            what,
            format!("failed with {}:\n{}", output.status, String::from_utf8_lossy(&output.stderr)),
        ));
    }
    Ok(cors_devtools::target_dir().join("debug").join(cors_devtools::exe("cors-gateway")))
}

/// A running `cors-gateway serve`, killed when dropped.
#[derive(Debug)]
pub struct Gateway {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Gateway {
    /// Runs `BINARY serve --config CONFIG --listen 127.0.0.1:0 --upstream UPSTREAM` and waits for
    /// its `listening on http://ADDR` line.
    ///
    /// Its stderr (logs) goes to `log`, which a failure report quotes.
    pub fn start(
        binary: &Path,
        config: &Path,
        upstream: &str,
        log: &Path,
    ) -> Result<Gateway, Error> {
        let what = format!("cors-gateway serve --config {}", config.display());
        let stderr = std::fs::File::create(log)
            .map_err(|e| Error::io(format!("create {}", log.display()), e))?;
        let mut child = Command::new(binary)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .args(["--listen", "127.0.0.1:0", "--upstream", upstream])
            .env("RUST_LOG", "info,cors_hyper=debug,cors_gateway=debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| Error::io(format!("spawn {}", binary.display()), e))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(Error::process(what, "its stdout was not piped"));
        };
        let (lines, ready) = mpsc::channel();
        // Reads stdout to its end, so the gateway never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = lines.send(line);
            }
        });
        let mut gateway =
            Gateway { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), log: log.to_owned() };
        let deadline = std::time::Instant::now() + READY_LIMIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Ok(line) = ready.recv_timeout(left) else {
                let state = match gateway.child.try_wait() {
                    Ok(Some(status)) => format!("exited with {status}"),
                    _ => format!("printed no {READY_PREFIX:?} line within {READY_LIMIT:?}"),
                };
                return Err(Error::process(
                    what,
                    format!(
                        "{state}; stdout:\n{}\nstderr:\n{}",
                        seen.join("\n"),
                        gateway.log_text()
                    ),
                ));
            };
            if let Some(addr) = line.trim().strip_prefix(READY_PREFIX) {
                gateway.addr = addr.trim_end_matches('/').parse().map_err(|_| {
                    Error::process(&what, format!("cannot read the address in {line:?}"))
                })?;
                return Ok(gateway);
            }
            seen.push(line);
        }
    }

    /// The address the gateway listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the gateway wrote to stderr so far (its logs).
    #[must_use]
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // A kill that fails means the gateway already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
