//! The error type of the drivers.

use std::fmt;

/// Why a peer could not be configured or started.
#[derive(Debug)]
#[non_exhaustive]
pub enum PeerError {
    /// The profile could not be read.
    Profile {
        /// The profile name or file.
        profile: String,
        /// What was wrong.
        message: String,
    },
    /// The upstream URL is not usable.
    Upstream {
        /// The URL given.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// A peer's configuration was refused by the peer itself.
    Config {
        /// The peer.
        peer: &'static str,
        /// What it said.
        message: String,
    },
    /// The peer is not installed.
    Unavailable {
        /// The peer.
        peer: String,
        /// What is missing.
        message: String,
    },
    /// Reading or writing a file, or a socket, failed.
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// A data file or report is malformed.
    Data {
        /// The file.
        file: String,
        /// What was wrong.
        message: String,
    },
}

impl PeerError {
    pub(crate) fn upstream(url: &str, message: &str) -> PeerError {
        PeerError::Upstream { url: url.to_owned(), message: message.to_owned() }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> PeerError {
        PeerError::Io { context: context.into(), source }
    }

    /// Whether the error only says the peer is not installed (not a failure of a run).
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(self, PeerError::Unavailable { .. })
    }
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::Profile { profile, message } => write!(f, "profile {profile:?}: {message}"),
            PeerError::Upstream { url, message } => {
                write!(f, "invalid upstream {url:?}: {message}")
            }
            PeerError::Config { peer, message } => {
                write!(f, "{peer} refused its configuration: {message}")
            }
            PeerError::Unavailable { peer, message } => {
                write!(f, "{peer} is not available: {message}; hint: scripts/install-peers.sh")
            }
            PeerError::Io { context, .. } => write!(f, "{context}"),
            PeerError::Data { file, message } => write!(f, "{file}: {message}"),
        }
    }
}

impl std::error::Error for PeerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PeerError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
