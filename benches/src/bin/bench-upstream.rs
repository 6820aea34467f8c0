//! The fast upstream of `cargo xtask bench --load` and `cargo xtask soak`: an HTTP/1.1 server on
//! loopback answering every request with `200 OK` and the body `ok` (once it has read the
//! request body, if there is one), on one thread.
//!
//! Usage: `bench-upstream [ADDR]` (default `127.0.0.1:0`); prints `listening on http://ADDR`
//! once bound (the convention `cargo xtask` waits for).

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // A request with a body is answered once the body is complete, as most APIs do: the slow
    // bodies of `cargo xtask soak` then meet the gateway's body timeout. The load test's
    // requests have none and are answered at once.
    let body = request.into_body();
    if !body.is_end_stream() {
        let _ = body.collect().await;
    }
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = cors_benches::listen_announced(&addr).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                    .await;
            });
        }
    })
}
