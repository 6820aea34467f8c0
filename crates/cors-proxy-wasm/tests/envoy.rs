//! Real Envoy running this crate's proxy-wasm module:
//!
//! - the whole conformance suite, against Envoy and against `cors-gateway`: the results must be
//!   equal, case by case and so level by level (issue 10);
//! - WebSocket through Envoy with a real client and upstream (issue 17): an allowed origin gets
//!   101 and a working tunnel, a refused one the filter's answer, and never reaches the upstream;
//! - the filter's decision counters in Envoy's `/stats` and `/stats/prometheus` (issue 17),
//!   checked against the traffic sent.
//!
//! The module is built once, as people build it (`cargo xtask wasm`: the `wasm-release` profile,
//! then binaryen's `wasm-opt` and `wasm-metadce`), and Envoy is started with it through
//! `cargo xtask envoy --module`, so the command people run is the one tested. Envoy and the
//! `wasm32-wasip1` target come from `scripts/install-envoy.sh`; if either is missing the test
//! fails and says so, it never skips.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::Duration;
use std::{fs, thread};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use cors_conformance::known::KnownFailures;
use cors_conformance::runner::{self, Outcome, Report, Selection};
use cors_conformance::{Corpus, HttpTarget, Level, UpstreamLog, profile, report, upstream};

/// Time for a proxy to print its ready line; Envoy's first start includes building the module.
const START_TIMEOUT: Duration = Duration::from_mins(15);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace());
    command
}

/// A proxy process (and its children) started in its own process group, stopped on drop.
struct Proxy {
    child: Child,
    url: String,
    /// Envoy's admin interface, `http://ADDR` (`cargo xtask envoy` prints it before the ready
    /// line); empty for cors-gateway.
    admin: String,
}

impl Proxy {
    /// Starts `command` and waits for its `listening on http://ADDR` line on stdout.
    fn start(mut command: Command, what: &str) -> Proxy {
        command.stdout(Stdio::piped()).stdin(Stdio::null()).process_group(0);
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (ready, wait) = mpsc::channel();
        thread::spawn(move || {
            let mut admin = String::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("admin on ") {
                    url.trim().clone_into(&mut admin);
                }
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = ready.send((url.trim().to_owned(), admin.clone()));
                }
            }
        });
        let mut proxy = Proxy { child, url: String::new(), admin: String::new() };
        let Ok((url, admin)) = wait.recv_timeout(START_TIMEOUT) else {
            let status = proxy.child.try_wait().ok().flatten();
            panic!(
                "{what} did not print `listening on http://ADDR` (exit status: {status:?}); \
                 its stderr above says why. Envoy and the wasm32-wasip1 target are installed \
                 by scripts/install-envoy.sh"
            );
        };
        proxy.url = url;
        proxy.admin = admin;
        proxy
    }

    /// `cargo xtask envoy` with the module and the policy `file`, forwarding to `upstream`.
    fn envoy(file: &str, upstream: &str) -> Proxy {
        let mut command = cargo();
        command.args(["xtask", "envoy", "--config", file, "--listen", "127.0.0.1:0"]);
        command.args(["--upstream", upstream, "--module", module()]);
        Proxy::start(command, "cargo xtask envoy")
    }

    /// The listener's `HOST:PORT`.
    fn address(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

/// The module, built once per test process with `cargo xtask wasm`, which prints its path first.
fn module() -> &'static str {
    static MODULE: OnceLock<String> = OnceLock::new();
    MODULE.get_or_init(|| {
        let mut build = cargo();
        build.args(["xtask", "wasm"]).stderr(Stdio::inherit());
        let output = build.output().expect("cargo runs");
        assert!(
            output.status.success(),
            "building the module failed; is the wasm32-wasip1 target installed? \
             scripts/install-envoy.sh adds it"
        );
        let stdout = String::from_utf8(output.stdout).expect("UTF-8 paths");
        let first = stdout.lines().next().expect("cargo xtask wasm prints the module's path");
        let (path, _size) = first.rsplit_once(" (").expect("PATH (N bytes)");
        assert!(
            Path::new(path)
                .file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with("cors_proxy_wasm.")),
            "{first}"
        );
        path.to_owned()
    })
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The whole group: `cargo xtask envoy` runs Envoy as its child.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// Starts the suite's echo upstream on a loopback port, in-process.
fn start_upstream() -> SocketAddr {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime for the upstream");
    let (listener, address) = runtime
        .block_on(upstream::bind(SocketAddr::from(([127, 0, 0, 1], 0))))
        .expect("the upstream binds a loopback port");
    thread::spawn(move || runtime.block_on(upstream::serve(listener, None)));
    address
}

