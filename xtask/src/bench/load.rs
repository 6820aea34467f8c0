//! The load test: `cors-gateway serve` in front of `bench-upstream`, driven by wrk, against the
//! same traffic straight to the upstream, through nginx adding static CORS headers, and through
//! `bench-hyper-proxy`, the least a hyper proxy does for it (the floor of the gateway's stack).

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use super::Options;
use super::callgrind;
use super::envoy::{Comparison, ENVOY_TRAFFIC, Envoys, count_instructions, start_envoys};
use super::report::{Estimate, Figures, Kind, Row};
use cors_devtools::{exe, find_program, target_dir};

use crate::process::Process;
use crate::util::{cargo, exec, free_port, root};

/// What wrk measured for one target and scenario.
#[derive(Debug, Clone, Copy)]
pub(super) struct LoadResult {
    pub(super) rps: f64,
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) non_2xx: u64,
    /// The requests wrk completed.
    pub(super) requests: u64,
    /// The server's CPU time (user and system, all its threads and child processes, such as
    /// nginx's workers) per request, in microseconds: what a request costs the server, which
    /// load from elsewhere on the machine moves much less than its rate. `None` where
    /// `/proc` cannot be read.
    pub(super) cpu_us: Option<f64>,
    /// The times the server's threads (all of them, with its child processes') gave up the CPU
    /// to wait, per request (`voluntary_ctxt_switches`): on a server that blocks only in its
    /// event loop (epoll), how often it found nothing to do. Each costs a switch and a wake-up in
    /// the kernel, and on a machine whose cores wrk shares, a turn at the CPU. `None` where
    /// `/proc` cannot be read.
    pub(super) waits: Option<f64>,
}

impl std::fmt::Display for LoadResult {
    /// One round's figures as the load test logs them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.0} req/s, p50 {:.3} ms, p99 {:.3} ms", self.rps, self.p50_ms, self.p99_ms)?;
        if let Some(us) = self.cpu_us {
            write!(f, ", {us:.1} µs CPU")?;
        }
        if let Some(waits) = self.waits {
            write!(f, ", {waits:.2} waits")?;
        }
        if self.non_2xx > 0 {
            write!(f, ", {} non-2xx", self.non_2xx)?;
        }
        Ok(())
    }
}

/// The gateway's policy: the reference policy of the performance documents.
const POLICY: &str = "examples/policies/strict.yaml";

/// The nginx baseline's configuration, equivalent to [`POLICY`] for its origin.
const NGINX_TEMPLATE: &str = include_str!("../../templates/nginx-bench.conf.in");

/// The load scenarios: id, title (the wrk script is [`load_script`]).
pub(super) const LOAD_SCENARIOS: [(&str, &str); 3] = [
    ("actual-allowed", "actual GET, allowed origin"),
    ("no-origin", "GET without Origin"),
    ("preflight", "preflight (PUT, 2 headers)"),
];

/// What the load scenarios send to one kind of target: an origin its policy allows, and a
/// preflight's method and headers that it accepts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Traffic {
    pub(super) origin: &'static str,
    pub(super) method: &'static str,
    /// Comma-separated, as `Access-Control-Request-Headers` carries them.
    pub(super) headers: &'static str,
}

/// The gateway's traffic ([`POLICY`]).
const GATEWAY_TRAFFIC: Traffic =
    Traffic { origin: "https://app.example.com", method: "PUT", headers: "content-type,x-token" };

/// The wrk Lua script of `scenario` (`xtask/templates/wrk/`), sending `traffic`.
fn load_script(scenario: &str, traffic: Traffic) -> Result<String, String> {
    let origin = ("ORIGIN", traffic.origin);
    let (template, values): (&str, &[(&str, &str)]) = match scenario {
        "actual-allowed" => (include_str!("../../templates/wrk/actual-allowed.lua.in"), &[origin]),
        "preflight" => (
            include_str!("../../templates/wrk/preflight.lua.in"),
            &[origin, ("METHOD", traffic.method), ("HEADERS", traffic.headers)],
        ),
        "no-origin" => (include_str!("../../templates/wrk/no-origin.lua.in"), &[]),
        _ => return Err(format!("no wrk script for load scenario {scenario:?}")),
    };
    cors_devtools::render(template, values).map_err(|e| format!("wrk script {scenario}: {e}"))
}

/// The nginx baseline's configuration: prefix directory `prefix`, listening on `listen`,
/// forwarding to `upstream`; a worker per core under a master process, or, `one_worker`, one
/// process that serves (for callgrind, which instruments the process it starts).
fn nginx_conf(
    prefix: &Path,
    listen: SocketAddr,
    upstream: SocketAddr,
    one_worker: bool,
) -> Result<String, String> {
    let (workers, master) = if one_worker { ("1", "off") } else { ("auto", "on") };
    let values = [
        ("DIR", &*prefix.display().to_string()),
        ("LISTEN", &*listen.to_string()),
        ("UPSTREAM", &*upstream.to_string()),
        ("WORKERS", workers),
        ("MASTER", master),
    ];
    cors_devtools::render(NGINX_TEMPLATE, &values)
        .map_err(|e| format!("xtask/templates/nginx-bench.conf.in: {e}"))
}

