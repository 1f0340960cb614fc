//! The `edit` session without the terminal: the text handed to the editor (the Ruby tool's
//! `# | ` preamble, then the file with each value as `DEC(n)::GPG[plaintext]!`), and what comes
//! back turned into the new file text: unchanged values keep their original bytes, changed and
//! new values are encrypted, and the result is checked as YAML before anyone writes it.
//!
//! ```
//! use eyaml_gpg::{edit::{Options, Outcome, Session}, scheme::Scheme, Keystore};
//! use std::path::Path;
//!
//! let mut keys = Keystore::new();
//! keys.load_path(Path::new("fixtures/reference/keys/bob.sec.asc"))?;
//! let path = Path::new("fixtures/reference/hieradata/development/app1/app1.eyaml");
//! let original = std::fs::read_to_string(path)?;
//! let session = Session::new(&keys, &original, path, Scheme::Gpg, Options::default());
//! assert!(session.editor_text().contains("DEC(1)::GPG[dev-db-pass]!"));
//! // What the editor hands back: one secret changed.
//! let edited = session.editor_text().replace("[dev-db-pass]!", "[new-pass]!");
//! let recipients = || eyaml_gpg::eyaml::resolve_all(&keys, &["bob@example.com".into()]);
//! let Ok(Outcome::Changed(changed)) = session.finish(&keys, &edited, recipients) else {
//!     panic!("a change")
//! };
//! assert_eq!((changed.encrypted, changed.kept), (1, 3));
//! // Unchanged values keep their ciphertext byte for byte.
//! assert!(changed.text.ends_with(&original[original.find("  debug: true").unwrap()..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use zeroize::Zeroizing;

use crate::crypto::EncryptionKey;
use crate::error::{Error, Result};
use crate::eyaml;
use crate::fsutil;
use crate::scheme::{self, KeyMaterial, Scheme};
use crate::token::{self, EncToken, Form, Kinds, LineCounter, Located, Token};
use crate::yaml;

/// The Ruby tool's edit-mode preamble, byte for byte (it names PKCS7 too; the text is kept so
/// that people and scripts see what they know).
pub const PREAMBLE: &str = "\
# | This is eyaml edit mode. This text (lines starting with # | at the top of
# | the file) will be removed when you save and exit.
# |  - To edit encrypted values, change the content of the DEC(<num>)::PKCS7[]!
# |    block (or DEC(<num>)::GPG[]!).
# |    WARNING: DO NOT change the number in the parentheses.
# |  - To add a new encrypted value copy and paste a new block from the
# |    appropriate example below. Note that:
# |     * the text to encrypt goes in the square brackets
# |     * ensure you include the exclamation mark when you copy and paste
# |     * you must not include a number when adding a new block
# |    e.g. DEC::PKCS7[]! -or- DEC::GPG[]!
";

/// The text a file that does not exist yet starts from.
pub const NEW_FILE_TEXT: &str = "---\n";

/// How the session shows the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Put the `# | ` preamble (and notes) at the top.
    pub preamble: bool,
    /// Show values decrypted (`false`: `-d/--no-decrypt`, values stay `ENC[…]`).
    pub decrypt: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            preamble: true,
            decrypt: true,
        }
    }
}

/// What the edited text amounts to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to write.
    Unchanged,
    /// The new file text (every value encrypted: no secret in it).
    Changed(Changed),
}

/// A new file text and what happened to the values.
#[derive(Debug, PartialEq, Eq)]
pub struct Changed {
    /// The text to write.
    pub text: String,
    /// Values encrypted (changed or new).
    pub encrypted: usize,
    /// Values kept with their original ciphertext.
    pub kept: usize,
    /// Values shown decrypted whose id no longer appears.
    pub removed: usize,
}

/// Why the edited text cannot be written.
#[derive(Debug)]
pub enum Problem {
    /// Give up (the edited text is blank).
    Fatal(Error),
    /// The user can fix these in the editor (invalid YAML, bad ids, encryption failures).
    Retry(Vec<Error>),
}

