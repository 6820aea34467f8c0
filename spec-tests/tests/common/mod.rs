//! Fixtures shared by the integration tests: the echo upstream on a background thread, a TLS
//! front for it with certificates made on the spot, a server that answers garbage, one that
//! closes every connection at once, and the `cors-gateway` binary.

#![allow(dead_code, reason = "each test file uses some of the fixtures")]
#![allow(clippy::unwrap_used, reason = "test fixtures: a failure to set one up is a test failure")]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use cors_conformance::upstream;

/// Starts the upstream on a background thread and returns its address.
pub(crate) fn start_upstream(log: Option<PathBuf>) -> SocketAddr {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
        runtime.block_on(async move {
            let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
            let (listener, addr) = upstream::bind(loopback).await.expect("loopback binds");
            send.send(addr).expect("the test waits for the address");
            upstream::serve(listener, log).await.expect("the upstream serves");
        });
    });
    receive.recv().expect("the upstream reports its address")
}

/// A port nothing listens on (it was free a moment ago, and is outside the range the kernel
/// hands to other tests' connections: `cors_devtools::free_loopback_port`).
pub(crate) fn closed_port() -> SocketAddr {
    cors_devtools::free_loopback_port().unwrap()
}

/// A server that answers every connection with bytes that are not HTTP, then closes it.
pub(crate) fn start_garbage() -> SocketAddr {
    start_answering(b"SSH-2.0-OpenSSH_9.6\r\n\x00\xff garbage\r\n\r\n")
}

/// A server that answers every connection with an HTTP head of 5 000 field lines, past what the
/// suite reads, then closes it.
pub(crate) fn start_head_too_large() -> SocketAddr {
    let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
    for n in 0..5000 {
        head.extend_from_slice(format!("set-cookie: c{n}=1\r\n").as_bytes());
    }
    head.extend_from_slice(b"content-length: 0\r\n\r\n");
    start_answering(Box::leak(head.into_boxed_slice()))
}

/// A server that answers every request `404 Not Found` itself, as a gateway does outside the
/// path it forwards.
pub(crate) fn start_not_found() -> SocketAddr {
    start_answering(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
}

/// A server that answers every request `401 Unauthorized` itself, as a gateway that wants an
/// `Authorization` header does.
pub(crate) fn start_unauthorized() -> SocketAddr {
    start_answering(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
}

/// A server that answers every request `403 Forbidden` itself, with or without `Origin`, as a
/// gateway that wants an authorization it did not get does.
pub(crate) fn start_forbidden() -> SocketAddr {
    start_answering(FORBIDDEN)
}

/// A server that answers `403 Forbidden` with no Access-Control-* field to every request with
/// `Origin`, as CORS implementations refuse an origin, and forwards the others: each gets the
/// echo upstream's stamp.
pub(crate) fn start_forbidding_origins() -> SocketAddr {
    let forwarded: &[u8] = format!(
        "HTTP/1.1 200 OK\r\n{}: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        upstream::STAMP
    )
    .leak()
    .as_bytes();
    start_answering_by(move |request| {
        let origin = request
            .split(|&byte| byte == b'\n')
            .any(|line| line.len() > 7 && line[..7].eq_ignore_ascii_case(b"origin:"));
        if origin { FORBIDDEN } else { forwarded }
    })
}

const FORBIDDEN: &[u8] =
    b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// A server that reads the start of each connection, answers `bytes` and closes it.
fn start_answering(bytes: &'static [u8]) -> SocketAddr {
    start_answering_by(move |_| bytes)
}

/// A server that reads the start of each connection, answers what `answer` gives for it, and
/// closes it.
fn start_answering_by(answer: impl Fn(&[u8]) -> &'static [u8] + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0; 4096];
            let read = stream.read(&mut buffer).unwrap_or(0);
            let _ = stream.write_all(answer(&buffer[..read]));
        }
    });
    addr
}

/// A server that accepts every connection and closes it at once, unread.
pub(crate) fn start_closer() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    addr
}

