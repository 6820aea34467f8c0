//! Policy reload while serving: SIGHUP and file-change polling swap the policy atomically, no
//! request fails, no response mixes two policies, and a broken file keeps the previous policy.
#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::upstream::Upstream;
use common::{Answer, Gateway, PATIENCE, Scratch, client, empty, request, send};

const APP: &str = "https://app.example.com";

/// Policy A: no credentials, exposes `x-policy-a`.
const POLICY_A: &str = "\
publicResource: false
supportCredentials: false
originGroups:
  - origins: [https://app.example.com]
    exposedHeaders: [x-policy-a]
";

/// Policy B: credentials, exposes `x-policy-b`.
const POLICY_B: &str = "\
publicResource: false
supportCredentials: true
originGroups:
  - origins: [https://app.example.com]
    exposedHeaders: [x-policy-b]
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    A,
    B,
}

impl Shape {
    /// Its place in a pair of counters.
    fn index(self) -> usize {
        match self {
            Self::A => 0,
            Self::B => 1,
        }
    }
}

/// Which policy produced `answer`; panics on a response that fits neither (a mix of both).
#[track_caller]
fn shape(answer: &Answer) -> Shape {
    assert_eq!(answer.status, 200, "request failed: {:?}", answer.body);
    let fields = (
        answer.one("access-control-allow-origin"),
        answer.one("access-control-allow-credentials"),
        answer.one("access-control-expose-headers"),
    );
    let app = Some(APP.to_owned());
    match fields {
        (origin, None, Some(exposed)) if origin == app && exposed == "x-policy-a" => Shape::A,
        (origin, Some(credentials), Some(exposed))
            if origin == app && credentials == "true" && exposed == "x-policy-b" =>
        {
            Shape::B
        }
        other => panic!("a response that belongs to neither policy: {other:?}"),
    }
}

async fn start(scratch: &Scratch, watch: &str) -> (Upstream, Gateway, std::path::PathBuf) {
    start_with(scratch, watch, &[]).await
}

/// [`start`], with `extra` flags.
async fn start_with(
    scratch: &Scratch,
    watch: &str,
    extra: &[&str],
) -> (Upstream, Gateway, std::path::PathBuf) {
    let upstream = Upstream::start().await;
    let path = scratch.write("policy.yaml", POLICY_A);
    let upstream_url = upstream.url();
    let mut args = vec!["serve", "--config", path.to_str().unwrap(), "--listen", "127.0.0.1:0"];
    args.extend(["--upstream", &upstream_url, "--watch-interval", watch]);
    args.extend(extra);
    let gateway = Gateway::start(&args);
    (upstream, gateway, path)
}

async fn current_shape(gateway: &Gateway) -> Shape {
    let client = client(false);
    shape(&send(&client, request("GET", &gateway.url("/"), &[("origin", APP)], empty())).await)
}

/// Polls (bounded) until the gateway answers with `expected`.
async fn wait_for_shape(gateway: &Gateway, expected: Shape) {
    let deadline = Instant::now() + PATIENCE;
    while current_shape(gateway).await != expected {
        assert!(Instant::now() < deadline, "the policy never became {expected:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_in_the_middle_of_traffic_swaps_policies_atomically() {
    let scratch = Scratch::new();
    let (_upstream, gateway, _path) = start(&scratch, "0").await;
    assert_eq!(current_shape(&gateway).await, Shape::A);

    let stop = Arc::new(AtomicBool::new(false));
    // How many of the workers' answers each policy gave, so far.
    let answered = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let mut workers = Vec::new();
    for _ in 0..4 {
        let url = gateway.url("/");
        let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
        workers.push(tokio::spawn(async move {
            let client = client(false);
            let mut shapes = Vec::new();
            // Bounded: the loop stops when told, or after PATIENCE.
            let deadline = Instant::now() + PATIENCE;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let answer = send(&client, request("GET", &url, &[("origin", APP)], empty())).await;
                let shape = shape(&answer);
                answered[shape.index()].fetch_add(1, Ordering::Relaxed);
                shapes.push(shape);
            }
            shapes
        }));
    }
    for round in 0..6 {
        let (text, expected) =
            if round % 2 == 0 { (POLICY_B, Shape::B) } else { (POLICY_A, Shape::A) };
        let before = answered[expected.index()].load(Ordering::Relaxed);
        scratch.write("policy.yaml", text);
        gateway.signal("HUP");
        // Until the traffic has been answered by the policy just written (bounded), rather than
        // a fixed pause: on a busy machine a pause could end before the reload, or before any
        // request, and the signals of several rounds be taken as one.
        let deadline = Instant::now() + PATIENCE;
        while answered[expected.index()].load(Ordering::Relaxed) == before {
            assert!(Instant::now() < deadline, "the workers were never answered by {expected:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = Vec::new();
    for worker in workers {
        seen.extend(tokio::time::timeout(PATIENCE, worker).await.unwrap().unwrap());
    }
    assert!(seen.len() >= 4, "the workers sent requests");
    assert!(seen.contains(&Shape::A) && seen.contains(&Shape::B), "both policies served");
    // The last file written is A (rounds 0..6 end on an odd round).
    wait_for_shape(&gateway, Shape::A).await;
    // Reloads were logged (waited for: the log may be read after the answers came).
    gateway.wait_for_log("policy reloaded");
}

/// A reload reaches every worker: after SIGHUP, each of 32 new connections (spread over both
/// workers, which each serve with the policy they share) is answered with the new policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_reaches_every_worker() {
    let scratch = Scratch::new();
    let (_upstream, gateway, _path) = start_with(&scratch, "0", &["--workers", "2"]).await;
    for _ in 0..8 {
        assert_eq!(current_shape(&gateway).await, Shape::A);
    }
    scratch.write("policy.yaml", POLICY_B);
    gateway.signal("HUP");
    std::thread::scope(|scope| scope.spawn(|| gateway.wait_for_log("policy reloaded")).join())
        .unwrap();
    let accepted_before = gateway.stderr().matches("accepted a connection").count();
    // `current_shape` opens a new connection for each request.
    for _ in 0..32 {
        assert_eq!(current_shape(&gateway).await, Shape::B);
    }
    gateway.wait_for_accepts(accepted_before + 32);
    let log = gateway.stderr();
    let after = log.split("policy reloaded").nth(1).unwrap();
    let workers: std::collections::BTreeSet<&str> = after
        .lines()
        .filter(|line| line.contains("accepted a connection"))
        .filter_map(|line| line.split(" worker=").nth(1))
        .collect();
    #[cfg(target_os = "linux")]
    assert_eq!(workers.into_iter().collect::<Vec<_>>(), ["0", "1"], "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_keeps_the_previous_policy_and_logs_every_error() {
    let scratch = Scratch::new();
    let (_upstream, gateway, _path) = start(&scratch, "0").await;
    scratch.write(
        "policy.yaml",
        "publicResource: maybe\noriginGroups:\n  - origins: [\"https://a.test/path\"]\n",
    );
    gateway.signal("HUP");
    let waiting = std::thread::scope(|scope| {
        scope.spawn(|| gateway.wait_for_log("keeping the previous policy")).join()
    });
    assert!(waiting.is_ok());
    let log = gateway.stderr();
    assert!(log.contains("policy.yaml:1:"), "the first error, with its position:\n{log}");
    assert!(log.contains("policy.yaml:3:"), "the second error, with its position:\n{log}");
    assert_eq!(current_shape(&gateway).await, Shape::A);
    // A good file afterwards is picked up again.
    scratch.write("policy.yaml", POLICY_B);
    gateway.signal("HUP");
    wait_for_shape(&gateway, Shape::B).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_is_picked_up_without_a_signal() {
    let scratch = Scratch::new();
    let (_upstream, gateway, _path) = start(&scratch, "100ms").await;
    assert_eq!(current_shape(&gateway).await, Shape::A);
    // An unchanged file is not read again, however many checks pass.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!gateway.stderr().contains("file changed"), "{}", gateway.stderr());
    // Modification times can be coarse: the new file differs in size too.
    scratch.write("policy.yaml", &format!("{POLICY_B}# changed\n"));
    wait_for_shape(&gateway, Shape::B).await;
    // The swap happens before the log line is written and read back from the child's stderr,
    // so wait for the line (bounded) instead of expecting it at the instant of the swap.
    gateway.wait_for_log("file changed");
    // The file is still watched after a reload: a second change is picked up too.
    scratch.write("policy.yaml", POLICY_A);
    wait_for_shape(&gateway, Shape::A).await;
    gateway.wait_for_log_lines("file changed", 2);
}
