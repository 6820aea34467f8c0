//! `cargo xtask tidy`: repository rules that no compiler checks.
//!
//! - Dependencies point one way: cors-origin <- cors-policy <- cors-engine <- cors-hyper, and the
//!   three core crates stay free of native-only runtime crates so they build for wasm.
//! - The tower layer stays lean: nothing `cors-hyper` pulls in as a normal dependency, directly or
//!   through others, is a runtime, a server or a command-line crate (those belong to
//!   `cors-gateway`).
//! - xtask links no product crate, only cors-devtools, which itself depends on nothing.
//! - Every Rust source file starts with a `//!` module doc.
//! - Every behaviour rule id cited anywhere (`P2`, `V1`, ...) is defined in `docs/behaviour.md`,
//!   cors-engine's `Rule` enum has exactly those ids, and nothing points outside the repository
//!   for the rules.
//! - No test is ignored or expected to panic; known-wrong behaviour is data, with a reason.
//! - Every relative link of the Markdown files reaches a file, and its `#anchor` a heading
//!   (`tidy_links.rs`).
//! - The conformance case counts the docs state are the corpus's (`case_counts`).
//! - What the library packages publish builds and runs from the package alone: no packaged file
//!   reads a path outside its package, or uses a dev-dependency that publishing strips (a path
//!   dependency without a version). Distributions run `cargo test` on the crates.io sources.
//!
//! The same checks run as a unit test, so `cargo test` enforces them too.

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::{cargo, root};

/// Which workspace crates each workspace crate may depend on (normal and build dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("cors-origin", &[]),
    ("cors-policy", &["cors-origin"]),
    ("cors-engine", &["cors-origin", "cors-policy"]),
    ("cors-hyper", &["cors-origin", "cors-policy", "cors-engine"]),
    ("cors-gateway", &["cors-origin", "cors-policy", "cors-engine", "cors-hyper"]),
    ("cors-proxy-wasm", &["cors-origin", "cors-policy", "cors-engine"]),
    ("cors-proxy-wasm-noop", &[]),
    ("cors-conformance", &["cors-origin", "cors-policy", "cors-engine", "cors-hyper"]),
    ("browser-tests", &["cors-policy", "cors-conformance", "cors-devtools"]),
    ("cors-peers", &["cors-origin", "cors-policy", "cors-conformance", "cors-devtools"]),
    ("cors-benches", &["cors-origin", "cors-policy", "cors-engine", "cors-hyper"]),
    // xtask drives the product crates as subprocesses and links none of them, so that
    // `cargo xtask ci` builds and reports even when one does not compile. It may link the
    // tooling's shared helpers, which have no dependencies at all (see below).
    ("xtask", &["cors-devtools"]),
    ("cors-devtools", &[]),
];

/// Workspace crates that must have no dependencies at all (beyond std).
const STD_ONLY: &[&str] = &["cors-devtools"];

/// Crates that must never appear as normal dependencies of the core crates (they keep the core
/// buildable for `wasm32` and free of I/O).
const NATIVE_ONLY: &[&str] = &["tokio", "hyper", "hyper-util", "mio", "socket2"];
const CORE: &[&str] = &["cors-origin", "cors-policy", "cors-engine"];

/// Crates that must not be in `cors-hyper`'s normal dependency tree, however deep: a user of the
/// tower layer must not compile a runtime, a server or a command-line parser for it.
const NOT_IN_LAYER: &[&str] =
    &["tokio", "hyper", "hyper-util", "mio", "socket2", "clap", "tracing-subscriber"];

/// The library packages other projects depend on: what they publish must build and test from the
/// package alone (`cargo test` in the unpacked `.crate`, as Linux distributions run it).
const STANDALONE: &[&str] = &["cors-origin", "cors-policy", "cors-engine", "cors-hyper"];