fn run_profile(corpus: &Corpus, name: &str, proxy: &Proxy, target: &str) -> Report {
    let mut http = HttpTarget::new(&proxy.url, UpstreamLog::Stamp)
        .unwrap_or_else(|e| panic!("target {}: {e}", proxy.url))
        .with_name(target);
    runner::run(
        corpus,
        &Selection::all().profile(name),
        &mut http,
        &KnownFailures::none(),
        &mut |_, _| {},
    )
}

fn passed(result: &runner::CaseResult) -> bool {
    matches!(result.outcome, Outcome::Pass)
}

/// Passed and total counts per level.
fn per_level(report: &Report) -> BTreeMap<Level, (usize, usize)> {
    let mut levels = BTreeMap::new();
    for result in &report.results {
        let (pass, total) = levels.entry(result.level).or_insert((0, 0));
        *total += 1;
        *pass += usize::from(passed(result));
    }
    levels
}

/// The module Envoy loads exports the filter's two callbacks and none of the stream's others: the
/// proxy-wasm SDK exports every callback of the ABI, Envoy calls each one a module exports (the
/// response body, the stream's log and done, on every forwarded request), and `cargo xtask wasm`
/// removes those the filter does not implement with binaryen's `wasm-metadce`.
#[test]
fn the_module_exports_no_callback_the_filter_does_not_implement() {
    let module = module();
    assert!(
        module.ends_with(".opt.wasm"),
        "{module}: binaryen is not installed (scripts/install-envoy.sh installs it), so the \
         module keeps every export of the proxy-wasm SDK"
    );
    let wasm_dis = cors_devtools::find_program(None, &["wasm-dis"]).expect("binaryen's wasm-dis");
    let output = Command::new(wasm_dis).args(["--all-features", module]).output().expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).expect("wasm-dis prints text");
    let exports: Vec<&str> = text
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("(export \""))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    for implemented in ["proxy_on_request_headers", "proxy_on_response_headers"] {
        assert!(exports.contains(&implemented), "{implemented} is missing: {exports:?}");
    }
    let per_stream = [
        "proxy_on_request_body",
        "proxy_on_request_trailers",
        "proxy_on_response_body",
        "proxy_on_response_trailers",
        "proxy_on_log",
        "proxy_on_done",
    ];
    let left: Vec<&&str> = per_stream.iter().filter(|name| exports.contains(name)).collect();
    assert!(left.is_empty(), "Envoy would call {left:?} on every stream: {exports:?}");
}

/// The module links no float formatting (`{}` of an `f64`: core's Grisu and Dragon and their
/// tables, 22 KB of the optimised module, which cors-policy's max-age hint once brought in to
/// write a whole float). Read from the function names cargo's module keeps beside the optimised
/// one (wasm-opt strips them).
#[test]
fn the_module_links_no_float_formatting() {
    let built = Path::new(module()).with_file_name("cors_proxy_wasm.wasm");
    let bytes = fs::read(&built).unwrap_or_else(|e| panic!("{}: {e}", built.display()));
    let has = |name: &[u8]| bytes.windows(name.len()).any(|window| window == name);
    assert!(has(b"cors_policy"), "{}: no function names to read", built.display());
    assert!(!has(b"flt2dec"), "{} links core's float formatting", built.display());
}

