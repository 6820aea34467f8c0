//! Issue 17, Flex Local Mode folders: the examples of each shape load into listeners, instances
//! and routes; every problem of every file is reported at once with `FILE:LINE:COLUMN`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use cors_policy::{
    ApiInstance, Code, Diagnostic, LoadError, LocalConfig, MAX_PATTERNS, RouteRequest, Scheme,
};
use rstest::rstest;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/local-mode").join(name)
}

fn load(files: &[(&str, &str)]) -> Result<LocalConfig, LoadError> {
    LocalConfig::from_sources(files.iter().copied())
}

fn loaded(files: &[(&str, &str)]) -> LocalConfig {
    load(files).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(files: &[(&str, &str)]) -> Vec<Diagnostic> {
    match load(files) {
        Ok(config) => panic!("loaded, expected errors: {config:#?}"),
        Err(error) => error.into_diagnostics(),
    }
}

/// `(method, path)` routed through `instance`: the service's name and the upstream path.
fn route(instance: &ApiInstance, method: &str, path: &str) -> Option<(String, String)> {
    let headers: &[(&str, &str)] = &[("x-env", "beta")];
    let request = RouteRequest { method, path, host: Some("api.example.com"), headers };
    let chosen = instance.route(&request)?;
    Some((chosen.upstream().name().to_owned(), chosen.upstream_path().to_owned()))
}

fn to(service: &str, path: &str) -> (String, String) {
    (service.to_owned(), path.to_owned())
}

#[track_caller]
fn check(d: &Diagnostic, code: Code, at: (&str, usize, usize), path: &str, message: &str) {
    assert_eq!(d.code(), code, "{d}");
    assert_eq!((d.file(), d.line(), d.column()), (Some(at.0), Some(at.1), Some(at.2)), "{d}");
    assert_eq!(d.path(), path, "{d}");
    assert_eq!(d.message(), message, "{d}");
}

const HEAD: &str = "apiVersion: gateway.mulesoft.com/v1alpha1\n";

/// An inline `ApiInstance` `name` on `address` with one service and a cors-flex policy.
fn instance(name: &str, address: &str) -> String {
    format!(
        "{HEAD}kind: ApiInstance\nmetadata: {{name: {name}}}\nspec:\n  address: {address}\n  \
         services:\n    up: {{address: http://127.0.0.1:9000}}\n  policies:\n    \
         - policyRef: {{name: cors-flex}}\n"
    )
}

#[test]
fn the_inline_example_serves_two_instances_on_one_listener() {
    let config = LocalConfig::from_dir(example("inline")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.files(), [example("inline").join("apis.yaml")]);
    let [listener] = config.listeners() else { panic!("one listener: {config:#?}") };
    assert_eq!(listener.address().to_string(), "http://127.0.0.1:8080");
    assert_eq!(listener.address().authority(), "127.0.0.1:8080");
    let names: Vec<&str> = listener.instances().iter().map(ApiInstance::name).collect();
    // Longest base path first.
    assert_eq!(names, ["catalog-api", "orders-api"]);

    let orders = listener.instance_for("/orders/v2/7").expect("under /orders");
    assert_eq!((orders.name(), orders.base_path()), ("orders-api", "/orders"));
    assert!(orders.policy().is_some_and(cors_policy::Policy::supports_credentials));
    assert_eq!(orders.ignored_policies(), ["rate-limiting-flex"]);
    assert_eq!(route(orders, "GET", "/orders/v2/7"), Some(to("orders-v2", "/api/v2/7")));
    assert_eq!(route(orders, "POST", "/orders/1"), Some(to("orders", "/1")));
    assert_eq!(route(orders, "GET", "/orders"), Some(to("orders", "/")));

    let catalog = listener.instance_for("/catalog/items?x").expect("under /catalog");
    assert!(catalog.policy().is_some_and(cors_policy::Policy::is_public_resource));
    assert_eq!(route(catalog, "HEAD", "/catalog/items"), Some(to("catalog", "/items")));
    assert_eq!(route(catalog, "DELETE", "/catalog/items"), None);
    assert!(listener.instance_for("/ordersx").is_none());
    assert!(listener.instance_for("/").is_none());

    let [warning] = config.warnings() else { panic!("{:#?}", config.warnings()) };
    assert_eq!((warning.code(), warning.line()), (Code::IgnoredPolicy, Some(38)));
}

#[test]
fn the_resource_example_links_services_routes_and_bindings() {
    let config = LocalConfig::from_dir(example("resources")).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = config.files().iter().filter_map(|f| f.file_name()).collect();
    assert_eq!(
        names,
        ["cors.yaml", "instance.yaml", "logging.yaml", "routes.yaml", "services.yaml"]
    );
    let [shop] = config.instances().collect::<Vec<_>>()[..] else { panic!("{config:#?}") };
    assert_eq!((shop.name(), shop.namespace(), shop.base_path()), ("shop-api", "default", "/shop"));
    assert_eq!(shop.address().scheme(), Scheme::Http);
    let group = &shop.policy().expect("the bound cors-flex policy").groups()[0];
    assert_eq!(group.name(), Some("storefront"));
    let upstreams: Vec<String> = shop.routes().iter().map(|r| r.upstream().to_string()).collect();
    assert_eq!(upstreams, ["http://127.0.0.1:9001", "http://127.0.0.1:9002/catalog-service"]);
    assert_eq!(shop.routes()[0].destination_path(), "/api/v1");
    assert_eq!(shop.routes()[1].rules()[0].methods(), Some("GET|HEAD"));
    assert_eq!(route(shop, "GET", "/shop/orders/42"), Some(to("orders", "/api/v1/42")));
    assert_eq!(
        route(shop, "GET", "/shop/catalog/items"),
        Some(to("catalog", "/catalog-service/items"))
    );
    assert_eq!(route(shop, "PUT", "/shop/catalog/items"), None);
    assert_eq!(route(shop, "GET", "/shop/other"), None);

    let [warning] = config.warnings() else { panic!("{:#?}", config.warnings()) };
    let file = example("resources").join("logging.yaml").display().to_string();
    check(
        warning,
        Code::IgnoredResource,
        (&file, 5, 7),
        "kind",
        "resource kind \"Configuration\" is not implemented and is ignored",
    );
}

#[test]
fn several_files_load_in_the_order_given() {
    let dir = example("resources");
    let files: Vec<PathBuf> =
        ["services.yaml", "instance.yaml", "routes.yaml"].iter().map(|f| dir.join(f)).collect();
    let config = LocalConfig::from_paths(&files).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.files(), files);
    let shop = config.instances().next().expect("shop-api");
    assert!(shop.policy().is_none());
    let [warning] = config.warnings() else { panic!("{:#?}", config.warnings()) };
    assert_eq!(warning.code(), Code::InstanceWithoutCors);
    assert_eq!(
        warning.message(),
        "ApiInstance \"shop-api\" has no cors-flex policy: its requests are forwarded without \
         CORS handling"
    );
}

