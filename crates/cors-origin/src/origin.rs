//! [`Origin`]: a configured tuple origin, parsed once at load time and canonicalized.

use core::cmp::Ordering;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::str::FromStr;

use crate::error::Subject;
use crate::host::{default_port, is_host_byte, is_non_origin_scheme, is_scheme_syntax, is_special};
use crate::request::{Layout, parse_port};
use crate::{HeaderError, OriginRef, ParseError, ParseErrorKind, RequestOrigin};

/// A tuple origin (scheme, host, port) in canonical form, with its ASCII serialization
/// (RFC 6454 §6.2).
///
/// Two origins are equal exactly when their serializations are (RFC 6454 §5); `Eq`, `Hash` and
/// `Ord` all use the serialization.
#[derive(Clone)]
pub struct Origin {
    text: Box<str>,
    layout: Layout,
}

/// What [`Origin::parse_with_notes`] changed or tolerated while canonicalizing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseNotes {
    trailing_slash: bool,
    rewritten: bool,
}

impl ParseNotes {
    /// The input ended with a single `/`, which was dropped (behaviour rule C4 warns about it).
    #[must_use]
    pub fn had_trailing_slash(&self) -> bool {
        self.trailing_slash
    }

    /// The serialization differs from the input (case, IDNA, IP form, default port, or `/`).
    #[must_use]
    pub fn was_rewritten(&self) -> bool {
        self.rewritten
    }
}

impl Origin {
    /// Parses and canonicalizes a configured origin (behaviour rule C4).
    ///
    /// Lowercases the scheme; for a special scheme (`http`, `https`, `ws`, `wss`, `ftp`),
    /// lowercases the host, converts Unicode hosts to Punycode (UTS 46 as the URL Standard
    /// applies it) and rewrites every IPv4 form the URL Standard accepts to dotted decimal;
    /// keeps a non-special scheme's host as written, as the URL Standard's opaque-host parser
    /// does; compresses IPv6, drops the default port, and tolerates one trailing `/`.
    ///
    /// - Accepted: `https://App.Example` (as `https://app.example`), `https://bücher.example`
    ///   (as `https://xn--bcher-kva.example`), `http://0x7f.1` (as `http://127.0.0.1`),
    ///   `https://a.example:443/` (as `https://a.example`), `https://[0:0::1]:8443`,
    ///   `chrome-extension://abc`, `Safari-Web-Extension://140BB581-A2C0` (as
    ///   `safari-web-extension://140BB581-A2C0`), `x-app://0x7f.1` (as it is).
    /// - Refused: `https://a.example/x`, `https://u@a.example`, `https://a.example?q`,
    ///   `https://a.example:`, `https://a.example:65536`, `https://a.example.`, `file:///x`,
    ///   `a.example`, `https://a example`.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] with the kind of violation, its byte offset, and the input.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        Self::parse_with_notes(input).map(|(origin, _)| origin)
    }

    /// Like [`Origin::parse`], and also says what was tolerated or rewritten, for lints.
    ///
    /// # Errors
    ///
    /// As [`Origin::parse`].
    pub fn parse_with_notes(input: &str) -> Result<(Self, ParseNotes), ParseError> {
        parse_config(input, Subject::Origin, false)
    }

    /// The scheme, lowercase.
    #[must_use]
    pub fn scheme(&self) -> &str {
        self.text.get(..usize::from(self.layout.scheme_len)).unwrap_or_default()
    }

    /// The host as serialized (IPv6 in brackets).
    #[must_use]
    pub fn host(&self) -> &str {
        let start = usize::from(self.layout.scheme_len) + 3;
        self.text.get(start..usize::from(self.layout.host_end)).unwrap_or_default()
    }

    /// The explicit port, if it is not the scheme's default.
    #[must_use]
    pub fn port(&self) -> Option<u16> {
        self.layout.port
    }

    /// The ASCII serialization (RFC 6454 §6.2), e.g. `https://app.example:8443`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A borrowed view, as [`RequestOrigin::parse`] would return for [`Origin::as_str`].
    #[must_use]
    pub fn as_ref(&self) -> OriginRef<'_> {
        OriginRef::from_parts(self.text.as_bytes(), self.layout)
    }

    /// Same as [`Origin::as_ref`].
    #[must_use]
    pub fn to_ref(&self) -> OriginRef<'_> {
        self.as_ref()
    }

    /// Is `request` this origin? Byte equality of serializations (behaviour rule M1).
    #[must_use]
    pub fn matches(&self, request: &RequestOrigin<'_>) -> bool {
        request.as_bytes() == self.text.as_bytes()
    }

    fn from_ref(origin: OriginRef<'_>) -> Self {
        Self { text: origin.as_str().into(), layout: origin.layout() }
    }
}

