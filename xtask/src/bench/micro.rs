//! The micro benches: criterion (ours and the peers in one run), the allocation counts, and
//! instructions per call under callgrind; their rows of the summary.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use serde_json::json;

use super::Options;
use super::report::{Row, ns, tick};
use cors_devtools::{exe, find_program, target_dir};

use crate::util::{cargo, exec, read_json};

/// Runs the criterion benches and the allocation counts, with `criterion` (the user's options
/// after `--`) passed on after this command's defaults for the options it does not name.
pub(super) fn run_criterion(
    options: Options,
    criterion: &[String],
    out: &Path,
) -> Result<(), String> {
    let mut command = cargo();
    command.args(["bench", "-p", "cors-benches", "--bench", "engine", "--bench", "layer"]);
    command.args(["--bench", "allocations", "--"]);
    let defaults: &[(&str, Option<&str>)] = if options.quick {
        &[
            ("--warm-up-time", Some("0.2")),
            ("--measurement-time", Some("0.4")),
            ("--sample-size", Some("20")),
            ("--nresamples", Some("2000")),
            ("--noplot", None),
        ]
    } else {
        &[("--warm-up-time", Some("1")), ("--measurement-time", Some("3"))]
    };
    for (flag, value) in defaults {
        if !criterion.iter().any(|arg| arg == flag || arg.starts_with(&format!("{flag}="))) {
            command.arg(flag).args(value);
        }
    }
    command.args(criterion);
    command.env("CORS_BENCH_QUICK", if options.quick { "1" } else { "0" });
    command.env("CORS_BENCH_OUT", out);
    exec(command)
}

/// `group/function` -> median in nanoseconds, from every criterion estimate written since
/// `since`.
pub(super) fn read_medians(
    criterion: &Path,
    since: SystemTime,
) -> Result<BTreeMap<String, f64>, String> {
    let mut medians = BTreeMap::new();
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
            let benchmark = read_json(&new.join("benchmark.json"))?;
            let estimates = read_json(&estimates)?;
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

/// Allocations per call by `group/function`, in the order the `allocations` bench lists them
/// (the order of issue 11), from its `allocations.json`.
pub(super) fn read_allocations(path: &Path) -> Result<Vec<(String, u64)>, String> {
    let rows = read_json(path)?;
    let rows = rows.as_array().ok_or_else(|| format!("{}: not an array", path.display()))?;
    rows.iter()
        .map(|row| {
            match (row["group"].as_str(), row["function"].as_str(), row["allocations"].as_u64()) {
                (Some(group), Some(function), Some(count)) => {
                    Ok((format!("{group}/{function}"), count))
                }
                _ => Err(format!("{}: unexpected row {row}", path.display())),
            }
        })
        .collect()
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

pub(super) fn engine_rows(
    medians: &BTreeMap<String, f64>,
    allocations: &BTreeMap<String, u64>,
    order: &[String],
    instructions: &BTreeMap<String, u64>,
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

pub(super) fn layer_rows(
    medians: &BTreeMap<String, f64>,
    allocations: &BTreeMap<String, u64>,
    instructions: &BTreeMap<String, u64>,
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

// --- instruction counts ---------------------------------------------------------------------

/// Instructions per call of every criterion id in `ids` (engine and layer ids; `--quick` keeps
/// the headline ones), counted by callgrind on the `profile` example: the difference between
/// runs of 11 000 and 1 000 iterations, divided by 10 000, so setup cancels out.
pub(super) fn count_instructions(
    ids: &[String],
    options: Options,
) -> Result<BTreeMap<String, u64>, String> {
    let valgrind = find_program(None, &["valgrind"]).map_err(|e| {
        format!("--instructions needs valgrind: {e}; scripts/install-bench-tools.sh installs it")
    })?;
    let mut build = cargo();
    build.args(["build", "--release", "-p", "cors-benches", "--example", "profile"]);
    exec(build)?;
    let profile = target_dir().join("release/examples").join(exe("profile"));
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
    let mut counts = BTreeMap::new();
    for id in ids.iter().filter(|id| !options.quick || headline(id)) {
        let base = collected(id, 1_000)?;
        let more = collected(id, 11_000)?;
        let per_call = more.saturating_sub(base) / 10_000;
        eprintln!("instructions {id}: {per_call}");
        counts.insert(id.clone(), per_call);
    }
    Ok(counts)
}
