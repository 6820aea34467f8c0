//! Flex Gateway Local Mode folders: every resource of every YAML file, linked into listeners,
//! API instances with their `cors-flex` policy, and routes to upstream services.
//!
//! Follows the Declarative Configuration Reference Guide
//! (<https://docs.mulesoft.com/gateway/latest/flex-local-configuration-reference-guide>) and
//! the route policy page, "Traffic Management for Multiple Upstream Services"
//! (<https://docs.mulesoft.com/gateway/latest/policies-included-traffic-management-route>).
//!
//! - [`address`]: listener and service URLs;
//! - [`route`]: route rules, matching and the upstream path;
//! - [`resource`]: one file's documents, walked into resources with their diagnostics;
//! - [`resolve`]: the resources of all files linked, checked and grouped into listeners.

mod address;
mod resolve;
mod resource;
mod route;

use std::path::{Path, PathBuf};

use crate::diagnostic::{Code, Diagnostic, LoadError};
use crate::load::{documents, file_error, read_file, text};
use crate::policy::Policy;

pub use address::{HttpAddress, Scheme, Upstream};
pub use route::{
    MAX_PATTERN_LEN, MAX_PATTERNS, Route, RouteHeaders, RouteMatch, RouteRequest, RouteRule,
};

/// The most YAML files a folder (or a list of paths) may hold.
pub const MAX_FILES: usize = 256;

/// The most bytes all the files of a folder may hold together (16 MiB).
pub const MAX_FOLDER_SIZE: usize = 16 << 20;

/// A Flex Gateway Local Mode configuration: the listeners its `ApiInstance`s ask for.
///
/// Built by [`LocalConfig::from_dir`], [`LocalConfig::from_paths`] or
/// [`LocalConfig::from_sources`], which report every problem of every file at once, each as
/// `FILE:LINE:COLUMN`. Once built it is valid: every listener address is `http` or `https`,
/// every route reaches a service with a URL, every rule's expressions compile, and every
/// `cors-flex` policy is compiled.
///
/// ```
/// # fn main() -> Result<(), cors_policy::LoadError> {
/// use cors_policy::{LocalConfig, RouteRequest};
///
/// // Two files of a folder, as `LocalConfig::from_dir` would read them.
/// let instance = "
/// apiVersion: gateway.mulesoft.com/v1alpha1
/// kind: ApiInstance
/// metadata: {name: shop-api}
/// spec: {address: http://127.0.0.1:8081/shop}
/// ";
/// let bindings = "
/// apiVersion: gateway.mulesoft.com/v1alpha1
/// kind: PolicyBinding
/// metadata: {name: shop-cors}
/// spec:
///   targetRef: {name: shop-api}
///   policyRef: {name: cors-flex}
///   config:
///     publicResource: false
///     supportCredentials: true
///     originGroups: [{origins: [https://shop.example.com]}]
/// ---
/// apiVersion: gateway.mulesoft.com/v1alpha1
/// kind: PolicyBinding
/// metadata: {name: shop-orders-route}
/// spec:
///   targetRef: {name: shop-api}
///   policyRef: {name: route}
///   config: {destinationRef: {name: orders}, destinationPath: /api/v1}
///   rules: [{path: /orders(/.*)}]
/// ---
/// apiVersion: gateway.mulesoft.com/v1alpha1
/// kind: Service
/// metadata: {name: orders}
/// spec: {address: http://127.0.0.1:9001}
/// ";
/// let config = LocalConfig::from_sources([("instance.yaml", instance), ("bindings.yaml", bindings)])?;
/// let listener = &config.listeners()[0];
/// assert_eq!(listener.address().to_string(), "http://127.0.0.1:8081");
///
/// let instance = listener.instance_for("/shop/orders/42").expect("under /shop");
/// assert!(instance.policy().is_some_and(|p| p.supports_credentials()));
/// let headers: &[(&str, &str)] = &[];
/// let request =
///     RouteRequest { method: "GET", path: "/shop/orders/42", host: None, headers };
/// let chosen = instance.route(&request).expect("a route takes it");
/// assert_eq!(chosen.upstream().name(), "orders");
/// assert_eq!(chosen.upstream_path(), "/api/v1/42");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct LocalConfig {
    listeners: Vec<Listener>,
    warnings: Vec<Diagnostic>,
    files: Vec<PathBuf>,
}

/// One address the gateway listens on, and the API instances served there, by base path.
#[derive(Clone, Debug)]
pub struct Listener {
    address: HttpAddress,
    /// Longest base path first.
    instances: Vec<ApiInstance>,
}

/// An `ApiInstance`: its listener and base path, its `cors-flex` policy and its routes.
#[derive(Clone, Debug)]
pub struct ApiInstance {
    name: String,
    namespace: String,
    address: HttpAddress,
    base_path: String,
    policy: Option<Policy>,
    routes: Vec<Route>,
    ignored_policies: Vec<String>,
}