/// A self-signed CA and a certificate for `localhost` and `127.0.0.1` it signed, as PEM files
/// under `dir`; returns the CA file and the server's `(certificate, key)` in DER.
pub(crate) fn certificates(
    dir: &Path,
) -> (PathBuf, rustls::pki_types::CertificateDer<'static>, rustls::pki_types::PrivateKeyDer<'static>)
{
    certificates_for(dir, &["localhost", "127.0.0.1"])
}

/// [`certificates`], the server's for `names` only.
pub(crate) fn certificates_for(
    dir: &Path,
    names: &[&str],
) -> (PathBuf, rustls::pki_types::CertificateDer<'static>, rustls::pki_types::PrivateKeyDer<'static>)
{
    use rcgen::{CertificateParams, KeyPair};
    let (ca, _) = test_ca(&[]);
    let key = KeyPair::generate().unwrap();
    let leaf =
        CertificateParams::new(names.iter().map(|&name| name.to_owned()).collect::<Vec<_>>())
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let private = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    (ca_file, leaf.der().clone(), private)
}

/// A self-signed CA certificate, for `names` too, with its key.
fn test_ca(
    names: &[&str],
) -> (rcgen::CertifiedIssuer<'static, rcgen::KeyPair>, rustls::pki_types::PrivateKeyDer<'static>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let names: Vec<String> = names.iter().map(|&name| name.to_owned()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "cors-conformance test CA");
    let key = KeyPair::generate().unwrap();
    let private = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    (CertifiedIssuer::self_signed(params, key).unwrap(), private)
}

/// A self-signed CA certificate for `localhost` and `127.0.0.1`, as a server that serves it as
/// its own would (as `openssl req -x509` makes one by default): its PEM file under `dir`, and the
/// certificate and key in DER.
pub(crate) fn ca_as_own_certificate(
    dir: &Path,
) -> (PathBuf, rustls::pki_types::CertificateDer<'static>, rustls::pki_types::PrivateKeyDer<'static>)
{
    let (ca, key) = test_ca(&["localhost", "127.0.0.1"]);
    std::fs::create_dir_all(dir).unwrap();
    let ca_file = dir.join("self-signed-ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    (ca_file, ca.der().clone(), key)
}

/// An https "gateway" that forwards everything: it answers each request as the echo upstream
/// does, behind TLS with the given certificate. Returns its address.
pub(crate) fn start_tls_upstream(
    certificate: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> SocketAddr {
    start_tls_upstream_offering(certificate, key, Vec::new())
}

/// [`start_tls_upstream`], offering the application protocols `alpn` (by ALPN) and refusing a
/// client that offers none of them, as an HTTP/2-only TLS server does with `[b"h2"]`.
pub(crate) fn start_tls_upstream_offering(
    certificate: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
    alpn: Vec<Vec<u8>>,
) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)
        .unwrap();
    config.alpn_protocols = alpn;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            send.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else { return };
                    let service =
                        hyper::service::service_fn(|request: http::Request<_>| async move {
                            let _: &hyper::body::Incoming = request.body();
                            let lines =
                                request.headers().iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
                            let answer = upstream::respond(lines).map(http_body_util::Full::new);
                            Ok::<_, std::convert::Infallible>(answer)
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    receive.recv().expect("the TLS server reports its address")
}

/// The workspace root.
pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The `cors-gateway` binary: `$CORS_GATEWAY_BIN`, else the workspace's debug build, built
/// first (a no-op when fresh), as browser-tests does.
pub(crate) fn gateway_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CORS_GATEWAY_BIN") {
        return PathBuf::from(path);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "-p", "cors-gateway", "--bin", "cors-gateway"])
        .current_dir(workspace())
        .stdin(Stdio::null())
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace().join("target"), PathBuf::from);
    target.join("debug").join(format!("cors-gateway{}", std::env::consts::EXE_SUFFIX))
}

/// A fresh directory for one test, removed with it.
pub(crate) fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("cors-conformance-{name}-")).tempdir().unwrap()
}
