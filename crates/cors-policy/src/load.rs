//! Loading `cors-flex` policies from YAML: the C2 file shapes and the C3 errors, with positions.
//!
//! The spanned tree from [`crate::yaml`] is walked into the raw [`CorsConfig`].
//! Structural problems (unknown keys, wrong types, bad max-age) are reported as the walk meets
//! their node.
//! Value problems (origins, tokens) are found by [`Policy::from_config`] and lints by
//! [`Policy::lint`]; each names its [`Site`], which the loader follows through the same tree to
//! the node. Every problem is reported, not only the first.

use std::collections::HashSet;
use std::io::Read as _;
use std::path::Path;

use crate::config::{CorsConfig, MethodConfig, OriginGroupConfig};
use crate::diagnostic::{Code, Diagnostic, LoadError};
use crate::policy::Policy;
use crate::site::Site;
use crate::yaml::{self, Node, ReadErrorKind, Style, Value};

/// The largest policy file accepted, in bytes (1 MiB).
pub const MAX_FILE_SIZE: usize = 1 << 20;

/// The `policyRef.name` of the policy this crate reads.
pub const POLICY_NAME: &str = "cors-flex";

/// The `apiVersion` of Flex Gateway Local Mode resources.
pub const API_VERSION: &str = "gateway.mulesoft.com/v1alpha1";

/// Which C2 shape a file had.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileShape {
    /// The `config:` block's keys, bare or under a top-level `config:` key.
    Config,
    /// A `- policyRef: {name: cors-flex}` entry with its `config:` (a list, or one entry).
    PolicyRefList,
    /// A Local Mode `ApiInstance` with the policy under `spec.policies`.
    ApiInstance,
    /// A Local Mode `PolicyBinding` with `spec.policyRef` and `spec.config`.
    PolicyBinding,
}

/// A policy loaded from a file, with what else the file said.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoadedPolicy {
    /// The compiled policy.
    pub policy: Policy,
    /// Warnings: C5 lints and ignored parts of the file, with positions, in file order.
    pub warnings: Vec<Diagnostic>,
    /// The shape of the file (of the document holding the `cors-flex` policy).
    pub shape: FileShape,
    /// An `ApiInstance`'s `spec.address` (the listener), if any.
    pub listen: Option<String>,
    /// An `ApiInstance`'s first `spec.services.<name>.address` (the upstream), if any.
    pub upstream: Option<String>,
    /// The names of the other policies in the file, which are not applied.
    pub ignored_policies: Vec<String>,
}

const CONFIG_KEYS: &[&str] = &["publicResource", "supportCredentials", "originGroups"];
const GROUP_KEYS: &[&str] =
    &["name", "origins", "accessControlMaxAge", "allowedMethods", "headers", "exposedHeaders"];
const METHOD_KEYS: &[&str] = &["methodName", "isAllowed"];

