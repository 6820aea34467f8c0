//! The worker threads of `--workers`: connections spread over them, and what bounds the gateway
//! (its connection caps, its upstream slots, its shutdown) bounds all of them together.
#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

mod common;

use std::collections::VecDeque;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::upstream::Upstream;
use common::{
    Gateway, PATIENCE, client, connect_from, empty, example_policy, raw_exchange, request, send,
};

const APP: &str = "https://app.example.com";

/// An allowed GET of the strict policy, kept alive.
const ALLOWED_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\n\r\n";

/// [`ALLOWED_GET`] with `Connection: close`: [`raw_exchange`] returns once the gateway closed
/// the connection after its answer, not at the end of a fixed wait that a busy machine can
/// outlast.
const CLOSING_GET: &[u8] =
    b"GET / HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\nConnection: close\r\n\r\n";

/// The strict example policy in front of `upstream`, with `extra` flags.
fn gateway(upstream: &str, extra: &[&str]) -> Gateway {
    let policy = example_policy("strict.yaml");
    let mut args = vec!["serve", "--config", policy.to_str().unwrap(), "--listen", "127.0.0.1:0"];
    args.extend(["--upstream", upstream, "--watch-interval", "0"]);
    args.extend(extra);
    Gateway::start(&args)
}

/// The status line of the response that comes back on `stream` within `wait`, or `None`.
fn status_line(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    stream.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let deadline = Instant::now() + wait;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while Instant::now() < deadline && !received.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&received).into_owned();
    text.lines().next().filter(|line| !line.is_empty()).map(str::to_owned)
}

/// Whether the gateway closed `stream` (end of stream or reset) within `wait`.
fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        match stream.read(&mut [0u8; 64]) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

/// With two workers, the connections of one client land on both (`SO_REUSEPORT` spreads them by
/// their ports), each says which worker took it, and every one is answered.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_spread_over_the_workers() {
    let upstream = Upstream::start().await;
    let gateway = gateway(&upstream.url(), &["--workers", "2"]);
    // The ready line names the worker count.
    gateway.wait_for_log(" workers=2");
    let address = gateway.address;
    let answers = tokio::task::spawn_blocking(move || {
        (0..32).map(|_| raw_exchange(address, CLOSING_GET, PATIENCE)).collect()
    });
    let answers: Vec<common::Raw> = answers.await.unwrap();
    for answer in answers {
        assert!(answer.text.starts_with("HTTP/1.1 200 "), "{}", answer.text);
    }
    assert_eq!(gateway.workers_that_accepted(32), ["0", "1"], "{}", gateway.stderr());
}

/// `--workers 1`: one worker takes every connection, and the ready line says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_serves_every_connection() {
    let upstream = Upstream::start().await;
    let gateway = gateway(&upstream.url(), &["--workers", "1"]);
    // The ready line names the worker count.
    gateway.wait_for_log(" workers=1");
    let client = client(false);
    for _ in 0..8 {
        let answer = send(&client, request("GET", &gateway.url("/"), &[("origin", APP)], empty()));
        assert_eq!(answer.await.status, 200);
        // A new connection for each request.
        let answer = raw_exchange(gateway.address, CLOSING_GET, PATIENCE);
        assert!(answer.text.starts_with("HTTP/1.1 200 "), "{}", answer.text);
    }
    assert_eq!(gateway.workers_that_accepted(9), ["0"], "{}", gateway.stderr());
}

/// `--workers 0` would serve nothing: a usage error (exit 2) saying what to give.
#[test]
fn zero_workers_are_refused() {
    let policy = example_policy("strict.yaml");
    let args = ["serve", "--config", policy.to_str().unwrap(), "--upstream", "http://127.0.0.1:1"];
    let (code, stdout, stderr) = common::run(&[&args[..], &["--workers", "0"]].concat());
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("invalid value '0' for '--workers <COUNT>'"), "{stderr}");
    assert!(stderr.contains("0 worker threads would serve no client: give 1 or more"), "{stderr}");
}