#[test]
fn conformance_through_envoy_equals_cors_gateway_level_by_level() {
    let corpus = Corpus::builtin().expect("the built-in conformance cases load");
    let upstream = format!("http://{}", start_upstream());

    // Both proxies are built once, so every profile runs the same code.
    let mut build = cargo();
    build.args(["build", "--quiet", "-p", "cors-gateway", "--bin", "cors-gateway"]);
    assert!(build.status().expect("cargo runs").success(), "building cors-gateway failed");
    let target_dir = cors_devtools::target_dir();
    let gateway = target_dir.join("debug").join("cors-gateway");

    let mut envoy_runs = Vec::new();
    let mut gateway_runs = Vec::new();
    for profile in profile::PROFILES {
        let file = workspace().join("spec-tests/profiles").join(format!("{}.yaml", profile.name));
        let file = file.to_str().expect("a UTF-8 path");

        let mut command = Command::new(&gateway);
        command.args([
            "serve",
            "--config",
            file,
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream,
        ]);
        let proxy = Proxy::start(command, "cors-gateway");
        gateway_runs.push(run_profile(&corpus, profile.name, &proxy, "cors-gateway"));
        drop(proxy);

        let proxy = Proxy::envoy(file, &upstream);
        envoy_runs.push(run_profile(&corpus, profile.name, &proxy, "envoy"));
    }
    let envoy = merged(envoy_runs);
    let gateway = merged(gateway_runs);

    let out = target_dir.join("envoy");
    fs::create_dir_all(&out).expect("target/envoy can be created");
    fs::write(out.join("conformance-envoy.json"), report::json(&envoy)).expect("write");
    fs::write(out.join("conformance-gateway.json"), report::json(&gateway)).expect("write");
    eprintln!("Envoy + cors-proxy-wasm:\n{}", report::table(&envoy));
    eprintln!("cors-gateway:\n{}", report::table(&gateway));

    assert_eq!(envoy.results.len(), corpus.cases().len(), "every case ran against Envoy");
    let envoy_ids: Vec<&str> = envoy.results.iter().map(|r| r.id.as_str()).collect();
    let gateway_ids: Vec<&str> = gateway.results.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(envoy_ids, gateway_ids, "both runs list the same cases in the same order");
    let differing: Vec<String> = envoy
        .results
        .iter()
        .zip(&gateway.results)
        .filter(|(envoy, gateway)| passed(envoy) != passed(gateway))
        .map(|(envoy, _)| format!("{} (passes through Envoy: {})", envoy.id, passed(envoy)))
        .collect();
    assert!(
        differing.is_empty(),
        "{} case(s) differ between Envoy and cors-gateway:\n{}\n\n\
         Envoy's failures:\n{}\ncors-gateway's failures:\n{}",
        differing.len(),
        differing.join("\n"),
        report::text(&envoy),
        report::text(&gateway),
    );
    assert_eq!(per_level(&envoy), per_level(&gateway));
}

/// One report of every profile's run.
fn merged(runs: Vec<Report>) -> Report {
    let mut runs = runs.into_iter();
    let mut all = runs.next().expect("at least one profile");
    for run in runs {
        all.merge(run);
    }
    all
}

/// The policy of the tests below (the Envoy benchmark's): this origin is allowed, GET, POST and
/// PUT, with `x-custom` and `content-type`.
const POLICY: &str = "crates/cors-proxy-wasm/envoy/bench-policy.yaml";
const ALLOWED: &str = "https://app.example.test";
const REFUSED: &str = "https://evil.example.test";

fn policy() -> String {
    workspace().join(POLICY).to_str().expect("a UTF-8 path").to_owned()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
}

/// A WebSocket upstream on loopback, in-process: echoes every message back; counts the
/// connections it accepted.
fn start_websocket_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let runtime = runtime();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .expect("the WebSocket upstream binds a loopback port");
    let address = listener.local_addr().expect("a bound address");
    thread::spawn(move || {
        runtime.block_on(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
                        return;
                    };
                    while let Some(Ok(message)) = socket.next().await {
                        if message.is_close() || socket.send(message).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
    });
    (address, accepted)
}

type WebSocket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;
type Handshake = tokio_tungstenite::tungstenite::handshake::client::Response;

/// A WebSocket handshake through `proxy`, from a page on `origin` (none: a client that is not a
/// browser).
async fn open(
    proxy: &Proxy,
    origin: Option<&'static str>,
) -> Result<(WebSocket, Handshake), WsError> {
    let stream = tokio::net::TcpStream::connect(proxy.address()).await?;
    let mut request = format!("ws://{}/chat", proxy.address()).into_client_request()?;
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", HeaderValue::from_static(origin));
    }
    tokio_tungstenite::client_async(request, stream).await
}

