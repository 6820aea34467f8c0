//! Layer-level benches (issue 11): our tower layer, tower-http's `CorsLayer` and actix-cors,
//! configured as the reference policy of `performance.md`, over the same trivial handler and the
//! same requests, in the same run; the bare handlers are measured too, so that each middleware's
//! own cost is its time minus its bare handler's.
//!
//! One criterion group per scenario (`layer-actual-allowed`, `layer-actual-disallowed`,
//! `layer-preflight`, `layer-preflight-mirrored`, `layer-no-origin`, `layer-last-of-1000`, `layer-last-of-10000`), one
//! function per implementation (`bare-tower`, `cors-hyper`, `tower-http`, `bare-actix`,
//! `actix-cors`). Requests are built, and responses dropped, outside the timed section.
//!
//! `CORS_BENCH_QUICK=1` keeps five scenarios (what `cargo xtask bench --quick` runs).
//! `CORS_BENCH_POLICY=FILE` measures our layer and the bare handler on the requests derived from
//! that policy instead (`layer-policy-*`, see `cors_benches::UserPolicy`), and tower-http and
//! actix-cors configured as the policy on those they answer as ours does
//! (`UserPolicy::visit_services`).

use cors_benches::{
    DerivedRequest, Implementation, LayerScenario, Subject, UserPolicy, Visit, actix_bare,
    actix_cors, bare_tower, cors_hyper, tower_http,
};
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, criterion_group, criterion_main};

fn quick() -> bool {
    std::env::var_os("CORS_BENCH_QUICK").is_some_and(|value| value != "0")
}

/// Measures `subject` on requests from `make` (built, and responses dropped, outside the timed
/// section).
fn bench<M: Subject>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    subject: &M,
    make: impl Fn() -> M::Request,
) {
    group.bench_function(id, |b| {
        b.iter_batched(&make, |request| subject.call(request), BatchSize::SmallInput);
    });
}

/// One scenario's implementation, on the scenario's request.
fn bench_scenario<M: Subject>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    implementation: Implementation,
    subject: &M,
    scenario: LayerScenario,
) {
    bench(group, implementation.id(), subject, || subject.request(scenario));
}

/// Measures each service of the user's policy on each derived request
/// ([`UserPolicy::visit_services`]), in the request's group.
struct Bench<'c>(&'c mut Criterion);

impl Visit for Bench<'_> {
    fn visit<M: Subject>(
        &mut self,
        derived: &DerivedRequest,
        implementation: Implementation,
        subject: &M,
    ) {
        let mut group = self.0.benchmark_group(derived.layer_group);
        bench(&mut group, implementation.id(), subject, || {
            subject.request_for(derived.method, &derived.fields)
        });
        group.finish();
    }
}

fn layers(c: &mut Criterion) {
    if let Some(user) = UserPolicy::from_env_or_exit() {
        user.visit_services(&mut Bench(c));
        return;
    }
    let scenarios: &[LayerScenario] = if quick() {
        &[
            LayerScenario::ActualAllowed,
            LayerScenario::Preflight,
            LayerScenario::PreflightMirrored,
            LayerScenario::NoOrigin,
            LayerScenario::LastOf10000,
        ]
    } else {
        &LayerScenario::ALL
    };
    for &scenario in scenarios {
        let mut group = c.benchmark_group(format!("layer-{}", scenario.id()));
        for implementation in Implementation::ALL {
            match implementation {
                Implementation::BareTower => {
                    bench_scenario(&mut group, implementation, &bare_tower(), scenario);
                }
                Implementation::CorsHyper => {
                    bench_scenario(&mut group, implementation, &cors_hyper(scenario), scenario);
                }
                Implementation::TowerHttp => {
                    bench_scenario(&mut group, implementation, &tower_http(scenario), scenario);
                }
                Implementation::BareActix => {
                    bench_scenario(&mut group, implementation, &actix_bare(), scenario);
                }
                Implementation::ActixCors => {
                    bench_scenario(&mut group, implementation, &actix_cors(scenario), scenario);
                }
                _ => {}
            }
        }
        group.finish();
    }
}

criterion_group!(benches, layers);
criterion_main!(benches);
