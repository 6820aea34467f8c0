//! The summary of a `cargo xtask bench` run: the table printed on stderr and written to
//! `target/bench/summary.md`, and `target/bench/summary.json`, whose schema
//! `docs/bench-summary-schema.md` documents (version [`SCHEMA_VERSION`]).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::util::{read_json, root};

/// The version of `summary.json`'s schema. A change that renames, removes or re-means a field
/// bumps it; adding a field does not.
pub(super) const SCHEMA_VERSION: u64 = 1;

/// Which direction is better, said once, in the summary and its JSON.
pub(super) const SPEEDUP: &str = "Speedup: how many times faster ours is than the peer: peer ns \
    ÷ our ns on engine and layer rows, our req/s ÷ peer req/s on load and envoy rows. Above \
    1.00x ours is ahead, below it behind.";

/// What a row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// One call into a core crate: `Engine::decide`, origin parsing, policy loading.
    Engine,
    /// A middleware's own cost per call: with it minus its bare handler.
    Layer,
    /// A proxy under wrk: cors-gateway against nginx, the bare upstream or the hyper floor.
    Load,
    /// The hyper floor (`bench-hyper-proxy`) against nginx under wrk: the limit of any proxy
    /// on hyper and tokio, not ours.
    LoadLimit,
    /// Envoy with our module against Envoy with its native CORS filter, or with a proxy-wasm
    /// module that does nothing, under wrk.
    Envoy,
    /// Envoy with the no-op proxy-wasm module against Envoy with its native CORS filter: the
    /// limit of any proxy-wasm filter, not ours.
    EnvoyLimit,
}

impl Kind {
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Engine => "engine",
            Kind::Layer => "layer",
            Kind::Load => "load",
            Kind::LoadLimit => "load-limit",
            Kind::Envoy => "envoy",
            Kind::EnvoyLimit => "envoy-limit",
        }
    }
}

/// A measured value and the interval that says how noisy it is: criterion's 95 % confidence
/// interval of the median for times, the lowest and highest round for load figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Estimate {
    pub(super) value: f64,
    pub(super) low: f64,
    pub(super) high: f64,
}

impl Estimate {
    /// `a - b`, with the widest interval the two allow.
    pub(super) fn minus(a: Estimate, b: Estimate) -> Estimate {
        Estimate { value: a.value - b.value, low: a.low - b.high, high: a.high - b.low }
    }

    /// Whether the two intervals do not overlap.
    pub(super) fn is_apart_from(self, other: Estimate) -> bool {
        self.high < other.low || other.high < self.low
    }

    /// Whether the interval (or the value, were it below) reaches zero or below. For a layer
    /// row's own cost, a difference of two times, it is then within the noise: the run cannot
    /// tell the middleware's cost from the bare handler's, and no ratio or target is read from
    /// it (a `--quick` run gave `-15.3 ns`, and a speedup of `-32.18x`).
    pub(super) fn reaches_zero(self) -> bool {
        self.low.min(self.value) <= 0.0
    }
}

/// One side's figures in a row; `None` where not measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Figures {
    pub(super) ns: Option<Estimate>,
    pub(super) instructions: Option<i64>,
    pub(super) allocations: Option<i64>,
    pub(super) rps: Option<Estimate>,
    pub(super) p50_ms: Option<f64>,
    pub(super) p99_ms: Option<Estimate>,
    pub(super) non_2xx: Option<u64>,
    /// How many wrk rounds the load figures are the median of.
    pub(super) rounds: Option<u64>,
    /// The server's CPU time per request, in microseconds (load and Envoy rows).
    pub(super) cpu_us: Option<Estimate>,
    /// The times the server's threads waited (voluntary context switches) per request (load and
    /// Envoy rows).
    pub(super) waits: Option<Estimate>,
}

impl Figures {
    pub(super) fn to_json(&self) -> Value {
        let estimate =
            |e: Option<Estimate>| (e.map(|e| e.value), e.map(|e| e.low), e.map(|e| e.high));
        let (ns, ns_low, ns_high) = estimate(self.ns);
        let (rps, rps_low, rps_high) = estimate(self.rps);
        let (p99, p99_low, p99_high) = estimate(self.p99_ms);
        let (cpu, cpu_low, cpu_high) = estimate(self.cpu_us);
        let (waits, waits_low, waits_high) = estimate(self.waits);
        json!({
            "ns": ns, "ns_low": ns_low, "ns_high": ns_high,
            "instructions": self.instructions, "allocations": self.allocations,
            "rps": rps, "rps_low": rps_low, "rps_high": rps_high,
            "p50_ms": self.p50_ms, "p99_ms": p99, "p99_ms_low": p99_low, "p99_ms_high": p99_high,
            "non_2xx": self.non_2xx, "rounds": self.rounds,
            "cpu_us": cpu, "cpu_us_low": cpu_low, "cpu_us_high": cpu_high,
            "waits": waits, "waits_low": waits_low, "waits_high": waits_high,
        })
    }

