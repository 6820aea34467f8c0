//! `serve --config-dir`: a whole Flex Local Mode folder, read by cors-policy's `LocalConfig`.
//!
//! Each listener of the folder is one endpoint. A request is served in three steps:
//! 1. its path chooses the API instance (the longest base path it falls under, escaped
//!    unreserved characters decoded first; a path whose escaped slashes would fall under
//!    another instance gives `400`); no instance gives `404`, before any CORS decision, since no
//!    policy applies there;
//! 2. the instance's `cors-flex` policy decides, as the layer decides for `serve --config`
//!    (an instance without one is served without CORS handling, as the loader warns);
//! 3. a request the policy lets through is routed: the first route whose rules hold sends it
//!    to its service with the route's upstream path (`destinationPath`, path rewriting); no
//!    route gives `404`, after the CORS decision, so that an allowed origin can read it and a
//!    refused one learns nothing about the routes.
//!
//! A change anywhere in the folder reloads it whole: the new policies and routes replace the
//! old ones at once, for every listener, and a request is served entirely by one version. A
//! folder with errors keeps the previous configuration (every error is logged as
//! `FILE:LINE:COLUMN`), and so does one whose listeners differ from those the gateway is
//! listening on: adding or removing a listener needs a restart, which the log says.

use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};

use cors_engine::Engine;
use cors_hyper::{CorsBody, CorsLayer, ListenerScheme};
use cors_policy::{ApiInstance, HttpAddress, LocalConfig, RouteHeaders, RouteRequest};
use http::header::{self, HeaderMap};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use tower_layer::Layer as _;
use tower_service::Service;

use crate::metrics::InForce;
use crate::proxy::{self, Proxy, ProxyBody};
use crate::readings::{self, Reading};
use crate::reload::Reload;
use crate::telemetry::Telemetry;

/// One version of the folder: its configuration and each API instance's compiled policy.
#[derive(Debug)]
struct Loaded {
    config: LocalConfig,
    /// For each endpoint (in the order the gateway bound them), its listener in `config`.
    listeners: Vec<usize>,
    /// For each listener of `config`, for each of its instances (in their order), the engine.
    engines: Vec<Vec<Option<Arc<Engine>>>>,
    /// For each listener of `config`, for each of [`Reading::ALL`], its instances' base paths as
    /// that reading reads them (in the instances' order).
    read_bases: Vec<Vec<Vec<Vec<u8>>>>,
    /// For each listener of `config`, whether a base path of its instances has an escape of a
    /// byte that ends a request target (`%3F`, `%23`, `%20`, ...: [`readings::may_end_early`]),
    /// which the readings that end a path there read otherwise.
    bases_end_early: Vec<bool>,
}

impl Loaded {
    /// Compiles `config`'s policies; `addresses` are the endpoints' listeners, in order.
    ///
    /// # Errors
    ///
    /// The folder's listeners are not exactly `addresses`: what was added and removed.
    fn new(config: LocalConfig, addresses: &[HttpAddress]) -> Result<Self, String> {
        let found: Vec<&HttpAddress> =
            config.listeners().iter().map(cors_policy::Listener::address).collect();
        let added: Vec<String> =
            found.iter().filter(|a| !addresses.contains(a)).map(ToString::to_string).collect();
        let removed: Vec<String> =
            addresses.iter().filter(|a| !found.contains(a)).map(ToString::to_string).collect();
        if !added.is_empty() || !removed.is_empty() {
            let list = |l: &[String]| if l.is_empty() { "none".to_owned() } else { l.join(", ") };
            return Err(format!(
                "the folder's listeners changed (added: {}; removed: {}); restart cors-gateway \
                 to listen on the new set",
                list(&added),
                list(&removed)
            ));
        }
        let listeners =
            addresses.iter().filter_map(|a| found.iter().position(|f| *f == a)).collect();
        let engines = config
            .listeners()
            .iter()
            .map(|listener| {
                let instances = listener.instances().iter();
                instances.map(|i| i.policy().map(|p| Arc::new(Engine::new(p.clone())))).collect()
            })
            .collect();
        let read_bases = config
            .listeners()
            .iter()
            .map(|listener| {
                let bases = || listener.instances().iter().map(|i| i.base_path().as_bytes());
                Reading::ALL.iter().map(|r| bases().map(|base| r.read(base)).collect()).collect()
            })
            .collect();
        let bases_end_early = config
            .listeners()
            .iter()
            .map(|l| {
                l.instances().iter().any(|i| readings::may_end_early(i.base_path().as_bytes()))
            })
            .collect();
        Ok(Self { config, listeners, engines, read_bases, bases_end_early })
    }

