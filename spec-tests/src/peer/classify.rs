//! Classifies a peer's conformance results as passed, failed or unsupported.
//!
//! The runner knows pass and fail only. A peer's `unsupported.toml` (in `spec-tests/peers/<peer>/`) lists
//! what the peer cannot express under each profile; a failed case that an entry covers is
//! reported **unsupported**, with the entry's reason. Entries that cover no failed case are
//! reported too, so the file does not rot. A peer's `divergences.toml` holds the notes of the
//! matrix: each names the cases that check it, and is shown with their outcomes in this run.
//!
//! ```toml
//! [[unsupported]]
//! profiles = ["groups"]            # optional: every profile when absent
//! when = "several-groups"          # optional: for exports, the policies it applies to
//! cases = ["wildcards-groups.*"]   # case-id globs (`*` is any run of characters)
//! rules = ["M3"]                   # and/or: cases citing any of these behaviour rule ids
//! reason = "one configuration, no origin groups"
//! ```
//!
//! `when` says which policies the limitation concerns, so that an export of any policy (a
//! built-in profile or the user's own file) can state it; see [`When`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::case::Corpus;
use crate::error::DataError;
use crate::peer::flat::{Flat, Requested};
use crate::runner::{Outcome, Report};

/// One `[[unsupported]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unsupported {
    /// Profiles the entry applies to (all when empty).
    #[serde(default)]
    pub profiles: Vec<String>,
    /// The policies the limitation concerns, for exports (every policy when absent).
    #[serde(default)]
    pub when: Option<When>,
    /// Case-id globs.
    #[serde(default)]
    pub cases: Vec<String>,
    /// Behaviour rule ids.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Why the peer cannot express it.
    pub reason: String,
}

/// Which policies an unsupported entry concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum When {
    /// The policy has more than one origin group.
    SeveralGroups,
    /// The policy is a public resource.
    Public,
    /// The policy answers some origins with `*` (a public resource or a `*` group, both
    /// without credentials).
    StarAnswer,
    /// The policy mirrors requested methods or headers (a public resource, `headers: ['*']`).
    Mirror,
}

impl When {
    /// Whether a policy, flattened, is one this condition concerns.
    #[must_use]
    pub fn holds(self, flat: &Flat) -> bool {
        match self {
            When::SeveralGroups => flat.groups > 1,
            When::Public => flat.public,
            When::StarAnswer => flat.origins.any && !flat.credentials,
            When::Mirror => flat.methods == Requested::Mirror || flat.headers == Requested::Mirror,
        }
    }
}

impl Unsupported {
    /// Whether the entry covers this case (profile, id and rules of a case of the corpus).
    #[must_use]
    pub fn covers(&self, profile: &str, id: &str, rules: &[String]) -> bool {
        (self.profiles.is_empty() || self.profiles.iter().any(|p| p == profile))
            && (self.cases.iter().any(|glob| glob_matches(glob, id))
                || self.rules.iter().any(|rule| rules.contains(rule)))
    }
}

/// One `[[divergence]]` note of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Divergence {
    /// One or two sentences.
    pub summary: String,
    /// The cases that check it.
    pub cases: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnsupportedFile {
    #[serde(default)]
    unsupported: Vec<Unsupported>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DivergenceFile {
    #[serde(default)]
    divergence: Vec<Divergence>,
}

/// A peer's data files, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerData {
    /// What it cannot express.
    pub unsupported: Vec<Unsupported>,
    /// Notes for the matrix.
    pub divergences: Vec<Divergence>,
}

impl PeerData {
    /// Parses the two files' texts (`file` names them in errors).
    ///
    /// # Errors
    ///
    /// A file is not valid TOML of the documented shape.
    pub fn parse(file: &str, unsupported: &str, divergences: &str) -> Result<PeerData, DataError> {
        let data = |name: &str, e: toml::de::Error| DataError {
            problems: vec![format!("spec-tests/peers/{file}/{name}: {e}")],
        };
        let u: UnsupportedFile =
            toml::from_str(unsupported).map_err(|e| data("unsupported.toml", e))?;
        let d: DivergenceFile =
            toml::from_str(divergences).map_err(|e| data("divergences.toml", e))?;
        Ok(PeerData { unsupported: u.unsupported, divergences: d.divergence })
    }
}

