//! `textconv`: the file with every value the keys at hand can decrypt shown as
//! `DEC::GPG[…]!` (the `decrypt -e` form), the rest unchanged, for `git diff`. It never fails
//! a diff: missing keys, a missing GnuPG home or undecryptable values leave the text as it is.

use anyhow::Result;
use eyaml_gpg::eyaml;
use eyaml_gpg::pgp::Keystore;
use eyaml_gpg::scheme::Scheme;
use eyaml_gpg::token::{self, Kinds, Token};
use std::process::ExitCode;
use zeroize::Zeroizing;

use super::{emit, Context};
use crate::cli::TextconvArgs;
use crate::common::input::read_bytes;

/// Runs `textconv`; fails only when the file cannot be read.
pub fn run(ctx: &Context, args: &TextconvArgs) -> Result<ExitCode> {
    let bytes = read_bytes(&args.file)?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return emit(&bytes, false);
    };
    let tokens = token::scan(text, Kinds::ENC);
    if !tokens.iter().any(|t| matches!(t.token, Token::Enc(_))) {
        return emit(&bytes, false);
    }
    let store = match ctx.keystore() {
        Ok(s) => s,
        Err(e) => {
            ctx.ui.debug(&format!(
                "textconv: no keys ({e}); showing the file as it is"
            ));
            Keystore::new()
        }
    };
    let Ok(method) = ctx.scheme_less() else {
        ctx.ui.debug(&format!(
            "textconv: encryption method {:?} unusable; showing the file as it is",
            ctx.settings.method
        ));
        return emit(&bytes, false);
    };
    let results = eyaml::decrypt_all(&store, &tokens, method, &args.file);
    let mut plain: Vec<Option<eyaml_gpg::crypto::Plaintext>> = vec![None; tokens.len()];
    let mut failed = 0;
    for (i, r) in results {
        match r {
            Ok(p) => plain[i] = Some(p),
            Err(_) => failed += 1,
        }
    }
    if failed > 0 {
        ctx.ui.debug(&format!(
            "textconv: {failed} value(s) of {} left encrypted",
            args.file.display()
        ));
    }
    let mut out = Zeroizing::new(String::with_capacity(text.len()));
    for (t, p) in tokens.iter().zip(plain) {
        match (&t.token, p.as_ref().map(|p| std::str::from_utf8(p))) {
            (Token::Enc(e), Some(Ok(s))) => {
                let tag = Scheme::of(e, method).unwrap_or(method).tag();
                out.push_str(&token::render_dec(tag, None, s, &e.form))
            }
            (tok, _) => out.push_str(tok.raw()),
        }
    }
    emit(out.as_bytes(), false)
}
