//! The one module that knows the YAML crates: text in, a small spanned tree out ([`read`]); a
//! configuration in, YAML text out ([`write()`]).
//!
//! Files are read with `yaml-rust2`'s marked event parser, because C3 needs every problem with
//! its line and column, which a serde deserializer (`serde_yaml` included) cannot give for
//! values. The tree keeps scalars as text with their quoting; what a scalar means (boolean,
//! integer, string) is decided by the loader, by our own rules, not by YAML's type resolution.
//!
//! Tags are settled here, so that the loader never sees one ([`Tagged`]): a tag of the YAML 1.2
//! core schema, in any spelling that resolves to it (`!!str`, `!<tag:yaml.org,2002:str>`, a
//! `%TAG` handle), is honoured when it says what the node already is, and `!!str` makes any
//! scalar a string, as quotes do; any other tag, and a core tag that contradicts its node
//! (`!!int true`), is an error at the tag, naming it. No tag changes what a value means without
//! a word (finding F-CI).
//!
//! Writing goes through the `Serialize` impls of the configuration model into a `serde_yaml`
//! value, then out through `yaml-rust2`'s emitter: the writer must speak the YAML the reader
//! reads. `serde_yaml`'s own emitter follows YAML 1.1, where U+2028 and U+2029 break lines, and
//! wrote a group name holding one in a way `yaml-rust2` (YAML 1.2) read back with extra spaces.
//!
//! Hostile input is bounded here: nesting depth ([`MAX_DEPTH`]), node count and bytes of text
//! including alias expansions and the copies anchors keep ([`MAX_NODES`], [`text_budget`],
//! which stop "billion laughs" made of many nodes or of long texts) and document count
//! ([`MAX_DOCUMENTS`]). The size cap and the UTF-8 check happen before, in the loader.

use std::collections::HashMap;

use cors_origin::Quoted;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, Scanner, TScalarStyle, Token, TokenType};
use yaml_rust2::{Yaml, YamlEmitter};

use crate::config::CorsConfig;

/// The deepest nesting of sequences and mappings accepted.
pub(crate) const MAX_DEPTH: usize = 64;
/// The most nodes a file may have, counting every node an alias expands to and the copy of each
/// anchored node kept for its aliases.
pub(crate) const MAX_NODES: usize = 100_000;
/// The least [`text_budget`], for small files.
pub(crate) const MIN_TEXT_BUDGET: usize = 1 << 20;

/// The most bytes of scalar text a file of `len` bytes may have, counted as [`MAX_NODES`]
/// counts nodes: four times the file's size, and at least [`MIN_TEXT_BUDGET`]. A file may
/// anchor all it says and alias some of it; a few long texts aliased many times hold no more
/// than that, and neither does a Local Mode folder of such files (finding F-CB).
pub(crate) fn text_budget(len: usize) -> usize {
    len.saturating_mul(4).max(MIN_TEXT_BUDGET)
}
/// The most YAML documents (`---`) a file may have.
pub(crate) const MAX_DOCUMENTS: usize = 16;
/// The byte order mark, U+FEFF, which [`read`] skips at the start of a text.
pub(crate) const BOM: &str = "\u{feff}";

/// A node of the tree with the 1-based line and column (in characters) where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// The three kinds of YAML node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Scalar(String, Style),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// Whether a scalar was written plain (`true`, `30`) or quoted/block (`"true"`, `'30'`, `|`).
/// A scalar tagged `!!str` is `Quoted`; one with another core tag that agrees with its text
/// (`!!int "30"`, `!!bool true`) is `Plain`, read as its text written plain is ([`Tagged`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    Quoted,
}

/// The types of the YAML 1.2 core schema (YAML 1.2.2 section 10.3): what its tags say, and
/// what a plain scalar's text resolves to ([`Core::of_plain`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Core {
    Null,
    Bool,
    Int,
    Float,
    Str,
    Seq,
    Map,
}

/// The prefix of the core schema's tags, which the `!!` handle stands for by default.
const CORE_PREFIX: &str = "tag:yaml.org,2002:";

