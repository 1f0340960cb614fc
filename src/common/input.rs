//! Reading inputs with errors that name the file.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context as _, Result};

pub use eyaml_gpg::eyaml::{read_bytes, read_text, utf8};

/// Reads all of standard input.
pub fn read_stdin() -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .context("reading standard input")?;
    Ok(buf)
}

/// The name used for standard input in messages.
pub fn stdin_name() -> PathBuf {
    PathBuf::from("<stdin>")
}
