//! [`Vary`]: the request headers an answer depends on (V1).

use std::fmt;

use http::HeaderValue;

/// The request headers an answer depends on, to append to the response's `Vary` (V1).
///
/// A set of three tokens, `Origin`, `Access-Control-Request-Method` and
/// `Access-Control-Request-Headers`, always listed in that order.
/// The adapter appends the [`tokens`](Self::tokens) that the response's `Vary` does not already
/// list (compared ignoring case), or sets [`header_value`](Self::header_value) when the response
/// has no `Vary` yet.
///
/// ```
/// use cors_engine::Vary;
///
/// let vary = Vary::ORIGIN.with(Vary::REQUEST_HEADERS);
/// assert_eq!(vary.tokens().collect::<Vec<_>>(), ["Origin", "Access-Control-Request-Headers"]);
/// assert_eq!(vary.header_value().unwrap(), "Origin, Access-Control-Request-Headers");
/// assert!(Vary::NONE.is_empty());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Vary(u8);

const TOKENS: [&str; 3] =
    ["Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"];

/// Every combination joined with `, `; index = the bit set.
const JOINED: [&str; 8] = [
    "",
    "Origin",
    "Access-Control-Request-Method",
    "Origin, Access-Control-Request-Method",
    "Access-Control-Request-Headers",
    "Origin, Access-Control-Request-Headers",
    "Access-Control-Request-Method, Access-Control-Request-Headers",
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
];

/// Every combination, prebuilt.
static VALUES: [HeaderValue; 8] = [
    HeaderValue::from_static(JOINED[0]),
    HeaderValue::from_static(JOINED[1]),
    HeaderValue::from_static(JOINED[2]),
    HeaderValue::from_static(JOINED[3]),
    HeaderValue::from_static(JOINED[4]),
    HeaderValue::from_static(JOINED[5]),
    HeaderValue::from_static(JOINED[6]),
    HeaderValue::from_static(JOINED[7]),
];

impl Vary {
    /// Depends on nothing the request varies in.
    pub const NONE: Vary = Vary(0);
    /// Depends on `Origin`.
    pub const ORIGIN: Vary = Vary(1);
    /// Depends on `Access-Control-Request-Method`.
    pub const REQUEST_METHOD: Vary = Vary(2);
    /// Depends on `Access-Control-Request-Headers`.
    pub const REQUEST_HEADERS: Vary = Vary(4);

    /// Both sets together.
    #[must_use]
    pub const fn with(self, other: Vary) -> Vary {
        Vary(self.0 | other.0)
    }

    /// Whether every token of `other` is in `self`.
    #[must_use]
    pub const fn contains(self, other: Vary) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether there is no token to add.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The header names, in the order `Origin`, `Access-Control-Request-Method`,
    /// `Access-Control-Request-Headers`.
    pub fn tokens(self) -> impl Iterator<Item = &'static str> + Clone {
        TOKENS.into_iter().enumerate().filter(move |(i, _)| self.0 & (1 << i) != 0).map(|(_, t)| t)
    }

    /// The tokens of `self` that none of a response's `Vary` field `lines` lists yet: what an
    /// adapter appends so that no token is duplicated (V1).
    ///
    /// Tokens compare ignoring ASCII case across every line, and `*` anywhere already covers
    /// everything. Never allocates.
    #[must_use]
    #[inline]
    pub fn missing_from<'a>(self, lines: impl IntoIterator<Item = &'a [u8]>) -> Vary {
        let mut missing = self;
        for line in lines {
            if missing.is_empty() {
                break;
            }
            missing = missing.unlisted_by(line);
        }
        missing
    }

    /// The tokens of `self` that one `Vary` field `line` does not list: [`Vary::NONE`] when it
    /// lists `*`. [`missing_from`](Self::missing_from) applied to one line, for an adapter that
    /// meets the lines one by one.
    pub(crate) fn unlisted_by(self, line: &[u8]) -> Vary {
        let mut missing = self;
        for element in line.split(|&b| b == b',') {
            let element = element.trim_ascii();
            if element == b"*" {
                return Vary::NONE;
            }
            for (bit, token) in TOKENS.into_iter().enumerate() {
                if element.eq_ignore_ascii_case(token.as_bytes()) {
                    missing.0 &= !(1 << bit);
                }
            }
        }
        missing
    }

    /// [`header_value`](Self::header_value), built in place: the same value, without the call
    /// through `Bytes`' vtable that cloning the prebuilt one makes (measured, about 12
    /// instructions per value written).
    #[inline]
    pub(crate) fn to_header_value(self) -> Option<HeaderValue> {
        Some(match self.0 {
            1 => const { HeaderValue::from_static(JOINED[1]) },
            2 => const { HeaderValue::from_static(JOINED[2]) },
            3 => const { HeaderValue::from_static(JOINED[3]) },
            4 => const { HeaderValue::from_static(JOINED[4]) },
            5 => const { HeaderValue::from_static(JOINED[5]) },
            6 => const { HeaderValue::from_static(JOINED[6]) },
            7 => const { HeaderValue::from_static(JOINED[7]) },
            _ => return None,
        })
    }

    /// The tokens joined with `, `, prebuilt; `None` when empty.
    #[must_use]
    pub fn header_value(self) -> Option<&'static HeaderValue> {
        if self.is_empty() { None } else { VALUES.get(usize::from(self.0)) }
    }
}