/// Finding F2 across workers: `--max-connections` bounds the connections of all workers
/// together, and a slot freed goes to a waiting connection whichever worker's socket it waits
/// on. With four workers and two slots, each round opens a connection: past the limit it is not
/// served while two are held, and is as soon as the oldest held one closes. Before the acceptors
/// took a connection before its slot, an idle worker held a slot while it waited for a
/// connection of its own, and a connection that came to another worker waited unserved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_holds_across_workers() {
    let upstream = Upstream::start().await;
    let flags = ["--workers", "4", "--max-connections", "2", "--header-read-timeout", "30s"];
    let gateway = gateway(&upstream.url(), &flags);
    let address = gateway.address;
    tokio::task::spawn_blocking(move || {
        let mut held = VecDeque::new();
        for round in 0..12 {
            let mut stream = TcpStream::connect(address).unwrap();
            stream.write_all(ALLOWED_GET).unwrap();
            if held.len() == 2 {
                let early = status_line(&mut stream, Duration::from_millis(300));
                assert_eq!(early, None, "round {round}: served past the limit");
                drop(held.pop_front());
            }
            let status = status_line(&mut stream, PATIENCE);
            assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"), "round {round}");
            held.push_back(stream);
        }
    })
    .await
    .unwrap();
}

/// Finding F-AW across workers: with `--max-connections 4 --max-connections-per-client 1`, four
/// silent connections of one client spread over four workers: two are served (at most half of
/// the slots in use), two are closed at once, whichever workers took them, and another client is
/// answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_client_cap_holds_across_workers() {
    let upstream = Upstream::start().await;
    let flags = ["--max-connections", "4", "--max-connections-per-client", "1"];
    let more = ["--workers", "4", "--header-read-timeout", "60s"];
    let gateway = gateway(&upstream.url(), &[&flags[..], &more].concat());
    let address = gateway.address;
    tokio::task::spawn_blocking(move || {
        let mut silent: Vec<TcpStream> =
            (0..4).map(|_| TcpStream::connect(address).unwrap()).collect();
        let deadline = Instant::now() + PATIENCE;
        let mut closed = vec![false; silent.len()];
        while closed.iter().filter(|c| **c).count() < 2 && Instant::now() < deadline {
            for (stream, closed) in silent.iter_mut().zip(&mut closed).filter(|(_, c)| !**c) {
                *closed = closed_within(stream, Duration::from_millis(20));
            }
        }
        assert_eq!(closed.iter().filter(|c| **c).count(), 2, "{closed:?}");
        for (stream, _) in silent.iter_mut().zip(&closed).filter(|(_, c)| !**c) {
            assert!(!closed_within(stream, Duration::from_millis(300)), "{closed:?}");
        }
        let mut other = connect_from("127.0.0.2", address);
        other.write_all(ALLOWED_GET).unwrap();
        let status = status_line(&mut other, PATIENCE);
        assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
    })
    .await
    .unwrap();
}

/// `--upstream-max-connections` bounds the upstream requests of all workers together: with one
/// slot and no queue, of 16 slow requests at once on 16 connections (both workers took some),
/// one is forwarded and the others get `503` at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_slots_are_shared_by_the_workers() {
    let upstream = Upstream::start().await;
    let flags = ["--workers", "2", "--upstream-max-connections", "1"];
    let gateway =
        gateway(&upstream.url(), &[&flags[..], &["--upstream-queue-timeout", "0"]].concat());
    let address = gateway.address;
    let slow = b"GET /slow?ms=1500 HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\n\r\n";
    let streams = (0..16).map(|_| {
        std::thread::spawn(move || {
            let mut stream = TcpStream::connect(address).unwrap();
            stream.write_all(slow).unwrap();
            status_line(&mut stream, PATIENCE)
        })
    });
    let statuses: Vec<Option<String>> =
        streams.collect::<Vec<_>>().into_iter().map(|t| t.join().unwrap()).collect();
    let count = |status: &str| statuses.iter().filter(|s| s.as_deref() == Some(status)).count();
    assert_eq!(count("HTTP/1.1 200 OK"), 1, "{statuses:?}");
    assert_eq!(count("HTTP/1.1 503 Service Unavailable"), 15, "{statuses:?}");
    assert_eq!(upstream.seen().len(), 1);
    #[cfg(target_os = "linux")]
    assert_eq!(gateway.workers_that_accepted(16), ["0", "1"], "{}", gateway.stderr());
}

