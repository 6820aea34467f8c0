//! The output side: [`Decision`], [`ResponseHeaders`], [`Value`] and [`MirroredList`].

use std::fmt;

use cors_policy::Group;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
};
use http::{HeaderName, HeaderValue};

use crate::acrh::{AcrhNames, AcrhSummary, is_token};
use crate::headers::{FieldValue, RequestHeaders};
use crate::{ACRH, Rule, Vary};

/// What to do with a request, and the exact headers to send (sections 2 to 7).
///
/// Borrows the engine (`'e`, prebuilt values) and the request's headers `H` (`'r`, the values it
/// reflects, in the adapter's own type `H::Value`).
#[non_exhaustive]
pub enum Decision<'e, 'r, H: RequestHeaders + ?Sized> {
    /// Not a CORS request (R1, R2): forward it as it came, and pass the response through as the
    /// upstream sent it but for the `vary` tokens, appended where its `Vary` lacks them (V1:
    /// `Origin`, even for a public resource).
    #[non_exhaustive]
    NotCors {
        /// Tokens to append to the response's `Vary`.
        vary: Vary,
        /// The rule that decided: R1 (no `Origin`) or R2 (same-origin).
        rule: Rule,
    },
    /// A preflight (R3): answer it locally with status 200 and an empty body, never forward it.
    /// When rejected (P3) `headers` holds no Access-Control-* header, only `Vary`.
    #[non_exhaustive]
    Preflight {
        /// Whether the preflight passed P2.
        accepted: bool,
        /// The headers of the answer.
        headers: ResponseHeaders<'e, 'r, H>,
        /// The rule that decided: P1 (accepted for a group) or P5 (accepted for a public
        /// resource); when rejected, the first check that failed, in the order they run: R5 or M3
        /// or M4 (the origin), R3 or R5 (`Access-Control-Request-Method` missing or repeated),
        /// P2 (a method or header that is not a token or not allowed), P6 (a budget).
        rule: Rule,
    },
    /// An actual request that is not allowed (A2): answer it locally with status 200, an empty
    /// body and no Access-Control-* header; append `vary`. It is never forwarded (Flex does the
    /// same), so the application never acts on a request the policy refused; middleware that
    /// forward it and only leave the CORS headers out let a cross-origin form `POST` through.
    #[non_exhaustive]
    Blocked {
        /// Tokens for the answer's `Vary`.
        vary: Vary,
        /// The rule that decided: R5 (a malformed `Origin`), M3 or M4 (an origin no group
        /// allows), or A2 (a method the group does not allow).
        rule: Rule,
    },
    /// An allowed actual request (A1): forward it; on the response remove every Access-Control-*
    /// header the upstream set, set [`ResponseHeaders::iter`], and append
    /// [`ResponseHeaders::vary`] (A4).
    #[non_exhaustive]
    Allowed {
        /// The headers for the response.
        headers: ResponseHeaders<'e, 'r, H>,
        /// The rule that decided: A1 (a group's origin and method) or A3 (a public resource).
        rule: Rule,
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
    /// Every kind of decision, in the order [`Outcome::as_str`] documents: for tables indexed
    /// by outcome, such as a metrics counter per decision.
    pub const ALL: [Outcome; 5] = [
        Outcome::NotCors,
        Outcome::PreflightAccepted,
        Outcome::PreflightRejected,
        Outcome::Allowed,
        Outcome::Blocked,
    ];

    /// Whether the request goes to the upstream (not CORS, or an allowed actual request).
    #[must_use]
    pub fn is_forwarded(self) -> bool {
        matches!(self, Outcome::NotCors | Outcome::Allowed)
    }

    /// The short name of the decision, the one metrics, access logs and the proxy-wasm counters
    /// label requests with: `not-cors`, `preflight-accepted`, `preflight-rejected`,
    /// `actual-allowed` or `actual-blocked`. [`Display`](fmt::Display) gives a sentence instead.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::NotCors => "not-cors",
            Outcome::PreflightAccepted => "preflight-accepted",
            Outcome::PreflightRejected => "preflight-rejected",
            Outcome::Allowed => "actual-allowed",
            Outcome::Blocked => "actual-blocked",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::NotCors => {
                "not a CORS request: forward it, then add Origin to the response's Vary"
            }
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

impl<H: RequestHeaders + ?Sized> Clone for Decision<'_, '_, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H: RequestHeaders + ?Sized> Copy for Decision<'_, '_, H> {}

impl<H: RequestHeaders + ?Sized> fmt::Debug for Decision<'_, '_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::NotCors { vary, rule } => {
                f.debug_struct("NotCors").field("vary", vary).field("rule", rule).finish()
            }
            Decision::Preflight { accepted, headers, rule } => f
                .debug_struct("Preflight")
                .field("accepted", accepted)
                .field("headers", headers)
                .field("rule", rule)
                .finish(),
            Decision::Blocked { vary, rule } => {
                f.debug_struct("Blocked").field("vary", vary).field("rule", rule).finish()
            }
            Decision::Allowed { headers, rule } => {
                f.debug_struct("Allowed").field("headers", headers).field("rule", rule).finish()
            }
        }
    }
}

