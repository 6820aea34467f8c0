//! `cargo xtask ci`: every check CI runs, in order, with failures summed rather than
//! short-circuited, so one run shows everything that is wrong.

use crate::run_line;
use crate::util::{cargo, exec};

/// One CI step: a name for the report and the function that runs it.
type Step = (&'static str, fn() -> Result<(), String>);

/// Entry point for `cargo xtask ci`: runs every step; fails when any step failed, naming them
/// all.
pub(crate) fn run() -> Result<(), String> {
    let steps: [Step; 15] = [
        ("install tools", install_tools),
        ("fmt", fmt),
        ("licenses", || run_line(&["licenses"])),
        ("clippy", clippy),
        ("tests", tests),
        ("doc tests", doc_tests),
        ("rustdoc", rustdoc),
        ("tidy", || run_line(&["tidy"])),
        ("publish dry run", publish_dry_run),
        ("standalone examples", standalone_examples),
        ("conformance", || run_line(&["conformance"])),
        // The Rust peers (tower-http, actix-cors) against the suite, next to ours. The matrix
        // goes under `target/` so CI never rewrites the published `docs/conformance-matrix.md`.
        ("peer conformance", || {
            let out = "target/conformance/peers/matrix.md";
            run_line(&["conformance", "--peers", "--rust-only", "--out", out])
        }),
        ("fuzz smoke", || run_line(&["fuzz", "--secs", "10"])),
        // Keeps the benches compiling and running; it reports figures and never fails on time.
        ("bench quick", || run_line(&["bench", "--quick"])),
        // Fails on an instruction count over benches/budgets.toml: exact, so load cannot fail it.
        ("instruction budgets", || run_line(&["bench", "--check-budgets"])),
    ];
    let mut failed = Vec::new();
    let mut timings = Vec::new();
    for (name, step) in steps {
        eprintln!("\n==> ci: {name}");
        let started = std::time::Instant::now();
        let result = step();
        timings.push((name, started.elapsed()));
        if let Err(message) = result {
            eprintln!("ci: {name} FAILED: {message}");
            failed.push(name);
        }
    }
    eprintln!();
    for (name, elapsed) in &timings {
        eprintln!("ci: {name:<18} {:>6.1} s", elapsed.as_secs_f64());
    }
    if failed.is_empty() {
        eprintln!("ci: all {} steps passed", steps.len());
        Ok(())
    } else {
        Err(format!("{} of {} steps failed: {}", failed.len(), steps.len(), failed.join(", ")))
    }
}

/// The project's install scripts, each idempotent: what the tests need beyond cargo.
const INSTALL_SCRIPTS: &[&str] = &["scripts/install-browser.sh", "scripts/install-envoy.sh"];

fn install_tools() -> Result<(), String> {
    for script in INSTALL_SCRIPTS {
        let mut command = std::process::Command::new("bash");
        command.arg(crate::util::root().join(script));
        exec(command)?;
    }
    Ok(())
}

/// `cargo publish --dry-run` of every publishable package at once: each is packaged as crates.io
/// would receive it and built from that package alone, in the shared target directory, so a
/// file outside a package's folder or a path dependency without a version fails here.
/// `--allow-dirty` because earlier steps may leave ignored or generated files behind.
fn publish_dry_run() -> Result<(), String> {
    forget_unpacked_overlay()?;
    // Cargo takes a registry package's build for unchanged when its name, version and source
    // are, without looking at its files, and the local registry is the same folder every run:
    // the dev builds of our packages are removed so that each is built from what was packaged.
    let metadata = crate::tidy::metadata(&["--no-deps"])?;
    let publishable = metadata["packages"].as_array().into_iter().flatten().filter_map(|package| {
        package["publish"].is_null().then(|| package["name"].as_str()).flatten()
    });
    let mut clean = cargo();
    clean.args(["clean", "--profile", "dev"]);
    for name in publishable {
        clean.args(["-p", name]);
    }
    exec(clean)?;
    let mut command = cargo();
    command.args(["publish", "--dry-run", "--workspace", "--locked", "--allow-dirty"]);
    exec(command)
}

/// Removes the sources cargo unpacked from earlier dry runs' local registries.
///
/// `cargo publish --workspace` puts the packages it just built in a local registry and unpacks
/// each under `$CARGO_HOME/registry/src/-<hash>/NAME-VERSION`, where the hash names the
/// registry's folder; an unpacked folder that is already there is reused as it is. Our version
/// numbers do not change between commits, so the dry run verified cors-policy against the
/// cors-origin of an earlier run, and failed on a function added since. These `-<hash>` folders
/// hold only workspace packages (crates.io's are under `index.crates.io-<hash>`), so removing
/// them loses nothing cargo cannot unpack again.
fn forget_unpacked_overlay() -> Result<(), String> {
    let home = std::env::var_os("CARGO_HOME").map_or_else(
        || std::env::home_dir().unwrap_or_default().join(".cargo"),
        std::path::PathBuf::from,
    );
    let sources = home.join("registry").join("src");
    let Ok(entries) = std::fs::read_dir(&sources) else { return Ok(()) };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with('-') {
            std::fs::remove_dir_all(entry.path())
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// The projects of `examples/standalone/`, each its own workspace depending on our crates by
/// path as another project would: formatted, then built and run (each exits non-zero when a
/// check fails). They build into the workspace's target directory, so the dependencies they
/// share with it are compiled once.
fn standalone_examples() -> Result<(), String> {
    let root = crate::util::root();
    for project in ["engine-only", "axum-layer"] {
        let manifest = root.join("examples/standalone").join(project).join("Cargo.toml");
        let mut fmt = cargo();
        fmt.args(["fmt", "--check", "--manifest-path"]).arg(&manifest);
        exec(fmt)?;
        let mut run = cargo();
        run.args(["run", "--locked", "--manifest-path"]).arg(&manifest);
        run.env("CARGO_TARGET_DIR", root.join("target"));
        exec(run)?;
    }
    Ok(())
}

fn fmt() -> Result<(), String> {
    let mut command = cargo();
    command.args(["fmt", "--all", "--", "--check"]);
    exec(command)
}

/// The packages also checked without their default features (no YAML: the builder alone),
/// which the workspace build never compiles: docs/using-the-crates.md offers both so, and
/// cors-engine depends on cors-policy so. Their code (clippy), their doc tests and their docs.
const WITHOUT_DEFAULT_FEATURES: [&str; 2] = ["cors-policy", "cors-hyper"];

fn clippy() -> Result<(), String> {
    let mut command = cargo();
    command.args(["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]);
    exec(command)?;
    for package in WITHOUT_DEFAULT_FEATURES {
        let mut command = cargo();
        command.args(["clippy", "-p", package, "--no-default-features", "--all-targets"]);
        command.args(["--locked", "--", "-D", "warnings"]);
        exec(command)?;
    }
    Ok(())
}

fn tests() -> Result<(), String> {
    let mut command = cargo();
    if crate::util::has_tool("cargo-nextest", &["nextest", "--version"]) {
        command.args(["nextest", "run", "--workspace", "--locked", "--no-fail-fast"]);
        // Two tests per core: most of the suite's time is tests waiting on their own timeouts
        // (a gateway's 1 s send timeout, a slow client's deadline), not computing. On 2 cores the
        // whole run took 59 s so against 103 s with nextest's one per core (2026-12-07, quiet
        // machine, every test passing both ways).
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        command.arg(format!("--test-threads={}", 2 * cores));
    } else {
        command.args([
            "test",
            "--workspace",
            "--locked",
            "--no-fail-fast",
            "--lib",
            "--bins",
            "--tests",
        ]);
    }
    exec(command)
}

fn doc_tests() -> Result<(), String> {
    let mut command = cargo();
    command.args(["test", "--workspace", "--locked", "--doc"]);
    exec(command)?;
    for package in WITHOUT_DEFAULT_FEATURES {
        let mut command = cargo();
        command.args(["test", "-p", package, "--no-default-features", "--locked", "--doc"]);
        exec(command)?;
    }
    Ok(())
}

fn rustdoc() -> Result<(), String> {
    // Without default features first: each package's pages are written again by the workspace
    // build, so that `target/doc` ends with the workspace's docs.
    for package in WITHOUT_DEFAULT_FEATURES {
        let mut command = cargo();
        command.args(["doc", "-p", package, "--no-default-features", "--locked", "--no-deps"]);
        command.env("RUSTDOCFLAGS", "-D warnings");
        exec(command)?;
    }
    let mut command = cargo();
    command.args(["doc", "--workspace", "--locked", "--no-deps"]);
    command.env("RUSTDOCFLAGS", "-D warnings");
    exec(command)
}
