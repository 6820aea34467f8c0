//! The clients of `cargo xtask soak --chaos`: checked traffic through a `cors-gateway` that
//! applies `examples/policies/strict.yaml` in front of `chaos-upstream`, with the limits of
//! [`chaos::GATEWAY_FLAGS`], for a fixed time, then a count of every outcome.
//!
//! Usage: `chaos-traffic ADDR SECS`, or `chaos-traffic --gateway-flags` to print the flags the
//! gateway must run with (one a line). Runs, all at once and without pause:
//! - 4 HTTP/1.1 keep-alive clients (hyper's pooled client) and 2 opening a connection per
//!   request, and 2 HTTP/2 connections with 4 streams in flight each, cycling through every
//!   path of [`Path::CYCLE`] with an allowed and a refused origin, and a preflight: each answer
//!   is checked against what its path promises ([`Path::promise`]: the status, a complete body
//!   or a cut after the head) and against the CORS fields of the policy;
//! - 2 clients that leave: after sending a request head (to a late, a stalling or a normal
//!   path), or after the head and part of the body of a response (large, stalling or cut),
//!   closing or resetting their connection;
//! - 1 slow reader, taking a large body a few KiB at a time (it must arrive whole);
//! - 1 client of upgrades: an allowed one is tunnelled (`101`, then an echo it checks), then
//!   closed by the client, or left idle until the gateway closes it
//!   (`--tunnel-idle-timeout`); a refused one is answered `200` and never tunnelled.
//!
//! No exchange may take longer than the gateway's timeouts allow, plus slack. The summary on
//! stdout counts the outcomes by client and kind; the exit status is 1 if any was wrong.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cors_benches::chaos::{self, Path, Promise};
use cors_benches::soak::{Failures, Kind, RawHead, parse_head, run_clients};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Slack on top of the gateway's timeouts before an exchange counts as hung.
const SLACK: Duration = Duration::from_secs(3);

/// The longest an exchange may take: a wait in the gateway's queue, then the longest a path
/// keeps its answer going (a late head, or a trickle and the read timeout), and slack.
fn patience() -> Duration {
    let trickle = chaos::TRICKLE_EVERY * u32::try_from(chaos::TRICKLE_PIECES).unwrap_or(u32::MAX);
    chaos::UPSTREAM_QUEUE_TIMEOUT
        + chaos::UPSTREAM_TIMEOUT.max(trickle + chaos::UPSTREAM_READ_TIMEOUT)
        + SLACK
}

/// What the run saw: outcomes counted by client and kind, and the failures.
#[derive(Default)]
struct Tally {
    outcomes: Mutex<BTreeMap<(&'static str, String), u64>>,
    failures: Failures,
}

impl Tally {
    fn count(&self, client: &'static str, outcome: String) {
        let mut outcomes = self.outcomes.lock().unwrap_or_else(PoisonError::into_inner);
        *outcomes.entry((client, outcome)).or_default() += 1;
    }

