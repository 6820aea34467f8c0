//! Reading request paths as upstreams do, for the checks that keep a request under the prefix
//! it was decided for: the gateway's check of every request path, and the Local Mode loader's
//! check of the paths a folder configures (a service's path, a route's `destinationPath`).
//!
//! One home for both: a configured path that the gateway would refuse in a request makes every
//! request of its route refused, so the loader refuses the folder instead (finding F-BR in
//! docs/robustness.md).
//!
//! ```
//! use cors_policy::path::{decoded, ends_a_target, has_dot_segment, hex_byte};
//!
//! // Dot segments in every spelling an upstream may resolve, and dots that are no segment.
//! assert!(has_dot_segment(b"/open/../secure/x"));
//! assert!(has_dot_segment(b"/open/%2e%2E/secure/x"));
//! assert!(has_dot_segment(b"/open/..;v=1/secure/x"));
//! assert!(has_dot_segment(b"/open/%252e%252e/secure/x"));
//! assert!(!has_dot_segment(b"/v1.2/..x/file.txt"));
//!
//! // The pieces the check is made of, which the gateway's readings of a path use too.
//! assert_eq!(hex_byte(b"2e"), Some(b'.'));
//! assert_eq!(hex_byte(b"zz"), None);
//! assert!(ends_a_target(b'?') && !ends_a_target(b'/'));
//! let only_dots = decoded(b"/a%2eb%2Fc", |byte| byte == b'.');
//! assert_eq!(only_dots.as_deref(), Some(&b"/a.b%2Fc"[..]));
//! assert_eq!(decoded(b"/plain", |_| true), None);
//! ```

/// Whether `path` has a `.` or `..` segment (RFC 3986 section 3.3), spelled out or
/// percent-encoded (`%2e`), between separators that may be `/`, `\` or their encodings
/// (`%2f`, `%5c`); docs/robustness.md, finding F-H.
///
/// The gateway picks a request's policy, Local Mode instance and route by its path, and puts the
/// path below the upstream's own prefix; an upstream that resolves dot segments (as most web
/// servers do, some after percent-decoding, some taking `\` for `/`) would serve a resource of
/// another prefix than the one the decision was made for, with that decision's CORS grant:
/// `/open/../secure/x` reaches what `/secure/x` names. Browsers and common clients resolve dot
/// segments before they send a request, so only a crafted request has one, and it is refused
/// rather than resolved here, which would only move the question of how the upstream reads it.
/// A segment's path parameters (`;` and what follows it, also as `%3b`) do not count: Tomcat,
/// Jetty and the Java frameworks on them drop them before resolving dot segments, so that
/// `/open/..;/secure/x` reaches `/secure/x` there (finding F-K).
/// A path without `.` or `%` has none, which most paths show after one pass.
/// A path with `%` is also read with its escapes decoded once, for the upstreams that decode a
/// path twice (finding F-AL): `/open/%252e%252e/secure/x` is `/open/../secure/x` to them.
/// An escaped `?` or `#` (`%3f`, `%23`; `?` or `#` once decoded) ends a segment for the servers
/// behind a proxy that decoded the path and sent it on as it read it, which take it for the
/// end of the path (finding F-BF): `/open/..%3F/secure/x` is `/open/..` to them; so do escaped
/// whitespace and line breaks (`%20`, `%09`, `%0A` to `%0D`), which end their request target
/// (F-BN, [`ends_a_target`]).
///
/// `#[inline]`, as the other items here: the gateway calls it for every request, from another
/// crate, and the compiler may then inline it there as it could before it moved here.
#[must_use]
#[inline]
pub fn has_dot_segment(path: &[u8]) -> bool {
    if !path.iter().any(|&b| b == b'.' || b == b'%') {
        return false;
    }
    match dot_segments_as_sent(path) {
        AsSent::DotSegment => true,
        AsSent::None { escaped } => escaped && has_dot_segment_decoded_once(path),
    }
}

/// Whether `path`, its escapes decoded once, has a dot segment as [`dot_segments_as_sent`] reads
/// it. Out of line, so that the allocation it makes costs the paths without escapes nothing
/// (measured: about 8 instructions of frame set-up per call of [`has_dot_segment`] otherwise).
#[inline(never)]
fn has_dot_segment_decoded_once(path: &[u8]) -> bool {
    decoded(path, |_| true)
        .is_some_and(|once| matches!(dot_segments_as_sent(&once), AsSent::DotSegment))
}

/// What [`dot_segments_as_sent`] found.
enum AsSent {
    /// A dot segment.
    DotSegment,
    /// None; `escaped` when the path has a `%` with two bytes after it, which a second decoding
    /// could make a dot or a separator of.
    None { escaped: bool },
}

