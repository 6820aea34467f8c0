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

use std::fmt::Write as _;
use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::envoy;
use crate::process::{Process, exe, target_dir};
use crate::util::{cargo, exec, flag_value, root};

/// The options of one `cargo xtask bench` run.
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
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    for (i, arg) in args.iter().enumerate() {
        let known = matches!(
            arg.as_str(),
            "--quick"
                | "--load"
                | "--load-only"
                | "--load-secs"
                | "--report-only"
                | "--instructions"
        );
        let is_value = i > 0 && args[i - 1] == "--load-secs";
        if !known && !is_value {
            return Err(format!(
                "unknown bench option {arg:?}; usage: cargo xtask bench [--quick] [--load] \
                 [--load-only] [--load-secs N] [--report-only] [--instructions]"
            ));
        }
    }
    let quick = args.iter().any(|arg| arg == "--quick");
    let load_only = args.iter().any(|arg| arg == "--load-only");
    let load_secs = match flag_value(args, "--load-secs") {
        Some(text) => {
            text.parse().map_err(|_| format!("--load-secs takes whole seconds, got {text:?}"))?
        }
        None if quick => 3,
        None => 5,
    };
    let report_only = args.iter().any(|arg| arg == "--report-only");
    let options = Options {
        quick,
        report_only,
        instructions: args.iter().any(|arg| arg == "--instructions"),
        micro: !load_only,
        load: load_only || args.iter().any(|arg| arg == "--load"),
        load_secs,
    };

    let out = target_dir(&root()).join("bench");
    fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut rows = Vec::new();
    let mut raw = serde_json::Map::new();
    if options.micro {
        let started = if options.report_only {
            SystemTime::UNIX_EPOCH
        } else {
            let started = SystemTime::now();
            run_criterion(options, &out)?;
            started
        };
        let medians = read_medians(&target_dir(&root()).join("criterion"), started)?;
        let allocations = read_allocations(&out.join("allocations.json"))?;
        let order = read_order(&out.join("allocations.json"))?;
        let instructions = if options.instructions {
            count_instructions(&order, options)?
        } else {
            std::collections::BTreeMap::new()
        };
        rows.extend(engine_rows(&medians, &allocations, &order, &instructions));
        rows.extend(layer_rows(&medians, &allocations, &instructions));
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
        let load = run_load(options, &out)?;
        let medians: Vec<(String, LoadResult)> =
            load.runs.iter().map(|(id, list)| (id.clone(), median(list))).collect();
        rows.extend(load_rows(&medians));
        rows.extend(envoy_rows(&load));
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

/// Prints the summary table and writes `summary.md` and `summary.json` to `out`.
fn write_summary(
    out: &Path,
    rows: &[Row],
    raw: &serde_json::Map<String, Value>,
    options: Options,
) -> Result<(), String> {
    if rows.is_empty() {
        return Ok(());
    }
    let markdown = markdown(rows, options);
    eprintln!("\n{markdown}");
    let write = |name: &str, text: String| {
        let path = out.join(name);
        fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write("summary.md", markdown)?;
    let summary = json!({
        "quick": options.quick,
        "machine": machine(),
        "rows": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        "raw": raw,
    });
    write(
        "summary.json",
        serde_json::to_string_pretty(&summary).map_err(|e| format!("summary.json: {e}"))?,
    )?;
    eprintln!("wrote {0}/summary.md and {0}/summary.json", out.display());
    Ok(())
}

/// `nproc` and the CPU model, for the report.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cpus} CPUs, {model}")
}

// --- micro benches ------------------------------------------------------------------------------

fn run_criterion(options: Options, out: &Path) -> Result<(), String> {
    let mut command = cargo();
    command.args(["bench", "-p", "cors-benches", "--bench", "engine", "--bench", "layer"]);
    command.args(["--bench", "allocations", "--"]);
    if options.quick {
        command.args(["--warm-up-time", "0.2", "--measurement-time", "0.4"]);
        command.args(["--sample-size", "20", "--nresamples", "2000", "--noplot"]);
        command.env("CORS_BENCH_QUICK", "1");
    } else {
        command.args(["--warm-up-time", "1", "--measurement-time", "3"]);
        command.env("CORS_BENCH_QUICK", "0");
    }
    command.env("CORS_BENCH_OUT", out);
    exec(command)
}

/// `group/function` -> median in nanoseconds, from every criterion estimate written since
/// `since`.
fn read_medians(
    criterion: &Path,
    since: SystemTime,
) -> Result<std::collections::BTreeMap<String, f64>, String> {
    let mut medians = std::collections::BTreeMap::new();
    let groups = fs::read_dir(criterion)
        .map_err(|e| format!("cannot read {}: {e} (did criterion run?)", criterion.display()))?;
    for group in groups.flatten() {
        let Ok(functions) = fs::read_dir(group.path()) else { continue };
        for function in functions.flatten() {
            let new = function.path().join("new");
            let estimates = new.join("estimates.json");
            let fresh = fs::metadata(&estimates)
                .and_then(|meta| meta.modified())
                .is_ok_and(|modified| modified >= since);
            if !fresh {
                continue;
            }
            let read = |path: &Path| -> Result<Value, String> {
                let text = fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
            };
            let benchmark = read(&new.join("benchmark.json"))?;
            let estimates = read(&estimates)?;
            let (Some(group_id), Some(function_id), Some(median)) = (
                benchmark["group_id"].as_str(),
                benchmark["function_id"].as_str(),
                estimates["median"]["point_estimate"].as_f64(),
            ) else {
                return Err(format!("{}: unexpected criterion format", new.display()));
            };
            medians.insert(format!("{group_id}/{function_id}"), median);
        }
    }
    if medians.is_empty() {
        return Err(format!("no criterion estimates written under {}", criterion.display()));
    }
    Ok(medians)
}

/// `group/function` -> allocations per call, from the `allocations` bench.
fn read_allocations(path: &Path) -> Result<std::collections::BTreeMap<String, u64>, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let rows: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut map = std::collections::BTreeMap::new();
    for row in rows.as_array().into_iter().flatten() {
        if let (Some(group), Some(function), Some(count)) =
            (row["group"].as_str(), row["function"].as_str(), row["allocations"].as_u64())
        {
            map.insert(format!("{group}/{function}"), count);
        }
    }
    Ok(map)
}