#[test]
fn longest_base_path_wins_on_a_shared_listener() {
    let config = loaded(&[
        ("a.yaml", &instance("root", "http://0.0.0.0:8080")),
        ("b.yaml", &instance("api", "http://0.0.0.0:8080/api/")),
        ("c.yaml", &instance("v2", "http://0.0.0.0:8080/api/v2")),
        ("d.yaml", &instance("other", "https://0.0.0.0:8443")),
    ]);
    let [first, second] = config.listeners() else { panic!("{config:#?}") };
    let bases: Vec<&str> = first.instances().iter().map(ApiInstance::base_path).collect();
    assert_eq!(bases, ["/api/v2", "/api", ""]);
    let chosen = |path| first.instance_for(path).map(ApiInstance::name);
    assert_eq!(chosen("/api/v2/x"), Some("v2"));
    assert_eq!(chosen("/api/v21"), Some("api"));
    assert_eq!(chosen("/x"), Some("root"));
    assert_eq!(second.address().scheme(), Scheme::Https);
}

/// Two hosts on one port are two listeners: only an all-interfaces host (`0.0.0.0`, `[::]`)
/// takes the port from the other ones (`listener_conflicts`).
#[test]
fn two_hosts_on_one_port_are_two_listeners() {
    let config = loaded(&[
        ("a.yaml", &instance("a", "http://127.0.0.1:8080")),
        ("b.yaml", &instance("b", "http://127.0.0.2:8080")),
        ("c.yaml", &instance("c", "http://[::1]:8080")),
    ]);
    let hosts: Vec<String> = config.listeners().iter().map(|l| l.address().authority()).collect();
    assert_eq!(hosts, ["127.0.0.1:8080", "127.0.0.2:8080", "[::1]:8080"]);
}

#[test]
fn rules_combine_path_methods_host_and_headers() {
    let yaml = format!(
        "{HEAD}kind: ApiInstance\nmetadata: {{name: a}}\nspec:\n  address: http://0.0.0.0:8080\n  \
         services:\n    beta:\n      address: http://127.0.0.1:1\n      routes:\n        \
         - rules:\n            - headers: {{X-Env: beta}}\n              host: api\\.example\\.com\n            \
         - methods: [PURGE]\n    main:\n      address: http://127.0.0.1:2\n      routes:\n        \
         - rules: [{{path: '/(.*)'}}]\n          config: {{destinationPath: /v1/}}\n"
    );
    let config = loaded(&[("a.yaml", &yaml)]);
    let a = config.instances().next().expect("one instance");
    // The first rule: both header and host hold.
    assert_eq!(route(a, "GET", "/x"), Some(to("beta", "/x")));
    let main = a.routes()[1].rules()[0].path();
    assert_eq!(main, Some("/(.*)"));
    let [first, purges] = a.routes()[0].rules() else { panic!("{:#?}", a.routes()) };
    assert_eq!((first.path(), first.host()), (None, Some("api\\.example\\.com")));
    assert_eq!(first.headers().collect::<Vec<_>>(), [("x-env", "beta")]);
    assert_eq!((purges.methods(), purges.host()), (Some("PURGE"), None));
    let headers: &[(&str, &str)] = &[];
    let without_header = RouteRequest { method: "GET", path: "/x", host: None, headers };
    let chosen = a.route(&without_header).expect("the main route");
    assert_eq!((chosen.upstream().name(), chosen.upstream_path()), ("main", "/v1/x"));
    let purge = RouteRequest { method: "PURGE", path: "/x", host: None, headers };
    assert_eq!(a.route(&purge).map(|m| m.upstream().name().to_owned()), Some("beta".to_owned()));
    // The host alone is not enough: the header must hold too.
    let host = Some("api.example.com");
    let host_alone = RouteRequest { method: "GET", path: "/x", host, headers };
    assert_eq!(a.route(&host_alone).map(|m| m.upstream().name().to_owned()), Some("main".into()));
}

#[rstest]
#[case::listener_not_http(
    "tcp://0.0.0.0:1", Code::InvalidAddress, (5, 12), "spec.address",
    "\"tcp://0.0.0.0:1\" has the scheme \"tcp\", not http or https"
)]
#[case::listener_with_a_user_name(
    "http://ops@0.0.0.0:8080", Code::InvalidAddress, (5, 12), "spec.address",
    "\"http://ops@0.0.0.0:8080\" has a user name or password"
)]
#[case::listener_with_a_password_alone(
    "http://:secret@0.0.0.0:8080", Code::InvalidAddress, (5, 12), "spec.address",
    "\"http://:secret@0.0.0.0:8080\" has a user name or password"
)]
#[case::listener_not_a_url(
    "0.0.0.0:8080", Code::InvalidAddress, (5, 12), "spec.address",
    "\"0.0.0.0:8080\" is not a URL: relative URL without a base"
)]
fn listener_addresses_are_urls(
    #[case] address: &str,
    #[case] code: Code,
    #[case] at: (usize, usize),
    #[case] path: &str,
    #[case] message: &str,
) {
    let found = errors(&[("a.yaml", &instance("a", address))]);
    let [d] = &found[..] else { panic!("{found:#?}") };
    check(d, code, ("a.yaml", at.0, at.1), path, message);
    assert_eq!(d.hint(), Some("write it as http://HOST:PORT or https://HOST:PORT"));
}