impl<'e, 'r, H: RequestHeaders + ?Sized> Decision<'e, 'r, H> {
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

    /// The rule of `docs/behaviour.md` that decided, as an access log records it: for a refusal,
    /// the first check that failed (see each variant's `rule`).
    ///
    /// It costs nothing to read: the engine sets it where it decides, without
    /// [`explain`](crate::Engine::explain)'s reasons.
    #[must_use]
    pub fn rule(&self) -> Rule {
        match self {
            Decision::NotCors { rule, .. }
            | Decision::Preflight { rule, .. }
            | Decision::Blocked { rule, .. }
            | Decision::Allowed { rule, .. } => *rule,
        }
    }

    /// The tokens to append to the response's `Vary`, whatever the decision.
    #[must_use]
    pub fn vary(&self) -> Vary {
        match self {
            Decision::NotCors { vary, .. } | Decision::Blocked { vary, .. } => *vary,
            Decision::Preflight { headers, .. } | Decision::Allowed { headers, .. } => headers.vary,
        }
    }

    /// The response headers of a preflight answer or an allowed actual response.
    #[must_use]
    pub fn headers(&self) -> Option<&ResponseHeaders<'e, 'r, H>> {
        match self {
            Decision::Preflight { headers, .. } | Decision::Allowed { headers, .. } => {
                Some(headers)
            }
            Decision::NotCors { .. } | Decision::Blocked { .. } => None,
        }
    }
}

/// The Access-Control-* headers of one answer, and its `Vary`.
///
/// Each value is either prebuilt (by the compiled [`Policy`](cors_policy::Policy)) or borrowed from the
/// request; nothing was allocated to make it.
///
/// A group's accepted preflight keeps the group, not its values: its
/// `Access-Control-Allow-Methods`, `Access-Control-Max-Age` and listed
/// `Access-Control-Allow-Headers` are read from the group when asked for
/// ([`allow_methods`](Self::allow_methods), [`max_age`](Self::max_age),
/// [`allow_headers`](Self::allow_headers)), and `Access-Control-Allow-Credentials` is a flag. An
/// adapter that answers from the group's kept answer asks for none of them. Measured (callgrind,
/// the `profile` example, `layer-preflight` own cost): the tower layer's preflight 1 092 -> 1 071
/// instructions, its mirrored preflight 1 946 -> 1 933, the engine's rows the same.
pub struct ResponseHeaders<'e, 'r, H: RequestHeaders + ?Sized> {
    pub(crate) allow_origin: Option<Value<'e, 'r, H>>,
    /// Whether `Access-Control-Allow-Credentials: true` is set ([`CREDENTIALS`]).
    pub(crate) allow_credentials: bool,
    /// A public resource's mirrored method (P5); a group's is read from the group.
    pub(crate) allow_methods: Option<Value<'e, 'r, H>>,
    /// A mirrored list (P4, P5); a group's listed value is read from the group.
    pub(crate) allow_headers: Option<Value<'e, 'r, H>>,
    pub(crate) expose_headers: Option<&'e HeaderValue>,
    pub(crate) vary: Vary,
    /// The group that accepted the preflight (P1), for [`ResponseHeaders::preflight_group`], and
    /// whose values the preflight's answer holds.
    pub(crate) preflight_group: Option<&'e Group>,
}

