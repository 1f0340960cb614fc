//! `version`: ours on standard output, then the lines `eyaml version` prints (core and GPG
//! plugin) on standard error as eyaml does, naming the versions whose behaviour this one
//! reproduces, so scripts that read eyaml's lines keep working.

use std::process::ExitCode;

use anyhow::Result;

use super::{emit, Context};

/// The hiera-eyaml release whose command line this one follows.
const EYAML_CORE: &str = "3.3.0";
/// The hiera-eyaml-gpg release whose values and recipients rules this one follows.
const EYAML_GPG: &str = "0.7.4";

/// Runs `version`.
pub fn run(ctx: &Context) -> Result<ExitCode> {
    let code = emit(
        format!("eyaml-gpg {}\n", env!("CARGO_PKG_VERSION")).as_bytes(),
        false,
    )?;
    // eyaml's exact lines (no `eyaml-gpg:` prefix), hidden by -q as eyaml's are.
    if ctx.ui.level >= 1 {
        eprintln!("[hiera-eyaml-core] hiera-eyaml (core): {EYAML_CORE}");
        eprintln!("[hiera-eyaml-core] hiera-eyaml-gpg (gem): {EYAML_GPG}");
    }
    Ok(code)
}
