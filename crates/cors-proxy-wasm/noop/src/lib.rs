//! A proxy-wasm HTTP filter that does nothing: every stream is let through untouched.
//!
//! It is the baseline of the Envoy load benchmark (`cargo xtask bench --load`, the
//! `envoy-noop` target): built with the same proxy-wasm SDK, the same profile and the same
//! Envoy configuration as `cors-proxy-wasm`, it costs what running any Rust proxy-wasm HTTP
//! filter in Envoy costs (V8, the context per stream, the SDK's dispatch of each callback) and
//! nothing else. What `cors-proxy-wasm` costs beyond it is the CORS filter's own work.
//!
//! ```sh
//! cargo xtask wasm    # builds it next to cors-proxy-wasm, and prints both modules' paths
//! ```
//!
//! A stream holds no state at all, so Envoy's per-stream context is the SDK's alone:
//!
//! ```
//! assert_eq!(std::mem::size_of::<cors_proxy_wasm_noop::Pass>(), 0);
//! ```
//!
//! # Spec conformance
//!
//! Not applicable: the filter reads and writes nothing.
//!
//! # Untrusted input
//!
//! None is read.
//!
//! # Crate features
//!
//! None. On `wasm32` targets the crate exports the proxy-wasm ABI; on other targets it is a plain
//! library, so that workspace-wide checks build it.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

/// The root context: accepts any plugin configuration and creates one [`Pass`] per stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct Root;

impl Context for Root {}

impl RootContext for Root {
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Pass))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// One stream: every callback keeps the SDK's default, which continues.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pass;

impl Context for Pass {}

impl HttpContext for Pass {}

/// The module's entry point: proxy-wasm's `_initialize` export, which Envoy calls once per VM.
#[cfg(target_arch = "wasm32")]
mod entry {
    proxy_wasm::main! {{
        proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
            Box::new(crate::Root)
        });
    }}
}
