//! Hiera 5 lookups across an ordered list of data files: the merge strategies `first`,
//! `unique`, `hash` and `deep` with Puppet's semantics (`Puppet::Pops::MergeStrategy` and the
//! deep_merge gem it uses), and dotted keys (`a.b.0`, `'quoted.segment'`): the root key is
//! looked up and merged across the files, then the rest of the key digs into the result.
//! [`Hiera`] does the same for a whole Hiera 5 environment (`hiera.yaml`, facts,
//! interpolation, `lookup_options`).

pub mod config;
pub mod environment;
pub mod keys;
pub mod scope;

pub use environment::{Found, Hiera, MergeSpec};
pub use keys::{LevelKeyLoader, LevelKeys, LevelMaterial};
pub use scope::Scope;

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::lookup::{Document, Lookup};
use crate::value::{Map, Value};

/// How values found in several files combine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Merge {
    /// The value of the first file that has the key.
    #[default]
    First,
    /// Arrays (and scalars) of every file, flattened, duplicates removed, highest priority
    /// first.
    Unique,
    /// Hashes of every file, top-level keys of higher-priority files winning.
    Hash,
    /// Hashes merged recursively (deep_merge): arrays united, higher-priority scalars winning.
    Deep,
}

impl FromStr for Merge {
    type Err = Error;
    fn from_str(s: &str) -> Result<Merge> {
        match s {
            "first" | "default" => Ok(Merge::First),
            "unique" => Ok(Merge::Unique),
            "hash" => Ok(Merge::Hash),
            "deep" => Ok(Merge::Deep),
            other => Err(Error::UnknownMerge(other.to_string())),
        }
    }
}

impl fmt::Display for Merge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Merge::First => "first",
            Merge::Unique => "unique",
            Merge::Hash => "hash",
            Merge::Deep => "deep",
        })
    }
}

/// Options of the `deep` strategy (the deep_merge gem's, as Puppet passes them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeepOptions {
    /// Array elements (and string values) starting with this prefix remove what they name;
    /// an element equal to it empties the lower-priority array.
    pub knockout_prefix: Option<String>,
    /// Sort arrays after merging them.
    pub sort_merged_arrays: bool,
    /// Merge arrays of hashes element by element.
    pub merge_hash_arrays: bool,
}

/// An ordered list of data files, highest priority first.
#[derive(Clone, Debug, Default)]
pub struct Hierarchy {
    documents: Vec<Arc<Document>>,
}

impl Hierarchy {
    /// A hierarchy of these documents, highest priority first.
    pub fn new(documents: Vec<Arc<Document>>) -> Hierarchy {
        Hierarchy { documents }
    }

    /// A hierarchy of the data files at `paths`, highest priority first, with Hiera's rule
    /// for a path that does not exist: it is skipped (it holds no key). A file that exists and
    /// cannot be read or parsed is an error.
    pub fn from_paths<P: AsRef<Path>>(paths: &[P]) -> Result<Hierarchy> {
        let mut documents = Vec::with_capacity(paths.len());
        for path in paths {
            let path = path.as_ref();
            if path.exists() {
                documents.push(Arc::new(Document::from_path(path)?));
            }
        }
        Ok(Hierarchy { documents })
    }

    /// The documents, highest priority first.
    pub fn documents(&self) -> &[Arc<Document>] {
        &self.documents
    }

    /// Looks `key` up (a dotted key digs into hashes and arrays) and merges what the files
    /// hold. `Ok(None)`: not found. Files are searched in order and, with [`Merge::First`],
    /// nothing after the first file holding the root key is decrypted.
    pub fn lookup(&self, key: &str, merge: Merge, with: &Lookup<'_>) -> Result<Option<Value>> {
        let segments = split_key(key)?;
        let root = &segments[0];
        let found = match merge {
            Merge::First => {
                let mut first = None;
                for doc in &self.documents {
                    if let Some(v) = doc.lookup(root, with)? {
                        first = Some(v);
                        break;
                    }
                }
                first
            }
            _ => {
                let mut values = Vec::new();
                for doc in &self.documents {
                    if let Some(v) = doc.lookup(root, with)? {
                        values.push(v);
                    }
                }
                merge_values(merge, self.documents.len(), values)?
            }
        };
        match found {
            None => Ok(None),
            Some(v) => sub_lookup(key, &segments[1..], v),
        }
    }
}

