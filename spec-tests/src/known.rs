//! Known failures: cases a target is known to fail, each with a reason, kept as data.
//!
//! An entry that no longer applies (its case passes, or no longer exists) is *stale*, and a run
//! with a stale entry fails, so the file shrinks as bugs are fixed instead of hiding them.

use serde::Deserialize;

use crate::error::DataError;

/// The repository's own known failures (`spec-tests/known-failures.toml`), compiled in.
pub const BUILTIN: &str = include_str!("../known-failures.toml");

/// One known failure.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct KnownFailure {
    /// The case id.
    pub case: String,
    /// The target names the entry applies to (`engine`, `tower`, `cors-gateway`, `http`...).
    pub targets: Vec<String>,
    /// Why the case fails, and what would fix it (an issue link where one exists).
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    failure: Vec<KnownFailure>,
}

/// A set of known failures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownFailures {
    entries: Vec<KnownFailure>,
}

impl KnownFailures {
    /// No known failures.
    #[must_use]
    pub fn none() -> KnownFailures {
        KnownFailures::default()
    }

    /// The compiled-in `known-failures.toml`.
    ///
    /// # Errors
    ///
    /// As for [`KnownFailures::parse`].
    pub fn builtin() -> Result<KnownFailures, DataError> {
        KnownFailures::parse(BUILTIN, "spec-tests/known-failures.toml")
    }

    /// Parses a known-failures file; `file` names it in errors.
    ///
    /// # Errors
    ///
    /// TOML or schema errors, an entry without a reason or target, a case listed twice for the
    /// same target.
    pub fn parse(text: &str, file: &str) -> Result<KnownFailures, DataError> {
        let parsed: File = toml::from_str(text)
            .map_err(|e| DataError { problems: vec![format!("{file}: {e}")] })?;
        let mut problems = Vec::new();
        for (i, entry) in parsed.failure.iter().enumerate() {
            if entry.reason.trim().is_empty() {
                problems.push(format!("{file}: failure[{i}] ({}): empty reason", entry.case));
            }
            if entry.targets.is_empty() {
                problems.push(format!("{file}: failure[{i}] ({}): no targets", entry.case));
            }
            let twice = parsed.failure[..i].iter().any(|e| {
                e.case == entry.case && e.targets.iter().any(|t| entry.targets.contains(t))
            });
            if twice {
                problems.push(format!("{file}: failure[{i}] ({}): listed twice", entry.case));
            }
        }
        if problems.is_empty() {
            Ok(KnownFailures { entries: parsed.failure })
        } else {
            Err(DataError { problems })
        }
    }

    /// The entries that apply to the target named `target`.
    pub fn for_target<'a>(
        &'a self,
        target: &'a str,
    ) -> impl Iterator<Item = &'a KnownFailure> + 'a {
        self.entries.iter().filter(move |e| e.targets.iter().any(|t| t == target))
    }

    /// The entry for `case` on `target`, if any.
    #[must_use]
    pub fn get(&self, target: &str, case: &str) -> Option<&KnownFailure> {
        self.entries.iter().find(|e| e.case == case && e.targets.iter().any(|t| t == target))
    }
}
