//! `cargo xtask bench`: runs the criterion benches of `benches/` (ours and the peers in one
//! run), the allocation counts, and optionally the load test; prints one summary table and
//! writes it to `target/bench/summary.md` and `target/bench/summary.json` (schema:
//! `docs/bench-summary-schema.md`). `cargo xtask bench --help` lists the options.
//!
//! - Micro benches ([`micro`]): `cargo bench -p cors-benches` (criterion writes
//!   `target/criterion/<group>/<function>/new/estimates.json`; the medians and their confidence
//!   intervals are read from there, only from files written by this run, and criterion's HTML
//!   reports stay where criterion puts them). `--quick` passes short warm-up and measurement
//!   times and fewer scenarios: that is what CI runs to keep the benches compiling and running,
//!   and it reports, never fails on time. `--instructions` adds instructions per call under
//!   callgrind, a figure that does not move with the machine's load.
//! - `--load` ([`load`]): `cors-gateway serve` (built in release, or with the cargo profile
//!   `--gateway-profile` names) on loopback in front of
//!   `bench-upstream`, driven by `wrk`; the same traffic straight to the upstream, through
//!   nginx adding static CORS headers (configuration rendered from `xtask/templates/` into
//!   `target/bench/load/`), and through `bench-hyper-proxy`, which does nginx's work on hyper
//!   and tokio and nothing more (the limit of the gateway's stack); each proxy's CPU time per
//!   request beside its rate, and with `--instructions` ([`callgrind`]) its instructions per
//!   request under callgrind. `scripts/install-bench-tools.sh` installs wrk, nginx and valgrind
//!   when missing. Every run is bounded: `--load-secs` per wrk run (default 5, 3 with
//!   `--quick`), `--load-rounds` interleaved rounds (default 3, 1 with `--quick`), medians
//!   reported.
//! - Also under `--load` ([`envoy`]): three Envoys, one worker each, in front of the same
//!   upstream: with the cors-proxy-wasm module, with a proxy-wasm module that does nothing (the
//!   limit), and with Envoy's native CORS filter; each Envoy's CPU time per request beside its
//!   rate, and with `--instructions` its instructions per request under callgrind. Skipped,
//!   saying why, without Envoy or the `wasm32-wasip1` target (`scripts/install-envoy.sh`).
//! - `--filter SUBSTR` runs only the scenarios whose name contains it, and is refused, naming
//!   them, when it selects none (checked before anything is measured); `--policy FILE` measures
//!   the engine and our layer on the user's own policy (`cors_benches::UserPolicy` says which
//!   requests are derived from it; `--instance NAME` picks the API instance of a folder).
//! - `--save NAME` and `--compare NAME` ([`compare`]) keep runs as baselines and print each
//!   row's change against one; criterion's own `--save-baseline` and `--baseline` pass through.
//! - `--check-budgets` ([`budgets`]) counts the instructions `benches/budgets.toml` budgets and
//!   fails on any over budget; CI runs it.
//! - `--report-only`: rebuilds the last run's summary from its results on disk (the criterion
//!   estimates written since it started, its instruction counts if it counted them,
//!   `target/bench/last-run.json`), running nothing.

mod budgets;
mod callgrind;
mod compare;
mod envoy;
mod load;
mod micro;
mod report;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use cors_devtools::target_dir;

