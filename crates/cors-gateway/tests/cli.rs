//! `cors-gateway check`, `explain` and the `serve` command line, on the repository's example
//! policies (`examples/policies/*.yaml`).
#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

mod common;

use common::upstream::Upstream;
use common::{
    Gateway, Scratch, client, empty, example_policy, request, run, run_with_open_files, send,
};
use rstest::rstest;

fn path(name: &str) -> String {
    example_policy(name).to_str().unwrap().to_owned()
}

/// Whether `line` reads `FILE:LINE:COLUMN: SEVERITY: ...` for `file`.
fn is_positioned(line: &str, file: &str, severity: &str) -> bool {
    let Some(rest) = line.strip_prefix(file).and_then(|r| r.strip_prefix(':')) else {
        return false;
    };
    let mut parts = rest.splitn(3, ':');
    let line_no = parts.next().is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 1));
    let column = parts.next().is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 1));
    line_no && column && parts.next().is_some_and(|r| r.starts_with(&format!(" {severity}: ")))
}

#[test]
fn check_accepts_the_strict_example_without_warnings() {
    let (code, stdout, stderr) = run(&["check", &path("strict.yaml"), "--deny-warnings"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("strict.yaml is a valid cors-flex policy (0 warnings)"), "{stderr}");
}

#[test]
fn check_print_writes_a_normalized_policy_that_checks_again_to_itself() {
    let (code, printed, stderr) = run(&["check", &path("strict.yaml"), "--print"]);
    assert_eq!(code, 0, "{stderr}");
    for expected in [
        "supportCredentials: true",
        "https://app.example.com",
        "accessControlMaxAge: 600",
        "x-request-id",
    ] {
        assert!(printed.contains(expected), "{expected} in:\n{printed}");
    }
    let scratch = Scratch::new();
    let again = scratch.write("normalized.yaml", &printed);
    let (code, reprinted, stderr) = run(&["check", again.to_str().unwrap(), "--print"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(reprinted, printed);
}

#[test]
fn check_reports_errors_with_file_line_column_and_fails() {
    let file = path("seed-broken.yaml");
    let (code, stdout, stderr) = run(&["check", &file]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(stderr.lines().any(|l| is_positioned(l, &file, "error")), "{stderr}");
    assert!(stderr.contains("was not loaded"));
}

#[test]
fn check_reports_every_error_of_a_file_at_once() {
    let scratch = Scratch::new();
    let file = scratch.write(
        "two-errors.yaml",
        "publicResource: maybe\noriginGroups:\n  - origins: [\"https://a.test/path\"]\n",
    );
    let file = file.to_str().unwrap();
    let (code, _, stderr) = run(&["check", file]);
    assert_eq!(code, 1);
    let errors: Vec<&str> = stderr.lines().filter(|l| is_positioned(l, file, "error")).collect();
    assert_eq!(errors.len(), 2, "{stderr}");
    assert!(
        errors[0].starts_with(&format!("{file}:1:"))
            && errors[1].starts_with(&format!("{file}:3:"))
    );
}

#[rstest]
#[case::without_deny_warnings_it_passes(false, 0)]
#[case::deny_warnings_fails(true, 1)]
fn check_warnings(#[case] deny: bool, #[case] expected_code: i32) {
    let file = path("public-credentials.yaml");
    let mut args = vec!["check", file.as_str()];
    if deny {
        args.push("--deny-warnings");
    }
    let (code, _, stderr) = run(&args);
    assert_eq!(code, expected_code, "{stderr}");
    assert!(stderr.lines().any(|l| is_positioned(l, &file, "warning")), "{stderr}");
}

#[test]
fn check_reports_policies_an_api_instance_ignores() {
    let file = path("api-instance.yaml");
    let (code, _, stderr) = run(&["check", &file]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| is_positioned(l, &file, "warning") && l.contains("rate-limiting-flex")),
        "{stderr}"
    );
}

#[test]
fn check_gives_every_example_policy_a_verdict_in_the_documented_form() {
    let directory = example_policy("");
    let mut checked = 0;
    for entry in std::fs::read_dir(&directory).unwrap() {
        let file = entry.unwrap().path();
        if file.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let file = file.to_str().unwrap().to_owned();
        let (code, _, stderr) = run(&["check", &file]);
        for line in stderr.lines().filter(|l| l.starts_with(&file)) {
            assert!(
                is_positioned(line, &file, "error")
                    || is_positioned(line, &file, "warning")
                    || line.starts_with(&format!("{file}: ")),
                "{line}"
            );
        }
        let verdict = stderr.lines().last().unwrap_or("");
        match code {
            0 => assert!(verdict.starts_with("ok: "), "{file}: {stderr}"),
            1 => assert!(verdict.starts_with("error: "), "{file}: {stderr}"),
            other => panic!("{file}: exit code {other}: {stderr}"),
        }
        checked += 1;
    }
    assert!(checked >= 1, "no example policy in {}", directory.display());
}

#[track_caller]
fn check_explain(args: &[&str], expected: &[&str]) {
    let file = path("strict.yaml");
    let mut all = vec!["explain", file.as_str()];
    all.extend(args);
    let (code, stdout, stderr) = run(&all);
    assert_eq!(code, 0, "{stderr}");
    for line in expected {
        assert!(stdout.lines().any(|l| l.trim() == *line), "{line:?} missing from:\n{stdout}");
    }
}

#[rstest]
#[case::a1_allowed_get(&["--origin", "https://app.example.com"], &[
    "access-control-allow-origin: https://app.example.com",
    "access-control-expose-headers: x-request-id",
    "vary: Origin",
    "A1: method \"GET\" is allowed in group \"app\"",
])]
#[case::p1_accepted_preflight_defaults_to_options(&["--origin", "https://app.example.com", "--request-method", "PUT", "--request-headers", "content-type, x-token"], &[
    "access-control-allow-methods: GET, POST, PUT",
    "access-control-allow-headers: content-type, x-token",
    "access-control-max-age: 600",
    "P1: accepted: answered 200 with an empty body",
])]
#[case::p3_rejected_preflight(&["--origin", "https://app.example.com", "--request-method", "DELETE"], &[
    "vary: Origin",
])]
#[case::a2_blocked_origin(&["--origin", "https://evil.example", "--method", "POST"], &[
    "A2: origin not allowed: blocked",
])]
#[case::r2_same_origin(&["--origin", "http://gw.test", "--host", "gw.test", "--method", "POST"], &[
    "not a CORS request: forward it, then add Origin to the response's Vary",
])]
fn explain(#[case] args: &[&str], #[case] expected: &[&str]) {
    check_explain(args, expected);
}

