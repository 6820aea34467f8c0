//! [`Engine`]: the one decision procedure, from a request's field lines to a [`Decision`].

use std::fmt;

use cors_origin::{HeaderError, Match, MatchKind, RequestOrigin};
use cors_policy::{AllowedHeaders, Group, Policy};
use http::HeaderValue;

use crate::acrh::{AcrhError, AcrhSummary, is_token, scan_acrh, trim_ows};
use crate::explain::{Collect, Explanation, Listed, Quoted, Reasons, Rule, Silent};
use crate::headers::{FirstLines, RequestHeaders};
use crate::response::{Decision, MirroredList, ResponseHeaders, Value};
use crate::{ACRH, ACRM, ORIGIN, Vary};

/// What the engine reads of a request.
///
/// `scheme` and `host` say where the request was addressed (the listener's scheme and the `Host`
/// header or HTTP/2 `:authority`); they serve only the R2 same-origin check, and a `host` of
/// `None` turns that check off, so that a site's own `POST` is judged as cross-origin.
/// `host` is an [`Authority`]: the bytes themselves, or a function that finds them, which the
/// engine calls only when R2 needs them (a well-formed `Origin` of the listener's scheme).
/// An adapter holding an [`http::Request`] gets all four from [`Request::from_http`].
///
/// ```
/// use cors_engine::Request;
///
/// let headers: &[(&str, &str)] = &[("origin", "https://app.test")];
/// let request = Request::new(b"GET", headers).addressed_to("https", b"api.test");
/// assert_eq!(request.host, Some(&b"api.test"[..]));
///
/// // Looked for only if R2 needs it.
/// let lazy = Request { method: b"GET", headers, scheme: "https", host: || Some(&b"api.test"[..]) };
/// # let _ = lazy;
///
/// // An adapter holding an `http::Request` hands over its `http::Method` as it is.
/// let method = http::Method::GET;
/// let host = Some(&b"api.test"[..]);
/// let classified = Request { method: &method, headers, scheme: "https", host };
/// # let _ = classified;
///
/// // Or the whole `http::Request`, with the authority R2 needs found as HTTP says.
/// let request = http::Request::get("https://api.test/").body(())?;
/// let view = Request::from_http(&request, "https");
/// # let _ = view;
/// # Ok::<(), http::Error>(())
/// ```
pub struct Request<'r, H: ?Sized, A = Option<&'r [u8]>, M = &'r [u8]> {
    /// The request method: its bytes, byte-exact, or an [`http::Method`] ([`RequestMethod`]).
    pub method: M,
    /// The request's header field lines.
    pub headers: &'r H,
    /// `http` or `https`: the scheme the client used, which is the listener's unless TLS ends in
    /// front of it (a load balancer terminating TLS for a plain-HTTP listener: `https`). Browsers
    /// put that scheme in a site's own `Origin`, so with `http` there R2 never applies.
    pub scheme: &'r str,
    /// The `Host` header (HTTP/1.1) or `:authority` (HTTP/2) bytes, if known, or how to find
    /// them ([`Authority`]).
    pub host: A,
}

/// Where a request was addressed, for the R2 same-origin check: the `Host` header (HTTP/1.1) or
/// `:authority` (HTTP/2) bytes, `None` when unknown.
///
/// Implemented for the bytes themselves (`Option<&[u8]>`) and for a function returning them, which
/// the engine calls only when R2 needs the authority, at most once per decision, so that an adapter
/// does not look for `Host` on requests that cannot be same-origin (no `Origin`, or an `Origin`
/// of another scheme than the listener's).
///
/// ```
/// use cors_engine::Authority;
///
/// assert_eq!(Some(&b"api.test"[..]).authority(), Some(&b"api.test"[..]));
/// assert_eq!((|| None).authority(), None);
/// ```
pub trait Authority<'r> {
    /// The authority's bytes, `None` when unknown (R2 then never applies).
    fn authority(&self) -> Option<&'r [u8]>;
}

impl<'r> Authority<'r> for Option<&'r [u8]> {
    #[inline]
    fn authority(&self) -> Option<&'r [u8]> {
        *self
    }
}

impl<'r, F: Fn() -> Option<&'r [u8]>> Authority<'r> for F {
    #[inline]
    fn authority(&self) -> Option<&'r [u8]> {
        self()
    }
}

/// A request's method, as the engine reads it ([`Request::method`]): its bytes (`&[u8]`,
/// compared byte-exact), or a reference to the [`http::Method`] an adapter already holds, whose
/// standard methods are told apart by their variant rather than by their bytes again
/// (measured, callgrind: 20 to 24 instructions less per request through the tower layer, which
/// passes `http::Request::method`).
///
/// Both answer alike for the same method: `http` keeps methods case-sensitive, as Fetch
/// compares them (`get` is an extension method, not `GET`).
///
/// ```
/// use cors_engine::RequestMethod;
///
/// assert!((&b"OPTIONS"[..]).is_options());
/// assert!((&http::Method::OPTIONS).is_options());
/// assert!(!(&b"options"[..]).is_options());
/// assert_eq!((&http::Method::PATCH).as_bytes(), b"PATCH");
/// ```
pub trait RequestMethod: Copy {
    /// The method's bytes, as sent.
    fn as_bytes(&self) -> &[u8];

    /// Whether the method is `OPTIONS`, byte-exact (R3).
    ///
    /// Two overlapping four-byte comparisons after the length: the slice comparison loaded the
    /// seven bytes in three pieces and joined them (measured, callgrind: 4 to 7 instructions
    /// less per preflight given its method as bytes).
    #[inline]
    fn is_options(&self) -> bool {
        let bytes = self.as_bytes();
        bytes.len() == 7
            && bytes.first_chunk::<4>() == Some(b"OPTI")
            && bytes.last_chunk::<4>() == Some(b"IONS")
    }

    /// Whether `group` allows the method (A1, P2): [`Group::allows_method`] on its bytes.
    fn is_allowed_by(&self, group: &Group) -> bool {
        group.allows_method(self.as_bytes())
    }
}

impl RequestMethod for &[u8] {
    #[inline]
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

impl<const N: usize> RequestMethod for &[u8; N] {
    #[inline]
    fn as_bytes(&self) -> &[u8] {
        &self[..]
    }
}

impl RequestMethod for &http::Method {
    #[inline]
    fn as_bytes(&self) -> &[u8] {
        self.as_str().as_bytes()
    }

    #[inline]
    fn is_options(&self) -> bool {
        **self == http::Method::OPTIONS
    }