impl Core {
    /// What the core schema reads a plain scalar's `text` as (YAML 1.2.2 section 10.3.2).
    /// Hand-written: `yaml-rust2`'s own resolution (`Yaml::from_str`) is not the core schema
    /// (`True` is a string to it, `inf` a float), and the loader's booleans and max-ages follow
    /// the core schema.
    pub(crate) fn of_plain(text: &str) -> Core {
        let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
        let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
        let float = |s: &str| {
            let (mantissa, exponent) = match s.split_once(['e', 'E']) {
                Some((mantissa, exponent)) => (mantissa, Some(exponent)),
                None => (s, None),
            };
            let number = match mantissa.split_once('.') {
                Some(("", fraction)) => digits(fraction, 10),
                Some((whole, fraction)) => {
                    digits(whole, 10) && fraction.chars().all(|c| c.is_ascii_digit())
                }
                None => digits(mantissa, 10),
            };
            number && exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e), 10))
        };
        match text {
            "" | "~" | "null" | "Null" | "NULL" => Core::Null,
            "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => Core::Bool,
            ".nan" | ".NaN" | ".NAN" => Core::Float,
            _ if digits(unsigned, 10) => Core::Int,
            _ if text.strip_prefix("0o").is_some_and(|s| digits(s, 8)) => Core::Int,
            _ if text.strip_prefix("0x").is_some_and(|s| digits(s, 16)) => Core::Int,
            _ if matches!(unsigned, ".inf" | ".Inf" | ".INF") || float(unsigned) => Core::Float,
            _ => Core::Str,
        }
    }

    /// The core type `tag` names, if it is one of the core schema's.
    fn of_tag(tag: &Tag) -> Option<Core> {
        Some(match resolved(tag).strip_prefix(CORE_PREFIX)? {
            "null" => Core::Null,
            "bool" => Core::Bool,
            "int" => Core::Int,
            "float" => Core::Float,
            "str" => Core::Str,
            "seq" => Core::Seq,
            "map" => Core::Map,
            _ => return None,
        })
    }

    /// The type as a message says it.
    fn describe(self) -> &'static str {
        match self {
            Core::Null => "null",
            Core::Bool => "a boolean",
            Core::Int => "an integer",
            Core::Float => "a float",
            Core::Str => "a string",
            Core::Seq => "a list",
            Core::Map => "a mapping",
        }
    }
}

/// The most characters of a tag an error shows.
const MAX_SHOWN_TAG: usize = 64;

/// `tag` resolved (its handle's prefix, then its suffix), up to enough characters to tell a core
/// tag and to show one that is not: a `%TAG` prefix is copied into every tag that names it, and
/// a file of many short tags naming a long prefix would otherwise cost as many copies again.
fn resolved(tag: &Tag) -> String {
    let enough = CORE_PREFIX.len() + MAX_SHOWN_TAG + 1;
    tag.handle.chars().chain(tag.suffix.chars()).take(enough).collect()
}

/// `tag` resolved and spelled as a message shows it: `!!name` for the core prefix, whatever
/// handle wrote it, `!name` for a local tag (and `!` for the non-specific one), `!<...>` for any
/// other, and for a local tag that `!!` would make look like a core one (`!<!!str>`); cut at
/// [`MAX_SHOWN_TAG`] characters.
fn shown(tag: &Tag) -> String {
    let full = resolved(tag);
    let shown = match full.strip_prefix(CORE_PREFIX) {
        Some(name) => format!("!!{name}"),
        None if full.starts_with('!') && !full.starts_with("!!") => full,
        None => format!("!<{full}>"),
    };
    match shown.char_indices().nth(MAX_SHOWN_TAG) {
        Some((cut, _)) => format!("{}...", &shown[..cut]),
        None => shown,
    }
}

/// A node's tag, settled before the node goes into the tree ([`settle`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tagged {
    /// No tag: the node stays as written.
    AsWritten,
    /// A core tag that says what the node is: a scalar is read as its text written plain
    /// (`!!int "30"` is 30, `!!bool "true"` true).
    Agrees,
    /// `!!str` on a scalar: a string, as if quoted.
    String,
    /// A tag error: the node stays as written, and the read goes on to find the file's other
    /// problems; the tree is not applied.
    Invalid,
}

/// What a tag is on: a scalar's text, or a collection of its type.
#[derive(Clone, Copy, Debug)]
enum On<'t> {
    Scalar(&'t str),
    Collection(Core),
}

