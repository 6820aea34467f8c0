//! [`Plugin`]: the filter's configuration, a `cors-flex` policy file loaded by cors-policy.

use cors_engine::Engine;
use cors_policy::{Diagnostic, LoadError, Policy};

use crate::headers::starts_with_ignoring_case;

/// A loaded plugin configuration: the engine built from the `cors-flex` policy, and the scheme
/// the listener serves, which the same-origin check (R2) compares origins against.
///
/// The configuration is the text of any policy file cors-policy reads (C2): a bare `config`
/// mapping, a `policyRef` list item, a Local Mode `ApiInstance` or a `PolicyBinding`.
/// The listener scheme is `https` when an `ApiInstance`'s `spec.address` starts with
/// `https://`, and `http` otherwise (Envoy terminating TLS in front of the filter is configured
/// by writing that address).
///
/// ```
/// use cors_proxy_wasm::Plugin;
///
/// let policy = b"publicResource: false\noriginGroups: [{origins: ['https://a.test']}]\n";
/// let plugin = Plugin::from_configuration(policy, "cors-flex")?;
/// assert_eq!(plugin.scheme(), "http");
/// assert!(!plugin.engine().policy().is_public_resource());
///
/// let invalid = b"originGroups: [{origins: ['https://a.test/x']}]\n";
/// let error = Plugin::from_configuration(invalid, "cors-flex").unwrap_err();
/// assert!(error.to_string().starts_with("cors-flex:1:"), "{error}");
/// # Ok::<(), cors_policy::LoadError>(())
/// ```
#[derive(Debug)]
pub struct Plugin {
    engine: Engine,
    scheme: &'static str,
    warnings: Vec<Diagnostic>,
}

impl Plugin {
    /// Loads the plugin configuration `bytes`; `file` names it in diagnostics (the plugin name).
    ///
    /// # Errors
    ///
    /// Every problem cors-policy finds (C3), each with line and column, as a [`LoadError`].
    pub fn from_configuration(bytes: &[u8], file: &str) -> Result<Plugin, LoadError> {
        let loaded = Policy::from_yaml_bytes(bytes, file)?;
        let scheme = match loaded.listen.as_deref() {
            Some(address) if starts_with_ignoring_case(address, "https://") => "https",
            _ => "http",
        };
        Ok(Plugin { engine: Engine::new(loaded.policy), scheme, warnings: loaded.warnings })
    }

    /// The decision engine.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// `http` or `https`: the listener's scheme, for the same-origin check (R2).
    #[must_use]
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// The warnings the configuration loaded with (C5 lints, ignored parts of the file).
    #[must_use]
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::example_policy;
    use rstest::rstest;

    /// `examples/policies/api-instance.yaml` with its listener at `address`.
    #[track_caller]
    fn check_scheme(address: &str, expected: &str) {
        let text = String::from_utf8(example_policy("api-instance.yaml")).unwrap();
        let listener = "\n  address: http://0.0.0.0:8081\n";
        assert!(text.contains(listener), "api-instance.yaml moved its listener:\n{text}");
        let text = text.replace(listener, &format!("\n  address: {address}\n"));
        let plugin = Plugin::from_configuration(text.as_bytes(), "api.yaml").unwrap();
        assert_eq!(plugin.scheme(), expected);
    }

    #[rstest]
    #[case::r2_http_listener("http://0.0.0.0:8081", "http")]
    #[case::r2_https_listener("https://0.0.0.0:8443", "https")]
    #[case::r2_https_listener_any_case("HTTPS://0.0.0.0:8443", "https")]
    fn api_instance_address_sets_the_listener_scheme(
        #[case] address: &str,
        #[case] expected: &str,
    ) {
        check_scheme(address, expected);
    }

    #[test]
    fn r2_scheme_defaults_to_http_without_an_api_instance() {
        let plugin =
            Plugin::from_configuration(&example_policy("public.yaml"), "cors-flex").unwrap();
        assert_eq!(plugin.scheme(), "http");
    }

    #[test]
    fn c3_invalid_configuration_reports_every_error_with_positions() {
        let text = b"publicResource: false\noriginGroups:\n  - origins: ['https://a.test/x']\n    accessControlMaxAge: -1\n";
        let error = Plugin::from_configuration(text, "cors-flex").unwrap_err();
        let lines: Vec<String> = error.diagnostics().iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(
            lines[0].starts_with("cors-flex:3:15: error: originGroups[0].origins[0]:"),
            "{lines:#?}"
        );
        assert!(
            lines[1].starts_with("cors-flex:4:26: error: originGroups[0].accessControlMaxAge:"),
            "{lines:#?}"
        );
    }

    #[test]
    fn c3_configuration_that_is_not_utf8_is_an_error_not_a_panic() {
        let error = Plugin::from_configuration(b"publicResource: \xff\n", "cors-flex").unwrap_err();
        assert!(error.to_string().contains("UTF-8"), "{error}");
    }

    #[test]
    fn c5_warnings_are_kept_for_the_log() {
        let text =
            b"publicResource: false\nsupportCredentials: true\noriginGroups:\n  - origins: ['*']\n";
        let plugin = Plugin::from_configuration(text, "cors-flex").unwrap();
        assert!(!plugin.warnings().is_empty());
    }
}
