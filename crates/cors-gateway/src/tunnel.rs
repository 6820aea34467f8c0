//! HTTP/1.1 upgrades (WebSocket and other protocols) proxied end to end: which requests ask
//! for one, and the tunnel between the client and the upstream once both switched protocols.
//!
//! An upgrade request goes through the CORS layer like any actual request: an allowed (or
//! same-origin, or origin-less) one is forwarded with its `Upgrade`, and a refused one is
//! answered `200` by the layer and never reaches the upstream (A2), which is the defence against
//! cross-site WebSocket hijacking. When the upstream answers `101`, the gateway answers `101`
//! too and copies bytes both ways until either side closes, the tunnel carries nothing for
//! `--tunnel-idle-timeout`, or the gateway shuts down.
//!
//! A tunnel keeps its client connection's slot of `--max-connections` and its upstream slots
//! (`--upstream-max-connections`, `--upstream-max-per-connection`) until it closes: it is still
//! one client connection and one upstream connection.
//!
//! HTTP/2 has no `Upgrade` (RFC 9113 section 8.6); WebSocket over HTTP/2 (extended CONNECT,
//! RFC 8441) is not supported: the gateway does not announce `SETTINGS_ENABLE_CONNECT_PROTOCOL`,
//! so clients fall back to HTTP/1.1, and `CONNECT` itself is refused with `405`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::watch;

use crate::checks::list_elements;
use crate::connection::{self, Closed};

/// The buffer each direction of a tunnel copies through.
const PUMP_BUFFER: usize = 16 * 1024;

/// The `Upgrade` value of `request` if it asks for a protocol the gateway tunnels: an HTTP/1.1
/// request with `upgrade` among its `Connection` options and one `Upgrade` field.
///
/// Upgrades to HTTP itself (`h2c`, `HTTP/2.0`, any `HTTP/...`) are not tunnelled: the requests
/// inside such a tunnel would never pass the CORS layer. Those requests are forwarded without
/// their `Upgrade`, which a server may ignore (RFC 9110 section 7.8), as before.
pub(crate) fn requested<B>(request: &Request<B>) -> Option<HeaderValue> {
    if request.version() != Version::HTTP_11 {
        return None;
    }
    let headers = request.headers();
    // `Upgrade` first: most requests have none, and then `Connection` is not looked up.
    let mut lines = headers.get_all(header::UPGRADE).iter();
    let (Some(protocols), None) = (lines.next(), lines.next()) else { return None };
    let asks = headers.get_all(header::CONNECTION).iter().any(|line| {
        list_elements(line.as_bytes()).any(|option| option.eq_ignore_ascii_case(b"upgrade"))
    });
    let carries_http = list_elements(protocols.as_bytes()).any(|protocol| {
        let name = protocol_name(protocol);
        name.eq_ignore_ascii_case(b"h2c") || name.eq_ignore_ascii_case(b"HTTP")
    });
    (asks && !protocols.is_empty() && !carries_http).then(|| protocols.clone())
}

/// Sets `Connection: upgrade` and `Upgrade: protocol` on a message whose hop-by-hop fields were
/// removed: the upgrade request sent upstream, and the `101` sent back.
pub(crate) fn ask_upgrade(headers: &mut HeaderMap, protocol: HeaderValue) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, protocol);
}

/// What an upgrade request offered the upstream: the protocols of its `Upgrade` (see
/// [`requested`]) and its `Sec-WebSocket-Key`, as they went upstream.
#[derive(Debug)]
pub(crate) struct Offer {
    protocols: HeaderValue,
    key: Option<HeaderValue>,
}

impl Offer {
    /// The offer of a request about to go upstream with `headers`, asking for `protocols`.
    pub(crate) fn new(protocols: HeaderValue, headers: &HeaderMap) -> Self {
        let mut keys = headers.get_all(header::SEC_WEBSOCKET_KEY).iter();
        let key = match (keys.next(), keys.next()) {
            (Some(key), None) => Some(key.clone()),
            _ => None,
        };
        Self { protocols, key }
    }
}

