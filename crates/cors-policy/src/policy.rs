//! The compiled, validated, immutable [`Policy`] and its [`Group`]s.

use std::collections::HashSet;
use std::fmt;

use bytes::BytesMut;
use cors_origin::{Match, OriginPattern, OriginSet, ParseError, Quoted, eq_lowercase_name};
use http::HeaderValue;

use crate::config::{CorsConfig, MethodConfig, OriginGroupConfig};
use crate::diagnostic::{Code, Diagnostic, LoadError};
use crate::site::Site;
use crate::token::{DEFAULT_METHODS, normalize_method, token_problem};

/// The C1 default of `accessControlMaxAge`, in seconds.
pub const DEFAULT_MAX_AGE: u64 = 30;

/// A validated `cors-flex` policy, ready for the engine.
///
/// It cannot represent an invalid configuration: origins are canonical patterns, method and
/// header names are tokens, and every header value the engine sends is built once here, as the
/// [`http::HeaderValue`] the engine hands out (cloning one only bumps a reference count).
/// It is immutable, `Send + Sync`, and cheap to share behind an `Arc`.
pub struct Policy {
    public_resource: bool,
    support_credentials: bool,
    groups: Vec<Group>,
    origins: OriginSet,
    /// For each pattern of `origins` (by index), the index of its group.
    pattern_groups: Vec<usize>,
    /// For each pattern of `origins` (by index), an exact origin's serialization as the
    /// `Access-Control-Allow-Origin` value that echoes it; `None` for the other patterns.
    origin_values: Vec<Option<HeaderValue>>,
}

/// One origin group, compiled.
///
/// Two groups are equal when they behave the same and write back the same configuration;
/// notes kept only for the lint pass (where an entry was written) are not compared.
#[derive(Clone, Debug)]
pub struct Group {
    index: usize,
    name: Option<String>,
    origins: Vec<OriginPattern>,
    /// Indices into `origins` of entries written with a trailing `/` (linted, C4).
    trailing_slash: Vec<usize>,
    max_age: u64,
    max_age_value: HeaderValue,
    methods: Vec<String>,
    /// [`method_bit`]s of the allowed methods, `HEAD` included wherever `GET` is (A1, P2).
    method_bits: u16,
    /// For each of `methods`, the index of the `allowedMethods` entry that allowed it.
    method_sources: Vec<usize>,
    /// Whether `allowedMethods` was absent, so `methods` are the C1 defaults.
    methods_defaulted: bool,
    allow_methods_value: Option<HeaderValue>,
    headers: AllowedHeaders,
    allow_headers_value: Option<HeaderValue>,
    exposed_headers: Vec<String>,
    expose_headers_value: Option<HeaderValue>,
}

/// The request headers a group allows (its `headers` key).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AllowedHeaders {
    /// `*` appeared in `headers`: any header name (the engine mirrors the request's list, P4).
    Any,
    /// These names, lower-cased, de-duplicated, in file order.
    List(Vec<String>),
}

