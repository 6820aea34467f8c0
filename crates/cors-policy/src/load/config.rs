//! Walking a `cors-flex` `config:` block into the raw [`CorsConfig`], and placing the value
//! errors and lints of the compiled [`Policy`] at the nodes their sites name.

use cors_origin::Quoted;

use super::walk::{Loader, child, is_null, scalar};
use crate::config::{CorsConfig, MethodConfig, OriginGroupConfig};
use crate::diagnostic::{Code, Diagnostic};
use crate::policy::Policy;
use crate::site::Site;
use crate::yaml::{Core, Node, Style, Value};

pub(super) const CONFIG_KEYS: &[&str] = &["publicResource", "supportCredentials", "originGroups"];
pub(super) const GROUP_KEYS: &[&str] =
    &["name", "origins", "accessControlMaxAge", "allowedMethods", "headers", "exposedHeaders"];
pub(super) const METHOD_KEYS: &[&str] = &["methodName", "isAllowed"];
/// The hint for a boolean or a max-age written as a string: in quotes, or tagged `!!str`.
const UNQUOTE: &str = "write it plain, without quotes or a !!str tag";

impl Loader<'_> {
    /// Walks, validates and compiles a `config:` block (`None`: the key is absent, so the C1
    /// defaults apply). Its errors, and the lints of the policy it compiles to, are reported
    /// at their nodes; `at` places them when there is no block.
    pub(crate) fn compile(&mut self, config: Option<&Node>, at: (usize, usize)) -> Option<Policy> {
        let raw = self.config(config);
        match Policy::from_config(&raw) {
            Ok(policy) => {
                for lint in policy.lint() {
                    let lint = self.place(config, at, lint);
                    self.warnings.push(lint);
                }
                Some(policy)
            }
            Err(error) => {
                for d in error.into_diagnostics() {
                    if !d.site().is_some_and(|site| self.placeholders.contains(&site)) {
                        let d = self.place(config, at, d);
                        self.errors.push(d);
                    }
                }
                None
            }
        }
    }

    fn config(&mut self, node: Option<&Node>) -> CorsConfig {
        let mut config = CorsConfig::default();
        let Some(node) = node else { return config };
        if is_null(node) {
            return config;
        }
        let Value::Map(entries) = &node.value else {
            self.wrong_type(node, "", "a mapping of cors-flex settings", None);
            return config;
        };
        for (key, _, value) in self.entries(entries, "", Some(CONFIG_KEYS)) {
            match key {
                "publicResource" => config.public_resource = self.boolean(value, key),
                "supportCredentials" => config.support_credentials = self.boolean(value, key),
                _ => config.origin_groups = self.groups(value, key),
            }
        }
        config
    }

    fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        if is_null(node) {
            return None;
        }
        match &node.value {
            Value::Scalar(text, Style::Plain) => match text.as_str() {
                "true" | "True" | "TRUE" => return Some(true),
                "false" | "False" | "FALSE" => return Some(false),
                _ => {}
            },
            Value::Scalar(text, Style::Quoted) if matches!(text.as_str(), "true" | "false") => {
                self.wrong_type(node, path, "a boolean", Some(UNQUOTE.to_owned()));
                return None;
            }
            _ => {}
        }
        self.wrong_type(node, path, "a boolean", Some("write true or false".to_owned()));
        None
    }

    fn groups(&mut self, node: &Node, path: &str) -> Option<Vec<OriginGroupConfig>> {
        if is_null(node) {
            return None;
        }
        let Value::Seq(items) = &node.value else {
            self.wrong_type(node, path, "a list of origin groups", None);
            return None;
        };
        Some(items.iter().enumerate().map(|(index, group)| self.group(group, index)).collect())
    }

    fn group(&mut self, node: &Node, index: usize) -> OriginGroupConfig {
        let mut group = OriginGroupConfig::default();
        let path = Site::Group(index).to_string();
        let Value::Map(entries) = &node.value else {
            self.wrong_type(
                node,
                &path,
                "an origin group mapping (origins, allowedMethods, ...)",
                None,
            );
            return group;
        };
        let mut has_origins = false;
        for (key, _, value) in self.entries(entries, &path, Some(GROUP_KEYS)) {
            let key_path = child(&path, key);
            match key {
                "name" => group.name = self.string(value, &key_path, true),
                "origins" => {
                    has_origins = true;
                    group.origins = self.strings(value, index, "origins").unwrap_or_default();
                }
                "accessControlMaxAge" => {
                    group.access_control_max_age = self.max_age(value, &key_path);
                }
                "allowedMethods" => group.allowed_methods = self.methods(value, index),
                "headers" => group.headers = self.optional_strings(value, index, "headers"),
                _ => group.exposed_headers = self.optional_strings(value, index, "exposedHeaders"),
            }
        }
        if !has_origins {
            self.report(
                Diagnostic::new(
                    Code::MissingKey,
                    child(&path, "origins"),
                    "missing key \"origins\"",
                )
                .with_hint("list the group's origins, e.g. origins: [\"https://app.example.com\"]"),
                node,
            );
        }
        group
    }

    fn string(&mut self, node: &Node, path: &str, optional: bool) -> Option<String> {
        match &node.value {
            Value::Scalar(..) if optional && is_null(node) => None,
            Value::Scalar(text, _) if !is_null(node) => Some(text.clone()),
            _ => {
                self.wrong_type(node, path, "a string", None);
                None
            }
        }
    }

    fn optional_strings(
        &mut self,
        node: &Node,
        group: usize,
        key: &'static str,
    ) -> Option<Vec<String>> {
        if is_null(node) { None } else { self.strings(node, group, key) }
    }

    /// The strings of the group's list `key` (`origins`, `headers`, `exposedHeaders`).
    fn strings(&mut self, node: &Node, group: usize, key: &'static str) -> Option<Vec<String>> {
        let Value::Seq(items) = &node.value else {
            let hint = scalar(node).map(|text| format!("write it as a list: [{}]", Quoted(text)));
            let path = Site::GroupKey(group, key).to_string();
            self.wrong_type(node, &path, "a list of strings", hint);
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, entry) in items.iter().enumerate() {
            let site = Site::Entry(group, key, i);
            let text = if key == "origins" && is_null(entry) {
                // A plain `null` is YAML's null, not the origin `null` (M4).
                let hint =
                    "write \"null\", quoted, for the origin null (sandboxed and file: pages)";
                self.wrong_type(entry, &site.to_string(), "a string", Some(hint.to_owned()));
                None
            } else {
                self.string(entry, &site.to_string(), false)
            };
            let text = text.unwrap_or_else(|| {
                self.placeholders.push(site);
                String::new()
            });
            out.push(text);
        }
        Some(out)
    }

    fn max_age(&mut self, node: &Node, path: &str) -> Option<u64> {
        if is_null(node) {
            return None;
        }
        let expected = "a non-negative integer number of seconds";
        let Value::Scalar(text, style) = &node.value else {
            self.wrong_type(node, path, expected, None);
            return None;
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        // A leading `+` is accepted on purpose: the YAML 1.2 core schema reads `[-+]?[0-9]+` as
        // an integer, so `+5` is the integer 5 to a YAML reader, and `!!int +5` says so (finding
        // F-CI); refusing it would refuse an integer. (The core schema's octal and hexadecimal
        // forms, `0o17` and `0x1E`, are wrong types: seconds are not written so.) `-0` is the
        // integer 0 to the core schema, and to `serde_yaml`: a max-age of 0, not a negative one.
        let unsigned = match text.strip_prefix('-') {
            Some(zeros) if digits(zeros) && zeros.bytes().all(|b| b == b'0') => zeros,
            _ => text.strip_prefix('+').unwrap_or(text),
        };
        match style {
            Style::Quoted if digits(text) => {
                self.wrong_type(node, path, expected, Some(UNQUOTE.to_owned()));
            }
            // A leading zero (`010`, `-00`) means a different number to each YAML reader: the
            // core schema's 10, YAML 1.1's octal 8 (`PyYAML`), a string to `serde_yaml`.
            Style::Plain if digits(unsigned) && unsigned.len() > 1 && unsigned.starts_with('0') => {
                let plain = unsigned.trim_start_matches('0');
                let plain = if plain.is_empty() { "0" } else { plain };
                let hint = format!(
                    "write {plain} without leading zeros: YAML 1.1 readers take a number with one \
                     for octal, other readers for a string"
                );
                self.wrong_type(node, path, expected, Some(hint));
            }
            Style::Plain if digits(unsigned) => match unsigned.parse::<u64>() {
                Ok(seconds) => return Some(seconds),
                Err(_) => self.report(
                    Diagnostic::new(
                        Code::MaxAgeTooLarge,
                        path,
                        format!("max-age {} does not fit in 64 bits", Quoted(text)),
                    )
                    .with_hint("browsers cap it at 7200 (Chromium) or 86400 (Firefox)"),
                    node,
                ),
            },
            Style::Plain if text.starts_with('-') && digits(&text[1..]) => self.report(
                Diagnostic::new(
                    Code::NegativeMaxAge,
                    path,
                    format!("negative max-age {}", Quoted(text)),
                )
                .with_hint("use 0 or more seconds"),
                node,
            ),
            Style::Plain if Core::of_plain(text) == Core::Float => {
                // A float with a whole value (`1e3`, `10.0`) is a float to the core schema and
                // to `serde_yaml`, and a string to YAML 1.1 readers (`1e3`): the integer it
                // stands for is the fix, and "not a whole number" would be wrong. Within 2^53,
                // where every integer is a float; `-0.0` is 0.
                let whole = text.parse::<f64>().ok().filter(|value| {
                    (*value == 0.0 || value.is_sign_positive())
                        && value.fract() == 0.0
                        && *value <= 9_007_199_254_740_992.0
                });
                // Written as the integer it is: `{}` of the float writes the same digits, but
                // links core's float formatting, 22 KB of the Envoy module (docs/envoy.md).
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "a whole value from 0 to 2^53, checked above: the cast is exact"
                )]
                let whole = whole.map(|value| value as u64);
                let diagnostic = match whole {
                    Some(value) => Diagnostic::new(
                        Code::NonIntegerMaxAge,
                        path,
                        format!(
                            "max-age {} is a floating-point number, not an integer",
                            Quoted(text)
                        ),
                    )
                    .with_hint(format!("write {value}")),
                    None => Diagnostic::new(
                        Code::NonIntegerMaxAge,
                        path,
                        format!("max-age {} is not a whole number of seconds", Quoted(text)),
                    ),
                };
                self.report(diagnostic, node);
            }
            _ => self.wrong_type(node, path, expected, None),
        }
        None
    }

    fn methods(&mut self, node: &Node, group: usize) -> Option<Vec<MethodConfig>> {
        if is_null(node) {
            return None;
        }
        let Value::Seq(items) = &node.value else {
            self.wrong_type(
                node,
                &Site::GroupKey(group, "allowedMethods").to_string(),
                "a list of {methodName, isAllowed} entries",
                Some("write - {methodName: GET, isAllowed: true}".to_owned()),
            );
            return None;
        };
        Some(items.iter().enumerate().map(|(i, entry)| self.method(entry, group, i)).collect())
    }

    fn method(&mut self, node: &Node, group: usize, index: usize) -> MethodConfig {
        let path = Site::Entry(group, "allowedMethods", index).to_string();
        // Until a valid name is read, the entry is a placeholder that allows nothing; its errors
        // are reported once, here.
        let name_site = Site::MethodKey(group, index, "methodName");
        let mut method = MethodConfig { method_name: String::new(), is_allowed: false };
        let Value::Map(entries) = &node.value else {
            let hint = scalar(node)
                .map(|m| format!("write {{methodName: {}, isAllowed: true}}", Quoted(m)));
            self.wrong_type(node, &path, "a {methodName, isAllowed} mapping", hint);
            self.placeholders.push(name_site);
            return method;
        };
        let (mut has_name, mut has_allowed) = (false, false);
        for (key, _, value) in self.entries(entries, &path, Some(METHOD_KEYS)) {
            let key_path = child(&path, key);
            if key == "methodName" {
                has_name = true;
                match self.string(value, &key_path, false) {
                    Some(name) => method.method_name = name,
                    None => self.placeholders.push(name_site),
                }
            } else {
                has_allowed = true;
                method.is_allowed = self.boolean(value, &key_path).unwrap_or(false);
                if is_null(value) {
                    self.wrong_type(value, &key_path, "a boolean", None);
                }
            }
        }
        for (present, key) in [(has_name, "methodName"), (has_allowed, "isAllowed")] {
            if !present {
                self.report(
                    Diagnostic::new(
                        Code::MissingKey,
                        child(&path, key),
                        format!("missing key {key:?}"),
                    ),
                    node,
                );
            }
        }
        if !has_name {
            self.placeholders.push(name_site);
        }
        method
    }

    /// Places a diagnostic of [`Policy::from_config`](crate::Policy::from_config) or
    /// [`Policy::lint`](crate::Policy::lint) at the node its site names in `config` (the nearest
    /// existing node above it, or `fallback` without a config).
    fn place(&self, config: Option<&Node>, fallback: (usize, usize), d: Diagnostic) -> Diagnostic {
        let mut site = d.site();
        let (line, column) = loop {
            match (config, site) {
                (Some(config), Some(at)) => match find(config, at) {
                    Some(node) => break (node.line, node.column),
                    None => site = at.parent(),
                },
                (Some(config), None) => break (config.line, config.column),
                (None, _) => break fallback,
            }
        };
        d.at(self.file, line, column)
    }
}