/// The criterion ids in the order the `allocations` bench lists them (the order of issue 11).
fn read_order(path: &Path) -> Result<Vec<String>, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let rows: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(rows
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| Some(format!("{}/{}", row["group"].as_str()?, row["function"].as_str()?)))
        .collect())
}

/// One line of the summary table.
#[derive(Debug, Clone)]
struct Row {
    scenario: String,
    ours: String,
    peer: String,
    /// How many times better ours is: peer time / our time, or our req/s / peer req/s.
    ratio: Option<f64>,
    allocations: String,
    /// Instructions per call under callgrind, when counted.
    instructions: String,
    target: String,
    /// Whether the target is met, when there is one.
    met: Option<bool>,
    numbers: Value,
}

impl Row {
    fn to_json(&self) -> Value {
        json!({
            "scenario": self.scenario, "ours": self.ours, "peer": self.peer,
            "ratio": self.ratio, "allocations": self.allocations, "instructions": self.instructions,
            "target": self.target,
            "met": self.met, "numbers": self.numbers,
        })
    }
}

fn ns(value: f64) -> String {
    if value.abs() < 100.0 { format!("{value:.1} ns") } else { format!("{value:.0} ns") }
}

fn tick(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

/// The engine targets of issue 11: a bound in nanoseconds, by criterion id prefix.
fn engine_bound(id: &str) -> Option<f64> {
    match id {
        "engine-actual-allowed/decide" => Some(25.0),
        "engine-preflight-accepted/decide" => Some(80.0),
        _ if id.starts_with("engine-preflight-rejected-") => Some(30.0),
        "engine-hostile-acrh-64k-commas/decide" => Some(300.0),
        _ => None,
    }
}

fn engine_rows(
    medians: &std::collections::BTreeMap<String, f64>,
    allocations: &std::collections::BTreeMap<String, u64>,
    order: &[String],
    instructions: &std::collections::BTreeMap<String, u64>,
) -> Vec<Row> {
    let mut ids: Vec<&String> = medians.keys().collect();
    ids.sort_by_key(|id| (order.iter().position(|known| known == *id).unwrap_or(usize::MAX), *id));
    let mut rows = Vec::new();
    for id in ids {
        let median = medians[id];
        if !(id.starts_with("engine-") || id.starts_with("origin-") || id.starts_with("policy-")) {
            continue;
        }
        let allocs = allocations.get(id).copied();
        let mut targets = Vec::new();
        let mut met = None::<bool>;
        let mut and = |ok: bool, text: String| {
            met = Some(met.unwrap_or(true) && ok);
            targets.push(format!("{text}: {}", tick(ok)));
        };
        if let Some(bound) = engine_bound(id) {
            and(median <= bound, format!("≤ {bound:.0} ns"));
        }
        let (mut peer, mut ratio) = (String::new(), None);
        if let Some(variant) = id.strip_prefix("engine-scale-10000-exact/") {
            let base_id = format!(
                "engine-scale-1-exact/{}",
                if variant == "absent" { "absent" } else { "first" }
            );
            if let Some(&base) = medians.get(&base_id) {
                peer = format!("1 origin: {}", ns(base));
                ratio = Some(base / median);
                let slower = median / base;
                // Instructions, when counted, decide: they do not move with the machine's load.
                if let (Some(&ours), Some(&one)) =
                    (instructions.get(id), instructions.get(&base_id))
                {
                    #[expect(clippy::cast_precision_loss, reason = "instruction counts < 2^52")]
                    let more = ours as f64 / one.max(1) as f64;
                    and(
                        more <= 1.3,
                        format!("≤ 1.3x of 1 origin (instructions {more:.2}x; time {slower:.2}x)"),
                    );
                } else {
                    and(slower <= 1.3, format!("≤ 1.3x of 1 origin ({slower:.2}x)"));
                }
            }
        }
        if id.starts_with("engine-")
            && let Some(count) = allocs
        {
            and(count == 0, "0 allocations".to_owned());
        }
        rows.push(Row {
            scenario: id.clone(),
            ours: ns(median),
            peer,
            ratio,
            allocations: allocs.map_or_else(|| "-".to_owned(), |n| n.to_string()),
            instructions: instructions.get(id).map_or_else(String::new, u64::to_string),
            target: targets.join("; "),
            met,
            numbers: json!({ "median_ns": median, "allocations": allocs }),
        });
    }
    rows
}

/// The layer scenarios, as `benches/` names them, with their `performance.md` titles.
const LAYER_SCENARIOS: [(&str, &str); 6] = [
    ("actual-allowed", "actual GET, allowed origin"),
    ("actual-disallowed", "actual GET, disallowed origin"),
    ("preflight", "preflight (PUT, 2 headers)"),
    ("no-origin", "no Origin"),
    ("last-of-1000", "allowed origin last of 1 000"),
    ("last-of-10000", "allowed origin last of 10 000"),
];

fn layer_rows(
    medians: &std::collections::BTreeMap<String, f64>,
    allocations: &std::collections::BTreeMap<String, u64>,
    instructions: &std::collections::BTreeMap<String, u64>,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for (id, title) in LAYER_SCENARIOS {
        let group = format!("layer-{id}");
        let time = |function: &str| medians.get(&format!("{group}/{function}")).copied();
        let allocs = |function: &str| allocations.get(&format!("{group}/{function}")).copied();
        let own = |with: &str, bare: &str| Some(time(with)? - time(bare)?);
        let own_allocs = |with: &str, bare: &str| {
            Some(allocs(with)?.cast_signed() - allocs(bare)?.cast_signed())
        };
        let own_instr = |with: &str, bare: &str| {
            let count = |function: &str| instructions.get(&format!("{group}/{function}")).copied();
            Some(count(with)?.cast_signed() - count(bare)?.cast_signed())
        };
        let Some(ours) = own("cors-hyper", "bare-tower") else { continue };
        let ours_allocs = own_allocs("cors-hyper", "bare-tower");
        for (peer, bare) in [("tower-http", "bare-tower"), ("actix-cors", "bare-actix")] {
            let Some(theirs) = own(peer, bare) else { continue };
            let peer_allocs = own_allocs(peer, bare);
            let ratio = theirs / ours.max(0.1);
            let fast = ours <= 100.0;
            let ahead = ratio >= 5.0;
            let fewer = match (ours_allocs, peer_allocs) {
                (Some(a), Some(b)) => a <= b,
                _ => true,
            };
            let show = |n: Option<i64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
            rows.push(Row {
                scenario: format!("layer: {title} (own cost)"),
                ours: ns(ours),
                peer: format!("{peer}: {}", ns(theirs)),
                ratio: Some(ratio),
                allocations: format!("{} / {}", show(ours_allocs), show(peer_allocs)),
                instructions: match (own_instr("cors-hyper", "bare-tower"), own_instr(peer, bare)) {
                    (Some(a), Some(b)) => format!("{a} / {b}"),
                    _ => String::new(),
                },
                target: format!(
                    "≤ 100 ns: {}; ≥ 5x: {}; allocs ≤ peer: {}",
                    tick(fast),
                    tick(ahead),
                    tick(fewer)
                ),
                met: Some(fast && ahead && fewer),
                numbers: json!({
                    "ours_own_ns": ours, "peer_own_ns": theirs,
                    "ours_total_ns": time("cors-hyper"), "peer_total_ns": time(peer),
                    "bare_ns": time(bare), "bare_tower_ns": time("bare-tower"),
                    "ours_own_allocations": ours_allocs, "peer_own_allocations": peer_allocs,
                    "ours_total_allocations": allocs("cors-hyper"),
                    "peer_total_allocations": allocs(peer),
                }),
            });
        }
    }
    rows
}

fn markdown(rows: &[Row], options: Options) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "## cargo xtask bench{}{}\n\nMachine: {}. Ratio: how many times better ours is \
         (peer time ÷ ours, or our req/s ÷ theirs). Layer rows are each middleware's own cost \
         (with it minus the bare handler, same request); allocations: ours / peer.\n",
        if options.quick { " --quick (short runs: indicative only)" } else { "" },
        if options.load { " --load" } else { "" },
        machine()
    );
    text.push_str("| Scenario | Ours | Peer | Ratio | Allocations | Instructions | Target |\n");
    text.push_str("|---|--:|--:|--:|--:|--:|---|\n");
    for row in rows {
        let ratio = row.ratio.map_or_else(String::new, |r| format!("{r:.2}x"));
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.scenario, row.ours, row.peer, ratio, row.allocations, row.instructions, row.target
        );
    }
    text
}

