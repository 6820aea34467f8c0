//! The case data model: what a `cases/*.toml` file holds, and the compiled-in corpus.
//!
//! The format is documented in `cases/SCHEMA.md`; every struct here rejects unknown keys, so an
//! expectation written with a typo fails loading instead of being dropped silently.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::profile;

/// The case files compiled into the crate, as `(area, TOML text)`, in report order.
///
/// The area of a case is the stem of its file name.
pub const CASE_FILES: &[(&str, &str)] = &[
    ("origins", include_str!("../cases/origins.toml")),
    ("simple", include_str!("../cases/simple.toml")),
    ("preflight", include_str!("../cases/preflight.toml")),
    ("acrh-syntax", include_str!("../cases/acrh-syntax.toml")),
    ("credentials", include_str!("../cases/credentials.toml")),
    ("wildcards-groups", include_str!("../cases/wildcards-groups.toml")),
    ("public", include_str!("../cases/public.toml")),
    ("expose", include_str!("../cases/expose.toml")),
    ("max-age", include_str!("../cases/max-age.toml")),
    ("vary", include_str!("../cases/vary.toml")),
    ("same-origin", include_str!("../cases/same-origin.toml")),
    ("upstream-replacement", include_str!("../cases/upstream-replacement.toml")),
    ("hostile", include_str!("../cases/hostile.toml")),
];

/// Who requires the behaviour a case checks.
///
/// Reports count each level separately, so a third-party gateway can be held to the standard
/// without being failed for Flex Gateway's or this project's choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Level {
    /// Required by the Fetch standard for browsers to behave as the policy intends.
    Fetch,
    /// Flex Gateway's documented `cors-flex` behaviour.
    Flex,
    /// This project's stated choice where the others are silent or unsafe.
    Ours,
}

impl Level {
    /// Every level, in report order.
    pub const ALL: [Level; 3] = [Level::Fetch, Level::Flex, Level::Ours];

    /// The name used in case files and on the command line.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Fetch => "fetch",
            Level::Flex => "flex",
            Level::Ours => "ours",
        }
    }

    /// Parses a level name as written in case files.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|level| level.as_str() == name)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One conformance case: a profile, a request, and what the answer must look like.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct Case {
    /// Unique id, `AREA.short-name`.
    pub id: String,
    /// One line saying what is checked.
    pub title: String,
    /// Who requires this behaviour.
    pub level: Level,
    /// The profile (a file in `profiles/`) the gateway must be configured with.
    pub profile: String,
    /// Fetch standard (or RFC) section URLs this case derives from.
    #[serde(default)]
    pub spec: Vec<String>,
    /// WPT files (paths under the wpt repository) this case transcribes.
    #[serde(default)]
    pub wpt: Vec<String>,
    /// Rule ids of the behaviour contract (`C*`, `R*`, `M*`, `P*`, `A*`, `O*`, `V*`).
    pub rules: Vec<String>,
    /// Free-form note for readers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The request to send.
    pub request: CaseRequest,
    /// What the answer must look like.
    pub expect: Expect,
    /// The area: the stem of the file the case was read from.
    #[serde(skip_deserializing)]
    pub area: String,
}

/// The request a case sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct CaseRequest {
    /// The method, sent byte-exact (default `GET`).
    #[serde(default = "default_method")]
    pub method: String,
    /// The request target (default `/`).
    #[serde(default = "default_path")]
    pub path: String,
    /// Header lines `Name: value`, in order; a name may repeat.
    #[serde(default)]
    pub headers: Vec<String>,
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_path() -> String {
    "/".to_owned()
}

impl CaseRequest {
    /// The header lines split into `(name, value)`; the value has surrounding blanks trimmed,
    /// as an HTTP parser would.
    ///
    /// # Errors
    ///
    /// A line without `:` or with an empty name.
    pub fn header_lines(&self) -> Result<Vec<(String, String)>, String> {
        self.headers.iter().map(|line| split_header_line(line)).collect()
    }
}

/// Splits `Name: value` into its name and trimmed value.
pub(crate) fn split_header_line(line: &str) -> Result<(String, String), String> {
    let Some((name, value)) = line.split_once(':') else {
        return Err(format!("header line {line:?} has no ':'"));
    };
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(format!("header line {line:?} has an invalid name {name:?}"));
    }
    Ok((name.to_owned(), value.trim_matches([' ', '\t']).to_owned()))
}

