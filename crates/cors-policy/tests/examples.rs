//! Every file of `examples/policies/` loads (or, for the seed's broken example, fails where it
//! should), with the shape, settings and warnings it documents.

use std::path::{Path, PathBuf};

use cors_policy::{AllowedHeaders, Code, FileShape, LoadedPolicy, Policy};
use rstest::rstest;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies").join(name)
}

fn load(name: &str) -> LoadedPolicy {
    Policy::from_yaml_file(example(name)).unwrap_or_else(|e| panic!("{name}:\n{e}"))
}

#[rstest]
#[case::seed_corrected("seed-corrected.yaml", FileShape::PolicyRefList, 0)]
#[case::public("public.yaml", FileShape::Config, 0)]
#[case::public_credentials("public-credentials.yaml", FileShape::Config, 1)]
#[case::groups_with_wildcard_fallback("groups-with-wildcard-fallback.yaml", FileShape::Config, 0)]
#[case::subdomains("subdomains.yaml", FileShape::Config, 0)]
#[case::api_instance("api-instance.yaml", FileShape::ApiInstance, 1)]
#[case::policy_binding("policy-binding.yaml", FileShape::PolicyBinding, 0)]
#[case::strict("strict.yaml", FileShape::Config, 0)]
fn example_loads(#[case] name: &str, #[case] shape: FileShape, #[case] warnings: usize) {
    let loaded = load(name);
    assert_eq!(loaded.shape, shape);
    assert_eq!(loaded.warnings.len(), warnings, "{:#?}", loaded.warnings);
    // The normalized form reads back to the same policy.
    let again = Policy::from_yaml_str(&loaded.policy.to_yaml(), name).unwrap();
    assert_eq!(again.policy, loaded.policy);
}

#[test]
fn every_example_file_is_covered_and_has_a_header_comment() {
    let dir = example("");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "api-instance.yaml",
            "groups-with-wildcard-fallback.yaml",
            "policy-binding.yaml",
            "public-credentials.yaml",
            "public.yaml",
            "seed-broken.yaml",
            "seed-corrected.yaml",
            "strict.yaml",
            "subdomains.yaml",
        ]
    );
    for name in names {
        let text = std::fs::read_to_string(dir.join(&name)).unwrap();
        assert!(text.starts_with("# "), "{name} has no header comment");
    }
}

#[test]
fn seed_broken_example_points_at_its_bad_line() {
    let path = example("seed-broken.yaml");
    let error = Policy::from_yaml_file(&path).unwrap_err();
    let d = &error.diagnostics()[0];
    assert_eq!(error.diagnostics().len(), 1);
    assert_eq!(d.code(), Code::Syntax);
    assert_eq!((d.line(), d.column()), (Some(9), Some(18)));
    assert_eq!(d.message(), "mapping values are not allowed in this context");
    assert_eq!(d.file(), Some(path.display().to_string().as_str()));
    // Line 9 is the seed's `- origins:`, the first line where its nesting breaks.
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().nth(8), Some("        - origins:"));
}

#[test]
fn seed_corrected_keeps_only_allowed_methods_in_file_order() {
    let policy = load("seed-corrected.yaml").policy;
    assert!(!policy.is_public_resource());
    assert!(policy.supports_credentials());
    let group = &policy.groups()[0];
    assert_eq!(group.methods(), ["POST", "PUT", "GET"]);
    assert_eq!(group.allow_methods_value().unwrap(), "POST, PUT, GET");
    assert_eq!(
        group.allow_headers_value().unwrap(),
        "x-allow-origin, x-yet-another-valid-header, x-forwarded-for"
    );
    assert_eq!(group.max_age_value(), "30");
}

#[test]
fn public_is_all_defaults() {
    let policy = load("public.yaml").policy;
    assert!(policy.is_public_resource());
    assert!(!policy.supports_credentials());
    assert!(policy.groups().is_empty());
}

#[test]
fn public_credentials_warns() {
    let loaded = load("public-credentials.yaml");
    assert!(loaded.policy.is_public_resource() && loaded.policy.supports_credentials());
    assert_eq!(loaded.warnings[0].code(), Code::PublicWithCredentials);
}

#[test]
fn wildcard_fallback_is_the_last_group() {
    let policy = load("groups-with-wildcard-fallback.yaml").policy;
    let names: Vec<_> = policy.groups().iter().map(|g| g.name()).collect();
    assert_eq!(names, [Some("first-party"), Some("partners"), Some("everyone-else")]);
    let fallback = &policy.groups()[2];
    assert_eq!(fallback.origins()[0].to_string(), "*");
    assert_eq!(fallback.max_age(), 60);
    assert_eq!(policy.groups()[1].max_age(), 30);
    assert_eq!(policy.origins().patterns().len(), 4);
}

#[test]
fn subdomains_keep_patterns_and_any_header() {
    let policy = load("subdomains.yaml").policy;
    let patterns: Vec<String> =
        policy.origins().patterns().iter().map(ToString::to_string).collect();
    assert_eq!(
        patterns,
        [
            "https://example.com",
            "https://*.example.com",
            "https://*.api.example.com",
            "http://*.localhost:3000"
        ]
    );
    assert_eq!(policy.groups()[1].headers(), &AllowedHeaders::Any);
    assert_eq!(policy.groups()[1].allow_headers_value(), None);
}

#[test]
fn api_instance_exposes_addresses_and_ignores_other_policies() {
    let loaded = load("api-instance.yaml");
    assert_eq!(loaded.listen.as_deref(), Some("http://0.0.0.0:8081"));
    assert_eq!(loaded.upstream.as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(loaded.ignored_policies, ["rate-limiting-flex"]);
    assert_eq!(loaded.warnings[0].code(), Code::IgnoredPolicy);
    assert_eq!(loaded.warnings[0].line(), Some(17));
    assert_eq!(loaded.policy.groups()[0].expose_headers_value().unwrap(), "x-request-id");
}

#[test]
fn policy_binding_loads_its_config() {
    let loaded = load("policy-binding.yaml");
    assert_eq!((loaded.listen, loaded.upstream), (None, None));
    let group = &loaded.policy.groups()[0];
    assert_eq!(group.name(), Some("storefront"));
    assert_eq!(group.allow_methods_value().unwrap(), "GET, HEAD, POST");
}

#[test]
fn strict_is_the_performance_anchor_policy() {
    let loaded = load("strict.yaml");
    let policy = &loaded.policy;
    assert!(!policy.is_public_resource() && policy.supports_credentials());
    let [group] = policy.groups() else { panic!("one group expected") };
    assert_eq!(group.origins()[0].to_string(), "https://app.example.com");
    assert_eq!(group.allow_methods_value().unwrap(), "GET, POST, PUT");
    assert_eq!(group.allow_headers_value().unwrap(), "content-type, x-token");
    assert_eq!(group.expose_headers_value().unwrap(), "x-request-id");
    assert_eq!(group.max_age_value(), "600");
}
