//! The addresses of Local Mode resources: where an `ApiInstance` listens, and where a service is.
//!
//! The Declarative Configuration Reference Guide
//! (<https://docs.mulesoft.com/gateway/latest/flex-local-configuration-reference-guide>, "API
//! Instance" and "Service") gives both as `protocol://host:port[/path]` with `http` or `https`.
//! They are parsed as URLs by the `url` crate (WHATWG rules: host lower-cased, IDNA applied,
//! default ports known).
//!
//! Where the guide is silent, we chose:
//! - the port may be left out: it is then the scheme's default (80 or 443);
//! - a user name, password, query or fragment is an error, since no request could use them;
//! - a service address may have a path: it is a prefix of every upstream path, before the
//!   route's `destinationPath` (as `serve --upstream` treats a path);
//! - a trailing `/` of a base path or service path is dropped (`/api/` is `/api`).

use std::fmt;

use cors_origin::Quoted;
use url::Url;

/// The scheme of a listener or an upstream service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `http` or `https` address without a path: where a listener accepts connections (an
/// `ApiInstance`'s `spec.address`), or where an upstream service is reached.
///
/// Displayed as a URL: `http://0.0.0.0:8080`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HttpAddress {
    scheme: Scheme,
    host: String,
    port: u16,
}

impl HttpAddress {
    /// `http`, or `https` (a listener then needs a certificate).
    #[must_use]
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host as the URL parser wrote it: `0.0.0.0`, `localhost`, `[::]` (IPv6 in brackets).
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, the scheme's default when the address leaves it out.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`, as a socket address is written: `0.0.0.0:8080`, `[::1]:8443`.
    #[must_use]
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Whether the host is an unspecified address (`0.0.0.0` or `[::]`): every interface.
    pub(crate) fn is_unspecified(&self) -> bool {
        matches!(self.host.as_str(), "0.0.0.0" | "[::]")
    }
}

impl fmt::Display for HttpAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// An upstream service: an inline service of an `ApiInstance`, or a `Service` resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    name: String,
    address: HttpAddress,
    path: String,
}

impl Upstream {
    /// The service's name: its key under `spec.services`, or the `Service`'s `metadata.name`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the service is reached.
    #[must_use]
    pub fn address(&self) -> &HttpAddress {
        &self.address
    }

    /// The address's path without a trailing `/` (empty when it has none): a prefix of every
    /// path sent to this service.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Reads `text` as the address of the service `name`, by the rule of a Local Mode folder's
    /// services: an `http` or `https` URL without user information, query or fragment, whose
    /// path (read as the WHATWG URL parser reads it: `\` is `/`, characters outside a path
    /// escaped) has no dot segment, written or read, in any spelling a request path is refused
    /// for (findings F-BR and F-BT in docs/robustness.md). cors-gateway's `--upstream` takes
    /// its path prefix by this rule too, so that both forward to the same paths.
    ///
    /// # Errors
    ///
    /// What is wrong with `text`, and what to write instead, in one message.
    pub fn parse(name: &str, text: &str) -> Result<Self, String> {
        upstream(name, text).map_err(|refused| match refused.hint {
            Some(hint) => format!("{}; {hint}", refused.message),
            None => refused.message,
        })
    }
}

/// `scheme://host:port/path`, the address in normal form.
impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.address, self.path)
    }
}

/// An `http`/`https` address and its path, or why it is not one.
fn parse(text: &str) -> Result<(HttpAddress, String), String> {
    let url = Url::parse(text).map_err(|e| format!("{} is not a URL: {e}", Quoted(text)))?;
    let scheme = match url.scheme() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => {
            return Err(format!(
                "{} has the scheme {}, not http or https",
                Quoted(text),
                Quoted(other)
            ));
        }
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{} has a user name or password", Quoted(text)));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{} has a query or fragment", Quoted(text)));
    }
    // `http` and `https` URLs always have a host and a known default port.
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Err(format!("{} has no host", Quoted(text)));
    };
    let path = url.path().trim_end_matches('/').to_owned();
    Ok((HttpAddress { scheme, host: host.to_owned(), port }, path))
}