/// Settles `tag` on its node: the core tags are honoured where they agree with the node
/// (`!!seq` on a list, `!!map` on a mapping, `!!null`, `!!bool`, `!!int` and `!!float` on a
/// scalar whose text the core schema reads as that type, quoted or not), and `!!str` on any
/// scalar. Any other tag is an error's message naming it: a tag outside the core schema (the
/// non-specific `!`, YAML 1.1's `!!binary` and `!!timestamp`, a local `!foo`), or one that
/// contradicts its node (`!!int true`, `!!float 30`, `!!str [a]`).
fn settle(tag: &Tag, on: On<'_>) -> Result<Tagged, String> {
    let Some(said) = Core::of_tag(tag) else {
        return Err(format!("unsupported tag {}", shown(tag)));
    };
    match on {
        On::Scalar(_) if said == Core::Str => Ok(Tagged::String),
        On::Scalar(text) if Core::of_plain(text) == said => Ok(Tagged::Agrees),
        On::Scalar(text) => {
            Err(format!("tag {} on {}, which is not {}", shown(tag), Quoted(text), said.describe()))
        }
        On::Collection(found) if said == found => Ok(Tagged::Agrees),
        On::Collection(found) => Err(format!("tag {} on {}", shown(tag), found.describe())),
    }
}

/// Why a text could not be read into a tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadErrorKind {
    Syntax,
    TooDeep,
    TooManyNodes,
    TooManyDocuments,
    /// A tag outside the core schema, or one that contradicts its node ([`settle`]).
    Tag,
}

/// A read failure at a 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReadError {
    pub(crate) kind: ReadErrorKind,
    pub(crate) message: String,
    /// How to fix it, when we know.
    pub(crate) hint: Option<&'static str>,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// `yaml-rust2`'s error for a tab in the indentation of a line that a plain scalar could go on
/// to, which it places where the scalar starts, on an earlier line.
const TAB_AFTER_SCALAR: &str = "while scanning a plain scalar, found a tab";
/// `yaml-rust2`'s error for a tab in a block's indentation, placed just after the tab.
const TAB_IN_BLOCK: &str = "tabs disallowed within this context (block indentation)";
/// `yaml-rust2`'s error for a tab, and no space, between a mapping's `:` and a value that starts
/// with a letter, a digit or `-` (`key:\ttrue`), placed just after the tab.
const TAB_AFTER_COLON: &str = "':' must be followed by a valid YAML whitespace";
/// What to do about it.
const TAB_AFTER_COLON_HINT: &str = "use a space after ':', not a tab";
/// What to do about a tag error.
const TAG_HINT: &str = "remove the tag: a file may use only the YAML core schema's tags, each on \
                        a value of its type (!!str, !!bool, !!int, !!float, !!null, !!seq, !!map); \
                        quote a value to make it a string";
/// What to do about either.
const TAB_HINT: &str = "indent with spaces: YAML does not allow tabs there";

impl ReadError {
    fn new(kind: ReadErrorKind, message: String, mark: Marker) -> Self {
        ReadError { kind, message, hint: None, line: mark.line(), column: mark.col() + 1 }
    }

    /// A scanner error of `text`, placed and worded for an editor: a tab that indents a line is
    /// named at the tab, not at the value before it.
    fn of_scanner(kind: ReadErrorKind, message: &str, mark: Marker, text: &str) -> Self {
        let error = ReadError::new(kind, message.to_owned(), mark);
        match message {
            TAB_AFTER_SCALAR => error.at_indenting_tab(text),
            TAB_IN_BLOCK => ReadError { hint: Some(TAB_HINT), ..error },
            TAB_AFTER_COLON if error.follows_a_tab(text) => {
                ReadError { hint: Some(TAB_AFTER_COLON_HINT), ..error }
            }
            _ => error,
        }
    }

    /// Whether the character just before the error's place, on its line, is a tab.
    fn follows_a_tab(&self, text: &str) -> bool {
        let line = lines(text).nth(self.line.saturating_sub(1)).unwrap_or_default();
        self.column.checked_sub(2).and_then(|before| line.chars().nth(before)) == Some('\t')
    }

    /// [`TAB_AFTER_SCALAR`] at its tab: the first tab among the blanks that start a later line
    /// with more than blanks (the scanner skips lines of blanks alone). That is the scanner's
    /// tab, unless a tab deeper than the indentation it checks, which it lets through, comes
    /// first: the error is then one line early, still nearer than the scalar. Unchanged if
    /// there is none, which the scanner's check does not allow.
    fn at_indenting_tab(self, text: &str) -> Self {
        let found = lines(text).enumerate().skip(self.line).find_map(|(index, line)| {
            let content = line.trim_start_matches([' ', '\t']);
            let blanks = line.get(..line.len() - content.len()).unwrap_or_default();
            let tab = blanks.find('\t')?;
            (!content.is_empty()).then_some((index + 1, tab + 1))
        });
        match found {
            Some((line, column)) => ReadError {
                message: "a tab indents this line".to_owned(),
                hint: Some(TAB_HINT),
                line,
                column,
                ..self
            },
            None => self,
        }
    }
}

