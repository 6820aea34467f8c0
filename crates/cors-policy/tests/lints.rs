//! C5: one test per lint (and per load-time warning), asserting code, path, line, column and
//! message; lints never refuse a file nor change what is sent.

use cors_policy::{Code, Diagnostic, Policy, Severity};
use rstest::rstest;

fn warnings(yaml: &str) -> Vec<Diagnostic> {
    match Policy::from_yaml_str(yaml, "cors.yaml") {
        Ok(loaded) => loaded.warnings,
        Err(error) => panic!("refused, lints must not refuse:\n{error}"),
    }
}

/// Loading `yaml` gives exactly one warning, as described.
#[track_caller]
fn check(yaml: &str, code: Code, path: &str, line: usize, column: usize, message: &str) {
    let found = warnings(yaml);
    assert_eq!(found.len(), 1, "{found:#?}");
    let d = &found[0];
    assert_eq!(d.code(), code, "{d}");
    assert_eq!(d.severity(), Severity::Warning, "{d}");
    assert_eq!(d.path(), path, "{d}");
    assert_eq!((d.line(), d.column()), (Some(line), Some(column)), "{d}");
    assert_eq!(d.message(), message, "{d}");
    assert!(d.to_string().starts_with(&format!("cors.yaml:{line}:{column}: warning: ")), "{d}");
}

/// A private, credentialed policy; `{}` is replaced by the group's lines.
fn group(credentials: bool, lines: &str) -> String {
    format!(
        "publicResource: false\nsupportCredentials: {credentials}\noriginGroups:\n  - allowedMethods: [{{methodName: GET, isAllowed: true}}]\n{lines}"
    )
}

