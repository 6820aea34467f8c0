//! The request side: the field lines of a name through [`RequestHeaders`], in the adapter's own
//! value type ([`FieldValue`]), free of any one HTTP library.

use std::fmt;

use http::header::{
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, HOST, ORIGIN, VARY,
};
use http::header::{HeaderMap, HeaderName, HeaderValue, InvalidHeaderValue, ValueIter};

/// The request header field lines the engine reads: the lines of a name, and optionally a
/// preflight's two request fields in one pass ([`preflight_lines`](Self::preflight_lines)).
///
/// The engine asks for three names only, always lower-case: `origin`,
/// `access-control-request-method` and `access-control-request-headers`.
/// Implementations compare names ignoring ASCII case and yield every field line of that name, in
/// the order the request carried them (RFC 9110 section 5.3: several lines of one list-valued field
/// are one comma-separated list).
///
/// The lines are the adapter's own values ([`Value`](Self::Value)), and a decision hands the ones
/// it reflects back as they are: the tower layer gets the request's `Origin` [`HeaderValue`] back
/// and clones it (a reference count), where another adapter copies bytes.
/// A decision that mirrors an `Access-Control-Request-Headers` spread over several lines keeps a
/// reference to the headers and reads the lines again when the value is built
/// ([`MirroredList`](crate::MirroredList)), so deciding never copies nor allocates.
///
/// So the lines must be stable: while a decision borrows the headers, every call for a name
/// yields the same lines, and [`preflight_lines`](Self::preflight_lines), when implemented, the
/// first of those. Headers that break this never make the engine panic, but a mirrored
/// `Access-Control-Allow-Headers` then holds the names read last, not the ones decided on
/// ([`MirroredList::to_header_value`](crate::MirroredList::to_header_value) says how).
///
/// Implemented for [`http::HeaderMap`] (values [`HeaderValue`]), for slices of `(&str, &str)`,
/// `(&[u8], &[u8])` and `(String, String)` pairs, and for `Vec<(String, String)>`.
///
/// ```
/// use cors_engine::RequestHeaders;
///
/// let lines: &[(&str, &str)] = &[("Origin", "https://a.test"), ("origin", "https://b.test")];
/// let origins: Vec<&str> = lines.field_lines("origin").collect();
/// assert_eq!(origins, ["https://a.test", "https://b.test"]);
/// ```
///
/// The engine walks the lines once per name it reads, so it takes a store, not an iterator: a
/// one-pass iterator of `(&str, &[u8])` pairs is collected into a slice of `(&[u8], &[u8])`
/// first, or, without that copy, the store it came from is wrapped. Another header store (a
/// framework on `http` 0.2, such as actix-web 4; `httparse`'s `&[Header]`; a C API) implements
/// this trait in a wrapper, with the values' bytes as [`Value`](Self::Value) (no copy while
/// deciding; a reflected `Origin` is copied into an [`http::HeaderValue`] when the answer is
/// built):
///
/// ```
/// use cors_engine::{Engine, Outcome, Request, RequestHeaders};
///
/// /// The framework's own store: names and values as it received them.
/// struct Fields(Vec<(String, Vec<u8>)>);
///
/// impl RequestHeaders for Fields {
///     type Value = [u8];
///     fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + 'a {
///         let lines = self.0.iter().filter(move |(field, _)| field.eq_ignore_ascii_case(name));
///         lines.map(|(_, value)| value.as_slice())
///     }
/// }
///
/// let fields = Fields(vec![("Origin".into(), b"https://app.test".to_vec())]);
/// let engine = Engine::new(cors_policy::Policy::public());
/// let decision = engine.decide(&Request::new(b"GET", &fields).addressed_to("https", b"api.test"));
/// assert_eq!(decision.outcome(), Outcome::Allowed);
/// ```
pub trait RequestHeaders {
    /// The adapter's type of one field value.
    type Value: FieldValue + ?Sized;

    /// Every field line of `name` (a lowercase CORS request header name), in order.
    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a Self::Value> + 'a;