    #[inline]
    fn is_allowed_by(&self, group: &Group) -> bool {
        group.allows_http_method(self)
    }
}

impl<'r, H: ?Sized> Request<'r, H> {
    /// A request with unknown address (`scheme` `http`, no `host`): R2 never applies.
    pub fn new(method: &'r [u8], headers: &'r H) -> Request<'r, H> {
        Request { method, headers, scheme: "http", host: None }
    }

    /// The same request, addressed to `scheme` and `host` (for R2).
    #[must_use]
    pub fn addressed_to(self, scheme: &'r str, host: &'r [u8]) -> Request<'r, H> {
        Request { scheme, host: Some(host), ..self }
    }
}

impl<'r> Request<'r, http::HeaderMap> {
    /// What the engine reads of an [`http::Request`] the client sent with `scheme` (`http` or
    /// `https`: `https` behind TLS, also when a proxy in front ends it, see
    /// [`scheme`](Request::scheme)): its [`http::Method`], its header map, and, for R2, the authority it
    /// was addressed to, looked for only when R2 needs it.
    ///
    /// That authority is the request target's when it has one (HTTP/2 `:authority`, which hyper
    /// and `h2` put in the URI and not in a `Host` field, or an HTTP/1.1 absolute-form target,
    /// which wins over `Host` by RFC 9112 section 3.2.2), else the `Host` field; none when there
    /// is neither, or two `Host` lines. Without it a site's own requests, which browsers send
    /// with `Origin` (a form's `POST`, a `fetch` with another method than `GET` or `HEAD`), are
    /// judged as cross-origin: blocked, and not forwarded, unless a group lists the site.
    ///
    /// ```
    /// use cors_engine::{Engine, Outcome, Request};
    /// use cors_policy::{OriginGroup, Policy};
    ///
    /// let engine = Engine::new(
    ///     Policy::builder().group(OriginGroup::new(["https://app.example"])).build()?,
    /// );
    /// // A site's own form, posted over HTTP/2: `:authority`, no `Host` field.
    /// let post = http::Request::post("https://api.example/orders")
    ///     .header("origin", "https://api.example")
    ///     .body(())?;
    /// let decision = engine.decide(&Request::from_http(&post, "https"));
    /// assert_eq!(decision.outcome(), Outcome::NotCors);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_http<B>(
        request: &'r http::Request<B>,
        scheme: &'r str,
    ) -> Request<'r, http::HeaderMap, impl Authority<'r> + Copy, &'r http::Method> {
        Request::from_http_with(request, scheme, request.headers())
    }
}

impl<'r, H: ?Sized> Request<'r, H> {
    /// [`Request::from_http`], with the request's header fields read through `headers`: an
    /// adapter's own view of `request.headers()` (one that found the lines the engine reads
    /// before the decision, say), which must yield the same lines as the map itself.
    ///
    /// ```
    /// use cors_engine::{Engine, Outcome, Request};
    /// use cors_policy::Policy;
    ///
    /// let request = http::Request::get("/").header("origin", "https://app.test").body(())?;
    /// let view = Request::from_http_with(&request, "https", request.headers());
    /// let engine = Engine::new(Policy::public());
    /// assert_eq!(engine.decide(&view).outcome(), Outcome::Allowed);
    /// # Ok::<(), http::Error>(())
    /// ```
    pub fn from_http_with<B>(
        request: &'r http::Request<B>,
        scheme: &'r str,
        headers: &'r H,
    ) -> Request<'r, H, impl Authority<'r> + Copy, &'r http::Method> {
        Request {
            method: request.method(),
            headers,
            scheme,
            host: move || target_authority(request),
        }
    }
}

/// The authority `request` was addressed to, for R2 ([`Request::from_http`]): the target's, else
/// the one `Host` line.
fn target_authority<B>(request: &http::Request<B>) -> Option<&[u8]> {
    if let Some(authority) = request.uri().authority() {
        return Some(authority.as_str().as_bytes());
    }
    // The engine's walk over a small map (a hash lookup otherwise), as for its own names.
    let mut lines = request.headers().field_lines("host");
    match (lines.next(), lines.next()) {
        (Some(host), None) => Some(host.as_bytes()),
        _ => None,
    }
}

impl<H: ?Sized, A: Copy, M: Copy> Clone for Request<'_, H, A, M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H: ?Sized, A: Copy, M: Copy> Copy for Request<'_, H, A, M> {}

impl<'r, H: ?Sized + fmt::Debug, A: Authority<'r>, M: RequestMethod> fmt::Debug
    for Request<'r, H, A, M>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method.as_bytes().escape_ascii().to_string())
            .field("headers", &self.headers)
            .field("scheme", &self.scheme)
            .field("host", &self.host.authority().map(|h| h.escape_ascii().to_string()))
            .finish()
    }
}

/// The CORS decision engine: a [`Policy`], whose header values were built when it was compiled,
/// and the `Vary` sets its answers carry.
///
/// Built once, immutable, `Send + Sync`; [`decide`](Self::decide) allocates nothing.
/// Cloning copies the policy; share one behind an `Arc` instead.
///
/// Deciding never fails: the errors are the policy's (`cors_policy::LoadError`,
/// `cors_policy::BuildError`), met when it is loaded or built.
///
/// To change the policy while requests run, build a new engine and swap the `Arc` (behind a
/// `RwLock`, or the `arc-swap` crate): each request clones the current `Arc` once and decides on
/// it, so a request in flight ends on the policy it started with. A [`Decision`] borrows the
/// engine; the [`OwnedDecision`](crate::OwnedDecision) an adapter keeps while it forwards the
/// request does not, and is `Send + Sync + 'static`.
///
/// ```
/// use std::sync::{Arc, PoisonError, RwLock};
///
/// use cors_engine::{Engine, Outcome, Request};
/// use cors_policy::{OriginGroup, Policy};
///
/// let closed = Policy::builder().group(OriginGroup::new(["https://app.test"])).build()?;
/// let current = RwLock::new(Arc::new(Engine::new(closed)));
/// let headers: &[(&str, &str)] = &[("origin", "https://other.test")];
/// let request = Request::new(b"GET", headers);
///
/// // Per request: the engine in force when it arrived.
/// let engine = Arc::clone(&current.read().unwrap_or_else(PoisonError::into_inner));
/// // A reload, from another thread: later requests see the new policy.
/// let reloaded = Arc::new(Engine::new(Policy::public()));
/// *current.write().unwrap_or_else(PoisonError::into_inner) = reloaded;
/// assert_eq!(engine.decide(&request).outcome(), Outcome::Blocked);
/// let engine = Arc::clone(&current.read().unwrap_or_else(PoisonError::into_inner));
/// assert_eq!(engine.decide(&request).outcome(), Outcome::Allowed);
/// # Ok::<(), cors_policy::BuildError>(())
/// ```
#[derive(Clone)]
pub struct Engine {
    policy: Policy,
    /// `Vary` of every CORS answer that does not mirror: `Origin` unless public without
    /// credentials.
    base_vary: Vary,
    /// `Vary` of every preflight answer: `base_vary`, plus the mirrored request headers for a
    /// public resource (P5), accepted or rejected alike.
    preflight_vary: Vary,
}

