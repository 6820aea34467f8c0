//! The demo: a built-in policy in front of a built-in echo upstream, with curl commands to try.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use cors_hyper::{BuildError, CorsLayer, ListenerScheme, OriginGroup, Policy};
use http::{HeaderValue, Method, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::cli::{DemoArgs, SchemeArg};
use crate::commands::{announce, bind, listen_address, runtime, say, say_err};
use crate::pool::UpstreamClients;
use crate::proxy::{ProxySettings, TrustedProxies, Upstream, VIA_PSEUDONYM};
use crate::server::{self, Ending, Endpoint, Listeners, Site};
use crate::telemetry::Telemetry;

/// The demo's gateway address when `--listen` is not given (a free port is used if it is busy).
const DEMO_LISTEN: &str = "127.0.0.1:8787";

/// The demo policy: one credentialed origin, three methods, two request headers (the policy of
/// `examples/policies/strict.yaml`, which a published package cannot embed, written in code);
/// also the unit tests' policy where any valid one will do.
pub(crate) fn demo_policy() -> Result<Policy, BuildError> {
    Policy::builder()
        .credentials(true)
        .group(
            OriginGroup::new(["https://app.example.com"])
                .name("app")
                .allow_methods([Method::GET, Method::POST, Method::PUT])
                .allow_headers(["content-type", "x-token"])
                .expose_headers(["x-request-id"])
                .max_age(Duration::from_mins(10)),
        )
        .build()
}

/// `cors-gateway` without arguments, or `cors-gateway demo`.
pub(crate) fn run(args: &DemoArgs) -> ExitCode {
    let policy = match demo_policy() {
        Ok(policy) => policy,
        Err(error) => {
            // INVARIANT-like: the built-in policy is valid; say so loudly if it ever is not.
            say_err(format_args!("error: the built-in demo policy is invalid:\n{error}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime().and_then(|runtime| {
        runtime.block_on(async {
            let upstream_listener = TcpListener::bind("127.0.0.1:0").await?;
            let upstream_address = upstream_listener.local_addr()?;
            let echo = tokio::spawn(serve_echo(upstream_listener));
            let listener = match &args.listen {
                Some(listen) => {
                    let (address, scheme) =
                        listen_address(listen).map_err(std::io::Error::other)?;
                    if scheme == Some(SchemeArg::Https) {
                        return Err(std::io::Error::other(format!(
                            "cannot listen on \"{listen}\": the demo serves plain http"
                        )));
                    }
                    bind(&address).await?
                }
                None => match bind(DEMO_LISTEN).await {
                    Ok(listener) => listener,
                    Err(error) => {
                        tracing::info!(%error, "port busy; the demo uses a free port instead");
                        bind("127.0.0.1:0").await?
                    }
                },
            };
            let shutdown = server::shutdown_signal()?;
            let address = listener.local_addr()?;
            let upstream = Upstream::parse(&format!("http://{upstream_address}"))
                .map_err(std::io::Error::other)?;
            print_intro(address, upstream_address, &policy);
            // One worker: the demo serves one person trying it.
            let workers = NonZeroUsize::MIN;
            let limits =
                args.limits.fitted(workers, NonZeroUsize::MIN).map_err(std::io::Error::other)?;
            let settings =
                ProxySettings::new(false, VIA_PSEUDONYM, TrustedProxies::default(), &limits)
                    .map_err(std::io::Error::other)?;
            let clients = UpstreamClients::new(&limits, None).map_err(std::io::Error::other)?;
            let site = Site::Single { layer: CorsLayer::new(policy), upstream: Arc::new(upstream) };
            let scheme = ListenerScheme::Http;
            let listeners = Listeners::of(listener)?;
            let endpoint = Endpoint { listeners, tls: None, site, scheme, proxy_protocol: false };
            let settings = Arc::new(settings);
            let telemetry = Telemetry::off();
            let endpoints = vec![endpoint];
            let ending = Ending { signal: shutdown, draining: || () };
            server::serve(endpoints, workers, &clients, settings, &limits, telemetry, ending)
                .await?;
            echo.abort();
            Ok::<(), std::io::Error>(())
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            say_err(format_args!("error: {error}"));
            ExitCode::FAILURE
        }
    }
}

fn print_intro(gateway: SocketAddr, upstream: SocketAddr, policy: &Policy) {
    let url = format!("http://{gateway}/hello");
    say(format_args!(
        "cors-gateway demo: a built-in policy in front of a built-in echo upstream (http://{upstream})."
    ));
    say(format_args!("The policy (cors-flex `config` block):\n"));
    for line in policy.to_yaml().lines() {
        say(format_args!("    {line}"));
    }
    say(format_args!(
        "
Try it from another terminal:

# 1. allowed (A1): forwarded; the answer carries access-control-allow-origin: https://app.example.com
curl -i {url} -H 'Origin: https://app.example.com'

# 2. preflight (P1): answered by the gateway with status 200 and access-control-allow-methods: GET, POST, PUT
curl -i -X OPTIONS {url} -H 'Origin: https://app.example.com' -H 'Access-Control-Request-Method: PUT' -H 'Access-Control-Request-Headers: content-type'

# 3. refused (A2): not forwarded; status 200, empty body, no access-control-allow-origin
curl -i {url} -H 'Origin: https://evil.example'

Press Ctrl-C to stop. Use `cors-gateway serve --config FILE --upstream URL` for your own API.
"
    ));
    announce(gateway, false);
}

/// The echo upstream: answers every request with what it received, in plain text.
async fn serve_echo(listener: TcpListener) {
    let counter = Arc::new(AtomicU64::new(0));
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let counter = Arc::clone(&counter);
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
            async move { Ok::<_, Infallible>(echo(&request, n)) }
        });
        tokio::spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

fn echo(request: &Request<Incoming>, n: u64) -> Response<Full<Bytes>> {
    let mut text =
        format!("echo upstream got request #{n}: {} {}\n", request.method(), request.uri());
    for (name, value) in request.headers() {
        let _ = writeln!(text, "{name}: {}", String::from_utf8_lossy(value.as_bytes()));
    }
    let mut response = Response::new(Full::new(Bytes::from(text)));
    let headers = response.headers_mut();
    headers
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    if let Ok(id) = HeaderValue::from_str(&format!("demo-{n}")) {
        headers.insert("x-request-id", id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_policy_is_the_strict_example_policy() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/policies/strict.yaml");
        let file = Policy::from_yaml_file(path).unwrap();
        assert_eq!(demo_policy().unwrap(), file.policy);
        assert!(file.warnings.is_empty());
    }
}