/// The `Upgrade` value of an upstream's `101` to a request that made `offer`, when the upstream
/// really switched to a protocol offered: its one `Upgrade` line names only protocols of the
/// offer (RFC 9110 section 7.8: a server switches to one the client listed, and says which), and
/// a switch to WebSocket carries the `Sec-WebSocket-Accept` of the request's key (RFC 6455
/// section 4.2.2), which only a server that read the handshake can compute.
///
/// Anything else is not a tunnel to that protocol: a `101` without `Upgrade`, to another
/// protocol (`h2c`, which an upgrade request never offers upstream), or to WebSocket without the
/// key's answer, comes from an upstream that may still read HTTP on the connection, or from a
/// status it passed on from elsewhere. Tunnelled, the client's later requests would reach that
/// upstream as raw bytes, past the CORS layer and every check the gateway makes (WebSocket
/// smuggling; docs/robustness.md, finding F-M).
pub(crate) fn switched_to(offer: &Offer, response: &HeaderMap) -> Option<HeaderValue> {
    let mut lines = response.get_all(header::UPGRADE).iter();
    let (Some(switched), None) = (lines.next(), lines.next()) else { return None };
    let mut websocket = false;
    let mut any = false;
    for protocol in list_elements(switched.as_bytes()) {
        if !list_elements(offer.protocols.as_bytes()).any(|offered| is_offered(protocol, offered)) {
            return None;
        }
        // `websocket/13` is still WebSocket to a server that ignores the version.
        websocket |= protocol_name(protocol).eq_ignore_ascii_case(b"websocket");
        any = true;
    }
    let accepted = !websocket || offer.key.as_ref().is_some_and(|key| is_accept_of(key, response));
    (any && accepted).then(|| switched.clone())
}

/// Whether the protocol a `101` names is `offered`: the same, or its name alone when the offer
/// named a version too (`protocol-name ["/" protocol-version]`, compared without regard to
/// case).
fn is_offered(protocol: &[u8], offered: &[u8]) -> bool {
    protocol.eq_ignore_ascii_case(offered) || protocol.eq_ignore_ascii_case(protocol_name(offered))
}

/// The name of an `Upgrade` element, without its version: `protocol-name ["/" protocol-version]`
/// (RFC 9110 section 7.8). Servers that switch by name alone take `h2c/1` for `h2c` and
/// `websocket/13` for `websocket`.
fn protocol_name(protocol: &[u8]) -> &[u8] {
    protocol.split(|&b| b == b'/').next().unwrap_or(protocol)
}

/// The GUID of RFC 6455 section 1.3, appended to the key before it is hashed.
const WEBSOCKET_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Whether `response` has exactly one `Sec-WebSocket-Accept`, and it is the base64 of the SHA-1
/// of `key` and [`WEBSOCKET_GUID`] (RFC 6455 section 4.2.2, step 5.4).
fn is_accept_of(key: &HeaderValue, response: &HeaderMap) -> bool {
    use sha1::Digest as _;
    let mut lines = response.get_all(header::SEC_WEBSOCKET_ACCEPT).iter();
    let (Some(accept), None) = (lines.next(), lines.next()) else { return false };
    let mut hash = sha1::Sha1::new();
    hash.update(key.as_bytes().trim_ascii());
    hash.update(WEBSOCKET_GUID);
    let expected = data_encoding::BASE64.encode(&hash.finalize());
    accept.as_bytes().trim_ascii() == expected.as_bytes()
}

/// Both sides of an upgrade the upstream accepted.
pub(crate) struct Tunnel {
    /// The client's connection, once hyper has written the `101` to it.
    pub(crate) client: OnUpgrade,
    /// The upstream's connection, after its `101`.
    pub(crate) upstream: OnUpgrade,
    /// `--tunnel-idle-timeout` (zero: none).
    pub(crate) idle_timeout: Duration,
    pub(crate) peer: SocketAddr,
    /// Changes when the gateway shuts down.
    pub(crate) closing: watch::Receiver<bool>,
}

