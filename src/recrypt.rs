//! Re-encryption of values whose recipients changed, and migration of values from one scheme to
//! the other: picks the values to redo from an inspection ([`FileInspection`]), decrypts and
//! encrypts them again with a fresh session key (in parallel across files and values), and
//! renders each file with only those tokens replaced, so every other byte stays as it was.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use rayon::prelude::*;

use crate::crypto::{EncryptionKey, KeyId};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::scheme::{self, KeyMaterial, Scheme};
use crate::stale::inspect_file;
use crate::token::{EncToken, Located, Token};

/// Which values are stale: the inspection `recrypt` and `check` build on.
pub use crate::stale::{desired_for, Desired, FileInspection, RecipientOverride, StateCounts};
pub use crate::stale::{ValueReport, ValueState};

/// Whether a value is to be re-encrypted: stale ones always; with `all`, every value that
/// can be read (current ones and those with hidden recipients). Unreadable values never: they
/// are reported and left as they are.
pub fn selected(value: &ValueReport, all: bool) -> bool {
    match value.state {
        ValueState::Stale { .. }
        | ValueState::Migrate { .. }
        | ValueState::OtherCertificate { .. } => true,
        ValueState::Current | ValueState::Wildcard { .. } => all,
        ValueState::Unreadable(_) => false,
    }
}

/// Decrypts one value (with its own scheme, `method` when it has none) and encrypts its
/// plaintext in scheme `to` (to `keys` for GPG, to the PKCS7 certificate of `material` for
/// PKCS7) with a fresh session key, rendered in the value's own form (string or block with its
/// indentation) with the canonical tag (whatever case or absence of a tag the old value had).
pub fn recrypt_value(
    material: &dyn KeyMaterial,
    enc: &EncToken,
    method: Scheme,
    to: Scheme,
    keys: &[EncryptionKey],
) -> Result<String> {
    let plaintext = scheme::decrypt(material, enc, method)?;
    to.encrypt(material, keys, &plaintext, &enc.form)
}

/// Inspects `paths` in parallel for values to end in scheme `target`: the files that could be
/// read, in order, and the errors of those that could not.
pub fn inspect_files(
    keys: &dyn KeyMaterial,
    paths: &[PathBuf],
    method: Scheme,
    target: Scheme,
    over: &RecipientOverride,
) -> (Vec<FileInspection>, Vec<Error>) {
    let inspected: Vec<Result<FileInspection>> = paths
        .par_iter()
        .map(|p| inspect_file(keys, p, method, target, over))
        .collect();
    let mut files = Vec::new();
    let mut broken = Vec::new();
    for r in inspected {
        match r {
            Ok(f) => files.push(f),
            Err(e) => broken.push(e),
        }
    }
    (files, broken)
}

/// What re-encryption did to one file, keyed by value position (in
/// [`FileInspection::values`]).
#[derive(Debug, Default)]
pub struct FileOutcome {
    /// Positions of the values re-encrypted.
    pub recrypted: Vec<usize>,
    /// Values that failed: position and why (the value's place is in its
    /// [`ValueReport`]).
    pub errors: Vec<(usize, Error)>,
    /// The new text, when at least one value was re-encrypted and none failed.
    pub text: Option<String>,
}

