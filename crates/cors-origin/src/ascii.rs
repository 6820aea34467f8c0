//! ASCII bytes eight at a time: case-insensitive comparison against an already lower-case text
//! (hosts (R2) and header names (P2) compare this way on every request), and the class of a
//! request host's bytes (M1, R5: the `Origin` parser's fast path), and the search for a byte
//! (the dots of a request host, M3).

/// Eight copies of `b`, one per byte of a word.
pub(crate) const fn lanes(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// The high bit of every byte of a word.
pub(crate) const HIGH: u64 = lanes(0x80);

/// `word` with every ASCII upper-case letter lowered, eight bytes at once; other bytes (digits,
/// symbols, non-ASCII) unchanged.
///
/// Per byte `b` (no carry crosses a byte: each sum stays below 0x100): the high bit of
/// `(b & 0x7f) + 0x3f` is set when `b & 0x7f >= b'A'`, that of `(b & 0x7f) + 0x25` when
/// `b & 0x7f > b'Z'`; a letter also has its own high bit clear. Its 0x80 shifted right twice is
/// the 0x20 that lowers it.
#[inline]
const fn lower_word(word: u64) -> u64 {
    let low = word & lanes(0x7f);
    let at_least_a = low + lanes(0x3f);
    let above_z = low + lanes(0x25);
    let upper = at_least_a & !above_z & !word & HIGH;
    word | (upper >> 2)
}

/// The class of canonical host bytes, `a-z 0-9 - . _`, for the eight bytes of `word` (the first
/// in the low byte): the high bit of each byte outside it, and the high bit of each `-` or `.`.
///
/// The first is exact up to and including the first byte outside the class, the second for the
/// bytes before that one; the other bits mean nothing. Both have only high bits set.
///
/// Per byte `b`, the high bit of `b + (0x80 - c)` is set when `b >= c`, for ASCII `b` (the sum
/// stays below 0x100, so no carry crosses into the next byte). The XOR of those bits over a
/// rising list of bounds is set when `b` is at or above an odd number of them, that is in one of
/// the ranges `[c0, c1)`, `[c2, c3)`, ... A byte with its own high bit set is outside the class,
/// and a carry out of it only reaches the bytes after it.
#[inline]
pub(crate) fn host_class(word: u64) -> (u64, u64) {
    let at_least = |c: u8| word.wrapping_add(lanes(0x80 - c));
    let separators = at_least(b'-') ^ at_least(b'/');
    let in_class = separators
        ^ at_least(b'0')
        ^ at_least(b':')
        ^ at_least(b'_')
        ^ at_least(b'`')
        ^ at_least(b'a')
        ^ at_least(b'{');
    ((!in_class | word) & HIGH, separators & HIGH)
}

/// How many of the first bytes of `bytes` are in the canonical host alphabet, `a-z 0-9 - . _`:
/// the position of the first byte outside it, or the length; eight bytes at a time
/// (the word-wide classification the host parser uses).
///
/// The alphabet is part of RFC 9110's `tchar`, and holds the lower-case header names browsers
/// list in `Access-Control-Request-Headers`: a name that ends at its first byte outside the
/// alphabet (a `,` or the end of the list) is a token, found and checked in one pass.
///
/// ```
/// assert_eq!(cors_origin::host_alphabet_prefix(b"x-requested-with, x-b"), 16);
/// assert_eq!(cors_origin::host_alphabet_prefix(b"content_type.2"), 14);
/// assert_eq!(cors_origin::host_alphabet_prefix(b"X-Token"), 0);
/// assert_eq!(cors_origin::host_alphabet_prefix(b"x-a:b"), 3);
/// ```
#[must_use]
#[inline]
pub fn host_alphabet_prefix(bytes: &[u8]) -> usize {
    let outside = |word: u64| host_class(word).0;
    let first_lane = |outside: u64| outside.trailing_zeros() as usize / 8;
    let len = bytes.len();
    if len >= 8 {
        let mut at = 0;
        while at + 8 < len {
            let found = outside(word_at(bytes, at));
            if found != 0 {
                return at + first_lane(found);
            }
            at += 8;
        }
        // The last word ends at the end, overlapping bytes already found in the class, whose
        // lanes are not marked.
        let found = outside(word_at(bytes, len - 8));
        if found == 0 { len } else { len - 8 + first_lane(found) }
    } else if len >= 4 {
        // Two overlapping halves, zero above the bytes: a zero byte is outside the class, so
        // the first lane marked is at most `len`.
        let word = half_at(bytes, 0) | (half_at(bytes, len - 4) << (8 * (len - 4)));
        first_lane(outside(word))
    } else {
        bytes.iter().position(|&b| !crate::host::is_host_byte(b)).unwrap_or(len)
    }
}

/// The high bit of every byte of `word` equal to `byte`, and no other bit.
///
/// Exact at every position, whatever the other bytes: per byte `x` of `word ^ lanes(byte)`, the
/// high bit of `(x & 0x7f) + 0x7f` is set when the low seven bits are not all zero (the sum
/// stays below 0x100, so no carry crosses into the next byte), and `x`'s own high bit covers the
/// eighth; the byte equals `byte` when neither is set.
#[inline]
pub(crate) const fn equal_lanes(word: u64, byte: u8) -> u64 {
    let x = word ^ lanes(byte);
    !(((x & lanes(0x7f)) + lanes(0x7f)) | x) & HIGH
}

/// The position of the last `byte` in `bytes`, as `bytes.iter().rposition(|&b| b == byte)`,
/// eight bytes per step from the end.
///
/// The word of the first bytes overlaps the one after it, which held no `byte`; under eight
/// bytes, two overlapping four-byte halves, under four byte by byte.
#[inline]
pub(crate) fn rposition_byte(bytes: &[u8], byte: u8) -> Option<usize> {
    // INVARIANT: called only with a nonzero `found` (at least one lane), which `ilog2` needs.
    let last_lane = |found: u64| found.ilog2() as usize / 8;
    let len = bytes.len();
    if len >= 8 {
        let mut end = len;
        while end > 8 {
            let found = equal_lanes(word_at(bytes, end - 8), byte);
            if found != 0 {
                return Some(end - 8 + last_lane(found));
            }
            end -= 8;
        }
        let found = equal_lanes(word_at(bytes, 0), byte);
        (found != 0).then(|| last_lane(found))
    } else if len >= 4 {
        let found = equal_lanes(half_at(bytes, len - 4), byte) & lanes_below(4);
        if found != 0 {
            return Some(len - 4 + last_lane(found));
        }
        let found = equal_lanes(half_at(bytes, 0), byte) & lanes_below(4);
        (found != 0).then(|| last_lane(found))
    } else {
        bytes.iter().rposition(|&b| b == byte)
    }
}

/// The position of the first `byte` in `bytes`, as `bytes.iter().position(|&b| b == byte)`,
/// eight bytes per step from the start: the subdomain patterns' dot search here, and the `,` of
/// a mirrored `Access-Control-Request-Headers` line in `cors-engine`.
///
/// The last word ends at the end, overlapping the one before, which held no `byte`; under eight
/// bytes, two overlapping four-byte halves, under four byte by byte.
///
/// ```
/// assert_eq!(cors_origin::position_byte(b"content-type,x-token", b','), Some(12));
/// assert_eq!(cors_origin::position_byte(b"abcdefgh,", b','), Some(8));
/// assert_eq!(cors_origin::position_byte(b"x-a", b','), None);
/// ```
#[must_use]
#[inline]
pub fn position_byte(bytes: &[u8], byte: u8) -> Option<usize> {
    let first_lane = |found: u64| found.trailing_zeros() as usize / 8;
    let len = bytes.len();
    if len >= 8 {
        let mut at = 0;
        while at + 8 < len {
            let found = equal_lanes(word_at(bytes, at), byte);
            if found != 0 {
                return Some(at + first_lane(found));
            }
            at += 8;
        }
        let found = equal_lanes(word_at(bytes, len - 8), byte);
        (found != 0).then(|| len - 8 + first_lane(found))
    } else if len >= 4 {
        let found = equal_lanes(half_at(bytes, 0), byte) & lanes_below(4);
        if found != 0 {
            return Some(first_lane(found));
        }
        let found = equal_lanes(half_at(bytes, len - 4), byte) & lanes_below(4);
        (found != 0).then(|| len - 4 + first_lane(found))
    } else {
        bytes.iter().position(|&b| b == byte)
    }
}

/// The bits of the first `n` (under eight) bytes of a word.
#[inline]
const fn lanes_below(n: usize) -> u64 {
    (1 << (8 * n)) - 1
}

/// The eight bytes of `bytes` at `at` as a little-endian word (0 past the end, never reached
/// by the callers, which stay within the length they checked).
#[inline]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    bytes.get(at..at + 8).and_then(|b| <[u8; 8]>::try_from(b).ok()).map_or(0, u64::from_le_bytes)
}

