//! Error types: [`ParseError`] for configuration-time parsing, [`HeaderError`] for `Origin`
//! header bytes.

use core::fmt;

use crate::Quoted;

/// What went wrong while parsing a configured origin or origin pattern.
///
/// Each variant names one violation; [`ParseError::offset`] says where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The input is empty.
    Empty,
    /// The input contains whitespace (an origin never does; a list must be split first).
    Whitespace,
    /// The input contains a control character.
    ControlCharacter,
    /// The input is longer than [`MAX_ORIGIN_LEN`](crate::MAX_ORIGIN_LEN) once serialized.
    TooLong,
    /// There is no `scheme:` in front.
    MissingScheme,
    /// The scheme contains characters RFC 3986 §3.1 does not allow.
    InvalidScheme,
    /// The scheme has no tuple origin (`file`, `data`, `blob`, `javascript`, `about`, `filesystem`).
    UnsupportedScheme,
    /// The scheme is not followed by `//`.
    MissingSlashes,
    /// The authority has a `user:password@` part.
    Userinfo,
    /// There is a path (anything after the authority other than one `/`).
    Path,
    /// There is a `?query`.
    Query,
    /// There is a `#fragment`.
    Fragment,
    /// The host is empty.
    EmptyHost,
    /// The host contains a character outside the accepted host alphabet, or fails IDNA processing.
    InvalidHost,
    /// The host has an empty label (this includes a trailing dot).
    EmptyLabel,
    /// The host is longer than 253 bytes, the DNS limit (RFC 1035 section 2.3.4).
    HostTooLong,
    /// A label of the host is longer than 63 bytes, the DNS limit (RFC 1035 section 2.3.4).
    LabelTooLong,
    /// The host has a Punycode (`xn--`) label, or Unicode that becomes one, and more than 8
    /// labels: this crate's limit, under which checking such a host in a request's `Origin`
    /// (IDNA) never allocates.
    TooManyIdnLabels,
    /// The host looks like an IP address but is not a valid one.
    InvalidIpAddress,
    /// An IPv6 address carries a zone identifier (`%eth0`).
    ZoneId,
    /// The port is empty, not decimal, or larger than 65535.
    InvalidPort,
    /// A `*` is somewhere other than as the whole first label of an origin pattern's host.
    InvalidWildcard,
    /// A subdomain pattern's domain is an IP address.
    WildcardOnIpAddress,
    /// `null` spelled with uppercase letters (`Null`, `NULL`); only `null` is the opaque origin.
    NullNotLowercase,
}

impl ParseErrorKind {
    /// A cheap hint for fixing the input, if there is one.
    #[must_use]
    pub fn hint(self) -> Option<&'static str> {
        Some(match self {
            Self::Whitespace => "an origin has no spaces; list several origins as separate entries",
            Self::MissingScheme | Self::MissingSlashes => {
                "write an origin as scheme://host[:port], e.g. https://app.example"
            }
            Self::UnsupportedScheme => {
                "only schemes with hosts have tuple origins; use \"null\" to match opaque origins"
            }
            Self::Userinfo => "remove the `user@` part; browsers never send credentials in Origin",
            Self::Path | Self::Query | Self::Fragment => {
                "an origin is only scheme://host[:port]; remove everything after the host and port"
            }
            Self::EmptyLabel => "remove the empty label (a trailing dot names a different host)",
            Self::ZoneId => "zone identifiers never appear in origins; remove the `%...` part",
            Self::InvalidPort => "a port is a decimal number from 0 to 65535",
            Self::InvalidWildcard => {
                "write a subdomain pattern as scheme://*.domain[:port], with `*` as the whole first label"
            }
            Self::WildcardOnIpAddress => "subdomain patterns need a domain name, not an IP address",
            Self::NullNotLowercase => "write \"null\" in lowercase; browsers send exactly that",
            Self::InvalidHost => {
                "hosts use letters, digits, `-`, `_` and `.` (Unicode is converted to Punycode)"
            }
            Self::TooManyIdnLabels => {
                "a host with Unicode or an `xn--` label may have at most 8 labels here, so that \
                 checking it in a request never allocates; requests from such a host are refused \
                 too"
            }
            _ => return None,
        })
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty value",
            Self::Whitespace => "whitespace is not allowed in an origin",
            Self::ControlCharacter => "control characters are not allowed in an origin",
            Self::TooLong => "origin is longer than 2048 bytes",
            Self::MissingScheme => "missing scheme",
            Self::InvalidScheme => "invalid scheme",
            Self::UnsupportedScheme => "scheme has no tuple origin",
            Self::MissingSlashes => "missing `//` after the scheme",
            Self::Userinfo => "userinfo is not allowed in an origin",
            Self::Path => "path is not allowed in an origin",
            Self::Query => "query is not allowed in an origin",
            Self::Fragment => "fragment is not allowed in an origin",
            Self::EmptyHost => "empty host",
            Self::InvalidHost => "invalid host",
            Self::EmptyLabel => "empty label in host",
            Self::HostTooLong => "host is longer than 253 bytes",
            Self::LabelTooLong => "host has a label longer than 63 bytes",
            Self::TooManyIdnLabels => "host has a Punycode label and more than 8 labels",
            Self::InvalidIpAddress => "invalid IP address",
            Self::ZoneId => "IPv6 zone identifier is not allowed in an origin",
            Self::InvalidPort => "invalid port",
            Self::InvalidWildcard => "misplaced wildcard",
            Self::WildcardOnIpAddress => "subdomain pattern on an IP address",
            Self::NullNotLowercase => "`null` must be lowercase",
        })
    }
}