    /// Counts `result` under `client`, `what` naming the request.
    fn record(&self, client: &'static str, what: &str, result: Result<String, String>) {
        match result {
            Ok(outcome) => self.count(client, outcome),
            Err(failure) => self.failures.fail(format!("{client}: {what}: {failure}")),
        }
    }
}

/// Whether an answer to `kind` on `path` is what the gateway must give: `status`, `headers`,
/// and the body (its length when complete, else why it ended). Returns the outcome's name.
fn judge(
    path: Path,
    kind: Kind,
    status: StatusCode,
    headers: &HeaderMap,
    body: Result<usize, String>,
) -> Result<String, String> {
    kind.check_fields(headers)?;
    let body_len = |body: Result<usize, String>| body.map_err(|e| format!("{status}: body: {e}"));
    match kind {
        Kind::Refused | Kind::Preflight => {
            let length = body_len(body)?;
            if status != StatusCode::OK || length != 0 {
                return Err(format!("{status} with {length} bytes, not 200 and empty"));
            }
            let kind = if kind == Kind::Refused { "refused" } else { "preflight" };
            return Ok(format!("{kind}: 200"));
        }
        Kind::Allowed => {}
    }
    // Every path waits for an upstream slot, and may wait too long under this load.
    if status == StatusCode::SERVICE_UNAVAILABLE {
        body_len(body)?;
        return Ok("503 (queue timeout)".to_owned());
    }
    match path.promise() {
        Promise::Body(expected) => {
            let length = body_len(body)?;
            if status == StatusCode::OK && length == expected {
                Ok("200, complete".to_owned())
            } else {
                Err(format!("{status} with {length} bytes, not 200 with {expected}"))
            }
        }
        Promise::Status(expected) => {
            body_len(body)?;
            if status == expected {
                Ok(status.as_u16().to_string())
            } else {
                Err(format!("{status}, not {expected}"))
            }
        }
        Promise::Cut => match (status, body) {
            (StatusCode::OK, Err(_)) => Ok("200, then cut".to_owned()),
            (StatusCode::OK, Ok(length)) => Err(format!("200 with {length} bytes, not cut")),
            (status, _) => Err(format!("{status}, not a 200 head then a cut")),
        },
    }
}

/// The next request of a cycling client: every path with an allowed and a refused origin,
/// then a preflight.
fn nth_request(n: usize) -> (Path, Kind) {
    let per_path = Path::CYCLE.len() * 2;
    match n % (per_path + 1) {
        i if i == per_path => (Path::Normal, Kind::Preflight),
        i => (Path::CYCLE[i / 2], if i % 2 == 0 { Kind::Allowed } else { Kind::Refused }),
    }
}

/// One exchange through hyper's client, checked.
async fn exchange(
    client: &Client<HttpConnector, Empty<Bytes>>,
    authority: &str,
    path: Path,
    kind: Kind,
) -> Result<String, String> {
    let request =
        kind.request(authority, path.target(), path.method()).map_err(|e| e.to_string())?;
    let work = async {
        let response = client.request(request).await.map_err(|e| format!("request: {e}"))?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map(|b| b.to_bytes().len()).map_err(|e| e.to_string());
        judge(path, kind, parts.status, &parts.headers, body)
    };
    tokio::time::timeout(patience(), work).await.map_err(|_| "hung".to_owned())?
}

/// A client cycling through [`nth_request`] on `client` until `stop`.
async fn cycle(
    name: &'static str,
    client: Client<HttpConnector, Empty<Bytes>>,
    authority: Arc<str>,
    first: usize,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    for n in first.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (path, kind) = nth_request(n);
        let result = exchange(&client, &authority, path, kind).await;
        tally.record(name, &format!("{kind:?} {}", path.target()), result);
    }
}

/// The decoded length of a complete chunked body, or `None` while incomplete (or broken).
fn chunked_length(mut body: &[u8]) -> Option<usize> {
    let mut total = 0;
    loop {
        let httparse::Status::Complete((start, size)) = httparse::parse_chunk_size(body).ok()?
        else {
            return None;
        };
        let size = usize::try_from(size).ok()?;
        if size == 0 {
            return body[start..].starts_with(b"\r\n").then_some(total);
        }
        body = body.get(start + size + 2..)?;
        total += size;
    }
}

/// The final head of `bytes` (after any `1xx`), and where its body starts.
fn final_head(bytes: &[u8]) -> Result<Option<(RawHead, usize)>, String> {
    let mut at = 0;
    loop {
        let Some(head) = parse_head(&bytes[at..])? else { return Ok(None) };
        at += head.length;
        if !head.status.is_informational() || head.status == StatusCode::SWITCHING_PROTOCOLS {
            return Ok(Some((head, at)));
        }
    }
}

/// The length of a complete body, once `body` holds all of it (`ended`: the connection was
/// closed after it).
fn complete_body(head: &RawHead, head_only: bool, body: &[u8], ended: bool) -> Option<usize> {
    if head_only {
        return Some(body.len());
    }
    let field = |name| head.headers.get(name).and_then(|v: &http::HeaderValue| v.to_str().ok());
    if let Some(length) = field("content-length").and_then(|v| v.parse::<usize>().ok()) {
        (body.len() >= length).then_some(body.len())
    } else if field("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        chunked_length(body)
    } else {
        ended.then_some(body.len())
    }
}