    /// The instance serving `path` on endpoint `endpoint`, with its engine.
    fn instance(&self, endpoint: usize, path: &str) -> Option<(usize, Option<Arc<Engine>>)> {
        let listener = *self.listeners.get(endpoint)?;
        let listener_config = self.config.listeners().get(listener)?;
        let instance = listener_config.instance_for(path)?;
        // `instance_for` borrows from the same list: its position is the index of its engine.
        let index = listener_config.instances().iter().position(|i| std::ptr::eq(i, instance))?;
        Some((index, self.engines[listener][index].clone()))
    }

    /// Where `path` (decoded by [`decode_unreserved`]) goes on endpoint `endpoint`: the instance
    /// that serves it, unless some upstreams would read it under another one.
    fn place(&self, endpoint: usize, path: &str) -> Placed {
        match self.instance(endpoint, path) {
            None => Placed::Nowhere,
            Some((instance, _)) if self.separators_disagree(endpoint, path, instance) => {
                Placed::Ambiguous
            }
            Some((instance, engine)) => Placed::Instance(instance, engine),
        }
    }

    /// Whether `path`, served by `instance` on `endpoint`, would fall under another instance (or
    /// none) were it read as some upstream reads it, by any of [`Reading::ALL`]: escapes decoded,
    /// `\` as `/`, a run of separators as one, each segment without its path parameters.
    /// Each reading puts the path under the longest base path, read the same way, that is the
    /// path or a prefix of it ending at a `/`.
    /// `/api/admin%2Fusers`, `/api//admin/users` and `/api/admin;x/users` are under the `/api`
    /// instance here, and `/api/admin/users` to such an upstream (findings F-L, F-T and F-V);
    /// `/v1%3Abeta/x` is under the root instance here, and under `/v1:beta` to an upstream that
    /// decodes every escape before it routes, as nginx does (finding F-W); `/admin%3F/x` under
    /// `/admin` to a server behind a proxy that decoded it and sent it on as it read it (F-BF),
    /// and `/admin%20HTTP/1.1%0D%0AX:/x` too (F-BN).
    /// Reading every request so instead would break the APIs that carry `%2F` inside a segment
    /// (GitLab's project paths, for one) or use path parameters; refusing only a path whose
    /// readings disagree keeps those working.
    fn separators_disagree(&self, endpoint: usize, path: &str, instance: usize) -> bool {
        let bytes = path.as_bytes();
        let unusual = bytes.iter().any(|&b| matches!(b, b'%' | b'\\' | b';') || !b.is_ascii());
        if !unusual && !bytes.windows(2).any(|pair| pair == b"//") {
            return false;
        }
        let Some((bases, bases_end_early)) = self
            .listeners
            .get(endpoint)
            .and_then(|l| Some((self.read_bases.get(*l)?, *self.bases_end_early.get(*l)?)))
        else {
            return true;
        };
        // A reading that ends the path at a decoded `?`, `#`, whitespace or line break reads it,
        // and the base paths, as the same reading without that step unless one of them has
        // such an escape.
        let ends_early = bases_end_early || readings::may_end_early(bytes);
        let readings = Reading::ALL.iter().zip(bases);
        let mut readings = readings.filter(|(r, _)| ends_early || !r.ends_at_a_decoded_query());
        readings.any(|(reading, bases)| {
            let read = reading.read(bytes);
            let under = |base: &&Vec<u8>| {
                read.strip_prefix(base.as_slice())
                    .is_some_and(|rest| rest.is_empty() || rest[0] == b'/')
            };
            let found = bases.iter().enumerate().filter(|(_, base)| under(base));
            found.max_by_key(|(_, base)| base.len()).map(|(index, _)| index) != Some(instance)
        })
    }

    fn api_instance(&self, endpoint: usize, index: usize) -> Option<&ApiInstance> {
        let listener = self.config.listeners().get(*self.listeners.get(endpoint)?)?;
        listener.instances().get(index)
    }
}

