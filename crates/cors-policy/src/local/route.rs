//! Routes: which upstream a request goes to, and with which path.
//!
//! Flex's "Traffic Management for Multiple Upstream Services" policy (`route`,
//! <https://docs.mulesoft.com/gateway/latest/policies-included-traffic-management-route>) and the
//! `routes` of an inline service (Declarative Configuration Reference Guide, "API Instance")
//! share one shape: a destination, an optional `destinationPath`, and `rules`.
//! What we implement, and what we chose where the pages are silent:
//!
//! - Routes are tried in order; the first whose rules hold takes the request.
//!   A route without rules takes every request.
//! - `rules` is a list; one rule that holds is enough (OR). Within a rule, every condition it
//!   has must hold (AND), as the guide's `spec.rules` section says.
//! - `path`, `methods`, `host` and each `headers` value are regular expressions that must match
//!   the whole value (as Envoy, under Flex, matches its `safe_regex`). We use the `regex` crate:
//!   matching is linear in the input. Its syntax is RE2's, which Flex uses. Work and memory are
//!   bounded: an expression has at most [`MAX_PATTERN_LEN`] bytes and compiles to at most
//!   64 KiB, and a configuration has at most [`MAX_PATTERNS`] expressions.
//! - `path` is matched against the request's path below the API instance's base path, without
//!   the query (`/` when the request is for the base path itself). If the expression has
//!   capture groups, the captured text, concatenated, replaces the path (`/api(/.*)` sends
//!   `/api/orders` as `/orders`); without groups the path is kept.
//! - `methods` is matched against the method; a list of method names is also accepted (the
//!   route page calls it an array) and means any of them, compared exactly.
//! - `host` is matched against the request's `Host` (or `:authority`) as sent, port included if
//!   the client sent one: write `api\.example\.com(:\d+)?` to accept both.
//! - `headers` maps a header name to an expression; the header must be present and one of its
//!   field lines must match. A value that is not UTF-8 never matches.
//! - The upstream path is the service address's path, then `destinationPath`, then the
//!   (rewritten) request path, joined with single slashes. The route page's table ("Determining
//!   a Request Path") is checked by this module's tests, row by row.

use std::fmt;

use cors_origin::Quoted;
use regex::{Regex, RegexBuilder};

use super::address::Upstream;

/// The longest regular expression accepted in a route rule, in bytes.
pub const MAX_PATTERN_LEN: usize = 4096;

/// The most regular expressions the route rules of one configuration may have.
pub const MAX_PATTERNS: usize = 1024;

/// The compiled size allowed for one expression (the `regex` crate's `size_limit`). Unicode
/// classes are large: `\w` alone takes most of it.
const COMPILED_SIZE_LIMIT: usize = 64 * 1024;

/// The lazy DFA cache allowed for one expression.
const DFA_SIZE_LIMIT: usize = 256 * 1024;

/// A regular expression that must match a whole value.
#[derive(Clone)]
pub(crate) struct Pattern {
    source: String,
    regex: Regex,
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.source, f)
    }
}

impl Pattern {
    /// Compiles `source` to match whole values, or says why it cannot.
    pub(crate) fn new(source: &str) -> Result<Pattern, String> {
        if source.len() > MAX_PATTERN_LEN {
            return Err(format!(
                "the regular expression is {} bytes, more than the {MAX_PATTERN_LEN}-byte limit",
                source.len()
            ));
        }
        let build = |pattern: &str| {
            RegexBuilder::new(pattern)
                .size_limit(COMPILED_SIZE_LIMIT)
                .dfa_size_limit(DFA_SIZE_LIMIT)
                .build()
                .map_err(|e| regex_problem(source, &e))
        };
        // Compiled alone first, so that a stray `)` cannot close the anchoring group below.
        build(source)?;
        let regex = build(&format!("^(?:{source})$"))?;
        Ok(Pattern { source: source.to_owned(), regex })
    }

    /// `methods` written as a list: any of these names, exactly.
    pub(crate) fn any_of(names: &[String]) -> Result<Pattern, String> {
        let source = names.iter().map(|name| regex::escape(name)).collect::<Vec<_>>().join("|");
        Pattern::new(&source)
    }

