//! What the tests of this package's binaries share.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

/// A server of this package, killed when dropped, and the address it announced.
pub(crate) struct Server {
    /// The running binary.
    pub(crate) child: Child,
    /// `IP:PORT`, as announced.
    pub(crate) addr: String,
}

impl Server {
    /// Starts `binary` with `args` and reads the address it announces.
    pub(crate) fn start(binary: &str, args: &[&str]) -> Self {
        let mut child = Command::new(binary)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped");
        BufReader::new(stdout).read_line(&mut line).expect("an announced address");
        let addr = line.trim().strip_prefix("listening on http://").expect(&line).to_owned();
        Self { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
