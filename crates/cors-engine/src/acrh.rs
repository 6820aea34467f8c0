//! Bounded parsing of `Access-Control-Request-Headers` (P6), names checked with
//! [`cors_policy::is_token`]'s `tchar` table unless the caller already knows them (a group's
//! listed names, which are tokens) or they are in the lower-case alphabet browsers send
//! (`a-z 0-9 - . _`, part of `tchar`, checked eight bytes at a time).
//!
//! The list may span any number of field lines; optional whitespace and empty elements are
//! tolerated (RFC 9110 section 5.6.1), names are compared case-insensitively by the caller.
//! Work is bounded before anything else: the bytes of all lines are counted first, line by line,
//! as their join with `,` (RFC 9110 section 5.3), and more than [`MAX_ACRH_BYTES`] bytes, more than [`MAX_ACRH_NAMES`] names or more than
//! [`MAX_ACRH_EMPTY`] empty elements end the scan with an error.
//! Nothing here allocates.

use std::fmt;

use cors_origin::{eq_lowercase_name, host_alphabet_prefix};

/// Most bytes of `Access-Control-Request-Headers` field values, all lines together and joined
/// with `,`, as RFC 9110 section 5.3 combines them (P6).
pub const MAX_ACRH_BYTES: usize = 8192;
/// Most names in `Access-Control-Request-Headers`, all lines together (P6).
pub const MAX_ACRH_NAMES: usize = 256;
/// Most empty elements in `Access-Control-Request-Headers`, all lines together (P6).
///
/// A field line with an empty value counts as one empty element.
pub const MAX_ACRH_EMPTY: usize = 16;

pub use cors_policy::is_token;

/// `bytes` without leading and trailing optional whitespace (SP and HTAB, RFC 9110 section 5.6.3).
///
/// The usual element (`name`, or ` name` after `, `) is answered by looking at its two ends
/// only; the scans from both ends serve the rest.
/// Measured (callgrind, `engine-preflight-accepted`, 3 names): 121 instructions less per decision
/// than the two scans alone.
#[must_use]
#[inline]
pub(crate) fn trim_ows(bytes: &[u8]) -> &[u8] {
    // Most elements have no whitespace, or one space before them (`, name`).
    let bytes = match bytes {
        [b' ', rest @ ..] => rest,
        _ => bytes,
    };
    // A byte above SP at both ends is no whitespace: one comparison each, where telling SP and
    // HTAB apart took two (measured, callgrind: 6 instructions less per preflight).
    if let (Some(&first), Some(&last)) = (bytes.first(), bytes.last())
        && first > b' '
        && last > b' '
    {
        return bytes;
    }
    let start = bytes.iter().position(|&b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|&b| !is_ows(b)).map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// Whether `b` is optional whitespace (SP or HTAB, RFC 9110 section 5.6.3).
#[inline]
fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// How many bytes of optional whitespace `bytes` starts with.
#[inline]
fn leading_ows(bytes: &[u8]) -> usize {
    bytes.iter().position(|&b| !is_ows(b)).unwrap_or(bytes.len())
}

/// `bytes` without trailing optional whitespace; usually there is none, which the last byte says.
#[inline]
fn trim_end_ows(bytes: &[u8]) -> &[u8] {
    match bytes.last() {
        Some(&last) if is_ows(last) => {
            let end = bytes.iter().rposition(|&b| !is_ows(b)).map_or(0, |i| i + 1);
            bytes.get(..end).unwrap_or_default()
        }
        _ => bytes,
    }
}

/// The index of the first `,` in `bytes`, eight bytes at a time.
///
/// Hand-written rather than `memchr::memchr`: elements are a few bytes long, and `memchr`'s
/// set-up for such short searches cost more than this loop (callgrind, `engine-preflight-accepted`:
/// 32 instructions more for its three elements with `memchr`, 83 more byte by byte).
#[inline]
fn find_comma(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    const COMMAS: u64 = u64::from_ne_bytes([b','; 8]);
    // The `,` bytes of `word` as the high bit of their byte: `x` is zero exactly at a comma, and
    // `(x - 1) & !x` sets a byte's high bit when that byte is zero. A borrow can mark a byte above
    // a zero byte too, never one below it, so the lowest mark (the first byte, little-endian) is
    // always a true comma.
    let commas = |word: u64| {
        let x = word ^ COMMAS;
        x.wrapping_sub(ONES) & !x & HIGH
    };
    let word_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes)
    };
    let len = bytes.len();
    if len < 8 {
        return bytes.iter().position(|&b| b == b',');
    }
    let mut at = 0;
    while at + 8 <= len {
        let found = commas(word_at(at));
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    // The last eight bytes, overlapping words already searched (which hold no comma).
    let found = commas(word_at(len - 8));
    (at < len && found != 0).then(|| len - 8 + found.trailing_zeros() as usize / 8)
}

