//! The `serve`, `check` and `explain` commands.

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use cors_engine::Engine;
use cors_hyper::{CorsLayer, ListenerScheme, SharedEngine};
use cors_policy::{Diagnostic, LoadedPolicy, LocalConfig, Policy};
use tokio::net::TcpListener;

use crate::admin::{self, Admin, Readiness};
use crate::cli::{CheckArgs, ExplainArgs, LimitArgs, SchemeArg, ServeArgs};
use crate::proxy::{ProxySettings, Upstream};
use crate::reload::PolicyFile;
use crate::server::{self, Limits};
use crate::telemetry::Telemetry;
use crate::{budget, reload};

/// Where the gateway listens when neither `--listen` nor the policy file says.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Writes one line to stdout; a closed stdout (e.g. `| head`) is not an error worth a panic.
pub(crate) fn say(text: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
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
            keep_alive_interval: self.http2_keep_alive_interval,
            keep_alive_timeout: self.http2_keep_alive_timeout,
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            max_connections: self.max_connections.get(),
            shutdown_timeout: self.shutdown_timeout,
            connect_timeout: self.connect_timeout,
            max_concurrent_streams: self.max_concurrent_streams.get(),
            upstream_timeout: self.upstream_timeout,
            upstream_max_connections: self.upstream_max_connections.get(),
            upstream_max_per_connection: self.upstream_max_per_connection.get(),
            upstream_queue_timeout: self.upstream_queue_timeout,
            max_request_body: self.max_request_body,
            body_read_timeout: self.body_read_timeout,
        }
    }

    /// The limits, lowered to fit the open-file limit and the fair-share rule (each change is
    /// logged as a warning).
    ///
    /// # Errors
    ///
    /// The open-file limit is below the minimum the gateway needs.
    pub(crate) fn fitted(&self) -> Result<Limits, String> {
        let mut limits = self.limits();
        for warning in budget::fit(&mut limits, budget::open_file_limit())? {
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
            eprintln!(
                "error: {} has {} and was not loaded",
                path.display(),
                count(error.diagnostics().iter().filter(|d| d.is_error()).count(), "error")
            );
            None
        }
    }
}

fn print_diagnostics(diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        eprintln!("{diagnostic}");
    }
}

fn count(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// `ADDR`, `http://ADDR` or `http://ADDR/`; https listeners need a TLS terminator in front.
pub(crate) fn listen_address(text: &str) -> Result<String, String> {
    let trimmed = text.trim().trim_end_matches('/');
    if trimmed.starts_with("https://") {
        return Err(format!(
            "cannot listen on \"{text}\": cors-gateway serves plain http and h2c \
             (hint: put a TLS terminator in front and pass --public-scheme https)"
        ));
    }
    let address = trimmed.strip_prefix("http://").unwrap_or(trimmed);
    if address.is_empty() {
        return Err(format!("cannot listen on \"{text}\": empty address"));
    }
    Ok(address.to_owned())
}

pub(crate) fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

/// `cors-gateway serve`.
pub(crate) fn serve(args: &ServeArgs) -> ExitCode {
    let Some(loaded) = load(&args.config) else { return ExitCode::FAILURE };
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let listen = match listen_address(
        args.listen.as_deref().or(loaded.listen.as_deref()).unwrap_or(DEFAULT_LISTEN),
    ) {
        Ok(listen) => listen,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let Some(upstream_text) = args.upstream.as_deref().or(loaded.upstream.as_deref()) else {
        eprintln!(
            "error: no upstream: pass --upstream URL (e.g. --upstream http://127.0.0.1:3000), \
             or use an ApiInstance file whose spec.services names one"
        );
        return ExitCode::FAILURE;
    };
    let upstream = match Upstream::parse(upstream_text) {
        Ok(upstream) => upstream,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let limits = match args.limits.fitted() {
        Ok(limits) => limits,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let telemetry = match Telemetry::start(&args.telemetry, &loaded.policy) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let shared = SharedEngine::new(Engine::new(loaded.policy));
    let scheme = args.public_scheme.listener();
    let layer = CorsLayer::from_shared(shared.clone()).listener_scheme(scheme);
    let settings = match ProxySettings::new(
        upstream,
        args.rewrite_host,
        scheme.as_str(),
        &args.via_pseudonym,
        &limits,
    ) {
        Ok(settings) => Arc::new(settings),
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let poll = (!args.watch_interval.is_zero()).then_some(args.watch_interval);
    let result = runtime().and_then(|runtime| {
        runtime.block_on(async {
            let listener = bind(&listen).await?;
            let address = listener.local_addr()?;
            let admin = start_admin(args, telemetry, address, &settings, &limits).await?;
            let shutdown = server::shutdown_signal()?;
            let policy = PolicyFile { path: args.config.clone(), shared, telemetry };
            let reloader = reload::spawn(policy, poll)?;
            telemetry.reopen_log_on_hangup()?;
            tracing::info!(
                listen = %address,
                upstream = settings.upstream.as_str(),
                policy = %args.config.display(),
                "cors-gateway ready"
            );
            announce(address);
            let draining = admin.as_ref().map(|(admin, _)| Arc::clone(admin));
            let shutdown = async move {
                shutdown.await;
                if let Some(admin) = draining {
                    admin.drain();
                }
            };
            server::serve(listener, layer, settings, limits, telemetry, shutdown).await;
            reloader.abort();
            if let Some((_, task)) = admin {
                task.abort();
            }
            Ok(())
        })
    });
    telemetry.close();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Binds and starts the admin listener when `--admin-listen` is given, announcing it before the
/// proxy listener; returns it with its task.
async fn start_admin(
    args: &ServeArgs,
    telemetry: Telemetry,
    proxy: SocketAddr,
    settings: &ProxySettings,
    limits: &Limits,
) -> io::Result<Option<(Arc<Admin>, tokio::task::JoinHandle<()>)>> {
    let (Some(address), Some(metrics)) = (&args.telemetry.admin_listen, telemetry.metrics()) else {
        return Ok(None);
    };
    let address = listen_address(address).map_err(io::Error::other)?;
    let listener = admin::bind(&address, proxy).await?;
    let authority = settings.upstream.authority();
    let target = format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(80));
    let readiness =
        Readiness::new(target, limits.connect_timeout, args.telemetry.ready_probe_interval);
    let admin = Admin::new(metrics, readiness);
    let local = listener.local_addr()?;
    tracing::info!(admin = %local, "admin listener ready: /healthz, /readyz, /metrics");
    say(format_args!("admin listening on http://{local}"));
    let task =
        tokio::spawn(admin::serve(listener, Arc::clone(&admin), *limits, std::future::pending()));
    Ok(Some((admin, task)))
}

pub(crate) async fn bind(address: &str) -> io::Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|error| {
        io::Error::new(error.kind(), format!("cannot listen on {address}: {error}"))
    })
}

/// The line scripts wait for.
pub(crate) fn announce(address: SocketAddr) {
    say(format_args!("listening on http://{address}"));
}

/// `cors-gateway check`: one file as `serve --config` reads it; a folder or several files as a
/// Flex Local Mode configuration.
pub(crate) fn check(args: &CheckArgs) -> ExitCode {
    let (what, warnings) = match &args.files[..] {
        [file] if !file.is_dir() => {
            let Some(loaded) = load(file) else { return ExitCode::FAILURE };
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
                    eprintln!("error: {shown} has {} and was not loaded", count(errors, "error"));
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
        eprintln!("error: {what} but has {counted} (denied by --deny-warnings)");
        return ExitCode::FAILURE;
    }
    eprintln!("ok: {what} ({counted})");
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
