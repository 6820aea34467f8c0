//! TLS (issue 17): the listener with a certificate a real client checks, HTTP/2 and HTTP/1.1 by
//! ALPN, R2 on `https`, certificate reload, https upstreams, and the conformance suite over TLS.
#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::tls::{self, TestCa};
use common::upstream::Upstream;
use common::{Gateway, PATIENCE, Scratch, empty, example_policy, metric, request};
use rstest::rstest;

const APP: &str = "https://app.example.com";

/// `serve` with the strict example policy in front of `upstream`, over TLS with `issued`.
fn start(upstream: &Upstream, issued: &tls::Issued, extra: &[&str]) -> Gateway {
    let policy = example_policy("strict.yaml");
    let mut args = vec!["serve", "--config", policy.to_str().unwrap()];
    args.extend(["--listen", "127.0.0.1:0"]);
    let upstream_url = upstream.url();
    args.extend(["--upstream", &upstream_url]);
    let flags = issued.flags();
    args.extend(flags.iter().map(String::as_str));
    args.extend(extra);
    Gateway::start(&args)
}

/// A gateway over TLS, with a certificate of a CA of its own, in front of a test upstream: what
/// most tests here start with.
struct OverTls {
    ca: TestCa,
    /// The certificate the gateway serves, and its files.
    issued: tls::Issued,
    upstream: Upstream,
    gateway: Gateway,
    /// The certificate files, kept while the test runs.
    _scratch: Scratch,
}

