//! The tower [`Layer`] and [`Service`] that apply an engine's decisions to HTTP messages.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use cors_engine::{Decision, Engine, Outcome, ResponseHeaders, Value, Vary};
use cors_policy::{LoadError, Policy};
use http::header::{self, HOST, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::CorsBody;
use crate::headers::{append_vary, missing_vary, remove_access_control};
use crate::shared::SharedEngine;

/// The scheme of the listener the requests arrive on, used for the same-origin check (R2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ListenerScheme {
    /// Plain `http` (the default).
    #[default]
    Http,
    /// `https`: the service is behind TLS (terminated here or by a proxy in front).
    Https,
}

impl ListenerScheme {
    /// `"http"` or `"https"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// Where a layer takes its engine from.
#[derive(Clone, Debug)]
enum Source {
    Fixed(Arc<Engine>),
    Shared(SharedEngine),
}

impl Source {
    fn with<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        match self {
            Self::Fixed(engine) => f(engine),
            Self::Shared(shared) => shared.with(f),
        }
    }
}

/// A tower [`Layer`] that applies one CORS policy to the services it wraps.
///
/// Cloning the layer, or the [`Cors`] services it builds (hyper-util and axum clone the service
/// per connection or per request), only increments a reference count: the compiled policy is
/// never copied.
#[derive(Clone, Debug)]
pub struct CorsLayer {
    source: Source,
    scheme: ListenerScheme,
}

impl CorsLayer {
    /// A layer applying `policy`.
    #[must_use]
    pub fn new(policy: Policy) -> Self {
        Self::from_engine(Engine::new(policy))
    }

    /// A layer applying an already built engine.
    #[must_use]
    pub fn from_engine(engine: impl Into<Arc<Engine>>) -> Self {
        Self { source: Source::Fixed(engine.into()), scheme: ListenerScheme::Http }
    }

    /// A layer whose policy can be replaced at run time through `shared`
    /// (this is how `cors-gateway` reloads on `SIGHUP`).
    #[must_use]
    pub fn from_shared(shared: SharedEngine) -> Self {
        Self { source: Source::Shared(shared), scheme: ListenerScheme::Http }
    }

    /// A layer applying the policy in a YAML file of any shape `cors-policy` reads.
    ///
    /// Lint warnings are logged with `tracing` at warn level, one per diagnostic.
    ///
    /// # Errors
    /// Every problem of the file, with line and column, as [`Policy::from_yaml_file`] reports it.
    pub fn from_yaml_file(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let loaded = Policy::from_yaml_file(path.as_ref())?;
        for warning in &loaded.warnings {
            tracing::warn!("{warning}");
        }
        Ok(Self::new(loaded.policy))
    }

    /// Sets the scheme of the listener (default `http`), used to recognise same-origin requests.
    #[must_use]
    pub const fn listener_scheme(mut self, scheme: ListenerScheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// The engine deciding requests now.
    #[must_use]
    pub fn engine(&self) -> Arc<Engine> {
        match &self.source {
            Source::Fixed(engine) => Arc::clone(engine),
            Source::Shared(shared) => shared.load(),
        }
    }
}

impl<S> Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        Cors { inner, source: self.source.clone(), scheme: self.scheme }
    }
}

/// The service built by [`CorsLayer`]: answers preflights and blocked requests itself, forwards
/// the rest to `S` and sets the decided headers on its response.
#[derive(Clone, Debug)]
pub struct Cors<S> {
    inner: S,
    source: Source,
    scheme: ListenerScheme,
}

impl<S> Cors<S> {
    /// The wrapped service.
    pub const fn inner(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub const fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Cors<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<CorsBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let plan = self.source.with(|engine| plan(engine, &request, self.scheme));
        let state = match plan {
            Plan::Forward(apply) => {
                State::Forward { future: self.inner.call(request), apply: Some(apply) }
            }
            Plan::Local(response) => State::Local { response: Some(response) },
        };
        ResponseFuture { state }
    }
}

/// The names of the fields a decision can set, in the order of [`Fields`].
const FIELD_NAMES: [HeaderName; 6] = [
    header::ACCESS_CONTROL_ALLOW_ORIGIN,
    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
    header::ACCESS_CONTROL_ALLOW_METHODS,
    header::ACCESS_CONTROL_ALLOW_HEADERS,
    header::ACCESS_CONTROL_EXPOSE_HEADERS,
    header::ACCESS_CONTROL_MAX_AGE,
];

/// Owned copies (reference counts) of the decided values, one slot per [`FIELD_NAMES`] entry.
#[derive(Debug, Default)]
struct Fields([Option<HeaderValue>; 6]);

impl Fields {
    /// The decided values, owned: the request's own `Origin` value is cloned (a reference count).
    fn new(granted: &ResponseHeaders<'_, '_, HeaderMap>) -> Self {
        let owned = |value: Option<Value<'_, '_, HeaderMap>>| value.map(|v| v.to_header_value());
        Self([
            owned(granted.allow_origin()),
            owned(granted.allow_credentials()),
            owned(granted.allow_methods()),
            owned(granted.allow_headers()),
            owned(granted.expose_headers()),
            owned(granted.max_age()),
        ])
    }