/// SIGTERM with requests in flight on both workers: every worker stops accepting, each request
/// is answered, and the gateway exits cleanly once all are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_requests_in_flight_on_every_worker() {
    let upstream = Upstream::start().await;
    let mut gateway = gateway(&upstream.url(), &["--workers", "2"]);
    let client = client(false);
    let in_flight: Vec<_> = (0..16)
        .map(|n| {
            let (client, url) = (client.clone(), gateway.url("/slow?ms=1000"));
            tokio::spawn(async move {
                let id = format!("flight-{n}");
                send(&client, request("GET", &url, &[("x-test-id", &id)], empty())).await
            })
        })
        .collect();
    let deadline = Instant::now() + PATIENCE;
    while upstream.seen().len() < 16 {
        assert!(Instant::now() < deadline, "not every request reached the upstream");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    #[cfg(target_os = "linux")]
    assert_eq!(gateway.workers_that_accepted(16), ["0", "1"], "{}", gateway.stderr());
    gateway.signal("TERM");
    for answer in in_flight {
        let answer = tokio::time::timeout(PATIENCE, answer).await.unwrap().unwrap();
        assert_eq!((answer.status.as_u16(), answer.body.as_ref()), (200, b"slow".as_ref()));
    }
    let (status, stderr) = tokio::task::spawn_blocking(move || {
        let status = gateway.wait_exit();
        (status, gateway.stderr())
    })
    .await
    .unwrap();
    assert!(status.success(), "exit status {status:?}; stderr:\n{stderr}");
    assert!(stderr.contains("shut down cleanly"), "{stderr}");
}

/// A second gateway started on the port of a running one is refused as taken, as any process
/// holding the port is, though both would bind with `SO_REUSEPORT`: without the check, it would
/// join the first one's sockets and take a share of its connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gateway_on_the_same_port_is_refused() {
    let upstream = Upstream::start().await;
    let first = gateway(&upstream.url(), &["--workers", "2"]);
    let address = first.address.to_string();
    let policy = example_policy("strict.yaml");
    let args = ["serve", "--config", policy.to_str().unwrap(), "--upstream", &upstream.url()];
    let second: Vec<String> = [&args[..], &["--listen", &address, "--workers", "2"]]
        .concat()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        common::run(&second.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{stdout}{stderr}");
    let said = format!("error: cannot listen on {address}: ");
    assert!(stderr.contains(&said), "{stderr}");
    assert!(stderr.contains("; another process listens there"), "{stderr}");
    let answer = raw_exchange(first.address, CLOSING_GET, PATIENCE);
    assert!(answer.text.starts_with("HTTP/1.1 200 "), "{}", answer.text);
}

/// The connections an upstream has open, the most it had open at once, and how many it
/// accepted.
#[derive(Debug, Default)]
struct OpenCount {
    now: AtomicUsize,
    most: AtomicUsize,
    accepted: AtomicUsize,
    /// The request heads read, on all connections.
    requests: AtomicUsize,
}

impl OpenCount {
    /// Waits (bounded) for the connection of the gateway's probe at start to come and go, then
    /// counts from 0 again: the proxied requests' connections alone.
    fn forget_the_start_probe(&self) {
        let deadline = Instant::now() + PATIENCE;
        while self.accepted.load(Ordering::SeqCst) == 0 || self.now.load(Ordering::SeqCst) > 0 {
            assert!(Instant::now() < deadline, "the probe at start never came or never closed");
            std::thread::sleep(Duration::from_millis(5));
        }
        self.most.store(0, Ordering::SeqCst);
        self.accepted.store(0, Ordering::SeqCst);
    }

    /// (open now, most open at once, accepted).
    fn counts(&self) -> (usize, usize, usize) {
        let load = |count: &AtomicUsize| count.load(Ordering::SeqCst);
        (load(&self.now), load(&self.most), load(&self.accepted))
    }
}

/// A connection counted in an [`OpenCount`] until dropped.
struct Counted(Arc<OpenCount>);

impl Counted {
    fn new(count: &Arc<OpenCount>) -> Self {
        count.accepted.fetch_add(1, Ordering::SeqCst);
        let open = count.now.fetch_add(1, Ordering::SeqCst) + 1;
        count.most.fetch_max(open, Ordering::SeqCst);
        Self(Arc::clone(count))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A raw upstream that answers each request on a connection `delay` after its head (see
/// [`answer_counted`] for the paths answered otherwise), keeping the connection alive until the
/// gateway closes it; returns its address and the count of its open connections (the gateway's
/// probe at start, `admin::warn_of_unreachable_upstreams`, among them while it lasts).
fn counting_upstream(delay: Duration) -> (SocketAddr, Arc<OpenCount>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let open = Arc::new(OpenCount::default());
    let count = Arc::clone(&open);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let counted = Counted::new(&count);
            let seen = Arc::clone(&count);
            std::thread::spawn(move || {
                let _counted = counted;
                let mut head = Vec::new();
                let mut buffer = [0u8; 4096];
                loop {
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&head).into_owned();
                    head.clear();
                    seen.requests.fetch_add(1, Ordering::SeqCst);
                    if !answer_counted(&mut stream, &text, delay) {
                        return;
                    }
                }
            });
        }
    });
    (address, open)
}

