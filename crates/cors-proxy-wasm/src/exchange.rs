//! [`Exchange`]: one request and its response through the filter, applying the engine's
//! decision over a [`Host`] (proxy-wasm's header calls, or a fake in tests).
//!
//! Every call into the host crosses from the Wasm VM into Envoy and back, and one that returns a
//! value crosses twice more (Envoy calls into the module to allocate the copy): those crossings,
//! not the decision, are what the filter's time goes to (docs/envoy.md has the instruction
//! counts). So the exchange makes as few calls as a decision allows: a request without `Origin`
//! costs one lookup that finds nothing; an actual request with `Origin` looks up `Origin` and the
//! method (and the address, only for R2); a preflight the same two lookups, then one call that
//! reads every line; a response is read whole only when its `Access-Control-*` fields are replaced, and
//! otherwise only its `Vary`; a local answer is one call.

use std::cell::OnceCell;

use cors_engine::{
    Decision, Outcome, OwnedDecision, Request, RequestHeaders, ResponseFields, Rule, Vary,
};
use http::{HeaderName, HeaderValue};

use crate::Plugin;
use crate::headers::{RequestLines, starts_with_ignoring_case};

/// The request field whose absence settles a decision (R1), and the pseudo-headers the filter
/// passes the engine.
const ORIGIN: &str = "origin";
const METHOD: &str = ":method";
const AUTHORITY: &str = ":authority";

/// The host calls an exchange makes.
///
/// The filter implements it over proxy-wasm's header-map calls; tests implement it over plain
/// vectors, so everything but the calls themselves runs natively.
pub trait Host {
    /// The value of the request field `name` (lower-case), `None` when the request has no field
    /// of that name.
    ///
    /// Where the request has several lines of a name, Envoy answers the first; but it joins
    /// repeated lines of `Origin` (and of the two `Access-Control-Request-*` fields) into one,
    /// with `,`, before any filter runs, and the pseudo-headers have one line each. So the
    /// exchange takes the value of `Origin`, `:method` and `:authority` as their only line.
    fn request_header(&self, name: &str) -> Option<Vec<u8>>;

    /// Every request header field line, pseudo-headers included, in order.
    fn request_headers(&self) -> Vec<(String, Vec<u8>)>;

    /// The value of the first response field line named `name` (lower-case), `None` when the
    /// response has none.
    fn response_header(&self, name: &str) -> Option<Vec<u8>>;

    /// Every response header field line, in order.
    fn response_headers(&self) -> Vec<(String, Vec<u8>)>;

    /// Answers the request locally with `status`, these header lines and no body; the request is
    /// not forwarded.
    fn send_local_response(&self, status: u32, headers: Vec<(&str, &str)>);

    /// Removes every response field line named `name`.
    fn remove_response_header(&self, name: &str);

    /// Appends one response field line.
    fn add_response_header(&self, name: &str, value: &[u8]);

    /// Counts one decision and the rule that decided it (the filter's `cors_requests_total`
    /// counters).
    fn count(&self, decision: Outcome, rule: Rule);
}

/// What the filter tells the proxy after the request headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Forward the request upstream (not CORS, or an allowed actual request).
    Forward,
    /// The request was answered locally (a preflight, or a blocked actual request): stop here.
    AnsweredLocally,
}

/// One HTTP exchange: decides on the request headers, and applies the decision to the upstream's
/// response headers.
///
/// All decisions come from [`cors_engine::Engine::decide`], and are written into the answer by
/// [`cors_engine::Decision::apply`] and [`cors_engine::OwnedDecision::apply`], as in every other
/// adapter; this type only carries the decision from the request to the response, over the
/// host's header calls:
///
/// - preflight (R3, P1 to P6) and blocked (A2): answered locally with status 200, no body, the
///   decided Access-Control-* headers and `Vary`;
/// - allowed (A1, A4): forwarded; on the response every upstream `Access-Control-*` line is
///   removed, the decided ones are set, and the decided `Vary` tokens the response does not list
///   yet are appended;
/// - not CORS (R1, R2): forwarded; the response keeps its headers and only gets the missing
///   `Vary` tokens (V1).
///
/// Each decision is counted, with the rule that decided it ([`Host::count`]).
///
/// ```
/// use std::cell::RefCell;
/// use cors_engine::{Outcome, Rule};
/// use cors_proxy_wasm::{Exchange, Host, Plugin, Step};
///
/// #[derive(Default)]
/// struct Fake { local: RefCell<Option<Vec<(String, String)>>>, counted: RefCell<Vec<Outcome>> }
/// impl Host for Fake {
///     fn request_header(&self, name: &str) -> Option<Vec<u8>> {
///         self.request_headers().into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
///     }
///     fn request_headers(&self) -> Vec<(String, Vec<u8>)> {
///         [(":method", "OPTIONS"), (":authority", "api.test"), ("origin", "https://a.test"),
///          ("access-control-request-method", "GET")]
///             .map(|(n, v)| (n.to_owned(), v.as_bytes().to_vec())).to_vec()
///     }
///     fn response_header(&self, _name: &str) -> Option<Vec<u8>> { None }
///     fn response_headers(&self) -> Vec<(String, Vec<u8>)> { Vec::new() }
///     fn send_local_response(&self, _status: u32, headers: Vec<(&str, &str)>) {
///         let owned = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
///         *self.local.borrow_mut() = Some(owned);
///     }
///     fn remove_response_header(&self, _name: &str) {}
///     fn add_response_header(&self, _name: &str, _value: &[u8]) {}
///     fn count(&self, decision: Outcome, _rule: Rule) { self.counted.borrow_mut().push(decision); }
/// }
///
/// let plugin = Plugin::from_configuration(
///     b"publicResource: false\noriginGroups: [{origins: ['https://a.test']}]\n", "cors-flex")?;
/// let host = Fake::default();
/// let step = Exchange::default().on_request_headers(&plugin, &host);
/// assert_eq!(step, Step::AnsweredLocally);
/// let local = host.local.borrow().clone().unwrap();
/// assert!(local.contains(&("access-control-allow-origin".into(), "https://a.test".into())));
/// assert_eq!(*host.counted.borrow(), [Outcome::PreflightAccepted]);
/// # Ok::<(), cors_policy::LoadError>(())
/// ```
#[derive(Debug, Default)]
pub struct Exchange {
    /// The decision of a forwarded request whose response it changes, until that response
    /// arrives. `None` before a decision, once the response was handled, for a decision that
    /// writes nothing, and for a request answered locally (Envoy runs the filter's response
    /// callback on its own local answer too, which must stay as it is).
    pending: Option<OwnedDecision>,
}

