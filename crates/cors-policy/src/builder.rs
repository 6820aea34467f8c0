//! Policies written in code: [`Policy::builder`], [`OriginGroup`] and [`Policy::public`].
//!
//! The builder writes the raw [`CorsConfig`] a file would hold and compiles it with
//! [`Policy::from_config`], so a policy built in code is validated exactly as a file is (C3, C4).
//! Only the messages differ: each [`BuildProblem`] names the builder method and the value it was
//! given, instead of a key path.

use std::fmt;
use std::time::Duration;

use cors_origin::Quoted;

use crate::config::{CorsConfig, MethodConfig, OriginGroupConfig};
use crate::diagnostic::{Code, Diagnostic};
use crate::policy::Policy;
use crate::site::Site;

impl Policy {
    /// A builder for a policy written in code, validated as a file is.
    ///
    /// It starts from a closed policy: not public, no credentials, no group (so nothing is
    /// allowed until a group is added). The group keys default as in files (C1).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use cors_policy::{OriginGroup, Policy};
    ///
    /// let policy = Policy::builder()
    ///     .credentials(true)
    ///     .group(
    ///         OriginGroup::new(["https://app.example.com"])
    ///             .allow_methods(["GET", "POST"])
    ///             .allow_headers(["content-type"])
    ///             .expose_headers(["x-request-id"])
    ///             .max_age(Duration::from_secs(600)),
    ///     )
    ///     .build()?;
    /// assert_eq!(policy.groups()[0].allow_methods_value().unwrap(), "GET, POST");
    /// # Ok::<(), cors_policy::BuildError>(())
    /// ```
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::default()
    }

    /// A public resource without credentials (M2): every request with an `Origin` is allowed and
    /// answered `Access-Control-Allow-Origin: *`, preflights mirror what they ask for (P5).
    ///
    /// The same policy as a file holding only `publicResource: true`.
    ///
    /// # Panics
    ///
    /// Never: a public policy without groups holds no origin, method or header to refuse.
    ///
    /// ```
    /// let policy = cors_policy::Policy::public();
    /// assert!(policy.is_public_resource());
    /// assert!(!policy.supports_credentials());
    /// ```
    #[must_use]
    pub fn public() -> Policy {
        // INVARIANT: a public policy without groups has no origin, method or header to refuse.
        Policy::builder()
            .public_resource(true)
            .build()
            .expect("a public policy without groups is always valid")
    }
}

/// Builds a [`Policy`] in code: the settings of a `cors-flex` `config:` block, as methods.
///
/// Made by [`Policy::builder`]; [`build`](PolicyBuilder::build) validates it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct PolicyBuilder {
    public_resource: bool,
    credentials: bool,
    groups: Vec<OriginGroup>,
}

impl PolicyBuilder {
    /// `publicResource`: allow every origin and ignore the groups (M2). Default `false` here
    /// (a file that leaves the key out gets `true`, C1).
    pub fn public_resource(mut self, public: bool) -> PolicyBuilder {
        self.public_resource = public;
        self
    }

    /// `supportCredentials`: answer `Access-Control-Allow-Credentials: true`, and echo the
    /// request's origin instead of `*` (O2). Default `false`.
    pub fn credentials(mut self, credentials: bool) -> PolicyBuilder {
        self.credentials = credentials;
        self
    }

    /// Adds an origin group after the ones already added (the order matters, M3).
    pub fn group(mut self, group: OriginGroup) -> PolicyBuilder {
        self.groups.push(group);
        self
    }

    /// Adds several origin groups, in order.
    pub fn groups(mut self, groups: impl IntoIterator<Item = OriginGroup>) -> PolicyBuilder {
        self.groups.extend(groups);
        self
    }

