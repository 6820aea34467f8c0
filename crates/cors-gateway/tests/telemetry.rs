//! The admin listener (`/healthz`, `/readyz`, `/metrics`) and the access log (issue 17), tested
//! with real clients against cors-gateway as a process, in front of the spy upstream.
#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]
#![allow(clippy::float_cmp, reason = "the samples compared are counts, exact in an f64")]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::tls::TestCa;
use common::upstream::Upstream;
use common::websocket::{WsUpstream, exchange, open};
use common::{
    Answer, GATEWAY, Gateway, PATIENCE, Scratch, client, closed_port, empty, example_policy,
    raw_exchange, request, run, send,
};
use rstest::rstest;
use sha2::{Digest as _, Sha256};

const APP: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example";

fn strict() -> String {
    example_policy("strict.yaml").to_str().unwrap().to_owned()
}

/// `cors-gateway serve` with the strict policy in front of `upstream`, and `extra` flags.
fn gateway(policy: &str, upstream: &str, extra: &[&str]) -> Gateway {
    let mut args = vec!["serve", "--config", policy, "--listen", "127.0.0.1:0"];
    args.extend(["--upstream", upstream, "--watch-interval", "0"]);
    args.extend(extra);
    Gateway::start(&args)
}

async fn get(address: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let url = format!("http://{address}{path}");
    send(&client(false), request(method, &url, headers, empty())).await
}

/// The samples of a Prometheus text exposition (format 0.0.4), keyed `name{k="v",...}` with
/// the labels sorted. Hand-written for the test: every line must be a comment, blank, or a
/// well-formed sample of a family announced by a `# TYPE` line, or the test fails.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut typed = Vec::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(declaration) = line.strip_prefix("# TYPE ") {
            let (name, kind) = declaration.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.push(name.to_owned());
            continue;
        }
        if line.is_empty() || line.starts_with("# HELP ") {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("bad sample: {line:?}"));
        let name = &line[..name_end];
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "bad metric name {name:?}"
        );
        let family = typed.iter().find(|family| name.starts_with(family.as_str()));
        assert!(family.is_some(), "{name} has no # TYPE line before it");
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(inside) = rest.strip_prefix('{') {
            rest = inside;
            loop {
                if let Some(after) = rest.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let (key, after) = rest.split_once("=\"").unwrap();
                let mut value = String::new();
                let mut chars = after.char_indices();
                let end = loop {
                    let (index, c) = chars.next().unwrap_or_else(|| panic!("unclosed: {line}"));
                    match c {
                        '\\' => value.push(match chars.next().unwrap().1 {
                            'n' => '\n',
                            other => other,
                        }),
                        '"' => break index,
                        other => value.push(other),
                    }
                };
                labels.push(format!("{key}=\"{value}\""));
                rest = after[end + 1..].strip_prefix(',').unwrap_or(&after[end + 1..]);
            }
        }
        labels.sort();
        let value = rest.trim();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            other => other.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let key = if labels.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{}}}", labels.join(","))
        };
        assert!(samples.insert(key, value).is_none(), "a sample repeats: {line}");
    }
    samples
}

/// The metrics of the gateway whose admin listener is at `admin` (common's reader, off the
/// runtime's threads).
async fn metrics(admin: SocketAddr) -> BTreeMap<String, f64> {
    let text = tokio::task::spawn_blocking(move || common::metrics_text(admin)).await.unwrap();
    parse_metrics(&text)
}

