//! `cors-conformance`: the CORS conformance suite's command line.
//!
//! `list`, `profiles`, `export`, `upstream`, `run`, `merge` and `differential`; see
//! `spec-tests/README.md` and `cors-conformance --help`.
//!
//! Everything it writes goes through [`write_text`], which ignores a closed pipe; the print
//! macros, which panic there, are denied.
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::builder::PossibleValuesParser;
use clap::{Parser, Subcommand, ValueEnum};
use cors_conformance::known::KnownFailures;
use cors_conformance::peer::classify::classify;
use cors_conformance::peer::{Endpoints, Peer, Subject};
use cors_conformance::runner::{self, Outcome, Report, Selection};
use cors_conformance::settle::{Settled, Settler};
use cors_conformance::setup::Setup;
use cors_conformance::{
    Corpus, HttpOptions, HttpTarget, Level, Observed, OutgoingRequest, Target, TargetError,
    TargetErrorKind, Tls, UpstreamLog, input, profile, report, upstream,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const EXIT_CODES: &str = "\
Exit status:
  0  every selected case passed
  1  a case failed or got no valid answer (or a known-failure entry is stale, or differential
     found a divergence)
  2  usage error: a bad option, an unknown profile or target, an unreadable file, no case selected
  3  the target, or the --upstream-log URL, is unreachable, or the setup command failed (said
     once, on one line)";

/// Checks a CORS gateway against conformance cases derived from the Fetch standard and WPT.
#[derive(Debug, Parser)]
#[command(name = "cors-conformance", version, about, after_help = EXIT_CODES)]
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
    /// Writes the configuration that makes a gateway or library implement a profile as closely
    /// as it can, with what it cannot express stated in comments.
    Export(ExportArgs),
    /// Runs the echo upstream a gateway under test forwards to.
    Upstream {
        /// The address to listen on (`127.0.0.1:0` picks a free port).
        #[arg(long, value_name = "ADDR")]
        listen: SocketAddr,
        /// Also append every request received to this file, one JSON object per line.
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
    },
    /// Runs the cases of one profile, or of every profile, against a gateway.
    #[command(after_help = EXIT_CODES)]
    Run(Box<RunArgs>),
    /// Merges JSON reports of several `run`s into one report and table.
    Merge {
        /// JSON reports written by `run --json-report`.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// The merged report's name in the output.
        #[arg(long, value_name = "NAME", default_value = "merged")]
        target_name: String,
        #[command(flatten)]
        outputs: Outputs,
    },
    /// Sends random requests and compares each answer with cors-engine's decision for a policy.
    #[command(after_help = EXIT_CODES)]
    Differential(DifferentialArgs),
}

/// Where a gateway is and how to talk to it.
#[derive(Debug, clap::Args)]
struct TargetArgs {
    /// The gateway's URL, `http[s]://HOST[:PORT][/PREFIX]`; `{profile}` in it is replaced by
    /// each profile's name (for a gateway serving each profile at its own address).
    #[arg(long, value_name = "URL")]
    target: String,
    /// A header line added to every request, `NAME: VALUE` (repeatable), for authentication or
    /// a virtual host's `Host`. A case that sends the same header keeps its own.
    #[arg(long = "header", value_name = "NAME: VALUE", value_parser = HttpOptions::parse_header)]
    headers: Vec<(String, String)>,
    /// How long one exchange may take.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    timeout: Duration,
    /// Trust only the CA certificates of this PEM file for an https target.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    ca: Option<PathBuf>,
    /// Accept any certificate from an https target (a test gateway's self-signed one).
    #[arg(long)]
    insecure: bool,
}

/// A duration flag's value: a humantime duration (`10s`, `2m`, `500ms`) other than zero, which
/// would make every exchange, setup or wait fail at once and be reported as an unreachable
/// target rather than as the usage mistake it is.
fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(duration) if duration.is_zero() => Err("must be more than zero".to_owned()),
        Ok(duration) => Ok(duration),
        Err(error) => Err(error.to_string()),
    }
}

impl TargetArgs {
    fn options(&self) -> HttpOptions {
        let mut options = HttpOptions::default();
        options.headers.clone_from(&self.headers);
        options.timeout = self.timeout;
        options.tls = match (&self.ca, self.insecure) {
            (Some(ca), _) => Tls::CaFile(ca.clone()),
            (None, true) => Tls::DangerouslyAcceptAnyCertificate,
            (None, false) => Tls::SystemRoots,
        };
        options
    }

    fn url(&self, profile: &str) -> String {
        self.target.replace("{profile}", profile)
    }
}

/// The report files to write.
#[derive(Debug, clap::Args)]
struct Outputs {
    #[arg(
        long = "json-report",
        value_name = "FILE",
        help = "Write the JSON report (schema: spec-tests/REPORT.md) to this file"
    )]
    json: Option<PathBuf>,
    #[arg(
        long = "junit-report",
        value_name = "FILE",
        help = "Write the JUnit XML report to this file"
    )]
    junit: Option<PathBuf>,
    #[arg(
        long = "html-report",
        value_name = "FILE",
        help = "Write the self-contained HTML report to this file"
    )]
    html: Option<PathBuf>,
}

