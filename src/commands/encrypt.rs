//! `encrypt`: one plaintext to an `ENC[GPG,…]` value in examples, block or string form, or
//! every `DEC::…[…]!` value of an eyaml file.

use anyhow::Result;
use eyaml_gpg::eyaml;
use eyaml_gpg::recipients;
use eyaml_gpg::token::{self, Form};
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
            let dir = recipients::target_dir(path);
            let out = eyaml::encrypt_dec(&store, &text, path, || {
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
    let cwd = std::env::current_dir()?;
    let keys = ctx.recipients(&store, Some(&cwd))?;
    let b64 = scheme.encrypt_payload(&store, &keys, &plaintext)?;
    let tag = scheme.tag();
    let label = args.label.as_deref();
    let labelled = |l: Option<&str>, body: String| match l {
        Some(l) => format!("{l}: {body}"),
        None => body,
    };
    let block_lines = || {
        let rendered = token::render_enc(
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
            labelled(label, token::render_enc(tag, &b64, &Form::String)),
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
                    token::render_enc(tag, &b64, &Form::String)
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