#[test]
fn explain_names_the_outcome_first() {
    let file = path("strict.yaml");
    let (_, stdout, _) = run(&[
        "explain",
        &file,
        "--origin",
        "https://app.example.com",
        "--request-method",
        "DELETE",
    ]);
    assert!(stdout.starts_with("preflight rejected"), "{stdout}");
    assert!(
        !stdout.contains("access-control-allow"),
        "a rejected preflight grants nothing:\n{stdout}"
    );
}

#[test]
fn explain_refuses_a_broken_policy() {
    let file = path("seed-broken.yaml");
    let (code, stdout, stderr) = run(&["explain", &file, "--origin", "https://a.test"]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(stderr.lines().any(|l| is_positioned(l, &file, "error")), "{stderr}");
}

#[test]
fn serve_without_an_upstream_explains_how_to_give_one() {
    let (code, _, stderr) =
        run(&["serve", "--config", &path("strict.yaml"), "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no upstream: pass --upstream URL"), "{stderr}");
}

#[test]
fn serve_refuses_a_via_pseudonym_that_is_not_a_token() {
    let (code, _, stderr) = run(&[
        "serve",
        "--config",
        &path("strict.yaml"),
        "--upstream",
        "http://127.0.0.1:9",
        "--via-pseudonym",
        "my proxy",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("invalid pseudonym \"my proxy\""), "{stderr}");
}

/// Finding F-B (issue 16): below 64 open files the gateway refuses to start, saying why.
#[test]
fn serve_refuses_an_open_file_limit_below_the_minimum() {
    let (code, _, stderr) = run_with_open_files(
        Some(40),
        &[
            "serve",
            "--config",
            &path("strict.yaml"),
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:9",
            // One worker: each further one keeps 4 more descriptors (see `budget.rs`).
            "--workers",
            "1",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("the open-file limit (ulimit -n) is 40, below the 64 cors-gateway needs"),
        "{stderr}"
    );
}

#[test]
fn help_speaks_to_newcomers() {
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for expected in ["reverse proxy", "upstream", "serve", "check", "explain", "Examples:"] {
        assert!(stdout.contains(expected), "{expected} in:\n{stdout}");
    }
}

/// C2: an `ApiInstance` names the listener and the upstream; flags are not needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_instance_supplies_listener_and_upstream() {
    let upstream = Upstream::start().await;
    let scratch = Scratch::new();
    let file = scratch.write(
        "api.yaml",
        &format!(
            "apiVersion: gateway.mulesoft.com/v1alpha1
kind: ApiInstance
metadata:
  name: test
spec:
  address: http://127.0.0.1:0
  services:
    backend:
      address: {}
  policies:
    - policyRef:
        name: cors-flex
      config:
        publicResource: false
        originGroups:
          - origins: [https://shop.example.com]
",
            upstream.url()
        ),
    );
    let gateway = Gateway::start(&["serve", "--config", file.to_str().unwrap()]);
    let answer = send(
        &client(false),
        request(
            "GET",
            &gateway.url("/"),
            &[("origin", "https://shop.example.com"), ("x-test-id", "api")],
            empty(),
        ),
    )
    .await;
    assert_eq!(
        answer.one("access-control-allow-origin").as_deref(),
        Some("https://shop.example.com")
    );
    assert!(upstream.seen_with_id("api").is_some());
}

/// C2: `--listen` and `--upstream` override the `ApiInstance` addresses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_override_the_api_instance_addresses() {
    let upstream = Upstream::start().await;
    let url = upstream.url();
    let gateway = Gateway::start(&[
        "serve",
        "--config",
        &path("api-instance.yaml"),
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &url,
    ]);
    assert!(gateway.address.ip().is_loopback() && gateway.address.port() != 8081);
    let answer = send(
        &client(false),
        request(
            "GET",
            &gateway.url("/"),
            &[("origin", "https://shop.example.com"), ("x-test-id", "o")],
            empty(),
        ),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(upstream.seen_with_id("o").is_some());
    // The ignored policy is reported (on stderr, read by a thread of its own: waited for).
    gateway.wait_for_log("rate-limiting-flex");
}

fn local_mode(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/local-mode");
    path.join(name).to_str().unwrap().to_owned()
}

/// Issue 17: `check` takes a Flex Local Mode folder, or several of its files, and reports
/// warnings with their place.
#[test]
fn check_accepts_a_local_mode_folder() {
    let folder = local_mode("resources");
    let (code, stdout, stderr) = run(&["check", &folder]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty());
    let logging = format!("{folder}/logging.yaml");
    assert!(
        stderr
            .lines()
            .any(|l| is_positioned(l, &logging, "warning") && l.contains("Configuration")),
        "{stderr}"
    );
    let verdict = stderr.lines().last().unwrap_or("");
    assert_eq!(
        verdict,
        format!(
            "ok: {folder} is a valid Flex Local Mode configuration of 1 listener and 1 API \
             instance (1 warning)"
        )
    );
}

#[test]
fn check_denies_warnings_of_a_folder_and_prints_each_instance() {
    let folder = local_mode("inline");
    let (code, printed, stderr) = run(&["check", &folder, "--print", "--deny-warnings"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("rate-limiting-flex"), "{stderr}");
    assert!(stderr.ends_with("but has 1 warning (denied by --deny-warnings)\n"), "{stderr}");
    assert!(printed.starts_with("# ApiInstance catalog-api at http://127.0.0.1:8080/catalog\n"));
    assert!(printed.contains("# ApiInstance orders-api at http://127.0.0.1:8080/orders\n"));
}

#[test]
fn check_reports_every_file_of_several_at_once() {
    let scratch = Scratch::new();
    let listener = scratch.write(
        "a.yaml",
        "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nmetadata: {name: a}\n\
         spec: {address: tcp://0.0.0.0:1}\n",
    );
    let service = scratch.write(
        "b.yaml",
        "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: Service\nmetadata: {name: s}\n\
         spec: {address: not a url}\n",
    );
    let (a, b) = (listener.to_str().unwrap(), service.to_str().unwrap());
    let (code, _, stderr) = run(&["check", a, b]);
    assert_eq!(code, 1, "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains(": error: ")).collect();
    assert!(is_positioned(errors[0], a, "error") && errors[0].contains("not http or https"));
    assert!(is_positioned(errors[1], b, "error") && errors[1].contains("is not a URL"));
    assert!(stderr.ends_with("has 2 errors and was not loaded\n"), "{stderr}");
}

/// `serve` command lines that cannot work are refused before anything is bound, each with what
/// to do instead.
#[rstest]
#[case::config_dir_with_listen(
    &["serve", "--config-dir", "DIR", "--listen", "127.0.0.1:0"],
    2,
    "the argument '--config-dir <DIR>' cannot be used with '--listen <ADDR>'"
)]
#[case::config_dir_with_upstream(
    &["serve", "--config-dir", "DIR", "--upstream", "http://127.0.0.1:1"],
    2,
    "cannot be used with '--upstream <URL>'"
)]
#[case::config_dir_with_config(&["serve", "--config-dir", "DIR", "--config", "FILE"], 2, "cannot be used with")]
#[case::neither(&["serve"], 2, "--config <FILE>")]
#[case::cert_without_key(&["serve", "--config", "FILE", "--tls-cert", "FILE"], 2, "--tls-key <FILE>")]
#[case::ca_and_insecure(
    &["serve", "--config", "FILE", "--upstream-ca", "FILE", "--upstream-insecure"],
    2,
    "cannot be used with"
)]
#[case::https_listener_without_certificate(
    &["serve", "--config", "FILE", "--listen", "https://127.0.0.1:0", "--upstream", "http://127.0.0.1:1"],
    1,
    "without a certificate: pass --tls-cert FILE and --tls-key FILE"
)]
#[case::https_folder_listener_without_certificate(
    &["serve", "--config-dir", "TLS_FOLDER"],
    1,
    "the listener https://127.0.0.1:8443 is https: pass --tls-cert FILE and --tls-key FILE"
)]
#[case::unreadable_certificate(
    &["serve", "--config", "FILE", "--upstream", "http://127.0.0.1:1", "--tls-cert", "MISSING", "--tls-key", "MISSING"],
    1,
    "cannot read the certificate chain"
)]
#[case::folder_with_errors(&["serve", "--config-dir", "BROKEN_FOLDER"], 1, "api.yaml:2:17: error: spec.address")]
#[case::trusted_proxy_that_is_a_name(
    &["serve", "--config", "FILE", "--upstream", "http://127.0.0.1:1", "--trusted-proxies", "10.0.0.0/8,lb.internal"],
    2,
    "invalid trusted proxy \"lb.internal\": expected an IP address or a CIDR range"
)]
#[case::trusted_proxy_prefix_too_long(
    &["serve", "--config-dir", "DIR", "--trusted-proxies", "fd00::/129"],
    2,
    "invalid trusted proxy \"fd00::/129\""
)]
#[case::read_timeout_past_a_year(
    &["serve", "--config", "FILE", "--upstream", "http://127.0.0.1:1", "--upstream-read-timeout", "18446744073709551615"],
    2,
    "duration \"18446744073709551615\" is too long: at most 31536000s (a year)"
)]
#[case::upstream_timeout_of_zero(
    &["serve", "--config", "FILE", "--upstream", "http://127.0.0.1:1", "--upstream-timeout", "0"],
    2,
    "invalid value '0' for '--upstream-timeout <DURATION>': \"0\" would answer every forwarded \
     request 504 before the upstream could: give a duration above 0"
)]
#[case::header_read_timeout_of_zero(
    &["serve", "--config", "FILE", "--upstream", "http://127.0.0.1:1", "--header-read-timeout", "0"],
    2,
    "invalid value '0' for '--header-read-timeout <DURATION>': \"0\" would close every \
     connection before its client could send a request: give a duration above 0"
)]
// Finding F-CQ: taken before, and every request went to port 80.
#[case::upstream_port_past_65535(
    &["serve", "--config", "FILE", "--upstream", "http://127.0.0.1:99999"],
    2,
    "invalid upstream URL \"http://127.0.0.1:99999\": the port 99999 is past 65535"
)]
// Finding F-DC: taken before, and `GET /x` went upstream as `GET /api/../admin/x`, which a
// Local Mode folder's service address refuses.
#[case::upstream_with_a_dot_segment(
    &["serve", "--config", "FILE", "--upstream", "http://127.0.0.1:1/api/../admin"],
    2,
    "invalid upstream URL: \"http://127.0.0.1:1/api/../admin\" has a dot segment (. or ..)"
)]
#[case::listen_without_a_host(
    &["serve", "--config", "FILE", "--upstream", "http://127.0.0.1:1", "--listen", ":8080"],
    2,
    "cannot listen on \":8080\": no host; write 0.0.0.0:8080 (every IPv4 interface)"
)]
#[case::listen_on_a_port_alone(
    &["serve", "--config", "FILE", "--upstream", "http://127.0.0.1:1", "--listen", "8080"],
    2,
    "cannot listen on \"8080\": expected HOST:PORT with a port from 0 to 65535"
)]
#[case::listen_with_a_base_path(
    &["serve", "--config", "FILE", "--upstream", "http://127.0.0.1:1", "--listen", "http://127.0.0.1:0/shop"],
    2,
    "a base path needs a Flex Local Mode folder (--config-dir DIR)"
)]
#[case::admin_listen_past_the_last_port(
    &["serve", "--config", "FILE", "--upstream", "http://127.0.0.1:1", "--admin-listen", "127.0.0.1:65536"],
    2,
    "invalid value '127.0.0.1:65536' for '--admin-listen <ADDR>'"
)]
#[case::proxy_protocol_with_no_trusted_proxy(
    &["serve", "--config", "FILE", "--upstream", "http://127.0.0.1:1", "--proxy-protocol"],
    2,
    "the following required arguments were not provided:\n  --trusted-proxies <CIDR,...>"
)]
fn serve_refuses_command_lines_that_cannot_work(
    #[case] args: &[&str],
    #[case] expected_code: i32,
    #[case] expected: &str,
) {
    let scratch = Scratch::new();
    let tls_folder = scratch.dir.join("tls");
    std::fs::create_dir(&tls_folder).unwrap();
    std::fs::write(
        tls_folder.join("api.yaml"),
        "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nmetadata: {name: a}\n\
         spec:\n  address: https://127.0.0.1:8443\n  services:\n    s: {address: http://127.0.0.1:1}\n",
    )
    .unwrap();
    let broken_folder = scratch.dir.join("broken");
    std::fs::create_dir(&broken_folder).unwrap();
    std::fs::write(broken_folder.join("api.yaml"), "kind: ApiInstance\nspec: {address: 7}\n")
        .unwrap();
    let (file, dir) = (path("strict.yaml"), local_mode("inline"));
    let missing = scratch.dir.join("missing.pem").display().to_string();
    let (tls_folder, broken_folder) =
        (tls_folder.display().to_string(), broken_folder.display().to_string());
    let args: Vec<&str> = args
        .iter()
        .map(|arg| match *arg {
            "FILE" => file.as_str(),
            "DIR" => dir.as_str(),
            "MISSING" => missing.as_str(),
            "TLS_FOLDER" => tls_folder.as_str(),
            "BROKEN_FOLDER" => broken_folder.as_str(),
            other => other,
        })
        .collect();
    let (code, _, stderr) = run(&args);
    assert_eq!(code, expected_code, "{stderr}");
    assert!(stderr.contains(expected), "{expected:?} in:\n{stderr}");
}

