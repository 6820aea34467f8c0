//! Third-party CORS implementations (*peers*): how to configure each one as closely as it can
//! express a `cors-flex` policy (its *export*), what it cannot express, and how a run against it
//! is classified.
//!
//! An export is the file a user of that implementation would write: an nginx `conf.d` file, an
//! Apache site, an Envoy bootstrap, or, for libraries, the code that configures them (a Rust
//! function for tower-http and actix-cors, a whole small server for expressjs/cors, Go's rs/cors
//! and flask-cors). Each begins with comments saying what the implementation cannot express of
//! the policy, taken from the same `spec-tests/peers/<peer>/unsupported.toml` entries that
//! classify a run's failures as *unsupported* ([`classify`]), then where the recipe answers
//! otherwise although it could (its `divergences.toml` notes, those of the matrix), each with
//! the cases that fail for it.
//!
//! ```
//! use cors_conformance::peer::{Endpoints, Peer, Subject};
//!
//! let subject = Subject::load("strict")?;
//! let nginx = Peer::Nginx.export(&subject, &Endpoints::default())?;
//! assert!(nginx.contains("\"https://app.example.test\" $http_origin;"));
//! assert!(nginx.contains("What nginx cannot express"));
//! # Ok::<(), cors_conformance::DataError>(())
//! ```

pub mod classify;
pub mod flat;

mod actix;
mod apache;
mod envoy;
mod express;
mod flask_cors;
mod nginx;
mod rs_cors;
mod rust;
mod tower_http;

use std::fmt::Write as _;
use std::path::Path;

use cors_policy::Policy;

use crate::case::{Case, Corpus};
use crate::error::DataError;
use crate::profile;
use classify::{PeerData, glob_matches};
use flat::Flat;

/// A third-party CORS implementation the suite can configure, run and classify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Peer {
    /// tower-http's `CorsLayer` (Rust).
    TowerHttp,
    /// actix-cors (Rust).
    Actix,
    /// Envoy's native CORS filter (`envoy.filters.http.cors`).
    Envoy,
    /// nginx with the usual `map` + `add_header ... always` recipe.
    Nginx,
    /// Apache httpd with the usual `SetEnvIf` + `Header always set` recipe.
    Apache,
    /// expressjs/cors (Node.js).
    Express,
    /// Go's rs/cors.
    RsCors,
    /// flask-cors (Python).
    FlaskCors,
}

/// Where an exported server listens and what it forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoints {
    /// `HOST:PORT` to listen on.
    pub listen: String,
    /// The upstream, `http://HOST:PORT`.
    pub upstream: String,
}

impl Default for Endpoints {
    /// `127.0.0.1:8080`, forwarding to the suite's upstream at `http://127.0.0.1:9000`.
    fn default() -> Endpoints {
        Endpoints {
            listen: "127.0.0.1:8080".to_owned(),
            upstream: "http://127.0.0.1:9000".to_owned(),
        }
    }
}

impl Endpoints {
    /// Endpoints with this listen address and upstream URL.
    ///
    /// # Errors
    ///
    /// `listen` is not `HOST:PORT`, or `upstream` is not `http://HOST:PORT` (without a path).
    pub fn new(listen: &str, upstream: &str) -> Result<Endpoints, DataError> {
        let endpoints = Endpoints { listen: listen.to_owned(), upstream: upstream.to_owned() };
        endpoints.listen_parts()?;
        endpoints.upstream_parts()?;
        Ok(endpoints)
    }

    /// The listen address as `(host, port)`.
    fn listen_parts(&self) -> Result<(&str, u16), DataError> {
        host_port(&self.listen).ok_or_else(|| {
            problem(format!("invalid listen address {:?}; hint: 127.0.0.1:8080", self.listen))
        })
    }