impl OverTls {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// [`OverTls::start`], with `extra` flags.
    async fn start_with(extra: &[&str]) -> Self {
        let scratch = Scratch::new();
        let ca = TestCa::new("gateway");
        let issued = ca.issue(&scratch, "gateway");
        let upstream = Upstream::start().await;
        let gateway = start(&upstream, &issued, extra);
        Self { ca, issued, upstream, gateway, _scratch: scratch }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_checks_the_certificate_is_served_in_http2_and_http11() {
    let OverTls { ca, upstream, gateway, _scratch, .. } = OverTls::start().await;
    assert_eq!(gateway.listeners[0].0, "https", "{}", gateway.banner);
    for (alpn, expected) in [
        (&[b"h2".as_slice(), b"http/1.1"][..], Some(b"h2".to_vec())),
        (&[b"http/1.1".as_slice()][..], Some(b"http/1.1".to_vec())),
        (&[][..], None),
    ] {
        let url = format!("https://localhost:{}/ok", gateway.address.port());
        let get = request("GET", &url, &[("origin", APP)], empty());
        let (chosen, answer) =
            tls::send(gateway.address, ca.client_config(alpn), get).await.unwrap();
        assert_eq!(chosen, expected, "ALPN offering {alpn:?}");
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert_eq!(answer.one("access-control-allow-origin").as_deref(), Some(APP));
    }
    // The upstream saw the three requests, each with the protocol it came in.
    let vias: Vec<String> =
        upstream.seen().iter().map(|s| s.headers["via"].to_str().unwrap().to_owned()).collect();
    assert_eq!(vias, ["2 cors-gateway", "1.1 cors-gateway", "1.1 cors-gateway"]);
    let forwarded = upstream.seen()[0].headers["forwarded"].to_str().unwrap().to_owned();
    assert!(forwarded.ends_with(";proto=https"), "{forwarded}");
}

/// Finding F-CP over TLS: the socket watch sees a full socket through rustls. An HTTP/2 client
/// that grants the largest windows and reads nothing of its connection is cut after
/// `--send-timeout`, while a quiet connection beside it, with nothing to write, is kept (it
/// answers a PING after four times the timeout): rustls takes writes into its buffer until it
/// is full, then a write or flush waits; a flush counts as taken up only after one waited, as
/// its flush with nothing left to write tells nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_a_client_that_reads_nothing_is_cut_and_a_quiet_one_is_kept() {
    use common::{H2_PREFACE, h2_frame};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let timeout = Duration::from_millis(500);
    let flags = ["--send-timeout", "500ms", "--idle-timeout", "300s"];
    let flags = [&flags[..], &["--http2-keep-alive-interval", "0"]].concat();
    let OverTls { ca, upstream: _upstream, gateway, _scratch, .. } =
        OverTls::start_with(&flags).await;
    let mut quiet = tls::connect(gateway.address, ca.client_config(&[b"h2"])).await.unwrap();
    quiet.write_all(&[H2_PREFACE, &h2_frame(0x4, 0, 0, &[])].concat()).await.unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(gateway.address).await.unwrap();
    let mut reader = tls::handshake(tcp, ca.client_config(&[b"h2"])).await.unwrap();
    let opening = common::h2_opening_with_the_largest_windows("/download?bytes=65536", 20);
    reader.write_all(&opening).await.unwrap();
    let started = Instant::now();
    let gateway = gateway.wait_for_a_stall(started, timeout).await;
    tokio::time::sleep_until((started + 4 * timeout).into()).await;
    quiet.write_all(&h2_frame(0x6, 0, 0, b"ping-ack")).await.unwrap();
    let acknowledged = async {
        loop {
            let mut head = [0u8; 9];
            quiet.read_exact(&mut head).await.expect("the quiet connection is open");
            let length = usize::from(head[1]) << 8 | usize::from(head[2]);
            let mut payload = vec![0u8; length];
            quiet.read_exact(&mut payload).await.unwrap();
            // PING with ACK.
            if head[3] == 0x6 && head[4] & 0x1 == 1 {
                return payload;
            }
        }
    };
    let payload = tokio::time::timeout(PATIENCE, acknowledged).await.unwrap();
    assert_eq!(payload, b"ping-ack");
    assert_eq!(gateway.stderr().matches("took up no response").count(), 1, "{}", gateway.stderr());
    drop(reader);
}

/// Finding F-AI: with `--proxy-protocol`, the header comes before the TLS handshake; the client
/// it names is the one the forwarding fields name, in HTTP/2 and HTTP/1.1, with `proto=https`.
#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_protocol_header_before_the_handshake_names_the_client() {
    let flags = ["--proxy-protocol", "--trusted-proxies", "127.0.0.1"];
    let OverTls { ca, upstream, gateway, _scratch, .. } = OverTls::start_with(&flags).await;
    let url = format!("https://localhost:{}/ok", gateway.address.port());
    for (client, alpn) in [("192.0.2.7:51000", &b"h2"[..]), ("[2001:db8::7]:51000", b"http/1.1")] {
        let header = common::proxy_v2(Some(client.parse().unwrap()));
        let get = request("GET", &url, &[("origin", APP), ("x-test-id", client)], empty());
        let (chosen, answer) =
            tls::send_after(gateway.address, &header, ca.client_config(&[alpn]), get)
                .await
                .unwrap();
        assert_eq!((chosen.as_deref(), answer.status.as_u16()), (Some(alpn), 200), "{client}");
        let seen = upstream.seen_with_id(client).unwrap();
        let ip = client.parse::<std::net::SocketAddr>().unwrap().ip().to_string();
        assert_eq!(seen.headers["x-forwarded-for"], ip.as_str());
        assert_eq!(seen.headers["x-real-ip"], ip.as_str());
        assert_eq!(seen.headers["x-forwarded-proto"], "https");
    }
    // Without the header, the handshake's first bytes are no header: closed, unanswered.
    assert!(tls::connect(gateway.address, ca.client_config(&[b"h2"])).await.is_err());
}