    /// Sets the fields on a map that has none of them (a fresh local answer, or a response
    /// whose `Access-Control-*` fields were removed), so appending is setting.
    fn set_on(self, headers: &mut HeaderMap) {
        for (name, value) in FIELD_NAMES.iter().zip(self.0) {
            if let Some(value) = value {
                headers.append(name.clone(), value);
            }
        }
    }
}

/// What to do to a forwarded response.
#[derive(Debug)]
struct Apply {
    /// `true` for an allowed CORS request: upstream `Access-Control-*` fields are replaced (A4).
    replace: bool,
    fields: Fields,
    vary: Vary,
}

impl Apply {
    fn apply(self, headers: &mut HeaderMap) {
        // The upstream's `Vary` is read before our fields make the map bigger (V1); only an
        // allowed CORS request has fields to set (`plan` leaves them empty otherwise).
        let missing = missing_vary(headers, self.vary);
        if self.replace {
            remove_access_control(headers);
            self.fields.set_on(headers);
        }
        append_vary(headers, missing);
    }
}

enum Plan {
    Forward(Apply),
    Local(Response<()>),
}

/// Decides `request` and turns the decision, which borrows the engine and the request, into
/// owned values, so that the request can move on to the inner service.
fn plan<B>(engine: &Engine, request: &Request<B>, scheme: ListenerScheme) -> Plan {
    let view = cors_engine::Request {
        method: request.method().as_str().as_bytes(),
        headers: request.headers(),
        scheme: scheme.as_str(),
        host: host_of(request),
    };
    let decision = engine.decide(&view);
    log_decision(request, &decision);
    let vary = decision.vary();
    match decision {
        Decision::NotCors { vary } => {
            Plan::Forward(Apply { replace: false, fields: Fields::default(), vary })
        }
        Decision::Allowed { headers: granted } => {
            Plan::Forward(Apply { replace: true, fields: Fields::new(&granted), vary })
        }
        Decision::Preflight { headers: granted, .. } => {
            Plan::Local(local_answer(Fields::new(&granted), vary))
        }
        Decision::Blocked { vary } => Plan::Local(local_answer(Fields::default(), vary)),
        // A kind of decision this adapter does not know yet: pass the response through.
        _ => Plan::Forward(Apply { replace: false, fields: Fields::default(), vary }),
    }
}

/// The `Host` field, or the HTTP/2 `:authority`; `None` when absent or ambiguous (two lines).
fn host_of<B>(request: &Request<B>) -> Option<&[u8]> {
    let mut lines = request.headers().get_all(HOST).iter();
    match (lines.next(), lines.next()) {
        (Some(host), None) => Some(host.as_bytes()),
        (Some(_), Some(_)) => None,
        (None, _) => request.uri().authority().map(|authority| authority.as_str().as_bytes()),
    }
}

/// Status 200, empty body (P1, P3, A2), the decided fields and `Vary`.
fn local_answer(fields: Fields, vary: Vary) -> Response<()> {
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    fields.set_on(headers);
    // A new answer has no `Vary` of its own: every token is missing.
    append_vary(headers, vary);
    response
}

fn log_decision<B>(request: &Request<B>, decision: &Decision<'_, '_, HeaderMap>) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let (outcome, rule) = match decision.outcome() {
        Outcome::NotCors => ("not-cors", "R1/R2"),
        Outcome::PreflightAccepted => ("preflight-accepted", "P1"),
        Outcome::PreflightRejected => ("preflight-rejected", "P3"),
        Outcome::Blocked => ("blocked", "A2"),
        Outcome::Allowed => ("allowed", "A1"),
        _ => ("unknown", "-"),
    };
    let origin = request.headers().get(header::ORIGIN).map(HeaderValue::as_bytes);
    tracing::debug!(
        method = %request.method(),
        path = request.uri().path(),
        origin = ?origin.map(String::from_utf8_lossy),
        outcome,
        rule,
        "cors decision"
    );
}

pin_project! {
    /// The response future of [`Cors`]: the inner service's future, or a ready local answer.
    ///
    /// Not boxed; polling it allocates nothing.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Forward { #[pin] future: F, apply: Option<Apply> },
        Local { response: Option<Response<()>> },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<CorsBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Forward { future, apply } => {
                let mut response = ready!(future.poll(cx))?.map(CorsBody::new);
                if let Some(apply) = apply.take() {
                    apply.apply(response.headers_mut());
                }
                Poll::Ready(Ok(response))
            }
            StateProj::Local { response } => {
                let response =
                    response.take().expect("invariant: a future is not polled after it completed");
                Poll::Ready(Ok(response.map(|()| CorsBody::empty())))
            }
        }
    }
}