    /// The upstream as `(host, port)`.
    fn upstream_parts(&self) -> Result<(&str, u16), DataError> {
        self.upstream
            .strip_prefix("http://")
            .map(|rest| rest.trim_end_matches('/'))
            .filter(|rest| !rest.contains('/'))
            .and_then(host_port)
            .ok_or_else(|| {
                problem(format!(
                    "invalid upstream {:?}; hint: http://127.0.0.1:9000",
                    self.upstream
                ))
            })
    }
}

/// Splits `host:port` (`[v6]:port` too); the host keeps its brackets.
fn host_port(text: &str) -> Option<(&str, u16)> {
    let (host, port) = text.rsplit_once(':')?;
    let port = port.parse().ok()?;
    (!host.is_empty() && !host.contains('/')).then_some((host, port))
}

fn problem(message: String) -> DataError {
    DataError { problems: vec![message] }
}

/// The policy an export is made for: a built-in profile or a `cors-flex` file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Subject {
    /// The profile name, or the file's path as given.
    pub name: String,
    /// Whether `name` is a built-in profile (whose conformance cases are known).
    pub builtin: bool,
    /// The policy.
    pub policy: Policy,
}

impl Subject {
    /// Loads a built-in profile by name, or else a `cors-flex` file.
    ///
    /// # Errors
    ///
    /// Neither a profile nor a readable file (the message lists the profiles), or the policy
    /// does not load (every diagnostic, with line and column).
    pub fn load(profile_or_file: &str) -> Result<Subject, DataError> {
        if let Some(builtin) = profile::get(profile_or_file) {
            let policy = crate::in_process::load_profile(builtin)?;
            return Ok(Subject { name: builtin.name.to_owned(), builtin: true, policy });
        }
        let path = Path::new(profile_or_file);
        if !path.is_file() {
            return Err(problem(format!(
                "unknown profile {profile_or_file:?}; hint: one of {}, or a cors-flex file",
                profile::names().join(", ")
            )));
        }
        let loaded = Policy::from_yaml_file(path).map_err(|e| problem(e.to_string()))?;
        Ok(Subject { name: profile_or_file.to_owned(), builtin: false, policy: loaded.policy })
    }
}

/// One thing a peer cannot express of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limitation {
    /// Why (the `reason` of the unsupported entry).
    pub reason: String,
    /// The conformance cases of the profile that check it (empty for a policy file).
    pub cases: Vec<String>,
}

macro_rules! peer_data {
    ($dir:literal) => {
        (
            include_str!(concat!("../../peers/", $dir, "/unsupported.toml")),
            include_str!(concat!("../../peers/", $dir, "/divergences.toml")),
        )
    };
}

impl Peer {
    /// Every peer: the Rust ones first, then servers, then other languages' libraries.
    pub const ALL: [Peer; 8] = [
        Peer::TowerHttp,
        Peer::Actix,
        Peer::Envoy,
        Peer::Nginx,
        Peer::Apache,
        Peer::Express,
        Peer::RsCors,
        Peer::FlaskCors,
    ];