/// Finding F-X: a client that offers only `http/1.0` by ALPN (`curl --http1.0`) is served, as on
/// a plain listener; one that offers no HTTP version at all is refused by the handshake
/// (`no_application_protocol`, RFC 7301 section 3.2) and reaches nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_offering_http10_by_alpn_is_served_and_one_offering_no_http_is_refused() {
    let OverTls { ca, upstream, gateway, _scratch, .. } = OverTls::start().await;
    let url = format!("https://localhost:{}/ok", gateway.address.port());
    let mut get = request("GET", &url, &[("origin", APP)], empty());
    *get.version_mut() = http::Version::HTTP_10;
    let (chosen, answer) =
        tls::send(gateway.address, ca.client_config(&[b"http/1.0"]), get).await.unwrap();
    assert_eq!(chosen.as_deref(), Some(&b"http/1.0"[..]));
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.one("access-control-allow-origin").as_deref(), Some(APP));
    let error = tls::connect(gateway.address, ca.client_config(&[b"spdy/3", b"h3"])).await;
    let error = error.unwrap_err().to_string();
    assert!(error.contains("NoApplicationProtocol"), "{error}");
    assert_eq!(upstream.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_does_not_trust_the_certificate_is_refused() {
    let OverTls { upstream, gateway, _scratch, .. } = OverTls::start().await;
    let stranger = TestCa::new("stranger");
    let error = tls::connect(gateway.address, stranger.client_config(&[])).await.unwrap_err();
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");
    // A client speaking plain HTTP to the TLS listener gets no answer it could mistake for one.
    let raw = common::raw_exchange(
        gateway.address,
        b"GET /ok HTTP/1.1\r\nhost: localhost\r\n\r\n",
        Duration::from_secs(2),
    );
    assert!(!raw.text.contains("HTTP/1.1 200"), "{}", raw.text);
    assert!(upstream.seen().is_empty());
}

/// Finding F-Z: plain HTTP sent to the TLS listener (an `http://` URL for an `https://` one) gets
/// `400` with a text that says so, as from nginx and Go, where it got the handshake's alert,
/// which HTTP clients read as a broken answer; nothing reaches the upstream, and TLS clients are
/// served as before.
#[tokio::test(flavor = "multi_thread")]
async fn plain_http_sent_to_the_tls_listener_gets_400_saying_so() {
    let OverTls { ca, upstream, gateway, _scratch, .. } = OverTls::start().await;
    for head in ["GET /ok HTTP/1.1\r\nhost: localhost\r\n\r\n", "OPTIONS * HTTP/1.0\r\n\r\n"] {
        let address = gateway.address;
        let wait = Duration::from_secs(5);
        let raw = tokio::task::spawn_blocking(move || {
            common::raw_exchange(address, head.as_bytes(), wait)
        });
        let raw = raw.await.unwrap();
        assert!(raw.text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{:?}", raw.text);
        assert!(
            raw.text.ends_with("this listener speaks TLS; use an https:// URL\n"),
            "{:?}",
            raw.text
        );
        assert!(raw.closed, "the connection stayed open");
    }
    // Finding F-CE: the answer to a `HEAD` is the head alone, with the text's length.
    let address = gateway.address;
    let head = b"HEAD /ok HTTP/1.1\r\nhost: localhost\r\n\r\n";
    let wait = Duration::from_secs(5);
    let raw = tokio::task::spawn_blocking(move || common::raw_exchange(address, head, wait));
    let raw = raw.await.unwrap();
    assert!(raw.text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{:?}", raw.text);
    let length = "bad request: this listener speaks TLS; use an https:// URL\n".len();
    assert!(raw.text.contains(&format!("\r\ncontent-length: {length}\r\n")), "{:?}", raw.text);
    assert!(raw.text.ends_with("\r\n\r\n") && raw.closed, "{:?}", raw.text);
    let url = format!("https://localhost:{}/ok", gateway.address.port());
    let get = request("GET", &url, &[("origin", APP)], empty());
    let (_, answer) = tls::send(gateway.address, ca.client_config(&[]), get).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(upstream.seen().len(), 1, "only the TLS client's request was forwarded");
}

/// R2 on a TLS listener: the origin of the gateway itself is `https://HOST:PORT` without
/// `--public-scheme`, so that origin is same-origin (forwarded, no CORS) and `http://HOST:PORT`
/// is cross-origin (refused by the strict policy, A2).
#[tokio::test(flavor = "multi_thread")]
async fn same_origin_on_a_tls_listener_is_https() {
    let OverTls { ca, upstream, gateway, _scratch, .. } = OverTls::start().await;
    let authority = format!("localhost:{}", gateway.address.port());
    let url = format!("https://{authority}/same");
    let config = ca.client_config(&[b"http/1.1"]);
    let own = format!("https://{authority}");
    let post = request("POST", &url, &[("origin", &own)], empty());
    let (_, answer) = tls::send(gateway.address, config.clone(), post).await.unwrap();
    assert_eq!(answer.status, 200);
    assert!(answer.access_control().is_empty(), "{:?}", answer.headers);
    assert_eq!(upstream.seen().len(), 1, "the same-origin POST is forwarded");
    let plain = format!("http://{authority}");
    let post = request("POST", &url, &[("origin", &plain)], empty());
    let (_, answer) = tls::send(gateway.address, config, post).await.unwrap();
    assert_eq!(answer.status, 200);
    assert!(answer.access_control().is_empty(), "{:?}", answer.headers);
    assert_eq!(upstream.seen().len(), 1, "the http:// origin is cross-origin and blocked (A2)");
}

/// Finding F-AA: the two mistakes an operator makes most with the listener's files, an encrypted
/// key and a chain that does not start with the server's certificate, stop the gateway with
/// what to do, where rustls's words were "no items found" and `KeyMismatch`.
#[test]
fn a_key_or_chain_the_listener_cannot_use_is_refused_with_what_to_do() {
    let scratch = Scratch::new();
    let ca = TestCa::new("gateway");
    let issued = ca.issue(&scratch, "gateway");
    let chain = std::fs::read_to_string(&issued.chain).unwrap();
    let second = chain.rfind("-----BEGIN CERTIFICATE-----").unwrap();
    let reversed =
        scratch.write("reversed.pem", &format!("{}{}", &chain[second..], &chain[..second]));
    let encrypted = scratch.write(
        "encrypted.key",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    for (chain, key, expected) in [
        (&issued.chain, &encrypted, "an ENCRYPTED PRIVATE KEY must be decrypted first"),
        (&reversed, &issued.key, "the chain must start with the server's own certificate"),
    ] {
        let stderr = refused_at_start(chain, key);
        assert!(stderr.contains(expected), "{stderr}");
    }
}

/// The error output of `serve` over TLS with `chain` and `key`, which it must refuse (exit 1).
fn refused_at_start(chain: &Path, key: &Path) -> String {
    let (chain, key) = (chain.to_str().unwrap(), key.to_str().unwrap());
    let tls = ["--tls-cert", chain, "--tls-key", key];
    refused_serve("https://127.0.0.1:0", "http://127.0.0.1:9", &tls)
}

/// The error output of `serve` with the strict example policy on `listen`, in front of
/// `upstream`, with `flags`, which it must refuse (exit 1).
fn refused_serve(listen: &str, upstream: &str, flags: &[&str]) -> String {
    let policy = example_policy("strict.yaml");
    let mut args = vec!["serve", "--config", policy.to_str().unwrap()];
    args.extend(["--listen", listen, "--upstream", upstream]);
    args.extend(flags);
    let (code, _, stderr) = common::run(&args);
    assert_eq!(code, 1, "{stderr}");
    stderr
}

/// Finding F-AB: a certificate or key file that is not a regular file, or is over 1 MiB, is
/// refused before it is read, at start and on reload, where the previous certificate keeps
/// serving. Before the fix a fifo blocked the reload for ever (no certificate change was seen
/// again), and `--tls-cert /dev/zero` took gigabytes of memory within seconds.
#[tokio::test(flavor = "multi_thread")]
async fn certificate_files_that_are_not_regular_or_too_large_are_refused_unread() {
    let OverTls { ca, issued, gateway, _scratch, .. } = OverTls::start().await;
    let key = std::fs::read(&issued.key).unwrap();
    std::fs::remove_file(&issued.key).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&issued.key).status().unwrap();
    assert!(made.success());
    gateway.signal("HUP");
    gateway.wait_for_log("is not a regular file but a fifo, a socket or a device");
    tls::connect(gateway.address, ca.client_config(&[])).await.unwrap();

    std::fs::remove_file(&issued.key).unwrap();
    std::fs::write(&issued.key, key).unwrap();
    std::fs::write(&issued.chain, "-".repeat(2 << 20)).unwrap();
    gateway.signal("HUP");
    gateway.wait_for_log("is over the limit of 1048576 bytes");
    tls::connect(gateway.address, ca.client_config(&[])).await.unwrap();

    // At start, a device is refused as well, by name.
    let stderr = refused_at_start(Path::new("/dev/null"), &issued.key);
    assert!(stderr.contains("/dev/null is not a regular file"), "{stderr}");
}

/// As F-AB for `--upstream-ca`: a device or a file over 1 MiB is refused at start by name,
/// before it is read (`/dev/zero` would never end).
#[test]
fn an_upstream_ca_file_that_is_not_regular_or_too_large_is_refused_unread() {
    let scratch = Scratch::new();
    let large = scratch.write("ca.pem", &"-".repeat(2 << 20));
    for (ca, expected) in [
        (Path::new("/dev/zero"), "/dev/zero is not a regular file"),
        (large.as_path(), "is over the limit of 1048576 bytes"),
    ] {
        let flags = ["--upstream-ca", ca.to_str().unwrap()];
        let stderr = refused_serve("127.0.0.1:0", "https://127.0.0.1:9", &flags);
        assert!(stderr.contains(expected), "{stderr}");
    }
}

/// Waits (bounded) until a client trusting `ca` completes a handshake.
async fn wait_until_trusted(address: std::net::SocketAddr, ca: &TestCa) {
    let deadline = Instant::now() + PATIENCE;
    while tls::connect(address, ca.client_config(&[])).await.is_err() {
        assert!(Instant::now() < deadline, "the new certificate was never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn replace(issued: &tls::Issued, chain: &Path, key: &Path) {
    std::fs::copy(&issued.chain, chain).unwrap();
    std::fs::copy(&issued.key, key).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_certificate_reloads_and_a_bad_one_keeps_the_previous() {
    let scratch = Scratch::new();
    let (first, second, third) =
        (TestCa::new("first"), TestCa::new("second"), TestCa::new("third"));
    let serving = first.issue(&scratch, "serving");
    let upstream = Upstream::start().await;
    let gateway = start(&upstream, &serving, &["--watch-interval", "100ms"]);
    tls::connect(gateway.address, first.client_config(&[])).await.unwrap();

    // SIGHUP: the second CA's certificate is served from now on.
    replace(&second.issue(&scratch, "next"), &serving.chain, &serving.key);
    gateway.signal("HUP");
    wait_until_trusted(gateway.address, &second).await;
    assert!(tls::connect(gateway.address, first.client_config(&[])).await.is_err());

    // A key that does not match the certificate: logged, and the previous one is kept.
    let mismatched = third.issue(&scratch, "mismatched");
    std::fs::copy(&mismatched.key, &serving.key).unwrap();
    gateway.signal("HUP");
    gateway.wait_for_log("TLS certificate reload failed, keeping the previous certificate");
    assert!(
        gateway.stderr().contains("is not the key of the first certificate"),
        "{}",
        gateway.stderr()
    );
    tls::connect(gateway.address, second.client_config(&[])).await.unwrap();

    // Not a certificate at all: the same.
    std::fs::write(&serving.chain, "not a certificate\n").unwrap();
    gateway.signal("HUP");
    gateway.wait_for_log("holds no CERTIFICATE block");
    tls::connect(gateway.address, second.client_config(&[])).await.unwrap();

    // Both files replaced, with no signal: the change is seen by polling.
    replace(&third.issue(&scratch, "polled"), &serving.chain, &serving.key);
    wait_until_trusted(gateway.address, &third).await;
    gateway.wait_for_log("cause=\"file changed\"");
}

/// Finding F-DP: a certificate reload refused for errors is counted in `/metrics`, as a policy
/// reload refused is; it was only logged, so that a failed renewal showed in no metric while the
/// previous certificate served on until it expired.
#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_reload_refused_is_counted_in_the_metrics() {
    const FAILURES: &str = "cors_gateway_certificate_reload_failures_total";
    let scratch = Scratch::new();
    let (first, second) = (TestCa::new("first"), TestCa::new("second"));
    let serving = first.issue(&scratch, "serving");
    let upstream = Upstream::start().await;
    let flags = ["--watch-interval", "0", "--admin-listen", "127.0.0.1:0"];
    let gateway = start(&upstream, &serving, &flags);
    let admin = gateway.admin_address();
    assert_eq!(metric(admin, FAILURES), 0);

    std::fs::write(&serving.chain, "not a certificate\n").unwrap();
    gateway.signal("HUP");
    gateway.wait_for_log("holds no CERTIFICATE block");
    // Counted before it was logged.
    assert_eq!(metric(admin, FAILURES), 1);
    assert_eq!(metric(admin, "cors_policy_reload_failures_total"), 0);
    tls::connect(gateway.address, first.client_config(&[])).await.unwrap();

    // A good pair: served, and the failure stays counted.
    replace(&second.issue(&scratch, "next"), &serving.chain, &serving.key);
    gateway.signal("HUP");
    wait_until_trusted(gateway.address, &second).await;
    assert_eq!(metric(admin, FAILURES), 1);
}

/// The expiry (notAfter) of the certificate served is in `/metrics` from the start, in Unix
/// seconds under the `--tls-cert` file's name, and follows a reload to another certificate, so
/// that an alert can fire before it expires whatever the cause (a renewal refused, or never run).
#[tokio::test(flavor = "multi_thread")]
async fn the_certificate_expiry_is_in_the_metrics_and_follows_a_reload() {
    let scratch = Scratch::new();
    let (first, second) = (TestCa::new("first"), TestCa::new("second"));
    let expiring = |year, month, day| {
        move |params: &mut rcgen::CertificateParams| {
            params.not_after = rcgen::date_time_ymd(year, month, day);
        }
    };
    let serving = first.issue_with(&scratch, "serving", expiring(2031, 1, 2));
    let upstream = Upstream::start().await;
    let flags = ["--watch-interval", "0", "--admin-listen", "127.0.0.1:0"];
    let gateway = start(&upstream, &serving, &flags);
    let admin = gateway.admin_address();
    let expiry = format!(
        "cors_gateway_certificate_expiry_timestamp_seconds{{file=\"{}\"}}",
        serving.chain.display()
    );
    assert_eq!(metric(admin, &expiry), 1_925_078_400, "2031-01-02T00:00:00Z");

    replace(
        &second.issue_with(&scratch, "next", expiring(2032, 3, 4)),
        &serving.chain,
        &serving.key,
    );
    gateway.signal("HUP");
    wait_until_trusted(gateway.address, &second).await;
    assert_eq!(metric(admin, &expiry), 1_961_971_200, "2032-03-04T00:00:00Z");

    // A reload refused keeps the certificate served, and its expiry.
    std::fs::write(&serving.chain, "not a certificate\n").unwrap();
    gateway.signal("HUP");
    gateway.wait_for_log("holds no CERTIFICATE block");
    assert_eq!(metric(admin, &expiry), 1_961_971_200);
}

#[tokio::test(flavor = "multi_thread")]
async fn https_upstreams_are_verified_with_the_upstream_host_as_sni() {
    let scratch = Scratch::new();
    let ca = TestCa::new("upstream");
    let ca_file = ca.write(&scratch, "upstream-ca.pem");
    let upstream = Upstream::start_tls(ca.issue(&scratch, "upstream").server_config()).await;
    let url = format!("https://localhost:{}/base", upstream.address.port());
    let policy = example_policy("strict.yaml");
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve", "--config", policy.to_str().unwrap()];
        args.extend(["--listen", "127.0.0.1:0", "--upstream", &url, "--connect-timeout", "5s"]);
        args.extend(extra);
        Gateway::start(&args)
    };
    let get = |gateway: &Gateway| {
        let client = common::client(false);
        let get = request("GET", &gateway.url("/ok?x=1"), &[("origin", APP)], empty());
        async move { common::send(&client, get).await }
    };

    // Verified against --upstream-ca: forwarded, with SNI from the upstream's host.
    let gateway = serve(&["--upstream-ca", ca_file.to_str().unwrap()]);
    let answer = get(&gateway).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/base/ok");
    assert_eq!(seen[0].sni.as_deref(), Some("localhost"));
    drop(gateway);

    // The system's roots do not know the test CA: 502, and the log says why.
    let gateway = serve(&[]);
    let answer = get(&gateway).await;
    assert_eq!(answer.status, 502, "{:?}", answer.body);
    gateway.wait_for_log("not signed by a CA the system trusts; hint: --upstream-ca FILE");
    assert_eq!(upstream.seen().len(), 1, "nothing reached the upstream");
    drop(gateway);

    // --upstream-insecure: forwarded, with a warning at start.
    let gateway = serve(&["--upstream-insecure"]);
    gateway
        .wait_for_log("--upstream-insecure: the certificates of https upstreams are not verified");
    assert_eq!(get(&gateway).await.status, 200);
    assert_eq!(upstream.seen().len(), 2);
}

/// What is wrong with an https upstream, in the log: `502`, and a line that names the problem
/// and its fix, never rustls's bare variant (`Other(OtherError(CaUsedAsEndEntity))`).
#[rstest]
#[case::a_ca_served_as_its_own(
    Served::CaAsOwn,
    "the upstream's certificate is a CA certificate (basic constraints CA:TRUE)"
)]
#[case::not_signed_by_the_upstream_ca(
    Served::SignedByAnother,
    "the upstream's certificate is not signed by a CA certificate of --upstream-ca"
)]
#[case::expired(
    Served::Expired,
    "the upstream's certificate is not valid now (certificate expired"
)]
#[case::for_another_name(
    Served::ForAnotherName,
    "the upstream's certificate is not for the upstream URL's host"
)]
#[case::plain_http(Served::PlainHttp, "the upstream does not answer with TLS")]
#[case::mutual_tls_1_3(
    Served::AsksForAClientCertificate(&rustls::version::TLS13),
    "the upstream asks for a client certificate"
)]
#[case::mutual_tls_1_2(
    Served::AsksForAClientCertificate(&rustls::version::TLS12),
    "the upstream asks for a client certificate"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_certificate_error_is_logged_with_what_to_do(
    #[case] served: Served,
    #[case] says: &str,
) {
    let scratch = Scratch::new();
    let ca = TestCa::new("upstream");
    let ca_file = ca.write(&scratch, "upstream-ca.pem");
    let upstream = match served {
        Served::CaAsOwn => Upstream::start_tls(ca.served_as_own()).await,
        Served::SignedByAnother => {
            let another = TestCa::new("upstream");
            Upstream::start_tls(another.issue(&scratch, "upstream").server_config()).await
        }
        Served::Expired => {
            let expired = ca.issue_with(&scratch, "upstream", |params| {
                params.not_before = rcgen::date_time_ymd(2020, 1, 1);
                params.not_after = rcgen::date_time_ymd(2021, 1, 1);
            });
            Upstream::start_tls(expired.server_config()).await
        }
        Served::ForAnotherName => {
            let elsewhere = ca.issue_with(&scratch, "upstream", |params| {
                params.subject_alt_names =
                    vec![rcgen::SanType::DnsName("elsewhere.example".try_into().unwrap())];
            });
            Upstream::start_tls(elsewhere.server_config()).await
        }
        Served::PlainHttp => Upstream::start().await,
        Served::AsksForAClientCertificate(version) => {
            let issued = ca.issue(&scratch, "upstream");
            Upstream::start_tls(issued.mutual_tls_config(&TestCa::new("clients"), version)).await
        }
    };
    let url = format!("https://localhost:{}", upstream.address.port());
    let policy = example_policy("strict.yaml");
    let mut args = vec!["serve", "--config", policy.to_str().unwrap(), "--listen", "127.0.0.1:0"];
    args.extend(["--upstream", &url, "--connect-timeout", "5s"]);
    args.extend(["--upstream-ca", ca_file.to_str().unwrap()]);
    let gateway = Gateway::start(&args);
    let get = request("GET", &gateway.url("/ok"), &[("origin", APP)], empty());
    let answer = common::send(&common::client(false), get).await;
    assert_eq!(answer.status, 502, "{:?}", answer.body);
    gateway.wait_for_log(says);
    assert!(!gateway.stderr().contains("Other("), "{}", gateway.stderr());
    assert!(upstream.seen().is_empty(), "nothing reached the upstream");
}

