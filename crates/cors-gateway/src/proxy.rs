//! The reverse-proxy service: forwards a request to its upstream and streams both bodies, or,
//! for an HTTP/1.1 upgrade the upstream accepts, hands both connections to a tunnel.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, Parts, PathAndQuery, Scheme};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body as _;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use ipnet::IpNet;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use crate::body::{
    BodyError, BodyLimits, Held, RequestBody, Sending, SlotPool, Slots, UpstreamBody,
};
use crate::checks::{Refusal, TransferCodings, list_elements};
use crate::connection::Closed;
use crate::per_client::Slot;
use crate::pool::{Pooled, SendError, UpstreamClients};
use crate::server::Limits;
use crate::telemetry::{self, ConnectionGuard, Telemetry, UpstreamFailure};
use crate::tunnel;

/// The body of a proxied response: the upstream's, streamed, or a short local text (or nothing,
/// for a `101` whose connection became a tunnel).
pub(crate) type ProxyBody = Either<UpstreamBody, Full<Bytes>>;

/// Where `serve --upstream` sends requests: an `http://` or `https://` URL whose path, if any,
/// prefixes every forwarded path.
#[derive(Clone, Debug)]
pub(crate) struct Upstream {
    scheme: Scheme,
    authority: Authority,
    prefix: String,
    /// The URL as given, shared: each forwarded request's future names it for its logs.
    text: Arc<str>,
}

impl Upstream {
    /// Parses `--upstream`, or an `ApiInstance` file's service address, as the upstream `serve`
    /// forwards to: `http[s]://host[:port][/prefix]`. The rule of a Local Mode folder's service
    /// address: an `http://` or `https://` URL, without user information, query or fragment,
    /// which no forwarded request could use. A missing scheme is refused rather than taken for
    /// `http://`, saying what to write. The path prefix is the folder's reading of it, by the
    /// folder's own rule ([`cors_policy::Upstream::parse`]): a dot segment is refused (the
    /// upstream would resolve it, `http://up/api/../admin` reaching `/admin`), `\` is `/`, and
    /// what a request target cannot carry as written is escaped (finding F-DC).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let scheme = trimmed.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("http" | "https") => {}
            Some(_) => {
                return Err(format!(
                    "unsupported upstream URL \"{text}\": only http:// and https:// upstreams \
                     are supported"
                ));
            }
            None => {
                return Err(format!(
                    "invalid upstream URL \"{text}\": no scheme; write http://{trimmed} (or \
                     https://{trimmed} for TLS)"
                ));
            }
        }
        if trimmed.contains('#') {
            return Err(format!(
                "invalid upstream URL \"{text}\": a fragment is never sent; drop the # and what \
                 follows"
            ));
        }
        let uri: Uri = trimmed.parse().map_err(|e| {
            format!("invalid upstream URL \"{text}\": {e} (expected http://HOST:PORT)")
        })?;
        let scheme = match uri.scheme() {
            Some(scheme) if *scheme == Scheme::HTTP || *scheme == Scheme::HTTPS => scheme.clone(),
            _ => {
                return Err(format!(
                    "unsupported upstream URL \"{text}\": only http:// and https:// upstreams \
                     are supported"
                ));
            }
        };
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("invalid upstream URL \"{text}\": no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!(
                "invalid upstream URL \"{text}\": user information is not supported"
            ));
        }
        if uri.query().is_some() {
            return Err(format!("invalid upstream URL \"{text}\": a query is not supported"));
        }
        // The `http` crate reads a port past 65 535 as none, and the scheme's port was used:
        // `:99999` sent every request to port 80 (finding F-CQ). An empty port (`host:`) is the
        // scheme's, as URLs have it.
        let port = authority.as_str().get(authority.host().len() + 1..).unwrap_or_default();
        if !port.is_empty() && authority.port_u16().is_none() {
            return Err(format!(
                "invalid upstream URL \"{text}\": the port {port} is past 65535 (a port is 1 to \
                 65535; write http://HOST:PORT)"
            ));
        }
        let service = cors_policy::Upstream::parse("upstream", trimmed)
            .map_err(|message| format!("invalid upstream URL: {message}"))?;
        let prefix = service.path().to_owned();
        Ok(Self { scheme, authority, prefix, text: Arc::from(trimmed) })
    }

    /// The URL as given.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// `host:port` of the upstream, as a TCP connection reaches it (the scheme's port when the
    /// URL names none).
    pub(crate) fn connect_target(&self) -> String {
        let port = self.authority.port_u16().unwrap_or(if self.is_https() { 443 } else { 80 });
        format!("{}:{port}", self.authority.host())
    }

    /// Whether requests go to it over TLS.
    pub(crate) fn is_https(&self) -> bool {
        self.scheme == Scheme::HTTPS
    }

    /// The upstream URI of a request for `original`: its path and query below the prefix.
    fn uri_for(&self, original: &Uri) -> Result<Uri, http::Error> {
        let path = original.path_and_query().map_or("/", PathAndQuery::as_str);
        let path_and_query: PathAndQuery = match original.path_and_query() {
            // The request's own path, a reference count: it was checked when it was parsed.
            Some(path_and_query) if self.prefix.is_empty() || path == "*" => path_and_query.clone(),
            _ if self.prefix.is_empty() || path == "*" => PathAndQuery::from_static("/"),
            _ => PathAndQuery::try_from(format!("{}{path}", self.prefix))?,
        };
        // From its parts rather than with `Uri::builder`, whose every step moves the parts in a
        // `Result`: about 200 instructions more per forwarded request.
        let mut parts = Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        Ok(Uri::from_parts(parts)?)
    }
}

/// Settings shared by every connection.
#[derive(Debug)]
pub(crate) struct ProxySettings {
    /// Send the upstream's authority as `Host` instead of the client's.
    pub(crate) rewrite_host: bool,
    /// How long to wait for the upstream's response head.
    response_timeout: Duration,
    /// How long the upstream may send nothing of a response body the gateway waits for (zero:
    /// no limit; see [`ReadTimer`]).
    read_timeout: Duration,
    /// One slot per request in flight to the upstream (`--upstream-max-connections`); a tunnel
    /// keeps its slot until it closes.
    pool: Arc<SlotPool>,
    /// How long a request may wait for its slots before it is answered 503.
    queue_timeout: Duration,
    /// The `Via` entries this gateway appends.
    via: Via,
    /// The limits on request bodies.
    body_limits: BodyLimits,
    /// How long a tunnel may carry no byte before it is closed (zero: never).
    tunnel_idle_timeout: Duration,
    /// The size of each client connection's share of the pool.
    max_per_connection: usize,
    /// The peers whose forwarding fields are kept (`--trusted-proxies`).
    trusted_proxies: TrustedProxies,
}

impl ProxySettings {
    /// # Errors
    ///
    /// `via_pseudonym` is not a token (see [`parse_pseudonym`]).
    pub(crate) fn new(
        rewrite_host: bool,
        via_pseudonym: &str,
        trusted_proxies: TrustedProxies,
        limits: &Limits,
    ) -> Result<Self, String> {
        Ok(Self {
            rewrite_host,
            trusted_proxies,
            via: Via::new(via_pseudonym)?,
            body_limits: BodyLimits {
                max_bytes: limits.max_request_body,
                timeout: limits.body_read_timeout,
            },
            response_timeout: limits.upstream_timeout,
            read_timeout: limits.upstream_read_timeout,
            pool: SlotPool::new(limits.upstream_max_connections),
            queue_timeout: limits.upstream_queue_timeout,
            tunnel_idle_timeout: limits.tunnel_idle_timeout,
            max_per_connection: limits.upstream_max_per_connection,
        })
    }

    /// Whether `peer` is in `--trusted-proxies`.
    pub(crate) fn trusts(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.trusts(peer)
    }
}

/// The default `--via-pseudonym`.
pub(crate) const VIA_PSEUDONYM: &str = "cors-gateway";

/// Checks a `Via` pseudonym: a token (RFC 9110 sections 5.6.2 and 7.6.3).
pub(crate) fn parse_pseudonym(text: &str) -> Result<String, String> {
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if text.is_empty() || !text.bytes().all(is_tchar) {
        return Err(format!(
            "invalid pseudonym \"{text}\": use letters, digits and !#$%&'*+-.^_`|~ only"
        ));
    }
    Ok(text.to_owned())
}

/// Parses one `--trusted-proxies` item: an IPv4 or IPv6 address, or a CIDR range of them.
pub(crate) fn parse_trusted_proxy(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .map(|net| net.trunc())
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
            format!(
                "invalid trusted proxy \"{text}\": expected an IP address or a CIDR range, such \
                 as 10.0.0.5, 10.0.0.0/8 or fd00::/8"
            )
        })
}

/// The peers of `--trusted-proxies`: a connection from one of them keeps the forwarding fields
/// it sent (see [`ForwardedFor`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub(crate) fn new(ranges: Vec<IpNet>) -> Self {
        Self(ranges)
    }

    /// Whether `peer` is in one of the ranges; an IPv4-mapped IPv6 address (a dual-stack
    /// listener's IPv4 client) is matched as the IPv4 address it carries.
    fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.0.iter().any(|range| range.contains(&peer))
    }
}

/// The `Via` entries the gateway appends to forwarded requests (RFC 9110 section 7.6.3: a
/// gateway MUST send one in each inbound request), one per protocol version a request can
/// arrive with, built once so that a request clones a reference count.
#[derive(Debug)]
struct Via {
    http10: HeaderValue,
    http11: HeaderValue,
    http2: HeaderValue,
}

impl Via {
    fn new(pseudonym: &str) -> Result<Self, String> {
        let pseudonym = parse_pseudonym(pseudonym)?;
        // Leaked once per process (three short strings): a value over static bytes is cloned
        // without touching a reference count that every request on every thread would share.
        let entry = |version: &str| {
            let text: &'static str = Box::leak(format!("{version} {pseudonym}").into_boxed_str());
            HeaderValue::from_maybe_shared(Bytes::from_static(text.as_bytes()))
                .map_err(|e| e.to_string())
        };
        Ok(Self { http10: entry("1.0")?, http11: entry("1.1")?, http2: entry("2")? })
    }