    /// Validates the settings and compiles the policy.
    ///
    /// Lints (risky but valid settings, C5) are not errors: call [`Policy::lint`] on the result.
    /// They speak of the policy as a cors-flex file would hold it: `originGroups[0]` is the first
    /// group added, its `origins`, `allowedMethods`, `headers`, `exposedHeaders` and
    /// `accessControlMaxAge` are [`OriginGroup::allow_origins`], [`OriginGroup::allow_methods`],
    /// [`OriginGroup::allow_headers`], [`OriginGroup::expose_headers`] and
    /// [`OriginGroup::max_age`], and `publicResource` and `supportCredentials` are
    /// [`public_resource`](Self::public_resource) and [`credentials`](Self::credentials). A hint
    /// such as "list allowed methods with isAllowed: true" means a call to `allow_methods`.
    ///
    /// ```
    /// use cors_policy::{OriginGroup, Policy};
    ///
    /// let no_method: [&str; 0] = [];
    /// let policy = Policy::builder()
    ///     .group(OriginGroup::new(["https://app.example.com"]).allow_methods(no_method))
    ///     .build()?;
    /// let lint = policy.lint().remove(0).to_string();
    /// assert!(lint.contains("originGroups[0].allowedMethods"), "{lint}");
    /// assert!(lint.contains("the group allows no method"), "{lint}");
    /// # Ok::<(), cors_policy::BuildError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Every invalid origin, method name, header name and max-age at once, each naming the
    /// builder method and the value it was given, e.g.
    /// `allow_origins: "https://a.example/path": path is not allowed in an origin (byte 17)`.
    pub fn build(self) -> Result<Policy, BuildError> {
        let mut max_age_problems = Vec::new();
        let groups = self.groups.iter().enumerate();
        let config = CorsConfig {
            public_resource: Some(self.public_resource),
            support_credentials: Some(self.credentials),
            origin_groups: Some(
                groups
                    .map(|(index, group)| group.to_config(index, &mut max_age_problems))
                    .collect(),
            ),
        };
        let mut problems: Vec<BuildProblem> = match Policy::from_config(&config) {
            Ok(policy) if max_age_problems.is_empty() => return Ok(policy),
            Ok(_) => Vec::new(),
            Err(error) => error
                .diagnostics()
                .iter()
                .map(|diagnostic| BuildProblem::from_diagnostic(diagnostic, &self.groups))
                .collect(),
        };
        problems.append(&mut max_age_problems);
        // Group by group; within a group, in the validator's order (a stable sort).
        problems.sort_by_key(|problem| problem.group);
        Err(BuildError { problems, groups: self.groups.len() })
    }
}

/// One origin group of a [`PolicyBuilder`]: its origins and what they may do.
///
/// Lists grow with each call; values are validated by [`PolicyBuilder::build`]. Methods and
/// header names are taken as strings (`&str`, `String`, `http::Method`, `http::HeaderName` and
/// anything else that is `AsRef<str>`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct OriginGroup {
    name: Option<String>,
    origins: Vec<String>,
    methods: Option<Vec<String>>,
    headers: Vec<String>,
    exposed: Vec<String>,
    max_age: Option<Duration>,
}

fn strings<I>(items: I) -> impl Iterator<Item = String>
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    items.into_iter().map(|item| item.as_ref().to_owned())
}

impl OriginGroup {
    /// A group for these origins (the same as [`allow_origins`](OriginGroup::allow_origins) on an
    /// empty group).
    ///
    /// Allowed: `https://app.example.com`, `http://localhost:8080`, `https://*.example.com`
    /// (one or more labels in front of the domain), `null`, `*` (any origin).
    /// Refused: `https://app.example.com/path`, `app.example.com`, `https://*.*.example.com`.
    pub fn new<I>(origins: I) -> OriginGroup
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        OriginGroup::default().allow_origins(origins)
    }

    /// `origins`: adds origins and origin patterns (see [`OriginGroup::new`]).
    /// They are canonicalized as in files (lower-case, Punycode, default port removed).
    pub fn allow_origins<I>(mut self, origins: I) -> OriginGroup
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.origins.extend(strings(origins));
        self
    }

    /// `name`: a label for messages and explanations, ignored for matching.
    pub fn name(mut self, name: impl Into<String>) -> OriginGroup {
        self.name = Some(name.into());
        self
    }

    /// `allowedMethods`: adds allowed methods (RFC 9110 tokens).
    ///
    /// Until this is called the group allows the eight default methods of C1 (CONNECT, DELETE,
    /// GET, OPTIONS, PATCH, POST, PUT, TRACE); after `allow_methods([] as [&str; 0])` it allows
    /// none. Names equal to DELETE, GET, HEAD, OPTIONS, POST or PUT ignoring case are
    /// upper-cased, others kept byte-exact (C4); `HEAD` is allowed wherever `GET` is.
    pub fn allow_methods<I>(mut self, methods: I) -> OriginGroup
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.methods.get_or_insert_with(Vec::new).extend(strings(methods));
        self
    }

    /// `headers`: adds allowed request header names (RFC 9110 tokens, compared ignoring case).
    /// `*` allows any header: preflights then mirror the names they ask for (P4).
    pub fn allow_headers<I>(mut self, headers: I) -> OriginGroup
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.headers.extend(strings(headers));
        self
    }

    /// `headers: ['*']`: allows any request header (the same as `allow_headers(["*"])`).
    pub fn allow_any_header(self) -> OriginGroup {
        self.allow_headers(["*"])
    }

    /// `exposedHeaders`: adds response header names scripts may read (RFC 9110 tokens).
    pub fn expose_headers<I>(mut self, headers: I) -> OriginGroup
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.exposed.extend(strings(headers));
        self
    }

    /// `accessControlMaxAge`: how long browsers may cache a preflight answer (default 30
    /// seconds). `Access-Control-Max-Age` counts whole seconds, so a duration with a fraction
    /// of a second is refused rather than rounded.
    pub fn max_age(mut self, max_age: Duration) -> OriginGroup {
        self.max_age = Some(max_age);
        self
    }

    fn to_config(&self, index: usize, problems: &mut Vec<BuildProblem>) -> OriginGroupConfig {
        let max_age = self.max_age.and_then(|max_age| {
            if max_age.subsec_nanos() == 0 {
                return Some(max_age.as_secs());
            }
            problems.push(BuildProblem {
                group: index,
                method: "max_age",
                value: format!("{max_age:?}"),
                reason: "not a whole number of seconds (Access-Control-Max-Age counts seconds)"
                    .to_owned(),
                hint: None,
                code: Code::NonIntegerMaxAge,
            });
            None
        });
        OriginGroupConfig {
            name: self.name.clone(),
            origins: self.origins.clone(),
            access_control_max_age: max_age,
            allowed_methods: self.methods.as_ref().map(|methods| {
                methods
                    .iter()
                    .map(|method| MethodConfig { method_name: method.clone(), is_allowed: true })
                    .collect()
            }),
            headers: Some(self.headers.clone()),
            exposed_headers: Some(self.exposed.clone()),
        }
    }
}