/// Finding F-BP: an https upstream that accepts the TCP connection and closes it before the
/// handshake (a TCP proxy with no backend, a port serving no TLS that hangs up) gets `502`, and
/// the log says what happened and what to check, where it said only rustls's `tls handshake
/// eof` (or the reset's OS error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_closes_during_the_handshake_is_logged_with_what_to_check() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&accepted);
    let closer = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            drop(stream);
        }
    });
    let url = format!("https://localhost:{port}");
    let policy = example_policy("strict.yaml");
    let mut args = vec!["serve", "--config", policy.to_str().unwrap(), "--listen", "127.0.0.1:0"];
    args.extend(["--upstream", &url, "--connect-timeout", "5s", "--upstream-insecure"]);
    let gateway = Gateway::start(&args);
    let get = request("GET", &gateway.url("/ok"), &[("origin", APP)], empty());
    let answer = common::send(&common::client(false), get).await;
    assert_eq!(answer.status, 502, "{:?}", answer.body);
    // `tls handshake eof`, or a reset when the ClientHello arrived before the close.
    gateway.wait_for_log("the upstream closed the connection during the TLS handshake (");
    gateway.wait_for_log("hint: is it serving TLS on that port?");
    assert!(accepted.load(std::sync::atomic::Ordering::Relaxed) > 0, "never connected");
    closer.abort();
}