    /// The figures of a `summary.json` row side (the inverse of [`Figures::to_json`]).
    pub(super) fn from_json(value: &Value) -> Figures {
        let estimate = |name: &str| {
            Some(Estimate {
                value: value[name].as_f64()?,
                low: value[format!("{name}_low")].as_f64()?,
                high: value[format!("{name}_high")].as_f64()?,
            })
        };
        Figures {
            ns: estimate("ns"),
            instructions: value["instructions"].as_i64(),
            allocations: value["allocations"].as_i64(),
            rps: estimate("rps"),
            p50_ms: value["p50_ms"].as_f64(),
            p99_ms: estimate("p99_ms"),
            non_2xx: value["non_2xx"].as_u64(),
            rounds: value["rounds"].as_u64(),
            cpu_us: estimate("cpu_us"),
            waits: estimate("waits"),
        }
    }
}

/// A target of the issue the row answers, and whether this run meets it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Target {
    pub(super) text: String,
    pub(super) met: bool,
}

/// One row of the summary: ours against a peer (or alone), on one scenario.
#[derive(Debug, Clone)]
pub(super) struct Row {
    /// Stable across runs: what `--compare` matches rows by.
    pub(super) id: String,
    pub(super) kind: Kind,
    pub(super) title: String,
    pub(super) ours: Figures,
    /// The peer's name and figures.
    pub(super) peer: Option<(String, Figures)>,
    /// See [`SPEEDUP`]; none on a layer row where either side's own cost is within the noise
    /// ([`Estimate::reaches_zero`]).
    pub(super) speedup: Option<f64>,
    pub(super) targets: Vec<Target>,
    /// What else a reader needs to read the row.
    pub(super) note: String,
}

impl Row {
    /// A row whose speedup follows from the figures ([`SPEEDUP`]), unless a layer row's own
    /// cost, ours or the peer's, is within the noise.
    pub(super) fn new(
        id: String,
        kind: Kind,
        title: String,
        ours: Figures,
        peer: Option<(String, Figures)>,
    ) -> Row {
        let speedup = peer.as_ref().and_then(|(_, theirs)| match kind {
            Kind::Engine => Some(theirs.ns?.value / ours.ns?.value),
            Kind::Layer => {
                let (ours, theirs) = (ours.ns?, theirs.ns?);
                let noise = ours.reaches_zero() || theirs.reaches_zero();
                (!noise).then(|| theirs.value / ours.value)
            }
            Kind::Load | Kind::LoadLimit | Kind::Envoy | Kind::EnvoyLimit => {
                Some(ours.rps?.value / theirs.rps?.value)
            }
        });
        Row { id, kind, title, ours, peer, speedup, targets: Vec::new(), note: String::new() }
    }

    pub(super) fn target(&mut self, text: String, met: bool) {
        self.targets.push(Target { text, met });
    }

    /// Whether `figures`, a side of this row, is a layer's own cost within the noise
    /// ([`Estimate::reaches_zero`]); none on the other kinds of row.
    fn within_noise(&self, figures: &Figures) -> Option<bool> {
        (self.kind == Kind::Layer).then(|| figures.ns.is_some_and(Estimate::reaches_zero))
    }

    /// The sides of this row, `ours` and the peer's name, whose own cost is within the noise,
    /// with that cost.
    fn within_noise_sides(&self) -> Vec<(&str, Estimate)> {
        std::iter::once(("ours", &self.ours))
            .chain(self.peer.as_ref().map(|(name, figures)| (name.as_str(), figures)))
            .filter(|(_, figures)| self.within_noise(figures) == Some(true))
            .filter_map(|(side, figures)| Some((side, figures.ns?)))
            .collect()
    }

    /// Says, in the note, which sides' own cost is within the noise, with its interval, and
    /// that no speedup or time target is read from it; nothing when none is.
    pub(super) fn note_noise(&mut self) {
        let sides: Vec<String> = self
            .within_noise_sides()
            .iter()
            .map(|(side, e)| format!("{side} {} to {}", ns(e.low), ns(e.high)))
            .collect();
        if sides.is_empty() {
            return;
        }
        let text = format!(
            "own cost within the noise (95 % interval reaching zero: {}): no speedup, no time \
             target",
            sides.join(", ")
        );
        self.note = if self.note.is_empty() { text } else { format!("{}; {text}", self.note) };
    }

    fn to_json(&self) -> Value {
        let figures = |figures: &Figures| {
            let mut value = figures.to_json();
            value["ns_within_noise"] = json!(self.within_noise(figures));
            value
        };
        json!({
            "id": self.id,
            "kind": self.kind.name(),
            "title": self.title,
            "ours": figures(&self.ours),
            "peer": self.peer.as_ref().map(|(name, theirs)| {
                let mut value = figures(theirs);
                value["name"] = json!(name);
                value
            }),
            "speedup": self.speedup,
            "targets": self.targets.iter()
                .map(|t| json!({ "text": t.text, "met": t.met }))
                .collect::<Vec<_>>(),
            "note": self.note,
        })
    }
}

