//! Project automation, run as `cargo xtask <command>`.
//!
//! Every command drives cargo (and the tools the project installs for itself) as subprocesses,
//! so what CI runs is exactly what anyone can run locally.
//!
//! Arguments are parsed by clap: `cargo xtask help`, `cargo xtask <command> --help`, and an
//! unknown option is refused with the command's usage. A new command is one variant of
//! [`Command`] with its module's `Args`, and one arm of [`Command::run`].

mod bench;
mod case_counts;
mod ci;
mod conformance;
mod envoy;
mod fuzz;
mod http;
mod licenses;
mod mutants;
mod peers;
mod process;
mod soak;
mod tidy;
mod tidy_links;
mod util;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Project automation for the CORS toolkit.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The commands, in the order `cargo xtask help` lists them.
#[derive(Debug, Subcommand)]
enum Command {
    /// Criterion benches side by side with tower-http and actix-cors, allocation counts, and
    /// (--load) wrk against the gateway, the bare upstream, nginx, a bare hyper proxy, and Envoy
    /// with our module next to Envoy's native CORS filter; summary under target/bench/
    Bench(bench::Args),
    /// Every check CI runs: tool installs, fmt, clippy, tests, doc tests, rustdoc, tidy,
    /// conformance over HTTP (ours and the Rust peers), fuzz smoke run, quick benches; failures
    /// are summed, not short-circuited
    Ci,
    /// The conformance suite over HTTP against cors-gateway, one gateway per profile (reports
    /// under target/conformance/); with --peers, against third-party implementations too
    Conformance(conformance::Args),
    /// Build the proxy-wasm module and run Envoy with it in the foreground on loopback; prints
    /// `listening on http://ADDR`
    Envoy(envoy::Args),
    /// Run the cargo-fuzz targets for a fixed time each (installs cargo-fuzz when missing)
    Fuzz(fuzz::Args),
    /// Every package of the dependency graph (deny.toml's platforms and features) is under a
    /// license deny.toml's allow list allows, by its SPDX expression
    Licenses,
    /// cargo-mutants over the library crates (or --crate C, --file F), each against its own
    /// tests, with docs/robustness.md's flags; output under target/mutants/, the counts printed,
    /// proptest regression files removed; outside CI (needs cargo-mutants installed)
    Mutants(mutants::Args),
    /// cors-gateway under steady mixed traffic (HTTP/1.1, HTTP/2, slow clients); fails on a
    /// failed request or more than 10 % growth of its memory or open descriptors; with --chaos,
    /// against a misbehaving upstream and leaving clients, with small limits, and also checks
    /// the upstream connection count, /metrics and a last request at the end; outside CI
    Soak(soak::Args),
    /// Repository rules: dependency direction, module docs, no ignored tests, doc links
    Tidy,
    /// Build the proxy-wasm modules (cors-proxy-wasm and its no-op baseline) with the
    /// wasm-release profile, wasm-opt them and drop the proxy-wasm exports the filter does not
    /// implement (wasm-metadce) when binaryen is installed, and print their paths
    Wasm,
}

impl Command {
    fn run(self) -> Result<(), String> {
        match self {
            Command::Bench(args) => bench::run(&args),
            Command::Ci => ci::run(),
            Command::Conformance(args) => conformance::run(&args),
            Command::Envoy(args) => envoy::run(&args),
            Command::Fuzz(args) => fuzz::run(&args),
            Command::Licenses => licenses::run(),
            Command::Mutants(args) => mutants::run(&args),
            Command::Soak(args) => soak::run(&args),
            Command::Tidy => tidy::run(),
            Command::Wasm => envoy::build_and_print(),
        }
    }
}

/// Runs the command `line` (what follows `cargo xtask`), so that `cargo xtask ci` runs exactly
/// the command lines people type.
///
/// # Errors
///
/// The line does not parse (a bug in the caller), or the command fails.
pub(crate) fn run_line(line: &[&str]) -> Result<(), String> {
    let cli = Cli::try_parse_from(std::iter::once("cargo xtask").chain(line.iter().copied()))
        .map_err(|error| format!("cargo xtask {}: {error}", line.join(" ")))?;
    cli.command.run()
}

fn main() -> ExitCode {
    match Cli::parse().command.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn an_unknown_option_is_refused_with_the_usage() {
        let error = Cli::try_parse_from(["cargo xtask", "bench", "--qiuck"]).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::UnknownArgument);
        assert!(error.to_string().contains("Usage: cargo xtask bench"), "{error}");
    }
}
