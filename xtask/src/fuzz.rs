//! `cargo xtask fuzz`: runs the cargo-fuzz targets of `fuzz/` for a fixed time each.
//!
//! cargo-fuzz needs nightly-only compiler flags; on the stable toolchain this project uses,
//! `RUSTC_BOOTSTRAP=1` is set for the fuzz subprocess only, never for the workspace build.

use std::fs;

use crate::util::{cargo, exec, root};

/// The options of `cargo xtask fuzz`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Seconds to run each target
    #[arg(long, value_name = "N", default_value_t = 10)]
    secs: u32,
    /// Run only this target (a `[[bin]]` of fuzz/Cargo.toml); default: every target
    #[arg(long, value_name = "T")]
    target: Option<String>,
    /// Targets run at once; default: as many as the machine has cores (1 for a soak on a
    /// shared machine)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// libFuzzer's `-max_len`: the longest input tried, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_LEN)]
    max_len: u32,
    /// libFuzzer's `-len_control`: how long it keeps inputs short before growing them towards
    /// `--max-len`; 0 tries inputs of any length up to it at once (long policy files); default:
    /// libFuzzer's own (100)
    #[arg(long, value_name = "N")]
    len_control: Option<u32>,
}

/// Inputs past the 2048-byte Origin cap and the 8192-byte ACRH budget must be reachable.
const DEFAULT_MAX_LEN: u32 = 16_384;
/// An input that takes longer than this many seconds is a finding (libFuzzer's `-timeout`;
/// its default is 1200): the slowest input of the 420-second soak of every target took well
/// under a second (docs/robustness.md).
const TIMEOUT_SECS: u32 = 2;
/// A run whose memory grows past this many MB is a finding (libFuzzer's `-rss_limit_mb`; its
/// default is 2048): the soak's peak was about half of it, corpus and tracing included.
const RSS_LIMIT_MB: u32 = 1024;

/// Entry point for `cargo xtask fuzz`.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let all = targets()?;
    let chosen: Vec<String> = match args.target.as_deref() {
        Some(target) if all.iter().any(|known| known == target) => vec![target.to_owned()],
        Some(target) => {
            return Err(format!("unknown fuzz target {target:?}; known: {}", all.join(", ")));
        }
        None => all,
    };
    if chosen.is_empty() {
        return Err("fuzz/Cargo.toml declares no [[bin]] targets".into());
    }
    crate::util::ensure_cargo_tool("cargo-fuzz", "cargo-fuzz")?;
    // One build of every chosen target first; the runs below find them built.
    let mut build = fuzz_command();
    build.arg("build");
    if let [target] = chosen.as_slice() {
        build.arg(target);
    }
    exec(build)?;
    let failed = run_side_by_side(&chosen, args);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("fuzz targets failed: {}", failed.join(", ")))
    }
}

/// Runs the targets as many at a time as the machine has cores (each libFuzzer process uses
/// one) unless `--jobs` says otherwise, so that CI's smoke run of every target takes the time
/// of a few: 8 targets of 10 s took 80 s one after another on CI's 2 cores. Each run's output
/// goes to
/// `target/fuzz-logs/TARGET.log`, and is printed whole when it fails; a passing run prints its
/// last line (libFuzzer's final stats). Returns the targets that failed.
fn run_side_by_side(targets: &[String], args: &Args) -> Vec<String> {
    let logs = root().join("target").join("fuzz-logs");
    let lanes = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        usize::from,
    );
    let queue = std::sync::Mutex::new(targets.iter());
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..lanes.min(targets.len()) {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().map(|mut queue| queue.next()).ok().flatten();
                    let Some(target) = next else { break };
                    eprintln!("==> fuzz {target} for {} s", args.secs);
                    let log = logs.join(format!("{target}.log"));
                    if let Err(message) = run_target(target, args, &log) {
                        let output = fs::read_to_string(&log).unwrap_or_default();
                        eprintln!("{output}\nfuzz {target} FAILED: {message}");
                        if let Ok(mut failed) = failed.lock() {
                            failed.push(target.clone());
                        }
                    }
                }
            });
        }
    });
    let mut failed = failed.into_inner().unwrap_or_default();
    failed.sort();
    failed
}

/// `cargo fuzz` in `fuzz/`, with the nightly flags cargo-fuzz needs allowed for it alone.
fn fuzz_command() -> std::process::Command {
    let mut command = cargo();
    command.current_dir(root().join("fuzz")).env("RUSTC_BOOTSTRAP", "1").arg("fuzz");
    command
}

