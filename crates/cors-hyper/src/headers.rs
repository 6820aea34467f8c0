//! The layer's header work: the request's `Origin` read once for the engine and the answer, and
//! surgery on responses (removing upstream `Access-Control-*` fields, merging `Vary`).

use cors_engine::{HeaderSource, PreflightLines, RequestHeaders, Vary};
use http::header::{HeaderMap, HeaderValue, ORIGIN, VARY};

/// A request's header map with its `Origin` field looked up once, before deciding.
///
/// The engine reads `Origin` from here instead of looking it up again, and the layer clones the
/// very [`HeaderValue`] when the decision reflects the origin (a reference count), without the
/// second lookup [`request_value`] would make. Every other read goes to the map.
pub(crate) struct OriginFirst<'a> {
    map: &'a HeaderMap,
    origin: Option<&'a HeaderValue>,
    /// Whether `Origin` has more than one line: then the engine reads them all from the map.
    several: bool,
}

impl<'a> OriginFirst<'a> {
    pub(crate) fn new(map: &'a HeaderMap) -> Self {
        let mut lines = map.get_all(ORIGIN).iter();
        let origin = lines.next();
        let several = origin.is_some() && lines.next().is_some();
        Self { map, origin, several }
    }

    /// The request's own field value whose bytes are `bytes`, cloned: the `Origin` found first
    /// when they are its bytes, else as [`request_value`] finds it.
    pub(crate) fn value_of(&self, bytes: &[u8]) -> Option<HeaderValue> {
        match self.origin {
            Some(origin) if is_same_slice(origin.as_bytes(), bytes) => Some(origin.clone()),
            _ => request_value(self.map, bytes),
        }
    }
}

/// The `Origin` line found first, or every line of a name from the map.
enum Lines<'a, I> {
    One(Option<&'a [u8]>),
    All(I),
}

impl<'a, I: Iterator<Item = &'a [u8]>> Iterator for Lines<'a, I> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Lines::One(line) => line.take(),
            Lines::All(lines) => lines.next(),
        }
    }
}

impl RequestHeaders for OriginFirst<'_> {
    fn field_lines<'b>(&'b self, name: &'static str) -> impl Iterator<Item = &'b [u8]> + 'b {
        if name == "origin" && !self.several {
            Lines::One(self.origin.map(HeaderValue::as_bytes))
        } else {
            Lines::All(self.map.field_lines(name))
        }
    }

    fn header_source(&self) -> HeaderSource<'_> {
        self.map.header_source()
    }

    fn preflight_lines(&self) -> PreflightLines<'_> {
        self.map.preflight_lines()
    }
}

/// Whether `a` and `b` are the same bytes in memory (not merely equal).
fn is_same_slice(a: &[u8], b: &[u8]) -> bool {
    a.as_ptr() == b.as_ptr() && a.len() == b.len()
}

/// Removes every `Access-Control-*` field the inner service set (A4).
///
/// Each round removes at least one name, so the loop ends after at most as many rounds as there
/// are distinct `access-control-` names; the common case (none) is one scan and no removal.
pub(crate) fn remove_access_control(headers: &mut HeaderMap) {
    while let Some(name) =
        headers.keys().find(|name| name.as_str().starts_with("access-control-")).cloned()
    {
        headers.remove(&name);
    }
}

/// Appends to `headers` one `Vary` line with each token of `vary` that no `Vary` line lists yet
/// (V1, through [`Vary::missing_from`]).
///
/// `Vary: *` already covers everything and is left alone. The line is one of the engine's prebuilt
/// static values, so nothing is allocated beyond the map's entry.
#[cfg(test)]
pub(crate) fn merge_vary(headers: &mut HeaderMap, vary: Vary) {
    append_vary(headers, missing_vary(headers, vary));
}

/// The tokens of `vary` that no `Vary` line of `headers` lists yet (the first half of
/// [`merge_vary`], for a caller that sets other fields in between: looking at a map before they
/// are added is cheaper, and an empty map is not looked at all).
pub(crate) fn missing_vary(headers: &HeaderMap, vary: Vary) -> Vary {
    if headers.is_empty() || vary.is_empty() {
        return vary;
    }
    vary.missing_from(headers.get_all(VARY).iter().map(HeaderValue::as_bytes))
}

