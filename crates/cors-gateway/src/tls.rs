//! TLS with rustls: the process's crypto provider, the listener's certificate (reloadable), and
//! how upstream certificates are verified.
//!
//! The provider is aws-lc-rs, the workspace's one provider (docs/operations.md, "TLS"): rustls
//! 0.23.48 deprecates its ring provider because ring has no post-quantum key exchange, and
//! aws-lc-rs offers `X25519MLKEM768` first, as current browsers do. It is installed as rustls's
//! process default once, at start ([`install_provider`]), and every configuration here is built
//! on it.

use std::fmt;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, DigitallySignedStruct, InconsistentKeys, RootCertStore, ServerConfig,
    SignatureScheme,
};

use crate::proxy::{causes, find_cause};
use crate::telemetry::Telemetry;

/// The protocols a TLS listener offers by ALPN, in order of preference. `http/1.0` is served
/// like `http/1.1` (hyper's HTTP/1 server speaks both), as on a plain listener: without it, a
/// client that offers only `http/1.0` (`curl --http1.0`) is refused with the
/// `no_application_protocol` alert RFC 7301 section 3.2 requires (finding F-X in
/// docs/robustness.md). nginx offers these three too (and `http/0.9`).
const LISTENER_ALPN: [&[u8]; 3] = [b"h2", b"http/1.1", b"http/1.0"];

/// Installs aws-lc-rs as rustls's process-wide default provider. Called once, by `main`, before
/// any configuration is built; a second call keeps the provider already installed.
pub(crate) fn install_provider() {
    // Err only when a provider is already installed, which is the one every config then uses.
    let _ = aws_lc_rs::default_provider().install_default();
}

/// The process's provider: the one [`install_provider`] installed (aws-lc-rs), or aws-lc-rs
/// itself when nothing was installed (unit tests).
fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .map_or_else(|| Arc::new(aws_lc_rs::default_provider()), Arc::clone)
}

/// A certificate chain and its private key, as PEM files (`--tls-cert`, `--tls-key`).
#[derive(Clone, Debug)]
pub(crate) struct CertificateFiles {
    /// The certificate, then the intermediates that lead to a root, each a `CERTIFICATE` block.
    pub(crate) chain: PathBuf,
    /// The private key of the first certificate: PKCS #8, PKCS #1 (RSA) or SEC1 (EC).
    pub(crate) key: PathBuf,
}

impl CertificateFiles {
    /// Reads and checks both files: every block parses, the chain has a certificate, the key is
    /// of a type the provider signs with, and it is the key of the first certificate.
    ///
    /// # Errors
    ///
    /// What is wrong, naming the file.
    pub(crate) fn load(&self) -> Result<Arc<CertifiedKey>, String> {
        let chain_file = self.chain.display();
        let chain = read_pem(&self.chain, "certificate chain")?;
        let chain = CertificateDer::pem_slice_iter(&chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("cannot read the certificate chain {chain_file}: {e}"))?;
        if chain.is_empty() {
            return Err(format!("{chain_file} holds no CERTIFICATE block"));
        }
        let key_file = self.key.display();
        // The two errors an operator meets most get what to do (finding F-AA in
        // docs/robustness.md): rustls's own words are "no items found" and `KeyMismatch`.
        let key = read_pem(&self.key, "private key")?;
        let key = PrivateKeyDer::from_pem_slice(&key).map_err(|e| match e {
            pem::Error::NoItemsFound => format!(
                "{key_file} holds no private key rustls can use: a PRIVATE KEY, RSA PRIVATE KEY \
                 or EC PRIVATE KEY block (an ENCRYPTED PRIVATE KEY must be decrypted first, \
                 e.g. openssl pkey -in KEY -out PLAIN)"
            ),
            e => format!("cannot read the private key {key_file}: {e}"),
        })?;
        let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
            rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => format!(
                "{key_file} is not the key of the first certificate in {chain_file} (the \
                 chain must start with the server's own certificate, then its intermediates)"
            ),
            e => format!("{key_file} cannot sign for {chain_file}: {e}"),
        })?;
        Ok(Arc::new(certified))
    }

    /// The two files, for the reload watcher.
    pub(crate) fn paths(&self) -> [&Path; 2] {
        [&self.chain, &self.key]
    }
}

