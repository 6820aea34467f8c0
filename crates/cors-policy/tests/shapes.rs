//! C2: every accepted file shape gives the same policy; shapes that are not accepted say why.

use cors_policy::{Code, FileShape, Policy};
use rstest::rstest;

const BODY: &str = "publicResource: false
originGroups:
  - origins: [\"https://a.test\"]
    allowedMethods: [{methodName: GET, isAllowed: true}]
";

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().flat_map(|l| [pad.as_str(), l, "\n"]).collect()
}

fn bare() -> String {
    BODY.to_owned()
}

fn wrapped() -> String {
    format!("config:\n{}", indent(BODY, 2))
}

fn policy_ref_list() -> String {
    format!("- policyRef:\n    name: cors-flex\n  config:\n{}", indent(BODY, 4))
}

fn policy_ref_entry() -> String {
    format!("policyRef: {{name: cors-flex}}\nconfig:\n{}", indent(BODY, 2))
}

fn api_instance() -> String {
    format!(
        "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nmetadata: {{name: a}}\n\
         spec:\n  address: http://0.0.0.0:8080\n  services:\n    up: {{address: http://127.0.0.1:9}}\n\
         \x20 policies:\n    - policyRef: {{name: cors-flex}}\n      config:\n{}",
        indent(BODY, 8)
    )
}

fn policy_binding() -> String {
    format!(
        "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: PolicyBinding\nmetadata: {{name: b}}\n\
         spec:\n  targetRef: {{name: a}}\n  policyRef: {{name: cors-flex}}\n  config:\n{}",
        indent(BODY, 4)
    )
}

fn instance_and_binding() -> String {
    let instance = "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\n\
                    metadata: {name: a}\nspec:\n  address: http://0.0.0.0:8080\n  services:\n\
                    \x20   up: {address: http://127.0.0.1:9}\n  policies:\n\
                    \x20   - policyRef: {name: rate-limiting-flex}\n";
    format!("{instance}---\n{}", policy_binding())
}

#[rstest]
#[case::bare_config(bare(), FileShape::Config)]
#[case::config_key(wrapped(), FileShape::Config)]
#[case::policy_ref_list(policy_ref_list(), FileShape::PolicyRefList)]
#[case::single_policy_ref_entry(policy_ref_entry(), FileShape::PolicyRefList)]
#[case::api_instance(api_instance(), FileShape::ApiInstance)]
#[case::policy_binding(policy_binding(), FileShape::PolicyBinding)]
#[case::api_instance_and_policy_binding(instance_and_binding(), FileShape::PolicyBinding)]
fn shape_gives_the_same_policy(#[case] yaml: String, #[case] shape: FileShape) {
    let loaded = Policy::from_yaml_str(&yaml, "cors.yaml").unwrap_or_else(|e| panic!("{e}"));
    let expected = Policy::from_yaml_str(BODY, "body.yaml").unwrap().policy;
    assert_eq!(loaded.shape, shape);
    assert_eq!(loaded.policy, expected);
    assert_eq!(loaded.policy.groups()[0].allow_methods_value().unwrap(), "GET");
}

/// A byte order mark opening the file, as Windows editors and PowerShell write one, is no content
/// (YAML 1.2.2 section 5.2): every shape loads as without it, with the same places (F-AT).
#[test]
fn a_byte_order_mark_opening_the_file_is_skipped() {
    let shapes = [
        bare(),
        wrapped(),
        policy_ref_list(),
        policy_ref_entry(),
        api_instance(),
        policy_binding(),
        instance_and_binding(),
    ];
    for yaml in shapes {
        let plain = Policy::from_yaml_str(&yaml, "cors.yaml").unwrap_or_else(|e| panic!("{e}"));
        let marked = format!("\u{feff}{yaml}");
        for loaded in [
            Policy::from_yaml_str(&marked, "cors.yaml"),
            Policy::from_yaml_bytes(marked.as_bytes(), "cors.yaml"),
        ] {
            let loaded = loaded.unwrap_or_else(|e| panic!("{e}\n{yaml}"));
            assert_eq!((&loaded.policy, loaded.shape), (&plain.policy, plain.shape), "{yaml}");
            assert_eq!(loaded.warnings, plain.warnings, "{yaml}");
        }
    }
}

#[test]
fn instance_and_binding_pair_reports_addresses_and_ignored_policies() {
    let loaded = Policy::from_yaml_str(&instance_and_binding(), "cors.yaml").unwrap();
    assert_eq!(loaded.listen.as_deref(), Some("http://0.0.0.0:8080"));
    assert_eq!(loaded.upstream.as_deref(), Some("http://127.0.0.1:9"));
    assert_eq!(loaded.ignored_policies, ["rate-limiting-flex"]);
}

