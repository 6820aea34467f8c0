//! The layer's view of a request's header map for the engine: a preflight's three fields found
//! in one walk of a small map.
//!
//! The engine reads `Origin` first, and a preflight's `Access-Control-Request-Method` and
//! `-Headers` once its origin is granted ([`RequestHeaders::preflight_lines`]): two walks of
//! [`http::HeaderMap`]'s fields, each from the first field (`Host`, where hyper puts it). The
//! layer knows the method before the engine asks, so for an `OPTIONS` request the engine's first
//! question (`Origin`) walks the fields once for all three, and the later ones read what that
//! walk found; a mirrored `Access-Control-Allow-Headers` is built from the line found too, where
//! it walked the fields a third time. Any other request is read from the map as before.
//!
//! Measured (callgrind, the `profile` example, own cost = `cors-hyper` minus `bare-tower`), from
//! 1 068 / 1 929 / 1 370 / 421 / 492 instructions (preflight / mirrored preflight / allowed /
//! disallowed / no `Origin`): 1 060 / 1 840 / 1 378 / 430 / 497. An actual request pays the
//! method's test and the view's two stores (about 5) and the register allocation of the larger
//! decision. docs/performance-history.md ("The layer rounds of issue 19") lists the forms tried.

use std::cell::Cell;

use cors_engine::{FirstLines, PreflightLines, RequestHeaders};
use http::header::{
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, HeaderMap, HeaderValue, ORIGIN,
};

/// Up to this many fields, a preflight's fields are found by one walk of the map (cors-engine's
/// own threshold for its walks, measured there: a walk costs about 24 instructions a field, a
/// hashed look-up 110 to 160 a name).
const WALK_MAX: usize = 4;

/// A request's header map as the engine reads it through the layer ([`RequestHeaders`]).
pub(crate) struct Walked<'a> {
    map: &'a HeaderMap,
    /// Whether the request is an `OPTIONS` one, whose `Origin` is looked for with the other two.
    options: bool,
    /// What the walk for `Origin` found, when it walked for all three.
    found: Cell<Option<Found<'a>>>,
}

/// A preflight's fields, found in one walk of a map whose names have one line each.
#[derive(Clone, Copy)]
struct Found<'a> {
    origin: &'a HeaderValue,
    method: Option<&'a HeaderValue>,
    headers: Option<&'a HeaderValue>,
}

impl<'a> Walked<'a> {
    /// `map`, the fields of a request whose method is `OPTIONS` when `options`.
    #[inline]
    pub(crate) fn new(map: &'a HeaderMap, options: bool) -> Walked<'a> {
        Walked { map, options, found: Cell::new(None) }
    }
}

/// The three fields of a small map in which no name has a second line; `None` for any other map,
/// or one without `Origin` (the engine then reads the map itself).
#[inline]
fn walk(map: &HeaderMap) -> Option<Found<'_>> {
    if map.len() > WALK_MAX || map.len() != map.keys_len() {
        return None;
    }
    let (mut origin, mut method, mut headers) = (None, None, None);
    for (name, value) in map {
        if *name == ORIGIN {
            origin = Some(value);
        } else if *name == ACCESS_CONTROL_REQUEST_METHOD {
            method = Some(value);
        } else if *name == ACCESS_CONTROL_REQUEST_HEADERS {
            headers = Some(value);
        }
    }
    origin.map(|origin| Found { origin, method, headers })
}

/// The line found by the walk, or the map's own lines of the name.
enum Lines<A, B> {
    Found(A),
    Map(B),
}

impl<'a, A, B> Iterator for Lines<A, B>
where
    A: Iterator<Item = &'a HeaderValue>,
    B: Iterator<Item = &'a HeaderValue>,
{
    type Item = &'a HeaderValue;

    #[inline]
    fn next(&mut self) -> Option<&'a HeaderValue> {
        match self {
            Lines::Found(lines) => lines.next(),
            Lines::Map(lines) => lines.next(),
        }
    }
}