/// Appends one `Vary` line with the tokens of `missing` (the second half of [`merge_vary`]).
pub(crate) fn append_vary(headers: &mut HeaderMap, missing: Vary) {
    if let Some(value) = missing.header_value() {
        headers.append(VARY, value.clone());
    }
}

/// The request's own field value whose bytes are `bytes`, cloned (a reference count), so that a
/// reflected `Origin` is never copied; only if the engine handed out bytes from elsewhere is a
/// new value built.
pub(crate) fn request_value(request: &HeaderMap, bytes: &[u8]) -> Option<HeaderValue> {
    let same = |value: &&HeaderValue| is_same_slice(value.as_bytes(), bytes);
    request
        .get_all(ORIGIN)
        .iter()
        .find(same)
        .or_else(|| request.values().find(same))
        .cloned()
        .or_else(|| HeaderValue::from_bytes(bytes).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn map(lines: &[(&str, &str)]) -> HeaderMap {
        lines
            .iter()
            .map(|(n, v)| {
                (n.parse::<http::HeaderName>().unwrap(), HeaderValue::from_str(v).unwrap())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .fold(HeaderMap::new(), |mut m, (n, v)| {
                m.append(n, v);
                m
            })
    }

    #[track_caller]
    fn check_vary(upstream: &[&str], add: Vary, expected: &[&str]) {
        let mut headers = map(&upstream.iter().map(|v| ("vary", *v)).collect::<Vec<_>>());
        merge_vary(&mut headers, add);
        let got: Vec<&str> = headers.get_all(VARY).iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(got, expected);
    }

    #[rstest]
    #[case::added_when_absent(&[], Vary::ORIGIN, &["Origin"])]
    #[case::appended_after_upstream(&["Accept-Encoding"], Vary::ORIGIN, &["Accept-Encoding", "Origin"])]
    #[case::not_duplicated_case_insensitive(&["accept-encoding, origin"], Vary::ORIGIN, &["accept-encoding, origin"])]
    #[case::found_on_a_later_line(&["Accept", "ORIGIN"], Vary::ORIGIN, &["Accept", "ORIGIN"])]
    #[case::star_stays_alone(&["*"], Vary::ORIGIN, &["*"])]
    #[case::star_inside_a_list(&["Accept, *"], Vary::ORIGIN, &["Accept, *"])]
    #[case::several_joined_in_one_line(&[], Vary::ORIGIN.with(Vary::REQUEST_HEADERS), &["Origin, Access-Control-Request-Headers"])]
    #[case::only_missing_ones_added(&["Origin"], Vary::ORIGIN.with(Vary::REQUEST_METHOD), &["Origin", "Access-Control-Request-Method"])]
    #[case::nothing_to_add(&["Accept"], Vary::NONE, &["Accept"])]
    #[case::token_prefix_is_not_a_match(&["Origin-Agent"], Vary::ORIGIN, &["Origin-Agent", "Origin"])]
    fn vary_merge(#[case] upstream: &[&str], #[case] add: Vary, #[case] expected: &[&str]) {
        check_vary(upstream, add, expected);
    }

    #[test]
    fn every_access_control_field_is_removed_and_others_kept() {
        let mut headers = map(&[
            ("access-control-allow-origin", "*"),
            ("access-control-allow-origin", "https://evil.test"),
            ("access-control-expose-headers", "x-secret"),
            ("access-control-allow-private-network", "true"),
            ("content-type", "text/plain"),
            ("x-access-control-note", "kept"),
        ]);
        remove_access_control(&mut headers);
        let mut names: Vec<&str> = headers.keys().map(http::HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-type", "x-access-control-note"]);
    }

    #[test]
    fn reflected_value_is_the_request_field_itself() {
        let request = map(&[("origin", "https://app.test")]);
        let bytes = request.get("origin").unwrap().as_bytes();
        let value = request_value(&request, bytes).unwrap();
        assert_eq!(value.as_bytes().as_ptr(), bytes.as_ptr());
    }
}
