//! [`OriginSet`]: many patterns, one bounded lookup.

use core::fmt;
use core::hash::{BuildHasher, Hasher};

use foldhash::fast::{FoldHasher, RandomState};
use hashbrown::HashTable;

use crate::ascii::{eq_bytes, position_byte, rposition_byte};
use crate::request::Layout;
use crate::{HeaderError, MAX_ORIGIN_LEN, OriginPattern, OriginRef, RequestOrigin};

/// How a request origin matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MatchKind {
    /// An [`OriginPattern::Exact`] pattern.
    Exact,
    /// An [`OriginPattern::Subdomains`] pattern.
    Subdomain,
    /// An [`OriginPattern::Null`] pattern.
    Null,
    /// An [`OriginPattern::Any`] pattern.
    Any,
}

/// Which pattern of an [`OriginSet`] matched, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Match {
    index: usize,
    kind: MatchKind,
}

impl Match {
    /// The position of the matching pattern in [`OriginSet::patterns`].
    #[must_use]
    pub fn index(&self) -> usize {
        self.index
    }

    /// The kind of the matching pattern.
    #[must_use]
    pub fn kind(&self) -> MatchKind {
        self.kind
    }
}

/// Many [`OriginPattern`]s, looked up in time independent of how many there are.
///
/// Exact origins are compared one by one while there are at most eight (lengths first, then a
/// word at a time), and sit in a hash table keyed by their serialization beyond that. Subdomain
/// patterns sit in a hash table keyed by (scheme, domain, port); a lookup hashes the request
/// host's dot-suffixes, at most as many as the deepest configured pattern domain has labels.
#[derive(Clone)]
pub struct OriginSet {
    patterns: Vec<OriginPattern>,
    hasher: RandomState,
    /// Serialization -> lowest index, and where the serialization's parts are (so that
    /// [`OriginSet::parse_and_find`] can skip parsing a configured origin).
    exact: ExactTable,
    /// The lowest index of each distinct subdomain pattern (scheme, domain, port), by
    /// [`hash_subdomain`] of those.
    subdomains: HashTable<SubdomainEntry>,
    /// Labels of the deepest subdomain pattern domain.
    max_labels: usize,
    null: Option<usize>,
    any: Option<usize>,
}

impl OriginSet {
    /// Builds the set; a pattern's index is its position in `patterns`.
    pub fn new(patterns: impl IntoIterator<Item = OriginPattern>) -> Self {
        let patterns: Vec<OriginPattern> = patterns.into_iter().collect();
        let hasher = RandomState::default();
        let mut subdomains = HashTable::new();
        let (mut max_labels, mut null, mut any) = (0, None, None);
        for (index, pattern) in patterns.iter().enumerate() {
            match pattern {
                OriginPattern::Any => {
                    any.get_or_insert(index);
                }
                OriginPattern::Null => {
                    null.get_or_insert(index);
                }
                OriginPattern::Exact(_) => {}
                OriginPattern::Subdomains(sub) => {
                    max_labels = max_labels.max(sub.domain_labels());
                    let entry = SubdomainEntry {
                        scheme: Box::from(sub.scheme().as_bytes()),
                        domain: Box::from(sub.domain().as_bytes()),
                        port: sub.port(),
                        index,
                    };
                    let hash = entry.hash(&hasher);
                    let same =
                        |other: &SubdomainEntry| other.is(&entry.scheme, &entry.domain, entry.port);
                    if subdomains.find(hash, same).is_none() {
                        subdomains.insert_unique(hash, entry, |other| other.hash(&hasher));
                    }
                }
            }
        }
        let exact = ExactTable::new(
            &hasher,
            patterns.iter().enumerate().filter_map(|(index, pattern)| match pattern {
                OriginPattern::Exact(origin) => {
                    Some((origin.as_str().as_bytes(), index, origin.as_ref().layout()))
                }
                _ => None,
            }),
        );
        Self { patterns, hasher, exact, subdomains, max_labels, null, any }
    }

    /// The patterns, in the order given to [`OriginSet::new`].
    #[must_use]
    pub fn patterns(&self) -> &[OriginPattern] {
        &self.patterns
    }

