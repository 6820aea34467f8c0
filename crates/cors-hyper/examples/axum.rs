//! The CORS layer on an axum router, with the policy read from a cors-flex YAML file.
//!
//! ```text
//! cargo run -p cors-hyper --example axum [POLICY_FILE] [ADDR]
//! curl -i http://127.0.0.1:3000/ -H 'Origin: https://app.example.com'
//! ```
//!
//! Stops on Ctrl-C.
#![expect(clippy::print_stdout, reason = "an example tells its user where it listens")]

use axum::{Router, routing::get};
use cors_hyper::CorsLayer;

const STRICT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/policies/strict.yaml");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let policy = args.next().unwrap_or_else(|| STRICT.to_owned());
    let address = args.next().unwrap_or_else(|| "127.0.0.1:3000".to_owned());

    let cors = CorsLayer::from_yaml_file(&policy)?;
    let app = Router::new().route("/", get(|| async { "hello from axum\n" })).layer(cors);

    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
