//! cors-hyper's layer in front of an axum app, served on a loopback port and checked with real
//! HTTP/1.1 requests: an allowed request, a preflight, and a refused origin.
//!
//! Exits with status 0 when every answer is what the policy says, 1 otherwise.

use std::process::ExitCode;

use axum::Router;
use axum::routing::get;
use cors_hyper::{CorsLayer, OriginGroup, Policy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => {
            println!("axum-layer: all checks passed");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("axum-layer: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let policy = Policy::builder()
        .credentials(true)
        .group(
            OriginGroup::new(["https://app.example.com"])
                .allow_methods(["GET", "PUT"])
                .allow_headers(["content-type"])
                .expose_headers(["x-request-id"]),
        )
        .build()
        .map_err(|error| format!("invalid policy: {error}"))?;
    let app = Router::new()
        .route("/hello", get(|| async { ([("x-request-id", "42")], "hello\n") }))
        .layer(CorsLayer::new(policy));

    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("bind: {e}"))?;
    let address = listener.local_addr().map_err(|e| format!("local address: {e}"))?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    // An allowed cross-origin GET: forwarded to the app, answered with the grant.
    let allowed = send(address, "GET /hello", &["Origin: https://app.example.com"]).await?;
    expect(&allowed, "HTTP/1.1 200", "access-control-allow-origin: https://app.example.com")?;
    expect(&allowed, "hello", "access-control-allow-credentials: true")?;
    expect(&allowed, "vary: Origin", "access-control-expose-headers: x-request-id")?;

    // A preflight: answered by the layer, never by the app.
    let preflight = send(
        address,
        "OPTIONS /hello",
        &[
            "Origin: https://app.example.com",
            "Access-Control-Request-Method: PUT",
            "Access-Control-Request-Headers: content-type",
        ],
    )
    .await?;
    expect(&preflight, "access-control-allow-methods: GET, PUT", "access-control-max-age: 30")?;

    // A refused origin: answered 200 with no grant, and the app never runs (no body).
    let refused = send(address, "GET /hello", &["Origin: https://evil.example"]).await?;
    if refused.contains("access-control-allow-origin") || refused.contains("hello") {
        return Err(format!("a refused origin got a grant or the app's answer:\n{refused}"));
    }
    Ok(())
}

/// Sends one HTTP/1.1 request and returns the whole answer, header names lower-cased.
async fn send(
    address: std::net::SocketAddr,
    line: &str,
    headers: &[&str],
) -> Result<String, String> {
    let mut stream = TcpStream::connect(address).await.map_err(|e| format!("connect: {e}"))?;
    let mut request = format!("{line} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("write: {e}"))?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.map_err(|e| format!("read: {e}"))?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let lowered: Vec<String> = head
        .lines()
        .map(|line| match line.split_once(':') {
            Some((name, value)) => format!("{}:{value}", name.to_ascii_lowercase()),
            None => line.to_owned(),
        })
        .collect();
    Ok(format!("{}\r\n\r\n{body}", lowered.join("\r\n")))
}

/// Fails unless `answer` contains both `first` and `second`.
fn expect(answer: &str, first: &str, second: &str) -> Result<(), String> {
    for wanted in [first, second] {
        if !answer.contains(wanted) {
            return Err(format!("expected {wanted:?} in the answer:\n{answer}"));
        }
    }
    Ok(())
}