/// Most bytes of a certificate chain or key file: a chain of a few certificates takes a few KiB.
const MAX_PEM_FILE: u64 = 1 << 20;

/// The bytes of the PEM file `path` (the `what` of errors). Refused before they are read: what
/// is not a regular file after symbolic links (a fifo would block the read until a writer
/// opened it, which may be never, at start or in the reload watcher; `/dev/zero` never ends),
/// and more than [`MAX_PEM_FILE`] bytes (finding F-AB in docs/robustness.md). cors-policy checks
/// its files alike, with helpers of its own that speak in a policy's diagnostics.
fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let cannot = |e: io::Error| format!("cannot read the {what} {shown}: {e}");
    let metadata = std::fs::metadata(path).map_err(cannot)?;
    if !metadata.is_file() {
        let kind = if metadata.is_dir() { "a folder" } else { "a fifo, a socket or a device" };
        return Err(format!("the {what} {shown} is not a regular file but {kind}"));
    }
    let mut bytes = Vec::new();
    let file = std::fs::File::open(path).map_err(cannot)?;
    file.take(MAX_PEM_FILE + 1).read_to_end(&mut bytes).map_err(cannot)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_PEM_FILE {
        return Err(format!("the {what} {shown} is over the limit of {MAX_PEM_FILE} bytes"));
    }
    Ok(bytes)
}

/// The listener's certificate, replaced in place on reload: every handshake takes the one
/// current when it starts.
pub(crate) struct ListenerCertificate {
    files: CertificateFiles,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for ListenerCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerCertificate").field("files", &self.files).finish_non_exhaustive()
    }
}

impl ListenerCertificate {
    /// Loads `files`.
    ///
    /// # Errors
    ///
    /// As [`CertificateFiles::load`].
    pub(crate) fn load(files: CertificateFiles) -> Result<Arc<Self>, String> {
        let current = RwLock::new(files.load()?);
        Ok(Arc::new(Self { files, current }))
    }

    /// Reads the files again and swaps the new certificate in, its expiry recorded in
    /// `telemetry` first (so that `/metrics` says it by the time a handshake gets it); on any
    /// error keeps the current one, counts it (finding F-DP) and logs why. Counted before any
    /// line is logged: whoever reads the line finds the metric moved.
    fn reload(&self, cause: &str, telemetry: Telemetry) {
        match self.files.load() {
            Ok(loaded) => {
                self.served(&loaded, telemetry);
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = loaded;
                tracing::info!(
                    certificate = %self.files.chain.display(),
                    cause,
                    "TLS certificate reloaded"
                );
            }
            Err(error) => {
                telemetry.certificate_reload_failed();
                tracing::error!(
                    cause,
                    "TLS certificate reload failed, keeping the previous certificate: {error}"
                );
            }
        }
    }

    /// Records in `telemetry` when `served`, the certificate served from now, expires (its
    /// notAfter), then warns when it cannot say.
    fn served(&self, served: &CertifiedKey, telemetry: Telemetry) {
        let expiry = served.end_entity_cert().ok().and_then(not_after);
        telemetry.certificate_served(&self.files.chain, expiry);
        if expiry.is_none() {
            tracing::warn!(
                certificate = %self.files.chain.display(),
                "cannot read the TLS certificate's expiry (notAfter); \
                 cors_gateway_certificate_expiry_timestamp_seconds has no value for it"
            );
        }
    }

    /// The rustls configuration of a listener serving this certificate, offering `h2`,
    /// `http/1.1` and `http/1.0` by ALPN.
    ///
    /// # Errors
    ///
    /// The provider supports no safe protocol version (it always does).
    pub(crate) fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, String> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = LISTENER_ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for ListenerCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner)))
    }
}

/// How the certificates of `https://` upstreams are verified.
#[derive(Clone, Debug)]
pub(crate) enum UpstreamTrust {
    /// Against the system's roots (`rustls-native-certs`).
    SystemRoots,
    /// Against the CA certificates of a PEM file (`--upstream-ca`).
    CaFile(PathBuf),
    /// Not at all (`--upstream-insecure`): the connection is encrypted to whoever answers.
    DangerouslyAcceptAny,
}

