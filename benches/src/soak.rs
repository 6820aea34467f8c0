//! What the clients of `cargo xtask soak` (`soak-traffic`) and `cargo xtask soak --chaos`
//! (`chaos-traffic`) share: the requests they send a gateway applying
//! `examples/policies/strict.yaml`, how its answers are checked, and the tally of failures.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::Empty;

/// The origin `strict.yaml` grants, with credentials.
pub const APP: &str = "https://app.example.com";
/// An origin it does not.
pub const EVIL: &str = "https://evil.example";

/// The three kinds of request every checked client cycles through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[expect(
    clippy::exhaustive_enums,
    reason = "the soak's binaries match on every variant: a new one must be handled there"
)]
pub enum Kind {
    /// An actual request from [`APP`]: forwarded, and the answer carries its grant (A1).
    Allowed,
    /// An actual request from [`EVIL`]: answered `200` by the gateway, empty and without any
    /// `Access-Control-*` field, never forwarded (A2).
    Refused,
    /// A preflight from [`APP`] for `PUT` with `content-type`: answered by the gateway.
    Preflight,
}

impl Kind {
    /// Every kind, in the order the clients cycle through them.
    pub const ALL: [Self; 3] = [Self::Allowed, Self::Refused, Self::Preflight];

    /// The request of this kind for `http://{authority}{target}`, with `method` when it is an
    /// actual request.
    ///
    /// # Errors
    /// When `authority` or `target` is not valid in a URI.
    pub fn request(
        self,
        authority: &str,
        target: &str,
        method: Method,
    ) -> Result<Request<Empty<Bytes>>, http::Error> {
        let builder = Request::builder().uri(format!("http://{authority}{target}"));
        let builder = match self {
            Self::Allowed => builder.method(method).header("origin", APP),
            Self::Refused => builder.method(method).header("origin", EVIL),
            Self::Preflight => builder
                .method(Method::OPTIONS)
                .header("origin", APP)
                .header("access-control-request-method", "PUT")
                .header("access-control-request-headers", "content-type"),
        };
        builder.body(Empty::new())
    }

    /// The same request as raw HTTP/1.1, with `extra` header lines (each ending in CRLF).
    #[must_use]
    pub fn raw_request(
        self,
        authority: &str,
        target: &str,
        method: &Method,
        extra: &str,
    ) -> String {
        let (method, fields) = match self {
            Self::Allowed => (method.as_str(), format!("origin: {APP}\r\n")),
            Self::Refused => (method.as_str(), format!("origin: {EVIL}\r\n")),
            Self::Preflight => (
                "OPTIONS",
                format!(
                    "origin: {APP}\r\naccess-control-request-method: PUT\r\n\
                     access-control-request-headers: content-type\r\n"
                ),
            ),
        };
        format!("{method} {target} HTTP/1.1\r\nhost: {authority}\r\n{fields}{extra}\r\n")
    }

    /// Whether `headers` carry exactly the CORS fields strict.yaml answers this kind of request
    /// with (the status is the caller's to check: the gateway's own errors carry them too).
    ///
    /// # Errors
    /// What is wrong, with the kind and the fields.
    pub fn check_fields(self, headers: &HeaderMap) -> Result<(), String> {
        let field = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let granted = field("access-control-allow-origin");
        let fine = match self {
            Self::Allowed => {
                granted == Some(APP) && field("access-control-allow-credentials") == Some("true")
            }
            Self::Refused => !headers.keys().any(|n| n.as_str().starts_with("access-control-")),
            Self::Preflight => {
                granted == Some(APP)
                    && field("access-control-allow-methods") == Some("GET, POST, PUT")
            }
        };
        if fine { Ok(()) } else { Err(format!("{self:?}: CORS fields wrong: {headers:?}")) }
    }

    /// Whether `status` and `headers` are what strict.yaml answers to this kind of request when
    /// the upstream answers `200`.
    ///
    /// # Errors
    /// What is wrong, with the kind, the status and the fields.
    pub fn check(self, status: StatusCode, headers: &HeaderMap) -> Result<(), String> {
        if status != StatusCode::OK {
            return Err(format!("{self:?}: {status} {headers:?}"));
        }
        self.check_fields(headers)
    }
}

/// A response head read off the wire: its status, fields and length in bytes.
#[derive(Debug)]
pub struct RawHead {
    /// The status code.
    pub status: StatusCode,
    /// The header fields.
    pub headers: HeaderMap,
    /// How many bytes of the input the head took.
    pub length: usize,
}

/// The response head at the start of `bytes`: `Ok(None)` while incomplete.
///
/// # Errors
/// When the bytes are not an HTTP/1.x response head.
pub fn parse_head(bytes: &[u8]) -> Result<Option<RawHead>, String> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut fields);
    let length = match response.parse(bytes) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("not a response head ({e}): {:?}", preview(bytes))),
    };
    let status = response
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| format!("no status: {:?}", preview(bytes)))?;
    let mut headers = HeaderMap::new();
    for field in response.headers.iter() {
        let name = http::HeaderName::from_bytes(field.name.as_bytes());
        let value = http::HeaderValue::from_bytes(field.value);
        if let (Ok(name), Ok(value)) = (name, value) {
            headers.append(name, value);
        }
    }
    Ok(Some(RawHead { status, headers, length }))
}

/// The first bytes of `bytes`, for an error message.
fn preview(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned()
}

/// The failures a run saw: their count and the first ten.
#[derive(Default)]
pub struct Failures {
    count: AtomicU64,
    first: Mutex<Vec<String>>,
}

impl Failures {
    /// Counts `what`, and keeps it if it is among the first ten.
    pub fn fail(&self, what: String) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if first.len() < 10 {
            first.push(what);
        }
    }

    /// How many there were.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The first ten.
    #[must_use]
    pub fn first(&self) -> Vec<String> {
        self.first.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Ends a run's summary on `out` with the first failures, and ends the process with status
    /// 1 when there were any.
    ///
    /// # Errors
    /// When `out` cannot be written.
    pub fn end_run(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        for failure in self.first() {
            writeln!(out, "  failure: {failure}")?;
        }
        out.flush()?;
        if self.count() > 0 {
            std::process::exit(1);
        }
        Ok(())
    }
}

/// Runs the clients that `spawn` starts for `secs` on a runtime of two threads, then sets
/// `stop` and waits for every one of them to finish; returns how long that took.
///
/// # Errors
/// When the runtime cannot be built.
pub fn run_clients(
    secs: u64,
    stop: &Arc<AtomicBool>,
    spawn: impl FnOnce(&mut tokio::task::JoinSet<()>),
) -> std::io::Result<Duration> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let started = Instant::now();
    runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        spawn(&mut tasks);
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        while tasks.join_next().await.is_some() {}
    });
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_parsed_once_complete() {
        let bytes = b"HTTP/1.1 200 OK\r\nvary: origin\r\ncontent-length: 2\r\n\r\nok";
        assert!(parse_head(&bytes[..20]).unwrap().is_none());
        let head = parse_head(bytes).unwrap().unwrap();
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(head.headers["vary"], "origin");
        assert_eq!(&bytes[head.length..], b"ok");
        assert!(parse_head(b"nonsense\r\n\r\n").is_err());
    }
}