    /// The peer's name, also its directory under `spec-tests/peers/` and the value of
    /// `export --to`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Peer::TowerHttp => "tower-http",
            Peer::Actix => "actix",
            Peer::Envoy => "envoy",
            Peer::Nginx => "nginx",
            Peer::Apache => "apache",
            Peer::Express => "express",
            Peer::RsCors => "rs-cors",
            Peer::FlaskCors => "flask-cors",
        }
    }

    /// The peer named `name`.
    ///
    /// # Errors
    ///
    /// No peer has that name; the message lists the names.
    pub fn from_name(name: &str) -> Result<Peer, DataError> {
        Peer::ALL.into_iter().find(|peer| peer.name() == name).ok_or_else(|| {
            problem(format!(
                "unknown target {name:?}; hint: one of {}",
                Peer::ALL.map(Peer::name).join(", ")
            ))
        })
    }

    /// Whether the peer is a Rust crate (built by cargo, so it runs wherever the workspace
    /// builds, CI included).
    #[must_use]
    pub fn is_rust(self) -> bool {
        matches!(self, Peer::TowerHttp | Peer::Actix)
    }

    /// What the peer is and how it is configured, for reports and the matrix.
    #[must_use]
    pub fn description(self) -> &'static str {
        match self {
            Peer::TowerHttp => "tower-http 0.7 `CorsLayer` in front of a hyper reverse proxy",
            Peer::Actix => "actix-cors 0.7 in front of an actix-web 4 reverse proxy",
            Peer::Envoy => "Envoy 1.40 native CORS filter (`envoy.filters.http.cors`)",
            Peer::Nginx => {
                "nginx (Debian) with `map` + `add_header ... always` + `return 204` on OPTIONS, \
                 the upstream's Access-Control-* fields hidden with `proxy_hide_header` and \
                 passed back to requests that are not CORS"
            }
            Peer::Apache => {
                "Apache httpd 2.4 (Debian) with `SetEnvIf Origin` + `Header always set` + a \
                 `RewriteRule [R=204]` answering OPTIONS, in front of `ProxyPass`"
            }
            Peer::Express => "expressjs/cors 2 on express 5, in front of a node http proxy",
            Peer::RsCors => {
                "Go rs/cors (Debian's golang-github-rs-cors-dev) in front of httputil.ReverseProxy"
            }
            Peer::FlaskCors => "flask-cors on Flask 3 (PyPI), in front of an http.client proxy",
        }
    }

    /// The file name an export is usually saved as.
    #[must_use]
    pub fn file_name(self) -> &'static str {
        match self {
            Peer::TowerHttp => "cors_layer.rs",
            Peer::Actix => "cors.rs",
            Peer::Envoy => "envoy.yaml",
            Peer::Nginx => "cors.conf",
            Peer::Apache => "cors-apache.conf",
            Peer::Express => "server.js",
            Peer::RsCors => "main.go",
            Peer::FlaskCors => "app.py",
        }
    }

    /// The peer's data files (`unsupported.toml`, `divergences.toml`), compiled in.
    ///
    /// # Errors
    ///
    /// A file does not parse.
    pub fn data(self) -> Result<PeerData, DataError> {
        let (unsupported, divergences) = match self {
            Peer::TowerHttp => peer_data!("tower-http"),
            Peer::Actix => peer_data!("actix"),
            Peer::Envoy => peer_data!("envoy"),
            Peer::Nginx => peer_data!("nginx"),
            Peer::Apache => peer_data!("apache"),
            Peer::Express => peer_data!("express"),
            Peer::RsCors => peer_data!("rs-cors"),
            Peer::FlaskCors => peer_data!("flask-cors"),
        };
        PeerData::parse(self.name(), unsupported, divergences)
    }

    /// What the peer cannot express of `subject`: the unsupported entries whose `when` holds
    /// for the policy, or, for a built-in profile, that cover one of its cases.
    ///
    /// # Errors
    ///
    /// The peer's data or the corpus does not parse.
    pub fn limitations(self, subject: &Subject) -> Result<Vec<Limitation>, DataError> {
        let data = self.data()?;
        let flat = Flat::from_policy(&subject.policy);
        let corpus = if subject.builtin { Some(Corpus::builtin()?) } else { None };
        let mut out = Vec::new();
        for entry in &data.unsupported {
            let cases = profile_cases(corpus.as_ref(), subject, |case| {
                entry.covers(&case.profile, &case.id, &case.rules)
            });
            let concerns = entry.when.is_none_or(|when| when.holds(&flat));
            if !cases.is_empty() || concerns {
                out.push(Limitation { reason: entry.reason.trim().to_owned(), cases });
            }
        }
        Ok(out)
    }

    /// Where the peer's recipe answers otherwise than `subject` says although the policy needs
    /// nothing beyond it (its `divergences.toml` notes): for a built-in profile, the notes that
    /// one of its cases checks, with those cases; for a policy file, every note.
    ///
    /// # Errors
    ///
    /// The peer's data or the corpus does not parse.
    pub fn differences(self, subject: &Subject) -> Result<Vec<Limitation>, DataError> {
        let data = self.data()?;
        let corpus = if subject.builtin { Some(Corpus::builtin()?) } else { None };
        let mut out = Vec::new();
        for divergence in &data.divergences {
            let cases = profile_cases(corpus.as_ref(), subject, |case| {
                divergence.cases.iter().any(|glob| glob_matches(glob, &case.id))
            });
            if corpus.is_none() || !cases.is_empty() {
                out.push(Limitation { reason: divergence.summary.trim().to_owned(), cases });
            }
        }
        Ok(out)
    }

    /// The configuration (or code) that makes the peer implement `subject` as closely as it
    /// can, listening and forwarding as `endpoints` say (libraries configured in code ignore
    /// them), with what it cannot express stated in comments at the top.
    ///
    /// # Errors
    ///
    /// The peer's data does not parse, or the policy holds a value the peer's syntax cannot
    /// carry (the message names it).
    pub fn export(self, subject: &Subject, endpoints: &Endpoints) -> Result<String, DataError> {
        let flat = Flat::from_policy(&subject.policy);
        let limitations = self.limitations(subject)?;
        let differences = self.differences(subject)?;
        let prefix = match self {
            Peer::TowerHttp | Peer::Actix => "//!",
            Peer::Express | Peer::RsCors => "//",
            Peer::Envoy | Peer::Nginx | Peer::Apache | Peer::FlaskCors => "#",
        };
        let mut text = self.header(prefix, subject, &limitations, &differences, endpoints);
        let body = match self {
            Peer::TowerHttp => tower_http::render(&flat),
            Peer::Actix => actix::render(&flat),
            Peer::Envoy => envoy::render(&flat, endpoints)?,
            Peer::Nginx => nginx::render(&flat, endpoints)?,
            Peer::Apache => apache::render(&flat, endpoints)?,
            Peer::Express => express::render(&flat, endpoints)?,
            Peer::RsCors => rs_cors::render(&flat, endpoints)?,
            Peer::FlaskCors => flask_cors::render(&flat, endpoints)?,
        };
        text.push_str(&body);
        Ok(text)
    }

    /// The comment block every export starts with.
    fn header(
        self,
        prefix: &str,
        subject: &Subject,
        limitations: &[Limitation],
        differences: &[Limitation],
        endpoints: &Endpoints,
    ) -> String {
        let mut lines = wrap(
            &format!(
                "{}, configured as the cors-flex policy {:?} as closely as it can express it.",
                self.description(),
                subject.name
            ),
            "",
        );
        lines.extend(wrap(
            &format!(
                "Exported by cors-conformance {}: `cors-conformance export --profile {} --to {}`.",
                env!("CARGO_PKG_VERSION"),
                subject.name,
                self.name()
            ),
            "",
        ));
        if subject.builtin && !self.is_rust() {
            lines.extend(wrap(
                &format!(
                    "Check it with `cors-conformance run --target http://{} --profile {}`.",
                    endpoints.listen, subject.name
                ),
                "",
            ));
        }
        lines.push(String::new());
        if limitations.is_empty() {
            lines.push(format!("Nothing this policy needs is known to be beyond {}.", self.name()));
        } else {
            lines.push(format!(
                "What {} cannot express of this policy (the conformance cases that check it fail):",
                self.name()
            ));
            list_limitations(&mut lines, limitations);
        }
        if !differences.is_empty() {
            lines.push(String::new());
            lines.push(format!(
                "Where this {} recipe answers otherwise than cors-flex (these cases fail too):",
                self.name()
            ));
            list_limitations(&mut lines, differences);
        }
        lines.push(String::new());
        lines.extend(wrap(self.setup_note(), ""));
        let mut out = String::new();
        for line in lines {
            if line.is_empty() {
                let _ = writeln!(out, "{prefix}");
            } else {
                let _ = writeln!(out, "{prefix} {line}");
            }
        }
        out
    }

    /// How the file is used, where that is not obvious.
    fn setup_note(self) -> &'static str {
        match self {
            Peer::TowerHttp => {
                "Depends on tower-http 0.7 (feature `cors`) and http 1; wrap your service with \
                 `cors_layer()`."
            }
            Peer::Actix => "Depends on actix-cors 0.7 and actix-web 4; `App::new().wrap(cors())`.",
            Peer::Envoy => "A whole bootstrap: `envoy --config-path envoy.yaml`.",
            Peer::Nginx => {
                "Goes inside `http { }`, for example as /etc/nginx/conf.d/cors.conf; then \
                 `nginx -s reload`."
            }
            Peer::Apache => {
                "Needs mod_headers, mod_setenvif, mod_rewrite, mod_proxy and mod_proxy_http \
                 (`a2enmod headers setenvif rewrite proxy proxy_http`); for example as \
                 /etc/apache2/sites-enabled/cors.conf, then `apachectl graceful`."
            }
            Peer::Express => {
                "Needs express 5 and cors 2 (`npm install express cors`); `node server.js`."
            }
            Peer::RsCors => {
                "Needs github.com/rs/cors; `go run main.go` (Debian: GOPATH=/usr/share/gocode \
                 GO111MODULE=off)."
            }
            Peer::FlaskCors => {
                "Needs Flask and flask-cors (`pip install flask flask-cors`); `python app.py`."
            }
        }
    }
}

