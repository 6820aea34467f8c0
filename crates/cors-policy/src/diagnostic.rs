//! Diagnostics: the errors and warnings a policy produces, each with its place in the file.
//!
//! One type serves both the loader (C3 errors) and the lint pass (C5 warnings), so a command line
//! tool prints them the same way: `FILE:LINE:COLUMN: error: KEY.PATH: message`.

use std::fmt;

use cors_origin::Quoted;

use crate::site::Site;

/// How serious a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Severity {
    /// The file is refused (C3).
    Error,
    /// The file is accepted; the configuration is risky or partly ignored (C5).
    Warning,
}

impl Severity {
    /// The word printed in a diagnostic line: `error` or `warning`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $severity:ident;)*) => {
        /// What a [`Diagnostic`] is about: one code per error kind and per lint.
        ///
        /// The string form ([`Code::as_str`]) is stable and suitable for filtering.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable kebab-case name of the code, e.g. `unknown-key`.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                }
            }

            /// The severity diagnostics with this code have.
            #[must_use]
            pub const fn severity(self) -> Severity {
                match self {
                    $(Code::$variant => Severity::$severity,)*
                }
            }
        }
    };
}

codes! {
    /// The file could not be read.
    Io = "io", Error;
    /// The input is larger than the size cap.
    TooLarge = "too-large", Error;
    /// The input is not UTF-8.
    NotUtf8 = "not-utf8", Error;
    /// The input is not valid YAML.
    Syntax = "syntax", Error;
    /// A YAML tag outside the core schema (`!foo`, `!!binary`, the non-specific `!`), or a core
    /// tag on a value that is not of its type (`!!int true`, `!!float 30`, `!!map [a]`).
    Tag = "tag", Error;
    /// Collections are nested deeper than the depth cap.
    TooDeep = "too-deep", Error;
    /// The document has more nodes or more bytes of text than the budgets, counting alias
    /// expansions ("billion laughs") and the copies of anchored nodes.
    TooManyNodes = "too-many-nodes", Error;
    /// The file contains no document, or more documents than the loader accepts.
    Documents = "documents", Error;
    /// The document is none of the accepted C2 shapes.
    UnknownShape = "unknown-shape", Error;
    /// No `cors-flex` policy was found in the file.
    NoCorsPolicy = "no-cors-policy", Error;
    /// More than one `cors-flex` policy was found in the file.
    SeveralCorsPolicies = "several-cors-policies", Error;
    /// A key that the `cors-flex` configuration does not have.
    UnknownKey = "unknown-key", Error;
    /// The same key twice in one mapping.
    DuplicateKey = "duplicate-key", Error;
    /// A required key is missing.
    MissingKey = "missing-key", Error;
    /// A value of the wrong type, e.g. a string where a boolean is expected.
    WrongType = "wrong-type", Error;
    /// A negative `accessControlMaxAge`.
    NegativeMaxAge = "negative-max-age", Error;
    /// A fractional or otherwise non-integer `accessControlMaxAge`.
    NonIntegerMaxAge = "non-integer-max-age", Error;
    /// An `accessControlMaxAge` that does not fit in 64 bits.
    MaxAgeTooLarge = "max-age-too-large", Error;
    /// An origin that is not an origin or origin pattern.
    InvalidOrigin = "invalid-origin", Error;
    /// A method name that is not an RFC 9110 token.
    InvalidMethod = "invalid-method", Error;
    /// A header name that is not an RFC 9110 token.
    InvalidHeader = "invalid-header", Error;
    /// A Local Mode listener or service address that is not an `http` or `https` URL, or a
    /// `destinationPath` that is not a path; a service path or `destinationPath` with a dot
    /// segment (`.` or `..`, in any spelling the gateway refuses in a request path).
    InvalidAddress = "invalid-address", Error;
    /// A route rule's regular expression that does not compile, or is too large.
    InvalidRegex = "invalid-regex", Error;
    /// A `targetRef` or `destinationRef` that names no resource of the Local Mode folder.
    UnknownReference = "unknown-reference", Error;
    /// Two Local Mode resources of the same kind with the same namespace and name.
    DuplicateResource = "duplicate-resource", Error;
    /// Two `ApiInstance`s whose listeners cannot both be served: the same address and base
    /// path, one port with two schemes, or an all-interfaces host next to another host.
    ListenerConflict = "listener-conflict", Error;
    /// An `ApiInstance` of a Local Mode folder with no route to an upstream service.
    NoRoute = "no-route", Error;
    /// A policy other than `cors-flex` was found and ignored (C2).
    IgnoredPolicy = "ignored-policy", Warning;
    /// A key outside the `config:` block that this toolkit does not use.
    IgnoredKey = "ignored-key", Warning;
    /// An `apiVersion` other than `gateway.mulesoft.com/v1alpha1`.
    UnexpectedApiVersion = "unexpected-api-version", Warning;
    /// A `PolicyBinding` whose target is not the `ApiInstance` of its file; in a Local Mode
    /// folder, a binding of a policy that is not applied, whose target the folder lacks.
    UnmatchedTarget = "unmatched-target", Warning;
    /// An `ApiInstance` with several services: only the first is used as upstream.
    ExtraService = "extra-service", Warning;
    /// A Local Mode resource kind (e.g. `Configuration`) or a subfolder that is not read.
    IgnoredResource = "ignored-resource", Warning;
    /// A route that no request reaches, because an earlier route takes every request.
    UnreachableRoute = "unreachable-route", Warning;
    /// An `ApiInstance` without a `cors-flex` policy: its requests get no CORS handling.
    InstanceWithoutCors = "instance-without-cors", Warning;
    /// `publicResource` with `supportCredentials`: every origin is echoed with credentials.
    PublicWithCredentials = "public-with-credentials", Warning;
    /// `*` as an origin with credentials.
    AnyOriginWithCredentials = "any-origin-with-credentials", Warning;
    /// `null` as an origin with credentials.
    NullOriginWithCredentials = "null-origin-with-credentials", Warning;
    /// An `http://` origin with credentials.
    InsecureOriginWithCredentials = "insecure-origin-with-credentials", Warning;
    /// A wildcard subdomain pattern directly under a public suffix (`https://*.com`).
    PublicSuffixWildcard = "public-suffix-wildcard", Warning;
    /// A method name with lower-case letters that browsers send only if a page spells it so.
    MethodCase = "method-case", Warning;
    /// A forbidden method (CONNECT, TRACE, TRACK) allowed explicitly: browsers never send it.
    ForbiddenMethod = "forbidden-method", Warning;
    /// `accessControlMaxAge` above 7200 seconds, Chromium's cap.
    MaxAgeAboveChromiumCap = "max-age-above-chromium-cap", Warning;
    /// `accessControlMaxAge` above 86400 seconds, Firefox's cap.
    MaxAgeAboveFirefoxCap = "max-age-above-firefox-cap", Warning;
    /// `*` in `exposedHeaders` with credentials, where browsers read it as a header name.
    ExposeAnyWithCredentials = "expose-any-with-credentials", Warning;
    /// `originGroups` given while `publicResource` is true: the groups are ignored.
    GroupsIgnored = "groups-ignored", Warning;
    /// The same origin in two groups: the first one wins.
    OriginInTwoGroups = "origin-in-two-groups", Warning;
    /// The same origin twice in one group.
    DuplicateOrigin = "duplicate-origin", Warning;
    /// A group that lists no origin, e.g. `origins: []`: it applies to no request.
    NoOriginListed = "no-origin-listed", Warning;
    /// A group that allows no method at all, e.g. `allowedMethods: []`.
    NoMethodAllowed = "no-method-allowed", Warning;
    /// An origin written with a trailing `/`, tolerated and removed (C4).
    OriginTrailingSlash = "origin-trailing-slash", Warning;
    /// A browser extension's origin whose host is not in the case its browser sends: the host
    /// of a non-special scheme is kept as written (C4), so it matches no request.
    ExtensionOriginCase = "extension-origin-case", Warning;
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One error or warning, with its place when it came from a file.
///
/// Lines and columns are 1-based; columns count characters.
/// The path names the key inside the `cors-flex` `config:` block (`originGroups[1].origins[0]`),
/// or, for problems outside it, the key in the document (`spec.policies[2]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    code: Code,
    file: Option<String>,
    position: Option<(usize, usize)>,
    path: String,
    /// Where in a `config:` block, for value checks and lints (the loader places them by it).
    site: Option<Site>,
    message: String,
    hint: Option<String>,
}

