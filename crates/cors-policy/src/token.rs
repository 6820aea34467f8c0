//! RFC 9110 tokens ([`is_token`], shared with `cors-engine`) and the method-name rules of C4.

/// Whether each byte is a `tchar`, indexed by the byte.
static TCHAR: [bool; 256] = tchar_table();

const fn tchar_table() -> [bool; 256] {
    let mut table = [false; 256];
    let mut b: u8 = 0;
    loop {
        table[b as usize] = matches!(b,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
            | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z');
        if b == u8::MAX {
            break;
        }
        b += 1;
    }
    table
}

/// Whether `byte` is an RFC 9110 `tchar`: a visible ASCII character other than a delimiter
/// (`"(),/:;<=>?@[\]{}`). One table lookup.
///
/// [RFC 9110 section 5.6.2](https://www.rfc-editor.org/rfc/rfc9110#name-tokens)
///
/// ```
/// assert!(cors_policy::is_tchar(b'~'));
/// assert!(!cors_policy::is_tchar(b','));
/// ```
#[must_use]
#[inline]
pub fn is_tchar(byte: u8) -> bool {
    TCHAR[usize::from(byte)]
}

/// Whether `bytes` is an RFC 9110 `token`: one or more [`tchar`](is_tchar)s.
///
/// Header field names and method names are tokens; the policy checks configured names with it,
/// and `cors-engine` checks requested methods and header names (behaviour rule P2).
///
/// [RFC 9110 section 5.6.2](https://www.rfc-editor.org/rfc/rfc9110#name-tokens)
///
/// ```
/// assert!(cors_policy::is_token(b"X-Token"));
/// assert!(!cors_policy::is_token(b""));
/// assert!(!cors_policy::is_token(b"x token"));
/// ```
#[must_use]
#[inline]
pub fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| is_tchar(b))
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
    #[case::every_symbol(b"!#$%&'*+-.^_`|~09azAZ", true)]
    #[case::empty(b"", false)]
    #[case::space(b"x token", false)]
    #[case::comma(b"a,b", false)]
    #[case::delimiters_each(b"\"(),/:;<=>?@[\\]{}", false)]
    #[case::del(b"x\x7f", false)]
    #[case::non_ascii("\u{e9}".as_bytes(), false)]
    fn token_bytes(#[case] bytes: &[u8], #[case] expected: bool) {
        assert_eq!(is_token(bytes), expected);
        // Every byte of a token is a `tchar`, and `token_problem` agrees with `is_token`.
        if expected {
            assert!(bytes.iter().all(|&b| is_tchar(b)));
        }
        if let Ok(text) = core::str::from_utf8(bytes) {
            assert_eq!(token_problem(text).is_none(), expected);
        }
    }

    #[test]
    fn no_delimiter_is_a_tchar() {
        for b in *b"\"(),/:;<=>?@[\\]{} \t" {
            assert!(!is_tchar(b), "{:?}", char::from(b));
        }
        assert_eq!((0..=u8::MAX).filter(|&b| is_tchar(b)).count(), 77);
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
