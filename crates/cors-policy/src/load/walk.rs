//! The walker's tools: a [`Loader`] collects the diagnostics of one file, each made with the
//! node it is about; free functions read the scalars and mappings of the spanned tree.

use std::collections::HashSet;

use cors_origin::Quoted;

use super::sort;
use super::suggest::unknown_key_hint;
use crate::diagnostic::{Code, Diagnostic, LoadError};
use crate::site::Site;
use crate::yaml::{Core, Node, Style, Value};

/// A mapping entry with a scalar key: the key, its node and the value node.
pub(crate) type Entry<'n> = (&'n str, &'n Node, &'n Node);

pub(crate) struct Loader<'f> {
    pub(crate) file: &'f str,
    pub(crate) errors: Vec<Diagnostic>,
    pub(crate) warnings: Vec<Diagnostic>,
    /// Sites where the walk reported a value's error and left a placeholder in its place (which
    /// keeps the indices of later entries), so that `from_config` does not report it again.
    pub(crate) placeholders: Vec<Site>,
    /// Regular expressions compiled so far for Local Mode route rules, counting the files walked
    /// before this one (bounded by `MAX_PATTERNS`).
    #[cfg(feature = "local-mode")]
    pub(crate) patterns: usize,
}

impl<'f> Loader<'f> {
    pub(crate) fn new(file: &'f str) -> Self {
        Loader {
            file,
            errors: Vec::new(),
            warnings: Vec::new(),
            placeholders: Vec::new(),
            #[cfg(feature = "local-mode")]
            patterns: 0,
        }
    }

    pub(crate) fn report(&mut self, diagnostic: Diagnostic, node: &Node) {
        let diagnostic = diagnostic.at(self.file, node.line, node.column);
        if diagnostic.is_error() {
            self.errors.push(diagnostic);
        } else {
            self.warnings.push(diagnostic);
        }
    }

    pub(crate) fn wrong_type(
        &mut self,
        node: &Node,
        path: &str,
        expected: &str,
        hint: Option<String>,
    ) {
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
    pub(crate) fn entries<'n>(
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
                    Diagnostic::new(
                        Code::DuplicateKey,
                        key_path,
                        format!("duplicate key {}", Quoted(key)),
                    ),
                    key_node,
                );
                continue;
            }
            if let Some(known) = known
                && !known.contains(&key.as_str())
            {
                let mut d = Diagnostic::new(
                    Code::UnknownKey,
                    key_path,
                    format!("unknown key {}", Quoted(key)),
                );
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

    pub(crate) fn shape_error(
        &mut self,
        code: Code,
        path: &str,
        message: String,
        hint: &str,
        node: &Node,
    ) {
        let mut d = Diagnostic::new(code, path, message);
        if !hint.is_empty() {
            d = d.with_hint(hint);
        }
        self.report(d, node);
    }

    /// Reports that the key ending `path` is missing from the mapping `node`.
    pub(crate) fn missing(&mut self, path: &str, node: &Node, hint: &str) {
        let key = path.rsplit('.').next().unwrap_or(path);
        self.shape_error(Code::MissingKey, path, format!("missing key {key:?}"), hint, node);
    }

    /// The `spec` mapping of the resource `node` whose entries are `entries` (an `ApiInstance`,
    /// a `PolicyBinding`, a `Service`), as its node and entries; `None` once its absence is
    /// reported.
    pub(crate) fn spec<'n>(
        &mut self,
        entries: &[Entry<'n>],
        node: &Node,
    ) -> Option<(&'n Node, Vec<Entry<'n>>)> {
        let Some(spec) = Self::get(entries, "spec") else {
            self.missing("spec", node, "");
            return None;
        };
        Some((spec, self.wrapper_map(spec, "spec", "a mapping")))
    }

    /// A string value outside the config block, or `None` (reported) if it is not one.
    pub(crate) fn wrapper_string(&mut self, node: &Node, path: &str) -> Option<String> {
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

    pub(crate) fn wrapper_map<'n>(
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

    pub(crate) fn wrapper_entries<'n>(
        &mut self,
        entries: &'n [(Node, Node)],
        path: &str,
    ) -> Vec<(&'n str, &'n Node, &'n Node)> {
        self.entries(entries, path, None)
    }

    pub(crate) fn get<'n>(
        entries: &[(&'n str, &'n Node, &'n Node)],
        key: &str,
    ) -> Option<&'n Node> {
        entries.iter().find(|(k, _, _)| *k == key).map(|(_, _, v)| *v)
    }

    pub(crate) fn finish_errors(mut self) -> LoadError {
        sort(&mut self.errors);
        LoadError::new(self.errors)
    }
}

pub(crate) fn child(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

pub(crate) fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

pub(crate) fn is_null(node: &Node) -> bool {
    match &node.value {
        Value::Scalar(text, Style::Plain) => Core::of_plain(text) == Core::Null,
        _ => false,
    }
}

pub(crate) fn scalar(node: &Node) -> Option<&str> {
    match &node.value {
        Value::Scalar(text, _) if !is_null(node) => Some(text),
        _ => None,
    }
}

/// How a value is described in a wrong-type message.
pub(crate) fn describe(node: &Node) -> String {
    match &node.value {
        _ if is_null(node) => "nothing (null)".to_owned(),
        Value::Scalar(text, Style::Quoted) => format!("string {}", Quoted(text)),
        Value::Scalar(text, Style::Plain) => Quoted(text).to_string(),
        Value::Seq(_) => "a list".to_owned(),
        Value::Map(_) => "a mapping".to_owned(),
    }
}

/// What a whole document is, as [`describe`] says it, but without a scalar's text. A document
/// that is one scalar is no configuration: most often a file that is not YAML at all, such as a
/// private key, a token or `/proc/self/environ` that a link named `*.yaml` points to, and its text
/// would reach the logs (finding F-AC).
pub(crate) fn describe_document(node: &Node) -> String {
    match &node.value {
        Value::Scalar(text, _) if !is_null(node) => {
            format!("text of {} characters (not shown)", text.chars().count())
        }
        _ => describe(node),
    }
}

/// The entries of a mapping with scalar keys, first occurrence winning, without reporting.
pub(crate) fn peek_entries(entries: &[(Node, Node)]) -> Vec<(&str, &Node, &Node)> {
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
