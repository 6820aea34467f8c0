//! `cargo xtask soak [--secs N]`: runs `cors-gateway` (release) in front of `bench-upstream`
//! under steady mixed traffic from `soak-traffic` (allowed, refused and preflight requests over
//! HTTP/1.1 and HTTP/2, new connections, slow clients) for N seconds (default 300), and fails
//! when a request fails or when the gateway's resident memory or open file descriptors grow by
//! more than 10 % between the start and the end of the run. Outside CI; figures in
//! docs/robustness.md.
//!
//! `cargo xtask soak --chaos [--secs N]`: the same measure, with `cors-gateway` in front of
//! `chaos-upstream` (an upstream that answers late, resets, stalls, breaks its framing, closes
//! kept-alive connections, upgrades) under `chaos-traffic` (which also leaves mid-request and
//! reads slowly), with the small limits `chaos-traffic --gateway-flags` names. It also fails
//! unless, at the end, the upstream never had more connections open than
//! `--upstream-max-connections`, has none left once the gateway's idle pool expired, the
//! gateway's `/metrics` show no open connection, tunnel or panic, and a normal request still
//! gets its right answer.
//!
//! The gateway's resident memory (`/proc/PID/status`, `VmRSS`) and open file descriptors
//! (`/proc/PID/fd`) are read once a second from the end of a warm-up (a fifth of the run,
//! between 10 and 60 s; at least 30 s with `--chaos`, whose memory climbs for about 20 s) to the
//! end of the traffic, and written to `target/soak/samples.tsv` (`chaos-samples.tsv`). "Start"
//! and "end" are the medians of the first and of the last third of those samples ([`ends`]
//! says why thirds); the run fails when either grew by more than 10 %.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cors_devtools::{exe, target_dir};

use crate::http;
use crate::process::Process;
use crate::util::{cargo, exec, free_port, root};

/// The shortest run that leaves room for the warm-up and both measurements.
const MIN_SECS: u64 = 30;
/// The shortest chaos run: its memory's steps last up to 30 s (see [`ends`]), and each third
/// of its samples must span several.
const MIN_CHAOS_SECS: u64 = 180;
/// Growth between start and end that fails the run.
const MAX_GROWTH: f64 = 0.10;

/// The options of `cargo xtask soak`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Seconds of traffic (at least 30; at least 180 with --chaos)
    #[arg(long, value_name = "N", default_value_t = 300)]
    secs: u64,
    /// Against a misbehaving upstream (`chaos-upstream`: late, reset, stalled, broken and
    /// closed answers, upgrades) with clients that leave mid-request and small gateway limits;
    /// also checks the upstream connection count, /metrics and a last normal request
    #[arg(long)]
    chaos: bool,
}

/// Entry point for `cargo xtask soak`.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let secs = args.secs;
    let (least, what) =
        if args.chaos { (MIN_CHAOS_SECS, "chaos soak") } else { (MIN_SECS, "soak") };
    if secs < least {
        return Err(format!("--secs {secs}: a {what} needs at least {least} s"));
    }
    if args.chaos { chaos(secs) } else { plain(secs) }
}

/// `cargo xtask soak`: against `bench-upstream`, under `soak-traffic`.
fn plain(secs: u64) -> Result<(), String> {
    build(&["bench-upstream", "soak-traffic"])?;
    let release = target_dir().join("release");
    let dir = soak_dir()?;
    let mut upstream = Command::new(release.join(exe("bench-upstream")));
    upstream.arg("127.0.0.1:0");
    let upstream = Process::start(upstream, &dir.join("upstream.log"), None)?;
    // Short client deadlines, so that the slow clients are cut off many times per run.
    let flags = ["--header-read-timeout", "2s", "--body-read-timeout", "2s"].map(str::to_owned);
    let gateway = start_gateway(&upstream.url, &flags, &dir.join("gateway.log"))?;
    let samples = dir.join("samples.tsv");
    let run = drive(&gateway, "soak-traffic", "mixed traffic", secs, 10, &samples)?;
    drop(gateway);
    drop(upstream);
    let report = format!("## cargo xtask soak --secs {secs}\n\n{}\n{}", run.summary, run.table());
    finish(&report, &dir.join("report.md"), &run.problems(), &dir)
}