/// `Access-Control-Allow-Origin: *` (O1).
static ANY_ORIGIN: HeaderValue = HeaderValue::from_static("*");

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// Why the `Origin` header matches nothing (R5), or why it was not read.
#[derive(Clone, Copy)]
enum Malformed {
    Several,
    Header(HeaderError),
    /// Not parsed: a public resource without credentials answers every `Origin` alike (M2), and
    /// this one cannot be the origin the request was addressed to (R2). Only `decide` skips the
    /// parse; `explain` parses to name what is wrong with a malformed value.
    Unread,
}

/// The parsed `Origin` header and, outside public resources, the pattern it matched.
type Looked<'r> = (Result<RequestOrigin<'r>, Malformed>, Option<Match>);

/// What the origin stage granted: the ACAO value and, outside public resources, the group.
struct Grant<'e, 'r, H: RequestHeaders + ?Sized> {
    allow_origin: Value<'e, 'r, H>,
    group: Option<&'e Group>,
}

/// The requested method (R3, P2): the one `Access-Control-Request-Method` line, and its bytes
/// trimmed of optional whitespace.
struct RequestedMethod<'r, V: ?Sized> {
    line: &'r V,
    trimmed: &'r [u8],
    /// Whether the group's allowed methods were already checked (and allow it).
    allowed: bool,
}

// `derive` would ask `H: Copy`; the fields are references and copy whatever `H` is.
impl<H: RequestHeaders + ?Sized> Clone for Grant<'_, '_, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H: RequestHeaders + ?Sized> Copy for Grant<'_, '_, H> {}

/// A group named for messages: `group "partners"` or `group originGroups[1]`.
struct GroupName<'a>(&'a Group);

impl fmt::Display for GroupName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.name() {
            Some(name) => write!(f, "group {name:?}"),
            None => write!(f, "group originGroups[{}]", self.0.index()),
        }
    }
}

/// A group's allowed headers for messages: `[x-token]` or `[*]`.
struct HeadersOf<'a>(&'a Group);

impl fmt::Display for HeadersOf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.headers() {
            AllowedHeaders::List(names) => Listed(names).fmt(f),
            _ => f.write_str("[*]"),
        }
    }
}

impl Engine {
    /// An engine for `policy`, whose groups already hold their `Access-Control-Allow-Methods`,
    /// `-Allow-Headers`, `-Expose-Headers` and `-Max-Age` values.
    #[must_use]
    pub fn new(policy: Policy) -> Engine {
        let base_vary = if policy.is_public_resource() && !policy.supports_credentials() {
            Vary::NONE
        } else {
            Vary::ORIGIN
        };
        let preflight_vary = if policy.is_public_resource() {
            base_vary.with(Vary::REQUEST_METHOD).with(Vary::REQUEST_HEADERS)
        } else {
            base_vary
        };
        Engine { policy, base_vary, preflight_vary }
    }

