//! Reading inputs with errors that name the file.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use eyaml_gpg::Error;

/// Reads a file's bytes; a directory or missing file is an error naming it.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    if path.is_dir() {
        return Err(Error::IsADirectory {
            path: path.to_path_buf(),
        }
        .into());
    }
    std::fs::read(path).map_err(|e| Error::io(path, e).into())
}

/// Reads a file as UTF-8 text.
pub fn read_text(path: &Path) -> Result<String> {
    utf8(read_bytes(path)?, path)
}

/// Reads all of standard input.
pub fn read_stdin() -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .context("reading standard input")?;
    Ok(buf)
}

/// Converts bytes to text, naming `path` and the offset of the first bad byte on failure.
pub fn utf8(bytes: Vec<u8>, path: &Path) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        Error::NotUtf8 {
            path: path.to_path_buf(),
            offset: e.utf8_error().valid_up_to(),
        }
        .into()
    })
}

/// The name used for standard input in messages.
pub fn stdin_name() -> PathBuf {
    PathBuf::from("<stdin>")
}