impl Outputs {
    fn write(&self, report: &Report) -> Result<(), Failure> {
        if let Some(path) = &self.json {
            write_file(path, &report::json(report))?;
        }
        if let Some(path) = &self.junit {
            write_file(path, &report::junit(report))?;
        }
        if let Some(path) = &self.html {
            write_file(path, &report::html(report))?;
        }
        Ok(())
    }
}

/// The arguments of `run`.
#[derive(Debug, clap::Args)]
// One of --profile and --all-profiles, so that clap's error names both when neither is given.
#[command(group(clap::ArgGroup::new("profiles").required(true).args(["profile", "all_profiles"])))]
struct RunArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The profile the gateway is configured with: `cors-conformance profiles` lists them,
    /// `profiles --show P` prints one's cors-flex policy and `export --profile P --to nginx`
    /// (apache, envoy...) the configuration that makes a gateway run it.
    #[arg(long, value_name = "P")]
    profile: Option<String>,
    /// Run every profile, one after the other (with --setup to reconfigure the gateway before
    /// each), into one report.
    #[arg(long)]
    all_profiles: bool,
    /// A shell command run before each profile to reconfigure the gateway; `{profile}`,
    /// `{policy}` (a cors-flex file) and `{export:TARGET}` (a file written by `export`) are
    /// replaced. The run then waits until the gateway serves the new profile.
    #[arg(long, value_name = "CMD")]
    setup: Option<String>,
    /// How long to wait, after the setup command, for the gateway to serve the new profile.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = positive_duration)]
    settle_timeout: Duration,
    /// How long the setup command may run.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = positive_duration)]
    setup_timeout: Duration,
    /// Where `{export:TARGET}` configurations listen (default: the target URL's HOST:PORT).
    #[arg(long, value_name = "ADDR")]
    export_listen: Option<String>,
    #[arg(
        long,
        value_name = "URL",
        help = "Where `{export:TARGET}` configurations forward to (default: the --upstream-log URL, or http://127.0.0.1:9000)"
    )]
    export_upstream: Option<String>,
    /// How to learn whether a request reached the upstream: the upstream's URL
    /// (`http://HOST:PORT`) or the file given to `upstream --log`. Default: the response's
    /// `x-conformance-upstream` stamp.
    #[arg(long, value_name = "URL|FILE")]
    upstream_log: Option<String>,
    /// Only cases whose id contains this text.
    #[arg(long, value_name = "F")]
    filter: Option<String>,
    /// Only cases of this level (repeatable).
    #[arg(long, value_enum)]
    level: Vec<LevelArg>,
    /// A known-failures file (same format as `spec-tests/known-failures.toml`).
    #[arg(long, value_name = "FILE")]
    known_failures: Option<PathBuf>,
    /// The target's name in reports (the verdict line, `--json-report`'s `target`,
    /// `--junit-report`'s suite), which known-failure entries are matched against [default: the
    /// --target URL]
    #[arg(long, value_name = "NAME")]
    target_name: Option<String>,
    /// The gateway runs `export --to PEER`'s configuration (or the same recipe): after the
    /// verdict, say how many failures that export states (what PEER cannot express, where its
    /// recipe answers otherwise than cors-flex) and how many it does not explain. The exit
    /// status and the reports do not change
    #[arg(long, value_name = "PEER", value_parser = PossibleValuesParser::new(Peer::ALL.map(Peer::name)))]
    peer: Option<String>,
    /// How many cases are in flight at once (reports keep the case order).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    #[arg(
        long,
        value_enum,
        default_value_t = Format::Text,
        help = "The report on standard output (with json and junit, the summary goes to standard error)"
    )]
    format: Format,
    #[command(flatten)]
    outputs: Outputs,
}

/// The arguments of `export`.
#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// A built-in profile (`cors-conformance profiles`) or a cors-flex file.
    #[arg(long, value_name = "P")]
    profile: String,
    /// What to configure.
    #[arg(long, value_name = "TARGET", value_parser = PossibleValuesParser::new(Peer::ALL.map(Peer::name)))]
    to: String,
    /// Where an exported server listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Where an exported server forwards to (the suite's upstream, or your API).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9000")]
    upstream: String,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// The arguments of `differential`.
#[derive(Debug, clap::Args)]
struct DifferentialArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The cors-flex policy file the gateway was configured with.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "profile",
        conflicts_with = "profile"
    )]
    policy: Option<PathBuf>,
    /// The built-in profile the gateway was configured with.
    #[arg(long, value_name = "P")]
    profile: Option<String>,
    /// How many requests to send.
    #[arg(long, value_name = "N", default_value_t = 500)]
    requests: u32,
    /// The random seed (printed, so a run can be repeated).
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// How many distinct divergences to find and print.
    #[arg(long, value_name = "K", default_value_t = 5)]
    show: usize,
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
    /// The table, the first failures, the verdict: one screen.
    Text,
    /// Every failure with its request, expectations and answer, then the table.
    Details,
    /// The JSON report.
    Json,
    #[value(help = "The JUnit XML report")]
    Junit,
}

/// Why a command did not complete, and its exit status.
#[derive(Debug)]
enum Failure {
    /// Exit 2.
    Usage(String),
    /// Exit 3: the target cannot be reached.
    Unreachable(String),
    /// Exit 3: the setup command failed, with its output.
    Setup { message: String, output: String },
}

