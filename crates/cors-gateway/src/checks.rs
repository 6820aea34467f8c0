//! The HTTP rules a request must meet before the CORS layer sees it: the number of fields, the
//! `Host` field (RFC 9112 section 3.2, RFC 9113 section 8.3.1), the transfer codings
//! (RFC 9112 section 6.1), a path without dot segments, and the asterisk-form target for
//! `OPTIONS` only (RFC 9112 section 3.2.4); docs/robustness.md, findings F-D, F-E, F-H, F-J and F-Q.
//!
//! The proxy reads an upstream response's transfer codings with the same [`TransferCodings`]
//! (finding F-P).
//!
//! A request that breaks one is answered here, without Access-Control-* fields, and never
//! forwarded. The checks read the header map in place and allocate nothing.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, StatusCode, Version};

/// The one check for dot segments, shared with the Local Mode loader, which refuses a configured
/// path that has one (finding F-BR).
pub(crate) use cors_policy::path::has_dot_segment;

/// Why a request is refused: the status and a short text for the body.
pub(crate) type Refusal = (StatusCode, &'static str);

/// The refusal for `request`, if it breaks a rule; `max_headers` is `--max-headers`.
pub(crate) fn refusal<B>(request: &Request<B>, max_headers: usize) -> Option<Refusal> {
    let headers = request.headers();
    if headers.len() > max_headers {
        return Some((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request header fields too large: too many fields\n",
        ));
    }
    let fields = Fields::of(headers);
    host_refusal(request, &fields)
        .or_else(|| transfer_coding_refusal(request.version(), &fields))
        .or_else(|| path_refusal(request))
}

/// The refusal of a request's path: a dot segment ([`has_dot_segment`]), or the asterisk-form
/// target `*` with another method than `OPTIONS` (RFC 9112 section 3.2.4: it names the server
/// as a whole, for `OPTIONS` only). Forwarded, `GET *` reached the upstream outside the
/// upstream URL's path prefix, which `*` is never put under (docs/robustness.md, finding F-J).
fn path_refusal<B>(request: &Request<B>) -> Option<Refusal> {
    let path = request.uri().path();
    if path == "*" {
        return (request.method() != Method::OPTIONS).then_some((
            StatusCode::BAD_REQUEST,
            "bad request: only OPTIONS may have * as its target\n",
        ));
    }
    has_dot_segment(path.as_bytes())
        .then_some((StatusCode::BAD_REQUEST, "bad request: the path has a dot segment (. or ..)\n"))
}

/// The lines of the fields the checks read, found in one walk over the fields (at most
/// `--max-headers` of them): comparing each name with two known names costs less than hashing
/// both names for a look-up each, and most requests carry no `Transfer-Encoding`.
struct Fields<'h> {
    headers: &'h HeaderMap,
    /// The first two `Host` lines.
    hosts: [Option<&'h HeaderValue>; 2],
    /// Whether there is a `Transfer-Encoding` line.
    transfer_encoding: bool,
}

impl<'h> Fields<'h> {
    fn of(headers: &'h HeaderMap) -> Self {
        let mut fields = Self { headers, hosts: [None, None], transfer_encoding: false };
        for (name, value) in headers {
            if name == header::HOST {
                if fields.hosts[0].is_none() {
                    fields.hosts[0] = Some(value);
                } else if fields.hosts[1].is_none() {
                    fields.hosts[1] = Some(value);
                }
            } else if name == header::TRANSFER_ENCODING {
                fields.transfer_encoding = true;
            }
        }
        fields
    }
}

/// RFC 9112 section 3.2: an HTTP/1.1 request needs exactly one valid `Host` line, and no request
/// may have two. RFC 9113 section 8.3.1: in HTTP/2, a `host` field that names another authority
/// than `:authority` makes the request malformed.
///
/// The target's own authority (an absolute-form target, HTTP/2 `:authority`) may not carry user
/// information (RFC 9110 section 4.2.4, RFC 9113 section 8.3.1), as `Host` may not: it is the
/// authority the request goes upstream with, as its `Host` (finding F-Q). An HTTP/2 request
/// needs `:authority` or `host` (RFC 9113 section 8.3.1), as an HTTP/1.1 one needs `Host`.
fn host_refusal<B>(request: &Request<B>, fields: &Fields<'_>) -> Option<Refusal> {
    let target = request.uri().authority();
    if target.is_some_and(|authority| authority.as_str().contains('@')) {
        return Some((
            StatusCode::BAD_REQUEST,
            "bad request: user information in the request target\n",
        ));
    }
    let host = match fields.hosts {
        [_, Some(_)] => {
            return Some((StatusCode::BAD_REQUEST, "bad request: more than one Host field\n"));
        }
        [None, None] if request.version() == Version::HTTP_11 => {
            return Some((StatusCode::BAD_REQUEST, "bad request: no Host field\n"));
        }
        [None, None] if request.version() == Version::HTTP_2 && target.is_none() => {
            return Some((StatusCode::BAD_REQUEST, "bad request: no :authority or host field\n"));
        }
        [None, None] => return None,
        [Some(host), None] => host,
    };
    if !is_valid_host(host) {
        return Some((StatusCode::BAD_REQUEST, "bad request: invalid Host field\n"));
    }
    if request.version() == Version::HTTP_2
        && let Some(authority) = request.uri().authority()
        && !authority.as_str().as_bytes().eq_ignore_ascii_case(host.as_bytes())
    {
        return Some((
            StatusCode::BAD_REQUEST,
            "bad request: the host field differs from :authority\n",
        ));
    }
    None
}

/// Whether each byte may appear in a `Host` value, indexed by the byte: unreserved characters,
/// percent signs, sub-delims, `:` and the brackets of an IP literal (RFC 3986 section 3.2.2).
static HOST_BYTES: [bool; 256] = host_bytes();

const fn host_bytes() -> [bool; 256] {
    let mut table = [false; 256];
    let mut b: u8 = 0;
    loop {
        table[b as usize] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'['
                    | b']'
            );
        if b == u8::MAX {
            break;
        }
        b += 1;
    }
    table
}

