//! Loading `cors-flex` policies from YAML: the C2 file shapes and the C3 errors, with positions.
//!
//! The spanned tree from [`crate::yaml`] is walked into the raw
//! [`CorsConfig`](crate::CorsConfig).
//! Structural problems (unknown keys, wrong types, bad max-age) are reported as the walk meets
//! their node.
//! Value problems (origins, tokens) are found by [`Policy::from_config`] and lints by
//! [`Policy::lint`]; each names its [`Site`](crate::site::Site), which the loader follows through
//! the same tree to the node. Every problem is reported, not only the first.
//!
//! - [`shape`]: the C2 file shapes and the search for the one `cors-flex` policy;
//! - [`config`]: the `config:` block, and where its value errors and lints point;
//! - [`walk`]: the diagnostics collector and the tree helpers both use;
//! - [`suggest`]: "did you mean" hints for unknown keys.

mod config;
pub(crate) mod shape;
pub(crate) mod suggest;
pub(crate) mod walk;

use std::io::Read as _;
use std::path::Path;

use crate::diagnostic::{Code, Diagnostic, LoadError};
use crate::policy::Policy;
use crate::yaml::{self, Node, ReadErrorKind};
use walk::Loader;

/// The largest policy file accepted, in bytes (1 MiB).
pub const MAX_FILE_SIZE: usize = 1 << 20;

/// The `policyRef.name` of the policy this crate reads.
pub const POLICY_NAME: &str = "cors-flex";

/// The `apiVersion` of Flex Gateway Local Mode resources.
pub const API_VERSION: &str = "gateway.mulesoft.com/v1alpha1";

/// Which C2 shape a file had.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileShape {
    /// The `config:` block's keys, bare or under a top-level `config:` key.
    Config,
    /// A `- policyRef: {name: cors-flex}` entry with its `config:` (a list, or one entry).
    PolicyRefList,
    /// A Local Mode `ApiInstance` with the policy under `spec.policies`.
    ApiInstance,
    /// A Local Mode `PolicyBinding` with `spec.policyRef` and `spec.config`.
    PolicyBinding,
}

/// A policy loaded from a file, with what else the file said.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoadedPolicy {
    /// The compiled policy.
    pub policy: Policy,
    /// Warnings: C5 lints and ignored parts of the file, with positions, in file order.
    pub warnings: Vec<Diagnostic>,
    /// The shape of the file (of the document holding the `cors-flex` policy).
    pub shape: FileShape,
    /// An `ApiInstance`'s `spec.address` (the listener), if any.
    pub listen: Option<String>,
    /// An `ApiInstance`'s first `spec.services.<name>.address` (the upstream), if any.
    pub upstream: Option<String>,
    /// The names of the other policies in the file, which are not applied.
    pub ignored_policies: Vec<String>,
    /// [`LoadedPolicy::listen`] with where the file wrote it, to report a problem with it.
    pub listen_at: Option<WrittenAddress>,
    /// [`LoadedPolicy::upstream`] with where the file wrote it and the service it is of.
    pub upstream_at: Option<WrittenAddress>,
}

/// An address an `ApiInstance` file wrote (`spec.address`, or a service's
/// `spec.services.<name>.address`), with its place: an adapter that refuses it says where, as
/// the Local Mode folder loader does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenAddress {
    text: String,
    key: String,
    service: Option<String>,
    file: String,
    line: usize,
    column: usize,
}

impl WrittenAddress {
    /// `text` at `key` (of the service `service`), written at `node` of `file`.
    pub(crate) fn new(
        text: String,
        key: &str,
        service: Option<&str>,
        file: &str,
        node: &Node,
    ) -> Self {
        let (key, service, file) = (key.to_owned(), service.map(str::to_owned), file.to_owned());
        Self { text, key, service, file, line: node.line, column: node.column }
    }

    /// The address as written.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Its key path: `spec.address`, `spec.services.orders.address`.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The name of the service it is the address of (`None` for the listener).
    #[must_use]
    pub fn service(&self) -> Option<&str> {
        self.service.as_deref()
    }