impl Exchange {
    /// Decides the request and, for a preflight or a blocked request, answers it through `host`.
    ///
    /// Reads the request in as few host calls as its kind allows, cheapest first, each call
    /// costing far more than the decision (and one that finds a value most):
    ///
    /// - `Origin` is looked up first: without it the request is not CORS (R1) whatever else it
    ///   carries, and nothing else is read, so the commonest request costs one lookup that finds
    ///   nothing.
    /// - With it, the method. Any method but `OPTIONS` makes an actual request (R3), which needs
    ///   nothing more but the address (`:authority`), and that only when R2 asks for it (an
    ///   `Origin` whose scheme could be the listener's).
    /// - An `OPTIONS` may be a preflight, which needs the two `Access-Control-Request-*` fields
    ///   and the address too: every line is read in one call, which costs less than those
    ///   lookups one by one.
    pub fn on_request_headers(&mut self, plugin: &Plugin, host: &impl Host) -> Step {
        let engine = plugin.engine();
        let Some(origin) = host.request_header(ORIGIN) else {
            // R1: the engine decides a request without Origin on that alone; it reads neither
            // the method nor the address, so neither is read here.
            let no_fields: &[(&str, &str)] = &[];
            return self.settle(engine.decide(&Request::new(b"", no_fields)), host);
        };
        let method = host.request_header(METHOD).unwrap_or_default();
        // R3: only an `OPTIONS` can be a preflight, and a preflight needs the two
        // `Access-Control-Request-*` fields and the address: every line, in one call.
        let origin = (method != b"OPTIONS").then_some(origin);
        let fields = Fields { host, origin, lines: OnceCell::new(), authority: OnceCell::new() };
        let request = Request {
            method: method.as_slice(),
            headers: &fields,
            scheme: plugin.scheme(),
            host: || fields.authority(),
        };
        self.settle(engine.decide(&request), host)
    }

    /// Counts the decision, then keeps it for the response or answers locally.
    fn settle<H: RequestHeaders + ?Sized>(
        &mut self,
        decision: Decision<'_, '_, H>,
        host: &impl Host,
    ) -> Step {
        host.count(decision.outcome(), decision.rule());
        if decision.outcome().is_forwarded() {
            let decision = decision.into_owned();
            let writes = !decision.vary().is_empty() || decision.headers().next().is_some();
            self.pending = writes.then_some(decision);
            Step::Forward
        } else {
            self.pending = None;
            // P1, P3, A2: status 200, no body, the decision written into the answer.
            let mut answer = LocalAnswer::default();
            decision.apply(&mut answer);
            host.send_local_response(200, answer.lines());
            Step::AnsweredLocally
        }
    }

    /// Applies the decision to the response headers the upstream sent (A1, A4, V1).
    pub fn on_response_headers(&mut self, host: &impl Host) {
        if let Some(decision) = self.pending.take() {
            let mut response = UpstreamResponse::new(host, &decision);
            decision.apply(&mut response);
        }
    }
}

/// The fields of a request with `Origin`, as the engine reads them, through one type so that
/// the module holds one copy of the engine's decision.
///
/// - An `OPTIONS` (perhaps a preflight): every request line, read in one call.
/// - Another request: its one `Origin` value, already looked up, the address looked up when R2
///   asks for it, and any other name from every request line, read the first time the engine
///   asks for one (an actual request asks for none). One `Origin` value is every line of it: Envoy joins repeated lines
///   into one before any filter runs ([`Host::request_header`]), so two lines reach the engine
///   as the one malformed value they make (R5), as the request map has it.
struct Fields<'h, H> {
    host: &'h H,
    /// `Origin`'s value, looked up alone; `None` on an `OPTIONS`, which reads every line.
    origin: Option<Vec<u8>>,
    /// Every request line, once read.
    lines: OnceCell<RequestLines>,
    /// `:authority`, once looked up alone.
    authority: OnceCell<Option<Vec<u8>>>,
}

