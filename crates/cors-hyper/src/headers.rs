//! Header surgery on responses: removing upstream `Access-Control-*` fields and merging `Vary`.

use cors_engine::Vary;
use http::header::{HeaderMap, HeaderValue, VARY};

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
pub(crate) fn merge_vary(headers: &mut HeaderMap, vary: Vary) {
    let missing = vary.missing_from(headers.get_all(VARY).iter().map(HeaderValue::as_bytes));
    if let Some(value) = missing.header_value() {
        headers.append(VARY, value.clone());
    }
}

/// The request's own field value whose bytes are `bytes`, cloned (a reference count), so that a
/// reflected `Origin` is never copied; only if the engine handed out bytes from elsewhere is a
/// new value built.
pub(crate) fn request_value(request: &HeaderMap, bytes: &[u8]) -> Option<HeaderValue> {
    let same = |value: &&HeaderValue| {
        let own = value.as_bytes();
        own.as_ptr() == bytes.as_ptr() && own.len() == bytes.len()
    };
    request
        .get_all(http::header::ORIGIN)
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
