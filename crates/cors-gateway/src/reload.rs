//! Reloads on SIGHUP and, when enabled, when files change: the policy file, the listener's
//! certificate, a Flex Local Mode folder.
//!
//! Each reloaded thing implements [`Reload`] and gets its own watcher task ([`spawn`]); every
//! watcher receives every SIGHUP.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use cors_engine::Engine;
use cors_hyper::SharedEngine;
use cors_policy::{LocalConfig, Policy};

use crate::metrics::InForce;
use crate::telemetry::Telemetry;

/// Something the gateway reloads.
pub(crate) trait Reload: Send + 'static {
    /// The files (and folders) whose change calls for a reload. A folder counts as changed when
    /// an entry is added, removed or renamed, or when one of its files changes.
    fn watched(&self) -> Vec<PathBuf>;

    /// Reads the files again and swaps the result in, or keeps what is in use when they are
    /// invalid; counts either outcome in the metrics, then logs it: whoever reads a reload's log
    /// line (an operator, a test) finds its metric moved.
    fn reload(&mut self, cause: &'static str);
}

/// What identifies a version of a file for polling: its modification time and size and, on Unix,
/// its inode and status change time. The change time moves on `chmod` and `chown` too, which
/// leave the others alone: a file the gateway could not read, then made readable, is a change
/// (finding F-AE).
type Stamp = Option<(SystemTime, u64, Status)>;

fn stamp(path: &Path) -> Stamp {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len(), status(&metadata)))
}

/// A file's device and inode, and its status change time (seconds, nanoseconds).
type Status = (u64, u64, i64, i64);

#[cfg(unix)]
fn status(metadata: &std::fs::Metadata) -> Status {
    use std::os::unix::fs::MetadataExt as _;
    (metadata.dev(), metadata.ino(), metadata.ctime(), metadata.ctime_nsec())
}

/// Outside Unix, the modification time and size alone.
#[cfg(not(unix))]
fn status(_metadata: &std::fs::Metadata) -> Status {
    (0, 0, 0, 0)
}

/// The stamps of `paths` and, for each folder among them, of the entries a Local Mode folder's
/// configuration is read from (`LocalConfig::reads_file_name`; following symbolic links, so
/// that a Kubernetes `ConfigMap` mounted as a folder is seen to change). Other files, such as a
/// log kept in the folder, would otherwise reload an unchanged configuration every few checks.
fn stamps(paths: &[PathBuf]) -> Stamps {
    let mut found = Vec::with_capacity(paths.len());
    for path in paths {
        found.push((path.clone(), stamp(path)));
        if path.is_dir()
            && let Ok(entries) = std::fs::read_dir(path)
        {
            let read = entries.flatten().filter(|e| LocalConfig::reads_file_name(&e.file_name()));
            let mut inside: Vec<PathBuf> = read.map(|entry| entry.path()).collect();
            inside.sort();
            found.extend(inside.into_iter().map(|entry| {
                let stamp = stamp(&entry);
                (entry, stamp)
            }));
        }
    }
    found
}

/// The stamps of every watched path, in order.
type Stamps = Vec<(PathBuf, Stamp)>;

/// The stamps of a reloaded thing's files as they were when the gateway first read them: where
/// its watcher starts from ([`spawn`]).
#[derive(Debug)]
pub(crate) struct Baseline(Stamps);

impl Baseline {
    /// Stamps `paths` (what [`Reload::watched`] will return) now. Taken before the files are
    /// first read, as each check stamps before it reads: a change made while they are read, or
    /// before the watcher starts, is seen by its first check. Stamped when the watcher started,
    /// such a change was taken for what had been read and never applied (finding F-AN).
    pub(crate) fn before_reading(paths: &[PathBuf]) -> Self {
        Self(stamps(paths))
    }
}

/// How many checks in a row may see the files still changing before they are read anyway.
const MAX_UNSETTLED: u32 = 5;

/// What a watcher remembers between checks: the stamps of the files as last read, and those the
/// last check saw.
#[derive(Debug)]
struct Watch {
    read: Stamps,
    seen: Stamps,
    /// Checks in a row that saw the files change since the one before.
    unsettled: u32,
}

impl Watch {
    /// The files were just read with these stamps.
    fn new(read: Stamps) -> Self {
        Self { seen: read.clone(), read, unsettled: 0 }
    }

