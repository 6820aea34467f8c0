//! The micro benches: criterion (ours and the peers in one run), the allocation counts, and
//! instructions per call under callgrind; their rows of the summary.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use cors_devtools::{exe, find_program, target_dir};
use serde_json::{Value, json};

use super::Options;
use super::report::{Estimate, Figures, Kind, Row};
use crate::util::{cargo, exec, read_json};

/// What the micro benches measured, by criterion id (`group/function`).
#[derive(Debug, Default)]
pub(super) struct Micro {
    /// Criterion's median time and its 95 % confidence interval, in nanoseconds.
    pub(super) times: BTreeMap<String, Estimate>,
    pub(super) allocations: BTreeMap<String, u64>,
    /// The ids in the order the `allocations` bench lists them (the order of issue 11).
    pub(super) order: Vec<String>,
    /// Instructions per call under callgrind, when counted.
    pub(super) instructions: BTreeMap<String, u64>,
}

impl Micro {
    /// Every figure by criterion id, for `summary.json`'s `measurements`.
    pub(super) fn measurements(&self) -> impl Iterator<Item = (String, Value)> + '_ {
        self.times.iter().map(|(id, time)| {
            (
                id.clone(),
                json!({
                    "ns": time.value, "ns_low": time.low, "ns_high": time.high,
                    "allocations": self.allocations.get(id),
                    "instructions": self.instructions.get(id),
                }),
            )
        })
    }
}

/// Runs the criterion benches and the allocation counts: criterion's options are this
/// command's defaults, then the ones the user passed (`criterion`), which replace the defaults
/// they name.
pub(super) fn run_criterion(
    options: &Options,
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
    if let Some(filter) = &options.filter {
        command.arg(criterion_filter(filter));
    }
    command.args(criterion);
    command.env("CORS_BENCH_QUICK", if options.quick { "1" } else { "0" });
    command.env("CORS_BENCH_OUT", out);
    set_policy(&mut command, options);
    exec(command)
}

/// Checks the user's policy (`--policy`) before anything is built for measuring or measured:
/// builds the benches' `check-policy` example, which loads it and derives its requests as the
/// benches do, and runs it ([`policy_problems`]); then checks that `--filter` selects one of
/// the scenarios those requests make ([`policy_filter`]).
pub(super) fn check_policy(options: &Options) -> Result<(), String> {
    let Some(policy) = &options.policy else { return Ok(()) };
    let mut build = cargo();
    // The bench profile, as `cargo bench` builds next: the benches' dependencies are built once.
    build.args(["build", "--profile", "bench", "-p", "cors-benches", "--example", "check-policy"]);
    exec(build)?;
    let mut check = Command::new(target_dir().join("release/examples").join(exe("check-policy")));
    set_policy(&mut check, options);
    let requests = policy_problems(policy, check)?;
    match &options.filter {
        Some(filter) => policy_filter(filter, policy, &requests),
        None => Ok(()),
    }
}

/// Runs `check` (the `check-policy` example on `policy`): the policy's problems, as it gives
/// them (`FILE:LINE:COLUMN: error: ...` lines), are the error, so that they are the last thing
/// the user reads; xtask links no product crate to load the policy itself (ARCHITECTURE.md).
/// Without problems, the names of the requests derived from the policy (`actual-allowed`,
/// `preflight`...: each `NAME: derivation` line of its output).
fn policy_problems(policy: &Path, mut check: Command) -> Result<Vec<String>, String> {
    let output = check.output().map_err(|e| format!("cannot run {check:?}: {e}"))?;
    if output.status.success() {
        let text = String::from_utf8_lossy(&output.stdout);
        return Ok(text
            .lines()
            .filter(|line| !line.starts_with("left out: "))
            .filter_map(|line| line.split_once(": ").map(|(name, _)| name.to_owned()))
            .collect());
    }
    let problems = String::from_utf8_lossy(&output.stderr);
    Err(format!(
        "--policy {} cannot be benchmarked ({}):\n{}",
        policy.display(),
        output.status,
        problems.trim_end()
    ))
}

