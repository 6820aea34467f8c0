//! Tidy's check that the conformance case counts the docs state are the corpus's.
//!
//! The corpus grows; the counts written in prose (README.md, docs/envoy.md) and ours in the
//! generated matrix (docs/conformance-matrix.md) were left behind once (371 where there were
//! 374). The corpus is counted from `spec-tests/cases/*.toml` as text (`[[case]]` tables and
//! their `level = "..."` lines), since xtask links no product crate; cors-conformance's loader
//! checks the same files' schema.

use std::path::Path;

/// The cases of each level, and in all.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    fetch: usize,
    flex: usize,
    ours: usize,
}

impl Counts {
    fn all(&self) -> usize {
        self.fetch + self.flex + self.ours
    }
}

/// Counts the cases of the case files' texts.
fn count(files: &[String]) -> Counts {
    let mut counts = Counts::default();
    for line in files.iter().flat_map(|text| text.lines()) {
        match line.trim() {
            r#"level = "fetch""# => counts.fetch += 1,
            r#"level = "flex""# => counts.flex += 1,
            r#"level = "ours""# => counts.ours += 1,
            _ => {}
        }
    }
    counts
}

/// The number that starts `text` (digits only).
fn leading_number(text: &str) -> Option<usize> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Problems of one document's stated counts against `counts`.
fn doc_problems(file: &str, text: &str, counts: &Counts) -> Vec<String> {
    let mut problems = Vec::new();
    let mut says = |what: &str, stated: Option<usize>, actual: usize| {
        if stated != Some(actual) {
            problems.push(format!(
                "{file}: {what} says {}, the corpus has {actual} (spec-tests/cases)",
                stated.map_or("no number".to_owned(), |n| n.to_string())
            ));
        }
    };
    // README.md: "states the expected behaviour as data: N cases".
    for (at, _) in text.match_indices("as data: ") {
        says("the case count", leading_number(&text[at + 9..]), counts.all());
    }
    // docs/envoy.md: "pass N of M cases (fetch A, flex B, ours C)".
    for (at, _) in text.match_indices("Both pass ") {
        let rest = &text[at + 10..];
        let rest = &rest[..rest.find(')').unwrap_or(rest.len())];
        says("the cases passed", leading_number(rest), counts.all());
        let of = rest.find(" of ").map(|i| &rest[i + 4..]);
        says("the cases run", of.and_then(leading_number), counts.all());
        for (level, actual) in
            [("fetch ", counts.fetch), ("flex ", counts.flex), ("ours ", counts.ours)]
        {
            let stated = rest.find(level).and_then(|i| leading_number(&rest[i + level.len()..]));
            says(&format!("the {level}cases"), stated, actual);
        }
    }
    // docs/conformance-matrix.md: ours (the first column) of the totals ran every case.
    if text.starts_with("# Conformance matrix") {
        for (row, actual) in [
            ("| fetch |", counts.fetch),
            ("| flex |", counts.flex),
            ("| ours |", counts.ours),
            ("| all |", counts.all()),
        ] {
            let cell = text
                .lines()
                .find(|line| line.starts_with(row))
                .and_then(|line| line.split('|').nth(2))
                .map(|cell| {
                    cell.split('/')
                        .filter_map(|n| n.trim().trim_matches('*').parse::<usize>().ok())
                        .sum()
                });
            let level = row.trim_matches(|c| c == '|' || c == ' ');
            says(&format!("ours in the totals' `{level}` row"), cell, actual);
        }
    }
    problems
}

/// Every stated count that is not the corpus's.
pub(crate) fn problems(root: &Path) -> Vec<String> {
    let dir = root.join("spec-tests").join("cases");
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => return vec![format!("cannot read {}: {e}", dir.display())],
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            match std::fs::read_to_string(&path) {
                Ok(text) => files.push(text),
                Err(e) => return vec![format!("cannot read {}: {e}", path.display())],
            }
        }
    }
    let counts = count(&files);
    ["README.md", "docs/envoy.md", "docs/conformance-matrix.md"]
        .iter()
        .flat_map(|file| match std::fs::read_to_string(root.join(file)) {
            Ok(text) => doc_problems(file, &text, &counts),
            Err(e) => vec![format!("cannot read {file}: {e}")],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const COUNTS: Counts = Counts { fetch: 2, flex: 1, ours: 3 };

    #[test]
    fn cases_are_counted_by_level() {
        let file = "[[case]]\nlevel = \"fetch\"\n[[case]]\nlevel = \"ours\"\n".to_owned();
        assert_eq!(count(&[file.clone(), file]), Counts { fetch: 2, flex: 0, ours: 2 });
    }

    #[test]
    fn stated_counts_are_compared_with_the_corpus() {
        let good = "as data: 6 cases. Both pass 6 of 6 cases (fetch 2, flex 1, ours 3): run";
        assert!(doc_problems("d", good, &COUNTS).is_empty());
        let stale = "as data: 5 cases. Both pass 5 of 5 cases (fetch 2, flex 1, ours 2): run";
        assert_eq!(doc_problems("d", stale, &COUNTS).len(), 4);
        let matrix = "# Conformance matrix\n| fetch | 2 / 0 / 0 | x |\n| flex | 0 / **1** / 0 |\n\
                      | ours | 3 / 0 / 0 |\n| all | 5 / **1** / 0 |\n";
        assert!(doc_problems("m", matrix, &COUNTS).is_empty());
        let stale = matrix.replace("| all | 5", "| all | 4");
        assert_eq!(doc_problems("m", &stale, &COUNTS).len(), 1);
    }
}
