//! The load test's servers' listening convention.

use std::io::Write as _;
use std::net::SocketAddr;

use tokio::net::TcpListener;

/// Binds a TCP listener on `addr` (`HOST:PORT`, port 0 for any) and prints
/// `listening on http://ADDR` with the bound address, the line `cargo xtask` waits for before it
/// sends traffic to `bench-upstream` or `bench-hyper-proxy`.
///
/// # Errors
/// When `addr` cannot be bound, or standard output cannot be written.
pub async fn listen_announced(addr: &str) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    announce(listener.local_addr()?)?;
    Ok(listener)
}

/// Prints `listening on http://ADDR`, the line `cargo xtask` waits for, for a server that bound
/// `addr` by other means ([`listen_announced`] binds and prints).
///
/// # Errors
/// When standard output cannot be written.
pub fn announce(addr: SocketAddr) -> std::io::Result<()> {
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on http://{addr}")?;
    stdout.flush()
}