/// The rustls configuration of the upstream client for `trust`.
///
/// # Errors
///
/// The CA file cannot be read or holds no certificate; with [`UpstreamTrust::SystemRoots`], the
/// system has no usable root.
pub(crate) fn upstream_config(trust: &UpstreamTrust) -> Result<ClientConfig, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    let roots = match trust {
        UpstreamTrust::DangerouslyAcceptAny => {
            let verifier = Arc::new(AcceptAnyCertificate(provider));
            return Ok(builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth());
        }
        UpstreamTrust::CaFile(path) => {
            let shown = path.display();
            let mut roots = RootCertStore::empty();
            let bytes = read_pem(path, "upstream CA file")?;
            let certificates = CertificateDer::pem_slice_iter(&bytes)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("cannot read the upstream CA file {shown}: {e}"))?;
            for certificate in certificates {
                roots
                    .add(certificate)
                    .map_err(|e| format!("invalid CA certificate in {shown}: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("the upstream CA file {shown} holds no CERTIFICATE block"));
            }
            roots
        }
        UpstreamTrust::SystemRoots => {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!("reading the system's root certificates: {error}");
            }
            let mut roots = RootCertStore::empty();
            let (added, ignored) = roots.add_parsable_certificates(found.certs);
            if ignored > 0 {
                tracing::debug!(added, ignored, "some system root certificates do not parse");
            }
            if roots.is_empty() {
                return Err("no system root certificates were found to verify https upstreams \
                            (hint: install ca-certificates, or pass --upstream-ca FILE)"
                    .to_owned());
            }
            roots
        }
    };
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// What went wrong in a failed TLS handshake with an https upstream, and what to do about it
/// under `trust`, when `error` holds a rustls error worth more words than its own; `None`
/// otherwise, and the error's own text stands.
///
/// rustls names some certificate problems by their variant alone: an upstream serving a CA
/// certificate as its own (what `openssl req -x509` makes without
/// `-addext basicConstraints=critical,CA:FALSE`) was logged as
/// `invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))`, and none of its errors
/// said which flag or which side (the gateway's trust, or the upstream's certificate) to fix.
///
/// cors-conformance words the same rustls errors for its users (`handshake_failure`, in
/// spec-tests/src/http_target.rs). Two texts rather than one home, on purpose: they speak to
/// different people about different flags, the suite's user about a target, `--ca` and
/// `--insecure`, the gateway's operator about an upstream, `--upstream-ca`,
/// `--upstream-insecure` and the upstream URL, where an expired certificate or one for another
/// name is the upstream's to fix. And both are adapters: the one workspace crate both may
/// depend on is cors-hyper, the tower layer, which has no business with rustls, and
/// cors-devtools is std-only and unpublished. What is shared is finding rustls's error and
/// webpki's behind it, a few lines. The alerts an upstream refuses the gateway with
/// ([`refused_by_the_upstream`]: a client certificate asked for, no version or suite in common)
/// are worded twice for the same reasons (`refused_by_the_target` in the suite).
pub(crate) fn explain_handshake(
    error: &(dyn std::error::Error + 'static),
    trust: &UpstreamTrust,
) -> Option<String> {
    use rustls::{CertificateError, Error as TlsError};
    let Some(tls) = find_cause::<TlsError>(error) else { return closed_during_handshake(error) };
    let certificate = match tls {
        TlsError::InvalidCertificate(certificate) => certificate,
        refused @ (TlsError::AlertReceived(_) | TlsError::PeerIncompatible(_)) => {
            return refused_by_the_upstream(refused);
        }
        not_tls @ TlsError::InvalidMessage(_) => {
            return Some(format!(
                "the upstream does not answer with TLS ({not_tls}); hint: for a plain HTTP \
                 port, write the upstream URL as http://"
            ));
        }
        _ => return None,
    };
    let why = match certificate {
        CertificateError::Other(other)
            if matches!(
                other.0.downcast_ref::<webpki::Error>(),
                Some(webpki::Error::CaUsedAsEndEntity)
            ) =>
        {
            "the upstream's certificate is a CA certificate (basic constraints CA:TRUE), which \
             TLS clients refuse as a server's own; hint: the upstream must serve a certificate \
             that CA signed (`openssl req -x509` makes a CA certificate unless given \
             `-addext basicConstraints=critical,CA:FALSE`), or --upstream-insecure for a test \
             upstream"
                .to_owned()
        }
        // A CA of the issuer's name whose key did not sign it (a test CA made again under the
        // same name) fails as a bad signature rather than as an unknown issuer.
        CertificateError::UnknownIssuer | CertificateError::BadSignature => match trust {
            UpstreamTrust::CaFile(path) => format!(
                "the upstream's certificate is not signed by a CA certificate of --upstream-ca \
                 {}; hint: that file must hold the CA certificate that signed it (signed by \
                 an intermediate CA, the upstream must send that CA's certificate after its own)",
                path.display()
            ),
            _ => "the upstream's certificate is not signed by a CA the system trusts; hint: \
                  --upstream-ca FILE with the CA certificate that signed it"
                .to_owned(),
        },
        CertificateError::Expired
        | CertificateError::ExpiredContext { .. }
        | CertificateError::NotValidYet
        | CertificateError::NotValidYetContext { .. } => format!(
            "the upstream's certificate is not valid now ({certificate}); hint: the upstream \
             must serve a current certificate, and this machine's clock must be right"
        ),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!(
                "the upstream's certificate is not for the upstream URL's host ({certificate}); \
                 hint: name the upstream in its URL by a name its certificate is for, or have it \
                 serve a certificate for that name"
            )
        }
        _ => return None,
    };
    Some(why)
}

