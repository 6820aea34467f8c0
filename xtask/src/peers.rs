//! `cargo xtask conformance --peers`: the conformance suite against third-party CORS
//! implementations, next to ours, and the matrix `docs/conformance-matrix.md`.
//!
//! Builds `cors-gateway`, `cors-conformance` and `cors-peer` (package `cors-peers`), starts the
//! suite's echo upstream, then for each implementation and each profile: starts it on loopback
//! configured with the profile (`cors-peer launch` renders a peer's configuration and says how to
//! start it), runs `cors-conformance run` with a JSON report, and stops it. `cors-peer classify`
//! sorts every result into passed, failed or unsupported (the peer's `unsupported.toml`), and
//! the matrix is written from that: per level and area, `passed / failed / unsupported` for each
//! implementation, the notes of each peer's `divergences.toml` with the outcome of the cases
//! that check them, and every failure.
//!
//! A peer that is not installed (`scripts/install-peers.sh` installs the non-Rust ones) is
//! listed as not run. Everything started is killed when it returns. Unless `--rust-only`, it
//! first runs the gated tests that start every non-Rust peer on its exports
//! (`cargo test -p cors-peers --features external-peers --test exports`), which fail when a peer
//! is not installed (with `--peer`, only the selected peers' tests run).
//!
//! Options: `--peer NAME` (repeatable; default every peer), `--rust-only` (the Rust peers, as CI
//! runs them), `--profile P` (repeatable; default every profile), `--out FILE` (default
//! `docs/conformance-matrix.md`; relative to the workspace root).
//! It fails only when something cannot run (or ours fails a case); peers' failures are the data.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use cors_devtools::{exe, target_dir};

use crate::process::{Process, list_profiles};
use crate::util;

/// Our implementation's column name (also its `--target-name` for known failures).
const OURS: &str = "cors-gateway";

/// The levels, in column order.
const LEVELS: [&str; 3] = ["fetch", "flex", "ours"];

/// Runs the peers' conformance under `profiles` (every profile when empty) and writes the
/// matrix.
///
/// # Errors
///
/// A build fails, the upstream or ours cannot start, a report cannot be read, or ours fails a
/// case (the matrix is written first).
pub(crate) fn run(profiles: &[String], options: &Args) -> Result<(), String> {
    let root = util::root();
    for (package, bin) in [
        ("cors-gateway", "cors-gateway"),
        ("cors-conformance", "cors-conformance"),
        ("cors-peers", "cors-peer"),
    ] {
        let mut build = util::cargo();
        build.args(["build", "--quiet", "-p", package, "--bin", bin]);
        util::exec(build)?;
    }
    if !options.rust_only {
        let mut exports = util::cargo();
        exports.args([
            "test",
            "-p",
            "cors-peers",
            "--features",
            "external-peers",
            "--test",
            "exports",
        ]);
        exports.args(exports_filters(&options.names));
        util::exec(exports)?;
    }
    let bins = target_dir().join("debug");
    let tools = Tools {
        gateway: bins.join(exe("cors-gateway")),
        conformance: bins.join(exe("cors-conformance")),
        peer: bins.join(exe("cors-peer")),
        known_failures: root.join("spec-tests").join("known-failures.toml"),
        profiles_dir: root.join("spec-tests").join("profiles"),
    };
    let out_dir = target_dir().join("conformance").join("peers");
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;

    let profiles =
        if profiles.is_empty() { list_profiles(&tools.profiles_dir)? } else { profiles.to_vec() };
    let peers = tools.peers()?;
    let selected: Vec<&PeerInfo> = peers
        .iter()
        .filter(|peer| options.names.is_empty() || options.names.contains(&peer.name))
        .filter(|peer| !options.rust_only || peer.rust)
        .collect();
    if let Some(unknown) =
        options.names.iter().find(|name| !peers.iter().any(|peer| &peer.name == *name))
    {
        return Err(format!("conformance --peers: unknown peer {unknown:?}"));
    }

    let mut upstream_cmd = Command::new(&tools.conformance);
    upstream_cmd.args(["upstream", "--listen", "127.0.0.1:0"]);
    let upstream = Process::start(upstream_cmd, &out_dir.join("upstream.log"), None)?;
    let upstream_url = upstream.url.clone();
    eprintln!("peers: upstream {upstream_url}");

    let started = Instant::now();
    let (ours, ours_failed) = tools.run_ours(&profiles, &upstream_url, &out_dir)?;
    let mut columns = vec![ours];
    for peer in selected {
        columns.push(tools.run_peer(peer, &profiles, &upstream_url, &out_dir)?);
    }
    drop(upstream);
    let elapsed = started.elapsed();

    let out = if options.out.is_absolute() { options.out.clone() } else { root.join(&options.out) };
    let matrix = render(&columns, &profiles, elapsed);
    std::fs::write(&out, matrix).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    eprintln!("peers: matrix written to {} ({} s)", out.display(), elapsed.as_secs());
    if !ours_failed.is_empty() {
        return Err(format!(
            "{OURS} failed cases (beyond spec-tests/known-failures.toml) under: {}",
            ours_failed.join(", ")
        ));
    }
    Ok(())
}