impl fmt::Debug for Vary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.tokens()).finish()
    }
}

impl fmt::Display for Vary {
    /// The tokens joined with `, ` (nothing when empty).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, token) in self.tokens().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(token)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[track_caller]
    fn check_vary(upstream: &[&str], wanted: Vary, expected: Vary) {
        let lines = upstream.iter().map(|line| line.as_bytes());
        assert_eq!(wanted.missing_from(lines), expected);
    }

    #[rstest]
    #[case::v1_added_when_absent(&[], Vary::ORIGIN, Vary::ORIGIN)]
    #[case::v1_kept_after_other_tokens(&["Accept-Encoding"], Vary::ORIGIN, Vary::ORIGIN)]
    #[case::v1_not_duplicated_ignoring_case(&["accept-encoding, ORIGIN"], Vary::ORIGIN, Vary::NONE)]
    #[case::v1_found_on_a_later_line(&["Accept", "origin"], Vary::ORIGIN, Vary::NONE)]
    #[case::v1_star_covers_everything(&["*"], Vary::ORIGIN, Vary::NONE)]
    #[case::v1_star_inside_a_list(&["Accept, *"], Vary::ORIGIN.with(Vary::REQUEST_HEADERS), Vary::NONE)]
    #[case::v1_only_missing_tokens(&["Origin"], Vary::ORIGIN.with(Vary::REQUEST_METHOD), Vary::REQUEST_METHOD)]
    #[case::v1_whitespace_around_tokens(&[" origin ,access-control-request-headers "], Vary::ORIGIN.with(Vary::REQUEST_HEADERS), Vary::NONE)]
    #[case::v1_prefix_is_not_the_token(&["Origins"], Vary::ORIGIN, Vary::ORIGIN)]
    #[case::v1_nothing_wanted(&["Accept"], Vary::NONE, Vary::NONE)]
    fn missing_from_lists_only_unlisted_tokens(
        #[case] upstream: &[&str],
        #[case] wanted: Vary,
        #[case] expected: Vary,
    ) {
        check_vary(upstream, wanted, expected);
    }

    /// V1: `with` is the union: a token already there stays, once.
    #[test]
    fn with_keeps_a_token_already_there() {
        let both = Vary::ORIGIN.with(Vary::REQUEST_HEADERS);
        assert_eq!(both.with(Vary::ORIGIN), both);
        assert_eq!(Vary::ORIGIN.with(Vary::ORIGIN), Vary::ORIGIN);
        assert!(both.contains(Vary::ORIGIN) && both.contains(Vary::REQUEST_HEADERS));
        assert_eq!(format!("{both:?}"), r#"{"Origin", "Access-Control-Request-Headers"}"#);
    }

    #[test]
    fn v1_every_prebuilt_value_joins_the_tokens() {
        for bits in 1u8..8 {
            let vary = Vary(bits);
            let joined = vary.tokens().collect::<Vec<_>>().join(", ");
            assert_eq!(vary.header_value().map(HeaderValue::as_bytes), Some(joined.as_bytes()));
            assert_eq!(vary.to_string(), joined);
            assert_eq!(vary.to_header_value().as_ref(), vary.header_value());
        }
        assert_eq!(Vary::NONE.header_value(), None);
        assert_eq!(Vary::NONE.to_header_value(), None);
    }
}