impl Diagnostic {
    pub(crate) fn new(code: Code, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            file: None,
            position: None,
            path: path.into(),
            site: None,
            message: message.into(),
            hint: None,
        }
    }

    /// A diagnostic about a value of a `config:` block; its path is the site's key path.
    pub(crate) fn in_config(code: Code, site: Site, message: impl Into<String>) -> Self {
        Diagnostic { site: Some(site), ..Diagnostic::new(code, site.to_string(), message) }
    }

    /// The site given to [`Diagnostic::in_config`].
    pub(crate) fn site(&self) -> Option<Site> {
        self.site
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    #[cfg_attr(not(feature = "yaml"), expect(dead_code, reason = "used by the YAML loader"))]
    pub(crate) fn at(mut self, file: &str, line: usize, column: usize) -> Self {
        self.set_file(file);
        self.position = Some((line, column));
        self
    }

    pub(crate) fn set_file(&mut self, file: &str) {
        if !file.is_empty() {
            self.file = Some(file.to_owned());
        }
    }

    /// What the diagnostic is about.
    #[must_use]
    pub fn code(&self) -> Code {
        self.code
    }

    /// Error or warning.
    #[must_use]
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }

    /// Whether this is an error.
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity() == Severity::Error
    }

    /// The file name given to the loader, if any.
    #[must_use]
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// The 1-based line, when the diagnostic came from a file.
    #[must_use]
    pub fn line(&self) -> Option<usize> {
        self.position.map(|(line, _)| line)
    }

    /// The 1-based column (in characters), when the diagnostic came from a file.
    #[must_use]
    pub fn column(&self) -> Option<usize> {
        self.position.map(|(_, column)| column)
    }

    /// The key path, e.g. `originGroups[1].origins[0]`; empty for the whole document. Whole,
    /// however long its keys are: `Display` cuts a long one short.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The message, quoting the offending value (cut short when it is long, with its length:
    /// `cors_origin::Quoted`).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A suggestion, e.g. `did you mean "exposedHeaders"?`.
    #[must_use]
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