impl<H: RequestHeaders + ?Sized> Clone for ResponseHeaders<'_, '_, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H: RequestHeaders + ?Sized> Copy for ResponseHeaders<'_, '_, H> {}

impl<H: RequestHeaders + ?Sized> Default for ResponseHeaders<'_, '_, H> {
    fn default() -> Self {
        ResponseHeaders {
            allow_origin: None,
            allow_credentials: false,
            allow_methods: None,
            allow_headers: None,
            expose_headers: None,
            vary: Vary::NONE,
            preflight_group: None,
        }
    }
}

impl<H: RequestHeaders + ?Sized> fmt::Debug for ResponseHeaders<'_, '_, H> {
    /// The headers as `name: value` entries, then `vary`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in self.iter() {
            map.entry(&name, &value);
        }
        map.entry(&"vary", &self.vary).finish()
    }
}

impl<'e, 'r, H: RequestHeaders + ?Sized> ResponseHeaders<'e, 'r, H> {
    /// Only `Vary`: the headers of a rejected preflight (P3).
    pub(crate) fn vary_only(vary: Vary) -> ResponseHeaders<'e, 'r, H> {
        ResponseHeaders { vary, ..ResponseHeaders::default() }
    }

    /// `Access-Control-Allow-Origin` (O1 to O3).
    #[must_use]
    pub fn allow_origin(&self) -> Option<Value<'e, 'r, H>> {
        self.allow_origin
    }

    /// `Access-Control-Allow-Credentials: true` when the policy supports credentials (O3).
    #[must_use]
    pub fn allow_credentials(&self) -> Option<Value<'e, 'r, H>> {
        self.allow_credentials.then_some(Value::Static(&CREDENTIALS))
    }

    /// `Access-Control-Allow-Methods` of an accepted preflight (P4, P5).
    #[must_use]
    pub fn allow_methods(&self) -> Option<Value<'e, 'r, H>> {
        match self.preflight_group {
            Some(group) => group.allow_methods_value().map(Value::Static),
            None => self.allow_methods,
        }
    }

    /// `Access-Control-Allow-Headers` of an accepted preflight (P4, P5).
    #[must_use]
    pub fn allow_headers(&self) -> Option<Value<'e, 'r, H>> {
        match (self.allow_headers, self.preflight_group) {
            (None, Some(group)) => group.allow_headers_value().map(Value::Static),
            (headers, _) => headers,
        }
    }

    /// `Access-Control-Expose-Headers` of an allowed actual response (A1).
    #[must_use]
    pub fn expose_headers(&self) -> Option<Value<'e, 'r, H>> {
        self.expose_headers.map(Value::Static)
    }

    /// `Access-Control-Max-Age` of an accepted preflight (P1).
    #[must_use]
    pub fn max_age(&self) -> Option<Value<'e, 'r, H>> {
        self.preflight_group.map(|group| Value::Static(group.max_age_value()))
    }

    /// The tokens to append to `Vary` (V1).
    #[must_use]
    pub fn vary(&self) -> Vary {
        self.vary
    }