/// An `ApiInstance`'s listener and its service's address come with their key path, service and
/// place, so that an adapter refusing them says where, as the Local Mode folder loader does.
#[test]
fn an_api_instance_says_where_its_addresses_are() {
    let loaded = Policy::from_yaml_str(&api_instance(), "a.yaml").unwrap();
    let listener = loaded.listen_at.as_ref().unwrap();
    assert_eq!(
        (listener.text(), listener.key(), listener.service()),
        ("http://0.0.0.0:8080", "spec.address", None)
    );
    assert_eq!((listener.line(), listener.column()), (5, 12));
    let service = loaded.upstream_at.as_ref().unwrap();
    assert_eq!(
        (service.text(), service.key(), service.service()),
        ("http://127.0.0.1:9", "spec.services.up.address", Some("up"))
    );
    assert_eq!((service.line(), service.column()), (7, 19));
    let refused = service.refuse("the port is closed");
    assert_eq!((refused.code(), refused.is_error()), (Code::InvalidAddress, true));
    assert_eq!(
        refused.to_string(),
        "a.yaml:7:19: error: spec.services.up.address: the port is closed"
    );
    let bare = Policy::from_yaml_str(&bare(), "a.yaml").unwrap();
    assert_eq!((bare.listen_at, bare.upstream_at), (None, None));
}

/// The listener's scheme, which the adapters take for R2's same-origin check, is HTTPS when the
/// instance's address says so in any case; plain HTTP, a scheme alone or cut short, or no instance, is not.
#[rstest]
#[case::https("https://0.0.0.0:8443", true)]
#[case::upper_case("HTTPS://0.0.0.0:8443", true)]
#[case::http("http://0.0.0.0:8080", false)]
#[case::scheme_alone("https", false)]
#[case::one_slash("https:/a.test", false)]
fn the_listener_is_https_as_its_address_says(#[case] address: &str, #[case] https: bool) {
    let yaml = api_instance().replace("http://0.0.0.0:8080", address);
    let loaded = Policy::from_yaml_str(&yaml, "a.yaml").unwrap();
    assert_eq!(loaded.listen.as_deref(), Some(address));
    assert_eq!(loaded.listens_on_https(), https);
    assert!(!Policy::from_yaml_str(&bare(), "a.yaml").unwrap().listens_on_https());
}

#[rstest]
#[case::empty_config_key("config:\n")]
#[case::empty_mapping("{}\n")]
#[case::policy_ref_without_config("- policyRef: {name: cors-flex}\n")]
fn absent_config_means_c1_defaults(#[case] yaml: &str) {
    let policy = Policy::from_yaml_str(yaml, "cors.yaml").unwrap().policy;
    assert!(policy.is_public_resource());
    assert!(!policy.supports_credentials());
    assert!(policy.groups().is_empty());
}

#[test]
fn null_values_mean_defaults() {
    let yaml = "publicResource: false\nsupportCredentials:\noriginGroups:\n  - origins: [\"https://a.test\"]\n    name: ~\n    accessControlMaxAge: null\n    allowedMethods:\n    headers:\n";
    let policy = Policy::from_yaml_str(yaml, "cors.yaml").unwrap().policy;
    let group = &policy.groups()[0];
    assert!(!policy.supports_credentials());
    assert_eq!((group.name(), group.max_age()), (None, 30));
    assert!(group.has_default_methods());
}

/// A core schema tag that says what its value already is changes nothing, quoted or not, in any
/// spelling (F-CI): `!!bool "false"` is the boolean, `!!int "600"` the integer.
#[test]
fn core_tags_that_say_what_a_value_is_are_honoured() {
    let tagged = "!!map\n\
                  publicResource: !!bool \"false\"\n\
                  supportCredentials: !<tag:yaml.org,2002:bool> true\n\
                  originGroups: !!seq\n\
                  \x20 - name: !!str 123\n\
                  \x20   origins: !!seq [!!str \"https://a.test\"]\n\
                  \x20   accessControlMaxAge: !!int \"600\"\n\
                  \x20   exposedHeaders: !!null\n";
    let plain = "publicResource: false\n\
                 supportCredentials: true\n\
                 originGroups:\n\
                 \x20 - name: \"123\"\n\
                 \x20   origins: [\"https://a.test\"]\n\
                 \x20   accessControlMaxAge: 600\n";
    let policy = Policy::from_yaml_str(tagged, "cors.yaml").unwrap().policy;
    assert_eq!(policy, Policy::from_yaml_str(plain, "cors.yaml").unwrap().policy);
    let group = &policy.groups()[0];
    assert!(!policy.is_public_resource() && policy.supports_credentials());
    assert_eq!((group.name(), group.max_age()), (Some("123"), 600));
}