    /// The policy the engine was built from.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Decides `request` (sections 2 to 7 of `docs/behaviour.md`).
    ///
    /// Allocates nothing, never panics, and does bounded work whatever the request holds.
    /// The decision borrows the engine (`'e`) and the request's headers (`'r`): what it reflects
    /// are the request's own values, in the adapter's type.
    pub fn decide<'e, 'r, H: RequestHeaders + ?Sized, A: Authority<'r>, M: RequestMethod>(
        &'e self,
        request: &Request<'r, H, A, M>,
    ) -> Decision<'e, 'r, H> {
        self.run(request, &mut Silent)
    }

    /// The decision [`decide`](Self::decide) makes, with the reasons, each naming its rule.
    ///
    /// Allocates (the reasons and owned header values); meant for debugging and tooling.
    #[must_use]
    pub fn explain<'r, H: RequestHeaders + ?Sized, A: Authority<'r>, M: RequestMethod>(
        &self,
        request: &Request<'r, H, A, M>,
    ) -> Explanation {
        let mut reasons = Collect::default();
        let decision = self.run(request, &mut reasons);
        Explanation::new(&decision, reasons.0)
    }

    /// The one decision procedure, for both [`decide`](Self::decide) and
    /// [`explain`](Self::explain).
    #[inline]
    fn run<'e, 'r, H, A, M, S>(
        &'e self,
        request: &Request<'r, H, A, M>,
        why: &mut S,
    ) -> Decision<'e, 'r, H>
    where
        H: RequestHeaders + ?Sized,
        A: Authority<'r>,
        M: RequestMethod,
        S: Reasons,
    {
        // R1: no Origin, not a CORS request. Look at two lines at most (R5: several are malformed).
        let origin_lines = FirstLines::of(request.headers.field_lines(ORIGIN));
        let Some(line) = origin_lines.first else {
            why.note(Rule::R1, format_args!("no Origin header: not a CORS request, forwarded"));
            note_vary(why, NOT_CORS_VARY);
            return Decision::NotCors { vary: NOT_CORS_VARY, rule: Rule::R1 };
        };
        let first: &'r [u8] = line.as_ref();
        // M1, M3: outside public resources the origin set parses and looks up in one step
        // (a configured exact origin is recognized by its hash lookup, without parsing).
        let parsed = if origin_lines.more {
            Err(Malformed::Several)
        } else if self.policy.is_public_resource() {
            // Without credentials the parse only serves R2: skipped when the value cannot be the
            // request's own origin (measured: 320 of the 500 instructions of such a decision).
            let unread = !S::KEEPS
                && !self.policy.supports_credentials()
                && !may_be_addressed(first, request.scheme, &request.host);
            if unread {
                Err(Malformed::Unread)
            } else {
                RequestOrigin::parse(first).map(|origin| (origin, None)).map_err(Malformed::Header)
            }
        } else {
            self.policy.origins().parse_and_find(first).map_err(Malformed::Header)
        };
        let origin = parsed.map(|(origin, _)| origin);
        let found = parsed.ok().and_then(|(_, found)| found);

        // R2 before R3: a same-origin request (even OPTIONS) is forwarded. The authority is read
        // only for an origin whose scheme is as long as the listener's (`https` against `http`
        // fails on the length the parse or the lookup already holds); the full check compares
        // the scheme. Measured (callgrind), against looking for `://` in the value's bytes
        // after the listener scheme's length: 8 instructions less per CORS decision.
        // R2 applies before the value's form is judged: a value the parse refused (a trailing
        // dot, a host past DNS's limits) is still the request's own origin when it is that
        // origin's serialization byte for byte, checked out of line on the malformed path only.
        // `Malformed::Unread` needs no look: the value failed `may_be_addressed`, which every
        // value R2 accepts passes. Two lines (`Several`) stay malformed, and so do values over
        // the length cap, which `is_same_origin_value` does not read either (R5).
        // The well-formed path runs none of it, yet pays 4 to 8 instructions per decision
        // (callgrind, `cargo xtask bench --check-budgets`: `engine-actual-allowed` 169 -> 173,
        // `engine-preflight-accepted` 471 -> 475, `engine-same-origin` 486 -> 494), which the
        // same counts without the malformed arm put on the arm's presence in this function
        // (register allocation), not on the shared comparison. Not got rid of: the check as two
        // `if let` blocks counted the same, and so did `same_origin_as_sent` inlined; made where
        // the parse fails, before the results merge, it took 1 to 4 off the engine rows but
        // added 6 to 7 to the layer's.
        let same_origin = match origin {
            Ok(RequestOrigin::Tuple(tuple)) if tuple.scheme_len() == request.scheme.len() => {
                request
                    .host
                    .authority()
                    .filter(|host| tuple.is_same_origin_as(request.scheme, host))
            }
            Err(Malformed::Header(error))
                if !matches!(error, HeaderError::TooLong | HeaderError::Empty) =>
            {
                same_origin_as_sent(first, request.scheme, &request.host)
            }
            _ => None,
        };
        if let Some(host) = same_origin {
            why.note(
                Rule::R2,
                format_args!(
                    "Origin {} is the origin the request was addressed to ({}://{}): same-origin, \
                     not a CORS request, forwarded",
                    Quoted(first),
                    request.scheme,
                    host.escape_ascii()
                ),
            );
            note_vary(why, NOT_CORS_VARY);
            return Decision::NotCors { vary: NOT_CORS_VARY, rule: Rule::R2 };
        }

        // R3: only OPTIONS, byte-exact, is a preflight; it reads the request's
        // Access-Control-Request-* lines once its origin is granted.
        if request.method.is_options() {
            why.note(
                Rule::R3,
                format_args!(
                    "OPTIONS with an Origin is a preflight, answered here, never forwarded"
                ),
            );
            self.preflight(request.headers, line, (origin, found), why)
        } else {
            why.note(
                Rule::R4,
                format_args!(
                    "{} with an Origin is an actual CORS request",
                    Quoted(request.method.as_bytes())
                ),
            );
            self.actual(request.method, line, (origin, found), why)
        }
    }

    /// M1 to M5 and O1, O2: which origin is granted, with which ACAO value (`*`, or the
    /// request's own `Origin` value `line`).
    #[inline]
    fn grant<'e, 'r, H: RequestHeaders + ?Sized, S: Reasons>(
        &'e self,
        line: &'r H::Value,
        (origin, found): Looked<'r>,
        why: &mut S,
    ) -> Result<Grant<'e, 'r, H>, Rule> {
        let first = line.as_ref();
        let credentials = self.policy.supports_credentials();
        if self.policy.is_public_resource() && !credentials {
            if let Err(malformed) = origin {
                note_malformed(why, first, malformed, "answered * all the same (M2)");
            }
        } else if let Err(malformed) = origin {
            note_malformed(why, first, malformed, "matches nothing, never echoed");
        }
        if self.policy.is_public_resource() {
            if !credentials {
                why.note(
                    Rule::M2,
                    format_args!("public resource without credentials: every Origin matches"),
                );
                why.note(Rule::O1, format_args!("public resource: Access-Control-Allow-Origin *"));
                return Ok(Grant { allow_origin: Value::Static(&ANY_ORIGIN), group: None });
            }
            return match origin {
                Ok(origin) => {
                    why.note(
                        Rule::M2,
                        format_args!(
                            "public resource with credentials: well-formed Origin {} matches",
                            Quoted(origin.as_bytes())
                        ),
                    );
                    why.note(Rule::O2, format_args!("credentials: the request's origin is echoed"));
                    Ok(Grant { allow_origin: Value::Request(line), group: None })
                }
                Err(_) => Err(Rule::R5),
            };
        }
        let origin = origin.map_err(|_| Rule::R5)?;
        let Some(found) = found else {
            let rule = if matches!(origin, RequestOrigin::Null) {
                why.note(
                    Rule::M4,
                    format_args!(
                        "Origin \"null\" matches no group: null matches only \"null\" or *"
                    ),
                );
                Rule::M4
            } else {
                why.note(
                    Rule::M3,
                    format_args!(
                        "Origin {} matches no origin of any group",
                        Quoted(origin.as_bytes())
                    ),
                );
                Rule::M3
            };
            return Err(rule);
        };
        let group = self.policy.group_of(found);
        if S::KEEPS {
            let quoted = Quoted(origin.as_bytes());
            let named = GroupName(group);
            match (found.kind(), self.policy.origins().patterns().get(found.index())) {
                (MatchKind::Subdomain, Some(pattern)) => why.note(
                    Rule::M5,
                    format_args!("Origin {quoted} matches the pattern \"{pattern}\" of {named}"),
                ),
                (MatchKind::Exact, _) => {
                    why.note(Rule::M3, format_args!("Origin {quoted} is listed in {named}"));
                }
                (MatchKind::Null, _) => {
                    why.note(Rule::M4, format_args!("Origin {quoted} is listed in {named}"));
                }
                _ => why.note(
                    Rule::M3,
                    format_args!(
                        "Origin {quoted} is listed in no group and matches no subdomain pattern; \
                         the first group with \"*\" is {named}"
                    ),
                ),
            }
        }
        // The request's origin, echoed: as the policy's own value when it equals an exact
        // origin, so that the answer holds nothing of the request. Measured with hyper: a
        // preflight's answer holding the request's `Origin` kept the connection's read buffer
        // shared until the answer was written, and hyper, which reads once before that (to see a
        // client leave mid-request), reallocated its 8 KiB buffer for every preflight (the gateway's
        // preflight: 13 719 instructions, 13 408 with this value).
        let echoed = self.policy.origin_value(found).map_or(Value::Request(line), Value::Static);
        let allow_origin = if credentials {
            why.note(Rule::O2, format_args!("credentials: the request's origin is echoed"));
            echoed
        } else if found.kind() == MatchKind::Any {
            why.note(
                Rule::O1,
                format_args!("matched only through *: Access-Control-Allow-Origin *"),
            );
            Value::Static(&ANY_ORIGIN)
        } else {
            why.note(Rule::O1, format_args!("matched explicitly: the request's origin is echoed"));
            echoed
        };
        Ok(Grant { allow_origin, group: Some(group) })
    }

    /// R4, A1 to A3.
    #[inline]
    fn actual<'e, 'r, H, M, S>(
        &'e self,
        method: M,
        line: &'r H::Value,
        origin: Looked<'r>,
        why: &mut S,
    ) -> Decision<'e, 'r, H>
    where
        H: RequestHeaders + ?Sized,
        M: RequestMethod,
        S: Reasons,
    {
        let vary = self.base_vary;
        let grant = match self.grant::<H, S>(line, origin, why) {
            Ok(grant) => grant,
            Err(rule) => {
                why.note(Rule::A2, format_args!("origin not allowed: blocked"));
                note_vary(why, vary);
                return Decision::Blocked { vary, rule };
            }
        };
        let mut headers = ResponseHeaders {
            allow_origin: Some(grant.allow_origin),
            allow_credentials: self.policy.supports_credentials(),
            vary,
            ..ResponseHeaders::default()
        };
        let rule = if grant.group.is_some() { Rule::A1 } else { Rule::A3 };
        match grant.group {
            None => why.note(
                Rule::A3,
                format_args!(
                    "public resource: every method allowed, no Access-Control-Expose-Headers"
                ),
            ),
            Some(group) => {
                if !method.is_allowed_by(group) {
                    why.note(
                        Rule::A2,
                        format_args!(
                            "method {} is not in {} methods {}: blocked",
                            Quoted(method.as_bytes()),
                            GroupName(group),
                            Listed(group.methods())
                        ),
                    );
                    note_vary(why, vary);
                    return Decision::Blocked { vary, rule: Rule::A2 };
                }
                why.note(
                    Rule::A1,
                    format_args!(
                        "method {} is allowed in {}",
                        Quoted(method.as_bytes()),
                        GroupName(group)
                    ),
                );
                headers.expose_headers = group.expose_headers_value();
            }
        }
        why.note(
            Rule::A4,
            format_args!("allowed: forward, replace the upstream's Access-Control-* headers"),
        );
        note_vary(why, vary);
        Decision::Allowed { headers, rule }
    }

    /// R3, P1 to P6.
    #[inline]
    fn preflight<'e, 'r, H, S>(
        &'e self,
        headers: &'r H,
        line: &'r H::Value,
        origin: Looked<'r>,
        why: &mut S,
    ) -> Decision<'e, 'r, H>
    where
        H: RequestHeaders + ?Sized,
        S: Reasons,
    {
        let (walked, method, grant) = if S::KEEPS {
            // Every check runs, so the reasons list each problem, in this order.
            let walked = headers.preflight_lines();
            (
                walked,
                requested_method(headers, walked.map(|w| w.request_method), None, why),
                self.grant::<H, S>(line, origin, why),
            )
        } else {
            // Cheapest first, stopping at the first failure (any failure is the same P3
            // answer): the origin is already looked up, the method is one check against the
            // group, and neither Access-Control-Request-* field is looked up before it is needed
            // (both together, in one walk where the adapter has one).
            let grant = match self.grant::<H, S>(line, origin, why) {
                Ok(grant) => grant,
                Err(rule) => return self.reject(why, rule),
            };
            let walked = headers.preflight_lines();
            let walked_method = walked.map(|w| w.request_method);
            let method = match requested_method(headers, walked_method, grant.group, why) {
                Ok(method) => method,
                Err(rule) => return self.reject(why, rule),
            };
            (walked, Ok(method), Ok(grant))
        };
        // The rule of the first failed check in the order `decide` runs them (the origin, then
        // the method), so that `explain`, which runs every check, names the same rule.
        let mut failed = grant.as_ref().err().or(method.as_ref().err()).copied();
        let (method, grant) = (method.ok(), grant.ok());
        let group = grant.and_then(|g| g.group);

        // P2: the method, byte-exact; every method for a public resource (P5).
        if let (Some(method), Some(group)) = (&method, group) {
            let (allowed, method) = (method.allowed, method.trimmed);
            if allowed || group.allows_method(method) {
                why.note(
                    Rule::P2,
                    format_args!("method {} is allowed in {}", Quoted(method), GroupName(group)),
                );
            } else {
                note_method_not_allowed(why, method, group);
                failed = failed.or(Some(Rule::P2));
                if !S::KEEPS {
                    return self.reject(why, Rule::P2);
                }
            }
        }

        // P2, P6: every requested header a token and allowed, within the budgets, over every
        // line in order. Under a list of headers every name must be listed; under `*` (and for
        // a public resource) every token passes. A listed name is a token, so the scan does not
        // check its bytes again.
        let mut denied = 0usize;
        let lines = match walked {
            Some(walked) => walked.request_headers,
            None => FirstLines::of(headers.field_lines(ACRH)),
        };
        let list = group.and_then(|group| match group.headers() {
            AllowedHeaders::List(names) => Some((group, names.as_slice())),
            _ => None,
        });
        let names = list.map(|(_, names)| names);
        let parsed = if S::KEEPS {
            // `explain` goes on past a name the group does not list, to name every problem.
            let on_name = |name: &'r [u8], listed: bool| {
                if let Some((group, _)) = list
                    && !listed
                {
                    denied += 1;
                    why.note(
                        Rule::P2,
                        format_args!(
                            "header {} is not in {} headers {}",
                            Quoted(name),
                            GroupName(group),
                            HeadersOf(group)
                        ),
                    );
                }
                true
            };
            scan_request(headers, lines, names, false, on_name)
        } else {
            // `decide` stops at the first name the group does not list, without checking its
            // bytes or searching where it ends: unlisted or invalid, it is refused by P2 alike,
            // and the answer is P3 whatever follows. With nothing to note, `on_name` holds no
            // state of the decision's and the scan says where it stopped: measured (callgrind,
            // instructions per decision), 19 less for `engine-preflight-rejected-header` and 10
            // for `-accepted` than a closure counting refused names in the decision's frame.
            let parsed = scan_request(headers, lines, names, true, move |_, listed| {
                listed || names.is_none()
            });
            if let Ok(summary) = &parsed
                && summary.stopped
            {
                return self.reject(why, Rule::P2);
            }
            parsed
        };
        // A name the group does not list comes before any budget or token failure the scan
        // met after it: P2 names the first problem, as `decide` stops there.
        if denied > 0 {
            failed = failed.or(Some(Rule::P2));
        }
        let requested = match parsed {
            Ok(summary) => Some(summary),
            Err(error) => {
                why.note(error.rule(), format_args!("{error}: rejected"));
                failed = failed.or(Some(error.rule()));
                None
            }
        };
        match (method, grant, requested, failed) {
            (Some(method), Some(grant), Some(requested), None) => {
                let mirror = MirroredList::new(headers, requested);
                self.accept(&method, grant, requested, mirror, why)
            }
            // A failed check always names its rule; P2 stands for one that did not.
            (.., failed) => self.reject(why, failed.unwrap_or(Rule::P2)),
        }
    }

    /// P1, P4, P5: the accepted answer, once every check passed.
    ///
    /// `mirror` is the request's `Access-Control-Request-Headers` list.
    #[inline]
    fn accept<'e, 'r, H: RequestHeaders + ?Sized, S: Reasons>(
        &'e self,
        method: &RequestedMethod<'r, H::Value>,
        grant: Grant<'e, 'r, H>,
        requested: AcrhSummary,
        mirror: MirroredList<'r, H>,
        why: &mut S,
    ) -> Decision<'e, 'r, H> {
        let mirror_headers = match grant.group {
            None => true,
            Some(group) => matches!(group.headers(), AllowedHeaders::Any),
        };
        // Nothing to mirror when no name was requested (the header absent or only empty
        // elements): the header is left out.
        let mirrored = (mirror_headers && requested.names() > 0).then_some(Value::Mirrored(mirror));

        let mut response = ResponseHeaders {
            allow_origin: Some(grant.allow_origin),
            allow_credentials: self.policy.supports_credentials(),
            vary: self.preflight_vary,
            ..ResponseHeaders::default()
        };
        match grant.group {
            None => {
                why.note(
                    Rule::P5,
                    format_args!(
                        "public resource: Access-Control-Allow-Methods mirrors {}, \
                         Access-Control-Allow-Headers mirrors the {} requested names, no max-age",
                        Quoted(method.trimmed),
                        requested.names()
                    ),
                );
                // The request's own value when it is already trimmed; else its trimmed bytes.
                response.allow_methods =
                    Some(if method.trimmed.len() == method.line.as_ref().len() {
                        Value::Request(method.line)
                    } else {
                        Value::Trimmed(method.trimmed)
                    });
                response.allow_headers = mirrored;
            }
            Some(group) => {
                response.preflight_group = Some(group);
                if mirror_headers {
                    why.note(
                        Rule::P4,
                        format_args!(
                            "{} allows headers *: the {} requested names are mirrored",
                            GroupName(group),
                            requested.names()
                        ),
                    );
                    response.allow_headers = mirrored;
                    response.vary = response.vary.with(Vary::REQUEST_HEADERS);
                } else {
                    why.note(
                        Rule::P4,
                        format_args!(
                            "every requested header ({}) is allowed; {} lists its own",
                            requested.names(),
                            GroupName(group)
                        ),
                    );
                }
            }
        }
        why.note(Rule::P1, format_args!("accepted: answered 200 with an empty body"));
        note_vary(why, response.vary);
        let rule = if grant.group.is_some() { Rule::P1 } else { Rule::P5 };
        Decision::Preflight { accepted: true, headers: response, rule }
    }

    /// P3: the rejected-preflight answer; `rule` is the rule of the check that failed.
    #[inline]
    fn reject<'e, 'r, H: RequestHeaders + ?Sized, S: Reasons>(
        &'e self,
        why: &mut S,
        rule: Rule,
    ) -> Decision<'e, 'r, H> {
        why.note(
            Rule::P3,
            format_args!(
                "rejected: answered 200 with an empty body and no Access-Control-* header"
            ),
        );
        note_vary(why, self.preflight_vary);
        Decision::Preflight {
            accepted: false,
            headers: ResponseHeaders::vary_only(self.preflight_vary),
            rule,
        }
    }
}