// --- instruction counts ---------------------------------------------------------------------

/// Instructions per call of every criterion id in `ids` (engine and layer ids; `--quick` keeps
/// the headline ones), counted by callgrind on the `profile` example: the difference between
/// runs of 11 000 and 1 000 iterations, divided by 10 000, so setup cancels out.
fn count_instructions(
    ids: &[String],
    options: Options,
) -> Result<std::collections::BTreeMap<String, u64>, String> {
    let valgrind = find_program("valgrind")
        .ok_or("--instructions needs valgrind: run scripts/install-bench-tools.sh")?;
    let mut build = cargo();
    build.args(["build", "--release", "-p", "cors-benches", "--example", "profile"]);
    exec(build)?;
    let profile = target_dir(&root()).join("release/examples").join(exe("profile"));
    let headline = |id: &str| {
        id.starts_with("engine-actual-allowed")
            || id.starts_with("engine-preflight-")
            || id.starts_with("engine-scale-1-exact")
            || id.starts_with("engine-scale-10000-exact")
            || id.starts_with("engine-hostile-acrh-64k")
            || id.starts_with("layer-actual-allowed/")
            || id.starts_with("layer-preflight/")
            || id.starts_with("layer-no-origin/")
    };
    let collected = |id: &str, times: u32| -> Result<u64, String> {
        let output = Command::new(&valgrind)
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(&profile)
            .arg(id)
            .arg(times.to_string())
            .output()
            .map_err(|e| format!("cannot run valgrind: {e}"))?;
        let text = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!("callgrind on {id} failed:\n{text}"));
        }
        text.lines()
            .find_map(|line| line.split_once("Collected :").map(|(_, n)| n.trim().to_owned()))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("no instruction count from callgrind on {id}:\n{text}"))
    };
    let mut counts = std::collections::BTreeMap::new();
    for id in ids.iter().filter(|id| !options.quick || headline(id)) {
        let base = collected(id, 1_000)?;
        let more = collected(id, 11_000)?;
        let per_call = more.saturating_sub(base) / 10_000;
        eprintln!("instructions {id}: {per_call}");
        counts.insert(id.clone(), per_call);
    }
    Ok(counts)
}

