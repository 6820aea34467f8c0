//! The traffic of `cargo xtask soak`: mixed, steady, checked traffic against a `cors-gateway`
//! that applies `examples/policies/strict.yaml`, for a fixed time, then a summary.
//!
//! Usage: `soak-traffic ADDR SECS`. Runs, all at once and without pause:
//! - 4 HTTP/1.1 keep-alive clients and 2 clients opening a connection per request, cycling
//!   through an allowed `GET`, a refused `GET` (another origin) and a preflight;
//! - 2 HTTP/2 connections (hyper's client, prior knowledge) with 8 streams in flight each, the
//!   same three requests;
//! - 2 slow clients sending a request head one byte every 100 ms, and 1 sending an allowed
//!   `POST` body the same way: the gateway must close them (408 or a close) before they finish,
//!   so run it with short `--header-read-timeout` and `--body-read-timeout` (`cargo xtask soak`
//!   uses 2 s).
//!
//! Every answer is checked (status, the CORS fields the policy grants or withholds); the summary
//! on stdout counts them by kind, and the exit status is 1 if any was wrong.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use cors_benches::soak::{APP, Failures, Kind, parse_head, run_clients};
use http::Method;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// How long any single exchange may take before it counts as a failure.
const PATIENCE: Duration = Duration::from_secs(20);
/// The path every request asks for.
const TARGET: &str = "/soak";
/// The end of a request head that asks for the connection to close after its answer.
const CLOSE: &str = "connection: close\r\n";

/// What the run saw.
#[derive(Default)]
struct Tally {
    http1: AtomicU64,
    http1_new_connection: AtomicU64,
    http2: AtomicU64,
    slow_heads: AtomicU64,
    slow_bodies: AtomicU64,
    failures: Failures,
}

/// Sends `kind` through `client` and checks the answer.
async fn exchange(
    client: &Client<HttpConnector, Empty<Bytes>>,
    authority: &str,
    kind: Kind,
) -> Result<(), String> {
    let request = kind.request(authority, TARGET, Method::GET).map_err(|e| e.to_string())?;
    let work = async {
        let response = client.request(request).await.map_err(|e| format!("{kind:?}: {e}"))?;
        let (parts, body) = response.into_parts();
        body.collect().await.map_err(|e| format!("{kind:?}: body: {e}"))?;
        kind.check(parts.status, &parts.headers)
    };
    tokio::time::timeout(PATIENCE, work).await.map_err(|_| format!("{kind:?}: timed out"))?
}

/// A client cycling through [`Kind::ALL`] on `client` until `stop`, counting into `count`.
async fn cycle(
    client: Client<HttpConnector, Empty<Bytes>>,
    authority: Arc<str>,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
    count: fn(&Tally) -> &AtomicU64,
) {
    for kind in Kind::ALL.iter().cycle() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        match exchange(&client, &authority, *kind).await {
            Ok(()) => _ = count(&tally).fetch_add(1, Ordering::Relaxed),
            Err(failure) => tally.failures.fail(failure),
        }
    }
}

/// A client opening a new connection for each request, until `stop`.
async fn churn(authority: Arc<str>, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    for kind in Kind::ALL.iter().cycle() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let work = async {
            let mut stream = TcpStream::connect(&*authority).await.map_err(|e| e.to_string())?;
            stream
                .write_all(kind.raw_request(&authority, TARGET, &Method::GET, CLOSE).as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.map_err(|e| e.to_string())?;
            let head = parse_head(&answer)?.ok_or("no complete head")?;
            kind.check(head.status, &head.headers)
        };
        match tokio::time::timeout(PATIENCE, work).await {
            Ok(Ok(())) => _ = tally.http1_new_connection.fetch_add(1, Ordering::Relaxed),
            Ok(Err(failure)) => tally.failures.fail(format!("new connection: {failure}")),
            Err(_) => tally.failures.fail("new connection: timed out".to_owned()),
        }
    }
}