use self::micro::Micro;
use self::report::{RunInfo, write_summary};
use crate::util::read_json;

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
    #[arg(long, conflicts_with = "load")]
    load_only: bool,
    /// Seconds of each wrk run [default: 5, 3 with --quick]
    #[arg(long, value_name = "N")]
    load_secs: Option<u32>,
    /// Rounds of the load test, each running every target once; figures are the medians
    /// [default: 3, 1 with --quick]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    load_rounds: Option<u32>,
    /// Also count instructions under callgrind: per call on the engine and layer rows, per
    /// request on the Envoy rows (with --load or --load-only; each Envoy runs alone)
    #[arg(long)]
    instructions: bool,
    /// With --load or --load-only, also run the hyper floor with a current-thread runtime and a
    /// `SO_REUSEPORT` listener per core (`bench-hyper-proxy --per-core`) in the same rounds:
    /// rows load-SCENARIO/floor-per-core-vs-nginx and load-SCENARIO/floor-per-core-vs-floor
    #[arg(long)]
    floor_per_core: bool,
    /// The cargo profile the load test builds cors-gateway with, e.g. `production` (fat LTO,
    /// one codegen unit: slower to build); the other servers are built as always
    #[arg(long, value_name = "PROFILE", default_value = "release")]
    gateway_profile: String,
    /// Rebuild the last run's summary from its results on disk (its instruction counts too, if
    /// it took them); run nothing, callgrind included
    #[arg(long, conflicts_with_all = ["load", "load_only"])]
    report_only: bool,
    /// Only the scenarios whose name contains SUBSTR: criterion groups (engine-preflight-accepted,
    /// layer-no-origin, origin-parse-request; with --policy, engine-policy-REQUEST and
    /// layer-policy-REQUEST), load-SCENARIO, envoy-SCENARIO; with a `/`, the criterion ids that
    /// contain it
    #[arg(long, value_name = "SUBSTR")]
    filter: Option<String>,
    /// Benchmark the engine and our layer with this cors-flex file (or the first API instance
    /// with a cors-flex policy of this Flex Local Mode folder) instead of the reference policy,
    /// on requests derived from it (see docs/performance.md)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["load", "load_only", "report_only"])]
    policy: Option<PathBuf>,
    /// With --policy FOLDER, the API instance whose policy is measured (`namespace/name`, or
    /// `name`) instead of the first with a cors-flex policy
    #[arg(long, value_name = "NAME", requires = "policy")]
    instance: Option<String>,
    /// After the run, keep its summary as baseline NAME (target/bench/baselines/NAME.json)
    #[arg(long, value_name = "NAME", value_parser = compare::baseline_name)]
    save: Option<String>,
    /// After the run, print each row's change against baseline NAME, marking changes beyond
    /// the noise (target/bench/compare-NAME.md)
    #[arg(long, value_name = "NAME", value_parser = compare::baseline_name)]
    compare: Option<String>,
    /// Count the instructions of every entry of benches/budgets.toml under callgrind and fail
    /// when one is over its budget; runs nothing else
    #[arg(long, conflicts_with_all = [
        "quick", "load", "load_only", "instructions", "report_only", "policy", "save", "compare",
    ])]
    check_budgets: bool,
    /// Criterion's own --save-baseline NAME, passed through unchanged (a plain name, as for
    /// --save: criterion makes it a folder beside each result)
    #[arg(long, value_name = "NAME", value_parser = compare::baseline_name)]
    save_baseline: Option<String>,
    /// Criterion's own --baseline NAME, passed through unchanged (a plain name, as for --save)
    #[arg(long, value_name = "NAME", conflicts_with = "save_baseline", value_parser = compare::baseline_name)]
    baseline: Option<String>,
    /// Options for criterion itself, after `--` (e.g. `-- --sample-size 50`); they replace this
    /// command's defaults for the same options
    #[arg(last = true, value_name = "CRITERION")]
    criterion: Vec<String>,
}

/// What one run does, resolved from [`Args`].
#[derive(Debug, Clone, Default)]
#[expect(clippy::struct_excessive_bools, reason = "independent command-line switches")]
struct Options {
    quick: bool,
    /// Summarize the criterion results and allocation counts already on disk; run nothing.
    report_only: bool,
    /// Also count instructions under callgrind (deterministic, unlike time): per call (micro),
    /// per Envoy request (load).
    instructions: bool,
    micro: bool,
    load: bool,
    load_secs: u32,
    load_rounds: u32,
    /// Also load the hyper floor with a runtime per core (`--floor-per-core`).
    floor_per_core: bool,
    /// The cargo profile of the gateway under load.
    gateway_profile: String,
    filter: Option<String>,
    /// The user's policy file, absolute.
    policy: Option<PathBuf>,
    /// The API instance of the policy folder to measure (`--instance`).
    instance: Option<String>,
}

/// Entry point for `cargo xtask bench`.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    run_in(args, &target_dir())
}

