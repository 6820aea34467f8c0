//! The request side: header field lines through [`RequestHeaders`], free of any one HTTP library.

use std::fmt;

use http::header::{ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, GetAll, ORIGIN};
use http::{HeaderMap, HeaderValue};

/// The request header field lines the engine reads.
///
/// The engine asks for three names only, always lower-case: `origin`,
/// `access-control-request-method` and `access-control-request-headers`.
/// Implementations compare names ignoring ASCII case and yield every field line of that name, in
/// the order the request carried them (RFC 9110 section 5.3: several lines of one list-valued field
/// are one comma-separated list).
///
/// Implemented for [`http::HeaderMap`], for slices of `(&str, &str)` and `(&[u8], &[u8])` pairs,
/// and for `Vec<(String, String)>`.
/// A type of your own implements [`field_lines`](Self::field_lines) and, when it is `Sized`,
/// overrides [`header_source`](Self::header_source) with [`HeaderSource::new`] so that a multi-line
/// `Access-Control-Request-Headers` can be mirrored (P4, P5).
///
/// ```
/// use cors_engine::RequestHeaders;
///
/// let lines: &[(&str, &str)] = &[("Origin", "https://a.test"), ("origin", "https://b.test")];
/// let origins: Vec<&[u8]> = lines.field_lines("origin").collect();
/// assert_eq!(origins, [&b"https://a.test"[..], b"https://b.test"]);
/// ```
pub trait RequestHeaders {
    /// Every field line of `name` (a lowercase CORS request header name), in order.
    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + 'a;

    /// A handle through which a decision can read these field lines again later.
    ///
    /// [`MirroredList::to_header_value`](crate::MirroredList::to_header_value) uses it to join an
    /// `Access-Control-Request-Headers` that came in several field lines.
    /// The default, [`HeaderSource::unavailable`], makes the engine reject a preflight that would
    /// have to mirror such a multi-line list (with a P6 reason); `Sized` implementations should
    /// return [`HeaderSource::new(self)`](HeaderSource::new).
    fn header_source(&self) -> HeaderSource<'_> {
        HeaderSource::unavailable()
    }

    /// The first lines of `Origin`, `Access-Control-Request-Method` and
    /// `Access-Control-Request-Headers` at once, as a preflight needs them.
    ///
    /// The default asks [`field_lines`](Self::field_lines) for each name and pulls at most two
    /// lines of each; override it when one pass over the lines is cheaper than three lookups
    /// (as for a small [`http::HeaderMap`]). An override must report the same first lines and the
    /// same `more` flags as the default.
    fn preflight_lines(&self) -> PreflightLines<'_> {
        looked_up(self)
    }
}

/// [`RequestHeaders::preflight_lines`] through three [`field_lines`](RequestHeaders::field_lines)
/// calls, two lines of each at most.
fn looked_up<H: RequestHeaders + ?Sized>(headers: &H) -> PreflightLines<'_> {
    PreflightLines {
        origin: FirstLines::of(headers.field_lines(crate::ORIGIN)),
        method: FirstLines::of(headers.field_lines(crate::ACRM)),
        headers: FirstLines::of(headers.field_lines(crate::ACRH)),
    }
}

/// The first field line of one name, and whether another follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FirstLines<'a> {
    /// The first field line, if any.
    pub first: Option<&'a [u8]>,
    /// Whether there is more than one line.
    pub more: bool,
}

impl<'a> FirstLines<'a> {
    /// The first line of `lines` and whether a second follows (pulls at most two).
    // Measured: left to the compiler, it stayed out of line and cost 18 instructions per decision.
    #[inline]
    pub fn of(mut lines: impl Iterator<Item = &'a [u8]>) -> FirstLines<'a> {
        let first = lines.next();
        let more = first.is_some() && lines.next().is_some();
        FirstLines { first, more }
    }

    /// Records one more line, in order.
    fn push(&mut self, line: &'a [u8]) {
        if self.first.is_none() {
            self.first = Some(line);
        } else {
            self.more = true;
        }
    }
}

/// What [`RequestHeaders::preflight_lines`] found: the first lines of the three CORS request
/// fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PreflightLines<'a> {
    /// `Origin`.
    pub origin: FirstLines<'a>,
    /// `Access-Control-Request-Method`.
    pub method: FirstLines<'a>,
    /// `Access-Control-Request-Headers`.
    pub headers: FirstLines<'a>,
}