/// Where a request's path goes on one endpoint ([`Loaded::place`]).
enum Placed {
    /// To this instance (its index), with its engine when it has a CORS policy.
    Instance(usize, Option<Arc<Engine>>),
    /// To no instance.
    Nowhere,
    /// To one instance as the gateway reads it, and to another (or none) as some upstreams do.
    Ambiguous,
}

/// The folder as it is now, shared by every endpoint and swapped whole on reload.
#[derive(Clone, Debug)]
pub(crate) struct SharedFolder(Arc<RwLock<Arc<Loaded>>>);

impl SharedFolder {
    /// The version current now.
    fn load(&self) -> Arc<Loaded> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A folder's configuration, checked, and the listeners to bind for it.
#[derive(Debug)]
pub(crate) struct Folder {
    pub(crate) shared: SharedFolder,
    /// Every listener, in the configuration's order: the endpoints to bind.
    pub(crate) addresses: Vec<HttpAddress>,
}

impl Folder {
    /// Builds the shared state of `config`, listening on all its listeners.
    pub(crate) fn new(config: LocalConfig) -> Self {
        let addresses: Vec<HttpAddress> =
            config.listeners().iter().map(|l| l.address().clone()).collect();
        // INVARIANT: the listeners are the configuration's own, so they cannot differ.
        let loaded = Loaded::new(config, &addresses).expect("a folder matches its own listeners");
        Self { shared: SharedFolder(Arc::new(RwLock::new(Arc::new(loaded)))), addresses }
    }

    /// The routes of endpoint `endpoint` (an index into [`Folder::addresses`]).
    pub(crate) fn routes(&self, endpoint: usize) -> Routes {
        Routes { shared: self.shared.clone(), endpoint }
    }
}

/// What one endpoint of a folder serves.
#[derive(Clone, Debug)]
pub(crate) struct Routes {
    shared: SharedFolder,
    endpoint: usize,
}

impl Routes {
    /// The service of one client connection.
    pub(crate) fn service(&self, proxy: Proxy, scheme: ListenerScheme) -> Router {
        Router { routes: self.clone(), proxy, scheme }
    }
}

/// The service of one client connection to a folder's listener.
#[derive(Clone, Debug)]
pub(crate) struct Router {
    routes: Routes,
    proxy: Proxy,
    scheme: ListenerScheme,
}

type RouterFuture =
    Pin<Box<dyn Future<Output = Result<Response<CorsBody<ProxyBody>>, Infallible>> + Send>>;

impl Service<Request<Incoming>> for Router {
    type Response = Response<CorsBody<ProxyBody>>;
    type Error = Infallible;
    type Future = RouterFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Incoming>) -> RouterFuture {
        decode_unreserved(&mut request);
        let loaded = self.routes.shared.load();
        let endpoint = self.routes.endpoint;
        let (instance, engine) = match loaded.place(endpoint, request.uri().path()) {
            Placed::Instance(instance, engine) => (instance, engine),
            Placed::Nowhere => {
                let answer = not_found("not found: no API instance at this path\n");
                return Box::pin(std::future::ready(Ok(answer.map(CorsBody::new))));
            }
            Placed::Ambiguous => {
                let answer = proxy::short(
                    StatusCode::BAD_REQUEST,
                    "bad request: an escaped slash, a backslash, an empty segment or path \
                     parameters in the path put it under another API instance\n",
                );
                return Box::pin(std::future::ready(Ok(answer.map(CorsBody::new))));
            }
        };
        let route = RouteTo { loaded, endpoint, instance, proxy: self.proxy.clone() };
        match engine {
            Some(engine) => {
                let mut cors =
                    CorsLayer::from_engine(engine).listener_scheme(self.scheme).layer(route);
                Box::pin(async move {
                    std::future::poll_fn(|cx| cors.poll_ready(cx)).await?;
                    cors.call(request).await
                })
            }
            None => Box::pin(async move { Ok(route.forward(request).await.map(CorsBody::new)) }),
        }
    }
}

/// Routes a request of one API instance, of one version of the folder.
#[derive(Clone, Debug)]
struct RouteTo {
    loaded: Arc<Loaded>,
    endpoint: usize,
    instance: usize,
    proxy: Proxy,
}

impl Service<Request<Incoming>> for RouteTo {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.forward(request).await) })
    }
}

