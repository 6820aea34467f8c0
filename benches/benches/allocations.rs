//! Heap allocations per engine decision and per middleware call, counted with
//! `allocation-counter` (this binary's global allocator counts per thread).
//!
//! Not a criterion bench: it runs every scenario once after warm-up and writes
//! `allocations.json` (an array of `{group, function, allocations}`, ids as in the criterion
//! benches) to `$CORS_BENCH_OUT` (default `target/bench`), which `cargo xtask bench` reads.
//! Arguments (criterion's, passed by `cargo bench -- ...`) are ignored, except that
//! `CORS_BENCH_QUICK=1` counts the quick set. With `CORS_BENCH_POLICY=FILE` it counts the
//! requests derived from that policy instead, and writes them to `policy-requests.json` (name,
//! method, fields, the engine's outcome, how each was derived) with the file's warnings and the
//! requests left out.

use std::path::PathBuf;

use cors_benches::{
    LayerScenario, UserPolicy, count_engine_allocations, count_layer_allocations,
    count_user_allocations,
};
use serde_json::json;

fn measure(f: &mut dyn FnMut()) -> u64 {
    allocation_counter::measure(f).count_total
}

fn write(name: &str, value: &serde_json::Value) {
    let out = std::env::var_os("CORS_BENCH_OUT").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench"),
        PathBuf::from,
    );
    if let Err(error) = std::fs::create_dir_all(&out) {
        panic!("cannot create {}: {error}", out.display());
    }
    let path = out.join(name);
    let text = serde_json::to_string_pretty(value).expect("invariant: plain JSON values");
    if let Err(error) = std::fs::write(&path, text + "\n") {
        panic!("cannot write {}: {error}", path.display());
    }
    eprintln!("wrote {}", path.display());
}

fn main() {
    let quick = std::env::var_os("CORS_BENCH_QUICK").is_some_and(|value| value != "0");
    let rows = if let Some(user) = UserPolicy::from_env_or_exit() {
        write("policy-requests.json", &user.to_json());
        count_user_allocations(&user, &mut measure)
    } else {
        let mut rows = count_engine_allocations(quick, &mut measure);
        rows.extend(count_layer_allocations(&LayerScenario::ALL, &mut measure));
        rows
    };
    for row in &rows {
        eprintln!("allocations {}/{}: {}", row.group, row.function, row.allocations);
    }
    let rows: Vec<_> = rows
        .iter()
        .map(|r| json!({ "group": r.group, "function": r.function, "allocations": r.allocations }))
        .collect();
    write("allocations.json", &serde_json::Value::Array(rows));
}
