//! Who may read what: the recipients files under a tree with every line resolved to the
//! certificate it names and what is wrong with it (`keys list`), who can and who should decrypt
//! each file and value (`keys who`), and careful edits of recipients files (`keys add`, `rm`,
//! `replace`): only the lines concerned change, and every file is staged before any is replaced.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

/// A certificate's details, read from public keys only.
pub use crate::crypto::CertDetails;
use crate::crypto::KeyId;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::pgp::Keystore;
use crate::recipients::{self, classify, Query, RECIPIENTS_FILE};
use crate::scheme::Scheme;
use crate::stale;
use crate::token::{self, Kinds, Token};
use crate::tree::{Location, Patterns, Walk};

/// A problem with a recipient line or a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `error` (encryption fails or should not be trusted) or `warning`.
    pub severity: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

impl Problem {
    fn error(message: impl Into<String>) -> Problem {
        Problem {
            severity: "error",
            message: message.into(),
        }
    }

    fn warning(message: impl Into<String>) -> Problem {
        Problem {
            severity: "warning",
            message: message.into(),
        }
    }

    /// Whether the problem is an error.
    pub fn is_error(&self) -> bool {
        self.severity == "error"
    }
}

/// A certificate as `keys list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct CertView {
    /// Primary fingerprint.
    pub fingerprint: String,
    /// Primary user id.
    pub user_id: Option<String>,
    /// Encryption subkey algorithm and size GnuPG would use.
    pub encryption: Option<String>,
    /// Creation date, `YYYY-MM-DD`.
    pub created: String,
    /// Expiry date, `YYYY-MM-DD`, or `None` for never.
    pub expires: Option<String>,
    /// `full` (at least full in the GnuPG trust db), `not-full`, or `key-file` (a
    /// `--gpg-keyring` key: trusted because named).
    pub validity: &'static str,
}

/// One recipient line of a recipients file, resolved.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    /// The recipients file, as shown.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// The recipient string.
    pub recipient: String,
    /// The certificates it matches (one when all is well).
    pub certificates: Vec<CertView>,
    /// What is wrong.
    pub problems: Vec<Problem>,
}

/// The recipients files under `paths` (those in walked directories and those governing the
/// eyaml files found), real path → path as shown, in path order.
pub fn recipients_files(paths: &[PathBuf]) -> Result<BTreeMap<PathBuf, PathBuf>> {
    let set = Walk::new(Patterns::extension("eyaml")?)
        .recipients_select_dir(true)
        .work_tree(paths)?;
    let mut out = BTreeMap::new();
    for (loc, display) in set.recipients {
        if let Location::Disk(real) = loc {
            out.insert(real, display);
        }
    }
    Ok(out)
}

fn date(t: SystemTime) -> String {
    crate::datetime::date(t)
}

/// The problems of one certificate for encryption now: revoked, expired or expiring within
/// `warn`, no usable encryption subkey, an algorithm that cannot be used, weak, not valid in
/// the GnuPG trust db (`validity == Some(false)`).
pub fn problems(
    d: &CertDetails,
    validity: Option<bool>,
    now: SystemTime,
    warn: Duration,
) -> Vec<Problem> {
    let mut out = Vec::new();
    let expired = d.expires.is_some_and(|e| e <= now);
    if d.revoked {
        out.push(Problem::error("revoked"));
    } else if let Some(e) = d.expires {
        if expired {
            out.push(Problem::error(format!("expired on {}", date(e))));
        } else if e <= now + warn {
            let days = e.duration_since(now).unwrap_or_default().as_secs() / 86400;
            out.push(Problem::warning(format!(
                "expires on {} (in {days} day{})",
                date(e),
                if days == 1 { "" } else { "s" }
            )));
        }
    }
    if !d.usable && !d.revoked && !expired {
        out.push(Problem::error("no usable encryption subkey"));
    }
    for u in &d.unsupported {
        out.push(Problem::error(format!("algorithm {u}")));
    }
    for w in &d.weak {
        out.push(Problem::warning(format!("weak: {w}")));
    }
    if validity == Some(false) {
        out.push(Problem::error(
            "validity below full in the GnuPG trust db (encryption refuses it without --gpg-always-trust)",
        ));
    }
    out
}

