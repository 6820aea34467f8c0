//! The response side: a decision writes itself into any response through [`ResponseFields`], the
//! one small trait an adapter implements; [`OwnedDecision`] keeps a decision while the request
//! travels to the upstream.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, HeaderMap,
    HeaderName, HeaderValue, VARY,
};

use crate::response::{CREDENTIALS, FIELDS, credentials_value, field_name};
use crate::{Decision, Outcome, RequestHeaders, Rule, Vary};

/// The prefix of the fields an allowed response must not keep from the upstream (A4).
const ACCESS_CONTROL: &str = "access-control-";

/// A response a decision writes itself into: the three things an adapter does to response
/// header fields.
///
/// Implemented for [`http::HeaderMap`]. An adapter over another header store (proxy-wasm's host
/// calls, say) implements the three methods and gets the same answers as every other adapter from
/// [`Decision::apply`] and [`OwnedDecision::apply`].
///
/// ```
/// use cors_engine::ResponseFields;
/// use http::{HeaderMap, HeaderValue, header};
///
/// let mut response = HeaderMap::new();
/// response.append(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
/// response.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
/// response.remove_prefixed("access-control-");
/// assert!(response.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
/// assert_eq!(response.vary_lines().collect::<Vec<_>>(), [b"Accept-Encoding"]);
/// ```
pub trait ResponseFields {
    /// Every `Vary` field line of the response, in order.
    fn vary_lines(&self) -> impl Iterator<Item = &[u8]>;

    /// Removes every field whose name starts with `prefix` (lower-case), compared ignoring ASCII
    /// case.
    fn remove_prefixed(&mut self, prefix: &str);

    /// Appends one field line.
    fn append(&mut self, name: HeaderName, value: HeaderValue);

    /// What a decision does to the response's own fields before it writes its own: returns the
    /// tokens of `vary` that no `Vary` line of the response lists yet ([`Vary::missing_from`]
    /// over [`vary_lines`](Self::vary_lines)), and, when `replace_access_control`, removes every
    /// field whose name starts with `access-control-` ([`remove_prefixed`](Self::remove_prefixed)).
    ///
    /// Provided through the other three methods; an implementation may do both in one pass over
    /// its fields (as [`http::HeaderMap`]'s does), with the same result.
    fn prepare(&mut self, vary: Vary, replace_access_control: bool) -> Vary {
        let missing = if vary.is_empty() { vary } else { vary.missing_from(self.vary_lines()) };
        if replace_access_control {
            self.remove_prefixed(ACCESS_CONTROL);
        }
        missing
    }
}

impl ResponseFields for HeaderMap {
    /// The request side's lookup ([`RequestHeaders::field_lines`]): a small map (a local answer,
    /// a terse upstream answer) is walked, without hashing the name; a larger one is hashed.
    #[inline]
    fn vary_lines(&self) -> impl Iterator<Item = &[u8]> {
        RequestHeaders::field_lines(self, "vary").map(HeaderValue::as_bytes)
    }

    /// `http` keeps names lower-case, so a prefix test on the name is the case-insensitive test.
    ///
    /// Each round removes at least one name, so the loop ends after at most as many rounds as
    /// there are distinct names with the prefix; the common case (none) is one scan of the names.
    fn remove_prefixed(&mut self, prefix: &str) {
        while let Some(name) = self.keys().find(|name| name.as_str().starts_with(prefix)).cloned() {
            self.remove(&name);
        }
    }

    #[inline]
    fn append(&mut self, name: HeaderName, value: HeaderValue) {
        HeaderMap::append(self, name, value);
    }

    /// One walk over the lines for both: each `Vary` line is read, and an `access-control-`
    /// name is only noted, removed after the walk when there is one. An empty map (a local
    /// answer) is not walked at all.
    ///
    /// Measured: the two separate scans cost about twice as much on a forwarded response; and
    /// inlined into the writer, a local answer's empty map costs nothing to check.
    #[inline]
    fn prepare(&mut self, vary: Vary, replace_access_control: bool) -> Vary {
        if self.is_empty() {
            return vary;
        }
        let (mut missing, mut prefixed) = (vary, false);
        for (name, value) in self.iter() {
            if name == VARY {
                if !missing.is_empty() {
                    missing = missing.unlisted_by(value.as_bytes());
                }
            } else if replace_access_control && name.as_str().starts_with(ACCESS_CONTROL) {
                prefixed = true;
            }
        }
        if prefixed {
            self.remove_prefixed(ACCESS_CONTROL);
        }
        missing
    }
}