/// Whether the path as it is has a dot segment, its escapes of `.`, `/`, `\` and `;` read as
/// those characters (see [`has_dot_segment`]). Its walk over the path notes whether any escape
/// is left for [`has_dot_segment`] to decode, so that a path without one costs nothing more.
#[inline]
fn dot_segments_as_sent(path: &[u8]) -> AsSent {
    /// What a step over the path read.
    enum Read {
        Separator,
        Dot,
        Parameters,
        /// What may end the path (see [`has_dot_segment`]), and is otherwise a byte of the
        /// segment.
        End,
        Other,
    }
    impl Read {
        /// What `byte` reads as, sent as it is or escaped.
        fn of(byte: u8) -> Self {
            match byte {
                b'/' | b'\\' => Self::Separator,
                b'.' => Self::Dot,
                b';' => Self::Parameters,
                // Sent as it is, only in a path decoded once: a request's path has none of them.
                byte if ends_a_target(byte) => Self::End,
                _ => Self::Other,
            }
        }
    }
    // The dots of the current segment, whether it has any other byte, and whether its path
    // parameters have started.
    let (mut dots, mut other, mut parameters) = (0u32, false, false);
    let mut escaped = false;
    let mut rest = path;
    loop {
        let (read, step) = match rest {
            [] => (Read::Separator, 0),
            [b'%', high, low, ..] => {
                escaped = true;
                match hex_byte(&[*high, *low]).map(Read::of) {
                    Some(read @ (Read::Separator | Read::Dot | Read::Parameters | Read::End)) => {
                        (read, 3)
                    }
                    // Another escape is a byte of the segment, and so are its `%` and digits.
                    Some(Read::Other) | None => (Read::Other, 1),
                }
            }
            [byte, ..] => (Read::of(*byte), 1),
        };
        match read {
            Read::Separator => {
                if !other && (dots == 1 || dots == 2) {
                    return AsSent::DotSegment;
                }
                if rest.is_empty() {
                    return AsSent::None { escaped };
                }
                (dots, other, parameters) = (0, false, false);
            }
            // The segment's parameters, dropped before dot segments are resolved, may come first.
            Read::End if !other && (dots == 1 || dots == 2) => return AsSent::DotSegment,
            _ if parameters => {}
            Read::Parameters => parameters = true,
            Read::Dot => dots += 1,
            Read::End | Read::Other => other = true,
        }
        rest = &rest[step..];
    }
}

/// Whether `byte`, decoded, ends the request target of a server that gets the decoded path as
/// the target of its request line (finding F-BN): `?` starts the query, `#` the fragment (F-BF);
/// whitespace ends the target in the request line (RFC 9112 section 3: SP, and the HTAB, VT, FF
/// and bare CR that lenient parsers take for it), and a line break ends the line. nginx's
/// `proxy_pass` with `$uri` sends them as they were decoded (gixy's `http_splitting` check):
/// `/admin%20HTTP/1.1%0D%0AX:/x` reaches that server as a request for `/admin`.
#[must_use]
#[inline]
pub const fn ends_a_target(byte: u8) -> bool {
    matches!(byte, b'?' | b'#' | b' ' | b'\t' | 0x0B | 0x0C | b'\r' | b'\n')
}

/// `path` with the escapes (`%` and two hex digits) of the bytes `takes` accepts decoded, once;
/// `None` when it has none of them. A `%` without two hex digits after it stays as it is.
#[must_use]
pub fn decoded(path: &[u8], takes: impl Fn(u8) -> bool) -> Option<Vec<u8>> {
    let mut decoded: Option<Vec<u8>> = None;
    let mut rest = path;
    while let Some((&first, after)) = rest.split_first() {
        let byte = after.get(..2).and_then(hex_byte).filter(|&b| first == b'%' && takes(b));
        if let Some(byte) = byte {
            let done = path.len() - rest.len();
            decoded.get_or_insert_with(|| path[..done].to_vec()).push(byte);
            rest = &after[2..];
        } else {
            if let Some(decoded) = &mut decoded {
                decoded.push(first);
            }
            rest = after;
        }
    }
    decoded
}

