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
}

/// Entry point for `cargo xtask fuzz`.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let secs = args.secs;
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
    let mut failed = Vec::new();
    for target in &chosen {
        eprintln!("==> fuzz {target} for {secs} s");
        if let Err(message) = run_target(target, secs) {
            eprintln!("fuzz {target} FAILED: {message}");
            failed.push(target.as_str());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("fuzz targets failed: {}", failed.join(", ")))
    }
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

fn run_target(target: &str, secs: u32) -> Result<(), String> {
    let fuzz_dir = root().join("fuzz");
    // New inputs go to the (ignored) corpus directory; the committed seeds are read only.
    let corpus = fuzz_dir.join("corpus").join(target);
    fs::create_dir_all(&corpus)
        .map_err(|error| format!("cannot create {}: {error}", corpus.display()))?;
    let mut command = cargo();
    command.current_dir(&fuzz_dir).env("RUSTC_BOOTSTRAP", "1").args(["fuzz", "run", target]);
    command.arg(&corpus);
    let seeds = fuzz_dir.join("seeds").join(target);
    if seeds.is_dir() {
        command.arg(&seeds);
    }
    // Inputs past the 2048-byte Origin cap and the 8192-byte ACRH budget must be reachable.
    command.args([
        "--",
        &format!("-max_total_time={secs}"),
        "-max_len=16384",
        "-print_final_stats=1",
    ]);
    exec(command)
}