/// `check FILE` refuses an `ApiInstance` file whose listener or upstream `serve --config FILE`
/// refuses at start, with the same lines (it called such files valid; `serve` said the reason
/// without the file or the key it came from), each at its place.
#[rstest]
#[case::upstream_with_a_query(
    "http://127.0.0.1:0",
    "http://127.0.0.1:1?x=1",
    "spec.services.s.address: invalid upstream URL \"http://127.0.0.1:1?x=1\": a query is not supported"
)]
#[case::upstream_not_http(
    "http://127.0.0.1:0",
    "ftp://127.0.0.1:1",
    "spec.services.s.address: unsupported upstream URL \"ftp://127.0.0.1:1\": only http:// and https://"
)]
#[case::upstream_without_a_scheme(
    "http://127.0.0.1:0",
    "127.0.0.1:1",
    "spec.services.s.address: invalid upstream URL \"127.0.0.1:1\": no scheme; write http://127.0.0.1:1"
)]
#[case::upstream_with_a_fragment(
    "http://127.0.0.1:0",
    "http://127.0.0.1:1/#top",
    "spec.services.s.address: invalid upstream URL \"http://127.0.0.1:1/#top\": a fragment is never sent"
)]
// Finding F-DC: `check DIR` refused it, `check FILE` and `serve --config FILE` took it.
#[case::upstream_with_a_dot_segment(
    "http://127.0.0.1:0",
    "http://127.0.0.1:1/api/%2e%2e/admin",
    "spec.services.s.address: invalid upstream URL: \"http://127.0.0.1:1/api/%2e%2e/admin\" has a dot \
     segment (. or ..)"
)]
#[case::listener_past_the_last_port(
    "http://127.0.0.1:99999",
    "http://127.0.0.1:1",
    "spec.address: cannot listen on \"http://127.0.0.1:99999\": expected HOST:PORT"
)]
#[case::listener_with_a_base_path(
    "http://127.0.0.1:0/shop",
    "http://127.0.0.1:1",
    "spec.address: cannot listen on \"http://127.0.0.1:0/shop\": a base path needs a Flex Local \
     Mode folder (--config-dir DIR)"
)]
fn check_refuses_an_api_instance_that_serve_refuses(
    #[case] address: &str,
    #[case] service: &str,
    #[case] expected: &str,
) {
    let scratch = Scratch::new();
    let file = scratch.write(
        "api.yaml",
        &format!(
            "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nmetadata: {{name: a}}\n\
             spec:\n  address: {address}\n  services:\n    s: {{address: \"{service}\"}}\n  \
             policies:\n    - policyRef: {{name: cors-flex}}\n      config: {{publicResource: true}}\n"
        ),
    );
    let file = file.to_str().unwrap();
    for command in [&["check", file][..], &["serve", "--config", file]] {
        let (code, _, stderr) = run(command);
        assert_eq!(code, 1, "{command:?}:\n{stderr}");
        // The listener's value is at 5:12, the service's at 7:18.
        let place = if expected.starts_with("spec.address") { "5:12" } else { "7:18" };
        let error = format!("{file}:{place}: error: {expected}");
        assert!(stderr.lines().any(|line| line.starts_with(&error)), "{error:?} in:\n{stderr}");
        let summary = format!("error: {file} has 1 error and was not loaded");
        assert!(stderr.lines().any(|line| line == summary), "{command:?}:\n{stderr}");
    }
}