/// How [`counting_upstream`] answers the request `head` on `stream`: whether the connection
/// goes on. Every answer names the request's path in `x-path`. A request asking to upgrade to
/// `echo` is switched to it (what the gateway sends comes back, until it closes); `/close` is
/// answered with `Connection: close`, `/cut` with a body cut short (the upstream closes its
/// side), both then waiting for the gateway to close its side, so that an upstream connection
/// is counted closed only once the gateway closed it; `/slow-body` gets its body 200 ms after
/// its head and first bytes, `/slow` its answer after 300 ms (both end at once should the
/// gateway close meanwhile). `/short-keep-alive` is answered and its connection closed by the
/// upstream when no request follows within 150 ms (an upstream's keep-alive timeout), and
/// `/then-drop` likewise as soon as the next request arrives, unanswered (a close that crossed
/// that request), both then waiting for the gateway's close; `/reset` resets the connection
/// (`SO_LINGER` 0, then close) before any byte of an answer, `/reset-head` after the head and
/// the first bytes of the body. Any other path is answered after `delay`.
fn answer_counted(stream: &mut TcpStream, head: &str, delay: Duration) -> bool {
    let path = head.split(' ').nth(1).unwrap_or("/");
    if head.to_ascii_lowercase().contains("\r\nupgrade: echo\r\n") {
        let switch =
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n";
        let Ok(mut reads) = stream.try_clone() else { return false };
        if stream.write_all(switch).is_ok() {
            let _ended = std::io::copy(&mut reads, stream);
        }
        return false;
    }
    // Whether the gateway closed the connection within `wait` (reads are then blocking again).
    let left = |stream: &mut TcpStream, wait: Duration| {
        let closed = closed_within(stream, wait);
        stream.set_read_timeout(None).is_err() || closed
    };
    let wait_for_the_gateway = |stream: &mut TcpStream| {
        let _closed = stream.read_to_end(&mut Vec::new());
        false
    };
    let head = |fields: &str, length: usize| {
        format!("HTTP/1.1 200 OK\r\nx-path: {path}\r\n{fields}content-length: {length}\r\n\r\n")
    };
    match path {
        "/close" => {
            let answer = head("connection: close\r\n", 2) + "ok";
            stream.write_all(answer.as_bytes()).is_ok() && wait_for_the_gateway(stream)
        }
        "/cut" => {
            let answer = head("", 100) + "ok";
            let cut = stream.write_all(answer.as_bytes()).is_ok()
                && stream.shutdown(std::net::Shutdown::Write).is_ok();
            cut && wait_for_the_gateway(stream)
        }
        "/slow-body" => {
            let first = head("", 4) + "ok";
            let sent = stream.write_all(first.as_bytes()).is_ok();
            sent && !left(stream, Duration::from_millis(200)) && stream.write_all(b"ok").is_ok()
        }
        "/slow" => {
            !left(stream, Duration::from_millis(300))
                && stream.write_all((head("", 2) + "ok").as_bytes()).is_ok()
        }
        "/short-keep-alive" => {
            let kept = stream.write_all((head("", 2) + "ok").as_bytes()).is_ok()
                && stream.set_read_timeout(Some(Duration::from_millis(150))).is_ok();
            match stream.peek(&mut [0u8; 1]) {
                Ok(n) if kept && n > 0 => stream.set_read_timeout(None).is_ok(),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    let closed = stream.shutdown(std::net::Shutdown::Write).is_ok()
                        && stream.set_read_timeout(None).is_ok();
                    closed && wait_for_the_gateway(stream)
                }
                _ => false,
            }
        }
        "/then-drop" => {
            let answered = stream.write_all((head("", 2) + "ok").as_bytes()).is_ok();
            let next = answered && stream.read(&mut [0u8; 4096]).is_ok_and(|n| n > 0);
            next && stream.shutdown(std::net::Shutdown::Write).is_ok()
                && wait_for_the_gateway(stream)
        }
        "/reset" => reset(stream),
        "/reset-head" => {
            let first = head("", 100) + "ok";
            let _sent = stream.write_all(first.as_bytes());
            reset(stream)
        }
        _ => {
            std::thread::sleep(delay);
            stream.write_all((head("", 2) + "ok").as_bytes()).is_ok()
        }
    }
}

/// Resets `stream` (`SO_LINGER` 0: its close sends a reset); the connection does not go on.
fn reset(stream: &TcpStream) -> bool {
    let _set = rustix::net::sockopt::set_socket_linger(stream, Some(Duration::ZERO));
    false
}