/// Refuses a `--filter` that selects none of the scenarios a `--policy` run measures, before
/// it measures anything: those are `engine-policy-REQUEST` and `layer-policy-REQUEST` for each
/// of the policy's derived `requests`, and the reference policy's scenarios
/// (`engine-actual-allowed`...) do not run, so `--filter engine-actual` found nothing, said so
/// only after minutes of building and measuring, and did not say what to write instead.
fn policy_filter(filter: &str, policy: &Path, requests: &[String]) -> Result<(), String> {
    let groups: Vec<String> = ["engine-policy-", "layer-policy-"]
        .iter()
        .flat_map(|prefix| requests.iter().map(move |request| format!("{prefix}{request}")))
        .collect();
    // With a `/`, criterion ids (`GROUP/FUNCTION`) that contain it: the part before the first
    // `/` ends a group's name.
    let selects = |group: &String| match filter.split_once('/') {
        Some((head, _)) => group.ends_with(head),
        None => group.contains(filter),
    };
    if groups.iter().any(selects) {
        return Ok(());
    }
    Err(format!(
        "--filter {filter:?} selects no scenario of --policy {}: its scenarios are {} (the \
         reference policy's, such as engine-actual-allowed, do not run with --policy)",
        policy.display(),
        groups.join(", ")
    ))
}

/// The criterion ids (`group/function`) the benches of the reference policy register, as
/// `cargo bench -- --list` gives them (the quick set with `--quick`): builds the benches, as the
/// run would next, and measures nothing.
pub(super) fn reference_ids(options: &Options) -> Result<Vec<String>, String> {
    let mut command = cargo();
    command.args(["bench", "-p", "cors-benches", "--bench", "engine", "--bench", "layer"]);
    command.args(["--", "--list"]);
    command.env("CORS_BENCH_QUICK", if options.quick { "1" } else { "0" });
    eprintln!("bench: listing the scenarios --filter may select");
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo bench --list: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo bench -p cors-benches -- --list failed ({})", output.status));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_suffix(": benchmark"))
        .map(str::to_owned)
        .collect())
}

/// Refuses a `--filter` that selects none of the scenarios a run on the reference policy
/// measures, before it measures anything: the criterion groups of `ids` (or, with a `/` in
/// the filter, the ids themselves; as [`criterion_filter`] selects them) and the `load`
/// scenarios (`load-SCENARIO`, `envoy-SCENARIO`: those of `--load`). A mistyped filter ran the
/// allocation counts and every bench binary first, then said only "selects no scenario".
pub(super) fn reference_filter(
    filter: &str,
    ids: &[String],
    load: &[String],
) -> Result<(), String> {
    let group = |id: &str| id.split_once('/').map_or(id, |(group, _)| group).to_owned();
    let selects = |id: &String| {
        if filter.contains('/') { id.contains(filter) } else { group(id).contains(filter) }
    };
    if ids.iter().any(selects) || load.iter().any(|scenario| scenario.contains(filter)) {
        return Ok(());
    }
    let mut groups: Vec<String> = Vec::new();
    for name in ids.iter().map(|id| group(id)).chain(load.iter().cloned()) {
        if !groups.contains(&name) {
            groups.push(name);
        }
    }
    Err(format!(
        "--filter {filter:?} selects no scenario: the scenarios are {} (a filter with a `/` \
         selects the criterion ids GROUP/FUNCTION that contain it)",
        groups.join(", ")
    ))
}

/// Passes the user's policy (`--policy`, `--instance`) to the bench binaries.
fn set_policy(command: &mut Command, options: &Options) {
    if let Some(policy) = &options.policy {
        command.env("CORS_BENCH_POLICY", policy);
    }
    if let Some(instance) = &options.instance {
        command.env("CORS_BENCH_INSTANCE", instance);
    }
}

/// Criterion's filter (a regular expression over `group/function`) for `--filter SUBSTR`: the
/// groups whose name contains `SUBSTR`, or, when it has a `/`, the ids that contain it.
fn criterion_filter(substring: &str) -> String {
    let mut escaped = String::new();
    for c in substring.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    if substring.contains('/') { escaped } else { format!("^[^/]*{escaped}[^/]*/") }
}

