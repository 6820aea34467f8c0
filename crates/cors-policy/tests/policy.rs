//! The compiled policy: C1 defaults, C4 canonical forms, precomputed values, engine queries.

use cors_origin::{OriginPattern, OriginSet, RequestOrigin};
use cors_policy::{
    AllowedHeaders, CorsConfig, DEFAULT_MAX_AGE, MethodConfig, OriginGroupConfig, Policy,
};
use rstest::rstest;

fn group(origins: &[&str]) -> OriginGroupConfig {
    OriginGroupConfig {
        origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        ..Default::default()
    }
}

fn private(groups: Vec<OriginGroupConfig>) -> Policy {
    let config = CorsConfig {
        public_resource: Some(false),
        support_credentials: None,
        origin_groups: Some(groups),
    };
    Policy::from_config(&config).expect("a valid test configuration")
}

fn methods(names: &[(&str, bool)]) -> Vec<MethodConfig> {
    names
        .iter()
        .map(|(n, a)| MethodConfig { method_name: (*n).to_owned(), is_allowed: *a })
        .collect()
}

#[test]
fn c1_defaults() {
    let policy = Policy::from_config(&CorsConfig::default()).unwrap();
    assert!(policy.is_public_resource());
    assert!(!policy.supports_credentials());
    let policy = private(vec![group(&["https://a.test"])]);
    let g = &policy.groups()[0];
    assert_eq!(g.max_age(), DEFAULT_MAX_AGE);
    assert_eq!(g.max_age_value(), "30");
    assert_eq!(
        g.methods(),
        ["CONNECT", "DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"]
    );
    assert_eq!(
        g.allow_methods_value().unwrap(),
        "CONNECT, DELETE, GET, OPTIONS, PATCH, POST, PUT, TRACE"
    );
    assert_eq!(g.headers(), &AllowedHeaders::List(vec![]));
    assert_eq!((g.allow_headers_value(), g.expose_headers_value()), (None, None));
    assert_eq!(g.name(), None);
}

#[rstest]
#[case::normalized_names_upper_cased(&[("get", true), ("Post", true), ("delete", true)], &["GET", "POST", "DELETE"])]
#[case::other_names_byte_exact(&[("patch", true), ("Purge", true)], &["patch", "Purge"])]
#[case::disallowed_dropped(&[("GET", true), ("PUT", false)], &["GET"])]
#[case::duplicates_dropped(&[("GET", true), ("get", true)], &["GET"])]
#[case::allowed_anywhere_wins(&[("PUT", false), ("PUT", true)], &["PUT"])]
#[case::empty(&[], &[])]
fn c4_method_names(#[case] given: &[(&str, bool)], #[case] expected: &[&str]) {
    let mut g = group(&["https://a.test"]);
    g.allowed_methods = Some(methods(given));
    let policy = private(vec![g]);
    assert_eq!(policy.groups()[0].methods(), expected);
    let joined = expected.join(", ");
    assert_eq!(
        policy.groups()[0].allow_methods_value().map(|value| value.to_str().unwrap()),
        (!joined.is_empty()).then_some(joined.as_str())
    );
}

#[rstest]
#[case::listed(b"PUT", true)]
#[case::case_sensitive(b"put", false)]
#[case::head_with_get(b"HEAD", true)]
#[case::not_listed(b"DELETE", false)]
fn allows_method(#[case] method: &[u8], #[case] allowed: bool) {
    let mut g = group(&["https://a.test"]);
    g.allowed_methods = Some(methods(&[("GET", true), ("PUT", true)]));
    assert_eq!(private(vec![g]).groups()[0].allows_method(method), allowed);
}

#[test]
fn head_is_not_allowed_without_get() {
    let mut g = group(&["https://a.test"]);
    g.allowed_methods = Some(methods(&[("POST", true)]));
    assert!(!private(vec![g]).groups()[0].allows_method(b"HEAD"));
}

#[test]
fn headers_are_lower_cased_deduplicated_and_joined() {
    let mut g = group(&["https://a.test"]);
    g.headers = Some(vec!["Content-Type".into(), "X-Token".into(), "content-type".into()]);
    g.exposed_headers = Some(vec!["X-Request-Id".into(), "ETag".into()]);
    let policy = private(vec![g]);
    let g = &policy.groups()[0];
    assert_eq!(g.allow_headers_value().unwrap(), "content-type, x-token");
    assert!(g.allows_header(b"X-TOKEN"));
    assert!(!g.allows_header(b"authorization"));
    assert_eq!(g.exposed_headers(), ["x-request-id", "etag"]);
    assert_eq!(g.expose_headers_value().unwrap(), "x-request-id, etag");
}

#[test]
fn star_anywhere_in_headers_allows_any() {
    let mut g = group(&["https://a.test"]);
    g.headers = Some(vec!["x-a".into(), "*".into()]);
    let policy = private(vec![g]);
    let g = &policy.groups()[0];
    assert_eq!(g.headers(), &AllowedHeaders::Any);
    assert!(g.allows_header(b"anything"));
    assert_eq!(g.allow_headers_value(), None);
}

