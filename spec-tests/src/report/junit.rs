//! The `JUnit` XML report, written with quick-junit: one `testsuite` per area, one `testcase` per
//! case (classname `AREA.LEVEL`), each with its time; known failures are `skipped`, failures
//! `failure`, unanswered cases `error`, stale known-failure entries failures of their own suite.

use std::time::Duration;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::{mismatches, tallies};
use crate::runner::{CaseResult, Outcome, Report};

/// The `JUnit` XML report.
#[must_use]
pub fn junit(report: &Report) -> String {
    let mut junit = quick_junit::Report::new(format!("cors-conformance {}", report.target));
    let mut total = Duration::ZERO;
    for (area, _) in tallies(report) {
        let mut suite = TestSuite::new(area.as_str());
        let mut time = Duration::ZERO;
        for result in report.results.iter().filter(|r| r.area == area) {
            let case = test_case(&area, result);
            time += Duration::from_micros(result.micros);
            suite.add_test_case(case);
        }
        suite.set_time(time);
        total += time;
        junit.add_test_suite(suite);
    }
    if !report.stale.is_empty() {
        let mut suite = TestSuite::new("known-failures");
        for stale in &report.stale {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(format!("stale: {}", stale.why));
            let mut case = TestCase::new(stale.case.as_str(), status);
            case.set_classname("known-failures");
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    if let Some(why) = &report.unreachable {
        let mut suite = TestSuite::new("target");
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(format!("the target is unreachable: {why}"));
        let mut case = TestCase::new("reachable", status);
        case.set_classname("target");
        suite.add_test_case(case);
        junit.add_test_suite(suite);
    }
    junit.set_time(total);
    junit.to_string().unwrap_or_else(|e| format!("<!-- cannot write the JUnit report: {e} -->\n"))
}

fn test_case(area: &str, result: &CaseResult) -> TestCase {
    let detail = || {
        let problems: Vec<String> = mismatches(result).iter().map(ToString::to_string).collect();
        let got = result.observed.as_ref().map(ToString::to_string).unwrap_or_default();
        let sources = super::sources(result).map(|s| format!("sources: {s}\n")).unwrap_or_default();
        format!(
            "{}\n{sources}{}\n{}\ngot: {got}",
            result.title,
            result.request.join("\n"),
            problems.join("\n")
        )
    };
    let status = match &result.outcome {
        Outcome::Pass => TestCaseStatus::success(),
        Outcome::KnownFailure { reason, .. } => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(format!("known failure: {reason}"));
            status
        }
        Outcome::Fail { mismatches } => {
            let message: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(message.join("; "));
            status.set_description(detail());
            status
        }
        Outcome::Error { message } => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(message.as_str());
            status
        }
    };
    let mut case = TestCase::new(result.id.as_str(), status);
    case.set_classname(format!("{area}.{}", result.level));
    case.set_time(Duration::from_micros(result.micros));
    case
}