/// What ran, where and when.
#[derive(Debug, Clone)]
pub(super) struct RunInfo {
    pub(super) command: String,
    pub(super) quick: bool,
    pub(super) commit: Option<String>,
    /// Whether the working tree had changes to tracked files.
    pub(super) dirty: Option<bool>,
    /// UTC, RFC 3339.
    pub(super) date: String,
    pub(super) rustc: Option<String>,
    pub(super) cpu: String,
    pub(super) cpus: usize,
    /// `/proc/loadavg`'s 1, 5 and 15-minute averages when the run started, and when it ended.
    pub(super) load_average: (Option<[f64; 3]>, Option<[f64; 3]>),
    pub(super) filter: Option<String>,
    /// The user's policy and the requests derived from it (`--policy`).
    pub(super) policy: Option<Value>,
    /// The Envoy pair: what ran, or why it was skipped.
    pub(super) envoy: Option<Value>,
}

impl RunInfo {
    /// The facts of this run, as it starts.
    pub(super) fn now(quick: bool, filter: Option<String>) -> RunInfo {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let git = |args: &[&str]| {
            let output = Command::new("git").args(args).current_dir(root()).output().ok()?;
            output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
        };
        let rustc = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
            .arg("--version")
            .current_dir(root())
            .output()
            .ok()
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned());
        let date = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        RunInfo {
            command: format!("cargo xtask {}", args.join(" ")),
            quick,
            commit: git(&["rev-parse", "HEAD"]).map(|hash| hash.trim().to_owned()),
            dirty: git(&["status", "--porcelain", "--untracked-files=no"])
                .map(|status| !status.trim().is_empty()),
            date,
            rustc,
            cpu: cpu_model(),
            cpus: std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
            load_average: (load_average(), None),
            filter,
            policy: None,
            envoy: None,
        }
    }

    /// The facts [`RunInfo::to_json`] wrote, but the load average at the end.
    fn from_json(run: &Value) -> Option<RunInfo> {
        let string = |name: &str| run[name].as_str().map(str::to_owned);
        let load = |avg: &Value| {
            let avg = avg.as_array()?;
            Some([avg.first()?.as_f64()?, avg.get(1)?.as_f64()?, avg.get(2)?.as_f64()?])
        };
        Some(RunInfo {
            command: string("command")?,
            quick: run["quick"].as_bool()?,
            commit: string("commit"),
            dirty: run["dirty"].as_bool(),
            date: string("date")?,
            rustc: string("rustc"),
            cpu: string("cpu")?,
            cpus: usize::try_from(run["cpus"].as_u64()?).ok()?,
            load_average: (load(&run["load_average"]["start"]), None),
            filter: string("filter"),
            policy: None,
            envoy: None,
        })
    }

    fn to_json(&self) -> Value {
        json!({
            "command": self.command,
            "quick": self.quick,
            "commit": self.commit,
            "dirty": self.dirty,
            "date": self.date,
            "rustc": self.rustc,
            "cpu": self.cpu,
            "cpus": self.cpus,
            "load_average": { "start": self.load_average.0, "end": self.load_average.1 },
            "filter": self.filter,
            "policy": self.policy,
            "envoy": self.envoy,
        })
    }
}

/// `target/bench/last-run.json`: what the last run that measured the micro benches was, written
/// as it starts, so that `--report-only` rebuilds that run's summary from that run's results
/// alone, and not from every result criterion has left on disk (other filters, other policies,
/// other commits).
pub(super) const LAST_RUN: &str = "last-run.json";

/// Records, in `out`, that a run with `info` started measuring at `started`.
pub(super) fn save_last_run(
    out: &Path,
    info: &RunInfo,
    started: SystemTime,
    policy: bool,
) -> Result<(), String> {
    let started_ms = started.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let last = json!({ "started_unix_ms": started_ms, "policy": policy, "run": info.to_json() });
    let text = serde_json::to_string_pretty(&last).map_err(|e| format!("{LAST_RUN}: {e}"))?;
    write(&out.join(LAST_RUN), &text)
}

/// The last run recorded in `out`: its facts, when it started measuring, and whether it measured
/// a `--policy` file.
pub(super) fn read_last_run(out: &Path) -> Result<(RunInfo, SystemTime, bool), String> {
    let path = out.join(LAST_RUN);
    if !path.is_file() {
        return Err(format!(
            "--report-only: no run to report on ({} does not exist); run `cargo xtask bench` first",
            path.display()
        ));
    }
    let last = read_json(&path)?;
    let unexpected =
        || format!("{}: unexpected content; run `cargo xtask bench` again", path.display());
    let started = last["started_unix_ms"].as_u64().ok_or_else(unexpected)?;
    let info = RunInfo::from_json(&last["run"]).ok_or_else(unexpected)?;
    let started = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(started);
    Ok((info, started, last["policy"] == true))
}

/// The CPU model, from `/proc/cpuinfo`.
fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

/// The 1, 5 and 15-minute load averages, from `/proc/loadavg`.
pub(super) fn load_average() -> Option<[f64; 3]> {
    let text = fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    Some([fields.next()?.ok()?, fields.next()?.ok()?, fields.next()?.ok()?])
}

