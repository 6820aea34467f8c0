//! Policy reload: on SIGHUP and, when enabled, when the file changes.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use cors_engine::Engine;
use cors_hyper::SharedEngine;
use cors_policy::Policy;

use crate::telemetry::Telemetry;

/// What identifies a version of the file for polling.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
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
            telemetry.policy_reloaded(&loaded.policy);
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

/// Reloads on every SIGHUP and, if `poll` is set, whenever the file's modification time or size
/// changes (checked every `poll`). Runs until the task is dropped.
#[cfg(unix)]
pub(crate) fn spawn(
    path: PathBuf,
    shared: SharedEngine,
    poll: Option<Duration>,
    telemetry: Telemetry,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    // Installed now, before the listener is announced: a SIGHUP must never kill the process.
    let mut hangup = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        let mut last = stamp(&path);
        let mut ticker = tokio::time::interval(poll.unwrap_or(Duration::from_hours(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                received = hangup.recv() => {
                    if received.is_none() {
                        break;
                    }
                    last = stamp(&path);
                    reload(&path, &shared, "SIGHUP", telemetry);
                }
                _ = ticker.tick(), if poll.is_some() => {
                    let now = stamp(&path);
                    if now != last {
                        last = now;
                        reload(&path, &shared, "file changed", telemetry);
                    }
                }
            }
        }
    }))
}

/// Reloads whenever the file changes (no SIGHUP outside Unix).
#[cfg(not(unix))]
pub(crate) fn spawn(
    path: PathBuf,
    shared: SharedEngine,
    poll: Option<Duration>,
    telemetry: Telemetry,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    Ok(tokio::spawn(async move {
        let Some(poll) = poll else { return };
        let mut last = stamp(&path);
        let mut ticker = tokio::time::interval(poll);
        loop {
            ticker.tick().await;
            let now = stamp(&path);
            if now != last {
                last = now;
                reload(&path, &shared, "file changed", telemetry);
            }
        }
    }))
}