    /// The origin group that accepted this preflight (P1); `None` for every other answer: a
    /// public resource's preflight (P5), a rejected preflight, an actual request.
    ///
    /// Two preflights one engine accepts for the same group are answered with the same fields
    /// in the same order, `Vary` included, and the same values but for
    /// `Access-Control-Allow-Origin` and a mirrored `Access-Control-Allow-Headers` (P4, when the
    /// group allows any header; left out when no name was requested). An adapter may keep one
    /// answer per group and change only those two values: the tower layer of `cors-hyper` does.
    #[must_use]
    pub fn preflight_group(&self) -> Option<&'e Group> {
        self.preflight_group
    }

    /// Whether there is no Access-Control-* header to set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The Access-Control-* headers to set, each once, in a fixed order (`Vary` is not among
    /// them: append [`vary`](Self::vary) instead).
    pub fn iter(&self) -> impl Iterator<Item = (HeaderName, Value<'e, 'r, H>)> + '_ {
        (0..FIELDS).filter_map(|slot| Some((field_name(slot), self.value(slot)?)))
    }

    /// The value of field `slot` ([`field_name`]).
    #[inline]
    fn value(&self, slot: usize) -> Option<Value<'e, 'r, H>> {
        match slot {
            0 => self.allow_origin,
            1 => self.allow_credentials(),
            2 => self.allow_methods(),
            3 => self.allow_headers(),
            4 => self.expose_headers(),
            _ => self.max_age(),
        }
    }

    /// Every field's value, built ([`Value::to_header_value`]), by slot; `None` for a field left
    /// out, or one whose bytes are not a valid field value.
    pub(crate) fn owned_values(&self) -> [Option<HeaderValue>; FIELDS] {
        std::array::from_fn(|slot| self.value(slot).and_then(|value| value.build()))
    }
}

/// The one value `Access-Control-Allow-Credentials` takes (O3).
const TRUE: &str = "true";

/// `Access-Control-Allow-Credentials: true` (O3), the one value it takes.
pub(crate) static CREDENTIALS: HeaderValue = HeaderValue::from_static(TRUE);

/// [`CREDENTIALS`], built in place: the same value without the call through `Bytes`' vtable
/// that cloning the static one makes.
#[inline]
pub(crate) fn credentials_value() -> HeaderValue {
    const { HeaderValue::from_static(TRUE) }
}

/// How many Access-Control-* fields a decision can set.
pub(crate) const FIELDS: usize = 6;

/// The Access-Control-* field a decision sets in `slot` (0 to [`FIELDS`] - 1): the order of
/// [`ResponseHeaders::iter`].
#[inline]
pub(crate) fn field_name(slot: usize) -> HeaderName {
    match slot {
        0 => ACCESS_CONTROL_ALLOW_ORIGIN,
        1 => ACCESS_CONTROL_ALLOW_CREDENTIALS,
        2 => ACCESS_CONTROL_ALLOW_METHODS,
        3 => ACCESS_CONTROL_ALLOW_HEADERS,
        4 => ACCESS_CONTROL_EXPOSE_HEADERS,
        _ => ACCESS_CONTROL_MAX_AGE,
    }
}