/// Criterion's estimates written since `since`: the median and its confidence interval, by
/// `group/function`.
pub(super) fn read_times(
    criterion: &Path,
    since: SystemTime,
) -> Result<BTreeMap<String, Estimate>, String> {
    let mut times = BTreeMap::new();
    let Ok(groups) = fs::read_dir(criterion) else { return Ok(times) };
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
            let median = &estimates["median"];
            let interval = &median["confidence_interval"];
            let (Some(group_id), Some(function_id), Some(value), Some(low), Some(high)) = (
                benchmark["group_id"].as_str(),
                benchmark["function_id"].as_str(),
                median["point_estimate"].as_f64(),
                interval["lower_bound"].as_f64(),
                interval["upper_bound"].as_f64(),
            ) else {
                return Err(format!("{}: unexpected criterion format", new.display()));
            };
            times.insert(format!("{group_id}/{function_id}"), Estimate { value, low, high });
        }
    }
    Ok(times)
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

/// The engine targets of issue 19, in instructions per decision (callgrind, which the machine's
/// load does not move), by criterion id.
fn engine_instruction_bound(id: &str) -> Option<i64> {
    match id {
        "engine-not-cors/decide" => Some(60),
        "engine-actual-allowed/decide" => Some(250),
        "engine-preflight-accepted/decide" => Some(700),
        _ if id.starts_with("engine-preflight-rejected-") => Some(400),
        _ => None,
    }
}

/// The engine's time targets, in nanoseconds (issue 11's bound on hostile input).
fn engine_time_bound(id: &str) -> Option<f64> {
    match id {
        "engine-hostile-acrh-64k-commas/decide" => Some(300.0),
        _ => None,
    }
}

/// The figures of one criterion id.
fn figures(micro: &Micro, id: &str) -> Figures {
    Figures {
        ns: micro.times.get(id).copied(),
        instructions: micro.instructions.get(id).map(|&n| n.cast_signed()),
        allocations: micro.allocations.get(id).map(|&n| n.cast_signed()),
        ..Figures::default()
    }
}

/// One row per engine, origin-parsing and policy-loading id, alone (no peer has an engine).
pub(super) fn engine_rows(micro: &Micro) -> Vec<Row> {
    let mut ids: Vec<&String> = micro
        .times
        .keys()
        .filter(|id| ["engine-", "origin-", "policy-"].iter().any(|p| id.starts_with(p)))
        .collect();
    ids.sort_by_key(|id| {
        (micro.order.iter().position(|known| known == *id).unwrap_or(usize::MAX), *id)
    });
    let mut rows = Vec::new();
    for id in ids {
        let ours = figures(micro, id);
        let ours_instructions = ours.instructions;
        let Some(time) = ours.ns else { continue };
        let allocations = ours.allocations;
        let mut row = Row::new(id.clone(), Kind::Engine, title(id), ours, None);
        if let (Some(bound), Some(count)) = (engine_instruction_bound(id), ours_instructions) {
            row.target(format!("≤ {bound} instructions"), count <= bound);
        }
        if let Some(bound) = engine_time_bound(id) {
            row.target(format!("≤ {bound:.0} ns"), time.value <= bound);
        }
        if let Some(variant) = id.strip_prefix("engine-scale-10000-exact/") {
            let one = if variant == "absent" { "absent" } else { "first" };
            let base_id = format!("engine-scale-1-exact/{one}");
            if let Some(base) = micro.times.get(&base_id) {
                let slower = time.value / base.value;
                // Instructions, when counted, decide: they do not move with the machine's load.
                match (micro.instructions.get(id), micro.instructions.get(&base_id)) {
                    (Some(&ours), Some(&one)) => {
                        #[expect(clippy::cast_precision_loss, reason = "counts < 2^52")]
                        let more = ours as f64 / one.max(1) as f64;
                        let text = format!(
                            "≤ 1.3x of 1 origin (instructions {more:.2}x; time {slower:.2}x)"
                        );
                        row.target(text, more <= 1.3);
                    }
                    _ => row.target(format!("≤ 1.3x of 1 origin ({slower:.2}x)"), slower <= 1.3),
                }
            }
        }
        if id.starts_with("engine-")
            && let Some(count) = allocations
        {
            row.target("0 allocations".to_owned(), count == 0);
        }
        rows.push(row);
    }
    rows
}