    /// The entry for a request received with `version` (the received-protocol of section 7.6.3).
    fn entry(&self, version: Version) -> &HeaderValue {
        match version {
            Version::HTTP_09 | Version::HTTP_10 => &self.http10,
            Version::HTTP_2 => &self.http2,
            _ => &self.http11,
        }
    }

    /// Appends this gateway's entry to `headers`' `Via` list; `listed` tells whether `headers`
    /// has one (see [`Listed`]).
    fn append_to(&self, headers: &mut HeaderMap, version: Version, listed: bool) {
        let entry = self.entry(version);
        if listed {
            append_to_list(headers, header::VIA, entry.as_bytes());
        } else {
            headers.insert(header::VIA, entry.clone());
        }
    }
}

/// What every request of one client connection shares.
#[derive(Debug)]
struct Connection {
    clients: UpstreamClients,
    settings: Arc<ProxySettings>,
    peer: SocketAddr,
    /// The client as the forwarding fields name it, written once per connection.
    forwarded: ForwardedFor,
    /// The connection's share of the upstream pool (`--upstream-max-per-connection`).
    share: Arc<SlotPool>,
    /// The connection's slot of `--max-connections` and its client's count, and its count in
    /// the metrics, held until the connection and the tunnel it may have become are both closed.
    kept: Kept,
    /// Changes when the gateway shuts down; tunnels close then.
    closing: watch::Receiver<bool>,
    /// The timer that the connection's requests reuse for `--upstream-timeout` (see
    /// [`ResponseTimer`]) and their response bodies for `--upstream-read-timeout` (see
    /// [`ReadTimer`]).
    timer: SharedTimer,
    /// Where a response body cut by `--upstream-read-timeout` is counted.
    telemetry: Telemetry,
}

/// What a client connection holds until it, and the tunnel it may have become, are both closed.
#[derive(Debug)]
pub(crate) struct Kept {
    /// Its slot of `--max-connections`, and its count against its client's
    /// `--max-connections-per-client`.
    pub(crate) _slot: Slot,
    /// Its count in the metrics: `cors_gateway_open_connections`, and, once it closes, in
    /// `cors_gateway_connections_closed_total` with its reason (finding F-CF).
    pub(crate) counted: ConnectionGuard,
}

/// The client of one connection, as the gateway takes it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer {
    /// Its address: the TCP peer's, or the one a PROXY protocol header named.
    pub(crate) address: SocketAddr,
    /// Whether it is a proxy in `--trusted-proxies`, whose forwarding fields are kept: never a
    /// client a balancer could not name, at the balancer's address (finding F-DB).
    pub(crate) trusted: bool,
}

/// The proxy of one client connection: cloning it (per request) clones one reference count.
#[derive(Clone, Debug)]
pub(crate) struct Proxy(Arc<Connection>);

impl Proxy {
    pub(crate) fn new(
        clients: UpstreamClients,
        settings: Arc<ProxySettings>,
        peer: Peer,
        scheme: &'static str,
        kept: Kept,
        closing: watch::Receiver<bool>,
        telemetry: Telemetry,
    ) -> Self {
        let share = SlotPool::new(settings.max_per_connection);
        // The peer is the connection's: whether its fields are kept is decided once.
        let forwarded = ForwardedFor::new(peer.address, scheme, peer.trusted);
        Self(Arc::new(Connection {
            clients,
            settings,
            peer: peer.address,
            forwarded,
            share,
            kept,
            closing,
            timer: SharedTimer::default(),
            telemetry,
        }))
    }
}

impl Proxy {
    /// Says why the connection is closing (see [`ConnectionGuard::closed`]); a tunnel it became
    /// says why when it ends.
    pub(crate) fn closed(&self, reason: Closed) {
        self.0.kept.counted.closed(reason);
    }
}

type ProxyFuture = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

/// The service of `serve --config` and the demo: every request goes to one upstream.
#[derive(Clone, Debug)]
pub(crate) struct ToUpstream {
    proxy: Proxy,
    upstream: Arc<Upstream>,
}

impl ToUpstream {
    pub(crate) fn new(proxy: Proxy, upstream: Arc<Upstream>) -> Self {
        Self { proxy, upstream }
    }
}

impl Service<Request<Incoming>> for ToUpstream {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = ProxyFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    /// Prepares the request at once, so that the boxed future holds only what the exchange with
    /// the upstream needs.
    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let prepared = match self.upstream.uri_for(request.uri()) {
            Ok(uri) => self.proxy.prepare(request, uri),
            Err(_) => Err((StatusCode::BAD_REQUEST, "bad request: the path cannot be forwarded\n")),
        };
        match prepared {
            Ok(prepared) => {
                Box::pin(self.proxy.clone().send(prepared, Arc::clone(&self.upstream.text)))
            }
            Err((status, text)) => Box::pin(std::future::ready(Ok(short(status, text)))),
        }
    }
}

/// A request made ready for the upstream by [`Proxy::prepare`].
struct Prepared {
    /// Its body wrapped, holding no slot yet (see [`RequestBody::hold`]).
    request: Request<RequestBody>,
    /// Whether `request` is known to carry a `Host` line, which spares the pool a look-up of
    /// its own (see [`UpstreamClients::send`]); `false` when it may have none.
    has_host: bool,
    /// What the client offered to upgrade to, and its side of the upgrade.
    upgrade: Option<(tunnel::Offer, hyper::upgrade::OnUpgrade)>,
}

impl Proxy {
    /// Forwards `request` to `uri` (scheme, authority, path and query of the upstream request);
    /// `upstream` names the upstream in logs.
    pub(crate) async fn forward(
        self,
        request: Request<Incoming>,
        uri: Uri,
        upstream: Arc<str>,
    ) -> Response<ProxyBody> {
        match self.prepare(request, uri) {
            Ok(prepared) => {
                let Ok(response) = self.send(prepared, upstream).await;
                response
            }
            Err((status, text)) => short(status, text),
        }
    }

    /// Rewrites `request` for the upstream at `uri`: the hop-by-hop fields removed, `Via`
    /// appended, the forwarding fields written (see [`ForwardedFor::write_to`]), `Host` set; or
    /// the status and text of the answer when it is not forwarded.
    ///
    /// Synchronous, so that the header work is done before a future is built, and the future
    /// does not carry its locals.
    fn prepare(&self, mut request: Request<Incoming>, uri: Uri) -> Result<Prepared, Refusal> {
        let Connection { settings, forwarded, .. } = &*self.0;
        if request.method() == Method::CONNECT {
            return Err((
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed: CONNECT is not proxied\n",
            ));
        }
        let mut listed = Listed::of(request.headers());
        // Taken before the request is forwarded: hyper completes the client's side of an
        // upgrade once the 101 is written. `Upgrade` is one of the hop-by-hop fields.
        let upgrade = if listed.hop_by_hop {
            tunnel::requested(&request).map(|protocol| (protocol, hyper::upgrade::on(&mut request)))
        } else {
            None
        };
        // The authority the request is addressed to, the one R2 was decided on: the target's
        // (`:authority`, or an absolute-form target, which wins over `Host` by RFC 9112 section
        // 3.2.2), else the one `Host` line `checks.rs` let through.
        let target_host = request.uri().authority().map(|a| HeaderValue::from_str(a.as_str()).ok());
        let from_target = target_host.is_some();
        let client_host = target_host.unwrap_or_else(|| listed.host.clone());
        let version = request.version();
        let headers = request.headers_mut();
        let removed = listed.hop_by_hop;
        if removed {
            remove_hop_by_hop_fields(headers);
            // `Connection` may have named the fields below.
            listed = Listed::of(headers);
        }
        let upgrade = upgrade.map(|(protocol, client_side)| {
            tunnel::ask_upgrade(headers, protocol.clone());
            (tunnel::Offer::new(protocol, headers), client_side)
        });
        if version == Version::HTTP_2 {
            join_cookies(headers);
        }
        settings.via.append_to(headers, version, listed.lists.via);
        forwarded.write_to(headers, client_host.as_ref(), &listed);
        // Whether a `Host` line is there: `listed` is of the fields as they are now (walked
        // again after the hop-by-hop ones were removed, as `Connection` may name `Host`).
        let mut has_host = listed.host.is_some();
        if settings.rewrite_host {
            if let Some(host) = uri.authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            {
                headers.insert(header::HOST, host);
                has_host = true;
            }
        } else if let Some(host) = client_host
            && (from_target || removed)
        {
            // Otherwise the request's one `Host` line is still there, as it came.
            headers.insert(header::HOST, host);
            has_host = true;
        }
        *request.uri_mut() = uri;
        // The upstream connection is HTTP/1.1 whatever the client spoke.
        *request.version_mut() = Version::HTTP_11;
        // A declared length over the limit is refused before the upstream is contacted; a body
        // without one is cut off by `RequestBody` once it goes over.
        let body = request.body();
        let size = body.size_hint();
        if size.lower() > settings.body_limits.max_bytes {
            return Err(TOO_LARGE);
        }
        // hyper's HTTP/1.1 client sends a GET or HEAD whose body has no declared length (sent
        // chunked, or in HTTP/2 DATA frames without `content-length`) as if it had no body, and
        // drops the body: the upstream got the request without it. Saying `chunked` here, as
        // hyper asks callers who must send such a body to, forwards it as the client sent it.
        if !body.is_end_stream()
            && size.exact().is_none()
            && matches!(*request.method(), Method::GET | Method::HEAD)
        {
            request
                .headers_mut()
                .insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        }
        let request = request.map(|body| RequestBody::new(body, settings.body_limits));
        Ok(Prepared { request, has_host, upgrade })
    }