/// The four bytes of `bytes` at `at` as a little-endian word (0 past the end, as [`word_at`]).
#[inline]
fn half_at(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, |b| u64::from(u32::from_le_bytes(b)))
}

/// Whether `name`, with ASCII letters lowered, equals `lower`, which is already lower-case
/// (a canonical host or scheme, a configured header name).
///
/// The same answer as `lower.eq_ignore_ascii_case(bytes)` whenever `lower` has no ASCII
/// capital, in fewer instructions: lengths first, then eight bytes per step, the last word
/// ending at the end (overlapping the one before); under eight bytes as two overlapping
/// four-byte halves, under four byte by byte. Never allocates.
///
/// ```
/// assert!(cors_origin::eq_lowercase(b"content-type", b"Content-Type"));
/// assert!(!cors_origin::eq_lowercase(b"x-token", b"x-tokens"));
/// ```
#[must_use]
#[inline]
pub fn eq_lowercase(lower: &[u8], name: &[u8]) -> bool {
    eq_words::<false>(lower, name, |lower, word| lower == lower_word(word))
}

/// [`eq_lowercase`] for a `name` that is most often lower-case already, as the header names
/// browsers send: each word is compared as it is first, and lowered only when that fails.
///
/// Measured (callgrind, `engine-preflight-accepted`: 3 listed headers asked for in lower case),
/// 77 instructions less per decision than with [`eq_lowercase`]; a word in another case costs a
/// comparison more.
///
/// ```
/// assert!(cors_origin::eq_lowercase_name(b"content-type", b"Content-Type"));
/// assert!(cors_origin::eq_lowercase_name(b"x-token", b"x-token"));
/// assert!(!cors_origin::eq_lowercase_name(b"x-token", b"x-tokens"));
/// ```
#[must_use]
#[inline]
pub fn eq_lowercase_name(lower: &[u8], name: &[u8]) -> bool {
    eq_words::<true>(lower, name, |lower, word| lower == word || lower == lower_word(word))
}

