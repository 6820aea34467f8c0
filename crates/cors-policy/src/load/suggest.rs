//! Suggestions for unknown keys: "did you mean", and where a misplaced key belongs.

use cors_origin::Quoted;

use super::config::{CONFIG_KEYS, GROUP_KEYS, METHOD_KEYS};

/// Levenshtein distance over ASCII-lower-cased characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().map(|c| c.to_ascii_lowercase()).enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The closest of `known` to `key`, if close enough to be a likely typo.
pub(crate) fn did_you_mean<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    if key.len() > 64 {
        return None;
    }
    let limit = (key.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (distance(key, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

pub(crate) fn unknown_key_hint(key: &str, known: &[&str]) -> Option<String> {
    if let Some(k) = did_you_mean(key, known) {
        return Some(format!("did you mean {k:?}?"));
    }
    if key == "<<" {
        return Some("YAML merge keys are not supported".to_owned());
    }
    let home = if CONFIG_KEYS.contains(&key) {
        "at the top of the cors-flex config"
    } else if GROUP_KEYS.contains(&key) {
        "inside an originGroups entry"
    } else if METHOD_KEYS.contains(&key) {
        "inside an allowedMethods entry"
    } else {
        return None;
    };
    (!known.contains(&key)).then(|| format!("{} belongs {home}", Quoted(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Levenshtein's distance: each insertion, deletion and substitution counts one, whatever
    /// the letters' case.
    #[test]
    fn distance_counts_each_edit_once() {
        let cases = [
            ("", "", 0),
            ("abc", "", 3),
            ("", "abc", 3),
            ("kitten", "sitting", 3),
            ("flaw", "lawn", 2),
            ("origins", "orgins", 1),
            ("allowedMethods", "allowedmethod", 1),
            ("ABC", "abc", 0),
        ];
        for (a, b, expected) in cases {
            assert_eq!(distance(a, b), expected, "{a:?} {b:?}");
            assert_eq!(distance(b, a), expected, "{b:?} {a:?}");
        }
    }

    /// A key is a likely typo of a known one within a third of its length in edits (one at
    /// least, three at most), and only up to 64 bytes long.
    #[test]
    fn a_suggestion_is_within_a_third_of_the_key() {
        assert_eq!(did_you_mean("ab", &["ax"]), Some("ax"));
        assert_eq!(did_you_mean("abcde", &["abcxy"]), None);
        assert_eq!(did_you_mean("abcdef", &["abcdxy"]), Some("abcdxy"));
        assert_eq!(did_you_mean("abcdefghijklmno", &["abcdefghijkxxxx"]), None);
        assert_eq!(did_you_mean("origns", &["headers", "origins"]), Some("origins"));
        let long = "a".repeat(64);
        assert_eq!(did_you_mean(&long, &[&long[1..]]), Some(&long[1..]));
        let longer = "a".repeat(65);
        assert_eq!(did_you_mean(&longer, &[&longer[1..]]), None);
    }
}