/// One header value of a decision.
#[non_exhaustive]
pub enum Value<'e, 'r, H: RequestHeaders + ?Sized> {
    /// Prebuilt when the policy was compiled; cloning it only bumps a reference count.
    Static(&'e HeaderValue),
    /// A request field value sent back whole, in the adapter's own type: the request's `Origin`
    /// (O1, O2) when no configured exact origin equals it (those are echoed as prebuilt values)
    /// or, for a public resource, its `Access-Control-Request-Method` when that has no
    /// whitespace to trim (P5). Always visible ASCII when built by the engine.
    Request(&'r H::Value),
    /// Part of a request field value: a public resource's `Access-Control-Request-Method`
    /// without the optional whitespace around it (P5), a method token.
    Trimmed(&'r [u8]),
    /// The request's `Access-Control-Request-Headers` names, to be joined (P4, P5).
    Mirrored(MirroredList<'r, H>),
}

impl<H: RequestHeaders + ?Sized> Clone for Value<'_, '_, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H: RequestHeaders + ?Sized> Copy for Value<'_, '_, H> {}

impl<H: RequestHeaders + ?Sized> fmt::Debug for Value<'_, '_, H> {
    /// The variant and the value as text, bytes outside visible ASCII escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let variant = match self {
            Value::Static(_) => "Static",
            Value::Request(_) => "Request",
            Value::Trimmed(_) => "Trimmed",
            Value::Mirrored(_) => "Mirrored",
        };
        write!(f, "{variant}(\"{self}\")")
    }
}

impl<H: RequestHeaders + ?Sized> Value<'_, '_, H> {
    /// The value as an [`http::HeaderValue`]: a reference-count clone for [`Value::Static`], the
    /// request's own value through [`FieldValue::to_header_value`] for [`Value::Request`] (a
    /// reference-count clone for an [`http::HeaderMap`] request, a copy otherwise), a copy for
    /// [`Value::Trimmed`], and the one allocation of [`MirroredList::to_header_value`] for
    /// [`Value::Mirrored`].
    ///
    /// Never a panic, never an invalid value. A [`Value::Request`] whose
    /// [`FieldValue::to_header_value`] fails is copied from its bytes
    /// ([`as_ref`](AsRef::as_ref)); when those are not a valid field value either (a
    /// [`FieldValue`] whose bytes changed since the decision, which the trait forbids, or a
    /// value built outside the engine holding a control character), the value is empty.
    /// [`Decision::apply`](crate::Decision::apply) and
    /// [`Decision::into_owned`](crate::Decision::into_owned) leave such a field out instead.
    #[must_use]
    #[inline(always)]
    #[expect(clippy::inline_always, reason = "as `build_then`, which it wraps")]
    pub fn to_header_value(&self) -> HeaderValue {
        self.build().unwrap_or_else(|| HeaderValue::from_static(""))
    }

    /// The value as [`to_header_value`](Self::to_header_value) builds it, `None` when its bytes
    /// are not a valid field value: the field is then left out.
    #[inline(always)]
    #[expect(clippy::inline_always, reason = "as `build_then`, which it wraps")]
    pub(crate) fn build(&self) -> Option<HeaderValue> {
        let mut built = None;
        self.build_then(|value| built = Some(value));
        built
    }

    /// Builds the value as [`to_header_value`](Self::to_header_value) does and hands it to
    /// `then`, which is not called when its bytes are not a valid field value (the field is left
    /// out).
    // Measured: left to the compiler it stayed out of line, called for each value of a preflight's
    // answer; always inlined, the tower layer's preflight costs 32 instructions less (1 803 ->
    // 1 771), the other layer scenarios the same. Handing the value on rather than returning an
    // `Option` of it: measured, the layer's preflight 18 instructions less (6 453 -> 6 435 with
    // its bare handler), and a mirrored list handed on from its own arm, the public preflight of
    // `examples/policies/public.yaml` 15 less (6 065 -> 6 050).
    #[inline(always)]
    #[expect(clippy::inline_always, reason = "measured, see above")]
    pub(crate) fn build_then(&self, then: impl FnOnce(HeaderValue)) {
        // A prebuilt value and a request's own `HeaderValue` are cloned at one call site, from a
        // reference chosen first: measured (callgrind), an allowed request through the tower
        // layer 9 instructions less, a preflight 13, than with a clone per arm, whose results
        // met through memory.
        let prebuilt = match self {
            Value::Static(value) => Some(*value),
            Value::Request(value) => value.as_header_value(),
            _ => None,
        };
        if let Some(value) = prebuilt {
            return then(value.clone());
        }
        let built = match self {
            Value::Mirrored(list) => return then(list.to_header_value()),
            Value::Static(value) => Some((*value).clone()),
            Value::Request(value) => value.to_header_value().ok().or_else(|| copied(*value)),
            Value::Trimmed(bytes) => HeaderValue::from_bytes(bytes).ok(),
        };
        if let Some(value) = built {
            then(value);
        }
    }

    /// Whether the value's bytes equal `bytes`, without building it.
    #[must_use]
    pub fn eq_bytes(&self, bytes: &[u8]) -> bool {
        match self {
            Value::Static(value) => value.as_bytes() == bytes,
            Value::Request(value) => value.as_ref() == bytes,
            Value::Trimmed(own) => *own == bytes,
            Value::Mirrored(list) => list.eq_bytes(bytes),
        }
    }
}

impl<H: RequestHeaders + ?Sized> fmt::Display for Value<'_, '_, H> {
    /// The value as text, bytes outside visible ASCII escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Static(value) => write!(f, "{}", value.as_bytes().escape_ascii()),
            Value::Request(value) => write!(f, "{}", value.as_ref().escape_ascii()),
            Value::Trimmed(bytes) => write!(f, "{}", bytes.escape_ascii()),
            Value::Mirrored(list) => fmt::Display::fmt(list, f),
        }
    }
}

