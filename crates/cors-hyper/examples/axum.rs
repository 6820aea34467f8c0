//! The CORS layer on an axum router, with the policy read from a cors-flex YAML file.
//!
//! ```text
//! cargo run -p cors-hyper --example axum [POLICY_FILE] [ADDR]
//! curl -i http://127.0.0.1:3000/ -H 'Origin: https://app.example.com'
//! ```
//!
//! A file with errors stops it with one `FILE:LINE:COLUMN: error: ...` line each, and lint
//! warnings are printed the same way. Stops on Ctrl-C.
#![expect(clippy::print_stdout, reason = "an example tells its user where it listens")]

use std::process::ExitCode;

use axum::{Router, routing::get};
use cors_hyper::{CorsLayer, Policy};

const STRICT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/policies/strict.yaml");

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let policy = args.next().unwrap_or_else(|| STRICT.to_owned());
    let address = args.next().unwrap_or_else(|| "127.0.0.1:3000".to_owned());

    // `CorsLayer::from_yaml_file(&policy)?` in one step prints a bad file's errors as
    // `FILE:LINE:COLUMN` lines too, but logs the warnings with `tracing`: loading the policy
    // first prints the warnings without a tracing subscriber.
    let loaded = match Policy::from_yaml_file(&policy) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("{error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    for warning in &loaded.warnings {
        eprintln!("{warning}");
    }
    let cors = CorsLayer::new(loaded.policy);
    let app = Router::new().route("/", get(|| async { "hello from axum\n" })).layer(cors);

    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(ExitCode::SUCCESS)
}