/// Wraps `text` at 92 columns (96 with a comment prefix), keeping its leading blanks;
/// continuation lines start with `indent`.
fn wrap(text: &str, indent: &str) -> Vec<String> {
    let lead = &text[..text.len() - text.trim_start().len()];
    let mut lines = Vec::new();
    let mut line = lead.to_owned();
    for word in text.split_whitespace() {
        if line.len() > lead.len() && line.len() + 1 + word.len() > 92 {
            lines.push(std::mem::replace(&mut line, indent.to_owned()));
        } else if line.len() > lead.len() && !line.ends_with(' ') {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// The cases listed after a limitation: a few, then how many more.
const LISTED_CASES: usize = 6;

/// The ids of `subject`'s cases in `corpus` (none without a corpus) that `covers` selects.
fn profile_cases(
    corpus: Option<&Corpus>,
    subject: &Subject,
    covers: impl Fn(&Case) -> bool,
) -> Vec<String> {
    corpus
        .iter()
        .flat_map(|corpus| corpus.cases())
        .filter(|case| case.profile == subject.name && covers(case))
        .map(|case| case.id.clone())
        .collect()
}

/// Appends one item per limitation to a header's lines: its reason, then the first
/// [`LISTED_CASES`] cases that check it.
fn list_limitations(lines: &mut Vec<String>, limitations: &[Limitation]) {
    for limitation in limitations {
        lines.extend(wrap(&format!("- {}", limitation.reason), "  "));
        let cases = &limitation.cases;
        if !cases.is_empty() {
            let shown = cases[..cases.len().min(LISTED_CASES)].join(", ");
            let more = match cases.len().saturating_sub(LISTED_CASES) {
                0 => String::new(),
                more => format!(" and {more} more"),
            };
            lines.extend(wrap(&format!("  Checked by {shown}{more}."), "  "));
        }
    }
}

/// Escapes `text` for a regular expression (PCRE, RE2, JavaScript and Python agree on these).
pub(crate) fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A double-quoted string literal (JSON syntax, which Go, Python, JavaScript and YAML accept).
pub(crate) fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
}

/// Every origin of `flat` as one anchored regular expression alternative each: exact origins
/// escaped, subdomain patterns as their regexes (without anchors).
pub(crate) fn origin_alternatives(flat: &Flat) -> Vec<String> {
    let mut out: Vec<String> = flat.origins.exact.iter().map(|o| regex_escape(o)).collect();
    out.extend(
        flat.origins
            .pattern_regexes()
            .into_iter()
            .map(|regex| regex.trim_start_matches('^').trim_end_matches('$').to_owned()),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `peer` exports for `profile` with the default endpoints, checked to hold every
    /// `expected` text and none of the `unexpected` ones.
    #[track_caller]
    pub(super) fn check_export(
        peer: Peer,
        profile: &str,
        expected: &[&str],
        unexpected: &[&str],
    ) -> String {
        let subject = Subject::load(profile).unwrap();
        let rendered = peer.export(&subject, &Endpoints::default()).unwrap();
        for line in expected {
            assert!(rendered.contains(line), "missing {line:?} in:\n{rendered}");
        }
        for line in unexpected {
            assert!(!rendered.contains(line), "unexpected {line:?} in:\n{rendered}");
        }
        rendered
    }

    #[test]
    fn every_peer_exports_every_profile() {
        for peer in Peer::ALL {
            for profile in profile::PROFILES {
                let subject = Subject::load(profile.name).unwrap();
                let text = peer.export(&subject, &Endpoints::default()).unwrap();
                assert!(
                    !text.contains("{{"),
                    "{} {}: a placeholder is left",
                    peer.name(),
                    profile.name
                );
                assert!(text.contains(profile.name), "{} {}", peer.name(), profile.name);
            }
        }
    }

    #[test]
    fn the_limitations_of_a_profile_include_every_entry_covering_its_cases() {
        let corpus = Corpus::builtin().unwrap();
        for peer in Peer::ALL {
            let data = peer.data().unwrap();
            for profile in profile::PROFILES {
                let subject = Subject::load(profile.name).unwrap();
                let flat = Flat::from_policy(&subject.policy);
                for entry in &data.unsupported {
                    let covers = corpus.cases().iter().any(|case| {
                        case.profile == profile.name
                            && entry.covers(&case.profile, &case.id, &case.rules)
                    });
                    // `when` must hold wherever the entry covers a case, so that an export of a
                    // user's file with the same shape states the same limitation.
                    if covers {
                        assert!(
                            entry.when.is_none_or(|when| when.holds(&flat)),
                            "{} {}: `when` of {:?} does not hold",
                            peer.name(),
                            profile.name,
                            entry.reason
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn unknown_targets_and_profiles_list_the_valid_ones() {
        let target = Peer::from_name("lighttpd").unwrap_err().to_string();
        assert!(target.contains("nginx, apache"), "{target}");
        let profile = Subject::load("nope").unwrap_err().to_string();
        assert!(profile.contains("strict, strict-credentials"), "{profile}");
    }

    #[test]
    fn endpoints_are_checked() {
        assert!(Endpoints::new("127.0.0.1:8080", "http://127.0.0.1:9000").is_ok());
        assert!(Endpoints::new("[::1]:8080", "http://localhost:9000/").is_ok());
        assert!(Endpoints::new("8080", "http://127.0.0.1:9000").is_err());
        assert!(Endpoints::new("127.0.0.1:8080", "https://127.0.0.1:9000").is_err());
        assert!(Endpoints::new("127.0.0.1:8080", "http://127.0.0.1:9000/api").is_err());
    }

    #[test]
    fn text_wraps_at_96_columns() {
        let words = "word ".repeat(40);
        let lines = wrap(&format!("  {}", words.trim()), "    ");
        assert!(lines.iter().all(|line| line.len() <= 92), "{lines:?}");
        assert!(lines[0].starts_with("  word"), "{lines:?}");
        assert!(lines[1].starts_with("    word"), "{lines:?}");
    }
}
