//! An engine, and the answers the layer keeps for its groups' accepted preflights.
//!
//! Within one engine, every preflight a group accepts is answered with the same fields in the
//! same order and the same values, but for `Access-Control-Allow-Origin` and a mirrored
//! `Access-Control-Allow-Headers` ([`ResponseHeaders::preflight_group`]). So the layer keeps the
//! first such answer of each group (and of each of its two shapes: with a mirrored list or
//! without one), and answers the next ones with a clone of it, those two values replaced in
//! place, rather than appending each field again.
//!
//! Measured (callgrind, the `profile` example as `cargo xtask bench --instructions` runs it, own
//! cost = `cors-hyper` minus `bare-tower`): a preflight 1 671 -> 1 191 instructions, the
//! mirrored preflight 2 454 -> 2 080; the rows that never use a kept answer 1 to 7 more (an
//! allowed request 1 367 -> 1 370, a disallowed one 486 -> 493, no `Origin` 477 -> 478: the
//! engine one reference further, and `answer`'s larger frame). Where the 1 191 go: the engine's
//! decision (about 490), the clone (about 650: its two allocations, copying the index table,
//! and cloning each field, a reference count through `Bytes`' vtable), the response future and
//! the drops as before.
//!
//! An answer kept for a configured exact origin keeps that origin's prebuilt value (the policy's
//! own, which holds nothing of the request), and a preflight echoed the same value is answered
//! without replacing it, the value told by its address (`Kept::origin`): measured, a preflight
//! 1 182 -> 1 151, the mirrored one 1 978 -> 1 949, a disallowed request 2 more (`answer`'s
//! frame), an allowed one 5 less, no `Origin` 1 less. Another origin of the group has its own
//! value written in, as before.
//!
//! That answer, when nothing is to be replaced (the kept origin, no mirrored list), is handed to
//! the caller by reference ([`Hit::AsKept`]) and cloned there, straight into the layer's
//! `Answer`: measured, a preflight 1 151 -> 1 092 (the clone, out of line, writes where the
//! caller wants the response, where a clone into `kept_answer`'s frame was moved twice and walked
//! with `values_mut` for nothing), the mirrored one 1 949 -> 1 954, the other rows 1 or 2 more.
//!
//! Measured and not kept: all local answers written by one function, with `Decision::apply` at
//! two call sites (it stays out of line: disallowed +24); [`Prepared::kept_answer`] out of line
//! (disallowed +36, preflight +9); the answer kept after `Decision::apply` from a second look at
//! the decision rather than from the slot the first look found (preflight +7, mirrored +17);
//! only the kept header map cloned, into the `Response` the layer makes (preflight +28: making
//! and dropping the empty map it replaces); the kept answer cloned straight into the layer's
//! `Answer`, then its values written there, to spare a move of the response (preflight +13,
//! mirrored +46); the decision's origin handed to the unfilled slot as a clone rather than a
//! reference (disallowed +8: the slot's drop on every local answer); the kept values built as
//! `'static` bytes, whose clone and drop cost less than a shared reference count (preflight -21,
//! but only by leaking each policy's values for good).
//!
//! [`ResponseHeaders::preflight_group`]: cors_engine::ResponseHeaders::preflight_group

use std::fmt;
use std::sync::{Arc, OnceLock};

use cors_engine::{Decision, Engine, RequestHeaders, Value};
use http::Response;
use http::header::{ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue};

/// An engine, and the accepted preflights' answers kept for it, two per group.
pub(crate) struct Prepared {
    engine: Arc<Engine>,
    /// By `2 * group index + 1 if the answer mirrors the requested headers`; each filled by the
    /// first answer of its kind. An empty slot takes 152 bytes (a `Response<()>` head, built
    /// when first needed, and the kept origin's address), so 304 per group; the answers are kept
    /// with the engine, so a replaced policy's go with it.
    answers: Box<[OnceLock<Kept>]>,
}