/// Splits a dotted key into segments as Puppet does: segments separated by `.`, each either
/// unquoted text or a `"…"`/`'…'` quoted string (quotes removed); blanks around a segment are
/// trimmed.
pub fn split_key(key: &str) -> Result<Vec<String>> {
    let syntax = || Error::LookupKeySyntax {
        key: key.to_string(),
    };
    if key.is_empty() {
        return Ok(vec![String::new()]);
    }
    let mut segments = Vec::new();
    let mut rest = key;
    loop {
        let trimmed = rest.trim_start();
        let (segment, after) = match trimmed.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let end = trimmed[1..].find(q).ok_or_else(syntax)?;
                if end == 0 {
                    return Err(syntax());
                }
                (
                    trimmed[1..1 + end].to_string(),
                    trimmed[end + 2..].trim_start(),
                )
            }
            _ => {
                let end = rest.find(['.', '"', '\'']).unwrap_or(rest.len());
                let seg = rest[..end].trim();
                if seg.is_empty() || rest[end..].starts_with(['"', '\'']) {
                    return Err(syntax());
                }
                (seg.to_string(), &rest[end..])
            }
        };
        segments.push(segment);
        if after.is_empty() {
            return Ok(segments);
        }
        rest = after.strip_prefix('.').ok_or_else(syntax)?;
        if rest.is_empty() {
            return Err(syntax());
        }
    }
}

/// Digs into `value` with the remaining segments: all-digit segments index arrays, others
/// name hash keys. `Ok(None)` when something is missing, an error on a type mismatch (as
/// Puppet's "Data Provider type mismatch").
pub(crate) fn sub_lookup(
    key: &str,
    segments: &[String],
    mut value: Value,
) -> Result<Option<Value>> {
    for segment in segments {
        if value == Value::Null {
            return Ok(None);
        }
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            let Value::Array(mut items) = value else {
                return Err(mismatch(&value, "Array", segment, key));
            };
            let Ok(i) = segment.parse::<usize>() else {
                return Ok(None);
            };
            if i >= items.len() {
                return Ok(None);
            }
            value = items.swap_remove(i);
        } else {
            let Value::Hash(map) = value else {
                return Err(mismatch(&value, "a hash-like object", segment, key));
            };
            match map
                .into_entries()
                .into_iter()
                .find(|(k, _)| k.as_str() == Some(segment))
            {
                Some((_, v)) => value = v,
                None => return Ok(None),
            }
        }
    }
    Ok(Some(value))
}

fn mismatch(value: &Value, expected: &str, segment: &str, key: &str) -> Error {
    Error::LookupTypeMismatch {
        found: value.type_name().to_string(),
        expected: expected.to_string(),
        segment: segment.to_string(),
        key: key.to_string(),
    }
}

/// Puppet's `MergeStrategy#lookup` over `variants` files of which `values` (in priority
/// order) held the key.
fn merge_values(merge: Merge, variants: usize, values: Vec<Value>) -> Result<Option<Value>> {
    let mut values = values.into_iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if variants == 1 {
        // merge_single: only `unique` does anything, removing duplicates of an array.
        return Ok(Some(match (merge, first) {
            (Merge::Unique, Value::Array(a)) => Value::Array(union(Vec::new(), a)),
            (_, v) => v,
        }));
    }
    let mut memo = match merge {
        Merge::Unique => Value::Array(flatten(first)),
        _ => first,
    };
    if merge == Merge::First {
        return Ok(Some(memo));
    }
    let deep = DeepOptions::default();
    for value in values {
        memo = merge_two(merge, &deep, memo, value)?;
    }
    Ok(Some(memo))
}