    /// Sends a request [`Proxy::prepare`]d to its upstream, within the upstream slots and the
    /// response timeout; `upstream` names the upstream in logs.
    ///
    /// The future is boxed for every forwarded request, and its size is what the allocation and
    /// the copy into the box cost. This is a function that returns an `async` block rather than
    /// an `async fn`, which keeps each argument twice (the argument, and the local it is moved
    /// to); the block borrows none of its locals (a local once borrowed keeps its place in the
    /// future after it is moved out), and the answer is made out of line ([`Proxy::answer`]).
    fn send(
        self,
        prepared: Prepared,
        upstream: Arc<str>,
    ) -> impl Future<Output = Result<Response<ProxyBody>, Infallible>> + Send + 'static {
        let Prepared { mut request, has_host, upgrade } = prepared;
        let is_head = request.method() == Method::HEAD;
        async move {
            let Connection { clients, settings, peer, share, timer, .. } = &*self.0;
            let Some(slots) = Slots::acquire(&settings.pool, share, settings.queue_timeout).await
            else {
                tracing::debug!(%peer, "no upstream slot within the queue timeout");
                telemetry::upstream_queue_timed_out();
                return Ok(queue_timed_out());
            };
            let held = request.body_mut().hold(slots);
            let started = telemetry::upstream_started();
            // The send, pinned where it is made, rather than moved into a `tokio::time::Timeout`
            // and on into this future's state: the send is the larger part of this future, and
            // each move copied all of it.
            let now = Instant::now();
            let mut timer = ResponseTimer::start(timer, now + settings.response_timeout);
            let mut sent = std::pin::pin!(clients.send(request, has_host, now));
            let answered = std::future::poll_fn(|cx| match sent.as_mut().poll(cx) {
                Poll::Ready(result) => Poll::Ready(Some(result)),
                Poll::Pending => timer.poll_expired(cx).map(|()| None),
            })
            .await;
            drop(timer);
            Ok(self.answer(answered, is_head, upgrade, held, started, &upstream))
        }
    }

    /// The answer to the client for what its request `answered` (`None`: nothing within
    /// `--upstream-timeout`); `is_head`, `upgrade` and `held` are the request's (see
    /// [`Prepared`] and [`RequestBody::hold`]), `started` when it was sent.
    fn answer(
        &self,
        answered: Option<Result<(Response<Incoming>, Pooled), SendError>>,
        is_head: bool,
        upgrade: Option<(tunnel::Offer, hyper::upgrade::OnUpgrade)>,
        held: Held,
        started: Option<std::time::Instant>,
        upstream: &str,
    ) -> Response<ProxyBody> {
        match answered {
            Some(Ok((response, pooled)))
                if response.status() == StatusCode::SWITCHING_PROTOCOLS =>
            {
                let Some((offer, client_side)) = upgrade else {
                    tracing::warn!(upstream, "the upstream switched protocols unasked");
                    return not_forwarded(
                        started,
                        "bad gateway: the upstream switched protocols unasked\n",
                    );
                };
                // The connection is dropped with the response: it is never reused or tunnelled.
                let Some(protocol) = tunnel::switched_to(&offer, response.headers()) else {
                    tracing::warn!(
                        upstream,
                        upgrade = ?response.headers().get(header::UPGRADE),
                        "the upstream answered 101 without switching to a protocol offered"
                    );
                    return not_forwarded(
                        started,
                        "bad gateway: the upstream did not switch to the protocol asked for\n",
                    );
                };
                telemetry::upstream_done(started, None);
                self.switch(response, protocol, client_side, held, pooled)
            }
            Some(Ok((response, pooled))) => {
                let (mut parts, body) = response.into_parts();
                // The gateway's own version, not the upstream's (RFC 9110 section 2.5: an
                // intermediary sends its own HTTP-version in forwarded messages). hyper's server
                // writes the response's version in the status line: an HTTP/1.0 upstream's
                // `HTTP/1.0 200` reached HTTP/1.1 clients as it came, and without a keep-alive
                // field (hop-by-hop, removed) it closed their connection after every response.
                // hyper answers an HTTP/1.0 client in HTTP/1.0 whatever this says.
                parts.version = Version::HTTP_11;
                // Before `response_fields`, which removes a 204's length.
                let pooled = (!may_follow_with_a_body(is_head, parts.status, &parts.headers))
                    .then_some(pooled);
                if !response_fields(parts.status, &mut parts.headers) {
                    // The body and its connection are dropped: the connection is closed.
                    tracing::warn!(
                        upstream,
                        "the upstream sent a transfer coding other than chunked"
                    );
                    return not_forwarded(
                        started,
                        "bad gateway: the upstream sent a transfer coding other than chunked\n",
                    );
                }
                telemetry::upstream_done(started, None);
                if parts.status == StatusCode::RESET_CONTENT {
                    return without_content(parts);
                }
                let read = ReadTimer::new(self);
                Response::from_parts(
                    parts,
                    Either::Left(UpstreamBody::new(body, held, pooled, read, self.0.telemetry)),
                )
            }
            Some(Err(error)) => self.failed(&error, upstream, started),
            None => {
                telemetry::upstream_done(started, Some(UpstreamFailure::Timeout));
                tracing::warn!(
                    upstream,
                    timeout = ?self.0.settings.response_timeout,
                    "upstream response timed out"
                );
                short(
                    StatusCode::GATEWAY_TIMEOUT,
                    "gateway timeout: the upstream did not answer in time\n",
                )
            }
        }
    }

    /// Answers `101` to the client for the upstream's `response`, which switched to `protocol`
    /// (checked by [`tunnel::switched_to`]), and starts the tunnel between both connections,
    /// which holds the request's upstream slots and this connection.
    fn switch(
        &self,
        mut response: Response<Incoming>,
        protocol: HeaderValue,
        client_side: hyper::upgrade::OnUpgrade,
        held: Held,
        connection: Pooled,
    ) -> Response<ProxyBody> {
        let upstream_side = hyper::upgrade::on(&mut response);
        let (mut parts, _empty) = response.into_parts();
        remove_hop_by_hop(&mut parts.headers);
        tunnel::ask_upgrade(&mut parts.headers, protocol);
        let tunnel = tunnel::Tunnel {
            client: client_side,
            upstream: upstream_side,
            idle_timeout: self.0.settings.tunnel_idle_timeout,
            peer: self.0.peer,
            closing: self.0.closing.clone(),
        };
        // The upstream connection is the tunnel's now: it never goes back to the pool. The
        // client connection stays open, and counted as such, until the tunnel closes, with the
        // tunnel's reason (finding F-CF).
        let proxy = self.clone();
        let open = self.0.telemetry.tunnel_opened();
        tokio::spawn(async move {
            let ended = tunnel.run((held, connection, open)).await;
            proxy.0.kept.counted.tunnel_closed(ended);
        });
        Response::from_parts(parts, Either::Right(Full::new(Bytes::new())))
    }

    /// The answer when the upstream request sent at `started` (see
    /// [`telemetry::upstream_started`]) failed with `error`.
    fn failed(
        &self,
        error: &SendError,
        upstream: &str,
        started: Option<std::time::Instant>,
    ) -> Response<ProxyBody> {
        if let Some(refused) = BodyError::find(error) {
            tracing::debug!(peer = %self.0.peer, error = %error_chain(error), "request body refused");
            telemetry::upstream_done(started, None);
            return match refused {
                BodyError::TooLarge { .. } => short(TOO_LARGE.0, TOO_LARGE.1),
                BodyError::TimedOut { .. } => short(
                    StatusCode::REQUEST_TIMEOUT,
                    "request timeout: the request body did not arrive in time\n",
                ),
                BodyError::Client(_) => {
                    short(StatusCode::BAD_REQUEST, "bad request: the request body failed\n")
                }
            };
        }
        tracing::warn!(upstream, error = %error_chain(error), "upstream request failed");
        if error.is_connect() {
            telemetry::upstream_done(started, Some(UpstreamFailure::Connect));
            short(StatusCode::BAD_GATEWAY, "bad gateway: the upstream is unreachable\n")
        } else {
            telemetry::upstream_done(started, Some(UpstreamFailure::Response));
            short(StatusCode::BAD_GATEWAY, "bad gateway: the upstream failed to answer\n")
        }
    }
}

/// A connection's one timer, which its requests take turns with: for `--upstream-timeout` (see
/// [`ResponseTimer`]), then for `--upstream-read-timeout` while their response bodies wait on
/// the upstream (see [`ReadTimer`]).
///
/// A timer of its own per request registered it in tokio's timer wheel and removed it again
/// (about 650 instructions per forwarded request, a lock of the time driver each way). Here the
/// timer is moved only when it fires (see [`poll_until`]): it stays set for an earlier instant
/// than the one its user waits for, and when it fires before that one is due it is set for it.
/// A user that finds the timer taken (concurrent HTTP/2 streams, or a response body still
/// waiting) makes one of its own; the first given back is kept.
#[derive(Debug, Default)]
struct SharedTimer(Mutex<Option<Pin<Box<Sleep>>>>);

impl SharedTimer {
    /// The connection's timer, or, if another user has it, a new one set for `due`.
    fn take(&self, due: Instant) -> Pin<Box<Sleep>> {
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        kept.unwrap_or_else(|| Box::pin(tokio::time::sleep_until(due)))
    }

    /// Keeps `sleep` as the connection's timer, unless another was given back first.
    fn give_back(&self, sleep: Pin<Box<Sleep>>) {
        let mut home = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if home.is_none() {
            *home = Some(sleep);
        }
    }
}