impl Policy {
    /// Validates a raw configuration, applying the C1 defaults and the C4 canonicalization.
    ///
    /// # Errors
    ///
    /// Every invalid origin, method name and header name, each with its key path
    /// (`originGroups[0].origins[1]`) but without a file position.
    pub fn from_config(config: &CorsConfig) -> Result<Policy, LoadError> {
        let mut errors = Vec::new();
        let groups: Vec<Group> = config
            .origin_groups
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(index, group)| Group::compile(index, group, &mut errors))
            .collect();
        if !errors.is_empty() {
            return Err(LoadError::new(errors));
        }
        Ok(Policy::assemble(
            config.public_resource.unwrap_or(true),
            config.support_credentials.unwrap_or(false),
            groups,
        ))
    }

    fn assemble(public_resource: bool, support_credentials: bool, groups: Vec<Group>) -> Policy {
        let pattern_groups =
            groups.iter().flat_map(|group| group.origins.iter().map(|_| group.index)).collect();
        let origins = OriginSet::new(groups.iter().flat_map(|group| group.origins.iter().cloned()));
        let origin_values = origins
            .patterns()
            .iter()
            .map(|pattern| match pattern {
                // A canonical serialization is visible ASCII, always a valid field value.
                OriginPattern::Exact(origin) => Some(prebuilt(origin.as_str())),
                _ => None,
            })
            .collect();
        Policy {
            public_resource,
            support_credentials,
            groups,
            origins,
            pattern_groups,
            origin_values,
        }
    }

    /// `publicResource` (M2): groups are ignored and every origin is allowed.
    #[must_use]
    pub fn is_public_resource(&self) -> bool {
        self.public_resource
    }

    /// `supportCredentials`: responses carry `Access-Control-Allow-Credentials: true`.
    #[must_use]
    pub fn supports_credentials(&self) -> bool {
        self.support_credentials
    }

    /// The origin groups, in file order.
    #[must_use]
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Every pattern of every group, in file order; [`Policy::group_of`] maps a [`Match`] back.
    #[must_use]
    pub fn origins(&self) -> &OriginSet {
        &self.origins
    }

    /// The group the matched pattern belongs to.
    ///
    /// # Panics
    ///
    /// If `m` did not come from this policy's [`Policy::origins`] (its index is out of range).
    #[must_use]
    pub fn group_of(&self, m: Match) -> &Group {
        &self.groups[self.pattern_groups[m.index()]]
    }

    /// The matched pattern's own `Access-Control-Allow-Origin` value when it is an exact origin
    /// (its serialization, which the matching `Origin` equals byte for byte,
    /// [`OriginSet::parse_and_find`]); `None` for the other patterns, and for an `m` that did not
    /// come from this policy's [`Policy::origins`].
    ///
    /// Echoing an origin (O1, O2) by cloning this value rather than the request's own field
    /// leaves the answer holding nothing of the request.
    #[must_use]
    #[inline]
    pub fn origin_value(&self, m: Match) -> Option<&HeaderValue> {
        self.origin_values.get(m.index())?.as_ref()
    }

    /// The normalized configuration: every key explicit, canonical origins, C4 method names,
    /// lower-case headers; `allowedMethods` stays absent where the C1 defaults applied.
    #[must_use]
    pub fn to_config(&self) -> CorsConfig {
        CorsConfig {
            public_resource: Some(self.public_resource),
            support_credentials: Some(self.support_credentials),
            origin_groups: Some(self.groups.iter().map(Group::to_config).collect()),
        }
    }
}

