//! Runs the suite: one Chromium, one gateway per policy, every case from the page, and a
//! comparison of what the browser did with what the case expects.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::cases::{Case, Outcome, Page, PolicyFile, Suite};
use crate::error::{Error, chain};
use crate::gateway::Gateway;
use crate::servers::{COOKIE, SET_COOKIE_PATH, Seen, Server, UPSTREAM_HEADERS, upstream_body};
use crate::webdriver::{ChromeDriver, LogEntry, Session};

/// How long one `fetch()` may take inside the page before it is aborted.
const FETCH_LIMIT: Duration = Duration::from_secs(10);

/// The async script that runs one case; the page defines `window.corsCase`.
const RUN_CASE: &str = "const done = arguments[arguments.length - 1];
window.corsCase(arguments[0]).then(done, (e) => done({ ok: false, status: null,
  errorName: 'HarnessError', errorMessage: String(e), headers: {}, body: null,
  documentCookie: document.cookie }));";

/// Where the programs and files the run needs are.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Environment {
    /// The Chromium binary.
    pub chromium: PathBuf,
    /// The ChromeDriver binary (same version as Chromium).
    pub chromedriver: PathBuf,
    /// The `cors-gateway` binary.
    pub gateway: PathBuf,
    /// The `browser-tests` directory policy files are relative to.
    pub base: PathBuf,
    /// A fresh directory for the browser profile, rendered policies and process logs.
    pub scratch: PathBuf,
}

impl Environment {
    /// Collects the paths; `scratch` is created if missing.
    pub fn new(
        chromium: PathBuf,
        chromedriver: PathBuf,
        gateway: PathBuf,
        base: PathBuf,
        scratch: PathBuf,
    ) -> Result<Environment, Error> {
        std::fs::create_dir_all(&scratch)
            .map_err(|e| Error::io(format!("create {}", scratch.display()), e))?;
        Ok(Environment { chromium, chromedriver, gateway, base, scratch })
    }
}

/// What the page observed for one `fetch()`, as `window.corsCase` returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FetchResult {
    /// Whether the promise resolved.
    pub ok: bool,
    /// The status, when it resolved.
    pub status: Option<u16>,
    /// The error's `name` (`TypeError` for a CORS failure), when it rejected.
    pub error_name: Option<String>,
    /// The error's message, when it rejected.
    pub error_message: Option<String>,
    /// `response.headers.get(name)` for each header the case reads (`None` = not readable).
    pub headers: BTreeMap<String, Option<String>>,
    /// The response body as text, when it resolved.
    pub body: Option<String>,
    /// `document.cookie` of the page when the case ran.
    pub document_cookie: String,
}

/// Everything observed for one case.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Observation {
    /// What the page saw.
    pub fetch: FetchResult,
    /// Every request the browser sent for the case (through the tap), preflights included.
    pub sent: Vec<Seen>,
    /// Every request that reached the upstream for the case.
    pub arrived: Vec<Seen>,
    /// The browser log lines written while the case ran.
    pub console: Vec<LogEntry>,
}

/// The method a browser puts on the wire for `method`: Fetch upper-cases exactly DELETE, GET,
/// HEAD, OPTIONS, POST and PUT, ignoring case, and leaves every other method as written
/// (<https://fetch.spec.whatwg.org/#concept-method-normalize>).
#[must_use]
pub fn normalize_method(method: &str) -> String {
    const NORMALIZED: [&str; 6] = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];
    NORMALIZED
        .iter()
        .find(|m| m.eq_ignore_ascii_case(method))
        .map_or_else(|| method.to_owned(), |m| (*m).to_owned())
}

