//! Whole-text operations of the eyaml format: decrypting every `ENC[…]` value of a text (into
//! edit-mode `DEC::GPG[…]!` form or into plain substitution) and encrypting every `DEC::…[…]!`
//! value. Values are independent messages, so they are processed in parallel.

use std::path::Path;

use base64::Engine as _;
use rayon::prelude::*;
use zeroize::Zeroizing;

use crate::crypto::{Backend, EncryptionKey, Plaintext};
use crate::error::{Error, Result};
use crate::token::{self, DecToken, EncToken, Form, Kinds, Located, Token, GPG_TAG};

/// The encryption method for `ENC[payload]` values written without a scheme (`-n`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Method(pub String);

impl Default for Method {
    fn default() -> Self {
        Method("gpg".into())
    }
}

/// Checks that `scheme` names GPG; PKCS7 and other hiera-eyaml schemes are not implemented.
pub fn check_scheme(scheme: &str) -> Result<()> {
    if scheme.eq_ignore_ascii_case("gpg") {
        Ok(())
    } else if scheme.eq_ignore_ascii_case("pkcs7") {
        Err(Error::UnsupportedScheme("PKCS7".into()))
    } else {
        Err(Error::UnknownScheme(scheme.to_string()))
    }
}

/// Decodes the base64 payload of a value (whitespace ignored, as Ruby does for blocks).
pub fn decode_payload(enc: &EncToken) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(enc.base64())
        .map_err(|_| Error::Base64)
}

/// Encodes a message as the ENC payload: base64 without line breaks.
pub fn encode_payload(message: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(message)
}

/// Decrypts one `ENC[…]` value.
pub fn decrypt_value(backend: &dyn Backend, enc: &EncToken, method: &Method) -> Result<Plaintext> {
    check_scheme(enc.scheme.as_deref().unwrap_or(&method.0))?;
    backend.decrypt(&decode_payload(enc)?)
}

/// Encrypts a plaintext to `recipients` and renders it in `form`.
pub fn encrypt_value(
    backend: &dyn Backend,
    recipients: &[EncryptionKey],
    plaintext: &[u8],
    form: &Form,
) -> Result<String> {
    let message = backend.encrypt(recipients, plaintext)?;
    Ok(token::render_enc(GPG_TAG, &encode_payload(&message), form))
}

/// Decrypts every `ENC[…]` value of `tokens` in parallel; results are in token order, one per
/// ENC token, each error located in `path`.
pub fn decrypt_all(
    backend: &dyn Backend,
    tokens: &[Located],
    method: &Method,
    path: &Path,
) -> Vec<(usize, Result<Plaintext>)> {
    tokens
        .par_iter()
        .enumerate()
        .filter_map(|(i, t)| match &t.token {
            Token::Enc(e) => Some((
                i,
                decrypt_value(backend, e, method).map_err(|err| err.at(path, t.line, t.column)),
            )),
            _ => None,
        })
        .collect()
}

fn split_results(
    results: Vec<(usize, Result<Plaintext>)>,
) -> Result<Vec<(usize, Plaintext)>, Vec<Error>> {
    let mut ok = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for (i, r) in results {
        match r {
            Ok(p) => ok.push((i, p)),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(ok)
    } else {
        Err(errors)
    }
}

/// The result of decrypting a text into edit-mode form. `Debug` hides the text.
pub struct Decrypted {
    /// The text with every value as `DEC::GPG[plaintext]!`; a secret.
    pub text: Zeroizing<String>,
    /// Values whose plaintext contains `]!` and so cannot be read back from this form
    /// (the line of each).
    pub ambiguous: Vec<usize>,
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

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("text", &"<redacted>")
            .field("ambiguous", &self.ambiguous)
            .finish()
    }
}

/// `decrypt -e`: every `ENC[…]` value replaced by `DEC::GPG[plaintext]!` in its own form.
/// All failures are reported together; nothing is returned unless every value decrypted.
pub fn decrypt_to_dec(
    backend: &dyn Backend,
    text: &str,
    method: &Method,
    path: &Path,
) -> Result<Decrypted, Vec<Error>> {
    decrypt_to_dec_with(backend, text, method, path, Failures::Report)
}

