//! The `serve`, `check` and `explain` commands.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use cors_engine::Engine;
use cors_hyper::{CorsLayer, ListenerScheme, SharedEngine};
use cors_policy::{Diagnostic, LoadedPolicy, LocalConfig, Policy, WrittenAddress};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::admin::{self, Admin, Readiness};
use crate::cli::{CheckArgs, ExplainArgs, LimitArgs, SchemeArg, ServeArgs};
use crate::folder::{Folder, FolderReload};
use crate::metrics::InForce;
use crate::pool::UpstreamClients;
use crate::proxy::{ProxySettings, TrustedProxies, Upstream};
use crate::reload::{Baseline, PolicyFile, Reload};
use crate::server::{self, Ending, Endpoint, Limits, Listeners, Site};
use crate::telemetry::Telemetry;
use crate::tls::{CertificateFiles, CertificateReload, ListenerCertificate, UpstreamTrust};
use crate::{budget, reload};

/// Where the gateway listens when neither `--listen` nor the policy file says.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Writes one line of the commands' own output to stdout (see [`write_line`]).
pub(crate) fn say(text: std::fmt::Arguments<'_>) {
    write_line(io::stdout().lock(), text);
}

/// Writes one line of the commands' own output to stderr: their diagnostics, `error:`, `note:`
/// and `ok:` lines (see [`write_line`]).
pub(crate) fn say_err(text: std::fmt::Arguments<'_>) {
    write_line(io::stderr().lock(), text);
}

/// Writes `text` and a line end to `out`, ignoring a failed write: a closed stdout or stderr
/// (`check FILE 2>&1 | head -1`, a log shipper that died) loses the line, never the exit code
/// docs/operations.md gives (`println!` and `eprintln!` panic there, exiting 101; finding F-EG
/// in docs/robustness.md). The commands' only way to write a line of their own.
fn write_line(mut out: impl Write, text: std::fmt::Arguments<'_>) {
    let _ = out.write_fmt(text);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

impl SchemeArg {
    pub(crate) const fn listener(self) -> ListenerScheme {
        match self {
            Self::Http => ListenerScheme::Http,
            Self::Https => ListenerScheme::Https,
        }
    }
}

impl LimitArgs {
    /// The limits as given, before [`LimitArgs::fitted`].
    const fn limits(&self) -> Limits {
        Limits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            send_timeout: self.send_timeout,
            keep_alive_interval: self.http2_keep_alive_interval,
            keep_alive_timeout: self.http2_keep_alive_timeout,
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            max_connections: self.max_connections.get(),
            max_connections_per_client: self.max_connections_per_client,
            shutdown_timeout: self.shutdown_timeout,
            connect_timeout: self.connect_timeout,
            max_concurrent_streams: self.max_concurrent_streams.get(),
            upstream_timeout: self.upstream_timeout,
            upstream_read_timeout: self.upstream_read_timeout,
            upstream_max_connections: self.upstream_max_connections.get(),
            upstream_max_per_connection: self.upstream_max_per_connection.get(),
            upstream_idle_timeout: self.upstream_idle_timeout,
            upstream_queue_timeout: self.upstream_queue_timeout,
            max_request_body: self.max_request_body,
            body_read_timeout: self.body_read_timeout,
            tunnel_idle_timeout: self.tunnel_idle_timeout,
        }
    }

    /// The limits, lowered to fit the open-file limit, with `workers` worker threads each
    /// accepting on `listeners` listeners, and the fair-share rule (each change is logged as a
    /// warning).
    ///
    /// # Errors
    ///
    /// The open-file limit is below the minimum the gateway needs.
    pub(crate) fn fitted(
        &self,
        workers: NonZeroUsize,
        listeners: NonZeroUsize,
    ) -> Result<Limits, String> {
        let mut limits = self.limits();
        let open_files = budget::open_file_limit();
        for warning in budget::fit(&mut limits, open_files, workers, listeners)? {
            tracing::warn!("{warning}");
        }
        Ok(limits)
    }
}