/// An accepted preflight's answer, its request-dependent values replaced by an empty value (its
/// origin kept when it is the policy's own prebuilt value).
struct Kept {
    /// The answer, its fields `Access-Control-Allow-Origin` first (the engine's order).
    response: Response<()>,
    /// Where the mirrored `Access-Control-Allow-Headers` is among the fields after the first,
    /// when the answer has one.
    mirrored: Option<usize>,
    /// Where the policy's own prebuilt value for an exact origin is ([`address`]), when the
    /// answer's `Access-Control-Allow-Origin` is that value, which the answer then keeps: a
    /// request echoed the same value (the same one, not an equal one) is answered without
    /// replacing it. `None` when the kept answer's origin was emptied.
    ///
    /// The address rather than a clone of the value: measured (callgrind, the `profile`
    /// example, own cost), one comparison where the value's bytes were compared by address and
    /// length, a preflight 1 071 -> 1 068 instructions, the mirrored one 1 933 -> 1 929.
    origin: Option<usize>,
}

/// Where `value` is, to tell the policy's own prebuilt values apart: they never move while
/// their engine lives, and the answers are kept with the engine.
fn address(value: &HeaderValue) -> usize {
    std::ptr::from_ref(value).addr()
}

impl Prepared {
    /// `engine`, with no answer kept yet.
    pub(crate) fn new(engine: Arc<Engine>) -> Self {
        let slots = engine.policy().groups().len() * 2;
        Self { engine, answers: (0..slots).map(|_| OnceLock::new()).collect() }
    }

    /// The engine deciding requests.
    #[inline]
    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// `decision`'s local answer, when it is a group's accepted preflight and the group's answer
    /// of its kind is kept: that answer itself when it is the decision's as it is
    /// ([`Hit::AsKept`], for the caller to clone), else a clone of it with its origin (unless it
    /// is the one the answer kept) and its mirrored list replaced ([`Hit::Written`]).
    /// What [`Decision::apply`] writes, field for field and in the same order.
    ///
    /// Otherwise the caller writes the answer with [`Decision::apply`], then hands it to the
    /// [`Unfilled`] slot returned, if any, to be kept.
    ///
    /// The replaced values are built as [`Decision::apply`] builds them: a request's values
    /// held in an [`http::HeaderMap`] are always valid, so none is left out there.
    #[inline]
    pub(crate) fn kept_answer<'p, H: RequestHeaders<Value = HeaderValue> + ?Sized>(
        &'p self,
        decision: &Decision<'p, '_, H>,
    ) -> Result<Hit<'p>, Option<Unfilled<'p>>> {
        let Decision::Preflight { accepted: true, headers, .. } = decision else {
            return Err(None);
        };
        let (Some(group), Some(origin)) = (headers.preflight_group(), headers.allow_origin())
        else {
            return Err(None);
        };
        let mirrored = match headers.allow_headers() {
            Some(Value::Mirrored(list)) => Some(list),
            _ => None,
        };
        let Some(slot) = self.answers.get(2 * group.index() + usize::from(mirrored.is_some()))
        else {
            return Err(None);
        };
        let Some(kept) = slot.get() else {
            let origin = match origin {
                Value::Static(value) => Some(value),
                _ => None,
            };
            return Err(Some(Unfilled { slot, mirrored: mirrored.is_some(), origin }));
        };
        // The origin the answer kept, when the request is echoed the same prebuilt value: by
        // address and length, as the policy's values never move while the engine lives.
        let same = match origin {
            Value::Static(now) => kept.origin == Some(address(now)),
            _ => false,
        };
        if same && mirrored.is_none() {
            return Ok(Hit::AsKept(&kept.response));
        }
        // The whole response is cloned: measured, a clone of its map alone, into a new
        // response, cost 28 more (the new response's empty map, made and dropped).
        let mut response = kept.response.clone();
        let mut values = response.headers_mut().values_mut();
        if !same && let Some(value) = values.next() {
            *value = origin.to_header_value();
        }
        if let (Some(list), Some(at)) = (mirrored, kept.mirrored)
            && let Some(value) = values.nth(at + usize::from(same))
        {
            *value = list.to_header_value();
        }
        Ok(Hit::Written(response))
    }
}