/// [`decrypt_to_dec`], with `failures` deciding what a value that cannot be decrypted (or
/// whose plaintext is not UTF-8) does: fail the whole text, or stay as it is.
pub fn decrypt_to_dec_with(
    backend: &dyn Backend,
    text: &str,
    method: &Method,
    path: &Path,
    failures: Failures,
) -> Result<Decrypted, Vec<Error>> {
    let tokens = token::scan(text, Kinds::ENC);
    let mut plain: Vec<Option<Plaintext>> = vec![None; tokens.len()];
    let mut errors = Vec::new();
    for (i, r) in decrypt_all(backend, &tokens, method, path) {
        match r {
            Ok(p) => plain[i] = Some(p),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() && failures == Failures::Report {
        return Err(errors);
    }
    let mut out = Zeroizing::new(String::with_capacity(text.len()));
    let mut ambiguous = Vec::new();
    for (t, p) in tokens.iter().zip(plain) {
        match (&t.token, p.as_ref().map(|p| std::str::from_utf8(p))) {
            (Token::Enc(e), Some(Ok(s))) => {
                if s.contains("]!") {
                    ambiguous.push(t.line);
                }
                out.push_str(&token::render_dec(GPG_TAG, None, s, &e.form));
            }
            (Token::Enc(_), Some(Err(_))) => {
                errors.push(Error::PlaintextNotUtf8.at(path, t.line, t.column));
                out.push_str(t.token.raw());
            }
            (tok, _) => out.push_str(tok.raw()),
        }
    }
    if errors.is_empty() || failures == Failures::Keep {
        Ok(Decrypted {
            text: out,
            ambiguous,
            left_encrypted: errors.len(),
        })
    } else {
        Err(errors)
    }
}

/// `decrypt -s/-f/--stdin`: every `ENC[…]` value replaced by its plaintext. A multi-line
/// plaintext that follows other text becomes a `|` block (hiera-eyaml's rule).
pub fn decrypt_substitute(
    backend: &dyn Backend,
    text: &str,
    method: &Method,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>, Vec<Error>> {
    let tokens = token::scan(text, Kinds::ENC);
    let results = split_results(decrypt_all(backend, &tokens, method, path))?;
    let mut plain: Vec<Option<Plaintext>> = vec![None; tokens.len()];
    for (i, p) in results {
        plain[i] = Some(p);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(text.len()));
    let mut yamled = false;
    for (t, p) in tokens.iter().zip(plain) {
        match p {
            Some(p) => {
                if yamled && p.iter().any(|&b| b == b'\n' || b == b'\r') {
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
pub fn check_truncation(tokens: &[Located], path: &Path) -> Result<(), Vec<Error>> {
    let mut errors = Vec::new();
    for w in tokens.windows(2) {
        if let (Token::Dec(_), Token::Plain(p)) = (&w[0].token, &w[1].token) {
            if let Some(off) = dangling_end_marker(p) {
                let before = &p[..off];
                let line = w[1].line + before.matches('\n').count();
                errors.push(
                    Error::OpenPgp(format!(
                        "`]!` appears again at line {line} after this DEC value ends: a value ends at the first `]!`, \
                         so a secret cannot contain `]!` (encrypt it with `eyaml-gpg encrypt -f FILE` instead)"
                    ))
                    .at(path, w[0].line, w[0].column),
                );
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
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

/// The DEC tokens of a text, checked for scheme and truncation.
pub fn dec_tokens(tokens: &[Located], path: &Path) -> Result<Vec<usize>, Vec<Error>> {
    check_truncation(tokens, path)?;
    let mut idx = Vec::new();
    let mut errors = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if let Token::Dec(d) = &t.token {
            match check_scheme(&d.scheme) {
                Ok(()) => idx.push(i),
                Err(e) => errors.push(e.at(path, t.line, t.column)),
            }
        }
    }
    if errors.is_empty() {
        Ok(idx)
    } else {
        Err(errors)
    }
}

/// `encrypt -e`: every `DEC::…[…]!` value encrypted to the recipients `resolve` returns (only
/// called when there is something to encrypt); other text, ENC values included, kept verbatim.
pub fn encrypt_dec<F>(
    backend: &dyn Backend,
    text: &str,
    path: &Path,
    resolve: F,
) -> Result<String, Vec<Error>>
where
    F: FnOnce() -> Result<Vec<EncryptionKey>>,
{
    let tokens = token::scan(text, Kinds::DEC);
    let decs = dec_tokens(&tokens, path)?;
    if decs.is_empty() {
        return Ok(text.to_string());
    }
    let recipients = resolve().map_err(|e| vec![e])?;
    let encrypted: Vec<(usize, Result<String>)> = decs
        .par_iter()
        .map(|&i| {
            let t = &tokens[i];
            let Token::Dec(DecToken {
                plaintext, form, ..
            }) = &t.token
            else {
                unreachable!("index of a DEC token")
            };
            (
                i,
                encrypt_value(backend, &recipients, plaintext.as_bytes(), form)
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
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(tokens
        .iter()
        .zip(rendered)
        .map(|(t, r)| r.unwrap_or_else(|| t.token.raw().to_string()))
        .collect())
}

/// Resolves every recipient string to an encryption key.
pub fn resolve_all(backend: &dyn Backend, names: &[String]) -> Result<Vec<EncryptionKey>> {
    if names.is_empty() {
        return Err(Error::NoRecipients);
    }
    names.iter().map(|n| backend.resolve(n)).collect()
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
            text: Zeroizing::new("a: DEC::GPG[hunter2]!".into()),
            ambiguous: vec![],
            left_encrypted: 0,
        };
        assert!(!format!("{d:?}").contains("hunter2"));
    }
}