/// RFC 9110 `tchar`: the bytes of a token (header names, methods).
#[must_use]
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The status codes an answer may have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum StatusSet {
    /// Exactly this status.
    One(u16),
    /// Any of these statuses.
    AnyOf(Vec<u16>),
}

impl StatusSet {
    /// Whether `status` is allowed.
    #[must_use]
    pub fn allows(&self, status: u16) -> bool {
        match self {
            StatusSet::One(one) => *one == status,
            StatusSet::AnyOf(set) => set.contains(&status),
        }
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusSet::One(one) => write!(f, "{one}"),
            StatusSet::AnyOf(set) => {
                let parts: Vec<String> = set.iter().map(u16::to_string).collect();
                write!(f, "one of [{}]", parts.join(", "))
            }
        }
    }
}

/// The expectations on the answer. Every field that is given must hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct Expect {
    /// Allowed statuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusSet>,
    /// Whether the request reached the upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded: Option<bool>,
    /// `Access-Control-Allow-Origin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acao: Option<HeaderExpect>,
    /// `Access-Control-Allow-Credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acac: Option<HeaderExpect>,
    /// `Access-Control-Allow-Methods` (list items compared case-sensitively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acam: Option<HeaderExpect>,
    /// `Access-Control-Allow-Headers` (list items compared case-insensitively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acah: Option<HeaderExpect>,
    /// `Access-Control-Expose-Headers` (list items compared case-insensitively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aceh: Option<HeaderExpect>,
    /// `Access-Control-Max-Age`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acma: Option<HeaderExpect>,
    /// `Vary` (list items compared case-insensitively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vary: Option<HeaderExpect>,
    /// Any other header, by lower-case name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, HeaderExpect>,
    /// No `Access-Control-*` header at all may be present.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_access_control: bool,
    /// The body must be empty.
    #[serde(default, skip_serializing_if = "is_false")]
    pub empty_body: bool,
}

// Serde's `skip_serializing_if` passes a reference.
#[expect(clippy::trivially_copy_pass_by_ref, reason = "serde passes fields by reference")]
fn is_false(b: &bool) -> bool {
    !*b
}

/// The named header expectations of [`Expect`], with their header names.
pub(crate) const NAMED: [&str; 7] = [
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
    "access-control-max-age",
    "vary",
];

impl Expect {
    /// Every header expectation, named ones first, as `(lower-case header name, expectation)`.
    #[must_use]
    pub fn header_expectations(&self) -> Vec<(&str, &HeaderExpect)> {
        let named =
            [&self.acao, &self.acac, &self.acam, &self.acah, &self.aceh, &self.acma, &self.vary];
        let mut all: Vec<(&str, &HeaderExpect)> = NAMED
            .iter()
            .zip(named)
            .filter_map(|(name, expect)| expect.as_ref().map(|e| (*name, e)))
            .collect();
        all.extend(self.headers.iter().map(|(name, e)| (name.as_str(), e)));
        all
    }
}

/// Expectations on one response header. Every field that is given must hold.
///
/// A list is every field line of the header split on `,`, items trimmed, empty items dropped.
/// Items of `Access-Control-Allow-Methods` compare case-sensitively; other items compare
/// ignoring ASCII case (they are header names or `Vary` tokens).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
#[expect(
    clippy::struct_excessive_bools,
    reason = "each bool is an independent, optional expectation of the case schema"
)]
pub struct HeaderExpect {
    /// No field line at all.
    #[serde(default, skip_serializing_if = "is_false")]
    pub absent: bool,
    /// At least one field line.
    #[serde(default, skip_serializing_if = "is_false")]
    pub present: bool,
    /// Exactly one field line, with exactly this value (byte-exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// Exactly one field line, whose value is one of these (byte-exact).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub one_of: Vec<String>,
    /// No field line has one of these values (byte-exact); absence passes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub none_of: Vec<String>,
    /// The list contains each of these items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub includes: Vec<String>,
    /// The list contains none of these items; absence passes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
    /// The list, as a set, equals these items (order and repetition ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Vec<String>>,
    /// At most one field line.
    #[serde(default, skip_serializing_if = "is_false")]
    pub at_most_one_line: bool,
    /// No list item appears twice.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    /// With `exact` or `one-of`: the case's source leaves the order of this list free (it
    /// cites a Fetch section, where these lists are sets, and no rule that fixes the order;
    /// see [`ORDER_FIXED_BY`]). The value must still be exact; an answer with the same items
    /// in another order is a mismatch marked [`Mismatch::order_only`](crate::Mismatch), which
    /// the peers' matrix counts apart from failures.
    #[serde(default, skip_serializing_if = "is_false")]
    pub order_free: bool,
}

