//! Re-encryption of values whose recipients changed: picks the values to redo from an
//! inspection ([`crate::stale`]), decrypts and encrypts them again with a fresh session key
//! (in parallel across files and values), and renders each file with only those tokens
//! replaced, so every other byte stays as it was.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::crypto::EncryptionKey;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::scheme::{self, KeyMaterial, Scheme};
use crate::stale::{FileInspection, ValueReport, ValueState};
use crate::token::{EncToken, Located, Token};

/// Whether a value is to be re-encrypted: stale ones always; with `all`, every value that
/// can be read (current ones and those with hidden recipients). Unreadable values never: they
/// are reported and left as they are.
pub fn selected(value: &ValueReport, all: bool) -> bool {
    match value.state {
        ValueState::Stale { .. } => true,
        ValueState::Current | ValueState::Wildcard { .. } => all,
        ValueState::Unreadable(_) => false,
    }
}

/// Decrypts one value and encrypts its plaintext to `keys` with a fresh session key, rendered
/// in the value's own form (string or block with its indentation) with the canonical `GPG` tag
/// (whatever case or absence of a tag the old value had).
pub fn recrypt_value(
    material: &dyn KeyMaterial,
    enc: &EncToken,
    method: Scheme,
    keys: &[EncryptionKey],
) -> Result<String> {
    let plaintext = scheme::decrypt(material, enc, method)?;
    Scheme::Gpg.encrypt(material, keys, &plaintext, &enc.form)
}

/// What re-encryption did to one file.
#[derive(Debug, Default)]
pub struct FileOutcome {
    /// Positions (in [`FileInspection::values`]) of the values re-encrypted.
    pub recrypted: Vec<usize>,
    /// Values that failed, each error located in the file.
    pub errors: Vec<Error>,
    /// The new text, when at least one value was re-encrypted and none failed.
    pub text: Option<String>,
}

impl FileOutcome {
    /// Whether every selected value of the file succeeded.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Re-encrypts the selected values of every file (see [`selected`]), in parallel across files
/// and values; `progress` is called once per value done. Returns one outcome per file, in
/// order. Nothing is written here.
pub fn recrypt_files(
    keys: &dyn KeyMaterial,
    files: &[FileInspection],
    method: Scheme,
    all: bool,
    progress: &(dyn Fn() + Sync),
) -> Vec<FileOutcome> {
    let jobs: Vec<(usize, usize)> = files
        .iter()
        .enumerate()
        .flat_map(|(fi, f)| {
            f.values
                .iter()
                .enumerate()
                .filter(move |(_, v)| selected(v, all))
                .map(move |(vi, _)| (fi, vi))
        })
        .collect();
    let results: Vec<(usize, usize, Result<String>)> = jobs
        .par_iter()
        .map(|&(fi, vi)| {
            let file = &files[fi];
            let value = &file.values[vi];
            let result = match (&file.tokens[value.index].token, &file.desired) {
                (Token::Enc(enc), Some(desired)) => recrypt_value(keys, enc, method, &desired.keys),
                // A file with values always has desired keys, and values are ENC tokens.
                _ => Err(Error::NoRecipients),
            };
            progress();
            (
                fi,
                vi,
                result.map_err(|e| e.at(&file.path, value.line, value.column)),
            )
        })
        .collect();
    let mut outcomes: Vec<FileOutcome> = files.iter().map(|_| FileOutcome::default()).collect();
    let mut rendered: Vec<HashMap<usize, String>> = files.iter().map(|_| HashMap::new()).collect();
    for (fi, vi, r) in results {
        match r {
            Ok(s) => {
                outcomes[fi].recrypted.push(vi);
                rendered[fi].insert(files[fi].values[vi].index, s);
            }
            Err(e) => outcomes[fi].errors.push(e),
        }
    }
    for ((outcome, file), replaced) in outcomes.iter_mut().zip(files).zip(rendered) {
        if outcome.ok() && !replaced.is_empty() {
            outcome.text = Some(apply(&file.tokens, &replaced));
        }
    }
    outcomes
}

/// What writing a batch of files did.
#[derive(Debug)]
pub struct Written {
    /// Per file (in the order given): whether it was replaced.
    pub written: Vec<bool>,
    /// Files that could not be written (changed on disk meanwhile, I/O errors).
    pub errors: Vec<Error>,
}

/// Writes the new texts of `outcomes`. Without `keep_going`, nothing is written when any file
/// failed (a value in `outcomes`, or `other_failures`, e.g. files that could not be
/// inspected) and nothing when any file cannot be written. Every file is first checked to be
/// unchanged on disk since it was inspected, then staged (written and flushed next to its
/// target), and only then are the staged files renamed into place.
pub fn write_files(
    files: &[FileInspection],
    outcomes: &[FileOutcome],
    other_failures: bool,
    keep_going: bool,
) -> Written {
    let mut out = Written {
        written: vec![false; files.len()],
        errors: Vec::new(),
    };
    let failed = other_failures || outcomes.iter().any(|o| !o.ok());
    if failed && !keep_going {
        return out;
    }
    let mut plan = Vec::new();
    for (i, (f, o)) in files.iter().zip(outcomes).enumerate() {
        if let Some(text) = &o.text {
            match std::fs::read(&f.path) {
                Ok(now) if now == f.text.as_bytes() => plan.push((i, text)),
                Ok(_) => out.errors.push(Error::ChangedOnDisk(f.path.clone())),
                Err(e) => out.errors.push(Error::io(&f.path, e)),
            }
        }
    }
    let mut staged = Vec::new();
    if out.errors.is_empty() || keep_going {
        for (i, text) in plan {
            match fsutil::stage(&files[i].path, text.as_bytes(), None) {
                Ok(s) => staged.push((i, s)),
                Err(e) => out.errors.push(e),
            }
        }
    }
    if out.errors.is_empty() || keep_going {
        for (i, s) in staged {
            match s.commit() {
                Ok(()) => out.written[i] = true,
                Err(e) => out.errors.push(e),
            }
        }
    }
    out
}

/// Renders tokens with some replaced (by token index); all other text verbatim.
pub fn apply(tokens: &[Located], replaced: &HashMap<usize, String>) -> String {
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| replaced.get(&i).map_or(t.token.raw(), String::as_str))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Backend;
    use crate::pgp::Keystore;
    use crate::stale::{inspect_file, RecipientOverride};
    use crate::token;
    use std::path::Path;

