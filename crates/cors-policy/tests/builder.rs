//! The builder: the same validation as files, errors that name the builder method and value,
//! and policies that write themselves back as YAML and read back the same.

use std::time::Duration;

use cors_policy::{BuildError, Code, OriginGroup, Policy};
use http::{HeaderName, Method};
use proptest::prelude::*;
use rstest::rstest;

fn load(yaml: &str) -> Policy {
    Policy::from_yaml_str(yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}")).policy
}

#[test]
fn the_sketch_of_the_issue_builds_the_policy_its_file_describes() {
    let built = Policy::builder()
        .credentials(true)
        .group(
            OriginGroup::new(["https://app.example.com"])
                .allow_methods([Method::GET, Method::POST])
                .allow_headers(["content-type"])
                .expose_headers(["x-request-id"])
                .max_age(Duration::from_mins(10)),
        )
        .build()
        .unwrap();
    let file = load(
        "publicResource: false
supportCredentials: true
originGroups:
  - origins: [https://app.example.com]
    allowedMethods: [{methodName: GET, isAllowed: true}, {methodName: POST, isAllowed: true}]
    headers: [content-type]
    exposedHeaders: [x-request-id]
    accessControlMaxAge: 600
",
    );
    assert_eq!(built, file);
}

#[test]
fn public_is_a_file_with_only_public_resource() {
    assert_eq!(Policy::public(), load("publicResource: true"));
}

#[test]
fn an_empty_builder_is_a_closed_policy() {
    let built = Policy::builder().build().unwrap();
    assert!(!built.is_public_resource());
    assert!(!built.supports_credentials());
    assert!(built.groups().is_empty());
}

#[test]
fn defaults_and_normalization_are_those_of_files() {
    let built = Policy::builder()
        .group(
            OriginGroup::new(["HTTPS://App.Example.com:443"])
                .allow_origins(["https://*.example.org"])
                .name("app"),
        )
        .group(
            OriginGroup::new(["null"])
                .allow_methods(["get", "patch"])
                .allow_headers([HeaderName::from_static("x-token"), http::header::CONTENT_TYPE])
                .allow_headers(["X-Token"]),
        )
        .build()
        .unwrap();
    let [app, sandbox] = built.groups() else { panic!("two groups") };
    assert_eq!(app.name(), Some("app"));
    assert_eq!(app.origins()[0].to_string(), "https://app.example.com");
    assert!(app.has_default_methods());
    assert_eq!(app.max_age_value(), "30");
    assert_eq!(sandbox.allow_methods_value().unwrap(), "GET, patch");
    assert_eq!(sandbox.allow_headers_value().unwrap(), "x-token, content-type");
}

#[test]
fn allow_methods_with_nothing_allows_no_method_and_the_lint_says_so() {
    let built = Policy::builder()
        .group(OriginGroup::new(["https://app.example.com"]).allow_methods([] as [&str; 0]))
        .build()
        .unwrap();
    assert_eq!(built.groups()[0].methods(), [] as [&str; 0]);
    let codes: Vec<Code> = built.lint().iter().map(cors_policy::Diagnostic::code).collect();
    assert_eq!(codes, [Code::NoMethodAllowed]);
}

#[test]
fn lints_reach_builder_policies() {
    let built = Policy::builder()
        .credentials(true)
        .group(OriginGroup::new(["*"]).allow_any_header().max_age(Duration::from_secs(100_000)))
        .build()
        .unwrap();
    let codes: Vec<Code> = built.lint().iter().map(cors_policy::Diagnostic::code).collect();
    assert!(codes.contains(&Code::AnyOriginWithCredentials), "{codes:?}");
    assert!(codes.contains(&Code::MaxAgeAboveFirefoxCap), "{codes:?}");
}

#[track_caller]
fn refused(group: OriginGroup) -> BuildError {
    match Policy::builder().group(group).build() {
        Ok(policy) => panic!("accepted: {policy:?}"),
        Err(error) => error,
    }
}

#[rstest]
#[case::origin_with_path(
    OriginGroup::new(["https://a.example/path"]),
    "allow_origins", "https://a.example/path", Code::InvalidOrigin,
    "allow_origins: \"https://a.example/path\": path is not allowed in an origin (byte 17)",
)]
#[case::origin_without_scheme(
    OriginGroup::new(["app.example.com"]),
    "allow_origins", "app.example.com", Code::InvalidOrigin,
    "allow_origins: \"app.example.com\": missing scheme (byte 0)",
)]
#[case::added_origin(
    OriginGroup::new(["https://ok.example"]).allow_origins(["https://*.*.example"]),
    "allow_origins", "https://*.*.example", Code::InvalidOrigin,
    "allow_origins: \"https://*.*.example\": misplaced wildcard (byte 10)",
)]
#[case::method_with_space(
    OriginGroup::new(["https://a.example"]).allow_methods(["GE T"]),
    "allow_methods", "GE T", Code::InvalidMethod,
    "allow_methods: \"GE T\": ' ' is not allowed in an RFC 9110 token (byte 2)",
)]
#[case::empty_method(
    OriginGroup::new(["https://a.example"]).allow_methods([""]),
    "allow_methods", "", Code::InvalidMethod,
    "allow_methods: \"\": empty, expected an RFC 9110 token",
)]
#[case::header_with_colon(
    OriginGroup::new(["https://a.example"]).allow_headers(["x-token:"]),
    "allow_headers", "x-token:", Code::InvalidHeader,
    "allow_headers: \"x-token:\": ':' is not allowed in an RFC 9110 token (byte 7)",
)]
#[case::exposed_header_non_ascii(
    OriginGroup::new(["https://a.example"]).expose_headers(["x-réponse"]),
    "expose_headers", "x-réponse", Code::InvalidHeader,
    "expose_headers: \"x-réponse\": 'é' is not allowed in an RFC 9110 token (byte 3)",
)]
#[case::max_age_with_a_fraction(
    OriginGroup::new(["https://a.example"]).max_age(Duration::from_millis(1500)),
    "max_age", "1.5s", Code::NonIntegerMaxAge,
    "max_age: \"1.5s\": not a whole number of seconds (Access-Control-Max-Age counts seconds)",
)]
fn a_bad_value_is_named_with_its_method_and_reason(
    #[case] group: OriginGroup,
    #[case] method: &str,
    #[case] value: &str,
    #[case] code: Code,
    #[case] shown: &str,
) {
    let error = refused(group);
    let [problem] = error.problems() else { panic!("one problem: {error}") };
    assert_eq!((problem.method(), problem.value(), problem.code()), (method, value, code));
    let text = error.to_string();
    assert_eq!(text.split("; hint: ").next(), Some(shown), "{text}");
}