/// Whether `a` and `b` are the same bytes: the same steps as [`eq_lowercase`], without
/// lowering, inline instead of a call to `memcmp` (configured origins against `Origin` bytes).
///
/// From 16 bytes, sixteen bytes per step, the last sixteen ending at the end (overlapping the
/// ones before): an origin of 16 to 32 bytes is two comparisons (two vector compares).
/// Measured (callgrind), against eight bytes per step: `engine-scale-10000-exact/last` 223 ->
/// 217 (28-byte origins), the tower layer's last-of-1 000 row 1 438 -> 1 433.
#[inline]
pub(crate) fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    let len = b.len();
    if a.len() != len {
        return false;
    }
    if len < 16 {
        return eq_words::<true>(a, b, |a, b| a == b);
    }
    let mut at = 0;
    while at + 16 < len {
        if chunk_at(a, at) != chunk_at(b, at) {
            return false;
        }
        at += 16;
    }
    chunk_at(a, len - 16) == chunk_at(b, len - 16)
}

/// The sixteen bytes of `bytes` at `at` as one little-endian number (0 past the end, as
/// [`word_at`]).
#[inline]
fn chunk_at(bytes: &[u8], at: usize) -> u128 {
    bytes.get(at..at + 16).and_then(|b| <[u8; 16]>::try_from(b).ok()).map_or(0, u128::from_le_bytes)
}