/// Loads a policy file, printing every diagnostic to stderr on failure.
fn load(path: &Path) -> Option<LoadedPolicy> {
    match Policy::from_yaml_file(path) {
        Ok(loaded) => Some(loaded),
        Err(error) => {
            print_diagnostics(error.diagnostics());
            say_err(format_args!(
                "error: {} has {} and was not loaded",
                path.display(),
                count(error.diagnostics().iter().filter(|d| d.is_error()).count(), "error")
            ));
            None
        }
    }
}

fn print_diagnostics(diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        say_err(format_args!("{diagnostic}"));
    }
}

fn count(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// `ADDR`, `http://ADDR`, `https://ADDR` (a trailing `/` allowed): the address, and the scheme
/// when the text names one.
pub(crate) fn listen_address(text: &str) -> Result<(String, Option<SchemeArg>), String> {
    let trimmed = text.trim().trim_end_matches('/');
    let (address, scheme) = if let Some(address) = trimmed.strip_prefix("https://") {
        (address, Some(SchemeArg::Https))
    } else if let Some(address) = trimmed.strip_prefix("http://") {
        (address, Some(SchemeArg::Http))
    } else {
        (trimmed, None)
    };
    if address.is_empty() {
        return Err(format!("cannot listen on \"{text}\": empty address"));
    }
    if address.contains('/') {
        return Err(format!(
            "cannot listen on \"{text}\": a base path needs a Flex Local Mode folder \
             (--config-dir DIR); with --config, give HOST:PORT alone"
        ));
    }
    // The port is checked here, so that `check` and `serve` refuse what `bind` would, saying
    // what to write rather than the resolver's "invalid socket address".
    let port = address.rsplit_once(':').map(|(host, port)| (host.is_empty(), port.parse::<u16>()));
    match port {
        Some((false, Ok(_))) => Ok((address.to_owned(), scheme)),
        Some((true, Ok(port))) => Err(format!(
            "cannot listen on \"{text}\": no host; write 0.0.0.0:{port} (every IPv4 interface), \
             [::]:{port} or 127.0.0.1:{port}"
        )),
        _ => Err(format!(
            "cannot listen on \"{text}\": expected HOST:PORT with a port from 0 to 65535, \
             e.g. 127.0.0.1:8080 or 0.0.0.0:8443"
        )),
    }
}

/// The control runtime, on the main thread: the signals, the reloaders, the admin listener and
/// the coordination of the shutdown. The proxy's connections are served by the worker threads
/// of [`server::serve`], each with a runtime of its own.
pub(crate) fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// The worker threads of `--workers`, by default one per core the gateway may run on.
fn workers(args: &ServeArgs) -> NonZeroUsize {
    args.workers
        .unwrap_or_else(|| std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN))
}

/// One listener `serve` binds, and what it serves there.
struct Planned {
    address: String,
    tls: bool,
    site: Site,
    scheme: ListenerScheme,
}

/// Everything `serve` needs, checked before anything is bound.
struct Plan {
    listeners: Vec<Planned>,
    /// The limits, fitted to the open-file limit for the listeners and the workers.
    limits: Limits,
    clients: UpstreamClients,
    /// What to reload, with the stamps of its files taken before they were read.
    reloads: Vec<(Box<dyn Reload>, Baseline)>,
    /// What the ready line says about the configuration.
    source: String,
    /// The metrics and the access log, started with the policies loaded.
    telemetry: Telemetry,
    /// The upstreams `/readyz` checks, as `host:port`.
    probes: Vec<String>,
}