#[rstest]
#[case::chrome_extension_in_upper_case(
    group(false, "    origins: [\"chrome-extension://ABCDEFGHIJKLMNOPABCDEFGHIJKLMNOP\"]\n"),
    Code::ExtensionOriginCase,
    "originGroups[0].origins[0]",
    5,
    15,
    "origin \"chrome-extension://ABCDEFGHIJKLMNOPABCDEFGHIJKLMNOP\": Chromium sends its \
     extensions' hosts in lower case, and this host is compared as written, so it matches no \
     request"
)]
#[case::safari_extension_named_like_its_scheme(
    group(false, "    origins: [\"safari-web-extension://*.safari\"]\n"),
    Code::ExtensionOriginCase,
    "originGroups[0].origins[0]",
    5,
    15,
    "origin \"safari-web-extension://*.safari\": Safari sends its extensions' hosts in upper \
     case, and this host is compared as written, so it matches no request"
)]
#[case::safari_extension_in_lower_case(
    group(
        false,
        "    origins: [\"safari-web-extension://140bb581-a2c0-422a-9dd3-6982a5abee5e\"]\n"
    ),
    Code::ExtensionOriginCase,
    "originGroups[0].origins[0]",
    5,
    15,
    "origin \"safari-web-extension://140bb581-a2c0-422a-9dd3-6982a5abee5e\": Safari sends its \
     extensions' hosts in upper case, and this host is compared as written, so it matches no \
     request"
)]
#[case::public_resource_with_credentials(
    "publicResource: true\nsupportCredentials: true\n".to_owned(),
    Code::PublicWithCredentials, "supportCredentials", 2, 21,
    "a public resource with credentials echoes every origin, so any site can read credentialed \
     responses"
)]
#[case::groups_while_public(
    "originGroups:\n  - origins: [\"https://a.test\"]\n".to_owned(),
    Code::GroupsIgnored, "originGroups", 1, 1,
    "originGroups are ignored while publicResource is true"
)]
#[case::any_origin_with_credentials(
    group(true, "    origins: [\"*\"]\n"),
    Code::AnyOriginWithCredentials,
    "originGroups[0].origins[0]",
    5,
    15,
    "origin \"*\" with credentials lets any site read credentialed responses"
)]
#[case::null_origin_with_credentials(
    group(true, "    origins: [\"null\"]\n"),
    Code::NullOriginWithCredentials,
    "originGroups[0].origins[0]",
    5,
    15,
    "origin \"null\" with credentials lets sandboxed and file: pages of any site read \
     credentialed responses"
)]
// A domain that starts like a loopback address is a domain: only IP literals of 127.0.0.0/8,
// `[::1]` and `localhost` names are potentially trustworthy (Secure Contexts). It was taken for
// loopback, and not linted.
#[case::http_domain_named_like_loopback_with_credentials(
    group(true, "    origins: [\"http://127.0.0.1.example.com\"]\n"),
    Code::InsecureOriginWithCredentials,
    "originGroups[0].origins[0]",
    5,
    15,
    "origin \"http://127.0.0.1.example.com\" uses http:// with credentials, so a network \
     attacker can read credentialed responses"
)]
#[case::http_origin_with_credentials(
    group(true, "    origins: [\"http://a.test\"]\n"),
    Code::InsecureOriginWithCredentials,
    "originGroups[0].origins[0]",
    5,
    15,
    "origin \"http://a.test\" uses http:// with credentials, so a network attacker can read \
     credentialed responses"
)]
#[case::wildcard_under_public_suffix(
    group(false, "    origins:\n      - https://*.github.io\n"),
    Code::PublicSuffixWildcard,
    "originGroups[0].origins[0]",
    6,
    9,
    "origin pattern \"https://*.github.io\" matches every site under the public suffix \"github.io\""
)]
#[case::lower_case_method(
    "publicResource: false\noriginGroups:\n  - origins: [\"https://a.test\"]\n    allowedMethods:\n      - {methodName: patch, isAllowed: true}\n".to_owned(),
    Code::MethodCase, "originGroups[0].allowedMethods[0].methodName", 5, 22,
    "method \"patch\" is matched byte-exactly; browsers send it only when a page writes it so, \
     and send \"PATCH\" otherwise"
)]
#[case::trace_written_explicitly(
    "publicResource: false\noriginGroups:\n  - origins: [\"https://a.test\"]\n    allowedMethods:\n      - {methodName: GET, isAllowed: true}\n      - {methodName: TRACE, isAllowed: true}\n".to_owned(),
    Code::ForbiddenMethod, "originGroups[0].allowedMethods[1].methodName", 6, 22,
    "method \"TRACE\" is forbidden by Fetch; browsers never send it"
)]
#[case::max_age_above_chromium_cap(
    group(false, "    origins: [\"https://a.test\"]\n    accessControlMaxAge: 7201\n"),
    Code::MaxAgeAboveChromiumCap,
    "originGroups[0].accessControlMaxAge",
    6,
    26,
    "max-age 7201 is above 7200 seconds (2 hours); Chromium caps it there"
)]
#[case::max_age_at_firefox_cap(
    group(false, "    origins: [\"https://a.test\"]\n    accessControlMaxAge: 86400\n"),
    Code::MaxAgeAboveChromiumCap,
    "originGroups[0].accessControlMaxAge",
    6,
    26,
    "max-age 86400 is above 7200 seconds (2 hours); Chromium caps it there"
)]
#[case::max_age_above_firefox_cap(
    group(false, "    origins: [\"https://a.test\"]\n    accessControlMaxAge: 100000\n"),
    Code::MaxAgeAboveFirefoxCap,
    "originGroups[0].accessControlMaxAge",
    6,
    26,
    "max-age 100000 is above 86400 seconds (24 hours); Firefox caps it there and Chromium at 7200"
)]
#[case::expose_any_with_credentials(
    group(true, "    origins: [\"https://a.test\"]\n    exposedHeaders: [x-id, \"*\"]\n"),
    Code::ExposeAnyWithCredentials,
    "originGroups[0].exposedHeaders[1]",
    6,
    28,
    "\"*\" in exposedHeaders with credentials exposes only a header named \"*\""
)]
#[case::origin_in_two_groups(
    "publicResource: false\noriginGroups:\n  - origins: [\"https://a.test\"]\n  - origins: [\"https://A.test:443\"]\n".to_owned(),
    Code::OriginInTwoGroups, "originGroups[1].origins[0]", 4, 15,
    "origin \"https://a.test\" is also listed in originGroups[0], which wins"
)]
#[case::origin_twice_in_a_group(
    group(false, "    origins: [\"https://a.test\", \"https://a.test\"]\n"),
    Code::DuplicateOrigin,
    "originGroups[0].origins[1]",
    5,
    33,
    "origin \"https://a.test\" is already listed at origins[0]"
)]
#[case::empty_origins(
    "publicResource: false\noriginGroups:\n  - origins: []\n    allowedMethods: [{methodName: GET, isAllowed: true}]\n".to_owned(),
    Code::NoOriginListed, "originGroups[0].origins", 3, 5,
    "the group lists no origin, so it applies to no request"
)]
#[case::empty_allowed_methods(
    "publicResource: false\noriginGroups:\n  - origins: [\"https://a.test\"]\n    allowedMethods: []\n".to_owned(),
    Code::NoMethodAllowed, "originGroups[0].allowedMethods", 4, 5,
    "the group allows no method"
)]
#[case::origin_with_trailing_slash(
    group(false, "    origins: [\"https://a.test/\"]\n"),
    Code::OriginTrailingSlash,
    "originGroups[0].origins[0]",
    5,
    15,
    "origin \"https://a.test/\" written with a trailing \"/\""
)]
#[case::other_policy_ignored(
    "- policyRef: {name: rate-limiting-flex}\n- policyRef: {name: cors-flex}\n".to_owned(),
    Code::IgnoredPolicy, "[0]", 1, 3,
    "policy \"rate-limiting-flex\" is not cors-flex and is ignored"
)]
#[case::unsupported_policy_entry_key(
    "- policyRef: {name: cors-flex}\n  rules: [{path: /a}]\n".to_owned(),
    Code::IgnoredKey, "[0].rules", 2, 3,
    "key \"rules\" is ignored"
)]
#[case::rules_on_a_cors_flex_binding(
    "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: PolicyBinding\nspec:\n  targetRef: {name: a}\n  policyRef: {name: cors-flex}\n  rules: [{path: /a}]\n".to_owned(),
    Code::IgnoredKey, "spec.rules", 6, 3,
    "key \"rules\" is ignored"
)]
#[case::unexpected_api_version(
    "apiVersion: v1\nkind: PolicyBinding\nspec:\n  policyRef: {name: cors-flex}\n".to_owned(),
    Code::UnexpectedApiVersion, "apiVersion", 1, 13,
    "unexpected apiVersion \"v1\""
)]
#[case::second_service_ignored(
    "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nspec:\n  services:\n    a: {address: http://127.0.0.1:1}\n    b: {address: http://127.0.0.1:2}\n  policies: [{policyRef: {name: cors-flex}}]\n".to_owned(),
    Code::ExtraService, "spec.services.b", 6, 5,
    "service \"b\" is ignored: only the first is the upstream"
)]
#[case::binding_for_another_instance(
    "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nmetadata: {name: orders}\nspec: {}\n---\napiVersion: gateway.mulesoft.com/v1alpha1\nkind: PolicyBinding\nspec:\n  targetRef: {name: users}\n  policyRef: {name: cors-flex}\n".to_owned(),
    Code::UnmatchedTarget, "spec.targetRef", 9, 14,
    "PolicyBinding targets \"users\", not the ApiInstance \"orders\" of this file"
)]
fn lint(
    #[case] yaml: String,
    #[case] code: Code,
    #[case] path: &str,
    #[case] line: usize,
    #[case] column: usize,
    #[case] message: &str,
) {
    check(&yaml, code, path, line, column, message);
}