/// Sends `message` and expects it back.
async fn echo(socket: &mut WebSocket, message: Message) {
    socket.send(message.clone()).await.expect("the message is sent");
    let back = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("the echo arrives within 10 s")
        .expect("the tunnel is open")
        .expect("a message");
    assert_eq!(back, message);
}

/// A header of a handshake answer, as text.
fn header<'r>(response: &'r Handshake, name: &str) -> Option<&'r str> {
    response.headers().get(name).map(|value| value.to_str().expect("ASCII"))
}

/// Issue 17: WebSocket through Envoy. Envoy's connection manager lets the upgrade reach the
/// filter (`upgrade_configs`); the filter decides it as the actual `GET` it is.
#[test]
fn websocket_through_envoy_is_decided_by_the_filter_then_tunnelled() {
    let (upstream, accepted) = start_websocket_upstream();
    let proxy = Proxy::envoy(&policy(), &format!("http://{upstream}"));
    runtime().block_on(async {
        // A1: an allowed origin gets 101, the decided headers, and a two-way tunnel.
        let (mut socket, response) = open(&proxy, Some(ALLOWED)).await.expect("101 through Envoy");
        assert_eq!(response.status(), 101);
        assert_eq!(header(&response, "access-control-allow-origin"), Some(ALLOWED));
        assert_eq!(header(&response, "vary"), Some("Origin"));
        echo(&mut socket, Message::text("hello through Envoy")).await;
        echo(&mut socket, Message::binary(vec![0_u8, 1, 2, 255])).await;
        socket.close(None).await.expect("a clean close");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);

        // R1: a client that sends no Origin (not a browser) is not CORS, and is tunnelled.
        let (mut socket, response) = open(&proxy, None).await.expect("101 without Origin");
        assert_eq!(response.status(), 101);
        assert_eq!(header(&response, "access-control-allow-origin"), None);
        echo(&mut socket, Message::text("no origin")).await;
        socket.close(None).await.expect("a clean close");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);

        // A2: a refused origin (cross-site WebSocket hijacking) gets the filter's local answer,
        // 200 without Access-Control-*, and never reaches the upstream.
        match open(&proxy, Some(REFUSED)).await {
            Err(WsError::Http(response)) => {
                assert_eq!(response.status(), 200, "{response:?}");
                assert!(
                    response
                        .headers()
                        .keys()
                        .all(|name| !name.as_str().starts_with("access-control-")),
                    "{response:?}"
                );
                assert_eq!(
                    response.headers().get("vary").map(|v| v.to_str().expect("ASCII")),
                    Some("Origin")
                );
            }
            Ok((_, response)) => panic!("a refused origin got a tunnel: {response:?}"),
            Err(error) => panic!("a refused origin should get the filter's answer: {error}"),
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "the refused handshake reached the upstream"
        );
    });
}

/// `METHOD PATH HTTP/1.1` to `address` with the header lines `fields` (each ending in CRLF), one
/// request per connection: the response's status, head and body.
fn request(address: &str, method: &str, path: &str, fields: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).expect("the proxy accepts");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("a timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: api.example.test\r\n{fields}Connection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("the request is sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("an answer");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok());
    (
        status.unwrap_or_else(|| panic!("no status line in {answer:?}")),
        head.to_owned(),
        body.to_owned(),
    )
}

/// The body of `GET path` on Envoy's admin interface.
fn admin(proxy: &Proxy, path: &str) -> String {
    let (status, head, body) = request(proxy.admin.trim_start_matches("http://"), "GET", path, "");
    assert_eq!(status, 200, "{head}");
    body
}

