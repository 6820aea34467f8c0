//! Arbitrary bytes loaded as a cors-flex policy file: never a panic, errors always carry
//! diagnostics, and a policy that loads survives `to_yaml` then loading again unchanged, and
//! compiling its normalized configuration (`to_config`) unchanged too. A loaded policy's
//! warnings are warnings, each with its position, in file order.

#![no_main]

use cors_policy::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    // `from_yaml_bytes` does the size cap and the UTF-8 check itself; both paths are fuzzed.
    let loaded = match std::str::from_utf8(bytes) {
        Ok(text) => Policy::from_yaml_str(text, "fuzz.yaml"),
        Err(_) => Policy::from_yaml_bytes(bytes, "fuzz.yaml"),
    };
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            assert!(!error.diagnostics().is_empty());
            assert!(error.diagnostics().iter().all(|d| d.is_error() && d.line().is_some()));
            return;
        }
    };
    assert!(loaded.warnings.iter().all(|d| !d.is_error() && d.line().is_some()));
    assert!(loaded.warnings.is_sorted_by_key(|d| (d.line(), d.column())));
    let compiled = Policy::from_config(&loaded.policy.to_config())
        .unwrap_or_else(|e| panic!("normalized configuration does not compile:\n{e}"));
    assert_eq!(compiled, loaded.policy);
    let yaml = loaded.policy.to_yaml();
    let again = Policy::from_yaml_str(&yaml, "normalized.yaml")
        .unwrap_or_else(|e| panic!("normalized policy does not load:\n{e}\n---\n{yaml}"));
    assert_eq!(again.policy, loaded.policy);
    assert_eq!(again.policy.to_yaml(), yaml);
});
