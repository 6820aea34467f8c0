//! Request-time parsing of `Origin` header bytes into borrowed views, and the R2 same-origin
//! check.

use core::fmt;
use core::net::Ipv4Addr;

use crate::ascii::host_class;
use crate::host::{
    MAX_HOST_LEN, MAX_LABEL_LEN, check_canonical_host, check_canonical_ipv6, default_port,
    ends_in_a_number, is_idna_unchanged, is_non_origin_scheme, is_scheme_syntax, is_special,
};
use crate::{HeaderError, eq_lowercase};

/// The longest `Origin` value [`RequestOrigin::parse`] looks at (behaviour rule R5).
pub const MAX_ORIGIN_LEN: usize = 2048;

/// Where the parts of a canonical serialization are. Offsets fit `u16` because serializations
/// are at most [`MAX_ORIGIN_LEN`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Layout {
    /// Length of the scheme (the index of `:`).
    pub(crate) scheme_len: u16,
    /// End of the host (exclusive).
    pub(crate) host_end: u16,
    /// The explicit, non-default port.
    pub(crate) port: Option<u16>,
}

/// A borrowed, canonical tuple origin: what [`RequestOrigin::parse`] accepted, or a view of an
/// [`Origin`](crate::Origin).
///
/// Holds the bytes it was parsed from (always ASCII); the `&str` accessors check that again
/// (`str::from_utf8`, linear in the length) so that parsing a request's `Origin` does not pay
/// for it when only bytes are needed, as in [`OriginSet::find`](crate::OriginSet::find) and
/// [`RequestOrigin::as_bytes`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OriginRef<'a> {
    /// The serialization; ASCII (every constructor checks it).
    bytes: &'a [u8],
    layout: Layout,
}

impl<'a> OriginRef<'a> {
    /// A view of `bytes`, which must be an ASCII serialization laid out as `layout` says.
    pub(crate) fn from_parts(bytes: &'a [u8], layout: Layout) -> Self {
        Self { bytes, layout }
    }

    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }

    /// The serialization's bytes (the same as [`as_str`](Self::as_str), without the check).
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub(crate) fn scheme_bytes(&self) -> &'a [u8] {
        self.bytes.get(..usize::from(self.layout.scheme_len)).unwrap_or_default()
    }

    pub(crate) fn host_bytes(&self) -> &'a [u8] {
        let start = usize::from(self.layout.scheme_len) + 3;
        self.bytes.get(start..usize::from(self.layout.host_end)).unwrap_or_default()
    }

    /// The scheme's length in bytes, without `:`: the same as `scheme().len()`, without
    /// looking at the bytes (a first test of R2 against a listener's scheme).
    #[must_use]
    #[inline]
    pub fn scheme_len(&self) -> usize {
        usize::from(self.layout.scheme_len)
    }

    /// The scheme, lowercase, without `:`.
    #[must_use]
    pub fn scheme(&self) -> &'a str {
        ascii(self.scheme_bytes())
    }

    /// The host as serialized: lowercase ASCII domain, dotted-decimal IPv4, or bracketed IPv6.
    #[must_use]
    pub fn host(&self) -> &'a str {
        ascii(self.host_bytes())
    }

    /// The port if it is given and not the scheme's default.
    #[must_use]
    pub fn port(&self) -> Option<u16> {
        self.layout.port
    }

    /// The ASCII serialization (RFC 6454 §6.2).
    #[must_use]
    pub fn as_str(&self) -> &'a str {
        ascii(self.bytes)
    }

    /// Behaviour rule R2: is this origin the one a request was addressed to, given the
    /// listener's `scheme` and the `Host` header (or `:authority`) bytes?
    ///
    /// Schemes and hosts compare case-insensitively, and a port equal to the scheme's default
    /// is the same as no port. Userinfo, whitespace or malformed ports in `authority` never
    /// match. Never allocates.
    ///
    /// The same comparison as [`is_same_origin_value`] on [`as_bytes`](Self::as_bytes), from
    /// the parts the parse already found rather than by splitting the bytes again.
    #[must_use]
    #[inline]
    pub fn is_same_origin_as(&self, scheme: &str, authority: &[u8]) -> bool {
        same_origin(self.scheme_bytes(), self.host_bytes(), self.port(), scheme, authority)
    }
}