/// The worker that accepted the connection from local port `port`, from the gateway's debug log.
fn worker_of(gateway: &Gateway, port: u16) -> usize {
    let peer = format!("peer=127.0.0.1:{port} worker=");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let log = gateway.stderr();
        if let Some(worker) = log.split(&peer).nth(1) {
            return worker.split_whitespace().next().unwrap().parse().unwrap();
        }
        assert!(Instant::now() < deadline, "no accept of port {port}:\n{log}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A gateway with `--workers 2` and `flags` in front of a [`counting_upstream`] answering at
/// once, the count past the gateway's probe at start, with at least `per_worker` client
/// connections on each worker, by worker.
fn counted_gateway(
    flags: &[&str],
    per_worker: usize,
) -> (Gateway, Arc<OpenCount>, [Vec<TcpStream>; 2]) {
    let (upstream, open) = counting_upstream(Duration::ZERO);
    let mut args = vec!["--workers", "2"];
    args.extend(flags);
    let gateway = gateway(&format!("http://{upstream}"), &args);
    open.forget_the_start_probe();
    let connections = connections_on_each_worker(&gateway, per_worker);
    (gateway, open, connections)
}

/// At least `count` client connections to `gateway` (`--workers 2`) on each of its workers,
/// by worker.
fn connections_on_each_worker(gateway: &Gateway, count: usize) -> [Vec<TcpStream>; 2] {
    let mut by_worker: [Vec<TcpStream>; 2] = Default::default();
    let deadline = Instant::now() + PATIENCE;
    while by_worker.iter().any(|streams| streams.len() < count) {
        assert!(Instant::now() < deadline, "connections all on one worker");
        let stream = TcpStream::connect(gateway.address).unwrap();
        let worker = worker_of(gateway, stream.local_addr().unwrap().port());
        by_worker[worker].push(stream);
    }
    by_worker
}

/// Finding F-DV: each worker kept its own idle upstream connections, so after three requests at
/// once on one worker and then three on the other, the upstream had six connections where
/// `--upstream-max-connections 4` should allow four. A worker whose pool is empty opens one of its
/// own only while the workers have fewer than four open, then borrows another's idle one: four
/// connections at most are open at once (three, should the second worker find the limit
/// reached; never six).
#[cfg(target_os = "linux")]
#[test]
fn the_workers_hold_no_more_upstream_connections_than_the_limit() {
    let (upstream, open) = counting_upstream(Duration::from_millis(300));
    let flags = ["--workers", "2", "--upstream-max-connections", "4"];
    let gateway = gateway(&format!("http://{upstream}"), &flags);
    let mut by_worker = connections_on_each_worker(&gateway, 3);
    for streams in &mut by_worker {
        std::thread::scope(|scope| {
            for stream in streams.iter_mut().take(3) {
                scope.spawn(move || {
                    stream.write_all(ALLOWED_GET).unwrap();
                    let status = status_line(stream, PATIENCE);
                    assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
                });
            }
        });
    }
    let connections = open.most.load(Ordering::SeqCst);
    assert!((3..=4).contains(&connections), "{connections} upstream connections at once");
}

/// An allowed GET of the strict policy that asks to upgrade to `echo` (a protocol without
/// WebSocket's key to answer).
const ALLOWED_UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n";

/// Sends `request` on `stream` and checks the status line of its answer.
fn exchange(stream: &mut TcpStream, request: &[u8], expected: &str) {
    stream.write_all(request).unwrap();
    assert_eq!(status_line(stream, PATIENCE).as_deref(), Some(expected));
}

/// Finding F-DW: an upstream connection that became a tunnel stayed open to the upstream but was
/// no longer counted among the workers' open connections, so that with a tunnel open on worker
/// 0, a request on worker 1 and then one on worker 0 each opened a connection of their own: three
/// open to the upstream with `--upstream-max-connections 2`. Counted until it closes, the
/// tunnel leaves room for worker 1's connection alone, which worker 0 then borrows; once the
/// tunnel closed, worker 0 opens a connection of its own again (the tunnel is uncounted, not
/// counted for good).
#[cfg(target_os = "linux")]
#[test]
fn a_tunnel_counts_against_the_upstream_connection_limit_until_it_closes() {
    // A connection for each exchange: a status line is read, not the body after it.
    let (_gateway, open, [mut first, mut second]) =
        counted_gateway(&["--upstream-max-connections", "2"], 3);
    open_tunnel(&mut first[0]);
    exchange(&mut second[0], ALLOWED_GET, "HTTP/1.1 200 OK");
    exchange(&mut first[1], ALLOWED_GET, "HTTP/1.1 200 OK");
    assert_eq!(open.counts(), (2, 2, 2), "(open, most at once, accepted) with the tunnel open");
    // The tunnel closes: the gateway ends the client's side once the upstream ended its own,
    // and drops the upstream connection in the same poll of worker 0, before it reads on.
    close_tunnel(&mut first[0]);
    exchange(&mut first[2], ALLOWED_GET, "HTTP/1.1 200 OK");
    let (_, most, accepted) = open.counts();
    assert_eq!((most, accepted), (2, 3), "(most at once, accepted) after the tunnel closed");
}

/// Upgrades `stream` to a tunnel ([`ALLOWED_UPGRADE`]) and checks that it carries bytes both
/// ways: the upstream echoes a `ping`.
fn open_tunnel(stream: &mut TcpStream) {
    exchange(stream, ALLOWED_UPGRADE, "HTTP/1.1 101 Switching Protocols");
    stream.write_all(b"ping").unwrap();
    let mut echoed = [0u8; 4];
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"ping");
}

/// Ends the client's side of the tunnel on `stream`: the gateway closes it once the upstream
/// ended its own.
fn close_tunnel(stream: &mut TcpStream) {
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(closed_within(stream, PATIENCE), "the tunnel did not close");
}

/// Sends a kept-alive allowed GET of `path` on `stream` and reads the whole answer, which must
/// be the upstream's `200` to that request (never another's).
fn fetch(stream: &mut TcpStream, path: &str) {
    ask(stream, path);
    read_answer(stream, path);
}

/// Sends a kept-alive allowed GET of `path` on `stream`.
fn ask(stream: &mut TcpStream, path: &str) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: a\r\nOrigin: {APP}\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
}