/// The test filters that keep the gated export tests to the `--peer` selection (none: every
/// peer's), so that running one peer does not need the others installed. The tests of a peer
/// are named after it (`nginx_runs_its_exports`, `rs_cors_runs_its_exports`).
fn exports_filters(names: &[String]) -> Vec<String> {
    if names.is_empty() {
        return Vec::new();
    }
    let filters = names.iter().map(|name| format!("{}_", name.replace('-', "_")));
    ["--".to_owned()].into_iter().chain(filters).collect()
}

/// The options only `cargo xtask conformance --peers` takes.
#[derive(Debug, clap::Args)]
#[group(id = "peer_options")]
#[command(next_help_heading = "With --peers")]
pub(crate) struct Args {
    /// Run only this peer (repeatable); default: every peer
    #[arg(long = "peer", id = "peer", value_name = "NAME", requires = "peers")]
    names: Vec<String>,
    /// The Rust peers only, as CI runs them
    #[arg(long, requires = "peers")]
    rust_only: bool,
    /// Where to write the matrix, relative to the workspace root
    #[arg(
        long,
        value_name = "FILE",
        requires = "peers",
        default_value = "docs/conformance-matrix.md"
    )]
    out: PathBuf,
}

/// A peer as `cors-peer list` describes it.
#[derive(Debug)]
struct PeerInfo {
    name: String,
    rust: bool,
    description: String,
}

/// The binaries and files a run uses.
struct Tools {
    gateway: PathBuf,
    conformance: PathBuf,
    peer: PathBuf,
    known_failures: PathBuf,
    profiles_dir: PathBuf,
}

/// One implementation's results.
struct Column {
    name: String,
    /// The column heading: the name, with the version where the launcher knows it.
    label: String,
    description: String,
    /// Why it did not run, if it did not.
    not_run: Option<String>,
    /// `cors-peer classify` output.
    classification: Value,
}

impl Column {
    fn cases(&self) -> impl Iterator<Item = &Value> {
        self.classification.get("cases").and_then(Value::as_array).into_iter().flatten()
    }

    /// Cases of this class (in this area and level, when given).
    fn count(&self, area: Option<&str>, level: Option<&str>, class: &str) -> usize {
        self.cases()
            .filter(|case| area.is_none_or(|a| case["area"] == a))
            .filter(|case| level.is_none_or(|l| case["level"] == l))
            .filter(|case| case["class"] == class)
            .count()
    }

    fn cell(&self, area: Option<&str>, level: Option<&str>) -> String {
        if self.not_run.is_some() {
            return "not run".to_owned();
        }
        // Order-only cases granted what the case expects, in an order the case leaves free: they
        // count as passed, so that an implementation listing in hash order gets the same
        // counts in every run (they are listed apart, under "Order only").
        let [passed, order_only, failed, unsupported] =
            ["passed", "order-only", "failed", "unsupported"]
                .map(|class| self.count(area, level, class));
        let passed = passed + order_only;
        if passed + failed + unsupported == 0 {
            return "-".to_owned();
        }
        let failed = if failed > 0 { format!("**{failed}**") } else { "0".to_owned() };
        format!("{passed} / {failed} / {unsupported}")
    }
}