/// Prints the summary table and writes `summary.md` and `summary.json` to `out`.
pub(super) fn write_summary(
    out: &Path,
    info: &RunInfo,
    rows: &[Row],
    measurements: &serde_json::Map<String, Value>,
) -> Result<(), String> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut info = info.clone();
    info.load_average.1 = load_average();
    let markdown = markdown(&info, rows);
    eprintln!("\n{markdown}");
    write(&out.join("summary.md"), &markdown)?;
    let summary = json!({
        "schema": "cors-toolkit bench summary",
        "version": SCHEMA_VERSION,
        "speedup": SPEEDUP,
        "run": info.to_json(),
        "rows": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        "measurements": measurements,
    });
    let text = serde_json::to_string_pretty(&summary).map_err(|e| format!("summary.json: {e}"))?;
    write(&out.join("summary.json"), &text)?;
    eprintln!("wrote {0}/summary.md and {0}/summary.json", out.display());
    Ok(())
}

/// Writes `text` to `path`.
pub(super) fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A time for the table: one decimal below 100 ns.
pub(super) fn ns(value: f64) -> String {
    if value.abs() < 100.0 { format!("{value:.1} ns") } else { format!("{value:.0} ns") }
}

fn cell(kind: Kind, figures: &Figures) -> String {
    match kind {
        Kind::Engine => figures.ns.map_or_else(String::new, |e| ns(e.value)),
        Kind::Layer => figures.ns.map_or_else(String::new, |e| {
            let noise = if e.reaches_zero() { " (within the noise)" } else { "" };
            format!("{}{noise}", ns(e.value))
        }),
        Kind::Load | Kind::LoadLimit | Kind::Envoy | Kind::EnvoyLimit => {
            match (figures.rps, figures.p99_ms) {
                (Some(rps), Some(p99)) => {
                    let cpu = figures.cpu_us.map_or_else(String::new, |cpu| {
                        format!(", {:.1} µs CPU/request", cpu.value)
                    });
                    let waits = figures
                        .waits
                        .map_or_else(String::new, |waits| format!(", {:.2} waits", waits.value));
                    let cpu = format!("{cpu}{waits}");
                    format!("{:.0} req/s, p99 {:.2} ms{cpu}", rps.value, p99.value)
                }
                _ => String::new(),
            }
        }
    }
}

/// A count of a row: `ours / peer`, or ours alone when there is no peer.
fn counts(row: &Row, count: fn(&Figures) -> Option<i64>) -> String {
    let show = |n: Option<i64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    match (count(&row.ours), &row.peer) {
        (None, None) => String::new(),
        (None, Some((_, theirs))) if count(theirs).is_none() => String::new(),
        (ours, None) => show(ours),
        (ours, Some((_, theirs))) => format!("{} / {}", show(ours), show(count(theirs))),
    }
}