/// `MergeStrategy#merge(memo, value)` with the type checks Puppet makes.
pub(crate) fn merge_two(
    merge: Merge,
    deep: &DeepOptions,
    memo: Value,
    value: Value,
) -> Result<Value> {
    Ok(match merge {
        Merge::First => memo,
        Merge::Unique => {
            check_unique("first", &memo)?;
            check_unique("second", &value)?;
            Value::Array(union(flatten(memo), flatten(value)))
        }
        Merge::Hash => {
            let e1 = check_hash("first", memo)?;
            let mut e2 = check_hash("second", value)?;
            e2.merge_from(&e1);
            Value::Hash(e2)
        }
        Merge::Deep => deep_merge(memo, value, deep)?,
    })
}

/// `Variant[Scalar, Array[Data]]`.
pub(crate) fn check_unique(which: &str, v: &Value) -> Result<()> {
    match v {
        Value::Hash(_) | Value::Null => Err(Error::MergeTypeMismatch {
            which: which.to_string(),
            expected: "a value of type Scalar or Array",
            found: v.type_name().to_string(),
        }),
        _ => Ok(()),
    }
}

/// `Hash[String, Data]`.
pub(crate) fn check_hash(which: &str, v: Value) -> Result<Map> {
    match v {
        Value::Hash(m) if m.keys().all(|k| k.as_str().is_some()) => Ok(m),
        other => Err(Error::MergeTypeMismatch {
            which: which.to_string(),
            expected: "a Hash value",
            found: other.type_name().to_string(),
        }),
    }
}

/// Ruby's `Array#flatten` of an array, `[v]` of anything else.
pub(crate) fn flatten(v: Value) -> Vec<Value> {
    fn into(v: Value, out: &mut Vec<Value>) {
        match v {
            Value::Array(a) => a.into_iter().for_each(|x| into(x, out)),
            other => out.push(other),
        }
    }
    match v {
        Value::Array(a) => {
            let mut out = Vec::new();
            a.into_iter().for_each(|x| into(x, &mut out));
            out
        }
        other => vec![other],
    }
}

/// Ruby's `a | b`: the elements of both, first occurrences kept.
pub(crate) fn union(a: Vec<Value>, b: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in a.into_iter().chain(b) {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Boolean(false))
}

/// `DeepMerge.deep_merge!(source, dest)` with Puppet's options (unmergeables overwritten,
/// nil sources skipped): `source` is the higher-priority value.
pub(crate) fn deep_merge(source: Value, dest: Value, o: &DeepOptions) -> Result<Value> {
    if source == Value::Null {
        return Ok(dest);
    }
    if !truthy(&dest) {
        return Ok(source);
    }
    Ok(match (source, dest) {
        (Value::Hash(src), Value::Hash(mut dst)) => {
            for (k, sv) in src.into_entries() {
                let merged = match dst.get(&k) {
                    Some(dv) if truthy(dv) => deep_merge(sv, dv.clone(), o)?,
                    _ => deep_merge_aliased(sv, o)?,
                };
                dst.insert(k, merged);
            }
            Value::Hash(dst)
        }
        // An empty source hash never overwrites (deep_merge loops over its keys to do it).
        (Value::Hash(src), dest) if src.is_empty() => dest,
        (Value::Array(mut src), mut dest) => {
            if let Some(ko) = &o.knockout_prefix {
                let marker = Value::from(ko.as_str());
                if src.contains(&marker) {
                    dest = match dest {
                        Value::Array(_) => Value::Array(Vec::new()),
                        Value::Hash(_) => Value::Hash(Map::new()),
                        Value::String(_) => Value::from(""),
                        _ => Value::Null,
                    };
                    src.retain(|v| v != &marker);
                }
            }
            match dest {
                Value::Array(mut dst) => {
                    if let Some(ko) = &o.knockout_prefix {
                        src.retain(|item| {
                            match item.as_str().and_then(|s| s.strip_prefix(ko.as_str())) {
                                Some(name) => {
                                    let name = Value::from(name);
                                    dst.retain(|d| d != &name && d != item);
                                    false
                                }
                                None => true,
                            }
                        });
                    }
                    let hashes = |a: &[Value]| a.iter().all(|v| matches!(v, Value::Hash(_)));
                    let mut merged = if o.merge_hash_arrays && hashes(&src) && hashes(&dst) {
                        let n = dst.len();
                        let mut list = Vec::new();
                        for (i, d) in dst.into_iter().enumerate() {
                            let s = src.get(i).cloned().unwrap_or(Value::Hash(Map::new()));
                            list.push(deep_merge(s, d, o)?);
                        }
                        list.extend(src.into_iter().skip(n));
                        list
                    } else {
                        union(dst, src)
                    };
                    if o.sort_merged_arrays {
                        sort(&mut merged)?;
                    }
                    Value::Array(merged)
                }
                dest => overwrite_unmergeables(Value::Array(src), dest, o),
            }
        }
        (source, dest) => overwrite_unmergeables(source, dest, o),
    })
}