/// The `extension-origin-case` lint's hint is the origin with its host in its browser's case,
/// its scheme untouched even where the host spells a part of it.
#[rstest]
#[case::chrome("chrome-extension://Abc:8", "chrome-extension://abc:8")]
#[case::safari_pattern("safari-web-extension://*.safari", "safari-web-extension://*.SAFARI")]
#[case::firefox_named_like_its_scheme("moz-extension://MOZ", "moz-extension://moz")]
#[case::safari_named_like_its_schemes_end(
    "safari-web-extension://ion",
    "safari-web-extension://ION"
)]
fn an_extension_origins_hint_writes_its_host_in_its_browsers_case(
    #[case] origin: &str,
    #[case] fixed: &str,
) {
    let found = warnings(&group(false, &format!("    origins: [\"{origin}\"]\n")));
    let hints: Vec<Option<&str>> = found.iter().map(Diagnostic::hint).collect();
    assert_eq!(hints, [Some(format!("write {fixed:?}").as_str())], "{found:#?}");
}

#[rstest]
#[case::defaults_include_connect_and_trace(
    "publicResource: false\noriginGroups:\n  - origins: [\"https://a.test\"]\n"
)]
#[case::loopback_http_with_credentials(&group(true, "    origins: [\"http://localhost:3000\", \"http://127.0.0.1:8080\", \"http://127.255.0.9\", \"http://[::1]:8080\", \"http://app.localhost\"]\n"))]
#[case::own_domain_wildcard(&group(true, "    origins: [\"https://*.example.com\"]\n"))]
#[case::max_age_at_chromium_cap(&group(false, "    origins: [\"https://a.test\"]\n    accessControlMaxAge: 7200\n"))]
#[case::public_without_credentials("publicResource: true\n")]
#[case::extensions_in_their_browsers_case(&group(false, "    origins: [\"chrome-extension://abcdefghijklmnopabcdefghijklmnop\", \"moz-extension://0b8c3a4e-5f1d-4c2b-9a7e-1d2c3b4a5f6e\", \"safari-web-extension://140BB581-A2C0-422A-9DD3-6982A5ABEE5E\", \"x-app://Mixed\"]\n"))]
fn quiet(#[case] yaml: &str) {
    assert_eq!(warnings(yaml), []);
}