/// `check FILE` and `serve --config FILE` report every problem of an `ApiInstance` file's
/// listener and service, each with its line, column and key path (naming the service), as the
/// Local Mode folder loader does: they said the listener's alone, with neither.
#[test]
fn every_address_problem_of_an_api_instance_is_reported_at_its_place() {
    let scratch = Scratch::new();
    let file = scratch.write(
        "a.yaml",
        "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nmetadata: {name: a}\n\
         spec:\n  address: http://0.0.0.0:8080/a/../b\n  services:\n    up:\n      \
         address: http://127.0.0.1:99999\n  policies:\n    - policyRef: {name: cors-flex}\n      \
         config: {publicResource: true}\n",
    );
    let file = file.to_str().unwrap();
    for command in [&["check", file][..], &["serve", "--config", file]] {
        let (code, _, stderr) = run(command);
        assert_eq!(code, 1, "{command:?}:\n{stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|line| line.contains("error: ")).collect();
        let expected = [
            format!(
                "{file}:5:12: error: spec.address: cannot listen on \"http://0.0.0.0:8080/a/../b\": \
                 a base path needs a Flex Local Mode folder"
            ),
            format!(
                "{file}:8:16: error: spec.services.up.address: invalid upstream URL \
                 \"http://127.0.0.1:99999\": the port 99999 is past 65535"
            ),
            format!("error: {file} has 2 errors and was not loaded"),
        ];
        assert_eq!(errors.len(), expected.len(), "{command:?}:\n{stderr}");
        for (line, expected) in errors.iter().zip(&expected) {
            assert!(line.starts_with(expected.as_str()), "{expected:?} in:\n{stderr}");
        }
    }
}

/// `check FILE` of an `ApiInstance` whose listener is https passes it (the certificate is a
/// flag of `serve`, which `check` cannot see) and says what `serve` will need; `serve` without
/// the flags refuses it saying the same, at the listener's place in the file, as it refuses the
/// file's other listener problems (it said neither line nor column).
#[test]
fn check_says_what_serve_needs_for_an_https_listener() {
    let scratch = Scratch::new();
    let file = scratch.write(
        "api.yaml",
        "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nmetadata: {name: a}\n\
         spec:\n  address: https://127.0.0.1:0\n  services:\n    s: {address: \"http://127.0.0.1:1\"}\n  \
         policies:\n    - policyRef: {name: cors-flex}\n      config: {publicResource: true}\n",
    );
    let file = file.to_str().unwrap();
    let (code, _, stderr) = run(&["check", file]);
    assert_eq!(code, 0, "{stderr}");
    let note = format!(
        "note: {file}: spec.address https://127.0.0.1:0 is https: serve it with --tls-cert FILE \
         and --tls-key FILE"
    );
    assert!(stderr.contains(&note), "{note:?} in:\n{stderr}");
    let (code, _, stderr) = run(&["serve", "--config", file]);
    assert_eq!(code, 1, "{stderr}");
    let error = format!(
        "{file}:5:12: error: spec.address: cannot listen on \"https://127.0.0.1:0\" without a \
         certificate: pass --tls-cert FILE and --tls-key FILE"
    );
    assert!(stderr.lines().any(|line| line.starts_with(&error)), "{error:?} in:\n{stderr}");
    let summary = format!("error: {file} has 1 error and was not loaded");
    assert!(stderr.lines().any(|line| line == summary), "{summary:?} in:\n{stderr}");
    let (_, _, stderr) = run(&["check", &path("strict.yaml")]);
    assert!(!stderr.contains("note:"), "no note for a file without a listener:\n{stderr}");

    // The same file as a Local Mode folder: `serve --config-dir` needs the same flags.
    let folder = std::path::Path::new(file).parent().unwrap().to_str().unwrap();
    let (code, _, stderr) = run(&["check", folder]);
    assert_eq!(code, 0, "{stderr}");
    let note = format!(
        "note: {folder}: the listener https://127.0.0.1:0 is https: serve it with --tls-cert FILE"
    );
    assert!(stderr.contains(&note), "{note:?} in:\n{stderr}");
}

/// An upstream that refuses connections is named in a warning at start: the gateway starts
/// (the upstream may come up later), but the operator learns it then, not at the first 502.
/// The warning points at `/readyz` only when there is one (`--admin-listen`); it pointed at it
/// without.
#[rstest]
#[case::without_an_admin_listener(&[], "until it accepts connections\n")]
#[case::with_an_admin_listener(
    &["--admin-listen", "127.0.0.1:0"],
    "until it accepts connections (/readyz says 503 meanwhile)\n"
)]
fn serve_warns_at_start_of_an_upstream_that_refuses_connections(
    #[case] admin: &[&str],
    #[case] ending: &str,
) {
    let port = common::closed_port();
    let upstream = format!("http://127.0.0.1:{port}");
    let policy = path("strict.yaml");
    let args = ["serve", "--config", &policy, "--listen", "127.0.0.1:0", "--upstream", &upstream];
    let gateway = Gateway::start(&[&args[..], admin].concat());
    let warning = format!("upstream 127.0.0.1:{port} unreachable: ");
    gateway.wait_for_log(&warning);
    let said = gateway.stderr();
    let line = said.lines().find(|line| line.contains(&warning)).unwrap();
    assert!(format!("{line}\n").ends_with(ending), "{ending:?} ends {line:?}");
    assert!(line.contains("requests to it get 502 until it accepts connections"), "{said}");
    assert!(line.contains("WARN"), "{said}");
}