/// R5: why the `Origin` header is malformed, and what follows.
fn note_malformed<S: Reasons>(why: &mut S, first: &[u8], malformed: Malformed, then: &str) {
    match malformed {
        Malformed::Several => {
            why.note(Rule::R5, format_args!("more than one Origin field line: malformed, {then}"));
        }
        Malformed::Header(error) => why.note(
            Rule::R5,
            format_args!("Origin {} is malformed ({error}): {then}", Quoted(first)),
        ),
        // `explain` always parses; were it not to, the answer is the same.
        Malformed::Unread => why.note(
            Rule::M2,
            format_args!(
                "Origin {} not parsed: public resource, every Origin alike",
                Quoted(first)
            ),
        ),
    }
}

/// R2, a first look: whether `origin` may serialize the origin the request was addressed to,
/// `scheme` and `authority`, that is whether it starts with that scheme, `://` and the
/// authority's first byte (ASCII case aside, as [`cors_origin::OriginRef::is_same_origin_as`]
/// compares them).
/// False means R2 cannot apply whatever the rest of the value is; true asks for the full check.
/// The authority is read only when the scheme matches.
/// Inlined: left to the compiler it was called out of line, 17 instructions more for a public
/// resource's decision (callgrind).
#[inline]
fn may_be_addressed<'r>(origin: &[u8], scheme: &str, authority: &impl Authority<'r>) -> bool {
    has_scheme_length(origin, scheme)
        && origin
            .get(..scheme.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(scheme.as_bytes()))
        && authority.authority().is_some_and(|authority| {
            matches!(
                (origin.get(scheme.len() + 3), authority.first()),
                (Some(a), Some(b)) if a.eq_ignore_ascii_case(b)
            )
        })
}