/// `deep_merge!(v, v.dup)`, which the gem runs for a key the lower-priority hash lacks: the
/// shallow copy shares nested arrays with the source, so a knockout edits one array while
/// iterating it (Ruby's `delete_if` then drops elements, and Puppet returns that).
fn deep_merge_aliased(v: Value, o: &DeepOptions) -> Result<Value> {
    if !truthy(&v) {
        return Ok(v);
    }
    Ok(match v {
        Value::Hash(m) => {
            let mut out = Map::new();
            for (k, x) in m.into_entries() {
                out.insert(k, deep_merge_aliased(x, o)?);
            }
            Value::Hash(out)
        }
        Value::Array(mut arr) => {
            if let Some(ko) = &o.knockout_prefix {
                let marker = Value::from(ko.as_str());
                if arr.contains(&marker) {
                    arr.clear();
                }
                // Ruby's `delete_if` over an array the block also deletes from.
                let (mut i1, mut i2) = (0, 0);
                while i1 < arr.len() {
                    let item = arr[i1].clone();
                    let knocked = item.as_str().and_then(|s| s.strip_prefix(ko.as_str()));
                    match knocked {
                        Some(name) => {
                            let name = Value::from(name);
                            arr.retain(|d| d != &name && d != &item);
                        }
                        None => {
                            if i1 != i2 {
                                arr[i2] = item;
                            }
                            i2 += 1;
                        }
                    }
                    i1 += 1;
                }
                let len = arr.len();
                if i2 < len && i2 < i1 {
                    let tail = len.saturating_sub(i1);
                    arr.drain(i2..i2 + (len - i2 - tail));
                }
            }
            let hashes = arr.iter().all(|v| matches!(v, Value::Hash(_)));
            let mut merged = if o.merge_hash_arrays && hashes {
                arr.into_iter()
                    .map(|x| deep_merge_aliased(x, o))
                    .collect::<Result<Vec<_>>>()?
            } else {
                union(Vec::new(), arr)
            };
            if o.sort_merged_arrays {
                sort(&mut merged)?;
            }
            Value::Array(merged)
        }
        other => overwrite_unmergeables(other.clone(), other, o),
    })
}

/// deep_merge's `overwrite_unmergeables`: with a knockout prefix, a string or array source
/// that carried knocked-out elements becomes `""`.
fn overwrite_unmergeables(source: Value, _dest: Value, o: &DeepOptions) -> Value {
    let Some(ko) = &o.knockout_prefix else {
        return source;
    };
    match source {
        Value::String(s) if s.starts_with(ko.as_str()) => Value::from(""),
        Value::Array(a) => {
            let n = a.len();
            let kept: Vec<Value> = a
                .into_iter()
                .filter(|v| !v.as_str().is_some_and(|s| s.starts_with(ko.as_str())))
                .collect();
            if kept.len() == n {
                Value::Array(kept)
            } else {
                Value::from("")
            }
        }
        other => other,
    }
}

