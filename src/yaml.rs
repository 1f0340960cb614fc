//! The YAML adapter: the one module that reads YAML (through serde-saphyr's parser). It reads a
//! text the way Ruby's Psych does in Puppet (YAML 1.1 scalars, merge keys, aliases) into our own
//! [`Value`], validates texts for the editing commands, locates values,
//! and writes values back out as Psych would print them.

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, ScanError, Span, StrInput, Tag};

use crate::value::{Map, Value};

mod emit;
mod scan;

pub use emit::to_string;

/// A YAML error at a place in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for YamlError {}

impl From<ScanError> for YamlError {
    fn from(e: ScanError) -> Self {
        let m = e.marker();
        YamlError {
            line: m.line().max(1),
            column: m.col() + 1,
            message: e.kind().to_string(),
        }
    }
}

/// Checks that `text` is YAML that Puppet can load, reporting the first problem with its
/// line and column. Beyond syntax this rejects what Psych refuses to load in Puppet: an
/// unquoted date or timestamp, a Ruby object tag, a malformed number.
pub fn validate(text: &str) -> Result<(), YamlError> {
    load(text).map(|_| ())
}

/// Reads the first document of `text` the way Puppet does (`YAML.safe_load` with Symbol
/// permitted and aliases allowed). An empty text or document reads as [`Value::Null`].
pub fn load(text: &str) -> Result<Value, YamlError> {
    let mut c = Composer {
        events: Parser::new_from_str(text),
        anchors: HashMap::new(),
        expanded: 0,
        depth: 0,
    };
    loop {
        let (event, span) = c.next()?;
        match event {
            Event::DocumentStart(..) => {
                let (value, _) = c.node()?;
                return Ok(value);
            }
            Event::StreamEnd => return Ok(Value::Null),
            _ => {}
        }
        let _ = span;
    }
}

/// The line and column (both 1-based) where the value at `path` is written: `path` names
/// mapping keys (as their text) and sequence indexes (as decimal text) from the top. Keys
/// brought in by `<<` merges and aliases are not followed. A `|` or `>` block scalar is
/// located at its first content line.
pub fn locate(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    let mut events =
        Parser::new_from_str(text).filter(|e| !matches!(e, Ok((Event::Comment(..), _))));
    loop {
        match events.next()?.ok()? {
            (Event::DocumentStart(..), _) => break,
            (Event::StreamEnd, _) => return None,
            _ => {}
        }
    }
    let mut want = path;
    loop {
        let (event, span) = events.next()?.ok()?;
        let Some((first, rest)) = want.split_first() else {
            return Some((span.start.line(), span.start.col() + 1));
        };
        match event {
            Event::MappingStart(..) => loop {
                let (key, _) = events.next()?.ok()?;
                match key {
                    Event::MappingEnd => return None,
                    Event::Scalar(ref k, ..) if k.as_ref() == *first => {
                        want = rest;
                        break;
                    }
                    other => {
                        skip(&mut events, other)?;
                        let (value, _) = events.next()?.ok()?;
                        skip(&mut events, value)?;
                    }
                }
            },
            Event::SequenceStart(..) => {
                let index: usize = first.parse().ok()?;
                for _ in 0..index {
                    let (item, _) = events.next()?.ok()?;
                    if item == Event::SequenceEnd {
                        return None;
                    }
                    skip(&mut events, item)?;
                }
                want = rest;
            }
            _ => return None,
        }
    }
}

/// A scalar value of a text and where it is: its path (mapping keys as their text, sequence
/// indexes as decimal text, from the top) and its byte range in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalarAt {
    /// Keys and indexes from the top of the first document.
    pub path: Vec<String>,
    /// Byte range of the scalar (quotes and block indicators included where the parser
    /// counts them).
    pub range: std::ops::Range<usize>,
}

