//! Runs one engine case or layer scenario many times, for a profiler:
//!
//! ```text
//! cargo build --profile bench -p cors-benches --example profile
//! valgrind --tool=callgrind --toggle-collect='*measured*' \
//!     target/release/examples/profile engine-actual-allowed/decide 10000
//! valgrind --tool=callgrind target/release/examples/profile layer-actual-allowed/cors-hyper 100000
//! ```
//!
//! Ids are the criterion ids of `benches/engine.rs` and `benches/layer.rs`; with
//! `CORS_BENCH_POLICY=FILE`, those of the requests derived from that policy
//! (`engine-policy-*/decide`, `layer-policy-*/bare-tower`, `layer-policy-*/cors-hyper`, and
//! `layer-policy-*/tower-http`, `/bare-actix` and `/actix-cors` where those peers are measured:
//! `UserPolicy::visit_services`).
//! `cargo xtask bench --instructions` runs it under callgrind with collection only inside
//! [`measured`] (`--toggle-collect`), after 100 calls of warm-up, and divides by the iterations:
//! the instructions of one call, without the setup, the same in every run. Layer ids build a
//! request per iteration, as the bare handler's do, so a middleware's own instructions are its
//! count minus its bare handler's.

use std::hint::black_box;
use std::process::ExitCode;

use cors_benches::{
    DerivedRequest, EngineCase, Implementation, LayerScenario, Subject, UserPolicy, Visit,
    actix_bare, actix_cors, bare_tower, cors_hyper, engine_cases_in, tower_http,
};

/// Calls of warm-up before the measured ones: pools and lazily built state are filled by then.
const WARM_UP: u64 = 100;

/// Calls `call` `times` times: the only function whose instructions `cargo xtask bench
/// --instructions` counts (callgrind's `--toggle-collect=*measured*`), so it is never inlined.
/// Generic, so that `call` is inlined into it as into a plain loop.
#[inline(never)]
fn measured(times: u64, mut call: impl FnMut()) {
    for _ in 0..times {
        call();
    }
}

/// Warms `call` up, then measures it.
fn run(times: u64, mut call: impl FnMut()) {
    for _ in 0..WARM_UP {
        call();
    }
    measured(times, call);
}

fn repeat<M: Subject>(subject: &M, make: impl Fn() -> M::Request, times: u64) {
    run(times, || drop(black_box(subject.call(make()))));
}

fn decide(case: &EngineCase, times: u64) {
    let request = case.request();
    run(times, || {
        black_box(case.engine.decide(black_box(&request)).outcome());
    });
}

/// Runs `id` of the user's policy; false when it names none of its requests.
fn user_policy(user: &UserPolicy, id: &str, times: u64) -> bool {
    /// Runs the one service whose criterion id is `id`.
    struct Run<'i> {
        id: &'i str,
        times: u64,
        found: bool,
    }
    impl Visit for Run<'_> {
        fn visit<M: Subject>(
            &mut self,
            derived: &DerivedRequest,
            implementation: Implementation,
            subject: &M,
        ) {
            if self.id == format!("{}/{}", derived.layer_group, implementation.id()) {
                let make = || subject.request_for(derived.method, &derived.fields);
                repeat(subject, make, self.times);
                self.found = true;
            }
        }
    }
    if let Some(case) = user.engine_cases().into_iter().find(|case| case.id() == id) {
        decide(&case, times);
        return true;
    }
    let mut run = Run { id, times, found: false };
    user.visit_services(&mut run);
    run.found
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(id), times) = (args.next(), args.next()) else {
        eprintln!("usage: profile GROUP/FUNCTION [TIMES]");
        return ExitCode::FAILURE;
    };
    let times: u64 = times.and_then(|t| t.parse().ok()).unwrap_or(100_000);
    if let Some(user) = UserPolicy::from_env_or_exit() {
        if user_policy(&user, &id, times) {
            return ExitCode::SUCCESS;
        }
        eprintln!("unknown id {id:?} for the policy {}", user.file.display());
        return ExitCode::FAILURE;
    }
    let group = id.split('/').next().unwrap_or_default();
    if id.starts_with("engine-")
        && let Some(case) =
            engine_cases_in(false, Some(group)).into_iter().find(|case| case.id() == id)
    {
        decide(&case, times);
        return ExitCode::SUCCESS;
    }
    let layer = LayerScenario::ALL.into_iter().find_map(|scenario| {
        let rest = id.strip_prefix("layer-")?.strip_prefix(scenario.id())?.strip_prefix('/')?;
        Implementation::ALL.into_iter().find(|i| i.id() == rest).map(|i| (scenario, i))
    });
    match layer {
        Some((scenario, Implementation::BareTower)) => {
            let subject = bare_tower();
            repeat(&subject, || subject.request(scenario), times);
        }
        Some((scenario, Implementation::CorsHyper)) => {
            let subject = cors_hyper(scenario);
            repeat(&subject, || subject.request(scenario), times);
        }
        Some((scenario, Implementation::TowerHttp)) => {
            let subject = tower_http(scenario);
            repeat(&subject, || subject.request(scenario), times);
        }
        Some((scenario, Implementation::BareActix)) => {
            let subject = actix_bare();
            repeat(&subject, || subject.request(scenario), times);
        }
        Some((scenario, Implementation::ActixCors)) => {
            let subject = actix_cors(scenario);
            repeat(&subject, || subject.request(scenario), times);
        }
        _ => {
            eprintln!("unknown id {id:?}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
