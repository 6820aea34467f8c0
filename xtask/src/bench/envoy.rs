//! The Envoy pair of the load test: Envoy with the cors-proxy-wasm module against Envoy with
//! its native CORS filter, same upstream, same traffic.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use super::load::{LOAD_SCENARIOS, LoadRuns, Traffic, figures, free_port, median_of, probe};
use super::report::{Kind, Row};
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
    let module = envoy::build_modules(&[envoy::Module::Cors])?.remove(0);
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
        envoy::wait_ready(&mut process.child, &admin, envoy::READY_TIMEOUT)
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

/// Envoy with the module against Envoy's native CORS filter, per scenario
/// (`envoy-<scenario>/vs-native`): the medians of each, and as the speedup the median of the
/// per-pair ratios (ours ÷ native requests per second of the two runs of one round). None when
/// the pair was skipped (`summary.json` says why in `run.envoy`).
pub(super) fn envoy_rows(load: &LoadRuns) -> Vec<Row> {
    let Ok(info) = &load.envoy else { return Vec::new() };
    let workers = info["concurrency"].as_u64().unwrap_or(u64::from(ENVOY_CONCURRENCY));
    let mut rows = Vec::new();
    for (scenario, title) in LOAD_SCENARIOS {
        let (Some(ours), Some(native)) =
            (load.rounds(scenario, "envoy-wasm"), load.rounds(scenario, "envoy-native"))
        else {
            continue;
        };
        let ratios: Vec<f64> = ours.iter().zip(native).map(|(a, b)| a.rps / b.rps).collect();
        let list = ratios.iter().map(|r| format!("{r:.2}x")).collect::<Vec<_>>().join(", ");
        let mut row = Row::new(
            format!("envoy-{scenario}/vs-native"),
            Kind::Envoy,
            format!("Envoy + module: {title}"),
            figures(ours),
            Some(("Envoy native CORS".to_owned(), figures(native))),
        );
        row.speedup = Some(median_of(ratios));
        row.note = format!("per back-to-back pair: {list}; {workers} Envoy worker each");
        rows.push(row);
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