/// Every scalar value of the first document of `text` with its path, in text order (mapping
/// keys are not values; a complex key's contents are left out). Fails on a YAML syntax error.
pub fn scalar_paths(text: &str) -> Result<Vec<ScalarAt>, YamlError> {
    enum Frame {
        Map { key: Option<String> },
        Seq(usize),
    }
    fn advance(stack: &mut [Frame]) {
        match stack.last_mut() {
            Some(Frame::Map { key, .. }) => *key = None,
            Some(Frame::Seq(i)) => *i += 1,
            None => {}
        }
    }
    fn path(stack: &[Frame]) -> Vec<String> {
        stack
            .iter()
            .map(|f| match f {
                Frame::Map { key, .. } => key.clone().unwrap_or_default(),
                Frame::Seq(i) => i.to_string(),
            })
            .collect()
    }
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut out = Vec::new();
    let mut started = false;
    // Nesting depth inside a complex (collection) mapping key, whose contents are skipped.
    let mut in_key = 0usize;
    while let Some(event) = parser.next_event() {
        let (event, span) = event?;
        match event {
            Event::DocumentStart(..) if started => break,
            Event::DocumentStart(..) => started = true,
            Event::DocumentEnd | Event::StreamEnd if started => break,
            Event::Comment(..) | Event::StreamStart => {}
            _ if in_key > 0 => match event {
                Event::MappingStart(..) | Event::SequenceStart(..) => in_key += 1,
                Event::MappingEnd | Event::SequenceEnd => {
                    in_key -= 1;
                    if in_key == 0 {
                        if let Some(Frame::Map { key, .. }) = stack.last_mut() {
                            *key = Some(String::new());
                        }
                    }
                }
                _ => {}
            },
            Event::Scalar(value, ..) => match stack.last_mut() {
                Some(Frame::Map { key: k @ None, .. }) => *k = Some(value.to_string()),
                _ => {
                    let range = span
                        .byte_range()
                        .unwrap_or(span.start.index()..span.end.index());
                    out.push(ScalarAt {
                        path: path(&stack),
                        range,
                    });
                    advance(&mut stack);
                }
            },
            Event::Alias(..) => match stack.last_mut() {
                Some(Frame::Map { key: k @ None, .. }) => *k = Some(String::new()),
                _ => advance(&mut stack),
            },
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if matches!(stack.last(), Some(Frame::Map { key: None, .. })) {
                    in_key = 1;
                    continue;
                }
                stack.push(if matches!(event, Event::MappingStart(..)) {
                    Frame::Map { key: None }
                } else {
                    Frame::Seq(0)
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                advance(&mut stack);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Consumes the rest of a node whose first event is `first`.
fn skip<'a, I>(events: &mut I, first: Event<'a>) -> Option<()>
where
    I: Iterator<Item = Result<(Event<'a>, Span), ScanError>>,
{
    let mut depth = match first {
        Event::MappingStart(..) | Event::SequenceStart(..) => 1usize,
        _ => return Some(()),
    };
    while depth > 0 {
        match events.next()?.ok()?.0 {
            Event::MappingStart(..) | Event::SequenceStart(..) => depth += 1,
            Event::MappingEnd | Event::SequenceEnd => depth -= 1,
            _ => {}
        }
    }
    Some(())
}

/// What kind of node a value came from: Psych's merge rules depend on it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scalar,
    Sequence,
    Mapping,
    Alias,
}

/// The most nodes that alias expansion may add to one document. A "billion laughs" file of a
/// few hundred bytes expands to billions of nodes; real hiera data reuses a few anchors.
const MAX_ALIAS_NODES: usize = 1_000_000;

/// The deepest nesting of collections a document may have (the composer recurses per level).
const MAX_DEPTH: usize = 512;

struct Composer<'a> {
    events: Parser<'a, StrInput<'a>>,
    /// Anchored values and how many nodes each holds.
    anchors: HashMap<usize, (Value, usize)>,
    /// Nodes added so far by expanding aliases.
    expanded: usize,
    /// Current collection nesting.
    depth: usize,
}

impl<'a> Composer<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        loop {
            match self.events.next_event() {
                None => {
                    return Err(YamlError {
                        line: 0,
                        column: 0,
                        message: "unexpected end of the YAML stream".into(),
                    })
                }
                Some(Err(e)) => return Err(e.into()),
                Some(Ok((Event::Comment(..), _))) => continue,
                Some(Ok(pair)) => return Ok(pair),
            }
        }
    }

    /// The next node and how many nodes it holds (aliases counted expanded).
    fn node(&mut self) -> Result<(Value, Kind), YamlError> {
        self.sized_node().map(|(v, k, _)| (v, k))
    }

    fn sized_node(&mut self) -> Result<(Value, Kind, usize), YamlError> {
        let (event, span) = self.next()?;
        let mut size = 1;
        let (value, kind, anchor) = match event {
            Event::Alias(id) => {
                let (v, n) = self.anchors.get(&id).ok_or_else(|| {
                    at(
                        &span,
                        "an alias refers to an anchor that is not complete yet (recursive alias)",
                    )
                })?;
                self.expanded = self.expanded.saturating_add(*n);
                if self.expanded > MAX_ALIAS_NODES {
                    return Err(at(
                        &span,
                        format!(
                            "aliases expand this document to more than {MAX_ALIAS_NODES} values \
                             (an alias bomb?); refusing to read it"
                        ),
                    ));
                }
                size = *n;
                (v.clone(), Kind::Alias, 0)
            }
            Event::Scalar(text, style, anchor, tag) => {
                let v = scalar(&text, style, tag.as_deref()).map_err(|m| at(&span, m))?;
                (v, Kind::Scalar, anchor)
            }
            Event::SequenceStart(_, anchor, tag) => {
                check_collection_tag(tag.as_deref()).map_err(|m| at(&span, m))?;
                self.enter(&span)?;
                let mut items = Vec::new();
                loop {
                    if self.peek_end()? {
                        break;
                    }
                    let (v, _, n) = self.sized_node()?;
                    size = size.saturating_add(n);
                    items.push(v);
                }
                self.depth -= 1;
                (Value::Array(items), Kind::Sequence, anchor)
            }
            Event::MappingStart(_, anchor, tag) => {
                check_collection_tag(tag.as_deref()).map_err(|m| at(&span, m))?;
                self.enter(&span)?;
                let mut hash = Map::new();
                loop {
                    if self.peek_end()? {
                        break;
                    }
                    let (key, key_str_tagged, k) = self.key()?;
                    let (val, kind, n) = self.sized_node()?;
                    size = size.saturating_add(k).saturating_add(n);
                    if key.as_str() == Some("<<") && !key_str_tagged {
                        merge_key(&mut hash, key, val, kind);
                    } else {
                        hash.insert(key, val);
                    }
                }
                self.depth -= 1;
                (Value::Hash(hash), Kind::Mapping, anchor)
            }
            other => {
                return Err(at(&span, format!("unexpected YAML event {other:?}")));
            }
        };
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), size));
        }
        Ok((value, kind, size))
    }

    /// Enters a collection, refusing nesting deeper than [`MAX_DEPTH`].
    fn enter(&mut self, span: &Span) -> Result<(), YamlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(at(
                span,
                format!("collections nest deeper than {MAX_DEPTH} levels; refusing to read it"),
            ));
        }
        Ok(())
    }

    /// A mapping key, whether it carries an explicit `!!str` tag (which turns off `<<`), and
    /// how many nodes it holds.
    fn key(&mut self) -> Result<(Value, bool, usize), YamlError> {
        let tagged = matches!(
            self.events.peek(),
            Some(Ok((Event::Scalar(_, _, _, Some(tag)), _))) if is_str_tag(tag)
        );
        let (v, _, n) = self.sized_node()?;
        Ok((v, tagged, n))
    }

    /// Consumes a collection end if one comes next.
    fn peek_end(&mut self) -> Result<bool, YamlError> {
        loop {
            match self.events.peek() {
                Some(Ok((Event::Comment(..), _))) => {
                    self.events.next_event();
                }
                Some(Ok((Event::SequenceEnd | Event::MappingEnd, _))) => {
                    self.events.next_event();
                    return Ok(true);
                }
                Some(Err(e)) => return Err(e.into()),
                _ => return Ok(false),
            }
        }
    }
}

