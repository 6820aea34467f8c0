//! The gateway whose stderr is gone: a closed pipe (a log shipper that died, `serve ... 2>&1 |
//! head`) loses the log lines written to it, never the gateway (docs/operations.md, "Panics").
#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

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
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/policies/strict.yaml");
    let child = Command::new(env!("CARGO_BIN_EXE_cors-gateway"))
        .args(["serve", "--config", policy, "--listen", "127.0.0.1:0", "--workers", "1"])
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