/// The load-test targets by name (`upstream`, `gateway`, `nginx`, `floor`, and with
/// `--floor-per-core` `floor-per-core`), with their address and the process id whose CPU time is
/// measured.
type Targets = Vec<(&'static str, SocketAddr, u32)>;

/// `METHOD /` with the header lines `fields`, addressed to `api.example.com`: the answer's
/// head, lower-cased.
pub(super) fn probe(addr: SocketAddr, fields: &str, method: &str) -> Result<String, String> {
    let response = crate::http::request(addr, method, "/", "api.example.com", fields)?;
    Ok(response.head.to_ascii_lowercase())
}

/// What the load test measured: every round of every `load-SCENARIO/TARGET`, and the Envoy
/// pair's description (module, Envoy version, workers) or why it was skipped.
pub(super) struct LoadRuns {
    pub(super) runs: Vec<(String, Vec<LoadResult>)>,
    pub(super) envoy: Result<Value, String>,
    /// With `--instructions`: the proxies' and Envoys' instructions per request under callgrind, by
    /// `load-SCENARIO/TARGET`.
    pub(super) instructions: Vec<(String, u64)>,
}

/// Whether `--filter` selects the scenario `prefix-scenario` (`load-preflight`,
/// `envoy-no-origin`).
pub(super) fn selected(options: &Options, prefix: &str, scenario: &str) -> bool {
    options.filter.as_deref().is_none_or(|filter| format!("{prefix}-{scenario}").contains(filter))
}

/// The names of the load test's scenarios, as `--filter` sees them: `load-SCENARIO` (the gateway
/// and its peers) and `envoy-SCENARIO` (the Envoys).
pub(super) fn scenario_names() -> Vec<String> {
    ["load", "envoy"]
        .iter()
        .flat_map(|prefix| {
            LOAD_SCENARIOS.iter().map(move |(scenario, _)| format!("{prefix}-{scenario}"))
        })
        .collect()
}

/// Runs the load test on the scenarios `--filter` selects (all without it); `None` when it
/// selects none.
pub(super) fn run_load(options: &Options, out: &Path) -> Result<Option<LoadRuns>, String> {
    let gateway_scenarios: Vec<&str> =
        LOAD_SCENARIOS.iter().map(|(s, _)| *s).filter(|s| selected(options, "load", s)).collect();
    let envoy_scenarios: Vec<&str> =
        LOAD_SCENARIOS.iter().map(|(s, _)| *s).filter(|s| selected(options, "envoy", s)).collect();
    if gateway_scenarios.is_empty() && envoy_scenarios.is_empty() {
        return Ok(None);
    }
    let nginx = prepare(&options.gateway_profile, options.instructions)?;
    let gateway = gateway_binary(&options.gateway_profile);
    let dir = out.join("load");
    let (servers, targets) = start_servers(&dir, &nginx, &gateway, options.floor_per_core)?;
    let envoys = if envoy_scenarios.is_empty() {
        Err("--filter selects none of its scenarios".to_owned())
    } else {
        start_envoys(&dir, targets[0].1)
    };
    if let Err(why) = &envoys {
        eprintln!("load: Envoy with cors-proxy-wasm against Envoy's native CORS: skipped: {why}");
    }
    let mut scripts = Vec::new();
    for (scenario, _) in LOAD_SCENARIOS {
        let write = |name: String, traffic| -> Result<PathBuf, String> {
            let path = dir.join("scripts").join(name);
            fs::write(&path, load_script(scenario, traffic)?)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(path)
        };
        let gateway = write(format!("{scenario}.lua"), GATEWAY_TRAFFIC)?;
        let envoy = write(format!("envoy-{scenario}.lua"), ENVOY_TRAFFIC)?;
        scripts.push((scenario, gateway, envoy));
    }
    // Rounds interleave the targets, so that a burst of load from elsewhere on the machine hits
    // all of them alike; each figure is the median of its rounds. The three Envoys run back to
    // back, in an order that rotates between rounds.
    let rounds = options.load_rounds;
    let mut runs: Vec<(String, Vec<LoadResult>)> = Vec::new();
    for round in 1..=rounds {
        for (scenario, gateway_script, envoy_script) in &scripts {
            let mut measure = |target: &str, addr, script, pid| -> Result<(), String> {
                let result = measure_once(script, addr, options.load_secs, pid)?;
                eprintln!("load round {round}/{rounds} {target}/{scenario}: {result}");
                let id = format!("load-{scenario}/{target}");
                match runs.iter_mut().find(|(known, _)| *known == id) {
                    Some((_, list)) => list.push(result),
                    None => runs.push((id, vec![result])),
                }
                Ok(())
            };
            if gateway_scenarios.contains(scenario) {
                for &(target, addr, pid) in &targets {
                    measure(target, addr, gateway_script, Some(pid))?;
                }
            }
            if let Ok(envoys) = &envoys
                && envoy_scenarios.contains(scenario)
            {
                // Each round starts with the next Envoy, so none always runs first or last.
                let mut order = envoys.targets;
                let first = usize::try_from(round - 1).unwrap_or(0) % order.len();
                order.rotate_left(first);
                for (target, addr, pid) in order {
                    measure(target, addr, envoy_script, Some(pid))?;
                }
            }
        }
    }
    // With --instructions, counts the proxies and then the Envoys (stopped first), each alone
    // under callgrind (the upstream still runs); then stops the other servers.
    let mut instructions = Vec::new();
    if options.instructions && !gateway_scenarios.is_empty() {
        let scripts: Vec<(&'static str, PathBuf)> = scripts
            .iter()
            .filter(|(scenario, ..)| gateway_scenarios.contains(scenario))
            .map(|(scenario, gateway, _)| (*scenario, gateway.clone()))
            .collect();
        instructions = count_proxies(&dir, &nginx, &gateway, &targets, &scripts)?;
    }
    let envoy = match envoys {
        Ok(Envoys { info, modules, _processes: processes, .. }) => {
            drop(processes);
            if options.instructions {
                let scripts: Vec<(&'static str, PathBuf)> = scripts
                    .iter()
                    .filter(|(scenario, ..)| envoy_scenarios.contains(scenario))
                    .map(|(scenario, _, envoy)| (*scenario, envoy.clone()))
                    .collect();
                instructions.extend(count_instructions(&dir, targets[0].1, &modules, &scripts)?);
            }
            Ok(info)
        }
        Err(why) => Err(why),
    };
    drop(servers);
    Ok(Some(LoadRuns { runs, envoy, instructions }))
}

/// One second of wrk warm-up against `addr`, then `secs` measured, with the CPU time and the
/// waits of the server `pid` (when given) over the measured run.
fn measure_once(
    script: &Path,
    addr: SocketAddr,
    secs: u32,
    pid: Option<u32>,
) -> Result<LoadResult, String> {
    wrk(script, addr, 1, CONNECTIONS)?;
    let before = pid.and_then(usage);
    let mut result = wrk(script, addr, secs, CONNECTIONS)?;
    if let (Some(before), Some(after)) = (before, pid.and_then(usage))
        && result.requests > 0
    {
        #[expect(clippy::cast_precision_loss, reason = "request counts are far below 2^52")]
        let requests = result.requests as f64;
        result.cpu_us = Some((after.cpu_seconds - before.cpu_seconds) * 1e6 / requests);
        #[expect(clippy::cast_precision_loss, reason = "switch counts are far below 2^52")]
        let waits = after.waits.saturating_sub(before.waits) as f64;
        result.waits = Some(waits / requests);
    }
    Ok(result)
}

/// What a server has used so far: [`usage`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Usage {
    /// CPU time, user and system, in seconds.
    cpu_seconds: f64,
    /// Voluntary context switches.
    waits: u64,
}

/// What process `pid` and its running child processes (nginx's workers) have used so far, all
/// threads: CPU time (`/proc/PID/stat`) and voluntary context switches (each thread's
/// `/proc/PID/task/TID/status`); `None` where `pid`'s cannot be read.
fn usage(pid: u32) -> Option<Usage> {
    let (own, _) = stat_times(pid)?;
    let children: Vec<(u32, f64)> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|child| stat_times(child).map(|times| (child, times)))
        .filter(|&(_, (_, parent))| parent == pid)
        .map(|(child, (seconds, _))| (child, seconds))
        .collect();
    let cpu_seconds = own + children.iter().map(|&(_, seconds)| seconds).sum::<f64>();
    let waits =
        std::iter::once(pid).chain(children.iter().map(|&(child, _)| child)).map(waits).sum();
    Some(Usage { cpu_seconds, waits })
}

/// The voluntary context switches of every thread of process `pid` so far (0 for a thread whose
/// status cannot be read: one that ended meanwhile).
fn waits(pid: u32) -> u64 {
    fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .filter_map(|task| fs::read_to_string(task.ok()?.path().join("status")).ok())
        .filter_map(|status| voluntary_switches(&status))
        .sum()
}

/// The `voluntary_ctxt_switches` of one `/proc/PID/task/TID/status`.
fn voluntary_switches(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:")?.trim().parse().ok())
}

/// Process `pid`'s own CPU time in seconds (user and system, all threads) and its parent's id,
/// from `/proc/PID/stat`.
fn stat_times(pid: u32) -> Option<(f64, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// The CPU seconds and parent id of one `/proc/PID/stat` line.
fn parse_stat(stat: &str) -> Option<(f64, u32)> {
    // After the command name, which may hold spaces, in parentheses: fields 3 onwards (state,
    // ppid, ..., utime is field 14 and stime field 15).
    let (_, fields) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = fields.split_whitespace().collect();
    let parent = fields.get(1)?.parse().ok()?;
    let (utime, stime): (u64, u64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    #[expect(clippy::cast_precision_loss, reason = "clock ticks are far below 2^52")]
    Some(((utime + stime) as f64 / clock_ticks_per_second(), parent))
}

/// The kernel's clock ticks per second, the unit of `/proc/PID/stat`'s times (`getconf
/// CLK_TCK`, 100 on Linux when that cannot run).
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        let output = Command::new("getconf").arg("CLK_TCK").output().ok();
        let text = output.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        text.and_then(|t| t.parse().ok()).filter(|&t: &f64| t > 0.0).unwrap_or(100.0)
    })
}