fn view(store: &Keystore, d: &CertDetails) -> Result<CertView> {
    Ok(CertView {
        fingerprint: d.fingerprint.clone(),
        user_id: d.user_id.clone(),
        encryption: d.encryption_algorithm.clone(),
        created: date(d.created),
        expires: d.expires.map(date),
        validity: match store.gnupg_validity(&d.fingerprint)? {
            Some(true) => "full",
            Some(false) => "not-full",
            None => "key-file",
        },
    })
}

/// Every recipient line of the recipients files under `paths`, resolved against `store`,
/// with its problems (`warn`: how early an expiry is a warning).
pub fn list(
    store: &Keystore,
    paths: &[PathBuf],
    now: SystemTime,
    warn: Duration,
) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (real, display) in recipients_files(paths)? {
        let text = fsutil::read_text(&real)?;
        for line in recipients::parse_lines(&text) {
            let found = store.recipient_details(&line.recipient);
            let mut problems = Vec::new();
            match found.len() {
                0 => problems.push(Problem::error("no certificate found")),
                1 => {
                    let validity = store.gnupg_validity(&found[0].fingerprint)?;
                    problems.extend(self::problems(&found[0], validity, now, warn));
                }
                n => problems.push(Problem::error(format!(
                    "ambiguous: matches {n} certificates (name one by fingerprint)"
                ))),
            }
            if matches!(classify(&line.recipient), Query::KeyId(_, _)) && found.len() == 1 {
                problems.push(Problem::warning(
                    "named by key id: prefer the full fingerprint",
                ));
            }
            out.push(Entry {
                file: display.clone(),
                line: line.number,
                recipient: line.recipient,
                certificates: found
                    .iter()
                    .map(|d| view(store, d))
                    .collect::<Result<_>>()?,
                problems,
            });
        }
    }
    Ok(out)
}

/// The one certificate `key` names (GnuPG matching): [`Error::UnknownKey`] when none,
/// [`Error::AmbiguousKey`] when several.
pub fn resolve_key(store: &Keystore, key: &str) -> Result<CertDetails> {
    let mut found = store.recipient_details(key);
    match found.len() {
        0 => Err(Error::UnknownKey(key.to_string())),
        1 => Ok(found.remove(0)),
        _ => Err(Error::AmbiguousKey {
            key: key.to_string(),
            candidates: found.iter().map(label).collect(),
        }),
    }
}

/// `FINGERPRINT (user id)`.
pub fn label(d: &CertDetails) -> String {
    match &d.user_id {
        Some(u) => format!("{} ({u})", d.fingerprint),
        None => d.fingerprint.clone(),
    }
}

/// Refuses a certificate that `keys list` would report with an error.
pub fn require_usable(store: &Keystore, d: &CertDetails, now: SystemTime) -> Result<()> {
    let validity = store.gnupg_validity(&d.fingerprint)?;
    let errors: Vec<String> = problems(d, validity, now, Duration::ZERO)
        .into_iter()
        .filter(Problem::is_error)
        .map(|p| p.message)
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::UnusableKey {
            key: label(d),
            problems: errors,
        })
    }
}

/// Who can decrypt one value, next to who should.
#[derive(Clone, Debug, Serialize)]
pub struct ValueAccess {
    /// 1-based line.
    pub line: usize,
    /// The YAML key before the value on its line.
    pub key: String,
    /// Who can decrypt it (from its PKESK key ids): `FINGERPRINT (uid)`, or `key id X
    /// (unknown)`.
    pub can: Vec<String>,
    /// Who should and cannot.
    pub missing: Vec<String>,
    /// Who can and should not.
    pub extra: Vec<String>,
    /// Why the value's recipients cannot be read, if so.
    pub unreadable: Option<String>,
}

/// Who can and who should decrypt a file's values.
#[derive(Clone, Debug, Serialize)]
pub struct FileAccess {
    /// The eyaml file, as shown.
    pub file: PathBuf,
    /// The recipients file that governs it.
    pub recipients_file: Option<PathBuf>,
    /// Who should (its recipients file, resolved; unresolved lines as `name (not found)`).
    pub should: Vec<String>,
    /// Who can decrypt at least one value.
    pub can: Vec<String>,
    /// Who should and cannot decrypt at least one value.
    pub missing: Vec<String>,
    /// Who can decrypt at least one value and should not.
    pub extra: Vec<String>,
    /// Every encrypted value (GPG ones).
    pub values: Vec<ValueAccess>,
}