#[test]
fn origins_are_canonical_and_lead_back_to_their_group() {
    let policy = private(vec![
        group(&["HTTPS://A.test:443", "https://*.example.com"]),
        group(&["https://b.test/", "*"]),
    ]);
    let patterns: Vec<String> =
        policy.origins().patterns().iter().map(ToString::to_string).collect();
    assert_eq!(patterns, ["https://a.test", "https://*.example.com", "https://b.test", "*"]);
    let find = |origin: &str| {
        let request = RequestOrigin::parse(origin.as_bytes()).unwrap();
        policy.origins().find(&request).map(|m| policy.group_of(m).index())
    };
    assert_eq!(find("https://a.test"), Some(0));
    assert_eq!(find("https://x.example.com"), Some(0));
    assert_eq!(find("https://b.test"), Some(1));
    assert_eq!(find("https://other.test"), Some(1));
}

#[test]
fn to_config_is_normalized_and_round_trips() {
    let mut g = group(&["https://A.test/"]);
    g.allowed_methods = Some(methods(&[("get", true), ("PUT", false)]));
    g.headers = Some(vec!["X-A".into()]);
    let policy = private(vec![g, group(&["*"])]);
    let config = policy.to_config();
    assert_eq!(config.public_resource, Some(false));
    assert_eq!(config.support_credentials, Some(false));
    let groups = config.origin_groups.as_deref().unwrap();
    assert_eq!(groups[0].origins, ["https://a.test"]);
    assert_eq!(groups[0].allowed_methods, Some(methods(&[("GET", true)])));
    assert_eq!(groups[0].headers.as_deref(), Some(&["x-a".to_owned()][..]));
    assert_eq!(groups[0].access_control_max_age, Some(30));
    assert_eq!(groups[1].allowed_methods, None, "defaults stay implicit");
    assert_eq!(Policy::from_config(&config).unwrap(), policy);
}

#[test]
fn clone_rebuilds_an_equal_origin_set() {
    let policy = private(vec![group(&["https://a.test"])]);
    let copy = policy.clone();
    assert_eq!(copy, policy);
    let expected = OriginSet::new([OriginPattern::parse("https://a.test").unwrap()]);
    assert_eq!(copy.origins().patterns(), expected.patterns());
}

/// A group with every key set, for the equality tests.
fn full_group() -> OriginGroupConfig {
    OriginGroupConfig {
        name: Some("app".into()),
        origins: vec!["https://a.test".into()],
        access_control_max_age: Some(600),
        allowed_methods: Some(methods(&[("GET", true)])),
        headers: Some(vec!["x-a".into()]),
        exposed_headers: Some(vec!["x-b".into()]),
    }
}

/// Two policies are equal when their settings and groups are; two groups when they behave the
/// same and write back the same configuration (`Policy`'s and `Group`'s `PartialEq`): a change
/// of any one of them makes them differ, the notes kept for the lints (a trailing `/`) do not.
#[rstest]
#[case::public_resource(false, |c: &mut CorsConfig| c.public_resource = Some(true))]
#[case::credentials(false, |c: &mut CorsConfig| c.support_credentials = Some(true))]
#[case::one_more_group(false, |c: &mut CorsConfig| c.origin_groups.as_mut().unwrap().push(full_group()))]
#[case::name(true, |c: &mut CorsConfig| c.origin_groups.as_mut().unwrap()[0].name = None)]
#[case::origins(true, |c: &mut CorsConfig| c.origin_groups.as_mut().unwrap()[0].origins[0] = "https://b.test".into())]
#[case::max_age(true, |c: &mut CorsConfig| c.origin_groups.as_mut().unwrap()[0].access_control_max_age = Some(60))]
#[case::methods(true, |c: &mut CorsConfig| c.origin_groups.as_mut().unwrap()[0].allowed_methods = Some(methods(&[("PUT", true)])))]
#[case::headers(true, |c: &mut CorsConfig| c.origin_groups.as_mut().unwrap()[0].headers = Some(vec!["*".into()]))]
#[case::exposed(true, |c: &mut CorsConfig| c.origin_groups.as_mut().unwrap()[0].exposed_headers = None)]
fn policies_differing_in_one_setting_are_not_equal(
    #[case] in_the_group: bool,
    #[case] change: fn(&mut CorsConfig),
) {
    let config = CorsConfig {
        public_resource: Some(false),
        support_credentials: Some(false),
        origin_groups: Some(vec![full_group()]),
    };
    let policy = Policy::from_config(&config).unwrap();
    assert_eq!(Policy::from_config(&config).unwrap(), policy);
    let mut changed = config.clone();
    change(&mut changed);
    let other = Policy::from_config(&changed).unwrap();
    assert_ne!(other, policy);
    assert_eq!(other.groups()[0] != policy.groups()[0], in_the_group);
}

#[test]
fn groups_differ_by_place_and_by_default_methods_not_by_lint_notes() {
    let mut slash = full_group();
    slash.origins = vec!["https://a.test/".into()];
    assert_eq!(private(vec![slash]).groups()[0], private(vec![full_group()]).groups()[0]);
    // The same group, second: it is another `originGroups` entry.
    let second = private(vec![group(&["https://z.test"]), full_group()]);
    assert_ne!(second.groups()[1], private(vec![full_group()]).groups()[0]);
    // The C1 default methods written out: the same methods, another configuration.
    let defaults = ["CONNECT", "DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"];
    let mut written = group(&["https://a.test"]);
    written.allowed_methods = Some(methods(&defaults.map(|m| (m, true))));
    let (written, implicit) = (private(vec![written]), private(vec![group(&["https://a.test"])]));
    assert_eq!(written.groups()[0].methods(), implicit.groups()[0].methods());
    assert_ne!(written.groups()[0], implicit.groups()[0]);
}

#[test]
fn policy_is_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<Policy>();
    assert_traits::<cors_policy::Group>();
    assert_traits::<cors_policy::LoadError>();
}
