//! `cargo xtask mutants [--crate C]... [--file F]...`: cargo-mutants over library crates, each
//! against its own tests, with the flags docs/robustness.md ("Mutation testing") settled on, and
//! the outcome counts of each crate printed at the end. Outside CI: a crate takes minutes to an
//! hour.
//!
//! Each crate runs `cargo mutants --in-place` (the tree's files are changed one mutant at a time,
//! and put back, also on Ctrl-C: do not edit the tree meanwhile), its output under
//! `target/mutants/CRATE/mutants.out/` (`missed.txt`, `caught.txt`, ...). The proptest
//! regression files a mutant's failing proptest writes into the tree are removed afterwards, and
//! the tracked ones put back as they were.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cors_devtools::target_dir;

use crate::util::{cargo, root};

/// The library crates, in dependency order: all of them when neither `--crate` nor `--file`
/// names one.
const CRATES: [&str; 4] = ["cors-origin", "cors-engine", "cors-policy", "cors-hyper"];

/// cors-policy's test left out of its runs: `tests/hostile.rs`, parsing files of 30 000 entries.
const SLOW_POLICY_TEST: &str = "many_entries_are_handled_without_quadratic_work";

/// The options of `cargo xtask mutants`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A library crate to mutate (repeatable); default: the crates of the --file options, or
    /// all four
    #[arg(long = "crate", value_name = "C", value_parser = CRATES)]
    crates: Vec<String>,
    /// Only the mutants of this source file, a path from the repository root such as
    /// crates/cors-origin/src/ascii.rs (repeatable)
    #[arg(long = "file", value_name = "F")]
    files: Vec<String>,
}

/// One crate's cargo-mutants run.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    krate: &'static str,
    files: Vec<String>,
}

impl Run {
    /// The arguments of `cargo` for this run, its output under `out`.
    fn cargo_args(&self, out: &Path) -> Vec<String> {
        let mut args: Vec<String> = [
            "mutants",
            "--in-place",
            "-p",
            self.krate,
            // The crate's own tests (unit and integration; nextest runs no doc tests).
            "--test-workspace=false",
            "--test-tool",
            "nextest",
            // Ends a mutant that makes a loop endless (proptests included).
            "--timeout",
            "30",
            // Ends one whose `const fn` loops in the compiler (cors-policy's `tchar_table`).
            "--build-timeout",
            "300",
            // A mutant is not unviable for a lint alone.
            "--cap-lints=true",
        ]
        .map(str::to_owned)
        .into();
        if self.krate == "cors-policy" {
            // `tests/local.rs` holds the tests of the diagnostics' escaping (F-AD, F-DG).
            args.extend(["--features".to_owned(), "local-mode".to_owned()]);
            // 11 of the suite's 13 s in a debug build, for every mutant: a bound on time more
            // than an answer. A mutant missed without it is run again by hand with it
            // (docs/robustness.md, "Mutation testing").
            args.extend(
                ["--cargo-test-arg=-E", &format!("--cargo-test-arg=not test(={SLOW_POLICY_TEST})")]
                    .map(str::to_owned),
            );
        }
        args.extend(["-o".to_owned(), out.display().to_string()]);
        for file in &self.files {
            args.extend(["-f".to_owned(), file.clone()]);
        }
        args
    }
}

/// The runs `args` asks for, in dependency order; an error for a file in none of the crates.
fn plan(args: &Args) -> Result<Vec<Run>, String> {
    let owner = |file: &str| CRATES.into_iter().find(|krate| file.starts_with(&dir(krate)));
    let mut wanted: Vec<&'static str> = Vec::new();
    for name in &args.crates {
        wanted.extend(CRATES.into_iter().filter(|krate| krate == name));
    }
    if wanted.is_empty() {
        wanted = CRATES
            .into_iter()
            .filter(|krate| args.files.iter().any(|f| owner(f) == Some(*krate)))
            .collect();
    }
    if wanted.is_empty() {
        wanted = CRATES.to_vec();
    }
    for file in &args.files {
        if !owner(file).is_some_and(|krate| wanted.contains(&krate)) {
            return Err(format!(
                "--file {file}: not a file of {} (a path from the repository root, such as \
                 crates/cors-origin/src/ascii.rs)",
                wanted.join(", ")
            ));
        }
    }
    Ok(CRATES
        .into_iter()
        .filter(|krate| wanted.contains(krate))
        .map(|krate| Run {
            krate,
            files: args.files.iter().filter(|f| owner(f) == Some(krate)).cloned().collect(),
        })
        .collect())
}

/// `crates/KRATE/`, the folder of a library crate.
fn dir(krate: &str) -> String {
    format!("crates/{krate}/")
}