fn holder(store: &Keystore, id: &KeyId) -> String {
    match store.details_by_key_id(id) {
        Some(d) => label(&d),
        None => format!("key id {id} (unknown)"),
    }
}

/// Who can decrypt each value of the eyaml files under `paths` (public keys only), next to
/// who their recipients files say should.
pub fn who(store: &Keystore, paths: &[PathBuf], method: Scheme) -> Result<Vec<FileAccess>> {
    let set = Walk::new(Patterns::extension("eyaml")?).work_tree(paths)?;
    let mut should_cache: BTreeMap<Location, Vec<String>> = BTreeMap::new();
    let mut out = Vec::new();
    for f in &set.files {
        let Some(path) = f.path() else { continue };
        let should = match &f.recipients {
            Some(loc @ Location::Disk(p)) => should_cache
                .entry(loc.clone())
                .or_insert_with(|| {
                    recipients::read_file(p)
                        .unwrap_or_default()
                        .iter()
                        .map(|name| match resolve_key(store, name) {
                            Ok(d) => label(&d),
                            Err(_) => format!("{name} (not found)"),
                        })
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect()
                })
                .clone(),
            _ => Vec::new(),
        };
        let text = fsutil::read_text(path)?;
        let want: BTreeSet<&String> = should.iter().collect();
        let mut values = Vec::new();
        for t in token::scan(&text, Kinds::ENC) {
            let Token::Enc(enc) = &t.token else { continue };
            let key = stale::label_at(&text, t.offset);
            let (can, unreadable) = match stale::message_info(store, enc, method) {
                Ok(info) => {
                    let mut c: BTreeSet<String> = info
                        .recipient_ids()
                        .iter()
                        .map(|id| holder(store, id))
                        .collect();
                    if info.has_wildcard() {
                        c.insert("a hidden recipient".into());
                    }
                    (c, None)
                }
                Err(e) => (BTreeSet::new(), Some(e.to_string())),
            };
            let have: BTreeSet<&String> = can.iter().collect();
            values.push(ValueAccess {
                line: t.line,
                key,
                missing: if unreadable.is_some() {
                    Vec::new()
                } else {
                    want.difference(&have).map(|s| s.to_string()).collect()
                },
                extra: have.difference(&want).map(|s| s.to_string()).collect(),
                can: can.into_iter().collect(),
                unreadable,
            });
        }
        let can: BTreeSet<String> = values.iter().flat_map(|v| v.can.clone()).collect();
        let missing: BTreeSet<String> = values.iter().flat_map(|v| v.missing.clone()).collect();
        let extra: BTreeSet<String> = values.iter().flat_map(|v| v.extra.clone()).collect();
        out.push(FileAccess {
            file: f.display.clone(),
            recipients_file: f
                .recipients
                .as_ref()
                .and_then(|l| set.recipients.get(l).cloned()),
            should,
            can: can.into_iter().collect(),
            missing: missing.into_iter().collect(),
            extra: extra.into_iter().collect(),
            values,
        });
    }
    Ok(out)
}

/// One recipients file to rewrite.
#[derive(Clone, Debug)]
pub struct Edit {
    /// The file, as shown.
    pub path: PathBuf,
    /// Its text now (empty for a new file).
    pub before: String,
    /// Its text after the edit.
    pub after: String,
    /// Whether the file is created.
    pub created: bool,
    /// What changes, for people (`+ FPR (uid)`, `- line 3: bob@example.com`).
    pub changes: Vec<String>,
}

/// The edits of one command, decided before anything is written.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The files to rewrite.
    pub edits: Vec<Edit>,
    /// Files left alone, and why (`already a recipient`).
    pub unchanged: Vec<(PathBuf, String)>,
}

/// The line a careful person writes for a certificate: the fingerprint, then its user id as
/// a comment (a trailing ` # …` is a comment in recipients files).
pub fn recipient_line(d: &CertDetails) -> String {
    match &d.user_id {
        Some(u) => format!("{} # {}", d.fingerprint, u.replace(['\n', '\r'], " ")),
        None => d.fingerprint.clone(),
    }
}