/// `cargo xtask soak --chaos`: against `chaos-upstream`, under `chaos-traffic`, then the end
/// checks.
fn chaos(secs: u64) -> Result<(), String> {
    build(&["chaos-upstream", "chaos-traffic"])?;
    let release = target_dir().join("release");
    let dir = soak_dir()?;
    let flags = Command::new(release.join(exe("chaos-traffic")))
        .arg("--gateway-flags")
        .output()
        .map_err(|e| format!("cannot run chaos-traffic --gateway-flags: {e}"))?;
    let mut flags: Vec<String> =
        String::from_utf8_lossy(&flags.stdout).lines().map(str::to_owned).collect();
    let flag = |name: &str| {
        let at = flags.iter().position(|f| f == name);
        at.and_then(|at| flags.get(at + 1)).cloned().ok_or(format!("chaos-traffic names no {name}"))
    };
    let limit: u64 = flag("--upstream-max-connections")?.parse().map_err(|e| format!("{e}"))?;
    let idle_timeout =
        humantime::parse_duration(&flag("--upstream-idle-timeout")?).map_err(|e| e.to_string())?;
    let admin = free_port()?;
    flags.extend(["--admin-listen".to_owned(), admin.to_string()]);
    // Each request's outcome, as the gateway saw it, to read beside a failure.
    let access_log = dir.join("chaos-access.log");
    let _ = std::fs::remove_file(&access_log);
    flags.extend(["--access-log", "text", "--access-log-file"].map(str::to_owned));
    flags.push(access_log.display().to_string());

    let stats = dir.join("chaos-upstream.stats");
    // A previous run's counts must not pass for this one's.
    let _ = std::fs::remove_file(&stats);
    let mut upstream = Command::new(release.join(exe("chaos-upstream")));
    upstream.arg("127.0.0.1:0").arg(&stats);
    let upstream = Process::start(upstream, &dir.join("chaos-upstream.log"), None)?;
    let gateway = start_gateway(&upstream.url, &flags, &dir.join("chaos-gateway.log"))?;
    let samples = dir.join("chaos-samples.tsv");
    let run = drive(&gateway, "chaos-traffic", "chaos", secs, 30, &samples)?;

    let mut problems = run.problems();
    let ends = end_checks(&stats, limit, idle_timeout, admin, &gateway)?;
    problems.extend(ends.problems);
    drop(gateway);
    drop(upstream);

    // What the gateway counted of the upstream's failures and of its resends, for the report.
    let counted: Vec<&str> = ends
        .metrics
        .lines()
        .filter(|line| {
            line.starts_with("cors_gateway_upstream_errors_total")
                || line.starts_with("cors_gateway_upstream_retries_total")
        })
        .collect();
    let report = format!(
        "## cargo xtask soak --chaos --secs {secs}\n\n{}\n{}\n{}\n\
         The upstream accepted {} connections. The gateway's counts:\n\n```\n{}\n```\n",
        run.summary,
        run.table(),
        ends.table,
        ends.accepted,
        counted.join("\n"),
    );
    finish(&report, &dir.join("chaos-report.md"), &problems, &dir)
}

/// What the end checks of a chaos soak found.
struct Ends {
    /// Their table, for the report.
    table: String,
    problems: Vec<String>,
    /// The gateway's `/metrics` at the end.
    metrics: String,
    /// The connections the upstream accepted.
    accepted: u64,
}