/// Reads an answer to a request with `Connection: close` until the connection ends; its final
/// head and its body (the complete length, or why it was not).
async fn read_answer(
    stream: &mut TcpStream,
    head_only: bool,
) -> Result<(RawHead, Result<usize, String>), String> {
    let mut answer = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let ended = loop {
        match stream.read(&mut chunk).await {
            Ok(0) => break Ok(()),
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) => break Err(e),
        }
    };
    let (head, at) = final_head(&answer)?.ok_or_else(|| match &ended {
        Ok(()) => format!("closed before a complete head ({} bytes)", answer.len()),
        Err(e) => format!("{e} before a complete head"),
    })?;
    let body = &answer[at..];
    let complete = complete_body(&head, head_only, body, ended.is_ok());
    Ok((head, complete.ok_or_else(|| format!("cut after {} body bytes", body.len()))))
}

/// A client opening a new connection (`Connection: close`) for each request, until `stop`.
async fn churn(authority: Arc<str>, first: usize, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    for n in first.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (path, kind) = nth_request(n);
        let method = path.method();
        let work = async {
            let mut stream = TcpStream::connect(&*authority).await.map_err(|e| e.to_string())?;
            let request =
                kind.raw_request(&authority, path.target(), &method, "connection: close\r\n");
            stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
            let (head, body) = read_answer(&mut stream, method == Method::HEAD).await?;
            judge(path, kind, head.status, &head.headers, body)
        };
        let result = tokio::time::timeout(patience(), work).await.unwrap_or(Err("hung".into()));
        tally.record("HTTP/1.1 new connection", &format!("{kind:?} {}", path.target()), result);
    }
}

/// How a leaving client leaves.
#[derive(Clone, Copy, Debug)]
enum Leave {
    /// Right after sending its request head.
    AfterHead(Path),
    /// After the response head and some of its body.
    MidBody(Path),
}

impl Leave {
    const CYCLE: [Self; 6] = [
        Self::AfterHead(Path::Late),
        Self::AfterHead(Path::Stall),
        Self::AfterHead(Path::Normal),
        Self::MidBody(Path::Big),
        Self::MidBody(Path::Stall),
        Self::MidBody(Path::Cut),
    ];
}

/// A client that leaves mid-request, until `stop`; every other time with a reset.
async fn leave(authority: Arc<str>, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    for (n, how) in Leave::CYCLE.iter().cycle().enumerate() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let reset = n % 2 == 1;
        let path = match *how {
            Leave::AfterHead(path) | Leave::MidBody(path) => path,
        };
        let work = async {
            let mut stream = TcpStream::connect(&*authority).await.map_err(|e| e.to_string())?;
            let request = Kind::Allowed.raw_request(&authority, path.target(), &Method::GET, "");
            stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
            if let Leave::MidBody(_) = how {
                let mut answer = Vec::new();
                let sent = Instant::now();
                loop {
                    let mut chunk = [0u8; 1024];
                    let ended = match stream.read(&mut chunk).await {
                        Ok(0) => "closed".to_owned(),
                        Ok(n) => {
                            answer.extend_from_slice(&chunk[..n]);
                            String::new()
                        }
                        Err(e) => e.to_string(),
                    };
                    if !ended.is_empty() {
                        let answer = String::from_utf8_lossy(&answer);
                        let after = sent.elapsed();
                        return Err(format!(
                            "{ended} before the body began, {after:?}: {answer:?}"
                        ));
                    }
                    if let Some((head, at)) = final_head(&answer)? {
                        Kind::Allowed.check_fields(&head.headers)?;
                        match head.status {
                            // The queue's answer, complete: nothing to leave.
                            StatusCode::SERVICE_UNAVAILABLE => {
                                return Ok("503 (queue timeout), not left".to_owned());
                            }
                            StatusCode::OK if answer.len() > at => break,
                            StatusCode::OK => {}
                            status => return Err(format!("{status}, not 200")),
                        }
                    }
                }
            } else {
                // Long enough for the gateway to have taken the request upstream.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if reset {
                stream.set_zero_linger().map_err(|e| e.to_string())?;
            }
            Ok(format!("left {how:?}{}", if reset { " with a reset" } else { "" }))
        };
        let result = tokio::time::timeout(patience(), work).await.unwrap_or(Err("hung".into()));
        tally.record("leaving", &format!("{how:?}"), result);
    }
}

