//! Checking an observed answer against a case's expectations.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::case::{Expect, HeaderExpect};

/// What came back for one request, whatever the target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Observed {
    /// The response status.
    pub status: u16,
    /// Every response field line in order, names lower-cased.
    ///
    /// In JSON reports values are text with bytes outside printable ASCII escaped (`\\xNN`).
    #[serde(serialize_with = "lines_out", deserialize_with = "lines_in")]
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body length in bytes.
    pub body_len: usize,
    /// Whether the request reached the upstream.
    pub forwarded: bool,
}

impl Observed {
    /// An answer with this status and nothing else.
    #[must_use]
    pub fn new(status: u16) -> Observed {
        Observed { status, ..Observed::default() }
    }

    /// Every value of the header `name` (lower-case), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    /// The response's field lines that a CORS report cares about: `Access-Control-*` and `Vary`,
    /// formatted `name: value`, one per line.
    #[must_use]
    pub fn cors_lines(&self) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(name, _)| name.starts_with("access-control-") || name == "vary")
            .map(|(name, value)| format!("{name}: {}", escape(value)))
            .collect()
    }
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "status {}, {}, body {} bytes",
            self.status,
            if self.forwarded { "forwarded" } else { "not forwarded" },
            self.body_len
        )?;
        for line in self.cors_lines() {
            write!(f, "\n    {line}")?;
        }
        Ok(())
    }
}

fn lines_out<S: serde::Serializer>(
    lines: &Vec<(String, Vec<u8>)>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq as _;
    let mut seq = s.serialize_seq(Some(lines.len()))?;
    for (name, value) in lines {
        seq.serialize_element(&(name, escape(value)))?;
    }
    seq.end()
}

fn lines_in<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<(String, Vec<u8>)>, D::Error> {
    let lines: Vec<(String, String)> = Deserialize::deserialize(d)?;
    Ok(lines.into_iter().map(|(name, value)| (name, value.into_bytes())).collect())
}

/// Shows bytes as text, escaping anything that is not printable ASCII.
#[must_use]
pub fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// One expectation that did not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Mismatch {
    /// What was checked: `status`, `forwarded`, `body` or a header name.
    pub subject: String,
    /// The expectation, in words.
    pub expected: String,
    /// What came back.
    pub got: String,
    /// The answer has the expected list's items in another order, and the case says that order
    /// is free (`order-free`): a mismatch of the exact value, not of what the list grants.
    #[serde(default, skip_serializing_if = "is_false")]
    pub order_only: bool,
}

#[expect(clippy::trivially_copy_pass_by_ref, reason = "serde's skip_serializing_if signature")]
fn is_false(value: &bool) -> bool {
    !*value
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: expected {}, got {}", self.subject, self.expected, self.got)?;
        if self.order_only {
            f.write_str(" (the same items in another order, which the case leaves free)")?;
        }
        Ok(())
    }
}

/// Checks `observed` against every expectation of `expect`; returns each one that failed.
#[must_use]
pub fn check(expect: &Expect, observed: &Observed) -> Vec<Mismatch> {
    expectations(expect, observed)
        .into_iter()
        .filter(|e| !e.holds)
        .map(|e| Mismatch {
            subject: e.subject,
            expected: e.expected,
            got: e.got,
            order_only: e.order_only,
        })
        .collect()
}

/// Every expectation of `expect` in words, `subject: expectation`, in the order they are
/// checked (for reports that show what a case expects, passed or not).
#[must_use]
pub fn describe(expect: &Expect) -> Vec<String> {
    expectations(expect, &Observed::default())
        .into_iter()
        .map(|e| format!("{}: {}", e.subject, e.expected))
        .collect()
}

/// One expectation, in words, with whether an answer meets it and what the answer shows.
struct Expectation {
    subject: String,
    expected: String,
    got: String,
    holds: bool,
    order_only: bool,
}