/// Whether recipient string `recipient` names the certificate `fingerprint`: through the
/// store, or (for a certificate no longer at hand) by the fingerprint written out.
fn names(store: &Keystore, recipient: &str, fingerprint: &str) -> bool {
    if let Query::Fingerprint(fp, _) = classify(recipient) {
        if fp == fingerprint {
            return true;
        }
    }
    store
        .recipient_details(recipient)
        .iter()
        .any(|d| d.fingerprint == fingerprint)
}

fn append_line(text: &str, line: &str) -> String {
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(line);
    out.push('\n');
    out
}

/// Plans `keys add`: the certificate appended to the recipients file of each directory. A
/// directory without one gets a new file holding the list it inherited (so that nobody loses
/// access) plus the key.
pub fn plan_add(store: &Keystore, cert: &CertDetails, dirs: &[PathBuf]) -> Result<Plan> {
    let mut plan = Plan::default();
    let mut seen = BTreeSet::new();
    for dir in dirs {
        if !dir.is_dir() {
            return Err(Error::PathArgument {
                path: dir.clone(),
                source: std::sync::Arc::new(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not a directory",
                )),
            });
        }
        let path = dir.join(RECIPIENTS_FILE);
        if !seen.insert(path.canonicalize().unwrap_or_else(|_| path.clone())) {
            continue;
        }
        let exists = std::fs::symlink_metadata(&path).is_ok();
        let (before, inherited) = if exists {
            (fsutil::read_text(&path)?, None)
        } else {
            match recipients::find_file(dir) {
                Some(parent) => (String::new(), Some((fsutil::read_text(&parent)?, parent))),
                None => (String::new(), None),
            }
        };
        let base = match &inherited {
            Some((text, from)) => format!(
                "# Recipients of this directory (copied from {}, then {} added).\n{text}",
                from.display(),
                cert.fingerprint
            ),
            None => before.clone(),
        };
        let already = recipients::parse_lines(&base)
            .iter()
            .any(|l| names(store, &l.recipient, &cert.fingerprint));
        if already {
            plan.unchanged.push((path, "already a recipient".into()));
            continue;
        }
        plan.edits.push(Edit {
            path: path.clone(),
            after: append_line(&base, &recipient_line(cert)),
            before,
            created: !exists,
            changes: vec![format!("+ {}", label(cert))],
        });
    }
    Ok(plan)
}

/// The certificate (fingerprint and label) `key` names for removal: through the store, or a
/// fingerprint written out for a certificate no longer at hand.
pub fn removal_target(store: &Keystore, key: &str) -> Result<(String, String)> {
    match resolve_key(store, key) {
        Ok(d) => Ok((d.fingerprint.clone(), label(&d))),
        Err(Error::UnknownKey(k)) => match classify(&k) {
            Query::Fingerprint(fp, _) => Ok((fp.clone(), fp)),
            _ => Err(Error::UnknownKey(k)),
        },
        Err(e) => Err(e),
    }
}

/// Plans `keys rm` (`replacement: None`) and `keys replace`: every line naming `fingerprint`
/// in `files` removed, or rewritten as the replacement's line (removed when the replacement is
/// already there). Removing a file's last recipient is refused; a key found in no file is
/// [`Error::NotARecipient`].
pub fn plan_remove(
    store: &Keystore,
    key: &str,
    fingerprint: &str,
    replacement: Option<&CertDetails>,
    files: &BTreeMap<PathBuf, PathBuf>,
) -> Result<Plan> {
    let mut plan = Plan::default();
    for (real, display) in files {
        let text = fsutil::read_text(real)?;
        let lines = recipients::parse_lines(&text);
        let hits: Vec<&recipients::Line> = lines
            .iter()
            .filter(|l| names(store, &l.recipient, fingerprint))
            .collect();
        if hits.is_empty() {
            continue;
        }
        let new_present = replacement.is_some_and(|r| {
            lines
                .iter()
                .any(|l| names(store, &l.recipient, &r.fingerprint))
        });
        let mut after = String::with_capacity(text.len());
        let mut at = 0;
        let mut changes = Vec::new();
        let mut replaced = false;
        for h in &hits {
            after.push_str(&text[at..h.span.start]);
            match replacement {
                Some(r) if !new_present && !replaced => {
                    // Same indentation and line end: only the recipient and its comment change.
                    after.push_str(&text[h.span.start..h.recipient_span.start]);
                    after.push_str(&recipient_line(r));
                    let end = &text[h.span.clone()];
                    let ending = &end[end.trim_end_matches(['\n', '\r']).len()..];
                    after.push_str(ending);
                    replaced = true;
                    changes.push(format!(
                        "~ line {}: {} -> {}",
                        h.number,
                        h.recipient,
                        label(r)
                    ));
                }
                _ => changes.push(format!("- line {}: {}", h.number, h.recipient)),
            }
            at = h.span.end;
        }
        after.push_str(&text[at..]);
        if recipients::parse_lines(&after).is_empty() {
            return Err(Error::LastRecipient {
                path: display.clone(),
                key: key.to_string(),
            });
        }
        plan.edits.push(Edit {
            path: display.clone(),
            before: text,
            after,
            created: false,
            changes,
        });
    }
    if plan.edits.is_empty() {
        return Err(Error::NotARecipient {
            key: key.to_string(),
            files: files.values().map(|p| p.display().to_string()).collect(),
        });
    }
    Ok(plan)
}

