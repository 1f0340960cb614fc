//! Looking values up in eyaml data files the way Puppet's `eyaml_lookup_key` does, lazily: a
//! [`Document`] is parsed once, and a value is decrypted only when its key is looked up, then
//! cached. A [`Loader`] keeps documents by path, size and modification time for long-running
//! backends. Decryption goes through the [`Decryptor`] trait; all [`KeyMaterial`] (such as
//! the [`Keystore`](crate::pgp::Keystore)) is one.
//!
//! What a lookup returns, as in Puppet: a string in which `ENC[…]` occurs on one line (Ruby's
//! `/.*ENC\[.*?\]/`) has each `ENC[…]` token replaced by its plaintext (spaces and newlines in
//! the payload ignored) and then ONE trailing newline removed; hashes and arrays are walked
//! (hash keys are interpolated, never decrypted); numbers, booleans and null are returned as
//! they are. Consequences worth knowing:
//! - a `>` folded block holding a token reads as `ENC[…]\n`: the chomp takes the block's
//!   newline and a plaintext's own trailing newline survives;
//! - a string-form value whose plaintext ends with a newline loses that newline;
//! - a token in a `|` literal block whose lines break inside the token is not decrypted at all
//!   (no line holds both `ENC[` and `]`): Puppet returns the ciphertext text, and so do we.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::crypto::Plaintext;
use crate::error::{Error, Result};
use crate::scheme::{self, KeyMaterial, Scheme};
use crate::token::{self, BackendPiece, EncToken};
use crate::value::{Map, Str, Value};
use crate::yaml;

/// Decrypts one `ENC[…]` value. A lookup backend may bring its own key source by implementing
/// this; all [`KeyMaterial`] implements it (values without a scheme are taken as GPG).
pub trait Decryptor: Send + Sync {
    /// Decrypts the value (its payload is already free of whitespace).
    fn decrypt_value(&self, enc: &EncToken) -> Result<Plaintext>;
}

impl<K: KeyMaterial> Decryptor for K {
    fn decrypt_value(&self, enc: &EncToken) -> Result<Plaintext> {
        scheme::decrypt(self, enc, Scheme::Gpg)
    }
}

/// Puppet's `%{…}` interpolation, supplied by the caller; it gets every string after
/// decryption and every hash key. Without one, text is left as it is.
pub type Interpolate<'a> = &'a (dyn Fn(&str) -> Result<String> + Sync);

/// What a lookup needs besides the key: how to decrypt and (optionally) how to interpolate.
#[derive(Clone, Copy)]
pub struct Lookup<'a> {
    /// The key source.
    pub decryptor: &'a dyn Decryptor,
    /// The interpolation hook, if any.
    pub interpolate: Option<Interpolate<'a>>,
}

impl<'a> Lookup<'a> {
    /// Decrypts with `decryptor`, no interpolation.
    pub fn new(decryptor: &'a dyn Decryptor) -> Self {
        Lookup {
            decryptor,
            interpolate: None,
        }
    }

    /// Adds an interpolation hook.
    pub fn with_interpolation(mut self, f: Interpolate<'a>) -> Self {
        self.interpolate = Some(f);
        self
    }
}

impl fmt::Debug for Lookup<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lookup")
            .field("interpolate", &self.interpolate.is_some())
            .finish_non_exhaustive()
    }
}

/// One top-level entry: the value as written and, once looked up, as decrypted.
struct Entry {
    raw: Value,
    decrypted: Mutex<Option<Value>>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Ok(slot) = self.decrypted.get_mut() {
            if let Some(v) = slot.as_mut() {
                zeroize::Zeroize::zeroize(v);
            }
        }
    }
}

/// A parsed data file. Values are decrypted when looked up and cached; `Send + Sync`, so one
/// document can serve many threads. `Debug` shows the path and counts, never a value.
pub struct Document {
    path: PathBuf,
    /// The file's text (ciphertexts only), to locate a value that fails.
    text: String,
    keys: Vec<String>,
    entries: HashMap<String, Entry>,
}

impl Document {
    /// Reads and parses a data file.
    pub fn from_path(path: &Path) -> Result<Document> {
        Document::parse(&crate::fsutil::read_text(path)?, path)
    }

    /// Parses `text`; `path` names it in messages (`<string>` will do).
    pub fn parse(text: &str, path: impl Into<PathBuf>) -> Result<Document> {
        let path = path.into();
        let value = yaml::load(text).map_err(|e| Error::Yaml {
            path: path.clone(),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        let map = match value {
            Value::Hash(m) => m,
            // An empty file: Puppet reads `false` and treats it as an empty hash.
            Value::Null => Map::new(),
            _ => return Err(Error::NotAHash { path }),
        };
        let mut keys = Vec::new();
        let mut entries = HashMap::new();
        for (k, v) in map.into_entries() {
            // Puppet looks keys up as strings; other keys cannot be found.
            if let Value::String(s) = k {
                keys.push(s.to_string());
                entries.insert(
                    s.to_string(),
                    Entry {
                        raw: v,
                        decrypted: Mutex::new(None),
                    },
                );
            }
        }
        Ok(Document {
            path,
            text: text.to_string(),
            keys,
            entries,
        })
    }

    /// The file this document was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The top-level keys, in file order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(String::as_str)
    }

    /// Whether the document has the top-level key.
    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// The value as written (ciphertexts left as they are), without decrypting anything.
    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.entries.get(key).map(|e| &e.raw)
    }