#[test]
fn a_service_address_must_be_a_url() {
    let yaml =
        format!("{HEAD}kind: Service\nmetadata: {{name: s}}\nspec:\n  address: orders.svc:80\n");
    let found = errors(&[("a.yaml", &instance("a", "http://0.0.0.0:1")), ("s.yaml", &yaml)]);
    let [d] = &found[..] else { panic!("{found:#?}") };
    check(
        d,
        Code::InvalidAddress,
        ("s.yaml", 5, 12),
        "spec.address",
        "\"orders.svc:80\" has the scheme \"orders.svc\", not http or https",
    );
}

/// Finding F-BR: a service path or a `destinationPath` with a dot segment, in any spelling the
/// gateway refuses in a request path, made every request of its routes `400`; the folder is
/// refused when it loads instead, each at its place, and a path whose dots are inside a segment
/// loads.
#[test]
fn a_configured_path_with_a_dot_segment_is_an_error_at_its_place() {
    let yaml = format!(
        "{HEAD}kind: ApiInstance\nmetadata: {{name: a}}\nspec:\n  address: http://0.0.0.0:1\n  \
         services:\n    up:\n      address: http://127.0.0.1:9000/api/%2e%2e\n      routes:\n        \
         - config: {{destinationPath: /v1/..;x/admin}}\n    other:\n      address: \
         http://127.0.0.1:9001/a/../b\n"
    );
    let found = errors(&[("a.yaml", &yaml)]);
    let [service, other] = &found[..] else { panic!("{found:#?}") };
    let hint = Some("write the path as the upstream should get it, without . or .. segments");
    check(
        service,
        Code::InvalidAddress,
        ("a.yaml", 8, 16),
        "spec.services.up.address",
        "\"http://127.0.0.1:9000/api/%2e%2e\" has a dot segment (. or ..) in its path, and the \
         gateway refuses a request whose upstream path has one",
    );
    assert_eq!(service.hint(), hint);
    check(
        other,
        Code::InvalidAddress,
        ("a.yaml", 12, 16),
        "spec.services.other.address",
        "\"http://127.0.0.1:9001/a/../b\" has a dot segment (. or ..) in its path, and the \
         gateway refuses a request whose upstream path has one",
    );
    // The route of a refused service is not read: its destinationPath, alone.
    let yaml = format!(
        "{HEAD}kind: ApiInstance\nmetadata: {{name: a}}\nspec:\n  address: http://0.0.0.0:1\n  \
         services:\n    up:\n      address: http://127.0.0.1:9000/api\n      routes:\n        \
         - config: {{destinationPath: /v1/..;x/admin}}\n"
    );
    let found = errors(&[("a.yaml", &yaml)]);
    let [route] = &found[..] else { panic!("{found:#?}") };
    check(
        route,
        Code::InvalidAddress,
        ("a.yaml", 10, 37),
        "spec.services.up.routes[0].config.destinationPath",
        "destinationPath \"/v1/..;x/admin\" has a dot segment (. or ..), and the gateway refuses \
         a request whose upstream path has one",
    );
    assert_eq!(route.hint(), hint);
    let yaml = format!(
        "{HEAD}kind: ApiInstance\nmetadata: {{name: a}}\nspec:\n  address: http://0.0.0.0:1\n  \
         services:\n    up:\n      address: http://127.0.0.1:9000/v1.2/..x\n      routes:\n        \
         - config: {{destinationPath: /a.b/...}}\n"
    );
    loaded(&[("a.yaml", &yaml)]);
}

/// Finding F-BU: a `destinationPath` with a byte no request target carries (a space, a control
/// character) loaded, and then every request of its route got `400` ("the path cannot be
/// forwarded"); the folder is refused when it loads instead, at its place.
#[test]
fn a_destination_path_no_request_can_carry_is_an_error_at_its_place() {
    for path in ["/my api", "/v1/\\t../admin", "/a\\u007fb"] {
        let yaml = format!(
            "{HEAD}kind: ApiInstance\nmetadata: {{name: a}}\nspec:\n  address: http://0.0.0.0:1\n  \
             services:\n    up:\n      address: http://127.0.0.1:9000/api\n      routes:\n        \
             - config: {{destinationPath: \"{path}\"}}\n"
        );
        let found = errors(&[("a.yaml", &yaml)]);
        let [route] = &found[..] else { panic!("{path}: {found:#?}") };
        assert_eq!(route.code(), Code::InvalidAddress, "{route:?}");
        assert_eq!(route.path(), "spec.services.up.routes[0].config.destinationPath");
        assert!(route.message().contains("cannot be sent in a request"), "{route:?}");
    }
}

/// A route's `destinationPath` is a path: it starts with `/` and has no query or fragment.
#[rstest]
#[case::relative("v1")]
#[case::with_a_query("/v1?x=1")]
#[case::with_a_fragment("/v1#top")]
fn a_destination_path_is_a_path(#[case] path: &str) {
    let found = folder_errors(&route_binding("orders-api", "orders", "").replace(
        "    destinationRef:",
        &format!("    destinationPath: \"{path}\"\n    destinationRef:"),
    ));
    let [d] = &found[..] else { panic!("{found:#?}") };
    assert_eq!((d.code(), d.path()), (Code::InvalidAddress, "spec.config.destinationPath"));
    assert_eq!(d.message(), format!("destinationPath \"{path}\" is not a path"));
    assert_eq!(d.hint(), Some("start it with /, e.g. /api/v1"));
}

/// A route's `destinationRef` names a Service, with or without saying its kind; another kind
/// is refused.
#[test]
fn a_destination_ref_is_a_service() {
    let binding = route_binding("orders-api", "orders", "");
    let named = |kind: &str| {
        binding.replace(
            "destinationRef: {name: orders}",
            &format!("destinationRef: {{name: orders, kind: {kind}}}"),
        )
    };
    let config = folder_loaded(&named("Service"));
    let instance = config.instances().next().expect("one instance");
    assert_eq!(route(instance, "GET", "/x").map(|(service, _)| service), Some("orders".into()));
    let found = folder_errors(&named("Backend"));
    let [d] = &found[..] else { panic!("{found:#?}") };
    assert_eq!((d.code(), d.path()), (Code::UnknownReference, "spec.config.destinationRef.kind"));
    assert_eq!(d.message(), "a route to a \"Backend\" is not supported");
}