/// Every way `observed` differs from what `case` expects, one sentence each.
#[must_use]
pub fn mismatches(case: &Case, observed: &Observation) -> Vec<String> {
    let mut found = Vec::new();
    let expect = &case.expect;
    let fetch = &observed.fetch;
    let wire_method = normalize_method(&case.method);
    check_fetch(case, fetch, &wire_method, &mut found);
    let preflights: Vec<&Seen> = observed.sent.iter().filter(|s| s.method == "OPTIONS").collect();
    if preflights.is_empty() == expect.preflight {
        found.push(if expect.preflight {
            "the browser should send a preflight, but sent none".to_owned()
        } else {
            format!("the browser should send no preflight, but sent {}", describe(&preflights))
        });
    }
    if let Some(first) = preflights.first()
        && first.request_method.as_deref() != Some(wire_method.as_str())
    {
        found.push(format!(
            "the preflight should ask for {wire_method:?}, but asked for {:?}",
            first.request_method
        ));
    }
    if let Some(forwarded) = observed.arrived.iter().find(|s| s.request_method.is_some()) {
        found.push(format!(
            "the gateway forwarded a preflight to the upstream (R3): {}",
            describe(&[forwarded])
        ));
    }
    // Requests the upstream saw, apart from a preflight the gateway should not have forwarded.
    let actual: Vec<&Seen> =
        observed.arrived.iter().filter(|s| s.request_method.is_none()).collect();
    if actual.is_empty() == expect.arrived {
        found.push(if expect.arrived {
            "the request should reach the upstream, but did not".to_owned()
        } else {
            format!("the request should not reach the upstream, but it saw {}", describe(&actual))
        });
    }
    if let Some(arrival) = actual.first() {
        if arrival.method != wire_method {
            found.push(format!(
                "the upstream should see method {wire_method:?}, but saw {:?}",
                arrival.method
            ));
        }
        if let Some(cookie) = expect.cookie {
            let sent =
                arrival.cookie.as_deref().is_some_and(|c| c.split("; ").any(|c| c == COOKIE));
            if sent != cookie {
                found.push(format!(
                    "the cookie {COOKIE:?} should {}be sent, but the Cookie header was {:?} \
                     (the page's document.cookie: {:?})",
                    if cookie { "" } else { "not " },
                    arrival.cookie,
                    fetch.document_cookie
                ));
            }
        }
    }
    check_headers(case, fetch, &mut found);
    found
}

/// The outcome of `fetch()` and the body it read.
fn check_fetch(case: &Case, fetch: &FetchResult, wire_method: &str, found: &mut Vec<String>) {
    match case.expect.fetch {
        Outcome::Ok => {
            if !fetch.ok {
                found.push(format!(
                    "fetch() should resolve, but it rejected with {}: {}",
                    fetch.error_name.as_deref().unwrap_or("?"),
                    fetch.error_message.as_deref().unwrap_or("")
                ));
            } else if fetch.body.as_deref() != Some(&expected_body(wire_method, case)) {
                found.push(format!(
                    "the body should be the upstream's answer, but it is {:?} (status {:?})",
                    fetch.body, fetch.status
                ));
            }
        }
        Outcome::CorsError => {
            if fetch.ok {
                found.push(format!(
                    "fetch() should reject with a TypeError, but it resolved with status {:?}",
                    fetch.status
                ));
            } else if fetch.error_name.as_deref() != Some("TypeError") {
                found.push(format!(
                    "fetch() should reject with a TypeError, but it rejected with {}: {}",
                    fetch.error_name.as_deref().unwrap_or("?"),
                    fetch.error_message.as_deref().unwrap_or("")
                ));
            }
        }
    }
}

/// The response headers JavaScript could and could not read.
fn check_headers(case: &Case, fetch: &FetchResult, found: &mut Vec<String>) {
    let expect = &case.expect;
    if fetch.ok {
        for name in &expect.visible {
            let want = UPSTREAM_HEADERS
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v);
            let got = fetch.headers.get(name).cloned().flatten();
            if got.as_deref() != want {
                found.push(format!(
                    "JavaScript should read {name}: {want:?}, but response.headers.get gave {got:?}"
                ));
            }
        }
        for name in &expect.hidden {
            if let Some(Some(value)) = fetch.headers.get(name) {
                found.push(format!(
                    "JavaScript should not read {name}, but response.headers.get gave {value:?}"
                ));
            }
        }
    }
}