/// The value of `key` in a mapping node (its first occurrence; later ones are reported).
fn value<'n>(node: &'n Node, key: &str) -> Option<&'n (Node, Node)> {
    let Value::Map(entries) = &node.value else { return None };
    entries.iter().find(|(k, _)| matches!(&k.value, Value::Scalar(text, _) if text == key))
}

/// The node a site names in a `config:` block: a scalar value, or the key of a collection
/// (where a list or mapping starts is less telling than the key that names it).
fn find(config: &Node, site: Site) -> Option<&Node> {
    fn key_or_scalar((key, value): &(Node, Node)) -> &Node {
        if matches!(value.value, Value::Scalar(..)) { value } else { key }
    }
    fn entry(list: &Node, index: usize) -> Option<&Node> {
        match &list.value {
            Value::Seq(items) => items.get(index),
            _ => None,
        }
    }
    match site {
        Site::Config => Some(config),
        Site::Key(key) => value(config, key).map(key_or_scalar),
        Site::Group(group) => entry(&value(config, "originGroups")?.1, group),
        Site::GroupKey(group, key) => {
            value(find(config, Site::Group(group))?, key).map(key_or_scalar)
        }
        Site::Entry(group, key, index) => {
            entry(&value(find(config, Site::Group(group))?, key)?.1, index)
        }
        Site::MethodKey(group, index, key) => {
            value(find(config, Site::Entry(group, "allowedMethods", index))?, key)
                .map(key_or_scalar)
        }
    }
}