impl Clone for Policy {
    fn clone(&self) -> Self {
        Policy::assemble(self.public_resource, self.support_credentials, self.groups.clone())
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("public_resource", &self.public_resource)
            .field("support_credentials", &self.support_credentials)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

/// Two policies are equal when their settings and groups are (the origin set is derived).
impl PartialEq for Policy {
    fn eq(&self, other: &Self) -> bool {
        self.public_resource == other.public_resource
            && self.support_credentials == other.support_credentials
            && self.groups == other.groups
    }
}

impl Eq for Policy {}

impl PartialEq for Group {
    fn eq(&self, other: &Self) -> bool {
        // The joined values are derived from the compared fields.
        self.index == other.index
            && self.name == other.name
            && self.origins == other.origins
            && self.max_age == other.max_age
            && self.methods == other.methods
            && self.methods_defaulted == other.methods_defaulted
            && self.headers == other.headers
            && self.exposed_headers == other.exposed_headers
    }
}

impl Eq for Group {}

/// The bit of each method Fetch normalizes (`DELETE GET HEAD OPTIONS POST PUT`) and of `PATCH`
/// in [`Group`]'s method bits: one layout for [`method_bit`] (by bytes) and
/// [`Group::allows_http_method`] (by `http`'s variant).
mod bit {
    pub(super) const GET: u16 = 1;
    pub(super) const HEAD: u16 = 1 << 1;
    pub(super) const POST: u16 = 1 << 2;
    pub(super) const PUT: u16 = 1 << 3;
    pub(super) const DELETE: u16 = 1 << 4;
    pub(super) const PATCH: u16 = 1 << 5;
    pub(super) const OPTIONS: u16 = 1 << 6;
}

/// A bit for each method Fetch normalizes (`DELETE GET HEAD OPTIONS POST PUT`) and `PATCH`,
/// byte-exact ([`bit`]); 0 for any other method (compared by name).
///
/// The method's bytes are read as one word ([`method_key`]) and compared with each name's word
/// of the same length: measured (callgrind), 3 to 9 instructions less per decision that checks
/// a method (`GET` 7, `PUT` 3, `DELETE` 9) than a `match` on the byte strings, which compared
/// them byte by byte.
#[inline]
fn method_bit(method: &[u8]) -> u16 {
    // One branch on the length, in which the word is read knowing it; the names' words are
    // constants once inlined.
    let is = |name: &[u8]| method_key(method) == method_key(name);
    match method.len() {
        3 if is(b"GET") => bit::GET,
        4 if is(b"HEAD") => bit::HEAD,
        4 if is(b"POST") => bit::POST,
        3 if is(b"PUT") => bit::PUT,
        6 if is(b"DELETE") => bit::DELETE,
        5 if is(b"PATCH") => bit::PATCH,
        7 if is(b"OPTIONS") => bit::OPTIONS,
        _ => 0,
    }
}

/// The bytes of a method of 3 to 7 bytes as one little-endian word, which tells apart any two
/// methods of one length: its three bytes, or its first four and its last four (overlapping
/// under eight). 0 for any other length.
#[inline]
fn method_key(method: &[u8]) -> u64 {
    let word = |bytes: &[u8; 4]| u64::from(u32::from_le_bytes(*bytes));
    match method.len() {
        3 => match (method.first_chunk::<2>(), method.last()) {
            (Some(head), Some(&last)) => {
                u64::from(u16::from_le_bytes(*head)) | u64::from(last) << 16
            }
            _ => 0,
        },
        4..=7 => match (method.first_chunk::<4>(), method.last_chunk::<4>()) {
            (Some(head), Some(tail)) => word(head) | word(tail) << 32,
            _ => 0,
        },
        _ => 0,
    }
}

/// Whether `a` and `b` (of the same length) hold the same bytes, compared inline.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// `items` joined with `, ` as a header value (the list form of RFC 9110 section 5.6.1);
/// `None` when there is none.
fn join(items: &[String]) -> Option<HeaderValue> {
    (!items.is_empty()).then(|| prebuilt(&items.join(", ")))
}

/// `text`, valid field-value bytes, as a prebuilt value whose clones cost the least: its
/// [`bytes::Bytes`] is frozen from a split [`BytesMut`], so it is of the shared kind at once, and
/// a clone is one atomic increment. A value built from a `String` (`HeaderValue::try_from`) is a
/// `Bytes` of the "promotable" kind, which every clone and drop checks, and whose first clone
/// allocates the shared count. Measured: 10 instructions less per value cloned and dropped, on
/// every row of the layer benchmark that echoes an origin or writes a group's values.
///
/// # Panics
/// When `text` is not a valid field value: callers pass origins' serializations, validated
/// tokens joined with `, `, and numbers.
fn prebuilt(text: &str) -> HeaderValue {
    HeaderValue::from_maybe_shared(BytesMut::from(text).split().freeze())
        .expect("invariant: origins, validated tokens and numbers are valid field values")
}

/// A list without duplicates, first occurrence kept, in linear time.
#[derive(Default)]
struct UniqueList {
    items: Vec<String>,
    seen: HashSet<String>,
}

impl UniqueList {
    fn push(&mut self, item: String) -> bool {
        let new = self.seen.insert(item.clone());
        if new {
            self.items.push(item);
        }
        new
    }
}

/// cors-origin's message, and its hint as the diagnostic's hint.
fn origin_error(error: &ParseError, site: Site) -> Diagnostic {
    let diagnostic = Diagnostic::in_config(Code::InvalidOrigin, site, error.to_string());
    match error.hint() {
        Some(hint) => diagnostic.with_hint(hint),
        None => diagnostic,
    }
}

/// The names of the group's list `key` (`headers` or `exposedHeaders`), checked and lower-cased.
fn header_names(
    names: &[String],
    group: usize,
    key: &'static str,
    errors: &mut Vec<Diagnostic>,
) -> Option<Vec<String>> {
    let mut out = UniqueList::default();
    let mut ok = true;
    for (i, name) in names.iter().enumerate() {
        if let Some(problem) = token_problem(name) {
            errors.push(Diagnostic::in_config(
                Code::InvalidHeader,
                Site::Entry(group, key, i),
                format!("invalid header name {}: {problem}", Quoted(name)),
            ));
            ok = false;
        } else {
            out.push(name.to_ascii_lowercase());
        }
    }
    ok.then_some(out.items)
}

impl Group {
    fn compile(index: usize, config: &OriginGroupConfig, errors: &mut Vec<Diagnostic>) -> Group {
        let mut origins = Vec::with_capacity(config.origins.len());
        let mut trailing_slash = Vec::new();
        for (i, text) in config.origins.iter().enumerate() {
            match OriginPattern::parse_with_notes(text) {
                Ok((pattern, notes)) => {
                    if notes.had_trailing_slash() {
                        trailing_slash.push(origins.len());
                    }
                    origins.push(pattern);
                }
                Err(error) => errors.push(origin_error(&error, Site::Entry(index, "origins", i))),
            }
        }

        let methods_defaulted = config.allowed_methods.is_none();
        let mut allowed = UniqueList::default();
        let mut method_sources = Vec::new();
        match &config.allowed_methods {
            None => {
                for (i, method) in DEFAULT_METHODS.iter().enumerate() {
                    allowed.push((*method).to_owned());
                    method_sources.push(i);
                }
            }
            Some(entries) => {
                for (i, MethodConfig { method_name, is_allowed }) in entries.iter().enumerate() {
                    if let Some(problem) = token_problem(method_name) {
                        errors.push(Diagnostic::in_config(
                            Code::InvalidMethod,
                            Site::MethodKey(index, i, "methodName"),
                            format!("invalid method {}: {problem}", Quoted(method_name)),
                        ));
                    } else if *is_allowed && allowed.push(normalize_method(method_name)) {
                        method_sources.push(i);
                    }
                }
            }
        }

        let methods = allowed.items;
        let mut method_bits =
            methods.iter().fold(0, |bits, method| bits | method_bit(method.as_bytes()));
        if method_bits & bit::GET != 0 {
            method_bits |= bit::HEAD;
        }
        let headers = config
            .headers
            .as_deref()
            .and_then(|names| header_names(names, index, "headers", errors))
            .unwrap_or_default();
        let headers = if headers.iter().any(|name| name == "*") {
            AllowedHeaders::Any
        } else {
            AllowedHeaders::List(headers)
        };
        let exposed_headers = config
            .exposed_headers
            .as_deref()
            .and_then(|names| header_names(names, index, "exposedHeaders", errors))
            .unwrap_or_default();

        let max_age = config.access_control_max_age.unwrap_or(DEFAULT_MAX_AGE);
        Group {
            index,
            name: config.name.clone(),
            origins,
            trailing_slash,
            max_age,
            max_age_value: prebuilt(&max_age.to_string()),
            allow_methods_value: join(&methods),
            methods,
            method_bits,
            method_sources,
            methods_defaulted,
            allow_headers_value: match &headers {
                AllowedHeaders::Any => None,
                AllowedHeaders::List(names) => join(names),
            },
            headers,
            expose_headers_value: join(&exposed_headers),
            exposed_headers,
        }
    }

    fn to_config(&self) -> OriginGroupConfig {
        OriginGroupConfig {
            name: self.name.clone(),
            origins: self.origins.iter().map(ToString::to_string).collect(),
            access_control_max_age: Some(self.max_age),
            allowed_methods: (!self.methods_defaulted).then(|| {
                self.methods
                    .iter()
                    .map(|m| MethodConfig { method_name: m.clone(), is_allowed: true })
                    .collect()
            }),
            headers: Some(match &self.headers {
                AllowedHeaders::Any => vec!["*".to_owned()],
                AllowedHeaders::List(names) => names.clone(),
            }),
            exposed_headers: Some(self.exposed_headers.clone()),
        }
    }

    /// The group's `name`, if it has one (ignored for matching).
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The position of the group in `originGroups`.
    #[must_use]
    pub fn index(&self) -> usize {
        self.index
    }

    /// The group's origin patterns, canonical, in file order.
    #[must_use]
    pub fn origins(&self) -> &[OriginPattern] {
        &self.origins
    }

    /// `accessControlMaxAge` in seconds (default 30).
    #[must_use]
    pub fn max_age(&self) -> u64 {
        self.max_age
    }

    /// The allowed methods, in file order, C4 case rule applied, without duplicates.
    #[must_use]
    pub fn methods(&self) -> &[String] {
        &self.methods
    }

    /// Whether `allowedMethods` was absent, so [`Group::methods`] are the C1 defaults.
    #[must_use]
    pub fn has_default_methods(&self) -> bool {
        self.methods_defaulted
    }

    /// Whether `method` is allowed: byte-exact (Fetch), and `HEAD` wherever `GET` is (A1, P2).
    #[must_use]
    #[inline]
    pub fn allows_method(&self, method: &[u8]) -> bool {
        // The common methods by their bit, inline; others by a scan, out of line.
        match method_bit(method) {
            0 => self.lists_method(method),
            bit => self.method_bits & bit != 0,
        }
    }

    /// Whether `method`, as `http` classified it, is allowed: the same answer as
    /// [`allows_method`](Self::allows_method) on its bytes.
    ///
    /// For an adapter holding an [`http::Method`]: a standard method is told by its variant, not
    /// by its bytes again.
    ///
    /// ```
    /// use cors_policy::{OriginGroup, Policy};
    ///
    /// let policy = Policy::builder()
    ///     .group(OriginGroup::new(["https://a.test"]).allow_methods(["PUT"]))
    ///     .build()?;
    /// let group = &policy.groups()[0];
    /// assert!(group.allows_http_method(&http::Method::PUT));
    /// assert!(!group.allows_http_method(&http::Method::GET));
    /// # Ok::<(), cors_policy::BuildError>(())
    /// ```
    #[must_use]
    #[inline]
    pub fn allows_http_method(&self, method: &http::Method) -> bool {
        let bit = match *method {
            http::Method::GET => bit::GET,
            http::Method::HEAD => bit::HEAD,
            http::Method::POST => bit::POST,
            http::Method::PUT => bit::PUT,
            http::Method::DELETE => bit::DELETE,
            http::Method::PATCH => bit::PATCH,
            http::Method::OPTIONS => bit::OPTIONS,
            _ => return self.lists_method(method.as_str().as_bytes()),
        };
        self.method_bits & bit != 0
    }

    /// Whether `method`, which has no [`method_bit`], is one of the allowed methods: lengths
    /// first, then the few bytes inline (a call to `memcmp` per configured method cost more than
    /// the comparison). Out of line, so that the common methods' check stays small enough to
    /// inline.
    #[inline(never)]
    fn lists_method(&self, method: &[u8]) -> bool {
        self.methods.iter().any(|m| m.len() == method.len() && same_bytes(m.as_bytes(), method))
    }

    /// The allowed request headers.
    #[must_use]
    pub fn headers(&self) -> &AllowedHeaders {
        &self.headers
    }

    /// Whether the request header `name` is allowed: compared ignoring ASCII case, or any under
    /// `*`. Does not check that `name` is a token (the engine does, P2). Never allocates.
    #[must_use]
    pub fn allows_header(&self, name: &[u8]) -> bool {
        matches!(self.headers, AllowedHeaders::Any) || self.lists_header(name)
    }

    /// Whether `name` is one of the listed allowed headers, compared ignoring ASCII case: false
    /// under `*`. A listed name is a token, so `name` is one when this is true.
    #[must_use]
    #[inline]
    pub fn lists_header(&self, name: &[u8]) -> bool {
        match &self.headers {
            AllowedHeaders::Any => false,
            // Configured names are lower-case (`header_names`): the request's bytes are compared
            // eight at a time, only for names of the same length, and lowered only where they
            // differ (browsers send lower-case names).
            AllowedHeaders::List(names) => {
                names.iter().any(|allowed| eq_lowercase_name(allowed.as_bytes(), name))
            }
        }
    }

    /// `exposedHeaders`, lower-cased, de-duplicated, in file order.
    #[must_use]
    pub fn exposed_headers(&self) -> &[String] {
        &self.exposed_headers
    }

    /// The `Access-Control-Allow-Methods` value (`GET, POST, PUT`), built once;
    /// `None` if no method is allowed.
    #[must_use]
    pub fn allow_methods_value(&self) -> Option<&HeaderValue> {
        self.allow_methods_value.as_ref()
    }

    /// The `Access-Control-Allow-Headers` value, built once; `None` under `*` (the engine
    /// mirrors) or if empty.
    #[must_use]
    pub fn allow_headers_value(&self) -> Option<&HeaderValue> {
        self.allow_headers_value.as_ref()
    }

    /// The `Access-Control-Expose-Headers` value, built once; `None` if there are none.
    #[must_use]
    pub fn expose_headers_value(&self) -> Option<&HeaderValue> {
        self.expose_headers_value.as_ref()
    }

    /// The `Access-Control-Max-Age` value, e.g. `600`, built once.
    #[must_use]
    pub fn max_age_value(&self) -> &HeaderValue {
        &self.max_age_value
    }

    pub(crate) fn trailing_slash(&self) -> &[usize] {
        &self.trailing_slash
    }

    pub(crate) fn method_sources(&self) -> &[usize] {
        &self.method_sources
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_value_is_an_exact_origins_serialization_and_none_for_other_patterns() {
        // Built in code, so that the test runs without the `yaml` feature too.
        let origins = ["HTTPS://App.Example:443", "https://*.example.test", "null", "*"];
        let group = crate::OriginGroup::new(origins);
        let policy = Policy::builder().public_resource(false).group(group).build().expect("valid");
        let value = |origin: &[u8]| {
            let (_, found) = policy.origins().parse_and_find(origin).expect("well-formed");
            policy.origin_value(found.expect("matched"))
        };
        assert_eq!(
            value(b"https://app.example").map(HeaderValue::as_bytes),
            Some(&b"https://app.example"[..])
        );
        assert_eq!(value(b"https://a.example.test"), None);
        assert_eq!(value(b"null"), None);
        assert_eq!(value(b"https://other.test"), None);
    }

    const METHODS: [&str; 12] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "patch", "Get", "PURGE", "X",
        "GETS",
    ];

    fn group(methods: &[&str]) -> Group {
        let config = CorsConfig {
            public_resource: Some(false),
            support_credentials: Some(false),
            origin_groups: Some(vec![OriginGroupConfig {
                name: None,
                origins: vec!["https://a.test".to_owned()],
                access_control_max_age: None,
                allowed_methods: Some(
                    methods
                        .iter()
                        .map(|m| MethodConfig { method_name: (*m).to_owned(), is_allowed: true })
                        .collect(),
                ),
                headers: None,
                exposed_headers: None,
            }]),
        };
        let policy = Policy::from_config(&config).expect("valid methods");
        policy.groups()[0].clone()
    }

    /// The methods with a bit, by name: what [`method_bit`] answers.
    const BITS: [(&[u8], u16); 7] = [
        (b"GET", 1),
        (b"HEAD", 1 << 1),
        (b"POST", 1 << 2),
        (b"PUT", 1 << 3),
        (b"DELETE", 1 << 4),
        (b"PATCH", 1 << 5),
        (b"OPTIONS", 1 << 6),
    ];

    fn bit_by_name(method: &[u8]) -> u16 {
        BITS.iter().find(|(name, _)| *name == method).map_or(0, |&(_, bit)| bit)
    }

    #[test]
    fn method_bit_tells_each_name_from_every_near_one() {
        for (name, _) in BITS {
            let mut near = vec![name.to_vec(), name[1..].to_vec(), name[..name.len() - 1].to_vec()];
            for at in 0..=name.len() {
                for byte in [0, b' ', b'A', b'E', b'T', b'a', b't', 0x7f, 0xff] {
                    let mut changed = name.to_vec();
                    match changed.get_mut(at) {
                        Some(b) => *b = byte,
                        None => changed.push(byte),
                    }
                    near.push(changed);
                    let mut inserted = name.to_vec();
                    inserted.insert(at, byte);
                    near.push(inserted);
                }
            }
            for method in near {
                assert_eq!(
                    method_bit(&method),
                    bit_by_name(&method),
                    "{:?}",
                    method.escape_ascii()
                );
            }
        }
    }

    proptest::proptest! {
        /// The word comparison answers as comparing the names, whatever the bytes.
        #[test]
        fn method_bit_is_the_name_comparison(method in proptest::collection::vec(
            proptest::sample::select(b"GETHADPOSUCLTIN\0\xff".to_vec()), 0..9,
        )) {
            proptest::prop_assert_eq!(method_bit(&method), bit_by_name(&method));
        }

        /// A1, P2: the bit lookup answers as the definition: byte-exact among the allowed
        /// methods, `HEAD` wherever `GET` is.
        #[test]
        fn allows_method_is_byte_exact_with_head_for_get(
            configured in proptest::sample::subsequence(METHODS.to_vec(), 0..=METHODS.len()),
            requested in proptest::sample::select(METHODS.to_vec()),
        ) {
            let group = group(&configured);
            let listed = |name: &str| group.methods().iter().any(|m| m == name);
            let expected = listed(requested) || (requested == "HEAD" && listed("GET"));
            proptest::prop_assert_eq!(group.allows_method(requested.as_bytes()), expected);
        }

        /// A1, P2: an `http::Method` is allowed exactly when its bytes are, standard methods
        /// without a bit of their own (`CONNECT`, `TRACE`, `QUERY`) and extension methods too.
        #[test]
        fn allows_http_method_answers_as_the_bytes(
            configured in proptest::sample::subsequence(METHODS.to_vec(), 0..=METHODS.len()),
            requested in proptest::sample::select(
                [&METHODS[..], &["CONNECT", "TRACE", "QUERY"]].concat()
            ),
        ) {
            let group = group(&configured);
            let method = http::Method::from_bytes(requested.as_bytes()).expect("a token");
            proptest::prop_assert_eq!(
                group.allows_http_method(&method),
                group.allows_method(requested.as_bytes())
            );
        }
    }
}
