//! A steady but slow HTTP/2 reader, for measuring how slow a reader `--send-timeout` lets
//! through on HTTP/2 (docs/operations.md, "How slow a reader `--send-timeout` lets through").
//!
//! `cargo run --release -p cors-gateway --example h2_slow_reader -- ADDR PATH RATE SECS`
//! asks the gateway at `ADDR` (prior knowledge, no TLS) for `PATH` and takes the body up at
//! `RATE` bytes a second: the stream's and the connection's windows are 64 KiB, and it gives
//! back window only for what it has taken up at that rate. It stops after `SECS` seconds and
//! says whether the stream was kept or how it ended, and how much it read.

use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error>;

#[expect(clippy::print_stdout, reason = "the measurement is what the example prints")]
#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [address, path, rate, secs] = args.as_slice() else {
        return Err("usage: h2_slow_reader ADDR PATH RATE SECS".into());
    };
    let (rate, secs): (f64, u64) = (rate.parse()?, secs.parse()?);
    let window = 65_535;
    let stream = tokio::net::TcpStream::connect(address.as_str()).await?;
    let (mut client, connection) = h2::client::Builder::new()
        .initial_window_size(window)
        .initial_connection_window_size(window)
        .handshake::<_, bytes::Bytes>(stream)
        .await?;
    let connection = tokio::spawn(connection);
    let request = http::Request::get(format!("http://{address}{path}")).body(())?;
    let (response, _) = client.send_request(request, true)?;
    let mut body = response.await?.into_body();
    let start = Instant::now();
    let limit = Duration::from_secs(secs);
    let mut read = 0usize;
    let outcome = loop {
        // A reader slower than the gateway sends always finds a chunk waiting.
        if start.elapsed() >= limit {
            break "kept".to_owned();
        }
        let Ok(next) =
            tokio::time::timeout(limit.saturating_sub(start.elapsed()), body.data()).await
        else {
            break "kept".to_owned();
        };
        match next {
            None => break "ended".to_owned(),
            Some(Err(error)) => break format!("cut ({error})"),
            Some(Ok(data)) => {
                read += data.len();
                #[expect(clippy::cast_precision_loss, reason = "a byte count, far below 2^52")]
                let taken_up = start + Duration::from_secs_f64(read as f64 / rate);
                tokio::time::sleep_until(taken_up.into()).await;
                body.flow_control().release_capacity(data.len())?;
            }
        }
    };
    println!(
        "{:.1} KiB/s: {outcome} after {:.1} s, {} KiB read",
        rate / 1024.0,
        start.elapsed().as_secs_f64(),
        read / 1024
    );
    connection.abort();
    Ok(())
}