/// Reads the whole answer to a GET of `path` on `stream`, which must be the upstream's `200` to
/// that request.
fn read_answer(stream: &mut TcpStream, path: &str) {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let end = loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut buffer).unwrap();
        assert!(n > 0, "closed before the answer to {path}");
        received.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{path}: {head}");
    assert!(head.contains(&format!("\r\nx-path: {path}\r\n")), "{path}: {head}");
    let length: usize = head
        .split("\r\ncontent-length: ")
        .nth(1)
        .unwrap()
        .split("\r\n")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut body = received.split_off(end);
    while body.len() < length {
        let n = stream.read(&mut buffer).unwrap();
        assert!(n > 0, "closed in the body of {path}");
        body.extend_from_slice(&buffer[..n]);
    }
    assert_eq!(body, b"ok", "{path}");
}

/// One hostile exchange through a new connection to `address`, by `kind`: the upstream answers
/// `Connection: close`; the upstream cuts its body short; the client leaves after the head,
/// before the body ends; the client leaves as soon as it sent its request (while it waits for
/// a slot, for a connection, or for the upstream, borrowed or not); a tunnel, used and closed;
/// a plain GET.
fn storm_exchange(address: SocketAddr, kind: usize) {
    let mut stream = TcpStream::connect(address).unwrap();
    match kind % 6 {
        0 => fetch(&mut stream, "/close"),
        1 => {
            ask(&mut stream, "/cut");
            assert!(closed_within(&mut stream, PATIENCE), "a cut body did not end its connection");
        }
        2 => {
            ask(&mut stream, "/slow-body");
            assert_eq!(status_line(&mut stream, PATIENCE).as_deref(), Some("HTTP/1.1 200 OK"));
        }
        3 => ask(&mut stream, "/slow"),
        4 => {
            open_tunnel(&mut stream);
            close_tunnel(&mut stream);
        }
        _ => fetch(&mut stream, "/"),
    }
}

/// After a storm on both workers of upstream connections closed by the upstream (`Connection:
/// close`, a body cut short), by clients that leave at every step (waiting for a slot or a
/// connection, on a borrowed connection, after the response head), and of tunnels, with
/// `--upstream-max-connections 2`, and once the idle connections expired: the workers' count of
/// open upstream connections is back to none, exactly. A worker with none of its own opens one
/// while the other holds the only one (were closed connections still counted, it would borrow
/// that one), and two requests at once on the first then borrow the second's rather than open
/// a third (were connections uncounted, the upstream would see three).
#[cfg(target_os = "linux")]
#[test]
fn after_a_storm_the_workers_count_exactly_the_upstream_connections_open() {
    storm_then_count_exactly(storm_exchange);
}