/// Installs the load test's tools when one is missing ([`super::ensure_tools`]: wrk, nginx, and
/// valgrind with `--instructions`), and
/// builds the gateway (with the cargo profile `gateway_profile`) and the upstream; returns nginx.
fn prepare(gateway_profile: &str, instructions: bool) -> Result<PathBuf, String> {
    let tools: &[&str] =
        if instructions { &["wrk", "nginx", "valgrind"] } else { &["wrk", "nginx"] };
    super::ensure_tools(tools)?;
    let nginx = find_program(None, &["nginx"]).map_err(|e| e.to_string())?;
    let mut build = cargo();
    build.args(["build", "--profile", gateway_profile, "-p", "cors-gateway"]);
    build.args(["--bin", "cors-gateway"]);
    exec(build)?;
    let mut build = cargo();
    // The bench profile, as `cargo bench` builds: the benches' dependencies are built once.
    build.args(["build", "--profile", "bench", "-p", "cors-benches"]);
    build.args(["--bin", "bench-upstream", "--bin", "bench-hyper-proxy"]);
    exec(build)?;
    Ok(nginx)
}

/// The median of the per-round ratios of CPU time per request, the peer's ÷ ours (above 1 ours
/// costs less); `None` when no round measured both.
pub(super) fn cpu_ratio(ours: &[LoadResult], theirs: &[LoadResult]) -> Option<f64> {
    let ratios: Vec<f64> =
        ours.iter().zip(theirs).filter_map(|(a, b)| Some(b.cpu_us? / a.cpu_us?)).collect();
    (!ratios.is_empty()).then(|| median_of(ratios))
}