/// A port another process holds: one line saying so, and what to do, exit 1.
#[test]
fn serve_says_what_to_do_when_its_port_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let (code, stdout, stderr) = run(&[
        "serve",
        "--config",
        &path("strict.yaml"),
        "--upstream",
        "http://127.0.0.1:1",
        "--listen",
        &address,
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let (start, end) = (
        format!("error: cannot listen on {address}: "),
        "; another process listens there (`ss -ltnp` names it): stop it, or choose another port",
    );
    let said = stderr.lines().filter(|l| l.starts_with(&start) && l.ends_with(end)).count();
    assert_eq!(said, 1, "{start:?} ... {end:?} in:\n{stderr}");
}

/// A flag of `serve --help` or of docs/operations.md's "Flags": its long name, the heading it is
/// under, and its default (`--help`'s `[default: ...]`; the guide's default column).
#[derive(Debug)]
struct Flag {
    name: String,
    heading: String,
    default: String,
}

/// Every long flag `serve --help` lists, under its heading (`Options` is the guide's
/// `Configuration`), with its `[default: ...]` when it has one; and the long name of each short
/// flag.
fn help_flags() -> (Vec<Flag>, Vec<(String, String)>) {
    let (code, help, stderr) = run(&["serve", "--help"]);
    assert_eq!(code, 0, "{stderr}");
    let (mut flags, mut shorts) = (Vec::<Flag>::new(), Vec::new());
    let mut heading = String::new();
    for line in help.lines() {
        if let Some(name) = line.strip_suffix(':').filter(|_| !line.starts_with(' ')) {
            heading = if name == "Options" { "Configuration".to_owned() } else { name.to_owned() };
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let long = match words.as_slice() {
            [short, long, ..]
                if short.len() == 3 && short.starts_with('-') && long.starts_with("--") =>
            {
                shorts.push((short[..2].to_owned(), long.trim_end_matches("...").to_owned()));
                Some(*long)
            }
            [long, ..] if long.starts_with("--") && line.starts_with("      --") => Some(*long),
            _ => None,
        };
        if let Some(long) = long {
            let name = long.trim_end_matches("...").to_owned();
            flags.push(Flag { name, heading: heading.clone(), default: String::new() });
        } else if let (Some(flag), Some((_, default))) =
            (flags.last_mut(), line.split_once("[default: "))
        {
            default.split(']').next().unwrap_or_default().clone_into(&mut flag.default);
        }
    }
    flags.retain(|flag| !matches!(flag.name.as_str(), "--help" | "--version"));
    (flags, shorts)
}

/// Every flag named in the first column of a table row of docs/operations.md's "Flags", under
/// its `###` heading, with the row's default column.
fn documented_flags(shorts: &[(String, String)]) -> Vec<Flag> {
    let guide = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations.md"),
    )
    .unwrap();
    let section = guide.split("\n## Flags\n").nth(1).unwrap().split("\n## ").next().unwrap();
    let mut flags = Vec::new();
    let mut heading = String::new();
    for line in section.lines() {
        if let Some(name) = line.strip_prefix("### ") {
            name.trim().clone_into(&mut heading);
        }
        let cells: Vec<&str> = line.split(" | ").collect();
        let [first, default, ..] = cells.as_slice() else { continue };
        let tokens = first.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'));
        let flag = |token: &&str| {
            let name = token.trim_start_matches('-');
            matches!(token.len() - name.len(), 1 | 2) && name.starts_with(char::is_alphabetic)
        };
        for token in tokens.filter(flag) {
            let name = if token.starts_with("--") {
                token.to_owned()
            } else {
                let short = token.get(..2).unwrap_or(token);
                let long = shorts.iter().find(|(s, _)| s == short);
                long.map_or_else(|| token.to_owned(), |(_, long)| long.clone())
            };
            if !flags.iter().any(|f: &Flag| f.name == name) {
                let default = default.replace('`', "");
                flags.push(Flag { name, heading: heading.clone(), default });
            }
        }
    }
    flags
}

/// The ways the guide may write `--help`'s default: `10s` as `10 s`, `5m` as `5 min`,
/// `10485760` as `10 MiB`, `1000` as `1 000`; a default in words up to its first `;` or `:`
/// (`none: every peer's are replaced` as `none`).
fn written_forms(default: &str) -> Vec<String> {
    let mut forms = vec![default.to_owned()];
    forms.extend(default.split([';', ':']).next().map(str::to_owned));
    if let Some(seconds) = default.strip_suffix('s').filter(|n| n.parse::<u64>().is_ok()) {
        forms.push(format!("{seconds} s"));
    }
    if let Some(minutes) = default.strip_suffix('m').filter(|n| n.parse::<u64>().is_ok()) {
        forms.push(format!("{minutes} min"));
    }
    if let Ok(number) = default.parse::<u64>() {
        for (unit, size) in [("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if number >= size && number % size == 0 {
                forms.push(format!("{} {unit}", number / size));
            }
        }
        if number >= 1000 {
            forms.push(format!("{} {:03}", number / 1000, number % 1000));
        }
    }
    forms
}

/// `serve --help` and docs/operations.md's "Flags" agree: every flag is in both, under the same
/// heading, and the guide's default column says `--help`'s default.
#[test]
fn serve_help_and_the_operators_guide_list_the_same_flags_and_defaults() {
    let (help, shorts) = help_flags();
    let documented = documented_flags(&shorts);
    assert!(help.len() > 40 && !shorts.is_empty(), "{help:?}");
    let mut disagreements = Vec::new();
    for flag in &help {
        let Some(row) = documented.iter().find(|row| row.name == flag.name) else {
            disagreements.push(format!("{} is not in the guide's Flags tables", flag.name));
            continue;
        };
        if row.heading != flag.heading {
            disagreements.push(format!(
                "{} is under {:?} in --help, {:?} in the guide",
                flag.name, flag.heading, row.heading
            ));
        }
        let forms = written_forms(&flag.default);
        if !flag.default.is_empty() && !forms.iter().any(|form| row.default.contains(form.as_str()))
        {
            disagreements.push(format!(
                "{}: --help's default {:?}, the guide's {:?}",
                flag.name, flag.default, row.default
            ));
        }
    }
    for row in &documented {
        if !help.iter().any(|flag| flag.name == row.name) {
            disagreements.push(format!("the guide's {} is not in --help", row.name));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