impl RouteTo {
    async fn forward(self, request: Request<Incoming>) -> Response<ProxyBody> {
        let Some(instance) = self.loaded.api_instance(self.endpoint, self.instance) else {
            return not_found("not found: no API instance at this path\n");
        };
        // The same authority the CORS layer decided R2 on, and the proxy forwards.
        let host = match request.uri().authority() {
            Some(authority) => Some(authority.as_str()),
            None => request.headers().get(header::HOST).and_then(|h| h.to_str().ok()),
        };
        let fields = Fields(request.headers());
        let route_request = RouteRequest {
            method: request.method().as_str(),
            path: request.uri().path(),
            host,
            headers: &fields,
        };
        let Some(chosen) = instance.route(&route_request) else {
            return not_found("not found: no route of the API instance takes this request\n");
        };
        // A path rule's capture groups may start or end inside a segment (`/v2(.*)` takes
        // `../x` from `/v2../x`) and so make a dot segment the request's path did not have
        // (finding F-BQ): the rewritten path gets the request's own check again.
        if crate::checks::has_dot_segment(chosen.upstream_path().as_bytes()) {
            return proxy::short(
                StatusCode::BAD_REQUEST,
                "bad request: the path, as its route rewrites it, has a dot segment (. or ..)\n",
            );
        }
        let upstream = chosen.upstream();
        let Some(uri) = upstream_uri(upstream.address(), chosen.upstream_path(), request.uri())
        else {
            return proxy::short(
                StatusCode::BAD_REQUEST,
                "bad request: the path cannot be forwarded\n",
            );
        };
        let name = Arc::from(upstream.name());
        self.proxy.forward(request, uri, name).await
    }
}

/// The URI of the upstream request: the service's address, the route's upstream path, and the
/// request's query.
fn upstream_uri(address: &HttpAddress, path: &str, original: &Uri) -> Option<Uri> {
    let scheme = match address.scheme() {
        cors_policy::Scheme::Https => Scheme::HTTPS,
        _ => Scheme::HTTP,
    };
    let authority = Authority::try_from(address.authority()).ok()?;
    let path_and_query = match original.query() {
        Some(query) => PathAndQuery::try_from(format!("{path}?{query}")).ok()?,
        None => PathAndQuery::try_from(path).ok()?,
    };
    Uri::builder().scheme(scheme).authority(authority).path_and_query(path_and_query).build().ok()
}

/// Decodes the percent-encoded unreserved characters of `request`'s path: letters, digits, `-`,
/// `.`, `_` and `~` (RFC 3986 section 2.3), which section 6.2.2.2 makes equivalent to their
/// escapes, so that every upstream reads `/api/%61dmin` as `/api/admin`. The router reads the
/// path after this: base paths and route rules choose by what the upstream will serve, not by a
/// spelling that matches none of them (finding F-L), and the request is forwarded decoded. Every
/// other escape (`%2F`, `%20`, `%3F`, ...) stays as it came: decoding it would change what the
/// path means. `serve --config` chooses nothing by path, so it forwards paths as they came.
///
/// Hand-written rather than with the `percent-encoding` crate, which decodes every escape.
/// Paths without `%` are left after one search for it.
fn decode_unreserved<B>(request: &mut Request<B>) {
    let uri = request.uri();
    let path = uri.path();
    if !path.as_bytes().contains(&b'%') {
        return;
    }
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    let decoded = readings::decoded(path.as_bytes(), unreserved);
    let Some(decoded) = decoded.and_then(|bytes| String::from_utf8(bytes).ok()) else { return };
    let path_and_query = match uri.query() {
        Some(query) => format!("{decoded}?{query}"),
        None => decoded,
    };
    let mut builder = Uri::builder();
    if let Some(scheme) = uri.scheme() {
        builder = builder.scheme(scheme.clone());
    }
    if let Some(authority) = uri.authority() {
        builder = builder.authority(authority.clone());
    }
    // Cannot fail: the path lost escapes for characters that are valid in a path as they are.
    if let Ok(decoded) = builder.path_and_query(path_and_query).build() {
        *request.uri_mut() = decoded;
    }
}

/// `404` with a short text.
fn not_found(text: &'static str) -> Response<ProxyBody> {
    proxy::short(StatusCode::NOT_FOUND, text)
}

