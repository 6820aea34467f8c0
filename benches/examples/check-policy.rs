//! Loads the policy `CORS_BENCH_POLICY` names as the benches do, and derives its requests,
//! measuring nothing: `cargo xtask bench --policy FILE` runs it before `cargo bench`, so that a
//! policy that cannot be benchmarked is refused with its problems alone, each with its place
//! (`FILE:LINE:COLUMN: error: ...`), rather than inside cargo's report of a failed bench.
//!
//! ```text
//! cargo build --profile bench -p cors-benches --example check-policy
//! CORS_BENCH_POLICY=my-policy.yaml target/release/examples/check-policy
//! ```
//!
//! Exit status 0, with one line per derived request on standard output, then one per request
//! left out (`left out: ...`, [`UserPolicy::left_out`]); 1, with the problems on
//! standard error; 2 when `CORS_BENCH_POLICY` is not set.

use std::io::Write as _;
use std::process::ExitCode;

use cors_benches::{POLICY_ENV, UserPolicy};

fn main() -> ExitCode {
    match UserPolicy::from_env() {
        None => {
            eprintln!("usage: {POLICY_ENV}=FILE check-policy");
            ExitCode::from(2)
        }
        Some(Err(problems)) => {
            eprintln!("{problems}");
            ExitCode::FAILURE
        }
        Some(Ok(user)) => {
            let mut out = std::io::stdout().lock();
            for request in &user.requests {
                // A closed standard output loses the list, not the verdict.
                let _ = writeln!(out, "{}: {}", request.name, request.derivation);
            }
            for left_out in &user.left_out {
                let _ = writeln!(out, "left out: {left_out}");
            }
            ExitCode::SUCCESS
        }
    }
}
