//! Reloads on SIGHUP and, when enabled, when files change: the policy file, the listener's
//! certificate, a Flex Local Mode folder.
//!
//! Each reloaded thing implements [`Reload`] and gets its own watcher task ([`spawn`]); every
//! watcher receives every SIGHUP.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use cors_engine::Engine;
use cors_hyper::SharedEngine;
use cors_policy::Policy;

use crate::metrics::PolicyHashes;
use crate::telemetry::Telemetry;

/// Something the gateway reloads.
pub(crate) trait Reload: Send + 'static {
    /// The files (and folders) whose change calls for a reload. A folder counts as changed when
    /// an entry is added, removed or renamed, or when one of its files changes.
    fn watched(&self) -> Vec<PathBuf>;

    /// Reads the files again and swaps the result in, or keeps what is in use when they are
    /// invalid; logs either outcome.
    fn reload(&mut self, cause: &'static str);
}

/// What identifies a version of a file for polling.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// The stamps of `paths` and, for each folder among them, of its entries (following symbolic
/// links, so that a Kubernetes `ConfigMap` mounted as a folder is seen to change).
fn stamps(paths: &[PathBuf]) -> Vec<(PathBuf, Stamp)> {
    let mut found = Vec::with_capacity(paths.len());
    for path in paths {
        found.push((path.clone(), stamp(path)));
        if path.is_dir()
            && let Ok(entries) = std::fs::read_dir(path)
        {
            let mut inside: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
            inside.sort();
            found.extend(inside.into_iter().map(|entry| {
                let stamp = stamp(&entry);
                (entry, stamp)
            }));
        }
    }
    found
}

/// The policy file of `serve --config`.
pub(crate) struct PolicyFile {
    pub(crate) path: PathBuf,
    pub(crate) shared: SharedEngine,
    /// Counts the reloads in the metrics.
    pub(crate) telemetry: Telemetry,
}

impl Reload for PolicyFile {
    fn watched(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }

    fn reload(&mut self, cause: &'static str) {
        reload(&self.path, &self.shared, cause, self.telemetry);
    }
}

/// Reads `path` again and swaps the new policy in; on any error keeps the current policy and
/// logs every diagnostic. Returns whether the policy was replaced. `telemetry` counts it.
pub(crate) fn reload(
    path: &Path,
    shared: &SharedEngine,
    cause: &str,
    telemetry: Telemetry,
) -> bool {
    match Policy::from_yaml_file(path) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                tracing::warn!("{warning}");
            }
            telemetry.policy_reloaded(|| PolicyHashes::single(&loaded.policy));
            shared.replace(Engine::new(loaded.policy));
            tracing::info!(file = %path.display(), cause, "policy reloaded");
            true
        }
        Err(error) => {
            for diagnostic in error.diagnostics() {
                tracing::error!("{diagnostic}");
            }
            telemetry.reload_failed();
            tracing::error!(
                file = %path.display(),
                cause,
                "reload failed; keeping the previous policy"
            );
            false
        }
    }
}

/// Reloads `target` on every SIGHUP and, if `poll` is set, whenever one of its watched files
/// changes (modification time or size, checked every `poll`). Runs until the task is dropped.
///
/// # Errors
///
/// The SIGHUP handler cannot be installed.
#[cfg(unix)]
pub(crate) fn spawn(
    mut target: impl Reload,
    poll: Option<Duration>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    // Installed now, before the listener is announced: a SIGHUP must never kill the process.
    let mut hangup = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        let mut last = stamps(&target.watched());
        let mut ticker = tokio::time::interval(poll.unwrap_or(Duration::from_hours(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                received = hangup.recv() => {
                    if received.is_none() {
                        break;
                    }
                    last = stamps(&target.watched());
                    target.reload("SIGHUP");
                }
                _ = ticker.tick(), if poll.is_some() => {
                    // Stamped before reading: a change made while the files are read is seen
                    // on the next tick.
                    let now = stamps(&target.watched());
                    if now != last {
                        last = now;
                        target.reload("file changed");
                    }
                }
            }
        }
    }))
}

/// Reloads `target` whenever one of its files changes (no SIGHUP outside Unix).
///
/// # Errors
///
/// None outside Unix.
#[cfg(not(unix))]
pub(crate) fn spawn(
    mut target: impl Reload,
    poll: Option<Duration>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    Ok(tokio::spawn(async move {
        let Some(poll) = poll else { return };
        let mut last = stamps(&target.watched());
        let mut ticker = tokio::time::interval(poll);
        loop {
            ticker.tick().await;
            let now = stamps(&target.watched());
            if now != last {
                last = now;
                target.reload("file changed");
            }
        }
    }))
}

impl Reload for Box<dyn Reload> {
    fn watched(&self) -> Vec<PathBuf> {
        (**self).watched()
    }

    fn reload(&mut self, cause: &'static str) {
        (**self).reload(cause);
    }
}
