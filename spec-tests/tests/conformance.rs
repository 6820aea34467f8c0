//! The conformance suite in-process: every case, under its profile, against cors-engine (as an
//! adapter applies its decisions) and against cors-hyper's tower layer.
//!
//! Zero failures are allowed except those listed in `spec-tests/known-failures.toml`, each with
//! a reason; an entry that no longer fails makes the test fail too. Set `CONFORMANCE_FILTER` to
//! run only the cases whose id contains its value.

use cors_conformance::known::KnownFailures;
use cors_conformance::runner::{self, Selection};
use cors_conformance::{Corpus, EngineTarget, Target, TowerTarget, report};

#[track_caller]
fn check(target: &mut dyn Target) {
    let corpus = Corpus::builtin().unwrap_or_else(|e| panic!("case data:\n{e}"));
    let known = KnownFailures::builtin().unwrap_or_else(|e| panic!("known failures:\n{e}"));
    let filter = std::env::var("CONFORMANCE_FILTER").ok();
    let selection = Selection::all().filter(filter.as_deref());
    let report = runner::run(&corpus, &selection, target, &known, &mut |_, _| {});
    assert!(!report.results.is_empty(), "the filter selects no case");
    assert!(report.is_success(), "{}", report::text(&report));
}

#[test]
fn engine_passes_every_case() {
    let mut target = EngineTarget::new().unwrap_or_else(|e| panic!("profiles:\n{e}"));
    check(&mut target);
}

#[test]
fn tower_layer_passes_every_case() {
    let mut target = TowerTarget::new().unwrap_or_else(|e| panic!("profiles:\n{e}"));
    check(&mut target);
}
