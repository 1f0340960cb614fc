//! The data a lookup returns, as Puppet sees it: strings, integers, floats, booleans, null,
//! arrays and insertion-ordered hashes. No third-party YAML type appears in the public API.
//! Strings that came out of a decryption are marked secret: `Debug` redacts them and their
//! memory is zeroed when dropped; equality, ordering of use and serialisation ignore the mark.

use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use zeroize::Zeroize;

/// Parsing and printing YAML as Puppet would see it.
pub use crate::yaml::{
    load as load_yaml, to_string as to_yaml, validate as validate_yaml, YamlError,
};

/// A value read from hieradata.
#[derive(Clone, PartialEq)]
pub enum Value {
    /// A string (possibly a decrypted secret, see [`Str::is_secret`]).
    String(Str),
    /// A 64-bit integer (Psych reads `0755` as 493, `1_000` and `1,000` as 1000, `1:30` as 5400).
    Integer(i64),
    /// A float.
    Float(f64),
    /// A boolean (Psych reads `yes`, `on`, `off`… as booleans).
    Boolean(bool),
    /// `~`, `null` or an empty value.
    Null,
    /// A sequence.
    Array(Vec<Value>),
    /// A mapping, keys in insertion order.
    Hash(Map),
}

impl Value {
    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The hash, if this is one.
    pub fn as_hash(&self) -> Option<&Map> {
        match self {
            Value::Hash(m) => Some(m),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The value as `serde_json` sees it (hash keys rendered as strings, as Ruby's JSON does).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::String(s) => match s.binary_base64() {
                Some(b64) => serde_json::json!({ "__ptype": BINARY_PTYPE, "__pvalue": b64 }),
                None => serde_json::Value::String(s.to_string()),
            },
            Value::Integer(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Boolean(b) => (*b).into(),
            Value::Null => serde_json::Value::Null,
            Value::Array(a) => a.iter().map(Value::to_json).collect(),
            Value::Hash(m) => serde_json::Value::Object(
                m.iter().map(|(k, v)| (k.key_text(), v.to_json())).collect(),
            ),
        }
    }

    /// Whether this value holds a decrypted secret anywhere inside.
    pub fn contains_secret(&self) -> bool {
        match self {
            Value::String(s) => s.is_secret(),
            Value::Array(a) => a.iter().any(Value::contains_secret),
            Value::Hash(m) => m
                .iter()
                .any(|(k, v)| k.contains_secret() || v.contains_secret()),
            _ => false,
        }
    }

    /// The text a hash key turns into in JSON (Ruby's `to_s`).
    pub(crate) fn key_text(&self) -> String {
        match self {
            Value::String(s) => s.to_string(),
            Value::Integer(i) => i.to_string(),
            Value::Float(f) => ruby_float(*f),
            Value::Boolean(b) => b.to_string(),
            Value::Null => String::new(),
            other => other.to_json().to_string(),
        }
    }

    /// A short name of the type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "String",
            Value::Integer(_) => "Integer",
            Value::Float(_) => "Float",
            Value::Boolean(_) => "Boolean",
            Value::Null => "Undef",
            Value::Array(_) => "Array",
            Value::Hash(_) => "Hash",
        }
    }
}

/// Ruby's `Float#to_s`, close enough for hash keys: `1.0`, `1.5`, `1.0e+20`.
pub(crate) fn ruby_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if f != 0.0 && (f.abs() >= 1e16 || f.abs() < 1e-4) {
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') {
            m.to_string()
        } else {
            format!("{m}.0")
        };
        let e: i32 = e.parse().unwrap_or(0);
        format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    } else {
        format!("{f:?}")
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(Str::from(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(Str::from(s))
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) => fmt::Debug::fmt(s, f),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Null => f.write_str("null"),
            Value::Array(a) => f.debug_list().entries(a).finish(),
            Value::Hash(m) => fmt::Debug::fmt(m, f),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::String(s) => match s.binary_base64() {
                Some(b64) => {
                    let mut map = serializer.serialize_map(Some(2))?;
                    map.serialize_entry("__ptype", BINARY_PTYPE)?;
                    map.serialize_entry("__pvalue", &b64)?;
                    map.end()
                }
                None => serializer.serialize_str(s),
            },
            Value::Integer(i) => serializer.serialize_i64(*i),
            Value::Float(x) => serializer.serialize_f64(*x),
            Value::Boolean(b) => serializer.serialize_bool(*b),
            Value::Null => serializer.serialize_unit(),
            Value::Array(a) => {
                let mut seq = serializer.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Hash(m) => {
                let mut map = serializer.serialize_map(Some(m.len()))?;
                for (k, v) in m.iter() {
                    match k {
                        Value::String(s) => map.serialize_entry(&**s, v)?,
                        other => map.serialize_entry(&other.key_text(), v)?,
                    }
                }
                map.end()
            }
        }
    }
}

impl Zeroize for Value {
    fn zeroize(&mut self) {
        match self {
            Value::String(s) => {
                s.text.zeroize();
                s.binary.zeroize();
            }
            Value::Array(a) => a.iter_mut().for_each(Zeroize::zeroize),
            Value::Hash(m) => m.entries.iter_mut().for_each(|(k, v)| {
                k.zeroize();
                v.zeroize();
            }),
            _ => {}
        }
    }
}