    /// The expression as written (or, for a list of methods, as an alternation).
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

/// The regex crate's message, on one line: its syntax errors span several.
fn regex_problem(source: &str, error: &regex::Error) -> String {
    match error {
        regex::Error::Syntax(text) => {
            let reason = text.lines().last().unwrap_or_default();
            let reason = reason.strip_prefix("error: ").unwrap_or(reason);
            format!("invalid regular expression {}: {reason}", Quoted(source))
        }
        regex::Error::CompiledTooBig(limit) => format!(
            "the regular expression {} compiles to more than {limit} bytes; simplify it \
             (Unicode classes are large: (?-u:\\w) or [A-Za-z0-9_] is smaller than \\w)",
            Quoted(source)
        ),
        other => format!("invalid regular expression {}: {other}", Quoted(source)),
    }
}

/// The request headers a route rule can look at.
///
/// Implemented for slices of `(name, value)` pairs; an adapter implements it over its own header
/// map (for `http::HeaderMap`, through a newtype).
pub trait RouteHeaders {
    /// Whether a field line named `name` (given in lower case; compare ignoring ASCII case) has
    /// a value that `accept` accepts. Stop at the first accepted value.
    fn any_value(&self, name: &str, accept: &mut dyn FnMut(&[u8]) -> bool) -> bool;
}

impl<N: AsRef<str>, V: AsRef<[u8]>> RouteHeaders for [(N, V)] {
    fn any_value(&self, name: &str, accept: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.iter().any(|(n, v)| n.as_ref().eq_ignore_ascii_case(name) && accept(v.as_ref()))
    }
}

/// What a route looks at in a request.
#[derive(Clone, Copy)]
pub struct RouteRequest<'a, H: ?Sized> {
    /// The method, e.g. `GET`.
    pub method: &'a str,
    /// The path as received (base path included), without the query.
    pub path: &'a str,
    /// The `Host` header or the `:authority`, if the request has one.
    pub host: Option<&'a str>,
    /// The request's headers.
    pub headers: &'a H,
}

/// One entry of a route's `rules`: each condition it has must hold.
#[derive(Clone, Debug)]
pub struct RouteRule {
    pub(crate) path: Option<Pattern>,
    pub(crate) methods: Option<Pattern>,
    pub(crate) host: Option<Pattern>,
    /// Lower-case header names, each with the expression its value must match.
    pub(crate) headers: Vec<(String, Pattern)>,
}

impl RouteRule {
    /// The `path` expression, if the rule has one.
    #[must_use]
    pub fn path(&self) -> Option<&str> {
        self.path.as_ref().map(Pattern::source)
    }

    /// The `methods` expression (a list of names is shown as an alternation).
    #[must_use]
    pub fn methods(&self) -> Option<&str> {
        self.methods.as_ref().map(Pattern::source)
    }

    /// The `host` expression, if the rule has one.
    #[must_use]
    pub fn host(&self) -> Option<&str> {
        self.host.as_ref().map(Pattern::source)
    }

    /// The `headers` conditions: lower-case names with their value expressions.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(name, pattern)| (name.as_str(), pattern.source()))
    }

    /// Whether the rule has no condition at all, so it holds for every request.
    pub(crate) fn is_catch_all(&self) -> bool {
        self.path.is_none()
            && self.methods.is_none()
            && self.host.is_none()
            && self.headers.is_empty()
    }

    /// If the rule holds for a request whose path below the base path is `path`, the path to
    /// forward: the capture groups of `path`'s expression concatenated, or `path` itself.
    fn apply<H: RouteHeaders + ?Sized>(
        &self,
        request: &RouteRequest<'_, H>,
        path: &str,
    ) -> Option<String> {
        if self.methods.as_ref().is_some_and(|m| !m.is_match(request.method)) {
            return None;
        }
        if let Some(host) = &self.host
            && !request.host.is_some_and(|h| host.is_match(h))
        {
            return None;
        }
        for (name, pattern) in &self.headers {
            let mut accept =
                |value: &[u8]| std::str::from_utf8(value).is_ok_and(|v| pattern.is_match(v));
            if !request.headers.any_value(name, &mut accept) {
                return None;
            }
        }
        let Some(pattern) = &self.path else { return Some(path.to_owned()) };
        let captures = pattern.regex.captures(path)?;
        if captures.len() == 1 {
            return Some(path.to_owned());
        }
        Some(captures.iter().skip(1).flatten().map(|m| m.as_str()).collect())
    }
}

/// A route of an `ApiInstance`: a destination, its `destinationPath`, and the rules that choose
/// it.
#[derive(Clone, Debug)]
pub struct Route {
    pub(crate) upstream: Upstream,
    pub(crate) destination_path: String,
    pub(crate) rules: Vec<RouteRule>,
}