/// A listener address and its base path (empty when it has none).
///
/// A base path that the gateway's other reading of request paths changes is an error: an empty
/// segment (`/api//admin`), path parameters (`/api;v=1`), or an escaped slash or backslash
/// (`/a%2Fb`). The gateway refuses a request path whose other reading would choose another
/// instance (findings F-L, F-T and F-V in docs/robustness.md), so no request could reach such
/// an instance.
pub(crate) fn listen_address(text: &str) -> Result<(HttpAddress, String), String> {
    let (address, path) = parse(text)?;
    let lower = path.to_ascii_lowercase();
    let unreachable = ["//", ";", "%3b", "%2f", "%5c"].iter().find(|part| lower.contains(*part));
    if let Some(part) = unreachable {
        return Err(format!(
            "{} has `{part}` in its base path, which no request can reach (the gateway \
             refuses paths that read as another instance's); write the base path with single \
             slashes, without path parameters or escaped slashes",
            Quoted(text)
        ));
    }
    Ok((address, path))
}

/// Why an address was refused: what is wrong, and what to do when that is not to write it as
/// `http://HOST:PORT` (`None`).
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) message: String,
    pub(crate) hint: Option<&'static str>,
}

impl From<String> for Refused {
    fn from(message: String) -> Self {
        Self { message, hint: None }
    }
}

/// The upstream `name` at `text`.
///
/// A path with a dot segment (`.` or `..`, in any spelling the gateway refuses in a request
/// path: `%2e`, `..;x`, `..%2f`, double encoding) is an error (finding F-BR in
/// docs/robustness.md): the gateway refuses every request whose upstream path has one, so
/// every request of the service's routes got `400`. It is looked for in the path as written
/// too, which the URL parser resolves (`/a/../b` is `/b` to it, `/api/%2e%2e` is `/`): a path
/// that names another one than it reads as is refused rather than silently changed, also when a
/// tab, a line break or a trailing control character, which the parser drops, hides the dot
/// segment from the check (F-BT).
pub(crate) fn upstream(name: &str, text: &str) -> Result<Upstream, Refused> {
    let (address, path) = parse(text)?;
    // The URL parser drops the control characters and spaces that lead or trail the URL, then
    // every tab and line break, before it reads it (WHATWG URL standard, basic URL parser), so
    // `/a/\t../b` is `/a/../b` to it, then `/b`: the path as written is read without them too
    // (finding F-BT).
    let unbroken = text.trim_matches(|c: char| c <= ' ').replace(['\t', '\n', '\r'], "");
    if crate::path::has_dot_segment(written_path(&unbroken).as_bytes())
        || crate::path::has_dot_segment(path.as_bytes())
    {
        return Err(Refused {
            message: format!(
                "{} has a dot segment (. or ..) in its path, and the gateway refuses a request \
                 whose upstream path has one",
                Quoted(text)
            ),
            hint: Some("write the path as the upstream should get it, without . or .. segments"),
        });
    }
    Ok(Upstream { name: name.to_owned(), address, path })
}

