//! The case file `cases.toml`: the policies and, for each case, the request the page sends and
//! the outcome the browser must show.
//!
//! The schema is in `README.md` next to this crate; every table rejects unknown keys, so a
//! misspelt expectation fails loading instead of being skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;

/// Placeholder in policy files for the listed page origin, `http://localhost:PORT`.
pub const PAGE_ORIGIN_PLACEHOLDER: &str = "${PAGE_ORIGIN}";

/// Everything `cases.toml` holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Suite {
    /// The policies, in run order.
    #[serde(rename = "policy")]
    pub policies: Vec<PolicyFile>,
    /// The cases, in run order within each policy.
    #[serde(rename = "case")]
    pub cases: Vec<Case>,
}

/// A cors-flex policy file a gateway is started with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyFile {
    /// Short name cases refer to.
    pub name: String,
    /// The file, relative to the `browser-tests` directory.
    pub file: PathBuf,
    /// What the policy is for, in one sentence.
    pub about: String,
}

/// Which origin the page that runs a case is loaded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Page {
    /// `http://localhost:PORT`: the origin the policies list; same site as the gateway, so
    /// `SameSite=Lax` cookies go with credentialed requests.
    Listed,
    /// `http://127.0.0.1:PORT`: the same page server under an origin no policy lists; another
    /// site than the gateway's `localhost`.
    Other,
}

/// The `credentials` member of the fetch `RequestInit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Credentials {
    /// Never send cookies; the response may use `Access-Control-Allow-Origin: *`.
    Omit,
    /// Cookies only to the page's own origin (the fetch default): none to the gateway.
    SameOrigin,
    /// Send cookies cross-origin; the response must echo the origin and allow credentials.
    Include,
}

impl Credentials {
    /// The value JavaScript passes to `fetch`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Credentials::Omit => "omit",
            Credentials::SameOrigin => "same-origin",
            Credentials::Include => "include",
        }
    }
}

/// How a `fetch()` call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Outcome {
    /// The promise resolves with a readable response.
    Ok,
    /// The promise rejects with a `TypeError`: the browser refused the response (or the
    /// preflight), so the page learns nothing about it.
    CorsError,
}

/// One case: a request made by the page, and what the browser must do with it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Case {
    /// Unique id, `POLICY/what-it-checks`.
    pub id: String,
    /// The [`PolicyFile::name`] the gateway runs with.
    pub policy: String,
    /// The page origin the request comes from.
    pub page: Page,
    /// The method given to `fetch`, as written (`patch` stays `patch`; browsers upper-case
    /// only DELETE, GET, HEAD, OPTIONS, POST and PUT).
    pub method: String,
    /// Request headers set by the script.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The fetch `credentials` mode.
    pub credentials: Credentials,
    /// A request body, if any.
    #[serde(default)]
    pub body: Option<String>,
    /// Ask the upstream to add its own Access-Control-* headers, which the gateway must replace.
    #[serde(default)]
    pub upstream_cors: bool,
    /// The conformance cases (spec-tests ids) checking the same scenario at the HTTP level.
    #[serde(default)]
    pub conformance: Vec<String>,
    /// Behaviour contract rule ids the expectation follows from.
    pub rules: Vec<String>,
    /// Why the browser must behave so, from the policy.
    pub why: String,
    /// The expected browser outcome.
    pub expect: Expect,
}

/// What the browser must show for a case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Expect {
    /// Whether `fetch()` resolves or rejects.
    pub fetch: Outcome,
    /// Whether the browser sent a preflight (`OPTIONS`) first.
    pub preflight: bool,
    /// Whether the actual request reached the upstream.
    pub arrived: bool,
    /// Whether the request that reached the upstream carried the suite's cookie.
    #[serde(default)]
    pub cookie: Option<bool>,
    /// Response headers JavaScript must be able to read, with the upstream's value.
    #[serde(default)]
    pub visible: Vec<String>,
    /// Response headers the upstream sent that JavaScript must not be able to read.
    #[serde(default)]
    pub hidden: Vec<String>,
}