/// The end checks of a chaos soak, once the traffic stopped: the upstream's connections (read
/// from its `stats` file) before and after the gateway's idle pool expired, the most it had
/// open against `limit`, the gateway's open connections, tunnels and panics (from `admin`), and
/// a last normal request through `gateway`.
fn end_checks(
    stats: &Path,
    limit: u64,
    idle_timeout: Duration,
    admin: SocketAddr,
    gateway: &Process,
) -> Result<Ends, String> {
    let mut problems = Vec::new();
    let mut table = String::from("| end check | seen | required |\n| --- | --- | --- |\n");
    let mut check = |what: &str, seen: String, required: &str, fine: bool| {
        let _ = writeln!(table, "| {what} | {seen} | {required} |");
        if !fine {
            problems.push(format!("{what}: {seen}, not {required}"));
        }
    };
    let after = read_stats(stats)?;
    check(
        "upstream connections open after the traffic",
        after.open.to_string(),
        &format!("<= {limit}"),
        after.open <= limit,
    );
    // The reaper runs every --upstream-idle-timeout: an idle connection is closed within two.
    std::thread::sleep(idle_timeout * 2 + Duration::from_secs(1));
    let expired = read_stats(stats)?;
    check(
        "upstream connections open after the idle expiry",
        expired.open.to_string(),
        "0",
        expired.open == 0,
    );
    check(
        "most upstream connections open at once",
        expired.max.to_string(),
        &format!("<= {limit} (--upstream-max-connections)"),
        expired.max <= limit,
    );
    let metrics = http::request(admin, "GET", "/metrics", &admin.to_string(), "")?;
    for name in
        ["cors_gateway_open_connections", "cors_gateway_open_tunnels", "cors_gateway_panics_total"]
    {
        let value = metric(&metrics.body, name);
        let seen = value.map_or_else(|| "missing".to_owned(), |v| v.to_string());
        check(name, seen, "0", value == Some(0.0));
    }
    let address: SocketAddr = gateway
        .url
        .trim_start_matches("http://")
        .parse()
        .map_err(|e| format!("{}: {e}", gateway.url))?;
    let last = http::request(
        address,
        "GET",
        "/chaos/normal",
        &address.to_string(),
        "Origin: https://app.example.com\r\n",
    );
    // `chaos-upstream`'s normal body (`cors_benches::chaos::NORMAL_BODY`; xtask builds without
    // the benches' dependencies).
    let fine = last.as_ref().is_ok_and(|answer| {
        answer.status == 200
            && answer.body == "chaos: ok\n"
            && answer
                .head
                .to_ascii_lowercase()
                .contains("\r\naccess-control-allow-origin: https://app.example.com")
    });
    let seen = match &last {
        Ok(answer) => format!("{} with {} body bytes", answer.status, answer.body.len()),
        Err(e) => e.clone(),
    };
    check("a last normal request", seen, "200, its body and its grant", fine);
    Ok(Ends { table, problems, metrics: metrics.body, accepted: expired.accepted })
}

/// Builds the gateway and `bins` of cors-benches, in release.
fn build(bins: &[&str]) -> Result<(), String> {
    let mut build = cargo();
    build.args(["build", "--release", "-p", "cors-gateway", "-p", "cors-benches"]);
    build.args(["--bin", "cors-gateway"]);
    for bin in bins {
        build.args(["--bin", bin]);
    }
    exec(build)
}

/// `target/soak`, created.
fn soak_dir() -> Result<PathBuf, String> {
    let dir = target_dir().join("soak");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Starts the release gateway with strict.yaml in front of `upstream`, with `flags`.
fn start_gateway(upstream: &str, flags: &[String], log: &Path) -> Result<Process, String> {
    let mut gateway = Command::new(target_dir().join("release").join(exe("cors-gateway")));
    gateway
        .arg("serve")
        .arg("--config")
        .arg(root().join("examples/policies/strict.yaml"))
        .args(["--listen", "127.0.0.1:0", "--upstream", upstream, "--watch-interval", "0"])
        .args(flags);
    Process::start(gateway, log, None)
}

/// A run of traffic against the gateway, and its resources around it.
struct Run {
    idle: Sample,
    start: Sample,
    end: Sample,
    warm_up: Duration,
    summary: String,
    traffic_passed: bool,
    traffic: &'static str,
}

impl Run {
    /// The table of resources.
    fn table(&self) -> String {
        let (idle, start, end) = (self.idle, self.start, self.end);
        format!(
            "| | idle, before the traffic | start (after {} s) | end | growth |\n\
             | --- | --- | --- | --- | --- |\n\
             | resident memory (KiB) | {} | {} | {} | {:+.1} % |\n\
             | open file descriptors | {} | {} | {} | {:+.1} % |\n",
            self.warm_up.as_secs(),
            idle.rss_kib,
            start.rss_kib,
            end.rss_kib,
            growth(start.rss_kib, end.rss_kib) * 100.0,
            idle.fds,
            start.fds,
            end.fds,
            growth(start.fds, end.fds) * 100.0,
        )
    }

    /// What failed: the traffic, or the growth of a resource.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.traffic_passed {
            problems.push(format!("{} saw failed requests (see above)", self.traffic));
        }
        let grown = [
            ("resident memory", growth(self.start.rss_kib, self.end.rss_kib)),
            ("open file descriptors", growth(self.start.fds, self.end.fds)),
        ];
        for (what, grown) in grown {
            if grown > MAX_GROWTH {
                problems.push(format!(
                    "{what} grew by {:.1} % (limit {:.0} %)",
                    grown * 100.0,
                    MAX_GROWTH * 100.0
                ));
            }
        }
        problems
    }
}