/// One edit session: the original text, what the editor is shown, and how to read it back.
pub struct Session {
    path: PathBuf,
    original: String,
    tokens: Vec<Located>,
    /// For each token index, the plaintext shown as `DEC(index)`.
    shown: Vec<Option<Zeroizing<String>>>,
    notes: Vec<String>,
    body: Zeroizing<String>,
    added_newline: bool,
    options: Options,
    method: Scheme,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("path", &self.path)
            .field("tokens", &self.tokens.len())
            .field("notes", &self.notes)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Prepares the editor text for `original` (the file's text; [`NEW_FILE_TEXT`] for a new
    /// file), decrypting every value in parallel. Values that cannot be shown decrypted (no
    /// secret key, not UTF-8, a plaintext containing `]!`) stay `ENC[…]` and are counted in a
    /// note (see [`Session::notes`]).
    pub fn new(
        keys: &dyn KeyMaterial,
        original: &str,
        path: &Path,
        method: Scheme,
        options: Options,
    ) -> Session {
        let tokens = token::scan(original, Kinds::ENC);
        let mut shown: Vec<Option<Zeroizing<String>>> = vec![None; tokens.len()];
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        if options.decrypt {
            for (i, r) in eyaml::decrypt_all(keys, &tokens, method, path) {
                let reason = match r {
                    Ok(p) => match std::str::from_utf8(&p) {
                        Ok(s) if s.contains("]!") => {
                            "the plaintext contains `]!`, which ends a DEC value".to_string()
                        }
                        Ok(s) => {
                            shown[i] = Some(Zeroizing::new(s.to_string()));
                            continue;
                        }
                        Err(_) => {
                            "the decrypted value is binary (not UTF-8 text), which cannot be \
                                   edited as text; `eyaml-gpg decrypt -s` prints its bytes"
                                .to_string()
                        }
                    },
                    Err(e) => e.root().to_string(),
                };
                *reasons.entry(reason).or_default() += 1;
            }
        }
        let notes = reasons
            .into_iter()
            .map(|(why, n)| {
                let what = if n == 1 { "value is" } else { "values are" };
                format!("{n} {what} shown as ENC[...] and kept unchanged: {why}")
            })
            .collect();
        let mut body = Zeroizing::new(String::with_capacity(original.len() * 2));
        for (i, t) in tokens.iter().enumerate() {
            match (&t.token, &shown[i]) {
                (Token::Enc(e), Some(p)) => {
                    let tag = Scheme::of(e, method).unwrap_or(method).tag();
                    body.push_str(&token::render_dec(tag, Some(i as u64), p, &e.form))
                }
                (tok, _) => body.push_str(tok.raw()),
            }
        }
        // Ruby writes the edit text with `puts`, which ends it with a newline.
        let added_newline = !body.is_empty() && !body.ends_with('\n');
        if added_newline {
            body.push('\n');
        }
        Session {
            path: path.to_path_buf(),
            original: original.to_string(),
            tokens,
            shown,
            notes,
            body,
            added_newline,
            options,
            method,
        }
    }

    /// Why some values are shown encrypted (no secrets in these lines).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// How many values are shown decrypted.
    pub fn decrypted(&self) -> usize {
        self.shown.iter().filter(|s| s.is_some()).count()
    }

    /// The text for the editor: preamble and notes (unless turned off), then the file. A secret.
    pub fn editor_text(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(self.body.len() + PREAMBLE.len()));
        if self.options.preamble {
            out.push_str(PREAMBLE);
            for n in &self.notes {
                out.push_str("# | NOTE: ");
                out.push_str(n);
                out.push('\n');
            }
        }
        out.push_str(&self.body);
        out
    }

    /// GPG `ENC[…]` values of the edited text that are not in the original file and cannot be
    /// read as an encrypted message: an ENC value shown in the editor (no secret key, `-d`)
    /// that the editor changed by accident would otherwise be saved corrupt. Other schemes are
    /// left to `check`.
    fn damaged_enc_values(&self, keys: &dyn KeyMaterial, body: &str) -> Vec<Error> {
        let original: std::collections::HashSet<&str> = self
            .tokens
            .iter()
            .filter_map(|t| match &t.token {
                Token::Enc(e) => Some(e.raw.as_str()),
                _ => None,
            })
            .collect();
        let label = self.label();
        token::scan(body, Kinds::BOTH)
            .iter()
            .filter_map(|t| match &t.token {
                Token::Enc(e) if !original.contains(e.raw.as_str()) => Some((t, e)),
                _ => None,
            })
            .filter_map(|(t, e)| {
                let why = match scheme::inspect(keys, e, self.method) {
                    Err(Error::UnknownScheme(_) | Error::UnsupportedScheme(_)) | Ok(_) => None,
                    Err(why) => Some(why),
                }?;
                Some(
                    Error::EditUnreadableEnc {
                        why: why.to_string(),
                    }
                    .at(&label, t.line, t.column),
                )
            })
            .collect()
    }

    /// The name errors about the edited text carry: positions are in the text the editor shows.
    fn label(&self) -> PathBuf {
        PathBuf::from(format!("{} (edit text)", self.path.display()))
    }

