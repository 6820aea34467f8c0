//! [`OriginPattern`]: what one configured `origins` entry matches.

use core::fmt;
use core::str::FromStr;

use crate::error::Subject;
use crate::host::{ends_in_a_number, is_special};
use crate::origin::parse_config;
use crate::{Origin, ParseError, ParseErrorKind, RequestOrigin};

/// One configured origin entry: `*`, `null`, an exact origin, or a subdomain pattern
/// (behaviour rules C4, M1, M4, M5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OriginPattern {
    /// `*`: every origin, `null` and malformed ones included.
    Any,
    /// `null`: the opaque origin only (behaviour rule M4).
    Null,
    /// One origin, matched by bytes against its canonical serialization (behaviour rule M1).
    Exact(Origin),
    /// `scheme://*.domain[:port]` (behaviour rule M5).
    Subdomains(SubdomainPattern),
}

impl OriginPattern {
    /// Parses one configured entry: `*`, `null`, an origin (see [`Origin::parse`]), or
    /// `scheme://*.domain[:port]`.
    ///
    /// - Accepted: `*`, `null`, `https://app.example`, `https://*.example.com`,
    ///   `http://*.a.example:8080`.
    /// - Refused: `Null`, `*.example.com` (no scheme), `https://*example.com`,
    ///   `https://a.*.example.com`, `https://*`, `https://*.127.0.0.1`, `https://*.[::1]`.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] with the kind of violation, its byte offset, and the input.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        Self::parse_with_notes(input).map(|(pattern, _)| pattern)
    }

    /// Like [`OriginPattern::parse`], and also says what was tolerated or rewritten.
    ///
    /// # Errors
    ///
    /// As [`OriginPattern::parse`].
    pub fn parse_with_notes(input: &str) -> Result<(Self, crate::ParseNotes), ParseError> {
        match input {
            "*" => return Ok((Self::Any, crate::ParseNotes::default())),
            "null" => return Ok((Self::Null, crate::ParseNotes::default())),
            _ if input.eq_ignore_ascii_case("null") => {
                let kind = ParseErrorKind::NullNotLowercase;
                return Err(ParseError::new(kind, input, 0, Subject::Pattern));
            }
            _ => {}
        }
        let wildcard = input.find("://").is_some_and(|i| input[i + 3..].starts_with('*'));
        let (origin, notes) = parse_config(input, Subject::Pattern, wildcard)?;
        if !wildcard {
            return Ok((Self::Exact(origin), notes));
        }
        let host = origin.host();
        // A non-special scheme's host is opaque (`x-app://*.1.2` names the labels `1.2`).
        let ip = host.starts_with('[')
            || is_special(origin.scheme().as_bytes()) && ends_in_a_number(host.as_bytes());
        if ip {
            let offset = input.find("://").map_or(0, |i| i + 5);
            return Err(ParseError::new(
                ParseErrorKind::WildcardOnIpAddress,
                input,
                offset,
                Subject::Pattern,
            ));
        }
        Ok((Self::Subdomains(SubdomainPattern { base: origin }), notes))
    }

    /// Does this single pattern match `origin`? The semantics [`OriginSet`](crate::OriginSet)
    /// implements for many patterns at once, without its precedence rule.
    #[must_use]
    pub fn matches(&self, origin: &RequestOrigin<'_>) -> bool {
        match self {
            Self::Any => true,
            Self::Null => matches!(origin, RequestOrigin::Null),
            Self::Exact(exact) => exact.matches(origin),
            Self::Subdomains(pattern) => pattern.matches(origin),
        }
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Null => f.write_str("null"),
            Self::Exact(origin) => fmt::Display::fmt(origin, f),
            Self::Subdomains(pattern) => fmt::Display::fmt(pattern, f),
        }
    }
}

impl FromStr for OriginPattern {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, ParseError> {
        Self::parse(input)
    }
}

/// `scheme://*.domain[:port]`: origins with that scheme and port whose host is `domain` with one
/// or more whole labels in front (never `domain` itself; behaviour rules C4, M5).
///
/// Without a port in the pattern, only the scheme's default port matches.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SubdomainPattern {
    /// `scheme://domain[:port]`, canonical.
    base: Origin,
}

impl SubdomainPattern {
    /// The scheme, lowercase.
    #[must_use]
    pub fn scheme(&self) -> &str {
        self.base.scheme()
    }

    /// The domain the subdomains are under, canonical (for a special scheme lowercase and
    /// Punycode; a non-special scheme's opaque host as written), without `*.`.
    #[must_use]
    pub fn domain(&self) -> &str {
        self.base.host()
    }

    /// The explicit, non-default port the pattern requires; `None` means the default port.
    #[must_use]
    pub fn port(&self) -> Option<u16> {
        self.base.port()
    }

    /// Number of labels in [`domain`](Self::domain).
    #[must_use]
    pub fn domain_labels(&self) -> usize {
        self.domain().split('.').count()
    }

    /// Does the pattern match `origin`? Whole-label suffix match on the host, exact scheme and
    /// port.
    #[must_use]
    pub fn matches(&self, origin: &RequestOrigin<'_>) -> bool {
        let RequestOrigin::Tuple(origin) = origin else { return false };
        if origin.scheme_bytes() != self.scheme().as_bytes() || origin.port() != self.port() {
            return false;
        }
        origin
            .host_bytes()
            .strip_suffix(self.domain().as_bytes())
            .and_then(|front| front.strip_suffix(b"."))
            .is_some_and(|front| !front.is_empty())
    }
}

impl fmt::Display for SubdomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://*.{}", self.scheme(), self.domain())?;
        if let Some(port) = self.port() {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SubdomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubdomainPattern({self})")
    }
}