impl Suite {
    /// Reads and checks `cases.toml`.
    pub fn load(path: &Path) -> Result<Suite, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
        Suite::parse(&text, &path.display().to_string())
    }

    /// Parses and checks the text of a case file; `place` names it in errors.
    pub fn parse(text: &str, place: &str) -> Result<Suite, Error> {
        let suite: Suite = toml::from_str(text)
            .map_err(|e| Error::data(place, e.to_string().trim_end().to_owned()))?;
        let problems = suite.problems();
        if problems.is_empty() { Ok(suite) } else { Err(Error::data(place, problems.join("\n"))) }
    }

    /// Every inconsistency in the suite (duplicate ids, unknown policies, expectations that
    /// cannot be observed), one message each.
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let policies: BTreeSet<&str> = self.policies.iter().map(|p| p.name.as_str()).collect();
        if policies.len() != self.policies.len() {
            problems.push("two policies share a name".to_owned());
        }
        let mut ids = BTreeSet::new();
        for case in &self.cases {
            let id = &case.id;
            let mut problem = |message: &str| problems.push(format!("case {id:?}: {message}"));
            if !ids.insert(id.as_str()) {
                problem("duplicate id");
            }
            if !id.starts_with(&format!("{}/", case.policy)) {
                problem("id must start with its policy name and a slash");
            }
            if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_/".contains(&b)) {
                problem("id may hold only ASCII letters, digits, '-', '_' and '/'");
            }
            if !policies.contains(case.policy.as_str()) {
                problem("unknown policy");
            }
            if case.rules.is_empty() {
                problem("name at least one rule id");
            }
            let expect = &case.expect;
            if expect.cookie.is_some() && !expect.arrived {
                problem("`cookie` needs `arrived = true`");
            }
            if expect.fetch != Outcome::Ok
                && !(expect.visible.is_empty() && expect.hidden.is_empty())
            {
                problem("`visible` and `hidden` need `fetch = \"ok\"`");
            }
            for name in expect.visible.iter().chain(&expect.hidden) {
                if !crate::servers::UPSTREAM_HEADERS
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case(name))
                {
                    problem(&format!("the upstream never sends {name:?}"));
                }
            }
        }
        problems
    }

    /// Every conformance id a case names that `corpus` does not hold, as
    /// `(case id, conformance id)`.
    #[must_use]
    pub fn unknown_conformance_ids<'s>(
        &'s self,
        corpus: &cors_conformance::Corpus,
    ) -> Vec<(&'s str, &'s str)> {
        self.cases
            .iter()
            .flat_map(|case| case.conformance.iter().map(move |id| (case.id.as_str(), id.as_str())))
            .filter(|(_, id)| corpus.get(id).is_none())
            .collect()
    }

    /// The cases of one policy, in file order.
    pub fn cases_of<'s>(&'s self, policy: &'s str) -> impl Iterator<Item = &'s Case> + 's {
        self.cases.iter().filter(move |case| case.policy == policy)
    }
}

impl PolicyFile {
    /// The policy text with [`PAGE_ORIGIN_PLACEHOLDER`] replaced by `page_origin`.
    ///
    /// `base` is the `browser-tests` directory [`PolicyFile::file`] is relative to.
    pub fn render(&self, base: &Path, page_origin: &str) -> Result<String, Error> {
        let path = base.join(&self.file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("read policy {}", path.display()), e))?;
        Ok(text.replace(PAGE_ORIGIN_PLACEHOLDER, page_origin))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rstest::rstest;

    use super::{Outcome, PAGE_ORIGIN_PLACEHOLDER, Suite};

    const POLICY: &str = r#"
        [[policy]]
        name = "p"
        file = "policies/credentialed-groups.yaml"
        about = "a policy"
    "#;

    fn base() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    fn shipped() -> Suite {
        Suite::load(&base().join("cases.toml")).unwrap()
    }

    #[test]
    fn shipped_suite_has_forty_cases_over_four_policies_each_used() {
        let suite = shipped();
        assert!(suite.cases.len() >= 40, "{} cases", suite.cases.len());
        assert!(suite.policies.len() >= 4, "{} policies", suite.policies.len());
        for policy in &suite.policies {
            assert!(suite.cases_of(&policy.name).next().is_some(), "{} has no case", policy.name);
        }
    }