/// Behaviour rule R2 on the `Origin` value as sent, before (or whatever) [`RequestOrigin::parse`]
/// says of it: is `origin` byte for byte the serialization of the origin a request was
/// addressed to, given the listener's `scheme` and the `Host` header (or `:authority`) bytes?
///
/// The serialization is the URL Standard's (<https://url.spec.whatwg.org/#concept-url-origin>
/// and <https://html.spec.whatwg.org/multipage/browsers.html#ascii-serialisation-of-an-origin>):
/// the scheme and the host in lower case, `://` between them, and `:port` only when the port is
/// not the scheme's default, written without leading zeros. That serialization keeps a trailing
/// dot (`https://api.example.`, a site reached at `Host: api.example.`) and hosts past DNS's
/// limits, which [`RequestOrigin::parse`] refuses: for those this is how R2 still applies.
///
/// The comparison is [`OriginRef::is_same_origin_as`]'s, and for every value
/// [`RequestOrigin::parse`] accepts as a tuple origin the answer is the same. The request's
/// `authority` is read as that method reads it: its host ignoring ASCII case, its port equal
/// once the scheme's default is elided. The value itself is not normalized: an upper-case
/// scheme or host (`HTTPS://API.example.`), a default port (`https://api.example.:443`) or a
/// leading zero are not what a browser sends, and never match; nor does an IP address in
/// another form than the URL Standard's serialization (`http://0x7f.1`, `http://127.0.0.1.`,
/// `https://[0::1]`), whatever the `authority`; nor, for a special scheme, a host with an `xn--`
/// label that is not valid IDNA (`http://xn--a.example`, `http://xn--`, `http://xn--abc-.example`
/// which decodes to ASCII), which is no URL's host, or one past the bounds within which IDNA is
/// checked without allocating (from its first label that is not lower-case letters, digits and
/// hyphens: more than 8 labels, over 253 bytes, or a label over 63), which
/// [`RequestOrigin::parse`] refuses as well. Nor does a host with a byte that no serialized
/// host has (outside printable ASCII, or one of the URL Standard's forbidden domain code points
/// other than an IPv6 address's brackets and colons), nor a value over [`MAX_ORIGIN_LEN`] bytes
/// (R5), which is not looked at.
///
/// Never allocates, never panics, and does work linear in `min(len, MAX_ORIGIN_LEN)`.
///
/// ```
/// use cors_origin::is_same_origin_value;
///
/// assert!(is_same_origin_value(b"https://api.example.", "https", b"api.example."));
/// assert!(is_same_origin_value(b"https://api.example.", "https", b"API.Example.:443"));
/// assert!(!is_same_origin_value(b"https://api.example.", "https", b"api.example"));
/// assert!(!is_same_origin_value(b"HTTPS://API.example.", "https", b"api.example."));
/// assert!(!is_same_origin_value(b"https://api.example.:443", "https", b"api.example."));
/// ```
#[must_use]
pub fn is_same_origin_value(origin: &[u8], scheme: &str, authority: &[u8]) -> bool {
    if origin.len() > MAX_ORIGIN_LEN {
        return false;
    }
    let Some((value_scheme, rest)) = origin.split_at_checked(scheme.len()) else { return false };
    let Some(after) = rest.strip_prefix(b"://") else { return false };
    let host_end = if after.first() == Some(&b'[') {
        match after.iter().position(|&b| b == b']') {
            Some(close) => close + 1,
            None => return false,
        }
    } else {
        after.iter().position(|&b| b == b':').unwrap_or(after.len())
    };
    let (host, port) = after.split_at(host_end);
    let special = is_special(value_scheme);
    if !is_serialized_host(host, special) {
        return false;
    }
    let port = match port.split_first() {
        None => None,
        Some((b':', digits)) => {
            if digits.len() > 1 && digits.first() == Some(&b'0') {
                return false;
            }
            match parse_port(digits) {
                Some(port) if default_port(value_scheme) != Some(port) => Some(port),
                _ => return false,
            }
        }
        Some(_) => return false,
    };
    // IDNA last, and only on the host of the request's own address (F-DF).
    same_origin(value_scheme, host, port, scheme, authority)
        && (!special || is_idna_unchanged(host))
}

/// Whether `host` may be a serialized host: not empty, printable ASCII without the URL
/// Standard's forbidden domain code points (<https://url.spec.whatwg.org/#forbidden-domain-code-point>),
/// or an IPv6 address in brackets. Upper case is left to [`same_origin`], which compares the
/// value as lower case.
///
/// An IP address must be as the URL Standard serializes it (finding F-CO): a bracketed host is
/// an IPv6 address, compressed (<https://url.spec.whatwg.org/#concept-ipv6-serializer>), and for
/// a `special` scheme a host that ends in a number
/// (<https://url.spec.whatwg.org/#ends-in-a-number-checker>, a trailing dot removed first) is
/// an IPv4 address in dotted decimal without a trailing dot
/// (<https://url.spec.whatwg.org/#concept-ipv4-serializer>): `0x7f.1`, `127.0.0.1.` and
/// `[0::1]` are no host's serialization. A non-special scheme's other hosts are opaque, as
/// written.
fn is_serialized_host(host: &[u8], special: bool) -> bool {
    match host {
        [] => false,
        [b'[', inner @ .., b']'] => check_canonical_ipv6(inner).is_ok(),
        _ if special && ends_in_a_number(host.strip_suffix(b".").unwrap_or(host)) => {
            core::str::from_utf8(host).is_ok_and(|text| text.parse::<Ipv4Addr>().is_ok())
        }
        _ => host.iter().all(|&b| {
            b.is_ascii_graphic()
                && !matches!(
                    b,
                    b'#' | b'%'
                        | b'/'
                        | b':'
                        | b'<'
                        | b'>'
                        | b'?'
                        | b'@'
                        | b'['
                        | b'\\'
                        | b']'
                        | b'^'
                        | b'|'
                )
        }),
    }
}

