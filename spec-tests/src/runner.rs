//! The runner: selects cases, sends each to a [`Target`], checks the answer, applies known
//! failures, and collects a [`Report`].

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::case::{Case, Corpus, Level};
use crate::check::{Mismatch, Observed, check};
use crate::known::KnownFailures;
use crate::target::{OutgoingRequest, Target};

/// Which cases to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Selection {
    /// Only cases that need this profile.
    pub profile: Option<String>,
    /// Only cases whose id contains this text.
    pub filter: Option<String>,
    /// Only cases of these levels (all levels when empty).
    pub levels: Vec<Level>,
}

impl Selection {
    /// Every case.
    #[must_use]
    pub fn all() -> Selection {
        Selection::default()
    }

    /// Only cases that need `profile`.
    #[must_use]
    pub fn profile(mut self, profile: &str) -> Selection {
        self.profile = Some(profile.to_owned());
        self
    }

    /// Only cases whose id contains `filter`.
    #[must_use]
    pub fn filter(mut self, filter: Option<&str>) -> Selection {
        self.filter = filter.map(str::to_owned);
        self
    }

    /// Only cases of these levels (all when empty).
    #[must_use]
    pub fn levels(mut self, levels: Vec<Level>) -> Selection {
        self.levels = levels;
        self
    }

    /// Whether `case` is selected.
    #[must_use]
    pub fn selects(&self, case: &Case) -> bool {
        self.profile.as_ref().is_none_or(|p| *p == case.profile)
            && self.filter.as_ref().is_none_or(|f| case.id.contains(f.as_str()))
            && (self.levels.is_empty() || self.levels.contains(&case.level))
    }
}

/// How one case went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Outcome {
    /// Every expectation held.
    Pass,
    /// Some expectations did not hold.
    Fail {
        /// Each expectation that failed.
        mismatches: Vec<Mismatch>,
    },
    /// Failed, as `known-failures.toml` says it does.
    KnownFailure {
        /// The reason given in the known-failures file.
        reason: String,
        /// Each expectation that failed.
        mismatches: Vec<Mismatch>,
    },
    /// The target gave no answer.
    Error {
        /// What went wrong.
        message: String,
    },
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CaseResult {
    /// The case id.
    pub id: String,
    /// The case's area.
    pub area: String,
    /// The case's level.
    pub level: Level,
    /// The profile the case needs.
    pub profile: String,
    /// The case title.
    pub title: String,
    /// The request sent: the request line, then one header line per entry.
    pub request: Vec<String>,
    /// How it went.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What came back, when something did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observed>,
}

impl CaseResult {
    /// Whether this result makes the run fail.
    #[must_use]
    pub fn is_failure(&self) -> bool {
        matches!(self.outcome, Outcome::Fail { .. } | Outcome::Error { .. })
    }
}

/// A known-failure entry that no longer applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StaleEntry {
    /// The case id of the entry.
    pub case: String,
    /// Why it is stale.
    pub why: String,
}

/// Everything a run found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// The target's name.
    pub target: String,
    /// One result per selected case, in corpus order.
    pub results: Vec<CaseResult>,
    /// Known-failure entries that went stale.
    pub stale: Vec<StaleEntry>,
}

impl Report {
    /// No failure, no error, no stale known failure.
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.stale.is_empty() && !self.results.iter().any(CaseResult::is_failure)
    }

    /// Results that make the run fail.
    pub fn failures(&self) -> impl Iterator<Item = &CaseResult> {
        self.results.iter().filter(|r| r.is_failure())
    }

    /// An empty report for the target named `target`.
    #[must_use]
    pub fn empty(target: &str) -> Report {
        Report { target: target.to_owned(), results: Vec::new(), stale: Vec::new() }
    }

    /// Appends another report's results and stale entries (used to merge per-profile runs).
    pub fn merge(&mut self, other: Report) {
        self.results.extend(other.results);
        for stale in other.stale {
            if !self.stale.contains(&stale) {
                self.stale.push(stale);
            }
        }
    }
}