impl Failure {
    fn usage(message: impl std::fmt::Display) -> Failure {
        Failure::Usage(message.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            err(format_args!("cors-conformance: error: {message}"));
            ExitCode::from(2)
        }
        Err(Failure::Unreachable(message)) => {
            err(format_args!("cors-conformance: {message}"));
            ExitCode::from(3)
        }
        Err(Failure::Setup { message, output }) => {
            if !output.trim().is_empty() {
                err(format_args!("{}", output.trim_end()));
            }
            err(format_args!("cors-conformance: {message}"));
            ExitCode::from(3)
        }
    }
}

/// Writes `text` to `to` as it is, ignoring a failed write: a closed pipe (`| head`, `run ...
/// 2>&1 | head -1`) loses the text, never the exit code the help gives (`println!` and
/// `eprintln!` panic there, exiting 101). The only way the command writes.
fn write_text(mut to: impl Write, text: std::fmt::Arguments<'_>) {
    let _ = to.write_fmt(text);
    let _ = to.flush();
}

/// Writes to standard output ([`write_text`]).
fn out(text: &str) {
    write_text(std::io::stdout().lock(), format_args!("{text}"));
}

/// Writes a line to standard error ([`write_text`]).
fn err(line: std::fmt::Arguments<'_>) {
    write_text(std::io::stderr().lock(), format_args!("{line}\n"));
}

fn execute(command: Command) -> Result<ExitCode, Failure> {
    match command {
        Command::List { filter, level, profile } => {
            list(filter.as_deref(), level, profile.as_deref())
        }
        Command::Profiles { show } => profiles(show.as_deref()),
        Command::Export(args) => export(&args),
        Command::Upstream { listen, log } => serve_upstream(listen, log),
        Command::Run(args) => run(&args),
        Command::Merge { reports, target_name, outputs } => merge(&reports, &target_name, &outputs),
        Command::Differential(args) => differential(&args),
    }
}

fn corpus() -> Result<Corpus, Failure> {
    Corpus::builtin().map_err(Failure::usage)
}