fn expectations(expect: &Expect, observed: &Observed) -> Vec<Expectation> {
    let mut out = Vec::new();
    let mut push = |subject: &str, expected: String, got: String, holds: bool| {
        let order_only = false;
        out.push(Expectation { subject: subject.to_owned(), expected, got, holds, order_only });
    };
    if let Some(status) = &expect.status {
        let holds = status.allows(observed.status);
        push("status", status.to_string(), observed.status.to_string(), holds);
    }
    if let Some(forwarded) = expect.forwarded {
        let word = |f: bool| {
            if f { "forwarded to the upstream" } else { "answered by the gateway" }.to_owned()
        };
        let holds = forwarded == observed.forwarded;
        push("forwarded", word(forwarded), word(observed.forwarded), holds);
    }
    if expect.empty_body {
        let got = format!("{} bytes", observed.body_len);
        push("body", "empty".to_owned(), got, observed.body_len == 0);
    }
    if expect.no_access_control {
        let lines: Vec<String> = observed
            .cors_lines()
            .into_iter()
            .filter(|line| line.starts_with("access-control-"))
            .collect();
        let holds = lines.is_empty();
        let got = if holds { "no header".to_owned() } else { lines.join("; ") };
        push("access-control-*", "no header".to_owned(), got, holds);
    }
    for (name, header) in expect.header_expectations() {
        let values: Vec<&[u8]> = observed.values(name).collect();
        let reordered = header.order_free && is_reordered(name, header, &values);
        for (expected, holds) in header_expectations(name, header, &values) {
            out.push(Expectation {
                subject: name.to_owned(),
                expected,
                got: show_lines(&values),
                holds,
                order_only: reordered && !holds,
            });
        }
    }
    out
}

/// Whether `values` is one field line whose list items are those of the expectation's `exact`
/// value, or of one of its `one-of` values, byte for byte, in another order. Only the
/// `exact`/`one-of` expectations are concerned: any other on the header must hold as well.
fn is_reordered(name: &str, expect: &HeaderExpect, values: &[&[u8]]) -> bool {
    let [value] = values else { return false };
    let sorted = |value: &[u8]| {
        let mut items: Vec<Vec<u8>> =
            list_items(&[value]).into_iter().map(<[u8]>::to_vec).collect();
        items.sort();
        items
    };
    let got = sorted(value);
    let rest = HeaderExpect { exact: None, one_of: Vec::new(), ..expect.clone() };
    let others_hold = header_expectations(name, &rest, values).iter().all(|(_, holds)| *holds);
    others_hold
        && expect.exact.iter().chain(&expect.one_of).any(|want| {
            // Items as the expectation writes them, joined as it joins them.
            sorted(want.as_bytes()) == got && value.len() == want.len()
        })
}

/// Whether list items of the header `name` compare case-sensitively (methods) or not (names).
fn items_case_sensitive(name: &str) -> bool {
    name == "access-control-allow-methods"
}

/// Every item of a list-valued header over all its field lines.
fn list_items<'a>(values: &[&'a [u8]]) -> Vec<&'a [u8]> {
    values
        .iter()
        .flat_map(|value| value.split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|item| !item.is_empty())
        .collect()
}

/// Field values in quotes, escaped once as [`Observed`]'s lines are (`escape_ascii` already
/// escapes `"` and `\`), so a mismatch shows the bytes the answer's lines show.
fn show_lines(values: &[&[u8]]) -> String {
    let quoted = |value: &[u8]| format!("\"{}\"", escape(value));
    match values {
        [] => "no header".to_owned(),
        [one] => quoted(one),
        many => {
            let shown: Vec<String> = many.iter().map(|v| quoted(v)).collect();
            format!("{} lines [{}]", many.len(), shown.join(", "))
        }
    }
}

fn show_list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|i| format!("{i:?}")).collect::<Vec<_>>().join(", "))
}