/// Issue 17: the filter's decision counters are Envoy's own stats, under the name and labels
/// cors-gateway's `/metrics` uses (`decision` and `rule`); they count exactly the traffic sent,
/// and, as on cors-gateway, only the pairs that occurred appear.
#[test]
fn decision_counters_show_in_envoy_stats() {
    let upstream = format!("http://{}", start_upstream());
    let proxy = Proxy::envoy(&policy(), &upstream);
    let origin = format!("Origin: {ALLOWED}\r\n");
    let preflight = |method: &str| format!("{origin}Access-Control-Request-Method: {method}\r\n");
    let sent: [(&str, &str, &str, String, usize); 6] = [
        ("not-cors", "R1", "GET", String::new(), 2),
        ("actual-allowed", "A1", "GET", origin.clone(), 3),
        ("actual-blocked", "M3", "GET", format!("Origin: {REFUSED}\r\n"), 1),
        ("actual-blocked", "M4", "GET", "Origin: null\r\n".to_owned(), 2),
        ("preflight-accepted", "P1", "OPTIONS", preflight("PUT"), 4),
        ("preflight-rejected", "P2", "OPTIONS", preflight("DELETE"), 1),
    ];
    for (decision, rule, method, fields, times) in &sent {
        for _ in 0..*times {
            let (status, head, _) = request(proxy.address(), method, "/", fields);
            assert_eq!(status, 200, "{decision} {rule}: {head}");
        }
    }

    let stats = admin(&proxy, "/stats?filter=cors_requests_total");
    let counted: Vec<&str> = stats.lines().filter(|l| l.contains("cors_requests_total")).collect();
    let expected: Vec<String> = sent
        .iter()
        .map(|(decision, rule, _, _, times)| {
            format!("wasmcustom.cors_requests_total.decision.{decision}.rule.{rule}: {times}")
        })
        .collect();
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(counted, sorted, "/stats:\n{stats}");

    let prometheus = admin(&proxy, "/stats/prometheus");
    for (decision, rule, _, _, times) in &sent {
        let line =
            format!("cors_requests_total{{decision=\"{decision}\",rule=\"{rule}\"}} {times}");
        assert!(prometheus.lines().any(|l| l == line), "{line:?} not in /stats/prometheus");
    }
    assert!(prometheus.contains("# TYPE cors_requests_total counter"), "{prometheus}");
}

/// The bootstrap `cargo xtask envoy` runs replaces a VM that traps (`failure_policy:
/// FAIL_RELOAD`) rather than Envoy's default, which answers every later request of the worker
/// `503` until a restart: the proxy-wasm SDK panics on a host status it does not expect. The
/// behaviour itself was probed by hand with a module that traps on demand (docs/envoy.md, "The
/// Envoy configuration"); this checks that the running Envoy has the setting.
#[test]
fn the_filter_is_configured_to_replace_a_vm_that_traps() {
    let upstream = format!("http://{}", start_upstream());
    let proxy = Proxy::envoy(&policy(), &upstream);
    let dump = admin(&proxy, "/config_dump");
    // The filter's configuration appears once per place the dump lists the listener.
    let policies: Vec<&str> = dump
        .lines()
        .filter(|line| line.contains("\"failure_policy\""))
        .map(|line| line.trim().trim_end_matches(','))
        .collect();
    assert!(!policies.is_empty(), "no failure_policy in /config_dump:\n{dump}");
    assert!(policies.iter().all(|p| *p == "\"failure_policy\": \"FAIL_RELOAD\""), "{policies:?}");
}

/// A free loopback port, for a bootstrap that names its listener's.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// An empty folder of this test process under cargo's scratch directory, named after `what`.
fn scratch(what: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{what}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("a directory for the bootstrap");
    dir
}

impl Proxy {
    /// Envoy with the bootstrap `bootstrap` (written by hand, its listener on loopback `port`),
    /// one worker, its log in `envoy.log` beside the bootstrap, whose path comes back too.
    fn envoy_with(bootstrap: &Path, port: u16) -> (Proxy, PathBuf) {
        let envoy =
            cors_devtools::find_program(Some("ENVOY"), &["envoy"]).expect("Envoy is installed");
        let mut command = Command::new(envoy);
        command.args(["--concurrency", "1", "--log-level", "warning", "-c"]).arg(bootstrap);
        command.args(["--base-id", &std::process::id().to_string()]);
        let log = bootstrap.with_file_name("envoy.log");
        let stderr = fs::File::create(&log).expect("Envoy's log file");
        let child = command.stdin(Stdio::null()).stderr(stderr).process_group(0).spawn();
        let child = child.expect("Envoy starts");
        let url = format!("http://127.0.0.1:{port}");
        (Proxy { child, url, admin: String::new() }, log)
    }
}

