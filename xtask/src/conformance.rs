//! `cargo xtask conformance`: the conformance suite against the real `cors-gateway` binary.
//!
//! Builds `cors-gateway` and `cors-conformance`, starts the suite's echo upstream and one gateway
//! per profile on loopback, runs every case of each profile over HTTP, prints one summary table
//! per area and level, and writes `target/conformance/report.json` and `junit.xml` (plus one
//! JSON report and one gateway log per profile). Everything it started is killed when it returns.
//!
//! Options: `--profile P` (repeatable; default every profile), `--filter F`, `--level L`
//! (passed to each `cors-conformance run`). Every profile runs even after a failure.

use std::process::{Command, Stdio};

use cors_devtools::{exe, target_dir};

use crate::process::{Process, list_profiles};
use crate::util;

/// Runs the conformance suite (or, with `--peers`, the peers' matrix).
///
/// # Errors
///
/// A build fails, a process does not start, or any case fails (the message says which).
pub(crate) fn run(options: &Args) -> Result<(), String> {
    if options.peers {
        return crate::peers::run(&options.profiles, &options.peer_options);
    }
    let root = util::root();
    for (package, bin) in
        [("cors-gateway", "cors-gateway"), ("cors-conformance", "cors-conformance")]
    {
        let mut build = util::cargo();
        build.args(["build", "--quiet", "-p", package, "--bin", bin]);
        util::exec(build)?;
    }
    let bin_dir = target_dir().join("debug");
    let gateway_bin = bin_dir.join(exe("cors-gateway"));
    let conformance_bin = bin_dir.join(exe("cors-conformance"));
    let out_dir = target_dir().join("conformance");
    // Reports of an earlier run must not be mistaken for this one's.
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;

    let profiles_dir = root.join("spec-tests").join("profiles");
    let profiles = if options.profiles.is_empty() {
        list_profiles(&profiles_dir)?
    } else {
        options.profiles.clone()
    };

    let mut upstream_cmd = Command::new(&conformance_bin);
    upstream_cmd.args(["upstream", "--listen", "127.0.0.1:0"]);
    let upstream = Process::start(upstream_cmd, &out_dir.join("upstream.log"), None)?;
    let upstream_url = upstream.url.clone();
    eprintln!("conformance: upstream {upstream_url}");

    let known = root.join("spec-tests").join("known-failures.toml");
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for profile in &profiles {
        let config = profiles_dir.join(format!("{profile}.yaml"));
        let mut gateway_cmd = Command::new(&gateway_bin);
        gateway_cmd.arg("serve").arg("--config").arg(&config).args([
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream_url,
        ]);
        let gateway =
            Process::start(gateway_cmd, &out_dir.join(format!("{profile}.gateway.log")), None)?;
        let json = out_dir.join(format!("{profile}.json"));
        let output = Command::new(&conformance_bin)
            .args(["run", "--target", &gateway.url, "--profile", profile])
            .args(["--upstream-log", &upstream_url, "--target-name", "cors-gateway"])
            .arg("--known-failures")
            .arg(&known)
            .arg("--json-report")
            .arg(&json)
            .args(options.passthrough())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run cors-conformance: {e}"))?;
        drop(gateway);
        if output.status.success() {
            eprintln!("conformance: profile {profile}: ok");
        } else {
            eprintln!("conformance: profile {profile}: FAILED");
            eprint!("{}", String::from_utf8_lossy(&output.stdout));
            failed.push(profile.clone());
        }
        if json.exists() {
            reports.push(json);
        }
    }
    drop(upstream);

    let merged = Command::new(&conformance_bin)
        .args(["merge", "--target-name", "cors-gateway"])
        .arg("--json-report")
        .arg(out_dir.join("report.json"))
        .arg("--junit-report")
        .arg(out_dir.join("junit.xml"))
        .args(&reports)
        .status()
        .map_err(|e| format!("cannot run cors-conformance merge: {e}"))?;
    eprintln!("conformance: reports in {}", out_dir.display());
    if !failed.is_empty() {
        return Err(format!("conformance failures under profiles: {}", failed.join(", ")));
    }
    if !merged.success() {
        return Err("the merged report has failures".to_owned());
    }
    Ok(())
}

/// The options of `cargo xtask conformance`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Run the suite against third-party implementations too (tower-http, actix-cors; Envoy,
    /// nginx, Apache, express, rs/cors, flask-cors when installed: scripts/install-peers.sh,
    /// whose export tests run first), and write their matrix
    #[arg(long)]
    peers: bool,
    /// Run only this profile (repeatable); default: every profile of spec-tests/profiles
    #[arg(long = "profile", value_name = "P")]
    profiles: Vec<String>,
    /// Only the cases whose id contains F (passed to `cors-conformance run`)
    #[arg(long, value_name = "F", conflicts_with = "peers")]
    filter: Option<String>,
    /// Only the cases of level L: fetch, flex or ours (passed to `cors-conformance run`)
    #[arg(long, value_name = "L", conflicts_with = "peers")]
    level: Option<String>,
    #[command(flatten)]
    peer_options: crate::peers::Args,
}

impl Args {
    /// `--filter F --level L`, as `cors-conformance run` takes them.
    fn passthrough(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (flag, value) in [("--filter", &self.filter), ("--level", &self.level)] {
            if let Some(value) = value {
                args.extend([flag.to_owned(), value.clone()]);
            }
        }
        args
    }
}