/// A sign is part of an integer in the YAML 1.2 core schema (`[-+]?[0-9]+`), tagged or not:
/// `+5` is 5, and `-0` is 0, as `serde_yaml` reads it too: a max-age of 0, which C1 allows, and
/// not a negative one (it was refused as `negative max-age "-0"`).
#[rstest]
#[case::plus("+5", 5)]
#[case::plus_tagged("!!int +5", 5)]
#[case::minus_zero("-0", 0)]
#[case::minus_zero_tagged("!!int -0", 0)]
fn a_max_age_with_a_sign_is_its_integer(#[case] value: &str, #[case] seconds: u64) {
    let yaml = format!(
        "originGroups:\n  - origins: [\"https://a.test\"]\n    accessControlMaxAge: {value}\n"
    );
    let policy = Policy::from_yaml_str(&yaml, "cors.yaml").unwrap().policy;
    assert_eq!(policy.groups()[0].max_age(), seconds);
}

#[test]
fn a_policy_binding_for_another_policy_is_not_a_cors_policy() {
    let yaml = "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: PolicyBinding\nspec:\n  policyRef: {name: jwt-validation-flex}\n";
    let error = Policy::from_yaml_str(yaml, "cors.yaml").unwrap_err();
    let d = &error.diagnostics()[0];
    assert_eq!((d.code(), d.line(), d.column()), (Code::NoCorsPolicy, Some(1), Some(1)));
    assert_eq!(d.hint(), Some("the file only has \"jwt-validation-flex\""));
}

/// In a file of several documents, every one must be an `ApiInstance` or a `PolicyBinding`: a
/// policy list or a scalar after an instance is refused as such, at its document, not read as
/// a policy or as a file of one document.
#[rstest]
#[case::a_policy_list("- policyRef: {name: cors-flex}\n  config: {}\n")]
#[case::a_scalar("cors\n")]
fn a_document_of_another_shape_beside_an_instance_is_refused(#[case] document: &str) {
    let instance = "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nspec:\n  \
                    policies:\n    - policyRef: {name: cors-flex}\n      config: {}\n";
    let error = Policy::from_yaml_str(&format!("{instance}---\n{document}"), "cors.yaml");
    assert_eq!(
        error.unwrap_err().to_string(),
        "cors.yaml:8:1: error: a file with several documents may hold only ApiInstance and \
         PolicyBinding documents, put a bare config in a file of its own"
    );
}

/// A policy list's entry without `policyRef` is reported once: a mapping (empty or not) as
/// such, anything else as not a mapping.
#[rstest]
#[case::empty(
    "- {}\n",
    "policy entry without policyRef, write policyRef: {name: cors-flex} and config: next to it"
)]
#[case::config_alone(
    "- {config: {}}\n",
    "policy entry without policyRef, write policyRef: {name: cors-flex} and config: next to it"
)]
#[case::a_scalar("- 5\n", "expected a policy entry with policyRef and config, found \"5\"")]
fn a_policy_entry_without_policy_ref_is_reported_once(#[case] yaml: &str, #[case] said: &str) {
    let error = Policy::from_yaml_str(yaml, "cors.yaml").unwrap_err();
    assert_eq!(error.to_string(), format!("cors.yaml:1:3: error: [0]: {said}"));
}

/// An `ApiInstance`'s `spec.policies` is a list, or nothing (no policy, so no cors-flex one);
/// anything else is the wrong type.
#[rstest]
#[case::nothing("", "cors.yaml:1:1: error: no cors-flex policy found")]
#[case::a_number(
    " 5",
    "cors.yaml:4:13: error: spec.policies: expected a list of policies, found \"5\""
)]
fn an_instances_policies_are_a_list_or_nothing(#[case] value: &str, #[case] said: &str) {
    let yaml = format!(
        "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nspec:\n  policies:{value}\n"
    );
    assert_eq!(Policy::from_yaml_str(&yaml, "cors.yaml").unwrap_err().to_string(), said);
}

#[test]
fn two_api_instances_are_refused() {
    let one = "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nspec: {}\n";
    let error = Policy::from_yaml_str(&format!("{one}---\n{one}"), "cors.yaml").unwrap_err();
    assert_eq!(error.diagnostics()[0].code(), Code::Documents);
}
