//! Whole-text operations of the eyaml format: decrypting every `ENC[…]` value of a text (into
//! edit-mode `DEC::GPG[…]!` form or into plain substitution) and encrypting every `DEC::…[…]!`
//! value. Values are independent messages, so they are processed in parallel.

use std::path::Path;

use rayon::prelude::*;
use zeroize::Zeroizing;

use crate::crypto::{Backend, EncryptionKey, Plaintext};
use crate::error::{Error, Errors, Result};
use crate::scheme::{self, KeyMaterial, Scheme};
use crate::token;

/// File helpers every eyaml command needs: reading with the file named in errors, atomic
/// writes, and wiping plaintext scratch files.
pub use crate::fsutil::{
    read_bytes, read_text, unique_suffix, utf8, wipe_dir, write_atomic, MAX_FILE_SIZE,
};
/// The hiera-eyaml token grammar: `ENC[…]` and `DEC::…[…]!` values located in a text.
pub use crate::token::{render_enc, scan, EncToken, Form};
pub use crate::token::{DecToken, Kinds, Located, Token};
/// The file-set walker shared by `check` and `recrypt` (work tree or git index).
pub use crate::tree::{Contents, FileSet, Location, Patterns, TreeFile, Walk};

/// Decrypts every `ENC[…]` value of `tokens` in parallel; results are in token order, one per
/// ENC token, each error located in `path`.
pub fn decrypt_all(
    keys: &dyn KeyMaterial,
    tokens: &[Located],
    method: Scheme,
    path: &Path,
) -> Vec<(usize, Result<Plaintext>)> {
    tokens
        .par_iter()
        .enumerate()
        .filter_map(|(i, t)| match &t.token {
            Token::Enc(e) => Some((
                i,
                scheme::decrypt(keys, e, method).map_err(|err| err.at(path, t.line, t.column)),
            )),
            _ => None,
        })
        .collect()
}

fn split_results(
    results: Vec<(usize, Result<Plaintext>)>,
) -> Result<Vec<(usize, Plaintext)>, Errors> {
    let mut ok = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for (i, r) in results {
        match r {
            Ok(p) => ok.push((i, p)),
            Err(e) => errors.push(e),
        }
    }
    Errors::check(errors)?;
    Ok(ok)
}

/// The result of decrypting a text into edit-mode form. `Debug` hides the text.
pub struct Decrypted {
    /// The text with every value as `DEC::GPG[plaintext]!`; a secret. Bytes, not text: a binary
    /// plaintext (`eyaml encrypt -f keytab.bin`) is written as it is, as Ruby eyaml does.
    pub text: Zeroizing<Vec<u8>>,
    /// Values whose plaintext contains `]!` and so cannot be read back from this form
    /// (the line of each).
    pub ambiguous: Vec<usize>,
    /// Values whose plaintext is not UTF-8 text, written as raw bytes (the line of each).
    pub binary: Vec<usize>,
    /// Values left as `ENC[…]` because they could not be decrypted ([`Failures::Keep`]).
    pub left_encrypted: usize,
}

/// What [`decrypt_to_dec_with`] does with a value it cannot decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failures {
    /// Fail: every error is returned and no text (`decrypt -e`, `edit`).
    Report,
    /// Leave the value as it is and count it (`textconv`: a diff never fails).
    Keep,
}

impl Decrypted {
    /// The text, when every plaintext in it is UTF-8 (no [`Decrypted::binary`] value).
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.text).ok()
    }
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("text", &"<redacted>")
            .field("ambiguous", &self.ambiguous)
            .field("binary", &self.binary)
            .finish()
    }
}

/// `decrypt -e`: every `ENC[…]` value replaced by `DEC::GPG[plaintext]!` in its own form.
/// All failures are reported together; nothing is returned unless every value decrypted.
pub fn decrypt_to_dec(
    keys: &dyn KeyMaterial,
    text: &str,
    method: Scheme,
    path: &Path,
) -> Result<Decrypted, Errors> {
    decrypt_to_dec_with(keys, text, method, path, Failures::Report)
}