/// Whether `host` is `uri-host [ ":" port ]` as far as its bytes go (see [`HOST_BYTES`]).
/// Empty is valid (RFC 9112 section 3.2).
///
/// Hand-written because `http::uri::Authority` parses from an owned copy (an allocation per
/// request) and accepts user information, which `Host` must not carry.
///
/// One table look-up per byte, folded with `&` rather than stopping at the first invalid byte:
/// without a branch per byte the loop unrolls (measured: 80 instructions less per request with
/// a 15-byte host than a class test per byte). hyper bounds the value's length.
fn is_valid_host(host: &HeaderValue) -> bool {
    host.as_bytes().iter().fold(true, |valid, &b| valid & HOST_BYTES[usize::from(b)])
}

/// RFC 9112 section 6.1: the only transfer coding the gateway implements is `chunked`, applied
/// once. hyper decodes a body whose last coding is `chunked` and drops the rest silently
/// (`gzip, chunked` reached the upstream as a plain chunked body), so any other coding gets 501,
/// and `chunked` twice gets 400. HTTP/2 has no transfer codings (the h2 server refuses the field).
fn transfer_coding_refusal(version: Version, fields: &Fields<'_>) -> Option<Refusal> {
    if version == Version::HTTP_2 || !fields.transfer_encoding {
        return None;
    }
    let codings = TransferCodings::of(fields.headers);
    if codings.other {
        return Some((
            StatusCode::NOT_IMPLEMENTED,
            "not implemented: the only transfer coding supported is chunked\n",
        ));
    }
    (codings.chunked > 1)
        .then_some((StatusCode::BAD_REQUEST, "bad request: chunked applied twice\n"))
}

/// The elements of one line of a list-valued field (`Connection`, `Upgrade`,
/// `Transfer-Encoding`; RFC 9110 section 5.6.1): split at commas, trimmed of spaces and tabs,
/// empty elements left out, as a recipient must accept them.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|item| !item.is_empty())
}