    /// The 1-based line of its value.
    #[must_use]
    pub fn line(&self) -> usize {
        self.line
    }

    /// The 1-based column (in characters) of its value.
    #[must_use]
    pub fn column(&self) -> usize {
        self.column
    }

    /// The error `FILE:LINE:COLUMN: error: KEY.PATH: message` refusing the address, with the
    /// code [`Code::InvalidAddress`](crate::Code::InvalidAddress) of the folder loader.
    ///
    /// ```
    /// # #[cfg(feature = "yaml")] {
    /// let file = "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\n\
    ///             metadata: {name: api}\nspec:\n  address: http://0.0.0.0:8080\n  \
    ///             policies:\n  - policyRef: {name: cors-flex}\n    config: {}\n";
    /// let loaded = cors_policy::Policy::from_yaml_str(file, "api.yaml")?;
    /// let listener = loaded.listen_at.expect("spec.address is given");
    /// assert_eq!(
    ///     listener.refuse("port 8080 is taken").to_string(),
    ///     "api.yaml:5:12: error: spec.address: port 8080 is taken"
    /// );
    /// # }
    /// # Ok::<(), cors_policy::LoadError>(())
    /// ```
    #[must_use]
    pub fn refuse(&self, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Code::InvalidAddress, &self.key, message).at(
            &self.file,
            self.line,
            self.column,
        )
    }
}

impl LoadedPolicy {
    /// Whether the file names an `https://` listener (an `ApiInstance` whose `spec.address` is
    /// `https://...`, the scheme compared ignoring case, as URLs compare schemes).
    ///
    /// The adapters take the listener's scheme for the same-origin check (R2) from this, so
    /// that a site's own requests behind TLS are recognised as same-origin. It reads only the
    /// scheme: the address itself is checked where it is served (cors-gateway).
    ///
    /// ```
    /// # #[cfg(feature = "yaml")] {
    /// let file = "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\n\
    ///             metadata: {name: api}\nspec:\n  address: HTTPS://0.0.0.0:8443\n  \
    ///             policies:\n  - policyRef: {name: cors-flex}\n    config: {}\n";
    /// let loaded = cors_policy::Policy::from_yaml_str(file, "api.yaml")?;
    /// assert!(loaded.listens_on_https());
    /// # }
    /// # Ok::<(), cors_policy::LoadError>(())
    /// ```
    #[must_use]
    pub fn listens_on_https(&self) -> bool {
        self.listen
            .as_deref()
            .and_then(|address| address.get(..8))
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    }
}

fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| (d.line(), d.column()));
}

pub(crate) fn file_error(code: Code, file: &str, message: String) -> LoadError {
    let mut d = Diagnostic::new(code, "", message);
    d.set_file(file);
    LoadError::new(vec![d])
}

fn too_large(file: &str, size: u64) -> LoadError {
    file_error(
        Code::TooLarge,
        file,
        format!("the file is {size} bytes, more than the {MAX_FILE_SIZE}-byte limit"),
    )
}

/// Reads a file, refusing one that is not a regular file ([`regular_file`]) or is over
/// [`MAX_FILE_SIZE`] without reading it; `file` names it.
pub(crate) fn read_file(path: &Path, file: &str) -> Result<Vec<u8>, LoadError> {
    regular_file(path, file)?;
    let io = |e: std::io::Error| file_error(Code::Io, file, format!("cannot read the file: {e}"));
    let handle = std::fs::File::open(path).map_err(io)?;
    let size = handle.metadata().map_err(io)?.len();
    if size > MAX_FILE_SIZE as u64 {
        return Err(too_large(file, size));
    }
    let mut bytes = Vec::new();
    handle.take(MAX_FILE_SIZE as u64 + 1).read_to_end(&mut bytes).map_err(io)?;
    Ok(bytes)
}