/// What `--policy` measured (`run.policy`): the file and, per derived request, how it was
/// derived and what the engine decides, so that a row named `your policy: actual-unknown` says
/// whether the policy allowed or blocked it.
fn policy_requests(policy: &Value) -> String {
    let mut file = policy["file"].as_str().unwrap_or("?").to_owned();
    if let Some(name) = policy["instance"]["name"].as_str() {
        let of = policy["instance"]["of"].as_u64().unwrap_or(1);
        let _ = if policy["instance"]["named"] == true {
            write!(file, ", ApiInstance {name} (--instance; {of} have a cors-flex policy)")
        } else if of > 1 {
            write!(
                file,
                ", ApiInstance {name} (the first of {of} with a cors-flex policy; \
                 --instance NAME measures another)"
            )
        } else {
            write!(file, ", ApiInstance {name} (the one with a cors-flex policy)")
        };
    }
    let warnings = policy["warnings"].as_array().cloned().unwrap_or_default();
    let mut text = String::new();
    if !warnings.is_empty() {
        let _ =
            writeln!(text, "Your policy, {file}, has warnings, as `cors-gateway check` gives:\n");
        for warning in &warnings {
            let _ = writeln!(text, "- {}", warning.as_str().unwrap_or("?"));
        }
        text.push('\n');
    }
    let _ = writeln!(text, "The requests derived from your policy, {file}:\n");
    for request in policy["requests"].as_array().into_iter().flatten() {
        let peers: Vec<&str> =
            request["peers"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let _ = writeln!(
            text,
            "- `{}`: {}; the engine decides {}{}.",
            request["name"].as_str().unwrap_or("?"),
            request["derivation"].as_str().unwrap_or("?"),
            request["outcome"].as_str().unwrap_or("?"),
            if peers.is_empty() {
                String::new()
            } else {
                let verb = if peers.len() == 1 { "answers" } else { "answer" };
                format!("; {}, configured as your policy, {verb} alike", peers.join(" and "))
            },
        );
    }
    let left_out = policy["left_out"].as_array().cloned().unwrap_or_default();
    if !left_out.is_empty() {
        let _ = writeln!(
            text,
            "\nNot measured, as the engine grants their origin by another entry than the one they \
             were derived from:\n"
        );
        for sentence in &left_out {
            let _ = writeln!(text, "- {}.", sentence.as_str().unwrap_or("?"));
        }
    }
    text.push('\n');
    text
}

fn markdown(info: &RunInfo, rows: &[Row]) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "## {}{}\n",
        info.command,
        if info.quick { " (short runs: indicative only)" } else { "" }
    );
    let load = |avg: Option<[f64; 3]>| {
        avg.map_or_else(
            || "?".to_owned(),
            |[one, five, _]| format!("{one:.2} (1 min), {five:.2} (5 min)"),
        )
    };
    let _ = writeln!(
        text,
        "Commit {}{}, {}; {}; {} CPUs, {}; load average at start {}, at end {}.\n",
        info.commit.as_deref().map_or("unknown", |c| c.get(..12).unwrap_or(c)),
        if info.dirty == Some(true) { " (with uncommitted changes)" } else { "" },
        info.date,
        info.rustc.as_deref().unwrap_or("unknown rustc"),
        info.cpus,
        info.cpu,
        load(info.load_average.0),
        load(info.load_average.1),
    );
    // Said only where some row has a peer to be faster than (a `--policy` run has none).
    if rows.iter().any(|row| row.peer.is_some()) {
        let _ = writeln!(
            text,
            "{SPEEDUP} Layer rows are each middleware's own cost (with it minus its bare handler, \
             same request); counts are ours / the peer's.\n"
        );
    }
    if let Some(policy) = &info.policy {
        text.push_str(&policy_requests(policy));
    }
    if let Some(Value::Object(envoy)) = &info.envoy
        && let Some(why) = envoy.get("skipped")
    {
        let _ = writeln!(text, "Envoy pair skipped: {}\n", why.as_str().unwrap_or_default());
    }
    text.push_str("| Row | Ours | Peer | Speedup | Allocations | Instructions | Targets |\n");
    text.push_str("|---|--:|--:|--:|--:|--:|---|\n");
    for row in rows {
        let peer = row.peer.as_ref().map_or_else(String::new, |(name, theirs)| {
            format!("{name}: {}", cell(row.kind, theirs))
        });
        let mut targets: Vec<String> = row
            .targets
            .iter()
            .map(|t| format!("{}: {}", t.text, if t.met { "met" } else { "MISSED" }))
            .collect();
        if !row.note.is_empty() {
            targets.push(row.note.clone());
        }
        let title = if row.id.starts_with(&row.title) {
            String::new()
        } else {
            format!(" ({})", row.title)
        };
        let _ = writeln!(
            text,
            "| {}{title} | {} | {peer} | {} | {} | {} | {} |",
            row.id,
            cell(row.kind, &row.ours),
            match row.speedup {
                Some(speedup) => format!("{speedup:.2}x"),
                None if row.peer.is_some() && !row.within_noise_sides().is_empty() => {
                    "none: within the noise".to_owned()
                }
                None => String::new(),
            },
            counts(row, |f| f.allocations),
            counts(row, |f| f.instructions),
            targets.join("; "),
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_survive_the_json_round_trip() {
        let figures = Figures {
            ns: Some(Estimate { value: 2.0, low: 1.5, high: 2.5 }),
            instructions: Some(459),
            allocations: Some(0),
            rps: Some(Estimate { value: 10.0, low: 9.0, high: 11.0 }),
            p50_ms: Some(0.5),
            p99_ms: Some(Estimate { value: 3.0, low: 2.0, high: 4.0 }),
            non_2xx: Some(0),
            rounds: Some(3),
            cpu_us: Some(Estimate { value: 40.0, low: 38.5, high: 41.0 }),
            waits: Some(Estimate { value: 0.5, low: 0.25, high: 0.75 }),
        };
        assert_eq!(Figures::from_json(&figures.to_json()), figures);
        assert_eq!(Figures::from_json(&Figures::default().to_json()), Figures::default());
    }

    /// Figures of a time measured exactly `value` ns.
    fn time(value: f64) -> Figures {
        Figures { ns: Some(Estimate { value, low: value, high: value }), ..Figures::default() }
    }

    #[test]
    fn speedup_is_how_many_times_faster_ours_is() {
        let rate = |value| Figures {
            rps: Some(Estimate { value, low: value, high: value }),
            ..Figures::default()
        };
        let row = |kind, ours, theirs| {
            Row::new("x".into(), kind, "x".into(), ours, Some(("peer".into(), theirs))).speedup
        };
        assert_eq!(row(Kind::Layer, time(100.0), time(300.0)), Some(3.0));
        assert_eq!(row(Kind::Load, rate(50.0), rate(100.0)), Some(0.5));
        assert_eq!(Row::new("x".into(), Kind::Engine, "x".into(), time(1.0), None).speedup, None);
    }

    /// The `run.policy` of a `--policy` run on a public resource, with `warnings`.
    fn public_policy(warnings: &[&str]) -> Value {
        json!({
            "file": "/p/public.yaml",
            "instance": null,
            "warnings": warnings,
            "requests": [{
                "name": "actual-unknown",
                "method": "GET",
                "fields": [["origin", "https://unlisted.invalid"]],
                "outcome": "Allowed",
                "derivation": "GET from https://unlisted.invalid, an origin no policy lists",
                "peers": [],
            }],
        })
    }

    #[test]
    fn the_summary_says_what_each_request_derived_from_a_policy_is_and_its_outcome() {
        let mut info = RunInfo::now(true, None);
        info.policy = Some(public_policy(&[]));
        let text = markdown(&info, &[]);
        assert!(
            text.contains(
                "The requests derived from your policy, /p/public.yaml:\n\n\
                 - `actual-unknown`: GET from https://unlisted.invalid, an origin no policy lists; \
                 the engine decides Allowed.\n"
            ),
            "{text}"
        );
        assert!(!text.contains("warning"), "{text}");
        let mut policy = public_policy(&[]);
        policy["requests"][0]["peers"] = json!(["tower-http"]);
        info.policy = Some(policy.clone());
        let text = markdown(&info, &[]);
        assert!(
            text.contains(
                "the engine decides Allowed; tower-http, configured as your policy, answers \
                 alike.\n"
            ),
            "{text}"
        );
        policy["requests"][0]["peers"] = json!(["tower-http", "actix-cors"]);
        info.policy = Some(policy);
        let text = markdown(&info, &[]);
        assert!(
            text.contains(
                "the engine decides Allowed; tower-http and actix-cors, configured as your \
                 policy, answer alike.\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_summary_says_which_derived_requests_were_left_out_and_why() {
        let mut info = RunInfo::now(true, None);
        let mut policy = public_policy(&[]);
        let sentence = "GET from https://bench.example.com, derived from the `*` entry of group \
                        anyone: the engine matches it with the subdomain entry \
                        `https://*.example.com` of group sites";
        policy["left_out"] = json!([sentence]);
        info.policy = Some(policy);
        let text = markdown(&info, &[]);
        assert!(
            text.contains(&format!(
                "the engine decides Allowed.\n\nNot measured, as the engine grants their origin by \
                 another entry than the one they were derived from:\n\n- {sentence}.\n\n"
            )),
            "{text}"
        );
        info.policy = Some(public_policy(&[]));
        assert!(!markdown(&info, &[]).contains("Not measured"));
    }

    #[test]
    fn the_summary_names_the_instance_of_a_local_mode_folder() {
        let mut info = RunInfo::now(true, None);
        let mut policy = public_policy(&[]);
        policy["file"] = json!("/p/apis");
        policy["instance"] = json!({ "name": "default/catalog-api", "of": 2, "named": false });
        info.policy = Some(policy.clone());
        let text = markdown(&info, &[]);
        assert!(
            text.contains(
                "The requests derived from your policy, /p/apis, ApiInstance default/catalog-api \
                 (the first of 2 with a cors-flex policy; --instance NAME measures another):\n"
            ),
            "{text}"
        );
        policy["instance"] = json!({ "name": "default/orders-api", "of": 2, "named": true });
        info.policy = Some(policy);
        let text = markdown(&info, &[]);
        assert!(
            text.contains(
                "The requests derived from your policy, /p/apis, ApiInstance default/orders-api \
                 (--instance; 2 have a cors-flex policy):\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_speedup_paragraph_is_given_only_when_a_row_has_a_peer() {
        let info = RunInfo::now(true, None);
        let alone = Row::new("alone".into(), Kind::Engine, "t".into(), time(1.0), None);
        let paired = Row::new(
            "paired".into(),
            Kind::Engine,
            "t".into(),
            time(1.0),
            Some(("peer".into(), time(2.0))),
        );
        assert!(!markdown(&info, std::slice::from_ref(&alone)).contains("Speedup:"));
        let text = markdown(&info, &[alone, paired]);
        assert!(text.contains(&format!("{SPEEDUP} Layer rows")), "{text}");
    }

    #[test]
    fn the_summary_gives_a_policys_warnings_with_their_places() {
        let mut info = RunInfo::now(true, None);
        let warning = "/p/public.yaml:3:23: warning: supportCredentials: echoes every origin";
        info.policy = Some(public_policy(&[warning]));
        let text = markdown(&info, &[]);
        assert!(
            text.contains(&format!(
                "Your policy, /p/public.yaml, has warnings, as `cors-gateway check` gives:\n\n\
                 - {warning}\n"
            )),
            "{text}"
        );
    }

    /// The fields a table of `docs/bench-summary-schema.md` documents under `heading`, with
    /// their documented types (`string or null`, `integer`, ...); a row may name several fields.
    fn documented_fields(doc: &str, heading: &str) -> Vec<(String, String)> {
        let section = doc.split_once(&format!("\n{heading}\n")).map_or("", |(_, rest)| rest);
        let table = section.lines().skip_while(|line| !line.starts_with('|'));
        let mut fields = Vec::new();
        for line in table.take_while(|line| line.starts_with('|')) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if let [_, names, kind, ..] = cells[..]
                && names.starts_with('`')
            {
                for name in names.split(", ") {
                    fields.push((name.trim_matches('`').to_owned(), kind.to_owned()));
                }
            }
        }
        assert!(!fields.is_empty(), "no table under {heading}");
        fields
    }

    /// Whether `value` has the documented `kind` (`number`, `object or null`, ...).
    fn has_type(value: &Value, kind: &str) -> bool {
        kind.split(" or ").any(|one| match one {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "object" => value.is_object(),
            "array" => value.is_array(),
            "null" => value.is_null(),
            other => panic!("the schema names an unknown type {other:?}"),
        })
    }

    /// `object` has exactly the `fields` documented, each of its documented type (`null` too
    /// when `nullable`).
    fn check_fields(what: &str, object: &Value, fields: &[(String, String)], nullable: bool) {
        let object = object.as_object().unwrap_or_else(|| panic!("{what}: not an object"));
        for (name, kind) in fields {
            let value = object.get(name).unwrap_or_else(|| panic!("{what}: no `{name}`"));
            assert!(
                has_type(value, kind) || (nullable && value.is_null()),
                "{what}: `{name}` is {value}, documented as {kind}"
            );
        }
        for name in object.keys() {
            assert!(
                fields.iter().any(|(known, _)| known == name),
                "{what}: `{name}` is undocumented"
            );
        }
    }

    #[test]
    fn a_written_summary_has_every_field_the_schema_documents_with_its_type() {
        let doc = include_str!("../../../docs/bench-summary-schema.md");
        let e = |value: f64| Some(Estimate { value, low: value - 1.0, high: value + 1.0 });
        let measured = Figures {
            ns: e(50.0),
            instructions: Some(400),
            allocations: Some(-1),
            rps: e(9000.0),
            p50_ms: Some(0.4),
            p99_ms: e(1.5),
            non_2xx: Some(0),
            rounds: Some(3),
            cpu_us: e(40.0),
            waits: e(0.5),
        };
        let kinds =
            [Kind::Engine, Kind::Layer, Kind::Load, Kind::LoadLimit, Kind::Envoy, Kind::EnvoyLimit];
        let mut rows: Vec<Row> = kinds
            .iter()
            .map(|&kind| {
                let slower = Figures { ns: e(100.0), rps: e(4500.0), ..measured.clone() };
                let peer = Some(("peer".to_owned(), slower));
                let mut row =
                    Row::new(kind.name().into(), kind, "t".into(), measured.clone(), peer);
                row.target("≤ 100 ns".to_owned(), true);
                row
            })
            .collect();
        rows.push(Row::new("alone".into(), Kind::Engine, "t".into(), Figures::default(), None));
        let micro = super::super::micro::Micro {
            times: [("engine-x/decide".to_owned(), Estimate { value: 1.0, low: 0.5, high: 1.5 })]
                .into(),
            ..Default::default()
        };
        let out = std::env::temp_dir().join(format!("xtask-bench-schema-{}", std::process::id()));
        fs::create_dir_all(&out).unwrap();
        let mut info = RunInfo::now(true, Some("x".to_owned()));
        let instance = json!({ "name": "default/api", "of": 1, "named": false });
        info.policy = Some(
            json!({ "file": "f", "instance": instance, "warnings": [], "requests": [], "left_out": [] }),
        );
        write_summary(&out, &info, &rows, &micro.measurements().collect()).unwrap();
        let summary = read_json(&out.join("summary.json")).unwrap();
        fs::remove_dir_all(&out).unwrap();

        check_fields("summary", &summary, &documented_fields(doc, "## Top level"), false);
        assert_eq!(summary["schema"], "cors-toolkit bench summary");
        assert_eq!(summary["version"], SCHEMA_VERSION);
        check_fields("run", &summary["run"], &documented_fields(doc, "## `run`"), false);
        let (row_fields, figures) =
            (documented_fields(doc, "## `rows`"), documented_fields(doc, "### Figures"));
        let kinds_table = documented_fields(doc, "### Kinds");
        let mut peer_fields = figures.clone();
        peer_fields.push(("name".to_owned(), "string".to_owned()));
        for row in summary["rows"].as_array().unwrap() {
            let what = format!("row {}", row["id"]);
            check_fields(&what, row, &row_fields, false);
            assert!(kinds_table.iter().any(|(kind, _)| row["kind"] == *kind), "{what}");
            // Every figure object has every key; one not measured is null.
            check_fields(&format!("{what} ours"), &row["ours"], &figures, true);
            if !row["peer"].is_null() {
                check_fields(&format!("{what} peer"), &row["peer"], &peer_fields, true);
            }
            for target in row["targets"].as_array().unwrap() {
                assert!(target["text"].is_string() && target["met"].is_boolean(), "{what}");
            }
        }
        // Above 1.00 ours is ahead: the peer's time over ours, our rate over the peer's.
        assert_eq!(
            (&summary["rows"][0]["kind"], &summary["rows"][0]["speedup"]),
            (&"engine".into(), &2.0.into())
        );
        assert_eq!(
            (&summary["rows"][2]["kind"], &summary["rows"][2]["speedup"]),
            (&"load".into(), &2.0.into())
        );
        let criterion_keys = doc
            .split_once("- criterion ids (")
            .and_then(|(_, rest)| rest.split_once("):"))
            .and_then(|(_, rest)| rest.split_once(';'))
            .map(|(keys, _)| keys)
            .unwrap();
        let criterion_keys: Vec<(String, String)> = criterion_keys
            .split(',')
            .map(|key| (key.trim().trim_matches('`').to_owned(), "number".to_owned()))
            .collect();
        let measurement = &summary["measurements"]["engine-x/decide"];
        check_fields("measurement engine-x/decide", measurement, &criterion_keys, true);
    }

    /// The names a piece of the schema's prose gives in backquotes, in order.
    fn backquoted(text: &str) -> Vec<String> {
        text.split('`').skip(1).step_by(2).map(str::to_owned).collect()
    }

    /// The load entries of `measurements` are described in prose, not in a table: `rounds`, each
    /// with the wrk figures of one round, and `instructions`. Nothing checked what `LoadRuns`
    /// writes against it, so that a renamed or added key of a round went unnoticed.
    #[test]
    fn the_load_measurements_have_the_fields_the_bench_summary_schema_documents() {
        use super::super::load::{LoadResult, LoadRuns};

        let doc = include_str!("../../../docs/bench-summary-schema.md");
        // "- load ids ...: `rounds`, each with `rps`, ..., `cpu_us` and `waits` (null where not
        // measured); and `instructions`, ... else null."
        let item = doc
            .split_once("\n- load ids ")
            .and_then(|(_, rest)| rest.split_once("\n\n"))
            .map(|(item, _)| item.replace("\n  ", " "))
            .unwrap();
        let (round_words, instruction_words) = item
            .split_once(": `rounds`, each with ")
            .and_then(|(_, rest)| rest.split_once("; and "))
            .unwrap();
        let figures = documented_fields(doc, "### Figures");
        // "..., `cpu_us` and `waits` (null where not measured)": the names of that last clause.
        let nullable = round_words
            .split_once(" (null where not measured)")
            .and_then(|(before, _)| before.rsplit(", ").next())
            .map(backquoted)
            .unwrap_or_default();
        // A round's figure has its type in the Figures table (`requests` is not there: a count).
        let round_fields: Vec<(String, String)> = backquoted(round_words)
            .into_iter()
            .map(|name| {
                let kind = figures.iter().find(|(known, _)| *known == name);
                let kind = kind.map_or_else(|| "integer".to_owned(), |(_, kind)| kind.clone());
                let nullable = nullable.contains(&name);
                let kind = if nullable { format!("{kind} or null") } else { kind };
                (name, kind)
            })
            .collect();
        assert_eq!(round_fields.len(), 7, "{round_fields:?}");
        let instructions = backquoted(instruction_words).into_iter().next().unwrap();
        assert!(instruction_words.ends_with("else null."), "{instruction_words}");
        let entry_fields =
            [("rounds".to_owned(), "array".to_owned()), (instructions, "integer or null".into())];

        let round = |cpu_us: Option<f64>| LoadResult {
            rps: 9000.5,
            p50_ms: 0.4,
            p99_ms: 1.5,
            non_2xx: 0,
            requests: 27_000,
            cpu_us,
            waits: cpu_us.map(|_| 0.5),
        };
        let load = LoadRuns {
            runs: vec![
                ("load-preflight/gateway".to_owned(), vec![round(Some(40.5)), round(Some(41.0))]),
                ("load-preflight/upstream".to_owned(), vec![round(None)]),
            ],
            envoy: Err("skipped".to_owned()),
            instructions: vec![("load-preflight/gateway".to_owned(), 21_000)],
        };
        let out = std::env::temp_dir().join(format!("xtask-bench-load-{}", std::process::id()));
        fs::create_dir_all(&out).unwrap();
        let row = Row::new("r".into(), Kind::Load, "t".into(), Figures::default(), None);
        let info = RunInfo::now(true, None);
        write_summary(&out, &info, &[row], &load.measurements().collect()).unwrap();
        let summary = read_json(&out.join("summary.json")).unwrap();
        fs::remove_dir_all(&out).unwrap();

        for id in ["load-preflight/gateway", "load-preflight/upstream"] {
            let entry = &summary["measurements"][id];
            check_fields(id, entry, &entry_fields, false);
            let rounds = entry["rounds"].as_array().unwrap();
            assert!(!rounds.is_empty(), "{id}");
            for (n, round) in rounds.iter().enumerate() {
                check_fields(&format!("{id} round {n}"), round, &round_fields, false);
            }
        }
        assert_eq!(summary["measurements"]["load-preflight/gateway"]["instructions"], 21_000);
        assert!(
            summary["measurements"]["load-preflight/upstream"]["rounds"][0]["cpu_us"].is_null()
        );
    }

    #[test]
    fn intervals_apart_and_overlapping() {
        let e = |low, high| Estimate { value: f64::midpoint(low, high), low, high };
        assert!(e(1.0, 2.0).is_apart_from(e(2.5, 3.0)));
        assert!(!e(1.0, 2.0).is_apart_from(e(1.5, 3.0)));
        assert_eq!(
            Estimate::minus(e(10.0, 12.0), e(1.0, 3.0)),
            Estimate { value: 9.0, low: 7.0, high: 11.0 }
        );
    }
}