/// What the upstream of [`an_upstream_certificate_error_is_logged_with_what_to_do`] serves.
#[derive(Clone, Copy, Debug)]
enum Served {
    /// The CA's own certificate, the one `--upstream-ca` holds.
    CaAsOwn,
    /// A certificate of another CA of the same name.
    SignedByAnother,
    /// A certificate of `--upstream-ca`'s CA that expired in 2021.
    Expired,
    /// A certificate of `--upstream-ca`'s CA for `elsewhere.example` alone.
    ForAnotherName,
    /// No TLS: plain HTTP.
    PlainHttp,
    /// A certificate of `--upstream-ca`'s CA, and a client certificate asked for, in TLS 1.3
    /// (the `certificate_required` alert) or TLS 1.2.
    AsksForAClientCertificate(&'static rustls::SupportedProtocolVersion),
}

/// The conformance suite (cors-conformance) against the gateway over TLS: every profile, with the
/// suite's client checking the certificate against the test CA (`--ca`).
#[test]
fn the_conformance_suite_passes_over_tls() {
    use cors_conformance::{Corpus, HttpOptions, HttpTarget, KnownFailures, Selection, Tls};

    let scratch = Scratch::new();
    let ca = TestCa::new("conformance");
    let ca_file = ca.write(&scratch, "ca.pem");
    let issued = ca.issue(&scratch, "gateway");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let upstream = runtime.block_on(async {
        let (listener, address) =
            cors_conformance::upstream::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        tokio::spawn(cors_conformance::upstream::serve(listener, None));
        address
    });
    let corpus = Corpus::builtin().unwrap();
    let known = KnownFailures::builtin().unwrap();
    let profiles_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec-tests/profiles");
    let mut profiles: Vec<String> = std::fs::read_dir(&profiles_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .map(|path| path.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect();
    profiles.sort();
    assert!(profiles.len() >= 12, "{profiles:?}");
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut cases = 0;
    for profile in &profiles {
        let config = profiles_dir.join(format!("{profile}.yaml"));
        let upstream_url = format!("http://{upstream}");
        let mut args = vec!["serve", "--config", config.to_str().unwrap(), "--quiet"];
        args.extend(["--listen", "127.0.0.1:0", "--upstream", &upstream_url]);
        let flags = issued.flags();
        args.extend(flags.iter().map(String::as_str));
        let gateway = Gateway::start(&args);
        let url = format!("https://localhost:{}", gateway.address.port());
        let mut options = HttpOptions::default();
        options.tls = Tls::CaFile(ca_file.clone());
        let log = cors_conformance::UpstreamLog::Stamp;
        let mut target =
            HttpTarget::with_options(&url, log, options).unwrap().with_name("cors-gateway");
        let selection = Selection::all().profile(profile);
        let report =
            cors_conformance::runner::run(&corpus, &selection, &mut target, &known, &mut |_, _| {});
        assert!(report.unreachable.is_none(), "{profile}: {:?}", report.unreachable);
        cases += report.results.len();
        failures.extend(report.failures().map(|failure| format!("{profile}: {failure:?}")));
    }
    eprintln!("{cases} cases in {} profiles over TLS in {:?}", profiles.len(), started.elapsed());
    assert!(cases > 300, "only {cases} cases ran");
    assert!(failures.is_empty(), "{} failures over TLS:\n{}", failures.len(), failures.join("\n"));
}