/// Refuses a path that is not a regular file (after symbolic links): a fifo would block the
/// read until some writer opened it, which may be never, and a device holds no configuration.
/// Checked before opening, since opening a fifo for reading is what blocks; a fifo swapped in
/// between the check and the open is the file owner's doing, not a client's. (Local Mode
/// folders first, F-S; single policy files too, F-CD.)
fn regular_file(path: &Path, file: &str) -> Result<(), LoadError> {
    let io = |e: std::io::Error| file_error(Code::Io, file, format!("cannot read the file: {e}"));
    let kind = std::fs::metadata(path).map_err(io)?.file_type();
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_dir() { "a folder" } else { special_kind(kind) };
    Err(file_error(Code::Io, file, format!("not a regular file but {what}")))
}

/// What a file that is neither regular nor a folder is.
#[cfg(unix)]
fn special_kind(kind: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if kind.is_fifo() {
        "a fifo"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// What a file that is neither regular nor a folder is.
#[cfg(not(unix))]
fn special_kind(_kind: std::fs::FileType) -> &'static str {
    "a special file"
}

/// The bytes as text: the size cap, then UTF-8 (an error points at the first bad byte, or names
/// the file's encoding when it is one of YAML's others, [`other_encoding`]).
pub(crate) fn text<'b>(bytes: &'b [u8], file: &str) -> Result<&'b str, LoadError> {
    if bytes.len() > MAX_FILE_SIZE {
        return Err(too_large(file, bytes.len() as u64));
    }
    if let Some((encoding, by)) = other_encoding(bytes) {
        return Err(LoadError::new(vec![
            Diagnostic::new(
                Code::NotUtf8,
                "",
                format!("the file is in {encoding} (by {by}), not in UTF-8"),
            )
            .with_hint("save the file as UTF-8")
            .at(file, 1, 1),
        ]));
    }
    std::str::from_utf8(bytes).map_err(|error| {
        // The prefix is valid UTF-8. A byte order mark opening the file is no character of its
        // first line (`yaml::read`), and lines break as the YAML reader breaks them.
        let valid = std::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or_default();
        let (line, column) = yaml::position(valid.strip_prefix(yaml::BOM).unwrap_or(valid));
        let byte = bytes[error.valid_up_to()];
        LoadError::new(vec![
            Diagnostic::new(
                Code::NotUtf8,
                "",
                format!("invalid UTF-8 byte 0x{byte:02x} (byte {})", error.valid_up_to()),
            )
            .with_hint("save the file as UTF-8")
            .at(file, line, column),
        ])
    })
}

/// The encoding of `bytes` if it is one of the four besides UTF-8 that YAML 1.2 names, as its
/// section 5.2 detects them: a byte order mark, or the zero bytes around an ASCII first
/// character; and what said so. Only UTF-8 is read (docs/decisions.md, "Encoding"): without
/// this, a UTF-16 file, as Windows PowerShell 5's `>` writes one, was "invalid UTF-8 byte 0xff",
/// and one without a byte order mark a NUL at 1:2.
fn other_encoding(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    const MARK: &str = "its byte order mark";
    const ZEROS: &str = "the zero bytes of its first character";
    match bytes {
        [0, 0, 0xfe, 0xff, ..] => Some(("UTF-32BE", MARK)),
        [0, 0, 0, 1..=0x7f, ..] => Some(("UTF-32BE", ZEROS)),
        [0xff, 0xfe, 0, 0, ..] => Some(("UTF-32LE", MARK)),
        [1..=0x7f, 0, 0, 0, ..] => Some(("UTF-32LE", ZEROS)),
        [0xfe, 0xff, ..] => Some(("UTF-16BE", MARK)),
        [0, 1..=0x7f, ..] => Some(("UTF-16BE", ZEROS)),
        [0xff, 0xfe, ..] => Some(("UTF-16LE", MARK)),
        [1..=0x7f, 0, ..] => Some(("UTF-16LE", ZEROS)),
        _ => None,
    }
}