/// Whether `id` matches `glob` (`*` matches any run of characters, everything else itself).
#[must_use]
pub fn glob_matches(glob: &str, id: &str) -> bool {
    let mut parts = glob.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = id.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The class of one case's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Class {
    /// Every expectation held.
    Passed,
    /// An expectation did not hold (or the target gave no answer).
    Failed,
    /// Failed, and the peer cannot express what the case needs.
    Unsupported,
    /// Failed only by the order of lists whose order the case says is free
    /// ([`Mismatch::order_only`](crate::Mismatch)): the same items were granted. The matrix
    /// counts these with the passed cases, so that an implementation listing in hash order
    /// gets the same counts in every run.
    OrderOnly,
}

/// One classified case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classified {
    /// The case id.
    pub id: String,
    /// Its area.
    pub area: String,
    /// Its level.
    pub level: String,
    /// Its profile.
    pub profile: String,
    /// The class.
    pub class: Class,
    /// The unsupported entry's reason, or the first mismatch of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A divergence note with the outcome of each of its cases in this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// The note.
    pub summary: String,
    /// `(case id, class)`; class is `None` when the case was not run (or does not exist).
    pub cases: Vec<(String, Option<Class>)>,
}

/// Everything `classify` finds for one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// The peer (or `cors-gateway`).
    pub peer: String,
    /// One entry per case run.
    pub cases: Vec<Classified>,
    /// Reasons of unsupported entries that covered no failed case of the profiles run.
    pub unused: Vec<String>,
    /// Notes with their cases' outcomes.
    pub notes: Vec<Note>,
    /// Case ids named in the data files that do not exist in the corpus.
    pub unknown_cases: Vec<String>,
}

/// Classifies `report` (one or several profile runs merged) with `data`.
#[must_use]
pub fn classify(peer: &str, report: &Report, data: &PeerData, corpus: &Corpus) -> Classification {
    let rules: BTreeMap<&str, &[String]> =
        corpus.cases().iter().map(|case| (case.id.as_str(), case.rules.as_slice())).collect();
    let profiles_run: Vec<&str> = report.results.iter().map(|r| r.profile.as_str()).collect();
    let mut used = vec![false; data.unsupported.len()];
    let mut cases = Vec::with_capacity(report.results.len());
    for result in &report.results {
        let case_rules = rules.get(result.id.as_str()).copied().unwrap_or_default();
        let (class, detail) = match &result.outcome {
            Outcome::Pass => (Class::Passed, None),
            Outcome::Fail { mismatches }
                if !mismatches.is_empty() && mismatches.iter().all(|m| m.order_only) =>
            {
                (Class::OrderOnly, Some(first_problem(&result.outcome)))
            }
            other => {
                let covering = data
                    .unsupported
                    .iter()
                    .position(|entry| entry.covers(&result.profile, &result.id, case_rules));
                if let Some(index) = covering {
                    used[index] = true;
                    (Class::Unsupported, Some(data.unsupported[index].reason.clone()))
                } else {
                    (Class::Failed, Some(first_problem(other)))
                }
            }
        };
        cases.push(Classified {
            id: result.id.clone(),
            area: result.area.clone(),
            level: result.level.as_str().to_owned(),
            profile: result.profile.clone(),
            class,
            detail,
        });
    }
    let unused = data
        .unsupported
        .iter()
        .zip(used)
        .filter(|(entry, used)| {
            !used
                && (entry.profiles.is_empty()
                    || entry.profiles.iter().any(|p| profiles_run.contains(&p.as_str())))
        })
        .map(|(entry, _)| entry.reason.clone())
        .collect();
    let class_of = |id: &str| cases.iter().find(|c| c.id == id).map(|c| c.class);
    let notes = data
        .divergences
        .iter()
        .map(|d| Note {
            summary: d.summary.clone(),
            cases: d.cases.iter().map(|id| (id.clone(), class_of(id))).collect(),
        })
        .collect();
    let mut unknown_cases: Vec<String> = data
        .divergences
        .iter()
        .flat_map(|d| d.cases.iter())
        .chain(
            data.unsupported.iter().flat_map(|u| u.cases.iter()).filter(|glob| !glob.contains('*')),
        )
        .filter(|id| !rules.contains_key(id.as_str()))
        .cloned()
        .collect();
    unknown_cases.dedup();
    Classification { peer: peer.to_owned(), cases, unused, notes, unknown_cases }
}

