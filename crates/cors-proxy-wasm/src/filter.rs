//! The proxy-wasm contexts: the root context loads the plugin configuration and defines the
//! counters, each HTTP context runs one [`Exchange`] over proxy-wasm's header-map calls.

use std::rc::Rc;

use cors_engine::{Outcome, Rule};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType};

use crate::metrics::Counters;
use crate::plugin::rejection_lines;
use crate::{Exchange, Host, Plugin, Step};

/// Installs the filter's root context and logger; the module's `_initialize` export calls it.
///
/// Envoy then calls the root context's `on_configure` with the plugin configuration (a
/// `cors-flex` policy file): an invalid one is logged line by line at error level, with
/// cors-policy's `FILE:LINE:COLUMN` messages, and fails the filter's start.
pub fn register() {
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> {
        Box::new(Root { plugin: None, counters: Rc::new(Counters::default()) })
    });
}

/// The root context: owns the loaded configuration and the counters' ids, shared with every
/// HTTP context.
struct Root {
    plugin: Option<Rc<Plugin>>,
    counters: Rc<Counters>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let name = hostcalls::get_property(vec!["plugin_name"])
            .ok()
            .flatten()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "plugin configuration".to_owned());
        let bytes =
            hostcalls::get_buffer(BufferType::PluginConfiguration, 0, plugin_configuration_size)
                .ok()
                .flatten()
                .unwrap_or_default();
        match Plugin::from_configuration(&bytes, &name) {
            Ok(plugin) => {
                for warning in plugin.warnings() {
                    log::warn!("{warning}");
                }
                let policy = plugin.engine().policy();
                log::info!(
                    "cors-flex policy loaded from {name}: public resource {}, credentials {}, \
                     {} origin group(s), listener scheme {}",
                    policy.is_public_resource(),
                    policy.supports_credentials(),
                    policy.groups().len(),
                    plugin.scheme(),
                );
                self.plugin = Some(Rc::new(plugin));
                true
            }
            Err(error) => {
                for line in rejection_lines(&name, &bytes, &error) {
                    log::error!("{line}");
                }
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter {
            plugin: self.plugin.clone(),
            host: HostCalls { counters: Rc::clone(&self.counters) },
            exchange: Exchange::default(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// One HTTP stream.
struct Filter {
    /// `None` only if Envoy created a stream although `on_configure` failed; such a stream is
    /// answered with 500 rather than forwarded without the policy.
    plugin: Option<Rc<Plugin>>,
    host: HostCalls,
    exchange: Exchange,
}

impl Context for Filter {}

/// Only these two callbacks: `cargo xtask wasm` removes the module's exports of the others (Envoy
/// then does not call them), keeping those `EXPORTS` in `xtask/src/envoy.rs` lists. A callback
/// implemented here must be listed there; an xtask test reads this file to check it.
impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(plugin) = &self.plugin else {
            log::error!("cors: no valid cors-flex policy is loaded; answering 500");
            self.host.send_local_response(500, Vec::new());
            return Action::Pause;
        };
        match self.exchange.on_request_headers(plugin, &self.host) {
            Step::Forward => Action::Continue,
            Step::AnsweredLocally => Action::Pause,
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.exchange.on_response_headers(&self.host);
        Action::Continue
    }
}

/// [`Host`] over proxy-wasm's header-map calls for the current stream, and its counters.
///
/// An error a host call returns is logged, not unwrapped: a header map that cannot be read is
/// treated as empty (the request is then not CORS and is forwarded untouched, R1). The SDK
/// 0.2 returns none for these calls: it panics on every status but success and a lookup's "not
/// found" (the crate docs, "Untrusted input", say why Envoy gives no other here).
struct HostCalls {
    counters: Rc<Counters>,
}

fn read_map(map: MapType) -> Vec<(String, Vec<u8>)> {
    hostcalls::get_map_bytes(map).unwrap_or_else(|status| {
        log::error!("cors: cannot read {map:?}: {status:?}");
        Vec::new()
    })
}

fn read_value(map: MapType, name: &str) -> Option<Vec<u8>> {
    hostcalls::get_map_value_bytes(map, name).unwrap_or_else(|status| {
        log::error!("cors: cannot read {name} of {map:?}: {status:?}");
        None
    })
}

impl Host for HostCalls {
    fn request_header(&self, name: &str) -> Option<Vec<u8>> {
        read_value(MapType::HttpRequestHeaders, name)
    }

    fn request_headers(&self) -> Vec<(String, Vec<u8>)> {
        read_map(MapType::HttpRequestHeaders)
    }

    fn response_header(&self, name: &str) -> Option<Vec<u8>> {
        read_value(MapType::HttpResponseHeaders, name)
    }

    fn response_headers(&self) -> Vec<(String, Vec<u8>)> {
        read_map(MapType::HttpResponseHeaders)
    }

    fn send_local_response(&self, status: u32, headers: Vec<(&str, &str)>) {
        if let Err(status) = hostcalls::send_http_response(status, headers, None) {
            log::error!("cors: cannot send the local answer: {status:?}");
        }
    }

    fn remove_response_header(&self, name: &str) {
        if let Err(status) =
            hostcalls::set_map_value_bytes(MapType::HttpResponseHeaders, name, None)
        {
            log::error!("cors: cannot remove response header {name}: {status:?}");
        }
    }

    fn add_response_header(&self, name: &str, value: &[u8]) {
        if let Err(status) =
            hostcalls::add_map_value_bytes(MapType::HttpResponseHeaders, name, value)
        {
            log::error!("cors: cannot add response header {name}: {status:?}");
        }
    }

    fn count(&self, decision: Outcome, rule: Rule) {
        // Defined the first time this VM meets the pair; Envoy hands the same counter back for a
        // name it knows, so every worker's VM adds to one.
        let define = |name: &str| hostcalls::define_metric(MetricType::Counter, name);
        if let Some(id) = self.counters.id(decision, rule, define) {
            // A counter that cannot be incremented must not fail the request, nor log on every
            // one: Envoy refuses only ids it never gave, and these came from define_metric.
            let _ = hostcalls::increment_metric(id, 1);
        }
    }
}