impl<H: Host> Fields<'_, H> {
    fn lines(&self) -> &RequestLines {
        self.lines.get_or_init(|| RequestLines::new(self.host.request_headers()))
    }

    /// The address, for R2.
    fn authority(&self) -> Option<&[u8]> {
        if self.origin.is_none() {
            return self.lines().first(AUTHORITY);
        }
        self.authority.get_or_init(|| self.host.request_header(AUTHORITY)).as_deref()
    }
}

impl<H: Host> RequestHeaders for Fields<'_, H> {
    type Value = [u8];

    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + 'a {
        let known = self.origin.as_deref().filter(|_| name == ORIGIN);
        let read = known.is_none().then(|| self.lines().field_lines(name));
        known.into_iter().chain(read.into_iter().flatten())
    }
}

/// A local answer's header lines, as the decision writes them.
struct LocalAnswer(Vec<(HeaderName, HeaderValue)>);

/// The most lines a decision writes: six `Access-Control-*` fields and `Vary`.
const MOST_LINES: usize = 7;

impl Default for LocalAnswer {
    /// Room for every line a decision writes, so that appending never grows the vector.
    fn default() -> Self {
        LocalAnswer(Vec::with_capacity(MOST_LINES))
    }
}

impl LocalAnswer {
    /// The lines as text, in one allocation. The engine builds values from validated ASCII
    /// (canonical origins, tokens), so the conversion cannot fail; were it to, the line is left
    /// out rather than sent mangled.
    fn lines(&self) -> Vec<(&str, &str)> {
        let mut lines = Vec::with_capacity(self.0.len());
        let text =
            self.0.iter().filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        lines.extend(text);
        lines
    }
}

impl ResponseFields for LocalAnswer {
    fn vary_lines(&self) -> impl Iterator<Item = &[u8]> {
        let vary = self.0.iter().filter(|(name, _)| name == http::header::VARY);
        vary.map(|(_, value)| value.as_bytes())
    }

    fn remove_prefixed(&mut self, prefix: &str) {
        self.0.retain(|(name, _)| !name.as_str().starts_with(prefix));
    }

    fn append(&mut self, name: HeaderName, value: HeaderValue) {
        self.0.push((name, value));
    }
}

/// The upstream's response headers as [`ResponseFields`], read through the host as little as
/// the decision allows, changed through its calls, and kept in step so that what is read after a
/// change is what the host has: a removal updates what was read, an append forgets it.
///
/// - `Vary` (V1): one lookup. No `Vary`, or a first line that already lists every token the
///   decision adds, settles it; otherwise every line is read, since another line may list them.
/// - Replacing `Access-Control-*` (A4) reads every line: any name with the prefix goes.
struct UpstreamResponse<'h, H> {
    host: &'h H,
    /// The tokens the decision adds to `Vary`.
    wanted: Vary,
    /// Whether the decision replaces the `Access-Control-*` fields, and so reads every line.
    replaces: bool,
    /// The first `Vary` line, once looked up alone.
    first_vary: OnceCell<Option<Vec<u8>>>,
    /// Every field line, once read.
    lines: OnceCell<Vec<(String, Vec<u8>)>>,
}

impl<'h, H: Host> UpstreamResponse<'h, H> {
    fn new(host: &'h H, decision: &OwnedDecision) -> Self {
        UpstreamResponse {
            host,
            wanted: decision.vary(),
            replaces: decision.headers().next().is_some(),
            first_vary: OnceCell::new(),
            lines: OnceCell::new(),
        }
    }

    fn lines(&self) -> &Vec<(String, Vec<u8>)> {
        self.lines.get_or_init(|| self.host.response_headers())
    }
}

