//! Errors of the suite itself: bad case data, unreachable targets.

use std::fmt;

/// Problems found in case, profile or known-failure data, all reported at once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DataError {
    /// One line per problem, each naming the file and the case.
    pub problems: Vec<String>,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(problem)?;
        }
        Ok(())
    }
}

impl std::error::Error for DataError {}

/// A target could not produce an answer (connection refused, bad URL, timeout...).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TargetError {
    /// What went wrong, with the address or value involved.
    pub message: String,
}

impl TargetError {
    /// A target error with this message.
    pub fn new(message: impl Into<String>) -> TargetError {
        TargetError { message: message.into() }
    }
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TargetError {}