/// A key a route binding does not read is a warning at its place, not silently dropped.
#[test]
fn a_route_bindings_unread_key_is_a_warning() {
    let config =
        folder_loaded(&format!("{}  order: 1\n", route_binding("orders-api", "orders", "")));
    let ignored: Vec<(&str, &str)> = config
        .warnings()
        .iter()
        .filter(|d| d.code() == Code::IgnoredKey)
        .map(|d| (d.path(), d.message()))
        .collect();
    assert_eq!(ignored, [("spec.order", "key \"order\" is ignored")]);
}

/// A resource-based folder: an instance, a Service, and `extra` (more documents).
fn resources(extra: &str) -> Vec<(&'static str, String)> {
    let instance = format!(
        "{HEAD}kind: ApiInstance\nmetadata: {{name: orders-api}}\nspec:\n  address: http://0.0.0.0:8080\n"
    );
    let service = format!(
        "{HEAD}kind: Service\nmetadata: {{name: orders}}\nspec:\n  address: http://127.0.0.1:9000\n"
    );
    vec![("instance.yaml", instance), ("service.yaml", service), ("extra.yaml", extra.to_owned())]
}

fn binding(target: &str, policy: &str, body: &str) -> String {
    format!(
        "{HEAD}kind: PolicyBinding\nmetadata: {{name: b-{policy}}}\nspec:\n  targetRef: {{name: {target}}}\n  \
         policyRef: {{name: {policy}}}\n{body}"
    )
}

fn route_binding(target: &str, service: &str, rules: &str) -> String {
    binding(
        target,
        "route",
        &format!("  config:\n    destinationRef: {{name: {service}}}\n{rules}"),
    )
}

fn cors_binding(target: &str) -> String {
    binding(target, "cors-flex", "  config: {publicResource: true}\n")
}

/// `then` (`loaded` or `errors`) of the files of [`resources`] with `extra`.
fn with_resources<T>(extra: &str, then: fn(&[(&str, &str)]) -> T) -> T {
    let files = resources(extra);
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    then(&files)
}

fn folder_errors(extra: &str) -> Vec<Diagnostic> {
    with_resources(extra, errors)
}

fn folder_loaded(extra: &str) -> LocalConfig {
    with_resources(extra, loaded)
}

#[test]
fn a_dangling_destination_ref_is_an_error_with_a_suggestion() {
    let extra =
        format!("{}---\n{}", route_binding("orders-api", "order", ""), cors_binding("orders-api"));
    let found = folder_errors(&extra);
    let [d] = &found[..] else { panic!("{found:#?}") };
    check(
        d,
        Code::UnknownReference,
        ("extra.yaml", 8, 21),
        "config.destinationRef",
        "the route names the Service \"order\", which is not defined",
    );
    assert_eq!(d.hint(), Some("did you mean \"orders\"?"));
}

#[test]
fn a_dangling_target_ref_is_an_error_for_cors_and_route_a_warning_otherwise() {
    let extra = format!(
        "{}---\n{}---\n{}",
        route_binding("orders-api", "orders", ""),
        cors_binding("orders-ap"),
        binding("nowhere", "rate-limiting-flex", "")
    );
    let found = folder_errors(&extra);
    let [d] = &found[..] else { panic!("{found:#?}") };
    check(
        d,
        Code::UnknownReference,
        ("extra.yaml", 14, 14),
        "spec.targetRef",
        "PolicyBinding targets the ApiInstance \"orders-ap\", which is not defined",
    );
    assert_eq!(d.hint(), Some("did you mean \"orders-api\"?"));

    let extra = format!(
        "{}---\n{}---\n{}",
        route_binding("orders-api", "orders", ""),
        cors_binding("orders-api"),
        binding("nowhere", "rate-limiting-flex", "")
    );
    let config = folder_loaded(&extra);
    let codes: Vec<Code> = config.warnings().iter().map(Diagnostic::code).collect();
    // The binding's targetRef comes before its policyRef.
    assert_eq!(codes, [Code::UnmatchedTarget, Code::IgnoredPolicy]);
}

#[test]
fn a_regex_that_does_not_compile_is_an_error_at_its_value() {
    let extra = format!(
        "{}---\n{}",
        route_binding(
            "orders-api",
            "orders",
            "  rules:\n    - path: /api(/.*\n      host: '[a-'\n"
        ),
        cors_binding("orders-api")
    );
    let found = folder_errors(&extra);
    let found: Vec<(Code, &str, Option<usize>, Option<usize>)> =
        found.iter().map(|d| (d.code(), d.path(), d.line(), d.column())).collect();
    assert_eq!(
        found,
        [
            (Code::InvalidRegex, "spec.rules[0].path", Some(10), Some(13)),
            (Code::InvalidRegex, "spec.rules[0].host", Some(11), Some(13)),
        ]
    );
}

#[rstest]
#[case::same_address_and_base_path(
    "http://0.0.0.0:8080/",
    "ApiInstance \"b\" has the same listener and base path as \"a\" at a.yaml:5:12",
    Some("give one a base path, e.g. \"http://0.0.0.0:8080/b\"")
)]
#[case::two_schemes_on_one_port(
    "https://0.0.0.0:8080",
    "\"https://0.0.0.0:8080\" and \"http://0.0.0.0:8080\" (ApiInstance \"a\" at a.yaml:5:12) use \
     one host and port with two schemes",
    None
)]
#[case::all_interfaces_next_to_a_host(
    "http://127.0.0.1:8080/b",
    "\"http://127.0.0.1:8080\" overlaps \"http://0.0.0.0:8080\" (ApiInstance \"a\" at \
     a.yaml:5:12): an all-interfaces host takes the port on every address",
    Some("use the same host for both, or different ports")
)]
fn listener_conflicts(#[case] second: &str, #[case] message: &str, #[case] hint: Option<&str>) {
    let found = errors(&[
        ("a.yaml", &instance("a", "http://0.0.0.0:8080")),
        ("b.yaml", &instance("b", second)),
    ]);
    let [d] = &found[..] else { panic!("{found:#?}") };
    check(d, Code::ListenerConflict, ("b.yaml", 5, 12), "spec.address", message);
    assert_eq!(d.hint(), hint, "{d}");
}

