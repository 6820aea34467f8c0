//! The C2 file shapes: a bare config, a `policyRef` list, and the Local Mode `ApiInstance` and
//! `PolicyBinding` documents, alone or together; finding the one `cors-flex` policy in them.

use std::collections::HashSet;

use cors_origin::Quoted;

use super::config::CONFIG_KEYS;
use super::walk::{
    Entry, Loader, child, describe, describe_document, is_null, item, peek_entries, scalar,
};
use super::{API_VERSION, FileShape, LoadedPolicy, POLICY_NAME, WrittenAddress, sort};
use crate::diagnostic::{Code, Diagnostic, LoadError};
use crate::yaml::{Node, Value};

/// One `cors-flex` policy found in a file.
struct Found<'n> {
    config: Option<&'n Node>,
    shape: FileShape,
    line: usize,
    column: usize,
}

/// A policy entry of a list or of `spec.policies`, read by [`Loader::read_policy_entry`].
pub(crate) struct PolicyEntry<'n> {
    /// `policyRef.name`.
    pub(crate) name: String,
    /// The entry's keys: `policyRef`, `config`, and any other.
    pub(crate) entries: Vec<Entry<'n>>,
    /// The keys of `policyRef`.
    pub(crate) ref_entries: Vec<Entry<'n>>,
    /// The key path of `policyRef`.
    pub(crate) ref_path: String,
}

/// What the document walk found besides the policy.
#[derive(Default)]
struct Context {
    listen: Option<WrittenAddress>,
    upstream: Option<WrittenAddress>,
    ignored: Vec<String>,
    instance_name: Option<String>,
    binding_targets: Vec<(String, usize, usize)>,
    api_instances: usize,
}