    /// Looks up a top-level key: `Ok(None)` when it is absent. The first lookup of a key
    /// decrypts its value (only that value); later lookups use the cache.
    pub fn lookup(&self, key: &str, with: &Lookup<'_>) -> Result<Option<Value>> {
        let Some(entry) = self.entries.get(key) else {
            return Ok(None);
        };
        let value = {
            let mut slot = entry.decrypted.lock().unwrap_or_else(|p| p.into_inner());
            match slot.as_ref() {
                Some(v) => v.clone(),
                None => {
                    let v = decrypt_tree(&entry.raw, &|s| {
                        decrypt_string(s, with.decryptor).map_err(|source| Error::LookupDecrypt {
                            key: key.to_string(),
                            path: self.path.clone(),
                            line: self.line_of(s),
                            data: s.to_string(),
                            source: Box::new(source),
                        })
                    })?;
                    *slot = Some(v.clone());
                    v
                }
            }
        };
        match with.interpolate {
            Some(f) => interpolate_tree(value, f).map(Some),
            None => Ok(Some(value)),
        }
    }

    /// The line of the first `ENC[` value of `data` (a string as loaded) in the file: its
    /// first characters are found verbatim even when a folded block changed its whitespace.
    fn line_of(&self, data: &str) -> Option<usize> {
        let start = data.find("ENC[")?;
        let head: String = data[start..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != ']')
            .take(40)
            .collect();
        let at = self.text.find(&head)?;
        Some(self.text[..at].matches('\n').count() + 1)
    }

    /// How many values have been decrypted and cached so far.
    pub fn cached(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.decrypted.lock().map(|s| s.is_some()).unwrap_or(false))
            .count()
    }
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("path", &self.path)
            .field("keys", &self.keys.len())
            .field("cached", &self.cached())
            .finish()
    }
}

/// Walks a value, turning every string through `string` (hash keys are left alone).
fn decrypt_tree(v: &Value, string: &dyn Fn(&str) -> Result<Value>) -> Result<Value> {
    Ok(match v {
        Value::String(s) => string(s)?,
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| decrypt_tree(x, string))
                .collect::<Result<_>>()?,
        ),
        Value::Hash(m) => {
            let mut out = Map::new();
            for (k, x) in m.iter() {
                out.insert(k.clone(), decrypt_tree(x, string)?);
            }
            Value::Hash(out)
        }
        other => other.clone(),
    })
}

/// Applies the interpolation hook to every string and every string hash key.
fn interpolate_tree(v: Value, f: Interpolate<'_>) -> Result<Value> {
    let text = |s: &Str| -> Result<Str> {
        let out = f(s)?;
        Ok(if s.is_secret() {
            Str::secret(out)
        } else {
            Str::from(out)
        })
    };
    Ok(match v {
        // A binary value's bytes would not survive a round trip through text.
        Value::String(s) if s.is_binary() => Value::String(s),
        Value::String(s) => Value::String(text(&s)?),
        Value::Array(a) => Value::Array(
            a.into_iter()
                .map(|x| interpolate_tree(x, f))
                .collect::<Result<_>>()?,
        ),
        Value::Hash(m) => {
            let mut out = Map::new();
            for (k, x) in m.into_entries() {
                let k = match k {
                    Value::String(s) => Value::String(text(&s)?),
                    other => other,
                };
                out.insert(k, interpolate_tree(x, f)?);
            }
            Value::Hash(out)
        }
        other => other,
    })
}

/// Decrypts a string as `eyaml_lookup_key` does (see the module docs).
pub fn decrypt_string(s: &str, decryptor: &dyn Decryptor) -> Result<Value> {
    if !token::backend_is_encrypted(s) {
        return Ok(Value::from(s));
    }
    let mut out = zeroize::Zeroizing::new(Vec::new());
    let mut secret = false;
    for piece in token::backend_pieces(s) {
        match piece {
            BackendPiece::Plain(p) => out.extend_from_slice(p.as_bytes()),
            BackendPiece::Enc(token) => {
                // Bytes as they are: a binary plaintext is returned as Puppet returns it (a
                // string that is not UTF-8), see `Str::secret_bytes`.
                out.extend_from_slice(&decryptor.decrypt_value(&token)?);
                secret = true;
            }
        }
    }
    // Ruby's String#chomp: one "\r\n", "\n" or "\r".
    let len = out.len();
    if out.ends_with(b"\r\n") {
        out.truncate(len - 2);
    } else if out.ends_with(b"\n") || out.ends_with(b"\r") {
        out.truncate(len - 1);
    }
    let out = std::mem::take(&mut *out);
    Ok(Value::String(if secret {
        Str::secret_bytes(out)
    } else {
        Str::from(String::from_utf8(out).expect("plain pieces are text"))
    }))
}

