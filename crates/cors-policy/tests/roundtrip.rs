//! Invariants (proptest): valid configurations survive write-then-read unchanged; arbitrary
//! YAML-ish input never panics the loader.

use cors_policy::{CorsConfig, MethodConfig, OriginGroupConfig, Policy};
use proptest::prelude::*;

fn origin() -> impl Strategy<Value = String> {
    let host = "[a-z][a-z0-9]{0,6}(\\.[a-z]{2,5}){1,2}";
    prop_oneof![
        Just("*".to_owned()),
        Just("null".to_owned()),
        ("(https?)", host).prop_map(|(s, h)| format!("{s}://{h}")),
        ("(https?)", host, 1u16..).prop_map(|(s, h, p)| format!("{s}://{h}:{p}")),
        ("(https?)", host).prop_map(|(s, h)| format!("{s}://*.{h}")),
        ("(HTTPS)", host).prop_map(|(s, h)| format!("{s}://{}/", h.to_ascii_uppercase())),
    ]
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,10}",
        Just("true".to_owned()),
        Just("123".to_owned()),
        Just("null".to_owned()),
        Just("*".to_owned()),
    ]
}

fn group() -> impl Strategy<Value = OriginGroupConfig> {
    (
        proptest::option::of(prop_oneof!["[ -~]{0,12}", "\\PC{0,6}"]),
        proptest::collection::vec(origin(), 0..4),
        proptest::option::of(any::<u64>()),
        proptest::option::of(proptest::collection::vec(
            (token(), any::<bool>())
                .prop_map(|(method_name, is_allowed)| MethodConfig { method_name, is_allowed }),
            0..5,
        )),
        proptest::option::of(proptest::collection::vec(token(), 0..4)),
        proptest::option::of(proptest::collection::vec(token(), 0..3)),
    )
        .prop_map(
            |(name, origins, access_control_max_age, allowed_methods, headers, exposed_headers)| {
                OriginGroupConfig {
                    name,
                    origins,
                    access_control_max_age,
                    allowed_methods,
                    headers,
                    exposed_headers,
                }
            },
        )
}

fn config() -> impl Strategy<Value = CorsConfig> {
    (
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(proptest::collection::vec(group(), 0..4)),
    )
        .prop_map(|(public_resource, support_credentials, origin_groups)| CorsConfig {
            public_resource,
            support_credentials,
            origin_groups,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any valid configuration written with `to_yaml` reads back to the same policy, and the
    /// normalized form is a fixed point.
    #[test]
    fn write_then_read_is_the_identity(config in config()) {
        let policy = Policy::from_config(&config).unwrap();
        let yaml = policy.to_yaml();
        let loaded = Policy::from_yaml_str(&yaml, "roundtrip.yaml")
            .unwrap_or_else(|e| panic!("{e}\n---\n{yaml}"));
        prop_assert_eq!(&loaded.policy, &policy);
        prop_assert_eq!(loaded.policy.to_config(), policy.to_config());
        prop_assert_eq!(loaded.policy.to_yaml(), yaml);
    }

    /// Any YAML-ish text loads or fails with diagnostics that have positions; never a panic.
    #[test]
    fn yaml_ish_input_never_panics(text in "([a-zA-Z:\\-\\[\\]{}*&!|>'\"#,.0-9 ]{0,12}\n?){0,12}") {
        if let Err(error) = Policy::from_yaml_str(&text, "fuzz.yaml") {
            prop_assert!(!error.diagnostics().is_empty());
            for d in error.diagnostics() {
                prop_assert!(d.is_error());
                prop_assert!(!d.to_string().is_empty());
            }
        }
    }

    /// Config-shaped text with random keys and values never panics either.
    #[test]
    fn config_shaped_input_never_panics(
        keys in proptest::collection::vec(prop_oneof![
            Just("publicResource"), Just("supportCredentials"), Just("originGroups"),
            Just("  - origins"), Just("    allowedMethods"), Just("    - methodName"),
            Just("      isAllowed"), Just("    headers"), Just("    accessControlMaxAge"), Just("config"),
        ], 0..10),
        values in proptest::collection::vec("[-a-z0-9*:/.\"\\[\\]{}, ]{0,16}", 10),
    ) {
        let text: String =
            keys.iter().zip(&values).flat_map(|(k, v)| [*k, ": ", v.as_str(), "\n"]).collect();
        let _ = Policy::from_yaml_str(&text, "fuzz.yaml");
    }
}