/// Each expectation on one header, in words, with whether `values` (its field lines) meet it.
fn header_expectations(name: &str, expect: &HeaderExpect, values: &[&[u8]]) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let same = |a: &[u8], b: &str| {
        if items_case_sensitive(name) {
            a == b.as_bytes()
        } else {
            a.eq_ignore_ascii_case(b.as_bytes())
        }
    };
    if expect.absent {
        out.push(("no header".to_owned(), values.is_empty()));
    }
    if expect.present {
        out.push(("a header".to_owned(), !values.is_empty()));
    }
    if expect.at_most_one_line {
        out.push(("at most one line".to_owned(), values.len() <= 1));
    }
    if let Some(exact) = &expect.exact {
        let holds = values.len() == 1 && values[0] == exact.as_bytes();
        out.push((format!("exactly {exact:?}"), holds));
    }
    if !expect.one_of.is_empty() {
        let holds = values.len() == 1 && expect.one_of.iter().any(|v| values[0] == v.as_bytes());
        out.push((format!("one line, one of {}", show_list(&expect.one_of)), holds));
    }
    if !expect.none_of.is_empty() {
        let holds =
            !values.iter().any(|value| expect.none_of.iter().any(|v| *value == v.as_bytes()));
        out.push((format!("none of {}", show_list(&expect.none_of)), holds));
    }
    let items = list_items(values);
    if !expect.includes.is_empty() {
        let holds = expect.includes.iter().all(|want| items.iter().any(|item| same(item, want)));
        out.push((format!("a list including {}", show_list(&expect.includes)), holds));
    }
    if !expect.excludes.is_empty() {
        let holds = !expect.excludes.iter().any(|bad| items.iter().any(|item| same(item, bad)));
        out.push((format!("a list without {}", show_list(&expect.excludes)), holds));
    }
    if expect.unique {
        let repeated = items.iter().enumerate().any(|(i, item)| {
            items[..i].iter().any(|earlier| same(earlier, &String::from_utf8_lossy(item)))
        });
        out.push(("no repeated item".to_owned(), !repeated));
    }
    if let Some(set) = &expect.set {
        let all_expected = items.iter().all(|item| set.iter().any(|want| same(item, want)));
        let all_present = set.iter().all(|want| items.iter().any(|item| same(item, want)));
        out.push((
            format!("the list {} in any order", show_list(set)),
            all_expected && all_present,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[derive(Deserialize)]
    struct Wrapper {
        e: HeaderExpect,
    }

    /// Checks header `name` with field `lines` against an expectation written as in case files.
    #[track_caller]
    fn check(name: &str, expect: &str, lines: &[&str], holds: bool) {
        let expect = toml::from_str::<Wrapper>(&format!("e = {expect}")).unwrap().e;
        let values: Vec<&[u8]> = lines.iter().map(|v| v.as_bytes()).collect();
        let results = super::header_expectations(name, &expect, &values);
        assert!(!results.is_empty());
        assert_eq!(results.iter().all(|(_, h)| *h), holds, "{results:?}");
    }

    /// A tab, a non-UTF-8 byte, a quote and a backslash from the target are escaped once, as the
    /// answer's own lines show them; they were escaped a second time (`\\t`, `\\xff`).
    #[test]
    fn mismatches_show_odd_bytes_escaped_once() {
        let expect = toml::from_str::<Expect>(r#"acam = { exact = "PATCH" }"#).unwrap();
        let observed = Observed {
            status: 200,
            headers: vec![(ACAM.to_owned(), b"GET\teh\xff \"q\" \\".to_vec())],
            ..Observed::default()
        };
        let mismatches = super::check(&expect, &observed);
        assert_eq!(mismatches.len(), 1, "{mismatches:?}");
        assert_eq!(mismatches[0].got, r#""GET\teh\xff \"q\" \\""#);
        assert_eq!(observed.cors_lines(), [format!("{ACAM}: {}", r#"GET\teh\xff \"q\" \\"#)]);
    }

    /// An exact list in another order is an order-only mismatch when the case says the order
    /// is free, and then only: other items, another spelling of the list, two lines, or another
    /// expectation on the header that fails too make it a mismatch like any other.
    #[rstest]
    #[case::reordered(r#"{ exact = "a, B", order-free = true }"#, &["B, a"], true)]
    #[case::reordered_one_of(r#"{ one-of = ["x", "a, B"], order-free = true }"#, &["B, a"], true)]
    #[case::order_not_free(r#"{ exact = "a, B" }"#, &["B, a"], false)]
    #[case::other_items(r#"{ exact = "a, B", order-free = true }"#, &["b, a"], false)]
    #[case::other_spelling(r#"{ exact = "a, B", order-free = true }"#, &["B,a"], false)]
    #[case::two_lines(r#"{ exact = "a, B", order-free = true }"#, &["B", "a"], false)]
    #[case::another_fails(r#"{ exact = "a, B", order-free = true, unique = true }"#, &["B, a, a"], false)]
    fn order_only_mismatches(
        #[case] expect: &str,
        #[case] lines: &[&str],
        #[case] order_only: bool,
    ) {
        let expect = toml::from_str::<Expect>(&format!("acah = {expect}")).unwrap();
        let headers = lines.iter().map(|v| (ACAH.to_owned(), v.as_bytes().to_vec())).collect();
        let observed = Observed { status: 200, headers, ..Observed::default() };
        let mismatches = super::check(&expect, &observed);
        assert!(!mismatches.is_empty());
        assert_eq!(mismatches.iter().all(|m| m.order_only), order_only, "{mismatches:?}");
    }

    const ACAM: &str = "access-control-allow-methods";
    const ACAO: &str = "access-control-allow-origin";
    const ACAH: &str = "access-control-allow-headers";

    #[rstest]
    #[case::methods_compare_case_sensitively(ACAM, r#"{ includes = ["GET"] }"#, &["get, POST"], false)]
    #[case::methods_found_when_same_case(ACAM, r#"{ includes = ["POST"] }"#, &["get, POST"], true)]
    #[case::names_ignore_case_across_lines("vary", r#"{ includes = ["Origin", "Accept-Encoding"] }"#, &["accept-encoding", " ORIGIN ,"], true)]
    #[case::excludes_ignores_case("vary", r#"{ excludes = ["origin"] }"#, &["Origin"], false)]
    #[case::excludes_passes_when_absent("vary", r#"{ excludes = ["origin"] }"#, &[], true)]
    #[case::exact_requires_a_single_line(ACAO, r#"{ exact = "*" }"#, &["*", "*"], false)]
    #[case::exact_is_byte_exact(ACAO, r#"{ exact = "https://a.test" }"#, &["https://A.test"], false)]
    #[case::one_of_accepts_either(ACAO, r#"{ one-of = ["https://a.test", "*"] }"#, &["*"], true)]
    #[case::one_of_needs_a_line(ACAO, r#"{ one-of = ["https://a.test", "*"] }"#, &[], false)]
    #[case::none_of_passes_when_absent(ACAO, r#"{ none-of = ["*"] }"#, &[], true)]
    #[case::none_of_sees_every_line(ACAO, r#"{ none-of = ["*"] }"#, &["https://a.test", "*"], false)]
    #[case::set_ignores_order(ACAH, r#"{ set = ["A", "B"] }"#, &["b, a"], true)]
    #[case::set_rejects_extra_items(ACAH, r#"{ set = ["a"] }"#, &["b, a"], false)]
    #[case::absent_fails_on_any_line(ACAO, "{ absent = true }", &[""], false)]
    #[case::at_most_one_line(ACAO, "{ at-most-one-line = true }", &["a", "b"], false)]
    #[case::unique_sees_repeats_ignoring_case("vary", "{ unique = true }", &["Origin", "origin"], false)]
    #[case::empty_items_are_dropped(ACAH, r#"{ set = ["x"] }"#, &[",x,,"], true)]
    fn header_expectations(
        #[case] name: &str,
        #[case] expect: &str,
        #[case] lines: &[&str],
        #[case] holds: bool,
    ) {
        check(name, expect, lines, holds);
    }
}

#[cfg(test)]
mod describe_tests {
    use super::*;
    use crate::case::Corpus;

    #[test]
    fn every_case_describes_what_it_expects() {
        let corpus = Corpus::builtin().unwrap();
        for case in corpus.cases() {
            assert!(!describe(&case.expect).is_empty(), "{}", case.id);
        }
        let case = corpus.get("preflight.put-allowed").unwrap();
        assert_eq!(
            describe(&case.expect),
            [
                "status: one of [200, 204]",
                "access-control-allow-origin: one line, one of [\"https://app.example.test\", \"*\"]",
                "access-control-allow-methods: a list including [\"PUT\"]",
            ]
        );
    }
}