impl Node {
    fn new(value: Value, mark: Marker) -> Self {
        Node { value, line: mark.line(), column: mark.col() + 1 }
    }

    /// The nodes, bytes of text and depth of this subtree (the depth is bounded by
    /// [`MAX_DEPTH`], aliases' expansions included).
    fn weight(&self) -> Weight {
        let own = Weight { nodes: 1, bytes: 0, depth: 0 };
        let children = match &self.value {
            Value::Scalar(text, _) => return Weight { bytes: text.len(), ..own },
            Value::Seq(items) => items.iter().map(Node::weight).fold(own, Weight::plus),
            Value::Map(entries) => {
                entries.iter().map(|(k, v)| k.weight().plus(v.weight())).fold(own, Weight::plus)
            }
        };
        Weight { depth: children.depth + 1, ..children }
    }
}

/// How much of the reader's budgets a node takes: its nodes and its bytes of scalar text; and
/// how deep its sequences and mappings nest (0 for a scalar), which an alias adds to the
/// nesting where it stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Weight {
    nodes: usize,
    bytes: usize,
    depth: usize,
}

/// What a file's reader has used of its budgets, and its budget of text.
struct Tally {
    used: Weight,
    /// The file's [`text_budget`].
    max_text: usize,
}

impl Tally {
    /// Counts `weight` more against the budgets: a node read, an alias's expansion, or the copy
    /// of an anchored node kept for its aliases.
    fn count(&mut self, weight: Weight, mark: Marker) -> Result<(), ReadError> {
        self.used = self.used.plus(weight);
        let message = if self.used.nodes > MAX_NODES {
            format!("more than {MAX_NODES} nodes, counting alias expansions")
        } else if self.used.bytes > self.max_text {
            format!(
                "more than {} bytes of text, counting alias expansions (four times the file's \
                 size, at least {MIN_TEXT_BUDGET})",
                self.max_text
            )
        } else {
            return Ok(());
        };
        Err(ReadError::new(ReadErrorKind::TooManyNodes, message, mark))
    }
}

impl Weight {
    fn plus(self, other: Weight) -> Weight {
        Weight {
            nodes: self.nodes.saturating_add(other.nodes),
            bytes: self.bytes.saturating_add(other.bytes),
            depth: self.depth.max(other.depth),
        }
    }
}

enum Frame {
    Seq { items: Vec<Node>, anchor: usize, mark: Marker },
    Map { entries: Vec<(Node, Node)>, key: Option<Node>, anchor: usize, mark: Marker },
}

struct Builder {
    stack: Vec<Frame>,
    documents: Vec<Node>,
    /// Anchored nodes with their weights, for alias expansion.
    anchors: HashMap<usize, (Node, Weight)>,
    /// Everything read so far, copies included.
    read: Tally,
    /// The tag errors so far, each at its node: they do not stop the read.
    tag_errors: Vec<TagError>,
}

/// A tag error, at its node until the read ends ([`at_tags`]).
struct TagError {
    error: ReadError,
    /// The tag's suffix, as the scanner reads it too.
    suffix: String,
    /// Where its node's event is marked, in characters.
    node: usize,
}

/// Tag errors at their tags. The parser marks a node's event where its content starts, after
/// its tag, and a block mapping's after its first key; the scanner's tokens say where each tag
/// is: the error goes to the last tag with its suffix before its node (only the node's anchor,
/// and a first key's properties, can come between them).
fn at_tags(text: &str, errors: Vec<TagError>) -> Vec<ReadError> {
    let tags: Vec<(Marker, String)> = Scanner::new(text.chars())
        .filter_map(|Token(mark, kind)| match kind {
            TokenType::Tag(_, suffix) => Some((mark, suffix)),
            _ => None,
        })
        .collect();
    errors
        .into_iter()
        .map(|TagError { error, suffix, node }| {
            let before = &tags[..tags.partition_point(|(mark, _)| mark.index() < node)];
            match before.iter().rev().find(|(_, tag)| *tag == suffix) {
                Some((mark, _)) => ReadError { line: mark.line(), column: mark.col() + 1, ..error },
                None => error,
            }
        })
        .collect()
}