/// A marker nonce unique to this process and moment, so reruns against a long-lived upstream
/// never see an earlier run's requests.
#[must_use]
pub fn run_nonce() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{:x}{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

/// Runs every selected case of `corpus` against `target`.
///
/// `progress` is called after each case with `(done, total)`.
/// Known-failure entries for this target whose case is selected and passes, or whose case does
/// not exist, are reported stale.
pub fn run(
    corpus: &Corpus,
    selection: &Selection,
    target: &mut dyn Target,
    known: &KnownFailures,
    progress: &mut dyn FnMut(usize, usize),
) -> Report {
    let nonce = run_nonce();
    let selected: Vec<&Case> = corpus.cases().iter().filter(|c| selection.selects(c)).collect();
    let total = selected.len();
    let mut results = Vec::with_capacity(total);
    for (done, case) in selected.into_iter().enumerate() {
        results.push(run_case(case, &nonce, target, known));
        progress(done + 1, total);
    }
    let mut stale = Vec::new();
    for entry in known.for_target(target.name()) {
        let why = if corpus.get(&entry.case).is_none() {
            "no case has this id any more"
        } else if results.iter().any(|r| r.id == entry.case && matches!(r.outcome, Outcome::Pass)) {
            "the case passes now; remove the entry"
        } else {
            continue;
        };
        stale.push(StaleEntry { case: entry.case.clone(), why: why.to_owned() });
    }
    Report { target: target.name().to_owned(), results, stale }
}

/// Runs one case and applies known failures.
fn run_case(
    case: &Case,
    nonce: &str,
    target: &mut dyn Target,
    known: &KnownFailures,
) -> CaseResult {
    let marker = format!("{}~{nonce}", case.id);
    let answer = OutgoingRequest::from_case(case, &marker)
        .and_then(|request| target.send(&case.profile, &request));
    let (outcome, observed) = match answer {
        Err(error) => (Outcome::Error { message: error.to_string() }, None),
        Ok(observed) => {
            let mismatches = check(&case.expect, &observed);
            let outcome = if mismatches.is_empty() {
                Outcome::Pass
            } else if let Some(entry) = known.get(target.name(), &case.id) {
                Outcome::KnownFailure { reason: entry.reason.clone(), mismatches }
            } else {
                Outcome::Fail { mismatches }
            };
            (outcome, Some(observed))
        }
    };
    CaseResult {
        id: case.id.clone(),
        area: case.area.clone(),
        level: case.level,
        profile: case.profile.clone(),
        title: case.title.clone(),
        request: std::iter::once(format!("{} {}", case.request.method, case.request.path))
            .chain(case.request.headers.iter().cloned())
            .collect(),
        outcome,
        observed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TargetError;

    /// Answers every request the same way.
    struct Fixed(Observed);

    impl Target for Fixed {
        fn name(&self) -> &'static str {
            "fixed"
        }

        fn send(&mut self, _: &str, _: &OutgoingRequest) -> Result<Observed, TargetError> {
            Ok(self.0.clone())
        }
    }

    const CASES: &str = r#"
[[case]]
id = "x.forwarded"
title = "forwarded"
level = "ours"
profile = "strict"
rules = ["R1"]
request = {}
expect = { forwarded = true }

[[case]]
id = "x.answered"
title = "answered"
level = "flex"
profile = "strict"
rules = ["A2"]
request = {}
expect = { forwarded = false }
"#;

    fn forwarded() -> Fixed {
        let mut observed = Observed::new(200);
        observed.forwarded = true;
        Fixed(observed)
    }

    #[track_caller]
    fn check(known: &str, expect_success: bool, expect_stale: &[&str]) -> Report {
        let corpus = Corpus::from_files([("x", CASES)]).unwrap();
        let known = KnownFailures::parse(known, "known.toml").unwrap();
        let report = run(&corpus, &Selection::all(), &mut forwarded(), &known, &mut |_, _| {});
        assert_eq!(report.is_success(), expect_success, "{report:#?}");
        let stale: Vec<&str> = report.stale.iter().map(|s| s.case.as_str()).collect();
        assert_eq!(stale, expect_stale);
        report
    }

    #[test]
    fn a_failure_fails_the_run_and_names_case_and_expectation() {
        let report = check("", false, &[]);
        let failure = report.failures().next().unwrap();
        assert_eq!(failure.id, "x.answered");
        let Outcome::Fail { mismatches } = &failure.outcome else { panic!("{failure:?}") };
        assert_eq!(mismatches[0].subject, "forwarded");
    }

    #[test]
    fn a_known_failure_with_its_reason_passes_the_run() {
        let known = "[[failure]]\ncase = \"x.answered\"\ntargets = [\"fixed\"]\nreason = \"r\"\n";
        let report = check(known, true, &[]);
        assert!(
            matches!(&report.results[1].outcome, Outcome::KnownFailure { reason, .. } if reason == "r")
        );
    }

    #[test]
    fn a_known_failure_for_another_target_does_not_apply() {
        let known = "[[failure]]\ncase = \"x.answered\"\ntargets = [\"engine\"]\nreason = \"r\"\n";
        check(known, false, &[]);
    }

    #[test]
    fn a_known_failure_that_passes_is_stale() {
        let known = "[[failure]]\ncase = \"x.answered\"\ntargets = [\"fixed\"]\nreason = \"r\"\n\n\
                     [[failure]]\ncase = \"x.forwarded\"\ntargets = [\"fixed\"]\nreason = \"fixed now\"\n";
        check(known, false, &["x.forwarded"]);
    }

    #[test]
    fn a_known_failure_of_a_missing_case_is_stale() {
        let known = "[[failure]]\ncase = \"x.answered\"\ntargets = [\"fixed\"]\nreason = \"r\"\n\n\
                     [[failure]]\ncase = \"x.gone\"\ntargets = [\"fixed\"]\nreason = \"r\"\n";
        check(known, false, &["x.gone"]);
    }

    #[test]
    fn a_known_failure_without_reason_is_rejected() {
        let known = "[[failure]]\ncase = \"x.answered\"\ntargets = [\"fixed\"]\nreason = \" \"\n";
        assert!(KnownFailures::parse(known, "known.toml").is_err());
    }

    #[test]
    fn the_filter_and_level_select_cases() {
        let corpus = Corpus::from_files([("x", CASES)]).unwrap();
        let by_id = Selection::all().filter(Some("answer"));
        let by_level = Selection::all().levels(vec![Level::Ours]);
        let pick = |s: &Selection| -> Vec<&str> {
            corpus.cases().iter().filter(|c| s.selects(c)).map(|c| c.id.as_str()).collect()
        };
        assert_eq!(pick(&by_id), ["x.answered"]);
        assert_eq!(pick(&by_level), ["x.forwarded"]);
    }

    #[test]
    fn builtin_known_failures_parse() {
        KnownFailures::builtin().unwrap();
    }
}
