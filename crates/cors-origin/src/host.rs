//! Byte-level rules shared by both parsers: schemes, default ports, the canonical host check and
//! the URL Standard's IPv6 serializer (into a stack buffer).

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::HeaderError;

/// Longest host the DNS can carry (RFC 1035 §2.3.4, without the root dot).
pub(crate) const MAX_HOST_LEN: usize = 253;
/// Longest DNS label (RFC 1035 §2.3.4).
pub(crate) const MAX_LABEL_LEN: usize = 63;
/// Most labels a host with a Punycode label may have, so that request-time IDNA validation
/// stays within `idna`'s inline buffers and never allocates (idna 1.1 keeps the labels already
/// in Punycode in a `SmallVec` of 8).
pub(crate) const MAX_IDN_LABELS: usize = 8;

/// The default port of a [special scheme](https://url.spec.whatwg.org/#special-scheme) with
/// tuple origins.
pub(crate) fn default_port(scheme: &[u8]) -> Option<u16> {
    match scheme {
        b"http" | b"ws" => Some(80),
        b"https" | b"wss" => Some(443),
        b"ftp" => Some(21),
        _ => None,
    }
}

/// Whether `scheme` is special per the URL Standard (these hosts go through full host parsing,
/// IDNA included).
pub(crate) fn is_special(scheme: &[u8]) -> bool {
    default_port(scheme).is_some()
}

/// Schemes whose URLs have opaque origins (or, for `blob`, borrow another URL's origin): they are
/// never a tuple origin's scheme.
pub(crate) fn is_non_origin_scheme(scheme: &[u8]) -> bool {
    matches!(scheme, b"about" | b"blob" | b"data" | b"file" | b"filesystem" | b"javascript")
}

/// RFC 3986 §3.1: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`, case-insensitively.
pub(crate) fn is_scheme_syntax(scheme: &[u8]) -> bool {
    match scheme.split_first() {
        Some((first, rest)) => {
            first.is_ascii_alphabetic()
                && rest
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        }
        None => false,
    }
}

/// A host byte of the accepted canonical alphabet (after IDNA): `a-z 0-9 - _ .`.
pub(crate) fn is_host_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
}

/// The URL Standard's [ends in a number](https://url.spec.whatwg.org/#ends-in-a-number-checker)
/// for a host without empty labels: is the last label all digits, or `0x` followed by hex digits?
pub(crate) fn ends_in_a_number(host: &[u8]) -> bool {
    let last = host.rsplit(|&b| b == b'.').next().unwrap_or(host);
    if !last.is_empty() && last.iter().all(u8::is_ascii_digit) {
        return true;
    }
    match last {
        [b'0', b'x' | b'X', hex @ ..] => hex.iter().all(u8::is_ascii_hexdigit),
        _ => false,
    }
}

/// A host byte of a non-special scheme's host, which the URL Standard keeps opaque, as written
/// (<https://url.spec.whatwg.org/#concept-opaque-host-parser>): the alphabet of
/// [`is_host_byte`] and upper-case letters, which the opaque-host parser does not lower.
pub(crate) fn is_opaque_host_byte(b: u8) -> bool {
    is_host_byte(b) || b.is_ascii_uppercase()
}

/// Checks that `host` (from an `Origin` serialization, IPv6 in brackets) is exactly what
/// [`Origin::parse`](crate::Origin::parse) would produce for a scheme that is `special` or not.
/// Never allocates; work is linear in the host length (IDNA validation runs only for hosts with
/// `xn--` labels, within the DNS limits).
///
/// A special scheme's host is a domain after IDNA, or an IPv4 address in dotted decimal. A
/// non-special scheme's host is opaque, kept as written: neither lower-cased nor read as IPv4
/// nor as IDNA (`x-app://0x7f.1`, `safari-web-extension://140BB581-A2C0-...`).
pub(crate) fn check_canonical_host(host: &[u8], special: bool) -> Result<(), HeaderError> {
    if host.is_empty() {
        return Err(HeaderError::EmptyHost);
    }
    if let [b'[', inner @ .., b']'] = host {
        return check_canonical_ipv6(inner);
    }
    let in_alphabet = if special { is_host_byte } else { is_opaque_host_byte };
    if let Some(&b) = host.iter().find(|&&b| !in_alphabet(b)) {
        return Err(if b.is_ascii_uppercase() {
            HeaderError::Uppercase
        } else {
            HeaderError::InvalidHost
        });
    }
    if host.len() > MAX_HOST_LEN {
        return Err(HeaderError::HostTooLong);
    }
    let mut labels = 0usize;
    let mut punycode = false;
    for label in host.split(|&b| b == b'.') {
        if label.is_empty() {
            return Err(HeaderError::InvalidHost);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(HeaderError::LabelTooLong);
        }
        labels += 1;
        punycode |= label.starts_with(b"xn--");
    }
    if !special {
        return Ok(());
    }
    if ends_in_a_number(host) {
        // `Ipv4Addr`'s parser accepts exactly four decimal octets without leading zeros, which
        // is the URL Standard's IPv4 serialization.
        let text = core::str::from_utf8(host).map_err(|_| HeaderError::InvalidHost)?;
        return match text.parse::<Ipv4Addr>() {
            Ok(_) => Ok(()),
            Err(_) => Err(HeaderError::NonCanonicalHost),
        };
    }
    if punycode {
        if labels > MAX_IDN_LABELS {
            return Err(HeaderError::TooManyIdnLabels);
        }
        return check_idna(host);
    }
    Ok(())
}

