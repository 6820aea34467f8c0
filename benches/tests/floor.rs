//! `bench-hyper-proxy`, the floor of the load test, does the same work in each of its modes: it
//! forwards a GET to the upstream with nginx's four headers and answers a preflight with its six,
//! on every connection, whichever listener (`--per-core`) or worker accepted it.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use common::Server;

/// One request on a connection of its own (closed by the request); the answer, lower-cased.
fn exchange(addr: &str, method: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connects");
    let head = format!(
        "{method} / HTTP/1.1\r\nHost: api.example.com\r\nOrigin: https://app.example.com\r\n\
         Access-Control-Request-Method: PUT\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("sends");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("reads the answer");
    answer.to_ascii_lowercase()
}

#[test]
fn every_mode_of_the_floor_forwards_and_answers_preflights_on_every_connection() {
    let upstream = Server::start(env!("CARGO_BIN_EXE_bench-upstream"), &["127.0.0.1:0"]);
    for mode in [&[][..], &["--per-core"], &["--workers", "1"]] {
        let mut args = mode.to_vec();
        args.extend([upstream.addr.as_str(), "127.0.0.1:0"]);
        let floor = Server::start(env!("CARGO_BIN_EXE_bench-hyper-proxy"), &args);
        // Enough connections that the kernel hands some to each per-core listener.
        for _ in 0..16 {
            let forwarded = exchange(&floor.addr, "GET");
            assert!(forwarded.starts_with("http/1.1 200"), "{mode:?}: {forwarded}");
            assert!(forwarded.ends_with("\r\n\r\nok"), "{mode:?}: not the upstream's: {forwarded}");
            assert!(forwarded.contains("access-control-expose-headers: x-request-id\r\n"));
            let preflight = exchange(&floor.addr, "OPTIONS");
            assert!(preflight.starts_with("http/1.1 200"), "{mode:?}: {preflight}");
            assert!(preflight.contains("access-control-max-age: 600\r\n"), "{mode:?}: {preflight}");
        }
    }
}

#[test]
fn the_floor_refuses_a_bad_command_line() {
    let binary = env!("CARGO_BIN_EXE_bench-hyper-proxy");
    for args in [&[][..], &["--workers", "0", "127.0.0.1:1"], &["--workers"], &["a", "b", "c"]] {
        let status = Command::new(binary).args(args).stderr(Stdio::null()).status().unwrap();
        assert!(!status.success(), "{args:?}");
    }
}
