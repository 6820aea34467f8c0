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