/// The behaviour rules that fix the order of a list header, as `(rule, headers)`: an
/// expectation on such a header of a case citing the rule cannot be `order-free`.
/// P4: ACAM and ACAH in file order (or the request's, mirrored); P5: ACAM and ACAH repeat
/// ACRM and ACRH; C1: the default methods in their order; A1: ACEH, the group's
/// `exposedHeaders` joined.
pub const ORDER_FIXED_BY: &[(&str, &[&str])] = &[
    ("P4", &["access-control-allow-methods", "access-control-allow-headers"]),
    ("P5", &["access-control-allow-methods", "access-control-allow-headers"]),
    ("C1", &["access-control-allow-methods"]),
    ("A1", &["access-control-expose-headers"]),
];

/// Why a case may not say the order of `name`'s list is free, if it may not.
fn order_free_problem(case: &Case, name: &str) -> Option<String> {
    if !case.spec.iter().any(|url| url.starts_with("https://fetch.spec.whatwg.org/")) {
        return Some(format!(
            "`order-free` on {name} needs a Fetch `spec` source (where the list is a set)"
        ));
    }
    let fixing = ORDER_FIXED_BY
        .iter()
        .find(|(rule, names)| names.contains(&name) && case.rules.iter().any(|r| r == rule))?;
    Some(format!("`order-free` on {name}, whose order rule {} fixes", fixing.0))
}

impl HeaderExpect {
    fn validate(&self) -> Result<(), String> {
        let constrains_value = self.present
            || self.unique
            || self.exact.is_some()
            || !self.one_of.is_empty()
            || !self.includes.is_empty()
            || self.set.is_some();
        if self.absent && constrains_value {
            return Err("`absent` cannot be combined with expectations on a value".to_owned());
        }
        let empty = !self.absent
            && !constrains_value
            && self.none_of.is_empty()
            && self.excludes.is_empty()
            && !self.at_most_one_line
            && !self.unique;
        if empty {
            return Err("empty header expectation".to_owned());
        }
        if self.order_free && self.exact.is_none() && self.one_of.is_empty() {
            return Err("`order-free` qualifies `exact` or `one-of` only".to_owned());
        }
        Ok(())
    }
}

/// The parsed corpus: every case of every area, validated.
#[derive(Debug, Clone)]
pub struct Corpus {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    case: Vec<Case>,
}

impl Corpus {
    /// Parses and validates the compiled-in case files.
    ///
    /// # Errors
    ///
    /// Every problem found: TOML or schema errors, duplicate ids, unknown profiles, bad rule ids,
    /// bad header lines, contradictory expectations.
    pub fn builtin() -> Result<Corpus, DataError> {
        Corpus::from_files(CASE_FILES.iter().copied())
    }

    /// Parses and validates case files given as `(area, TOML text)`.
    ///
    /// # Errors
    ///
    /// As for [`Corpus::builtin`].
    pub fn from_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Corpus, DataError> {
        let mut problems = Vec::new();
        let mut cases = Vec::new();
        for (area, text) in files {
            match toml::from_str::<CaseFile>(text) {
                Ok(file) => {
                    for mut case in file.case {
                        area.clone_into(&mut case.area);
                        cases.push(case);
                    }
                }
                Err(error) => problems.push(format!("cases/{area}.toml: {error}")),
            }
        }
        let mut seen = BTreeSet::new();
        for case in &cases {
            if !seen.insert(case.id.as_str()) {
                problems.push(format!("cases/{}.toml: duplicate case id {:?}", case.area, case.id));
            }
            for problem in validate_case(case) {
                problems.push(format!("cases/{}.toml: case {:?}: {problem}", case.area, case.id));
            }
        }
        if problems.is_empty() { Ok(Corpus { cases }) } else { Err(DataError { problems }) }
    }

