//! Fitting the configured limits to the process (docs/robustness.md, F-B): the file-descriptor
//! budget from `RLIMIT_NOFILE`, and each client connection's share of the upstream.
//!
//! Every client connection costs one descriptor, and so does every upstream connection, which
//! `--upstream-max-connections` bounds. When both limits together do not fit in the open-file
//! limit, accepting fails with `EMFILE` and connecting to the upstream fails too, so the limits
//! are lowered to fit, with a warning that names the numbers.

use crate::server::Limits;

/// Descriptors kept for the gateway itself: standard streams, the runtime's event queue and
/// wakers, the listener, signal handling, reading the policy file, the logs.
pub(crate) const RESERVED_DESCRIPTORS: u64 = 32;

/// The smallest open-file limit the gateway starts with: the reserve, and room for at least 16
/// client and 16 upstream connections.
pub(crate) const MIN_OPEN_FILES: u64 = RESERVED_DESCRIPTORS + 32;

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
/// left after [`RESERVED_DESCRIPTORS`], the upstream keeps what the clients leave, but at least
/// half (if it asked for that much), and the clients get the rest.
///
/// # Errors
///
/// `open_files` is below [`MIN_OPEN_FILES`].
pub(crate) fn fit(limits: &mut Limits, open_files: Option<u64>) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    if let Some(open_files) = open_files {
        if open_files < MIN_OPEN_FILES {
            return Err(format!(
                "the open-file limit (ulimit -n) is {open_files}, below the {MIN_OPEN_FILES} \
                 cors-gateway needs ({RESERVED_DESCRIPTORS} for itself, 32 for connections); \
                 raise it with `ulimit -n`"
            ));
        }
        let available = usize::try_from(open_files - RESERVED_DESCRIPTORS).unwrap_or(usize::MAX);
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
                 {RESERVED_DESCRIPTORS} descriptors for the gateway itself (raise the limit to \
                 serve more)",
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
    use std::time::Duration;

    fn limits(clients: usize, upstream: usize, share: usize) -> Limits {
        let second = Duration::from_secs(1);
        Limits {
            header_read_timeout: second,
            idle_timeout: second,
            send_timeout: second,
            keep_alive_interval: second,
            keep_alive_timeout: second,
            max_header_bytes: 8192,
            max_headers: 100,
            max_connections: clients,
            max_connections_per_client: 0,
            shutdown_timeout: second,
            connect_timeout: second,
            max_concurrent_streams: 100,
            upstream_timeout: second,
            upstream_read_timeout: second,
            upstream_max_connections: upstream,
            upstream_max_per_connection: share,
            upstream_idle_timeout: second,
            upstream_queue_timeout: second,
            max_request_body: 1024,
            body_read_timeout: second,
            tunnel_idle_timeout: second,
        }
    }

    /// `(open files, configured (clients, upstream, share))` -> fitted (clients, upstream,
    /// share) and the number of warnings, or the start refused.
    #[track_caller]
    fn check(
        open_files: Option<u64>,
        configured: (usize, usize, usize),
        expected: Result<((usize, usize, usize), usize), ()>,
    ) {
        let mut limits = limits(configured.0, configured.1, configured.2);
        let got = fit(&mut limits, open_files).map(|warnings| {
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

    #[test]
    fn the_warning_names_the_numbers() {
        let mut limits = limits(10_000, 1000, 32);
        let warnings = fit(&mut limits, Some(256)).unwrap();
        assert_eq!(
            warnings,
            [
                "the open-file limit (ulimit -n) is 256: lowered --max-connections from 10000 to 112 \
              and --upstream-max-connections from 1000 to 112, keeping 32 descriptors for the \
              gateway itself (raise the limit to serve more)"
            ]
        );
    }
}