/// The addresses and the instance's name that a listener conflict writes are quoted cut short
/// when long, as every value a diagnostic quotes is (`cors_origin::Quoted`, F-DM): a 100 KB host
/// or name made as long a line.
#[rstest]
#[case::two_schemes_on_one_port("https://{H}:8080", "http://{H}:8080", "b")]
#[case::all_interfaces_next_to_a_host("http://0.0.0.0:8080", "http://{H}:8080", "b")]
#[case::same_address_and_base_path("http://0.0.0.0:8080", "http://0.0.0.0:8080", "{N}")]
fn a_listener_conflict_quotes_a_long_host_or_name_cut_short(
    #[case] first: &str,
    #[case] second: &str,
    #[case] name: &str,
) {
    let host = format!("{}.test", "h".repeat(100_000));
    let long = |text: &str| text.replace("{H}", &host).replace("{N}", &"n".repeat(100_000));
    let found = errors(&[
        ("a.yaml", &instance("a", &long(first))),
        ("b.yaml", &instance(&long(name), &long(second))),
    ]);
    let [d] = &found[..] else { panic!("{found:#?}") };
    assert_eq!(d.code(), Code::ListenerConflict, "{d}");
    let line = d.to_string();
    assert!(line.len() < 1_000, "{} bytes: {line}", line.len());
    assert!(line.contains("\"… (1000"), "{line}");
}

#[test]
fn resources_are_unique_by_kind_namespace_and_name() {
    let other_namespace = instance("a", "http://0.0.0.0:8081")
        .replace("metadata: {name: a}", "metadata: {name: a, namespace: team}");
    let config =
        loaded(&[("a.yaml", &instance("a", "http://0.0.0.0:8080")), ("b.yaml", &other_namespace)]);
    let namespaces: Vec<&str> = config.instances().map(ApiInstance::namespace).collect();
    assert_eq!(namespaces, ["default", "team"]);
    // A namespace written as null is the default one.
    let null_namespace = instance("a", "http://0.0.0.0:8080")
        .replace("metadata: {name: a}", "metadata: {name: a, namespace: ~}");
    let config = loaded(&[("a.yaml", &null_namespace)]);
    assert_eq!(config.instances().map(ApiInstance::namespace).collect::<Vec<_>>(), ["default"]);

    let found = errors(&[
        ("a.yaml", &instance("a", "http://0.0.0.0:8080")),
        ("b.yaml", &instance("a", "http://0.0.0.0:8081")),
    ]);
    let [d] = &found[..] else { panic!("{found:#?}") };
    check(
        d,
        Code::DuplicateResource,
        ("b.yaml", 3, 18),
        "metadata.name",
        "ApiInstance \"a\" is defined twice",
    );
    assert_eq!(d.hint(), Some("the first definition is at a.yaml:3:18"));

    let routes = route_binding("orders-api", "orders", "");
    let found = folder_errors(&format!("{routes}---\n{routes}"));
    let [d] = &found[..] else { panic!("{found:#?}") };
    check(
        d,
        Code::DuplicateResource,
        ("extra.yaml", 12, 18),
        "metadata.name",
        "PolicyBinding \"b-route\" is defined twice",
    );
    assert_eq!(d.hint(), Some("the first definition is at extra.yaml:3:18"));
}

#[test]
fn one_cors_flex_policy_per_instance() {
    let found = folder_errors(&format!(
        "{}---\n{}---\n{}",
        route_binding("orders-api", "orders", ""),
        cors_binding("orders-api"),
        cors_binding("orders-api").replace("b-cors-flex", "second")
    ));
    let [d] = &found[..] else { panic!("{found:#?}") };
    check(
        d,
        Code::SeveralCorsPolicies,
        ("extra.yaml", 18, 1),
        "",
        "a second cors-flex policy for ApiInstance \"orders-api\"",
    );
    assert_eq!(d.hint(), Some("keep one: the first is at extra.yaml:10:1"));
}

#[test]
fn an_instance_needs_a_route() {
    let found = folder_errors(&cors_binding("orders-api"));
    let [d] = &found[..] else { panic!("{found:#?}") };
    check(
        d,
        Code::NoRoute,
        ("instance.yaml", 3, 18),
        "",
        "ApiInstance \"orders-api\" has no route to an upstream",
    );
}

#[test]
fn every_problem_of_every_file_at_once_in_file_order() {
    let broken = format!(
        "{HEAD}kind: ApiInstance\nmetadata: {{name: a}}\nspec:\n  address: ftp://x\n  services:\n    \
         s: {{adress: http://127.0.0.1:1}}\n"
    );
    let found = errors(&[
        ("1.yaml", "publicResource: false\n"),
        ("2.yaml", &broken),
        ("3.yaml", "kind: [\n"),
    ]);
    let found: Vec<(Code, Option<&str>, Option<usize>)> =
        found.iter().map(|d| (d.code(), d.file(), d.line())).collect();
    assert_eq!(
        found,
        [
            (Code::UnknownShape, Some("1.yaml"), Some(1)),
            (Code::InvalidAddress, Some("2.yaml"), Some(5)),
            (Code::MissingKey, Some("2.yaml"), Some(7)),
            (Code::UnknownKey, Some("2.yaml"), Some(7)),
            (Code::Syntax, Some("3.yaml"), Some(2)),
        ]
    );
}

/// A tag error in a folder's file is listed with that file's other problems, as in a single
/// policy file (C3).
#[test]
fn a_tag_error_is_listed_with_the_other_problems_of_its_file() {
    let tagged =
        format!("{HEAD}kind: !foo ApiInstance\nmetadata: {{name: a}}\nspec:\n  address: ftp://x\n");
    let found = errors(&[("1.yaml", &tagged)]);
    let found: Vec<(Code, Option<usize>)> = found.iter().map(|d| (d.code(), d.line())).collect();
    assert_eq!(found, [(Code::Tag, Some(2)), (Code::InvalidAddress, Some(5))]);
}