/// A long value is named cut short, with its length, and its reason is still found apart from
/// it (F-DM); `value()` gives it whole.
#[test]
fn a_long_value_is_named_cut_short_with_its_reason() {
    let origin = format!("https://a.example/{}", "x".repeat(100_000));
    let error = refused(OriginGroup::new([origin.as_str()]));
    let [problem] = error.problems() else { panic!("one problem: {error}") };
    assert_eq!(problem.value(), origin);
    assert_eq!(problem.reason(), "path is not allowed in an origin (byte 17)");
    assert_eq!(
        problem.to_string().split("; hint: ").next(),
        Some(
            format!(
                "allow_origins: \"{}\"… (100018 bytes): path is not allowed in an origin (byte 17)",
                &origin[..198]
            )
            .as_str()
        )
    );
}

#[test]
fn every_problem_is_reported_at_once_group_by_group() {
    let error = Policy::builder()
        .group(
            OriginGroup::new(["https://ok.example", "https://a.example?q"])
                .max_age(Duration::from_nanos(1)),
        )
        .group(OriginGroup::new(["https://b.example"]).allow_methods(["GET", "P(S)T"]))
        .group(
            OriginGroup::new(["https://c.example:99999"])
                .allow_headers(["ok", "not ok"])
                .expose_headers(["x,y"]),
        )
        .build()
        .unwrap_err();
    let found: Vec<(usize, &str, &str)> =
        error.problems().iter().map(|p| (p.group(), p.method(), p.value())).collect();
    assert_eq!(
        found,
        [
            (0, "allow_origins", "https://a.example?q"),
            (0, "max_age", "1ns"),
            (1, "allow_methods", "P(S)T"),
            (2, "allow_origins", "https://c.example:99999"),
            (2, "allow_headers", "not ok"),
            (2, "expose_headers", "x,y"),
        ]
    );
    let text = error.to_string();
    let lines: Vec<&str> = text.lines().map(|l| &l[..l.find(": ").unwrap()]).collect();
    assert_eq!(lines, ["group 1", "group 1", "group 2", "group 3", "group 3", "group 3"]);
}

#[test]
fn a_hint_is_given_where_the_file_loader_gives_one() {
    let error = refused(OriginGroup::new(["https://user@a.example"]));
    let problem = &error.problems()[0];
    assert_eq!(
        problem.hint(),
        Some("remove the `user@` part; browsers never send credentials in Origin")
    );
    assert!(error.to_string().ends_with(&format!("; hint: {}", problem.hint().unwrap())));
}