fn child(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

fn is_null(node: &Node) -> bool {
    match &node.value {
        Value::Scalar(text, Style::Plain) => {
            matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL")
        }
        _ => false,
    }
}

fn scalar(node: &Node) -> Option<&str> {
    match &node.value {
        Value::Scalar(text, _) if !is_null(node) => Some(text),
        _ => None,
    }
}

/// How a value is described in a wrong-type message.
fn describe(node: &Node) -> String {
    match &node.value {
        _ if is_null(node) => "nothing (null)".to_owned(),
        Value::Scalar(text, Style::Quoted) => format!("string {text:?}"),
        Value::Scalar(text, Style::Plain) => format!("{text:?}"),
        Value::Seq(_) => "a list".to_owned(),
        Value::Map(_) => "a mapping".to_owned(),
    }
}

/// Levenshtein distance over ASCII-lower-cased characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().map(|c| c.to_ascii_lowercase()).enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The closest of `known` to `key`, if close enough to be a likely typo.
fn did_you_mean<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    if key.len() > 64 {
        return None;
    }
    let limit = (key.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (distance(key, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn unknown_key_hint(key: &str, known: &[&str]) -> Option<String> {
    if let Some(k) = did_you_mean(key, known) {
        return Some(format!("did you mean {k:?}?"));
    }
    if key == "<<" {
        return Some("YAML merge keys are not supported".to_owned());
    }
    let home = if CONFIG_KEYS.contains(&key) {
        "at the top of the cors-flex config"
    } else if GROUP_KEYS.contains(&key) {
        "inside an originGroups entry"
    } else if METHOD_KEYS.contains(&key) {
        "inside an allowedMethods entry"
    } else {
        return None;
    };
    (!known.contains(&key)).then(|| format!("{key:?} belongs {home}"))
}

/// One `cors-flex` policy found in a file.
struct Found<'n> {
    config: Option<&'n Node>,
    shape: FileShape,
    line: usize,
    column: usize,
}

/// What the document walk found besides the policy.
#[derive(Default)]
struct Context {
    listen: Option<String>,
    upstream: Option<String>,
    ignored: Vec<String>,
    instance_name: Option<String>,
    binding_targets: Vec<(String, usize, usize)>,
    api_instances: usize,
}

struct Loader<'f> {
    file: &'f str,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    /// Sites where the walk reported a value's error and left a placeholder in its place (which
    /// keeps the indices of later entries), so that `from_config` does not report it again.
    placeholders: Vec<Site>,
}

impl<'f> Loader<'f> {
    fn new(file: &'f str) -> Self {
        Loader { file, errors: Vec::new(), warnings: Vec::new(), placeholders: Vec::new() }
    }

    fn report(&mut self, diagnostic: Diagnostic, node: &Node) {
        let diagnostic = diagnostic.at(self.file, node.line, node.column);
        if diagnostic.is_error() {
            self.errors.push(diagnostic);
        } else {
            self.warnings.push(diagnostic);
        }
    }

    fn wrong_type(&mut self, node: &Node, path: &str, expected: &str, hint: Option<String>) {
        let mut d = Diagnostic::new(
            Code::WrongType,
            path,
            format!("expected {expected}, found {}", describe(node)),
        );
        if let Some(hint) = hint {
            d = d.with_hint(hint);
        }
        self.report(d, node);
    }

    /// The entries of a mapping with scalar, unique keys; other keys are reported.
    /// `known` (if given) lists the accepted keys: others are unknown-key errors.
    fn entries<'n>(
        &mut self,
        entries: &'n [(Node, Node)],
        path: &str,
        known: Option<&[&str]>,
    ) -> Vec<(&'n str, &'n Node, &'n Node)> {
        let mut out: Vec<(&'n str, &'n Node, &'n Node)> = Vec::with_capacity(entries.len());
        let mut seen: HashSet<&str> = HashSet::with_capacity(entries.len());
        for (key_node, value) in entries {
            let Value::Scalar(key, _) = &key_node.value else {
                self.report(
                    Diagnostic::new(
                        Code::UnknownKey,
                        path,
                        format!("expected a plain key, found {}", describe(key_node)),
                    ),
                    key_node,
                );
                continue;
            };
            let key_path = child(path, key);
            if !seen.insert(key.as_str()) {
                self.report(
                    Diagnostic::new(Code::DuplicateKey, key_path, format!("duplicate key {key:?}")),
                    key_node,
                );
                continue;
            }
            if let Some(known) = known
                && !known.contains(&key.as_str())
            {
                let mut d =
                    Diagnostic::new(Code::UnknownKey, key_path, format!("unknown key {key:?}"));
                if let Some(hint) = unknown_key_hint(key, known) {
                    d = d.with_hint(hint);
                }
                self.report(d, key_node);
                continue;
            }
            out.push((key.as_str(), key_node, value));
        }
        out
    }

    // ---- the config block ------------------------------------------------------------------

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
                self.wrong_type(node, path, "a boolean", Some("remove the quotes".to_owned()));
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
            let hint = scalar(node).map(|text| format!("write it as a list: [{text:?}]"));
            let path = Site::GroupKey(group, key).to_string();
            self.wrong_type(node, &path, "a list of strings", hint);
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, entry) in items.iter().enumerate() {
            let site = Site::Entry(group, key, i);
            let text = self.string(entry, &site.to_string(), false).unwrap_or_else(|| {
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
        let unsigned = text.strip_prefix('+').unwrap_or(text);
        let is_float = {
            let mantissa = text.trim_start_matches(['+', '-']);
            let mantissa = mantissa.split(['e', 'E']).next().unwrap_or_default();
            let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
            (digits(whole) || digits(fraction))
                && (whole.is_empty() || digits(whole))
                && (fraction.is_empty() || digits(fraction))
                || matches!(
                    text.trim_start_matches(['+', '-']),
                    ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN"
                )
        };
        match style {
            Style::Quoted if digits(text) => {
                self.wrong_type(node, path, expected, Some("remove the quotes".to_owned()));
            }
            Style::Plain if digits(unsigned) => match unsigned.parse::<u64>() {
                Ok(seconds) => return Some(seconds),
                Err(_) => self.report(
                    Diagnostic::new(
                        Code::MaxAgeTooLarge,
                        path,
                        format!("max-age {text:?} does not fit in 64 bits"),
                    )
                    .with_hint("browsers cap it at 7200 (Chromium) or 86400 (Firefox)"),
                    node,
                ),
            },
            Style::Plain if text.starts_with('-') && digits(&text[1..]) => self.report(
                Diagnostic::new(Code::NegativeMaxAge, path, format!("negative max-age {text:?}"))
                    .with_hint("use 0 or more seconds"),
                node,
            ),
            Style::Plain if is_float => self.report(
                Diagnostic::new(
                    Code::NonIntegerMaxAge,
                    path,
                    format!("max-age {text:?} is not a whole number of seconds"),
                ),
                node,
            ),
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
            let hint = scalar(node).map(|m| format!("write {{methodName: {m}, isAllowed: true}}"));
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

    /// Places a diagnostic of [`Policy::from_config`] or [`Policy::lint`] at the node its site
    /// names in `config` (the nearest existing node above it, or `fallback` without a config).
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

    // ---- file shapes (C2) --------------------------------------------------------------------

    fn shape_error(&mut self, code: Code, path: &str, message: String, hint: &str, node: &Node) {
        let mut d = Diagnostic::new(code, path, message);
        if !hint.is_empty() {
            d = d.with_hint(hint);
        }
        self.report(d, node);
    }

    /// A string value outside the config block, or `None` (reported) if it is not one.
    fn wrapper_string(&mut self, node: &Node, path: &str) -> Option<String> {
        if let Some(text) = scalar(node) {
            return Some(text.to_owned());
        }
        self.report(
            Diagnostic::new(
                Code::WrongType,
                path,
                format!("expected a string, found {}", describe(node)),
            ),
            node,
        );
        None
    }

    fn wrapper_map<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        what: &str,
    ) -> Vec<(&'n str, &'n Node, &'n Node)> {
        if let Value::Map(entries) = &node.value {
            return self.wrapper_entries(entries, path);
        }
        self.report(
            Diagnostic::new(
                Code::WrongType,
                path,
                format!("expected {what}, found {}", describe(node)),
            ),
            node,
        );
        Vec::new()
    }

    fn wrapper_entries<'n>(
        &mut self,
        entries: &'n [(Node, Node)],
        path: &str,
    ) -> Vec<(&'n str, &'n Node, &'n Node)> {
        self.entries(entries, path, None)
    }

    fn get<'n>(entries: &[(&'n str, &'n Node, &'n Node)], key: &str) -> Option<&'n Node> {
        entries.iter().find(|(k, _, _)| *k == key).map(|(_, _, v)| *v)
    }

    /// One `{policyRef, config}` entry of a policy list or of `spec.policies`.
    fn policy_entry<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        shape: FileShape,
        found: &mut Vec<Found<'n>>,
        cx: &mut Context,
    ) {
        let entries = self.wrapper_map(node, path, "a policy entry with policyRef and config");
        let Some(policy_ref) = Self::get(&entries, "policyRef") else {
            if !entries.is_empty() || matches!(node.value, Value::Map(_)) {
                self.shape_error(
                    Code::UnknownShape,
                    path,
                    "policy entry without policyRef".to_owned(),
                    "write policyRef: {name: cors-flex} and config: next to it",
                    node,
                );
            }
            return;
        };
        let ref_path = child(path, "policyRef");
        let ref_entries = self.wrapper_map(policy_ref, &ref_path, "a mapping with name");
        let name = if let Some(name) = Self::get(&ref_entries, "name") {
            self.wrapper_string(name, &child(&ref_path, "name"))
        } else {
            self.shape_error(
                Code::MissingKey,
                &child(&ref_path, "name"),
                "missing key \"name\"".to_owned(),
                "",
                policy_ref,
            );
            None
        };
        let Some(name) = name else { return };
        if name != POLICY_NAME {
            self.report(
                Diagnostic::new(
                    Code::IgnoredPolicy,
                    path,
                    format!("policy {name:?} is not cors-flex and is ignored"),
                ),
                node,
            );
            cx.ignored.push(name);
            return;
        }
        for (key, key_node, _) in &ref_entries {
            if CONFIG_KEYS.contains(key) {
                self.shape_error(
                    Code::UnknownKey,
                    &child(&ref_path, key),
                    format!("unknown key {key:?} under policyRef"),
                    "cors-flex settings go under config:, next to policyRef",
                    key_node,
                );
            }
        }
        for (key, key_node, _) in &entries {
            if !matches!(*key, "policyRef" | "config") {
                let mut d = Diagnostic::new(
                    Code::IgnoredKey,
                    child(path, key),
                    format!("key {key:?} is ignored"),
                );
                if CONFIG_KEYS.contains(key) {
                    d = Diagnostic::new(
                        Code::UnknownKey,
                        child(path, key),
                        format!("unknown key {key:?}"),
                    )
                    .with_hint("cors-flex settings go under config:");
                }
                self.report(d, key_node);
            }
        }
        found.push(Found {
            config: Self::get(&entries, "config"),
            shape,
            line: node.line,
            column: node.column,
        });
    }

    fn check_api_version(&mut self, entries: &[(&str, &Node, &Node)], node: &Node) {
        match Self::get(entries, "apiVersion") {
            Some(v) if scalar(v) == Some(API_VERSION) => {}
            Some(v) => self.report(
                Diagnostic::new(
                    Code::UnexpectedApiVersion,
                    "apiVersion",
                    format!("unexpected apiVersion {}", describe(v)),
                )
                .with_hint(format!("Flex Gateway Local Mode uses {API_VERSION:?}")),
                v,
            ),
            None => self.report(
                Diagnostic::new(Code::UnexpectedApiVersion, "apiVersion", "missing apiVersion")
                    .with_hint(format!("Flex Gateway Local Mode uses {API_VERSION:?}")),
                node,
            ),
        }
    }

    fn api_instance<'n>(
        &mut self,
        node: &'n Node,
        entries: &[(&'n str, &'n Node, &'n Node)],
        found: &mut Vec<Found<'n>>,
        cx: &mut Context,
    ) {
        self.check_api_version(entries, node);
        cx.api_instances += 1;
        if let Some(metadata) = Self::get(entries, "metadata") {
            let meta = self.wrapper_map(metadata, "metadata", "a mapping");
            cx.instance_name = Self::get(&meta, "name").and_then(scalar).map(str::to_owned);
        }
        let Some(spec) = Self::get(entries, "spec") else {
            self.shape_error(Code::MissingKey, "spec", "missing key \"spec\"".to_owned(), "", node);
            return;
        };
        let spec = self.wrapper_map(spec, "spec", "a mapping");
        if let Some(address) = Self::get(&spec, "address") {
            cx.listen = self.wrapper_string(address, "spec.address");
        }
        if let Some(services) = Self::get(&spec, "services") {
            let services = self.wrapper_map(services, "spec.services", "a mapping of services");
            for (i, (name, key_node, service)) in services.iter().enumerate() {
                let path = format!("spec.services.{name}");
                if i > 0 {
                    self.report(
                        Diagnostic::new(
                            Code::ExtraService,
                            &path,
                            format!("service {name:?} is ignored: only the first is the upstream"),
                        ),
                        key_node,
                    );
                    continue;
                }
                let service = self.wrapper_map(service, &path, "a mapping with address");
                match Self::get(&service, "address") {
                    Some(address) => {
                        cx.upstream = self.wrapper_string(address, &child(&path, "address"));
                    }
                    None => self.shape_error(
                        Code::MissingKey,
                        &child(&path, "address"),
                        "missing key \"address\"".to_owned(),
                        "",
                        key_node,
                    ),
                }
            }
        }
        if let Some(policies) = Self::get(&spec, "policies") {
            match &policies.value {
                Value::Seq(items) => {
                    for (i, entry) in items.iter().enumerate() {
                        self.policy_entry(
                            entry,
                            &item("spec.policies", i),
                            FileShape::ApiInstance,
                            found,
                            cx,
                        );
                    }
                }
                _ if is_null(policies) => {}
                _ => self.report(
                    Diagnostic::new(
                        Code::WrongType,
                        "spec.policies",
                        format!("expected a list of policies, found {}", describe(policies)),
                    ),
                    policies,
                ),
            }
        }
    }

    fn policy_binding<'n>(
        &mut self,
        node: &'n Node,
        entries: &[(&'n str, &'n Node, &'n Node)],
        found: &mut Vec<Found<'n>>,
        cx: &mut Context,
    ) {
        self.check_api_version(entries, node);
        let Some(spec_node) = Self::get(entries, "spec") else {
            self.shape_error(Code::MissingKey, "spec", "missing key \"spec\"".to_owned(), "", node);
            return;
        };
        let spec = self.wrapper_map(spec_node, "spec", "a mapping");
        if let Some(target) = Self::get(&spec, "targetRef") {
            let target_entries = self.wrapper_map(target, "spec.targetRef", "a mapping with name");
            if let Some(name) = Self::get(&target_entries, "name").and_then(scalar) {
                cx.binding_targets.push((name.to_owned(), target.line, target.column));
            }
        }
        let Some(policy_ref) = Self::get(&spec, "policyRef") else {
            self.shape_error(
                Code::MissingKey,
                "spec.policyRef",
                "missing key \"policyRef\"".to_owned(),
                "",
                spec_node,
            );
            return;
        };
        let ref_entries = self.wrapper_map(policy_ref, "spec.policyRef", "a mapping with name");
        let Some(name) = Self::get(&ref_entries, "name")
            .and_then(|n| self.wrapper_string(n, "spec.policyRef.name"))
        else {
            return;
        };
        if name != POLICY_NAME {
            self.report(
                Diagnostic::new(
                    Code::IgnoredPolicy,
                    "spec.policyRef",
                    format!("policy {name:?} is not cors-flex and is ignored"),
                ),
                policy_ref,
            );
            cx.ignored.push(name);
            return;
        }
        found.push(Found {
            config: Self::get(&spec, "config"),
            shape: FileShape::PolicyBinding,
            line: node.line,
            column: node.column,
        });
    }

    /// One document: its shape, and the `cors-flex` policies in it.
    fn document<'n>(
        &mut self,
        node: &'n Node,
        multi: bool,
        found: &mut Vec<Found<'n>>,
        cx: &mut Context,
    ) {
        match &node.value {
            Value::Seq(items) if !multi => {
                for (i, entry) in items.iter().enumerate() {
                    self.policy_entry(entry, &item("", i), FileShape::PolicyRefList, found, cx);
                }
            }
            Value::Map(raw) => {
                // Look at the keys without reporting: a bare config's keys are checked by
                // `config`, the other shapes' by their own walk.
                let entries = peek_entries(raw);
                match Self::get(&entries, "kind").map(|kind| (kind, scalar(kind))) {
                    Some((_, Some("ApiInstance"))) => {
                        let entries = self.wrapper_entries(raw, "");
                        self.api_instance(node, &entries, found, cx);
                    }
                    Some((_, Some("PolicyBinding"))) => {
                        let entries = self.wrapper_entries(raw, "");
                        self.policy_binding(node, &entries, found, cx);
                    }
                    Some((kind, _)) => self.shape_error(
                        Code::UnknownShape,
                        "kind",
                        format!("unsupported kind {}", describe(kind)),
                        "expected ApiInstance or PolicyBinding",
                        kind,
                    ),
                    None if multi => self.multi_error(node),
                    None if Self::get(&entries, "policyRef").is_some() => {
                        self.policy_entry(node, "", FileShape::PolicyRefList, found, cx);
                    }
                    None => {
                        let config = match Self::get(&entries, "config") {
                            Some(config) => {
                                for (key, key_node, _) in &entries {
                                    if *key != "config" {
                                        let message = format!("unknown key {key:?}");
                                        let mut d =
                                            Diagnostic::new(Code::UnknownKey, *key, message);
                                        if let Some(hint) = unknown_key_hint(key, &["config"]) {
                                            d = d.with_hint(hint);
                                        }
                                        self.report(d, key_node);
                                    }
                                }
                                config
                            }
                            None => node,
                        };
                        let (line, column) = (node.line, node.column);
                        let shape = FileShape::Config;
                        found.push(Found { config: Some(config), shape, line, column });
                    }
                }
            }
            _ if multi => self.multi_error(node),
            _ => self.shape_error(
                Code::UnknownShape,
                "",
                format!(
                    "expected a cors-flex config mapping, a policy list, an ApiInstance or a \
                     PolicyBinding, found {}",
                    describe(node)
                ),
                "",
                node,
            ),
        }
    }

    fn multi_error(&mut self, node: &Node) {
        self.shape_error(
            Code::Documents,
            "",
            "a file with several documents may hold only ApiInstance and PolicyBinding documents"
                .to_owned(),
            "put a bare config in a file of its own",
            node,
        );
    }

    fn load(mut self, documents: &[Node]) -> Result<LoadedPolicy, LoadError> {
        let documents: Vec<&Node> = documents.iter().filter(|d| !is_null(d)).collect();
        let mut found = Vec::new();
        let mut cx = Context::default();
        let multi = documents.len() > 1;
        for document in &documents {
            self.document(document, multi, &mut found, &mut cx);
        }
        if cx.api_instances > 1 {
            self.errors.push(
                Diagnostic::new(Code::Documents, "", "several ApiInstance documents in one file")
                    .with_hint("use one file per ApiInstance")
                    .at(self.file, 1, 1),
            );
        }
        if let Some(instance) = &cx.instance_name {
            for (target, line, column) in &cx.binding_targets {
                if target != instance {
                    self.warnings.push(
                        Diagnostic::new(
                            Code::UnmatchedTarget,
                            "spec.targetRef",
                            format!(
                                "PolicyBinding targets {target:?}, not the ApiInstance \
                                 {instance:?} of this file"
                            ),
                        )
                        .at(self.file, *line, *column),
                    );
                }
            }
        }
        let mut found = found.into_iter();
        let first = found.next();
        for extra in found {
            self.errors.push(
                Diagnostic::new(Code::SeveralCorsPolicies, "", "a second cors-flex policy")
                    .with_hint("keep one cors-flex policy per file")
                    .at(self.file, extra.line, extra.column),
            );
        }
        let Some(found) = first else {
            if self.errors.is_empty() {
                let (line, column) = documents.first().map_or((1, 1), |d| (d.line, d.column));
                let message = if documents.is_empty() {
                    "the file holds no YAML document"
                } else {
                    "no cors-flex policy found"
                };
                let mut d = Diagnostic::new(
                    if documents.is_empty() { Code::Documents } else { Code::NoCorsPolicy },
                    "",
                    message,
                );
                if !cx.ignored.is_empty() {
                    d = d.with_hint(format!("the file only has {}", cx.ignored.join(", ")));
                }
                self.errors.push(d.at(self.file, line, column));
            }
            return Err(self.finish_errors());
        };
        let raw = self.config(found.config);
        let fallback = (found.line, found.column);
        let policy = match Policy::from_config(&raw) {
            Ok(policy) => Some(policy),
            Err(error) => {
                for d in error.into_diagnostics() {
                    if !d.site().is_some_and(|site| self.placeholders.contains(&site)) {
                        let d = self.place(found.config, fallback, d);
                        self.errors.push(d);
                    }
                }
                None
            }
        };
        match policy {
            Some(policy) if self.errors.is_empty() => {
                for lint in policy.lint() {
                    let lint = self.place(found.config, fallback, lint);
                    self.warnings.push(lint);
                }
                let mut warnings = self.warnings;
                sort(&mut warnings);
                Ok(LoadedPolicy {
                    policy,
                    warnings,
                    shape: found.shape,
                    listen: cx.listen,
                    upstream: cx.upstream,
                    ignored_policies: cx.ignored,
                })
            }
            _ => Err(self.finish_errors()),
        }
    }

    fn finish_errors(mut self) -> LoadError {
        sort(&mut self.errors);
        LoadError::new(self.errors)
    }
}