    /// Reads the edited text back. `resolve` gives the recipients and is only called when a
    /// value must be encrypted (so trust and key problems only matter then).
    pub fn finish<F>(
        &self,
        keys: &dyn KeyMaterial,
        edited: &str,
        resolve: F,
    ) -> std::result::Result<Outcome, Problem>
    where
        F: FnOnce() -> Result<Vec<EncryptionKey>>,
    {
        let (skipped_lines, body) = strip_preamble(edited);
        if body == self.body.as_str() {
            return Ok(Outcome::Unchanged);
        }
        if body.trim().is_empty() {
            return Err(Problem::Fatal(Error::EditBlank));
        }
        let label = self.label();
        let shift = |e: Error| shift_lines(e, skipped_lines);
        let markers = conflict_markers(body);
        if !markers.is_empty() {
            return Err(Problem::Retry(
                markers
                    .into_iter()
                    .map(|line| shift(Error::EditConflictMarker.at(&label, line, 1)))
                    .collect(),
            ));
        }
        let tokens = token::scan(body, Kinds::DEC);
        eyaml::dec_tokens(&tokens, &label)
            .map_err(|errors| Problem::Retry(errors.into_iter().map(shift).collect()))?;

        let mut seen: BTreeMap<u64, &Located> = BTreeMap::new();
        let mut errors = Vec::new();
        for t in &tokens {
            let Token::Dec(d) = &t.token else { continue };
            let Some(id) = d.id else { continue };
            if let Some(first) = seen.insert(id, t) {
                errors.push(Error::DuplicateDecId);
                errors.push(shift(
                    Error::DecIdReused {
                        id,
                        first_line: first.line + skipped_lines,
                    }
                    .at(&label, t.line, t.column),
                ));
            } else if self.shown_plaintext(id).is_none() {
                errors.push(shift(Error::UnknownDecId(id).at(&label, t.line, t.column)));
            }
        }
        errors.extend(self.damaged_enc_values(keys, body).into_iter().map(shift));
        if !errors.is_empty() {
            return Err(Problem::Retry(errors));
        }

        // What each token of the edited text becomes: kept verbatim or to be encrypted.
        enum Piece<'a> {
            Text(std::borrow::Cow<'a, str>),
            Encrypt(Scheme, &'a str, &'a Form),
        }
        let mut pieces = Vec::with_capacity(tokens.len());
        let (mut kept, mut to_encrypt) = (0, 0);
        for t in &tokens {
            let piece = match &t.token {
                Token::Dec(d) => match d.id.and_then(|id| Some((id, self.shown_plaintext(id)?))) {
                    Some((id, old)) if old == d.plaintext => {
                        kept += 1;
                        Piece::Text(self.original_value(id as usize, &d.form))
                    }
                    _ => {
                        to_encrypt += 1;
                        // `dec_tokens` accepted the tag.
                        let scheme = Scheme::from_tag(&d.scheme).unwrap_or(self.method);
                        Piece::Encrypt(scheme, &d.plaintext, &d.form)
                    }
                },
                tok => Piece::Text(tok.raw().into()),
            };
            pieces.push(piece);
        }
        let removed = self
            .shown
            .iter()
            .enumerate()
            .filter(|(i, s)| s.is_some() && !seen.contains_key(&(*i as u64)))
            .count();

        let encrypted: Vec<Option<Result<String>>> = if to_encrypt > 0 {
            // Only GPG values have OpenPGP recipients: a PKCS7-only edit needs none.
            let needs_recipients = pieces
                .iter()
                .any(|p| matches!(p, Piece::Encrypt(Scheme::Gpg, ..)));
            let recipients = match needs_recipients {
                true => resolve().map_err(|e| Problem::Retry(vec![e]))?,
                false => Vec::new(),
            };
            pieces
                .par_iter()
                .zip(tokens.par_iter())
                .map(|(p, t)| match p {
                    Piece::Encrypt(scheme, plain, form) => Some(
                        scheme
                            .encrypt(keys, &recipients, plain.as_bytes(), form)
                            .map_err(|e| shift(e.at(&label, t.line, t.column))),
                    ),
                    Piece::Text(_) => None,
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut out = String::with_capacity(body.len() * 2);
        // (offset in `out`, offset in `body`, verbatim) for each piece: maps YAML errors back.
        let mut map = Vec::with_capacity(pieces.len());
        let mut errors = Vec::new();
        for (i, (p, t)) in pieces.iter().zip(&tokens).enumerate() {
            map.push((out.len(), t.offset, matches!(t.token, Token::Plain(_))));
            match p {
                Piece::Text(s) => out.push_str(s),
                Piece::Encrypt(..) => match encrypted.get(i) {
                    Some(Some(Ok(s))) => out.push_str(s),
                    Some(Some(Err(e))) => errors.push(e.clone()),
                    _ => unreachable!("every value to encrypt was encrypted"),
                },
            }
        }
        if !errors.is_empty() {
            // One failure per value is noise when the cause is the same (e.g. an unknown key).
            errors.dedup_by(|a, b| a.root().to_string() == b.root().to_string());
            return Err(Problem::Retry(errors));
        }
        if self.added_newline && out.ends_with('\n') {
            out.pop();
        }
        if out == self.original {
            return Ok(Outcome::Unchanged);
        }
        if let Err(e) = yaml::validate(&out) {
            let (line, column) = self.position_in_edit(&out, body, &map, e.line, e.column);
            return Err(Problem::Retry(vec![Error::Yaml {
                path: label,
                line: if line == 0 { 0 } else { line + skipped_lines },
                column,
                message: e.message,
            }]));
        }
        Ok(Outcome::Changed(Changed {
            text: out,
            encrypted: to_encrypt,
            kept,
            removed,
        }))
    }

    fn shown_plaintext(&self, id: u64) -> Option<&str> {
        let i = usize::try_from(id).ok()?;
        self.shown.get(i)?.as_deref().map(|s| s.as_str())
    }

    /// The original bytes of value `i`; in another form (the user turned a string into a
    /// block, or re-indented it) the same ciphertext is laid out anew.
    fn original_value(&self, i: usize, form: &Form) -> std::borrow::Cow<'_, str> {
        let Token::Enc(e @ EncToken { .. }) = &self.tokens[i].token else {
            unreachable!("shown values are ENC tokens")
        };
        if &e.form == form {
            e.raw.as_str().into()
        } else {
            let tag = e.scheme.as_deref().unwrap_or(self.method.tag());
            token::render_enc(tag, &e.base64(), form).into()
        }
    }

    /// Maps a 1-based (line, column) of the output text to the edited body (0 = unknown).
    fn position_in_edit(
        &self,
        out: &str,
        body: &str,
        map: &[(usize, usize, bool)],
        line: usize,
        column: usize,
    ) -> (usize, usize) {
        if line == 0 {
            return (0, 0);
        }
        let Some(offset) = offset_of(out, line, column) else {
            return (line, column);
        };
        let seg = map
            .partition_point(|&(o, _, _)| o <= offset)
            .saturating_sub(1);
        let edit_offset = match map.get(seg) {
            Some(&(o, b, true)) => b + (offset - o),
            Some(&(_, b, false)) => b,
            None => offset,
        };
        let edit_offset = edit_offset.min(body.len());
        let edit_offset = (0..=edit_offset)
            .rev()
            .find(|&i| body.is_char_boundary(i))
            .unwrap_or(0);
        LineCounter::new(body).at(edit_offset)
    }
}

/// The 1-based lines of `text` that are git conflict markers (`<<<<<<<`, `=======`,
/// `>>>>>>>`, any length of at least 7, at the start of a line, as `eyaml-gpg merge` and git
/// write them). Such a line cannot be meant as YAML.
pub fn conflict_markers(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim_end_matches('\r');
            ['<', '=', '>', '|'].iter().any(|&c| {
                let n = l.chars().take_while(|&x| x == c).count();
                n >= 7 && (l.len() == n || (c != '=' && l.as_bytes()[n] == b' '))
            })
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// Drops the leading lines that start with `# |` (Ruby's rule); returns how many and the rest.
pub fn strip_preamble(edited: &str) -> (usize, &str) {
    let mut start = 0;
    let mut lines = 0;
    for line in edited.split_inclusive('\n') {
        if !line.starts_with("# |") {
            break;
        }
        start += line.len();
        lines += 1;
    }
    (lines, &edited[start..])
}

/// The byte offset of a 1-based (line, column in characters) in `text`.
fn offset_of(text: &str, line: usize, column: usize) -> Option<usize> {
    let start = if line == 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let rest = &text[start..];
    let col = rest
        .char_indices()
        .nth(column.saturating_sub(1))
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    Some(start + col)
}

fn shift_lines(e: Error, lines: usize) -> Error {
    match e {
        Error::At {
            path,
            line,
            column,
            source,
        } => Error::At {
            path,
            line: line + lines,
            column,
            source,
        },
        e => e,
    }
}

/// The file's bytes, `None` when it does not exist (a dangling symlink exists).
pub fn current_bytes(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => Ok(Some(fsutil::read_bytes(path)?)),
    }
}

/// Writes an edit's result to `path`, which held `before` (`None`: did not exist) when the
/// edit began; an edit is never lost. If the file changed on disk meanwhile (checked before
/// the result is staged, and again under the directory lock right before the rename, see
/// `fsutil::Staged::commit_if_unchanged`), the result goes next to it and the user merges by
/// hand ([`Error::EditConflict`]); if the file cannot be written, the result is kept elsewhere
/// ([`Error::EditNotWritten`]). `text` holds ciphertexts only, so a kept copy never holds a
/// plaintext.
pub fn save(path: &Path, before: Option<&[u8]>, text: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let conflict = |now: Option<&[u8]>| -> Result<Error> {
        let what = if now.is_none() {
            "was removed"
        } else if before.is_none() {
            "was created by someone else"
        } else {
            "changed on disk"
        };
        Ok(Error::EditConflict {
            path: path.to_path_buf(),
            what,
            kept: rescue(path, &dir, text)?,
        })
    };
    let now = current_bytes(path)?;
    if now.as_deref() != before {
        return Err(conflict(now.as_deref())?);
    }
    let mode = match before {
        Some(_) => None,
        None => Some(fsutil::new_file_mode(&dir)),
    };
    let staged = fsutil::stage(path, text.as_bytes(), mode);
    fsutil::test_pause_before_rename();
    match staged.and_then(|s| s.commit_if_unchanged(before)) {
        Ok(()) => Ok(()),
        Err(Error::ChangedOnDisk(_)) => {
            // Only for the wording: the content now is whatever made the comparison fail.
            let now = current_bytes(path).unwrap_or(Some(Vec::new()));
            Err(conflict(now.as_deref())?)
        }
        Err(e) => Err(Error::EditNotWritten {
            cause: Box::new(e),
            kept: rescue(path, &dir, text)?,
        }),
    }
}

/// Saves the encrypted result of an edit that could not be written to `path`, as
/// `NAME.eyaml-gpg-conflict-<UTC time>` next to it, else in the current directory, else in
/// the home directory.
fn rescue(path: &Path, dir: &Path, text: &str) -> Result<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = format!(
        "{name}.eyaml-gpg-conflict-{}",
        crate::datetime::timestamp(std::time::SystemTime::now())
    );
    let mut places = vec![dir.to_path_buf()];
    places.extend(std::env::current_dir().ok());
    places.extend(std::env::var_os("HOME").map(PathBuf::from));
    let mut last = None;
    for place in places {
        let free = (1..100)
            .map(|n| match n {
                1 => place.join(&stem),
                n => place.join(format!("{stem}-{n}")),
            })
            .find(|p| std::fs::symlink_metadata(p).is_err());
        let Some(target) = free else { continue };
        match fsutil::write_atomic(
            &target,
            text.as_bytes(),
            Some(fsutil::new_file_mode(&place)),
        ) {
            Ok(()) => return Ok(target),
            Err(e) => last = Some(Box::new(e)),
        }
    }
    Err(Error::EditLost(last))
}

/// The program and arguments to run as the editor: `$VISUAL`, then `$EDITOR` (an empty
/// variable counts as unset), then the first of `sensible-editor`, `editor`, `vim`, `vi` that
/// `exists` finds. The variable is split like a shell word list (quotes, backslashes, `~`), and
/// as the Ruby tool does, an unquoted path containing spaces is recognised when `is_file` says
/// such a file exists. `None`: no editor at all, or unbalanced quotes (the message says which).
pub fn editor_command(
    visual: Option<&str>,
    editor: Option<&str>,
    home: Option<&str>,
    exists: impl Fn(&str) -> bool,
    is_file: impl Fn(&str) -> bool,
) -> std::result::Result<Vec<String>, String> {
    for (name, value) in [("VISUAL", visual), ("EDITOR", editor)] {
        let Some(v) = value.filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        if !v.contains(['\'', '"', '\\']) && v.contains(' ') {
            // Ruby: the longest run of leading words that names an existing file is the program.
            let words: Vec<&str> = v.split(' ').filter(|w| !w.is_empty()).collect();
            for n in (2..=words.len()).rev() {
                let candidate = expand_home(&words[..n].join(" "), home);
                if is_file(&candidate) {
                    let mut cmd = vec![candidate];
                    cmd.extend(words[n..].iter().map(|w| expand_home(w, home)));
                    return Ok(cmd);
                }
            }
        }
        return split_command(v, home)
            .ok_or_else(|| format!("${name} has an unbalanced quote: {v}"));
    }
    ["sensible-editor", "editor", "vim", "vi"]
        .into_iter()
        .find(|e| exists(e))
        .map(|e| vec![e.to_string()])
        .ok_or_else(|| {
            "no editor found: set $VISUAL or $EDITOR (none of sensible-editor, editor, vim, vi is installed)"
                .to_string()
        })
}

fn expand_home(word: &str, home: Option<&str>) -> String {
    match (word.strip_prefix('~'), home) {
        (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => format!("{h}{rest}"),
        _ => word.to_string(),
    }
}

/// Splits a command line like a POSIX shell does words: blanks separate words; `'…'` keeps
/// everything; `"…"` keeps everything but `\"`, `\\`, `` \` `` and `\$` escapes; a backslash
/// outside quotes escapes the next character; an unquoted `~` or `~/` at a word's start is
/// `home`. No expansion of variables or globs. `None` when a quote is not closed.
pub fn split_command(s: &str, home: Option<&str>) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.peek() {
                            Some(&n @ ('"' | '\\' | '$' | '`')) => {
                                cur.push(n);
                                chars.next();
                            }
                            _ => cur.push('\\'),
                        },
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '~' if !in_word && matches!(chars.peek(), None | Some('/' | ' ' | '\t')) => {
                in_word = true;
                match home {
                    Some(h) => cur.push_str(h),
                    None => cur.push('~'),
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_markers_are_found_by_line() {
        let text = "a: 1\n<<<<<<< ours\nb: 2\n=======\r\nb: 3\n>>>>>>>>> theirs\nc: '<<<<<<< x'\n======= x\n";
        assert_eq!(conflict_markers(text), vec![2, 4, 6]);
    }

    /// A session on `t.eyaml` with the default options.
    fn t_session(k: &Keystore, orig: &str) -> Session {
        Session::new(
            k,
            orig,
            Path::new("t.eyaml"),
            Scheme::Gpg,
            Options::default(),
        )
    }

    fn w(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    use crate::pgp::Keystore;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/reference")
    }

    fn keys(names: &[&str]) -> Keystore {
        let mut k = Keystore::new();
        for n in names {
            k.load_path(&root().join("keys").join(n)).unwrap();
        }
        k
    }

    fn all_keys() -> Keystore {
        keys(&["alice.sec.asc", "bob.sec.asc", "puppetmaster.sec.asc"])
    }

    fn bob_recipients(k: &Keystore) -> Result<Vec<EncryptionKey>> {
        eyaml::resolve_all(k, &["bob@example.com".to_string()])
    }

    const T: &str = "---\nplain: value\nsecret_a: SECRET_A\nsecret_b: >\n    SECRET_B\n";

    /// A small file like BEHAVIOUR.md's `t.eyaml`, encrypted to bob.
    fn t_file(k: &Keystore) -> String {
        let r = bob_recipients(k).unwrap();
        let a = Scheme::Gpg.encrypt(k, &r, b"alpha", &Form::String).unwrap();
        let b = Scheme::Gpg
            .encrypt(
                k,
                &r,
                b"bravo",
                &Form::Block {
                    indentation: "    ".into(),
                },
            )
            .unwrap();
        T.replace("SECRET_A", &a).replace(">\n    SECRET_B", &b)
    }

    fn decrypt(k: &Keystore, text: &str) -> String {
        eyaml::decrypt_to_dec(k, text, Scheme::Gpg, Path::new("t"))
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }

    fn changed(o: std::result::Result<Outcome, Problem>) -> Changed {
        match o {
            Ok(Outcome::Changed(c)) => c,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    fn retry(o: std::result::Result<Outcome, Problem>) -> String {
        match o {
            Err(Problem::Retry(e)) => e
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    #[test]
    fn editor_text_equals_the_reference() {
        let k = all_keys();
        let mut n = 0;
        for entry in walkdir::WalkDir::new(root().join("golden")) {
            let p = entry.unwrap().into_path();
            let name = p.to_string_lossy().into_owned();
            let Some(rel) = name.strip_suffix(".edit") else {
                continue;
            };
            if rel.ends_with(".pre-edit") {
                continue;
            }
            let rel = rel.rsplit_once("golden/").unwrap().1;
            let file = root().join("hieradata").join(rel);
            let original = std::fs::read_to_string(&file).unwrap();
            for (preamble, golden) in [
                (true, p.clone()),
                (false, PathBuf::from(format!("{name}-nopreamble"))),
            ] {
                let s = Session::new(
                    &k,
                    &original,
                    &file,
                    Scheme::Gpg,
                    Options {
                        preamble,
                        decrypt: true,
                    },
                );
                assert!(s.notes().is_empty(), "{rel}: {:?}", s.notes());
                assert_eq!(
                    *s.editor_text(),
                    std::fs::read_to_string(&golden).unwrap(),
                    "{}",
                    golden.display()
                );
                n += 1;
            }
            // The reference's unchanged round trip: nothing to write.
            let s = Session::new(&k, &original, &file, Scheme::Gpg, Options::default());
            assert_eq!(
                s.finish(&k, &s.editor_text(), || unreachable!()).unwrap(),
                Outcome::Unchanged
            );
        }
        assert_eq!(n, 10);
    }

    #[test]
    fn pre_edit_text_equals_the_reference() {
        let k = all_keys();
        let g = root().join("golden/development/app2/app2.eyaml.pre-edit");
        let original = std::fs::read_to_string(&g).unwrap();
        let s = Session::new(&k, &original, &g, Scheme::Gpg, Options::default());
        let golden = std::fs::read_to_string(
            root().join("golden/development/app2/app2.eyaml.pre-edit.edit"),
        )
        .unwrap();
        assert_eq!(*s.editor_text(), golden);
    }

    #[test]
    fn plain_change_keeps_every_ciphertext() {
        let k = keys(&["bob.sec.asc"]);
        let orig = t_file(&k);
        let s = t_session(&k, &orig);
        let edited = s.editor_text().replace("plain: value", "plain: value2");
        let c = changed(s.finish(&k, &edited, || unreachable!("nothing to encrypt")));
        assert_eq!(c.text, orig.replace("plain: value", "plain: value2"));
        assert_eq!((c.encrypted, c.kept, c.removed), (0, 2, 0));
    }

    #[test]
    fn one_secret_changed_others_kept() {
        let k = keys(&["bob.sec.asc"]);
        let orig = t_file(&k);
        let s = t_session(&k, &orig);
        let edited = s.editor_text().replace("[bravo]!", "[BRAVO 2]!");
        let c = changed(s.finish(&k, &edited, || bob_recipients(&k)));
        assert_eq!((c.encrypted, c.kept), (1, 1));
        let a_line = orig.lines().nth(2).unwrap();
        assert!(c.text.contains(a_line), "secret_a kept byte for byte");
        assert!(
            c.text.contains("secret_b: >\n    ENC[GPG,"),
            "block form kept"
        );
        assert_eq!(
            decrypt(&k, &c.text),
            "---\nplain: value\nsecret_a: DEC::GPG[alpha]!\nsecret_b: >\n    DEC::GPG[BRAVO 2]!\n"
        );
    }

    #[test]
    fn new_values_empty_values_and_removed_ids() {
        let k = keys(&["bob.sec.asc"]);
        let orig = t_file(&k);
        let s = t_session(&k, &orig);
        let edited = format!(
            "{}new_s: DEC::GPG[new value]!\nnew_b: >\n  DEC::GPG[new block]!\nempty: DEC::GPG[]!\nafter: plain text\n",
            s.editor_text().replace("DEC(1)::", "DEC::")
        );
        let c = changed(s.finish(&k, &edited, || bob_recipients(&k)));
        assert_eq!((c.encrypted, c.kept), (4, 1));
        assert_eq!(
            decrypt(&k, &c.text),
            "---\nplain: value\nsecret_a: DEC::GPG[alpha]!\nsecret_b: >\n    DEC::GPG[bravo]!\n\
             new_s: DEC::GPG[new value]!\nnew_b: >\n  DEC::GPG[new block]!\nempty: DEC::GPG[]!\nafter: plain text\n"
        );
        // Deleting a value removes it.
        let edited = s
            .editor_text()
            .replace("secret_a: DEC(1)::GPG[alpha]!\n", "");
        let c = changed(s.finish(&k, &edited, || unreachable!()));
        assert_eq!((c.encrypted, c.kept, c.removed), (0, 1, 1));
        assert!(!c.text.contains("secret_a"));
    }

    #[test]
    fn an_empty_secret_round_trips() {
        let k = keys(&["bob.sec.asc"]);
        let r = bob_recipients(&k).unwrap();
        let e = Scheme::Gpg.encrypt(&k, &r, b"", &Form::String).unwrap();
        let l = Scheme::Gpg.encrypt(&k, &r, b"last", &Form::String).unwrap();
        let orig = format!("---\nempty: {e}\nafter: plain text\nlast: {l}\n");
        let s = Session::new(
            &k,
            &orig,
            Path::new("e.eyaml"),
            Scheme::Gpg,
            Options {
                preamble: false,
                decrypt: true,
            },
        );
        assert_eq!(
            *s.editor_text(),
            "---\nempty: DEC(1)::GPG[]!\nafter: plain text\nlast: DEC(3)::GPG[last]!\n"
        );
        let c = changed(s.finish(
            &k,
            &s.editor_text().replace("plain text", "plain text 2"),
            || unreachable!(),
        ));
        assert_eq!(c.text, orig.replace("plain text", "plain text 2"));
    }

    #[test]
    fn ids_are_checked() {
        let k = keys(&["bob.sec.asc"]);
        let orig = t_file(&k);
        let s = t_session(&k, &orig);
        let text = s.editor_text();
        let m = retry(
            s.finish(&k, &format!("{}copy: DEC(1)::GPG[other]!\n", *text), || {
                bob_recipients(&k)
            }),
        );
        assert!(m.starts_with(&Error::DuplicateDecId.to_string()), "{m}");
        assert!(
            m.contains("t.eyaml (edit text):17:7: DEC(1) is used here and at line 14"),
            "{m}"
        );
        for id in [99, 0, 2] {
            let m = retry(
                s.finish(&k, &format!("{}bogus: DEC({id})::GPG[x]!\n", *text), || {
                    bob_recipients(&k)
                }),
            );
            assert!(
                m.contains(&format!("DEC({id}) does not name a value")),
                "{m}"
            );
        }
        let m = retry(s.finish(&k, &format!("{}x: DEC::PKCS7[x]!\n", *text), || {
            bob_recipients(&k)
        }));
        assert!(m.contains("PKCS7"), "{m}");
        let m = retry(s.finish(&k, &format!("{}x: DEC::GPG[a]!b]!\n", *text), || {
            bob_recipients(&k)
        }));
        assert!(m.contains("`]!`"), "{m}");
    }

    #[test]
    fn blank_is_fatal() {
        let k = keys(&["bob.sec.asc"]);
        let s = Session::new(
            &k,
            &t_file(&k),
            Path::new("t.eyaml"),
            Scheme::Gpg,
            Options::default(),
        );
        for blank in ["", PREAMBLE, "\n\n", "# | x\n  \n"] {
            assert!(matches!(
                s.finish(&k, blank, || unreachable!()),
                Err(Problem::Fatal(Error::EditBlank))
            ));
        }
    }

    #[test]
    fn invalid_yaml_is_located_in_the_edit_text() {
        let k = keys(&["bob.sec.asc"]);
        let s = Session::new(
            &k,
            &t_file(&k),
            Path::new("t.eyaml"),
            Scheme::Gpg,
            Options::default(),
        );
        // Line 16 of the edit text (11 preamble lines + 5); the block value above it is several
        // lines long once encrypted, but the position is the one the user sees.
        let m = retry(
            s.finish(&k, &format!("{}  bad: indent\n", *s.editor_text()), || {
                bob_recipients(&k)
            }),
        );
        assert!(m.starts_with("t.eyaml (edit text):17:"), "{m}");
        assert!(m.contains("invalid YAML"), "{m}");
        let m = retry(s.finish(
            &k,
            &s.editor_text().replace("plain: value", "plain: [x"),
            || unreachable!(),
        ));
        assert!(m.starts_with("t.eyaml (edit text):1"), "{m}");
    }

    #[test]
    fn encryption_problems_can_be_retried() {
        let k = keys(&["bob.sec.asc"]);
        let orig = t_file(&k);
        let s = t_session(&k, &orig);
        let edited = s.editor_text().replace("alpha", "alpha2");
        let m = retry(s.finish(&k, &edited, || {
            eyaml::resolve_all(&k, &["nobody@example.com".into()])
        }));
        assert_eq!(m, "No key found on keyring for nobody@example.com");

        // Keys from a GnuPG home need validity; without it only a change that encrypts fails.
        let mut home = Keystore::new();
        home.load_bytes(
            &std::fs::read(root().join("keys/bob.sec.asc")).unwrap(),
            crate::crypto::KeyOrigin::GnupgHome("h".into()),
        )
        .unwrap();
        home.load_bytes(
            &std::fs::read(root().join("keys/alice.pub.asc")).unwrap(),
            crate::crypto::KeyOrigin::GnupgHome("h".into()),
        )
        .unwrap();
        let s = Session::new(
            &home,
            &orig,
            Path::new("t.eyaml"),
            Scheme::Gpg,
            Options::default(),
        );
        let names = [
            "alice@example.com".to_string(),
            "bob@example.com".to_string(),
        ];
        let m = retry(s.finish(&home, &edited, || eyaml::resolve_all(&home, &names)));
        assert!(m.starts_with("Key FD14CC28 (alice@example.com) not trusted (if key trust is established by another means then specify always-trust)"), "{m}");
        let plain = s.editor_text().replace("plain: value", "plain: v2");
        changed(s.finish(&home, &plain, || eyaml::resolve_all(&home, &names)));
    }

    #[test]
    fn undecryptable_and_unrepresentable_values_stay_encrypted() {
        let k = all_keys();
        let r = eyaml::resolve_all(&k, &["alice@example.com".into()]).unwrap();
        let bob = bob_recipients(&k).unwrap();
        let alice_only = Scheme::Gpg
            .encrypt(&k, &r, b"for alice", &Form::String)
            .unwrap();
        let bang = Scheme::Gpg
            .encrypt(&k, &bob, b"a]!b", &Form::String)
            .unwrap();
        let fine = Scheme::Gpg
            .encrypt(&k, &bob, b"fine", &Form::String)
            .unwrap();
        let orig = format!("a: {alice_only}\nb: {bang}\nc: {fine}\n");
        let bob_keys = keys(&["bob.sec.asc"]);
        let s = Session::new(
            &bob_keys,
            &orig,
            Path::new("p.eyaml"),
            Scheme::Gpg,
            Options::default(),
        );
        assert_eq!(s.notes().len(), 2, "{:?}", s.notes());
        assert_eq!(s.decrypted(), 1);
        let text = s.editor_text();
        assert!(text.contains("# | NOTE: 1 value is shown as ENC[...] and kept unchanged: the plaintext contains `]!`"), "{}", *text);
        assert!(
            text.contains(
                "# | NOTE: 1 value is shown as ENC[...] and kept unchanged: No secret key"
            ),
            "{}",
            *text
        );
        assert!(text.ends_with(&format!(
            "a: {alice_only}\nb: {bang}\nc: DEC(5)::GPG[fine]!\n"
        )));
        let c = changed(
            s.finish(&bob_keys, &text.replace("[fine]!", "[finer]!"), || {
                bob_recipients(&bob_keys)
            }),
        );
        assert!(c
            .text
            .starts_with(&format!("a: {alice_only}\nb: {bang}\nc: ENC[GPG,")));
    }

    #[test]
    fn no_decrypt_shows_the_raw_file() {
        let k = keys(&["bob.pub.asc"]);
        let orig = t_file(&keys(&["bob.sec.asc"]));
        let s = Session::new(
            &k,
            &orig,
            Path::new("t.eyaml"),
            Scheme::Gpg,
            Options {
                preamble: false,
                decrypt: false,
            },
        );
        assert_eq!(*s.editor_text(), orig);
        let c = changed(s.finish(&k, &format!("{orig}x: DEC::GPG[y]!\n"), || {
            bob_recipients(&k)
        }));
        assert!(c.text.starts_with(&orig));
        let m = retry(s.finish(&k, &format!("{orig}x: DEC(1)::GPG[y]!\n"), || {
            bob_recipients(&k)
        }));
        assert!(m.contains("DEC(1) does not name"), "{m}");
    }

    #[test]
    fn a_missing_final_newline_is_kept() {
        let k = keys(&["bob.sec.asc"]);
        let orig = "---\nplain: no trailing newline";
        let s = Session::new(
            &k,
            orig,
            Path::new("n.eyaml"),
            Scheme::Gpg,
            Options::default(),
        );
        assert!(s.editor_text().ends_with("newline\n"));
        assert_eq!(
            s.finish(&k, &s.editor_text(), || unreachable!()).unwrap(),
            Outcome::Unchanged
        );
        let c = changed(s.finish(
            &k,
            &s.editor_text().replace("no trailing", "still no"),
            || unreachable!(),
        ));
        assert_eq!(c.text, "---\nplain: still no newline");
        let _ = k.public_keys();
    }

    #[test]
    fn a_changed_layout_keeps_the_ciphertext() {
        let k = keys(&["bob.sec.asc"]);
        let orig = t_file(&k);
        let s = t_session(&k, &orig);
        let edited = s
            .editor_text()
            .replace("secret_a: DEC(1)", "secret_a: >\n  DEC(1)");
        let c = changed(s.finish(&k, &edited, || unreachable!()));
        let Token::Enc(a) = &token::scan(&orig, Kinds::ENC)[1].token else {
            panic!()
        };
        assert!(c.text.contains(&token::render_enc(
            "GPG",
            &a.base64(),
            &Form::Block {
                indentation: "  ".into()
            }
        )));
        assert_eq!(c.kept, 2);
    }

    #[test]
    fn splits_like_a_shell() {
        let h = Some("/home/u");
        assert_eq!(split_command("vim", h), Some(w(&["vim"])));
        assert_eq!(
            split_command("  prog --flag  ", h),
            Some(w(&["prog", "--flag"]))
        );
        assert_eq!(
            split_command(r#""/opt/my editor/ed" -f 'a b' c\ d"#, h),
            Some(w(&["/opt/my editor/ed", "-f", "a b", "c d"]))
        );
        assert_eq!(
            split_command(r#"vim -c "set ft=\"yaml\"""#, h),
            Some(w(&["vim", "-c", r#"set ft="yaml""#]))
        );
        assert_eq!(
            split_command("~/bin/ed ~ x~", h),
            Some(w(&["/home/u/bin/ed", "/home/u", "x~"]))
        );
        assert_eq!(split_command("'~/x'", h), Some(w(&["~/x"])));
        assert_eq!(split_command("''", h), Some(w(&[""])));
        assert_eq!(split_command("vim 'oops", h), None);
        assert_eq!(split_command("vim \"oops", h), None);
    }

    #[test]
    fn picks_the_editor() {
        let none = |_: &str| false;
        let all = |_: &str| true;
        assert_eq!(
            editor_command(Some("code --wait"), Some("vim"), None, none, none),
            Ok(w(&["code", "--wait"]))
        );
        assert_eq!(
            editor_command(Some(""), Some("nano"), None, none, none),
            Ok(w(&["nano"]))
        );
        assert_eq!(
            editor_command(None, Some("  "), None, all, none),
            Ok(w(&["sensible-editor"]))
        );
        assert_eq!(
            editor_command(None, None, None, |e: &str| e == "vim" || e == "vi", none),
            Ok(w(&["vim"]))
        );
        assert!(editor_command(None, None, None, none, none).is_err());
        assert!(editor_command(None, Some("vim 'x"), None, none, none)
            .unwrap_err()
            .contains("$EDITOR"));
        // Ruby's rule: an unquoted path with spaces that exists is the program.
        let is_file = |p: &str| p == "/opt/My Editor/bin/ed";
        assert_eq!(
            editor_command(None, Some("/opt/My Editor/bin/ed -w"), None, none, is_file),
            Ok(w(&["/opt/My Editor/bin/ed", "-w"]))
        );
    }

    #[test]
    fn strips_only_leading_preamble_lines() {
        assert_eq!(
            strip_preamble("# | a\n# | b\nx: 1\n# | c\n"),
            (2, "x: 1\n# | c\n")
        );
        assert_eq!(strip_preamble("# | only"), (1, ""));
        assert_eq!(strip_preamble("x"), (0, "x"));
    }

    #[test]
    fn offsets() {
        let t = "ab\ncdé\nf";
        assert_eq!(offset_of(t, 1, 1), Some(0));
        assert_eq!(offset_of(t, 2, 3), Some(5));
        assert_eq!(offset_of(t, 3, 1), Some(t.len() - 1));
        assert_eq!(offset_of(t, 5, 1), None);
    }
}