/// `cors-gateway serve`.
pub(crate) fn serve(args: &ServeArgs) -> ExitCode {
    let workers = workers(args);
    let planned = certificate(args).and_then(|certificate| {
        let listener_certificate = certificate.as_ref().map(|(certificate, _)| certificate);
        let mut plan = match (&args.config_dir, &args.config) {
            (Some(dir), _) => plan_folder(args, dir, listener_certificate, workers)?,
            (None, Some(file)) => plan_file(args, file, listener_certificate, workers)?,
            (None, None) => return Err("pass --config FILE or --config-dir DIR".to_owned()),
        };
        let tls_config = match certificate {
            Some((certificate, read)) => {
                if !plan.listeners.iter().any(|l| l.tls) {
                    tracing::warn!(
                        "--tls-cert is given but no listener serves https; it is not used"
                    );
                }
                let config = certificate.server_config()?;
                let telemetry = plan.telemetry;
                plan.reloads.push((Box::new(CertificateReload::new(certificate, telemetry)), read));
                Some(config)
            }
            None => None,
        };
        Ok((plan, tls_config))
    });
    let (plan, tls_config) = match planned {
        Ok(planned) => planned,
        Err(message) => {
            if !message.is_empty() {
                say_err(format_args!("error: {message}"));
            }
            return ExitCode::FAILURE;
        }
    };
    // Before the workers start, with the metrics (when on) that count the panics.
    plan.telemetry.report_panics();
    let limits = plan.limits;
    let settings = match ProxySettings::new(
        args.rewrite_host,
        &args.via_pseudonym,
        TrustedProxies::new(args.trusted_proxies.clone()),
        &limits,
    ) {
        Ok(settings) => Arc::new(settings),
        Err(message) => {
            say_err(format_args!("error: {message}"));
            return ExitCode::FAILURE;
        }
    };
    let poll = (!args.watch_interval.is_zero()).then_some(args.watch_interval);
    let result = runtime().and_then(|runtime| {
        let served = runtime.block_on(async {
            let (endpoints, announced) =
                bind_all(plan.listeners, workers, tls_config.as_ref(), args.proxy_protocol)?;
            let telemetry = plan.telemetry;
            let proxies: Vec<SocketAddr> = announced.iter().map(|(address, _)| *address).collect();
            let readyz = args.telemetry.admin_listen.is_some();
            admin::warn_of_unreachable_upstreams(plan.probes.clone(), &limits, readyz);
            let admin = start_admin(args, telemetry, &proxies, plan.probes, &limits).await?;
            let shutdown = server::shutdown_signal()?;
            let mut reloaders = Vec::new();
            for (target, read) in plan.reloads {
                reloaders.push(reload::spawn(target, read, poll)?);
            }
            telemetry.reopen_log_on_hangup()?;
            tracing::info!(
                config = plan.source,
                listeners = announced.len(),
                workers,
                "cors-gateway ready"
            );
            for (address, tls) in announced {
                announce(address, tls);
            }
            let draining = admin.as_ref().map(|(admin, _)| Arc::clone(admin));
            // On the signal or on a worker's failure alike (`server::serve`).
            let draining = move || {
                if let Some(admin) = draining {
                    admin.drain();
                }
            };
            let ending = Ending { signal: shutdown, draining };
            let clients = &plan.clients;
            let served =
                server::serve(endpoints, workers, clients, settings, &limits, telemetry, ending);
            // A worker's failure is returned once the shutdown it caused is done: the access
            // log is closed after it as after a signal.
            let served = served.await;
            for reloader in reloaders {
                reloader.abort();
            }
            if let Some((_, task)) = admin {
                task.abort();
            }
            Ok((telemetry, served))
        });
        close_after(runtime, served)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            say_err(format_args!("error: {error}"));
            ExitCode::FAILURE
        }
    }
}

/// The addresses of the listeners, each with whether it serves TLS.
type Announced = Vec<(SocketAddr, bool)>;

/// Binds every `planned` listener for `workers` workers; returns the endpoints with the
/// addresses to announce, each with whether it serves TLS (with `tls_config`).
fn bind_all(
    planned: Vec<Planned>,
    workers: NonZeroUsize,
    tls_config: Option<&Arc<rustls::ServerConfig>>,
    proxy_protocol: bool,
) -> io::Result<(Vec<Endpoint>, Announced)> {
    let mut endpoints = Vec::with_capacity(planned.len());
    let mut announced = Vec::with_capacity(planned.len());
    for Planned { address, tls, site, scheme } in planned {
        let listeners = Listeners::bind(&address, workers)?;
        announced.push((listeners.local_addr()?, tls));
        let tls = match (tls_config, tls) {
            (Some(config), true) => Some(TlsAcceptor::from(Arc::clone(config))),
            _ => None,
        };
        endpoints.push(Endpoint { listeners, tls, site, scheme, proxy_protocol });
    }
    Ok((endpoints, announced))
}

