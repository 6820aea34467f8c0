//! A WebSocket upstream and client helpers (tokio-tungstenite), for the tests of tunnels through
//! the gateway.
#![allow(clippy::unwrap_used, reason = "test fixture: a failed unwrap is a failed test")]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt as _, StreamExt as _};
use http::HeaderMap;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{WebSocketStream, client_async};

use super::PATIENCE;

/// A WebSocket upstream that answers every text message with `echo: TEXT` and every binary one
/// with the same bytes reversed, and records the handshakes and TCP connections it saw.
pub struct WsUpstream {
    pub address: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    pub handshakes: Arc<Mutex<Vec<HeaderMap>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WsUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WsUpstream {
    /// Waits (bounded) for the connection a gateway opens at start to see whether this upstream
    /// is reachable, then counts [`WsUpstream::connections`] from 0 again: the tunnels' alone.
    pub async fn forget_the_start_probe(&self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.connections.load(Ordering::SeqCst) == 0 {
            assert!(tokio::time::Instant::now() < deadline, "the gateway never checked it");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        self.connections.store(0, Ordering::SeqCst);
    }

    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let (count, log) = (Arc::clone(&connections), Arc::clone(&handshakes));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    #[expect(
                        clippy::result_large_err,
                        reason = "the callback's error type is tungstenite's, not ours"
                    )]
                    let record = |request: &tungstenite::handshake::server::Request, response| {
                        log.lock().unwrap().push(request.headers().clone());
                        Ok(response)
                    };
                    let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, record).await
                    else {
                        return;
                    };
                    while let Some(Ok(message)) = socket.next().await {
                        let reply = match message {
                            Message::Text(text) => Message::text(format!("echo: {text}")),
                            Message::Binary(bytes) => {
                                Message::binary(bytes.iter().rev().copied().collect::<Vec<u8>>())
                            }
                            Message::Close(_) => break,
                            _ => continue,
                        };
                        if socket.send(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self { address, connections, handshakes, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// Opens a WebSocket to `path` over `stream` (plain or TLS), with `origin` if given.
pub async fn open<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    url: &str,
    origin: Option<&str>,
) -> Result<(WebSocketStream<S>, http::StatusCode), tungstenite::Error> {
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    let (socket, response) =
        tokio::time::timeout(PATIENCE, client_async(request, stream)).await.unwrap()?;
    Ok((socket, response.status()))
}

pub async fn connect(address: SocketAddr) -> TcpStream {
    TcpStream::connect(address).await.unwrap()
}

/// Sends a text and a binary message and checks both echoes.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut WebSocketStream<S>,
    n: usize,
) {
    socket.send(Message::text(format!("hello {n}"))).await.unwrap();
    let reply = tokio::time::timeout(PATIENCE, socket.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(reply, Message::text(format!("echo: hello {n}")));
    socket.send(Message::binary(vec![1, 2, 3, u8::try_from(n % 256).unwrap()])).await.unwrap();
    let reply = tokio::time::timeout(PATIENCE, socket.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(reply, Message::binary(vec![u8::try_from(n % 256).unwrap(), 3, 2, 1]));
}
