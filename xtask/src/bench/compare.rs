//! `--save NAME` and `--compare NAME`: runs kept as baselines, and each row's change against
//! one.
//!
//! A baseline is a copy of `summary.json` in `target/bench/baselines/NAME.json`. Comparing
//! matches rows by id and prints, per figure of ours, the baseline's value, this run's, the
//! change in absolute terms and in %, and a verdict. How noise is judged:
//! - times: beyond the noise when criterion's 95 % confidence intervals of the two medians do
//!   not overlap (for a layer row, the interval of its own cost, with minus bare); a layer row
//!   whose own cost's interval reaches zero in either run is not judged, and has no %: that run
//!   could not tell the middleware's cost from the bare handler's;
//! - instructions and allocations: exact counts, so any change is beyond the noise;
//! - req/s and p99: beyond the noise when the ranges of the two runs' rounds do not overlap; a
//!   run of one round (`--quick`) has no range, so its changes are never marked.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::report::{Estimate, Figures, SCHEMA_VERSION, write};
use crate::util::read_json;

/// Checks a baseline name: letters, digits, `.`, `_` and `-`, so that it is a plain file name.
pub(super) fn baseline_name(name: &str) -> Result<String, String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !name.is_empty() && !name.starts_with('.') && name.chars().all(plain) {
        Ok(name.to_owned())
    } else {
        Err("a baseline name is letters, digits, `.`, `_` and `-`, not starting with `.`".into())
    }
}

fn path(out: &Path, name: &str) -> PathBuf {
    out.join("baselines").join(format!("{name}.json"))
}

/// Keeps this run's `summary.json` as baseline `name`.
pub(super) fn save(out: &Path, name: &str) -> Result<(), String> {
    let to = path(out, name);
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::copy(out.join("summary.json"), &to)
        .map_err(|e| format!("cannot save baseline {}: {e}", to.display()))?;
    eprintln!("bench: saved this run as baseline {name} ({})", to.display());
    Ok(())
}

/// Baseline `name`, when it exists, is JSON and has this xtask's schema version. `--compare`
/// reads it before the run too, so that a missing or unreadable baseline stops the command at
/// once rather than after minutes of measuring (and before `--save` would have kept the run).
pub(super) fn read_baseline(out: &Path, name: &str) -> Result<Value, String> {
    let from = path(out, name);
    if !from.is_file() {
        return Err(format!(
            "no baseline {name} ({} does not exist); make one with --save {name}",
            from.display()
        ));
    }
    let baseline = read_json(&from)?;
    check_version(name, &baseline)?;
    Ok(baseline)
}

/// A summary of another schema version cannot be compared row by row.
fn check_version(which: &str, summary: &Value) -> Result<(), String> {
    if summary["version"].as_u64() == Some(SCHEMA_VERSION) {
        Ok(())
    } else {
        Err(format!(
            "{which}: summary schema version {}, this xtask reads version {SCHEMA_VERSION}",
            summary["version"]
        ))
    }
}

/// Prints and writes (`compare-NAME.md`) the change of every row of this run's `summary.json`
/// against baseline `name`.
pub(super) fn compare(out: &Path, name: &str) -> Result<(), String> {
    let baseline = read_baseline(out, name)?;
    let text = report(name, &baseline, &read_json(&out.join("summary.json"))?)?;
    eprintln!("\n{text}");
    let to = out.join(format!("compare-{name}.md"));
    write(&to, &text)?;
    eprintln!("wrote {}", to.display());
    Ok(())
}

/// Which way a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Better {
    Lower,
    Higher,
}

/// One figure of a row in both runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pair {
    /// An exact count.
    Count(i64, i64),
    /// An estimate with its noise interval.
    Estimate(Estimate, Estimate),
}

/// The figures `--compare` reports, with the better direction of each.
fn pairs(before: &Figures, now: &Figures) -> Vec<(&'static str, Better, Pair)> {
    let mut pairs = Vec::new();
    let mut estimate = |name, better, f: fn(&Figures) -> Option<Estimate>| {
        if let (Some(a), Some(b)) = (f(before), f(now)) {
            pairs.push((name, better, Pair::Estimate(a, b)));
        }
    };
    estimate("ns", Better::Lower, |f| f.ns);
    estimate("req/s", Better::Higher, |f| f.rps);
    estimate("p99 ms", Better::Lower, |f| f.p99_ms);
    for (name, f) in [
        ("instructions", (|f| f.instructions) as fn(&Figures) -> Option<i64>),
        ("allocations", |f| f.allocations),
    ] {
        if let (Some(a), Some(b)) = (f(before), f(now)) {
            pairs.push((name, Better::Lower, Pair::Count(a, b)));
        }
    }
    pairs
}