/// What to say of a connection to an https upstream that `error` ended, when the upstream ended
/// it with a TLS alert that [`refused_by_the_upstream`] explains; `None` otherwise.
///
/// In TLS 1.3 the client's side of the handshake is done before the server has checked the
/// client's certificate: an upstream that requires one (mutual TLS) sends `certificate_required`
/// after it, and the connection fails, not the handshake. The request then failed as `the new
/// upstream connection closed`, and the alert was logged at debug level alone.
pub(crate) fn explain_closed_connection(
    error: &(dyn std::error::Error + 'static),
) -> Option<String> {
    find_cause::<rustls::Error>(error).and_then(refused_by_the_upstream)
}

/// What the upstream's refusal `tls` (an alert it sent, or a version or suite of its that
/// rustls does not take) means, and what to do about it, for the alerts whose name alone does
/// not say: a client certificate asked for, which the gateway never sends; no TLS version in
/// common; a handshake refused outright (no cipher suite or key exchange in common, or, from
/// TLS 1.2 servers, a client certificate asked for). `None` for the others.
fn refused_by_the_upstream(tls: &rustls::Error) -> Option<String> {
    use rustls::{AlertDescription, Error as TlsError, PeerIncompatible};
    let (why, hint) = match tls {
        TlsError::AlertReceived(AlertDescription::CertificateRequired) => (
            "the upstream asks for a client certificate (mutual TLS), which the gateway does \
             not send: it has none to offer",
            "have the upstream accept the gateway's connections without one, or put a proxy \
             that holds the certificate between them",
        ),
        TlsError::AlertReceived(AlertDescription::ProtocolVersion)
        | TlsError::PeerIncompatible(PeerIncompatible::ServerDoesNotSupportTls12Or13) => (
            "the upstream and the gateway have no TLS version in common",
            "the gateway speaks TLS 1.2 and 1.3 only: the upstream must accept one of them",
        ),
        TlsError::AlertReceived(
            AlertDescription::HandshakeFailure | AlertDescription::InsufficientSecurity,
        ) => (
            "the upstream refused the TLS handshake",
            "it found no cipher suite, key exchange or signature scheme in common with the \
             gateway's (TLS 1.2 and 1.3, AES-GCM and ChaCha20-Poly1305, ECDHE), or it asks \
             for a client certificate (mutual TLS), which the gateway does not send (TLS 1.2 \
             servers say so); the upstream's TLS settings and log tell which",
        ),
        _ => return None,
    };
    Some(format!("{why} ({tls}); hint: {hint}"))
}

/// What to say of a handshake that failed without a rustls error: the upstream accepted the TCP
/// connection, then closed it (tokio-rustls's `tls handshake eof`) or reset it before the
/// handshake was done. Alone, that text gave no hint of the usual causes: no TLS on that port
/// behind a TCP proxy that closes at once (a plain HTTP server answers, and is explained as
/// such), a TCP proxy with no backend, a server that refuses the name sent by SNI.
fn closed_during_handshake(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let closed =
        causes(error).filter_map(|cause| cause.downcast_ref::<io::Error>()).find(|io| {
            matches!(
                io.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
            )
        })?;
    Some(format!(
        "the upstream closed the connection during the TLS handshake ({closed}); hint: is it \
         serving TLS on that port? A TCP proxy in front of it with no backend, or a server that \
         refuses the host name of the upstream URL (sent by SNI), closes so too"
    ))
}

/// Accepts any upstream certificate, for `--upstream-insecure`. Handshake signatures are still
/// checked with the provider's algorithms, so the session is at least with the holder of the
/// key the upstream presented.
///
/// Hand-written because rustls offers no such verifier, on purpose. cors-conformance has the
/// same one for its `--insecure` targets; the two crates share no dependency it could live in.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The notAfter of `certificate`, in seconds since the Unix epoch; `None` if it does not parse.
/// x509-parser, because rustls and webpki read the validity only to check it and expose no
/// field of it.
fn not_after(certificate: &CertificateDer<'_>) -> Option<i64> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).ok()?;
    Some(parsed.validity().not_after.timestamp())
}

/// The listener's certificate as the reloader sees it: a reload refused for errors is counted in
/// `cors_gateway_certificate_reload_failures_total`, not only logged (finding F-DP: a failed
/// renewal showed nowhere in the metrics, and the old certificate served on until it expired),
/// and the expiry of the certificate served is kept in
/// `cors_gateway_certificate_expiry_timestamp_seconds`, for alerts before it expires whatever the
/// cause.
pub(crate) struct CertificateReload {
    /// The certificate reloaded.
    certificate: Arc<ListenerCertificate>,
    /// Where a refused reload is counted and the expiry recorded.
    telemetry: Telemetry,
}

impl CertificateReload {
    /// Reloads `certificate`, recording in `telemetry` the expiry of the one served now.
    pub(crate) fn new(certificate: Arc<ListenerCertificate>, telemetry: Telemetry) -> Self {
        let current =
            Arc::clone(&certificate.current.read().unwrap_or_else(PoisonError::into_inner));
        certificate.served(&current, telemetry);
        Self { certificate, telemetry }
    }
}

impl crate::reload::Reload for CertificateReload {
    fn watched(&self) -> Vec<PathBuf> {
        self.certificate.files.paths().iter().map(|path| path.to_path_buf()).collect()
    }

    fn reload(&mut self, cause: &'static str) {
        self.certificate.reload(cause, self.telemetry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rustls::{AlertDescription, Error as TlsError, PeerIncompatible};

    /// A refusal of the upstream is explained, with a hint, in a failed handshake (TLS 1.2, or
    /// any version for the version and suite alerts) and in a connection it closed after the
    /// handshake (TLS 1.3's `certificate_required`). `tests/tls.rs` has the mutual TLS case
    /// against a real upstream, in both versions.
    #[rstest]
    #[case::certificate_required(
        TlsError::AlertReceived(AlertDescription::CertificateRequired),
        "the upstream asks for a client certificate (mutual TLS)"
    )]
    #[case::protocol_version(
        TlsError::AlertReceived(AlertDescription::ProtocolVersion),
        "the upstream and the gateway have no TLS version in common"
    )]
    #[case::a_server_of_tls_1_1_at_most(
        TlsError::PeerIncompatible(PeerIncompatible::ServerDoesNotSupportTls12Or13),
        "the upstream and the gateway have no TLS version in common"
    )]
    #[case::handshake_failure(
        TlsError::AlertReceived(AlertDescription::HandshakeFailure),
        "the upstream refused the TLS handshake"
    )]
    fn a_refusal_of_the_upstream_is_explained(#[case] refusal: TlsError, #[case] says: &str) {
        // As the connectors pass it on: an `io::Error` that wraps rustls's, wrapped again.
        let error = io::Error::other(io::Error::new(io::ErrorKind::InvalidData, refusal));
        let why = explain_handshake(&error, &UpstreamTrust::SystemRoots).unwrap();
        assert!(why.starts_with(says) && why.contains("; hint: "), "{why}");
        assert_eq!(explain_closed_connection(&error), Some(why));
    }

    /// F-AB's limit is on what is over it: a PEM file of exactly [`MAX_PEM_FILE`] bytes is read
    /// whole, one byte more is refused by name.
    #[test]
    fn a_pem_file_of_exactly_the_limit_is_read() {
        let dir = std::env::temp_dir().join(format!("cors-gateway-pem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let at_limit = dir.join("at-limit.pem");
        let over = dir.join("over.pem");
        let limit = usize::try_from(MAX_PEM_FILE).unwrap();
        std::fs::write(&at_limit, vec![b'a'; limit]).unwrap();
        std::fs::write(&over, vec![b'a'; limit + 1]).unwrap();
        let read = read_pem(&at_limit, "certificate file").map(|bytes| bytes.len());
        let refused = read_pem(&over, "certificate file");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read, Ok(limit));
        let error = refused.unwrap_err();
        assert!(error.contains("over.pem is over the limit of 1048576 bytes"), "{error}");
    }

    /// A certificate reload refused is counted (finding F-DP) before it is logged.
    #[test]
    fn a_refused_certificate_reload_is_counted_before_it_is_logged() {
        let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = std::env::temp_dir().join(format!("cors-gateway-refused-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = CertificateFiles { chain: dir.join("chain.pem"), key: dir.join("key.pem") };
        std::fs::write(&files.chain, issued.cert.pem()).unwrap();
        std::fs::write(&files.key, issued.signing_key.serialize_pem()).unwrap();
        let certificate = ListenerCertificate::load(files.clone()).unwrap();
        std::fs::write(&files.key, "not a key").unwrap();
        let policy = crate::demo::demo_policy().unwrap();
        let telemetry = Telemetry::with_metrics(crate::metrics::InForce::single(&policy));
        let lines =
            crate::lines_with_metrics(telemetry, || certificate.reload("SIGHUP", telemetry));
        let _ = std::fs::remove_dir_all(&dir);
        let counted = "\ncors_gateway_certificate_reload_failures_total 1\n";
        crate::assert_counted_before_logged(&lines, 1, counted);
    }

    /// Only webpki's `CaUsedAsEndEntity` is explained as a CA certificate served as the
    /// upstream's own: another certificate error rustls carries as `Other` keeps its own text.
    #[test]
    fn other_certificate_errors_are_not_taken_for_a_ca_certificate() {
        for other in [
            rustls::OtherError(Arc::new(webpki::Error::UnsupportedCriticalExtension)),
            rustls::OtherError(Arc::new(io::Error::other("not webpki's"))),
        ] {
            let certificate = rustls::CertificateError::Other(other);
            let error = io::Error::new(
                io::ErrorKind::InvalidData,
                TlsError::InvalidCertificate(certificate),
            );
            assert_eq!(explain_handshake(&error, &UpstreamTrust::SystemRoots), None);
        }
        let ca = rustls::OtherError(Arc::new(webpki::Error::CaUsedAsEndEntity));
        let error = io::Error::new(
            io::ErrorKind::InvalidData,
            TlsError::InvalidCertificate(rustls::CertificateError::Other(ca)),
        );
        let why = explain_handshake(&error, &UpstreamTrust::SystemRoots).unwrap();
        assert!(why.starts_with("the upstream's certificate is a CA certificate"), "{why}");
    }

    #[test]
    fn other_alerts_keep_their_own_text() {
        let alert = TlsError::AlertReceived(AlertDescription::DecryptError);
        let error = io::Error::new(io::ErrorKind::InvalidData, alert);
        assert_eq!(explain_handshake(&error, &UpstreamTrust::SystemRoots), None);
        assert_eq!(explain_closed_connection(&error), None);
    }
}
