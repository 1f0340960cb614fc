//! `createkeys`: a PKCS7 key pair where eyaml puts it; for GPG, what to do instead.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use eyaml_gpg::keys;
use eyaml_gpg::scheme::Scheme;

use super::Context;
use crate::cli::CreatekeysArgs;
use crate::common::usage;

/// Runs `createkeys`.
pub fn run(ctx: &Context, args: &CreatekeysArgs) -> Result<ExitCode> {
    match Scheme::from_method(&ctx.settings.method) {
        Some(Scheme::Pkcs7) => {}
        Some(_) => {
            return usage(
                "createkeys makes PKCS7 keys only (-n pkcs7). For GPG, create a key with gpg, e.g. \
                 `gpg --batch --passphrase '' --quick-generate-key 'Puppet server <puppet@example.com>' rsa3072 encr never` \
                 (see the README's GnuPG batch recipe), then add it to hiera-eyaml-gpg.recipients",
            )
        }
        None => return usage(format!("unknown encryption method {:?}", ctx.settings.method)),
    }
    let p = &ctx.settings.pkcs7;
    let private = p
        .private_key
        .as_deref()
        .unwrap_or(Path::new(keys::DEFAULT_PRIVATE_KEY));
    let public = p
        .public_key
        .as_deref()
        .unwrap_or(Path::new(keys::DEFAULT_PUBLIC_KEY));
    keys::create_key_files(private, public, args.pkcs7_keysize, &args.pkcs7_subject)?;
    ctx.ui.info(&format!(
        "Keys created OK: {} (private, mode 0600) and {} (certificate)",
        private.display(),
        public.display()
    ));
    Ok(ExitCode::SUCCESS)
}