    /// Every case, in file order.
    #[must_use]
    pub fn cases(&self) -> &[Case] {
        &self.cases
    }

    /// The case with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Case> {
        self.cases.iter().find(|case| case.id == id)
    }
}

/// The placeholders a case may write for the scheme of the target's listener, so that the same
/// same-origin cases run against a gateway over `http` and over `https`.
pub const SCHEME_PLACEHOLDERS: [&str; 3] = ["{scheme}", "{other-scheme}", "{default-port}"];

impl Case {
    /// The case as sent to a target whose listener scheme is `scheme` (`http` or `https`):
    /// `{scheme}` becomes `scheme`, `{other-scheme}` the other one, and `{default-port}` the
    /// scheme's default port, in the request's header lines and in the expected values.
    #[must_use]
    pub fn for_listener(&self, scheme: &str) -> Case {
        let (other, port) = if scheme == "https" { ("http", "443") } else { ("https", "80") };
        let fill = |text: &mut String| {
            if text.contains('{') {
                *text = text
                    .replace(SCHEME_PLACEHOLDERS[0], scheme)
                    .replace(SCHEME_PLACEHOLDERS[1], other)
                    .replace(SCHEME_PLACEHOLDERS[2], port);
            }
        };
        let mut case = self.clone();
        case.request.headers.iter_mut().for_each(fill);
        let expect = &mut case.expect;
        let named = [
            &mut expect.acao,
            &mut expect.acac,
            &mut expect.acam,
            &mut expect.acah,
            &mut expect.aceh,
            &mut expect.acma,
            &mut expect.vary,
        ];
        for header in named.into_iter().flatten().chain(expect.headers.values_mut()) {
            header.exact.iter_mut().for_each(fill);
            header.set.iter_mut().flatten().for_each(fill);
            for list in [&mut header.one_of, &mut header.none_of, &mut header.includes] {
                list.iter_mut().for_each(fill);
            }
            header.excludes.iter_mut().for_each(fill);
        }
        case
    }
}