/// Ends `serve`: drops the control `runtime` (the worker runtimes, whose connections
/// `--shutdown-timeout` left write their access log lines as they are dropped, are shut down
/// when [`server::serve`] returns), then closes the access log of `served`, which lost those
/// lines when closed first; returns what serving returned (a worker's failure).
fn close_after(
    runtime: tokio::runtime::Runtime,
    served: io::Result<(Telemetry, io::Result<()>)>,
) -> io::Result<()> {
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    let (telemetry, served) = served?;
    telemetry.close();
    served
}

/// Binds and starts the admin listener when `--admin-listen` is given, announcing it before the
/// proxy listeners (`proxies`, which it may not share); `/readyz` connects to `probes`. Returns
/// it with its task.
async fn start_admin(
    args: &ServeArgs,
    telemetry: Telemetry,
    proxies: &[SocketAddr],
    probes: Vec<String>,
    limits: &Limits,
) -> io::Result<Option<(Arc<Admin>, tokio::task::JoinHandle<()>)>> {
    let (Some(text), Some(metrics)) = (&args.telemetry.admin_listen, telemetry.metrics()) else {
        return Ok(None);
    };
    let (address, scheme) = listen_address(text).map_err(io::Error::other)?;
    if scheme == Some(SchemeArg::Https) {
        return Err(io::Error::other(format!(
            "the admin listener \"{text}\" serves plain HTTP; drop the https:// scheme"
        )));
    }
    let listener = admin::bind(&address, proxies).await?;
    let readiness =
        Readiness::new(probes, limits.connect_timeout, args.telemetry.ready_probe_interval);
    let admin = Admin::new(metrics, readiness);
    let local = listener.local_addr()?;
    tracing::info!(admin = %local, "admin listener ready: /healthz, /readyz, /metrics");
    say(format_args!("admin listening on http://{local}"));
    let limits = Arc::new(*limits);
    let task =
        tokio::spawn(admin::serve(listener, Arc::clone(&admin), limits, std::future::pending()));
    Ok(Some((admin, task)))
}

/// The listener's certificate of `--tls-cert` and `--tls-key`, loaded and checked, with the
/// stamps of the two files taken before they were read.
fn certificate(args: &ServeArgs) -> Result<Option<(Arc<ListenerCertificate>, Baseline)>, String> {
    let (Some(chain), Some(key)) = (&args.tls.tls_cert, &args.tls.tls_key) else {
        return Ok(None);
    };
    let files = CertificateFiles { chain: chain.clone(), key: key.clone() };
    let read = Baseline::before_reading(&[chain.clone(), key.clone()]);
    Ok(Some((ListenerCertificate::load(files)?, read)))
}

/// How `--upstream-ca` and `--upstream-insecure` say to verify https upstreams.
fn upstream_trust(args: &ServeArgs) -> UpstreamTrust {
    match (&args.tls.upstream_ca, args.tls.upstream_insecure) {
        (Some(file), _) => UpstreamTrust::CaFile(file.clone()),
        (None, true) => UpstreamTrust::DangerouslyAcceptAny,
        (None, false) => UpstreamTrust::SystemRoots,
    }
}

