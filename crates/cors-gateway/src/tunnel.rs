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

use crate::connection;

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
        line.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
    });
    let carries_http = protocols.as_bytes().split(|&b| b == b',').any(|protocol| {
        let protocol = protocol.trim_ascii();
        protocol.eq_ignore_ascii_case(b"h2c")
            || protocol.get(..5).is_some_and(|name| name.eq_ignore_ascii_case(b"HTTP/"))
    });
    (asks && !protocols.is_empty() && !carries_http).then(|| protocols.clone())
}

/// Sets `Connection: upgrade` and `Upgrade: protocol` on a message whose hop-by-hop fields were
/// removed: the upgrade request sent upstream, and the `101` sent back.
pub(crate) fn ask_upgrade(headers: &mut HeaderMap, protocol: HeaderValue) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, protocol);
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

/// Why a tunnel ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    /// One side closed, or failed.
    Closed,
    /// No byte either way for the idle timeout.
    Idle,
    /// The gateway is shutting down.
    Shutdown,
}

impl Tunnel {
    /// Copies bytes both ways until the tunnel ends, holding `slots` (the connection's slot and
    /// the upstream slots) until then.
    pub(crate) async fn run<T: Send>(self, slots: T) {
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
                    return Ended::Closed;
                }
                None => return Ended::Idle,
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
            Ended::Closed
        };
        let idle =
            connection::until_idle(idle_timeout, || (false, traffic.load(Ordering::Relaxed)));
        let ended = tokio::select! {
            ended = ends => ended,
            () = idle => Ended::Idle,
            _ = closing.changed() => Ended::Shutdown,
        };
        match ended {
            Ended::Closed => tracing::debug!(%peer, "tunnel closed"),
            Ended::Idle => tracing::debug!(%peer, timeout = ?idle_timeout, "closed an idle tunnel"),
            Ended::Shutdown => tracing::debug!(%peer, "closed a tunnel on shutdown"),
        }
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
    fn http11_upgrades(#[case] fields: &[(&str, &str)], #[case] expected: Option<&str>) {
        check(Version::HTTP_11, fields, expected);
    }

    #[test]
    fn http10_and_http2_requests_never_upgrade() {
        let fields = [("connection", "upgrade"), ("upgrade", "websocket")];
        check(Version::HTTP_10, &fields, None);
        check(Version::HTTP_2, &fields, None);
    }
}