/// R2's one comparison, for [`OriginRef::is_same_origin_as`] and [`is_same_origin_value`]: an
/// origin of `value_scheme`, `host` and `port` (an explicit port, never the scheme's default)
/// against the listener's `scheme` and the request's `authority`.
///
/// `value_scheme` and `host` are compared as lower case ([`eq_lowercase`]): a value with a
/// capital never matches, whatever the case of `scheme` and `authority`.
#[inline]
fn same_origin(
    value_scheme: &[u8],
    host: &[u8],
    port: Option<u16>,
    scheme: &str,
    authority: &[u8],
) -> bool {
    // The authority must be this host (ignoring case), alone or followed by `:port`.
    // Serialized hosts contain no `:` (IPv6 ends at its `]`), so this is the split at the
    // authority's own host/port boundary, and a different host fails on its first
    // differing byte or on the length, without a scan for `:`.
    // The scheme first: a few bytes, often of another length (`https` against `http`).
    if !eq_lowercase(value_scheme, scheme.as_bytes()) {
        return false;
    }
    let Some((head, rest)) = authority.split_at_checked(host.len()) else { return false };
    if !(matches!(rest, [] | [b':', ..]) && eq_lowercase(host, head)) {
        return false;
    }
    let authority_port = match rest.split_first() {
        None => None,
        Some((_, digits)) => match parse_port(digits) {
            Some(port) => Some(port),
            None => return false,
        },
    };
    let default = default_port(value_scheme);
    let normalize = |p: Option<u16>| if p == default { None } else { p };
    normalize(authority_port) == normalize(port)
}

impl fmt::Display for OriginRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for OriginRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OriginRef({:?})", self.as_str())
    }
}

/// The value of a request's `Origin` header: `null` or a canonical tuple origin.
///
/// See [`RequestOrigin::parse`] for what is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestOrigin<'a> {
    /// The opaque origin, serialized as `null`.
    Null,
    /// A tuple origin.
    Tuple(OriginRef<'a>),
}

impl<'a> RequestOrigin<'a> {
    /// Parses `Origin` header bytes as a browser sends them
    /// ([Fetch `Origin` header](https://fetch.spec.whatwg.org/#origin-header)).
    ///
    /// Accepts exactly `null` and exactly the serializations [`Origin::parse`](crate::Origin::parse)
    /// produces; everything else is refused, never normalized (behaviour rules M1, R5).
    ///
    /// - Accepted: `null`, `https://app.example`, `http://127.0.0.1:8080`, `https://[::1]`,
    ///   `https://xn--bcher-kva.example`, `chrome-extension://abc`, `https://my_host.example`.
    /// - Refused: `Null`, `null `, `HTTPS://app.example`, `https://app.example:443`,
    ///   `https://app.example/`, `http://0x7f.1`, `https://[0:0:0:0:0:0:0:1]`,
    ///   `https://a.example https://b.example`, anything over [`MAX_ORIGIN_LEN`] bytes.
    ///
    /// Never allocates, never panics, and does work linear in `min(len, MAX_ORIGIN_LEN)`.
    ///
    /// # Errors
    ///
    /// A [`HeaderError`] naming the first violation found.
    #[inline]
    pub fn parse(bytes: &'a [u8]) -> Result<Self, HeaderError> {
        if bytes.is_empty() {
            return Err(HeaderError::Empty);
        }
        if bytes.len() > MAX_ORIGIN_LEN {
            return Err(HeaderError::TooLong);
        }
        if bytes == b"null" {
            return Ok(Self::Null);
        }
        if let Some((colon, host_end, port)) = parse_canonical(bytes) {
            // Every byte the fast path accepts is ASCII.
            let layout = Layout {
                scheme_len: u16::try_from(colon).map_err(|_| HeaderError::TooLong)?,
                host_end: u16::try_from(host_end).map_err(|_| HeaderError::TooLong)?,
                port,
            };
            return Ok(Self::Tuple(OriginRef::from_parts(bytes, layout)));
        }
        parse_tuple(bytes).map(Self::Tuple)
    }

    /// The header value's bytes (`null` for [`RequestOrigin::Null`]).
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        match self {
            Self::Null => b"null",
            Self::Tuple(origin) => origin.as_bytes(),
        }
    }

    /// The tuple origin, if this is not `null`.
    #[must_use]
    pub fn tuple(&self) -> Option<OriginRef<'a>> {
        match self {
            Self::Null => None,
            Self::Tuple(origin) => Some(*origin),
        }
    }
}

impl fmt::Display for RequestOrigin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Tuple(origin) => f.write_str(origin.as_str()),
        }
    }
}

/// Byte classes of a scheme for [`parse_canonical`]: one table lookup per byte.
const SCHEME_REST: u8 = 1;
/// `a-z`: the first byte of a scheme.
const LOWER: u8 = 2;

