//! [`Plugin`]: the filter's configuration, a `cors-flex` policy file loaded by cors-policy.

use cors_engine::Engine;
use cors_policy::{Code, Diagnostic, LoadError, Policy};

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
        let scheme = if loaded.listens_on_https() { "https" } else { "http" };
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

/// The lines the filter logs, at error level, when the plugin configuration `bytes` (named
/// `name`) is refused with `error`: every diagnostic, then what the operator most likely got wrong
/// when the bytes say so, then the count.
pub(crate) fn rejection_lines(name: &str, bytes: &[u8], error: &LoadError) -> Vec<String> {
    let mut lines: Vec<String> = error.diagnostics().iter().map(ToString::to_string).collect();
    if let Some(mistake) = configuration_mistake(bytes, error) {
        lines.push(format!("{name}: {mistake}"));
    }
    lines.push(format!(
        "cors-flex policy in {name} rejected with {} error(s); the filter does not start",
        error.diagnostics().len()
    ));
    lines
}

/// What is wrong with a plugin configuration that cors-policy's diagnostics describe as a YAML
/// file, when Envoy's way of handing it over is the likelier cause.
///
/// Envoy gives the filter the value of a `google.protobuf.StringValue` or `BytesValue`
/// configuration, and any other message (a `google.protobuf.Struct`, the natural way to write a
/// mapping in Envoy's YAML) in protobuf's binary encoding, whose length and tag bytes are control
/// characters no YAML text holds (YAML 1.2 section 5.1): cors-policy then reports a syntax
/// error, or invalid UTF-8, at a place that means nothing to the operator.
fn configuration_mistake(bytes: &[u8], error: &LoadError) -> Option<String> {
    const HOW: &str = "give the policy's text as the filter's `configuration`, \
                       a `google.protobuf.StringValue` (docs/envoy.md)";
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Some(format!("the plugin configuration is empty; {HOW}"));
    }
    let control = |b: &u8| (*b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || *b == 0x7f;
    if let Some(at) = bytes.iter().position(control) {
        return Some(format!(
            "the plugin configuration is not text (byte {at} is the control character \
             0x{:02x}): Envoy hands the filter a `configuration` whose type is not \
             `google.protobuf.StringValue` or `BytesValue` (a `google.protobuf.Struct`, for one) \
             in protobuf's binary encoding; {HOW}",
            bytes[at]
        ));
    }
    let one_line = !bytes.trim_ascii().contains(&b'\n');
    let shape = error.diagnostics().iter().any(|d| d.code() == Code::UnknownShape);
    (one_line && shape).then(|| {
        "the plugin configuration must be the policy's text, not a file's name or path: \
         Envoy reads no file for the filter"
            .to_owned()
    })
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

    /// The lines logged for the plugin configuration `bytes`, which must be refused.
    fn rejection(bytes: &[u8]) -> Vec<String> {
        let error = Plugin::from_configuration(bytes, "cors-flex").unwrap_err();
        rejection_lines("cors-flex", bytes, &error)
    }

    /// `{publicResource: false}` as the `google.protobuf.Struct` it is when Envoy's configuration
    /// gives it that type: what Envoy hands the filter (`fields` entry: key, then a `Value` whose
    /// `bool_value` is false).
    const STRUCT: &[u8] = b"\x0a\x14\x0a\x0epublicResource\x12\x02\x20\x00";

    #[rstest]
    #[case::c3_a_protobuf_message_is_not_text(
        STRUCT,
        "is not text (byte 1 is the control character 0x14): Envoy hands the filter"
    )]
    #[case::c3_empty(b"", "the plugin configuration is empty; give the policy's text")]
    #[case::c3_blank(b" \n\t\n", "the plugin configuration is empty; give the policy's text")]
    #[case::c3_a_path(
        b"/etc/cors/strict.yaml\n",
        "must be the policy's text, not a file's name or path"
    )]
    fn c3_a_configuration_envoy_handed_over_wrongly_says_how_to_give_it(
        #[case] bytes: &[u8],
        #[case] expected: &str,
    ) {
        let lines = rejection(bytes);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(lines[1].starts_with("cors-flex: the plugin configuration "), "{lines:#?}");
        assert!(lines[1].contains(expected), "{lines:#?}");
        assert_eq!(
            lines[2],
            "cors-flex policy in cors-flex rejected with 1 error(s); the filter does not start"
        );
    }

    #[rstest]
    #[case::c3_invalid_value(b"publicResource: \"yes\"\n")]
    #[case::c3_invalid_yaml(b"originGroups: [\n")]
    #[case::c3_a_word_in_a_longer_text(b"# a policy\npublicResource\n")]
    fn c3_a_policy_text_with_errors_gets_its_diagnostics_alone(#[case] bytes: &[u8]) {
        let lines = rejection(bytes);
        let error = Plugin::from_configuration(bytes, "cors-flex").unwrap_err();
        let diagnostics: Vec<String> =
            error.diagnostics().iter().map(ToString::to_string).collect();
        assert_eq!(lines[..lines.len() - 1], diagnostics, "{lines:#?}");
    }

    #[test]
    fn c5_warnings_are_kept_for_the_log() {
        let text =
            b"publicResource: false\nsupportCredentials: true\noriginGroups:\n  - origins: ['*']\n";
        let plugin = Plugin::from_configuration(text, "cors-flex").unwrap();
        assert!(!plugin.warnings().is_empty());
    }
}