    /// Number of patterns.
    #[must_use]
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether there are no patterns.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The pattern that decides `origin` (behaviour rules M1, M3, M4, M5).
    ///
    /// Precedence: an exact origin (lowest index) beats a subdomain pattern (longest domain,
    /// then lowest index), which beats `*` (lowest index). `null` matches only a `null` pattern
    /// (lowest index), else `*`. Never allocates; the work is bounded by the origin's length
    /// times the deepest pattern domain's label count, whatever the number of patterns.
    #[must_use]
    pub fn find(&self, origin: &RequestOrigin<'_>) -> Option<Match> {
        let found = match origin {
            RequestOrigin::Null => self.null.map(|index| Match { index, kind: MatchKind::Null }),
            RequestOrigin::Tuple(tuple) => self
                .exact
                .get(tuple.as_bytes())
                .map(|&(index, _)| Match { index, kind: MatchKind::Exact })
                .or_else(|| {
                    self.find_subdomain(tuple.scheme_bytes(), tuple.host_bytes(), tuple.port())
                }),
        };
        found.or_else(|| self.any.map(|index| Match { index, kind: MatchKind::Any }))
    }

    /// [`RequestOrigin::parse`] and [`find`](Self::find) in one step, with the same results.
    ///
    /// `Origin` bytes equal to a configured exact origin are recognized by the one hash lookup
    /// that finds them, without being parsed: configured origins are canonical, so the request
    /// parser would accept them with the same parts (behaviour rule M1). Other bytes are parsed,
    /// then looked up among the other patterns. Never allocates; the work is bounded as for
    /// [`RequestOrigin::parse`] and [`find`](Self::find).
    ///
    /// ```
    /// use cors_origin::{MatchKind, OriginPattern, OriginSet, RequestOrigin};
    ///
    /// let set: OriginSet = [OriginPattern::parse("https://app.example")?].into_iter().collect();
    /// let (origin, found) = set.parse_and_find(b"https://app.example").expect("canonical");
    /// assert_eq!(origin, RequestOrigin::parse(b"https://app.example").expect("canonical"));
    /// assert_eq!(found.map(|m| m.kind()), Some(MatchKind::Exact));
    /// assert!(set.parse_and_find(b"https://app.example:443").is_err());
    /// # Ok::<(), cors_origin::ParseError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`RequestOrigin::parse`].
    // Inlined, with the parsing out of line: an allowed origin (the common case) is then found
    // without a call (measured: 20 instructions less per decision).
    #[inline]
    pub fn parse_and_find<'r>(
        &self,
        bytes: &'r [u8],
    ) -> Result<(RequestOrigin<'r>, Option<Match>), HeaderError> {
        // Configured serializations are at most MAX_ORIGIN_LEN bytes: longer values are refused
        // by the parser before anything hashes them.
        if bytes.len() <= MAX_ORIGIN_LEN
            && let Some(&(index, layout)) = self.exact.get(bytes)
        {
            let origin = RequestOrigin::Tuple(OriginRef::from_parts(bytes, layout));
            return Ok((origin, Some(Match { index, kind: MatchKind::Exact })));
        }
        self.parse_and_find_other(bytes)
    }

    /// [`parse_and_find`](Self::parse_and_find) for bytes that are no configured exact origin.
    fn parse_and_find_other<'r>(
        &self,
        bytes: &'r [u8],
    ) -> Result<(RequestOrigin<'r>, Option<Match>), HeaderError> {
        let origin = RequestOrigin::parse(bytes)?;
        // Not an exact origin (the lookup above missed the same bytes): subdomain, null or `*`.
        let found = match origin {
            RequestOrigin::Null => self.null.map(|index| Match { index, kind: MatchKind::Null }),
            // Without subdomain patterns, no call (measured: 47 instructions less per decision).
            RequestOrigin::Tuple(_) if self.max_labels == 0 => None,
            RequestOrigin::Tuple(tuple) => {
                self.find_subdomain(tuple.scheme_bytes(), tuple.host_bytes(), tuple.port())
            }
        };
        let found = found.or_else(|| self.any.map(|index| Match { index, kind: MatchKind::Any }));
        Ok((origin, found))
    }

    fn find_subdomain(&self, scheme: &[u8], host: &[u8], port: Option<u16>) -> Option<Match> {
        if self.max_labels == 0 || host.starts_with(b"[") {
            return None;
        }
        // The suffixes after the last `max_labels` dots are those with at most `max_labels`
        // labels, the most a pattern domain has; the leftmost of them is the longest. Found
        // from the right, the bytes in front of them are not read (measured: one reverse walk
        // counting dots cost 76 instructions more on an origin with no pattern). Each dot is
        // searched for eight bytes at a time (`rposition_byte`, `position_byte`): measured
        // (callgrind, `engine-scale-1000-subdomains`), 700 / 753 / 719 instructions per decision
        // (first / last / absent) where `Iterator::rposition` and `position` took 750 / 804 /
        // 764. Not kept: one word-wise walk for all `max_labels` dots (712 / 752 / 704), the
        // `memchr` crate's `memrchr` and `memchr` (798 / 852 / 914: a call through its CPU
        // dispatch, and inputs under 16 bytes byte by byte).
        let mut start = host.len();
        for _ in 0..self.max_labels {
            match host.get(..start).and_then(|before| rposition_byte(before, b'.')) {
                Some(dot) => start = dot,
                None => break,
            }
        }
        let mut dot = (start < host.len()).then_some(start)?;
        loop {
            let domain = host.get(dot + 1..)?;
            let hash = hash_subdomain(&self.hasher, scheme, domain, port);
            if let Some(entry) = self.subdomains.find(hash, |entry| entry.is(scheme, domain, port))
            {
                return Some(Match { index: entry.index, kind: MatchKind::Subdomain });
            }
            dot += 1 + position_byte(domain, b'.')?;
        }
    }
}