/// `serve --config FILE`: one listener, one policy, one upstream.
fn plan_file(
    args: &ServeArgs,
    file: &Path,
    certificate: Option<&Arc<ListenerCertificate>>,
    workers: NonZeroUsize,
) -> Result<Plan, String> {
    let limits = args.limits.fitted(workers, NonZeroUsize::MIN)?;
    let read = Baseline::before_reading(&[file.to_path_buf()]);
    // `load` printed the diagnostics: nothing more to say.
    let loaded = load(file).ok_or_else(String::new)?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    // The values taken from the file are refused as `check FILE` refuses them, each at its
    // place, and so is its https listener without a certificate.
    let (mut refused, https) =
        read_addresses(&loaded, args.listen.is_some(), args.upstream.is_some());
    if let Some(listener) = https.filter(|_| certificate.is_none()) {
        // Before the service's problem, if any: the listener is written first.
        let text = listener.text();
        let message =
            format!("cannot listen on \"{text}\" without a certificate: pass {TLS_FLAGS}");
        refused.insert(0, listener.refuse(message));
    }
    if !refused.is_empty() {
        return Err(refuse_file(file, &refused));
    }
    let text = args.listen.as_deref().or(loaded.listen.as_deref()).unwrap_or(DEFAULT_LISTEN);
    let (address, scheme) = listen_address(text)?;
    let tls = match (scheme, certificate) {
        (Some(SchemeArg::Https), None) => {
            return Err(format!(
                "cannot listen on \"{text}\" without a certificate: pass --tls-cert FILE and \
                 --tls-key FILE (or put a TLS terminator in front and pass --public-scheme https)"
            ));
        }
        (Some(SchemeArg::Http), Some(_)) => {
            return Err(format!(
                "--tls-cert is given but the listener \"{text}\" is http://; drop the scheme \
                 or write https://"
            ));
        }
        (_, certificate) => certificate.is_some(),
    };
    let Some(upstream_text) = args.upstream.as_deref().or(loaded.upstream.as_deref()) else {
        return Err("no upstream: pass --upstream URL (e.g. --upstream http://127.0.0.1:3000), \
                    or use an ApiInstance file whose spec.services names one"
            .to_owned());
    };
    let upstream = Upstream::parse(upstream_text)?;
    let trust =
        (upstream.is_https() || args.tls.upstream_ca.is_some() || args.tls.upstream_insecure)
            .then(|| upstream_trust(args));
    let clients = UpstreamClients::new(&limits, trust.as_ref())?;
    let telemetry = Telemetry::start(&args.telemetry, || InForce::single(&loaded.policy))
        .map_err(|error| error.to_string())?;
    let shared = SharedEngine::new(Engine::new(loaded.policy));
    let scheme = listener_scheme(args, tls);
    let layer = CorsLayer::from_shared(shared.clone()).listener_scheme(scheme);
    tracing::info!(listen = %address, upstream = upstream.as_str(), tls, "serving one policy");
    let probes = vec![upstream.connect_target()];
    let site = Site::Single { layer, upstream: Arc::new(upstream) };
    Ok(Plan {
        listeners: vec![Planned { address, tls, site, scheme }],
        limits,
        clients,
        reloads: vec![(Box::new(PolicyFile { path: file.to_path_buf(), shared, telemetry }), read)],
        source: file.display().to_string(),
        telemetry,
        probes,
    })
}

/// The scheme of a listener for R2: https with TLS, else `--public-scheme` (http by default).
fn listener_scheme(args: &ServeArgs, tls: bool) -> ListenerScheme {
    if tls {
        return ListenerScheme::Https;
    }
    args.public_scheme.unwrap_or(SchemeArg::Http).listener()
}

/// `serve --config-dir DIR`: every listener of a Flex Local Mode folder.
fn plan_folder(
    args: &ServeArgs,
    dir: &Path,
    certificate: Option<&Arc<ListenerCertificate>>,
    workers: NonZeroUsize,
) -> Result<Plan, String> {
    let read = Baseline::before_reading(&[dir.to_path_buf()]);
    let config = LocalConfig::from_dir(dir).map_err(|error| {
        print_diagnostics(error.diagnostics());
        let errors = error.diagnostics().len();
        format!("{} has {} and was not loaded", dir.display(), count(errors, "error"))
    })?;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    // Each listener takes descriptors on every worker (finding F-DT).
    let listeners = NonZeroUsize::new(config.listeners().len()).unwrap_or(NonZeroUsize::MIN);
    let limits = args.limits.fitted(workers, listeners)?;
    let has_https_upstream = config
        .instances()
        .flat_map(cors_policy::ApiInstance::routes)
        .any(|route| route.upstream().address().scheme() == cors_policy::Scheme::Https);
    let mut probes: Vec<String> = config
        .instances()
        .flat_map(cors_policy::ApiInstance::routes)
        .map(|route| route.upstream().address().authority())
        .collect();
    probes.sort();
    probes.dedup();
    let telemetry = Telemetry::start(&args.telemetry, || InForce::folder(&config))
        .map_err(|error| error.to_string())?;
    let folder = Folder::new(config);
    let mut listeners = Vec::new();
    for (endpoint, address) in folder.addresses.iter().enumerate() {
        let tls = address.scheme() == cors_policy::Scheme::Https;
        if tls && certificate.is_none() {
            return Err(format!(
                "{}: the listener {address} is https: pass --tls-cert FILE and --tls-key FILE \
                 (they serve every https listener of the folder)",
                dir.display()
            ));
        }
        let scheme = listener_scheme(args, tls);
        let site = Site::Folder(folder.routes(endpoint));
        listeners.push(Planned { address: address.authority(), tls, site, scheme });
    }
    // Built even without an https upstream now: a reload may bring one.
    let trust = upstream_trust(args);
    let clients = match UpstreamClients::new(&limits, Some(&trust)) {
        Ok(clients) => clients,
        Err(message) if !has_https_upstream => {
            tracing::warn!("{message}; https upstreams added by a reload will fail");
            UpstreamClients::new(&limits, None)?
        }
        Err(message) => return Err(message),
    };
    let reload = FolderReload {
        dir: dir.to_path_buf(),
        shared: folder.shared.clone(),
        addresses: folder.addresses.clone(),
        telemetry,
    };
    Ok(Plan {
        listeners,
        limits,
        clients,
        reloads: vec![(Box::new(reload), read)],
        source: dir.display().to_string(),
        telemetry,
        probes,
    })
}

