//! `cors-gateway`: a reverse proxy applying a `MuleSoft` Flex `cors-flex` policy file.
//!
//! `cors-gateway serve --config FILE [--listen ADDR] [--upstream URL]` runs the gateway (and
//! `serve --config-dir DIR` a whole Flex Local Mode folder),
//! `cors-gateway check FILE` validates a policy, `cors-gateway explain FILE --origin O` shows a
//! decision and its rule ids, and `cors-gateway` alone runs a self-contained demo.
//! Run `cors-gateway --help` for everything else.

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
mod tls;
mod tunnel;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser;
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

fn main() -> ExitCode {
    let cli = Cli::parse();
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
///
/// rustls is kept to its errors below `-vv`: it logs a warning for what a client's handshake
/// gets wrong (an SNI that is an IP address or not a DNS name, a warning alert, a message out of
/// order), so any client could write lines, with text of its choosing, at the default level, one
/// or more per connection (finding F-Y in docs/robustness.md). The gateway logs a failed
/// handshake itself, at debug. h2 likewise (finding F-BZ): it logs a warning for each PING
/// acknowledgement a client sends unasked, one line per 17-byte frame, and one for each
/// connection it ends for a flood of resets; the gateway logs a connection's end at debug.
fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "warn,rustls=error,h2=error",
        (false, 0) => "info,rustls=error,h2=error",
        (false, 1) => "info,rustls=error,h2=error,cors_hyper=debug,cors_gateway=debug",
        (false, _) => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