/// Documents by path, reloaded when a file's size or modification time changes; for
/// long-running backends that look up many keys over time.
#[derive(Default)]
pub struct Loader {
    docs: Mutex<HashMap<PathBuf, Loaded>>,
}

/// A cached document with the size and modification time it was read at.
struct Loaded {
    len: u64,
    modified: Option<SystemTime>,
    doc: Arc<Document>,
}

impl Loader {
    /// An empty cache.
    pub fn new() -> Loader {
        Loader::default()
    }

    /// The document at `path`, parsed again only when the file changed since last time.
    pub fn load(&self, path: &Path) -> Result<Arc<Document>> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.is_dir() {
            return Err(Error::IsADirectory {
                path: path.to_path_buf(),
            });
        }
        let stamp = (meta.len(), meta.modified().ok());
        {
            let docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(l) = docs.get(path) {
                if (l.len, l.modified) == stamp {
                    return Ok(l.doc.clone());
                }
            }
        }
        let doc = Arc::new(Document::from_path(path)?);
        let mut docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
        docs.insert(
            path.to_path_buf(),
            Loaded {
                len: stamp.0,
                modified: stamp.1,
                doc: doc.clone(),
            },
        );
        Ok(doc)
    }

    /// Forgets every document.
    pub fn clear(&self) {
        self.docs.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl fmt::Debug for Loader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.docs.lock().map(|d| d.len()).unwrap_or(0);
        f.debug_struct("Loader").field("documents", &n).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Plaintext;

    /// "Decrypts" by reversing the payload.
    struct Reverse;

    impl Decryptor for Reverse {
        fn decrypt_value(&self, enc: &EncToken) -> Result<Plaintext> {
            if enc.payload == "fail" {
                return Err(Error::DecryptionFailed("nope".into()));
            }
            Ok(zeroize::Zeroizing::new(
                enc.payload.bytes().rev().collect::<Vec<u8>>(),
            ))
        }
    }

    fn dec(s: &str) -> Value {
        decrypt_string(s, &Reverse).unwrap()
    }

    #[test]
    fn strings_are_decrypted_like_eyaml_lookup_key() {
        assert_eq!(dec("ENC[GPG,cba]"), Value::from("abc"));
        assert_eq!(dec("x ENC[GPG,ba] y ENC[dc] z"), Value::from("x ab y cd z"));
        // Folded block: payload whitespace dropped, the block's newline chomped.
        assert_eq!(dec("ENC[GPG,c b a]\n"), Value::from("abc"));
        // Only one newline is chomped.
        assert_eq!(dec("ENC[GPG,a]\n\n"), Value::from("a\n"));
        // Literal block broken inside the token: not "encrypted?", returned as is.
        assert_eq!(dec("ENC[GPG,ab\ncd]\n"), Value::from("ENC[GPG,ab\ncd]\n"));
        // No token but encrypted? is true: chomped anyway.
        assert_eq!(dec("ENC[GPG,a!b]\n"), Value::from("ENC[GPG,a!b]"));
        assert_eq!(dec("plain\n"), Value::from("plain\n"));
        assert!(matches!(dec("ENC[GPG,cba]"), Value::String(s) if s.is_secret()));
    }

    #[test]
    fn lookup_decrypts_lazily_and_names_key_and_file_on_error() {
        let doc = Document::parse(
            "a: ENC[GPG,cba]\nb:\n  - ENC[GPG,fail]\nc:\n  k: ENC[GPG,yx]\nd: 5\n",
            "data.eyaml",
        )
        .unwrap();
        let with = Lookup::new(&Reverse);
        assert_eq!(doc.cached(), 0);
        assert_eq!(doc.lookup("a", &with).unwrap(), Some(Value::from("abc")));
        assert_eq!(doc.cached(), 1);
        assert_eq!(doc.lookup("zz", &with).unwrap(), None);
        assert_eq!(doc.lookup("d", &with).unwrap(), Some(Value::Integer(5)));
        let e = doc.lookup("b", &with).unwrap_err().to_string();
        assert_eq!(
            e,
            "hiera-eyaml backend error decrypting ENC[GPG,fail] when looking up b in data.eyaml. \
             Error was decryption failed: nope (line 3)"
        );
        let dbg = format!("{doc:?}");
        assert!(!dbg.contains("abc"), "{dbg}");
        let up = |s: &str| -> Result<String> { Ok(s.to_uppercase()) };
        let with = Lookup::new(&Reverse).with_interpolation(&up);
        let v = doc.lookup("c", &with).unwrap().unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"K":"XY"}"#);
    }

    #[test]
    fn documents_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Document>();
        check::<Loader>();
    }
}