    /// The first line of each of the two names a preflight reads after `Origin`
    /// (`access-control-request-method` and `access-control-request-headers`), and whether
    /// another line of it follows, found in one pass over the request's fields; `None` (the
    /// default) when the adapter has no such pass, and the engine then asks
    /// [`field_lines`](Self::field_lines) for each name.
    ///
    /// The engine asks it once per preflight whose origin it grants. [`http::HeaderMap`]
    /// answers it for a map of a few fields, where one walk costs less than one per name.
    fn preflight_lines(&self) -> Option<PreflightLines<'_, Self::Value>> {
        None
    }
}

/// The first line of a name and whether another follows.
pub struct FirstLines<'a, V: ?Sized> {
    /// The first field line, if any.
    pub first: Option<&'a V>,
    /// Whether there is more than one line.
    pub more: bool,
}

// `derive` would ask `V: Clone`; the fields are a reference and a flag.
impl<V: ?Sized> Clone for FirstLines<'_, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V: ?Sized> Copy for FirstLines<'_, V> {}

impl<V: ?Sized> Default for FirstLines<'_, V> {
    fn default() -> Self {
        FirstLines { first: None, more: false }
    }
}

impl<V: ?Sized + fmt::Debug> fmt::Debug for FirstLines<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FirstLines").field("first", &self.first).field("more", &self.more).finish()
    }
}

/// What [`RequestHeaders::preflight_lines`] finds: the first line of
/// `Access-Control-Request-Method` and of `Access-Control-Request-Headers`, each with whether
/// another line of that name follows.
///
/// ```
/// use cors_engine::RequestHeaders;
/// use http::{HeaderMap, HeaderValue, header};
///
/// let mut map = HeaderMap::new();
/// map.append(header::ORIGIN, HeaderValue::from_static("https://app.test"));
/// map.append(header::ACCESS_CONTROL_REQUEST_HEADERS, HeaderValue::from_static("x-a"));
/// map.append(header::ACCESS_CONTROL_REQUEST_HEADERS, HeaderValue::from_static("x-b"));
/// let lines = map.preflight_lines().expect("a small map is walked once");
/// assert!(lines.request_method.first.is_none());
/// assert_eq!(lines.request_headers.first.map(HeaderValue::as_bytes), Some(&b"x-a"[..]));
/// assert!(lines.request_headers.more);
/// ```
pub struct PreflightLines<'a, V: ?Sized> {
    /// `Access-Control-Request-Method`.
    pub request_method: FirstLines<'a, V>,
    /// `Access-Control-Request-Headers`.
    pub request_headers: FirstLines<'a, V>,
}

impl<V: ?Sized> Clone for PreflightLines<'_, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V: ?Sized> Copy for PreflightLines<'_, V> {}

impl<V: ?Sized> Default for PreflightLines<'_, V> {
    fn default() -> Self {
        PreflightLines {
            request_method: FirstLines::default(),
            request_headers: FirstLines::default(),
        }
    }
}

impl<V: ?Sized + fmt::Debug> fmt::Debug for PreflightLines<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreflightLines")
            .field("request_method", &self.request_method)
            .field("request_headers", &self.request_headers)
            .finish()
    }
}

/// One request field value, as an adapter holds it: its bytes, and how it becomes an
/// [`http::HeaderValue`] when a decision sends it back.
///
/// Implemented for [`HeaderValue`] (a reference-count clone), `str`, `[u8]`, `String` and
/// `Vec<u8>` (a copy of the bytes, the default). A value type of your own implements
/// `AsRef<[u8]>` and, if it can do better than copying, [`to_header_value`](Self::to_header_value).
///
/// A value must be stable: while a decision borrows it, [`as_ref`](AsRef::as_ref) yields the same
/// bytes on every call, and [`to_header_value`](Self::to_header_value) a value of those bytes. A
/// value that breaks this never makes the engine panic: when `to_header_value` fails on bytes the
/// engine validated, they are copied from `as_ref`; when those are not a valid field value either
/// (they changed since the decision), [`Decision::apply`](crate::Decision::apply) leaves the field
/// out ([`Value::to_header_value`](crate::Value::to_header_value) says how).
pub trait FieldValue: AsRef<[u8]> {
    /// The value as an [`http::HeaderValue`]: by default a copy of [`as_ref`](AsRef::as_ref).
    ///
    /// The engine calls it only on values it validated (a canonical origin, a method token), which
    /// are always valid field values, so an implementation returns `Ok` for them.
    ///
    /// # Errors
    ///
    /// The bytes are not a valid field value (a control character).
    fn to_header_value(&self) -> Result<HeaderValue, InvalidHeaderValue> {
        HeaderValue::from_bytes(self.as_ref())
    }

