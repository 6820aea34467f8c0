//! The harness's one error type: what went wrong while setting up or driving the browser run.
//!
//! These are failures of the harness or of a process it drives, never a CORS verdict: a case
//! whose browser outcome differs from its expectation is a mismatch in the report instead.

use std::fmt;
use std::time::Duration;

/// A harness failure, naming the step that failed and what it was talking to.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation failed (binding a socket, spawning a process, reading a file).
    Io {
        /// What the harness was doing, e.g. `spawn "/usr/bin/chromedriver"`.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An HTTP exchange on loopback failed below the HTTP semantics (connection, framing).
    Http {
        /// What the harness was doing, e.g. `POST /session`.
        what: String,
        /// The underlying hyper error.
        source: hyper::Error,
    },
    /// A bounded wait ran out.
    Timeout {
        /// What the harness was waiting for.
        what: String,
        /// How long it waited.
        after: Duration,
    },
    /// ChromeDriver answered a command with a WebDriver error.
    WebDriver {
        /// The command, e.g. `POST /session/{id}/execute/async`.
        command: String,
        /// The WebDriver error code, e.g. `script timeout`.
        code: String,
        /// ChromeDriver's message.
        message: String,
    },
    /// A process the harness drives misbehaved (exited early, printed no ready line).
    Process {
        /// The process, e.g. `cors-gateway serve --config policy-public.yaml`.
        what: String,
        /// What happened, with whatever the process wrote to stderr.
        message: String,
    },
    /// `cases.toml` or a policy file is not what the suite expects.
    Data {
        /// The file and, where known, the case id.
        place: String,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { what: what.into(), source }
    }

    pub(crate) fn process(what: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Process { what: what.into(), message: message.into() }
    }

    pub(crate) fn data(place: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Data { place: place.into(), message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { what, .. } => write!(f, "{what}: i/o error"),
            Error::Http { what, .. } => write!(f, "{what}: http error"),
            Error::Timeout { what, after } => {
                write!(f, "{what}: no answer within {} ms", after.as_millis())
            }
            Error::WebDriver { command, code, message } => {
                write!(f, "webdriver {command}: {code}: {message}")
            }
            Error::Process { what, message } => write!(f, "{what}: {message}"),
            Error::Data { place, message } => write!(f, "{place}: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Http { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Formats an error with its whole `source()` chain on one line, for reports.
#[must_use]
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}