/// Entry point for `cargo xtask mutants`.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let runs = plan(args)?;
    let installed = cargo().args(["mutants", "--version"]).output();
    if !installed.is_ok_and(|output| output.status.success()) {
        return Err("cargo-mutants is not installed: install it with \
                    `cargo install --locked cargo-mutants`"
            .to_owned());
    }
    let mut counts = Vec::new();
    for run in &runs {
        let out = target_dir().join("mutants").join(run.krate);
        // cargo-mutants makes `mutants.out` in it, not the folder itself.
        std::fs::create_dir_all(&out)
            .map_err(|error| format!("cannot create {}: {error}", out.display()))?;
        let crates = root().join("crates");
        let before = regression_files(&crates)?;
        let args = run.cargo_args(&out);
        eprintln!("$ cargo {}", args.join(" "));
        let status = cargo().args(&args).status();
        // Whatever the run's end, the tree is left as it was found.
        let cleaned = restore_regression_files(&crates, &before)?;
        if cleaned > 0 {
            eprintln!("removed or restored {cleaned} proptest regression files");
        }
        let status = status.map_err(|error| format!("cannot start cargo mutants: {error}"))?;
        // 2: missed mutants, 3: timeouts; both are results, not failures of the run.
        if !matches!(status.code(), Some(0 | 2 | 3)) {
            return Err(format!("cargo mutants on {} failed ({status})", run.krate));
        }
        counts.push(summary(run.krate, &out.join("mutants.out"))?);
    }
    eprintln!("{}", counts.join("\n"));
    Ok(())
}