/// [`decrypt_to_dec`], with `failures` deciding what a value that cannot be decrypted does:
/// fail the whole text, or stay as it is. A plaintext that is not UTF-8 is no failure: its
/// bytes go into the text as they are (and its line into [`Decrypted::binary`]).
pub fn decrypt_to_dec_with(
    keys: &dyn KeyMaterial,
    text: &str,
    method: Scheme,
    path: &Path,
    failures: Failures,
) -> Result<Decrypted, Errors> {
    let tokens = token::scan(text, Kinds::ENC);
    let mut plain: Vec<Option<Plaintext>> = vec![None; tokens.len()];
    let mut errors = Vec::new();
    for (i, r) in decrypt_all(keys, &tokens, method, path) {
        match r {
            Ok(p) => plain[i] = Some(p),
            Err(e) => errors.push(e),
        }
    }
    if failures == Failures::Report {
        Errors::check(std::mem::take(&mut errors))?;
    }
    let mut out = Zeroizing::new(Vec::with_capacity(text.len()));
    let mut ambiguous = Vec::new();
    let mut binary = Vec::new();
    for (t, p) in tokens.iter().zip(plain) {
        match (&t.token, p) {
            (Token::Enc(e), Some(p)) => {
                let tag = Scheme::of(e, method).unwrap_or(method).tag();
                match std::str::from_utf8(&p) {
                    Ok(s) => {
                        if s.contains("]!") {
                            ambiguous.push(t.line);
                        }
                        out.extend_from_slice(
                            Zeroizing::new(token::render_dec(tag, None, s, &e.form)).as_bytes(),
                        );
                    }
                    Err(_) => {
                        binary.push(t.line);
                        // The frame around an empty plaintext ends with its `]!`.
                        let frame = token::render_dec(tag, None, "", &e.form);
                        let (open, close) = frame.split_at(frame.len() - 2);
                        out.extend_from_slice(open.as_bytes());
                        out.extend_from_slice(&p);
                        out.extend_from_slice(close.as_bytes());
                    }
                }
            }
            (tok, _) => out.extend_from_slice(tok.raw().as_bytes()),
        }
    }
    let left_encrypted = errors.len();
    if failures == Failures::Report {
        Errors::check(errors)?;
    }
    Ok(Decrypted {
        text: out,
        ambiguous,
        binary,
        left_encrypted,
    })
}

/// `decrypt -s/-f/--stdin`: every `ENC[…]` value replaced by its plaintext. A multi-line
/// plaintext that follows other text becomes a `|` block (hiera-eyaml's rule); a binary one
/// (not UTF-8) is written as its bytes.
pub fn decrypt_substitute(
    keys: &dyn KeyMaterial,
    text: &str,
    method: Scheme,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>, Errors> {
    let tokens = token::scan(text, Kinds::ENC);
    let results = split_results(decrypt_all(keys, &tokens, method, path))?;
    let mut plain: Vec<Option<Plaintext>> = vec![None; tokens.len()];
    for (i, p) in results {
        plain[i] = Some(p);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(text.len()));
    let mut yamled = false;
    for (t, p) in tokens.iter().zip(plain) {
        match p {
            Some(p) => {
                // A binary value's bytes go out as they are: indenting them would change them.
                let text = std::str::from_utf8(&p).is_ok();
                if yamled && text && p.iter().any(|&b| b == b'\n' || b == b'\r') {
                    out.extend_from_slice(b"|\n  ");
                    let mut i = 0;
                    while i < p.len() {
                        let b = p[i];
                        out.push(b);
                        i += 1;
                        if (b == b'\n' || b == b'\r') && !matches!(p.get(i), Some(b'\n' | b'\r')) {
                            out.extend_from_slice(b"  ");
                        }
                    }
                } else {
                    out.extend_from_slice(&p);
                }
                yamled = false;
            }
            None => {
                out.extend_from_slice(t.token.raw().as_bytes());
                yamled = true;
            }
        }
    }
    Ok(out)
}

/// Checks that no `DEC` value of `tokens` was cut short by a `]!` inside the intended secret:
/// a `]!` that ends a line (as a value's end marker does) in the plain text right after a
/// value means the value ended earlier than its writer meant. A `]!` inside other text (a
/// quoted `"x]!"` further down) is not a value's end and is left alone.
///
/// Deliberate difference: Ruby silently truncates such a secret.
pub fn check_truncation(tokens: &[Located], path: &Path) -> Result<(), Errors> {
    let mut errors = Vec::new();
    for w in tokens.windows(2) {
        if let (Token::Dec(_), Token::Plain(p)) = (&w[0].token, &w[1].token) {
            if let Some(off) = dangling_end_marker(p) {
                let before = &p[..off];
                let line = w[1].line + before.matches('\n').count();
                errors.push(Error::TruncatedDec { line }.at(path, w[0].line, w[0].column));
            }
        }
    }
    Errors::check(errors)
}

/// The offset of the first `]!` in `plain` that ends a line (only blanks or a ` #` comment
/// after it) or the text.
fn dangling_end_marker(plain: &str) -> Option<usize> {
    plain.match_indices("]!").map(|(i, _)| i).find(|&i| {
        let rest = &plain[i + 2..];
        let line = rest.split('\n').next().unwrap_or("");
        let line = line.trim_end_matches('\r');
        let trimmed = line.trim_start();
        trimmed.is_empty() || (trimmed.starts_with('#') && line.len() > trimmed.len())
    })
}

/// Refuses a text with a DEC marker no `]!` closes: its secret would be written through
/// unencrypted. Each is named by its line and column.
///
/// Deliberate difference: Ruby writes such a marker, and its secret, as it is.
pub fn check_leftover_markers(tokens: &[Located], path: &Path) -> Result<(), Errors> {
    let mut errors = Vec::new();
    for t in tokens {
        if let Token::Plain(p) = &t.token {
            let mut lines = token::LineCounter::new(p);
            for (off, scheme) in token::leftover_dec(p) {
                let (line, column) = lines.at(off);
                let column = if line == 1 {
                    t.column + column - 1
                } else {
                    column
                };
                errors.push(
                    Error::UnterminatedDec {
                        scheme: scheme.to_string(),
                    }
                    .at(path, t.line + line - 1, column),
                );
            }
        }
    }
    Errors::check(errors)
}

/// The DEC tokens of a text, checked for scheme and truncation.
pub fn dec_tokens(tokens: &[Located], path: &Path) -> Result<Vec<usize>, Errors> {
    check_truncation(tokens, path)?;
    check_leftover_markers(tokens, path)?;
    let mut idx = Vec::new();
    let mut errors = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if let Token::Dec(d) = &t.token {
            match Scheme::from_tag(&d.scheme).and_then(|s| s.backend().map(|_| s)) {
                Ok(_) => idx.push(i),
                Err(e) => errors.push(e.at(path, t.line, t.column)),
            }
        }
    }
    Errors::check(errors)?;
    Ok(idx)
}

