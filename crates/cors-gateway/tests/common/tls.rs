//! Test certificates made at test time (rcgen), and a TLS client that checks them.
#![allow(clippy::unwrap_used, reason = "test fixture: a failed unwrap is a failed test")]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::{Answer, Body, PATIENCE, Scratch};

/// The names every test certificate is for.
pub const NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// aws-lc-rs, the workspace's provider.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A certificate authority of its own, made fresh for each test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM files.
pub struct Issued {
    pub chain: PathBuf,
    pub key: PathBuf,
    pub certificate: CertificateDer<'static>,
    pub private_key: PrivateKeyDer<'static>,
}

impl Issued {
    /// `--tls-cert CHAIN --tls-key KEY`.
    pub fn flags(&self) -> Vec<String> {
        let chain = self.chain.display().to_string();
        let key = self.key.display().to_string();
        vec!["--tls-cert".to_owned(), chain, "--tls-key".to_owned(), key]
    }

    /// A rustls server configuration with this certificate (for TLS upstreams).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        serving(self.certificate.clone(), self.private_key.clone_key())
    }

    /// A server configuration with this certificate that requires a client certificate signed by
    /// `client_ca` (mutual TLS), speaking `version` alone.
    pub fn mutual_tls_config(
        &self,
        client_ca: &TestCa,
        version: &'static rustls::SupportedProtocolVersion,
    ) -> Arc<rustls::ServerConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(client_ca.issuer.der().clone()).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider())
                .build()
                .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[version])
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.certificate.clone()], self.private_key.clone_key())
            .unwrap();
        Arc::new(config)
    }
}

/// A rustls server configuration that serves `certificate`, whose key is `key`.
fn serving(
    certificate: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> Arc<rustls::ServerConfig> {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)
        .unwrap();
    Arc::new(config)
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, format!("{name} test CA"));
        Self { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    /// Writes the CA certificate to `dir/NAME` and returns its path.
    pub fn write(&self, scratch: &Scratch, name: &str) -> PathBuf {
        scratch.write(name, &self.issuer.pem())
    }

    /// A certificate for [`NAMES`], written to `dir/PREFIX.pem` (the certificate, then this CA's
    /// certificate as its chain) and `dir/PREFIX.key`.
    pub fn issue(&self, scratch: &Scratch, prefix: &str) -> Issued {
        self.issue_with(scratch, prefix, |_| {})
    }

    /// [`TestCa::issue`], with the certificate's parameters changed by `edit` first (names,
    /// validity).
    pub fn issue_with(
        &self,
        scratch: &Scratch,
        prefix: &str,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Issued {
        let key = KeyPair::generate().unwrap();
        let names = NAMES.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let mut params = CertificateParams::new(names).unwrap();
        edit(&mut params);
        let leaf = params.signed_by(&key, &self.issuer).unwrap();
        let chain = scratch.write(&format!("{prefix}.pem"), &(leaf.pem() + &self.issuer.pem()));
        let key_file = scratch.write(&format!("{prefix}.key"), &key.serialize_pem());
        Issued {
            chain,
            key: key_file,
            certificate: leaf.der().clone(),
            private_key: PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        }
    }

    /// A server configuration that serves this CA's own certificate, as a server given the
    /// output of `openssl req -x509` does.
    pub fn served_as_own(&self) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::try_from(self.issuer.key().serialize_der()).unwrap();
        serving(self.issuer.der().clone(), key)
    }

    /// A client configuration that trusts this CA alone, offering `alpn`.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

/// Connects to `address` over TLS as `localhost`, checking the certificate against `config`.
pub async fn connect(
    address: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    connect_after(address, &[], config).await
}

/// [`connect`], sending `header` (a PROXY protocol header, as a load balancer in front does)
/// before the TLS handshake.
pub async fn connect_after(
    address: SocketAddr,
    header: &[u8],
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    use tokio::io::AsyncWriteExt as _;
    let mut tcp = TcpStream::connect(address).await?;
    tcp.write_all(header).await?;
    handshake(tcp, config).await
}

/// The TLS handshake as `localhost` on `tcp`, a connection already open, checking the
/// certificate against `config`.
pub async fn handshake(
    tcp: TcpStream,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from("localhost").unwrap();
    let connecting = tokio_rustls::TlsConnector::from(config).connect(name, tcp);
    tokio::time::timeout(PATIENCE, connecting).await?
}

/// Sends `request` on a new TLS connection, in HTTP/2 if the server chose `h2` by ALPN and in
/// HTTP/1.1 otherwise; returns the protocol chosen and the whole answer.
pub async fn send(
    address: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    request: Request<Body>,
) -> std::io::Result<(Option<Vec<u8>>, Answer)> {
    send_after(address, &[], config, request).await
}

/// [`send`], sending `header` (a PROXY protocol header) before the TLS handshake.
pub async fn send_after(
    address: SocketAddr,
    header: &[u8],
    config: Arc<rustls::ClientConfig>,
    mut request: Request<Body>,
) -> std::io::Result<(Option<Vec<u8>>, Answer)> {
    let stream = connect_after(address, header, config).await?;
    let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let io = TokioIo::new(stream);
    let response = if alpn.as_deref() == Some(b"h2") {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await.unwrap();
        tokio::spawn(connection);
        tokio::time::timeout(PATIENCE, sender.send_request(request)).await.unwrap().unwrap()
    } else {
        // HTTP/1.1 needs `Host`; HTTP/2 sends the URI's authority as `:authority`.
        if let Some(authority) = request.uri().authority().cloned() {
            let host = http::HeaderValue::from_str(authority.as_str()).unwrap();
            request.headers_mut().entry(http::header::HOST).or_insert(host);
        }
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(connection);
        tokio::time::timeout(PATIENCE, sender.send_request(request)).await.unwrap().unwrap()
    };
    let (parts, body) = response.into_parts();
    let body: Bytes =
        tokio::time::timeout(PATIENCE, body.collect()).await.unwrap().unwrap().to_bytes();
    Ok((alpn, Answer { status: parts.status, headers: parts.headers, body }))
}