/// A criterion id's title: the layer scenario's, or the id itself.
fn title(id: &str) -> String {
    let group = id.split('/').next().unwrap_or(id);
    LAYER_SCENARIOS
        .iter()
        .find(|(scenario, _)| group.strip_prefix("layer-") == Some(scenario))
        .map_or_else(
            || match group.strip_prefix("layer-policy-").or(group.strip_prefix("engine-policy-")) {
                Some(request) => format!("your policy: {request}"),
                None => group.to_owned(),
            },
            |(_, title)| (*title).to_owned(),
        )
}

/// The layer scenarios, as `benches/` names them, with their `performance.md` titles.
const LAYER_SCENARIOS: [(&str, &str); 7] = [
    ("actual-allowed", "actual GET, allowed origin"),
    ("actual-disallowed", "actual GET, disallowed origin"),
    ("preflight", "preflight (PUT, 2 headers)"),
    ("preflight-mirrored", "preflight (PUT, 2 headers mirrored)"),
    ("no-origin", "no Origin"),
    ("last-of-1000", "allowed origin last of 1 000"),
    ("last-of-10000", "allowed origin last of 10 000"),
];

/// A middleware's own figures on `group`: `with` minus its bare handler `bare`.
fn own(micro: &Micro, group: &str, with: &str, bare: &str) -> Option<Figures> {
    let [with, bare] = [with, bare].map(|function| figures(micro, &format!("{group}/{function}")));
    let minus = |a: Option<i64>, b: Option<i64>| Some(a? - b?);
    Some(Figures {
        ns: Some(Estimate::minus(with.ns?, bare.ns?)),
        instructions: minus(with.instructions, bare.instructions),
        allocations: minus(with.allocations, bare.allocations),
        ..Figures::default()
    })
}

/// Per layer scenario, our layer's own cost against each peer's (`layer-<scenario>/vs-<peer>`),
/// or alone where no peer ran (`--policy`: `layer-policy-<request>/cors-hyper`).
pub(super) fn layer_rows(micro: &Micro) -> Vec<Row> {
    let mut groups: Vec<&str> = micro
        .times
        .keys()
        .filter_map(|id| id.split_once('/').map(|(group, _)| group))
        .filter(|group| group.starts_with("layer-"))
        .collect();
    groups.dedup();
    // In the order the benches list them (`allocations.json`), which is the order of issue 11.
    let listed = |group: &str| {
        micro.order.iter().position(|id| id.split('/').next() == Some(group)).unwrap_or(usize::MAX)
    };
    groups.sort_by_key(|group| (listed(group), *group));
    let mut rows = Vec::new();
    for group in groups {
        let Some(ours) = own(micro, group, "cors-hyper", "bare-tower") else { continue };
        let peers: Vec<(&str, Figures)> =
            [("tower-http", "bare-tower"), ("actix-cors", "bare-actix")]
                .into_iter()
                .filter_map(|(peer, bare)| Some((peer, own(micro, group, peer, bare)?)))
                .collect();
        // Issue 19's targets are the reference policy's: a user's own policy shows its figures,
        // and the peer's where one answers alike, alone.
        let judge = |row: &mut Row| {
            if group.starts_with("layer-policy-") {
                row.note = match &row.peer {
                    Some((peer, _)) => user_policy_peer(peer),
                    None => USER_POLICY_ALONE.to_owned(),
                };
            } else {
                layer_targets(row);
            }
            row.note_noise();
        };
        if peers.is_empty() {
            let id = format!("{group}/cors-hyper");
            let mut row = Row::new(id, Kind::Layer, title(group), ours.clone(), None);
            judge(&mut row);
            rows.push(row);
        }
        for (peer, theirs) in peers {
            let peer_row = Some((peer.to_owned(), theirs));
            let id = format!("{group}/vs-{peer}");
            let mut row = Row::new(id, Kind::Layer, title(group), ours.clone(), peer_row);
            judge(&mut row);
            rows.push(row);
        }
    }
    rows
}

