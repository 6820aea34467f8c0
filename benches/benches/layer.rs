//! Layer-level benches (issue 11): our tower layer, tower-http's `CorsLayer` and actix-cors,
//! configured as the reference policy of `performance.md`, over the same trivial handler and the
//! same requests, in the same run; the bare handlers are measured too, so that each middleware's
//! own cost is its time minus its bare handler's.
//!
//! One criterion group per scenario (`layer-actual-allowed`, `layer-actual-disallowed`,
//! `layer-preflight`, `layer-no-origin`, `layer-last-of-1000`, `layer-last-of-10000`), one
//! function per implementation (`bare-tower`, `cors-hyper`, `tower-http`, `bare-actix`,
//! `actix-cors`). Requests are built, and responses dropped, outside the timed section.
//!
//! `CORS_BENCH_QUICK=1` keeps four scenarios (what `cargo xtask bench --quick` runs).

use cors_benches::{
    Implementation, LayerScenario, Subject, actix_bare, actix_cors, bare_tower, cors_hyper,
    tower_http,
};
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, criterion_group, criterion_main};

fn quick() -> bool {
    std::env::var_os("CORS_BENCH_QUICK").is_some_and(|value| value != "0")
}

fn bench<M: Subject>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    implementation: Implementation,
    subject: &M,
    scenario: LayerScenario,
) {
    group.bench_function(implementation.id(), |b| {
        b.iter_batched(
            || subject.request(scenario),
            |request| subject.call(request),
            BatchSize::SmallInput,
        );
    });
}

fn layers(c: &mut Criterion) {
    let scenarios: &[LayerScenario] = if quick() {
        &[
            LayerScenario::ActualAllowed,
            LayerScenario::Preflight,
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
                    bench(&mut group, implementation, &bare_tower(), scenario);
                }
                Implementation::CorsHyper => {
                    bench(&mut group, implementation, &cors_hyper(scenario), scenario);
                }
                Implementation::TowerHttp => {
                    bench(&mut group, implementation, &tower_http(scenario), scenario);
                }
                Implementation::BareActix => {
                    bench(&mut group, implementation, &actix_bare(), scenario);
                }
                Implementation::ActixCors => {
                    bench(&mut group, implementation, &actix_cors(scenario), scenario);
                }
                _ => {}
            }
        }
        group.finish();
    }
}

criterion_group!(benches, layers);
criterion_main!(benches);
