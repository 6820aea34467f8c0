//! One file of a Local Mode folder: its documents walked into resources, each problem reported
//! with the node it is about.
//!
//! Kinds, per the Declarative Configuration Reference Guide
//! (<https://docs.mulesoft.com/gateway/latest/flex-local-configuration-reference-guide>):
//! - `ApiInstance`: `metadata.name` (required), `metadata.namespace` (default `default`),
//!   `spec.address` (required), `spec.services.<name>` with `address` (required) and `routes`
//!   (an empty or absent list is one route taking every request), `spec.policies`;
//! - `Service`: `metadata`, `spec.address` (required);
//! - `PolicyBinding`: `metadata`, `spec.targetRef` (`name` required; `namespace` defaults to the
//!   binding's), `spec.policyRef`, `spec.config`, `spec.rules`.
//! - `Configuration` and every other kind: a warning names the kind, the resource is ignored.
//!
//! Policies: `cors-flex` (compiled here, with its lints), `route` (its `config.destinationRef`,
//! `config.destinationPath` and `rules`, per the route policy page), and any other, ignored with
//! a warning. A `route` policy may also sit under `spec.policies`, with `rules` next to
//! `config` as in a binding; the guide shows it only in bindings.
//!
//! Where the pages are silent we chose: `destinationRef.namespace` defaults to the namespace of
//! the resource that holds the route (the page's default, `""`, names no namespace of the
//! folder); `destinationRef.kind` may only be `Service`; `destinationPath` must start with `/`;
//! neither it nor a service's path may have a dot segment (finding F-BR: the gateway would refuse
//! every request of the route), nor may it have a byte a request target cannot carry (F-BU);
//! unknown keys inside routes, rules and route configurations are errors (a typo there would
//! silently send traffic elsewhere), with a "did you mean".

use std::fmt;

use cors_origin::Quoted;

use super::address::{self, HttpAddress, Upstream};
use super::route::{MAX_PATTERNS, Pattern, RouteRule};
use crate::diagnostic::{Code, Diagnostic};
use crate::load::POLICY_NAME;
use crate::load::walk::{Entry, Loader, child, describe_document, is_null, item};
use crate::policy::Policy;
use crate::token::is_token;
use crate::yaml::{Node, Value};

/// The name of Flex's route policy ("Traffic Management for Multiple Upstream Services").
pub(super) const ROUTE_POLICY: &str = "route";

/// Where something is written: `FILE:LINE:COLUMN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Place {
    pub(super) file: String,
    pub(super) line: usize,
    pub(super) column: usize,
}

impl Place {
    fn of(file: &str, node: &Node) -> Place {
        Place { file: file.to_owned(), line: node.line, column: node.column }
    }

