//! Project automation, run as `cargo xtask <command>`.
//!
//! Every command drives cargo (and the tools the project installs for itself) as subprocesses,
//! so what CI runs is exactly what anyone can run locally.

mod bench;
mod ci;
mod conformance;
mod envoy;
mod fuzz;
mod peers;
mod process;
mod tidy;
mod util;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  bench [--quick] [--load] [--load-only] [--load-secs N] [--instructions] [--report-only]
                          criterion benches side by side with tower-http and actix-cors,
                          allocation counts, and (--load) wrk against the gateway, the
                          bare upstream, nginx, and Envoy with our module next to Envoy's
                          native CORS filter; summary under target/bench/
  ci                      every check CI runs: tool installs, fmt, clippy, tests, doc
                          tests, rustdoc, tidy, conformance over HTTP (ours and the Rust
                          peers), fuzz smoke run, quick benches;
                          failures are summed, not short-circuited
  conformance [--profile P]... [--filter F] [--level L]
                          the conformance suite over HTTP against cors-gateway, one
                          gateway per profile; reports under target/conformance/
  conformance --peers [--rust-only] [--peer NAME]... [--profile P]... [--out FILE]
                          the same suite against ours and third-party implementations
                          configured by their exports (tower-http, actix-cors; Envoy,
                          nginx, Apache, express, rs/cors, flask-cors when installed, see
                          scripts/install-peers.sh, whose export tests run first); writes
                          docs/conformance-matrix.md
  envoy --config POLICY | --native-cors [--listen ADDR] [--upstream URL]
        [--concurrency N] [--module PATH]
                          build the proxy-wasm module and run Envoy with it in the
                          foreground on loopback; prints `listening on http://ADDR`
  fuzz [--secs N] [--target T]
                          run the cargo-fuzz targets (all, or T) for N seconds each
                          (default 10); installs cargo-fuzz when missing
  tidy                    repository rules: dependency direction, module docs, no ignored tests
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let result = match command.as_str() {
        "bench" => bench::run(rest),
        "ci" => ci::run(rest),
        "conformance" if rest.iter().any(|arg| arg == "--peers") => peers::run(rest),
        "conformance" => conformance::run(rest),
        "envoy" => envoy::run(rest),
        "fuzz" => fuzz::run(rest),
        "tidy" => tidy::run(rest),
        "help" | "--help" | "-h" => {
            eprint!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
