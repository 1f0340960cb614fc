//! `decrypt`: `-e` shows every value as `DEC::GPG[…]!`; `-s`, `-f` and `--stdin` substitute
//! plaintexts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use eyaml_gpg::eyaml;
use eyaml_gpg::scheme::Material;

use super::{emit, one_source, Context, Source};
use crate::cli::DecryptArgs;
use crate::common::input::{read_bytes, read_stdin, read_text, stdin_name, utf8};

/// Runs `decrypt`.
pub fn run(ctx: &Context, args: &DecryptArgs) -> Result<ExitCode> {
    let source = one_source(false, &args.source)?;
    let method = ctx.method()?;
    let (text, name, eyaml_form): (String, PathBuf, bool) = match source {
        Source::Eyaml(p) => (read_text(p)?, p.to_path_buf(), true),
        Source::File(p) => (utf8(read_bytes(p)?, p)?, p.to_path_buf(), false),
        Source::String(s) => (s.to_string(), PathBuf::from("<string>"), false),
        Source::Stdin => (utf8(read_stdin()?, &stdin_name())?, stdin_name(), false),
        Source::Password => unreachable!("decrypt has no -p"),
    };
    let store = ctx.keystore()?;
    let pkcs7 = ctx.pkcs7_keys();
    let keys = Material {
        gpg: &store,
        pkcs7: &pkcs7,
    };
    if eyaml_form {
        let out = eyaml::decrypt_to_dec(&keys, &text, method, &name)?;
        for line in &out.ambiguous {
            ctx.ui.warn(&format!(
                "{}:{line}: this value contains `]!`, so its DEC form cannot be read back by `encrypt -e` or `edit`",
                name.display()
            ));
        }
        for line in &out.binary {
            ctx.ui.warn(&format!(
                "{}:{line}: this value is binary (not UTF-8 text): its bytes are written as they are, and `encrypt -e` or `edit` cannot take them back",
                name.display()
            ));
        }
        emit(&out.text, true)
    } else {
        let out = eyaml::decrypt_substitute(&keys, &text, method, Path::new(&name))?;
        emit(&out, false)
    }
}