/// Values a builder is written with, every one valid: exact origins in several spellings, a
/// trailing `/`, IDNA, IPv6, patterns, `null`, `*`; normalized and byte-exact methods; header
/// names in both cases and `*`.
const ORIGINS: &[&str] = &[
    "https://app.example.com",
    "http://localhost:8080",
    "https://*.example.org",
    "HTTPS://Upper.Example:443",
    "https://bücher.example",
    "http://[::1]:3000",
    "https://app.example.com/",
    "null",
    "*",
];
const METHODS: &[&str] = &["GET", "post", "PUT", "DELETE", "PATCH", "patch", "PURGE", "HEAD"];
const HEADERS: &[&str] = &["content-type", "X-Token", "x-request-id", "*"];
/// Values the builder refuses: as a method or header name (and as an origin too).
const BAD_TOKENS: &[&str] = &["GE T", "", "bad header", "a:b"];
/// Values the builder refuses as an origin (these two are header-name tokens).
const BAD_ORIGINS: &[&str] = &["https://a.example/path", "a.example"];

fn names(pool: &'static [&'static str]) -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(prop::sample::select(pool), 0..4)
}

fn group(
    name: impl Strategy<Value = Option<String>>,
    origins: &'static [&'static str],
    methods: &'static [&'static str],
    headers: &'static [&'static str],
    max_age: impl Strategy<Value = Duration>,
) -> impl Strategy<Value = OriginGroup> {
    (
        name,
        names(origins),
        prop::option::of(names(methods)),
        names(headers),
        names(headers),
        prop::option::of(max_age),
    )
        .prop_map(|(name, origins, methods, headers, exposed, max_age)| {
            let mut group =
                OriginGroup::new(origins).allow_headers(headers).expose_headers(exposed);
            if let Some(name) = name {
                group = group.name(name);
            }
            if let Some(methods) = methods {
                group = group.allow_methods(methods);
            }
            if let Some(max_age) = max_age {
                group = group.max_age(max_age);
            }
            group
        })
}

fn whole_seconds() -> impl Strategy<Value = Duration> {
    prop_oneof![(0u64..100_000).prop_map(Duration::from_secs), Just(Duration::from_secs(u64::MAX))]
}

/// Names are free text: one holding the line and paragraph separators (which YAML 1.1 writers
/// fold as line breaks), a NEL, a tab, quotes or a leading `-` reads back from `to_yaml` as it was
/// written. Found by the proptest below.
#[test]
fn a_group_name_of_any_text_reads_back_from_yaml() {
    for name in
        ["\u{2028}", "\u{2028}\u{10d0}", "a\u{2029}b", "\u{85}", "\t x", "- \"'#: ", "\u{feff}"]
    {
        let policy = Policy::builder()
            .group(OriginGroup::new(["https://a.example"]).name(name))
            .build()
            .unwrap();
        let yaml = policy.to_yaml();
        let read =
            Policy::from_yaml_str(&yaml, "named.yaml").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(read.policy, policy, "{name:?} written as\n{yaml}");
    }
}

proptest! {
    /// A builder policy written with `to_yaml` and read back is the same policy.
    #[test]
    fn a_built_policy_reads_back_from_its_yaml(
        public in any::<bool>(),
        credentials in any::<bool>(),
        groups in prop::collection::vec(group(prop::option::of(any::<String>()), ORIGINS, METHODS, HEADERS, whole_seconds()), 0..4),
    ) {
        let policy = Policy::builder()
            .public_resource(public)
            .credentials(credentials)
            .groups(groups)
            .build()
            .unwrap_or_else(|e| panic!("valid values refused: {e}"));
        let yaml = policy.to_yaml();
        let read = Policy::from_yaml_str(&yaml, "built.yaml").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        prop_assert_eq!(read.policy, policy);
    }

    /// Bad values among good ones are refused without a panic, each problem naming a value the
    /// builder was given, and nothing else.
    #[test]
    fn bad_values_are_refused_by_name(
        groups in prop::collection::vec(
            group(
                Just(None),
                [ORIGINS, BAD_ORIGINS, BAD_TOKENS].concat().leak(),
                [METHODS, BAD_TOKENS].concat().leak(),
                [HEADERS, BAD_TOKENS].concat().leak(),
                prop_oneof![whole_seconds(), Just(Duration::from_millis(1500))],
            ),
            1..4,
        ),
    ) {
        // Unnamed groups: their `Debug` quotes only the values drawn from the pools.
        let shown = format!("{groups:?}");
        let bad = [BAD_ORIGINS, BAD_TOKENS].concat();
        let has_bad = shown.contains("1.5s") || bad.iter().any(|b| shown.contains(&format!("{b:?}")));
        match Policy::builder().groups(groups).build() {
            Ok(policy) => prop_assert!(!has_bad, "accepted {policy:?}"),
            Err(error) => {
                prop_assert!(!error.problems().is_empty());
                for problem in error.problems() {
                    prop_assert!(bad.contains(&problem.value()) || problem.value() == "1.5s", "{}", problem);
                }
            }
        }
    }
}
