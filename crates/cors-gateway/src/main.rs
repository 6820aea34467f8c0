//! `cors-gateway`: a reverse proxy applying a `MuleSoft` Flex `cors-flex` policy file.
//!
//! `cors-gateway serve --config FILE [--listen ADDR] [--upstream URL]` runs the gateway (and
//! `serve --config-dir DIR` a whole Flex Local Mode folder),
//! `cors-gateway check FILE` validates a policy, `cors-gateway explain FILE --origin O` shows a
//! decision and its rule ids, and `cors-gateway` alone runs a self-contained demo.
//! Run `cors-gateway --help` for everything else.
#![deny(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "`println!` and `eprintln!` panic on a closed pipe: lines go through `commands::say` \
              and `say_err` (finding F-EG)"
)]

mod access_log;
mod admin;
mod body;
mod budget;
mod checks;
mod cli;
mod commands;
mod connection;
mod demo;
mod folder;
mod metrics;
mod per_client;
mod pool;
mod proxy;
mod proxy_protocol;
mod readings;
mod reload;
mod server;
mod telemetry;
mod throttle;
mod tls;
mod tunnel;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, DemoArgs};

/// mimalloc rather than the system allocator: hyper and the upstream client allocate and free
/// a few small blocks per request, which glibc's malloc serves with more work.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A header map holding `fields` in order: the unit tests' one way to write a message's fields.
#[cfg(test)]
fn header_map(fields: &[(&str, &str)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in fields {
        let name = http::HeaderName::from_bytes(name.as_bytes()).expect("a test's field name");
        map.append(name, http::HeaderValue::from_str(value).expect("a test's field value"));
    }
    map
}

/// What a `tracing` subscriber of a unit test wrote, to read back: give the subscriber
/// `move || buffer.clone()` as its writer.
#[cfg(test)]
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl LogBuffer {
    /// Everything written so far.
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("the log buffer").clone()).expect("UTF-8")
    }
}