/// A subdomain pattern's (scheme, domain, port) and its lowest pattern index.
#[derive(Clone)]
struct SubdomainEntry {
    scheme: Box<[u8]>,
    domain: Box<[u8]>,
    port: Option<u16>,
    index: usize,
}

impl SubdomainEntry {
    /// Whether this is the pattern of `scheme`, `domain` and `port`.
    #[inline(always)]
    #[expect(clippy::inline_always, reason = "measured: 7 instructions less per subdomain hit")]
    fn is(&self, scheme: &[u8], domain: &[u8], port: Option<u16>) -> bool {
        self.port == port && eq_bytes(&self.domain, domain) && eq_bytes(&self.scheme, scheme)
    }

    fn hash(&self, hasher: &RandomState) -> u64 {
        hash_subdomain(hasher, &self.scheme, &self.domain, self.port)
    }
}

/// Configured exact serializations, each with its lowest pattern index and layout.
///
/// Up to [`ExactTable::SMALL`] of them (the usual policy) are compared one by one, lengths
/// first, then a word at a time ([`eq_bytes`]): cheaper than hashing the request's bytes. More
/// sit in a hash table, so the lookup stays independent of how many there are.
#[derive(Clone)]
enum ExactTable {
    /// Distinct serializations, in pattern order (so the first equal one has the lowest index).
    Small(Vec<ExactEntry>),
    /// Distinct serializations by [`hash_bytes`] of their bytes, with the set's hasher.
    ///
    /// A `hashbrown` table of the entries rather than a `HashMap` keyed by the bytes: it is
    /// probed with our cheaper hash and compared with the inline [`eq_bytes`] instead of a call
    /// to `memcmp`. Measured (callgrind, `engine-scale-10000-exact/last`): 236 instructions per
    /// decision, against 275 with `HashMap<Box<[u8]>, _>` (184 with a single exact origin).
    Large(HashTable<ExactEntry>, RandomState),
}

#[derive(Clone)]
struct ExactEntry {
    bytes: Box<[u8]>,
    /// Lowest pattern index and layout.
    found: (usize, Layout),
}

impl ExactTable {
    /// The most entries compared one by one.
    const SMALL: usize = 8;

    /// The table of the exact origins `exact` (serialization, pattern index, layout), in pattern
    /// order; repeated serializations keep their lowest index.
    fn new<'a>(
        hasher: &RandomState,
        exact: impl Iterator<Item = (&'a [u8], usize, Layout)>,
    ) -> Self {
        let mut table = HashTable::new();
        for (bytes, index, layout) in exact {
            let hash = hash_bytes(hasher, bytes);
            if table.find(hash, |entry: &ExactEntry| *entry.bytes == *bytes).is_none() {
                let entry = ExactEntry { bytes: Box::from(bytes), found: (index, layout) };
                table.insert_unique(hash, entry, |entry| hash_bytes(hasher, &entry.bytes));
            }
        }
        if table.len() > Self::SMALL {
            return Self::Large(table, hasher.clone());
        }
        let mut entries: Vec<ExactEntry> = table.into_iter().collect();
        entries.sort_unstable_by_key(|entry| entry.found.0);
        Self::Small(entries)
    }