/// The metrics once `ready` holds for them (totals of a request are counted when its response
/// body is done, which may be just after the client has read it).
async fn metrics_when(
    admin: SocketAddr,
    ready: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let samples = metrics(admin).await;
        if ready(&samples) {
            return samples;
        }
        assert!(Instant::now() < deadline, "the metrics never got there: {samples:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn value(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or_else(|| panic!("no {key} in {samples:#?}"))
}

/// The samples of `name` (all label sets).
fn family<'a>(samples: &'a BTreeMap<String, f64>, name: &str) -> Vec<(&'a str, f64)> {
    let prefix = format!("{name}{{");
    samples
        .iter()
        .filter(|(key, _)| key.starts_with(&prefix) || *key == name)
        .map(|(key, value)| (key.as_str(), *value))
        .collect()
}

/// What `/metrics` reports as the policy hash: the SHA-256 of `check --print FILE`.
fn printed_policy_hash(policy: &str) -> String {
    let (code, printed, _) = run(&["check", "--print", policy]);
    assert_eq!(code, 0);
    Sha256::digest(printed.as_bytes())
        .iter()
        .fold(String::new(), |hex, b| hex + &format!("{b:02x}"))
}

/// Two `Host` lines: refused with 400 before the CORS layer (no decision).
fn two_hosts(address: SocketAddr, path: &str) {
    let head = format!("GET {path} HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n");
    let raw = raw_exchange(address, head.as_bytes(), Duration::from_secs(2));
    assert!(raw.text.starts_with("HTTP/1.1 400"), "{}", raw.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_the_traffic_sent() {
    let upstream = Upstream::start().await;
    let policy = strict();
    let gateway = gateway(&policy, &upstream.url(), &["--admin-listen", "127.0.0.1:0"]);
    let (proxy, admin) = (gateway.address, gateway.admin_address());
    for _ in 0..3 {
        assert_eq!(get(proxy, "GET", "/", &[("origin", APP)]).await.body, "ok");
    }
    for _ in 0..2 {
        let blocked = get(proxy, "GET", "/", &[("origin", EVIL)]).await;
        assert!(blocked.access_control().is_empty());
    }
    let preflight = [("origin", APP), ("access-control-request-method", "PUT")];
    let accepted = get(proxy, "OPTIONS", "/", &preflight).await;
    assert!(!accepted.access_control().is_empty());
    let preflight = [("origin", APP), ("access-control-request-method", "PATCH")];
    assert!(get(proxy, "OPTIONS", "/", &preflight).await.access_control().is_empty());
    assert_eq!(get(proxy, "GET", "/", &[]).await.body, "ok");
    two_hosts(proxy, "/");

    let samples =
        metrics_when(admin, |s| s.get("cors_gateway_request_duration_seconds_count") == Some(&9.0))
            .await;
    let decisions = family(&samples, "cors_requests_total");
    assert_eq!(
        decisions,
        [
            ("cors_requests_total{decision=\"actual-allowed\",rule=\"A1\"}", 3.0),
            ("cors_requests_total{decision=\"actual-blocked\",rule=\"M3\"}", 2.0),
            ("cors_requests_total{decision=\"not-cors\",rule=\"R1\"}", 1.0),
            ("cors_requests_total{decision=\"preflight-accepted\",rule=\"P1\"}", 1.0),
            ("cors_requests_total{decision=\"preflight-rejected\",rule=\"P2\"}", 1.0),
        ]
    );
    let classes = family(&samples, "cors_gateway_responses_total");
    assert_eq!(
        classes,
        [
            ("cors_gateway_responses_total{status_class=\"1xx\"}", 0.0),
            ("cors_gateway_responses_total{status_class=\"2xx\"}", 8.0),
            ("cors_gateway_responses_total{status_class=\"3xx\"}", 0.0),
            ("cors_gateway_responses_total{status_class=\"4xx\"}", 1.0),
            ("cors_gateway_responses_total{status_class=\"5xx\"}", 0.0),
        ]
    );
    // The three allowed requests and the one without Origin went upstream.
    assert_eq!(value(&samples, "cors_gateway_upstream_duration_seconds_count"), 4.0);
    let upstream_time = value(&samples, "cors_gateway_upstream_duration_seconds_sum");
    let total_time = value(&samples, "cors_gateway_request_duration_seconds_sum");
    assert!(upstream_time > 0.0 && total_time > upstream_time, "{upstream_time} {total_time}");
    let infinite = value(&samples, "cors_gateway_request_duration_seconds_bucket{le=\"+Inf\"}");
    assert_eq!(infinite, 9.0);
    assert!(family(&samples, "cors_gateway_upstream_errors_total").iter().all(|(_, v)| *v == 0.0));
    // Each request above came on a connection of its own (the client pools them, so fewer).
    assert!(value(&samples, "cors_gateway_connections_total") >= 2.0);
    assert!(value(&samples, "cors_gateway_open_connections") >= 0.0);
    let hash = printed_policy_hash(&policy);
    assert_eq!(value(&samples, &format!("cors_policy_info{{hash=\"{hash}\"}}")), 1.0);
    assert_eq!(family(&samples, "cors_policy_info").len(), 1);
    assert_eq!(value(&samples, "cors_policy_reloads_total"), 0.0);
    // Exported from the start, so that an alert on its increase has a series to watch.
    assert_eq!(value(&samples, "cors_gateway_panics_total"), 0.0);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(value(&samples, &format!("cors_gateway_build_info{{version=\"{version}\"}}")), 1.0);
    for reason in ["queue_full", "write_error"] {
        let key = format!("cors_gateway_access_log_dropped_total{{reason=\"{reason}\"}}");
        assert_eq!(value(&samples, &key), 0.0);
    }

    // Scrapers that prefer OpenMetrics get it, with its end marker.
    let accept = [("accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")];
    let open = get(admin, "GET", "/metrics", &accept).await;
    assert!(open.one("content-type").unwrap().starts_with("application/openmetrics-text"));
    assert!(open.body.ends_with(b"# EOF\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_failures_are_counted_by_kind() {
    let closed = closed_port();
    let unreachable = format!("http://127.0.0.1:{closed}");
    let gateway = gateway(&strict(), &unreachable, &["--admin-listen", "127.0.0.1:0"]);
    assert_eq!(get(gateway.address, "GET", "/", &[("origin", APP)]).await.status, 502);
    let samples = metrics_when(gateway.admin_address(), |s| {
        s.get("cors_gateway_request_duration_seconds_count") == Some(&1.0)
    })
    .await;
    assert_eq!(value(&samples, "cors_gateway_upstream_errors_total{kind=\"connect\"}"), 1.0);
    assert_eq!(value(&samples, "cors_gateway_responses_total{status_class=\"5xx\"}"), 1.0);
    let allowed = "cors_requests_total{decision=\"actual-allowed\",rule=\"A1\"}";
    assert_eq!(value(&samples, allowed), 1.0, "the decision is counted even when upstream fails");

    let upstream = Upstream::start().await;
    let slow = gateway_with_timeout(&upstream);
    assert_eq!(get(slow.address, "GET", "/slow?ms=3000", &[]).await.status, 504);
    let samples = metrics(slow.admin_address()).await;
    assert_eq!(value(&samples, "cors_gateway_upstream_errors_total{kind=\"timeout\"}"), 1.0);
    assert_eq!(value(&samples, "cors_gateway_upstream_errors_total{kind=\"connect\"}"), 0.0);
    assert_eq!(value(&samples, "cors_gateway_upstream_duration_seconds_count"), 1.0);
}

fn gateway_with_timeout(upstream: &Upstream) -> Gateway {
    let extra = ["--admin-listen", "127.0.0.1:0", "--upstream-timeout", "300ms"];
    gateway(&strict(), &upstream.url(), &extra)
}

#[tokio::test(flavor = "multi_thread")]
async fn reloads_that_change_the_policy_are_counted_and_change_its_hash() {
    let scratch = Scratch::new();
    let strict_text = std::fs::read_to_string(strict()).unwrap();
    let file = scratch.write("policy.yaml", &strict_text);
    let file = file.to_str().unwrap();
    let upstream = Upstream::start().await;
    let gateway = gateway(file, &upstream.url(), &["--admin-listen", "127.0.0.1:0"]);
    let admin = gateway.admin_address();
    let first = printed_policy_hash(file);
    let samples = metrics(admin).await;
    assert_eq!(value(&samples, &format!("cors_policy_info{{hash=\"{first}\"}}")), 1.0);
    let loaded = value(&samples, "cors_policy_loaded_timestamp_seconds");

    // A SIGHUP that brings the same policy swaps in nothing new: not counted, and the policy in
    // force keeps its load time. Each reload is counted before it is logged.
    gateway.signal("HUP");
    gateway.wait_for_log("policy reloaded");
    let samples = metrics(admin).await;
    assert_eq!(value(&samples, "cors_policy_reloads_total"), 0.0, "nothing changed");
    assert_eq!(value(&samples, "cors_gateway_config_reloads_total"), 0.0, "nothing changed");
    assert_eq!(value(&samples, "cors_policy_loaded_timestamp_seconds"), loaded);

    scratch.write(
        "policy.yaml",
        &strict_text.replace("accessControlMaxAge: 600", "accessControlMaxAge: 60"),
    );
    let second = printed_policy_hash(file);
    assert_ne!(first, second);
    gateway.signal("HUP");
    gateway.wait_for_log_lines("policy reloaded", 2);
    let samples = metrics(admin).await;
    assert_eq!(value(&samples, "cors_policy_reloads_total"), 1.0);
    assert_eq!(value(&samples, "cors_gateway_config_reloads_total"), 1.0);
    assert_eq!(
        family(&samples, "cors_policy_info"),
        [(format!("cors_policy_info{{hash=\"{second}\"}}").as_str(), 1.0)]
    );

    scratch.write("policy.yaml", "originGroups: [");
    gateway.signal("HUP");
    gateway.wait_for_log("keeping the previous policy");
    let samples = metrics(admin).await;
    assert_eq!(value(&samples, "cors_policy_reload_failures_total"), 1.0);
    assert_eq!(value(&samples, "cors_policy_reloads_total"), 1.0);
    assert_eq!(value(&samples, &format!("cors_policy_info{{hash=\"{second}\"}}")), 1.0);
    let ready = get(admin, "GET", "/readyz", &[]).await;
    assert_eq!(
        std::str::from_utf8(&ready.body).unwrap(),
        format!("ready: policy {second} loaded, upstream reachable\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_and_readyz_follow_the_upstream() {
    let upstream = Upstream::start().await;
    let extra = ["--admin-listen", "127.0.0.1:0", "--ready-probe-interval", "0"];
    let gateway = gateway(&strict(), &upstream.url(), &extra);
    let admin = gateway.admin_address();
    let health = get(admin, "GET", "/healthz", &[]).await;
    assert_eq!((health.status.as_u16(), &health.body[..]), (200, &b"ok\n"[..]));
    let ready = get(admin, "GET", "/readyz", &[]).await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    assert!(ready.body.starts_with(b"ready: policy "));
    assert_eq!(ready.one("cache-control").unwrap(), "no-store");

    drop(upstream);
    let deadline = Instant::now() + PATIENCE;
    let not_ready = loop {
        let answer = get(admin, "GET", "/readyz", &[]).await;
        if answer.status == 503 || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(not_ready.status, 503);
    let text = String::from_utf8(not_ready.body.to_vec()).unwrap();
    assert!(
        text.starts_with("not ready: upstream 127.0.0.1:") && text.contains("unreachable"),
        "{text}"
    );
    assert_eq!(get(admin, "GET", "/healthz", &[]).await.status, 200, "alive all the same");
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_reuses_its_upstream_check_within_the_interval() {
    let upstream = Upstream::start().await;
    let extra = ["--admin-listen", "127.0.0.1:0", "--ready-probe-interval", "60s"];
    let gateway = gateway(&strict(), &upstream.url(), &extra);
    let admin = gateway.admin_address();
    assert_eq!(get(admin, "GET", "/readyz", &[]).await.status, 200);
    drop(upstream);
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..20 {
        assert_eq!(get(admin, "GET", "/readyz", &[]).await.status, 200, "the cached check");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_turns_503_while_shutting_down() {
    let upstream = Upstream::start().await;
    let mut gateway = gateway(&strict(), &upstream.url(), &["--admin-listen", "127.0.0.1:0"]);
    let admin = gateway.admin_address();
    // A request in flight keeps the gateway draining for a while after SIGTERM: sent once it
    // has reached the upstream. After a fixed pause it might not have, on a busy machine, and
    // the gateway, with nothing in flight, be gone before /readyz is asked.
    let slow = tokio::spawn(get(gateway.address, "GET", "/slow?ms=2000", &[]));
    upstream.wait_for_a_request().await;
    gateway.signal("TERM");
    gateway.wait_for_log("shutting down");
    let answer = get(admin, "GET", "/readyz", &[]).await;
    assert_eq!(
        (answer.status.as_u16(), &answer.body[..]),
        (503, &b"not ready: shutting down\n"[..])
    );
    assert_eq!(slow.await.unwrap().status, 200, "the request in flight finished");
    assert!(gateway.wait_exit().success());
}

#[rstest]
#[case::healthz_post("POST", "/healthz", 405)]
#[case::metrics_delete("DELETE", "/metrics", 405)]
#[case::head_is_get("HEAD", "/healthz", 200)]
#[case::unknown_path("GET", "/admin", 404)]
#[case::root("GET", "/", 404)]
#[case::api_path("GET", "/api/users", 404)]
#[case::a_query_is_ignored("GET", "/healthz?verbose=1", 200)]
#[tokio::test(flavor = "multi_thread")]
async fn the_admin_listener_answers_only_its_paths_and_methods(
    #[case] method: &str,
    #[case] path: &str,
    #[case] status: u16,
) {
    let closed = closed_port();
    let unreachable = format!("http://127.0.0.1:{closed}");
    let gateway = gateway(&strict(), &unreachable, &["--admin-listen", "127.0.0.1:0"]);
    let answer = get(gateway.admin_address(), method, path, &[]).await;
    assert_eq!(answer.status, status);
    if status == 405 {
        assert_eq!(answer.one("allow").unwrap(), "GET, HEAD");
    }
    if method == "HEAD" {
        assert!(answer.body.is_empty());
    }
}

#[rstest]
#[case::same_address("127.0.0.1")]
#[case::every_address("0.0.0.0")]
fn the_admin_listener_refuses_the_proxy_address(#[case] admin_host: &str) {
    let port = closed_port();
    let listen = format!("127.0.0.1:{port}");
    let admin = format!("{admin_host}:{port}");
    let policy = strict();
    let args =
        ["serve", "--config", &policy, "--listen", &listen, "--upstream", "http://127.0.0.1:1"];
    let (code, stdout, stderr) = run(&[&args[..], &["--admin-listen", &admin]].concat());
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("may not share the proxy listener's address"), "{stderr}");
    assert!(!stdout.contains("listening on"), "nothing was announced: {stdout}");
}

#[test]
fn access_log_file_needs_a_format() {
    let policy = strict();
    let args = ["serve", "--config", &policy, "--upstream", "http://127.0.0.1:1"];
    let (code, _, stderr) = run(&[&args[..], &["--access-log-file", "/tmp/never.log"]].concat());
    assert_eq!(code, 2, "a usage error: {stderr}");
    assert!(stderr.contains("add --access-log text or --access-log json"), "{stderr}");
}

/// Hostile clients of the admin listener get errors or a closed connection, within the
/// deadlines, and the admin listener keeps answering (as does the proxy).
#[tokio::test(flavor = "multi_thread")]
async fn the_admin_listener_is_bounded_like_the_proxy() {
    let upstream = Upstream::start().await;
    let extra = ["--admin-listen", "127.0.0.1:0", "--header-read-timeout", "1s"];
    let gateway = gateway(&strict(), &upstream.url(), &extra);
    let admin = gateway.admin_address();
    let garbage = raw_exchange(admin, b"\x00\x01\x02 GARBAGE\r\n\r\n", Duration::from_secs(5));
    assert!(
        garbage.closed && (garbage.text.is_empty() || garbage.text.starts_with("HTTP/1.1 400"))
    );
    let huge = format!("GET /healthz HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    let huge = raw_exchange(admin, huge.as_bytes(), Duration::from_secs(5));
    assert!(
        huge.closed && (huge.text.is_empty() || huge.text.starts_with("HTTP/1.1 431")),
        "{}",
        huge.text
    );
    let started = Instant::now();
    let silent = raw_exchange(admin, b"GET /healthz HTTP/1.1\r\n", Duration::from_secs(10));
    assert!(silent.closed && silent.text.is_empty(), "{}", silent.text);
    assert!(started.elapsed() < Duration::from_secs(5), "closed by the header deadline");

    // More silent connections than the admin listener serves at once: the extra ones wait in
    // the backlog, the proxy is unaffected, and once the deadline closes them /healthz answers.
    let silent: Vec<TcpStream> = (0..24).map(|_| TcpStream::connect(admin).unwrap()).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(get(gateway.address, "GET", "/", &[]).await.status, 200);
    let started = Instant::now();
    assert_eq!(get(admin, "GET", "/healthz", &[]).await.status, 200);
    assert!(started.elapsed() < PATIENCE);
    drop(silent);
    // Logged before the banner line, but read from the pipe on a thread of its own, which a
    // busy machine may not have run since: waited for (bounded), not looked up once.
    tokio::task::spawn_blocking(move || gateway.wait_for_log("admin listener ready"))
        .await
        .unwrap();
}

/// The access log's JSON lines of a request per decision, as `serde_json` parses them.
#[tokio::test(flavor = "multi_thread")]
async fn json_access_log_lines_name_each_decision_and_rule() {
    let upstream = Upstream::start().await;
    let gateway = gateway(&strict(), &upstream.url(), &["--access-log", "json"]);
    let proxy = gateway.address;
    let secrets = [("cookie", "session=c00kie"), ("authorization", "Bearer s3cret-t0ken")];
    let allowed = [("origin", APP), secrets[0], secrets[1]];
    assert_eq!(get(proxy, "GET", "/allowed?q=qu3ry", &allowed).await.body, "ok");
    get(proxy, "GET", "/blocked", &[("origin", EVIL)]).await;
    let ok = [("origin", APP), ("access-control-request-method", "PUT")];
    get(proxy, "OPTIONS", "/preflight-ok", &ok).await;
    let bad = [("origin", APP), ("access-control-request-method", "PATCH")];
    get(proxy, "OPTIONS", "/preflight-bad", &bad).await;
    get(proxy, "POST", "/plain", &[]).await;
    get(proxy, "GET", "/malformed", &[("origin", "HTTPS://APP.EXAMPLE.COM")]).await;
    two_hosts(proxy, "/two-hosts");
    let h2 = request("GET", &gateway.url("/h2"), &[("origin", APP)], empty());
    assert_eq!(send(&client(true), h2).await.body, "ok");

    let deadline = Instant::now() + PATIENCE;
    while gateway.stdout().lines().count() < 8 {
        assert!(Instant::now() < deadline, "access log: {}", gateway.stdout());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stdout = gateway.stdout();
    for secret in ["c00kie", "s3cret-t0ken", "qu3ry"] {
        assert!(!stdout.contains(secret), "{secret} was logged: {stdout}");
    }
    let lines: BTreeMap<String, serde_json::Value> = stdout
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            (value["path"].as_str().unwrap().to_owned(), value)
        })
        .collect();
    let check =
        |path: &str, method: &str, status: u16, decision: &str, rule: &str, origin: &str| {
            let line = &lines[path];
            let expected = |text: &str| {
                if text == "-" { serde_json::Value::Null } else { text.into() }
            };
            assert_eq!(line["method"], method, "{line}");
            assert_eq!(line["status"], status, "{line}");
            assert_eq!(line["decision"], expected(decision), "{line}");
            assert_eq!(line["rule"], expected(rule), "{line}");
            assert_eq!(line["origin"], expected(origin), "{line}");
            assert_eq!(line["proto"], "HTTP/1.1");
            assert!(line["client"].as_str().unwrap().starts_with("127.0.0.1:"), "{line}");
            let time = line["time"].as_str().unwrap();
            assert!(humantime::parse_rfc3339(time).is_ok() && time.ends_with('Z'), "{time}");
            assert!(line["total_ms"].as_f64().unwrap() >= 0.0);
            let object = line.as_object().unwrap();
            let keys: Vec<&str> = object.keys().map(String::as_str).collect();
            let mut expected_keys = [
                "bytes",
                "client",
                "decision",
                "method",
                "origin",
                "path",
                "proto",
                "rule",
                "status",
                "time",
                "total_ms",
                "upstream_ms",
            ];
            expected_keys.sort_unstable();
            assert_eq!(keys, expected_keys, "exactly these fields");
            line.clone()
        };
    let allowed = check("/allowed", "GET", 200, "actual-allowed", "A1", APP);
    assert_eq!(allowed["bytes"], 2, "the upstream's \"ok\"");
    assert!(allowed["upstream_ms"].as_f64().unwrap() <= allowed["total_ms"].as_f64().unwrap());
    let blocked = check("/blocked", "GET", 200, "actual-blocked", "M3", EVIL);
    assert_eq!((&blocked["bytes"], &blocked["upstream_ms"]), (&0.into(), &serde_json::Value::Null));
    check("/preflight-ok", "OPTIONS", 200, "preflight-accepted", "P1", APP);
    check("/preflight-bad", "OPTIONS", 200, "preflight-rejected", "P2", APP);
    let plain = check("/plain", "POST", 200, "not-cors", "R1", "-");
    assert!(plain["upstream_ms"].is_f64());
    check("/malformed", "GET", 200, "actual-blocked", "R5", "invalid");
    let refused = check("/two-hosts", "GET", 400, "-", "-", "-");
    assert!(refused["bytes"].as_u64().unwrap() > 0, "the 400's text");
    let h2 = &lines["/h2"];
    assert_eq!(
        (&h2["proto"], &h2["decision"], &h2["rule"]),
        (&"HTTP/2.0".into(), &"actual-allowed".into(), &"A1".into())
    );
    assert_eq!(lines.len(), 8);
}

/// Parses a text access log line into its (key, value) pairs, undoing the escaping of quoted
/// values (`\\`, `\"`, `\'`, `\t`, `\r`, `\n`, `\xHH`); every byte of the line must belong to a
/// pair, so a forged or split field fails the parse.
fn parse_text_line(line: &str) -> Vec<(String, Vec<u8>)> {
    assert!(line.bytes().all(|b| (0x20..0x7f).contains(&b)), "printable ASCII only: {line:?}");
    let mut pairs = Vec::new();
    let mut rest = line.as_bytes();
    while !rest.is_empty() {
        let equals = rest.iter().position(|&b| b == b'=').unwrap();
        let key = String::from_utf8(rest[..equals].to_vec()).unwrap();
        rest = &rest[equals + 1..];
        let mut value = Vec::new();
        if let Some(quoted) = rest.strip_prefix(b"\"") {
            let mut index = 0;
            loop {
                match quoted[index] {
                    b'"' => break,
                    b'\\' => {
                        index += 1;
                        value.push(match quoted[index] {
                            b't' => b'\t',
                            b'r' => b'\r',
                            b'n' => b'\n',
                            b'x' => {
                                let hex =
                                    std::str::from_utf8(&quoted[index + 1..index + 3]).unwrap();
                                index += 2;
                                u8::from_str_radix(hex, 16).unwrap()
                            }
                            other => other,
                        });
                    }
                    other => value.push(other),
                }
                index += 1;
            }
            rest = &quoted[index + 1..];
        } else {
            let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
            value.extend_from_slice(&rest[..end]);
            rest = &rest[end..];
        }
        pairs.push((key, value));
        rest = rest.strip_prefix(b" ").unwrap_or(rest);
    }
    let keys: Vec<&str> = pairs.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "time",
            "client",
            "method",
            "path",
            "proto",
            "origin",
            "status",
            "decision",
            "rule",
            "upstream_ms",
            "total_ms",
            "bytes"
        ],
        "{line}"
    );
    pairs
}

/// Hostile bytes in the method and the request target are escaped: every line the gateway
/// writes parses back into exactly its twelve fields, with the bytes the client sent. Requests
/// hyper refuses (CR or LF in the target, control bytes) never reach the log; their 400 comes
/// from the HTTP parser.
#[tokio::test(flavor = "multi_thread")]
async fn text_access_log_lines_cannot_be_split_or_forged() {
    let upstream = Upstream::start().await;
    let scratch = Scratch::new();
    let log = scratch.dir.join("access.log");
    let extra =
        ["--access-log", "text", "--access-log-file", log.to_str().unwrap(), "--access-log-query"];
    let gateway = gateway(&strict(), &upstream.url(), &extra);
    // (request target, whether hyper and the http crate accept it).
    let targets: [(&[u8], bool); 12] = [
        (b"/quote\"d", true),
        (b"/back\\slash", true),
        (b"/forge\"status=999\"decision=actual-allowed\\\"", true),
        (b"/utf8-caf\xc3\xa9", true),
        (b"/percent%0d%0a%22", true),
        (b"/apostrophe'{}|^?q='1'", true),
        (b"/not-utf8-\xff\xfe", false),
        (b"/new\rline", false),
        (b"/tab\tbed", false),
        (b"/del\x7f", false),
        (b"/back`tick", false),
        (b"/q?a=\"1\"", false),
    ];
    let mut sent = Vec::new();
    for (target, accepted) in targets {
        let mut head = b"GET ".to_vec();
        head.extend_from_slice(target);
        head.extend_from_slice(b" HTTP/1.1\r\nHost: a.test\r\nOrigin: https://x\"y\r\n");
        head.extend_from_slice(b"Connection: close\r\n\r\n");
        let answer = raw_exchange(gateway.address, &head, Duration::from_secs(5));
        let status = if accepted { "HTTP/1.1 200" } else { "HTTP/1.1 400" };
        assert!(answer.text.starts_with(status), "{:?}: {}", target.escape_ascii(), answer.text);
        if accepted {
            sent.push(target);
        }
    }
    for (method, accepted) in
        [(&b"M!#$%&'*+-.^_`|~X"[..], true), (b"M\xffX", false), (b"M\"X", false)]
    {
        let mut head = method.to_vec();
        head.extend_from_slice(b" /method HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
        let answer = raw_exchange(gateway.address, &head, Duration::from_secs(5));
        let status = if accepted { "HTTP/1.1 200" } else { "HTTP/1.1 400" };
        assert!(answer.text.starts_with(status), "{:?}: {}", method.escape_ascii(), answer.text);
    }
    let method = b"M!#$%&'*+-.^_`|~X";
    let expected = sent.len() + 1;
    let deadline = Instant::now() + PATIENCE;
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().count() >= expected {
            break text;
        }
        assert!(Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let lines: Vec<Vec<(String, Vec<u8>)>> = text.lines().map(parse_text_line).collect();
    assert_eq!(lines.len(), expected, "one line per request:\n{text}");
    for (target, fields) in sent.iter().zip(&lines) {
        let field = |key: &str| fields.iter().find(|(k, _)| k == key).unwrap().1.clone();
        assert_eq!(field("path"), *target, "{text}");
        assert_eq!(field("status"), b"200");
        assert_eq!(field("origin"), b"invalid", "a malformed origin is never written");
        assert_eq!(field("decision"), b"actual-blocked");
    }
    let last = &lines[expected - 1];
    assert_eq!(last[2], ("method".to_owned(), method.to_vec()));
    assert_eq!(last[7], ("decision".to_owned(), b"not-cors".to_vec()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_access_log_file_is_reopened_on_sighup() {
    let upstream = Upstream::start().await;
    let scratch = Scratch::new();
    let log = scratch.dir.join("access.log");
    let rotated = scratch.dir.join("access.log.1");
    let extra = ["--access-log", "text", "--access-log-file", log.to_str().unwrap()];
    let gateway = gateway(&strict(), &upstream.url(), &extra);
    get(gateway.address, "GET", "/before", &[]).await;
    let deadline = Instant::now() + PATIENCE;
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("/before") {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::fs::rename(&log, &rotated).unwrap();
    gateway.signal("HUP");
    gateway.wait_for_log("access log reopened");
    get(gateway.address, "GET", "/after", &[]).await;
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("/after") {
        assert!(Instant::now() < deadline, "{}", gateway.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(old.contains("/before") && !old.contains("/after"), "{old}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o007, 0, "not readable by others: {mode:o}");
    }
}

/// A request that `--shutdown-timeout` cuts gets its access log line, `499` as for a client
/// gone, before the gateway exits: the log was closed before the connections the timeout left
/// were dropped, and their lines were lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_cut_by_the_shutdown_timeout_is_logged() {
    let upstream = Upstream::start().await;
    let scratch = Scratch::new();
    let log = scratch.dir.join("access.log");
    let extra = ["--access-log", "text", "--access-log-file", log.to_str().unwrap()];
    let mut gateway =
        gateway(&strict(), &upstream.url(), &[&extra[..], &["--shutdown-timeout", "1s"]].concat());
    let mut hanging = TcpStream::connect(gateway.address).unwrap();
    hanging.write_all(b"GET /slow?ms=60000 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    upstream.wait_for_a_request().await;
    gateway.signal("TERM");
    let status = gateway.wait_exit();
    assert!(status.success(), "{status}: {}", gateway.stderr());
    assert!(gateway.stderr().contains("shutdown timed out"), "{}", gateway.stderr());
    let written = std::fs::read_to_string(&log).unwrap();
    let line = written.lines().find(|line| line.contains(" path=\"/slow\" "));
    assert!(line.is_some_and(|line| line.contains(" status=499 ")), "{written:?}");
}

/// The requests the shutdown timeout cuts on every worker are all logged: each worker's runtime
/// is shut down, its connections writing their lines, before the access log closes.
#[tokio::test(flavor = "multi_thread")]
async fn requests_cut_by_the_shutdown_timeout_on_every_worker_are_logged() {
    let upstream = Upstream::start().await;
    let scratch = Scratch::new();
    let log = scratch.dir.join("access.log");
    let extra = ["--access-log", "text", "--access-log-file", log.to_str().unwrap()];
    let more = ["--shutdown-timeout", "1s", "--workers", "2"];
    let mut gateway = gateway(&strict(), &upstream.url(), &[&extra[..], &more].concat());
    let hanging: Vec<TcpStream> = (0..16)
        .map(|_| {
            let mut stream = TcpStream::connect(gateway.address).unwrap();
            stream.write_all(b"GET /slow?ms=60000 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
            stream
        })
        .collect();
    let deadline = Instant::now() + PATIENCE;
    while upstream.seen().len() < hanging.len() {
        assert!(Instant::now() < deadline, "not every request reached the upstream");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    #[cfg(target_os = "linux")]
    assert_eq!(gateway.workers_that_accepted(16), ["0", "1"], "{}", gateway.stderr());
    gateway.signal("TERM");
    let status = gateway.wait_exit();
    assert!(status.success(), "{status}: {}", gateway.stderr());
    let written = std::fs::read_to_string(&log).unwrap();
    let cut = written.lines().filter(|line| line.contains(" path=\"/slow\" "));
    assert_eq!(cut.filter(|line| line.contains(" status=499 ")).count(), 16, "{written:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_access_log_nothing_is_written_to_stdout() {
    let upstream = Upstream::start().await;
    let gateway = gateway(&strict(), &upstream.url(), &[]);
    get(gateway.address, "GET", "/", &[("origin", APP)]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(gateway.stdout(), "");
}

/// A client that stops reading the gateway's stdout fills the pipe and then the log's queue:
/// lines are dropped and counted, and every request is still answered.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_stdout_drops_lines_and_never_holds_requests() {
    let upstream = Upstream::start().await;
    let upstream_url = upstream.url();
    let policy = strict();
    let mut child = Command::new(GATEWAY)
        .args([
            "serve",
            "--config",
            &policy,
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream_url,
        ])
        .args(["--admin-listen", "127.0.0.1:0", "--access-log", "text", "--watch-interval", "0"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read the banner, then never read stdout again.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (mut admin, mut proxy) = (None, None);
    while proxy.is_none() {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "no banner");
        let line = line.trim_end();
        if let Some(address) = line.strip_prefix("admin listening on http://") {
            admin = Some(address.parse::<SocketAddr>().unwrap());
        }
        if let Some(address) = line.strip_prefix("listening on http://") {
            proxy = Some(address.parse::<SocketAddr>().unwrap());
        }
    }
    let (admin, proxy) = (admin.unwrap(), proxy.unwrap());
    // Pipelined preflights, answered locally: more lines than the pipe and the queue hold.
    let preflight = b"OPTIONS / HTTP/1.1\r\nHost: a.test\r\nOrigin: https://app.example.com\r\n\
        Access-Control-Request-Method: PUT\r\n\r\n";
    let (connections, per_connection) = (4, 3000);
    let clients: Vec<_> = (0..connections)
        .map(|_| {
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(proxy).unwrap();
                stream.set_read_timeout(Some(PATIENCE)).unwrap();
                let mut reader = stream.try_clone().unwrap();
                let writer = std::thread::spawn(move || {
                    for _ in 0..per_connection {
                        stream.write_all(preflight).unwrap();
                    }
                    stream
                });
                let mut received = Vec::new();
                let mut buffer = [0u8; 16384];
                let answers =
                    |bytes: &[u8]| bytes.windows(12).filter(|w| w == b"HTTP/1.1 200").count();
                while answers(&received) < per_connection {
                    let n = reader.read(&mut buffer).unwrap();
                    assert!(n > 0, "closed after {} answers", answers(&received));
                    received.extend_from_slice(&buffer[..n]);
                }
                drop(writer.join().unwrap());
                answers(&received)
            })
        })
        .collect();
    let answered: usize = clients.into_iter().map(|client| client.join().unwrap()).sum();
    assert_eq!(answered, connections * per_connection);
    let samples = metrics(admin).await;
    let dropped = value(&samples, "cors_gateway_access_log_dropped_total{reason=\"queue_full\"}");
    assert!(dropped > 0.0, "the queue overflowed: {samples:#?}");
    let accepted = "cors_requests_total{decision=\"preflight-accepted\",rule=\"P1\"}";
    assert_eq!(value(&samples, accepted), 12_000.0);
    let _ = child.kill();
    let _ = child.wait();
    drop(stdout);
}

/// A client that goes away before its response is ready gets a line with status 499, as nginx
/// logs it, without a decision; its request is not counted as answered.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_leaves_before_the_answer_is_logged_with_499() {
    let upstream = Upstream::start().await;
    let extra = ["--access-log", "json", "--admin-listen", "127.0.0.1:0"];
    let gateway = gateway(&strict(), &upstream.url(), &extra);
    let mut stream = TcpStream::connect(gateway.address).unwrap();
    stream.write_all(b"GET /slow?ms=5000 HTTP/1.1\r\nHost: a.test\r\n\r\n").unwrap();
    upstream.wait_for_a_request().await;
    drop(stream);
    let started = Instant::now();
    let deadline = started + PATIENCE;
    while gateway.stdout().is_empty() {
        assert!(Instant::now() < deadline, "no line");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(started.elapsed() < Duration::from_secs(4), "logged when the client left");
    let line: serde_json::Value = serde_json::from_str(gateway.stdout().trim_end()).unwrap();
    assert_eq!((&line["path"], &line["status"]), (&"/slow".into(), &499.into()), "{line}");
    assert_eq!((&line["decision"], &line["bytes"]), (&serde_json::Value::Null, &0.into()));
    let samples = metrics(gateway.admin_address()).await;
    assert!(family(&samples, "cors_gateway_responses_total").iter().all(|(_, v)| *v == 0.0));
    assert_eq!(value(&samples, "cors_gateway_request_duration_seconds_count"), 0.0);
}

/// The strict policy on a TLS listener in front of `upstream`, with the admin listener and a
/// JSON access log; the CA signed the listener's certificate, which the scratch folder holds.
fn logged_over_tls(upstream: &str) -> (Gateway, TestCa, Scratch) {
    let scratch = Scratch::new();
    let ca = TestCa::new("telemetry");
    let flags = ca.issue(&scratch, "gateway").flags();
    let mut extra = vec!["--admin-listen", "127.0.0.1:0", "--access-log", "json"];
    extra.extend(flags.iter().map(String::as_str));
    (gateway(&strict(), upstream, &extra), ca, scratch)
}

/// Issue 17, the parts together: on a TLS listener, a WebSocket tunnel, a refused WebSocket
/// handshake and an HTTP/2 preflight each get one access log line and are counted in
/// `cors_requests_total` with their decision and rule, and the admin listener, plain HTTP on an
/// address of its own, serves health, readiness and metrics while the proxy listener is TLS.
#[tokio::test(flavor = "multi_thread")]
async fn tls_requests_and_websocket_tunnels_are_logged_and_counted() {
    let upstream = WsUpstream::start().await;
    let policy = strict();
    let (gateway, ca, _scratch) = logged_over_tls(&upstream.url());
    assert!(gateway.banner.contains("listening on https://"), "{}", gateway.banner);
    let (proxy, admin) = (gateway.address, gateway.admin_address());

    assert_eq!(get(admin, "GET", "/healthz", &[]).await.body, "ok\n");
    let ready = get(admin, "GET", "/readyz", &[]).await;
    let hash = printed_policy_hash(&policy);
    assert_eq!(
        std::str::from_utf8(&ready.body).unwrap(),
        format!("ready: policy {hash} loaded, upstream reachable\n")
    );

    let port = proxy.port();
    let stream = common::tls::connect(proxy, ca.client_config(&[b"http/1.1"])).await.unwrap();
    let url = format!("wss://localhost:{port}/chat-allowed");
    let (mut socket, status) = open(stream, &url, Some(APP)).await.unwrap();
    assert_eq!(status, 101);
    exchange(&mut socket, 1).await;
    let stream = common::tls::connect(proxy, ca.client_config(&[b"http/1.1"])).await.unwrap();
    let url = format!("wss://localhost:{port}/chat-refused");
    let refused = open(stream, &url, Some(EVIL)).await;
    assert!(refused.is_err(), "a refused origin got a tunnel");
    assert_eq!(upstream.handshakes.lock().unwrap().len(), 1, "only the allowed one went upstream");
    let url = format!("https://localhost:{port}/preflight");
    let preflight = [("origin", APP), ("access-control-request-method", "PUT")];
    let preflight = request("OPTIONS", &url, &preflight, empty());
    let config = ca.client_config(&[b"h2"]);
    let (alpn, answer) = common::tls::send(proxy, config, preflight).await.unwrap();
    assert_eq!((alpn.as_deref(), answer.status.as_u16()), (Some(&b"h2"[..]), 200));
    // The tunnel still works after the other requests, and its messages add no request.
    exchange(&mut socket, 2).await;

    let samples = metrics_when(admin, |s| {
        family(s, "cors_requests_total").iter().map(|(_, v)| v).sum::<f64>() == 3.0
    })
    .await;
    assert_eq!(
        family(&samples, "cors_requests_total"),
        [
            ("cors_requests_total{decision=\"actual-allowed\",rule=\"A1\"}", 1.0),
            ("cors_requests_total{decision=\"actual-blocked\",rule=\"M3\"}", 1.0),
            ("cors_requests_total{decision=\"preflight-accepted\",rule=\"P1\"}", 1.0),
        ]
    );
    assert_eq!(value(&samples, "cors_gateway_responses_total{status_class=\"1xx\"}"), 1.0);
    assert_eq!(value(&samples, "cors_gateway_responses_total{status_class=\"2xx\"}"), 2.0);
    assert_eq!(value(&samples, "cors_gateway_upstream_duration_seconds_count"), 1.0);
    assert_eq!(value(&samples, &format!("cors_policy_info{{hash=\"{hash}\"}}")), 1.0);

    let deadline = Instant::now() + PATIENCE;
    while gateway.stdout().lines().count() < 3 {
        assert!(Instant::now() < deadline, "access log: {}", gateway.stdout());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lines: BTreeMap<String, serde_json::Value> = gateway
        .stdout()
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            (value["path"].as_str().unwrap().to_owned(), value)
        })
        .collect();
    let seen = |path: &str| {
        let line = &lines[path];
        let fields = ["status", "decision", "rule", "proto", "bytes"];
        fields.map(|field| line[field].to_string()).join(" ")
    };
    assert_eq!(seen("/chat-allowed"), r#"101 "actual-allowed" "A1" "HTTP/1.1" 0"#);
    assert_eq!(seen("/chat-refused"), r#"200 "actual-blocked" "M3" "HTTP/1.1" 0"#);
    assert_eq!(seen("/preflight"), r#"200 "preflight-accepted" "P1" "HTTP/2.0" 0"#);
    assert!(lines["/chat-allowed"]["upstream_ms"].is_f64());
    assert_eq!(lines.len(), 3);
}

/// Plain HTTP sent to a TLS listener gets its `400` (finding F-Z) logged and counted as every
/// other answer: a line with the request's method, path, protocol and origin, no decision and
/// the text's bytes, and a `4xx` response in the metrics. A head with no valid request line is
/// counted but gets no line, which could not say what was asked.
#[tokio::test(flavor = "multi_thread")]
async fn plain_http_sent_to_a_tls_listener_is_logged_and_counted() {
    let upstream = Upstream::start().await;
    let (gateway, _ca, _scratch) = logged_over_tls(&upstream.url());
    let address = gateway.address;
    let heads: [&[u8]; 2] = [
        b"GET /plain?token=1 HTTP/1.1\r\nhost: localhost\r\norigin: https://app.example.com\r\n\r\n",
        b"hello\r\n\r\n",
    ];
    for head in heads {
        let raw = tokio::task::spawn_blocking(move || {
            raw_exchange(address, head, Duration::from_secs(5))
        });
        let raw = raw.await.unwrap();
        assert!(raw.text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{:?}", raw.text);
    }
    let samples = metrics_when(gateway.admin_address(), |s| {
        value(s, "cors_gateway_responses_total{status_class=\"4xx\"}") == 2.0
    })
    .await;
    assert_eq!(value(&samples, "cors_gateway_request_duration_seconds_count"), 2.0);
    assert!(family(&samples, "cors_requests_total").is_empty());
    let deadline = Instant::now() + PATIENCE;
    while gateway.stdout().is_empty() {
        assert!(Instant::now() < deadline, "no line");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stdout = gateway.stdout();
    let lines: Vec<serde_json::Value> =
        stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let line = &lines[0];
    let fields = ["method", "path", "proto", "origin", "status", "decision", "bytes"];
    assert_eq!(
        fields.map(|field| line[field].to_string()).join(" "),
        r#""GET" "/plain" "HTTP/1.1" "https://app.example.com" 400 null 59"#
    );
    assert!(line["client"].as_str().unwrap().starts_with("127.0.0.1:"), "{line}");
    assert!(upstream.seen().is_empty());
}

/// The connection gauges and close counts of `/metrics`.
fn connection_counts(samples: &BTreeMap<String, f64>) -> (f64, f64, Vec<(String, f64)>) {
    let closed = family(samples, "cors_gateway_connections_closed_total")
        .into_iter()
        .filter(|(_, count)| *count > 0.0)
        .map(|(key, count)| (key.to_owned(), count))
        .collect();
    let open = value(samples, "cors_gateway_open_connections");
    (open, samples.get("cors_gateway_open_tunnels").copied().unwrap_or(-1.0), closed)
}

/// Finding F-CF: a connection that became a tunnel (WebSocket) is an open connection, holding
/// its slot of `--max-connections`, until the tunnel closes, and counted in
/// `cors_gateway_open_tunnels` meanwhile; its close is counted when the tunnel ends, with the
/// tunnel's reason (`tunnel_closed` when a side closed it, `tunnel_idle` after
/// `--tunnel-idle-timeout`). It was counted closed by the client as soon as it upgraded, so an
/// operator saw no open connection while tunnels held every slot.
#[tokio::test(flavor = "multi_thread")]
async fn tunnels_are_open_connections_until_they_close() {
    let upstream = WsUpstream::start().await;
    let extra = ["--admin-listen", "127.0.0.1:0", "--tunnel-idle-timeout", "3s"];
    let gateway = gateway(&strict(), &upstream.url(), &extra);
    let admin = gateway.admin_address();
    let url = format!("ws://{}/chat", gateway.address);
    let (mut closing, status) =
        open(common::websocket::connect(gateway.address).await, &url, Some(APP)).await.unwrap();
    assert_eq!(status, 101);
    let (mut idle, _) =
        open(common::websocket::connect(gateway.address).await, &url, Some(APP)).await.unwrap();
    exchange(&mut closing, 1).await;
    exchange(&mut idle, 1).await;
    // Both tunnels open: two open connections, none closed.
    assert_eq!(connection_counts(&metrics(admin).await), (2.0, 2.0, vec![]));
    // The client closes one.
    closing.close(None).await.unwrap();
    drop(closing);
    let tunnel_closed = "cors_gateway_connections_closed_total{reason=\"tunnel_closed\"}";
    let samples = metrics_when(admin, |s| s.get(tunnel_closed) == Some(&1.0)).await;
    assert_eq!(connection_counts(&samples), (1.0, 1.0, vec![(tunnel_closed.to_owned(), 1.0)]));
    // The other carries nothing for the idle timeout.
    let tunnel_idle = "cors_gateway_connections_closed_total{reason=\"tunnel_idle\"}";
    let samples = metrics_when(admin, |s| s.get(tunnel_idle) == Some(&1.0)).await;
    let closed = vec![(tunnel_closed.to_owned(), 1.0), (tunnel_idle.to_owned(), 1.0)];
    assert_eq!(connection_counts(&samples), (0.0, 0.0, closed));
    assert_eq!(value(&samples, "cors_gateway_connections_total"), 2.0);
}

/// Finding F-DO, in the gateway's own log lines: on a dual-stack listener (`[::]:PORT`) an IPv4
/// client, and a client a PROXY protocol header names IPv4-mapped, are written by their IPv4
/// address (`peer=127.0.0.1:PORT`) in the debug lines and in the warning of a refused PROXY
/// header, as the access log and `X-Forwarded-For` name them; the gateway's lines wrote `peer=[::ffff:127.0.0.1]:PORT`.
#[test]
fn the_log_lines_name_an_ipv4_client_of_a_dual_stack_listener_by_its_ipv4_address() {
    let closed = closed_port();
    let upstream = format!("http://127.0.0.1:{closed}");
    let gateway = Gateway::start(&[
        "serve",
        "--config",
        &strict(),
        "--listen",
        "[::]:0",
        "--upstream",
        &upstream,
        "--watch-interval",
        "0",
        "--proxy-protocol",
        "--trusted-proxies",
        "127.0.0.1",
    ]);
    let port = gateway.address.port();

    // The balancer's own address, without a header: refused, and named as it connected.
    let mut refused = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let balancer = refused.local_addr().unwrap();
    refused.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    gateway.wait_for_log(&format!("peer={balancer} reason="));
    gateway.wait_for_log(&format!("last_peer={balancer} "));

    // A client the header names IPv4-mapped, which then closes without a request.
    let mut proxied = TcpStream::connect(("127.0.0.1", port)).unwrap();
    proxied.write_all(b"PROXY TCP6 ::ffff:198.51.100.9 ::1 51000 80\r\n").unwrap();
    proxied.shutdown(std::net::Shutdown::Write).unwrap();
    gateway
        .wait_for_log("closed a connection that sent no request in time peer=198.51.100.9:51000");
    assert!(!gateway.stderr().contains("::ffff:"), "{}", gateway.stderr());
}