/// A kind this loader does not implement is a warning naming it; Flex's `Configuration` also
/// says where its settings went.
#[rstest]
#[case::configuration(
    "Configuration",
    "resource kind \"Configuration\" is not implemented and is ignored",
    Some(
        "Flex's gateway settings (logging, shared storage, TLS contexts) do not apply here; see \
          the cors-gateway flags instead"
    )
)]
#[case::unknown_kind(
    "Gateway",
    "resource kind \"Gateway\" is not implemented and is ignored",
    None
)]
fn unimplemented_kinds_are_warnings_that_name_them(
    #[case] kind: &str,
    #[case] message: &str,
    #[case] hint: Option<&str>,
) {
    let other = format!("{HEAD}kind: {kind}\nmetadata: {{name: x}}\nspec: {{}}\n");
    let config = loaded(&[("a.yaml", &instance("a", "http://0.0.0.0:1")), ("x.yaml", &other)]);
    let [d] = config.warnings() else { panic!("{:#?}", config.warnings()) };
    check(d, Code::IgnoredResource, ("x.yaml", 2, 7), "kind", message);
    assert_eq!(d.hint(), hint);
}

/// Flex says CORS is not a resource-level policy: `rules` on its binding is ignored, with a
/// warning (so `check --deny-warnings` fails).
#[test]
fn rules_on_a_cors_flex_binding_are_ignored_with_a_warning() {
    let bound = binding("orders-api", "cors-flex", "  rules:\n    - path: /a\n");
    let extra = format!("{}---\n{bound}", route_binding("orders-api", "orders", ""));
    let config = folder_loaded(&extra);
    let [d] = config.warnings() else { panic!("{:#?}", config.warnings()) };
    check(d, Code::IgnoredKey, ("extra.yaml", 16, 3), "spec.rules", "key \"rules\" is ignored");
    assert!(d.hint().is_some_and(|h| h.contains("every request of the API instance")), "{d}");
}

/// A route without rules, or with a rule of no condition among its rules, takes every request:
/// a route after it is never taken.
#[rstest]
#[case::without_rules("up: {address: http://127.0.0.1:9000}", "a.yaml:7:5")]
#[case::with_an_empty_rule(
    "up: {address: http://127.0.0.1:9000, routes: [{rules: [{methods: [GET]}, {}]}]}",
    "a.yaml:7:51"
)]
fn a_route_after_a_catch_all_is_never_taken(#[case] up: &str, #[case] first: &str) {
    let yaml = instance("a", "http://0.0.0.0:1").replace(
        "    up: {address: http://127.0.0.1:9000}\n",
        &format!("    {up}\n    late: {{address: http://127.0.0.1:9001}}\n"),
    );
    let config = loaded(&[("a.yaml", &yaml)]);
    let [d] = config.warnings() else { panic!("{:#?}", config.warnings()) };
    assert_eq!((d.code(), d.line(), d.column()), (Code::UnreachableRoute, Some(8), Some(5)));
    assert_eq!(
        d.message(),
        format!(
            "this route to \"late\" is never taken: the route to \"up\" at {first} takes every \
             request"
        )
    );
}

#[test]
fn a_bare_cors_config_is_not_a_local_mode_resource() {
    let found = errors(&[("cors.yaml", "publicResource: false\n")]);
    let [d] = &found[..] else { panic!("{found:#?}") };
    check(
        d,
        Code::UnknownShape,
        ("cors.yaml", 1, 1),
        "",
        "not a Local Mode resource: it has no kind",
    );
    // The hint names no option of one tool: `--config` is cors-gateway serve's, and this folder
    // may have come through `check DIR`, the bench's `--policy DIR` or `LocalConfig` itself.
    assert!(d.hint().is_some_and(|hint| hint.contains("read alone, as a policy file")), "{d}");
    assert!(!d.to_string().contains("to --config instead"), "{d}");
}

#[test]
fn route_expressions_are_bounded() {
    let rules = (0..=MAX_PATTERNS).fold(String::new(), |mut rules, i| {
        writeln!(rules, "            - path: /p{i}").unwrap();
        rules
    });
    let yaml = format!(
        "{HEAD}kind: ApiInstance\nmetadata: {{name: a}}\nspec:\n  address: http://0.0.0.0:1\n  \
         services:\n    up:\n      address: http://127.0.0.1:1\n      routes:\n        - rules:\n{rules}"
    );
    let found = errors(&[("a.yaml", &yaml)]);
    let [d] = &found[..] else { panic!("{found:#?}") };
    assert_eq!(
        (d.code(), d.path()),
        (Code::TooLarge, "spec.services.up.routes[0].rules[1024].path")
    );
}

/// A temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("cors-policy-local-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.0.join(name), text).expect("a file in the temporary folder");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_folder_reads_its_yaml_files_by_name_and_skips_the_rest() {
    let dir = TempDir::new("skips");
    dir.write("b.yml", &instance("b", "http://0.0.0.0:2"));
    dir.write("a.YAML", &instance("a", "http://0.0.0.0:1"));
    dir.write(".hidden.yaml", "not: [valid\n");
    dir.write("README.md", "# notes\n");
    std::fs::create_dir(dir.0.join("nested")).unwrap();
    let config = LocalConfig::from_dir(&dir.0).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = config.instances().map(ApiInstance::name).collect();
    assert_eq!(names, ["a", "b"]);
    let [d] = config.warnings() else { panic!("{:#?}", config.warnings()) };
    assert_eq!((d.code(), d.message()), (Code::IgnoredResource, "subfolder is not read"));
}

#[test]
fn a_folder_without_yaml_files_is_an_error() {
    let dir = TempDir::new("empty");
    dir.write("notes.txt", "");
    let error = LocalConfig::from_dir(&dir.0).unwrap_err();
    let [d] = error.diagnostics() else { panic!("{error}") };
    assert_eq!(
        (d.code(), d.message()),
        (Code::Documents, "the folder holds no .yaml or .yml file")
    );
    let error = LocalConfig::from_dir(dir.0.join("missing")).unwrap_err();
    assert_eq!(error.diagnostics()[0].code(), Code::Io);
}

