//! The `cors-conformance` command as users run it: exit codes, https targets, extra headers,
//! report files read back, every profile against a reconfigured cors-gateway, and exports.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use cors_conformance::report;

mod common;

use common::{
    ca_as_own_certificate, certificates, certificates_for, closed_port, gateway_binary, scratch,
    start_closer, start_forbidden, start_forbidding_origins, start_garbage, start_head_too_large,
    start_not_found, start_tls_upstream, start_tls_upstream_offering, start_unauthorized,
    start_upstream,
};

const BIN: &str = env!("CARGO_BIN_EXE_cors-conformance");

fn cli(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("cors-conformance runs")
}

/// `cors-conformance run --target URL --profile PROFILE` (`--all-profiles` for `None`), then
/// each `(flag, value)` option.
fn run(url: &str, profile: Option<&str>, options: &[(&str, &str)]) -> Output {
    let mut args = vec!["run", "--target", url];
    match profile {
        Some(profile) => args.extend(["--profile", profile]),
        None => args.push("--all-profiles"),
    }
    args.extend(options.iter().flat_map(|&(flag, value)| [flag, value]));
    cli(&args)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[track_caller]
fn check_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

#[test]
fn an_unreachable_target_exits_3_with_one_line() {
    let url = format!("http://{}", closed_port());
    let output = run(&url, Some("strict"), &[]);
    check_exit(&output, 3);
    let lines: Vec<String> = stderr(&output).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("unreachable") && lines[0].contains("Connection refused"),
        "{lines:?}"
    );
    assert!(stdout(&output).is_empty());
}

#[test]
fn usage_errors_exit_2_and_name_the_valid_values() {
    let url = format!("http://{}", closed_port());
    let cases: [(&[&str], &str); 6] = [
        (&["run", "--target", &url, "--profile", "nope"], "strict-credentials"),
        (&["export", "--profile", "strict", "--to", "iis"], "rs-cors"),
        (&["export", "--profile", "nope.yaml", "--to", "nginx"], "wildcard-origin"),
        (&["run", "--target", &url, "--all-profiles"], "--setup"),
        (
            &["run", "--target", &url, "--profile", "strict", "--header", "Origin: x"],
            "set by the suite",
        ),
        (&["run", "--target", "ftp://x", "--profile", "strict"], "http:// or https://"),
    ];
    for (args, hint) in cases {
        let output = cli(args);
        check_exit(&output, 2);
        assert!(stderr(&output).contains(hint), "{args:?}: {}", stderr(&output));
    }
}

/// A new user who gives neither learns of both ways to choose the profiles, not only `--profile`.
#[test]
fn a_run_without_a_profile_names_both_profile_options() {
    let url = format!("http://{}", closed_port());
    let output = cli(&["run", "--target", &url]);
    check_exit(&output, 2);
    let text = stderr(&output);
    assert!(text.contains("--profile <P>") && text.contains("--all-profiles"), "{text}");
    let both = cli(&["run", "--target", &url, "--profile", "strict", "--all-profiles"]);
    check_exit(&both, 2);
    assert!(stderr(&both).contains("cannot be used with"), "{}", stderr(&both));
}

/// A port the kernel gave an outgoing connection is "already in use" to `upstream --listen`: the
/// error says that the port is in the ephemeral range, which the user may not know exists.
#[cfg(target_os = "linux")]
#[test]
fn upstream_on_a_taken_ephemeral_port_names_the_range() {
    // Port 0 takes a port from the ephemeral range, as an outgoing connection would.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = taken.local_addr().expect("its address").port();
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .expect("Linux says its ephemeral range");
    let range = range.split_whitespace().collect::<Vec<_>>().join("-");
    let output = cli(&["upstream", "--listen", &format!("127.0.0.1:{port}")]);
    check_exit(&output, 2);
    let text = stderr(&output);
    assert!(text.contains("in use"), "{text}");
    assert!(text.contains(&format!("ephemeral range {range}")), "{text}");
}

/// A filter or level that selects nothing is a mistake to report, not a run that passed: a CI job
/// with a typo in `--filter` went green having checked no case.
#[test]
fn a_run_that_selects_no_case_exits_2_before_reaching_the_target() {
    let url = format!("http://{}", closed_port());
    let selections: [&[&str]; 3] = [
        &["--profile", "strict", "--filter", "no-such-case"],
        // These ids exist, but under another profile.
        &["--profile", "public", "--filter", "origins.exact-match"],
        // The closed profile has no case of level `flex`.
        &["--profile", "closed", "--level", "flex"],
    ];
    for selection in selections {
        let mut args = vec!["run", "--target", &url];
        args.extend(selection);
        let output = cli(&args);
        check_exit(&output, 2);
        let text = stderr(&output);
        assert!(text.contains("no case is selected"), "{selection:?}: {text}");
        assert!(text.contains(selection[3]), "{selection:?}: {text}");
        assert!(stdout(&output).is_empty(), "{selection:?}");
    }
}