impl Tunnel {
    /// Copies bytes both ways until the tunnel ends, holding `slots` (the upstream slots and
    /// connection) until then; tells why it ended: [`Closed::TunnelEnded`] (one side closed or
    /// failed), [`Closed::TunnelIdle`] (no byte either way for the idle timeout) or
    /// [`Closed::Shutdown`].
    pub(crate) async fn run<T: Send>(self, slots: T) -> Closed {
        let _slots = slots;
        let Self { client, upstream, idle_timeout, peer, mut closing } = self;
        let traffic = Arc::new(AtomicU64::new(0));
        let ends = async {
            // Both sides must switch within the idle timeout too: a client that stops reading
            // before the 101 is written never completes its side.
            let switched = async { tokio::try_join!(client, upstream) };
            let (client, upstream) = match within(idle_timeout, switched).await {
                Some(Ok(both)) => both,
                Some(Err(error)) => {
                    tracing::debug!(%peer, %error, "the upgrade did not complete");
                    return Closed::TunnelEnded;
                }
                None => return Closed::TunnelIdle,
            };
            let (client_reads, client_writes) = tokio::io::split(TokioIo::new(client));
            let (upstream_reads, upstream_writes) = tokio::io::split(TokioIo::new(upstream));
            let result = tokio::try_join!(
                pump(client_reads, upstream_writes, &traffic),
                pump(upstream_reads, client_writes, &traffic),
            );
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "tunnel failed");
            }
            Closed::TunnelEnded
        };
        let idle =
            connection::until_idle(idle_timeout, || (false, traffic.load(Ordering::Relaxed)));
        let ended = tokio::select! {
            ended = ends => ended,
            () = idle => Closed::TunnelIdle,
            _ = closing.changed() => Closed::Shutdown,
        };
        match ended {
            Closed::TunnelIdle => {
                tracing::debug!(%peer, timeout = ?idle_timeout, "closed an idle tunnel");
            }
            Closed::Shutdown => tracing::debug!(%peer, "closed a tunnel on shutdown"),
            _ => tracing::debug!(%peer, "tunnel closed"),
        }
        ended
    }
}

/// `work`, bounded by `timeout` unless it is zero.
async fn within<T>(timeout: Duration, work: impl Future<Output = T>) -> Option<T> {
    if timeout.is_zero() {
        Some(work.await)
    } else {
        tokio::time::timeout(timeout, work).await.ok()
    }
}