impl<'a> PreflightLines<'a> {
    /// Lines found by the caller (for [`RequestHeaders::preflight_lines`] overrides).
    #[must_use]
    pub fn new(
        origin: FirstLines<'a>,
        method: FirstLines<'a>,
        headers: FirstLines<'a>,
    ) -> PreflightLines<'a> {
        PreflightLines { origin, method, headers }
    }
}

/// Up to this many field lines (all names together), one pass over an [`http::HeaderMap`] costs
/// less than three hash lookups (measured with callgrind on `examples/hotpath.rs`: one lookup
/// costs about 125 instructions, one step of the pass about 32, so three lookups cost a dozen
/// steps); larger maps are looked up. Counting lines, not names, also keeps the work bounded
/// (R5, P6) when one name comes in thousands of lines.
const SCAN_MAP_UP_TO: usize = 12;

/// The lines of `name` in `map`, through the prebuilt standard [`http::HeaderName`] when there is one
/// (hashing a standard name skips parsing the string: about four times faster).
/// Inlined so that the engine's constant names select the header without comparing strings.
#[inline]
fn get_all<'a>(map: &'a HeaderMap, name: &'static str) -> GetAll<'a, HeaderValue> {
    match name {
        crate::ORIGIN => map.get_all(ORIGIN),
        crate::ACRM => map.get_all(ACCESS_CONTROL_REQUEST_METHOD),
        crate::ACRH => map.get_all(ACCESS_CONTROL_REQUEST_HEADERS),
        other => map.get_all(other),
    }
}

impl RequestHeaders for HeaderMap {
    #[inline]
    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + 'a {
        get_all(self, name).iter().map(HeaderValue::as_bytes)
    }

    fn header_source(&self) -> HeaderSource<'_> {
        HeaderSource(Source::Map(self))
    }

    fn preflight_lines(&self) -> PreflightLines<'_> {
        if self.len() > SCAN_MAP_UP_TO {
            return looked_up(self);
        }
        let mut lines = PreflightLines::default();
        // The map yields the lines of one name together, in order.
        for (name, value) in self {
            let slot = if *name == ORIGIN {
                &mut lines.origin
            } else if *name == ACCESS_CONTROL_REQUEST_METHOD {
                &mut lines.method
            } else if *name == ACCESS_CONTROL_REQUEST_HEADERS {
                &mut lines.headers
            } else {
                continue;
            };
            slot.push(value.as_bytes());
        }
        lines
    }
}

impl RequestHeaders for [(&str, &str)] {
    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_bytes())
    }

    fn header_source(&self) -> HeaderSource<'_> {
        HeaderSource(Source::StrPairs(self))
    }
}

impl RequestHeaders for [(&[u8], &[u8])] {
    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|(_, v)| *v)
    }

    fn header_source(&self) -> HeaderSource<'_> {
        HeaderSource(Source::BytePairs(self))
    }
}

impl RequestHeaders for [(String, String)] {
    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_bytes())
    }

    fn header_source(&self) -> HeaderSource<'_> {
        HeaderSource(Source::StringPairs(self))
    }
}

impl RequestHeaders for Vec<(String, String)> {
    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.as_slice().field_lines(name)
    }

    fn header_source(&self) -> HeaderSource<'_> {
        HeaderSource(Source::StringPairs(self))
    }
}

/// A copyable handle on a request's header lines, kept by a decision that must read them again.
///
/// A [`MirroredList`](crate::MirroredList) holds one so that the adapter can build the mirrored
/// `Access-Control-Request-Headers` value after [`Engine::decide`](crate::Engine::decide) returned,
/// without the decision allocating or copying lines.
#[derive(Clone, Copy)]
pub struct HeaderSource<'a>(Source<'a>);