/// Entry point for `cargo xtask tidy`.
pub(crate) fn run() -> Result<(), String> {
    let mut problems = dependency_problems()?;
    problems.extend(lean_layer_problems()?);
    problems.extend(source_problems(&root()));
    problems.extend(rule_problems(&root()));
    problems.extend(package_problems()?);
    let mut markdown = Vec::new();
    project_files(
        &root(),
        &|name| Path::new(name).extension().is_some_and(|e| e == "md"),
        &mut markdown,
    );
    markdown.sort();
    problems.extend(crate::tidy_links::link_problems(&root(), &markdown));
    problems.extend(crate::case_counts::problems(&root()));
    if problems.is_empty() {
        eprintln!("tidy: ok");
        Ok(())
    } else {
        for problem in &problems {
            eprintln!("tidy: {problem}");
        }
        Err(format!("{} tidy problem(s)", problems.len()))
    }
}

/// `cargo metadata --format-version 1 --offline ARGS`, parsed.
pub(crate) fn metadata(args: &[&str]) -> Result<serde_json::Value, String> {
    let output = cargo()
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(args)
        .output()
        .map_err(|error| format!("cannot run cargo metadata: {error}"))?;
    if !output.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|error| format!("cargo metadata printed invalid JSON: {error}"))
}

fn dependency_problems() -> Result<Vec<String>, String> {
    let metadata = metadata(&["--no-deps"])?;
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let workspace: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut problems = Vec::new();
    for package in &packages {
        let name = package["name"].as_str().unwrap_or_default();
        let Some((_, allowed)) = ALLOWED.iter().find(|(crate_name, _)| *crate_name == name) else {
            problems.push(format!("workspace crate {name:?} has no entry in tidy's ALLOWED table"));
            continue;
        };
        for dependency in package["dependencies"].as_array().into_iter().flatten() {
            let dependency_name = dependency["name"].as_str().unwrap_or_default();
            let is_dev = dependency["kind"].as_str() == Some("dev");
            if STD_ONLY.contains(&name) && !is_dev {
                problems.push(format!(
                    "{name} depends on {dependency_name}; it stays std-only because xtask links it"
                ));
            }
            if workspace.contains(&dependency_name)
                && !is_dev
                && !allowed.contains(&dependency_name)
            {
                problems.push(format!(
                    "{name} depends on {dependency_name}; dependencies must point one way \
                     (cors-origin <- cors-policy <- cors-engine <- cors-hyper)"
                ));
            }
            if CORE.contains(&name) && !is_dev && NATIVE_ONLY.contains(&dependency_name) {
                problems.push(format!(
                    "{name} depends on {dependency_name}; the core crates stay free of native-only \
                     runtime crates so they build for wasm"
                ));
            }
        }
    }
    Ok(problems)
}

/// The files of each [`STANDALONE`] package (`cargo package --list`) that would not build or run
/// from the published package: see [`packaged_file_problems`].
fn package_problems() -> Result<Vec<String>, String> {
    let metadata = metadata(&["--no-deps"])?;
    let mut problems = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default();
        if !STANDALONE.contains(&name) {
            continue;
        }
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
        let dir = manifest.parent().unwrap_or(Path::new("."));
        // Publishing removes a dev-dependency that has a path and no version (`req` `*`).
        let stripped: Vec<String> = package["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| {
                d["kind"].as_str() == Some("dev") && d["path"].is_string() && d["req"] == "*"
            })
            .filter_map(|d| d["name"].as_str().map(|n| n.replace('-', "_")))
            .collect();
        let output = cargo()
            .args(["package", "--list", "--allow-dirty", "--offline", "-p", name])
            .output()
            .map_err(|error| format!("cannot run cargo package: {error}"))?;
        if !output.status.success() {
            return Err(format!(
                "cargo package --list -p {name} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        for file in String::from_utf8_lossy(&output.stdout).lines() {
            if Path::new(file).extension().is_none_or(|ext| ext != "rs") {
                continue;
            }
            let Ok(text) = fs::read_to_string(dir.join(file)) else { continue };
            problems.extend(packaged_file_problems(&format!("{name}: {file}"), &text, &stripped));
        }
    }
    Ok(problems)
}