/// `KRATE: N mutants: C caught, M missed, U unviable, T timeout (DIR/missed.txt)`.
fn summary(krate: &str, dir: &Path) -> Result<String, String> {
    let mut counts = Vec::new();
    for outcome in ["caught", "missed", "unviable", "timeout"] {
        let path = dir.join(format!("{outcome}.txt"));
        let text = std::fs::read_to_string(&path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        counts.push((text.lines().filter(|line| !line.is_empty()).count(), outcome));
    }
    let total: usize = counts.iter().map(|(count, _)| count).sum();
    let counts: Vec<String> =
        counts.iter().map(|(count, what)| format!("{count} {what}")).collect();
    let missed = dir.join("missed.txt");
    Ok(format!("{krate}: {total} mutants: {} ({})", counts.join(", "), missed.display()))
}

/// Every proptest regression file under `crates` (the tree's `crates/`), with its contents: `*.proptest-regressions`
/// beside a test, and the files of a `proptest-regressions/` folder.
fn regression_files(crates: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>, String> {
    let mut files = BTreeMap::new();
    let mut folders = vec![crates.to_owned()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder)
            .map_err(|error| format!("cannot list {}: {error}", folder.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if is_regression_file(&path) {
                let bytes = std::fs::read(&path)
                    .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
                files.insert(path, bytes);
            }
        }
    }
    Ok(files)
}

fn is_regression_file(path: &Path) -> bool {
    let in_folder =
        path.parent().and_then(Path::file_name).is_some_and(|name| name == "proptest-regressions");
    in_folder || path.extension().is_some_and(|extension| extension == "proptest-regressions")
}

/// Removes the regression files not in `before` (and a `proptest-regressions/` folder left
/// empty) and writes back the ones changed; how many.
fn restore_regression_files(
    crates: &Path,
    before: &BTreeMap<PathBuf, Vec<u8>>,
) -> Result<usize, String> {
    let mut cleaned = 0;
    for (path, bytes) in regression_files(crates)? {
        let result = match before.get(&path) {
            Some(old) if *old == bytes => continue,
            Some(old) => std::fs::write(&path, old),
            None => std::fs::remove_file(&path).map(|()| {
                // A `proptest-regressions/` folder, only when left empty: one holding files
                // kept in the tree stays.
                let folder = path.parent().filter(|folder| {
                    folder.file_name().is_some_and(|name| name == "proptest-regressions")
                });
                if let Some(folder) = folder {
                    let _ = std::fs::remove_dir(folder);
                }
            }),
        };
        result.map_err(|error| format!("cannot put back {}: {error}", path.display()))?;
        cleaned += 1;
    }
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::{Cli, Command};

    fn planned(line: &[&str]) -> Result<Vec<Run>, String> {
        let cli = Cli::try_parse_from(["cargo xtask", "mutants"].iter().chain(line))
            .map_err(|error| error.to_string())?;
        let Command::Mutants(args) = cli.command else { panic!("not the mutants command") };
        plan(&args)
    }

    fn run(krate: &'static str, files: &[&str]) -> Run {
        Run { krate, files: files.iter().map(|f| (*f).to_owned()).collect() }
    }

    #[test]
    fn without_options_every_library_crate_runs_whole_in_dependency_order() {
        let expected = CRATES.map(|krate| run(krate, &[]));
        assert_eq!(planned(&[]).unwrap(), expected);
        assert_eq!(
            planned(&["--crate", "cors-hyper", "--crate", "cors-origin"]).unwrap(),
            [run("cors-origin", &[]), run("cors-hyper", &[])]
        );
    }

    #[test]
    fn files_name_their_crates_and_go_to_them() {
        let ascii = "crates/cors-origin/src/ascii.rs";
        let policy = "crates/cors-policy/src/policy.rs";
        assert_eq!(
            planned(&["--file", policy, "--file", ascii]).unwrap(),
            [run("cors-origin", &[ascii]), run("cors-policy", &[policy])]
        );
        let both = planned(&["--crate", "cors-origin", "--crate", "cors-engine", "--file", ascii]);
        assert_eq!(both.unwrap(), [run("cors-origin", &[ascii]), run("cors-engine", &[])]);
    }

    #[test]
    fn a_file_outside_the_crates_or_an_unknown_crate_is_refused() {
        let error =
            planned(&["--crate", "cors-origin", "--file", "crates/cors-policy/src/policy.rs"]);
        assert!(error.unwrap_err().contains("not a file of cors-origin"));
        assert!(planned(&["--file", "src/main.rs"]).unwrap_err().contains("--file src/main.rs"));
        assert!(planned(&["--crate", "cors-gateway"]).unwrap_err().contains("invalid value"));
    }

    #[test]
    fn the_settled_flags_are_passed_with_the_output_under_target() {
        let out = Path::new("/t/mutants/cors-policy");
        let args = run("cors-policy", &["crates/cors-policy/src/policy.rs"]).cargo_args(out);
        let line = args.join(" ");
        assert!(
            line.starts_with("mutants --in-place -p cors-policy --test-workspace=false"),
            "{line}"
        );
        for flag in
            ["--test-tool nextest", "--timeout 30", "--build-timeout 300", "--cap-lints=true"]
        {
            assert!(line.contains(flag), "{line}");
        }
        assert!(line.contains("--features local-mode"), "{line}");
        assert!(
            line.contains(
                "--cargo-test-arg=-E --cargo-test-arg=not \
                 test(=many_entries_are_handled_without_quadratic_work)"
            ),
            "{line}"
        );
        assert!(
            line.ends_with("-o /t/mutants/cors-policy -f crates/cors-policy/src/policy.rs"),
            "{line}"
        );
        let origin = run("cors-origin", &[]).cargo_args(out).join(" ");
        assert!(!origin.contains("--features") && !origin.contains("-E"), "{origin}");
    }

    /// A run's new regression files go, with a `proptest-regressions/` folder they alone fill;
    /// a changed one is put back; the others, and a folder of kept files, stay.
    #[test]
    fn a_runs_regression_files_are_removed_and_the_kept_ones_put_back() {
        let crates = std::env::temp_dir().join(format!("xtask-mutants-{}", std::process::id()));
        let (tests, kept, fresh) =
            (crates.join("a/tests"), crates.join("a/proptest-regressions"), crates.join("b"));
        for folder in [&tests, &kept, &fresh] {
            std::fs::create_dir_all(folder).unwrap();
        }
        let write = |path: &Path, text: &str| std::fs::write(path, text).unwrap();
        write(&tests.join("props.rs"), "tests");
        write(&tests.join("props.proptest-regressions"), "kept");
        write(&kept.join("request.txt"), "kept");
        let before = regression_files(&crates).unwrap();
        write(&tests.join("props.proptest-regressions"), "kept\nand a new case");
        write(&tests.join("other.proptest-regressions"), "new");
        write(&kept.join("ascii.txt"), "new");
        std::fs::create_dir(fresh.join("proptest-regressions")).unwrap();
        write(&fresh.join("proptest-regressions/set.txt"), "new");
        assert_eq!(restore_regression_files(&crates, &before).unwrap(), 4);
        assert_eq!(regression_files(&crates).unwrap(), before);
        assert!(!fresh.join("proptest-regressions").exists());
        assert!(tests.join("props.rs").exists());
        std::fs::remove_dir_all(&crates).unwrap();
    }

    #[test]
    fn regression_files_are_told_by_name_or_folder() {
        assert!(is_regression_file(Path::new("crates/a/tests/props.proptest-regressions")));
        assert!(is_regression_file(Path::new("crates/a/proptest-regressions/ascii.txt")));
        assert!(!is_regression_file(Path::new("crates/a/src/ascii.rs")));
    }
}