/// The median of `values` (the upper one of an even count; NaN when empty).
pub(super) fn median_of(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The figures of the rounds `runs`: each the median, with the lowest and highest round.
pub(super) fn figures(runs: &[LoadResult]) -> Figures {
    let spread = |values: Vec<f64>| Estimate {
        value: median_of(values.clone()),
        low: values.iter().copied().fold(f64::INFINITY, f64::min),
        high: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    };
    let estimate = |f: fn(&LoadResult) -> f64| spread(runs.iter().map(f).collect());
    // Over the rounds that measured it, if any.
    let measured = |f: fn(&LoadResult) -> Option<f64>| {
        let values: Vec<f64> = runs.iter().filter_map(f).collect();
        (!values.is_empty()).then(|| spread(values))
    };
    Figures {
        rps: Some(estimate(|r| r.rps)),
        cpu_us: measured(|r| r.cpu_us),
        waits: measured(|r| r.waits),
        p50_ms: Some(median_of(runs.iter().map(|r| r.p50_ms).collect())),
        p99_ms: Some(estimate(|r| r.p99_ms)),
        non_2xx: Some(runs.iter().map(|r| r.non_2xx).sum()),
        rounds: Some(runs.len() as u64),
        ..Figures::default()
    }
}

impl LoadRuns {
    /// The rounds of `load-SCENARIO/TARGET`.
    pub(super) fn rounds(&self, scenario: &str, target: &str) -> Option<&[LoadResult]> {
        let id = format!("load-{scenario}/{target}");
        self.runs.iter().find(|(known, _)| *known == id).map(|(_, list)| list.as_slice())
    }

    /// The instructions per request under callgrind of `load-SCENARIO/TARGET`, if counted.
    pub(super) fn instructions(&self, scenario: &str, target: &str) -> Option<u64> {
        let id = format!("load-{scenario}/{target}");
        self.instructions.iter().find(|(known, _)| *known == id).map(|(_, count)| *count)
    }

    /// Sets the instructions per request counted on `scenario` (`--instructions`) for `ours`
    /// and `peer` on their `figures`; the peer's ÷ ours when both were counted, so that above
    /// 1.00 ours is ahead, as with every speedup.
    pub(super) fn counted(
        &self,
        scenario: &str,
        (ours, peer): (&str, &str),
        (ours_figures, peer_figures): (&mut Figures, &mut Figures),
    ) -> Option<f64> {
        let count =
            |target| self.instructions(scenario, target).and_then(|n| i64::try_from(n).ok());
        ours_figures.instructions = count(ours);
        peer_figures.instructions = count(peer);
        #[expect(clippy::cast_precision_loss, reason = "instruction counts are far below 2^52")]
        match (ours_figures.instructions, peer_figures.instructions) {
            (Some(ours), Some(theirs)) if ours > 0 => Some(theirs as f64 / ours as f64),
            _ => None,
        }
    }

    /// Every round by `load-SCENARIO/TARGET`, for `summary.json`'s `measurements`, with the
    /// instructions per request where they were counted.
    pub(super) fn measurements(&self) -> impl Iterator<Item = (String, Value)> + '_ {
        self.runs.iter().map(|(id, list)| {
            let rounds: Vec<Value> = list
                .iter()
                .map(|r| {
                    json!({ "rps": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
                                 "non_2xx": r.non_2xx, "requests": r.requests,
                                 "cpu_us": r.cpu_us, "waits": r.waits })
                })
                .collect();
            let instructions = self.instructions.iter().find(|(known, _)| known == id);
            let instructions = instructions.map(|(_, count)| *count);
            (id.clone(), json!({ "rounds": rounds, "instructions": instructions }))
        })
    }
}

/// The gateway binary cargo builds with `profile` (`dev` builds go to `debug`, `bench` ones to
/// `release`, any other profile to the folder of its name).
fn gateway_binary(profile: &str) -> PathBuf {
    let folder = match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        other => other,
    };
    target_dir().join(folder).join(exe("cors-gateway"))
}

/// Starts the upstream, and the gateway (the executable `binary`), nginx and the hyper floor (and
/// with `floor_per_core` the floor with a runtime per core) in front of it, and checks that the
/// proxies answer the allowed origin with CORS; returns them with their addresses.
fn start_servers(
    dir: &Path,
    nginx: &Path,
    binary: &Path,
    floor_per_core: bool,
) -> Result<(Servers, Targets), String> {
    for sub in ["", "nginx", "scripts"] {
        fs::create_dir_all(dir.join(sub)).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let release = target_dir().join("release");
    let address = |process: &Process| -> Result<SocketAddr, String> {
        let url = &process.url;
        url.strip_prefix("http://")
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| format!("not a loopback http URL: {url:?}"))
    };

    // The upstream announces `listening on http://ADDR` once bound.
    let mut upstream = Command::new(release.join(exe("bench-upstream")));
    upstream.arg("127.0.0.1:0");
    let upstream = Process::start(upstream, &dir.join("upstream.log"), None)?;
    let upstream_addr = address(&upstream)?;

    let gateway_addr = free_port()?;
    let gateway = Process::start(
        proxy_command("gateway", binary, gateway_addr, upstream_addr),
        &dir.join("gateway.log"),
        Some(format!("http://{gateway_addr}")),
    )?;

    let nginx_addr = free_port()?;
    let (command, conf) =
        nginx_command(nginx, &dir.join("nginx"), nginx_addr, upstream_addr, false)?;
    let process =
        Process::start(command, &dir.join("nginx.log"), Some(format!("http://{nginx_addr}")))?;
    let nginx = Nginx {
        binary: nginx.to_path_buf(),
        prefix: dir.join("nginx"),
        conf,
        process: Some(process),
    };

    let start_floor = |target: &'static str| -> Result<(Process, SocketAddr), String> {
        let addr = free_port()?;
        let command = proxy_command(target, binary, addr, upstream_addr);
        Ok((Process::start(command, &dir.join(format!("{target}.log")), None)?, addr))
    };
    let (floor, floor_addr) = start_floor("floor")?;
    let per_core = if floor_per_core { Some(start_floor(PER_CORE)?) } else { None };

    let mut proxies =
        vec![("cors-gateway", gateway_addr), ("nginx", nginx_addr), ("floor", floor_addr)];
    proxies.extend(per_core.as_ref().map(|(_, addr)| (PER_CORE, *addr)));
    for (name, addr) in proxies {
        let origin = GATEWAY_TRAFFIC.origin;
        let head = probe(addr, &format!("Origin: {origin}\r\n"), "GET")?;
        if !head.contains(&format!("access-control-allow-origin: {origin}")) {
            return Err(format!("{name} does not answer the allowed origin with CORS:\n{head}"));
        }
    }
    let pid = |process: &Process| process.child.id();
    let nginx_pid = nginx.process.as_ref().map_or(0, pid);
    let mut targets = vec![
        ("upstream", upstream_addr, pid(&upstream)),
        ("gateway", gateway_addr, pid(&gateway)),
        ("nginx", nginx_addr, nginx_pid),
        ("floor", floor_addr, pid(&floor)),
    ];
    targets.extend(per_core.as_ref().map(|(process, addr)| (PER_CORE, *addr, pid(process))));
    let servers = Servers {
        _floor_per_core: per_core.map(|(process, _)| process),
        _floor: floor,
        _nginx: nginx,
        _gateway: gateway,
        _upstream: upstream,
    };
    Ok((servers, targets))
}