impl Builder {
    /// Settles a node's tag ([`settle`]). A tag error is kept, and the read goes on.
    fn settle(&mut self, tag: Option<&Tag>, on: On<'_>, mark: Marker) -> Tagged {
        let Some(tag) = tag else { return Tagged::AsWritten };
        settle(tag, on).unwrap_or_else(|message| {
            let error = ReadError {
                hint: Some(TAG_HINT),
                ..ReadError::new(ReadErrorKind::Tag, message, mark)
            };
            let suffix = tag.suffix.clone();
            self.tag_errors.push(TagError { error, suffix, node: mark.index() });
            Tagged::Invalid
        })
    }

    fn count(&mut self, weight: Weight, mark: Marker) -> Result<(), ReadError> {
        self.read.count(weight, mark)
    }

    /// Refuses nesting of `depth` more levels where the reader stands, past [`MAX_DEPTH`].
    fn nest(&self, depth: usize, mark: Marker) -> Result<(), ReadError> {
        if self.stack.len().saturating_add(depth) > MAX_DEPTH {
            return Err(ReadError::new(
                ReadErrorKind::TooDeep,
                format!("nesting deeper than {MAX_DEPTH} levels"),
                mark,
            ));
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame, mark: Marker) -> Result<(), ReadError> {
        self.nest(1, mark)?;
        self.count(Weight { nodes: 1, bytes: 0, depth: 0 }, mark)?;
        self.stack.push(frame);
        Ok(())
    }

    fn complete(&mut self, node: Node, anchor: usize, mark: Marker) -> Result<(), ReadError> {
        if anchor != 0 {
            let weight = node.weight();
            self.count(weight, mark)?;
            self.anchors.insert(anchor, (node.clone(), weight));
        }
        match self.stack.last_mut() {
            None => {
                if self.documents.len() >= MAX_DOCUMENTS {
                    return Err(ReadError::new(
                        ReadErrorKind::TooManyDocuments,
                        format!("more than {MAX_DOCUMENTS} documents"),
                        mark,
                    ));
                }
                self.documents.push(node);
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
        Ok(())
    }
}

/// What [`read`] made of a text that it read to the end.
#[derive(Debug)]
pub(crate) struct Read {
    /// Every document, as a tree. A node whose tag is refused is in it as written, without the
    /// tag, so that the loader reports its other problems too.
    pub(crate) documents: Vec<Node>,
    /// The problems that did not stop the read: the tag errors, in file order. The documents are
    /// not to be applied when there is one.
    pub(crate) errors: Vec<ReadError>,
}

/// Reads every document of `text` into a tree, with the tag errors found on the way (they do
/// not stop the read); or, when the read stopped (a syntax error, a bound), that error after
/// every tag error found before it.
pub(crate) fn read(text: &str) -> Result<Read, Vec<ReadError>> {
    // A byte order mark opening the stream is no content (YAML 1.2.2 sections 5.2 and 9.1.1,
    // `l-document-prefix`), and Windows editors and PowerShell write one; `yaml-rust2`'s scanner
    // reads it as the first character of the first key. Lines and columns count from after it,
    // as editors show them. (A mark opening a later document, which the grammar allows too,
    // is still refused: the tools that write one write it at the start of a file.)
    let text = text.strip_prefix(BOM).unwrap_or(text);
    if let Some(error) = unprintable(text) {
        return Err(vec![error]);
    }
    let mut b = Builder {
        stack: Vec::new(),
        documents: Vec::new(),
        anchors: HashMap::new(),
        read: Tally {
            used: Weight { nodes: 0, bytes: 0, depth: 0 },
            max_text: text_budget(text.len()),
        },
        tag_errors: Vec::new(),
    };
    let stopped = b.events(text).err();
    let mut errors = at_tags(text, b.tag_errors);
    match stopped {
        Some(stopped) => {
            errors.push(stopped);
            Err(errors)
        }
        None => Ok(Read { documents: b.documents, errors }),
    }
}

impl Builder {
    /// Builds the trees of `text`'s events, up to the end of the stream or the first error that
    /// stops the read.
    fn events(&mut self, text: &str) -> Result<(), ReadError> {
        let mut parser = Parser::new_from_str(text);
        loop {
            let (event, mark) = parser.next_token().map_err(|e| {
                // The scanner has its own flow-nesting limit, reached while looking ahead.
                let kind = if e.info().contains("recursion limit") {
                    ReadErrorKind::TooDeep
                } else {
                    ReadErrorKind::Syntax
                };
                ReadError::of_scanner(kind, e.info(), *e.marker(), text)
            })?;
            match event {
                Event::StreamEnd => return Ok(()),
                Event::Nothing | Event::StreamStart | Event::DocumentStart | Event::DocumentEnd => {
                }
                Event::Scalar(text, style, anchor, tag) => {
                    self.count(Weight { nodes: 1, bytes: text.len(), depth: 0 }, mark)?;
                    let quoted = style != TScalarStyle::Plain;
                    let style = match self.settle(tag.as_ref(), On::Scalar(&text), mark) {
                        Tagged::String => Style::Quoted,
                        Tagged::AsWritten | Tagged::Invalid if quoted => Style::Quoted,
                        Tagged::Agrees | Tagged::AsWritten | Tagged::Invalid => Style::Plain,
                    };
                    self.complete(Node::new(Value::Scalar(text, style), mark), anchor, mark)?;
                }
                Event::SequenceStart(anchor, tag) => {
                    self.settle(tag.as_ref(), On::Collection(Core::Seq), mark);
                    self.open(Frame::Seq { items: Vec::new(), anchor, mark }, mark)?;
                }
                Event::MappingStart(anchor, tag) => {
                    self.settle(tag.as_ref(), On::Collection(Core::Map), mark);
                    self.open(Frame::Map { entries: Vec::new(), key: None, anchor, mark }, mark)?;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let (node, anchor) = match self.stack.pop() {
                        Some(Frame::Seq { items, anchor, mark }) => {
                            (Node::new(Value::Seq(items), mark), anchor)
                        }
                        Some(Frame::Map { entries, anchor, mark, .. }) => {
                            let mut node = Node::new(Value::Map(entries), mark);
                            // A block mapping's start event is marked after its first key: use
                            // the first key's position when it comes earlier.
                            if let Value::Map(entries) = &node.value
                                && let Some((key, _)) = entries.first()
                                && (key.line, key.column) < (node.line, node.column)
                            {
                                (node.line, node.column) = (key.line, key.column);
                            }
                            (node, anchor)
                        }
                        None => {
                            return Err(ReadError::new(
                                ReadErrorKind::Syntax,
                                "unbalanced end of collection".to_owned(),
                                mark,
                            ));
                        }
                    };
                    self.complete(node, anchor, mark)?;
                }
                Event::Alias(id) => {
                    let Some((node, weight)) = self.anchors.get(&id) else {
                        return Err(ReadError::new(
                            ReadErrorKind::Syntax,
                            "alias to an unknown anchor".to_owned(),
                            mark,
                        ));
                    };
                    // Counted before the copy is made, and its nesting where it stands: the
                    // copies of copies would otherwise nest as deep as the node budget lets
                    // them (316 levels), each a level of recursion for what walks the tree.
                    let weight = *weight;
                    self.nest(weight.depth, mark)?;
                    self.read.count(weight, mark)?;
                    let mut node = node.clone();
                    // The copy keeps the anchor's content but points at the alias.
                    node.line = mark.line();
                    node.column = mark.col() + 1;
                    self.complete(node, 0, mark)?;
                }
            }
        }
    }
}

/// The lines of `text`, as YAML breaks them and `yaml-rust2` counts them: at a CRLF, a lone CR or
/// a LF (YAML 1.2.2 section 5.4, `b-break`), the breaks left out. `str::lines` breaks at LF
/// alone, which put everything of a file with CR line breaks (classic Mac OS) on its first line.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut parts = text.split('\n').peekable();
    core::iter::from_fn(move || {
        let part = parts.next()?;
        // The CR of a CRLF, before the LF that ends this part: one break, not two.
        Some(match parts.peek() {
            Some(_) => part.strip_suffix('\r').unwrap_or(part),
            None => part,
        })
    })
    .flat_map(|line| line.split('\r'))
}

/// The 1-based line and column (in characters) just after `before`, where the reader's marks
/// would put the next character ([`lines`]).
pub(crate) fn position(before: &str) -> (usize, usize) {
    lines(before).fold((0, 1), |(line, _), text| (line + 1, text.chars().count() + 1))
}

/// The first control character of the C0 set other than tab, line feed and carriage return, at
/// its line and column: YAML allows none of them in a stream (YAML 1.2.2 section 5.1,
/// `c-printable`), and `yaml-rust2` takes a NUL for the end of the text, dropping whatever
/// followed it without a word (finding F-CA), and reads the others as content. (The C1 controls,
/// DEL and U+FFFE, which `c-printable` excludes too, are read as content as before: the writer
/// writes them unescaped, and what it writes must read back.)
fn unprintable(text: &str) -> Option<ReadError> {
    let printable = |c: char| c >= ' ' || matches!(c, '\t' | '\n' | '\r');
    let at = text.find(|c: char| !printable(c))?;
    let c = text[at..].chars().next()?;
    let (line, column) = position(&text[..at]);
    Some(ReadError {
        kind: ReadErrorKind::Syntax,
        message: format!("character U+{:04X} is not allowed in YAML", u32::from(c)),
        hint: Some(
            "remove it, or write it escaped in a double-quoted string (\"\\u0000\"); \
             NUL bytes are often what is left of a file damaged while it was written",
        ),
        line,
        column,
    })
}

/// `config` as the YAML body of a `config:` block.
pub(crate) fn write(config: &CorsConfig) -> String {
    let value = serde_yaml::to_value(config)
        .expect("invariant: a config of strings, booleans and integers always serializes");
    let mut text = String::new();
    YamlEmitter::new(&mut text)
        .dump(&emitted(value))
        .expect("invariant: writing to a String cannot fail");
    // The emitter opens the document with `---`; a `config:` body has no marker of its own.
    let body = text.strip_prefix("---").unwrap_or(&text).trim_start_matches('\n');
    format!("{body}\n")
}

/// `value` as the emitter's tree. Integers past `i64` (a `u64` max-age) keep their digits.
fn emitted(value: serde_yaml::Value) -> Yaml {
    use serde_yaml::Value;
    match value {
        Value::Null => Yaml::Null,
        Value::Bool(flag) => Yaml::Boolean(flag),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => Yaml::Integer(integer),
            None => Yaml::Real(number.to_string()),
        },
        Value::String(text) => Yaml::String(text),
        Value::Sequence(items) => Yaml::Array(items.into_iter().map(emitted).collect()),
        Value::Mapping(entries) => Yaml::Hash(
            entries.into_iter().map(|(key, value)| (emitted(key), emitted(value))).collect(),
        ),
        Value::Tagged(tagged) => emitted(tagged.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    fn scalar(node: &Node) -> (&str, Style) {
        match &node.value {
            Value::Scalar(text, style) => (text, *style),
            other => panic!("not a scalar: {other:?}"),
        }
    }

    #[test]
    fn positions_are_one_based() {
        let docs = read("a: 1\nb:\n  - \"x\"\n").unwrap().documents;
        let Value::Map(entries) = &docs[0].value else { panic!("not a map") };
        assert_eq!((entries[0].0.line, entries[0].0.column), (1, 1));
        assert_eq!((entries[0].1.line, entries[0].1.column), (1, 4));
        assert_eq!(scalar(&entries[0].1), ("1", Style::Plain));
        let Value::Seq(items) = &entries[1].1.value else { panic!("not a seq") };
        assert_eq!((items[0].line, items[0].column), (3, 5));
        assert_eq!(scalar(&items[0]), ("x", Style::Quoted));
    }

    #[test]
    fn a_block_mapping_starts_at_its_first_key() {
        let docs = read("a:\n  - x: 1\n    y: 2\nb: {c: 1}\n").unwrap().documents;
        let Value::Map(entries) = &docs[0].value else { panic!("not a map") };
        assert_eq!((docs[0].line, docs[0].column), (1, 1));
        let Value::Seq(items) = &entries[0].1.value else { panic!("not a seq") };
        assert_eq!((items[0].line, items[0].column), (2, 5));
        assert_eq!((entries[1].1.line, entries[1].1.column), (4, 4));
    }

    #[test]
    fn str_tag_makes_a_plain_scalar_a_string() {
        let docs = read("!!str true").unwrap().documents;
        assert_eq!(scalar(&docs[0]), ("true", Style::Quoted));
    }

    /// Each budget allows what it names and refuses one more: [`MAX_NODES`] nodes, and the
    /// file's text budget in bytes, each counted across calls.
    #[test]
    fn a_budget_allows_its_limit_and_refuses_one_more() {
        let weight = |nodes, bytes| Weight { nodes, bytes, depth: 0 };
        let Some(Token(mark, _)) = Scanner::new("a".chars()).next() else { panic!("no token") };
        let mut tally = Tally { used: weight(0, 0), max_text: 1000 };
        assert!(tally.count(weight(MAX_NODES - 1, 999), mark).is_ok());
        assert!(tally.count(weight(1, 1), mark).is_ok());
        let nodes = tally.count(weight(1, 0), mark).unwrap_err();
        assert!(nodes.message.starts_with("more than 100000 nodes"), "{}", nodes.message);
        let mut tally = Tally { used: weight(0, 1000), max_text: 1000 };
        let bytes = tally.count(weight(0, 1), mark).unwrap_err();
        assert!(bytes.message.starts_with("more than 1000 bytes of text"), "{}", bytes.message);
    }

    /// The core schema's resolution of plain scalars (YAML 1.2.2 section 10.3.2).
    #[test]
    fn plain_scalars_resolve_as_the_core_schema_says() {
        let cases = [
            (Core::Null, &["", "~", "null", "Null", "NULL"][..]),
            (Core::Bool, &["true", "True", "TRUE", "false", "False", "FALSE"]),
            (Core::Int, &["0", "30", "+5", "-5", "007", "0o17", "0x1F", "0xff"]),
            (Core::Float, &["2.5", "1.", ".5", "-1e5", "1E+5", "+.inf", "-.Inf", ".NaN", "30.0"]),
            (
                Core::Str,
                &[
                    "yes", "nULL", "tRUE", "+-5", "1e", "e5", ".", "0o8", "0x", "0X1F", "+.nan",
                    "inf", "1.x", "x.5", "1.2.3",
                ],
            ),
        ];
        for (core, texts) in cases {
            for text in texts {
                assert_eq!(Core::of_plain(text), core, "{text:?}");
            }
        }
    }

    /// Positions count lines as the reader's marks do: CRLF, a lone CR and LF are one break each.
    #[test]
    fn positions_break_lines_as_yaml_does() {
        let cases = [
            ("", (1, 1)),
            ("ab", (1, 3)),
            ("a\nb", (2, 2)),
            ("a\r\nb", (2, 2)),
            ("a\rb", (2, 2)),
            ("a\r", (2, 1)),
            ("a\r\n", (2, 1)),
            ("a\r\r\nb", (3, 2)),
            ("a\n\rb", (3, 2)),
            ("\u{e9}\u{e9}", (1, 3)),
        ];
        for (before, expected) in cases {
            assert_eq!(position(before), expected, "{before:?}");
        }
        // The reader's own marks agree: `c` starts line 3 of a file broken by CR and CRLF.
        let docs = read("a: 1\rb: 2\r\nc: 3\r").unwrap().documents;
        let Value::Map(entries) = &docs[0].value else { panic!("not a map") };
        assert_eq!((entries[2].0.line, entries[2].0.column), position("a: 1\rb: 2\r\n"));
    }

    #[test]
    fn aliases_expand_to_copies() {
        let docs = read("a: &x [1, 2]\nb: *x\n").unwrap().documents;
        let Value::Map(entries) = &docs[0].value else { panic!("not a map") };
        assert_eq!(entries[0].1.value, entries[1].1.value);
        assert_eq!((entries[1].1.line, entries[1].1.column), (2, 4));
    }

    #[test]
    fn several_documents_are_kept() {
        assert_eq!(read("a: 1\n---\nb: 2\n").unwrap().documents.len(), 2);
    }

    #[test]
    fn deep_nesting_stops_at_the_cap() {
        let text = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let err = read(&text).unwrap_err().remove(0);
        assert_eq!((err.kind, err.line, err.column), (ReadErrorKind::TooDeep, 1, MAX_DEPTH + 1));
    }

    #[test]
    fn nesting_at_the_cap_is_read() {
        let text = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(read(&text).is_ok());
    }

    #[test]
    fn billion_laughs_stops_at_the_node_budget() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for pair in names.windows(2) {
            let (prev, name) = (pair[0], pair[1]);
            let refs = vec![format!("*{prev}"); 10].join(", ");
            writeln!(text, "{name}: &{name} [{refs}]").unwrap();
        }
        let err = read(&text).unwrap_err().remove(0);
        assert_eq!(err.kind, ReadErrorKind::TooManyNodes);
    }

    /// The module doc's claim: no other module of the crate names a YAML crate.
    #[test]
    fn no_other_module_uses_a_yaml_crate() {
        fn visit(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    visit(&path, found);
                } else if path.file_name().is_some_and(|name| name != "yaml.rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    if ["serde_yaml::", "yaml_rust2::"].iter().any(|c| text.contains(c)) {
                        found.push(path.display().to_string());
                    }
                }
            }
        }
        let mut found = Vec::new();
        visit(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = read("a: [1, 2\n").unwrap_err().remove(0);
        assert_eq!(err.kind, ReadErrorKind::Syntax);
        assert!(err.line >= 1 && err.column >= 1, "{err:?}");
    }
}
