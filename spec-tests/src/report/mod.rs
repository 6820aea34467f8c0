//! Report formats: a one-screen text summary, the full text (every failure in detail), JSON
//! with a documented, versioned schema (`spec-tests/REPORT.md`), `JUnit` XML, and a
//! self-contained HTML page with filters.

mod html;
mod json;
mod junit;

use std::collections::BTreeMap;
use std::fmt::Write as _;

pub use html::html;
pub use json::{FORMAT, VERSION, from_json, json};
pub use junit::junit;

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
                if let Some(sources) = sources(result) {
                    let _ = writeln!(out, "  sources: {sources}");
                }
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
    out.push('\n');
    out.push_str(&table(report));
    out.push('\n');
    out.push_str(&verdict(report));
    out
}

/// How many failures the summary lists before pointing at the full reports.
const SUMMARY_FAILURES: usize = 10;

/// The one-screen summary: the table, the first failures on one line each, and the verdict.
///
/// The failures are listed by level, `fetch` first, then `flex`, then `ours` (in case order
/// within a level): the summary shows ten, and listed in case order they were this project's
/// choices (`ours`, most of the corpus) while a failure browsers act on, an unlisted origin
/// granted with credentials, was among the "... and 28 more".
#[must_use]
pub fn summary(report: &Report) -> String {
    let mut out = table(report);
    let mut failures: Vec<&CaseResult> = report.failures().collect();
    failures.sort_by_key(|result| result.level);
    if !failures.is_empty() {
        let _ = writeln!(out, "\nfailures, the level browsers need (fetch) first:");
        for result in failures.iter().take(SUMMARY_FAILURES) {
            let _ = writeln!(out, "  {}", one_line(result));
        }
        if failures.len() > SUMMARY_FAILURES {
            let _ = writeln!(
                out,
                "  ... and {} more (--format details, or --html-report FILE)",
                failures.len() - SUMMARY_FAILURES
            );
        }
    }
    for stale in &report.stale {
        let _ = writeln!(out, "STALE known failure {}: {}", stale.case, stale.why);
    }
    out.push('\n');
    out.push_str(&verdict(report));
    out
}

/// A failed case on one line: status, id, level and profile, and its first problem.
fn one_line(result: &CaseResult) -> String {
    let problem = match &result.outcome {
        Outcome::Fail { mismatches } => {
            let more = match mismatches.len() {
                0 | 1 => String::new(),
                n => format!(" (+{} more)", n - 1),
            };
            mismatches.first().map(|m| format!("{m}{more}")).unwrap_or_default()
        }
        // An answer that shows nothing of the target's CORS handling is an error with it.
        Outcome::Error { message } if result.observed.is_some() => message.clone(),
        Outcome::Error { message } => format!("no answer: {message}"),
        _ => String::new(),
    };
    let status = if matches!(result.outcome, Outcome::Error { .. }) { "ERROR" } else { "FAIL" };
    format!("{status} {} [{} {}]: {problem}", result.id, result.level, result.profile)
}

/// Counts of a report's results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Totals {
    /// Cases run.
    pub cases: usize,
    /// Cases that passed.
    pub passed: usize,
    /// Cases whose expectations did not hold.
    pub failed: usize,
    /// Cases that failed as `known-failures.toml` says.
    pub known: usize,
    /// Cases the target gave no answer to.
    pub errors: usize,
}

impl Totals {
    /// The counts of `report`.
    #[must_use]
    pub fn of(report: &Report) -> Totals {
        let mut totals = Totals { cases: report.results.len(), ..Totals::default() };
        for result in &report.results {
            match result.outcome {
                Outcome::Pass => totals.passed += 1,
                Outcome::Fail { .. } => totals.failed += 1,
                Outcome::KnownFailure { .. } => totals.known += 1,
                _ => totals.errors += 1,
            }
        }
        totals
    }

    /// The outcome counts as both the text and the HTML verdict say them:
    /// `P passed, F failed, E errors, K known failures`.
    pub(crate) fn outcomes(&self) -> String {
        format!(
            "{} passed, {} failed, {} errors, {} known failures",
            self.passed, self.failed, self.errors, self.known
        )
    }
}

/// The last line of the text reports: `ok` or `FAILED`, and the counts.
#[must_use]
pub fn verdict(report: &Report) -> String {
    let totals = Totals::of(report);
    let mut out = format!(
        "{}: {} cases against {}, {}, {} stale entries\n",
        if report.is_success() { "ok" } else { "FAILED" },
        totals.cases,
        report.target,
        totals.outcomes(),
        report.stale.len()
    );
    if let Some(why) = &report.unreachable {
        let _ = writeln!(out, "stopped: the target is unreachable: {why}");
    }
    out
}

