//! `serve --config-dir` (issue 17): whole Flex Local Mode folders, the repository's examples
//! among them, served in front of real upstreams: listeners, API instances by base path, their
//! policies, routes by path, method, host and header, `destinationPath`, and reload.
#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::tls::TestCa;
use common::upstream::{Seen, Upstream};
use common::{
    Answer, ClosedPort, Gateway, PATIENCE, Scratch, client, closed_port, empty, request, run,
    run_with_open_files, send,
};

const SHOP: &str = "https://shop.example.com";
const EVIL: &str = "https://evil.example";

/// Copies the example folder `examples/local-mode/NAME` into a scratch folder, replacing each
/// `(from, to)` text (the examples' fixed addresses) in every file.
fn copy_example(name: &str, replacements: &[(String, String)]) -> Scratch {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/local-mode").join(name);
    let scratch = Scratch::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        for (from, to) in replacements {
            text = text.replace(from.as_str(), to);
        }
        scratch.write(path.file_name().unwrap().to_str().unwrap(), &text);
    }
    scratch
}

fn serve(folder: &Path, listeners: usize, extra: &[&str]) -> Gateway {
    let mut args = vec!["serve", "--config-dir", folder.to_str().unwrap()];
    args.extend(["--watch-interval", "100ms"]);
    args.extend(extra);
    Gateway::start_listeners(&args, listeners)
}

async fn get(url: &str, method: &str, origin: Option<&str>) -> Answer {
    let headers: Vec<(&str, &str)> = origin.into_iter().map(|o| ("origin", o)).collect();
    send(&client(false), request(method, url, &headers, empty())).await
}

/// The one request `upstream` saw, and forgets nothing: asserts it saw exactly `count`.
#[track_caller]
fn last(upstream: &Upstream, count: usize) -> Seen {
    let seen = upstream.seen();
    assert_eq!(seen.len(), count, "{:?}", seen.iter().map(|s| &s.path).collect::<Vec<_>>());
    seen.last().unwrap().clone()
}

/// The inline example folder, copied with its listener on a free port and its three services
/// on spy upstreams.
struct Inline {
    folder: Scratch,
    port: ClosedPort,
    orders: Upstream,
    catalog: Upstream,
    orders_v2: Upstream,
}

