//! The PROXY protocol of `serve --proxy-protocol`: the header an L4 load balancer (`HAProxy` in
//! TCP mode, AWS NLB, GCP's TCP proxy) sends first on each connection it opens to the gateway,
//! to name the client it accepted it from. Version 1 is a line of text, version 2 binary; both
//! are specified in `HAProxy`'s `proxy-protocol.txt`. The `ppp` crate parses them; this module
//! reads the header off the socket, exactly its bytes, and says what it means for the gateway
//! (finding F-AI in docs/robustness.md).

use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use std::{fmt, io};

use rustix::net::RecvFlags;
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::throttle::Throttle;

// The parser has no I/O and no dependency of the gateway's but `ppp`: the `proxy_protocol` fuzz
// target (`fuzz/fuzz_targets/proxy_protocol.rs`) includes its file as it is.
mod parse;

pub(crate) use parse::{Client, MAX_HEADER_BYTES, Parsed, parse};

/// Reads the header at the start of `stream`, and only its bytes: what follows (the request,
/// or the TLS `ClientHello`) stays in the socket for hyper or the TLS handshake. The caller
/// bounds the time it may take (the connection's deadline).
///
/// The bytes are peeked until they hold a whole header, which is then read: a version 1 header
/// says no length to read it by, and reading past it would mean replaying the rest in front of
/// the connection's every later read. Between two peeks the readiness is cleared and awaited
/// anew, so that a client that sends its header a byte at a time is woken once per byte rather
/// than spun on.
///
/// # Errors
///
/// The peer closes before a whole header, the bytes are not a header (see [`parse()`]), or a
/// read fails.
pub(crate) async fn read_header(stream: &TcpStream) -> io::Result<Client> {
    let mut seen = 0;
    loop {
        let ready = stream.ready(Interest::READABLE).await?;
        match stream.try_io(Interest::READABLE, || take_header(stream, &mut seen)) {
            Ok(client) => return Ok(client),
            // Readiness cleared: nothing new arrived. A peer that closed sends nothing more.
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                if ready.is_read_closed() {
                    return Err(closed_early());
                }
            }
            Err(error) => return Err(error),
        }
    }
}

/// Peeks at what `stream` holds; reads the header when it is whole. `WouldBlock` when more
/// bytes are needed and none came since the last peek, which held `seen` bytes.
fn take_header(stream: &TcpStream, seen: &mut usize) -> io::Result<Client> {
    let mut buffer = [0u8; MAX_HEADER_BYTES];
    let (peeked, _) = rustix::net::recv(stream, &mut buffer, RecvFlags::PEEK)?;
    if peeked == 0 {
        return Err(closed_early());
    }
    if peeked == *seen {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    *seen = peeked;
    match parse(&buffer[..peeked]) {
        Parsed::Header { length, client } => {
            // The header's bytes are in the socket's buffer: one read takes them all.
            let (read, _) = rustix::net::recv(stream, &mut buffer[..length], RecvFlags::empty())?;
            if read == length {
                Ok(client)
            } else {
                Err(io::Error::other("the PROXY protocol header could not be read whole"))
            }
        }
        // `parse` decides every header within the limit; this is for safety alone.
        Parsed::Incomplete if peeked == MAX_HEADER_BYTES => {
            Err(io::Error::new(io::ErrorKind::InvalidData, "a PROXY protocol header over 4 KiB"))
        }
        Parsed::Incomplete => Err(io::ErrorKind::WouldBlock.into()),
        Parsed::Invalid(reason) => Err(io::Error::new(io::ErrorKind::InvalidData, reason)),
    }
}

fn closed_early() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "closed before a whole PROXY protocol header")
}

/// The least time between two warnings of [`refused`].
const WARNING_INTERVAL: Duration = Duration::from_mins(1);

/// The refusals of the process, warned of by [`refused`].
static REFUSALS: Mutex<Throttle> = Mutex::new(Throttle::new(WARNING_INTERVAL));

/// Logs that the connection from `peer` was closed for its PROXY protocol header, for `reason`
/// (a peer outside `--trusted-proxies`, a header missing, malformed or over 4 KiB): at debug
/// level each, and as a warning at most once per [`WARNING_INTERVAL`], with the count of
/// refusals since the previous warning. A balancer left out of `--trusted-proxies`, or one that
/// sends no header, so shows at the default level, while a client that could write thousands
/// of such lines writes one a minute.
pub(crate) fn refused(peer: SocketAddr, reason: &dyn fmt::Display) {
    tracing::debug!(%peer, %reason, "closed a connection for its PROXY protocol header");
    let due = REFUSALS.lock().unwrap_or_else(PoisonError::into_inner).count(Instant::now());
    if let Some(refused) = due {
        tracing::warn!(
            refused,
            last_peer = %peer,
            last_reason = %reason,
            "closed {refused} connection(s) for their PROXY protocol header since the last such \
             line (at most one a minute; all counted in \
             cors_gateway_connections_closed_total{{reason=\"proxy_protocol\"}}); hint: the \
             load balancer must send a header (HAProxy send-proxy, nginx proxy_protocol on) \
             and its address be in --trusted-proxies"
        );
    }
}