/// The entries of a mapping with scalar keys, first occurrence winning, without reporting.
fn peek_entries(entries: &[(Node, Node)]) -> Vec<(&str, &Node, &Node)> {
    let mut out: Vec<(&str, &Node, &Node)> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::with_capacity(entries.len());
    for (key, value) in entries {
        if let Value::Scalar(text, _) = &key.value
            && seen.insert(text)
        {
            out.push((text, key, value));
        }
    }
    out
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

fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| (d.line(), d.column()));
}

fn file_error(code: Code, file: &str, message: String) -> LoadError {
    let mut d = Diagnostic::new(code, "", message);
    d.set_file(file);
    LoadError::new(vec![d])
}

fn too_large(file: &str, size: u64) -> LoadError {
    file_error(
        Code::TooLarge,
        file,
        format!("the file is {size} bytes, more than the {MAX_FILE_SIZE}-byte limit"),
    )
}

impl Policy {
    /// Loads a policy from YAML text in any C2 shape; `file` names it in diagnostics.
    ///
    /// # Errors
    ///
    /// Every C3 problem at once, each with line, column and key path; or a single error for
    /// input over [`MAX_FILE_SIZE`], invalid YAML, nesting deeper than 64 levels, or more than
    /// 100 000 nodes counting alias expansions.
    pub fn from_yaml_str(text: &str, file: &str) -> Result<LoadedPolicy, LoadError> {
        if text.len() > MAX_FILE_SIZE {
            return Err(too_large(file, text.len() as u64));
        }
        let documents = yaml::read(text).map_err(|e| {
            let code = match e.kind {
                ReadErrorKind::Syntax => Code::Syntax,
                ReadErrorKind::TooDeep => Code::TooDeep,
                ReadErrorKind::TooManyNodes => Code::TooManyNodes,
                ReadErrorKind::TooManyDocuments => Code::Documents,
            };
            LoadError::new(vec![Diagnostic::new(code, "", e.message).at(file, e.line, e.column)])
        })?;
        Loader::new(file).load(&documents)
    }