/// A decision's local answer from its group's kept answer ([`Prepared::kept_answer`]).
pub(crate) enum Hit<'p> {
    /// The kept answer is the decision's as it is: the caller clones it where it wants it.
    AsKept(&'p Response<()>),
    /// A clone of the kept answer with the request's values written in.
    Written(Response<()>),
}

#[cfg(test)]
impl Hit<'_> {
    /// The answer, cloned if need be.
    fn into_response(self) -> Response<()> {
        match self {
            Hit::AsKept(kept) => kept.clone(),
            Hit::Written(response) => response,
        }
    }
}

/// A group's slot whose answer is not kept yet.
pub(crate) struct Unfilled<'a> {
    slot: &'a OnceLock<Kept>,
    mirrored: bool,
    /// The decision's origin when it is the policy's prebuilt value.
    origin: Option<&'a HeaderValue>,
}

impl Unfilled<'_> {
    /// Keeps `answer`, the one [`Decision::apply`] wrote, unless its fields are not in the order
    /// [`Prepared::kept_answer`] replaces them in (or another thread kept one first: either
    /// will do).
    #[cold]
    #[inline(never)]
    pub(crate) fn fill(self, answer: &Response<()>) {
        if let Some(kept) = Kept::of(answer, self.mirrored, self.origin) {
            let _ = self.slot.set(kept);
        }
    }
}

impl Kept {
    /// `answer` kept, its origin (and its mirrored list, when `mirrored`) emptied so that it
    /// holds nothing of the request it was written for; `None` when its fields are not in the
    /// order [`Prepared::kept_answer`] replaces them in. Its origin stays when it is `origin`,
    /// the policy's prebuilt value the decision echoed (the same bytes): that holds nothing of
    /// the request either.
    fn of(answer: &Response<()>, mirrored: bool, origin: Option<&HeaderValue>) -> Option<Self> {
        // The order is checked before anything is cloned, over every line (as `values_mut`
        // walks them, a name's further lines right after its first), and each replaced value
        // must be its name's only line: a second one would keep the request's value.
        let headers = answer.headers();
        let once = |name| headers.get_all(name).iter().nth(1).is_none();
        let mut names = headers.iter().map(|(name, _)| name);
        if names.next()? != ACCESS_CONTROL_ALLOW_ORIGIN || !once(ACCESS_CONTROL_ALLOW_ORIGIN) {
            return None;
        }
        let mirrored = if mirrored {
            let at = names.position(|name| *name == ACCESS_CONTROL_ALLOW_HEADERS)?;
            once(ACCESS_CONTROL_ALLOW_HEADERS).then_some(at)?;
            Some(at)
        } else {
            None
        };
        let mut response = answer.clone();
        let mut values = response.headers_mut().values_mut();
        let first = values.next();
        let prebuilt = |first: &&mut HeaderValue| {
            origin.is_some_and(|origin| std::ptr::eq(first.as_bytes(), origin.as_bytes()))
        };
        let (origin, emptied) = match first {
            Some(first) if prebuilt(&first) => (origin.map(address), None),
            first => (None, first),
        };
        for value in emptied.into_iter().chain(mirrored.and_then(|at| values.nth(at))) {
            *value = HeaderValue::from_static("");
        }
        Some(Self { response, mirrored, origin })
    }
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared").field("engine", &self.engine).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Kept;

    use cors_engine::{Engine, Request};
    use cors_policy::{OriginGroup, Policy};
    use http::Response;

    use super::Prepared;