/// The note of a `--policy` layer row without a peer; none has a target.
const USER_POLICY_ALONE: &str = "no target (those are the reference policy's); no peer: \
    neither tower-http nor actix-cors can be configured as this policy, or each answers this \
    request otherwise";

/// The note of a `--policy` layer row with `peer` configured as the policy.
fn user_policy_peer(peer: &str) -> String {
    format!(
        "no target (those are the reference policy's); {peer} configured as your policy, \
         answering this request alike"
    )
}

/// The layer targets of issue 19: ≤ 100 ns own cost; in instructions, at most 1/2 of
/// actix-cors's own cost and 1/5 of tower-http's; no more allocations than the peer. The time
/// is not judged when our own cost is within the noise ([`Estimate::reaches_zero`]): `-15.3 ns`
/// would meet `≤ 100 ns` on nothing but the noise. Counts are exact, and always judged.
fn layer_targets(row: &mut Row) {
    if let Some(time) = row.ours.ns
        && !time.reaches_zero()
    {
        row.target("≤ 100 ns".to_owned(), time.value <= 100.0);
    }
    if let (Some(ours), Some((peer, theirs))) = (row.ours.instructions, &row.peer)
        && let Some(peer_count) = theirs.instructions
    {
        let (share, text) = match peer.as_str() {
            "tower-http" => (5, "≤ 1/5 of tower-http's instructions"),
            _ => (2, "≤ 1/2 of the peer's instructions"),
        };
        row.target(text.to_owned(), ours * share <= peer_count);
    }
    if let (Some(ours), Some((_, theirs))) = (row.ours.allocations, &row.peer)
        && let Some(peer) = theirs.allocations
    {
        row.target("allocations ≤ peer".to_owned(), ours <= peer);
    }
}

// --- instruction counts ---------------------------------------------------------------------

/// The ids `--quick --instructions` counts: the headline ones.
pub(super) fn is_headline(id: &str) -> bool {
    [
        "engine-actual-allowed",
        "engine-preflight-",
        "engine-scale-1-exact",
        "engine-scale-10000-exact",
        "engine-hostile-acrh-64k",
        "engine-policy-",
        "layer-actual-allowed/",
        "layer-preflight/",
        "layer-preflight-mirrored/",
        "layer-no-origin/",
        "layer-policy-",
    ]
    .iter()
    .any(|prefix| id.starts_with(prefix))
}

/// Calls per id under callgrind.
const CALLS: u32 = 10_000;

/// The file, under `target/bench/`, where a run keeps the instructions per call it counted, by
/// criterion id, for `--report-only` (which runs nothing, callgrind included).
pub(super) const INSTRUCTIONS: &str = "instructions.json";

/// Writes `counts` to `path` ([`INSTRUCTIONS`]).
pub(super) fn write_instructions(
    path: &Path,
    counts: &BTreeMap<String, u64>,
) -> Result<(), String> {
    let text = serde_json::to_string_pretty(counts).map_err(|e| format!("{INSTRUCTIONS}: {e}"))?;
    super::report::write(path, &text)
}

/// The counts [`write_instructions`] wrote to `path` since `since` (the last run's start);
/// none when that run counted none.
pub(super) fn read_instructions(
    path: &Path,
    since: SystemTime,
) -> Result<BTreeMap<String, u64>, String> {
    let fresh =
        fs::metadata(path).and_then(|meta| meta.modified()).is_ok_and(|modified| modified >= since);
    if !fresh {
        return Ok(BTreeMap::new());
    }
    serde_json::from_value(read_json(path)?).map_err(|e| format!("{}: {e}", path.display()))
}

