//! The runner: selects cases, sends each to a [`Target`], checks the answer, applies known
//! failures, and collects a [`Report`].
//!
//! [`run`] sends the cases one after the other; [`run_concurrent`] sends them from several
//! targets at once and still reports them in corpus order. Both stop at the first case whose
//! target cannot be reached at all ([`TargetError::is_unreachable`]), and say so in
//! [`Report::unreachable`] instead of failing every remaining case the same way.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::case::{Case, Corpus, Level};
use crate::check::{Mismatch, Observed, check, describe};
use crate::error::TargetError;
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
    /// Each expectation of the case, in words (`subject: expectation`).
    #[serde(default)]
    pub expected: Vec<String>,
    /// Fetch standard (or RFC) sections the case derives from.
    #[serde(default)]
    pub spec: Vec<String>,
    /// WPT files the case transcribes.
    #[serde(default)]
    pub wpt: Vec<String>,
    /// Behaviour rule ids (`docs/behaviour.md`).
    #[serde(default)]
    pub rules: Vec<String>,
    /// How it went.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What came back, when something did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observed>,
    /// How long the exchange took, in microseconds.
    #[serde(default)]
    pub micros: u64,
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
    /// Why the run stopped early: the target could not be reached at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<String>,
}

impl Report {
    /// No failure, no error, no stale known failure, and the target was reached.
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.unreachable.is_none()
            && self.stale.is_empty()
            && !self.results.iter().any(CaseResult::is_failure)
    }

    /// Results that make the run fail.
    pub fn failures(&self) -> impl Iterator<Item = &CaseResult> {
        self.results.iter().filter(|r| r.is_failure())
    }

    /// An empty report for the target named `target`.
    #[must_use]
    pub fn empty(target: &str) -> Report {
        Report {
            target: target.to_owned(),
            results: Vec::new(),
            stale: Vec::new(),
            unreachable: None,
        }
    }

    /// Appends another report's results and stale entries (used to merge per-profile runs).
    pub fn merge(&mut self, other: Report) {
        self.results.extend(other.results);
        if self.unreachable.is_none() {
            self.unreachable = other.unreachable;
        }
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

/// Runs every selected case of `corpus` against `target`, one after the other.
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
    let mut unreachable = None;
    for (done, case) in selected.into_iter().enumerate() {
        match run_case(case, &nonce, target, known) {
            Ok(result) => results.push(result),
            Err(error) => {
                unreachable = Some(error.message);
                break;
            }
        }
        progress(done + 1, total);
    }
    finish(corpus, target.name(), results, unreachable, known)
}

