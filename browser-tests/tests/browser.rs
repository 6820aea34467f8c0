//! The browser suite: headless Chromium runs every case of `cases.toml` through `cors-gateway`
//! and must get exactly the access each policy grants.
//!
//! One `#[test]`, so Chromium starts once. Without a browser the test fails loudly: it first
//! tries `scripts/install-browser.sh` (root, Debian packages), then gives up with instructions.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use browser_tests::cases::Suite;
use browser_tests::error::chain;
use browser_tests::gateway::gateway_binary;
use browser_tests::run::{Environment, run};

const CHROMIUM: (&str, &[&str]) = ("CHROMIUM_BIN", &["chromium", "chromium-browser"]);
const CHROMEDRIVER: (&str, &[&str]) = ("CHROMEDRIVER_BIN", &["chromedriver"]);

/// Chromium and `chromedriver`: the files `$CHROMIUM_BIN` and `$CHROMEDRIVER_BIN` name, else
/// the programs on `PATH` ([`cors_devtools::find_program`]).
fn find_browser() -> Option<(PathBuf, PathBuf)> {
    let find = |(env, names): (&str, &[&str])| cors_devtools::find_program(Some(env), names).ok();
    Some((find(CHROMIUM)?, find(CHROMEDRIVER)?))
}

/// Chromium and `chromedriver`, installed by the project's script when missing; panics with a
/// banner when they cannot be had, so the suite never passes without a browser.
fn browser(workspace: &Path) -> (PathBuf, PathBuf) {
    if let Some(found) = find_browser() {
        return found;
    }
    let script = workspace.join("scripts/install-browser.sh");
    eprintln!("browser suite: chromium or chromedriver missing; running {}", script.display());
    let status = Command::new("bash").arg(&script).status();
    if let Some(found) = find_browser() {
        return found;
    }
    panic!(
        "\n\n==================== BROWSER SUITE CANNOT RUN ====================\n\
         No Chromium/ChromeDriver: looked at ${} {:?} and ${} {:?}.\n\
         {} ended with {status:?}.\n\
         Install them (as root: scripts/install-browser.sh, i.e. apt-get install chromium \
         chromium-driver) or point CHROMIUM_BIN and CHROMEDRIVER_BIN at a matching pair.\n\
         The suite fails instead of passing without a browser.\n\
         ==================================================================\n",
        CHROMIUM.0,
        CHROMIUM.1,
        CHROMEDRIVER.0,
        CHROMEDRIVER.1,
        script.display(),
    );
}

#[test]
fn chromium_gets_exactly_the_access_each_policy_grants() {
    let started = Instant::now();
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let workspace = base.parent().expect("browser-tests sits inside the workspace").to_owned();
    // BROWSER_TESTS_CASES: another case file (policy paths stay relative to browser-tests/).
    // BROWSER_TESTS_FILTER: run only the cases whose id contains this text.
    let cases_file = std::env::var_os("BROWSER_TESTS_CASES")
        .map_or_else(|| base.join("cases.toml"), PathBuf::from);
    let mut suite = Suite::load(&cases_file).unwrap_or_else(|e| panic!("{}", chain(&e)));
    if let Ok(filter) = std::env::var("BROWSER_TESTS_FILTER") {
        suite.cases.retain(|case| case.id.contains(&filter));
        eprintln!(
            "browser suite: BROWSER_TESTS_FILTER={filter:?} keeps {} cases",
            suite.cases.len()
        );
        assert!(!suite.cases.is_empty(), "BROWSER_TESTS_FILTER={filter:?} matches no case");
    }

    let mut failures = Vec::new();
    let corpus = cors_conformance::Corpus::builtin()
        .unwrap_or_else(|e| panic!("the spec-tests corpus does not load: {e}"));
    for (case, id) in suite.unknown_conformance_ids(&corpus) {
        failures.push(format!(
            "{case}: names conformance case {id:?}, which spec-tests/cases does not have"
        ));
    }

    let (chromium, chromedriver) = browser(&workspace);
    let building = Instant::now();
    let gateway = gateway_binary(&workspace).unwrap_or_else(|e| panic!("{}", chain(&e)));
    let build_time = building.elapsed();
    let browsing = Instant::now();
    let scratch = std::env::temp_dir().join(format!("browser-tests-{}", std::process::id()));
    let env = Environment::new(chromium, chromedriver, gateway, base, scratch.clone())
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let report = runtime.block_on(run(&suite, &env)).unwrap_or_else(|e| {
        panic!("browser suite could not run: {} (logs in {})", chain(&e), scratch.display())
    });

    println!(
        "browser suite: Chromium {}, {} cases, {} policies",
        report.browser_version,
        report.cases.len(),
        suite.policies.len()
    );
    for case in &report.cases {
        let verdict = if case.mismatches.is_empty() { "ok  " } else { "FAIL" };
        println!("{verdict} {:<62} {}", case.id, case.summary);
    }
    for case in report.failures() {
        let mut text = format!("{}: {}", case.id, case.mismatches.join("; "));
        if !case.conformance.is_empty() {
            text.push_str("\n    conformance case(s) that should have caught it:");
            for id in &case.conformance {
                let title = corpus.get(id).map_or("", |c| c.title.as_str());
                let _ = write!(text, "\n      {id}: {title}");
            }
        }
        if case.console.is_empty() {
            text.push_str("\n    browser console: (nothing)");
        }
        for line in &case.console {
            let _ = write!(text, "\n    browser console: {line}");
        }
        failures.push(text);
    }
    println!(
        "browser suite: wall time {:.1} s ({:.1} s building or checking cors-gateway, {:.1} s in the browser)",
        started.elapsed().as_secs_f64(),
        build_time.as_secs_f64(),
        browsing.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    assert!(
        failures.is_empty(),
        "{} browser mismatch(es) (logs in {}):\n{}",
        failures.len(),
        scratch.display(),
        failures.join("\n")
    );
}