/// R2 for an `Origin` value the parse refused (R5): the request's authority when `origin` is,
/// byte for byte, the serialization of the origin the request was addressed to
/// ([`cors_origin::is_same_origin_value`]), as a browser sends it for a site at its trailing-dot
/// name (`https://api.example.`).
///
/// Out of line and cold: only malformed values reach it, and the well-formed path keeps its
/// code. The scheme's length is checked before the authority is looked for, as for parsed
/// origins.
#[cold]
#[inline(never)]
fn same_origin_as_sent<'r>(
    origin: &[u8],
    scheme: &str,
    authority: &impl Authority<'r>,
) -> Option<&'r [u8]> {
    if !has_scheme_length(origin, scheme) {
        return None;
    }
    authority.authority().filter(|host| cors_origin::is_same_origin_value(origin, scheme, host))
}

/// Whether `://` follows the first `scheme.len()` bytes of the `Origin` value `origin`, not yet
/// parsed: false for every value whose scheme is not as long as `scheme`, which cannot be the
/// origin of a request to a listener of `scheme` (R2). Three bytes, checked before the scheme
/// itself is compared byte by byte ignoring case, and before the request's authority is looked
/// for.
#[inline]
fn has_scheme_length(origin: &[u8], scheme: &str) -> bool {
    origin.get(scheme.len()..scheme.len() + 3) == Some(b"://")
}

