//! Each non-Rust peer runs its export, for every profile, in the real server, and answers as the
//! export says: every fetch-level case passes, unless the peer's data says it cannot express it
//! (unsupported) or notes the difference (a divergence naming the case).
//!
//! These tests need the servers (`scripts/install-peers.sh`), so they are compiled only with the
//! `external-peers` feature: `cargo test -p cors-peers --features external-peers --test exports`,
//! which `cargo xtask conformance --peers` runs. A peer that is not installed fails its test.

#![cfg(feature = "external-peers")]
#![allow(clippy::unwrap_used, reason = "test fixtures: a failure to set one up is a test failure")]

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cors_conformance::known::KnownFailures;
use cors_conformance::peer::classify::{Class, classify};
use cors_conformance::peer::{Endpoints, Peer};
use cors_conformance::runner::{self, Selection};
use cors_conformance::settle::Settler;
use cors_conformance::setup::Setup;
use cors_conformance::{
    Corpus, EngineTarget, HttpTarget, Observed, OutgoingRequest, Target as _, UpstreamLog, profile,
    upstream,
};
use cors_peers::launch::{self, Launch};

/// Starts the suite's upstream on a background thread.
fn start_upstream() -> String {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let (listener, addr) =
                upstream::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
            send.send(addr).unwrap();
            upstream::serve(listener, None).await.unwrap();
        });
    });
    format!("http://{}", receive.recv().unwrap())
}

/// A started peer, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts what `launch` says and waits until its port accepts connections.
fn start(launch: &Launch, log: &Path) -> Running {
    let mut child = Command::new(&launch.program)
        .args(&launch.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", launch.program.display()));
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || BufReader::new(stdout).lines().for_each(drop));
    }
    let running = Running(child);
    wait_for_port(&launch.url, log);
    running
}

