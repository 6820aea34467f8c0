//! The JSON report, whose schema `spec-tests/REPORT.md` documents: a versioned envelope around
//! the [`Report`], with its totals and its table's counts.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Totals, tallies};
use crate::runner::Report;

/// The report's `format` field.
pub const FORMAT: &str = "cors-conformance-report";

/// The report's `version` field: raised whenever a field changes meaning or goes away (adding
/// a field does not raise it).
pub const VERSION: u64 = 1;

/// The JSON report (see `spec-tests/REPORT.md`).
#[must_use]
pub fn json(report: &Report) -> String {
    let summary: BTreeMap<String, BTreeMap<String, Value>> = tallies(report)
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
    let totals = Totals::of(report);
    let value = serde_json::json!({
        "format": FORMAT,
        "version": VERSION,
        "tool": format!("cors-conformance {}", env!("CARGO_PKG_VERSION")),
        "target": report.target,
        "success": report.is_success(),
        "totals": {
            "cases": totals.cases,
            "passed": totals.passed,
            "failed": totals.failed,
            "errors": totals.errors,
            "known": totals.known,
            "stale": report.stale.len(),
        },
        "summary": summary,
        "report": report,
    });
    serde_json::to_string_pretty(&value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Reads back a report written by [`json`].
///
/// # Errors
///
/// The text is not such a report, or is of a later version.
pub fn from_json(text: &str) -> Result<Report, String> {
    let mut value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if value.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(format!("not a {FORMAT} (no \"format\": \"{FORMAT}\")"));
    }
    match value.get("version").and_then(Value::as_u64) {
        Some(VERSION) => {}
        Some(other) => {
            return Err(format!("version {other} is not supported (this is version {VERSION})"));
        }
        None => return Err("no \"version\"".to_owned()),
    }
    let report = value.get_mut("report").map(Value::take).ok_or("no \"report\" key")?;
    serde_json::from_value(report).map_err(|e| e.to_string())
}