/// `cargo xtask bench` with its results under `target` (the cargo target directory).
fn run_in(args: &Args, target: &Path) -> Result<(), String> {
    if args.check_budgets {
        return budgets::check();
    }
    let policy = match &args.policy {
        // A regular file or a folder: a fifo or a device would block or never end the read.
        Some(path) if !path.is_file() && !path.is_dir() => {
            let what = if path.exists() {
                "not a regular file or a folder"
            } else {
                "no such file or folder"
            };
            return Err(format!("--policy {}: {what}", path.display()));
        }
        Some(path) => Some(std::path::absolute(path).map_err(|e| format!("--policy: {e}"))?),
        None => None,
    };
    if args.floor_per_core && !(args.load || args.load_only) {
        return Err("--floor-per-core: only with --load or --load-only".to_owned());
    }
    let options = Options {
        quick: args.quick,
        report_only: args.report_only,
        instructions: args.instructions,
        micro: !args.load_only,
        load: args.load_only || args.load,
        load_secs: args.load_secs.unwrap_or(if args.quick { 3 } else { 5 }),
        load_rounds: args.load_rounds.unwrap_or(if args.quick { 1 } else { 3 }),
        floor_per_core: args.floor_per_core,
        gateway_profile: args.gateway_profile.clone(),
        filter: args.filter.clone(),
        policy,
        instance: args.instance.clone(),
    };
    let mut criterion = Vec::new();
    for (flag, value) in [("--save-baseline", &args.save_baseline), ("--baseline", &args.baseline)]
    {
        if let Some(value) = value {
            criterion.extend([flag.to_owned(), value.clone()]);
        }
    }
    criterion.extend(args.criterion.iter().cloned());

    let out = target.join("bench");
    // Before anything runs: a run is minutes long, and its summary is compared after it.
    if let Some(name) = &args.compare {
        compare::read_baseline(&out, name)?;
    }
    micro::check_policy(&options)?;
    check_filter(&options, || micro::reference_ids(&options))?;
    fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut info = RunInfo::now(options.quick, options.filter.clone());
    let mut rows = Vec::new();
    let mut measurements = serde_json::Map::new();
    if options.micro {
        // `--report-only` reports the last run that measured, as that run.
        let (micro, policy) = if options.report_only {
            let (last, started, policy) = report::read_last_run(&out)?;
            info = last;
            (run_micro(&options, &criterion, target, started)?, policy)
        } else {
            let started = SystemTime::now();
            let policy = options.policy.is_some();
            let micro = as_last_run(&out, &info, started, policy, || {
                run_micro(&options, &criterion, target, started)
            })?;
            (micro, policy)
        };
        rows.extend(micro::engine_rows(&micro));
        rows.extend(micro::layer_rows(&micro));
        measurements.extend(micro.measurements());
        if policy {
            info.policy = Some(read_json(&out.join("policy-requests.json"))?);
        }
    }
    // Written now and again after the load test, so that a failing load test loses nothing.
    write_summary(&out, &info, &rows, &measurements)?;
    if options.load && !options.report_only {
        match load::run_load(&options, &out)? {
            Some(load) => {
                rows.extend(load::load_rows(&load));
                rows.extend(envoy::envoy_rows(&load));
                measurements.extend(load.measurements());
                info.envoy = Some(match &load.envoy {
                    Ok(envoy) => envoy.clone(),
                    Err(why) => serde_json::json!({ "skipped": why }),
                });
                write_summary(&out, &info, &rows, &measurements)?;
            }
            None => eprintln!("bench: --filter selects no load scenario"),
        }
    }
    if rows.is_empty() {
        return Err(match &options.filter {
            Some(filter) => format!("--filter {filter:?} selects no scenario"),
            None => "nothing was measured".to_owned(),
        });
    }
    // Compared before saved, so that `--compare main --save main` moves the baseline on.
    if let Some(name) = &args.compare {
        compare::compare(&out, name)?;
    }
    if let Some(name) = &args.save {
        compare::save(&out, name)?;
    }
    Ok(())
}

