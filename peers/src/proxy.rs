//! The forwarding half of the Rust peers: a tiny HTTP/1 client that sends a request to the
//! suite's echo upstream and reads the whole answer.
//!
//! Bodies are buffered (the suite's bodies are small), so both peers' services see complete
//! `Bytes` and no streaming type leaks into the CORS middleware under test.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::PeerError;

/// An upstream answer, buffered.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The header lines, in order.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// `502 Bad Gateway` saying why the upstream could not be reached.
    #[must_use]
    pub fn bad_gateway(why: &str) -> Answer {
        Answer {
            status: StatusCode::BAD_GATEWAY,
            headers: HeaderMap::new(),
            body: Bytes::from(format!("upstream error: {why}\n")),
        }
    }
}

/// The upstream every request is forwarded to.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Upstream {
    /// An upstream at `url` (`http://HOST:PORT`, no path).
    ///
    /// # Errors
    ///
    /// `url` is not an `http://` URL with an authority.
    pub fn new(url: &str) -> Result<Upstream, PeerError> {
        let uri: Uri = url.parse().map_err(|_| PeerError::upstream(url, "not a URL"))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(PeerError::upstream(url, "expected http://HOST:PORT"));
        }
        let base = url.trim_end_matches('/').to_owned();
        Ok(Upstream { client: Client::builder(TokioExecutor::new()).build_http(), base })
    }

    /// Forwards one request (the path with its query, the header lines as received) and
    /// buffers the answer. A transport error becomes a `502` answer.
    pub async fn forward(
        &self,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Answer {
        let uri = format!("{}{}", self.base, path_and_query);
        let mut request =
            match Request::builder().method(method).uri(uri.as_str()).body(Full::new(body)) {
                Ok(request) => request,
                Err(error) => return Answer::bad_gateway(&error.to_string()),
            };
        *request.headers_mut() = headers;
        let response = match self.client.request(request).await {
            Ok(response) => response,
            Err(error) => return Answer::bad_gateway(&error.to_string()),
        };
        let (parts, body) = response.into_parts();
        match body.collect().await {
            Ok(body) => {
                Answer { status: parts.status, headers: parts.headers, body: body.to_bytes() }
            }
            Err(error) => Answer::bad_gateway(&error.to_string()),
        }
    }
}