/// P2: the reason a preflight's method is refused by `group`.
fn note_method_not_allowed<S: Reasons>(why: &mut S, method: &[u8], group: &Group) {
    why.note(
        Rule::P2,
        format_args!(
            "method {} is not in {} methods {}",
            Quoted(method),
            GroupName(group),
            Listed(group.methods())
        ),
    );
}

/// V1: `Vary` of every answer that is not CORS (R1, R2), whatever the policy.
///
/// Such an answer lacks the `Access-Control-Allow-Origin` a cross-origin request gets, so a shared
/// cache must never hand it to one: even a public resource without credentials, whose CORS
/// answers are the same for every origin and carry no `Vary: Origin`, varies here
/// (see `docs/decisions.md`, "Where the contract is wrong").
const NOT_CORS_VARY: Vary = Vary::ORIGIN;

/// V1: the reason naming the `Vary` tokens.
fn note_vary<S: Reasons>(why: &mut S, vary: Vary) {
    if vary.is_empty() {
        why.note(
            Rule::V1,
            format_args!(
                "public resource without credentials: the answer is the same for every origin, \
                 no Vary"
            ),
        );
    } else {
        why.note(Rule::V1, format_args!("Vary: {vary}"));
    }
}

/// P2, P6: [`scan_acrh`] over `lines`: a group's own list (`names`) is answered with its own
/// value, never mirrored (P4); without one, the list may be mirrored.
#[inline]
fn scan<'r>(
    lines: impl Iterator<Item = &'r [u8]>,
    names: Option<&[String]>,
    stop_at_unknown: bool,
    on_name: impl FnMut(&'r [u8], bool) -> bool,
) -> Result<AcrhSummary, AcrhError<'r>> {
    match names {
        Some(names) => scan_acrh::<_, false>(lines, names, stop_at_unknown, on_name),
        None => scan_acrh::<_, true>(lines, &[], false, on_name),
    }
}

/// [`scan`] over the `Access-Control-Request-Headers` lines of `headers`, of which `lines` are
/// the first and whether more follow: the usual one line inlined, several out of line.
/// The one line is scanned as `iter::once`, not as an `Option`'s iterator, whose value the
/// scan tested again (measured, callgrind: 2 instructions less per preflight).
#[inline]
fn scan_request<'r, H: RequestHeaders + ?Sized>(
    headers: &'r H,
    lines: FirstLines<'r, H::Value>,
    names: Option<&[String]>,
    stop_at_unknown: bool,
    on_name: impl FnMut(&'r [u8], bool) -> bool,
) -> Result<AcrhSummary, AcrhError<'r>> {
    match lines {
        FirstLines { first: Some(line), more: false } => {
            scan(std::iter::once(line.as_ref()), names, stop_at_unknown, on_name)
        }
        FirstLines { first: None, more: false } => {
            scan(std::iter::empty(), names, stop_at_unknown, on_name)
        }
        FirstLines { more: true, .. } => scan_lines(headers, names, stop_at_unknown, on_name),
    }
}

/// [`scan`] over every `Access-Control-Request-Headers` line of `headers`, when there are several.
///
/// Out of line: the usual list is one line, which the preflight scans inlined from the line it
/// found, with no iterator over the lines held in memory. Measured (callgrind), against one
/// inlined scan over an iterator of either: 33 instructions less for `engine-preflight-accepted`,
/// 12 for `-rejected-header`.
#[inline(never)]
fn scan_lines<'r, H: RequestHeaders + ?Sized>(
    headers: &'r H,
    names: Option<&[String]>,
    stop_at_unknown: bool,
    on_name: impl FnMut(&'r [u8], bool) -> bool,
) -> Result<AcrhSummary, AcrhError<'r>> {
    scan(headers.field_lines(ACRH).map(AsRef::as_ref), names, stop_at_unknown, on_name)
}