/// A request's header map, as route rules read it.
struct Fields<'h>(&'h HeaderMap);

impl RouteHeaders for Fields<'_> {
    fn any_value(&self, name: &str, accept: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.0.get_all(name).iter().any(|value| accept(value.as_bytes()))
    }
}

/// The folder of `serve --config-dir`, reloaded whole.
pub(crate) struct FolderReload {
    pub(crate) dir: PathBuf,
    pub(crate) shared: SharedFolder,
    pub(crate) addresses: Vec<HttpAddress>,
    /// Counts the reloads in the metrics, and shows the new policies' hashes.
    pub(crate) telemetry: Telemetry,
}

impl Reload for FolderReload {
    fn watched(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }

    fn reload(&mut self, cause: &'static str) {
        let folder = self.dir.display();
        let config = match LocalConfig::from_dir(&self.dir) {
            Ok(config) => config,
            Err(error) => {
                self.telemetry.reload_failed();
                for diagnostic in error.diagnostics() {
                    tracing::error!("{diagnostic}");
                }
                tracing::error!(
                    %folder,
                    cause,
                    "reload failed; keeping the previous configuration"
                );
                return;
            }
        };
        let warnings = config.warnings().to_vec();
        let hashes = self.telemetry.metrics().map(|_| InForce::folder(&config));
        match Loaded::new(config, &self.addresses) {
            Ok(loaded) => {
                *self.shared.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded);
                if let Some(hashes) = hashes {
                    self.telemetry.reloaded(|| hashes);
                }
                for warning in &warnings {
                    tracing::warn!("{warning}");
                }
                tracing::info!(%folder, cause, "configuration reloaded");
            }
            Err(message) => {
                self.telemetry.reload_failed();
                tracing::error!(%folder, cause, "{message}; keeping the previous configuration");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::letter("/api/%61dmin/x", "/api/admin/x")]
    #[case::upper_case_hex("/api/%41DMIN", "/api/ADMIN")]
    #[case::every_unreserved_symbol("/%2D%2e%5F%7e%30", "/-._~0")]
    #[case::reserved_escapes_kept("/a%2Fb%3F%20%25%2541", "/a%2Fb%3F%20%25%2541")]
    #[case::mixed("/%7Euser/a%2fb/%78", "/~user/a%2fb/x")]
    #[case::query_kept("/%61?q=%61", "/a?q=%61")]
    #[case::absolute_form("http://a.test/%61", "http://a.test/a")]
    #[case::short_escapes("/a%6/%", "/a%6/%")]
    #[case::non_ascii_escape("/caf%c3%a9%61", "/caf%c3%a9a")]
    #[case::nothing_to_decode("/plain/path", "/plain/path")]
    fn unreserved_escapes_are_decoded(#[case] target: &str, #[case] expected: &str) {
        let mut request = Request::builder().uri(target).body(()).unwrap();
        decode_unreserved(&mut request);
        assert_eq!(request.uri().to_string(), expected);
    }

    /// A service is called with its own address's scheme (`https` over TLS), host and port, the
    /// route's upstream path and the request's query.
    #[rstest]
    #[case::https("https://backend.test:8443", "https://backend.test:8443/base/x?q=1")]
    #[case::http("http://backend.test:8080", "http://backend.test:8080/base/x?q=1")]
    fn an_upstream_is_called_at_its_services_address(#[case] service: &str, #[case] uri: &str) {
        let text = format!(
            "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nmetadata: {{name: a}}\n\
             spec:\n  address: http://127.0.0.1:8080/\n  services:\n    main:\n      \
             address: {service}/base\n"
        );
        let config = LocalConfig::from_sources([("apis.yaml", text.as_str())]).unwrap();
        let route = &config.listeners()[0].instances()[0].routes()[0];
        let original: Uri = "/x?q=1".parse().unwrap();
        let built = upstream_uri(route.upstream().address(), "/base/x", &original).unwrap();
        assert_eq!(built.to_string(), uri);
    }

    /// Whatever a client sends, a path the gateway forwards to an instance lands under that same
    /// instance as every upstream reads it (findings F-L, F-T, F-V, F-W, F-AL, F-BF, F-BN): an
    /// upstream that drops path parameters, decodes every escape once or twice (ending the path
    /// at a `?`, `#`, whitespace or line break the first decoding made), takes `\` for `/`,
    /// merges runs of `/`, or any mix of these,
    /// and then resolves dot segments. The gateway refuses (400) or finds no instance
    /// (404) for the rest.
    mod readings {
        use super::*;
        use proptest::prelude::*;

        /// Base paths that differ only in how a path can be spelled: nested, with a reserved
        /// character, with a non-ASCII letter (kept escaped in the configuration), and the root.
        const BASES: [&str; 5] = ["", "/api", "/api/admin", "/v1:beta", "/café"];

        /// What paths are built from: the bases' words and their escapes, separators and their
        /// escapes, path parameters, dots, and escapes of other characters.
        const PIECES: &[&str] = &[
            "api",
            "admin",
            "%61dmin",
            "v1:beta",
            "v1%3Abeta",
            "v1%3abeta",
            "v1",
            ":beta",
            "caf%C3%A9",
            "caf%c3%a9",
            "café",
            "users",
            "x",
            "/",
            "//",
            "\\",
            "%2F",
            "%2f",
            "%5C",
            "%5c",
            ";",
            ";x",
            "%3B",
            "%3b",
            ".",
            "..",
            "%2e",
            "%2E%2E",
            "%25",
            "%252F",
            "%255C",
            "%253B",
            "%252e",
            "%2561",
            "%%32%46",
            "%",
            "%20",
            "%FF",
            "~",
            "%7E",
            "%3F",
            "%3f",
            "%23",
            "%253F",
            "%20HTTP/1.1%0D%0AX:",
            "%0A",
            "%09",
            "%0b",
            "%2520",
        ];

        /// One instance per base, all on one listener; built once for every case.
        fn loaded() -> &'static Loaded {
            static LOADED: std::sync::OnceLock<Loaded> = std::sync::OnceLock::new();
            LOADED.get_or_init(build)
        }

        fn build() -> Loaded {
            let text: Vec<String> = BASES
                .iter()
                .enumerate()
                .map(|(n, base)| {
                    format!(
                        "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\n\
                         metadata: {{name: i{n}}}\nspec:\n  address: http://127.0.0.1:8080{base}\n  \
                         services:\n    main:\n      address: http://127.0.0.1:9000{base}\n"
                    )
                })
                .collect();
            let text = text.join("---\n");
            let config = LocalConfig::from_sources([("apis.yaml", text.as_str())]).unwrap();
            let addresses: Vec<HttpAddress> =
                config.listeners().iter().map(|l| l.address().clone()).collect();
            Loaded::new(config, &addresses).unwrap()
        }

        /// How one upstream reads a path; each step is one a common server takes.
        #[derive(Clone, Copy, Debug)]
        struct Reading {
            /// Drops each segment's path parameters, from `;`: first of all, on the raw path
            /// (Tomcat, Jetty), or last, on what the other steps left (Spring).
            parameters: Option<Order>,
            /// How many times it decodes every escape: none, once (nginx before it matches a
            /// location, most frameworks), or twice (an application decoding again a path its
            /// server decoded).
            decodes: u8,
            /// Ends the path at a `?`, `#`, whitespace or line break its first decoding made (a
            /// server behind a proxy that decoded the path and sent it on as it read it, as
            /// the request target of its request line).
            query: bool,
            /// Takes `\` for `/` (IIS, Tomcat with `ALLOW_BACKSLASH`, WHATWG URL parsers).
            backslash: bool,
            /// Reads a run of `/` as one (nginx's `merge_slashes`, Spring).
            merge: bool,
        }

        #[derive(Clone, Copy, Debug, PartialEq)]
        enum Order {
            First,
            Last,
        }

        impl Reading {
            fn all() -> impl Iterator<Item = Reading> {
                let parameters = [None, Some(Order::First), Some(Order::Last)];
                (0..24u8).flat_map(move |bits| {
                    parameters.map(|parameters| Reading {
                        parameters,
                        decodes: bits % 3,
                        backslash: bits / 3 % 2 != 0,
                        merge: bits / 6 % 2 != 0,
                        query: bits / 12 != 0,
                    })
                })
            }

            /// Each `/`-separated segment up to its first `;`.
            fn drop_parameters(bytes: &[u8]) -> Vec<u8> {
                let segments: Vec<&[u8]> = bytes
                    .split(|&b| b == b'/')
                    .map(|segment| segment.split(|&b| b == b';').next().unwrap_or_default())
                    .collect();
                segments.join(&b'/')
            }

            /// `path` as this upstream reads it, dot segments resolved last.
            fn read(self, path: &[u8]) -> Vec<u8> {
                let mut bytes = path.to_vec();
                if self.parameters == Some(Order::First) {
                    bytes = Self::drop_parameters(&bytes);
                }
                for round in 0..self.decodes {
                    bytes = percent_decoded(&bytes);
                    if round == 0 && self.query {
                        let end = bytes.iter().position(|b| b"?# \t\x0b\x0c\r\n".contains(b));
                        bytes.truncate(end.unwrap_or(bytes.len()));
                    }
                }
                if self.backslash {
                    bytes.iter_mut().filter(|b| **b == b'\\').for_each(|b| *b = b'/');
                }
                if self.parameters == Some(Order::Last) {
                    bytes = Self::drop_parameters(&bytes);
                }
                if self.merge {
                    bytes.dedup_by(|a, b| *a == b'/' && *b == b'/');
                }
                without_dot_segments(&bytes)
            }

            /// The base path, of [`BASES`], that this upstream puts `path` under: the longest
            /// that is `path` or a prefix of it ending at a `/`, each base read as the upstream
            /// reads its own routes (decoded when it decodes, once: routes are not encoded
            /// twice).
            fn base(self, path: &[u8]) -> Option<&'static str> {
                let read = self.read(path);
                BASES
                    .iter()
                    .filter(|base| {
                        let base = if self.decodes > 0 {
                            base.as_bytes().to_vec()
                        } else {
                            configured(base)
                        };
                        read.strip_prefix(base.as_slice())
                            .is_some_and(|rest| rest.is_empty() || rest[0] == b'/')
                    })
                    .max_by_key(|base| base.len())
                    .copied()
            }
        }