    /// The lowest pattern index of `bytes` and its layout.
    #[inline(always)]
    #[expect(clippy::inline_always, reason = "one call per request, measured: the call cost more")]
    fn get(&self, bytes: &[u8]) -> Option<&(usize, Layout)> {
        match self {
            Self::Small(entries) => {
                entries.iter().find(|entry| eq_bytes(&entry.bytes, bytes)).map(|e| &e.found)
            }
            Self::Large(table, hasher) => Self::get_hashed(table, hasher, bytes),
        }
    }

    /// [`get`](Self::get) in a large table, inlined. Kept out of line before, so that hashing
    /// would not weigh on the small table's inlined comparisons; inlined, measured (callgrind):
    /// 13 instructions less for `engine-scale-10000-exact/last` (236 -> 223), 14 for the tower
    /// layer's last-of-1 000 and 10 000 rows (1 452 -> 1 438), which sit within 1/2 of
    /// actix-cors only so; 3 more for `engine-actual-allowed` (178 -> 181), none for the
    /// layer's allowed row.
    #[inline]
    fn get_hashed<'t>(
        table: &'t HashTable<ExactEntry>,
        hasher: &RandomState,
        bytes: &[u8],
    ) -> Option<&'t (usize, Layout)> {
        let hash = hash_bytes(hasher, bytes);
        table.find(hash, |entry| eq_bytes(&entry.bytes, bytes)).map(|entry| &entry.found)
    }
}

/// The seeded foldhash of `bytes`, for the set's hash tables.
#[inline]
fn hash_bytes(hasher: &RandomState, bytes: &[u8]) -> u64 {
    let mut state = hasher.build_hasher();
    write_bytes(&mut state, bytes);
    state.finish()
}

/// The seeded foldhash of a subdomain pattern's (scheme, domain, port), for the set's table.
#[inline]
fn hash_subdomain(hasher: &RandomState, scheme: &[u8], domain: &[u8], port: Option<u16>) -> u64 {
    let mut state = hasher.build_hasher();
    write_bytes(&mut state, domain);
    write_bytes(&mut state, scheme);
    state.write_u32(port.map_or(1 << 16, u32::from));
    state.finish()
}

/// Feeds `bytes` to `state`: equal values hash equal.
///
/// Up to 15 bytes, foldhash's own byte hash (`Hasher::write`, inlined). From 16, 16 bytes at a
/// time through foldhash's `write_u128` (one folded multiply each, inlined), the last 16 ending
/// at the end (overlapping the one before) with the length mixed in. foldhash hashes longer
/// values in a function it keeps out of line, and a `[u8]`'s `Hash` also writes its length (a
/// multiply more): measured, this is 21 instructions less per decision
/// (`engine-scale-10000-exact/last`, 28-byte origins). The seeds are foldhash's, random per
/// process, so request bytes cannot aim at a configured key's bucket.
#[inline]
fn write_bytes(state: &mut FoldHasher<'_>, bytes: &[u8]) {
    if let (Some((first, mut rest)), Some((_, last))) =
        (bytes.split_first_chunk::<16>(), bytes.split_last_chunk::<16>())
    {
        state.write_u128(u128::from_le_bytes(*first));
        while let Some((chunk, tail)) = rest.split_first_chunk::<16>()
            && !tail.is_empty()
        {
            state.write_u128(u128::from_le_bytes(*chunk));
            rest = tail;
        }
        state.write_u128(u128::from_le_bytes(*last) ^ bytes.len() as u128);
    } else {
        state.write(bytes);
    }
}

impl Default for OriginSet {
    fn default() -> Self {
        Self::new([])
    }
}

impl fmt::Debug for OriginSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OriginSet").field("patterns", &self.patterns).finish_non_exhaustive()
    }
}