/// What keeps one packaged Rust file, shown as `shown`, from building or running in the published
/// package: a path built from `CARGO_MANIFEST_DIR` that climbs out of the package (`../` in the
/// statement that names it), or a crate of `stripped` (dev-dependencies publishing removes).
fn packaged_file_problems(shown: &str, text: &str, stripped: &[String]) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut problems = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        // The statement that names the directory: this line up to the one that ends it.
        let end = lines[index..]
            .iter()
            .position(|l| l.contains(';'))
            .map_or(lines.len(), |n| index + n + 1);
        if line.contains("CARGO_MANIFEST_DIR")
            && lines[index..end].iter().any(|l| l.contains("\"../") || l.contains("\"/../"))
        {
            problems.push(format!(
                "{shown}:{}: reads a file outside its package, which the published package does \
                 not hold; keep the file inside the package, or `exclude` this file in Cargo.toml",
                index + 1
            ));
        }
        for krate in stripped {
            if line.contains(&format!("{krate}::")) {
                problems.push(format!(
                    "{shown}:{}: uses {krate}, a dev-dependency without a version that publishing \
                     removes; `exclude` this file in Cargo.toml",
                    index + 1
                ));
            }
        }
    }
    problems
}

/// The crates in `cors-hyper`'s normal dependency tree that [`NOT_IN_LAYER`] forbids, found
/// through the whole resolved graph (what `cargo tree -p cors-hyper -e normal` prints).
fn lean_layer_problems() -> Result<Vec<String>, String> {
    // The host's graph: other platforms' dependencies are neither built nor downloaded here.
    let host = host_triple()?;
    let metadata = metadata(&["--filter-platform", &host])?;
    forbidden_in_tree(&metadata, "cors-hyper", NOT_IN_LAYER)
}