pub(crate) async fn bind(address: &str) -> io::Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|error| cannot_listen(address, "", &error))
}

/// Why `address` (of the listener `role`: empty, or ` (admin)`) could not be bound, with what to
/// do for the reasons an operator meets at start.
pub(crate) fn cannot_listen(address: &str, role: &str, error: &io::Error) -> io::Error {
    let hint = match error.kind() {
        io::ErrorKind::AddrInUse => {
            "; another process listens there (`ss -ltnp` names it): stop it, or choose another port"
        }
        io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need root or CAP_NET_BIND_SERVICE (the systemd unit of \
             examples/deploy grants it): grant it, or choose a port above 1023"
        }
        io::ErrorKind::AddrNotAvailable => {
            "; no interface of this machine has that address: use one it has, or 0.0.0.0 for all"
        }
        _ => "",
    };
    io::Error::new(error.kind(), format!("cannot listen on {address}{role}: {error}{hint}"))
}

/// The line scripts wait for, one per listener.
pub(crate) fn announce(address: SocketAddr, tls: bool) {
    let scheme = if tls { "https" } else { "http" };
    say(format_args!("listening on {scheme}://{address}"));
}

/// What an https listener of an `ApiInstance` file needs of `serve`: `check FILE` notes it
/// (the flags of `serve` are not its own), `serve --config FILE` without them refuses the file.
const TLS_FLAGS: &str = "--tls-cert FILE and --tls-key FILE (or put a TLS terminator in front, \
    write http:// and pass --public-scheme https)";

/// Reads an `ApiInstance` file's listener and upstream as `serve --config FILE` does, each
/// parsed once: the problems `serve` refuses, each at its place (`FILE:LINE:COLUMN: error:
/// KEY.PATH: message`), so that `check FILE` passes no file that `serve` refuses at start; and
/// the listener when it is https, which `serve` serves only with a certificate. A value that a
/// flag of `serve` replaces (`listen_flag`, `upstream_flag`) is not read, so not refused.
fn read_addresses(
    loaded: &LoadedPolicy,
    listen_flag: bool,
    upstream_flag: bool,
) -> (Vec<Diagnostic>, Option<&WrittenAddress>) {
    let mut refused = Vec::new();
    let mut https = None;
    if let Some(at) = loaded.listen_at.as_ref().filter(|_| !listen_flag) {
        match listen_address(at.text()) {
            Ok((_, scheme)) => https = (scheme == Some(SchemeArg::Https)).then_some(at),
            Err(message) => refused.push(at.refuse(message)),
        }
    }
    let service = loaded.upstream_at.as_ref().filter(|_| !upstream_flag);
    let service = service.and_then(|at| Upstream::parse(at.text()).err().map(|e| at.refuse(e)));
    refused.extend(service);
    (refused, https)
}