/// The URL Standard's [domain to ASCII](https://url.spec.whatwg.org/#concept-domain-to-ascii)
/// on a lower-case ASCII `host` with an `xn--` label: it must give back `host` itself.
///
/// Lowercase ASCII without `xn--` labels always passes UTS 46 unchanged with the URL deny list
/// and `CheckHyphens=false`; labels with the ACE prefix must decode to valid labels (not empty,
/// not ASCII, NFC, each code point valid, the joiner and bidi rules across the whole host), and
/// the result must be the input itself. The caller keeps `host` within `idna`'s inline buffers
/// ([`MAX_HOST_LEN`] bytes, labels of at most [`MAX_LABEL_LEN`], at most [`MAX_IDN_LABELS`]
/// labels), so that this never allocates.
fn check_idna(host: &[u8]) -> Result<(), HeaderError> {
    match idna::domain_to_ascii_cow(host, idna::AsciiDenyList::URL) {
        Ok(ascii) if ascii.as_bytes() == host => Ok(()),
        Ok(_) => Err(HeaderError::NonCanonicalHost),
        Err(_) => Err(HeaderError::InvalidHost),
    }
}

/// Whether a special scheme's `host`, as an `Origin` value may carry it (lower-case printable
/// ASCII, perhaps with empty labels or past DNS's limits), is the URL Standard's domain to ASCII
/// of itself: true without an `xn--` label, and otherwise only if every such label is valid
/// IDNA (finding F-DF: `xn--a`, `xn--` or `xn--abc-`, which decodes to ASCII, are no URL's
/// host).
///
/// The labels before the first one that is not [plain](is_plain_label) pass IDNA unchanged,
/// and are valid beside any other label (the bidi rule's included), so only the rest is
/// checked, as `idna` itself does. A rest past the bounds that keep `idna` from allocating
/// (more than [`MAX_HOST_LEN`] bytes, a label over [`MAX_LABEL_LEN`], more than
/// [`MAX_IDN_LABELS`] labels) is not checked and counts as no host's serialization: the request
/// parser refuses such a host too (`HostTooLong`, `LabelTooLong`, `TooManyIdnLabels`).
pub(crate) fn is_idna_unchanged(host: &[u8]) -> bool {
    if !host.split(|&b| b == b'.').any(|label| label.starts_with(b"xn--")) {
        return true;
    }
    let plain: usize = host
        .split(|&b| b == b'.')
        .take_while(|label| is_plain_label(label))
        .map(|l| l.len() + 1)
        .sum();
    let rest = host.get(plain..).unwrap_or_default();
    let mut labels = 0usize;
    let mut within = rest.len() <= MAX_HOST_LEN;
    for label in rest.split(|&b| b == b'.') {
        labels += 1;
        within &= label.len() <= MAX_LABEL_LEN;
    }
    within && labels <= MAX_IDN_LABELS && check_idna(rest).is_ok()
}

/// A label IDNA leaves as it is in any domain: empty, or lower-case letters, digits and hyphens,
/// starting with a letter, ending with a letter or a digit, without hyphens as its third and
/// fourth characters (`xn--`). Such a label also keeps the bidi rule beside a right-to-left
/// one (RFC 5893 section 2: it starts with an L character and ends with one or a digit).
fn is_plain_label(label: &[u8]) -> bool {
    match label {
        [] => true,
        [first, .., last] | [first @ last] => {
            first.is_ascii_lowercase()
                && (last.is_ascii_lowercase() || last.is_ascii_digit())
                && label.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && label.get(2..4) != Some(b"--")
        }
    }
}

/// Checks that `inner` (an IPv6 address without its brackets) is the URL Standard's
/// serialization of an address ([`Ipv6Text`]).
pub(crate) fn check_canonical_ipv6(inner: &[u8]) -> Result<(), HeaderError> {
    if inner.iter().any(|&b| !(b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))) {
        return Err(HeaderError::InvalidHost);
    }
    let text = core::str::from_utf8(inner).map_err(|_| HeaderError::InvalidHost)?;
    let addr = text.parse::<Ipv6Addr>().map_err(|_| HeaderError::InvalidHost)?;
    let mut buf = Ipv6Text::new();
    buf.write(&addr);
    if buf.as_bytes() == inner { Ok(()) } else { Err(HeaderError::NonCanonicalHost) }
}

/// The URL Standard's [IPv6 serializer](https://url.spec.whatwg.org/#concept-ipv6-serializer)
/// output (without brackets), in a stack buffer.
pub(crate) struct Ipv6Text {
    buf: [u8; 39],
    len: usize,
}

impl Ipv6Text {
    pub(crate) fn new() -> Self {
        Self { buf: [0; 39], len: 0 }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    fn push(&mut self, b: u8) {
        // INVARIANT: the longest serialization, eight 4-digit pieces and seven colons, is 39
        // bytes; a failed write would only make a comparison fail.
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    pub(crate) fn write(&mut self, addr: &Ipv6Addr) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let pieces = addr.segments();
        // The first longest run of two or more zero pieces is compressed.
        let (mut best_start, mut best_len) = (usize::MAX, 1);
        let mut i = 0;
        while i < pieces.len() {
            let start = i;
            while i < pieces.len() && pieces[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                (best_start, best_len) = (start, i - start);
            }
            i += 1;
        }
        let mut ignore0 = false;
        for (index, &piece) in pieces.iter().enumerate() {
            if ignore0 && piece == 0 {
                continue;
            }
            ignore0 = false;
            if index == best_start {
                self.push(b':');
                if index == 0 {
                    self.push(b':');
                }
                ignore0 = true;
                continue;
            }
            let mut started = false;
            for shift in [12u32, 8, 4, 0] {
                let nibble = usize::from((piece >> shift) & 0xf);
                if started || nibble != 0 || shift == 0 {
                    started = true;
                    self.push(HEX[nibble]);
                }
            }
            if index != 7 {
                self.push(b':');
            }
        }
    }
}