/// A storm on a gateway with `--workers 2 --upstream-max-connections 2 --upstream-idle-timeout
/// 300ms` in front of a [`counting_upstream`]: 4 client threads at once, each with the
/// exchanges `exchange(address, kind)` of kinds `thread..thread + 6`; then every upstream
/// connection closes (those of clients that left, those the upstream ended, and the idle ones
/// after `--upstream-idle-timeout`), and the workers must count none open, exactly.
fn storm_then_count_exactly(exchange: fn(SocketAddr, usize)) {
    // Client connections opened first, so that no connection of the storm leaves its port to
    // one of these.
    let flags = ["--upstream-max-connections", "2", "--upstream-idle-timeout", "300ms"];
    let (gateway, open, [mut first, mut second]) = counted_gateway(&flags, 3);
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let address = gateway.address;
            scope.spawn(move || {
                for kind in thread..thread + 6 {
                    exchange(address, kind);
                }
            });
        }
    });
    // The upstream counts one closed once the gateway closed it.
    the_workers_count_exactly_none_once_all_closed(&open, &mut first, &mut second);
}

/// Waits (bounded) until the upstream saw every connection closed (by the gateway, as
/// [`counting_upstream`] counts them), then checks that the workers of a gateway with
/// `--workers 2 --upstream-max-connections 2` count none open, exactly, with 3 client
/// connections on worker 0 (`first`) and 1 on worker 1 (`second`): a GET on each worker opens a
/// connection each (were closed connections still counted, worker 1 would borrow worker 0's),
/// and two at once on worker 0 then borrow worker 1's rather than open a third (were
/// connections uncounted, the upstream would see three).
fn the_workers_count_exactly_none_once_all_closed(
    open: &OpenCount,
    first: &mut [TcpStream],
    second: &mut [TcpStream],
) {
    let deadline = Instant::now() + PATIENCE;
    while open.counts().0 > 0 {
        assert!(Instant::now() < deadline, "{:?} (open, most, accepted)", open.counts());
        std::thread::sleep(Duration::from_millis(5));
    }
    open.forget_the_start_probe();
    fetch(&mut first[0], "/");
    fetch(&mut second[0], "/");
    // Open now is not asked: past `--upstream-idle-timeout` (300 ms) the gateway closes an idle
    // connection, which a busy machine may let happen before the count.
    let (_, most, accepted) = open.counts();
    assert_eq!((most, accepted), (2, 2), "(most at once, accepted): worker 1 opened its own");
    // Both sent before either answer is read, so that both are in flight at once (`/slow` is
    // answered after 300 ms): sent from two threads, they could go 300 ms apart, the second
    // then taking the first's connection, idle again, and nothing borrowed.
    let (one, other) = first.split_at_mut(2);
    ask(&mut one[1], "/slow");
    ask(&mut other[0], "/slow");
    read_answer(&mut one[1], "/slow");
    read_answer(&mut other[0], "/slow");
    let (_, most, accepted) = open.counts();
    assert_eq!((most, accepted), (2, 2), "(most at once, accepted): worker 0 borrowed");
}

/// An upstream that closes its idle keep-alive connections itself, after 150 ms (its own
/// keep-alive timeout, shorter than `--upstream-idle-timeout`), on both workers of a gateway
/// with `--upstream-max-connections 2`: once the gateway saw them closed, the workers count
/// none of them, and open up to the limit again and no more. A request sent on a connection
/// the upstream closes as the request arrives is sent once more on a new connection, as
/// docs/operations.md says, when the connection had waited 100 ms at least (the client gets
/// its own answer), and gets `502` when it had not (never a hang, never another request's
/// answer); the workers then count exactly the connections open again.
#[cfg(target_os = "linux")]
#[test]
fn when_the_upstream_closes_idle_connections_the_workers_count_exactly_the_ones_open() {
    let flags = ["--upstream-max-connections", "2", "--upstream-idle-timeout", "1s"];
    let (_gateway, open, [mut first, mut second]) = counted_gateway(&flags, 3);
    fetch(&mut first[0], "/short-keep-alive");
    fetch(&mut second[0], "/short-keep-alive");
    assert_eq!(open.counts(), (2, 2, 2), "(open, most, accepted): one on each worker");
    // The upstream closes both after 150 ms idle, and counts each closed once the gateway closed
    // its side too.
    the_workers_count_exactly_none_once_all_closed(&open, &mut first, &mut second);
    // Worker 0's connection closes under its next request, which it sent after 150 ms idle: sent
    // again on a new connection (or on worker 1's, lent), it gets its own answer.
    fetch(&mut first[0], "/then-drop");
    std::thread::sleep(Duration::from_millis(150));
    fetch(&mut first[0], "/");
    // Worker 1's closes under a request sent at once: not sent again, `502`.
    fetch(&mut second[0], "/then-drop");
    second[0].write_all(ALLOWED_GET).unwrap();
    let status = status_line(&mut second[0], PATIENCE);
    assert_eq!(status.as_deref(), Some("HTTP/1.1 502 Bad Gateway"));
    // The idle connections expire after `--upstream-idle-timeout`; the workers count none.
    the_workers_count_exactly_none_once_all_closed(&open, &mut first, &mut second[1..]);
}

