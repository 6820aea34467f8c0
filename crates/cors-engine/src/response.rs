//! The output side: [`Decision`], [`ResponseHeaders`], [`Value`] and [`MirroredList`].

use std::fmt;

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
};
use http::{HeaderName, HeaderValue};

use crate::acrh::{AcrhNames, AcrhSummary};
use crate::headers::HeaderSource;
use crate::{ACRH, Vary};

/// What to do with a request, and the exact headers to send (sections 2 to 7).
///
/// Borrows the engine (`'e`, prebuilt values) and the request (`'r`, reflected bytes).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Decision<'e, 'r> {
    /// Not a CORS request (R1, R2): forward it untouched and pass the response through as the
    /// upstream sent it, only appending the `vary` tokens, if any (V1).
    NotCors {
        /// Tokens to append to the response's `Vary`.
        vary: Vary,
    },
    /// A preflight (R3): answer it locally with status 200 and an empty body, never forward it.
    /// When rejected (P3) `headers` holds no Access-Control-* header, only `Vary`.
    Preflight {
        /// Whether the preflight passed P2.
        accepted: bool,
        /// The headers of the answer.
        headers: ResponseHeaders<'e, 'r>,
    },
    /// An actual request that is not allowed (A2): answer it locally with status 200, an empty
    /// body and no Access-Control-* header; append `vary`.
    Blocked {
        /// Tokens for the answer's `Vary`.
        vary: Vary,
    },
    /// An allowed actual request (A1): forward it; on the response remove every Access-Control-*
    /// header the upstream set, set [`ResponseHeaders::iter`], and append
    /// [`ResponseHeaders::vary`] (A4).
    Allowed {
        /// The headers for the response.
        headers: ResponseHeaders<'e, 'r>,
    },
}

/// The kind of a [`Decision`], without its headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// [`Decision::NotCors`].
    NotCors,
    /// [`Decision::Preflight`] with `accepted: true`.
    PreflightAccepted,
    /// [`Decision::Preflight`] with `accepted: false`.
    PreflightRejected,
    /// [`Decision::Blocked`].
    Blocked,
    /// [`Decision::Allowed`].
    Allowed,
}

impl Outcome {
    /// Whether the request goes to the upstream (not CORS, or an allowed actual request).
    #[must_use]
    pub fn is_forwarded(self) -> bool {
        matches!(self, Outcome::NotCors | Outcome::Allowed)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::NotCors => "not a CORS request: forward it untouched",
            Outcome::PreflightAccepted => {
                "preflight accepted: answer 200 with an empty body, do not forward"
            }
            Outcome::PreflightRejected => {
                "preflight rejected: answer 200 with an empty body and no Access-Control-* header, \
                 do not forward"
            }
            Outcome::Blocked => {
                "actual request blocked: answer 200 with an empty body and no Access-Control-* \
                 header, do not forward"
            }
            Outcome::Allowed => "actual request allowed: forward it, then set these headers",
        })
    }
}

impl<'e, 'r> Decision<'e, 'r> {
    /// The kind of decision.
    #[must_use]
    pub fn outcome(&self) -> Outcome {
        match self {
            Decision::NotCors { .. } => Outcome::NotCors,
            Decision::Preflight { accepted: true, .. } => Outcome::PreflightAccepted,
            Decision::Preflight { accepted: false, .. } => Outcome::PreflightRejected,
            Decision::Blocked { .. } => Outcome::Blocked,
            Decision::Allowed { .. } => Outcome::Allowed,
        }
    }

    /// The tokens to append to the response's `Vary`, whatever the decision.
    #[must_use]
    pub fn vary(&self) -> Vary {
        match self {
            Decision::NotCors { vary } | Decision::Blocked { vary } => *vary,
            Decision::Preflight { headers, .. } | Decision::Allowed { headers } => headers.vary,
        }
    }

    /// The response headers of a preflight answer or an allowed actual response.
    #[must_use]
    pub fn headers(&self) -> Option<&ResponseHeaders<'e, 'r>> {
        match self {
            Decision::Preflight { headers, .. } | Decision::Allowed { headers } => Some(headers),
            Decision::NotCors { .. } | Decision::Blocked { .. } => None,
        }
    }
}