impl FromIterator<OriginPattern> for OriginSet {
    fn from_iter<I: IntoIterator<Item = OriginPattern>>(iter: I) -> Self {
        Self::new(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PATTERNS: [&str; 9] = [
        "https://a.test",
        "https://b.a.test",
        "http://a.test:8080",
        "https://*.a.test",
        "https://[::1]",
        "https://xn--bcher-kva.example",
        "null",
        "*",
        "https://a.test",
    ];

    fn origin_bytes() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(PATTERNS.to_vec()).prop_map(str::to_owned),
            "(https?://)?(b\\.|c\\.)?a\\.test(:8080|:443|/)?",
            "[a-zA-Z0-9:/.\\[\\]*-]{0,20}",
            Just("null".to_owned()),
            Just(format!("https://{}.test", "a".repeat(3000))),
        ]
    }

    /// M1: past `ExactTable::SMALL` exact origins (the hash map path) and below it (one by
    /// one), an exact origin resolves to its lowest index, and the one-step lookup agrees.
    #[test]
    fn exact_lookup_answers_alike_below_and_above_the_small_table() {
        for fillers in [0, ExactTable::SMALL - 2, ExactTable::SMALL + 1, 40] {
            let mut texts: Vec<String> =
                (0..fillers).map(|i| format!("https://f{i}.test")).collect();
            texts.extend(PATTERNS.iter().map(|p| (*p).to_owned()));
            let set: OriginSet =
                texts.iter().map(|p| OriginPattern::parse(p).expect("valid pattern")).collect();
            for (index, text) in texts.iter().enumerate() {
                let bytes = text.as_bytes();
                let expected =
                    RequestOrigin::parse(bytes).map(|origin| (origin, set.find(&origin)));
                assert_eq!(set.parse_and_find(bytes), expected, "{text} with {fillers} fillers");
                if OriginPattern::parse(text).is_ok_and(|p| matches!(p, OriginPattern::Exact(_))) {
                    let first = texts.iter().position(|t| t == text).expect("present");
                    let found = set.parse_and_find(bytes).expect("canonical").1;
                    assert_eq!(
                        found,
                        Some(Match { index: first, kind: MatchKind::Exact }),
                        "{text}"
                    );
                    assert!(first <= index);
                }
            }
            for miss in ["https://f9999.test", "https://a.tesu", "https://a.test:1"] {
                let bytes = miss.as_bytes();
                let expected =
                    RequestOrigin::parse(bytes).map(|origin| (origin, set.find(&origin)));
                assert_eq!(set.parse_and_find(bytes), expected, "{miss} with {fillers} fillers");
            }
        }
    }

    /// The tables' hashes read every byte of a key, and a subdomain pattern's port, so that
    /// distinct keys spread over the table and a lookup stays one probe however many patterns
    /// there are (an `OriginSet` looks up in time independent of their number): one changed bit
    /// at any position of a key of any length up to 64 bytes changes the hash.
    #[test]
    fn hashes_tell_apart_keys_that_differ_in_one_bit() {
        let hasher = RandomState::default();
        for len in 1..=64 {
            let key: Vec<u8> = (b'a'..=b'z').cycle().take(len).collect();
            let hash = hash_bytes(&hasher, &key);
            let subdomain = hash_subdomain(&hasher, b"https", &key, None);
            for at in 0..len {
                for bit in 0..8 {
                    let mut other = key.clone();
                    other[at] ^= 1 << bit;
                    let shown = format!("length {len}, byte {at}, bit {bit}");
                    assert_ne!(hash_bytes(&hasher, &other), hash, "{shown}");
                    let other = hash_subdomain(&hasher, b"https", &other, None);
                    assert_ne!(other, subdomain, "{shown}");
                }
            }
            for port in [Some(0), Some(443), Some(8443)] {
                assert_ne!(hash_subdomain(&hasher, b"https", &key, port), subdomain, "{port:?}");
            }
            assert_ne!(hash_subdomain(&hasher, b"http", &key, None), subdomain);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// M1, M3 to M5: the one-step lookup answers exactly as parsing, then finding.
        #[test]
        fn parse_and_find_is_parse_then_find(
            patterns in prop::sample::subsequence(PATTERNS.to_vec(), 0..=PATTERNS.len()).prop_shuffle(),
            input in origin_bytes(),
        ) {
            let set: OriginSet =
                patterns.iter().map(|p| OriginPattern::parse(p).expect("valid pattern")).collect();
            let bytes = input.as_bytes();
            let expected = RequestOrigin::parse(bytes).map(|origin| (origin, set.find(&origin)));
            prop_assert_eq!(set.parse_and_find(bytes), expected);
        }
    }
}