/// Writes a decision into `response`, the one procedure behind both `apply`s:
///
/// - `fields`, when the decision answers with Access-Control-* headers (an accepted or rejected
///   preflight, an allowed actual request): every field of the response starting with
///   `access-control-` is removed first, so the upstream never adds a grant or a second
///   `Access-Control-Allow-Origin` (A4), then each field is appended;
/// - `vary`: the tokens no `Vary` line of the response lists yet are appended as one line (V1),
///   compared ignoring case; `Vary: *` already covers everything. The response's own `Vary` is
///   read before anything is written.
///
/// `fields` appends the fields itself, so that each caller appends straight from what it holds.
/// The `Vary` line goes after them, or before them when `vary_first` (the order of lines with
/// different names means nothing in HTTP; only the cost of the appends differs, see
/// [`OwnedDecision::apply`]).
#[inline]
fn write<R, F>(response: &mut R, fields: Option<F>, vary: Vary, vary_first: bool)
where
    R: ResponseFields + ?Sized,
    F: FnOnce(&mut R),
{
    let missing = response.prepare(vary, fields.is_some());
    if vary_first {
        append_vary(response, missing);
    }
    if let Some(append_fields) = fields {
        append_fields(response);
    }
    if !vary_first {
        append_vary(response, missing);
    }
}

/// Appends the `missing` tokens as one `Vary` line, if there is any.
#[inline]
fn append_vary<R: ResponseFields + ?Sized>(response: &mut R, missing: Vary) {
    if let Some(value) = missing.to_header_value() {
        response.append(VARY, value);
    }
}

impl Vary {
    /// Writes these `Vary` tokens alone into `response`, as a decision that is not CORS is
    /// written (V1): the tokens no `Vary` line of the response lists yet, appended as one line,
    /// compared ignoring case; `Vary: *` already covers everything. For an adapter that keeps
    /// only a not-CORS decision's [`Vary`] (`Decision::NotCors`) rather than the whole
    /// [`OwnedDecision`] while the request is forwarded.
    ///
    /// ```
    /// use cors_engine::Vary;
    /// use http::{HeaderMap, HeaderValue, header::VARY};
    ///
    /// let mut response = HeaderMap::new();
    /// response.append(VARY, HeaderValue::from_static("accept-encoding"));
    /// Vary::ORIGIN.apply(&mut response);
    /// // A token some line already lists, in any case, is not added again.
    /// Vary::ORIGIN.apply(&mut response);
    /// let lines: Vec<_> = response.get_all(VARY).iter().collect();
    /// assert_eq!(lines, ["accept-encoding", "Origin"]);
    /// ```
    #[inline]
    pub fn apply<R: ResponseFields + ?Sized>(self, response: &mut R) {
        write(response, None::<fn(&mut R)>, self, false);
    }
}

impl<H: RequestHeaders + ?Sized> Decision<'_, '_, H> {
    /// Writes the decision into `response`: the upstream's answer when the request is forwarded
    /// ([`Outcome::is_forwarded`]), else the local answer the adapter builds (status 200, empty
    /// body).
    ///
    /// - Not CORS, blocked: only the missing `Vary` tokens (V1).
    /// - Preflight (accepted or rejected), allowed: every `Access-Control-*` field of the response
    ///   is removed, the decided ones are appended (A4), then the missing `Vary` tokens.
    ///
    /// Values are built as [`Value::to_header_value`](crate::Value::to_header_value) builds them
    /// (reference counts, the request's own values); the mirrored list of a preflight is the one
    /// allocation. A value whose bytes are not a valid field value (a [`FieldValue`] breaking its
    /// contract) is left out, never written empty.
    ///
    /// [`FieldValue`]: crate::FieldValue
    pub fn apply<R: ResponseFields + ?Sized>(&self, response: &mut R) {
        // Slot by slot, each with its own name, rather than through `ResponseHeaders::iter`:
        // measured, the loop over the six slots and its two matches per slot cost more than the
        // appends it feeds.
        let fields = self.headers().map(|headers| {
            |response: &mut R| {
                if let Some(value) = headers.allow_origin {
                    value.build_then(|value| response.append(ACCESS_CONTROL_ALLOW_ORIGIN, value));
                }
                if headers.allow_credentials {
                    // Its one value, CREDENTIALS, built in place.
                    response.append(ACCESS_CONTROL_ALLOW_CREDENTIALS, credentials_value());
                }
                if let Some(value) = headers.allow_methods() {
                    value.build_then(|value| response.append(ACCESS_CONTROL_ALLOW_METHODS, value));
                }
                if let Some(value) = headers.allow_headers() {
                    value.build_then(|value| response.append(ACCESS_CONTROL_ALLOW_HEADERS, value));
                }
                if let Some(value) = headers.expose_headers {
                    response.append(ACCESS_CONTROL_EXPOSE_HEADERS, value.clone());
                }
                if let Some(group) = headers.preflight_group() {
                    response.append(ACCESS_CONTROL_MAX_AGE, group.max_age_value().clone());
                }
            }
        });
        write(response, fields, self.vary(), false);
    }

