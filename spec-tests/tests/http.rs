//! The HTTP target and the echo upstream over real sockets: the upstream is used as a "gateway"
//! that forwards everything, so the cases that expect forwarding without CORS headers pass and
//! the others fail, whichever way forwarding is observed.

use std::net::SocketAddr;

use cors_conformance::known::KnownFailures;
use cors_conformance::runner::{self, Outcome, Selection};
use cors_conformance::{Corpus, HttpTarget, UpstreamLog, upstream};

mod common;

use common::start_upstream;

#[track_caller]
fn check(log: UpstreamLog, addr: SocketAddr) {
    let corpus = Corpus::builtin().expect("the corpus loads");
    let mut target = HttpTarget::new(&format!("http://{addr}"), log).expect("the URL is valid");
    let passing = Selection::all().profile("strict").filter(Some("simple.no-origin"));
    let report =
        runner::run(&corpus, &passing, &mut target, &KnownFailures::none(), &mut |_, _| {});
    assert_eq!(report.results.len(), 3);
    assert!(report.is_success(), "{}", cors_conformance::report::text(&report));

    let failing = Selection::all().profile("strict").filter(Some("preflight.not-forwarded"));
    let report =
        runner::run(&corpus, &failing, &mut target, &KnownFailures::none(), &mut |_, _| {});
    let Outcome::Fail { mismatches } = &report.results[0].outcome else {
        panic!("{:?}", report.results[0]);
    };
    let subjects: Vec<&str> = mismatches.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects, ["forwarded", "x-conformance-upstream"]);
}

#[test]
fn forwarding_is_seen_through_the_stamp() {
    let addr = start_upstream(None);
    check(UpstreamLog::Stamp, addr);
}

#[test]
fn forwarding_is_seen_through_the_upstream_record() {
    let addr = start_upstream(None);
    check(UpstreamLog::Url(format!("http://{addr}")), addr);
}

#[test]
fn forwarding_is_seen_through_the_log_file() {
    let path = std::env::temp_dir().join(format!("spec-tests-upstream-{}.log", std::process::id()));
    let addr = start_upstream(Some(path.clone()));
    check(UpstreamLog::File(path.clone()), addr);
    let _ = std::fs::remove_file(path);
}

#[test]
fn the_upstream_adds_requested_headers_and_vary() {
    let response = upstream::respond([
        ("x-conformance-upstream-header", &b"Access-Control-Allow-Origin: *"[..]),
        ("x-conformance-upstream-header", b"not a header line"),
    ]);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert_eq!(response.headers()["vary"], upstream::VARY);
    assert_eq!(response.headers()[upstream::STAMP], "1");
}

#[test]
fn an_unreachable_target_stops_the_run_once_instead_of_failing_every_case() {
    let corpus = Corpus::builtin().unwrap();
    // A port that was just free: nothing listens there once the listener is dropped.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut target = HttpTarget::new(&format!("http://{closed}"), UpstreamLog::Stamp).unwrap();
    let selection = Selection::all().profile("strict");
    let report =
        runner::run(&corpus, &selection, &mut target, &KnownFailures::none(), &mut |_, _| {});
    assert!(report.results.is_empty(), "{:?}", report.results);
    let why = report.unreachable.as_deref().unwrap_or_default();
    assert!(why.contains("cannot connect"), "{why}");
    assert!(!report.is_success());
}