impl RequestHeaders for Walked<'_> {
    type Value = HeaderValue;

    // Inlined, as the map's own: the name is a constant, so that each call keeps its one arm.
    #[inline(always)]
    #[expect(clippy::inline_always, reason = "as HeaderMap's: the name folds to one arm")]
    fn field_lines<'b>(&'b self, name: &'static str) -> impl Iterator<Item = &'b HeaderValue> + 'b {
        let found = match name {
            "origin" if self.options => {
                let found = walk(self.map);
                self.found.set(found);
                found.map(|found| Some(found.origin))
            }
            "access-control-request-method" => self.found.get().map(|found| found.method),
            "access-control-request-headers" => self.found.get().map(|found| found.headers),
            _ => None,
        };
        match found {
            Some(line) => Lines::Found(line.into_iter()),
            None => Lines::Map(self.map.field_lines(name)),
        }
    }

    #[inline]
    fn preflight_lines(&self) -> Option<PreflightLines<'_, HeaderValue>> {
        match self.found.get() {
            Some(found) => Some(PreflightLines {
                request_method: FirstLines { first: found.method, more: false },
                request_headers: FirstLines { first: found.headers, more: false },
            }),
            None => self.map.preflight_lines(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cors_engine::{Engine, Request};
    use cors_policy::{OriginGroup, Policy};
    use proptest::prelude::*;

    /// The names the engine reads, and two it does not, with values of each kind: allowed and
    /// refused origins, methods, listed and unlisted names.
    const FIELDS: &[(&str, &[&str])] = &[
        ("host", &["api.test"]),
        ("origin", &["https://app.test", "https://evil.test", "null", "https://api.test"]),
        ("access-control-request-method", &["PUT", "DELETE", " PUT"]),
        ("access-control-request-headers", &["x-token", "content-type, x-token", "x-no", ""]),
        ("accept", &["*/*"]),
    ];

    fn engines() -> [Engine; 2] {
        let listed = OriginGroup::new(["https://app.test"])
            .allow_methods(["GET", "PUT"])
            .allow_headers(["content-type", "x-token"]);
        let any = OriginGroup::new(["https://app.test"]).allow_methods(["PUT"]).allow_any_header();
        [listed, any].map(|group| {
            Engine::new(Policy::builder().group(group).build().expect("a valid policy"))
        })
    }

    fn request(method: &str, fields: &[(usize, usize)]) -> http::Request<()> {
        let mut request = http::Request::builder().method(method).uri("/");
        for &(name, value) in fields {
            let (name, values) = FIELDS[name % FIELDS.len()];
            request = request.header(name, values[value % values.len()]);
        }
        request.body(()).expect("valid fields")
    }

    proptest! {
        /// Every request, small or large, with names on one line or several, is decided through
        /// the walked view exactly as from its map: outcome, rule and every field of the answer.
        #[test]
        fn the_walked_view_decides_as_the_map(
            options in any::<bool>(),
            fields in prop::collection::vec((0..5usize, 0..4usize), 0..7),
        ) {
            let request = request(if options { "OPTIONS" } else { "PUT" }, &fields);
            for engine in engines() {
                let walked = Walked::new(request.headers(), options);
                let through = engine.decide(&Request::from_http_with(&request, "http", &walked));
                let direct = engine.decide(&Request::from_http(&request, "http"));
                prop_assert_eq!(through.outcome(), direct.outcome());
                prop_assert_eq!(through.rule(), direct.rule());
                let (mut ours, mut theirs) = (HeaderMap::new(), HeaderMap::new());
                through.apply(&mut ours);
                direct.apply(&mut theirs);
                prop_assert_eq!(ours, theirs);
            }
        }
    }

    #[test]
    fn a_preflight_of_a_small_map_is_walked_once_for_all_three() {
        let request = request("OPTIONS", &[(0, 0), (1, 0), (2, 0), (3, 1)]);
        let walked = Walked::new(request.headers(), true);
        let origin: Vec<_> = walked.field_lines("origin").collect();
        assert_eq!(origin, [&HeaderValue::from_static("https://app.test")]);
        let found = walked.found.get().expect("found in one walk");
        assert_eq!(found.method, Some(&HeaderValue::from_static("PUT")));
        assert_eq!(found.headers, Some(&HeaderValue::from_static("content-type, x-token")));
        let lines = walked.preflight_lines().expect("what the walk found");
        assert_eq!(lines.request_method.first, found.method);
        assert!(!lines.request_headers.more);
    }

    #[test]
    fn two_origin_lines_are_read_from_the_map() {
        let request = request("OPTIONS", &[(1, 0), (1, 1), (2, 0)]);
        let walked = Walked::new(request.headers(), true);
        assert_eq!(walked.field_lines("origin").count(), 2);
        assert!(walked.found.get().is_none());
    }
}