/// `run --help` tells a new user where a profile's policy and a gateway's configuration come from.
#[test]
fn run_help_says_where_a_profiles_policy_and_configuration_come_from() {
    let output = cli(&["run", "--help"]);
    check_exit(&output, 0);
    let text = stdout(&output);
    for expected in [
        "`cors-conformance profiles` lists them",
        "`profiles --show P`",
        "`export --profile P --to nginx`",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
}

/// A zero duration would fail every exchange at once, reported as an unreachable target (exit 3):
/// it is a usage mistake, refused before anything is sent.
#[test]
fn a_zero_duration_is_a_usage_error() {
    let url = format!("http://{}", closed_port());
    for flag in ["--timeout", "--settle-timeout", "--setup-timeout"] {
        let output = cli(&["run", "--target", &url, "--profile", "strict", flag, "0s"]);
        check_exit(&output, 2);
        let text = stderr(&output);
        assert!(text.contains(flag) && text.contains("more than zero"), "{flag}: {text}");
        assert!(stdout(&output).is_empty(), "{flag}");
    }
}

#[test]
fn a_failing_case_exits_1() {
    // The bare upstream as a "gateway": it forwards everything and adds no CORS header.
    let url = format!("http://{}", start_upstream(None));
    let output = run(&url, Some("strict"), &[("--filter", "origins.")]);
    check_exit(&output, 1);
    let text = stdout(&output);
    assert!(text.contains("FAIL origins."), "{text}");
    assert!(
        text.contains(&format!(" cases against {url}, ")),
        "the verdict names the URL:\n{text}"
    );
    assert!(text.lines().count() < 45, "the summary fits a screen:\n{text}");
}

/// A closed stderr (`run ... 2>&1 | head -1`, a log shipper gone) loses the lines written to
/// it, never the exit code the help gives: `eprintln!` panicked there, exiting 101. A JSON run
/// writes its summary to stderr and its report to stdout, which still gets it whole.
#[test]
fn a_closed_stderr_keeps_the_exit_codes() {
    let closed = format!("http://{}", closed_port());
    let upstream = format!("http://{}", start_upstream(None));
    let json = ["--filter", "origins.", "--format", "json"];
    let cases: [(Vec<&str>, i32); 3] = [
        (vec!["run", "--target", &closed, "--profile", "nope"], 2),
        (vec!["run", "--target", &closed, "--profile", "strict"], 3),
        ([&["run", "--target", &upstream, "--profile", "strict"][..], &json].concat(), 1),
    ];
    for (args, code) in cases {
        let output = Command::new(BIN)
            .args(&args)
            .stderr(cors_devtools::closed_pipe().unwrap())
            .output()
            .unwrap();
        check_exit(&output, code);
        if code == 1 {
            let report = report::from_json(&stdout(&output)).unwrap();
            assert!(!report.is_success(), "{args:?}");
        }
    }
}

/// Against a URL with a path, every case's path goes under it: the details show the request
/// line as sent (`GET /api/`), not the case's own (`GET /`), which the target never saw.
#[test]
fn details_show_the_path_sent_under_the_targets_own() {
    let url = format!("http://{}/api", start_upstream(None));
    let options = [("--filter", "origins.exact-match"), ("--format", "details")];
    let output = run(&url, Some("strict"), &options);
    check_exit(&output, 1);
    let text = stdout(&output);
    let requests: Vec<&str> = text.lines().filter(|l| l.starts_with("  request: ")).collect();
    assert!(!requests.is_empty(), "no failure shown:\n{text}");
    for line in requests {
        assert!(line.starts_with("  request: GET /api/"), "{line}\n{text}");
    }
}

#[test]
fn peer_says_which_failures_its_export_states() {
    // The bare upstream as a "gateway" configured by nginx's export: it refuses no method.
    let url = format!("http://{}", start_upstream(None));
    let output = run(&url, Some("strict"), &[("--filter", "simple."), ("--peer", "nginx")]);
    check_exit(&output, 1);
    let text = stdout(&output);
    let words = text.split_once("\nnginx: of the ").map(|(_, words)| words);
    let words = words.unwrap_or_else(|| panic!("no words after the verdict:\n{text}"));
    assert!(words.contains("failures, `cors-conformance export --to nginx` states:"), "{text}");
    assert!(
        words.contains("  the recipe only sends the allowed methods in preflight answers\n"),
        "{text}"
    );
    assert!(words.contains(" it does not explain ("), "{text}");
    let usage = run(&url, Some("strict"), &[("--peer", "haproxy")]);
    check_exit(&usage, 2);
}

#[test]
fn a_target_answering_garbage_fails_its_cases_without_a_panic() {
    let url = format!("http://{}", start_garbage());
    let scratch_dir = scratch("garbage");
    let dir = scratch_dir.path();
    let json = dir.join("report.json");
    let options = [("--filter", "simple."), ("--json-report", json.to_str().unwrap())];
    let output = run(&url, Some("strict"), &options);
    check_exit(&output, 1);
    let report = report::from_json(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(!report.results.is_empty());
    assert!(report.results.iter().all(|r| report::status(r) == "error"), "{report:?}");
    let text = stderr(&output);
    let warning = format!("warning: the target {url} does not answer with HTTP");
    assert!(text.contains(&warning), "{text}");
    assert!(text.contains("is it a TLS port (write the target as https://)"), "{text}");
}

/// An HTTP answer too large to read is no sign of another protocol: the warning said "does not
/// answer with HTTP ... is it a TLS port?" (F-CS).
#[test]
fn a_head_too_large_is_not_taken_for_another_protocol() {
    let url = format!("http://{}", start_head_too_large());
    let output = run(&url, Some("strict"), &[("--filter", "simple.")]);
    check_exit(&output, 1);
    let text = stderr(&output);
    let warning =
        format!("warning: the target {url} answers, but not so that its answer can be read");
    assert!(text.contains(&warning), "{text}");
    assert!(text.contains("field lines"), "{text}");
    assert!(!text.contains("TLS"), "{text}");
}

/// `differential --policy FILE` says the file's warnings. A gateway engineer describing an
/// nginx's origin list without `publicResource: false` (its default is true) got divergences
/// whose engine side answered `*` to everyone, and no word of why.
#[test]
fn differential_says_the_policy_files_warnings() {
    let scratch_dir = scratch("differential-warnings");
    let policy = scratch_dir.path().join("ours.yaml");
    let yaml = "- policyRef:\n    name: cors-flex\n  config:\n    originGroups:\n      \
                - name: app\n        origins: [https://app.example.com]\n";
    std::fs::write(&policy, yaml).unwrap();
    let url = format!("http://{}", start_upstream(None));
    let policy = policy.to_str().unwrap();
    let output = cli(&["differential", "--target", &url, "--policy", policy, "--requests", "5"]);
    let text = stderr(&output);
    let warning = format!("{policy}:4:5: warning: originGroups: originGroups are ignored while");
    assert!(text.contains(&warning), "{text}");
}

#[test]
fn a_failing_setup_prints_its_output_and_exits_3() {
    let url = format!("http://{}", start_upstream(None));
    let setup = "echo reloading {profile}; echo 'nginx: [emerg] unknown directive' >&2; exit 1";
    let output = run(&url, None, &[("--setup", setup)]);
    check_exit(&output, 3);
    let text = stderr(&output);
    let first = cors_conformance::profile::names()[0];
    assert!(text.contains(&format!("reloading {first}")), "{text}");
    assert!(text.contains("[emerg] unknown directive"), "{text}");
    let last = text.lines().last().unwrap();
    assert!(last.contains(&format!("setup for profile {first} failed")), "{text}");
}

/// Exports listen where the target URL points, its scheme's port when it names none: with
/// `--target http://127.0.0.1` (nginx on port 80, as Debian installs it) they listened on
/// 127.0.0.1:8080, so the run waited for a gateway that never changed and failed after setup.
#[test]
fn exports_listen_on_the_target_urls_port_or_its_schemes() {
    let cases = [
        ("http://127.0.0.1", "listen 127.0.0.1:80;"),
        ("http://127.0.0.1/api/", "listen 127.0.0.1:80;"),
        ("http://[::1]", "listen [::1]:80;"),
        ("http://127.0.0.1:8081", "listen 127.0.0.1:8081;"),
    ];
    for (url, listen) in cases {
        // The setup fails, so nothing is sent, and its output shows the export's `listen`.
        let output = run(url, Some("strict"), &[("--setup", "grep listen {export:nginx}; exit 1")]);
        check_exit(&output, 3);
        assert!(stderr(&output).contains(listen), "{url}: {}", stderr(&output));
    }
}

/// A wrong `--upstream-log` is named as such, before any case: a closed port was reported as
/// "the target became unreachable" once the first case asked it, and an `https://` URL was read
/// as a file name, making every case an error.
#[test]
fn a_wrong_upstream_log_is_named_before_any_case() {
    let url = format!("http://{}", start_upstream(None));
    let closed = format!("http://{}", closed_port());
    let output = run(&url, Some("strict"), &[("--upstream-log", &closed)]);
    check_exit(&output, 3);
    let text = stderr(&output);
    assert!(
        text.contains(&format!("the upstream log (--upstream-log) {closed} is unreachable")),
        "{text}"
    );
    assert!(!text.contains("the target"), "{text}");
    let output = run(&url, Some("strict"), &[("--upstream-log", "https://127.0.0.1:9000")]);
    check_exit(&output, 2);
    assert!(stderr(&output).contains("plain http://"), "{}", stderr(&output));
}

#[test]
fn https_targets_are_checked_against_the_given_ca() {
    let scratch_dir = scratch("https");
    let dir = scratch_dir.path();
    let (ca, certificate, key) = certificates(dir);
    let addr = start_tls_upstream(certificate, key);
    let base = ["run", "--profile", "strict", "--filter", "simple.no-origin"];
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{}", addr.port());
        let trusted = cli(&[&base[..], &["--target", &url, "--ca", ca.to_str().unwrap()]].concat());
        check_exit(&trusted, 0);
        assert!(stdout(&trusted).contains("3 passed"), "{}", stdout(&trusted));
    }
    let url = format!("https://localhost:{}", addr.port());
    let untrusted = cli(&[&base[..], &["--target", &url]].concat());
    check_exit(&untrusted, 3);
    assert!(stderr(&untrusted).contains("--ca FILE"), "{}", stderr(&untrusted));
    let insecure = cli(&[&base[..], &["--target", &url, "--insecure"]].concat());
    check_exit(&insecure, 0);
}

/// A TLS target that speaks HTTP/2 only refuses the suite's `http/1.1` by ALPN: the run says
/// that, where it gave the alert's name with a hint of `--ca` and `--insecure` (F-CS).
#[test]
fn an_http2_only_tls_target_is_said_to_be_one() {
    let scratch_dir = scratch("h2-only");
    let (_, certificate, key) = certificates(scratch_dir.path());
    let addr = start_tls_upstream_offering(certificate, key, vec![b"h2".to_vec()]);
    let url = format!("https://localhost:{}", addr.port());
    let output = cli(&["run", "--target", &url, "--profile", "strict", "--insecure"]);
    check_exit(&output, 3);
    let text = stderr(&output);
    assert!(text.contains("NoApplicationProtocol"), "{text}");
    assert!(text.contains("speaks HTTP/2 only"), "{text}");
    assert!(!text.contains("--insecure"), "{text}");
}

#[test]
fn tls_failures_say_what_is_wrong_with_the_certificate_or_the_port() {
    let scratch_dir = scratch("tls-failures");
    let dir = scratch_dir.path();
    let base = ["run", "--profile", "strict", "--filter", "simple.no-origin"];
    let unreachable = |args: &[&str], says: &str| {
        let output = cli(&[&base[..], args].concat());
        check_exit(&output, 3);
        let text = stderr(&output);
        assert!(text.contains(says), "{text}");
        assert!(!text.contains("Other("), "{text}");
    };
    // A CA certificate served as the server's own, trusted or not.
    let (own, certificate, key) = ca_as_own_certificate(&dir.join("own"));
    let url = format!("https://localhost:{}", start_tls_upstream(certificate, key).port());
    let served_a_ca = "the target's certificate is a CA certificate (basic constraints CA:TRUE)";
    unreachable(&["--target", &url], served_a_ca);
    unreachable(&["--target", &url, "--ca", own.to_str().unwrap()], served_a_ca);
    // A certificate that the CA given with --ca did not sign.
    let (_, certificate, key) = certificates(&dir.join("signed"));
    let url = format!("https://localhost:{}", start_tls_upstream(certificate, key).port());
    let (other_ca, _, _) = certificates(&dir.join("other"));
    let other_ca = other_ca.to_str().unwrap();
    unreachable(
        &["--target", &url, "--ca", other_ca],
        &format!("not signed by a CA certificate of --ca {other_ca}"),
    );
    // A certificate for another host than the target URL's, from the CA given with --ca.
    let (ca, certificate, key) = certificates_for(&dir.join("named"), &["api.example.test"]);
    let url = format!("https://localhost:{}", start_tls_upstream(certificate, key).port());
    let ca = ca.to_str().unwrap();
    unreachable(
        &["--target", &url, "--ca", ca],
        "the target's certificate is not for the target URL's host",
    );
    unreachable(&["--target", &url, "--ca", ca], "subjectAltName=DNS:localhost,IP:127.0.0.1");
    let output = cli(&[&base[..], &["--target", &url, "--ca", ca]].concat());
    assert!(!stderr(&output).contains("must hold the CA certificate"), "{}", stderr(&output));
    // https:// for a plain HTTP port.
    let url = format!("https://{}", start_upstream(None));
    unreachable(&["--target", &url], "write the target as http://");
    // A port that accepts and closes at once: no certificate was seen, so no `--ca` hint.
    let url = format!("https://localhost:{}", start_closer().port());
    unreachable(&["--target", &url], "the target closed the connection during the TLS handshake");
    let output = cli(&[&base[..], &["--target", &url]].concat());
    assert!(!stderr(&output).contains("--ca FILE"), "{}", stderr(&output));
}

#[test]
fn header_lines_are_sent_with_every_request() {
    let scratch_dir = scratch("headers");
    let dir = scratch_dir.path();
    let log = dir.join("upstream.log");
    let url = format!("http://{}", start_upstream(Some(log.clone())));
    let output = run(
        &url,
        Some("strict"),
        &[
            ("--filter", "simple.no-origin"),
            ("--header", "Authorization: Bearer secret-token"),
            ("--header", "X-Tenant: acme"),
            ("--upstream-log", log.to_str().unwrap()),
        ],
    );
    check_exit(&output, 0);
    let recorded = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = recorded.lines().collect();
    // The reachability probe, then the three cases.
    assert_eq!(lines.len(), 4, "{recorded}");
    for line in lines {
        assert!(line.contains(r#"["authorization","Bearer secret-token"]"#), "{line}");
        assert!(line.contains(r#"["x-tenant","acme"]"#), "{line}");
    }
}

#[test]
fn reports_are_written_and_read_back() {
    let scratch_dir = scratch("reports");
    let dir = scratch_dir.path();
    let url = format!("http://{}", start_upstream(None));
    let (json, junit, html) = (dir.join("r.json"), dir.join("r.xml"), dir.join("r.html"));
    let output = run(
        &url,
        Some("strict"),
        &[
            ("--concurrency", "4"),
            ("--json-report", json.to_str().unwrap()),
            ("--junit-report", junit.to_str().unwrap()),
            ("--html-report", html.to_str().unwrap()),
        ],
    );
    check_exit(&output, 1);
    let text = std::fs::read_to_string(&json).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["format"], report::FORMAT);
    assert_eq!(value["version"], report::VERSION);
    assert_eq!(value["target"], url, "without --target-name, the report names the URL");
    let report = report::from_json(&text).unwrap();
    let ids: Vec<&str> = report.results.iter().map(|r| r.id.as_str()).collect();
    let corpus = cors_conformance::Corpus::builtin().unwrap();
    let expected: Vec<&str> =
        corpus.cases().iter().filter(|c| c.profile == "strict").map(|c| c.id.as_str()).collect();
    assert_eq!(ids, expected, "--concurrency keeps the corpus order");
    assert_eq!(value["totals"]["cases"], ids.len());

    let xml = std::fs::read_to_string(&junit).unwrap();
    let parsed = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(parsed.tests, ids.len());
    assert_eq!(parsed.failures, report.failures().count());
    assert!(parsed.time.is_some_and(|t| t > Duration::ZERO));
    let case = &parsed.test_suites[0].test_cases[0];
    assert!(case.time.is_some(), "{case:?}");

    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(!page.contains("<script src") && !page.contains("<link"), "self-contained");
    for id in ids {
        assert!(page.contains(&format!("data-id=\"{id}\"")), "{id} missing from the HTML report");
    }
    assert!(page.contains("https://fetch.spec.whatwg.org/#"), "citations are linked");
}

#[test]
fn merge_reads_reports_back_and_refuses_other_json() {
    let scratch_dir = scratch("merge");
    let dir = scratch_dir.path();
    let url = format!("http://{}", start_upstream(None));
    let json = dir.join("r.json");
    let output = run(&url, Some("public"), &[("--json-report", json.to_str().unwrap())]);
    check_exit(&output, 1);
    let merged = cli(&["merge", json.to_str().unwrap()]);
    check_exit(&merged, 1);
    let other = dir.join("other.json");
    std::fs::write(&other, "{\"report\": {}}").unwrap();
    let refused = cli(&["merge", other.to_str().unwrap()]);
    check_exit(&refused, 2);
    assert!(
        stderr(&refused).contains("not a cors-conformance JSON report"),
        "{}",
        stderr(&refused)
    );
}

/// `cli(args)`, failing when it has not exited within 10 s (a reader of a fifo waits for a
/// writer; `fifo` is opened for writing then, so that the reader goes).
#[track_caller]
fn cli_within_10_s(args: &[&str], fifo: &Path) -> Output {
    let owned: Vec<String> = args.iter().map(|&arg| arg.to_owned()).collect();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(Command::new(BIN).args(owned).output()));
    let outcome = receiver.recv_timeout(Duration::from_secs(10));
    if outcome.is_err() {
        drop(std::fs::OpenOptions::new().write(true).open(fifo));
    }
    outcome.expect("still reading after 10 s").expect("cors-conformance runs")
}

/// The files a user names are read only when they are regular files of at most 64 MiB, and
/// otherwise refused unread with exit 2 (finding F-CV): `merge /dev/zero` grew to 2.7 GB in
/// 4 s, a fifo waited for a writer for ever, and a report, known-failures file or upstream log
/// of any size was read whole.
#[cfg(unix)]
#[test]
fn named_files_that_are_not_regular_or_too_large_are_refused_unread() {
    let scratch_dir = scratch("inputs");
    let dir = scratch_dir.path();
    let large = dir.join("large.json");
    // Sparse: no disk space taken.
    std::fs::File::create(&large)
        .and_then(|file| file.set_len(cors_conformance::input::MAX_INPUT_FILE + 1))
        .unwrap();
    let fifo = dir.join("fifo.json");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success(), "mkfifo failed");
    let (large, fifo_path) = (large.to_str().unwrap(), fifo.to_str().unwrap());
    let url = format!("http://{}", closed_port());
    let run_with = |flag: &str, file: &str| {
        cli_within_10_s(&["run", "--target", &url, "--profile", "strict", flag, file], &fifo)
    };
    // A device last: without the checks it is read until memory runs out.
    for (file, reason) in [
        (large, "the file is 67108865 bytes, more than the 67108864-byte limit"),
        (fifo_path, "not a regular file but a fifo"),
        ("/dev/zero", "not a regular file but a character device"),
    ] {
        let said = format!("cannot read {file}: {reason}");
        for output in [
            cli_within_10_s(&["merge", file], &fifo),
            run_with("--known-failures", file),
            run_with("--upstream-log", file),
        ] {
            check_exit(&output, 2);
            let text = stderr(&output);
            assert!(text.contains(&said), "{file}: {text}");
            assert_eq!(text.lines().count(), 1, "{file}: {text}");
        }
    }
}

#[test]
fn export_writes_the_configuration_file() {
    let scratch_dir = scratch("export");
    let dir = scratch_dir.path();
    let out = dir.join("cors.conf");
    let output = cli(&[
        "export",
        "--profile",
        "strict",
        "--to",
        "nginx",
        "--listen",
        "127.0.0.1:8443",
        "--out",
        out.to_str().unwrap(),
    ]);
    check_exit(&output, 0);
    let text = std::fs::read_to_string(out).unwrap();
    assert!(text.contains("listen 127.0.0.1:8443;"), "{text}");
    assert!(text.starts_with("# nginx"), "{text}");
    let policy = workspace_profile("subdomains");
    let from_file = cli(&["export", "--profile", policy.to_str().unwrap(), "--to", "rs-cors"]);
    check_exit(&from_file, 0);
    assert!(stdout(&from_file).contains("\"https://*.example.test\""), "{}", stdout(&from_file));
}

fn workspace_profile(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles").join(format!("{name}.yaml"))
}

/// Every profile against one cors-gateway whose watched policy file the setup command rewrites.
/// The rewrite lands a second after the setup command returns, and the gateway only polls the
/// file every 300 ms, so a run that did not wait for the new profile would check each profile's
/// cases against the previous one and fail.
/// cors-gateway serving `policy` (reloaded when it changes) in front of `upstream`, and its URL.
fn start_gateway(policy: &Path, upstream: &str) -> (std::process::Child, String) {
    let mut gateway = Command::new(gateway_binary())
        .arg("serve")
        .arg("--config")
        .arg(policy)
        .args(["--listen", "127.0.0.1:0", "--upstream", upstream, "--watch-interval", "100ms"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("cors-gateway starts");
    let url = {
        use std::io::BufRead as _;
        let stdout = gateway.stdout.take().expect("its standard output is piped");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let line = lines.next().expect("it says where it listens").expect("as text");
        std::thread::spawn(move || lines.for_each(drop));
        let url = line.trim().strip_prefix("listening on ").expect("`listening on URL`");
        url.to_owned()
    };
    (gateway, url)
}

/// `run --profile strict --level fetch` against cors-gateway serving it in front of `upstream`.
fn run_strict_through_gateway(upstream: &str) -> Output {
    let (mut gateway, url) = start_gateway(&workspace_profile("strict"), upstream);
    let output = run(&url, Some("strict"), &[("--level", "fetch")]);
    let _ = gateway.kill();
    let _ = gateway.wait();
    output
}

#[test]
fn a_gateway_whose_upstream_is_down_is_told_once() {
    let output = run_strict_through_gateway(&format!("http://{}", closed_port()));
    check_exit(&output, 1);
    let text = stderr(&output);
    assert!(
        text.contains("warning: no request reached the upstream, and the target answered "),
        "{text}"
    );
    assert!(text.contains("is the upstream it forwards to running?"), "{text}");
    assert_eq!(text.matches("warning:").count(), 1, "said once:\n{text}");

    // Not when the upstream answers.
    let output = run_strict_through_gateway(&format!("http://{}", start_upstream(None)));
    check_exit(&output, 0);
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
}

/// What `run --profile strict --level fetch` against `url` writes to stderr, its exit status
/// checked to be 1 (cases failed).
fn failing_fetch_warnings(url: &str) -> String {
    let output = run(url, Some("strict"), &[("--level", "fetch")]);
    check_exit(&output, 1);
    stderr(&output)
}

#[test]
fn a_target_that_forwards_nothing_at_this_path_is_told_once() {
    // A gateway asked outside the path it forwards: it answers 404 itself.
    let url = format!("http://{}", start_not_found());
    let text = failing_fetch_warnings(&url);
    assert!(
        text.contains("warning: no request reached the upstream: the target answered"),
        "{text}"
    );
    assert!(text.contains(" failing cases with 404)"), "{text}");
    assert!(text.contains("--target http://HOST:PORT/PREFIX"), "{text}");
    assert!(text.contains("give --upstream-log"), "without --upstream-log:\n{text}");
    assert_eq!(text.matches("warning:").count(), 1, "said once:\n{text}");
}

#[test]
fn a_target_that_wants_credentials_is_told_to_send_them_not_to_change_the_path() {
    // A gateway that answers 401 to every request without its `Authorization` header: another
    // path would change nothing, `--header` would.
    let url = format!("http://{}", start_unauthorized());
    let text = failing_fetch_warnings(&url);
    assert!(text.contains(" failing cases with 401), refusing them as unauthenticated"), "{text}");
    assert!(text.contains("--header 'Authorization: Bearer TOKEN'"), "{text}");
    assert!(!text.contains("PREFIX"), "the path is not the problem:\n{text}");
    assert_eq!(text.matches("warning:").count(), 1, "said once:\n{text}");
}

/// A target that answers 403 to every request with `Origin` and forwards one without it refuses
/// the origins as a CORS handling does (9e35e03): the warning said it wanted credentials, and to
/// send them with --header. It says what the request without `Origin` found instead; a target
/// that answers that request the same 403 is still told to send credentials.
#[test]
fn a_target_whose_403s_are_cors_refusals_is_not_told_to_send_credentials() {
    let refusing = format!("http://{}", start_forbidding_origins());
    let text = failing_fetch_warnings(&refusing);
    assert!(text.contains(" failing cases with 403), and the 403s are CORS refusals"), "{text}");
    assert!(
        text.contains("it answered a request without Origin otherwise (200, forwarded)"),
        "{text}"
    );
    assert!(text.contains("`cors-conformance profiles --show strict`"), "{text}");
    assert!(!text.contains("unauthenticated") && !text.contains("--header"), "{text}");
    assert_eq!(text.matches("warning:").count(), 1, "said once:\n{text}");

    let wall = format!("http://{}", start_forbidden());
    let text = failing_fetch_warnings(&wall);
    assert!(text.contains(" failing cases with 403), refusing them as unauthenticated"), "{text}");
    assert!(text.contains("--header 'Authorization: Bearer TOKEN'"), "{text}");
}

/// A subset of cases that expect no grant passed whole, exit 0, against a gateway that answered
/// every request 401 itself (F-DI): no answer came from its CORS handling. The passes are
/// errors now, in the `JUnit` report as in the exit status; against cors-gateway the same subset
/// still passes.
#[test]
fn cases_that_expect_no_grant_do_not_pass_on_a_target_that_answers_everything_itself() {
    let scratch_dir = scratch("refusals");
    let junit = scratch_dir.path().join("junit.xml");
    let junit_option = ("--junit-report", junit.to_str().unwrap());
    let subset = ("--filter", "not-granted");
    for url in [format!("http://{}", start_unauthorized()), format!("http://{}", start_not_found())]
    {
        let output = run(&url, Some("strict"), &[subset, junit_option]);
        check_exit(&output, 1);
        let text = stdout(&output);
        assert!(text.contains(" 0 passed, 0 failed, 1 errors"), "{text}");
        assert!(text.contains("not a pass: the target answered 40"), "{text}");
        let xml = std::fs::read_to_string(&junit).unwrap();
        let parsed = quick_junit::Report::deserialize_from_str(&xml).unwrap();
        assert_eq!((parsed.tests, parsed.errors), (1, 1), "{xml}");
    }

    let upstream = format!("http://{}", start_upstream(None));
    let (mut gateway, url) = start_gateway(&workspace_profile("strict"), &upstream);
    let output = run(&url, Some("strict"), &[subset]);
    let _ = gateway.kill();
    let _ = gateway.wait();
    check_exit(&output, 0);
}

/// A 403 is a refused origin's answer in some CORS implementations, and an authorization
/// wall's in front of others; the cases that expect no grant passed on a wall's 403 as on a
/// refusal. The target's answer to a request without `Origin`, which no CORS handling refuses,
/// tells them apart: the wall gives it the same 403, and the passes are errors; a target that
/// refuses only origins forwards it, and they stay passes.
#[test]
fn a_403_is_a_refusal_only_when_a_request_without_origin_is_not_refused() {
    let subset = ("--filter", "not-granted");
    let wall = format!("http://{}", start_forbidden());
    let output = run(&wall, Some("strict"), &[subset]);
    check_exit(&output, 1);
    let text = stdout(&output);
    assert!(text.contains(" 0 passed, 0 failed, 1 errors"), "{text}");
    assert!(text.contains("not a pass: the target answered 403 itself"), "{text}");
    assert!(text.contains("a request without Origin, which no CORS handling refuses"), "{text}");

    let refusing = format!("http://{}", start_forbidding_origins());
    let output = run(&refusing, Some("strict"), &[subset]);
    check_exit(&output, 0);
    assert!(stdout(&output).contains("1 passed"), "{}", stdout(&output));
}

#[test]
fn all_profiles_with_setup_wait_for_the_gateway_to_serve_each_profile() {
    let scratch_dir = scratch("all-profiles");
    let dir = scratch_dir.path();
    let upstream = format!("http://{}", start_upstream(None));
    let policy = dir.join("policy.yaml");
    std::fs::copy(workspace_profile("wildcard-origin"), &policy).unwrap();
    let (mut gateway, url) = start_gateway(&policy, &upstream);
    let json = dir.join("all.json");
    let setup = format!("(sleep 0.3; cp {{policy}} {}) > /dev/null 2>&1 &", policy.display());
    let known = Path::new(env!("CARGO_MANIFEST_DIR")).join("known-failures.toml");
    let output = run(
        &url,
        None,
        &[
            ("--setup", &setup),
            ("--upstream-log", &upstream),
            ("--target-name", "cors-gateway"),
            ("--known-failures", known.to_str().unwrap()),
            ("--concurrency", "2"),
            ("--json-report", json.to_str().unwrap()),
        ],
    );
    let _ = gateway.kill();
    let _ = gateway.wait();
    check_exit(&output, 0);
    let report = report::from_json(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let corpus = cors_conformance::Corpus::builtin().unwrap();
    assert_eq!(report.results.len(), corpus.cases().len(), "one combined report");
}