/// The scheme class bits of every byte.
static CLASSES: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut b: u8 = 0;
    loop {
        let mut class = 0;
        if b.is_ascii_lowercase() {
            class |= SCHEME_REST | LOWER;
        }
        if b.is_ascii_digit() || matches!(b, b'+' | b'.' | b'-') {
            class |= SCHEME_REST;
        }
        table[b as usize] = class;
        if b == u8::MAX {
            break;
        }
        b += 1;
    }
    table
}

fn class(b: u8) -> u8 {
    CLASSES[usize::from(b)]
}

/// The length of the run of bytes of class `bit` that `bytes` starts with.
///
/// An index loop rather than `position`, which kept both a pointer and a count (measured,
/// callgrind: 6 instructions a byte where `position` took 8).
#[inline]
fn run_of(bytes: &[u8], bit: u8) -> usize {
    let mut at = 0;
    while at < bytes.len() && class(bytes[at]) & bit != 0 {
        at += 1;
    }
    at
}

/// The fast path: one scan over `bytes` that recognizes the common canonical form
/// `scheme://domain[:port]` (lowercase domain without Punycode labels, not ending in a number)
/// and returns the colon's index, the end of the host and the port.
///
/// `None` means "not recognized here", never "invalid": IPv6 and IPv4 hosts, `xn--` labels and
/// every malformed value go to [`parse_tuple`], which gives the precise answer. Whatever this
/// accepts, [`parse_tuple`] accepts with the same layout.
///
/// Inlined into the parse, whose one call it is: out of line it saved and restored six registers
/// and returned its answer through memory (measured, callgrind: a preflight with a refused,
/// well-formed origin 408 instructions inlined against 450).
#[inline]
fn parse_canonical(bytes: &[u8]) -> Option<(usize, usize, Option<u16>)> {
    // Scheme: `[a-z][a-z0-9+.-]*` then `://`; `https` and `http`, by far the most common,
    // recognized by one comparison each (measured: 40 instructions less per parse than the scan).
    let host_start = if bytes.starts_with(b"https://") {
        8
    } else if bytes.starts_with(b"http://") {
        7
    } else {
        let (&first, _) = bytes.split_first()?;
        if class(first) & LOWER == 0 {
            return None;
        }
        let colon = run_of(bytes, SCHEME_REST);
        if !bytes.get(colon..)?.starts_with(b"://") || is_non_origin_scheme(bytes.get(..colon)?) {
            return None;
        }
        colon + 3
    };
    // A host of at most 253 bytes and `:65535`: longer values are never canonical here.
    let authority = bytes.get(host_start..)?;
    if authority.len() > MAX_HOST_LEN + 6 {
        return None;
    }
    // Host: labels of `a-z 0-9 - _`, 1 to 63 bytes, separated by single dots.
    let scan = scan_host(bytes, host_start);
    let (host, after) = authority.split_at_checked(scan.len)?;
    // Empty labels, `xn--` labels and labels over 63 bytes need a look at each label; hosts
    // without an irregular separator and of at most 63 bytes have none.
    if (scan.irregular || host.len() > MAX_LABEL_LEN)
        && (host.len() > MAX_HOST_LEN || !host.split(|&b| b == b'.').all(plain_label))
    {
        return None;
    }
    // IPv4 (the last label is a number, URL Standard) goes to the precise path.
    if ends_in_a_number_fast(host) {
        return None;
    }
    let port = match after {
        [] => None,
        [b':', digits @ ..] => {
            if digits.len() > 1 && digits.first() == Some(&b'0') {
                return None;
            }
            let port = parse_port(digits)?;
            if default_port(bytes.get(..host_start - 3)?) == Some(port) {
                return None;
            }
            Some(port)
        }
        _ => return None,
    };
    Some((host_start - 3, host_start + host.len(), port))
}

/// A label the fast path accepts: 1 to 63 bytes, no Punycode prefix.
fn plain_label(label: &[u8]) -> bool {
    !label.is_empty() && label.len() <= MAX_LABEL_LEN && !label.starts_with(b"xn--")
}

/// [`ends_in_a_number`] for a lowercase host without empty labels, looking only at the bytes
/// that could be part of a number: a number label is all `0-9 a-f x`, so a last label with
/// another byte (`.net`, `.example`: the last byte or a few before it) is not one.
#[inline]
fn ends_in_a_number_fast(host: &[u8]) -> bool {
    let maybe_number = |b: &u8| b.is_ascii_digit() || matches!(b, b'a'..=b'f' | b'x');
    // Most hosts end in a byte no number ends in (`.com`, `.net`): one comparison.
    if !host.last().is_some_and(maybe_number) {
        return false;
    }
    let run = host.iter().rposition(|b| !maybe_number(b)).map_or(0, |i| i + 1);
    match host.get(..run).and_then(<[u8]>::last) {
        None | Some(b'.') => ends_in_a_number(host.get(run..).unwrap_or_default()),
        Some(_) => false,
    }
}

