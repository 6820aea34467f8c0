//! Instructions per request of a server under load, counted with callgrind: a figure that the
//! machine's load does not move, unlike requests per second or CPU time. The Envoys and the load
//! test's proxies (`--load --instructions`) are counted alike.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use cors_devtools::find_program;

use super::load::wrk;

/// Seconds of each measured wrk run under callgrind (one connection).
pub(super) const CALLGRIND_SECS: u32 = 4;

/// The most warm-up rounds of 2 s before counting under callgrind gives up.
const WARM_UP_ROUNDS: u32 = 10;

/// valgrind, found on `PATH`.
pub(super) fn valgrind() -> Result<PathBuf, String> {
    find_program(None, &["valgrind"]).map_err(|e| e.to_string())
}

/// `server` run under callgrind (`valgrind`), instrumented from its first request on (its
/// start-up is not counted), with valgrind's `extra` options; nothing is written to disk.
pub(super) fn under_callgrind(valgrind: &Path, server: &Command, extra: &[&str]) -> Command {
    let mut command = Command::new(valgrind);
    command
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null", "--instr-atstart=no"])
        .args(extra)
        .arg(server.get_program())
        .args(server.get_args());
    command
}

/// The instructions per request of `name`, a server started by [`under_callgrind`] as process
/// `pid` and serving on `addr`, on each of `scripts` (scenario, wrk script), by
/// `load-<scenario>/<name>`.
///
/// Per scenario: wrk with one connection for 2 s (repeated until a round completes requests:
/// the first requests pay for start-up work, which on a busy machine can take a whole round,
/// such as V8 compiling a module), the counters zeroed, then [`CALLGRIND_SECS`] measured; the
/// instructions of all the server's threads, divided by the requests wrk completed.
pub(super) fn count_requests(
    name: &str,
    pid: u32,
    addr: SocketAddr,
    scripts: &[(&'static str, PathBuf)],
) -> Result<Vec<(String, u64)>, String> {
    let control = find_program(None, &["callgrind_control"]).map_err(|e| e.to_string())?;
    let pid = pid.to_string();
    let callgrind = |args: &[&str]| -> Result<String, String> {
        let output = Command::new(&control)
            .args(args)
            .arg(&pid)
            .output()
            .map_err(|e| format!("cannot run callgrind_control: {e}"))?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    callgrind(&["--instr=on"])?;
    let mut counts = Vec::new();
    for (scenario, script) in scripts {
        warm_up(script, addr)?;
        callgrind(&["--zero"])?;
        let requests = one_connection(script, addr, CALLGRIND_SECS)?;
        let total = thread_totals(&callgrind(&["-e", "Ir"])?)
            .ok_or_else(|| format!("no instruction count from callgrind_control for {name}"))?;
        let per_request = (total + requests / 2) / requests.max(1);
        eprintln!(
            "instructions {name}/{scenario}: {per_request} per request ({requests} requests)"
        );
        counts.push((format!("load-{scenario}/{name}"), per_request));
    }
    Ok(counts)
}

/// Warm-up rounds of 2 s until one completes requests (at most [`WARM_UP_ROUNDS`]).
fn warm_up(script: &Path, addr: SocketAddr) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..WARM_UP_ROUNDS {
        match one_connection(script, addr, 2) {
            Ok(_) => return Ok(()),
            Err(why) => last = why,
        }
    }
    Err(format!("{last} in each of {WARM_UP_ROUNDS} warm-up rounds"))
}

/// wrk with one connection for `secs` seconds: the requests it completed (at least one).
fn one_connection(script: &Path, addr: SocketAddr, secs: u32) -> Result<u64, String> {
    let result = wrk(script, addr, secs, 1)?;
    if result.requests == 0 || result.non_2xx > 0 {
        return Err(format!(
            "wrk under callgrind: {} requests, {} non-2xx",
            result.requests, result.non_2xx
        ));
    }
    Ok(result.requests)
}

/// The sum of the per-thread totals `callgrind_control -e Ir` prints (`   Th 7  46,291,052`).
fn thread_totals(text: &str) -> Option<u64> {
    let counts = text.lines().filter_map(|line| {
        let rest = line.trim().strip_prefix("Th ")?;
        let (_, count) = rest.split_once(char::is_whitespace)?;
        count.trim().replace(',', "").parse::<u64>().ok()
    });
    counts.reduce(|a, b| a + b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_totals_sums_every_thread() {
        let text =
            "PID 1: envoy\n\n  Totals:        Ir \n   Th 1     483,728 \n   Th 7  46,291,052 \n";
        assert_eq!(thread_totals(text), Some(46_774_780));
        assert_eq!(thread_totals("no such process"), None);
    }

    #[test]
    fn under_callgrind_runs_the_server_with_its_arguments_after_valgrind_s() {
        let mut server = Command::new("cors-gateway");
        server.args(["serve", "--listen", "127.0.0.1:1"]);
        let command =
            under_callgrind(Path::new("/bin/valgrind"), &server, &["--smc-check=all-non-file"]);
        assert_eq!(command.get_program(), "/bin/valgrind");
        let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            args,
            [
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                "--instr-atstart=no",
                "--smc-check=all-non-file",
                "cors-gateway",
                "serve",
                "--listen",
                "127.0.0.1:1",
            ]
        );
    }
}