impl Tools {
    fn peers(&self) -> Result<Vec<PeerInfo>, String> {
        let output = Command::new(&self.peer)
            .arg("list")
            .output()
            .map_err(|e| format!("cannot run cors-peer list: {e}"))?;
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, ' ');
                Some(PeerInfo {
                    name: parts.next()?.to_owned(),
                    rust: parts.next()? == "rust",
                    description: parts.next().unwrap_or_default().to_owned(),
                })
            })
            .collect())
    }

    /// Runs the cases of `profile` against `url`, writing `json`; says whether every case passed
    /// (known failures of ours aside).
    fn run_suite(
        &self,
        name: &str,
        url: &str,
        profile: &str,
        upstream: &str,
        json: &Path,
    ) -> Result<bool, String> {
        let mut command = Command::new(&self.conformance);
        command
            .args(["run", "--target", url, "--profile", profile, "--upstream-log", upstream])
            .args(["--format", "json", "--target-name", name])
            .arg("--json-report")
            .arg(json);
        if name == OURS {
            command.arg("--known-failures").arg(&self.known_failures);
        }
        let status = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run cors-conformance: {e}"))?;
        if json.is_file() {
            Ok(status.success())
        } else {
            Err(format!("{name} under {profile}: cors-conformance wrote no report ({status})"))
        }
    }

    fn classify(&self, name: &str, reports: &[PathBuf]) -> Result<Value, String> {
        let output = Command::new(&self.peer)
            .arg("classify")
            .arg(name)
            .args(reports)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run cors-peer classify: {e}"))?;
        if !output.status.success() {
            return Err(format!("cors-peer classify {name} failed ({})", output.status));
        }
        serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("cors-peer classify {name}: unreadable output: {e}"))
    }

    /// Runs ours under every profile; also returns the profiles whose run failed.
    fn run_ours(
        &self,
        profiles: &[String],
        upstream: &str,
        out: &Path,
    ) -> Result<(Column, Vec<String>), String> {
        let dir = out.join(OURS);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut reports = Vec::new();
        let mut failed = Vec::new();
        for profile in profiles {
            let mut command = Command::new(&self.gateway);
            command
                .arg("serve")
                .arg("--config")
                .arg(self.profiles_dir.join(format!("{profile}.yaml")))
                .args(["--listen", "127.0.0.1:0", "--upstream", upstream]);
            let gateway = Process::start(command, &dir.join(format!("{profile}.log")), None)?;
            let json = dir.join(format!("{profile}.json"));
            if !self.run_suite(OURS, &gateway.url, profile, upstream, &json)? {
                failed.push(profile.clone());
            }
            drop(gateway);
            reports.push(json);
        }
        eprintln!("peers: {OURS}: done");
        let column = Column {
            name: OURS.to_owned(),
            label: OURS.to_owned(),
            description: "this project's `cors-gateway` (cors-hyper's layer over cors-engine)"
                .to_owned(),
            not_run: None,
            classification: self.classify(OURS, &reports)?,
        };
        Ok((column, failed))
    }

    fn run_peer(
        &self,
        peer: &PeerInfo,
        profiles: &[String],
        upstream: &str,
        out: &Path,
    ) -> Result<Column, String> {
        let dir = out.join(&peer.name);
        let mut reports = Vec::new();
        let mut not_run = None;
        let mut label = peer.name.clone();
        for profile in profiles {
            let profile_dir = dir.join(profile);
            let output = Command::new(&self.peer)
                .args(["launch", &peer.name, "--profile", profile, "--upstream", upstream])
                .arg("--dir")
                .arg(&profile_dir)
                .output()
                .map_err(|e| format!("cannot run cors-peer launch: {e}"))?;
            if output.status.code() == Some(3) {
                not_run = Some(String::from_utf8_lossy(&output.stderr).trim().to_owned());
                break;
            }
            if !output.status.success() {
                return Err(format!(
                    "cors-peer launch {} --profile {profile}: {}",
                    peer.name,
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
            let launch: Value = serde_json::from_slice(&output.stdout)
                .map_err(|e| format!("cors-peer launch {}: unreadable output: {e}", peer.name))?;
            if let Some(shown) = launch["label"].as_str() {
                shown.clone_into(&mut label);
            }
            let program = launch["program"].as_str().unwrap_or_default();
            let url = launch["url"].as_str().unwrap_or_default().to_owned();
            let mut command = Command::new(program);
            command.args(launch["args"].as_array().into_iter().flatten().filter_map(Value::as_str));
            let wait_for = if launch["announces"] == true { None } else { Some(url.clone()) };
            let process =
                match Process::start(command, &dir.join(format!("{profile}.log")), wait_for) {
                    Ok(process) => process,
                    Err(error) => {
                        // A peer that refuses a profile is a finding; the matrix says so.
                        eprintln!("peers: {} under {profile}: {error}", peer.name);
                        continue;
                    }
                };
            let json = dir.join(format!("{profile}.json"));
            // A peer's failures are the data, not an error.
            let _ = self.run_suite(&peer.name, &url, profile, upstream, &json)?;
            drop(process);
            reports.push(json);
        }
        let classification =
            if reports.is_empty() { Value::Null } else { self.classify(&peer.name, &reports)? };
        eprintln!(
            "peers: {}: {}",
            peer.name,
            not_run.as_deref().map_or("done".to_owned(), |why| format!("not run: {why}"))
        );
        Ok(Column {
            name: peer.name.clone(),
            label,
            description: peer.description.clone(),
            not_run,
            classification,
        })
    }
}

/// The areas in the order the reports give them (first seen first).
fn areas(columns: &[Column]) -> Vec<String> {
    let mut areas: Vec<String> = Vec::new();
    for column in columns {
        for case in column.cases() {
            if let Some(area) = case["area"].as_str()
                && !areas.iter().any(|a| a == area)
            {
                areas.push(area.to_owned());
            }
        }
    }
    areas
}

/// The matrix document.
fn render(columns: &[Column], profiles: &[String], elapsed: Duration) -> String {
    let mut md = String::new();
    render_intro(&mut md, columns, profiles, elapsed);
    render_counts(&mut md, columns);
    render_notes(&mut md, columns);
    render_unsupported(&mut md, columns);
    render_order_only(&mut md, columns);
    render_failures(&mut md, columns);
    md
}

/// One table header: the first column, then one column per implementation.
fn table_header(md: &mut String, columns: &[Column], first: &str) {
    let names: Vec<&str> = columns.iter().map(|c| c.label.as_str()).collect();
    let _ = writeln!(md, "| {first} | {} |", names.join(" | "));
    let _ = writeln!(md, "| --- |{}", " ---: |".repeat(names.len()));
}

fn render_intro(md: &mut String, columns: &[Column], profiles: &[String], elapsed: Duration) {
    let _ = writeln!(md, "# Conformance matrix\n");
    let _ = writeln!(
        md,
        "Generated by `cargo xtask conformance --peers` on {} (UTC) from one run of the \
         conformance suite ({} profiles, {} s); do not edit by hand.",
        utc_date(),
        profiles.len(),
        elapsed.as_secs()
    );
    let _ = writeln!(
        md,
        "Each implementation ran on loopback in front of the suite's echo upstream, configured \
         with what `cors-conformance export --profile P --to PEER` writes for each profile (as \
         close as it can express it), and `cors-conformance run` checked every case of that \
         profile.\n"
    );
    let _ = writeln!(
        md,
        "Each cell is **passed / failed / unsupported**. *Unsupported* means the case needs \
         something the implementation cannot be configured to do (each peer's \
         `spec-tests/peers/<peer>/unsupported.toml` says what, with a reason); *failed* means it can be \
         configured for the profile and answers differently. Levels (see \
         `spec-tests/README.md`): `fetch` is what browsers need for the policy to work as \
         intended; `flex` is Flex Gateway's documented `cors-flex` behaviour; `ours` is this \
         project's choices, which other implementations need not share.\n"
    );
    let _ = writeln!(
        md,
        "*Passed* includes the cases failed only by the order of a list whose order the case \
         says is free (`order-free` in `spec-tests/cases/SCHEMA.md`: it cites a Fetch section, \
         where the list is a set, and no rule that fixes the order), with the same items: \
         an implementation that lists in hash order gets the same counts in every run. They \
         are listed under \"Order only\". Where a rule fixes the order (P4: the group's file \
         order, C1, P5, A1), another order is a failure, and one that matches by chance a \
         pass.\n"
    );
    let _ = writeln!(md, "## Implementations\n");
    let _ = writeln!(md, "| column | implementation |\n| --- | --- |");
    for column in columns {
        let status =
            column.not_run.as_deref().map(|why| format!(" (not run: {why})")).unwrap_or_default();
        let _ = writeln!(md, "| `{}` | {}{status} |", column.label, column.description);
    }
}

fn render_counts(md: &mut String, columns: &[Column]) {
    let _ = writeln!(md, "\n## Totals\n");
    table_header(md, columns, "level");
    for level in LEVELS {
        let cells: Vec<String> = columns.iter().map(|c| c.cell(None, Some(level))).collect();
        let _ = writeln!(md, "| {level} | {} |", cells.join(" | "));
    }
    let cells: Vec<String> = columns.iter().map(|c| c.cell(None, None)).collect();
    let _ = writeln!(md, "| all | {} |", cells.join(" | "));
    let areas = areas(columns);
    for level in LEVELS {
        let _ = writeln!(md, "\n## Level `{level}`, per area\n");
        table_header(md, columns, "area");
        for area in &areas {
            let cells: Vec<String> =
                columns.iter().map(|c| c.cell(Some(area), Some(level))).collect();
            if cells.iter().all(|cell| cell == "-" || cell == "not run") {
                continue;
            }
            let _ = writeln!(md, "| {area} | {} |", cells.join(" | "));
        }
    }
}

fn render_notes(md: &mut String, columns: &[Column]) {
    let _ = writeln!(md, "\n## Notable divergences\n");
    let _ = writeln!(
        md,
        "Each note names the cases that check it, with their outcome in this run \
         (a note none of whose cases failed in this run would say so).\n"
    );
    for column in columns.iter().filter(|c| c.not_run.is_none()) {
        let notes = column.classification.get("notes").and_then(Value::as_array);
        let Some(notes) = notes.filter(|notes| !notes.is_empty()) else { continue };
        let _ = writeln!(md, "### {}\n", column.name);
        for note in notes {
            let pairs: Vec<&Value> = note["cases"].as_array().into_iter().flatten().collect();
            let cases: Vec<String> = pairs
                .iter()
                .map(|pair| {
                    let id = pair[0].as_str().unwrap_or_default();
                    let class = pair[1].as_str().unwrap_or("not run");
                    format!("`{id}` ({class})")
                })
                .collect();
            let observed = pairs.iter().any(|pair| pair[1] == "failed" || pair[1] == "unsupported");
            let flag = if observed { "" } else { " *Not observed in this run.*" };
            let _ = writeln!(
                md,
                "- {}{flag} Checked by {}.",
                note["summary"].as_str().unwrap_or_default().trim(),
                cases.join(", ")
            );
        }
        md.push('\n');
    }
}

fn render_unsupported(md: &mut String, columns: &[Column]) {
    let _ = writeln!(md, "## Unsupported, by reason\n");
    for column in columns.iter().filter(|c| c.not_run.is_none()) {
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for case in column.cases().filter(|case| case["class"] == "unsupported") {
            *reasons.entry(case["detail"].as_str().unwrap_or_default()).or_default() += 1;
        }
        let unused: Vec<&str> = column
            .classification
            .get("unused")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if reasons.is_empty() && unused.is_empty() {
            continue;
        }
        let _ = writeln!(md, "### {}\n", column.name);
        for (reason, count) in reasons {
            let _ = writeln!(md, "- {count} cases: {}", reason.trim());
        }
        for reason in unused {
            let _ = writeln!(md, "- 0 cases (every case it covers passed): {}", reason.trim());
        }
        md.push('\n');
    }
}

fn render_order_only(md: &mut String, columns: &[Column]) {
    let _ = writeln!(md, "## Order only\n");
    let _ = writeln!(
        md,
        "Counted as passed: the same items as expected, in another order, where the case says \
         the order is free. Which cases these are may change from run to run for an \
         implementation that lists in hash order; the counts do not.\n"
    );
    let mut any = false;
    for column in columns.iter().filter(|c| c.not_run.is_none()) {
        let ids: Vec<String> = column
            .cases()
            .filter(|case| case["class"] == "order-only")
            .map(|case| format!("`{}`", case["id"].as_str().unwrap_or_default()))
            .collect();
        if !ids.is_empty() {
            any = true;
            let _ = writeln!(md, "- {}: {}", column.name, ids.join(", "));
        }
    }
    if !any {
        let _ = writeln!(md, "None in this run.");
    }
    md.push('\n');
}

fn render_failures(md: &mut String, columns: &[Column]) {
    let _ = writeln!(md, "## Every failure\n");
    let _ = writeln!(
        md,
        "The first unmet expectation of each failed case; `cors-conformance run --filter ID` \
         against the same configuration (under `target/conformance/peers/`) shows the rest.\n"
    );
    for column in columns.iter().filter(|c| c.not_run.is_none()) {
        let failed: Vec<&Value> = column.cases().filter(|case| case["class"] == "failed").collect();
        let _ =
            writeln!(md, "<details><summary>{}: {} failed</summary>\n", column.name, failed.len());
        for case in failed {
            let detail = case["detail"].as_str().unwrap_or_default().replace('|', "\\|");
            let _ = writeln!(
                md,
                "- `{}` [{} {}]: {}",
                case["id"].as_str().unwrap_or_default(),
                case["level"].as_str().unwrap_or_default(),
                case["profile"].as_str().unwrap_or_default(),
                detail.trim()
            );
        }
        let _ = writeln!(md, "\n</details>\n");
    }
}

/// Today's date, `YYYY-MM-DD`, from the system clock (civil-from-days, proleptic Gregorian).
fn utc_date() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0) + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Order-only cases count as passed: a column's counts do not depend on which of its
    /// order-free cases a hash order happened to match.
    #[test]
    fn order_only_cases_count_as_passed() {
        let column = |classes: &[&str]| Column {
            name: "p".to_owned(),
            label: "p".to_owned(),
            description: String::new(),
            not_run: None,
            classification: serde_json::json!({
                "cases": classes
                    .iter()
                    .map(|class| serde_json::json!({"area": "a", "level": "ours", "class": class}))
                    .collect::<Vec<_>>()
            }),
        };
        let one_run = column(&["passed", "order-only", "failed"]);
        let another = column(&["order-only", "passed", "failed"]);
        assert_eq!(one_run.cell(None, None), "2 / **1** / 0");
        assert_eq!(one_run.cell(Some("a"), Some("ours")), another.cell(Some("a"), Some("ours")));
        let mut md = String::new();
        render_order_only(&mut md, &[one_run]);
        assert!(md.contains("- p: ``"), "{md}");
    }

    #[test]
    fn the_export_tests_run_for_the_selected_peers_only() {
        assert!(exports_filters(&[]).is_empty());
        let names = ["nginx".to_owned(), "rs-cors".to_owned()];
        assert_eq!(exports_filters(&names), ["--", "nginx_", "rs_cors_"]);
    }
}