/// Refuses, before anything is measured, a `--filter` that selects none of the scenarios a run
/// on the reference policy measures ([`micro::reference_filter`]; with `--policy`,
/// [`micro::check_policy`] does it): `list` gives the criterion ids of its benches
/// ([`micro::reference_ids`]), asked only when the micro benches run; with `--load` or
/// `--load-only`, the load scenarios count too. `--report-only` measures nothing.
fn check_filter(
    options: &Options,
    list: impl FnOnce() -> Result<Vec<String>, String>,
) -> Result<(), String> {
    let Some(filter) = &options.filter else { return Ok(()) };
    if options.policy.is_some() || options.report_only {
        return Ok(());
    }
    let ids = if options.micro { list()? } else { Vec::new() };
    let load = if options.load { load::scenario_names() } else { Vec::new() };
    micro::reference_filter(filter, &ids, &load)
}

/// Runs `measure` recorded as the last run (`info`, from `started`), so that `--report-only`
/// reports it even if it is interrupted; but when it measured nothing (a `--filter` that selects
/// no micro scenario), the record of the run before it is put back: a mistyped filter made
/// `--report-only` say "nothing was measured" about a run minutes long that it had just read.
fn as_last_run(
    out: &Path,
    info: &RunInfo,
    started: SystemTime,
    policy: bool,
    measure: impl FnOnce() -> Result<Micro, String>,
) -> Result<Micro, String> {
    let path = out.join(report::LAST_RUN);
    let before = fs::read_to_string(&path).ok();
    report::save_last_run(out, info, started, policy)?;
    let micro = measure()?;
    if micro.times.is_empty() {
        match before {
            Some(text) => report::write(&path, &text)?,
            None => fs::remove_file(&path)
                .map_err(|e| format!("cannot remove {}: {e}", path.display()))?,
        }
    }
    Ok(micro)
}

/// What each tool that `scripts/install-bench-tools.sh` installs is for.
const TOOLS: [(&str, &str); 3] = [
    ("wrk", "the load generator of --load"),
    ("nginx", "the reverse-proxy baseline of --load"),
    ("valgrind", "callgrind, for --instructions and --check-budgets"),
];

/// Makes sure `tools` are installed: when one is missing, runs `scripts/install-bench-tools.sh`
/// (Debian's packages), and fails naming each tool still missing, what it is for, and the
/// script's own failure.
fn ensure_tools(tools: &[&str]) -> Result<(), String> {
    ensure_tools_with(tools, || {
        let mut install = std::process::Command::new("bash");
        install.arg(crate::util::root().join("scripts/install-bench-tools.sh"));
        crate::util::exec(install)
    })
}

/// [`ensure_tools`] with the installer `install`.
fn ensure_tools_with(
    tools: &[&str],
    install: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    let missing = || -> Vec<&str> {
        tools
            .iter()
            .copied()
            .filter(|tool| cors_devtools::find_program(None, &[tool]).is_err())
            .collect()
    };
    if missing().is_empty() {
        return Ok(());
    }
    let installed = install();
    let still = missing();
    if still.is_empty() {
        return Ok(());
    }
    let needs: Vec<String> = still
        .iter()
        .map(|tool| {
            TOOLS
                .iter()
                .find(|(name, _)| name == tool)
                .map_or_else(|| (*tool).to_owned(), |(_, purpose)| format!("{tool} ({purpose})"))
        })
        .collect();
    Err(format!(
        "this run needs {}, not found on PATH or in sbin, and scripts/install-bench-tools.sh \
         did not install {}{}; install {} by hand (Debian and Ubuntu: apt-get install {})",
        needs.join(" and "),
        if still.len() == 1 { "it" } else { "them" },
        installed.err().map(|error| format!(" ({error})")).unwrap_or_default(),
        if still.len() == 1 { "it" } else { "them" },
        still.join(" "),
    ))
}