/// The element at the start of `tail` (its leading whitespace skipped) when its name is one of
/// `known` (lower-case names); `None` when the element, trimmed, is none of them.
///
/// Each known name's length says where the element must end, so most of them are ruled out by
/// the one byte after it (a byte above `,` is a tchar, which goes on the name); only a name
/// followed by `,`, whitespace or the end of the line is compared. A known name's bytes are
/// read only then: a probe reads its length alone (measured, callgrind: 4 to 5 instructions
/// less per preflight with a listed header than reading both for each name probed).
#[inline]
fn known_at<'a>(tail: &'a [u8], known: &[String]) -> Option<Element<'a>> {
    for listed in known {
        let len = listed.len();
        let (next, bare_end) = match tail.get(len) {
            Some(b',') => (tail.get(len + 1..), true),
            None if tail.len() == len => (None, true),
            // Most names end here: a byte above `,` is a tchar, which goes on the name.
            Some(&b) if b > b',' => continue,
            Some(_) => match after_ows(tail.get(len..).unwrap_or_default()) {
                Some(after) => (after.get(1..), false),
                None => continue,
            },
            None => continue,
        };
        if let Some(name) = tail.get(..len)
            && eq_lowercase_name(listed.as_bytes(), name)
        {
            return Some(Element { name, next, bare_end });
        }
    }
    None
}

/// One element of the list: its name (trimmed), the rest of the line after the `,` that ends it
/// (`None` at the end of the line), and whether the name ends it bare (no whitespace before that
/// `,`, as the canonical form has it).
struct Element<'a> {
    name: &'a [u8],
    next: Option<&'a [u8]>,
    bare_end: bool,
}

/// The element at the start of `tail` (its leading whitespace skipped, not empty) that
/// [`known_at`] did not recognize: found by searching its `,`, its name trimmed.
#[inline]
fn unknown_element(tail: &[u8]) -> Element<'_> {
    let (raw, next) = match find_comma(tail) {
        Some(comma) => (tail.get(..comma), tail.get(comma + 1..)),
        None => (Some(tail), None),
    };
    let raw = raw.unwrap_or_default();
    let name = trim_end_ows(raw);
    Element { name, next, bare_end: name.len() == raw.len() }
}

/// The element at the start of `tail` (its leading whitespace skipped, not empty) that
/// [`known_at`] did not recognize, when its name is in the lower-case alphabet browsers send
/// (`a-z 0-9 - . _`, part of `tchar`) and ends bare, at a `,` or the end of the line: found and
/// checked as a token in one pass, eight bytes at a time ([`host_alphabet_prefix`]). `None`
/// for any other element, which [`unknown_element`] finds and [`is_token`] checks.
/// Measured (callgrind, `engine-preflight-mirrored`, 3 names in 35 bytes, instructions per
/// decision): 542, against 707 with the comma searched, the name trimmed and each byte looked up
/// in the `tchar` table, and 639 with only that check eight bytes at a time.
#[inline]
fn plain_element(tail: &[u8]) -> Option<Element<'_>> {
    let len = host_alphabet_prefix(tail);
    let name = tail.get(..len).filter(|name| !name.is_empty())?;
    let next = match tail.get(len) {
        None => None,
        Some(b',') => tail.get(len + 1..),
        Some(_) => return None,
    };
    Some(Element { name, next, bare_end: true })
}

/// Whether an element starts as the canonical form has it (the mirrored value of P4 and P5): the
/// first element bare, every later one after exactly one space (`, name`). `rest` is the element
/// with its whitespace, `lead` how many bytes of whitespace it starts with.
#[inline]
fn bare_start(rest: &[u8], lead: usize, element_index: usize) -> bool {
    if element_index == 0 { lead == 0 } else { lead == 1 && rest.first() == Some(&b' ') }
}

/// Where an element ends when `bytes` (what follows a name) is whitespace up to a `,` or the end
/// of the line: the `,` and what follows it, or nothing. `None` when `bytes` does not start with
/// whitespace or something else follows it.
/// Out of line: whitespace after a name is rare, and the probe of each known name stays short.
#[cold]
#[inline(never)]
fn after_ows(bytes: &[u8]) -> Option<&[u8]> {
    let lead = leading_ows(bytes);
    let after = bytes.get(lead..)?;
    (lead > 0 && matches!(after.first(), None | Some(b','))).then_some(after)
}