/// The Access-Control-* headers of one answer, and its `Vary`.
///
/// Each value is either prebuilt (by the compiled [`Policy`](cors_policy::Policy)) or borrowed from the
/// request; nothing was allocated to make it.
#[derive(Clone, Copy, Debug, Default)]
pub struct ResponseHeaders<'e, 'r> {
    pub(crate) allow_origin: Option<Value<'e, 'r>>,
    pub(crate) allow_credentials: Option<&'e HeaderValue>,
    pub(crate) allow_methods: Option<Value<'e, 'r>>,
    pub(crate) allow_headers: Option<Value<'e, 'r>>,
    pub(crate) expose_headers: Option<&'e HeaderValue>,
    pub(crate) max_age: Option<&'e HeaderValue>,
    pub(crate) vary: Vary,
}

impl<'e, 'r> ResponseHeaders<'e, 'r> {
    /// Only `Vary`: the headers of a rejected preflight (P3).
    pub(crate) fn vary_only(vary: Vary) -> ResponseHeaders<'e, 'r> {
        ResponseHeaders { vary, ..ResponseHeaders::default() }
    }

    /// `Access-Control-Allow-Origin` (O1 to O3).
    #[must_use]
    pub fn allow_origin(&self) -> Option<Value<'e, 'r>> {
        self.allow_origin
    }

    /// `Access-Control-Allow-Credentials: true` when the policy supports credentials (O3).
    #[must_use]
    pub fn allow_credentials(&self) -> Option<Value<'e, 'r>> {
        self.allow_credentials.map(Value::Static)
    }

    /// `Access-Control-Allow-Methods` of an accepted preflight (P4, P5).
    #[must_use]
    pub fn allow_methods(&self) -> Option<Value<'e, 'r>> {
        self.allow_methods
    }

    /// `Access-Control-Allow-Headers` of an accepted preflight (P4, P5).
    #[must_use]
    pub fn allow_headers(&self) -> Option<Value<'e, 'r>> {
        self.allow_headers
    }

    /// `Access-Control-Expose-Headers` of an allowed actual response (A1).
    #[must_use]
    pub fn expose_headers(&self) -> Option<Value<'e, 'r>> {
        self.expose_headers.map(Value::Static)
    }

    /// `Access-Control-Max-Age` of an accepted preflight (P1).
    #[must_use]
    pub fn max_age(&self) -> Option<Value<'e, 'r>> {
        self.max_age.map(Value::Static)
    }

    /// The tokens to append to `Vary` (V1).
    #[must_use]
    pub fn vary(&self) -> Vary {
        self.vary
    }

    /// Whether there is no Access-Control-* header to set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The Access-Control-* headers to set, each once, in a fixed order (`Vary` is not among
    /// them: append [`vary`](Self::vary) instead).
    pub fn iter(&self) -> impl Iterator<Item = (HeaderName, Value<'e, 'r>)> + use<'e, 'r> {
        [
            (ACCESS_CONTROL_ALLOW_ORIGIN, self.allow_origin),
            (ACCESS_CONTROL_ALLOW_CREDENTIALS, self.allow_credentials()),
            (ACCESS_CONTROL_ALLOW_METHODS, self.allow_methods),
            (ACCESS_CONTROL_ALLOW_HEADERS, self.allow_headers),
            (ACCESS_CONTROL_EXPOSE_HEADERS, self.expose_headers()),
            (ACCESS_CONTROL_MAX_AGE, self.max_age()),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
    }
}

/// One header value of a decision.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Value<'e, 'r> {
    /// Prebuilt when the policy was compiled; cloning it only bumps a reference count.
    Static(&'e HeaderValue),
    /// Bytes of the request, sent back as they are: the request's origin (O1, O2) or, for a
    /// public resource, its `Access-Control-Request-Method` (P5).
    /// Always visible ASCII when built by the engine.
    Request(&'r [u8]),
    /// The request's `Access-Control-Request-Headers` names, to be joined (P4, P5).
    Mirrored(MirroredList<'r>),
}

impl Value<'_, '_> {
    /// The value as an [`http::HeaderValue`]: a reference-count clone for [`Value::Static`], a
    /// copy of the request's bytes for [`Value::Request`], and the one allocation of
    /// [`MirroredList::to_header_value`] for [`Value::Mirrored`].
    ///
    /// # Panics
    ///
    /// If a [`Value::Request`] built outside the engine holds bytes that are not a valid field
    /// value (control characters); the engine only builds it from validated bytes.
    #[must_use]
    pub fn to_header_value(&self) -> HeaderValue {
        match self {
            Value::Static(value) => (*value).clone(),
            Value::Request(bytes) => HeaderValue::from_bytes(bytes)
                .expect("invariant: the engine reflects only canonical origins and method tokens"),
            Value::Mirrored(list) => list.to_header_value(),
        }
    }

    /// Whether the value's bytes equal `bytes`, without building it.
    #[must_use]
    pub fn eq_bytes(&self, bytes: &[u8]) -> bool {
        match self {
            Value::Static(value) => value.as_bytes() == bytes,
            Value::Request(own) => *own == bytes,
            Value::Mirrored(list) => list.eq_bytes(bytes),
        }
    }
}

impl fmt::Display for Value<'_, '_> {
    /// The value as text, bytes outside visible ASCII escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Static(value) => write!(f, "{}", value.as_bytes().escape_ascii()),
            Value::Request(bytes) => write!(f, "{}", bytes.escape_ascii()),
            Value::Mirrored(list) => fmt::Display::fmt(list, f),
        }
    }
}

/// The names of the request's `Access-Control-Request-Headers`, as sent: whitespace trimmed,
/// empty elements dropped, to be joined with `, ` (P4, P5).
///
/// Kept as a handle on the request's lines so that deciding allocates nothing;
/// [`to_header_value`](Self::to_header_value) builds the one header value.
#[derive(Clone, Copy, Debug)]
pub struct MirroredList<'r> {
    summary: AcrhSummary<'r>,
    source: HeaderSource<'r>,
}