/// Refuses a recipients file that is a symbolic link (the edit would land elsewhere, maybe
/// outside the repository) or that cannot be written, or whose directory cannot take the
/// temp file of an atomic write.
fn editable(path: &Path, created: bool) -> Result<()> {
    let refuse = |reason: &str| Error::RecipientsNotEditable {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    use nix::unistd::{access, AccessFlags};
    if !created {
        let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.file_type().is_symlink() {
            return Err(refuse("it is a symbolic link (edit the file it points to)"));
        }
        // Root passes access(2) on any file: a file nobody may write is read-only on purpose.
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o222 == 0 || access(path, AccessFlags::W_OK).is_err() {
            return Err(refuse("it is not writable"));
        }
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if access(dir, AccessFlags::W_OK | AccessFlags::X_OK).is_err() {
        return Err(refuse("its directory is not writable"));
    }
    Ok(())
}

/// Writes a plan: every file checked and staged first, then all replaced, so any error leaves
/// every file as it was. A file changed on disk since it was planned is refused.
pub fn apply(plan: &Plan) -> Result<()> {
    for e in &plan.edits {
        editable(&e.path, e.created)?;
        let now = if e.created {
            String::new()
        } else {
            fsutil::read_text(&e.path)?
        };
        if now != e.before || (e.created && e.path.exists()) {
            return Err(Error::RecipientsNotEditable {
                path: e.path.clone(),
                reason: "it changed on disk while being edited".into(),
            });
        }
    }
    let mut staged = Vec::with_capacity(plan.edits.len());
    for e in &plan.edits {
        // A recipients file names public keys only: readable like the rest of the repository.
        let mode = e.created.then_some(0o644);
        staged.push(fsutil::stage(&e.path, e.after.as_bytes(), mode)?);
    }
    for s in staged {
        s.commit()?;
    }
    Ok(())
}

/// The eyaml files governed by the recipients files of `plan` (not those below a nearer
/// recipients file), for the stale figures and `--recrypt` after an edit.
pub fn governed_files(plan: &Plan) -> Result<Vec<PathBuf>> {
    let edited: Vec<PathBuf> = plan
        .edits
        .iter()
        .filter_map(|e| e.path.canonicalize().ok())
        .collect();
    let set = Walk::new(Patterns::extension("eyaml")?)
        .recipients_select_dir(true)
        .work_tree(
            &plan
                .edits
                .iter()
                .map(|e| e.path.clone())
                .collect::<Vec<_>>(),
        )?;
    Ok(set
        .files
        .iter()
        .filter(|f| matches!(&f.recipients, Some(Location::Disk(r)) if edited.contains(r)))
        .filter_map(|f| f.path().map(Path::to_path_buf))
        .collect())
}

/// Writes the public certificate, armoured, as `dir/FINGERPRINT.asc` (creating `dir`): a
/// keyring kept in the repository, read with `--gpg-keyring dir` (or `gpg_keyring:` in a
/// config file). Returns the path written.
pub fn store_certificate(store: &Keystore, cert: &CertDetails, dir: &Path) -> Result<PathBuf> {
    let armored = store
        .armored_public(&cert.fingerprint)
        .ok_or_else(|| Error::UnknownKey(cert.fingerprint.clone()))?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join(format!("{}.asc", cert.fingerprint));
    fsutil::write_atomic(&path, &armored, Some(0o644))?;
    Ok(path)
}