    /// The decision with its values owned, to keep while the request is forwarded.
    ///
    /// Prebuilt values and an [`http::HeaderMap`] request's own values are cloned (reference
    /// counts); other values are copied. Keeping a forwarded decision (not CORS, allowed)
    /// allocates nothing; keeping an accepted preflight, which adapters answer at once instead,
    /// boxes its six fields, and a mirrored list is joined (one allocation each).
    #[must_use]
    #[inline]
    pub fn into_owned(self) -> OwnedDecision {
        let (outcome, rule) = (self.outcome(), self.rule());
        match self {
            Decision::NotCors { vary, .. } | Decision::Blocked { vary, .. } => {
                OwnedDecision { outcome, rule, vary, fields: Fields::None }
            }
            Decision::Preflight { headers, accepted: true, .. } => OwnedDecision {
                outcome,
                rule,
                vary: headers.vary(),
                fields: Fields::Every(Box::new(headers.owned_values())),
            },
            Decision::Preflight { headers, .. } | Decision::Allowed { headers, .. } => {
                debug_assert!(
                    headers.allow_methods().is_none()
                        && headers.allow_headers().is_none()
                        && headers.max_age().is_none(),
                    "an actual response sets no preflight field"
                );
                // Built in place rather than returned as a tuple and moved in: measured, 4
                // instructions less per allowed request through the tower layer.
                let fields = Fields::Actual {
                    origin: headers.allow_origin.and_then(|value| value.build()),
                    credentials: headers.allow_credentials,
                    expose: headers.expose_headers.cloned(),
                };
                OwnedDecision { outcome, rule, vary: headers.vary(), fields }
            }
        }
    }
}

/// The Access-Control-* values an [`OwnedDecision`] keeps, by slot (the order of
/// [`ResponseHeaders::iter`]).
///
/// [`ResponseHeaders::iter`]: crate::ResponseHeaders::iter
#[derive(Clone, Debug)]
enum Fields {
    /// Not CORS, blocked: no field, and the response's own are kept.
    None,
    /// An allowed actual request, or a rejected preflight (no field): the response's
    /// Access-Control-* fields are replaced (A4) by these three. Kept inline, so keeping the
    /// decision allocates nothing, and small, as it sets the size of every future that keeps it
    /// while the request is forwarded: `Access-Control-Allow-Credentials` is always `true`
    /// ([`CREDENTIALS`]), so only whether it is set is kept.
    Actual {
        /// `Access-Control-Allow-Origin`.
        origin: Option<HeaderValue>,
        /// Whether `Access-Control-Allow-Credentials: true` is set.
        credentials: bool,
        /// `Access-Control-Expose-Headers`.
        expose: Option<HeaderValue>,
    },
    /// An accepted preflight: every slot, boxed so that it does not make every other decision
    /// larger. Adapters answer a preflight at once and never keep it, so none allocates this.
    Every(Box<[Option<HeaderValue>; FIELDS]>),
}

/// A [`Decision`] that owns its header values, so it outlives the request it was made for.
///
/// The tower layer and the proxy-wasm filter decide on the request's headers, hand the request on
/// to the upstream, and apply the decision to the response when it arrives: they keep this.
/// [`apply`](Self::apply) writes exactly what [`Decision::apply`] writes.
///
/// ```
/// use cors_engine::{Engine, Outcome, Request};
/// use cors_policy::Policy;
/// use http::{HeaderMap, HeaderValue};
///
/// let yaml = "publicResource: false\noriginGroups: [{ origins: [https://app.example] }]";
/// let engine = Engine::new(Policy::from_yaml_str(yaml, "cors.yaml")?.policy);
/// let mut request = HeaderMap::new();
/// request.append("origin", HeaderValue::from_static("https://app.example"));
/// let kept = engine.decide(&Request::new(b"GET", &request)).into_owned();
/// drop(request);
///
/// assert_eq!(kept.outcome(), Outcome::Allowed);
/// let mut response = HeaderMap::new();
/// response.append("access-control-allow-origin", HeaderValue::from_static("*"));
/// kept.apply(&mut response);
/// assert_eq!(response["access-control-allow-origin"], "https://app.example");
/// assert_eq!(response["vary"], "Origin");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct OwnedDecision {
    outcome: Outcome,
    rule: Rule,
    vary: Vary,
    fields: Fields,
}