/// Instructions per call of each criterion id in `ids`, counted by callgrind on the `profile`
/// example: only inside its `measured` function (`--toggle-collect`), which makes `CALLS` calls
/// after a warm-up, so neither setup nor warm-up is counted and the count is the same in every
/// run. Valgrind is installed by `scripts/install-bench-tools.sh` when missing.
pub(super) fn count_instructions(
    ids: &[String],
    options: &Options,
) -> Result<BTreeMap<String, u64>, String> {
    super::ensure_tools(&["valgrind"])?;
    let valgrind = find_program(None, &["valgrind"]).map_err(|e| e.to_string())?;
    let mut build = cargo();
    // The bench profile, as `cargo bench` builds: the benches' dependencies are built once.
    build.args(["build", "--profile", "bench", "-p", "cors-benches", "--example", "profile"]);
    exec(build)?;
    let profile = target_dir().join("release/examples").join(exe("profile"));
    let collected = |id: &str| -> Result<u64, String> {
        let mut command = Command::new(&valgrind);
        command
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg("--toggle-collect=*measured*")
            .arg(&profile)
            .arg(id)
            .arg(CALLS.to_string());
        set_policy(&mut command, options);
        let output = command.output().map_err(|e| format!("cannot run valgrind: {e}"))?;
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
    for id in ids {
        let per_call = (collected(id)? + u64::from(CALLS) / 2) / u64::from(CALLS);
        eprintln!("instructions {id}: {per_call}");
        counts.insert(id.clone(), per_call);
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::super::report::ns;
    use super::*;

    #[test]
    fn the_criterion_filter_matches_groups_by_substring() {
        assert_eq!(criterion_filter("preflight"), "^[^/]*preflight[^/]*/");
        assert_eq!(criterion_filter("scale-1.0"), "^[^/]*scale\\-1\\.0[^/]*/");
        assert_eq!(
            criterion_filter("engine-scale-1-exact/first"),
            "engine\\-scale\\-1\\-exact/first"
        );
    }

    fn estimate(value: f64) -> Estimate {
        Estimate { value, low: value - 1.0, high: value + 1.0 }
    }

    fn micro(entries: &[(&str, f64, u64, u64)]) -> Micro {
        let mut micro = Micro::default();
        for &(id, ns, allocations, instructions) in entries {
            micro.times.insert(id.to_owned(), estimate(ns));
            micro.allocations.insert(id.to_owned(), allocations);
            micro.instructions.insert(id.to_owned(), instructions);
        }
        micro
    }

    #[test]
    fn a_policys_problems_are_the_error_with_their_places() {
        let problems = "/p/broken.yaml:9:11: error: expected a mapping\n\
                        /p/broken.yaml:12:3: error: origins: not a list\n";
        let mut check = Command::new("sh");
        check.args(["-c", &format!("printf '{problems}' >&2; exit 1")]);
        let error = policy_problems(Path::new("/p/broken.yaml"), check).unwrap_err();
        assert_eq!(
            error,
            format!(
                "--policy /p/broken.yaml cannot be benchmarked (exit status: 1):\n{}",
                problems.trim_end()
            )
        );
        let fine = Command::new("true");
        assert_eq!(policy_problems(Path::new("/p/fine.yaml"), fine), Ok(Vec::new()));
        let mut derived = Command::new("printf");
        derived.arg("actual-allowed: GET from https://a.test\npreflight: OPTIONS\nleft out: x\n");
        assert_eq!(
            policy_problems(Path::new("/p/fine.yaml"), derived),
            Ok(vec!["actual-allowed".to_owned(), "preflight".to_owned()])
        );
    }

    #[test]
    fn a_filter_that_selects_no_reference_scenario_is_refused_with_the_scenarios() {
        let ids = [
            "engine-not-cors/cors-engine",
            "engine-not-cors/tower-http",
            "layer-preflight/cors-hyper",
        ]
        .map(str::to_owned);
        let load = ["load-preflight".to_owned(), "envoy-preflight".to_owned()];
        let error = reference_filter("engine-nope", &ids, &load).unwrap_err();
        assert_eq!(
            error,
            "--filter \"engine-nope\" selects no scenario: the scenarios are engine-not-cors, \
             layer-preflight, load-preflight, envoy-preflight (a filter with a `/` selects the \
             criterion ids GROUP/FUNCTION that contain it)"
        );
        for selecting in ["not-cors", "layer-", "/cors-hyper", "engine-not-cors/tower", "envoy-pre"]
        {
            assert_eq!(reference_filter(selecting, &ids, &load), Ok(()), "{selecting}");
        }
        // Criterion matches a filter without `/` against the group alone.
        assert!(reference_filter("cors-hyper", &ids, &[]).is_err());
        assert!(reference_filter("load-preflight", &ids, &[]).is_err());
        assert!(reference_filter("engine-not-cors/nope", &ids, &load).is_err());
    }

    #[test]
    fn a_filter_that_selects_no_scenario_of_the_policy_is_refused_with_the_scenarios() {
        let requests = ["actual-allowed".to_owned(), "preflight".to_owned()];
        let policy = Path::new("/p/mine.yaml");
        let error = policy_filter("engine-actual", policy, &requests).unwrap_err();
        assert_eq!(
            error,
            "--filter \"engine-actual\" selects no scenario of --policy /p/mine.yaml: its \
             scenarios are engine-policy-actual-allowed, engine-policy-preflight, \
             layer-policy-actual-allowed, layer-policy-preflight (the reference policy's, such \
             as engine-actual-allowed, do not run with --policy)"
        );
        for selecting in
            ["engine-policy-actual", "preflight", "policy-actual-allowed/decide", "/cors-hyper"]
        {
            assert_eq!(policy_filter(selecting, policy, &requests), Ok(()), "{selecting}");
        }
        assert!(policy_filter("engine-policy-actual-allowed-x/decide", policy, &requests).is_err());
    }

    /// The bare handler, ours and, `with_tower_http`, tower-http on layer group `group`: our own
    /// cost 50 ns, 500 instructions, no allocation; tower-http's 300 ns, 4 000, 10.
    fn layer_group(group: &str, with_tower_http: bool) -> Micro {
        let entries = [("bare-tower", 100.0, 2, 2_000), ("cors-hyper", 150.0, 2, 2_500)];
        let peer = with_tower_http.then_some(("tower-http", 400.0, 12, 6_000));
        let ids: Vec<(String, f64, u64, u64)> = entries
            .into_iter()
            .chain(peer)
            .map(|(function, ns, allocations, instructions)| {
                (format!("{group}/{function}"), ns, allocations, instructions)
            })
            .collect();
        let entries: Vec<(&str, f64, u64, u64)> =
            ids.iter().map(|(id, ns, a, i)| (id.as_str(), *ns, *a, *i)).collect();
        micro(&entries)
    }

    #[test]
    fn layer_rows_are_each_middlewares_own_cost() {
        let micro = layer_group("layer-preflight", true);
        let rows = layer_rows(&micro);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.id, "layer-preflight/vs-tower-http");
        assert_eq!(row.ours.ns, Some(Estimate { value: 50.0, low: 48.0, high: 52.0 }));
        assert_eq!(row.ours.instructions, Some(500));
        let (peer, theirs) = row.peer.as_ref().unwrap();
        assert_eq!((peer.as_str(), theirs.allocations), ("tower-http", Some(10)));
        assert_eq!(row.speedup, Some(6.0));
    }

    #[test]
    fn a_policy_layer_row_has_no_peer() {
        let rows = layer_rows(&layer_group("layer-policy-preflight", false));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, "layer-policy-preflight/cors-hyper");
        assert_eq!(rows[0].title, "your policy: preflight");
        assert!(rows[0].peer.is_none() && rows[0].speedup.is_none());
        // 50 ns own cost: issue 19's `≤ 100 ns` would be met, but it is not the user's target.
        assert_eq!(rows[0].targets, []);
        assert_eq!(rows[0].note, USER_POLICY_ALONE);
    }

    #[test]
    fn a_policy_layer_row_compares_with_tower_http_where_it_was_measured() {
        let rows = layer_rows(&layer_group("layer-policy-preflight", true));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, "layer-policy-preflight/vs-tower-http");
        assert_eq!(rows[0].speedup, Some(6.0));
        // Issue 19's `≤ 1/5 of tower-http's instructions` would be met; it is not the user's.
        assert_eq!(rows[0].targets, []);
        assert_eq!(
            rows[0].note,
            "no target (those are the reference policy's); tower-http configured as your \
             policy, answering this request alike"
        );
    }

    /// Layer group `group` as criterion estimates it: the bare handler 100 ns (95 % interval 95
    /// to 105), ours and tower-http `(median, low, high)`; exact counts: our own 500
    /// instructions, tower-http's 4 000, no allocation.
    fn layer_estimates(group: &str, ours: (f64, f64, f64), tower_http: (f64, f64, f64)) -> Micro {
        let mut micro = Micro::default();
        let bare = (100.0, 95.0, 105.0);
        for (function, (value, low, high), instructions) in [
            ("bare-tower", bare, 2_000),
            ("cors-hyper", ours, 2_500),
            ("tower-http", tower_http, 6_000),
        ] {
            let id = format!("{group}/{function}");
            micro.times.insert(id.clone(), Estimate { value, low, high });
            micro.instructions.insert(id.clone(), instructions);
            micro.allocations.insert(id, 2);
        }
        micro
    }

    #[test]
    fn an_own_cost_within_the_noise_gives_no_speedup_and_no_time_target() {
        // A `--quick` run: ours ran faster than the bare handler, an own cost of -15.3 ns.
        let micro =
            layer_estimates("layer-actual-allowed", (84.7, 80.0, 90.0), (590.0, 580.0, 600.0));
        let rows = layer_rows(&micro);
        let row = &rows[0];
        let own = row.ours.ns.unwrap();
        assert_eq!((ns(own.value), own.low, own.high), ("-15.3 ns".to_owned(), -25.0, -5.0));
        assert_eq!(row.speedup, None);
        // `≤ 100 ns` is not judged on it; the exact counts are.
        let texts: Vec<&str> = row.targets.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["≤ 1/5 of tower-http's instructions", "allocations ≤ peer"]);
        assert_eq!(
            row.note,
            "own cost within the noise (95 % interval reaching zero: ours -25.0 ns to -5.0 ns): \
             no speedup, no time target"
        );
        // A positive own cost whose interval reaches zero is within the noise too.
        let micro =
            layer_estimates("layer-no-origin", (105.0, 100.0, 110.0), (590.0, 580.0, 600.0));
        let row = &layer_rows(&micro)[0];
        assert_eq!(row.speedup, None);
        assert!(row.targets.iter().all(|t| t.text != "≤ 100 ns"), "{:?}", row.targets);
    }

    #[test]
    fn a_peers_own_cost_within_the_noise_gives_no_speedup() {
        let micro = layer_estimates(
            "layer-policy-actual-allowed",
            (160.0, 155.0, 165.0),
            (98.0, 90.0, 104.0),
        );
        let row = &layer_rows(&micro)[0];
        assert_eq!(row.id, "layer-policy-actual-allowed/vs-tower-http");
        assert_eq!(row.speedup, None);
        assert_eq!(
            row.note,
            format!(
                "{}; own cost within the noise (95 % interval reaching zero: \
                 tower-http -15.0 ns to 9.0 ns): no speedup, no time target",
                user_policy_peer("tower-http")
            )
        );
        // Apart from zero, the speedup is read as ever.
        let micro = layer_estimates(
            "layer-policy-actual-allowed",
            (160.0, 155.0, 165.0),
            (400.0, 390.0, 410.0),
        );
        let row = &layer_rows(&micro)[0];
        assert_eq!(row.speedup, Some(5.0));
        assert_eq!(row.note, user_policy_peer("tower-http"));
    }

    #[test]
    fn the_scale_target_compares_with_one_origin_without_calling_it_a_peer() {
        let micro = micro(&[
            ("engine-scale-1-exact/first", 40.0, 0, 450),
            ("engine-scale-10000-exact/first", 60.0, 0, 460),
        ]);
        let rows = engine_rows(&micro);
        let scale = rows.iter().find(|r| r.id == "engine-scale-10000-exact/first").unwrap();
        assert!(scale.peer.is_none() && scale.speedup.is_none());
        let target = &scale.targets[0];
        assert!(
            target.text.starts_with("≤ 1.3x of 1 origin (instructions 1.02x"),
            "{}",
            target.text
        );
        assert!(target.met);
    }
}
