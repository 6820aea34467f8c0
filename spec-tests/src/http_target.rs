//! The HTTP target: sends each request to a gateway URL over HTTP/1.1.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::check::Observed;
use crate::error::TargetError;
use crate::target::{OutgoingRequest, Target};
use crate::upstream;

/// How long one exchange may take before the target reports an error.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where the runner learns whether a request reached the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamLog {
    /// The response carries the upstream's [`upstream::STAMP`] header (the default: it works
    /// whenever the gateway passes upstream headers through).
    Stamp,
    /// Ask the upstream itself at this base URL (`http://HOST:PORT`) whether it saw the marker.
    Url(String),
    /// Read the JSON-lines file written by `cors-conformance upstream --log FILE`.
    File(PathBuf),
}

impl UpstreamLog {
    /// `http://…` is a URL to ask, anything else a log file path.
    #[must_use]
    pub fn parse(value: &str) -> UpstreamLog {
        if value.starts_with("http://") {
            UpstreamLog::Url(value.trim_end_matches('/').to_owned())
        } else {
            UpstreamLog::File(PathBuf::from(value))
        }
    }
}

/// A gateway reached over HTTP.
#[derive(Debug)]
pub struct HttpTarget {
    name: String,
    authority: String,
    base_path: String,
    log: UpstreamLog,
    runtime: tokio::runtime::Runtime,
}

impl HttpTarget {
    /// A target for `url` (`http://HOST:PORT[/PREFIX]`); case paths are appended to the prefix.
    ///
    /// # Errors
    ///
    /// The URL is not an `http://` URL with an authority, or the runtime cannot start.
    pub fn new(url: &str, log: UpstreamLog) -> Result<HttpTarget, TargetError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| TargetError::new(format!("invalid target URL {url:?}: {e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(TargetError::new(format!(
                "invalid target URL {url:?}: only http:// is supported (put a TLS terminator in front for https)"
            )));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| TargetError::new(format!("invalid target URL {url:?}: no host")))?
            .to_string();
        let base_path = uri.path().trim_end_matches('/').to_owned();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TargetError::new(format!("cannot start the runtime: {e}")))?;
        Ok(HttpTarget { name: "http".to_owned(), authority, base_path, log, runtime })
    }

    /// Renames the target (the name `known-failures.toml` entries match).
    #[must_use]
    pub fn with_name(mut self, name: &str) -> HttpTarget {
        name.clone_into(&mut self.name);
        self
    }

    /// The `HOST:PORT` requests go to.
    #[must_use]
    pub fn authority(&self) -> &str {
        &self.authority
    }
}

impl Target for HttpTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, _profile: &str, request: &OutgoingRequest) -> Result<Observed, TargetError> {
        let path = format!("{}{}", self.base_path, request.path);
        let mut observed = self.runtime.block_on(exchange(&self.authority, &path, request))?;
        observed.forwarded = match &self.log {
            UpstreamLog::Stamp => observed.values(upstream::STAMP).next().is_some(),
            UpstreamLog::Url(base) => {
                let (host, prefix) = split_base(base)?;
                let seen_path = format!("{prefix}{}{}", upstream::SEEN_PATH, request.marker);
                let probe = OutgoingRequest::new("GET", &seen_path, Vec::new(), "probe");
                let answer = self.runtime.block_on(exchange_body(&host, &seen_path, &probe))?;
                !answer.contains("\"seen\":0")
            }
            UpstreamLog::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    TargetError::new(format!("cannot read upstream log {}: {e}", path.display()))
                })?;
                let needle = format!("\"marker\":\"{}\"", request.marker);
                text.lines().any(|line| line.contains(&needle))
            }
        };
        Ok(observed)
    }
}

fn split_base(base: &str) -> Result<(String, String), TargetError> {
    let uri: Uri = base
        .parse()
        .map_err(|e| TargetError::new(format!("invalid upstream URL {base:?}: {e}")))?;
    let host = uri
        .authority()
        .ok_or_else(|| TargetError::new(format!("invalid upstream URL {base:?}: no host")))?
        .to_string();
    Ok((host, uri.path().trim_end_matches('/').to_owned()))
}

async fn exchange_body(
    authority: &str,
    path: &str,
    request: &OutgoingRequest,
) -> Result<String, TargetError> {
    let (_, body) = round_trip(authority, path, request).await?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

async fn exchange(
    authority: &str,
    path: &str,
    request: &OutgoingRequest,
) -> Result<Observed, TargetError> {
    let (parts, body) = round_trip(authority, path, request).await?;
    Ok(Observed {
        status: parts.status.as_u16(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect(),
        body_len: body.len(),
        forwarded: false,
    })
}

async fn round_trip(
    authority: &str,
    path: &str,
    request: &OutgoingRequest,
) -> Result<(http::response::Parts, Bytes), TargetError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        TargetError::new(format!("{} {path} to {authority}: {what}: {e}", request.method))
    };
    let method =
        Method::from_bytes(request.method.as_bytes()).map_err(|e| fail("invalid method", &e))?;
    let mut builder = Request::builder().method(method).uri(path);
    if request.host().is_none() {
        builder = builder.header(http::header::HOST, authority);
    }
    for (name, value) in &request.headers {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| fail("invalid header name", &e))?;
        let value = HeaderValue::from_bytes(value.as_bytes())
            .map_err(|e| fail("invalid header value", &e))?;
        builder = builder.header(name, value);
    }
    let outgoing = builder.body(Empty::<Bytes>::new()).map_err(|e| fail("invalid request", &e))?;
    let work = async {
        let stream = TcpStream::connect(authority).await.map_err(|e| fail("cannot connect", &e))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| fail("handshake failed", &e))?;
        let driver = tokio::spawn(connection);
        let response =
            sender.send_request(outgoing).await.map_err(|e| fail("request failed", &e))?;
        let (parts, body) = response.into_parts();
        let body =
            body.collect().await.map_err(|e| fail("reading the body failed", &e))?.to_bytes();
        driver.abort();
        Ok((parts, body))
    };
    tokio::time::timeout(TIMEOUT, work)
        .await
        .map_err(|_| fail("timed out", &format_args!("no answer within {} s", TIMEOUT.as_secs())))?
}