/// Issue 17: Flex applies CORS to every request of an API instance, so `rules` cannot narrow it;
/// the warning says why, and `check --deny-warnings` fails on it.
#[rstest]
#[case::policy_entry("- policyRef: {name: cors-flex}\n  rules: [{path: /a}]\n")]
#[case::binding(
    "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: PolicyBinding\nspec:\n  policyRef: {name: cors-flex}\n  rules: [{path: /a}]\n"
)]
fn rules_on_cors_flex_say_why_they_are_ignored(#[case] yaml: &str) {
    let found = warnings(yaml);
    assert_eq!(
        found[0].hint(),
        Some("Flex applies cors-flex to every request of the API instance, never per resource")
    );
}

#[test]
fn a_binding_without_a_policy_name_is_an_error() {
    let yaml = "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: PolicyBinding\nspec:\n  policyRef: {namespace: default}\n";
    let error = Policy::from_yaml_str(yaml, "cors.yaml").unwrap_err();
    let d = &error.diagnostics()[0];
    assert_eq!((d.code(), d.path(), d.line()), (Code::MissingKey, "spec.policyRef.name", Some(4)));
}

#[test]
fn lints_do_not_change_what_is_sent() {
    let yaml = group(false, "    origins: [\"https://a.test\"]\n    accessControlMaxAge: 100000\n");
    let loaded = Policy::from_yaml_str(&yaml, "cors.yaml").unwrap();
    assert_eq!(loaded.policy.groups()[0].max_age_value(), "100000");
}

#[test]
fn lint_without_a_file_has_paths_but_no_positions() {
    let yaml = group(true, "    origins: [\"*\"]\n");
    let policy = Policy::from_yaml_str(&yaml, "cors.yaml").unwrap().policy;
    let found = policy.lint();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].code(), found[0].path(), found[0].line()),
        (Code::AnyOriginWithCredentials, "originGroups[0].origins[0]", None)
    );
}

/// Each code has its own stable name, which is also how it displays.
#[test]
fn every_code_has_a_distinct_name() {
    assert!(Code::ALL.iter().all(|c| c.to_string() == c.as_str()));
    let mut names: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Code::ALL.len());
}