impl Classification {
    /// The run's failures in the words of the peer's export, for someone whose gateway runs
    /// it: how many the export says the peer cannot express, by reason; how many fail where
    /// its recipe answers otherwise than cors-flex, by note; and how many neither explains, by
    /// level, which are the ones to look at. Each reason and note is cut at its first clause
    /// (up to its first `: ` or `, ` outside backquotes and parentheses). Empty when nothing
    /// failed.
    #[must_use]
    pub fn failures_in_words(&self) -> String {
        let failed: Vec<&Classified> = self
            .cases
            .iter()
            .filter(|case| matches!(case.class, Class::Failed | Class::Unsupported))
            .collect();
        if failed.is_empty() {
            return String::new();
        }
        let note_of =
            |id: &str| self.notes.iter().find(|note| note.cases.iter().any(|(case, _)| case == id));
        let mut unsupported: Vec<(&str, usize)> = Vec::new();
        let mut divergent: Vec<(&str, usize)> = Vec::new();
        let mut neither: BTreeMap<&str, usize> = BTreeMap::new();
        for case in &failed {
            let (counts, key) = match (case.class, note_of(&case.id)) {
                (Class::Unsupported, _) => {
                    (&mut unsupported, case.detail.as_deref().unwrap_or_default())
                }
                (_, Some(note)) => (&mut divergent, note.summary.as_str()),
                (_, None) => {
                    *neither.entry(case.level.as_str()).or_default() += 1;
                    continue;
                }
            };
            match counts.iter_mut().find(|(seen, _)| *seen == key) {
                Some((_, count)) => *count += 1,
                None => counts.push((key, 1)),
            }
        }
        let peer = &self.peer;
        let mut out = format!(
            "{peer}: of the {} failures, `cors-conformance export --to {peer}` states:\n",
            failed.len()
        );
        for (title, counts) in [
            (format!("what {peer} cannot express"), &unsupported),
            ("where its recipe answers otherwise than cors-flex".to_owned(), &divergent),
        ] {
            let total: usize = counts.iter().map(|(_, count)| count).sum();
            let _ = writeln!(out, "  {total} {title}");
            for (text, count) in counts {
                let text = text.trim();
                let _ = writeln!(out, "    {count:>3}  {}", first_clause(text));
            }
        }
        let levels: Vec<String> =
            neither.iter().map(|(level, count)| format!("{level} {count}")).collect();
        let total: usize = neither.values().sum();
        let _ = writeln!(
            out,
            "  {total} it does not explain{}",
            if levels.is_empty() {
                String::new()
            } else {
                format!(" ({}): look at these (--format details)", levels.join(", "))
            }
        );
        out
    }
}

/// `text` up to its first `: ` or `, ` outside backquotes (`` `a: b` `` is code), or all of it.
fn first_clause(text: &str) -> &str {
    let mut quoted = false;
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '`' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            ':' | ',' if !quoted && depth == 0 && text[i + 1..].starts_with(' ') => {
                return &text[..i];
            }
            _ => {}
        }
    }
    text
}

