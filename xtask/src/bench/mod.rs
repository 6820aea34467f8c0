//! `cargo xtask bench [--quick] [--load] [--load-only] [--load-secs N] [--instructions]
//! [--report-only]`: runs the criterion
//! benches of `benches/` (ours and the peers in one run), the allocation counts, and optionally
//! the load test; prints one summary table and writes it to `target/bench/summary.md` and
//! `target/bench/summary.json`.
//!
//! - Micro benches: `cargo bench -p cors-benches` (criterion writes
//!   `target/criterion/<group>/<function>/new/estimates.json`; the medians are read from there,
//!   only from files written by this run, and criterion's HTML reports stay where criterion puts
//!   them). `--quick` passes short warm-up and measurement times and fewer scenarios: that is
//!   what CI runs to keep the benches compiling and running, and it reports, never fails on time.
//! - `--load`: `cors-gateway serve` (built in release) on loopback in front of `bench-upstream`,
//!   driven by `wrk`; the same traffic straight to the upstream and through nginx adding static
//!   CORS headers (config under `target/bench/load/`). `scripts/install-bench-tools.sh`
//!   installs wrk and nginx when missing. Every run is bounded: `--load-secs` per wrk run (default
//!   5, 3 with `--quick`), 3 interleaved rounds (1 with `--quick`), medians reported.
//! - Also under `--load`: Envoy with the cors-proxy-wasm module (policy
//!   `crates/cors-proxy-wasm/envoy/bench-policy.yaml`) against Envoy with its native CORS filter
//!   (`native-cors.yaml`, the same policy), both with [`ENVOY_CONCURRENCY`] worker in front of
//!   the same upstream, started from the configuration `cargo xtask envoy` writes (this process
//!   holds Envoy's own process id). In each round and scenario the two run back to back (order
//!   alternating between rounds); the ratio is the median of the per-pair ratios. Without Envoy
//!   or the `wasm32-wasip1` target (`scripts/install-envoy.sh` installs both), or when the module
//!   does not build, the pair is skipped, said so in the summary, and the rest runs.
//! - `--instructions`: instructions per call under callgrind (`valgrind`, installed by the same
//!   script), a figure that does not move with the machine's load.
//! - `--report-only`: rebuilds the summary from what is on disk, running nothing.

mod envoy;
mod load;
mod micro;
mod report;

use std::fs;
use std::time::SystemTime;

use serde_json::json;

use cors_devtools::target_dir;

use self::load::median;
use self::report::write_summary;

/// The options of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
#[expect(clippy::struct_excessive_bools, reason = "independent command-line switches")]
pub(crate) struct Args {
    /// Short runs and fewer scenarios (what CI runs): indicative only
    #[arg(long)]
    quick: bool,
    /// Also run the load test (wrk against the gateway, nginx and the Envoy pair)
    #[arg(long)]
    load: bool,
    /// Run the load test only
    #[arg(long, conflicts_with_all = ["load", "instructions"])]
    load_only: bool,
    /// Seconds of each wrk run [default: 5, 3 with --quick]
    #[arg(long, value_name = "N")]
    load_secs: Option<u32>,
    /// Also count instructions per call under callgrind
    #[arg(long)]
    instructions: bool,
    /// Rebuild the summary from what is on disk; run nothing
    #[arg(long, conflicts_with_all = ["load", "load_only"])]
    report_only: bool,
    /// Options for criterion itself, after `--` (e.g. `-- --sample-size 50`); they replace this
    /// command's defaults for the same options
    #[arg(last = true, value_name = "CRITERION")]
    criterion: Vec<String>,
}

/// What one run does, resolved from [`Args`].
#[derive(Debug, Clone, Copy)]
#[expect(clippy::struct_excessive_bools, reason = "independent command-line switches")]
struct Options {
    quick: bool,
    /// Summarize the criterion results and allocation counts already on disk; run nothing.
    report_only: bool,
    /// Also count instructions per call under callgrind (deterministic, unlike time).
    instructions: bool,
    micro: bool,
    load: bool,
    load_secs: u32,
}

/// Entry point for `cargo xtask bench`.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let options = Options {
        quick: args.quick,
        report_only: args.report_only,
        instructions: args.instructions,
        micro: !args.load_only,
        load: args.load_only || args.load,
        load_secs: args.load_secs.unwrap_or(if args.quick { 3 } else { 5 }),
    };

    let out = target_dir().join("bench");
    fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut rows = Vec::new();
    let mut raw = serde_json::Map::new();
    if options.micro {
        let started = if options.report_only {
            SystemTime::UNIX_EPOCH
        } else {
            let started = SystemTime::now();
            micro::run_criterion(options, &args.criterion, &out)?;
            started
        };
        let medians = micro::read_medians(&target_dir().join("criterion"), started)?;
        let listed = micro::read_allocations(&out.join("allocations.json"))?;
        let order: Vec<String> = listed.iter().map(|(id, _)| id.clone()).collect();
        let allocations: std::collections::BTreeMap<String, u64> = listed.into_iter().collect();
        let instructions = if options.instructions {
            micro::count_instructions(&order, options)?
        } else {
            std::collections::BTreeMap::new()
        };
        rows.extend(micro::engine_rows(&medians, &allocations, &order, &instructions));
        rows.extend(micro::layer_rows(&medians, &allocations, &instructions));
        for (id, median) in &medians {
            raw.insert(
                id.clone(),
                json!({ "median_ns": median, "allocations": allocations.get(id),
                        "instructions": instructions.get(id) }),
            );
        }
    }
    // Written now and again after the load test, so that a failing load test loses nothing.
    write_summary(&out, &rows, &raw, options)?;
    if options.load && !options.report_only {
        let load = load::run_load(options, &out)?;
        let medians: Vec<(String, load::LoadResult)> =
            load.runs.iter().map(|(id, list)| (id.clone(), median(list))).collect();
        rows.extend(load::load_rows(&medians));
        rows.extend(envoy::envoy_rows(&load));
        for ((id, result), (_, list)) in medians.iter().zip(&load.runs) {
            raw.insert(
                id.clone(),
                json!({ "requests_per_s": result.rps, "p50_ms": result.p50_ms,
                        "p99_ms": result.p99_ms, "non_2xx": result.non_2xx,
                        "rounds": list.iter().map(|r| json!({
                            "requests_per_s": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
                        })).collect::<Vec<_>>() }),
            );
        }
        raw.insert(
            "envoy".to_owned(),
            match &load.envoy {
                Ok(info) => info.clone(),
                Err(why) => json!({ "skipped": why }),
            },
        );
        write_summary(&out, &rows, &raw, options)?;
    }
    Ok(())
}
