//! The recipients lock: for each recipients file, the certificates it resolved to when someone
//! last reviewed it (`eyaml-gpg keys ack`). `check` reports any recipients file whose resolved
//! set differs, so a key slipped into a recipients file shows up in review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::crypto::Backend;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::recipients::{self, classify, Query};

/// A recipients lock file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lock {
    /// Where it is.
    pub path: PathBuf,
    /// Recipients file (path relative to the lock's directory, `/`-separated) → fingerprints
    /// (or, for a line that names no single certificate, the line as written).
    pub files: BTreeMap<String, BTreeSet<String>>,
}

const HEADER: &str =
    "# eyaml-gpg recipients lock: the certificates each recipients file named when it was\n\
# last reviewed. Written by `eyaml-gpg keys ack`; `eyaml-gpg check` reports any difference.\n";

impl Lock {
    /// Reads the lock at `path`; a file that does not exist yet is an empty lock.
    pub fn read(path: &Path) -> Result<Lock> {
        let mut lock = Lock {
            path: path.to_path_buf(),
            files: BTreeMap::new(),
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(lock),
            Err(e) => return Err(Error::io(path, e)),
        };
        if text.trim().is_empty() {
            return Ok(lock);
        }
        let files: Option<BTreeMap<String, Vec<String>>> =
            serde_saphyr::from_str(&text).map_err(|e| {
                let (line, column) = e
                    .location()
                    .map(|l| (l.line() as usize, l.column() as usize))
                    .unwrap_or((0, 0));
                Error::Yaml {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message: e.without_snippet().to_string(),
                }
            })?;
        lock.files = files
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect();
        Ok(lock)
    }

    /// The lock's text: a comment, then one mapping entry per recipients file.
    pub fn render(&self) -> String {
        let mut s = HEADER.to_string();
        for (file, fprs) in &self.files {
            s.push_str(&format!("{}:\n", quote(file)));
            for f in fprs {
                s.push_str(&format!("  - {}\n", quote(f)));
            }
        }
        s
    }

    /// Writes the lock atomically.
    pub fn write(&self) -> Result<()> {
        fsutil::write_atomic(&self.path, self.render().as_bytes(), Some(0o644))
    }

    /// Records what `recipients_file` names now; returns the identities added and removed
    /// since the last record.
    pub fn acknowledge(
        &mut self,
        backend: &dyn Backend,
        recipients_file: &Path,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let text = fsutil::read_text(recipients_file)?;
        let now: BTreeSet<String> = identities(backend, &text)
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        let key = self.key(recipients_file);
        let before = self.files.get(&key).cloned().unwrap_or_default();
        let added = now.difference(&before).cloned().collect();
        let removed = before.difference(&now).cloned().collect();
        self.files.insert(key, now);
        Ok((added, removed))
    }

    /// The lock's key for a recipients file: its real path relative to the lock's directory.
    pub fn key(&self, recipients_file: &Path) -> String {
        let base = self
            .path
            .parent()
            .and_then(|d| {
                if d.as_os_str().is_empty() {
                    Path::new(".").canonicalize().ok()
                } else {
                    d.canonicalize().ok()
                }
            })
            .unwrap_or_default();
        let real = recipients_file
            .canonicalize()
            .unwrap_or_else(|_| recipients_file.to_path_buf());
        match real.strip_prefix(&base) {
            Ok(rel) => rel.to_string_lossy().replace('\\', "/"),
            Err(_) => real.to_string_lossy().into_owned(),
        }
    }
}

/// Single-quotes a YAML scalar when it could be read as something else.
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
        && !s.starts_with(['-', '.']);
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// What one recipient line names: the fingerprint of the one certificate it matches, the
/// fingerprint written out for a certificate not at hand, else the line as written.
pub fn identity(backend: &dyn Backend, recipient: &str) -> String {
    let found = backend.recipient_status(recipient);
    match (found.len(), classify(recipient)) {
        (1, _) => found[0].fingerprint.clone(),
        (_, Query::Fingerprint(fp, _)) => fp,
        _ => recipient.to_string(),
    }
}

/// Every recipient line of a recipients file's text with what it names:
/// (1-based line, identity).
pub fn identities(backend: &dyn Backend, text: &str) -> Vec<(usize, String)> {
    recipients::parse_lines(text)
        .into_iter()
        .map(|l| (l.number, identity(backend, &l.recipient)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recipients.lock");
        assert_eq!(Lock::read(&path).unwrap().files.len(), 0, "missing: empty");
        let mut lock = Lock {
            path: path.clone(),
            files: BTreeMap::new(),
        };
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        lock.files.insert(
            "hieradata/hiera-eyaml-gpg.recipients".into(),
            set(&[
                "617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1",
                "name: with colon",
            ]),
        );
        lock.files
            .insert("a b/hiera-eyaml-gpg.recipients".into(), set(&["it's"]));
        lock.write().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# eyaml-gpg recipients lock"), "{text}");
        assert!(
            text.contains("'a b/hiera-eyaml-gpg.recipients':\n  - 'it''s'\n"),
            "{text}"
        );
        assert!(text.contains("  - 'name: with colon'\n"), "{text}");
        assert_eq!(Lock::read(&path).unwrap(), lock);
        std::fs::write(&path, "a: [\n").unwrap();
        assert!(matches!(Lock::read(&path), Err(Error::Yaml { .. })));
    }
}