/// What [`scan_host`] found.
struct HostScan {
    /// The host's length: the bytes before the first that is not `a-z 0-9 - . _`, or all.
    len: usize,
    /// Whether a `-` or `.` starts or ends the host, or follows another `-` or `.` (so the host
    /// is empty, or has an empty label, or may have an `xn--` label; or is as rare as `a-.b`).
    irregular: bool,
}

/// One pass over the host that starts at `start`, eight bytes at a time: its length, and
/// whether its separators are irregular.
///
/// Hand-written rather than a crate's byte-class search (`memchr` finds given bytes, not the
/// first byte outside a class) or `std::simd` (nightly only), and word-wise rather than a class
/// table lookup per byte: measured (callgrind, a refused `https://evil.example.net`), 398
/// instructions per decision with the table and one pass per label, against 345 with this.
#[inline]
fn scan_host(bytes: &[u8], start: usize) -> HostScan {
    let (words, rest) = bytes.get(start..).unwrap_or_default().as_chunks::<8>();
    // As if a separator came just before the host: a leading `-` or `.` is irregular.
    let mut before = 0x80;
    let mut irregular = 0;
    let mut at = 0;
    for word in words {
        let (outside, separators) = host_class(u64::from_le_bytes(*word));
        if outside != 0 {
            return host_ends(at, outside, separators, before, irregular);
        }
        irregular |= separators & ((separators << 8) | before);
        before = separators >> 56;
        at += 8;
    }
    if rest.is_empty() {
        // The host ends with the bytes, after a whole word: a `-` or `.` last is irregular.
        return HostScan { len: at, irregular: (irregular | before) != 0 };
    }
    // Zero above the last bytes: a zero byte is outside the class, so `outside` is not zero.
    let (outside, separators) = host_class(tail_word(bytes, rest.len()));
    host_ends(at, outside, separators, before, irregular)
}

/// The scan's answer for a host that ends in the word at `at`, before its first byte outside
/// the class (the lowest bit of `outside`).
#[inline]
fn host_ends(at: usize, outside: u64, separators: u64, before: u64, irregular: u64) -> HostScan {
    let first_outside = outside & outside.wrapping_neg();
    // The byte after the host counts as a separator: a trailing `-` or `.` is irregular.
    let separators = (separators & first_outside.wrapping_sub(1)) | first_outside;
    let irregular = irregular | (separators & ((separators << 8) | before));
    HostScan { len: at + first_outside.trailing_zeros() as usize / 8, irregular: irregular != 0 }
}

/// The last `left` bytes of `bytes` (fewer than eight) as a little-endian word, zero above them.
#[inline]
fn tail_word(bytes: &[u8], left: usize) -> u64 {
    match bytes.last_chunk::<8>() {
        // The last eight bytes, the ones before these shifted out.
        Some(last) if (1..8).contains(&left) => u64::from_le_bytes(*last) >> (8 * (8 - left)),
        _ => bytes
            .get(bytes.len().saturating_sub(left)..)
            .unwrap_or_default()
            .iter()
            .rev()
            .fold(0, |word, &b| (word << 8) | u64::from(b)),
    }
}

/// The precise parser: every form [`Origin::parse`](crate::Origin::parse) produces, and the
/// first violation of everything else, checked in a fixed order.
/// `bytes` as text; every `OriginRef` holds ASCII, so the empty fallback is never taken.
fn ascii(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or_default()
}

fn parse_tuple(bytes: &[u8]) -> Result<OriginRef<'_>, HeaderError> {
    if !bytes.is_ascii() {
        return Err(HeaderError::NotAscii);
    }
    if bytes.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(HeaderError::Whitespace);
    }
    if bytes.eq_ignore_ascii_case(b"null") {
        return Err(HeaderError::Uppercase);
    }
    let colon = bytes.iter().position(|&b| b == b':').ok_or(HeaderError::Malformed)?;
    let (scheme, rest) = bytes.split_at(colon);
    if !is_scheme_syntax(scheme) {
        return Err(HeaderError::Malformed);
    }
    if scheme.iter().any(u8::is_ascii_uppercase) {
        return Err(HeaderError::Uppercase);
    }
    if is_non_origin_scheme(scheme) {
        return Err(HeaderError::UnsupportedScheme);
    }
    let Some(after) = rest.strip_prefix(b"://") else {
        return Err(HeaderError::Malformed);
    };
    let authority_start = colon + 3;
    let authority_end = after
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#' | b'\\'))
        .map_or(bytes.len(), |i| authority_start + i);
    if authority_end < bytes.len() {
        return Err(if bytes.get(authority_end..) == Some(b"/") {
            HeaderError::TrailingSlash
        } else {
            HeaderError::Path
        });
    }
    if after.contains(&b'@') {
        return Err(HeaderError::Userinfo);
    }
    let (host, port) = split_host_port(after).ok_or(HeaderError::InvalidHost)?;
    check_canonical_host(host, is_special(scheme))?;
    let port = match port {
        None => None,
        Some(digits) => {
            let port = parse_port(digits).ok_or(HeaderError::InvalidPort)?;
            if digits.len() > 1 && digits.first() == Some(&b'0') {
                return Err(HeaderError::NonCanonicalPort);
            }
            if default_port(scheme) == Some(port) {
                return Err(HeaderError::DefaultPort);
            }
            Some(port)
        }
    };
    let layout = Layout {
        scheme_len: u16::try_from(colon).map_err(|_| HeaderError::TooLong)?,
        host_end: u16::try_from(authority_start + host.len()).map_err(|_| HeaderError::TooLong)?,
        port,
    };
    Ok(OriginRef::from_parts(bytes, layout))
}

