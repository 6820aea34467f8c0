//! Heap allocations per engine decision and per middleware call.
//!
//! The counting itself is the caller's (`allocation-counter` replaces the global allocator of the
//! binary that names it, so only the `allocations` bench and test name it): it passes `measure`,
//! which runs a closure and returns how many allocations the current thread made meanwhile.

use std::hint::black_box;

use crate::actix_side::{actix_bare, actix_cors};
use crate::engine_cases::{EngineCase, engine_cases};
use crate::scenario::{Implementation, LayerScenario, Subject};
use crate::tower_side::{bare_tower, cors_hyper, tower_http};
use crate::user_policy::{DerivedRequest, UserPolicy, Visit};

/// Runs a closure and returns how many heap allocations it made on this thread.
pub type Measure<'a> = &'a mut dyn FnMut(&mut dyn FnMut()) -> u64;

/// The allocations of one criterion benchmark id (`group/function`) per call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllocationRow {
    /// The criterion group.
    pub group: String,
    /// The criterion function.
    pub function: String,
    /// Heap allocations of one call (after warm-up).
    pub allocations: u64,
}

/// Allocations of one [`cors_engine::Engine::decide`] per engine case (`quick` as in
/// [`engine_cases`]).
///
/// # Panics
/// When a case does not decide as its name says (see [`crate::EngineCase::check`]).
pub fn count_engine_allocations(quick: bool, measure: Measure<'_>) -> Vec<AllocationRow> {
    count_cases(engine_cases(quick), measure)
}

/// Allocations of one decision per case.
fn count_cases(cases: Vec<EngineCase>, measure: Measure<'_>) -> Vec<AllocationRow> {
    cases
        .into_iter()
        .map(|case| {
            if let Err(message) = case.check() {
                panic!("{message}");
            }
            let request = case.request();
            let allocations = measure(&mut || {
                black_box(case.engine.decide(black_box(&request)));
            });
            AllocationRow {
                group: case.group.to_owned(),
                function: case.function.to_owned(),
                allocations,
            }
        })
        .collect()
}

/// The allocations of one call of `subject` on the request `make` builds, after three warm-up
/// calls (pools and lazily built state are filled by then); the request is built and the
/// response dropped outside the count.
fn count_calls<M: Subject>(
    subject: &M,
    make: impl Fn() -> M::Request,
    measure: Measure<'_>,
) -> u64 {
    for _ in 0..3 {
        drop(subject.call(make()));
    }
    let mut request = Some(make());
    let mut response = None;
    let allocations = measure(&mut || {
        if let Some(request) = request.take() {
            response = Some(subject.call(request));
        }
    });
    drop(response);
    allocations
}

/// Allocations of one call of every [`Implementation`] on each of `scenarios`; a middleware's own
/// allocations are its row minus its [`Implementation::baseline`]'s.
pub fn count_layer_allocations(
    scenarios: &[LayerScenario],
    measure: Measure<'_>,
) -> Vec<AllocationRow> {
    let mut rows = Vec::new();
    for &scenario in scenarios {
        for implementation in Implementation::ALL {
            let allocations = match implementation {
                Implementation::BareTower => count_scenario(&bare_tower(), scenario, measure),
                Implementation::CorsHyper => {
                    count_scenario(&cors_hyper(scenario), scenario, measure)
                }
                Implementation::TowerHttp => {
                    count_scenario(&tower_http(scenario), scenario, measure)
                }
                Implementation::BareActix => count_scenario(&actix_bare(), scenario, measure),
                Implementation::ActixCors => {
                    count_scenario(&actix_cors(scenario), scenario, measure)
                }
            };
            rows.push(AllocationRow {
                group: format!("layer-{}", scenario.id()),
                function: implementation.id().to_owned(),
                allocations,
            });
        }
    }
    rows
}

fn count_scenario<M: Subject>(subject: &M, scenario: LayerScenario, measure: Measure<'_>) -> u64 {
    count_calls(subject, || subject.request(scenario), measure)
}

/// Allocations of the engine, and of every service measured on the requests derived from the
/// user's policy ([`UserPolicy::visit_services`]; ids as in the benches: `engine-policy-*`,
/// `layer-policy-*`).
///
/// # Panics
/// When a derived request no longer decides as it did when derived.
pub fn count_user_allocations(user: &UserPolicy, measure: Measure<'_>) -> Vec<AllocationRow> {
    struct Count<'m> {
        measure: Measure<'m>,
        rows: Vec<AllocationRow>,
    }
    impl Visit for Count<'_> {
        fn visit<M: Subject>(
            &mut self,
            derived: &DerivedRequest,
            implementation: Implementation,
            subject: &M,
        ) {
            let make = || subject.request_for(derived.method, &derived.fields);
            self.rows.push(AllocationRow {
                group: derived.layer_group.to_owned(),
                function: implementation.id().to_owned(),
                allocations: count_calls(subject, make, &mut *self.measure),
            });
        }
    }
    let rows = count_cases(user.engine_cases(), &mut *measure);
    let mut count = Count { measure, rows };
    user.visit_services(&mut count);
    count.rows
}
