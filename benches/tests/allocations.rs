//! The zero-allocation promise of the engine (issue 11), and no allocation added by our layer
//! beyond the response's own header entries, counted with `allocation-counter` (which replaces
//! this test binary's global allocator and counts per thread).

use cors_benches::{LayerScenario, count_engine_allocations, count_layer_allocations};

fn measure(f: &mut dyn FnMut()) -> u64 {
    allocation_counter::measure(f).count_total
}

#[test]
fn no_engine_decision_allocates() {
    let allocating: Vec<String> = count_engine_allocations(false, &mut measure)
        .into_iter()
        .filter(|row| row.allocations != 0)
        .map(|row| format!("{}/{}: {}", row.group, row.function, row.allocations))
        .collect();
    assert!(allocating.is_empty(), "decisions that allocate: {allocating:#?}");
}

/// Issue 11: "no allocation added beyond building the response itself". The handler's response
/// carries one header field, so its header map is allocated before the layer adds to it; a local
/// answer (preflight, blocked) builds its own response in place of the handler's. A mirrored
/// `Access-Control-Allow-Headers` is part of that response: joining the requested names (sent
/// as `content-type,x-token`, as browsers send them) is its one allocation
/// (`MirroredList::to_header_value`).
#[test]
fn our_layer_adds_no_allocation_to_a_call() {
    let rows = count_layer_allocations(&LayerScenario::ALL, &mut measure);
    let get = |group: &str, function: &str| {
        rows.iter()
            .find(|row| row.group == group && row.function == function)
            .map(|row| row.allocations)
            .expect("every scenario counts every implementation")
    };
    let added: Vec<String> = LayerScenario::ALL
        .iter()
        .map(|scenario| (format!("layer-{}", scenario.id()), u64::from(scenario.mirrors_headers())))
        .filter(|(group, joined)| get(group, "cors-hyper") > get(group, "bare-tower") + joined)
        .map(|(group, joined)| {
            let (ours, bare) = (get(&group, "cors-hyper"), get(&group, "bare-tower"));
            format!("{group}: {ours} > {bare} + {joined}")
        })
        .collect();
    assert!(added.is_empty(), "allocations added by the layer: {added:#?}");
}