/// A slow reader, until `stop`: takes [`Path::Big`] 4 KiB every 10 ms, and must get it whole.
async fn read_slowly(authority: Arc<str>, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    while !stop.load(Ordering::Relaxed) {
        let work = async {
            let mut stream = TcpStream::connect(&*authority).await.map_err(|e| e.to_string())?;
            let request = Kind::Allowed.raw_request(
                &authority,
                Path::Big.target(),
                &Method::GET,
                "connection: close\r\n",
            );
            stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
            let mut answer = Vec::new();
            loop {
                let mut chunk = [0u8; 4096];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&chunk[..n]),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let (head, at) = final_head(&answer)?.ok_or("no complete head")?;
            let body = complete_body(&head, false, &answer[at..], true)
                .ok_or_else(|| format!("cut after {} body bytes", answer.len() - at));
            judge(Path::Big, Kind::Allowed, head.status, &head.headers, body)
        };
        let deadline = patience() + Duration::from_secs(5);
        let result = tokio::time::timeout(deadline, work).await.unwrap_or(Err("hung".into()));
        tally.record("slow reader", "big body", result);
    }
}

/// An upgrade client, until `stop`: an allowed upgrade, echoed then closed; a refused one; an
/// allowed one left idle, which the gateway must close.
async fn upgrade(authority: Arc<str>, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let extra = format!("connection: upgrade\r\nupgrade: {}\r\n", chaos::UPGRADE_PROTOCOL);
    for (n, kind) in [Kind::Allowed, Kind::Refused, Kind::Allowed].iter().cycle().enumerate() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let idle = n % 3 == 2;
        let work = async {
            let mut stream = TcpStream::connect(&*authority).await.map_err(|e| e.to_string())?;
            let request =
                kind.raw_request(&authority, Path::Upgrade.target(), &Method::GET, &extra);
            stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
            let mut answer = Vec::new();
            let (head, at) = loop {
                let mut chunk = [0u8; 1024];
                match stream.read(&mut chunk).await {
                    Ok(0) => return Err(format!("closed before a head ({} bytes)", answer.len())),
                    Ok(n) => answer.extend_from_slice(&chunk[..n]),
                    Err(e) => return Err(e.to_string()),
                }
                if let Some(found) = final_head(&answer)? {
                    break found;
                }
            };
            if *kind == Kind::Refused {
                let body = head
                    .headers
                    .get("content-length")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .filter(|length| answer.len() - at == *length)
                    .ok_or_else(|| "refused: not an empty, framed answer".to_owned());
                return judge(Path::Upgrade, *kind, head.status, &head.headers, body);
            }
            let outcome = judge(Path::Upgrade, *kind, head.status, &head.headers, Ok(0))?;
            if head.status != StatusCode::SWITCHING_PROTOCOLS {
                // The queue's answer: no tunnel.
                return Ok(outcome);
            }
            if idle {
                let started = Instant::now();
                let mut rest = [0u8; 64];
                return match stream.read(&mut rest).await {
                    Ok(0) | Err(_) => Ok("101, idle tunnel closed by the gateway".to_owned()),
                    Ok(_) => Err(format!("idle tunnel sent bytes after {:?}", started.elapsed())),
                };
            }
            for round in 0..3 {
                let ping = format!("ping {n} {round}\n");
                stream.write_all(ping.as_bytes()).await.map_err(|e| e.to_string())?;
                let mut echo = vec![0u8; ping.len()];
                stream.read_exact(&mut echo).await.map_err(|e| format!("echo: {e}"))?;
                if echo != ping.as_bytes() {
                    return Err(format!("echo {:?} of {ping:?}", String::from_utf8_lossy(&echo)));
                }
            }
            Ok("101, echoed, closed by the client".to_owned())
        };
        let deadline = patience() + Duration::from_secs(2);
        let result = tokio::time::timeout(deadline, work).await.unwrap_or(Err("hung".into()));
        tally.record("upgrade", &format!("{kind:?} idle {idle}"), result);
    }
}