    /// Loads a policy from bytes: checks the size cap and UTF-8, then [`Policy::from_yaml_str`].
    ///
    /// # Errors
    ///
    /// As [`Policy::from_yaml_str`], plus invalid UTF-8 (reported at the line and column of the
    /// first bad byte).
    pub fn from_yaml_bytes(bytes: &[u8], file: &str) -> Result<LoadedPolicy, LoadError> {
        if bytes.len() > MAX_FILE_SIZE {
            return Err(too_large(file, bytes.len() as u64));
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Policy::from_yaml_str(text, file),
            Err(error) => {
                let valid = &bytes[..error.valid_up_to()];
                let line = valid.split(|&b| b == b'\n').count();
                let last_line = valid.rsplit(|&b| b == b'\n').next().unwrap_or_default();
                // The prefix is valid UTF-8: count characters by their first bytes.
                let column = last_line.iter().filter(|&&b| b & 0xC0 != 0x80).count() + 1;
                let byte = bytes[error.valid_up_to()];
                Err(LoadError::new(vec![
                    Diagnostic::new(
                        Code::NotUtf8,
                        "",
                        format!("invalid UTF-8 byte 0x{byte:02x} (byte {})", error.valid_up_to()),
                    )
                    .with_hint("save the file as UTF-8")
                    .at(file, line, column),
                ]))
            }
        }
    }

