//! Fitting the configured limits to the process (docs/robustness.md, F-B): the file-descriptor
//! budget from `RLIMIT_NOFILE`, and each client connection's share of the upstream.
//!
//! Every client connection costs one descriptor, and so does every upstream connection, which
//! `--upstream-max-connections` bounds. When both limits together do not fit in the open-file
//! limit, accepting fails with `EMFILE` and connecting to the upstream fails too, so the limits
//! are lowered to fit, with a warning that names the numbers.

use std::num::NonZeroUsize;

use crate::server::Limits;

/// Descriptors kept for the gateway itself: standard streams, the runtime's event queue and
/// wakers, the listener, signal handling, reading the policy file, the logs.
pub(crate) const RESERVED_DESCRIPTORS: u64 = 32;

/// Descriptors each worker thread after the first (`--workers`) takes beyond
/// [`RESERVED_DESCRIPTORS`], which counts one runtime and one listener: its runtime's four (two
/// event queues, the waker, and its copy of the signal socket, which tokio makes for every
/// runtime with I/O; measured with `ls /proc/PID/fd`: 16 descriptors with one worker, 91 with
/// sixteen), its own listening socket, and the connection it may hold accepted while it waits
/// for a slot of `--max-connections` (`server.rs`, `Acceptor`). Finding F-DT: 4 had left the
/// runtime's second event queue and signal socket out.
pub(crate) const PER_WORKER_DESCRIPTORS: u64 = 6;

/// Descriptors each listener of a folder after the first takes on every worker (finding F-DT):
/// its listening socket there, and the connection that worker may hold accepted on it while it
/// waits for a slot of `--max-connections`.
pub(crate) const PER_LISTENER_DESCRIPTORS: u64 = 2;

/// Room for at least 16 client and 16 upstream connections, which the open-file limit must
/// leave beyond the reserve.
const MIN_CONNECTION_DESCRIPTORS: u64 = 32;

/// The descriptors kept for the gateway itself with `workers` worker threads, each accepting on
/// `listeners` listeners.
fn reserved(workers: NonZeroUsize, listeners: NonZeroUsize) -> u64 {
    let count = |n: NonZeroUsize| u64::try_from(n.get()).unwrap_or(u64::MAX);
    let (workers, listeners) = (count(workers), count(listeners));
    let further_workers = (workers - 1).saturating_mul(PER_WORKER_DESCRIPTORS);
    let further_listeners =
        (listeners - 1).saturating_mul(workers).saturating_mul(PER_LISTENER_DESCRIPTORS);
    RESERVED_DESCRIPTORS.saturating_add(further_workers).saturating_add(further_listeners)
}

/// The open-file limit (`RLIMIT_NOFILE`), after raising the soft limit to the hard one when it
/// is lower, as most servers do; `None` when there is no limit.
#[cfg(unix)]
pub(crate) fn open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current?;
    match limit.maximum {
        Some(hard) if hard > soft => {
            let raised = Rlimit { current: Some(hard), maximum: Some(hard) };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => {
                    tracing::debug!(from = soft, to = hard, "raised the open-file limit");
                    Some(hard)
                }
                Err(_) => Some(soft),
            }
        }
        _ => Some(soft),
    }
}

/// No descriptor budget outside Unix.
#[cfg(not(unix))]
pub(crate) fn open_file_limit() -> Option<u64> {
    None
}

