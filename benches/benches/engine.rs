//! Engine micro benches (issue 11): one criterion group per scenario.
//!
//! - Decisions: `engine-not-cors`, `engine-actual-allowed`, `engine-actual-blocked`,
//!   `engine-preflight-accepted` (3 requested headers), `engine-preflight-rejected-origin`,
//!   `-method`, `-header`, `engine-public`, `engine-public-credentials`, `engine-same-origin`.
//! - Scale: `engine-scale-{1,100,10000}-exact` and `engine-scale-1000-subdomains`, functions
//!   `first`, `last`, `absent` (where the request's origin is listed).
//! - Hostile input: `engine-hostile-acrh-64k-commas`, `engine-hostile-acrh-1000-names`,
//!   `engine-hostile-origin-8k`.
//! - Parsing: `origin-parse-request` (`RequestOrigin::parse`), `origin-parse-config`
//!   (`Origin::parse`), `policy-load` (`Policy::from_yaml_str` of a 1 000-origin file).
//!
//! `CORS_BENCH_QUICK=1` keeps fewer scale cases (what `cargo xtask bench --quick` runs).
//! `CORS_BENCH_POLICY=FILE` measures the requests derived from that policy instead
//! (`engine-policy-*`, see `cors_benches::UserPolicy`).

use std::hint::black_box;

use cors_benches::{EngineCase, UserPolicy, engine_cases, origin_inputs, policy_file_1000_origins};
use cors_origin::{Origin, RequestOrigin};
use cors_policy::Policy;
use criterion::{Criterion, criterion_group, criterion_main};

fn quick() -> bool {
    std::env::var_os("CORS_BENCH_QUICK").is_some_and(|value| value != "0")
}

fn decisions(c: &mut Criterion) {
    let cases = match UserPolicy::from_env_or_exit() {
        Some(user) => user.engine_cases(),
        None => engine_cases(quick()),
    };
    let mut start = 0;
    while start < cases.len() {
        let group_name = cases[start].group;
        let end = cases[start..]
            .iter()
            .position(|case| case.group != group_name)
            .map_or(cases.len(), |offset| start + offset);
        let mut group = c.benchmark_group(group_name);
        for case in &cases[start..end] {
            bench_case(&mut group, case);
        }
        group.finish();
        start = end;
    }
}

fn bench_case(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    case: &EngineCase,
) {
    if let Err(message) = case.check() {
        panic!("{message}");
    }
    let request = case.request();
    group.bench_function(case.function, |b| {
        b.iter(|| black_box(case.engine.decide(black_box(&request))).outcome());
    });
}

fn parsing(c: &mut Criterion) {
    if std::env::var_os(cors_benches::POLICY_ENV).is_some() {
        return;
    }
    let inputs = origin_inputs();
    let mut group = c.benchmark_group("origin-parse-request");
    for (name, input) in inputs.iter().filter(|(name, _)| *name != "idna") {
        assert!(RequestOrigin::parse(input.as_bytes()).is_ok(), "{name}: {input} must parse");
        group.bench_function(*name, |b| {
            b.iter(|| RequestOrigin::parse(black_box(input.as_bytes())).is_ok());
        });
    }
    group.finish();

    let mut group = c.benchmark_group("origin-parse-config");
    for (name, input) in inputs.iter().filter(|(name, _)| *name != "null") {
        assert!(Origin::parse(input).is_ok(), "{name}: {input} must parse");
        group.bench_function(*name, |b| b.iter(|| Origin::parse(black_box(input))));
    }
    group.finish();

    let file = policy_file_1000_origins();
    assert!(Policy::from_yaml_str(&file, "bench.yaml").is_ok(), "the 1 000-origin file loads");
    let mut group = c.benchmark_group("policy-load");
    group.sample_size(10);
    group.bench_function("1000-origins", |b| {
        b.iter(|| Policy::from_yaml_str(black_box(&file), "bench.yaml"));
    });
    group.finish();
}

criterion_group!(benches, decisions, parsing);
criterion_main!(benches);