fn validate_case(case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let prefix = format!("{}.", case.area);
    if !case.id.starts_with(&prefix) || case.id.len() == prefix.len() {
        problems.push(format!("id must start with {prefix:?}"));
    }
    if !case.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b))
    {
        problems.push("id may only hold a-z, 0-9, '-', '.', '_'".to_owned());
    }
    if profile::get(&case.profile).is_none() {
        problems.push(format!("unknown profile {:?}", case.profile));
    }
    if case.spec.is_empty() && case.wpt.is_empty() && case.level == Level::Fetch {
        problems.push("a fetch-level case needs a `spec` or `wpt` source".to_owned());
    }
    for url in &case.spec {
        if !url.starts_with("https://") || !url.contains('#') {
            problems.push(format!("spec source {url:?} is not a section URL"));
        }
    }
    for path in &case.wpt {
        if !path.starts_with("fetch/") && !path.starts_with("cors/") {
            problems.push(format!("wpt source {path:?} is not a wpt path"));
        }
    }
    if case.rules.is_empty() {
        problems.push("at least one behaviour rule id is required".to_owned());
    }
    for rule in &case.rules {
        let mut chars = rule.chars();
        let family_ok = chars.next().is_some_and(|c| "CRMPAOV".contains(c));
        let number_ok = chars.as_str().parse::<u8>().is_ok();
        if !family_ok || !number_ok {
            problems.push(format!("rule id {rule:?} is not a behaviour.md rule id"));
        }
    }
    if case.request.method.is_empty() || !case.request.method.bytes().all(is_tchar) {
        problems.push(format!("method {:?} is not a token", case.request.method));
    }
    if !case.request.path.starts_with('/') {
        problems.push(format!("path {:?} must start with '/'", case.request.path));
    }
    if let Err(problem) = case.request.header_lines() {
        problems.push(problem);
    }
    let expect = &case.expect;
    if expect.status.is_none()
        && expect.forwarded.is_none()
        && expect.header_expectations().is_empty()
        && !expect.no_access_control
    {
        problems.push("the case expects nothing".to_owned());
    }
    for (name, header) in expect.header_expectations() {
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            problems.push(format!("expect.headers key {name:?} must be lower-case"));
        }
        if let Err(problem) = header.validate() {
            problems.push(format!("expectation on {name}: {problem}"));
        }
        if header.order_free {
            problems.extend(order_free_problem(case, name));
        }
    }
    for name in expect.headers.keys() {
        if NAMED.contains(&name.as_str()) {
            problems.push(format!("use the short key for {name:?}, not expect.headers"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_placeholders_follow_the_listener() {
        let corpus = Corpus::builtin().unwrap();
        let case = corpus.get("same-origin.default-port-in-host").unwrap();
        let lines = |case: &Case| case.request.headers.join(" | ");
        assert_eq!(
            lines(&case.for_listener("http")),
            "Host: api.example.test:80 | Origin: http://api.example.test"
        );
        assert_eq!(
            lines(&case.for_listener("https")),
            "Host: api.example.test:443 | Origin: https://api.example.test"
        );
        let case = corpus.get("same-origin.other-scheme-is-cross-origin").unwrap();
        assert!(lines(&case.for_listener("https")).ends_with("Origin: http://api.example.test"));
        let case = corpus.get("same-origin.upstream-cors-passed-through").unwrap();
        let exact = case.for_listener("https").expect.acao.and_then(|acao| acao.exact);
        assert_eq!(exact.as_deref(), Some("https://api.example.test"));
    }

    #[test]
    fn builtin_corpus_loads_and_has_at_least_150_cases() {
        let corpus = Corpus::builtin().unwrap_or_else(|e| panic!("{e}"));
        assert!(corpus.cases().len() >= 150, "only {} cases", corpus.cases().len());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let text = r#"
[[case]]
id = "x.y"
title = "t"
level = "fetch"
profile = "strict"
spec = ["https://fetch.spec.whatwg.org/#cors-check"]
rules = ["R1"]
request = { method = "GET" }
expect = { status = 200, acao = { exactly = "*" } }
"#;
        let error = Corpus::from_files([("x", text)]).unwrap_err();
        assert!(error.to_string().contains("exactly"), "{error}");
    }

    #[test]
    fn duplicate_ids_and_unknown_profiles_are_all_reported() {
        let one = r#"
[[case]]
id = "x.y"
title = "t"
level = "ours"
profile = "nope"
rules = ["R1"]
request = {}
expect = { status = 200 }
"#;
        let text = format!("{one}\n{one}");
        let error = Corpus::from_files([("x", text.as_str())]).unwrap_err();
        let shown = error.to_string();
        assert!(shown.contains("duplicate case id"), "{shown}");
        assert!(shown.contains("unknown profile"), "{shown}");
    }

    /// A case says a list's order is free only where its source does: it cites a Fetch
    /// section, and no rule that fixes the order of that header (P4: file order).
    #[test]
    fn order_free_needs_a_fetch_source_and_no_rule_fixing_the_order() {
        let case = |spec: &str, rules: &str, acah: &str| {
            format!(
                r#"
[[case]]
id = "x.y"
title = "t"
level = "ours"
profile = "strict"
spec = [{spec}]
rules = [{rules}]
request = {{}}
expect = {{ acah = {acah} }}
"#
            )
        };
        let fetch = r#""https://fetch.spec.whatwg.org/#cors-check""#;
        let free = r#"{ exact = "a, b", order-free = true }"#;
        let load = |text: String| Corpus::from_files([("x", text.as_str())]).map(|_| ());
        assert_eq!(load(case(fetch, r#""P6""#, free)), Ok(()));
        for (text, problem) in [
            (case(fetch, r#""P6", "P4""#, free), "whose order rule P4 fixes"),
            (case("", r#""P6""#, free), "needs a Fetch `spec` source"),
            (
                case(fetch, r#""P6""#, r#"{ set = ["a"], order-free = true }"#),
                "`exact` or `one-of`",
            ),
        ] {
            let shown = load(text).unwrap_err().to_string();
            assert!(shown.contains(problem), "{shown}");
        }
    }
}
