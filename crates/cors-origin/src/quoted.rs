//! [`Quoted`]: a value quoted in an error message, cut short when it is long.

use core::fmt;

/// A value quoted in an error message: its `{:?}` form (`"https://a.test"`, with `"`, `\` and
/// control characters escaped), cut short after at most [`Quoted::MAX_LEN`] bytes of it and
/// followed by `…` and the value's length when it is longer.
///
/// The one way this crate and cors-policy quote what a user wrote, so that a hostile value
/// (a 100 KB origin in a policy file, aliased many times) gives error lines of a few hundred
/// bytes, not copies of itself, in a log or a CI's output. A value is cut between two of its
/// characters, never inside one or inside an escape: what is shown is the `{:?}` of a prefix of
/// the value, so it reads as one.
///
/// ```
/// use cors_origin::Quoted;
///
/// assert_eq!(Quoted("https://a.test/x").to_string(), "\"https://a.test/x\"");
/// assert_eq!(Quoted("a\nb").to_string(), "\"a\\nb\"");
///
/// let long = format!("https://{}.test", "a".repeat(100_000));
/// let shown = Quoted(&long).to_string();
/// assert!(shown.starts_with("\"https://aaaa"));
/// assert!(shown.ends_with("aaa\"… (100013 bytes)"));
/// assert!(shown.len() <= Quoted::MAX_LEN + "… (100013 bytes)".len());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted<'t>(pub &'t str);

impl Quoted<'_> {
    /// The most bytes of the `{:?}` form shown, its quotes included, before it is cut short.
    pub const MAX_LEN: usize = 200;
}

/// The bytes `{:?}` of a `str` writes for `c`: its escape (ASCII), or `c` itself. An escape is
/// counted as `char::escape_debug` writes it, which escapes `'` too where `{:?}` of a `str` does
/// not: one byte too many for that character, never too few.
fn quoted_len(c: char) -> usize {
    match c.escape_debug().len() {
        1 => c.len_utf8(),
        escape => escape,
    }
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.0;
        let mut len = 2; // the quotes
        for (at, c) in value.char_indices() {
            len += quoted_len(c);
            if len > Self::MAX_LEN {
                // `{:?}` escapes each character on its own, so this is the whole form's start.
                return write!(f, "{:?}… ({} bytes)", &value[..at], value.len());
            }
        }
        write!(f, "{value:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::Quoted;

    #[test]
    fn a_value_within_the_limit_is_written_as_debug_writes_it() {
        for value in ["", "https://a.test", "a\"b\\c\n\u{202e}'é", &"x".repeat(198)] {
            assert_eq!(Quoted(value).to_string(), format!("{value:?}"), "{value:?}");
        }
    }

    #[test]
    fn a_longer_value_is_cut_after_the_limit_with_its_length() {
        let value = "x".repeat(199);
        assert_eq!(Quoted(&value).to_string(), format!("\"{}\"… (199 bytes)", "x".repeat(198)));
    }

    /// Escapes and characters of several bytes are never cut, whichever byte the limit falls
    /// on, and what is shown never passes it.
    #[test]
    fn a_value_is_cut_between_characters_never_inside_an_escape() {
        for unit in ["é", "€", "😀", "ab", "\n", "\u{1}", "\u{10ffff}"] {
            for lead in 0..12 {
                let value = format!("{}{}", "x".repeat(lead), unit.repeat(200));
                let shown = Quoted(&value).to_string();
                let (quoted, rest) = shown.rsplit_once('…').expect("cut short");
                assert_eq!(rest, format!(" ({} bytes)", value.len()));
                assert!(quoted.len() <= Quoted::MAX_LEN, "{shown}");
                assert!(quoted.len() > Quoted::MAX_LEN - 12, "{shown}");
                // The shown form is `{:?}` of some prefix of the value.
                let cut = (0..=value.len())
                    .filter(|&at| value.is_char_boundary(at))
                    .find(|&at| format!("{:?}", &value[..at]) == quoted);
                assert!(cut.is_some(), "{shown}");
            }
        }
    }
}