/// A folder gone, or replaced by a file, is an error about the folder. A file in its place was
/// read as the configuration, and a missing folder reported as a file that cannot be read.
#[test]
fn a_folder_that_is_gone_or_a_file_is_an_error_about_the_folder() {
    let dir = TempDir::new("replaced");
    let missing = dir.0.join("conf");
    let error = LocalConfig::from_dir(&missing).unwrap_err();
    let [d] = error.diagnostics() else { panic!("{error}") };
    assert_eq!(d.file(), Some(missing.display().to_string().as_str()));
    assert!(d.message().starts_with("cannot read the folder: "), "{d}");

    std::fs::write(&missing, instance("a", "http://0.0.0.0:1")).unwrap();
    let error = LocalConfig::from_dir(&missing).unwrap_err();
    let [d] = error.diagnostics() else { panic!("{error}") };
    assert_eq!((d.code(), d.file()), (Code::Io, Some(missing.display().to_string().as_str())));
    assert!(d.message().starts_with("cannot read the folder: "), "{d}");
}

/// A folder can be named by a string, as `Policy::from_yaml_file` and cors-hyper's
/// `CorsLayer::from_yaml_file` take a file's.
#[test]
fn a_folder_can_be_named_by_a_string() {
    let error = LocalConfig::from_dir("/nonexistent/conf").unwrap_err();
    let [d] = error.diagnostics() else { panic!("{error}") };
    assert_eq!((d.code(), d.file()), (Code::Io, Some("/nonexistent/conf")));
    assert!(d.message().starts_with("cannot read the folder: "), "{d}");
}

/// A folder may hold [`cors_policy::MAX_FILES`] files and [`cors_policy::MAX_FOLDER_SIZE`] bytes;
/// one file or one byte more is refused, before anything is read (files) or parsed (bytes).
#[test]
fn a_folder_is_bounded_in_files_and_bytes() {
    let within = |dir: &TempDir| match LocalConfig::from_dir(&dir.0) {
        Ok(_) => {}
        Err(error) => {
            assert!(error.diagnostics().iter().all(|d| d.code() != Code::TooLarge), "{error}");
        }
    };
    let dir = TempDir::new("many");
    for i in 0..cors_policy::MAX_FILES {
        dir.write(&format!("{i:04}.yaml"), "# empty\n");
    }
    within(&dir);
    dir.write("9999.yaml", "# empty\n");
    let error = LocalConfig::from_dir(&dir.0).unwrap_err();
    let [d] = error.diagnostics() else { panic!("{error}") };
    assert_eq!((d.code(), d.message()), (Code::TooLarge, "more than 256 YAML files"));

    let dir = TempDir::new("big");
    let comment = format!("#{}\n", "x".repeat(1022));
    let file = comment.repeat(cors_policy::MAX_FILE_SIZE / comment.len());
    assert_eq!(file.len(), cors_policy::MAX_FILE_SIZE);
    for i in 0..(cors_policy::MAX_FOLDER_SIZE / file.len()) {
        dir.write(&format!("{i:02}.yaml"), &file);
    }
    within(&dir);
    dir.write("zz.yaml", "\n");
    let error = LocalConfig::from_dir(&dir.0).unwrap_err();
    let [d] = error.diagnostics() else { panic!("{error}") };
    assert_eq!(d.code(), Code::TooLarge);
    assert_eq!(d.message(), "the files hold more than the 16777216-byte limit together");
}

#[test]
fn a_file_that_cannot_be_read_as_text_does_not_hide_the_others() {
    let dir = TempDir::new("latin1");
    std::fs::write(dir.0.join("a.yaml"), b"kind: Service\nname: caf\xe9\n").unwrap();
    dir.write("b.yaml", "kind: ApiInstance\n");
    let error = LocalConfig::from_dir(&dir.0).unwrap_err();
    let found: Vec<(Code, Option<usize>, Option<usize>)> =
        error.diagnostics().iter().map(|d| (d.code(), d.line(), d.column())).collect();
    // b.yaml misses metadata and spec (its missing apiVersion is only a warning).
    assert_eq!(
        found,
        [
            (Code::NotUtf8, Some(2), Some(10)),
            (Code::MissingKey, Some(1), Some(1)),
            (Code::MissingKey, Some(1), Some(1)),
        ]
    );
}

/// A fifo, a device and a link to a fifo named like policy files: each is an error naming it,
/// read without blocking (opening a fifo for reading waits for a writer, for ever), and the
/// regular file beside them is still read.
#[cfg(unix)]
#[test]
fn entries_that_are_not_regular_files_are_errors_that_do_not_block() {
    use std::os::unix::fs::symlink;
    use std::sync::mpsc;
    use std::time::Duration;

    let dir = TempDir::new("fifo");
    dir.write("a.yaml", &instance("a", "http://0.0.0.0:1"));
    let fifo = dir.0.join("b.yaml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", fifo.display());
    symlink(&fifo, dir.0.join("c.yaml")).unwrap();
    symlink("/dev/zero", dir.0.join("d.yml")).unwrap();

    let (send, receive) = mpsc::channel();
    let folder = dir.0.clone();
    std::thread::spawn(move || send.send(LocalConfig::from_dir(&folder)));
    // Only a guard against a hang: the load itself takes milliseconds.
    let Ok(loaded) = receive.recv_timeout(Duration::from_secs(30)) else {
        // Give the blocked reader a writer, so that the thread ends before the folder goes.
        drop(std::fs::OpenOptions::new().write(true).open(&fifo));
        panic!("loading a folder with a fifo blocked");
    };
    let error = loaded.unwrap_err();
    let found: Vec<(Code, &str, &str)> = error
        .diagnostics()
        .iter()
        .map(|d| (d.code(), d.file().unwrap_or(""), d.message()))
        .collect();
    let name = |file: &str| dir.0.join(file).display().to_string();
    let (b, c, d) = (name("b.yaml"), name("c.yaml"), name("d.yml"));
    assert_eq!(
        found,
        [
            (Code::Io, b.as_str(), "not a regular file but a fifo"),
            (Code::Io, c.as_str(), "not a regular file but a fifo"),
            (Code::Io, d.as_str(), "not a regular file but a character device"),
        ]
    );
}

