//! A small W3C WebDriver client for ChromeDriver: JSON over HTTP on loopback, nothing more.
//!
//! The suite needs five commands (new session, navigate, execute async script, read the browser
//! log, delete session), so a hand-written client on the workspace's hyper is smaller and
//! easier to reason about than a CDP crate with its own async runtime and Chromium downloader.
//! Protocol: <https://www.w3.org/TR/webdriver2/>; the log endpoint is ChromeDriver's
//! `POST /session/{id}/se/log`, fed by the `goog:loggingPrefs` capability.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use serde_json::{Value, json};

use crate::error::Error;
use crate::http::send;

/// How long one WebDriver command may take; a script has its own, shorter, budget inside it.
const COMMAND_LIMIT: Duration = Duration::from_mins(1);
/// How long ChromeDriver may take to start answering `/status`.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);

/// The command-line flags Chromium runs with: headless, and no traffic of its own, since the
/// machine's network is closed and every background connection would be refused.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// A running `chromedriver` process, killed when dropped.
#[derive(Debug)]
pub struct ChromeDriver {
    child: Child,
    addr: SocketAddr,
}

impl ChromeDriver {
    /// Starts `chromedriver` on a free loopback port and waits until it reports ready.
    ///
    /// `log` receives ChromeDriver's own output, for diagnosing a failed start.
    ///
    /// The port is chosen before ChromeDriver binds it, so another process can take it in
    /// between; a driver that exits early is retried on a new port, three times in all.
    pub async fn start(binary: &Path, log: &Path) -> Result<ChromeDriver, Error> {
        let mut attempt = 1;
        loop {
            match ChromeDriver::start_once(binary, log).await {
                Err(Error::Process { .. }) if attempt < 3 => attempt += 1,
                result => return result,
            }
        }
    }

    async fn start_once(binary: &Path, log: &Path) -> Result<ChromeDriver, Error> {
        let port = free_port()?;
        let out = std::fs::File::create(log)
            .map_err(|e| Error::io(format!("create {}", log.display()), e))?;
        let err = out.try_clone().map_err(|e| Error::io("duplicate a log handle", e))?;
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| Error::io(format!("spawn {}", binary.display()), e))?;
        let mut driver = ChromeDriver { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = driver.child.try_wait() {
                let output = std::fs::read_to_string(log).unwrap_or_default();
                return Err(Error::process(
                    format!("{} --port={port}", binary.display()),
                    format!("exited with {status} before it was ready; its output:\n{output}"),
                ));
            }
            if let Ok(value) = call(driver.addr, Method::GET, "/status", None).await
                && value.get("ready").and_then(Value::as_bool) == Some(true)
            {
                return Ok(driver);
            }
            if started.elapsed() > STARTUP_LIMIT {
                return Err(Error::Timeout {
                    what: format!("chromedriver on {} to become ready", driver.addr),
                    after: STARTUP_LIMIT,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Opens a session on a fresh headless Chromium with its own profile directory.
    ///
    /// The browser log (`goog:loggingPrefs`) is enabled at every level, so console messages,
    /// CORS errors included, can be read back with [`Session::browser_log`].
    pub async fn new_session(&self, chromium: &Path, profile: &Path) -> Result<Session, Error> {
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(ToString::to_string).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": { "binary": chromium, "args": args },
                    "goog:loggingPrefs": { "browser": "ALL" },
                    "timeouts": { "script": 30_000, "pageLoad": 30_000 },
                }
            }
        });
        // Chromium occasionally fails its first start on a loaded machine; one retry.
        let value =
            match call(self.addr, Method::POST, "/session", Some(capabilities.clone())).await {
                Err(Error::WebDriver { .. }) => {
                    call(self.addr, Method::POST, "/session", Some(capabilities)).await?
                }
                result => result?,
            };
        let id = value.get("sessionId").and_then(Value::as_str).ok_or_else(|| {
            Error::process("chromedriver POST /session", format!("no sessionId in {value}"))
        })?;
        let version = value
            .pointer("/capabilities/browserVersion")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned();
        Ok(Session { driver: self.addr, id: id.to_owned(), browser_version: version })
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // Killing chromedriver also ends the Chromium it started when the session was not
        // deleted; a kill that fails means the process is already gone.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver session: one Chromium window the suite drives.
#[derive(Debug)]
pub struct Session {
    driver: SocketAddr,
    id: String,
    browser_version: String,
}

/// One entry of the browser log: a console message or a message the browser itself logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// `SEVERE`, `WARNING`, `INFO` or `DEBUG`.
    pub level: String,
    /// The text, e.g. `... has been blocked by CORS policy: ...`.
    pub message: String,
}

impl Session {
    /// The browser version ChromeDriver reported when the session started.
    #[must_use]
    pub fn browser_version(&self) -> &str {
        &self.browser_version
    }

    /// Navigates the window to `url` and waits for the page to load.
    pub async fn navigate(&self, url: &str) -> Result<(), Error> {
        self.command(Method::POST, "url", Some(json!({ "url": url }))).await.map(drop)
    }

    /// Runs `script` as an async script: its last argument is the callback whose argument is
    /// returned.
    pub async fn execute_async(&self, script: &str, args: Vec<Value>) -> Result<Value, Error> {
        self.command(Method::POST, "execute/async", Some(json!({ "script": script, "args": args })))
            .await
    }

    /// Reads and clears the browser log collected since the last call.
    pub async fn browser_log(&self) -> Result<Vec<LogEntry>, Error> {
        let value =
            self.command(Method::POST, "se/log", Some(json!({ "type": "browser" }))).await?;
        let entries = value.as_array().map(Vec::as_slice).unwrap_or_default();
        Ok(entries
            .iter()
            .map(|entry| LogEntry {
                level: entry.get("level").and_then(Value::as_str).unwrap_or("?").to_owned(),
                message: entry.get("message").and_then(Value::as_str).unwrap_or("").to_owned(),
            })
            .collect())
    }

    /// Deletes the session, which closes Chromium.
    pub async fn close(self) -> Result<(), Error> {
        call(self.driver, Method::DELETE, &format!("/session/{}", self.id), None).await.map(drop)
    }

    async fn command(
        &self,
        method: Method,
        command: &str,
        body: Option<Value>,
    ) -> Result<Value, Error> {
        call(self.driver, method, &format!("/session/{}/{command}", self.id), body).await
    }
}

/// Sends one WebDriver command and returns the `value` member of the answer.
async fn call(
    driver: SocketAddr,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, Error> {
    let command = format!("{method} {path}");
    let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", driver.to_string())
        .header("content-type", "application/json; charset=utf-8")
        .body(Full::new(bytes))
        .map_err(|e| Error::process(command.clone(), format!("cannot build the request: {e}")))?;
    let response = send(driver, request, COMMAND_LIMIT).await?;
    let answer: Value = serde_json::from_slice(response.body()).map_err(|e| {
        Error::process(
            command.clone(),
            format!("answer is not JSON ({e}): {}", String::from_utf8_lossy(response.body())),
        )
    })?;
    let value = answer.get("value").cloned().unwrap_or(Value::Null);
    if response.status().is_success() {
        return Ok(value);
    }
    let field = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or("").to_owned();
    Err(Error::WebDriver { command, code: field("error"), message: field("message") })
}

/// A loopback port that was free a moment ago, for programs that cannot report the port they
/// bound (ChromeDriver takes `--port=N`).
fn free_port() -> Result<u16, Error> {
    let addr = cors_devtools::free_loopback_port()
        .map_err(|e| Error::io("bind a probe for a free port on 127.0.0.1:0", e))?;
    Ok(addr.port())
}