/// The `name = "..."` of every `[[bin]]` in `fuzz/Cargo.toml`, in file order.
fn targets() -> Result<Vec<String>, String> {
    let manifest = root().join("fuzz/Cargo.toml");
    let text = fs::read_to_string(&manifest)
        .map_err(|error| format!("cannot read {}: {error}", manifest.display()))?;
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(value) = line.strip_prefix("name") {
            let name = value.trim_start().trim_start_matches('=').trim().trim_matches('"');
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// The libFuzzer options every run of a target gets, from the command line's.
fn libfuzzer_args(args: &Args) -> Vec<String> {
    let mut options =
        vec![format!("-max_total_time={}", args.secs), format!("-max_len={}", args.max_len)];
    if let Some(len_control) = args.len_control {
        options.push(format!("-len_control={len_control}"));
    }
    options.extend([
        format!("-timeout={TIMEOUT_SECS}"),
        format!("-rss_limit_mb={RSS_LIMIT_MB}"),
        "-print_final_stats=1".to_owned(),
    ]);
    options
}

/// Runs one target for `--secs` seconds, its output (stdout and stderr) into `log`.
fn run_target(target: &str, args: &Args, log: &std::path::Path) -> Result<(), String> {
    let fuzz_dir = root().join("fuzz");
    // New inputs go to the (ignored) corpus directory; the committed seeds are read only.
    let corpus = fuzz_dir.join("corpus").join(target);
    fs::create_dir_all(&corpus)
        .map_err(|error| format!("cannot create {}: {error}", corpus.display()))?;
    if let Some(folder) = log.parent() {
        fs::create_dir_all(folder)
            .map_err(|error| format!("cannot create {}: {error}", folder.display()))?;
    }
    let mut command = fuzz_command();
    command.args(["run", target]).arg(&corpus);
    let seeds = fuzz_dir.join("seeds").join(target);
    if seeds.is_dir() {
        command.arg(&seeds);
    }
    command.arg("--").args(libfuzzer_args(args));
    let file = fs::File::create(log)
        .map_err(|error| format!("cannot create {}: {error}", log.display()))?;
    let copy = file.try_clone().map_err(|error| format!("{}: {error}", log.display()))?;
    command.stdout(copy).stderr(file);
    let status = command.status().map_err(|error| format!("cannot start cargo fuzz: {error}"))?;
    let output = fs::read_to_string(log).unwrap_or_default();
    let last = output.lines().rev().find(|line| line.contains("Done ")).unwrap_or("");
    if status.success() {
        eprintln!("fuzz {target}: {}", if last.is_empty() { "passed" } else { last });
        Ok(())
    } else {
        Err(format!("cargo fuzz run {target} exited with {status} (log: {})", log.display()))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    /// The libFuzzer options of `cargo xtask fuzz ARGS`.
    fn options(line: &[&str]) -> Vec<String> {
        let cli = crate::Cli::try_parse_from(["cargo xtask", "fuzz"].iter().chain(line))
            .unwrap_or_else(|error| panic!("{error}"));
        let crate::Command::Fuzz(args) = cli.command else {
            panic!("not the fuzz command: {cli:?}");
        };
        libfuzzer_args(&args)
    }

    #[test]
    fn len_control_is_passed_to_libfuzzer_only_when_given() {
        let default = options(&[]);
        assert_eq!(
            default,
            [
                "-max_total_time=10",
                "-max_len=16384",
                "-timeout=2",
                "-rss_limit_mb=1024",
                "-print_final_stats=1"
            ]
        );
        let long = options(&["--secs", "180", "--max-len", "65536", "--len-control", "0"]);
        assert_eq!(
            long,
            [
                "-max_total_time=180",
                "-max_len=65536",
                "-len_control=0",
                "-timeout=2",
                "-rss_limit_mb=1024",
                "-print_final_stats=1"
            ]
        );
        assert!(options(&["--len-control", "250"]).contains(&"-len_control=250".to_owned()));
    }

    #[test]
    fn a_len_control_that_is_not_a_number_is_refused() {
        let error = crate::Cli::try_parse_from(["cargo xtask", "fuzz", "--len-control", "all"])
            .unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::ValueValidation, "{error}");
        assert!(error.to_string().contains("--len-control"), "{error}");
    }
}