impl OwnedDecision {
    /// The kind of decision.
    #[must_use]
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The rule that decided ([`Decision::rule`]).
    #[must_use]
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// The tokens to append to the response's `Vary`.
    #[must_use]
    pub fn vary(&self) -> Vary {
        self.vary
    }

    /// The Access-Control-* headers to set, in the order of [`ResponseHeaders::iter`] (none when
    /// the decision sets none).
    ///
    /// [`ResponseHeaders::iter`]: crate::ResponseHeaders::iter
    pub fn headers(&self) -> impl Iterator<Item = (HeaderName, &HeaderValue)> {
        let values: [Option<&HeaderValue>; FIELDS] = match &self.fields {
            Fields::None => [None; FIELDS],
            Fields::Actual { origin, credentials, expose } => {
                let credentials = credentials.then_some(&CREDENTIALS);
                [origin.as_ref(), credentials, None, None, expose.as_ref(), None]
            }
            Fields::Every(values) => values.each_ref().map(Option::as_ref),
        };
        let slots = values.into_iter().enumerate();
        slots.filter_map(|(slot, value)| Some((field_name(slot), value?)))
    }

    /// Writes the decision into `response`, as [`Decision::apply`] does, moving the values.
    #[inline]
    pub fn apply<R: ResponseFields + ?Sized>(self, response: &mut R) {
        // An allowed request's fields inline; no field and an accepted preflight's out of line,
        // as the tower layer never keeps those two (it keeps a not-CORS decision's `Vary` alone
        // and answers the others at once): measured, their code in the layer's response future
        // made an allowed request 16 instructions dearer (its poll spills more).
        if matches!(self.fields, Fields::Actual { .. }) {
            self.write(response);
        } else {
            cold(|| self.write(response));
        }
    }

    /// [`apply`](Self::apply), for every kind of decision.
    #[inline]
    fn write<R: ResponseFields + ?Sized>(self, response: &mut R) {
        let vary = self.vary;
        match self.fields {
            Fields::None => vary.apply(response),
            Fields::Actual { origin, credentials, expose } => {
                // `Vary` and `Access-Control-Expose-Headers` before `Access-Control-Allow-Origin`:
                // in `http`'s map of 8, 16 or 32 slots (up to 24 fields) the first two hash to
                // the same slot and `Access-Control-Allow-Origin` to the next one, so that, the
                // other way round, the second of the two displaces it (Robin Hood). Measured on
                // an allowed request through the layer: 25 instructions less.
                let fields = |response: &mut R| {
                    if let Some(value) = expose {
                        response.append(ACCESS_CONTROL_EXPOSE_HEADERS, value);
                    }
                    if let Some(value) = origin {
                        response.append(ACCESS_CONTROL_ALLOW_ORIGIN, value);
                    }
                    if credentials {
                        response.append(ACCESS_CONTROL_ALLOW_CREDENTIALS, credentials_value());
                    }
                };
                write(response, Some(fields), vary, true);
            }
            Fields::Every(mut values) => {
                // Taken slot by slot, so the array itself is never copied.
                let fields = |response: &mut R| {
                    for (slot, value) in values.iter_mut().enumerate() {
                        if let Some(value) = value.take() {
                            response.append(field_name(slot), value);
                        }
                    }
                };
                write(response, Some(fields), vary, false);
            }
        }
    }
}