/// Whether `lower` equals `name` with every word of `name` passed through `map` (a byte-wise
/// transformation, such as [`lower_word`]): lengths first, then eight bytes per step, the last
/// word ending at the end (overlapping the one before; up to 16 bytes, those two words without a
/// loop); under eight bytes as two overlapping four-byte halves, under four byte by byte.
///
/// `SPLIT` compares the two halves one after the other, for a `same` that usually answers with
/// one comparison (the words as they are); without it they are joined into one word, for a
/// `same` that lowers every word. Measured (callgrind, `engine-preflight-rejected-header`, the
/// listed `x-token` and `content-type` found): 4 instructions less than one loop for every
/// length of eight bytes or more and the halves joined; joined for [`eq_lowercase`], the
/// halves cost R2's four-byte scheme a second lowering (`engine-same-origin` +11).
#[inline]
fn eq_words<const SPLIT: bool>(lower: &[u8], name: &[u8], same: impl Fn(u64, u64) -> bool) -> bool {
    let len = name.len();
    if lower.len() != len {
        return false;
    }
    if len > 16 {
        let mut at = 0;
        while at + 8 < len {
            if !same(word_at(lower, at), word_at(name, at)) {
                return false;
            }
            at += 8;
        }
        same(word_at(lower, len - 8), word_at(name, len - 8))
    } else if len >= 8 {
        same(word_at(lower, 0), word_at(name, 0))
            && same(word_at(lower, len - 8), word_at(name, len - 8))
    } else if len >= 4 && SPLIT {
        same(half_at(lower, 0), half_at(name, 0))
            && same(half_at(lower, len - 4), half_at(name, len - 4))
    } else if len >= 4 {
        let pair = |bytes: &[u8]| half_at(bytes, 0) | (half_at(bytes, len - 4) << 32);
        same(pair(lower), pair(name))
    } else {
        lower.iter().zip(name).all(|(&l, &n)| same(u64::from(l), u64::from(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_word_lowers_exactly_the_ascii_capitals_at_every_position() {
        for byte in 0..=u8::MAX {
            for at in 0..8 {
                let mut bytes = *b"Ab-Z@[z\xff";
                bytes[at] = byte;
                let lowered = lower_word(u64::from_le_bytes(bytes)).to_le_bytes();
                assert_eq!(lowered, bytes.map(|b| b.to_ascii_lowercase()), "{byte:#x} at {at}");
            }
        }
    }

    /// P2, R2, M1: at every length up to 40 (each branch of the word-wise comparison: bytes, two
    /// halves, two words, the loop), a name equal to the lower-case text but for one byte, at
    /// any position, in any case, compares as `eq_ignore_ascii_case` and `==` say.
    #[test]
    fn word_comparisons_see_one_changed_byte_at_every_length_and_position() {
        let text = b"content-type.x-requested-with_0123456789";
        for len in 0..=text.len() {
            let lower = &text[..len];
            for at in 0..len {
                for byte in [b'A', b'a', b'z', b'-', b',', 0, 0x80, lower[at].to_ascii_uppercase()]
                {
                    let mut name = lower.to_vec();
                    name[at] = byte;
                    let expected = lower.eq_ignore_ascii_case(&name);
                    assert_eq!(eq_lowercase(lower, &name), expected, "{}", name.escape_ascii());
                    assert_eq!(
                        eq_lowercase_name(lower, &name),
                        expected,
                        "{}",
                        name.escape_ascii()
                    );
                    assert_eq!(eq_bytes(lower, &name), *lower == *name, "{}", name.escape_ascii());
                }
            }
            assert!(eq_lowercase_name(lower, lower) && eq_bytes(lower, lower));
        }
    }

    /// Every byte at every position of names of 0 to 20 bytes, after any byte: the prefix ends
    /// at the first byte outside the alphabet.
    #[test]
    fn host_alphabet_prefix_ends_at_the_first_byte_outside() {
        for len in 0..=20 {
            for at in 0..len {
                for byte in 0..=u8::MAX {
                    let mut bytes = b"a-z.0_9q-a-z.0_9q-ab".to_vec();
                    bytes.truncate(len);
                    bytes[at] = byte;
                    let expected =
                        bytes.iter().position(|&b| !crate::host::is_host_byte(b)).unwrap_or(len);
                    assert_eq!(host_alphabet_prefix(&bytes), expected, "{}", bytes.escape_ascii());
                }
            }
        }
        assert_eq!(host_alphabet_prefix(b""), 0);
    }

    /// M1, R5: every byte, at every position of a word and after every byte, is classed as the
    /// canonical host alphabet says; the bytes after the first one outside the class are not
    /// looked at.
    #[test]
    fn host_class_is_exact_up_to_the_first_byte_outside() {
        let is_host_byte = |b: u8| crate::host::is_host_byte(b);
        for before in [b'a', b'.', b'-', b'_', b'9', b'z', 0x7f, 0x80, 0xff] {
            for byte in 0..=u8::MAX {
                for at in 0..8 {
                    let mut bytes = *b"a0-._zq9";
                    bytes[at] = byte;
                    if at > 0 {
                        bytes[at - 1] = before;
                    }
                    let (outside, separators) = host_class(u64::from_le_bytes(bytes));
                    let first = bytes.iter().position(|&b| !is_host_byte(b)).unwrap_or(8);
                    let shown = bytes.escape_ascii();
                    for (lane, &b) in bytes.iter().enumerate().take(first + 1) {
                        let bit = 0x80u64 << (8 * lane);
                        assert_eq!(
                            outside & bit != 0,
                            !is_host_byte(b),
                            "outside {lane} of {shown}"
                        );
                        if lane < first {
                            let separator = matches!(b, b'-' | b'.');
                            assert_eq!(separators & bit != 0, separator, "{lane} of {shown}");
                        }
                    }
                    assert_eq!((outside | separators) & !HIGH, 0, "high bits only: {shown}");
                }
            }
        }
    }

    /// M3: the lanes equal to a byte are exactly those, for every byte at every position of a
    /// word, whatever the bytes beside it (no borrow or carry from a neighbour may reach it).
    #[test]
    fn equal_lanes_is_exact_at_every_position() {
        for sought in [b'.', 0, 0x7f, 0x80, 0xae, 0xff] {
            for before in [0, 1, b'.' - 1, b'.', b'.' + 1, 0x7f, 0x80, 0xae, 0xff] {
                for byte in 0..=u8::MAX {
                    for at in 0..8 {
                        let mut bytes = [b'.' ^ 0x80; 8];
                        bytes[at] = byte;
                        if at > 0 {
                            bytes[at - 1] = before;
                        }
                        if at < 7 {
                            bytes[at + 1] = before;
                        }
                        let found = equal_lanes(u64::from_le_bytes(bytes), sought);
                        let expected = bytes
                            .iter()
                            .enumerate()
                            .filter(|&(_, &b)| b == sought)
                            .fold(0, |lanes, (lane, _)| lanes | 0x80 << (8 * lane));
                        assert_eq!(found, expected, "{sought:#x} in {}", bytes.escape_ascii());
                    }
                }
            }
        }
    }

    /// M3: the word-wise searches find what `position` and `rposition` find, in every text of
    /// up to 40 bytes with the byte at one or two positions (or none), within and across the
    /// words they read, among bytes one bit away from it. A zero byte is sought too: it is
    /// what the searches' padding of a short text is made of.
    #[test]
    fn byte_searches_agree_with_the_iterators_at_every_position() {
        for sought in [b'.', 0] {
            for filler in [b'a', sought ^ 1, sought ^ 0x80, 0xff] {
                for len in 0..=40 {
                    for first in 0..=len {
                        for second in first..=len {
                            let mut bytes = vec![filler; len];
                            for at in [first, second] {
                                if let Some(b) = bytes.get_mut(at) {
                                    *b = sought;
                                }
                            }
                            let shown = bytes.escape_ascii();
                            let forward = bytes.iter().position(|&b| b == sought);
                            assert_eq!(position_byte(&bytes, sought), forward, "{shown}");
                            let backward = bytes.iter().rposition(|&b| b == sought);
                            assert_eq!(rposition_byte(&bytes, sought), backward, "{shown}");
                        }
                    }
                }
            }
        }
    }

    proptest::proptest! {
        /// P2: the word-wise comparisons are `eq_ignore_ascii_case` against a lower-case name.
        #[test]
        fn eq_lowercase_is_eq_ignore_ascii_case(
            configured in "[a-z0-9-]{0,20}",
            requested in "[a-zA-Z0-9@\\[\\]`{-]{0,20}",
            copy in proptest::bool::ANY,
        ) {
            let requested = if copy { configured.to_ascii_uppercase() } else { requested };
            let expected = configured.eq_ignore_ascii_case(&requested);
            let got = eq_lowercase(configured.as_bytes(), requested.as_bytes());
            proptest::prop_assert_eq!(got, expected);
            let name = eq_lowercase_name(configured.as_bytes(), requested.as_bytes());
            proptest::prop_assert_eq!(name, expected);
        }

        /// M3: the word-wise searches are `position` and `rposition`, in any bytes.
        #[test]
        fn byte_searches_are_the_iterators(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    3 => proptest::sample::select(vec![b'.', b'a', b'-', b'.' ^ 0x80, b'/']),
                    1 => proptest::num::u8::ANY,
                ],
                0..80,
            ),
            sought in proptest::sample::select(vec![b'.', b'a', 0, 0xff]),
        ) {
            let forward = bytes.iter().position(|&b| b == sought);
            proptest::prop_assert_eq!(position_byte(&bytes, sought), forward);
            let backward = bytes.iter().rposition(|&b| b == sought);
            proptest::prop_assert_eq!(rposition_byte(&bytes, sought), backward);
        }

        /// M1: the exact lookup's comparison, sixteen bytes at a time from 16 bytes, is `==`
        /// at every length, with one byte changed anywhere (or none).
        #[test]
        fn eq_bytes_is_the_byte_comparison(
            configured in proptest::collection::vec(proptest::num::u8::ANY, 0..70),
            changed in proptest::option::of((proptest::num::usize::ANY, 1..=u8::MAX)),
            shorter in proptest::bool::weighted(0.1),
        ) {
            let mut requested = configured.clone();
            if let Some((at, delta)) = changed
                && !requested.is_empty()
            {
                let at = at % requested.len();
                requested[at] = requested[at].wrapping_add(delta);
            }
            if shorter {
                requested.pop();
            }
            proptest::prop_assert_eq!(eq_bytes(&configured, &requested), configured == requested);
        }
    }
}