/// A string value that remembers whether it holds decrypted text.
#[derive(Clone, Default)]
pub struct Str {
    text: String,
    secret: bool,
    /// The exact bytes of a decrypted value that is not UTF-8 (`eyaml encrypt -f keytab.bin`);
    /// `text` then holds them with invalid sequences replaced, for interpolation and merges.
    binary: Option<Vec<u8>>,
}

/// The Pcore type name of a binary value in JSON (Puppet's rich-data form).
pub const BINARY_PTYPE: &str = "Binary";

impl Str {
    /// A string that holds (or contains) decrypted text: redacted in `Debug`, zeroed on drop.
    pub fn secret(text: String) -> Str {
        Str {
            text,
            secret: true,
            binary: None,
        }
    }

    /// A decrypted value from its bytes: text when they are UTF-8, else a binary value (which
    /// Puppet returns as a string it cannot render as YAML or JSON; see [`Str::is_binary`]).
    pub fn secret_bytes(bytes: Vec<u8>) -> Str {
        match String::from_utf8(bytes) {
            Ok(text) => Str::secret(text),
            Err(e) => {
                let bytes = e.into_bytes();
                Str {
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                    secret: true,
                    binary: Some(bytes),
                }
            }
        }
    }

    /// Whether the value is binary (its bytes are not UTF-8). Such a value is written as
    /// `!binary BASE64` in YAML and as `{"__ptype":"Binary","__pvalue":"BASE64"}` (Puppet's
    /// rich-data form) in JSON.
    pub fn is_binary(&self) -> bool {
        self.binary.is_some()
    }

    /// The exact bytes (of the text, or of a binary value).
    pub fn as_bytes(&self) -> &[u8] {
        self.binary.as_deref().unwrap_or(self.text.as_bytes())
    }

    /// The standard base64 of a binary value.
    pub fn binary_base64(&self) -> Option<String> {
        use base64::Engine as _;
        self.binary
            .as_ref()
            .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
    }

    /// Whether the text came out of a decryption.
    pub fn is_secret(&self) -> bool {
        self.secret
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Drop for Str {
    fn drop(&mut self) {
        if self.secret {
            self.text.zeroize();
            self.binary.zeroize();
        }
    }
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Self {
        Str {
            text: s.to_string(),
            secret: false,
            binary: None,
        }
    }
}

impl From<String> for Str {
    fn from(text: String) -> Self {
        Str {
            text,
            secret: false,
            binary: None,
        }
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Str {}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            f.write_str("<redacted secret>")
        } else {
            fmt::Debug::fmt(&self.text, f)
        }
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// An insertion-ordered hash. Setting an existing key replaces its value in place, as a Ruby
/// hash does (so duplicate YAML keys and merges keep the first key's position).
#[derive(Clone, Default)]
pub struct Map {
    entries: Vec<(Value, Value)>,
    /// Positions of the string keys, so that large hashes are built in linear time.
    index: HashMap<String, usize>,
}

impl PartialEq for Map {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Map {
    /// An empty hash.
    pub fn new() -> Map {
        Map::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value under `key`.
    pub fn get(&self, key: &Value) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// The value under the string key `key`.
    pub fn get_str(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    /// The index of `key`.
    fn position(&self, key: &Value) -> Option<usize> {
        match key {
            Value::String(s) => self.index.get(s.as_str()).copied(),
            _ => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    /// Sets `key` (in place when present, else appended).
    pub fn insert(&mut self, key: Value, value: Value) {
        match self.position(&key) {
            Some(i) => self.entries[i].1 = value,
            None => {
                if let Value::String(s) = &key {
                    self.index.insert(s.to_string(), self.entries.len());
                }
                self.entries.push((key, value));
            }
        }
    }

    /// Ruby's `Hash#merge!`: every entry of `other` set into `self`, in `other`'s order.
    pub fn merge_from(&mut self, other: &Map) {
        for (k, v) in other.iter() {
            self.insert(k.clone(), v.clone());
        }
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Value, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &Value> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// Consumes the hash into its entries.
    pub fn into_entries(self) -> Vec<(Value, Value)> {
        self.entries
    }
}

impl FromIterator<(Value, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (Value, Value)>>(iter: I) -> Self {
        let mut m = Map::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keeps_first_position_on_replace() {
        let mut m = Map::new();
        m.insert("a".into(), Value::Integer(1));
        m.insert("b".into(), Value::Integer(2));
        m.insert("a".into(), Value::Integer(3));
        let keys: Vec<_> = m.keys().map(|k| k.as_str().unwrap()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(m.get_str("a"), Some(&Value::Integer(3)));
    }

    #[test]
    fn debug_redacts_secrets_only() {
        let v = Value::Array(vec![
            Value::String(Str::secret("hunter2".into())),
            "visible".into(),
        ]);
        let d = format!("{v:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(d.contains("visible"), "{d}");
        assert!(v.contains_secret());
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"["hunter2","visible"]"#
        );
        assert_eq!(Value::String(Str::secret("x".into())), Value::from("x"));
    }

    #[test]
    fn float_keys_render_like_ruby() {
        assert_eq!(ruby_float(1.0), "1.0");
        assert_eq!(ruby_float(1.5), "1.5");
        assert_eq!(ruby_float(1e20), "1.0e+20");
    }
}