impl Inline {
    async fn start() -> Self {
        let (orders, catalog, orders_v2) =
            (Upstream::start().await, Upstream::start().await, Upstream::start().await);
        let port = closed_port();
        let folder = copy_example(
            "inline",
            &[
                ("127.0.0.1:8080".to_owned(), format!("127.0.0.1:{port}")),
                ("127.0.0.1:9001".to_owned(), orders.address.to_string()),
                ("127.0.0.1:9002".to_owned(), catalog.address.to_string()),
                ("127.0.0.1:9003".to_owned(), orders_v2.address.to_string()),
            ],
        );
        Self { folder, port, orders, catalog, orders_v2 }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_inline_example_routes_by_base_path_path_and_method() {
    let Inline { folder, port, orders, catalog, orders_v2 } = Inline::start().await;
    let gateway = serve(&folder.dir, 1, &[]);
    gateway.wait_for_log("rate-limiting-flex");
    let base = format!("http://127.0.0.1:{port}");

    // /orders/v2/...: the first route, its capture group below destinationPath, query kept.
    let answer = get(&format!("{base}/orders/v2/items?page=2"), "GET", Some(SHOP)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.one("access-control-allow-origin").as_deref(), Some(SHOP));
    assert_eq!(answer.one("access-control-allow-credentials").as_deref(), Some("true"));
    let seen = last(&orders_v2, 1);
    assert_eq!((seen.path.as_str(), seen.query.as_deref()), ("/api/v2/items", Some("page=2")));

    // Anything else under /orders: the service without routes, path below the base path.
    get(&format!("{base}/orders/42"), "GET", Some(SHOP)).await;
    assert_eq!(last(&orders, 1).path, "/42");

    // A refused origin is blocked (A2) and reaches no upstream.
    let answer = get(&format!("{base}/orders/v2/items"), "GET", Some(EVIL)).await;
    assert_eq!((answer.status.as_u16(), answer.body.len()), (200, 0));
    assert!(answer.access_control().is_empty());
    assert_eq!(orders_v2.seen().len(), 1);

    // /catalog is a public resource that routes reads only.
    let answer = get(&format!("{base}/catalog/items"), "GET", Some(EVIL)).await;
    assert_eq!(answer.one("access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(last(&catalog, 1).path, "/items");
    // A POST finds no route: 404 after the CORS decision, so the page may read it.
    let answer = get(&format!("{base}/catalog/items"), "POST", Some(EVIL)).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.one("access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(catalog.seen().len(), 1);

    // No API instance at the path: 404 before any CORS decision.
    let answer = get(&format!("{base}/elsewhere"), "GET", Some(SHOP)).await;
    assert_eq!(answer.status, 404);
    assert!(answer.access_control().is_empty(), "{:?}", answer.headers);
    assert_eq!(orders.seen().len() + catalog.seen().len() + orders_v2.seen().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_resources_example_binds_services_routes_and_policy_by_name() {
    let (orders, catalog) = (Upstream::start().await, Upstream::start().await);
    let port = closed_port();
    let folder = copy_example(
        "resources",
        &[
            ("127.0.0.1:8081".to_owned(), format!("127.0.0.1:{port}")),
            ("127.0.0.1:9001".to_owned(), orders.address.to_string()),
            ("127.0.0.1:9002".to_owned(), catalog.address.to_string()),
        ],
    );
    let gateway = serve(&folder.dir, 1, &[]);
    gateway.wait_for_log("Configuration");
    let base = format!("http://127.0.0.1:{port}");

    get(&format!("{base}/shop/orders/42"), "GET", Some(SHOP)).await;
    assert_eq!(last(&orders, 1).path, "/api/v1/42");
    let answer = get(&format!("{base}/shop/catalog/items"), "GET", Some(SHOP)).await;
    assert_eq!(answer.one("access-control-allow-origin").as_deref(), Some(SHOP));
    assert_eq!(last(&catalog, 1).path, "/catalog-service/items");

    // The preflight is answered by the instance's policy, whatever the routes say.
    let preflight = request(
        "OPTIONS",
        &format!("{base}/shop/catalog/items"),
        &[("origin", SHOP), ("access-control-request-method", "POST")],
        empty(),
    );
    let answer = send(&client(false), preflight).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.one("access-control-max-age").as_deref(), Some("600"));
    // The POST itself finds no route (catalog reads only): 404, with the grant.
    let answer = get(&format!("{base}/shop/catalog/items"), "POST", Some(SHOP)).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.one("access-control-allow-origin").as_deref(), Some(SHOP));
    assert_eq!(catalog.seen().len(), 1);
}

/// A folder of our own: two listeners with their own policies, routes by host and by header, an
/// instance without cors-flex, an https listener.
fn routed_folder(
    scratch: &Scratch,
    (plain, secure): (u16, u16),
    (main, canary, open): (&Upstream, &Upstream, &Upstream),
    canary_path: &str,
) {
    let text = format!(
        "\
apiVersion: gateway.mulesoft.com/v1alpha1
kind: ApiInstance
metadata: {{name: api}}
spec:
  address: http://127.0.0.1:{plain}/api
  services:
    canary:
      address: http://{canary}
      routes:
        - rules:
            - headers: {{x-env: canary}}
          config: {{destinationPath: {canary_path}}}
    main:
      address: http://{main}
      routes:
        - rules:
            - host: 'api\\.example\\.com(:\\d+)?'
  policies:
    - policyRef: {{name: cors-flex}}
      config:
        publicResource: false
        originGroups:
          - origins: [https://shop.example.com]
---
apiVersion: gateway.mulesoft.com/v1alpha1
kind: ApiInstance
metadata: {{name: open}}
spec:
  address: http://127.0.0.1:{plain}/open
  services:
    open:
      address: http://{open}
---
apiVersion: gateway.mulesoft.com/v1alpha1
kind: ApiInstance
metadata: {{name: secure}}
spec:
  address: https://127.0.0.1:{secure}/
  services:
    main:
      address: http://{main}/secure
  policies:
    - policyRef: {{name: cors-flex}}
      config:
        publicResource: true
",
        main = main.address,
        canary = canary.address,
        open = open.address,
    );
    scratch.write("apis.yaml", &text);
}

async fn send_with(url: &str, headers: &[(&str, &str)]) -> Answer {
    send(&client(false), request("GET", url, headers, empty())).await
}

/// Finding F-BQ: a route whose path rule captures from inside a segment (`/v2(.*)`) made a dot
/// segment of a path that had none: `/api/v2../secret` was sent as
/// `/svc/internal/v2/../secret`, which the upstream resolves outside the route's
/// `destinationPath`. Such a rewritten path gets `400` and is not forwarded; a path the rule
/// rewrites into ordinary segments is forwarded.
#[tokio::test(flavor = "multi_thread")]
async fn a_path_its_route_rewrites_into_a_dot_segment_is_refused() {
    let upstream = Upstream::start().await;
    let port = closed_port();
    let scratch = Scratch::new();
    let text = format!(
        "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nmetadata: {{name: api}}\n\
         spec:\n  address: http://127.0.0.1:{port}/api\n  services:\n    main:\n      \
         address: http://{}/svc\n      routes:\n        - rules: [{{path: '/v2(.*)'}}]\n          \
         config: {{destinationPath: /internal/v2}}\n",
        upstream.address
    );
    scratch.write("apis.yaml", &text);
    let _gateway = serve(&scratch.dir, 1, &[]);
    let base = format!("http://127.0.0.1:{port}");
    let answer = get(&format!("{base}/api/v2/items"), "GET", None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(last(&upstream, 1).path, "/svc/internal/v2/items");
    let answer = get(&format!("{base}/api/v2..x"), "GET", None).await;
    assert_eq!(answer.status, 200, "`..x` is no dot segment");
    assert_eq!(last(&upstream, 2).path, "/svc/internal/v2/..x");
    for path in [
        "/api/v2../secret",
        "/api/v2..",
        "/api/v2.",
        "/api/v2..%2Fsecret",
        "/api/v2%2e%2e/secret",
        "/api/v2..;x/secret",
    ] {
        let answer = get(&format!("{base}{path}"), "GET", None).await;
        assert_eq!(answer.status, 400, "{path}");
    }
    assert_eq!(upstream.seen().len(), 2, "a rewritten dot segment was forwarded");
}

/// The port a test names for a listener (or an unreachable upstream) is held while the test
/// runs: a connection to it is refused, a bind of it without `SO_REUSEADDR` (any program's
/// that was handed it: a bind of port 0, an outgoing connection) fails, and the gateway, whose
/// listeners have `SO_REUSEADDR`, binds and listens on it. Before, the port was released at
/// once, and another test could take it before the gateway bound it: `EADDRINUSE`, seen once in
/// `a_path_its_route_rewrites_into_a_dot_segment_is_refused`.
#[test]
fn a_closed_port_is_refused_and_held_until_the_gateway_listens_on_it() {
    use socket2::{Domain, Socket, Type};
    let closed = closed_port();
    let address = SocketAddr::from(([127, 0, 0, 1], closed.port()));
    let refused = std::net::TcpStream::connect(address).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    let other = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let taken = other.bind(&address.into()).unwrap_err();
    assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse, "{taken}");
    let policy = common::example_policy("strict.yaml");
    let policy = policy.to_str().unwrap();
    let listen = address.to_string();
    // One socket without `SO_REUSEPORT`, then one per worker with it.
    for workers in ["1", "2"] {
        let mut args = vec!["serve", "--config", policy, "--listen", &listen];
        args.extend(["--upstream", "http://127.0.0.1:1", "--workers", workers]);
        assert_eq!(Gateway::start(&args).address, address);
    }
}

/// Finding F-BR: a `destinationPath` (or a service's path) with a dot segment made every request
/// of its route `400` (F-BQ's check of the path sent upstream). `check` refuses such a folder
/// with the place of the path, and a reload to it fails, logged with that place, and keeps the
/// previous configuration.
#[tokio::test(flavor = "multi_thread")]
async fn a_configured_path_with_a_dot_segment_is_refused_by_check_and_reload() {
    let upstream = Upstream::start().await;
    let port = closed_port();
    let scratch = Scratch::new();
    let folder = |destination: &str| {
        format!(
            "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nmetadata: {{name: api}}\n\
             spec:\n  address: http://127.0.0.1:{port}/api\n  services:\n    main:\n      \
             address: http://{}/svc\n      routes:\n        - config: {{destinationPath: {destination}}}\n",
            upstream.address
        )
    };
    let file = scratch.write("apis.yaml", &folder("/v1"));
    let gateway = serve(&scratch.dir, 1, &[]);
    let url = format!("http://127.0.0.1:{port}/api/x");
    assert_eq!(get(&url, "GET", None).await.status, 200);
    assert_eq!(last(&upstream, 1).path, "/svc/v1/x");

    scratch.write("apis.yaml", &folder("/v1/%2e%2e/admin"));
    let place = format!("{}:10:37: error", file.display());
    let (code, _, stderr) = run(&["check", scratch.dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&place) && stderr.contains("dot segment"), "{stderr}");
    gateway.wait_for_log("reload failed; keeping the previous configuration");
    assert!(gateway.stderr().contains(&place), "no {place} in:\n{}", gateway.stderr());
    assert_eq!(get(&url, "GET", None).await.status, 200);
    assert_eq!(last(&upstream, 2).path, "/svc/v1/x");
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_choose_by_host_and_header_and_each_listener_has_its_policy() {
    let (main, canary, open) =
        (Upstream::start().await, Upstream::start().await, Upstream::start().await);
    let scratch = Scratch::new();
    let (plain, secure) = (closed_port(), closed_port());
    routed_folder(&scratch, (plain.port(), secure.port()), (&main, &canary, &open), "/v9");
    let ca = TestCa::new("folder");
    let flags = ca.issue(&scratch, "gateway").flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let gateway = serve(&scratch.dir, 2, &flags);
    assert_eq!(gateway.listeners[0].0, "http");
    assert_eq!(gateway.listeners[1].0, "https");
    // Logged before the listeners are announced, but on stderr, which may be read later.
    gateway.wait_for_log("ApiInstance \"open\" has no cors-flex policy");
    let url = format!("http://127.0.0.1:{plain}/api/x");

    // The header rule takes the canary, with its destinationPath.
    let answer = send_with(&url, &[("x-env", "canary"), ("origin", SHOP)]).await;
    assert_eq!(answer.one("access-control-allow-origin").as_deref(), Some(SHOP));
    assert_eq!(last(&canary, 1).path, "/v9/x");
    // The host rule takes the main service; the Host is forwarded as the client sent it.
    let answer = send_with(&url, &[("host", "api.example.com:8080"), ("origin", SHOP)]).await;
    assert_eq!(answer.status, 200);
    let seen = last(&main, 1);
    assert_eq!(
        (seen.path.as_str(), seen.headers["host"].to_str().unwrap()),
        ("/x", "api.example.com:8080")
    );
    // Neither: no route.
    let answer = send_with(&url, &[("host", "other.example.com"), ("origin", SHOP)]).await;
    assert_eq!(answer.status, 404);
    assert_eq!(main.seen().len() + canary.seen().len(), 2);

    // The instance without cors-flex forwards every origin, adding nothing.
    let answer = send_with(&format!("http://127.0.0.1:{plain}/open/y"), &[("origin", EVIL)]).await;
    assert_eq!(answer.status, 200);
    assert!(answer.access_control().is_empty(), "{:?}", answer.headers);
    assert_eq!(last(&open, 1).path, "/y");

    // The https listener serves the certificate and its own (public) policy.
    let secure_url = format!("https://localhost:{secure}/z");
    let get = request("GET", &secure_url, &[("origin", EVIL)], empty());
    let address = gateway.listeners[1].1;
    let (_, answer) = common::tls::send(address, ca.client_config(&[b"h2"]), get).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.one("access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(last(&main, 2).path, "/secure/z");
}

/// Waits (bounded) until `check` passes on a fresh answer of `url`.
async fn wait_until(url: &str, headers: &[(&str, &str)], check: impl Fn(&Answer) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if check(&send_with(url, headers).await) {
            return;
        }
        assert!(Instant::now() < deadline, "the folder was never reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_reloads_the_folder_and_an_invalid_one_keeps_the_previous() {
    let (main, canary, open) =
        (Upstream::start().await, Upstream::start().await, Upstream::start().await);
    let scratch = Scratch::new();
    let (plain, secure) = (closed_port(), closed_port());
    routed_folder(&scratch, (plain.port(), secure.port()), (&main, &canary, &open), "/v1");
    let ca = TestCa::new("folder");
    let flags = ca.issue(&scratch, "gateway").flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let gateway = serve(&scratch.dir, 2, &flags);
    let url = format!("http://127.0.0.1:{plain}/api/x");
    let canary_request = [("x-env", "canary"), ("x-test-id", "probe")];
    send_with(&url, &canary_request).await;
    assert_eq!(last(&canary, 1).path, "/v1/x");

    // A new destinationPath, seen by polling.
    routed_folder(&scratch, (plain.port(), secure.port()), (&main, &canary, &open), "/v2");
    wait_until(&url, &canary_request, |_| canary.seen().last().unwrap().path == "/v2/x").await;
    gateway.wait_for_log("configuration reloaded");

    // A file with an error: logged with its place, the previous configuration is kept.
    let broken = scratch.write(
        "broken.yaml",
        "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nmetadata: {name: broken}\n\
         spec:\n  address: tcp://127.0.0.1:1\n",
    );
    gateway.signal("HUP");
    gateway.wait_for_log("reload failed; keeping the previous configuration");
    let place = format!("{}:5:12: error", broken.display());
    assert!(gateway.stderr().contains(&place), "no {place} in:\n{}", gateway.stderr());
    let before = canary.seen().len();
    send_with(&url, &canary_request).await;
    assert_eq!(last(&canary, before + 1).path, "/v2/x");
    std::fs::remove_file(&broken).unwrap();

    // A new file that adds a listener: a restart is needed; the configuration is kept.
    let port = closed_port();
    let more = format!(
        "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nmetadata: {{name: more}}\n\
         spec:\n  address: http://127.0.0.1:{port}\n  services:\n    s:\n      address: http://{}\n",
        open.address
    );
    scratch.write("more.yaml", &more);
    gateway.wait_for_log("restart cors-gateway to listen on the new set");
    assert!(gateway.stderr().contains(&format!("added: http://127.0.0.1:{port}")));
    send_with(&url, &canary_request).await;
    assert_eq!(canary.seen().last().unwrap().path, "/v2/x");

    // The same file on an existing listener, with a new base path: served after the reload.
    scratch.write("more.yaml", &more.replace(&format!(":{port}"), &format!(":{plain}/more")));
    let more_url = format!("http://127.0.0.1:{plain}/more/m");
    wait_until(&more_url, &[], |answer| answer.status == 200).await;
    assert_eq!(open.seen().last().unwrap().path, "/m");
}

/// The `cors_policy_info` lines of the gateway's `/metrics` (one per API instance with a
/// policy), and `cors_policy_reloads_total`, `cors_policy_reload_failures_total` and
/// `cors_gateway_config_reloads_total`.
async fn policy_metrics(admin: SocketAddr) -> (Vec<String>, String) {
    let text = tokio::task::spawn_blocking(move || common::metrics_text(admin)).await.unwrap();
    let info = text.lines().filter(|l| l.starts_with("cors_policy_info{")).map(str::to_owned);
    let reloads = text
        .lines()
        .filter(|l| {
            l.starts_with("cors_policy_reload") || l.starts_with("cors_gateway_config_reload")
        })
        .collect();
    (info.collect(), reloads)
}

/// With the admin listener, each API instance's policy is one `cors_policy_info` series named by
/// the instance, and a reload of the folder swaps them (only the changed instance's hash
/// changes) and is counted; a folder with errors is counted as a failed reload and keeps them.
#[tokio::test(flavor = "multi_thread")]
async fn a_folder_reload_updates_each_instance_policy_info() {
    // The upstreams stay up for `/readyz`.
    let Inline { folder, port, orders: _orders, catalog: _catalog, orders_v2: _orders_v2 } =
        Inline::start().await;
    let gateway = serve(&folder.dir, 1, &["--admin-listen", "127.0.0.1:0"]);
    let admin = gateway.admin_address();
    let (first, reloads) = policy_metrics(admin).await;
    assert!(reloads.contains("cors_policy_reloads_total 0"), "{reloads}");
    let hash_of = |info: &[String], api: &str| {
        let prefix = format!("cors_policy_info{{api=\"default/{api}\",hash=\"");
        let line = info.iter().find_map(|l| l.strip_prefix(&prefix)).unwrap();
        let (hash, rest) = line.split_once('"').unwrap();
        assert_eq!((hash.len(), rest), (64, "} 1"), "{line}");
        hash.to_owned()
    };
    assert_eq!(first.len(), 2, "{first:?}");
    let (orders_hash, catalog_hash) =
        (hash_of(&first, "orders-api"), hash_of(&first, "catalog-api"));
    assert_ne!(orders_hash, catalog_hash);
    let ready = get(&format!("http://{admin}/readyz"), "GET", None).await;
    let expected = format!(
        "ready: policies default/catalog-api {catalog_hash}, default/orders-api {orders_hash} \
         loaded, upstream reachable\n"
    );
    assert_eq!(std::str::from_utf8(&ready.body).unwrap(), expected);

    let text = std::fs::read_to_string(folder.dir.join("apis.yaml")).unwrap();
    let grown = "origins: [https://shop.example.com, https://admin.example.com]";
    // Written whole (then renamed into place): a check between emptying the file and writing
    // it, held still for one interval on a busy machine, would read a folder without an
    // ApiInstance and count a failed reload the test does not expect.
    folder.write("apis.yaml", &text.replace("origins: [https://shop.example.com]", grown));
    // Each reload is counted before it is logged: read once the line is.
    gateway.wait_for_log("configuration reloaded");
    let (second, reloads) = policy_metrics(admin).await;
    assert!(reloads.contains("cors_policy_reloads_total 1"), "{reloads}");
    assert_eq!(second.len(), 2, "{second:?}");
    assert_ne!(hash_of(&second, "orders-api"), orders_hash, "the changed policy");
    assert_eq!(hash_of(&second, "catalog-api"), catalog_hash, "the unchanged one");
    let base = format!("http://127.0.0.1:{port}");
    let answer = get(&format!("{base}/orders/1"), "GET", Some("https://admin.example.com")).await;
    assert_eq!(
        answer.one("access-control-allow-origin").as_deref(),
        Some("https://admin.example.com")
    );

    folder.write("broken.yaml", "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: [\n");
    gateway.wait_for_log("reload failed; keeping the previous configuration");
    let (third, reloads) = policy_metrics(admin).await;
    assert!(reloads.contains("cors_policy_reload_failures_total 1"), "{reloads}");
    assert_eq!(third, second, "a failed reload keeps the policies in force");
}

/// A reload that changes only a folder's routes is counted in
/// `cors_gateway_config_reloads_total`, not in `cors_policy_reloads_total`, whose policies are the
/// same; one that changes a policy counts in both. Before, a routes change counted nowhere, and
/// an operator watching the metrics could not see it take.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_of_routes_alone_counts_as_a_configuration_reload() {
    let Inline { folder, port, orders_v2, .. } = Inline::start().await;
    let gateway = serve(&folder.dir, 1, &["--admin-listen", "127.0.0.1:0"]);
    let admin = gateway.admin_address();
    let (_, reloads) = policy_metrics(admin).await;
    assert!(reloads.contains("cors_gateway_config_reloads_total 0"), "{reloads}");
    let text = std::fs::read_to_string(folder.dir.join("apis.yaml")).unwrap();
    folder.write("apis.yaml", &text.replace("destinationPath: /api/v2", "destinationPath: /v3"));
    // Each reload is counted before it is logged: read once the line is.
    gateway.wait_for_log("configuration reloaded");
    let (_, reloads) = policy_metrics(admin).await;
    assert!(reloads.contains("cors_gateway_config_reloads_total 1"), "{reloads}");
    assert!(reloads.contains("cors_policy_reloads_total 0"), "{reloads}");
    get(&format!("http://127.0.0.1:{port}/orders/v2/items"), "GET", Some(SHOP)).await;
    assert_eq!(last(&orders_v2, 1).path, "/v3/items", "the new route is in force");

    let grown = "origins: [https://shop.example.com, https://admin.example.com]";
    let text = std::fs::read_to_string(folder.dir.join("apis.yaml")).unwrap();
    folder.write("apis.yaml", &text.replace("origins: [https://shop.example.com]", grown));
    gateway.wait_for_log_lines("configuration reloaded", 2);
    let (_, reloads) = policy_metrics(admin).await;
    assert!(reloads.contains("cors_gateway_config_reloads_total 2"), "{reloads}");
    assert!(reloads.contains("cors_policy_reloads_total 1"), "{reloads}");
}

/// Findings F-L, F-T and F-V: nested base paths, `/api` granting a partner with credentials and
/// `/api/admin` granting only the shop, both in front of one upstream. A path that spells
/// `/api/admin` so that it matches `/api` only is either read as the upstream reads it (escaped
/// unreserved characters are decoded, RFC 3986 section 6.2.2.2) or refused when an escaped slash
/// or a backslash would put it under the other instance, and so is one whose empty segments
/// (`//`) or path parameters (`;x`) would. Before the fixes each was decided by the `/api`
/// instance, granted to the partner, and forwarded.
#[tokio::test(flavor = "multi_thread")]
async fn a_path_is_served_by_the_instance_the_upstream_reads_it_under() {
    const PARTNER: &str = "https://partner.example";
    let upstream = Upstream::start().await;
    let port = closed_port();
    let scratch = Scratch::new();
    let instance = |name: &str, base: &str, origin: &str| {
        format!(
            "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\n\
             metadata: {{name: {name}}}\nspec:\n  address: http://127.0.0.1:{port}{base}\n  \
             services:\n    main:\n      address: http://{}{base}\n  policies:\n    \
             - policyRef: {{name: cors-flex}}\n      config:\n        publicResource: false\n        \
             supportCredentials: true\n        \
             originGroups:\n          - origins: [{origin}]\n",
            upstream.address
        )
    };
    let text = [
        instance("api", "/api", PARTNER),
        instance("admin", "/api/admin", SHOP),
        instance("beta", "/api/v1:beta", SHOP),
    ];
    scratch.write("apis.yaml", &text.join("---\n"));
    let _gateway = serve(&scratch.dir, 1, &[]);
    let base = format!("http://127.0.0.1:{port}");
    let grant = |answer: &Answer| answer.one("access-control-allow-origin");

    // Escaped letters and `~`: decoded, decided by `/api/admin`, refused for the partner (A2).
    for path in ["/api/%61dmin/users", "/api/%61%64%6D%69%6E/users", "/api/admi%6e"] {
        let answer = get(&format!("{base}{path}"), "GET", Some(PARTNER)).await;
        assert_eq!((answer.status.as_u16(), grant(&answer)), (200, None), "{path}");
        assert!(upstream.seen().is_empty(), "{path} was forwarded");
    }
    // The shop is granted there, and the upstream gets the decoded path.
    let answer = get(&format!("{base}/api/%61dmin/%7Eroot"), "GET", Some(SHOP)).await;
    assert_eq!(grant(&answer).as_deref(), Some(SHOP));
    assert_eq!(last(&upstream, 1).path, "/api/admin/~root");

    // Each way some upstreams read a path: the spellings it puts under `/api/admin` get 400, no
    // Access-Control-* and are not forwarded; one it leaves under `/api` is granted and forwarded
    // as it came.
    let readings: [(&[&str], &str); 6] = [
        // An escaped slash or a backslash read as `/` (F-L). `%2F` inside a segment is how some
        // APIs name things (GitLab's `group%2Fproject`).
        (
            &[
                "/api/admin%2Fusers",
                "/api/admin%2fusers",
                "/api/admin%5Cusers",
                "/api/admin\\users",
            ],
            "/api/projects/group%2Fproject",
        ),
        // Empty segments merged, as nginx (by default) and Spring merge them (F-T).
        (
            &["/api//admin/users", "/api///admin", "/api/%2Fadmin/users", "/api/\\/admin/x"],
            "/api/files//x",
        ),
        // Path parameters dropped, as Tomcat, Jetty and Spring drop them (F-V).
        (
            &["/api/admin;x/users", "/api/admin;/users", "/api/admin%3Bv=1", "/api/admin;"],
            "/api/items;v=2/x",
        ),
        // Every escape decoded, as nginx decodes them before it matches a location (F-W).
        (&["/api/v1%3Abeta/x", "/api/v1%3abeta", "/api/v1:%62eta%2Fx"], "/api/a%3Ab"),
        // A decoded `?` or `#` read as the end of the path, as a server reads a path a proxy in
        // front decoded and sent on as it read it (Apache's mod_rewrite, CVE-2024-38474; nginx's
        // `proxy_pass` with `$uri`) (F-BF).
        (
            &["/api/admin%3F/users", "/api/admin%3f", "/api/admin%23/x", "/api/admin%3F"],
            "/api/a%3Fb",
        ),
        // Decoded whitespace or a line break read as the end of the request target, as a server
        // reads a request line that such a proxy wrote with the decoded path in it (nginx's
        // `proxy_pass` with `$uri`: request splitting) (F-BN).
        (
            &[
                "/api/admin%20HTTP/1.1%0D%0AX:/users",
                "/api/admin%0A/x",
                "/api/admin%09/x",
                "/api/admin%20",
            ],
            "/api/a%20b",
        ),
    ];
    for (forwarded, (refused, kept)) in (2..).zip(readings) {
        for path in refused {
            let answer = get(&format!("{base}{path}"), "GET", Some(PARTNER)).await;
            assert_eq!(answer.status, 400, "{path}");
            assert!(answer.access_control().is_empty(), "{path}: {:?}", answer.headers);
        }
        assert_eq!(upstream.seen().len(), forwarded - 1, "one of {refused:?} was forwarded");
        let answer = get(&format!("{base}{kept}"), "GET", Some(PARTNER)).await;
        assert_eq!(grant(&answer).as_deref(), Some(PARTNER), "{kept}");
        assert_eq!(last(&upstream, forwarded).path, kept);
    }
}

/// A folder of API instances, each on a listener of its own at `127.0.0.1:PORT` for each of
/// `ports`, all in front of `upstream`.
fn folder_of_listeners(ports: &[u16], upstream: &str) -> Scratch {
    let scratch = Scratch::new();
    for (n, port) in ports.iter().enumerate() {
        scratch.write(
            &format!("api{n}.yaml"),
            &format!(
                "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nmetadata:\n  \
                 name: api-{n}\nspec:\n  address: http://127.0.0.1:{port}\n  services:\n    \
                 up:\n      address: {upstream}\n  policies:\n    - policyRef:\n        \
                 name: cors-flex\n      config:\n        publicResource: true\n"
            ),
        );
    }
    scratch
}

/// Finding F-DT: each listener of a folder takes descriptors on every worker (its listening
/// socket there, and the connection the worker may hold accepted while it waits for a slot),
/// and each worker's runtime six in all. Sixteen workers on eight listeners take 203
/// descriptors idle; the budget kept 92 for them, so with `ulimit -n 256` the gateway started
/// with --max-connections lowered to 82 and accept failed with EMFILE from the 54th client
/// connection. It now counts them (346) and refuses that limit, naming what it needs.
#[test]
fn a_folder_of_many_listeners_on_many_workers_counts_their_descriptors() {
    let unreachable = closed_port();
    let upstream = format!("http://127.0.0.1:{unreachable}");
    let ports: Vec<ClosedPort> = (0..8).map(|_| closed_port()).collect();
    let folder =
        folder_of_listeners(&ports.iter().map(ClosedPort::port).collect::<Vec<_>>(), &upstream);
    let dir = folder.dir.to_str().unwrap();
    let (code, _, stderr) = run_with_open_files(
        Some(256),
        &["serve", "--config-dir", dir, "--workers", "16", "--watch-interval", "0"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("is 256, below the 378 cors-gateway needs (346 for itself, 32 for"),
        "{stderr}"
    );
}
