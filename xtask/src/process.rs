//! Child processes the xtask commands start and stop: servers that announce
//! `listening on http://ADDR`, and the profiles they are started with.

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a started process may take to become ready.
pub(crate) const STARTUP: Duration = Duration::from_secs(30);

/// A started server; killed when dropped.
pub(crate) struct Process {
    pub(crate) child: Child,
    pub(crate) url: String,
}

impl Process {
    /// Starts `command` (standard error to `log`) and waits until it is ready: its
    /// `listening on URL` line, or, when `wait_for` is given, until that URL's port accepts.
    pub(crate) fn start(
        mut command: Command,
        log: &Path,
        wait_for: Option<String>,
    ) -> Result<Process, String> {
        let what = format!("{command:?}");
        let stderr = std::fs::File::create(log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        let stdout = child.stdout.take();
        let (url_tx, url_rx) = mpsc::channel();
        // Reads the address, then keeps draining so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            let mut reported = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !reported && let Some(url) = line.trim().strip_prefix("listening on ") {
                    let _ = url_tx.send(url.to_owned());
                    reported = true;
                }
            }
        });
        let mut process = Process { child, url: String::new() };
        let deadline = Instant::now() + STARTUP;
        let ready = match wait_for {
            None => url_rx.recv_timeout(STARTUP).ok(),
            Some(url) => {
                let addr: Option<SocketAddr> =
                    url.strip_prefix("http://").and_then(|a| a.parse().ok());
                let mut ready = None;
                while let Some(addr) = addr
                    && Instant::now() < deadline
                {
                    if matches!(process.child.try_wait(), Ok(Some(_))) {
                        break;
                    }
                    if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                        ready = Some(url);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                ready
            }
        };
        match ready {
            Some(url) => {
                process.url = url;
                Ok(process)
            }
            None => Err(format!(
                "{what} did not become ready within {} s; see {}",
                STARTUP.as_secs(),
                log.display()
            )),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The stems of the `*.yaml` files in `dir`, sorted; an error when there are none.
pub(crate) fn list_profiles(dir: &Path) -> Result<Vec<String>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            let is_yaml = path.extension().is_some_and(|ext| ext == "yaml");
            is_yaml.then(|| path.file_stem()?.to_str().map(str::to_owned)).flatten()
        })
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(format!("no profile in {}", dir.display()));
    }
    Ok(names)
}
