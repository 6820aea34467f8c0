//! `chaos-upstream` counts the connections the gateway holds open to it, which `cargo xtask soak
//! --chaos` checks against `--upstream-max-connections`.

mod common;

use std::io::Write as _;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;

/// Sends `signal` (`STOP`, `CONT`) to `server`.
fn signal(server: &Server, signal: &str) {
    let pid = server.child.id().to_string();
    let status = Command::new("kill").args([&format!("-{signal}"), &pid]).status();
    assert!(status.is_ok_and(|status| status.success()), "kill -{signal} {pid}");
}

/// The `open`, `max` and `accepted` counts `chaos-upstream` wrote in `stats`.
fn read_counts(stats: &std::path::Path) -> Option<(u64, u64, u64)> {
    let text = std::fs::read_to_string(stats).ok()?;
    let value = |name: &str| {
        text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    };
    Some((value("open")?, value("max")?, value("accepted")?))
}

/// The `open` and `max` counts in `stats` once `accepted` reached `accepted` (rewritten every
/// 50 ms; waited for up to 10 s), and one rewrite later, so that the last one's count is in.
fn counts_once_accepted(stats: &std::path::Path, accepted: u64) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while read_counts(stats).is_none_or(|(_, _, seen)| seen < accepted) {
        assert!(Instant::now() < deadline, "accepted {accepted} never written");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let (open, max, _) = read_counts(stats).expect("the counts, once written");
    (open, max)
}

/// A connection the gateway opened and closed while it waited in the listen queue (a request
/// whose client left as the gateway connected) was counted open from its late accept to its
/// first read, one more than the gateway had open: a chaos soak failed on 5 at a limit of 4.
#[test]
fn a_connection_closed_in_the_listen_queue_is_never_counted_open() {
    let stats = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("chaos-upstream-{}.stats", std::process::id()));
    let upstream = Server::start(
        env!("CARGO_BIN_EXE_chaos-upstream"),
        &["127.0.0.1:0", stats.to_str().expect("a UTF-8 path")],
    );
    // Stopped, it takes nothing from its listen queue: the kernel completes the connections.
    signal(&upstream, "STOP");
    for request in ["", "GET /chaos/normal HTTP/1.1\r\nHost: upstream\r\n\r\n", ""] {
        let mut closed = TcpStream::connect(&upstream.addr).expect("connects");
        closed.write_all(request.as_bytes()).expect("sends");
        drop(closed);
    }
    let held = TcpStream::connect(&upstream.addr).expect("connects");
    signal(&upstream, "CONT");
    let (open, max) = counts_once_accepted(&stats, 4);
    assert_eq!((open, max), (1, 1), "only the connection still held is open, ever");
    drop(held);
    let _ = std::fs::remove_file(&stats);
}
