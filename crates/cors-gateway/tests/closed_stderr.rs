//! The gateway whose stderr is gone: a closed pipe (a log shipper that died, `serve ... 2>&1 |
//! head`) loses the log lines written to it, never the gateway (docs/operations.md, "Panics"),
//! nor the exit code a command documents (docs/operations.md, "Signals and exit codes").
#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{GATEWAY, example_policy};
use rstest::rstest;

/// The gateway's process, killed when the test ends, passed or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One `GET /` from an allowed origin over `address`: its status line.
fn status_line(address: SocketAddr) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = "GET / HTTP/1.1\r\nHost: api.example.com\r\nOrigin: https://app.example.com\r\n\
                Connection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn a_closed_stderr_loses_the_log_lines_not_the_gateway() {
    let policy = example_policy("strict.yaml");
    let child = Command::new(GATEWAY)
        .args([
            "serve",
            "--config",
            policy.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
        ])
        // Nothing listens on port 1: each request is a 502 and an `upstream request failed`
        // warning, a log line written after the pipe closed.
        .args(["--upstream", "http://127.0.0.1:1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut gateway = Killed(child);
    drop(gateway.0.stderr.take());
    let mut banner = String::new();
    BufReader::new(gateway.0.stdout.take().unwrap()).read_line(&mut banner).unwrap();
    let address: SocketAddr = banner
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("no listener announced, the gateway said {banner:?}"))
        .parse()
        .unwrap();
    for _ in 0..2 {
        assert_eq!(status_line(address), "HTTP/1.1 502 Bad Gateway");
    }
    assert!(gateway.0.try_wait().unwrap().is_none(), "the gateway exited");
}

/// A pipe whose reader is gone before the gateway starts ([`cors_devtools::closed_pipe`]).
fn closed_pipe() -> Stdio {
    cors_devtools::closed_pipe().unwrap()
}

/// Finding F-EG: a command's own lines (diagnostics, `error:`, `ok:`) written to a closed stderr
/// are lost, and the command exits with its documented code, not 101 (`eprintln!`'s panic).
/// `{broken}` stands for the path of seed-broken.yaml, `{strict}` for strict.yaml's; with
/// `stdout_closed`, stdout is a closed pipe too.
#[rstest]
#[case::check_of_a_broken_file(&["check", "{broken}"], false, 1)]
#[case::check_of_a_valid_file(&["check", "{strict}"], false, 0)]
#[case::check_print_with_stdout_closed_too(&["check", "--print", "{strict}"], true, 0)]
#[case::explain_of_a_broken_file(&["explain", "{broken}", "--origin", "https://a.test"], false, 1)]
#[case::serve_with_a_certificate_that_is_not_there(
    &["serve", "--config", "{strict}", "--tls-cert", "/nonexistent", "--tls-key", "/nonexistent"],
    false,
    1
)]
#[case::serve_with_an_https_admin_listener(
    &["serve", "--config", "{strict}", "--listen", "127.0.0.1:0", "--upstream", "http://127.0.0.1:1",
      "--admin-listen", "https://127.0.0.1:0"],
    false,
    1
)]
// clap's own usage error already ignored a failed write; kept so the usage exit stays 2.
#[case::serve_with_an_unknown_flag(&["serve", "--config", "{strict}", "--no-such-flag"], false, 2)]
fn a_command_keeps_its_exit_code_with_stderr_closed(
    #[case] args: &[&str],
    #[case] stdout_closed: bool,
    #[case] code: i32,
) {
    let broken = example_policy("seed-broken.yaml");
    let strict = example_policy("strict.yaml");
    let args = args.iter().map(|arg| match *arg {
        "{broken}" => broken.to_str().unwrap(),
        "{strict}" => strict.to_str().unwrap(),
        arg => arg,
    });
    let stdout = if stdout_closed { closed_pipe() } else { Stdio::null() };
    let status = Command::new(GATEWAY)
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(closed_pipe())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(code), "{status}");
}