impl FileOutcome {
    /// Whether every selected value of the file succeeded.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Re-encrypts the selected values of every file (see [`selected`]) in scheme `target` (the
/// one the files were inspected for), in parallel across files and values; `progress` is
/// called once per value done. Returns one outcome per file, in order. Nothing is written
/// here.
pub fn recrypt_files(
    keys: &dyn KeyMaterial,
    files: &[FileInspection],
    method: Scheme,
    target: Scheme,
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
            let result = match (&file.tokens[value.index].token, &file.desired, target) {
                (Token::Enc(enc), Some(desired), _) => {
                    recrypt_value(keys, enc, method, target, &desired.keys)
                }
                (Token::Enc(enc), None, Scheme::Pkcs7) => {
                    recrypt_value(keys, enc, method, target, &[])
                }
                // Inspected for GPG, a file with values has desired keys; values are ENC tokens.
                _ => Err(Error::NoRecipients),
            };
            progress();
            (fi, vi, result)
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
            Err(e) => outcomes[fi].errors.push((vi, e)),
        }
    }
    for outcome in &mut outcomes {
        outcome.errors.sort_by_key(|(vi, _)| *vi);
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
    /// Per file: whether it was left as is because it changed on disk after it was read (a
    /// concurrent edit or recrypt); each such file also has an [`Error::ChangedOnDisk`] in
    /// `errors`.
    pub skipped: Vec<bool>,
    /// Files that could not be written (changed on disk meanwhile, I/O errors).
    pub errors: Vec<Error>,
}

impl Written {
    /// Nothing written yet, for `n` files.
    pub fn none(n: usize) -> Written {
        Written {
            written: vec![false; n],
            skipped: vec![false; n],
            errors: Vec::new(),
        }
    }
}