/// Splits an authority into host (IPv6 keeps its brackets) and the digits after `:`, if any.
/// `None` when the brackets are unbalanced or something other than `:port` follows them.
fn split_host_port(authority: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let host_end = if authority.first() == Some(&b'[') {
        authority.iter().position(|&b| b == b']')? + 1
    } else {
        authority.iter().position(|&b| b == b':').unwrap_or(authority.len())
    };
    let (host, rest) = authority.split_at(host_end);
    match rest.split_first() {
        None => Some((host, None)),
        Some((b':', digits)) => Some((host, Some(digits))),
        Some(_) => None,
    }
}

/// A decimal port from 0 to 65535 (leading zeros allowed here; callers that need canonical
/// ports check them). Bounded: at most five digits are accepted.
pub(crate) fn parse_port(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits.iter().fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
    u16::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    /// [`RequestOrigin::parse`] without the fast path: what the fast path must agree with.
    fn precise(bytes: &[u8]) -> Result<RequestOrigin<'_>, HeaderError> {
        if bytes.is_empty() {
            return Err(HeaderError::Empty);
        }
        if bytes.len() > MAX_ORIGIN_LEN {
            return Err(HeaderError::TooLong);
        }
        if bytes == b"null" {
            return Ok(RequestOrigin::Null);
        }
        parse_tuple(bytes).map(RequestOrigin::Tuple)
    }

    #[track_caller]
    fn check(input: &[u8], fast: bool) {
        let shown = input.escape_ascii().to_string();
        assert_eq!(parse_canonical(input).is_some(), fast, "fast path on {shown}");
        assert_eq!(RequestOrigin::parse(input), precise(input), "{shown}");
    }

    #[rstest]
    #[case::plain_domain(b"https://app.example", true)]
    #[case::port(b"http://app.example:8080", true)]
    #[case::port_0(b"https://a.example:0", true)]
    #[case::custom_scheme(b"chrome-extension://abc", true)]
    #[case::underscore_and_hyphen(b"https://my_host-1.example", true)]
    #[case::label_of_63(format!("https://{}.example", "a".repeat(63)).leak().as_bytes(), true)]
    #[case::single_label_of_249(format!("https://{}a", "a".repeat(62).repeat(4)).leak().as_bytes(), false)]
    #[case::host_of_253_in_labels(format!("https://{}a", format!("{}.", "a".repeat(62)).repeat(4)).leak().as_bytes(), true)]
    #[case::host_of_254(format!("https://{}ab", format!("{}.", "a".repeat(62)).repeat(4)).leak().as_bytes(), false)]
    #[case::label_of_64(format!("https://{}.example", "a".repeat(64)).leak().as_bytes(), false)]
    #[case::ipv4_is_precise(b"http://127.0.0.1:8080", false)]
    #[case::hex_number_is_precise(b"http://a.0x1f", false)]
    #[case::bare_0x_is_a_number(b"http://a.0x", false)]
    #[case::hex_like_label_is_a_domain(b"http://a.0xg", true)]
    #[case::digits_then_letters(b"http://1.2.3a", true)]
    #[case::punycode_is_precise(b"https://xn--bcher-kva.example", false)]
    #[case::punycode_second_label(b"https://a.xn--bcher-kva.example", false)]
    #[case::ipv6_is_precise(b"https://[::1]", false)]
    #[case::default_port(b"https://a.example:443", false)]
    #[case::default_port_ftp(b"ftp://a.example:21", false)]
    #[case::leading_zero_port(b"https://a.example:08", false)]
    #[case::empty_port(b"https://a.example:", false)]
    #[case::port_too_big(b"https://a.example:65536", false)]
    #[case::file_scheme(b"file://a.example", false)]
    #[case::uppercase(b"https://A.example", false)]
    #[case::trailing_dot(b"https://a.example.", false)]
    #[case::empty_label(b"https://a..example", false)]
    #[case::leading_dot(b"https://.a.example", false)]
    #[case::empty_host(b"https://", false)]
    #[case::path(b"https://a.example/", false)]
    #[case::scheme_digit_first(b"1http://a.example", false)]
    #[case::null(b"null", false)]
    #[case::host_of_8_then_end(b"https://abcdefgh", true)]
    #[case::host_of_16_then_end(b"https://evil.example.net", true)]
    #[case::host_of_16_then_port(b"https://evil.example.net:8443", true)]
    #[case::host_of_7_then_port(b"https://abc.def:1", true)]
    #[case::one_byte_host(b"http://a", true)]
    #[case::short_custom_scheme(b"a://b", true)]
    #[case::short_custom_scheme_port(b"a://b:1", true)]
    #[case::host_of_63_one_label(format!("https://{}", "a".repeat(63)).leak().as_bytes(), true)]
    #[case::host_of_64_two_labels(format!("https://{}.b", "a".repeat(62)).leak().as_bytes(), true)]
    #[case::label_of_64_last(format!("https://b.{}", "a".repeat(64)).leak().as_bytes(), false)]
    #[case::label_of_63_after_word(format!("https://abcdefg.{}", "a".repeat(63)).leak().as_bytes(), true)]
    #[case::host_of_253_then_port(format!("https://{}a:8080", format!("{}.", "a".repeat(62)).repeat(4)).leak().as_bytes(), true)]
    #[case::host_of_254_then_port(format!("https://{}ab:8080", format!("{}.", "a".repeat(62)).repeat(4)).leak().as_bytes(), false)]
    #[case::xn_first_label_at_word_end(b"https://abcd.xn--bcher-kva.example", false)]
    #[case::xn_across_a_word(b"https://abcdef.xn--bcher-kva.example", false)]
    #[case::xn_last_label(b"https://a.xn--bcher-kva", false)]
    #[case::xn_uppercase(b"https://XN--bcher-kva.example", false)]
    #[case::double_hyphen_not_xn(b"https://a--b.example", true)]
    #[case::double_hyphen_across_a_word(b"https://abcdefg--b.example", true)]
    #[case::hyphen_first(b"https://-a.example", true)]
    #[case::hyphen_last(b"https://a.example-", true)]
    #[case::hyphen_before_dot(b"https://a-.example", true)]
    #[case::dot_after_hyphen_across_a_word(b"https://abcdefg-.example", true)]
    #[case::empty_label_across_a_word(b"https://abcdefg..example", false)]
    #[case::trailing_dot_at_word_end(b"https://abcdefg.", false)]
    #[case::trailing_dot_then_port(b"https://a.example.:8080", false)]
    #[case::uppercase_last(b"https://a.examplE", false)]
    #[case::uppercase_in_second_word(b"https://abcdefghiJ.example", false)]
    #[case::digits_only_host(b"http://1234", false)]
    #[case::ipv4_of_16(b"http://10.200.30.4", false)]
    #[case::ipv4_like_five_parts(b"http://1.2.3.4.5", false)]
    #[case::digit_first_last_label(b"http://a.1b", true)]
    #[case::hex_last_label(b"http://a.cafe", true)]
    #[case::number_before_letters(b"http://0x1.b", true)]
    #[case::underscore_across_a_word(b"https://abcdefg_h.example", true)]
    #[case::port_max(b"http://a.example:65535", true)]
    #[case::port_six_digits(b"http://a.example:123456", false)]
    #[case::port_not_digits(b"http://a.example:8o", false)]
    #[case::two_ports(b"http://a.example:1:2", false)]
    #[case::byte_0x80(b"https://a\x80.example", false)]
    #[case::byte_0xff_at_word_end(b"https://abcdefg\xff", false)]
    #[case::utf8_host(b"https://b\xc3\xbccher.example", false)]
    #[case::nul_byte(b"https://a\0.example", false)]
    #[case::space_then_more(b"https://a.example https://b.example", false)]
    #[case::at_sign(b"https://user@a.example", false)]
    #[case::query(b"https://a.example?x", false)]
    #[case::backtick(b"https://a`b.example", false)]
    #[case::brace(b"https://a{b.example", false)]
    fn fast_path_and_precise_parser_agree(#[case] input: &[u8], #[case] fast: bool) {
        check(input, fast);
    }

    /// What [`scan_host`] must find, byte by byte: the host runs to the first byte outside
    /// `a-z 0-9 - . _`, and is irregular when empty or when a `-` or `.` starts it, ends it or
    /// follows another.
    fn scan_model(bytes: &[u8], start: usize) -> (usize, bool) {
        let rest = &bytes[start..];
        let len = rest.iter().position(|&b| !crate::host::is_host_byte(b)).unwrap_or(rest.len());
        let host = &rest[..len];
        let separator = |b: &u8| matches!(b, b'-' | b'.');
        let irregular = host.first().is_none_or(separator)
            || host.last().is_some_and(separator)
            || host.windows(2).any(|pair| separator(&pair[0]) && separator(&pair[1]));
        (len, irregular)
    }

    #[track_caller]
    fn check_scan(bytes: &[u8], start: usize) {
        let scan = scan_host(bytes, start);
        let expected = scan_model(bytes, start);
        assert_eq!((scan.len, scan.irregular), expected, "{}", bytes.escape_ascii());
    }

    /// M1, R5: for hosts of every length from 0 to 17 after schemes of four lengths (so the host
    /// ends at every position of a word, with the bytes or before a port), every byte at every
    /// position, and every pair of separators, the word-wise scan finds what the byte-wise model
    /// does, and the parse answers as the precise parser.
    #[test]
    fn host_scan_matches_a_byte_model_around_word_boundaries() {
        // Bytes just outside the class, and non-ASCII twins (high bit set) of bytes inside it.
        let agree = [
            0, b'.', b'-', b'_', b'/', b':', b'`', b'{', b'A', b'Z', b'0', b'9', 0x80, 0xad, 0xae,
            0xb0, 0xdf, 0xe1, 0xfa, 0xfb, 0xff,
        ];
        for prefix in ["a://", "http://", "https://", "chrome-extension://"] {
            for suffix in ["", ":8080"] {
                for len in 0..=17 {
                    let base = format!("{prefix}{}{suffix}", "a".repeat(len)).into_bytes();
                    let start = prefix.len();
                    check_scan(&base, start);
                    check(&base, len > 0);
                    for at in start..start + len {
                        for byte in 0..=u8::MAX {
                            let mut bytes = base.clone();
                            bytes[at] = byte;
                            check_scan(&bytes, start);
                            if agree.contains(&byte) {
                                let shown = bytes.escape_ascii().to_string();
                                assert_eq!(
                                    RequestOrigin::parse(&bytes),
                                    precise(&bytes),
                                    "{shown}"
                                );
                            }
                        }
                        for second in at + 1..start + len {
                            for (a, b) in [(b'.', b'.'), (b'-', b'-'), (b'.', b'-'), (b'-', b'.')] {
                                let mut bytes = base.clone();
                                bytes[at] = a;
                                bytes[second] = b;
                                check_scan(&bytes, start);
                                let shown = bytes.escape_ascii().to_string();
                                assert_eq!(
                                    RequestOrigin::parse(&bytes),
                                    precise(&bytes),
                                    "{shown}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// M1: the quick number check is the URL Standard's on every host without empty labels.
    #[test]
    fn ends_in_a_number_fast_is_ends_in_a_number() {
        let labels =
            ["0", "9", "10", "0x", "0x1f", "0xg", "x", "a", "cafe", "1a", "a1", "net", "00"];
        for first in labels {
            for last in labels {
                for host in [last.to_owned(), format!("{first}.{last}")] {
                    let expected = ends_in_a_number(host.as_bytes());
                    assert_eq!(ends_in_a_number_fast(host.as_bytes()), expected, "{host}");
                }
            }
        }
    }

    fn near_canonical() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z][a-z0-9+.-]{0,6}://[a-z0-9_.-]{0,12}(:[0-9]{0,6})?",
            "(https?|wss?|ftp|file|data|x-y)://(xn--)?[a-z0-9]{0,4}(\\.(xn--)?[a-z0-9_-]{0,8}){0,4}(:0?[0-9]{0,5})?",
            "https?://[0-9a-fx.]{0,16}(:[0-9]{1,5})?",
            "https?://[a-zA-Z0-9_.:@/\\[\\]%-]{0,16}",
            "[ -~]{0,30}",
        ]
    }

    /// `Origin`-like bytes: a scheme, then bytes of the host alphabet mixed with bytes just
    /// outside it (and non-ASCII ones), then perhaps a port.
    fn near_canonical_bytes() -> impl Strategy<Value = Vec<u8>> {
        let scheme = prop::sample::select(vec!["https://", "http://", "a://", "x-y://", "ftp://"]);
        let outside = b"\0 ,/:@AFXZ[`{\x7f\x80\xad\xae\xb0\xc3\xe1\xfb\xff";
        let byte = prop_oneof![
            8 => prop::sample::select(b"abcfxz0189-._".to_vec()),
            1 => prop::sample::select(outside.to_vec()),
        ];
        let port = prop::sample::select(vec!["", ":8080", ":443", ":0", ":08", ":65536", ":"]);
        (scheme, prop::collection::vec(byte, 0..=40), port)
            .prop_map(|(scheme, host, port)| [scheme.as_bytes(), &host, port.as_bytes()].concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// M1, R5: the fast path changes how fast, never what is accepted or refused.
        #[test]
        fn fast_path_changes_no_answer(input in near_canonical()) {
            prop_assert_eq!(RequestOrigin::parse(input.as_bytes()), precise(input.as_bytes()));
        }

        /// M1, R5: the same on bytes, non-ASCII ones included; and the word-wise host scan finds
        /// what the byte-wise model does.
        #[test]
        fn fast_path_changes_no_answer_on_bytes(input in near_canonical_bytes()) {
            prop_assert_eq!(RequestOrigin::parse(&input), precise(&input));
            let start = input.windows(3).position(|w| w == b"://").map_or(0, |i| i + 3);
            let scan = scan_host(&input, start);
            prop_assert_eq!((scan.len, scan.irregular), scan_model(&input, start));
        }
    }
}
