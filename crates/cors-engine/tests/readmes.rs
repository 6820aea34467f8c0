//! The library crates' READMEs (cors-origin, cors-policy, cors-engine, cors-hyper) and the
//! repository's own as a new user reads them on the repository's or the registry's page and
//! copies their examples into a project: every line of an example is shown, and every crate an
//! example names besides the README's own is in a `[dependencies]` block of that README (finding
//! F-CC). The crates' own documentation, on docs.rs, is checked for the second: every crate an
//! example names besides the crate is in a `toml` block of the documentation.
//!
//! The examples are compiled and run as doc tests of their crates; this checks what a doc test
//! cannot, that they compile outside it: the hidden lines (`# ...`) rustdoc compiles are shown
//! as they are by Markdown, and a doc test sees the crate's dev-dependencies too.
#![allow(clippy::unwrap_used, reason = "a README that cannot be read is a failed test")]

use std::path::Path;

use rstest::rstest;

/// Crates an example could name without a `use` of the standard library's.
const CRATES: &[&str] = &[
    "cors_origin",
    "cors_policy",
    "cors_engine",
    "cors_hyper",
    "axum",
    "tokio",
    "tower",
    "http",
    "hyper",
    "hyper_util",
];

/// The fenced blocks of `markdown`: their info string and their lines.
fn blocks(markdown: &str) -> Vec<(&str, Vec<&str>)> {
    let mut found = Vec::new();
    let mut open: Option<(&str, Vec<&str>)> = None;
    for line in markdown.lines() {
        match (line.strip_prefix("```"), open.take()) {
            (Some(_), Some(block)) => found.push(block),
            (Some(info), None) => open = Some((info, Vec::new())),
            (None, Some((info, mut lines))) => {
                lines.push(line);
                open = Some((info, lines));
            }
            (None, None) => {}
        }
    }
    found
}

/// The crates of [`CRATES`] `code` names in a path (`name::`).
fn named<'c>(code: &[&str]) -> Vec<&'c str> {
    let text = code.join("\n");
    CRATES
        .iter()
        .copied()
        .filter(|name| {
            text.match_indices(&format!("{name}::")).any(|(at, _)| {
                text[..at].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
            })
        })
        .collect()
}

/// Checks that every crate of [`CRATES`] that a Rust block of `blocks` names, other than `own`,
/// is in one of their `toml` blocks; `what` names the text in the failure.
fn check_dependencies(what: &str, blocks: &[(&str, Vec<&str>)], own: &str) {
    let declared: Vec<String> = blocks
        .iter()
        .filter(|(info, _)| *info == "toml")
        .flat_map(|(_, lines)| lines.iter())
        .filter_map(|line| line.split_once('=').map(|(name, _)| name.trim().replace('-', "_")))
        .collect();
    for (_, lines) in blocks.iter().filter(|(info, _)| info.starts_with("rust")) {
        for name in named(lines) {
            assert!(
                name == own || declared.iter().any(|declared| *declared == name),
                "{what} example uses `{name}`, which no [dependencies] block of it names"
            );
        }
    }
}

/// The text of `file` in the folder `package` of `crates/` (`..`: the repository's root).
fn read(package: &str, file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(package).join(file);
    std::fs::read_to_string(&path).unwrap()
}

#[rstest]
#[case::cors_origin("cors-origin")]
#[case::cors_policy("cors-policy")]
#[case::cors_engine("cors-engine")]
#[case::cors_hyper("cors-hyper")]
#[case::repository("..")]
fn a_readme_example_compiles_as_a_new_user_copies_it(#[case] package: &str) {
    // `..`, the repository's README, has no crate of its own: every crate it names is declared.
    let readme = read(package, "README.md");
    let blocks = blocks(&readme);
    let examples: Vec<&Vec<&str>> = blocks
        .iter()
        .filter(|(info, _)| info.starts_with("rust"))
        .map(|(_, lines)| lines)
        .collect();
    assert!(!examples.is_empty(), "{package}'s README has no Rust example");
    for lines in examples {
        let hidden: Vec<&&str> =
            lines.iter().filter(|line| line.starts_with("# ") || **line == "#").collect();
        assert!(hidden.is_empty(), "{package}'s README shows rustdoc's hidden lines: {hidden:?}");
    }
    check_dependencies(&format!("{package}'s README"), &blocks, &package.replace('-', "_"));
}

/// The crate documentation (`src/lib.rs`'s `//!` lines): an example that uses a crate besides
/// the documented one says so where it is, in a `toml` block (cors-hyper's first example needs
/// `http`, `tower` and `tokio`). Rustdoc hides the hidden lines there, so only the dependencies
/// are checked.
#[rstest]
#[case::cors_origin("cors-origin")]
#[case::cors_policy("cors-policy")]
#[case::cors_engine("cors-engine")]
#[case::cors_hyper("cors-hyper")]
fn a_crate_doc_example_names_the_crates_it_needs(#[case] package: &str) {
    let source = read(package, "src/lib.rs");
    let docs: Vec<&str> = source
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect();
    let docs = docs.join("\n");
    // In rustdoc a block without an info string is Rust.
    let blocks: Vec<(&str, Vec<&str>)> = blocks(&docs)
        .into_iter()
        .map(|(info, lines)| (if info.is_empty() { "rust" } else { info }, lines))
        .collect();
    assert!(blocks.iter().any(|(info, _)| info.starts_with("rust")), "{package}: no example");
    check_dependencies(
        &format!("{package}'s crate documentation"),
        &blocks,
        &package.replace('-', "_"),
    );
}