/// The status of one result as the reports name it.
#[must_use]
pub fn status(result: &CaseResult) -> &'static str {
    match result.outcome {
        Outcome::Pass => "pass",
        Outcome::Fail { .. } => "fail",
        Outcome::KnownFailure { .. } => "known",
        _ => "error",
    }
}

fn write_request(out: &mut String, result: &CaseResult) {
    for (i, line) in result.request.iter().enumerate() {
        let _ = writeln!(out, "  {} {line}", if i == 0 { "request:" } else { "        " });
    }
}

/// The mismatches of a result (empty for a pass or an error).
#[must_use]
pub fn mismatches(result: &CaseResult) -> &[crate::check::Mismatch] {
    match &result.outcome {
        Outcome::Fail { mismatches } | Outcome::KnownFailure { mismatches, .. } => mismatches,
        _ => &[],
    }
}

/// Where a case comes from, on one line: its behaviour rules, the Fetch sections and WPT files
/// it derives from (what the HTML report lists under "Sources"); `None` when it cites nothing.
fn sources(result: &CaseResult) -> Option<String> {
    let mut parts = Vec::new();
    if !result.rules.is_empty() {
        parts.push(format!("rules {} (docs/behaviour.md)", result.rules.join(", ")));
    }
    parts.extend(result.spec.iter().cloned());
    parts.extend(result.wpt.iter().map(|path| format!("WPT {path}")));
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use crate::case::Level;
    use crate::check::{Mismatch, Observed};
    use crate::runner::{CaseResult, Outcome, Report};

    /// One failed case citing a rule, a Fetch section and a WPT file.
    fn failed() -> Report {
        let mut report = Report::empty("gw");
        report.results.push(CaseResult {
            id: "preflight.method-refused".to_owned(),
            area: "preflight".to_owned(),
            level: Level::Fetch,
            profile: "strict".to_owned(),
            title: "a method the group does not allow is refused".to_owned(),
            request: vec!["OPTIONS /".to_owned()],
            expected: Vec::new(),
            spec: vec!["https://fetch.spec.whatwg.org/#cors-preflight-fetch".to_owned()],
            wpt: vec!["fetch/api/cors/cors-preflight.any.js".to_owned()],
            rules: vec!["P2".to_owned(), "P3".to_owned()],
            outcome: Outcome::Fail {
                mismatches: vec![Mismatch {
                    subject: "access-control-allow-methods".to_owned(),
                    expected: "no header".to_owned(),
                    got: "\"DELETE\"".to_owned(),
                    order_only: false,
                }],
            },
            observed: Some(Observed::new(200)),
            micros: 1,
        });
        report
    }

    /// The summary lists a `fetch` failure before `ours` ones that come first in case order,
    /// so that the ten it shows start with what breaks browsers.
    #[test]
    fn the_summary_lists_fetch_failures_first() {
        let mut report = Report::empty("gw");
        let fetch = failed().results.remove(0);
        for n in 0..super::SUMMARY_FAILURES {
            let mut ours = fetch.clone();
            ours.id = format!("vary.ours-{n}");
            ours.level = Level::Ours;
            report.results.push(ours);
        }
        report.results.push(fetch);
        let summary = super::summary(&report);
        let listed: Vec<&str> = summary
            .lines()
            .filter_map(|line| line.strip_prefix("  FAIL "))
            .map(|line| line.split(' ').next().unwrap_or_default())
            .collect();
        assert_eq!(listed.first(), Some(&"preflight.method-refused"), "{summary}");
        assert_eq!(listed.len(), super::SUMMARY_FAILURES, "{summary}");
        assert_eq!(listed[1], "vary.ours-0", "case order within a level:\n{summary}");
    }

    const SOURCES: &str = "rules P2, P3 (docs/behaviour.md); \
        https://fetch.spec.whatwg.org/#cors-preflight-fetch; WPT fetch/api/cors/cors-preflight.any.js";

    /// The text and `JUnit` reports say which rule a failed case checks and where it comes from,
    /// as the HTML report does; they named the case and the difference only.
    #[test]
    fn failures_name_their_rules_and_sources() {
        let report = failed();
        let text = super::text(&report);
        assert!(text.contains(&format!("\n  sources: {SOURCES}\n")), "{text}");
        let xml = super::junit(&report);
        let parsed = quick_junit::Report::deserialize_from_str(&xml).unwrap();
        let case = &parsed.test_suites[0].test_cases[0];
        let quick_junit::TestCaseStatus::NonSuccess { description, .. } = &case.status else {
            panic!("a failure: {case:?}");
        };
        let description = description.as_deref().unwrap_or_default();
        assert!(
            description.starts_with("a method the group does not allow is refused\n"),
            "{description}"
        );
        assert!(description.contains(SOURCES), "{description}");
    }
}