    /// `d`, placed here.
    pub(super) fn put(&self, d: Diagnostic) -> Diagnostic {
        d.at(&self.file, self.line, self.column)
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A resource's `metadata`.
#[derive(Clone, Debug)]
pub(super) struct Meta {
    pub(super) name: String,
    pub(super) namespace: String,
    /// Where `metadata.name` is written.
    pub(super) at: Place,
}

/// Where a route sends requests.
#[derive(Clone, Debug)]
pub(super) enum Destination {
    /// A service written inline under the `ApiInstance`'s `spec.services`.
    Inline(Upstream),
    /// A `Service` resource, named by a route policy's `destinationRef`.
    Service { name: String, namespace: String, at: Place },
}

/// A route as written, its destination not yet looked up.
#[derive(Clone, Debug)]
pub(super) struct RouteDoc {
    pub(super) destination: Destination,
    pub(super) destination_path: String,
    pub(super) rules: Vec<RouteRule>,
    pub(super) at: Place,
}

/// An `ApiInstance` document.
#[derive(Debug)]
pub(super) struct InstanceDoc {
    pub(super) meta: Meta,
    pub(super) address: Option<(HttpAddress, String)>,
    /// Where `spec.address` is written (the document, when it is missing).
    pub(super) address_at: Place,
    pub(super) routes: Vec<RouteDoc>,
    /// Its inline `cors-flex` policies (`None`: one with errors), with their places.
    pub(super) cors: Vec<(Option<Policy>, Place)>,
    pub(super) ignored: Vec<String>,
    /// Whether the document had no error, so that a missing route is worth reporting.
    pub(super) clean: bool,
}

/// A `Service` document.
#[derive(Debug)]
pub(super) struct ServiceDoc {
    pub(super) meta: Meta,
    /// `None`: its address was reported.
    pub(super) upstream: Option<Upstream>,
}

/// The policy of a `PolicyBinding`.
#[derive(Debug)]
pub(super) enum BoundPolicy {
    /// `cors-flex` (`None`: its configuration had errors).
    Cors(Option<Policy>),
    Route(RouteDoc),
    /// Another policy, by name: not applied.
    Ignored(String),
    /// A policy whose reading failed (reported).
    Broken,
}

/// A `PolicyBinding` document.
#[derive(Debug)]
pub(super) struct BindingDoc {
    pub(super) meta: Option<Meta>,
    /// `targetRef`: name, namespace, place.
    pub(super) target: Option<(String, String, Place)>,
    pub(super) policy: BoundPolicy,
    pub(super) at: Place,
}

/// What one file holds.
#[derive(Debug, Default)]
pub(super) struct Walked {
    pub(super) errors: Vec<Diagnostic>,
    pub(super) warnings: Vec<Diagnostic>,
    pub(super) instances: Vec<InstanceDoc>,
    pub(super) services: Vec<ServiceDoc>,
    pub(super) bindings: Vec<BindingDoc>,
}

/// Walks the documents of the file `file`; `patterns` counts the route expressions compiled so
/// far, for [`MAX_PATTERNS`].
pub(super) fn walk(file: &str, documents: &[Node], patterns: &mut usize) -> Walked {
    let mut loader = Loader::new(file);
    loader.patterns = *patterns;
    let mut walked = Walked::default();
    for document in documents.iter().filter(|d| !is_null(d)) {
        loader.resource(document, &mut walked);
    }
    *patterns = loader.patterns;
    walked.errors = loader.errors;
    walked.warnings = loader.warnings;
    walked
}

const SERVICE_KEYS: &[&str] = &["address", "routes"];
const ROUTE_KEYS: &[&str] = &["config", "rules"];
const ROUTE_CONFIG_KEYS: &[&str] = &["destinationPath"];
const ROUTE_POLICY_KEYS: &[&str] = &["destinationRef", "destinationPath"];
const DESTINATION_KEYS: &[&str] = &["name", "kind", "namespace"];
const RULE_KEYS: &[&str] = &["path", "methods", "host", "headers"];

impl Loader<'_> {
    fn place_of(&self, node: &Node) -> Place {
        Place::of(self.file, node)
    }

    fn resource(&mut self, node: &Node, out: &mut Walked) {
        let Value::Map(raw) = &node.value else {
            self.shape_error(
                Code::UnknownShape,
                "",
                format!(
                    "expected a Local Mode resource (apiVersion, kind, metadata, spec), found {}",
                    describe_document(node)
                ),
                "",
                node,
            );
            return;
        };
        let entries = self.wrapper_entries(raw, "");
        let Some(kind_node) = Self::get(&entries, "kind") else {
            self.shape_error(
                Code::UnknownShape,
                "",
                "not a Local Mode resource: it has no kind".to_owned(),
                "a configuration folder holds ApiInstance, Service, PolicyBinding and \
                 Configuration resources; a bare cors-flex config is read alone, as a policy \
                 file (`cors-gateway serve --config FILE`, `check FILE`), not in a folder",
                node,
            );
            return;
        };
        let Some(kind) = self.wrapper_string(kind_node, "kind") else { return };
        match kind.as_str() {
            "ApiInstance" => self.instance(node, &entries, out),
            "Service" => self.service(node, &entries, out),
            "PolicyBinding" => self.binding(node, &entries, out),
            _ => self.shape_error(
                Code::IgnoredResource,
                "kind",
                format!("resource kind {} is not implemented and is ignored", Quoted(&kind)),
                if kind == "Configuration" {
                    "Flex's gateway settings (logging, shared storage, TLS contexts) do not \
                     apply here; see the cors-gateway flags instead"
                } else {
                    ""
                },
                kind_node,
            ),
        }
    }

    fn meta(&mut self, entries: &[Entry<'_>], node: &Node) -> Option<Meta> {
        let Some(metadata) = Self::get(entries, "metadata") else {
            self.missing("metadata", node, "name the resource: metadata: {name: ...}");
            return None;
        };
        let fields = self.wrapper_map(metadata, "metadata", "a mapping with name");
        let (name, namespace, name_node) =
            self.name_and_namespace(&fields, metadata, "metadata", "default")?;
        Some(Meta { name, namespace, at: self.place_of(name_node) })
    }

    /// The `name` (required) and `namespace` (default: `namespace`) of a reference or of
    /// `metadata`, whose fields are `fields`, written at `node` and `path`; and the name's node.
    fn name_and_namespace<'n>(
        &mut self,
        fields: &[Entry<'n>],
        node: &Node,
        path: &str,
        namespace: &str,
    ) -> Option<(String, String, &'n Node)> {
        let Some(name_node) = Self::get(fields, "name") else {
            self.missing(&child(path, "name"), node, "");
            return None;
        };
        let name = self.wrapper_string(name_node, &child(path, "name"))?;
        let namespace = match Self::get(fields, "namespace") {
            Some(ns) if !is_null(ns) => self.wrapper_string(ns, &child(path, "namespace"))?,
            _ => namespace.to_owned(),
        };
        Some((name, namespace, name_node))
    }

    /// An address string at `path`, parsed by `parse`; reported if it does not parse.
    fn address<T, E>(
        &mut self,
        node: &Node,
        path: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T>
    where
        E: Into<address::Refused>,
    {
        let text = self.wrapper_string(node, path)?;
        match parse(&text).map_err(Into::into) {
            Ok(value) => Some(value),
            Err(address::Refused { message, hint }) => {
                let hint = hint.unwrap_or("write it as http://HOST:PORT or https://HOST:PORT");
                self.shape_error(Code::InvalidAddress, path, message, hint, node);
                None
            }
        }
    }

    fn instance(&mut self, node: &Node, entries: &[Entry<'_>], out: &mut Walked) {
        self.check_api_version(entries, node);
        let errors = self.errors.len();
        let meta = self.meta(entries, node);
        let namespace = meta.as_ref().map_or("default", |m| m.namespace.as_str()).to_owned();
        let mut doc = InstanceDoc {
            meta: Meta {
                name: String::new(),
                namespace: namespace.clone(),
                at: self.place_of(node),
            },
            address: None,
            address_at: self.place_of(node),
            routes: Vec::new(),
            cors: Vec::new(),
            ignored: Vec::new(),
            clean: false,
        };
        if let Some((spec_node, spec)) = self.spec(entries, node) {
            match Self::get(&spec, "address") {
                Some(address) => {
                    doc.address_at = self.place_of(address);
                    doc.address = self.address(address, "spec.address", address::listen_address);
                }
                None => self.missing(
                    "spec.address",
                    spec_node,
                    "name the listener, e.g. address: http://0.0.0.0:8080",
                ),
            }
            if let Some(services) = Self::get(&spec, "services").filter(|s| !is_null(s)) {
                let services = self.wrapper_map(services, "spec.services", "a mapping of services");
                for (name, key_node, service) in services {
                    self.inline_service(name, key_node, service, &mut doc.routes);
                }
            }
            if let Some(policies) = Self::get(&spec, "policies").filter(|p| !is_null(p)) {
                self.inline_policies(policies, &namespace, &mut doc);
            }
        }
        doc.clean = self.errors.len() == errors;
        if let Some(meta) = meta {
            doc.meta = meta;
            out.instances.push(doc);
        }
    }

    fn inline_service(
        &mut self,
        name: &str,
        key_node: &Node,
        node: &Node,
        routes: &mut Vec<RouteDoc>,
    ) {
        let path = format!("spec.services.{name}");
        let Value::Map(raw) = &node.value else {
            self.wrong_type(node, &path, "a mapping with address and routes", None);
            return;
        };
        let entries = self.entries(raw, &path, Some(SERVICE_KEYS));
        let address_path = child(&path, "address");
        let upstream = if let Some(address) = Self::get(&entries, "address") {
            self.address(address, &address_path, |text| address::upstream(name, text))
        } else {
            self.missing(&address_path, key_node, "");
            None
        };
        let Some(upstream) = upstream else { return };
        let items: &[Node] = match Self::get(&entries, "routes").filter(|r| !is_null(r)) {
            None => &[],
            Some(Node { value: Value::Seq(items), .. }) => items,
            Some(list) => {
                self.wrong_type(list, &child(&path, "routes"), "a list of routes", None);
                return;
            }
        };
        if items.is_empty() {
            // The guide: without routes, one default route takes all traffic to the service.
            routes.push(RouteDoc {
                destination: Destination::Inline(upstream),
                destination_path: String::new(),
                rules: Vec::new(),
                at: self.place_of(key_node),
            });
            return;
        }
        for (i, route) in items.iter().enumerate() {
            let route_path = item(&child(&path, "routes"), i);
            let Value::Map(raw) = &route.value else {
                self.wrong_type(route, &route_path, "a route mapping (config, rules)", None);
                continue;
            };
            let entries = self.entries(raw, &route_path, Some(ROUTE_KEYS));
            let config_path = child(&route_path, "config");
            let destination_path = match Self::get(&entries, "config").filter(|c| !is_null(c)) {
                Some(config) => {
                    let config = self.wrapper_map(config, &config_path, "a mapping");
                    let config = self.known(&config, &config_path, ROUTE_CONFIG_KEYS);
                    self.destination_path(&config, &config_path)
                }
                None => Some(String::new()),
            };
            let rules = self.rules(Self::get(&entries, "rules"), &child(&route_path, "rules"));
            if let (Some(destination_path), Some(rules)) = (destination_path, rules) {
                routes.push(RouteDoc {
                    destination: Destination::Inline(upstream.clone()),
                    destination_path,
                    rules,
                    at: self.place_of(route),
                });
            }
        }
    }

    /// Reports the keys of `entries` that are not `known` (as the walk of a mapping with known
    /// keys does), keeping the others.
    fn known<'n>(&mut self, entries: &[Entry<'n>], path: &str, known: &[&str]) -> Vec<Entry<'n>> {
        let mut kept = Vec::with_capacity(entries.len());
        for &(key, key_node, value) in entries {
            if known.contains(&key) {
                kept.push((key, key_node, value));
            } else {
                let mut d = Diagnostic::new(
                    Code::UnknownKey,
                    child(path, key),
                    format!("unknown key {}", Quoted(key)),
                );
                if let Some(hint) = crate::load::suggest::unknown_key_hint(key, known) {
                    d = d.with_hint(hint);
                }
                self.report(d, key_node);
            }
        }
        kept
    }

    fn inline_policies(&mut self, policies: &Node, namespace: &str, doc: &mut InstanceDoc) {
        let Value::Seq(items) = &policies.value else {
            self.wrong_type(policies, "spec.policies", "a list of policies", None);
            return;
        };
        for (i, node) in items.iter().enumerate() {
            let path = item("spec.policies", i);
            let Some(entry) = self.read_policy_entry(node, &path) else { continue };
            let config = Self::get(&entry.entries, "config");
            match entry.name.as_str() {
                POLICY_NAME => {
                    let used = ["policyRef", "config"];
                    self.cors_keys(
                        &entry.ref_entries,
                        &entry.ref_path,
                        &entry.entries,
                        &path,
                        &used,
                    );
                    let policy = self.compile(config, (node.line, node.column));
                    doc.cors.push((policy, self.place_of(node)));
                }
                ROUTE_POLICY => {
                    self.ignored_keys(&entry.entries, &path, &["policyRef", "config", "rules"]);
                    let rules = Self::get(&entry.entries, "rules");
                    if let Some(route) = self.route_policy(config, rules, &path, namespace, node) {
                        doc.routes.push(route);
                    }
                }
                name => {
                    self.ignored_policy(name, &path, node);
                    doc.ignored.push(entry.name);
                }
            }
        }
    }

    /// Warns about the keys of `entries` other than `used`.
    fn ignored_keys(&mut self, entries: &[Entry<'_>], path: &str, used: &[&str]) {
        for (key, key_node, _) in entries {
            if !used.contains(key) {
                let d = Diagnostic::new(
                    Code::IgnoredKey,
                    child(path, key),
                    format!("key {} is ignored", Quoted(key)),
                );
                self.report(d, key_node);
            }
        }
    }

    /// A `route` policy's `config` and `rules`, held by `holder` (a `spec.policies` entry, or
    /// a binding's `spec`) in `namespace`; `path` is the key path of the holder.
    fn route_policy(
        &mut self,
        config: Option<&Node>,
        rules: Option<&Node>,
        path: &str,
        namespace: &str,
        holder: &Node,
    ) -> Option<RouteDoc> {
        let config_path = child(path, "config");
        let Some(config) = config.filter(|c| !is_null(c)) else {
            let hint = "the route policy needs config.destinationRef.name";
            self.missing(&config_path, config.unwrap_or(holder), hint);
            return None;
        };
        let at = self.place_of(holder);
        let entries = self.wrapper_map(config, &config_path, "a mapping with destinationRef");
        let entries = self.known(&entries, &config_path, ROUTE_POLICY_KEYS);
        let destination = self.destination_ref(&entries, &config_path, config, namespace);
        let destination_path = self.destination_path(&entries, &config_path);
        let rules = self.rules(rules, &child(path, "rules"));
        Some(RouteDoc {
            destination: destination?,
            destination_path: destination_path?,
            rules: rules?,
            at,
        })
    }

    fn destination_ref(
        &mut self,
        entries: &[Entry<'_>],
        path: &str,
        config: &Node,
        namespace: &str,
    ) -> Option<Destination> {
        let ref_path = child(path, "destinationRef");
        let Some(reference) = Self::get(entries, "destinationRef") else {
            self.missing(&ref_path, config, "name the Service: destinationRef: {name: ...}");
            return None;
        };
        let fields = self.wrapper_map(reference, &ref_path, "a mapping with name");
        let fields = self.known(&fields, &ref_path, DESTINATION_KEYS);
        if let Some(kind) = Self::get(&fields, "kind") {
            let kind_path = child(&ref_path, "kind");
            let kind_text = self.wrapper_string(kind, &kind_path)?;
            if kind_text != "Service" {
                self.shape_error(
                    Code::UnknownReference,
                    &kind_path,
                    format!("a route to a {} is not supported", Quoted(&kind_text)),
                    "route to a Service resource",
                    kind,
                );
                return None;
            }
        }
        let (name, namespace, _) =
            self.name_and_namespace(&fields, reference, &ref_path, namespace)?;
        Some(Destination::Service { name, namespace, at: self.place_of(reference) })
    }

    /// `destinationPath` of a route's configuration, without a trailing `/`: empty if absent.
    fn destination_path(&mut self, entries: &[Entry<'_>], path: &str) -> Option<String> {
        let Some(node) = Self::get(entries, "destinationPath").filter(|n| !is_null(n)) else {
            return Some(String::new());
        };
        let key_path = child(path, "destinationPath");
        let text = self.wrapper_string(node, &key_path)?;
        if !text.starts_with('/') || text.contains(['?', '#']) {
            self.shape_error(
                Code::InvalidAddress,
                &key_path,
                format!("destinationPath {} is not a path", Quoted(&text)),
                "start it with /, e.g. /api/v1",
                node,
            );
            return None;
        }
        // Finding F-BU: the gateway builds the upstream request's target with `http`'s parser,
        // which refuses a space or a control character; every request of this route would get
        // `400`. The same parser says here whether the path can be sent.
        if http::uri::PathAndQuery::try_from(text.as_str()).is_err() {
            self.shape_error(
                Code::InvalidAddress,
                &key_path,
                format!("destinationPath {} cannot be sent in a request", Quoted(&text)),
                "percent-encode what a request target cannot carry, e.g. a space as %20",
                node,
            );
            return None;
        }
        // Finding F-BR: the gateway refuses every request whose upstream path has a dot
        // segment, so every request of this route would get `400`.
        if crate::path::has_dot_segment(text.as_bytes()) {
            self.shape_error(
                Code::InvalidAddress,
                &key_path,
                format!(
                    "destinationPath {} has a dot segment (. or ..), and the gateway refuses a \
                     request whose upstream path has one",
                    Quoted(&text)
                ),
                "write the path as the upstream should get it, without . or .. segments",
                node,
            );
            return None;
        }
        Some(text.trim_end_matches('/').to_owned())
    }

    /// A route's `rules`; `None` if one of them had errors (all are reported).
    fn rules(&mut self, node: Option<&Node>, path: &str) -> Option<Vec<RouteRule>> {
        let Some(node) = node.filter(|n| !is_null(n)) else { return Some(Vec::new()) };
        let Value::Seq(items) = &node.value else {
            self.wrong_type(
                node,
                path,
                "a list of rules",
                Some("write - path: /api(/.*)".to_owned()),
            );
            return None;
        };
        let errors = self.errors.len();
        let rules: Vec<RouteRule> = items
            .iter()
            .enumerate()
            .filter_map(|(i, rule)| self.rule(rule, &item(path, i)))
            .collect();
        (self.errors.len() == errors).then_some(rules)
    }

    fn rule(&mut self, node: &Node, path: &str) -> Option<RouteRule> {
        let Value::Map(raw) = &node.value else {
            self.wrong_type(node, path, "a rule mapping (path, methods, host, headers)", None);
            return None;
        };
        let mut rule = RouteRule { path: None, methods: None, host: None, headers: Vec::new() };
        let mut complete = true;
        for (key, _, value) in self.entries(raw, path, Some(RULE_KEYS)) {
            let key_path = child(path, key);
            if is_null(value) {
                continue;
            }
            complete &= match key {
                "path" => {
                    rule.path = self.pattern(value, &key_path);
                    rule.path.is_some()
                }
                "host" => {
                    rule.host = self.pattern(value, &key_path);
                    rule.host.is_some()
                }
                "methods" => {
                    rule.methods = self.rule_methods(value, &key_path);
                    rule.methods.is_some()
                }
                _ => self.header_rules(value, &key_path).map(|h| rule.headers = h).is_some(),
            };
        }
        complete.then_some(rule)
    }

    fn pattern(&mut self, node: &Node, path: &str) -> Option<Pattern> {
        let source = self.wrapper_string(node, path)?;
        self.compiled(|| Pattern::new(&source), node, path)
    }

    /// Compiles a pattern within the configuration's budget of [`MAX_PATTERNS`].
    fn compiled(
        &mut self,
        compile: impl FnOnce() -> Result<Pattern, String>,
        node: &Node,
        path: &str,
    ) -> Option<Pattern> {
        if self.patterns >= MAX_PATTERNS {
            let message = format!("more than {MAX_PATTERNS} regular expressions in route rules");
            self.shape_error(Code::TooLarge, path, message, "", node);
            return None;
        }
        self.patterns += 1;
        compile()
            .map_err(|message| {
                let d = Diagnostic::new(Code::InvalidRegex, path, message);
                self.report(d, node);
            })
            .ok()
    }

    /// `methods`: an expression, or a list of method names.
    fn rule_methods(&mut self, node: &Node, path: &str) -> Option<Pattern> {
        let Value::Seq(items) = &node.value else { return self.pattern(node, path) };
        let mut names = Vec::with_capacity(items.len());
        for (i, entry) in items.iter().enumerate() {
            let entry_path = item(path, i);
            let name = self.wrapper_string(entry, &entry_path)?;
            if !is_token(name.as_bytes()) {
                let d = Diagnostic::new(
                    Code::InvalidMethod,
                    entry_path,
                    format!("invalid method {}", Quoted(&name)),
                );
                self.report(d, entry);
                return None;
            }
            names.push(name);
        }
        self.compiled(|| Pattern::any_of(&names), node, path)
    }

    /// `headers`: header names, each with the expression its value must match.
    fn header_rules(&mut self, node: &Node, path: &str) -> Option<Vec<(String, Pattern)>> {
        let entries = self.wrapper_map(node, path, "a mapping of header names to expressions");
        let mut out = Vec::with_capacity(entries.len());
        let mut complete = true;
        for (name, key_node, value) in entries {
            let key_path = child(path, name);
            if !is_token(name.as_bytes()) {
                let d = Diagnostic::new(
                    Code::InvalidHeader,
                    &key_path,
                    format!("invalid header name {}", Quoted(name)),
                );
                self.report(d, key_node);
                complete = false;
            } else if let Some(pattern) = self.pattern(value, &key_path) {
                out.push((name.to_ascii_lowercase(), pattern));
            } else {
                complete = false;
            }
        }
        complete.then_some(out)
    }

    fn service(&mut self, node: &Node, entries: &[Entry<'_>], out: &mut Walked) {
        self.check_api_version(entries, node);
        let meta = self.meta(entries, node);
        let name = meta.as_ref().map_or("", |m| m.name.as_str()).to_owned();
        let mut upstream = None;
        if let Some((spec_node, spec)) = self.spec(entries, node) {
            match Self::get(&spec, "address") {
                Some(address) => {
                    upstream = self
                        .address(address, "spec.address", |text| address::upstream(&name, text));
                }
                None => {
                    self.missing("spec.address", spec_node, "e.g. address: http://127.0.0.1:9000");
                }
            }
        }
        if let Some(meta) = meta {
            out.services.push(ServiceDoc { meta, upstream });
        }
    }

    fn binding(&mut self, node: &Node, entries: &[Entry<'_>], out: &mut Walked) {
        self.check_api_version(entries, node);
        let meta = self.meta(entries, node);
        let namespace = meta.as_ref().map_or("default", |m| m.namespace.as_str()).to_owned();
        let Some((spec_node, spec)) = self.spec(entries, node) else { return };
        let target = if let Some(target) = Self::get(&spec, "targetRef") {
            self.target(target, &namespace)
        } else {
            let hint = "name the ApiInstance: targetRef: {name: ...}";
            self.missing("spec.targetRef", spec_node, hint);
            None
        };
        let Some(policy_ref) = Self::get(&spec, "policyRef") else {
            self.missing("spec.policyRef", spec_node, "");
            return;
        };
        let Some((name, ref_entries)) = self.policy_name(policy_ref, "spec.policyRef") else {
            return;
        };
        let config = Self::get(&spec, "config");
        let policy = match name.as_str() {
            POLICY_NAME => {
                let used = ["targetRef", "policyRef", "config"];
                self.cors_keys(&ref_entries, "spec.policyRef", &spec, "spec", &used);
                BoundPolicy::Cors(self.compile(config, (node.line, node.column)))
            }
            ROUTE_POLICY => {
                self.ignored_keys(&spec, "spec", &["targetRef", "policyRef", "config", "rules"]);
                let rules = Self::get(&spec, "rules");
                match self.route_policy(config, rules, "spec", &namespace, spec_node) {
                    Some(route) => BoundPolicy::Route(route),
                    None => BoundPolicy::Broken,
                }
            }
            _ => {
                self.ignored_policy(&name, "spec.policyRef", policy_ref);
                BoundPolicy::Ignored(name)
            }
        };
        out.bindings.push(BindingDoc { meta, target, policy, at: self.place_of(node) });
    }

    fn target(&mut self, node: &Node, namespace: &str) -> Option<(String, String, Place)> {
        let fields = self.wrapper_map(node, "spec.targetRef", "a mapping with name");
        let (name, namespace, _) =
            self.name_and_namespace(&fields, node, "spec.targetRef", namespace)?;
        Some((name, namespace, self.place_of(node)))
    }
}