/// Psych's `<<`: a mapping (or alias of one) is merged in, entries overwriting; a sequence of
/// mappings is merged last-to-first so the earlier ones win; anything else is an ordinary key.
fn merge_key(hash: &mut Map, key: Value, val: Value, kind: Kind) {
    match (kind, &val) {
        (Kind::Mapping | Kind::Alias, Value::Hash(m)) => hash.merge_from(m),
        (Kind::Sequence, Value::Array(items)) if items.iter().all(|v| v.as_hash().is_some()) => {
            let mut merged = Map::new();
            for m in items.iter().rev().filter_map(Value::as_hash) {
                merged.merge_from(m);
            }
            hash.merge_from(&merged);
        }
        _ => hash.insert(key, val),
    }
}

fn at(span: &Span, message: impl Into<String>) -> YamlError {
    YamlError {
        line: span.start.line().max(1),
        column: span.start.col() + 1,
        message: message.into(),
    }
}

fn tag_text(tag: &Tag) -> String {
    format!("{}{}", tag.handle(), tag.suffix())
}

fn is_str_tag(tag: &Tag) -> bool {
    let t = tag_text(tag);
    t == "tag:yaml.org,2002:str" || t == "!str" || t == "!ruby/string"
}

fn check_collection_tag(tag: Option<&Tag>) -> Result<(), String> {
    match tag.map(tag_text) {
        Some(t) if t.starts_with("!ruby/") => Err(disallowed(&t)),
        _ => Ok(()),
    }
}