/// The verdict on one figure's change.
fn verdict(better: Better, pair: Pair) -> &'static str {
    let (change, beyond) = match pair {
        Pair::Count(a, b) => (b.cmp(&a), a != b),
        Pair::Estimate(a, b) => {
            let change = b.value.total_cmp(&a.value);
            let ranged = |e: Estimate| e.low < e.high;
            if !(ranged(a) && ranged(b)) && change.is_ne() {
                return "no noise estimate (one round)";
            }
            (change, a.is_apart_from(b))
        }
    };
    match (change, better) {
        (Ordering::Equal, _) => "same",
        _ if !beyond => "within noise",
        (Ordering::Less, Better::Lower) | (Ordering::Greater, Better::Higher) => "**better**",
        _ => "**WORSE**",
    }
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 || value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// With `--policy`, rows are matched by id (`engine-policy-preflight/decide`) whatever policy
/// each run measured: says which policy each run measured and, per request, where the derived
/// requests differ, so that a change is read as the policy's and not the code's. Empty when
/// both runs measured the same requests of the same file, or both the reference policy.
fn policy_differences(before: &Value, now: &Value) -> String {
    let (old, new) = (&before["run"]["policy"], &now["run"]["policy"]);
    // A folder's instance is part of what was measured (`--instance`).
    let file = |policy: &Value| {
        let file = policy["file"].as_str().unwrap_or("the reference policy");
        match policy["instance"]["name"].as_str() {
            Some(instance) => format!("{file} (ApiInstance {instance})"),
            None => file.to_owned(),
        }
    };
    let derivation = |policy: &Value, name: &str| {
        policy["requests"].as_array().into_iter().flatten().find(|r| r["name"] == name).map_or_else(
            || "not measured".to_owned(),
            |r| r["derivation"].as_str().unwrap_or("?").to_owned(),
        )
    };
    let names: Vec<&str> = [old, new]
        .iter()
        .flat_map(|policy| policy["requests"].as_array().into_iter().flatten())
        .filter_map(|r| r["name"].as_str())
        .fold(Vec::new(), |mut names, name| {
            if !names.contains(&name) {
                names.push(name);
            }
            names
        });
    let differ: Vec<String> = names
        .iter()
        .filter(|name| derivation(old, name) != derivation(new, name))
        .map(|name| {
            format!(
                "- `{name}`: {} in the baseline, {} in this run.",
                derivation(old, name),
                derivation(new, name)
            )
        })
        .collect();
    if file(old) == file(new) && differ.is_empty() {
        return String::new();
    }
    let mut text = format!(
        "The baseline measured {}, this run {}: the `*-policy-*` rows compare these requests.\n",
        file(old),
        file(new)
    );
    if !differ.is_empty() {
        let _ = writeln!(text, "Derived requests that differ:\n\n{}", differ.join("\n"));
    }
    text.push('\n');
    text
}

/// The machine a summary's run ran on: its CPU model and how many CPUs it had.
fn machine(summary: &Value) -> String {
    let run = &summary["run"];
    format!("{} ({} CPUs)", run["cpu"].as_str().unwrap_or("unknown CPU"), run["cpus"])
}

/// The runs whose 1-minute load average, at start or at end, reached their number of CPUs
/// (`baseline: 3.73 on 2 CPUs`), or `None` when neither did. Criterion's confidence intervals
/// only say how steady one run was: two runs of the same code on a shared machine differed by
/// a third, each "beyond the noise".
fn busy(before: &Value, now: &Value) -> Option<String> {
    let busy: Vec<String> = [("baseline", before), ("this run", now)]
        .iter()
        .filter_map(|(which, summary)| {
            let run = &summary["run"];
            let cpus = run["cpus"].as_f64()?;
            let load = ["start", "end"]
                .iter()
                .filter_map(|when| run["load_average"][when][0].as_f64())
                .fold(None, |max: Option<f64>, load| Some(max.map_or(load, |m| m.max(load))))?;
            (load >= cpus).then(|| format!("{which}: load average {load:.2} on {cpus} CPUs"))
        })
        .collect();
    (!busy.is_empty()).then(|| busy.join("; "))
}