impl PartialEq for Origin {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Origin {}

impl Hash for Origin {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl PartialOrd for Origin {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Origin {
    fn cmp(&self, other: &Self) -> Ordering {
        self.text.cmp(&other.text)
    }
}

impl PartialEq<OriginRef<'_>> for Origin {
    fn eq(&self, other: &OriginRef<'_>) -> bool {
        self.text.as_bytes() == other.as_bytes()
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Origin({:?})", self.text)
    }
}

impl FromStr for Origin {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, ParseError> {
        Self::parse(input)
    }
}

/// The configuration-time parser behind [`Origin::parse`] and subdomain patterns.
///
/// With `wildcard`, the host must start with `*.`, which is skipped; the returned origin is the
/// pattern's base (`scheme://domain[:port]`).
pub(crate) fn parse_config(
    input: &str,
    subject: Subject,
    wildcard: bool,
) -> Result<(Origin, ParseNotes), ParseError> {
    let err = |kind, offset| ParseError::new(kind, input, offset, subject);
    let bytes = input.as_bytes();
    if bytes.is_empty() {
        return Err(err(ParseErrorKind::Empty, 0));
    }
    if let Some(i) = bytes.iter().position(|&b| b.is_ascii_whitespace() || b == 0x0b) {
        return Err(err(ParseErrorKind::Whitespace, i));
    }
    if let Some(i) = bytes.iter().position(|&b| b.is_ascii_control()) {
        return Err(err(ParseErrorKind::ControlCharacter, i));
    }

    let (scheme, authority_start) = split_scheme(input).map_err(|(kind, at)| err(kind, at))?;
    let (authority_end, trailing_slash) =
        authority_end(bytes, authority_start).map_err(|(kind, at)| err(kind, at))?;
    let mut notes = ParseNotes { trailing_slash, rewritten: false };
    let authority = &bytes[authority_start..authority_end];
    if authority.contains(&b'@') {
        return Err(err(ParseErrorKind::Userinfo, authority_start));
    }

    // Host and port.
    let mut host_start = authority_start;
    if wildcard {
        if !authority.starts_with(b"*.") {
            return Err(err(ParseErrorKind::InvalidWildcard, authority_start));
        }
        host_start += 2;
    }
    let (host_end, port_digits) = split_config_authority(bytes, host_start, authority_end)
        .map_err(|(kind, offset)| err(kind, offset))?;
    let host_raw = input.get(host_start..host_end).unwrap_or_default();
    let host =
        canonical_host(host_raw, &scheme).map_err(|(kind, at)| err(kind, host_start + at))?;
    let port = match port_digits {
        None => None,
        Some(start) => {
            let digits = &bytes[start..authority_end];
            let significant = match digits.iter().position(|&b| b != b'0') {
                Some(first) => &digits[first..],
                None if digits.is_empty() => digits,
                None => b"0",
            };
            let port = parse_port(significant)
                .filter(|_| digits.iter().all(u8::is_ascii_digit))
                .ok_or_else(|| {
                    let at = if digits.is_empty() { start - 1 } else { start };
                    err(ParseErrorKind::InvalidPort, at)
                })?;
            (default_port(scheme.as_bytes()) != Some(port)).then_some(port)
        }
    };

    let mut text = String::with_capacity(scheme.len() + 3 + host.len() + 6);
    text.push_str(&scheme);
    text.push_str("://");
    text.push_str(&host);
    if let Some(port) = port {
        text.push(':');
        text.push_str(&port.to_string());
    }
    // Final check: the result must be exactly what the request-time parser accepts. The host
    // rules with no earlier, more precise report (DNS lengths, mapped characters) surface here.
    let origin = match RequestOrigin::parse(text.as_bytes()) {
        Ok(RequestOrigin::Tuple(origin)) => Origin::from_ref(origin),
        Err(HeaderError::TooLong) => return Err(err(ParseErrorKind::TooLong, 0)),
        Err(
            HeaderError::InvalidPort | HeaderError::NonCanonicalPort | HeaderError::DefaultPort,
        ) => {
            return Err(err(ParseErrorKind::InvalidPort, host_end));
        }
        Err(HeaderError::HostTooLong) => return Err(err(ParseErrorKind::HostTooLong, host_start)),
        Err(HeaderError::LabelTooLong) => {
            return Err(err(ParseErrorKind::LabelTooLong, host_start));
        }
        Err(HeaderError::TooManyIdnLabels) => {
            return Err(err(ParseErrorKind::TooManyIdnLabels, host_start));
        }
        // `Null` cannot happen: `text` contains `://`.
        Ok(RequestOrigin::Null) | Err(_) => {
            return Err(err(ParseErrorKind::InvalidHost, host_start));
        }
    };
    let text = origin.as_str();
    notes.rewritten = notes.trailing_slash
        || input.get(..authority_start) != text.get(..authority_start)
        || input.get(host_start..authority_end) != text.get(authority_start..);
    Ok((origin, notes))
}

/// Splits off and lowercases the scheme; returns it and where the authority starts (after `//`).
fn split_scheme(input: &str) -> Result<(String, usize), (ParseErrorKind, usize)> {
    let bytes = input.as_bytes();
    let Some(colon) = bytes.iter().position(|&b| b == b':') else {
        return Err((ParseErrorKind::MissingScheme, 0));
    };
    let scheme_raw = input.get(..colon).unwrap_or_default();
    if scheme_raw.is_empty() {
        return Err((ParseErrorKind::MissingScheme, 0));
    }
    if !is_scheme_syntax(scheme_raw.as_bytes()) {
        // `*.a.example` is a common slip: there is no scheme at all.
        let looks_like_host = scheme_raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'*' | b'_'));
        let kind = if looks_like_host {
            ParseErrorKind::MissingScheme
        } else {
            ParseErrorKind::InvalidScheme
        };
        return Err((kind, 0));
    }
    let scheme = scheme_raw.to_ascii_lowercase();
    if is_non_origin_scheme(scheme.as_bytes()) {
        return Err((ParseErrorKind::UnsupportedScheme, 0));
    }
    let after_colon = colon + 1;
    let rest = bytes.get(after_colon..).unwrap_or_default();
    if !rest.starts_with(b"//") {
        // `localhost:8080`: a host and port without a scheme.
        if default_port(scheme.as_bytes()).is_none() && rest.iter().all(u8::is_ascii_digit) {
            return Err((ParseErrorKind::MissingScheme, 0));
        }
        return Err((ParseErrorKind::MissingSlashes, after_colon));
    }
    Ok((scheme, after_colon + 2))
}