    /// An answer whose replaced values are not where [`Kept`] replaces them, or not their
    /// name's only line, is not kept: its request's values would be served to the next one.
    #[test]
    fn p4_an_answer_is_kept_only_where_every_request_value_is_replaced() {
        let answer = |lines: &[(&'static str, &'static str)]| {
            let mut answer = Response::new(());
            for &(name, value) in lines {
                answer.headers_mut().append(name, http::HeaderValue::from_static(value));
            }
            answer
        };
        let (origin, names) = (
            ("access-control-allow-origin", "https://a.test"),
            ("access-control-allow-headers", "x-secret"),
        );
        let methods = ("access-control-allow-methods", "PUT");
        // Two lines of a name before the names: the mirrored list is found by line, not name.
        let vary = [("vary", "Origin"), ("vary", "Access-Control-Request-Headers")];
        let kept = Kept::of(&answer(&[origin, vary[0], vary[1], names]), true, None).expect("kept");
        assert_eq!(kept.mirrored, Some(2));
        let values: Vec<_> = kept.response.headers().values().collect();
        assert_eq!(values, ["", "Origin", "Access-Control-Request-Headers", ""]);
        // A second origin or names line, or the origin not first: nothing is kept.
        assert!(Kept::of(&answer(&[origin, origin, methods]), false, None).is_none());
        assert!(Kept::of(&answer(&[origin, names, names]), true, None).is_none());
        assert!(Kept::of(&answer(&[methods, origin]), false, None).is_none());
        assert!(Kept::of(&answer(&[origin, methods]), true, None).is_none());
    }

    /// The answer kept for a group holds neither the origin nor the names of the request it was
    /// written for: a request's values never outlive it in the layer.
    #[test]
    fn p4_a_kept_answer_holds_nothing_of_its_request() {
        let group = OriginGroup::new(["https://*.a.test"]).allow_any_header();
        let policy = Policy::builder().group(group).build().expect("a valid policy");
        let prepared = Prepared::new(Arc::new(Engine::new(policy)));
        let request = http::Request::options("http://api.test/")
            .header("origin", "https://x.a.test")
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "x-secret")
            .body(())
            .expect("a valid request");
        let decision = prepared.engine().decide(&Request::from_http(&request, "http"));
        let Err(Some(unfilled)) = prepared.kept_answer(&decision) else {
            panic!("nothing is kept before the first answer");
        };
        let mut answer = Response::new(());
        decision.apply(answer.headers_mut());
        unfilled.fill(&answer);

        let kept = prepared.answers[1].get().expect("the mirrored answer is kept");
        let fields: Vec<_> = kept.response.headers().iter().collect();
        assert_eq!(fields.len(), answer.headers().len());
        assert_eq!(kept.response.headers()["access-control-allow-origin"], "");
        assert_eq!(kept.response.headers()["access-control-allow-headers"], "");
        assert_eq!(kept.mirrored, Some(1), "after the origin, the methods, then the names");
        let Ok(again) = prepared.kept_answer(&decision) else {
            panic!("the second answer is the kept one");
        };
        assert_eq!(again.into_response().headers(), answer.headers());
    }

    /// An answer kept for a configured exact origin keeps the policy's own value for it (the
    /// same bytes): the next preflight from that origin is answered without replacing it, and
    /// one from the group's other exact origin with its own.
    #[test]
    fn o1_a_kept_answer_keeps_the_policys_own_origin_value() {
        let group = OriginGroup::new(["https://a.test", "https://b.test"]);
        let policy = Policy::builder().group(group).build().expect("a valid policy");
        let prepared = Prepared::new(Arc::new(Engine::new(policy)));
        let preflight = |origin: &str| {
            http::Request::options("http://api.test/")
                .header("origin", origin)
                .header("access-control-request-method", "GET")
                .body(())
                .expect("a valid request")
        };
        let answer = |request: &http::Request<()>| {
            let decision = prepared.engine().decide(&Request::from_http(request, "http"));
            match prepared.kept_answer(&decision) {
                Ok(hit) => hit.into_response(),
                Err(unfilled) => {
                    let mut answer = Response::new(());
                    decision.apply(answer.headers_mut());
                    if let Some(unfilled) = unfilled {
                        unfilled.fill(&answer);
                    }
                    answer
                }
            }
        };
        let first = answer(&preflight("https://a.test"));
        let kept = prepared.answers[0].get().expect("the answer is kept");
        let origin = &kept.response.headers()["access-control-allow-origin"];
        assert_eq!(origin, "https://a.test");
        assert!(kept.origin.is_some(), "the policy's own value");
        let other = answer(&preflight("https://b.test"));
        assert_eq!(other.headers()["access-control-allow-origin"], "https://b.test");
        assert_eq!(other.headers().len(), first.headers().len());
        let again = answer(&preflight("https://a.test"));
        assert_eq!(again.headers(), first.headers());
    }
}