/// Starts every client in `tasks`.
fn traffic(
    tasks: &mut tokio::task::JoinSet<()>,
    authority: &Arc<str>,
    stop: &Arc<AtomicBool>,
    tally: &Arc<Tally>,
) {
    let spawn_args = || (Arc::clone(authority), Arc::clone(stop), Arc::clone(tally));
    let http1 = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    for i in 0..4 {
        let (authority, stop, tally) = spawn_args();
        let client = http1.clone();
        tasks.spawn(cycle("HTTP/1.1 keep-alive", client, authority, i * 5, stop, tally));
    }
    for i in 0..2 {
        let (authority, stop, tally) = spawn_args();
        tasks.spawn(churn(authority, i * 7, stop, tally));
    }
    for c in 0..2 {
        // A client of its own: one HTTP/2 connection, 4 streams in flight on it.
        let http2 =
            Client::builder(TokioExecutor::new()).http2_only(true).build_http::<Empty<Bytes>>();
        for i in 0..4 {
            let (authority, stop, tally) = spawn_args();
            let client = http2.clone();
            tasks.spawn(cycle("HTTP/2", client, authority, c * 3 + i * 5, stop, tally));
        }
    }
    for _ in 0..2 {
        let (authority, stop, tally) = spawn_args();
        tasks.spawn(leave(authority, stop, tally));
    }
    let (authority_, stop_, tally_) = spawn_args();
    tasks.spawn(read_slowly(authority_, stop_, tally_));
    let (authority_, stop_, tally_) = spawn_args();
    tasks.spawn(upgrade(authority_, stop_, tally_));
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: chaos-traffic ADDR SECS | chaos-traffic --gateway-flags";
    let first = args.next().ok_or(usage)?;
    let mut stdout = std::io::stdout().lock();
    if first == "--gateway-flags" {
        for flag in chaos::GATEWAY_FLAGS {
            writeln!(stdout, "{flag}")?;
        }
        return Ok(());
    }
    let authority: Arc<str> = first.into();
    let secs: u64 = args.next().ok_or(usage)?.parse().map_err(|_| usage)?;
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let took = run_clients(secs, &stop, |tasks| traffic(tasks, &authority, &stop, &tally))?;
    let failures = tally.failures.count();
    let outcomes = tally.outcomes.lock().unwrap_or_else(PoisonError::into_inner);
    let checked: u64 = outcomes.values().sum();
    writeln!(
        stdout,
        "chaos-traffic: {:.0} s: {checked} outcomes checked, {failures} failures\n\n\
         | client | outcome | count |\n| --- | --- | --: |",
        took.as_secs_f64(),
    )?;
    for ((client, outcome), count) in outcomes.iter() {
        writeln!(stdout, "| {client} | {outcome} | {count} |")?;
    }
    tally.failures.end_run(&mut stdout)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_body_is_complete_at_its_last_chunk() {
        assert_eq!(chunked_length(b"5\r\nhello\r\n0\r\n\r\n"), Some(5));
        assert_eq!(chunked_length(b"5\r\nhello\r\n"), None);
        assert_eq!(chunked_length(b"5\r\nhello\r\nzz;x\r\n"), None);
    }

    #[test]
    fn the_cycle_asks_for_every_path_with_both_origins_and_a_preflight() {
        let requests: Vec<_> = (0..19).map(nth_request).collect();
        for path in Path::CYCLE {
            assert!(requests.contains(&(path, Kind::Allowed)));
            assert!(requests.contains(&(path, Kind::Refused)));
        }
        assert!(requests.contains(&(Path::Normal, Kind::Preflight)));
        assert_eq!(nth_request(19), nth_request(0));
    }
}