/// Runs `f` out of line, on a path the compiler is told is rarely taken.
#[cold]
#[inline(never)]
fn cold<T>(f: impl FnOnce() -> T) -> T {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn map(lines: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in lines {
            map.append(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        map
    }

    /// The lines by name (removing a name may move others), each name's lines in order.
    fn lines(map: &HeaderMap) -> Vec<(&str, &str)> {
        let mut lines: Vec<_> =
            map.iter().map(|(n, v)| (n.as_str(), v.to_str().expect("ASCII"))).collect();
        lines.sort_by_key(|(name, _)| *name);
        lines
    }

    /// A [`HeaderMap`] behind the three required methods only, so that it gets the provided
    /// [`ResponseFields::prepare`] that other adapters get, not `HeaderMap`'s one-pass override.
    struct Provided(HeaderMap);

    impl ResponseFields for Provided {
        fn vary_lines(&self) -> impl Iterator<Item = &[u8]> {
            self.0.vary_lines()
        }

        fn remove_prefixed(&mut self, prefix: &str) {
            self.0.remove_prefixed(prefix);
        }

        fn append(&mut self, name: HeaderName, value: HeaderValue) {
            self.0.append(name, value);
        }
    }

    /// Writes `fields` (or none) and `vary` into a response holding `upstream`, through
    /// `HeaderMap`'s own `prepare` and through the provided one, with the `Vary` line after the
    /// fields and before them: all four give `expected`.
    #[track_caller]
    fn check(
        upstream: &[(&'static str, &'static str)],
        fields: Option<&[(&'static str, &'static str)]>,
        vary: Vary,
        expected: &[(&str, &str)],
    ) {
        fn appending<R: ResponseFields>(
            fields: Option<&[(&'static str, &'static str)]>,
        ) -> Option<impl FnOnce(&mut R)> {
            fields.map(|fields| {
                move |response: &mut R| {
                    for (n, v) in fields {
                        response.append(HeaderName::from_static(n), HeaderValue::from_static(v));
                    }
                }
            })
        }
        let mut expected = expected.to_vec();
        expected.sort_by_key(|(name, _)| *name);
        for vary_first in [false, true] {
            let mut own = map(upstream);
            write(&mut own, appending(fields), vary, vary_first);
            let mut provided = Provided(map(upstream));
            write(&mut provided, appending(fields), vary, vary_first);

            assert_eq!(lines(&own), expected, "HeaderMap's prepare, vary first: {vary_first}");
            assert_eq!(
                lines(&provided.0),
                expected,
                "the provided prepare, vary first: {vary_first}"
            );
        }
    }

    const ACAO: &str = "access-control-allow-origin";

    #[rstest]
    #[case::v1_added_when_absent(&[], None, Vary::ORIGIN, &[("vary", "Origin")])]
    #[case::v1_appended_after_upstream(&[("vary", "Accept-Encoding")], None, Vary::ORIGIN, &[("vary", "Accept-Encoding"), ("vary", "Origin")])]
    #[case::v1_not_duplicated_ignoring_case(&[("vary", "accept-encoding, origin")], None, Vary::ORIGIN, &[("vary", "accept-encoding, origin")])]
    #[case::v1_found_on_a_later_line(&[("vary", "Accept"), ("vary", "ORIGIN")], None, Vary::ORIGIN, &[("vary", "Accept"), ("vary", "ORIGIN")])]
    #[case::v1_star_stays_alone(&[("vary", "*")], None, Vary::ORIGIN, &[("vary", "*")])]
    #[case::v1_several_joined_in_one_line(&[], None, Vary::ORIGIN.with(Vary::REQUEST_HEADERS), &[("vary", "Origin, Access-Control-Request-Headers")])]
    #[case::v1_only_missing_ones_added(&[("vary", "Origin")], None, Vary::ORIGIN.with(Vary::REQUEST_METHOD), &[("vary", "Origin"), ("vary", "Access-Control-Request-Method")])]
    #[case::v1_nothing_to_add(&[("vary", "Accept")], None, Vary::NONE, &[("vary", "Accept")])]
    #[case::v1_token_prefix_is_not_a_match(&[("vary", "Origin-Agent")], None, Vary::ORIGIN, &[("vary", "Origin-Agent"), ("vary", "Origin")])]
    #[case::r1_upstream_grant_kept_without_fields(&[(ACAO, "*")], None, Vary::ORIGIN, &[(ACAO, "*"), ("vary", "Origin")])]
    #[case::a4_upstream_grants_replaced(
        &[(ACAO, "*"), (ACAO, "https://evil.test"), ("access-control-allow-private-network", "true"), ("content-type", "text/plain"), ("x-access-control-note", "kept")],
        Some(&[(ACAO, "https://app.test")][..]),
        Vary::ORIGIN,
        &[("content-type", "text/plain"), ("x-access-control-note", "kept"), (ACAO, "https://app.test"), ("vary", "Origin")],
    )]
    #[case::a4_and_v1_in_one_response(
        &[("vary", "Accept"), (ACAO, "*"), ("vary", "origin"), ("access-control-max-age", "5")],
        Some(&[(ACAO, "https://app.test")][..]),
        Vary::ORIGIN.with(Vary::REQUEST_METHOD),
        &[("vary", "Accept"), ("vary", "origin"), (ACAO, "https://app.test"), ("vary", "Access-Control-Request-Method")],
    )]
    #[case::p3_fields_with_none_still_remove(&[(ACAO, "*")], Some(&[][..]), Vary::ORIGIN, &[("vary", "Origin")])]
    fn write_replaces_access_control_and_merges_vary(
        #[case] upstream: &[(&'static str, &'static str)],
        #[case] fields: Option<&[(&'static str, &'static str)]>,
        #[case] vary: Vary,
        #[case] expected: &[(&str, &str)],
    ) {
        check(upstream, fields, vary, expected);
    }
}