/// The comparison of `now` with `before` (both `summary.json`), as markdown.
fn report(name: &str, before: &Value, now: &Value) -> Result<String, String> {
    for (which, summary) in [(name, before), ("this run", now)] {
        check_version(which, summary)?;
    }
    let run = |summary: &Value| {
        let run = &summary["run"];
        let commit = run["commit"].as_str().unwrap_or("unknown");
        format!(
            "`{}` at {}{} on {}, {}, load average {} at start",
            run["command"].as_str().unwrap_or("?"),
            commit.get(..12).unwrap_or(commit),
            if run["dirty"] == true { " (with uncommitted changes)" } else { "" },
            run["date"].as_str().unwrap_or("?"),
            machine(summary),
            run["load_average"]["start"][0].as_f64().map_or("?".to_owned(), |l| format!("{l:.2}")),
        )
    };
    // Times from two machines differ by the machine: only the counts compare.
    let same_machine = machine(before) == machine(now);
    let rows = |summary: &Value| summary["rows"].as_array().cloned().unwrap_or_default();
    let (old, new) = (rows(before), rows(now));
    let mut text = String::new();
    let _ = writeln!(text, "## cargo xtask bench --compare {name}\n");
    let _ = writeln!(text, "Baseline {name}: {}.\nThis run: {}.\n", run(before), run(now));
    text.push_str(
        "Beyond the noise: a time when criterion's 95 % confidence intervals of the two medians \
         do not overlap; any change of an instruction or allocation count (they are exact); \
         req/s and p99 when the ranges of the two runs' rounds do not overlap (never with one \
         round). A layer row's time whose own cost's interval reaches zero in either run is \
         `own cost within noise`, not judged and without a %. Counts that did not change are not \
         listed.\n\n",
    );
    text.push_str(&policy_differences(before, now));
    if !same_machine {
        let _ = writeln!(
            text,
            "The two runs ran on different machines ({} against {}): times, req/s and p99 are not \
             compared, only instruction and allocation counts.\n",
            machine(before),
            machine(now),
        );
    }
    if let Some(busy) = busy(before, now) {
        let _ = writeln!(
            text,
            "The machine was busy ({busy}): other work takes CPU time from the benches, so a time \
             beyond the noise may be that work's rather than the code's. Instruction and \
             allocation counts are exact whatever the load (`--instructions`).\n"
        );
    }
    text.push_str("| Row | Figure | Baseline | This run | Change | Verdict |\n");
    text.push_str("|---|---|--:|--:|--:|---|\n");
    let mut new_rows = Vec::new();
    for row in &new {
        let id = row["id"].as_str().unwrap_or_default();
        let Some(then) = old.iter().find(|r| r["id"] == id) else {
            new_rows.push(format!("`{id}`"));
            continue;
        };
        let (before, now) = (Figures::from_json(&then["ours"]), Figures::from_json(&row["ours"]));
        // Read from the figures, so that a baseline written before `ns_within_noise` is read too.
        let within_noise = row["kind"] == "layer"
            && [&before, &now].iter().any(|f| f.ns.is_some_and(Estimate::reaches_zero));
        for (figure, better, pair) in pairs(&before, &now) {
            let noise = within_noise && figure == "ns";
            let verdict = match pair {
                Pair::Estimate(..) if !same_machine => "other machine",
                _ if noise => "own cost within noise",
                _ => verdict(better, pair),
            };
            if matches!(pair, Pair::Count(..)) && verdict == "same" {
                continue;
            }
            let (a, b) = match pair {
                #[expect(clippy::cast_precision_loss, reason = "counts < 2^52")]
                Pair::Count(a, b) => (a as f64, b as f64),
                Pair::Estimate(a, b) => (a.value, b.value),
            };
            let percent = if a == 0.0 || noise {
                String::new()
            } else {
                format!(" ({:+.1} %)", 100.0 * (b - a) / a.abs())
            };
            let _ = writeln!(
                text,
                "| {id} | {figure} | {} | {} | {}{}{percent} | {verdict} |",
                number(a),
                number(b),
                if b >= a { "+" } else { "" },
                number(b - a),
            );
        }
    }
    let missing = old.iter().filter(|r| !new.iter().any(|n| n["id"] == r["id"])).count();
    if !new_rows.is_empty() {
        let _ = writeln!(text, "\nNot in {name}: {}.", new_rows.join(", "));
    }
    if missing > 0 {
        let _ = writeln!(text, "\n{missing} rows of {name} were not measured in this run.");
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn e(value: f64, low: f64, high: f64) -> Estimate {
        Estimate { value, low, high }
    }

    #[test]
    fn counts_are_exact_and_times_use_their_intervals() {
        assert_eq!(verdict(Better::Lower, Pair::Count(459, 470)), "**WORSE**");
        assert_eq!(verdict(Better::Lower, Pair::Count(459, 450)), "**better**");
        assert_eq!(verdict(Better::Lower, Pair::Count(459, 459)), "same");
        let before = e(50.0, 49.0, 51.0);
        assert_eq!(
            verdict(Better::Lower, Pair::Estimate(before, e(50.5, 49.5, 51.5))),
            "within noise"
        );
        assert_eq!(
            verdict(Better::Lower, Pair::Estimate(before, e(45.0, 44.0, 46.0))),
            "**better**"
        );
        assert_eq!(
            verdict(Better::Higher, Pair::Estimate(before, e(45.0, 44.0, 46.0))),
            "**WORSE**"
        );
        let one_round = e(100.0, 100.0, 100.0);
        assert_eq!(
            verdict(Better::Higher, Pair::Estimate(one_round, e(120.0, 120.0, 120.0))),
            "no noise estimate (one round)"
        );
    }

    #[test]
    fn baseline_names_are_plain_file_names() {
        assert_eq!(baseline_name("main-2026.12"), Ok("main-2026.12".to_owned()));
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(baseline_name(bad).is_err(), "{bad}");
        }
    }

    fn summary(ns: f64, instructions: i64) -> Value {
        let ours = Figures {
            ns: Some(e(ns, ns - 1.0, ns + 1.0)),
            instructions: Some(instructions),
            ..Figures::default()
        };
        json!({
            "version": SCHEMA_VERSION,
            "run": {
                "command": "cargo xtask bench", "commit": "0123456789abcdef", "date": "d",
                "cpu": "AMD EPYC", "cpus": 2, "load_average": { "start": [1.5, 1.0, 0.5] },
            },
            "rows": [{ "id": "engine-actual-allowed/decide", "ours": ours.to_json() }],
        })
    }

    #[test]
    fn the_report_gives_each_change_absolute_and_in_percent() {
        let text = report("main", &summary(50.0, 400), &summary(40.0, 440)).unwrap();
        assert!(
            text.contains(
                "| engine-actual-allowed/decide | ns | 50 | 40 | -10 (-20.0 %) | **better** |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| instructions | 400 | 440 | +40 (+10.0 %) | **WORSE** |"),
            "{text}"
        );
        assert!(text.contains("at 0123456789ab"), "{text}");
    }

    #[test]
    fn a_layer_time_within_the_noise_is_not_judged() {
        let layer = |ns: f64, low: f64, high: f64| {
            let mut summary = summary(ns, 500);
            summary["rows"][0]["id"] = json!("layer-actual-allowed/vs-tower-http");
            summary["rows"][0]["kind"] = json!("layer");
            summary["rows"][0]["ours"]["ns_low"] = json!(low);
            summary["rows"][0]["ours"]["ns_high"] = json!(high);
            summary
        };
        // The baseline's own cost reached zero: a % of it, or a verdict, means nothing.
        let text = report("main", &layer(-15.3, -25.0, -5.0), &layer(60.0, 55.0, 65.0)).unwrap();
        assert!(
            text.contains(
                "| layer-actual-allowed/vs-tower-http | ns | -15.30 | 60 | +75.30 | own cost \
                 within noise |"
            ),
            "{text}"
        );
        let text = report("main", &layer(60.0, 55.0, 65.0), &layer(5.0, -4.0, 14.0)).unwrap();
        assert!(text.contains("| ns | 60 | 5 | -55 | own cost within noise |"), "{text}");
        // Apart from zero, as ever.
        let text = report("main", &layer(60.0, 55.0, 65.0), &layer(80.0, 75.0, 85.0)).unwrap();
        assert!(text.contains("| ns | 60 | 80 | +20 (+33.3 %) | **WORSE** |"), "{text}");
    }

    #[test]
    fn times_from_another_machine_are_not_judged_and_counts_are() {
        let mut other = summary(40.0, 440);
        other["run"]["cpu"] = json!("Intel(R) Xeon(R) Processor");
        let text = report("main", &summary(50.0, 400), &other).unwrap();
        assert!(
            text.contains(
                "different machines (AMD EPYC (2 CPUs) against Intel(R) Xeon(R) Processor (2 \
                 CPUs))"
            ),
            "{text}"
        );
        assert!(text.contains("| ns | 50 | 40 | -10 (-20.0 %) | other machine |"), "{text}");
        assert!(
            text.contains("| instructions | 400 | 440 | +40 (+10.0 %) | **WORSE** |"),
            "{text}"
        );
        assert!(text.contains("load average 1.50 at start"), "{text}");
    }

    #[test]
    fn a_busy_machine_is_said_before_the_verdicts() {
        let text = report("main", &summary(50.0, 400), &summary(40.0, 440)).unwrap();
        assert!(!text.contains("busy"), "load 1.50 on 2 CPUs is not busy:\n{text}");
        let mut loaded = summary(40.0, 440);
        loaded["run"]["load_average"]["end"] = json!([4.04, 5.4, 5.4]);
        let text = report("main", &summary(50.0, 400), &loaded).unwrap();
        assert!(
            text.contains(
                "The machine was busy (this run: load average 4.04 on 2 CPUs): other work takes"
            ),
            "{text}"
        );
        assert!(
            text.find("busy").unwrap() < text.find("| Row |").unwrap(),
            "said before the table:\n{text}"
        );
    }

    #[test]
    fn the_report_says_when_the_runs_measured_different_policies() {
        let policy = |file: &str, derivation: &str| {
            json!({ "file": file, "requests": [
                { "name": "actual-allowed", "derivation": derivation },
                { "name": "no-origin", "derivation": "GET without Origin" },
            ]})
        };
        let (mut before, mut now) = (summary(50.0, 400), summary(50.0, 400));
        before["run"]["policy"] =
            policy("/p/a.yaml", "GET from https://a.test, allowed by group a");
        now["run"]["policy"] = policy("/p/b.yaml", "POST from https://b.test, allowed by group #1");
        let text = report("main", &before, &now).unwrap();
        assert!(
            text.contains(
                "The baseline measured /p/a.yaml, this run /p/b.yaml: the `*-policy-*` rows \
                 compare these requests.\nDerived requests that differ:\n\n\
                 - `actual-allowed`: GET from https://a.test, allowed by group a in the baseline, \
                 POST from https://b.test, allowed by group #1 in this run.\n\n"
            ),
            "{text}"
        );
        assert!(!text.contains("`no-origin`:"), "{text}");
        // The same policy, or none, says nothing.
        assert!(!report("main", &now, &now).unwrap().contains("The baseline measured"));
        // Another instance of the same folder is another policy, whatever it derives.
        let instance = |name: &str| {
            let mut summary = summary(50.0, 400);
            summary["run"]["policy"] =
                policy("/p/apis", "GET from https://a.test, allowed by group a");
            summary["run"]["policy"]["instance"] = json!({ "name": name, "of": 2, "named": true });
            summary
        };
        let text = report("main", &instance("default/a"), &instance("default/b")).unwrap();
        assert!(
            text.contains(
                "The baseline measured /p/apis (ApiInstance default/a), this run /p/apis \
                 (ApiInstance default/b):"
            ),
            "{text}"
        );
        let plain = summary(50.0, 400);
        assert!(!report("main", &plain, &plain).unwrap().contains("The baseline measured"));
    }

    #[test]
    fn another_schema_version_is_refused() {
        let mut old = summary(1.0, 1);
        old["version"] = json!(0);
        let error = report("old", &old, &summary(1.0, 1)).unwrap_err();
        assert!(error.contains("version 0"), "{error}");
    }
}
