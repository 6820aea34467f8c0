//! `cargo xtask licenses`: every package in the dependency graph declares a license expression
//! that `deny.toml`'s allow list satisfies.
//!
//! Why not cargo-deny itself, the tool made for this: on a fresh machine, CI's case, it has to
//! be built from source first, and that took 126 s of a cold `cargo xtask ci` of 17 minutes
//! (2026-12-07), on a CI budget of about 25. Its license check, for a graph whose every package
//! declares an SPDX expression in its manifest (all of ours do), comes down to evaluating each
//! expression against the allow list, which the `spdx` crate does (the crate cargo-deny uses for
//! it). What cargo-deny adds beyond that (reading license files when a package has no
//! expression, clarifications, exceptions) is refused here instead of guessed: such a package
//! fails the check, naming itself. `deny.toml` stays in cargo-deny's format, so
//! `cargo deny check licenses` reads the same allow list for anyone who has it installed.

use std::collections::BTreeSet;

use crate::util::{cargo, exec, root};

/// What `deny.toml` says that this check reads.
struct Config {
    /// `[licenses] allow`: SPDX license ids any package may be used under.
    allow: BTreeSet<String>,
    /// `[graph] targets`: the platforms whose dependencies count.
    targets: Vec<String>,
    /// `[graph] all-features`.
    all_features: bool,
}

/// Entry point for `cargo xtask licenses`, and CI's licenses step.
pub(crate) fn run() -> Result<(), String> {
    let config = read_config()?;
    // Fills the local registry cache for every platform, so the metadata below can be read
    // offline (as tidy reads it) on a fresh machine too.
    let mut fetch = cargo();
    fetch.args(["fetch", "--locked"]);
    exec(fetch)?;
    let mut args = vec!["--locked"];
    if config.all_features {
        args.push("--all-features");
    }
    for target in &config.targets {
        args.extend(["--filter-platform", target]);
    }
    let metadata = crate::tidy::metadata(&args)?;
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let mut problems = Vec::new();
    for package in &packages {
        let name = package["name"].as_str().unwrap_or("?");
        let version = package["version"].as_str().unwrap_or("?");
        if let Err(problem) = check(package["license"].as_str(), &config.allow) {
            problems.push(format!("{name}@{version}: {problem}"));
        }
    }
    if problems.is_empty() {
        eprintln!(
            "licenses: {} packages, each under a license deny.toml allows ({})",
            packages.len(),
            config.allow.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        Ok(())
    } else {
        Err(format!(
            "{} of {} packages are not under a license deny.toml allows:\n  {}",
            problems.len(),
            packages.len(),
            problems.join("\n  ")
        ))
    }
}

fn read_config() -> Result<Config, String> {
    let path = root().join("deny.toml");
    let text = std::fs::read_to_string(&path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let value: toml::Table =
        toml::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))?;
    let strings = |table: &str, key: &str| -> Vec<String> {
        value
            .get(table)
            .and_then(|t| t.get(key))
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect()
    };
    let allow: BTreeSet<String> = strings("licenses", "allow").into_iter().collect();
    if allow.is_empty() {
        return Err(format!("{}: [licenses] allow lists no license", path.display()));
    }
    let all_features = value
        .get("graph")
        .and_then(|graph| graph.get("all-features"))
        .and_then(toml::Value::as_bool)
        .unwrap_or(false);
    Ok(Config { allow, targets: strings("graph", "targets"), all_features })
}

/// Whether a package's `license` field (`None` when it has none) is satisfied by `allow`: some
/// choice among its `OR`s uses allowed licenses only. A license with an exception (`WITH`) or a
/// `LicenseRef-` is not allowed, as cargo-deny does not allow them without a line saying so.
/// Cargo's old `MIT/Apache-2.0` form is read as `MIT OR Apache-2.0` (the lax mode).
fn check(license: Option<&str>, allow: &BTreeSet<String>) -> Result<(), String> {
    let Some(license) = license else {
        return Err("no `license` expression in its manifest (only a license file, which this \
                    check does not read)"
            .into());
    };
    let expression = spdx::Expression::parse_mode(license, spdx::ParseMode::LAX)
        .map_err(|error| format!("license {license:?} is not an SPDX expression: {error}"))?;
    let allowed = |requirement: &spdx::LicenseReq| {
        requirement.addition.is_none()
            && requirement.license.id().is_some_and(|id| allow.contains(id.name))
    };
    if expression.evaluate(allowed) {
        Ok(())
    } else {
        Err(format!("license {license:?}: no choice it offers uses allowed licenses only"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow() -> BTreeSet<String> {
        ["MIT", "Apache-2.0", "ISC", "BSD-3-Clause", "Unicode-3.0", "Zlib"]
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn expressions_with_an_allowed_choice_pass() {
        for license in [
            "MIT",
            "MIT OR Apache-2.0",
            "MIT/Apache-2.0",
            "Apache-2.0 / MIT",
            "(MIT OR Apache-2.0) AND Unicode-3.0",
            "MIT OR Apache-2.0 OR LGPL-2.1-or-later",
            "Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT",
            "ISC AND (Apache-2.0 OR ISC) AND (Apache-2.0 OR ISC OR MIT-0)",
        ] {
            assert_eq!(check(Some(license), &allow()), Ok(()), "{license}");
        }
    }

    #[test]
    fn expressions_without_an_allowed_choice_fail_naming_the_license() {
        for license in [
            "GPL-3.0-only",
            "MIT AND GPL-3.0-only",
            "MIT-0",
            "Apache-2.0 WITH LLVM-exception",
            "LicenseRef-proprietary",
            "LGPL-2.1-or-later",
        ] {
            let error = check(Some(license), &allow()).expect_err(license);
            assert!(error.contains(license), "{error}");
        }
    }

    #[test]
    fn a_missing_or_malformed_expression_fails_with_the_reason() {
        assert!(check(None, &allow()).expect_err("none").contains("no `license` expression"));
        let error = check(Some("MIT OR"), &allow()).expect_err("malformed");
        assert!(error.contains("not an SPDX expression"), "{error}");
    }

    #[test]
    fn the_repository_deny_toml_is_read() {
        let config = read_config().expect("deny.toml");
        assert!(config.allow.contains("MIT") && config.allow.contains("Apache-2.0"));
        assert!(config.targets.iter().any(|target| target == "wasm32-wasip1"));
        assert!(config.all_features);
    }
}