/// The packages named in `forbidden` that `root`'s normal dependency tree holds, one problem
/// each, from `cargo metadata`'s resolved graph. Dev and build dependencies are not followed.
fn forbidden_in_tree(
    metadata: &serde_json::Value,
    root: &str,
    forbidden: &[&str],
) -> Result<Vec<String>, String> {
    let name_of = |id: &str| {
        metadata["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|package| package["id"].as_str() == Some(id))
            .and_then(|package| package["name"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let nodes = metadata["resolve"]["nodes"].as_array().cloned().unwrap_or_default();
    let Some(start) =
        nodes.iter().filter_map(|node| node["id"].as_str()).find(|id| name_of(id) == root)
    else {
        return Err(format!("cargo metadata does not list {root}"));
    };
    let mut seen = vec![start.to_owned()];
    let mut queue = vec![start.to_owned()];
    let mut problems = Vec::new();
    while let Some(id) = queue.pop() {
        let Some(node) = nodes.iter().find(|node| node["id"].as_str() == Some(&id)) else {
            continue;
        };
        for dependency in node["deps"].as_array().into_iter().flatten() {
            let is_normal = dependency["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|kind| kind["kind"].is_null());
            let Some(package) = dependency["pkg"].as_str() else { continue };
            if !is_normal || seen.iter().any(|s| s == package) {
                continue;
            }
            let name = name_of(package);
            if forbidden.contains(&name.as_str()) {
                problems.push(format!(
                    "{root} pulls in {name} through {}; the tower layer must stay free of \
                     runtimes, servers and command-line crates (they belong to cors-gateway)",
                    name_of(&id)
                ));
            }
            seen.push(package.to_owned());
            queue.push(package.to_owned());
        }
    }
    Ok(problems)
}

/// The target triple rustc builds for by default (`host:` of `rustc -vV`).
fn host_triple() -> Result<String, String> {
    let output = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|error| format!("cannot run rustc -vV: {error}"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV printed no host triple".to_owned())
}

/// Tokens of the rule-id shape that are not rule ids, each with why it appears.
const NOT_RULE_IDS: &[(&str, &str)] = &[
    ("V8", "the JavaScript and Wasm engine inside Envoy"),
    ("V4", "`std::net::IpAddr::V4`"),
    ("V6", "`std::net::IpAddr::V6`"),
    ("V3", "Envoy's xDS API version (`resource_api_version: V3`)"),
];

/// The rule ids `docs/behaviour.md` defines: each rule is a list item starting `- **ID**`.
fn defined_rules(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.trim_start().strip_prefix("- **"))
        .filter_map(|rest| rest.split_once("**").map(|(id, _)| id))
        .filter(|id| is_rule_id(id))
        .map(str::to_owned)
        .collect()
}

/// `C`, `R`, `M`, `P`, `A`, `O` or `V` followed by a number from 1: rules are numbered from 1,
/// and `C0` is the set of control characters, which cites no rule.
fn is_rule_id(token: &str) -> bool {
    let mut chars = token.chars();
    chars.next().is_some_and(|c| "CRMPAOV".contains(c))
        && !chars.as_str().starts_with('0')
        && !chars.as_str().is_empty()
        && chars.as_str().bytes().all(|b| b.is_ascii_digit())
}

/// Every whole word of `text` that has the shape of a rule id, but for the hex digits of a
/// percent escape (`%C3%A9` cites nothing).
fn cited_rules(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').filter(move |word| {
        let start = word.as_ptr().addr() - text.as_ptr().addr();
        is_rule_id(word) && !text[..start].ends_with('%')
    })
}

/// Rule ids cited in the repository's text files but not defined in `docs/behaviour.md`, a
/// `Rule` enum that differs from the defined ids, and references to the rules outside the
/// repository.
fn rule_problems(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let behaviour = root.join("docs/behaviour.md");
    let Ok(text) = fs::read_to_string(&behaviour) else {
        return vec![
            "docs/behaviour.md is missing: every rule id the code cites must resolve there"
                .to_owned(),
        ];
    };
    let defined = defined_rules(&text);
    let explain = root.join("crates/cors-engine/src/explain.rs");
    let variants: Vec<String> = fs::read_to_string(&explain)
        .unwrap_or_default()
        .split_once("pub enum Rule {")
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(body, _)| {
            body.split(',').map(str::trim).filter(|v| is_rule_id(v)).map(str::to_owned).collect()
        })
        .unwrap_or_default();
    // The engine cites every rule of sections 2 to 7; the C rules are cors-policy's.
    let decided: Vec<String> = defined.iter().filter(|id| !id.starts_with('C')).cloned().collect();
    if variants != decided {
        problems.push(format!(
            "cors-engine's Rule enum lists {variants:?} but docs/behaviour.md defines {decided:?}"
        ));
    }
    let mut files = Vec::new();
    text_files(root, &mut files);
    files.sort();
    for path in files {
        let Ok(content) = fs::read_to_string(&path) else { continue };
        let shown = path.strip_prefix(root).unwrap_or(&path).display().to_string();
        let mut unknown: Vec<&str> = cited_rules(&content)
            .filter(|id| !defined.iter().any(|d| d == id))
            .filter(|id| !NOT_RULE_IDS.iter().any(|(token, _)| token == id))
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        if !unknown.is_empty() {
            problems.push(format!(
                "{shown}: cites {unknown:?}, which docs/behaviour.md does not define"
            ));
        }
        // The needle is split so that this file does not trip its own check.
        for outside in [concat!("shared/", "reference"), concat!("shared/", "seed")] {
            if content.contains(outside) {
                problems.push(format!(
                    "{shown}: points at {outside}, outside the repository; cite docs/behaviour.md"
                ));
            }
        }
    }
    problems
}

/// The project's files whose name `keep` accepts, skipping build output, the fuzz corpus and
/// installed packages.
fn project_files(dir: &Path, keep: &dyn Fn(&str) -> bool, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !matches!(name.as_ref(), "target" | ".git" | "corpus" | "artifacts" | "node_modules")
            {
                project_files(&path, keep, found);
            }
        } else if keep(&name) {
            found.push(path);
        }
    }
}

/// Source and documentation files that may cite rule ids: `.rs`, `.toml`, `.md`, `.yaml`,
/// `.html` and `.js`, lock files aside.
fn text_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let keep = |name: &str| {
        [".rs", ".toml", ".md", ".yaml", ".yml", ".html", ".js"].iter().any(|e| name.ends_with(e))
            && name != "Cargo.lock"
    };
    project_files(dir, &keep, found);
}