/// `encrypt -e`: every `DEC::…[…]!` value encrypted to the recipients `resolve` returns (only
/// called when there is something to encrypt); other text, ENC values included, kept verbatim.
pub fn encrypt_dec<F>(
    keys: &dyn KeyMaterial,
    text: &str,
    path: &Path,
    resolve: F,
) -> Result<String, Errors>
where
    F: FnOnce() -> Result<Vec<EncryptionKey>>,
{
    let tokens = token::scan(text, Kinds::DEC);
    let decs = dec_tokens(&tokens, path)?;
    if decs.is_empty() {
        return Ok(text.to_string());
    }
    // Only GPG values have OpenPGP recipients: PKCS7 values go to the PKCS7 certificate.
    let needs_recipients = decs.iter().any(|&i| {
        matches!(&tokens[i].token, Token::Dec(d) if matches!(Scheme::from_tag(&d.scheme), Ok(Scheme::Gpg)))
    });
    let recipients = match needs_recipients {
        true => resolve()?,
        false => Vec::new(),
    };
    let encrypted: Vec<(usize, Result<String>)> = decs
        .par_iter()
        .map(|&i| {
            let t = &tokens[i];
            let Token::Dec(DecToken {
                scheme,
                plaintext,
                form,
                ..
            }) = &t.token
            else {
                unreachable!("index of a DEC token")
            };
            (
                i,
                Scheme::from_tag(scheme)
                    .and_then(|s| s.encrypt(keys, &recipients, plaintext.as_bytes(), form))
                    .map_err(|e| e.at(path, t.line, t.column)),
            )
        })
        .collect();
    let mut rendered: Vec<Option<String>> = vec![None; tokens.len()];
    let mut errors = Vec::new();
    for (i, r) in encrypted {
        match r {
            Ok(s) => rendered[i] = Some(s),
            Err(e) => errors.push(e),
        }
    }
    Errors::check(errors)?;
    Ok(tokens
        .iter()
        .zip(rendered)
        .map(|(t, r)| r.unwrap_or_else(|| t.token.raw().to_string()))
        .collect())
}

/// Resolves every recipient string to an encryption key, in list order. A key named twice
/// (e.g. by e-mail and by fingerprint) counts once: the one rule for every command that
/// encrypts or compares recipients.
pub fn resolve_all(backend: &dyn Backend, names: &[String]) -> Result<Vec<EncryptionKey>> {
    if names.is_empty() {
        return Err(Error::NoRecipients);
    }
    let mut keys = names
        .iter()
        .map(|n| backend.resolve(n))
        .collect::<Result<Vec<_>>>()?;
    let mut seen = std::collections::BTreeSet::new();
    keys.retain(|k| seen.insert(k.subkey_id));
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truncation(text: &str) -> bool {
        check_truncation(&token::scan(text, Kinds::DEC), Path::new("t")).is_err()
    }

    #[test]
    fn a_second_end_marker_ending_a_line_means_truncation() {
        assert!(truncation("a: DEC::GPG[abc]!def]!\nb: c\n"));
        assert!(truncation("a: DEC::GPG[line1]!\nline2]!\n"));
        assert!(truncation("a: DEC::GPG[abc]!def]! # note\n"));
        assert!(truncation("a: DEC::GPG[abc]!def]!"));
        assert!(!truncation("a: DEC::GPG[abc]!\nb: \"x]!\"\n"));
        assert!(!truncation("a: DEC::GPG[abc]!\nb: DEC::GPG[d]!\n"));
        assert!(!truncation("a: DEC::GPG[abc]!\nb: x]!#y\n"));
    }

    #[test]
    fn debug_hides_decrypted_text() {
        let d = Decrypted {
            text: Zeroizing::new(b"a: DEC::GPG[hunter2]!".to_vec()),
            ambiguous: vec![],
            binary: vec![],
            left_encrypted: 0,
        };
        assert!(!format!("{d:?}").contains("hunter2"));
    }
}
