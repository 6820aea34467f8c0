//! A minimal HTTP/1.1 client for the loopback servers the commands start: readiness and
//! answer checks before a benchmark, Envoy's admin interface. One request per connection
//! (`Connection: close`), the whole answer read until the server closes.
//!
//! Hand-written rather than a client crate: xtask stays free of an async runtime and of
//! hyper's build time, and these requests are three lines of text.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long connecting, and then each read, may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// An answer: the status code, the head (status line and fields) and the body, de-chunked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: String,
}

/// Sends `METHOD PATH HTTP/1.1` with `Host: host`, the header lines `fields` (each ending in
/// `\r\n`) and `Connection: close`, and reads the answer.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: &str,
    fields: &str,
) -> Result<Response, String> {
    let error = |e: std::io::Error| format!("{method} http://{addr}{path}: {e}");
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(error)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(error)?;
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{fields}Connection: close\r\n\r\n")
        .map_err(error)?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).map_err(error)?;
    parse(&String::from_utf8_lossy(&bytes))
        .ok_or_else(|| format!("{method} http://{addr}{path}: not an HTTP/1.1 answer"))
}

fn parse(response: &str) -> Option<Response> {
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let chunked = head.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let body = if chunked { dechunk(body)? } else { body.to_owned() };
    Some(Response { status, head: head.to_owned(), body })
}

/// The body of a chunked message (RFC 9112 section 7.1), extensions and trailers ignored.
fn dechunk(mut chunked: &str) -> Option<String> {
    let mut body = String::new();
    loop {
        let (size_line, rest) = chunked.split_once("\r\n")?;
        let size_text = size_line.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.push_str(rest.get(..size)?);
        chunked = rest.get(size..)?.strip_prefix("\r\n")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunk_joins_the_chunks() {
        assert_eq!(
            dechunk("5\r\nLIVE\n\r\n3;x=y\r\nabc\r\n0\r\n\r\n").as_deref(),
            Some("LIVE\nabc")
        );
        assert_eq!(dechunk("5\r\nLI"), None);
    }

    #[test]
    fn a_chunked_answer_is_read_whole() {
        let answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nLIVE\r\n0\r\n\r\n";
        let response = parse(answer).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.head, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked");
        assert_eq!(response.body, "LIVE");
        assert_eq!(parse("garbage"), None);
    }

    #[test]
    fn a_request_reaches_a_loopback_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            // The whole head, so that closing leaves nothing unread (which would reset).
            let mut request = Vec::new();
            while !request.ends_with(b"\r\n\r\n") {
                let mut byte = [0];
                stream.read_exact(&mut byte).unwrap();
                request.push(byte[0]);
            }
            stream.write_all(b"HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n").unwrap();
            String::from_utf8_lossy(&request).into_owned()
        });
        let response = request(addr, "OPTIONS", "/p", "h.test", "Origin: o\r\n").unwrap();
        assert_eq!(response.status, 204);
        assert!(response.head.contains("X-A: b"));
        let sent = server.join().unwrap();
        assert_eq!(
            sent,
            "OPTIONS /p HTTP/1.1\r\nHost: h.test\r\nOrigin: o\r\nConnection: close\r\n\r\n"
        );
    }
}