/// Ready once `due` has passed, on `sleep`, a [`SharedTimer`]'s timer, which is moved only when
/// it fires before `due`, or when it is set for later than `due`.
fn poll_until(sleep: &mut Pin<Box<Sleep>>, due: Instant, cx: &mut Context<'_>) -> Poll<()> {
    if sleep.deadline() > due {
        // Another user set it for later (a longer timeout, or a later request's): moved, so
        // that this one is never due past its own instant.
        sleep.as_mut().reset(due);
    }
    while sleep.as_mut().poll(cx).is_ready() {
        if Instant::now() >= due {
            return Poll::Ready(());
        }
        sleep.as_mut().reset(due);
    }
    Poll::Pending
}

/// The `--upstream-timeout` of one forwarded request, on its connection's timer (see
/// [`SharedTimer`]).
///
/// Requests start in order and each gets the same timeout, so the timer a request takes is
/// set for an earlier request's instant, before this one's. The deadline is the same as with a
/// timer of its own: `504` once `--upstream-timeout` has passed since the request was sent,
/// never before.
struct ResponseTimer<'c> {
    /// `Some` until the request is done with it.
    sleep: Option<Pin<Box<Sleep>>>,
    /// When the request's response head is due.
    due: Instant,
    /// The connection's timer, to give it back to.
    home: &'c SharedTimer,
}

impl<'c> ResponseTimer<'c> {
    /// The timer of a request sent now, `due` then (`--upstream-timeout` from now): the
    /// connection's, if no other request has it.
    fn start(home: &'c SharedTimer, due: Instant) -> Self {
        Self { sleep: Some(home.take(due)), due, home }
    }

    /// Ready once the request is due.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(sleep) = &mut self.sleep else { return Poll::Pending };
        poll_until(sleep, self.due, cx)
    }
}

impl Drop for ResponseTimer<'_> {
    fn drop(&mut self) {
        if let Some(sleep) = self.sleep.take() {
            self.home.give_back(sleep);
        }
    }
}

/// The `--upstream-read-timeout` of one response body (finding F-BK): how long the upstream may
/// send nothing while the gateway waits for the next part of the body. The head is
/// `--upstream-timeout`'s; the wait starts when the body is asked for its next frame and has
/// none, so a client that reads slowly (`--send-timeout`'s) never counts against the upstream.
///
/// Costs nothing while the body has a frame each time it is asked, as a short response read
/// with its head does: the first wait takes the connection's timer (see [`SharedTimer`]) and
/// reads the clock, each later wait reads the clock, and the body gives the timer back when it
/// ends or is dropped. `None` when the timeout is zero.
#[derive(Debug)]
pub(crate) struct ReadTimer {
    /// The connection: its timer, the timeout, the telemetry.
    proxy: Proxy,
    /// The connection's timer (or one of the body's own), from the body's first wait.
    sleep: Option<Pin<Box<Sleep>>>,
    /// When the current wait times out; `None` while the body is not waiting.
    due: Option<Instant>,
    /// Where the request body's sending stood when the current wait began (`None`: all sent).
    began_with: Option<Sending>,
}

impl ReadTimer {
    /// The timer of a response body on `proxy`'s connection; `None` when
    /// `--upstream-read-timeout` is zero.
    fn new(proxy: &Proxy) -> Option<Self> {
        (!proxy.0.settings.read_timeout.is_zero()).then(|| Self {
            proxy: proxy.clone(),
            sleep: None,
            due: None,
            began_with: None,
        })
    }

    /// The body brought a frame: the wait is over.
    #[inline]
    pub(crate) fn brought(&mut self) {
        self.due = None;
    }

    /// The body has no frame yet: ready once it has waited for the timeout, with nothing
    /// else moving. `sending` is where the request body stands (`None`: all sent). An upstream
    /// may answer before it has read the request body and wait for the rest: a wait that ends
    /// while the request body waits on its client (`--body-read-timeout`'s to bound) or has
    /// moved since the wait began (the upstream is taking it), or that began before it was all
    /// sent, starts again, so the upstream has one to two timeouts after the request body's
    /// end. One that neither sent nor took anything of it for the whole wait is cut.
    /// Then the cut is logged and counted, and the caller ends the body with an error.
    pub(crate) fn poll_waited(
        &mut self,
        cx: &mut Context<'_>,
        sending: Option<Sending>,
    ) -> Poll<()> {
        let connection = &*self.proxy.0;
        let timeout = connection.settings.read_timeout;
        loop {
            let due = if let Some(due) = self.due {
                due
            } else {
                let due = Instant::now() + timeout;
                (self.due, self.began_with) = (Some(due), sending);
                due
            };
            let sleep = self.sleep.get_or_insert_with(|| connection.timer.take(due));
            std::task::ready!(poll_until(sleep, due, cx));
            let again = match (sending, self.began_with) {
                (Some(now), began) => {
                    now.waits_on_client || began.is_none_or(|began| began.moved != now.moved)
                }
                (None, began) => began.is_some(),
            };
            if !again {
                break;
            }
            self.due = None;
        }
        tracing::warn!(
            peer = %connection.peer,
            ?timeout,
            "cut a response whose upstream sent nothing of its body for --upstream-read-timeout"
        );
        if let Some(metrics) = connection.telemetry.metrics() {
            metrics.upstream_failed(UpstreamFailure::ReadTimeout);
        }
        Poll::Ready(())
    }

    /// How long the body may wait.
    pub(crate) fn timeout(&self) -> Duration {
        self.proxy.0.settings.read_timeout
    }
}

impl Drop for ReadTimer {
    fn drop(&mut self) {
        if let Some(sleep) = self.sleep.take() {
            self.proxy.0.timer.give_back(sleep);
        }
    }
}

/// The first `E` among `error` and its sources (see [`causes`]).
pub(crate) fn find_cause<'e, E>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e E>
where
    E: std::error::Error + 'static,
{
    causes(error).find_map(|cause| cause.downcast_ref::<E>())
}

/// `error` and its sources, in order.
///
/// An `io::Error` that wraps another error is looked into (`io::Error::get_ref`): its `source`
/// skips the error it wraps, whose text its own already is, and the connectors pass TLS
/// failures on as such wrappers (hyper-rustls wraps tokio-rustls's `io::Error` in another).
pub(crate) fn causes<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'e (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |error| match error.downcast_ref::<std::io::Error>() {
        Some(wrapper) => wrapper.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static)),
        None => error.source(),
    })
}

/// `error` and its sources, joined with `: `.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// An upstream's `205` for the client, with no content whatever the upstream sent: RFC 9110
/// section 15.3.6 says a server must not generate content in a `205`, and must mark it as empty
/// (`Content-Length: 0` being one way). hyper frames a `205` as any other status, on both sides,
/// so an upstream's body reached the client; Chromium reads a `205`'s head as the whole response,
/// as a `204`'s (`HttpStreamParser::CalculateResponseBodySize`), and bytes of a body that came
/// after the head were read as the beginning of the next response on that connection. nginx
/// forwards the body as it came. The upstream's body is dropped unread, and its connection with
/// it, which is never reused. Out of line: few responses are `205`.
#[cold]
fn without_content(mut parts: http::response::Parts) -> Response<ProxyBody> {
    parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    Response::from_parts(parts, Either::Right(Full::new(Bytes::new())))
}

/// `502` with `text` for an upstream response the gateway does not forward, sent at `started`
/// (see [`telemetry::upstream_started`]), counted as a `response` upstream error. Out of line:
/// few responses are refused.
#[cold]
fn not_forwarded(started: Option<std::time::Instant>, text: &'static str) -> Response<ProxyBody> {
    telemetry::upstream_done(started, Some(UpstreamFailure::Response));
    short(StatusCode::BAD_GATEWAY, text)
}

/// `503` for a request that got no upstream slot within `--upstream-queue-timeout`. Out of line:
/// few requests wait that long.
#[cold]
fn queue_timed_out() -> Response<ProxyBody> {
    let mut answer = short(
        StatusCode::SERVICE_UNAVAILABLE,
        "service unavailable: too many requests are waiting for the upstream\n",
    );
    answer.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    answer
}

/// 413 for a request body over `--max-request-body`.
const TOO_LARGE: Refusal = (
    StatusCode::PAYLOAD_TOO_LARGE,
    "content too large: the request body is over the gateway's limit\n",
);

/// Marks a response the gateway made itself, in its extensions (see [`short`]): its request
/// is not one of those that F-BY's share of abandoned requests is taken of (finding F-CL).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Local;

/// A locally generated response with a short plain-text body, marked [`Local`].
pub(crate) fn short(status: StatusCode, text: &'static str) -> Response<ProxyBody> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from_static(text.as_bytes()))));
    *response.status_mut() = status;
    response.extensions_mut().insert(Local);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// The hop-by-hop fields of RFC 9110 section 7.6.1, plus the legacy ones proxies still strip.
///
/// `Trailer` is not one (RFC 9110 section 6.6.2: it travels with the message, end to end), though
/// RFC 2616 section 13.5.1 listed it: hyper's HTTP/1.1 server and client write only the trailer
/// fields a message's `Trailer` names, so without it every trailer was lost (finding F-AO).
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRANSFER_ENCODING,
];

/// Whether `name` is a hop-by-hop field or `Upgrade`.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    starts_with_one_of(name, b"ckptu") && (HOP_BY_HOP.contains(name) || name == header::UPGRADE)
}

/// Whether `name` starts with one of `firsts`: the look at one byte that tells most names from
/// a list whose names all start with one of them ([`HOP_BY_HOP`] and `Upgrade`,
/// [`ALSO_FORGEABLE`]), before the list is looked through. The lists are `const`s of
/// `HeaderName`s, so each look builds and drops a temporary array of them (as `static`s, the
/// comparisons cost as much): about 50 instructions for the hop-by-hop list and 150 for the
/// forgeable one, for each field of every request and response, where most names (`accept`,
/// `origin`, `referer`, `sec-*`, `date`) are told apart by this one comparison.
fn starts_with_one_of(name: &HeaderName, firsts: &[u8]) -> bool {
    name.as_str().as_bytes().first().is_some_and(|first| firsts.contains(first))
}

