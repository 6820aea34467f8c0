//! The Envoy pair of the load test: Envoy with the cors-proxy-wasm module against Envoy with
//! its native CORS filter, same upstream, same traffic.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use super::load::{
    LOAD_SCENARIOS, LoadResult, LoadRuns, Traffic, free_port, median, median_of, probe,
};
use super::report::Row;
use crate::envoy;
use crate::process::Process;
use crate::util::root;

/// The Envoy pair's traffic: `crates/cors-proxy-wasm/envoy/bench-policy.yaml` (and
/// `native-cors.yaml`, which states the same policy) allow this origin, method and headers.
pub(super) const ENVOY_TRAFFIC: Traffic =
    Traffic { origin: "https://app.example.test", method: "PUT", headers: "content-type,x-custom" };

/// Envoy worker threads (`--concurrency`) of both Envoys of the pair.
const ENVOY_CONCURRENCY: u32 = 1;

/// The Envoy pair of the load test: Envoy with the module, Envoy with its native CORS filter.
pub(super) struct Envoys {
    /// `envoy-wasm` and `envoy-native`, with their listeners.
    pub(super) targets: [(&'static str, SocketAddr); 2],
    /// What ran: the module and its size, Envoy's version, the workers, the configurations.
    pub(super) info: Value,
    /// The two Envoy processes (each started directly, so its own process id), killed when
    /// dropped.
    pub(super) _processes: [Process; 2],
}

/// Starts both Envoys in front of `upstream`, from the configurations `cargo xtask envoy`
/// writes, and checks that both answer the benchmark traffic with CORS. The error says why the
/// pair cannot run (what is missing, and what installs it).
pub(super) fn start_envoys(dir: &Path, upstream: SocketAddr) -> Result<Envoys, String> {
    let binary = envoy::find_envoy()?;
    if !envoy::wasm_target_installed() {
        return Err("the wasm32-wasip1 Rust target is not installed; scripts/install-envoy.sh \
                    installs it"
            .to_owned());
    }
    let module = envoy::build_module()?;
    let module_bytes =
        fs::metadata(&module).map_err(|e| format!("{}: {e}", module.display()))?.len();
    let version = Command::new(&binary)
        .arg("--version")
        .output()
        .map(|output| {
            let text = String::from_utf8_lossy(&output.stdout);
            text.split_once("version:").map_or(&*text, |(_, version)| version).trim().to_owned()
        })
        .unwrap_or_default();
    let policy = root().join("crates/cors-proxy-wasm/envoy/bench-policy.yaml");
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let start = |name: &str, config: Option<&Path>| -> Result<(SocketAddr, Process), String> {
        let addr = free_port()?;
        let args = envoy::Args {
            config: config.map(Path::to_path_buf),
            native_cors: config.is_none(),
            listen: addr.into(),
            upstream: upstream.into(),
            concurrency: ENVOY_CONCURRENCY,
            module: config.map(|_| module.clone()),
        };
        let admin = dir.join("envoy").join(format!("{name}-admin.txt"));
        let command =
            envoy::command(&args, &dir.join("envoy").join(format!("{name}.yaml")), &admin)?;
        let log = dir.join(format!("{name}.log"));
        let mut process = Process::start(command, &log, Some(format!("http://{addr}")))?;
        envoy::wait_ready(&mut process.child, &admin)
            .map_err(|e| format!("{name}: {e}; see {}", log.display()))?;
        Ok((addr, process))
    };
    let (wasm_addr, wasm) = start("envoy-wasm", Some(&policy))?;
    let (native_addr, native) = start("envoy-native", None)?;

    let Traffic { origin, method, headers } = ENVOY_TRAFFIC;
    let allowed = format!("access-control-allow-origin: {origin}");
    let preflight = format!(
        "Origin: {origin}\r\nAccess-Control-Request-Method: {method}\r\n\
         Access-Control-Request-Headers: {headers}\r\n"
    );
    let mut answers = Vec::new();
    for (name, addr) in [("envoy-wasm", wasm_addr), ("envoy-native", native_addr)] {
        let actual = probe(addr, &format!("Origin: {origin}\r\n"), "GET")?;
        let options = probe(addr, &preflight, "OPTIONS")?;
        let plain = probe(addr, "", "GET")?;
        let ok = |head: &str| head.starts_with("http/1.1 200");
        let answers_as_policy = [&actual, &options, &plain].into_iter().all(|head| ok(head))
            && actual.contains(&allowed)
            && options.contains(&allowed)
            && !plain.contains("access-control-");
        if !answers_as_policy {
            return Err(format!(
                "{name} does not answer the benchmark traffic as the policy says:\n{actual}\n\n\
                 {options}\n\n{plain}"
            ));
        }
        let cors_lines = |head: &str| -> Vec<String> {
            head.lines()
                .filter(|line| line.starts_with("access-control-"))
                .map(str::to_owned)
                .collect()
        };
        answers.push([cors_lines(&actual), cors_lines(&options)]);
    }
    // Where the two answer the same traffic differently (Envoy's filter is not cors-flex).
    let mut differences = Vec::new();
    for (kind, (module, native)) in
        ["actual", "preflight"].into_iter().zip(answers[0].iter().zip(&answers[1]))
    {
        for (who, lines, other) in [("module", module, native), ("native", native, module)] {
            for line in lines.iter().filter(|line| !other.contains(line)) {
                differences.push(format!("{kind}: only {who}: {line}"));
            }
        }
    }
    if !differences.is_empty() {
        eprintln!(
            "load: note: the two Envoys' Access-Control-* headers differ: {}",
            differences.join("; ")
        );
    }
    let info = json!({
        "module": path(&module), "module_bytes": module_bytes, "envoy_version": version,
        "concurrency": ENVOY_CONCURRENCY,
        "policy": "crates/cors-proxy-wasm/envoy/bench-policy.yaml",
        "native_config": "crates/cors-proxy-wasm/envoy/native-cors.yaml",
        "cors_header_differences": differences,
    });
    Ok(Envoys {
        targets: [("envoy-wasm", wasm_addr), ("envoy-native", native_addr)],
        info,
        _processes: [wasm, native],
    })
}

/// Envoy with the module against Envoy's native CORS filter, per scenario: the medians of
/// each, and the median of the per-pair ratios (ours ÷ native requests per second; the p99
/// ratio likewise, lower is better for us there).
pub(super) fn envoy_rows(load: &LoadRuns) -> Vec<Row> {
    let info = match &load.envoy {
        Ok(info) => info,
        Err(why) => {
            return vec![Row {
                scenario: "Envoy + cors-proxy-wasm vs Envoy native CORS".to_owned(),
                ours: "skipped".to_owned(),
                peer: String::new(),
                ratio: None,
                allocations: String::new(),
                instructions: String::new(),
                target: why.clone(),
                met: None,
                numbers: json!({ "skipped": why }),
            }];
        }
    };
    let get = |scenario: &str, target: &str| {
        let id = format!("load-{scenario}/{target}");
        load.runs.iter().find(|(known, _)| *known == id).map(|(_, list)| list.as_slice())
    };
    let show = |r: LoadResult| format!("{:.0} req/s (p99 {:.2} ms)", r.rps, r.p99_ms);
    let workers = info["concurrency"].as_u64().unwrap_or(u64::from(ENVOY_CONCURRENCY));
    let mut rows = Vec::new();
    for (scenario, title) in LOAD_SCENARIOS {
        let (Some(ours), Some(native)) =
            (get(scenario, "envoy-wasm"), get(scenario, "envoy-native"))
        else {
            continue;
        };
        let pairs = ours.iter().zip(native);
        let rps_ratios: Vec<f64> = pairs.clone().map(|(a, b)| a.rps / b.rps).collect();
        let p99_ratios: Vec<f64> = pairs.map(|(a, b)| a.p99_ms / b.p99_ms).collect();
        let list = rps_ratios.iter().map(|r| format!("{r:.2}x")).collect::<Vec<_>>().join(", ");
        let (rps_ratio, p99_ratio) = (median_of(rps_ratios.clone()), median_of(p99_ratios.clone()));
        let (ours_median, native_median) = (median(ours), median(native));
        rows.push(Row {
            scenario: format!("Envoy + module: {title}"),
            ours: show(ours_median),
            peer: format!("Envoy native CORS: {}", show(native_median)),
            ratio: Some(rps_ratio),
            allocations: String::new(),
            instructions: String::new(),
            target: format!(
                "req/s ours ÷ native per back-to-back pair: {list}; p99 ours ÷ native \
                 {p99_ratio:.2}x; {workers} Envoy worker each"
            ),
            met: None,
            numbers: json!({
                "ours_rps": ours_median.rps, "ours_p50_ms": ours_median.p50_ms,
                "ours_p99_ms": ours_median.p99_ms, "peer_rps": native_median.rps,
                "peer_p50_ms": native_median.p50_ms, "peer_p99_ms": native_median.p99_ms,
                "ours_non_2xx": ours_median.non_2xx, "peer_non_2xx": native_median.non_2xx,
                "rps_ratio_per_pair": rps_ratios, "p99_ratio_per_pair": p99_ratios,
                "rps_ratio_median": rps_ratio, "p99_ratio_median": p99_ratio,
                "envoy": info,
            }),
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Envoy pair's traffic is what both Envoy configurations allow.
    #[test]
    fn envoy_traffic_is_allowed_by_both_envoy_configurations() {
        let policy = include_str!("../../../crates/cors-proxy-wasm/envoy/bench-policy.yaml");
        let native = include_str!("../../../crates/cors-proxy-wasm/envoy/native-cors.yaml");
        let Traffic { origin, method, headers } = ENVOY_TRAFFIC;
        for text in [policy, native] {
            assert!(text.contains(origin), "{origin} not in {text}");
            for header in headers.split(',') {
                assert!(text.contains(header), "{header} not in {text}");
            }
            assert!(text.contains(method), "{method} not in {text}");
        }
    }
}
