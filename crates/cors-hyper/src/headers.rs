//! The layer's header work on responses: removing upstream `Access-Control-*` fields, merging
//! `Vary`.

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
}
