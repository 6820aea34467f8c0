//! The resources of every file linked into a [`LocalConfig`]: bindings to their `ApiInstance`,
//! routes to their `Service`, instances to their listener.
//!
//! What we check, and what we chose where the Declarative Configuration Reference Guide is
//! silent:
//! - Names are unique per kind and namespace; a second definition is an error.
//! - A `cors-flex` or `route` binding whose `targetRef` names no `ApiInstance` of the folder,
//!   and a route whose `destinationRef` names no `Service`, are errors with a "did you mean"
//!   (the whole configuration is at hand, so a dangling name is a mistake, not a resource still
//!   to come). A binding of a policy we do not apply only gets a warning.
//! - One `cors-flex` policy per instance, inline or bound; a second is an error. An instance
//!   without one is served without CORS handling, with a warning.
//! - An instance needs a route to an upstream: inline services, or `route` policies.
//! - Several instances may share a listener address if their base paths differ: a request goes
//!   to the instance with the longest base path it falls under (Flex serves several APIs on
//!   one port by base path). The same address and base path twice, one host and port with two
//!   schemes, or an all-interfaces host (`0.0.0.0`, `[::]`) next to another host on the same
//!   port (they cannot both be bound) are errors. Host names are compared as written, not
//!   resolved: `localhost` and `127.0.0.1` on one port fail when the gateway binds them.

use std::collections::HashMap;

use cors_origin::Quoted;

use super::resource::{BindingDoc, BoundPolicy, Destination, InstanceDoc, Place, RouteDoc, Walked};
use super::route::Route;
use super::{ApiInstance, Listener, LocalConfig};
use crate::diagnostic::{Code, Diagnostic, LoadError};
use crate::load::suggest::did_you_mean;

/// `"name"`, or `"name" (namespace "ns")` outside the default namespace.
fn named(name: &str, namespace: &str) -> String {
    if namespace == "default" {
        Quoted(name).to_string()
    } else {
        format!("{} (namespace {})", Quoted(name), Quoted(namespace))
    }
}

/// Diagnostics of the whole folder, in file order once sorted.
struct Report {
    files: Vec<String>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Report {
    fn push(&mut self, d: Diagnostic) {
        if d.is_error() { self.errors.push(d) } else { self.warnings.push(d) }
    }

    fn at(&mut self, place: &Place, code: Code, path: &str, message: String, hint: Option<String>) {
        let mut d = Diagnostic::new(code, path, message);
        if let Some(hint) = hint {
            d = d.with_hint(hint);
        }
        self.push(place.put(d));
    }

    /// Sorts by file (in reading order), line and column.
    fn sort(&self, diagnostics: &mut [Diagnostic]) {
        let rank = |d: &Diagnostic| {
            let file = d.file().and_then(|f| self.files.iter().position(|name| name == f));
            (file, d.line(), d.column())
        };
        diagnostics.sort_by_key(rank);
    }
}

/// A hint naming the closest of `names` to `name`, if one is close.
fn suggestion<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> Option<String> {
    let names: Vec<&str> = names.collect();
    did_you_mean(name, &names).map(|close| format!("did you mean {}?", Quoted(close)))
}

/// Links the resources `walked` from `files` (in order); `errors` and `warnings` hold what came
/// before (reading, parsing).
pub(super) fn resolve(
    files: Vec<String>,
    walked: Vec<Walked>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
) -> Result<LocalConfig, LoadError> {
    let mut report = Report { files, errors, warnings };
    let mut instances = Vec::new();
    let mut services = HashMap::new();
    let mut bindings = Vec::new();
    for file in walked {
        report.errors.extend(file.errors);
        report.warnings.extend(file.warnings);
        instances.extend(file.instances);
        bindings.extend(file.bindings);
        for service in file.services {
            let key = (service.meta.namespace.clone(), service.meta.name.clone());
            if let Some(first) = services.get(&key) {
                duplicate(&mut report, "Service", &service.meta, first_place(first));
            } else {
                services.insert(key, service);
            }
        }
    }
    let mut index = HashMap::new();
    for (i, instance) in instances.iter().enumerate() {
        let key = (instance.meta.namespace.clone(), instance.meta.name.clone());
        if let Some(&first) = index.get(&key) {
            let first: &InstanceDoc = &instances[first];
            duplicate(&mut report, "ApiInstance", &instance.meta, &first.meta.at);
        } else {
            index.insert(key, i);
        }
    }
    check_binding_names(&mut report, &bindings);

    let mut linked: Vec<Linked> = instances.into_iter().map(Linked::new).collect();
    for binding in bindings {
        bind(&mut report, binding, &index, &mut linked);
    }
    let mut listeners: Vec<Listener> = Vec::new();
    let mut owners: Vec<Vec<Place>> = Vec::new();
    for instance in linked {
        if let Some((instance, address_at)) = instance.finish(&mut report, &services) {
            listen(&mut report, instance, address_at, &mut listeners, &mut owners);
        }
    }
    if listeners.is_empty() && report.errors.is_empty() {
        let file = report.files.first().cloned().unwrap_or_default();
        let mut d = Diagnostic::new(Code::NoRoute, "", "the configuration defines no ApiInstance")
            .with_hint("a Local Mode folder needs an ApiInstance with spec.address");
        d.set_file(&file);
        report.errors.push(d);
    }
    if !report.errors.is_empty() {
        let mut errors = std::mem::take(&mut report.errors);
        report.sort(&mut errors);
        return Err(LoadError::new(errors));
    }
    let mut warnings = std::mem::take(&mut report.warnings);
    report.sort(&mut warnings);
    Ok(LocalConfig { listeners, warnings, files: Vec::new() })
}

fn first_place(service: &super::resource::ServiceDoc) -> &Place {
    &service.meta.at
}

fn duplicate(report: &mut Report, kind: &str, meta: &super::resource::Meta, first: &Place) {
    report.at(
        &meta.at,
        Code::DuplicateResource,
        "metadata.name",
        format!("{kind} {} is defined twice", named(&meta.name, &meta.namespace)),
        Some(format!("the first definition is at {first}")),
    );
}

fn check_binding_names(report: &mut Report, bindings: &[BindingDoc]) {
    let mut seen: HashMap<(&str, &str), &Place> = HashMap::new();
    for meta in bindings.iter().filter_map(|b| b.meta.as_ref()) {
        let key = (meta.namespace.as_str(), meta.name.as_str());
        if let Some(first) = seen.get(&key) {
            let first = (*first).clone();
            duplicate(report, "PolicyBinding", meta, &first);
        } else {
            seen.insert(key, &meta.at);
        }
    }
}

/// An instance while bindings are attached to it.
struct Linked {
    doc: InstanceDoc,
    /// Routes of `route` bindings, in folder order.
    bound_routes: Vec<RouteDoc>,
    /// Whether a binding targeting it could not be read (so a missing route is no news).
    broken_binding: bool,
}

impl Linked {
    fn new(doc: InstanceDoc) -> Self {
        Linked { doc, bound_routes: Vec::new(), broken_binding: false }
    }