impl LocalConfig {
    /// Whether [`LocalConfig::from_dir`] reads a file of this name in the folder: a name that
    /// does not start with `.` and ends in `.yaml` or `.yml` (in any case). A watcher can stamp
    /// only these, so that other files changing beside them (a log, an editor's swap file)
    /// reload nothing.
    ///
    /// ```
    /// use cors_policy::LocalConfig;
    ///
    /// assert!(LocalConfig::reads_file_name("cors.YML".as_ref()));
    /// assert!(!LocalConfig::reads_file_name(".cors.yaml.swp".as_ref()));
    /// assert!(!LocalConfig::reads_file_name("access.log".as_ref()));
    /// ```
    #[must_use]
    pub fn reads_file_name(name: &std::ffi::OsStr) -> bool {
        let extension = Path::new(name).extension();
        !name.as_encoded_bytes().starts_with(b".")
            && extension
                .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
    }

    /// Reads every `.yaml` and `.yml` file of `dir`, in byte order of their names, as Flex
    /// reads its configuration folder.
    ///
    /// Subfolders are not read (a warning names them); names starting with `.` are skipped
    /// without a word, as are other files. Symbolic links are followed, so a Kubernetes
    /// `ConfigMap` mounted as a folder reads as its files.
    ///
    /// # Errors
    ///
    /// Every problem of every file at once, each as `FILE:LINE:COLUMN` (a YAML file that is
    /// not a regular file, such as a fifo, is one, found without opening it); or a single error
    /// if `dir` is not a folder or cannot be listed, holds no YAML file, or holds more than
    /// [`MAX_FILES`].
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<LocalConfig, LoadError> {
        let dir = dir.as_ref();
        // Checked here: `from_paths` reads a file given in a folder's place (one that replaced
        // the folder, say) as the configuration, and reports a missing folder as a file.
        if let Err(error) = std::fs::read_dir(dir) {
            return Err(folder_error(dir, &error));
        }
        LocalConfig::from_paths(&[dir])
    }

    /// Reads the given files, and the YAML files of the given folders, in the order given.
    ///
    /// # Errors
    ///
    /// As [`LocalConfig::from_dir`].
    pub fn from_paths<P: AsRef<Path>>(paths: &[P]) -> Result<LocalConfig, LoadError> {
        let mut warnings = Vec::new();
        let mut files = Vec::new();
        for path in paths {
            let path = path.as_ref();
            if path.is_dir() {
                list_dir(path, &mut files, &mut warnings)?;
            } else {
                files.push(path.to_path_buf());
            }
            if files.len() > MAX_FILES {
                let shown = path.display().to_string();
                let message = format!("more than {MAX_FILES} YAML files");
                return Err(file_error(Code::TooLarge, &shown, message));
            }
        }
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        let mut total = 0usize;
        let mut contents = Vec::with_capacity(files.len());
        let mut errors = Vec::new();
        for (path, name) in files.iter().zip(&names) {
            match read_file(path, name) {
                Ok(bytes) => {
                    total = total.saturating_add(bytes.len());
                    if total > MAX_FOLDER_SIZE {
                        let message = format!(
                            "the files hold more than the {MAX_FOLDER_SIZE}-byte limit together"
                        );
                        return Err(file_error(Code::TooLarge, name, message));
                    }
                    contents.push(Some(bytes));
                }
                Err(error) => {
                    errors.extend(error.into_diagnostics());
                    contents.push(None);
                }
            }
        }
        let sources =
            names.iter().zip(&contents).map(|(name, bytes)| (name.as_str(), bytes.as_deref()));
        let mut config = build(sources, errors, warnings)?;
        config.files = files;
        Ok(config)
    }

    /// Reads files already in memory: `(name, text)` pairs, in order. The names appear in
    /// diagnostics.
    ///
    /// # Errors
    ///
    /// Every problem of every text at once.
    pub fn from_sources<'s>(
        sources: impl IntoIterator<Item = (&'s str, &'s str)>,
    ) -> Result<LocalConfig, LoadError> {
        let sources = sources.into_iter().map(|(name, text)| (name, Some(text.as_bytes())));
        build(sources, Vec::new(), Vec::new())
    }

    /// The listeners, in the order their first `ApiInstance` appears.
    #[must_use]
    pub fn listeners(&self) -> &[Listener] {
        &self.listeners
    }

    /// Every API instance, listener by listener.
    pub fn instances(&self) -> impl Iterator<Item = &ApiInstance> {
        self.listeners.iter().flat_map(|listener| listener.instances.iter())
    }

    /// Warnings: lints of the `cors-flex` policies and parts of the folder that are not
    /// applied, each with its place, in folder order.
    #[must_use]
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The files read, in order (empty for [`LocalConfig::from_sources`]): what to watch for a
    /// reload.
    #[must_use]
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