#[derive(Clone, Copy)]
enum Source<'a> {
    Unavailable,
    Map(&'a HeaderMap),
    StrPairs(&'a [(&'a str, &'a str)]),
    BytePairs(&'a [(&'a [u8], &'a [u8])]),
    StringPairs(&'a [(String, String)]),
    Erased(&'a (dyn ErasedHeaders + 'a)),
}

/// [`RequestHeaders`] in a form that can sit behind a `dyn` pointer.
trait ErasedHeaders {
    fn each_line<'a>(&'a self, name: &'static str, f: &mut dyn FnMut(&'a [u8]));
}

impl<T: RequestHeaders> ErasedHeaders for T {
    fn each_line<'a>(&'a self, name: &'static str, f: &mut dyn FnMut(&'a [u8])) {
        self.field_lines(name).for_each(f);
    }
}

impl<'a> HeaderSource<'a> {
    /// A handle on any `Sized` [`RequestHeaders`] implementation.
    pub fn new<T: RequestHeaders>(headers: &'a T) -> HeaderSource<'a> {
        HeaderSource(Source::Erased(headers))
    }

    /// No handle: the lines cannot be read again.
    #[must_use]
    pub const fn unavailable() -> HeaderSource<'a> {
        HeaderSource(Source::Unavailable)
    }

    /// Whether the lines can be read again.
    #[must_use]
    pub fn is_available(&self) -> bool {
        !matches!(self.0, Source::Unavailable)
    }

    /// Calls `f` with every field line of `name`, in order; nothing if [unavailable](Self::unavailable).
    pub fn for_each_line(&self, name: &'static str, mut f: impl FnMut(&'a [u8])) {
        match self.0 {
            Source::Unavailable => {}
            Source::Map(map) => map.field_lines(name).for_each(f),
            Source::StrPairs(pairs) => pairs.field_lines(name).for_each(f),
            Source::BytePairs(pairs) => pairs.field_lines(name).for_each(f),
            Source::StringPairs(pairs) => pairs.field_lines(name).for_each(f),
            Source::Erased(headers) => headers.each_line(name, &mut f),
        }
    }

    /// The single [`HeaderValue`] of `name` when the source is an [`http::HeaderMap`] holding
    /// exactly one line of it, so that it can be reused by cloning (a reference-count increment).
    pub(crate) fn single_header_value(&self, name: &'static str) -> Option<&'a HeaderValue> {
        match self.0 {
            Source::Map(map) => {
                let mut all = get_all(map, name).iter();
                let first = all.next()?;
                all.next().is_none().then_some(first)
            }
            _ => None,
        }
    }
}

impl fmt::Debug for HeaderSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0 {
            Source::Unavailable => "Unavailable",
            Source::Map(_) => "HeaderMap",
            Source::StrPairs(_) => "StrPairs",
            Source::BytePairs(_) => "BytePairs",
            Source::StringPairs(_) => "StringPairs",
            Source::Erased(_) => "Erased",
        };
        f.debug_tuple("HeaderSource").field(&kind).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderName;

    const NAMES: [&str; 6] = [
        "origin",
        "access-control-request-method",
        "access-control-request-headers",
        "host",
        "accept",
        "x-custom",
    ];

    proptest::proptest! {
        /// R5, P6: the one pass over a small map finds what three lookups find, for any order and
        /// number of lines, and a large map falls back to the lookups.
        #[test]
        fn one_pass_finds_what_the_lookups_find(
            lines in proptest::collection::vec((0..NAMES.len(), 0..3u8), 0..20),
        ) {
            let mut map = HeaderMap::new();
            for (name, value) in lines {
                let value = HeaderValue::from(u16::from(value));
                map.append(HeaderName::from_static(NAMES[name]), value);
            }
            proptest::prop_assert_eq!(map.preflight_lines(), looked_up(&map));
        }
    }
}