/// A request's value copied from its bytes, for a [`FieldValue`] whose
/// [`to_header_value`](FieldValue::to_header_value) failed on bytes the engine validated (which
/// the trait forbids); `None` when the bytes are not a valid field value (any more).
#[cold]
#[inline(never)]
fn copied<V: FieldValue + ?Sized>(value: &V) -> Option<HeaderValue> {
    HeaderValue::from_bytes(value.as_ref()).ok()
}

/// The names of the request's `Access-Control-Request-Headers`, as sent: whitespace trimmed,
/// empty elements dropped, to be joined with `, ` (P4, P5).
///
/// Deciding allocates nothing: the list keeps a reference to the request's headers and reads
/// their lines again ([`RequestHeaders::field_lines`]) when it is joined, shown or compared;
/// [`to_header_value`](Self::to_header_value) builds the one header value.
pub struct MirroredList<'r, H: RequestHeaders + ?Sized> {
    headers: &'r H,
    summary: AcrhSummary,
}

impl<H: RequestHeaders + ?Sized> Clone for MirroredList<'_, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H: RequestHeaders + ?Sized> Copy for MirroredList<'_, H> {}

impl<H: RequestHeaders + ?Sized> fmt::Debug for MirroredList<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MirroredList").field(&format_args!("{self}")).finish()
    }
}

