//! The Envoys of the load test: Envoy with the cors-proxy-wasm module, with a proxy-wasm module
//! that does nothing (the limit any Wasm filter can reach), and with its native CORS filter;
//! same upstream, same traffic, one worker each.

use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use super::callgrind;
use super::load::{LOAD_SCENARIOS, LoadRuns, Traffic, cpu_ratio, figures, median_of, probe};
use super::report::{Kind, Row};
use crate::envoy::{self, Module};
use crate::process::Process;
use crate::util::{free_port, root};

/// The Envoy pair's traffic: `crates/cors-proxy-wasm/envoy/bench-policy.yaml` (and
/// `native-cors.yaml`, which states the same policy) allow this origin, method and headers.
pub(super) const ENVOY_TRAFFIC: Traffic =
    Traffic { origin: "https://app.example.test", method: "PUT", headers: "content-type,x-custom" };

/// Envoy worker threads (`--concurrency`) of each Envoy.
const ENVOY_CONCURRENCY: u32 = 1;

/// The Envoys of the load test, by target name: with our module, with the no-op module, with
/// the native CORS filter.
const ENVOY_TARGETS: [&str; 3] = ["envoy-wasm", "envoy-noop", "envoy-native"];

/// The Envoys of the load test.
pub(super) struct Envoys {
    /// [`ENVOY_TARGETS`], with their listeners and Envoy's process id.
    pub(super) targets: [(&'static str, SocketAddr, u32); 3],
    /// What ran: the modules and their sizes, Envoy's version, the workers, the configurations.
    pub(super) info: Value,
    /// Ours and the no-op module.
    pub(super) modules: [PathBuf; 2],
    /// The Envoy processes (each started directly, so its own process id), killed when dropped.
    pub(super) _processes: [Process; 3],
}

/// Starts the three Envoys in front of `upstream`, from the configurations `cargo xtask envoy`
/// writes, and checks that each answers the benchmark traffic as it should: ours and the native
/// filter with CORS, the no-op module untouched. The error says why they cannot run (what is
/// missing, and what installs it).
pub(super) fn start_envoys(dir: &Path, upstream: SocketAddr) -> Result<Envoys, String> {
    let binary = envoy::find_envoy()?;
    if !envoy::wasm_target_installed() {
        return Err("the wasm32-wasip1 Rust target is not installed; scripts/install-envoy.sh \
                    installs it"
            .to_owned());
    }
    let modules = envoy::build_modules(&[Module::Cors, Module::Noop])?;
    let bytes = |module: &Path| -> Result<u64, String> {
        Ok(fs::metadata(module).map_err(|e| format!("{}: {e}", module.display()))?.len())
    };
    let (module, noop) = (&modules[0], &modules[1]);
    let version = Command::new(&binary)
        .arg("--version")
        .output()
        .map(|output| {
            let text = String::from_utf8_lossy(&output.stdout);
            text.split_once("version:").map_or(&*text, |(_, version)| version).trim().to_owned()
        })
        .unwrap_or_default();
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let start = |name: &str, module: Option<&Path>| -> Result<(SocketAddr, Process), String> {
        let Launch { addr, command, admin, log } = launch(dir, name, module, upstream)?;
        let mut process = Process::start(command, &log, Some(format!("http://{addr}")))?;
        envoy::wait_ready(&mut process.child, &admin, envoy::READY_TIMEOUT)
            .map_err(|e| format!("{name}: {e}; see {}", log.display()))?;
        Ok((addr, process))
    };
    let (wasm_addr, wasm) = start(ENVOY_TARGETS[0], Some(module))?;
    let (noop_addr, noop_process) = start(ENVOY_TARGETS[1], Some(noop))?;
    let (native_addr, native) = start(ENVOY_TARGETS[2], None)?;

    let differences =
        check_answers([(ENVOY_TARGETS[0], wasm_addr), (ENVOY_TARGETS[1], noop_addr)], native_addr)?;
    let info = json!({
        "module": path(module), "module_bytes": bytes(module)?,
        "noop_module": path(noop), "noop_module_bytes": bytes(noop)?,
        "envoy_version": version,
        "concurrency": ENVOY_CONCURRENCY,
        "policy": "crates/cors-proxy-wasm/envoy/bench-policy.yaml",
        "native_config": "crates/cors-proxy-wasm/envoy/native-cors.yaml",
        "cors_header_differences": differences,
    });
    Ok(Envoys {
        modules: [module.clone(), noop.clone()],
        targets: [
            (ENVOY_TARGETS[0], wasm_addr, wasm.child.id()),
            (ENVOY_TARGETS[1], noop_addr, noop_process.child.id()),
            (ENVOY_TARGETS[2], native_addr, native.child.id()),
        ],
        info,
        _processes: [wasm, noop_process, native],
    })
}

/// How to start one Envoy of the load test.
struct Launch {
    /// Where it listens.
    addr: SocketAddr,
    /// Envoy's command line, as `cargo xtask envoy` builds it.
    command: Command,
    /// Where Envoy writes its admin address.
    admin: PathBuf,
    /// Where its standard error goes.
    log: PathBuf,
}

/// The Envoy `name` of the load test: with `module` and the benchmark policy (the no-op module
/// ignores it, so the bootstraps of the two modules differ in the module only), or with the
/// native CORS filter.
fn launch(
    dir: &Path,
    name: &str,
    module: Option<&Path>,
    upstream: SocketAddr,
) -> Result<Launch, String> {
    let addr = free_port()?;
    let args = envoy::Args {
        config: module.map(|_| root().join("crates/cors-proxy-wasm/envoy/bench-policy.yaml")),
        native_cors: module.is_none(),
        listen: addr.into(),
        upstream: upstream.into(),
        concurrency: ENVOY_CONCURRENCY,
        module: module.map(Path::to_path_buf),
    };
    let admin = dir.join("envoy").join(format!("{name}-admin.txt"));
    let command = envoy::command(&args, &dir.join("envoy").join(format!("{name}.yaml")), &admin)?;
    Ok(Launch { addr, command, admin, log: dir.join(format!("{name}.log")) })
}

/// How long Envoy may take to start under callgrind (about 20 s on an idle machine).
const CALLGRIND_READY_TIMEOUT: Duration = Duration::from_mins(5);

/// Envoy's instructions per request under callgrind, by `load-<scenario>/<target>`
/// ([`callgrind::count_requests`]).
///
/// Each Envoy of the load test runs alone under callgrind, with the same configuration, after
/// the load rounds.
pub(super) fn count_instructions(
    dir: &Path,
    upstream: SocketAddr,
    modules: &[PathBuf; 2],
    scripts: &[(&'static str, PathBuf)],
) -> Result<Vec<(String, u64)>, String> {
    let valgrind = callgrind::valgrind()?;
    let mut counts = Vec::new();
    let [wasm, noop, native] = ENVOY_TARGETS;
    for (name, module) in [(wasm, Some(&modules[0])), (noop, Some(&modules[1])), (native, None)] {
        let Launch { addr, command: envoy, admin, log } =
            launch(dir, &format!("{name}-callgrind"), module.map(PathBuf::as_path), upstream)?;
        // V8 writes the machine code it compiles into memory it then runs.
        let mut command =
            callgrind::under_callgrind(&valgrind, &envoy, &["--smc-check=all-non-file"]);
        let stderr = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot run valgrind: {e}"))?;
        let mut process = Process { child, url: format!("http://{addr}") };
        envoy::wait_ready(&mut process.child, &admin, CALLGRIND_READY_TIMEOUT)
            .map_err(|e| format!("{name} under callgrind: {e}; see {}", log.display()))?;
        counts.extend(callgrind::count_requests(name, process.child.id(), addr, scripts)?);
    }
    Ok(counts)
}

/// Checks that the Envoys answer the benchmark traffic as they should: `with_modules` (ours,
/// then the no-op module) and `native` with CORS, except the no-op module, which leaves it
/// untouched. Returns where ours and the native filter answer differently (Envoy's filter is not
/// cors-flex).
fn check_answers(
    with_modules: [(&str, SocketAddr); 2],
    native: SocketAddr,
) -> Result<Vec<String>, String> {
    let Traffic { origin, method, headers } = ENVOY_TRAFFIC;
    let allowed = format!("access-control-allow-origin: {origin}");
    let preflight = format!(
        "Origin: {origin}\r\nAccess-Control-Request-Method: {method}\r\n\
         Access-Control-Request-Headers: {headers}\r\n"
    );
    let mut answers = Vec::new();
    for (name, addr) in with_modules.into_iter().chain([(ENVOY_TARGETS[2], native)]) {
        let actual = probe(addr, &format!("Origin: {origin}\r\n"), "GET")?;
        let options = probe(addr, &preflight, "OPTIONS")?;
        let plain = probe(addr, "", "GET")?;
        let ok = |head: &str| head.starts_with("http/1.1 200");
        let cors = name != ENVOY_TARGETS[1];
        let answers_as_expected = [&actual, &options, &plain].into_iter().all(|head| ok(head))
            && actual.contains(&allowed) == cors
            && options.contains(&allowed) == cors
            && !plain.contains("access-control-");
        if !answers_as_expected {
            return Err(format!(
                "{name} does not answer the benchmark traffic as it should (with CORS, or \
                 untouched for the no-op module):\n{actual}\n\n{options}\n\n{plain}"
            ));
        }
        if !cors {
            continue;
        }
        let cors_lines = |head: &str| -> Vec<String> {
            head.lines()
                .filter(|line| line.starts_with("access-control-"))
                .map(str::to_owned)
                .collect()
        };
        answers.push([cors_lines(&actual), cors_lines(&options)]);
    }
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
            "load: note: the Envoys' Access-Control-* headers differ: {}",
            differences.join("; ")
        );
    }
    Ok(differences)
}

/// The rows of the Envoys, per scenario:
///
/// - `envoy-<scenario>/vs-native`: Envoy with our module against Envoy's native CORS filter
///   (target ≥ 0.9x);
/// - `envoy-<scenario>/vs-noop`: Envoy with our module against Envoy with the no-op module
///   (target ≥ 0.95x): what our filter costs beyond running any Wasm filter;
/// - `envoy-<scenario>/noop-vs-native` (kind `envoy-limit`): the no-op module against the native
///   filter, the best ratio a proxy-wasm filter can reach.
///
/// Each speedup is the median of the per-round ratios (the targets of one round run back to
/// back). None when the Envoys were skipped (`summary.json` says why in `run.envoy`).
pub(super) fn envoy_rows(load: &LoadRuns) -> Vec<Row> {
    let Ok(info) = &load.envoy else { return Vec::new() };
    let workers = info["concurrency"].as_u64().unwrap_or(u64::from(ENVOY_CONCURRENCY));
    let [wasm, noop, native] = ENVOY_TARGETS;
    let (module, noop_module, native_filter) =
        ("Envoy + module", "Envoy + no-op module", "Envoy native CORS");
    let comparisons = [
        ("vs-native", Kind::Envoy, (wasm, module), (native, native_filter), Some(0.9)),
        ("vs-noop", Kind::Envoy, (wasm, module), (noop, noop_module), Some(0.95)),
        ("noop-vs-native", Kind::EnvoyLimit, (noop, noop_module), (native, native_filter), None),
    ];
    let mut rows = Vec::new();
    for (scenario, title) in LOAD_SCENARIOS {
        for comparison in comparisons {
            rows.extend(envoy_row(load, (scenario, title), comparison, workers));
        }
    }
    rows
}

/// One comparison of [`envoy_rows`] or of the load rows: its id suffix and kind, ours and the
/// peer (target, name), the target ratio.
pub(super) type Comparison =
    (&'static str, Kind, (&'static str, &'static str), (&'static str, &'static str), Option<f64>);

/// The row of one comparison on one scenario; `None` when either side was not measured.
fn envoy_row(
    load: &LoadRuns,
    (scenario, title): (&str, &str),
    (suffix, kind, (ours_target, ours_name), (peer, peer_name), target): Comparison,
    workers: u64,
) -> Option<Row> {
    let (ours, theirs) = (load.rounds(scenario, ours_target)?, load.rounds(scenario, peer)?);
    let ratios: Vec<f64> = ours.iter().zip(theirs).map(|(a, b)| a.rps / b.rps).collect();
    let list = ratios.iter().map(|r| format!("{r:.2}x")).collect::<Vec<_>>().join(", ");
    let (mut ours_figures, mut theirs_figures) = (figures(ours), figures(theirs));
    let by_count =
        load.counted(scenario, (ours_target, peer), (&mut ours_figures, &mut theirs_figures));
    let mut row = Row::new(
        format!("envoy-{scenario}/{suffix}"),
        kind,
        format!("{ours_name}: {title}"),
        ours_figures,
        Some((peer_name.to_owned(), theirs_figures)),
    );
    let speedup = median_of(ratios);
    row.speedup = Some(speedup);
    row.note = format!("per round: {list}; {workers} Envoy worker each");
    // The same comparison in what a request costs Envoy, which machine load moves less (CPU
    // time), or not at all (instructions).
    if let Some(ratio) = cpu_ratio(ours, theirs) {
        let _ = write!(row.note, "; CPU per request, peer ÷ ours: {ratio:.2}x");
    }
    if let Some(by_count) = by_count {
        let _ = write!(row.note, "; instructions per request, peer ÷ ours: {by_count:.2}x");
    }
    // The no-op module forwards a preflight, which the other two answer themselves: there it
    // is no limit, and no target applies.
    if scenario == "preflight" && (ours_target == ENVOY_TARGETS[1] || peer == ENVOY_TARGETS[1]) {
        row.note.push_str("; the no-op module forwards the preflight, the others answer it");
        return Some(row);
    }
    match target {
        Some(target) => {
            row.target(format!("≥ {target:.2}x"), speedup >= target);
            if let Some(by_count) = by_count {
                row.target(format!("≥ {target:.2}x in instructions"), by_count >= target);
            }
        }
        None => {
            row.note.push_str("; the limit: no proxy-wasm filter gets closer to the native filter");
        }
    }
    Some(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::load;

    /// The Envoys' traffic is what both Envoy configurations allow.
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

    fn load() -> LoadRuns {
        let mut runs = Vec::new();
        let mut instructions = Vec::new();
        for (scenario, _) in LOAD_SCENARIOS {
            for (target, rps, cpu, count) in [
                ("envoy-wasm", [80.0, 90.0, 70.0], 50.0, 200_000),
                ("envoy-noop", [95.0, 95.0, 95.0], 42.0, 170_000),
                ("envoy-native", [100.0, 100.0, 100.0], 40.0, 160_000),
            ] {
                runs.push((format!("load-{scenario}/{target}"), load::tests::rounds(&rps, cpu)));
                instructions.push((format!("load-{scenario}/{target}"), count));
            }
        }
        LoadRuns { runs, envoy: Ok(json!({ "concurrency": 1 })), instructions }
    }

    #[test]
    fn envoy_rows_compare_ours_with_native_and_the_no_op_module_round_by_round() {
        let rows = envoy_rows(&load());
        let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
        assert_eq!(ids.len(), 9, "{ids:?}");
        let row = |id: &str| rows.iter().find(|row| row.id == id).expect(id);

        let vs_native = row("envoy-no-origin/vs-native");
        assert_eq!(vs_native.kind, Kind::Envoy);
        // The median of 0.80, 0.90 and 0.70.
        assert!((vs_native.speedup.unwrap() - 0.8).abs() < 1e-9);
        assert_eq!(vs_native.ours.instructions, Some(200_000));
        let texts: Vec<(&str, bool)> =
            vs_native.targets.iter().map(|t| (t.text.as_str(), t.met)).collect();
        assert_eq!(texts, [("≥ 0.90x", false), ("≥ 0.90x in instructions", false)]);
        assert!(vs_native.note.contains("instructions per request, peer ÷ ours: 0.80x"));
        assert!(vs_native.note.contains("CPU per request, peer ÷ ours: 0.80x"));

        let limit = row("envoy-actual-allowed/noop-vs-native");
        assert_eq!(limit.kind, Kind::EnvoyLimit);
        assert!(limit.targets.is_empty());
        assert!(limit.note.contains("the limit"), "{}", limit.note);

        // The no-op module forwards preflights: no target there.
        let preflight = row("envoy-preflight/vs-noop");
        assert!(preflight.targets.is_empty());
        assert!(preflight.note.contains("forwards the preflight"), "{}", preflight.note);
        assert_eq!(row("envoy-preflight/vs-native").targets.len(), 2);
    }

    #[test]
    fn envoy_rows_are_empty_when_the_envoys_were_skipped() {
        let skipped = LoadRuns { envoy: Err("no Envoy".to_owned()), ..load() };
        assert!(envoy_rows(&skipped).is_empty());
    }
}
