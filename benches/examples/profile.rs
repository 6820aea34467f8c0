//! Runs one engine case or layer scenario many times, for a profiler:
//!
//! ```text
//! cargo build --release -p cors-benches --example profile
//! valgrind --tool=callgrind target/release/examples/profile engine-actual-allowed/decide 100000
//! valgrind --tool=callgrind target/release/examples/profile layer-actual-allowed/cors-hyper 100000
//! ```
//!
//! Ids are the criterion ids of `benches/engine.rs` and `benches/layer.rs`.
//! `cargo xtask bench --instructions` runs it under callgrind twice per id (with 1 000 and
//! 11 000 iterations) and reports the difference divided by 10 000: the instructions of one call,
//! without the setup. Layer ids build a request per iteration, as the bare handler's do, so a
//! middleware's own instructions are its count minus its bare handler's.

use std::hint::black_box;
use std::process::ExitCode;

use cors_benches::{
    Implementation, LayerScenario, Subject, actix_bare, actix_cors, bare_tower, cors_hyper,
    engine_cases_in, tower_http,
};

fn repeat<M: Subject>(subject: &M, scenario: LayerScenario, times: u64) {
    for _ in 0..times {
        let request = subject.request(scenario);
        black_box(subject.call(request));
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(id), times) = (args.next(), args.next()) else {
        eprintln!("usage: profile GROUP/FUNCTION [TIMES]");
        return ExitCode::FAILURE;
    };
    let times: u64 = times.and_then(|t| t.parse().ok()).unwrap_or(100_000);
    let group = id.split('/').next().unwrap_or_default();
    if id.starts_with("engine-")
        && let Some(case) =
            engine_cases_in(false, Some(group)).into_iter().find(|case| case.id() == id)
    {
        let request = case.request();
        for _ in 0..times {
            black_box(case.engine.decide(black_box(&request)).outcome());
        }
        return ExitCode::SUCCESS;
    }
    let layer = LayerScenario::ALL.into_iter().find_map(|scenario| {
        let rest = id.strip_prefix("layer-")?.strip_prefix(scenario.id())?.strip_prefix('/')?;
        Implementation::ALL.into_iter().find(|i| i.id() == rest).map(|i| (scenario, i))
    });
    match layer {
        Some((scenario, Implementation::BareTower)) => repeat(&bare_tower(), scenario, times),
        Some((scenario, Implementation::CorsHyper)) => {
            repeat(&cors_hyper(scenario), scenario, times);
        }
        Some((scenario, Implementation::TowerHttp)) => {
            repeat(&tower_http(scenario), scenario, times);
        }
        Some((scenario, Implementation::BareActix)) => repeat(&actix_bare(), scenario, times),
        Some((scenario, Implementation::ActixCors)) => {
            repeat(&actix_cors(scenario), scenario, times);
        }
        _ => {
            eprintln!("unknown id {id:?}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