/// Finds where the authority ends, and whether a single tolerated `/` follows it.
fn authority_end(bytes: &[u8], start: usize) -> Result<(usize, bool), (ParseErrorKind, usize)> {
    let rest = bytes.get(start..).unwrap_or_default();
    let Some(end) = rest.iter().position(|&b| matches!(b, b'/' | b'?' | b'#' | b'\\')) else {
        return Ok((bytes.len(), false));
    };
    let end = start + end;
    match bytes.get(end..).unwrap_or_default() {
        [b'/'] => Ok((end, true)),
        [b'/', b'?', ..] => Err((ParseErrorKind::Query, end + 1)),
        [b'/', b'#', ..] => Err((ParseErrorKind::Fragment, end + 1)),
        [b'?', ..] => Err((ParseErrorKind::Query, end)),
        [b'#', ..] => Err((ParseErrorKind::Fragment, end)),
        _ => Err((ParseErrorKind::Path, end)),
    }
}

/// Finds the end of the host and the start of the port digits (after `:`) in
/// `bytes[host_start..authority_end]`.
fn split_config_authority(
    bytes: &[u8],
    host_start: usize,
    authority_end: usize,
) -> Result<(usize, Option<usize>), (ParseErrorKind, usize)> {
    let authority = &bytes[host_start..authority_end];
    let host_len = if authority.first() == Some(&b'[') {
        match authority.iter().position(|&b| b == b']') {
            Some(close) => close + 1,
            None => return Err((ParseErrorKind::InvalidIpAddress, host_start)),
        }
    } else {
        authority.iter().position(|&b| b == b':').unwrap_or(authority.len())
    };
    let host_end = host_start + host_len;
    match bytes[host_end..authority_end].first() {
        None => Ok((host_end, None)),
        Some(b':') => Ok((host_end, Some(host_end + 1))),
        Some(_) => Err((ParseErrorKind::InvalidHost, host_end)),
    }
}