/// Why an `Access-Control-Request-Headers` list was refused (P2, P6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcrhError<'a> {
    /// The field values, joined with `,`, add up to more than [`MAX_ACRH_BYTES`] bytes.
    TooLong,
    /// More than [`MAX_ACRH_NAMES`] names.
    TooManyNames,
    /// More than [`MAX_ACRH_EMPTY`] empty elements.
    TooManyEmpty,
    /// An element that is not a header-name token (after trimming whitespace).
    InvalidName {
        /// The element, trimmed.
        name: &'a [u8],
        /// Which field line it is in, counting from 0.
        line: usize,
    },
}

impl AcrhError<'_> {
    /// The behaviour rule this error enforces: `P6` for the budgets, `P2` for an invalid name.
    #[must_use]
    pub fn rule(&self) -> crate::Rule {
        match self {
            AcrhError::InvalidName { .. } => crate::Rule::P2,
            AcrhError::TooLong | AcrhError::TooManyNames | AcrhError::TooManyEmpty => {
                crate::Rule::P6
            }
        }
    }
}

impl fmt::Display for AcrhError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcrhError::TooLong => write!(
                f,
                "access-control-request-headers is longer than {MAX_ACRH_BYTES} bytes in total"
            ),
            AcrhError::TooManyNames => {
                write!(f, "access-control-request-headers has more than {MAX_ACRH_NAMES} names")
            }
            AcrhError::TooManyEmpty => write!(
                f,
                "access-control-request-headers has more than {MAX_ACRH_EMPTY} empty elements"
            ),
            AcrhError::InvalidName { name, line } => write!(
                f,
                "access-control-request-headers element {} (field line {line}) is not a header \
                 name token",
                crate::explain::Quoted(name)
            ),
        }
    }
}

impl std::error::Error for AcrhError<'_> {}

/// What a successful [`parse_acrh`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcrhSummary {
    // The budgets keep every count below 2^16 (at most 8192 bytes + 17 empty lines, 256 names
    // joined by 2 bytes); `u16` keeps a decision small to copy.
    names: u16,
    empty: u16,
    lines: u16,
    joined_len: u16,
    canonical: bool,
    /// Whether [`scan_acrh`]'s `on_name` ended the scan (at a name it refused), so that names
    /// may follow unseen; never for [`parse_acrh`].
    pub(crate) stopped: bool,
}

impl AcrhSummary {
    /// How many names (non-empty elements) the list has.
    #[must_use]
    pub fn names(&self) -> usize {
        usize::from(self.names)
    }

    /// How many empty elements were tolerated.
    #[must_use]
    pub fn empty_elements(&self) -> usize {
        usize::from(self.empty)
    }

    /// How many field lines the list came in (0 when the header is absent).
    #[must_use]
    pub fn lines(&self) -> usize {
        usize::from(self.lines)
    }

    /// The length of the names joined with `, ` (the mirrored value of P4 and P5).
    #[must_use]
    pub fn joined_len(&self) -> usize {
        usize::from(self.joined_len)
    }

    /// Whether the list is a single field line already equal to the names joined with `, `, so a
    /// mirror can reuse its bytes as they are.
    #[must_use]
    pub fn is_canonical_single_line(&self) -> bool {
        self.lines == 1 && self.canonical && self.names > 0
    }
}

/// Validates an `Access-Control-Request-Headers` list within the P6 budgets, calling `on_name`
/// with each name (trimmed, empty elements skipped) once it passed the token check.
///
/// The byte budget is checked per line before the line is scanned, so at most
/// [`MAX_ACRH_BYTES`] bytes are ever looked at, however many lines or bytes the request carries.
/// Names already handed to `on_name` stay handed even when a later element fails.
///
/// ```
/// use cors_engine::{AcrhError, parse_acrh};
///
/// let mut names = Vec::new();
/// let summary = parse_acrh([&b"X-Token ,, content-type"[..], b"x-b"], |n| names.push(n)).unwrap();
/// assert_eq!(names, [&b"X-Token"[..], b"content-type", b"x-b"]);
/// assert_eq!((summary.names(), summary.empty_elements(), summary.joined_len()), (3, 1, 26));
///
/// let commas = vec![b','; 64 * 1024];
/// assert_eq!(parse_acrh([&commas[..]], |_| {}), Err(AcrhError::TooLong));
/// ```
///
/// # Errors
///
/// [`AcrhError`] when a budget is exceeded or an element is not a token.
pub fn parse_acrh<'a, I>(
    lines: I,
    mut on_name: impl FnMut(&'a [u8]),
) -> Result<AcrhSummary, AcrhError<'a>>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    scan_acrh::<_, true>(lines, &[], false, |name, _| {
        on_name(name);
        true
    })
}