fn disallowed(tag: &str) -> String {
    format!("the tag {tag} names a Ruby object, which Puppet refuses to load (Tried to load unspecified class)")
}

/// A scalar as Psych's `ToRuby#deserialize` reads it.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    let Some(tag) = tag else {
        return if style == ScalarStyle::Plain {
            scan::tokenize(text)
        } else {
            Ok(Value::from(text))
        };
    };
    let t = tag_text(tag);
    match t.as_str() {
        "tag:yaml.org,2002:str" | "!str" | "!ruby/string" => Ok(Value::from(text)),
        "tag:yaml.org,2002:binary" | "!binary" => {
            let clean: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(clean)
                .map_err(|_| "invalid base64 in a !!binary value".to_string())?;
            String::from_utf8(bytes)
                .map(Value::from)
                .map_err(|_| "a !!binary value is not UTF-8 text".to_string())
        }
        "tag:yaml.org,2002:float" | "!float" => match scan::tokenize(text)? {
            Value::Float(f) => Ok(Value::Float(f)),
            Value::Integer(i) => Ok(Value::Float(i as f64)),
            _ => Err(format!("invalid value for Float(): {text:?}")),
        },
        "!ruby/sym" | "!ruby/symbol" => Ok(Value::from(text)),
        t if t.starts_with("!ruby/") => Err(disallowed(t)),
        _ => scan::tokenize(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_reports_line_and_column() {
        assert_eq!(validate("a: 1\nb: [2, 3]\n"), Ok(()));
        let e = validate("a: 1\nb: [2, 3\nc: 4\n").unwrap_err();
        assert!(e.line >= 2, "{e}");
        let e = validate("a: 1\n  b: 2\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 4), "{e}");
        let e = validate("a: 1\nwhen: 2024-01-31\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 7), "{e}");
        assert!(e.message.contains("Date"), "{e}");
        assert!(validate("a: *nope\n").is_err());
    }

    #[test]
    fn scalar_paths_name_every_value() {
        let text = "---\na: 1\nb:\n  c: [x, {d: \"q\"}]\n  e: >\n    folded\nl:\n  - one\n  - two: 3\n? [k]\n: v\n";
        let got: Vec<(String, &str)> = scalar_paths(text)
            .unwrap()
            .into_iter()
            .map(|s| (s.path.join("."), &text[s.range]))
            .collect();
        let want = [
            ("a", "1"),
            ("b.c.0", "x"),
            ("b.c.1.d", "\"q\""),
            ("l.0", "one"),
            ("l.1.two", "3"),
            ("", "v"),
        ];
        for (path, value) in want {
            assert!(
                got.iter().any(|(p, v)| p == path && v.trim() == value),
                "{path}: {got:?}"
            );
        }
        let e = got.iter().find(|(p, _)| p == "b.e").unwrap();
        assert!(e.1.contains("folded"), "{e:?}");
        assert!(scalar_paths("a: [\n").is_err());
    }

    #[test]
    fn locate_finds_written_values() {
        let text =
            "# c\na: 1\nb:\n  c: [x, {d: 2}]\n  'e.f': |\n    text\nl:\n  - one\n  - two: 3\n";
        assert_eq!(locate(text, &["a"]), Some((2, 4)));
        assert_eq!(locate(text, &["b", "c", "1", "d"]), Some((4, 14)));
        // A block scalar is located at its first content line.
        assert_eq!(locate(text, &["b", "e.f"]), Some((6, 5)));
        assert_eq!(locate(text, &["l", "1", "two"]), Some((9, 10)));
        assert_eq!(locate(text, &["b", "zz"]), None);
        assert_eq!(locate(text, &["l", "5"]), None);
        assert_eq!(locate(text, &["a", "x"]), None);
    }
}