/// Writes the new texts of `outcomes`. Without `keep_going`, nothing is written when any file
/// failed (a value in `outcomes`, or `other_failures`, e.g. files that could not be
/// inspected) and nothing when any file cannot be written. Every file is first checked to be
/// unchanged on disk since it was inspected, then staged (written and flushed next to its
/// target), and only then is each staged file renamed into place, after checking once more,
/// under the directory lock, that the file still holds exactly the bytes inspected
/// (`fsutil::Staged::commit_if_unchanged`): a change made at any moment after the
/// inspection is never overwritten, and that file is reported in [`Written::skipped`].
pub fn write_files(
    files: &[FileInspection],
    outcomes: &[FileOutcome],
    other_failures: bool,
    keep_going: bool,
) -> Written {
    let mut out = Written::none(files.len());
    let failed = other_failures || outcomes.iter().any(|o| !o.ok());
    if failed && !keep_going {
        return out;
    }
    let mut plan = Vec::new();
    for (i, (f, o)) in files.iter().zip(outcomes).enumerate() {
        if let Some(text) = &o.text {
            match fsutil::read_bytes(&f.path) {
                Ok(now) if now == f.text.as_bytes() => plan.push((i, text)),
                Ok(_) | Err(Error::NotRegularFile { .. } | Error::IsADirectory { .. }) => {
                    out.skipped[i] = true;
                    out.errors.push(Error::ChangedOnDisk(f.path.clone()));
                }
                Err(e) => out.errors.push(e),
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
        fsutil::test_pause_before_rename();
        for (i, s) in staged {
            match s.commit_if_unchanged(Some(files[i].text.as_bytes())) {
                Ok(()) => out.written[i] = true,
                Err(e) => {
                    out.skipped[i] = matches!(e, Error::ChangedOnDisk(_));
                    out.errors.push(e);
                }
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

/// A key a value should be encrypted to, in a report.
#[derive(Clone, Debug, Serialize)]
pub struct KeyReport {
    /// The primary key fingerprint.
    pub fingerprint: String,
    /// The encryption subkey id.
    pub key_id: String,
    /// The recipient string it was resolved from.
    pub recipient: String,
    /// The primary user id.
    pub user_id: Option<String>,
}

impl From<&EncryptionKey> for KeyReport {
    fn from(k: &EncryptionKey) -> Self {
        KeyReport {
            fingerprint: k.cert.fingerprint.clone(),
            key_id: k.subkey_id.to_string(),
            recipient: k.recipient.clone(),
            user_id: k.cert.user_id.clone(),
        }
    }
}

/// A key id a value is encrypted to, described from the keys at hand where known.
#[derive(Clone, Debug, Serialize)]
pub struct KeyIdReport {
    /// The certificate's fingerprint, when the key is known.
    pub fingerprint: Option<String>,
    /// The key id.
    pub key_id: String,
    /// The certificate's user id, when known.
    pub user_id: Option<String>,
}

impl KeyIdReport {
    fn new(keys: &dyn KeyMaterial, id: &KeyId) -> KeyIdReport {
        let c = keys.gpg().describe(id);
        KeyIdReport {
            fingerprint: c.as_ref().map(|c| c.fingerprint.clone()),
            key_id: id.to_string(),
            user_id: c.and_then(|c| c.user_id),
        }
    }
}

/// One value in a report (fields in the JSON key order).
#[derive(Clone, Debug, Serialize)]
pub struct ValueOutcome {
    /// Stale: desired keys it is not encrypted to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added: Option<Vec<KeyReport>>,
    /// Stale PKCS7 value: the certificates (issuer and serial) it is encrypted to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificates: Option<Vec<String>>,
    /// 1-based column.
    pub column: usize,
    /// Why it is unreadable, or why re-encrypting it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Migrate: the scheme it is in (`GPG`, `PKCS7`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<&'static str>,
    /// Token index in the file.
    pub index: usize,
    /// The text before it on its line (usually the key).
    pub label: String,
    /// 1-based line.
    pub line: usize,
    /// Wildcard: the key ids that are named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named: Option<Vec<KeyIdReport>>,
    /// Whether it is selected for re-encryption.
    pub recrypt: bool,
    /// Whether it was re-encrypted and written.
    pub recrypted: bool,
    /// Stale: key ids it is encrypted to that are no longer desired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<Vec<KeyIdReport>>,
    /// `current`, `stale`, `migrate`, `wildcard` or `unreadable`.
    pub state: &'static str,
}

/// One file in a report (fields in the JSON key order).
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    /// Why the file could not be inspected.
    pub error: Option<String>,
    /// The desired keys.
    pub keys: Vec<KeyReport>,
    /// The file.
    pub path: Option<PathBuf>,
    /// The desired recipient strings.
    pub recipients: Vec<String>,
    /// Where they came from (`null` for `--gpg-recipients`).
    pub recipients_file: Option<PathBuf>,
    /// Whether it was left as is because it changed on disk after it was read (a concurrent
    /// edit or recrypt): its values were not re-encrypted; run `recrypt` again.
    pub skipped: bool,
    /// Its values.
    pub values: Vec<ValueOutcome>,
    /// Whether it was rewritten.
    pub written: bool,
}

/// The tallies of a run, computed once (the JSON `summary`, and the lines printed).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Tally {
    /// Values encrypted to exactly the desired keys.
    pub current: usize,
    /// Values that failed to re-encrypt.
    pub failed: usize,
    /// Values of the other scheme, to be migrated.
    pub migrate: usize,
    /// Values migrated and written.
    pub migrated: usize,
    /// Files that could not be inspected.
    pub file_errors: usize,
    /// Files, inspected or not.
    pub files: usize,
    /// Values selected for re-encryption.
    pub recrypt: usize,
    /// Values re-encrypted and written.
    pub recrypted: usize,
    /// Files left as is because they changed on disk after they were read.
    pub skipped: usize,
    /// Stale values.
    pub stale: usize,
    /// Unreadable values.
    pub unreadable: usize,
    /// All values.
    pub values: usize,
    /// Values with hidden recipients.
    pub wildcard: usize,
    /// Files with at least one selected value.
    #[serde(skip)]
    pub files_selected: usize,
    /// Files rewritten.
    #[serde(skip)]
    pub files_written: usize,
}

impl Tally {
    /// The per-state counts.
    pub fn states(&self) -> StateCounts {
        StateCounts {
            current: self.current,
            stale: self.stale,
            migrate: self.migrate,
            wildcard: self.wildcard,
            unreadable: self.unreadable,
        }
    }
}

/// A recrypt run: every value's state and outcome (the `--format json` report, README).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `--all`.
    pub all: bool,
    /// `-d`: the scheme every value is to end in (`gpg`, `pkcs7`).
    pub change_encryption: &'static str,
    /// `--dry-run`.
    pub dry_run: bool,
    /// Per file: the inspected ones in order, then those that could not be inspected.
    pub files: Vec<FileReport>,
    /// The tallies.
    pub summary: Tally,
}

impl Report {
    /// The report of inspected `files`, files that could not be inspected (`broken`), and,
    /// after a run (not a dry run), its outcomes and which files were written.
    pub fn new(
        keys: &dyn KeyMaterial,
        files: &[FileInspection],
        broken: &[Error],
        done: Option<(&[FileOutcome], &Written)>,
        target: Scheme,
        all: bool,
    ) -> Report {
        let mut t = Tally {
            files: files.len() + broken.len(),
            file_errors: broken.len(),
            ..Tally::default()
        };
        let mut out = Vec::new();
        for (i, f) in files.iter().enumerate() {
            let c = f.counts();
            t.current += c.current;
            t.stale += c.stale;
            t.migrate += c.migrate;
            t.wildcard += c.wildcard;
            t.unreadable += c.unreadable;
            let outcome = done.map(|(o, w)| (&o[i], w.written[i]));
            let written = outcome.is_some_and(|(_, w)| w);
            let skipped = done.is_some_and(|(_, w)| w.skipped[i]);
            t.files_written += usize::from(written);
            t.skipped += usize::from(skipped);
            let failed: HashMap<usize, &Error> = outcome
                .map(|(o, _)| o.errors.iter().map(|(vi, e)| (*vi, e)).collect())
                .unwrap_or_default();
            let mut any_selected = false;
            let values = f
                .values
                .iter()
                .enumerate()
                .map(|(vi, v)| {
                    let sel = selected(v, all);
                    any_selected |= sel;
                    let failure = failed.get(&vi);
                    let recrypted = written && sel && failure.is_none();
                    t.recrypt += usize::from(sel);
                    t.failed += usize::from(failure.is_some());
                    t.recrypted += usize::from(recrypted);
                    t.migrated +=
                        usize::from(recrypted && matches!(v.state, ValueState::Migrate { .. }));
                    let mut o = ValueOutcome {
                        added: None,
                        certificates: None,
                        column: v.column,
                        error: failure.map(|e| e.to_string()),
                        from: None,
                        index: v.index,
                        label: v.label.clone(),
                        line: v.line,
                        named: None,
                        recrypt: sel,
                        recrypted,
                        removed: None,
                        state: state_name(&v.state),
                    };
                    match &v.state {
                        ValueState::Stale { added, removed } => {
                            o.added = Some(added.iter().map(KeyReport::from).collect());
                            o.removed = Some(
                                removed
                                    .iter()
                                    .map(|id| KeyIdReport::new(keys, id))
                                    .collect(),
                            );
                        }
                        ValueState::Migrate { from } => o.from = Some(from.tag()),
                        ValueState::OtherCertificate { named } => {
                            o.certificates = Some(named.iter().map(|r| r.to_string()).collect());
                        }
                        ValueState::Wildcard { named } => {
                            o.named =
                                Some(named.iter().map(|id| KeyIdReport::new(keys, id)).collect());
                        }
                        ValueState::Unreadable(e) if o.error.is_none() => {
                            o.error = Some(e.to_string())
                        }
                        _ => {}
                    }
                    o
                })
                .collect();
            t.values += f.values.len();
            t.files_selected += usize::from(any_selected);
            out.push(FileReport {
                error: None,
                keys: f
                    .desired
                    .as_ref()
                    .map(|d| d.keys.iter().map(KeyReport::from).collect())
                    .unwrap_or_default(),
                path: Some(f.path.clone()),
                recipients: f
                    .desired
                    .as_ref()
                    .map(|d| d.recipients.names.clone())
                    .unwrap_or_default(),
                recipients_file: f
                    .desired
                    .as_ref()
                    .and_then(|d| d.recipients.file().map(Path::to_path_buf)),
                skipped,
                values,
                written,
            });
        }
        for e in broken {
            let path = match e {
                Error::InFile { path, .. }
                | Error::Io { path, .. }
                | Error::NotUtf8 { path, .. } => Some(path.clone()),
                _ => None,
            };
            out.push(FileReport {
                error: Some(e.to_string()),
                keys: Vec::new(),
                path,
                recipients: Vec::new(),
                recipients_file: None,
                skipped: false,
                values: Vec::new(),
                written: false,
            });
        }
        Report {
            all,
            change_encryption: target.method(),
            dry_run: done.is_none(),
            files: out,
            summary: t,
        }
    }

    /// The JSON report, pretty-printed, with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

fn state_name(s: &ValueState) -> &'static str {
    match s {
        ValueState::Current => "current",
        ValueState::Stale { .. } | ValueState::OtherCertificate { .. } => "stale",
        ValueState::Migrate { .. } => "migrate",
        ValueState::Wildcard { .. } => "wildcard",
        ValueState::Unreadable(_) => "unreadable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Backend;
    use crate::pgp::Keystore;
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
            let out = recrypt_value(&keys, &enc, Scheme::Gpg, Scheme::Gpg, &to).unwrap();
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
        let insp = inspect_file(&keys, &file, method, method, &same).unwrap();
        assert_eq!(insp.counts().current, 4);
        let out = recrypt_files(
            &keys,
            std::slice::from_ref(&insp),
            method,
            method,
            false,
            &|| {},
        );
        assert!(out[0].text.is_none(), "nothing stale, nothing rendered");

        let more = RecipientOverride {
            names: vec!["bob@example.com,puppetmaster".into()],
            file: None,
        };
        let insp = inspect_file(&keys, &file, method, method, &more).unwrap();
        assert_eq!(insp.counts().stale, 4);
        let out = recrypt_files(
            &keys,
            std::slice::from_ref(&insp),
            method,
            method,
            false,
            &|| {},
        );
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
        let after = inspect_file(&keys, &file, method, method, &more).unwrap();
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
        let insp = inspect_file(&keys, &file, method, method, &over).unwrap();
        let out = recrypt_files(
            &keys,
            std::slice::from_ref(&insp),
            method,
            method,
            false,
            &|| {},
        );
        std::fs::write(&file, "edited meanwhile\n").unwrap();
        let w = write_files(std::slice::from_ref(&insp), &out, false, false);
        assert_eq!(w.written, vec![false]);
        assert!(matches!(w.errors[..], [Error::ChangedOnDisk(_)]));
        assert_eq!(w.skipped, vec![true]);
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

    #[test]
    fn report_keys_outcomes_by_value_and_tallies_once() {
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
        let broken_path = dir.path().join("missing.eyaml");
        let (files, broken) =
            inspect_files(&keys, &[file.clone(), broken_path], method, method, &over);
        assert_eq!((files.len(), broken.len()), (1, 1));
        let dry = Report::new(&keys, &files, &broken, None, method, false);
        assert!(dry.dry_run);
        let t = dry.summary;
        assert_eq!((t.files, t.file_errors, t.stale, t.recrypt), (2, 1, 4, 4));
        assert_eq!((t.files_selected, t.recrypted, t.failed), (1, 0, 0));
        let mut outcomes = recrypt_files(&keys, &files, method, method, false, &|| {});
        // A failure is keyed by value position, not found back by line and column.
        outcomes[0].errors.push((2, Error::NoRecipients));
        let mut w = Written::none(1);
        w.written[0] = true;
        let report = Report::new(&keys, &files, &[], Some((&outcomes, &w)), method, false);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        let values = json["files"][0]["values"].as_array().unwrap();
        assert_eq!(values[2]["error"], Error::NoRecipients.to_string());
        assert_eq!(values[2]["recrypted"], false);
        assert_eq!(values[0]["recrypted"], true);
        assert_eq!(json["summary"]["failed"], 1);
        assert_eq!(json["summary"]["recrypted"], 3);
        assert_eq!(values[0]["added"][0]["recipient"], "puppetmaster");
        assert!(json["summary"].get("files_written").is_none());
    }
}