/// The listener of the reload tests: `http_filter` (a YAML flow mapping, the entry of
/// `http_filters` that runs the module) on a route that answers `200` itself, on `port`.
fn listener_with(port: u16, http_filter: &str) -> String {
    format!(
        r#"resources:
- "@type": type.googleapis.com/envoy.config.listener.v3.Listener
  name: cors
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }}
  filter_chains:
  - filters:
    - name: envoy.filters.network.http_connection_manager
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
        stat_prefix: cors
        route_config:
          virtual_hosts:
          - name: all
            domains: ["*"]
            routes:
            - match: {{ prefix: "/" }}
              direct_response: {{ status: 200, body: {{ inline_string: "ok" }} }}
        http_filters:
        - {http_filter}
        - name: envoy.filters.http.router
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"#
    )
}

/// The filter's configuration (an `envoy.extensions.filters.http.wasm.v3.Wasm`, as a YAML flow
/// mapping): the module with `policy` (a YAML flow mapping, in a double-quoted string).
fn wasm_config(policy: &str) -> String {
    let module = module();
    format!(
        r#"{{ "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm, config: {{ name: policy.yaml, root_id: cors-flex, configuration: {{ "@type": type.googleapis.com/google.protobuf.StringValue, value: "{policy}" }}, vm_config: {{ vm_id: cors-flex, runtime: envoy.wasm.runtime.v8, code: {{ local: {{ filename: "{module}" }} }} }} }} }}"#
    )
}

/// The `http_filters` entry that runs the module with `policy`, configured in the listener.
fn inline_filter(policy: &str) -> String {
    format!("{{ name: envoy.filters.http.wasm, typed_config: {} }}", wasm_config(policy))
}

/// A bootstrap in `dir` whose listener Envoy reads from the file `lds`, watched in its folder.
fn lds_bootstrap(dir: &Path, lds: &Path) -> PathBuf {
    let bootstrap = dir.join("bootstrap.yaml");
    let source = format!(
        "node: {{ id: reload, cluster: reload }}\ndynamic_resources:\n  lds_config:\n    \
         resource_api_version: V3\n    path_config_source:\n      path: {}\n      \
         watched_directory: {{ path: {} }}\n",
        lds.display(),
        dir.display(),
    );
    fs::write(&bootstrap, source).expect("the bootstrap is written");
    bootstrap
}

/// A policy of one origin group: `origin`, and no other, is allowed.
fn policy_of(origin: &str) -> String {
    format!(r"publicResource: false\noriginGroups: [{{origins: ['{origin}']}}]\n")
}

/// Writes `text` to `path` as Envoy's file watcher needs it: whole, by a rename.
fn replace(path: &Path, text: &str) {
    let partial = path.with_extension("partial");
    fs::write(&partial, text).expect("the listener is written");
    fs::rename(&partial, path).expect("the listener is moved into place");
}

/// The `Access-Control-Allow-Origin` the proxy at `address` answers `GET /` from `origin` with,
/// once it answers at all (Envoy takes a moment to start, or to take a new listener).
fn granted(address: &str, origin: &str) -> Option<String> {
    let head = format!("Origin: {origin}\r\n");
    let (_, head, _) = request(address, "GET", "/", &head);
    head.lines()
        .find_map(|line| line.strip_prefix("access-control-allow-origin: "))
        .map(str::to_owned)
}

/// Waits until `check` holds, polling every 100 ms for at most 30 s (a file watcher's reload
/// has no event a test can wait on); true if it did.
fn eventually(mut check: impl FnMut() -> bool) -> bool {
    (0..300).any(|_| {
        let held = check();
        if !held {
            thread::sleep(Duration::from_millis(100));
        }
        held
    })
}