/// A slow client, until `stop`: sends `opening`, then `drip` one byte every 100 ms, and expects
/// the gateway to answer 408 (or 200, for a body it forwarded) or close before the drip ends.
async fn slow(
    authority: Arc<str>,
    opening: String,
    drip: Vec<u8>,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
    count: fn(&Tally) -> &AtomicU64,
) {
    while !stop.load(Ordering::Relaxed) {
        let work = async {
            let mut stream = TcpStream::connect(&*authority).await.map_err(|e| e.to_string())?;
            stream.write_all(opening.as_bytes()).await.map_err(|e| e.to_string())?;
            let mut answer = Vec::new();
            for byte in &drip {
                let mut buffer = [0u8; 1024];
                match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buffer))
                    .await
                {
                    // Closed (or reset): what the gateway must do, after its answer, if any.
                    Ok(Ok(0) | Err(_)) => return Ok(answer),
                    Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
                    Err(_) => {}
                }
                if stream.write_all(std::slice::from_ref(byte)).await.is_err() {
                    return Ok(answer);
                }
            }
            Err(format!("not cut off after {} slow bytes", drip.len()))
        };
        match tokio::time::timeout(PATIENCE, work).await {
            Ok(Ok(answer)) => {
                let text = String::from_utf8_lossy(&answer);
                if text.is_empty()
                    || text.starts_with("HTTP/1.1 408")
                    || text.starts_with("HTTP/1.1 200")
                {
                    count(&tally).fetch_add(1, Ordering::Relaxed);
                } else {
                    tally.failures.fail(format!("slow client got {text:?}"));
                }
            }
            Ok(Err(failure)) => tally.failures.fail(format!("slow client: {failure}")),
            Err(_) => tally.failures.fail("slow client: timed out".to_owned()),
        }
    }
}

/// Starts every client in `tasks`.
fn traffic(
    tasks: &mut tokio::task::JoinSet<()>,
    authority: &Arc<str>,
    stop: &Arc<AtomicBool>,
    tally: &Arc<Tally>,
) {
    let http1 = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    for _ in 0..4 {
        let (client, authority) = (http1.clone(), Arc::clone(authority));
        let (stop, tally) = (Arc::clone(stop), Arc::clone(tally));
        tasks.spawn(cycle(client, authority, stop, tally, |t| &t.http1));
    }
    for _ in 0..2 {
        tasks.spawn(churn(Arc::clone(authority), Arc::clone(stop), Arc::clone(tally)));
    }
    for _ in 0..2 {
        // A client of its own: one HTTP/2 connection, 8 streams in flight on it.
        let http2 =
            Client::builder(TokioExecutor::new()).http2_only(true).build_http::<Empty<Bytes>>();
        for _ in 0..8 {
            let (client, authority) = (http2.clone(), Arc::clone(authority));
            let (stop, tally) = (Arc::clone(stop), Arc::clone(tally));
            tasks.spawn(cycle(client, authority, stop, tally, |t| &t.http2));
        }
    }
    let slow_head = format!("GET /soak HTTP/1.1\r\nhost: {authority}\r\n");
    let drip: Vec<u8> = b"x-slow: ".iter().copied().chain(std::iter::repeat_n(b'a', 600)).collect();
    for _ in 0..2 {
        let (opening, drip) = (slow_head.clone(), drip.clone());
        let (stop, tally) = (Arc::clone(stop), Arc::clone(tally));
        tasks.spawn(slow(Arc::clone(authority), opening, drip, stop, tally, |t| &t.slow_heads));
    }
    let slow_body = format!(
        "POST /soak HTTP/1.1\r\nhost: {authority}\r\norigin: {APP}\r\ncontent-length: 600\r\n\r\n"
    );
    let (stop_slow, tally_slow) = (Arc::clone(stop), Arc::clone(tally));
    let drip = vec![b'b'; 600];
    tasks.spawn(slow(Arc::clone(authority), slow_body, drip, stop_slow, tally_slow, |t| {
        &t.slow_bodies
    }));
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: soak-traffic ADDR SECS";
    let authority: Arc<str> = args.next().ok_or(usage)?.into();
    let secs: u64 = args.next().ok_or(usage)?.parse().map_err(|_| usage)?;
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let took = run_clients(secs, &stop, |tasks| traffic(tasks, &authority, &stop, &tally))?;
    let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let failures = tally.failures.count();
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "soak-traffic: {:.0} s: {} HTTP/1.1 keep-alive, {} HTTP/1.1 new-connection and {} HTTP/2 \
         answers checked; {} slow header sections and {} slow bodies cut off; {failures} failures",
        took.as_secs_f64(),
        count(&tally.http1),
        count(&tally.http1_new_connection),
        count(&tally.http2),
        count(&tally.slow_heads),
        count(&tally.slow_bodies),
    )?;
    tally.failures.end_run(&mut stdout)?;
    Ok(())
}
