//! The tower [`Layer`] and [`Service`] that apply an engine's decisions to HTTP messages.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use cors_engine::{Decision, Engine, Outcome, OwnedDecision, RequestHeaders, Rule, Vary};
use cors_policy::Policy;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::answers::{Hit, Prepared};
use crate::body::CorsBody;
use crate::shared::SharedEngine;
use crate::walked::Walked;

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
    Fixed(Arc<Prepared>),
    Shared(SharedEngine),
}

impl Source {
    fn with<R>(&self, f: impl FnOnce(&Prepared) -> R) -> R {
        match self {
            Self::Fixed(prepared) => f(prepared),
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
        let prepared = Prepared::new(engine.into());
        Self { source: Source::Fixed(Arc::new(prepared)), scheme: ListenerScheme::Http }
    }

    /// A layer whose policy can be replaced at run time through `shared`
    /// (this is how `cors-gateway` reloads on `SIGHUP`).
    #[must_use]
    pub fn from_shared(shared: SharedEngine) -> Self {
        Self { source: Source::Shared(shared), scheme: ListenerScheme::Http }
    }

    /// A layer applying the policy in a YAML file of any shape `cors-policy` reads.
    ///
    /// The listener scheme (R2, [`CorsLayer::listener_scheme`]) is `https` when the file is a
    /// Local Mode `ApiInstance` whose `spec.address` is `https://...`, as for the Envoy filter
    /// and `cors-gateway`, and `http` otherwise; [`CorsLayer::listener_scheme`] called after
    /// this sets it either way.
    ///
    /// Lint warnings are logged with `tracing` at warn level, one per diagnostic. To show them
    /// without a `tracing` subscriber, load the file with [`Policy::from_yaml_file`], print its
    /// `warnings`, and build the layer with [`CorsLayer::new`] (and, for an `https` listener,
    /// [`CorsLayer::listener_scheme`]).
    /// The error's `Display` and `Debug` (which `main` prints for an error it returns) are one
    /// `FILE:LINE:COLUMN: error: ...` line per problem.
    ///
    /// # Errors
    /// Every problem of the file, with line and column, as [`Policy::from_yaml_file`] reports it.
    #[cfg(feature = "yaml")]
    pub fn from_yaml_file(
        path: impl AsRef<std::path::Path>,
    ) -> Result<Self, cors_policy::LoadError> {
        let loaded = Policy::from_yaml_file(path)?;
        for warning in &loaded.warnings {
            tracing::warn!("{warning}");
        }
        let scheme =
            if loaded.listens_on_https() { ListenerScheme::Https } else { ListenerScheme::Http };
        Ok(Self::new(loaded.policy).listener_scheme(scheme))
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
            Source::Fixed(prepared) => Arc::clone(prepared.engine()),
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

    // Measured: inlined into the caller's poll (tower's `Oneshot`, hyper's dispatcher), `call` and
    // `ResponseFuture::poll` cost 20 to 45 instructions less per request, fewer moves of the
    // request and the future; `answer` stays out of line (inlined, it cost 86 more).
    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match self.source.with(|prepared| answer(prepared, &request, self.scheme)) {
            Answer::Forward(kept) => ResponseFuture {
                state: State::Forward { future: self.inner.call(request) },
                kept: Some(kept),
            },
            Answer::Local(response, decided) => ResponseFuture {
                state: State::Local { response: Some(response), decided },
                kept: None,
            },
        }
    }
}

/// What the layer keeps of a forwarded request's decision until the response arrives.
enum Kept {
    /// Not CORS (R1, R2): only the `Vary` tokens to add (V1) and the rule.
    /// Measured: keeping an [`OwnedDecision`] with no field for it cost 90 more instructions per
    /// request without `Origin` (building, moving and dropping its six empty slots).
    Vary(Vary, Rule),
    /// An allowed request: its Access-Control-* fields and `Vary`.
    Decision(OwnedDecision),
}

/// What the layer does with a request.
enum Answer {
    /// Forward it, and write the decision into the inner service's response.
    Forward(Kept),
    /// Answer it here (a preflight, a blocked request), with what was decided.
    Local(Response<()>, (Outcome, Rule)),
}

/// Decides `request`. A request that is not CORS keeps only its `Vary` tokens; an allowed one
/// keeps the decision with its values owned (the request's own `Origin` value is cloned, a
/// reference count), so that the request can move on to the inner service; a local answer is
/// written at once: status 200, empty body (P1, P3, A2), an accepted preflight from its group's
/// kept answer ([`Prepared::kept_answer`]).
fn answer<B>(prepared: &Prepared, request: &Request<B>, scheme: ListenerScheme) -> Answer {
    let engine: &Engine = prepared.engine();
    // The engine's own view of an `http::Request`: the `http::Method` told apart by its variant
    // (measured: 20 instructions less per allowed request, 21 per preflight, than its text), and
    // R2's authority looked for only when R2 needs it (45 instructions per request otherwise).
    // Its header fields are read through `Walked`: an `OPTIONS` request's three fields in one
    // walk of a small map (measured: a preflight 1 068 -> 1 060 instructions, the mirrored one
    // 1 929 -> 1 840, the other rows 5 to 9 more; the `walked` module has the figures).
    let walked = Walked::new(request.headers(), *request.method() == http::Method::OPTIONS);
    let view = cors_engine::Request::from_http_with(request, scheme.as_str(), &walked);
    let decision = engine.decide(&view);
    log_decision(request, &decision);
    if let Decision::NotCors { vary, rule, .. } = decision {
        return Answer::Forward(Kept::Vary(vary, rule));
    }
    if decision.outcome().is_forwarded() {
        return Answer::Forward(Kept::Decision(decision.into_owned()));
    }
    let decided = (decision.outcome(), decision.rule());
    // A blocked request's answer is its `Vary` alone (A2), written here as `Decision::apply`
    // writes it, without `kept_answer`'s look at the decision or a copy of it for
    // `write_answer`: measured (callgrind, the `profile` example, own cost), a disallowed origin
    // 503 -> 422 instructions (538 with `write_answer` and without this arm).
    if let Decision::Blocked { vary, .. } = decision {
        let mut response = Response::new(());
        *response.status_mut() = StatusCode::OK;
        apply_vary(vary, response.headers_mut());
        return Answer::Local(response, decided);
    }
    let unfilled = match prepared.kept_answer(&decision) {
        // Cloned here, into the answer: measured, 59 instructions less per preflight than a clone
        // returned from `kept_answer` (`answers`' module documentation).
        Ok(Hit::AsKept(kept)) => return Answer::Local(kept.clone(), decided),
        Ok(Hit::Written(response)) => return Answer::Local(response, decided),
        Err(unfilled) => unfilled,
    };
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::OK;
    write_answer(decision, response.headers_mut());
    if let Some(unfilled) = unfilled {
        unfilled.fill(&response);
    }
    Answer::Local(response, decided)
}

/// Writes a local answer that no kept answer gives (a rejected preflight, a public resource's,
/// a group's first): [`Decision::apply`] on a copy of the decision.
///
/// Out of line and given the decision by value: `apply`, out of line itself, takes it by
/// reference, and called on `answer`'s own decision it kept that decision in memory on every
/// path, so that an accepted preflight answered from its kept answer wrote it to the stack and
/// read it back. Measured (callgrind, own cost, with the blocked arm of `answer` in place): a
/// preflight 1 105 -> 1 092 instructions, the mirrored one 1 969 -> 1 946, an allowed request
/// 1 381 -> 1 372, no `Origin` 488 -> 493 (`answer`'s frame).
#[inline(never)]
fn write_answer<H: RequestHeaders<Value = HeaderValue> + ?Sized>(
    decision: Decision<'_, '_, H>,
    response: &mut HeaderMap,
) {
    decision.apply(response);
}

/// Writes a not-CORS decision's `Vary` tokens into the upstream's response (V1).
///
/// Out of line: measured, the response's walk and the one append are then inlined here, with the
/// name's hash computed at build time, and a request without `Origin` costs 43 instructions less
/// than with the write inlined into the response future (which calls both).
#[inline(never)]
fn apply_vary(vary: Vary, response: &mut HeaderMap) {
    vary.apply(response);
}

/// Logs `decision` at debug level; the level's test inline, the event out of line.
fn log_decision<B, H: RequestHeaders + ?Sized>(
    request: &Request<B>,
    decision: &Decision<'_, '_, H>,
) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    log_event(request, decision.outcome(), decision.rule());
}

