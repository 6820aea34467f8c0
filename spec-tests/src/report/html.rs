//! The HTML report: one self-contained page (inline CSS and a few lines of plain JavaScript, no
//! network), with the totals by area and level, and every case with its request, what it
//! expects, what came back, the difference and its sources, filterable by level, area and
//! status.
//!
//! Written by hand rather than with a template engine: the page is a handful of fixed blocks,
//! and every dynamic piece goes through [`escape`].

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{Tally, Totals, mismatches, status, tallies};
use crate::case::Level;
use crate::runner::{CaseResult, Outcome, Report};

const STYLE: &str = r"
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem 2rem; color: #1d1d1f; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
.verdict { font-weight: 600; padding: 0.4rem 0.8rem; border-radius: 4px; display: inline-block; }
.verdict.ok { background: #dcf5e3; color: #0b6b2b; }
.verdict.failed { background: #fde2e1; color: #9b1c17; }
table.totals { border-collapse: collapse; margin: 1rem 0; }
table.totals th, table.totals td { border: 1px solid #d0d0d5; padding: 0.2rem 0.7rem; text-align: right; }
table.totals th:first-child, table.totals td:first-child { text-align: left; }
table.totals td.bad { color: #9b1c17; font-weight: 600; }
.filters { position: sticky; top: 0; background: #fff; padding: 0.5rem 0; border-bottom: 1px solid #d0d0d5; }
.filters label { margin-right: 1rem; }
details.case { border: 1px solid #d0d0d5; border-left-width: 6px; border-radius: 4px; margin: 0.4rem 0; padding: 0.2rem 0.6rem; }
details.case.pass { border-left-color: #2e9e4f; }
details.case.fail, details.case.error { border-left-color: #d1342b; }
details.case.known { border-left-color: #d59a16; }
details.case summary { cursor: pointer; }
.status { font-weight: 700; text-transform: uppercase; font-size: 0.8rem; margin-right: 0.4rem; }
.id { font-family: ui-monospace, monospace; }
.tags { color: #6e6e73; font-size: 0.85rem; }
pre { background: #f5f5f7; padding: 0.4rem 0.6rem; overflow-x: auto; margin: 0.2rem 0; }
h4 { margin: 0.6rem 0 0.1rem; font-size: 0.9rem; }
ul { margin: 0.2rem 0; }
.diff li { color: #9b1c17; }
";

const SCRIPT: &str = r"
function applyFilters() {
  var level = document.getElementById('level').value;
  var area = document.getElementById('area').value;
  var status = document.getElementById('status').value;
  var text = document.getElementById('text').value.toLowerCase();
  var shown = 0;
  document.querySelectorAll('details.case').forEach(function (c) {
    var ok = (!level || c.dataset.level === level) && (!area || c.dataset.area === area)
      && (!status || c.dataset.status === status)
      && (!text || c.dataset.id.indexOf(text) >= 0);
    c.style.display = ok ? '' : 'none';
    if (ok) { shown += 1; }
  });
  document.getElementById('shown').textContent = shown;
}
['level', 'area', 'status'].forEach(function (id) {
  document.getElementById(id).addEventListener('change', applyFilters);
});
document.getElementById('text').addEventListener('input', applyFilters);
applyFilters();
";

/// The self-contained HTML report.
#[must_use]
pub fn html(report: &Report) -> String {
    let mut out = String::new();
    let title = format!("cors-conformance: {}", report.target);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    let _ = writeln!(out, "<h1>{}</h1>", escape(&title));
    let totals = Totals::of(report);
    let (class, word) = if report.is_success() { ("ok", "passed") } else { ("failed", "FAILED") };
    let _ = writeln!(
        out,
        "<p><span class=\"verdict {class}\">{word}</span> {} cases: {}, {} stale known-failure \
         entries.</p>",
        totals.cases,
        totals.outcomes(),
        report.stale.len()
    );
    if let Some(why) = &report.unreachable {
        let _ = writeln!(
            out,
            "<p class=\"verdict failed\">The run stopped: the target is unreachable: {}</p>",
            escape(why)
        );
    }
    let _ = writeln!(
        out,
        "<p>Levels: <b>fetch</b> is what browsers need for the policy to work as intended; \
         <b>flex</b> is Flex Gateway's documented <code>cors-flex</code> behaviour; <b>ours</b> \
         is the cors-toolkit project's choices, which another gateway need not share.</p>"
    );
    write_totals(&mut out, report);
    for stale in &report.stale {
        let _ = writeln!(
            out,
            "<p class=\"verdict failed\">Stale known failure <span class=\"id\">{}</span>: {}</p>",
            escape(&stale.case),
            escape(&stale.why)
        );
    }
    write_filters(&mut out, report);
    for result in &report.results {
        write_case(&mut out, result);
    }
    let _ = write!(out, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    out
}

fn write_totals(out: &mut String, report: &Report) {
    let _ = writeln!(
        out,
        "<table class=\"totals\">\n<tr><th>area</th><th>fetch</th><th>flex</th><th>ours</th><th>total</th></tr>"
    );
    let cell = |tally: Tally| {
        if tally.total == 0 {
            "<td>-</td>".to_owned()
        } else {
            let bad = if tally.passed + tally.known < tally.total { " class=\"bad\"" } else { "" };
            let known =
                if tally.known > 0 { format!(" ({} known)", tally.known) } else { String::new() };
            format!("<td{bad}>{}/{}{known}</td>", tally.passed, tally.total)
        }
    };
    let mut columns = [Tally::default(); 3];
    let mut grand = Tally::default();
    for (area, row) in tallies(report) {
        let mut line = format!("<tr><td>{}</td>", escape(&area));
        let mut row_total = Tally::default();
        for (i, level) in Level::ALL.into_iter().enumerate() {
            let tally = row.get(&level).copied().unwrap_or_default();
            line.push_str(&cell(tally));
            for sum in [&mut columns[i], &mut row_total, &mut grand] {
                sum.passed += tally.passed;
                sum.known += tally.known;
                sum.total += tally.total;
            }
        }
        line.push_str(&cell(row_total));
        let _ = writeln!(out, "{line}</tr>");
    }
    let mut line = "<tr><th>total</th>".to_owned();
    for tally in columns.into_iter().chain([grand]) {
        line.push_str(&cell(tally).replace("<td", "<th").replace("</td>", "</th>"));
    }
    let _ = writeln!(out, "{line}</tr>\n</table>");
}

fn write_filters(out: &mut String, report: &Report) {
    let areas: BTreeSet<&str> = report.results.iter().map(|r| r.area.as_str()).collect();
    let options = |values: &mut dyn Iterator<Item = &str>| {
        let mut text = "<option value=\"\">all</option>".to_owned();
        for value in values {
            let _ = write!(text, "<option value=\"{0}\">{0}</option>", escape(value));
        }
        text
    };
    let _ = writeln!(
        out,
        "<div class=\"filters\">\
         <label>level <select id=\"level\">{}</select></label>\
         <label>area <select id=\"area\">{}</select></label>\
         <label>status <select id=\"status\">{}</select></label>\
         <label>id <input id=\"text\" type=\"search\" placeholder=\"preflight.\"></label>\
         <span><span id=\"shown\">{}</span> cases shown</span></div>",
        options(&mut Level::ALL.iter().map(|level| level.as_str())),
        options(&mut areas.into_iter()),
        options(&mut ["fail", "error", "known", "pass"].into_iter()),
        report.results.len()
    );
}

fn write_case(out: &mut String, result: &CaseResult) {
    let status = status(result);
    let open = if matches!(status, "fail" | "error") { " open" } else { "" };
    let _ = writeln!(
        out,
        "<details class=\"case {status}\" data-level=\"{}\" data-area=\"{}\" data-status=\"{status}\" data-id=\"{}\"{open}>",
        result.level,
        escape(&result.area),
        escape(&result.id)
    );
    let _ = writeln!(
        out,
        "<summary><span class=\"status\">{status}</span><span class=\"id\">{}</span> \
         <span class=\"tags\">[{} {}]</span> {}</summary>",
        escape(&result.id),
        result.level,
        escape(&result.profile),
        escape(&result.title)
    );
    let _ = writeln!(out, "<h4>Request</h4><pre>{}</pre>", escape(&result.request.join("\n")));
    let _ = writeln!(out, "<h4>Expected</h4><ul>");
    for line in &result.expected {
        let _ = writeln!(out, "<li>{}</li>", escape(line));
    }
    let _ = writeln!(out, "</ul>");
    let _ = write!(out, "<h4>Actual</h4>");
    match (&result.observed, &result.outcome) {
        (Some(observed), _) => {
            let mut text = format!(
                "status {}, {}, body {} bytes",
                observed.status,
                if observed.forwarded { "forwarded" } else { "not forwarded" },
                observed.body_len
            );
            for (name, value) in &observed.headers {
                let _ = write!(text, "\n{name}: {}", crate::check::escape(value));
            }
            let _ = writeln!(out, "<pre>{}</pre>", escape(&text));
        }
        (None, Outcome::Error { message }) => {
            let _ = writeln!(out, "<pre>no answer: {}</pre>", escape(message));
        }
        (None, _) => {
            let _ = writeln!(out, "<pre>no answer</pre>");
        }
    }
    let differences = mismatches(result);
    if !differences.is_empty() {
        let _ = writeln!(out, "<h4>Difference</h4><ul class=\"diff\">");
        for mismatch in differences {
            let _ = writeln!(out, "<li>{}</li>", escape(&mismatch.to_string()));
        }
        let _ = writeln!(out, "</ul>");
    }
    if let Outcome::KnownFailure { reason, .. } = &result.outcome {
        let _ = writeln!(out, "<p>Known failure: {}</p>", escape(reason));
    }
    let _ = writeln!(out, "<h4>Sources</h4><ul>");
    for url in &result.spec {
        let _ = writeln!(out, "<li><a href=\"{0}\">{0}</a></li>", escape(url));
    }
    for path in &result.wpt {
        let _ = writeln!(
            out,
            "<li>WPT <a href=\"https://github.com/web-platform-tests/wpt/blob/master/{0}\">{0}</a></li>",
            escape(path)
        );
    }
    if !result.rules.is_empty() {
        let _ = writeln!(
            out,
            "<li>cors-toolkit behaviour rules {} (docs/behaviour.md)</li>",
            escape(&result.rules.join(", "))
        );
    }
    let _ = writeln!(out, "</ul>\n</details>");
}

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_answers_is_escaped() {
        assert_eq!(escape("<script>\"x\" & 'y'"), "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;");
    }
}
