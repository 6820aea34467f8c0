//! Heap allocations per engine decision and per middleware call, counted with
//! `allocation-counter` (this binary's global allocator counts per thread).
//!
//! Not a criterion bench: it runs every scenario once after warm-up and writes
//! `allocations.json` (an array of `{group, function, allocations}`, ids as in the criterion
//! benches) to `$CORS_BENCH_OUT` (default `target/bench`), which `cargo xtask bench` reads.
//! Arguments (criterion's, passed by `cargo bench -- ...`) are ignored, except that
//! `CORS_BENCH_QUICK=1` counts the quick set.

use std::fmt::Write as _;
use std::path::PathBuf;

use cors_benches::{LayerScenario, count_engine_allocations, count_layer_allocations};

fn measure(f: &mut dyn FnMut()) -> u64 {
    allocation_counter::measure(f).count_total
}

fn main() {
    let quick = std::env::var_os("CORS_BENCH_QUICK").is_some_and(|value| value != "0");
    let mut rows = count_engine_allocations(quick, &mut measure);
    rows.extend(count_layer_allocations(&LayerScenario::ALL, &mut measure));

    let mut json = String::from("[\n");
    for (i, row) in rows.iter().enumerate() {
        let _ = writeln!(
            json,
            "  {{\"group\": \"{}\", \"function\": \"{}\", \"allocations\": {}}}{}",
            row.group,
            row.function,
            row.allocations,
            if i + 1 == rows.len() { "" } else { "," }
        );
    }
    json.push_str("]\n");

    let out = std::env::var_os("CORS_BENCH_OUT").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench"),
        PathBuf::from,
    );
    if let Err(error) = std::fs::create_dir_all(&out) {
        panic!("cannot create {}: {error}", out.display());
    }
    let path = out.join("allocations.json");
    if let Err(error) = std::fs::write(&path, json) {
        panic!("cannot write {}: {error}", path.display());
    }
    for row in &rows {
        eprintln!("allocations {}/{}: {}", row.group, row.function, row.allocations);
    }
    eprintln!("wrote {}", path.display());
}