/// Rust files of the project.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    project_files(dir, &|name| Path::new(name).extension().is_some_and(|ext| ext == "rs"), found);
}

fn source_problems(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for path in files {
        let Ok(text) = fs::read_to_string(&path) else { continue };
        let shown = path.strip_prefix(root).unwrap_or(&path).display().to_string();
        let first =
            text.lines().map(str::trim).find(|line| !line.is_empty() && !line.starts_with("#!"));
        if !first.is_some_and(|line| line.starts_with("//!")) {
            problems.push(format!("{shown}: does not start with a `//!` module doc"));
        }
        // The needles are split so that this file does not trip its own check.
        for needle in [concat!("#[", "ignore"), concat!("should", "_panic")] {
            if text.contains(needle) {
                problems.push(format!(
                    "{shown}: contains `{needle}`; record known-wrong behaviour as data with a reason instead"
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    #[test]
    fn repository_is_tidy() {
        super::run().unwrap();
    }

    /// A graph where `layer` needs `http` (normal) and `tokio` through `helper` (normal), and
    /// `clap` only as a dev-dependency.
    fn graph() -> serde_json::Value {
        let edge = |pkg: &str, kind: Option<&str>| serde_json::json!({"pkg": pkg, "dep_kinds": [{"kind": kind, "target": null}]});
        let packages = ["layer", "http", "helper", "tokio", "clap"]
            .map(|name| serde_json::json!({"id": format!("{name}-id"), "name": name}));
        serde_json::json!({
            "packages": packages,
            "resolve": {"nodes": [
                {"id": "layer-id", "deps": [edge("http-id", None), edge("helper-id", None),
                                            edge("clap-id", Some("dev"))]},
                {"id": "helper-id", "deps": [edge("tokio-id", None)]},
                {"id": "http-id", "deps": []},
                {"id": "tokio-id", "deps": []},
                {"id": "clap-id", "deps": []},
            ]}
        })
    }

    #[test]
    fn a_forbidden_crate_deep_in_the_normal_tree_is_found() {
        let problems = super::forbidden_in_tree(&graph(), "layer", &["tokio", "clap"]).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("pulls in tokio through helper"), "{problems:?}");
    }

    #[test]
    fn rule_ids_are_read_from_list_items_only() {
        // Undefined ids are spelled with concat! so that this file cites none itself.
        let text =
            concat!("- **C1** keys\n  - **P", "9** nested\nP", "7 in prose\n- **V8 x** no\n");
        assert_eq!(super::defined_rules(text), ["C1", concat!("P", "9")]);
        let cited: Vec<&str> = super::cited_rules(concat!(
            "(P2, V1) R",
            "10 xP3 P2a V4_ONLY A4. /caf%C3%A",
            "9 C0 P01"
        ))
        .collect();
        assert_eq!(cited, ["P2", "V1", concat!("R", "10"), "A4"]);
    }

    #[test]
    fn packaged_files_that_reach_outside_the_package_are_found() {
        let stripped = ["cors_devtools".to_owned()];
        let text = "//! x\nlet a = Path::new(env!(\"CARGO_MANIFEST_DIR\"))\n    .join(\"../../examples\");\n\
                    let b = concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/../../x.yaml\");\n\
                    let c = Path::new(env!(\"CARGO_MANIFEST_DIR\")).join(\"profiles\");\n\
                    use cors_devtools::harness;\nlet d = include_str!(\"../README.md\");\n";
        let problems = super::packaged_file_problems("p: f.rs", text, &stripped);
        let places: Vec<&str> = problems.iter().map(|p| p.split(": ").nth(1).unwrap()).collect();
        assert_eq!(places, ["f.rs:2", "f.rs:4", "f.rs:6"], "{problems:?}");
        assert!(problems[2].contains("uses cors_devtools"), "{problems:?}");
    }

    #[test]
    fn dev_dependencies_are_not_followed() {
        let problems = super::forbidden_in_tree(&graph(), "layer", &["clap"]).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
    }
}
