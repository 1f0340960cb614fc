//! Pieces shared by the subcommands: settings from flags and config files, messages, input
//! reading and the key store.

pub mod config;
pub mod input;
pub mod keys;
pub mod ui;

use std::fmt;

/// A usage or environment error: exit code 2 instead of 1.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for failing with a usage error.
pub fn usage<T>(msg: impl Into<String>) -> anyhow::Result<T> {
    Err(UsageError(msg.into()).into())
}

/// Several errors reported together (e.g. every bad value of a file).
#[derive(Debug)]
pub struct Many(pub Vec<eyaml_gpg::Error>);

impl fmt::Display for Many {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Many {}

impl From<Vec<eyaml_gpg::Error>> for Many {
    fn from(v: Vec<eyaml_gpg::Error>) -> Self {
        Many(v)
    }
}