/// Runs every selected case of `corpus`, each worker of `targets` sending one case at a time,
/// so that as many cases are in flight as there are targets (all of the same gateway, with the
/// same name). Results are reported in corpus order, whatever order they finish in.
///
/// `progress` is called after each case with `(done, total)`, from the workers' threads.
///
/// # Panics
///
/// `targets` is empty.
pub fn run_concurrent(
    corpus: &Corpus,
    selection: &Selection,
    targets: &mut [Box<dyn Target + Send>],
    known: &KnownFailures,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Report {
    assert!(!targets.is_empty(), "run_concurrent needs at least one target");
    let name = targets[0].name().to_owned();
    let nonce = run_nonce();
    let selected: Vec<&Case> = corpus.cases().iter().filter(|c| selection.selects(c)).collect();
    let total = selected.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let slots: Mutex<Vec<Option<CaseResult>>> = Mutex::new(vec![None; total]);
    let unreachable: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for target in targets.iter_mut() {
            let (selected, nonce, next, done, stop) = (&selected, &nonce, &next, &done, &stop);
            let (slots, unreachable) = (&slots, &unreachable);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = selected.get(index) else { break };
                    match run_case(case, nonce, target.as_mut(), known) {
                        Ok(result) => lock(slots)[index] = Some(result),
                        Err(error) => {
                            stop.store(true, Ordering::Relaxed);
                            lock(unreachable).get_or_insert(error.message);
                            break;
                        }
                    }
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                }
            });
        }
    });
    let results: Vec<CaseResult> = into_inner(slots).into_iter().flatten().collect();
    finish(corpus, &name, results, into_inner(unreachable), known)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A worker that panicked cannot leave a half-written slot: each write is one assignment.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn into_inner<T>(mutex: Mutex<T>) -> T {
    mutex.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The report of a run: its results, and the known-failure entries that went stale.
fn finish(
    corpus: &Corpus,
    target: &str,
    results: Vec<CaseResult>,
    unreachable: Option<String>,
    known: &KnownFailures,
) -> Report {
    let mut stale = Vec::new();
    if unreachable.is_none() {
        for entry in known.for_target(target) {
            let why = if corpus.get(&entry.case).is_none() {
                "no case has this id any more"
            } else if results
                .iter()
                .any(|r| r.id == entry.case && matches!(r.outcome, Outcome::Pass))
            {
                "the case passes now; remove the entry"
            } else {
                continue;
            };
            stale.push(StaleEntry { case: entry.case.clone(), why: why.to_owned() });
        }
    }
    Report { target: target.to_owned(), results, stale, unreachable }
}

/// Runs one case and applies known failures.
///
/// # Errors
///
/// The target cannot be reached at all (every other error is the case's outcome).
fn run_case(
    case: &Case,
    nonce: &str,
    target: &mut dyn Target,
    known: &KnownFailures,
) -> Result<CaseResult, TargetError> {
    let case = &case.for_listener(target.listener_scheme());
    let marker = format!("{}~{nonce}", case.id);
    let started = Instant::now();
    let answer = OutgoingRequest::from_case(case, &marker)
        .and_then(|request| target.send(&case.profile, &request));
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let (outcome, observed) = match answer {
        Err(error) if error.is_unreachable() => return Err(error),
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
    Ok(CaseResult {
        id: case.id.clone(),
        area: case.area.clone(),
        level: case.level,
        profile: case.profile.clone(),
        title: case.title.clone(),
        request: std::iter::once(format!(
            "{} {}",
            case.request.method,
            target.request_target(&case.request.path)
        ))
        .chain(case.request.headers.iter().cloned())
        .collect(),
        expected: describe(&case.expect),
        spec: case.spec.clone(),
        wpt: case.wpt.clone(),
        rules: case.rules.clone(),
        outcome,
        observed,
        micros,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Answers like `Fixed` after `answers` requests, then reports the target unreachable.
    struct Dies(usize);

    impl Target for Dies {
        fn name(&self) -> &'static str {
            "fixed"
        }

        fn send(&mut self, _: &str, _: &OutgoingRequest) -> Result<Observed, TargetError> {
            if self.0 == 0 {
                return Err(TargetError::of(crate::TargetErrorKind::Unreachable, "refused"));
            }
            self.0 -= 1;
            Ok(Observed::new(200))
        }
    }

    #[test]
    fn an_unreachable_target_stops_the_run_once() {
        let corpus = Corpus::from_files([("x", CASES)]).unwrap();
        let report =
            run(&corpus, &Selection::all(), &mut Dies(1), &KnownFailures::none(), &mut |_, _| {});
        assert_eq!(report.results.len(), 1);
        assert_eq!(report.unreachable.as_deref(), Some("refused"));
        assert!(!report.is_success());
    }

    #[test]
    fn concurrent_runs_keep_the_corpus_order() {
        let corpus = Corpus::builtin().unwrap();
        let selection = Selection::all().profile("strict");
        let mut targets: Vec<Box<dyn Target + Send>> =
            (0..4).map(|_| Box::new(forwarded()) as Box<dyn Target + Send>).collect();
        let report =
            run_concurrent(&corpus, &selection, &mut targets, &KnownFailures::none(), &|_, _| {});
        let sequential =
            run(&corpus, &selection, &mut forwarded(), &KnownFailures::none(), &mut |_, _| {});
        let ids = |r: &Report| r.results.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&report), ids(&sequential));
        assert!(report.results.len() > 10);
    }

    #[test]
    fn results_carry_expectations_and_citations() {
        let corpus = Corpus::builtin().unwrap();
        let selection = Selection::all().filter(Some("preflight.put-allowed"));
        let report =
            run(&corpus, &selection, &mut forwarded(), &KnownFailures::none(), &mut |_, _| {});
        let result = &report.results[0];
        assert!(result.expected[0].starts_with("status: "), "{result:?}");
        assert!(result.spec[0].starts_with("https://fetch.spec.whatwg.org/"), "{result:?}");
        assert_eq!(result.rules, ["P1", "P2"]);
    }

    #[test]
    fn builtin_known_failures_parse() {
        KnownFailures::builtin().unwrap();
    }
}
