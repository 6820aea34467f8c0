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
    /// What kind of failure it is.
    pub kind: TargetErrorKind,
}

/// The kinds of [`TargetError`]: whether the target is not there at all, or answered one
/// request badly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetErrorKind {
    /// The target cannot be reached: connection refused, no such host, TLS handshake failure.
    /// A run stops at the first one.
    Unreachable,
    /// No answer within the timeout.
    Timeout,
    /// An HTTP answer that could not be read whole: a head past the size limit, a body cut
    /// short, a connection reset.
    Answer,
    /// What came back does not read as an HTTP/1.x answer's head: another protocol (a TLS
    /// record, HTTP/2 frames, a banner), a malformed head, or nothing before the connection
    /// closed.
    NotHttp,
    /// The request could not be sent as given (invalid method, header or URL).
    Request,
    /// Anything else.
    Other,
}

impl TargetError {
    /// A target error of kind [`TargetErrorKind::Other`] with this message.
    pub fn new(message: impl Into<String>) -> TargetError {
        TargetError::of(TargetErrorKind::Other, message)
    }

    /// A target error of this kind with this message.
    pub fn of(kind: TargetErrorKind, message: impl Into<String>) -> TargetError {
        TargetError { message: message.into(), kind }
    }

    /// Whether the target cannot be reached at all.
    #[must_use]
    pub fn is_unreachable(&self) -> bool {
        self.kind == TargetErrorKind::Unreachable
    }
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TargetError {}