impl<'r> MirroredList<'r> {
    /// A list over `source`, whose ACRH lines `summary` describes.
    /// A single line is mirrored from `summary` alone; several need an available `source`.
    pub(crate) fn new(summary: AcrhSummary<'r>, source: HeaderSource<'r>) -> MirroredList<'r> {
        MirroredList { summary, source }
    }

    /// Whether the list can be rebuilt (a single line, or an available source).
    pub(crate) fn is_rebuildable(summary: &AcrhSummary<'r>, source: &HeaderSource<'r>) -> bool {
        summary.lines() <= 1 || source.is_available()
    }

    /// How many names.
    #[must_use]
    pub fn len(&self) -> usize {
        self.summary.names()
    }

    /// Whether there is no name (the engine never hands out an empty list).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.summary.names() == 0
    }

    /// The length in bytes of the joined value.
    #[must_use]
    pub fn joined_len(&self) -> usize {
        self.summary.joined_len()
    }

    /// Calls `f` with each name, in order.
    pub fn for_each_name(&self, mut f: impl FnMut(&'r [u8])) {
        if self.summary.lines() <= 1 {
            AcrhNames::new([self.summary.first_line()]).for_each(f);
        } else {
            self.source.for_each_line(ACRH, |line| AcrhNames::new([line]).for_each(&mut f));
        }
    }

    /// The joined value, built once (the adapter's one allocation for a mirroring preflight).
    ///
    /// When the request had a single line already in that exact form, its bytes are reused: an
    /// [`http::HeaderMap`] line is cloned (a reference-count increment), other sources copied.
    ///
    /// # Panics
    ///
    /// Never for a list the engine built: every name passed the token check.
    #[must_use]
    pub fn to_header_value(&self) -> HeaderValue {
        if self.summary.is_canonical_single_line() {
            if let Some(value) = self.source.single_header_value(ACRH) {
                return value.clone();
            }
            return HeaderValue::from_bytes(self.summary.first_line())
                .expect("invariant: mirrored names are tokens");
        }
        let mut joined = Vec::with_capacity(self.summary.joined_len());
        self.for_each_name(|name| {
            if !joined.is_empty() {
                joined.extend_from_slice(b", ");
            }
            joined.extend_from_slice(name);
        });
        HeaderValue::try_from(joined).expect("invariant: mirrored names are tokens")
    }

    /// Whether the joined value equals `bytes`, without building it.
    #[must_use]
    pub fn eq_bytes(&self, bytes: &[u8]) -> bool {
        if bytes.len() != self.summary.joined_len() {
            return false;
        }
        let mut rest = bytes;
        let mut equal = true;
        let mut first = true;
        self.for_each_name(|name| {
            if !first {
                equal &= rest.starts_with(b", ");
                rest = rest.get(2..).unwrap_or_default();
            }
            first = false;
            equal &= rest.starts_with(name);
            rest = rest.get(name.len()..).unwrap_or_default();
        });
        equal && rest.is_empty()
    }
}

impl fmt::Display for MirroredList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut result = Ok(());
        let mut first = true;
        self.for_each_name(|name| {
            if result.is_ok() {
                let sep = if first { "" } else { ", " };
                result = write!(f, "{sep}{}", name.escape_ascii());
            }
            first = false;
        });
        result
    }
}
