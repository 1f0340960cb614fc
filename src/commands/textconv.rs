//! `textconv`: the file with every value the keys at hand can decrypt shown as
//! `DEC::GPG[…]!` (the `decrypt -e` form), the rest unchanged, for `git diff`. It never fails
//! a diff: missing keys, a missing GnuPG home or undecryptable values leave the text as it is.

use std::process::ExitCode;

use anyhow::Result;
use eyaml_gpg::eyaml::{self, Failures};
use eyaml_gpg::eyaml::{Kinds, Token};
use eyaml_gpg::scheme::Material;
use eyaml_gpg::Keystore;

use super::{emit, Context};
use crate::cli::TextconvArgs;
use crate::common::input::read_bytes;

/// Runs `textconv`; fails only when the file cannot be read.
pub fn run(ctx: &Context, args: &TextconvArgs) -> Result<ExitCode> {
    let bytes = read_bytes(&args.file)?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        emit(&bytes, false)?;
        return Ok(ExitCode::SUCCESS);
    };
    if !eyaml::scan(text, Kinds::ENC)
        .iter()
        .any(|t| matches!(t.token, Token::Enc(_)))
    {
        emit(&bytes, false)?;
        return Ok(ExitCode::SUCCESS);
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
        emit(&bytes, false)?;
        return Ok(ExitCode::SUCCESS);
    };
    let pkcs7 = ctx.pkcs7_keys();
    let keys = Material {
        gpg: &store,
        pkcs7: &pkcs7,
    };
    let out = eyaml::decrypt_to_dec_with(&keys, text, method, &args.file, Failures::Keep)?;
    if out.left_encrypted > 0 {
        ctx.ui.debug(&format!(
            "textconv: {} value(s) of {} left encrypted",
            out.left_encrypted,
            args.file.display()
        ));
    }
    emit(&out.text, false)?;
    Ok(ExitCode::SUCCESS)
}
