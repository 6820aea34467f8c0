//! The layer-level scenarios of `performance.md` and the middlewares measured on them.

use crate::policies::{ALLOWED_ORIGIN, DISALLOWED_ORIGIN, HOST};

/// One request shape and policy size, measured for every [`Implementation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LayerScenario {
    /// `GET` from [`ALLOWED_ORIGIN`], reference policy (2 origins).
    ActualAllowed,
    /// `GET` from [`DISALLOWED_ORIGIN`].
    ActualDisallowed,
    /// `OPTIONS` from [`ALLOWED_ORIGIN`] asking for `PUT` with `content-type, x-token`.
    Preflight,
    /// [`Preflight`](Self::Preflight)'s request, under the reference policy allowing any header
    /// (`headers: ['*']`, P4): the answer's `Access-Control-Allow-Headers` mirrors the request's
    /// `Access-Control-Request-Headers`.
    PreflightMirrored,
    /// `GET` without `Origin`.
    NoOrigin,
    /// `GET` from [`ALLOWED_ORIGIN`], listed last of 1 000 origins.
    LastOf1000,
    /// `GET` from [`ALLOWED_ORIGIN`], listed last of 10 000 origins.
    LastOf10000,
}

impl LayerScenario {
    /// Every scenario, in the order of `performance.md`.
    pub const ALL: [Self; 7] = [
        Self::ActualAllowed,
        Self::ActualDisallowed,
        Self::Preflight,
        Self::PreflightMirrored,
        Self::NoOrigin,
        Self::LastOf1000,
        Self::LastOf10000,
    ];

    /// The scenario's id: the criterion group is `layer-<id>`.
    #[must_use]
    pub const fn id(self) -> &'static str {
        match self {
            Self::ActualAllowed => "actual-allowed",
            Self::ActualDisallowed => "actual-disallowed",
            Self::Preflight => "preflight",
            Self::PreflightMirrored => "preflight-mirrored",
            Self::NoOrigin => "no-origin",
            Self::LastOf1000 => "last-of-1000",
            Self::LastOf10000 => "last-of-10000",
        }
    }

    /// The scenario as `performance.md` names it.
    #[must_use]
    pub const fn title(self) -> &'static str {
        match self {
            Self::ActualAllowed => "actual GET, allowed origin",
            Self::ActualDisallowed => "actual GET, disallowed origin",
            Self::Preflight => "preflight (PUT, 2 headers)",
            Self::PreflightMirrored => "preflight (PUT, 2 headers mirrored)",
            Self::NoOrigin => "no Origin",
            Self::LastOf1000 => "allowed origin last of 1 000",
            Self::LastOf10000 => "allowed origin last of 10 000",
        }
    }

    /// How many origins the policy lists.
    #[must_use]
    pub const fn policy_origins(self) -> usize {
        match self {
            Self::LastOf1000 => 1_000,
            Self::LastOf10000 => 10_000,
            _ => 2,
        }
    }

    /// Whether the policy allows any header, so that a preflight's answer mirrors the requested
    /// ones (`headers: ['*']`); else it allows the reference headers `content-type, x-token`.
    #[must_use]
    pub const fn mirrors_headers(self) -> bool {
        matches!(self, Self::PreflightMirrored)
    }

    /// The request method.
    #[must_use]
    pub const fn method(self) -> &'static str {
        match self {
            Self::Preflight | Self::PreflightMirrored => "OPTIONS",
            _ => "GET",
        }
    }

    /// The request's header fields besides `Host`, as a browser would send them.
    #[must_use]
    pub fn headers(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Self::ActualAllowed | Self::LastOf1000 | Self::LastOf10000 => {
                vec![("origin", ALLOWED_ORIGIN)]
            }
            Self::ActualDisallowed => vec![("origin", DISALLOWED_ORIGIN)],
            Self::Preflight | Self::PreflightMirrored => vec![
                ("origin", ALLOWED_ORIGIN),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "content-type,x-token"),
            ],
            Self::NoOrigin => Vec::new(),
        }
    }

    /// The `Host` the request is addressed to.
    #[must_use]
    pub const fn host(self) -> &'static str {
        HOST
    }
}

/// A service measured by the layer benches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Implementation {
    /// The trivial handler as a tower service, without middleware.
    BareTower,
    /// The handler wrapped in `cors_hyper::CorsLayer` (ours).
    CorsHyper,
    /// The handler wrapped in `tower_http::cors::CorsLayer`.
    TowerHttp,
    /// The trivial handler in an actix-web `App`, without middleware.
    BareActix,
    /// The same `App` wrapped in `actix_cors::Cors`.
    ActixCors,
}

impl Implementation {
    /// Every implementation, bare handlers first.
    pub const ALL: [Self; 5] =
        [Self::BareTower, Self::CorsHyper, Self::TowerHttp, Self::BareActix, Self::ActixCors];

    /// The middlewares, ours first.
    pub const MIDDLEWARES: [Self; 3] = [Self::CorsHyper, Self::TowerHttp, Self::ActixCors];

    /// The criterion function id.
    #[must_use]
    pub const fn id(self) -> &'static str {
        match self {
            Self::BareTower => "bare-tower",
            Self::CorsHyper => "cors-hyper",
            Self::TowerHttp => "tower-http",
            Self::BareActix => "bare-actix",
            Self::ActixCors => "actix-cors",
        }
    }

    /// The bare handler this middleware's own cost is measured against; `None` for a bare one.
    #[must_use]
    pub const fn baseline(self) -> Option<Self> {
        match self {
            Self::CorsHyper | Self::TowerHttp => Some(Self::BareTower),
            Self::ActixCors => Some(Self::BareActix),
            Self::BareTower | Self::BareActix => None,
        }
    }
}

/// A service under measurement: requests are built outside the timed section, then called.
pub trait Subject {
    /// The request type the service takes.
    type Request;
    /// What a call returns (dropped outside the timed section).
    type Response;

    /// A fresh request of `method` with `Host` and then `fields` (lower-case names), as the
    /// service's server would hand it over.
    fn request_for(
        &self,
        method: &'static str,
        fields: &[(&'static str, &'static str)],
    ) -> Self::Request;

    /// A fresh request of `scenario` (with `Host`).
    fn request(&self, scenario: LayerScenario) -> Self::Request {
        self.request_for(scenario.method(), &scenario.headers())
    }

    /// Calls the service as a server does for one request, and waits for the response.
    fn call(&self, request: Self::Request) -> Self::Response;

    /// The status and the names and values of the response's header fields, for checks.
    fn summary(response: &Self::Response) -> ResponseSummary;
}

/// What the checks look at in a response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseSummary {
    /// The status code.
    pub status: u16,
    /// Every header field as (lower-case name, value), in order.
    pub headers: Vec<(String, String)>,
}

impl ResponseSummary {
    /// The summary of a response with `status` and the header fields `(name, value)` in order;
    /// values that are not UTF-8 are kept lossily.
    pub(crate) fn new<'a>(
        status: u16,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> ResponseSummary {
        let headers = headers
            .into_iter()
            .map(|(name, value)| (name.to_owned(), String::from_utf8_lossy(value).into_owned()))
            .collect();
        ResponseSummary { status, headers }
    }

    /// The value of `name`, if present (the first line).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Polls `future` to completion on this thread with a no-op waker.
///
/// Every future measured here is ready at once or after a few polls without I/O.
///
/// # Panics
/// When the future stays pending after many polls: it is waiting for I/O or a runtime, which a
/// benchmark of these middlewares must never do.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..1_000 {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
    panic!("invariant: the measured services answer without waiting for I/O")
}