/// A policy the builder refused: every problem found, group by group.
///
/// `Display` prints one problem per line; with several groups each line starts with the
/// group's position, `group 2: allow_methods: "GE T": ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildError {
    problems: Vec<BuildProblem>,
    groups: usize,
}

impl BuildError {
    /// The problems, group by group (never empty).
    #[must_use]
    pub fn problems(&self) -> &[BuildProblem] {
        &self.problems
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            if self.groups > 1 {
                write!(f, "group {}: ", problem.group + 1)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BuildError {}

/// One value a builder method was given that a policy cannot hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildProblem {
    group: usize,
    method: &'static str,
    value: String,
    reason: String,
    hint: Option<String>,
    code: Code,
}

impl BuildProblem {
    /// The position of the group (0 for the first [`PolicyBuilder::group`]).
    #[must_use]
    pub fn group(&self) -> usize {
        self.group
    }

    /// The builder method that was given the value, e.g. `allow_origins`.
    #[must_use]
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// The value, as given.
    #[must_use]
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Why it is refused, e.g. `path is not allowed in an origin (byte 17)`.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// How to fix it, when there is a cheap suggestion.
    #[must_use]
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The kind of problem, the same [`Code`] a file with this value gets.
    #[must_use]
    pub fn code(&self) -> Code {
        self.code
    }

    /// Names the builder method and value behind a diagnostic of [`Policy::from_config`], from
    /// its site (`originGroups[0].origins[1]`), which indexes the builder's own lists.
    fn from_diagnostic(diagnostic: &Diagnostic, groups: &[OriginGroup]) -> BuildProblem {
        let located = diagnostic.site().and_then(|site| {
            let (index, key, item) = match site {
                Site::Entry(group, key, item) => (group, key, item),
                Site::MethodKey(group, item, _) => (group, "allowedMethods", item),
                _ => return None,
            };
            let group = groups.get(index)?;
            let (method, list) = match key {
                "origins" => ("allow_origins", &group.origins),
                "allowedMethods" => ("allow_methods", group.methods.as_ref()?),
                "headers" => ("allow_headers", &group.headers),
                "exposedHeaders" => ("expose_headers", &group.exposed),
                _ => return None,
            };
            Some((index, method, list.get(item)?.clone()))
        });
        let message = diagnostic.message();
        let hint = diagnostic.hint().map(str::to_owned);
        let code = diagnostic.code();
        match located {
            Some((group, method, value)) => {
                // The message quotes the value (`invalid origin "…": why`); keep only the why.
                let quoted = format!("{}: ", Quoted(&value));
                let reason = message.split_once(&quoted).map_or(message, |(_, why)| why).to_owned();
                BuildProblem { group, method, value, reason, hint, code }
            }
            // Not a path the builder writes: say what the validator said, where it said it.
            None => BuildProblem {
                group: 0,
                method: "build",
                value: diagnostic.path().to_owned(),
                reason: message.to_owned(),
                hint,
                code,
            },
        }
    }
}

/// `allow_origins: "https://a.example/path": path is not allowed in an origin (byte 17)`, then
/// `; hint: …` when there is one.
impl fmt::Display for BuildProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.method, Quoted(&self.value), self.reason)?;
        if let Some(hint) = &self.hint {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}
