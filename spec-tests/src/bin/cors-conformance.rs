//! `cors-conformance`: the CORS conformance suite's command line.
//!
//! `list`, `profiles`, `upstream`, `run` and `differential`; see `spec-tests/README.md`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use cors_conformance::known::KnownFailures;
use cors_conformance::runner::{self, Selection};
use cors_conformance::{Corpus, HttpTarget, Level, UpstreamLog, profile, report, upstream};

/// Checks a CORS gateway against conformance cases derived from the Fetch standard and WPT.
#[derive(Debug, Parser)]
#[command(name = "cors-conformance", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Lists the cases: id, level, profile, title.
    List {
        /// Only cases whose id contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Only cases of this level (repeatable).
        #[arg(long, value_enum)]
        level: Vec<LevelArg>,
        /// Only cases that need this profile.
        #[arg(long)]
        profile: Option<String>,
    },
    /// Lists the profiles, or prints one profile's cors-flex configuration.
    Profiles {
        /// The profile to print.
        #[arg(long, value_name = "P")]
        show: Option<String>,
    },
    /// Runs the echo upstream a gateway under test forwards to.
    Upstream {
        /// The address to listen on (`127.0.0.1:0` picks a free port).
        #[arg(long, value_name = "ADDR")]
        listen: SocketAddr,
        /// Also append every request received to this file, one JSON object per line.
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
    },
    /// Runs the cases of one profile against a gateway configured with that profile.
    Run(RunArgs),
    /// Merges JSON reports of several `run`s (one per profile) into one report and table.
    Merge {
        /// JSON reports written by `run --json-report`.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// The merged report's name in the output.
        #[arg(long, value_name = "NAME", default_value = "merged")]
        target_name: String,
        /// Write the merged JSON report to this file.
        #[arg(long, value_name = "FILE")]
        json_report: Option<PathBuf>,
        /// Write the merged `JUnit` report to this file.
        #[arg(long, value_name = "FILE")]
        junit_report: Option<PathBuf>,
    },
    /// Sends random requests and compares each answer with cors-engine's decision for a policy.
    Differential {
        /// The gateway's URL, `http://HOST:PORT[/PREFIX]`.
        #[arg(long, value_name = "URL")]
        target: String,
        /// The cors-flex policy file the gateway was configured with.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// How many requests to send.
        #[arg(long, value_name = "N", default_value_t = 500)]
        requests: u32,
        /// The random seed (printed, so a run can be repeated).
        #[arg(long, value_name = "S")]
        seed: Option<u64>,
        /// How many divergences to print.
        #[arg(long, value_name = "K", default_value_t = 5)]
        show: usize,
    },
}

/// The arguments of `run`.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The gateway's URL, `http://HOST:PORT[/PREFIX]`.
    #[arg(long, value_name = "URL")]
    target: String,
    /// The profile the gateway was configured with.
    #[arg(long, value_name = "P")]
    profile: String,
    /// How to learn whether a request reached the upstream: the upstream's URL
    /// (`http://HOST:PORT`) or the file given to `upstream --log`. Default: the response's
    /// `x-conformance-upstream` stamp.
    #[arg(long, value_name = "URL|FILE")]
    upstream_log: Option<String>,
    /// Only cases whose id contains this text.
    #[arg(long, value_name = "F")]
    filter: Option<String>,
    /// The report format on standard output.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Only cases of this level (repeatable).
    #[arg(long, value_enum)]
    level: Vec<LevelArg>,
    /// A known-failures file (same format as `spec-tests/known-failures.toml`).
    #[arg(long, value_name = "FILE")]
    known_failures: Option<PathBuf>,
    /// The target name known-failure entries are matched against.
    #[arg(long, value_name = "NAME", default_value = "http")]
    target_name: String,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    json_report: Option<PathBuf>,
    /// Also write the `JUnit` report to this file.
    #[arg(long, value_name = "FILE")]
    junit_report: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LevelArg {
    Fetch,
    Flex,
    Ours,
}