    /// The value itself when it already is an [`http::HeaderValue`], which the engine then
    /// clones as it clones its prebuilt values (a reference count); `None`, the default, for a
    /// value that must be copied through [`to_header_value`](Self::to_header_value).
    ///
    /// ```
    /// use cors_engine::FieldValue;
    /// use http::HeaderValue;
    ///
    /// let value = HeaderValue::from_static("https://app.example");
    /// assert_eq!(value.as_header_value(), Some(&value));
    /// assert_eq!("https://app.example".as_header_value(), None);
    /// ```
    fn as_header_value(&self) -> Option<&HeaderValue> {
        None
    }
}

impl FieldValue for HeaderValue {
    /// A clone: a reference-count increment, the bytes are shared.
    #[inline]
    fn to_header_value(&self) -> Result<HeaderValue, InvalidHeaderValue> {
        Ok(self.clone())
    }

    #[inline]
    fn as_header_value(&self) -> Option<&HeaderValue> {
        Some(self)
    }
}

impl FieldValue for str {}
impl FieldValue for [u8] {}
impl FieldValue for String {}
impl FieldValue for Vec<u8> {}

impl<'a, V: ?Sized> FirstLines<'a, V> {
    /// The first line of `lines` and whether a second follows (pulls at most two).
    // Measured: left to the compiler, it stayed out of line and cost 18 instructions per decision;
    // with a third caller of one iterator type, `#[inline]` no longer kept it inline, and the
    // walk it takes went out of line too: 53 to 72 instructions more on every decision.
    #[inline(always)]
    #[expect(clippy::inline_always, reason = "measured, see above")]
    pub(crate) fn of(mut lines: impl Iterator<Item = &'a V>) -> FirstLines<'a, V> {
        let first = lines.next();
        let more = first.is_some() && lines.next().is_some();
        FirstLines { first, more }
    }

    /// Takes `line`, the next line of the name: the first, or one more.
    #[inline]
    fn push(&mut self, line: &'a V) {
        self.more |= self.first.is_some();
        self.first = self.first.or(Some(line));
    }
}

/// Up to this many field lines, [`HeaderMap`]'s [`RequestHeaders`] walks the map's fields instead
/// of hashing the name: comparing a standard [`HeaderName`] costs two byte comparisons, where
/// hashing it and probing cost 110 to 160 instructions.
///
/// Measured (callgrind, `cors-engine/examples/hotpath` with `HOTPATH_FIELDS`, the CORS fields
/// last, which is the walk's worst case): a walk costs about 26 instructions per field passed;
/// with 4 fields an accepted preflight takes 1 406 instructions walked against 1 511 hashed and an
/// allowed actual request 406 against 430; both are level at 5 or 6 fields, where hashing starts
/// to win. Browsers send 8 to 15 fields, so this serves small requests (API clients, tests,
/// benchmarks) and costs a browser's requests one comparison of [`HeaderMap::len`].
const WALK_MAX: usize = 4;

/// The standard [`HeaderName`] of the engine's three names, and of the two the adapters read
/// around a decision (`host` for R2, a response's `vary` for V1); `None` for any other name.
///
/// Inlined, so that constant names select the header without comparing strings; returned by
/// value from `http`'s constants rather than as a reference into a static, so that the walk's
/// comparison sees a constant it can fold into two byte comparisons: a static of this crate is
/// opaque to the crate that instantiates the engine, which loaded it and compared it in full.
/// Measured (callgrind): 10 instructions less on every decision that finds `Origin`.
#[inline(always)]
#[expect(clippy::inline_always, reason = "measured: out of line, the name is compared as a string")]
fn standard_name(name: &'static str) -> Option<HeaderName> {
    match name {
        crate::ORIGIN => Some(ORIGIN),
        crate::ACRM => Some(ACCESS_CONTROL_REQUEST_METHOD),
        crate::ACRH => Some(ACCESS_CONTROL_REQUEST_HEADERS),
        "host" => Some(HOST),
        "vary" => Some(VARY),
        _ => None,
    }
}

/// The field lines of one name in a [`HeaderMap`]: a walk over a small map's fields, or the
/// values the hash lookup found.
enum HeaderMapLines<'a> {
    /// The fields of the map not yet walked (`None` once done), of which the lines of `name` are
    /// yielded, in order.
    Walk {
        fields: Option<http::header::Iter<'a, HeaderValue>>,
        name: HeaderName,
        /// Whether no name of the map has a second line ([`HeaderMap::len`] equals
        /// [`HeaderMap::keys_len`]): then the walk ends at the first line of `name`.
        one_each: bool,
    },
    /// The values of the name, found by hashing it.
    Hashed(ValueIter<'a, HeaderValue>),
}

impl<'a> Iterator for HeaderMapLines<'a> {
    type Item = &'a HeaderValue;