/// `FILE:LINE:COLUMN: error: KEY.PATH: message, hint` (parts that are unknown are left out), on
/// one line: control characters are escaped. A key path longer than
/// [`Quoted::MAX_LEN`](cors_origin::Quoted::MAX_LEN) bytes is cut short as a quoted value is,
/// [`Diagnostic::path`] keeping it whole.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}:", Escaped(file))?;
        }
        if let Some((line, column)) = self.position {
            write!(f, "{line}:{column}:")?;
        }
        if self.file.is_some() || self.position.is_some() {
            f.write_str(" ")?;
        }
        write!(f, "{}: ", self.severity())?;
        if !self.path.is_empty() {
            write!(f, "{}: ", ShownPath(&self.path))?;
        }
        write!(f, "{}", Escaped(&self.message))?;
        if let Some(hint) = &self.hint {
            write!(f, ", {}", Escaped(hint))?;
        }
        Ok(())
    }
}

/// Text from a folder or a file (a file name, a key, a resource name) written with its control
/// characters escaped (`\n`, `\u{1b}`): a diagnostic goes to a log, where a newline in a file
/// name would start a line of the name's choosing (finding F-AD). So is every other character
/// that `{:?}` escapes, by which the values that messages quote are escaped already: Unicode's
/// line and paragraph separators, bidi controls that reorder the rest of the line where the
/// text is shown by the bidi algorithm, invisible and unassigned characters (`\u{2028}`,
/// `\u{202e}`; finding F-DG).
struct Escaped<'t>(&'t str);

/// Whether `Escaped` writes `c` escaped: a control character, or one `{:?}` escapes, other than
/// the quotes and the backslash it escapes inside quotes only.
fn is_hidden(c: char) -> bool {
    c.is_control() || !matches!(c, '"' | '\'' | '\\') && c.escape_debug().len() > 1
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(is_hidden) {
            f.write_str(&rest[..at])?;
            let control = rest[at..].chars().next().unwrap_or_default();
            write!(f, "{}", control.escape_default())?;
            rest = &rest[at + control.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// A key path as a diagnostic line writes it: whole (its control characters escaped, as
/// [`Escaped`] writes them) while it fits in [`Quoted::MAX_LEN`] bytes; otherwise whole up to
/// the `.`-separated segment at which it passes them, and that segment and the rest quoted by
/// [`Quoted`], which cuts them short with their length: `originGroups[0]."kkk[190 more]"… (200000
/// bytes)`. A path is as long as its keys, and an explicit YAML key (`? "..."`) has no length
/// limit: aliased as a key 18 times in a 1 MiB file, its `duplicate key` lines made 3.8 MB of
/// output (F-DM). Counting the whole path, not each segment, also bounds a long key made of
/// many short segments (`k.k.k...`), which a key with dots reads as.
struct ShownPath<'t>(&'t str);

impl fmt::Display for ShownPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.0;
        let (mut len, mut segment) = (0, 0);
        for (at, c) in path.char_indices() {
            len += if is_hidden(c) { c.escape_default().len() } else { c.len_utf8() };
            if len > Quoted::MAX_LEN {
                return write!(f, "{}{}", Escaped(&path[..segment]), Quoted(&path[segment..]));
            }
            if c == '.' {
                segment = at + 1;
            }
        }
        write!(f, "{}", Escaped(path))
    }
}

/// A policy that could not be loaded: every error found, in file order.
///
/// `Display` and `Debug` both give one `FILE:LINE:COLUMN: error: ...` line per problem, so that
/// a `main` returning the error with `?` (which prints its `Debug`) shows where each problem is;
/// `{:#?}` gives the diagnostics' fields.
#[derive(Clone, PartialEq, Eq)]
pub struct LoadError {
    diagnostics: Vec<Diagnostic>,
}

impl LoadError {
    pub(crate) fn new(diagnostics: Vec<Diagnostic>) -> Self {
        debug_assert!(!diagnostics.is_empty(), "a load error carries at least one diagnostic");
        LoadError { diagnostics }
    }

    /// The errors, in file order (never empty).
    #[must_use]
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// The errors, by value.
    #[must_use]
    pub fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }
}

/// One diagnostic per line.
impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

/// The `Display` lines, but for `{:#?}`, which gives the fields: the usual `Debug` of a struct
/// is what `main` prints for an error it returns, and a list of `Diagnostic { code: .. }` fields
/// hid the lines and columns users need (a reviewer's finding, with cors-hyper's axum example).
impl fmt::Debug for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            f.debug_struct("LoadError").field("diagnostics", &self.diagnostics).finish()
        } else {
            fmt::Display::fmt(self, f)
        }
    }
}

impl std::error::Error for LoadError {}
