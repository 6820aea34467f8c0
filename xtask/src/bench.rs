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
        rows.extend(load_rows(&load));
        for (id, result) in &load {
            raw.insert(
                id.clone(),
                json!({ "requests_per_s": result.rps, "p50_ms": result.p50_ms,
                        "p99_ms": result.p99_ms, "non_2xx": result.non_2xx }),
            );
        }
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

/// The load scenarios: id, title, wrk Lua script.
const LOAD_SCENARIOS: [(&str, &str, &str); 3] = [
    (
        "actual-allowed",
        "actual GET, allowed origin",
        "wrk.method = \"GET\"\nwrk.headers[\"Origin\"] = \"https://app.example.com\"\n",
    ),
    ("no-origin", "GET without Origin", "wrk.method = \"GET\"\n"),
    (
        "preflight",
        "preflight (PUT, 2 headers)",
        "wrk.method = \"OPTIONS\"\nwrk.headers[\"Origin\"] = \"https://app.example.com\"\n\
         wrk.headers[\"Access-Control-Request-Method\"] = \"PUT\"\n\
         wrk.headers[\"Access-Control-Request-Headers\"] = \"content-type,x-token\"\n",
    ),
];

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

fn run_load(options: Options, out: &Path) -> Result<Vec<(String, LoadResult)>, String> {
    if find_program("wrk").is_none() || find_program("nginx").is_none() {
        let mut install = Command::new("bash");
        install.arg(root().join("scripts/install-bench-tools.sh"));
        exec(install)?;
    }
    let nginx = find_program("nginx").ok_or("nginx is not installed")?;
    let mut build = cargo();
    build.args(["build", "--release", "-p", "cors-hyper", "--bin", "cors-gateway"]);
    exec(build)?;
    let mut build = cargo();
    build.args(["build", "--release", "-p", "cors-benches", "--bin", "bench-upstream"]);
    exec(build)?;

    let dir = out.join("load");
    let (servers, targets) = start_servers(&dir, &nginx)?;
    let mut scripts = Vec::new();
    for (scenario, _, script) in LOAD_SCENARIOS {
        let script_path = dir.join("scripts").join(format!("{scenario}.lua"));
        fs::write(&script_path, script).map_err(|e| format!("{}: {e}", script_path.display()))?;
        scripts.push((scenario, script_path));
    }
    // Rounds interleave the targets, so that a burst of load from elsewhere on the machine hits
    // all of them alike; each figure is the median of its rounds.
    let rounds = if options.quick { 1 } else { 3 };
    let mut runs: Vec<(String, Vec<LoadResult>)> = Vec::new();
    for round in 1..=rounds {
        for (scenario, script_path) in &scripts {
            for (target, addr) in targets {
                // One second of warm-up, then the measured run.
                wrk(script_path, addr, 1)?;
                let result = wrk(script_path, addr, options.load_secs)?;
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
            }
        }
    }
    drop(servers);
    Ok(runs.into_iter().map(|(id, list)| (id, median(&list))).collect())
}

/// The median of each figure over `runs` (not empty).
fn median(runs: &[LoadResult]) -> LoadResult {
    let pick = |f: fn(&LoadResult) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(f).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
    };
    LoadResult {
        rps: pick(|r| r.rps),
        p50_ms: pick(|r| r.p50_ms),
        p99_ms: pick(|r| r.p99_ms),
        non_2xx: runs.iter().map(|r| r.non_2xx).sum(),
    }
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
    for (scenario, title, _) in LOAD_SCENARIOS {
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
