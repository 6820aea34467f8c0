//! Request-time parsing of `Origin` header bytes into borrowed views, and the R2 same-origin
//! check.

use core::fmt;

use crate::HeaderError;
use crate::host::{check_canonical_host, default_port, is_non_origin_scheme, is_scheme_syntax};

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
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OriginRef<'a> {
    text: &'a str,
    layout: Layout,
}

impl<'a> OriginRef<'a> {
    pub(crate) fn from_parts(text: &'a str, layout: Layout) -> Self {
        Self { text, layout }
    }

    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }

    /// The scheme, lowercase, without `:`.
    #[must_use]
    pub fn scheme(&self) -> &'a str {
        self.text.get(..usize::from(self.layout.scheme_len)).unwrap_or_default()
    }

    /// The host as serialized: lowercase ASCII domain, dotted-decimal IPv4, or bracketed IPv6.
    #[must_use]
    pub fn host(&self) -> &'a str {
        let start = usize::from(self.layout.scheme_len) + 3;
        self.text.get(start..usize::from(self.layout.host_end)).unwrap_or_default()
    }

    /// The port if it is given and not the scheme's default.
    #[must_use]
    pub fn port(&self) -> Option<u16> {
        self.layout.port
    }

    /// The ASCII serialization (RFC 6454 §6.2).
    #[must_use]
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// Behaviour rule R2: is this origin the one a request was addressed to, given the
    /// listener's `scheme` and the `Host` header (or `:authority`) bytes?
    ///
    /// Schemes and hosts compare case-insensitively, and a port equal to the scheme's default
    /// is the same as no port. Userinfo, whitespace or malformed ports in `authority` never
    /// match. Never allocates.
    #[must_use]
    pub fn is_same_origin_as(&self, scheme: &str, authority: &[u8]) -> bool {
        if !self.scheme().eq_ignore_ascii_case(scheme) {
            return false;
        }
        let Some((host, port)) = split_host_port(authority) else { return false };
        if !host.eq_ignore_ascii_case(self.host().as_bytes()) {
            return false;
        }
        let port = match port {
            None => None,
            Some(digits) => match parse_port(digits) {
                Some(port) => Some(port),
                None => return false,
            },
        };
        let default = default_port(self.scheme());
        let normalize = |p: Option<u16>| if p == default { None } else { p };
        normalize(port) == normalize(self.port())
    }
}

impl fmt::Display for OriginRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

impl fmt::Debug for OriginRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OriginRef({:?})", self.text)
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
        parse_tuple(bytes).map(Self::Tuple)
    }

    /// The header value's bytes (`null` for [`RequestOrigin::Null`]).
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        match self {
            Self::Null => b"null",
            Self::Tuple(origin) => origin.as_str().as_bytes(),
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

fn parse_tuple(bytes: &[u8]) -> Result<OriginRef<'_>, HeaderError> {
    let text = core::str::from_utf8(bytes).map_err(|_| HeaderError::NotAscii)?;
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
    let scheme_str = text.get(..colon).unwrap_or_default();
    if is_non_origin_scheme(scheme_str) {
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
    check_canonical_host(host)?;
    let port = match port {
        None => None,
        Some(digits) => {
            let port = parse_port(digits).ok_or(HeaderError::InvalidPort)?;
            if digits.len() > 1 && digits.first() == Some(&b'0') {
                return Err(HeaderError::NonCanonicalPort);
            }
            if default_port(scheme_str) == Some(port) {
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
    Ok(OriginRef::from_parts(text, layout))
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