fn first_problem(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Fail { mismatches } | Outcome::KnownFailure { mismatches, .. } => {
            let more = match mismatches.len() {
                0 | 1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            mismatches.first().map(|first| format!("{first}{more}")).unwrap_or_default()
        }
        Outcome::Error { message } => format!("no answer: {message}"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[track_caller]
    fn check(glob: &str, id: &str, matches: bool) {
        assert_eq!(glob_matches(glob, id), matches, "{glob} vs {id}");
    }

    #[rstest]
    #[case::colon("no way to mirror X: a fixed list", "no way to mirror X")]
    #[case::comma_in_backquotes("`GET, POST` are listed, always", "`GET, POST` are listed")]
    #[case::comma_in_parentheses(
        "an empty list means the defaults (GET, POST, HEAD): none cannot be said",
        "an empty list means the defaults (GET, POST, HEAD)"
    )]
    fn a_summary_line_is_the_first_whole_clause(#[case] text: &str, #[case] clause: &str) {
        assert_eq!(first_clause(text), clause);
    }

    #[rstest]
    #[case::exact_id("preflight.put", "preflight.put", true)]
    #[case::exact_id_is_not_a_prefix("preflight.put", "preflight.put-allowed", false)]
    #[case::trailing_star("preflight.*", "preflight.put", true)]
    #[case::trailing_star_needs_the_prefix("preflight.*", "simple.get", false)]
    #[case::inner_star("*.rejected-*", "preflight.rejected-method", true)]
    #[case::inner_star_needs_the_middle("*.rejected-*", "preflight.accepted", false)]
    #[case::star_alone("*", "anything", true)]
    #[case::suffix_does_not_overlap_the_prefix("ab*ba", "aba", false)]
    fn globs_match_case_ids(#[case] glob: &str, #[case] id: &str, #[case] matches: bool) {
        check(glob, id, matches);
    }

    #[test]
    fn failures_are_put_in_the_words_of_the_export() {
        let case = |id: &str, level: &str, class: Class, detail: &str| Classified {
            id: id.to_owned(),
            area: "a".to_owned(),
            level: level.to_owned(),
            profile: "strict".to_owned(),
            class,
            detail: Some(detail.to_owned()),
        };
        let mut found = Classification {
            peer: "nginx".to_owned(),
            cases: vec![
                case("a.pass", "fetch", Class::Passed, ""),
                case("a.methods", "flex", Class::Unsupported, "no methods: why"),
                case("a.methods-2", "flex", Class::Unsupported, "no methods: why"),
                case("a.acao", "fetch", Class::Failed, "two lines"),
                case("a.other", "ours", Class::Failed, "x"),
                case("a.other-2", "fetch", Class::Failed, "y"),
            ],
            unused: Vec::new(),
            notes: vec![Note {
                summary: "`add_header` adds `Vary: Origin` (`a, b`), and more".to_owned(),
                cases: vec![("a.acao".to_owned(), Some(Class::Failed))],
            }],
            unknown_cases: Vec::new(),
        };
        assert_eq!(
            found.failures_in_words(),
            "nginx: of the 5 failures, `cors-conformance export --to nginx` states:\n\
             \x20 2 what nginx cannot express\n\
             \x20     2  no methods\n\
             \x20 1 where its recipe answers otherwise than cors-flex\n\
             \x20     1  `add_header` adds `Vary: Origin` (`a, b`)\n\
             \x20 2 it does not explain (fetch 1, ours 1): look at these (--format details)\n"
        );
        found.cases.retain(|case| case.class == Class::Passed);
        assert_eq!(found.failures_in_words(), "");
    }

    /// The engine, answering with every list header's items reversed (`a, b` as `b, a`), as
    /// an implementation that lists in hash order may.
    struct Reversing(crate::EngineTarget);

    impl crate::Target for Reversing {
        fn name(&self) -> &'static str {
            "reversing"
        }

        fn send(
            &mut self,
            profile: &str,
            request: &crate::OutgoingRequest,
        ) -> Result<crate::Observed, crate::TargetError> {
            let mut answer = self.0.send(profile, request)?;
            for (name, value) in &mut answer.headers {
                if name == "access-control-allow-methods" || name == "access-control-allow-headers"
                {
                    let mut items: Vec<&[u8]> =
                        value.split(|b| *b == b',').map(<[u8]>::trim_ascii).collect();
                    items.reverse();
                    *value = items.join(&b", "[..]);
                }
            }
            Ok(answer)
        }
    }

    /// Lists in another order are counted apart from failures where the case says the order is
    /// free (`acrh-syntax.spaces-around-names`, from Fetch's header-list split, P6), and are
    /// failures where a rule fixes it (`preflight.post-acrm`, P4: file order).
    #[test]
    fn another_order_is_order_only_where_the_case_leaves_it_free() {
        let corpus = Corpus::builtin().expect("the corpus loads");
        let mut target = Reversing(crate::EngineTarget::new().expect("the engine target"));
        let mut report = Report::empty("reversing");
        for id in ["acrh-syntax.spaces-around-names", "preflight.post-acrm"] {
            let selection = crate::Selection::all().profile("strict").filter(Some(id));
            let known = crate::KnownFailures::none();
            report.merge(crate::runner::run(
                &corpus,
                &selection,
                &mut target,
                &known,
                &mut |_, _| {},
            ));
        }
        let found = classify("reversing", &report, &PeerData::default(), &corpus);
        let classes: Vec<(&str, Class)> =
            found.cases.iter().map(|case| (case.id.as_str(), case.class)).collect();
        assert_eq!(
            classes,
            [
                ("acrh-syntax.spaces-around-names", Class::OrderOnly),
                ("preflight.post-acrm", Class::Failed)
            ]
        );
        assert!(
            found.failures_in_words().contains("of the 1 failures"),
            "{}",
            found.failures_in_words()
        );
    }

    #[test]
    fn every_peer_data_file_parses_and_names_existing_cases() {
        let corpus = Corpus::builtin().expect("the corpus loads");
        for peer in crate::peer::Peer::ALL {
            let data = peer.data().expect("the data files parse");
            let report = Report::empty(peer.name());
            let found = classify(peer.name(), &report, &data, &corpus);
            assert!(found.unknown_cases.is_empty(), "{}: {:?}", peer.name(), found.unknown_cases);
        }
    }
}
