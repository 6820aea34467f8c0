//! Browser truth for the CORS toolkit: headless Chromium, driven over WebDriver, runs
//! cross-origin `fetch()` calls through `cors-gateway` and must get exactly the access each
//! policy grants.
//!
//! The cases live in `browser-tests/cases.toml`; the one test, `tests/browser.rs`, runs them
//! all in a single browser session and reports every mismatch with the browser's console
//! message. This library is that test's harness: the case model ([`cases`]), a minimal
//! WebDriver client ([`webdriver`]), the gateway process ([`gateway`]), the loopback servers
//! around it ([`servers`]) and the runner ([`run`]).
//!
//! ```
//! use browser_tests::cases::{Outcome, Suite};
//!
//! let suite = Suite::parse(
//!     r#"
//!     [[policy]]
//!     name = "public"
//!     file = "../spec-tests/profiles/public.yaml"
//!     about = "a public resource without credentials"
//!
//!     [[case]]
//!     id = "public/get"
//!     policy = "public"
//!     page = "listed"
//!     method = "GET"
//!     credentials = "omit"
//!     rules = ["M2", "O1"]
//!     why = "every origin gets `*`"
//!     expect = { fetch = "ok", preflight = false, arrived = true, visible = ["content-type"] }
//!     "#,
//!     "example",
//! )?;
//! assert_eq!(suite.cases[0].expect.fetch, Outcome::Ok);
//! # Ok::<(), browser_tests::error::Error>(())
//! ```
//!
//! # Spec conformance
//!
//! The expectations follow the behaviour contract's rule ids and what the WHATWG Fetch standard
//! makes a browser do with the gateway's answers: the CORS check
//! (<https://fetch.spec.whatwg.org/#cors-check>), the CORS-preflight fetch
//! (<https://fetch.spec.whatwg.org/#cors-preflight-fetch>), CORS-safelisted request and response
//! headers, and method normalization (only DELETE, GET, HEAD, OPTIONS, POST and PUT are
//! upper-cased). Cookie expectations follow Chromium's `SameSite=Lax` default for cookies set
//! without the attribute (RFC 6265bis): sent between `http://localhost` ports, not from
//! `http://127.0.0.1`.
//!
//! # Untrusted input
//!
//! None: everything runs on loopback between processes the test starts. Every wait is bounded
//! (WebDriver commands, the page's `fetch()`, process start-up), so a hung gateway fails a case
//! instead of hanging CI.
//!
//! # Crate features
//!
//! None.

#![expect(
    clippy::doc_markdown,
    reason = "WebDriver and ChromeDriver are product names in prose, not code"
)]

pub mod cases;
pub mod error;
pub mod gateway;
mod http;
pub mod run;
pub mod servers;
pub mod webdriver;
