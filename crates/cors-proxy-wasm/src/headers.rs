//! Header glue between proxy-wasm's header maps and cors-engine: the request's field lines as
//! [`RequestHeaders`], and the name test the response side needs (which names are
//! `Access-Control-*`).

use cors_engine::RequestHeaders;

/// The request's header field lines as Envoy hands them over: lower-case names, raw value bytes,
/// in order, pseudo-headers (`:method`, `:authority`, ...) included.
///
/// Values are kept as bytes: an `Origin` that is not UTF-8 must reach the engine (R5), not fail a
/// conversion in the filter.
///
/// ```
/// use cors_engine::RequestHeaders;
/// use cors_proxy_wasm::RequestLines;
///
/// let lines = RequestLines::new(vec![
///     (":method".to_owned(), b"GET".to_vec()),
///     ("Origin".to_owned(), b"https://a.test".to_vec()),
/// ]);
/// assert_eq!(lines.first(":method"), Some(&b"GET"[..]));
/// assert_eq!(lines.field_lines("origin").collect::<Vec<_>>(), [&b"https://a.test"[..]]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestLines(Vec<(String, Vec<u8>)>);

impl RequestLines {
    /// Wraps the pairs `get_http_request_headers_bytes` returned.
    #[must_use]
    pub fn new(pairs: Vec<(String, Vec<u8>)>) -> RequestLines {
        RequestLines(pairs)
    }

    /// The first field line of `name` (compared ignoring ASCII case), e.g. `:method`.
    #[must_use]
    pub fn first(&self, name: &str) -> Option<&[u8]> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }
}

impl RequestHeaders for RequestLines {
    type Value = [u8];

    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }
}

/// Whether `name` starts with `prefix`, compared ignoring ASCII case (Envoy hands names over
/// lower-case, a test host may not): how the filter finds the upstream's `Access-Control-*`
/// fields (A4), and an `https://` listener address.
pub(crate) fn starts_with_ignoring_case(name: &str, prefix: &str) -> bool {
    name.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[track_caller]
    fn check_access_control(name: &str, expected: bool) {
        assert_eq!(starts_with_ignoring_case(name, "access-control-"), expected, "{name:?}");
    }

    #[rstest]
    #[case::a4_allow_origin("access-control-allow-origin", true)]
    #[case::a4_any_case("Access-Control-Expose-Headers", true)]
    #[case::a4_unknown_member("access-control-allow-private-network", true)]
    #[case::vary_is_kept("vary", false)]
    #[case::prefix_without_dash("access-control", false)]
    #[case::short_name("a", false)]
    #[case::multibyte_name_does_not_panic("accèss-control-allow-origin", false)]
    fn is_access_control_matches_the_prefix(#[case] name: &str, #[case] expected: bool) {
        check_access_control(name, expected);
    }

    #[test]
    fn request_lines_yield_every_line_in_order_ignoring_case() {
        let lines = RequestLines::new(vec![
            ("access-control-request-headers".to_owned(), b"a".to_vec()),
            ("Origin".to_owned(), b"x".to_vec()),
            ("ACCESS-CONTROL-REQUEST-HEADERS".to_owned(), b"b, c".to_vec()),
        ]);
        let acrh: Vec<&[u8]> = lines.field_lines("access-control-request-headers").collect();
        assert_eq!(acrh, [&b"a"[..], b"b, c"]);
        assert_eq!(lines.first("origin"), Some(&b"x"[..]));
        assert_eq!(lines.first(":authority"), None);
    }
}