/// Removes the hop-by-hop fields, `Upgrade`, and every field named in `Connection`.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over their few names tells, where removing each of the
    // ten names would hash and look up every one of them.
    if headers.keys().any(is_hop_by_hop) {
        remove_hop_by_hop_fields(headers);
    }
}

/// Whether an upstream response without a body, to a `HEAD` request (`head`) or with a `204` or
/// `304` `status`, says it has one: a `Content-Length` other than `0`, or `Transfer-Encoding`.
/// Its connection is then not reused (finding F-R).
///
/// hyper's client reads such a response as ending with its head, as RFC 9112 section 6.3 says,
/// and its connection goes back to the pool. An upstream that sends the body anyway (a handler
/// that writes its `GET` body for `HEAD` too) has it read as the response to the next request on
/// that connection, which may be another client's: the bytes that arrive before the connection
/// is reused make hyper close it, but those that arrive after it was reused are that request's
/// answer, and every answer on the connection after it is one behind. A `HEAD` response's length
/// is usually there and right (the length a `GET` would get), so each such `HEAD` costs a new
/// upstream connection; `HEAD` requests are few.
fn may_follow_with_a_body(head: bool, status: StatusCode, headers: &HeaderMap) -> bool {
    (head || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED)
        && (headers.contains_key(header::TRANSFER_ENCODING)
            || headers.get(header::CONTENT_LENGTH).is_some_and(|length| length != "0"))
}

/// Rewrites the fields of an upstream response with `status` for the client: removes the
/// hop-by-hop fields (see [`remove_hop_by_hop`]), and leaves at most one `Content-Length`, of
/// one value, where the status allows one (finding F-N). Returns `false`, for a `502`, when the
/// response's body is still transfer-coded once hyper's client has read it: a coding other than
/// `chunked`, or `chunked` twice (finding F-P). `Transfer-Encoding` is removed as hop-by-hop, so
/// the client would take the coded bytes for the content; RFC 9112 section 6.1 leaves a
/// recipient nothing else to do with a coding it does not know (nginx answers `502` too).
///
/// hyper's client accepts a length sent twice, on two lines or as a list (`5, 5`), when the
/// values agree (RFC 9110 section 8.6 lets a recipient do so), and a length on a `204`, whose
/// body it reads as empty; it leaves the fields as they came. Forwarded so, an HTTP/2 client
/// takes the response for malformed and resets the stream (RFC 9113 section 8.1.1), and an
/// HTTP/1.1 one gets a list where a number is due. One walk over the fields, which
/// [`remove_hop_by_hop`] made anyway, tells whether there is anything to do.
#[must_use]
fn response_fields(status: StatusCode, headers: &mut HeaderMap) -> bool {
    let (mut hop_by_hop, mut lengths, mut listed) = (false, 0u32, false);
    for (name, value) in &*headers {
        if name == header::CONTENT_LENGTH {
            lengths += 1;
            listed |= value.as_bytes().contains(&b',');
        } else if is_hop_by_hop(name) {
            hop_by_hop = true;
        }
    }
    if hop_by_hop {
        if !TransferCodings::of(headers).is_decoded_by_hyper() {
            return false;
        }
        remove_hop_by_hop_fields(headers);
    }
    let no_content = status.is_informational() || status == StatusCode::NO_CONTENT;
    if lengths > 1 || listed || (lengths == 1 && no_content) {
        one_length(no_content, headers);
    }
    true
}

/// Removes the `Content-Length` of a response without content (RFC 9110 section 8.6: a server
/// must not send one on a `1xx` or `204`), else leaves one line with the first value of the
/// first line (hyper's client checked that every value is the same number). Out of line: few
/// responses need it.
#[cold]
fn one_length(no_content: bool, headers: &mut HeaderMap) {
    let first = headers.get(header::CONTENT_LENGTH).and_then(|line| {
        let value = list_elements(line.as_bytes()).next()?;
        HeaderValue::from_bytes(value).ok()
    });
    headers.remove(header::CONTENT_LENGTH);
    if let Some(first) = first.filter(|_| !no_content) {
        headers.insert(header::CONTENT_LENGTH, first);
    }
}

/// Removes from an upstream response's trailer section the fields a trailer may not carry
/// (finding F-O): the hop-by-hop ones (see [`remove_hop_by_hop`]), and those RFC 9110 section
/// 6.5.1 says are needed before the content, the list hyper's HTTP/1.1 server leaves out of the
/// trailers it writes, and `Trailer`, which belongs in the header section.
///
/// hyper's client reads a chunked body's trailer fields as they came, and its HTTP/2 server hands
/// them to the h2 crate, which refuses to send a connection-specific field (RFC 9113 section
/// 8.2.2): the stream was reset after the body. A `Content-Length` trailer made the client reset
/// it. Out of line: few responses have trailers.
#[cold]
pub(crate) fn trailer_fields(trailers: &mut HeaderMap) {
    remove_hop_by_hop(trailers);
    for name in [
        header::AUTHORIZATION,
        header::CACHE_CONTROL,
        header::CONTENT_ENCODING,
        header::CONTENT_LENGTH,
        header::CONTENT_RANGE,
        header::CONTENT_TYPE,
        header::HOST,
        header::MAX_FORWARDS,
        header::SET_COOKIE,
        header::TRAILER,
    ] {
        trailers.remove(name);
    }
}