fn list(
    filter: Option<&str>,
    level: Vec<LevelArg>,
    profile: Option<&str>,
) -> Result<ExitCode, Failure> {
    let corpus = corpus()?;
    let mut selection =
        Selection::all().filter(filter).levels(level.into_iter().map(Level::from).collect());
    if let Some(profile) = profile {
        check_profile(profile)?;
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

fn profiles(show: Option<&str>) -> Result<ExitCode, Failure> {
    if let Some(name) = show {
        let profile = check_profile(name)?;
        out(profile.yaml);
        return Ok(ExitCode::SUCCESS);
    }
    let corpus = corpus()?;
    let mut text = String::new();
    for profile in profile::PROFILES {
        let cases = corpus.cases().iter().filter(|c| c.profile == profile.name).count();
        let _ =
            writeln!(text, "{:<22} {cases:>4} cases  {}", profile.name, profile::summary(profile));
    }
    out(&text);
    Ok(ExitCode::SUCCESS)
}

fn export(args: &ExportArgs) -> Result<ExitCode, Failure> {
    let peer = Peer::from_name(&args.to).map_err(Failure::usage)?;
    let subject = Subject::load(&args.profile).map_err(Failure::usage)?;
    let endpoints = Endpoints::new(&args.listen, &args.upstream).map_err(Failure::usage)?;
    let text = peer.export(&subject, &endpoints).map_err(Failure::usage)?;
    match &args.out {
        Some(path) => write_file(path, &text)?,
        None => out(&text),
    }
    Ok(ExitCode::SUCCESS)
}

fn serve_upstream(listen: SocketAddr, log: Option<PathBuf>) -> Result<ExitCode, Failure> {
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| Failure::usage(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let (listener, local) =
            upstream::bind(listen).await.map_err(|e| Failure::usage(listen_error(listen, &e)))?;
        out(&format!("listening on http://{local}\n"));
        upstream::serve(listener, log)
            .await
            .map_err(|e| Failure::usage(format!("upstream failed: {e}")))
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Where Linux keeps the range of local ports outgoing connections are given.
const EPHEMERAL_RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// Why `upstream --listen` could not listen: the error, and, when the port is taken and lies in
/// the kernel's ephemeral range, a hint that an outgoing connection may hold it.
fn listen_error(listen: SocketAddr, error: &std::io::Error) -> String {
    let mut message = format!("cannot listen on {listen}: {error}");
    if error.kind() == std::io::ErrorKind::AddrInUse {
        let range = std::fs::read_to_string(EPHEMERAL_RANGE_FILE).ok();
        if let Some(hint) = ephemeral_hint(listen.port(), range.as_deref()) {
            message.push_str(&hint);
        }
    }
    message
}

/// The hint for a taken `port` inside the ephemeral range (`range`: the text of
/// [`EPHEMERAL_RANGE_FILE`], two numbers), or `None` outside it or when the range is unknown.
fn ephemeral_hint(port: u16, range: Option<&str>) -> Option<String> {
    let mut bounds = range?.split_whitespace().map(str::parse::<u16>);
    let (Some(Ok(low)), Some(Ok(high))) = (bounds.next(), bounds.next()) else { return None };
    (low..=high).contains(&port).then(|| {
        format!(
            "; port {port} is in the kernel's ephemeral range {low}-{high} \
             ({EPHEMERAL_RANGE_FILE}), from which outgoing connections take their local port, \
             so one may hold it: choose a port outside that range (or port 0 for any free one)"
        )
    })
}

impl RunArgs {
    /// The name reports give the target: `--target-name`, else the `--target` URL as written.
    fn target_name(&self) -> &str {
        self.target_name.as_deref().unwrap_or(&self.target.target)
    }
}

/// One target per concurrent worker, all alike.
fn targets(
    args: &RunArgs,
    profile: &str,
    log: &UpstreamLog,
) -> Result<Vec<Box<dyn Target + Send>>, Failure> {
    let url = args.target.url(profile);
    let first = HttpTarget::with_options(&url, log.clone(), args.target.options())
        .map_err(target_failure)?
        .with_name(args.target_name());
    let mut all: Vec<Box<dyn Target + Send>> = Vec::new();
    for _ in 1..args.concurrency {
        all.push(Box::new(first.try_clone().map_err(target_failure)?));
    }
    all.insert(0, Box::new(first));
    Ok(all)
}

fn target_failure(error: TargetError) -> Failure {
    match error.kind {
        TargetErrorKind::Unreachable | TargetErrorKind::Timeout => {
            Failure::Unreachable(format!("the target is unreachable: {error}"))
        }
        _ => Failure::usage(error),
    }
}

/// The profiles a run covers.
fn run_profiles(args: &RunArgs) -> Result<Vec<&'static str>, Failure> {
    if args.all_profiles {
        if args.setup.is_none() && !args.target.target.contains("{profile}") {
            return Err(Failure::usage(
                "--all-profiles needs --setup CMD to reconfigure the gateway before each \
                 profile, or a target URL with {profile}",
            ));
        }
        return Ok(profile::names());
    }
    let name = args.profile.as_deref().unwrap_or_default();
    Ok(vec![check_profile(name)?.name])
}

fn run(args: &RunArgs) -> Result<ExitCode, Failure> {
    let profiles = run_profiles(args)?;
    let corpus = corpus()?;
    let known = match &args.known_failures {
        None => KnownFailures::none(),
        Some(path) => {
            let text = input::read_text(path).map_err(Failure::usage)?;
            KnownFailures::parse(&text, &path.display().to_string()).map_err(Failure::usage)?
        }
    };
    let log = match args.upstream_log.as_deref() {
        None => UpstreamLog::Stamp,
        Some(value) => UpstreamLog::parse(value)
            .map_err(|e| Failure::usage(format!("invalid --upstream-log: {e}")))?,
    };
    if let UpstreamLog::File(path) = &log {
        // Read once before any case, so that a fifo, a device or a file past the cap is said
        // once, as a usage error, rather than as every case's error.
        input::read_text(path)
            .map_err(|e| Failure::usage(format!("invalid --upstream-log: {e}")))?;
    }
    let levels: Vec<Level> = args.level.iter().copied().map(Level::from).collect();
    let selection = |profile: &str| {
        Selection::all().profile(profile).filter(args.filter.as_deref()).levels(levels.clone())
    };
    let total: usize = profiles
        .iter()
        .map(|p| corpus.cases().iter().filter(|c| selection(p).selects(c)).count())
        .sum();
    if total == 0 {
        return Err(Failure::usage(format!(
            "no case is selected ({}); `cors-conformance list` shows the ids, levels and \
             profiles of every case",
            selection_words(args, &profiles)
        )));
    }
    let setup = match &args.setup {
        None => None,
        Some(command) => Some(setup(args, command, &log)?),
    };
    let mut settler = match &setup {
        Some(_) => Some(Settler::new().map_err(Failure::usage)?),
        None => None,
    };
    check_reachable(args, &profiles, &log, setup.is_none())?;
    let progress = Progress::new(total);
    let mut combined = Report::empty(args.target_name());
    let mut previous: Option<&str> = None;
    let mut done_before = 0;
    for profile in &profiles {
        let mut targets = targets(args, profile, &log)?;
        if let (Some((setup, _dir)), Some(settler)) = (&setup, settler.as_mut()) {
            reconfigure(setup, settler, targets[0].as_mut(), profile, previous, args, &progress)?;
        }
        progress.message(profile);
        let tick = |done: usize, _: usize| progress.set(done_before + done);
        let report = if targets.len() == 1 {
            let mut tick = tick;
            runner::run(&corpus, &selection(profile), targets[0].as_mut(), &known, &mut tick)
        } else {
            runner::run_concurrent(&corpus, &selection(profile), &mut targets, &known, &tick)
        };
        done_before += report.results.len();
        combined.merge(report);
        if combined.unreachable.is_some() {
            break;
        }
        previous = Some(profile);
    }
    progress.finish();
    // Before the setup ends: a gateway it started still answers the request without Origin.
    let mut refusals = None;
    if combined.unreachable.is_none() {
        let last = profiles.last().copied().unwrap_or_default();
        refusals = discount_refusals(&mut combined, || answer_without_origin(args, last, &log));
    }
    drop(setup);
    args.outputs.write(&combined)?;
    if let Some(why) = &combined.unreachable {
        return Err(Failure::Unreachable(format!("the target became unreachable: {why}")));
    }
    let profile = if profiles.len() == 1 { profiles[0] } else { "P" };
    let upstream_down = upstream_down(&combined, &log, refusals.as_ref().map(|r| (r, profile)));
    let words = peer_words(args.peer.as_deref(), &combined, &corpus)?;
    let summary = report::summary(&combined) + &words;
    match args.format {
        Format::Text => out(&summary),
        Format::Details => out(&(report::text(&combined) + &words)),
        Format::Json => {
            out(&report::json(&combined));
            out("\n");
            write_text(std::io::stderr().lock(), format_args!("{summary}"));
        }
        Format::Junit => {
            out(&report::junit(&combined));
            write_text(std::io::stderr().lock(), format_args!("{summary}"));
        }
    }
    if let Some(warning) = upstream_down {
        err(format_args!("{warning}"));
    }
    Ok(if combined.is_success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// What the export of `--peer` says of the report's failures, for after the verdict (empty
/// without `--peer`, or when it says nothing).
fn peer_words(peer: Option<&str>, report: &Report, corpus: &Corpus) -> Result<String, Failure> {
    let Some(peer) = peer else { return Ok(String::new()) };
    let peer = Peer::from_name(peer).map_err(Failure::usage)?;
    let data = peer.data().map_err(|e| Failure::usage(e.to_string()))?;
    let found = classify(peer.name(), report, &data, corpus).failures_in_words();
    Ok(if found.is_empty() { String::new() } else { format!("\n{found}") })
}

/// Statuses a target answers itself before any CORS handling: a credential wall (`401`, `407`),
/// a path it does not serve (`404`), an upstream it cannot reach (`502` to `504`). Not `403`,
/// which some CORS implementations answer a refused origin with: see [`FORBIDDEN`].
const REFUSALS: [u16; 6] = [401, 404, 407, 502, 503, 504];

/// `403`, a refused origin's answer in some CORS implementations, and an authorization wall's
/// in front of others. It counts with [`REFUSALS`] only when the target also answers it to a
/// request without `Origin`, which is not a CORS request (Fetch, R1) and which no CORS handling
/// refuses: then it came from something in front of the CORS handling.
const FORBIDDEN: u16 = 403;

/// Whether the target gave this answer itself, before any CORS handling: it did not reach the
/// upstream and carries no `Access-Control-*` field.
fn its_own(answer: &Observed) -> bool {
    !answer.forwarded && !answer.headers.iter().any(|(name, _)| name.starts_with("access-control-"))
}

/// When no request of the run reached the upstream and the target answered every case itself,
/// with one of [`REFUSALS`] and no `Access-Control-*` field, its answers show nothing of its
/// CORS handling; yet a case that expects no grant passed on them, so that a subset of such
/// cases (`--filter not-granted`) passed whole, exit status 0, against a gateway that wanted
/// credentials, served another path or had no upstream (F-DI). Each such pass becomes an error
/// saying so, in every report and in the exit status; the warning of [`upstream_down`] follows.
///
/// Answers of [`FORBIDDEN`] count too when `without_origin`, the target's answer to a request
/// without `Origin` (asked only then), is that same `403` of its own: an authorization wall,
/// not a CORS refusal. Answered otherwise, the `403`s were CORS refusals: that answer is
/// returned, for the warning of [`upstream_down`] to say so.
fn discount_refusals(
    report: &mut Report,
    without_origin: impl FnOnce() -> Option<Observed>,
) -> Option<Observed> {
    let answers: Vec<&Observed> =
        report.results.iter().filter_map(|result| result.observed.as_ref()).collect();
    let own = |answer: &&Observed| {
        its_own(answer) && (REFUSALS.contains(&answer.status) || answer.status == FORBIDDEN)
    };
    if answers.is_empty() || !answers.iter().all(own) {
        return None;
    }
    let walled = answers.iter().any(|answer| answer.status == FORBIDDEN);
    if walled {
        match without_origin() {
            Some(answer) if its_own(&answer) && answer.status == FORBIDDEN => {}
            answered => return answered,
        }
    }
    let also =
        if walled { " and a request without Origin, which no CORS handling refuses" } else { "" };
    for result in &mut report.results {
        if let (Outcome::Pass, Some(answer)) = (&result.outcome, &result.observed) {
            result.outcome = Outcome::Error {
                message: format!(
                    "not a pass: the target answered {} itself, with no Access-Control-* field, \
                     as it answered every case of the run, none reaching the upstream{also}; \
                     this answer shows nothing of its CORS handling",
                    answer.status
                ),
            };
        }
    }
    None
}

/// The target's answer to `GET /` without `Origin` (with the `--header` lines), under `profile`;
/// `None` when none came.
fn answer_without_origin(args: &RunArgs, profile: &str, log: &UpstreamLog) -> Option<Observed> {
    let url = args.target.url(profile);
    let mut target = HttpTarget::with_options(&url, log.clone(), args.target.options()).ok()?;
    let marker = format!("without-origin~{}", runner::run_nonce());
    target.send(profile, &OutgoingRequest::new("GET", "/", Vec::new(), &marker)).ok()
}

/// A warning when no request of the run reached the upstream and cases failed: answered `502`,
/// `503` or `504` by the target itself, its upstream is down, or not where it forwards; answered
/// `401`, `403` or `407`, it wants credentials (`--header`), unless `refusals` holds the answer
/// to a request without `Origin` that told its `403`s are CORS refusals ([`discount_refusals`])
/// and the run's `profile`: then it refuses the cases' origins, and is asked whether it runs that
/// profile; answered otherwise (`404` most often), the target URL's path is not the one the
/// gateway forwards.
/// Each such case says only "expected forwarded to the upstream, got answered by the gateway"
/// and the status, which reads as a CORS failure.
fn upstream_down(
    report: &Report,
    log: &UpstreamLog,
    refusals: Option<(&Observed, &str)>,
) -> Option<String> {
    let observed = || report.results.iter().filter_map(|result| result.observed.as_ref());
    if observed().any(|answer| answer.forwarded) {
        return None;
    }
    let failing: Vec<u16> = report
        .results
        .iter()
        .filter(|result| result.is_failure())
        .filter_map(|result| result.observed.as_ref().map(|answer| answer.status))
        .collect();
    let refused = failing.iter().filter(|status| (502..=504).contains(*status)).count();
    if refused > 0 {
        return Some(format!(
            "cors-conformance: warning: no request reached the upstream, and the target answered \
             {refused} failing cases with 502, 503 or 504 itself: is the upstream it forwards \
             to running? (the exports forward to the suite's echo upstream, \
             `cors-conformance upstream --listen 127.0.0.1:9000`, unless --export-upstream or \
             --upstream-log says another address)"
        ));
    }
    // Every answer came from the target itself: most often another path than the one it
    // forwards (a gateway serving the API under a prefix), or an upstream that is not ours.
    let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
    for status in &failing {
        *counts.entry(*status).or_default() += 1;
    }
    let (status, count) = counts.into_iter().max_by_key(|&(status, count)| (count, !status))?;
    if let (FORBIDDEN, Some((answer, profile))) = (status, refusals) {
        let how = if answer.forwarded { "forwarded" } else { "not forwarded" };
        return Some(format!(
            "cors-conformance: warning: no request reached the upstream: the target answered \
             every case itself ({count} of {} failing cases with 403), and the 403s are CORS \
             refusals: it answered a request without Origin otherwise ({}, {how}). It refuses \
             the origins the cases send: is it configured with the profile the run tests? \
             `cors-conformance profiles --show {profile}` prints its cors-flex policy, `export \
             --profile {profile} --to nginx` (apache, envoy...) a peer's configuration",
            failing.len(),
            answer.status
        ));
    }
    if matches!(status, 401 | 403 | 407) {
        // Refused before the path mattered: a target that wants credentials, whose answer no
        // other path would change.
        return Some(format!(
            "cors-conformance: warning: no request reached the upstream: the target answered \
             every case itself ({count} of {} failing cases with {status}), refusing them as \
             unauthenticated. Give it the credentials it needs on every request with --header \
             'Authorization: Bearer TOKEN' (or the header it reads: --header 'X-Api-Key: KEY'); \
             a case that sends that header itself keeps its own",
            failing.len()
        ));
    }
    let stamp = if matches!(log, UpstreamLog::Stamp) {
        "; if it does, give --upstream-log http://HOST:PORT of that upstream (the target may \
         drop the upstream's `x-conformance-upstream` field, which tells forwarded answers \
         without it)"
    } else {
        ""
    };
    Some(format!(
        "cors-conformance: warning: no request reached the upstream: the target answered every \
         case itself ({count} of {} failing cases with {status}). Does it forward this URL's \
         path to the suite's echo upstream (`cors-conformance upstream`)? A gateway that serves \
         its API under a path takes it in the target URL: --target http://HOST:PORT/PREFIX{stamp}",
        failing.len()
    ))
}

/// Checks every target URL before anything runs and, unless a setup command is to start or
/// reconfigure the gateway (`probe_them` false), that it answers at all; and the upstream the
/// run asks, lest its absence be taken for the target's.
fn check_reachable(
    args: &RunArgs,
    profiles: &[&str],
    log: &UpstreamLog,
    probe_them: bool,
) -> Result<(), Failure> {
    let mut checked = Vec::new();
    for profile in profiles {
        let url = args.target.url(profile);
        if !checked.contains(&url) {
            let target = HttpTarget::with_options(&url, log.clone(), args.target.options())
                .map_err(target_failure)?;
            if probe_them {
                probe(target, "the target")?;
            }
            checked.push(url);
        }
    }
    if let (UpstreamLog::Url(base), true) = (log, probe_them) {
        let mut options = HttpOptions::default();
        options.timeout = args.target.timeout;
        let upstream = HttpTarget::with_options(base, UpstreamLog::Stamp, options)
            .map_err(|e| Failure::usage(format!("invalid --upstream-log: {e}")))?;
        probe(upstream, "the upstream log (--upstream-log)")?;
    }
    Ok(())
}

/// The options that chose a run's cases, in words, for the error that none was chosen.
fn selection_words(args: &RunArgs, profiles: &[&str]) -> String {
    let mut words = match profiles {
        [one] => vec![format!("--profile {one}")],
        _ => vec!["--all-profiles".to_owned()],
    };
    if let Some(filter) = &args.filter {
        words.push(format!("--filter {filter:?}"));
    }
    for level in &args.level {
        words.push(format!("--level {}", Level::from(*level)));
    }
    words.join(" ")
}

/// Runs the setup command for `profile`, then waits until the gateway serves it.
fn reconfigure(
    setup: &Setup,
    settler: &mut Settler,
    target: &mut dyn Target,
    profile: &str,
    previous: Option<&str>,
    args: &RunArgs,
    progress: &Progress,
) -> Result<(), Failure> {
    // What the gateway answers while it still serves `previous`, to notice that it reloaded
    // even when it cannot answer as `profile` predicts.
    let before = previous.map(|previous| settler.before(target, profile, previous));
    progress.message(&format!("{profile}: setup"));
    setup.run(profile).map_err(|e| Failure::Setup { message: e.message, output: e.output })?;
    progress.message(&format!("{profile}: waiting for the gateway to serve it"));
    let settled = settler
        .wait_after(target, profile, previous, before.as_ref(), args.settle_timeout)
        .map_err(|e| {
            if e.unreachable {
                Failure::Unreachable(format!("after setup: {e}"))
            } else {
                Failure::Setup { message: format!("after setup: {e}"), output: String::new() }
            }
        })?;
    if let Settled::Changed { message } = settled {
        progress.println(&format!(
            "cors-conformance: warning: after setup for {profile}, the target changed its answers but does not \
             answer as {profile} predicts ({message}); its configuration may not express \
             {profile}: running its cases"
        ));
    }
    Ok(())
}

/// The setup of a run, with the directory it writes its files in.
fn setup(
    args: &RunArgs,
    command: &str,
    log: &UpstreamLog,
) -> Result<(Setup, tempfile::TempDir), Failure> {
    let listen = match &args.export_listen {
        Some(listen) => listen.clone(),
        None => HttpTarget::with_options(&args.target.url("x"), log.clone(), args.target.options())
            .map_err(target_failure)?
            .address(),
    };
    let upstream = match (&args.export_upstream, log) {
        (Some(url), _) | (None, UpstreamLog::Url(url)) => url.clone(),
        (None, _) => "http://127.0.0.1:9000".to_owned(),
    };
    let endpoints = Endpoints::new(&listen, &upstream).map_err(Failure::usage)?;
    // Removed when the run ends, whichever way: the rendered files of a failed setup too.
    let dir = tempfile::Builder::new()
        .prefix("cors-conformance-")
        .tempdir()
        .map_err(|e| Failure::usage(format!("cannot create a directory for the setup: {e}")))?;
    let setup =
        Setup::new(command, dir.path(), endpoints, args.setup_timeout).map_err(Failure::usage)?;
    Ok((setup, dir))
}

/// Checks once that `target` (`what` it is, in words) answers at all.
fn probe(mut target: HttpTarget, what: &str) -> Result<(), Failure> {
    match target.probe() {
        Err(error) if error.is_unreachable() => Err(Failure::Unreachable(format!(
            "{what} {} is unreachable: {}",
            target.url(),
            error.message
        ))),
        // Something answered, if not with HTTP: each case will say so as an error, and this
        // says once what the likely mistake is rather than leaving it to a hundred errors.
        Err(error) if error.kind == TargetErrorKind::NotHttp => {
            let hint = if target.url().starts_with("http://") {
                "; is it a TLS port (write the target as https://), one that speaks HTTP/2 \
                 only (cors-conformance speaks HTTP/1.1), or another service's?"
            } else {
                "; is it one that speaks HTTP/2 only (cors-conformance speaks HTTP/1.1), or \
                 another service's port?"
            };
            err(format_args!(
                "cors-conformance: warning: {what} {} does not answer with HTTP ({}): every \
                 case will be an error{hint}",
                target.url(),
                error.message
            ));
            Ok(())
        }
        // An HTTP answer, but one the suite cannot read (a head past its limit): no hint of
        // another protocol, which sent users looking for a TLS port.
        Err(error) if error.kind == TargetErrorKind::Answer => {
            err(format_args!(
                "cors-conformance: warning: {what} {} answers, but not so that its answer can \
                 be read ({}): cases answered alike will be errors",
                target.url(),
                error.message
            ));
            Ok(())
        }
        Ok(()) | Err(_) => Ok(()),
    }
}

/// A progress bar on standard error, shown only on a terminal and only once a run has lasted
/// a second, so short runs and CI logs stay quiet.
struct Progress {
    bar: ProgressBar,
    started: Instant,
    shown: AtomicBool,
    terminal: bool,
}

impl Progress {
    fn new(total: usize) -> Progress {
        let bar = ProgressBar::with_draw_target(
            Some(u64::try_from(total).unwrap_or(u64::MAX)),
            ProgressDrawTarget::hidden(),
        );
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40.cyan/blue} {pos}/{len} cases  {msg}  [{elapsed}]")
        {
            bar.set_style(style);
        }
        Progress {
            bar,
            started: Instant::now(),
            shown: AtomicBool::new(false),
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn show_if_slow(&self) {
        if self.terminal
            && self.started.elapsed() >= Duration::from_secs(1)
            && !self.shown.swap(true, Ordering::Relaxed)
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    fn set(&self, done: usize) {
        self.show_if_slow();
        self.bar.set_position(u64::try_from(done).unwrap_or(u64::MAX));
    }

    fn message(&self, text: &str) {
        self.show_if_slow();
        self.bar.set_message(text.to_owned());
    }

    /// A line on standard error, above the bar when it shows.
    fn println(&self, text: &str) {
        if self.shown.load(Ordering::Relaxed) {
            self.bar.suspend(|| err(format_args!("{text}")));
        } else {
            err(format_args!("{text}"));
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn merge(reports: &[PathBuf], target_name: &str, outputs: &Outputs) -> Result<ExitCode, Failure> {
    let mut merged = Report::empty(target_name);
    for path in reports {
        let text = input::read_text(path).map_err(Failure::usage)?;
        let report = report::from_json(&text).map_err(|e| {
            Failure::usage(format!("{} is not a cors-conformance JSON report: {e}", path.display()))
        })?;
        merged.merge(report);
    }
    outputs.write(&merged)?;
    out(&report::summary(&merged));
    Ok(if merged.is_success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn differential(args: &DifferentialArgs) -> Result<ExitCode, Failure> {
    let policy = match (&args.policy, &args.profile) {
        (Some(path), _) => {
            let loaded = cors_policy::Policy::from_yaml_file(path).map_err(Failure::usage)?;
            // Its warnings, as `cors-gateway check` gives them: a file describing a gateway's
            // origin groups without `publicResource: false` is a public resource that ignores
            // them, and every divergence would come from that, unsaid.
            for warning in &loaded.warnings {
                err(format_args!("{warning}"));
            }
            loaded.policy
        }
        (None, Some(name)) => cors_conformance::in_process::load_profile(check_profile(name)?)
            .map_err(Failure::usage)?,
        (None, None) => return Err(Failure::usage("give --policy FILE or --profile P")),
    };
    let seed = args.seed.unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        u64::try_from(nanos & u128::from(u64::MAX)).unwrap_or(0)
    });
    let url = args.target.url("differential");
    let mut http = HttpTarget::with_options(&url, UpstreamLog::Stamp, args.target.options())
        .map_err(target_failure)?;
    probe(http.try_clone().map_err(target_failure)?, "the target")?;
    err(format_args!("differential: seed {seed} ({} requests against {url})", args.requests));
    let progress = Progress::new(usize::try_from(args.requests).unwrap_or(usize::MAX));
    let mut tick = |done: u32, _: u32| progress.set(usize::try_from(done).unwrap_or(0));
    let found = cors_conformance::differential::run(
        policy,
        &mut http,
        args.requests,
        seed,
        args.show,
        &mut tick,
    );
    progress.finish();
    let report = found.map_err(|e| {
        if e.is_unreachable() {
            Failure::Unreachable(format!("the target became unreachable: {e}"))
        } else {
            Failure::Unreachable(format!("the target gave no answer: {e}"))
        }
    })?;
    let mut text = String::new();
    let distinct = report.distinct.len();
    for (i, found) in report.distinct.iter().enumerate() {
        let _ = writeln!(
            text,
            "divergence {} of {distinct} ({} of {} requests diverged this way), minimized:\n{}",
            i + 1,
            found.occurrences,
            report.sent,
            found.divergence.render()
        );
    }
    let unshown = if report.unshown == 0 {
        String::new()
    } else {
        format!(
            ", {} more in ways not shown (past --show {}: raise it to see them)",
            report.unshown, args.show
        )
    };
    let _ = writeln!(
        text,
        "{}: {} requests, {} diverged in {distinct} distinct ways{unshown} (seed {}; rerun with \
         --seed {})",
        if report.diverged == 0 { "ok" } else { "FAILED" },
        report.sent,
        report.diverged,
        report.seed,
        report.seed
    );
    out(&text);
    Ok(if report.diverged == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn write_file(path: &Path, text: &str) -> Result<(), Failure> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::usage(format!("cannot create {}: {e}", parent.display())))?;
    }
    std::fs::write(path, text)
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))
}

fn check_profile(name: &str) -> Result<&'static profile::Profile, Failure> {
    profile::get(name).ok_or_else(|| {
        Failure::usage(format!(
            "unknown profile {name:?}; hint: one of {}",
            profile::names().join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_in_the_ephemeral_range_gets_a_hint_naming_the_range() {
        let hint = ephemeral_hint(40_000, Some("32768\t60999\n")).unwrap_or_default();
        assert!(hint.contains("ephemeral range 32768-60999"), "{hint}");
        assert!(hint.contains(EPHEMERAL_RANGE_FILE), "{hint}");
        for port in [32_768, 60_999] {
            assert!(ephemeral_hint(port, Some("32768 60999")).is_some(), "{port}");
        }
    }

    #[test]
    fn a_port_outside_the_range_or_an_unknown_range_gets_no_hint() {
        assert_eq!(ephemeral_hint(9000, Some("32768\t60999\n")), None);
        assert_eq!(ephemeral_hint(61_000, Some("32768\t60999\n")), None);
        assert_eq!(ephemeral_hint(40_000, None), None);
        assert_eq!(ephemeral_hint(40_000, Some("garbage")), None);
    }
}
