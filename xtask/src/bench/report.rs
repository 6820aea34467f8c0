//! The summary of a `cargo xtask bench` run: the table printed on stderr and written to
//! `target/bench/summary.md`, and `target/bench/summary.json`.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde_json::{Value, json};

use super::Options;

/// Prints the summary table and writes `summary.md` and `summary.json` to `out`.
pub(super) fn write_summary(
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

/// One line of the summary table.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub(super) scenario: String,
    pub(super) ours: String,
    pub(super) peer: String,
    /// How many times better ours is: peer time / our time, or our req/s / peer req/s.
    pub(super) ratio: Option<f64>,
    pub(super) allocations: String,
    /// Instructions per call under callgrind, when counted.
    pub(super) instructions: String,
    pub(super) target: String,
    /// Whether the target is met, when there is one.
    pub(super) met: Option<bool>,
    pub(super) numbers: Value,
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

pub(super) fn ns(value: f64) -> String {
    if value.abs() < 100.0 { format!("{value:.1} ns") } else { format!("{value:.0} ns") }
}

pub(super) fn tick(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
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