/// Runs `traffic ADDR SECS` against `gateway` for `secs` and samples the gateway's resources:
/// idle, then once a second from the end of a warm-up (a fifth of the run, at least
/// `least_warm_up` seconds and at most 60) to the end of the traffic; the samples are written
/// to `samples` and summed up by [`ends`].
fn drive(
    gateway: &Process,
    traffic: &'static str,
    what: &str,
    secs: u64,
    least_warm_up: u64,
    samples_file: &Path,
) -> Result<Run, String> {
    let warm_up = Duration::from_secs((secs / 5).clamp(least_warm_up, 60));
    let pid = gateway.child.id();
    let address = gateway.url.trim_start_matches("http://").to_owned();
    eprintln!("soak: {secs} s of {what} against cors-gateway (pid {pid}) on {address}");
    let idle = sample(pid)?;
    let started = Instant::now();
    let mut child = Command::new(target_dir().join("release").join(exe(traffic)))
        .args([address.as_str(), &secs.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {traffic}: {e}"))?;
    let mut samples = Vec::new();
    let mut table = String::from("seconds\tresident memory (KiB)\topen file descriptors\n");
    let mut next = started + warm_up;
    while next < started + Duration::from_secs(secs) {
        sleep_until(next);
        let seen = sample(pid)?;
        let _ = writeln!(table, "{}\t{}\t{}", (next - started).as_secs(), seen.rss_kib, seen.fds);
        samples.push(seen);
        next += Duration::from_secs(1);
    }
    std::fs::write(samples_file, table)
        .map_err(|e| format!("cannot write {}: {e}", samples_file.display()))?;
    let (start, end) = ends(&samples);
    eprintln!("soak: start (after {} s): {start}; end: {end}", warm_up.as_secs());
    let (output, traffic_passed) =
        wait_bounded(&mut child, traffic, started + Duration::from_secs(secs + 60))?;
    let summary = String::from_utf8_lossy(&output).into_owned();
    Ok(Run { idle, start, end, warm_up, summary, traffic_passed, traffic })
}

/// The start and the end of a run's `samples`, taken a second apart after its warm-up: the
/// medians of their first and of their last third. Under the chaos traffic the resident memory
/// moves by 2 to 4 MiB steps that last 10 to 30 s (256 KiB bodies, slow readers, clients that
/// leave), about 10 % of it: a few samples at each end could land on two such steps and fail a
/// run that grows nothing, as five at each end did (+10.0 % in a 30 s run, +12.6 % in 90 s),
/// where a third of the samples spans several steps once the run is long enough
/// (`MIN_CHAOS_SECS`). A leak still shows: it lifts the last third above the first.
fn ends(samples: &[Sample]) -> (Sample, Sample) {
    let third = (samples.len() / 3).max(1);
    let median = |part: &[Sample], field: fn(&Sample) -> u64| {
        let mut values: Vec<u64> = part.iter().map(field).collect();
        values.sort_unstable();
        values.get(values.len() / 2).copied().unwrap_or(0)
    };
    let summed = |part: &[Sample]| Sample {
        rss_kib: median(part, |s| s.rss_kib),
        fds: median(part, |s| s.fds),
    };
    let first = samples.get(..third).unwrap_or(samples);
    let last = samples.get(samples.len().saturating_sub(third)..).unwrap_or(samples);
    (summed(first), summed(last))
}

/// Prints and writes `report`, and fails with `problems`, if any.
fn finish(report: &str, file: &Path, problems: &[String], dir: &Path) -> Result<(), String> {
    eprintln!("\n{report}");
    std::fs::write(file, report).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    if problems.is_empty() {
        eprintln!("soak: passed; report in {}", file.display());
        Ok(())
    } else {
        Err(format!("soak failed: {}; logs in {}", problems.join("; "), dir.display()))
    }
}

/// `chaos-upstream`'s counts of its connections.
#[derive(Debug, PartialEq, Eq)]
struct UpstreamStats {
    open: u64,
    max: u64,
    accepted: u64,
}

fn read_stats(file: &Path) -> Result<UpstreamStats, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    parse_stats(&text)
        .ok_or_else(|| format!("{}: not chaos-upstream's counts: {text:?}", file.display()))
}

fn parse_stats(text: &str) -> Option<UpstreamStats> {
    let value = |name: &str| {
        text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    };
    Some(UpstreamStats { open: value("open")?, max: value("max")?, accepted: value("accepted")? })
}

/// The value of the metric `name` (without labels) in a Prometheus text exposition.
fn metric(exposition: &str, name: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// One reading of the gateway's resources.
#[derive(Clone, Copy, Debug)]
struct Sample {
    rss_kib: u64,
    fds: u64,
}

impl std::fmt::Display for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "resident memory {} KiB, {} open file descriptors", self.rss_kib, self.fds)
    }
}