/// What was being parsed, for the error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Subject {
    Origin,
    Pattern,
}

/// An invalid configured origin or origin pattern: what is wrong, where, and the input itself.
///
/// `Display` names the input, the violation and its byte offset, and nothing more:
/// `invalid origin "https://a.test/x": path is not allowed in an origin (byte 14)`.
/// A long input is quoted cut short ([`Quoted`]), about its first 200 bytes followed by `…` and
/// its length: `invalid origin "https://aaaa[190 more]"… (100013 bytes): origin is longer than
/// 2048 bytes (byte 0)`; [`input`](Self::input) still gives it whole.
/// The fix, when there is a cheap one, is [`hint`](Self::hint), kept apart so that a caller
/// shows it in its own place (cors-policy puts it in the diagnostic's hint).
///
/// ```
/// let error = cors_origin::Origin::parse("https://a.test/x").unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "invalid origin \"https://a.test/x\": path is not allowed in an origin (byte 14)",
/// );
/// assert_eq!(
///     error.hint(),
///     Some("an origin is only scheme://host[:port]; remove everything after the host and port"),
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    kind: ParseErrorKind,
    input: Box<str>,
    offset: usize,
    subject: Subject,
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind, input: &str, offset: usize, subject: Subject) -> Self {
        Self { kind, input: input.into(), offset, subject }
    }

    /// The kind of violation.
    #[must_use]
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// The byte offset in [`input`](Self::input) where the problem starts.
    #[must_use]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The input, exactly as given.
    #[must_use]
    pub fn input(&self) -> &str {
        &self.input
    }

    /// A hint for fixing the input, if there is a cheap one (same as [`ParseErrorKind::hint`]).
    #[must_use]
    pub fn hint(&self) -> Option<&'static str> {
        self.kind.hint()
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.subject {
            Subject::Origin => "origin",
            Subject::Pattern => "origin pattern",
        };
        write!(f, "invalid {what} {}: {} (byte {})", Quoted(&self.input), self.kind, self.offset)
    }
}

impl std::error::Error for ParseError {}

/// Why `Origin` header bytes were refused by [`RequestOrigin::parse`](crate::RequestOrigin::parse).
///
/// A `Copy` kind without the input, so reporting a refusal never allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderError {
    /// The value is empty.
    Empty,
    /// The value is longer than [`MAX_ORIGIN_LEN`](crate::MAX_ORIGIN_LEN).
    TooLong,
    /// The value contains non-ASCII bytes.
    NotAscii,
    /// The value contains whitespace or control bytes (for example a space-separated list).
    Whitespace,
    /// The value is not `scheme://authority` at all.
    Malformed,
    /// The scheme has no tuple origin (`file`, `data`, ...).
    UnsupportedScheme,
    /// The authority has userinfo.
    Userinfo,
    /// A path, query or fragment follows the authority.
    Path,
    /// A single `/` follows the authority.
    TrailingSlash,
    /// The scheme, a special scheme's host or `null` is not lowercase.
    Uppercase,
    /// The host is empty.
    EmptyHost,
    /// The host is not a valid domain or IP address in the accepted alphabet.
    InvalidHost,
    /// The host is longer than 253 bytes, the DNS limit.
    HostTooLong,
    /// A label of the host is longer than 63 bytes, the DNS limit.
    LabelTooLong,
    /// The host has a Punycode (`xn--`) label and more than 8 labels: this crate's limit, under
    /// which checking it (IDNA) never allocates.
    TooManyIdnLabels,
    /// The host is valid but not in its canonical form (IPv4 not dotted decimal, IPv6 not
    /// compressed per the URL Standard, or a host IDNA would change).
    NonCanonicalHost,
    /// The port is empty, not decimal, or larger than 65535.
    InvalidPort,
    /// The port has leading zeros.
    NonCanonicalPort,
    /// The port is the scheme's default port (browsers omit it).
    DefaultPort,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty origin",
            Self::TooLong => "origin longer than 2048 bytes",
            Self::NotAscii => "origin contains non-ASCII bytes",
            Self::Whitespace => "origin contains whitespace or control bytes",
            Self::Malformed => "origin is not scheme://host[:port]",
            Self::UnsupportedScheme => "scheme has no tuple origin",
            Self::Userinfo => "origin contains userinfo",
            Self::Path => "origin contains a path, query or fragment",
            Self::TrailingSlash => "origin ends with a slash",
            Self::Uppercase => "origin is not lowercase",
            Self::EmptyHost => "origin has an empty host",
            Self::InvalidHost => "origin has an invalid host",
            Self::HostTooLong => "origin host is longer than 253 bytes",
            Self::LabelTooLong => "origin host has a label longer than 63 bytes",
            Self::TooManyIdnLabels => "origin host has a Punycode label and more than 8 labels",
            Self::NonCanonicalHost => "origin host is not in canonical form",
            Self::InvalidPort => "origin has an invalid port",
            Self::NonCanonicalPort => "origin port has leading zeros",
            Self::DefaultPort => "origin spells out the scheme's default port",
        })
    }
}

impl std::error::Error for HeaderError {}