/// The command of the load test's proxy `target` built here (`gateway`, the binary `gateway`
/// with the policy [`POLICY`]; `floor`, or `floor-per-core`, the floor with a runtime per core),
/// listening on `addr` in front of `upstream`.
fn proxy_command(target: &str, gateway: &Path, addr: SocketAddr, upstream: SocketAddr) -> Command {
    let release = target_dir().join("release");
    if target == "floor" || target == PER_CORE {
        let mut floor = Command::new(release.join(exe("bench-hyper-proxy")));
        if target == PER_CORE {
            floor.arg("--per-core");
        }
        floor.arg(upstream.to_string()).arg(addr.to_string());
        return floor;
    }
    let mut command = Command::new(gateway);
    command
        .arg("--quiet")
        .arg("serve")
        .arg("--config")
        .arg(root().join(POLICY))
        .args(["--listen", &addr.to_string()])
        .args(["--upstream", &format!("http://{upstream}")])
        .args(["--watch-interval", "0s"]);
    command
}

/// nginx with its configuration written to `prefix`/nginx.conf ([`nginx_conf`]), and that path.
fn nginx_command(
    nginx: &Path,
    prefix: &Path,
    addr: SocketAddr,
    upstream: SocketAddr,
    one_worker: bool,
) -> Result<(Command, PathBuf), String> {
    fs::create_dir_all(prefix).map_err(|e| format!("{}: {e}", prefix.display()))?;
    let conf = prefix.join("nginx.conf");
    fs::write(&conf, nginx_conf(prefix, addr, upstream, one_worker)?)
        .map_err(|e| format!("{}: {e}", conf.display()))?;
    let mut command = Command::new(nginx);
    command.arg("-p").arg(prefix).arg("-c").arg(&conf);
    Ok((command, conf))
}