    #[inline]
    fn next(&mut self) -> Option<&'a HeaderValue> {
        match self {
            HeaderMapLines::Walk { fields, name, one_each } => {
                let found =
                    fields.as_mut()?.find_map(|(field, value)| (*field == *name).then_some(value));
                if found.is_none() || *one_each {
                    *fields = None;
                }
                found
            }
            HeaderMapLines::Hashed(values) => values.next(),
        }
    }
}

impl RequestHeaders for HeaderMap {
    type Value = HeaderValue;

    #[inline(always)]
    #[expect(
        clippy::inline_always,
        reason = "measured: out of line, the name is compared as a string"
    )]
    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a HeaderValue> + 'a {
        match standard_name(name) {
            Some(name) if self.len() <= WALK_MAX => HeaderMapLines::Walk {
                fields: Some(self.iter()),
                name,
                one_each: self.len() == self.keys_len(),
            },
            Some(name) => HeaderMapLines::Hashed(self.get_all(&name).into_iter()),
            None => HeaderMapLines::Hashed(self.get_all(name).into_iter()),
        }
    }

    /// One walk over a small map's fields, sorting each line of the two names into its place.
    /// Measured (callgrind, 3 fields, `Origin` first): an accepted preflight takes 855
    /// instructions against 904 with a walk per name
    /// ([`field_lines`](RequestHeaders::field_lines)); a preflight refused on its method, which
    /// needs only `access-control-request-method`, 381 against 343 (the walk does not stop at
    /// that name).
    #[inline]
    fn preflight_lines(&self) -> Option<PreflightLines<'_, HeaderValue>> {
        if self.len() > WALK_MAX {
            return None;
        }
        let (mut method, mut headers) = (FirstLines::default(), FirstLines::default());
        if self.len() == self.keys_len() {
            // No name has a second line: each line found is its name's only one, kept as it is
            // (measured, callgrind: 6 to 10 instructions less per preflight than keeping
            // whether another line came, which held a register more through the walk). Once
            // both are found nothing more can be, so the walk ends there, tested only after a
            // line is taken: measured (callgrind, `Origin`, then the method, then the headers),
            // 4 instructions less for an accepted preflight and one refused on a header, even
            // with the headers' line last, as the iterator's last step is not taken.
            for (name, value) in self {
                if *name == ACCESS_CONTROL_REQUEST_METHOD {
                    method.first = Some(value);
                } else if *name == ACCESS_CONTROL_REQUEST_HEADERS {
                    headers.first = Some(value);
                } else {
                    continue;
                }
                if method.first.is_some() && headers.first.is_some() {
                    break;
                }
            }
        } else {
            for (name, value) in self {
                if *name == ACCESS_CONTROL_REQUEST_METHOD {
                    method.push(value);
                } else if *name == ACCESS_CONTROL_REQUEST_HEADERS {
                    headers.push(value);
                }
            }
        }
        Some(PreflightLines { request_method: method, request_headers: headers })
    }
}

impl RequestHeaders for [(&str, &str)] {
    type Value = str;

    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }
}

impl RequestHeaders for [(&[u8], &[u8])] {
    type Value = [u8];

    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|(_, v)| *v)
    }
}