/// [`parse_acrh`] for a caller that already knows some names (the engine: a group's allowed
/// names, lower-case tokens): a name equal to one of `known`, ignoring ASCII case, is known, and
/// its bytes are not checked again; `on_name` gets each name with whether it is known, and returns
/// whether to go on: `false` ends the scan there, with the summary of what was seen so far,
/// marked [`stopped`](AcrhSummary::stopped) (the engine stops at the first name a group does not
/// allow, whatever follows).
///
/// Each element's leading whitespace is skipped (usually none, or the one space after a `,`),
/// and a first byte up to `,` tells an empty element. A known name is then recognized where it
/// stands: each known name's length says where the element must end, so most of them are ruled
/// out by one byte, and the match needs no search for the comma ([`known_at`]); whitespace after
/// a name is rare and checked out of line.
/// An element that is none of them is found and checked in one pass when its name is in the
/// lower-case alphabet browsers send and ends at its `,` ([`plain_element`]); any other is found
/// by searching its `,` a word at a time ([`find_comma`]) and trimmed, and only that name is
/// checked byte by byte against the `tchar` table.
/// Measured (callgrind, `engine-preflight-accepted`, 3 allowed names in 38 bytes): 730
/// instructions per decision with the names recognized in place, 855 with the comma search for
/// every element (which itself saved 145 on checking every byte of every name before comparing
/// it with the allowed names).
///
/// With `stop_at_unknown`, the scan ends at the first name that is not known, which `on_name`
/// gets unchecked and unsearched: from its first byte to the end of its line. A caller that
/// refuses any unknown name (the engine deciding, P2) refuses an invalid one the same way, and
/// looks no further. The answer is the one the check would give when that name also exceeds the
/// name budget (checked then).
/// Measured (callgrind, `engine-preflight-rejected-header`, the refused name `x-forbidden` last
/// of 3): 612 instructions per decision, 685 when the refused name was searched, trimmed and
/// compared again with the known names after trimming, 748 when it was also checked.
///
/// `MIRRORED` says whether the list may be mirrored: without it (a group that lists its headers
/// answers with its own value) the summary's [`joined_len`](AcrhSummary::joined_len) and
/// canonical flag, which serve only the mirror, are not kept (0 and false), a few instructions
/// less per name. A mirrored scan has no known names to stop at (a group that mirrors allows
/// every name), so it never stops at an unknown one: `stop_at_unknown` is ignored there.
///
/// Inlined into the engine, where the lines are usually the one line a walk found: out of line,
/// taking over the lines' iterator and building the summary cost about 120 instructions a
/// decision (callgrind, `engine-preflight-accepted`: 648 inlined against 735).
#[inline]
pub(crate) fn scan_acrh<'a, I, const MIRRORED: bool>(
    lines: I,
    known: &[String],
    stop_at_unknown: bool,
    mut on_name: impl FnMut(&'a [u8], bool) -> bool,
) -> Result<AcrhSummary, AcrhError<'a>>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    // The name budget counts down (`left`: names still allowed; the summary's count is
    // MAX_ACRH_NAMES - left): measured (callgrind, instructions per decision), against counting
    // up and comparing with the budget, 2 less for `engine-preflight-rejected-header` and 3 for
    // `-accepted` and `-mirrored`, every other engine row the same.
    let (mut total, mut left, mut empty, mut line_count, mut joined_len) =
        (0usize, MAX_ACRH_NAMES, 0, 0, 0);
    let mut canonical = true;
    let mut stopped = false;
    'lines: for (line_index, line) in lines.into_iter().enumerate() {
        // Budget first: never scan more than MAX_ACRH_BYTES bytes in all. The lines count as
        // the one field value RFC 9110 section 5.3 makes of them, joined with `,`: each line
        // after the first brings its comma (counted below, once the line is taken), so that a
        // proxy that joins the lines before the engine sees them (Envoy) decides as one that
        // does not.
        total = total.saturating_add(line.len());
        if total > MAX_ACRH_BYTES {
            return Err(AcrhError::TooLong);
        }
        total += 1;
        line_count = line_index + 1;
        // Each element is `OWS name OWS`, up to `,` or the end of the line.
        let mut rest = line;
        for element_index in 0usize.. {
            // Usually no whitespace before the name, or the one space after a `,`.
            let (mut lead, mut tail) = match rest {
                [b' ', tail @ ..] => (1, tail),
                _ => (0, rest),
            };
            // A byte up to `,` first: `,` or the end (an empty element) or more whitespace
            // (skipped); tchars such as `!` go on as names.
            if tail.first().is_none_or(|&b| b <= b',') {
                if tail.first().is_some_and(|&b| is_ows(b)) {
                    lead += leading_ows(tail);
                    tail = rest.get(lead..).unwrap_or_default();
                }
                if matches!(tail.first(), None | Some(b',')) {
                    empty += 1;
                    canonical = false;
                    if empty > MAX_ACRH_EMPTY {
                        return Err(AcrhError::TooManyEmpty);
                    }
                    match tail.get(1..) {
                        Some(after_comma) => {
                            rest = after_comma;
                            continue;
                        }
                        None => break,
                    }
                }
            }
            let (name, next, known, bare_end) = match known_at(tail, known) {
                Some(Element { name, next, bare_end }) => (name, next, true, bare_end),
                // The last name of a scan that stops at an unknown one: its bytes matter only
                // where the name budget is exceeded (an invalid name comes first), and where it
                // ends not at all. `on_name` gets it unsearched, from its first byte to the end
                // of the line: the engine deciding refuses it whatever it holds (P2), and does not
                // look at it.
                None if stop_at_unknown && !MIRRORED => {
                    if left == 0 {
                        let name = unknown_element(tail).name;
                        return Err(if is_token(name) {
                            AcrhError::TooManyNames
                        } else {
                            AcrhError::InvalidName { name, line: line_index }
                        });
                    }
                    left -= 1;
                    stopped = !on_name(tail, false);
                    break 'lines;
                }
                None => {
                    // A plain element's name is a token; another one is checked byte by byte.
                    let element = if let Some(plain) = plain_element(tail) {
                        plain
                    } else {
                        let element = unknown_element(tail);
                        if !is_token(element.name) {
                            let name = element.name;
                            return Err(AcrhError::InvalidName { name, line: line_index });
                        }
                        element
                    };
                    let Element { name, next, bare_end } = element;
                    (name, next, false, bare_end)
                }
            };
            if left == 0 {
                return Err(AcrhError::TooManyNames);
            }
            left -= 1;
            if MIRRORED {
                canonical &= bare_start(rest, lead, element_index) && bare_end;
                joined_len += name.len() + if left < MAX_ACRH_NAMES - 1 { 2 } else { 0 };
            }
            if !on_name(name, known) {
                stopped = true;
                break 'lines;
            }
            match next {
                Some(after_comma) => rest = after_comma,
                None => break,
            }
        }
    }
    // INVARIANT: the budgets keep every count far below u16::MAX (at most 8192 bytes, 256
    // names joined by 2 bytes, 17 empty elements).
    let small = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
    Ok(AcrhSummary {
        names: small(MAX_ACRH_NAMES - left),
        empty: small(empty),
        lines: small(line_count),
        joined_len: small(joined_len),
        canonical: MIRRORED && canonical,
        stopped,
    })
}