fn sample(pid: u32) -> Result<Sample, String> {
    let status_file = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&status_file)
        .map_err(|e| format!("cannot read {status_file} (is this Linux?): {e}"))?;
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| format!("no VmRSS in {status_file}"))?;
    let fd_dir = format!("/proc/{pid}/fd");
    let fds = std::fs::read_dir(Path::new(&fd_dir))
        .map_err(|e| format!("cannot list {fd_dir}: {e}"))?
        .count() as u64;
    Ok(Sample { rss_kib, fds })
}

/// `(end - start) / start`.
#[expect(
    clippy::cast_precision_loss,
    reason = "memory sizes and descriptor counts are far below 2^52"
)]
fn growth(start: u64, end: u64) -> f64 {
    (end as f64 - start as f64) / (start.max(1) as f64)
}

fn sleep_until(instant: Instant) {
    std::thread::sleep(instant.saturating_duration_since(Instant::now()));
}

/// Waits for `child` until `deadline` (then kills it); returns its stdout and whether it
/// succeeded.
fn wait_bounded(
    child: &mut std::process::Child,
    what: &str,
    deadline: Instant,
) -> Result<(Vec<u8>, bool), String> {
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(stdout) = &mut stdout {
            let _ = std::io::Read::read_to_end(stdout, &mut bytes);
        }
        bytes
    });
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{what} did not stop by itself"));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let bytes = reader.join().map_err(|_| format!("reading {what}'s output failed"))?;
    Ok((bytes, status.success()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_relative_to_the_start() {
        assert!((growth(100, 110) - 0.10).abs() < 1e-9);
        assert!((growth(200, 150) + 0.25).abs() < 1e-9);
        assert!(growth(100, 111) > MAX_GROWTH);
    }

    #[test]
    fn a_soak_shorter_than_the_minimum_is_refused() {
        assert!(run(&Args { secs: 5, chaos: false }).unwrap_err().contains("at least 30 s"));
        assert!(run(&Args { secs: 30, chaos: true }).unwrap_err().contains("at least 180 s"));
    }

    #[test]
    fn the_ends_are_the_medians_of_the_first_and_last_thirds() {
        let at = |rss_kib: u64| Sample { rss_kib, fds: 40 };
        // A step up at the end, shorter than half a third, as the chaos traffic's memory makes
        // (20 to 30 s of the 144 s a 180 s run samples): no growth.
        let mut samples: Vec<Sample> = (0..85).map(|i| at(40_000 + i % 7 * 100)).collect();
        samples.extend((0..15).map(|_| at(46_000)));
        let (start, end) = ends(&samples);
        assert!(growth(start.rss_kib, end.rss_kib) <= MAX_GROWTH, "{start} {end}");
        // A leak of 20 % across the run: growth.
        let leaking: Vec<Sample> = (0..100).map(|i| at(40_000 + i * 80)).collect();
        let (start, end) = ends(&leaking);
        assert!(growth(start.rss_kib, end.rss_kib) > MAX_GROWTH, "{start} {end}");
        assert_eq!((start.fds, end.fds), (40, 40));
        // Too few samples to split: every sample is each end.
        let (start, end) = ends(&[at(1), at(2)]);
        assert_eq!((start.rss_kib, end.rss_kib), (1, 2));
        assert_eq!(ends(&[]).0.rss_kib, 0);
    }

    #[test]
    fn the_upstream_counts_and_the_metrics_are_read() {
        let stats = parse_stats("open 2\nmax 4\naccepted 1234\n");
        assert_eq!(stats, Some(UpstreamStats { open: 2, max: 4, accepted: 1234 }));
        assert_eq!(parse_stats("open 2\n"), None);
        let exposition = "# HELP cors_gateway_open_connections x\n\
                          cors_gateway_open_connections 0\n\
                          cors_gateway_open_connections_total 7\n\
                          cors_gateway_panics_total 1\n";
        assert_eq!(metric(exposition, "cors_gateway_open_connections"), Some(0.0));
        assert_eq!(metric(exposition, "cors_gateway_panics_total"), Some(1.0));
        assert_eq!(metric(exposition, "cors_gateway_open_tunnels"), None);
    }
}
