//! Report formats: text (failures, then a summary table per area and level), JSON and `JUnit`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::case::{CASE_FILES, Level};
use crate::runner::{CaseResult, Outcome, Report};

/// Pass and total counts of one table cell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tally {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed as known.
    pub known: usize,
    /// Cases run.
    pub total: usize,
}

impl Tally {
    fn add(&mut self, result: &CaseResult) {
        self.total += 1;
        match result.outcome {
            Outcome::Pass => self.passed += 1,
            Outcome::KnownFailure { .. } => self.known += 1,
            _ => {}
        }
    }

    fn cell(self) -> String {
        if self.total == 0 {
            "-".to_owned()
        } else if self.known > 0 {
            format!("{}/{} ({}k)", self.passed, self.total, self.known)
        } else {
            format!("{}/{}", self.passed, self.total)
        }
    }
}

/// Counts per area (in the order of [`CASE_FILES`], other areas after them) and level.
#[must_use]
pub fn tallies(report: &Report) -> Vec<(String, BTreeMap<Level, Tally>)> {
    let mut rows: Vec<(String, BTreeMap<Level, Tally>)> = Vec::new();
    for result in &report.results {
        let index = rows.iter().position(|(area, _)| *area == result.area).unwrap_or_else(|| {
            rows.push((result.area.clone(), BTreeMap::new()));
            rows.len() - 1
        });
        rows[index].1.entry(result.level).or_default().add(result);
    }
    let rank = |area: &str| CASE_FILES.iter().position(|(a, _)| *a == area).unwrap_or(usize::MAX);
    rows.sort_by_key(|(area, _)| rank(area));
    rows
}

/// The summary table: one row per area, one column per level, `passed/total` per cell.
#[must_use]
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:>12} {:>12} {:>12} {:>12}",
        "area", "fetch", "flex", "ours", "total"
    );
    let mut totals: BTreeMap<Level, Tally> = BTreeMap::new();
    let mut grand = Tally::default();
    for (area, row) in tallies(report) {
        let mut row_total = Tally::default();
        let mut cells = Vec::new();
        for level in Level::ALL {
            let tally = row.get(&level).copied().unwrap_or_default();
            cells.push(tally.cell());
            let column = totals.entry(level).or_default();
            for (sum, part) in [(column, tally), (&mut row_total, tally)] {
                sum.passed += part.passed;
                sum.known += part.known;
                sum.total += part.total;
            }
        }
        grand.passed += row_total.passed;
        grand.known += row_total.known;
        grand.total += row_total.total;
        let _ = writeln!(
            out,
            "{area:<22} {:>12} {:>12} {:>12} {:>12}",
            cells[0],
            cells[1],
            cells[2],
            row_total.cell()
        );
    }
    let column = |level| totals.get(&level).copied().unwrap_or_default().cell();
    let _ = writeln!(
        out,
        "{:<22} {:>12} {:>12} {:>12} {:>12}",
        "total",
        column(Level::Fetch),
        column(Level::Flex),
        column(Level::Ours),
        grand.cell()
    );
    out
}

/// The text report: every failure with its request, expectations and answer; stale known
/// failures; the summary table; a verdict line.
#[must_use]
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for result in &report.results {
        match &result.outcome {
            Outcome::Fail { mismatches } => {
                let _ = writeln!(
                    out,
                    "FAIL {} [{} {}] {}",
                    result.id, result.level, result.profile, result.title
                );
                write_request(&mut out, result);
                for mismatch in mismatches {
                    let _ = writeln!(out, "  - {mismatch}");
                }
                if let Some(observed) = &result.observed {
                    let _ = writeln!(out, "  got: {observed}");
                }
            }
            Outcome::Error { message } => {
                let _ = writeln!(
                    out,
                    "ERROR {} [{} {}]: {message}",
                    result.id, result.level, result.profile
                );
            }
            Outcome::Pass | Outcome::KnownFailure { .. } => {}
        }
    }
    for stale in &report.stale {
        let _ = writeln!(out, "STALE known failure {}: {}", stale.case, stale.why);
    }
    let known =
        report.results.iter().filter(|r| matches!(r.outcome, Outcome::KnownFailure { .. })).count();
    let failed = report.failures().count();
    out.push('\n');
    out.push_str(&table(report));
    let _ = writeln!(
        out,
        "\n{}: {} cases against {}, {} passed, {} failed, {} known failures, {} stale entries",
        if report.is_success() { "ok" } else { "FAILED" },
        report.results.len(),
        report.target,
        report.results.len() - failed - known,
        failed,
        known,
        report.stale.len()
    );
    out
}