    fn store(keys: &[&str]) -> Keystore {
        let mut s = Keystore::new();
        for k in keys {
            s.load_path(&Path::new("fixtures/reference/keys").join(k))
                .unwrap();
        }
        s
    }

    #[test]
    fn recrypted_values_get_the_canonical_tag() {
        let keys = store(&["bob.sec.asc"]);
        let text =
            std::fs::read_to_string("fixtures/reference/hieradata/development/app1/app1.eyaml")
                .unwrap();
        let to = vec![keys.resolve("bob@example.com").unwrap()];
        for spelled in ["ENC[gpg,", "ENC["] {
            let changed = text.replacen("ENC[GPG,", spelled, 1);
            let tokens = token::scan(&changed, token::Kinds::ENC);
            let enc = tokens
                .iter()
                .find_map(|t| match &t.token {
                    token::Token::Enc(e) => Some(e.clone()),
                    _ => None,
                })
                .unwrap();
            let out = recrypt_value(&keys, &enc, Scheme::Gpg, &to).unwrap();
            assert!(out.starts_with("ENC[GPG,"), "{spelled}: {}", &out[..12]);
        }
    }

    #[test]
    fn only_stale_tokens_change_and_the_rest_is_verbatim() {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new("fixtures/reference/hieradata/development/app1/app1.eyaml");
        let file = dir.path().join("app1.eyaml");
        std::fs::copy(src, &file).unwrap();
        let keys = store(&["bob.sec.asc", "puppetmaster.pub.asc"]);
        let method = Scheme::Gpg;
        let same = RecipientOverride {
            names: vec!["bob@example.com".into()],
            file: None,
        };
        let insp = inspect_file(&keys, &file, method, &same).unwrap();
        assert_eq!(insp.counts().current, 4);
        let out = recrypt_files(&keys, std::slice::from_ref(&insp), method, false, &|| {});
        assert!(out[0].text.is_none(), "nothing stale, nothing rendered");

        let more = RecipientOverride {
            names: vec!["bob@example.com,puppetmaster".into()],
            file: None,
        };
        let insp = inspect_file(&keys, &file, method, &more).unwrap();
        assert_eq!(insp.counts().stale, 4);
        let out = recrypt_files(&keys, std::slice::from_ref(&insp), method, false, &|| {});
        let text = out[0].text.as_ref().unwrap();
        let old = token::scan(&insp.text, token::Kinds::ENC);
        let new = token::scan(text, token::Kinds::ENC);
        assert_eq!(old.len(), new.len());
        for (a, b) in old.iter().zip(&new) {
            match (&a.token, &b.token) {
                (Token::Plain(x), Token::Plain(y)) => assert_eq!(x, y),
                (Token::Enc(x), Token::Enc(y)) => {
                    assert_eq!(x.form, y.form);
                    assert_ne!(x.payload, y.payload);
                }
                _ => panic!("token kinds differ"),
            }
        }
        let w = write_files(std::slice::from_ref(&insp), &out, false, false);
        assert_eq!(w.written, vec![true]);
        assert_eq!(&std::fs::read_to_string(&file).unwrap(), text);
        let after = inspect_file(&keys, &file, method, &more).unwrap();
        assert_eq!(after.counts().current, 4);
    }

    #[test]
    fn a_file_changed_on_disk_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new("fixtures/reference/hieradata/development/app1/app1.eyaml");
        let file = dir.path().join("app1.eyaml");
        std::fs::copy(src, &file).unwrap();
        let keys = store(&["bob.sec.asc", "puppetmaster.pub.asc"]);
        let method = Scheme::Gpg;
        let over = RecipientOverride {
            names: vec!["bob@example.com,puppetmaster".into()],
            file: None,
        };
        let insp = inspect_file(&keys, &file, method, &over).unwrap();
        let out = recrypt_files(&keys, std::slice::from_ref(&insp), method, false, &|| {});
        std::fs::write(&file, "edited meanwhile\n").unwrap();
        let w = write_files(std::slice::from_ref(&insp), &out, false, false);
        assert_eq!(w.written, vec![false]);
        assert!(matches!(w.errors[..], [Error::ChangedOnDisk(_)]));
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "edited meanwhile\n"
        );
        // Another failure stops every write unless keep_going.
        std::fs::copy(src, &file).unwrap();
        let w = write_files(std::slice::from_ref(&insp), &out, true, false);
        assert_eq!((w.written, w.errors.len()), (vec![false], 0));
        let w = write_files(std::slice::from_ref(&insp), &out, true, true);
        assert_eq!(w.written, vec![true]);
    }
}
