//! The CORS layer in front of a plain hyper service, served by hyper-util (HTTP/1.1 and h2c).
//!
//! ```text
//! cargo run -p cors-hyper --example hyper [ADDR]
//! curl -i -X OPTIONS http://127.0.0.1:3000/ -H 'Origin: https://app.example.com' \
//!      -H 'Access-Control-Request-Method: PUT'
//! ```
//!
//! Stops on Ctrl-C.
#![expect(clippy::print_stdout, reason = "an example tells its user where it listens")]

use std::convert::Infallible;

use bytes::Bytes;
use cors_hyper::{CorsLayer, OriginGroup, Policy};
use http::{Method, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;

async fn hello(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::from("hello from hyper\n")))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let policy = Policy::builder()
        .credentials(true)
        .group(
            OriginGroup::new(["https://app.example.com"]).allow_methods([Method::GET, Method::PUT]),
        )
        .build()?;
    let cors = CorsLayer::new(policy);

    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let service = ServiceBuilder::new().layer(cors.clone()).service_fn(hello);
        tokio::spawn(async move {
            let connection = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .await;
            if let Err(error) = connection {
                eprintln!("connection error: {error}");
            }
        });
    }
}