/// R3, R5, P2: the one `Access-Control-Request-Method` line, if its value trimmed of optional
/// whitespace is a method token and, when the `group` is given, one it allows.
///
/// A method the group allows is a token (configured methods are), so it is not checked byte by
/// byte, and one it does not allow is refused without being checked (P2 either way): measured,
/// 30 to 45 instructions less per preflight.
/// `walked` is the line the walk found ([`RequestHeaders::preflight_lines`]), if any; passed
/// alone rather than with the other fields the walk found, it fits in two registers (measured,
/// callgrind: 9 to 10 instructions less per preflight).
/// Inlined: out of line, the call and its result, written to memory and read back, cost 25 to
/// 37 instructions per preflight (callgrind).
#[inline]
fn requested_method<'r, H, S>(
    headers: &'r H,
    walked: Option<FirstLines<'r, H::Value>>,
    group: Option<&Group>,
    why: &mut S,
) -> Result<RequestedMethod<'r, H::Value>, Rule>
where
    H: RequestHeaders + ?Sized,
    S: Reasons,
{
    let lines = match walked {
        Some(lines) => lines,
        None => FirstLines::of(headers.field_lines(ACRM)),
    };
    match (lines.first, lines.more) {
        (None, _) => {
            why.note(Rule::R3, format_args!("no Access-Control-Request-Method: rejected"));
            Err(Rule::R3)
        }
        (Some(_), true) => {
            why.note(
                Rule::R5,
                format_args!("more than one Access-Control-Request-Method line: rejected"),
            );
            Err(Rule::R5)
        }
        (Some(line), false) => {
            let bytes = line.as_ref();
            // Usually the value is an allowed method as it is, which has no whitespace to trim.
            if let Some(group) = group
                && group.allows_method(bytes)
            {
                return Ok(RequestedMethod { line, trimmed: bytes, allowed: true });
            }
            let trimmed = trim_ows(bytes);
            // Nothing trimmed: the value the group refused, refused again without a second look.
            let allowed = group
                .map(|group| (group, trimmed.len() != bytes.len() && group.allows_method(trimmed)));
            if let Some((group, false)) = allowed {
                note_method_not_allowed(why, trimmed, group);
                Err(Rule::P2)
            } else if allowed.is_some() || is_token(trimmed) {
                Ok(RequestedMethod { line, trimmed, allowed: allowed.is_some() })
            } else {
                why.note(
                    Rule::P2,
                    format_args!(
                        "Access-Control-Request-Method {} is not a method token: rejected",
                        Quoted(line.as_ref())
                    ),
                );
                Err(Rule::P2)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// R3, A1, A2, P2: a request's `http::Method` is decided as its bytes are, for every
        /// method `http` tells apart by variant and for extension methods (`get` is not `GET`).
        #[test]
        fn an_http_method_is_decided_as_its_bytes(
            method in proptest::sample::select(vec![
                "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
                "QUERY", "get", "options", "PURGE", "X",
            ]),
            origin in proptest::sample::select(vec!["https://app.example", "https://evil.example"]),
            requested in proptest::sample::select(vec!["PUT", "PURGE"]),
        ) {
            // Not a public resource (C1's default), whose groups, and so their methods, would
            // be ignored (M2).
            let yaml = "publicResource: false\n\
                        originGroups: [{ origins: [https://app.example], allowedMethods: [\
                        { methodName: GET, isAllowed: true }, { methodName: PUT, isAllowed: true },\
                        { methodName: PURGE, isAllowed: true }] }]";
            let engine =
                Engine::new(Policy::from_yaml_str(yaml, "cors.yaml").expect("valid").policy);
            proptest::prop_assert!(!engine.policy().is_public_resource());
            let headers: &[(&str, &str)] =
                &[("origin", origin), ("access-control-request-method", requested)];
            let parsed = http::Method::from_bytes(method.as_bytes()).expect("a token");
            let by_bytes = engine.decide(&Request::new(method.as_bytes(), headers));
            let by_variant =
                engine.decide(&Request { method: &parsed, headers, scheme: "http", host: None });
            proptest::prop_assert_eq!(by_variant.outcome(), by_bytes.outcome());
            proptest::prop_assert_eq!(by_variant.rule(), by_bytes.rule());
            let mut bytes_answer = http::HeaderMap::new();
            let mut variant_answer = http::HeaderMap::new();
            by_bytes.apply(&mut bytes_answer);
            by_variant.apply(&mut variant_answer);
            proptest::prop_assert_eq!(variant_answer, bytes_answer);
        }

        /// R2: the first look never rules out an origin the full check finds same-origin,
        /// parsed or as sent (so a public resource's `Malformed::Unread` never skips R2).
        #[test]
        fn may_be_addressed_holds_for_every_same_origin_value(
            origin in "(https?|HTTP|wss|x)://(api|API|a|b)\\.example(\\.|:[0-9]{1,5}|/)?(\\.|:[0-9]{1,5})?",
            scheme in proptest::sample::select(vec!["http", "https", "HTTPS", "wss"]),
            authority in "(api|API|Api|a|b)\\.example(:[0-9]{0,5}|\\.)?(:[0-9]{0,5})?",
        ) {
            let same = match RequestOrigin::parse(origin.as_bytes()) {
                Ok(RequestOrigin::Tuple(tuple)) => {
                    tuple.is_same_origin_as(scheme, authority.as_bytes())
                }
                _ => cors_origin::is_same_origin_value(
                    origin.as_bytes(),
                    scheme,
                    authority.as_bytes(),
                ),
            };
            proptest::prop_assert!(
                !same || may_be_addressed(origin.as_bytes(), scheme, &Some(authority.as_bytes()))
            );
        }
    }

    /// `Debug` shows what a request holds, its method and authority as text, and an engine's
    /// policy.
    #[test]
    fn debug_shows_the_request_and_the_policy() {
        let headers: &[(&str, &str)] = &[("origin", "https://app.example")];
        let request = Request::new(b"GET", headers).addressed_to("https", b"api.example");
        assert_eq!(
            format!("{request:?}"),
            r#"Request { method: "GET", headers: [("origin", "https://app.example")], scheme: "https", host: Some("api.example") }"#
        );
        let engine = Engine::new(Policy::public());
        assert_eq!(
            format!("{engine:?}"),
            format!("Engine {{ policy: {:?}, .. }}", engine.policy())
        );
    }

    #[test]
    fn may_be_addressed_rules_out_another_scheme_or_host() {
        let to = |authority: &'static [u8]| Some(authority);
        assert!(may_be_addressed(b"https://api.example", "HTTPS", &to(b"Api.example:443")));
        assert!(!may_be_addressed(b"https://api.example", "http", &to(b"api.example")));
        assert!(!may_be_addressed(b"https://app.example", "https", &to(b"b.example")));
        assert!(!may_be_addressed(b"https://", "https", &to(b"api.example")));
        assert!(!may_be_addressed(b"https://api.example", "https", &to(b"")));
        assert!(!may_be_addressed(b"https://api.example", "https", &None));
    }

    /// R2: the authority is looked for only when the request has an `Origin` of the listener's
    /// scheme; the decision is the one the same bytes given at once make.
    #[rstest::rstest]
    #[case::no_origin(&[], "https", 0, Rule::R1)]
    #[case::another_scheme(&[("origin", "https://api.example")], "http", 0, Rule::M3)]
    #[case::same_origin(&[("origin", "https://api.example")], "https", 1, Rule::R2)]
    #[case::same_scheme_other_host(&[("origin", "https://app.example")], "https", 1, Rule::M3)]
    fn r2_reads_the_authority_only_when_it_can_apply(
        #[case] headers: &[(&str, &str)],
        #[case] scheme: &str,
        #[case] reads: usize,
        #[case] rule: Rule,
    ) {
        let yaml = "publicResource: false\noriginGroups: [{ origins: [https://other.example] }]";
        let engine = Engine::new(Policy::from_yaml_str(yaml, "cors.yaml").expect("valid").policy);
        let calls = std::cell::Cell::new(0);
        let lazy = || {
            calls.set(calls.get() + 1);
            Some(&b"api.example"[..])
        };
        let request = Request { method: b"GET", headers, scheme, host: lazy };
        assert_eq!(engine.decide(&request).rule(), rule);
        assert_eq!(calls.get(), reads);
        let given = Request::new(b"GET", headers).addressed_to(scheme, b"api.example");
        assert_eq!(engine.decide(&given).rule(), rule);
    }
}
