//! RFC 9110 tokens and the method-name rules of C4.

/// Whether `byte` is a `tchar` (RFC 9110 section 5.6.2).
///
/// <https://www.rfc-editor.org/rfc/rfc9110#name-tokens>
const fn is_tchar(byte: u8) -> bool {
    matches!(byte,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`'
        | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// Why `text` is not a token: `None` if it is one, else a description with the byte offset.
pub(crate) fn token_problem(text: &str) -> Option<String> {
    if text.is_empty() {
        return Some("empty, expected an RFC 9110 token".to_owned());
    }
    text.bytes().position(|b| !is_tchar(b)).map(|at| {
        let ch = text[at..].chars().next().unwrap_or('?');
        format!("{ch:?} is not allowed in an RFC 9110 token (byte {at})")
    })
}

/// The methods Fetch normalizes to upper case (C4).
///
/// <https://fetch.spec.whatwg.org/#concept-method-normalize>
const NORMALIZED_METHODS: [&str; 6] = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];

/// C4: names equal to a [`NORMALIZED_METHODS`] entry ignoring case are upper-cased, others kept.
pub(crate) fn normalize_method(name: &str) -> String {
    NORMALIZED_METHODS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_owned(), |m| (*m).to_owned())
}

/// Whether `name` is a forbidden method, compared ignoring case.
///
/// <https://fetch.spec.whatwg.org/#forbidden-method>
pub(crate) fn is_forbidden_method(name: &str) -> bool {
    ["CONNECT", "TRACE", "TRACK"].iter().any(|m| m.eq_ignore_ascii_case(name))
}

/// The C1 default `allowedMethods`, in the order C1 gives them.
pub(crate) const DEFAULT_METHODS: [&str; 8] =
    ["CONNECT", "DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"];

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::plain_name("x-token", None)]
    #[case::every_symbol("!#$%&'*+-.^_`|~09azAZ", None)]
    #[case::empty("", Some("empty, expected an RFC 9110 token"))]
    #[case::space("x token", Some("' ' is not allowed in an RFC 9110 token (byte 1)"))]
    #[case::colon("x:", Some("':' is not allowed in an RFC 9110 token (byte 1)"))]
    #[case::non_ascii("é", Some("'é' is not allowed in an RFC 9110 token (byte 0)"))]
    fn token(#[case] text: &str, #[case] expected: Option<&str>) {
        assert_eq!(token_problem(text).as_deref(), expected);
    }

    #[rstest]
    #[case::get_lower("get", "GET")]
    #[case::delete_mixed("DeLeTe", "DELETE")]
    #[case::patch_kept("patch", "patch")]
    #[case::custom_kept("Purge", "Purge")]
    fn method_case(#[case] name: &str, #[case] expected: &str) {
        assert_eq!(normalize_method(name), expected);
    }
}