/// The answer to a request for `path` on `stream` whose upstream resets its connection after
/// it: `502`, or the head of a `200` and then the connection closed before the end of the body
/// (docs/operations.md, "An upstream that fails mid-body"); never a close without a byte.
fn assert_refused_or_cut(stream: &mut TcpStream, path: &str) {
    match status_line(stream, PATIENCE).as_deref() {
        Some("HTTP/1.1 502 Bad Gateway") => {}
        Some("HTTP/1.1 200 OK") => {
            assert!(closed_within(stream, PATIENCE), "{path}: a cut body did not end it");
        }
        status => panic!("{path}: {status:?}"),
    }
}

/// One exchange of the reset storm through a new connection to `address`, by `kind`: the
/// upstream resets its connection before any answer; after the head of one; a plain GET.
fn reset_exchange(address: SocketAddr, kind: usize) {
    let mut stream = TcpStream::connect(address).unwrap();
    let path = ["/reset", "/reset-head", "/"][kind % 3];
    ask(&mut stream, path);
    if path == "/" {
        read_answer(&mut stream, path);
    } else {
        assert_refused_or_cut(&mut stream, path);
    }
}

/// An upstream that resets its connections (`SO_LINGER` 0, then close) before an answer or
/// after the head of one, in a storm on both workers with `--upstream-max-connections 2` and
/// kept-alive GETs between: each client gets `502`, or the head and its connection closed
/// mid-body, the gateway stays up, and once the idle connections expired the workers count none
/// open, exactly.
#[cfg(target_os = "linux")]
#[test]
fn after_upstream_resets_the_workers_count_exactly_the_upstream_connections_open() {
    storm_then_count_exactly(reset_exchange);
}

/// SIGTERM while worker 1 has worker 0's only upstream connection (`--upstream-max-connections
/// 1`) on loan for a request: the request is answered on it, and the gateway exits cleanly once
/// it is; worker 0's runtime, which drives the connection, is shut down only after every
/// worker's connections are done.
#[cfg(target_os = "linux")]
#[test]
fn sigterm_while_a_connection_is_lent_finishes_its_request() {
    let (mut gateway, open, [mut first, mut second]) =
        counted_gateway(&["--upstream-max-connections", "1"], 1);
    fetch(&mut first[0], "/");
    ask(&mut second[0], "/slow");
    let deadline = Instant::now() + PATIENCE;
    while open.requests.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "the lent request never reached the upstream");
        std::thread::sleep(Duration::from_millis(5));
    }
    gateway.signal("TERM");
    read_answer(&mut second[0], "/slow");
    let (_, most, accepted) = open.counts();
    assert_eq!((most, accepted), (1, 1), "(most at once, accepted): the request borrowed");
    drop((first, second));
    let status = gateway.wait_exit();
    assert!(status.success(), "exit status {status:?}; stderr:\n{}", gateway.stderr());
    assert!(gateway.stderr().contains("shut down cleanly"), "{}", gateway.stderr());
}

/// Finding F-DY: an upstream that resets its connection just after a response head and the
/// first bytes of its body had the client's connection closed without a byte, when the body's
/// failure came within the poll that wrote the head (hyper ends the connection on a body's error
/// without writing what it holds), as when the upstream connection, lent by the other worker,
/// is driven on the other thread: the client could not tell the gateway had an answer. With
/// `--upstream-max-connections 1`, 20 rounds of a GET on worker 0 (its connection kept) and
/// then such a request on worker 1 (on worker 0's connection, lent): each gets `502` (the
/// reset lost the upstream's bytes before the gateway read them) or the head, and then its
/// connection closed mid-body.
#[cfg(target_os = "linux")]
#[test]
fn a_response_head_reaches_the_client_when_the_upstream_resets_after_it() {
    let (_gateway, _open, [mut first, second]) =
        counted_gateway(&["--upstream-max-connections", "1"], 20);
    for (own, mut lent) in first.iter_mut().zip(second).take(20) {
        fetch(own, "/");
        ask(&mut lent, "/reset-head");
        assert_refused_or_cut(&mut lent, "/reset-head");
    }
}