/// [`remove_hop_by_hop`] for a message known to carry some.
fn remove_hop_by_hop_fields(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .flat_map(|line| list_elements(line.as_bytes()))
            .filter_map(|option| HeaderName::from_bytes(option).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    // RFC 9112 section 6.3: a message with both `Transfer-Encoding` and `Content-Length` is
    // framed by the first, and an intermediary that forwards it must remove the second.
    // hyper's server does so for requests; its client decodes such a response by its chunks but
    // leaves its `Content-Length`, by which the client's side would then frame the body: cut
    // short, or the connection closed before the length was reached.
    if headers.contains_key(header::TRANSFER_ENCODING) {
        headers.remove(header::CONTENT_LENGTH);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// What a request carries of the fields the proxy rewrites, found in one walk over its fields:
/// comparing each name with a few known ones costs less than a look-up (a hash and a probe) of
/// each of those names.
#[derive(Debug, Default)]
struct Listed {
    /// A hop-by-hop field or `Upgrade` (see [`remove_hop_by_hop`]).
    hop_by_hop: bool,
    /// One of [`ALSO_FORGEABLE`].
    also_forgeable: bool,
    lists: Lists,
    /// The first `Host` line.
    host: Option<HeaderValue>,
}

/// Which of the lists the gateway appends to a request already has.
#[derive(Debug, Default)]
struct Lists {
    via: bool,
    forwarded_for: bool,
    forwarded: bool,
}

impl Listed {
    fn of(headers: &HeaderMap) -> Self {
        let mut listed = Self::default();
        for (name, value) in headers {
            if name == header::HOST {
                if listed.host.is_none() {
                    listed.host = Some(value.clone());
                }
            } else if name == header::VIA {
                listed.lists.via = true;
            } else if name == header::FORWARDED {
                listed.lists.forwarded = true;
            } else if name == X_FORWARDED_FOR {
                listed.lists.forwarded_for = true;
            } else if is_hop_by_hop(name) {
                listed.hop_by_hop = true;
            } else if starts_with_one_of(name, b"ctx") && ALSO_FORGEABLE.contains(name) {
                listed.also_forgeable = true;
            }
        }
        listed
    }
}

/// Joins the `cookie` fields of an HTTP/2 request into one with `; `, as RFC 9113 section 8.2.3
/// requires before the request goes to an HTTP/1.1 upstream (HTTP/2 clients may send each
/// cookie as its own field, for header compression). Allocates only when there are two or more.
fn join_cookies(headers: &mut HeaderMap) {
    if headers.get_all(header::COOKIE).iter().nth(1).is_none() {
        return;
    }
    let mut joined = Vec::new();
    for line in headers.get_all(header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(line.as_bytes());
    }
    if let Ok(value) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, value);
    }
}

/// `X-Forwarded-For`, built at compile time rather than parsed for each request.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`.
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`.
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// `X-Real-IP`.
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// The other fields that applications, told to trust the proxy in front of them, read as what
/// that proxy saw of the client, and that the gateway has nothing to write in: Spring's
/// `ForwardedHeaderFilter` reads `X-Forwarded-Port`, `-Prefix` and `-Ssl`, Rack
/// `X-Forwarded-Scheme`, `-Ssl` and `-Port`, Django `X-Forwarded-Port` (`USE_X_FORWARDED_PORT`),
/// Rails `Client-IP`; CDNs name the client in `True-Client-IP` (Akamai, Cloudflare) and
/// `CF-Connecting-IP`, load balancers in `X-Client-IP` and `X-Cluster-Client-IP`. A peer that is
/// not a trusted proxy has them removed (finding F-AH): `X-Forwarded-Prefix: /admin` would put
/// another prefix in the links Spring builds, `True-Client-IP` another address.
const ALSO_FORGEABLE: [HeaderName; 9] = [
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-forwarded-prefix"),
    HeaderName::from_static("x-forwarded-ssl"),
    HeaderName::from_static("x-forwarded-scheme"),
    HeaderName::from_static("client-ip"),
    HeaderName::from_static("true-client-ip"),
    HeaderName::from_static("cf-connecting-ip"),
    HeaderName::from_static("x-client-ip"),
    HeaderName::from_static("x-cluster-client-ip"),
];

/// The client of one connection as the forwarding fields name it (`X-Forwarded-For`,
/// `Forwarded` of RFC 7239, `X-Forwarded-Proto`, `X-Forwarded-Host`, `X-Real-IP`), written
/// once per connection rather than formatted for each request, and whether the peer is a
/// trusted proxy whose own fields are kept (finding F-AH).
#[derive(Debug)]
struct ForwardedFor {
    /// The `X-Forwarded-For` item and the `X-Real-IP` value: the client's IP address.
    ip: HeaderValue,
    /// The `for` pair of a `Forwarded` element: `for=IP`, or `for="[IP]"` for IPv6.
    node: String,
    /// `http` or `https`: the scheme the client used (the listener's, or `--public-scheme`), for
    /// `Forwarded: proto=` and `X-Forwarded-Proto`.
    scheme: &'static str,
    /// `scheme` as a value.
    proto: HeaderValue,
    /// Whether the peer is in `--trusted-proxies`.
    trusted: bool,
    /// The first `Forwarded` element written, with the host it was written for: the requests
    /// of a connection name the same host, and reuse it (a reference count) rather than build
    /// and check a new value each.
    first: OnceLock<Element>,
}

/// A `Forwarded` element of [`ForwardedFor`], and what it was written for.
#[derive(Debug)]
struct Element {
    /// A copy: the request's own value is a slice of hyper's read buffer, which it would keep
    /// from being reused for the life of the connection.
    host: Option<Box<[u8]>>,
    value: HeaderValue,
    /// Whether `value` names the host (see [`is_plain_host`]).
    names_host: bool,
}

/// `peer` as the gateway names a client, in the forwarding fields, the access log and its own
/// log lines: an IPv4-mapped address (an IPv4 client of a dual-stack `[::]:PORT` listener, or
/// of a PROXY protocol header that names it so) as the IPv4 address it maps (finding F-DO). An
/// IPv6 address, NAT64's `64:ff9b::/96` included, stays as it is.
pub(crate) fn client_address(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(peer.ip().to_canonical(), peer.port())
}

impl ForwardedFor {
    fn new(peer: SocketAddr, scheme: &'static str, trusted: bool) -> Self {
        let ip = client_address(peer).ip();
        let node = if ip.is_ipv6() { format!("for=\"[{ip}]\"") } else { format!("for={ip}") };
        let ip = HeaderValue::from_maybe_shared(Bytes::from(ip.to_string()))
            .expect("invariant: an IP address is a valid header value");
        let proto = HeaderValue::from_static(scheme);
        Self { ip, node, scheme, proto, trusted, first: OnceLock::new() }
    }

    /// Writes the forwarding fields of a request addressed to `host`; `listed` tells which of
    /// the lists `headers` has.
    ///
    /// From a trusted proxy, the client is appended to `X-Forwarded-For` and a `Forwarded`
    /// element with `host` (when it can go in a quoted string as is) and the scheme to
    /// `Forwarded`, and `X-Forwarded-Proto`, `X-Forwarded-Host` (that same host) and `X-Real-IP`
    /// are written only where the request has none. From any other peer, all five are the
    /// gateway's alone: whatever the request carried of them is replaced, or removed where the
    /// gateway has no value, so that a client cannot forge what the upstream believes of it
    /// (finding F-AH); the [`ALSO_FORGEABLE`] fields are removed from its request too. `listed`
    /// tells which of these fields the request has.
    fn write_to(&self, headers: &mut HeaderMap, host: Option<&HeaderValue>, listed: &Listed) {
        let (keep, also_forgeable, listed) = (self.trusted, listed.also_forgeable, &listed.lists);
        if keep && listed.forwarded_for {
            append_to_list(headers, X_FORWARDED_FOR, self.ip.as_bytes());
        } else {
            headers.insert(X_FORWARDED_FOR, self.ip.clone());
        }
        let (element, names_host) = self.element(host);
        match element {
            Some(element) if keep && listed.forwarded => {
                append_to_list(headers, header::FORWARDED, element.as_bytes());
            }
            Some(element) => {
                headers.insert(header::FORWARDED, element);
            }
            None if !keep && listed.forwarded => {
                headers.remove(header::FORWARDED);
            }
            None => {}
        }
        let host = host.filter(|_| names_host);
        if keep {
            headers.entry(X_FORWARDED_PROTO).or_insert_with(|| self.proto.clone());
            if let Some(host) = host {
                headers.entry(X_FORWARDED_HOST).or_insert_with(|| host.clone());
            }
            headers.entry(X_REAL_IP).or_insert_with(|| self.ip.clone());
        } else {
            headers.insert(X_FORWARDED_PROTO, self.proto.clone());
            match host {
                Some(host) => headers.insert(X_FORWARDED_HOST, host.clone()),
                None => headers.remove(X_FORWARDED_HOST),
            };
            headers.insert(X_REAL_IP, self.ip.clone());
            if also_forgeable {
                for name in &ALSO_FORGEABLE {
                    headers.remove(name);
                }
            }
        }
    }

    /// The `Forwarded` element for `host`: the first one written when it was for the same,
    /// else a new one; and whether it names `host`.
    fn element(&self, host: Option<&HeaderValue>) -> (Option<HeaderValue>, bool) {
        if let Some(first) = self.first.get()
            && first.host.as_deref() == host.map(HeaderValue::as_bytes)
        {
            return (Some(first.value.clone()), first.names_host);
        }
        let plain = host.map(HeaderValue::as_bytes).filter(|h| is_plain_host(h));
        let scheme = self.scheme;
        let mut element = Vec::with_capacity(
            self.node.len() + plain.map_or(0, |h| h.len() + 8) + ";proto=".len() + scheme.len(),
        );
        element.extend_from_slice(self.node.as_bytes());
        if let Some(plain) = plain {
            element.extend_from_slice(b";host=\"");
            element.extend_from_slice(plain);
            element.push(b'"');
        }
        element.extend_from_slice(b";proto=");
        element.extend_from_slice(scheme.as_bytes());
        let names_host = plain.is_some();
        let Ok(value) = HeaderValue::from_maybe_shared(Bytes::from(element)) else {
            return (None, names_host);
        };
        let host = host.map(|host| host.as_bytes().into());
        let _ = self.first.set(Element { host, value: value.clone(), names_host });
        (Some(value), names_host)
    }
}

/// Whether `host` can go into a quoted string as is (letters, digits, `.-:[]_`).
fn is_plain_host(host: &[u8]) -> bool {
    !host.is_empty()
        && host.iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_')
        })
}

/// Appends `item` to the comma-separated list `name`, folding earlier lines into one line.
fn append_to_list(headers: &mut HeaderMap, name: HeaderName, item: &[u8]) {
    let mut combined = Vec::new();
    for line in headers.get_all(&name).iter().filter(|line| !line.is_empty()) {
        combined.extend_from_slice(line.as_bytes());
        combined.extend_from_slice(b", ");
    }
    combined.extend_from_slice(item);
    if let Ok(value) = HeaderValue::from_maybe_shared(Bytes::from(combined)) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// The size of what `function` returns: of an `async` block's future, whose type has no
    /// name.
    fn returned_size<A, B, C, R>(_function: impl FnOnce(A, B, C) -> R) -> usize {
        size_of::<R>()
    }

    /// The proxy's future, boxed for every forwarded request, fits in one of mimalloc's small
    /// blocks (1 KiB at most): a larger one is allocated on mimalloc's slower path, and its
    /// copy into the box costs more (docs/performance.md, "What would move the rest").
    #[test]
    fn a_forwarded_requests_future_fits_in_a_small_block() {
        let size = returned_size(Proxy::send);
        println!("the proxy's future: {size} bytes");
        assert!(size <= 1024, "the proxy's future takes {size} bytes");
    }

    /// The upstream URI of a request: the upstream's scheme and authority, the request's path
    /// and query below the upstream's prefix, `*` as it is.
    #[rstest]
    #[case("http://up.test:8080", "/a/b?c=1", "http://up.test:8080/a/b?c=1")]
    #[case("https://up.test", "/", "https://up.test/")]
    #[case("http://up.test/api", "/a?c=1", "http://up.test/api/a?c=1")]
    #[case("http://up.test/api", "*", "http://up.test*")]
    #[case("http://up.test", "*", "http://up.test*")]
    #[case("http://up.test", "http://client.test/x", "http://up.test/x")]
    fn the_upstream_uri_is_the_requests_path_below_the_prefix(
        #[case] upstream: &str,
        #[case] target: &str,
        #[case] expected: &str,
    ) {
        let upstream = Upstream::parse(upstream).unwrap();
        let uri = upstream.uri_for(&target.parse().unwrap()).unwrap();
        assert_eq!(uri.to_string(), expected);
    }

    #[track_caller]
    fn check_upstream(text: &str, expected: Result<(&str, &str), &str>) {
        let got = Upstream::parse(text);
        match (got, expected) {
            (Ok(up), Ok((authority, prefix))) => {
                assert_eq!((up.authority.as_str(), up.prefix.as_str()), (authority, prefix));
            }
            (Err(e), Err(part)) => assert!(e.contains(part), "{e}"),
            (got, expected) => panic!("{text}: got {got:?}, expected {expected:?}"),
        }
    }

    /// A request on a connection's timer (see [`SharedTimer`]) answered after `answer_after`:
    /// `Ok` if the answer came first, else how long after its start `--upstream-timeout`
    /// (`timeout`) cut it.
    async fn timed_request(
        home: &SharedTimer,
        timeout: Duration,
        answer_after: Duration,
    ) -> Result<(), Duration> {
        let started = Instant::now();
        let mut timer = ResponseTimer::start(home, started + timeout);
        let mut answer = std::pin::pin!(tokio::time::sleep(answer_after));
        std::future::poll_fn(|cx| {
            if answer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            timer.poll_expired(cx).map(|()| Err(started.elapsed()))
        })
        .await
    }

    /// The shared timer times each request from its own start, exactly, whatever state the
    /// requests before left it in: fired and not moved since (the idle gap of a kept-alive
    /// connection), set for an earlier request's instant, or for a later one than this request's
    /// (a response body's `--upstream-read-timeout`, see [`ReadTimer`]), and last polled by
    /// another task, gone since (an HTTP/2 stream). On tokio's paused clock, which moves to the
    /// next timer when every task waits: a timer that was not armed, or woke no one, would let the
    /// answer come first, and one armed for another instant would cut at that one.
    ///
    /// `tests/gateway.rs` `each_request_of_a_connection_gets_its_own_upstream_timeout` checks
    /// the same through the gateway, on the real clock, with margins for a busy machine.
    #[tokio::test(start_paused = true)]
    async fn each_request_on_the_shared_timer_is_cut_at_its_own_instant() {
        let timeout = Duration::from_secs(1);
        let home = SharedTimer::default();
        let ms = Duration::from_millis;
        assert_eq!(timed_request(&home, timeout, ms(10)).await, Ok(()));
        tokio::time::sleep(timeout / 2).await;
        // Answered after the first request's instant, before its own.
        assert_eq!(timed_request(&home, timeout, ms(700)).await, Ok(()));
        // Idle past every instant set so far: the timer fired, and stays so until taken.
        tokio::time::sleep(timeout + timeout / 4).await;
        for _ in 0..2 {
            assert_eq!(timed_request(&home, timeout, ms(3000)).await, Err(timeout));
        }
        // A response body waits on the timer for a minute, and gives it back set for then.
        let mut read = home.take(Instant::now() + ms(60_000));
        let read_due = Instant::now() + ms(60_000);
        std::future::poll_fn(|cx| {
            assert!(poll_until(&mut read, read_due, cx).is_pending());
            Poll::Ready(())
        })
        .await;
        home.give_back(read);
        assert_eq!(timed_request(&home, timeout, ms(3000)).await, Err(timeout));
        // Requests of other tasks, at once and staggered: the first holds the connection's
        // timer, the second makes its own and gives it back first, the third takes that one.
        let home = Arc::new(home);
        let spawn = |after: Duration, answer_after: Duration| {
            let home = Arc::clone(&home);
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                timed_request(&home, timeout, answer_after).await
            })
        };
        let first = spawn(Duration::ZERO, ms(3000));
        let second = spawn(timeout / 4, ms(10));
        let third = spawn(timeout / 2, ms(3000));
        assert_eq!(first.await.unwrap(), Err(timeout));
        assert_eq!(second.await.unwrap(), Ok(()));
        assert_eq!(third.await.unwrap(), Err(timeout));
        // Those tasks are gone; a request of this one still gets its wake-up.
        tokio::time::sleep(timeout * 2).await;
        assert_eq!(timed_request(&home, timeout, ms(3000)).await, Err(timeout));
    }

    #[rstest]
    #[case::plain("http://127.0.0.1:9000", Ok(("127.0.0.1:9000", "")))]
    #[case::no_scheme_refused("localhost:9000", Err("no scheme; write http://localhost:9000"))]
    #[case::fragment_refused("http://a.test/#top", Err("a fragment is never sent"))]
    #[case::trailing_slash_dropped("http://a.test/", Ok(("a.test", "")))]
    #[case::path_prefix_kept("http://a.test/api/", Ok(("a.test", "/api")))]
    #[case::https("https://a.test:8443/api", Ok(("a.test:8443", "/api")))]
    #[case::other_schemes_are_refused("ftp://a.test", Err("only http:// and https://"))]
    #[case::query_is_refused("http://a.test/?x=1", Err("query"))]
    #[case::userinfo_is_refused("http://u:p@a.test", Err("user information"))]
    #[case::garbage_is_refused("http://a b", Err("invalid upstream URL"))]
    #[case::ipv6("http://[::1]:8080/api", Ok(("[::1]:8080", "/api")))]
    #[case::ipv6_without_a_port("http://[::1]/api", Ok(("[::1]", "/api")))]
    #[case::an_empty_port_is_the_schemes("http://a.test:/api", Ok(("a.test:", "/api")))]
    // Finding F-CQ: before, taken, and every request went to port 80.
    #[case::a_port_past_65535_is_refused("http://127.0.0.1:99999", Err("the port 99999 is past"))]
    #[case::a_port_of_65536_is_refused("https://[::1]:65536/api", Err("the port 65536 is past"))]
    // Finding F-DC: the prefix by the rule of a folder's service address.
    #[case::a_parent_segment_is_refused("http://a.test/api/../admin", Err("has a dot segment"))]
    #[case::an_escaped_parent_is_refused("http://a.test/api/%2e%2e/x", Err("has a dot segment"))]
    #[case::a_current_segment_is_refused("http://a.test/./api", Err("has a dot segment"))]
    #[case::a_backslashed_parent_is_refused("http://a.test/a\\..\\b", Err("has a dot segment"))]
    #[case::a_backslash_is_a_slash("http://a.test/a\\b", Ok(("a.test", "/a/b")))]
    #[case::non_ascii_is_escaped("http://a.test/caf\u{e9}", Ok(("a.test", "/caf%C3%A9")))]
    #[case::a_short_escape_is_kept("http://a.test/a%2", Ok(("a.test", "/a%2")))]
    #[case::dots_in_a_name_are_kept("http://a.test/v1.2/..x", Ok(("a.test", "/v1.2/..x")))]
    fn upstream_urls(#[case] text: &str, #[case] expected: Result<(&str, &str), &str>) {
        check_upstream(text, expected);
    }

    /// `Listed::of` finds each hop-by-hop field and each of the other forgeable fields through
    /// their one-byte filters ([`starts_with_one_of`]), whatever their case, and no other field.
    #[test]
    fn every_hop_by_hop_and_other_forgeable_field_is_found() {
        let listed = |name: &str| {
            Listed::of(&crate::header_map(&[("origin", "https://a.test"), (name, "1")]))
        };
        let spellings = |name: &HeaderName| [name.to_string(), name.as_str().to_ascii_uppercase()];
        for name in HOP_BY_HOP.iter().chain([&header::UPGRADE]).flat_map(spellings) {
            assert!(listed(&name).hop_by_hop, "{name}");
        }
        for name in ALSO_FORGEABLE.iter().flat_map(spellings) {
            assert!(listed(&name).also_forgeable, "{name}");
        }
        let others = [("accept", "*/*"), ("cache-control", "no-cache"), ("x-request-id", "1")];
        let others = Listed::of(&crate::header_map(&others));
        assert!(!others.hop_by_hop && !others.also_forgeable);
    }

    #[test]
    fn hop_by_hop_fields_and_connection_tokens_are_removed() {
        let mut headers = crate::header_map(&[
            ("connection", "keep-alive, X-Secret-Hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("proxy-authorization", "Basic x"),
            ("content-type", "text/plain"),
            ("trailer", "x-checksum"),
        ]);
        remove_hop_by_hop(&mut headers);
        let names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["content-type", "trailer"]);
    }

    #[rstest]
    #[case::one_length(200, &["5"], &["5"])]
    #[case::on_two_lines(200, &["5", "5"], &["5"])]
    #[case::as_a_list(200, &["5 , 5"], &["5"])]
    #[case::a_list_on_two_lines(200, &["5, 5", "5"], &["5"])]
    #[case::kept_on_a_304(304, &["5"], &["5"])]
    #[case::removed_from_a_204(204, &["5"], &[])]
    #[case::removed_from_a_1xx(103, &["0"], &[])]
    #[case::none(200, &[], &[])]
    fn responses_keep_one_length_where_their_status_allows_one(
        #[case] status: u16,
        #[case] lines: &[&'static str],
        #[case] expected: &[&str],
    ) {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(header::CONTENT_LENGTH, HeaderValue::from_static(line));
        }
        headers.append(header::CONNECTION, HeaderValue::from_static("x-hop"));
        headers.append(HeaderName::from_static("x-hop"), HeaderValue::from_static("1"));
        assert!(response_fields(StatusCode::from_u16(status).unwrap(), &mut headers));
        let kept: Vec<&HeaderValue> = headers.get_all(header::CONTENT_LENGTH).iter().collect();
        assert_eq!(kept, expected);
        assert_eq!(headers.len(), expected.len(), "{headers:?}");
    }

    #[rstest]
    #[case::chunked(&["chunked"], true)]
    #[case::any_case(&["Chunked"], true)]
    #[case::gzip_then_chunked(&["gzip, chunked"], false)]
    #[case::gzip_alone(&["gzip"], false)]
    #[case::on_two_lines(&["gzip", "chunked"], false)]
    #[case::chunked_twice(&["chunked, chunked"], false)]
    fn responses_with_a_coding_hyper_leaves_in_place_are_refused(
        #[case] lines: &[&'static str],
        #[case] forwarded: bool,
    ) {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(header::TRANSFER_ENCODING, HeaderValue::from_static(line));
        }
        assert_eq!(response_fields(StatusCode::OK, &mut headers), forwarded, "{lines:?}");
    }

    #[rstest]
    #[case::head_with_a_length(true, 200, &[("content-length", "57")], true)]
    #[case::head_chunked(true, 200, &[("transfer-encoding", "chunked")], true)]
    #[case::head_with_length_zero(true, 200, &[("content-length", "0")], false)]
    #[case::head_without_framing(true, 200, &[], false)]
    #[case::no_content_with_a_length(false, 204, &[("content-length", "5")], true)]
    #[case::not_modified_chunked(false, 304, &[("transfer-encoding", "chunked")], true)]
    #[case::not_modified_without_framing(false, 304, &[], false)]
    #[case::get_with_a_length(false, 200, &[("content-length", "57")], false)]
    fn bodiless_responses_that_declare_a_body_close_their_connection(
        #[case] head: bool,
        #[case] status: u16,
        #[case] fields: &[(&'static str, &'static str)],
        #[case] closed: bool,
    ) {
        let headers = crate::header_map(fields);
        let status = StatusCode::from_u16(status).unwrap();
        assert_eq!(may_follow_with_a_body(head, status, &headers), closed);
    }

    #[test]
    fn trailers_keep_only_the_fields_a_trailer_may_carry() {
        let mut trailers = crate::header_map(&[
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers"),
            ("upgrade", "x"),
            ("trailer", "x-checksum"),
            ("content-length", "5"),
            ("content-type", "text/plain"),
            ("host", "a.test"),
            ("set-cookie", "a=1"),
            ("x-checksum", "abc"),
            ("server-timing", "db;dur=53"),
        ]);
        trailer_fields(&mut trailers);
        let names: Vec<&str> = trailers.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["x-checksum", "server-timing"]);
    }

    #[test]
    fn http2_cookie_fields_are_joined_into_one() {
        let mut headers = HeaderMap::new();
        for cookie in ["a=1", "b=2", "c=3"] {
            headers.append(header::COOKIE, HeaderValue::from_static(cookie));
        }
        join_cookies(&mut headers);
        let lines: Vec<&HeaderValue> = headers.get_all(header::COOKIE).iter().collect();
        assert_eq!(lines, ["a=1; b=2; c=3"]);
    }

    #[rstest]
    #[case::http11_without_via(Version::HTTP_11, &[], "1.1 cors-gateway")]
    #[case::http2(Version::HTTP_2, &[], "2 cors-gateway")]
    #[case::http10(Version::HTTP_10, &[], "1.0 cors-gateway")]
    #[case::appended_to_earlier_lines(Version::HTTP_11, &["1.0 a", "1.1 b (b/1)"], "1.0 a, 1.1 b (b/1), 1.1 cors-gateway")]
    fn via_is_appended(
        #[case] version: Version,
        #[case] earlier: &[&'static str],
        #[case] expected: &str,
    ) {
        let mut headers = HeaderMap::new();
        for line in earlier {
            headers.append(header::VIA, HeaderValue::from_static(line));
        }
        let listed = Listed::of(&headers).lists.via;
        Via::new(VIA_PSEUDONYM).unwrap().append_to(&mut headers, version, listed);
        let lines: Vec<&HeaderValue> = headers.get_all(header::VIA).iter().collect();
        assert_eq!(lines, [expected]);
    }

    #[rstest]
    #[case::default(VIA_PSEUDONYM, true)]
    #[case::with_digits_and_dots("edge-1.eu", true)]
    #[case::empty("", false)]
    #[case::blank("a b", false)]
    #[case::comma("a,b", false)]
    #[case::non_ascii("\u{e9}", false)]
    fn pseudonyms(#[case] text: &str, #[case] valid: bool) {
        assert_eq!(parse_pseudonym(text).is_ok(), valid);
    }

    /// `client.write_to` as `Proxy::prepare` calls it.
    fn write_forwarded(client: &ForwardedFor, headers: &mut HeaderMap, host: Option<&HeaderValue>) {
        let listed = Listed::of(headers);
        client.write_to(headers, host, &listed);
    }

    /// The client of a connection from `peer`, over `scheme`, `trusted` or not.
    fn client(peer: &str, scheme: &'static str, trusted: bool) -> ForwardedFor {
        ForwardedFor::new(peer.parse().unwrap(), scheme, trusted)
    }

    /// Every line of each forwarding field, in the order of [`FORWARDING_FIELDS`].
    fn forwarding_lines(headers: &HeaderMap) -> Vec<Vec<&str>> {
        FORWARDING_FIELDS
            .iter()
            .map(|name| headers.get_all(*name).iter().map(|v| v.to_str().unwrap()).collect())
            .collect()
    }

    const FORWARDING_FIELDS: [&str; 5] =
        ["x-forwarded-for", "forwarded", "x-forwarded-proto", "x-forwarded-host", "x-real-ip"];

    /// What a client in front of the gateway sends to pass itself off as another: each of
    /// [`FORWARDING_FIELDS`], `X-Forwarded-For` on two lines.
    fn forged() -> HeaderMap {
        let element = "for=203.0.113.7;host=evil.example;proto=https";
        let values = ["203.0.113.7", element, "https", "evil.example", "203.0.113.7"];
        let mut headers =
            crate::header_map(&FORWARDING_FIELDS.into_iter().zip(values).collect::<Vec<_>>());
        headers.append(X_FORWARDED_FOR, HeaderValue::from_static("198.51.100.1"));
        headers
    }

    #[rstest]
    #[case::a_trusted_peers_lists_are_appended_to_and_its_other_fields_kept(true, [
        "203.0.113.7, 198.51.100.1, ::1",
        "for=203.0.113.7;host=evil.example;proto=https, for=\"[::1]\";host=\"gw.test:8080\";proto=http",
        "https",
        "evil.example",
        "203.0.113.7",
    ])]
    #[case::an_untrusted_peers_fields_are_replaced(false, [
        "::1",
        "for=\"[::1]\";host=\"gw.test:8080\";proto=http",
        "http",
        "gw.test:8080",
        "::1",
    ])]
    fn forged_forwarding_fields(#[case] trusted: bool, #[case] expected: [&str; 5]) {
        let mut headers = forged();
        let host = HeaderValue::from_static("gw.test:8080");
        write_forwarded(&client("[::1]:5000", "http", trusted), &mut headers, Some(&host));
        assert_eq!(forwarding_lines(&headers), expected.map(|line| vec![line]));
    }

    #[test]
    fn an_untrusted_peers_host_field_goes_when_the_gateway_names_no_host() {
        let mut headers = forged();
        write_forwarded(&client("192.0.2.1:5000", "https", false), &mut headers, None);
        assert_eq!(
            forwarding_lines(&headers),
            [
                vec!["192.0.2.1"],
                vec!["for=192.0.2.1;proto=https"],
                vec!["https"],
                vec![],
                vec!["192.0.2.1"],
            ]
        );
    }

    #[rstest]
    #[case::trusted(true)]
    #[case::untrusted(false)]
    fn forwarding_fields_are_written_when_absent(#[case] trusted: bool) {
        let mut headers = HeaderMap::new();
        let host = HeaderValue::from_static("gw.test");
        let client = client("[::ffff:192.0.2.1]:5000", "https", trusted);
        write_forwarded(&client, &mut headers, Some(&host));
        assert_eq!(
            forwarding_lines(&headers),
            [
                vec!["192.0.2.1"],
                vec!["for=192.0.2.1;host=\"gw.test\";proto=https"],
                vec!["https"],
                vec!["gw.test"],
                vec!["192.0.2.1"],
            ]
        );
        // The next request on the same connection gets fields of its own.
        let mut next = HeaderMap::new();
        write_forwarded(&client, &mut next, None);
        assert_eq!(next["x-forwarded-for"], "192.0.2.1");
        assert_eq!(next[header::FORWARDED], "for=192.0.2.1;proto=https");
        assert!(!next.contains_key("x-forwarded-host"));
    }

    #[test]
    fn a_connection_reuses_its_forwarded_element_only_for_the_same_host() {
        let client = client("192.0.2.1:5000", "https", false);
        let forwarded = |host: &'static str| {
            let mut headers = HeaderMap::new();
            write_forwarded(&client, &mut headers, Some(&HeaderValue::from_static(host)));
            let text = |name: &str| headers[name].to_str().unwrap().to_owned();
            (text("forwarded"), text("x-forwarded-host"))
        };
        for host in ["a.test", "b.test", "a.test"] {
            let element = format!("for=192.0.2.1;host=\"{host}\";proto=https");
            assert_eq!(forwarded(host), (element, host.to_owned()));
        }
    }

    #[rstest]
    #[case::first_request(false)]
    #[case::reused_element(true)]
    fn a_host_with_quotes_is_left_out_of_forwarded_and_x_forwarded_host(#[case] twice: bool) {
        let client = client("127.0.0.1:1", "https", false);
        let host = HeaderValue::from_static("a\"b");
        let mut headers = forged();
        write_forwarded(&client, &mut headers, Some(&host));
        if twice {
            headers = forged();
            write_forwarded(&client, &mut headers, Some(&host));
        }
        assert_eq!(headers[header::FORWARDED], "for=127.0.0.1;proto=https");
        assert!(!headers.contains_key("x-forwarded-host"), "{headers:?}");
    }

    #[rstest]
    #[case::ipv4_range("10.0.0.0/8", "10.1.2.3", true)]
    #[case::ipv4_outside("10.0.0.0/8", "11.0.0.1", false)]
    #[case::bare_ipv4("127.0.0.1", "127.0.0.1", true)]
    #[case::bare_ipv4_other("127.0.0.1", "127.0.0.2", false)]
    #[case::host_bits_are_dropped("192.168.1.7/24", "192.168.1.200", true)]
    #[case::ipv6_range("fd00::/8", "fd12::1", true)]
    #[case::bare_ipv6("::1", "::1", true)]
    #[case::ipv4_mapped_peer("10.0.0.0/8", "::ffff:10.0.0.9", true)]
    #[case::ipv4_range_is_not_ipv6("0.0.0.0/0", "::1", false)]
    #[case::spaces_around(" 10.0.0.0/8 ", "10.0.0.1", true)]
    fn trusted_proxy_ranges(#[case] range: &str, #[case] peer: &str, #[case] trusted: bool) {
        let proxies = TrustedProxies::new(vec![parse_trusted_proxy(range).unwrap()]);
        assert_eq!(proxies.trusts(peer.parse().unwrap()), trusted);
    }

    #[rstest]
    #[case::empty("")]
    #[case::a_name("lb.internal")]
    #[case::prefix_too_long("10.0.0.0/33")]
    #[case::ipv6_prefix_too_long("fd00::/129")]
    #[case::bracketed("[::1]")]
    #[case::with_a_port("10.0.0.1:80")]
    fn bad_trusted_proxies_are_refused(#[case] text: &str) {
        let error = parse_trusted_proxy(text).unwrap_err();
        assert!(error.contains("invalid trusted proxy"), "{error}");
    }

    #[test]
    fn no_peer_is_trusted_by_default() {
        assert!(!TrustedProxies::default().trusts("127.0.0.1".parse().unwrap()));
    }
}