/// Canonicalizes a configured host with the URL Standard's host parser, after lexical checks
/// that give precise offsets (relative to the host). Non-special schemes take ASCII hosts only,
/// which the URL Standard's opaque-host parser keeps as written: no lower case, no IPv4, no
/// IDNA (`x-app://0x7f.1` stays so; a browser that gives such a URL an origin sends it so).
fn canonical_host(host: &str, scheme: &str) -> Result<String, (ParseErrorKind, usize)> {
    let bytes = host.as_bytes();
    if bytes.is_empty() {
        return Err((ParseErrorKind::EmptyHost, 0));
    }
    let special = is_special(scheme.as_bytes());
    if let [b'[', inner @ .., b']'] = bytes {
        if let Some(i) = inner.iter().position(|&b| b == b'%') {
            return Err((ParseErrorKind::ZoneId, i + 1));
        }
        return match url::Host::parse(host) {
            Ok(host @ url::Host::Ipv6(_)) => Ok(host.to_string()),
            _ => Err((ParseErrorKind::InvalidIpAddress, 0)),
        };
    }
    for (i, b) in bytes.iter().enumerate() {
        let b = b.to_ascii_lowercase();
        if b == b'*' {
            return Err((ParseErrorKind::InvalidWildcard, i));
        }
        if b.is_ascii() && !is_host_byte(b) {
            return Err((ParseErrorKind::InvalidHost, i));
        }
        if !b.is_ascii() && !special {
            return Err((ParseErrorKind::InvalidHost, i));
        }
    }
    let mut offset = 0;
    for label in host.split('.') {
        if label.is_empty() {
            return Err((ParseErrorKind::EmptyLabel, offset));
        }
        offset += label.len() + 1;
    }
    let parsed = if special { url::Host::parse(host) } else { url::Host::parse_opaque(host) };
    match parsed {
        Ok(url::Host::Domain(domain)) => {
            // The domain's own bytes, lowercase ASCII after IDNA (an opaque host's as written);
            // anything IDNA mapped to a character outside the alphabet is caught by the final
            // check.
            Ok(domain)
        }
        Ok(host @ url::Host::Ipv4(_)) => Ok(host.to_string()),
        Ok(url::Host::Ipv6(_)) | Err(url::ParseError::InvalidIpv4Address) => {
            Err((ParseErrorKind::InvalidIpAddress, 0))
        }
        Err(url::ParseError::EmptyHost) => Err((ParseErrorKind::EmptyHost, 0)),
        Err(_) => Err((ParseErrorKind::InvalidHost, 0)),
    }
}
