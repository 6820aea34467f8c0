//! `cargo xtask soak [--secs N]`: runs `cors-gateway` (release) in front of `bench-upstream`
//! under steady mixed traffic from `soak-traffic` (allowed, refused and preflight requests over
//! HTTP/1.1 and HTTP/2, new connections, slow clients) for N seconds (default 300), and fails
//! when a request fails or when the gateway's resident memory or open file descriptors grow by
//! more than 10 % between the start and the end of the run. Outside CI; figures in
//! docs/robustness.md.
//!
//! "Start" is measured after a warm-up (a fifth of the run, between 10 and 60 s), so that
//! buffers, pools and the allocator's arenas have reached their working size; "end" is measured
//! in the last seconds of the traffic. Each is the median of five samples a second apart, read
//! from `/proc/PID/status` (`VmRSS`) and `/proc/PID/fd`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cors_devtools::{exe, target_dir};

use crate::process::Process;
use crate::util::{cargo, exec, root};

/// The shortest run that leaves room for the warm-up and both measurements.
const MIN_SECS: u64 = 30;
/// Growth between start and end that fails the run.
const MAX_GROWTH: f64 = 0.10;

/// The options of `cargo xtask soak`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Seconds of traffic (at least 30)
    #[arg(long, value_name = "N", default_value_t = 300)]
    secs: u64,
}

/// Entry point for `cargo xtask soak`.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let secs = args.secs;
    if secs < MIN_SECS {
        return Err(format!("--secs {secs}: a soak needs at least {MIN_SECS} s"));
    }
    let mut build = cargo();
    build.args(["build", "--release", "-p", "cors-gateway", "-p", "cors-benches"]);
    build.args(["--bin", "cors-gateway", "--bin", "bench-upstream", "--bin", "soak-traffic"]);
    exec(build)?;
    let root = root();
    let release = target_dir().join("release");
    let dir = target_dir().join("soak");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;

    let mut upstream = Command::new(release.join(exe("bench-upstream")));
    upstream.arg("127.0.0.1:0");
    let upstream = Process::start(upstream, &dir.join("upstream.log"), None)?;
    let mut gateway = Command::new(release.join(exe("cors-gateway")));
    gateway
        .arg("serve")
        .arg("--config")
        .arg(root.join("examples/policies/strict.yaml"))
        .args(["--listen", "127.0.0.1:0", "--upstream", &upstream.url, "--watch-interval", "0"])
        // Short client deadlines, so that the slow clients are cut off many times per run.
        .args(["--header-read-timeout", "2s", "--body-read-timeout", "2s"]);
    let gateway = Process::start(gateway, &dir.join("gateway.log"), None)?;
    let pid = gateway.child.id();
    let address = gateway.url.trim_start_matches("http://").to_owned();

    eprintln!("soak: {secs} s of mixed traffic against cors-gateway (pid {pid}) on {address}");
    let idle = sample(pid)?;
    let started = Instant::now();
    let mut traffic = Command::new(release.join(exe("soak-traffic")))
        .args([address.as_str(), &secs.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start soak-traffic: {e}"))?;
    let warm_up = Duration::from_secs((secs / 5).clamp(10, 60));
    sleep_until(started + warm_up);
    let start = median_sample(pid)?;
    eprintln!("soak: start (after {} s): {start}", warm_up.as_secs());
    sleep_until(started + Duration::from_secs(secs - 6));
    let end = median_sample(pid)?;
    eprintln!("soak: end: {end}");
    let output = wait_bounded(&mut traffic, started + Duration::from_secs(secs + 60))?;
    let summary = String::from_utf8_lossy(&output.0).into_owned();
    drop(gateway);
    drop(upstream);

    let rss_growth = growth(start.rss_kib, end.rss_kib);
    let fd_growth = growth(start.fds, end.fds);
    let report = format!(
        "## cargo xtask soak --secs {secs}\n\n\
         {summary}\n\
         | | idle, before the traffic | start (after {warm}) | end | growth |\n\
         | --- | --- | --- | --- | --- |\n\
         | resident memory (KiB) | {} | {} | {} | {:+.1} % |\n\
         | open file descriptors | {} | {} | {} | {:+.1} % |\n",
        idle.rss_kib,
        start.rss_kib,
        end.rss_kib,
        rss_growth * 100.0,
        idle.fds,
        start.fds,
        end.fds,
        fd_growth * 100.0,
        warm = format_args!("{} s", warm_up.as_secs()),
    );
    eprintln!("\n{report}");
    let report_file = dir.join("report.md");
    std::fs::write(&report_file, &report)
        .map_err(|e| format!("cannot write {}: {e}", report_file.display()))?;

    let mut problems = Vec::new();
    if !output.1 {
        problems.push("soak-traffic saw failed requests (see above)".to_owned());
    }
    for (what, grown) in [("resident memory", rss_growth), ("open file descriptors", fd_growth)] {
        if grown > MAX_GROWTH {
            problems.push(format!(
                "{what} grew by {:.1} % (limit {:.0} %)",
                grown * 100.0,
                MAX_GROWTH * 100.0
            ));
        }
    }
    if problems.is_empty() {
        eprintln!("soak: passed; report in {}", report_file.display());
        Ok(())
    } else {
        Err(format!("soak failed: {}; logs in {}", problems.join("; "), dir.display()))
    }
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

/// The median of five samples, one a second.
fn median_sample(pid: u32) -> Result<Sample, String> {
    let mut samples = Vec::new();
    for _ in 0..5 {
        samples.push(sample(pid)?);
        std::thread::sleep(Duration::from_secs(1));
    }
    let median = |mut values: Vec<u64>| {
        values.sort_unstable();
        values[values.len() / 2]
    };
    Ok(Sample {
        rss_kib: median(samples.iter().map(|s| s.rss_kib).collect()),
        fds: median(samples.iter().map(|s| s.fds).collect()),
    })
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
            return Err("soak-traffic did not stop by itself".to_owned());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let bytes = reader.join().map_err(|_| "reading soak-traffic's output failed".to_owned())?;
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
        assert!(run(&Args { secs: 5 }).unwrap_err().contains("at least 30 s"));
    }
}
