//! `encrypt`: one plaintext to an `ENC[GPG,…]` value in examples, block or string form, or
//! every `DEC::…[…]!` value of an eyaml file.

use anyhow::Result;
use eyaml_gpg::eyaml;
use eyaml_gpg::eyaml::Form;
use eyaml_gpg::keys;
use eyaml_gpg::scheme::{Material, Scheme};
use std::process::ExitCode;
use zeroize::Zeroizing;

use super::{emit, one_source, Context, Source};
use crate::cli::{EncryptArgs, OutputFormat};
use crate::common::input::{read_bytes, read_stdin, read_text};

/// Runs `encrypt`.
pub fn run(ctx: &Context, args: &EncryptArgs) -> Result<ExitCode> {
    let source = one_source(args.password, &args.source)?;
    let plaintext: Zeroizing<Vec<u8>> = match source {
        Source::Eyaml(path) => {
            let text = read_text(path)?;
            let store = ctx.keystore()?;
            let pkcs7 = ctx.pkcs7_keys();
            let keys = Material {
                gpg: &store,
                pkcs7: &pkcs7,
            };
            let dir = keys::target_dir(path);
            let out = eyaml::encrypt_dec(&keys, &text, path, || {
                ctx.recipients(&store, Some(&dir)).map_err(|e| {
                    match e.downcast::<eyaml_gpg::Error>() {
                        Ok(e) => e,
                        Err(e) => eyaml_gpg::Error::Gpg(e.to_string()),
                    }
                })
            })?;
            return emit(out.as_bytes(), true);
        }
        Source::String(s) => Zeroizing::new(s.as_bytes().to_vec()),
        Source::File(p) => Zeroizing::new(read_bytes(p)?),
        Source::Stdin => Zeroizing::new(read_stdin()?),
        Source::Password => Zeroizing::new(read_password()?.into_bytes()),
    };
    let scheme = ctx.method()?;
    let store = ctx.keystore()?;
    let pkcs7 = ctx.pkcs7_keys();
    let material = Material {
        gpg: &store,
        pkcs7: &pkcs7,
    };
    // PKCS7 values are encrypted to the PKCS7 certificate; OpenPGP recipients play no part.
    let keys = match scheme {
        Scheme::Gpg => ctx.recipients(&store, Some(&std::env::current_dir()?))?,
        _ => Vec::new(),
    };
    let b64 = scheme.encrypt_payload(&material, &keys, &plaintext)?;
    let tag = scheme.tag();
    let label = args.label.as_deref();
    let labelled = |l: Option<&str>, body: String| match l {
        Some(l) => format!("{l}: {body}"),
        None => body,
    };
    let block_lines = || {
        let rendered = eyaml::render_enc(
            tag,
            &b64,
            &Form::Block {
                indentation: "  ".into(),
            },
        );
        rendered.trim_start_matches(">\n").to_string()
    };
    let (out, newline) = match args.output {
        OutputFormat::String => (
            labelled(label, eyaml::render_enc(tag, &b64, &Form::String)),
            false,
        ),
        OutputFormat::Block => match label {
            Some(l) => (format!("{l}: >\n{}", block_lines()), true),
            None => (block_lines(), true),
        },
        OutputFormat::Examples => (
            format!(
                "{}\n\nOR\n\n{}: >\n{}",
                labelled(
                    Some(label.unwrap_or("string")),
                    eyaml::render_enc(tag, &b64, &Form::String)
                ),
                label.unwrap_or("block"),
                block_lines()
            ),
            true,
        ),
    };
    emit(out.as_bytes(), newline)
}

fn read_password() -> Result<String> {
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_err()
    {
        return crate::common::usage(
            "-p needs a terminal to read the password from (use --stdin or -f instead)",
        );
    }
    Ok(rpassword::prompt_password("Enter password: ")?)
}