    #[test]
    fn shipped_suite_has_both_outcomes_preflights_and_both_pages() {
        let suite = shipped();
        let has = |f: &dyn Fn(&super::Case) -> bool| suite.cases.iter().any(f);
        assert!(has(&|c| c.expect.fetch == Outcome::Ok));
        assert!(has(&|c| c.expect.fetch == Outcome::CorsError));
        assert!(has(&|c| c.expect.preflight) && has(&|c| !c.expect.preflight));
        assert!(has(&|c| c.page == super::Page::Other));
        assert!(has(&|c| c.method == "patch") && has(&|c| c.method == "PATCH"));
        assert!(has(&|c| c.headers.keys().any(|h| h.eq_ignore_ascii_case("authorization"))));
        assert!(
            has(&|c| c.expect.cookie == Some(true)) && has(&|c| c.expect.cookie == Some(false))
        );
    }

    #[test]
    fn shipped_conformance_ids_exist_in_the_corpus() {
        let corpus = cors_conformance::Corpus::builtin().unwrap();
        let suite = shipped();
        assert_eq!(suite.unknown_conformance_ids(&corpus), []);
        assert!(suite.cases.iter().filter(|c| !c.conformance.is_empty()).count() >= 40);
    }

    #[test]
    fn shipped_policies_render_with_the_page_origin() {
        let suite = shipped();
        for policy in &suite.policies {
            let text = policy.render(base(), "http://localhost:4242").unwrap();
            assert!(!text.contains(PAGE_ORIGIN_PLACEHOLDER), "{} keeps a placeholder", policy.name);
            if policy.file.starts_with("policies") {
                assert!(
                    text.contains("http://localhost:4242"),
                    "{} never lists the page",
                    policy.name
                );
            }
        }
    }

    /// A valid case; each rejected case below changes only what its name says.
    const VALID: &str = r#"
        id = "p/a"
        policy = "p"
        page = "listed"
        method = "GET"
        credentials = "omit"
        rules = ["A1"]
        why = "w"
        expect = { fetch = "ok", preflight = false, arrived = true }
    "#;

    /// A case file with [`POLICY`] and one case per entry of `changes`: [`VALID`] with the
    /// entry's keys (TOML) set to the entry's values.
    fn suite(changes: &[&str]) -> String {
        let mut suite: toml::Table = POLICY.parse().unwrap();
        let cases = changes.iter().map(|changes| {
            let mut case: toml::Table = VALID.parse().unwrap();
            case.extend(changes.parse::<toml::Table>().unwrap());
            toml::Value::Table(case)
        });
        suite.insert("case".to_owned(), toml::Value::Array(cases.collect()));
        suite.to_string()
    }

    #[rstest]
    #[case::unknown_key_is_rejected(r#"colour = "red""#, "unknown field `colour`")]
    #[case::unknown_policy_is_rejected(
        r#"id = "q/a"
           policy = "q""#,
        "unknown policy"
    )]
    #[case::cookie_without_arrival_is_rejected(
        r#"credentials = "include"
           expect = { fetch = "cors-error", preflight = true, arrived = false, cookie = true }"#,
        "`cookie` needs `arrived = true`"
    )]
    #[case::headers_of_a_failed_fetch_are_rejected(
        r#"expect = { fetch = "cors-error", preflight = false, arrived = false, hidden = ["x-secret"] }"#,
        "`visible` and `hidden` need `fetch = \"ok\"`"
    )]
    #[case::header_the_upstream_never_sends_is_rejected(
        r#"expect = { fetch = "ok", preflight = false, arrived = true, visible = ["x-nope"] }"#,
        "the upstream never sends \"x-nope\""
    )]
    #[case::id_without_policy_prefix_is_rejected(
        r#"id = "a""#,
        "id must start with its policy name"
    )]
    fn check(#[case] changes: &str, #[case] message: &str) {
        check_rejected(&suite(&[changes]), message);
    }

    #[track_caller]
    fn check_rejected(text: &str, message: &str) {
        let error = Suite::parse(text, "t.toml").unwrap_err().to_string();
        assert!(error.contains(message), "{error:?} does not say {message:?}");
    }

    #[test]
    fn the_valid_case_is_accepted() {
        let suite = Suite::parse(&suite(&[""]), "t.toml").unwrap();
        assert_eq!(suite.cases.len(), 1);
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        check_rejected(&suite(&["", ""]), "duplicate id");
    }
}