impl Route {
    /// Where the route sends requests.
    #[must_use]
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// `config.destinationPath` without a trailing `/` (empty when absent or `/`).
    #[must_use]
    pub fn destination_path(&self) -> &str {
        &self.destination_path
    }

    /// The rules; empty means every request.
    #[must_use]
    pub fn rules(&self) -> &[RouteRule] {
        &self.rules
    }

    /// Whether the route takes every request, so later routes are never reached.
    pub(crate) fn is_catch_all(&self) -> bool {
        self.rules.is_empty() || self.rules.iter().any(RouteRule::is_catch_all)
    }

    /// If the route takes a request whose path below the base path is `path`, the path to send
    /// upstream.
    pub(crate) fn forward<H: RouteHeaders + ?Sized>(
        &self,
        request: &RouteRequest<'_, H>,
        path: &str,
    ) -> Option<String> {
        let rewritten = if self.rules.is_empty() {
            path.to_owned()
        } else {
            self.rules.iter().find_map(|rule| rule.apply(request, path))?
        };
        Some(join(&[self.upstream.path(), &self.destination_path, &rewritten]))
    }
}

/// The route a request takes, and the path it is sent with.
#[derive(Clone, Debug)]
pub struct RouteMatch<'r> {
    route: &'r Route,
    upstream_path: String,
}

impl<'r> RouteMatch<'r> {
    pub(crate) fn new(route: &'r Route, upstream_path: String) -> Self {
        RouteMatch { route, upstream_path }
    }

    /// The route taken.
    #[must_use]
    pub fn route(&self) -> &'r Route {
        self.route
    }

    /// The service the request goes to.
    #[must_use]
    pub fn upstream(&self) -> &'r Upstream {
        &self.route.upstream
    }

    /// The path to request from the upstream, always starting with `/`; append the request's
    /// query to it.
    #[must_use]
    pub fn upstream_path(&self) -> &str {
        &self.upstream_path
    }
}