/// A file whose name is not UTF-8 is read like any other, named in diagnostics with U+FFFD
/// where the name is not UTF-8. It was skipped without a word: its instances went unserved.
#[cfg(unix)]
#[test]
fn a_file_whose_name_is_not_utf8_is_read() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt as _;

    let dir = TempDir::new("latin1-name");
    dir.write("a.yaml", &instance("a", "http://0.0.0.0:1"));
    let name = OsStr::from_bytes(b"caf\xe9.yaml");
    std::fs::write(dir.0.join(name), instance("b", "http://0.0.0.0:2")).unwrap();
    let config = LocalConfig::from_dir(&dir.0).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = config.instances().map(ApiInstance::name).collect();
    assert_eq!(names, ["a", "b"]);

    std::fs::write(dir.0.join(name), "kind: [\n").unwrap();
    let error = LocalConfig::from_dir(&dir.0).unwrap_err();
    let [d] = error.diagnostics() else { panic!("{error}") };
    let shown = dir.0.join("caf\u{fffd}.yaml").display().to_string();
    assert_eq!((d.code(), d.file()), (Code::Syntax, Some(shown.as_str())));
}

/// A link named like a configuration file that points at a secret (a private key, a token, the
/// process's environment) is an error that gives the secret's length, never its text: the
/// diagnostics go to the gateway's log. They quoted the whole file before (finding F-AC).
#[cfg(unix)]
#[test]
fn a_file_that_is_one_string_is_an_error_that_does_not_show_it() {
    use std::os::unix::fs::symlink;

    let secrets = TempDir::new("secrets");
    let key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHG6i6PZSf264Pu/HHOM9EpUJ9gYILhhoYrobqWLjaDE\n\
               -----END PRIVATE KEY-----\n";
    secrets.write("privkey.pem", key);
    secrets.write("token", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJnYXRld2F5In0.c2VjcmV0\n");
    let dir = TempDir::new("link-to-secret");
    dir.write("a.yaml", &instance("a", "http://0.0.0.0:1"));
    symlink(secrets.0.join("privkey.pem"), dir.0.join("b.yaml")).unwrap();
    symlink(secrets.0.join("token"), dir.0.join("c.yaml")).unwrap();

    let error = LocalConfig::from_dir(&dir.0).unwrap_err();
    let found: Vec<(Code, &str)> =
        error.diagnostics().iter().map(|d| (d.code(), d.message())).collect();
    let expected = |length: usize| {
        format!(
            "expected a Local Mode resource (apiVersion, kind, metadata, spec), found text of \
             {length} characters (not shown)"
        )
    };
    // The key reads as one string of its three lines joined by spaces.
    let (b, c) = (expected(key.len() - 1), expected(53));
    assert_eq!(found, [(Code::UnknownShape, b.as_str()), (Code::UnknownShape, c.as_str())]);
    let shown = error.to_string();
    for secret in ["MC4CAQAwBQYDK2VwBCIEIHG6i6PZSf264", "BEGIN PRIVATE KEY", "c2VjcmV0"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

/// A diagnostic is one line of printable text, whatever the file names and keys hold: a newline
/// or an escape sequence in a file name, or in a quoted YAML key, is written escaped. Written as
/// they came, they forged lines in the gateway's log (finding F-AD).
#[test]
fn a_diagnostic_is_one_line_whatever_the_names_hold() {
    let forged =
        "\n2026-12-06T12:00:00.000000Z  INFO cors_gateway: configuration reloaded\n\x1b[2J";
    let dir = TempDir::new("forged-names");
    dir.write(&format!("a.yaml{forged}b.yaml"), "kind: [\n");
    // The same text as a double-quoted YAML key, written with YAML's escapes.
    let key =
        r#""up\n2026-12-06T12:00:00.000000Z  INFO cors_gateway: configuration reloaded\n\e[2J""#;
    let service = format!(
        "{HEAD}kind: ApiInstance\nmetadata: {{name: a}}\nspec:\n  address: http://0.0.0.0:1\n  \
         services:\n    {key}: {{address: ftp://up}}\n"
    );
    dir.write("c.yaml", &service);
    let error = LocalConfig::from_dir(&dir.0).unwrap_err();
    let shown: Vec<String> = error.diagnostics().iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 2, "{shown:#?}");
    let escaped =
        r"\n2026-12-06T12:00:00.000000Z  INFO cors_gateway: configuration reloaded\n\u{1b}[2J";
    assert!(shown[0].contains(&format!("a.yaml{escaped}b.yaml:2:1: error: ")), "{}", shown[0]);
    assert!(shown[1].contains(&format!("spec.services.up{escaped}.address: ")), "{}", shown[1]);
    for line in &shown {
        assert!(!line.contains(char::is_control), "{line:?}");
    }
    // The accessors keep the names as they are.
    assert!(error.diagnostics()[0].file().is_some_and(|file| file.contains(forged)));
}

/// Nor do Unicode's line and paragraph separators, bidi controls or other invisible characters
/// in a file name or key reach a diagnostic as they are: a key path and a file name escape what
/// the message's quoted value escapes (`\u{2028}`, `\u{202e}`). Written as they came, U+2028
/// broke the diagnostic's line where a viewer breaks lines at it, and an override reversed the
/// rest of the line where the text is shown by the Unicode bidi algorithm, a web log viewer's
/// (finding F-DG).
#[test]
fn a_diagnostic_writes_separators_and_bidi_controls_escaped() {
    let dir = TempDir::new("invisible-names");
    dir.write("a\u{2028}b\u{202e}lmay.yaml", "kind: [\n");
    // The key in YAML's escapes: LS, PS, RLO, LRI, a zero-width space, a byte order mark.
    let service = format!(
        "{HEAD}kind: ApiInstance\nmetadata: {{name: a}}\nspec:\n  address: http://0.0.0.0:1\n  \
         services:\n    \"up\\Lx\\P\\u202ey\\u2066\\u200b\\ufeff\": {{address: ftp://up}}\n"
    );
    dir.write("c.yaml", &service);
    let error = LocalConfig::from_dir(&dir.0).unwrap_err();
    let shown: Vec<String> = error.diagnostics().iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 2, "{shown:#?}");
    assert!(shown[0].contains(r"a\u{2028}b\u{202e}lmay.yaml:2:1: error: "), "{}", shown[0]);
    assert!(
        shown[1].contains(
            r"spec.services.up\u{2028}x\u{2029}\u{202e}y\u{2066}\u{200b}\u{feff}.address: "
        ),
        "{}",
        shown[1]
    );
    for line in &shown {
        let hidden = line.chars().find(|&c| c != '"' && c != '\\' && c.escape_debug().len() > 1);
        assert_eq!(hidden, None, "{line:?}");
    }
}
