//! The response body of the layer: the inner service's body, or the empty body of a local answer.

use std::pin::Pin;
use std::task::{Context, Poll};

use cors_engine::{Outcome, Rule};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The body of every response that leaves [`Cors`](crate::Cors).
    ///
    /// Forwarded responses keep the inner service's body `B`, streamed untouched.
    /// Preflights and blocked requests are answered by the layer itself with an empty body
    /// ([`CorsBody::empty`]), so the layer works for any inner body type, including hyper's
    /// `Incoming`, which cannot be built from nothing.
    /// axum accepts it as is (`Router::layer`), because it is an [`http_body::Body`] whose data and
    /// error types are those of `B`.
    ///
    /// It also tells what the layer decided for the request ([`CorsBody::outcome`],
    /// [`CorsBody::rule`]), for access logs and metrics, without a lookup or an allocation.
    #[derive(Debug)]
    pub struct CorsBody<B> {
        #[pin]
        inner: Option<B>,
        decided: Option<(Outcome, Rule)>,
    }
}

impl<B> CorsBody<B> {
    /// Wraps the inner service's body.
    #[must_use]
    pub const fn new(body: B) -> Self {
        Self { inner: Some(body), decided: None }
    }

    /// An empty body, as sent with locally answered preflights and blocked requests.
    #[must_use]
    pub const fn empty() -> Self {
        Self { inner: None, decided: None }
    }

    /// Records what the layer decided for the request this body answers.
    pub(crate) const fn decided(mut self, outcome: Outcome, rule: Rule) -> Self {
        self.decided = Some((outcome, rule));
        self
    }

    /// The kind of decision the layer made for the request this body answers; `None` when the
    /// body was not built by the layer ([`CorsBody::new`], [`CorsBody::empty`]).
    #[must_use]
    pub const fn outcome(&self) -> Option<Outcome> {
        match self.decided {
            Some((outcome, _)) => Some(outcome),
            None => None,
        }
    }

    /// The rule of the behaviour contract that decided ([`cors_engine::Decision::rule`]), as
    /// [`CorsBody::outcome`].
    #[must_use]
    pub const fn rule(&self) -> Option<Rule> {
        match self.decided {
            Some((_, rule)) => Some(rule),
            None => None,
        }
    }

    /// Whether this is the empty body of a local answer.
    #[must_use]
    pub const fn is_local(&self) -> bool {
        self.inner.is_none()
    }

    /// The inner service's body, `None` for a local answer.
    #[must_use]
    pub fn into_inner(self) -> Option<B> {
        self.inner
    }
}

impl<B> Default for CorsBody<B> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<B: Body> Body for CorsBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().inner.as_pin_mut() {
            Some(body) => body.poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}