fn describe(seen: &[&Seen]) -> String {
    seen.iter()
        .map(|s| {
            let mut text = s.method.clone();
            if let Some(m) = &s.request_method {
                let _ = write!(text, " (ACRM {m}");
                if let Some(h) = &s.request_headers {
                    let _ = write!(text, ", ACRH {h}");
                }
                text.push(')');
            }
            text
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line saying what happened, for the report.
#[must_use]
pub fn summary(observed: &Observation) -> String {
    let fetch = &observed.fetch;
    let outcome = if fetch.ok {
        format!("ok {}", fetch.status.unwrap_or_default())
    } else {
        fetch.error_name.as_deref().unwrap_or("?").to_owned()
    };
    let sent: Vec<&Seen> = observed.sent.iter().collect();
    let arrived: Vec<&Seen> = observed.arrived.iter().collect();
    let cookie =
        observed.arrived.first().map_or("-", |a| if a.cookie.is_some() { "yes" } else { "no" });
    let headers: Vec<String> = fetch
        .headers
        .iter()
        .map(|(n, v)| format!("{n}={}", v.as_deref().unwrap_or("(hidden)")))
        .collect();
    format!(
        "fetch {outcome}; browser sent [{}]; upstream saw [{}]; cookie {cookie}; headers [{}]",
        describe(&sent),
        describe(&arrived),
        headers.join(", ")
    )
}

/// The result of one case.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CaseReport {
    /// The case id.
    pub id: String,
    /// The conformance cases it corresponds to.
    pub conformance: Vec<String>,
    /// What happened, in one line.
    pub summary: String,
    /// Every difference from the expectation; empty when the case passed.
    pub mismatches: Vec<String>,
    /// The browser log lines written while it ran.
    pub console: Vec<String>,
}

/// The result of a run.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Report {
    /// The browser version ChromeDriver reported.
    pub browser_version: String,
    /// One entry per case, in run order.
    pub cases: Vec<CaseReport>,
}

impl Report {
    /// The cases that did not behave as expected.
    pub fn failures(&self) -> impl Iterator<Item = &CaseReport> {
        self.cases.iter().filter(|case| !case.mismatches.is_empty())
    }
}

/// Runs every case of `suite` in one Chromium session.
///
/// Setting up the browser is fatal (an `Err`); a gateway that fails to start fails the cases of
/// its policy, with its output, and the run goes on with the next policy.
pub async fn run(suite: &Suite, env: &Environment) -> Result<Report, Error> {
    let upstream = Server::upstream().await?;
    let page = Server::page().await?;
    let driver =
        ChromeDriver::start(&env.chromedriver, &env.scratch.join("chromedriver.log")).await?;
    let session = driver.new_session(&env.chromium, &env.scratch.join("profile")).await?;
    let mut report =
        Report { browser_version: session.browser_version().to_owned(), cases: Vec::new() };
    let result = run_policies(suite, env, &session, &upstream, &page, &mut report).await;
    // Close the browser even when a policy failed; the driver is killed on drop anyway.
    let closed = session.close().await;
    result?;
    closed?;
    Ok(report)
}

async fn run_policies(
    suite: &Suite,
    env: &Environment,
    session: &Session,
    upstream: &Server,
    page: &Server,
    report: &mut Report,
) -> Result<(), Error> {
    let listed = format!("http://localhost:{}", page.addr().port());
    let other = format!("http://127.0.0.1:{}", page.addr().port());
    for policy in &suite.policies {
        let cases: Vec<&Case> = suite.cases_of(&policy.name).collect();
        if cases.is_empty() {
            continue;
        }
        match start_gateway(policy, env, &listed, upstream).await {
            Ok((gateway, tap)) => {
                let gateway_origin = format!("http://localhost:{}", tap.addr().port());
                session.navigate(&format!("{gateway_origin}{SET_COOKIE_PATH}")).await?;
                let mut current = String::new();
                for case in cases {
                    let origin = match case.page {
                        Page::Listed => &listed,
                        Page::Other => &other,
                    };
                    if current != *origin {
                        session.navigate(&format!("{origin}/")).await?;
                        current.clone_from(origin);
                    }
                    let observed = run_case(session, case, &gateway_origin, &tap, upstream).await;
                    let (observation, mut mismatches) = match observed {
                        Ok(observation) => {
                            let found = mismatches(case, &observation);
                            (observation, found)
                        }
                        Err(error) => {
                            (Observation::default(), vec![format!("harness: {}", chain(&error))])
                        }
                    };
                    if !mismatches.is_empty() {
                        let path = path_of(case);
                        let lines: Vec<String> = gateway
                            .log_text()
                            .lines()
                            .filter(|line| line.contains(&path))
                            .map(str::to_owned)
                            .collect();
                        if !lines.is_empty() {
                            mismatches.push(format!("gateway log: {}", lines.join(" | ")));
                        }
                    }
                    report.cases.push(CaseReport {
                        id: case.id.clone(),
                        conformance: case.conformance.clone(),
                        summary: summary(&observation),
                        mismatches,
                        console: observation
                            .console
                            .iter()
                            .map(|e| format!("{}: {}", e.level, e.message))
                            .collect(),
                    });
                }
            }
            Err(error) => {
                let message = format!("cors-gateway did not start: {}", chain(&error));
                for case in cases {
                    report.cases.push(CaseReport {
                        id: case.id.clone(),
                        conformance: case.conformance.clone(),
                        summary: "not run".to_owned(),
                        mismatches: vec![message.clone()],
                        console: Vec::new(),
                    });
                }
            }
        }
    }
    Ok(())
}

async fn start_gateway(
    policy: &PolicyFile,
    env: &Environment,
    listed: &str,
    upstream: &Server,
) -> Result<(Gateway, Server), Error> {
    let text = policy.render(&env.base, listed)?;
    let config = env.scratch.join(format!("policy-{}.yaml", policy.name));
    std::fs::write(&config, text)
        .map_err(|e| Error::io(format!("write {}", config.display()), e))?;
    let log = env.scratch.join(format!("gateway-{}.log", policy.name));
    let upstream_url = format!("http://{}", upstream.addr());
    let binary = env.gateway.clone();
    let gateway =
        tokio::task::spawn_blocking(move || Gateway::start(&binary, &config, &upstream_url, &log))
            .await
            .map_err(|e| Error::process("cors-gateway start", e.to_string()))??;
    let tap = Server::tap(gateway.addr()).await?;
    Ok((gateway, tap))
}

/// The body the page must read: the upstream's answer, or nothing for `HEAD`.
fn expected_body(wire_method: &str, case: &Case) -> String {
    if wire_method == "HEAD" { String::new() } else { upstream_body(wire_method, &path_of(case)) }
}

/// The path a case's request goes to; unique per case, so no preflight cache entry is shared.
fn path_of(case: &Case) -> String {
    format!("/c/{}", case.id)
}

async fn run_case(
    session: &Session,
    case: &Case,
    gateway_origin: &str,
    tap: &Server,
    upstream: &Server,
) -> Result<Observation, Error> {
    // Drop what earlier cases and navigations logged.
    session.browser_log().await?;
    let path = path_of(case);
    let query = if case.upstream_cors { "?upstream-cors" } else { "" };
    let read: BTreeSet<&String> = case.expect.visible.iter().chain(&case.expect.hidden).collect();
    let spec = json!({
        "url": format!("{gateway_origin}{path}{query}"),
        "method": case.method,
        "headers": case.headers,
        "credentials": case.credentials.as_str(),
        "body": case.body,
        "read": read,
        "timeoutMs": FETCH_LIMIT.as_millis(),
    });
    let value = session.execute_async(RUN_CASE, vec![spec]).await?;
    let fetch: FetchResult = serde_json::from_value(value.clone()).map_err(|e| {
        Error::process("window.corsCase", format!("unexpected result {value}: {e}"))
    })?;
    let mut console = session.browser_log().await?;
    if !fetch.ok && console.is_empty() {
        // The CORS error message can be logged a moment after the promise rejects.
        tokio::time::sleep(Duration::from_millis(200)).await;
        console = session.browser_log().await?;
    }
    Ok(Observation {
        fetch,
        sent: tap.log().for_path(&path),
        arrived: upstream.log().for_path(&path),
        console,
    })
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::{FetchResult, Observation, mismatches, normalize_method, path_of};
    use crate::cases::Suite;
    use crate::servers::{Seen, upstream_body};

    #[rstest]
    #[case::get_is_kept("GET", "GET")]
    #[case::lower_get_is_upper_cased("get", "GET")]
    #[case::mixed_delete_is_upper_cased("DeLeTe", "DELETE")]
    #[case::lower_patch_stays_lower("patch", "patch")]
    #[case::upper_patch_stays_upper("PATCH", "PATCH")]
    fn normalizes_like_fetch(#[case] written: &str, #[case] wire: &str) {
        assert_eq!(normalize_method(written), wire);
    }

    const SUITE: &str = r#"
        [[policy]]
        name = "p"
        file = "policies/credentialed-groups.yaml"
        about = "a policy"

        [[case]]
        id = "p/put"
        policy = "p"
        page = "listed"
        method = "PUT"
        credentials = "include"
        rules = ["P1"]
        why = "w"
        expect = { fetch = "ok", preflight = true, arrived = true, cookie = true, visible = ["x-request-id"], hidden = ["x-secret"] }
    "#;

    fn seen(method: &str, cookie: Option<&str>) -> Seen {
        Seen {
            method: method.to_owned(),
            path: "/c/p/put".to_owned(),
            origin: Some("http://localhost:1".to_owned()),
            cookie: cookie.map(str::to_owned),
            request_method: (method == "OPTIONS").then(|| "PUT".to_owned()),
            request_headers: None,
        }
    }

    /// What a browser shows when the case behaves exactly as expected.
    fn as_expected() -> Observation {
        let mut fetch = FetchResult {
            ok: true,
            status: Some(200),
            body: Some(upstream_body("PUT", "/c/p/put")),
            ..FetchResult::default()
        };
        fetch.headers.insert("x-request-id".to_owned(), Some("rid-42".to_owned()));
        fetch.headers.insert("x-secret".to_owned(), None);
        Observation {
            fetch,
            sent: vec![seen("OPTIONS", None), seen("PUT", Some("bt_session=1"))],
            arrived: vec![seen("PUT", Some("a=b; bt_session=1"))],
            console: Vec::new(),
        }
    }

    #[rstest]
    #[case::expected_observation_has_no_mismatch(|_: &mut Observation| {}, "")]
    #[case::rejected_fetch_is_reported(
        |o: &mut Observation| { o.fetch.ok = false; o.fetch.error_name = Some("TypeError".into()); },
        "fetch() should resolve, but it rejected with TypeError"
    )]
    #[case::missing_preflight_is_reported(
        |o: &mut Observation| o.sent.retain(|s| s.method != "OPTIONS"),
        "should send a preflight, but sent none"
    )]
    #[case::missing_arrival_is_reported(
        |o: &mut Observation| o.arrived.clear(),
        "should reach the upstream, but did not"
    )]
    #[case::missing_cookie_is_reported(
        |o: &mut Observation| o.arrived[0].cookie = None,
        "should be sent, but the Cookie header was None"
    )]
    #[case::readable_hidden_header_is_reported(
        |o: &mut Observation| { o.fetch.headers.insert("x-secret".into(), Some("s3cret".into())); },
        "JavaScript should not read x-secret"
    )]
    #[case::unreadable_visible_header_is_reported(
        |o: &mut Observation| { o.fetch.headers.insert("x-request-id".into(), None); },
        "JavaScript should read x-request-id"
    )]
    #[case::other_method_upstream_is_reported(
        |o: &mut Observation| o.arrived[0].method = "put".into(),
        "the upstream should see method \"PUT\", but saw \"put\""
    )]
    #[case::forwarded_preflight_is_reported(
        |o: &mut Observation| o.arrived.insert(0, seen("OPTIONS", None)),
        "the gateway forwarded a preflight to the upstream (R3)"
    )]
    #[case::wrong_body_is_reported(
        |o: &mut Observation| o.fetch.body = Some(String::new()),
        "the body should be the upstream's answer"
    )]
    fn check(#[case] change: fn(&mut Observation), #[case] message: &str) {
        check_mismatch(change, message);
    }

    #[track_caller]
    fn check_mismatch(change: fn(&mut Observation), message: &str) {
        let suite = Suite::parse(SUITE, "t.toml").unwrap();
        let case = &suite.cases[0];
        assert_eq!(path_of(case), "/c/p/put");
        let mut observed = as_expected();
        change(&mut observed);
        let found = mismatches(case, &observed);
        if message.is_empty() {
            assert!(found.is_empty(), "{found:?}");
        } else {
            assert_eq!(found.len(), 1, "{found:?}");
            assert!(found[0].contains(message), "{found:?} does not say {message:?}");
        }
    }
}