/// The path of the URL `text` as written (before the URL parser resolves its dot segments):
/// from the first `/` after the authority to the query or fragment.
fn written_path(text: &str) -> &str {
    let after_scheme = text.split_once("://").map_or(text, |(_, rest)| rest);
    let path = after_scheme.find(['/', '\\']).map_or("", |start| &after_scheme[start..]);
    path.split(['?', '#']).next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[track_caller]
    fn check(text: &str, expected: Result<(&str, &str), &str>) {
        let found = listen_address(text);
        match (found, expected) {
            (Ok((address, base)), Ok((shown, path))) => {
                assert_eq!((address.to_string().as_str(), base.as_str()), (shown, path));
            }
            (Err(message), Err(part)) => assert!(message.contains(part), "{message}"),
            (found, expected) => panic!("{text}: {found:?}, expected {expected:?}"),
        }
    }

    #[rstest]
    #[case::all_interfaces("http://0.0.0.0:8080", Ok(("http://0.0.0.0:8080", "")))]
    #[case::base_path("http://0.0.0.0:8080/api/", Ok(("http://0.0.0.0:8080", "/api")))]
    #[case::default_port("https://api.example.com", Ok(("https://api.example.com:443", "")))]
    #[case::ipv6("http://[::]:80/v1", Ok(("http://[::]:80", "/v1")))]
    #[case::host_is_lower_cased("http://LOCALHOST:1", Ok(("http://localhost:1", "")))]
    #[case::no_scheme_is_refused("0.0.0.0:8080", Err("not a URL"))]
    #[case::other_scheme_is_refused("tcp://0.0.0.0:8080", Err("not http or https"))]
    #[case::credentials_are_refused("http://u:p@0.0.0.0:8080", Err("user name or password"))]
    #[case::query_is_refused("http://0.0.0.0:8080/?a=1", Err("query or fragment"))]
    #[case::port_out_of_range_is_refused("http://0.0.0.0:65536", Err("not a URL"))]
    #[case::empty_segment_is_refused("http://0.0.0.0:80//api", Err("has `//` in its base path"))]
    #[case::inner_empty_segment_is_refused("http://0.0.0.0:8080/a//b/", Err("`//`"))]
    #[case::path_parameters_are_refused("http://0.0.0.0:8080/api;v=1", Err("`;`"))]
    #[case::escaped_parameters_are_refused("http://0.0.0.0:8080/api%3Bv=1", Err("`%3b`"))]
    #[case::escaped_slash_is_refused("http://0.0.0.0:8080/a%2Fb", Err("`%2f`"))]
    #[case::trailing_slashes_dropped("http://0.0.0.0:80/api//", Ok(("http://0.0.0.0:80", "/api")))]
    fn listen_addresses(#[case] text: &str, #[case] expected: Result<(&str, &str), &str>) {
        check(text, expected);
    }

    /// Finding F-BR: a service path with a dot segment, in any spelling, is refused, as written
    /// (the URL parser resolves `..` and `%2e%2e`) and as parsed; dots inside a segment are not
    /// one.
    #[rstest]
    #[case::parent("http://up:1/a/../b", true)]
    #[case::encoded_parent("http://up:1/api/%2e%2e", true)]
    #[case::current("http://up:1/./api", true)]
    #[case::backslash("http://up:1/a\\..\\b", true)]
    #[case::parent_with_parameters("http://up:1/a/..;x/b", true)]
    #[case::parent_before_an_encoded_slash("http://up:1/a/..%2fb", true)]
    #[case::double_encoded_parent("http://up:1/a/%252e%252e/b", true)]
    #[case::parent_after_a_tab("http://up:1/a/\t../b", true)]
    #[case::current_after_a_line_break("http://up:1/a/\n./b", true)]
    #[case::parent_split_by_a_carriage_return("http://up:1/a/\r.\r./b", true)]
    #[case::parent_before_a_trailing_control("http://up:1/a/..\u{1}", true)]
    #[case::dots_in_a_name("http://up:1/v1.2/..x", false)]
    #[case::no_path("http://up:1", false)]
    #[case::dots_in_the_host("http://up.example:1/a", false)]
    fn service_paths_with_dot_segments(#[case] text: &str, #[case] refused: bool) {
        match upstream("svc", text) {
            Err(refused_because) if refused => {
                assert!(refused_because.message.contains("dot segment"), "{refused_because:?}");
            }
            found => assert_eq!(found.is_err(), refused, "{text}: {found:?}"),
        }
    }

    #[test]
    fn a_public_reading_says_the_hint_with_the_message() {
        let refused = Upstream::parse("svc", "http://up:1/a/../b").unwrap_err();
        assert!(
            refused.contains("has a dot segment") && refused.ends_with("without . or .. segments")
        );
        let read = Upstream::parse("svc", "http://up:1/a\\b/").unwrap();
        assert_eq!((read.name(), read.path()), ("svc", "/a/b"));
    }

    #[test]
    fn an_upstream_keeps_its_path_as_a_prefix() {
        let up = upstream("orders", "https://orders.svc.local:9443/base/").unwrap();
        assert_eq!(
            (up.name(), up.address().authority(), up.path()),
            ("orders", "orders.svc.local:9443".to_owned(), "/base")
        );
        assert_eq!(up.to_string(), "https://orders.svc.local:9443/base");
    }
}