/// The byte the two hex digits `hex` (what follows a `%`) encode, if they are two hex digits.
#[must_use]
#[inline]
pub fn hex_byte(hex: &[u8]) -> Option<u8> {
    let digit = |byte: u8| char::from(byte).to_digit(16);
    let [high, low] = *hex else { return None };
    u8::try_from(digit(high)? << 4 | digit(low)?).ok()
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    /// The spellings of a dot segment the check refuses, and the dots, escapes and parameters it
    /// lets through (F-H, F-K, F-AL, F-BF, F-BN): the gateway refuses a request path, and the
    /// Local Mode loader a configured one, on this answer.
    #[rstest]
    #[case::parent(b"/open/../secure/x", true)]
    #[case::parent_at_the_end(b"/a/..", true)]
    #[case::parent_first(b"/../a", true)]
    #[case::current(b"/a/./b", true)]
    #[case::current_at_the_end(b"/a/.", true)]
    #[case::encoded_parent(b"/a/%2e%2e/b", true)]
    #[case::encoded_parent_upper_case(b"/a/%2E%2E/b", true)]
    #[case::half_encoded_parent(b"/a/.%2e/b", true)]
    #[case::encoded_current(b"/a/%2e/b", true)]
    #[case::parent_before_an_encoded_slash(b"/a/..%2fb", true)]
    #[case::parent_before_an_encoded_upper_case_slash(b"/a/..%2Fb", true)]
    #[case::parent_before_a_backslash(b"/a/..\\b", true)]
    #[case::parent_before_an_encoded_backslash(b"/a/..%5cb", true)]
    #[case::parent_after_an_empty_segment(b"/a//../b", true)]
    #[case::root(b"/", false)]
    #[case::no_dot(b"/orders/42", false)]
    #[case::dots_in_names(b"/v1.2/file.tar.gz", false)]
    #[case::three_dots(b"/a/.../b", false)]
    #[case::dot_prefix(b"/.well-known/x", false)]
    #[case::dots_before_a_name(b"/a/..b", false)]
    #[case::dots_after_a_name(b"/a/b../c", false)]
    #[case::three_encoded_dots(b"/a/%2e%2e%2e/b", false)]
    #[case::other_escapes(b"/a%20b/%41", false)]
    #[case::an_encoded_slash_alone(b"/a%2fb", false)]
    #[case::a_lone_percent(b"/a/%", false)]
    #[case::a_short_escape(b"/a/%2", false)]
    #[case::parent_with_parameters(b"/open/..;/secure/x", true)]
    #[case::parent_with_a_named_parameter(b"/open/..;jsessionid=1/secure", true)]
    #[case::current_with_parameters(b"/a/.;x=1/b", true)]
    #[case::parent_with_encoded_parameters(b"/a/%2e%2e%3bx/b", true)]
    #[case::parent_with_dots_in_its_parameters(b"/a/..;v=1.2/b", true)]
    #[case::parameters_with_dots_after_a_name(b"/a/b;v=../c", false)]
    #[case::parameters_alone(b"/a/;../b", false)]
    #[case::three_dots_with_parameters(b"/a/...;x/b", false)]
    #[case::asterisk(b"*", false)]
    #[case::double_encoded_parent(b"/open/%252e%252e/secure/x", true)]
    #[case::double_encoded_slash_after_a_parent(b"/a/..%252fb", true)]
    #[case::hex_digits_encoded(b"/a/%%32%65%%32%65/b", true)]
    #[case::double_encoded_parameters(b"/a/..%253bx/b", true)]
    #[case::an_encoded_percent_in_a_name(b"/100%25/x", false)]
    #[case::parent_before_an_encoded_question_mark(b"/a/..%3F/b", true)]
    #[case::parent_before_an_encoded_lower_case_question_mark(b"/a/..%3fb", true)]
    #[case::current_before_an_encoded_hash(b"/a/.%23x", true)]
    #[case::parent_with_parameters_before_an_encoded_question_mark(b"/a/..;x%3F/b", true)]
    #[case::parent_before_a_double_encoded_question_mark(b"/a/%252e%252e%253F/b", true)]
    #[case::an_encoded_question_mark_in_a_name(b"/a/x%3F../b", false)]
    #[case::dots_after_an_encoded_question_mark(b"/a/%3F../b", false)]
    #[case::parent_before_an_encoded_space(b"/a/..%20HTTP/1.1", true)]
    #[case::parent_before_an_encoded_line_break(b"/a/..%0D%0Ax:/b", true)]
    #[case::current_before_an_encoded_line_feed(b"/a/.%0a", true)]
    #[case::parent_before_an_encoded_tab(b"/a/..%09/b", true)]
    #[case::parent_before_a_double_encoded_space(b"/a/..%2520/b", true)]
    #[case::an_encoded_space_in_a_name(b"/a/x%20../b", false)]
    fn dot_segments(#[case] path: &[u8], #[case] expected: bool) {
        assert_eq!(has_dot_segment(path), expected, "{}", path.escape_ascii());
    }

    /// Only an escape of a byte `takes` accepts is decoded, from the first one on, the bytes
    /// before it kept; a `%` without two hex digits, or hex digits without a `%`, stay.
    #[test]
    fn decoded_decodes_only_the_escapes_asked_for() {
        assert_eq!(decoded(b"/ab%2e", |_| true).as_deref(), Some(&b"/ab."[..]));
        assert_eq!(decoded(b"/x/a2e%2F", |_| true).as_deref(), Some(&b"/x/a2e/"[..]));
        assert_eq!(decoded(b"/a2e/%zz/%2", |_| true), None);
        assert_eq!(decoded(b"/%41%2e", |byte| byte == b'.').as_deref(), Some(&b"/%41."[..]));
        assert_eq!(hex_byte(b"fF"), Some(0xff));
        assert_eq!(hex_byte(b"2"), None);
    }
}