/// Copies `from` to `to` until `from` ends, then shuts `to` down for writing; counts each read
/// that brought bytes in `traffic` (every byte written to one side was read from the other, so
/// reads alone tell whether the tunnel is in use).
///
/// Hand-written rather than `tokio::io::copy_bidirectional`, which would need both streams
/// wrapped to count their reads; this is the same loop with the count in it.
async fn pump<R, W>(mut from: R, mut to: W, traffic: &AtomicU64) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buffer = vec![0u8; PUMP_BUFFER];
    loop {
        let n = from.read(&mut buffer).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        traffic.fetch_add(1, Ordering::Relaxed);
        to.write_all(&buffer[..n]).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[track_caller]
    fn check(version: Version, fields: &[(&str, &str)], expected: Option<&str>) {
        let mut request = Request::builder().version(version);
        for (name, value) in fields {
            request = request.header(*name, *value);
        }
        let request = request.body(()).unwrap();
        assert_eq!(requested(&request).as_ref().map(|v| v.to_str().unwrap()), expected);
    }

    #[rstest]
    #[case::websocket(&[("connection", "Upgrade"), ("upgrade", "websocket")], Some("websocket"))]
    #[case::among_other_options(
        &[("connection", "keep-alive, upgrade"), ("upgrade", "websocket")],
        Some("websocket")
    )]
    #[case::on_a_second_connection_line(
        &[("connection", "keep-alive"), ("connection", "UPGRADE"), ("upgrade", "foo/2")],
        Some("foo/2")
    )]
    #[case::without_the_connection_option(&[("upgrade", "websocket")], None)]
    #[case::without_upgrade(&[("connection", "upgrade")], None)]
    #[case::empty_upgrade(&[("connection", "upgrade"), ("upgrade", "")], None)]
    #[case::two_upgrade_lines(
        &[("connection", "upgrade"), ("upgrade", "websocket"), ("upgrade", "foo")],
        None
    )]
    #[case::h2c_is_not_tunnelled(&[("connection", "upgrade, http2-settings"), ("upgrade", "h2c")], None)]
    #[case::http_versions_are_not_tunnelled(&[("connection", "upgrade"), ("upgrade", "HTTP/2.0")], None)]
    #[case::h2c_among_others(&[("connection", "upgrade"), ("upgrade", "websocket, H2C")], None)]
    #[case::h2c_with_a_version(&[("connection", "upgrade"), ("upgrade", "h2c/1")], None)]
    #[case::http_without_a_version(&[("connection", "upgrade"), ("upgrade", "http")], None)]
    fn http11_upgrades(#[case] fields: &[(&str, &str)], #[case] expected: Option<&str>) {
        check(Version::HTTP_11, fields, expected);
    }

    /// The key of RFC 6455 section 1.3 and its answer.
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    #[track_caller]
    fn check_switch(offered: &str, key: Option<&str>, fields: &[(&str, &str)], ok: bool) {
        let mut request = HeaderMap::new();
        if let Some(key) = key {
            request.insert(header::SEC_WEBSOCKET_KEY, HeaderValue::from_str(key).unwrap());
        }
        let offer = Offer::new(HeaderValue::from_str(offered).unwrap(), &request);
        let response = crate::header_map(fields);
        let switched = switched_to(&offer, &response);
        assert_eq!(switched.is_some(), ok, "{offered} -> {fields:?}");
        if let Some(protocol) = switched {
            assert_eq!(protocol, response[header::UPGRADE]);
        }
    }

    #[rstest]
    #[case::websocket_with_its_accept("websocket", &[("upgrade", "websocket"), ("sec-websocket-accept", ACCEPT)], true)]
    #[case::any_case("WebSocket", &[("upgrade", "websocket"), ("sec-websocket-accept", ACCEPT)], true)]
    #[case::one_of_the_offer("foo/2, websocket", &[("upgrade", "foo/2")], true)]
    #[case::the_name_of_an_offered_version("foo/2", &[("upgrade", "foo")], true)]
    #[case::no_upgrade("websocket", &[("sec-websocket-accept", ACCEPT)], false)]
    #[case::empty_upgrade("websocket", &[("upgrade", ""), ("sec-websocket-accept", ACCEPT)], false)]
    #[case::h2c_not_offered("websocket", &[("upgrade", "h2c"), ("sec-websocket-accept", ACCEPT)], false)]
    #[case::another_protocol("foo", &[("upgrade", "bar")], false)]
    #[case::another_version("foo/2", &[("upgrade", "foo/3")], false)]
    #[case::an_offered_one_and_another("foo", &[("upgrade", "foo, bar")], false)]
    #[case::two_upgrade_lines("foo", &[("upgrade", "foo"), ("upgrade", "foo")], false)]
    #[case::websocket_without_accept("websocket", &[("upgrade", "websocket")], false)]
    #[case::websocket_with_a_version_without_accept("websocket/13", &[("upgrade", "websocket/13")], false)]
    #[case::websocket_with_a_version_and_its_accept("websocket/13", &[("upgrade", "WebSocket/13"), ("sec-websocket-accept", ACCEPT)], true)]
    #[case::websocket_with_another_accept("websocket", &[("upgrade", "websocket"), ("sec-websocket-accept", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")], false)]
    #[case::websocket_with_two_accepts("websocket", &[("upgrade", "websocket"), ("sec-websocket-accept", ACCEPT), ("sec-websocket-accept", ACCEPT)], false)]
    fn a_101_is_a_switch_only_to_an_offered_protocol(
        #[case] offered: &str,
        #[case] fields: &[(&str, &str)],
        #[case] ok: bool,
    ) {
        check_switch(offered, Some(KEY), fields, ok);
    }

    #[test]
    fn a_switch_to_websocket_needs_the_request_key() {
        let fields = [("upgrade", "websocket"), ("sec-websocket-accept", ACCEPT)];
        check_switch("websocket", None, &fields, false);
        check_switch("websocket", Some("b3RoZXIga2V5IGhlcmUhIQ=="), &fields, false);
    }

    #[test]
    fn http10_and_http2_requests_never_upgrade() {
        let fields = [("connection", "upgrade"), ("upgrade", "websocket")];
        check(Version::HTTP_10, &fields, None);
        check(Version::HTTP_2, &fields, None);
    }
}