/// Prints the `errors` found in `file` after it loaded (an `ApiInstance`'s listener or
/// upstream), and returns the summary that follows them, `FILE has 2 errors and was not
/// loaded`: `check FILE` and `serve --config FILE` say both alike.
fn refuse_file(file: &Path, errors: &[Diagnostic]) -> String {
    print_diagnostics(errors);
    format!("{} has {} and was not loaded", file.display(), count(errors.len(), "error"))
}

/// `cors-gateway check`: one file as `serve --config` reads it; a folder or several files as a
/// Flex Local Mode configuration.
pub(crate) fn check(args: &CheckArgs) -> ExitCode {
    let (what, warnings) = match &args.files[..] {
        [file] if !file.is_dir() => {
            let Some(loaded) = load(file) else { return ExitCode::FAILURE };
            let (refused, https) = read_addresses(&loaded, false, false);
            if !refused.is_empty() {
                say_err(format_args!("error: {}", refuse_file(file, &refused)));
                return ExitCode::FAILURE;
            }
            if let Some(listener) = https {
                let (file, text) = (file.display(), listener.text());
                say_err(format_args!(
                    "note: {file}: spec.address {text} is https: serve it with {TLS_FLAGS}"
                ));
            }
            if args.print {
                say(format_args!("{}", loaded.policy.to_yaml().trim_end()));
            }
            (format!("{} is a valid cors-flex policy", file.display()), loaded.warnings)
        }
        paths => {
            let shown = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>();
            let shown = shown.join(", ");
            let config = match LocalConfig::from_paths(paths) {
                Ok(config) => config,
                Err(error) => {
                    print_diagnostics(error.diagnostics());
                    let errors = error.diagnostics().len();
                    say_err(format_args!(
                        "error: {shown} has {} and was not loaded",
                        count(errors, "error")
                    ));
                    return ExitCode::FAILURE;
                }
            };
            for instance in config.instances().filter(|_| args.print) {
                let address = format!("{}{}", instance.address(), instance.base_path());
                say(format_args!("# ApiInstance {} at {address}", instance.name()));
                match instance.policy() {
                    Some(policy) => say(format_args!("{}", policy.to_yaml().trim_end())),
                    None => say(format_args!("# (no cors-flex policy)")),
                }
            }
            let https = config.listeners().iter().map(cors_policy::Listener::address);
            for address in https.filter(|a| a.scheme() == cors_policy::Scheme::Https) {
                say_err(format_args!(
                    "note: {shown}: the listener {address} is https: serve it with --tls-cert FILE \
                     and --tls-key FILE (they serve every https listener of the folder)"
                ));
            }
            let instances = config.instances().count();
            let what = format!(
                "{shown} is a valid Flex Local Mode configuration of {} and {}",
                count(config.listeners().len(), "listener"),
                count(instances, "API instance")
            );
            (what, config.warnings().to_vec())
        }
    };
    print_diagnostics(&warnings);
    let counted = count(warnings.len(), "warning");
    if args.deny_warnings && !warnings.is_empty() {
        say_err(format_args!("error: {what} but has {counted} (denied by --deny-warnings)"));
        return ExitCode::FAILURE;
    }
    say_err(format_args!("ok: {what} ({counted})"));
    ExitCode::SUCCESS
}

/// `cors-gateway explain`.
pub(crate) fn explain(args: &ExplainArgs) -> ExitCode {
    let Some(loaded) = load(&args.file) else { return ExitCode::FAILURE };
    let engine = Engine::new(loaded.policy);
    let method = args.method.clone().unwrap_or_else(|| {
        if args.request_method.is_some() { "OPTIONS".to_owned() } else { "GET".to_owned() }
    });
    let mut headers = vec![("origin".to_owned(), args.origin.clone())];
    if let Some(request_method) = &args.request_method {
        headers.push(("access-control-request-method".to_owned(), request_method.clone()));
    }
    if let Some(request_headers) = &args.request_headers {
        headers.push(("access-control-request-headers".to_owned(), request_headers.clone()));
    }
    let request = cors_engine::Request {
        method: method.as_bytes(),
        headers: &headers,
        scheme: args.scheme.listener().as_str(),
        host: args.host.as_deref().map(str::as_bytes),
    };
    say(format_args!("{}", engine.explain(&request)));
    ExitCode::SUCCESS
}