/// The debug event of [`log_decision`], out of line and cold, so that `answer` keeps only the
/// level's test: measured (callgrind, own cost), with the `walked` view in place, a preflight
/// 1 060 -> 1 053 instructions, the mirrored one 1 840 -> 1 828, a disallowed request 430 ->
/// 427, no `Origin` 497 -> 494, an allowed one 1 378 -> 1 380. (Alone, before the view: the
/// preflight one more, the other rows 0 to 4 less.)
#[cold]
#[inline(never)]
fn log_event<B>(request: &Request<B>, outcome: Outcome, rule: Rule) {
    let outcome = outcome.as_str();
    let origin = request.headers().get(header::ORIGIN).map(HeaderValue::as_bytes);
    tracing::debug!(
        method = %request.method(),
        path = request.uri().path(),
        origin = ?origin.map(String::from_utf8_lossy),
        outcome,
        %rule,
        "cors decision"
    );
}

pin_project! {
    /// The response future of [`Cors`]: the inner service's future, or a ready local answer.
    ///
    /// Not boxed; polling it allocates nothing of its own (writing the decided fields into the
    /// inner service's response may grow that response's header map).
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
        // Beside the state rather than in its `Forward` variant: measured, the two arms of `call`
        // then build the future with fewer copies (23 instructions less per forwarded request).
        kept: Option<Kept>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Forward { #[pin] future: F },
        Local { response: Option<Response<()>>, decided: (Outcome, Rule) },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<CorsBody<B>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.state.project() {
            StateProj::Forward { future } => {
                let mut response = ready!(future.poll(cx))?;
                let decided = match this.kept.take() {
                    Some(Kept::Vary(vary, rule)) => {
                        apply_vary(vary, response.headers_mut());
                        Some((Outcome::NotCors, rule))
                    }
                    Some(Kept::Decision(decision)) => {
                        let (outcome, rule) = (decision.outcome(), decision.rule());
                        decision.apply(response.headers_mut());
                        Some((outcome, rule))
                    }
                    None => None,
                };
                let response = response.map(CorsBody::new);
                Poll::Ready(Ok(match decided {
                    Some((outcome, rule)) => response.map(|body| body.decided(outcome, rule)),
                    None => response,
                }))
            }
            StateProj::Local { response, decided } => {
                let response =
                    response.take().expect("invariant: a future is not polled after it completed");
                let (outcome, rule) = *decided;
                Poll::Ready(Ok(response.map(|()| CorsBody::empty().decided(outcome, rule))))
            }
        }
    }
}