/// The transfer codings a message's `Transfer-Encoding` lines apply, as far as the gateway
/// tells them apart: hyper decodes `chunked` when it comes last, and no other.
pub(crate) struct TransferCodings {
    /// How many times `chunked` is listed.
    pub(crate) chunked: u32,
    /// Whether another coding is listed.
    pub(crate) other: bool,
}

impl TransferCodings {
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        let mut codings = Self { chunked: 0, other: false };
        for line in headers.get_all(header::TRANSFER_ENCODING) {
            for coding in list_elements(line.as_bytes()) {
                if coding.eq_ignore_ascii_case(b"chunked") {
                    codings.chunked += 1;
                } else {
                    codings.other = true;
                }
            }
        }
        codings
    }

    /// Whether the body is as sent once hyper has decoded it: no coding, or `chunked` once.
    pub(crate) fn is_decoded_by_hyper(&self) -> bool {
        !self.other && self.chunked <= 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[track_caller]
    fn check(version: Version, target: &str, fields: &[(&str, &str)], expected: Option<u16>) {
        let mut builder = Request::builder().version(version).uri(target);
        for (name, value) in fields {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(()).unwrap();
        assert_eq!(refusal(&request, 100).map(|(status, _)| status.as_u16()), expected);
    }

    const H1: Version = Version::HTTP_11;
    const H10: Version = Version::HTTP_10;
    const H2: Version = Version::HTTP_2;

    #[rstest]
    #[case::one_host(H1, "/", &[("host", "a.test")], None)]
    #[case::host_with_port(H1, "/", &[("host", "a.test:8080")], None)]
    #[case::ipv6_host(H1, "/", &[("host", "[::1]:8080")], None)]
    #[case::empty_host(H1, "/", &[("host", "")], None)]
    #[case::no_host(H1, "/", &[], Some(400))]
    #[case::two_hosts(H1, "/", &[("host", "a.test"), ("host", "b.test")], Some(400))]
    #[case::two_equal_hosts(H1, "/", &[("host", "a.test"), ("host", "a.test")], Some(400))]
    #[case::userinfo_in_host(H1, "/", &[("host", "u@a.test")], Some(400))]
    #[case::path_in_host(H1, "/", &[("host", "a.test/x")], Some(400))]
    #[case::blank_in_host(H1, "/", &[("host", "a .test")], Some(400))]
    #[case::every_allowed_symbol(H1, "/", &[("host", "a-._~%41!$&'()*+,;=:[]")], None)]
    #[case::quote_in_host(H1, "/", &[("host", "a\"b")], Some(400))]
    #[case::brace_in_host(H1, "/", &[("host", "a{b}")], Some(400))]
    #[case::absolute_form_with_another_host(H1, "http://a.test/", &[("host", "b.test")], None)]
    #[case::absolute_form_without_host(H1, "http://a.test/", &[], Some(400))]
    #[case::http10_without_host(H10, "/", &[], None)]
    #[case::http10_with_two_hosts(H10, "/", &[("host", "a"), ("host", "b")], Some(400))]
    #[case::h2_authority_alone(H2, "http://a.test/", &[], None)]
    #[case::h2_same_host(H2, "http://a.test/", &[("host", "A.test")], None)]
    #[case::h2_other_host(H2, "http://a.test/", &[("host", "b.test")], Some(400))]
    #[case::h2_host_alone(H2, "/", &[("host", "b.test")], None)]
    #[case::h2_two_hosts(H2, "http://a.test/", &[("host", "a.test"), ("host", "a.test")], Some(400))]
    #[case::userinfo_in_the_absolute_form(H1, "http://u:p@a.test/", &[("host", "a.test")], Some(400))]
    #[case::empty_userinfo_in_the_absolute_form(H1, "http://@a.test/", &[("host", "a.test")], Some(400))]
    #[case::h2_userinfo_in_authority(H2, "http://u@a.test/", &[], Some(400))]
    #[case::h2_neither_authority_nor_host(H2, "/", &[], Some(400))]
    fn hosts(
        #[case] version: Version,
        #[case] target: &str,
        #[case] fields: &[(&str, &str)],
        #[case] expected: Option<u16>,
    ) {
        check(version, target, fields, expected);
    }

    #[rstest]
    #[case::chunked("chunked", None)]
    #[case::chunked_any_case(" Chunked ", None)]
    #[case::gzip_then_chunked("gzip, chunked", Some(501))]
    #[case::identity("identity", Some(501))]
    #[case::chunked_with_a_parameter("chunked;x=1", Some(501))]
    #[case::chunked_twice("chunked, chunked", Some(400))]
    #[case::empty_elements(", chunked ,", None)]
    fn transfer_codings(#[case] value: &str, #[case] expected: Option<u16>) {
        check(H1, "/", &[("host", "a.test"), ("transfer-encoding", value)], expected);
    }

    #[test]
    fn codings_on_two_lines_count_together() {
        check(
            H1,
            "/",
            &[("host", "a"), ("transfer-encoding", "gzip"), ("transfer-encoding", "chunked")],
            Some(501),
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(8192))]

        /// A path the check lets through has no `.` or `..` segment however an upstream reads
        /// it: parameters dropped before or after decoding, escapes decoded, `\` as `/`, runs of
        /// `/` merged, in every mix (`crate::readings`).
        #[test]
        fn a_path_without_dot_segments_has_none_as_any_upstream_reads_it(
            pieces in proptest::collection::vec(proptest::sample::select(&[
                ".", "..", "%2e", "%2E", "%2e%2E", ";", ";x", "%3b", "%3B", "/", "//", "\\", "%2f",
                "%5C", "a", "x.", ".x", "%25", "%", "%252e", "%00", " ", "%252f", "%255c", "%253b",
                "%%32%65", "%2", "e", "%3F", "%3f", "%23", "%253F", "%20", "%0D%0A", "%0a", "%09",
                "%0C", "%2520",
            ][..]), 1..8)
        ) {
            let path = format!("/{}", pieces.concat());
            if !has_dot_segment(path.as_bytes()) {
                for reading in crate::readings::Reading::ALL {
                    let read = reading.read(path.as_bytes());
                    let dots = read.split(|&b| b == b'/').any(|s| s == b"." || s == b"..");
                    proptest::prop_assert!(!dots, "{path} read as {} by {reading:?}", read.escape_ascii());
                }
            }
        }
    }

    #[rstest]
    #[case::parent(H1, "/open/../secure/x", Some(400))]
    #[case::encoded(H2, "http://a.test/a/%2e%2e/b", Some(400))]
    #[case::absolute_form(H1, "http://a.test/a/../b", Some(400))]
    #[case::dots_in_the_query_only(H1, "/a?next=../b", None)]
    #[case::dots_in_names(H1, "/v1.2/file.txt", None)]
    fn paths_with_dot_segments_get_400(
        #[case] version: Version,
        #[case] target: &str,
        #[case] expected: Option<u16>,
    ) {
        check(version, target, &[("host", "a.test")], expected);
    }

    #[rstest]
    #[case::options(H1, "OPTIONS", None)]
    #[case::get(H1, "GET", Some(400))]
    #[case::post(H1, "POST", Some(400))]
    #[case::h2_get(H2, "GET", Some(400))]
    fn only_options_may_target_the_asterisk(
        #[case] version: Version,
        #[case] method: &str,
        #[case] expected: Option<u16>,
    ) {
        let request =
            Request::builder().version(version).method(method).uri("*").header("host", "a.test");
        let request = request.body(()).unwrap();
        assert_eq!(refusal(&request, 100).map(|(status, _)| status.as_u16()), expected);
    }

    /// `--max-headers` is the most fields a request may have (100 by default,
    /// docs/operations.md): one more gets 431, as many are served.
    #[rstest]
    #[case::one_more_than_the_limit("/", 101, Some(431))]
    #[case::as_many_as_the_limit("http://a.test/", 100, None)]
    fn too_many_fields_get_431(
        #[case] target: &str,
        #[case] count: usize,
        #[case] expected: Option<u16>,
    ) {
        let fields: Vec<(String, &str)> = (0..count).map(|i| (format!("x-{i}"), "v")).collect();
        let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        check(H2, target, &fields, expected);
    }
}