    /// Whether to read the files, now that their stamps are `now`: when they differ from those
    /// last read and have held still since the last check, so that a write in progress is not
    /// read (finding F-AF). `git checkout` removes a file and writes it anew, `curl -o`, `cp`
    /// and editors that save in place empty it first, and Kubernetes leaves a removed key's
    /// link dangling for a moment: a folder read then may lack a file yet be valid, and be
    /// served without the policy that file held. Files that keep changing are read after
    /// [`MAX_UNSETTLED`] checks anyway.
    fn settled(&mut self, now: Stamps) -> bool {
        let still = now == self.seen;
        self.seen = now;
        if self.seen == self.read {
            self.unsettled = 0;
            return false;
        }
        if still || self.unsettled >= MAX_UNSETTLED {
            self.read.clone_from(&self.seen);
            self.unsettled = 0;
            return true;
        }
        self.unsettled += 1;
        false
    }
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
/// logs every diagnostic. Returns whether the policy was replaced. `telemetry` counts it, before
/// any line is logged: whoever reads the line finds the metric moved.
pub(crate) fn reload(
    path: &Path,
    shared: &SharedEngine,
    cause: &str,
    telemetry: Telemetry,
) -> bool {
    match Policy::from_yaml_file(path) {
        Ok(loaded) => {
            telemetry.reloaded(|| InForce::single(&loaded.policy));
            shared.replace(Engine::new(loaded.policy));
            for warning in &loaded.warnings {
                tracing::warn!("{warning}");
            }
            tracing::info!(file = %path.display(), cause, "policy reloaded");
            true
        }
        Err(error) => {
            telemetry.reload_failed();
            for diagnostic in error.diagnostics() {
                tracing::error!("{diagnostic}");
            }
            tracing::error!(
                file = %path.display(),
                cause,
                "reload failed; keeping the previous policy"
            );
            false
        }
    }
}

/// Reloads `target` on every SIGHUP and, if `poll` is set, once one of its watched files has
/// changed since `read` (its [`Stamp`], checked every `poll`) and held still for one more check
/// ([`Watch::settled`]). Runs until the task is dropped.
///
/// # Errors
///
/// The SIGHUP handler cannot be installed.
#[cfg(unix)]
pub(crate) fn spawn(
    target: impl Reload,
    read: Baseline,
    poll: Option<Duration>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    // Installed now, before the listener is announced: a SIGHUP must never kill the process.
    let mut hangup = signal(SignalKind::hangup())?;
    let (mut target, mut watch) = (target, Watch::new(read.0));
    Ok(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(poll.unwrap_or(Duration::from_hours(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let done = tokio::select! {
                received = hangup.recv() => {
                    if received.is_none() {
                        break;
                    }
                    off_the_workers(target, |t| {
                        let now = stamps(&t.watched());
                        t.reload("SIGHUP");
                        Watch::new(now)
                    })
                    .await
                }
                _ = ticker.tick(), if poll.is_some() => check(target, watch).await,
            };
            let Some(done) = done else { break };
            (target, watch) = done;
        }
    }))
}

/// Reloads `target` if its watched files have changed and settled ([`Watch::settled`]).
/// Stamped before reading: a change made while the files are read is seen on the next check.
async fn check<T: Reload>(target: T, mut watch: Watch) -> Option<(T, Watch)> {
    off_the_workers(target, move |t| {
        if watch.settled(stamps(&t.watched())) {
            t.reload("file changed");
        }
        watch
    })
    .await
}

/// Runs `work` on `target` on tokio's blocking threads and hands both back. Stamping the files,
/// reading them and compiling a policy can take a while (a network filesystem, a 1 MiB policy
/// of 30 000 origins): on a worker thread that would hold up every connection the worker
/// serves. `None` if `work` panicked: the watcher then stops, and what is in use stays.
async fn off_the_workers<T: Send + 'static, R: Send + 'static>(
    mut target: T,
    work: impl FnOnce(&mut T) -> R + Send + 'static,
) -> Option<(T, R)> {
    let done = tokio::task::spawn_blocking(move || {
        let result = work(&mut target);
        (target, result)
    })
    .await;
    if let Err(error) = &done {
        tracing::error!(%error, "the reload watcher stopped; the configuration in use stays");
    }
    done.ok()
}

/// Reloads `target` whenever one of its files changes (no SIGHUP outside Unix).
///
/// # Errors
///
/// None outside Unix.
#[cfg(not(unix))]
pub(crate) fn spawn(
    target: impl Reload,
    read: Baseline,
    poll: Option<Duration>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let (mut target, mut watch) = (target, Watch::new(read.0));
    Ok(tokio::spawn(async move {
        let Some(poll) = poll else { return };
        let mut ticker = tokio::time::interval(poll);
        loop {
            ticker.tick().await;
            let Some(done) = check(target, watch).await else { break };
            (target, watch) = done;
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

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// A reload that tells when it starts, then blocks its thread until released.
    struct Stuck {
        file: PathBuf,
        entered: mpsc::Sender<()>,
        release: mpsc::Receiver<()>,
    }

    impl Reload for Stuck {
        fn watched(&self) -> Vec<PathBuf> {
            vec![self.file.clone()]
        }

        fn reload(&mut self, _cause: &'static str) {
            let _ = self.entered.send(());
            let _ = self.release.recv_timeout(Duration::from_secs(30));
        }
    }

    /// Records the names in its folder at each reload.
    struct Lister {
        dir: PathBuf,
        reads: Vec<Vec<String>>,
    }

    impl Reload for Lister {
        fn watched(&self) -> Vec<PathBuf> {
            vec![self.dir.clone()]
        }

        fn reload(&mut self, _cause: &'static str) {
            let entries = std::fs::read_dir(&self.dir).unwrap().flatten();
            let mut names: Vec<String> =
                entries.map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            self.reads.push(names);
        }
    }

    /// Every line a reload logs, at least a warning or diagnostic and then the outcome, to an
    /// operator or a test that then scrapes `/metrics`.
    #[track_caller]
    fn assert_counted_first(lines: &[(String, String)], counted: &str) {
        crate::assert_counted_before_logged(lines, 2, counted);
    }

    /// A policy reload, accepted with a warning or refused with a diagnostic, is counted before
    /// its first log line.
    #[rstest::rstest]
    #[case::accepted("public-credentials.yaml", "\ncors_policy_reloads_total 1\n")]
    #[case::refused("seed-broken.yaml", "\ncors_policy_reload_failures_total 1\n")]
    fn a_policy_reload_is_counted_before_it_is_logged(#[case] file: &str, #[case] counted: &str) {
        let policy = crate::demo::demo_policy().unwrap();
        let telemetry = Telemetry::with_metrics(InForce::single(&policy));
        let shared = SharedEngine::new(Engine::new(policy));
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies");
        let lines = crate::lines_with_metrics(telemetry, || {
            reload(&examples.join(file), &shared, "SIGHUP", telemetry);
        });
        assert_counted_first(&lines, counted);
    }

    /// A folder reload refused is counted before its first log line.
    #[test]
    fn a_refused_folder_reload_is_counted_before_it_is_logged() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/local-mode/inline");
        let config = LocalConfig::from_dir(&dir).unwrap();
        let telemetry = Telemetry::with_metrics(InForce::folder(&config));
        let folder = crate::folder::Folder::new(config);
        let mut target = crate::folder::FolderReload {
            dir: dir.join("not-there"),
            shared: folder.shared,
            addresses: folder.addresses,
            telemetry,
        };
        let lines = crate::lines_with_metrics(telemetry, || target.reload("SIGHUP"));
        assert_counted_first(&lines, "\ncors_policy_reload_failures_total 1\n");
    }

    /// One check of `target`, as the watcher's ticker runs it.
    async fn checked(target: Lister, watch: Watch) -> (Lister, Watch) {
        check(target, watch).await.expect("the check does not panic")
    }

    /// A folder changing under the watcher is read once it has held still for one check: a file
    /// removed to be written anew (`git checkout`), or emptied to be written (`cp`, `curl -o`),
    /// is never read half done. Read so, a folder without its cors-flex binding was valid and
    /// served its API without CORS handling until the next check (finding F-AF).
    #[tokio::test]
    async fn a_change_is_read_once_it_has_held_still() {
        let dir = std::env::temp_dir().join(format!("cors-gateway-settle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("api.yaml"), "a").unwrap();
        std::fs::write(dir.join("cors.yaml"), "b").unwrap();
        let target = Lister { dir: dir.clone(), reads: Vec::new() };
        let watch = Watch::new(stamps(&target.watched()));

        std::fs::remove_file(dir.join("cors.yaml")).unwrap();
        let (target, watch) = checked(target, watch).await;
        assert_eq!(target.reads.len(), 0, "read half written: {:?}", target.reads);
        std::fs::write(dir.join("cors.yaml"), "b, changed").unwrap();
        let (target, watch) = checked(target, watch).await;
        assert_eq!(target.reads.len(), 0, "read while changing: {:?}", target.reads);
        let (target, watch) = checked(target, watch).await;
        assert_eq!(target.reads, [["api.yaml", "cors.yaml"]]);
        let (mut target, mut watch) = checked(target, watch).await;
        assert_eq!(target.reads.len(), 1, "nothing changed");

        // A file the configuration is not read from changes nothing, however often it changes
        // (its first write adds it to the folder, which is a change of the folder).
        std::fs::write(dir.join("notes.log"), "x").unwrap();
        (target, watch) = checked(target, watch).await;
        (target, watch) = checked(target, watch).await;
        assert_eq!(target.reads.len(), 2, "the folder changed");
        for round in 2..10 {
            std::fs::write(dir.join("notes.log"), "x".repeat(round)).unwrap();
            (target, watch) = checked(target, watch).await;
        }
        assert_eq!(target.reads.len(), 2, "a log beside the files reloaded them");

        // Files that never hold still are read after MAX_UNSETTLED checks all the same.
        for round in 1..=MAX_UNSETTLED + 1 {
            std::fs::write(dir.join("cors.yaml"), "x".repeat(round as usize)).unwrap();
            (target, watch) = checked(target, watch).await;
            let expected = if round <= MAX_UNSETTLED { 2 } else { 3 };
            assert_eq!(target.reads.len(), expected, "after {round} changes in a row");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A change of mode alone (`chmod`, as when a file the gateway could not read is made
    /// readable) is a change: it moves neither the modification time nor the size.
    #[cfg(unix)]
    #[test]
    fn a_change_of_mode_alone_is_a_change() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = std::env::temp_dir().join(format!("cors-gateway-mode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("cors.yaml");
        std::fs::write(&file, "a").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let before = stamps(std::slice::from_ref(&dir));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let after = stamps(std::slice::from_ref(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_ne!(before, after);
    }

    /// A change made after the files were first read and before the watcher's first check is
    /// applied: the watcher starts from the stamps taken before that read. Stamped when its task
    /// first ran, the changed file was taken for the one read, and never applied until it
    /// changed again (finding F-AN).
    #[test]
    fn a_change_made_before_the_watcher_starts_is_applied() {
        let file = std::env::temp_dir()
            .join(format!("cors-gateway-early-change-{}.yaml", std::process::id()));
        std::fs::write(&file, "a").unwrap();
        let (entered, entered_rx) = mpsc::channel();
        // Released at once: the reload only tells that it ran.
        let (_, release) = mpsc::channel();
        let target = Stuck { file: file.clone(), entered, release };
        let read = Baseline::before_reading(&target.watched());
        // The gateway reads the file here, then it changes before the watcher is started.
        std::fs::write(&file, "changed").unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let reloaded = runtime.block_on(async {
            let watcher = spawn(target, read, Some(Duration::from_millis(10))).unwrap();
            // Blocking the test's own thread, not a worker: the watcher keeps running.
            let reloaded = entered_rx.recv_timeout(Duration::from_secs(20));
            watcher.abort();
            reloaded
        });
        std::fs::remove_file(&file).unwrap();
        assert_eq!(reloaded, Ok(()), "the change was never applied");
    }

    /// A reload that takes long (a slow filesystem, a large policy) leaves the runtime's worker
    /// threads to the connections: with one worker, a task spawned while the reload is stuck
    /// still runs.
    #[test]
    fn a_slow_reload_does_not_hold_a_worker_thread() {
        let file = std::env::temp_dir()
            .join(format!("cors-gateway-slow-reload-{}.yaml", std::process::id()));
        std::fs::write(&file, "a").unwrap();
        let (entered, entered_rx) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        let target = Stuck { file: file.clone(), entered, release: release_rx };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let ran = runtime.block_on(async {
            let read = Baseline::before_reading(&target.watched());
            let watcher = spawn(target, read, Some(Duration::from_millis(10))).unwrap();
            std::fs::write(&file, "changed").unwrap();
            // The test's own thread waits (blocking it is fine, it is not a worker), with
            // std's timeouts: tokio's timers are driven by the worker the reload would hold.
            entered_rx
                .recv_timeout(Duration::from_secs(10))
                .expect("the change is seen and the reload starts");
            let (sent, ran) = mpsc::channel();
            tokio::spawn(async move { sent.send(42) });
            let ran = ran.recv_timeout(Duration::from_secs(5));
            release.send(()).unwrap();
            watcher.abort();
            ran
        });
        std::fs::remove_file(&file).unwrap();
        assert_eq!(ran, Ok(42), "a task waited for the reload");
    }
}