impl Loader<'_> {
    /// One `{policyRef, config}` entry of a policy list or of `spec.policies`.
    fn policy_entry<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        shape: FileShape,
        found: &mut Vec<Found<'n>>,
        cx: &mut Context,
    ) {
        let Some(entry) = self.read_policy_entry(node, path) else { return };
        if entry.name != POLICY_NAME {
            self.ignored_policy(&entry.name, path, node);
            cx.ignored.push(entry.name);
            return;
        }
        let used = ["policyRef", "config"];
        self.cors_keys(&entry.ref_entries, &entry.ref_path, &entry.entries, path, &used);
        found.push(Found {
            config: Self::get(&entry.entries, "config"),
            shape,
            line: node.line,
            column: node.column,
        });
    }

    /// A `{policyRef, ...}` entry at `path`: its policy's name and its keys; `None` (reported)
    /// if it is not a mapping with a named `policyRef`.
    pub(crate) fn read_policy_entry<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
    ) -> Option<PolicyEntry<'n>> {
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
            return None;
        };
        let ref_path = child(path, "policyRef");
        let (name, ref_entries) = self.policy_name(policy_ref, &ref_path)?;
        Some(PolicyEntry { name, entries, ref_entries, ref_path })
    }

    /// The `name` of a `policyRef` mapping and the mapping's entries; `None` (reported) without
    /// a name.
    pub(crate) fn policy_name<'n>(
        &mut self,
        policy_ref: &'n Node,
        ref_path: &str,
    ) -> Option<(String, Vec<Entry<'n>>)> {
        let ref_entries = self.wrapper_map(policy_ref, ref_path, "a mapping with name");
        let name = if let Some(name) = Self::get(&ref_entries, "name") {
            self.wrapper_string(name, &child(ref_path, "name"))
        } else {
            self.missing(&child(ref_path, "name"), policy_ref, "");
            None
        };
        name.map(|name| (name, ref_entries))
    }

    /// Warns that the policy `name`, written at `path`, is not applied.
    pub(crate) fn ignored_policy(&mut self, name: &str, path: &str, node: &Node) {
        self.report(
            Diagnostic::new(
                Code::IgnoredPolicy,
                path,
                format!("policy {} is not cors-flex and is ignored", Quoted(name)),
            ),
            node,
        );
    }

    /// Checks the keys around a `cors-flex` policy: settings written under `policyRef` (as the
    /// Flex documentation's broken example does) are errors, and keys of the entry other than
    /// `used` are ignored with a warning (an error for cors-flex settings).
    ///
    /// `rules` gets its reason: Flex applies cors-flex to every request of an API instance, it
    /// is the one policy that is not resource-level
    /// (<https://docs.mulesoft.com/policies/policies-resource-level-overview>).
    pub(crate) fn cors_keys(
        &mut self,
        ref_entries: &[(&str, &Node, &Node)],
        ref_path: &str,
        entries: &[(&str, &Node, &Node)],
        path: &str,
        used: &[&str],
    ) {
        for (key, key_node, _) in ref_entries {
            if CONFIG_KEYS.contains(key) {
                self.shape_error(
                    Code::UnknownKey,
                    &child(ref_path, key),
                    format!("unknown key {} under policyRef", Quoted(key)),
                    "cors-flex settings go under config:, next to policyRef",
                    key_node,
                );
            }
        }
        for (key, key_node, _) in entries {
            if used.contains(key) {
                continue;
            }
            let key_path = child(path, key);
            let d = if CONFIG_KEYS.contains(key) {
                Diagnostic::new(Code::UnknownKey, key_path, format!("unknown key {}", Quoted(key)))
                    .with_hint("cors-flex settings go under config:")
            } else {
                let d = Diagnostic::new(
                    Code::IgnoredKey,
                    key_path,
                    format!("key {} is ignored", Quoted(key)),
                );
                if *key == "rules" {
                    d.with_hint(
                        "Flex applies cors-flex to every request of the API instance, never per \
                         resource",
                    )
                } else {
                    d
                }
            };
            self.report(d, key_node);
        }
    }

    /// Reports a missing or unexpected `apiVersion` of a Local Mode resource.
    pub(crate) fn check_api_version(&mut self, entries: &[(&str, &Node, &Node)], node: &Node) {
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

    /// The address string at `key` (of the service `service`), with its place.
    fn written_address(
        &mut self,
        node: &Node,
        key: &str,
        service: Option<&str>,
    ) -> Option<WrittenAddress> {
        let text = self.wrapper_string(node, key)?;
        Some(WrittenAddress::new(text, key, service, self.file, node))
    }

    /// An `ApiInstance` (its `apiVersion` already checked): listener, upstream and policies.
    fn api_instance<'n>(
        &mut self,
        node: &'n Node,
        entries: &[(&'n str, &'n Node, &'n Node)],
        found: &mut Vec<Found<'n>>,
        cx: &mut Context,
    ) {
        cx.api_instances += 1;
        if let Some(metadata) = Self::get(entries, "metadata") {
            let meta = self.wrapper_map(metadata, "metadata", "a mapping");
            cx.instance_name = Self::get(&meta, "name").and_then(scalar).map(str::to_owned);
        }
        let Some((_, spec)) = self.spec(entries, node) else { return };
        if let Some(address) = Self::get(&spec, "address") {
            cx.listen = self.written_address(address, "spec.address", None);
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
                            format!(
                                "service {} is ignored: only the first is the upstream",
                                Quoted(name)
                            ),
                        ),
                        key_node,
                    );
                    continue;
                }
                let service = self.wrapper_map(service, &path, "a mapping with address");
                match Self::get(&service, "address") {
                    Some(address) => {
                        let key = child(&path, "address");
                        cx.upstream = self.written_address(address, &key, Some(name));
                    }
                    None => self.missing(&child(&path, "address"), key_node, ""),
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

    /// A `PolicyBinding` (its `apiVersion` already checked): target and policy.
    fn policy_binding<'n>(
        &mut self,
        node: &'n Node,
        entries: &[(&'n str, &'n Node, &'n Node)],
        found: &mut Vec<Found<'n>>,
        cx: &mut Context,
    ) {
        let Some((spec_node, spec)) = self.spec(entries, node) else { return };
        if let Some(target) = Self::get(&spec, "targetRef") {
            let target_entries = self.wrapper_map(target, "spec.targetRef", "a mapping with name");
            if let Some(name) = Self::get(&target_entries, "name").and_then(scalar) {
                cx.binding_targets.push((name.to_owned(), target.line, target.column));
            }
        }
        let Some(policy_ref) = Self::get(&spec, "policyRef") else {
            self.missing("spec.policyRef", spec_node, "");
            return;
        };
        let Some((name, ref_entries)) = self.policy_name(policy_ref, "spec.policyRef") else {
            return;
        };
        if name != POLICY_NAME {
            self.ignored_policy(&name, "spec.policyRef", policy_ref);
            cx.ignored.push(name);
            return;
        }
        let used = ["targetRef", "policyRef", "config"];
        self.cors_keys(&ref_entries, "spec.policyRef", &spec, "spec", &used);
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
                    Some((_, Some(kind @ ("ApiInstance" | "PolicyBinding")))) => {
                        let entries = self.wrapper_entries(raw, "");
                        self.check_api_version(&entries, node);
                        if kind == "ApiInstance" {
                            self.api_instance(node, &entries, found, cx);
                        } else {
                            self.policy_binding(node, &entries, found, cx);
                        }
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
                        // Under a `config:` key, the document's keys are walked as any wrapper's:
                        // a second `config:` is a duplicate (finding F-CN), any other key unknown.
                        let config = match Self::get(&entries, "config") {
                            Some(config) => {
                                let entries = self.entries(raw, "", Some(&["config"]));
                                Self::get(&entries, "config").unwrap_or(config)
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
                    describe_document(node)
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

    pub(super) fn load(mut self, documents: &[Node]) -> Result<LoadedPolicy, LoadError> {
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
                                "PolicyBinding targets {}, not the ApiInstance {} of this file",
                                Quoted(target),
                                Quoted(instance),
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
                    d = d.with_hint(format!("the file only has {}", named(&cx.ignored)));
                }
                self.errors.push(d.at(self.file, line, column));
            }
            return Err(self.finish_errors());
        };
        let policy = self.compile(found.config, (found.line, found.column));
        match policy {
            Some(policy) if self.errors.is_empty() => {
                let mut warnings = self.warnings;
                sort(&mut warnings);
                Ok(LoadedPolicy {
                    policy,
                    warnings,
                    shape: found.shape,
                    listen: cx.listen.as_ref().map(|at| at.text().to_owned()),
                    upstream: cx.upstream.as_ref().map(|at| at.text().to_owned()),
                    ignored_policies: cx.ignored,
                    listen_at: cx.listen,
                    upstream_at: cx.upstream,
                })
            }
            _ => Err(self.finish_errors()),
        }
    }
}

/// The most policy names [`named`] lists.
const MAX_NAMED: usize = 8;

/// `names` quoted, each once, in file order: at most [`MAX_NAMED`], then how many more. Aliases
/// repeat a name as often as the text budget lets them, and a name may be long.
fn named(names: &[String]) -> String {
    let mut seen = HashSet::with_capacity(names.len());
    let unique: Vec<&str> =
        names.iter().map(String::as_str).filter(|name| seen.insert(*name)).collect();
    let shown: Vec<String> =
        unique.iter().take(MAX_NAMED).map(|name| Quoted(name).to_string()).collect();
    match unique.len().saturating_sub(MAX_NAMED) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}