/// Ruby's `Array#sort!`: strings with strings, numbers with numbers, else an error.
fn sort(a: &mut [Value]) -> Result<()> {
    if a.iter().all(|v| matches!(v, Value::String(_))) {
        a.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
        return Ok(());
    }
    let num = |v: &Value| match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    };
    if a.iter().all(|v| num(v).is_some()) {
        a.sort_by(|x, y| {
            num(x)
                .partial_cmp(&num(y))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        return Ok(());
    }
    let types: Vec<&str> = a.iter().map(Value::type_name).collect();
    Err(Error::Lookup(format!(
        "sort_merged_arrays: cannot sort an array of {}",
        types.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: &str) -> Value {
        crate::yaml::load(json).unwrap()
    }

    fn s(v: &Value) -> String {
        serde_json::to_string(v).unwrap()
    }

    #[test]
    fn dotted_keys_split_like_puppet() {
        assert_eq!(split_key("a.b.0").unwrap(), ["a", "b", "0"]);
        assert_eq!(split_key("a.'b.c'.d").unwrap(), ["a", "b.c", "d"]);
        assert_eq!(split_key("\"x.y\"").unwrap(), ["x.y"]);
        assert_eq!(split_key("mod::key").unwrap(), ["mod::key"]);
        assert_eq!(split_key(" a . b ").unwrap(), ["a", "b"]);
        for bad in ["a..b", "a.", ".a", "a'b'", "a.''"] {
            assert!(split_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sub_lookup_digs_and_reports_mismatches() {
        let data = v("{h: {list: [a, {x: 1}]}}");
        assert_eq!(
            sub_lookup(
                "k",
                &["h".into(), "list".into(), "1".into(), "x".into()],
                data.clone()
            )
            .unwrap(),
            Some(Value::Integer(1))
        );
        assert_eq!(
            sub_lookup("k", &["h".into(), "list".into(), "5".into()], data.clone()).unwrap(),
            None
        );
        let e = sub_lookup("h.0", &["h".into(), "0".into()], data).unwrap_err();
        assert!(
            e.to_string().contains("Got Hash when Array was expected"),
            "{e}"
        );
    }

    #[test]
    fn merges_follow_puppet() {
        let hi = v("{a: 1, list: [x, y], h: {p: 1}, n: ~}");
        let lo = v("{b: 2, a: 0, list: [y, z], h: {q: 2}, n: 5}");
        assert_eq!(
            s(&merge_values(Merge::Hash, 2, vec![hi.clone(), lo.clone()])
                .unwrap()
                .unwrap()),
            r#"{"b":2,"a":1,"list":["x","y"],"h":{"p":1},"n":null}"#
        );
        assert_eq!(
            s(&merge_values(Merge::Deep, 2, vec![hi, lo]).unwrap().unwrap()),
            r#"{"b":2,"a":1,"list":["y","z","x"],"h":{"q":2,"p":1},"n":5}"#
        );
        assert_eq!(
            s(&merge_values(
                Merge::Unique,
                3,
                vec![v("[a, [b, a]]"), v("c"), v("[b, d]")]
            )
            .unwrap()
            .unwrap()),
            r#"["a","b","c","d"]"#
        );
        assert_eq!(
            s(&merge_values(Merge::Unique, 1, vec![v("[a, a]")])
                .unwrap()
                .unwrap()),
            r#"["a"]"#
        );
        assert!(merge_values(Merge::Hash, 2, vec![v("x"), v("{a: 1}")]).is_err());
        assert!(merge_values(Merge::Unique, 2, vec![v("[b]"), v("{a: 1}")]).is_err());
    }
}