fn wait_for_port(url: &str, log: &Path) {
    let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{url} did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cors-peers-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs every profile's export of `peer` in the real server and checks its fetch-level cases.
#[track_caller]
fn check(peer: Peer) {
    let upstream = start_upstream();
    let corpus = Corpus::builtin().unwrap();
    let data = peer.data().unwrap();
    let dir = scratch(peer.name());
    let mut problems = Vec::new();
    for profile in profile::PROFILES {
        let profile_dir = dir.join(profile.name);
        let launch = launch::prepare(peer, profile.name, &upstream, &profile_dir)
            .unwrap_or_else(|e| panic!("{}: {e}", peer.name()));
        let _running = start(&launch, &profile_dir.join("server.log"));
        let mut target = HttpTarget::new(&launch.url, UpstreamLog::Url(upstream.clone()))
            .unwrap()
            .with_name(peer.name());
        let selection = Selection::all().profile(profile.name);
        let report =
            runner::run(&corpus, &selection, &mut target, &KnownFailures::none(), &mut |_, _| {});
        assert!(report.unreachable.is_none(), "{} {}: {:?}", peer.name(), profile.name, report);
        if let Some(problem) = grants_a_stranger(&mut target, profile.name) {
            problems.push(problem);
        }
        let found = classify(peer.name(), &report, &data, &corpus);
        let noted = |id: &str| data.divergences.iter().any(|d| d.cases.iter().any(|c| c == id));
        for case in &found.cases {
            if case.level == "fetch" && case.class == Class::Failed && !noted(&case.id) {
                problems.push(format!("{} [{}]: {:?}", case.id, case.profile, case.detail));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{}: fetch-level failures its data does not account for:\n{}",
        peer.name(),
        problems.join("\n")
    );
}

/// Whether `target` grants an origin that no group of `profile` lists, where the engine does
/// not: whatever an export cannot express, it must not open the policy to every origin.
fn grants_a_stranger(target: &mut HttpTarget, profile: &str) -> Option<String> {
    let stranger = "https://stranger.example.test";
    let request = OutgoingRequest::new(
        "GET",
        "/",
        vec![("Origin".to_owned(), stranger.to_owned())],
        "stranger",
    );
    let granted = |answer: &Observed| {
        answer.values("access-control-allow-origin").any(|v| v == b"*" || v == stranger.as_bytes())
    };
    let expected = granted(&EngineTarget::new().unwrap().send(profile, &request).unwrap());
    let answer = target.send(profile, &request).unwrap();
    let values: Vec<String> = answer
        .values("access-control-allow-origin")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    (granted(&answer) && !expected).then(|| {
        format!(
            "a stranger's origin is granted [{profile}]: Access-Control-Allow-Origin {values:?}"
        )
    })
}

#[test]
fn nginx_runs_its_exports() {
    check(Peer::Nginx);
}

#[test]
fn apache_runs_its_exports() {
    check(Peer::Apache);
}

#[test]
fn envoy_runs_its_exports() {
    check(Peer::Envoy);
}

#[test]
fn express_runs_its_exports() {
    check(Peer::Express);
}

#[test]
fn rs_cors_runs_its_exports() {
    check(Peer::RsCors);
}

#[test]
fn flask_cors_runs_its_exports() {
    check(Peer::FlaskCors);
}

/// R1, R2, A4 in the real nginx: the export hides the upstream's Access-Control-* fields from
/// CORS answers, and passes them back untouched to requests without Origin and same-origin ones,
/// which, for a public resource, vary on Origin since they lack its `*` (V1).
#[test]
fn nginx_keeps_the_upstream_fields_of_non_cors_requests() {
    let upstream = start_upstream();
    let corpus = Corpus::builtin().unwrap();
    let cases = [
        ("strict", "upstream-replacement.no-origin-passthrough"),
        ("strict", "same-origin.upstream-cors-passed-through"),
        ("strict", "upstream-replacement.single-acao"),
        ("public", "vary.public-no-origin-request"),
        ("public", "vary.public-same-origin"),
    ];
    for (profile, id) in cases {
        let dir = scratch(&format!("nginx-not-cors-{id}"));
        let launch = launch::prepare(Peer::Nginx, profile, &upstream, &dir).unwrap();
        let _running = start(&launch, &dir.join("server.log"));
        let mut target = HttpTarget::new(&launch.url, UpstreamLog::Url(upstream.clone())).unwrap();
        let selection = Selection::all().profile(profile).filter(Some(id));
        let report =
            runner::run(&corpus, &selection, &mut target, &KnownFailures::none(), &mut |_, _| {});
        assert_eq!(report.results.len(), 1, "{id}: {report:?}");
        assert!(report.is_success(), "{id}: {report:?}");
    }
}

/// The README's nginx recipe: one nginx whose `conf.d`-style file the setup command replaces
/// before `nginx -s reload`, every profile in one run; the settle wait must see each reload.
#[test]
fn nginx_reloads_every_profile_with_setup() {
    let upstream = start_upstream();
    let dir = scratch("nginx-reload");
    let nginx = cors_devtools::find_program(None, &["nginx"])
        .expect("nginx is installed (scripts/install-peers.sh nginx)");
    let port = cors_devtools::free_loopback_port().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let conf = dir.join("nginx.conf");
    let main = format!(
        "daemon off;\nmaster_process on;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\nevents {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
         include {d}/cors.conf;\n}}\n",
        d = dir.display()
    );
    std::fs::write(&conf, main).unwrap();
    let endpoints = Endpoints::new(&listen, &upstream).unwrap();
    let first = cors_conformance::peer::Subject::load("wildcard-origin").unwrap();
    std::fs::write(dir.join("cors.conf"), Peer::Nginx.export(&first, &endpoints).unwrap()).unwrap();
    let child = Command::new(&nginx)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(dir.join("stderr.log")).unwrap()))
        .spawn()
        .unwrap();
    let running = Running(child);
    wait_for_port(&format!("http://{listen}"), &dir.join("stderr.log"));
    let command = format!(
        "cp {{export:nginx}} {d}/cors.conf && {n} -p {d} -c {c} -s reload",
        d = dir.display(),
        n = nginx.display(),
        c = conf.display()
    );
    let setup =
        Setup::new(&command, &dir.join("setup"), endpoints, Duration::from_secs(30)).unwrap();
    let mut settler = Settler::new().unwrap();
    let corpus = Corpus::builtin().unwrap();
    let data = Peer::Nginx.data().unwrap();
    let mut target = HttpTarget::new(&format!("http://{listen}"), UpstreamLog::Url(upstream))
        .unwrap()
        .with_name("nginx");
    let mut previous = None;
    let mut reports = runner::Report::empty("nginx");
    for profile in profile::names() {
        setup.run(profile).unwrap_or_else(|e| panic!("{e}\n{}", e.output));
        settler
            .wait(&mut target, profile, previous, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{profile}: {e}"));
        let selection = Selection::all().profile(profile);
        reports.merge(runner::run(
            &corpus,
            &selection,
            &mut target,
            &KnownFailures::none(),
            &mut |_, _| {},
        ));
        previous = Some(profile);
    }
    let _ =
        Command::new(&nginx).arg("-p").arg(&dir).arg("-c").arg(&conf).args(["-s", "quit"]).status();
    drop(running);
    let found = classify("nginx", &reports, &data, &corpus);
    let noted = |id: &str| data.divergences.iter().any(|d| d.cases.iter().any(|c| c == id));
    let unexplained: Vec<&str> = found
        .cases
        .iter()
        .filter(|c| c.level == "fetch" && c.class == Class::Failed && !noted(&c.id))
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(reports.results.len(), corpus.cases().len());
    assert!(unexplained.is_empty(), "{unexplained:?}");
}
