//! The [`Target`] trait: anything that answers a request (a gateway over HTTP, the engine or
//! the tower layer in-process), and the request the runner hands it.

use crate::case::Case;
use crate::check::Observed;
use crate::error::TargetError;
use crate::upstream;

/// A request as the runner sends it: the case's request plus the marker header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutgoingRequest {
    /// The method, byte-exact.
    pub method: String,
    /// The request target.
    pub path: String,
    /// Header lines in order, the marker line last.
    pub headers: Vec<(String, String)>,
    /// The unique marker sent in [`upstream::MARKER`], by which the upstream records the request.
    pub marker: String,
}

impl OutgoingRequest {
    /// The request of `case`, marked with `marker`.
    ///
    /// # Errors
    ///
    /// A malformed header line in the case (the corpus loader rejects those already).
    pub fn from_case(case: &Case, marker: &str) -> Result<OutgoingRequest, TargetError> {
        let mut headers = case.request.header_lines().map_err(TargetError::new)?;
        headers.push((upstream::MARKER.to_owned(), marker.to_owned()));
        Ok(OutgoingRequest {
            method: case.request.method.clone(),
            path: case.request.path.clone(),
            headers,
            marker: marker.to_owned(),
        })
    }

    /// A request with these parts; the marker line is appended to `headers`.
    #[must_use]
    pub fn new(method: &str, path: &str, headers: Vec<(String, String)>, marker: &str) -> Self {
        let mut headers = headers;
        headers.push((upstream::MARKER.to_owned(), marker.to_owned()));
        OutgoingRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            headers,
            marker: marker.to_owned(),
        }
    }

    /// The value of the first `Host` line the case gives, if any.
    #[must_use]
    pub fn host(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("host"))
            .map(|(_, value)| value.as_str())
    }
}

/// Something the runner can send requests to.
///
/// A target answers with an [`Observed`]: status, header lines, body length, and whether the
/// request reached the suite's upstream. In-process targets put the upstream's answer
/// ([`upstream::respond`]) behind the code under test; the HTTP target expects the gateway to
/// forward to a running `cors-conformance upstream`.
pub trait Target {
    /// A short name used in reports and matched by `known-failures.toml` entries
    /// (`engine`, `tower`, `http`, or what the caller chose).
    fn name(&self) -> &str;

    /// The scheme clients reach the target's listener with, `http` (the default) or `https`:
    /// what same-origin cases fill their `{scheme}` placeholders with
    /// ([`Case::for_listener`](crate::Case::for_listener)).
    fn listener_scheme(&self) -> &'static str {
        "http"
    }

    /// The request target sent for a request whose path is `path`: `path` itself, unless the
    /// target puts every path under its own (an HTTP target whose URL has a path). Reports show
    /// this, what was sent, rather than the case's path.
    fn request_target(&self, path: &str) -> String {
        path.to_owned()
    }

    /// Sends `request` to the target configured with `profile`, and reports what came back.
    ///
    /// # Errors
    ///
    /// The target could not answer at all (unreachable, unknown profile, protocol error).
    fn send(&mut self, profile: &str, request: &OutgoingRequest) -> Result<Observed, TargetError>;
}