#[cfg(test)]
impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("the log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The lines a `tracing` subscriber wrote while `run` ran, each with the text of `telemetry`'s
/// metrics (which must be on) read at the moment the line was written: what an operator who
/// scrapes `/metrics` on seeing the line finds.
#[cfg(test)]
fn lines_with_metrics(
    telemetry: telemetry::Telemetry,
    run: impl FnOnce(),
) -> Vec<(String, String)> {
    /// Takes each line, as the formatter writes it whole, with the metrics as they are.
    #[derive(Clone)]
    struct Seen(telemetry::Telemetry, std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>);
    impl std::io::Write for Seen {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let metrics = self.0.metrics().expect("the metrics are on").encode(false);
            let line = String::from_utf8_lossy(bytes).into_owned();
            self.1.lock().expect("the lines").push((line, metrics));
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let seen = Seen(telemetry, std::sync::Arc::default());
    let writer = seen.clone();
    let subscriber =
        tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    tracing::subscriber::with_default(subscriber, run);
    seen.1.lock().expect("the lines").clone()
}

/// Asserts that each of `lines` ([`lines_with_metrics`]), at least `at_least` of them, found
/// `counted` (a sample line, `\nname value\n`) in the metrics when it was written: the event
/// was counted before its first log line.
#[cfg(test)]
#[track_caller]
fn assert_counted_before_logged(lines: &[(String, String)], at_least: usize, counted: &str) {
    assert!(lines.len() >= at_least, "fewer than {at_least} lines: {lines:?}");
    for (line, metrics) in lines {
        assert!(metrics.contains(counted), "{counted:?} not yet counted at {line}{metrics}");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse_checked();
    init_logging(cli.verbose, cli.quiet);
    tls::install_provider();
    match cli.command {
        Some(Command::Serve(args)) => commands::serve(&args),
        Some(Command::Check(args)) => commands::check(&args),
        Some(Command::Explain(args)) => commands::explain(&args),
        Some(Command::Demo(args)) => demo::run(&args),
        None => demo::run(&DemoArgs::defaults()),
    }
}

/// Logs go to stderr; stdout carries only the announcements and command output.
fn init_logging(verbose: u8, quiet: bool) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = EnvFilter::try_new(log_filter(verbose, quiet, rust_log.as_deref()))
        .unwrap_or_else(|_| EnvFilter::new(log_filter(verbose, quiet, None)));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // A line that cannot be written is lost, and nothing more: the builder's default reports
        // the failure with `eprintln!`, which panics when stderr is what failed (a closed pipe:
        // a log shipper that died, `serve ... 2>&1 | head`), and the panic hook's own log line
        // then panicked again, aborting the whole process at its next log line.
        .log_internal_errors(false)
        .init();
}

/// The libraries whose warnings any client can cause, kept to their errors below `-vv`.
///
/// rustls logs a warning for what a client's handshake gets wrong (an SNI that is an IP address
/// or not a DNS name, a warning alert, a message out of order), so any client could write
/// lines, with text of its choosing, at the default level, one or more per connection (finding
/// F-Y in docs/robustness.md). The gateway logs a failed handshake itself, at debug. h2
/// likewise (finding F-BZ): it logs a warning for each PING acknowledgement a client sends
/// unasked, one line per 17-byte frame, and one for each connection it ends for a flood of
/// resets; the gateway logs a connection's end at debug.
const CLIENT_WRITTEN: [&str; 2] = ["rustls", "h2"];

/// The log filter: `RUST_LOG` when set, else the level of `-v`/`-q`.
///
/// `RUST_LOG` keeps rustls and h2 to their errors unless it names them itself (finding F-CM):
/// `RUST_LOG=info`, the habit of containers and systemd units (the one of `examples/deploy/`
/// set it), would otherwise give every client the pen again.
fn log_filter(verbose: u8, quiet: bool, rust_log: Option<&str>) -> String {
    if let Some(directives) = rust_log.filter(|text| !text.trim().is_empty()) {
        let named = |library: &str| {
            directives.split(',').any(|directive| {
                let target = directive.split(['=', '[']).next().unwrap_or_default().trim();
                target == library || target.starts_with(&format!("{library}::"))
            })
        };
        let mut filter = directives.trim().to_owned();
        for library in CLIENT_WRITTEN.into_iter().filter(|library| !named(library)) {
            filter.push(',');
            filter.push_str(library);
            filter.push_str("=error");
        }
        return filter;
    }
    match (quiet, verbose) {
        (true, _) => "warn,rustls=error,h2=error",
        (false, 0) => "info,rustls=error,h2=error",
        (false, 1) => "info,rustls=error,h2=error,cors_hyper=debug,cors_gateway=debug",
        (false, _) => "debug",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// What a subscriber with `filter` writes of a rustls and an h2 warning and a gateway line.
    fn logged(filter: &str) -> String {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new(filter))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "rustls::msgs::handshake", "Illegal SNI hostname received");
            tracing::warn!(target: "h2::proto::ping_pong", "recv_pong: unexpected PONG");
            tracing::info!(target: "cors_gateway::commands", "cors-gateway ready");
        });
        buffer.text()
    }

    /// Finding F-CM: `RUST_LOG` that does not name rustls or h2 keeps them to their errors, as
    /// the default filter does; a client's handshake or frames write nothing.
    #[rstest]
    #[case::default(None)]
    #[case::rust_log_info(Some("info"))]
    #[case::rust_log_with_spaces(Some(" info "))]
    #[case::rust_log_a_module(Some("cors_gateway=debug,info"))]
    #[case::rust_log_a_library_named_like_them(Some("info,h2c=debug,rustls_pemfile=debug"))]
    fn a_clients_library_warnings_stay_out_of_the_log(#[case] rust_log: Option<&str>) {
        let log = logged(&log_filter(0, false, rust_log));
        assert!(log.contains("cors-gateway ready"), "{log}");
        assert!(!log.contains("rustls::") && !log.contains("h2::"), "{log}");
    }

    /// `RUST_LOG` that names them wins, as does `-vv`: the operator asked for them.
    #[rstest]
    #[case::rust_log_names_both(0, Some("info,rustls=warn,h2::proto=warn"))]
    #[case::very_verbose(2, None)]
    fn naming_them_shows_their_warnings(#[case] verbose: u8, #[case] rust_log: Option<&str>) {
        let log = logged(&log_filter(verbose, false, rust_log));
        assert!(log.contains("rustls::") && log.contains("h2::"), "{log}");
    }
}