/// Every YAML document of the text, as spanned trees: the size cap, then [`yaml::read`].
///
/// The tag errors do not stop the read: they come with the trees, for the walk to report with
/// its own (C3: every problem at once). The error is the read's when it could not go on.
pub(crate) fn documents(text: &str, file: &str) -> Result<Documents, LoadError> {
    if text.len() > MAX_FILE_SIZE {
        return Err(too_large(file, text.len() as u64));
    }
    let diagnostics = |errors: Vec<yaml::ReadError>| -> Vec<Diagnostic> {
        errors.into_iter().map(|e| read_diagnostic(e, file)).collect()
    };
    match yaml::read(text) {
        Ok(read) => Ok(Documents { nodes: read.documents, errors: diagnostics(read.errors) }),
        Err(errors) => {
            let mut errors = diagnostics(errors);
            sort(&mut errors);
            Err(LoadError::new(errors))
        }
    }
}

/// The documents of a file read to its end ([`documents`]).
pub(crate) struct Documents {
    /// The documents' trees.
    pub(crate) nodes: Vec<Node>,
    /// Errors the read found on the way (tags): the file is not applied when there is one.
    pub(crate) errors: Vec<Diagnostic>,
}

/// A read error of `file` as a diagnostic.
fn read_diagnostic(e: yaml::ReadError, file: &str) -> Diagnostic {
    let code = match e.kind {
        ReadErrorKind::Syntax => Code::Syntax,
        ReadErrorKind::TooDeep => Code::TooDeep,
        ReadErrorKind::TooManyNodes => Code::TooManyNodes,
        ReadErrorKind::TooManyDocuments => Code::Documents,
        ReadErrorKind::Tag => Code::Tag,
    };
    let diagnostic = Diagnostic::new(code, "", e.message);
    let diagnostic = match e.hint {
        Some(hint) => diagnostic.with_hint(hint),
        None => diagnostic,
    };
    diagnostic.at(file, e.line, e.column)
}

impl Policy {
    /// Loads a policy from YAML text in any C2 shape; `file` names it in diagnostics.
    ///
    /// # Errors
    ///
    /// Every C3 problem at once, each with line, column and key path, refused YAML tags
    /// included; or, for input the YAML reader cannot go on with, the tag errors before it and
    /// a single error for input over [`MAX_FILE_SIZE`], invalid YAML (a control character other
    /// than tab and line breaks included), nesting deeper than 64 levels, or more than 100 000
    /// nodes or more text than four times the input's size (at least 1 MiB), counting alias
    /// expansions.
    pub fn from_yaml_str(text: &str, file: &str) -> Result<LoadedPolicy, LoadError> {
        let documents = documents(text, file)?;
        let mut loader = Loader::new(file);
        loader.errors = documents.errors;
        loader.load(&documents.nodes)
    }

    /// Loads a policy from bytes: checks the size cap and UTF-8, then [`Policy::from_yaml_str`].
    ///
    /// # Errors
    ///
    /// As [`Policy::from_yaml_str`], plus invalid UTF-8 (reported at the line and column of the
    /// first bad byte).
    pub fn from_yaml_bytes(bytes: &[u8], file: &str) -> Result<LoadedPolicy, LoadError> {
        Policy::from_yaml_str(text(bytes, file)?, file)
    }

    /// Reads and loads a policy file, refusing a path that is not a regular file after symbolic
    /// links (a fifo, whose opening would wait for a writer; a device) and files over
    /// [`MAX_FILE_SIZE`] without reading them.
    ///
    /// `path` is anything that names a file: `"cors.yaml"`, a `&Path`, a `PathBuf`.
    ///
    /// # Errors
    ///
    /// As [`Policy::from_yaml_bytes`], plus I/O errors.
    pub fn from_yaml_file(path: impl AsRef<Path>) -> Result<LoadedPolicy, LoadError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        Policy::from_yaml_bytes(&read_file(path, &file)?, &file)
    }

    /// The normalized configuration ([`Policy::to_config`]) as YAML: the body of a `cors-flex`
    /// `config:` block, readable again by [`Policy::from_yaml_str`].
    ///
    /// # Panics
    ///
    /// Never in practice: a configuration of strings, booleans and integers always serializes.
    #[must_use]
    pub fn to_yaml(&self) -> String {
        yaml::write(&self.to_config())
    }
}