/// The parts joined with single slashes: `["/base", "/orders", "/a/b"]` is `/base/orders/a/b`.
/// Trailing slashes of all parts but the last are dropped; an empty result is `/`.
fn join(parts: &[&str]) -> String {
    let mut out = String::new();
    let last = parts.len().saturating_sub(1);
    for (i, part) in parts.iter().enumerate() {
        let part = if i == last { *part } else { part.trim_end_matches('/') };
        if part.is_empty() {
            continue;
        }
        if !part.starts_with('/') {
            out.push('/');
        }
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::address;
    use rstest::rstest;

    fn rule(path: &str) -> RouteRule {
        RouteRule {
            path: Some(Pattern::new(path).unwrap()),
            methods: None,
            host: None,
            headers: Vec::new(),
        }
    }

    fn route(service: &str, destination_path: &str, rules: Vec<RouteRule>) -> Route {
        Route {
            upstream: address::upstream("svc", service).unwrap(),
            destination_path: destination_path.trim_end_matches('/').to_owned(),
            rules,
        }
    }

    fn request<'a>(
        method: &'a str,
        host: Option<&'a str>,
    ) -> RouteRequest<'a, [(&'a str, &'a str)]> {
        RouteRequest { method, path: "", host, headers: &[("x-env", "beta"), ("X-Env", "prod")] }
    }

    /// "Determining a Request Path" on the route policy page, one row per case: the rule's
    /// path, the `destinationPath`, the path below the base path, and what goes upstream.
    /// The base path itself is stripped by `ApiInstance::route` (tested with the loader).
    #[rstest]
    #[case::no_groups_kept("/api/.*", "", "/api/foo/bar", Some("/api/foo/bar"))]
    #[case::group_rewrites("/api(/.*)", "", "/api/foo/bar", Some("/foo/bar"))]
    #[case::destination_prefixes("/api/.*", "/orders", "/api/foo/bar", Some("/orders/api/foo/bar"))]
    #[case::destination_and_group("/api(/.*)", "/orders", "/api/foo/bar", Some("/orders/foo/bar"))]
    #[case::below_base_path("/foo/.*", "", "/foo/bar", Some("/foo/bar"))]
    #[case::below_base_path_group("/foo(/.*)", "", "/foo/bar", Some("/bar"))]
    #[case::below_base_destination("/foo/.*", "/orders", "/foo/bar", Some("/orders/foo/bar"))]
    #[case::below_base_both("/foo(/.*)", "/orders", "/foo/bar", Some("/orders/bar"))]
    #[case::base_path_is_not_repeated("/api/foo/.*", "/orders", "/foo/bar", None)]
    #[case::groups_concatenate("/foo(/.*)/bar(/.*)", "", "/foo/abc/bar/def", Some("/abc/def"))]
    #[case::groups_and_destination(
        "/foo(/.*)/bar(/.*)",
        "/orders",
        "/foo/abc/bar/def",
        Some("/orders/abc/def")
    )]
    #[case::whole_path_must_match("/api", "", "/api/x", None)]
    #[case::default_destination_is_root("/a(/.*)?", "/", "/a", Some("/"))]
    fn route_policy_path_table(
        #[case] rule_path: &str,
        #[case] destination_path: &str,
        #[case] path: &str,
        #[case] expected: Option<&str>,
    ) {
        let route = route("http://up:1", destination_path, vec![rule(rule_path)]);
        let found = route.forward(&request("GET", None), path);
        assert_eq!(found.as_deref(), expected);
    }

    #[test]
    fn the_service_path_comes_first() {
        let route = route("http://up:1/base/", "/orders", vec![]);
        assert_eq!(route.forward(&request("GET", None), "/x/").as_deref(), Some("/base/orders/x/"));
    }

    #[rstest]
    #[case::method_matches("GET|POST", "POST", true)]
    #[case::method_is_whole("GET", "GETS", false)]
    #[case::method_is_case_sensitive("GET", "get", false)]
    fn methods(#[case] expression: &str, #[case] method: &str, #[case] expected: bool) {
        let mut rule = rule("/.*");
        rule.methods = Some(Pattern::new(expression).unwrap());
        assert_eq!(rule.apply(&request(method, None), "/").is_some(), expected);
    }

    #[test]
    fn a_list_of_methods_is_exact() {
        let pattern = Pattern::any_of(&["GET".to_owned(), "M.X".to_owned()]).unwrap();
        assert!(pattern.is_match("M.X") && pattern.is_match("GET"));
        assert!(!pattern.is_match("MAX"));
    }

    #[rstest]
    #[case::host_matches(r"api\.example\.com(:\d+)?", Some("api.example.com:8080"), true)]
    #[case::host_is_whole(r"api\.example\.com", Some("api.example.com:8080"), false)]
    #[case::no_host_no_match(".*", None, false)]
    fn hosts(#[case] host: &str, #[case] sent: Option<&str>, #[case] expected: bool) {
        let mut rule = rule("/.*");
        rule.host = Some(Pattern::new(host).unwrap());
        assert_eq!(rule.apply(&request("GET", sent), "/").is_some(), expected);
    }

    #[rstest]
    #[case::any_field_line_matches("x-env", "prod", true)]
    #[case::value_is_whole("x-env", "pro", false)]
    #[case::absent_header_fails("x-other", ".*", false)]
    fn headers(#[case] name: &str, #[case] value: &str, #[case] expected: bool) {
        let mut rule = rule("/.*");
        rule.headers.push((name.to_owned(), Pattern::new(value).unwrap()));
        assert_eq!(rule.apply(&request("GET", None), "/").is_some(), expected);
    }

    #[rstest]
    #[case::unclosed_group("/api(", "invalid regular expression \"/api(\": unclosed group")]
    #[case::stray_paren_cannot_unanchor(
        "a)|(b",
        "invalid regular expression \"a)|(b\": unopened group"
    )]
    #[case::huge_repetition("(a{1000}){1000}", "compiles to more than 65536 bytes")]
    fn bad_patterns_say_why(#[case] source: &str, #[case] expected: &str) {
        let message = Pattern::new(source).unwrap_err();
        assert!(message.contains(expected), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn a_long_pattern_is_refused_before_compiling() {
        let message = Pattern::new(&"a".repeat(MAX_PATTERN_LEN + 1)).unwrap_err();
        assert!(message.contains("4096-byte limit"), "{message}");
    }

    #[test]
    fn common_patterns_fit_the_size_limit() {
        for source in [
            r"/api(/.*)?",
            r"/users/\w+(/.*)",
            r"[\p{L}\d_-]+\.example\.com",
            r"(?-u:\w+)\.(?-u:\w+)",
            "GET|POST|PUT|PATCH|DELETE",
        ] {
            assert!(Pattern::new(source).is_ok(), "{source}");
        }
    }
}