/// The module with only the exports `cargo xtask wasm` keeps (`EXPORTS` in `xtask/src/envoy.rs`)
/// takes a new plugin configuration as Envoy reloads a listener (LDS: here from a watched
/// file), decides by it at once, and an invalid one is refused with the previous one kept: the
/// callbacks a reload calls (a new root context, `proxy_on_configure`) are exported.
#[test]
fn the_stripped_module_reloads_its_configuration() {
    let dir = scratch("reload");
    let port = free_port();
    let lds = dir.join("lds.yaml");
    replace(&lds, &listener_with(port, &inline_filter(&policy_of("https://a.test"))));
    let (proxy, log) = Proxy::envoy_with(&lds_bootstrap(&dir, &lds), port);
    let address = proxy.address();
    let answers = |origin| {
        eventually(|| TcpStream::connect(address).is_ok());
        granted(address, origin)
    };
    assert_eq!(answers("https://a.test").as_deref(), Some("https://a.test"));
    assert_eq!(answers("https://b.test"), None);

    replace(&lds, &listener_with(port, &inline_filter(&policy_of("https://b.test"))));
    assert!(
        eventually(|| granted(address, "https://b.test").as_deref() == Some("https://b.test")),
        "the new configuration was never applied"
    );
    assert_eq!(granted(address, "https://a.test"), None);

    replace(&lds, &listener_with(port, &inline_filter(r"publicResource: nope\n")));
    let rejected = || fs::read_to_string(&log).is_ok_and(|text| text.contains("config rejected"));
    assert!(eventually(rejected), "Envoy took the invalid configuration: see {}", log.display());
    assert_eq!(granted(address, "https://b.test").as_deref(), Some("https://b.test"));
    drop(proxy);
    let _ = fs::remove_dir_all(&dir);
}

/// A connection kept open across requests.
struct Connection(BufReader<TcpStream>);

impl Connection {
    fn open(address: &str) -> Connection {
        let stream = TcpStream::connect(address).expect("the proxy accepts");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("a timeout");
        Connection(BufReader::new(stream))
    }

    /// The `Access-Control-Allow-Origin` of the answer to `GET /` from `origin`, sent on this
    /// connection, which the answer must leave open.
    fn granted(&mut self, origin: &str) -> Option<String> {
        let head = format!("GET / HTTP/1.1\r\nHost: api.example.test\r\nOrigin: {origin}\r\n\r\n");
        self.0.get_mut().write_all(head.as_bytes()).expect("the request is sent");
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            self.0.read_line(&mut line).expect("an answer");
            assert!(!line.is_empty(), "the connection was closed after {lines:?}");
            if line == "\r\n" {
                break;
            }
            lines.push(line.trim_end().to_ascii_lowercase());
        }
        let field = |name: &str| lines.iter().find_map(|l| l.strip_prefix(name)).map(str::to_owned);
        assert_eq!(field("connection: "), None, "the connection is to stay open: {lines:?}");
        let length = field("content-length: ").and_then(|n| n.parse().ok());
        let mut body = vec![0; length.unwrap_or_else(|| panic!("no length in {lines:?}"))];
        self.0.read_exact(&mut body).expect("the body");
        field("access-control-allow-origin: ")
    }
}