/// Runs (unless `--report-only`) and reads the criterion benches written since `since` (this
/// run's start, or the last run's with `--report-only`), the allocation counts and, with
/// `--instructions`, the instruction counts (with `--report-only`, those the last run counted,
/// if it did).
fn run_micro(
    options: &Options,
    criterion: &[String],
    target: &Path,
    since: SystemTime,
) -> Result<Micro, String> {
    let out = target.join("bench");
    if !options.report_only {
        micro::run_criterion(options, criterion, &out)?;
    }
    let times = micro::read_times(&target.join("criterion"), since)?;
    let listed = micro::read_allocations(&out.join("allocations.json"))?;
    let mut micro = Micro {
        times,
        order: listed.iter().map(|(id, _)| id.clone()).collect(),
        allocations: listed.into_iter().collect(),
        instructions: std::collections::BTreeMap::new(),
    };
    let counted = out.join(micro::INSTRUCTIONS);
    if options.report_only {
        // The last run's counts, when it counted; callgrind is not run.
        micro.instructions = micro::read_instructions(&counted, since)?;
        if options.instructions && micro.instructions.is_empty() {
            return Err(format!(
                "--report-only --instructions: the last run counted no instructions ({} was not \
                 written by it), and --report-only runs nothing; run `cargo xtask bench \
                 --instructions` to count them",
                counted.display()
            ));
        }
    } else if options.instructions {
        let ids: Vec<String> = micro
            .order
            .iter()
            .filter(|id| micro.times.contains_key(*id))
            .filter(|id| !options.quick || micro::is_headline(id))
            .cloned()
            .collect();
        micro.instructions = micro::count_instructions(&ids, options)?;
        micro::write_instructions(&counted, &micro.instructions)?;
    }
    Ok(micro)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        bench: Args,
    }

    /// `cargo xtask bench ARGS`, parsed.
    fn args(args: &[&str]) -> Args {
        Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .map_err(|e| e.to_string())
            .unwrap()
            .bench
    }

    /// An empty target directory of its own for one test.
    fn empty_target(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-bench-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Writes criterion's files for `group/function` as a run at `when` leaves them.
    fn criterion_result(target: &Path, group: &str, function: &str, when: SystemTime) {
        criterion_estimate(target, (group, function), [10.0, 9.0, 11.0], when);
    }

    /// [`criterion_result`] with the median and its 95 % interval, `[median, low, high]`.
    fn criterion_estimate(
        target: &Path,
        (group, function): (&str, &str),
        [median, low, high]: [f64; 3],
        when: SystemTime,
    ) {
        let new = target.join("criterion").join(group).join(function).join("new");
        fs::create_dir_all(&new).unwrap();
        let benchmark = serde_json::json!({ "group_id": group, "function_id": function });
        let estimates = serde_json::json!({ "median": {
            "point_estimate": median,
            "confidence_interval": { "lower_bound": low, "upper_bound": high },
        }});
        fs::write(new.join("benchmark.json"), benchmark.to_string()).unwrap();
        fs::write(new.join("estimates.json"), estimates.to_string()).unwrap();
        fs::File::options()
            .write(true)
            .open(new.join("estimates.json"))
            .and_then(|file| file.set_modified(when))
            .unwrap();
    }

    /// A filter that selects nothing is refused with the scenario names before anything is
    /// measured: the benches are only listed, and not even that when they would not run.
    #[test]
    fn a_filter_that_selects_nothing_is_refused_before_anything_runs() {
        let filter = |filter: &str| Some(filter.to_owned());
        let ids = || Ok(vec!["engine-not-cors/cors-engine".to_owned()]);
        let micro = Options { micro: true, filter: filter("engine-nope"), ..Options::default() };
        let error = check_filter(&micro, ids).unwrap_err();
        assert!(
            error.contains("selects no scenario: the scenarios are engine-not-cors ("),
            "{error}"
        );
        let unlisted = || -> Result<Vec<String>, String> { panic!("the benches do not run") };
        let load_only = Options { load: true, filter: filter("engine-"), ..Options::default() };
        let error = check_filter(&load_only, unlisted).unwrap_err();
        assert!(
            error.contains("are load-actual-allowed, load-no-origin, load-preflight, envoy-"),
            "{error}"
        );
        let both = Options { load: true, ..micro.clone() };
        assert_eq!(check_filter(&Options { filter: filter("envoy-pre"), ..both }, ids), Ok(()));
        let policy = Options { policy: Some(PathBuf::from("/p.yaml")), ..micro.clone() };
        assert_eq!(check_filter(&policy, unlisted), Ok(()));
        assert_eq!(check_filter(&Options { report_only: true, ..micro }, unlisted), Ok(()));
    }

    #[test]
    fn report_only_without_a_run_says_to_run_first() {
        let target = empty_target("report-only-no-run");
        let error = run_in(&args(&["--report-only"]), &target).unwrap_err();
        assert!(error.starts_with("--report-only: no run to report on ("), "{error}");
        assert!(error.ends_with("; run `cargo xtask bench` first"), "{error}");
        fs::remove_dir_all(&target).unwrap();
    }

    #[test]
    fn report_only_reports_the_last_run_with_its_results_alone() {
        let target = empty_target("report-only-last-run");
        let out = target.join("bench");
        fs::create_dir_all(&out).unwrap();
        let started = SystemTime::now() - std::time::Duration::from_mins(1);
        // A result of an earlier run (another --filter or --policy), then one of the last run.
        let earlier = started - std::time::Duration::from_hours(1);
        criterion_result(&target, "engine-policy-no-origin", "decide", earlier);
        criterion_result(&target, "engine-not-cors", "decide", started);
        fs::write(out.join("allocations.json"), "[]").unwrap();
        let mut last = RunInfo::now(true, Some("engine-not".to_owned()));
        last.command = "cargo xtask bench --quick --filter engine-not".to_owned();
        report::save_last_run(&out, &last, started, false).unwrap();

        run_in(&args(&["--report-only"]), &target).unwrap();
        let summary = read_json(&out.join("summary.json")).unwrap();
        let ids: Vec<&str> =
            summary["rows"].as_array().unwrap().iter().filter_map(|r| r["id"].as_str()).collect();
        assert_eq!(ids, ["engine-not-cors/decide"]);
        assert_eq!(summary["run"]["command"], "cargo xtask bench --quick --filter engine-not");
        assert_eq!(
            (&summary["run"]["quick"], &summary["run"]["filter"]),
            (&true.into(), &"engine-not".into())
        );
        fs::remove_dir_all(&target).unwrap();
    }

    #[test]
    fn a_run_that_measures_nothing_leaves_the_last_run_for_report_only() {
        let (target, measured) = last_run_of("nothing-measured", &[]);
        let out = target.join("bench");
        // last-run.json keeps milliseconds.
        let ms =
            |time: SystemTime| time.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis();
        let last_started = || ms(report::read_last_run(&out).unwrap().1);
        let typo = RunInfo::now(true, Some("engnie".to_owned()));

        // Measuring nothing keeps the last run that measured.
        as_last_run(&out, &typo, SystemTime::now(), false, || Ok(Micro::default())).unwrap();
        assert_eq!(last_started(), ms(measured));
        // Interrupted: the run is recorded, and --report-only reports what it measured.
        let interrupted = SystemTime::now();
        as_last_run(&out, &typo, interrupted, false, || Err("interrupted".to_owned())).unwrap_err();
        assert_eq!(last_started(), ms(interrupted));
        // A run that measured is the last run.
        let mut micro = Micro::default();
        let estimate = report::Estimate { value: 10.0, low: 9.0, high: 11.0 };
        micro.times.insert("engine-not-cors/decide".to_owned(), estimate);
        let filtered = SystemTime::now();
        as_last_run(&out, &typo, filtered, false, || Ok(micro)).unwrap();
        assert_eq!(last_started(), ms(filtered));
        // With no run before it, a run that measured nothing leaves none.
        fs::remove_file(out.join(report::LAST_RUN)).unwrap();
        as_last_run(&out, &typo, SystemTime::now(), false, || Ok(Micro::default())).unwrap();
        assert!(report::read_last_run(&out).is_err());
        fs::remove_dir_all(&target).unwrap();
    }

    #[test]
    fn a_layer_row_whose_own_cost_is_within_the_noise_says_so_in_the_table_and_the_json() {
        // A `--quick` run gave this: ours ran faster than the bare handler.
        let (target, _) = last_run_of(
            "own-cost-noise",
            &[
                (("layer-actual-allowed", "bare-tower"), [100.0, 95.0, 105.0]),
                (("layer-actual-allowed", "cors-hyper"), [84.7, 80.0, 90.0]),
                (("layer-actual-allowed", "tower-http"), [590.0, 580.0, 600.0]),
            ],
        );
        let out = target.join("bench");
        run_in(&args(&["--report-only"]), &target).unwrap();
        let summary = read_json(&out.join("summary.json")).unwrap();
        let table = fs::read_to_string(out.join("summary.md")).unwrap();
        fs::remove_dir_all(&target).unwrap();
        let row = &summary["rows"][0];
        assert_eq!(row["id"], "layer-actual-allowed/vs-tower-http");
        assert_eq!(row["speedup"], serde_json::Value::Null);
        assert_eq!(row["ours"]["ns_within_noise"], true);
        assert_eq!(row["peer"]["ns_within_noise"], false);
        assert_eq!(row["targets"], serde_json::json!([]));
        assert!(
            table.contains(
                "| layer-actual-allowed/vs-tower-http (actual GET, allowed origin) | -15.3 ns \
                 (within the noise) | tower-http: 490 ns | none: within the noise |"
            ),
            "{table}"
        );
        assert!(table.contains("own cost within the noise"), "{table}");
    }

    /// A target where the last run, started a minute ago, measured `engine-not-cors/decide`.
    fn last_run_of_engine_not_cors(test: &str) -> (PathBuf, SystemTime) {
        last_run_of(test, &[(("engine-not-cors", "decide"), [10.0, 9.0, 11.0])])
    }

    /// A target where the last run, started a minute ago, measured these criterion ids with
    /// these estimates ([`criterion_estimate`]) and no allocation count.
    fn last_run_of(test: &str, results: &[((&str, &str), [f64; 3])]) -> (PathBuf, SystemTime) {
        let target = empty_target(test);
        let out = target.join("bench");
        fs::create_dir_all(&out).unwrap();
        let started = SystemTime::now() - std::time::Duration::from_mins(1);
        for &(id, estimate) in results {
            criterion_estimate(&target, id, estimate, started);
        }
        fs::write(out.join("allocations.json"), "[]").unwrap();
        report::save_last_run(&out, &RunInfo::now(false, None), started, false).unwrap();
        (target, started)
    }

    #[test]
    fn report_only_gives_the_instructions_the_last_run_counted_without_counting() {
        let (target, _) = last_run_of_engine_not_cors("report-only-instructions");
        let out = target.join("bench");
        // A count callgrind never gives for this id: it must come from the file.
        let counts = [("engine-not-cors/decide".to_owned(), 7_777_u64)].into();
        micro::write_instructions(&out.join(micro::INSTRUCTIONS), &counts).unwrap();
        for flags in [&["--report-only"][..], &["--report-only", "--instructions"]] {
            run_in(&args(flags), &target).unwrap();
            let summary = read_json(&out.join("summary.json")).unwrap();
            let row = &summary["rows"][0];
            assert_eq!(row["id"], "engine-not-cors/decide", "{flags:?}");
            assert_eq!(row["ours"]["instructions"], 7_777, "{flags:?}");
        }
        fs::remove_dir_all(&target).unwrap();
    }

    #[test]
    fn report_only_instructions_refuses_when_the_last_run_counted_none() {
        let (target, started) = last_run_of_engine_not_cors("report-only-no-instructions");
        let out = target.join("bench");
        // Counts of an earlier run are not the last run's.
        let counted = out.join(micro::INSTRUCTIONS);
        micro::write_instructions(&counted, &[("engine-not-cors/decide".to_owned(), 1)].into())
            .unwrap();
        let earlier = started - std::time::Duration::from_hours(1);
        fs::File::options().write(true).open(&counted).unwrap().set_modified(earlier).unwrap();
        let error = run_in(&args(&["--report-only", "--instructions"]), &target).unwrap_err();
        assert!(
            error.starts_with("--report-only --instructions: the last run counted no instructions"),
            "{error}"
        );
        // Without --instructions the summary is rebuilt, without counts.
        run_in(&args(&["--report-only"]), &target).unwrap();
        let summary = read_json(&out.join("summary.json")).unwrap();
        assert_eq!(summary["rows"][0]["ours"]["instructions"], serde_json::Value::Null);
        fs::remove_dir_all(&target).unwrap();
    }

    #[test]
    fn a_policy_is_a_file_or_a_folder() {
        let target = empty_target("policy-kinds");
        for (policy, expected) in [
            ("/no/such/policy.yaml", "--policy /no/such/policy.yaml: no such file or folder"),
            ("/dev/null", "--policy /dev/null: not a regular file or a folder"),
        ] {
            let error = run_in(&args(&["--policy", policy]), &target).unwrap_err();
            assert_eq!(error, expected);
        }
        fs::remove_dir_all(&target).unwrap();
    }

    #[test]
    fn the_per_core_floor_is_a_load_test_target() {
        let target = empty_target("floor-per-core-alone");
        let error = run_in(&args(&["--floor-per-core"]), &target).unwrap_err();
        assert_eq!(error, "--floor-per-core: only with --load or --load-only");
        fs::remove_dir_all(&target).unwrap();
    }

    #[test]
    fn an_instance_is_of_a_policy_folder() {
        let error = Cli::try_parse_from(["bench", "--instance", "orders-api"]).map(|_| ());
        assert!(error.unwrap_err().to_string().contains("--policy <FILE>"));
        let parsed = args(&["--policy", "apis/", "--instance", "default/orders-api"]);
        assert_eq!(parsed.instance.as_deref(), Some("default/orders-api"));
    }

    #[test]
    fn criterions_baseline_names_are_plain_names_too() {
        for flag in ["--save-baseline", "--baseline"] {
            let parsed = Cli::try_parse_from(["bench", flag, "../../../x"]);
            let error = parsed.map(|_| ()).unwrap_err().to_string();
            assert!(error.contains("a baseline name is letters, digits"), "{flag}: {error}");
            assert_eq!(args(&[flag, "main-2026.12"]).criterion, Vec::<String>::new());
        }
    }

    #[test]
    fn a_missing_tool_that_cannot_be_installed_is_named_with_its_purpose() {
        let mut ran = false;
        let error = ensure_tools_with(&["sh", "no-such-valgrind"], || {
            ran = true;
            Err("`bash scripts/install-bench-tools.sh` failed (exit status: 1)".to_owned())
        });
        assert!(ran);
        let error = error.unwrap_err();
        assert!(
            error.starts_with(
                "this run needs no-such-valgrind, not found on PATH or in sbin, and \
                 scripts/install-bench-tools.sh did not install it (`bash \
                 scripts/install-bench-tools.sh` failed (exit status: 1)); install it by hand"
            ),
            "{error}"
        );
        assert!(error.ends_with("apt-get install no-such-valgrind)"), "{error}");
        // A tool that is there is neither installed nor named.
        assert_eq!(ensure_tools_with(&["sh"], || panic!("installed sh")), Ok(()));
    }

    #[test]
    fn the_install_script_names_the_tool_it_cannot_install() {
        // wrk and nginx are there, valgrind and apt-get are not.
        let bin = empty_target("install-script-path");
        for tool in ["wrk", "nginx"] {
            let stub = bin.join(tool);
            fs::write(&stub, "#!/bin/sh\n").unwrap();
            let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
            fs::set_permissions(&stub, executable).unwrap();
        }
        let bash = cors_devtools::find_program(None, &["bash"]).unwrap();
        let output = std::process::Command::new(bash)
            .arg(crate::util::root().join("scripts/install-bench-tools.sh"))
            .env("PATH", &bin)
            .output()
            .unwrap();
        fs::remove_dir_all(&bin).unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr, "install-bench-tools: apt-get is missing; install valgrind by hand\n");
    }

    #[test]
    fn a_missing_baseline_stops_the_command_before_it_measures() {
        let target = empty_target("missing-baseline");
        let error = run_in(&args(&["--report-only", "--compare", "nope"]), &target).unwrap_err();
        assert!(error.starts_with("no baseline nope ("), "{error}");
        fs::remove_dir_all(&target).unwrap();
    }

    #[test]
    fn a_baseline_of_another_schema_version_stops_the_command_before_it_measures() {
        let target = empty_target("old-baseline");
        let baselines = target.join("bench/baselines");
        fs::create_dir_all(&baselines).unwrap();
        fs::write(baselines.join("old.json"), r#"{"version": 0, "rows": []}"#).unwrap();
        let error = run_in(&args(&["--report-only", "--compare", "old"]), &target).unwrap_err();
        assert!(error.starts_with("old: summary schema version 0,"), "{error}");
        fs::remove_dir_all(&target).unwrap();
    }
}