impl<H: Host> ResponseFields for UpstreamResponse<'_, H> {
    fn vary_lines(&self) -> impl Iterator<Item = &[u8]> {
        // The first line alone settles it when there is none (so there is no other), or when it
        // lists every wanted token (so no other line can change what is missing).
        let settled = (!self.replaces).then(|| {
            let first = self.first_vary.get_or_init(|| self.host.response_header("vary"));
            let first = first.as_deref();
            first.is_none_or(|line| self.wanted.missing_from([line]).is_empty()).then_some(first)
        });
        let settled = settled.flatten();
        let all = settled.is_none().then(|| {
            let vary = self.lines().iter().filter(|(name, _)| name.eq_ignore_ascii_case("vary"));
            vary.map(|(_, value)| value.as_slice())
        });
        settled.flatten().into_iter().chain(all.into_iter().flatten())
    }

    fn remove_prefixed(&mut self, prefix: &str) {
        self.lines();
        let Some(lines) = self.lines.get_mut() else { return };
        // One host call per distinct name (it removes every line of that name).
        let mut removed: Vec<&str> = Vec::new();
        for (name, _) in lines.iter() {
            let seen = removed.iter().any(|r| r.eq_ignore_ascii_case(name));
            if starts_with_ignoring_case(name, prefix) && !seen {
                self.host.remove_response_header(name);
                removed.push(name);
            }
        }
        lines.retain(|(name, _)| !starts_with_ignoring_case(name, prefix));
    }

    fn append(&mut self, name: HeaderName, value: HeaderValue) {
        self.host.add_response_header(name.as_str(), value.as_bytes());
        // What was read no longer matches the host: forgotten rather than copied into, so that a
        // later read (the engine makes none after it starts writing) asks the host again, and
        // the appends themselves allocate nothing.
        self.lines.take();
        self.first_vary.take();
    }
}
#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::fixtures::example_policy;
    use proptest::prelude::*;
    use rstest::rstest;

    /// `examples/policies/strict.yaml`: credentials, `https://app.example.com` only,
    /// GET/POST/PUT, request headers content-type and x-token, exposed x-request-id, max-age 600.
    fn strict() -> Vec<u8> {
        example_policy("strict.yaml")
    }

    /// `examples/policies/public.yaml`: every origin, no credentials.
    fn public() -> Vec<u8> {
        example_policy("public.yaml")
    }

    type Lines = Vec<(String, String)>;

    /// A host over vectors: the request it was built with, the upstream's response, every local
    /// answer the exchange sent, the decisions it counted, and the header reads it made.
    ///
    /// A request lookup answers every line of the name joined with `,`, as Envoy hands over
    /// `Origin` and the `Access-Control-Request-*` fields; a response lookup the first line, as
    /// Envoy does.
    #[derive(Default)]
    struct FakeHost {
        request: Vec<(String, Vec<u8>)>,
        response: RefCell<Vec<(String, Vec<u8>)>>,
        local: RefCell<Vec<(u32, Lines)>>,
        counted: RefCell<Vec<(Outcome, Rule)>>,
        /// Each read: `request NAME`, `request *`, `response NAME`, `response *`.
        reads: RefCell<Vec<String>>,
    }

    impl FakeHost {
        fn new(request: &[(&str, &[u8])], response: &[(&str, &str)]) -> FakeHost {
            FakeHost {
                request: request.iter().map(|(n, v)| ((*n).to_owned(), v.to_vec())).collect(),
                response: RefCell::new(
                    response
                        .iter()
                        .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
                        .collect(),
                ),
                ..FakeHost::default()
            }
        }

        fn response_lines(&self) -> Vec<(String, String)> {
            self.response
                .borrow()
                .iter()
                .map(|(n, v)| (n.clone(), String::from_utf8(v.clone()).unwrap()))
                .collect()
        }

        fn read(&self, what: String) {
            self.reads.borrow_mut().push(what);
        }
    }

    fn first(lines: &[(String, Vec<u8>)], name: &str) -> Option<Vec<u8>> {
        lines.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }

    fn joined(lines: &[(String, Vec<u8>)], name: &str) -> Option<Vec<u8>> {
        let values = lines.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
        values.map(|(_, v)| v.clone()).reduce(|joined, v| [joined, v].join(&b","[..]))
    }

    impl Host for FakeHost {
        fn request_header(&self, name: &str) -> Option<Vec<u8>> {
            self.read(format!("request {name}"));
            joined(&self.request, name)
        }

        fn request_headers(&self) -> Vec<(String, Vec<u8>)> {
            self.read("request *".to_owned());
            self.request.clone()
        }

        fn response_header(&self, name: &str) -> Option<Vec<u8>> {
            self.read(format!("response {name}"));
            first(&self.response.borrow(), name)
        }

        fn response_headers(&self) -> Vec<(String, Vec<u8>)> {
            self.read("response *".to_owned());
            self.response.borrow().clone()
        }

        fn send_local_response(&self, status: u32, headers: Vec<(&str, &str)>) {
            let headers = headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
            self.local.borrow_mut().push((status, headers));
            // Envoy sends a local answer through the stream's encoder filters, this one included.
            *self.response.borrow_mut() = Vec::new();
        }

        fn remove_response_header(&self, name: &str) {
            self.response.borrow_mut().retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        }

        fn add_response_header(&self, name: &str, value: &[u8]) {
            self.response.borrow_mut().push((name.to_owned(), value.to_vec()));
        }

        fn count(&self, decision: Outcome, rule: Rule) {
            self.counted.borrow_mut().push((decision, rule));
        }
    }

    fn owned(lines: &[(&str, &str)]) -> Vec<(String, String)> {
        lines.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    /// Runs one exchange (request, then response headers, as Envoy calls them) and checks the
    /// step, the local answer if any, and the response headers the client gets.
    #[track_caller]
    fn check(
        policy: &[u8],
        request: &[(&str, &[u8])],
        upstream: &[(&str, &str)],
        step: Step,
        local: Option<&[(&str, &str)]>,
        response: &[(&str, &str)],
    ) {
        let plugin = Plugin::from_configuration(policy, "test").unwrap();
        let host = FakeHost::new(request, upstream);
        let mut exchange = Exchange::default();
        assert_eq!(exchange.on_request_headers(&plugin, &host), step);
        exchange.on_response_headers(&host);
        let sent = host.local.borrow().clone();
        match local {
            Some(headers) => assert_eq!(sent, [(200, owned(headers))]),
            None => assert_eq!(sent, []),
        }
        assert_eq!(host.response_lines(), owned(response));
    }

    const GET: (&str, &[u8]) = (":method", b"GET");
    const OPTIONS: (&str, &[u8]) = (":method", b"OPTIONS");
    const AUTHORITY: (&str, &[u8]) = (":authority", b"api.test");
    const APP: (&str, &[u8]) = ("origin", b"https://app.example.com");

    #[rstest]
    #[case::p1_accepted_preflight_is_answered_locally(
        strict,
        &[OPTIONS, AUTHORITY, APP, ("access-control-request-method", b"PUT"),
          ("access-control-request-headers", b"X-Token")],
        &[],
        Step::AnsweredLocally,
        Some(&[
            ("access-control-allow-origin", "https://app.example.com"),
            ("access-control-allow-credentials", "true"),
            ("access-control-allow-methods", "GET, POST, PUT"),
            ("access-control-allow-headers", "content-type, x-token"),
            ("access-control-max-age", "600"),
            ("vary", "Origin"),
        ][..]),
        &[],
    )]
    #[case::p3_rejected_preflight_has_only_vary(
        strict,
        &[OPTIONS, AUTHORITY, APP, ("access-control-request-method", b"DELETE")],
        &[],
        Step::AnsweredLocally,
        Some(&[("vary", "Origin")][..]),
        &[],
    )]
    #[case::r3_options_without_acrm_is_not_forwarded(
        strict,
        &[OPTIONS, AUTHORITY, APP],
        &[],
        Step::AnsweredLocally,
        Some(&[("vary", "Origin")][..]),
        &[],
    )]
    #[case::a2_blocked_request_is_answered_locally(
        strict,
        &[GET, AUTHORITY, ("origin", b"https://evil.test")],
        &[],
        Step::AnsweredLocally,
        Some(&[("vary", "Origin")][..]),
        &[],
    )]
    #[case::a4_allowed_response_replaces_upstream_access_control(
        strict,
        &[GET, AUTHORITY, APP],
        &[("content-type", "text/plain"), ("access-control-allow-origin", "*"),
          ("Access-Control-Allow-Methods", "DELETE"), ("access-control-allow-origin", "https://x.test"),
          ("vary", "Accept-Encoding")],
        Step::Forward,
        None,
        &[("content-type", "text/plain"), ("vary", "Accept-Encoding"), ("vary", "Origin"),
          ("access-control-expose-headers", "x-request-id"),
          ("access-control-allow-origin", "https://app.example.com"),
          ("access-control-allow-credentials", "true")],
    )]
    #[case::v1_allowed_response_does_not_repeat_a_listed_token(
        strict,
        &[GET, AUTHORITY, APP],
        &[("vary", "accept-encoding, origin")],
        Step::Forward,
        None,
        &[("vary", "accept-encoding, origin"),
          ("access-control-expose-headers", "x-request-id"),
          ("access-control-allow-origin", "https://app.example.com"),
          ("access-control-allow-credentials", "true")],
    )]
    #[case::v1_not_cors_origin_on_a_later_vary_line_is_not_repeated(
        strict,
        &[GET, AUTHORITY],
        &[("vary", "Accept"), ("vary", "Origin")],
        Step::Forward,
        None,
        &[("vary", "Accept"), ("vary", "Origin")],
    )]
    #[case::v1_not_cors_vary_star_covers_origin(
        strict,
        &[GET, AUTHORITY],
        &[("vary", "*")],
        Step::Forward,
        None,
        &[("vary", "*")],
    )]
    #[case::r5_two_origin_lines_are_malformed_and_blocked(
        strict,
        &[GET, AUTHORITY, APP, ("origin", b"https://evil.test")],
        &[],
        Step::AnsweredLocally,
        Some(&[("vary", "Origin")][..]),
        &[],
    )]
    #[case::r1_not_cors_keeps_upstream_headers_and_gets_vary(
        strict,
        &[GET, AUTHORITY],
        &[("access-control-allow-origin", "*")],
        Step::Forward,
        None,
        &[("access-control-allow-origin", "*"), ("vary", "Origin")],
    )]
    #[case::r2_same_origin_post_is_forwarded_untouched(
        strict,
        &[(":method", &b"POST"[..]), (":authority", b"app.example.com:80"), ("origin", b"http://app.example.com")],
        &[("access-control-allow-origin", "*")],
        Step::Forward,
        None,
        &[("access-control-allow-origin", "*"), ("vary", "Origin")],
    )]
    #[case::r5_non_utf8_origin_is_blocked_without_panic(
        strict,
        &[GET, AUTHORITY, ("origin", b"https://\xc3\xa9\xff.test")],
        &[],
        Step::AnsweredLocally,
        Some(&[("vary", "Origin")][..]),
        &[],
    )]
    #[case::m2_public_resource_answers_star(
        public,
        &[GET, AUTHORITY, ("origin", b"https://any.test")],
        &[("access-control-allow-origin", "https://any.test")],
        Step::Forward,
        None,
        &[("access-control-allow-origin", "*")],
    )]
    fn exchange_applies_the_decision(
        #[case] policy: fn() -> Vec<u8>,
        #[case] request: &[(&str, &[u8])],
        #[case] upstream: &[(&str, &str)],
        #[case] step: Step,
        #[case] local: Option<&[(&str, &str)]>,
        #[case] response: &[(&str, &str)],
    ) {
        check(&policy(), request, upstream, step, local, response);
    }

    #[test]
    fn v1_public_resource_not_cors_response_varies_on_origin() {
        let plugin = Plugin::from_configuration(&public(), "test").unwrap();
        let host = FakeHost::new(&[GET, AUTHORITY], &[("vary", "Accept")]);
        let mut exchange = Exchange::default();
        assert_eq!(exchange.on_request_headers(&plugin, &host), Step::Forward);
        exchange.on_response_headers(&host);
        assert_eq!(host.response_lines(), owned(&[("vary", "Accept"), ("vary", "Origin")]));
    }

    fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"https://app.example.com".to_vec()),
            Just(b"null".to_vec()),
            Just(b"https://evil.test".to_vec()),
            Just(b"GET".to_vec()),
            Just(b"x-token, X-Other".to_vec()),
            prop::collection::vec(any::<u8>(), 0..48),
        ]
    }

    proptest! {
        /// Whatever the request carries, the exchange does not panic; a local answer is one
        /// status-200 answer whose values are visible ASCII and which grants nothing unless it
        /// allows the origin; the client never sees two `Access-Control-Allow-Origin` lines or
        /// `*` with credentials (O2, O3).
        #[test]
        fn exchange_is_total_and_never_double_grants(
            method in prop::sample::select(vec!["GET", "OPTIONS", "POST", "BREW", "options"]),
            lines in prop::collection::vec(
                (prop::sample::select(vec![
                    "origin", "access-control-request-method", "access-control-request-headers",
                ]), header_bytes()),
                0..5,
            ),
            upstream_grants in any::<bool>(),
        ) {
            let plugin = Plugin::from_configuration(&strict(), "test").unwrap();
            let mut request: Vec<(&str, &[u8])> = vec![(":method", method.as_bytes()), AUTHORITY];
            request.extend(lines.iter().map(|(name, value)| (*name, value.as_slice())));
            let upstream: &[(&str, &str)] =
                if upstream_grants { &[("access-control-allow-origin", "*")] } else { &[] };
            let host = FakeHost::new(&request, upstream);
            let mut exchange = Exchange::default();
            let step = exchange.on_request_headers(&plugin, &host);
            exchange.on_response_headers(&host);
            let local = host.local.borrow().clone();
            if step == Step::AnsweredLocally {
                prop_assert_eq!(local.len(), 1);
                let (status, headers) = &local[0];
                prop_assert_eq!(*status, 200);
                let grants = headers.iter().any(|(n, _)| n == "access-control-allow-origin");
                for (name, value) in headers {
                    prop_assert!(value.bytes().all(|b| (b' '..=b'~').contains(&b)));
                    prop_assert!(grants || !name.starts_with("access-control-"), "{name}");
                }
            } else {
                prop_assert!(local.is_empty());
            }
            let response = host.response_lines();
            let answer = if step == Step::AnsweredLocally { &local[0].1 } else { &response };
            let acao: Vec<&String> = answer
                .iter()
                .filter(|(n, _)| n == "access-control-allow-origin")
                .map(|(_, v)| v)
                .collect();
            prop_assert!(acao.len() <= 1, "{acao:?}");
            if step == Step::Forward && !upstream_grants {
                prop_assert!(acao.iter().all(|v| *v != "*"), "{acao:?}");
            }
        }
    }

    /// The request as Envoy hands it to a filter: the repeated lines of `Origin` and of the
    /// `Access-Control-Request-*` fields joined into one with `,`, at the first one's place.
    fn as_envoy_has_it(lines: &[(&str, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
        let mut joined: Vec<(String, Vec<u8>)> = Vec::new();
        for (name, value) in lines {
            let joins = *name == "origin" || name.starts_with("access-control-request-");
            match joined.iter_mut().find(|(n, _)| joins && n == name) {
                Some((_, first)) => *first = [&first[..], value].join(&b","[..]),
                None => joined.push(((*name).to_owned(), value.clone())),
            }
        }
        joined
    }

    proptest! {
        /// The exchange reads `Origin`, then the method, and every line for an `OPTIONS` only
        /// (R1, R3): whatever the request (a lower-case `options`, an `OPTIONS` without
        /// `Access-Control-Request-Method`, that field on a `GET`, several `Origin` lines, an
        /// `:authority` that makes it same-origin, R2), it decides and answers exactly as the
        /// engine does reading the whole request as Envoy has it.
        #[test]
        fn exchange_decides_as_the_engine_on_the_whole_request(
            method in prop::sample::select(vec!["GET", "OPTIONS", "options", "POST", ""]),
            authority in prop::sample::select(vec![
                "api.test", "app.example.com", "app.example.com:443", "app.example.com:80",
            ]),
            lines in prop::collection::vec(
                (prop::sample::select(vec![
                    "origin", "access-control-request-method", "access-control-request-headers",
                ]), prop_oneof![
                    Just(b"https://app.example.com".to_vec()),
                    Just(b"http://app.example.com".to_vec()),
                    Just(b"PUT".to_vec()),
                    Just(b"x-token".to_vec()),
                    header_bytes(),
                ]),
                0..5,
            ),
            is_public in any::<bool>(),
        ) {
            let policy = if is_public { public() } else { strict() };
            let plugin = Plugin::from_configuration(&policy, "test").unwrap();
            let mut all = vec![(":method", method.as_bytes().to_vec())];
            all.push((":authority", authority.as_bytes().to_vec()));
            all.extend(lines.iter().map(|(name, value)| (*name, value.clone())));
            let envoy = as_envoy_has_it(&all);
            let request: Vec<(&str, &[u8])> =
                envoy.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
            let host = FakeHost::new(&request, &[]);
            let step = Exchange::default().on_request_headers(&plugin, &host);

            let whole = RequestLines::new(envoy.clone());
            let decision = plugin.engine().decide(&Request {
                method: whole.first(":method").unwrap_or_default(),
                headers: &whole,
                scheme: plugin.scheme(),
                host: || whole.first(":authority"),
            });
            prop_assert_eq!(&*host.counted.borrow(), &[(decision.outcome(), decision.rule())]);
            let forwarded = decision.outcome().is_forwarded();
            prop_assert_eq!(step, if forwarded { Step::Forward } else { Step::AnsweredLocally });
            if !forwarded {
                let mut answer = LocalAnswer::default();
                decision.apply(&mut answer);
                prop_assert_eq!(&*host.local.borrow(), &[(200, owned(&answer.lines()))]);
            }
        }
    }

    /// The reads each kind of exchange makes: `Origin` alone without it; with `Origin`, the
    /// method, and the address only for R2; every request line in one more read for an
    /// `OPTIONS`; a response read whole only when its
    /// Access-Control-* fields are replaced or its first `Vary` line leaves the question open.
    #[track_caller]
    fn check_reads(request: &[(&str, &[u8])], upstream: &[(&str, &str)], reads: &[&str]) {
        let plugin = Plugin::from_configuration(&strict(), "test").unwrap();
        let host = FakeHost::new(request, upstream);
        let mut exchange = Exchange::default();
        exchange.on_request_headers(&plugin, &host);
        exchange.on_response_headers(&host);
        assert_eq!(*host.reads.borrow(), reads);
    }

    #[rstest]
    #[case::r1_no_origin_is_one_lookup_then_vary(
        &[GET, AUTHORITY],
        &[],
        &["request origin", "response vary"],
    )]
    #[case::v1_a_first_vary_line_listing_origin_settles_it(
        &[GET, AUTHORITY],
        &[("vary", "Accept, Origin")],
        &["request origin", "response vary"],
    )]
    #[case::v1_a_first_vary_line_without_origin_reads_every_line(
        &[GET, AUTHORITY],
        &[("vary", "Accept")],
        &["request origin", "response vary", "response *"],
    )]
    #[case::r1_acrm_without_origin_is_one_lookup(
        &[OPTIONS, AUTHORITY, ("access-control-request-method", b"PUT")],
        &[],
        &["request origin", "response vary"],
    )]
    #[case::r3_acrm_on_a_get_is_an_actual_request_and_reads_no_line(
        &[GET, AUTHORITY, APP, ("access-control-request-method", b"PUT")],
        &[],
        &["request origin", "request :method", "response *"],
    )]
    #[case::p1_preflight_looks_up_two_fields_then_reads_every_line_and_no_response(
        &[OPTIONS, AUTHORITY, APP, ("access-control-request-method", b"PUT")],
        &[],
        &["request origin", "request :method", "request *"],
    )]
    #[case::r3_options_without_acrm_reads_every_line(
        &[OPTIONS, AUTHORITY, APP],
        &[],
        &["request origin", "request :method", "request *"],
    )]
    #[case::a2_blocked_looks_up_the_origin_and_the_method_and_reads_no_response(
        &[GET, AUTHORITY, ("origin", b"https://evil.test")],
        &[],
        &["request origin", "request :method"],
    )]
    #[case::a4_allowed_reads_two_request_fields_and_the_response_once(
        &[GET, AUTHORITY, APP],
        &[("vary", "Accept")],
        &["request origin", "request :method", "response *"],
    )]
    #[case::r2_an_origin_of_the_listener_s_scheme_looks_up_the_address(
        &[GET, (":authority", b"app.example.com:80"), ("origin", b"http://app.example.com")],
        &[],
        &["request origin", "request :method", "request :authority", "response vary"],
    )]
    fn exchange_reads_only_what_the_decision_needs(
        #[case] request: &[(&str, &[u8])],
        #[case] upstream: &[(&str, &str)],
        #[case] reads: &[&str],
    ) {
        check_reads(request, upstream, reads);
    }

    #[rstest]
    #[case::r1_not_cors(&[GET, AUTHORITY], Outcome::NotCors, Rule::R1)]
    #[case::r2_same_origin(
        &[GET, (":authority", b"app.example.com:80"), ("origin", b"http://app.example.com")],
        Outcome::NotCors,
        Rule::R2,
    )]
    // A site at its trailing-dot name: the browser's `Origin` keeps the dot, which the origin
    // parser refuses; R2 takes the value as sent (F-CH).
    #[case::r2_same_origin_trailing_dot(
        &[(":method", &b"POST"[..]), (":authority", &b"app.example.com.:80"[..]), ("origin", &b"http://app.example.com."[..])],
        Outcome::NotCors,
        Rule::R2,
    )]
    #[case::p1_preflight_accepted(
        &[OPTIONS, AUTHORITY, APP, ("access-control-request-method", b"PUT")],
        Outcome::PreflightAccepted,
        Rule::P1,
    )]
    #[case::p2_preflight_rejected_for_its_method(
        &[OPTIONS, AUTHORITY, APP, ("access-control-request-method", b"DELETE")],
        Outcome::PreflightRejected,
        Rule::P2,
    )]
    #[case::a1_allowed(&[GET, AUTHORITY, APP], Outcome::Allowed, Rule::A1)]
    #[case::m3_blocked(&[GET, AUTHORITY, ("origin", b"https://evil.test")], Outcome::Blocked, Rule::M3)]
    fn each_decision_is_counted_once_with_its_rule(
        #[case] request: &[(&str, &[u8])],
        #[case] outcome: Outcome,
        #[case] rule: Rule,
    ) {
        let plugin = Plugin::from_configuration(&strict(), "test").unwrap();
        let host = FakeHost::new(request, &[]);
        let mut exchange = Exchange::default();
        exchange.on_request_headers(&plugin, &host);
        exchange.on_response_headers(&host);
        assert_eq!(*host.counted.borrow(), [(outcome, rule)]);
    }

    #[test]
    fn response_callback_runs_once_per_decision() {
        let plugin = Plugin::from_configuration(&strict(), "test").unwrap();
        let host = FakeHost::new(&[GET, AUTHORITY, APP], &[]);
        let mut exchange = Exchange::default();
        exchange.on_request_headers(&plugin, &host);
        exchange.on_response_headers(&host);
        let once = host.response_lines();
        exchange.on_response_headers(&host);
        assert_eq!(host.response_lines(), once);
    }

    /// The block of `docs/envoy.md` under the first line `marker` after the line `after`: the
    /// lines indented deeper than the marker, dedented, as the host hands them to the filter.
    fn documented_configuration(after: &str, marker: &str) -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/envoy.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let mut lines = doc.lines().skip_while(|line| !line.starts_with(after));
        let marker = lines.find(|line| line.trim_end() == marker).unwrap_or_else(|| {
            panic!("docs/envoy.md has no {marker:?} after {after:?}");
        });
        let depth = |line: &str| line.len() - line.trim_start().len();
        let block: Vec<&str> = lines
            .take_while(|line| depth(line) > depth(marker) && !line.trim().is_empty())
            .collect();
        let inner = block.iter().map(|line| depth(line)).min().unwrap_or(0);
        block.iter().flat_map(|line| [&line[inner..], "\n"]).collect()
    }

    /// F-CU: every configuration docs/envoy.md gives for a listener behind TLS (Envoy's own,
    /// Istio's `pluginConfig`, Envoy Gateway's `config`) makes the filter compare origins on
    /// `https` (R2), so that a page of the site itself, at a host the policy does not list, has
    /// its `POST` forwarded rather than refused (A2).
    #[rstest]
    #[case::envoy_behind_tls("Behind TLS (", "          value: |")]
    #[case::istio_plugin_config("## Istio (WasmPlugin)", "  pluginConfig:")]
    #[case::envoy_gateway_config("## Envoy Gateway (EnvoyExtensionPolicy)", "      config:")]
    fn r2_a_documented_configuration_behind_tls_forwards_the_sites_own_post(
        #[case] after: &str,
        #[case] marker: &str,
    ) {
        let text = documented_configuration(after, marker);
        let plugin = Plugin::from_configuration(text.as_bytes(), "envoy.md").unwrap();
        assert_eq!(plugin.scheme(), "https", "{text}");
        assert!(plugin.warnings().is_empty(), "{:?}", plugin.warnings());
        let own_post = [
            (":method", &b"POST"[..]),
            (":authority", b"api.example.net"),
            ("origin", b"https://api.example.net"),
        ];
        let host = FakeHost::new(&own_post, &[]);
        let step = Exchange::default().on_request_headers(&plugin, &host);
        assert_eq!(step, Step::Forward, "{text}");
        assert_eq!(*host.counted.borrow(), [(Outcome::NotCors, Rule::R2)]);
    }
}