        /// A base path as the configuration holds it: non-ASCII escaped, as URL parsers write it.
        fn configured(base: &str) -> Vec<u8> {
            base.bytes()
                .flat_map(|b| if b.is_ascii() { vec![b] } else { format!("%{b:02X}").into_bytes() })
                .collect()
        }

        fn percent_decoded(bytes: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
                    (b'%', Some(byte)) => {
                        out.push(byte);
                        i += 3;
                    }
                    (byte, _) => {
                        out.push(byte);
                        i += 1;
                    }
                }
            }
            out
        }

        /// RFC 3986 section 5.2.4 on the segments of `path`.
        fn without_dot_segments(path: &[u8]) -> Vec<u8> {
            let mut out: Vec<&[u8]> = Vec::new();
            for segment in path.split(|&b| b == b'/').skip(1) {
                match segment {
                    b"." => {}
                    b".." => {
                        out.pop();
                    }
                    _ => out.push(segment),
                }
            }
            let mut joined = Vec::new();
            for segment in out {
                joined.push(b'/');
                joined.extend_from_slice(segment);
            }
            if path.ends_with(b"/.") || path.ends_with(b"/..") {
                joined.push(b'/');
            }
            joined
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(8192))]

            #[test]
            fn a_forwarded_path_is_under_its_instance_as_every_upstream_reads_it(
                pieces in prop::collection::vec(prop::sample::select(PIECES), 1..7)
            ) {
                let target = format!("/{}", pieces.concat());
                let Ok(mut request) = Request::builder()
                    .uri(target.as_str())
                    .header(header::HOST, "127.0.0.1:8080")
                    .body(())
                else {
                    // Not a request target hyper accepts either.
                    return Ok(());
                };
                if crate::checks::refusal(&request, 100).is_some() {
                    return Ok(());
                }
                decode_unreserved(&mut request);
                let loaded = loaded();
                let path = request.uri().path();
                let Placed::Instance(index, _) = loaded.place(0, path) else { return Ok(()) };
                let chosen = loaded.api_instance(0, index).unwrap().base_path();
                for reading in Reading::all() {
                    let base = reading.base(path.as_bytes()).map(configured);
                    prop_assert_eq!(
                        base.as_deref(),
                        Some(chosen.as_bytes()),
                        "{} forwarded as {} to {:?}, read by {:?}",
                        target,
                        path,
                        chosen,
                        reading
                    );
                }
            }
        }
    }
}