/// F-DQ: a policy given to the filter by ECDS (the HTTP filter's `config_discovery`, as
/// docs/envoy.md shows) decides the next request of every connection, open ones included, as
/// soon as Envoy takes it: an origin the new policy drops is refused there at once. One given in
/// the listener (LDS, [`the_stripped_module_reloads_its_configuration`]) decides new connections
/// only; an open one keeps the policy it was opened with until Envoy drains it. An invalid
/// update is refused, and the previous policy keeps deciding.
#[test]
fn a_policy_given_by_ecds_decides_the_next_request_of_an_open_connection() {
    let dir = scratch("ecds");
    let port = free_port();
    // The filter's configuration in a folder of its own: a change to it is no listener update.
    let filters = dir.join("filters");
    fs::create_dir_all(&filters).expect("a folder for the filter's configuration");
    let ecds = filters.join("ecds.yaml");
    let resource = |policy: &str| {
        format!(
            "resources:\n- \"@type\": type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig\n  \
             name: cors-flex\n  typed_config: {}\n",
            wasm_config(policy)
        )
    };
    replace(&ecds, &resource(&policy_of("https://a.test")));
    let discovered = format!(
        "{{ name: cors-flex, config_discovery: {{ config_source: {{ resource_api_version: V3, \
         path_config_source: {{ path: {}, watched_directory: {{ path: {} }} }} }}, \
         type_urls: [type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm] }} }}",
        ecds.display(),
        filters.display(),
    );
    let lds = dir.join("lds.yaml");
    replace(&lds, &listener_with(port, &discovered));
    let (proxy, log) = Proxy::envoy_with(&lds_bootstrap(&dir, &lds), port);
    let address = proxy.address();
    assert!(eventually(|| TcpStream::connect(address).is_ok()), "see {}", log.display());
    let mut open = Connection::open(address);
    assert_eq!(open.granted("https://a.test").as_deref(), Some("https://a.test"));

    replace(&ecds, &resource(&policy_of("https://b.test")));
    assert!(
        eventually(|| granted(address, "https://b.test").as_deref() == Some("https://b.test")),
        "the new configuration was never applied: see {}",
        log.display()
    );
    assert_eq!(open.granted("https://a.test"), None, "the open connection kept the old policy");
    assert_eq!(open.granted("https://b.test").as_deref(), Some("https://b.test"));

    replace(&ecds, &resource(r"publicResource: nope\n"));
    let rejected =
        || fs::read_to_string(&log).is_ok_and(|text| text.contains("config update rejected"));
    assert!(eventually(rejected), "Envoy took the invalid configuration: see {}", log.display());
    assert_eq!(open.granted("https://b.test").as_deref(), Some("https://b.test"));
    assert_eq!(granted(address, "https://b.test").as_deref(), Some("https://b.test"));
    drop(proxy);
    let _ = fs::remove_dir_all(&dir);
}

/// F-DR: two filters of the module in one filter chain (two `WasmPlugin`s selecting one Istio
/// workload, say) are no union or intersection of their policies, and docs/envoy.md says what
/// they are: the first answers every preflight alone, an actual request must be allowed by both
/// to be forwarded, and a refusal of the second goes back through the first, which writes its
/// grant into it. So an origin only the first allows passes its preflight, then gets an empty
/// `200` that its page can read, instead of a CORS failure.
#[test]
fn two_filters_in_one_chain_are_documented_as_they_decide() {
    let dir = scratch("two-filters");
    let port = free_port();
    let both = "https://both.test";
    let policy = |origin: &str| {
        let methods = "allowedMethods: [{methodName: PUT, isAllowed: true}]";
        format!(
            r"publicResource: false\noriginGroups: [{{origins: ['{origin}', '{both}'], {methods}}}]\n"
        )
    };
    let first = inline_filter(&policy("https://first.test"));
    let second = inline_filter(&policy("https://second.test")).replace("policy.yaml", "second");
    let lds = dir.join("lds.yaml");
    replace(&lds, &listener_with(port, &format!("{first}\n        - {second}")));
    let (proxy, log) = Proxy::envoy_with(&lds_bootstrap(&dir, &lds), port);
    let address = proxy.address();
    assert!(eventually(|| TcpStream::connect(address).is_ok()), "see {}", log.display());
    let answer = |method, origin: &str| {
        let fields = format!("Origin: {origin}\r\nAccess-Control-Request-Method: PUT\r\n");
        let (_, head, body) = request(address, method, "/", &fields);
        let grant = head
            .lines()
            .find_map(|line| line.strip_prefix("access-control-allow-origin: "))
            .map(str::to_owned);
        (grant, body)
    };
    let granted = |origin: &str| Some(origin.to_owned());

    // Allowed by both: forwarded, and granted.
    assert_eq!(answer("PUT", both), (granted(both), "ok".to_owned()));
    // Preflights are the first filter's alone.
    assert_eq!(answer("OPTIONS", "https://first.test").0, granted("https://first.test"));
    assert_eq!(answer("OPTIONS", "https://second.test").0, None);
    // The second refuses what only the first allows, and the first grants the refusal.
    assert_eq!(answer("PUT", "https://first.test"), (granted("https://first.test"), String::new()));
    assert_eq!(answer("PUT", "https://second.test"), (None, String::new()));
    drop(proxy);
    let _ = fs::remove_dir_all(&dir);
}