impl<'r, H: RequestHeaders + ?Sized> MirroredList<'r, H> {
    /// The list of `headers`' `Access-Control-Request-Headers` lines, as
    /// [`parse_acrh`](crate::parse_acrh) summarized them.
    pub(crate) fn new(headers: &'r H, summary: AcrhSummary) -> MirroredList<'r, H> {
        MirroredList { headers, summary }
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

    /// The names, in order, read again from the request's lines.
    pub fn names(&self) -> impl Iterator<Item = &'r [u8]> + use<'r, H> {
        AcrhNames::new(self.headers.field_lines(ACRH).map(AsRef::as_ref))
    }

    /// The joined value, built once (the adapter's one allocation for a mirroring preflight).
    ///
    /// When the request had a single line already in that exact form, that value is reused
    /// through [`FieldValue::to_header_value`]: cloned (a reference count) from an
    /// [`http::HeaderMap`], copied from other header types. A single line of names separated by
    /// bare commas (`a,b`, as browsers send them) is copied once with each `,` spaced out, without
    /// reading the names one by one.
    ///
    /// The lines are read again here, so the value is what they hold now. Headers whose
    /// [`field_lines`](RequestHeaders::field_lines) yield other lines than when the engine
    /// decided (which the trait forbids) get the names read now; if one of those is not a valid
    /// field value, only the names that are tokens, possibly none (an empty value). Never a
    /// panic, never an invalid value.
    #[must_use]
    pub fn to_header_value(&self) -> HeaderValue {
        if self.summary.lines() == 1
            && let Some(line) = self.headers.field_lines(ACRH).next()
        {
            if self.summary.is_canonical_single_line()
                && let Ok(value) = line.to_header_value()
            {
                return value;
            }
            if let Some(value) = spaced(line.as_ref(), self.summary.joined_len()) {
                return value;
            }
        }
        // Building the value checks its bytes anyway: names that passed the token check when
        // the engine decided always pass, and lines changed since then are the rare case.
        HeaderValue::try_from(self.join(|_| true)).unwrap_or_else(|_| self.tokens_only())
    }

    /// The names that `keep` keeps, joined with `, `.
    fn join(&self, keep: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let mut joined = Vec::with_capacity(self.summary.joined_len());
        for name in self.names().filter(|name| keep(name)) {
            if !joined.is_empty() {
                joined.extend_from_slice(b", ");
            }
            joined.extend_from_slice(name);
        }
        joined
    }

    /// The names that are tokens, for lines that changed since the engine decided and now hold
    /// bytes no field value may hold.
    #[cold]
    fn tokens_only(&self) -> HeaderValue {
        // Tokens joined with `, ` are always a valid value; the empty one stands in regardless.
        HeaderValue::try_from(self.join(is_token)).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// Whether the joined value equals `bytes`, without building it.
    #[must_use]
    pub fn eq_bytes(&self, bytes: &[u8]) -> bool {
        if bytes.len() != self.summary.joined_len() {
            return false;
        }
        let mut rest = bytes;
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                let Some(after) = rest.strip_prefix(b", ") else { return false };
                rest = after;
            }
            let Some(after) = rest.strip_prefix(name) else { return false };
            rest = after;
        }
        rest.is_empty()
    }
}

/// The mirrored value of a single line whose names are separated by bare commas (`a,b`, the form
/// browsers send): each `,` becomes `, `. `None` when an element is empty or starts or ends with
/// whitespace (the general join then trims and drops them), or when the result is not a valid
/// field value; `capacity` is the joined length the decision counted.
///
/// Measured (callgrind, `layer-preflight-mirrored`, `content-type,x-token`): 1 split of one line
/// in place, where reading the names through [`MirroredList::names`] ([`AcrhNames`], out of line,
/// one call per name) took about 500 instructions; each `,` then found eight bytes at a time
/// ([`cors_origin::position_byte`]), where `split` tested byte by byte: 96 instructions less
/// (`iter().position` 22 less, the `memchr` crate 31 less, a word loop of its own 45 less).
#[inline]
fn spaced(line: &[u8], capacity: usize) -> Option<HeaderValue> {
    // A byte above SP at both ends: neither empty nor starting or ending with whitespace.
    let bare = |name: &[u8]| name.first().is_some_and(|&b| b > b' ') && name.last() > Some(&b' ');
    let mut joined = Vec::with_capacity(capacity);
    let mut rest = line;
    while let Some(at) = cors_origin::position_byte(rest, b',') {
        let (name, after) = rest.split_at(at);
        if !bare(name) {
            return None;
        }
        joined.extend_from_slice(name);
        joined.extend_from_slice(b", ");
        rest = after.get(1..)?;
    }
    if !bare(rest) {
        return None;
    }
    joined.extend_from_slice(rest);
    HeaderValue::try_from(joined).ok()
}

impl<H: RequestHeaders + ?Sized> fmt::Display for MirroredList<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.names().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{}", name.escape_ascii())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome;

    /// `Outcome::ALL` holds every kind once; the match has no wildcard, so a new kind stops it
    /// compiling until the kind is listed.
    #[test]
    fn outcome_all_lists_every_kind_once() {
        fn position(outcome: Outcome) -> usize {
            match outcome {
                Outcome::NotCors => 0,
                Outcome::PreflightAccepted => 1,
                Outcome::PreflightRejected => 2,
                Outcome::Allowed => 3,
                Outcome::Blocked => 4,
            }
        }
        for (index, outcome) in Outcome::ALL.into_iter().enumerate() {
            assert_eq!(position(outcome), index, "{outcome:?}");
        }
    }

    /// V1: a request that is not CORS is forwarded, but its response still gets `Vary: Origin`;
    /// the text said "forward it untouched".
    #[test]
    fn v1_not_cors_says_that_the_response_varies_on_origin() {
        let text = Outcome::NotCors.to_string();
        assert!(text.starts_with("not a CORS request: forward it"), "{text}");
        assert!(text.ends_with("add Origin to the response's Vary"), "{text}");
        assert!(!text.contains("untouched"), "{text}");
    }
}
