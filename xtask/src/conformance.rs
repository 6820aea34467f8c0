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

use crate::process::{Process, exe, list_profiles, target_dir};
use crate::util;

/// Runs the conformance suite; `args` are the arguments after `conformance`.
///
/// # Errors
///
/// A build fails, a process does not start, or any case fails (the message says which).
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let options = Options::parse(args)?;
    let root = util::root();
    for (package, bin) in
        [("cors-gateway", "cors-gateway"), ("cors-conformance", "cors-conformance")]
    {
        let mut build = util::cargo();
        build.args(["build", "--quiet", "-p", package, "--bin", bin]);
        util::exec(build)?;
    }
    let bin_dir = target_dir(&root).join("debug");
    let gateway_bin = bin_dir.join(exe("cors-gateway"));
    let conformance_bin = bin_dir.join(exe("cors-conformance"));
    let out_dir = target_dir(&root).join("conformance");
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
            .args(&options.passthrough)
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

/// Parsed `cargo xtask conformance` options.
#[derive(Debug, Default)]
struct Options {
    profiles: Vec<String>,
    passthrough: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next().cloned().ok_or_else(|| format!("conformance: {name} needs a value"))
            };
            match arg.as_str() {
                "--profile" => options.profiles.push(value("--profile")?),
                "--filter" | "--level" => {
                    let v = value(arg)?;
                    options.passthrough.extend([arg.clone(), v]);
                }
                other => {
                    return Err(format!(
                        "conformance: unknown argument {other:?}; hint: --profile P, --filter F, --level L"
                    ));
                }
            }
        }
        Ok(options)
    }
}
