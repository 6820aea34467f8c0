//! WebSocket and other HTTP/1.1 upgrades through the gateway (issue 17): a real client
//! (tokio-tungstenite) exchanges messages with a WebSocket upstream, a refused origin never
//! reaches it (cross-site WebSocket hijacking), and tunnels keep the gateway's limits.
#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::tls::TestCa;
use common::websocket::{WsUpstream, connect, exchange, open};
use common::{Gateway, PATIENCE, Scratch, example_policy};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{WebSocketStream, client_async};

/// The origin `strict.yaml` grants.
const APP: &str = "https://app.example.com";
/// An origin it does not grant.
const EVIL: &str = "https://evil.example";

/// `serve` with the strict policy in front of the upstream at `url`, plus `extra` flags.
fn gateway(url: &str, extra: &[&str]) -> Gateway {
    let policy = example_policy("strict.yaml");
    let mut args = vec!["serve", "--config", policy.to_str().unwrap(), "--listen", "127.0.0.1:0"];
    args.extend(["--upstream", url]);
    args.extend(extra);
    Gateway::start(&args)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_origin_gets_a_working_two_way_tunnel() {
    let upstream = WsUpstream::start().await;
    let gateway = gateway(&upstream.url(), &[]);
    let url = format!("ws://{}/chat", gateway.address);
    let (mut socket, status) = open(connect(gateway.address).await, &url, Some(APP)).await.unwrap();
    assert_eq!(status, 101);
    for n in 0..20 {
        exchange(&mut socket, n).await;
    }
    // A large message crosses the tunnel whole, in many reads.
    let large = "x".repeat(1 << 20);
    socket.send(Message::text(large.clone())).await.unwrap();
    let reply = tokio::time::timeout(PATIENCE, socket.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(reply.into_text().unwrap().len(), large.len() + "echo: ".len());
    socket.close(None).await.unwrap();
    let handshakes = upstream.handshakes.lock().unwrap().clone();
    assert_eq!(handshakes.len(), 1);
    let seen = &handshakes[0];
    assert_eq!(seen["origin"], APP);
    assert_eq!(seen["upgrade"], "websocket");
    assert_eq!(seen["via"], "1.1 cors-gateway");
    assert!(seen.contains_key("sec-websocket-key"));
}

/// Finding F-AH: a WebSocket handshake goes through the same rewrite as any request: the
/// forwarding fields a client forges are replaced by the gateway's.
#[tokio::test(flavor = "multi_thread")]
async fn a_handshakes_forged_forwarding_fields_are_replaced() {
    let upstream = WsUpstream::start().await;
    let gateway = gateway(&upstream.url(), &[]);
    let mut request = format!("ws://{}/chat", gateway.address).into_client_request().unwrap();
    for (name, value) in [
        ("origin", APP),
        ("x-forwarded-for", "203.0.113.7"),
        ("forwarded", "for=203.0.113.7"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil.example"),
        ("x-real-ip", "203.0.113.7"),
    ] {
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    let stream = connect(gateway.address).await;
    let (mut socket, response) =
        tokio::time::timeout(PATIENCE, client_async(request, stream)).await.unwrap().unwrap();
    assert_eq!(response.status(), 101);
    exchange(&mut socket, 1).await;
    let seen = upstream.handshakes.lock().unwrap()[0].clone();
    let host = gateway.address.to_string();
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert_eq!(
        seen["forwarded"].to_str().unwrap(),
        format!("for=127.0.0.1;host=\"{host}\";proto=http")
    );
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert_eq!(seen["x-forwarded-host"].to_str().unwrap(), host);
    assert_eq!(seen["x-real-ip"], "127.0.0.1");
}

/// Finding F-AI: behind a balancer (`--proxy-protocol`), an upgrade goes through the same accept
/// path: the handshake names the header's client, and the tunnel works.
#[tokio::test(flavor = "multi_thread")]
async fn a_handshake_behind_a_balancer_names_the_headers_client() {
    use tokio::io::AsyncWriteExt as _;
    let upstream = WsUpstream::start().await;
    let flags = ["--proxy-protocol", "--trusted-proxies", "127.0.0.1"];
    let gateway = gateway(&upstream.url(), &flags);
    let mut stream = connect(gateway.address).await;
    let header = common::proxy_v1("192.0.2.7:51000".parse().unwrap());
    stream.write_all(&header).await.unwrap();
    let url = format!("ws://{}/chat", gateway.address);
    let (mut socket, status) = open(stream, &url, Some(APP)).await.unwrap();
    assert_eq!(status, 101);
    exchange(&mut socket, 1).await;
    let seen = upstream.handshakes.lock().unwrap()[0].clone();
    assert_eq!(seen["x-forwarded-for"], "192.0.2.7");
    assert_eq!(seen["x-real-ip"], "192.0.2.7");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_101_carries_the_grant_of_an_allowed_origin() {
    let upstream = WsUpstream::start().await;
    let gateway = gateway(&upstream.url(), &[]);
    let url = format!("ws://{}/chat", gateway.address);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("origin", APP.parse().unwrap());
    let (_socket, response) = client_async(request, connect(gateway.address).await).await.unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], APP);
    assert_eq!(response.headers()["connection"], "upgrade");
    assert_eq!(response.headers()["upgrade"], "websocket");
}

/// Cross-site WebSocket hijacking: a page on a refused origin opens a WebSocket to the API with
/// the victim's cookies. The handshake is an actual request like any other: it is blocked (A2,
/// `200` without a grant) and never reaches the upstream.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_origin_never_reaches_the_upstream() {
    let upstream = WsUpstream::start().await;
    let gateway = gateway(&upstream.url(), &[]);
    upstream.forget_the_start_probe().await;
    let url = format!("ws://{}/chat", gateway.address);
    for origin in [EVIL, "null", "https://app.example.com.evil.example"] {
        let error = open(connect(gateway.address).await, &url, Some(origin)).await.unwrap_err();
        let tungstenite::Error::Http(response) = error else { panic!("{origin}: {error}") };
        assert_eq!(response.status(), 200, "{origin}");
        let granted = response.headers().keys().any(|n| n.as_str().starts_with("access-control-"));
        assert!(!granted, "{origin}: {:?}", response.headers());
    }
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 0, "the upstream saw a connection");
    assert!(upstream.handshakes.lock().unwrap().is_empty());
}

/// Clients that send no Origin (not browsers) are not CORS requests (R1): forwarded.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_without_origin_is_tunnelled() {
    let upstream = WsUpstream::start().await;
    let gateway = gateway(&upstream.url(), &[]);
    let url = format!("ws://{}/chat", gateway.address);
    let (mut socket, status) = open(connect(gateway.address).await, &url, None).await.unwrap();
    assert_eq!(status, 101);
    exchange(&mut socket, 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn websockets_work_over_the_tls_listener() {
    let scratch = Scratch::new();
    let ca = TestCa::new("wss");
    let issued = ca.issue(&scratch, "gateway");
    let upstream = WsUpstream::start().await;
    let flags = issued.flags();
    let gateway = gateway(&upstream.url(), &flags.iter().map(String::as_str).collect::<Vec<_>>());
    let stream =
        common::tls::connect(gateway.address, ca.client_config(&[b"http/1.1"])).await.unwrap();
    let url = format!("wss://localhost:{}/chat", gateway.address.port());
    let (mut socket, status) = open(stream, &url, Some(APP)).await.unwrap();
    assert_eq!(status, 101);
    exchange(&mut socket, 7).await;
}

/// Waits (bounded) until the gateway ends the tunnel; returns how long that took.
async fn wait_for_close<S: AsyncRead + AsyncWrite + Unpin>(socket: &mut WebSocketStream<S>) {
    let ended = tokio::time::timeout(PATIENCE, async {
        loop {
            match socket.next().await {
                None | Some(Err(_) | Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the tunnel was not closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_tunnel_is_closed_after_the_tunnel_idle_timeout() {
    let upstream = WsUpstream::start().await;
    let gateway =
        gateway(&upstream.url(), &["--tunnel-idle-timeout", "1s", "--idle-timeout", "60s"]);
    let url = format!("ws://{}/chat", gateway.address);
    let (mut socket, _) = open(connect(gateway.address).await, &url, Some(APP)).await.unwrap();
    // Traffic keeps it open past the timeout...
    exchange(&mut socket, 0).await;
    for n in 1..6 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        exchange(&mut socket, n).await;
    }
    // ...silence closes it.
    let started = Instant::now();
    wait_for_close(&mut socket).await;
    let waited = started.elapsed();
    eprintln!("the idle tunnel was closed after {waited:?}");
    assert!(waited >= Duration::from_millis(900), "closed after {waited:?}");
    common::assert_due(waited, Duration::from_secs(1), "closed");
    gateway.wait_for_log("closed an idle tunnel");
}

/// A tunnel is still a client connection: with `--max-connections 1`, another client waits in
/// the backlog until the tunnel closes.
#[tokio::test(flavor = "multi_thread")]
async fn a_tunnel_counts_against_max_connections() {
    let upstream = WsUpstream::start().await;
    let gateway = gateway(&upstream.url(), &["--max-connections", "1"]);
    upstream.forget_the_start_probe().await;
    let url = format!("ws://{}/chat", gateway.address);
    let (mut first, _) = open(connect(gateway.address).await, &url, Some(APP)).await.unwrap();
    exchange(&mut first, 1).await;
    let address = gateway.address;
    let second = tokio::spawn(async move {
        let url = format!("ws://{address}/chat");
        let (mut socket, status) = open(connect(address).await, &url, Some(APP)).await.unwrap();
        exchange(&mut socket, 2).await;
        status
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!second.is_finished(), "a second connection was served while the tunnel was open");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);
    // The client closes the WebSocket and its connection.
    first.close(None).await.unwrap();
    drop(first);
    let status = tokio::time::timeout(PATIENCE, second).await.unwrap().unwrap();
    assert_eq!(status, 101);
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 2);
}

/// Shutdown closes tunnels at once: an upgraded protocol has no graceful close the gateway could
/// send, and waiting for it would hold every restart for `--shutdown-timeout`.
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_closes_the_tunnels() {
    let upstream = WsUpstream::start().await;
    let mut gateway = gateway(&upstream.url(), &["--shutdown-timeout", "120s"]);
    let url = format!("ws://{}/chat", gateway.address);
    let (mut socket, _) = open(connect(gateway.address).await, &url, Some(APP)).await.unwrap();
    exchange(&mut socket, 1).await;
    gateway.signal("TERM");
    wait_for_close(&mut socket).await;
    assert!(gateway.wait_exit().success());
    assert!(gateway.stderr().contains("shut down cleanly"), "{}", gateway.stderr());
}

/// Upgrades to HTTP itself are not tunnelled (the requests inside would never pass the CORS
/// layer): `Upgrade: h2c` is dropped and the request forwarded as a plain one. An upstream that
/// declines an upgrade has its answer passed on, on a connection that stays HTTP/1.1.
#[tokio::test(flavor = "multi_thread")]
async fn h2c_is_not_tunnelled_and_a_declined_upgrade_stays_http() {
    let upstream = common::upstream::Upstream::start().await;
    let gateway = gateway(&upstream.url(), &[]);
    let address = gateway.address;
    let raw = tokio::task::spawn_blocking(move || {
        let head = "GET /h2c HTTP/1.1\r\nhost: a.test\r\nconnection: Upgrade, HTTP2-Settings\r\n\
                    upgrade: h2c\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n\
                    GET /ws HTTP/1.1\r\nhost: a.test\r\nconnection: upgrade\r\nupgrade: websocket\r\n\
                    origin: https://app.example.com\r\n\r\n\
                    GET /after HTTP/1.1\r\nhost: a.test\r\n\r\n";
        common::raw_exchange(address, head.as_bytes(), Duration::from_secs(2))
    })
    .await
    .unwrap();
    assert_eq!(raw.text.matches("HTTP/1.1 200 OK").count(), 3, "{}", raw.text);
    let seen = upstream.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["/h2c", "/ws", "/after"]);
    assert!(!seen[0].headers.contains_key("upgrade"), "{:?}", seen[0].headers);
    assert!(!seen[0].headers.contains_key("http2-settings"), "{:?}", seen[0].headers);
    assert_eq!(seen[1].headers["upgrade"], "websocket");
    assert_eq!(seen[1].headers["connection"], "upgrade");
}