impl From<LevelArg> for Level {
    fn from(level: LevelArg) -> Level {
        match level {
            LevelArg::Fetch => Level::Fetch,
            LevelArg::Flex => Level::Flex,
            LevelArg::Ours => Level::Ours,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    Junit,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("cors-conformance: error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Writes to standard output, ignoring a closed pipe (`| head`).
fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

fn execute(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::List { filter, level, profile } => {
            list(filter.as_deref(), level, profile.as_deref())
        }
        Command::Profiles { show } => profiles(show.as_deref()),
        Command::Upstream { listen, log } => serve_upstream(listen, log),
        Command::Run(args) => run(args),
        Command::Merge { reports, target_name, json_report, junit_report } => {
            merge(&reports, &target_name, json_report.as_deref(), junit_report.as_deref())
        }
        Command::Differential { target, policy, requests, seed, show } => {
            differential(&target, &policy, requests, seed, show)
        }
    }
}

fn list(
    filter: Option<&str>,
    level: Vec<LevelArg>,
    profile: Option<&str>,
) -> Result<ExitCode, String> {
    let corpus = Corpus::builtin().map_err(|e| e.to_string())?;
    let mut selection =
        Selection::all().filter(filter).levels(level.into_iter().map(Level::from).collect());
    if let Some(profile) = profile {
        selection = selection.profile(profile);
    }
    let mut text = String::new();
    let mut count = 0;
    for case in corpus.cases().iter().filter(|c| selection.selects(c)) {
        let _ =
            writeln!(text, "{:<58} {:<5} {:<21} {}", case.id, case.level, case.profile, case.title);
        count += 1;
    }
    let _ = writeln!(text, "{count} cases");
    out(&text);
    Ok(ExitCode::SUCCESS)
}

fn profiles(show: Option<&str>) -> Result<ExitCode, String> {
    if let Some(name) = show {
        let profile = profile::get(name).ok_or_else(|| unknown_profile(name))?;
        out(profile.yaml);
        return Ok(ExitCode::SUCCESS);
    }
    let corpus = Corpus::builtin().map_err(|e| e.to_string())?;
    let mut text = String::new();
    for profile in profile::PROFILES {
        let cases = corpus.cases().iter().filter(|c| c.profile == profile.name).count();
        let _ =
            writeln!(text, "{:<22} {cases:>4} cases  {}", profile.name, profile::summary(profile));
    }
    out(&text);
    Ok(ExitCode::SUCCESS)
}

fn serve_upstream(listen: SocketAddr, log: Option<PathBuf>) -> Result<ExitCode, String> {
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let (listener, local) =
            upstream::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        out(&format!("listening on http://{local}\n"));
        upstream::serve(listener, log).await.map_err(|e| format!("upstream failed: {e}"))
    })?;
    Ok(ExitCode::SUCCESS)
}

fn run(args: RunArgs) -> Result<ExitCode, String> {
    if profile::get(&args.profile).is_none() {
        return Err(unknown_profile(&args.profile));
    }
    let corpus = Corpus::builtin().map_err(|e| e.to_string())?;
    let known = match &args.known_failures {
        None => KnownFailures::none(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            KnownFailures::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())?
        }
    };
    let log = args.upstream_log.as_deref().map_or(UpstreamLog::Stamp, UpstreamLog::parse);
    let mut http =
        HttpTarget::new(&args.target, log).map_err(|e| e.to_string())?.with_name(&args.target_name);
    let selection = Selection::all()
        .profile(&args.profile)
        .filter(args.filter.as_deref())
        .levels(args.level.into_iter().map(Level::from).collect());
    let mut progress = |done: usize, total: usize| {
        if total >= 40 && (done.is_multiple_of(25) || done == total) {
            eprintln!("progress: {done}/{total} cases");
        }
    };
    let report = runner::run(&corpus, &selection, &mut http, &known, &mut progress);
    if let Some(path) = &args.json_report {
        write_file(path, &report::json(&report))?;
    }
    if let Some(path) = &args.junit_report {
        write_file(path, &report::junit(&report))?;
    }
    match args.format {
        Format::Text => out(&report::text(&report)),
        Format::Json => {
            out(&report::json(&report));
            out("\n");
            eprint!("{}", report::table(&report));
        }
        Format::Junit => {
            out(&report::junit(&report));
            eprint!("{}", report::table(&report));
        }
    }
    Ok(if report.is_success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn merge(
    reports: &[PathBuf],
    target_name: &str,
    json_report: Option<&std::path::Path>,
    junit_report: Option<&std::path::Path>,
) -> Result<ExitCode, String> {
    let mut merged = runner::Report::empty(target_name);
    for path in reports {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let report = report::from_json(&text)
            .map_err(|e| format!("{} is not a JSON report: {e}", path.display()))?;
        merged.merge(report);
    }
    if let Some(path) = json_report {
        write_file(path, &report::json(&merged))?;
    }
    if let Some(path) = junit_report {
        write_file(path, &report::junit(&merged))?;
    }
    out(&report::text(&merged));
    Ok(if merged.is_success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn differential(
    target: &str,
    policy: &std::path::Path,
    requests: u32,
    seed: Option<u64>,
    show: usize,
) -> Result<ExitCode, String> {
    let loaded = cors_policy::Policy::from_yaml_file(policy).map_err(|e| e.to_string())?;
    let seed = seed.unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        u64::try_from(nanos & u128::from(u64::MAX)).unwrap_or(0)
    });
    eprintln!("differential: seed {seed} ({requests} requests against {target})");
    let mut http = HttpTarget::new(target, UpstreamLog::Stamp).map_err(|e| e.to_string())?;
    let mut progress = |done: u32, total: u32| {
        if total >= 200 && (done.is_multiple_of(100) || done == total) {
            eprintln!("progress: {done}/{total} requests");
        }
    };
    let report = cors_conformance::differential::run(
        loaded.policy,
        &mut http,
        requests,
        seed,
        show,
        &mut progress,
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    for (i, divergence) in report.first.iter().enumerate() {
        let _ = writeln!(text, "divergence {} (minimized):\n{}", i + 1, divergence.render());
    }
    let _ = writeln!(
        text,
        "{}: {} requests, {} diverged (seed {}; rerun with --seed {})",
        if report.diverged == 0 { "ok" } else { "FAILED" },
        report.sent,
        report.diverged,
        report.seed,
        report.seed
    );
    out(&text);
    Ok(if report.diverged == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn write_file(path: &std::path::Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn unknown_profile(name: &str) -> String {
    let names: Vec<&str> = profile::PROFILES.iter().map(|p| p.name).collect();
    format!("unknown profile {name:?}; hint: one of {}", names.join(", "))
}