// --- load test ----------------------------------------------------------------------------------

/// What wrk measured for one target and scenario.
#[derive(Debug, Clone, Copy)]
struct LoadResult {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
}

/// The reference policy of `performance.md`, as the gateway reads it.
const POLICY: &str = "\
publicResource: false
supportCredentials: true
originGroups:
  - name: bench
    origins: [https://app.example.com, https://admin.example.com]
    allowedMethods:
      - { methodName: GET, isAllowed: true }
      - { methodName: POST, isAllowed: true }
      - { methodName: PUT, isAllowed: true }
    headers: [content-type, x-token]
    exposedHeaders: [x-request-id]
    accessControlMaxAge: 600
";

/// The load scenarios: id, title (the wrk script is [`load_script`]).
const LOAD_SCENARIOS: [(&str, &str); 3] = [
    ("actual-allowed", "actual GET, allowed origin"),
    ("no-origin", "GET without Origin"),
    ("preflight", "preflight (PUT, 2 headers)"),
];

/// The allowed origin and the two requested headers of the gateway's traffic ([`POLICY`]).
const GATEWAY_TRAFFIC: (&str, &str) = ("https://app.example.com", "content-type,x-token");

/// The same for the Envoy pair: `crates/cors-proxy-wasm/envoy/bench-policy.yaml` (and
/// `native-cors.yaml`, which states the same policy) allow this origin and these headers.
const ENVOY_TRAFFIC: (&str, &str) = ("https://app.example.test", "content-type,x-custom");

/// Envoy worker threads (`--concurrency`) of both Envoys of the pair.
const ENVOY_CONCURRENCY: u32 = 1;

/// The wrk Lua script of `scenario`, for `(origin, requested headers)`.
fn load_script(scenario: &str, (origin, headers): (&str, &str)) -> String {
    match scenario {
        "actual-allowed" => {
            format!("wrk.method = \"GET\"\nwrk.headers[\"Origin\"] = \"{origin}\"\n")
        }
        "preflight" => format!(
            "wrk.method = \"OPTIONS\"\nwrk.headers[\"Origin\"] = \"{origin}\"\n\
             wrk.headers[\"Access-Control-Request-Method\"] = \"PUT\"\n\
             wrk.headers[\"Access-Control-Request-Headers\"] = \"{headers}\"\n"
        ),
        _ => "wrk.method = \"GET\"\n".to_owned(),
    }
}

/// The nginx baseline: a reverse proxy to `upstream` adding static headers equivalent to the
/// reference policy for its first origin, answering preflights itself.
fn nginx_conf(prefix: &Path, listen: SocketAddr, upstream: SocketAddr) -> String {
    let p = prefix.display();
    format!(
        "worker_processes auto;\ndaemon off;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n\
         \x20 access_log off;\n\
         \x20 client_body_temp_path {p}/client_body;\n  proxy_temp_path {p}/proxy;\n\
         \x20 fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
         \x20 upstream backend {{ server {upstream}; keepalive 64; }}\n\
         \x20 server {{\n\
         \x20   listen {listen};\n\
         \x20   location / {{\n\
         \x20     if ($request_method = OPTIONS) {{\n\
         \x20       add_header Access-Control-Allow-Origin \"https://app.example.com\" always;\n\
         \x20       add_header Access-Control-Allow-Credentials \"true\" always;\n\
         \x20       add_header Access-Control-Allow-Methods \"GET, POST, PUT\" always;\n\
         \x20       add_header Access-Control-Allow-Headers \"content-type, x-token\" always;\n\
         \x20       add_header Access-Control-Max-Age \"600\" always;\n\
         \x20       add_header Vary \"Origin\" always;\n\
         \x20       return 200;\n\
         \x20     }}\n\
         \x20     add_header Access-Control-Allow-Origin \"https://app.example.com\" always;\n\
         \x20     add_header Access-Control-Allow-Credentials \"true\" always;\n\
         \x20     add_header Access-Control-Expose-Headers \"x-request-id\" always;\n\
         \x20     add_header Vary \"Origin\" always;\n\
         \x20     proxy_http_version 1.1;\n\
         \x20     proxy_set_header Connection \"\";\n\
         \x20     proxy_set_header Host $host;\n\
         \x20     proxy_pass http://backend;\n\
         \x20   }}\n\
         \x20 }}\n\
         }}\n"
    )
}

/// The load-test targets by name: `upstream`, `gateway`, `nginx`.
type Targets = [(&'static str, SocketAddr); 3];

fn free_port() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map_err(|e| format!("no free port: {e}"))
}

/// One plain HTTP/1.1 request; the response head, lower-cased.
fn probe(addr: SocketAddr, request_headers: &str, method: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("probe {addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!(
        "{method} / HTTP/1.1\r\nHost: api.example.com\r\n{request_headers}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(|e| format!("probe {addr}: {e}"))?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    Ok(response.split("\r\n\r\n").next().unwrap_or_default().to_ascii_lowercase())
}

/// `name` in a `PATH` directory or in `/usr/sbin` (where Debian puts nginx).
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// What the load test measured: every round of every `load-SCENARIO/TARGET`, and the Envoy
/// pair's description (module, Envoy version, workers) or why it was skipped.
struct LoadRuns {
    runs: Vec<(String, Vec<LoadResult>)>,
    envoy: Result<Value, String>,
}

fn run_load(options: Options, out: &Path) -> Result<LoadRuns, String> {
    if find_program("wrk").is_none() || find_program("nginx").is_none() {
        let mut install = Command::new("bash");
        install.arg(root().join("scripts/install-bench-tools.sh"));
        exec(install)?;
    }
    let nginx = find_program("nginx").ok_or("nginx is not installed")?;
    let mut build = cargo();
    build.args(["build", "--release", "-p", "cors-gateway", "--bin", "cors-gateway"]);
    exec(build)?;
    let mut build = cargo();
    build.args(["build", "--release", "-p", "cors-benches", "--bin", "bench-upstream"]);
    exec(build)?;

    let dir = out.join("load");
    let (servers, targets) = start_servers(&dir, &nginx)?;
    let envoys = start_envoys(&dir, targets[0].1);
    if let Err(why) = &envoys {
        eprintln!("load: Envoy with cors-proxy-wasm against Envoy's native CORS: skipped: {why}");
    }
    let mut scripts = Vec::new();
    for (scenario, _) in LOAD_SCENARIOS {
        let write = |name: String, traffic| -> Result<PathBuf, String> {
            let path = dir.join("scripts").join(name);
            fs::write(&path, load_script(scenario, traffic))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(path)
        };
        let gateway = write(format!("{scenario}.lua"), GATEWAY_TRAFFIC)?;
        let envoy = write(format!("envoy-{scenario}.lua"), ENVOY_TRAFFIC)?;
        scripts.push((scenario, gateway, envoy));
    }
    // Rounds interleave the targets, so that a burst of load from elsewhere on the machine hits
    // all of them alike; each figure is the median of its rounds. The two Envoys run back to
    // back, first one then the other, the order alternating between rounds.
    let rounds = if options.quick { 1 } else { 3 };
    let mut runs: Vec<(String, Vec<LoadResult>)> = Vec::new();
    for round in 1..=rounds {
        for (scenario, gateway_script, envoy_script) in &scripts {
            let mut measure = |target: &str, addr, script| -> Result<(), String> {
                // One second of warm-up, then the measured run.
                wrk(script, addr, 1)?;
                let result = wrk(script, addr, options.load_secs)?;
                eprintln!(
                    "load round {round}/{rounds} {target}/{scenario}: {:.0} req/s, p50 {:.3} ms, \
                     p99 {:.3} ms{}",
                    result.rps,
                    result.p50_ms,
                    result.p99_ms,
                    if result.non_2xx > 0 {
                        format!(", {} non-2xx", result.non_2xx)
                    } else {
                        String::new()
                    }
                );
                let id = format!("load-{scenario}/{target}");
                match runs.iter_mut().find(|(known, _)| *known == id) {
                    Some((_, list)) => list.push(result),
                    None => runs.push((id, vec![result])),
                }
                Ok(())
            };
            for (target, addr) in targets {
                measure(target, addr, gateway_script)?;
            }
            if let Ok(envoys) = &envoys {
                let mut pair = envoys.targets;
                if round % 2 == 0 {
                    pair.reverse();
                }
                for (target, addr) in pair {
                    measure(target, addr, envoy_script)?;
                }
            }
        }
    }
    // Stops both Envoys, then the other servers.
    let envoy = envoys.map(|envoys| envoys.info);
    drop(servers);
    Ok(LoadRuns { runs, envoy })
}

/// The median of `values` (the upper one of an even count; NaN when empty).
fn median_of(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The median of each figure over `runs` (not empty).
fn median(runs: &[LoadResult]) -> LoadResult {
    let pick = |f: fn(&LoadResult) -> f64| median_of(runs.iter().map(f).collect());
    LoadResult {
        rps: pick(|r| r.rps),
        p50_ms: pick(|r| r.p50_ms),
        p99_ms: pick(|r| r.p99_ms),
        non_2xx: runs.iter().map(|r| r.non_2xx).sum(),
    }
}

/// The Envoy pair of the load test: Envoy with the module, Envoy with its native CORS filter.
struct Envoys {
    /// `envoy-wasm` and `envoy-native`, with their listeners.
    targets: [(&'static str, SocketAddr); 2],
    /// What ran: the module and its size, Envoy's version, the workers, the configurations.
    info: Value,
    /// The two Envoy processes (each started directly, so its own process id), killed when
    /// dropped.
    _processes: [Process; 2],
}

/// Starts both Envoys in front of `upstream`, from the configurations `cargo xtask envoy`
/// writes, and checks that both answer the benchmark traffic with CORS. The error says why the
/// pair cannot run (what is missing, and what installs it).
fn start_envoys(dir: &Path, upstream: SocketAddr) -> Result<Envoys, String> {
    let binary = envoy::find_envoy()?;
    if !envoy::wasm_target_installed() {
        return Err("the wasm32-wasip1 Rust target is not installed; scripts/install-envoy.sh \
                    installs it"
            .to_owned());
    }
    let module = envoy::build_module()?;
    let module_bytes =
        fs::metadata(&module).map_err(|e| format!("{}: {e}", module.display()))?.len();
    let version = Command::new(&binary)
        .arg("--version")
        .output()
        .map(|output| {
            let text = String::from_utf8_lossy(&output.stdout);
            text.split_once("version:").map_or(&*text, |(_, version)| version).trim().to_owned()
        })
        .unwrap_or_default();
    let policy = root().join("crates/cors-proxy-wasm/envoy/bench-policy.yaml");
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let start = |name: &str, kind: Vec<String>| -> Result<(SocketAddr, Process), String> {
        let addr = free_port()?;
        let mut args = kind;
        args.extend(["--listen".to_owned(), addr.to_string()]);
        args.extend(["--upstream".to_owned(), format!("http://{upstream}")]);
        args.extend(["--concurrency".to_owned(), ENVOY_CONCURRENCY.to_string()]);
        let admin = dir.join("envoy").join(format!("{name}-admin.txt"));
        let command =
            envoy::command(&args, &dir.join("envoy").join(format!("{name}.yaml")), &admin)?;
        let log = dir.join(format!("{name}.log"));
        let mut process = Process::start(command, &log, Some(format!("http://{addr}")))?;
        envoy::wait_ready(&mut process.child, &admin)
            .map_err(|e| format!("{name}: {e}; see {}", log.display()))?;
        Ok((addr, process))
    };
    let (wasm_addr, wasm) = start(
        "envoy-wasm",
        vec!["--config".to_owned(), path(&policy), "--module".to_owned(), path(&module)],
    )?;
    let (native_addr, native) = start("envoy-native", vec!["--native-cors".to_owned()])?;

    let (origin, headers) = ENVOY_TRAFFIC;
    let allowed = format!("access-control-allow-origin: {origin}");
    let preflight = format!(
        "Origin: {origin}\r\nAccess-Control-Request-Method: PUT\r\n\
         Access-Control-Request-Headers: {headers}\r\n"
    );
    let mut answers = Vec::new();
    for (name, addr) in [("envoy-wasm", wasm_addr), ("envoy-native", native_addr)] {
        let actual = probe(addr, &format!("Origin: {origin}\r\n"), "GET")?;
        let options = probe(addr, &preflight, "OPTIONS")?;
        let plain = probe(addr, "", "GET")?;
        let ok = |head: &str| head.starts_with("http/1.1 200");
        let answers_as_policy = [&actual, &options, &plain].into_iter().all(|head| ok(head))
            && actual.contains(&allowed)
            && options.contains(&allowed)
            && !plain.contains("access-control-");
        if !answers_as_policy {
            return Err(format!(
                "{name} does not answer the benchmark traffic as the policy says:\n{actual}\n\n\
                 {options}\n\n{plain}"
            ));
        }
        let cors_lines = |head: &str| -> Vec<String> {
            head.lines()
                .filter(|line| line.starts_with("access-control-"))
                .map(str::to_owned)
                .collect()
        };
        answers.push([cors_lines(&actual), cors_lines(&options)]);
    }
    // Where the two answer the same traffic differently (Envoy's filter is not cors-flex).
    let mut differences = Vec::new();
    for (kind, (module, native)) in
        ["actual", "preflight"].into_iter().zip(answers[0].iter().zip(&answers[1]))
    {
        for (who, lines, other) in [("module", module, native), ("native", native, module)] {
            for line in lines.iter().filter(|line| !other.contains(line)) {
                differences.push(format!("{kind}: only {who}: {line}"));
            }
        }
    }
    if !differences.is_empty() {
        eprintln!(
            "load: note: the two Envoys' Access-Control-* headers differ: {}",
            differences.join("; ")
        );
    }
    let info = json!({
        "module": path(&module), "module_bytes": module_bytes, "envoy_version": version,
        "concurrency": ENVOY_CONCURRENCY,
        "policy": "crates/cors-proxy-wasm/envoy/bench-policy.yaml",
        "native_config": "crates/cors-proxy-wasm/envoy/native-cors.yaml",
        "cors_header_differences": differences,
    });
    Ok(Envoys {
        targets: [("envoy-wasm", wasm_addr), ("envoy-native", native_addr)],
        info,
        _processes: [wasm, native],
    })
}

/// Starts the upstream, the gateway in front of it and nginx in front of it, and checks that
/// both proxies answer the allowed origin with CORS; returns them with their addresses.
fn start_servers(dir: &Path, nginx: &Path) -> Result<(Servers, Targets), String> {
    for sub in ["", "nginx", "scripts"] {
        fs::create_dir_all(dir.join(sub)).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let release = target_dir(&root()).join("release");
    let address = |process: &Process| -> Result<SocketAddr, String> {
        let url = &process.url;
        url.strip_prefix("http://")
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| format!("not a loopback http URL: {url:?}"))
    };

    // The upstream announces `listening on http://ADDR` once bound.
    let mut upstream = Command::new(release.join(exe("bench-upstream")));
    upstream.arg("127.0.0.1:0");
    let upstream = Process::start(upstream, &dir.join("upstream.log"), None)?;
    let upstream_addr = address(&upstream)?;

    let policy = dir.join("policy.yaml");
    fs::write(&policy, POLICY).map_err(|e| format!("{}: {e}", policy.display()))?;
    let gateway_addr = free_port()?;
    let mut gateway = Command::new(release.join(exe("cors-gateway")));
    gateway
        .arg("--quiet")
        .arg("serve")
        .arg("--config")
        .arg(&policy)
        .args(["--listen", &gateway_addr.to_string()])
        .args(["--upstream", &format!("http://{upstream_addr}")])
        .args(["--watch-interval", "0s"]);
    let gateway =
        Process::start(gateway, &dir.join("gateway.log"), Some(format!("http://{gateway_addr}")))?;

    let nginx_addr = free_port()?;
    let conf = dir.join("nginx/nginx.conf");
    fs::write(&conf, nginx_conf(&dir.join("nginx"), nginx_addr, upstream_addr))
        .map_err(|e| format!("{}: {e}", conf.display()))?;
    let mut command = Command::new(nginx);
    command.arg("-p").arg(dir.join("nginx")).arg("-c").arg(&conf);
    let process =
        Process::start(command, &dir.join("nginx.log"), Some(format!("http://{nginx_addr}")))?;
    let nginx = Nginx {
        binary: nginx.to_path_buf(),
        prefix: dir.join("nginx"),
        conf,
        process: Some(process),
    };

    for (name, addr) in [("cors-gateway", gateway_addr), ("nginx", nginx_addr)] {
        let head = probe(addr, "Origin: https://app.example.com\r\n", "GET")?;
        if !head.contains("access-control-allow-origin: https://app.example.com") {
            return Err(format!("{name} does not answer the allowed origin with CORS:\n{head}"));
        }
    }
    let targets = [("upstream", upstream_addr), ("gateway", gateway_addr), ("nginx", nginx_addr)];
    Ok((Servers { _nginx: nginx, _gateway: gateway, _upstream: upstream }, targets))
}

/// The servers of the load test, stopped when dropped (nginx first, the upstream last).
struct Servers {
    _nginx: Nginx,
    _gateway: Process,
    _upstream: Process,
}

/// The nginx baseline. Killing its master process would leave its workers running, so it is
/// stopped with `nginx -s stop` (the master then stops its workers) before the kill.
struct Nginx {
    binary: PathBuf,
    prefix: PathBuf,
    conf: PathBuf,
    process: Option<Process>,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let stopped = Command::new(&self.binary)
            .arg("-p")
            .arg(&self.prefix)
            .arg("-c")
            .arg(&self.conf)
            .args(["-s", "stop"])
            .status();
        if let (Ok(status), Some(process)) = (stopped, self.process.as_mut())
            && status.success()
        {
            for _ in 0..100 {
                if matches!(process.child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Kills the master if it is still there, and reaps it.
        drop(self.process.take());
    }
}

/// Runs wrk (1 thread, 32 connections) for `secs` seconds and parses its report.
fn wrk(script: &Path, addr: SocketAddr, secs: u32) -> Result<LoadResult, String> {
    let output = Command::new("wrk")
        .args(["-t1", "-c32", &format!("-d{secs}s"), "--latency", "-s"])
        .arg(script)
        .arg(format!("http://{addr}/"))
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("wrk failed: {text}{}", String::from_utf8_lossy(&output.stderr)));
    }
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix))
            .map(|rest| rest.split_whitespace().next().unwrap_or_default().to_owned())
    };
    let ms = |value: Option<String>| -> Option<f64> {
        let value = value?;
        let (number, scale) = if let Some(n) = value.strip_suffix("us") {
            (n, 0.001)
        } else if let Some(n) = value.strip_suffix("ms") {
            (n, 1.0)
        } else if let Some(n) = value.strip_suffix('s') {
            (n, 1000.0)
        } else {
            (value.as_str(), 1.0)
        };
        number.parse::<f64>().ok().map(|n| n * scale)
    };
    let rps = field("Requests/sec:").and_then(|v| v.parse().ok());
    let (Some(rps), Some(p50_ms), Some(p99_ms)) = (rps, ms(field("50%")), ms(field("99%"))) else {
        return Err(format!("cannot read wrk's report:\n{text}"));
    };
    let non_2xx = field("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok(LoadResult { rps, p50_ms, p99_ms, non_2xx })
}

fn load_rows(results: &[(String, LoadResult)]) -> Vec<Row> {
    let get = |scenario: &str, target: &str| {
        results.iter().find(|(id, _)| *id == format!("load-{scenario}/{target}")).map(|(_, r)| *r)
    };
    let show = |r: LoadResult| {
        format!("{:.0} req/s (p50 {:.2} ms, p99 {:.2} ms)", r.rps, r.p50_ms, r.p99_ms)
    };
    let mut rows = Vec::new();
    let no_origin = get("no-origin", "gateway");
    for (scenario, title) in LOAD_SCENARIOS {
        let Some(ours) = get(scenario, "gateway") else { continue };
        for baseline in ["nginx", "upstream"] {
            let Some(theirs) = get(scenario, baseline) else { continue };
            let ratio = ours.rps / theirs.rps;
            let (target, met) = if baseline == "nginx" {
                let mut text = format!("≥ nginx: {}", tick(ratio >= 1.0));
                let mut met = ratio >= 1.0;
                if scenario == "actual-allowed"
                    && let Some(plain) = no_origin
                {
                    let within = ours.rps >= 0.95 * plain.rps;
                    let _ = write!(
                        text,
                        "; within 5% of gateway without Origin ({:+.1}%): {}",
                        100.0 * (ours.rps / plain.rps - 1.0),
                        tick(within)
                    );
                    met = met && within;
                }
                (text, Some(met))
            } else {
                ("(cost of a proxy hop)".to_owned(), None)
            };
            rows.push(Row {
                scenario: format!("gateway: {title}"),
                ours: show(ours),
                peer: format!("{baseline}: {}", show(theirs)),
                ratio: Some(ratio),
                allocations: String::new(),
                instructions: String::new(),
                target,
                met,
                numbers: json!({
                    "ours_rps": ours.rps, "ours_p50_ms": ours.p50_ms, "ours_p99_ms": ours.p99_ms,
                    "peer_rps": theirs.rps, "peer_p50_ms": theirs.p50_ms, "peer_p99_ms": theirs.p99_ms,
                    "ours_non_2xx": ours.non_2xx, "peer_non_2xx": theirs.non_2xx,
                }),
            });
        }
    }
    rows
}

/// Envoy with the module against Envoy's native CORS filter, per scenario: the medians of
/// each, and the median of the per-pair ratios (ours ÷ native requests per second; the p99
/// ratio likewise, lower is better for us there).
fn envoy_rows(load: &LoadRuns) -> Vec<Row> {
    let info = match &load.envoy {
        Ok(info) => info,
        Err(why) => {
            return vec![Row {
                scenario: "Envoy + cors-proxy-wasm vs Envoy native CORS".to_owned(),
                ours: "skipped".to_owned(),
                peer: String::new(),
                ratio: None,
                allocations: String::new(),
                instructions: String::new(),
                target: why.clone(),
                met: None,
                numbers: json!({ "skipped": why }),
            }];
        }
    };
    let get = |scenario: &str, target: &str| {
        let id = format!("load-{scenario}/{target}");
        load.runs.iter().find(|(known, _)| *known == id).map(|(_, list)| list.as_slice())
    };
    let show = |r: LoadResult| format!("{:.0} req/s (p99 {:.2} ms)", r.rps, r.p99_ms);
    let workers = info["concurrency"].as_u64().unwrap_or(u64::from(ENVOY_CONCURRENCY));
    let mut rows = Vec::new();
    for (scenario, title) in LOAD_SCENARIOS {
        let (Some(ours), Some(native)) =
            (get(scenario, "envoy-wasm"), get(scenario, "envoy-native"))
        else {
            continue;
        };
        let pairs = ours.iter().zip(native);
        let rps_ratios: Vec<f64> = pairs.clone().map(|(a, b)| a.rps / b.rps).collect();
        let p99_ratios: Vec<f64> = pairs.map(|(a, b)| a.p99_ms / b.p99_ms).collect();
        let list = rps_ratios.iter().map(|r| format!("{r:.2}x")).collect::<Vec<_>>().join(", ");
        let (rps_ratio, p99_ratio) = (median_of(rps_ratios.clone()), median_of(p99_ratios.clone()));
        let (ours_median, native_median) = (median(ours), median(native));
        rows.push(Row {
            scenario: format!("Envoy + module: {title}"),
            ours: show(ours_median),
            peer: format!("Envoy native CORS: {}", show(native_median)),
            ratio: Some(rps_ratio),
            allocations: String::new(),
            instructions: String::new(),
            target: format!(
                "req/s ours ÷ native per back-to-back pair: {list}; p99 ours ÷ native \
                 {p99_ratio:.2}x; {workers} Envoy worker each"
            ),
            met: None,
            numbers: json!({
                "ours_rps": ours_median.rps, "ours_p50_ms": ours_median.p50_ms,
                "ours_p99_ms": ours_median.p99_ms, "peer_rps": native_median.rps,
                "peer_p50_ms": native_median.p50_ms, "peer_p99_ms": native_median.p99_ms,
                "ours_non_2xx": ours_median.non_2xx, "peer_non_2xx": native_median.non_2xx,
                "rps_ratio_per_pair": rps_ratios, "p99_ratio_per_pair": p99_ratios,
                "rps_ratio_median": rps_ratio, "p99_ratio_median": p99_ratio,
                "envoy": info,
            }),
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Envoy pair's traffic is what both Envoy configurations allow.
    #[test]
    fn envoy_traffic_is_allowed_by_both_envoy_configurations() {
        let policy = include_str!("../../crates/cors-proxy-wasm/envoy/bench-policy.yaml");
        let native = include_str!("../../crates/cors-proxy-wasm/envoy/native-cors.yaml");
        let (origin, headers) = ENVOY_TRAFFIC;
        for text in [policy, native] {
            assert!(text.contains(origin), "{origin} not in {text}");
            for header in headers.split(',') {
                assert!(text.contains(header), "{header} not in {text}");
            }
            assert!(text.contains("PUT"), "PUT not in {text}");
        }
    }

    #[test]
    fn load_scripts_send_the_scenario_headers() {
        let preflight = load_script("preflight", ("https://o.test", "a,b"));
        assert!(preflight.contains("wrk.method = \"OPTIONS\""), "{preflight}");
        assert!(preflight.contains("\"Origin\"] = \"https://o.test\""), "{preflight}");
        assert!(preflight.contains("\"Access-Control-Request-Headers\"] = \"a,b\""), "{preflight}");
        let actual = load_script("actual-allowed", ("https://o.test", "a,b"));
        assert!(actual.contains("\"Origin\"] = \"https://o.test\""), "{actual}");
        assert!(!load_script("no-origin", ("https://o.test", "a,b")).contains("Origin"));
    }

    #[test]
    fn median_of_takes_the_middle_value() {
        assert!((median_of(vec![3.0, 1.0, 2.0]) - 2.0).abs() < f64::EPSILON);
        assert!(median_of(Vec::new()).is_nan());
    }
}