/// The names of an `Access-Control-Request-Headers` list over several field lines: trimmed,
/// empty elements skipped, in order, without validation or budget.
///
/// Use it on a list that [`parse_acrh`] accepted; the iterator itself is lazy and does no more
/// work than the caller asks for.
#[derive(Clone, Debug)]
pub struct AcrhNames<'a, I> {
    lines: I,
    current: Option<Elements<'a>>,
}

/// The comma-separated elements of one line.
type Elements<'a> = std::slice::Split<'a, u8, fn(&u8) -> bool>;

impl<'a, I: Iterator<Item = &'a [u8]>> AcrhNames<'a, I> {
    /// Names over `lines`.
    pub fn new(lines: impl IntoIterator<IntoIter = I>) -> AcrhNames<'a, I> {
        AcrhNames { lines: lines.into_iter(), current: None }
    }
}

impl<'a, I: Iterator<Item = &'a [u8]>> Iterator for AcrhNames<'a, I> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if let Some(split) = &mut self.current {
                for raw in split.by_ref() {
                    let name = trim_ows(raw);
                    if !name.is_empty() {
                        return Some(name);
                    }
                }
            }
            let line = self.lines.next()?;
            let is_comma: fn(&u8) -> bool = |b| *b == b',';
            self.current = Some(line.split(is_comma));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[track_caller]
    fn check(lines: &[&str], names: &[&str], canonical: bool, error: Option<AcrhError<'_>>) {
        let expected = error.map_or(Ok((names, canonical)), Err);
        let lines: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
        let mut seen = Vec::new();
        let got = parse_acrh(lines.iter().copied(), |n| seen.push(n));
        match expected {
            Ok((names, canonical)) => {
                let names: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
                let summary = got.expect("accepted");
                assert_eq!(seen, names);
                assert_eq!(summary.names(), names.len());
                // Every element that is empty once trimmed, an empty line's included.
                let empty = lines
                    .iter()
                    .flat_map(|line| line.split(|&b| b == b','))
                    .filter(|element| element.iter().all(|&b| b == b' ' || b == b'\t'))
                    .count();
                assert_eq!(summary.empty_elements(), empty);
                assert_eq!(summary.lines(), lines.len());
                assert_eq!(summary.is_canonical_single_line(), canonical);
                let joined_len = names.iter().map(|n| n.len()).sum::<usize>()
                    + 2 * names.len().saturating_sub(1);
                assert_eq!(summary.joined_len(), joined_len);
                let iterated: Vec<&[u8]> = AcrhNames::new(lines.iter().copied()).collect();
                assert_eq!(iterated, names);
            }
            Err(e) => assert_eq!(got, Err(e)),
        }
    }

    #[rstest]
    #[case::p6_absent_is_empty(&[], &[], false, None)]
    #[case::p6_single_name_is_canonical(&["x-a"], &["x-a"], true, None)]
    #[case::p6_joined_form_is_canonical(&["x-a, x-b"], &["x-a", "x-b"], true, None)]
    #[case::p6_no_space_is_not_canonical(&["x-a,x-b"], &["x-a", "x-b"], false, None)]
    #[case::p6_space_before_comma_is_not_canonical(&["x-a ,x-b"], &["x-a", "x-b"], false, None)]
    #[case::p6_two_spaces_is_not_canonical(&["x-a,  x-b"], &["x-a", "x-b"], false, None)]
    #[case::p6_ows_trimmed(&[" \tx-a\t , x-b  "], &["x-a", "x-b"], false, None)]
    #[case::p6_empty_elements_tolerated(&[",x-a,,x-b,"], &["x-a", "x-b"], false, None)]
    #[case::p6_names_over_lines(&["x-a", "x-b, x-c"], &["x-a", "x-b", "x-c"], false, None)]
    #[case::p6_case_kept(&["X-Token"], &["X-Token"], true, None)]
    #[case::p6_empty_line_is_one_empty_element(&[""], &[], false, None)]
    #[case::p2_space_inside_name_is_invalid(&["x a"], &[], false, Some(AcrhError::InvalidName { name: b"x a", line: 0 }))]
    #[case::p2_colon_is_invalid(&["x-a", "b:c"], &[], false, Some(AcrhError::InvalidName { name: b"b:c", line: 1 }))]
    #[case::p2_non_ascii_is_invalid(&["\u{e9}"], &[], false, Some(AcrhError::InvalidName { name: "\u{e9}".as_bytes(), line: 0 }))]
    #[case::p6_sixteen_empty_elements_pass(&[",,,,,,,,,,,,,,,"], &[], false, None)]
    #[case::p6_seventeen_empty_elements_fail(&[",,,,,,,,,,,,,,,,"], &[], false, Some(AcrhError::TooManyEmpty))]
    fn acrh_table(
        #[case] lines: &[&str],
        #[case] names: &[&str],
        #[case] canonical: bool,
        #[case] error: Option<AcrhError<'_>>,
    ) {
        check(lines, names, canonical, error);
    }

    #[test]
    fn p6_exactly_8192_bytes_pass_and_8193_fail() {
        let full = vec![b'a'; MAX_ACRH_BYTES];
        assert_eq!(parse_acrh([&full[..]], |_| {}).map(|s| s.names()), Ok(1));
        assert_eq!(parse_acrh([&full[..], b"b"], |_| {}), Err(AcrhError::TooLong));
    }

    /// Lines count as their join with `,` (RFC 9110 section 5.3), as a proxy that joins them
    /// (Envoy) hands them on: 8 191 bytes on two lines are 8 192 joined, 8 192 are 8 193.
    #[test]
    fn p6_lines_count_as_joined_with_a_comma() {
        let joined_8192 = [&[b'a'; 8185][..], b"x-token"];
        assert_eq!(joined_8192.concat().len() + 1, 8193);
        assert_eq!(parse_acrh(joined_8192, |_| {}), Err(AcrhError::TooLong));
        let joined = [joined_8192[0], joined_8192[1]].join(&b',');
        assert_eq!(parse_acrh([&joined[..]], |_| {}), Err(AcrhError::TooLong));
        let fits = [&[b'a'; 8184][..], b"x-token"];
        assert_eq!(parse_acrh(fits, |_| {}).map(|s| s.names()), Ok(2));
        assert_eq!(parse_acrh([&fits.join(&b',')[..]], |_| {}).map(|s| s.names()), Ok(2));
    }

    #[test]
    fn p6_257_names_fail_after_256() {
        let list = vec!["a"; 257].join(",");
        let mut count = 0;
        assert_eq!(parse_acrh([list.as_bytes()], |_| count += 1), Err(AcrhError::TooManyNames));
        assert_eq!(count, 256);
        let list = vec!["a"; 256].join(",");
        assert!(parse_acrh([list.as_bytes()], |_| {}).is_ok());
    }

    #[test]
    fn p6_a_257th_name_that_stops_the_scan_is_still_over_the_budget() {
        let known = ["a".to_owned()];
        let scan = |last: &str| {
            let list = format!("{}, {last}", vec!["a"; 256].join(", "));
            scan_acrh::<_, false>([list.as_bytes()], &known, true, |_, known| known)
                .map(|summary| summary.names())
                .map_err(|error| error.rule())
        };
        assert_eq!(scan("b"), Err(crate::Rule::P6));
        // An invalid name comes before the budget, as when every name is checked (P2).
        assert_eq!(scan("b:c"), Err(crate::Rule::P2));
        assert_eq!(scan("a"), Err(crate::Rule::P6));
    }

    #[test]
    fn p6_many_empty_lines_stop_at_the_empty_budget() {
        let mut seen_lines = 0;
        let lines = std::iter::repeat_n(&b""[..], 100_000).inspect(|_| seen_lines += 1);
        assert_eq!(parse_acrh(lines, |_| {}), Err(AcrhError::TooManyEmpty));
        assert_eq!(seen_lines, MAX_ACRH_EMPTY + 1);
    }

    /// A name handed over, and whether it was known.
    type Seen<'a> = (&'a [u8], bool);

    /// [`scan_acrh`] over `lines`, with every name it hands over and whether it was known; with
    /// `stop_at_unknown`, `on_name` ends the scan at an unknown name, as the engine deciding does.
    fn scan_collecting<'a, const MIRRORED: bool>(
        lines: &[&'a [u8]],
        known: &[String],
        stop_at_unknown: bool,
    ) -> (Result<AcrhSummary, AcrhError<'a>>, Vec<Seen<'a>>) {
        let mut seen = Vec::new();
        let got = scan_acrh::<_, MIRRORED>(
            lines.iter().copied(),
            known,
            stop_at_unknown,
            |name, known| {
                seen.push((name, known));
                known || !stop_at_unknown
            },
        );
        (got, seen)
    }

    /// Whether a name is known (the caller's names).
    type IsKnown<'k> = dyn Fn(&[u8]) -> bool + 'k;

    /// The definition [`parse_acrh`] implements in one pass: split on `,`, trim, check tokens.
    /// With `stop_at_unknown`, the first name it does not know ends the list, checked only when
    /// the name budget is exceeded.
    fn by_definition<'a>(
        lines: &[&'a [u8]],
        stop_at_unknown: Option<&IsKnown<'_>>,
    ) -> (Result<AcrhSummary, AcrhError<'a>>, Vec<&'a [u8]>) {
        let mut seen = Vec::new();
        let mut summary = AcrhSummary {
            names: 0,
            empty: 0,
            lines: 0,
            joined_len: 0,
            canonical: true,
            stopped: false,
        };
        let mut total = 0;
        for (line_index, line) in lines.iter().enumerate() {
            // The lines joined with `,` (RFC 9110 section 5.3), as one value.
            total += line.len() + usize::from(line_index > 0);
            if total > MAX_ACRH_BYTES {
                return (Err(AcrhError::TooLong), seen);
            }
            summary.lines += 1;
            for (element_index, raw) in line.split(|&b| b == b',').enumerate() {
                let name = trim_ows(raw);
                if name.is_empty() {
                    summary.empty += 1;
                    summary.canonical = false;
                    if usize::from(summary.empty) > MAX_ACRH_EMPTY {
                        return (Err(AcrhError::TooManyEmpty), seen);
                    }
                    continue;
                }
                let last = stop_at_unknown.is_some_and(|is_known| !is_known(name));
                let invalid = Err(AcrhError::InvalidName { name, line: line_index });
                if !last && !is_token(name) {
                    return (invalid, seen);
                }
                summary.names += 1;
                if usize::from(summary.names) > MAX_ACRH_NAMES {
                    return (
                        if is_token(name) { Err(AcrhError::TooManyNames) } else { invalid },
                        seen,
                    );
                }
                let bare = if element_index == 0 {
                    raw == name
                } else {
                    raw.len() == name.len() + 1 && raw[0] == b' '
                };
                summary.canonical &= bare;
                let separator = if summary.names > 1 { 2 } else { 0 };
                summary.joined_len += u16::try_from(name.len() + separator).unwrap_or(u16::MAX);
                seen.push(name);
                if last {
                    summary.stopped = true;
                    return (Ok(summary), seen);
                }
            }
        }
        (Ok(summary), seen)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// P2, P6: the one-pass scan gives exactly the split-trim-check answer, names included.
        #[test]
        fn one_pass_scan_follows_the_definition(
            lines in proptest::collection::vec("[a-c !,\t:\u{e9}-]{0,12}", 0..4),
        ) {
            let lines: Vec<&[u8]> = lines.iter().map(String::as_bytes).collect();
            let mut seen = Vec::new();
            let got = parse_acrh(lines.iter().copied(), |n| seen.push(n));
            let (expected, expected_seen) = by_definition(&lines, None);
            proptest::prop_assert_eq!(got, expected);
            proptest::prop_assert_eq!(seen, expected_seen);
        }
    }

    proptest::proptest! {
        /// The word-at-a-time search finds the first comma, as a byte-by-byte search does.
        #[test]
        fn find_comma_is_the_first_comma(
            bytes in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(b','),
                proptest::strategy::Just(b' '),
                proptest::num::u8::ANY,
            ], 0..40),
        ) {
            proptest::prop_assert_eq!(find_comma(&bytes), bytes.iter().position(|&b| b == b','));
        }

    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// P2, P6: names the caller knows (tokens, as a group's listed names are) are not
        /// checked again, whether recognized in place (unmirrored) or after trimming, and the
        /// answer is the one `parse_acrh` gives; each name is handed over with whether it was
        /// known. The lines are made of short elements, often a known name in some case, with
        /// whitespace on either side, bytes that are not tchars, and tchars below `,` (`!`).
        #[test]
        fn known_names_change_nothing_but_the_work(
            lines in proptest::collection::vec(
                "([ \t]{0,2}([a-c]{1,2}|[A-C]{1,2}|[a-c]-|!|:|\u{e9})?[ \t]{0,2},?){0,5}",
                0..4,
            ),
            known in proptest::collection::vec("[a-c]{1,2}|[a-c]-", 0..4),
        ) {
            let lines: Vec<&[u8]> = lines.iter().map(String::as_bytes).collect();
            let is_known =
                |name: &[u8]| known.iter().any(|k| k.as_bytes().eq_ignore_ascii_case(name));
            let (got, seen) = scan_collecting::<true>(&lines, &known, false);
            let (expected, expected_seen) = by_definition(&lines, None);
            proptest::prop_assert_eq!(got, expected);
            let expected_seen: Vec<(&[u8], bool)> =
                expected_seen.into_iter().map(|name| (name, is_known(name))).collect();
            proptest::prop_assert_eq!(&seen, &expected_seen);

            // Unmirrored, known names are recognized where they stand: the same names, the same
            // answers, only the mirror's length and canonical flag are not kept.
            let (got_unmirrored, unmirrored) = scan_collecting::<false>(&lines, &known, false);
            let without_mirror = |summary: AcrhSummary| AcrhSummary {
                joined_len: 0,
                canonical: false,
                ..summary
            };
            proptest::prop_assert_eq!(got_unmirrored, got.map(without_mirror));
            proptest::prop_assert_eq!(&unmirrored, &expected_seen);

            // Stopping at the first unknown name (as the engine deciding does): the names up to
            // it, that one unchecked and handed over unsearched, from its first byte to the end
            // of its line, where the element it starts is that name.
            let (got_stopped, mut stopped) = scan_collecting::<false>(&lines, &known, true);
            let (expected, expected_stopped) = by_definition(&lines, Some(&is_known));
            proptest::prop_assert_eq!(got_stopped, expected.map(without_mirror));
            if let Some((unsearched, false)) = stopped.last_mut() {
                let element = unsearched.split(|&b| b == b',').next().unwrap_or_default();
                proptest::prop_assert_eq!(element.first().map(|&b| is_ows(b)), Some(false));
                *unsearched = trim_ows(element);
            }
            let expected_stopped: Vec<(&[u8], bool)> =
                expected_stopped.into_iter().map(|name| (name, is_known(name))).collect();
            proptest::prop_assert_eq!(stopped, expected_stopped);
        }
    }

    #[rstest]
    #[case::ows_both_sides(b" \t a \t", b"a")]
    #[case::only_ows(b" \t ", b"")]
    #[case::nothing(b"", b"")]
    #[case::inner_space_kept(b"a b", b"a b")]
    fn trim(#[case] input: &[u8], #[case] expected: &[u8]) {
        assert_eq!(trim_ows(input), expected);
    }
}