fn write_request(out: &mut String, result: &CaseResult) {
    for (i, line) in result.request.iter().enumerate() {
        let _ = writeln!(out, "  {} {line}", if i == 0 { "request:" } else { "        " });
    }
}

/// The JSON report: the whole [`Report`] plus the summary counts.
#[must_use]
pub fn json(report: &Report) -> String {
    let summary: BTreeMap<String, BTreeMap<String, serde_json::Value>> = tallies(report)
        .into_iter()
        .map(|(area, row)| {
            let cells = row
                .into_iter()
                .map(|(level, t)| {
                    let value =
                        serde_json::json!({"passed": t.passed, "known": t.known, "total": t.total});
                    (level.as_str().to_owned(), value)
                })
                .collect();
            (area, cells)
        })
        .collect();
    let value = serde_json::json!({
        "success": report.is_success(),
        "summary": summary,
        "report": report,
    });
    serde_json::to_string_pretty(&value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Reads back a report written by [`json`].
///
/// # Errors
///
/// The text is not such a report.
pub fn from_json(text: &str) -> Result<Report, String> {
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let report = value.get_mut("report").map(serde_json::Value::take).ok_or("no \"report\" key")?;
    serde_json::from_value(report).map_err(|e| e.to_string())
}

/// The `JUnit` XML report: one `testsuite` per area, one `testcase` per case.
#[must_use]
pub fn junit(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let failures = report.failures().count() + report.stale.len();
    let _ = writeln!(
        out,
        "<testsuites name=\"cors-conformance {}\" tests=\"{}\" failures=\"{failures}\">",
        xml(&report.target),
        report.results.len() + report.stale.len()
    );
    for (area, _) in tallies(report) {
        let cases: Vec<&CaseResult> = report.results.iter().filter(|r| r.area == area).collect();
        let failed = cases.iter().filter(|r| r.is_failure()).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\">",
            xml(&area),
            cases.len()
        );
        for result in cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}.{}\" name=\"{}\"",
                xml(&area),
                result.level,
                xml(&result.id)
            );
            match &result.outcome {
                Outcome::Pass => out.push_str("/>\n"),
                Outcome::KnownFailure { reason, .. } => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"known failure: {}\"/>\n    </testcase>",
                        xml(reason)
                    );
                }
                Outcome::Fail { mismatches } => {
                    let message: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
                    let detail =
                        result.observed.as_ref().map(ToString::to_string).unwrap_or_default();
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        xml(&message.join("; ")),
                        xml(&format!(
                            "{}\n{}\ngot: {detail}",
                            result.request.join("\n"),
                            message.join("\n")
                        ))
                    );
                }
                Outcome::Error { message } => {
                    let _ = writeln!(
                        out,
                        ">\n      <error message=\"{}\"/>\n    </testcase>",
                        xml(message)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    if !report.stale.is_empty() {
        let _ = writeln!(
            out,
            "  <testsuite name=\"known-failures\" tests=\"{0}\" failures=\"{0}\">",
            report.stale.len()
        );
        for stale in &report.stale {
            let _ = writeln!(
                out,
                "    <testcase classname=\"known-failures\" name=\"{}\">\n      <failure message=\"stale: {}\"/>\n    </testcase>",
                xml(&stale.case),
                xml(&stale.why)
            );
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot hold.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' => out.push(c),
            c if c < ' ' => {}
            c => out.push(c),
        }
    }
    out
}