    /// Reads and loads a policy file, refusing files over [`MAX_FILE_SIZE`] without reading them.
    ///
    /// # Errors
    ///
    /// As [`Policy::from_yaml_bytes`], plus I/O errors.
    pub fn from_yaml_file(path: &Path) -> Result<LoadedPolicy, LoadError> {
        let file = path.display().to_string();
        let io =
            |e: std::io::Error| file_error(Code::Io, &file, format!("cannot read the file: {e}"));
        let handle = std::fs::File::open(path).map_err(io)?;
        let size = handle.metadata().map_err(io)?.len();
        if size > MAX_FILE_SIZE as u64 {
            return Err(too_large(&file, size));
        }
        let mut bytes = Vec::new();
        handle.take(MAX_FILE_SIZE as u64 + 1).read_to_end(&mut bytes).map_err(io)?;
        Policy::from_yaml_bytes(&bytes, &file)
    }

    /// The normalized configuration ([`Policy::to_config`]) as YAML: the body of a `cors-flex`
    /// `config:` block, readable again by [`Policy::from_yaml_str`].
    ///
    /// # Panics
    ///
    /// Never in practice: a configuration of strings, booleans and integers always serializes.
    #[must_use]
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(&self.to_config())
            .expect("invariant: a config of strings, booleans and integers always serializes")
    }
}