/// The `.yaml` and `.yml` files of `dir`, sorted by name.
fn list_dir(
    dir: &Path,
    files: &mut Vec<PathBuf>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), LoadError> {
    let io = |e: std::io::Error| folder_error(dir, &e);
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        // A name need not be UTF-8 to be read: diagnostics show it with U+FFFD in place of
        // what is not, rather than the file going unread without a word.
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            let mut d = Diagnostic::new(Code::IgnoredResource, "", "subfolder is not read")
                .with_hint("Flex reads the files of the configuration folder itself");
            d.set_file(&path.display().to_string());
            warnings.push(d);
        } else if LocalConfig::reads_file_name(&entry.file_name()) {
            found.push(path);
        }
    }
    if found.is_empty() {
        return Err(file_error(
            Code::Documents,
            &dir.display().to_string(),
            "the folder holds no .yaml or .yml file".to_owned(),
        ));
    }
    found.sort();
    files.extend(found);
    Ok(())
}

/// `dir` cannot be listed: a missing folder, a file in its place, no permission.
fn folder_error(dir: &Path, error: &std::io::Error) -> LoadError {
    let message = format!("cannot read the folder: {error}");
    file_error(Code::Io, &dir.display().to_string(), message)
}

/// Parses, walks and links the files (`None`: a file that could not be read, already in
/// `errors`); `errors` and `warnings` hold what reading found.
fn build<'s>(
    sources: impl Iterator<Item = (&'s str, Option<&'s [u8]>)>,
    mut errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
) -> Result<LocalConfig, LoadError> {
    let mut names = Vec::new();
    let mut walked = Vec::new();
    let mut patterns = 0;
    for (name, bytes) in sources {
        names.push(name.to_owned());
        let Some(bytes) = bytes else { continue };
        match text(bytes, name).and_then(|text| documents(text, name)) {
            Ok(documents) => {
                errors.extend(documents.errors);
                walked.push(resource::walk(name, &documents.nodes, &mut patterns));
            }
            Err(error) => errors.extend(error.into_diagnostics()),
        }
    }
    resolve::resolve(names, walked, errors, warnings)
}

impl Listener {
    /// Where it listens.
    #[must_use]
    pub fn address(&self) -> &HttpAddress {
        &self.address
    }

    /// The API instances on this address, longest base path first.
    #[must_use]
    pub fn instances(&self) -> &[ApiInstance] {
        &self.instances
    }

    /// The instance whose base path `path` (the request path, without the query) falls under:
    /// the longest base path that is `path` itself or a prefix of it ending at a `/`.
    #[must_use]
    pub fn instance_for(&self, path: &str) -> Option<&ApiInstance> {
        self.instances.iter().find(|instance| below_base(&instance.base_path, path).is_some())
    }
}

/// The path below `base`, `/` for the base itself; `None` if `path` is not under `base`.
fn below_base<'p>(base: &str, path: &'p str) -> Option<&'p str> {
    let rest = path.strip_prefix(base)?;
    match rest {
        "" => Some("/"),
        _ if rest.starts_with('/') => Some(rest),
        _ => None,
    }
}

impl ApiInstance {
    /// `metadata.name`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `metadata.namespace` (`default` when absent).
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The listener of `spec.address`.
    #[must_use]
    pub fn address(&self) -> &HttpAddress {
        &self.address
    }

    /// The base path of `spec.address`, without a trailing `/`; empty when it has none.
    #[must_use]
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// The `cors-flex` policy, inline or bound; `None` if the instance has none (its requests
    /// are forwarded without CORS handling, and a warning said so).
    #[must_use]
    pub fn policy(&self) -> Option<&Policy> {
        self.policy.as_ref()
    }

    /// The routes, in the order they are tried: the inline services' routes (services in file
    /// order), then the `route` policies, inline then bound, in folder order.
    #[must_use]
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The other policies of the instance, which are not applied.
    #[must_use]
    pub fn ignored_policies(&self) -> &[String] {
        &self.ignored_policies
    }

    /// The route a request takes: the first whose rules hold, with the path to send upstream.
    /// `None` if the request is not under the base path or no route takes it.
    #[must_use]
    pub fn route<H: RouteHeaders + ?Sized>(
        &self,
        request: &RouteRequest<'_, H>,
    ) -> Option<RouteMatch<'_>> {
        let path = below_base(&self.base_path, request.path)?;
        self.routes.iter().find_map(|route| {
            route.forward(request, path).map(|upstream_path| RouteMatch::new(route, upstream_path))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::below_base;
    use rstest::rstest;

    #[rstest]
    #[case::no_base("", "/a", Some("/a"))]
    #[case::the_base_itself("/api", "/api", Some("/"))]
    #[case::below("/api", "/api/x", Some("/x"))]
    #[case::not_a_segment("/api", "/apix", None)]
    #[case::elsewhere("/api", "/other", None)]
    fn base_paths(#[case] base: &str, #[case] path: &str, #[case] expected: Option<&str>) {
        assert_eq!(below_base(base, path), expected);
    }
}
