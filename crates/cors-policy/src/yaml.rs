//! The one module that knows the YAML crates: text in, a small spanned tree out ([`read`]); a
//! configuration in, YAML text out ([`write()`]).
//!
//! Files are read with `yaml-rust2`'s marked event parser, because C3 needs every problem with
//! its line and column, which a serde deserializer (`serde_yaml` included) cannot give for
//! values. The tree keeps scalars as text with their quoting; what a scalar means (boolean,
//! integer, string) is decided by the loader, by our own rules, not by YAML's type resolution.
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

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    Quoted,
}

/// Why a text could not be read into a tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadErrorKind {
    Syntax,
    TooDeep,
    TooManyNodes,
    TooManyDocuments,
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
            _ => error,
        }
    }

    /// [`TAB_AFTER_SCALAR`] at its tab: the first tab among the blanks that start a later line
    /// with more than blanks (the scanner skips lines of blanks alone). That is the scanner's
    /// tab, unless a tab deeper than the indentation it checks, which it lets through, comes
    /// first: the error is then one line early, still nearer than the scalar. Unchanged if
    /// there is none, which the scanner's check does not allow.
    fn at_indenting_tab(self, text: &str) -> Self {
        let found = text.lines().enumerate().skip(self.line).find_map(|(index, line)| {
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

    /// The nodes and bytes of text of this subtree (depth is bounded by [`MAX_DEPTH`]).
    fn weight(&self) -> Weight {
        let own = Weight { nodes: 1, bytes: 0 };
        match &self.value {
            Value::Scalar(text, _) => Weight { bytes: text.len(), ..own },
            Value::Seq(items) => items.iter().map(Node::weight).fold(own, Weight::plus),
            Value::Map(entries) => {
                entries.iter().map(|(k, v)| k.weight().plus(v.weight())).fold(own, Weight::plus)
            }
        }
    }
}

/// How much of the reader's budgets a node takes: its nodes and its bytes of scalar text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Weight {
    nodes: usize,
    bytes: usize,
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
}

impl Builder {
    fn count(&mut self, weight: Weight, mark: Marker) -> Result<(), ReadError> {
        self.read.count(weight, mark)
    }

    fn open(&mut self, frame: Frame, mark: Marker) -> Result<(), ReadError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(ReadError::new(
                ReadErrorKind::TooDeep,
                format!("nesting deeper than {MAX_DEPTH} levels"),
                mark,
            ));
        }
        self.count(Weight { nodes: 1, bytes: 0 }, mark)?;
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

/// Reads every document of `text` into a tree.
pub(crate) fn read(text: &str) -> Result<Vec<Node>, ReadError> {
    // A byte order mark opening the stream is no content (YAML 1.2.2 sections 5.2 and 9.1.1,
    // `l-document-prefix`), and Windows editors and PowerShell write one; `yaml-rust2`'s scanner
    // reads it as the first character of the first key. Lines and columns count from after it,
    // as editors show them. (A mark opening a later document, which the grammar allows too,
    // is still refused: the tools that write one write it at the start of a file.)
    let text = text.strip_prefix(BOM).unwrap_or(text);
    if let Some(error) = unprintable(text) {
        return Err(error);
    }
    let mut parser = Parser::new_from_str(text);
    let mut b = Builder {
        stack: Vec::new(),
        documents: Vec::new(),
        anchors: HashMap::new(),
        read: Tally { used: Weight { nodes: 0, bytes: 0 }, max_text: text_budget(text.len()) },
    };
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
            Event::StreamEnd => return Ok(b.documents),
            Event::Nothing | Event::StreamStart | Event::DocumentStart | Event::DocumentEnd => {}
            Event::Scalar(text, style, anchor, tag) => {
                b.count(Weight { nodes: 1, bytes: text.len() }, mark)?;
                let explicit_string = tag.is_some_and(|tag| tag.suffix == "str");
                let style = if style == TScalarStyle::Plain && !explicit_string {
                    Style::Plain
                } else {
                    Style::Quoted
                };
                b.complete(Node::new(Value::Scalar(text, style), mark), anchor, mark)?;
            }
            Event::SequenceStart(anchor, _) => {
                b.open(Frame::Seq { items: Vec::new(), anchor, mark }, mark)?;
            }
            Event::MappingStart(anchor, _) => {
                b.open(Frame::Map { entries: Vec::new(), key: None, anchor, mark }, mark)?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match b.stack.pop() {
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
                b.complete(node, anchor, mark)?;
            }
            Event::Alias(id) => {
                let Some((node, weight)) = b.anchors.get(&id) else {
                    return Err(ReadError::new(
                        ReadErrorKind::Syntax,
                        "alias to an unknown anchor".to_owned(),
                        mark,
                    ));
                };
                // Counted before the copy is made.
                b.read.count(*weight, mark)?;
                let mut node = node.clone();
                // The copy keeps the anchor's content but points at the alias.
                node.line = mark.line();
                node.column = mark.col() + 1;
                b.complete(node, 0, mark)?;
            }
        }
    }
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
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
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
        let docs = read("a: 1\nb:\n  - \"x\"\n").unwrap();
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
        let docs = read("a:\n  - x: 1\n    y: 2\nb: {c: 1}\n").unwrap();
        let Value::Map(entries) = &docs[0].value else { panic!("not a map") };
        assert_eq!((docs[0].line, docs[0].column), (1, 1));
        let Value::Seq(items) = &entries[0].1.value else { panic!("not a seq") };
        assert_eq!((items[0].line, items[0].column), (2, 5));
        assert_eq!((entries[1].1.line, entries[1].1.column), (4, 4));
    }

    #[test]
    fn str_tag_makes_a_plain_scalar_a_string() {
        let docs = read("!!str true").unwrap();
        assert_eq!(scalar(&docs[0]), ("true", Style::Quoted));
    }

    #[test]
    fn aliases_expand_to_copies() {
        let docs = read("a: &x [1, 2]\nb: *x\n").unwrap();
        let Value::Map(entries) = &docs[0].value else { panic!("not a map") };
        assert_eq!(entries[0].1.value, entries[1].1.value);
        assert_eq!((entries[1].1.line, entries[1].1.column), (2, 4));
    }

    #[test]
    fn several_documents_are_kept() {
        assert_eq!(read("a: 1\n---\nb: 2\n").unwrap().len(), 2);
    }

    #[test]
    fn deep_nesting_stops_at_the_cap() {
        let text = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let err = read(&text).unwrap_err();
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
        let err = read(&text).unwrap_err();
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
        let err = read("a: [1, 2\n").unwrap_err();
        assert_eq!(err.kind, ReadErrorKind::Syntax);
        assert!(err.line >= 1 && err.column >= 1, "{err:?}");
    }
}