/// Lowers `limits` to fit `open_files` descriptors (`None`: no limit) and to keep one client
/// connection's share of the upstream at most half of it; returns a warning for each change.
///
/// When `--max-connections` and `--upstream-max-connections` together exceed the descriptors
/// left after those the gateway keeps for itself with `workers` worker threads accepting on
/// `listeners` listeners ([`RESERVED_DESCRIPTORS`], [`PER_WORKER_DESCRIPTORS`] for each worker
/// after the first, and [`PER_LISTENER_DESCRIPTORS`] on every worker for each listener after the
/// first),
/// the upstream keeps what the clients leave, but at least half (if it asked for that much),
/// and the clients get the rest.
///
/// # Errors
///
/// `open_files` leaves less than room for 32 connections beyond the reserve.
pub(crate) fn fit(
    limits: &mut Limits,
    open_files: Option<u64>,
    workers: NonZeroUsize,
    listeners: NonZeroUsize,
) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    if let Some(open_files) = open_files {
        let reserved = reserved(workers, listeners);
        let minimum = reserved.saturating_add(MIN_CONNECTION_DESCRIPTORS);
        if open_files < minimum {
            return Err(format!(
                "the open-file limit (ulimit -n) is {open_files}, below the {minimum} \
                 cors-gateway needs ({reserved} for itself, {MIN_CONNECTION_DESCRIPTORS} for \
                 connections); raise it with `ulimit -n`"
            ));
        }
        let available = usize::try_from(open_files - reserved).unwrap_or(usize::MAX);
        let (clients, upstream) = (limits.max_connections, limits.upstream_max_connections);
        if clients.saturating_add(upstream) > available {
            let upstream_fit = upstream.min((available / 2).max(available.saturating_sub(clients)));
            let clients_fit = clients.min(available - upstream_fit);
            let mut lowered = Vec::new();
            if clients_fit < clients {
                lowered.push(format!("--max-connections from {clients} to {clients_fit}"));
            }
            if upstream_fit < upstream {
                lowered
                    .push(format!("--upstream-max-connections from {upstream} to {upstream_fit}"));
            }
            warnings.push(format!(
                "the open-file limit (ulimit -n) is {open_files}: lowered {}, keeping \
                 {reserved} descriptors for the gateway itself (raise the limit to serve more)",
                lowered.join(" and ")
            ));
            limits.max_connections = clients_fit;
            limits.upstream_max_connections = upstream_fit;
        }
    }
    let share = (limits.upstream_max_connections / 2).max(1);
    if limits.upstream_max_per_connection > share {
        warnings.push(format!(
            "lowered --upstream-max-per-connection from {} to {share}: one client connection \
             may hold at most half of --upstream-max-connections ({})",
            limits.upstream_max_per_connection, limits.upstream_max_connections
        ));
        limits.upstream_max_per_connection = share;
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// `(open files, configured (clients, upstream, share))` -> fitted (clients, upstream,
    /// share) and the number of warnings, or the start refused.
    #[track_caller]
    fn check(
        open_files: Option<u64>,
        configured: (usize, usize, usize),
        expected: Result<((usize, usize, usize), usize), ()>,
    ) {
        check_with(open_files, (1, 1), configured, expected);
    }

    /// [`check`] with `(workers, listeners)`: worker threads, each accepting on that many
    /// listeners.
    #[track_caller]
    fn check_with(
        open_files: Option<u64>,
        (workers, listeners): (usize, usize),
        configured: (usize, usize, usize),
        expected: Result<((usize, usize, usize), usize), ()>,
    ) {
        let mut limits = Limits::for_tests(configured.0, configured.1, configured.2);
        let workers = NonZeroUsize::new(workers).unwrap();
        let listeners = NonZeroUsize::new(listeners).unwrap();
        let got = fit(&mut limits, open_files, workers, listeners).map(|warnings| {
            let fitted = (
                limits.max_connections,
                limits.upstream_max_connections,
                limits.upstream_max_per_connection,
            );
            (fitted, warnings.len())
        });
        assert_eq!(got.map_err(|_| ()), expected);
    }

    #[rstest]
    #[case::no_limit(None, (10_000, 1000, 32), Ok(((10_000, 1000, 32), 0)))]
    #[case::fits(Some(20_000), (10_000, 1000, 32), Ok(((10_000, 1000, 32), 0)))]
    #[case::fits_exactly(Some(11_032), (10_000, 1000, 32), Ok(((10_000, 1000, 32), 0)))]
    #[case::one_short_lowers_the_clients(Some(11_031), (10_000, 1000, 32), Ok(((9_999, 1000, 32), 1)))]
    #[case::common_default_splits_in_half(Some(1024), (10_000, 1000, 32), Ok(((496, 496, 32), 1)))]
    #[case::small_limit_splits_in_half(Some(256), (10_000, 1000, 32), Ok(((112, 112, 32), 1)))]
    #[case::few_clients_leave_the_rest_upstream(Some(256), (3, 1000, 32), Ok(((3, 221, 32), 1)))]
    #[case::small_upstream_leaves_the_rest_to_clients(Some(256), (10_000, 20, 8), Ok(((204, 20, 8), 1)))]
    #[case::the_minimum(Some(64), (10_000, 1000, 32), Ok(((16, 16, 8), 2)))]
    #[case::below_the_minimum_is_refused(Some(63), (10_000, 1000, 32), Err(()))]
    #[case::share_over_half_is_lowered(None, (100, 10, 9), Ok(((100, 10, 5), 1)))]
    #[case::one_upstream_connection_is_one_share(None, (100, 1, 1), Ok(((100, 1, 1), 0)))]
    fn budgets(
        #[case] open_files: Option<u64>,
        #[case] configured: (usize, usize, usize),
        #[case] expected: Result<((usize, usize, usize), usize), ()>,
    ) {
        check(open_files, configured, expected);
    }

    /// Each worker after the first keeps six more descriptors for the gateway: with four
    /// workers, 50 of 256, and the minimum is 82.
    #[rstest]
    #[case::four_workers_split_what_is_left(Some(256), 4, Ok(((103, 103, 32), 1)))]
    #[case::four_workers_fit_exactly(Some(11_050), 4, Ok(((10_000, 1000, 32), 0)))]
    #[case::the_minimum_of_four_workers(Some(82), 4, Ok(((16, 16, 8), 2)))]
    #[case::below_the_minimum_of_four_workers(Some(81), 4, Err(()))]
    #[case::no_limit_whatever_the_workers(None, 64, Ok(((10_000, 1000, 32), 0)))]
    fn workers_keep_descriptors_of_their_own(
        #[case] open_files: Option<u64>,
        #[case] workers: usize,
        #[case] expected: Result<((usize, usize, usize), usize), ()>,
    ) {
        check_with(open_files, (workers, 1), (10_000, 1000, 32), expected);
    }

    /// Finding F-DT: each listener of a folder after the first keeps two descriptors on every
    /// worker (its socket there, and the connection held while it waits for a slot). Sixteen
    /// workers on eight listeners kept 92 of 256 where they took 203 idle, and accept failed
    /// with EMFILE below the fitted --max-connections.
    #[rstest]
    #[case::one_worker_eight_listeners(Some(256), (1, 8), Ok(((105, 105, 32), 1)))]
    #[case::sixteen_workers_one_listener(Some(256), (16, 1), Ok(((67, 67, 32), 1)))]
    #[case::sixteen_workers_eight_listeners(Some(512), (16, 8), Ok(((83, 83, 32), 1)))]
    #[case::too_few_for_sixteen_workers_on_eight_listeners(Some(256), (16, 8), Err(()))]
    #[case::the_minimum_of_four_workers_on_two_listeners(Some(90), (4, 2), Ok(((16, 16, 8), 2)))]
    #[case::below_it(Some(89), (4, 2), Err(()))]
    fn listeners_keep_descriptors_on_every_worker(
        #[case] open_files: Option<u64>,
        #[case] serving: (usize, usize),
        #[case] expected: Result<((usize, usize, usize), usize), ()>,
    ) {
        check_with(open_files, serving, (10_000, 1000, 32), expected);
    }

    /// The warning names the numbers of each limit it lowered, and only of those.
    #[rstest]
    #[case::both(
        (10_000, 1000),
        "lowered --max-connections from 10000 to 112 and --upstream-max-connections from 1000 to 112"
    )]
    #[case::the_upstream_only((3, 1000), "lowered --upstream-max-connections from 1000 to 221")]
    #[case::the_clients_only((10_000, 20), "lowered --max-connections from 10000 to 204")]
    fn the_warning_names_the_numbers(#[case] configured: (usize, usize), #[case] lowered: &str) {
        let mut limits = Limits::for_tests(configured.0, configured.1, 8);
        let warnings = fit(&mut limits, Some(256), NonZeroUsize::MIN, NonZeroUsize::MIN).unwrap();
        assert_eq!(
            warnings,
            [format!(
                "the open-file limit (ulimit -n) is 256: {lowered}, keeping 32 descriptors for \
                 the gateway itself (raise the limit to serve more)"
            )]
        );
    }
}