/// The proxies' instructions per request under callgrind ([`callgrind::count_requests`]), by
/// `load-<scenario>/<target>`: each proxy of `targets` (the gateway, nginx as one process that
/// serves, as callgrind counts the process it starts, and the hyper floors), alone on a port of
/// its own after the load rounds, in front of the same upstream (the first target).
fn count_proxies(
    dir: &Path,
    nginx: &Path,
    gateway: &Path,
    targets: &Targets,
    scripts: &[(&'static str, PathBuf)],
) -> Result<Vec<(String, u64)>, String> {
    let valgrind = callgrind::valgrind()?;
    let mut counts = Vec::new();
    let Some((&(_, upstream, _), proxies)) = targets.split_first() else { return Ok(counts) };
    for &(target, ..) in proxies {
        let addr = free_port()?;
        let server = if target == "nginx" {
            nginx_command(nginx, &dir.join("nginx-callgrind"), addr, upstream, true)?.0
        } else {
            proxy_command(target, gateway, addr, upstream)
        };
        let command = callgrind::under_callgrind(&valgrind, &server, &[]);
        let log = dir.join(format!("{target}-callgrind.log"));
        let process = Process::start(command, &log, Some(format!("http://{addr}")))?;
        counts.extend(callgrind::count_requests(target, process.child.id(), addr, scripts)?);
    }
    Ok(counts)
}

/// The servers of the load test, stopped when dropped (the proxies first, the upstream last).
struct Servers {
    _floor_per_core: Option<Process>,
    _floor: Process,
    _nginx: Nginx,
    _gateway: Process,
    _upstream: Process,
}

/// The nginx baseline. Killing its master process would leave its workers running, so it is
/// stopped with `nginx -s stop` (the master then stops its workers) before the kill.
struct Nginx {
    binary: PathBuf,
    prefix: PathBuf,
    conf: PathBuf,
    process: Option<Process>,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let stopped = Command::new(&self.binary)
            .arg("-p")
            .arg(&self.prefix)
            .arg("-c")
            .arg(&self.conf)
            .args(["-s", "stop"])
            .status();
        if let (Ok(status), Some(process)) = (stopped, self.process.as_mut())
            && status.success()
        {
            for _ in 0..100 {
                if matches!(process.child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Kills the master if it is still there, and reaps it.
        drop(self.process.take());
    }
}

/// Connections of the load test's wrk runs.
const CONNECTIONS: u32 = 32;

/// Runs wrk (1 thread, `connections` connections) for `secs` seconds and parses its report.
pub(super) fn wrk(
    script: &Path,
    addr: SocketAddr,
    secs: u32,
    connections: u32,
) -> Result<LoadResult, String> {
    let output = Command::new("wrk")
        .args(["-t1", &format!("-c{connections}"), &format!("-d{secs}s"), "--latency", "-s"])
        .arg(script)
        .arg(format!("http://{addr}/"))
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("wrk failed: {text}{}", String::from_utf8_lossy(&output.stderr)));
    }
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix))
            .map(|rest| rest.split_whitespace().next().unwrap_or_default().to_owned())
    };
    let ms = |value: Option<String>| -> Option<f64> {
        let value = value?;
        let (number, scale) = if let Some(n) = value.strip_suffix("us") {
            (n, 0.001)
        } else if let Some(n) = value.strip_suffix("ms") {
            (n, 1.0)
        } else if let Some(n) = value.strip_suffix('s') {
            (n, 1000.0)
        } else {
            (value.as_str(), 1.0)
        };
        number.parse::<f64>().ok().map(|n| n * scale)
    };
    let rps = field("Requests/sec:").and_then(|v| v.parse().ok());
    let (Some(rps), Some(p50_ms), Some(p99_ms)) = (rps, ms(field("50%")), ms(field("99%"))) else {
        return Err(format!("cannot read wrk's report:\n{text}"));
    };
    let non_2xx = field("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0);
    // `  123456 requests in 5.00s, 12.34MB read`
    let requests = text
        .lines()
        .find(|line| line.contains(" requests in "))
        .and_then(|line| line.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Ok(LoadResult { rps, p50_ms, p99_ms, non_2xx, requests, cpu_us: None, waits: None })
}

/// The comparisons of [`load_rows`]; the one target is the issue's, ≥ 1.0x nginx. The last two
/// only with `--floor-per-core`.
const LOAD_COMPARISONS: [Comparison; 6] = [
    ("vs-nginx", Kind::Load, ("gateway", "gateway"), ("nginx", "nginx"), Some(1.0)),
    ("vs-upstream", Kind::Load, ("gateway", "gateway"), ("upstream", "upstream"), None),
    ("vs-floor", Kind::Load, ("gateway", "gateway"), ("floor", "hyper floor"), None),
    ("floor-vs-nginx", Kind::LoadLimit, ("floor", "hyper floor"), ("nginx", "nginx"), None),
    (
        "floor-per-core-vs-nginx",
        Kind::LoadLimit,
        (PER_CORE, PER_CORE_NAME),
        ("nginx", "nginx"),
        None,
    ),
    (
        "floor-per-core-vs-floor",
        Kind::LoadLimit,
        (PER_CORE, PER_CORE_NAME),
        ("floor", "hyper floor"),
        None,
    ),
];

/// The target name of the hyper floor with a runtime per core (`--floor-per-core`).
const PER_CORE: &str = "floor-per-core";

/// Its name in the summary.
const PER_CORE_NAME: &str = "hyper floor, a runtime per core";

/// Per scenario:
///
/// - `load-<scenario>/vs-nginx`: cors-gateway against nginx adding static CORS headers (target
///   ≥ 1.0x, and an allowed origin within 5 % of no `Origin`);
/// - `load-<scenario>/vs-upstream`: against the bare upstream, the cost of a proxy hop;
/// - `load-<scenario>/vs-floor`: against `bench-hyper-proxy`, which does nginx's work on hyper
///   and tokio and nothing more (no decision, pool, deadline, cap or log): what the gateway's
///   own work costs on top of its stack;
/// - `load-<scenario>/floor-vs-nginx` (kind `load-limit`): that floor against nginx, the best
///   ratio a proxy on hyper and tokio reaches on this machine, as the no-op module is for Envoy;
/// - with `--floor-per-core`, `load-<scenario>/floor-per-core-vs-nginx` and
///   `load-<scenario>/floor-per-core-vs-floor` (kind `load-limit`): the floor with a
///   current-thread runtime and a `SO_REUSEPORT` listener per core against nginx and against the
///   floor, what that design of the server alone gives.
pub(super) fn load_rows(load: &LoadRuns) -> Vec<Row> {
    let mut rows = Vec::new();
    let no_origin = load.rounds("no-origin", "gateway").map(figures);
    for (scenario, title) in LOAD_SCENARIOS {
        for (suffix, kind, (ours_target, ours_name), (peer, peer_name), target) in LOAD_COMPARISONS
        {
            let (Some(ours_rounds), Some(theirs_rounds)) =
                (load.rounds(scenario, ours_target), load.rounds(scenario, peer))
            else {
                continue;
            };
            let (mut ours, mut theirs) = (figures(ours_rounds), figures(theirs_rounds));
            let by_count = load.counted(scenario, (ours_target, peer), (&mut ours, &mut theirs));
            let mut row = Row::new(
                format!("load-{scenario}/{suffix}"),
                kind,
                format!("{ours_name}: {title}"),
                ours.clone(),
                Some((peer_name.to_owned(), theirs)),
            );
            let mut notes = Vec::new();
            match suffix {
                "vs-upstream" => notes.push("the cost of a proxy hop".to_owned()),
                "vs-floor" => notes.push(
                    "the floor does nginx's work on hyper and tokio, with no decision, pool, \
                     deadline, cap or log"
                        .to_owned(),
                ),
                "floor-vs-nginx" => notes.push(
                    "the limit: the best a proxy on hyper and tokio reaches here; the gateway \
                     is not in it"
                        .to_owned(),
                ),
                "floor-per-core-vs-nginx" | "floor-per-core-vs-floor" => notes.push(
                    "the floor's work on a current-thread runtime and a SO_REUSEPORT listener \
                     per core; the gateway is not in it"
                        .to_owned(),
                ),
                _ => {}
            }
            if let Some(ratio) = cpu_ratio(ours_rounds, theirs_rounds) {
                notes.push(format!("CPU per request, peer ÷ ours: {ratio:.2}x"));
            }
            if let Some(by_count) = by_count {
                notes.push(format!("instructions per request, peer ÷ ours: {by_count:.2}x"));
            }
            row.note = notes.join("; ");
            if let (Some(target), Some(speedup)) = (target, row.speedup) {
                row.target("≥ nginx".to_owned(), speedup >= target);
                if scenario == "actual-allowed"
                    && let (Some(with), Some(without)) =
                        (ours.rps, no_origin.as_ref().and_then(|f| f.rps))
                {
                    let change = 100.0 * (with.value / without.value - 1.0);
                    row.target(
                        format!("within 5% of the gateway without Origin ({change:+.1}%)"),
                        with.value >= 0.95 * without.value,
                    );
                }
            }
            rows.push(row);
        }
    }
    rows
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn load_scripts_send_the_scenario_headers() {
        let traffic = Traffic { origin: "https://o.test", method: "PATCH", headers: "a,b" };
        let preflight = load_script("preflight", traffic).unwrap();
        assert!(preflight.contains("wrk.method = \"OPTIONS\""), "{preflight}");
        assert!(preflight.contains("\"Origin\"] = \"https://o.test\""), "{preflight}");
        assert!(preflight.contains("Method\"] = \"PATCH\""), "{preflight}");
        assert!(preflight.contains("\"Access-Control-Request-Headers\"] = \"a,b\""), "{preflight}");
        let actual = load_script("actual-allowed", traffic).unwrap();
        assert!(actual.contains("\"Origin\"] = \"https://o.test\""), "{actual}");
        assert!(!load_script("no-origin", traffic).unwrap().contains("Origin\"]"));
        assert!(load_script("unknown", traffic).is_err());
    }

    #[test]
    fn every_load_scenario_has_a_script_with_every_placeholder_filled() {
        for (scenario, _) in LOAD_SCENARIOS {
            let script = load_script(scenario, GATEWAY_TRAFFIC).unwrap();
            assert!(!script.contains("{{"), "{script}");
        }
    }

    #[test]
    fn the_nginx_template_renders_every_placeholder() {
        let addr = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let conf = nginx_conf(Path::new("/tmp/p"), addr(1), addr(2), false).unwrap();
        assert!(!conf.contains("{{"), "{conf}");
        assert!(conf.contains("worker_processes auto;"), "{conf}");
        assert!(conf.contains("master_process on;"), "{conf}");
        let one = nginx_conf(Path::new("/tmp/p"), addr(1), addr(2), true).unwrap();
        assert!(one.contains("worker_processes 1;"), "{one}");
        assert!(one.contains("master_process off;"), "{one}");
        assert!(conf.contains("listen 127.0.0.1:1;"), "{conf}");
        assert!(conf.contains("server 127.0.0.1:2;"), "{conf}");
        assert!(conf.contains("pid /tmp/p/nginx.pid;"), "{conf}");
    }

    /// nginx's static headers, the gateway's policy and the traffic agree, so that both answer
    /// the same requests with the same CORS headers.
    #[test]
    fn nginx_the_gateway_policy_and_the_traffic_agree() {
        let policy = include_str!("../../../examples/policies/strict.yaml");
        let Traffic { origin, method, headers } = GATEWAY_TRAFFIC;
        for text in [policy, NGINX_TEMPLATE] {
            for needle in [origin, method, "x-request-id", "600"] {
                assert!(text.contains(needle), "{needle} not in {text}");
            }
            for header in headers.split(',') {
                assert!(text.contains(header), "{header} not in {text}");
            }
        }
    }

    /// The hyper floor adds exactly nginx's static headers: each `add_header NAME "VALUE"` of
    /// the template is one `field(NAME, "VALUE")` of `bench-hyper-proxy`, and it has no other.
    #[test]
    fn the_hyper_floor_adds_the_headers_nginx_adds() {
        let floor = include_str!("../../../benches/src/bin/bench-hyper-proxy.rs");
        let mut added = 0;
        for line in NGINX_TEMPLATE.lines() {
            let Some(rest) = line.trim().strip_prefix("add_header ") else { continue };
            let (name, rest) = rest.split_once(' ').unwrap();
            let value = rest.split('"').nth(1).unwrap();
            let constant = name.to_ascii_uppercase().replace('-', "_");
            let pair = format!("({constant}, \"{value}\")");
            assert!(floor.contains(&pair), "{pair} not in bench-hyper-proxy.rs");
            added += 1;
        }
        assert_eq!(added, 10, "nginx adds 6 headers to a preflight and 4 to an actual request");
        let pairs = floor.lines().filter(|line| line.trim().starts_with("field("));
        assert_eq!(pairs.count(), added, "the floor adds headers nginx does not");
    }

    /// Rounds of `rps` each, all with `cpu_us` of CPU per request (the other figures fixed).
    pub(in crate::bench) fn rounds(rps: &[f64], cpu_us: f64) -> Vec<LoadResult> {
        let result = |rps| LoadResult {
            rps,
            p50_ms: 1.0,
            p99_ms: 2.0,
            non_2xx: 0,
            requests: 1000,
            cpu_us: Some(cpu_us),
            waits: Some(0.5),
        };
        rps.iter().copied().map(result).collect()
    }

    #[test]
    fn load_rows_compare_the_gateway_with_each_peer_and_the_floor_with_nginx() {
        let mut runs = Vec::new();
        for (scenario, _) in LOAD_SCENARIOS {
            for (target, rps, cpu) in [
                ("gateway", [70.0, 70.0, 70.0], 16.0),
                ("nginx", [100.0, 100.0, 100.0], 8.0),
                ("upstream", [200.0, 200.0, 200.0], 4.0),
                ("floor", [90.0, 90.0, 90.0], 12.0),
            ] {
                runs.push((format!("load-{scenario}/{target}"), rounds(&rps, cpu)));
            }
        }
        let instructions = vec![
            ("load-actual-allowed/gateway".to_owned(), 36_000),
            ("load-actual-allowed/nginx".to_owned(), 18_000),
        ];
        let load = LoadRuns { runs, envoy: Err("skipped".to_owned()), instructions };
        let rows = load_rows(&load);
        assert_eq!(rows.len(), 12);
        let row = |id: &str| rows.iter().find(|row| row.id == id).expect(id);

        let vs_nginx = row("load-actual-allowed/vs-nginx");
        assert_eq!(vs_nginx.kind, Kind::Load);
        assert!((vs_nginx.speedup.unwrap() - 0.7).abs() < 1e-9);
        assert!(vs_nginx.note.contains("CPU per request, peer ÷ ours: 0.50x"), "{}", vs_nginx.note);
        assert_eq!(vs_nginx.ours.instructions, Some(36_000));
        assert_eq!(vs_nginx.peer.as_ref().unwrap().1.instructions, Some(18_000));
        let note = &vs_nginx.note;
        assert!(note.contains("instructions per request, peer ÷ ours: 0.50x"), "{note}");
        assert_eq!(vs_nginx.targets.len(), 2);
        assert!(!vs_nginx.targets[0].met);

        let vs_floor = row("load-no-origin/vs-floor");
        assert_eq!(vs_floor.kind, Kind::Load);
        assert!((vs_floor.speedup.unwrap() - 70.0 / 90.0).abs() < 1e-9);
        assert!(vs_floor.targets.is_empty());
        // Nothing counted there: no instruction figure, no note.
        assert_eq!(vs_floor.ours.instructions, None);
        assert!(!vs_floor.note.contains("instructions"), "{}", vs_floor.note);

        let limit = row("load-preflight/floor-vs-nginx");
        assert_eq!(limit.kind, Kind::LoadLimit);
        assert!((limit.speedup.unwrap() - 0.9).abs() < 1e-9);
        assert!(limit.title.starts_with("hyper floor"), "{}", limit.title);
        assert!(limit.note.contains("the limit"), "{}", limit.note);
        assert!(limit.targets.is_empty());
        assert!(row("load-preflight/vs-upstream").targets.is_empty());
    }

    /// `--floor-per-core` adds its two rows per scenario, both limits, against nginx and against
    /// the floor of the same rounds; a run without it has none.
    #[test]
    fn load_rows_compare_the_per_core_floor_with_nginx_and_the_floor_when_it_ran() {
        let mut runs = Vec::new();
        for (target, rps) in [("nginx", 100.0), ("floor", 80.0), (PER_CORE, 96.0)] {
            runs.push((format!("load-actual-allowed/{target}"), rounds(&[rps; 3], 10.0)));
        }
        let with = LoadRuns { runs, envoy: Err("skipped".to_owned()), instructions: Vec::new() };
        let rows = load_rows(&with);
        let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "load-actual-allowed/floor-vs-nginx",
                "load-actual-allowed/floor-per-core-vs-nginx",
                "load-actual-allowed/floor-per-core-vs-floor",
            ]
        );
        for (row, speedup) in rows[1..].iter().zip([0.96, 1.2]) {
            assert_eq!(row.kind, Kind::LoadLimit);
            assert!((row.speedup.unwrap() - speedup).abs() < 1e-9, "{}", row.id);
            assert!(row.title.starts_with(PER_CORE_NAME), "{}", row.title);
            assert!(row.note.contains("SO_REUSEPORT"), "{}", row.note);
            assert!(row.targets.is_empty());
        }

        let mut without = with;
        without.runs.retain(|(id, _)| !id.ends_with(PER_CORE));
        assert_eq!(load_rows(&without).len(), 1);
    }

    #[test]
    fn the_per_core_floor_runs_the_floor_with_its_flag() {
        let addr = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let args = |target| {
            let command = proxy_command(target, Path::new("gw"), addr(1), addr(2));
            let args: Vec<String> =
                command.get_args().map(|arg| arg.to_string_lossy().into_owned()).collect();
            (command.get_program().to_string_lossy().into_owned(), args)
        };
        let (floor, floor_args) = args("floor");
        let (per_core, per_core_args) = args(PER_CORE);
        assert!(floor.ends_with(&exe("bench-hyper-proxy")), "{floor}");
        assert_eq!(per_core, floor);
        assert_eq!(floor_args, ["127.0.0.1:2", "127.0.0.1:1"]);
        assert_eq!(per_core_args, ["--per-core", "127.0.0.1:2", "127.0.0.1:1"]);
    }

    #[test]
    fn parse_stat_reads_cpu_seconds_and_the_parent_past_a_spaced_name() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime ...
        let line = "4242 (nginx: worker) S 4200 4200 4200 0 -1 4194624 10 0 0 0 150 50 0 0 20";
        let (seconds, parent) = parse_stat(line).expect("a well-formed stat line");
        assert_eq!(parent, 4200);
        assert!((seconds - 200.0 / clock_ticks_per_second()).abs() < 1e-9);
        assert_eq!(parse_stat("4242 (cut"), None);
    }

    #[test]
    fn voluntary_switches_are_read_from_a_task_status() {
        let status = "Name:\tcors-gateway-wo\nState:\tS (sleeping)\n\
                      voluntary_ctxt_switches:\t87143\nnonvoluntary_ctxt_switches:\t74\n";
        assert_eq!(voluntary_switches(status), Some(87_143));
        assert_eq!(voluntary_switches("Name:\tx\nnonvoluntary_ctxt_switches:\t74\n"), None);
    }

    /// A thread of this process that sleeps gives up the CPU: `usage` counts it, with the other
    /// threads', where `/proc` can be read.
    #[test]
    fn usage_counts_the_waits_of_every_thread() {
        let pid = std::process::id();
        let Some(before) = usage(pid) else { return };
        // A thread's switches go with it when it ends: this one sleeps on until it is read.
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let sleeper = std::thread::spawn(move || {
            for _ in 0..5 {
                std::thread::sleep(Duration::from_millis(1));
            }
            let _ = stopped.recv();
        });
        std::thread::sleep(Duration::from_millis(50));
        let after = usage(pid).expect("read before, read after");
        drop(stop);
        sleeper.join().expect("the sleeper ends");
        assert!(after.waits >= before.waits + 5, "{before:?} -> {after:?}");
        assert!(after.cpu_seconds >= before.cpu_seconds, "{before:?} -> {after:?}");
    }

    #[test]
    fn cpu_ratio_is_the_median_of_the_rounds_that_measured_both() {
        let round = |cpu_us| LoadResult {
            rps: 1.0,
            p50_ms: 1.0,
            p99_ms: 1.0,
            non_2xx: 0,
            requests: 1,
            cpu_us,
            waits: None,
        };
        let ours = [round(Some(10.0)), round(Some(20.0)), round(None)];
        let theirs = [round(Some(15.0)), round(Some(20.0)), round(Some(5.0))];
        // 1.5 and 1.0: the upper of the two, as median_of takes.
        assert_eq!(cpu_ratio(&ours, &theirs), Some(1.5));
        assert_eq!(cpu_ratio(&ours[2..], &theirs[2..]), None);
    }

    #[test]
    fn median_of_takes_the_middle_value() {
        assert!((median_of(vec![3.0, 1.0, 2.0]) - 2.0).abs() < f64::EPSILON);
        assert!(median_of(Vec::new()).is_nan());
    }
}