    /// The instance, checked, with where its address is written; `None` if it cannot be built
    /// (its problems are reported).
    fn finish(
        self,
        report: &mut Report,
        services: &HashMap<(String, String), super::resource::ServiceDoc>,
    ) -> Option<(ApiInstance, Place)> {
        let Linked { doc, bound_routes, broken_binding } = self;
        let name = named(&doc.meta.name, &doc.meta.namespace);
        let mut routes = Vec::new();
        let mut complete = true;
        for route in doc.routes.into_iter().chain(bound_routes) {
            match resolve_route(report, route, services) {
                Some(route) => routes.push(route),
                None => complete = false,
            }
        }
        if routes.is_empty() && complete && doc.clean && !broken_binding {
            report.at(
                &doc.meta.at,
                Code::NoRoute,
                "",
                format!("ApiInstance {name} has no route to an upstream"),
                Some(
                    "add spec.services, or a PolicyBinding of the route policy with a Service"
                        .to_owned(),
                ),
            );
        }
        warn_unreachable(report, &routes);
        let mut cors = doc.cors.into_iter();
        let first = cors.next();
        for (_, place) in cors {
            let first_at = first.as_ref().map(|(_, p)| p.to_string()).unwrap_or_default();
            report.at(
                &place,
                Code::SeveralCorsPolicies,
                "",
                format!("a second cors-flex policy for ApiInstance {name}"),
                Some(format!("keep one: the first is at {first_at}")),
            );
        }
        let policy = match first {
            None => {
                report.at(
                    &doc.meta.at,
                    Code::InstanceWithoutCors,
                    "",
                    format!(
                        "ApiInstance {name} has no cors-flex policy: its requests are forwarded \
                         without CORS handling"
                    ),
                    Some(
                        "add one under spec.policies, or in a PolicyBinding that targets it"
                            .to_owned(),
                    ),
                );
                None
            }
            Some((policy, _)) => Some(policy?),
        };
        let (address, base_path) = doc.address?;
        let instance = ApiInstance {
            name: doc.meta.name,
            namespace: doc.meta.namespace,
            address,
            base_path,
            policy,
            routes: routes.into_iter().map(|(route, _)| route).collect(),
            ignored_policies: doc.ignored,
        };
        Some((instance, doc.address_at))
    }
}

/// Attaches a binding to the instance it targets.
fn bind(
    report: &mut Report,
    binding: BindingDoc,
    index: &HashMap<(String, String), usize>,
    linked: &mut [Linked],
) {
    let Some((target, namespace, at)) = binding.target else { return };
    let found = index.get(&(namespace.clone(), target.clone())).map(|&i| &mut linked[i]);
    let Some(instance) = found else {
        let code = match binding.policy {
            BoundPolicy::Broken => return,
            BoundPolicy::Ignored(_) => Code::UnmatchedTarget,
            BoundPolicy::Cors(_) | BoundPolicy::Route(_) => Code::UnknownReference,
        };
        let names = index.keys().filter(|(ns, _)| *ns == namespace).map(|(_, name)| name.as_str());
        report.at(
            &at,
            code,
            "spec.targetRef",
            format!(
                "PolicyBinding targets the ApiInstance {}, which is not defined",
                named(&target, &namespace)
            ),
            suggestion(&target, names),
        );
        return;
    };
    match binding.policy {
        BoundPolicy::Cors(policy) => instance.doc.cors.push((policy, binding.at)),
        BoundPolicy::Route(route) => instance.bound_routes.push(route),
        BoundPolicy::Ignored(name) => instance.doc.ignored.push(name),
        BoundPolicy::Broken => instance.broken_binding = true,
    }
}

/// A route with its service looked up, and where it is written.
fn resolve_route(
    report: &mut Report,
    route: RouteDoc,
    services: &HashMap<(String, String), super::resource::ServiceDoc>,
) -> Option<(Route, Place)> {
    let upstream = match route.destination {
        Destination::Inline(upstream) => upstream,
        Destination::Service { name, namespace, at } => {
            let Some(service) = services.get(&(namespace.clone(), name.clone())) else {
                let names =
                    services.keys().filter(|(ns, _)| *ns == namespace).map(|(_, n)| n.as_str());
                report.at(
                    &at,
                    Code::UnknownReference,
                    "config.destinationRef",
                    format!(
                        "the route names the Service {}, which is not defined",
                        named(&name, &namespace)
                    ),
                    suggestion(&name, names),
                );
                return None;
            };
            // A Service without a usable address was reported where it is written.
            service.upstream.clone()?
        }
    };
    let compiled = Route { upstream, destination_path: route.destination_path, rules: route.rules };
    Some((compiled, route.at))
}

/// Warns about routes after one that takes every request.
fn warn_unreachable(report: &mut Report, routes: &[(Route, Place)]) {
    let Some(first) = routes.iter().position(|(route, _)| route.is_catch_all()) else { return };
    let (catch_all, catch_all_at) = &routes[first];
    for (route, place) in &routes[first + 1..] {
        report.at(
            place,
            Code::UnreachableRoute,
            "",
            format!(
                "this route to {} is never taken: the route to {} at {catch_all_at} takes every \
                 request",
                Quoted(route.upstream.name()),
                Quoted(catch_all.upstream.name())
            ),
            Some("give the earlier route rules, or move this one before it".to_owned()),
        );
    }
}

/// Puts the instance on its listener, or reports why it cannot share it.
fn listen(
    report: &mut Report,
    instance: ApiInstance,
    at: Place,
    listeners: &mut Vec<Listener>,
    owners: &mut Vec<Vec<Place>>,
) {
    let address = &instance.address;
    for (listener, places) in listeners.iter_mut().zip(owners.iter_mut()) {
        let other = &listener.address;
        if other.port() != address.port() {
            continue;
        }
        let (first, first_at) = (&listener.instances[0], &places[0]);
        if other.host() == address.host() {
            if other.scheme() != address.scheme() {
                let message = format!(
                    "{} and {} (ApiInstance {} at {first_at}) use one host and port with two \
                     schemes",
                    Quoted(&address.to_string()),
                    Quoted(&other.to_string()),
                    Quoted(&first.name)
                );
                report.at(&at, Code::ListenerConflict, "spec.address", message, None);
                return;
            }
            if let Some(i) =
                listener.instances.iter().position(|i| i.base_path == instance.base_path)
            {
                let message = format!(
                    "ApiInstance {} has the same listener and base path as {} at {}",
                    Quoted(&instance.name),
                    Quoted(&listener.instances[i].name),
                    places[i]
                );
                let example = format!("{address}/{}", instance.name);
                let hint = format!("give one a base path, e.g. {}", Quoted(&example));
                report.at(&at, Code::ListenerConflict, "spec.address", message, Some(hint));
                return;
            }
            let position = listener
                .instances
                .iter()
                .position(|i| i.base_path.len() < instance.base_path.len())
                .unwrap_or(listener.instances.len());
            listener.instances.insert(position, instance);
            places.insert(position, at);
            return;
        }
        if other.is_unspecified() || address.is_unspecified() {
            let message = format!(
                "{} overlaps {} (ApiInstance {} at {first_at}): an all-interfaces host takes the \
                 port on every address",
                Quoted(&address.to_string()),
                Quoted(&other.to_string()),
                Quoted(&first.name)
            );
            let hint = "use the same host for both, or different ports".to_owned();
            report.at(&at, Code::ListenerConflict, "spec.address", message, Some(hint));
            return;
        }
    }
    listeners.push(Listener { address: instance.address.clone(), instances: vec![instance] });
    owners.push(vec![at]);
}