impl RequestHeaders for [(String, String)] {
    type Value = str;

    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl RequestHeaders for Vec<(String, String)> {
    type Value = str;

    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a str> + 'a {
        self.as_slice().field_lines(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderName;

    #[test]
    fn header_map_yields_its_own_values_in_order() {
        let mut map = HeaderMap::new();
        map.append(HeaderName::from_static("origin"), HeaderValue::from_static("https://a.test"));
        map.append(HeaderName::from_static("accept"), HeaderValue::from_static("*/*"));
        map.append(HeaderName::from_static("origin"), HeaderValue::from_static("https://b.test"));
        let lines: Vec<&HeaderValue> = map.field_lines("origin").collect();
        assert_eq!(lines, ["https://a.test", "https://b.test"]);
        // The very values of the map: cloning one shares its bytes.
        let first = map.get("origin").expect("a line");
        assert!(std::ptr::eq(lines[0], first));
        assert_eq!(
            lines[0].to_header_value().expect("valid").as_bytes().as_ptr(),
            first.as_bytes().as_ptr()
        );
    }

    /// A copy of what a walk found holds the same lines, and `Debug` shows them.
    #[test]
    fn found_lines_copy_and_show_what_they_hold() {
        let mut map = HeaderMap::new();
        map.append(
            HeaderName::from_static("access-control-request-method"),
            HeaderValue::from_static("PUT"),
        );
        let lines = map.preflight_lines().expect("a small map is walked once");
        let copy = Clone::clone(&lines);
        assert_eq!(copy.request_method.first.map(HeaderValue::as_bytes), Some(&b"PUT"[..]));
        let method = Clone::clone(&lines.request_method);
        assert_eq!(method.first.map(HeaderValue::as_bytes), Some(&b"PUT"[..]));
        assert_eq!(
            format!("{lines:?}"),
            "PreflightLines { request_method: FirstLines { first: Some(\"PUT\"), more: false }, \
             request_headers: FirstLines { first: None, more: false } }"
        );
    }

    proptest::proptest! {
        /// R5, P6: whether the map is walked (small) or hashed (large), and whether a name has
        /// one line or several, the lines of each name are `get_all`'s, in order; the same for
        /// the adapters' `host` (R2) and a response's `vary` (V1).
        #[test]
        fn small_and_large_maps_yield_what_get_all_yields(
            fields in proptest::collection::vec((0..6usize, 0..3u8), 0..2 * WALK_MAX + 2),
        ) {
            const NAMES: [&str; 6] =
                [crate::ORIGIN, "host", crate::ACRM, "accept", crate::ACRH, "vary"];
            let mut map = HeaderMap::new();
            for (i, &(name, value)) in fields.iter().enumerate() {
                let value = HeaderValue::from_str(&format!("{value}-{i}")).expect("visible ASCII");
                map.append(HeaderName::from_static(NAMES[name]), value);
            }
            for name in [crate::ORIGIN, crate::ACRM, crate::ACRH, "host", "vary"] {
                let walked: Vec<&HeaderValue> = map.field_lines(name).collect();
                let hashed: Vec<&HeaderValue> = map.get_all(name).iter().collect();
                proptest::prop_assert_eq!(walked, hashed, "{} in {:?}", name, map);
            }
            // The one walk of a preflight finds the first line of each name, and whether more
            // follow, as `get_all` does; a larger map is left to `field_lines`.
            let preflight = map.preflight_lines();
            proptest::prop_assert_eq!(preflight.is_some(), map.len() <= WALK_MAX);
            if let Some(lines) = preflight {
                for (name, found) in
                    [(crate::ACRM, lines.request_method), (crate::ACRH, lines.request_headers)]
                {
                    let all: Vec<&HeaderValue> = map.get_all(name).iter().collect();
                    proptest::prop_assert_eq!(found.first, all.first().copied(), "{}", name);
                    proptest::prop_assert_eq!(found.more, all.len() > 1, "{}", name);
                }
            }
        }
    }

    #[test]
    fn pairs_compare_names_ignoring_case() {
        let pairs: &[(&[u8], &[u8])] =
            &[(b"ORIGIN", b"x"), (b"Access-Control-Request-Method", b"GET")];
        assert_eq!(pairs.field_lines("origin").collect::<Vec<_>>(), [b"x"]);
        let owned = vec![("Origin".to_owned(), "y".to_owned())];
        assert_eq!(owned.field_lines("origin").collect::<Vec<_>>(), ["y"]);
    }

    #[test]
    fn copied_values_refuse_control_characters() {
        assert!("a\u{1}b".to_header_value().is_err());
        assert_eq!("https://a.test".to_header_value().expect("valid"), "https://a.test");
    }
}
